/* test_node.c: Check suite for the node sample reader, the CPU count and cgroup layout detection.
 */
#include "guardlet/node.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char root[256];

static void put(const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void mk(const char *rel) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    ck_assert_int_eq(mkdir(path, 0755), 0);
}

static void setup(void) {
    gl_test_tmpdir(root, sizeof(root), "node");
}

static void teardown(void) {
    gl_test_rmtree(root);
}

static const char meminfo[] = "MemTotal:        8388608 kB\n"
                              "MemFree:         4194304 kB\n"
                              "MemAvailable:    5242880 kB\n"
                              "Inactive(file):  1048576 kB\n";

START_TEST(test_count_cpus) {
    const char stat[] = "cpu  1 2 3\ncpu0 1 2 3\ncpu1 1 2 3\ncpu12 1\nintr 5\nctxt 9\n";
    ck_assert_uint_eq(gl_proc_stat_count_cpus(stat, strlen(stat)), 3);
    ck_assert_uint_eq(gl_proc_stat_count_cpus("intr 0\n", 7), 0);
    ck_assert_uint_eq(gl_proc_stat_count_cpus("", 0), 0);
}
END_TEST

START_TEST(test_sample_from_fixture) {
    gl_node_sample s;
    put("meminfo", meminfo);
    put("stat", "cpu  1\ncpu0 1\ncpu1 1\n");
    mk("pressure");
    put("pressure/memory", "some avg10=1.50 avg60=0.00 avg300=0.00 total=10\n"
                           "full avg10=0.25 avg60=0.00 avg300=0.00 total=5\n");
    put("pressure/cpu", "some avg10=42.00 avg60=0.00 avg300=0.00 total=10\n");
    /* io is missing: a kernel or fixture without it still samples. */
    ck_assert_int_eq(gl_node_sample_read(root, 77, &s), 0);
    ck_assert_uint_eq(s.timestamp_usec, 77);
    ck_assert_uint_eq(s.capacity_bytes, 8ull << 30);
    ck_assert_uint_eq(s.working_set_bytes, 3ull << 30);
    ck_assert_uint_eq(s.available_bytes, 5ull << 30);
    ck_assert_uint_eq(s.cpus, 2);
    ck_assert_int_eq(s.psi_error[GL_PSI_MEMORY], 0);
    ck_assert_uint_eq(s.psi[GL_PSI_MEMORY].some.avg10_bp, 150);
    ck_assert_uint_eq(s.psi[GL_PSI_MEMORY].full.avg10_bp, 25);
    ck_assert_uint_eq(s.psi[GL_PSI_CPU].some.avg10_bp, 4200);
    ck_assert_int_eq(s.psi_error[GL_PSI_IO], -ENOENT);
}
END_TEST

START_TEST(test_sample_needs_meminfo) {
    gl_node_sample s;
    ck_assert_int_eq(gl_node_sample_read(root, 1, &s), -ENOENT);
    put("meminfo", "MemTotal: 12 kB\n"); /* the other required keys are missing */
    ck_assert_int_eq(gl_node_sample_read(root, 1, &s), -EBADMSG);
}
END_TEST

START_TEST(test_sample_real_proc) {
    gl_node_sample s;
    ck_assert_int_eq(gl_node_sample_read("/proc", gl_now_usec(), &s), 0);
    ck_assert_uint_gt(s.capacity_bytes, 0);
    ck_assert_uint_le(s.available_bytes, s.capacity_bytes);
    ck_assert_uint_eq(s.cpus, (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
}
END_TEST

static Suite *node_suite(void) {
    Suite *s = suite_create("node");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_count_cpus);
    tcase_add_test(tc, test_sample_from_fixture);
    tcase_add_test(tc, test_sample_needs_meminfo);
    tcase_add_test(tc, test_sample_real_proc);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(node_suite)
