/* testutil.h: what every Check suite shares: running a suite and handling temp folders. */
#ifndef GUARDLET_TESTUTIL_H
#define GUARDLET_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* Runs the suite, prints Check's summary, returns EXIT_SUCCESS or EXIT_FAILURE for main(). */
int gl_test_run(Suite *s);

/* Makes a fresh folder "$TMPDIR/guardlet-test-<name>-XXXXXX" (default /tmp) into buf; fails the
 * test when it cannot. */
void gl_test_tmpdir(char *buf, size_t len, const char *name);

/* Removes a folder made by gl_test_tmpdir and everything in it; fails the test when it cannot. */
void gl_test_rmtree(const char *path);

/* Each suite's main(): one line naming the function that builds the suite. */
#define GL_TEST_MAIN(suite_fn)                                                                     \
    int main(void) {                                                                               \
        return gl_test_run(suite_fn());                                                            \
    }

#endif
