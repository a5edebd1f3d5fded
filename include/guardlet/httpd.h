/* httpd.h: a tiny read-only HTTP server (libmicrohttpd) driven by the daemon's libev loop. */
#ifndef GUARDLET_HTTPD_H
#define GUARDLET_HTTPD_H

#include <ev.h>
#include <stddef.h>

typedef struct gl_httpd gl_httpd;

/* At most this many connections at once, and from one peer address: a scraper needs one; the rest
 * is room for curl by hand. More are refused by the kernel backlog or closed at once. */
#define GL_HTTPD_MAX_CONNECTIONS 16
#define GL_HTTPD_MAX_PER_IP      8
/* A connection idle for this long is closed, so a stalled client cannot hold a slot. */
#define GL_HTTPD_TIMEOUT_SEC 10

/* What the handler answers. body is malloc'ed (or NULL for none) and taken over by the server. */
typedef struct {
    unsigned status;
    const char *content_type; /* static string */
    char *body;
    size_t len;
} gl_httpd_reply;

/* Called for each GET or HEAD (HEAD gets the same headers, no body) with the path without the
 * query string. Other methods are answered 405 without calling it. Leaving reply->status 0 (or
 * failing to allocate) answers 500. */
typedef void (*gl_httpd_handler)(const char *path, gl_httpd_reply *reply, void *userdata);

/*
 * Listens at listen ("HOST:PORT", "[IPv6]:PORT", a name that resolves; port 0 picks a free port)
 * and serves from loop. Returns 0 and *out, or a negative errno with a one-line reason in err:
 * -EINVAL (malformed address), -EADDRNOTAVAIL (the name does not resolve), the errno of
 * socket/bind/listen (-EADDRINUSE, -EACCES, ...), -ENOMEM, -EIO (libmicrohttpd refused).
 */
int gl_httpd_start(struct ev_loop *loop, const char *listen, gl_httpd_handler handler,
                   void *userdata, gl_httpd **out, char *err, size_t err_len);

/* The bound address as "127.0.0.1:9847" or "[::1]:9847" (the real port when 0 was asked). */
const char *gl_httpd_address(const gl_httpd *h);

/* Closes the listener and every connection. Accepts NULL. */
void gl_httpd_free(gl_httpd *h);

#endif
