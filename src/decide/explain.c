/* explain.c: why one pod would or would not be chosen now, from the snapshot and state the policy
 * last decided on. Mirrors the policy's rules in words; it never decides anything itself. */
#include "guardlet/explain.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/cgroup.h"
#include "guardlet/units.h"

#include "policy-internal.h"

/* Evictions counted against MaxEvictionsPerMinute: the policy's window. */
#define EVICTION_WINDOW_USEC (60 * GL_USEC_PER_SEC)

const char *gl_explain_verdict_name(gl_explain_verdict v) {
    static const char *const names[GL_EXPLAIN_VERDICT_N] = {
        [GL_EXPLAIN_PROTECTED] = "protected", [GL_EXPLAIN_DYING] = "dying",
        [GL_EXPLAIN_CHOSEN] = "chosen",       [GL_EXPLAIN_HELD] = "held",
        [GL_EXPLAIN_NOT_FIRST] = "not-first", [GL_EXPLAIN_NO_PRESSURE] = "no-pressure",
    };
    return (unsigned)v < GL_EXPLAIN_VERDICT_N ? names[v] : "unknown";
}

const char *gl_explain_signal_name(gl_explain_signal_kind k) {
    static const char *const names[GL_EXPLAIN_SIG_N] = {
        [GL_EXPLAIN_SIG_MEMORY_LOW] = "memory-low",
        [GL_EXPLAIN_SIG_MEMORY_PRESSURE] = "memory-pressure",
        [GL_EXPLAIN_SIG_CPU_PRESSURE] = "cpu-pressure",
        [GL_EXPLAIN_SIG_LEAK] = "leak",
        [GL_EXPLAIN_SIG_FORK_BOMB] = "fork-bomb",
    };
    return (unsigned)k < GL_EXPLAIN_SIG_N ? names[k] : "unknown";
}

void gl_explain_protect_words(gl_protect p, char *buf, size_t len) {
    size_t used = 0;
    const char *w;

    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; p != GL_PROTECT_NONE && (w = gl_protect_word(p, i)); i++) {
        int r = snprintf(buf + used, len - used, "%s%s", used ? "," : "", w);
        if (r < 0 || (size_t)r >= len - used)
            return;
        used += (size_t)r;
    }
}

int gl_explain_find(const gl_policy_snapshot *snap, const char *query, size_t *index) {
    const char *slash = strchr(query, '/');

    for (size_t i = 0; i < snap->n_pods; i++) {
        const gl_policy_pod *p = &snap->pods[i];
        bool hit;

        if (slash)
            hit = p->ns && p->name && strlen(p->ns) == (size_t)(slash - query) &&
                  strncmp(p->ns, query, (size_t)(slash - query)) == 0 &&
                  strcmp(p->name, slash + 1) == 0;
        else
            hit = p->uid && strcmp(p->uid, query) == 0;
        if (hit) {
            *index = i;
            return 0;
        }
    }
    return -ENOENT;
}

static const gl_policy_pod_state *state_find(const gl_policy_state *st, const char *uid) {
    for (size_t i = 0; i < st->n_pods && i < GL_POLICY_MAX_TRACKED; i++)
        if (strcmp(st->pods[i].uid, uid) == 0)
            return &st->pods[i];
    return NULL;
}

static bool dying(const gl_policy_pod_state *ps) {
    return ps && (ps->killed || ps->eviction_pending);
}

/* The policy's own notion of a memory candidate: unprotected, holding memory, not dying. */
static bool memory_candidate(const gl_config *c, const gl_policy_state *st,
                             const gl_policy_pod *p) {
    return gl_policy_protected(c, p) == GL_PROTECT_NONE && p->working_set_bytes > 0 &&
           !dying(state_find(st, p->uid));
}

static bool within(uint64_t t, uint64_t now, uint64_t window) {
    return t != 0 && (now < t || now - t < window);
}

__attribute__((format(printf, 2, 3))) static void put(char *buf, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(((gl_explain_signal *)0)->detail), fmt, ap);
    va_end(ap);
}

/* Appends to the summary (truncated at its size). */
__attribute__((format(printf, 2, 3))) static void say(gl_explain *e, const char *fmt, ...) {
    size_t used = strlen(e->summary);
    va_list ap;

    if (used + 1 >= sizeof(e->summary))
        return;
    va_start(ap, fmt);
    vsnprintf(e->summary + used, sizeof(e->summary) - used, fmt, ap);
    va_end(ap);
}

static void pct(uint32_t bp, char *buf, size_t len) {
    snprintf(buf, len, "%u.%02u%%", bp / 100, bp % 100);
}

/* The node memory ladder, as memory_rule() in policy.c climbs it. */
static void memory_signals(const gl_config *c, const gl_policy_snapshot *snap,
                           const gl_policy_state *st, gl_explain *e) {
    gl_explain_signal *low = &e->signals[GL_EXPLAIN_SIG_MEMORY_LOW];
    gl_explain_signal *psi = &e->signals[GL_EXPLAIN_SIG_MEMORY_PRESSURE];
    char avail[32], thr[32], cur[16], lim[16];
    bool evict_possible = snap->can_evict && c->actions.max_evictions_per_minute > 0;

    gl_format_bytes(snap->available_bytes, avail, sizeof(avail));
    low->active = e->level != GL_MEM_LEVEL_OK;
    switch (e->level) {
    case GL_MEM_LEVEL_KILL:
        gl_format_bytes(e->kill_below_bytes, thr, sizeof(thr));
        low->has_action = true;
        low->action = c->actions.local_kill ? GL_ACTION_KILL
                      : evict_possible      ? GL_ACTION_EVICT
                                            : GL_ACTION_THROTTLE_MEMORY;
        put(low->detail, "memory.available %s is below KillBelow %s", avail, thr);
        break;
    case GL_MEM_LEVEL_EVICT:
        gl_format_bytes(e->evict_below_bytes, thr, sizeof(thr));
        low->has_action = evict_possible || c->actions.throttle;
        low->action = evict_possible ? GL_ACTION_EVICT : GL_ACTION_THROTTLE_MEMORY;
        put(low->detail, "memory.available %s is below EvictBelow %s%s", avail, thr,
            evict_possible ? "" : " (no evictions here: the throttle goes on)");
        break;
    case GL_MEM_LEVEL_THROTTLE:
        gl_format_bytes(e->throttle_below_bytes, thr, sizeof(thr));
        low->has_action = c->actions.throttle;
        low->action = GL_ACTION_THROTTLE_MEMORY;
        put(low->detail, "memory.available %s is below ThrottleBelow %s", avail, thr);
        break;
    default:
        gl_format_bytes(e->throttle_below_bytes, thr, sizeof(thr));
        low->has_action = false;
        low->action = GL_ACTION_THROTTLE_MEMORY;
        put(low->detail, "memory.available %s is above ThrottleBelow %s", avail, thr);
        break;
    }

    pct(snap->memory_psi_some_avg10_bp, cur, sizeof(cur));
    pct(c->memory.pressure_limit_bp, lim, sizeof(lim));
    psi->active =
        snap->memory_psi_valid && snap->memory_psi_some_avg10_bp > c->memory.pressure_limit_bp;
    psi->sustained = psi->active && st->memory_psi_since_usec &&
                     snap->now_usec - st->memory_psi_since_usec >= c->memory.pressure_duration_usec;
    /* Sustained PSI counts like ThrottleBelow; a lower level already says more. */
    psi->has_action = psi->sustained && c->actions.throttle;
    psi->action = GL_ACTION_THROTTLE_MEMORY;
    if (!snap->memory_psi_valid)
        put(psi->detail, "memory PSI is not readable");
    else
        put(psi->detail, "memory PSI some avg10 %s %s PressureLimit %s%s", cur,
            psi->active ? "is over" : "is within", lim,
            psi->active ? (psi->sustained ? ", sustained for PressureDuration"
                                          : ", not yet for PressureDuration")
                        : "");
}

static void cpu_signal(const gl_config *c, const gl_policy_snapshot *snap,
                       const gl_policy_state *st, const gl_policy_pod *p, gl_explain *e) {
    gl_explain_signal *s = &e->signals[GL_EXPLAIN_SIG_CPU_PRESSURE];
    char cur[16], lim[16];

    pct(snap->cpu_psi_some_avg10_bp, cur, sizeof(cur));
    pct(c->cpu.pressure_limit_bp, lim, sizeof(lim));
    s->active = snap->cpu_psi_valid && snap->cpu_psi_some_avg10_bp > c->cpu.pressure_limit_bp;
    s->sustained = s->active && st->cpu_psi_since_usec &&
                   snap->now_usec - st->cpu_psi_since_usec >= c->cpu.pressure_duration_usec;
    s->has_action = s->sustained && e->cpu_offender && (c->actions.throttle || c->cpu.evict);
    s->action = c->actions.throttle ? GL_ACTION_THROTTLE_CPU : GL_ACTION_EVICT;
    if (!snap->cpu_psi_valid)
        put(s->detail, "CPU PSI is not readable");
    else
        put(s->detail, "CPU PSI some avg10 %s %s PressureLimit %s; the pod uses %u millicores %s",
            cur, s->active ? "is over" : "is within", lim, p->cpu_usage_millicores,
            e->cpu_offender ? "above its request" : "within its request");
}

/* The pod's own runaway tests (rank.c), whatever the node's memory. */
static void runaway_signals(const gl_config *c, const gl_policy_snapshot *snap,
                            const gl_policy_pod *p, gl_explain *e) {
    gl_explain_signal *leak = &e->signals[GL_EXPLAIN_SIG_LEAK];
    gl_explain_signal *bomb = &e->signals[GL_EXPLAIN_SIG_FORK_BOMB];
    bool evict_possible = snap->can_evict && c->actions.max_evictions_per_minute > 0;
    char rate[32], min[32];

    leak->active = gl_policy_is_leak(c, snap, p);

    leak->has_action = leak->active && (c->actions.throttle || evict_possible);
    leak->action = c->actions.throttle ? GL_ACTION_THROTTLE_MEMORY : GL_ACTION_EVICT;
    gl_format_bytes(p->growth_per_sec > 0 ? (uint64_t)p->growth_per_sec : 0, rate, sizeof(rate));
    gl_format_bytes(c->runaway.min_growth_rate_bytes, min, sizeof(min));
    if (!(p->growth_per_sec > 0))
        put(leak->detail, "not growing");
    else
        put(leak->detail,
            "growing %s/s (%s estimate, MinGrowthRate %s/s, %u%% of steps rising over %" PRIu64
            "s)%s",
            rate, p->growth_robust ? "confirmed" : "unconfirmed", min, p->growth_rising_bp / 100,
            p->growth_span_usec / GL_USEC_PER_SEC,
            leak->active ? ": a leak that hurts within LeakHorizon" : ": not a leak");

    uint64_t ceiling = gl_policy_pids_ceiling(snap, p);
    bomb->active = gl_policy_is_fork_bomb(c, snap, p);
    bomb->has_action = bomb->active && (evict_possible || c->actions.local_kill);
    bomb->action = evict_possible ? GL_ACTION_EVICT : GL_ACTION_KILL;
    if (ceiling == 0)
        put(bomb->detail, "%" PRIu64 " pids, no ceiling known", p->pids_current);
    else
        put(bomb->detail, "%" PRIu64 " pids of a ceiling of %" PRIu64 " (PidsAbove %u%%)",
            p->pids_current, ceiling, c->runaway.pids_above_bp / 100);
}

/* The figures the memory order compares, for the summary. */
static void say_order(gl_explain *e, const gl_policy_pod *p) {
    char ws[32], ex[32];

    gl_format_bytes(p->working_set_bytes, ws, sizeof(ws));
    gl_format_bytes(e->memory_excess_bytes, ex, sizeof(ex));
    say(e, " (this pod: %s%s, working set %s, %s above its request", e->runaway ? "runaway, " : "",
        e->exceeds_request ? "over its request" : "within its request", ws, ex);
    if (e->priority_known)
        say(e, ", priority %" PRId64, e->priority);
    say(e, ")");
}

static const char *pod_label(const gl_policy_pod *p, char *buf, size_t len) {
    if (p->ns && p->name)
        snprintf(buf, len, "%s/%s", p->ns, p->name);
    else
        snprintf(buf, len, "%s", p->uid ? p->uid : "?");
    return buf;
}

/* The active signal that decides the verdict, most urgent first (the policy's rule order:
 * fork bombs, node memory, leaks, CPU). Returns GL_EXPLAIN_SIG_N when none calls for action. */
static gl_explain_signal_kind deciding_signal(const gl_explain *e) {
    static const gl_explain_signal_kind order[] = {
        GL_EXPLAIN_SIG_FORK_BOMB, GL_EXPLAIN_SIG_MEMORY_LOW, GL_EXPLAIN_SIG_MEMORY_PRESSURE,
        GL_EXPLAIN_SIG_LEAK, GL_EXPLAIN_SIG_CPU_PRESSURE};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (e->signals[order[i]].has_action)
            return order[i];
    return GL_EXPLAIN_SIG_N;
}

static gl_reason reason_of(gl_explain_signal_kind k) {
    switch (k) {
    case GL_EXPLAIN_SIG_MEMORY_LOW:
        return GL_REASON_MEMORY_LOW;
    case GL_EXPLAIN_SIG_MEMORY_PRESSURE:
        return GL_REASON_MEMORY_PRESSURE;
    case GL_EXPLAIN_SIG_CPU_PRESSURE:
        return GL_REASON_CPU_PRESSURE;
    case GL_EXPLAIN_SIG_LEAK:
        return GL_REASON_LEAK;
    default:
        return GL_REASON_FORK_BOMB;
    }
}

/* Decides the verdict from the figures gathered; fills summary. */
static void verdict(const gl_config *c, const gl_policy_snapshot *snap, const gl_policy_pod *p,
                    gl_explain *e) {
    char who[600], words[96], left[32];
    const gl_policy_pod_state *ps = e->has_state ? &e->state : NULL;

    if (e->protected_by != GL_PROTECT_NONE) {
        gl_explain_protect_words(e->protected_by, words, sizeof(words));
        e->verdict = GL_EXPLAIN_PROTECTED;
        say(e,
            "Protected (%s): guardlet never throttles, evicts or kills it; under pressure it "
            "is reported and passed over.",
            words);
        return;
    }
    if (dying(ps)) {
        e->verdict = GL_EXPLAIN_DYING;
        say(e, "Already %s: guardlet does not act on it again.",
            ps->killed ? "killed" : "being evicted");
        return;
    }
    gl_explain_signal_kind k = deciding_signal(e);
    if (k == GL_EXPLAIN_SIG_N) {
        e->verdict = GL_EXPLAIN_NO_PRESSURE;
        say(e, "No pressure calls for an action now.");
        if (e->candidate_rank)
            say(e, " Under memory pressure it would be candidate %zu of %zu", e->candidate_rank,
                e->n_candidates);
        say_order(e, p);
        say(e, ".");
        return;
    }
    const gl_explain_signal *s = &e->signals[k];
    e->has_action = true;
    e->action = s->action;
    e->reason = reason_of(k);
    bool first = true;
    if (k == GL_EXPLAIN_SIG_MEMORY_LOW || k == GL_EXPLAIN_SIG_MEMORY_PRESSURE)
        first = e->candidate_rank == 1;
    else if (k == GL_EXPLAIN_SIG_CPU_PRESSURE)
        first = e->cpu_rank == 1;
    if (!first) {
        e->verdict = GL_EXPLAIN_NOT_FIRST;
        e->has_action = false;
        if (k == GL_EXPLAIN_SIG_CPU_PRESSURE)
            say(e, "CPU pressure: it is CPU offender %zu; a larger offender goes first.",
                e->cpu_rank);
        else if (e->first) {
            char fws[32];
            gl_format_bytes(e->first->working_set_bytes, fws, sizeof(fws));
            say(e, "%s: it ranks %zu of %zu candidates; %s goes first (working set %s)",
                gl_explain_signal_name(k), e->candidate_rank, e->n_candidates,
                pod_label(e->first, who, sizeof(who)), fws);
        } else
            say(e, "%s: it is not a candidate", gl_explain_signal_name(k));
        if (e->candidate_rank)
            say_order(e, p);
        say(e, ".");
        return;
    }
    /* It would be chosen; say what could hold the action back. */
    e->verdict = GL_EXPLAIN_HELD;
    bool memory = k == GL_EXPLAIN_SIG_MEMORY_LOW || k == GL_EXPLAIN_SIG_MEMORY_PRESSURE;
    if (memory && e->memory_delay_left_usec) {
        gl_format_duration(e->memory_delay_left_usec / GL_USEC_PER_SEC * GL_USEC_PER_SEC, left,
                           sizeof(left));
        say(e,
            "It ranks first for %s, but the last node memory action was within "
            "PostActionDelay (%s left)%s.",
            gl_explain_signal_name(k), left,
            ps && ps->memory_throttled ? "; it is already throttled (memory.high)" : "");
    } else if (s->action == GL_ACTION_EVICT && e->rate_limited) {
        say(e, "It would be evicted for %s, but MaxEvictionsPerMinute (%u) is reached.",
            gl_explain_signal_name(k), c->actions.max_evictions_per_minute);
    } else if (s->action == GL_ACTION_EVICT && e->eviction_backoff) {
        say(e,
            "It would be evicted for %s, but the Eviction API cannot take it now (a "
            "disruption budget, an error backing off, or no name known).",
            gl_explain_signal_name(k));
    } else if (s->action == GL_ACTION_THROTTLE_MEMORY && ps && ps->memory_throttled) {
        say(e,
            "It ranks first for %s and is already throttled (memory.high); a harsher level "
            "(EvictBelow, KillBelow) acts next.",
            gl_explain_signal_name(k));
    } else if (s->action == GL_ACTION_THROTTLE_CPU && ps && ps->cpu_throttled) {
        say(e, "It ranks first for cpu-pressure and is already throttled (cpu.max).");
    } else {
        e->verdict = GL_EXPLAIN_CHOSEN;
        say(e, "Chosen: %s for %s (%s)%s.", gl_action_name(s->action), gl_explain_signal_name(k),
            s->detail, c->guard.mode == GL_MODE_DRY_RUN ? "; dry-run: reported, not done" : "");
    }
    (void)snap;
}

/* CPU order among offenders (gl_policy_cpu_cmp), 1-based, 0 when p is not one. */
static size_t cpu_rank_of(const gl_policy_snapshot *snap, const gl_policy_pod *p) {
    size_t rank = 1;

    if (!gl_policy_cpu_offender(p))
        return 0;
    for (size_t i = 0; i < snap->n_pods; i++) {
        const gl_policy_pod *q = &snap->pods[i];
        if (q != p && gl_policy_cpu_offender(q) && gl_policy_cpu_cmp(q, p) < 0)
            rank++;
    }
    return rank;
}

int gl_explain_pod(const gl_config *c, const gl_policy_snapshot *snap, const gl_policy_state *st,
                   size_t index, gl_explain *out) {
    if (index >= snap->n_pods)
        return -EINVAL;
    size_t *order = calloc(snap->n_pods, sizeof(*order));
    if (!order)
        return -ENOMEM;
    const gl_policy_pod *p = &snap->pods[index];
    gl_explain *e = out;

    memset(e, 0, sizeof(*e));
    e->index = index;
    e->n_pods = snap->n_pods;
    e->protected_by = gl_policy_protected(c, p);
    gl_policy_rank(c, snap, order);
    for (size_t i = 0; i < snap->n_pods; i++) {
        const gl_policy_pod *q = &snap->pods[order[i]];
        bool cand = memory_candidate(c, st, q);
        if (cand) {
            e->n_candidates++;
            if (!e->first)
                e->first = q;
        }
        if (order[i] == index) {
            e->rank = i + 1;
            e->candidate_rank = cand ? e->n_candidates : 0;
        }
    }
    free(order);

    e->runaway = gl_policy_is_leak(c, snap, p) || gl_policy_is_fork_bomb(c, snap, p);
    e->memory_excess_bytes = gl_policy_memory_excess(p);
    e->exceeds_request = e->memory_excess_bytes > 0;
    e->priority_known = p->has_metadata;
    e->priority = p->has_metadata ? p->priority : 0;
    e->seconds_to_limit = gl_policy_seconds_to_limit(p);
    e->seconds_to_node = gl_policy_seconds_to_node(snap, p);
    e->cpu_offender = gl_policy_cpu_offender(p);
    e->cpu_excess_millicores = gl_policy_cpu_excess(p);
    e->cpu_rank = cpu_rank_of(snap, p);

    e->level = gl_mem_level_for(c, snap->capacity_bytes, snap->available_bytes);
    e->throttle_below_bytes = gl_quantity_resolve(&c->memory.throttle_below, snap->capacity_bytes);
    e->evict_below_bytes = gl_quantity_resolve(&c->memory.evict_below, snap->capacity_bytes);
    e->kill_below_bytes = gl_quantity_resolve(&c->memory.kill_below, snap->capacity_bytes);
    for (int k = 0; k < GL_EXPLAIN_SIG_N; k++)
        e->signals[k].kind = (gl_explain_signal_kind)k;
    memory_signals(c, snap, st, e);
    cpu_signal(c, snap, st, p, e);
    runaway_signals(c, snap, p, e);

    const gl_policy_pod_state *ps = p->uid ? state_find(st, p->uid) : NULL;
    if (ps) {
        e->has_state = true;
        e->state = *ps;
    }
    uint64_t now = snap->now_usec ? snap->now_usec : 1;
    uint64_t delay = c->actions.post_action_delay_usec;
    gl_mem_level eff_level =
        e->level == GL_MEM_LEVEL_OK && e->signals[GL_EXPLAIN_SIG_MEMORY_PRESSURE].sustained
            ? GL_MEM_LEVEL_THROTTLE
            : e->level;
    static const gl_reason memory_reasons[] = {GL_REASON_MEMORY_LOW, GL_REASON_MEMORY_PRESSURE,
                                               GL_REASON_EMERGENCY};
    for (size_t i = 0; i < sizeof(memory_reasons) / sizeof(memory_reasons[0]); i++) {
        uint64_t t = st->last_action_usec[memory_reasons[i]];
        /* Escalation is never delayed, so only a level no more severe than the last action's
         * is held back. */
        if (within(t, now, delay) && (uint8_t)eff_level <= st->memory_action_level &&
            t + delay - now > e->memory_delay_left_usec)
            e->memory_delay_left_usec = t + delay - now;
    }
    for (size_t i = 0; i < st->n_evictions && i < GL_POLICY_MAX_EVICTIONS; i++)
        if (within(st->evictions_usec[i], now, EVICTION_WINDOW_USEC))
            e->evictions_last_minute++;
    e->rate_limited = e->evictions_last_minute >= c->actions.max_evictions_per_minute;
    /* Local mode never evicts, so a back-off there says nothing. */
    e->eviction_backoff = snap->can_evict && p->eviction_backoff;
    verdict(c, snap, p, e);
    return 0;
}
