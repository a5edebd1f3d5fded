/* psi.h: parsing and reading pressure stall information (/proc/pressure/ and cgroup *.pressure). */
#ifndef GUARDLET_PSI_H
#define GUARDLET_PSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Averages are percentages with two decimals in the kernel's text; they are kept as hundredths of
 * a percent (basis points: "3.70" -> 370) so that parsing is exact and locale-free. */
typedef struct {
    uint32_t avg10_bp;
    uint32_t avg60_bp;
    uint32_t avg300_bp;
    uint64_t total_usec;
} gl_psi_line;

typedef struct {
    gl_psi_line some;
    gl_psi_line full;
    bool has_full; /* the node's cpu file had no "full" line before Linux 5.13 */
} gl_psi;

typedef enum { GL_PSI_MEMORY, GL_PSI_CPU, GL_PSI_IO, GL_PSI_N } gl_psi_resource;

/* "memory", "cpu", "io". */
const char *gl_psi_resource_name(gl_psi_resource r);

/*
 * Parses "some avg10=A avg60=B avg300=C total=T\n[full ...\n]". Keys inside a line may come in
 * any order and unknown keys are accepted; avg10, avg60, avg300 and total are required and may
 * not repeat. Averages must be 0.00..100.00. Returns 0 or -EBADMSG (garbage, a missing "some"
 * line, an unknown line kind, a repeated line, truncated text without the final newline).
 */
int gl_psi_parse(const char *buf, size_t len, gl_psi *out);

/* Reads and parses the file at path. Returns 0, -errno, or -EBADMSG. */
int gl_psi_read(const char *path, gl_psi *out);

#endif
