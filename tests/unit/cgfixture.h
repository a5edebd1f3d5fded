/* cgfixture.h: writes kubelet-shaped cgroup fixture trees (v1, v2, both drivers) for tests. */
#ifndef GUARDLET_CGFIXTURE_H
#define GUARDLET_CGFIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/kubepods.h"

/*
 * A fixture is a mkdtemp folder that looks like /sys/fs/cgroup on a node running the kubelet:
 *
 *   CGF_V2_SYSTEMD   <root>/cgroup.controllers, kubepods.slice/kubepods-burstable.slice/
 *                    kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope/ ...
 *                    (Guaranteed pods: kubepods.slice/kubepods-pod<uid_>.slice/)
 *   CGF_V2_CGROUPFS  <root>/cgroup.controllers, kubepods/burstable/pod<uid>/<id>/
 *                    (Guaranteed pods: kubepods/pod<uid>/)
 *   CGF_V1_CGROUPFS  <root>/{memory,cpu,cpuacct,pids}/kubepods/... where cpu and cpuacct are
 *                    symlinks to cpu,cpuacct as on real v1 nodes; also systemd/ and unified/ (the
 *                    hybrid layout), whose cgroup.controllers is NOT at the root.
 *   CGF_V1_SYSTEMD   the same controller directories with the kubepods.slice naming.
 *
 * Files hold the kernel's exact formats, written from a cgf_figures. Updates rewrite files in place
 * (pwrite at offset 0, ftruncate when shorter), never by rename: a reader's cached descriptor sees
 * the new text, as with real cgroup files. Everything is written through directory descriptors, but
 * the cost is the filesystem's file creation: 5000 pods (one container each, v1 with 3 controllers)
 * take ~1.3 s on tmpfs and ~35 s on this machine's ext4 /tmp. Benchmarks should use cgf_new_at
 * with /dev/shm (or TMPDIR=/dev/shm) and cgf_set_lean_containers.
 *
 * Functions return 0 or a negative errno. The fixture owns every cgf_pod; a pod handle is valid
 * until cgf_remove_pod or cgf_free. Nothing here is thread-safe.
 */

typedef enum {
    CGF_V2_SYSTEMD,
    CGF_V2_CGROUPFS,
    CGF_V1_CGROUPFS,
    CGF_V1_SYSTEMD,
    CGF_N_LAYOUTS,
} cgf_layout;

/* "v2-systemd", "v2-cgroupfs", "v1-cgroupfs", "v1-systemd". */
const char *cgf_layout_name(cgf_layout l);
bool cgf_layout_is_v1(cgf_layout l);
bool cgf_layout_is_systemd(cgf_layout l);

/* "max" in limit files (v1: 9223372036854771712 in memory.limit_in_bytes). */
#define CGF_UNLIMITED UINT64_MAX

/* Same order as gl_psi_resource. */
enum { CGF_PSI_MEMORY, CGF_PSI_CPU, CGF_PSI_IO, CGF_PSI_N };

typedef struct {
    uint32_t some_avg10_bp; /* hundredths of a percent: 1234 is written "12.34" */
    uint64_t some_total_usec;
    uint32_t full_avg10_bp;
    uint64_t full_total_usec;
} cgf_psi;

/*
 * One pod's figures, in the units guardlet reports. On v1 the fixture converts: cpuacct.usage and
 * throttled_time are written in nanoseconds (value * 1000 plus a sub-microsecond remainder below
 * 1000), memory.stat carries inactive_file as total_inactive_file and a smaller, different
 * cgroup-local inactive_file; memory_high, events_high/max, oom and PSI have no v1 file.
 */
typedef struct {
    uint64_t memory_current; /* bytes */
    uint64_t inactive_file;  /* bytes */
    uint64_t memory_max;     /* bytes or CGF_UNLIMITED */
    uint64_t memory_high;    /* bytes or CGF_UNLIMITED */
    uint64_t events_high;    /* memory.events high */
    uint64_t events_max;     /* memory.events max */
    uint64_t oom;            /* memory.events oom */
    uint64_t oom_kill;       /* memory.events oom_kill; v1 memory.oom_control oom_kill */
    uint64_t cpu_usage_usec; /* user_usec and system_usec are 70% / 30% of it */
    uint64_t cpu_nr_periods;
    uint64_t cpu_nr_throttled;
    uint64_t cpu_throttled_usec;
    uint64_t pids_current;
    uint64_t pids_max; /* or CGF_UNLIMITED */
    cgf_psi psi[CGF_PSI_N];
} cgf_figures;

/* Plausible, distinct figures for pod number n: a 512 MiB limit, some CPU use, a few stalls. */
void cgf_figures_example(cgf_figures *f, unsigned n);

/* A deterministic, well-formed lowercase pod UID (36 chars + NUL) for number n. */
void cgf_uid(unsigned n, char uid[GL_POD_UID_LEN + 1]);
/* A deterministic 64-hex container id (+ NUL) for number n. */
void cgf_container_id(unsigned n, char id[65]);

typedef struct cgf cgf;
typedef struct cgf_pod cgf_pod;

/*
 * Makes a root folder (mkdtemp of $TMPDIR or /tmp "/guardlet-cgf-XXXXXX") holding the layout's
 * root files (v2: cgroup.controllers; v1: the controller directories), but no kubepods directory
 * yet: see cgf_kubepods_create, which cgf_add_pod calls when needed.
 */
int cgf_new(cgf_layout layout, cgf **out);
/* The same, in parent instead of $TMPDIR or /tmp. */
int cgf_new_at(const char *parent, cgf_layout layout, cgf **out);
/* Lean containers hold only cgroup.procs (a pod guard reads pod-level files): fewer files to
 * create for benchmarks. Applies to containers added afterwards. */
void cgf_set_lean_containers(cgf *f, bool lean);
/* Removes the whole tree and frees everything. Accepts NULL. */
void cgf_free(cgf *f);

const char *cgf_root(const cgf *f);
cgf_layout cgf_get_layout(const cgf *f);
/* "kubepods.slice" or "kubepods". */
const char *cgf_kubepods_name(const cgf *f);
/* Absolute path of a controller directory: v2 the root; v1 "memory", "cpu,cpuacct" or "pids"
 * (name is used only on v1). Returned in buf; -ENAMETOOLONG when it does not fit. */
int cgf_controller_path(const cgf *f, const char *name, char *buf, size_t len);

/* Creates the kubepods directory and both QoS directories (in every controller on v1). Idempotent.
 */
int cgf_kubepods_create(cgf *f);

/* Adds a pod directory with every file, no containers yet. uid has dashes. out may be NULL. */
int cgf_add_pod(cgf *f, const char *uid, gl_qos qos, const cgf_figures *fig, cgf_pod **out);
/*
 * Adds a container directory to a pod, named after the runtime (cri-containerd-<id>.scope,
 * crio-<id>.scope, docker-<id>.scope, or the bare id for GL_RUNTIME_PLAIN), holding the same files
 * as the pod with halved figures, written once (updates touch the pod level only, which is all a
 * pod guard reads). A CRI-O container also gets crio-conmon-<id>.scope beside it. id NULL picks a
 * fresh 64-hex id. The id is not validated: tests may pass odd ones.
 */
int cgf_add_container(cgf *f, cgf_pod *p, gl_runtime rt, const char *id);
/* Rewrites the pod's files whose figures changed, in place. */
int cgf_update(cgf *f, cgf_pod *p, const cgf_figures *fig);
/* Writes text into one of the pod's files, in place (on v1 in the controller the name belongs to:
 * memory.* -> memory, cpu.* and cpuacct.* -> cpu,cpuacct, pids.* -> pids, others -> memory). */
int cgf_pod_write(cgf *f, cgf_pod *p, const char *file, const char *text);
/* rm -r of the pod's directories (every controller on v1); frees p. */
int cgf_remove_pod(cgf *f, cgf_pod *p);

/*
 * Adds entries a pod scanner must ignore: a regular FILE named like a burstable pod (uid
 * odd_uid(), a valid UID), a directory kubepods-burstable-podnot-a-uid.slice (podnot-a-uid), an
 * init.scope at the root and in kubepods, a system.slice beside kubepods (with a service inside),
 * and ensures both QoS directories exist even if empty. When p is not NULL, also adds to that pod
 * a container directory with a non-hex id and a crio-conmon-<64hex>.scope.
 */
int cgf_add_odd_entries(cgf *f, cgf_pod *p);
/* The UID of the pod-named file cgf_add_odd_entries writes. */
const char *cgf_odd_uid(void);

const char *cgf_pod_uid(const cgf_pod *p);
gl_qos cgf_pod_qos(const cgf_pod *p);
/* The pod's path relative to each controller directory, as gl_pod.cgroup should read. */
const char *cgf_pod_cgroup(const cgf_pod *p);
const cgf_figures *cgf_pod_figures(const cgf_pod *p);
size_t cgf_pod_n_containers(const cgf_pod *p); /* real containers only (no conmon, no odd dirs) */
gl_runtime cgf_pod_container_runtime(const cgf_pod *p, size_t i);
const char *cgf_pod_container_id(const cgf_pod *p, size_t i);

size_t cgf_n_pods(const cgf *f);
cgf_pod *cgf_pod_at(const cgf *f, size_t i); /* in order of addition */

#endif
