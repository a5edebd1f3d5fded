/* test_psi.c: Check suite for the pressure stall information parser and reader. */
#include "guardlet/psi.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* Texts in the kernel's exact format. cpu and io were captured from a development machine
 * (Linux 6.18); memory is shaped like a node under sustained pressure. */
static const char real_cpu[] = "some avg10=10.67 avg60=2.71 avg300=1.00 total=5128930\n"
                               "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
static const char real_io[] = "some avg10=0.00 avg60=0.14 avg300=0.48 total=3281610\n"
                              "full avg10=0.00 avg60=0.13 avg300=0.45 total=3080661\n";
static const char real_memory[] = "some avg10=34.12 avg60=20.05 avg300=5.50 total=123456789\n"
                                  "full avg10=30.01 avg60=18.00 avg300=4.93 total=98765432\n";
/* Before Linux 5.13 the node's cpu file had no "full" line. */
static const char old_cpu[] = "some avg10=1.20 avg60=0.80 avg300=0.25 total=987654\n";

static int parse_str(const char *s, gl_psi *out) {
    return gl_psi_parse(s, strlen(s), out);
}

static void assert_line(const gl_psi_line *l, uint32_t a10, uint32_t a60, uint32_t a300,
                        uint64_t total) {
    ck_assert_uint_eq(l->avg10_bp, a10);
    ck_assert_uint_eq(l->avg60_bp, a60);
    ck_assert_uint_eq(l->avg300_bp, a300);
    ck_assert_uint_eq(l->total_usec, total);
}

START_TEST(test_real_memory) {
    gl_psi p;
    ck_assert_int_eq(parse_str(real_memory, &p), 0);
    assert_line(&p.some, 3412, 2005, 550, 123456789);
    ck_assert(p.has_full);
    assert_line(&p.full, 3001, 1800, 493, 98765432);
}
END_TEST

START_TEST(test_real_cpu) {
    gl_psi p;
    ck_assert_int_eq(parse_str(real_cpu, &p), 0);
    assert_line(&p.some, 1067, 271, 100, 5128930);
    ck_assert(p.has_full);
    assert_line(&p.full, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_real_io) {
    gl_psi p;
    ck_assert_int_eq(parse_str(real_io, &p), 0);
    assert_line(&p.some, 0, 14, 48, 3281610);
    ck_assert(p.has_full);
    assert_line(&p.full, 0, 13, 45, 3080661);
}
END_TEST

START_TEST(test_cpu_without_full) {
    gl_psi p;
    memset(&p, 0xab, sizeof(p));
    ck_assert_int_eq(parse_str(old_cpu, &p), 0);
    assert_line(&p.some, 120, 80, 25, 987654);
    ck_assert(!p.has_full);
    /* The absent line reads as zeros, not as whatever was in the output before. */
    assert_line(&p.full, 0, 0, 0, 0);
}
END_TEST

START_TEST(test_reordered_keys_and_lines) {
    gl_psi p;
    ck_assert_int_eq(parse_str("full total=5 avg300=0.03 avg10=0.01 avg60=0.02\n"
                               "some avg60=2.00 total=7 avg10=1.00 avg300=3.00\n",
                               &p),
                     0);
    assert_line(&p.some, 100, 200, 300, 7);
    ck_assert(p.has_full);
    assert_line(&p.full, 1, 2, 3, 5);
}
END_TEST

START_TEST(test_unknown_keys) {
    gl_psi p;
    ck_assert_int_eq(parse_str("some avg1=0.50 avg10=1.00 avg60=2.00 avg300=3.00 total=7 "
                               "stalls=12 future_key=1.2.3\n",
                               &p),
                     0);
    assert_line(&p.some, 100, 200, 300, 7);
    ck_assert(!p.has_full);
}
END_TEST

START_TEST(test_avg_forms) {
    /* Zero, one or two decimals; the bounds 0 and 100; leading zeros; the largest total. */
    gl_psi p;
    ck_assert_int_eq(parse_str("some avg10=3.7 avg60=100 avg300=0 total=18446744073709551615\n"
                               "full avg10=100.00 avg60=007.05 avg300=0.0 total=0\n",
                               &p),
                     0);
    assert_line(&p.some, 370, 10000, 0, UINT64_MAX);
    assert_line(&p.full, 10000, 705, 0, 0);
}
END_TEST

START_TEST(test_resource_names) {
    ck_assert_str_eq(gl_psi_resource_name(GL_PSI_MEMORY), "memory");
    ck_assert_str_eq(gl_psi_resource_name(GL_PSI_CPU), "cpu");
    ck_assert_str_eq(gl_psi_resource_name(GL_PSI_IO), "io");
    /* Out of range still yields text that can go into a log line. */
    ck_assert_str_eq(gl_psi_resource_name(GL_PSI_N), "unknown");
}
END_TEST

#define GOOD_SOME "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"

/* sizeof on the literal keeps embedded NUL bytes in the text, where strlen would stop. */
#define BAD(what, text)                                                                            \
    { what, text, sizeof(text) - 1 }

static const struct {
    const char *what;
    const char *text;
    size_t len;
} bad_texts[] = {
    BAD("empty", ""),
    BAD("only a newline", "\n"),
    BAD("garbage", "hello world\n"),
    BAD("binary garbage", "\x01\x02\x03\n"),
    BAD("truncated without newline", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4"),
    BAD("truncated second line", GOOD_SOME "full avg10=1.00 avg60=2.00 avg300=3.00 tot"),
    BAD("three decimals", "some avg10=1.000 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("above 100", "some avg10=100.01 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("101 without decimals", "some avg10=101 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("far above 100", "some avg10=99999999999999999999.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("negative average", "some avg10=-1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("dot without decimals", "some avg10=1. avg60=2.00 avg300=3.00 total=4\n"),
    BAD("dot without integer part", "some avg10=.50 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("two dots", "some avg10=1.0.0 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("comma decimal", "some avg10=1,00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("exponent", "some avg10=1e1 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("empty average", "some avg10= avg60=2.00 avg300=3.00 total=4\n"),
    BAD("missing total", "some avg10=1.00 avg60=2.00 avg300=3.00\n"),
    BAD("missing avg10", "some avg60=2.00 avg300=3.00 total=4\n"),
    BAD("missing avg300 in full", GOOD_SOME "full avg10=1.00 avg60=2.00 total=4\n"),
    BAD("no fields", "some\n"),
    BAD("total with decimals", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4.5\n"),
    BAD("total overflow", "some avg10=1.00 avg60=2.00 avg300=3.00 total=18446744073709551616\n"),
    BAD("negative total", "some avg10=1.00 avg60=2.00 avg300=3.00 total=-4\n"),
    BAD("empty total", "some avg10=1.00 avg60=2.00 avg300=3.00 total=\n"),
    BAD("duplicate avg10", "some avg10=1.00 avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("duplicate total", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4 total=4\n"),
    BAD("duplicate some line", GOOD_SOME GOOD_SOME),
    BAD("duplicate full line", GOOD_SOME "full avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"
                                         "full avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("unknown line kind", GOOD_SOME "half avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("kind in capitals", "SOME avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("only a full line", "full avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("empty line between", GOOD_SOME "\n"
                                        "full avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("trailing empty line", GOOD_SOME "\n"),
    BAD("trailing space", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4 \n"),
    BAD("double space", "some avg10=1.00  avg60=2.00 avg300=3.00 total=4\n"),
    BAD("leading space", " some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("tab separator", "some\tavg10=1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("carriage return", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\r\n"),
    BAD("NUL in value", "some avg10=1.00 avg60=2\0.00 avg300=3.00 total=4\n"),
    BAD("key without value", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4 flag\n"),
    BAD("empty key", "some =1 avg10=1.00 avg60=2.00 avg300=3.00 total=4\n"),
    BAD("unknown key, empty value", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4 x=\n"),
    BAD("unknown key, word value", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4 x=yes\n"),
    BAD("space around equals", "some avg10 = 1.00 avg60=2.00 avg300=3.00 total=4\n"),
};

#define N_BAD (sizeof(bad_texts) / sizeof(bad_texts[0]))

START_TEST(test_rejects) {
    /* A rejected text must also leave the output untouched. */
    gl_psi p;
    gl_psi sentinel;
    memset(&p, 0xab, sizeof(p));
    memset(&sentinel, 0xab, sizeof(sentinel));
    int r = gl_psi_parse(bad_texts[_i].text, bad_texts[_i].len, &p);
    ck_assert_msg(r == -EBADMSG, "%s: expected -EBADMSG, got %d", bad_texts[_i].what, r);
    ck_assert_msg(memcmp(&p, &sentinel, sizeof(p)) == 0, "%s: output was modified",
                  bad_texts[_i].what);
}
END_TEST

START_TEST(test_every_truncation) {
    /* A prefix ending inside a line is rejected; the one ending after the "some" line is a
     * complete text without "full". */
    size_t len = strlen(real_io);
    size_t first_nl = (size_t)(strchr(real_io, '\n') - real_io);
    for (size_t cut = 0; cut < len; cut++) {
        gl_psi p;
        int r = gl_psi_parse(real_io, cut, &p);
        if (cut == first_nl + 1) {
            ck_assert_int_eq(r, 0);
            ck_assert(!p.has_full);
        } else {
            ck_assert_int_eq(r, -EBADMSG);
        }
    }
}
END_TEST

START_TEST(test_null_args) {
    gl_psi p;
    ck_assert_int_eq(gl_psi_parse(NULL, 0, &p), -EINVAL);
    ck_assert_int_eq(gl_psi_parse(real_io, strlen(real_io), NULL), -EINVAL);
    ck_assert_int_eq(gl_psi_read(NULL, &p), -EINVAL);
}
END_TEST

static void write_file(const char *path, const char *text, size_t len) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

START_TEST(test_read_temp_file) {
    char dir[] = "/tmp/guardlet-psi-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/memory.pressure", dir);
    gl_psi p;

    ck_assert_int_eq(gl_psi_read(path, &p), -ENOENT);

    write_file(path, real_memory, strlen(real_memory));
    ck_assert_int_eq(gl_psi_read(path, &p), 0);
    assert_line(&p.some, 3412, 2005, 550, 123456789);
    ck_assert(p.has_full);
    assert_line(&p.full, 3001, 1800, 493, 98765432);

    /* A file cut short on disk is rejected like a cut buffer. */
    write_file(path, real_memory, strlen(real_memory) - 1);
    ck_assert_int_eq(gl_psi_read(path, &p), -EBADMSG);

    /* Far more than any PSI file holds: refused rather than parsed in part. */
    char big[2048];
    memset(big, '\n', sizeof(big));
    write_file(path, big, sizeof(big));
    ck_assert_int_eq(gl_psi_read(path, &p), -EFBIG);

    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_read_proc_pressure) {
    /* Every resource the kernel offers must parse; kernels without PSI (or booted with psi=0)
     * have no such files, or files that fail with EOPNOTSUPP, and the test skips itself. */
    for (int r = 0; r < GL_PSI_N; r++) {
        const char *name = gl_psi_resource_name((gl_psi_resource)r);
        char path[64];
        snprintf(path, sizeof(path), "/proc/pressure/%s", name);
        gl_psi p;
        int ret = gl_psi_read(path, &p);
        if (ret == -ENOENT || ret == -EOPNOTSUPP) {
            printf("SKIP test_read_proc_pressure: %s: %s unavailable (%s)\n", name, path,
                   strerror(-ret));
            continue;
        }
        ck_assert_msg(ret == 0, "%s: %d", path, ret);
        ck_assert_uint_le(p.some.avg10_bp, 10000);
        ck_assert_uint_le(p.some.avg60_bp, 10000);
        ck_assert_uint_le(p.some.avg300_bp, 10000);
        /* Stalling all tasks implies stalling some, so full can never be ahead. */
        if (p.has_full)
            ck_assert_uint_le(p.full.total_usec, p.some.total_usec);
        /* The memory and io files have always had a "full" line. */
        if (r != GL_PSI_CPU)
            ck_assert(p.has_full);
    }
}
END_TEST

static Suite *psi_suite(void) {
    Suite *s = suite_create("psi");

    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_real_memory);
    tcase_add_test(tc, test_real_cpu);
    tcase_add_test(tc, test_real_io);
    tcase_add_test(tc, test_cpu_without_full);
    tcase_add_test(tc, test_reordered_keys_and_lines);
    tcase_add_test(tc, test_unknown_keys);
    tcase_add_test(tc, test_avg_forms);
    tcase_add_test(tc, test_resource_names);
    tcase_add_test(tc, test_every_truncation);
    tcase_add_test(tc, test_null_args);
    tcase_add_loop_test(tc, test_rejects, 0, (int)N_BAD);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_add_test(tc, test_read_temp_file);
    tcase_add_test(tc, test_read_proc_pressure);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(psi_suite)
