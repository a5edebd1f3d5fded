/* bench_scan.c: measures the pod scan's CPU cost per pod per tick on fixture trees and real
 * cgroups. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgfixture.h"
#include "guardlet/cgroup.h"
#include "guardlet/node.h"
#include "guardlet/pods.h"

/* The defaults guardlet runs with: a 2 min leak window, 1 MiB/s growth screen. */
static const gl_pods_params params = {.leak_window_usec = 120000000u,
                                      .min_growth_per_sec = 1u << 20};

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static long rss_kib(const char *key) {
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtol(line + strlen(key), NULL, 10);
    fclose(f);
    return v;
}

/* Runs ticks scans of root, one simulated second apart, and prints one table row. */
static int bench_root(const char *what, const char *root, size_t want_pods, int ticks) {
    gl_cgroup_layout layout;
    gl_pods *pods;
    gl_pods_scan_stats st;
    uint64_t t = 1000000;

    if (gl_cgroup_layout_discover(root, &layout) < 0 || gl_pods_new(&layout, &params, &pods) < 0)
        return -ENOMEM;
    long rss0 = rss_kib("VmRSS:");
    double c0 = cpu_seconds();
    gl_pods_scan(pods, t, false, &st); /* the first scan opens every descriptor */
    double cold = cpu_seconds() - c0;
    if (st.pods != want_pods || st.read_errors) {
        fprintf(stderr, "%s: saw %zu pods (want %zu), %zu read errors: %s\n", what, st.pods,
                want_pods, st.read_errors,
                gl_pods_last_error(pods) ? gl_pods_last_error(pods) : "");
        return -EIO;
    }
    size_t files = 0;
    double c1 = cpu_seconds();
    for (int i = 0; i < ticks; i++) {
        t += 1000000;
        gl_pods_scan(pods, t, false, &st);
        files += st.files_read;
    }
    double warm = cpu_seconds() - c1;
    long rss1 = rss_kib("VmRSS:");
    printf("| %-22s | %5zu | %7.2f | %7.2f | %5.2f | %6zu | %7ld |\n", what, want_pods,
           warm / ticks / (double)want_pods * 1e6, cold / (double)want_pods * 1e6,
           (double)files / ticks / (double)want_pods, gl_pods_open_fds(pods), rss1 - rss0);
    gl_pods_free(pods);
    gl_cgroup_layout_free(&layout);
    return 0;
}

static int bench_fixture(cgf_layout l, size_t n, int ticks) {
    cgf *f;
    cgf_figures fig;
    char uid[GL_POD_UID_LEN + 1], what[64];

    if (cgf_new(l, &f) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        cgf_pod *p;
        cgf_uid((unsigned)i, uid);
        cgf_figures_example(&fig, (unsigned)i);
        if (cgf_add_pod(f, uid,
                        i % 3 == 0   ? GL_QOS_GUARANTEED
                        : i % 3 == 1 ? GL_QOS_BURSTABLE
                                     : GL_QOS_BESTEFFORT,
                        &fig, &p) < 0 ||
            cgf_add_container(f, p, GL_RUNTIME_CONTAINERD, NULL) < 0) {
            cgf_free(f);
            return -EIO;
        }
    }
    snprintf(what, sizeof(what), "fixture %s", cgf_layout_name(l));
    int r = bench_root(what, cgf_root(f), n, ticks);
    cgf_free(f);
    return r;
}

/* A kubelet-shaped tree of real cgroups under /sys/fs/cgroup/unified/<unique>. */
static int bench_real(size_t n, int ticks) {
    char root[256], path[512], uid[GL_POD_UID_LEN + 1], id[65];
    snprintf(root, sizeof(root), "/sys/fs/cgroup/unified/guardlet-bench-%d", (int)getpid());
    if (mkdir(root, 0755) < 0) {
        printf("| real cgroups          | %5zu | skipped: cannot create %s: %s |\n", n, root,
               strerror(errno));
        return 0;
    }
    static const char *const dirs[] = {"kubepods.slice", "kubepods.slice/kubepods-burstable.slice"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
        mkdir(path, 0755);
    }
    for (size_t i = 0; i < n; i++) {
        cgf_uid((unsigned)i, uid);
        for (char *c = uid; *c; c++)
            if (*c == '-')
                *c = '_';
        cgf_container_id((unsigned)i, id);
        snprintf(path, sizeof(path), "%s/%s/kubepods-burstable-pod%s.slice", root, dirs[1], uid);
        mkdir(path, 0755);
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "/cri-containerd-%s.scope", id);
        mkdir(path, 0755);
    }
    char what[64];
    snprintf(what, sizeof(what), "real cgroups (v2)");
    int r = bench_root(what, root, n, ticks);
    for (size_t i = 0; i < n; i++) {
        cgf_uid((unsigned)i, uid);
        for (char *c = uid; *c; c++)
            if (*c == '-')
                *c = '_';
        cgf_container_id((unsigned)i, id);
        snprintf(path, sizeof(path), "%s/%s/kubepods-burstable-pod%s.slice/cri-containerd-%s.scope",
                 root, dirs[1], uid, id);
        rmdir(path);
        *strrchr(path, '/') = '\0';
        rmdir(path);
    }
    for (size_t i = 2; i-- > 0;) {
        snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
        rmdir(path);
    }
    rmdir(root);
    return r;
}

static double now_sec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The unit the scan's cost is made of: system calls are slow on virtual machines, and a scan is
 * mostly system calls. Reported beside the scan so that machines can be compared by ratio. */
static void print_syscall_costs(void) {
    enum { N = 200000 };
    char buf[256];
    double t0 = now_sec();
    for (int i = 0; i < N; i++)
        getppid();
    double null_us = (now_sec() - t0) / N * 1e6;
    int fd = open("/proc/pressure/memory", O_RDONLY);
    double pread_us = 0;
    if (fd >= 0) {
        t0 = now_sec();
        for (int i = 0; i < N; i++)
            if (pread(fd, buf, sizeof(buf), 0) < 0)
                break;
        pread_us = (now_sec() - t0) / N * 1e6;
        close(fd);
    }
    printf("system call cost here: %.2f us (getppid), %.2f us (pread of a PSI file)\n\n", null_us,
           pread_us);
}

int main(int argc, char **argv) {
    /* 5000 pods with ~8 cached descriptors each need more than the usual 1024. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    bool real = argc > 1 && strcmp(argv[1], "--real") == 0;

    print_syscall_costs();

    printf("| tree                   |  pods | us/pod/tick (warm) | us/pod (first scan) | "
           "files/pod/tick | fds | RSS +KiB |\n");
    printf("|---|---|---|---|---|---|---|\n");
    static const size_t sizes[] = {100, 1000, 5000};
    for (size_t i = 0; i < 3; i++)
        if (bench_fixture(CGF_V2_SYSTEMD, sizes[i], sizes[i] >= 5000 ? 20 : 50) < 0)
            return 1;
    if (bench_fixture(CGF_V1_CGROUPFS, 1000, 50) < 0)
        return 1;
    if (real) {
        static const size_t rsizes[] = {100, 1000};
        for (size_t i = 0; i < 2; i++)
            if (bench_real(rsizes[i], 50) < 0)
                return 1;
    }
    return 0;
}
