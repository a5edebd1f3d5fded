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

/* True when a fork bomb was acted on within the last window_usec (for GuardletPIDPressure). */
bool gl_guard_fork_bomb_recent(const gl_guard *g, uint64_t now_usec, uint64_t window_usec);

/* The most recent outcomes, newest last (a ring of GL_GUARD_HISTORY entries). */
#define GL_GUARD_HISTORY 64
size_t gl_guard_recent(const gl_guard *g, const gl_guard_outcome **out);

#endif
