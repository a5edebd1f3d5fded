/* actuate.h: carries out decisions on cgroups: throttle, freeze, kill, restore. Idempotent;
 * "already gone" is success. */
#ifndef GUARDLET_ACTUATE_H
#define GUARDLET_ACTUATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/cgroup.h"

/*
 * Every function takes the layout (v2, or v1 controller directories) and the pod's cgroup path
 * relative to the controller directories, and returns 0 on success (including "the cgroup is
 * already gone": ENOENT/ENODEV/ESRCH), or a negative errno. None of them logs. None leaves a cgroup
 * frozen on an error path unless it was frozen before the call.
 */

#define GL_ACT_UNLIMITED UINT64_MAX

/* Remembered original values, so a restore puts back exactly what was there. */
typedef struct {
    bool memory_high_saved;
    uint64_t memory_high; /* GL_ACT_UNLIMITED for "max" */
    bool cpu_max_saved;
    uint64_t cpu_quota_usec; /* GL_ACT_UNLIMITED for "max" (v1: -1) */
    uint64_t cpu_period_usec;
} gl_act_saved;

/* memory.high := bytes (v2 only; v1 has no soft limit: -EOPNOTSUPP). Saves the old value into
 * saved the first time (saved->memory_high_saved false). */
int gl_act_memory_high(const gl_cgroup_layout *l, const char *cgroup, uint64_t bytes,
                       gl_act_saved *saved);

/* cpu.max := "quota period" for millicores of CPU (v2), or cpu.cfs_quota_us/cfs_period_us (v1).
 * A quota below 1 ms per period is raised to that (the kernel's minimum). Saves the old value. */
int gl_act_cpu_max(const gl_cgroup_layout *l, const char *cgroup, uint32_t millicores,
                   gl_act_saved *saved);

/* Puts back what gl_act_memory_high / gl_act_cpu_max saved (when saved), then clears saved. */
int gl_act_restore(const gl_cgroup_layout *l, const char *cgroup, gl_act_saved *saved);

/* Freezes (v2 cgroup.freeze, v1 freezer.state) and waits up to timeout_usec for the kernel to
 * report it frozen (cgroup.events "frozen 1"). -ETIMEDOUT when it did not (the cgroup is thawed
 * again before returning). gl_act_thaw undoes it. */
int gl_act_freeze(const gl_cgroup_layout *l, const char *cgroup, uint64_t timeout_usec);
int gl_act_thaw(const gl_cgroup_layout *l, const char *cgroup);

/* Kills every process of the cgroup and its descendants: cgroup.kill where the kernel has it
 * (5.14+); else freeze, SIGKILL each pid from every cgroup.procs below, thaw (always). On return
 * the processes are dead or dying; *killed (may be NULL) counts the pids signalled (0 with
 * cgroup.kill, which does not tell). */
int gl_act_kill(const gl_cgroup_layout *l, const char *cgroup, size_t *killed);

#endif
