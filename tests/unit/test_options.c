/* test_options.c: Check suite for guardlet's command-line parsing. */
#include "guardlet/options.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int parse(gl_options *o, char **argv) {
    int argc = 0;
    while (argv[argc])
        argc++;
    FILE *devnull = fopen("/dev/null", "w");
    int r = gl_options_parse(argc, argv, o, devnull);
    fclose(devnull);
    return r;
}

START_TEST(test_defaults) {
    gl_options o;
    char *argv[] = {"guardlet", NULL};
    ck_assert_int_eq(parse(&o, argv), 0);
    ck_assert_ptr_null(o.config_path);
    ck_assert(!o.config_explicit);
    ck_assert_uint_eq(o.n_sets, 0);
    ck_assert_int_eq(o.log_target, GL_LOG_TARGET_AUTO);
    ck_assert_int_eq(o.log_level, LOG_INFO);
    gl_options_free(&o);
}
END_TEST

START_TEST(test_key_flags_become_sets_in_order) {
    gl_options o;
    char *argv[] = {"guardlet",
                    "-c",
                    "/x/g.conf",
                    "--set",
                    "Memory.KillBelow=1Gi",
                    "--dry-run",
                    "--proc-root",
                    "/fx/proc",
                    "--cgroup-root",
                    "/fx/cg",
                    "--node-name",
                    "n1",
                    "--kubeconfig",
                    "/k",
                    "--once",
                    "-o",
                    "json",
                    "--no-api",
                    "--log-level",
                    "debug",
                    "--log-format",
                    "json",
                    "--log-target",
                    "stderr",
                    NULL};
    ck_assert_int_eq(parse(&o, argv), 0);
    ck_assert_str_eq(o.config_path, "/x/g.conf");
    ck_assert(o.config_explicit);
    ck_assert_uint_eq(o.n_sets, 6);
    ck_assert_str_eq(o.sets[0], "Memory.KillBelow=1Gi");
    ck_assert_str_eq(o.sets[1], "Guard.Mode=dry-run");
    ck_assert_str_eq(o.sets[2], "Guard.ProcRoot=/fx/proc");
    ck_assert_str_eq(o.sets[3], "Guard.CgroupRoot=/fx/cg");
    ck_assert_str_eq(o.sets[4], "Guard.NodeName=n1");
    ck_assert_str_eq(o.sets[5], "Kubernetes.Kubeconfig=/k");
    ck_assert(o.once);
    ck_assert(o.no_api);
    ck_assert_int_eq(o.output, GL_OUTPUT_JSON);
    ck_assert_int_eq(o.log_level, LOG_DEBUG);
    ck_assert_int_eq(o.log_format, GL_LOG_FORMAT_JSON);
    ck_assert_int_eq(o.log_target, GL_LOG_TARGET_STDERR);
    gl_options_free(&o);
}
END_TEST

static char *bad[][4] = {
    {"guardlet", "--bogus", NULL},
    {"guardlet", "-o", "yaml", NULL},
    {"guardlet", "--log-level", "chatty", NULL},
    {"guardlet", "--log-target", "syslog", NULL},
    {"guardlet", "--log-format", "xml", NULL},
    {"guardlet", "--set", "NoDotOrEquals", NULL},
    {"guardlet", "stray", NULL},
    {"guardlet", "--once", "--check-config", NULL},
    {"guardlet", "-c", NULL},
};

START_TEST(test_usage_errors) {
    gl_options o;
    ck_assert_int_eq(parse(&o, bad[_i]), -EINVAL);
    gl_options_free(&o);
}
END_TEST

static Suite *options_suite(void) {
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_key_flags_become_sets_in_order);
    tcase_add_loop_test(tc, test_usage_errors, 0, sizeof(bad) / sizeof(bad[0]));
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(options_suite)
