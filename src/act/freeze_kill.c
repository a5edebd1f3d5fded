/* freeze_kill.c: freezes, thaws and kills a pod's cgroup (cgroup.kill, or freeze + SIGKILL). */
#include "guardlet/actuate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "act-internal.h"

/* cgroup.events is re-read this often while waiting for "frozen 1". The kernel reports frozen
 * 0.1-1.8 ms after the write (FIELD-NOTES), so 1 ms keeps the wait close to the real latency
 * without spinning. (POLLPRI on cgroup.events would also work, but a bounded wait this short
 * does not need a descriptor kept open.) */
#define FREEZE_POLL_NSEC 1000000L

/* How long the fallback kill waits for the freeze before signalling anyway: a hundred times the
 * slowest freeze measured, yet short enough that a stuck freeze (a task in uninterruptible
 * sleep) delays the kill only briefly. */
#define KILL_FREEZE_TIMEOUT_USEC 100000u

/* Kubelet trees are a few levels deep (pod, container, sometimes systemd units inside). The
 * walk recurses once per level holding a descriptor and a read buffer, so it stops at a depth no
 * real pod reaches instead of trusting the tree's shape. */
#define KILL_MAX_DEPTH 64

/* Holds every freezer text: "populated 1\nfrozen 1\n" or "FREEZING\n". */
#define STATE_TEXT_MAX 128

static uint64_t now_usec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void sleep_poll_interval(void) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = FREEZE_POLL_NSEC};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* The freezer's files and values for the layout's version. */
typedef struct {
    const char *control; /* written to freeze and thaw */
    const char *on, *off;
    const char *state; /* read to learn whether it is done */
} freezer_files;

static const freezer_files v2_freezer = {"cgroup.freeze", "1", "0", "cgroup.events"};
static const freezer_files v1_freezer = {"freezer.state", "FROZEN", "THAWED", "freezer.state"};

static const freezer_files *freezer_of(const gl_cgroup_layout *l) {
    return l->version == GL_CGROUP_V2 ? &v2_freezer : &v1_freezer;
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether a freeze was already requested before this call, from the control file's text: it
 * decides whether an unfinished freeze is undone. v1's FREEZING counts: someone asked for it. */
static bool freeze_requested(const gl_cgroup_layout *l, const char *text) {
    if (l->version == GL_CGROUP_V2)
        return text[0] == '1';
    return starts_with(text, "FROZEN") || starts_with(text, "FREEZING");
}

/* Whether the kernel reports the freeze complete. Returns 1, 0, or -EBADMSG. */
static int freeze_done(const gl_cgroup_layout *l, const char *text, size_t len) {
    if (l->version == GL_CGROUP_V1)
        return starts_with(text, "FROZEN") ? 1 : 0;
    uint64_t frozen;
    if (gl_cgroup_kv_get(text, len, "frozen", &frozen) < 0)
        return -EBADMSG;
    return frozen == 1;
}

int gl_act_thaw(const gl_cgroup_layout *l, const char *cgroup) {
    int r = gl_act_check_args(l, cgroup);
    if (r < 0)
        return r;
    const freezer_files *ff = freezer_of(l);
    r = gl_act_write(l, GL_ACT_CTL_FREEZER, cgroup, ff->control, ff->off);
    return r == GL_ACT_GONE ? 0 : r;
}

int gl_act_freeze(const gl_cgroup_layout *l, const char *cgroup, uint64_t timeout_usec) {
    int r = gl_act_check_args(l, cgroup);
    if (r < 0)
        return r;
    const freezer_files *ff = freezer_of(l);
    char text[STATE_TEXT_MAX];
    size_t len;

    r = gl_act_read(l, GL_ACT_CTL_FREEZER, cgroup, ff->control, text, sizeof(text), &len);
    if (r != 0)
        return r == GL_ACT_GONE ? 0 : r;
    bool was_frozen = freeze_requested(l, text);

    r = gl_act_write(l, GL_ACT_CTL_FREEZER, cgroup, ff->control, ff->on);
    if (r != 0)
        return r == GL_ACT_GONE ? 0 : r;

    /* The deadline is taken after the write, so the timeout bounds the kernel's work alone. The
     * state is read once before any sleep: the freeze is often done by then. */
    uint64_t start = now_usec();
    /* Saturating, so "wait forever" (UINT64_MAX) does not wrap into "do not wait". */
    uint64_t deadline = timeout_usec > UINT64_MAX - start ? UINT64_MAX : start + timeout_usec;
    for (;;) {
        r = gl_act_read(l, GL_ACT_CTL_FREEZER, cgroup, ff->state, text, sizeof(text), &len);
        if (r == GL_ACT_GONE)
            return 0; /* A removed cgroup runs nothing: as good as frozen. */
        if (r < 0)
            break;
        r = freeze_done(l, text, len);
        if (r == 1)
            return 0;
        if (r < 0)
            break;
        if (now_usec() >= deadline) {
            r = -ETIMEDOUT;
            break;
        }
        sleep_poll_interval();
    }

    /* Half-frozen is the worst state to leave a pod in (some tasks stopped, holding locks the
     * rest wait for), so an unfinished freeze is undone, unless the freeze predates the call. */
    if (!was_frozen)
        (void)gl_act_thaw(l, cgroup);
    return r;
}

/* Signals one pid read from a procs file. */
static void kill_one(long pid, size_t *killed, int *first_err) {
    /* Pid 0 is what cgroup.procs shows for tasks outside our pid namespace, and kill(0) would
     * signal our own process group; a guard listed in the cgroup must not kill itself either. */
    if (pid <= 0 || pid == (long)getpid())
        return;
    if (kill((pid_t)pid, SIGKILL) == 0) {
        (*killed)++;
        return;
    }
    if (errno != ESRCH && *first_err == 0)
        *first_err = -errno;
}

/* Streams a procs file (it may list thousands of pids) and signals each pid as it is parsed.
 * Returns 0, GL_ACT_GONE when the file vanished with its cgroup, or a negative errno. */
static int kill_procs_file(int dfd, bool v1, size_t *killed, int *first_err) {
    int fd = openat(dfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    /* Kernels before cgroup.procs (v1 only) list every thread in tasks; kill() of a thread id
     * signals its whole process, so the outcome is the same. */
    if (fd < 0 && errno == ENOENT && v1)
        fd = openat(dfd, "tasks", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ENODEV ? GL_ACT_GONE : -errno;

    char buf[1024];
    long pid = 0;
    bool in_number = false, bad_line = false;
    int r = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = errno == ENODEV ? GL_ACT_GONE : -errno;
            break;
        }
        /* End of file is handled as a final newline so a last line without one still counts. */
        size_t end = n == 0 ? 1 : (size_t)n;
        for (size_t i = 0; i < end; i++) {
            char c = n == 0 ? '\n' : buf[i];
            if (c == '\n') {
                if (in_number && !bad_line)
                    kill_one(pid, killed, first_err);
                else if (bad_line && *first_err == 0)
                    *first_err = -EBADMSG;
                pid = 0;
                in_number = bad_line = false;
            } else if (c >= '0' && c <= '9' && pid <= (INT_MAX - (c - '0')) / 10) {
                pid = pid * 10 + (c - '0');
                in_number = true;
            } else {
                /* Garbage or an overflowing number: skip the line, but keep killing. */
                bad_line = true;
            }
        }
        if (n == 0)
            break;
    }
    (void)close(fd);
    return r;
}

/* Kills the pids of the directory dfd and of every directory below it. A descendant that
 * disappears meanwhile is fine: its processes are gone with it. */
static void kill_tree(int dfd, bool v1, int depth, size_t *killed, int *first_err) {
    int r = kill_procs_file(dfd, v1, killed, first_err);
    if (r < 0 && *first_err == 0)
        *first_err = r;
    if (depth >= KILL_MAX_DEPTH) {
        if (*first_err == 0)
            *first_err = -ELOOP;
        return;
    }

    /* fdopendir takes over the descriptor it is given; the caller keeps dfd. */
    int lfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
    if (!d) {
        int err = errno;
        if (lfd >= 0)
            (void)close(lfd);
        if (err != ENOENT && err != ENODEV && *first_err == 0)
            *first_err = -err;
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_type != DT_DIR) {
            struct stat st;
            if (de->d_type != DT_UNKNOWN ||
                fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                continue;
        }
        int cfd = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (cfd < 0) {
            if (errno != ENOENT && errno != ENODEV && *first_err == 0)
                *first_err = -errno;
            continue;
        }
        kill_tree(cfd, v1, depth + 1, killed, first_err);
        (void)close(cfd);
    }
    closedir(d);
}

int gl_act_kill_fallback(const gl_cgroup_layout *l, const char *cgroup, size_t *killed) {
    size_t n_killed = 0;
    if (killed)
        *killed = 0;
    int r = gl_act_check_args(l, cgroup);
    if (r < 0)
        return r;

    char ctl[PATH_MAX], dir[PATH_MAX];
    r = gl_act_ctl_dir(l, GL_ACT_CTL_CORE, ctl, sizeof(ctl));
    if (r == 0)
        r = gl_act_cgroup_dir(l, GL_ACT_CTL_CORE, cgroup, dir, sizeof(dir));
    if (r < 0)
        return r;

    /* Frozen, the pod cannot fork new processes while its pids are read and signalled. The
     * result is deliberately ignored: see gl_act_kill_fallback in act-internal.h. */
    (void)gl_act_freeze(l, cgroup, KILL_FREEZE_TIMEOUT_USEC);

    int first_err = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        r = gl_act_classify(ctl, dir, -errno);
        if (r < 0)
            first_err = r;
    } else {
        kill_tree(dfd, l->version == GL_CGROUP_V1, 0, &n_killed, &first_err);
        (void)close(dfd);
    }

    /* Always thawed, whatever happened above, and even if it was frozen before: the kill's
     * purpose is that the processes die, and a v1 frozen task acts on SIGKILL only once it
     * runs. A missing freezer was never frozen, so its -EOPNOTSUPP is no failure here. */
    r = gl_act_thaw(l, cgroup);
    if (r < 0 && r != -EOPNOTSUPP && first_err == 0)
        first_err = r;

    if (killed)
        *killed = n_killed;
    return first_err;
}

int gl_act_kill(const gl_cgroup_layout *l, const char *cgroup, size_t *killed) {
    if (killed)
        *killed = 0;
    int r = gl_act_check_args(l, cgroup);
    if (r < 0)
        return r;

    if (l->version == GL_CGROUP_V2) {
        /* One write kills the whole subtree, forks included, and the kernel does the walk. */
        r = gl_act_write(l, GL_ACT_CTL_CORE, cgroup, "cgroup.kill", "1");
        if (r == 0 || r == GL_ACT_GONE)
            return 0;
        /* -EOPNOTSUPP: no cgroup.kill before Linux 5.14 (or the kernel refuses it for a
         * threaded cgroup); every other error is real. */
        if (r != -EOPNOTSUPP)
            return r;
    }
    return gl_act_kill_fallback(l, cgroup, killed);
}
