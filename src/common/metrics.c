/* metrics.c: the metrics registry and its Prometheus text rendering (exposition format 0.0.4). */
#include "guardlet/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char **values; /* n_labels strings, owned */
    uint32_t hash;
    uint32_t round;   /* the family's round in which the series was last set */
    double value;     /* counter, gauge; a histogram's sum */
    uint64_t count;   /* histogram: observations */
    uint64_t *bucket; /* histogram: per-bucket (not cumulative) counts, n_bounds entries */
} series;

struct gl_metric {
    char *name;
    char *help;
    gl_metric_type type;
    char *labels[GL_METRIC_MAX_LABELS];
    size_t n_labels;
    double bounds[GL_METRIC_MAX_BUCKETS];
    size_t n_bounds;
    series *s;
    size_t n, cap;
    /* Open-addressing index of s by label hash (values are index + 1; 0 is empty), so that a
     * tick setting a gauge for each of 1000 pods does not compare 1000 x 1000 label sets. */
    uint32_t *index;
    size_t index_cap; /* a power of two, at least twice n */
    uint32_t round;   /* gl_metric_begin_round() count */
};

struct gl_metrics {
    gl_metric **f;
    size_t n, cap;
};

static bool name_char(char c, bool first, bool colon) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (colon && c == ':')
        return true;
    return !first && c >= '0' && c <= '9';
}

bool gl_metrics_name_valid(const char *s) {
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++)
        if (!name_char(s[i], i == 0, true))
            return false;
    return true;
}

bool gl_metrics_label_name_valid(const char *s) {
    if (!s || !*s || strncmp(s, "__", 2) == 0)
        return false;
    for (size_t i = 0; s[i]; i++)
        if (!name_char(s[i], i == 0, false))
            return false;
    return true;
}

int gl_metrics_new(gl_metrics **out) {
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

static void series_free(const gl_metric *f, series *s) {
    for (size_t i = 0; i < f->n_labels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->bucket);
}

void gl_metric_clear(gl_metric *f) {
    for (size_t i = 0; i < f->n; i++)
        series_free(f, &f->s[i]);
    f->n = 0;
    if (f->index)
        memset(f->index, 0, f->index_cap * sizeof(*f->index));
}

static void family_free(gl_metric *f) {
    if (!f)
        return;
    gl_metric_clear(f);
    free(f->s);
    free(f->index);
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

void gl_metrics_free(gl_metrics *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        family_free(m->f[i]);
    free(m->f);
    free(m);
}

gl_metric *gl_metrics_add(gl_metrics *m, const char *name, const char *help, gl_metric_type type,
                          const char *const *label_names, size_t n_labels, const double *bounds,
                          size_t n_bounds) {
    bool hist = type == GL_METRIC_HISTOGRAM;
    if (!gl_metrics_name_valid(name) || n_labels > GL_METRIC_MAX_LABELS ||
        (n_labels && !label_names) || (hist && (n_bounds == 0 || !bounds)) || (!hist && n_bounds) ||
        n_bounds > GL_METRIC_MAX_BUCKETS) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < n_labels; i++) {
        if (!gl_metrics_label_name_valid(label_names[i]) ||
            (hist && strcmp(label_names[i], "le") == 0)) {
            errno = EINVAL;
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(label_names[i], label_names[j]) == 0) {
                errno = EINVAL;
                return NULL;
            }
    }
    for (size_t i = 0; i < n_bounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
            errno = EINVAL;
            return NULL;
        }
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->f[i]->name, name) == 0) {
            errno = EEXIST;
            return NULL;
        }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        gl_metric **nf = realloc(m->f, cap * sizeof(*nf));
        if (!nf)
            goto oom;
        m->f = nf;
        m->cap = cap;
    }
    gl_metric *f = calloc(1, sizeof(*f));
    if (!f)
        goto oom;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    bool ok = f->name && f->help;
    for (size_t i = 0; i < n_labels; i++) {
        f->labels[i] = strdup(label_names[i]);
        ok = ok && f->labels[i];
    }
    f->n_labels = n_labels;
    if (!ok) {
        family_free(f);
        goto oom;
    }
    if (n_bounds)
        memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
    f->n_bounds = n_bounds;
    m->f[m->n++] = f;
    return f;
oom:
    errno = ENOMEM;
    return NULL;
}

static const char *val_or_empty(const char *const *values, size_t i) {
    return values && values[i] ? values[i] : "";
}

/* FNV-1a over the label values, each terminated by its NUL so that ("ab","c") != ("a","bc"). */
static uint32_t labels_hash(const gl_metric *f, const char *const *values) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < f->n_labels; i++) {
        const char *v = val_or_empty(values, i);
        do {
            h ^= (unsigned char)*v;
            h *= 16777619u;
        } while (*v++);
    }
    return h;
}

static bool series_matches(const gl_metric *f, const series *s, uint32_t h,
                           const char *const *values) {
    if (s->hash != h)
        return false;
    for (size_t i = 0; i < f->n_labels; i++)
        if (strcmp(s->values[i], val_or_empty(values, i)) != 0)
            return false;
    return true;
}

static void index_put(gl_metric *f, size_t idx) {
    size_t mask = f->index_cap - 1;
    for (size_t p = f->s[idx].hash & mask;; p = (p + 1) & mask)
        if (!f->index[p]) {
            f->index[p] = (uint32_t)idx + 1;
            return;
        }
}

static int index_grow(gl_metric *f) {
    size_t cap = f->index_cap ? f->index_cap * 2 : 64;
    uint32_t *ni = calloc(cap, sizeof(*ni));
    if (!ni)
        return -ENOMEM;
    free(f->index);
    f->index = ni;
    f->index_cap = cap;
    for (size_t i = 0; i < f->n; i++)
        index_put(f, i);
    return 0;
}

/* Finds or creates the series; NULL on ENOMEM. */
static series *series_get(gl_metric *f, const char *const *values) {
    uint32_t h = labels_hash(f, values);
    if (f->index_cap) {
        size_t mask = f->index_cap - 1;
        for (size_t p = h & mask; f->index[p]; p = (p + 1) & mask)
            if (series_matches(f, &f->s[f->index[p] - 1], h, values))
                return &f->s[f->index[p] - 1];
    }
    if (f->n >= UINT32_MAX - 1)
        return NULL;
    if ((f->n + 1) * 2 > f->index_cap && index_grow(f) < 0)
        return NULL;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        series *ns = realloc(f->s, cap * sizeof(*ns));
        if (!ns)
            return NULL;
        f->s = ns;
        f->cap = cap;
    }
    series *s = &f->s[f->n];
    memset(s, 0, sizeof(*s));
    s->hash = h;
    s->values = calloc(f->n_labels ? f->n_labels : 1, sizeof(*s->values));
    if (f->type == GL_METRIC_HISTOGRAM)
        s->bucket = calloc(f->n_bounds, sizeof(*s->bucket));
    bool ok = s->values && (f->type != GL_METRIC_HISTOGRAM || s->bucket);
    for (size_t i = 0; ok && i < f->n_labels; i++)
        ok = (s->values[i] = strdup(val_or_empty(values, i))) != NULL;
    if (!ok) {
        if (s->values)
            for (size_t i = 0; i < f->n_labels; i++)
                free(s->values[i]);
        free(s->values);
        free(s->bucket);
        return NULL;
    }
    index_put(f, f->n);
    f->n++;
    return s;
}

/* Finds or creates the series and marks it as set in this round. */
static series *series_touch(gl_metric *f, const char *const *values) {
    series *s = series_get(f, values);
    if (s)
        s->round = f->round;
    return s;
}

void gl_metric_begin_round(gl_metric *f) {
    f->round++;
}

void gl_metric_end_round(gl_metric *f) {
    size_t kept = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->s[i].round != f->round) {
            series_free(f, &f->s[i]);
            continue;
        }
        if (kept != i)
            f->s[kept] = f->s[i];
        kept++;
    }
    if (kept == f->n)
        return;
    f->n = kept;
    memset(f->index, 0, f->index_cap * sizeof(*f->index));
    for (size_t i = 0; i < f->n; i++)
        index_put(f, i);
}

int gl_metric_set(gl_metric *f, const char *const *label_values, double v) {
    if (f->type != GL_METRIC_GAUGE)
        return -EINVAL;
    series *s = series_touch(f, label_values);
    if (!s)
        return -ENOMEM;
    s->value = v;
    return 0;
}

int gl_metric_add(gl_metric *f, const char *const *label_values, double delta) {
    if (f->type == GL_METRIC_HISTOGRAM || (f->type == GL_METRIC_COUNTER && !(delta >= 0)))
        return -EINVAL;
    series *s = series_touch(f, label_values);
    if (!s)
        return -ENOMEM;
    s->value += delta;
    return 0;
}

int gl_metric_observe(gl_metric *f, const char *const *label_values, double v) {
    if (f->type != GL_METRIC_HISTOGRAM)
        return -EINVAL;
    series *s = series_touch(f, label_values);
    if (!s)
        return -ENOMEM;
    /* A value above every bound lands only in +Inf, which is _count. NaN counts there too. */
    for (size_t i = 0; i < f->n_bounds; i++)
        if (v <= f->bounds[i]) {
            s->bucket[i]++;
            break;
        }
    s->count++;
    s->value += v;
    return 0;
}

size_t gl_metric_series_count(const gl_metric *f) {
    return f->n;
}

double gl_metric_value(const gl_metric *f, const char *const *label_values) {
    uint32_t h = labels_hash(f, label_values);
    for (size_t i = 0; i < f->n; i++)
        if (series_matches(f, &f->s[i], h, label_values))
            return f->type == GL_METRIC_HISTOGRAM ? (double)f->s[i].count : f->s[i].value;
    return NAN;
}

/* ---------------------------------------------------------------- rendering */

typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static void buf_reserve(buf *b, size_t n) {
    if (b->oom || b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = true;
        return;
    }
    b->p = np;
    b->cap = cap;
}

static void buf_put(buf *b, const char *s, size_t n) {
    buf_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf *b, const char *s) {
    buf_put(b, s, strlen(s));
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void buf_escaped(buf *b, const char *s, bool quote) {
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '\\'           ? "\\\\"
                          : *s == '\n'         ? "\\n"
                          : quote && *s == '"' ? "\\\""
                                               : NULL;
        if (!rep)
            continue;
        buf_put(b, run, (size_t)(s - run));
        buf_str(b, rep);
        run = s + 1;
    }
    buf_put(b, run, (size_t)(s - run));
}

/* Go's ParseFloat reads what we write: integers exactly (byte counts up to 2^53 are exact in a
 * double), otherwise the shortest of %.15g/%.17g that reads back the same value. */
static void fmt_value(char *out, size_t len, double v) {
    if (isnan(v))
        snprintf(out, len, "NaN");
    else if (isinf(v))
        snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(out, len, "%.0f", v);
    else {
        snprintf(out, len, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, len, "%.17g", v);
    }
}

static void buf_value(buf *b, double v) {
    char tmp[40];
    fmt_value(tmp, sizeof(tmp), v);
    buf_str(b, tmp);
}

static void buf_u64(buf *b, uint64_t v) {
    char tmp[24];
    snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
    buf_str(b, tmp);
}

/* name{l1="v1",...[,le="x"]} with a trailing space. le may be NULL. */
static void put_labels(buf *b, const gl_metric *f, const series *s, const char *le) {
    if (f->n_labels == 0 && !le) {
        buf_str(b, " ");
        return;
    }
    buf_str(b, "{");
    for (size_t i = 0; i < f->n_labels; i++) {
        if (i)
            buf_str(b, ",");
        buf_str(b, f->labels[i]);
        buf_str(b, "=\"");
        buf_escaped(b, s->values[i], true);
        buf_str(b, "\"");
    }
    if (le) {
        buf_str(b, f->n_labels ? ",le=\"" : "le=\"");
        buf_str(b, le);
        buf_str(b, "\"");
    }
    buf_str(b, "} ");
}

static void render_histogram(buf *b, const gl_metric *f, const series *s) {
    uint64_t cum = 0;
    char le[40];
    for (size_t i = 0; i <= f->n_bounds; i++) {
        if (i < f->n_bounds) {
            cum += s->bucket[i];
            fmt_value(le, sizeof(le), f->bounds[i]);
        } else {
            cum = s->count;
            snprintf(le, sizeof(le), "+Inf");
        }
        buf_str(b, f->name);
        buf_str(b, "_bucket");
        put_labels(b, f, s, le);
        buf_u64(b, cum);
        buf_str(b, "\n");
    }
    buf_str(b, f->name);
    buf_str(b, "_sum");
    put_labels(b, f, s, NULL);
    buf_value(b, s->value);
    buf_str(b, "\n");
    buf_str(b, f->name);
    buf_str(b, "_count");
    put_labels(b, f, s, NULL);
    buf_u64(b, s->count);
    buf_str(b, "\n");
}

int gl_metrics_render(const gl_metrics *m, char **out, size_t *len) {
    static const char *const type_name[] = {"counter", "gauge", "histogram"};
    buf b = {0};

    buf_reserve(&b, 0);
    for (size_t i = 0; i < m->n; i++) {
        const gl_metric *f = m->f[i];
        buf_str(&b, "# HELP ");
        buf_str(&b, f->name);
        buf_str(&b, " ");
        buf_escaped(&b, f->help, false);
        buf_str(&b, "\n# TYPE ");
        buf_str(&b, f->name);
        buf_str(&b, " ");
        buf_str(&b, type_name[f->type]);
        buf_str(&b, "\n");
        for (size_t j = 0; j < f->n; j++) {
            if (f->type == GL_METRIC_HISTOGRAM) {
                render_histogram(&b, f, &f->s[j]);
                continue;
            }
            buf_str(&b, f->name);
            put_labels(&b, f, &f->s[j], NULL);
            buf_value(&b, f->s[j].value);
            buf_str(&b, "\n");
        }
    }
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}
