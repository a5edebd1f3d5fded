/* psi.c: strict, locale-free parser and reader for pressure stall information files. */
#include "guardlet/psi.h"

#include "guardlet/fileio.h"

#include <errno.h>
#include <string.h>
#include <sys/types.h>

/* A PSI file holds at most two lines of about 72 bytes each ("some avg10=100.00 avg60=100.00
 * avg300=100.00 total=<20 digits>"). 512 bytes leaves room for keys future kernels may add. */
#define PSI_BUF_SIZE 512

/* 100.00% in hundredths of a percent: a stall share cannot exceed the whole window. */
#define PSI_AVG_BP_MAX 10000u

typedef enum { FIELD_AVG10, FIELD_AVG60, FIELD_AVG300, FIELD_TOTAL, FIELD_N } psi_field;

static const char *const field_names[FIELD_N] = {
    [FIELD_AVG10] = "avg10",
    [FIELD_AVG60] = "avg60",
    [FIELD_AVG300] = "avg300",
    [FIELD_TOTAL] = "total",
};

#define ALL_FIELDS ((1u << FIELD_N) - 1)

static const char *const resource_names[GL_PSI_N] = {
    [GL_PSI_MEMORY] = "memory",
    [GL_PSI_CPU] = "cpu",
    [GL_PSI_IO] = "io",
};

const char *gl_psi_resource_name(gl_psi_resource r) {
    /* Never NULL, so that a caller can put the result straight into a log line. */
    if ((unsigned)r >= GL_PSI_N)
        return "unknown";
    return resource_names[r];
}

static int span_is(const char *p, size_t len, const char *word) {
    return strlen(word) == len && memcmp(p, word, len) == 0;
}

/*
 * Parses an average "I", "I.D" or "I.DD" (the kernel prints "%lu.%02lu") into hundredths. More
 * than two decimals would mean a format we do not understand, and the value must not exceed
 * 100.00.
 */
static int parse_avg_bp(const char *p, size_t len, uint32_t *out) {
    size_t i = 0;
    uint32_t whole = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        /* Stopping above 100 keeps the accumulator far from overflow whatever the length. */
        whole = whole * 10 + (uint32_t)(p[i] - '0');
        if (whole > PSI_AVG_BP_MAX / 100)
            return -EBADMSG;
        i++;
    }
    if (i == 0)
        return -EBADMSG;

    uint32_t frac = 0;
    if (i < len) {
        if (p[i] != '.')
            return -EBADMSG;
        i++;
        size_t decimals = len - i;
        if (decimals == 0 || decimals > 2)
            return -EBADMSG;
        for (size_t j = 0; j < decimals; j++) {
            if (p[i + j] < '0' || p[i + j] > '9')
                return -EBADMSG;
            frac = frac * 10 + (uint32_t)(p[i + j] - '0');
        }
        /* "3.7" means 3.70. */
        if (decimals == 1)
            frac *= 10;
    }

    uint32_t bp = whole * 100 + frac;
    if (bp > PSI_AVG_BP_MAX)
        return -EBADMSG;
    *out = bp;
    return 0;
}

static int parse_u64(const char *p, size_t len, uint64_t *out) {
    if (len == 0)
        return -EBADMSG;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -EBADMSG;
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Parses the fields of one line, [p, end) after its kind word, each " key=value". */
static int parse_fields(const char *p, const char *end, gl_psi_line *line) {
    unsigned seen = 0;
    /* The kernel separates fields with exactly one space and ends the line right after the last
     * one, so anything else (double or trailing spaces, tabs) is not its output. */
    while (p < end) {
        if (*p != ' ')
            return -EBADMSG;
        p++;

        const char *key = p;
        while (p < end && is_key_char(*p))
            p++;
        size_t key_len = (size_t)(p - key);
        if (key_len == 0 || p == end || *p != '=')
            return -EBADMSG;
        p++;

        const char *val = p;
        while (p < end && *p != ' ')
            p++;
        size_t val_len = (size_t)(p - val);

        int f = -1;
        for (int i = 0; i < FIELD_N; i++)
            if (span_is(key, key_len, field_names[i]))
                f = i;

        if (f < 0) {
            /* An unknown key is skipped, but only if its value looks like the kernel's numbers,
             * so that garbage is not waved through under a new name. */
            if (val_len == 0)
                return -EBADMSG;
            for (size_t i = 0; i < val_len; i++)
                if (!((val[i] >= '0' && val[i] <= '9') || val[i] == '.'))
                    return -EBADMSG;
            continue;
        }

        if (seen & (1u << f))
            return -EBADMSG;
        seen |= 1u << f;

        int r;
        switch ((psi_field)f) {
        case FIELD_AVG10:
            r = parse_avg_bp(val, val_len, &line->avg10_bp);
            break;
        case FIELD_AVG60:
            r = parse_avg_bp(val, val_len, &line->avg60_bp);
            break;
        case FIELD_AVG300:
            r = parse_avg_bp(val, val_len, &line->avg300_bp);
            break;
        case FIELD_TOTAL:
            r = parse_u64(val, val_len, &line->total_usec);
            break;
        default:
            r = -EBADMSG;
            break;
        }
        if (r < 0)
            return r;
    }
    return seen == ALL_FIELDS ? 0 : -EBADMSG;
}

int gl_psi_parse(const char *buf, size_t len, gl_psi *out) {
    if (!buf || !out)
        return -EINVAL;
    /* Empty text, or text cut before its final newline, cannot be trusted: the last number may
     * be a prefix of the real one. */
    if (len == 0 || buf[len - 1] != '\n')
        return -EBADMSG;

    /* Filled in a local copy so that *out is untouched when the text is rejected. */
    gl_psi psi = {0};
    bool has_some = false;
    const char *p = buf;
    const char *end = buf + len;
    while (p < end) {
        /* The final byte is a newline, so every line has one. */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *kind = p;
        while (p < nl && *p != ' ')
            p++;
        size_t kind_len = (size_t)(p - kind);

        gl_psi_line *line;
        if (span_is(kind, kind_len, "some")) {
            if (has_some)
                return -EBADMSG;
            has_some = true;
            line = &psi.some;
        } else if (span_is(kind, kind_len, "full")) {
            if (psi.has_full)
                return -EBADMSG;
            psi.has_full = true;
            line = &psi.full;
        } else {
            /* Only two kinds exist; anything else, an empty line included, is garbage. */
            return -EBADMSG;
        }

        int r = parse_fields(p, nl, line);
        if (r < 0)
            return r;
        p = nl + 1;
    }

    if (!has_some)
        return -EBADMSG;
    *out = psi;
    return 0;
}

int gl_psi_read(const char *path, gl_psi *out) {
    if (!path || !out)
        return -EINVAL;
    char buf[PSI_BUF_SIZE];
    ssize_t n = gl_read_file(path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    return gl_psi_parse(buf, (size_t)n, out);
}
