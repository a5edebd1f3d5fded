/* kubepods.h: pure parsing of the kubelet's cgroup names: pod UIDs, QoS classes, container scopes.
 */
#ifndef GUARDLET_KUBEPODS_H
#define GUARDLET_KUBEPODS_H

#include <stdbool.h>
#include <stddef.h>

#define GL_POD_UID_LEN      36  /* 8-4-4-4-12 hex with dashes */
#define GL_CONTAINER_ID_MAX 128 /* runtimes use 64 hex digits; leave room for others */

typedef enum { GL_QOS_GUARANTEED, GL_QOS_BURSTABLE, GL_QOS_BESTEFFORT } gl_qos;

typedef enum {
    GL_RUNTIME_CONTAINERD, /* cri-containerd-<id>.scope */
    GL_RUNTIME_CRIO, /* crio-<id>.scope (crio-conmon-<id>.scope is CRI-O's monitor, not a container)
                      */
    GL_RUNTIME_DOCKER, /* docker-<id>.scope */
    GL_RUNTIME_PLAIN,  /* cgroupfs driver: the bare <id> */
} gl_runtime;

/* "guaranteed", "burstable", "besteffort" (the contract's qos values). */
const char *gl_qos_name(gl_qos q);
/* "containerd", "cri-o", "docker", "cgroupfs". */
const char *gl_runtime_name(gl_runtime r);

/*
 * A pod directory name of either driver: "kubepods-burstable-pod<uid with _>.slice",
 * "kubepods-pod<uid>.slice" (Guaranteed, systemd) or "pod<uid>" (cgroupfs). Writes the UID with
 * dashes into uid (GL_POD_UID_LEN + 1 bytes). Returns 0, or -EINVAL for anything else.
 */
int gl_kubepods_parse_pod_dir(const char *name, char *uid);

/*
 * A container directory name inside a pod directory. Returns 0 with *rt and id set; -ENOENT for a
 * name that is known not to be a container (crio-conmon-*); -EINVAL for anything else. The id is
 * copied into id (GL_CONTAINER_ID_MAX + 1 bytes); ids are hex, at least 12 characters.
 */
int gl_kubepods_parse_container_dir(const char *name, gl_runtime *rt, char *id);

/*
 * A QoS-class directory directly under the kubepods directory: "kubepods-burstable.slice",
 * "kubepods-besteffort.slice" (systemd) or "burstable", "besteffort" (cgroupfs). Returns 0 with *q
 * set, or -EINVAL.
 */
int gl_kubepods_parse_qos_dir(const char *name, gl_qos *q);

#endif
