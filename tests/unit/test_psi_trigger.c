/* test_psi_trigger.c: Check suite for arming PSI triggers: real pressure files, and refusal to
 * write plain files. */
#include "guardlet/psi_trigger.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static void never(gl_psi_trigger *t, bool dead, void *userdata) {
    (void)t;
    (void)dead;
    (void)userdata;
}

START_TEST(test_plain_file_is_refused_and_untouched) {
    char path[] = "/tmp/guardlet-trigger-XXXXXX";
    const char text[] = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n";
    char back[128] = {0};
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));

    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    gl_psi_trigger *t = NULL;
    ck_assert_int_eq(gl_psi_trigger_new(loop, path, 4000, never, NULL, &t), -EOPNOTSUPP);
    ck_assert_ptr_null(t);
    /* A fixture must never be overwritten with a trigger specification. */
    ck_assert_int_eq(pread(fd, back, sizeof(back) - 1, 0), (ssize_t)strlen(text));
    ck_assert_str_eq(back, text);
    close(fd);
    unlink(path);
    ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_bad_threshold) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    gl_psi_trigger *t = NULL;
    ck_assert_int_eq(gl_psi_trigger_new(loop, "/proc/pressure/cpu", 0, never, NULL, &t), -EINVAL);
    ck_assert_int_eq(gl_psi_trigger_new(loop, "/proc/pressure/cpu", 10001, never, NULL, &t),
                     -EINVAL);
    ck_assert_int_eq(gl_psi_trigger_new(loop, "/nonexistent/pressure", 100, never, NULL, &t),
                     -ENOENT);
    ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_real_node_trigger) {
    if (access("/proc/pressure/cpu", R_OK) != 0) {
        printf("SKIP test_real_node_trigger: /proc/pressure/cpu unavailable\n");
        return;
    }
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    gl_psi_trigger *t = NULL;
    int r = gl_psi_trigger_new(loop, "/proc/pressure/cpu", 6000, never, NULL, &t);
    if (r == -EACCES || r == -EPERM) {
        printf("SKIP test_real_node_trigger: %s (not root?)\n", strerror(-r));
        ev_loop_destroy(loop);
        return;
    }
    ck_assert_int_eq(r, 0);
    uint64_t w = gl_psi_trigger_window_usec(t);
    /* 1 s with CAP_SYS_RESOURCE, else the 2 s fallback. */
    ck_assert(w == GL_PSI_TRIGGER_FAST_WINDOW_USEC || w == GL_PSI_TRIGGER_SLOW_WINDOW_USEC);
    ck_assert_uint_eq(gl_psi_trigger_stall_usec(t), w * 6 / 10);
    ck_assert_str_eq(gl_psi_trigger_path(t), "/proc/pressure/cpu");
    ck_assert_uint_eq(gl_psi_trigger_fired(t), 0);
    gl_psi_trigger_start(t);
    gl_psi_trigger_free(t);
    gl_psi_trigger_free(NULL);
    ev_loop_destroy(loop);
}
END_TEST

static Suite *psi_trigger_suite(void) {
    Suite *s = suite_create("psi_trigger");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_plain_file_is_refused_and_untouched);
    tcase_add_test(tc, test_bad_threshold);
    tcase_add_test(tc, test_real_node_trigger);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(psi_trigger_suite)
