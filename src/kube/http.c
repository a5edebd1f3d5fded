/* http.c: asynchronous HTTP(S) to the API server on libcurl's multi interface, driven by libev. */
/*
 * The shape is curl's evhiperfifo example: libcurl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to call it back (CURLMOPT_TIMERFUNCTION); libev watches them
 * and we hand readiness to curl_multi_socket_action(). Two things differ from the example on
 * purpose (FIELD-NOTES): timeouts are divided by 1000.0, since integer division turns every
 * sub-second timeout into 0 and makes the loop spin; and the timer callback never calls libcurl
 * (that would re-enter the multi handle), it only arms an ev_timer, a 0 s one when libcurl asks
 * for "now".
 *
 * Requests are added to and removed from the multi handle only from the loop (the kick timer),
 * never from inside libcurl's callbacks: libcurl refuses those calls from its own callbacks
 * (CURLM_RECURSIVE_API_CALL), and a line callback may well start or cancel requests.
 */
#include "guardlet/kube.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gl_kube_req {
    gl_kube_client *client;
    gl_kube_req *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *connect_to; /* libcurl keeps the pointer: lives as long as the handle */
    char *method;
    char *path;
    char *content_type;
    char *body;
    size_t body_len;
    long timeout_ms;
    bool streaming;
    bool added;     /* in the multi handle */
    bool cancelled; /* dropped by the owner: free without a callback */
    bool retried;   /* already sent again after a 401 */
    /* Which credentials the request went out with: a 401 for a request that went out before a
     * rotation is retried with the new ones without asking the owner again. */
    unsigned creds_gen;
    uint64_t token_hash;
    bool too_big;   /* answer or line over its cap */
    bool stopped;   /* on_line asked to stop */
    bool finishing; /* on_done is running: the handle goes away right after it */
    gl_kube_done_cb on_done;
    gl_kube_line_cb on_line;
    void *userdata;
    /* The answer (non-streaming, or a streaming request's non-2xx answer), or the partial line. */
    char *buf;
    size_t len, cap;
    char errbuf[CURL_ERROR_SIZE];
};

struct gl_kube_client {
    struct ev_loop *loop;
    const gl_kube_creds *creds;
    CURLM *multi;
    ev_timer curl_timer; /* libcurl's requested timeout */
    ev_timer kick;       /* 0 s: add/remove requests and run libcurl outside its callbacks */
    gl_kube_req *head;
    struct sock_watch *socks; /* every socket watched, so that free() can drop leftovers */
    size_t active;
    int in_curl;        /* > 0 while inside curl_multi_socket_action */
    char *base_url;     /* scheme://host:port[/prefix] as requests are addressed */
    char *connect_to;   /* CURLOPT_CONNECT_TO entry for tls_server_name, or NULL */
    unsigned creds_gen; /* bumped by gl_kube_client_set_creds */
    gl_kube_unauthorized_cb on_unauthorized;
    void *unauthorized_userdata;
    gl_kube_observer_cb on_observe; /* every finished exchange, for metrics */
    void *observe_userdata;
};

/* One socket libcurl asked us to watch. */
typedef struct sock_watch {
    gl_kube_client *client;
    struct sock_watch *prev, *next;
    curl_socket_t fd;
    ev_io io;
} sock_watch;

static void run_curl(gl_kube_client *c, curl_socket_t fd, int ev_bitmask);

static void arm_kick(gl_kube_client *c) {
    if (!ev_is_active(&c->kick)) {
        ev_timer_set(&c->kick, 0., 0.);
        ev_timer_start(c->loop, &c->kick);
    }
}

/* ---------------------------------------------------------------- libcurl -> libev */

static void on_sock_ready(struct ev_loop *loop, ev_io *w, int revents) {
    sock_watch *s = w->data;
    (void)loop;
    int action =
        (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    run_curl(s->client, s->fd, action);
}

static void sock_free(gl_kube_client *c, sock_watch *s) {
    ev_io_stop(c->loop, &s->io);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

static int curl_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
    gl_kube_client *c = userp;
    sock_watch *s = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        /* The fd may be closed and reused right after this returns: the ev_io must go now. */
        if (s) {
            curl_multi_assign(c->multi, fd, NULL);
            sock_free(c, s);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1; /* libcurl fails the transfer */
        s->client = c;
        s->fd = fd;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        ev_init(&s->io, on_sock_ready);
        s->io.data = s;
        curl_multi_assign(c->multi, fd, s);
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    ev_io_stop(c->loop, &s->io);
    ev_io_set(&s->io, fd, events);
    ev_io_start(c->loop, &s->io);
    return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp) {
    gl_kube_client *c = userp;
    (void)multi;
    ev_timer_stop(c->loop, &c->curl_timer);
    if (timeout_ms < 0)
        return 0;
    /* Never call libcurl from here; a 0 s timer runs it from the loop instead. 1000.0, not 1000:
     * sub-second timeouts must not become 0. */
    ev_timer_set(&c->curl_timer, (double)timeout_ms / 1000.0, 0.);
    ev_timer_start(c->loop, &c->curl_timer);
    return 0;
}

static void on_curl_timer(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    run_curl(w->data, CURL_SOCKET_TIMEOUT, 0);
}

/* ---------------------------------------------------------------- requests */

static void req_unlink_free(gl_kube_req *r) {
    gl_kube_client *c = r->client;
    if (r->added) {
        curl_multi_remove_handle(c->multi, r->easy);
        r->added = false;
    }
    if (r->prev)
        r->prev->next = r->next;
    else
        c->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    c->active--;
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    curl_slist_free_all(r->connect_to);
    free(r->method);
    free(r->path);
    free(r->content_type);
    free(r->body);
    free(r->buf);
    free(r);
}

static bool buf_append(gl_kube_req *r, const char *data, size_t n, size_t max) {
    if (r->len + n > max)
        return false;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        char *nb = realloc(r->buf, cap);
        if (!nb)
            return false;
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return true;
}

static bool status_is_2xx(CURL *easy) {
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status < 300;
}

/* Hands each complete line in the buffer to on_line and keeps the rest. Returns false to stop. */
static bool deliver_lines(gl_kube_req *r) {
    size_t start = 0;
    for (;;) {
        char *nl = memchr(r->buf + start, '\n', r->len - start);
        if (!nl)
            break;
        size_t end = (size_t)(nl - r->buf);
        size_t n = end;
        if (n > start && r->buf[n - 1] == '\r')
            n--;
        r->buf[n] = '\0';
        if (n > start && !r->cancelled && r->on_line(r->buf + start, n - start, r->userdata) != 0) {
            r->stopped = true;
            return false;
        }
        if (r->cancelled)
            return false;
        start = end + 1;
    }
    if (start > 0) {
        memmove(r->buf, r->buf + start, r->len - start);
        r->len -= start;
        if (r->buf)
            r->buf[r->len] = '\0';
    }
    return true;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp) {
    gl_kube_req *r = userp;
    size_t n = size * nmemb;
    if (r->cancelled)
        return CURL_WRITEFUNC_ERROR;
    if (r->streaming && status_is_2xx(r->easy)) {
        if (!buf_append(r, data, n, GL_KUBE_LINE_MAX_BYTES + 1)) {
            r->too_big = true;
            return CURL_WRITEFUNC_ERROR;
        }
        if (!deliver_lines(r))
            return CURL_WRITEFUNC_ERROR;
        /* What is left is one partial line: over the cap it can never end well. */
        if (r->len > GL_KUBE_LINE_MAX_BYTES) {
            r->too_big = true;
            return CURL_WRITEFUNC_ERROR;
        }
        return n;
    }
    if (!buf_append(r, data, n, GL_KUBE_BODY_MAX_BYTES)) {
        r->too_big = true;
        return CURL_WRITEFUNC_ERROR;
    }
    return n;
}

/* FNV-1a: tells tokens apart without keeping a copy of a secret. */
static uint64_t token_hash(const char *t) {
    uint64_t h = 1469598103934665603ull;
    for (; t && *t; t++)
        h = (h ^ (unsigned char)*t) * 1099511628211ull;
    return h;
}

static int set_auth_header(gl_kube_req *r) {
    const gl_kube_creds *cr = r->client->creds;
    r->creds_gen = r->client->creds_gen;
    r->token_hash = token_hash(cr->token);
    struct curl_slist *h = NULL, *t;
    char *line = NULL;
    curl_slist_free_all(r->headers);
    r->headers = NULL;
#define ADD(s)                                                                                     \
    do {                                                                                           \
        if (!(t = curl_slist_append(h, (s))))                                                      \
            goto oom;                                                                              \
        h = t;                                                                                     \
    } while (0)
    ADD("Accept: application/json");
    /* A body is never preceded by a 100-continue round trip: the API server does not need it. */
    ADD("Expect:");
    if (r->content_type) {
        if (asprintf(&line, "Content-Type: %s", r->content_type) < 0) {
            line = NULL;
            goto oom;
        }
        ADD(line);
        free(line);
        line = NULL;
    }
    if (cr->token && cr->token[0]) {
        if (asprintf(&line, "Authorization: Bearer %s", cr->token) < 0) {
            line = NULL;
            goto oom;
        }
        ADD(line);
        explicit_bzero(line, strlen(line));
        free(line);
        line = NULL;
    }
#undef ADD
    r->headers = h;
    return curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, h) == CURLE_OK ? 0 : -EIO;
oom:
    free(line);
    curl_slist_free_all(h);
    return -ENOMEM;
}

static int blob_opt(CURL *e, CURLoption opt, const char *data, size_t len) {
    struct curl_blob b = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};
    return curl_easy_setopt(e, opt, &b) == CURLE_OK ? 0 : -EIO;
}

/* Builds (or rebuilds, for a retry) the easy handle of r. */
static int req_setup(gl_kube_req *r) {
    gl_kube_client *c = r->client;
    const gl_kube_creds *cr = c->creds;
    char *url = NULL;
    int ret = -EIO;

    if (r->easy)
        curl_easy_reset(r->easy);
    else if (!(r->easy = curl_easy_init()))
        return -ENOMEM;
    CURL *e = r->easy;
    r->len = 0;
    r->too_big = false;
    r->errbuf[0] = '\0';
    if (asprintf(&url, "%s%s", c->base_url, r->path) < 0)
        return -ENOMEM;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PRIVATE, r) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_WRITEDATA, r) == CURLE_OK &&
              /* Signals would hit the daemon's own handlers; we never use the threaded resolver's
               * alarm()-based timeouts. */
              curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)GL_KUBE_CONNECT_TIMEOUT_MS) ==
                  CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : 0L) ==
                  CURLE_OK &&
              /* A watch is silent for long stretches: keepalive finds a dead peer (a rebooted
               * control-plane node) that would otherwise leave us waiting forever. */
              curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_USERAGENT, "guardlet") == CURLE_OK;
    free(url);
    if (!ok)
        return -EIO;
    if (strcmp(r->method, "GET") == 0)
        ok = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    else if (strcmp(r->method, "POST") != 0)
        ok = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method) == CURLE_OK;
    if (ok && r->body)
        ok =
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len) == CURLE_OK &&
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body) == CURLE_OK;
    else if (ok && strcmp(r->method, "POST") == 0)
        ok = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POSTFIELDS, "") == CURLE_OK;
    if (!ok)
        return -EIO;
    if (cr->insecure_skip_tls_verify) {
        if (curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK)
            return -EIO;
    } else if (cr->ca_pem && (ret = blob_opt(e, CURLOPT_CAINFO_BLOB, cr->ca_pem, cr->ca_pem_len)))
        return ret;
    if (cr->client_cert_pem && cr->client_key_pem) {
        if ((ret =
                 blob_opt(e, CURLOPT_SSLCERT_BLOB, cr->client_cert_pem, cr->client_cert_pem_len)) ||
            (ret = blob_opt(e, CURLOPT_SSLKEY_BLOB, cr->client_key_pem, cr->client_key_pem_len)))
            return ret;
        if (curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM") != CURLE_OK ||
            curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM") != CURLE_OK)
            return -EIO;
    }
    if (c->connect_to) {
        curl_slist_free_all(r->connect_to);
        if (!(r->connect_to = curl_slist_append(NULL, c->connect_to)))
            return -ENOMEM;
        if (curl_easy_setopt(e, CURLOPT_CONNECT_TO, r->connect_to) != CURLE_OK)
            return -EIO;
    }
    return set_auth_header(r);
}

static int req_start(gl_kube_client *c, const char *method, const char *path,
                     const char *content_type, const char *body, size_t body_len, long timeout_ms,
                     bool streaming, gl_kube_line_cb on_line, gl_kube_done_cb on_done,
                     void *userdata, gl_kube_req **out) {
    if (out)
        *out = NULL;
    if (!c || !method || !path || path[0] != '/' || !on_done || (streaming && !on_line) ||
        timeout_ms < 0)
        return -EINVAL;
    gl_kube_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->client = c;
    r->streaming = streaming;
    r->on_line = on_line;
    r->on_done = on_done;
    r->userdata = userdata;
    r->timeout_ms = timeout_ms;
    r->body_len = body_len;
    r->method = strdup(method);
    r->path = strdup(path);
    r->content_type = content_type ? strdup(content_type) : NULL;
    if (body) {
        r->body = malloc(body_len + 1);
        if (r->body) {
            memcpy(r->body, body, body_len);
            r->body[body_len] = '\0';
        }
    }
    /* Linked first, so that req_unlink_free() can undo everything below. */
    r->next = c->head;
    if (c->head)
        c->head->prev = r;
    c->head = r;
    c->active++;
    if (!r->method || !r->path || (content_type && !r->content_type) || (body && !r->body)) {
        req_unlink_free(r);
        return -ENOMEM;
    }
    int ret = req_setup(r);
    if (ret < 0) {
        req_unlink_free(r);
        return ret;
    }
    arm_kick(c);
    if (out)
        *out = r;
    return 0;
}

int gl_kube_request(gl_kube_client *c, const char *method, const char *path,
                    const char *content_type, const char *body, size_t body_len, long timeout_ms,
                    gl_kube_done_cb on_done, void *userdata, gl_kube_req **out) {
    return req_start(c, method, path, content_type, body, body_len, timeout_ms, false, NULL,
                     on_done, userdata, out);
}

int gl_kube_stream(gl_kube_client *c, const char *path, long timeout_ms, gl_kube_line_cb on_line,
                   gl_kube_done_cb on_done, void *userdata, gl_kube_req **out) {
    return req_start(c, "GET", path, NULL, NULL, 0, timeout_ms, true, on_line, on_done, userdata,
                     out);
}

void gl_kube_cancel(gl_kube_req *r) {
    if (!r)
        return;
    gl_kube_client *c = r->client;
    if (r->finishing)
        return;
    if (c->in_curl > 0) {
        /* Inside libcurl the handle cannot be removed: flag it, the write callback refuses more
         * data, and the kick timer removes it once libcurl has returned. */
        r->cancelled = true;
        arm_kick(c);
        return;
    }
    req_unlink_free(r);
}

static int curl_err_to_errno(CURLcode cc) {
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_PEER_FAILED_VERIFICATION:
        return -EKEYREJECTED;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return -EPROTO;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
        return -ECONNRESET;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

static void observe(gl_kube_client *c, const gl_kube_req *r, long status) {
    if (c->on_observe)
        c->on_observe(r->streaming ? "WATCH" : r->method, status, c->observe_userdata);
}

/* One transfer finished: retry after a 401 if the owner wants, else call back and free. */
static void req_finish(gl_kube_req *r, CURLcode cc) {
    gl_kube_client *c = r->client;
    long status = 0;
    int err = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(c->multi, r->easy);
    r->added = false;
    if (r->cancelled) {
        req_unlink_free(r);
        return;
    }
    if (r->too_big)
        err = -EMSGSIZE;
    else if (r->stopped)
        err = -ECANCELED;
    else if (cc != CURLE_OK)
        err = curl_err_to_errno(cc);
    observe(c, r, err ? 0 : status);
    bool stale = r->creds_gen != c->creds_gen || r->token_hash != token_hash(c->creds->token);
    if (err == 0 && status == 401 && !r->retried &&
        (stale || (c->on_unauthorized && c->on_unauthorized(c, c->unauthorized_userdata)))) {
        r->retried = true;
        if (req_setup(r) == 0) {
            arm_kick(c);
            return;
        }
    }
    const char *msg = "";
    if (err != 0) {
        status = 0;
        msg = r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc);
        if (err == -EMSGSIZE)
            msg = r->streaming ? "watch line over the size cap" : "answer over the size cap";
        else if (err == -ECANCELED)
            msg = "stopped by the line callback";
    }
    bool stream_ok = r->streaming && err == 0 && status >= 200 && status < 300;
    if (stream_ok && r->len > 0) {
        /* The server ended cleanly after a last line without '\n': still a line. */
        r->on_line(r->buf, r->len, r->userdata);
        r->len = 0;
    }
    r->finishing = true;
    if (r->buf == NULL || stream_ok)
        r->on_done(status, "", 0, err, msg, r->userdata);
    else
        r->on_done(status, err ? "" : r->buf, err ? 0 : r->len, err, msg, r->userdata);
    req_unlink_free(r);
}

static void check_done(gl_kube_client *c) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        CURLcode cc = m->data.result;
        if (priv)
            req_finish((gl_kube_req *)(void *)priv, cc);
    }
}

/* Applies deferred cancellations and additions; runs outside libcurl. */
static void sync_requests(gl_kube_client *c) {
    gl_kube_req *r = c->head, *next;
    for (; r; r = next) {
        next = r->next;
        if (r->cancelled) {
            req_unlink_free(r);
        } else if (!r->added) {
            if (curl_multi_add_handle(c->multi, r->easy) == CURLM_OK) {
                r->added = true;
            } else {
                observe(c, r, 0);
                r->on_done(0, "", 0, -EIO, "libcurl refused the request", r->userdata);
                req_unlink_free(r);
            }
        }
    }
}

static void run_curl(gl_kube_client *c, curl_socket_t fd, int ev_bitmask) {
    int running;
    c->in_curl++;
    curl_multi_socket_action(c->multi, fd, ev_bitmask, &running);
    c->in_curl--;
    check_done(c);
    sync_requests(c);
}

static void on_kick(struct ev_loop *loop, ev_timer *w, int revents) {
    gl_kube_client *c = w->data;
    (void)loop;
    (void)revents;
    sync_requests(c);
    run_curl(c, CURL_SOCKET_TIMEOUT, 0);
}

/* ---------------------------------------------------------------- client */

/* Splits "scheme://host:port[/prefix]" (as gl_kube_creds promises it) into its parts. */
static int split_server(const char *server, char **scheme, char **host, char **port,
                        char **prefix) {
    const char *p = strstr(server, "://");
    if (!p)
        return -EINVAL;
    const char *h = p + 3;
    const char *slash = strchr(h, '/');
    const char *end = slash ? slash : h + strlen(h);
    const char *colon = NULL;
    for (const char *q = end; q > h; q--)
        if (q[-1] == ':') {
            colon = q - 1;
            break;
        } else if (q[-1] == ']')
            break;
    if (!colon || colon == h || colon + 1 == end)
        return -EINVAL;
    *scheme = strndup(server, (size_t)(p - server));
    *host = strndup(h, (size_t)(colon - h));
    *port = strndup(colon + 1, (size_t)(end - colon - 1));
    *prefix = strdup(slash ? slash : "");
    if (!*scheme || !*host || !*port || !*prefix)
        return -ENOMEM;
    return 0;
}

static int build_addresses(gl_kube_client *c) {
    const gl_kube_creds *cr = c->creds;
    char *scheme = NULL, *host = NULL, *port = NULL, *prefix = NULL;
    int r = split_server(cr->server, &scheme, &host, &port, &prefix);
    if (r == 0) {
        if (cr->tls_server_name && cr->tls_server_name[0] &&
            strcmp(cr->tls_server_name, host) != 0) {
            bool v6 = strchr(cr->tls_server_name, ':') != NULL;
            if (asprintf(&c->base_url, "%s://%s%s%s:%s%s", scheme, v6 ? "[" : "",
                         cr->tls_server_name, v6 ? "]" : "", port, prefix) < 0 ||
                asprintf(&c->connect_to, "%s:%s:%s:%s", cr->tls_server_name, port, host, port) < 0)
                r = -ENOMEM;
        } else if (!(c->base_url = strdup(cr->server))) {
            r = -ENOMEM;
        }
    }
    free(scheme);
    free(host);
    free(port);
    free(prefix);
    return r;
}

int gl_kube_client_new(struct ev_loop *loop, const gl_kube_creds *creds, gl_kube_client **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!loop || !creds || !creds->server)
        return -EINVAL;
    /* Idempotent and reference counted by libcurl; pairs with curl_global_cleanup in free. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -EIO;
    gl_kube_client *c = calloc(1, sizeof(*c));
    if (!c) {
        curl_global_cleanup();
        return -ENOMEM;
    }
    c->loop = loop;
    c->creds = creds;
    ev_init(&c->curl_timer, on_curl_timer);
    c->curl_timer.data = c;
    ev_init(&c->kick, on_kick);
    c->kick.data = c;
    int r = build_addresses(c);
    if (r < 0) {
        gl_kube_client_free(c);
        return r;
    }
    c->multi = curl_multi_init();
    if (!c->multi || curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb) ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb) ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c)) {
        gl_kube_client_free(c);
        return -EIO;
    }
    *out = c;
    return 0;
}

void gl_kube_client_set_unauthorized_cb(gl_kube_client *c, gl_kube_unauthorized_cb cb,
                                        void *userdata) {
    c->on_unauthorized = cb;
    c->unauthorized_userdata = userdata;
}

int gl_kube_client_set_creds(gl_kube_client *c, const gl_kube_creds *creds) {
    if (!c || !creds || !creds->server)
        return -EINVAL;
    const gl_kube_creds *old = c->creds;
    char *old_base = c->base_url, *old_connect = c->connect_to;
    c->creds = creds;
    c->base_url = c->connect_to = NULL;
    int r = build_addresses(c);
    if (r < 0) {
        free(c->base_url);
        free(c->connect_to);
        c->creds = old;
        c->base_url = old_base;
        c->connect_to = old_connect;
        return r;
    }
    free(old_base);
    free(old_connect);
    c->creds_gen++;
    return 0;
}

void gl_kube_client_set_observer(gl_kube_client *c, gl_kube_observer_cb cb, void *userdata) {
    c->on_observe = cb;
    c->observe_userdata = userdata;
}

size_t gl_kube_client_active(const gl_kube_client *c) {
    return c->active;
}

struct ev_loop *gl_kube_client_loop(const gl_kube_client *c) {
    return c->loop;
}

void gl_kube_client_free(gl_kube_client *c) {
    if (!c)
        return;
    while (c->head)
        req_unlink_free(c->head);
    /* Cleaning the multi handle closes its cached connections; the socket callback frees our
     * watchers for them (CURL_POLL_REMOVE) while the loop is still valid. */
    if (c->multi)
        curl_multi_cleanup(c->multi);
    while (c->socks)
        sock_free(c, c->socks);
    ev_timer_stop(c->loop, &c->curl_timer);
    ev_timer_stop(c->loop, &c->kick);
    free(c->base_url);
    free(c->connect_to);
    free(c);
    curl_global_cleanup();
}
