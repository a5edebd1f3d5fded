/* policy.h: the pure decision engine: (snapshot, state, config) -> decisions, without I/O. */
#ifndef GUARDLET_POLICY_H
#define GUARDLET_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/config.h"
#include "guardlet/kubepods.h"

/* What guardlet can do to a pod, in the contract's words. */
typedef enum {
    GL_ACTION_THROTTLE_MEMORY, /* "throttle-memory": memory.high a little below the working set */
    GL_ACTION_THROTTLE_CPU,    /* "throttle-cpu": cpu.max toward the pod's CPU request */
    GL_ACTION_FREEZE,          /* "freeze": cgroup.freeze while an eviction is pending */
    GL_ACTION_EVICT,           /* "evict": the Eviction API (API mode only) */
    GL_ACTION_KILL,            /* "kill": cgroup.kill, the local emergency floor */
    GL_ACTION_RESTORE,         /* "restore": undo everything in force on the pod (memory.high,
                                  cpu.max, freeze) once pressure cleared */
    GL_ACTION_N
} gl_action;

/* Why. Stable words: they become GUARDLET_REASON and the metrics' reason label. */
typedef enum {
    GL_REASON_MEMORY_LOW,      /* "memory-low": node memory.available below a threshold */
    GL_REASON_MEMORY_PRESSURE, /* "memory-pressure": node memory PSI sustained over its limit */
    GL_REASON_CPU_PRESSURE,    /* "cpu-pressure": node CPU PSI sustained, pod far above request */
    GL_REASON_LEAK,            /* "leak": steady growth reaching the limit or node exhaustion */
    GL_REASON_FORK_BOMB,       /* "fork-bomb": pids near pids.max (or node pid headroom) */
    GL_REASON_EMERGENCY,       /* "emergency": eviction did not free memory within EmergencyAfter */
    GL_REASON_PRESSURE_CLEARED, /* "pressure-cleared": the reason for a restore */
    GL_REASON_N
} gl_reason;

/* When a decision is reported but not carried out. */
typedef enum {
    GL_SKIP_NONE = 0,
    GL_SKIP_PROTECTED, /* "protected": the best candidate is protected; reported, never touched */
    GL_SKIP_RATE_LIMITED, /* "rate-limited": MaxEvictionsPerMinute reached */
    GL_SKIP_DRY_RUN,      /* "dry-run": decided, not done */
    GL_SKIP_NO_EVICTION,  /* "no-eviction": local mode has no Eviction API; the ladder goes on */
    GL_SKIP_DISABLED,     /* "disabled": switched off ([Actions] LocalKill/Freeze=no, or
                             MaxEvictionsPerMinute=0) */
    GL_SKIP_RECOVERED,    /* "recovered": the signal cleared between choosing and acting */
    GL_SKIP_BLOCKED,      /* "blocked": the Eviction API said no (a disruption budget) */
    GL_SKIP_N
} gl_skip;

const char *gl_action_name(gl_action a); /* "throttle-memory", ... */
const char *gl_reason_name(gl_reason r); /* "memory-low", ... */
const char *gl_skip_name(gl_skip s);     /* "", "protected", ... */

/* Why a pod is protected (any one suffices). */
typedef enum {
    GL_PROTECT_NONE = 0,
    GL_PROTECT_NAMESPACE = 1 << 0,  /* [Protect] Namespaces */
    GL_PROTECT_PRIORITY = 1 << 1,   /* priority >= MinPriority */
    GL_PROTECT_ANNOTATION = 1 << 2, /* the Annotation is "true" */
    GL_PROTECT_STATIC = 1 << 3,     /* static or mirror pod */
    GL_PROTECT_SELF = 1 << 4,       /* guardlet's own pod */
    GL_PROTECT_UID = 1 << 5,        /* [Protect] PodUIDs (works in local mode too) */
    GL_PROTECT_PENDING = 1 << 6,    /* API mode, before the first pod list: not yet known */
} gl_protect;

/*
 * One pod as the policy sees it: figures from the cgroup scan, metadata from the API server when
 * known. Strings are borrowed for the duration of the call.
 */
typedef struct {
    const char *uid;
    const char *ns;   /* NULL in local mode */
    const char *name; /* NULL in local mode */
    gl_qos qos;
    const char *cgroup;

    bool has_metadata;             /* ns, name, priority, requests, annotation, static are known */
    int64_t priority;              /* spec.priority */
    uint64_t memory_request_bytes; /* 0: none (BestEffort, or unknown) */
    uint32_t cpu_request_millicores;
    bool annotation_protected; /* Annotation "true" */
    bool static_pod;           /* static or mirror pod */
    bool self;                 /* guardlet's own pod */
    bool metadata_pending;     /* API mode before the first pod list: namespace, priority and
                                  annotation may protect it, nobody knows yet */
    bool eviction_backoff;     /* the Eviction API cannot take this pod now (a disruption budget
                                  said no, an error is backing off, or its name is unknown) */

    uint64_t working_set_bytes;
    uint64_t memory_limit_bytes; /* GL_CGROUP_UNLIMITED (UINT64_MAX) when none */
    uint64_t memory_high_bytes;  /* current memory.high, UINT64_MAX when none */
    double growth_per_sec;       /* bytes/s, confirmed estimate when growth_robust */
    bool growth_robust;
    uint32_t growth_rising_bp; /* share of rising steps in the window */
    uint64_t growth_span_usec; /* how much history the estimate covers */
    uint32_t cpu_usage_millicores;
    uint64_t pids_current;
    uint64_t pids_max; /* UINT64_MAX when none */
} gl_policy_pod;

/* The node and its pods at one tick. */
typedef struct {
    uint64_t now_usec; /* monotonic; the only clock the policy knows */
    uint64_t capacity_bytes;
    uint64_t available_bytes; /* kubelet's memory.available */
    uint32_t memory_psi_some_avg10_bp;
    bool memory_psi_valid;
    uint32_t cpu_psi_some_avg10_bp;
    bool cpu_psi_valid;
    uint64_t node_pids_max; /* /proc/sys/kernel/pid_max, 0 unknown: for pods without pids.max */
    unsigned cpus;
    bool can_evict; /* an API client exists and is usable (false in local mode) */
    const gl_policy_pod *pods;
    size_t n_pods;
} gl_policy_snapshot;

/* The figures that drove a decision, for logs, events and metrics. */
typedef struct {
    uint64_t node_available_bytes;
    uint64_t node_capacity_bytes;
    uint64_t threshold_bytes; /* the threshold crossed, 0 when none applies */
    uint32_t psi_some_avg10_bp;
    uint64_t pod_working_set_bytes;
    uint64_t pod_limit_bytes;
    double pod_growth_per_sec;
    uint64_t pod_pids;
    uint32_t pod_cpu_millicores;
    uint64_t target; /* throttle target: memory.high bytes, or cpu.max quota in millicores */
} gl_decision_figures;

#define GL_DECISION_DETAIL_MAX 256

typedef struct {
    gl_action action;
    gl_reason reason;
    gl_skip skip;            /* GL_SKIP_NONE: carry it out */
    gl_protect protected_by; /* for GL_SKIP_PROTECTED */
    char uid[GL_POD_UID_LEN + 1];
    const char *ns;     /* borrowed from the snapshot, NULL in local mode */
    const char *name;   /* borrowed from the snapshot */
    const char *cgroup; /* borrowed from the snapshot */
    gl_qos qos;
    bool destructive; /* evict or kill: re-check right before acting */
    gl_decision_figures fig;
    char detail[GL_DECISION_DETAIL_MAX]; /* one human sentence: what and why, with figures */
} gl_decision;

#define GL_POLICY_MAX_DECISIONS 64
#define GL_POLICY_MAX_TRACKED   256 /* pods with an action in force (throttled, frozen, evicting) */
/* The eviction window holds one entry per eviction of the last minute: as many as the largest
 * MaxEvictionsPerMinute the configuration accepts, so the cap is exact at every setting. */
#define GL_POLICY_MAX_EVICTIONS 1000

/* What the policy remembers between ticks: plain data owned by the caller, zero-initialised. */
typedef struct {
    char uid[GL_POD_UID_LEN + 1];
    bool memory_throttled;
    bool cpu_throttled;
    bool frozen;
    bool eviction_pending;
    bool killed; /* a kill was decided; the pod is dying and is never acted on again */
    uint64_t eviction_started_usec;
    uint64_t last_action_usec;
    gl_reason memory_throttle_reason; /* why memory_throttled: a leak is restored differently */
    uint64_t memory_throttled_usec;
    uint64_t memory_high_target_bytes; /* the memory.high we asked for */
    uint64_t cpu_throttled_usec;
    uint64_t protected_reported_usec[GL_REASON_N]; /* GL_SKIP_PROTECTED reports, per reason */
    unsigned restored_mask; /* what this tick's restore undid, for gl_policy_action_failed() */
} gl_policy_pod_state;

typedef struct {
    gl_policy_pod_state pods[GL_POLICY_MAX_TRACKED];
    size_t n_pods;
    uint64_t last_action_usec[GL_REASON_N]; /* per signal: PostActionDelay */
    uint8_t memory_action_level; /* gl_mem_level of the last node-memory action: a more severe
                                    level may act within the delay (escalation), not the same */
    uint64_t prev_action_usec[GL_REASON_N]; /* the value before this tick: rollback on failure */
    uint64_t evictions_usec[GL_POLICY_MAX_EVICTIONS]; /* times of the last minute's evictions */
    size_t n_evictions;
    uint64_t memory_psi_since_usec; /* 0: not above the limit */
    uint64_t cpu_psi_since_usec;
    uint64_t clear_since_usec;     /* when node memory pressure last became clear (0: not clear) */
    uint64_t cpu_clear_since_usec; /* the same for CPU pressure */
    uint64_t tick_usec;            /* the last gl_policy_decide() call's now (0: none yet) */
    bool evict_unavailable_reported; /* this spike below EvictBelow was reported as no-eviction */
    uint64_t reported_usec[GL_ACTION_N][GL_REASON_N]; /* disabled and rate-limited reports */
} gl_policy_state;

/*
 * Decides for one tick. Fills out[] (at most max) and returns how many decisions were made,
 * including reported non-actions (skip != GL_SKIP_NONE). Updates state as if every decision
 * without a skip (or with GL_SKIP_DRY_RUN) was carried out, so dry-run repeats exactly what
 * enforce mode would do. Pure: the same inputs give the same outputs.
 * Output order: restores, protected reports, throttles, freezes, evictions, kills. When max is
 * reached, the least urgent decisions wait for a later tick (nothing is recorded for them).
 * Switched-off actions are reported (GL_SKIP_DISABLED) where an operator needs to know: a kill
 * that was needed (LocalKill=no), a fork bomb's freeze (Freeze=no) and evictions while
 * MaxEvictionsPerMinute=0; Throttle=no, Freeze=no elsewhere and CPU.Evict=no are silent.
 * Reports repeat at most once per PostActionDelay (no-eviction: once per spike below EvictBelow).
 */
size_t gl_policy_decide(const gl_config *c, const gl_policy_snapshot *snap, gl_policy_state *state,
                        gl_decision *out, size_t max);

/*
 * The "recovered while choosing" back-off: called right before carrying out a destructive
 * decision with a fresh reading of node memory. Returns true when the decision still holds; false
 * when its signal has cleared (the caller reports it with GL_SKIP_RECOVERED and does not act).
 */
bool gl_policy_recheck(const gl_config *c, const gl_decision *d, uint64_t available_bytes,
                       uint64_t capacity_bytes);

/* Tells the policy an action failed, or was not carried out after a failed gl_policy_recheck()
 * (the pod's state is rolled back so it can be retried, and the attempt counts neither against
 * PostActionDelay nor against MaxEvictionsPerMinute); call it in the same tick, before the next
 * gl_policy_decide(). Reports (protected, rate-limited, ...) are ignored. Or tells it that a pod
 * is gone (its state is dropped; pods missing from a snapshot are dropped anyway). */
void gl_policy_action_failed(gl_policy_state *state, const gl_decision *d);
void gl_policy_pod_gone(gl_policy_state *state, const char *uid);

/* Sorts candidates the kubelet's way, refined by runaway evidence; writes indices into order
 * (n entries). Exposed for `guardletctl pods` and tests. */
void gl_policy_rank(const gl_config *c, const gl_policy_snapshot *snap, size_t *order);

/* The nth (from 0) word for the protections in p, most telling first, as the journal's
 * GUARDLET_PROTECTED_BY says them ("self", "namespace", "pod-uid", ...); "" for nth 0 of
 * GL_PROTECT_NONE; NULL past the last. */
const char *gl_protect_word(gl_protect p, size_t nth);

/* Why a pod is protected, or GL_PROTECT_NONE. */
gl_protect gl_policy_protected(const gl_config *c, const gl_policy_pod *p);

#endif
