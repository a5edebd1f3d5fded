/* testutil.c: the runner every Check suite's main() calls. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

int gl_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

void gl_test_tmpdir(char *buf, size_t len, const char *name) {
    const char *t = getenv("TMPDIR");
    int n = snprintf(buf, len, "%s/guardlet-test-%s-XXXXXX", t && *t ? t : "/tmp", name);
    ck_assert_int_lt(n, (int)len);
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

void gl_test_rmtree(const char *path) {
    char cmd[4200];
    /* Paths come from gl_test_tmpdir: no quotes inside, so single quotes are enough. */
    ck_assert_int_lt(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path), (int)sizeof(cmd));
    ck_assert_int_eq(system(cmd), 0);
}
