/* psi_trigger.c: arms kernel PSI triggers and bridges them into libev through a private epoll fd.
 */
#include "guardlet/psi_trigger.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/epoll.h>
#include <sys/vfs.h>
#include <unistd.h>

struct gl_psi_trigger {
    struct ev_loop *loop;
    ev_io io; /* on epfd, never on fd: see the comment in trigger_arm() */
    int fd;
    int epfd;
    char *path;
    uint64_t window_usec;
    uint64_t stall_usec;
    uint64_t fired;
    gl_psi_trigger_cb cb;
    void *userdata;
};

static void on_epoll_ready(struct ev_loop *loop, ev_io *w, int revents) {
    gl_psi_trigger *t = w->data;
    struct epoll_event ev;
    (void)loop;
    (void)revents;

    /* The outer readiness check has already consumed the PRI edge, so the inner wait usually
     * returns nothing: the wakeup itself means "fired". The inner wait only spots EPOLLERR. */
    int n = epoll_wait(t->epfd, &ev, 1, 0);
    if (n > 0 && (ev.events & (EPOLLERR | EPOLLHUP))) {
        gl_psi_trigger_stop(t);
        t->cb(t, true, t->userdata);
        return;
    }
    t->fired++;
    t->cb(t, false, t->userdata);
}

/* Opens path and writes the trigger. Returns the fd, -EOPNOTSUPP when path is not a kernel
 * pressure file, or -errno. */
static int trigger_arm(const char *path, uint64_t stall_usec, uint64_t window_usec) {
    char spec[64];
    struct statfs sfs;
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* Writing the trigger into anything but procfs or cgroupfs would overwrite a real file (a
     * test fixture, a mistyped --proc-root): check before writing, not after. */
    if (fstatfs(fd, &sfs) < 0 ||
        (sfs.f_type != PROC_SUPER_MAGIC && sfs.f_type != CGROUP2_SUPER_MAGIC)) {
        close(fd);
        return -EOPNOTSUPP;
    }
    int len = snprintf(spec, sizeof(spec), "some %llu %llu", (unsigned long long)stall_usec,
                       (unsigned long long)window_usec);
    /* The kernel's documentation writes the terminating NUL too. */
    if (write(fd, spec, (size_t)len + 1) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

int gl_psi_trigger_new(struct ev_loop *loop, const char *path, uint32_t stall_bp,
                       gl_psi_trigger_cb cb, void *userdata, gl_psi_trigger **out) {
    static const uint64_t windows[] = {GL_PSI_TRIGGER_FAST_WINDOW_USEC,
                                       GL_PSI_TRIGGER_SLOW_WINDOW_USEC};
    gl_psi_trigger *t;
    int fd = -EINVAL;
    uint64_t window = 0, stall = 0;

    if (stall_bp == 0 || stall_bp > 10000)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        window = windows[i];
        stall = window * stall_bp / 10000;
        fd = trigger_arm(path, stall, window);
        /* Without CAP_SYS_RESOURCE a window that is not a multiple of 2 s is refused. */
        if (fd >= 0 || (fd != -EINVAL && fd != -EPERM))
            break;
    }
    if (fd < 0)
        return fd;

    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    /* An ev_io straight on the trigger fd busy-loops: the kernel always reports EPOLLIN for it
     * (about 100,000 callbacks in 0.5 s, FIELD-NOTES). Only EPOLLPRI means "fired", so the fd sits
     * in a private epoll set that asks for EPOLLPRI alone, and libev watches that set. A plain file
     * (fixture) cannot join an epoll set (EPERM): it takes no triggers. */
    struct epoll_event ev = {.events = EPOLLPRI};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int r = errno == EPERM ? -EOPNOTSUPP : -errno;
        close(epfd);
        close(fd);
        return r;
    }

    t = calloc(1, sizeof(*t));
    if (!t || !(t->path = strdup(path))) {
        free(t);
        close(epfd);
        close(fd);
        return -ENOMEM;
    }
    t->loop = loop;
    t->fd = fd;
    t->epfd = epfd;
    t->window_usec = window;
    t->stall_usec = stall;
    t->cb = cb;
    t->userdata = userdata;
    ev_io_init(&t->io, on_epoll_ready, epfd, EV_READ);
    t->io.data = t;
    *out = t;
    return 0;
}

void gl_psi_trigger_start(gl_psi_trigger *t) {
    ev_io_start(t->loop, &t->io);
}

void gl_psi_trigger_stop(gl_psi_trigger *t) {
    ev_io_stop(t->loop, &t->io);
}

void gl_psi_trigger_free(gl_psi_trigger *t) {
    if (!t)
        return;
    gl_psi_trigger_stop(t);
    close(t->epfd);
    close(t->fd);
    free(t->path);
    free(t);
}

uint64_t gl_psi_trigger_window_usec(const gl_psi_trigger *t) {
    return t->window_usec;
}

uint64_t gl_psi_trigger_stall_usec(const gl_psi_trigger *t) {
    return t->stall_usec;
}

const char *gl_psi_trigger_path(const gl_psi_trigger *t) {
    return t->path;
}

uint64_t gl_psi_trigger_fired(const gl_psi_trigger *t) {
    return t->fired;
}
