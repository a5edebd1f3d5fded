/* explain.h: why one pod would or would not be chosen now: pure reasoning over the last policy
 * snapshot and state, for `guardletctl explain`. */
#ifndef GUARDLET_EXPLAIN_H
#define GUARDLET_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/config.h"
#include "guardlet/policy.h"
#include "guardlet/pressure.h"

/* The one-word answer, most decisive first. */
typedef enum {
    GL_EXPLAIN_PROTECTED,   /* "protected": never touched, whatever the pressure */
    GL_EXPLAIN_DYING,       /* "dying": an eviction or kill is already under way */
    GL_EXPLAIN_CHOSEN,      /* "chosen": it is what the next action would hit */
    GL_EXPLAIN_HELD,        /* "held": it would be chosen, but something holds the action back */
    GL_EXPLAIN_NOT_FIRST,   /* "not-first": pressure is there, another pod goes first */
    GL_EXPLAIN_NO_PRESSURE, /* "no-pressure": nothing calls for an action now */
    GL_EXPLAIN_VERDICT_N
} gl_explain_verdict;

const char *gl_explain_verdict_name(gl_explain_verdict v);

/* A signal the policy acts on, whether it holds now, and what it would make guardlet do. */
typedef enum {
    GL_EXPLAIN_SIG_MEMORY_LOW,      /* node memory.available below a [Memory] threshold */
    GL_EXPLAIN_SIG_MEMORY_PRESSURE, /* node memory PSI over PressureLimit */
    GL_EXPLAIN_SIG_CPU_PRESSURE,    /* node CPU PSI over PressureLimit */
    GL_EXPLAIN_SIG_LEAK,            /* this pod passes the leak test */
    GL_EXPLAIN_SIG_FORK_BOMB,       /* this pod passes the fork-bomb test */
    GL_EXPLAIN_SIG_N
} gl_explain_signal_kind;

typedef struct {
    gl_explain_signal_kind kind;
    bool active;      /* holds now (PSI: over the limit; see sustained) */
    bool sustained;   /* PSI only: over the limit for its PressureDuration */
    bool has_action;  /* false: active or not, nothing would be done for it */
    gl_action action; /* what it would trigger now (memory-low: by level) */
    char detail[192]; /* the figures compared, one sentence */
} gl_explain_signal;

typedef struct {
    size_t index; /* into snap->pods */
    gl_protect protected_by;

    /* The memory order (gl_policy_rank): 1-based position among all pods, and among the pods
     * guardlet may touch (unprotected, holding memory, not already dying; 0: not a candidate). */
    size_t rank;
    size_t candidate_rank;
    size_t n_pods;
    size_t n_candidates;
    const gl_policy_pod *first; /* the candidate ranked first (may be this pod), NULL none */
    /* The keys the order compares, in order. */
    bool runaway; /* a leak or a fork bomb: ranked ahead of everything else */
    bool exceeds_request;
    bool priority_known;
    int64_t priority;
    uint64_t memory_excess_bytes;
    double seconds_to_limit; /* INFINITY: never */
    double seconds_to_node;

    /* CPU contention: whether this pod uses more than it asked for, by how much, its place. */
    bool cpu_offender;
    uint32_t cpu_excess_millicores;
    size_t cpu_rank; /* 1-based among CPU offenders, 0 when not one */

    gl_mem_level level;
    uint64_t throttle_below_bytes, evict_below_bytes, kill_below_bytes;
    gl_explain_signal signals[GL_EXPLAIN_SIG_N];

    /* What holds actions back. */
    bool has_state; /* the policy tracks this pod (something in force or recently reported) */
    gl_policy_pod_state state;
    uint64_t memory_delay_left_usec; /* PostActionDelay left on the node memory signal, 0 none */
    size_t evictions_last_minute;
    bool rate_limited;     /* MaxEvictionsPerMinute reached */
    bool eviction_backoff; /* the Eviction API cannot take this pod now */

    gl_explain_verdict verdict;
    bool has_action; /* CHOSEN or HELD: the action and reason in question */
    gl_action action;
    gl_reason reason;
    char summary[320]; /* one or two human sentences */
} gl_explain;

/* Finds a pod by UID or by "NAMESPACE/NAME" (API mode). Returns 0 and sets *index, or -ENOENT. */
int gl_explain_find(const gl_policy_snapshot *snap, const char *query, size_t *index);

/*
 * Explains pod index of snap against the state gl_policy_decide() left after deciding on snap.
 * Pure. Returns 0, or -ENOMEM (the ranking needs n_pods indices), or -EINVAL (bad index).
 * Pointers in out borrow from snap.
 */
int gl_explain_pod(const gl_config *c, const gl_policy_snapshot *snap, const gl_policy_state *st,
                   size_t index, gl_explain *out);

/* The names gl_explain_signal_kind and gl_protect bits go by in JSON and text. */
const char *gl_explain_signal_name(gl_explain_signal_kind k);
/* Writes "namespace,priority" style words for each bit set (empty when none) into buf. */
void gl_explain_protect_words(gl_protect p, char *buf, size_t len);

#endif
