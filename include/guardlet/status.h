/* status.h: the daemon's status socket, which guardletctl talks to, and the JSON it answers with.
 *
 * Protocol (version 1). A client connects to the unix stream socket (StatusSocket, mode 0660,
 * owner root), sends ONE request line of at most GL_STATUS_MAX_REQUEST bytes ending in "\n", and
 * reads ONE JSON object until the server closes the connection. Requests:
 *
 *   status                 the node, pressure, API connectivity, the last few actions
 *   pods                   the pods in the order guardlet would pick them, with the figures
 *   explain NAMESPACE/POD  why that pod would or would not be chosen; a pod UID works too
 *   actions                the recent outcomes, newest first
 *
 * pods, explain and the pressure figures describe the snapshot the last tick decided on (the
 * daemon answers between ticks, on the same loop, so an answer never mixes two ticks).
 * Every answer carries "protocol": 1 and "ok": true|false. A failure is
 * {"protocol":1, "ok":false, "error":{"code":CODE, "message":TEXT}} with CODE one of
 * "bad-request" (unknown command, missing argument, over-long line), "no-pod" (explain: no such
 * pod on this node) or "not-ready" (no tick has run yet). Fields are only ever added within a
 * protocol version; a client should ignore fields it does not know.
 */
#ifndef GUARDLET_STATUS_H
#define GUARDLET_STATUS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/config.h"
#include "guardlet/guard.h"
#include "guardlet/kube.h"
#include "guardlet/node.h"
#include "guardlet/pressure.h"

#define GL_STATUS_PROTOCOL 1
/* "explain " plus a namespace (63), "/" and a pod name (253) fit with room to spare; anything
 * longer is not a request this protocol knows. */
#define GL_STATUS_MAX_REQUEST 512

/* What the daemon shows, gathered at each request; nothing is owned. */
typedef struct {
    const char *node_name;
    const char *pool;
    const gl_config *config;
    int cgroup_version;
    const gl_kube_podwatch *podwatch; /* NULL: local mode */
    bool can_evict;
    uint64_t start_usec;          /* monotonic, when the daemon started */
    uint64_t ticks;               /* completed */
    uint64_t last_tick_usec;      /* monotonic, 0 before the first tick */
    const gl_node_sample *sample; /* NULL before the first sample */
    const gl_node_pressure *pressure;
    const gl_guard *guard;
} gl_status_view;

/* ---------------------------------------------------------------- the answers (status-json.c) */

/*
 * The answer to one request line (without its "\n"), as a new JSON reference (NULL only on
 * ENOMEM). now_usec is monotonic and realtime_usec the wall clock at the same moment, to turn
 * the guard's monotonic stamps into times.
 */
json_t *gl_status_answer(const gl_status_view *v, const char *request, uint64_t now_usec,
                         uint64_t realtime_usec);

/* ---------------------------------------------------------------- the socket (status.c) */

typedef struct gl_status_server gl_status_server;

/* Fills the view for one request. */
typedef void (*gl_status_view_cb)(void *userdata, gl_status_view *out);

struct ev_loop;

/*
 * Listens at path on loop: creates the parent directory (0755) if missing, refuses when a live
 * daemon answers there (-EADDRINUSE), replaces a stale socket, refuses anything that is not a
 * socket (-EEXIST). The socket is mode 0660 and owned by root (uid 0; the group as created).
 * Returns 0 or a negative errno with a sentence naming the path in err.
 */
int gl_status_server_new(struct ev_loop *loop, const char *path, gl_status_view_cb cb,
                         void *userdata, gl_status_server **out, char *err, size_t errlen);

/*
 * Applies a loaded or reloaded StatusSocket to *s: nothing when unchanged; an empty path stops
 * and removes the socket ("disabled" is logged); a new path is opened before the old one is
 * closed, so a failed move keeps the old socket. Logs where it listens or what failed. Returns 0
 * or the negative errno of a failed open (at start-up the daemon refuses to run on it).
 */
int gl_status_server_apply(struct ev_loop *loop, gl_status_server **s, const char *path,
                           gl_status_view_cb cb, void *userdata);

/* The path it listens at. */
const char *gl_status_server_path(const gl_status_server *s);

/* Stops listening, closes every client and removes the socket file (if it is still ours).
 * Accepts NULL. */
void gl_status_server_free(gl_status_server *s);

#endif
