/* history.h: a fixed-size ring of working-set samples per pod, and robust growth estimates over it.
 */
#ifndef GUARDLET_HISTORY_H
#define GUARDLET_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The ring keeps GL_HISTORY_POINTS points spaced at least window/(GL_HISTORY_POINTS - 1) apart, so
 * its memory is fixed per pod (1 KiB) whatever the Interval, and the newest window is always
 * covered. A sample arriving sooner than the spacing replaces the newest point instead of adding
 * one, so the newest point is always the latest sample.
 */
#define GL_HISTORY_POINTS 64

typedef struct {
    uint64_t t_usec; /* CLOCK_MONOTONIC */
    uint64_t value;  /* bytes (working set) */
} gl_history_point;

typedef struct {
    gl_history_point p[GL_HISTORY_POINTS];
    uint32_t head;         /* index of the oldest point */
    uint32_t n;            /* points held, 0..GL_HISTORY_POINTS */
    uint64_t spacing_usec; /* minimum distance between kept points */
} gl_history;

/* Empties h and sets the spacing for a window of window_usec. */
void gl_history_init(gl_history *h, uint64_t window_usec);

/* Adds a sample. Samples must come in non-decreasing time; an older one is ignored. */
void gl_history_push(gl_history *h, uint64_t t_usec, uint64_t value);

/* The i-th point from the oldest (0 <= i < h->n). */
const gl_history_point *gl_history_at(const gl_history *h, uint32_t i);

typedef struct {
    double slope_per_sec; /* bytes per second; negative when shrinking */
    uint32_t n_points;    /* points inside the window that were used */
    uint64_t span_usec;   /* time between the first and last point used */
    uint32_t rising_bp;   /* share of consecutive steps that grew, in basis points */
} gl_growth;

/*
 * Least-squares slope over the points within window_usec of the newest one: O(n), used every
 * update as a cheap screen. Returns 0, or -ENODATA with fewer than 3 points or a span of zero.
 */
int gl_history_growth_lsq(const gl_history *h, uint64_t window_usec, gl_growth *out);

/*
 * Theil-Sen slope (median of all pairwise slopes) over the same points: O(n^2) with n <= 64, run
 * only for pods the cheap screen flags. A spike that comes and goes moves the median little, where
 * it drags a least-squares line; up to ~29% of points can be outliers. Same returns as above.
 */
int gl_history_growth_theil_sen(const gl_history *h, uint64_t window_usec, gl_growth *out);

/* Time until value reaches target at slope (bytes/s): 0 when already there, UINT64_MAX when it
 * never will (slope <= 0 and below target). In microseconds. */
uint64_t gl_growth_time_to(uint64_t value, uint64_t target, double slope_per_sec);

#endif
