/* test_metrics.c: Check suite for the metrics registry and its Prometheus text rendering. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/metrics.h"

#include "testutil.h"

static char *render(const gl_metrics *m) {
    char *out = NULL;
    size_t len = 0;
    ck_assert_int_eq(gl_metrics_render(m, &out, &len), 0);
    ck_assert_uint_eq(strlen(out), len);
    return out;
}

START_TEST(test_counter_and_gauge) {
    gl_metrics *m;
    ck_assert_int_eq(gl_metrics_new(&m), 0);
    gl_metric *up =
        gl_metrics_add(m, "x_up", "Whether it is up.", GL_METRIC_GAUGE, NULL, 0, NULL, 0);
    const char *const lab[] = {"action", "reason"};
    gl_metric *c =
        gl_metrics_add(m, "x_actions_total", "Actions.", GL_METRIC_COUNTER, lab, 2, NULL, 0);
    ck_assert_ptr_nonnull(up);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(gl_metric_set(up, NULL, 1), 0);
    const char *const a[] = {"kill", "memory-low"};
    const char *const b[] = {"throttle-memory", "leak"};
    ck_assert_int_eq(gl_metric_add(c, a, 1), 0);
    ck_assert_int_eq(gl_metric_add(c, b, 2), 0);
    ck_assert_int_eq(gl_metric_add(c, a, 1), 0);
    ck_assert_int_eq(gl_metric_add(c, a, -1), -EINVAL); /* counters never go down */
    ck_assert_int_eq(gl_metric_set(c, a, 5), -EINVAL);
    ck_assert_int_eq(gl_metric_observe(up, NULL, 5), -EINVAL);
    ck_assert_uint_eq(gl_metric_series_count(c), 2);
    ck_assert(gl_metric_value(c, a) == 2.0);
    ck_assert(isnan(gl_metric_value(c, (const char *const[]){"kill", "leak"})));

    char *out = render(m);
    ck_assert_str_eq(out, "# HELP x_up Whether it is up.\n"
                          "# TYPE x_up gauge\n"
                          "x_up 1\n"
                          "# HELP x_actions_total Actions.\n"
                          "# TYPE x_actions_total counter\n"
                          "x_actions_total{action=\"kill\",reason=\"memory-low\"} 2\n"
                          "x_actions_total{action=\"throttle-memory\",reason=\"leak\"} 2\n");
    free(out);
    gl_metrics_free(m);
}
END_TEST

START_TEST(test_escaping) {
    gl_metrics *m;
    ck_assert_int_eq(gl_metrics_new(&m), 0);
    const char *const lab[] = {"pod"};
    gl_metric *g = gl_metrics_add(m, "x_g", "Back\\slash and\nnewline \"quoted\".", GL_METRIC_GAUGE,
                                  lab, 1, NULL, 0);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gl_metric_set(g, (const char *const[]){"a\\b\"c\nd"}, 0.5), 0);
    ck_assert_int_eq(gl_metric_set(g, (const char *const[]){NULL}, -2.25), 0); /* empty value */
    char *out = render(m);
    ck_assert_str_eq(out, "# HELP x_g Back\\\\slash and\\nnewline \"quoted\".\n"
                          "# TYPE x_g gauge\n"
                          "x_g{pod=\"a\\\\b\\\"c\\nd\"} 0.5\n"
                          "x_g{pod=\"\"} -2.25\n");
    free(out);
    gl_metrics_free(m);
}
END_TEST

START_TEST(test_values) {
    gl_metrics *m;
    ck_assert_int_eq(gl_metrics_new(&m), 0);
    const char *const lab[] = {"k"};
    gl_metric *g = gl_metrics_add(m, "x_v", "", GL_METRIC_GAUGE, lab, 1, NULL, 0);
    gl_metric_set(g, (const char *const[]){"big"}, 8589934592.0);
    gl_metric_set(g, (const char *const[]){"nan"}, NAN);
    gl_metric_set(g, (const char *const[]){"inf"}, INFINITY);
    gl_metric_set(g, (const char *const[]){"ninf"}, -INFINITY);
    gl_metric_set(g, (const char *const[]){"tenth"}, 0.1);
    gl_metric_set(g, (const char *const[]){"huge"}, 1e300);
    char *out = render(m);
    ck_assert_ptr_nonnull(strstr(out, "x_v{k=\"big\"} 8589934592\n"));
    ck_assert_ptr_nonnull(strstr(out, "x_v{k=\"nan\"} NaN\n"));
    ck_assert_ptr_nonnull(strstr(out, "x_v{k=\"inf\"} +Inf\n"));
    ck_assert_ptr_nonnull(strstr(out, "x_v{k=\"ninf\"} -Inf\n"));
    ck_assert_ptr_nonnull(strstr(out, "x_v{k=\"tenth\"} 0.1\n"));
    ck_assert_ptr_nonnull(strstr(out, "x_v{k=\"huge\"} 1e+300\n"));
    free(out);
    gl_metrics_free(m);
}
END_TEST

START_TEST(test_histogram) {
    gl_metrics *m;
    ck_assert_int_eq(gl_metrics_new(&m), 0);
    const double bounds[] = {0.001, 0.01, 0.1};
    gl_metric *h =
        gl_metrics_add(m, "x_seconds", "Durations.", GL_METRIC_HISTOGRAM, NULL, 0, bounds, 3);
    ck_assert_ptr_nonnull(h);
    gl_metric_observe(h, NULL, 0.0005);
    gl_metric_observe(h, NULL, 0.001); /* on a bound: le is inclusive */
    gl_metric_observe(h, NULL, 0.05);
    gl_metric_observe(h, NULL, 2.5); /* above every bound: only +Inf */
    ck_assert_int_eq(gl_metric_set(h, NULL, 1), -EINVAL);
    char *out = render(m);
    ck_assert_str_eq(out, "# HELP x_seconds Durations.\n"
                          "# TYPE x_seconds histogram\n"
                          "x_seconds_bucket{le=\"0.001\"} 2\n"
                          "x_seconds_bucket{le=\"0.01\"} 2\n"
                          "x_seconds_bucket{le=\"0.1\"} 3\n"
                          "x_seconds_bucket{le=\"+Inf\"} 4\n"
                          "x_seconds_sum 2.5515\n"
                          "x_seconds_count 4\n");
    free(out);

    /* With labels, le comes last and each label set has its own buckets. */
    const char *const lab[] = {"verb"};
    const double b2[] = {1};
    gl_metric *h2 = gl_metrics_add(m, "x_h2", "", GL_METRIC_HISTOGRAM, lab, 1, b2, 1);
    ck_assert_ptr_nonnull(h2);
    gl_metric_observe(h2, (const char *const[]){"GET"}, 0.5);
    gl_metric_observe(h2, (const char *const[]){"POST"}, 3);
    out = render(m);
    ck_assert_ptr_nonnull(strstr(out, "x_h2_bucket{verb=\"GET\",le=\"1\"} 1\n"
                                      "x_h2_bucket{verb=\"GET\",le=\"+Inf\"} 1\n"
                                      "x_h2_sum{verb=\"GET\"} 0.5\n"
                                      "x_h2_count{verb=\"GET\"} 1\n"
                                      "x_h2_bucket{verb=\"POST\",le=\"1\"} 0\n"));
    free(out);
    gl_metrics_free(m);
}
END_TEST

START_TEST(test_invalid_families) {
    gl_metrics *m;
    ck_assert_int_eq(gl_metrics_new(&m), 0);
    const char *const dup[] = {"a", "a"};
    const char *const le[] = {"le"};
    const char *const under[] = {"__name"};
    const char *const bad[] = {"0a"};
    const double desc[] = {1, 0.5};
    const double one[] = {1};
    const double inf[] = {INFINITY};
    ck_assert_ptr_null(gl_metrics_add(m, "0bad", "", GL_METRIC_GAUGE, NULL, 0, NULL, 0));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(gl_metrics_add(m, "a-b", "", GL_METRIC_GAUGE, NULL, 0, NULL, 0));
    ck_assert_ptr_null(gl_metrics_add(m, "", "", GL_METRIC_GAUGE, NULL, 0, NULL, 0));
    ck_assert_ptr_null(gl_metrics_add(m, "x", "", GL_METRIC_GAUGE, dup, 2, NULL, 0));
    ck_assert_ptr_null(gl_metrics_add(m, "x", "", GL_METRIC_GAUGE, under, 1, NULL, 0));
    ck_assert_ptr_null(gl_metrics_add(m, "x", "", GL_METRIC_GAUGE, bad, 1, NULL, 0));
    ck_assert_ptr_null(gl_metrics_add(m, "x", "", GL_METRIC_HISTOGRAM, le, 1, one, 1));
    ck_assert_ptr_null(gl_metrics_add(m, "x", "", GL_METRIC_HISTOGRAM, NULL, 0, desc, 2));
    ck_assert_ptr_null(gl_metrics_add(m, "x", "", GL_METRIC_HISTOGRAM, NULL, 0, inf, 1));
    ck_assert_ptr_null(gl_metrics_add(m, "x", "", GL_METRIC_HISTOGRAM, NULL, 0, NULL, 0));
    ck_assert_ptr_null(gl_metrics_add(m, "x", "", GL_METRIC_GAUGE, NULL, 0, one, 1));
    ck_assert_ptr_nonnull(gl_metrics_add(m, "ns:x_total", "", GL_METRIC_COUNTER, le, 1, NULL, 0));
    ck_assert_ptr_null(gl_metrics_add(m, "ns:x_total", "", GL_METRIC_GAUGE, NULL, 0, NULL, 0));
    ck_assert_int_eq(errno, EEXIST);
    ck_assert(gl_metrics_name_valid("a:b_c9"));
    ck_assert(!gl_metrics_label_name_valid("a:b"));
    gl_metrics_free(m);
}
END_TEST

/* Many label sets: the index finds each one again, clear drops them all, and the family is
 * usable afterwards (per-pod gauges are rebuilt this way every tick). */
START_TEST(test_many_series_and_clear) {
    gl_metrics *m;
    ck_assert_int_eq(gl_metrics_new(&m), 0);
    const char *const lab[] = {"namespace", "pod"};
    gl_metric *g = gl_metrics_add(m, "x_ws_bytes", "", GL_METRIC_GAUGE, lab, 2, NULL, 0);
    char ns[16], pod[16];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3000; i++) {
            snprintf(ns, sizeof(ns), "ns%d", i % 7);
            snprintf(pod, sizeof(pod), "p%d", i);
            ck_assert_int_eq(gl_metric_set(g, (const char *const[]){ns, pod}, i), 0);
        }
        ck_assert_uint_eq(gl_metric_series_count(g), 3000);
        for (int i = 0; i < 3000; i += 97) {
            snprintf(ns, sizeof(ns), "ns%d", i % 7);
            snprintf(pod, sizeof(pod), "p%d", i);
            ck_assert(gl_metric_value(g, (const char *const[]){ns, pod}) == i);
            ck_assert_int_eq(gl_metric_set(g, (const char *const[]){ns, pod}, -i), 0);
        }
        ck_assert_uint_eq(gl_metric_series_count(g), 3000);
        /* ("ab","c") and ("a","bc") are different label sets. */
        gl_metric_set(g, (const char *const[]){"ab", "c"}, 1);
        gl_metric_set(g, (const char *const[]){"a", "bc"}, 2);
        ck_assert_uint_eq(gl_metric_series_count(g), 3002);
        gl_metric_clear(g);
        ck_assert_uint_eq(gl_metric_series_count(g), 0);
    }
    char *out = render(m);
    ck_assert_str_eq(out, "# HELP x_ws_bytes \n# TYPE x_ws_bytes gauge\n");
    free(out);
    gl_metrics_free(m);
}
END_TEST

/* A round keeps the series set in it, in their order, and drops the others; the index still finds
 * every kept series afterwards. */
START_TEST(test_rounds) {
    gl_metrics *m;
    ck_assert_int_eq(gl_metrics_new(&m), 0);
    const char *const lab[] = {"pod"};
    gl_metric *g = gl_metrics_add(m, "x_pod", "", GL_METRIC_GAUGE, lab, 1, NULL, 0);
    char pod[16];
    gl_metric_begin_round(g);
    for (int i = 0; i < 100; i++) {
        snprintf(pod, sizeof(pod), "p%d", i);
        gl_metric_set(g, (const char *const[]){pod}, i);
    }
    gl_metric_end_round(g);
    ck_assert_uint_eq(gl_metric_series_count(g), 100);
    /* Next round: the even pods remain, one new pod appears. */
    gl_metric_begin_round(g);
    for (int i = 0; i < 100; i += 2) {
        snprintf(pod, sizeof(pod), "p%d", i);
        gl_metric_set(g, (const char *const[]){pod}, -i);
    }
    gl_metric_set(g, (const char *const[]){"new"}, 7);
    gl_metric_end_round(g);
    ck_assert_uint_eq(gl_metric_series_count(g), 51);
    ck_assert(isnan(gl_metric_value(g, (const char *const[]){"p1"})));
    ck_assert(gl_metric_value(g, (const char *const[]){"p98"}) == -98);
    ck_assert(gl_metric_value(g, (const char *const[]){"new"}) == 7);
    /* Set again after the sweep: found, not duplicated. */
    gl_metric_set(g, (const char *const[]){"p4"}, 4);
    ck_assert_uint_eq(gl_metric_series_count(g), 51);
    char *out = render(m);
    ck_assert_ptr_nonnull(
        strstr(out, "x_pod{pod=\"p0\"} 0\nx_pod{pod=\"p2\"} -2\nx_pod{pod=\"p4\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(out, "x_pod{pod=\"p98\"} -98\nx_pod{pod=\"new\"} 7\n"));
    free(out);
    /* An empty round drops everything. */
    gl_metric_begin_round(g);
    gl_metric_end_round(g);
    ck_assert_uint_eq(gl_metric_series_count(g), 0);
    gl_metrics_free(m);
}
END_TEST

static Suite *metrics_suite(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_counter_and_gauge);
    tcase_add_test(tc, test_escaping);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_histogram);
    tcase_add_test(tc, test_invalid_families);
    tcase_add_test(tc, test_many_series_and_clear);
    tcase_add_test(tc, test_rounds);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(metrics_suite)
