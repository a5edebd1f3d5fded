/* node.h: one sample of the node's own figures (memory as the kubelet sees it, PSI, CPUs). */
#ifndef GUARDLET_NODE_H
#define GUARDLET_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/meminfo.h"
#include "guardlet/psi.h"

typedef struct {
    uint64_t timestamp_usec; /* CLOCK_MONOTONIC when the sample was taken */
    gl_meminfo meminfo;
    uint64_t capacity_bytes;    /* MemTotal */
    uint64_t working_set_bytes; /* kubelet's node working set */
    uint64_t available_bytes;   /* kubelet's memory.available = capacity - working set */
    gl_psi psi[GL_PSI_N];
    int psi_error[GL_PSI_N]; /* 0 when psi[r] is valid, else the negative errno of the read */
    unsigned cpus;           /* online CPUs counted in <proc>/stat, 0 when unknown */
} gl_node_sample;

/*
 * Reads <proc_root>/meminfo (required), <proc_root>/pressure/{memory,cpu,io} (each optional: a
 * kernel without PSI leaves psi_error set) and <proc_root>/stat for the CPU count.
 * Returns 0, or the negative errno of the meminfo read (-EBADMSG when it is malformed).
 */
int gl_node_sample_read(const char *proc_root, uint64_t now_usec, gl_node_sample *out);

/* Counts the "cpuN" lines of /proc/stat text. Returns the count (0 when there are none). */
unsigned gl_proc_stat_count_cpus(const char *buf, size_t len);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t gl_now_usec(void);

#endif
