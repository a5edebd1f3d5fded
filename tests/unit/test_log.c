/* test_log.c: Check suite for the logging module's stderr formats, level filter and word parsers.
 */
#include "guardlet/log.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char captured[8192];

/* Runs fn with stderr sent to a temp file and leaves what it wrote in captured. */
static void capture(void (*fn)(void)) {
    char path[] = "/tmp/guardlet-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, captured, sizeof(captured) - 1, 0);
    captured[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

static void log_json_entry(void) {
    gl_log_setup(GL_LOG_TARGET_STDERR, GL_LOG_FORMAT_JSON, LOG_INFO);
    gl_log_field f[] = {{"POD_NAMESPACE", "shop"}, {"GUARDLET_ACTION", "throttle-memory"}};
    gl_log_fields(LOG_WARNING, f, 2, "Throttled %s/%s to %d MiB", "shop", "cart", 512);
    gl_log_debug("filtered out at info");
}

START_TEST(test_json_line_has_fields) {
    capture(log_json_entry);
    /* Exactly one line: the debug entry was filtered. */
    ck_assert_ptr_nonnull(strchr(captured, '\n'));
    ck_assert_ptr_null(strchr(strchr(captured, '\n') + 1, '\n'));
    json_error_t err;
    json_t *o = json_loads(captured, 0, &err);
    ck_assert_msg(o != NULL, "not JSON: %s (%s)", captured, err.text);
    ck_assert_str_eq(json_string_value(json_object_get(o, "MESSAGE")),
                     "Throttled shop/cart to 512 MiB");
    ck_assert_str_eq(json_string_value(json_object_get(o, "PRIORITY")), "4");
    ck_assert_str_eq(json_string_value(json_object_get(o, "POD_NAMESPACE")), "shop");
    ck_assert_str_eq(json_string_value(json_object_get(o, "GUARDLET_ACTION")), "throttle-memory");
    ck_assert_ptr_nonnull(json_object_get(o, "TIMESTAMP"));
    json_decref(o);
}
END_TEST

static void log_text_entry(void) {
    gl_log_setup(GL_LOG_TARGET_STDERR, GL_LOG_FORMAT_TEXT, LOG_DEBUG);
    gl_log_field f[] = {{"POD_NAME", "cart"}};
    gl_log_fields(LOG_NOTICE, f, 1, "hello %d", 7);
}

START_TEST(test_text_line) {
    capture(log_text_entry);
    ck_assert_ptr_nonnull(strstr(captured, "notice: hello 7 POD_NAME=cart\n"));
}
END_TEST

static void log_long_message(void) {
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    gl_log_setup(GL_LOG_TARGET_STDERR, GL_LOG_FORMAT_TEXT, LOG_DEBUG);
    errno = EIO;
    gl_log_info("%s|end", big);
    ck_assert_int_eq(errno, EIO); /* logging preserves errno */
}

START_TEST(test_long_message_not_truncated) {
    capture(log_long_message);
    ck_assert_ptr_nonnull(strstr(captured, "xxxx|end\n"));
}
END_TEST

START_TEST(test_words) {
    int p;
    gl_log_target t;
    gl_log_format f;
    const char *levels[] = {"debug", "info", "notice", "warning", "err", "crit"};
    const int prios[] = {LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR, LOG_CRIT};
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(gl_log_parse_level(levels[i], &p), 0);
        ck_assert_int_eq(p, prios[i]);
        ck_assert_str_eq(gl_log_level_name(p), levels[i]);
    }
    ck_assert_int_eq(gl_log_parse_level("loud", &p), -EINVAL);
    ck_assert_int_eq(gl_log_parse_target("journal", &t), 0);
    ck_assert_int_eq(t, GL_LOG_TARGET_JOURNAL);
    ck_assert_int_eq(gl_log_parse_target("file", &t), -EINVAL);
    ck_assert_int_eq(gl_log_parse_format("json", &f), 0);
    ck_assert_int_eq(f, GL_LOG_FORMAT_JSON);
    ck_assert_int_eq(gl_log_parse_format("yaml", &f), -EINVAL);
    gl_log_setup(GL_LOG_TARGET_STDERR, GL_LOG_FORMAT_TEXT, LOG_NOTICE);
    ck_assert(gl_log_enabled(LOG_WARNING));
    ck_assert(!gl_log_enabled(LOG_INFO));
}
END_TEST

static Suite *log_suite(void) {
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_json_line_has_fields);
    tcase_add_test(tc, test_text_line);
    tcase_add_test(tc, test_long_message_not_truncated);
    tcase_add_test(tc, test_words);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(log_suite)
