/* test_actuate.c: Check suite for the actuators: throttling on fixture files, and freeze, thaw and
 * kill of real processes in a real cgroup v2 subtree. */
#include "guardlet/actuate.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../src/act/act-internal.h"
#include "cgfixture.h"
#include "guardlet/fileio.h"
#include "testutil.h"

#define MIB (1024u * 1024u)

/* The unified hierarchy this machine lets tests create children in (FIELD-NOTES). */
#define UNIFIED       "/sys/fs/cgroup/unified"
#define CGROUP2_MAGIC 0x63677270

/* Freezes here take 0.1-2 ms; a second leaves room for valgrind and a loaded machine. */
#define FREEZE_TIMEOUT_USEC 1000000u

/* ---- helpers ---------------------------------------------------------------------------- */

static void join(char *buf, size_t size, const char *a, const char *b) {
    ck_assert_int_eq(gl_path_join(buf, size, a, b), 0);
}

static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
    ssize_t w = write(fd, text, strlen(text));
    int err = errno;
    close(fd);
    ck_assert_msg(w == (ssize_t)strlen(text), "write %s: %s", path, strerror(err));
}

static void assert_file(const char *path, const char *want) {
    char buf[256];
    ssize_t n = gl_read_file(path, buf, sizeof(buf));
    ck_assert_msg(n >= 0, "read %s: %s", path, strerror((int)-n));
    ck_assert_str_eq(buf, want);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Timings go to stdout only on request, so ordinary runs stay quiet. */
static void timing(const char *what, double ms) {
    if (getenv("GUARDLET_TEST_TIMINGS"))
        printf("TIMING %s: %.3f ms\n", what, ms);
}

/* ---- cleanup the runner process can do: forked children and fixture trees ----------------- */

/*
 * Every child a test forks, and every fixture tree it makes, is recorded in memory shared with
 * the runner process, because with CK_FORK=yes a failing test dies without reaching its own
 * cleanup; the unchecked teardown then ends and reaps what is left (by PID) and removes what is
 * left. The runner is a child subreaper, so children of a dead test are re-parented to it and
 * remain its to reap.
 */
#define MAX_CHILDREN 8
#define MAX_TREES    4

typedef struct {
    int n;
    pid_t pid[MAX_CHILDREN];
    bool reaped[MAX_CHILDREN];
    char tree[MAX_TREES][PATH_MAX]; /* "" when free */
} cleanup_registry;

static cleanup_registry *reg;

static void reg_setup(void) {
    reg = mmap(NULL, sizeof(*reg), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (reg == MAP_FAILED) {
        reg = NULL;
        return;
    }
    memset(reg, 0, sizeof(*reg));
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(path);
    return 0;
}

static void reg_teardown(void) {
    if (!reg)
        return;
    for (int i = 0; i < reg->n; i++) {
        if (reg->reaped[i])
            continue;
        /* Only a process that is still our child (alive or a zombie) is signalled: its PID
         * cannot have been reused while it is unreaped. */
        siginfo_t si = {0};
        pid_t pid = reg->pid[i];
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
            if (si.si_pid == 0)
                (void)kill(pid, SIGKILL);
            (void)waitpid(pid, NULL, 0);
        }
        reg->reaped[i] = true;
    }
    for (int i = 0; i < MAX_TREES; i++)
        if (reg->tree[i][0])
            (void)nftw(reg->tree[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    munmap(reg, sizeof(*reg));
    reg = NULL;
}

static void reg_tree(const char *root, bool add) {
    if (!reg)
        return;
    for (int i = 0; i < MAX_TREES; i++) {
        if (add && !reg->tree[i][0]) {
            snprintf(reg->tree[i], sizeof(reg->tree[i]), "%s", root);
            return;
        }
        if (!add && strcmp(reg->tree[i], root) == 0) {
            reg->tree[i][0] = '\0';
            return;
        }
    }
}

/* Forks a child that spins (busy) or sleeps until killed. */
static pid_t spawn(bool busy) {
    ck_assert_ptr_nonnull(reg);
    ck_assert_int_lt(reg->n, MAX_CHILDREN);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (busy) {
            volatile unsigned long spin = 0;
            for (;;)
                spin++;
        }
        for (;;)
            pause();
    }
    reg->pid[reg->n] = pid;
    reg->reaped[reg->n] = false;
    reg->n++;
    return pid;
}

/* Waits up to timeout_ms for pid to end and returns its wait status, or -1 on timeout. */
static int reap(pid_t pid, double timeout_ms) {
    double deadline = now_ms() + timeout_ms;
    int status;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        ck_assert_int_ge(w, 0);
        if (w == pid)
            break;
        if (now_ms() > deadline)
            return -1;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < reg->n; i++)
        if (reg->pid[i] == pid)
            reg->reaped[i] = true;
    return status;
}

static void assert_sigkilled(pid_t pid, double timeout_ms) {
    int status = reap(pid, timeout_ms);
    ck_assert_msg(status != -1, "pid %d not reaped within %.0f ms", (int)pid, timeout_ms);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "pid %d: status %#x",
                  (int)pid, status);
}

/* ---- fixture layouts (plain files) ----------------------------------------------------- */

typedef struct {
    cgf *f;
    cgf_pod *pod;
    char root[PATH_MAX], memory[PATH_MAX], cpu[PATH_MAX], kubepods[64];
    gl_cgroup_layout l;
} fx;

/* A fixture with one burstable pod (one containerd container) and its layout, built by hand as
 * discovery would: v2 every controller is the root; v1 memory and cpu,cpuacct. */
static void fx_new(fx *x, cgf_layout kind) {
    char uid[GL_POD_UID_LEN + 1];
    cgf_figures fig;

    memset(x, 0, sizeof(*x));
    ck_assert_int_eq(cgf_new(kind, &x->f), 0);
    reg_tree(cgf_root(x->f), true);
    cgf_figures_example(&fig, 1);
    fig.memory_high = CGF_UNLIMITED;
    cgf_uid(1, uid);
    ck_assert_int_eq(cgf_add_pod(x->f, uid, GL_QOS_BURSTABLE, &fig, &x->pod), 0);
    ck_assert_int_eq(cgf_add_container(x->f, x->pod, GL_RUNTIME_CONTAINERD, NULL), 0);

    snprintf(x->root, sizeof(x->root), "%s", cgf_root(x->f));
    snprintf(x->kubepods, sizeof(x->kubepods), "%s", cgf_kubepods_name(x->f));
    bool v1 = cgf_layout_is_v1(kind);
    ck_assert_int_eq(cgf_controller_path(x->f, "memory", x->memory, sizeof(x->memory)), 0);
    ck_assert_int_eq(cgf_controller_path(x->f, "cpu,cpuacct", x->cpu, sizeof(x->cpu)), 0);
    x->l.version = v1 ? GL_CGROUP_V1 : GL_CGROUP_V2;
    x->l.root = x->root;
    x->l.memory = x->memory;
    x->l.cpu = x->cpu;
    x->l.cpuacct = x->cpu;
    x->l.pids = v1 ? NULL : x->root;
    x->l.kubepods = x->kubepods;
    x->l.systemd_driver = cgf_layout_is_systemd(kind);
}

static void fx_free(fx *x) {
    reg_tree(x->root, false);
    cgf_free(x->f);
    x->f = NULL;
}

static const char *pod(const fx *x) {
    return cgf_pod_cgroup(x->pod);
}

/* Path of a file (or directory) below the pod in one controller directory. */
static void fx_path(const fx *x, const char *ctl, const char *rel, char *buf, size_t size) {
    char dir[PATH_MAX];
    join(dir, sizeof(dir), ctl, pod(x));
    join(buf, size, dir, rel);
}

static void assert_pod_file(const fx *x, const char *ctl, const char *file, const char *want) {
    char path[PATH_MAX];
    fx_path(x, ctl, file, path, sizeof(path));
    assert_file(path, want);
}

/* mkdir -p for fixture trees. */
static void mkdirs(const char *path) {
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST, "mkdir %s", buf);
        *p = '/';
    }
    ck_assert_msg(mkdir(buf, 0755) == 0 || errno == EEXIST, "mkdir %s", buf);
}

/* The v1 freezer mount the actuators derive from the root, with the pod's directory in it. */
static void fx_v1_freezer(const fx *x, char *pod_dir, size_t size) {
    char freezer[PATH_MAX], state[PATH_MAX];
    join(freezer, sizeof(freezer), x->root, "freezer");
    join(pod_dir, size, freezer, pod(x));
    mkdirs(pod_dir);
    join(state, sizeof(state), pod_dir, "freezer.state");
    put(state, "THAWED\n");
}

/* ---- throttling on fixtures ------------------------------------------------------------- */

START_TEST(test_memory_high_from_max) {
    fx x;
    gl_act_saved saved = {0};
    fx_new(&x, CGF_V2_SYSTEMD);

    ck_assert_int_eq(gl_act_memory_high(&x.l, pod(&x), 256 * MIB, &saved), 0);
    assert_pod_file(&x, x.memory, "memory.high", "268435456");
    ck_assert(saved.memory_high_saved);
    ck_assert_uint_eq(saved.memory_high, GL_ACT_UNLIMITED);
    ck_assert(!saved.cpu_max_saved);

    /* A second tightening must not take the first one's value for the original. */
    ck_assert_int_eq(gl_act_memory_high(&x.l, pod(&x), 128 * MIB, &saved), 0);
    assert_pod_file(&x, x.memory, "memory.high", "134217728");
    ck_assert_uint_eq(saved.memory_high, GL_ACT_UNLIMITED);

    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    assert_pod_file(&x, x.memory, "memory.high", "max");
    ck_assert(!saved.memory_high_saved);
    /* Idempotent: nothing saved, nothing written. */
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "memory.high", "12345"), 0);
    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    assert_pod_file(&x, x.memory, "memory.high", "12345");
    fx_free(&x);
}
END_TEST

START_TEST(test_memory_high_from_number) {
    fx x;
    gl_act_saved saved = {0};
    fx_new(&x, CGF_V2_CGROUPFS);
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "memory.high", "536870912\n"), 0);

    ck_assert_int_eq(gl_act_memory_high(&x.l, pod(&x), 256 * MIB, &saved), 0);
    ck_assert_uint_eq(saved.memory_high, 536870912u);
    assert_pod_file(&x, x.memory, "memory.high", "268435456");
    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    assert_pod_file(&x, x.memory, "memory.high", "536870912");

    /* Garbage in the file is refused before anything is written or saved. */
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "memory.high", "lots\n"), 0);
    ck_assert_int_eq(gl_act_memory_high(&x.l, pod(&x), 256 * MIB, &saved), -EBADMSG);
    ck_assert(!saved.memory_high_saved);
    assert_pod_file(&x, x.memory, "memory.high", "lots\n");
    fx_free(&x);
}
END_TEST

START_TEST(test_cpu_max_v2) {
    fx x;
    gl_act_saved saved = {0};
    fx_new(&x, CGF_V2_SYSTEMD);
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cpu.max", "max 100000\n"), 0);

    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 500, &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.max", "50000 100000");
    ck_assert(saved.cpu_max_saved);
    ck_assert_uint_eq(saved.cpu_quota_usec, GL_ACT_UNLIMITED);
    ck_assert_uint_eq(saved.cpu_period_usec, 100000);

    /* Below the kernel's 1 ms minimum the quota is raised to it. */
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 5, &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.max", "1000 100000");
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 0, &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.max", "1000 100000");
    ck_assert_uint_eq(saved.cpu_quota_usec, GL_ACT_UNLIMITED);

    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.max", "max 100000");
    ck_assert(!saved.cpu_max_saved);

    /* A pod's own period is kept, and a numeric quota comes back as it was. */
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cpu.max", "200000 50000\n"), 0);
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 3000, &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.max", "150000 50000");
    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.max", "200000 50000");

    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cpu.max", "max\n"), 0);
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 500, &saved), -EBADMSG);
    ck_assert(!saved.cpu_max_saved);
    fx_free(&x);
}
END_TEST

START_TEST(test_both_saved_restore) {
    fx x;
    gl_act_saved saved = {0};
    fx_new(&x, CGF_V2_SYSTEMD);
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cpu.max", "max 100000\n"), 0);
    ck_assert_int_eq(gl_act_memory_high(&x.l, pod(&x), 64 * MIB, &saved), 0);
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 250, &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.max", "25000 100000");
    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    assert_pod_file(&x, x.memory, "memory.high", "max");
    assert_pod_file(&x, x.cpu, "cpu.max", "max 100000");
    ck_assert(!saved.memory_high_saved && !saved.cpu_max_saved);
    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    fx_free(&x);
}
END_TEST

START_TEST(test_cpu_v1) {
    fx x;
    gl_act_saved saved = {0};
    fx_new(&x, CGF_V1_CGROUPFS);
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cpu.cfs_period_us", "100000\n"), 0);
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cpu.cfs_quota_us", "-1\n"), 0);

    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 500, &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.cfs_quota_us", "50000");
    assert_pod_file(&x, x.cpu, "cpu.cfs_period_us", "100000\n");
    ck_assert_uint_eq(saved.cpu_quota_usec, GL_ACT_UNLIMITED);
    ck_assert_uint_eq(saved.cpu_period_usec, 100000);
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 1, &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.cfs_quota_us", "1000");

    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.cfs_quota_us", "-1");
    assert_pod_file(&x, x.cpu, "cpu.cfs_period_us", "100000");

    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cpu.cfs_quota_us", "150000\n"), 0);
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 200, &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.cfs_quota_us", "20000");
    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    assert_pod_file(&x, x.cpu, "cpu.cfs_quota_us", "150000");

    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cpu.cfs_quota_us", "-2\n"), 0);
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 200, &saved), -EBADMSG);
    fx_free(&x);
}
END_TEST

START_TEST(test_v1_memory_high_unsupported) {
    fx x;
    gl_act_saved saved = {0};
    fx_new(&x, CGF_V1_SYSTEMD);
    ck_assert_int_eq(gl_act_memory_high(&x.l, pod(&x), 256 * MIB, &saved), -EOPNOTSUPP);
    ck_assert(!saved.memory_high_saved);
    char path[PATH_MAX];
    fx_path(&x, x.memory, "memory.high", path, sizeof(path));
    ck_assert_int_eq(access(path, F_OK), -1);

    /* A saved memory.high cannot be put back on v1; the flag is dropped, not retried forever. */
    saved.memory_high_saved = true;
    saved.memory_high = 1;
    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), -EOPNOTSUPP);
    ck_assert(!saved.memory_high_saved);
    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), &saved), 0);
    fx_free(&x);
}
END_TEST

START_TEST(test_missing_file_is_unsupported) {
    fx x;
    gl_act_saved saved = {0};
    char path[PATH_MAX];
    fx_new(&x, CGF_V2_SYSTEMD);

    /* The fixture has no cpu.max, cgroup.freeze or cgroup.kill: controllers off, old kernel. */
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 500, &saved), -EOPNOTSUPP);
    ck_assert(!saved.cpu_max_saved);
    ck_assert_int_eq(gl_act_freeze(&x.l, pod(&x), 1000), -EOPNOTSUPP);
    ck_assert_int_eq(gl_act_thaw(&x.l, pod(&x)), -EOPNOTSUPP);
    fx_path(&x, x.root, "memory.high", path, sizeof(path));
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(gl_act_memory_high(&x.l, pod(&x), 256 * MIB, &saved), -EOPNOTSUPP);
    ck_assert_int_eq(access(path, F_OK), -1);

    /* Without cgroup.kill the fallback runs; without a freezer it kills unfrozen, and the
     * pod's processes (none listed here) are all there is to do. */
    size_t killed = 99;
    ck_assert_int_eq(gl_act_kill(&x.l, pod(&x), &killed), 0);
    ck_assert_uint_eq(killed, 0);
    fx_free(&x);

    /* v1 without a freezer mount: no controller directory at all. */
    fx_new(&x, CGF_V1_CGROUPFS);
    ck_assert_int_eq(gl_act_freeze(&x.l, pod(&x), 1000), -EOPNOTSUPP);
    ck_assert_int_eq(gl_act_thaw(&x.l, pod(&x)), -EOPNOTSUPP);
    x.l.cpu = NULL;
    ck_assert_int_eq(gl_act_cpu_max(&x.l, pod(&x), 500, &saved), -EOPNOTSUPP);
    fx_free(&x);
}
END_TEST

START_TEST(test_removed_pod_is_success) {
    static const cgf_layout kinds[] = {CGF_V2_SYSTEMD, CGF_V2_CGROUPFS, CGF_V1_CGROUPFS,
                                       CGF_V1_SYSTEMD};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        fx x;
        char rel[PATH_MAX], freezer_pod[PATH_MAX];
        fx_new(&x, kinds[i]);
        if (cgf_layout_is_v1(kinds[i]))
            fx_v1_freezer(&x, freezer_pod, sizeof(freezer_pod));
        snprintf(rel, sizeof(rel), "%s", pod(&x));
        ck_assert_int_eq(cgf_remove_pod(x.f, x.pod), 0);
        if (cgf_layout_is_v1(kinds[i])) {
            char state[PATH_MAX];
            join(state, sizeof(state), freezer_pod, "freezer.state");
            ck_assert_int_eq(unlink(state), 0);
            ck_assert_int_eq(rmdir(freezer_pod), 0);
        }

        gl_act_saved saved = {.memory_high_saved = true,
                              .memory_high = 1,
                              .cpu_max_saved = true,
                              .cpu_quota_usec = 1,
                              .cpu_period_usec = 100000};
        gl_act_saved fresh = {0};
        size_t killed = 99;
        if (!cgf_layout_is_v1(kinds[i])) {
            ck_assert_int_eq(gl_act_memory_high(&x.l, rel, 256 * MIB, &fresh), 0);
            ck_assert_int_eq(gl_act_restore(&x.l, rel, &saved), 0);
        } else {
            saved.memory_high_saved = false;
            ck_assert_int_eq(gl_act_restore(&x.l, rel, &saved), 0);
        }
        ck_assert(!saved.memory_high_saved && !saved.cpu_max_saved);
        ck_assert_int_eq(gl_act_cpu_max(&x.l, rel, 500, &fresh), 0);
        ck_assert(!fresh.memory_high_saved && !fresh.cpu_max_saved);
        ck_assert_int_eq(gl_act_freeze(&x.l, rel, 1000), 0);
        ck_assert_int_eq(gl_act_thaw(&x.l, rel), 0);
        ck_assert_int_eq(gl_act_kill(&x.l, rel, &killed), 0);
        ck_assert_uint_eq(killed, 0);
        killed = 99;
        ck_assert_int_eq(gl_act_kill_fallback(&x.l, rel, &killed), 0);
        ck_assert_uint_eq(killed, 0);
        /* Nothing was recreated on the way. */
        char path[PATH_MAX];
        join(path, sizeof(path), x.memory, rel);
        ck_assert_int_eq(access(path, F_OK), -1);
        fx_free(&x);
    }
}
END_TEST

START_TEST(test_bad_arguments) {
    fx x;
    size_t killed = 99;
    gl_act_saved saved = {0};
    fx_new(&x, CGF_V2_SYSTEMD);

    ck_assert_int_eq(gl_act_freeze(NULL, pod(&x), 1000), -EINVAL);
    ck_assert_int_eq(gl_act_thaw(&x.l, NULL), -EINVAL);
    ck_assert_int_eq(gl_act_restore(&x.l, pod(&x), NULL), -EINVAL);
    /* The hierarchy's root and paths climbing out of the pod are refused, never acted on. */
    static const char *const bad[] = {
        "", "/", "//", "..", "kubepods.slice/..", "a/./b", "../kubepods.slice"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(gl_act_kill(&x.l, bad[i], &killed), -EINVAL);
        ck_assert_uint_eq(killed, 0);
        ck_assert_int_eq(gl_act_kill_fallback(&x.l, bad[i], &killed), -EINVAL);
        ck_assert_int_eq(gl_act_memory_high(&x.l, bad[i], MIB, &saved), -EINVAL);
        ck_assert_int_eq(gl_act_cpu_max(&x.l, bad[i], 100, &saved), -EINVAL);
        ck_assert_int_eq(gl_act_freeze(&x.l, bad[i], 1000), -EINVAL);
    }
    /* Names that merely contain dots are fine. */
    ck_assert_int_eq(gl_act_thaw(&x.l, "kubepods.slice/..gone"), 0);
    x.l.version = GL_CGROUP_NONE;
    ck_assert_int_eq(gl_act_kill(&x.l, pod(&x), &killed), -EOPNOTSUPP);
    fx_free(&x);
}
END_TEST

/* ---- freezing on fixtures: the timeout and the invariant ------------------------------- */

START_TEST(test_freeze_timeout_thaws) {
    fx x;
    fx_new(&x, CGF_V2_SYSTEMD);
    /* A plain file never turns "frozen 1": the freeze times out and is undone. */
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cgroup.freeze", "0\n"), 0);
    double t0 = now_ms();
    ck_assert_int_eq(gl_act_freeze(&x.l, pod(&x), 5000), -ETIMEDOUT);
    ck_assert_double_ge(now_ms() - t0, 5.0);
    assert_pod_file(&x, x.root, "cgroup.freeze", "0");

    /* Frozen before the call: a timeout leaves it as it was. */
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cgroup.freeze", "1\n"), 0);
    ck_assert_int_eq(gl_act_freeze(&x.l, pod(&x), 0), -ETIMEDOUT);
    assert_pod_file(&x, x.root, "cgroup.freeze", "1");

    /* The kernel's answer is what ends the wait. */
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cgroup.freeze", "0\n"), 0);
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cgroup.events", "populated 1\nfrozen 1\n"), 0);
    ck_assert_int_eq(gl_act_freeze(&x.l, pod(&x), 0), 0);
    assert_pod_file(&x, x.root, "cgroup.freeze", "1");
    ck_assert_int_eq(gl_act_thaw(&x.l, pod(&x)), 0);
    assert_pod_file(&x, x.root, "cgroup.freeze", "0");

    /* cgroup.events without a frozen key is not a freezer's. */
    ck_assert_int_eq(cgf_pod_write(x.f, x.pod, "cgroup.events", "populated 1\n"), 0);
    ck_assert_int_eq(gl_act_freeze(&x.l, pod(&x), 0), -EBADMSG);
    assert_pod_file(&x, x.root, "cgroup.freeze", "0");
    fx_free(&x);
}
END_TEST

START_TEST(test_v1_freezer_fixture) {
    fx x;
    char dir[PATH_MAX], state[PATH_MAX];
    fx_new(&x, CGF_V1_CGROUPFS);
    fx_v1_freezer(&x, dir, sizeof(dir));
    join(state, sizeof(state), dir, "freezer.state");

    ck_assert_int_eq(gl_act_freeze(&x.l, pod(&x), 1000), 0);
    assert_file(state, "FROZEN");
    ck_assert_int_eq(gl_act_thaw(&x.l, pod(&x)), 0);
    assert_file(state, "THAWED");
    fx_free(&x);
}
END_TEST

/* The v1 fallback on a fixture, with real children whose pids the fixture lists: pids in the pod
 * and in a nested directory (tasks, as old kernels have), a pid 0 (a task outside our pid
 * namespace) that must not be signalled, and a garbage line that is reported but does not stop
 * the kill. */
START_TEST(test_v1_kill_fallback_fixture) {
    fx x;
    char freezer_pod[PATH_MAX], path[PATH_MAX], text[64];
    fx_new(&x, CGF_V1_CGROUPFS);
    fx_v1_freezer(&x, freezer_pod, sizeof(freezer_pod));

    pid_t a = spawn(false), b = spawn(false);
    snprintf(text, sizeof(text), "0\n%d\n", (int)a);
    fx_path(&x, x.memory, "cgroup.procs", path, sizeof(path));
    put(path, text);
    fx_path(&x, x.memory, "extra/deeper", path, sizeof(path));
    mkdirs(path);
    fx_path(&x, x.memory, "extra/deeper/tasks", path, sizeof(path));
    snprintf(text, sizeof(text), "%d", (int)b); /* no final newline */
    put(path, text);
    fx_path(&x, x.memory, "extra/cgroup.procs", path, sizeof(path));
    put(path, "x1\n99999999999999999999\n");

    size_t killed = 0;
    ck_assert_int_eq(gl_act_kill(&x.l, pod(&x), &killed), -EBADMSG);
    ck_assert_uint_eq(killed, 2);
    assert_sigkilled(a, 1000);
    assert_sigkilled(b, 1000);
    join(path, sizeof(path), freezer_pod, "freezer.state");
    assert_file(path, "THAWED");
    fx_free(&x);
}
END_TEST

/* ---- the real kernel --------------------------------------------------------------------- */

/* One uniquely named child of the unified hierarchy per test case, with a kubelet-shaped pod of
 * two containers inside. Made and removed by the unchecked fixture, in the runner process. */
static char real_skip[256];
static char real_base[PATH_MAX];
static char real_pod[PATH_MAX];      /* relative to real_base */
static char real_leaf[2][PATH_MAX];  /* absolute container directories */
static char real_kubepods[PATH_MAX]; /* absolute */
static gl_cgroup_layout real_layout;
static char real_kubepods_name[] = "kubepods.slice";
static unsigned real_serial;

static bool try_mkdir(const char *path) {
    if (mkdir(path, 0755) == 0)
        return true;
    /* The reason names the error; the path is always under UNIFIED. */
    (void)path;
    snprintf(real_skip, sizeof(real_skip), "cannot mkdir in " UNIFIED ": %s", strerror(errno));
    return false;
}

/* gl_path_join for the setup, which runs outside any test and so reports through the skip. */
static bool setup_join(char *buf, size_t size, const char *a, const char *b) {
    if (gl_path_join(buf, size, a, b) == 0)
        return true;
    (void)a;
    snprintf(real_skip, sizeof(real_skip), "test cgroup path too long");
    return false;
}

static void real_setup(void) {
    struct statfs sfs;
    char uid[GL_POD_UID_LEN + 1], id[65], path[PATH_MAX];

    reg_setup();
    real_skip[0] = real_base[0] = '\0';
    if (!reg) {
        snprintf(real_skip, sizeof(real_skip), "mmap: %s", strerror(errno));
        return;
    }
    if (geteuid() != 0) {
        snprintf(real_skip, sizeof(real_skip), "not root");
        return;
    }
    if (statfs(UNIFIED, &sfs) < 0 || sfs.f_type != CGROUP2_MAGIC) {
        snprintf(real_skip, sizeof(real_skip), "%s is not a cgroup v2 hierarchy", UNIFIED);
        return;
    }
    snprintf(real_base, sizeof(real_base), UNIFIED "/guardlet-act-%d-%u", (int)getpid(),
             real_serial++);
    if (!try_mkdir(real_base)) {
        real_base[0] = '\0';
        return;
    }

    cgf_uid(7, uid);
    for (char *p = uid; *p; p++)
        if (*p == '-')
            *p = '_';
    snprintf(real_pod, sizeof(real_pod),
             "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%s.slice", uid);
    if (!setup_join(real_kubepods, sizeof(real_kubepods), real_base, "kubepods.slice") ||
        !try_mkdir(real_kubepods) ||
        !setup_join(path, sizeof(path), real_kubepods, "kubepods-burstable.slice") ||
        !try_mkdir(path) || !setup_join(path, sizeof(path), real_base, real_pod) ||
        !try_mkdir(path))
        return;
    for (unsigned i = 0; i < 2; i++) {
        char name[128];
        cgf_container_id(i + 1, id);
        snprintf(name, sizeof(name), "cri-containerd-%s.scope", id);
        if (!setup_join(real_leaf[i], sizeof(real_leaf[i]), path, name) || !try_mkdir(real_leaf[i]))
            return;
    }

    memset(&real_layout, 0, sizeof(real_layout));
    real_layout.version = GL_CGROUP_V2;
    real_layout.root = real_layout.memory = real_layout.cpu = real_layout.cpuacct =
        real_layout.pids = real_base;
    real_layout.kubepods = real_kubepods_name;
    real_layout.systemd_driver = true;
}

/* rmdir, retried briefly: a cgroup whose last task is still exiting is busy for a moment. */
static void rmdir_retry(const char *path) {
    for (int i = 0; i < 200; i++) {
        if (rmdir(path) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            break;
        sleep_ms(5);
    }
    fprintf(stderr, "test_actuate: could not remove %s: %s\n", path, strerror(errno));
}

/* Removes dir and every directory below it, deepest first. Cgroup directories are removed with
 * their files still listed: rmdir is how cgroupfs deletes a cgroup. */
static void rm_cgroup_tree(const char *dir, int depth) {
    char sub[PATH_MAX];
    DIR *d = depth < 16 ? opendir(dir) : NULL;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 ||
                strcmp(de->d_name, "..") == 0)
                continue;
            if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) < (int)sizeof(sub))
                rm_cgroup_tree(sub, depth + 1);
        }
        closedir(d);
    }
    rmdir_retry(dir);
}

static void real_teardown(void) {
    /* The children die first (a populated cgroup cannot be removed); a frozen v2 task still
     * dies of SIGKILL. */
    reg_teardown();
    if (real_base[0])
        rm_cgroup_tree(real_base, 0);
    real_base[0] = '\0';
}

#define SKIP_UNLESS_REAL(name)                                                                     \
    do {                                                                                           \
        if (real_skip[0]) {                                                                        \
            printf("SKIP " name ": %s\n", real_skip);                                              \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Moves pid into a cgroup directory. */
static void move_to(pid_t pid, const char *dir) {
    char path[PATH_MAX], text[32];
    join(path, sizeof(path), dir, "cgroup.procs");
    snprintf(text, sizeof(text), "%d", (int)pid);
    put(path, text);
}

static void real_file(const char *rel, const char *file, char *buf, size_t size) {
    char dir[PATH_MAX];
    join(dir, sizeof(dir), real_base, rel);
    join(buf, size, dir, file);
}

/* "frozen" of cgroup.events below the test's base. */
static uint64_t real_frozen(const char *rel) {
    char path[PATH_MAX], buf[256];
    uint64_t v = 99;
    real_file(rel, "cgroup.events", path, sizeof(path));
    ssize_t n = gl_read_file(path, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(gl_cgroup_kv_get(buf, (size_t)n, "frozen", &v), 0);
    return v;
}

/* State letter and utime + stime (clock ticks) from /proc/<pid>/stat. */
static void proc_stat(pid_t pid, char *state, unsigned long long *ticks) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    ssize_t n = gl_read_file(path, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    /* The command name may hold spaces and parentheses: fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    ck_assert_ptr_nonnull(p);
    unsigned long long utime = 0, stime = 0;
    int got = sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", state, &utime,
                     &stime);
    ck_assert_int_eq(got, 3);
    *ticks = utime + stime;
}

/* Waits until a busy child has been seen using CPU, so "no progress" later means frozen. */
static unsigned long long wait_running(pid_t pid) {
    char state;
    unsigned long long t0, t;
    proc_stat(pid, &state, &t0);
    for (int i = 0; i < 400; i++) {
        sleep_ms(5);
        proc_stat(pid, &state, &t);
        if (t > t0)
            return t;
    }
    ck_abort_msg("busy child %d never ran", (int)pid);
    return 0;
}

START_TEST(test_real_freeze_thaw) {
    SKIP_UNLESS_REAL("test_real_freeze_thaw");
    pid_t busy = spawn(true), sleeper = spawn(false);
    move_to(busy, real_leaf[0]);
    move_to(sleeper, real_leaf[1]);
    wait_running(busy);

    double t0 = now_ms();
    ck_assert_int_eq(gl_act_freeze(&real_layout, real_pod, FREEZE_TIMEOUT_USEC), 0);
    timing("freeze (write to frozen 1)", now_ms() - t0);
    ck_assert_uint_eq(real_frozen(real_pod), 1);
    /* Only the pod's subtree: its QoS parent is not frozen with it. */
    ck_assert_uint_eq(real_frozen("kubepods.slice/kubepods-burstable.slice"), 0);

    /* Frozen tasks sleep in the kernel's job-control trap (wchan get_signal): the kernel shows
     * them as 'S', not 'T' or 'D', so the state letter alone does not say "frozen". */
    char state;
    unsigned long long before, after;
    proc_stat(busy, &state, &before);
    ck_assert_int_eq(state, 'S');
    sleep_ms(300);
    proc_stat(busy, &state, &after);
    ck_assert_int_eq(state, 'S');
    ck_assert_uint_eq(after, before);
    proc_stat(sleeper, &state, &after);
    ck_assert_int_eq(state, 'S');

    /* Freezing what is frozen is a no-op that succeeds. */
    ck_assert_int_eq(gl_act_freeze(&real_layout, real_pod, FREEZE_TIMEOUT_USEC), 0);

    ck_assert_int_eq(gl_act_thaw(&real_layout, real_pod), 0);
    ck_assert_uint_eq(real_frozen(real_pod), 0);
    sleep_ms(300);
    proc_stat(busy, &state, &after);
    ck_assert_uint_gt(after, before);
    ck_assert_int_eq(gl_act_thaw(&real_layout, real_pod), 0);

    ck_assert_int_eq(gl_act_kill(&real_layout, real_pod, NULL), 0);
    assert_sigkilled(busy, 1000);
    assert_sigkilled(sleeper, 1000);
}
END_TEST

START_TEST(test_real_kill) {
    SKIP_UNLESS_REAL("test_real_kill");
    pid_t busy = spawn(true), sleeper = spawn(false);
    move_to(busy, real_leaf[0]);
    move_to(sleeper, real_leaf[1]);
    wait_running(busy);

    size_t killed = 99;
    double t0 = now_ms();
    ck_assert_int_eq(gl_act_kill(&real_layout, real_pod, &killed), 0);
    double t1 = now_ms();
    ck_assert_uint_eq(killed, 0); /* cgroup.kill does not tell */
    assert_sigkilled(busy, 1000);
    assert_sigkilled(sleeper, 1000);
    timing("cgroup.kill write", t1 - t0);
    timing("cgroup.kill to both reaped", now_ms() - t0);
}
END_TEST

START_TEST(test_real_kill_fallback) {
    SKIP_UNLESS_REAL("test_real_kill_fallback");
    pid_t busy = spawn(true), sleeper = spawn(false);
    move_to(busy, real_leaf[0]);
    move_to(sleeper, real_leaf[1]);
    wait_running(busy);

    size_t killed = 0;
    double t0 = now_ms();
    ck_assert_int_eq(gl_act_kill_fallback(&real_layout, real_pod, &killed), 0);
    double t1 = now_ms();
    ck_assert_uint_eq(killed, 2);
    assert_sigkilled(busy, 1000);
    assert_sigkilled(sleeper, 1000);
    timing("fallback kill (freeze, SIGKILL, thaw)", t1 - t0);
    timing("fallback kill to both reaped", now_ms() - t0);

    char path[PATH_MAX];
    real_file(real_pod, "cgroup.freeze", path, sizeof(path));
    assert_file(path, "0\n");
    ck_assert_uint_eq(real_frozen(real_pod), 0);
}
END_TEST

/* A pod frozen before the kill is thawed by it too: the kill is what was asked for. */
START_TEST(test_real_kill_fallback_prefrozen) {
    SKIP_UNLESS_REAL("test_real_kill_fallback_prefrozen");
    pid_t sleeper = spawn(false);
    move_to(sleeper, real_leaf[1]);
    ck_assert_int_eq(gl_act_freeze(&real_layout, real_pod, FREEZE_TIMEOUT_USEC), 0);

    size_t killed = 0;
    ck_assert_int_eq(gl_act_kill_fallback(&real_layout, real_pod, &killed), 0);
    ck_assert_uint_eq(killed, 1);
    assert_sigkilled(sleeper, 1000);
    char path[PATH_MAX];
    real_file(real_pod, "cgroup.freeze", path, sizeof(path));
    assert_file(path, "0\n");
}
END_TEST

START_TEST(test_real_removed_cgroup) {
    SKIP_UNLESS_REAL("test_real_removed_cgroup");
    const char *rel = "kubepods.slice/kubepods-besteffort.slice";
    char dir[PATH_MAX];
    join(dir, sizeof(dir), real_base, rel);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(rmdir(dir), 0);

    size_t killed = 99;
    gl_act_saved saved = {0};
    ck_assert_int_eq(gl_act_freeze(&real_layout, rel, FREEZE_TIMEOUT_USEC), 0);
    ck_assert_int_eq(gl_act_thaw(&real_layout, rel), 0);
    ck_assert_int_eq(gl_act_kill(&real_layout, rel, &killed), 0);
    ck_assert_uint_eq(killed, 0);
    ck_assert_int_eq(gl_act_kill_fallback(&real_layout, rel, &killed), 0);
    ck_assert_int_eq(gl_act_memory_high(&real_layout, rel, 256 * MIB, &saved), 0);
    ck_assert_int_eq(gl_act_cpu_max(&real_layout, rel, 500, &saved), 0);
    ck_assert_int_eq(access(dir, F_OK), -1);

    /* The existing pod has no memory or cpu controller here: off, not gone. */
    ck_assert_int_eq(gl_act_memory_high(&real_layout, real_pod, 256 * MIB, &saved), -EOPNOTSUPP);
    ck_assert_int_eq(gl_act_cpu_max(&real_layout, real_pod, 500, &saved), -EOPNOTSUPP);
    ck_assert(!saved.memory_high_saved && !saved.cpu_max_saved);
}
END_TEST

START_TEST(test_real_freeze_emptied_cgroup) {
    SKIP_UNLESS_REAL("test_real_freeze_emptied_cgroup");
    pid_t sleeper = spawn(false);
    move_to(sleeper, real_leaf[0]);
    ck_assert_int_eq(kill(sleeper, SIGKILL), 0);
    assert_sigkilled(sleeper, 1000);

    ck_assert_int_eq(gl_act_freeze(&real_layout, real_pod, FREEZE_TIMEOUT_USEC), 0);
    ck_assert_uint_eq(real_frozen(real_pod), 1);
    ck_assert_int_eq(gl_act_thaw(&real_layout, real_pod), 0);
    ck_assert_uint_eq(real_frozen(real_pod), 0);
}
END_TEST

/* ---- suite -------------------------------------------------------------------------------- */

/* Each forking test gets its own case, so the unchecked fixture (run once per case, in the
 * runner process) cleans up after every one of them. */
static void add_forking(Suite *s, const char *name, const TTest *test, void (*setup)(void),
                        void (*teardown)(void)) {
    TCase *tc = tcase_create(name);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    /* Valgrind slows forking and the 300 ms waits; the default 4 s is too tight for it. */
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

static Suite *actuate_suite(void) {
    Suite *s = suite_create("actuate");

    TCase *tc = tcase_create("fixture");
    tcase_add_test(tc, test_memory_high_from_max);
    tcase_add_test(tc, test_memory_high_from_number);
    tcase_add_test(tc, test_cpu_max_v2);
    tcase_add_test(tc, test_both_saved_restore);
    tcase_add_test(tc, test_cpu_v1);
    tcase_add_test(tc, test_v1_memory_high_unsupported);
    tcase_add_test(tc, test_missing_file_is_unsupported);
    tcase_add_test(tc, test_removed_pod_is_success);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_freeze_timeout_thaws);
    tcase_add_test(tc, test_v1_freezer_fixture);
    tcase_add_unchecked_fixture(tc, reg_setup, reg_teardown);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    add_forking(s, "v1_kill_fixture", test_v1_kill_fallback_fixture, reg_setup, reg_teardown);
    add_forking(s, "real_freeze_thaw", test_real_freeze_thaw, real_setup, real_teardown);
    add_forking(s, "real_kill", test_real_kill, real_setup, real_teardown);
    add_forking(s, "real_kill_fallback", test_real_kill_fallback, real_setup, real_teardown);
    add_forking(s, "real_kill_fallback_prefrozen", test_real_kill_fallback_prefrozen, real_setup,
                real_teardown);
    add_forking(s, "real_removed", test_real_removed_cgroup, real_setup, real_teardown);
    add_forking(s, "real_freeze_emptied", test_real_freeze_emptied_cgroup, real_setup,
                real_teardown);
    return s;
}

GL_TEST_MAIN(actuate_suite)
