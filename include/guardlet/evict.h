/* evict.h: pod evictions through the policy/v1 Eviction API, and per-pod backoff between tries. */
#ifndef GUARDLET_EVICT_H
#define GUARDLET_EVICT_H

#include <stddef.h>
#include <stdint.h>

#include "guardlet/kube.h"

typedef struct gl_evictor gl_evictor;

typedef enum {
    GL_EVICT_OK,      /* 200/201: the pod is going away */
    GL_EVICT_BLOCKED, /* 429: a PodDisruptionBudget or the API's rate limit said no; try another */
    GL_EVICT_GONE,    /* 404, or 409 (the UID precondition failed: another pod has the name now) */
    GL_EVICT_RETRY,   /* 5xx, 408, connection errors, timeouts: the same pod may work later */
    GL_EVICT_FAILED,  /* any other answer (400, 401, 403, ...): retrying will not help soon */
} gl_evict_result;

/* The whole exchange may take this long: eviction writes a budget and deletes the pod, which
 * under load can be slow, but the guard must learn the outcome while memory is still short. */
#define GL_EVICT_TIMEOUT_MS 30000

/* Per-pod backoff after an answer about the pod (a budget's 429, another 4xx): starts here,
 * doubles, is capped. Without jitter: only one guard evicts a given pod (its own node's), so there
 * is no herd to spread. */
#define GL_EVICT_BACKOFF_MIN_USEC (5ull * 1000000)
#define GL_EVICT_BACKOFF_MAX_USEC (300ull * 1000000)
/* Server-wide backoff after an answer about the server (5xx, 408, no answer at all): every pod
 * waits, because trying the next candidate would only evict a smaller, innocent pod while the
 * real offender keeps growing. Starts here, doubles, is capped; any other answer resets it. */
#define GL_EVICT_SERVER_BACKOFF_MIN_USEC (1ull * 1000000)
#define GL_EVICT_SERVER_BACKOFF_MAX_USEC (30ull * 1000000)
/* Backoff entries kept at most; beyond this the entry whose wait ended first is forgotten. A node
 * runs a few hundred pods, so this is only reached when entries of deleted pods pile up. */
#define GL_EVICT_BACKOFF_MAX_ENTRIES 1024

/*
 * Called once per gl_evict(), from the loop (never from inside gl_evict()). http_status is the
 * answer's code, or 0 when none came (connection error, timeout). message says why in one line:
 * the Status message (and its first cause, for a budget), libcurl's error text, or "" on success;
 * valid only during the call. The backoff has already been updated when this runs. The callback
 * may call gl_evict() and gl_evictor_retry_after(), not gl_evictor_free().
 */
typedef void (*gl_evict_cb)(gl_evict_result result, long http_status, const char *message,
                            void *userdata);

/* An evictor sending through client (borrowed: it must outlive the evictor). Returns 0 and *out,
 * -EINVAL, or -ENOMEM. */
int gl_evictor_new(gl_kube_client *client, gl_evictor **out);

/*
 * Starts the eviction of pod ns/name, but only if it still has this uid (preconditions.uid), with
 * grace_seconds (>= 0) for its containers to stop. ns and name must be valid Kubernetes names
 * (lowercase letters, digits, '-' and '.'), which also keeps the URL path clean. Does not look at
 * the backoff: callers check gl_evictor_retry_after() first. Returns 0 (on_result follows),
 * -EINVAL, -EALREADY (an eviction of this uid is in flight), or -ENOMEM.
 */
int gl_evict(gl_evictor *ev, const char *ns, const char *name, const char *uid,
             int64_t grace_seconds, gl_evict_cb on_result, void *userdata);

/* When (CLOCK_MONOTONIC usec, as gl_now_usec()) the next try for the pod with uid is allowed,
 * after both its own and the server-wide backoff: now_usec when it may go now. */
uint64_t gl_evictor_retry_after(const gl_evictor *ev, const char *uid, uint64_t now_usec);

/* Forgets the backoff of uid (the pod was deleted: its entry would only take room). */
void gl_evictor_forget(gl_evictor *ev, const char *uid);

/* Evictions in flight. */
size_t gl_evictor_pending(const gl_evictor *ev);

/* "ok", "blocked", "gone", "retry", "failed". */
const char *gl_evict_result_name(gl_evict_result r);

/* Cancels the evictions in flight (their callbacks are not called) and frees the evictor. Accepts
 * NULL. Not from an eviction callback. */
void gl_evictor_free(gl_evictor *ev);

#endif
