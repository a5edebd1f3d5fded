/* podwatch.c: list + watch of the pods bound to this node, kept as a cache keyed by UID. */
/*
 * The reflector pattern of client-go, reduced to one resource: list, remember the list's
 * resourceVersion, watch from it with bookmarks on, and follow every event's resourceVersion. A
 * watch that ends cleanly resumes from where it was; a 410 (the version is too old for the
 * server's watch cache) forces a re-list, which replaces the cache wholesale; any failure retries
 * with exponential backoff and jitter. A node runs at most a few hundred pods, so the cache is a
 * plain array searched linearly: simpler than a hash table and as fast at this size.
 */
#include "guardlet/kube.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A list answer must come within this long; the pods of one node are small. */
#define LIST_TIMEOUT_MS 60000
/* The client-side limit on a watch: the server ends it at GL_KUBE_WATCH_TIMEOUT_SEC; this only
 * catches a server that never does. */
#define WATCH_CLIENT_TIMEOUT_MS ((GL_KUBE_WATCH_TIMEOUT_SEC + 30) * 1000L)
/* A watch that ends cleanly sooner than this without an event is treated as a failure, so that a
 * server closing every watch at once cannot make us spin. */
#define WATCH_MIN_HEALTHY_SEC 1.0

typedef enum { STATE_IDLE, STATE_LISTING, STATE_WATCHING, STATE_WAITING } watch_state;

struct gl_kube_podwatch {
    gl_kube_client *client;
    struct ev_loop *loop;
    char *node;
    gl_kube_podwatch_cb cb;
    void *userdata;
    gl_kube_pod **pods;
    size_t n, cap;
    char *rv; /* resourceVersion to resume from; "" before the first list */
    gl_kube_req *req;
    ev_timer retry;
    bool retry_list; /* what the retry timer starts: a list, or a watch */
    double backoff_sec;
    watch_state state;
    bool relist_needed;
    bool watch_had_event;
    double watch_started;
    unsigned seed;
    gl_kube_podwatch_stats stats;
};

static void do_list(gl_kube_podwatch *w);
static void do_watch(gl_kube_podwatch *w);

/* Records a failure for the owner's reports (see gl_kube_podwatch_stats). */
__attribute__((format(printf, 3, 4))) static void note_failure(gl_kube_podwatch *w, int code,
                                                               const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->stats.last_err_msg, sizeof(w->stats.last_err_msg), fmt, ap);
    va_end(ap);
    w->stats.last_err = code;
    if (!w->stats.failing)
        w->stats.outages++;
    w->stats.failing = true;
}

/* What a failed request amounts to: libcurl's message, or the HTTP status and the Status
 * object's message when the server sent one. */
static void describe_answer(char *buf, size_t size, long status, const char *body, size_t len,
                            int err, const char *errmsg) {
    if (err) {
        snprintf(buf, size, "%s", errmsg && errmsg[0] ? errmsg : strerror(-err));
        return;
    }
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(root, "message"));
    snprintf(buf, size, "HTTP %ld%s%.160s", status, msg ? ": " : "", msg ? msg : "");
    json_decref(root);
}

static ssize_t find_index(const gl_kube_podwatch *w, const char *uid) {
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->pods[i]->uid, uid) == 0)
            return (ssize_t)i;
    return -1;
}

static int set_rv(gl_kube_podwatch *w, const char *rv) {
    if (!rv || !rv[0])
        return 0;
    char *copy = strdup(rv);
    if (!copy)
        return -ENOMEM;
    free(w->rv);
    w->rv = copy;
    return 0;
}

static void schedule_retry(gl_kube_podwatch *w, bool list) {
    /* Jitter to [b/2, b]: spread, yet never much faster than the intended pace. */
    double b = w->backoff_sec;
    double delay = b / 2 + (b / 2) * ((double)rand_r(&w->seed) / (double)RAND_MAX);
    w->backoff_sec = b * 2 > GL_KUBE_BACKOFF_MAX_SEC ? GL_KUBE_BACKOFF_MAX_SEC : b * 2;
    w->retry_list = list;
    w->state = STATE_WAITING;
    ev_timer_stop(w->loop, &w->retry);
    ev_timer_set(&w->retry, delay, 0.);
    ev_timer_start(w->loop, &w->retry);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents) {
    gl_kube_podwatch *w = t->data;
    (void)loop;
    (void)revents;
    if (w->retry_list)
        do_list(w);
    else
        do_watch(w);
}

/* ---------------------------------------------------------------- list */

/* Installs a freshly listed set of pods and reports the differences. Takes ownership of pods. */
static void replace_cache(gl_kube_podwatch *w, gl_kube_pod **pods, size_t n, size_t cap) {
    gl_kube_pod **old = w->pods;
    size_t old_n = w->n;
    w->pods = pods;
    w->n = n;
    w->cap = cap;
    for (size_t i = 0; i < n; i++) {
        const gl_kube_pod *was = NULL;
        for (size_t j = 0; j < old_n; j++)
            if (old[j] && strcmp(old[j]->uid, pods[i]->uid) == 0) {
                was = old[j];
                break;
            }
        if (!was)
            w->cb(w, GL_KUBE_POD_ADDED, pods[i], w->userdata);
        else if (!was->resource_version || !pods[i]->resource_version ||
                 strcmp(was->resource_version, pods[i]->resource_version) != 0)
            w->cb(w, GL_KUBE_POD_UPDATED, pods[i], w->userdata);
    }
    for (size_t j = 0; j < old_n; j++) {
        if (find_index(w, old[j]->uid) < 0)
            w->cb(w, GL_KUBE_POD_DELETED, old[j], w->userdata);
        gl_kube_pod_free(old[j]);
    }
    free(old);
}

/* Decodes a PodList. Returns 0 with the pods and the list's resourceVersion set, or -errno. */
static int take_list(gl_kube_podwatch *w, const char *body, size_t len) {
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (!root)
        return -EBADMSG;
    int r = -EBADMSG;
    json_t *items = json_object_get(root, "items");
    const char *rv =
        json_string_value(json_object_get(json_object_get(root, "metadata"), "resourceVersion"));
    gl_kube_pod **pods = NULL;
    size_t n = 0;
    if (!json_is_array(items) || !rv || !rv[0])
        goto out;
    size_t cap = json_array_size(items) ? json_array_size(items) : 1;
    if (!(pods = calloc(cap, sizeof(*pods)))) {
        r = -ENOMEM;
        goto out;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        gl_kube_pod *p = NULL;
        char err[256];
        int d = gl_kube_pod_decode(item, &p, err, sizeof(err));
        if (d == -ENOMEM) {
            r = d;
            goto out;
        }
        /* One bad pod must not blind us to the others; two items with one UID cannot both be
         * right, so the later one wins as it would in an event stream. */
        if (d < 0) {
            w->stats.malformed++;
            snprintf(w->stats.last_malformed_msg, sizeof(w->stats.last_malformed_msg),
                     "pod in a list: %.200s", err);
            continue;
        }
        ssize_t dup = -1;
        for (size_t k = 0; k < n; k++)
            if (strcmp(pods[k]->uid, p->uid) == 0)
                dup = (ssize_t)k;
        if (dup >= 0) {
            gl_kube_pod_free(pods[dup]);
            pods[dup] = p;
        } else {
            pods[n++] = p;
        }
    }
    if ((r = set_rv(w, rv)) < 0)
        goto out;
    replace_cache(w, pods, n, cap);
    pods = NULL;
    r = 0;
out:
    if (pods) {
        for (size_t k = 0; k < n; k++)
            gl_kube_pod_free(pods[k]);
        free(pods);
    }
    json_decref(root);
    return r;
}

static void on_list_done(long status, const char *body, size_t len, int err, const char *errmsg,
                         void *userdata) {
    gl_kube_podwatch *w = userdata;
    char why[200];
    w->req = NULL;
    int r = err;
    if (r == 0 && status != 200)
        r = (int)status;
    if (r != 0) {
        describe_answer(why, sizeof(why), status, body, len, err, errmsg);
        note_failure(w, r, "listing pods: %s", why);
    } else if ((r = take_list(w, body, len)) != 0) {
        note_failure(w, r, "listing pods: the answer is not a PodList (%s)",
                     r == -ENOMEM ? "out of memory" : "malformed JSON or no items/resourceVersion");
    }
    if (r != 0) {
        w->stats.list_failures++;
        schedule_retry(w, true);
        return;
    }
    w->stats.lists++;
    w->stats.synced = true;
    w->stats.failing = false;
    w->backoff_sec = GL_KUBE_BACKOFF_MIN_SEC;
    w->cb(w, GL_KUBE_POD_SYNCED, NULL, w->userdata);
    do_watch(w);
}

static void do_list(gl_kube_podwatch *w) {
    char *path = NULL;
    w->relist_needed = false;
    if (asprintf(&path, "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s", w->node) < 0) {
        note_failure(w, -ENOMEM, "listing pods: out of memory");
        schedule_retry(w, true);
        return;
    }
    int r = gl_kube_request(w->client, "GET", path, NULL, NULL, 0, LIST_TIMEOUT_MS, on_list_done, w,
                            &w->req);
    free(path);
    if (r < 0) {
        note_failure(w, r, "listing pods: cannot start the request: %s", strerror(-r));
        schedule_retry(w, true);
        return;
    }
    w->state = STATE_LISTING;
}

/* ---------------------------------------------------------------- watch */

static void apply_event(gl_kube_podwatch *w, const gl_kube_watch_event *ev) {
    gl_kube_pod *p = NULL;
    char err[256];
    if (gl_kube_pod_decode(ev->object, &p, err, sizeof(err)) < 0) {
        w->stats.malformed++;
        snprintf(w->stats.last_malformed_msg, sizeof(w->stats.last_malformed_msg),
                 "pod in a watch event: %.200s", err);
        return;
    }
    ssize_t i = find_index(w, p->uid);
    w->stats.events++;
    if (ev->type == GL_KUBE_EVENT_DELETED) {
        if (i >= 0) {
            gl_kube_pod *gone = w->pods[i];
            w->pods[i] = w->pods[--w->n];
            gl_kube_pod_free(p);
            w->cb(w, GL_KUBE_POD_DELETED, gone, w->userdata);
            gl_kube_pod_free(gone);
        } else {
            gl_kube_pod_free(p);
        }
        return;
    }
    if (i >= 0) {
        gl_kube_pod_free(w->pods[i]);
        w->pods[i] = p;
        w->cb(w, GL_KUBE_POD_UPDATED, p, w->userdata);
        return;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        gl_kube_pod **np = realloc(w->pods, cap * sizeof(*np));
        if (!np) {
            /* The cache would lie from now on: start over once the stream ends. */
            gl_kube_pod_free(p);
            w->relist_needed = true;
            return;
        }
        w->pods = np;
        w->cap = cap;
    }
    w->pods[w->n++] = p;
    w->cb(w, GL_KUBE_POD_ADDED, p, w->userdata);
}

static int on_watch_line(const char *line, size_t len, void *userdata) {
    gl_kube_podwatch *w = userdata;
    gl_kube_watch_event ev;
    char err[256];
    if (gl_kube_watch_event_decode(line, len, &ev, err, sizeof(err)) < 0) {
        w->stats.malformed++;
        snprintf(w->stats.last_malformed_msg, sizeof(w->stats.last_malformed_msg),
                 "watch line: %.200s", err);
        return 0;
    }
    w->watch_had_event = true;
    w->stats.failing = false;
    switch (ev.type) {
    case GL_KUBE_EVENT_ERROR:
        note_failure(w, ev.error_code ? (int)ev.error_code : -EPROTO,
                     "watching pods: ERROR event, code %ld%s", (long)ev.error_code,
                     ev.expired ? " (resourceVersion expired)" : "");
        if (ev.expired) {
            w->stats.expired++;
            w->relist_needed = true;
            gl_kube_watch_event_clear(&ev);
            return 1;
        }
        break;
    case GL_KUBE_EVENT_BOOKMARK:
        w->stats.bookmarks++;
        set_rv(w, ev.resource_version);
        break;
    default:
        apply_event(w, &ev);
        /* Even an event we could not use moved the stream on. */
        set_rv(w, ev.resource_version);
        break;
    }
    gl_kube_watch_event_clear(&ev);
    return 0;
}

static void on_watch_done(long status, const char *body, size_t len, int err, const char *errmsg,
                          void *userdata) {
    gl_kube_podwatch *w = userdata;
    char why[200];
    w->req = NULL;
    if (w->relist_needed || status == 410) {
        if (status == 410)
            w->stats.expired++;
        do_list(w);
        return;
    }
    bool clean = err == 0 && status >= 200 && status < 300;
    bool healthy =
        w->watch_had_event || ev_now(w->loop) - w->watch_started >= WATCH_MIN_HEALTHY_SEC;
    if (clean && healthy) {
        w->backoff_sec = GL_KUBE_BACKOFF_MIN_SEC;
        do_watch(w);
        return;
    }
    if (w->watch_had_event)
        w->backoff_sec = GL_KUBE_BACKOFF_MIN_SEC;
    w->stats.reconnects++;
    if (clean)
        snprintf(why, sizeof(why), "the server ended the watch after %.1f s without an event",
                 ev_now(w->loop) - w->watch_started);
    else
        describe_answer(why, sizeof(why), status, body, len, err, errmsg);
    note_failure(w, err ? err : (int)status, "watching pods: %s", why);
    schedule_retry(w, false);
}

/* Percent-encodes anything but unreserved characters (resourceVersions are digits in practice,
 * but they are opaque strings by contract). */
static char *url_escape(const char *s) {
    size_t n = strlen(s);
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~')
            *o++ = (char)ch;
        else
            o += sprintf(o, "%%%02X", ch);
    }
    *o = '\0';
    return out;
}

static void do_watch(gl_kube_podwatch *w) {
    char *path = NULL, *rv = url_escape(w->rv);
    if (!rv || asprintf(&path,
                        "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s&watch=1"
                        "&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%d",
                        w->node, rv, GL_KUBE_WATCH_TIMEOUT_SEC) < 0) {
        free(rv);
        note_failure(w, -ENOMEM, "watching pods: out of memory");
        schedule_retry(w, false);
        return;
    }
    free(rv);
    int r = gl_kube_stream(w->client, path, WATCH_CLIENT_TIMEOUT_MS, on_watch_line, on_watch_done,
                           w, &w->req);
    free(path);
    if (r < 0) {
        note_failure(w, r, "watching pods: cannot start the request: %s", strerror(-r));
        schedule_retry(w, false);
        return;
    }
    w->state = STATE_WATCHING;
    w->stats.watches++;
    w->watch_had_event = false;
    w->watch_started = ev_now(w->loop);
}

/* ---------------------------------------------------------------- object */

static bool node_name_ok(const char *s) {
    /* A DNS subdomain: it goes into a URL unescaped. */
    if (!s || !s[0] || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
            return false;
    return true;
}

int gl_kube_podwatch_new(gl_kube_client *client, const char *node, gl_kube_podwatch_cb cb,
                         void *userdata, gl_kube_podwatch **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!client || !cb || !node_name_ok(node))
        return -EINVAL;
    gl_kube_podwatch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->client = client;
    w->loop = gl_kube_client_loop(client);
    w->cb = cb;
    w->userdata = userdata;
    w->backoff_sec = GL_KUBE_BACKOFF_MIN_SEC;
    w->seed = (unsigned)(ev_time() * 1e6) ^ (unsigned)getpid();
    ev_init(&w->retry, on_retry);
    w->retry.data = w;
    if (!(w->node = strdup(node)) || !(w->rv = strdup(""))) {
        gl_kube_podwatch_free(w);
        return -ENOMEM;
    }
    *out = w;
    return 0;
}

int gl_kube_podwatch_start(gl_kube_podwatch *w) {
    if (!w)
        return -EINVAL;
    if (w->state != STATE_IDLE)
        return -EALREADY;
    do_list(w);
    return 0;
}

const gl_kube_pod *gl_kube_podwatch_find(const gl_kube_podwatch *w, const char *uid) {
    ssize_t i = uid ? find_index(w, uid) : -1;
    return i >= 0 ? w->pods[i] : NULL;
}

size_t gl_kube_podwatch_count(const gl_kube_podwatch *w) {
    return w->n;
}

const gl_kube_pod *gl_kube_podwatch_at(const gl_kube_podwatch *w, size_t i) {
    return i < w->n ? w->pods[i] : NULL;
}

const char *gl_kube_podwatch_resource_version(const gl_kube_podwatch *w) {
    return w->rv ? w->rv : "";
}

void gl_kube_podwatch_get_stats(const gl_kube_podwatch *w, gl_kube_podwatch_stats *out) {
    *out = w->stats;
}

void gl_kube_podwatch_free(gl_kube_podwatch *w) {
    if (!w)
        return;
    gl_kube_cancel(w->req);
    if (w->loop)
        ev_timer_stop(w->loop, &w->retry);
    for (size_t i = 0; i < w->n; i++)
        gl_kube_pod_free(w->pods[i]);
    free(w->pods);
    free(w->node);
    free(w->rv);
    free(w);
}
