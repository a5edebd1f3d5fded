/* nodestatus.h: this node's guardlet label and Guardlet*Pressure conditions, kept in the API
 * server with coalesced, non-blocking PATCHes that retry with backoff. */
#ifndef GUARDLET_NODESTATUS_H
#define GUARDLET_NODESTATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "guardlet/kube.h"

/* Conditions are re-sent (lastHeartbeatTime refreshed) at most this often when nothing changed. */
#define GL_NODESTATUS_HEARTBEAT_SEC 60
/* Each PATCH must be answered within this long. */
#define GL_NODESTATUS_TIMEOUT_MS 30000
/* At most this many distinct label keys. */
#define GL_NODESTATUS_MAX_LABELS 16

typedef struct gl_nodestatus gl_nodestatus;

typedef enum {
    GL_NODE_COND_MEMORY, /* GuardletMemoryPressure */
    GL_NODE_COND_CPU,    /* GuardletCPUPressure */
    GL_NODE_COND_PID,    /* GuardletPIDPressure */
    GL_NODE_COND_COUNT,
} gl_node_condition;

typedef struct {
    uint64_t label_patches;      /* label PATCHes answered 2xx */
    uint64_t label_failures;     /* label PATCHes that failed (then retried) */
    uint64_t condition_patches;  /* /status PATCHes answered 2xx */
    uint64_t condition_failures; /* /status PATCHes that failed (then retried) */
    uint64_t heartbeats;         /* condition PATCHes started only to refresh lastHeartbeatTime */
    int last_err;                /* negative errno or HTTP status of the last failure, 0 none */
    char last_error[256];        /* one line about the last failure, "" none */
} gl_nodestatus_stats;

/* "GuardletMemoryPressure", ...; NULL for a value out of range. */
const char *gl_node_condition_name(gl_node_condition c);

/*
 * Keeps node's label and conditions through client (borrowed: it must outlive ns). Nothing is
 * sent until a set call. Returns 0 and *out, -EINVAL (empty node name or characters outside
 * [a-z0-9.-]), or -ENOMEM.
 */
int gl_nodestatus_new(gl_kube_client *client, const char *node, gl_nodestatus **out);

/*
 * Wants label key = value on the node (value NULL: the label removed). The first call for a key
 * always sends; later calls send only when value differs from what was last applied. One label
 * PATCH (application/merge-patch+json on /api/v1/nodes/<node>) is in flight at a time and carries
 * every label not yet applied, latest value winning; failures retry with jittered exponential
 * backoff (GL_KUBE_BACKOFF_MIN_SEC..MAX_SEC). Returns 0, -EINVAL (empty key), -ENOSPC (more than
 * GL_NODESTATUS_MAX_LABELS keys), or -ENOMEM. Never blocks; the request starts from the loop.
 */
int gl_nodestatus_set_label(gl_nodestatus *ns, const char *key, const char *value);

/*
 * Wants condition c with status (true: "True"), reason (CamelCase, non-empty) and message (NULL:
 * "") at wall-clock time now_realtime (seconds since the epoch, e.g. ev_now()). A first setting,
 * a status flip or a new reason is sent at once; a message alone changing rides the next
 * heartbeat, so figures in the message do not cause a PATCH per scan. lastTransitionTime is the
 * time of the last flip relative to what was applied (a flip and back before sending changes
 * nothing). All set conditions go in one strategic-merge PATCH on /api/v1/nodes/<node>/status,
 * one in flight at a time, latest values winning, retried with backoff.
 * Returns 0, -EINVAL, or -ENOMEM.
 */
int gl_nodestatus_set_condition(gl_nodestatus *ns, gl_node_condition c, bool status,
                                const char *reason, const char *message, double now_realtime);

/* Call periodically (e.g. each scan): re-sends every set condition when
 * GL_NODESTATUS_HEARTBEAT_SEC have passed since the last one applied (or the clock went back). */
void gl_nodestatus_heartbeat(gl_nodestatus *ns, double now_realtime);

/* True while something wanted is not yet applied (a request in flight, waiting or due). */
bool gl_nodestatus_pending(const gl_nodestatus *ns);

void gl_nodestatus_get_stats(const gl_nodestatus *ns, gl_nodestatus_stats *out);

/* Cancels requests and timers, frees ns. Accepts NULL. Not from inside a kube callback. */
void gl_nodestatus_free(gl_nodestatus *ns);

#endif
