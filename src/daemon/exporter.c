/* exporter.c: fills the metrics registry from each tick and serves it at /metrics and /healthz. */
#include "guardlet/exporter.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/httpd.h"
#include "guardlet/log.h"
#include "guardlet/policy.h"
#include "guardlet/version.h"

enum {
    M_BUILD_INFO,
    M_UP,
    M_TICKS,
    M_LAST_TICK_AGE,
    M_SCAN_DURATION,
    M_CAPACITY,
    M_AVAILABLE,
    M_WORKING_SET,
    M_MEM_LEVEL,
    M_SUSTAINED,
    M_PSI,
    M_PODS,
    M_POD_WS,
    M_POD_CPU,
    M_ACTIONS,
    M_FAILURES,
    M_SKIPPED,
    M_BLOCKED,
    M_API_REQUESTS,
    M_API_CONNECTED,
    M_N
};

struct gl_exporter {
    struct ev_loop *loop;
    gl_metrics *reg;
    gl_metric *m[M_N];
    gl_httpd *httpd;
    char *listen; /* what httpd serves, or what was last asked for when not serving */
    uint64_t last_done_usec;
    uint64_t interval_usec;
    bool sense_failing;
    bool api_answered; /* the latest API request got an HTTP answer */
};

/* Tick durations on a healthy node are well under 10 ms for hundreds of pods (README); the upper
 * buckets catch a loop that slows toward its Interval. */
static const double scan_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                     0.05,   0.1,   0.25,   0.5,   1,    2.5};

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    const char *name;
    const char *help;
    gl_metric_type type;
    const char *labels[4];
    size_t n_labels;
} family_desc;

static const family_desc families[M_N] = {
    [M_BUILD_INFO] = {"guardlet_build_info",
                      "Always 1; the version label says which guardlet runs.",
                      GL_METRIC_GAUGE,
                      {"version"},
                      1},
    [M_UP] = {"guardlet_up",
              "1 while guardlet senses the node (its last tick read the memory figures), 0 when "
              "reading them fails.",
              GL_METRIC_GAUGE,
              {0},
              0},
    [M_TICKS] = {"guardlet_ticks_total",
                 "Ticks (sense, decide, act) completed.",
                 GL_METRIC_COUNTER,
                 {0},
                 0},
    [M_LAST_TICK_AGE] = {"guardlet_last_tick_age_seconds",
                         "Seconds since the last tick completed, at scrape time (NaN before the "
                         "first).",
                         GL_METRIC_GAUGE,
                         {0},
                         0},
    [M_SCAN_DURATION] = {"guardlet_scan_duration_seconds",
                         "Wall time of one tick: sensing the node and its pods, deciding and "
                         "acting.",
                         GL_METRIC_HISTOGRAM,
                         {0},
                         0},
    [M_CAPACITY] = {"guardlet_node_memory_capacity_bytes",
                    "Node memory capacity (MemTotal).",
                    GL_METRIC_GAUGE,
                    {0},
                    0},
    [M_AVAILABLE] = {"guardlet_node_memory_available_bytes",
                     "Node memory.available as the kubelet computes it: capacity minus the "
                     "working set.",
                     GL_METRIC_GAUGE,
                     {0},
                     0},
    [M_WORKING_SET] = {"guardlet_node_memory_working_set_bytes",
                       "Node memory working set as the kubelet computes it.",
                       GL_METRIC_GAUGE,
                       {0},
                       0},
    [M_MEM_LEVEL] = {"guardlet_node_memory_level",
                     "Node memory level from memory.available: 0 ok, 1 throttle (below "
                     "ThrottleBelow), 2 evict (below EvictBelow), 3 kill (below KillBelow).",
                     GL_METRIC_GAUGE,
                     {0},
                     0},
    [M_SUSTAINED] = {"guardlet_node_pressure_sustained",
                     "1 while the node's PSI some avg10 for resource has stayed above its "
                     "PressureLimit for PressureDuration.",
                     GL_METRIC_GAUGE,
                     {"resource"},
                     1},
    [M_PSI] = {"guardlet_node_psi_some_avg10",
               "Node PSI \"some\" avg10 for resource, in percent (0-100) as the kernel reports it. "
               "Absent when the pressure file cannot be read.",
               GL_METRIC_GAUGE,
               {"resource"},
               1},
    [M_PODS] =
        {"guardlet_pods", "Pods found in the kubepods cgroup tree.", GL_METRIC_GAUGE, {0}, 0},
    [M_POD_WS] = {"guardlet_pod_memory_working_set_bytes",
                  "Pod memory working set (usage minus inactive_file). In local mode (no API "
                  "server) namespace is empty and pod is the pod UID.",
                  GL_METRIC_GAUGE,
                  {"namespace", "pod", "uid"},
                  3},
    [M_POD_CPU] = {"guardlet_pod_cpu_usage_cores",
                   "Pod CPU usage in cores over the last tick. In local mode (no API server) "
                   "namespace is empty and pod is the pod UID.",
                   GL_METRIC_GAUGE,
                   {"namespace", "pod", "uid"},
                   3},
    [M_ACTIONS] = {"guardlet_actions_total",
                   "Actions carried out, by action and reason (an eviction counts once the API "
                   "server accepted it).",
                   GL_METRIC_COUNTER,
                   {"action", "reason"},
                   2},
    [M_FAILURES] = {"guardlet_action_failures_total",
                    "Actions that failed when carried out (they are retried), by action and "
                    "reason.",
                    GL_METRIC_COUNTER,
                    {"action", "reason"},
                    2},
    [M_SKIPPED] = {"guardlet_decisions_skipped_total",
                   "Decisions reported but not carried out, by action, reason and why not "
                   "(skip: protected, rate-limited, dry-run, no-eviction, disabled, recovered, "
                   "blocked).",
                   GL_METRIC_COUNTER,
                   {"action", "reason", "skip"},
                   3},
    [M_BLOCKED] = {"guardlet_evictions_blocked_total",
                   "Evictions the API server refused (429: a PodDisruptionBudget said no).",
                   GL_METRIC_COUNTER,
                   {0},
                   0},
    [M_API_REQUESTS] = {"guardlet_api_requests_total",
                        "Requests to the Kubernetes API server by verb (WATCH for watch streams) "
                        "and HTTP code; code \"error\" when no answer arrived.",
                        GL_METRIC_COUNTER,
                        {"verb", "code"},
                        2},
    [M_API_CONNECTED] = {"guardlet_api_connected",
                         "API mode only: 1 when the pod list has synced and the latest request "
                         "to the API server got an answer, else 0.",
                         GL_METRIC_GAUGE,
                         {0},
                         0},
};

int gl_exporter_new(struct ev_loop *loop, gl_exporter **out) {
    gl_exporter *e = calloc(1, sizeof(*e));
    *out = NULL;
    if (!e || gl_metrics_new(&e->reg) < 0) {
        free(e);
        return -ENOMEM;
    }
    e->loop = loop;
    for (int i = 0; i < M_N; i++) {
        const family_desc *f = &families[i];
        bool hist = f->type == GL_METRIC_HISTOGRAM;
        e->m[i] = gl_metrics_add(e->reg, f->name, f->help, f->type, f->labels, f->n_labels,
                                 hist ? scan_bounds : NULL, hist ? N_ELEMENTS(scan_bounds) : 0);
        if (!e->m[i]) {
            gl_exporter_free(e);
            return -ENOMEM;
        }
    }
    /* Series that exist from the start, so that rate() and alerts see a 0 before the first
     * event rather than nothing. */
    int r = gl_metric_set(e->m[M_BUILD_INFO], (const char *const[]){GL_VERSION}, 1);
    r = r ? r : gl_metric_set(e->m[M_UP], NULL, 0);
    r = r ? r : gl_metric_add(e->m[M_TICKS], NULL, 0);
    r = r ? r : gl_metric_add(e->m[M_BLOCKED], NULL, 0);
    if (r < 0) {
        gl_exporter_free(e);
        return -ENOMEM;
    }
    *out = e;
    return 0;
}

void gl_exporter_free(gl_exporter *e) {
    if (!e)
        return;
    gl_httpd_free(e->httpd);
    gl_metrics_free(e->reg);
    free(e->listen);
    free(e);
}

/* ---------------------------------------------------------------- figures */

static void count_outcome(gl_exporter *e, const gl_guard_outcome *o) {
    const gl_decision *d = &o->d;
    const char *action = gl_action_name(d->action), *reason = gl_reason_name(d->reason);
    const char *const ar[] = {action, reason};

    if (d->skip != GL_SKIP_NONE) {
        gl_metric_add(e->m[M_SKIPPED], (const char *const[]){action, reason, gl_skip_name(d->skip)},
                      1);
        if (d->skip == GL_SKIP_BLOCKED)
            gl_metric_add(e->m[M_BLOCKED], NULL, 1);
    } else if (o->error) {
        gl_metric_add(e->m[M_FAILURES], ar, 1);
    } else if (o->done) {
        gl_metric_add(e->m[M_ACTIONS], ar, 1);
    }
}

void gl_exporter_tick_done(gl_exporter *e, const gl_exporter_tick *t) {
    const gl_node_sample *s = t->sample;
    static const char *const psi_names[GL_PSI_N] = {"memory", "cpu", "io"};

    e->sense_failing = false;
    e->last_done_usec = t->done_usec;
    e->interval_usec = t->interval_usec;
    gl_metric_set(e->m[M_UP], NULL, 1);
    gl_metric_add(e->m[M_TICKS], NULL, 1);
    gl_metric_observe(e->m[M_SCAN_DURATION], NULL, (double)(t->done_usec - t->started_usec) / 1e6);
    gl_metric_set(e->m[M_CAPACITY], NULL, (double)s->capacity_bytes);
    gl_metric_set(e->m[M_AVAILABLE], NULL, (double)s->available_bytes);
    gl_metric_set(e->m[M_WORKING_SET], NULL, (double)s->working_set_bytes);
    gl_metric_begin_round(e->m[M_PSI]);
    for (int r = 0; r < GL_PSI_N; r++)
        if (!s->psi_error[r])
            gl_metric_set(e->m[M_PSI], (const char *const[]){psi_names[r]},
                          (double)s->psi[r].some.avg10_bp / 100.0);
    gl_metric_end_round(e->m[M_PSI]);
    if (t->pressure) {
        gl_metric_set(e->m[M_MEM_LEVEL], NULL, (double)t->pressure->mem_level);
        gl_metric_set(e->m[M_SUSTAINED], (const char *const[]){"memory"},
                      t->pressure->mem_psi.sustained);
        gl_metric_set(e->m[M_SUSTAINED], (const char *const[]){"cpu"},
                      t->pressure->cpu_psi.sustained);
    }

    /* Pods come and go: a round drops the series of the pods not seen in this tick. */
    gl_metric_begin_round(e->m[M_POD_WS]);
    gl_metric_begin_round(e->m[M_POD_CPU]);
    size_t n = t->pods ? gl_pods_count(t->pods) : 0;
    gl_metric_set(e->m[M_PODS], NULL, (double)n);
    for (size_t i = 0; i < n; i++) {
        const gl_pod *p = gl_pods_at(t->pods, i);
        const gl_kube_pod *kp = t->podwatch ? gl_kube_podwatch_find(t->podwatch, p->uid) : NULL;
        const char *ns = kp && kp->namespace_ ? kp->namespace_ : "";
        const char *name = kp && kp->name ? kp->name : p->uid;
        const char *const l[] = {ns, name, p->uid};
        gl_metric_set(e->m[M_POD_WS], l, (double)p->cur.memory_working_set_bytes);
        gl_metric_set(e->m[M_POD_CPU], l, (double)p->cpu_usage_millicores / 1000.0);
    }
    gl_metric_end_round(e->m[M_POD_WS]);
    gl_metric_end_round(e->m[M_POD_CPU]);

    for (size_t i = 0; i < t->n_outcomes; i++) {
        const gl_guard_outcome *o = &t->outcomes[i];
        /* A sent eviction counts when the API server answers (gl_exporter_eviction_result). */
        if (o->d.action == GL_ACTION_EVICT && o->d.skip == GL_SKIP_NONE && o->done)
            continue;
        count_outcome(e, o);
    }

    if (t->api_mode) {
        gl_kube_podwatch_stats st = {0};
        if (t->podwatch)
            gl_kube_podwatch_get_stats(t->podwatch, &st);
        gl_metric_set(e->m[M_API_CONNECTED], NULL, st.synced && e->api_answered);
    } else {
        gl_metric_clear(e->m[M_API_CONNECTED]);
    }
}

void gl_exporter_sense_failed(gl_exporter *e) {
    e->sense_failing = true;
    gl_metric_set(e->m[M_UP], NULL, 0);
}

void gl_exporter_api_request(const char *verb, long status, void *userdata) {
    gl_exporter *e = userdata;
    char code[24];
    if (status > 0)
        snprintf(code, sizeof(code), "%ld", status);
    else
        snprintf(code, sizeof(code), "error");
    e->api_answered = status > 0;
    gl_metric_add(e->m[M_API_REQUESTS], (const char *const[]){verb, code}, 1);
}

void gl_exporter_eviction_result(const gl_guard_outcome *o, void *userdata) {
    count_outcome(userdata, o);
}

int gl_exporter_render(gl_exporter *e, char **out, size_t *len) {
    double age = NAN;
    if (e->last_done_usec)
        age = (double)(gl_now_usec() - e->last_done_usec) / 1e6;
    gl_metric_set(e->m[M_LAST_TICK_AGE], NULL, age);
    return gl_metrics_render(e->reg, out, len);
}

bool gl_exporter_healthy(const gl_exporter *e, uint64_t now_usec, char *reason, size_t len) {
    uint64_t limit = GL_EXPORTER_HEALTH_INTERVALS * e->interval_usec;
    if (limit < GL_EXPORTER_HEALTH_FLOOR_USEC)
        limit = GL_EXPORTER_HEALTH_FLOOR_USEC;
    if (!e->last_done_usec) {
        snprintf(reason, len, "no tick has completed yet");
        return false;
    }
    uint64_t age = now_usec - e->last_done_usec;
    if (age > limit) {
        snprintf(reason, len, "the last tick completed %.1f s ago (limit %.1f s)%s",
                 (double)age / 1e6, (double)limit / 1e6,
                 e->sense_failing ? "; reading the node's memory figures fails" : "");
        return false;
    }
    snprintf(reason, len, "ok");
    return true;
}

/* ---------------------------------------------------------------- endpoint */

static void text_reply(gl_httpd_reply *reply, unsigned status, const char *text) {
    reply->body = strdup(text);
    if (!reply->body)
        return; /* status stays 0: 500 */
    reply->status = status;
    reply->content_type = "text/plain; charset=utf-8";
    reply->len = strlen(reply->body);
}

static void on_http(const char *path, gl_httpd_reply *reply, void *userdata) {
    gl_exporter *e = userdata;

    if (strcmp(path, "/metrics") == 0) {
        if (gl_exporter_render(e, &reply->body, &reply->len) < 0)
            return;
        reply->status = 200;
        reply->content_type = GL_METRICS_CONTENT_TYPE;
    } else if (strcmp(path, "/healthz") == 0) {
        char reason[256];
        bool ok = gl_exporter_healthy(e, gl_now_usec(), reason, sizeof(reason) - 1);
        strcat(reason, "\n");
        text_reply(reply, ok ? 200 : 503, reason);
    } else {
        text_reply(reply, 404, "not found; try /metrics or /healthz\n");
    }
}

int gl_exporter_listen(gl_exporter *e, const char *listen) {
    char err[256];
    gl_httpd *h = NULL;

    if (!listen)
        listen = "";
    if (e->listen && strcmp(e->listen, listen) == 0 && (e->httpd || !listen[0]))
        return 0;
    char *copy = strdup(listen);
    if (!copy)
        return -ENOMEM;
    if (!listen[0]) {
        if (e->httpd || !e->listen)
            gl_log_notice("Metrics endpoint disabled (MetricsListen is empty)");
        gl_httpd_free(e->httpd);
        e->httpd = NULL;
        free(e->listen);
        e->listen = copy;
        return 0;
    }
    int r = gl_httpd_start(e->loop, listen, on_http, e, &h, err, sizeof(err));
    if (r < 0) {
        if (e->httpd) {
            gl_log_err("Cannot serve metrics at %s: %s; still serving at http://%s/metrics", listen,
                       err, gl_httpd_address(e->httpd));
            free(copy);
        } else {
            gl_log_err("Cannot serve metrics at %s: %s; guardlet goes on protecting the node "
                       "without the /metrics endpoint",
                       listen, err);
            free(e->listen);
            e->listen = copy;
        }
        return r;
    }
    gl_httpd_free(e->httpd);
    e->httpd = h;
    free(e->listen);
    e->listen = copy;
    gl_log_notice("Metrics on http://%s/metrics", gl_httpd_address(h));
    return 0;
}

const char *gl_exporter_address(const gl_exporter *e) {
    return e->httpd ? gl_httpd_address(e->httpd) : NULL;
}
