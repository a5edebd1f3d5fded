/* once.c: --once: two samples one Interval apart, the pressure verdict and the report; never acts.
 */
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guardlet/cgroup.h"
#include "guardlet/daemon.h"
#include "guardlet/guard.h"
#include "guardlet/kube.h"
#include "guardlet/node.h"
#include "guardlet/pods.h"
#include "guardlet/pressure.h"
#include "guardlet/report.h"

static void sleep_usec(uint64_t usec) {
    struct timespec ts = {.tv_sec = (time_t)(usec / 1000000u),
                          .tv_nsec = (long)(usec % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The API server gets this long to list this node's pods; without an answer the report is what
 * local mode shows, and stderr says why. */
#define ONCE_API_TIMEOUT_SEC 10.0

/* API mode for --once: one list of this node's pods, so that the report has names, QoS classes
 * and protection by namespace, priority or annotation. Never an eviction: --once does not act. */
typedef struct {
    struct ev_loop *loop;
    gl_kube_creds *creds;
    gl_kube_client *client;
    gl_kube_podwatch *watch;
    bool synced;
} once_api;

static void once_on_pod(gl_kube_podwatch *w, gl_kube_pod_change change, const gl_kube_pod *pod,
                        void *userdata) {
    once_api *a = userdata;
    (void)w;
    (void)pod;
    if (change == GL_KUBE_POD_SYNCED) {
        a->synced = true;
        ev_break(a->loop, EVBREAK_ALL);
    }
}

static void once_on_timeout(struct ev_loop *loop, ev_timer *t, int revents) {
    (void)t;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void once_api_free(once_api *a) {
    gl_kube_podwatch_free(a->watch);
    gl_kube_client_free(a->client);
    gl_kube_creds_free(a->creds);
    if (a->loop)
        ev_loop_destroy(a->loop);
    *a = (once_api){0};
}

/* True when the pods of node were listed; false (with a line on stderr unless no API server is
 * configured) otherwise. */
static bool once_api_list(const gl_options *opts, const gl_config *cfg, const char *node,
                          once_api *a) {
    char err[GL_KUBE_ERR_SIZE];
    if (opts->no_api)
        return false;
    int r = gl_api_creds_load(cfg, &a->creds, err, sizeof(err));
    if (r > 0)
        return false;
    if (r < 0) {
        fprintf(stderr, "guardlet: cannot use the API server: %s; pod names are not shown\n", err);
        return false;
    }
    if (!(a->loop = ev_loop_new(EVFLAG_AUTO)) ||
        gl_kube_client_new(a->loop, a->creds, &a->client) < 0 ||
        gl_kube_podwatch_new(a->client, node, once_on_pod, a, &a->watch) < 0 ||
        gl_kube_podwatch_start(a->watch) < 0) {
        fprintf(stderr,
                "guardlet: cannot start the API client for node %s; pod names are not shown\n",
                node);
        return false;
    }
    ev_timer t;
    ev_timer_init(&t, once_on_timeout, ONCE_API_TIMEOUT_SEC, 0.);
    ev_timer_start(a->loop, &t);
    ev_run(a->loop, 0);
    ev_timer_stop(a->loop, &t);
    if (!a->synced) {
        gl_kube_podwatch_stats st;
        gl_kube_podwatch_get_stats(a->watch, &st);
        fprintf(stderr,
                "guardlet: no pod list from %s within %.0f s (%s); pod names are not shown\n",
                a->creds->server, ONCE_API_TIMEOUT_SEC,
                st.last_err_msg[0] ? st.last_err_msg : "no answer");
    }
    return a->synced;
}

int gl_once_run(const gl_options *opts, const gl_config *cfg, FILE *out) {
    gl_node_sample first, second;
    gl_node_pressure pressure = {0};
    gl_node_pressure_change chg;
    gl_cgroup_layout layout;
    gl_pods *pods = NULL;
    gl_guard *guard = NULL;
    static gl_guard_outcome decisions[GL_POLICY_MAX_DECISIONS];
    size_t n_decisions = 0;
    char node_name[256];
    once_api api = {0};
    int ret = GL_EXIT_MISSING;
    gl_pods_params pp = {
        .leak_window_usec = cfg->runaway.leak_window_usec,
        .min_growth_per_sec = cfg->runaway.min_growth_rate_bytes,
    };

    if (gl_cgroup_layout_discover(cfg->guard.cgroup_root, &layout) < 0 ||
        gl_pods_new(&layout, &pp, &pods) < 0) {
        fprintf(stderr, "guardlet: out of memory\n");
        goto out;
    }

    /* Two samples: rates (CPU usage, growth) need a delta, and the second sample is what a tick
     * would decide on. */
    int r = gl_node_sample_read(cfg->guard.proc_root, gl_now_usec(), &first);
    if (r == 0) {
        gl_node_pressure_update(&pressure, cfg, &first, &chg);
        gl_pods_scan(pods, first.timestamp_usec, true, NULL);
        sleep_usec(cfg->guard.interval_usec);
        r = gl_node_sample_read(cfg->guard.proc_root, gl_now_usec(), &second);
    }
    if (r < 0) {
        fprintf(stderr, "guardlet: cannot read %s/meminfo: %s\n", cfg->guard.proc_root,
                strerror(-r));
        goto out;
    }
    gl_node_pressure_update(&pressure, cfg, &second, &chg);
    gl_pods_scan(pods, second.timestamp_usec, true, NULL);
    /* --once decides as a freshly started daemon would, and never acts. */
    if (gl_guard_new(cfg->guard.proc_root, &guard) < 0) {
        fprintf(stderr, "guardlet: out of memory\n");
        goto out;
    }
    gl_node_name_resolve(cfg, node_name, sizeof(node_name));
    bool api_ok = once_api_list(opts, cfg, node_name, &api);
    if (api_ok)
        gl_guard_set_api(guard, api.watch, NULL);
    n_decisions = gl_guard_tick(guard, cfg, &layout, &second, pods, false, false, decisions,
                                GL_POLICY_MAX_DECISIONS);

    gl_report_input in = {
        .node_name = node_name,
        .cgroup_version = (int)layout.version,
        .pool = gl_config_pool_for(cfg, second.capacity_bytes, second.cpus),
        .sample = &second,
        .pressure = &pressure,
        .config = cfg,
        .pods = layout.kubepods || gl_pods_count(pods) ? pods : NULL,
        .decisions = decisions,
        .n_decisions =
            n_decisions < GL_POLICY_MAX_DECISIONS ? n_decisions : GL_POLICY_MAX_DECISIONS,
        .api = api_ok,
        .podwatch = api_ok ? api.watch : NULL,
    };
    if (opts->output == GL_OUTPUT_JSON) {
        json_t *j = gl_report_json(&in);
        if (!j || json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0) {
            json_decref(j);
            fprintf(stderr, "guardlet: out of memory rendering the report\n");
            goto out;
        }
        fputc('\n', out);
        json_decref(j);
    } else {
        gl_report_text(&in, out);
    }
    ret = fflush(out) == 0 ? GL_EXIT_OK : GL_EXIT_MISSING;
out:
    gl_guard_free(guard);
    once_api_free(&api);
    gl_pods_free(pods);
    gl_cgroup_layout_free(&layout);
    return ret;
}
