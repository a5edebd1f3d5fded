/* cgroup.h: where the cgroup hierarchy is and how to read one cgroup's files, for v2 and v1. */
#ifndef GUARDLET_CGROUP_H
#define GUARDLET_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "max" in a limit file, and v1's "no limit" values (anything at or above 2^62). */
#define GL_CGROUP_UNLIMITED UINT64_MAX

typedef enum {
    GL_CGROUP_NONE = 0, /* nothing recognised */
    GL_CGROUP_V1 = 1,   /* one hierarchy per controller (possibly with a v2 "unified" beside) */
    GL_CGROUP_V2 = 2,   /* the unified hierarchy */
} gl_cgroup_version;

/*
 * The hierarchy under a root. For v2 every controller is the root itself; for v1 each controller
 * has its own mount directory (NULL when absent). Paths are absolute or as given; owned.
 */
typedef struct {
    gl_cgroup_version version;
    char *root;
    char *memory;        /* v2: == root */
    char *cpu;           /* v2: == root; v1: cpu or cpu,cpuacct */
    char *cpuacct;       /* v2: == root */
    char *pids;          /* v2: == root */
    char *kubepods;      /* path of the kubepods directory relative to each controller dir, e.g.
                            "kubepods.slice" or "kubepods"; NULL when not found yet */
    bool systemd_driver; /* kubepods.slice naming */
} gl_cgroup_layout;

/*
 * Looks at the files under root (not the mount table, so fixture trees in plain folders work the
 * same as /sys/fs/cgroup): cgroup.controllers at the root means v2; a memory/ directory means v1
 * (with cpu,cpuacct / cpu / cpuacct and pids found by name). Then finds the kubepods directory of
 * either kubelet cgroup driver. Returns 0 (version may be GL_CGROUP_NONE and kubepods NULL: the
 * node may simply not run the kubelet yet), or -ENOMEM.
 */
int gl_cgroup_layout_discover(const char *root, gl_cgroup_layout *out);

/* Looks for the kubepods directory again (the kubelet may start after guardlet). Returns true
 * when it is known after the call. */
bool gl_cgroup_layout_refresh_kubepods(gl_cgroup_layout *l);

void gl_cgroup_layout_free(gl_cgroup_layout *l);

/* Parses a limit file's text: "max" (or v1 values >= 2^62) gives GL_CGROUP_UNLIMITED, else the
 * number. Trailing newline allowed. Returns 0 or -EBADMSG. */
int gl_cgroup_parse_limit(const char *buf, size_t len, uint64_t *out);

/* Parses a single unsigned number with an optional trailing newline. Returns 0 or -EBADMSG. */
int gl_cgroup_parse_u64(const char *buf, size_t len, uint64_t *out);

/*
 * Looks key up in flat-keyed text ("key value\n" lines: memory.stat, cpu.stat, memory.events).
 * Keys are matched whole, never by position. Returns 0 with *out set, -ENOENT when absent,
 * -EBADMSG when the key's value is not a number.
 */
int gl_cgroup_kv_get(const char *buf, size_t len, const char *key, uint64_t *out);

#endif
