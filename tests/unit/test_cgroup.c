/* test_cgroup.c: Check suite for cgroup layout discovery and the cgroup file parsers. */
#include "guardlet/cgroup.h"

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgfixture.h"
#include "testutil.h"

static cgf *fx;
static char base[128], tmp[256];

/* Everything goes inside one folder per test case, made and removed by the unchecked fixture in
 * the parent process: a failed assertion ends a forked test without its teardown, and this still
 * cleans up after it. */
static void base_setup(void) {
    gl_test_tmpdir(base, sizeof(base), "cgroup");
}

static void base_teardown(void) {
    gl_test_rmtree(base);
}

static void setup(void) {
    fx = NULL;
    snprintf(tmp, sizeof(tmp), "%s/empty-XXXXXX", base);
    ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void) {
    char cmd[300];
    cgf_free(fx);
    fx = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

/* Paths may be given as built or resolved; compare what they point at. */
static void assert_same_dir(const char *got, const char *want) {
    char a[PATH_MAX], b[PATH_MAX];
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(realpath(got, a) != NULL, "%s does not resolve", got);
    ck_assert_msg(realpath(want, b) != NULL, "%s does not resolve", want);
    ck_assert_msg(strcmp(a, b) == 0, "%s is %s, expected %s", got, a, b);
}

static void assert_is_dir(const char *dir, const char *rel) {
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    ck_assert_msg(stat(p, &st) == 0 && S_ISDIR(st.st_mode), "%s is not a directory", p);
}

static void mk(const char *rel) {
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", tmp, rel);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

/* The controller directories a layout must report for a fixture. */
static void assert_controllers(const gl_cgroup_layout *l, cgf_layout lay) {
    char want[PATH_MAX];

    ck_assert_str_eq(l->root, cgf_root(fx));
    if (cgf_layout_is_v1(lay)) {
        ck_assert_int_eq(l->version, GL_CGROUP_V1);
        ck_assert_int_eq(cgf_controller_path(fx, "memory", want, sizeof(want)), 0);
        assert_same_dir(l->memory, want);
        ck_assert_int_eq(cgf_controller_path(fx, "cpu,cpuacct", want, sizeof(want)), 0);
        assert_same_dir(l->cpu, want);
        assert_same_dir(l->cpuacct, want);
        ck_assert_int_eq(cgf_controller_path(fx, "pids", want, sizeof(want)), 0);
        assert_same_dir(l->pids, want);
    } else {
        ck_assert_int_eq(l->version, GL_CGROUP_V2);
        assert_same_dir(l->memory, cgf_root(fx));
        assert_same_dir(l->cpu, cgf_root(fx));
        assert_same_dir(l->cpuacct, cgf_root(fx));
        assert_same_dir(l->pids, cgf_root(fx));
    }
}

static void assert_kubepods(const gl_cgroup_layout *l, cgf_layout lay) {
    ck_assert_ptr_nonnull(l->kubepods);
    ck_assert_str_eq(l->kubepods, cgf_kubepods_name(fx));
    ck_assert_int_eq(l->systemd_driver, cgf_layout_is_systemd(lay));
    /* The relative path works from each controller directory. */
    assert_is_dir(l->memory, l->kubepods);
    assert_is_dir(l->cpu, l->kubepods);
    assert_is_dir(l->cpuacct, l->kubepods);
    assert_is_dir(l->pids, l->kubepods);
}

/* Looped over the four layouts. */
START_TEST(test_discover_layout) {
    cgf_layout lay = (cgf_layout)_i;
    gl_cgroup_layout l;
    cgf_figures fig;
    char uid[GL_POD_UID_LEN + 1];
    cgf_pod *p;

    ck_assert_int_eq(cgf_new_at(base, lay, &fx), 0);
    cgf_figures_example(&fig, 1);
    cgf_uid(1, uid);
    ck_assert_int_eq(cgf_add_pod(fx, uid, GL_QOS_BURSTABLE, &fig, &p), 0);
    ck_assert_int_eq(cgf_add_odd_entries(fx, p), 0);
    ck_assert_int_eq(gl_cgroup_layout_discover(cgf_root(fx), &l), 0);
    assert_controllers(&l, lay);
    assert_kubepods(&l, lay);
    ck_assert(gl_cgroup_layout_refresh_kubepods(&l));
    assert_kubepods(&l, lay);
    gl_cgroup_layout_free(&l);
}
END_TEST

/* The kubelet may start after guardlet: no kubepods yet, then it appears. */
START_TEST(test_refresh_after_kubepods_appears) {
    cgf_layout lay = (cgf_layout)_i;
    gl_cgroup_layout l;

    ck_assert_int_eq(cgf_new_at(base, lay, &fx), 0);
    ck_assert_int_eq(gl_cgroup_layout_discover(cgf_root(fx), &l), 0);
    assert_controllers(&l, lay);
    ck_assert_ptr_null(l.kubepods);
    ck_assert(!gl_cgroup_layout_refresh_kubepods(&l));
    ck_assert_ptr_null(l.kubepods);
    ck_assert(!gl_cgroup_layout_refresh_kubepods(&l));

    ck_assert_int_eq(cgf_kubepods_create(fx), 0);
    ck_assert(gl_cgroup_layout_refresh_kubepods(&l));
    assert_controllers(&l, lay);
    assert_kubepods(&l, lay);
    /* Refreshing again keeps it (and does not leak the old string under valgrind). */
    ck_assert(gl_cgroup_layout_refresh_kubepods(&l));
    assert_kubepods(&l, lay);
    gl_cgroup_layout_free(&l);
}
END_TEST

START_TEST(test_discover_empty_dir) {
    gl_cgroup_layout l;

    ck_assert_int_eq(gl_cgroup_layout_discover(tmp, &l), 0);
    ck_assert_int_eq(l.version, GL_CGROUP_NONE);
    ck_assert_ptr_null(l.kubepods);
    ck_assert(!gl_cgroup_layout_refresh_kubepods(&l));
    gl_cgroup_layout_free(&l);
}
END_TEST

START_TEST(test_discover_missing_dir) {
    gl_cgroup_layout l;
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/does-not-exist", tmp);
    ck_assert_int_eq(gl_cgroup_layout_discover(p, &l), 0);
    ck_assert_int_eq(l.version, GL_CGROUP_NONE);
    ck_assert_ptr_null(l.kubepods);
    gl_cgroup_layout_free(&l);
}
END_TEST

/* A v2 node without the kubelet: systemd's slices only. */
START_TEST(test_discover_v2_without_kubelet) {
    gl_cgroup_layout l;
    FILE *f;
    char p[PATH_MAX];

    snprintf(p, sizeof(p), "%s/cgroup.controllers", tmp);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("cpuset cpu io memory pids\n", f);
    fclose(f);
    mk("system.slice");
    mk("user.slice");
    mk("init.scope");
    ck_assert_int_eq(gl_cgroup_layout_discover(tmp, &l), 0);
    ck_assert_int_eq(l.version, GL_CGROUP_V2);
    ck_assert_ptr_null(l.kubepods);
    gl_cgroup_layout_free(&l);
}
END_TEST

/* v1 with cpu and cpuacct mounted separately (as on this development machine) and no pids. */
START_TEST(test_discover_v1_separate_cpu_cpuacct) {
    gl_cgroup_layout l;
    char want[PATH_MAX];

    mk("memory");
    mk("cpu");
    mk("cpuacct");
    mk("memory/kubepods");
    mk("cpu/kubepods");
    mk("cpuacct/kubepods");
    ck_assert_int_eq(gl_cgroup_layout_discover(tmp, &l), 0);
    ck_assert_int_eq(l.version, GL_CGROUP_V1);
    snprintf(want, sizeof(want), "%s/memory", tmp);
    assert_same_dir(l.memory, want);
    snprintf(want, sizeof(want), "%s/cpu", tmp);
    assert_same_dir(l.cpu, want);
    snprintf(want, sizeof(want), "%s/cpuacct", tmp);
    assert_same_dir(l.cpuacct, want);
    ck_assert_ptr_null(l.pids);
    ck_assert_ptr_nonnull(l.kubepods);
    ck_assert_str_eq(l.kubepods, "kubepods");
    ck_assert(!l.systemd_driver);
    gl_cgroup_layout_free(&l);
}
END_TEST

START_TEST(test_layout_free_zeroed) {
    gl_cgroup_layout l;
    memset(&l, 0, sizeof(l));
    gl_cgroup_layout_free(&l);
}
END_TEST

/* ---- parsers ---- */

static int limit(const char *s, uint64_t *v) {
    *v = 12345;
    return gl_cgroup_parse_limit(s, strlen(s), v);
}

static int u64(const char *s, uint64_t *v) {
    *v = 12345;
    return gl_cgroup_parse_u64(s, strlen(s), v);
}

START_TEST(test_parse_limit) {
    uint64_t v;

    ck_assert_int_eq(limit("max\n", &v), 0);
    ck_assert_uint_eq(v, GL_CGROUP_UNLIMITED);
    ck_assert_int_eq(limit("max", &v), 0);
    ck_assert_uint_eq(v, GL_CGROUP_UNLIMITED);
    ck_assert_int_eq(limit("536870912\n", &v), 0);
    ck_assert_uint_eq(v, 536870912);
    ck_assert_int_eq(limit("536870912", &v), 0);
    ck_assert_uint_eq(v, 536870912);
    ck_assert_int_eq(limit("0\n", &v), 0);
    ck_assert_uint_eq(v, 0);
    /* v1's "no limit" is PAGE_COUNTER_MAX * page size; anything from 2^62 up counts as none. */
    ck_assert_int_eq(limit("9223372036854771712\n", &v), 0);
    ck_assert_uint_eq(v, GL_CGROUP_UNLIMITED);
    ck_assert_int_eq(limit("4611686018427387904\n", &v), 0); /* 2^62 */
    ck_assert_uint_eq(v, GL_CGROUP_UNLIMITED);
    ck_assert_int_eq(limit("4611686018427387903\n", &v), 0); /* 2^62 - 1 */
    ck_assert_uint_eq(v, 4611686018427387903ull);
    ck_assert_int_eq(limit("18446744073709551615\n", &v), 0);
    ck_assert_uint_eq(v, GL_CGROUP_UNLIMITED);

    /* len is honoured: the text need not be NUL-terminated. */
    ck_assert_int_eq(gl_cgroup_parse_limit("4096garbage", 4, &v), 0);
    ck_assert_uint_eq(v, 4096);
    ck_assert_int_eq(gl_cgroup_parse_limit("max\nxyz", 4, &v), 0);
    ck_assert_uint_eq(v, GL_CGROUP_UNLIMITED);
    ck_assert_int_eq(gl_cgroup_parse_limit("maxim", 2, &v), -EBADMSG);

    static const char *const bad[] = {
        "",
        "\n",
        "max\n\n",
        "maxx\n",
        "MAX\n",
        "ma\n",
        " max\n",
        "max \n",
        "-1\n",
        "+5\n",
        " 5\n",
        "5 \n",
        "5\n\n",
        "12a\n",
        "0x10\n",
        "1e9\n",
        "1.5\n",
        "18446744073709551616\n",
        "99999999999999999999999\n",
        "\n5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = limit(bad[i], &v);
        ck_assert_msg(r == -EBADMSG, "\"%s\" gave %d, expected -EBADMSG", bad[i], r);
    }
}
END_TEST

START_TEST(test_parse_u64) {
    uint64_t v;

    ck_assert_int_eq(u64("0\n", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(u64("0", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(u64("104857600\n", &v), 0);
    ck_assert_uint_eq(v, 104857600);
    ck_assert_int_eq(u64("18446744073709551615\n", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    /* A plain number has no "unlimited": big v1-ish values pass through. */
    ck_assert_int_eq(u64("9223372036854771712\n", &v), 0);
    ck_assert_uint_eq(v, 9223372036854771712ull);
    ck_assert_int_eq(gl_cgroup_parse_u64("7777\n", 2, &v), 0);
    ck_assert_uint_eq(v, 77);

    static const char *const bad[] = {
        "",
        "\n",
        "max\n",
        "max",
        "-1\n",
        "+1\n",
        " 1\n",
        "1 \n",
        "1\n\n",
        "1 2\n",
        "12a\n",
        "0x10\n",
        "1.0\n",
        "18446744073709551616\n",
        "184467440737095516150\n",
        "\n1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = u64(bad[i], &v);
        ck_assert_msg(r == -EBADMSG, "\"%s\" gave %d, expected -EBADMSG", bad[i], r);
    }
}
END_TEST

static int kv(const char *text, const char *key, uint64_t *v) {
    *v = 12345;
    return gl_cgroup_kv_get(text, strlen(text), key, v);
}

/* Linux 6.x memory.stat (abridged in the middle, order kept). */
static const char mem_stat[] = "anon 87280664\n"
                               "file 15740928\n"
                               "kernel 1835008\n"
                               "kernel_stack 229376\n"
                               "pagetables 720896\n"
                               "sec_pagetables 0\n"
                               "percpu 17280\n"
                               "sock 0\n"
                               "vmalloc 8192\n"
                               "shmem 4096\n"
                               "zswap 0\n"
                               "zswapped 0\n"
                               "file_mapped 1311744\n"
                               "file_dirty 12288\n"
                               "file_writeback 0\n"
                               "swapcached 0\n"
                               "anon_thp 0\n"
                               "file_thp 0\n"
                               "shmem_thp 0\n"
                               "inactive_anon 10910083\n"
                               "active_anon 76374677\n"
                               "inactive_file 10493952\n"
                               "active_file 5246976\n"
                               "unevictable 0\n"
                               "slab_reclaimable 409600\n"
                               "slab_unreclaimable 475136\n"
                               "slab 884736\n"
                               "workingset_refault_anon 0\n"
                               "pgfault 581237\n"
                               "pgmajfault 12\n"
                               "thp_fault_alloc 0\n"
                               "thp_collapse_alloc 7\n";

START_TEST(test_kv_memory_stat) {
    uint64_t v;

    ck_assert_int_eq(kv(mem_stat, "anon", &v), 0); /* first line */
    ck_assert_uint_eq(v, 87280664);
    ck_assert_int_eq(kv(mem_stat, "inactive_file", &v), 0);
    ck_assert_uint_eq(v, 10493952);
    ck_assert_int_eq(kv(mem_stat, "active_file", &v), 0); /* a suffix of inactive_file */
    ck_assert_uint_eq(v, 5246976);
    ck_assert_int_eq(kv(mem_stat, "file", &v), 0); /* a prefix of file_mapped... */
    ck_assert_uint_eq(v, 15740928);
    ck_assert_int_eq(kv(mem_stat, "file_mapped", &v), 0);
    ck_assert_uint_eq(v, 1311744);
    ck_assert_int_eq(kv(mem_stat, "slab", &v), 0); /* after slab_reclaimable */
    ck_assert_uint_eq(v, 884736);
    ck_assert_int_eq(kv(mem_stat, "kernel", &v), 0);
    ck_assert_uint_eq(v, 1835008);
    ck_assert_int_eq(kv(mem_stat, "thp_collapse_alloc", &v), 0); /* last line */
    ck_assert_uint_eq(v, 7);

    ck_assert_int_eq(kv(mem_stat, "fil", &v), -ENOENT);
    ck_assert_int_eq(kv(mem_stat, "file_", &v), -ENOENT);
    ck_assert_int_eq(kv(mem_stat, "nactive_file", &v), -ENOENT);
    ck_assert_int_eq(kv(mem_stat, "inactive_file ", &v), -ENOENT);
    ck_assert_int_eq(kv(mem_stat, "total_inactive_file", &v), -ENOENT);
    ck_assert_int_eq(kv(mem_stat, "10493952", &v), -ENOENT); /* a value is not a key */
    ck_assert_int_eq(kv("", "anon", &v), -ENOENT);
}
END_TEST

START_TEST(test_kv_not_by_position) {
    uint64_t v;
    /* The same key anywhere, and prefixes on either side of it. */
    ck_assert_int_eq(kv("file_mapped 5\nfile 7\n", "file", &v), 0);
    ck_assert_uint_eq(v, 7);
    ck_assert_int_eq(kv("file 7\nfile_mapped 5\n", "file_mapped", &v), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(kv("file_mapped 5\nfile 7\n", "file_mapped", &v), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(kv("inactive_file 1\n", "inactive_file", &v), 0);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(kv("a 1\nb 2\ninactive_file 3\n", "inactive_file", &v), 0);
    ck_assert_uint_eq(v, 3);
    /* cpu.stat */
    ck_assert_int_eq(kv("usage_usec 7000005\nuser_usec 4900000\nsystem_usec 2100005\n"
                        "nr_periods 10000\nnr_throttled 100\nthrottled_usec 250000\n"
                        "nr_bursts 0\nburst_usec 0\n",
                        "throttled_usec", &v),
                     0);
    ck_assert_uint_eq(v, 250000);
    ck_assert_int_eq(kv("usage_usec 7000005\nuser_usec 4900000\n", "usage_usec", &v), 0);
    ck_assert_uint_eq(v, 7000005);
    ck_assert_int_eq(kv("nr_periods 10\nnr_throttled 3\n", "nr_throttled", &v), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_int_eq(kv("user_usec 4900000\n", "usage_usec", &v), -ENOENT);
    ck_assert_uint_eq(v, 12345);
}
END_TEST

START_TEST(test_kv_memory_events) {
    static const char ev[] = "low 0\nhigh 1\nmax 2\noom 3\noom_kill 4\noom_group_kill 5\n";
    uint64_t v;

    ck_assert_int_eq(kv(ev, "oom", &v), 0);
    ck_assert_uint_eq(v, 3);
    ck_assert_int_eq(kv(ev, "oom_kill", &v), 0);
    ck_assert_uint_eq(v, 4);
    ck_assert_int_eq(kv(ev, "oom_group_kill", &v), 0);
    ck_assert_uint_eq(v, 5);
    ck_assert_int_eq(kv(ev, "max", &v), 0);
    ck_assert_uint_eq(v, 2);
    ck_assert_int_eq(kv(ev, "low", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(kv(ev, "kill", &v), -ENOENT);
    ck_assert_int_eq(kv(ev, "oom_group", &v), -ENOENT);
}
END_TEST

/* v1 memory.stat: cgroup-local keys come first, hierarchical total_* after them. */
START_TEST(test_kv_v1_total) {
    static const char st[] =
        "cache 3935232\nrss 22278918\ninactive_file 2623488\nactive_file 1311744\n"
        "hierarchical_memory_limit 9223372036854771712\n"
        "total_cache 15740928\ntotal_inactive_file 10493952\n"
        "total_active_file 5246976\n";
    uint64_t v;

    ck_assert_int_eq(kv(st, "total_inactive_file", &v), 0);
    ck_assert_uint_eq(v, 10493952);
    ck_assert_int_eq(kv(st, "inactive_file", &v), 0);
    ck_assert_uint_eq(v, 2623488);
    ck_assert_int_eq(kv(st, "hierarchical_memory_limit", &v), 0);
    ck_assert_uint_eq(v, 9223372036854771712ull);
    /* Only the total_ key present: the local key is absent, not found inside total_. */
    ck_assert_int_eq(kv("total_inactive_file 10\n", "inactive_file", &v), -ENOENT);
}
END_TEST

START_TEST(test_kv_garbage) {
    uint64_t v;

    ck_assert_int_eq(kv("inactive_file abc\n", "inactive_file", &v), -EBADMSG);
    ck_assert_int_eq(kv("anon 1\ninactive_file 12x\n", "inactive_file", &v), -EBADMSG);
    ck_assert_int_eq(kv("inactive_file -1\n", "inactive_file", &v), -EBADMSG);
    ck_assert_int_eq(kv("inactive_file \n", "inactive_file", &v), -EBADMSG);
    ck_assert_int_eq(kv("inactive_file 18446744073709551616\n", "inactive_file", &v), -EBADMSG);
    ck_assert_int_eq(kv("inactive_file 1.5\n", "inactive_file", &v), -EBADMSG);
    ck_assert_int_eq(kv("inactive_file 0x10\n", "inactive_file", &v), -EBADMSG);
    ck_assert_int_eq(kv("inactive_file 18446744073709551615\n", "inactive_file", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

static Suite *cgroup_suite(void) {
    Suite *s = suite_create("cgroup");
    TCase *tc = tcase_create("layout");
    tcase_add_unchecked_fixture(tc, base_setup, base_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_discover_layout, 0, CGF_N_LAYOUTS);
    tcase_add_loop_test(tc, test_refresh_after_kubepods_appears, 0, CGF_N_LAYOUTS);
    tcase_add_test(tc, test_discover_empty_dir);
    tcase_add_test(tc, test_discover_missing_dir);
    tcase_add_test(tc, test_discover_v2_without_kubelet);
    tcase_add_test(tc, test_discover_v1_separate_cpu_cpuacct);
    tcase_add_test(tc, test_layout_free_zeroed);
    suite_add_tcase(s, tc);

    tc = tcase_create("parse");
    tcase_add_test(tc, test_parse_limit);
    tcase_add_test(tc, test_parse_u64);
    tcase_add_test(tc, test_kv_memory_stat);
    tcase_add_test(tc, test_kv_not_by_position);
    tcase_add_test(tc, test_kv_memory_events);
    tcase_add_test(tc, test_kv_v1_total);
    tcase_add_test(tc, test_kv_garbage);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(cgroup_suite)
