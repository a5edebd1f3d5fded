/* httpd.c: libmicrohttpd without threads of its own, run from the daemon's libev loop. */
/*
 * Why epoll mode: libmicrohttpd can be driven from outside either with select() file descriptor
 * sets (MHD_get_fdset2) or with its own epoll fd (MHD_USE_EPOLL). guardlet keeps a few cached
 * descriptors per pod open, so with a few hundred pods every new connection's fd is above
 * FD_SETSIZE (1024) and the select() interface cannot describe it. In epoll mode the whole server
 * is one descriptor: one ev_io watches it, MHD_run() does the work, and an ev_timer armed from
 * MHD_get_timeout() after every run closes idle connections (and runs again at once when
 * libmicrohttpd still has buffered work, timeout 0). No thread touches the daemon's state, so the
 * handler may read it without locks.
 *
 * The listening socket is ours (bound before libmicrohttpd starts, passed as
 * MHD_OPTION_LISTEN_SOCKET): that gives a precise bind error with its errno, IPv4 and IPv6 alike,
 * and getsockname() for the real port when port 0 was asked for.
 */
#include "guardlet/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "guardlet/log.h"

/* Pending connections the kernel holds while the loop is busy with a tick. */
#define LISTEN_BACKLOG 16

struct gl_httpd {
    struct ev_loop *loop;
    struct MHD_Daemon *mhd;
    ev_io io;
    ev_timer timer;
    gl_httpd_handler handler;
    void *userdata;
    char address[80];
};

/* libmicrohttpd's own messages (a peer that misbehaves, a refused connection) are debug noise. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[256];
    (void)cls;
    if (!gl_log_enabled(LOG_DEBUG))
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    gl_log_debug("HTTP: %s", msg);
}

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len, const char *allow) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : (void *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    /* The figures change every tick: a cache must never answer for us. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    gl_httpd *h = cls;
    static int started;
    (void)version;
    (void)upload_data;

    /* The first call only sees the headers; a request body (never wanted here) arrives in later
     * calls and is dropped; the answer goes out on the last call. */
    if (*con_cls == NULL) {
        *con_cls = &started;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        char *body = strdup("method not allowed\n");
        return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", body,
                     body ? strlen(body) : 0, "GET, HEAD");
    }
    gl_httpd_reply reply = {0};
    h->handler(url, &reply, h->userdata);
    if (reply.status == 0) {
        free(reply.body);
        char *body = strdup("internal error\n");
        return queue(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", body,
                     body ? strlen(body) : 0, NULL);
    }
    return queue(conn, reply.status, reply.content_type, reply.body, reply.len, NULL);
}

/* Runs libmicrohttpd and arms the timer for its next deadline. */
static void run(gl_httpd *h) {
    MHD_UNSIGNED_LONG_LONG ms = 0;

    MHD_run(h->mhd);
    ev_timer_stop(h->loop, &h->timer);
    if (MHD_get_timeout(h->mhd, &ms) == MHD_YES) {
        ev_timer_set(&h->timer, (double)ms / 1000.0, 0.);
        ev_timer_start(h->loop, &h->timer);
    }
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents) {
    (void)loop;
    (void)revents;
    run(w->data);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    run(w->data);
}

/* Splits "host:port" or "[v6]:port" into host and port strings. */
static int split_listen(const char *listen, char *host, size_t host_len, char *port,
                        size_t port_len) {
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1] || strlen(colon + 1) >= port_len)
        return -EINVAL;
    const char *h = listen;
    size_t n = (size_t)(colon - listen);
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return -EINVAL;
        h++;
        n -= 2;
    }
    if (n >= host_len)
        return -EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return -EINVAL;
    snprintf(port, port_len, "%s", colon + 1);
    return 0;
}

static void format_address(const struct sockaddr_storage *ss, char *out, size_t len) {
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
        snprintf(out, len, "[%s]:%u", ip, port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
        snprintf(out, len, "%s:%u", ip, port);
    }
}

/* Binds and listens on the first address listen resolves to. Returns the fd or a negative errno. */
static int open_listener(const char *where, char *address, size_t address_len, char *err,
                         size_t err_len) {
    char host[256], port[8];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    int r = split_listen(where, host, sizeof(host), port, sizeof(port));
    if (r < 0) {
        snprintf(err, err_len, "malformed address (expected HOST:PORT or [IPv6]:PORT)");
        return r;
    }
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0 || !res) {
        snprintf(err, err_len, "cannot resolve %s: %s", host, gai_strerror(gai));
        return -EADDRNOTAVAIL;
    }
    r = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        int one = 1;
        /* A restart must not wait for the old connections' TIME_WAIT. This does not let two
         * processes listen on one port (that would be SO_REUSEPORT). */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0 ||
            getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
            r = -errno;
            close(fd);
            continue;
        }
        format_address(&ss, address, address_len);
        freeaddrinfo(res);
        return fd;
    }
    freeaddrinfo(res);
    snprintf(err, err_len, "%s", strerror(-r));
    return r;
}

int gl_httpd_start(struct ev_loop *loop, const char *listen, gl_httpd_handler handler,
                   void *userdata, gl_httpd **out, char *err, size_t err_len) {
    *out = NULL;
    gl_httpd *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    h->loop = loop;
    h->handler = handler;
    h->userdata = userdata;
    int fd = open_listener(listen, h->address, sizeof(h->address), err, err_len);
    if (fd < 0) {
        free(h);
        return fd;
    }
    h->mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)GL_HTTPD_MAX_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)GL_HTTPD_MAX_PER_IP, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)GL_HTTPD_TIMEOUT_SEC, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        h->mhd ? MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        /* Stopping closes the socket we gave it. Whether a failed start already closed it is not
         * documented: closing again is harmless here, as nothing can have reused the number in
         * between (one thread). */
        if (h->mhd)
            MHD_stop_daemon(h->mhd);
        else
            close(fd);
        free(h);
        snprintf(err, err_len, "libmicrohttpd could not start");
        return -EIO;
    }
    ev_io_init(&h->io, on_io, info->epoll_fd, EV_READ);
    h->io.data = h;
    ev_init(&h->timer, on_timer);
    h->timer.data = h;
    ev_io_start(loop, &h->io);
    *out = h;
    return 0;
}

const char *gl_httpd_address(const gl_httpd *h) {
    return h->address;
}

void gl_httpd_free(gl_httpd *h) {
    if (!h)
        return;
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    free(h);
}
