/* test_pods.c: Check suite for the pod scanner on fixture trees of all four kubelet layouts. */
#include "guardlet/pods.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgfixture.h"
#include "testutil.h"

#define SEC 1000000ull
#define MiB (1024ull * 1024)

static cgf *fx;
static gl_cgroup_layout layout;
static gl_pods *pods;
static const gl_pods_params params = {.leak_window_usec = 600 * SEC, .min_growth_per_sec = MiB};

/* Fixtures go inside one folder per test case, made and removed by the unchecked fixture in the
 * parent process: a failed assertion ends a forked test without its teardown, and this still
 * cleans up after it. */
static char base[128];

static void base_setup(void) {
    gl_test_tmpdir(base, sizeof(base), "pods");
}

static void base_teardown(void) {
    gl_test_rmtree(base);
}

static void setup(void) {
    fx = NULL;
    pods = NULL;
    memset(&layout, 0, sizeof(layout));
}

static void teardown(void) {
    gl_pods_free(pods);
    pods = NULL;
    gl_cgroup_layout_free(&layout);
    memset(&layout, 0, sizeof(layout));
    cgf_free(fx);
    fx = NULL;
}

static cgf_layout lay(void) {
    return cgf_get_layout(fx);
}

static bool v1(void) {
    return cgf_layout_is_v1(lay());
}

/* Discovers the fixture's layout and makes the scanner. */
static void start(void) {
    ck_assert_int_eq(gl_cgroup_layout_discover(cgf_root(fx), &layout), 0);
    ck_assert_ptr_nonnull(layout.kubepods);
    ck_assert_int_eq(gl_pods_new(&layout, &params, &pods), 0);
    ck_assert_ptr_nonnull(pods);
}

static cgf_pod *add(unsigned n, gl_qos q, const cgf_figures *fig) {
    char uid[GL_POD_UID_LEN + 1];
    cgf_figures ex;
    cgf_pod *p;

    if (!fig) {
        cgf_figures_example(&ex, n);
        fig = &ex;
    }
    cgf_uid(n, uid);
    ck_assert_int_eq(cgf_add_pod(fx, uid, q, fig, &p), 0);
    return p;
}

/* The container runtime a layout's driver would use: systemd scopes are named by runtime. */
static gl_runtime rt_for(gl_runtime want) {
    return cgf_layout_is_systemd(lay()) ? want : GL_RUNTIME_PLAIN;
}

static void scan(uint64_t t, bool hot_all, gl_pods_scan_stats *st) {
    gl_pods_scan_stats local;
    if (!st)
        st = &local;
    memset(st, 0xa5, sizeof(*st)); /* the scan must fill every field */
    ck_assert_int_eq(gl_pods_scan(pods, t, hot_all, st), 0);
}

static gl_pod *find(const cgf_pod *p) {
    gl_pod *g = gl_pods_find(pods, cgf_pod_uid(p));
    ck_assert_msg(g != NULL, "pod %s not found (%s)", cgf_pod_uid(p), cgf_layout_name(lay()));
    return g;
}

static uint64_t sub0(uint64_t a, uint64_t b) {
    return a > b ? a - b : 0;
}

/* Every figure of a sample against what the fixture wrote. */
static void assert_sample(const gl_pod_sample *s, const cgf_figures *f, uint64_t t) {
    ck_assert_uint_eq(s->t_usec, t);
    ck_assert_uint_eq(s->memory_current_bytes, f->memory_current);
    ck_assert_uint_eq(s->memory_inactive_file_bytes, f->inactive_file); /* v1: total_ */
    ck_assert_uint_eq(s->memory_working_set_bytes, sub0(f->memory_current, f->inactive_file));
    ck_assert_uint_eq(s->memory_max_bytes,
                      f->memory_max == CGF_UNLIMITED ? GL_CGROUP_UNLIMITED : f->memory_max);
    if (v1()) {
        ck_assert_uint_eq(s->memory_high_bytes, GL_CGROUP_UNLIMITED);
        ck_assert_uint_eq(s->oom_events, 0);
    } else {
        ck_assert_uint_eq(s->memory_high_bytes,
                          f->memory_high == CGF_UNLIMITED ? GL_CGROUP_UNLIMITED : f->memory_high);
        ck_assert_uint_eq(s->oom_events, f->oom);
    }
    ck_assert_uint_eq(s->oom_kill_events, f->oom_kill);
    ck_assert_uint_eq(s->cpu_usage_usec, f->cpu_usage_usec); /* v1: cpuacct.usage ns / 1000 */
    ck_assert_uint_eq(s->cpu_nr_periods, f->cpu_nr_periods);
    ck_assert_uint_eq(s->cpu_nr_throttled, f->cpu_nr_throttled);
    ck_assert_uint_eq(s->cpu_throttled_usec, f->cpu_throttled_usec); /* v1: throttled_time ns */
    ck_assert_uint_eq(s->pids_current, f->pids_current);
    ck_assert_uint_eq(s->pids_max,
                      f->pids_max == CGF_UNLIMITED ? GL_CGROUP_UNLIMITED : f->pids_max);
    ck_assert_int_eq(s->has_psi, !v1());
    if (!v1()) {
        for (int r = 0; r < GL_PSI_N; r++) {
            ck_assert_uint_eq(s->psi[r].some.avg10_bp, f->psi[r].some_avg10_bp);
            ck_assert_uint_eq(s->psi[r].some.total_usec, f->psi[r].some_total_usec);
            ck_assert(s->psi[r].has_full);
            ck_assert_uint_eq(s->psi[r].full.avg10_bp, f->psi[r].full_avg10_bp);
            ck_assert_uint_eq(s->psi[r].full.total_usec, f->psi[r].full_total_usec);
        }
    }
}

static void assert_containers(const gl_pod *g, const cgf_pod *p) {
    size_t n = cgf_pod_n_containers(p);

    ck_assert_uint_eq(g->n_containers, n);
    for (size_t i = 0; i < n; i++) {
        size_t hits = 0;
        for (size_t j = 0; j < g->n_containers; j++) {
            if (strcmp(g->containers[j].id, cgf_pod_container_id(p, i)) != 0)
                continue;
            hits++;
            ck_assert_int_eq(g->containers[j].runtime, cgf_pod_container_runtime(p, i));
        }
        ck_assert_msg(hits == 1, "container %s seen %zu times", cgf_pod_container_id(p, i), hits);
    }
}

static void assert_pod(const cgf_pod *p, uint64_t t) {
    gl_pod *g = find(p);
    ck_assert_str_eq(g->uid, cgf_pod_uid(p));
    ck_assert_int_eq(g->qos, cgf_pod_qos(p));
    ck_assert_ptr_nonnull(g->cgroup);
    ck_assert_str_eq(g->cgroup, cgf_pod_cgroup(p));
    assert_containers(g, p);
    assert_sample(&g->cur, cgf_pod_figures(p), t);
}

static size_t count_fds(void) {
    size_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Three pods, one per QoS class, with containers of every runtime the driver allows and the odd
 * entries a scanner must skip. */
static cgf_pod *pg, *pb, *pbe;

static void three_pods(void) {
    cgf_figures f;

    cgf_figures_example(&f, 0);
    f.memory_max = 256 * MiB;
    f.pids_max = 1024;
    pg = add(0, GL_QOS_GUARANTEED, &f);
    ck_assert_int_eq(cgf_add_container(fx, pg, rt_for(GL_RUNTIME_CONTAINERD), NULL), 0);
    ck_assert_int_eq(cgf_add_container(fx, pg, rt_for(GL_RUNTIME_CONTAINERD), NULL), 0);

    cgf_figures_example(&f, 1);
    f.memory_max = CGF_UNLIMITED;
    f.memory_high = 384 * MiB;
    pb = add(1, GL_QOS_BURSTABLE, &f);
    ck_assert_int_eq(cgf_add_container(fx, pb, rt_for(GL_RUNTIME_CRIO), NULL), 0);
    ck_assert_int_eq(cgf_add_container(fx, pb, rt_for(GL_RUNTIME_CRIO), NULL), 0);
    ck_assert_int_eq(cgf_add_container(fx, pb, rt_for(GL_RUNTIME_DOCKER), NULL), 0);

    /* BestEffort: no limits, and inactive_file above usage (the working set floors at 0). */
    cgf_figures_example(&f, 2);
    f.memory_max = CGF_UNLIMITED;
    f.pids_max = CGF_UNLIMITED;
    f.memory_current = 20 * MiB;
    f.inactive_file = 24 * MiB;
    pbe = add(2, GL_QOS_BESTEFFORT, &f);
    ck_assert_int_eq(cgf_add_container(fx, pbe, rt_for(GL_RUNTIME_DOCKER), NULL), 0);

    ck_assert_int_eq(cgf_add_odd_entries(fx, pg), 0);
}

START_TEST(test_first_scan_figures) {
    gl_pods_scan_stats st;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    three_pods();
    start();
    ck_assert_uint_eq(gl_pods_count(pods), 0);
    /* The first scan reads everything, even without hot_all: a new pod has no older figures. */
    scan(7 * SEC, false, &st);
    ck_assert_uint_eq(st.pods, 3);
    ck_assert_uint_eq(st.added, 3);
    ck_assert_uint_eq(st.removed, 0);
    ck_assert_uint_eq(st.read_errors, 0);
    ck_assert(st.kubepods_found);
    ck_assert_uint_gt(st.files_read, 0);
    ck_assert_uint_eq(gl_pods_count(pods), 3);

    assert_pod(pg, 7 * SEC);
    assert_pod(pb, 7 * SEC);
    assert_pod(pbe, 7 * SEC);
    ck_assert_uint_eq(find(pbe)->cur.memory_working_set_bytes, 0);

    for (size_t i = 0; i < gl_pods_count(pods); i++) {
        gl_pod *g = gl_pods_at(pods, i);
        ck_assert_ptr_nonnull(g);
        ck_assert(!g->has_prev);
        ck_assert_uint_eq(g->first_seen_usec, 7 * SEC);
        ck_assert_uint_eq(g->cpu_usage_millicores, 0);
        ck_assert_uint_eq(g->cpu_throttled_bp, 0);
        ck_assert_uint_eq(g->psi_memory_some_delta_usec, 0);
        ck_assert_uint_eq(g->psi_cpu_some_delta_usec, 0);
        ck_assert_uint_eq(g->growth.n_points, 0);
        ck_assert_uint_ge(g->history.n, 1);
        ck_assert_uint_eq(gl_history_at(&g->history, g->history.n - 1)->value,
                          g->cur.memory_working_set_bytes);
    }
    /* The odd entries are not pods. */
    ck_assert_ptr_null(gl_pods_find(pods, cgf_odd_uid()));
    ck_assert_ptr_null(gl_pods_find(pods, "not-a-uid"));
    ck_assert_uint_gt(gl_pods_open_fds(pods), 0);
}
END_TEST

/* CPU figures over an interval. v2's cpu.stat is read every tick; v1 splits usage (cpuacct.usage,
 * every tick) from throttling (cpu.stat, slow tier), so v1 scans here ask for hot_all to read
 * both. */
START_TEST(test_derived_cpu) {
    gl_pods_scan_stats st;
    cgf_figures f0, f1;
    const uint64_t t0 = 100 * SEC;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    three_pods();
    start();
    scan(t0, false, NULL);
    f0 = *cgf_pod_figures(pb);
    f1 = f0;
    f1.cpu_usage_usec += 500000;
    f1.cpu_nr_periods += 100;
    f1.cpu_nr_throttled += 25;
    f1.cpu_throttled_usec += 40000;
    ck_assert_int_eq(cgf_update(fx, pb, &f1), 0);

    scan(t0 + SEC, v1(), &st);
    ck_assert_uint_eq(st.read_errors, 0);
    gl_pod *g = find(pb);
    ck_assert(g->has_prev);
    ck_assert_uint_eq(g->prev.t_usec, t0);
    ck_assert_uint_eq(g->prev.cpu_usage_usec, f0.cpu_usage_usec);
    ck_assert_uint_eq(g->prev.cpu_nr_periods, f0.cpu_nr_periods);
    ck_assert_uint_eq(g->cur.t_usec, t0 + SEC);
    ck_assert_uint_eq(g->cur.cpu_usage_usec, f1.cpu_usage_usec);
    ck_assert_uint_eq(g->cur.cpu_nr_periods, f1.cpu_nr_periods);
    ck_assert_uint_eq(g->cur.cpu_nr_throttled, f1.cpu_nr_throttled);
    ck_assert_uint_eq(g->cur.cpu_throttled_usec, f1.cpu_throttled_usec);
    ck_assert_uint_eq(g->cpu_usage_millicores, 500);
    ck_assert_uint_eq(g->cpu_throttled_bp, 2500);
    /* Pods whose counters did not move. */
    ck_assert(find(pg)->has_prev);
    ck_assert_uint_eq(find(pg)->cpu_usage_millicores, 0);
    ck_assert_uint_eq(find(pg)->cpu_throttled_bp, 0);

    /* cpu.stat read again and no period ran: nothing was throttled over this interval (and no
     * division by zero). An idle pod must not keep its old throttling ratio. */
    scan(t0 + 2 * SEC, v1(), NULL);
    g = find(pb);
    ck_assert_uint_eq(g->cpu_usage_millicores, 0);
    ck_assert_uint_eq(g->cpu_throttled_bp, 0);

    /* 3 CPU-seconds over 2 s; every period throttled. */
    f1.cpu_usage_usec += 3000000;
    f1.cpu_nr_periods += 20;
    f1.cpu_nr_throttled += 20;
    ck_assert_int_eq(cgf_update(fx, pb, &f1), 0);
    scan(t0 + 4 * SEC, v1(), NULL);
    g = find(pb);
    ck_assert_uint_eq(g->prev.t_usec, t0 + 2 * SEC);
    ck_assert_uint_eq(g->cpu_usage_millicores, 1500);
    ck_assert_uint_eq(g->cpu_throttled_bp, 10000);
}
END_TEST

/* Without hot_all: CPU usage is fresh every tick on both versions; v1's throttling counters catch
 * up within GL_PODS_SLOW_EVERY ticks and the ratio of the interval they moved in is kept. */
START_TEST(test_cpu_without_hot_all) {
    gl_pods_scan_stats st;
    cgf_figures f;
    uint64_t t = 10 * SEC;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    three_pods();
    start();
    scan(t, false, NULL);
    f = *cgf_pod_figures(pb);
    f.cpu_nr_periods += 100;
    f.cpu_nr_throttled += 25;
    f.cpu_throttled_usec += 40000;
    ck_assert_int_eq(cgf_update(fx, pb, &f), 0);
    for (unsigned k = 0; k < GL_PODS_SLOW_EVERY; k++) {
        f = *cgf_pod_figures(pb);
        f.cpu_usage_usec += 200000;
        ck_assert_int_eq(cgf_update(fx, pb, &f), 0);
        t += SEC;
        scan(t, false, &st);
        ck_assert_uint_eq(st.read_errors, 0);
        gl_pod *g = find(pb);
        ck_assert_uint_eq(g->cur.cpu_usage_usec, f.cpu_usage_usec);
        ck_assert_uint_eq(g->cpu_usage_millicores, 200);
        if (!v1()) {
            ck_assert_uint_eq(g->cur.cpu_nr_periods, f.cpu_nr_periods);
            ck_assert_uint_eq(g->cpu_throttled_bp, k == 0 ? 2500 : 0);
        }
    }
    gl_pod *g = find(pb);
    ck_assert_uint_eq(g->cur.cpu_nr_periods, f.cpu_nr_periods);
    ck_assert_uint_eq(g->cur.cpu_nr_throttled, f.cpu_nr_throttled);
    ck_assert_uint_eq(g->cur.cpu_throttled_usec, f.cpu_throttled_usec);
    if (v1())
        ck_assert_uint_eq(g->cpu_throttled_bp, 2500);
}
END_TEST

/* With hot_all the slow tier (memory.stat, memory.events, memory and cpu PSI) is read on every pod
 * every scan: PSI totals give stall deltas over exactly one interval. */
START_TEST(test_derived_psi_hot) {
    gl_pods_scan_stats st;
    cgf_figures f0, f1;
    const uint64_t t0 = 50 * SEC;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    three_pods();
    start();
    scan(t0, true, NULL);
    f0 = *cgf_pod_figures(pb);
    f1 = f0;
    f1.psi[CGF_PSI_MEMORY].some_total_usec += 250000;
    f1.psi[CGF_PSI_MEMORY].some_avg10_bp = 2500;
    f1.psi[CGF_PSI_MEMORY].full_total_usec += 100000;
    f1.psi[CGF_PSI_CPU].some_total_usec += 100000;
    f1.cpu_usage_usec += 250000;
    f1.oom_kill += 2;
    f1.oom += 2;
    f1.memory_current += 10 * MiB;
    f1.inactive_file += 3 * MiB;
    f1.pids_current += 5;
    ck_assert_int_eq(cgf_update(fx, pb, &f1), 0);

    scan(t0 + SEC, true, &st);
    ck_assert_uint_eq(st.read_errors, 0);
    gl_pod *g = find(pb);
    assert_sample(&g->prev, &f0, t0);
    assert_sample(&g->cur, &f1, t0 + SEC);
    ck_assert_uint_eq(g->cpu_usage_millicores, 250);
    if (v1()) {
        ck_assert_uint_eq(g->psi_memory_some_delta_usec, 0);
        ck_assert_uint_eq(g->psi_cpu_some_delta_usec, 0);
    } else {
        ck_assert_uint_eq(g->psi_memory_some_delta_usec, 250000);
        ck_assert_uint_eq(g->psi_cpu_some_delta_usec, 100000);
        ck_assert_uint_eq(g->psi_span_usec, SEC);
    }
    g = find(pg);
    ck_assert_uint_eq(g->psi_memory_some_delta_usec, 0);
    ck_assert_uint_eq(g->psi_cpu_some_delta_usec, 0);
    assert_sample(&g->cur, cgf_pod_figures(pg), t0 + SEC);

    /* Without hot_all the next PSI read covers however many ticks passed since the last one. */
    if (!v1()) {
        f1.psi[CGF_PSI_MEMORY].some_total_usec += 70000;
        ck_assert_int_eq(cgf_update(fx, pb, &f1), 0);
        uint64_t t = t0 + SEC;
        for (unsigned k = 0; k < GL_PODS_SLOW_EVERY; k++) {
            t += SEC;
            scan(t, false, NULL);
            g = find(pb);
            if (g->cur.psi[GL_PSI_MEMORY].some.total_usec == f1.psi[CGF_PSI_MEMORY].some_total_usec)
                break;
        }
        ck_assert_uint_eq(g->cur.psi[GL_PSI_MEMORY].some.total_usec,
                          f1.psi[CGF_PSI_MEMORY].some_total_usec);
        ck_assert_uint_eq(g->psi_memory_some_delta_usec, 70000);
        ck_assert_uint_eq(g->psi_span_usec, t - (t0 + SEC));
    }
}
END_TEST

START_TEST(test_pod_added_and_removed) {
    gl_pods_scan_stats st;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    cgf_pod *a = add(10, GL_QOS_BURSTABLE, NULL);
    cgf_pod *b = add(11, GL_QOS_GUARANTEED, NULL);
    ck_assert_int_eq(cgf_add_container(fx, a, rt_for(GL_RUNTIME_CONTAINERD), NULL), 0);
    start();
    scan(1 * SEC, false, &st);
    ck_assert_uint_eq(st.pods, 2);
    ck_assert_uint_eq(st.added, 2);
    uint32_t slot_a = find(a)->slot, slot_b = find(b)->slot;

    cgf_pod *c = add(12, GL_QOS_BESTEFFORT, NULL);
    ck_assert_int_eq(cgf_add_container(fx, c, rt_for(GL_RUNTIME_CRIO), NULL), 0);
    scan(2 * SEC, false, &st);
    ck_assert_uint_eq(st.pods, 3);
    ck_assert_uint_eq(st.added, 1);
    ck_assert_uint_eq(st.removed, 0);
    ck_assert_uint_eq(st.read_errors, 0);
    ck_assert_uint_eq(gl_pods_count(pods), 3);
    assert_pod(c, 2 * SEC);
    ck_assert_uint_eq(find(c)->first_seen_usec, 2 * SEC);
    ck_assert(!find(c)->has_prev);
    ck_assert_uint_eq(find(a)->first_seen_usec, 1 * SEC);
    ck_assert(find(a)->has_prev);
    ck_assert_uint_eq(find(a)->slot, slot_a);
    ck_assert_uint_eq(find(b)->slot, slot_b);
    size_t fds3 = gl_pods_open_fds(pods);
    ck_assert_uint_gt(fds3, 0);

    /* The pod's cgroup goes while its files are cached: on a plain filesystem the cached
     * descriptors still read the unlinked files, so only the listing can tell it is gone. */
    char gone[GL_POD_UID_LEN + 1];
    memcpy(gone, cgf_pod_uid(a), sizeof(gone));
    ck_assert_int_eq(cgf_remove_pod(fx, a), 0);
    scan(3 * SEC, false, &st);
    ck_assert_uint_eq(st.pods, 2);
    ck_assert_uint_eq(st.added, 0);
    ck_assert_uint_eq(st.removed, 1);
    ck_assert_uint_eq(st.read_errors, 0);
    ck_assert_uint_eq(gl_pods_count(pods), 2);
    ck_assert_ptr_null(gl_pods_find(pods, gone));
    ck_assert_uint_lt(gl_pods_open_fds(pods), fds3);
    assert_pod(b, 3 * SEC);
    assert_pod(c, 3 * SEC);
    for (size_t i = 0; i < gl_pods_count(pods); i++)
        ck_assert_str_ne(gl_pods_at(pods, i)->uid, gone);

    /* Everything goes. */
    ck_assert_int_eq(cgf_remove_pod(fx, b), 0);
    ck_assert_int_eq(cgf_remove_pod(fx, c), 0);
    scan(4 * SEC, false, &st);
    ck_assert_uint_eq(st.pods, 0);
    ck_assert_uint_eq(st.removed, 2);
    ck_assert_uint_eq(st.read_errors, 0);
    ck_assert(st.kubepods_found);
    ck_assert_uint_eq(gl_pods_count(pods), 0);
    ck_assert_uint_eq(gl_pods_open_fds(pods), 0);

    /* And a pod comes back. */
    cgf_pod *d = add(13, GL_QOS_BURSTABLE, NULL);
    scan(5 * SEC, false, &st);
    ck_assert_uint_eq(st.added, 1);
    assert_pod(d, 5 * SEC);
}
END_TEST

/* v1: a runtime removes a pod's cgroup one hierarchy after the other, so a scan can find it in
 * memory/ but already gone from cpu,cpuacct/ and pids/. That is "gone", never an error. */
START_TEST(test_v1_partly_removed) {
    gl_pods_scan_stats st;
    char path[PATH_MAX], cmd[PATH_MAX + 32];
    cgf_layout l = _i ? CGF_V1_SYSTEMD : CGF_V1_CGROUPFS;

    ck_assert_int_eq(cgf_new_at(base, l, &fx), 0);
    cgf_pod *a = add(20, GL_QOS_BURSTABLE, NULL);
    cgf_pod *b = add(21, GL_QOS_BURSTABLE, NULL);
    start();
    scan(1 * SEC, false, NULL);
    ck_assert_uint_eq(gl_pods_count(pods), 2);

    static const char *const others[] = {"cpu,cpuacct", "pids"};
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(cgf_controller_path(fx, others[i], path, sizeof(path)), 0);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'", path, cgf_pod_cgroup(a));
        ck_assert_int_eq(system(cmd), 0);
    }
    scan(2 * SEC, true, &st);
    ck_assert_uint_eq(st.read_errors, 0);
    assert_pod(b, 2 * SEC);

    /* A pod seen for the first time in that state. */
    cgf_pod *c = add(22, GL_QOS_BESTEFFORT, NULL);
    ck_assert_int_eq(cgf_controller_path(fx, "pids", path, sizeof(path)), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'", path, cgf_pod_cgroup(c));
    ck_assert_int_eq(system(cmd), 0);
    scan(3 * SEC, false, &st);
    ck_assert_uint_eq(st.read_errors, 0);
    assert_pod(b, 3 * SEC);

    char gone[GL_POD_UID_LEN + 1];
    memcpy(gone, cgf_pod_uid(a), sizeof(gone));
    ck_assert_int_eq(cgf_remove_pod(fx, a), 0);
    ck_assert_int_eq(cgf_remove_pod(fx, c), 0);
    scan(4 * SEC, false, &st);
    ck_assert_uint_eq(st.read_errors, 0);
    ck_assert_uint_eq(st.pods, 1);
    ck_assert_ptr_null(gl_pods_find(pods, gone));
    assert_pod(b, 4 * SEC);
}
END_TEST

/* Every descriptor is closed by gl_pods_free (counted in /proc/self/fd). */
START_TEST(test_fds_released) {
    size_t before = count_fds();

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    three_pods();
    start();
    scan(1 * SEC, true, NULL);
    scan(2 * SEC, false, NULL);
    ck_assert_uint_gt(gl_pods_open_fds(pods), 0);
    ck_assert_uint_gt(count_fds(), before);
    gl_pods_free(pods);
    pods = NULL;
    ck_assert_uint_eq(count_fds(), before);
    gl_pods_free(NULL);
}
END_TEST

/* The read tiers: memory.stat is slow-tier (hot_all refreshes it at once, otherwise within
 * GL_PODS_SLOW_EVERY scans); limits, io.pressure and the container list are rare-tier (within
 * GL_PODS_RARE_EVERY scans); memory.current is fresh every scan. */
START_TEST(test_read_tiers) {
    enum { N = 12 };
    cgf_pod *p[N];
    cgf_figures f;
    gl_pods_scan_stats st;
    uint64_t t = 10 * SEC;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    for (unsigned i = 0; i < N; i++)
        p[i] = add(30 + i, (gl_qos)(i % 3), NULL);
    start();
    scan(t, false, NULL);

    /* hot_all: inactive_file follows on the very next scan, for every pod. */
    for (unsigned i = 0; i < N; i++) {
        f = *cgf_pod_figures(p[i]);
        f.inactive_file += 20 * MiB;
        f.oom_kill += 1;
        ck_assert_int_eq(cgf_update(fx, p[i], &f), 0);
    }
    t += SEC;
    scan(t, true, &st);
    ck_assert_uint_eq(st.read_errors, 0);
    for (unsigned i = 0; i < N; i++)
        assert_pod(p[i], t);

    /* Without it: inactive_file catches up within GL_PODS_SLOW_EVERY scans, while memory.current
     * (changed every scan) is always fresh and the working set always consistent with both. */
    for (unsigned i = 0; i < N; i++) {
        f = *cgf_pod_figures(p[i]);
        f.inactive_file -= 10 * MiB;
        ck_assert_int_eq(cgf_update(fx, p[i], &f), 0);
    }
    for (unsigned k = 0; k < GL_PODS_SLOW_EVERY; k++) {
        for (unsigned i = 0; i < N; i++) {
            f = *cgf_pod_figures(p[i]);
            f.memory_current += 4096;
            ck_assert_int_eq(cgf_update(fx, p[i], &f), 0);
        }
        t += SEC;
        scan(t, false, &st);
        ck_assert_uint_eq(st.read_errors, 0);
        for (unsigned i = 0; i < N; i++) {
            gl_pod *g = find(p[i]);
            ck_assert_uint_eq(g->cur.memory_current_bytes, cgf_pod_figures(p[i])->memory_current);
            ck_assert_uint_eq(g->cur.memory_working_set_bytes,
                              sub0(g->cur.memory_current_bytes, g->cur.memory_inactive_file_bytes));
        }
    }
    for (unsigned i = 0; i < N; i++)
        assert_pod(p[i], t);

    /* The ring holds the working set the scans saw. */
    gl_pod *g = find(p[0]);
    ck_assert_uint_ge(g->history.n, 2);
    ck_assert_uint_eq(gl_history_at(&g->history, g->history.n - 1)->value,
                      g->cur.memory_working_set_bytes);
    ck_assert_uint_eq(gl_history_at(&g->history, g->history.n - 1)->t_usec, t);

    /* Rare tier: new limits, io pressure and a new container, even under hot_all scans now and
     * then, show within GL_PODS_RARE_EVERY scans. */
    for (unsigned i = 0; i < N; i++) {
        f = *cgf_pod_figures(p[i]);
        f.memory_max = 768 * MiB;
        f.memory_high = 700 * MiB;
        f.pids_max = 2048;
        f.psi[CGF_PSI_IO].some_total_usec += 99;
        ck_assert_int_eq(cgf_update(fx, p[i], &f), 0);
        ck_assert_int_eq(cgf_add_container(fx, p[i], rt_for(GL_RUNTIME_CONTAINERD), NULL), 0);
    }
    for (unsigned k = 0; k < GL_PODS_RARE_EVERY; k++) {
        t += SEC;
        scan(t, k % 7 == 0, &st);
        ck_assert_uint_eq(st.read_errors, 0);
    }
    for (unsigned i = 0; i < N; i++)
        assert_pod(p[i], t);
}
END_TEST

/* A pod above 80% of its memory limit reads everything every tick. */
START_TEST(test_pod_near_limit_is_hot) {
    gl_pods_scan_stats st;
    cgf_figures f;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    cgf_figures_example(&f, 60);
    f.memory_max = 200 * MiB;
    f.memory_current = 190 * MiB;
    f.inactive_file = 5 * MiB;
    cgf_pod *hot = add(60, GL_QOS_BURSTABLE, &f);
    start();
    scan(1 * SEC, false, NULL);
    for (unsigned k = 0; k < 3; k++) {
        f = *cgf_pod_figures(hot);
        f.inactive_file += MiB;
        f.memory_max += MiB;
        f.oom_kill++;
        f.psi[CGF_PSI_MEMORY].some_total_usec += 1000;
        f.psi[CGF_PSI_IO].some_total_usec += 1000;
        ck_assert_int_eq(cgf_update(fx, hot, &f), 0);
        scan((2 + k) * SEC, false, &st);
        ck_assert_uint_eq(st.read_errors, 0);
        assert_pod(hot, (2 + k) * SEC);
    }
}
END_TEST

START_TEST(test_totals) {
    gl_pods_totals tot;
    cgf_figures f;
    uint64_t ws = 0, cur = 0, pids = 0;
    uint32_t mc = 0;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    three_pods();
    start();
    scan(1 * SEC, true, NULL);
    for (size_t i = 0; i < cgf_n_pods(fx); i++) {
        f = *cgf_pod_figures(cgf_pod_at(fx, i));
        f.cpu_usage_usec += 100000 * (i + 1);
        ck_assert_int_eq(cgf_update(fx, cgf_pod_at(fx, i), &f), 0);
    }
    scan(2 * SEC, true, NULL);
    for (size_t i = 0; i < gl_pods_count(pods); i++) {
        const gl_pod *g = gl_pods_at(pods, i);
        ws += g->cur.memory_working_set_bytes;
        cur += g->cur.memory_current_bytes;
        pids += g->cur.pids_current;
        mc += g->cpu_usage_millicores;
    }
    gl_pods_totals_get(pods, &tot);
    ck_assert_uint_eq(tot.memory_working_set_bytes, ws);
    ck_assert_uint_eq(tot.memory_current_bytes, cur);
    ck_assert_uint_eq(tot.pids_current, pids);
    ck_assert_uint_eq(tot.cpu_usage_millicores, mc);
    ck_assert_uint_eq(mc, 100 + 200 + 300);

    /* And against the fixture's own figures. */
    uint64_t fws = 0, fcur = 0, fpids = 0;
    for (size_t i = 0; i < cgf_n_pods(fx); i++) {
        const cgf_figures *ff = cgf_pod_figures(cgf_pod_at(fx, i));
        fws += sub0(ff->memory_current, ff->inactive_file);
        fcur += ff->memory_current;
        fpids += ff->pids_current;
    }
    ck_assert_uint_eq(tot.memory_working_set_bytes, fws);
    ck_assert_uint_eq(tot.memory_current_bytes, fcur);
    ck_assert_uint_eq(tot.pids_current, fpids);
}
END_TEST

/* A malformed file is a read error for that pod, never a failed scan or a wrong figure elsewhere.
 */
START_TEST(test_malformed_file) {
    gl_pods_scan_stats st;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    three_pods();
    start();
    scan(1 * SEC, false, NULL);
    ck_assert_int_eq(
        cgf_pod_write(fx, pb, v1() ? "memory.usage_in_bytes" : "memory.current", "garbage\n"), 0);
    scan(2 * SEC, false, &st);
    ck_assert_uint_ge(st.read_errors, 1);
    assert_pod(pg, 2 * SEC);
    assert_pod(pbe, 2 * SEC);
}
END_TEST

/* Many pods across the QoS classes: each found exactly once, in gl_pods_at and gl_pods_find. */
START_TEST(test_many_pods) {
    enum { N = 150 };
    gl_pods_scan_stats st;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    for (unsigned i = 0; i < N; i++) {
        cgf_pod *p = add(1000 + i, (gl_qos)(i % 3), NULL);
        ck_assert_int_eq(cgf_add_container(fx, p, rt_for((gl_runtime)(i % 3)), NULL), 0);
    }
    start();
    scan(1 * SEC, false, &st);
    ck_assert_uint_eq(st.pods, N);
    ck_assert_uint_eq(st.added, N);
    ck_assert_uint_eq(st.read_errors, 0);
    ck_assert_uint_eq(gl_pods_count(pods), N);
    for (unsigned i = 0; i < N; i++)
        assert_pod(cgf_pod_at(fx, i), 1 * SEC);
    for (size_t i = 0; i < N; i++) {
        const char *uid = gl_pods_at(pods, i)->uid;
        for (size_t j = i + 1; j < N; j++)
            ck_assert_str_ne(uid, gl_pods_at(pods, j)->uid);
    }
    scan(2 * SEC, false, &st);
    ck_assert_uint_eq(st.pods, N);
    ck_assert_uint_eq(st.added, 0);
    ck_assert_uint_eq(st.removed, 0);
}
END_TEST

/* The kubelet starts after guardlet: the scanner finds kubepods once it appears. */
START_TEST(test_kubepods_appears_later) {
    gl_pods_scan_stats st;

    ck_assert_int_eq(cgf_new_at(base, (cgf_layout)_i, &fx), 0);
    ck_assert_int_eq(gl_cgroup_layout_discover(cgf_root(fx), &layout), 0);
    ck_assert_ptr_null(layout.kubepods);
    ck_assert_int_eq(gl_pods_new(&layout, &params, &pods), 0);
    scan(1 * SEC, false, &st);
    ck_assert(!st.kubepods_found);
    ck_assert_uint_eq(st.pods, 0);
    ck_assert_uint_eq(st.read_errors, 0);
    ck_assert_uint_eq(gl_pods_count(pods), 0);

    cgf_pod *p = add(40, GL_QOS_BURSTABLE, NULL);
    scan(2 * SEC, false, &st);
    ck_assert(st.kubepods_found);
    ck_assert_uint_eq(st.pods, 1);
    ck_assert_uint_eq(st.added, 1);
    assert_pod(p, 2 * SEC);
}
END_TEST

/* New parameters keep the pods and their histories. */
START_TEST(test_set_params_keeps_history) {
    const gl_pods_params p2 = {.leak_window_usec = 120 * SEC, .min_growth_per_sec = 4 * MiB};
    cgf_figures f;

    ck_assert_int_eq(cgf_new_at(base, CGF_V2_SYSTEMD, &fx), 0);
    cgf_pod *p = add(50, GL_QOS_BURSTABLE, NULL);
    start();
    for (unsigned k = 0; k < 5; k++) {
        f = *cgf_pod_figures(p);
        f.memory_current += 8 * MiB;
        ck_assert_int_eq(cgf_update(fx, p, &f), 0);
        scan((1 + 60 * k) * SEC, true, NULL);
    }
    uint32_t n = find(p)->history.n;
    ck_assert_uint_ge(n, 3);
    gl_pods_set_params(pods, &p2);
    scan(250 * SEC, true, NULL);
    ck_assert_uint_eq(gl_pods_count(pods), 1);
    ck_assert_uint_ge(find(p)->history.n, 2);
    assert_pod(p, 250 * SEC);
}
END_TEST

/* A pod leaking 2 MiB/s with one transient 1 GiB spike is flagged by the least-squares screen and
 * confirmed by Theil-Sen near the true rate; a flat neighbour stays unconfirmed near zero. */
START_TEST(test_growth_confirmed_for_leaker) {
    cgf_figures leak, flat;

    ck_assert_int_eq(cgf_new_at(base, CGF_V2_SYSTEMD, &fx), 0);
    cgf_figures_example(&leak, 1);
    leak.memory_max = CGF_UNLIMITED; /* not hot: the normal tiers apply */
    cgf_figures_example(&flat, 2);
    flat.memory_max = CGF_UNLIMITED;
    cgf_pod *pl = add(1, GL_QOS_BURSTABLE, &leak);
    cgf_pod *pf = add(2, GL_QOS_BESTEFFORT, &flat);
    start();
    uint64_t base_current = leak.memory_current;
    for (unsigned k = 0; k <= 240; k++) {
        leak.memory_current = base_current + (uint64_t)k * 2 * MiB + (k == 150 ? 1024 * MiB : 0);
        ck_assert_int_eq(cgf_update(fx, pl, &leak), 0);
        scan((1 + k) * SEC, false, NULL);
    }
    gl_pod *gl = find(pl), *gf = find(pf);
    ck_assert(gl->growth_robust);
    ck_assert_msg(gl->growth.slope_per_sec > 1.9 * MiB && gl->growth.slope_per_sec < 2.1 * MiB,
                  "leak slope %.0f", gl->growth.slope_per_sec);
    ck_assert_uint_ge(gl->growth.n_points, 20);
    ck_assert(!gf->growth_robust);
    ck_assert_msg(gf->growth.slope_per_sec < 0.01 * MiB && gf->growth.slope_per_sec > -0.01 * MiB,
                  "flat slope %.0f", gf->growth.slope_per_sec);
}
END_TEST

static Suite *pods_suite(void) {
    Suite *s = suite_create("pods");
    TCase *tc = tcase_create("scan");
    tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_first_scan_figures, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_derived_cpu, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_cpu_without_hot_all, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_derived_psi_hot, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_pod_added_and_removed, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_v1_partly_removed, 0, 2);
    tcase_add_loop_test(tc, test_fds_released, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_read_tiers, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_pod_near_limit_is_hot, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_totals, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_malformed_file, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_many_pods, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_kubepods_appears_later, 0, CGF_N_LAYOUTS);
    tcase_add_test(tc, test_set_params_keeps_history);
    tcase_add_test(tc, test_growth_confirmed_for_leaker);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(pods_suite)
