/* policy.c: the decision engine: one tick's snapshot and history in, a short list of decisions out.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "guardlet/cgroup.h"
#include "guardlet/pressure.h"
#include "guardlet/units.h"

#include "policy-internal.h"

#define MIB (UINT64_C(1) << 20)

/* MaxEvictionsPerMinute counts over a sliding window, not per calendar minute, which would allow
 * twice the cap across a minute's boundary. */
#define EVICTION_WINDOW_USEC (60 * GL_USEC_PER_SEC)

/* memory.high goes a little below the working set: enough for the kernel to reclaim and to slow
 * the pod's allocations down, not so much that it takes the pod's hot pages at once. */
#define THROTTLE_MEMORY_SHARE_BP 9500
/* ... and never below 64 MiB nor below the pod's memory request. Without swap, memory.high below
 * what a pod needs to run does not slow it down: it stalls it in reclaim forever, and the request
 * is what the pod was promised. 64 MiB is about the least a pod's processes and its runtime's
 * bookkeeping need to make progress at all. */
#define THROTTLE_MEMORY_FLOOR_BYTES (64 * MIB)
/* A throttled pod within 5% of the memory.high we set is being held back by it: its flat working
 * set is the throttle's doing, not evidence that it stopped growing. */
#define PRESSING_MARGIN_BP 500
/* CPU without a known request: half of what the pod uses now relieves the node at once while the
 * pod keeps running; at least 100 millicores so that a small pod is not starved into missing its
 * liveness probes (which would restart it for nothing). */
#define THROTTLE_CPU_SHARE_BP         5000
#define THROTTLE_CPU_FLOOR_MILLICORES 100

/* What one restore undid, kept for gl_policy_action_failed(). */
enum { UNDID_MEMORY = 1u << 0, UNDID_CPU = 1u << 1, UNDID_FREEZE = 1u << 2 };

const char *gl_action_name(gl_action a) {
    static const char *const names[GL_ACTION_N] = {
        [GL_ACTION_THROTTLE_MEMORY] = "throttle-memory",
        [GL_ACTION_THROTTLE_CPU] = "throttle-cpu",
        [GL_ACTION_FREEZE] = "freeze",
        [GL_ACTION_EVICT] = "evict",
        [GL_ACTION_KILL] = "kill",
        [GL_ACTION_RESTORE] = "restore",
    };
    return (unsigned)a < GL_ACTION_N ? names[a] : "unknown";
}

const char *gl_reason_name(gl_reason r) {
    static const char *const names[GL_REASON_N] = {
        [GL_REASON_MEMORY_LOW] = "memory-low",
        [GL_REASON_MEMORY_PRESSURE] = "memory-pressure",
        [GL_REASON_CPU_PRESSURE] = "cpu-pressure",
        [GL_REASON_LEAK] = "leak",
        [GL_REASON_FORK_BOMB] = "fork-bomb",
        [GL_REASON_EMERGENCY] = "emergency",
        [GL_REASON_PRESSURE_CLEARED] = "pressure-cleared",
    };
    return (unsigned)r < GL_REASON_N ? names[r] : "unknown";
}

const char *gl_skip_name(gl_skip s) {
    static const char *const names[GL_SKIP_N] = {
        [GL_SKIP_NONE] = "",
        [GL_SKIP_PROTECTED] = "protected",
        [GL_SKIP_RATE_LIMITED] = "rate-limited",
        [GL_SKIP_DRY_RUN] = "dry-run",
        [GL_SKIP_NO_EVICTION] = "no-eviction",
        [GL_SKIP_DISABLED] = "disabled",
        [GL_SKIP_RECOVERED] = "recovered",
        [GL_SKIP_BLOCKED] = "blocked",
    };
    return (unsigned)s < GL_SKIP_N ? names[s] : "unknown";
}

/* One gl_policy_decide() call. */
typedef struct {
    const gl_config *c;
    const gl_policy_snapshot *snap;
    gl_policy_state *st;
    gl_decision *out;
    size_t n, max;
    uint64_t now;       /* snap->now_usec, never 0: 0 means "never" in the state */
    uint64_t delay;     /* PostActionDelay */
    gl_mem_level level; /* from memory.available alone */
    bool mem_psi_sustained;
    bool cpu_psi_sustained;
    bool evict_possible; /* an evictor exists and MaxEvictionsPerMinute is not 0 */
} ctx;

/* ---- time ---- */

static uint64_t stamp(uint64_t t) {
    return t ? t : 1;
}

/* Whether t (0: never) lies less than window before now. A clock that went backwards (it is
 * monotonic, so it should not) counts as "just now": that errs towards waiting, not acting twice.
 */
static bool within(uint64_t t, uint64_t now, uint64_t window) {
    return t != 0 && (now < t || now - t < window);
}

static uint64_t elapsed(uint64_t since, uint64_t now) {
    return since != 0 && now > since ? now - since : 0;
}

static uint64_t whole_seconds(uint64_t usec) {
    return usec / GL_USEC_PER_SEC;
}

/* ---- what the policy remembers about pods ---- */

static gl_policy_pod_state *state_find(gl_policy_state *st, const char *uid) {
    for (size_t i = 0; i < st->n_pods && i < GL_POLICY_MAX_TRACKED; i++)
        if (strcmp(st->pods[i].uid, uid) == 0)
            return &st->pods[i];
    return NULL;
}

/* The pod's entry, created when missing; NULL when the table is full. A pod that cannot be
 * tracked is never acted on: without a record the next tick would act on it again. */
static gl_policy_pod_state *state_get(gl_policy_state *st, const char *uid) {
    gl_policy_pod_state *ps = state_find(st, uid);

    if (ps || st->n_pods >= GL_POLICY_MAX_TRACKED)
        return ps;
    ps = &st->pods[st->n_pods++];
    memset(ps, 0, sizeof(*ps));
    snprintf(ps->uid, sizeof(ps->uid), "%s", uid);
    return ps;
}

static void state_drop(gl_policy_state *st, size_t i) {
    memmove(&st->pods[i], &st->pods[i + 1], (st->n_pods - i - 1) * sizeof(st->pods[0]));
    st->n_pods--;
}

static bool in_force(const gl_policy_pod_state *ps) {
    return ps->memory_throttled || ps->cpu_throttled || ps->frozen || ps->eviction_pending ||
           ps->killed;
}

static bool reported_recently(const ctx *x, const gl_policy_pod_state *ps) {
    for (size_t r = 0; r < GL_REASON_N; r++)
        if (within(ps->protected_reported_usec[r], x->now, x->delay))
            return true;
    return false;
}

static const gl_policy_pod *snap_find(const gl_policy_snapshot *snap, const char *uid) {
    for (size_t i = 0; i < snap->n_pods; i++)
        if (snap->pods[i].uid && strcmp(snap->pods[i].uid, uid) == 0)
            return &snap->pods[i];
    return NULL;
}

/* Pods that left the snapshot have ended; entries with nothing in force and no report to hold
 * back are dropped too, so the table holds only what matters. */
static void state_prune(ctx *x) {
    gl_policy_state *st = x->st;

    if (st->n_pods > GL_POLICY_MAX_TRACKED)
        st->n_pods = GL_POLICY_MAX_TRACKED;
    for (size_t i = st->n_pods; i > 0; i--) {
        gl_policy_pod_state *ps = &st->pods[i - 1];

        ps->restored_mask = 0;
        if (!snap_find(x->snap, ps->uid) || (!in_force(ps) && !reported_recently(x, ps)))
            state_drop(st, i - 1);
    }
}

static void evictions_prune(ctx *x) {
    gl_policy_state *st = x->st;
    size_t kept = 0;

    if (st->n_evictions > GL_POLICY_MAX_EVICTIONS)
        st->n_evictions = GL_POLICY_MAX_EVICTIONS;
    for (size_t i = 0; i < st->n_evictions; i++)
        if (within(st->evictions_usec[i], x->now, EVICTION_WINDOW_USEC))
            st->evictions_usec[kept++] = st->evictions_usec[i];
    st->n_evictions = kept;
}

static bool rate_limited(const ctx *x) {
    return x->st->n_evictions >= x->c->actions.max_evictions_per_minute;
}

static void eviction_record(ctx *x) {
    gl_policy_state *st = x->st;

    /* Full only if MaxEvictionsPerMinute exceeds the window's size, which config forbids. */
    if (st->n_evictions == GL_POLICY_MAX_EVICTIONS) {
        memmove(st->evictions_usec, st->evictions_usec + 1,
                (GL_POLICY_MAX_EVICTIONS - 1) * sizeof(st->evictions_usec[0]));
        st->n_evictions--;
    }
    st->evictions_usec[st->n_evictions++] = x->now;
}

/* ---- the node's signals ---- */

/* When a condition that holds now began: kept while it holds, 0 once it does not. */
static uint64_t since_update(uint64_t since, bool holds, uint64_t now) {
    if (!holds)
        return 0;
    return since ? since : now;
}

static void signals_update(ctx *x) {
    const gl_config *c = x->c;
    const gl_policy_snapshot *snap = x->snap;
    gl_policy_state *st = x->st;
    /* An unreadable PSI file gives no evidence of pressure (and none against clearing it). */
    bool mem_over =
        snap->memory_psi_valid && snap->memory_psi_some_avg10_bp > c->memory.pressure_limit_bp;
    bool cpu_over = snap->cpu_psi_valid && snap->cpu_psi_some_avg10_bp > c->cpu.pressure_limit_bp;
    bool mem_clear;

    st->memory_psi_since_usec = since_update(st->memory_psi_since_usec, mem_over, x->now);
    st->cpu_psi_since_usec = since_update(st->cpu_psi_since_usec, cpu_over, x->now);
    x->mem_psi_sustained =
        mem_over && elapsed(st->memory_psi_since_usec, x->now) >= c->memory.pressure_duration_usec;
    x->cpu_psi_sustained =
        cpu_over && elapsed(st->cpu_psi_since_usec, x->now) >= c->cpu.pressure_duration_usec;

    x->level = gl_mem_level_for(c, snap->capacity_bytes, snap->available_bytes);
    /* Clear means no sign of memory trouble at all: available above ThrottleBelow and PSI not
     * over its limit even for a moment. Any return of pressure restarts the hysteresis clock. */
    mem_clear = x->level == GL_MEM_LEVEL_OK && !mem_over;
    st->clear_since_usec = since_update(st->clear_since_usec, mem_clear, x->now);
    st->cpu_clear_since_usec = since_update(st->cpu_clear_since_usec, !cpu_over, x->now);
    /* A spike below EvictBelow ends when available rises above it; the next one is reported. */
    if (x->level < GL_MEM_LEVEL_EVICT)
        st->evict_unavailable_reported = false;
}

/* The node memory signal is one signal whichever figure showed it: an action for memory-low,
 * memory-pressure or an emergency kill all need time to show in memory.available, and acting
 * again before that would take a second pod for the same spike. */
static bool memory_signal_recent(const ctx *x) {
    const uint64_t *last = x->st->last_action_usec;

    return within(last[GL_REASON_MEMORY_LOW], x->now, x->delay) ||
           within(last[GL_REASON_MEMORY_PRESSURE], x->now, x->delay) ||
           within(last[GL_REASON_EMERGENCY], x->now, x->delay);
}

static bool signal_recent(const ctx *x, gl_reason r) {
    return within(x->st->last_action_usec[r], x->now, x->delay);
}

/* ---- targets ---- */

static uint64_t memory_throttle_target(const gl_policy_pod *p) {
    uint64_t target = gl_policy_share(p->working_set_bytes, THROTTLE_MEMORY_SHARE_BP);
    uint64_t floor_bytes = THROTTLE_MEMORY_FLOOR_BYTES;

    if (p->has_metadata && p->memory_request_bytes > floor_bytes)
        floor_bytes = p->memory_request_bytes;
    return target > floor_bytes ? target : floor_bytes;
}

/* A throttle that lowers nothing is no action: such a pod is passed over rather than spending
 * the spike's one action on it (its working set is at its floor, or memory.high is already
 * lower). */
static bool memory_throttle_bites(const gl_policy_pod *p) {
    uint64_t target = memory_throttle_target(p);

    return target < p->working_set_bytes && target < p->memory_high_bytes;
}

static uint32_t cpu_throttle_target(const gl_policy_pod *p) {
    uint64_t target;

    if (p->has_metadata && p->cpu_request_millicores > 0)
        return p->cpu_request_millicores;
    target = gl_policy_share(p->cpu_usage_millicores, THROTTLE_CPU_SHARE_BP);
    return target > THROTTLE_CPU_FLOOR_MILLICORES ? (uint32_t)target
                                                  : THROTTLE_CPU_FLOOR_MILLICORES;
}

static bool cpu_throttle_bites(const gl_policy_pod *p) {
    return cpu_throttle_target(p) < p->cpu_usage_millicores;
}

/* Held back by our memory.high: within PRESSING_MARGIN_BP of it. */
static bool pressing(const gl_policy_pod *p, const gl_policy_pod_state *ps) {
    uint64_t target = ps->memory_high_target_bytes;

    return target > 0 &&
           p->working_set_bytes >= target - gl_policy_share(target, PRESSING_MARGIN_BP);
}

static bool still_growing(const ctx *x, const gl_policy_pod *p) {
    return p->growth_per_sec >= (double)x->c->runaway.min_growth_rate_bytes;
}

/* ---- decisions and their sentences ---- */

static bool room(const ctx *x, size_t k) {
    return x->max - x->n >= k;
}

/* Appends to the decision's sentence; truncated at GL_DECISION_DETAIL_MAX. */
__attribute__((format(printf, 2, 3))) static void say(gl_decision *d, const char *fmt, ...) {
    size_t used = strlen(d->detail);
    va_list ap;

    if (used + 1 >= sizeof(d->detail))
        return;
    va_start(ap, fmt);
    vsnprintf(d->detail + used, sizeof(d->detail) - used, fmt, ap);
    va_end(ap);
}

#define BYTES(v) gl_format_bytes((v), (char[24]){0}, 24)
#define PCT(bp)  gl_format_percent((bp), (char[16]){0}, 16)

static uint32_t share_bp(uint64_t part, uint64_t whole) {
    double bp;

    if (whole == 0)
        return 0;
    bp = (double)part * GL_PERCENT_BP_MAX / (double)whole;
    return bp >= (double)UINT32_MAX ? UINT32_MAX : (uint32_t)bp;
}

static const char *level_key(gl_mem_level l) {
    switch (l) {
    case GL_MEM_LEVEL_KILL:
        return "KillBelow";
    case GL_MEM_LEVEL_EVICT:
        return "EvictBelow";
    default:
        return "ThrottleBelow";
    }
}

static const gl_quantity *level_quantity(const gl_config *c, gl_mem_level l) {
    switch (l) {
    case GL_MEM_LEVEL_KILL:
        return &c->memory.kill_below;
    case GL_MEM_LEVEL_EVICT:
        return &c->memory.evict_below;
    default:
        return &c->memory.throttle_below;
    }
}

/* "8% (1.30Gi)" for a percentage, "1Gi" for bytes. */
static void say_threshold(const ctx *x, gl_decision *d, const gl_quantity *q) {
    uint64_t bytes = gl_quantity_resolve(q, x->snap->capacity_bytes);

    d->fig.threshold_bytes = bytes;
    if (q->kind == GL_QTY_PERCENT)
        say(d, "%s (%s)", PCT(q->percent_bp), BYTES(bytes));
    else
        say(d, "%s", BYTES(bytes));
}

static void say_available(const ctx *x, gl_decision *d) {
    say(d, "node memory.available %s (%s)", BYTES(x->snap->available_bytes),
        PCT(share_bp(x->snap->available_bytes, x->snap->capacity_bytes)));
}

static void say_pod(gl_decision *d, const gl_policy_pod *p) {
    say(d, "working set %s", BYTES(p->working_set_bytes));
    if (p->has_metadata && p->memory_request_bytes > 0)
        say(d, ", request %s", BYTES(p->memory_request_bytes));
    if (p->growth_per_sec >= 1)
        say(d, ", growing %s/s", BYTES((uint64_t)p->growth_per_sec));
}

/* The signal, as the first half of the sentence. */
static void say_signal(const ctx *x, gl_decision *d, gl_reason r, const gl_policy_pod *p,
                       gl_mem_level level) {
    const gl_config *c = x->c;
    gl_policy_pod_state *ps = state_find(x->st, p->uid);

    switch (r) {
    case GL_REASON_MEMORY_LOW:
        say_available(x, d);
        say(d, " is below %s ", level_key(level));
        say_threshold(x, d, level_quantity(c, level));
        break;
    case GL_REASON_MEMORY_PRESSURE:
        say(d,
            "node memory pressure (PSI some avg10 %s) has stayed above PressureLimit %s for "
            "%" PRIu64 "s",
            PCT(x->snap->memory_psi_some_avg10_bp), PCT(c->memory.pressure_limit_bp),
            whole_seconds(elapsed(x->st->memory_psi_since_usec, x->now)));
        break;
    case GL_REASON_CPU_PRESSURE:
        say(d,
            "node CPU pressure (PSI some avg10 %s) has stayed above PressureLimit %s for %" PRIu64
            "s",
            PCT(x->snap->cpu_psi_some_avg10_bp), PCT(c->cpu.pressure_limit_bp),
            whole_seconds(elapsed(x->st->cpu_psi_since_usec, x->now)));
        break;
    case GL_REASON_LEAK: {
        double to_limit = gl_policy_seconds_to_limit(p);
        double to_node = gl_policy_seconds_to_node(x->snap, p);

        if (ps && ps->memory_throttled) {
            say(d, "memory still grows %s/s %" PRIu64 "s after it was throttled to %s",
                BYTES(p->growth_per_sec > 0 ? (uint64_t)p->growth_per_sec : 0),
                whole_seconds(elapsed(ps->memory_throttled_usec, x->now)),
                BYTES(ps->memory_high_target_bytes));
            break;
        }
        say(d, "memory grows %s/s steadily (%s of steps rising over %" PRIu64 "s) and ",
            BYTES(p->growth_per_sec > 0 ? (uint64_t)p->growth_per_sec : 0),
            PCT(p->growth_rising_bp), whole_seconds(p->growth_span_usec));
        if (to_limit <= to_node)
            say(d, "reaches its limit %s in %.0fs", BYTES(p->memory_limit_bytes), to_limit);
        else
            say(d, "exhausts node memory.available %s in %.0fs", BYTES(x->snap->available_bytes),
                to_node);
        break;
    }
    case GL_REASON_FORK_BOMB: {
        uint64_t ceiling = gl_policy_pids_ceiling(x->snap, p);

        say(d, "%" PRIu64 " pids are %s of %s %" PRIu64 " (PidsAbove %s)", p->pids_current,
            PCT(share_bp(p->pids_current, ceiling)),
            p->pids_max != GL_CGROUP_UNLIMITED && p->pids_max != 0 ? "its pids.max"
                                                                   : "the node's pid_max",
            ceiling, PCT(c->runaway.pids_above_bp));
        break;
    }
    case GL_REASON_EMERGENCY:
        say(d, "its eviction has been pending for %" PRIu64 "s and ",
            whole_seconds(ps ? elapsed(ps->eviction_started_usec, x->now) : 0));
        say_available(x, d);
        say(d, " is still below EvictBelow ");
        say_threshold(x, d, &c->memory.evict_below);
        break;
    case GL_REASON_PRESSURE_CLEARED:
    case GL_REASON_N:
        break;
    }
}

/*
 * A new decision about p, or NULL when out[] is full (the caller then changes no state, so the
 * decision comes again next tick). Dry-run changes exactly one thing: the skip.
 */
static gl_decision *emit(ctx *x, gl_action a, gl_reason r, gl_skip skip, const gl_policy_pod *p) {
    gl_decision *d;

    if (x->n >= x->max)
        return NULL;
    d = &x->out[x->n++];
    memset(d, 0, sizeof(*d));
    d->action = a;
    d->reason = r;
    d->skip = skip == GL_SKIP_NONE && x->c->guard.mode == GL_MODE_DRY_RUN ? GL_SKIP_DRY_RUN : skip;
    snprintf(d->uid, sizeof(d->uid), "%s", p->uid ? p->uid : "");
    d->ns = p->ns;
    d->name = p->name;
    d->cgroup = p->cgroup;
    d->qos = p->qos;
    d->destructive = a == GL_ACTION_EVICT || a == GL_ACTION_KILL;
    d->fig = (gl_decision_figures){
        .node_available_bytes = x->snap->available_bytes,
        .node_capacity_bytes = x->snap->capacity_bytes,
        .psi_some_avg10_bp = r == GL_REASON_CPU_PRESSURE ? x->snap->cpu_psi_some_avg10_bp
                                                         : x->snap->memory_psi_some_avg10_bp,
        .pod_working_set_bytes = p->working_set_bytes,
        .pod_limit_bytes = p->memory_limit_bytes,
        .pod_growth_per_sec = p->growth_per_sec,
        .pod_pids = p->pids_current,
        .pod_cpu_millicores = p->cpu_usage_millicores,
    };
    return d;
}

/* A decision not carried out, with its signal; the caller says why. */
static gl_decision *report(ctx *x, const gl_policy_pod *p, gl_action a, gl_reason r, gl_skip skip,
                           gl_mem_level level) {
    gl_decision *d = emit(x, a, r, skip, p);

    if (d)
        say_signal(x, d, r, p, level);
    return d;
}

static void say_skip(const ctx *x, gl_decision *d, const gl_policy_pod *p) {
    switch (d->skip) {
    case GL_SKIP_RATE_LIMITED:
        say(d, "; %zu evictions in the last minute reached MaxEvictionsPerMinute %" PRIu32 ": ",
            x->st->n_evictions, x->c->actions.max_evictions_per_minute);
        break;
    case GL_SKIP_NO_EVICTION:
        say(d, "; nothing can be evicted without the Kubernetes API (local mode), so the next "
               "step applies: ");
        break;
    case GL_SKIP_DISABLED:
        if (d->action == GL_ACTION_KILL)
            say(d, "; killing is switched off (LocalKill=no): ");
        else if (d->action == GL_ACTION_FREEZE)
            say(d, "; freezing is switched off (Freeze=no), so it runs until it is evicted: ");
        else
            say(d, "; MaxEvictionsPerMinute=0 allows no evictions, so the next step applies: ");
        break;
    default:
        say(d, ": ");
        break;
    }
    say_pod(d, p);
}

/* A report repeated at most once per PostActionDelay for the same action and reason: a skip
 * that holds tick after tick is news once, not every second. */
static void report_limited(ctx *x, const gl_policy_pod *p, gl_action a, gl_reason r, gl_skip skip,
                           gl_mem_level level) {
    uint64_t *last = &x->st->reported_usec[a][r];
    gl_decision *d;

    if (within(*last, x->now, x->delay) || !(d = report(x, p, a, r, skip, level)))
        return;
    say_skip(x, d, p);
    *last = x->now;
}

/* Eviction being impossible is a fact of the spike, reported once per spike below EvictBelow. */
static void report_once_per_spike(ctx *x, const gl_policy_pod *p, gl_reason r, gl_skip skip,
                                  gl_mem_level level) {
    gl_decision *d;

    if (x->st->evict_unavailable_reported || !(d = report(x, p, GL_ACTION_EVICT, r, skip, level)))
        return;
    say_skip(x, d, p);
    x->st->evict_unavailable_reported = true;
}

/* ---- candidates ---- */

typedef bool (*eligible_fn)(const ctx *x, const gl_policy_pod *p, const gl_policy_pod_state *ps);
typedef int (*order_fn)(const ctx *x, const gl_policy_pod *a, const gl_policy_pod *b);

/* Who may be chosen for one step, and in what order. */
typedef struct {
    order_fn order;
    eligible_fn eligible;
} walk;

/*
 * The best eligible pod ranked after `after` and before `before` (NULL: unbounded), or NULL.
 * Walking by repeated selection needs no sorted copy of the pods (and no allocation); the orders
 * are total, so every pod is met exactly once.
 */
static const gl_policy_pod *walk_next(const ctx *x, const walk *w, const gl_policy_pod *after,
                                      const gl_policy_pod *before) {
    const gl_policy_pod *best = NULL;

    for (size_t i = 0; i < x->snap->n_pods; i++) {
        const gl_policy_pod *p = &x->snap->pods[i];

        if (!p->uid || (after && w->order(x, after, p) >= 0) ||
            (before && w->order(x, p, before) >= 0))
            continue;
        if (!w->eligible(x, p, state_find(x->st, p->uid)))
            continue;
        if (!best || w->order(x, p, best) < 0)
            best = p;
    }
    return best;
}

/* The first eligible pod that is not protected, or NULL. */
static const gl_policy_pod *choose(const ctx *x, const walk *w) {
    const gl_policy_pod *p = NULL;

    while ((p = walk_next(x, w, p, NULL)))
        if (gl_policy_protected(x->c, p) == GL_PROTECT_NONE)
            return p;
    return NULL;
}

static void say_protection(gl_decision *d, gl_protect why) {
    static const struct {
        gl_protect bit;
        const char *what;
    } names[] = {
        {GL_PROTECT_NAMESPACE, "its namespace"},
        {GL_PROTECT_PRIORITY, "its priority"},
        {GL_PROTECT_ANNOTATION, "its annotation"},
        {GL_PROTECT_STATIC, "being a static pod"},
        {GL_PROTECT_SELF, "being guardlet"},
        {GL_PROTECT_UID, "PodUIDs"},
        {GL_PROTECT_PENDING, "not being known yet (the API server's first pod list is pending)"},
    };
    bool first = true;

    say(d, "; the pod is protected by ");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (why & names[i].bit) {
            say(d, "%s%s", first ? "" : " and ", names[i].what);
            first = false;
        }
    say(d, " and is passed over: ");
}

/*
 * Reports the protected pods that would have been chosen before `chosen` (all of them when
 * chosen is NULL): once per PostActionDelay per pod and reason, so an operator learns that a
 * protected pod is the one using the memory without being told every second.
 */
static void report_protected(ctx *x, const walk *w, const gl_policy_pod *chosen, gl_action a,
                             gl_reason r, gl_mem_level level) {
    const gl_policy_pod *p = NULL;

    while ((p = walk_next(x, w, p, chosen))) {
        gl_protect why = gl_policy_protected(x->c, p);
        gl_policy_pod_state *ps;
        gl_decision *d;

        if (why == GL_PROTECT_NONE)
            continue;
        ps = state_get(x->st, p->uid);
        if (!ps || within(ps->protected_reported_usec[r], x->now, x->delay))
            continue;
        if (!(d = report(x, p, a, r, GL_SKIP_PROTECTED, level)))
            return;
        d->protected_by = why;
        say_protection(d, why);
        say_pod(d, p);
        ps->protected_reported_usec[r] = x->now;
    }
}

static bool busy(const gl_policy_pod_state *ps) {
    /* Dying pods are never acted on again: whatever they hold is already on its way back. */
    return ps && (ps->killed || ps->eviction_pending);
}

static int memory_order(const ctx *x, const gl_policy_pod *a, const gl_policy_pod *b) {
    return gl_policy_memory_cmp(x->c, x->snap, a, b);
}

static int cpu_order(const ctx *x, const gl_policy_pod *a, const gl_policy_pod *b) {
    (void)x;
    return gl_policy_cpu_cmp(a, b);
}

static int cpu_usage_order(const ctx *x, const gl_policy_pod *a, const gl_policy_pod *b) {
    (void)x;
    if (a->cpu_usage_millicores != b->cpu_usage_millicores)
        return a->cpu_usage_millicores > b->cpu_usage_millicores ? -1 : 1;
    return strcmp(a->uid, b->uid);
}

/* The longest-pending eviction first. */
static int emergency_order(const ctx *x, const gl_policy_pod *a, const gl_policy_pod *b) {
    const gl_policy_pod_state *sa = state_find(x->st, a->uid), *sb = state_find(x->st, b->uid);
    uint64_t ta = sa ? sa->eviction_started_usec : UINT64_MAX;
    uint64_t tb = sb ? sb->eviction_started_usec : UINT64_MAX;

    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(a->uid, b->uid);
}

static bool can_throttle_memory(const ctx *x, const gl_policy_pod *p,
                                const gl_policy_pod_state *ps) {
    (void)x;
    return !busy(ps) && !(ps && ps->memory_throttled) && memory_throttle_bites(p);
}

/* Any pod that holds memory and is not already dying: "who ranks first", whatever is in force. */
static bool has_memory(const ctx *x, const gl_policy_pod *p, const gl_policy_pod_state *ps) {
    (void)x;
    return !(ps && ps->killed) && p->working_set_bytes > 0;
}

static bool can_evict(const ctx *x, const gl_policy_pod *p, const gl_policy_pod_state *ps) {
    (void)x;
    /* A pod whose budget just said no is passed over for the next candidate, not retried. */
    return !busy(ps) && p->working_set_bytes > 0 && !p->eviction_backoff;
}

/* A pod whose eviction is pending may still be killed: below KillBelow its grace period is a
 * luxury, and it is usually the largest pod. */
static bool can_kill(const ctx *x, const gl_policy_pod *p, const gl_policy_pod_state *ps) {
    (void)x;
    return !(ps && ps->killed) && p->working_set_bytes > 0;
}

static bool emergency_due(const ctx *x, const gl_policy_pod *p, const gl_policy_pod_state *ps) {
    (void)p;
    return ps && ps->eviction_pending && !ps->killed &&
           elapsed(ps->eviction_started_usec, x->now) >= x->c->actions.emergency_after_usec;
}

typedef enum { LEAK_NONE, LEAK_THROTTLE, LEAK_EVICT } leak_step;

/*
 * A leak is throttled first: memory.high slows it and buys time. In API mode it is evicted when
 * it keeps growing PostActionDelay after that (memory.high is not a hard limit, and a leak that
 * outgrows it will not stop by itself), and at once when throttling is off, because nothing else
 * would stand between it and the node. A pod held flat by the throttle is left throttled: that
 * is not evidence of growth, and an eviction needs evidence.
 */
static leak_step leak_step_for(const ctx *x, const gl_policy_pod *p,
                               const gl_policy_pod_state *ps) {
    if (busy(ps))
        return LEAK_NONE;
    if (!(ps && ps->memory_throttled)) {
        if (!gl_policy_is_leak(x->c, x->snap, p))
            return LEAK_NONE;
        if (x->c->actions.throttle)
            return memory_throttle_bites(p) ? LEAK_THROTTLE : LEAK_NONE;
        /* Local mode with Throttle=no has nothing gentle left; the node memory ladder takes
         * over if the leak ever makes the node short. */
        return x->evict_possible && !p->eviction_backoff ? LEAK_EVICT : LEAK_NONE;
    }
    /* A budget's "no", or an API server that is away, backs the eviction off as on every path:
     * retrying each tick would only hammer the server and flood the journal. */
    if (!x->evict_possible || p->eviction_backoff ||
        within(ps->memory_throttled_usec, x->now, x->delay))
        return LEAK_NONE;
    /* Throttled for another reason, it must pass the whole leak test to count as one. */
    if (ps->memory_throttle_reason == GL_REASON_LEAK ? still_growing(x, p)
                                                     : gl_policy_is_leak(x->c, x->snap, p))
        return LEAK_EVICT;
    return LEAK_NONE;
}

static bool can_act_on_leak(const ctx *x, const gl_policy_pod *p, const gl_policy_pod_state *ps) {
    return leak_step_for(x, p, ps) != LEAK_NONE;
}

static bool can_stop_fork_bomb(const ctx *x, const gl_policy_pod *p,
                               const gl_policy_pod_state *ps) {
    return !busy(ps) && gl_policy_is_fork_bomb(x->c, x->snap, p);
}

static bool can_throttle_cpu(const ctx *x, const gl_policy_pod *p, const gl_policy_pod_state *ps) {
    (void)x;
    return !busy(ps) && !(ps && ps->cpu_throttled) && gl_policy_cpu_offender(p) &&
           cpu_throttle_bites(p);
}

static bool can_evict_for_cpu(const ctx *x, const gl_policy_pod *p, const gl_policy_pod_state *ps) {
    if (busy(ps) || p->eviction_backoff)
        return false;
    /* With throttling on, the pods already throttled are the offenders; without, the offenders
     * are found as for a throttle. */
    return x->c->actions.throttle ? ps && ps->cpu_throttled : gl_policy_cpu_offender(p);
}

static const walk kill_walk = {memory_order, can_kill};
static const walk evict_walk = {memory_order, can_evict};
static const walk throttle_walk = {memory_order, can_throttle_memory};
static const walk any_memory_walk = {memory_order, has_memory};
static const walk emergency_walk = {emergency_order, emergency_due};
static const walk leak_walk = {memory_order, can_act_on_leak};
static const walk fork_bomb_walk = {memory_order, can_stop_fork_bomb};
static const walk cpu_throttle_walk = {cpu_order, can_throttle_cpu};
static const walk cpu_evict_throttled_walk = {cpu_usage_order, can_evict_for_cpu};
static const walk cpu_evict_walk = {cpu_order, can_evict_for_cpu};

/* ---- actions ---- */

static void mark_acted(ctx *x, gl_policy_pod_state *ps, gl_reason r) {
    ps->last_action_usec = x->now;
    x->st->last_action_usec[r] = x->now;
}

static bool act_throttle_memory(ctx *x, const gl_policy_pod *p, gl_reason r, gl_mem_level level) {
    gl_policy_pod_state *ps = state_get(x->st, p->uid);
    uint64_t target = memory_throttle_target(p);
    gl_decision *d;

    if (!ps || !(d = emit(x, GL_ACTION_THROTTLE_MEMORY, r, GL_SKIP_NONE, p)))
        return false;
    d->fig.target = target;
    say_signal(x, d, r, p, level);
    say(d, "; setting memory.high to %s: ", BYTES(target));
    say_pod(d, p);
    ps->memory_throttled = true;
    /* A pod that is itself leaking keeps the leak's stricter restore rule whatever the signal. */
    ps->memory_throttle_reason =
        r == GL_REASON_LEAK || gl_policy_is_leak(x->c, x->snap, p) ? GL_REASON_LEAK : r;
    ps->memory_throttled_usec = x->now;
    ps->memory_high_target_bytes = target;
    mark_acted(x, ps, r);
    return true;
}

static bool act_throttle_cpu(ctx *x, const gl_policy_pod *p) {
    gl_policy_pod_state *ps = state_get(x->st, p->uid);
    uint32_t target = cpu_throttle_target(p);
    gl_decision *d;

    if (!ps || !(d = emit(x, GL_ACTION_THROTTLE_CPU, GL_REASON_CPU_PRESSURE, GL_SKIP_NONE, p)))
        return false;
    d->fig.target = target;
    say_signal(x, d, GL_REASON_CPU_PRESSURE, p, GL_MEM_LEVEL_OK);
    say(d, "; limiting cpu.max to %" PRIu32 "m: using %" PRIu32 "m", target,
        p->cpu_usage_millicores);
    if (p->has_metadata && p->cpu_request_millicores > 0)
        say(d, ", request %" PRIu32 "m", p->cpu_request_millicores);
    ps->cpu_throttled = true;
    ps->cpu_throttled_usec = x->now;
    mark_acted(x, ps, GL_REASON_CPU_PRESSURE);
    return true;
}

/*
 * Evicts p, frozen first when Freeze=yes so that it stops allocating (or forking) during its grace
 * period. For a fork bomb the freeze is part of the remedy, so Freeze=no is reported there; for
 * the other reasons it is an extra the operator chose not to have, and saying so would be noise.
 */
static bool act_evict(ctx *x, const gl_policy_pod *p, gl_reason r, gl_mem_level level) {
    gl_policy_pod_state *ps = state_get(x->st, p->uid);
    bool freeze = x->c->actions.freeze && ps && !ps->frozen;
    bool freeze_off = !x->c->actions.freeze && r == GL_REASON_FORK_BOMB &&
                      !within(x->st->reported_usec[GL_ACTION_FREEZE][r], x->now, x->delay);
    gl_decision *d;

    if (!ps || !room(x, 1 + (freeze || freeze_off)))
        return false;
    if (freeze) {
        d = emit(x, GL_ACTION_FREEZE, r, GL_SKIP_NONE, p);
        say_signal(x, d, r, p, level);
        say(d, "; freezing the pod until its eviction completes: ");
        say_pod(d, p);
        ps->frozen = true;
        ps->last_action_usec = x->now;
    } else if (freeze_off) {
        d = report(x, p, GL_ACTION_FREEZE, r, GL_SKIP_DISABLED, level);
        say_skip(x, d, p);
        x->st->reported_usec[GL_ACTION_FREEZE][r] = x->now;
    }
    d = emit(x, GL_ACTION_EVICT, r, GL_SKIP_NONE, p);
    say_signal(x, d, r, p, level);
    say(d, "; evicting %s: ",
        r == GL_REASON_MEMORY_LOW ? "the first pod in the kubelet's eviction order" : "the pod");
    say_pod(d, p);
    if (r == GL_REASON_CPU_PRESSURE)
        say(d, ", using %" PRIu32 "m of CPU", p->cpu_usage_millicores);
    ps->eviction_pending = true;
    ps->eviction_started_usec = x->now;
    eviction_record(x);
    mark_acted(x, ps, r);
    return true;
}

static bool act_kill(ctx *x, const gl_policy_pod *p, gl_reason r, gl_mem_level level) {
    gl_policy_pod_state *ps = state_get(x->st, p->uid);
    gl_decision *d;

    if (!ps || !(d = emit(x, GL_ACTION_KILL, r, GL_SKIP_NONE, p)))
        return false;
    say_signal(x, d, r, p, level);
    say(d, "; killing %s: ",
        r == GL_REASON_MEMORY_LOW ? "the first pod in the kubelet's eviction order" : "the pod");
    say_pod(d, p);
    ps->killed = true;
    mark_acted(x, ps, r);
    return true;
}

/* ---- the rules ---- */

/*
 * Fork bombs exhaust the node's pids for every pod within seconds. API mode freezes and evicts
 * (the pod gets its grace period and is rescheduled); when that cannot happen now (local mode,
 * MaxEvictionsPerMinute=0 or its cap reached) the pod is killed locally, since waiting a minute
 * for the eviction budget is not an option.
 */
static void fork_bomb_rule(ctx *x) {
    const gl_policy_pod *p;

    if (signal_recent(x, GL_REASON_FORK_BOMB))
        return;
    p = choose(x, &fork_bomb_walk);
    if (!p) {
        report_protected(x, &fork_bomb_walk, NULL,
                         x->evict_possible ? GL_ACTION_EVICT : GL_ACTION_KILL, GL_REASON_FORK_BOMB,
                         GL_MEM_LEVEL_OK);
        return;
    }
    if (x->evict_possible) {
        if (!rate_limited(x)) {
            if (act_evict(x, p, GL_REASON_FORK_BOMB, GL_MEM_LEVEL_OK))
                report_protected(x, &fork_bomb_walk, p, GL_ACTION_EVICT, GL_REASON_FORK_BOMB,
                                 GL_MEM_LEVEL_OK);
            return;
        }
        report_limited(x, p, GL_ACTION_EVICT, GL_REASON_FORK_BOMB, GL_SKIP_RATE_LIMITED,
                       GL_MEM_LEVEL_OK);
    }
    if (!x->c->actions.local_kill) {
        report_limited(x, p, GL_ACTION_KILL, GL_REASON_FORK_BOMB, GL_SKIP_DISABLED,
                       GL_MEM_LEVEL_OK);
        return;
    }
    if (act_kill(x, p, GL_REASON_FORK_BOMB, GL_MEM_LEVEL_OK))
        report_protected(x, &fork_bomb_walk, p, GL_ACTION_KILL, GL_REASON_FORK_BOMB,
                         GL_MEM_LEVEL_OK);
}

/* An eviction that has not freed memory within EmergencyAfter, while the node is still below
 * EvictBelow: the pod is killed locally (its grace period is what the node cannot afford). */
static void emergency_rule(ctx *x) {
    uint64_t evict_bytes = gl_quantity_resolve(&x->c->memory.evict_below, x->snap->capacity_bytes);
    const gl_policy_pod *p;

    if (!(x->snap->available_bytes < evict_bytes) || signal_recent(x, GL_REASON_EMERGENCY))
        return;
    p = choose(x, &emergency_walk);
    if (!p) {
        report_protected(x, &emergency_walk, NULL, GL_ACTION_KILL, GL_REASON_EMERGENCY,
                         GL_MEM_LEVEL_EVICT);
        return;
    }
    if (!x->c->actions.local_kill) {
        report_limited(x, p, GL_ACTION_KILL, GL_REASON_EMERGENCY, GL_SKIP_DISABLED,
                       GL_MEM_LEVEL_EVICT);
        return;
    }
    if (act_kill(x, p, GL_REASON_EMERGENCY, GL_MEM_LEVEL_EVICT))
        report_protected(x, &emergency_walk, p, GL_ACTION_KILL, GL_REASON_EMERGENCY,
                         GL_MEM_LEVEL_EVICT);
}

/*
 * Node memory: one action per spike, the most severe step that applies and is possible. Below
 * KillBelow a local kill; below EvictBelow an eviction (frozen first with Freeze=yes); below
 * ThrottleBelow, or with memory PSI sustained over its limit, a throttle. A step that cannot be
 * taken (switched off, no API server, rate-limited) falls through to the next gentler one, so
 * something is always done while anything can be.
 */
static void memory_rule(ctx *x) {
    const gl_config *c = x->c;
    gl_mem_level level = x->level;
    gl_reason r = GL_REASON_MEMORY_LOW;
    const gl_policy_pod *p;

    if (level == GL_MEM_LEVEL_OK) {
        if (!x->mem_psi_sustained)
            return;
        level = GL_MEM_LEVEL_THROTTLE;
        r = GL_REASON_MEMORY_PRESSURE;
    }
    /* Within PostActionDelay the spike already had its action; only a more severe level (the
     * throttle did not hold and memory kept falling) may act again: escalation is never delayed. */
    if (memory_signal_recent(x) && (uint8_t)level <= x->st->memory_action_level)
        return;

    if (level == GL_MEM_LEVEL_KILL) {
        p = choose(x, &kill_walk);
        if (p && c->actions.local_kill) {
            if (act_kill(x, p, r, level)) {
                x->st->memory_action_level = (uint8_t)level;
                report_protected(x, &kill_walk, p, GL_ACTION_KILL, r, level);
            }
            return;
        }
        if (!p && c->actions.local_kill)
            report_protected(x, &kill_walk, NULL, GL_ACTION_KILL, r, level);
        /* A kill that was needed and is switched off is what an operator must hear about. */
        if (p)
            report_limited(x, p, GL_ACTION_KILL, r, GL_SKIP_DISABLED, level);
    }
    if (level >= GL_MEM_LEVEL_EVICT) {
        p = choose(x, &evict_walk);
        if (p && !x->snap->can_evict) {
            report_once_per_spike(x, p, r, GL_SKIP_NO_EVICTION, level);
        } else if (p && c->actions.max_evictions_per_minute == 0) {
            /* "Never evict" is the operator's choice; like local mode, it is said once a spike. */
            report_once_per_spike(x, p, r, GL_SKIP_DISABLED, level);
        } else if (p && rate_limited(x)) {
            report_limited(x, p, GL_ACTION_EVICT, r, GL_SKIP_RATE_LIMITED, level);
        } else if (p) {
            if (act_evict(x, p, r, level)) {
                x->st->memory_action_level = (uint8_t)level;
                report_protected(x, &evict_walk, p, GL_ACTION_EVICT, r, level);
            }
            return;
        } else if (x->evict_possible) {
            report_protected(x, &evict_walk, NULL, GL_ACTION_EVICT, r, level);
        }
    }
    /* Throttle=no is the operator's choice and there is always a harsher step for a real
     * shortage, so a throttle that is off is not reported. */
    if (!c->actions.throttle)
        return;
    /* When the pod that ranks first is already throttled, that throttle is this spike's action:
     * moving down the list would only stall bystanders that are not what fills the node. More
     * severe levels (evict, kill) handle a throttle that does not hold. */
    const gl_policy_pod *top = choose(x, &any_memory_walk);
    if (top) {
        const gl_policy_pod_state *ts = state_find(x->st, top->uid);
        if (ts && ts->memory_throttled)
            return;
    }
    p = choose(x, &throttle_walk);
    if (p) {
        if (act_throttle_memory(x, p, r, level)) {
            x->st->memory_action_level = (uint8_t)level;
            report_protected(x, &throttle_walk, p, GL_ACTION_THROTTLE_MEMORY, r, level);
        }
    } else {
        report_protected(x, &throttle_walk, NULL, GL_ACTION_THROTTLE_MEMORY, r, level);
    }
}

/* Leaks are judged pod by pod, whatever the node's memory: two leaking pods are two signals, so
 * there is no node-wide delay here (a pod is never acted on twice while its action is in force,
 * evictions are rate-limited, and at most one leak action happens per tick). */
static void leak_rule(ctx *x) {
    gl_action protected_action =
        x->c->actions.throttle ? GL_ACTION_THROTTLE_MEMORY : GL_ACTION_EVICT;
    const gl_policy_pod *p;

    p = choose(x, &leak_walk);
    if (!p) {
        report_protected(x, &leak_walk, NULL, protected_action, GL_REASON_LEAK, GL_MEM_LEVEL_OK);
        return;
    }
    if (leak_step_for(x, p, state_find(x->st, p->uid)) == LEAK_THROTTLE) {
        if (act_throttle_memory(x, p, GL_REASON_LEAK, GL_MEM_LEVEL_OK))
            report_protected(x, &leak_walk, p, protected_action, GL_REASON_LEAK, GL_MEM_LEVEL_OK);
        return;
    }
    if (rate_limited(x)) {
        report_limited(x, p, GL_ACTION_EVICT, GL_REASON_LEAK, GL_SKIP_RATE_LIMITED,
                       GL_MEM_LEVEL_OK);
        return;
    }
    if (act_evict(x, p, GL_REASON_LEAK, GL_MEM_LEVEL_OK))
        report_protected(x, &leak_walk, p, protected_action, GL_REASON_LEAK, GL_MEM_LEVEL_OK);
}

/*
 * CPU contention sustained over its limit: throttle the largest offender towards its request,
 * one per PostActionDelay. With CPU.Evict=yes (API mode), once no offender is left to throttle,
 * the throttled pod using the most CPU is evicted so that it can run on a node with room.
 */
static void cpu_rule(ctx *x) {
    const walk *w;
    const gl_policy_pod *p;

    if (!x->cpu_psi_sustained || signal_recent(x, GL_REASON_CPU_PRESSURE))
        return;
    if (x->c->actions.throttle) {
        p = choose(x, &cpu_throttle_walk);
        if (p) {
            if (act_throttle_cpu(x, p))
                report_protected(x, &cpu_throttle_walk, p, GL_ACTION_THROTTLE_CPU,
                                 GL_REASON_CPU_PRESSURE, GL_MEM_LEVEL_OK);
            return;
        }
        report_protected(x, &cpu_throttle_walk, NULL, GL_ACTION_THROTTLE_CPU,
                         GL_REASON_CPU_PRESSURE, GL_MEM_LEVEL_OK);
    }
    /* CPU contention alone is not worth a report when evicting for it is off or impossible: the
     * node keeps running, only slower. */
    if (!x->c->cpu.evict || !x->evict_possible)
        return;
    w = x->c->actions.throttle ? &cpu_evict_throttled_walk : &cpu_evict_walk;
    p = choose(x, w);
    if (!p)
        return;
    if (rate_limited(x)) {
        report_limited(x, p, GL_ACTION_EVICT, GL_REASON_CPU_PRESSURE, GL_SKIP_RATE_LIMITED,
                       GL_MEM_LEVEL_OK);
        return;
    }
    if (act_evict(x, p, GL_REASON_CPU_PRESSURE, GL_MEM_LEVEL_OK))
        report_protected(x, w, p, GL_ACTION_EVICT, GL_REASON_CPU_PRESSURE, GL_MEM_LEVEL_OK);
}

/* Twice PostActionDelay: once for the last action's effect to show, once more to be sure the
 * calm is not just that effect before the next wave. */
static bool clear_long_enough(const ctx *x, uint64_t since) {
    uint64_t need = x->delay > UINT64_MAX / 2 ? UINT64_MAX : 2 * x->delay;

    return since != 0 && elapsed(since, x->now) >= need;
}

/*
 * Restores undo everything in force on a pod at once (that is what the actuator does), so a pod
 * is restored only when every part may go: memory.high once node memory has been clear long
 * enough and, for a leak, once it stopped growing without being held flat by the throttle;
 * cpu.max once CPU pressure has been clear long enough; a freeze as soon as no eviction is pending
 * any more (the freeze only bridges an eviction; a frozen pod that stays makes no progress and
 * keeps its memory).
 */
static void restore_rule(ctx *x) {
    bool mem_ok = clear_long_enough(x, x->st->clear_since_usec);
    bool cpu_ok = clear_long_enough(x, x->st->cpu_clear_since_usec);

    for (size_t i = 0; i < x->snap->n_pods; i++) {
        const gl_policy_pod *p = &x->snap->pods[i];
        gl_policy_pod_state *ps = p->uid ? state_find(x->st, p->uid) : NULL;
        gl_decision *d;
        unsigned undo = 0;

        if (!ps || busy(ps) || !(ps->memory_throttled || ps->cpu_throttled || ps->frozen))
            continue;
        if (ps->memory_throttled) {
            bool leak =
                ps->memory_throttle_reason == GL_REASON_LEAK || gl_policy_is_leak(x->c, x->snap, p);

            if (!mem_ok || (leak && (still_growing(x, p) || pressing(p, ps))))
                continue;
            undo |= UNDID_MEMORY;
        }
        if (ps->cpu_throttled) {
            if (!cpu_ok)
                continue;
            undo |= UNDID_CPU;
        }
        if (ps->frozen)
            undo |= UNDID_FREEZE;
        if (!(d = emit(x, GL_ACTION_RESTORE, GL_REASON_PRESSURE_CLEARED, GL_SKIP_NONE, p)))
            return;
        if (undo & UNDID_MEMORY) {
            say(d, "memory pressure has been clear for %" PRIu64 "s (",
                whole_seconds(elapsed(x->st->clear_since_usec, x->now)));
            say_available(x, d);
            say(d, ")");
        }
        if (undo & UNDID_CPU)
            say(d, "%sCPU pressure has been clear for %" PRIu64 "s",
                undo & UNDID_MEMORY ? " and " : "",
                whole_seconds(elapsed(x->st->cpu_clear_since_usec, x->now)));
        if (!(undo & (UNDID_MEMORY | UNDID_CPU)))
            say(d, "its eviction is no longer pending");
        say(d, "; undoing%s%s%s: ", undo & UNDID_MEMORY ? " memory.high" : "",
            undo & UNDID_CPU ? " cpu.max" : "", undo & UNDID_FREEZE ? " the freeze" : "");
        say_pod(d, p);
        ps->memory_throttled = ps->memory_throttled && !(undo & UNDID_MEMORY);
        ps->cpu_throttled = ps->cpu_throttled && !(undo & UNDID_CPU);
        ps->frozen = ps->frozen && !(undo & UNDID_FREEZE);
        ps->restored_mask = undo;
    }
}

/* Output order: restores, protections reported, throttles, freeze, evict, kill. Gentle first,
 * and a freeze before the eviction it bridges. */
static int bucket(const gl_decision *d) {
    if (d->skip == GL_SKIP_PROTECTED)
        return 1;
    switch (d->action) {
    case GL_ACTION_RESTORE:
        return 0;
    case GL_ACTION_THROTTLE_MEMORY:
    case GL_ACTION_THROTTLE_CPU:
        return 2;
    case GL_ACTION_FREEZE:
        return 3;
    case GL_ACTION_EVICT:
        return 4;
    default:
        return 5;
    }
}

static void sort_for_output(gl_decision *v, size_t n) {
    /* Stable insertion sort: at most a few dozen entries, and the relative order within a bucket
     * (the order of urgency in which they were decided) is kept. */
    for (size_t i = 1; i < n; i++) {
        gl_decision tmp = v[i];
        size_t j = i;

        while (j > 0 && bucket(&v[j - 1]) > bucket(&tmp)) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = tmp;
    }
}

/*
 * The rules run in order of urgency (fork bombs, emergencies, node memory, leaks, CPU, restores),
 * so when out[] fills up it is the least urgent decisions that wait for the next tick; nothing is
 * recorded in the state for a decision that did not fit.
 */
size_t gl_policy_decide(const gl_config *c, const gl_policy_snapshot *snap, gl_policy_state *state,
                        gl_decision *out, size_t max) {
    ctx x = {
        .c = c,
        .snap = snap,
        .st = state,
        .out = out,
        .max = out ? max : 0,
        .now = stamp(snap->now_usec),
        .delay = c->actions.post_action_delay_usec,
        .evict_possible = snap->can_evict && c->actions.max_evictions_per_minute > 0,
    };

    state->tick_usec = x.now;
    memcpy(state->prev_action_usec, state->last_action_usec, sizeof(state->prev_action_usec));
    state_prune(&x);
    evictions_prune(&x);
    signals_update(&x);

    fork_bomb_rule(&x);
    emergency_rule(&x);
    memory_rule(&x);
    leak_rule(&x);
    cpu_rule(&x);
    restore_rule(&x);

    sort_for_output(out, x.n);
    return x.n;
}

bool gl_policy_recheck(const gl_config *c, const gl_decision *d, uint64_t available_bytes,
                       uint64_t capacity_bytes) {
    const gl_quantity *threshold;

    if (!d->destructive)
        return true;
    switch (d->reason) {
    case GL_REASON_MEMORY_LOW:
        threshold = d->action == GL_ACTION_KILL ? &c->memory.kill_below : &c->memory.evict_below;
        break;
    case GL_REASON_EMERGENCY:
        threshold = &c->memory.evict_below;
        break;
    default:
        /* Leaks and fork bombs are the pod's own evidence, which a node reading cannot clear;
         * for CPU there is no fresh reading here to judge by. */
        return true;
    }
    return available_bytes < gl_quantity_resolve(threshold, capacity_bytes);
}

/* Undoes this tick's mark on the signal's PostActionDelay. */
static void delay_rollback(gl_policy_state *st, gl_reason r) {
    if ((unsigned)r < GL_REASON_N && st->tick_usec != 0 && st->last_action_usec[r] == st->tick_usec)
        st->last_action_usec[r] = st->prev_action_usec[r];
}

static void eviction_forget(gl_policy_state *st) {
    for (size_t i = st->n_evictions; i > 0; i--)
        if (st->evictions_usec[i - 1] == st->tick_usec) {
            memmove(&st->evictions_usec[i - 1], &st->evictions_usec[i],
                    (st->n_evictions - i) * sizeof(st->evictions_usec[0]));
            st->n_evictions--;
            return;
        }
}

void gl_policy_action_failed(gl_policy_state *state, const gl_decision *d) {
    gl_policy_pod_state *ps;

    /* Only decisions that were meant to be carried out have anything to undo. */
    if (d->skip != GL_SKIP_NONE && d->skip != GL_SKIP_DRY_RUN && d->skip != GL_SKIP_RECOVERED)
        return;
    if (!(ps = state_find(state, d->uid)))
        return;
    switch (d->action) {
    case GL_ACTION_THROTTLE_MEMORY:
        ps->memory_throttled = false;
        ps->memory_high_target_bytes = 0;
        delay_rollback(state, d->reason);
        break;
    case GL_ACTION_THROTTLE_CPU:
        ps->cpu_throttled = false;
        delay_rollback(state, d->reason);
        break;
    case GL_ACTION_FREEZE:
        ps->frozen = false;
        break;
    case GL_ACTION_EVICT:
        ps->eviction_pending = false;
        ps->eviction_started_usec = 0;
        eviction_forget(state);
        delay_rollback(state, d->reason);
        break;
    case GL_ACTION_KILL:
        ps->killed = false;
        delay_rollback(state, d->reason);
        break;
    case GL_ACTION_RESTORE:
        ps->memory_throttled = ps->memory_throttled || (ps->restored_mask & UNDID_MEMORY);
        ps->cpu_throttled = ps->cpu_throttled || (ps->restored_mask & UNDID_CPU);
        ps->frozen = ps->frozen || (ps->restored_mask & UNDID_FREEZE);
        ps->restored_mask = 0;
        break;
    case GL_ACTION_N:
        break;
    }
}

void gl_policy_pod_gone(gl_policy_state *state, const char *uid) {
    for (size_t i = 0; i < state->n_pods && i < GL_POLICY_MAX_TRACKED; i++)
        if (strcmp(state->pods[i].uid, uid) == 0) {
            state_drop(state, i);
            return;
        }
}
