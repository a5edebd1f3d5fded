/* test_memlock.c: Check suite for the decision whether mlockall may be tried (memlock.h), and the
 * LockMemory key. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/config.h"
#include "guardlet/memlock.h"

#include "testutil.h"

START_TEST(test_allowed_with_cap_or_unlimited) {
    char why[160] = "untouched";
    gl_memlock_state cap = {.cap_ipc_lock = true, .limit_bytes = 8u << 20};
    gl_memlock_state unlimited = {.limit_infinite = true};

    ck_assert(gl_memlock_allowed(&cap, why, sizeof(why)));
    ck_assert(gl_memlock_allowed(&unlimited, why, sizeof(why)));
    ck_assert_str_eq(why, "untouched");
}
END_TEST

/* MCL_FUTURE under a finite limit would make later allocations fail: refused, with the cause. */
START_TEST(test_refused_without_cap_and_with_a_limit) {
    char why[160] = "";
    gl_memlock_state s = {.limit_bytes = 65536};

    ck_assert(!gl_memlock_allowed(&s, why, sizeof(why)));
    ck_assert_str_eq(why, "CAP_IPC_LOCK is missing and RLIMIT_MEMLOCK is 65536 bytes; locking "
                          "would make allocations beyond it fail");
    /* A short buffer is cut, never overrun. */
    char small[8];
    ck_assert(!gl_memlock_allowed(&s, small, sizeof(small)));
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
}
END_TEST

START_TEST(test_lock_memory_key) {
    gl_config cfg;
    gl_config_errors errs = {0};
    const char *no[] = {"Guard.LockMemory=no"};
    /* Not the default path: this machine may have guardlet installed. */
    const char *path = "/nonexistent/guardlet-test.conf";
    gl_config_source defaults = {.path = path}, off = {.path = path, .sets = no, .n_sets = 1};

    ck_assert_int_eq(gl_config_load(&defaults, &cfg, &errs), 0);
    ck_assert(cfg.guard.lock_memory);
    gl_config_free(&cfg);
    ck_assert_int_eq(gl_config_load(&off, &cfg, &errs), 0);
    ck_assert(!cfg.guard.lock_memory);
    gl_config_free(&cfg);
    gl_config_errors_free(&errs);
}
END_TEST

static Suite *memlock_suite(void) {
    Suite *s = suite_create("memlock");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_allowed_with_cap_or_unlimited);
    tcase_add_test(tc, test_refused_without_cap_and_with_a_limit);
    tcase_add_test(tc, test_lock_memory_key);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(memlock_suite)
