/* status-json.c: the status socket's answers (status, pods, explain, actions) as JSON, built from
 * what the daemon and the guard last saw. */
#include "guardlet/status.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "guardlet/cgroup.h"
#include "guardlet/explain.h"
#include "guardlet/report.h"
#include "guardlet/units.h"
#include "guardlet/version.h"

/* How many actions `status` shows; `actions` shows the whole history. */
#define STATUS_RECENT_ACTIONS 5
/* A fork bomb stopped within this window counts as PID pressure, as for the node condition. */
#define PID_PRESSURE_WINDOW_USEC (60u * 1000000u)

static double percent(uint32_t bp) {
    return (double)bp / 100.0;
}

static json_t *str_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

static json_t *bytes_or_null(uint64_t v) {
    return v == GL_CGROUP_UNLIMITED ? json_null() : json_integer((json_int_t)v);
}

/* Seconds to the millisecond: more digits would be noise from the clocks. */
static json_t *seconds(double s) {
    return json_real(round(s * 1000.0) / 1000.0);
}

static json_t *seconds_or_null(double s) {
    return isfinite(s) ? seconds(s) : json_null();
}

static json_t *answer_new(const char *command) {
    return json_pack("{s:i, s:b, s:s}", "protocol", GL_STATUS_PROTOCOL, "ok", 1, "command",
                     command);
}

static json_t *error_new(const char *code, const char *message) {
    return json_pack("{s:i, s:b, s:{s:s, s:s}}", "protocol", GL_STATUS_PROTOCOL, "ok", 0, "error",
                     "code", code, "message", message);
}

static json_t *protect_json(gl_protect p) {
    char words[128];
    json_t *a = json_array();

    gl_explain_protect_words(p, words, sizeof(words));
    for (char *save = NULL, *w = strtok_r(words, ",", &save); w; w = strtok_r(NULL, ",", &save))
        json_array_append_new(a, json_string(w));
    return a;
}

/* One outcome, as the --once "decisions" entries plus when and how it ended. */
static json_t *outcome_json(const gl_guard_outcome *o, uint64_t now_usec, uint64_t realtime) {
    json_t *j = gl_report_decision_json(o);
    if (!j)
        return NULL;
    uint64_t ago = now_usec > o->t_usec ? now_usec - o->t_usec : 0;
    json_object_set_new(j, "seconds_ago", seconds((double)ago / 1e6));
    json_object_set_new(j, "time", seconds((double)(realtime - ago) / 1e6));
    json_object_set_new(j, "done", json_boolean(o->done));
    json_object_set_new(j, "error", o->error ? json_string(strerror(-o->error)) : json_null());
    return j;
}

/* Newest first; only those matching uid when it is given; at most max. */
static json_t *actions_json(const gl_guard *g, const char *uid, size_t max, uint64_t now,
                            uint64_t realtime) {
    json_t *a = json_array();
    const gl_guard_outcome *o;

    for (size_t i = 0; a && json_array_size(a) < max && (o = gl_guard_recent_nth(g, i)); i++)
        if (!uid || strcmp(o->d.uid, uid) == 0)
            json_array_append_new(a, outcome_json(o, now, realtime));
    return a;
}

static json_t *psi_json(const gl_node_sample *s, gl_psi_resource r) {
    if (s->psi_error[r])
        return json_null();
    return json_pack("{s:f, s:o}", "some_avg10", percent(s->psi[r].some.avg10_bp), "full_avg10",
                     s->psi[r].has_full ? json_real(percent(s->psi[r].full.avg10_bp))
                                        : json_null());
}

static json_t *api_json(const gl_status_view *v) {
    gl_kube_podwatch_stats st;

    if (!v->podwatch)
        return json_pack("{s:s, s:b}", "mode", "local", "connected", 0);
    gl_kube_podwatch_get_stats(v->podwatch, &st);
    char err[64] = "";
    if (st.last_err < 0)
        snprintf(err, sizeof(err), "%s", strerror(-st.last_err));
    else if (st.last_err > 0)
        snprintf(err, sizeof(err), "HTTP %d", st.last_err);
    return json_pack("{s:s, s:b, s:b, s:i, s:o, s:I, s:I, s:I, s:b}", "mode", "api", "connected",
                     st.synced && st.last_err == 0, "synced", st.synced, "pods",
                     (int)gl_kube_podwatch_count(v->podwatch), "last_error",
                     err[0] ? json_string(err) : json_null(), "lists", (json_int_t)st.lists,
                     "list_failures", (json_int_t)st.list_failures, "reconnects",
                     (json_int_t)st.reconnects, "can_evict", v->can_evict);
}

static json_t *status_json(const gl_status_view *v, uint64_t now, uint64_t realtime) {
    const gl_node_sample *s = v->sample;
    const gl_config *c = v->config;
    const gl_policy_snapshot *snap = gl_guard_last_snapshot(v->guard);
    json_t *j = answer_new("status");
    size_t protected_pods = 0;

    for (size_t i = 0; snap && i < snap->n_pods; i++)
        protected_pods += gl_policy_protected(c, &snap->pods[i]) != GL_PROTECT_NONE;
    json_t *node = json_pack(
        "{s:s, s:s, s:i, s:i, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:o, s:o, s:o}}", "name",
        v->node_name, "pool", v->pool, "cgroup_version", v->cgroup_version, "cpus", (int)s->cpus,
        "memory", "capacity_bytes", (json_int_t)s->capacity_bytes, "available_bytes",
        (json_int_t)s->available_bytes, "working_set_bytes", (json_int_t)s->working_set_bytes,
        "kernel_available_bytes", (json_int_t)s->meminfo.available_bytes, "throttle_below_bytes",
        (json_int_t)gl_quantity_resolve(&c->memory.throttle_below, s->capacity_bytes),
        "evict_below_bytes",
        (json_int_t)gl_quantity_resolve(&c->memory.evict_below, s->capacity_bytes),
        "kill_below_bytes",
        (json_int_t)gl_quantity_resolve(&c->memory.kill_below, s->capacity_bytes), "psi", "memory",
        psi_json(s, GL_PSI_MEMORY), "cpu", psi_json(s, GL_PSI_CPU), "io", psi_json(s, GL_PSI_IO));
    json_t *pressure =
        json_pack("{s:s, s:b, s:b, s:b}", "memory_level", gl_mem_level_name(v->pressure->mem_level),
                  "memory_psi_sustained", v->pressure->mem_psi.sustained, "cpu_psi_sustained",
                  v->pressure->cpu_psi.sustained, "pid_pressure",
                  gl_guard_fork_bomb_recent(v->guard, now, PID_PRESSURE_WINDOW_USEC));
    uint64_t ago = v->last_tick_usec && now > v->last_tick_usec ? now - v->last_tick_usec : 0;
    json_t *last_tick = v->last_tick_usec
                            ? json_pack("{s:o, s:o}", "seconds_ago", seconds((double)ago / 1e6),
                                        "time", seconds((double)(realtime - ago) / 1e6))
                            : json_null();
    json_object_set_new(j, "version", json_string(GL_VERSION));
    json_object_set_new(j, "mode",
                        json_string(c->guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforce"));
    json_object_set_new(j, "node", node);
    json_object_set_new(j, "api", api_json(v));
    json_object_set_new(j, "uptime_seconds", seconds((double)(now - v->start_usec) / 1e6));
    json_object_set_new(j, "ticks", json_integer((json_int_t)v->ticks));
    json_object_set_new(j, "interval_seconds", json_real((double)c->guard.interval_usec / 1e6));
    json_object_set_new(j, "last_tick", last_tick);
    json_object_set_new(j, "pressure", pressure);
    json_object_set_new(j, "pods", json_integer(snap ? (json_int_t)snap->n_pods : 0));
    json_object_set_new(j, "protected_pods", json_integer((json_int_t)protected_pods));
    json_object_set_new(j, "recent_actions",
                        actions_json(v->guard, NULL, STATUS_RECENT_ACTIONS, now, realtime));
    return j;
}

static json_t *in_force_json(const gl_policy_state *st, const char *uid) {
    for (size_t i = 0; i < st->n_pods && i < GL_POLICY_MAX_TRACKED; i++) {
        const gl_policy_pod_state *ps = &st->pods[i];
        if (strcmp(ps->uid, uid) == 0)
            return json_pack("{s:b, s:b, s:b, s:b, s:b}", "memory_throttled", ps->memory_throttled,
                             "cpu_throttled", ps->cpu_throttled, "frozen", ps->frozen,
                             "eviction_pending", ps->eviction_pending, "killed", ps->killed);
    }
    return json_pack("{s:b, s:b, s:b, s:b, s:b}", "memory_throttled", 0, "cpu_throttled", 0,
                     "frozen", 0, "eviction_pending", 0, "killed", 0);
}

static json_t *pod_json(const gl_config *c, const gl_policy_state *st, const gl_policy_pod *p,
                        size_t rank) {
    gl_protect why = gl_policy_protected(c, p);
    json_t *j = json_pack(
        "{s:i, s:s, s:o, s:o, s:s, s:o, s:b, s:o,"
        " s:{s:I, s:o, s:o, s:o, s:b}, s:{s:f}, s:I, s:o}",
        "rank", (int)rank, "uid", p->uid, "namespace", str_or_null(p->ns), "name",
        str_or_null(p->name), "qos", gl_qos_name(p->qos), "cgroup", str_or_null(p->cgroup),
        "protected", why != GL_PROTECT_NONE, "protected_by", protect_json(why), "memory",
        "working_set_bytes", (json_int_t)p->working_set_bytes, "limit_bytes",
        bytes_or_null(p->memory_limit_bytes), "high_bytes", bytes_or_null(p->memory_high_bytes),
        "growth_bytes_per_sec", p->growth_span_usec ? json_real(p->growth_per_sec) : json_null(),
        "growth_confirmed", p->growth_robust, "cpu", "usage_cores",
        (double)p->cpu_usage_millicores / 1000.0, "pids", (json_int_t)p->pids_current, "pids_max",
        bytes_or_null(p->pids_max));
    if (j) {
        if (p->has_metadata)
            json_object_set_new(j, "priority", json_integer((json_int_t)p->priority));
        json_object_set_new(j, "in_force", in_force_json(st, p->uid));
    }
    return j;
}

static json_t *pods_json(const gl_status_view *v) {
    const gl_policy_snapshot *snap = gl_guard_last_snapshot(v->guard);
    const gl_policy_state *st = gl_guard_policy_state(v->guard);
    size_t order_buf[1];
    size_t *order = snap->n_pods ? calloc(snap->n_pods, sizeof(*order)) : order_buf;
    if (!order)
        return NULL;
    gl_policy_rank(v->config, snap, order);
    json_t *pods = json_array();
    for (size_t i = 0; pods && i < snap->n_pods; i++)
        json_array_append_new(pods, pod_json(v->config, st, &snap->pods[order[i]], i + 1));
    if (order != order_buf)
        free(order);
    json_t *j = answer_new("pods");
    json_object_set_new(j, "order", json_string("memory"));
    json_object_set_new(j, "pods", pods);
    return j;
}

static json_t *signal_json(const gl_explain_signal *s) {
    return json_pack("{s:s, s:b, s:b, s:o, s:s}", "signal", gl_explain_signal_name(s->kind),
                     "active", s->active, "sustained", s->sustained, "action",
                     s->has_action ? json_string(gl_action_name(s->action)) : json_null(), "detail",
                     s->detail);
}

static json_t *explain_json(const gl_status_view *v, const char *query, uint64_t now,
                            uint64_t realtime) {
    const gl_policy_snapshot *snap = gl_guard_last_snapshot(v->guard);
    const gl_policy_state *st = gl_guard_policy_state(v->guard);
    const gl_config *c = v->config;
    gl_explain e;
    size_t idx;
    char msg[GL_STATUS_MAX_REQUEST + 32];

    if (gl_explain_find(snap, query, &idx) < 0) {
        snprintf(msg, sizeof(msg), "no pod %s on this node", query);
        return error_new("no-pod", msg);
    }
    if (gl_explain_pod(c, snap, st, idx, &e) < 0)
        return NULL;
    const gl_policy_pod *p = &snap->pods[idx];
    json_t *signals = json_array();
    for (int k = 0; signals && k < GL_EXPLAIN_SIG_N; k++)
        json_array_append_new(signals, signal_json(&e.signals[k]));
    json_t *first = e.first
                        ? json_pack("{s:s, s:o, s:o}", "uid", e.first->uid, "namespace",
                                    str_or_null(e.first->ns), "name", str_or_null(e.first->name))
                        : json_null();
    json_t *j = answer_new("explain");
    json_object_set_new(j, "pod", pod_json(c, st, p, e.rank));
    json_object_set_new(j, "verdict", json_string(gl_explain_verdict_name(e.verdict)));
    json_object_set_new(j, "summary", json_string(e.summary));
    json_object_set_new(j, "action",
                        e.has_action ? json_string(gl_action_name(e.action)) : json_null());
    json_object_set_new(j, "reason",
                        e.has_action ? json_string(gl_reason_name(e.reason)) : json_null());
    json_object_set_new(j, "protected", json_boolean(e.protected_by != GL_PROTECT_NONE));
    json_object_set_new(j, "protected_by", protect_json(e.protected_by));
    json_object_set_new(
        j, "rank",
        json_pack("{s:i, s:i, s:o, s:i, s:o, s:b, s:b, s:o, s:I, s:I, s:o, s:o}", "position",
                  (int)e.rank, "of", (int)e.n_pods, "candidate_position",
                  e.candidate_rank ? json_integer((json_int_t)e.candidate_rank) : json_null(),
                  "candidates", (int)e.n_candidates, "first", first, "runaway", e.runaway,
                  "exceeds_request", e.exceeds_request, "priority",
                  e.priority_known ? json_integer((json_int_t)e.priority) : json_null(),
                  "memory_excess_bytes", (json_int_t)e.memory_excess_bytes, "working_set_bytes",
                  (json_int_t)p->working_set_bytes, "seconds_to_limit",
                  seconds_or_null(e.seconds_to_limit), "seconds_to_node_exhaustion",
                  seconds_or_null(e.seconds_to_node)));
    json_object_set_new(j, "cpu",
                        json_pack("{s:b, s:i, s:o}", "offender", e.cpu_offender,
                                  "excess_millicores", (int)e.cpu_excess_millicores, "rank",
                                  e.cpu_rank ? json_integer((json_int_t)e.cpu_rank) : json_null()));
    json_object_set_new(j, "pressure",
                        json_pack("{s:s, s:I, s:I, s:I, s:I, s:o}", "memory_level",
                                  gl_mem_level_name(e.level), "available_bytes",
                                  (json_int_t)snap->available_bytes, "throttle_below_bytes",
                                  (json_int_t)e.throttle_below_bytes, "evict_below_bytes",
                                  (json_int_t)e.evict_below_bytes, "kill_below_bytes",
                                  (json_int_t)e.kill_below_bytes, "signals", signals));
    json_object_set_new(j, "hold",
                        json_pack("{s:f, s:i, s:i, s:b, s:b}", "post_action_delay_left_seconds",
                                  (double)e.memory_delay_left_usec / 1e6, "evictions_last_minute",
                                  (int)e.evictions_last_minute, "max_evictions_per_minute",
                                  (int)c->actions.max_evictions_per_minute, "rate_limited",
                                  e.rate_limited, "eviction_backoff", e.eviction_backoff));
    json_object_set_new(j, "recent_actions",
                        actions_json(v->guard, p->uid, STATUS_RECENT_ACTIONS, now, realtime));
    return j;
}

json_t *gl_status_answer(const gl_status_view *v, const char *request, uint64_t now_usec,
                         uint64_t realtime_usec) {
    char cmd[16] = "", arg[GL_STATUS_MAX_REQUEST] = "";
    const char *sp;

    while (*request == ' ')
        request++;
    sp = strchr(request, ' ');
    size_t n = sp ? (size_t)(sp - request) : strlen(request);
    if (n >= sizeof(cmd))
        return error_new("bad-request", "unknown command");
    memcpy(cmd, request, n);
    if (sp) {
        while (*sp == ' ')
            sp++;
        snprintf(arg, sizeof(arg), "%s", sp);
        for (size_t i = strlen(arg); i > 0 && arg[i - 1] == ' '; i--)
            arg[i - 1] = '\0';
    }
    bool explain = strcmp(cmd, "explain") == 0;
    if (strcmp(cmd, "status") != 0 && strcmp(cmd, "pods") != 0 && !explain &&
        strcmp(cmd, "actions") != 0)
        return error_new("bad-request", "unknown command (expected status, pods, explain or "
                                        "actions)");
    if (explain != (arg[0] != '\0') || strchr(arg, ' '))
        return error_new("bad-request", explain ? "explain takes one NAMESPACE/POD or pod UID"
                                                : "this command takes no argument");
    if (strcmp(cmd, "actions") == 0) {
        json_t *j = answer_new("actions");
        json_object_set_new(
            j, "actions", actions_json(v->guard, NULL, GL_GUARD_HISTORY, now_usec, realtime_usec));
        return j;
    }
    if (!v->sample || !gl_guard_last_snapshot(v->guard))
        return error_new("not-ready", "guardlet has not completed its first tick yet");
    if (strcmp(cmd, "status") == 0)
        return status_json(v, now_usec, realtime_usec);
    if (strcmp(cmd, "pods") == 0)
        return pods_json(v);
    return explain_json(v, arg, now_usec, realtime_usec);
}
