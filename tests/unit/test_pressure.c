/* test_pressure.c: Check suite for the pure node pressure classification (levels, sustained PSI).
 */
#include "guardlet/pressure.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)
#define SEC 1000000ull

/* The contract's defaults for the fields this module reads. */
static gl_config config(void) {
    gl_config c;
    memset(&c, 0, sizeof(c));
    c.memory.throttle_below = (gl_quantity){.kind = GL_QTY_PERCENT, .percent_bp = 1500};
    c.memory.evict_below = (gl_quantity){.kind = GL_QTY_PERCENT, .percent_bp = 800};
    c.memory.kill_below = (gl_quantity){.kind = GL_QTY_PERCENT, .percent_bp = 300};
    c.memory.pressure_limit_bp = 4000;
    c.memory.pressure_duration_usec = 10 * SEC;
    c.cpu.pressure_limit_bp = 6000;
    c.cpu.pressure_duration_usec = 30 * SEC;
    return c;
}

static gl_node_sample sample(uint64_t t, uint64_t cap, uint64_t avail, uint32_t mem_bp,
                             uint32_t cpu_bp) {
    gl_node_sample s;
    memset(&s, 0, sizeof(s));
    s.timestamp_usec = t;
    s.capacity_bytes = cap;
    s.available_bytes = avail;
    s.psi[GL_PSI_MEMORY].some.avg10_bp = mem_bp;
    s.psi[GL_PSI_CPU].some.avg10_bp = cpu_bp;
    return s;
}

static const struct {
    uint64_t avail;
    gl_mem_level want;
} level_cases[] = {
    {100 * GiB, GL_MEM_LEVEL_OK},
    {15 * GiB, GL_MEM_LEVEL_OK},           /* exactly at 15%: not below */
    {15 * GiB - 1, GL_MEM_LEVEL_THROTTLE}, /* one byte under */
    {8 * GiB, GL_MEM_LEVEL_THROTTLE},
    {8 * GiB - 1, GL_MEM_LEVEL_EVICT},
    {3 * GiB, GL_MEM_LEVEL_EVICT},
    {3 * GiB - 1, GL_MEM_LEVEL_KILL},
    {0, GL_MEM_LEVEL_KILL},
};

START_TEST(test_levels_percent) {
    gl_config c = config();
    ck_assert_int_eq(gl_mem_level_for(&c, 100 * GiB, level_cases[_i].avail), level_cases[_i].want);
}
END_TEST

START_TEST(test_levels_bytes_and_mixed) {
    gl_config c = config();
    c.memory.evict_below = (gl_quantity){.kind = GL_QTY_BYTES, .bytes = 512 * MiB};
    /* 8 GiB node: throttle below 15% = 1.2 GiB, evict below 512 MiB, kill below 3% = 245 MiB. */
    ck_assert_int_eq(gl_mem_level_for(&c, 8 * GiB, 1 * GiB), GL_MEM_LEVEL_THROTTLE);
    ck_assert_int_eq(gl_mem_level_for(&c, 8 * GiB, 511 * MiB), GL_MEM_LEVEL_EVICT);
    ck_assert_int_eq(gl_mem_level_for(&c, 8 * GiB, 200 * MiB), GL_MEM_LEVEL_KILL);
    /* Mixed kinds can come out of order on small nodes: the most severe level that applies wins. */
    c.memory.kill_below = (gl_quantity){.kind = GL_QTY_BYTES, .bytes = 1 * GiB};
    ck_assert_int_eq(gl_mem_level_for(&c, 2 * GiB, 900 * MiB), GL_MEM_LEVEL_KILL);
    ck_assert_str_eq(gl_mem_level_name(GL_MEM_LEVEL_EVICT), "evict");
}
END_TEST

START_TEST(test_sustain_needs_the_whole_duration) {
    gl_sustain s = {0};
    ck_assert(!gl_sustain_update(&s, true, 100 * SEC, 10 * SEC));
    ck_assert(!s.sustained);
    ck_assert(!gl_sustain_update(&s, true, 109 * SEC, 10 * SEC));
    ck_assert(gl_sustain_update(&s, true, 110 * SEC, 10 * SEC)); /* changed */
    ck_assert(s.sustained);
    ck_assert(!gl_sustain_update(&s, true, 111 * SEC, 10 * SEC)); /* no change */
    ck_assert(gl_sustain_update(&s, false, 112 * SEC, 10 * SEC)); /* cleared */
    ck_assert(!s.sustained);
}
END_TEST

START_TEST(test_sustain_dip_restarts_the_clock) {
    gl_sustain s = {0};
    gl_sustain_update(&s, true, 100 * SEC, 10 * SEC);
    gl_sustain_update(&s, true, 108 * SEC, 10 * SEC);
    gl_sustain_update(&s, false, 109 * SEC, 10 * SEC); /* one second under the limit */
    gl_sustain_update(&s, true, 110 * SEC, 10 * SEC);
    ck_assert(!gl_sustain_update(&s, true, 119 * SEC, 10 * SEC));
    ck_assert(!s.sustained);
    ck_assert(gl_sustain_update(&s, true, 120 * SEC, 10 * SEC));
}
END_TEST

START_TEST(test_node_pressure_update) {
    gl_config c = config();
    gl_node_pressure p = {0};
    gl_node_pressure_change chg;

    gl_node_sample s = sample(1 * SEC, 10 * GiB, 5 * GiB, 4100, 1000);
    gl_node_pressure_update(&p, &c, &s, &chg);
    ck_assert(!chg.mem_level_changed);
    ck_assert(!chg.mem_psi_changed);

    s = sample(11 * SEC, 10 * GiB, 700 * MiB, 4100, 1000);
    gl_node_pressure_update(&p, &c, &s, &chg);
    ck_assert(chg.mem_level_changed);
    ck_assert_int_eq(chg.old_mem_level, GL_MEM_LEVEL_OK);
    ck_assert_int_eq(p.mem_level, GL_MEM_LEVEL_EVICT);
    ck_assert(chg.mem_psi_changed); /* 41% for 10 s */
    ck_assert(p.mem_psi.sustained);
    ck_assert(!p.cpu_psi.sustained);

    /* Exactly at the limit is not over it. */
    s = sample(12 * SEC, 10 * GiB, 700 * MiB, 4000, 1000);
    gl_node_pressure_update(&p, &c, &s, &chg);
    ck_assert(!chg.mem_level_changed);
    ck_assert(chg.mem_psi_changed);
    ck_assert(!p.mem_psi.sustained);
}
END_TEST

START_TEST(test_unreadable_psi_is_no_evidence) {
    gl_config c = config();
    gl_node_pressure p = {0};
    gl_node_pressure_change chg;
    gl_node_sample s = sample(1 * SEC, 10 * GiB, 5 * GiB, 9000, 9000);

    s.psi_error[GL_PSI_MEMORY] = -2;
    s.psi_error[GL_PSI_CPU] = -2;
    gl_node_pressure_update(&p, &c, &s, &chg);
    s.timestamp_usec = 100 * SEC;
    gl_node_pressure_update(&p, &c, &s, &chg);
    ck_assert(!p.mem_psi.sustained);
    ck_assert(!p.cpu_psi.sustained);
}
END_TEST

static Suite *pressure_suite(void) {
    Suite *s = suite_create("pressure");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_levels_percent, 0, sizeof(level_cases) / sizeof(level_cases[0]));
    tcase_add_test(tc, test_levels_bytes_and_mixed);
    tcase_add_test(tc, test_sustain_needs_the_whole_duration);
    tcase_add_test(tc, test_sustain_dip_restarts_the_clock);
    tcase_add_test(tc, test_node_pressure_update);
    tcase_add_test(tc, test_unreadable_psi_is_no_evidence);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(pressure_suite)
