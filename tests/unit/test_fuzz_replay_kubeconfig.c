/* test_fuzz_replay_kubeconfig.c: replays the kubeconfig fuzz corpus through the fuzz target. */
/*
 * The target's source is included, not linked, so the test calls the very LLVMFuzzerTestOneInput
 * the fuzzer runs (the Makefile links one .c per test). Under ASan and valgrind in CI a memory
 * error in any corpus file fails the run; the target's own checks abort() on a broken promise.
 */
#include "../fuzz/fuzz_kubeconfig.c"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* The corpus sits beside the target: found from this file's path, which is relative to the top
 * folder when built by make from there (GL_KUBECONFIG_CORPUS overrides it). */
static void corpus_dir(char *buf, size_t size) {
    const char *env = getenv("GL_KUBECONFIG_CORPUS");
    if (env && env[0]) {
        ck_assert_int_lt(snprintf(buf, size, "%s", env), (int)size);
        return;
    }
    const char *slash = strrchr(__FILE__, '/');
    int dir_len = slash ? (int)(slash - __FILE__) : 1;
    ck_assert_int_lt(
        snprintf(buf, size, "%.*s/../fuzz/corpus/kubeconfig", dir_len, slash ? __FILE__ : "."),
        (int)size);
}

/* Reads a corpus file whole (they are small; the limit leaves room for the largest). */
static unsigned char *read_all(int dfd, const char *name, size_t *len) {
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "open %s: %s", name, strerror(errno));
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_msg(st.st_size <= 2 * GL_KUBE_FILE_MAX_BYTES, "%s is too big for a seed", name);
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    ck_assert_ptr_nonnull(buf);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

START_TEST(test_replay_corpus) {
    char dir[4096];
    corpus_dir(dir, sizeof(dir));
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "corpus %s: %s (run from the top folder or set GL_KUBECONFIG_CORPUS)",
                  dir, strerror(errno));
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t len;
        unsigned char *data = read_all(dirfd(d), e->d_name, &len);
        /* A libFuzzer input is not NUL-terminated: the copy is exactly len bytes, so ASan and
         * valgrind catch any read past its end. */
        unsigned char *exact = malloc(len ? len : 1);
        ck_assert_ptr_nonnull(exact);
        memcpy(exact, data, len);
        free(data);
        ck_assert_int_eq(LLVMFuzzerTestOneInput(exact, len), 0);
        free(exact);
        files++;
    }
    closedir(d);
    /* The seeds cover each kind of valid config and each kind of garbage; losing them would
     * make this test pass while testing nothing. */
    ck_assert_uint_ge(files, 12);
}
END_TEST

START_TEST(test_replay_valid_seeds_parse) {
    /* The valid seeds must stay valid, or the fuzzer starts from error paths only. */
    static const char *const valid[] = {
        "token.yaml",       "tokenfile.yaml",         "certdata.yaml", "insecure-multi.yaml",
        "huge-scalar.yaml", "kubelet-certfiles.yaml", "aliases.yaml"};
    char dir[4096];
    corpus_dir(dir, sizeof(dir));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ck_assert_int_ge(dfd, 0);
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        size_t len;
        unsigned char *data = read_all(dfd, valid[i], &len);
        char err[GL_KUBE_ERR_SIZE] = "";
        gl_kube_creds *c = NULL;
        int r = gl_kubeconfig_parse((const char *)data, len, FUZZ_KUBECONFIG_PATH, NULL,
                                    GL_KUBECONFIG_SKIP_FILES, &c, err, sizeof(err));
        ck_assert_msg(r == 0, "%s: %s", valid[i], err);
        gl_kube_creds_free(c);
        free(data);
    }
    close(dfd);
}
END_TEST

static Suite *fuzz_replay_kubeconfig_suite(void) {
    Suite *s = suite_create("fuzz_replay_kubeconfig");
    TCase *tc = tcase_create("corpus");
    /* The largest seeds take a while under valgrind. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_replay_corpus);
    tcase_add_test(tc, test_replay_valid_seeds_parse);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(fuzz_replay_kubeconfig_suite)
