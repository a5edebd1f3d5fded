/* evict.c: POST .../pods/<name>/eviction on the async client, answers mapped to what to do next. */
/*
 * The eviction subresource is the only way to remove a pod that respects PodDisruptionBudgets, so
 * the guard never DELETEs pods. Every request carries preconditions.uid: between choosing a victim
 * and the request arriving, the pod may have been replaced by a new one with the same name (a
 * StatefulSet does exactly that), and evicting the newcomer would punish an innocent pod.
 * Backoff is kept per UID, not per name, for the same reason. Both the in-flight list and the
 * backoff table are plain arrays/lists searched linearly: a node has at most a few hundred pods.
 */
#include "guardlet/evict.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/node.h"

/* Longest message handed to the callback; Status messages are one sentence, causes another. */
#define MESSAGE_MAX 512
/* Kubernetes names (DNS subdomains) are at most 253 characters; namespaces (labels) fewer. */
#define NAME_MAX_LEN 253
/* A UUID is 36; room for other forms without letting a caller's garbage through. */
#define UID_MAX_LEN 128

typedef struct pending {
    struct pending *prev, *next;
    gl_evictor *ev;
    gl_kube_req *req;
    char *uid;
    gl_evict_cb cb;
    void *userdata;
} pending;

typedef struct {
    char *uid;
    unsigned failures; /* answers in a row that were not OK or GONE */
    uint64_t next_usec;
} backoff;

struct gl_evictor {
    gl_kube_client *client;
    pending *head;
    size_t n_pending;
    backoff *bo;
    size_t n_bo, cap_bo;
    unsigned server_failures; /* consecutive answers about the server */
    uint64_t server_next_usec;
};

const char *gl_evict_result_name(gl_evict_result r) {
    switch (r) {
    case GL_EVICT_OK:
        return "ok";
    case GL_EVICT_BLOCKED:
        return "blocked";
    case GL_EVICT_GONE:
        return "gone";
    case GL_EVICT_RETRY:
        return "retry";
    case GL_EVICT_FAILED:
        return "failed";
    }
    return "unknown";
}

int gl_evictor_new(gl_kube_client *client, gl_evictor **out) {
    if (!client || !out)
        return -EINVAL;
    gl_evictor *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return -ENOMEM;
    ev->client = client;
    *out = ev;
    return 0;
}

size_t gl_evictor_pending(const gl_evictor *ev) {
    return ev ? ev->n_pending : 0;
}

/* ---------------------------------------------------------------- backoff */

static backoff *bo_find(const gl_evictor *ev, const char *uid) {
    for (size_t i = 0; i < ev->n_bo; i++)
        if (strcmp(ev->bo[i].uid, uid) == 0)
            return &ev->bo[i];
    return NULL;
}

static void bo_remove(gl_evictor *ev, backoff *b) {
    free(b->uid);
    *b = ev->bo[--ev->n_bo]; /* order does not matter */
}

void gl_evictor_forget(gl_evictor *ev, const char *uid) {
    if (!ev || !uid)
        return;
    backoff *b = bo_find(ev, uid);
    if (b)
        bo_remove(ev, b);
}

uint64_t gl_evictor_retry_after(const gl_evictor *ev, const char *uid, uint64_t now_usec) {
    const backoff *b = (ev && uid) ? bo_find(ev, uid) : NULL;
    uint64_t t = (b && b->next_usec > now_usec) ? b->next_usec : now_usec;
    if (ev && ev->server_next_usec > t)
        t = ev->server_next_usec;
    return t;
}

/* One more answer about the server: everyone waits. */
static void server_fail(gl_evictor *ev, uint64_t now_usec) {
    uint64_t delay = GL_EVICT_SERVER_BACKOFF_MAX_USEC;
    ev->server_failures++;
    if (ev->server_failures <= 6)
        delay = GL_EVICT_SERVER_BACKOFF_MIN_USEC << (ev->server_failures - 1);
    if (delay > GL_EVICT_SERVER_BACKOFF_MAX_USEC)
        delay = GL_EVICT_SERVER_BACKOFF_MAX_USEC;
    ev->server_next_usec = now_usec + delay;
}

/* One more failure for uid. Out of memory only loses the backoff (the next try may come
 * sooner), which is better than failing the report of an answer that did arrive. */
static void bo_fail(gl_evictor *ev, const char *uid, uint64_t now_usec) {
    backoff *b = bo_find(ev, uid);
    if (!b) {
        if (ev->n_bo == GL_EVICT_BACKOFF_MAX_ENTRIES) {
            size_t oldest = 0;
            for (size_t i = 1; i < ev->n_bo; i++)
                if (ev->bo[i].next_usec < ev->bo[oldest].next_usec)
                    oldest = i;
            bo_remove(ev, &ev->bo[oldest]);
        }
        if (ev->n_bo == ev->cap_bo) {
            size_t cap = ev->cap_bo ? ev->cap_bo * 2 : 16;
            backoff *nb = realloc(ev->bo, cap * sizeof(*nb));
            if (!nb)
                return;
            ev->bo = nb;
            ev->cap_bo = cap;
        }
        char *copy = strdup(uid);
        if (!copy)
            return;
        b = &ev->bo[ev->n_bo++];
        *b = (backoff){.uid = copy};
    }
    b->failures++;
    uint64_t delay = GL_EVICT_BACKOFF_MAX_USEC;
    /* 5 s << 6 is already past the cap; the bound also keeps the shift defined. */
    if (b->failures <= 6)
        delay = GL_EVICT_BACKOFF_MIN_USEC << (b->failures - 1);
    if (delay > GL_EVICT_BACKOFF_MAX_USEC)
        delay = GL_EVICT_BACKOFF_MAX_USEC;
    b->next_usec = now_usec + delay;
}

/* ---------------------------------------------------------------- answers */

static gl_evict_result classify(long status, int err) {
    if (err != 0)
        return GL_EVICT_RETRY;
    if (status == 200 || status == 201)
        return GL_EVICT_OK;
    if (status == 429)
        return GL_EVICT_BLOCKED;
    /* 409 can only be our uid precondition: it is the only precondition we send. */
    if (status == 404 || status == 409)
        return GL_EVICT_GONE;
    /* 408 is the server timing out on us: as transient as our own timeout. */
    if (status >= 500 || status == 408)
        return GL_EVICT_RETRY;
    return GL_EVICT_FAILED;
}

/* The Status's message, and for a budget its first cause (which names the budget and its counts:
 * the part an operator needs). Control characters become spaces so that the text stays one line
 * in whatever log the caller writes it to. */
static void status_message(long status, const char *body, size_t len, char *out, size_t size) {
    out[0] = '\0';
    json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(root, "message"));
    json_t *causes = json_object_get(json_object_get(root, "details"), "causes");
    const char *cause = json_string_value(json_object_get(json_array_get(causes, 0), "message"));
    if (msg && msg[0] && cause && cause[0])
        snprintf(out, size, "%s (%s)", msg, cause);
    else if (msg && msg[0])
        snprintf(out, size, "HTTP %ld: %s", status, msg);
    else if (status < 200 || status > 299)
        snprintf(out, size, "HTTP %ld without a Status message", status);
    json_decref(root);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

static void pending_unlink(gl_evictor *ev, pending *p) {
    if (p->prev)
        p->prev->next = p->next;
    else
        ev->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    ev->n_pending--;
}

static void on_done(long status, const char *body, size_t len, int err, const char *errmsg,
                    void *userdata) {
    pending *p = userdata;
    gl_evictor *ev = p->ev;
    pending_unlink(ev, p);

    gl_evict_result r = classify(status, err);
    char msg[MESSAGE_MAX];
    if (err != 0)
        snprintf(msg, sizeof(msg), "%s", errmsg && errmsg[0] ? errmsg : strerror(-err));
    else
        status_message(status, body, len, msg, sizeof(msg));

    /* The backoff is settled before the callback so that it can already plan the next try. */
    if (r != GL_EVICT_RETRY) {
        ev->server_failures = 0;
        ev->server_next_usec = 0;
    }
    switch (r) {
    case GL_EVICT_OK:
    case GL_EVICT_GONE: /* nothing more to do for this uid: success resets, gone forgets */
        gl_evictor_forget(ev, p->uid);
        break;
    case GL_EVICT_RETRY:
        server_fail(ev, gl_now_usec());
        break;
    case GL_EVICT_BLOCKED:
    case GL_EVICT_FAILED:
        bo_fail(ev, p->uid, gl_now_usec());
        break;
    }
    p->cb(r, err ? 0 : status, msg, p->userdata);
    free(p->uid);
    free(p);
}

/* ---------------------------------------------------------------- requests */

/* UIDs are UUIDs; printable ASCII is all we accept, so the body is valid JSON (jansson refuses
 * bad UTF-8, which would otherwise look like running out of memory). */
static bool valid_uid(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > UID_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Lowercase letters, digits, '-' and '.', as DNS subdomains: what the API accepts for namespaces
 * and pod names, and nothing that would need escaping in a URL path. */
static bool valid_name(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > NAME_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '.'))
            return false;
    return strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

static char *eviction_body(const char *ns, const char *name, const char *uid,
                           int64_t grace_seconds) {
    json_t *root =
        json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:I, s:{s:s}}}", "apiVersion", "policy/v1", "kind",
                  "Eviction", "metadata", "name", name, "namespace", ns, "deleteOptions",
                  "gracePeriodSeconds", (json_int_t)grace_seconds, "preconditions", "uid", uid);
    if (!root)
        return NULL;
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return s;
}

int gl_evict(gl_evictor *ev, const char *ns, const char *name, const char *uid,
             int64_t grace_seconds, gl_evict_cb on_result, void *userdata) {
    if (!ev || !valid_name(ns) || !valid_name(name) || !valid_uid(uid) || grace_seconds < 0 ||
        !on_result)
        return -EINVAL;
    for (const pending *q = ev->head; q; q = q->next)
        if (strcmp(q->uid, uid) == 0)
            return -EALREADY;

    char *path = NULL;
    if (asprintf(&path, "/api/v1/namespaces/%s/pods/%s/eviction", ns, name) < 0)
        return -ENOMEM;
    char *body = eviction_body(ns, name, uid, grace_seconds);
    pending *p = calloc(1, sizeof(*p));
    char *uid_copy = strdup(uid);
    int r = -ENOMEM;
    if (body && p && uid_copy) {
        *p = (pending){.ev = ev, .uid = uid_copy, .cb = on_result, .userdata = userdata};
        r = gl_kube_request(ev->client, "POST", path, "application/json", body, strlen(body),
                            GL_EVICT_TIMEOUT_MS, on_done, p, &p->req);
    }
    free(path);
    free(body);
    if (r < 0) {
        free(uid_copy);
        free(p);
        return r;
    }
    /* on_done never runs inside gl_kube_request(), so linking after it is safe. */
    p->next = ev->head;
    if (ev->head)
        ev->head->prev = p;
    ev->head = p;
    ev->n_pending++;
    return 0;
}

void gl_evictor_free(gl_evictor *ev) {
    if (!ev)
        return;
    for (pending *p = ev->head, *next; p; p = next) {
        next = p->next;
        gl_kube_cancel(p->req);
        free(p->uid);
        free(p);
    }
    for (size_t i = 0; i < ev->n_bo; i++)
        free(ev->bo[i].uid);
    free(ev->bo);
    free(ev);
}
