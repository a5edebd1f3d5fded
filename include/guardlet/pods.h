/* pods.h: the pods on this node as their cgroups show them, with per-tick figures and history. */
#ifndef GUARDLET_PODS_H
#define GUARDLET_PODS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/cgroup.h"
#include "guardlet/history.h"
#include "guardlet/kubepods.h"
#include "guardlet/psi.h"

/*
 * Reading is tiered, because each file read is a system call and a node may run hundreds of pods:
 * every tick memory.current, cpu.stat (v1: cpuacct.usage; its cpu.stat with the throttling
 * counters is slow-tier) and pids.current (descriptors kept open); every
 * GL_PODS_SLOW_EVERY ticks memory.stat (inactive_file moves slowly), memory.events and the memory
 * and CPU pressure files; every GL_PODS_RARE_EVERY ticks the limits (memory.max, memory.high,
 * pids.max), io.pressure and the container list. Tiers are staggered across pods. A pod above 80%
 * of its memory limit reads everything every tick, and so does every pod when the scan is asked
 * for hot_all (node memory pressure: working sets must be exact).
 */
#define GL_PODS_SLOW_EVERY 10
#define GL_PODS_RARE_EVERY 60

typedef struct {
    gl_runtime runtime;
    char id[GL_CONTAINER_ID_MAX + 1];
} gl_container;

/* One reading of a pod's cgroup files. Counters are cumulative as the kernel keeps them. */
typedef struct {
    uint64_t t_usec;
    uint64_t memory_current_bytes;       /* v2 memory.current, v1 memory.usage_in_bytes */
    uint64_t memory_inactive_file_bytes; /* from memory.stat (v1: total_inactive_file) */
    uint64_t memory_working_set_bytes;   /* current - inactive_file, floor 0 */
    uint64_t memory_max_bytes;           /* GL_CGROUP_UNLIMITED when none */
    uint64_t memory_high_bytes;          /* GL_CGROUP_UNLIMITED when none (always on v1) */
    uint64_t oom_events;      /* memory.events oom (v1: under_oom transitions unknown: 0) */
    uint64_t oom_kill_events; /* memory.events oom_kill (v1: memory.oom_control oom_kill) */
    uint64_t cpu_usage_usec;  /* cpu.stat usage_usec (v1: cpuacct.usage / 1000) */
    uint64_t cpu_nr_periods;
    uint64_t cpu_nr_throttled;
    uint64_t cpu_throttled_usec;
    uint64_t pids_current;
    uint64_t pids_max; /* GL_CGROUP_UNLIMITED when none */
    gl_psi psi[GL_PSI_N];
    bool has_psi; /* v2 only */
} gl_pod_sample;

typedef struct gl_pod_files gl_pod_files; /* private: cached file descriptors */

typedef struct {
    char uid[GL_POD_UID_LEN + 1];
    gl_qos qos;
    char *cgroup; /* relative to each controller directory, e.g.
                     "kubepods.slice/kubepods-burstable.slice/..." */
    gl_container *containers;
    size_t n_containers;

    gl_pod_sample cur;
    gl_pod_sample prev;
    bool has_prev;
    uint64_t first_seen_usec;

    /* Derived over the last interval (0 until two samples exist). */
    uint32_t cpu_usage_millicores;
    uint32_t cpu_throttled_bp; /* nr_throttled / nr_periods over the interval */
    /* PSI "some" stall time added since the previous read of the pod's PSI files (v2), which is
     * the previous tick for a hot pod and up to GL_PODS_SLOW_EVERY ticks earlier otherwise;
     * psi_span_usec is the time that read covers. */
    uint64_t psi_memory_some_delta_usec;
    uint64_t psi_cpu_some_delta_usec;
    uint64_t psi_span_usec;

    gl_history history; /* working set */
    gl_growth growth;   /* latest estimate; n_points 0 when none */
    bool growth_robust; /* growth is Theil-Sen (confirmed), not just the least-squares screen */

    gl_pod_files *files;
    uint64_t seen_tick;
    uint32_t slot; /* stable per-pod number used to stagger slow reads */
} gl_pod;

typedef struct gl_pods gl_pods;

typedef struct {
    size_t pods;
    size_t added;
    size_t removed;     /* vanished since the last scan (a normal event) */
    size_t read_errors; /* unexpected errors (not "gone"): EACCES, malformed files */
    size_t files_read;
    bool kubepods_found;
} gl_pods_scan_stats;

/* Growth screening thresholds: a pod whose least-squares growth exceeds min_growth_per_sec gets a
 * Theil-Sen estimate to confirm. */
typedef struct {
    uint64_t leak_window_usec;
    uint64_t min_growth_per_sec;
} gl_pods_params;

/* Takes a copy of layout. Returns 0 or -ENOMEM. */
int gl_pods_new(const gl_cgroup_layout *layout, const gl_pods_params *params, gl_pods **out);
void gl_pods_free(gl_pods *p); /* accepts NULL; closes every cached fd */

/* New parameters (after a reload). Histories are kept; their spacing follows the new window. */
void gl_pods_set_params(gl_pods *p, const gl_pods_params *params);

/*
 * One scan: lists the pod directories (new pods appear, vanished ones go), reads each pod's figures
 * through cached file descriptors, updates history and growth. A cgroup removed during the scan is
 * "gone", never an error. hot_all asks for the slow tier on every pod this tick (the node is
 * under memory pressure and inactive_file must be fresh). Returns 0 or -ENOMEM; st may be NULL.
 */
int gl_pods_scan(gl_pods *p, uint64_t now_usec, bool hot_all, gl_pods_scan_stats *st);

size_t gl_pods_count(const gl_pods *p);
/* Pods in discovery order; valid until the next scan. */
gl_pod *gl_pods_at(const gl_pods *p, size_t i);
gl_pod *gl_pods_find(const gl_pods *p, const char *uid);

/* The last unexpected read error of the latest scan as "PATH: strerror", or NULL when the scan had
 * none. Valid until the next scan. */
const char *gl_pods_last_error(const gl_pods *p);

/* File descriptors currently cached (for tests and the fd budget). */
size_t gl_pods_open_fds(const gl_pods *p);

/* Kubepods totals: the sums over the pods of the last scan. */
typedef struct {
    uint64_t memory_working_set_bytes;
    uint64_t memory_current_bytes;
    uint32_t cpu_usage_millicores;
    uint64_t pids_current;
} gl_pods_totals;
void gl_pods_totals_get(const gl_pods *p, gl_pods_totals *out);

#endif
