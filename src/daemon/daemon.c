/* daemon.c: wires sensing into a libev loop: the Interval tick, PSI wake-ups, signals, reload and
 * sd_notify. */
#include "guardlet/daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <ev.h>

#include "guardlet/log.h"
#include "guardlet/message_ids.h"
#include "guardlet/cgroup.h"
#include "guardlet/exporter.h"
#include "guardlet/guard.h"
#include "guardlet/kubeconfig.h"
#include "guardlet/memlock.h"
#include "guardlet/nodestatus.h"
#include "guardlet/node.h"
#include "guardlet/pods.h"
#include "guardlet/pressure.h"
#include "guardlet/psi_trigger.h"
#include "guardlet/report.h"
#include "guardlet/status.h"
#include "guardlet/version.h"

/* A trigger that fires right after a tick would sample the same averages again; ticks closer than
 * this are coalesced. The kernel sends at most one notification per window (>= 500 ms) anyway. */
#define MIN_TICK_GAP_USEC 100000u

/* Triggers watch the node's memory and CPU pressure and the kubepods cgroup's memory pressure
 * (v2): two or three kernel psimon threads, never one per pod. Index into d->triggers. */
enum { TRIGGER_MEMORY, TRIGGER_CPU, TRIGGER_KUBEPODS, TRIGGER_N };

/* An unexpected pod read error is repeated at most this often, so a broken file cannot flood
 * the journal once per tick. */
#define POD_ERROR_LOG_EVERY_USEC (60u * 1000000u)

/* Credential files are checked for rotation this often (and at every 401), as client-go re-reads
 * a service account token every minute. GUARDLET_CREDS_CHECK_SEC shortens it for tests. */
static double creds_check_sec(void) {
    const char *e = getenv("GUARDLET_CREDS_CHECK_SEC");
    double v = e ? strtod(e, NULL) : 0;
    return v > 0 ? v : 60.0;
}

struct gl_daemon {
    struct ev_loop *loop;
    const gl_options *opts;
    gl_config cfg;
    char node_name[256];
    int cgroup_version;
    gl_cgroup_layout layout;
    gl_pods *pods;
    gl_guard *guard;
    /* API mode (all NULL in local mode): credentials, client, pod metadata, evictions. */
    gl_kube_creds *creds;
    gl_kube_client *kclient;
    gl_kube_podwatch *podwatch;
    gl_evictor *evictor;
    gl_nodestatus *nodestatus;
    gl_events *events;
    ev_timer creds_timer; /* re-reads rotated credential files (API mode) */
    /* What the last tick saw of the pod watch, so that only changes are logged. */
    bool api_failing;
    uint64_t api_failing_since_usec;
    uint64_t api_outages_seen, api_malformed_seen, api_expired_seen;
    uint64_t pod_error_logged_usec;
    bool kubepods_logged;

    ev_timer tick_timer;
    uint64_t tick_period_usec; /* Interval, or FastInterval while memory is short */
    ev_timer watchdog_timer;
    ev_signal sig_hup, sig_term, sig_int;
    gl_psi_trigger *triggers[TRIGGER_N];
    bool trigger_notice_logged[TRIGGER_N]; /* "unavailable" is said once per run, not per reload */
    bool slow_window_logged;

    gl_node_sample sample;
    bool have_sample;
    gl_node_pressure pressure;
    bool sense_failing;
    int psi_error_logged[GL_PSI_N];

    uint64_t ticks;
    uint64_t last_tick_done_usec;
    uint64_t watchdog_usec; /* 0 when systemd's watchdog is off */
    bool ready;
    int exit_code;
    gl_status_server *status; /* NULL when StatusSocket is empty */
    gl_exporter *exporter;    /* metrics and /healthz; listens at MetricsListen */
};

static void triggers_arm_one(gl_daemon *d, int i);

static const char *const trigger_resource[TRIGGER_N] = {"memory", "cpu", "kubepods memory"};
static const char *const wake_reason_trigger[TRIGGER_N] = {"psi-memory", "psi-cpu",
                                                           "psi-kubepods-memory"};

void gl_node_name_resolve(const gl_config *c, char *buf, size_t len) {
    const char *env = getenv("NODE_NAME");

    if (c->guard.node_name[0])
        snprintf(buf, len, "%s", c->guard.node_name);
    else if (env && env[0])
        snprintf(buf, len, "%s", env);
    else if (gethostname(buf, len) < 0 || !buf[0])
        snprintf(buf, len, "unknown");
    buf[len - 1] = '\0';
}

static void fmt_u64(char *buf, size_t len, uint64_t v) {
    snprintf(buf, len, "%" PRIu64, v);
}

static void fmt_bp(char *buf, size_t len, uint32_t bp) {
    snprintf(buf, len, "%u.%02u", bp / 100, bp % 100);
}

static gl_report_input report_input(const gl_daemon *d) {
    return (gl_report_input){
        .node_name = d->node_name,
        .cgroup_version = d->cgroup_version,
        .pool = gl_config_pool_for(&d->cfg, d->sample.capacity_bytes, d->sample.cpus),
        .sample = &d->sample,
        .pressure = &d->pressure,
        .config = &d->cfg,
        .pods = d->layout.kubepods ? d->pods : NULL,
        .api = false,
    };
}

/* Says that a PSI average started or stopped being sustained over its limit. */
static void log_psi_change(const gl_sustain *st, const char *kind, const char *what,
                           const char *some_avg10) {
    gl_log_field f[] = {
        {"MESSAGE_ID", GL_MID_PRESSURE},
        {"GUARDLET_PRESSURE", kind},
        {"GUARDLET_LEVEL", st->sustained ? "sustained" : "clear"},
        {"PSI_SOME_AVG10", some_avg10},
    };
    gl_log_fields(st->sustained ? LOG_WARNING : LOG_NOTICE, f, sizeof(f) / sizeof(f[0]),
                  "Node %s pressure %s: some avg10 %s%%", what,
                  st->sustained ? "sustained over its limit" : "cleared", some_avg10);
}

/* Logs pressure transitions once each, with the figures that drove them. */
static void log_pressure_changes(gl_daemon *d, const gl_node_pressure_change *chg) {
    const gl_node_sample *s = &d->sample;
    char avail[24], cap[24], some_mem[16], some_cpu[16], availh[32], caph[32];

    fmt_u64(avail, sizeof(avail), s->available_bytes);
    fmt_u64(cap, sizeof(cap), s->capacity_bytes);
    fmt_bp(some_mem, sizeof(some_mem), s->psi[GL_PSI_MEMORY].some.avg10_bp);
    fmt_bp(some_cpu, sizeof(some_cpu), s->psi[GL_PSI_CPU].some.avg10_bp);
    gl_format_bytes(s->available_bytes, availh, sizeof(availh));
    gl_format_bytes(s->capacity_bytes, caph, sizeof(caph));

    if (chg->mem_level_changed) {
        bool worse = d->pressure.mem_level > chg->old_mem_level;
        gl_log_field f[] = {
            {"MESSAGE_ID", GL_MID_PRESSURE},
            {"GUARDLET_PRESSURE", "memory"},
            {"GUARDLET_LEVEL", gl_mem_level_name(d->pressure.mem_level)},
            {"GUARDLET_PREVIOUS_LEVEL", gl_mem_level_name(chg->old_mem_level)},
            {"NODE_MEMORY_AVAILABLE_BYTES", avail},
            {"NODE_MEMORY_CAPACITY_BYTES", cap},
        };
        gl_log_fields(worse ? LOG_WARNING : LOG_NOTICE, f, sizeof(f) / sizeof(f[0]),
                      "Node memory level %s (was %s): %s available of %s",
                      gl_mem_level_name(d->pressure.mem_level),
                      gl_mem_level_name(chg->old_mem_level), availh, caph);
    }
    if (chg->mem_psi_changed)
        log_psi_change(&d->pressure.mem_psi, "memory-psi", "memory", some_mem);
    if (chg->cpu_psi_changed)
        log_psi_change(&d->pressure.cpu_psi, "cpu-psi", "CPU", some_cpu);
}

/* A PSI file that stops (or starts) being readable is said once per change, not every tick. */
static void log_psi_errors(gl_daemon *d, const gl_node_sample *s) {
    for (int r = 0; r < GL_PSI_N; r++) {
        if (s->psi_error[r] == d->psi_error_logged[r])
            continue;
        if (s->psi_error[r])
            gl_log_warning("Cannot read %s/pressure/%s: %s; %s pressure is not watched",
                           d->cfg.guard.proc_root, gl_psi_resource_name((gl_psi_resource)r),
                           strerror(-s->psi_error[r]), gl_psi_resource_name((gl_psi_resource)r));
        else
            gl_log_notice("Reading %s/pressure/%s works again", d->cfg.guard.proc_root,
                          gl_psi_resource_name((gl_psi_resource)r));
        d->psi_error_logged[r] = s->psi_error[r];
    }
}

/* Says when the kubepods tree appears or goes, and (rate-limited) unexpected read errors. */
static void log_scan(gl_daemon *d, const gl_pods_scan_stats *st) {
    if (st->kubepods_found != d->kubepods_logged) {
        if (st->kubepods_found)
            gl_log_notice("Found the kubepods cgroup at %s/%s (%s driver): watching pods",
                          d->layout.memory, d->layout.kubepods,
                          d->layout.systemd_driver ? "systemd" : "cgroupfs");
        d->kubepods_logged = st->kubepods_found;
        if (st->kubepods_found && !d->triggers[TRIGGER_KUBEPODS])
            triggers_arm_one(d, TRIGGER_KUBEPODS);
    }
    if (st->added || st->removed)
        gl_log_debug("Pods: %zu (%zu new, %zu gone)", st->pods, st->added, st->removed);
    const char *err = gl_pods_last_error(d->pods);
    uint64_t now = gl_now_usec();
    if (err &&
        (!d->pod_error_logged_usec || now - d->pod_error_logged_usec >= POD_ERROR_LOG_EVERY_USEC)) {
        gl_log_field f[] = {{"MESSAGE_ID", GL_MID_SENSE_FAILED}};
        gl_log_fields(LOG_WARNING, f, 1,
                      "Cannot read %zu pod cgroup file%s, for example %s (repeats at most once a "
                      "minute)",
                      st->read_errors, st->read_errors == 1 ? "" : "s", err);
        d->pod_error_logged_usec = now;
    }
}

static void log_tick(gl_daemon *d, const char *wake, const gl_pods_scan_stats *st) {
    const gl_node_sample *s = &d->sample;
    char tick[24], avail[24], ws[24], cap[24], kavail[24], psi[GL_PSI_N][16];
    char pods[24], files[24], errors[24];

    if (!gl_log_enabled(LOG_DEBUG))
        return;
    fmt_u64(tick, sizeof(tick), d->ticks);
    fmt_u64(avail, sizeof(avail), s->available_bytes);
    fmt_u64(ws, sizeof(ws), s->working_set_bytes);
    fmt_u64(cap, sizeof(cap), s->capacity_bytes);
    fmt_u64(kavail, sizeof(kavail), s->meminfo.available_bytes);
    for (int r = 0; r < GL_PSI_N; r++) {
        if (s->psi_error[r])
            snprintf(psi[r], sizeof(psi[r]), "n/a");
        else
            fmt_bp(psi[r], sizeof(psi[r]), s->psi[r].some.avg10_bp);
    }
    fmt_u64(pods, sizeof(pods), st->pods);
    fmt_u64(files, sizeof(files), st->files_read);
    fmt_u64(errors, sizeof(errors), st->read_errors);
    gl_log_field f[] = {
        {"GUARDLET_EVENT", "tick"},
        {"GUARDLET_TICK", tick},
        {"GUARDLET_WAKE", wake},
        {"GUARDLET_DRY_RUN", d->cfg.guard.mode == GL_MODE_DRY_RUN ? "1" : "0"},
        {"GUARDLET_MEMORY_LEVEL", gl_mem_level_name(d->pressure.mem_level)},
        {"NODE_MEMORY_AVAILABLE_BYTES", avail},
        {"NODE_MEMORY_WORKING_SET_BYTES", ws},
        {"NODE_MEMORY_CAPACITY_BYTES", cap},
        {"NODE_MEMORY_KERNEL_AVAILABLE_BYTES", kavail},
        {"PSI_MEMORY_SOME_AVG10", psi[GL_PSI_MEMORY]},
        {"PSI_CPU_SOME_AVG10", psi[GL_PSI_CPU]},
        {"PSI_IO_SOME_AVG10", psi[GL_PSI_IO]},
        {"GUARDLET_PODS", pods},
        {"GUARDLET_FILES_READ", files},
        {"GUARDLET_READ_ERRORS", errors},
    };
    gl_log_fields(LOG_DEBUG, f, sizeof(f) / sizeof(f[0]), "Tick %s (%s)", tick, wake);
}

/* The node's pool label and the three Guardlet* conditions (API mode). Unchanged values are not
 * re-sent (the module compares with what was applied), so calling this every tick is cheap. */
static void report_node(gl_daemon *d) {
    char msg[256], avail[32], cap[32];
    struct timespec ts;

    if (!d->nodestatus)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    const char *pool = gl_config_pool_for(&d->cfg, d->sample.capacity_bytes, d->sample.cpus);
    if (d->cfg.pools.label[0])
        gl_nodestatus_set_label(d->nodestatus, d->cfg.pools.label, pool);
    if (!d->cfg.kubernetes.node_conditions)
        return;

    bool mem = d->pressure.mem_level >= GL_MEM_LEVEL_EVICT || d->pressure.mem_psi.sustained;
    gl_format_bytes(d->sample.available_bytes, avail, sizeof(avail));
    gl_format_bytes(d->sample.capacity_bytes, cap, sizeof(cap));
    snprintf(msg, sizeof(msg),
             "memory.available %s of %s, level %s, memory PSI some avg10 %u.%02u%%", avail, cap,
             gl_mem_level_name(d->pressure.mem_level),
             d->sample.psi[GL_PSI_MEMORY].some.avg10_bp / 100,
             d->sample.psi[GL_PSI_MEMORY].some.avg10_bp % 100);
    gl_nodestatus_set_condition(d->nodestatus, GL_NODE_COND_MEMORY, mem,
                                mem ? "GuardletMemoryLow" : "GuardletMemoryOK", msg, now);
    bool cpu = d->pressure.cpu_psi.sustained;
    snprintf(msg, sizeof(msg), "CPU PSI some avg10 %u.%02u%%",
             d->sample.psi[GL_PSI_CPU].some.avg10_bp / 100,
             d->sample.psi[GL_PSI_CPU].some.avg10_bp % 100);
    gl_nodestatus_set_condition(d->nodestatus, GL_NODE_COND_CPU, cpu,
                                cpu ? "GuardletCPUContended" : "GuardletCPUOK", msg, now);
    /* A fork bomb stopped within the last minute keeps the PID condition up for a while, so that
     * it is seen even though the bomb is gone. */
    bool pid = gl_guard_fork_bomb_recent(d->guard, gl_now_usec(), 60u * 1000000u);
    gl_nodestatus_set_condition(
        d->nodestatus, GL_NODE_COND_PID, pid, pid ? "GuardletForkBomb" : "GuardletPIDsOK",
        pid ? "a fork bomb was stopped within the last minute" : "no runaway process creation seen",
        now);
    gl_nodestatus_heartbeat(d->nodestatus, now);
}

/* One round of sense -> (later: decide -> act). wake says what started it, for the logs. */
/* Says when the pod watch starts or stops failing, and when the API server sent something that did
 * not decode or expired our watch: one line per change, never one per retry. */
static void log_api_health(gl_daemon *d, uint64_t now) {
    gl_kube_podwatch_stats st;
    if (!d->podwatch)
        return;
    gl_kube_podwatch_get_stats(d->podwatch, &st);
    /* An outage may have begun and ended between two ticks: it is still worth a line each. */
    if (st.outages > d->api_outages_seen) {
        gl_log_field f[] = {{"MESSAGE_ID", GL_MID_API_LOST},
                            {"GUARDLET_API_ERROR", st.last_err_msg}};
        gl_log_fields(LOG_WARNING, f, 2,
                      "API server %s: %s; retrying with backoff, local protection goes on",
                      d->creds->server, st.last_err_msg);
        if (!d->api_failing)
            d->api_failing_since_usec = now;
        d->api_failing = true;
    }
    d->api_outages_seen = st.outages;
    if (!st.failing && d->api_failing) {
        char secs[32];
        snprintf(secs, sizeof(secs), "%.1f", (double)(now - d->api_failing_since_usec) / 1e6);
        gl_log_field f[] = {{"MESSAGE_ID", GL_MID_API_BACK}, {"GUARDLET_API_DOWN_SEC", secs}};
        gl_log_fields(LOG_NOTICE, f, 2, "API server %s works again after %s s (%zu pods known)",
                      d->creds->server, secs, gl_kube_podwatch_count(d->podwatch));
        d->api_failing = false;
    }
    if (st.malformed > d->api_malformed_seen)
        gl_log_warning("Skipped %llu malformed object%s from the API server (last: %s)",
                       (unsigned long long)(st.malformed - d->api_malformed_seen),
                       st.malformed - d->api_malformed_seen == 1 ? "" : "s", st.last_malformed_msg);
    if (st.expired > d->api_expired_seen)
        gl_log_info("Pod watch expired (410 Gone): listing the pods again");
    d->api_malformed_seen = st.malformed;
    d->api_expired_seen = st.expired;
}

/* Interval, or the shorter FastInterval while node memory is short. */
static uint64_t tick_period(const gl_daemon *d) {
    const gl_config *c = &d->cfg;
    bool short_ = d->have_sample &&
                  (d->pressure.mem_level != GL_MEM_LEVEL_OK || d->pressure.mem_psi.sustained);
    return short_ && c->guard.fast_interval_usec < c->guard.interval_usec
               ? c->guard.fast_interval_usec
               : c->guard.interval_usec;
}

/* Moves the tick to the period the node's state calls for, saying so when it changes. */
static void retime_ticks(gl_daemon *d) {
    uint64_t want = tick_period(d);
    if (want == d->tick_period_usec)
        return;
    if (d->tick_period_usec) {
        char now[32], was[32];
        gl_format_duration(want, now, sizeof(now));
        gl_format_duration(d->tick_period_usec, was, sizeof(was));
        gl_log_info("%s: scanning every %s (was %s)",
                    want < d->cfg.guard.interval_usec ? "Memory is short" : "Memory is back", now,
                    was);
    }
    d->tick_period_usec = want;
    d->tick_timer.repeat = (ev_tstamp)want / 1e6;
    ev_timer_again(d->loop, &d->tick_timer);
}

static void daemon_tick(gl_daemon *d, const char *wake) {
    gl_node_sample s;
    gl_node_pressure_change chg;
    char status[256];
    uint64_t now = gl_now_usec();

    int r = gl_node_sample_read(d->cfg.guard.proc_root, now, &s);
    if (r < 0) {
        if (!d->sense_failing) {
            gl_log_field f[] = {{"MESSAGE_ID", GL_MID_SENSE_FAILED}};
            gl_log_fields(LOG_ERR, f, 1,
                          "Cannot read %s/meminfo: %s; skipping ticks until it works",
                          d->cfg.guard.proc_root, strerror(-r));
        }
        d->sense_failing = true;
        gl_exporter_sense_failed(d->exporter);
        return;
    }
    if (d->sense_failing)
        gl_log_notice("Reading %s/meminfo works again", d->cfg.guard.proc_root);
    d->sense_failing = false;
    log_psi_errors(d, &s);

    d->sample = s;
    d->have_sample = true;
    gl_node_pressure_update(&d->pressure, &d->cfg, &d->sample, &chg);
    log_pressure_changes(d, &chg);
    retime_ticks(d);

    gl_pods_scan_stats st = {0};
    if (d->pods) {
        /* Under memory pressure every pod's inactive_file must be fresh: the working sets are
         * what the choice of offender rests on. */
        bool hot = d->pressure.mem_level != GL_MEM_LEVEL_OK || d->pressure.mem_psi.sustained;
        if (gl_pods_scan(d->pods, now, hot, &st) < 0)
            gl_log_err("Out of memory while scanning pods; figures may be incomplete");
        log_scan(d, &st);
    }
    /* Decide and act on this tick's snapshot; every decision is logged inside. The outcomes feed
     * the metrics. */
    gl_guard_outcome outcomes[GL_POLICY_MAX_DECISIONS];
    size_t n_outcomes = 0;
    if (d->guard)
        n_outcomes = gl_guard_tick(d->guard, &d->cfg, &d->layout, &d->sample,
                                   d->layout.kubepods ? d->pods : NULL, true, true, outcomes,
                                   GL_POLICY_MAX_DECISIONS);
    report_node(d);
    log_api_health(d, now);

    d->ticks++;
    d->last_tick_done_usec = gl_now_usec();
    gl_exporter_tick_done(d->exporter, &(gl_exporter_tick){
                                           .sample = &d->sample,
                                           .pressure = &d->pressure,
                                           .pods = d->layout.kubepods ? d->pods : NULL,
                                           .podwatch = d->podwatch,
                                           .api_mode = d->kclient != NULL,
                                           .outcomes = outcomes,
                                           .n_outcomes = n_outcomes < GL_POLICY_MAX_DECISIONS
                                                             ? n_outcomes
                                                             : GL_POLICY_MAX_DECISIONS,
                                           .started_usec = now,
                                           .done_usec = d->last_tick_done_usec,
                                           .interval_usec = d->cfg.guard.interval_usec,
                                       });
    log_tick(d, wake, &st);

    gl_report_input in = report_input(d);
    gl_report_status_line(&in, status, sizeof(status));
    if (!d->ready) {
        sd_notifyf(0, "READY=1\nSTATUS=%s", status);
        d->ready = true;
    } else {
        sd_notifyf(0, "STATUS=%s", status);
    }
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    daemon_tick(w->data, "timer");
}

static void on_trigger(gl_psi_trigger *t, bool dead, void *userdata) {
    gl_daemon *d = userdata;
    int i = 0;
    while (i < TRIGGER_N - 1 && t != d->triggers[i])
        i++;

    if (dead) {
        gl_log_warning("PSI trigger on %s stopped working (the kernel reported an error); the "
                       "Interval tick alone watches %s pressure",
                       gl_psi_trigger_path(t), trigger_resource[i]);
        return;
    }
    if (gl_log_enabled(LOG_DEBUG)) {
        char fired[24];
        fmt_u64(fired, sizeof(fired), gl_psi_trigger_fired(t));
        gl_log_field f[] = {
            {"GUARDLET_EVENT", "psi-trigger"},
            {"GUARDLET_WAKE", wake_reason_trigger[i]},
            {"GUARDLET_TRIGGER_FIRED", fired},
        };
        gl_log_fields(LOG_DEBUG, f, sizeof(f) / sizeof(f[0]), "PSI trigger fired on %s",
                      gl_psi_trigger_path(t));
    }
    if (gl_now_usec() - d->last_tick_done_usec < MIN_TICK_GAP_USEC)
        return;
    daemon_tick(d, wake_reason_trigger[i]);
    /* The scheduled tick restarts from here so that the next one is a full Interval away. */
    ev_timer_again(d->loop, &d->tick_timer);
}

static void triggers_free(gl_daemon *d) {
    for (int i = 0; i < TRIGGER_N; i++) {
        gl_psi_trigger_free(d->triggers[i]);
        d->triggers[i] = NULL;
    }
}

/* Arms one trigger at its configured PressureLimit. Failure is never fatal: the Interval tick
 * still reads the same averages, only later. */
static void triggers_arm_one(gl_daemon *d, int i) {
    char path[4096];
    int r;

    gl_psi_trigger_free(d->triggers[i]);
    d->triggers[i] = NULL;
    /* A 0% limit would mean "any stall at all"; the kernel needs a positive threshold. */
    uint32_t bp = i == TRIGGER_CPU ? d->cfg.cpu.pressure_limit_bp : d->cfg.memory.pressure_limit_bp;
    bp = bp ? bp : 1;
    if (i == TRIGGER_KUBEPODS) {
        /* Only v2 has per-cgroup pressure files. */
        if (d->layout.version != GL_CGROUP_V2 || !d->layout.kubepods)
            return;
        r = snprintf(path, sizeof(path), "%s/%s/memory.pressure", d->layout.memory,
                     d->layout.kubepods);
    } else {
        r = snprintf(path, sizeof(path), "%s/pressure/%s", d->cfg.guard.proc_root,
                     i == TRIGGER_CPU ? "cpu" : "memory");
    }
    if (r >= (int)sizeof(path))
        return;
    r = gl_psi_trigger_new(d->loop, path, bp, on_trigger, d, &d->triggers[i]);
    if (r < 0) {
        if (!d->trigger_notice_logged[i])
            gl_log_notice("PSI trigger on %s unavailable: %s; the Interval tick alone watches "
                          "%s pressure",
                          path, r == -EOPNOTSUPP ? "the file takes no triggers" : strerror(-r),
                          trigger_resource[i]);
        d->trigger_notice_logged[i] = true;
        return;
    }
    gl_psi_trigger_start(d->triggers[i]);
    if (gl_psi_trigger_window_usec(d->triggers[i]) != GL_PSI_TRIGGER_FAST_WINDOW_USEC &&
        !d->slow_window_logged) {
        gl_log_notice("PSI triggers use a 2 s window: the kernel refused a 1 s window "
                      "(sub-second windows need CAP_SYS_RESOURCE)");
        d->slow_window_logged = true;
    }
    gl_log_info("PSI trigger armed on %s: some %" PRIu64 "ms stall within %" PRIu64 "ms", path,
                gl_psi_trigger_stall_usec(d->triggers[i]) / 1000,
                gl_psi_trigger_window_usec(d->triggers[i]) / 1000);
}

static void triggers_arm(gl_daemon *d) {
    for (int i = 0; i < TRIGGER_N; i++)
        triggers_arm_one(d, i);
}

/* Applies d->cfg to the running loop: timers, triggers, names. */
static void daemon_apply_config(gl_daemon *d) {
    gl_pods_params pp = {
        .leak_window_usec = d->cfg.runaway.leak_window_usec,
        .min_growth_per_sec = d->cfg.runaway.min_growth_rate_bytes,
    };

    gl_node_name_resolve(&d->cfg, d->node_name, sizeof(d->node_name));
    /* A new cgroup root means a new view of every pod; otherwise pods keep their history. */
    if (!d->layout.root || strcmp(d->layout.root, d->cfg.guard.cgroup_root) != 0) {
        gl_pods_free(d->pods);
        d->pods = NULL;
        gl_cgroup_layout_free(&d->layout);
        d->kubepods_logged = false;
        if (gl_cgroup_layout_discover(d->cfg.guard.cgroup_root, &d->layout) < 0 ||
            gl_pods_new(&d->layout, &pp, &d->pods) < 0)
            gl_log_err("Out of memory setting up the pod view; pods are not watched");
    } else if (d->pods) {
        gl_pods_set_params(d->pods, &pp);
    }
    d->cgroup_version = (int)d->layout.version;
    d->tick_period_usec = 0; /* a new Interval or FastInterval: set again, quietly */
    retime_ticks(d);
    triggers_arm(d);
    gl_exporter_listen(d->exporter, d->cfg.guard.metrics_listen);
}

/* What the status socket shows, gathered per request (status.h). */
static void status_view(void *userdata, gl_status_view *v) {
    gl_daemon *d = userdata;
    *v = (gl_status_view){
        .node_name = d->node_name,
        .pool = gl_config_pool_for(&d->cfg, d->sample.capacity_bytes, d->sample.cpus),
        .config = &d->cfg,
        .cgroup_version = d->cgroup_version,
        .podwatch = d->podwatch,
        .can_evict = d->evictor != NULL,
        .ticks = d->ticks,
        .last_tick_usec = d->last_tick_done_usec,
        .sample = d->have_sample ? &d->sample : NULL,
        .pressure = &d->pressure,
        .guard = d->guard,
    };
}

static void daemon_reload(gl_daemon *d) {
    gl_config next;
    gl_config_errors errs = {0};
    char status[256];

    sd_notify(0, "RELOADING=1\nSTATUS=Reloading configuration");
    int r = gl_options_load_config(d->opts, &next, &errs);
    if (r < 0) {
        for (size_t i = 0; i < errs.n; i++) {
            char line[16];
            snprintf(line, sizeof(line), "%u", errs.v[i].line);
            gl_log_field f[] = {
                {"MESSAGE_ID", GL_MID_RELOAD_FAILED},
                {"CONFIG_FILE", errs.v[i].file},
                {"CONFIG_LINE", line},
            };
            gl_log_fields(LOG_ERR, f, sizeof(f) / sizeof(f[0]), "%s:%u: %s", errs.v[i].file,
                          errs.v[i].line, errs.v[i].message);
        }
        gl_log_field f[] = {{"MESSAGE_ID", GL_MID_RELOAD_FAILED}};
        gl_log_fields(
            LOG_ERR, f, 1,
            "Configuration reload failed (%zu error%s); keeping the running configuration", errs.n,
            errs.n == 1 ? "" : "s");
        gl_config_errors_free(&errs);
    } else {
        gl_config_free(&d->cfg);
        d->cfg = next;
        daemon_apply_config(d);
        gl_status_server_apply(d->loop, &d->status, d->cfg.guard.status_socket, status_view, d);
        char interval[32];
        gl_format_duration(d->cfg.guard.interval_usec, interval, sizeof(interval));
        gl_log_field f[] = {
            {"MESSAGE_ID", GL_MID_RELOADED},
            {"GUARDLET_MODE", d->cfg.guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforce"},
        };
        gl_log_fields(LOG_NOTICE, f, sizeof(f) / sizeof(f[0]),
                      "Configuration reloaded: mode %s, interval %s",
                      d->cfg.guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforce", interval);
    }
    if (d->have_sample) {
        gl_report_input in = report_input(d);
        gl_report_status_line(&in, status, sizeof(status));
    } else {
        snprintf(status, sizeof(status), "Starting");
    }
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
    gl_daemon *d = w->data;
    (void)revents;

    if (w->signum == SIGHUP) {
        gl_log_info("SIGHUP received: reloading configuration");
        daemon_reload(d);
        return;
    }
    gl_log_field f[] = {{"MESSAGE_ID", GL_MID_STOPPED}};
    gl_log_fields(LOG_NOTICE, f, 1, "Stopping on %s", w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
    sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
    if (d->guard && d->pods)
        gl_guard_release_all(d->guard, &d->layout, d->pods);
    d->exit_code = GL_EXIT_OK;
    ev_break(loop, EVBREAK_ALL);
}

/* Pings systemd only while ticks keep completing: a loop that runs but no longer senses anything
 * (stuck reads, a broken tick) must be restarted, not kept alive. Twice the Interval leaves room
 * for one tick that runs late. */
static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents) {
    gl_daemon *d = w->data;
    (void)loop;
    (void)revents;

    if (d->last_tick_done_usec &&
        gl_now_usec() - d->last_tick_done_usec <= 2 * d->cfg.guard.interval_usec)
        sd_notify(0, "WATCHDOG=1");
}

int gl_daemon_new(const gl_options *opts, const gl_config *cfg, gl_daemon **out) {
    gl_daemon *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->opts = opts;
    if (gl_config_copy(&d->cfg, cfg) < 0) {
        gl_daemon_free(d);
        return -ENOMEM;
    }
    d->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!d->loop || gl_guard_new(cfg->guard.proc_root, &d->guard) < 0 ||
        gl_exporter_new(d->loop, &d->exporter) < 0) {
        gl_daemon_free(d);
        return -ENOMEM;
    }
    ev_init(&d->tick_timer, on_tick);
    d->tick_timer.data = d;
    ev_init(&d->watchdog_timer, on_watchdog);
    d->watchdog_timer.data = d;
    ev_signal_init(&d->sig_hup, on_signal, SIGHUP);
    ev_signal_init(&d->sig_term, on_signal, SIGTERM);
    ev_signal_init(&d->sig_int, on_signal, SIGINT);
    d->sig_hup.data = d->sig_term.data = d->sig_int.data = d;
    *out = d;
    return 0;
}

void gl_daemon_free(gl_daemon *d) {
    if (!d)
        return;
    triggers_free(d);
    if (d->loop)
        ev_timer_stop(d->loop, &d->creds_timer);
    if (d->guard) {
        gl_guard_set_api(d->guard, NULL, NULL);
        gl_guard_set_events(d->guard, NULL);
    }
    gl_events_free(d->events);
    gl_nodestatus_free(d->nodestatus);
    gl_evictor_free(d->evictor);
    gl_kube_podwatch_free(d->podwatch);
    gl_kube_client_free(d->kclient);
    gl_kube_creds_free(d->creds);
    gl_status_server_free(d->status);
    gl_guard_free(d->guard);
    gl_pods_free(d->pods);
    gl_cgroup_layout_free(&d->layout);
    gl_exporter_free(d->exporter);
    if (d->loop)
        ev_loop_destroy(d->loop);
    gl_config_free(&d->cfg);
    free(d);
}

int gl_api_creds_load(const gl_config *c, gl_kube_creds **out, char *err, size_t err_size) {
    if (c->kubernetes.kubeconfig[0])
        return gl_kubeconfig_load(c->kubernetes.kubeconfig, NULL, out, err, err_size);
    if (getenv("KUBERNETES_SERVICE_HOST"))
        return gl_kube_in_cluster(NULL, out, err, err_size);
    *out = NULL;
    return 1;
}

/*
 * Credentials rotate on disk: the kubelet renews its client certificate, a projected service
 * account token is replaced every hour, a CA bundle is updated. When any file the credentials came
 * from changed, everything is read again and the client moves to the new set; a set that does not
 * load (a half-written file) is reported and the old one kept. Returns 1 when the client now uses
 * new credentials, 0 when nothing changed, -1 when the new files could not be used.
 */
static int creds_refresh(gl_daemon *d, const char *why) {
    char err[GL_KUBE_ERR_SIZE];
    gl_kube_creds *next = NULL;

    if (!d->kclient || !gl_kube_creds_changed(d->creds))
        return 0;
    int r = gl_api_creds_load(&d->cfg, &next, err, sizeof(err));
    if (r == 0 && gl_kube_client_set_creds(d->kclient, next) < 0) {
        snprintf(err, sizeof(err), "the client could not take them (out of memory?)");
        r = -1;
    }
    if (r < 0) {
        gl_kube_creds_free(next);
        gl_log_warning("Credential files changed (%s) but cannot be used: %s; keeping the "
                       "credentials in use",
                       why, err);
        return -1;
    }
    gl_kube_creds_free(d->creds);
    d->creds = next;
    gl_log_notice("Credential files changed (%s): %s read again, new requests use them", why,
                  d->creds->source);
    return 1;
}

static void on_creds_timer(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    creds_refresh(w->data, "periodic check");
}

static bool on_unauthorized(gl_kube_client *c, void *userdata) {
    gl_daemon *d = userdata;
    char err[256];
    (void)c;
    /* A rotated certificate, CA or token file: read everything again and try once more. */
    int r = creds_refresh(d, "after a 401");
    if (r != 0)
        return r > 0;
    /* A token file rewritten in place within the same second looks unchanged to stat: re-read the
     * token itself, which is cheap. */
    r = gl_kube_creds_reload_token(d->creds, err, sizeof(err));
    if (r < 0)
        gl_log_warning("API server said 401 and the token could not be re-read: %s", err);
    return r > 0;
}

static void on_pod_change(gl_kube_podwatch *w, gl_kube_pod_change change, const gl_kube_pod *pod,
                          void *userdata) {
    (void)userdata;
    if (change == GL_KUBE_POD_SYNCED)
        gl_log_info("Pod metadata from the API server: %zu pods on this node",
                    gl_kube_podwatch_count(w));
    else if (pod && gl_log_enabled(LOG_DEBUG))
        gl_log_debug("Pod %s/%s %s", pod->namespace_, pod->name,
                     change == GL_KUBE_POD_ADDED     ? "added"
                     : change == GL_KUBE_POD_DELETED ? "deleted"
                                                     : "updated");
}

/* Connects to the API server when one is configured. Any failure leaves guardlet in local mode:
 * local protection never waits for, or depends on, the API server. */
static void api_setup(gl_daemon *d) {
    char err[GL_KUBE_ERR_SIZE];

    if (d->opts->no_api)
        return;
    int r = gl_api_creds_load(&d->cfg, &d->creds, err, sizeof(err));
    if (r > 0) {
        gl_log_notice("No kubeconfig and not in a cluster: local mode (no names, no evictions)");
        return;
    }
    if (r < 0) {
        gl_log_err("Cannot use the API server: %s; running in local mode", err);
        return;
    }
    if (gl_kube_client_new(d->loop, d->creds, &d->kclient) < 0 ||
        gl_kube_podwatch_new(d->kclient, d->node_name, on_pod_change, d, &d->podwatch) < 0 ||
        gl_evictor_new(d->kclient, &d->evictor) < 0 || gl_kube_podwatch_start(d->podwatch) < 0) {
        gl_log_err("Cannot start the API client for node %s; running in local mode", d->node_name);
        gl_evictor_free(d->evictor);
        gl_kube_podwatch_free(d->podwatch);
        gl_kube_client_free(d->kclient);
        d->evictor = NULL;
        d->podwatch = NULL;
        d->kclient = NULL;
        return;
    }
    gl_kube_client_set_unauthorized_cb(d->kclient, on_unauthorized, d);
    gl_kube_client_set_observer(d->kclient, gl_exporter_api_request, d->exporter);
    gl_guard_set_result_cb(d->guard, gl_exporter_eviction_result, d->exporter);
    ev_timer_init(&d->creds_timer, on_creds_timer, creds_check_sec(), creds_check_sec());
    d->creds_timer.data = d;
    ev_timer_start(d->loop, &d->creds_timer);
    gl_guard_set_api(d->guard, d->podwatch, d->evictor);
    /* Labels, conditions and events are reports: failing to set them up costs visibility, never
     * protection, so each is optional. */
    if (gl_nodestatus_new(d->kclient, d->node_name, &d->nodestatus) < 0)
        gl_log_warning("Cannot report node labels and conditions for %s", d->node_name);
    if (d->cfg.kubernetes.events && gl_events_new(d->kclient, d->node_name, &d->events) < 0)
        gl_log_warning("Cannot report events");
    gl_guard_set_events(d->guard, d->events);
    gl_log_notice("API mode: %s, watching the pods of node %s", d->creds->server, d->node_name);
}

/* Each pod keeps three cgroup files open (FIELD-NOTES: cached fds read ~2x faster than
 * open/read/close), so hundreds of pods outgrow the usual soft limit of 1024. The hard limit is
 * what the unit allows (LimitNOFILE=65536); take all of it. */
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
        gl_log_debug("Raised the open file limit from %llu to %llu", (unsigned long long)old,
                     (unsigned long long)rl.rlim_max);
}

int gl_daemon_run(gl_daemon *d) {
    char interval[32];
    gl_node_sample probe;
    uint64_t wd = 0;

    /* Node memory is the one thing guardlet cannot work without: say so and stop (exit 3). */
    int r = gl_node_sample_read(d->cfg.guard.proc_root, gl_now_usec(), &probe);
    if (r < 0) {
        gl_log_crit("Cannot read %s/meminfo: %s; guardlet needs the kernel's memory figures",
                    d->cfg.guard.proc_root, strerror(-r));
        return GL_EXIT_MISSING;
    }

    /* A shell starts background jobs with SIGINT ignored, and libev's signalfd path only blocks
     * signals: an inherited SIG_IGN would make the watcher deaf. Block first (so nothing arrives
     * with the default action in between), then restore the default disposition. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    /* Before the loop starts allocating: read at start only, a reload does not unlock. */
    if (d->cfg.guard.lock_memory)
        gl_memlock_apply();
    ev_signal_start(d->loop, &d->sig_hup);
    ev_signal_start(d->loop, &d->sig_term);
    ev_signal_start(d->loop, &d->sig_int);
    /* Before anything else runs: a second guardlet on the same node must not start at all. */
    r = gl_status_server_apply(d->loop, &d->status, d->cfg.guard.status_socket, status_view, d);
    if (r < 0)
        return GL_EXIT_MISSING;
    daemon_apply_config(d);
    api_setup(d);

    gl_format_duration(d->cfg.guard.interval_usec, interval, sizeof(interval));
    gl_log_field f[] = {
        {"MESSAGE_ID", GL_MID_STARTED},
        {"GUARDLET_MODE", d->cfg.guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforce"},
        {"GUARDLET_VERSION", GL_VERSION},
    };
    gl_log_fields(
        LOG_NOTICE, f, sizeof(f) / sizeof(f[0]),
        "guardlet %s started on node %s: mode %s, interval %s, %s, proc %s, cgroup %s (v%d)",
        GL_VERSION, d->node_name, d->cfg.guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforce",
        interval, d->evictor ? "API mode" : "local mode", d->cfg.guard.proc_root,
        d->cfg.guard.cgroup_root, d->cgroup_version);
    if (d->cgroup_version == 0)
        gl_log_warning("No cgroup hierarchy recognised under %s", d->cfg.guard.cgroup_root);

    if (sd_watchdog_enabled(0, &wd) > 0 && wd > 0) {
        d->watchdog_usec = wd;
        ev_timer_init(&d->watchdog_timer, on_watchdog, (ev_tstamp)wd / 2e6, (ev_tstamp)wd / 2e6);
        d->watchdog_timer.data = d;
        ev_timer_start(d->loop, &d->watchdog_timer);
        if (wd < 2 * d->cfg.guard.interval_usec)
            gl_log_warning("WatchdogSec is shorter than two Intervals; systemd may restart "
                           "guardlet between ticks");
    }

    /* The first tick runs at once so that READY=1 comes with real figures. */
    daemon_tick(d, "start");
    d->exit_code = GL_EXIT_OK;
    ev_run(d->loop, 0);
    return d->exit_code;
}
