/* test_units.c: Check suite for the strict unit parsers and formatters in units.h. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/units.h"

#include "testutil.h"

#define KI  UINT64_C(1024)
#define MI  (KI * 1024)
#define GI  (MI * 1024)
#define TI  (GI * 1024)
#define SEC UINT64_C(1000000)

static const uint64_t SENTINEL = UINT64_C(0xdeadbeef);

/* Each rejected string must leave *out untouched and return the given error. */
static void bytes_rejects(const char *s, int err) {
    uint64_t v = SENTINEL;

    ck_assert_msg(gl_parse_bytes(s, &v) == err, "gl_parse_bytes(\"%s\") != %d", s, err);
    ck_assert_uint_eq(v, SENTINEL);
}

static void duration_rejects(const char *s, int err) {
    uint64_t v = SENTINEL;

    ck_assert_msg(gl_parse_duration(s, &v) == err, "gl_parse_duration(\"%s\") != %d", s, err);
    ck_assert_uint_eq(v, SENTINEL);
}

static void percent_rejects(const char *s, int err) {
    uint32_t v = 4242;

    ck_assert_msg(gl_parse_percent(s, &v) == err, "gl_parse_percent(\"%s\") != %d", s, err);
    ck_assert_uint_eq(v, 4242);
}

static uint64_t bytes_ok(const char *s) {
    uint64_t v = SENTINEL;

    ck_assert_msg(gl_parse_bytes(s, &v) == 0, "gl_parse_bytes(\"%s\") failed", s);
    return v;
}

static uint64_t duration_ok(const char *s) {
    uint64_t v = SENTINEL;

    ck_assert_msg(gl_parse_duration(s, &v) == 0, "gl_parse_duration(\"%s\") failed", s);
    return v;
}

static uint32_t percent_ok(const char *s) {
    uint32_t v = 4242;

    ck_assert_msg(gl_parse_percent(s, &v) == 0, "gl_parse_percent(\"%s\") failed", s);
    return v;
}

START_TEST(test_bytes_accepted) {
    ck_assert_uint_eq(bytes_ok("0"), 0);
    ck_assert_uint_eq(bytes_ok("4096"), 4096);
    ck_assert_uint_eq(bytes_ok("007"), 7);
    ck_assert_uint_eq(bytes_ok("512Ki"), 512 * KI);
    ck_assert_uint_eq(bytes_ok("1Mi"), MI);
    ck_assert_uint_eq(bytes_ok("6Gi"), 6 * GI);
    ck_assert_uint_eq(bytes_ok("2Ti"), 2 * TI);
    ck_assert_uint_eq(bytes_ok("1.5Gi"), GI + GI / 2);
    ck_assert_uint_eq(bytes_ok("0.5Ki"), 512);
    /* 0.001Ki is 1.024 bytes: rounded down, exactly, however many digits follow. */
    ck_assert_uint_eq(bytes_ok("0.001Ki"), 1);
    ck_assert_uint_eq(bytes_ok("0.0009Ki"), 0);
    ck_assert_uint_eq(bytes_ok("0.99999999999999999999999Ki"), 1023);
    ck_assert_uint_eq(bytes_ok("18446744073709551615"), UINT64_MAX);
    ck_assert_uint_eq(bytes_ok("16777215Ti"), UINT64_C(16777215) * TI);
    ck_assert_uint_eq(bytes_ok("16777215.999999999999999999Ti"), UINT64_MAX);
}
END_TEST

START_TEST(test_bytes_rejected) {
    bytes_rejects("", -EINVAL);
    bytes_rejects("abc", -EINVAL);
    bytes_rejects("12abc", -EINVAL);
    bytes_rejects("-1", -EINVAL);
    bytes_rejects("+1", -EINVAL);
    bytes_rejects(" 1Mi", -EINVAL);
    bytes_rejects("1Mi ", -EINVAL);
    bytes_rejects("1 Mi", -EINVAL);
    bytes_rejects("1G", -EINVAL);
    bytes_rejects("1KB", -EINVAL);
    bytes_rejects("1ki", -EINVAL);
    bytes_rejects("1Pi", -EINVAL);
    bytes_rejects("1M", -EINVAL);
    bytes_rejects("1.5", -EINVAL); /* a fraction of a byte */
    bytes_rejects("1.Gi", -EINVAL);
    bytes_rejects(".5Gi", -EINVAL);
    bytes_rejects("1.2.3Gi", -EINVAL);
    bytes_rejects("10%", -EINVAL);
    bytes_rejects("0x10", -EINVAL);
    bytes_rejects("18446744073709551616", -ERANGE);
    bytes_rejects("16777216Ti", -ERANGE);
    bytes_rejects("16777216.5Ti", -ERANGE);
    bytes_rejects("99999999999999999999999999", -ERANGE);
    ck_assert_int_eq(gl_parse_bytes(NULL, &(uint64_t){0}), -EINVAL);
}
END_TEST

START_TEST(test_percent) {
    ck_assert_uint_eq(percent_ok("0%"), 0);
    ck_assert_uint_eq(percent_ok("10%"), 1000);
    ck_assert_uint_eq(percent_ok("7.5%"), 750);
    ck_assert_uint_eq(percent_ok("0.25%"), 25);
    ck_assert_uint_eq(percent_ok("100%"), GL_PERCENT_BP_MAX);
    ck_assert_uint_eq(percent_ok("100.00%"), GL_PERCENT_BP_MAX);

    percent_rejects("", -EINVAL);
    percent_rejects("%", -EINVAL);
    percent_rejects("10", -EINVAL);
    percent_rejects("10 %", -EINVAL);
    percent_rejects(" 10%", -EINVAL);
    percent_rejects("10% ", -EINVAL);
    percent_rejects("-1%", -EINVAL);
    percent_rejects("+1%", -EINVAL);
    percent_rejects("1.234%", -EINVAL);
    percent_rejects("1.%", -EINVAL);
    percent_rejects("10%%", -EINVAL);
    percent_rejects("ten%", -EINVAL);
    percent_rejects("100.01%", -ERANGE);
    percent_rejects("101%", -ERANGE);
    percent_rejects("99999999999999999999999%", -ERANGE);
}
END_TEST

START_TEST(test_quantity) {
    gl_quantity q = {.kind = GL_QTY_BYTES, .bytes = 1};

    ck_assert_int_eq(gl_parse_quantity("8%", &q), 0);
    ck_assert_int_eq(q.kind, GL_QTY_PERCENT);
    ck_assert_uint_eq(q.percent_bp, 800);
    ck_assert_int_eq(gl_parse_quantity("512Mi", &q), 0);
    ck_assert_int_eq(q.kind, GL_QTY_BYTES);
    ck_assert_uint_eq(q.bytes, 512 * MI);

    ck_assert_int_eq(gl_parse_quantity("8 %", &q), -EINVAL);
    ck_assert_int_eq(gl_parse_quantity("", &q), -EINVAL);
    ck_assert_int_eq(gl_parse_quantity("200%", &q), -ERANGE);
    ck_assert_int_eq(gl_parse_quantity("20000000Ti", &q), -ERANGE);
    ck_assert_int_eq(q.kind, GL_QTY_BYTES); /* untouched by the failures */
    ck_assert_uint_eq(q.bytes, 512 * MI);
}
END_TEST

START_TEST(test_quantity_resolve) {
    gl_quantity pct = {.kind = GL_QTY_PERCENT, .percent_bp = 1000};
    gl_quantity bytes = {.kind = GL_QTY_BYTES, .bytes = 123};
    gl_quantity all = {.kind = GL_QTY_PERCENT, .percent_bp = GL_PERCENT_BP_MAX};
    gl_quantity quarter = {.kind = GL_QTY_PERCENT, .percent_bp = 25};

    ck_assert_uint_eq(gl_quantity_resolve(&pct, 64 * GI), 64 * GI / 10);
    ck_assert_uint_eq(gl_quantity_resolve(&bytes, 64 * GI), 123);
    ck_assert_uint_eq(gl_quantity_resolve(&all, UINT64_MAX), UINT64_MAX); /* no overflow */
    ck_assert_uint_eq(gl_quantity_resolve(&pct, UINT64_MAX), UINT64_MAX / 10);
    ck_assert_uint_eq(gl_quantity_resolve(&quarter, 10000), 25);
    ck_assert_uint_eq(gl_quantity_resolve(&quarter, 399), 0); /* 0.9975 rounds down */
    ck_assert_uint_eq(gl_quantity_resolve(&pct, 0), 0);
}
END_TEST

START_TEST(test_duration_accepted) {
    ck_assert_uint_eq(duration_ok("500ms"), 500000);
    ck_assert_uint_eq(duration_ok("2s"), 2 * SEC);
    ck_assert_uint_eq(duration_ok("5min"), 300 * SEC);
    ck_assert_uint_eq(duration_ok("1h"), 3600 * SEC);
    ck_assert_uint_eq(duration_ok("1d"), 86400 * SEC);
    ck_assert_uint_eq(duration_ok("250us"), 250);
    ck_assert_uint_eq(duration_ok("0s"), 0);
    ck_assert_uint_eq(duration_ok("1min 30s"), 90 * SEC);
    ck_assert_uint_eq(duration_ok("1min30s"), 90 * SEC);
    ck_assert_uint_eq(duration_ok("1h  5min 1s 1ms 1us"), 3901 * SEC + 1001);
    ck_assert_uint_eq(duration_ok("1.5s"), 1500000);
    ck_assert_uint_eq(duration_ok("0.5ms"), 500);
    ck_assert_uint_eq(duration_ok("1.5us"), 1); /* rounded down */
    ck_assert_uint_eq(duration_ok("0.1h"), 360 * SEC);
    ck_assert_uint_eq(duration_ok("18446744073709551615us"), UINT64_MAX);
}
END_TEST

START_TEST(test_duration_rejected) {
    duration_rejects("", -EINVAL);
    duration_rejects("5", -EINVAL); /* bare number: seconds or milliseconds? */
    duration_rejects("1min 30", -EINVAL);
    duration_rejects("5m", -EINVAL); /* not minutes: only "min" */
    duration_rejects("5M", -EINVAL);
    duration_rejects("5S", -EINVAL);
    duration_rejects("5sec", -EINVAL);
    duration_rejects("5mins", -EINVAL);
    duration_rejects("1w", -EINVAL);
    duration_rejects("-1s", -EINVAL);
    duration_rejects("+1s", -EINVAL);
    duration_rejects(" 1s", -EINVAL);
    duration_rejects("1s ", -EINVAL);
    duration_rejects("1 s", -EINVAL);
    duration_rejects("1s,2s", -EINVAL);
    duration_rejects("s", -EINVAL);
    duration_rejects("1.s", -EINVAL);
    duration_rejects(".5s", -EINVAL);
    duration_rejects("18446744073709551616us", -ERANGE);
    duration_rejects("213503983d", -ERANGE);
    duration_rejects("18446744073709551615us 1us", -ERANGE);
}
END_TEST

START_TEST(test_bool) {
    static const char *const yes[] = {"yes", "YES", "true", "True", "on", "1"};
    static const char *const no[] = {"no", "No", "false", "FALSE", "off", "0"};
    static const char *const bad[] = {"", "y", "n", "2", " yes", "yes ", "enable", "-1"};
    bool v;

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        v = false;
        ck_assert_int_eq(gl_parse_bool(yes[i], &v), 0);
        ck_assert(v);
        ck_assert_int_eq(gl_parse_bool(no[i], &v), 0);
        ck_assert(!v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = true;
        ck_assert_msg(gl_parse_bool(bad[i], &v) == -EINVAL, "accepted \"%s\"", bad[i]);
        ck_assert(v);
    }
}
END_TEST

START_TEST(test_integers) {
    uint64_t u = 7;
    int64_t i = 7;

    ck_assert_int_eq(gl_parse_u64("0", &u), 0);
    ck_assert_uint_eq(u, 0);
    ck_assert_int_eq(gl_parse_u64("18446744073709551615", &u), 0);
    ck_assert_uint_eq(u, UINT64_MAX);
    ck_assert_int_eq(gl_parse_u64("18446744073709551616", &u), -ERANGE);
    ck_assert_int_eq(gl_parse_u64("", &u), -EINVAL);
    ck_assert_int_eq(gl_parse_u64("-1", &u), -EINVAL);
    ck_assert_int_eq(gl_parse_u64("+1", &u), -EINVAL);
    ck_assert_int_eq(gl_parse_u64(" 1", &u), -EINVAL);
    ck_assert_int_eq(gl_parse_u64("1 ", &u), -EINVAL);
    ck_assert_int_eq(gl_parse_u64("1k", &u), -EINVAL);
    ck_assert_uint_eq(u, UINT64_MAX);

    ck_assert_int_eq(gl_parse_i64("2000000000", &i), 0);
    ck_assert_int_eq(i, 2000000000);
    ck_assert_int_eq(gl_parse_i64("-5", &i), 0);
    ck_assert_int_eq(i, -5);
    ck_assert_int_eq(gl_parse_i64("9223372036854775807", &i), 0);
    ck_assert_int_eq(i, INT64_MAX);
    ck_assert_int_eq(gl_parse_i64("-9223372036854775808", &i), 0);
    ck_assert_int_eq(i, INT64_MIN);
    ck_assert_int_eq(gl_parse_i64("9223372036854775808", &i), -ERANGE);
    ck_assert_int_eq(gl_parse_i64("-9223372036854775809", &i), -ERANGE);
    ck_assert_int_eq(gl_parse_i64("+5", &i), -EINVAL);
    ck_assert_int_eq(gl_parse_i64("-", &i), -EINVAL);
    ck_assert_int_eq(gl_parse_i64("--5", &i), -EINVAL);
    ck_assert_int_eq(gl_parse_i64("", &i), -EINVAL);
    ck_assert_int_eq(gl_parse_i64(" 5", &i), -EINVAL);
    ck_assert_int_eq(i, INT64_MIN);
}
END_TEST

START_TEST(test_format_bytes) {
    char buf[32];

    ck_assert_str_eq(gl_format_bytes(0, buf, sizeof(buf)), "0");
    ck_assert_str_eq(gl_format_bytes(1000, buf, sizeof(buf)), "1000");
    ck_assert_str_eq(gl_format_bytes(4096, buf, sizeof(buf)), "4Ki");
    ck_assert_str_eq(gl_format_bytes(512 * MI, buf, sizeof(buf)), "512Mi");
    ck_assert_str_eq(gl_format_bytes(GI + GI / 2, buf, sizeof(buf)), "1.50Gi");
    ck_assert_str_eq(gl_format_bytes(2 * GI - 1, buf, sizeof(buf)), "1.99Gi"); /* rounded down */
    ck_assert_str_eq(gl_format_bytes(3 * TI, buf, sizeof(buf)), "3Ti");
    ck_assert_str_eq(gl_format_bytes(2048 * TI, buf, sizeof(buf)), "2048Ti");
    ck_assert_str_eq(gl_format_bytes(UINT64_MAX, buf, sizeof(buf)), "16777215.99Ti");
    /* The output parses back. */
    ck_assert_uint_eq(bytes_ok(gl_format_bytes(512 * MI, buf, sizeof(buf))), 512 * MI);
}
END_TEST

START_TEST(test_format_duration) {
    char buf[32];

    ck_assert_str_eq(gl_format_duration(0, buf, sizeof(buf)), "0s");
    ck_assert_str_eq(gl_format_duration(1500000, buf, sizeof(buf)), "1500ms");
    ck_assert_str_eq(gl_format_duration(300 * SEC, buf, sizeof(buf)), "5min");
    ck_assert_str_eq(gl_format_duration(90 * SEC, buf, sizeof(buf)), "90s");
    ck_assert_str_eq(gl_format_duration(3600 * SEC, buf, sizeof(buf)), "1h");
    ck_assert_str_eq(gl_format_duration(86400 * SEC, buf, sizeof(buf)), "1d");
    ck_assert_str_eq(gl_format_duration(1001, buf, sizeof(buf)), "1001us");
    ck_assert_str_eq(gl_format_duration(2 * SEC, buf, sizeof(buf)), "2s");
    ck_assert_uint_eq(duration_ok(gl_format_duration(1500000, buf, sizeof(buf))), 1500000);
}
END_TEST

START_TEST(test_format_percent_and_quantity) {
    char buf[32];
    gl_quantity pct = {.kind = GL_QTY_PERCENT, .percent_bp = 800};
    gl_quantity bytes = {.kind = GL_QTY_BYTES, .bytes = 6 * GI};

    ck_assert_str_eq(gl_format_percent(1500, buf, sizeof(buf)), "15%");
    ck_assert_str_eq(gl_format_percent(750, buf, sizeof(buf)), "7.5%");
    ck_assert_str_eq(gl_format_percent(25, buf, sizeof(buf)), "0.25%");
    ck_assert_str_eq(gl_format_percent(0, buf, sizeof(buf)), "0%");
    ck_assert_str_eq(gl_format_percent(10000, buf, sizeof(buf)), "100%");
    ck_assert_str_eq(gl_format_quantity(&pct, buf, sizeof(buf)), "8%");
    ck_assert_str_eq(gl_format_quantity(&bytes, buf, sizeof(buf)), "6Gi");
}
END_TEST

START_TEST(test_format_truncates) {
    char buf[4] = "xxx", one[1] = {'x'};

    ck_assert_str_eq(gl_format_bytes(512 * MI, buf, sizeof(buf)), "512");
    ck_assert_str_eq(gl_format_duration(1500000, buf, sizeof(buf)), "150");
    ck_assert_str_eq(gl_format_bytes(1, one, sizeof(one)), "");
    ck_assert_ptr_eq(gl_format_bytes(1, buf, 0), buf); /* nothing written, no crash */
}
END_TEST

static Suite *units_suite(void) {
    Suite *s = suite_create("units");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_bytes_accepted);
    tcase_add_test(tc, test_bytes_rejected);
    tcase_add_test(tc, test_percent);
    tcase_add_test(tc, test_quantity);
    tcase_add_test(tc, test_quantity_resolve);
    tcase_add_test(tc, test_duration_accepted);
    tcase_add_test(tc, test_duration_rejected);
    tcase_add_test(tc, test_bool);
    tcase_add_test(tc, test_integers);
    tcase_add_test(tc, test_format_bytes);
    tcase_add_test(tc, test_format_duration);
    tcase_add_test(tc, test_format_percent_and_quantity);
    tcase_add_test(tc, test_format_truncates);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(units_suite)
