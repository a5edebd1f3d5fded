/* test_meminfo.c: Check suite for the /proc/meminfo parser, reader and kubelet arithmetic. */
#include "guardlet/meminfo.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* /proc/meminfo captured from a development machine (Linux 6.18, x86-64, no swap), kept verbatim
 * so that the parser is tested on the kernel's real spacing and its unit-less HugePages lines. */
static const char real_meminfo[] = "MemTotal:       24683620 kB\n"
                                   "MemFree:        24410332 kB\n"
                                   "MemAvailable:   24385436 kB\n"
                                   "Buffers:            2120 kB\n"
                                   "Cached:           147620 kB\n"
                                   "SwapCached:            0 kB\n"
                                   "Active:            13276 kB\n"
                                   "Inactive:         132812 kB\n"
                                   "Active(anon):       1520 kB\n"
                                   "Inactive(anon):     3720 kB\n"
                                   "Active(file):      11756 kB\n"
                                   "Inactive(file):   129092 kB\n"
                                   "Unevictable:       12376 kB\n"
                                   "Mlocked:           11412 kB\n"
                                   "SwapTotal:             0 kB\n"
                                   "SwapFree:              0 kB\n"
                                   "Zswap:                 0 kB\n"
                                   "Zswapped:              0 kB\n"
                                   "Dirty:               140 kB\n"
                                   "Writeback:             0 kB\n"
                                   "AnonPages:          8808 kB\n"
                                   "Mapped:            10680 kB\n"
                                   "Shmem:              8884 kB\n"
                                   "KReclaimable:      53372 kB\n"
                                   "Slab:              74652 kB\n"
                                   "SReclaimable:      53372 kB\n"
                                   "SUnreclaim:        21280 kB\n"
                                   "KernelStack:        1288 kB\n"
                                   "PageTables:         1028 kB\n"
                                   "SecPageTables:         0 kB\n"
                                   "NFS_Unstable:          0 kB\n"
                                   "Bounce:                0 kB\n"
                                   "WritebackTmp:          0 kB\n"
                                   "CommitLimit:    12341808 kB\n"
                                   "Committed_AS:      52596 kB\n"
                                   "VmallocTotal:   34359738367 kB\n"
                                   "VmallocUsed:       14076 kB\n"
                                   "VmallocChunk:          0 kB\n"
                                   "Percpu:              688 kB\n"
                                   "AnonHugePages:         0 kB\n"
                                   "ShmemHugePages:        0 kB\n"
                                   "ShmemPmdMapped:        0 kB\n"
                                   "FileHugePages:         0 kB\n"
                                   "FilePmdMapped:         0 kB\n"
                                   "Balloon:               0 kB\n"
                                   "HugePages_Total:       0\n"
                                   "HugePages_Free:        0\n"
                                   "HugePages_Rsvd:        0\n"
                                   "HugePages_Surp:        0\n"
                                   "Hugepagesize:       2048 kB\n"
                                   "Hugetlb:               0 kB\n"
                                   "DirectMap4k:       30720 kB\n"
                                   "DirectMap2M:    25135104 kB\n";

#define KIB 1024ull

/* The smallest text that parses: the four required keys. */
#define MINIMAL                                                                                    \
    "MemTotal:       1000 kB\n"                                                                    \
    "MemFree:         100 kB\n"                                                                    \
    "MemAvailable:    500 kB\n"                                                                    \
    "Inactive(file):  200 kB\n"

static int parse_str(const char *s, gl_meminfo *m) {
    return gl_meminfo_parse(s, strlen(s), m);
}

/* A rejected text must leave the output alone, so every rejection check also compares it
 * against a sentinel pattern. */
static void assert_rejected(const char *what, const char *text, size_t len) {
    gl_meminfo m;
    gl_meminfo sentinel;
    memset(&m, 0xab, sizeof(m));
    memset(&sentinel, 0xab, sizeof(sentinel));
    int r = gl_meminfo_parse(text, len, &m);
    ck_assert_msg(r == -EBADMSG, "%s: expected -EBADMSG, got %d", what, r);
    ck_assert_msg(memcmp(&m, &sentinel, sizeof(m)) == 0, "%s: output was modified", what);
}

START_TEST(test_real_capture) {
    gl_meminfo m;
    ck_assert_int_eq(parse_str(real_meminfo, &m), 0);
    ck_assert_uint_eq(m.total_bytes, 24683620ull * KIB);
    ck_assert_uint_eq(m.free_bytes, 24410332ull * KIB);
    ck_assert_uint_eq(m.available_bytes, 24385436ull * KIB);
    ck_assert_uint_eq(m.inactive_file_bytes, 129092ull * KIB);
    ck_assert_uint_eq(m.active_file_bytes, 11756ull * KIB);
    ck_assert_uint_eq(m.swap_total_bytes, 0ull * KIB);
    ck_assert_uint_eq(m.swap_free_bytes, 0ull * KIB);

    uint64_t ws = (24683620ull - 24410332ull - 129092ull) * KIB;
    ck_assert_uint_eq(gl_meminfo_working_set(&m), ws);
    ck_assert_uint_eq(gl_meminfo_kubelet_available(&m), 24683620ull * KIB - ws);
}
END_TEST

START_TEST(test_minimal_and_optional_absent) {
    gl_meminfo m;
    memset(&m, 0xab, sizeof(m));
    ck_assert_int_eq(parse_str(MINIMAL, &m), 0);
    ck_assert_uint_eq(m.total_bytes, 1000 * KIB);
    ck_assert_uint_eq(m.free_bytes, 100 * KIB);
    ck_assert_uint_eq(m.available_bytes, 500 * KIB);
    ck_assert_uint_eq(m.inactive_file_bytes, 200 * KIB);
    /* Keys that are not required read as 0 when absent (kernels without CONFIG_SWAP). */
    ck_assert_uint_eq(m.active_file_bytes, 0);
    ck_assert_uint_eq(m.swap_total_bytes, 0);
    ck_assert_uint_eq(m.swap_free_bytes, 0);
}
END_TEST

START_TEST(test_swap_and_order) {
    /* Keys in another order than the kernel's, swap present. */
    gl_meminfo m;
    ck_assert_int_eq(parse_str("SwapFree: 7 kB\n"
                               "Inactive(file): 3 kB\n"
                               "SwapTotal: 8 kB\n"
                               "MemAvailable: 4 kB\n"
                               "Active(file): 6 kB\n"
                               "MemFree: 2 kB\n"
                               "MemTotal: 9 kB\n",
                               &m),
                     0);
    ck_assert_uint_eq(m.total_bytes, 9 * KIB);
    ck_assert_uint_eq(m.free_bytes, 2 * KIB);
    ck_assert_uint_eq(m.inactive_file_bytes, 3 * KIB);
    ck_assert_uint_eq(m.available_bytes, 4 * KIB);
    ck_assert_uint_eq(m.active_file_bytes, 6 * KIB);
    ck_assert_uint_eq(m.swap_total_bytes, 8 * KIB);
    ck_assert_uint_eq(m.swap_free_bytes, 7 * KIB);
}
END_TEST

START_TEST(test_unknown_keys_accepted) {
    gl_meminfo m;
    ck_assert_int_eq(parse_str("Brand_New(thing):   12 kB\n"
                               "MemTotal:       1000 kB\n"
                               "NoUnitCounter:     3\n"
                               "MemFree:         100 kB\n"
                               "Brand_New(thing):   13 kB\n" /* unknown keys may repeat */
                               "MemAvailable:    500 kB\n"
                               "X:0\n" /* no padding at all */
                               "Inactive(file):  200 kB\n"
                               "Trailing_Unknown:  1 kB\n",
                               &m),
                     0);
    ck_assert_uint_eq(m.total_bytes, 1000 * KIB);
    ck_assert_uint_eq(m.free_bytes, 100 * KIB);
    ck_assert_uint_eq(m.available_bytes, 500 * KIB);
    ck_assert_uint_eq(m.inactive_file_bytes, 200 * KIB);
}
END_TEST

START_TEST(test_largest_value) {
    /* 2^54 - 1 kB is the largest figure whose byte count fits in 64 bits. */
    gl_meminfo m;
    ck_assert_int_eq(parse_str("MemTotal: 18014398509481983 kB\n"
                               "MemFree: 0 kB\n"
                               "MemAvailable: 0 kB\n"
                               "Inactive(file): 0 kB\n",
                               &m),
                     0);
    ck_assert_uint_eq(m.total_bytes, 18014398509481983ull * KIB);
    ck_assert_uint_eq(gl_meminfo_working_set(&m), 18014398509481983ull * KIB);
    ck_assert_uint_eq(gl_meminfo_kubelet_available(&m), 0);
}
END_TEST

START_TEST(test_working_set) {
    gl_meminfo m = {.total_bytes = 1000, .free_bytes = 100, .inactive_file_bytes = 200};
    ck_assert_uint_eq(gl_meminfo_working_set(&m), 700);
    ck_assert_uint_eq(gl_meminfo_kubelet_available(&m), 300);

    /* Inactive(file) larger than usage: the working set floors at 0, everything is available. */
    m = (gl_meminfo){.total_bytes = 1000, .free_bytes = 900, .inactive_file_bytes = 200};
    ck_assert_uint_eq(gl_meminfo_working_set(&m), 0);
    ck_assert_uint_eq(gl_meminfo_kubelet_available(&m), 1000);

    /* MemFree above MemTotal (inconsistent sampling): usage floors at 0 before the second step,
     * so inactive_file is not subtracted from a wrapped number. */
    m = (gl_meminfo){.total_bytes = 1000, .free_bytes = 1200, .inactive_file_bytes = 0};
    ck_assert_uint_eq(gl_meminfo_working_set(&m), 0);
    ck_assert_uint_eq(gl_meminfo_kubelet_available(&m), 1000);

    /* Exactly equal: zero, not wrapped. */
    m = (gl_meminfo){.total_bytes = 1000, .free_bytes = 400, .inactive_file_bytes = 600};
    ck_assert_uint_eq(gl_meminfo_working_set(&m), 0);

    /* Nothing free and nothing reclaimable: the whole machine is the working set. */
    m = (gl_meminfo){.total_bytes = 1000};
    ck_assert_uint_eq(gl_meminfo_working_set(&m), 1000);
    ck_assert_uint_eq(gl_meminfo_kubelet_available(&m), 0);

    gl_meminfo zero = {0};
    ck_assert_uint_eq(gl_meminfo_working_set(&zero), 0);
    ck_assert_uint_eq(gl_meminfo_kubelet_available(&zero), 0);
}
END_TEST

/* sizeof on the literal keeps embedded NUL bytes in the text, where strlen would stop. */
#define BAD(what, text)                                                                            \
    { what, text, sizeof(text) - 1 }

/* Each entry is appended to MINIMAL (or replaces it, when it starts with '!') and must be
 * rejected. */
static const struct {
    const char *what;
    const char *text;
    size_t len;
} bad_lines[] = {
    BAD("no colon", "Foo 12 kB\n"),
    BAD("empty line", "\n"),
    BAD("empty key", ":  12 kB\n"),
    BAD("space in key", "Foo Bar: 12 kB\n"),
    BAD("no value", "Foo:\n"),
    BAD("only spaces as value", "Foo:    \n"),
    BAD("unit without value", "Foo:   kB\n"),
    BAD("non-digit value", "Foo: 12a kB\n"),
    BAD("negative value", "Foo: -12 kB\n"),
    BAD("decimal value", "Foo: 1.5 kB\n"),
    BAD("hex value", "Foo: 0x12 kB\n"),
    BAD("trailing garbage", "Foo: 12 kB extra\n"),
    BAD("trailing space", "Foo: 12 kB \n"),
    BAD("trailing space, no unit", "Foo: 12 \n"),
    BAD("unit glued to value", "Foo: 12kB\n"),
    BAD("two spaces before unit", "Foo: 12  kB\n"),
    BAD("unit MB", "Foo: 12 MB\n"),
    BAD("unit kb", "Foo: 12 kb\n"),
    BAD("unit KiB", "Foo: 12 KiB\n"),
    BAD("tab padding", "Foo:\t12 kB\n"),
    BAD("carriage return", "Foo: 12 kB\r\n"),
    BAD("NUL in key", "Fo\0o: 12 kB\n"),
    BAD("two colons", "Foo:: 12 kB\n"),
    BAD("digits overflow u64", "Foo: 18446744073709551616\n"),
    BAD("kB overflow on unknown key", "Foo: 18014398509481984 kB\n"),
    BAD("repeated MemTotal", "MemTotal: 1000 kB\n"),
    BAD("repeated Inactive(file)", "Inactive(file): 1 kB\n"),
    BAD("repeated optional key", "SwapTotal: 1 kB\nSwapTotal: 1 kB\n"),
    BAD("known key without kB", "Active(file): 12\n"),
    BAD("!kB overflow on MemTotal", "MemTotal: 18014398509481984 kB\nMemFree: 0 kB\nMemAvailable: "
                                    "0 kB\nInactive(file): 0 kB\n"),
    BAD("!huge digit string", "MemTotal: 99999999999999999999999999 kB\nMemFree: 0 kB\n"
                              "MemAvailable: 0 kB\nInactive(file): 0 kB\n"),
    BAD("!truncated without newline", "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 500 kB\n"
                                      "Inactive(file): 200 kB"),
    BAD("!truncated mid-value", "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 500 kB\n"
                                "Inactive(file): 2"),
    BAD("!empty", ""),
    BAD("!only a newline", "\n"),
    BAD("!missing MemTotal", "MemFree: 100 kB\nMemAvailable: 500 kB\nInactive(file): 200 kB\n"),
    BAD("!missing MemFree", "MemTotal: 1000 kB\nMemAvailable: 500 kB\nInactive(file): 200 kB\n"),
    BAD("!missing MemAvailable", "MemTotal: 1000 kB\nMemFree: 100 kB\nInactive(file): 200 kB\n"),
    BAD("!missing Inactive(file)", "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 500 kB\n"),
    BAD("!required key spelt in lower case",
        "memtotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 500 kB\nInactive(file): 200 kB\n"),
};

#define N_BAD (sizeof(bad_lines) / sizeof(bad_lines[0]))

START_TEST(test_rejects) {
    const char *what = bad_lines[_i].what;
    const char *bad = bad_lines[_i].text;
    size_t bad_len = bad_lines[_i].len;
    char text[1024];
    size_t len;
    if (what[0] == '!') {
        ck_assert_uint_lt(bad_len, sizeof(text));
        memcpy(text, bad, bad_len);
        len = bad_len;
    } else {
        /* The bad line goes in the middle, so that a later good line cannot hide it, and at the
         * end, so that the final line is checked too. */
        len = (size_t)snprintf(text, sizeof(text), "MemTotal: 1000 kB\nMemFree: 100 kB\n");
        ck_assert_uint_lt(len + bad_len, sizeof(text));
        memcpy(text + len, bad, bad_len);
        len += bad_len;
        int n = snprintf(text + len, sizeof(text) - len,
                         "MemAvailable: 500 kB\n"
                         "Inactive(file): 200 kB\n");
        len += (size_t)n;
        assert_rejected(what, text, len);

        len = strlen(MINIMAL);
        memcpy(text, MINIMAL, len);
        memcpy(text + len, bad, bad_len);
        len += bad_len;
    }
    assert_rejected(what, text, len);
}
END_TEST

START_TEST(test_truncated_real_capture) {
    /* Every proper prefix of the real text that ends inside a line must be rejected; prefixes
     * ending at a newline are complete texts and parse once the required keys are in. */
    size_t len = strlen(real_meminfo);
    /* Inactive(file) is the last of the required keys in the kernel's order. */
    const char *last_required = strstr(real_meminfo, "Inactive(file):");
    ck_assert_ptr_nonnull(last_required);
    size_t complete = (size_t)(strchr(last_required, '\n') + 1 - real_meminfo);
    for (size_t cut = 0; cut < len; cut++) {
        gl_meminfo m;
        int r = gl_meminfo_parse(real_meminfo, cut, &m);
        if (cut == 0 || real_meminfo[cut - 1] != '\n')
            ck_assert_int_eq(r, -EBADMSG);
        else
            ck_assert_int_eq(r, cut >= complete ? 0 : -EBADMSG);
    }
}
END_TEST

START_TEST(test_null_args) {
    gl_meminfo m;
    ck_assert_int_eq(gl_meminfo_parse(NULL, 0, &m), -EINVAL);
    ck_assert_int_eq(gl_meminfo_parse(MINIMAL, strlen(MINIMAL), NULL), -EINVAL);
    ck_assert_int_eq(gl_meminfo_read(NULL, &m), -EINVAL);
}
END_TEST

/* A fake proc root in a temporary folder, removed by the test that made it. */
#define TMP_TEMPLATE "/tmp/guardlet-meminfo-XXXXXX"
static char tmp_root[sizeof(TMP_TEMPLATE)];

static void make_root(void) {
    /* mkdtemp overwrites the X's, so the template is restored for every use. */
    memcpy(tmp_root, TMP_TEMPLATE, sizeof(TMP_TEMPLATE));
    ck_assert_ptr_nonnull(mkdtemp(tmp_root));
}

static void write_meminfo(const char *text) {
    char path[128];
    snprintf(path, sizeof(path), "%s/meminfo", tmp_root);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

static void remove_root(void) {
    char path[128];
    snprintf(path, sizeof(path), "%s/meminfo", tmp_root);
    (void)unlink(path);
    ck_assert_int_eq(rmdir(tmp_root), 0);
}

START_TEST(test_read_temp_root) {
    make_root();
    gl_meminfo m;

    /* No meminfo file yet. */
    ck_assert_int_eq(gl_meminfo_read(tmp_root, &m), -ENOENT);

    write_meminfo(real_meminfo);
    memset(&m, 0, sizeof(m));
    ck_assert_int_eq(gl_meminfo_read(tmp_root, &m), 0);
    ck_assert_uint_eq(m.total_bytes, 24683620ull * KIB);
    ck_assert_uint_eq(m.inactive_file_bytes, 129092ull * KIB);

    /* A trailing slash on the root makes no difference. */
    char slashed[80];
    snprintf(slashed, sizeof(slashed), "%s/", tmp_root);
    memset(&m, 0, sizeof(m));
    ck_assert_int_eq(gl_meminfo_read(slashed, &m), 0);
    ck_assert_uint_eq(m.free_bytes, 24410332ull * KIB);

    /* A file cut short on disk is rejected like a cut buffer. */
    write_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 500 kB\nInactive(file): 2");
    ck_assert_int_eq(gl_meminfo_read(tmp_root, &m), -EBADMSG);

    remove_root();
}
END_TEST

START_TEST(test_read_missing_root) {
    gl_meminfo m;
    ck_assert_int_eq(gl_meminfo_read("/nonexistent-guardlet-proc", &m), -ENOENT);
}
END_TEST

START_TEST(test_read_real_proc) {
    if (access("/proc/meminfo", R_OK) != 0) {
        printf("SKIP test_read_real_proc: /proc/meminfo is not readable\n");
        return;
    }
    gl_meminfo m;
    ck_assert_int_eq(gl_meminfo_read("/proc", &m), 0);
    ck_assert_uint_gt(m.total_bytes, 0);
    ck_assert_uint_le(m.available_bytes, m.total_bytes);
    ck_assert_uint_le(m.free_bytes, m.total_bytes);
    ck_assert_uint_le(gl_meminfo_working_set(&m), m.total_bytes);
    ck_assert_uint_le(gl_meminfo_kubelet_available(&m), m.total_bytes);
}
END_TEST

static Suite *meminfo_suite(void) {
    Suite *s = suite_create("meminfo");

    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_real_capture);
    tcase_add_test(tc, test_minimal_and_optional_absent);
    tcase_add_test(tc, test_swap_and_order);
    tcase_add_test(tc, test_unknown_keys_accepted);
    tcase_add_test(tc, test_largest_value);
    tcase_add_test(tc, test_truncated_real_capture);
    tcase_add_test(tc, test_null_args);
    tcase_add_loop_test(tc, test_rejects, 0, (int)N_BAD);
    suite_add_tcase(s, tc);

    tc = tcase_create("kubelet");
    tcase_add_test(tc, test_working_set);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_add_test(tc, test_read_temp_root);
    tcase_add_test(tc, test_read_missing_root);
    tcase_add_test(tc, test_read_real_proc);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(meminfo_suite)
