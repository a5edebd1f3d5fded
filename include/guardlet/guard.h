/* guard.h: one tick of sense -> decide -> act: builds the policy snapshot, logs every decision,
 * carries them out. */
#ifndef GUARDLET_GUARD_H
#define GUARDLET_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "guardlet/cgroup.h"
#include "guardlet/config.h"
#include "guardlet/events.h"
#include "guardlet/evict.h"
#include "guardlet/kube.h"
#include "guardlet/node.h"
#include "guardlet/pods.h"
#include "guardlet/policy.h"

typedef struct gl_guard gl_guard;

/* What became of one decision. */
typedef struct {
    gl_decision d;
    uint64_t t_usec;
    bool dry_run;
    bool done; /* carried out successfully */
    int error; /* negative errno when carrying it out failed */
} gl_guard_outcome;

/* proc_root is read once for kernel.pid_max and our own cgroup (self-protection). Returns 0 or
 * -ENOMEM. */
int gl_guard_new(const char *proc_root, gl_guard **out);
void gl_guard_free(gl_guard *g); /* accepts NULL */

/*
 * Decides on this tick's sample and pods and, when act is true, carries out every decision the
 * policy did not skip (re-checking node memory right before destructive ones). Every decision is
 * logged when log is true. Outcomes are copied into out (at most max; may be NULL). Returns the
 * number of decisions.
 */
size_t gl_guard_tick(gl_guard *g, const gl_config *c, const gl_cgroup_layout *l,
                     const gl_node_sample *s, const gl_pods *pods, bool act, bool log,
                     gl_guard_outcome *out, size_t max);

/* API mode: pod metadata from the watch cache (joined to the cgroup view by UID) and evictions
 * through evictor. Either may be NULL (local mode). Not owned. */
void gl_guard_set_api(gl_guard *g, const gl_kube_podwatch *podwatch, gl_evictor *evictor);

/* API mode: every action (and every eviction a budget blocked) also becomes a core/v1 Event on
 * the pod, aggregated and rate-limited by events. NULL: none. Not owned. */
void gl_guard_set_events(gl_guard *g, gl_events *events);

/* API mode: called with each eviction's outcome once the API server has answered (the tick's own
 * outcome only says the request was sent): done, blocked (d.skip GL_SKIP_BLOCKED) or failed
 * (error). o is valid during the call. NULL: none. */
typedef void (*gl_guard_result_cb)(const gl_guard_outcome *o, void *userdata);
void gl_guard_set_result_cb(gl_guard *g, gl_guard_result_cb cb, void *userdata);

/*
 * guardlet is stopping: every pod it throttled gets its saved memory.high / cpu.max back and every
 * pod it froze is thawed, so that no pod stays crippled with nobody watching it (a restarted
 * guardlet throttles again at its first tick if the pressure is still there). Pods being evicted
 * or killed are left as they are. Logs one line per pod; returns how many were released.
 */
size_t gl_guard_release_all(gl_guard *g, const gl_cgroup_layout *l, const gl_pods *pods);

/* True when a fork bomb was acted on within the last window_usec (for GuardletPIDPressure). */
bool gl_guard_fork_bomb_recent(const gl_guard *g, uint64_t now_usec, uint64_t window_usec);

/* API mode: how long pods stay untouched while the first pod list is in flight (see guard.c). */
#define GL_GUARD_SYNC_GRACE_USEC (10ull * 1000000)

/* The most recent outcomes: a ring of GL_GUARD_HISTORY entries, oldest first only until it has
 * wrapped once (use gl_guard_recent_nth() for an ordered view). Returns how many are filled. */
#define GL_GUARD_HISTORY 64
size_t gl_guard_recent(const gl_guard *g, const gl_guard_outcome **out);

/* The i-th most recent outcome (0: the newest), or NULL beyond what the ring holds. Valid until
 * the next tick or eviction answer. */
const gl_guard_outcome *gl_guard_recent_nth(const gl_guard *g, size_t i);

/* The snapshot the last tick decided on, with its own copies of every string (valid until the
 * next gl_guard_tick()), or NULL before the first tick. Read-only, for the status socket. */
const gl_policy_snapshot *gl_guard_last_snapshot(const gl_guard *g);

/* The policy's state as the last tick's gl_policy_decide() left it. Read-only. */
const gl_policy_state *gl_guard_policy_state(const gl_guard *g);

#endif
