/* history.c: the per-pod ring of working-set samples and the growth estimates drawn from it. */
#include "guardlet/history.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/*
 * How the ring decides between appending and replacing.
 *
 * Every point but the newest is "settled"; the newest is "provisional" and always holds the latest
 * sample. When a sample arrives at t (t later than the newest point):
 *
 *   - if the provisional point is already at least spacing_usec after the settled point before it,
 *     it has matured: it becomes settled and the sample is appended as the new provisional point
 *     (dropping the oldest point when the ring is full);
 *   - otherwise the sample replaces the provisional point.
 *
 * A sample at the same time as the newest point replaces it; an older one is ignored. With fewer
 * than two points there is nothing to compare, so the sample is appended.
 *
 * So consecutive settled points are always at least spacing_usec apart, and when samples come
 * every dt they are less than spacing_usec + dt apart: with 1 s samples and a 2 min window the
 * spacing is 1.94 s and settled points land every 2 s; with 100 ms samples they land every 2.0 s
 * too, and 19 of every 20 samples only move the provisional point.
 *
 * The tempting rule "append when the new sample is at least spacing_usec after the second-newest
 * point" does not work: with 1 s samples and a 1.9 s spacing, every sample is 2 s after the
 * second-newest one, so every sample is appended and the 64 points cover only 63 s.
 *
 * Why spacing is window/(POINTS - 2) rather than window/(POINTS - 1): the provisional point may sit
 * right after the newest settled one, so only POINTS - 2 gaps are guaranteed to be at least the
 * spacing. Just after an append into a full ring the oldest point is therefore at least
 * (POINTS - 2) * spacing >= window before the newest, and the whole window stays covered. Points
 * are still spaced at least window/(POINTS - 1) apart, as the header promises.
 */

/* Microseconds per second, for slopes in bytes per second. */
#define USEC_PER_SEC 1e6

/* Every pair of points once: 64 * 63 / 2 = 2016 slopes, 16 KiB of stack in the Theil-Sen call. */
#define MAX_PAIRS (GL_HISTORY_POINTS * (GL_HISTORY_POINTS - 1) / 2)

/* 2^64 as a double: the first value that does not fit in uint64_t (converting it is undefined). */
#define UINT64_LIMIT_D 18446744073709551616.0

/* Basis points in a whole. */
#define BP_WHOLE 10000u

/* The i-th point from the oldest, for callers that have already checked i < h->n. */
static gl_history_point *slot(gl_history *h, uint32_t i) {
    return &h->p[(h->head + i) % GL_HISTORY_POINTS];
}

static const gl_history_point *cslot(const gl_history *h, uint32_t i) {
    return &h->p[(h->head + i) % GL_HISTORY_POINTS];
}

void gl_history_init(gl_history *h, uint64_t window_usec) {
    memset(h, 0, sizeof(*h));
    /* Rounded up so that (POINTS - 2) gaps of this size never fall short of the window. */
    h->spacing_usec = window_usec / (GL_HISTORY_POINTS - 2) +
                      (window_usec % (GL_HISTORY_POINTS - 2) != 0 ? 1 : 0);
}

void gl_history_push(gl_history *h, uint64_t t_usec, uint64_t value) {
    if (h->n > 0) {
        gl_history_point *newest = slot(h, h->n - 1);

        if (t_usec < newest->t_usec)
            return;
        /* Equal times would give a pair no slope and a span of zero; the later sample wins. */
        bool replace = t_usec == newest->t_usec;
        if (!replace && h->n >= 2)
            replace = newest->t_usec - slot(h, h->n - 2)->t_usec < h->spacing_usec;
        if (replace) {
            newest->t_usec = t_usec;
            newest->value = value;
            return;
        }
    }

    if (h->n == GL_HISTORY_POINTS) {
        /* The oldest slot becomes the newest. */
        h->p[h->head] = (gl_history_point){.t_usec = t_usec, .value = value};
        h->head = (h->head + 1) % GL_HISTORY_POINTS;
        return;
    }
    *slot(h, h->n) = (gl_history_point){.t_usec = t_usec, .value = value};
    h->n++;
}

/* Returns NULL when i is out of range rather than reading a stale slot. */
const gl_history_point *gl_history_at(const gl_history *h, uint32_t i) {
    if (i >= h->n)
        return NULL;
    return cslot(h, i);
}

/* b - a in bytes as a double, without the wrap-around of unsigned subtraction. */
static double value_diff(uint64_t a, uint64_t b) {
    return b >= a ? (double)(b - a) : -(double)(a - b);
}

/*
 * The points within window_usec of the newest one, as seconds and bytes relative to the first of
 * them: relative values keep full double precision where absolute microsecond timestamps (about
 * 2^40 after a few days of uptime) and byte counts would square into cancelling sums. Fills
 * n_points, span_usec and rising_bp of out and zeroes the slope. Returns the number of points.
 */
static uint32_t window_points(const gl_history *h, uint64_t window_usec, double t_sec[], double v[],
                              gl_growth *out) {
    memset(out, 0, sizeof(*out));
    if (h->n == 0)
        return 0;

    const gl_history_point *newest = cslot(h, h->n - 1);
    uint32_t first = 0;
    while (first < h->n && newest->t_usec - cslot(h, first)->t_usec > window_usec)
        first++;

    const gl_history_point *p0 = cslot(h, first);
    uint32_t n = h->n - first, rising = 0;
    for (uint32_t i = 0; i < n; i++) {
        const gl_history_point *p = cslot(h, first + i);
        t_sec[i] = (double)(p->t_usec - p0->t_usec) / USEC_PER_SEC;
        v[i] = value_diff(p0->value, p->value);
        if (i > 0 && p->value > cslot(h, first + i - 1)->value)
            rising++;
    }

    out->n_points = n;
    out->span_usec = newest->t_usec - p0->t_usec;
    if (n >= 2)
        out->rising_bp = (uint32_t)((uint64_t)rising * BP_WHOLE / (n - 1));
    return n;
}

int gl_history_growth_lsq(const gl_history *h, uint64_t window_usec, gl_growth *out) {
    double t[GL_HISTORY_POINTS], v[GL_HISTORY_POINTS];
    uint32_t n = window_points(h, window_usec, t, v, out);

    if (n < 3 || out->span_usec == 0)
        return -ENODATA;

    /* Centred two-pass form: sums of products of deviations do not cancel the way the one-pass
     * n*sum(tv) - sum(t)*sum(v) does when the values sit far from zero. */
    double mean_t = 0, mean_v = 0;
    for (uint32_t i = 0; i < n; i++) {
        mean_t += t[i];
        mean_v += v[i];
    }
    mean_t /= n;
    mean_v /= n;

    double stt = 0, stv = 0;
    for (uint32_t i = 0; i < n; i++) {
        double dt = t[i] - mean_t;
        stt += dt * dt;
        stv += dt * (v[i] - mean_v);
    }
    /* stt > 0 because the span is not zero. */
    out->slope_per_sec = stv / stt;
    return 0;
}

/*
 * The k-th smallest of a[0..n-1] (0-based), by Wirth's selection: average O(n), in place. On return
 * a[0..k-1] <= a[k] <= a[k+1..n-1], which the caller uses to find the next value up. Pairwise
 * slopes of a steady leak are mostly equal, which this partitioning handles without degrading.
 */
static double select_kth(double *a, long n, long k) {
    long lo = 0, hi = n - 1;

    while (lo < hi) {
        double pivot = a[k];
        long i = lo, j = hi;
        do {
            while (a[i] < pivot)
                i++;
            while (pivot < a[j])
                j--;
            if (i <= j) {
                double tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                i++;
                j--;
            }
        } while (i <= j);
        if (j < k)
            lo = i;
        if (k < i)
            hi = j;
    }
    return a[k];
}

int gl_history_growth_theil_sen(const gl_history *h, uint64_t window_usec, gl_growth *out) {
    double t[GL_HISTORY_POINTS], v[GL_HISTORY_POINTS];
    uint32_t n = window_points(h, window_usec, t, v, out);

    if (n < 3 || out->span_usec == 0)
        return -ENODATA;

    double slopes[MAX_PAIRS];
    long m = 0;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = i + 1; j < n; j++)
            /* Equal times have no slope; the ring never holds them, but a caller-built one may. */
            if (t[j] > t[i])
                slopes[m++] = (v[j] - v[i]) / (t[j] - t[i]);
    if (m == 0)
        return -ENODATA;

    long k = (m - 1) / 2;
    double median = select_kth(slopes, m, k);
    if (m % 2 == 0) {
        /* Even count: the mean of the two middle values; the upper one is the smallest above k. */
        double upper = slopes[k + 1];
        for (long i = k + 2; i < m; i++)
            if (slopes[i] < upper)
                upper = slopes[i];
        median = (median + upper) / 2;
    }
    out->slope_per_sec = median;
    return 0;
}

uint64_t gl_growth_time_to(uint64_t value, uint64_t target, double slope_per_sec) {
    if (value >= target)
        return 0;
    /* Written so that NaN also counts as "never". */
    if (!(slope_per_sec > 0))
        return UINT64_MAX;

    /* Rounded up: the value is still below target until the full time has passed. */
    double usec = ceil((double)(target - value) / slope_per_sec * USEC_PER_SEC);
    if (!(usec < UINT64_LIMIT_D))
        return UINT64_MAX;
    return (uint64_t)usec;
}
