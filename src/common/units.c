/* units.c: strict, locale-free parsing and formatting of byte quantities, percentages and
 * durations. */
#include "guardlet/units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Everything here works on ASCII by hand instead of using isdigit(), strtoull() or strtod(): those
 * follow the locale, accept leading spaces and signs, and strtod() cannot represent "0.1" exactly.
 * Config values must mean the same thing on every node.
 */

static bool is_digit(char ch) {
    return ch >= '0' && ch <= '9';
}

static char to_lower(char ch) {
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool ascii_equal_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (to_lower(*a) != to_lower(*b))
            return false;
    return *a == *b;
}

/* A run of decimal digits: [start, start + len). */
typedef struct {
    const char *start;
    size_t len;
} digits;

/* Reads "D+" or "D+.D+" at *p and advances past it. Returns false when there is no number there or
 * when a '.' is not followed by a digit ("1." is a typo, not a number). */
static bool number_scan(const char **p, digits *whole, digits *frac) {
    const char *s = *p;

    whole->start = s;
    while (is_digit(*s))
        s++;
    whole->len = (size_t)(s - whole->start);
    if (whole->len == 0)
        return false;

    frac->start = s;
    frac->len = 0;
    if (*s == '.') {
        frac->start = ++s;
        while (is_digit(*s))
            s++;
        frac->len = (size_t)(s - frac->start);
        if (frac->len == 0)
            return false;
    }
    *p = s;
    return true;
}

/* The value of a run of digits, or -ERANGE when it does not fit in 64 bits. */
static int digits_value(const digits *d, uint64_t *out) {
    uint64_t v = 0;

    for (size_t i = 0; i < d->len; i++) {
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(d->start[i] - '0'), &v))
            return -ERANGE;
    }
    *out = v;
    return 0;
}

/*
 * whole.frac * unit, exactly, rounded down, or -ERANGE. The fraction is evaluated from its last
 * digit backwards (Horner's rule): w = floor((digit * unit + w) / 10). Because
 * floor((m + x) / n) == floor((m + floor(x)) / n) for integers m and n, flooring at each step
 * gives the same result as the exact rational value floored once, with no digit limit and no
 * intermediate above 10 * unit.
 */
static int number_scale(const digits *whole, const digits *frac, uint64_t unit, uint64_t *out) {
    uint64_t w = 0, v;
    int r;

    for (size_t i = frac->len; i > 0; i--) {
        uint64_t part;

        if (__builtin_mul_overflow((uint64_t)(frac->start[i - 1] - '0'), unit, &part) ||
            __builtin_add_overflow(part, w, &part))
            return -ERANGE;
        w = part / 10;
    }

    r = digits_value(whole, &v);
    if (r < 0)
        return r;
    if (__builtin_mul_overflow(v, unit, &v) || __builtin_add_overflow(v, w, &v))
        return -ERANGE;
    *out = v;
    return 0;
}

int gl_parse_u64(const char *s, uint64_t *out) {
    digits d = {s, 0};

    if (!s)
        return -EINVAL;
    while (is_digit(s[d.len]))
        d.len++;
    if (d.len == 0 || s[d.len] != '\0')
        return -EINVAL;
    return digits_value(&d, out);
}

int gl_parse_i64(const char *s, int64_t *out) {
    bool negative = false;
    uint64_t v;
    int r;

    if (!s)
        return -EINVAL;
    /* A minus sign is part of a signed number; a plus sign is not accepted, like everywhere else.
     */
    if (*s == '-') {
        negative = true;
        s++;
    }
    r = gl_parse_u64(s, &v);
    if (r < 0)
        return r;
    if (negative) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -ERANGE;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -ERANGE;
        *out = (int64_t)v;
    }
    return 0;
}

static const struct {
    const char *suffix;
    uint64_t factor;
} byte_units[] = {
    {"Ki", UINT64_C(1) << 10},
    {"Mi", UINT64_C(1) << 20},
    {"Gi", UINT64_C(1) << 30},
    {"Ti", UINT64_C(1) << 40},
};

int gl_parse_bytes(const char *s, uint64_t *out) {
    digits whole, frac;
    uint64_t factor = 0;

    if (!s || !number_scan(&s, &whole, &frac))
        return -EINVAL;

    if (*s == '\0') {
        factor = 1;
    } else {
        for (size_t i = 0; i < sizeof(byte_units) / sizeof(byte_units[0]); i++)
            if (strcmp(s, byte_units[i].suffix) == 0)
                factor = byte_units[i].factor;
        if (factor == 0)
            return -EINVAL;
    }
    /* "1.5" bytes is meaningless; a fraction needs a unit to scale it. */
    if (factor == 1 && frac.len > 0)
        return -EINVAL;
    return number_scale(&whole, &frac, factor, out);
}

int gl_parse_percent(const char *s, uint32_t *out_bp) {
    digits whole, frac;
    uint64_t bp;
    int r;

    if (!s || !number_scan(&s, &whole, &frac))
        return -EINVAL;
    if (strcmp(s, "%") != 0 || frac.len > 2)
        return -EINVAL;
    r = number_scale(&whole, &frac, 100, &bp);
    if (r < 0)
        return r;
    if (bp > GL_PERCENT_BP_MAX)
        return -ERANGE;
    *out_bp = (uint32_t)bp;
    return 0;
}

int gl_parse_quantity(const char *s, gl_quantity *out) {
    size_t len;
    int r;

    if (!s)
        return -EINVAL;
    len = strlen(s);
    if (len > 0 && s[len - 1] == '%') {
        uint32_t bp;

        r = gl_parse_percent(s, &bp);
        if (r < 0)
            return r;
        *out = (gl_quantity){.kind = GL_QTY_PERCENT, .percent_bp = bp};
    } else {
        uint64_t bytes;

        r = gl_parse_bytes(s, &bytes);
        if (r < 0)
            return r;
        *out = (gl_quantity){.kind = GL_QTY_BYTES, .bytes = bytes};
    }
    return 0;
}

static const struct {
    const char *unit;
    uint64_t usec;
} duration_units[] = {
    /* Largest first: the formatter picks the first unit that divides the value exactly. */
    {"d", UINT64_C(86400000000)}, {"h", UINT64_C(3600000000)}, {"min", UINT64_C(60000000)},
    {"s", UINT64_C(1000000)},     {"ms", UINT64_C(1000)},      {"us", UINT64_C(1)},
};

#define N_DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

int gl_parse_duration(const char *s, uint64_t *out_usec) {
    uint64_t total = 0;

    if (!s || *s == '\0')
        return -EINVAL;

    for (;;) {
        digits whole, frac;
        const char *unit;
        size_t unit_len;
        uint64_t factor = 0, part;
        int r;

        if (!number_scan(&s, &whole, &frac))
            return -EINVAL;
        /* The unit is the whole run of letters, so "5m" is the unknown unit "m" and never a prefix
         * of "min" or "ms": a typo must not silently change the scale by a factor of 60000. */
        unit = s;
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
            s++;
        unit_len = (size_t)(s - unit);
        for (size_t i = 0; i < N_DURATION_UNITS; i++)
            if (strlen(duration_units[i].unit) == unit_len &&
                memcmp(unit, duration_units[i].unit, unit_len) == 0)
                factor = duration_units[i].usec;
        if (factor == 0)
            return -EINVAL; /* no unit (a bare number) or an unknown one */

        r = number_scale(&whole, &frac, factor, &part);
        if (r < 0)
            return r;
        if (__builtin_add_overflow(total, part, &total))
            return -ERANGE;

        if (*s == '\0')
            break;
        /* Parts may be separated by spaces, but the string must not end with them. */
        while (*s == ' ')
            s++;
        if (!is_digit(*s))
            return -EINVAL;
    }
    *out_usec = total;
    return 0;
}

int gl_parse_bool(const char *s, bool *out) {
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};

    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (ascii_equal_nocase(s, yes[i])) {
            *out = true;
            return 0;
        }
        if (ascii_equal_nocase(s, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

uint64_t gl_quantity_resolve(const gl_quantity *q, uint64_t total_bytes) {
    uint64_t bp;

    if (!q)
        return 0;
    if (q->kind == GL_QTY_BYTES)
        return q->bytes;
    bp = q->percent_bp > GL_PERCENT_BP_MAX ? GL_PERCENT_BP_MAX : q->percent_bp;
    /* total * bp / 10000 without overflow: split total into q * 10000 + r. Both terms are exact
     * and q * bp <= total because bp <= 10000. */
    return total_bytes / GL_PERCENT_BP_MAX * bp +
           total_bytes % GL_PERCENT_BP_MAX * bp / GL_PERCENT_BP_MAX;
}

/* snprintf() into buf, tolerating len == 0 (nothing can be written then, not even the NUL). */
__attribute__((format(printf, 3, 4))) static char *format_into(char *buf, size_t len,
                                                               const char *fmt, ...) {
    va_list ap;

    if (!buf || len == 0)
        return buf;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return buf;
}

char *gl_format_bytes(uint64_t bytes, char *buf, size_t len) {
    /* The largest unit that fits; whole numbers print bare ("512Mi") and others with two decimals,
     * rounded down ("1.50Gi"), so the output parses back with gl_parse_bytes(). */
    for (size_t i = sizeof(byte_units) / sizeof(byte_units[0]); i > 0; i--) {
        uint64_t f = byte_units[i - 1].factor;

        if (bytes < f)
            continue;
        if (bytes % f == 0)
            return format_into(buf, len, "%" PRIu64 "%s", bytes / f, byte_units[i - 1].suffix);
        return format_into(buf, len, "%" PRIu64 ".%02" PRIu64 "%s", bytes / f, bytes % f * 100 / f,
                           byte_units[i - 1].suffix);
    }
    return format_into(buf, len, "%" PRIu64, bytes);
}

char *gl_format_duration(uint64_t usec, char *buf, size_t len) {
    /* The largest unit that divides the value exactly, so nothing is lost and the text parses back:
     * 1.5 s prints as "1500ms", 300 s as "5min". */
    if (usec == 0)
        return format_into(buf, len, "0s");
    for (size_t i = 0; i < N_DURATION_UNITS; i++)
        if (usec % duration_units[i].usec == 0)
            return format_into(buf, len, "%" PRIu64 "%s", usec / duration_units[i].usec,
                               duration_units[i].unit);
    return buf; /* unreachable: every value is a whole number of microseconds */
}

char *gl_format_percent(uint32_t bp, char *buf, size_t len) {
    if (bp % 100 == 0)
        return format_into(buf, len, "%" PRIu32 "%%", bp / 100);
    if (bp % 10 == 0)
        return format_into(buf, len, "%" PRIu32 ".%" PRIu32 "%%", bp / 100, bp % 100 / 10);
    return format_into(buf, len, "%" PRIu32 ".%02" PRIu32 "%%", bp / 100, bp % 100);
}

char *gl_format_quantity(const gl_quantity *q, char *buf, size_t len) {
    if (!q)
        return format_into(buf, len, "?");
    if (q->kind == GL_QTY_PERCENT)
        return gl_format_percent(q->percent_bp, buf, len);
    return gl_format_bytes(q->bytes, buf, len);
}
