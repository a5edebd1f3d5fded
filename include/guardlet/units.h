/* units.h: strict, locale-free parsing and formatting of sizes, percentages and durations. */
#ifndef GUARDLET_UNITS_H
#define GUARDLET_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Percentages are kept as basis points (1% = 100) so that "7.5%" needs no floating point. */
#define GL_PERCENT_BP_MAX 10000u

typedef enum {
    GL_QTY_BYTES,   /* an absolute amount in bytes */
    GL_QTY_PERCENT, /* a share of node memory capacity, resolved at run time */
} gl_qty_kind;

typedef struct {
    gl_qty_kind kind;
    uint64_t bytes;      /* valid when kind == GL_QTY_BYTES */
    uint32_t percent_bp; /* valid when kind == GL_QTY_PERCENT, 0..GL_PERCENT_BP_MAX */
} gl_quantity;

/*
 * All parsers take the whole string (no leading or trailing garbage, no sign, no whitespace) and
 * return 0 on success, -EINVAL for text that is not of the expected form (garbage, unknown unit,
 * a sign, an empty string) and -ERANGE when the value does not fit. *out is untouched on error.
 */

/* "4096", "512Ki", "1Mi", "1.5Gi", "2Ti". Fractions are allowed only with a suffix and must come
 * out to a whole number of bytes (rounded down). */
int gl_parse_bytes(const char *s, uint64_t *out);

/* "10%", "7.5%", "0.25%": at most two decimals, 0% to 100%. */
int gl_parse_percent(const char *s, uint32_t *out_bp);

/* Either of the two above. */
int gl_parse_quantity(const char *s, gl_quantity *out);

/* One or more "<number><unit>" parts, optionally separated by spaces, units us ms s min h d:
 * "500ms", "2s", "5min", "1h", "1min 30s". A bare number is rejected (ambiguous). */
int gl_parse_duration(const char *s, uint64_t *out_usec);

/* yes/no, true/false, on/off, 1/0 (case-insensitive). */
int gl_parse_bool(const char *s, bool *out);

/* Decimal unsigned integer, no sign, no spaces, fits in uint64_t. */
int gl_parse_u64(const char *s, uint64_t *out);

/* Decimal signed integer that fits in int64_t. */
int gl_parse_i64(const char *s, int64_t *out);

/* A quantity in bytes: its own bytes, or its share of total_bytes. */
uint64_t gl_quantity_resolve(const gl_quantity *q, uint64_t total_bytes);

/* Human formats for logs and status lines: "512Mi", "1.50Gi", "1500ms", "5min". Always
 * NUL-terminated; truncated when buf is too small. Return buf. */
char *gl_format_bytes(uint64_t bytes, char *buf, size_t len);
char *gl_format_duration(uint64_t usec, char *buf, size_t len);
char *gl_format_percent(uint32_t bp, char *buf, size_t len);
char *gl_format_quantity(const gl_quantity *q, char *buf, size_t len);

#endif
