/* metrics.h: a small metrics registry (counters, gauges, histograms with labels) rendered as
 * Prometheus text exposition format 0.0.4. Pure: no I/O, no clock. */
#ifndef GUARDLET_METRICS_H
#define GUARDLET_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* The Content-Type of what gl_metrics_render() writes. */
#define GL_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef enum {
    GL_METRIC_COUNTER,
    GL_METRIC_GAUGE,
    GL_METRIC_HISTOGRAM,
} gl_metric_type;

typedef struct gl_metrics gl_metrics; /* the registry: owns every family */
typedef struct gl_metric gl_metric;   /* one family: a name, its help, label names, series */

/* Largest number of labels a family may have (besides a histogram's "le"). */
#define GL_METRIC_MAX_LABELS 8
/* Largest number of histogram bucket bounds (besides +Inf). */
#define GL_METRIC_MAX_BUCKETS 32

/* Returns 0 and *out, or -ENOMEM. */
int gl_metrics_new(gl_metrics **out);
void gl_metrics_free(gl_metrics *m); /* accepts NULL */

/*
 * Adds a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new; each label name
 * [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", distinct, and not "le" for a histogram. help is
 * any text (escaped when rendered). bounds (histograms only, else NULL/0): 1..GL_METRIC_MAX_BUCKETS
 * finite, strictly ascending upper bounds; +Inf is implied. Everything is copied. Returns the
 * family (owned by m) or NULL: invalid arguments (errno EINVAL), duplicate name (EEXIST), ENOMEM.
 */
gl_metric *gl_metrics_add(gl_metrics *m, const char *name, const char *help, gl_metric_type type,
                          const char *const *label_names, size_t n_labels, const double *bounds,
                          size_t n_bounds);

/*
 * Operations on the series with these label values (one per label name, in order; NULL or "" is
 * the empty value; any bytes are fine, they are escaped when rendered). The series is created on
 * first use. Return 0, -EINVAL (wrong operation for the family's type: set on a counter, add of a
 * negative amount to a counter, observe on a non-histogram), or -ENOMEM.
 */
int gl_metric_set(gl_metric *f, const char *const *label_values, double v);     /* gauge */
int gl_metric_add(gl_metric *f, const char *const *label_values, double delta); /* counter, gauge */
int gl_metric_observe(gl_metric *f, const char *const *label_values, double v); /* histogram */

/* Drops every series of the family. */
void gl_metric_clear(gl_metric *f);

/* Rounds, for series that follow a changing set of objects (a gauge per pod): begin a round, set
 * every series that still exists, end the round, and the series not set in it are dropped (a gone
 * pod's series vanishes). Unlike clear-and-rebuild, a steady set of series costs no allocation. */
void gl_metric_begin_round(gl_metric *f);
void gl_metric_end_round(gl_metric *f);

/* How many series the family has. */
size_t gl_metric_series_count(const gl_metric *f);

/* The current value of a counter or gauge series, or NAN when it does not exist (for tests). */
double gl_metric_value(const gl_metric *f, const char *const *label_values);

/*
 * Renders every family in registration order, each as "# HELP", "# TYPE" and its series in
 * creation order; histograms as cumulative _bucket{le=...} lines ending with le="+Inf", then _sum
 * and _count. Writes a malloc'ed NUL-terminated text into *out (caller frees) and its length
 * without the NUL into *len. Returns 0 or -ENOMEM.
 */
int gl_metrics_render(const gl_metrics *m, char **out, size_t *len);

/* Whether s is a valid metric name / label name. */
bool gl_metrics_name_valid(const char *s);
bool gl_metrics_label_name_valid(const char *s);

#endif
