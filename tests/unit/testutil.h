/* testutil.h: what every Check suite shares: running a suite and handling temp folders. */
#ifndef GUARDLET_TESTUTIL_H
#define GUARDLET_TESTUTIL_H

#include <check.h>

/* Runs the suite, prints Check's summary, returns EXIT_SUCCESS or EXIT_FAILURE for main(). */
int gl_test_run(Suite *s);

/* Each suite's main(): one line naming the function that builds the suite. */
#define GL_TEST_MAIN(suite_fn)                                                                     \
    int main(void) {                                                                               \
        return gl_test_run(suite_fn());                                                            \
    }

#endif
