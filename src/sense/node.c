/* node.c: takes one sample of node-wide figures from a proc root (real /proc or a fixture). */
#include "guardlet/node.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "guardlet/fileio.h"

/* /proc/stat grows by one line per CPU (about 100 bytes each) plus a few KiB of counters; 64 KiB
 * covers several hundred CPUs. A larger file only loses the CPU count, never the sample. */
#define PROC_STAT_MAX (64 * 1024)

uint64_t gl_now_usec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

unsigned gl_proc_stat_count_cpus(const char *buf, size_t len) {
    unsigned n = 0;
    const char *p = buf, *end = buf + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        /* "cpu " is the aggregate line; "cpu0 ", "cpu1 " ... are the CPUs. */
        if (line_end - p > 4 && memcmp(p, "cpu", 3) == 0 && p[3] >= '0' && p[3] <= '9')
            n++;
        p = nl ? nl + 1 : end;
    }
    return n;
}

int gl_node_sample_read(const char *proc_root, uint64_t now_usec, gl_node_sample *out) {
    static const char *const psi_files[GL_PSI_N] = {
        [GL_PSI_MEMORY] = "pressure/memory",
        [GL_PSI_CPU] = "pressure/cpu",
        [GL_PSI_IO] = "pressure/io",
    };
    static char statbuf[PROC_STAT_MAX];
    char path[4096];
    int r;

    memset(out, 0, sizeof(*out));
    out->timestamp_usec = now_usec;

    r = gl_meminfo_read(proc_root, &out->meminfo);
    if (r < 0)
        return r;
    out->capacity_bytes = out->meminfo.total_bytes;
    out->working_set_bytes = gl_meminfo_working_set(&out->meminfo);
    out->available_bytes = gl_meminfo_kubelet_available(&out->meminfo);

    for (int i = 0; i < GL_PSI_N; i++) {
        r = gl_path_join(path, sizeof(path), proc_root, psi_files[i]);
        out->psi_error[i] = r < 0 ? r : gl_psi_read(path, &out->psi[i]);
    }

    if (gl_path_join(path, sizeof(path), proc_root, "stat") == 0) {
        ssize_t n = gl_read_file(path, statbuf, sizeof(statbuf));
        if (n > 0)
            out->cpus = gl_proc_stat_count_cpus(statbuf, (size_t)n);
    }
    return 0;
}
