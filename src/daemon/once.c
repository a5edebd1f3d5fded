/* once.c: --once: two samples one Interval apart, the pressure verdict and the report; never acts.
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "guardlet/cgroup.h"
#include "guardlet/daemon.h"
#include "guardlet/guard.h"
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
    n_decisions = gl_guard_tick(guard, cfg, &layout, &second, pods, false, false, decisions,
                                GL_POLICY_MAX_DECISIONS);
    gl_node_name_resolve(cfg, node_name, sizeof(node_name));

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
        .api = false, /* --once does not connect to the API server: names are not shown */
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
    gl_pods_free(pods);
    gl_cgroup_layout_free(&layout);
    return ret;
}
