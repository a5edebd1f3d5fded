/* cgfixture.c: writes kubelet-shaped cgroup fixture trees for the Check suites and benchmarks. */
#include "cgfixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* v1 prints "no limit" as the largest page-aligned signed 64-bit value. */
#define V1_UNLIMITED   "9223372036854771712"
#define V2_CONTROLLERS "cpuset cpu io memory hugetlb pids rdma misc\n"
#define ODD_UID        "0dd0dd00-0000-4000-8000-000000000bad"

typedef enum { CTL_V2, CTL_MEMORY, CTL_CPU, CTL_PIDS } ctl_kind;

static const char *const v1_controllers[] = {"memory", "cpu,cpuacct", "pids"};
static const ctl_kind v1_kinds[] = {CTL_MEMORY, CTL_CPU, CTL_PIDS};
#define N_V1 (sizeof(v1_controllers) / sizeof(v1_controllers[0]))

typedef struct {
    gl_runtime rt;
    char *id;
} cgf_ctr;

struct cgf_pod {
    char uid[GL_POD_UID_LEN + 1];
    gl_qos qos;
    char *cgroup;
    cgf_figures fig;
    unsigned serial; /* picks the memory.stat variant, so inactive_file moves between pods */
    cgf_ctr *ctrs;
    size_t n_ctrs;
};

struct cgf {
    cgf_layout layout;
    char root[PATH_MAX];
    bool kubepods;
    bool lean;
    cgf_pod **pods;
    size_t n_pods, cap_pods;
    unsigned next_serial;
    unsigned next_ctr;
};

const char *cgf_layout_name(cgf_layout l) {
    switch (l) {
    case CGF_V2_SYSTEMD:
        return "v2-systemd";
    case CGF_V2_CGROUPFS:
        return "v2-cgroupfs";
    case CGF_V1_CGROUPFS:
        return "v1-cgroupfs";
    case CGF_V1_SYSTEMD:
        return "v1-systemd";
    default:
        return "?";
    }
}

bool cgf_layout_is_v1(cgf_layout l) {
    return l == CGF_V1_CGROUPFS || l == CGF_V1_SYSTEMD;
}

bool cgf_layout_is_systemd(cgf_layout l) {
    return l == CGF_V2_SYSTEMD || l == CGF_V1_SYSTEMD;
}

/* A cheap integer mix so that generated ids look random but are reproducible. */
static uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

void cgf_uid(unsigned n, char uid[GL_POD_UID_LEN + 1]) {
    uint32_t a = mix32(n * 4u + 1), b = mix32(n * 4u + 2), c = mix32(n * 4u + 3);
    /* Version 4 UUIDs as the API server makes them, with n in the last group for readability. */
    snprintf(uid, GL_POD_UID_LEN + 1,
             "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-8%03" PRIx32 "-%04" PRIx32 "%08x", a,
             b & 0xffff, (b >> 16) & 0xfff, c & 0xfff, (c >> 16) & 0xffff, n);
}

void cgf_container_id(unsigned n, char id[65]) {
    for (unsigned i = 0; i < 8; i++)
        snprintf(id + 8 * i, 9, "%08" PRIx32, mix32(n * 8u + i + 0x9e3779b9U));
}

const char *cgf_odd_uid(void) {
    return ODD_UID;
}

void cgf_figures_example(cgf_figures *f, unsigned n) {
    const uint64_t mib = 1024 * 1024;

    memset(f, 0, sizeof(*f));
    f->memory_current = (100 + n % 300) * mib + (uint64_t)n * 4096;
    f->inactive_file = (10 + n % 50) * mib + 8192;
    f->memory_max = 512 * mib;
    f->memory_high = CGF_UNLIMITED;
    f->events_high = 0;
    f->events_max = 3 + n % 5;
    f->oom = 1 + n % 3;
    f->oom_kill = n % 3;
    f->cpu_usage_usec = 1000000ull * (n + 7) + n;
    f->cpu_nr_periods = 10000 + n;
    f->cpu_nr_throttled = 100 + n % 17;
    f->cpu_throttled_usec = 250000 + n;
    f->pids_current = 3 + n % 40;
    f->pids_max = 4096;
    for (unsigned r = 0; r < CGF_PSI_N; r++) {
        f->psi[r].some_avg10_bp = (n * 7 + r * 100) % 10001;
        f->psi[r].some_total_usec = 123456ull * (n + 1) + r;
        f->psi[r].full_avg10_bp = (n * 3 + r * 10) % 10001;
        f->psi[r].full_total_usec = 23456ull * (n + 1) + r;
    }
}

/* ---- text generation ---- */

typedef struct {
    char s[8192];
    size_t n;
} txt;

static void tx(txt *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tx(txt *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(t->s + t->n, sizeof(t->s) - t->n, fmt, ap);
    va_end(ap);
    if (r > 0)
        t->n += (size_t)r < sizeof(t->s) - t->n ? (size_t)r : sizeof(t->s) - t->n - 1;
}

static void kv(txt *t, const char *key, uint64_t v) {
    tx(t, "%s %" PRIu64 "\n", key, v);
}

static void limit_text(txt *t, uint64_t v, bool v1) {
    if (v == CGF_UNLIMITED)
        tx(t, "%s\n", v1 ? V1_UNLIMITED : "max");
    else
        tx(t, "%" PRIu64 "\n", v);
}

static uint64_t sub0(uint64_t a, uint64_t b) {
    return a > b ? a - b : 0;
}

/*
 * memory.stat in the kernel's order. Odd variants are a 5.15 kernel (no sec_pagetables, vmalloc,
 * zswap...), even ones a 6.x kernel, so inactive_file sits at a different line in different pods.
 */
static void memory_stat_v2(txt *t, const cgf_figures *f, unsigned variant) {
    bool new_kernel = variant % 2 == 0;
    uint64_t active_file = (f->inactive_file / 2) & ~(uint64_t)4095;
    uint64_t file = f->inactive_file + active_file;
    uint64_t kernel = 1835008, anon = sub0(f->memory_current, file + kernel);

    kv(t, "anon", anon);
    kv(t, "file", file);
    kv(t, "kernel", kernel);
    kv(t, "kernel_stack", 229376);
    kv(t, "pagetables", 720896);
    if (new_kernel)
        kv(t, "sec_pagetables", 0);
    kv(t, "percpu", 17280);
    kv(t, "sock", 0);
    if (new_kernel)
        kv(t, "vmalloc", 8192);
    kv(t, "shmem", 4096);
    if (new_kernel) {
        kv(t, "zswap", 0);
        kv(t, "zswapped", 0);
    }
    kv(t, "file_mapped", active_file / 4);
    kv(t, "file_dirty", 12288);
    kv(t, "file_writeback", 0);
    kv(t, "swapcached", 0);
    kv(t, "anon_thp", 0);
    kv(t, "file_thp", 0);
    kv(t, "shmem_thp", 0);
    kv(t, "inactive_anon", anon / 8);
    kv(t, "active_anon", anon - anon / 8 + 4096);
    kv(t, "inactive_file", f->inactive_file);
    kv(t, "active_file", active_file);
    kv(t, "unevictable", 0);
    kv(t, "slab_reclaimable", 409600);
    kv(t, "slab_unreclaimable", 475136);
    kv(t, "slab", 884736);
    kv(t, "workingset_refault_anon", 0);
    kv(t, "workingset_refault_file", 37);
    kv(t, "workingset_activate_anon", 0);
    kv(t, "workingset_activate_file", 5);
    kv(t, "workingset_restore_anon", 0);
    kv(t, "workingset_restore_file", 2);
    kv(t, "workingset_nodereclaim", 0);
    if (new_kernel) {
        kv(t, "pgdemote_kswapd", 0);
        kv(t, "pgdemote_direct", 0);
        kv(t, "pgscan", 1024);
        kv(t, "pgsteal", 998);
        kv(t, "pgscan_kswapd", 0);
        kv(t, "pgscan_direct", 1024);
        kv(t, "pgsteal_kswapd", 0);
        kv(t, "pgsteal_direct", 998);
    }
    kv(t, "pgfault", 581237);
    kv(t, "pgmajfault", 12);
    kv(t, "pgrefill", 40);
    if (!new_kernel) {
        kv(t, "pgscan", 1024);
        kv(t, "pgsteal", 998);
    }
    kv(t, "pgactivate", 300);
    kv(t, "pgdeactivate", 40);
    kv(t, "pglazyfree", 0);
    kv(t, "pglazyfreed", 0);
    if (new_kernel) {
        kv(t, "zswpin", 0);
        kv(t, "zswpout", 0);
        kv(t, "zswpwb", 0);
    }
    kv(t, "thp_fault_alloc", 0);
    kv(t, "thp_collapse_alloc", 0);
}

/* v1 memory.stat as Linux 6.x prints it: local figures first, hierarchical total_* after. The local
 * inactive_file is deliberately different from total_inactive_file, which is the one to use. */
static void memory_stat_v1(txt *t, const cgf_figures *f) {
    uint64_t active_file = (f->inactive_file / 2) & ~(uint64_t)4095;
    uint64_t cache = f->inactive_file + active_file;
    uint64_t rss = sub0(f->memory_current, cache);
    uint64_t local_inactive = f->inactive_file / 4, local_active = active_file / 4;

    kv(t, "cache", cache / 4);
    kv(t, "rss", rss / 4);
    kv(t, "rss_huge", 0);
    kv(t, "shmem", 0);
    kv(t, "mapped_file", local_active / 2);
    kv(t, "dirty", 0);
    kv(t, "writeback", 0);
    kv(t, "workingset_refault_anon", 0);
    kv(t, "workingset_refault_file", 3);
    kv(t, "swap", 0);
    kv(t, "swapcached", 0);
    kv(t, "pgpgin", 39061);
    kv(t, "pgpgout", 35566);
    kv(t, "pgfault", 49890);
    kv(t, "pgmajfault", 0);
    kv(t, "inactive_anon", 0);
    kv(t, "active_anon", rss / 4);
    kv(t, "inactive_file", local_inactive);
    kv(t, "active_file", local_active);
    kv(t, "unevictable", 0);
    tx(t, "hierarchical_memory_limit %s\n", V1_UNLIMITED);
    tx(t, "hierarchical_memsw_limit %s\n", V1_UNLIMITED);
    kv(t, "total_cache", cache);
    kv(t, "total_rss", rss);
    kv(t, "total_rss_huge", 0);
    kv(t, "total_shmem", 0);
    kv(t, "total_mapped_file", active_file / 2);
    kv(t, "total_dirty", 4096);
    kv(t, "total_writeback", 0);
    kv(t, "total_workingset_refault_anon", 0);
    kv(t, "total_workingset_refault_file", 356);
    kv(t, "total_swap", 0);
    kv(t, "total_swapcached", 0);
    kv(t, "total_pgpgin", 7324616);
    kv(t, "total_pgpgout", 7300908);
    kv(t, "total_pgfault", 8131123);
    kv(t, "total_pgmajfault", 2162);
    kv(t, "total_inactive_anon", 0);
    kv(t, "total_active_anon", rss);
    kv(t, "total_inactive_file", f->inactive_file);
    kv(t, "total_active_file", active_file);
    kv(t, "total_unevictable", 0);
}

static void psi_text(txt *t, const cgf_psi *p) {
    tx(t, "some avg10=%u.%02u avg60=0.00 avg300=0.00 total=%" PRIu64 "\n", p->some_avg10_bp / 100,
       p->some_avg10_bp % 100, p->some_total_usec);
    tx(t, "full avg10=%u.%02u avg60=0.00 avg300=0.00 total=%" PRIu64 "\n", p->full_avg10_bp / 100,
       p->full_avg10_bp % 100, p->full_total_usec);
}

/* ---- file writing ---- */

/* In place, as the kernel's files change: the inode stays, so cached descriptors see the text. A
 * file that is new or not longer than the text needs no truncation (which costs a journal
 * transaction on ext4: thousands of pods would take seconds). */
static int put_at(int dfd, const char *name, const char *text, size_t len) {
    bool created = true;
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = openat(dfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return -errno;
    int r = 0;
    struct stat st;
    ssize_t w = pwrite(fd, text, len, 0);
    if (w < 0)
        r = -errno;
    else if ((size_t)w != len)
        r = -EIO;
    else if (!created && fstat(fd, &st) == 0 && (uint64_t)st.st_size > len &&
             ftruncate(fd, (off_t)len) < 0)
        r = -errno;
    close(fd);
    return r;
}

static int put_txt(int dfd, const char *name, const txt *t) {
    return put_at(dfd, name, t->s, t->n);
}

static int put_str(int dfd, const char *name, const char *s) {
    return put_at(dfd, name, s, strlen(s));
}

static int put_u64(int dfd, const char *name, uint64_t v) {
    txt t = {.n = 0};
    tx(&t, "%" PRIu64 "\n", v);
    return put_txt(dfd, name, &t);
}

static int put_limit(int dfd, const char *name, uint64_t v, bool v1) {
    txt t = {.n = 0};
    limit_text(&t, v, v1);
    return put_txt(dfd, name, &t);
}

static const char *const psi_files[CGF_PSI_N] = {"memory.pressure", "cpu.pressure", "io.pressure"};

#define CHANGED(field) (!old || old->field != f->field)
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        int r_ = (expr);                                                                           \
        if (r_ < 0)                                                                                \
            return r_;                                                                             \
    } while (0)

/* Writes the files of one cgroup directory for one controller kind: every file when old is NULL,
 * else only the files whose figures differ from old. */
static int write_files(int dfd, ctl_kind kind, const cgf_figures *f, const cgf_figures *old,
                       unsigned variant) {
    txt t;

    if (!old)
        TRY(put_str(dfd, "cgroup.procs", ""));
    switch (kind) {
    case CTL_V2:
        if (!old)
            TRY(put_str(dfd, "cgroup.events", "populated 1\nfrozen 0\n"));
        if (CHANGED(memory_current))
            TRY(put_u64(dfd, "memory.current", f->memory_current));
        if (CHANGED(memory_max))
            TRY(put_limit(dfd, "memory.max", f->memory_max, false));
        if (CHANGED(memory_high))
            TRY(put_limit(dfd, "memory.high", f->memory_high, false));
        if (CHANGED(memory_current) || CHANGED(inactive_file)) {
            t.n = 0;
            memory_stat_v2(&t, f, variant);
            TRY(put_txt(dfd, "memory.stat", &t));
        }
        if (CHANGED(events_high) || CHANGED(events_max) || CHANGED(oom) || CHANGED(oom_kill)) {
            t.n = 0;
            tx(&t,
               "low 0\nhigh %" PRIu64 "\nmax %" PRIu64 "\noom %" PRIu64 "\noom_kill %" PRIu64
               "\noom_group_kill 0\n",
               f->events_high, f->events_max, f->oom, f->oom_kill);
            TRY(put_txt(dfd, "memory.events", &t));
        }
        if (CHANGED(cpu_usage_usec) || CHANGED(cpu_nr_periods) || CHANGED(cpu_nr_throttled) ||
            CHANGED(cpu_throttled_usec)) {
            uint64_t user = f->cpu_usage_usec / 10 * 7;
            t.n = 0;
            kv(&t, "usage_usec", f->cpu_usage_usec);
            kv(&t, "user_usec", user);
            kv(&t, "system_usec", f->cpu_usage_usec - user);
            kv(&t, "nr_periods", f->cpu_nr_periods);
            kv(&t, "nr_throttled", f->cpu_nr_throttled);
            kv(&t, "throttled_usec", f->cpu_throttled_usec);
            kv(&t, "nr_bursts", 0);
            kv(&t, "burst_usec", 0);
            TRY(put_txt(dfd, "cpu.stat", &t));
        }
        if (CHANGED(pids_current))
            TRY(put_u64(dfd, "pids.current", f->pids_current));
        if (CHANGED(pids_max))
            TRY(put_limit(dfd, "pids.max", f->pids_max, false));
        for (unsigned r = 0; r < CGF_PSI_N; r++) {
            if (old && memcmp(&old->psi[r], &f->psi[r], sizeof(f->psi[r])) == 0)
                continue;
            t.n = 0;
            psi_text(&t, &f->psi[r]);
            TRY(put_txt(dfd, psi_files[r], &t));
        }
        break;
    case CTL_MEMORY:
        if (CHANGED(memory_current))
            TRY(put_u64(dfd, "memory.usage_in_bytes", f->memory_current));
        if (CHANGED(memory_max))
            TRY(put_limit(dfd, "memory.limit_in_bytes", f->memory_max, true));
        if (CHANGED(memory_current) || CHANGED(inactive_file)) {
            t.n = 0;
            memory_stat_v1(&t, f);
            TRY(put_txt(dfd, "memory.stat", &t));
        }
        if (CHANGED(oom_kill)) {
            t.n = 0;
            tx(&t, "oom_kill_disable 0\nunder_oom 0\noom_kill %" PRIu64 "\n", f->oom_kill);
            TRY(put_txt(dfd, "memory.oom_control", &t));
        }
        break;
    case CTL_CPU:
        /* Nanoseconds with a remainder, as real counters have: usec must be ns / 1000. */
        if (CHANGED(cpu_usage_usec))
            TRY(put_u64(dfd, "cpuacct.usage", f->cpu_usage_usec * 1000 + 456));
        if (CHANGED(cpu_nr_periods) || CHANGED(cpu_nr_throttled) || CHANGED(cpu_throttled_usec)) {
            t.n = 0;
            kv(&t, "nr_periods", f->cpu_nr_periods);
            kv(&t, "nr_throttled", f->cpu_nr_throttled);
            kv(&t, "throttled_time", f->cpu_throttled_usec * 1000 + 321);
            kv(&t, "nr_bursts", 0);
            kv(&t, "burst_time", 0);
            TRY(put_txt(dfd, "cpu.stat", &t));
        }
        break;
    case CTL_PIDS:
        if (CHANGED(pids_current))
            TRY(put_u64(dfd, "pids.current", f->pids_current));
        if (CHANGED(pids_max))
            TRY(put_limit(dfd, "pids.max", f->pids_max, true));
        break;
    }
    return 0;
}

/* ---- tree helpers ---- */

static size_t n_controllers(const cgf *f) {
    return cgf_layout_is_v1(f->layout) ? N_V1 : 1;
}

static ctl_kind controller_kind(const cgf *f, size_t i) {
    return cgf_layout_is_v1(f->layout) ? v1_kinds[i] : CTL_V2;
}

/* "<root>/<controller>/<rel>" (no controller on v2; rel may be NULL or ""). */
static int ctl_path(const cgf *f, size_t ctl, const char *rel, char *buf, size_t len) {
    int r;
    const char *c = cgf_layout_is_v1(f->layout) ? v1_controllers[ctl] : NULL;

    if (c)
        r = snprintf(buf, len, "%s/%s%s%s", f->root, c, rel && *rel ? "/" : "", rel ? rel : "");
    else
        r = snprintf(buf, len, "%s%s%s", f->root, rel && *rel ? "/" : "", rel ? rel : "");
    return r < 0 || (size_t)r >= len ? -ENAMETOOLONG : 0;
}

static int mkdir_ok(const char *path) {
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int put_path(const char *dir, const char *name, const char *text) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int r = put_str(dfd, name, text);
    close(dfd);
    return r;
}

/* Makes rel in every controller and writes the controller's cgroup files there (when fig is not
 * NULL) or just cgroup.procs (intermediate directories). */
static int make_cgroup(const cgf *f, const char *rel, const cgf_figures *fig, unsigned variant) {
    char path[PATH_MAX];

    for (size_t c = 0; c < n_controllers(f); c++) {
        TRY(ctl_path(f, c, rel, path, sizeof(path)));
        TRY(mkdir_ok(path));
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return -errno;
        int r;
        if (fig) {
            r = write_files(dfd, controller_kind(f, c), fig, NULL, variant);
        } else {
            r = put_str(dfd, "cgroup.procs", "");
            if (r == 0 && !cgf_layout_is_v1(f->layout))
                r = put_str(dfd, "cgroup.controllers", V2_CONTROLLERS);
        }
        close(dfd);
        if (r < 0)
            return r;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return errno ? -errno : -EIO;
    return 0;
}

const char *cgf_kubepods_name(const cgf *f) {
    return cgf_layout_is_systemd(f->layout) ? "kubepods.slice" : "kubepods";
}

static const char *qos_dir(const cgf *f, gl_qos q) {
    bool sd = cgf_layout_is_systemd(f->layout);
    switch (q) {
    case GL_QOS_BURSTABLE:
        return sd ? "kubepods-burstable.slice" : "burstable";
    case GL_QOS_BESTEFFORT:
        return sd ? "kubepods-besteffort.slice" : "besteffort";
    default:
        return NULL; /* Guaranteed pods sit directly in kubepods. */
    }
}

/* kubepods[/qos]/<pod dir>, for a uid with dashes (or any text, for odd entries). */
static int pod_rel(const cgf *f, const char *uid, gl_qos q, char *buf, size_t len) {
    char name[128];
    const char *qd = qos_dir(f, q);
    int r;

    if (cgf_layout_is_systemd(f->layout)) {
        char u[64];
        snprintf(u, sizeof(u), "%s", uid);
        for (char *c = u; *c; c++)
            if (*c == '-')
                *c = '_';
        if (q == GL_QOS_GUARANTEED)
            snprintf(name, sizeof(name), "kubepods-pod%s.slice", u);
        else
            snprintf(name, sizeof(name), "kubepods-%s-pod%s.slice",
                     q == GL_QOS_BURSTABLE ? "burstable" : "besteffort", u);
    } else {
        snprintf(name, sizeof(name), "pod%s", uid);
    }
    if (qd)
        r = snprintf(buf, len, "%s/%s/%s", cgf_kubepods_name(f), qd, name);
    else
        r = snprintf(buf, len, "%s/%s", cgf_kubepods_name(f), name);
    return r < 0 || (size_t)r >= len ? -ENAMETOOLONG : 0;
}

static void container_name(gl_runtime rt, const char *id, char *buf, size_t len) {
    switch (rt) {
    case GL_RUNTIME_CONTAINERD:
        snprintf(buf, len, "cri-containerd-%s.scope", id);
        break;
    case GL_RUNTIME_CRIO:
        snprintf(buf, len, "crio-%s.scope", id);
        break;
    case GL_RUNTIME_DOCKER:
        snprintf(buf, len, "docker-%s.scope", id);
        break;
    default:
        snprintf(buf, len, "%s", id);
        break;
    }
}

/* ---- public API ---- */

int cgf_new(cgf_layout layout, cgf **out) {
    return cgf_new_at(getenv("TMPDIR"), layout, out);
}

void cgf_set_lean_containers(cgf *f, bool lean) {
    f->lean = lean;
}

int cgf_new_at(const char *tmp, cgf_layout layout, cgf **out) {
    cgf *f = calloc(1, sizeof(*f));
    int r = 0;

    *out = NULL;
    if (!f)
        return -ENOMEM;
    f->layout = layout;
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (snprintf(f->root, sizeof(f->root), "%s/guardlet-cgf-XXXXXX", tmp) >= (int)sizeof(f->root)) {
        free(f);
        return -ENAMETOOLONG;
    }
    if (!mkdtemp(f->root)) {
        r = -errno;
        free(f);
        return r;
    }
    if (cgf_layout_is_v1(layout)) {
        /* A hybrid v1 root: controller mounts (cpu and cpuacct as links to the co-mounted
         * cpu,cpuacct), the named systemd hierarchy and a controller-less v2 "unified" mount whose
         * cgroup.controllers must not make the root look like v2. */
        int rfd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
            r = -errno;
        for (size_t c = 0; c < N_V1 && r == 0; c++)
            if (mkdirat(rfd, v1_controllers[c], 0755) < 0)
                r = -errno;
        if (r == 0 && (symlinkat("cpu,cpuacct", rfd, "cpu") < 0 ||
                       symlinkat("cpu,cpuacct", rfd, "cpuacct") < 0 ||
                       mkdirat(rfd, "systemd", 0755) < 0 || mkdirat(rfd, "unified", 0755) < 0))
            r = -errno;
        if (r == 0)
            r = put_str(rfd, "memory/memory.usage_in_bytes", "1073741824\n");
        if (r == 0)
            r = put_str(rfd, "memory/cgroup.procs", "1\n");
        if (r == 0)
            r = put_str(rfd, "cpu,cpuacct/cgroup.procs", "1\n");
        if (r == 0)
            r = put_str(rfd, "pids/cgroup.procs", "1\n");
        if (r == 0)
            r = put_str(rfd, "unified/cgroup.controllers", "\n");
        if (rfd >= 0)
            close(rfd);
    } else {
        r = put_path(f->root, "cgroup.controllers", V2_CONTROLLERS);
        if (r == 0)
            r = put_path(f->root, "cgroup.subtree_control", V2_CONTROLLERS);
        if (r == 0)
            r = put_path(f->root, "cgroup.procs", "");
    }
    if (r < 0) {
        cgf_free(f);
        return r;
    }
    *out = f;
    return 0;
}

static void pod_free(cgf_pod *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n_ctrs; i++)
        free(p->ctrs[i].id);
    free(p->ctrs);
    free(p->cgroup);
    free(p);
}

void cgf_free(cgf *f) {
    if (!f)
        return;
    if (f->root[0])
        rm_rf(f->root);
    for (size_t i = 0; i < f->n_pods; i++)
        pod_free(f->pods[i]);
    free(f->pods);
    free(f);
}

const char *cgf_root(const cgf *f) {
    return f->root;
}

cgf_layout cgf_get_layout(const cgf *f) {
    return f->layout;
}

int cgf_controller_path(const cgf *f, const char *name, char *buf, size_t len) {
    size_t c = 0;
    if (cgf_layout_is_v1(f->layout)) {
        for (c = 0; c < N_V1; c++)
            if (strcmp(v1_controllers[c], name) == 0)
                break;
        if (c == N_V1)
            return -EINVAL;
    }
    return ctl_path(f, c, NULL, buf, len);
}

int cgf_kubepods_create(cgf *f) {
    if (f->kubepods)
        return 0;
    char rel[256];
    TRY(make_cgroup(f, cgf_kubepods_name(f), NULL, 0));
    for (gl_qos q = GL_QOS_BURSTABLE; q <= GL_QOS_BESTEFFORT; q++) {
        snprintf(rel, sizeof(rel), "%s/%s", cgf_kubepods_name(f), qos_dir(f, q));
        TRY(make_cgroup(f, rel, NULL, 0));
    }
    f->kubepods = true;
    return 0;
}

int cgf_add_pod(cgf *f, const char *uid, gl_qos qos, const cgf_figures *fig, cgf_pod **out) {
    char rel[512];
    cgf_pod *p;

    if (out)
        *out = NULL;
    if (strlen(uid) != GL_POD_UID_LEN)
        return -EINVAL;
    TRY(cgf_kubepods_create(f));
    TRY(pod_rel(f, uid, qos, rel, sizeof(rel)));
    if (f->n_pods == f->cap_pods) {
        size_t cap = f->cap_pods ? f->cap_pods * 2 : 16;
        cgf_pod **np = realloc(f->pods, cap * sizeof(*np));
        if (!np)
            return -ENOMEM;
        f->pods = np;
        f->cap_pods = cap;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    memcpy(p->uid, uid, GL_POD_UID_LEN + 1);
    p->qos = qos;
    p->fig = *fig;
    p->serial = f->next_serial++;
    p->cgroup = strdup(rel);
    if (!p->cgroup) {
        pod_free(p);
        return -ENOMEM;
    }
    int r = make_cgroup(f, rel, fig, p->serial);
    if (r < 0) {
        pod_free(p);
        return r;
    }
    f->pods[f->n_pods++] = p;
    if (out)
        *out = p;
    return 0;
}

static void figures_half(cgf_figures *h, const cgf_figures *f) {
    *h = *f;
    h->memory_current /= 2;
    h->inactive_file /= 2;
    h->events_max /= 2;
    h->oom /= 2;
    h->oom_kill /= 2;
    h->cpu_usage_usec /= 2;
    h->cpu_nr_periods /= 2;
    h->cpu_nr_throttled /= 2;
    h->cpu_throttled_usec /= 2;
    h->pids_current /= 2;
    for (unsigned r = 0; r < CGF_PSI_N; r++) {
        h->psi[r].some_total_usec /= 2;
        h->psi[r].full_total_usec /= 2;
    }
}

/* A directory inside the pod in every controller, with container files, or conmon's few, or (lean)
 * just cgroup.procs. */
static int add_pod_child(cgf *f, cgf_pod *p, const char *name, bool conmon) {
    char rel[PATH_MAX], path[PATH_MAX];
    cgf_figures half;

    if (snprintf(rel, sizeof(rel), "%s/%s", p->cgroup, name) >= (int)sizeof(rel))
        return -ENAMETOOLONG;
    if (!conmon && !f->lean) {
        figures_half(&half, &p->fig);
        return make_cgroup(f, rel, &half, p->serial + 1);
    }
    for (size_t c = 0; c < n_controllers(f); c++) {
        TRY(ctl_path(f, c, rel, path, sizeof(path)));
        TRY(mkdir_ok(path));
        TRY(put_path(path, "cgroup.procs", "4242\n"));
        if (conmon && (controller_kind(f, c) == CTL_V2 || controller_kind(f, c) == CTL_MEMORY))
            TRY(put_path(path, "memory.current", "1069056\n"));
    }
    return 0;
}

int cgf_add_container(cgf *f, cgf_pod *p, gl_runtime rt, const char *id) {
    char fresh[65], name[PATH_MAX];

    if (!id) {
        cgf_container_id(f->next_ctr++, fresh);
        id = fresh;
    }
    cgf_ctr *nc = realloc(p->ctrs, (p->n_ctrs + 1) * sizeof(*nc));
    if (!nc)
        return -ENOMEM;
    p->ctrs = nc;
    nc[p->n_ctrs].rt = rt;
    nc[p->n_ctrs].id = strdup(id);
    if (!nc[p->n_ctrs].id)
        return -ENOMEM;
    p->n_ctrs++;
    container_name(rt, id, name, sizeof(name));
    TRY(add_pod_child(f, p, name, false));
    if (rt == GL_RUNTIME_CRIO) {
        snprintf(name, sizeof(name), "crio-conmon-%s.scope", id);
        TRY(add_pod_child(f, p, name, true));
    }
    return 0;
}

int cgf_update(cgf *f, cgf_pod *p, const cgf_figures *fig) {
    char path[PATH_MAX];

    for (size_t c = 0; c < n_controllers(f); c++) {
        TRY(ctl_path(f, c, p->cgroup, path, sizeof(path)));
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return -errno;
        int r = write_files(dfd, controller_kind(f, c), fig, &p->fig, p->serial);
        close(dfd);
        if (r < 0)
            return r;
    }
    p->fig = *fig;
    return 0;
}

int cgf_pod_write(cgf *f, cgf_pod *p, const char *file, const char *text) {
    char path[PATH_MAX];
    size_t c = 0;

    if (cgf_layout_is_v1(f->layout)) {
        if (strncmp(file, "cpu", 3) == 0)
            c = 1;
        else if (strncmp(file, "pids.", 5) == 0)
            c = 2;
    }
    TRY(ctl_path(f, c, p->cgroup, path, sizeof(path)));
    return put_path(path, file, text);
}

int cgf_remove_pod(cgf *f, cgf_pod *p) {
    char path[PATH_MAX];
    size_t i;
    int r = 0;

    for (i = 0; i < f->n_pods; i++)
        if (f->pods[i] == p)
            break;
    if (i == f->n_pods)
        return -ENOENT;
    for (size_t c = 0; c < n_controllers(f) && r == 0; c++) {
        r = ctl_path(f, c, p->cgroup, path, sizeof(path));
        if (r == 0)
            r = rm_rf(path);
    }
    memmove(&f->pods[i], &f->pods[i + 1], (f->n_pods - i - 1) * sizeof(f->pods[0]));
    f->n_pods--;
    pod_free(p);
    return r;
}

int cgf_add_odd_entries(cgf *f, cgf_pod *p) {
    char rel[512], path[PATH_MAX];
    cgf_figures fig;

    cgf_figures_example(&fig, 999);
    TRY(cgf_kubepods_create(f));
    for (size_t c = 0; c < n_controllers(f); c++) {
        /* A regular file with a valid pod name: only directories are cgroups. */
        TRY(pod_rel(f, ODD_UID, GL_QOS_BURSTABLE, rel, sizeof(rel)));
        char *slash = strrchr(rel, '/');
        *slash = '\0';
        TRY(ctl_path(f, c, rel, path, sizeof(path)));
        TRY(put_path(path, slash + 1, "not a cgroup\n"));
    }
    /* A cgroup shaped like a pod whose name holds no UID, complete with files to read. */
    snprintf(rel, sizeof(rel), "%s/%s/%s", cgf_kubepods_name(f), qos_dir(f, GL_QOS_BURSTABLE),
             cgf_layout_is_systemd(f->layout) ? "kubepods-burstable-podnot-a-uid.slice"
                                              : "podnot-a-uid");
    TRY(make_cgroup(f, rel, &fig, 0));
    /* systemd's own cgroups beside kubepods, and a stray one inside it. */
    TRY(make_cgroup(f, "init.scope", &fig, 0));
    snprintf(rel, sizeof(rel), "%s/init.scope", cgf_kubepods_name(f));
    TRY(make_cgroup(f, rel, &fig, 0));
    TRY(make_cgroup(f, "system.slice", NULL, 0));
    TRY(make_cgroup(f, "system.slice/kubelet.service", &fig, 0));
    if (p) {
        char id[65];
        cgf_container_id(f->next_ctr++, id);
        memcpy(id + 60, "zzzz", 4); /* not hex */
        if (cgf_layout_is_systemd(f->layout))
            snprintf(rel, sizeof(rel), "cri-containerd-%s.scope", id);
        else
            snprintf(rel, sizeof(rel), "%s", id);
        TRY(add_pod_child(f, p, rel, false));
        cgf_container_id(f->next_ctr++, id);
        snprintf(rel, sizeof(rel), "crio-conmon-%s.scope", id);
        TRY(add_pod_child(f, p, rel, true));
    }
    return 0;
}

const char *cgf_pod_uid(const cgf_pod *p) {
    return p->uid;
}

gl_qos cgf_pod_qos(const cgf_pod *p) {
    return p->qos;
}

const char *cgf_pod_cgroup(const cgf_pod *p) {
    return p->cgroup;
}

const cgf_figures *cgf_pod_figures(const cgf_pod *p) {
    return &p->fig;
}

size_t cgf_pod_n_containers(const cgf_pod *p) {
    return p->n_ctrs;
}

gl_runtime cgf_pod_container_runtime(const cgf_pod *p, size_t i) {
    return p->ctrs[i].rt;
}

const char *cgf_pod_container_id(const cgf_pod *p, size_t i) {
    return p->ctrs[i].id;
}

size_t cgf_n_pods(const cgf *f) {
    return f->n_pods;
}

cgf_pod *cgf_pod_at(const cgf *f, size_t i) {
    return i < f->n_pods ? f->pods[i] : NULL;
}
