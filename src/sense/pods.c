/* pods.c: discovers pod cgroups under kubepods and reads their figures through cached file
 * descriptors. */
#include "guardlet/pods.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A pod whose usage is above this share of its limit reads every file every tick: it is the pod
 * most likely to need a decision, and its inactive_file must not be ten ticks old. */
#define HOT_LIMIT_BP 8000u

/* memory.stat is the largest file read (~1.3 KiB on v2, ~1 KiB on v1 with ~40 keys); the buffer
 * leaves room for kernels that add keys. */
#define READ_BUF_SIZE 8192

enum gl_ctrl { CTRL_MEMORY, CTRL_CPU, CTRL_CPUACCT, CTRL_PIDS, CTRL_N };

/* The files guardlet reads from a pod's cgroup, named per cgroup version (NULL: none there). */
enum {
    F_MEM_CURRENT,
    F_MEM_STAT,
    F_MEM_MAX,
    F_MEM_HIGH,
    F_MEM_EVENTS,
    F_CPU_STAT,
    F_CPUACCT_USAGE,
    F_PIDS_CURRENT,
    F_PIDS_MAX,
    F_PSI_MEMORY,
    F_PSI_CPU,
    F_PSI_IO,
    F_N
};

static const struct {
    const char *v2;
    const char *v1;
    enum gl_ctrl ctrl;
    bool fast; /* read every tick (and kept open); the others in the slow or rare tier */
} files[F_N] = {
    [F_MEM_CURRENT] = {"memory.current", "memory.usage_in_bytes", CTRL_MEMORY, true},
    [F_MEM_STAT] = {"memory.stat", "memory.stat", CTRL_MEMORY, false},
    [F_MEM_MAX] = {"memory.max", "memory.limit_in_bytes", CTRL_MEMORY, false},
    [F_MEM_HIGH] = {"memory.high", NULL, CTRL_MEMORY, false},
    [F_MEM_EVENTS] = {"memory.events", "memory.oom_control", CTRL_MEMORY, false},
    /* v2's cpu.stat has usage and throttling in one read; v1 splits them and throttling can wait.
     */
    [F_CPU_STAT] = {"cpu.stat", "cpu.stat", CTRL_CPU, true},
    [F_CPUACCT_USAGE] = {NULL, "cpuacct.usage", CTRL_CPUACCT, true},
    [F_PIDS_CURRENT] = {"pids.current", "pids.current", CTRL_PIDS, true},
    [F_PIDS_MAX] = {"pids.max", "pids.max", CTRL_PIDS, false},
    [F_PSI_MEMORY] = {"memory.pressure", NULL, CTRL_MEMORY, false},
    [F_PSI_CPU] = {"cpu.pressure", NULL, CTRL_MEMORY, false},
    [F_PSI_IO] = {"io.pressure", NULL, CTRL_MEMORY, false},
};

/* fd values besides real descriptors (only files read every tick keep one). */
#define FD_UNOPENED (-1)
#define FD_ABSENT                                                                                  \
    (-2) /* the file does not exist for this cgroup (controller off): retried on slow ticks */

struct gl_pod_files {
    int fd[F_N];
    uint64_t psi_prev_t_usec;
    uint64_t psi_prev_memory_total;
    uint64_t psi_prev_cpu_total;
    uint64_t last_theil_sen_usec;
    bool gone;
};

struct gl_pods {
    gl_cgroup_layout layout;
    gl_pods_params params;
    gl_pod **v;
    size_t n, cap;
    uint32_t *index; /* open addressing on the UID: slot holds pod index + 1, 0 is empty */
    size_t index_cap;
    uint64_t tick;
    uint32_t next_slot;
    size_t open_fds;
    char last_error[4096 + 128];
    bool has_error;
    gl_pods_scan_stats *st;
};

static const char *ctrl_dir(const gl_pods *p, enum gl_ctrl c) {
    switch (c) {
    case CTRL_MEMORY:
        return p->layout.memory;
    case CTRL_CPU:
        return p->layout.cpu;
    case CTRL_CPUACCT:
        return p->layout.cpuacct;
    case CTRL_PIDS:
        return p->layout.pids;
    case CTRL_N:
        break;
    }
    return NULL;
}

static const char *file_name(const gl_pods *p, int f) {
    return p->layout.version == GL_CGROUP_V2 ? files[f].v2 : files[f].v1;
}

/* FNV-1a over the UID: UIDs are random, any decent mix does. */
static size_t uid_hash(const char *uid) {
    uint64_t h = 1469598103934665603ull;
    for (; *uid; uid++)
        h = (h ^ (uint8_t)*uid) * 1099511628211ull;
    return (size_t)h;
}

static int index_rebuild(gl_pods *p) {
    size_t want = 64;
    while (want < p->n * 2)
        want *= 2;
    if (want != p->index_cap) {
        uint32_t *v = calloc(want, sizeof(*v));
        if (!v)
            return -ENOMEM;
        free(p->index);
        p->index = v;
        p->index_cap = want;
    } else {
        memset(p->index, 0, want * sizeof(*p->index));
    }
    for (size_t i = 0; i < p->n; i++) {
        size_t h = uid_hash(p->v[i]->uid) & (p->index_cap - 1);
        while (p->index[h])
            h = (h + 1) & (p->index_cap - 1);
        p->index[h] = (uint32_t)(i + 1);
    }
    return 0;
}

/* Adds pod number i to the index; grows (rebuilds) it past half full. */
static int index_insert(gl_pods *p, size_t i) {
    if ((p->n + 1) * 2 > p->index_cap)
        return index_rebuild(p);
    size_t h = uid_hash(p->v[i]->uid) & (p->index_cap - 1);
    while (p->index[h])
        h = (h + 1) & (p->index_cap - 1);
    p->index[h] = (uint32_t)(i + 1);
    return 0;
}

gl_pod *gl_pods_find(const gl_pods *p, const char *uid) {
    if (!p->index_cap)
        return NULL;
    size_t h = uid_hash(uid) & (p->index_cap - 1);
    while (p->index[h]) {
        gl_pod *pod = p->v[p->index[h] - 1];
        if (strcmp(pod->uid, uid) == 0)
            return pod;
        h = (h + 1) & (p->index_cap - 1);
    }
    return NULL;
}

static void pod_close_files(gl_pods *p, gl_pod *pod) {
    if (!pod->files)
        return;
    for (int f = 0; f < F_N; f++) {
        if (pod->files->fd[f] >= 0) {
            close(pod->files->fd[f]);
            p->open_fds--;
        }
        pod->files->fd[f] = FD_UNOPENED;
    }
}

static void pod_free(gl_pods *p, gl_pod *pod) {
    if (!pod)
        return;
    pod_close_files(p, pod);
    free(pod->files);
    free(pod->cgroup);
    free(pod->containers);
    free(pod);
}

static gl_pod *pod_new(gl_pods *p, const char *uid, gl_qos qos, const char *cgroup,
                       uint64_t now_usec) {
    gl_pod *pod = calloc(1, sizeof(*pod));
    if (!pod)
        return NULL;
    pod->files = calloc(1, sizeof(*pod->files));
    pod->cgroup = strdup(cgroup);
    if (!pod->files || !pod->cgroup) {
        pod_free(p, pod);
        return NULL;
    }
    for (int f = 0; f < F_N; f++)
        pod->files->fd[f] = FD_UNOPENED;
    memcpy(pod->uid, uid, sizeof(pod->uid));
    pod->qos = qos;
    pod->first_seen_usec = now_usec;
    pod->slot = p->next_slot++;
    pod->cur.memory_max_bytes = GL_CGROUP_UNLIMITED;
    pod->cur.memory_high_bytes = GL_CGROUP_UNLIMITED;
    pod->cur.pids_max = GL_CGROUP_UNLIMITED;
    gl_history_init(&pod->history, p->params.leak_window_usec);
    return pod;
}

static void note_error(gl_pods *p, const char *path, int err) {
    if (p->st)
        p->st->read_errors++;
    if (!p->has_error)
        snprintf(p->last_error, sizeof(p->last_error), "%s: %s", path, strerror(err));
    p->has_error = true;
}

/* The cgroup went away under us: a normal event (the pod ended), never an error. */
static bool errno_means_gone(int err) {
    return err == ENODEV || err == ENOENT;
}

/* Builds "dir/cgroup[/name]" into buf with plain copies (this runs for every slow-tier read, where
 * snprintf's format parsing showed up in profiles). Truncates to an empty string if too long. */
static const char *pod_path(const gl_pod *pod, const char *dir, const char *name, char *buf,
                            size_t len) {
    const char *parts[] = {dir, "/", pod->cgroup, name ? "/" : "", name ? name : ""};
    size_t off = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        size_t l = strlen(parts[i]);
        if (off + l + 1 > len) {
            buf[0] = '\0';
            return buf;
        }
        memcpy(buf + off, parts[i], l);
        off += l;
    }
    buf[off] = '\0';
    return buf;
}

/* Opens one file of the pod. Returns the fd, -ENOENT when the file does not exist in an existing
 * directory (a controller that is off), -ENODEV when the cgroup is gone, or another -errno. */
static int pod_open(gl_pods *p, gl_pod *pod, enum gl_ctrl c, const char *name) {
    char path[4096];
    int fd = open(pod_path(pod, ctrl_dir(p, c), name, path, sizeof(path)), O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    int err = errno;
    if (err == ENOENT) {
        /* A missing file in an existing directory is a controller that is off; a missing
         * directory is a pod that ended. */
        struct stat st;
        if (stat(pod_path(pod, ctrl_dir(p, c), NULL, path, sizeof(path)), &st) < 0 &&
            errno_means_gone(errno)) {
            pod->files->gone = true;
            return -ENODEV;
        }
        return -ENOENT;
    }
    if (errno_means_gone(err)) {
        pod->files->gone = true;
        return -ENODEV;
    }
    note_error(p, path, err);
    return -err;
}

/*
 * Reads one of the pod's files into buf. Files read every tick keep their descriptor open (a
 * cached pread costs about half of open+read+close); the others are opened for each read, so a
 * pod holds three descriptors, not eleven, and 5000 pods fit in a 65536 fd limit with room.
 * Returns the length, -ENOENT when the file does not exist for this cgroup, -ENODEV when the
 * cgroup is gone (pod->files->gone is then set), or another -errno (already counted).
 */
static ssize_t pod_read(gl_pods *p, gl_pod *pod, int f, char *buf, size_t size) {
    int *cached = &pod->files->fd[f];
    const char *name = file_name(p, f);
    const char *dir = ctrl_dir(p, files[f].ctrl);
    bool cache = files[f].fast;
    int fd = *cached;

    if (!name || !dir || fd == FD_ABSENT)
        return -ENOENT;
    if (fd == FD_UNOPENED) {
        fd = pod_open(p, pod, files[f].ctrl, name);
        if (fd < 0) {
            if (fd == -ENOENT && cache)
                *cached = FD_ABSENT;
            return fd;
        }
        if (cache) {
            *cached = fd;
            p->open_fds++;
        }
    }
    p->st->files_read++;
    ssize_t n = pread(fd, buf, size - 1, 0);
    int err = n < 0 ? errno : 0;
    if (!cache)
        close(fd);
    if (n < 0) {
        if (errno_means_gone(err)) {
            pod->files->gone = true;
            return -ENODEV;
        }
        char path[4096];
        note_error(p, pod_path(pod, dir, name, path, sizeof(path)), err);
        return -err;
    }
    buf[n] = '\0';
    return n;
}

/* Reports a file whose text guardlet cannot parse, naming it. */
static void note_malformed(gl_pods *p, gl_pod *pod, int f) {
    char path[4096];
    note_error(p, pod_path(pod, ctrl_dir(p, files[f].ctrl), file_name(p, f), path, sizeof(path)),
               EBADMSG);
}

/* Reads a file holding one value (number or limit) into *out; leaves *out alone on failure. */
static void read_value(gl_pods *p, gl_pod *pod, int f, bool limit, uint64_t *out) {
    char buf[64];
    ssize_t n = pod_read(p, pod, f, buf, sizeof(buf));
    if (n < 0)
        return;
    int r = limit ? gl_cgroup_parse_limit(buf, (size_t)n, out)
                  : gl_cgroup_parse_u64(buf, (size_t)n, out);
    if (r < 0)
        note_malformed(p, pod, f);
}

/* Looks keys up in a flat-keyed file; a key the kernel does not have leaves its value alone. */
static void read_keys(gl_pods *p, gl_pod *pod, int f, const char *const *keys,
                      uint64_t *const *outs, size_t n_keys) {
    static char buf[READ_BUF_SIZE];
    ssize_t n = pod_read(p, pod, f, buf, sizeof(buf));
    if (n < 0)
        return;
    for (size_t i = 0; i < n_keys; i++) {
        int r = gl_cgroup_kv_get(buf, (size_t)n, keys[i], outs[i]);
        if (r == -EBADMSG) {
            note_malformed(p, pod, f);
            return;
        }
    }
}

static void read_psi(gl_pods *p, gl_pod *pod, int f, gl_psi *out, bool *ok) {
    char buf[512];
    ssize_t n = pod_read(p, pod, f, buf, sizeof(buf));
    if (n < 0) {
        *ok = false;
        return;
    }
    if (gl_psi_parse(buf, (size_t)n, out) < 0) {
        note_malformed(p, pod, f);
        *ok = false;
    }
}

static void read_fast(gl_pods *p, gl_pod *pod) {
    gl_pod_sample *s = &pod->cur;

    read_value(p, pod, F_MEM_CURRENT, false, &s->memory_current_bytes);
    if (p->layout.version == GL_CGROUP_V2) {
        const char *keys[] = {"usage_usec", "nr_periods", "nr_throttled", "throttled_usec"};
        uint64_t *outs[] = {&s->cpu_usage_usec, &s->cpu_nr_periods, &s->cpu_nr_throttled,
                            &s->cpu_throttled_usec};
        read_keys(p, pod, F_CPU_STAT, keys, outs, 4);
    } else {
        uint64_t ns;
        char buf[64];
        ssize_t n = pod_read(p, pod, F_CPUACCT_USAGE, buf, sizeof(buf));
        if (n >= 0 && gl_cgroup_parse_u64(buf, (size_t)n, &ns) == 0)
            s->cpu_usage_usec = ns / 1000;
        else if (n >= 0)
            note_malformed(p, pod, F_CPUACCT_USAGE);
    }
    read_value(p, pod, F_PIDS_CURRENT, false, &s->pids_current);
}

/* Every GL_PODS_SLOW_EVERY ticks: what moves, but slowly enough (inactive_file, OOM counters, PSI
 * totals). */
static void read_slow(gl_pods *p, gl_pod *pod, uint64_t now_usec) {
    gl_pod_sample *s = &pod->cur;
    bool v2 = p->layout.version == GL_CGROUP_V2;

    /* v1's memory.stat carries both the cgroup's own inactive_file and total_inactive_file
     * (with descendants); the pod directory's processes live in its children, so v1 needs the
     * total. */
    const char *stat_key[] = {v2 ? "inactive_file" : "total_inactive_file"};
    uint64_t *stat_out[] = {&s->memory_inactive_file_bytes};
    read_keys(p, pod, F_MEM_STAT, stat_key, stat_out, 1);
    if (v2) {
        const char *keys[] = {"oom", "oom_kill"};
        uint64_t *outs[] = {&s->oom_events, &s->oom_kill_events};
        read_keys(p, pod, F_MEM_EVENTS, keys, outs, 2);
    } else {
        const char *keys[] = {"oom_kill"};
        uint64_t *outs[] = {&s->oom_kill_events};
        read_keys(p, pod, F_MEM_EVENTS, keys, outs, 1);
        uint64_t throttled_ns = s->cpu_throttled_usec * 1000;
        const char *ckeys[] = {"nr_periods", "nr_throttled", "throttled_time"};
        uint64_t *couts[] = {&s->cpu_nr_periods, &s->cpu_nr_throttled, &throttled_ns};
        read_keys(p, pod, F_CPU_STAT, ckeys, couts, 3);
        s->cpu_throttled_usec = throttled_ns / 1000;
    }
    if (!v2)
        return;

    bool ok = true;
    read_psi(p, pod, F_PSI_MEMORY, &s->psi[GL_PSI_MEMORY], &ok);
    read_psi(p, pod, F_PSI_CPU, &s->psi[GL_PSI_CPU], &ok);
    s->has_psi = ok;
    gl_pod_files *fs = pod->files;
    if (ok && fs->psi_prev_t_usec) {
        uint64_t mem = s->psi[GL_PSI_MEMORY].some.total_usec;
        uint64_t cpu = s->psi[GL_PSI_CPU].some.total_usec;
        pod->psi_memory_some_delta_usec =
            mem >= fs->psi_prev_memory_total ? mem - fs->psi_prev_memory_total : 0;
        pod->psi_cpu_some_delta_usec =
            cpu >= fs->psi_prev_cpu_total ? cpu - fs->psi_prev_cpu_total : 0;
        pod->psi_span_usec = now_usec - fs->psi_prev_t_usec;
    }
    if (ok) {
        fs->psi_prev_t_usec = now_usec;
        fs->psi_prev_memory_total = s->psi[GL_PSI_MEMORY].some.total_usec;
        fs->psi_prev_cpu_total = s->psi[GL_PSI_CPU].some.total_usec;
    }
}

/* Every GL_PODS_RARE_EVERY ticks: limits, which change only when someone resizes the pod, and
 * io pressure, which no decision rests on yet. */
static void read_rare(gl_pods *p, gl_pod *pod) {
    gl_pod_sample *s = &pod->cur;

    read_value(p, pod, F_MEM_MAX, true, &s->memory_max_bytes);
    read_value(p, pod, F_MEM_HIGH, true, &s->memory_high_bytes);
    read_value(p, pod, F_PIDS_MAX, true, &s->pids_max);
    if (p->layout.version == GL_CGROUP_V2) {
        bool ok = true;
        read_psi(p, pod, F_PSI_IO, &s->psi[GL_PSI_IO], &ok);
    }
}

/* Lists the container directories of a pod. Returns 0, -ENODEV when the pod is gone, -ENOMEM. */
static int pod_list_containers(gl_pods *p, gl_pod *pod) {
    char path[4096];
    gl_container *v = NULL;
    size_t n = 0, cap = 0;

    DIR *d = opendir(pod_path(pod, p->layout.memory, NULL, path, sizeof(path)));
    if (!d) {
        int err = errno;
        if (errno_means_gone(err)) {
            pod->files->gone = true;
            return -ENODEV;
        }
        note_error(p, path, err);
        return 0;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        gl_container c;
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
            continue;
        if (gl_kubepods_parse_container_dir(de->d_name, &c.runtime, c.id) < 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            gl_container *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
            cap = ncap;
        }
        v[n++] = c;
    }
    closedir(d);
    free(pod->containers);
    pod->containers = v;
    pod->n_containers = n;
    return 0;
}

/* Per-interval figures from the previous and current samples. */
static void pod_derive(gl_pods *p, gl_pod *pod, uint64_t now_usec, bool cpu_stat_read) {
    gl_pod_sample *c = &pod->cur, *o = &pod->prev;

    c->memory_working_set_bytes = c->memory_current_bytes > c->memory_inactive_file_bytes
                                      ? c->memory_current_bytes - c->memory_inactive_file_bytes
                                      : 0;
    if (pod->has_prev && c->t_usec > o->t_usec) {
        uint64_t dt = c->t_usec - o->t_usec;
        uint64_t du =
            c->cpu_usage_usec >= o->cpu_usage_usec ? c->cpu_usage_usec - o->cpu_usage_usec : 0;
        pod->cpu_usage_millicores = (uint32_t)(du * 1000 / dt);
        /* On v1 throttling is a slow-tier figure: between reads the last ratio stands. When
         * cpu.stat was read and no period ran, the group was idle and nothing was throttled. */
        if (c->cpu_nr_periods > o->cpu_nr_periods) {
            uint64_t dp = c->cpu_nr_periods - o->cpu_nr_periods;
            uint64_t dthr = c->cpu_nr_throttled >= o->cpu_nr_throttled
                                ? c->cpu_nr_throttled - o->cpu_nr_throttled
                                : 0;
            pod->cpu_throttled_bp = (uint32_t)(dthr > dp ? 10000 : dthr * 10000 / dp);
        } else if (cpu_stat_read) {
            pod->cpu_throttled_bp = 0;
        }
    }

    gl_history_push(&pod->history, now_usec, c->memory_working_set_bytes);
    gl_growth g;
    if (gl_history_growth_lsq(&pod->history, p->params.leak_window_usec, &g) < 0) {
        memset(&pod->growth, 0, sizeof(pod->growth));
        pod->growth_robust = false;
        return;
    }
    /* The cheap screen runs every tick; the robust estimate only for pods that look like leaks,
     * and at most once per history spacing, since between kept points it would not change much. */
    if (g.slope_per_sec > (double)p->params.min_growth_per_sec) {
        gl_pod_files *fs = pod->files;
        if (!pod->growth_robust ||
            now_usec - fs->last_theil_sen_usec >= pod->history.spacing_usec) {
            if (gl_history_growth_theil_sen(&pod->history, p->params.leak_window_usec, &g) == 0) {
                pod->growth = g;
                pod->growth_robust = true;
                fs->last_theil_sen_usec = now_usec;
            }
        }
        return;
    }
    pod->growth = g;
    pod->growth_robust = false;
}

static bool pod_is_hot(const gl_pod *pod) {
    const gl_pod_sample *s = &pod->cur;
    if (s->memory_max_bytes == GL_CGROUP_UNLIMITED || s->memory_max_bytes == 0)
        return false;
    return s->memory_current_bytes >= s->memory_max_bytes / 10000 * HOT_LIMIT_BP;
}

static void pod_scan(gl_pods *p, gl_pod *pod, uint64_t now_usec, bool hot_all, bool first) {
    bool hot = pod_is_hot(pod);
    uint64_t phase = p->tick + pod->slot; /* staggered so that slow reads spread over the ticks */
    bool rare = first || hot || phase % GL_PODS_RARE_EVERY == 0;
    bool slow = rare || hot_all || phase % GL_PODS_SLOW_EVERY == 0;

    pod->prev = pod->cur;
    pod->has_prev = !first;
    pod->cur.t_usec = now_usec;
    if (rare) {
        /* Retry files that were absent (a controller may have been enabled since), and look for
         * containers that were restarted or added. */
        for (int f = 0; f < F_N; f++)
            if (pod->files->fd[f] == FD_ABSENT)
                pod->files->fd[f] = FD_UNOPENED;
        if (pod_list_containers(p, pod) == -ENOMEM)
            return;
        if (!pod->files->gone)
            read_rare(p, pod);
    }
    if (!pod->files->gone)
        read_fast(p, pod);
    if (slow && !pod->files->gone)
        read_slow(p, pod, now_usec);
    if (!pod->files->gone)
        pod_derive(p, pod, now_usec, slow || p->layout.version == GL_CGROUP_V2);
}

/* Records a pod directory seen in the listing: finds or creates its pod. */
static int see_pod(gl_pods *p, const char *name, const char *parent_rel, gl_qos qos,
                   uint64_t now_usec) {
    char uid[GL_POD_UID_LEN + 1], rel[1024];

    if (gl_kubepods_parse_pod_dir(name, uid) < 0)
        return 0;
    gl_pod *pod = gl_pods_find(p, uid);
    if (pod) {
        pod->seen_tick = p->tick;
        return 0;
    }
    if (snprintf(rel, sizeof(rel), "%s/%s", parent_rel, name) >= (int)sizeof(rel))
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        gl_pod **v = realloc(p->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    pod = pod_new(p, uid, qos, rel, now_usec);
    if (!pod)
        return -ENOMEM;
    pod->seen_tick = p->tick;
    p->v[p->n++] = pod;
    if (p->st)
        p->st->added++;
    /* New pods must be findable by the rest of this listing (a pod listed twice stays one). */
    return index_insert(p, p->n - 1);
}

static bool entry_is_dir(DIR *d, const struct dirent *de) {
    if (de->d_type == DT_DIR)
        return true;
    if (de->d_type != DT_UNKNOWN)
        return false;
    struct stat st;
    return fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

/* Lists pod directories in dir (relative rel), of QoS qos; qos dirs too when top is true. */
static int list_dir(gl_pods *p, const char *rel, gl_qos qos, bool top, uint64_t now_usec) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", p->layout.memory, rel);
    DIR *d = opendir(path);
    if (!d) {
        /* A QoS directory that went away (the kubelet restarted) is not an error. */
        if (!errno_means_gone(errno))
            note_error(p, path, errno);
        return 0;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' || !entry_is_dir(d, de))
            continue;
        gl_qos q;
        if (top && gl_kubepods_parse_qos_dir(de->d_name, &q) == 0) {
            char sub[1024];
            if (snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name) < (int)sizeof(sub))
                r = list_dir(p, sub, q, false, now_usec);
            continue;
        }
        r = see_pod(p, de->d_name, rel, qos, now_usec);
    }
    closedir(d);
    return r;
}

int gl_pods_scan(gl_pods *p, uint64_t now_usec, bool hot_all, gl_pods_scan_stats *st) {
    gl_pods_scan_stats local;
    int r = 0;

    p->st = st ? st : &local;
    memset(p->st, 0, sizeof(*p->st));
    p->has_error = false;
    p->tick++;

    if (gl_cgroup_layout_refresh_kubepods(&p->layout)) {
        p->st->kubepods_found = true;
        /* Pods directly under kubepods are Guaranteed; the QoS directories hold the others. */
        r = list_dir(p, p->layout.kubepods, GL_QOS_GUARANTEED, true, now_usec);
    }

    for (size_t i = 0; r == 0 && i < p->n; i++) {
        gl_pod *pod = p->v[i];
        if (pod->seen_tick == p->tick)
            pod_scan(p, pod, now_usec, hot_all, pod->first_seen_usec == now_usec);
    }

    /* Sweep: pods not listed this time, or whose cgroup vanished while being read. */
    size_t kept = 0;
    for (size_t i = 0; i < p->n; i++) {
        gl_pod *pod = p->v[i];
        if (pod->seen_tick != p->tick || pod->files->gone) {
            pod_free(p, pod);
            p->st->removed++;
        } else {
            p->v[kept++] = pod;
        }
    }
    bool removed = kept != p->n;
    p->n = kept;
    p->st->pods = p->n;
    /* Indices shift only when pods were removed. */
    int ri = removed ? index_rebuild(p) : 0;
    p->st = NULL;
    return r < 0 ? r : ri;
}

int gl_pods_new(const gl_cgroup_layout *layout, const gl_pods_params *params, gl_pods **out) {
    gl_pods *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->params = *params;
    p->layout.version = layout->version;
    p->layout.systemd_driver = layout->systemd_driver;
#define DUP(field)                                                                                 \
    if (layout->field && !(p->layout.field = strdup(layout->field))) {                             \
        gl_pods_free(p);                                                                           \
        return -ENOMEM;                                                                            \
    }
    DUP(root)
    DUP(memory)
    DUP(cpu)
    DUP(cpuacct)
    DUP(pids)
    DUP(kubepods)
#undef DUP
    *out = p;
    return 0;
}

void gl_pods_set_params(gl_pods *p, const gl_pods_params *params) {
    if (params->leak_window_usec != p->params.leak_window_usec)
        for (size_t i = 0; i < p->n; i++)
            p->v[i]->history.spacing_usec = params->leak_window_usec / (GL_HISTORY_POINTS - 1);
    p->params = *params;
}

void gl_pods_free(gl_pods *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        pod_free(p, p->v[i]);
    free(p->v);
    free(p->index);
    gl_cgroup_layout_free(&p->layout);
    free(p);
}

size_t gl_pods_count(const gl_pods *p) {
    return p->n;
}

gl_pod *gl_pods_at(const gl_pods *p, size_t i) {
    return i < p->n ? p->v[i] : NULL;
}

size_t gl_pods_open_fds(const gl_pods *p) {
    return p->open_fds;
}

const char *gl_pods_last_error(const gl_pods *p) {
    return p->has_error ? p->last_error : NULL;
}

void gl_pods_totals_get(const gl_pods *p, gl_pods_totals *out) {
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < p->n; i++) {
        const gl_pod *pod = p->v[i];
        out->memory_working_set_bytes += pod->cur.memory_working_set_bytes;
        out->memory_current_bytes += pod->cur.memory_current_bytes;
        out->cpu_usage_millicores += pod->cpu_usage_millicores;
        out->pids_current += pod->cur.pids_current;
    }
}
