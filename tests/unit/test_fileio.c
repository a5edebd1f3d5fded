/* test_fileio.c: Check suite for the whole-file readers and the path joiner. */
#include "guardlet/fileio.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* One temporary folder for the read tests, made and removed outside the forked tests (an
 * unchecked fixture) so that a failing test cannot leave it behind. Each test uses its own names.
 */
#define TMP_TEMPLATE "/tmp/guardlet-fileio-XXXXXX"
static char tmp_dir[sizeof(TMP_TEMPLATE)];

static void setup(void) {
    memcpy(tmp_dir, TMP_TEMPLATE, sizeof(TMP_TEMPLATE));
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static void teardown(void) {
    DIR *d = opendir(tmp_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                (void)unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    (void)rmdir(tmp_dir);
}

/* Writes len bytes of text to tmp_dir/name and returns the full path in path. */
static void make_file(const char *name, const char *text, size_t len, char *path, size_t size) {
    ck_assert_int_lt(snprintf(path, size, "%s/%s", tmp_dir, name), (int)size);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

/* A file of n copies of 'x'. */
static void make_sized_file(const char *name, size_t n, char *path, size_t size) {
    char *text = malloc(n + 1);
    ck_assert_ptr_nonnull(text);
    memset(text, 'x', n);
    make_file(name, text, n, path, size);
    free(text);
}

START_TEST(test_read_small) {
    char path[128];
    make_file("small", "hello\nworld\n", 12, path, sizeof(path));
    char buf[64];
    memset(buf, '#', sizeof(buf));
    ck_assert_int_eq(gl_read_file(path, buf, sizeof(buf)), 12);
    ck_assert_str_eq(buf, "hello\nworld\n");
}
END_TEST

START_TEST(test_read_empty) {
    char path[128];
    make_file("empty", "", 0, path, sizeof(path));
    char buf[8];
    memset(buf, '#', sizeof(buf));
    ck_assert_int_eq(gl_read_file(path, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_exact_fit_and_one_over) {
    /* size - 1 bytes fit beside the NUL; one byte more does not. */
    char path[128];
    char buf[16];
    make_sized_file("fits", sizeof(buf) - 1, path, sizeof(path));
    ck_assert_int_eq(gl_read_file(path, buf, sizeof(buf)), (ssize_t)sizeof(buf) - 1);
    ck_assert_uint_eq(strlen(buf), sizeof(buf) - 1);

    make_sized_file("over", sizeof(buf), path, sizeof(path));
    ck_assert_int_eq(gl_read_file(path, buf, sizeof(buf)), -EFBIG);
    /* A failed read leaves an empty string, never a silently truncated one. */
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_too_big) {
    char path[128];
    make_sized_file("big", 100000, path, sizeof(path));
    char buf[4096];
    ck_assert_int_eq(gl_read_file(path, buf, sizeof(buf)), -EFBIG);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_missing_and_wrong_kind) {
    char path[128];
    char buf[64];
    snprintf(path, sizeof(path), "%s/missing", tmp_dir);
    ck_assert_int_eq(gl_read_file(path, buf, sizeof(buf)), -ENOENT);
    snprintf(path, sizeof(path), "%s/missing/deeper", tmp_dir);
    ck_assert_int_eq(gl_read_file(path, buf, sizeof(buf)), -ENOENT);

    make_file("plain", "x\n", 2, path, sizeof(path));
    snprintf(path, sizeof(path), "%s/plain/child", tmp_dir);
    ck_assert_int_eq(gl_read_file(path, buf, sizeof(buf)), -ENOTDIR);

    /* A folder opens read-only but cannot be read. */
    ck_assert_int_eq(gl_read_file(tmp_dir, buf, sizeof(buf)), -EISDIR);
}
END_TEST

START_TEST(test_bad_args) {
    char buf[8];
    ck_assert_int_eq(gl_read_file("/proc/self/stat", buf, 0), -EINVAL);
    ck_assert_int_eq(gl_read_file(NULL, buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(gl_read_file("/proc/self/stat", NULL, 8), -EINVAL);
}
END_TEST

START_TEST(test_read_at_dirfd) {
    char path[128];
    make_file("leaf", "at\n", 3, path, sizeof(path));
    int dfd = open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(dfd, 0);
    char buf[16];

    ck_assert_int_eq(gl_read_file_at(dfd, "leaf", buf, sizeof(buf)), 3);
    ck_assert_str_eq(buf, "at\n");
    ck_assert_int_eq(gl_read_file_at(dfd, "./leaf", buf, sizeof(buf)), 3);
    ck_assert_int_eq(gl_read_file_at(dfd, "nope", buf, sizeof(buf)), -ENOENT);

    /* An absolute path ignores dirfd, as openat does. */
    ck_assert_int_eq(gl_read_file_at(dfd, path, buf, sizeof(buf)), 3);
    ck_assert_int_eq(gl_read_file_at(AT_FDCWD, path, buf, sizeof(buf)), 3);

    /* A relative path needs a valid dirfd. */
    ck_assert_int_eq(gl_read_file_at(-1, "leaf", buf, sizeof(buf)), -EBADF);

    ck_assert_int_eq(close(dfd), 0);
}
END_TEST

START_TEST(test_read_proc) {
    /* Files in /proc report size 0; only reading to the end finds their length. */
    char buf[16384];
    ssize_t n = gl_read_file("/proc/self/status", buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_uint_eq(strlen(buf), (size_t)n);
    ck_assert_int_eq(buf[n - 1], '\n');
    ck_assert_int_eq(strncmp(buf, "Name:", 5), 0);

    char small[32];
    ck_assert_int_eq(gl_read_file("/proc/self/status", small, sizeof(small)), -EFBIG);
}
END_TEST

static volatile sig_atomic_t alarms;

static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

START_TEST(test_short_reads_and_eintr) {
    /* A child writes into a pipe in pieces with pauses, so the reader sees short reads, while an
     * interval timer keeps interrupting the blocked read() with a handler installed without
     * SA_RESTART. The whole text must still arrive, and the interruptions must have happened. */
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        static const char *const parts[] = {"first ", "second ", "third\n"};
        for (size_t i = 0; i < 3; i++) {
            usleep(150 * 1000);
            if (write(p[1], parts[i], strlen(parts[i])) < 0)
                _exit(1);
        }
        _exit(0);
    }
    ck_assert_int_eq(close(p[1]), 0);

    struct sigaction sa = {.sa_handler = on_alarm};
    struct sigaction old_sa;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(SIGALRM, &sa, &old_sa), 0);
    struct itimerval it = {.it_interval = {0, 20 * 1000}, .it_value = {0, 20 * 1000}};
    struct itimerval stop = {0};
    alarms = 0;
    ck_assert_int_eq(setitimer(ITIMER_REAL, &it, NULL), 0);

    /* /proc/self/fd/N opens the pipe's read end afresh, through the path-based API. */
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", p[0]);
    char buf[64];
    ssize_t n = gl_read_file(path, buf, sizeof(buf));

    ck_assert_int_eq(setitimer(ITIMER_REAL, &stop, NULL), 0);
    ck_assert_int_eq(sigaction(SIGALRM, &old_sa, NULL), 0);
    ck_assert_int_eq(close(p[0]), 0);
    /* The child is reaped before anything is asserted so that a failure leaves no zombie. */
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);

    ck_assert_int_eq(n, 19);
    ck_assert_str_eq(buf, "first second third\n");
    ck_assert_int_gt(alarms, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

static void assert_join(const char *root, const char *rel, const char *want) {
    char buf[64];
    memset(buf, '#', sizeof(buf));
    int r = gl_path_join(buf, sizeof(buf), root, rel);
    ck_assert_msg(r == 0, "join(\"%s\", \"%s\") = %d", root, rel, r);
    ck_assert_str_eq(buf, want);
}

START_TEST(test_join) {
    assert_join("/proc", "meminfo", "/proc/meminfo");
    assert_join("/proc/", "meminfo", "/proc/meminfo");
    assert_join("/proc", "/meminfo", "/proc/meminfo");
    assert_join("/proc//", "//meminfo", "/proc/meminfo");
    assert_join("/", "meminfo", "/meminfo");
    assert_join("/", "/meminfo", "/meminfo");
    assert_join("//", "meminfo", "/meminfo");
    /* An empty root is the filesystem root, like "/". */
    assert_join("", "meminfo", "/meminfo");
    /* Relative roots stay relative. */
    assert_join("fixtures/proc", "meminfo", "fixtures/proc/meminfo");
    /* Inner slashes and trailing slashes of rel are the caller's business. */
    assert_join("/sys/fs/cgroup", "kubepods.slice//memory.pressure",
                "/sys/fs/cgroup/kubepods.slice//memory.pressure");
    assert_join("/sys/fs/cgroup", "kubepods.slice/", "/sys/fs/cgroup/kubepods.slice/");
    /* An empty rel names the root as a folder. */
    assert_join("/proc", "", "/proc/");
    assert_join("/proc", "/", "/proc/");
}
END_TEST

START_TEST(test_join_in_place) {
    char buf[32] = "/sys/fs/cgroup/";
    ck_assert_int_eq(gl_path_join(buf, sizeof(buf), buf, "cpu.pressure"), 0);
    ck_assert_str_eq(buf, "/sys/fs/cgroup/cpu.pressure");
}
END_TEST

START_TEST(test_join_too_long) {
    /* "/proc/meminfo" is 13 characters: 14 bytes fit it with its NUL, 13 do not. */
    char buf[14];
    ck_assert_int_eq(gl_path_join(buf, 14, "/proc", "meminfo"), 0);
    ck_assert_str_eq(buf, "/proc/meminfo");
    ck_assert_int_eq(gl_path_join(buf, 13, "/proc/", "/meminfo"), -ENAMETOOLONG);
    ck_assert_str_eq(buf, "");
    /* Root alone too long, and the separator being the byte too many. */
    ck_assert_int_eq(gl_path_join(buf, 5, "/proc", ""), -ENAMETOOLONG);
    ck_assert_int_eq(gl_path_join(buf, 6, "/proc", ""), -ENAMETOOLONG);
    ck_assert_int_eq(gl_path_join(buf, 7, "/proc", ""), 0);
    ck_assert_str_eq(buf, "/proc/");
    ck_assert_int_eq(gl_path_join(buf, 0, "", ""), -ENAMETOOLONG);
    ck_assert_int_eq(gl_path_join(buf, 1, "", ""), -ENAMETOOLONG);
    ck_assert_int_eq(gl_path_join(buf, 2, "", ""), 0);
    ck_assert_str_eq(buf, "/");

    /* Far longer than PATH_MAX. */
    char *huge = malloc(10000);
    ck_assert_ptr_nonnull(huge);
    memset(huge, 'a', 9999);
    huge[9999] = '\0';
    char path[4096];
    ck_assert_int_eq(gl_path_join(path, sizeof(path), "/proc", huge), -ENAMETOOLONG);
    ck_assert_int_eq(gl_path_join(path, sizeof(path), huge, "meminfo"), -ENAMETOOLONG);
    free(huge);
}
END_TEST

static Suite *fileio_suite(void) {
    Suite *s = suite_create("fileio");

    TCase *tc = tcase_create("read");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_read_small);
    tcase_add_test(tc, test_read_empty);
    tcase_add_test(tc, test_exact_fit_and_one_over);
    tcase_add_test(tc, test_too_big);
    tcase_add_test(tc, test_missing_and_wrong_kind);
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_read_at_dirfd);
    tcase_add_test(tc, test_read_proc);
    tcase_add_test(tc, test_short_reads_and_eintr);
    suite_add_tcase(s, tc);

    tc = tcase_create("join");
    tcase_add_test(tc, test_join);
    tcase_add_test(tc, test_join_in_place);
    tcase_add_test(tc, test_join_too_long);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(fileio_suite)
