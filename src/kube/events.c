/* events.c: core/v1 Events with client-go's aggregation (repeats PATCH count) and per-object
 * token-bucket rate limit, over the non-blocking API client; bounded LRU caches for both. */
#include "guardlet/events.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- keys */

/* Appends "<len>:<s>|" to a growing buffer. */
static int key_add(char **buf, size_t *len, size_t *cap, const char *s) {
    if (!s)
        s = "";
    size_t n = strlen(s);
    size_t need = *len + n + 24;
    if (need > *cap) {
        size_t nc = *cap ? *cap : 128;
        while (nc < need)
            nc *= 2;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return -ENOMEM;
        *buf = nb;
        *cap = nc;
    }
    int w = snprintf(*buf + *len, *cap - *len, "%zu:", n);
    *len += (size_t)w;
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[(*len)++] = '|';
    (*buf)[*len] = '\0';
    return 0;
}

static int build_key(const char *const *fields, size_t nfields, char **out) {
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (size_t i = 0; i < nfields; i++) {
        if (key_add(&buf, &len, &cap, fields[i]) < 0) {
            free(buf);
            return -ENOMEM;
        }
    }
    *out = buf;
    return 0;
}

int gl_events_object_key(const char *host, const gl_events_object *obj, char **out) {
    const char *f[] = {GL_EVENTS_COMPONENT, host, obj->kind, obj->namespace_, obj->name, obj->uid};
    return build_key(f, sizeof(f) / sizeof(f[0]), out);
}

int gl_events_key(const char *host, const gl_events_object *obj, const char *type,
                  const char *reason, const char *message, char **out) {
    const char *f[] = {GL_EVENTS_COMPONENT,
                       host,
                       obj->kind,
                       obj->namespace_,
                       obj->name,
                       obj->uid,
                       type,
                       reason,
                       message};
    return build_key(f, sizeof(f) / sizeof(f[0]), out);
}

/* ---------------------------------------------------------------- token bucket */

#define BUCKET_FULL_USEC ((uint64_t)GL_EVENTS_BURST * GL_EVENTS_REFILL_PERIOD_USEC)

void gl_events_bucket_init(gl_events_bucket *b, int64_t now_usec) {
    b->credit_usec = BUCKET_FULL_USEC;
    b->last_usec = now_usec;
}

bool gl_events_bucket_take(gl_events_bucket *b, int64_t now_usec) {
    if (now_usec > b->last_usec) {
        uint64_t add = (uint64_t)now_usec - (uint64_t)b->last_usec;
        b->credit_usec =
            add >= BUCKET_FULL_USEC - b->credit_usec ? BUCKET_FULL_USEC : b->credit_usec + add;
    }
    b->last_usec = now_usec;
    if (b->credit_usec < GL_EVENTS_REFILL_PERIOD_USEC)
        return false;
    b->credit_usec -= GL_EVENTS_REFILL_PERIOD_USEC;
    return true;
}

unsigned gl_events_bucket_tokens(const gl_events_bucket *b) {
    return (unsigned)(b->credit_usec / GL_EVENTS_REFILL_PERIOD_USEC);
}

/* ---------------------------------------------------------------- LRU cache */

typedef struct cache_node {
    char *key;
    uint64_t hash;
    void *value;
    struct cache_node *hnext;
    struct cache_node *prev, *next; /* LRU list: head most recent */
} cache_node;

struct gl_events_cache {
    cache_node **table;
    size_t nbuckets; /* a power of two */
    size_t size, capacity;
    cache_node *head, *tail;
    uint64_t evictions;
    gl_events_free_fn free_value;
    gl_events_pinned_fn pinned;
};

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int gl_events_cache_new(size_t capacity, gl_events_free_fn free_value, gl_events_pinned_fn pinned,
                        gl_events_cache **out) {
    if (capacity == 0 || capacity > (SIZE_MAX / 4) / sizeof(cache_node *))
        return -EINVAL;
    gl_events_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->nbuckets = 16;
    while (c->nbuckets < capacity * 2)
        c->nbuckets *= 2;
    c->table = calloc(c->nbuckets, sizeof(*c->table));
    if (!c->table) {
        free(c);
        return -ENOMEM;
    }
    c->capacity = capacity;
    c->free_value = free_value;
    c->pinned = pinned;
    *out = c;
    return 0;
}

static void lru_unlink(gl_events_cache *c, cache_node *n) {
    if (n->prev)
        n->prev->next = n->next;
    else
        c->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        c->tail = n->prev;
    n->prev = n->next = NULL;
}

static void lru_push_front(gl_events_cache *c, cache_node *n) {
    n->prev = NULL;
    n->next = c->head;
    if (c->head)
        c->head->prev = n;
    c->head = n;
    if (!c->tail)
        c->tail = n;
}

static cache_node *cache_find(const gl_events_cache *c, const char *key, uint64_t h) {
    for (cache_node *n = c->table[h & (c->nbuckets - 1)]; n; n = n->hnext)
        if (n->hash == h && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

/* Unlinks n from the table and the list and frees it (and its value). */
static void cache_drop(gl_events_cache *c, cache_node *n) {
    cache_node **pp = &c->table[n->hash & (c->nbuckets - 1)];
    while (*pp != n)
        pp = &(*pp)->hnext;
    *pp = n->hnext;
    lru_unlink(c, n);
    c->size--;
    void *value = n->value;
    free(n->key);
    free(n);
    if (c->free_value)
        c->free_value(value);
}

void *gl_events_cache_get(gl_events_cache *c, const char *key) {
    cache_node *n = cache_find(c, key, fnv1a(key));
    if (!n)
        return NULL;
    lru_unlink(c, n);
    lru_push_front(c, n);
    return n->value;
}

int gl_events_cache_put(gl_events_cache *c, const char *key, void *value) {
    uint64_t h = fnv1a(key);
    cache_node *n = cache_find(c, key, h);
    if (n) {
        void *old = n->value;
        n->value = value;
        lru_unlink(c, n);
        lru_push_front(c, n);
        if (old != value && c->free_value)
            c->free_value(old);
        return 0;
    }
    if (c->size >= c->capacity) {
        cache_node *victim = c->tail;
        while (victim && c->pinned && c->pinned(victim->value))
            victim = victim->prev;
        if (!victim)
            return -ENOSPC;
        cache_drop(c, victim);
        c->evictions++;
    }
    n = calloc(1, sizeof(*n));
    if (!n)
        return -ENOMEM;
    n->key = strdup(key);
    if (!n->key) {
        free(n);
        return -ENOMEM;
    }
    n->hash = h;
    n->value = value;
    size_t b = h & (c->nbuckets - 1);
    n->hnext = c->table[b];
    c->table[b] = n;
    lru_push_front(c, n);
    c->size++;
    return 0;
}

bool gl_events_cache_remove(gl_events_cache *c, const char *key) {
    cache_node *n = cache_find(c, key, fnv1a(key));
    if (!n)
        return false;
    cache_drop(c, n);
    return true;
}

size_t gl_events_cache_size(const gl_events_cache *c) {
    return c->size;
}

uint64_t gl_events_cache_evictions(const gl_events_cache *c) {
    return c->evictions;
}

void gl_events_cache_free(gl_events_cache *c) {
    if (!c)
        return;
    while (c->head)
        cache_drop(c, c->head);
    free(c->table);
    free(c);
}

/* ---------------------------------------------------------------- the recorder */

typedef enum { OP_NONE, OP_POST, OP_PATCH } agg_op;

typedef struct {
    gl_events *owner;
    char *key;     /* the aggregation key (this entry's key in the cache) */
    char *path;    /* the events collection: /api/v1/namespaces/<ns>/events */
    char *name;    /* the Event's name */
    json_t *event; /* the Event as first posted, without count and timestamps */
    uint64_t count;
    int64_t first_usec, last_usec;
    gl_kube_req *req;
    agg_op op;
    bool dirty; /* count changed since the request in flight was sent */
    /* Waiting to be sent again (the API server was away): what to send, and when. */
    ev_timer retry;
    ev_tstamp born; /* loop time of the first emit: how long it may keep trying */
    bool retrying;
    agg_op retry_op;
    uint64_t retry_delay_usec;
} agg_entry;

struct gl_events {
    gl_kube_client *client;
    char *host;
    gl_events_cache *agg;     /* aggregation key -> agg_entry */
    gl_events_cache *buckets; /* object key -> gl_events_bucket */
    size_t in_flight;
    size_t retrying; /* entries waiting on their retry timer */
    uint64_t seq;
    gl_events_stats stats;
};

static void agg_entry_free(void *value) {
    agg_entry *e = value;
    if (!e)
        return;
    if (e->req) {
        gl_kube_cancel(e->req);
        e->owner->in_flight--;
    }
    if (e->retrying) {
        ev_timer_stop(gl_kube_client_loop(e->owner->client), &e->retry);
        e->owner->retrying--;
    }
    free(e->key);
    free(e->path);
    free(e->name);
    json_decref(e->event);
    free(e);
}

static bool agg_entry_pinned(const void *value) {
    const agg_entry *e = value;
    return e->req != NULL || e->retrying;
}

int gl_events_new(gl_kube_client *client, const char *host, gl_events **out) {
    if (!client || !host || !*host || !out)
        return -EINVAL;
    gl_events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return -ENOMEM;
    ev->client = client;
    ev->host = strdup(host);
    if (!ev->host ||
        gl_events_cache_new(GL_EVENTS_CACHE_MAX, agg_entry_free, agg_entry_pinned, &ev->agg) < 0 ||
        gl_events_cache_new(GL_EVENTS_CACHE_MAX, free, NULL, &ev->buckets) < 0) {
        gl_events_free(ev);
        return -ENOMEM;
    }
    *out = ev;
    return 0;
}

void gl_events_free(gl_events *ev) {
    if (!ev)
        return;
    gl_events_cache_free(ev->agg);
    gl_events_cache_free(ev->buckets);
    free(ev->host);
    free(ev);
}

size_t gl_events_in_flight(const gl_events *ev) {
    return ev->in_flight;
}

void gl_events_get_stats(const gl_events *ev, gl_events_stats *out) {
    *out = ev->stats;
    out->cache_evictions = gl_events_cache_evictions(ev->agg);
}

static void fmt_time(int64_t usec, char *buf, size_t size) {
    time_t t = (time_t)(usec / 1000000);
    struct tm tm;
    if (usec < 0 || !gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "1970-01-01T00:00:00Z");
}

/* Names and namespaces go into URL paths: lower-case DNS subdomain characters only. */
static bool dns_chars(const char *s) {
    if (!s || !*s || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '-'))
            return false;
    return true;
}

static void on_done(long status, const char *body, size_t len, int err, const char *errmsg,
                    void *userdata);

static int send_req(agg_entry *e, agg_op op) {
    gl_events *ev = e->owner;
    char first[32], last[32];
    fmt_time(e->first_usec, first, sizeof(first));
    fmt_time(e->last_usec, last, sizeof(last));
    json_t *body;
    char *path = NULL;
    const char *ctype;
    if (op == OP_POST) {
        body = json_deep_copy(e->event);
        if (body && (json_object_set_new(body, "count", json_integer((json_int_t)e->count)) < 0 ||
                     json_object_set_new(body, "firstTimestamp", json_string(first)) < 0 ||
                     json_object_set_new(body, "lastTimestamp", json_string(last)) < 0)) {
            json_decref(body);
            body = NULL;
        }
        ctype = "application/json";
    } else {
        body = json_pack("{s:I,s:s}", "count", (json_int_t)e->count, "lastTimestamp", last);
        if (asprintf(&path, "%s/%s", e->path, e->name) < 0)
            path = NULL;
        ctype = "application/merge-patch+json";
    }
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int rc = -ENOMEM;
    if (text && (op == OP_POST || path)) {
        rc = gl_kube_request(ev->client, op == OP_POST ? "POST" : "PATCH",
                             op == OP_POST ? e->path : path, ctype, text, strlen(text),
                             GL_EVENTS_TIMEOUT_MS, on_done, e, &e->req);
    }
    free(text);
    free(path);
    if (rc < 0) {
        e->req = NULL;
        return rc;
    }
    e->op = op;
    e->dirty = false;
    ev->in_flight++;
    return 0;
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents) {
    agg_entry *e = t->data;
    (void)loop;
    (void)revents;
    e->retrying = false;
    e->owner->retrying--;
    e->owner->stats.retries++;
    if (send_req(e, e->retry_op) < 0) {
        e->owner->stats.failures++;
        gl_events_cache_remove(e->owner->agg, e->key);
    }
}

/* No answer, or one that says "not now" about the server rather than about the event. */
static bool transient(long status, int err) {
    return err != 0 || status >= 500 || status == 429 || status == 408;
}

/* Schedules op to be sent again; false when the event is too old or too many are waiting. */
static bool schedule_retry(agg_entry *e, agg_op op) {
    gl_events *ev = e->owner;
    struct ev_loop *loop = gl_kube_client_loop(ev->client);
    if ((ev_now(loop) - e->born) * 1e6 > (double)GL_EVENTS_RETRY_MAX_AGE_USEC ||
        ev->retrying >= GL_EVENTS_RETRY_MAX_PENDING)
        return false;
    e->retry_delay_usec = e->retry_delay_usec ? e->retry_delay_usec * 2 : GL_EVENTS_RETRY_MIN_USEC;
    if (e->retry_delay_usec > GL_EVENTS_RETRY_MAX_USEC)
        e->retry_delay_usec = GL_EVENTS_RETRY_MAX_USEC;
    e->retry_op = op;
    e->retrying = true;
    ev->retrying++;
    ev_timer_init(&e->retry, on_retry, (ev_tstamp)e->retry_delay_usec / 1e6, 0.);
    e->retry.data = e;
    ev_timer_start(loop, &e->retry);
    return true;
}

static void on_done(long status, const char *body, size_t len, int err, const char *errmsg,
                    void *userdata) {
    agg_entry *e = userdata;
    gl_events *ev = e->owner;
    (void)body;
    (void)len;
    (void)errmsg;
    agg_op op = e->op;
    e->req = NULL;
    e->op = OP_NONE;
    ev->in_flight--;
    int rc;
    if (err == 0 && status >= 200 && status < 300) {
        e->retry_delay_usec = 0;
        if (op == OP_POST)
            ev->stats.posts++;
        else
            ev->stats.patches++;
        if (!e->dirty)
            return;
        rc = send_req(e, OP_PATCH);
    } else if (err == 0 && status == 404 && op == OP_PATCH) {
        /* The Event is gone (expired or deleted): create it again with the count so far. */
        rc = send_req(e, OP_POST);
    } else if (err == 0 && status == 409 && op == OP_POST) {
        /* A POST sent again after its answer was lost: the Event is there; bring its count up. */
        rc = send_req(e, OP_PATCH);
    } else {
        ev->stats.failures++;
        ev->stats.last_err = err ? err : (int)status;
        if (transient(status, err)) {
            if (schedule_retry(e, op))
                return;
            ev->stats.dropped_retry++;
        }
        rc = -EIO;
    }
    if (rc < 0) {
        if (rc != -EIO) {
            ev->stats.failures++;
            ev->stats.last_err = rc;
        }
        /* Forget it: the next emit of this key starts a new Event. */
        gl_events_cache_remove(ev->agg, e->key);
    }
}

/* A new entry for key, the Event built; NULL on ENOMEM. */
static agg_entry *entry_new(gl_events *ev, const char *key, const gl_events_object *obj,
                            const char *ns, const char *type, const char *reason,
                            const char *message, int64_t now) {
    agg_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->owner = ev;
    e->born = ev_now(gl_kube_client_loop(ev->client));
    e->count = 1;
    e->first_usec = e->last_usec = now;
    uint64_t stamp = (uint64_t)(now > 0 ? now : 0) * 1000u + (ev->seq++ % 1000u);
    int namelen = (int)strlen(obj->name);
    if (namelen > 253 - 17)
        namelen = 253 - 17;
    size_t mlen = strlen(message);
    if (mlen > GL_EVENTS_MESSAGE_MAX) {
        mlen = GL_EVENTS_MESSAGE_MAX;
        while (mlen > 0 && ((unsigned char)message[mlen] & 0xC0) == 0x80)
            mlen--;
    }
    e->key = strdup(key);
    if (!e->key || asprintf(&e->path, "/api/v1/namespaces/%s/events", ns) < 0)
        e->path = NULL;
    if (!e->path ||
        asprintf(&e->name, "%.*s.%llx", namelen, obj->name, (unsigned long long)stamp) < 0)
        e->name = NULL;
    json_t *io = e->name ? json_pack("{s:s,s:s,s:s}", "apiVersion", "v1", "kind", obj->kind, "name",
                                     obj->name)
                         : NULL;
    if (io && strcmp(obj->kind, "Pod") == 0 &&
        json_object_set_new(io, "namespace", json_string(obj->namespace_)) < 0) {
        json_decref(io);
        io = NULL;
    }
    if (io && obj->uid && *obj->uid && json_object_set_new(io, "uid", json_string(obj->uid)) < 0) {
        json_decref(io);
        io = NULL;
    }
    if (io)
        e->event =
            json_pack("{s:s,s:s,s:{s:s,s:s},s:o,s:s,s:s%,s:s,s:{s:s,s:s},s:s,s:s}", "apiVersion",
                      "v1", "kind", "Event", "metadata", "name", e->name, "namespace", ns,
                      "involvedObject", io, "reason", reason, "message", message, mlen, "type",
                      type, "source", "component", GL_EVENTS_COMPONENT, "host", ev->host,
                      "reportingComponent", GL_EVENTS_COMPONENT, "reportingInstance", ev->host);
    if (!e->event) {
        e->owner = NULL;
        free(e->key);
        free(e->path);
        free(e->name);
        free(e);
        return NULL;
    }
    return e;
}

int gl_events_emit(gl_events *ev, const gl_events_object *obj, const char *type, const char *reason,
                   const char *message, int64_t now_realtime_usec) {
    if (!ev || !obj || !obj->kind || !type || !reason || !*reason || !message)
        return -EINVAL;
    bool is_pod = strcmp(obj->kind, "Pod") == 0;
    if (!is_pod && strcmp(obj->kind, "Node") != 0)
        return -EINVAL;
    if (strcmp(type, "Normal") != 0 && strcmp(type, "Warning") != 0)
        return -EINVAL;
    if (!dns_chars(obj->name) || (is_pod && !dns_chars(obj->namespace_)))
        return -EINVAL;
    /* Jansson refuses invalid UTF-8; so would the API server. */
    json_t *probe = json_pack("[s,s]", reason, message);
    if (!probe)
        return -EINVAL;
    json_decref(probe);
    gl_events_object o = *obj;
    if (!is_pod)
        o.namespace_ = NULL;
    const char *ns = is_pod ? o.namespace_ : "default";
    int64_t now = now_realtime_usec;

    char *key = NULL, *okey = NULL;
    if (gl_events_key(ev->host, &o, type, reason, message, &key) < 0 ||
        gl_events_object_key(ev->host, &o, &okey) < 0) {
        free(key);
        return -ENOMEM;
    }
    int rc = 0;
    agg_entry *e = gl_events_cache_get(ev->agg, key);
    /* In flight or waiting to be sent again: the repeat rides along in the count. */
    bool fold = e && (e->req || e->retrying);
    bool repeat = e && (fold || now - e->last_usec <= GL_EVENTS_AGGREGATE_WINDOW_USEC);
    if (!fold && ev->in_flight >= GL_EVENTS_MAX_IN_FLIGHT) {
        ev->stats.dropped_busy++;
        rc = -EBUSY;
        goto out;
    }
    gl_events_bucket *b = gl_events_cache_get(ev->buckets, okey);
    if (!b) {
        b = malloc(sizeof(*b));
        if (!b || (gl_events_bucket_init(b, now), gl_events_cache_put(ev->buckets, okey, b) < 0)) {
            free(b);
            rc = -ENOMEM;
            goto out;
        }
    }
    if (!gl_events_bucket_take(b, now)) {
        ev->stats.dropped_rate++;
        rc = -EAGAIN;
        goto out;
    }
    if (repeat) {
        e->count++;
        if (now > e->last_usec)
            e->last_usec = now;
        ev->stats.emitted++;
        ev->stats.aggregated++;
        if (fold) {
            e->dirty = e->req != NULL;
            goto out;
        }
        rc = send_req(e, OP_PATCH);
        if (rc < 0)
            gl_events_cache_remove(ev->agg, key);
        goto out;
    }
    e = entry_new(ev, key, &o, ns, type, reason, message, now);
    if (!e) {
        rc = -ENOMEM;
        goto out;
    }
    rc = gl_events_cache_put(ev->agg, key, e);
    if (rc < 0) {
        agg_entry_free(e);
        rc = rc == -ENOSPC ? -EBUSY : rc;
        if (rc == -EBUSY)
            ev->stats.dropped_busy++;
        goto out;
    }
    rc = send_req(e, OP_POST);
    if (rc < 0)
        gl_events_cache_remove(ev->agg, key);
    else
        ev->stats.emitted++;
out:
    free(key);
    free(okey);
    return rc;
}
