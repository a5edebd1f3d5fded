/* test_fuzz_replay_kube.c: replays the watch event and Pod fuzz corpora through their targets. */
/*
 * The targets' sources are included, not linked, so the test calls the very functions the fuzzer
 * runs (as test_fuzz_replay_kubeconfig.c does); each is renamed so both fit in one program. The
 * targets abort() on a broken promise; ASan and valgrind in CI catch memory errors.
 */
#define LLVMFuzzerTestOneInput fuzz_watch_event_one
#include "../fuzz/fuzz_watch_event.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_pod_one
#include "../fuzz/fuzz_pod.c"
#undef LLVMFuzzerTestOneInput

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Corpora sit beside the targets, found from this file's path (relative to the top folder when
 * make builds from there). */
static void corpus_dir(char *buf, size_t size, const char *name) {
    const char *slash = strrchr(__FILE__, '/');
    int dir_len = slash ? (int)(slash - __FILE__) : 1;
    ck_assert_int_lt(
        snprintf(buf, size, "%.*s/../fuzz/corpus/%s", dir_len, slash ? __FILE__ : ".", name),
        (int)size);
}

/* Runs every file of the corpus through fn as an exactly sized buffer; returns the file count. */
static size_t replay(const char *name, int (*fn)(const uint8_t *, size_t)) {
    char dir[4096];
    corpus_dir(dir, sizeof(dir), name);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "corpus %s: %s (run from the top folder)", dir, strerror(errno));
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        struct stat st;
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_le(st.st_size, 1 << 20);
        /* Not NUL-terminated, as libFuzzer's inputs are not: a read past the end is caught. */
        uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
        close(fd);
        ck_assert_int_eq(fn(buf, (size_t)st.st_size), 0);
        free(buf);
        files++;
    }
    closedir(d);
    return files;
}

START_TEST(test_replay_watch_event) {
    /* Losing the seeds would make this pass while testing nothing. */
    ck_assert_uint_ge(replay("watch_event", fuzz_watch_event_one), 12);
}
END_TEST

START_TEST(test_replay_pod) {
    ck_assert_uint_ge(replay("pod", fuzz_pod_one), 10);
}
END_TEST

static Suite *fuzz_replay_kube_suite(void) {
    Suite *s = suite_create("fuzz_replay_kube");
    TCase *tc = tcase_create("corpus");
    tcase_add_test(tc, test_replay_watch_event);
    tcase_add_test(tc, test_replay_pod);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(fuzz_replay_kube_suite)
