/* report.c: turns a node sample and pressure state into the contract's JSON, text and status lines.
 */
#include "guardlet/report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/units.h"

/* Basis points to the kernel's percentage ("3.70" -> 3.7); exact for two decimals. */
static double bp_to_percent(uint32_t bp) {
    return (double)bp / 100.0;
}

static json_t *psi_json(const gl_node_sample *s, gl_psi_resource r) {
    if (s->psi_error[r] != 0)
        return json_null();
    const gl_psi *p = &s->psi[r];
    return json_pack("{s:f, s:o}", "some_avg10", bp_to_percent(p->some.avg10_bp), "full_avg10",
                     p->has_full ? json_real(bp_to_percent(p->full.avg10_bp)) : json_null());
}

/* A byte count as JSON, null for "no limit". */
static json_t *limit_json(uint64_t v) {
    return v == GL_CGROUP_UNLIMITED ? json_null() : json_integer((json_int_t)v);
}

/* Seconds until a projection is reached, null when never. */
static json_t *eta_json(uint64_t usec) {
    return usec == UINT64_MAX ? json_null() : json_real((double)usec / 1e6);
}

json_t *gl_report_pod_json(const gl_pod *pod, uint64_t node_available_bytes) {
    const gl_pod_sample *s = &pod->cur;
    bool growing = pod->growth.n_points > 0;
    double slope = growing ? pod->growth.slope_per_sec : 0.0;
    uint64_t to_limit =
        s->memory_max_bytes == GL_CGROUP_UNLIMITED
            ? UINT64_MAX
            : gl_growth_time_to(s->memory_working_set_bytes, s->memory_max_bytes, slope);
    /* The node runs out when the pod's growth has eaten what is still available. */
    uint64_t to_node = gl_growth_time_to(0, node_available_bytes, slope);

    json_t *containers = json_array();
    if (!containers)
        return NULL;
    for (size_t i = 0; i < pod->n_containers; i++)
        json_array_append_new(containers,
                              json_pack("{s:s, s:s}", "id", pod->containers[i].id, "runtime",
                                        gl_runtime_name(pod->containers[i].runtime)));
    json_t *psi = s->has_psi
                      ? json_pack("{s:f, s:f, s:f}", "memory_some_avg10",
                                  bp_to_percent(s->psi[GL_PSI_MEMORY].some.avg10_bp),
                                  "cpu_some_avg10", bp_to_percent(s->psi[GL_PSI_CPU].some.avg10_bp),
                                  "io_some_avg10", bp_to_percent(s->psi[GL_PSI_IO].some.avg10_bp))
                      : json_null();
    return json_pack(
        "{s:s, s:n, s:n, s:s, s:s, s:b,"
        " s:{s:I, s:o, s:o, s:I, s:I, s:o, s:s, s:o, s:o, s:I, s:I},"
        " s:{s:f, s:f, s:I},"
        " s:I, s:o, s:o, s:o}",
        "uid", pod->uid, "namespace", "name", "qos", gl_qos_name(pod->qos), "cgroup", pod->cgroup,
        "protected", false, /* who is protected is the policy's call (namespace, priority) */
        "memory", "working_set_bytes", (json_int_t)s->memory_working_set_bytes, "limit_bytes",
        limit_json(s->memory_max_bytes), "high_bytes", limit_json(s->memory_high_bytes),
        "usage_bytes", (json_int_t)s->memory_current_bytes, "inactive_file_bytes",
        (json_int_t)s->memory_inactive_file_bytes, "growth_bytes_per_sec",
        growing ? json_real(slope) : json_null(), "growth_estimator",
        !growing             ? "none"
        : pod->growth_robust ? "theil-sen"
                             : "least-squares",
        "seconds_to_limit", growing ? eta_json(to_limit) : json_null(),
        "seconds_to_node_exhaustion", growing && slope > 0 ? eta_json(to_node) : json_null(),
        "oom_events", (json_int_t)s->oom_events, "oom_kill_events", (json_int_t)s->oom_kill_events,
        "cpu", "usage_cores", (double)pod->cpu_usage_millicores / 1000.0, "throttled_ratio",
        (double)pod->cpu_throttled_bp / 10000.0, "usage_usec", (json_int_t)s->cpu_usage_usec,
        "pids", (json_int_t)s->pids_current, "pids_max", limit_json(s->pids_max), "psi", psi,
        "containers", containers);
}

static json_t *string_or_null(const char *s) {
    return s ? json_string(s) : json_null();
}

json_t *gl_report_decision_json(const gl_guard_outcome *o) {
    const gl_decision *d = &o->d;
    return json_pack("{s:s, s:s, s:o, s:o, s:s, s:s, s:o, s:b, s:s}", "action",
                     gl_action_name(d->action), "uid", d->uid, "namespace", string_or_null(d->ns),
                     "name", string_or_null(d->name), "reason", gl_reason_name(d->reason), "detail",
                     d->detail, "skip",
                     d->skip == GL_SKIP_NONE ? json_null() : json_string(gl_skip_name(d->skip)),
                     "dry_run", o->dry_run, "outcome",
                     o->error  ? "failed"
                     : o->done ? "done"
                               : "not-done");
}

json_t *gl_report_json(const gl_report_input *in) {
    const gl_node_sample *s = in->sample;
    json_t *psi = json_object();
    if (!psi)
        return NULL;
    for (int r = 0; r < GL_PSI_N; r++)
        json_object_set_new(psi, gl_psi_resource_name((gl_psi_resource)r),
                            psi_json(s, (gl_psi_resource)r));

    /* Byte counts stay below 2^63 on any real machine, so json_integer (signed) holds them. */
    json_t *node = json_pack(
        "{s:s, s:i, s:{s:I, s:I, s:I, s:I}, s:o, s:s, s:i, s:{s:s, s:b, s:b}}", "name",
        in->node_name, "cgroup_version", in->cgroup_version, "memory", "capacity_bytes",
        (json_int_t)s->capacity_bytes, "available_bytes", (json_int_t)s->available_bytes,
        "working_set_bytes", (json_int_t)s->working_set_bytes, "kernel_available_bytes",
        (json_int_t)s->meminfo.available_bytes, "psi", psi, "pool", in->pool, "cpus", (int)s->cpus,
        "pressure", "memory_level", gl_mem_level_name(in->pressure->mem_level),
        "memory_psi_sustained", in->pressure->mem_psi.sustained, "cpu_psi_sustained",
        in->pressure->cpu_psi.sustained);
    if (!node)
        return NULL;
    json_t *pods = json_array();
    if (!pods) {
        json_decref(node);
        return NULL;
    }
    if (in->pods) {
        gl_pods_totals t;
        gl_pods_totals_get(in->pods, &t);
        json_object_set_new(
            node, "kubepods",
            json_pack("{s:i, s:I, s:I, s:f, s:I}", "pods", (int)gl_pods_count(in->pods),
                      "working_set_bytes", (json_int_t)t.memory_working_set_bytes, "usage_bytes",
                      (json_int_t)t.memory_current_bytes, "cpu_usage_cores",
                      (double)t.cpu_usage_millicores / 1000.0, "pids", (json_int_t)t.pids_current));
        for (size_t i = 0; i < gl_pods_count(in->pods); i++) {
            const gl_pod *p = gl_pods_at(in->pods, i);
            json_t *pj = gl_report_pod_json(p, s->available_bytes);
            const gl_kube_pod *kp =
                in->podwatch ? gl_kube_podwatch_find(in->podwatch, p->uid) : NULL;
            if (pj && kp) {
                json_object_set_new(pj, "namespace", json_string(kp->namespace_));
                json_object_set_new(pj, "name", json_string(kp->name));
                gl_qos q;
                if (gl_kube_qos_to_local(kp->qos, &q))
                    json_object_set_new(pj, "qos", json_string(gl_qos_name(q)));
            }
            json_array_append_new(pods, pj);
        }
    }
    json_t *decisions = json_array();
    if (!decisions) {
        json_decref(node);
        json_decref(pods);
        return NULL;
    }
    for (size_t i = 0; i < in->n_decisions; i++)
        json_array_append_new(decisions, gl_report_decision_json(&in->decisions[i]));
    return json_pack("{s:o, s:s, s:b, s:o, s:o}", "node", node, "mode",
                     in->config->guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforce", "api",
                     in->api, "pods", pods, "decisions", decisions);
}

static void psi_text(const gl_node_sample *s, gl_psi_resource r, char *buf, size_t len) {
    if (s->psi_error[r] != 0) {
        snprintf(buf, len, "n/a");
        return;
    }
    const gl_psi *p = &s->psi[r];
    snprintf(buf, len, "%u.%02u/%u.%02u", p->some.avg10_bp / 100, p->some.avg10_bp % 100,
             p->full.avg10_bp / 100, p->full.avg10_bp % 100);
}

/* Available memory as a whole percentage of capacity, for humans. */
static unsigned available_percent(const gl_node_sample *s) {
    return s->capacity_bytes ? (unsigned)(s->available_bytes * 100 / s->capacity_bytes) : 0;
}

/* Orders pods by working set, largest first, for the text table. */
static int cmp_ws_desc(const void *a, const void *b) {
    const gl_pod *x = *(const gl_pod *const *)a, *y = *(const gl_pod *const *)b;
    uint64_t wx = x->cur.memory_working_set_bytes, wy = y->cur.memory_working_set_bytes;
    return wx < wy ? 1 : wx > wy ? -1 : strcmp(x->uid, y->uid);
}

static void print_pods_text(const gl_report_input *in, FILE *out) {
    size_t n = in->pods ? gl_pods_count(in->pods) : 0;
    if (n == 0) {
        fprintf(out, "pods:      none seen%s\n", in->pods ? "" : " (no kubepods cgroup found)");
        return;
    }
    const gl_pod **v = malloc(n * sizeof(*v));
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = gl_pods_at(in->pods, i);
    qsort(v, n, sizeof(*v), cmp_ws_desc);
    fprintf(out, "pods:      %zu\n", n);
    fprintf(out, "  %-36s %-10s %10s %10s %12s %6s %6s %5s\n", "UID", "QOS", "WORKSET", "LIMIT",
            "GROWTH/s", "CPU", "THR%", "PIDS");
    for (size_t i = 0; i < n; i++) {
        const gl_pod *p = v[i];
        char ws[32], lim[32], gr[32];
        gl_format_bytes(p->cur.memory_working_set_bytes, ws, sizeof(ws));
        if (p->cur.memory_max_bytes == GL_CGROUP_UNLIMITED)
            snprintf(lim, sizeof(lim), "none");
        else
            gl_format_bytes(p->cur.memory_max_bytes, lim, sizeof(lim));
        if (p->growth.n_points == 0)
            snprintf(gr, sizeof(gr), "-");
        else if (p->growth.slope_per_sec < 0)
            snprintf(gr, sizeof(gr), "shrinking");
        else
            gl_format_bytes((uint64_t)p->growth.slope_per_sec, gr, sizeof(gr));
        fprintf(out, "  %-36s %-10s %10s %10s %12s %6.2f %6.1f %5llu\n", p->uid,
                gl_qos_name(p->qos), ws, lim, gr, p->cpu_usage_millicores / 1000.0,
                p->cpu_throttled_bp / 100.0, (unsigned long long)p->cur.pids_current);
    }
    free(v);
}

void gl_report_text(const gl_report_input *in, FILE *out) {
    const gl_node_sample *s = in->sample;
    char cap[32], ws[32], avail[32], kavail[32], pm[32], pc[32], pi[32];
    char thr[32], evi[32], kil[32];
    const gl_config *c = in->config;

    gl_format_bytes(s->capacity_bytes, cap, sizeof(cap));
    gl_format_bytes(s->working_set_bytes, ws, sizeof(ws));
    gl_format_bytes(s->available_bytes, avail, sizeof(avail));
    gl_format_bytes(s->meminfo.available_bytes, kavail, sizeof(kavail));
    gl_format_bytes(gl_quantity_resolve(&c->memory.throttle_below, s->capacity_bytes), thr,
                    sizeof(thr));
    gl_format_bytes(gl_quantity_resolve(&c->memory.evict_below, s->capacity_bytes), evi,
                    sizeof(evi));
    gl_format_bytes(gl_quantity_resolve(&c->memory.kill_below, s->capacity_bytes), kil,
                    sizeof(kil));
    psi_text(s, GL_PSI_MEMORY, pm, sizeof(pm));
    psi_text(s, GL_PSI_CPU, pc, sizeof(pc));
    psi_text(s, GL_PSI_IO, pi, sizeof(pi));

    fprintf(out, "node:      %s (pool %s, %u CPUs, cgroup v%d, %s, %s)\n", in->node_name, in->pool,
            s->cpus, in->cgroup_version, c->guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforce",
            in->api ? "API" : "local mode");
    fprintf(out, "memory:    available %s of %s (%u%%), working set %s, kernel MemAvailable %s\n",
            avail, cap, available_percent(s), ws, kavail);
    fprintf(out, "limits:    throttle below %s, evict below %s, kill below %s\n", thr, evi, kil);
    fprintf(out, "pressure:  some/full avg10 %%: memory %s, cpu %s, io %s\n", pm, pc, pi);
    fprintf(out, "state:     memory %s%s%s\n", gl_mem_level_name(in->pressure->mem_level),
            in->pressure->mem_psi.sustained ? ", memory PSI sustained over limit" : "",
            in->pressure->cpu_psi.sustained ? ", CPU PSI sustained over limit" : "");
    print_pods_text(in, out);
    if (in->n_decisions == 0)
        fprintf(out, "decisions: none\n");
    else
        fprintf(out, "decisions: %zu\n", in->n_decisions);
    for (size_t i = 0; i < in->n_decisions; i++) {
        const gl_decision *d = &in->decisions[i].d;
        fprintf(out, "  %s %s (%s)%s%s: %s\n", gl_action_name(d->action),
                d->name ? d->name : d->uid, gl_reason_name(d->reason),
                d->skip != GL_SKIP_NONE ? ", not done: " : "",
                d->skip != GL_SKIP_NONE ? gl_skip_name(d->skip) : "", d->detail);
    }
}

void gl_report_status_line(const gl_report_input *in, char *buf, size_t len) {
    const gl_node_sample *s = in->sample;
    char avail[32], cap[32], pm[32], pc[32];

    gl_format_bytes(s->available_bytes, avail, sizeof(avail));
    gl_format_bytes(s->capacity_bytes, cap, sizeof(cap));
    psi_text(s, GL_PSI_MEMORY, pm, sizeof(pm));
    psi_text(s, GL_PSI_CPU, pc, sizeof(pc));
    snprintf(buf, len, "%s: memory available %s of %s (%u%%), %s; PSI some/full memory %s cpu %s",
             in->config->guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforcing", avail, cap,
             available_percent(s), gl_mem_level_name(in->pressure->mem_level), pm, pc);
}
