/* status.c: the status socket on the daemon's libev loop: one request line in, one JSON answer
 * out, never blocking the guard. */
#include "guardlet/status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "guardlet/log.h"
#include "guardlet/node.h"

/* A client that has not sent its line and read its answer by then is dropped: the loop must not
 * keep half-open connections around for whoever opened them. Generous for guardletctl under
 * valgrind, short for a stuck script. */
#define CLIENT_TIMEOUT_SEC 5.0
/* Inspection is for an operator or a monitoring script: a handful at once is plenty, and the cap
 * bounds the memory a flood of connections can take from the guard. */
#define MAX_CLIENTS 16

typedef struct client client;

struct gl_status_server {
    struct ev_loop *loop;
    char *path;
    int fd;
    dev_t dev; /* the socket file we created, so that we only ever remove our own */
    ino_t ino;
    ev_io accept_io;
    gl_status_view_cb cb;
    void *userdata;
    uint64_t start_usec;
    client *clients[MAX_CLIENTS];
};

struct client {
    gl_status_server *srv;
    int fd;
    ev_io io;
    ev_timer timer;
    char in[GL_STATUS_MAX_REQUEST + 1];
    size_t in_len;
    char *out; /* the answer, once the request is complete */
    size_t out_len, out_off;
    size_t slot;
};

static uint64_t realtime_usec(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void client_free(client *c) {
    if (!c)
        return;
    ev_io_stop(c->srv->loop, &c->io);
    ev_timer_stop(c->srv->loop, &c->timer);
    close(c->fd);
    c->srv->clients[c->slot] = NULL;
    free(c->out);
    free(c);
}

static void client_answer(client *c) {
    gl_status_view v = {0};
    json_t *answer;

    c->in[c->in_len] = '\0';
    char *nl = strchr(c->in, '\n');
    if (nl)
        *nl = '\0';
    if (nl && nl > c->in && nl[-1] == '\r')
        nl[-1] = '\0';
    c->srv->cb(c->srv->userdata, &v);
    if (!v.start_usec)
        v.start_usec = c->srv->start_usec;
    if (!nl)
        answer =
            json_pack("{s:i, s:b, s:{s:s, s:s}}", "protocol", GL_STATUS_PROTOCOL, "ok", 0, "error",
                      "code", "bad-request", "message", "the request line is too long");
    else
        answer = gl_status_answer(&v, c->in, gl_now_usec(), realtime_usec());
    c->out = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
    json_decref(answer);
    if (!c->out) {
        client_free(c); /* out of memory: closing is the only answer left */
        return;
    }
    c->out_len = strlen(c->out);
    /* The answer ends with a newline, so a human with socat sees a clean prompt. */
    char *grown = realloc(c->out, c->out_len + 2);
    if (grown) {
        c->out = grown;
        c->out[c->out_len++] = '\n';
        c->out[c->out_len] = '\0';
    }
    ev_io_stop(c->srv->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(c->srv->loop, &c->io);
}

static void on_client(struct ev_loop *loop, ev_io *w, int revents) {
    client *c = w->data;
    (void)loop;

    if (revents & EV_READ) {
        ssize_t n = read(c->fd, c->in + c->in_len, GL_STATUS_MAX_REQUEST - c->in_len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            /* The client closed (or failed) before a full line: an unterminated last line is
             * still a request, nothing is not. */
            if (n == 0 && c->in_len > 0) {
                c->in[c->in_len++] = '\n';
                client_answer(c);
            } else {
                client_free(c);
            }
            return;
        }
        c->in_len += (size_t)n;
        if (memchr(c->in, '\n', c->in_len) || c->in_len >= GL_STATUS_MAX_REQUEST)
            client_answer(c);
        return;
    }
    if (revents & EV_WRITE) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0) {
            client_free(c);
            return;
        }
        c->out_off += (size_t)n;
        if (c->out_off == c->out_len)
            client_free(c);
    }
}

static void on_client_timeout(struct ev_loop *loop, ev_timer *w, int revents) {
    client *c = w->data;
    (void)loop;
    (void)revents;
    gl_log_debug("Status socket client timed out after %.0f s; closing it", CLIENT_TIMEOUT_SEC);
    client_free(c);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents) {
    gl_status_server *s = w->data;
    (void)revents;

    for (;;) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                gl_log_debug("Status socket accept failed: %s", strerror(errno));
            return;
        }
        size_t slot = 0;
        while (slot < MAX_CLIENTS && s->clients[slot])
            slot++;
        client *c = slot < MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
        if (!c) {
            /* Over the cap: closed at once; the client sees an empty answer and may retry. */
            gl_log_debug("Status socket: %d clients already connected; refusing one more",
                         MAX_CLIENTS);
            close(fd);
            continue;
        }
        *c = (client){.srv = s, .fd = fd, .slot = slot};
        s->clients[slot] = c;
        ev_io_init(&c->io, on_client, fd, EV_READ);
        c->io.data = c;
        ev_timer_init(&c->timer, on_client_timeout, CLIENT_TIMEOUT_SEC, 0.);
        c->timer.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_start(loop, &c->timer);
    }
}

/* mkdir -p for the socket's parent, each new level 0755. */
static int make_parent(const char *path) {
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];

    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Whether something answers at path: a live daemon (connect succeeds) or a stale socket
 * (ECONNREFUSED). Returns 1 live, 0 stale, or a negative errno. */
static int probe(const struct sockaddr_un *sa) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 1 : -errno;
    close(fd);
    if (r == -ECONNREFUSED || r == -ENOENT)
        return 0;
    return r;
}

int gl_status_server_new(struct ev_loop *loop, const char *path, gl_status_view_cb cb,
                         void *userdata, gl_status_server **out, char *err, size_t errlen) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int r;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "StatusSocket %s is too long for a unix socket (at most %zu bytes)",
                 path, sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((r = make_parent(path)) < 0) {
        snprintf(err, errlen, "Cannot create the directory of the status socket %s: %s", path,
                 strerror(-r));
        return r;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket; not replacing it", path);
            return -EEXIST;
        }
        r = probe(&sa);
        if (r > 0) {
            snprintf(err, errlen, "Another guardlet answers on its status socket %s", path);
            return -EADDRINUSE;
        }
        if (r < 0) {
            snprintf(err, errlen, "Cannot probe the status socket %s: %s", path, strerror(-r));
            return r;
        }
        /* Left behind by a guardlet that died without cleaning up: ours to replace. */
        if (unlink(path) < 0 && errno != ENOENT) {
            r = -errno;
            snprintf(err, errlen, "Cannot remove the stale status socket %s: %s", path,
                     strerror(-r));
            return r;
        }
        gl_log_notice("Replaced a stale status socket at %s", path);
    }

    gl_status_server *s = calloc(1, sizeof(*s));
    if (!s || !(s->path = strdup(path))) {
        free(s);
        snprintf(err, errlen, "Out of memory setting up the status socket %s", path);
        return -ENOMEM;
    }
    s->loop = loop;
    s->cb = cb;
    s->userdata = userdata;
    s->start_usec = gl_now_usec();
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* Permissions are set between bind and listen: no client can connect before listen, so
     * nobody gets in through a wider mode in between. */
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
        (chown(path, 0, (gid_t)-1) < 0 && errno != EPERM) || lstat(path, &st) < 0 ||
        listen(s->fd, MAX_CLIENTS) < 0) {
        r = -errno;
        snprintf(err, errlen, "Cannot listen on the status socket %s: %s", path, strerror(-r));
        if (s->fd >= 0) {
            close(s->fd);
            struct stat now;
            if (lstat(path, &now) == 0 && S_ISSOCK(now.st_mode))
                unlink(path);
        }
        free(s->path);
        free(s);
        return r;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    ev_io_init(&s->accept_io, on_accept, s->fd, EV_READ);
    s->accept_io.data = s;
    ev_io_start(loop, &s->accept_io);
    *out = s;
    return 0;
}

const char *gl_status_server_path(const gl_status_server *s) {
    return s->path;
}

void gl_status_server_free(gl_status_server *s) {
    struct stat st;

    if (!s)
        return;
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        client_free(s->clients[i]);
    ev_io_stop(s->loop, &s->accept_io);
    close(s->fd);
    /* Another guardlet may have replaced it meanwhile (a stale-looking socket): leave theirs. */
    if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
        unlink(s->path);
    free(s->path);
    free(s);
}

int gl_status_server_apply(struct ev_loop *loop, gl_status_server **s, const char *path,
                           gl_status_view_cb cb, void *userdata) {
    char err[512];
    gl_status_server *next = NULL;

    if (*s && path && strcmp(path, (*s)->path) == 0)
        return 0;
    if (!path || !path[0]) {
        if (*s)
            gl_log_notice("Status socket %s closed: StatusSocket is empty", (*s)->path);
        else
            gl_log_notice("Status socket disabled (StatusSocket is empty): guardletctl cannot "
                          "inspect this daemon");
        gl_status_server_free(*s);
        *s = NULL;
        return 0;
    }
    int r = gl_status_server_new(loop, path, cb, userdata, &next, err, sizeof(err));
    if (r < 0) {
        if (*s)
            gl_log_err("%s; keeping the status socket at %s", err, (*s)->path);
        else
            gl_log_err("%s", err);
        return r;
    }
    if (*s) {
        next->start_usec = (*s)->start_usec; /* uptime is the daemon's, not the socket's */
        gl_log_notice("Status socket moved from %s to %s", (*s)->path, path);
    } else
        gl_log_notice("Status socket listening at %s", path);
    gl_status_server_free(*s);
    *s = next;
    return 0;
}
