/* events.h: core/v1 Events on pods and the node, aggregated and rate-limited as client-go does,
 * sent through the non-blocking API client; plus the pure parts (keys, token bucket, LRU cache). */
#ifndef GUARDLET_EVENTS_H
#define GUARDLET_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/kube.h"

/* source.component and reportingComponent of every event. */
#define GL_EVENTS_COMPONENT "guardlet"

/* Per involved object: a token bucket of this many events, refilled one per period (client-go's
 * EventSourceObjectSpamFilter defaults). */
#define GL_EVENTS_BURST              25u
#define GL_EVENTS_REFILL_PERIOD_USEC (300ull * 1000000ull)

/* A repeat of an event within this long becomes a PATCH of count and lastTimestamp. */
#define GL_EVENTS_AGGREGATE_WINDOW_USEC (600ll * 1000000ll)

/* Bound of the aggregation cache and of the per-object bucket cache (least recently used goes). */
#define GL_EVENTS_CACHE_MAX 4096u

/* Requests in flight at most; an event that would need one more is dropped (and counted). */
#define GL_EVENTS_MAX_IN_FLIGHT 128u

/* Messages are cut (on a UTF-8 boundary) to this many bytes before sending. */
#define GL_EVENTS_MESSAGE_MAX 1024u

/* Per-request timeout. */
#define GL_EVENTS_TIMEOUT_MS 15000

/* When the API server is away (no answer, 5xx, 429, 408), an event is sent again later rather than
 * lost, so that what guardlet did while the API server was down reaches the cluster once it is
 * back: first after RETRY_MIN, doubling to RETRY_MAX, while the event is at most RETRY_MAX_AGE
 * old, and for at most RETRY_MAX_PENDING events at once (beyond that a failed event is dropped,
 * and counted). Repeats of a waiting event fold into its count. */
#define GL_EVENTS_RETRY_MIN_USEC     (1ull * 1000000ull)
#define GL_EVENTS_RETRY_MAX_USEC     (30ull * 1000000ull)
#define GL_EVENTS_RETRY_MAX_AGE_USEC (3600ll * 1000000ll)
#define GL_EVENTS_RETRY_MAX_PENDING  256u

/* ---------------------------------------------------------------- pure parts */

/* The object an event is about. kind "Pod" (namespace required) or "Node" (namespace ignored:
 * node events go to "default"). uid may be NULL. Strings are borrowed for the call. */
typedef struct {
    const char *kind;
    const char *namespace_;
    const char *name;
    const char *uid;
} gl_events_object;

/*
 * The aggregation key (source component+host, involved object, type, reason, message) and the
 * rate-limit key (source component+host and involved object) as heap strings: every field is
 * length-prefixed, so no message can make two different events share a key. NULL fields count
 * as "". Returns 0 and *out (free()), or -ENOMEM.
 */
int gl_events_key(const char *host, const gl_events_object *obj, const char *type,
                  const char *reason, const char *message, char **out);
int gl_events_object_key(const char *host, const gl_events_object *obj, char **out);

/* A token bucket of GL_EVENTS_BURST tokens refilled one per GL_EVENTS_REFILL_PERIOD_USEC. The
 * credit is kept in microseconds, so refill is exact. A clock going back refills nothing. */
typedef struct {
    uint64_t credit_usec;
    int64_t last_usec;
} gl_events_bucket;

/* A full bucket as of now_usec. */
void gl_events_bucket_init(gl_events_bucket *b, int64_t now_usec);
/* Refills for the time since the last call, then takes one token: true, or false (none left). */
bool gl_events_bucket_take(gl_events_bucket *b, int64_t now_usec);
/* Whole tokens left as of the last call. */
unsigned gl_events_bucket_tokens(const gl_events_bucket *b);

/* A string-keyed LRU cache of at most capacity values. free_value (may be NULL) frees a value
 * when it is removed, replaced or evicted, or the cache freed; a value for which pinned (may be
 * NULL) returns true is never evicted. */
typedef struct gl_events_cache gl_events_cache;
typedef void (*gl_events_free_fn)(void *value);
typedef bool (*gl_events_pinned_fn)(const void *value);

/* Returns 0 and *out, -EINVAL (capacity 0), or -ENOMEM. */
int gl_events_cache_new(size_t capacity, gl_events_free_fn free_value, gl_events_pinned_fn pinned,
                        gl_events_cache **out);
/* The value for key, made the most recently used; NULL when absent. */
void *gl_events_cache_get(gl_events_cache *c, const char *key);
/* Adds (key copied) or replaces key's value, making it the most recently used; when full, the
 * least recently used unpinned value goes first. Returns 0, -ENOSPC (full and all pinned; value
 * not taken), or -ENOMEM (value not taken). */
int gl_events_cache_put(gl_events_cache *c, const char *key, void *value);
/* Removes key (its value freed); true when it was there. */
bool gl_events_cache_remove(gl_events_cache *c, const char *key);
size_t gl_events_cache_size(const gl_events_cache *c);
uint64_t gl_events_cache_evictions(const gl_events_cache *c);
/* Accepts NULL. */
void gl_events_cache_free(gl_events_cache *c);

/* ---------------------------------------------------------------- the recorder */

typedef struct gl_events gl_events;

typedef struct {
    uint64_t emitted;         /* calls accepted (a POST, a PATCH, or folded into one in flight) */
    uint64_t aggregated;      /* of those, repeats of a stored event */
    uint64_t dropped_rate;    /* refused by the per-object token bucket */
    uint64_t dropped_busy;    /* refused: GL_EVENTS_MAX_IN_FLIGHT requests in flight */
    uint64_t posts;           /* POSTs answered 2xx */
    uint64_t patches;         /* PATCHes answered 2xx */
    uint64_t failures;        /* requests that failed (transport error or non-2xx) */
    uint64_t cache_evictions; /* aggregation entries evicted to stay within the bound */
    int last_err;             /* negative errno or HTTP status of the last failure, 0 none */
    uint64_t retries;         /* requests sent again after the API server was away */
    uint64_t dropped_retry;   /* events given up: too old, or too many waiting */
} gl_events_stats;

/*
 * A recorder sending through client (borrowed: it must outlive the recorder) as host (the node
 * name: source.host and reportingInstance). Returns 0 and *out, -EINVAL (empty host), -ENOMEM.
 */
int gl_events_new(gl_kube_client *client, const char *host, gl_events **out);

/*
 * Records an event: type "Normal" or "Warning", reason (such as "GuardletThrottled"), message,
 * at now_realtime_usec (wall clock, for the timestamps). Never blocks: the request runs on the
 * client's loop. The first of a key POSTs a new Event named "<object>.<hex>" in the object's
 * namespace ("default" for a node); a repeat within GL_EVENTS_AGGREGATE_WINDOW_USEC PATCHes
 * count and lastTimestamp of that Event (merge patch; repeats while a request is in flight are
 * folded into the next one). Returns 0, -EINVAL (bad object, type or reason, or text not UTF-8),
 * -EAGAIN (dropped by the rate limit), -EBUSY (too many requests in flight), or -ENOMEM. Not from
 * inside a gl_kube_line_cb.
 */
int gl_events_emit(gl_events *ev, const gl_events_object *obj, const char *type, const char *reason,
                   const char *message, int64_t now_realtime_usec);

/* Requests in flight. */
size_t gl_events_in_flight(const gl_events *ev);
void gl_events_get_stats(const gl_events *ev, gl_events_stats *out);

/* Cancels requests in flight (their outcome is lost) and frees everything. Accepts NULL. */
void gl_events_free(gl_events *ev);

#endif
