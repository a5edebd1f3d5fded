/* kubepods.c: recognises the kubelet's pod, QoS and container cgroup names for both cgroup drivers.
 */
#include "guardlet/kubepods.h"

#include <errno.h>
#include <string.h>

/* Container ids are hex; the kubelet's runtimes use 64 digits, but shorter ids from other tools
 * exist. Fewer than 12 (docker's short form) is not an id. */
#define CONTAINER_ID_MIN 12

const char *gl_qos_name(gl_qos q) {
    switch (q) {
    case GL_QOS_GUARANTEED:
        return "guaranteed";
    case GL_QOS_BURSTABLE:
        return "burstable";
    case GL_QOS_BESTEFFORT:
        return "besteffort";
    }
    return "unknown";
}

const char *gl_runtime_name(gl_runtime r) {
    switch (r) {
    case GL_RUNTIME_CONTAINERD:
        return "containerd";
    case GL_RUNTIME_CRIO:
        return "cri-o";
    case GL_RUNTIME_DOCKER:
        return "docker";
    case GL_RUNTIME_PLAIN:
        return "cgroupfs";
    }
    return "unknown";
}

static bool is_lower_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool has_prefix(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Copies a 36-character UID whose separators are sep ('-' or '_') into uid with dashes. */
static int copy_uid(const char *s, size_t len, char sep, char *uid) {
    if (len != GL_POD_UID_LEN)
        return -EINVAL;
    for (size_t i = 0; i < GL_POD_UID_LEN; i++) {
        bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash_pos ? s[i] != sep : !is_lower_hex(s[i]))
            return -EINVAL;
        uid[i] = dash_pos ? '-' : s[i];
    }
    uid[GL_POD_UID_LEN] = '\0';
    return 0;
}

int gl_kubepods_parse_pod_dir(const char *name, char *uid) {
    static const char *const systemd_prefixes[] = {
        "kubepods-burstable-pod",
        "kubepods-besteffort-pod",
        "kubepods-pod",
    };
    static const char suffix[] = ".slice";
    size_t len = strlen(name);

    for (size_t i = 0; i < sizeof(systemd_prefixes) / sizeof(systemd_prefixes[0]); i++) {
        size_t plen = strlen(systemd_prefixes[i]);
        if (!has_prefix(name, systemd_prefixes[i]))
            continue;
        /* systemd escapes '-' in unit names, so the kubelet writes the UID with '_'. */
        if (len < plen + sizeof(suffix) - 1 ||
            strcmp(name + len - (sizeof(suffix) - 1), suffix) != 0)
            return -EINVAL;
        return copy_uid(name + plen, len - plen - (sizeof(suffix) - 1), '_', uid);
    }
    if (has_prefix(name, "pod"))
        return copy_uid(name + 3, len - 3, '-', uid);
    return -EINVAL;
}

/* Accepts <hex id><suffix> and copies the id. */
static int copy_id(const char *s, const char *suffix, char *id) {
    size_t len = strlen(s), slen = strlen(suffix);
    if (len < slen || strcmp(s + len - slen, suffix) != 0)
        return -EINVAL;
    len -= slen;
    if (len < CONTAINER_ID_MIN || len > GL_CONTAINER_ID_MAX)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if (!is_lower_hex(s[i]))
            return -EINVAL;
    memcpy(id, s, len);
    id[len] = '\0';
    return 0;
}

int gl_kubepods_parse_container_dir(const char *name, gl_runtime *rt, char *id) {
    /* CRI-O's conmon monitors a container from a scope of its own; its processes are not the
     * workload and its memory is not the pod's to answer for. */
    if (has_prefix(name, "crio-conmon-"))
        return -ENOENT;
    if (has_prefix(name, "cri-containerd-")) {
        *rt = GL_RUNTIME_CONTAINERD;
        return copy_id(name + strlen("cri-containerd-"), ".scope", id);
    }
    if (has_prefix(name, "crio-")) {
        *rt = GL_RUNTIME_CRIO;
        return copy_id(name + strlen("crio-"), ".scope", id);
    }
    if (has_prefix(name, "docker-")) {
        *rt = GL_RUNTIME_DOCKER;
        return copy_id(name + strlen("docker-"), ".scope", id);
    }
    *rt = GL_RUNTIME_PLAIN;
    return copy_id(name, "", id);
}

int gl_kubepods_parse_qos_dir(const char *name, gl_qos *q) {
    if (strcmp(name, "kubepods-burstable.slice") == 0 || strcmp(name, "burstable") == 0)
        *q = GL_QOS_BURSTABLE;
    else if (strcmp(name, "kubepods-besteffort.slice") == 0 || strcmp(name, "besteffort") == 0)
        *q = GL_QOS_BESTEFFORT;
    else
        return -EINVAL;
    return 0;
}
