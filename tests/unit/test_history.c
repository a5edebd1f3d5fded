/* test_history.c: Check suite for the per-pod sample ring and its least-squares and Theil-Sen
 * slopes. */
#include "guardlet/history.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define MiB  (1ull << 20)
#define GiB  (1ull << 30)
#define MSEC 1000ull
#define SEC  1000000ull

/* The contract's typical LeakWindow. */
#define WINDOW (120 * SEC)

/* Eleven and a half days of uptime: timestamps far from zero, as on a real node, so the estimators
 * must work relative to the first point to keep their precision. */
#define T0 (1000000 * SEC)

/* 61 points 2 s apart span exactly one 2 min window, and 2 s is above the ring's spacing for that
 * window (1.94 s), so every sample pushed this way is kept. */
#define SERIES_N    61
#define SERIES_STEP (2 * SEC)

/* A leak or noise base that is not small: a pod already using 4 GiB. */
#define BASE (4 * GiB)

/* Knuth's MMIX LCG: deterministic noise without rand(), so every run sees the same numbers. */
static uint64_t lcg_next(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 11; /* the high 53 bits are the well-mixed ones */
}

/* Uniform in [-1, 1). */
static double lcg_unit(uint64_t *state) {
    return (double)lcg_next(state) / (double)(1ull << 53) * 2.0 - 1.0;
}

/* Pushes v[0..n-1] at T0, T0 + step, ... into a fresh ring for the typical window. */
static void push_series(gl_history *h, const uint64_t *v, uint32_t n, uint64_t step_usec) {
    gl_history_init(h, WINDOW);
    for (uint32_t i = 0; i < n; i++)
        gl_history_push(h, T0 + i * step_usec, v[i]);
}

/* A straight line of SERIES_N points: base + slope_bytes_per_step * i. */
static void line(uint64_t *v, uint64_t base, int64_t bytes_per_step) {
    for (uint32_t i = 0; i < SERIES_N; i++)
        v[i] = base + (uint64_t)(bytes_per_step * (int64_t)i);
}

/* Checks the ring's invariants: time strictly increasing from gl_history_at(0), settled points at
 * least the spacing apart, nothing past n. */
static void assert_ring_ordered(const gl_history *h) {
    for (uint32_t i = 1; i < h->n; i++) {
        const gl_history_point *a = gl_history_at(h, i - 1), *b = gl_history_at(h, i);
        ck_assert_uint_lt(a->t_usec, b->t_usec);
        if (i < h->n - 1) /* the gap to the provisional newest point may be short */
            ck_assert_uint_ge(b->t_usec - a->t_usec, h->spacing_usec);
    }
    ck_assert_ptr_null(gl_history_at(h, h->n));
}

START_TEST(test_init_spacing) {
    gl_history h;

    memset(&h, 0xa5, sizeof(h));
    gl_history_init(&h, WINDOW);
    ck_assert_uint_eq(h.n, 0);
    ck_assert_uint_eq(h.head, 0);
    /* 120 s / 62 gaps, rounded up: 62 guaranteed gaps cover the window, 63 more than cover it. */
    ck_assert_uint_eq(h.spacing_usec, 1935484);
    ck_assert_uint_ge(h.spacing_usec * (GL_HISTORY_POINTS - 2), WINDOW);
    ck_assert_uint_ge(h.spacing_usec, WINDOW / (GL_HISTORY_POINTS - 1));

    gl_history_init(&h, 62 * SEC);
    ck_assert_uint_eq(h.spacing_usec, 1 * SEC);
    gl_history_init(&h, 0);
    ck_assert_uint_eq(h.spacing_usec, 0);
}
END_TEST

START_TEST(test_fills_and_wraps) {
    gl_history h;

    /* A 62 s window gives a spacing of exactly 1 s, so every 1 s sample is kept. */
    gl_history_init(&h, 62 * SEC);
    for (uint32_t i = 0; i < GL_HISTORY_POINTS; i++) {
        gl_history_push(&h, T0 + i * SEC, i);
        ck_assert_uint_eq(h.n, i + 1);
    }
    ck_assert_uint_eq(h.head, 0);
    for (uint32_t i = 0; i < GL_HISTORY_POINTS; i++) {
        ck_assert_uint_eq(gl_history_at(&h, i)->t_usec, T0 + i * SEC);
        ck_assert_uint_eq(gl_history_at(&h, i)->value, i);
    }

    /* The 65th sample drops the oldest. */
    gl_history_push(&h, T0 + 64 * SEC, 64);
    ck_assert_uint_eq(h.n, GL_HISTORY_POINTS);
    ck_assert_uint_eq(h.head, 1);
    ck_assert_uint_eq(gl_history_at(&h, 0)->value, 1);
    ck_assert_uint_eq(gl_history_at(&h, GL_HISTORY_POINTS - 1)->value, 64);

    /* Round the ring more than once: order from gl_history_at survives every wrap. */
    for (uint32_t i = 65; i < 65 + 2 * GL_HISTORY_POINTS + 5; i++) {
        gl_history_push(&h, T0 + i * SEC, i);
        ck_assert_uint_eq(gl_history_at(&h, 0)->value, i + 1 - GL_HISTORY_POINTS);
        ck_assert_uint_eq(gl_history_at(&h, GL_HISTORY_POINTS - 1)->value, i);
    }
    ck_assert_uint_eq(h.head, 6);
    for (uint32_t i = 0; i < GL_HISTORY_POINTS; i++)
        ck_assert_uint_eq(gl_history_at(&h, i)->value,
                          65 + 2 * GL_HISTORY_POINTS + 5 - GL_HISTORY_POINTS + i);
    assert_ring_ordered(&h);
}
END_TEST

START_TEST(test_replace_rule_step_by_step) {
    gl_history h;

    /* 1 s samples, spacing 1.94 s: the provisional point is replaced until it is 2 s past the
     * settled one, then kept. */
    gl_history_init(&h, WINDOW);
    gl_history_push(&h, T0, 10);
    gl_history_push(&h, T0 + 1 * SEC, 11); /* two points needed before anything is replaced */
    ck_assert_uint_eq(h.n, 2);
    gl_history_push(&h, T0 + 2 * SEC, 12); /* 1 s after T0: replaces the newest */
    ck_assert_uint_eq(h.n, 2);
    ck_assert_uint_eq(gl_history_at(&h, 1)->t_usec, T0 + 2 * SEC);
    ck_assert_uint_eq(gl_history_at(&h, 1)->value, 12);
    gl_history_push(&h, T0 + 3 * SEC, 13); /* the newest is 2 s after T0 now: appended */
    ck_assert_uint_eq(h.n, 3);
    ck_assert_uint_eq(gl_history_at(&h, 1)->t_usec, T0 + 2 * SEC);
    ck_assert_uint_eq(gl_history_at(&h, 2)->value, 13);
    gl_history_push(&h, T0 + 4 * SEC, 14);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_uint_eq(gl_history_at(&h, 2)->t_usec, T0 + 4 * SEC);
    gl_history_push(&h, T0 + 5 * SEC, 15);
    ck_assert_uint_eq(h.n, 4);
}
END_TEST

START_TEST(test_out_of_order_and_same_time) {
    gl_history h;

    gl_history_init(&h, WINDOW);
    gl_history_push(&h, T0, 1);
    gl_history_push(&h, T0 + 2 * SEC, 2);
    gl_history_push(&h, T0 + 4 * SEC, 3);
    ck_assert_uint_eq(h.n, 3);

    /* Older than the newest: ignored, even when it would have been a valid older point. */
    gl_history_push(&h, T0 + 3 * SEC, 99);
    gl_history_push(&h, T0 - 10 * SEC, 99);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_uint_eq(gl_history_at(&h, 2)->t_usec, T0 + 4 * SEC);
    ck_assert_uint_eq(gl_history_at(&h, 2)->value, 3);
    ck_assert_uint_eq(gl_history_at(&h, 1)->value, 2);

    /* Same time as the newest: the later sample wins, no zero-length gap is made. */
    gl_history_push(&h, T0 + 4 * SEC, 4);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_uint_eq(gl_history_at(&h, 2)->value, 4);

    /* Even with a zero spacing a same-time sample replaces rather than appends. */
    gl_history_init(&h, 0);
    gl_history_push(&h, T0, 1);
    gl_history_push(&h, T0, 2);
    ck_assert_uint_eq(h.n, 1);
    ck_assert_uint_eq(gl_history_at(&h, 0)->value, 2);
    gl_history_push(&h, T0 + 1, 3);
    ck_assert_uint_eq(h.n, 2);
}
END_TEST

/* Sample intervals for the long-run ring test, with the gap the settled points must land at for
 * the 2 min window: the spacing (1.94 s) rounded up to the sample grid. */
static const struct {
    uint64_t interval_usec;
    uint64_t want_gap_usec;
} rates[] = {
    {1 * SEC, 2 * SEC},        /* the typical Interval */
    {100 * MSEC, 2 * SEC},     /* a fast Interval: 19 of 20 samples only move the newest point */
    {1935484, 1935484},        /* samples exactly at the spacing: every sample is kept */
    {3 * SEC, 3 * SEC},        /* slower than the spacing: every sample is kept */
    {700 * MSEC, 2100 * MSEC}, /* an interval that does not divide the spacing */
};

START_TEST(test_long_run_keeps_window_covered) {
    const uint64_t dt = rates[_i].interval_usec;
    const uint64_t samples = 10 * 60 * SEC / dt; /* ten minutes */
    gl_history h;

    gl_history_init(&h, WINDOW);
    for (uint64_t i = 0; i < samples; i++) {
        uint64_t t = T0 + i * dt;
        gl_history_push(&h, t, BASE + i);

        /* The newest point is always the latest sample. */
        const gl_history_point *newest = gl_history_at(&h, h.n - 1);
        ck_assert_uint_eq(newest->t_usec, t);
        ck_assert_uint_eq(newest->value, BASE + i);
        /* Once a window has passed, the whole window is covered by the ring. */
        if (t - T0 >= WINDOW)
            ck_assert_uint_le(gl_history_at(&h, 0)->t_usec, t - WINDOW);
    }

    ck_assert_uint_eq(h.n, GL_HISTORY_POINTS);
    assert_ring_ordered(&h);
    /* Settled points land on the first sample at or past the spacing: no resolution wasted. */
    for (uint32_t i = 1; i < h.n - 1; i++)
        ck_assert_uint_eq(gl_history_at(&h, i)->t_usec - gl_history_at(&h, i - 1)->t_usec,
                          rates[_i].want_gap_usec);
    /* And the ring does not reach much further back than it needs to. */
    uint64_t span = gl_history_at(&h, h.n - 1)->t_usec - gl_history_at(&h, 0)->t_usec;
    ck_assert_uint_le(span, (GL_HISTORY_POINTS - 1) * rates[_i].want_gap_usec);
}
END_TEST

/* Perfect lines: both estimators give the exact slope. 1 MiB per second is 2 MiB per 2 s step. */
static const struct {
    uint64_t base;
    int64_t bytes_per_step;
    double want_per_sec;
} lines[] = {
    {BASE, 2 * (int64_t)MiB, (double)MiB},       /* a 1 MiB/s leak */
    {BASE, -2 * (int64_t)MiB, -(double)MiB},     /* freeing 1 MiB/s */
    {BASE, 0, 0.0},                              /* flat */
    {0, 2 * (int64_t)MiB, (double)MiB},          /* from zero */
    {1ull << 50, 2 * (int64_t)MiB, (double)MiB}, /* 1 PiB of values: relative maths */
    {BASE, 1, 0.5},                              /* one byte per step */
};

START_TEST(test_exact_lines) {
    uint64_t v[SERIES_N];
    gl_history h;
    gl_growth g;

    line(v, lines[_i].base, lines[_i].bytes_per_step);
    push_series(&h, v, SERIES_N, SERIES_STEP);

    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &g), 0);
    ck_assert_double_eq_tol(g.slope_per_sec, lines[_i].want_per_sec, 1e-6);
    ck_assert_uint_eq(g.n_points, SERIES_N);
    ck_assert_uint_eq(g.span_usec, WINDOW);

    memset(&g, 0xa5, sizeof(g));
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &g), 0);
    /* Every pairwise slope is exact in binary, so the median is too. */
    ck_assert_double_eq(g.slope_per_sec, lines[_i].want_per_sec);
    ck_assert_uint_eq(g.n_points, SERIES_N);
    ck_assert_uint_eq(g.span_usec, WINDOW);
}
END_TEST

START_TEST(test_spikes_drag_lsq_not_theil_sen) {
    uint64_t v[SERIES_N];
    gl_history h;
    gl_growth ls, ts;

    /* A steady 1 MiB/s leak with three one-sample spikes of 4 GiB (a page-cache burst, say) in the
     * second half of the window, where they pull a fitted line up. */
    line(v, BASE, 2 * (int64_t)MiB);
    v[40] += 4 * GiB;
    v[50] += 4 * GiB;
    v[58] += 4 * GiB;
    push_series(&h, v, SERIES_N, SERIES_STEP);

    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_double_eq_tol(ts.slope_per_sec, (double)MiB, 0.05 * (double)MiB);
    /* Least squares reports a leak several times the real one (7.3 MiB/s). */
    ck_assert_double_gt(ls.slope_per_sec, 5.0 * (double)MiB);
}
END_TEST

START_TEST(test_flat_with_late_spike) {
    uint64_t v[SERIES_N];
    gl_history h;
    gl_growth ls, ts;

    /* A flat pod with one 2 GiB spike 4 s before the newest point. */
    line(v, BASE, 0);
    v[SERIES_N - 3] += 2 * GiB;
    push_series(&h, v, SERIES_N, SERIES_STEP);

    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_double_eq(ts.slope_per_sec, 0.0);
    /* Least squares sees a 1.5 MiB/s leak in a pod that is not growing at all. */
    ck_assert_double_gt(ls.slope_per_sec, 1.0 * (double)MiB);
}
END_TEST

/*
 * A one-off allocation that stays (a step of 200 MiB) against a ramp that gets to the same place
 * (200 MiB over the 2 min window, 1.67 MiB/s), 61 points 2 s apart.
 *
 * Least squares calls the step a leak wherever it is in the window: about 1.5 * step / window,
 * 2.46 MiB/s with the step in the middle, still 1.8 MiB/s a quarter of the way in, so more than
 * the ramp itself for most of the time the step takes to cross the window.
 *
 * Theil-Sen gives exactly 0 unless the step is within about sqrt(n)/2 points of the middle of the
 * window (measured: step at points 27 to 34, 16 s of the 120 s it takes to cross), because only
 * there do the pairs straddling the step (the only non-zero slopes) outnumber the pairs on one side
 * of it. Inside that band it reports the slope of the straddling pairs furthest apart, 1.7 to
 * 1.8 MiB/s: as much as the ramp. So for 16 s a step looks like a leak to Theil-Sen too, and what
 * tells the two apart is rising_bp: one rising step in 60 for the step, every step for the ramp.
 */
START_TEST(test_step_versus_ramp) {
    uint64_t ramp[SERIES_N], mid[SERIES_N], quarter[SERIES_N];
    const double ramp_per_sec = 200.0 * (double)MiB / 120.0;
    gl_history h;
    gl_growth ls, ts;

    for (uint32_t i = 0; i < SERIES_N; i++) {
        ramp[i] = 100 * MiB + (uint64_t)i * 200 * MiB / (SERIES_N - 1);
        mid[i] = 100 * MiB + (i >= 30 ? 200 * MiB : 0);
        quarter[i] = 100 * MiB + (i >= 15 ? 200 * MiB : 0);
    }

    push_series(&h, ramp, SERIES_N, SERIES_STEP);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_double_eq_tol(ts.slope_per_sec, ramp_per_sec, 0.01 * ramp_per_sec);
    ck_assert_double_eq_tol(ls.slope_per_sec, ramp_per_sec, 0.01 * ramp_per_sec);
    ck_assert_uint_eq(ts.rising_bp, 10000);

    /* The step in the middle: both see growth, least squares much more than the ramp's. */
    push_series(&h, mid, SERIES_N, SERIES_STEP);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_double_gt(ls.slope_per_sec, 1.4 * ramp_per_sec);
    ck_assert_double_gt(ts.slope_per_sec, 0.9 * ramp_per_sec);
    ck_assert_double_lt(ts.slope_per_sec, ls.slope_per_sec);
    ck_assert_uint_eq(ts.rising_bp, 10000 / 60);
    ck_assert_uint_eq(ls.rising_bp, 10000 / 60);

    /* The step a quarter of the way in: Theil-Sen says flat, least squares still says leak. */
    push_series(&h, quarter, SERIES_N, SERIES_STEP);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_double_eq(ts.slope_per_sec, 0.0);
    ck_assert_double_gt(ls.slope_per_sec, ramp_per_sec);
    ck_assert_uint_eq(ts.rising_bp, 10000 / 60);
}
END_TEST

START_TEST(test_noisy_leak) {
    uint64_t seed = 0x9e3779b97f4a7c15ull * (_i + 1);
    gl_history h;
    gl_growth ts;

    /* A 1 MiB/s leak sampled every second for three minutes through the real ring, with +-8 MiB
     * of uniform noise on each sample: the noise spans 16 MiB, an eighth of the rise over the
     * window. */
    gl_history_init(&h, WINDOW);
    for (uint64_t i = 0; i < 180; i++) {
        double noise = 8.0 * (double)MiB * lcg_unit(&seed);
        gl_history_push(&h, T0 + i * SEC, (uint64_t)((double)(BASE + i * MiB) + noise));
    }

    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_double_eq_tol(ts.slope_per_sec, (double)MiB, 0.10 * (double)MiB);
    ck_assert_uint_ge(ts.n_points, 60);
}
END_TEST

START_TEST(test_rising_bp) {
    uint64_t v[SERIES_N];
    gl_history h;
    gl_growth ls, ts;

    line(v, BASE, (int64_t)MiB);
    push_series(&h, v, SERIES_N, SERIES_STEP);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_uint_eq(ts.rising_bp, 10000);
    ck_assert_uint_eq(ls.rising_bp, 10000);

    /* Equal values are not growth. */
    line(v, BASE, 0);
    push_series(&h, v, SERIES_N, SERIES_STEP);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_uint_eq(ts.rising_bp, 0);
    ck_assert_uint_eq(ls.rising_bp, 0);

    /* A sawtooth (three steps up, one back down, a garbage-collected heap): 45 of 60 steps rise. */
    for (uint32_t i = 0; i < SERIES_N; i++)
        v[i] = BASE + (i % 4) * MiB;
    push_series(&h, v, SERIES_N, SERIES_STEP);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_uint_eq(ts.rising_bp, 7500);
    ck_assert_uint_eq(ls.rising_bp, 7500);

    /* Shrinking: no step rises. */
    line(v, BASE, -(int64_t)MiB);
    push_series(&h, v, SERIES_N, SERIES_STEP);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &ts), 0);
    ck_assert_uint_eq(ts.rising_bp, 0);
}
END_TEST

START_TEST(test_window_restriction) {
    uint64_t v[SERIES_N];
    gl_history h;
    gl_growth ls, ts;

    /* A steep climb (10 MiB/s) over the first minute, then flat at the top for the second. */
    for (uint32_t i = 0; i < SERIES_N; i++)
        v[i] = BASE + (uint64_t)(i < 30 ? i : 30) * 20 * MiB;
    push_series(&h, v, SERIES_N, SERIES_STEP);

    /* The whole window sees the climb. */
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_double_gt(ls.slope_per_sec, 1.0 * (double)MiB);
    ck_assert_uint_eq(ls.n_points, SERIES_N);

    /* The last 58 s hold only the flat part: 30 points, slope 0 for both. */
    ck_assert_int_eq(gl_history_growth_lsq(&h, 58 * SEC, &ls), 0);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, 58 * SEC, &ts), 0);
    ck_assert_double_eq(ls.slope_per_sec, 0.0);
    ck_assert_double_eq(ts.slope_per_sec, 0.0);
    ck_assert_uint_eq(ls.n_points, 30);
    ck_assert_uint_eq(ts.n_points, 30);
    ck_assert_uint_eq(ts.span_usec, 58 * SEC);

    /* A point exactly window_usec before the newest is inside; one microsecond less leaves it out.
     */
    ck_assert_int_eq(gl_history_growth_lsq(&h, 60 * SEC, &ls), 0);
    ck_assert_uint_eq(ls.n_points, 31);
    ck_assert_uint_eq(ls.span_usec, 60 * SEC);
    ck_assert_int_eq(gl_history_growth_lsq(&h, 62 * SEC - 1, &ls), 0);
    ck_assert_uint_eq(ls.n_points, 31);
    ck_assert_int_eq(gl_history_growth_lsq(&h, 62 * SEC, &ls), 0);
    ck_assert_uint_eq(ls.n_points, 32);
    ck_assert_double_gt(ls.slope_per_sec, 0.0);
}
END_TEST

START_TEST(test_old_spike_ages_out) {
    gl_history h;
    gl_growth ls;

    /* Five minutes of a flat pod at 1 s samples with a huge spike at minute one: two windows later
     * the ring holds no trace of it and even least squares reads exactly flat. */
    gl_history_init(&h, WINDOW);
    for (uint64_t i = 0; i < 300; i++)
        gl_history_push(&h, T0 + i * SEC, i == 60 ? 64 * GiB : BASE);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_double_eq(ls.slope_per_sec, 0.0);
    /* While it was recent it was kept: with 1 s samples the settled points are the even seconds. */
    gl_history_init(&h, WINDOW);
    for (uint64_t i = 0; i < 120; i++)
        gl_history_push(&h, T0 + i * SEC, i == 60 ? 64 * GiB : BASE);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &ls), 0);
    ck_assert_double_ne(ls.slope_per_sec, 0.0);
}
END_TEST

START_TEST(test_nodata) {
    gl_history h;
    gl_growth g;

    gl_history_init(&h, WINDOW);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &g), -ENODATA);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &g), -ENODATA);

    gl_history_push(&h, T0, BASE);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &g), -ENODATA);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &g), -ENODATA);

    gl_history_push(&h, T0 + 2 * SEC, BASE);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &g), -ENODATA);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &g), -ENODATA);

    gl_history_push(&h, T0 + 4 * SEC, BASE);
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &g), 0);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &g), 0);
    ck_assert_uint_eq(g.n_points, 3);

    /* Three points held, but only two inside the window asked for; none besides the newest in 0. */
    ck_assert_int_eq(gl_history_growth_lsq(&h, 2 * SEC, &g), -ENODATA);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, 2 * SEC, &g), -ENODATA);
    ck_assert_int_eq(gl_history_growth_lsq(&h, 0, &g), -ENODATA);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, 0, &g), -ENODATA);

    /* A span of zero cannot come out of gl_history_push, but the struct is public: build one. */
    gl_history_init(&h, WINDOW);
    for (uint32_t i = 0; i < 3; i++)
        h.p[i] = (gl_history_point){.t_usec = T0, .value = BASE + i};
    h.n = 3;
    ck_assert_int_eq(gl_history_growth_lsq(&h, WINDOW, &g), -ENODATA);
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &g), -ENODATA);
}
END_TEST

START_TEST(test_theil_sen_skips_equal_times) {
    gl_history h;
    gl_growth g;

    /*
     * Hand-built: the first two points share a time, which would make an infinite slope. Skipped,
     * the five other pairs give 1, 1, 1, 1.5 and 2 MiB/s: median 1 MiB/s. Counted, the infinity
     * would move the median to the mean of 1 and 1.5.
     */
    gl_history_init(&h, WINDOW);
    h.p[0] = (gl_history_point){.t_usec = T0, .value = BASE};
    h.p[1] = (gl_history_point){.t_usec = T0, .value = BASE + MiB};
    h.p[2] = (gl_history_point){.t_usec = T0 + 1 * SEC, .value = BASE + 2 * MiB};
    h.p[3] = (gl_history_point){.t_usec = T0 + 2 * SEC, .value = BASE + 3 * MiB};
    h.n = 4;
    ck_assert_int_eq(gl_history_growth_theil_sen(&h, WINDOW, &g), 0);
    ck_assert_double_eq(g.slope_per_sec, (double)MiB);
    ck_assert_uint_eq(g.n_points, 4);
    ck_assert_uint_eq(g.span_usec, 2 * SEC);
}
END_TEST

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

START_TEST(test_theil_sen_is_the_median) {
    /* Every count from 3 to 64 points (odd and even numbers of pairs) with jittered times and noisy
     * values, against a plain sort of every pairwise slope. */
    const uint32_t n = (uint32_t)_i;
    uint64_t seed = 12345 + n;
    double slopes[GL_HISTORY_POINTS * (GL_HISTORY_POINTS - 1) / 2];
    gl_history h;
    gl_growth g;

    gl_history_init(&h, WINDOW);
    uint64_t t = T0;
    for (uint32_t i = 0; i < n; i++) {
        t += 2 * SEC + (uint64_t)(SEC * (lcg_unit(&seed) + 1.0)); /* 2 to 4 s apart: all kept */
        gl_history_push(&h, t, BASE + (uint64_t)(64.0 * (double)MiB * (lcg_unit(&seed) + 1.0)));
    }
    ck_assert_uint_eq(h.n, n);

    size_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = i + 1; j < n; j++) {
            const gl_history_point *a = gl_history_at(&h, i), *b = gl_history_at(&h, j);
            slopes[m++] =
                ((double)b->value - (double)a->value) / ((double)(b->t_usec - a->t_usec) / 1e6);
        }
    qsort(slopes, m, sizeof(slopes[0]), cmp_double);
    double want = m % 2 ? slopes[m / 2] : (slopes[m / 2 - 1] + slopes[m / 2]) / 2;

    ck_assert_int_eq(gl_history_growth_theil_sen(&h, 10 * 60 * SEC, &g), 0);
    ck_assert_uint_eq(g.n_points, n);
    ck_assert_double_eq_tol(g.slope_per_sec, want, 1e-6 * fabs(want) + 1e-6);
}
END_TEST

START_TEST(test_time_to) {
    /* Already there or past it: now, whatever the slope. */
    ck_assert_uint_eq(gl_growth_time_to(100, 100, 1.0), 0);
    ck_assert_uint_eq(gl_growth_time_to(100, 100, 0.0), 0);
    ck_assert_uint_eq(gl_growth_time_to(100, 100, -1.0), 0);
    ck_assert_uint_eq(gl_growth_time_to(200, 100, -5.0), 0);
    ck_assert_uint_eq(gl_growth_time_to(UINT64_MAX, 0, 0.0), 0);

    /* Not growing: never. */
    ck_assert_uint_eq(gl_growth_time_to(0, 100, 0.0), UINT64_MAX);
    ck_assert_uint_eq(gl_growth_time_to(0, 100, -1.0), UINT64_MAX);
    ck_assert_uint_eq(gl_growth_time_to(0, 100, -0.0), UINT64_MAX);
    ck_assert_uint_eq(gl_growth_time_to(0, 100, NAN), UINT64_MAX);

    /* Plain cases: 100 MiB to go at 1 MiB/s is 100 s; a partial microsecond rounds up. */
    ck_assert_uint_eq(gl_growth_time_to(BASE, BASE + 100 * MiB, (double)MiB), 100 * SEC);
    ck_assert_uint_eq(gl_growth_time_to(0, 1, 3.0), 333334);
    ck_assert_uint_eq(gl_growth_time_to(0, 1, INFINITY), 0);

    /* Too far to count in microseconds: capped, never wrapped. */
    ck_assert_uint_eq(gl_growth_time_to(0, UINT64_MAX, 1.0), UINT64_MAX);
    ck_assert_uint_eq(gl_growth_time_to(0, 1, 1e-300), UINT64_MAX);
    ck_assert_uint_eq(gl_growth_time_to(0, 1ull << 63, 1e6 / 2.5), UINT64_MAX);
    /* Just under the cap still counts. */
    uint64_t big = gl_growth_time_to(0, 1ull << 63, 1e6);
    ck_assert_uint_ne(big, UINT64_MAX);
    ck_assert_uint_ge(big, (1ull << 63) - 4096); /* a double has 53 bits: 2048 us steps up there */
    ck_assert_uint_le(big, (1ull << 63) + 4096);
}
END_TEST

static Suite *history_suite(void) {
    Suite *s = suite_create("history");
    TCase *ring = tcase_create("ring");
    tcase_add_test(ring, test_init_spacing);
    tcase_add_test(ring, test_fills_and_wraps);
    tcase_add_test(ring, test_replace_rule_step_by_step);
    tcase_add_test(ring, test_out_of_order_and_same_time);
    tcase_add_loop_test(ring, test_long_run_keeps_window_covered, 0,
                        sizeof(rates) / sizeof(rates[0]));
    suite_add_tcase(s, ring);

    TCase *growth = tcase_create("growth");
    tcase_add_loop_test(growth, test_exact_lines, 0, sizeof(lines) / sizeof(lines[0]));
    tcase_add_test(growth, test_spikes_drag_lsq_not_theil_sen);
    tcase_add_test(growth, test_flat_with_late_spike);
    tcase_add_test(growth, test_step_versus_ramp);
    tcase_add_loop_test(growth, test_noisy_leak, 0, 8);
    tcase_add_test(growth, test_rising_bp);
    tcase_add_test(growth, test_window_restriction);
    tcase_add_test(growth, test_old_spike_ages_out);
    tcase_add_test(growth, test_nodata);
    tcase_add_test(growth, test_theil_sen_skips_equal_times);
    tcase_add_loop_test(growth, test_theil_sen_is_the_median, 3, GL_HISTORY_POINTS + 1);
    tcase_add_test(growth, test_time_to);
    suite_add_tcase(s, growth);
    return s;
}

GL_TEST_MAIN(history_suite)
