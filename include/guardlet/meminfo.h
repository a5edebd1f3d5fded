/* meminfo.h: node memory figures from /proc/meminfo, computed the way the kubelet does. */
#ifndef GUARDLET_MEMINFO_H
#define GUARDLET_MEMINFO_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t total_bytes;         /* MemTotal */
    uint64_t free_bytes;          /* MemFree */
    uint64_t available_bytes;     /* MemAvailable (the kernel's estimate, reported beside ours) */
    uint64_t inactive_file_bytes; /* Inactive(file) */
    uint64_t active_file_bytes;   /* Active(file) */
    uint64_t swap_total_bytes;    /* SwapTotal, 0 when absent */
    uint64_t swap_free_bytes;     /* SwapFree, 0 when absent */
} gl_meminfo;

/*
 * Parses the text of /proc/meminfo: lines "Key:<spaces>value[ kB]\n". Keys we do not know are
 * accepted and skipped. Returns 0, or -EBADMSG when a line is malformed, a known key repeats, a
 * value overflows, the text does not end with a newline (truncated), or MemTotal, MemFree,
 * MemAvailable or Inactive(file) is missing.
 */
int gl_meminfo_parse(const char *buf, size_t len, gl_meminfo *out);

/* Reads and parses <proc_root>/meminfo. Returns 0, -errno from open/read, or -EBADMSG. */
int gl_meminfo_read(const char *proc_root, gl_meminfo *out);

/* The kubelet's node working set: usage (MemTotal - MemFree) minus Inactive(file), floor 0. */
uint64_t gl_meminfo_working_set(const gl_meminfo *m);

/* The kubelet's memory.available: capacity minus working set. */
uint64_t gl_meminfo_kubelet_available(const gl_meminfo *m);

#endif
