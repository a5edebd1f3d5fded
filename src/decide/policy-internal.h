/* policy-internal.h: what the policy's files share: the runaway tests and the candidate orders. */
#ifndef GUARDLET_POLICY_INTERNAL_H
#define GUARDLET_POLICY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "guardlet/policy.h"

#define GL_USEC_PER_SEC UINT64_C(1000000)

/*
 * A leak needs most of the steps in its window to rise: a real leak climbs nearly every sample,
 * while a sawtooth (garbage collector cycles, page cache being filled and dropped) that happens
 * to trend upward rises in about half of them. 60% is clearly above that coin flip and still
 * tolerates the odd dip a leaking program's own collector makes.
 */
#define GL_LEAK_RISING_MIN_BP 6000

/* floor(value * bp / 10000) without overflow, for shares of bytes, pids and millicores. */
uint64_t gl_policy_share(uint64_t value, uint32_t bp);

/* Seconds until a pod growing at its rate reaches its memory limit, and until it has used up the
 * node's memory.available; INFINITY when that never happens (no limit, not growing). */
double gl_policy_seconds_to_limit(const gl_policy_pod *p);
double gl_policy_seconds_to_node(const gl_policy_snapshot *snap, const gl_policy_pod *p);

/* The [Runaway] tests: a steady leak that will hurt within LeakHorizon, and a fork bomb. */
bool gl_policy_is_leak(const gl_config *c, const gl_policy_snapshot *snap, const gl_policy_pod *p);
bool gl_policy_is_fork_bomb(const gl_config *c, const gl_policy_snapshot *snap,
                            const gl_policy_pod *p);
/* The pid ceiling a fork bomb is judged against: pids.max, else the node's pid_max; 0 unknown. */
uint64_t gl_policy_pids_ceiling(const gl_policy_snapshot *snap, const gl_policy_pod *p);

/* The kubelet's memory eviction order refined by runaway evidence (see rank.c): negative when a
 * should be chosen before b, positive after, 0 only for the same pod. */
int gl_policy_memory_cmp(const gl_config *c, const gl_policy_snapshot *snap, const gl_policy_pod *a,
                         const gl_policy_pod *b);

/* CPU pressure: whether p uses more CPU than it asked for (local mode: it is not Guaranteed), and
 * the order of such pods, the largest offender first. */
bool gl_policy_cpu_offender(const gl_policy_pod *p);
int gl_policy_cpu_cmp(const gl_policy_pod *a, const gl_policy_pod *b);
/* CPU use above the request (local mode: all of it), millicores. */
uint32_t gl_policy_cpu_excess(const gl_policy_pod *p);

/* Memory use above the request, bytes; local mode counts a BestEffort or Burstable pod's whole
 * working set and none of a Guaranteed pod's. */
uint64_t gl_policy_memory_excess(const gl_policy_pod *p);

#endif
