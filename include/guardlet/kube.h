/* kube.h: a non-blocking Kubernetes API client (libcurl multi on libev), watch and Pod decoders,
 * and the list+watch of this node's pods. */
#ifndef GUARDLET_KUBE_H
#define GUARDLET_KUBE_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/kubeconfig.h"
#include "guardlet/kubepods.h"

/* ---------------------------------------------------------------- HTTP client (http.c) */

typedef struct gl_kube_client gl_kube_client;
typedef struct gl_kube_req gl_kube_req;

/* A whole answer (non-streaming requests) is refused above this size: a node's pod list with 250
 * large pods is a few MiB; anything near this is a wrong URL or a hostile server. */
#define GL_KUBE_BODY_MAX_BYTES (64u * 1024 * 1024)

/* One watch line (one event) is refused above this size. etcd stores objects up to 1.5 MiB; their
 * JSON can be a few times larger than the protobuf, so 8 MiB leaves room without letting a
 * runaway line eat memory. */
#define GL_KUBE_LINE_MAX_BYTES (8u * 1024 * 1024)

/* How long to wait for a TCP (and TLS) connection before giving up on a request. */
#define GL_KUBE_CONNECT_TIMEOUT_MS 10000

/*
 * Called once when a request ends, from the loop and never from inside gl_kube_request() or
 * gl_kube_cancel(). err is 0 when an HTTP answer arrived (status is its code, body its bytes:
 * NUL-terminated, len excludes the NUL, valid only during the call), else a negative errno and
 * status 0: -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH, -EPROTO (TLS or HTTP protocol failure),
 * -EKEYREJECTED (server certificate not trusted), -EMSGSIZE (answer or line over the cap),
 * -ECONNRESET (the stream was cut), -ECANCELED (an on_line callback asked to stop), -EIO (other).
 * errmsg is a one-line description (libcurl's) when err != 0, else "". For a streaming request a
 * 2xx status with err 0 means the server ended the stream cleanly; body then holds nothing.
 * The request handle is freed when this returns.
 */
typedef void (*gl_kube_done_cb)(long status, const char *body, size_t len, int err,
                                const char *errmsg, void *userdata);

/*
 * Called for each complete line of a streaming request's 2xx answer, without the '\n' (line is
 * NUL-terminated, valid only during the call). Return 0 to go on, or non-zero to end the stream:
 * on_done then follows with -ECANCELED. Called from inside libcurl: it may start requests and
 * cancel other requests (both take effect once libcurl returns), not free the client.
 */
typedef int (*gl_kube_line_cb)(const char *line, size_t len, void *userdata);

/*
 * Called when a request got 401 and has not been retried yet. The owner reloads its credentials
 * (gl_kube_creds_reload_token() on the creds it passed to gl_kube_client_new) and returns true to
 * have the request sent again, once, with the token now in the creds; false delivers the 401 to
 * on_done. Runs from the loop, outside libcurl. A 401 for a request that went out with older
 * credentials than the client now has (set_creds or a reloaded token since) is sent again without
 * calling it: a rotation another request noticed first.
 */
typedef bool (*gl_kube_unauthorized_cb)(gl_kube_client *c, void *userdata);

/*
 * Creates a client for the API server in creds, on loop. creds is borrowed: it must outlive the
 * client, and its token is read again for every request, so an in-place
 * gl_kube_creds_reload_token() takes effect at the next request. TLS: the CA PEM goes to libcurl
 * as CURLOPT_CAINFO_BLOB (none: the system store), client cert and key as CURLOPT_SSLCERT_BLOB /
 * CURLOPT_SSLKEY_BLOB, insecure_skip_tls_verify turns peer and host checks off. tls_server_name
 * is done with CURLOPT_CONNECT_TO: the URL names tls_server_name (so SNI and certificate checks
 * use it) while the connection goes to the server's host and port; the Host header is then
 * tls_server_name too, which the API server ignores.
 * Returns 0 and *out, -EINVAL (bad server URL), -ENOMEM, or -EIO (libcurl refused to start).
 */
int gl_kube_client_new(struct ev_loop *loop, const gl_kube_creds *creds, gl_kube_client **out);

/* Sets the 401 hook (NULL: 401 goes straight to on_done). */
void gl_kube_client_set_unauthorized_cb(gl_kube_client *c, gl_kube_unauthorized_cb cb,
                                        void *userdata);

/*
 * Called once per finished exchange with the API server (a 401 that is retried and its retry are
 * two), never for a cancelled request: verb is the method, or "WATCH" for a stream; status the
 * HTTP code, or 0 when no answer arrived (a transport, TLS or size-cap error). Runs from the loop;
 * it must not start or cancel requests. For metrics.
 */
typedef void (*gl_kube_observer_cb)(const char *verb, long status, void *userdata);
void gl_kube_client_set_observer(gl_kube_client *c, gl_kube_observer_cb cb, void *userdata);

/*
 * Starts a request: method ("GET", "POST", "PATCH", "PUT", "DELETE"), path with query
 * ("/api/v1/pods?fieldSelector=..."; must start with '/'), content_type and body for a request
 * body (body NULL: none; body_len bytes, copied), timeout_ms for the whole exchange (0: none).
 * Nothing is sent before the loop runs. Returns 0 and the handle in *out (may be NULL: not
 * wanted), which stays valid until on_done has returned or gl_kube_cancel(); or -EINVAL, -ENOMEM.
 */
int gl_kube_request(gl_kube_client *c, const char *method, const char *path,
                    const char *content_type, const char *body, size_t body_len, long timeout_ms,
                    gl_kube_done_cb on_done, void *userdata, gl_kube_req **out);

/* The same as a stream (a watch): a 2xx answer's lines go to on_line as they arrive; a non-2xx
 * answer is collected and given to on_done as with gl_kube_request(). */
int gl_kube_stream(gl_kube_client *c, const char *path, long timeout_ms, gl_kube_line_cb on_line,
                   gl_kube_done_cb on_done, void *userdata, gl_kube_req **out);

/* Drops a request; on_done is not called. Accepts NULL. */
void gl_kube_cancel(gl_kube_req *r);

/*
 * Points the client at new credentials (a rotated client certificate, CA or token read again from
 * disk). creds is borrowed as in gl_kube_client_new; the old ones may be freed once this returns,
 * because every request copies what it needs from the creds when its handle is (re)built. Requests
 * in flight keep their connection; every later request and retry uses creds. Returns 0, or
 * -EINVAL/-ENOMEM and leaves the client on its old creds.
 */
int gl_kube_client_set_creds(gl_kube_client *c, const gl_kube_creds *creds);

/* How many requests are in flight. */
size_t gl_kube_client_active(const gl_kube_client *c);

struct ev_loop *gl_kube_client_loop(const gl_kube_client *c);

/* Cancels every request (no callbacks) and frees the client. Accepts NULL. Not from a callback. */
void gl_kube_client_free(gl_kube_client *c);

/* ---------------------------------------------------------------- decoders (decode.c) */

typedef enum {
    GL_KUBE_EVENT_ADDED,
    GL_KUBE_EVENT_MODIFIED,
    GL_KUBE_EVENT_DELETED,
    GL_KUBE_EVENT_BOOKMARK,
    GL_KUBE_EVENT_ERROR,
} gl_kube_event_type;

/* One watch event. object is owned (json_decref via gl_kube_watch_event_clear). */
typedef struct {
    gl_kube_event_type type;
    json_t *object;
    /* From object.metadata.resourceVersion; NULL for ERROR or when absent. Points into object. */
    const char *resource_version;
    /* ERROR only: the Status code (0 when absent), and whether it means "resourceVersion too old,
     * re-list" (code 410, or reason Expired/Gone). */
    long error_code;
    bool expired;
    const char *error_message; /* points into object; "" when absent */
} gl_kube_watch_event;

/*
 * Decodes one watch line (len bytes, need not be NUL-terminated; surrounding white space is
 * fine). Returns 0 and fills *ev (release with gl_kube_watch_event_clear), -EMSGSIZE above
 * GL_KUBE_LINE_MAX_BYTES, -EBADMSG with a message naming the field in err (bad JSON, duplicate
 * keys, unknown type, object not an object, resourceVersion not a string), or -ENOMEM.
 */
int gl_kube_watch_event_decode(const char *line, size_t len, gl_kube_watch_event *ev, char *err,
                               size_t err_size);
void gl_kube_watch_event_clear(gl_kube_watch_event *ev);

const char *gl_kube_event_type_name(gl_kube_event_type t);

typedef enum {
    GL_KUBE_QOS_UNKNOWN, /* status.qosClass absent (not yet set by the API server) */
    GL_KUBE_QOS_GUARANTEED,
    GL_KUBE_QOS_BURSTABLE,
    GL_KUBE_QOS_BESTEFFORT,
} gl_kube_qos;

/* A Pod as guardlet uses it. Strings are heap copies owned by the struct; NULL means absent. */
typedef struct {
    char *uid;
    char *namespace_;
    char *name;
    char *node_name;
    char *resource_version;
    char *phase;
    char *owner_kind;         /* the controller ownerReference's kind, else the first one's */
    char *deletion_timestamp; /* RFC 3339 as sent; NULL: not being deleted */
    int32_t priority;         /* spec.priority, 0 when absent */
    gl_kube_qos qos;
    /* Effective pod requests as the scheduler counts them: max(sum of containers and restartable
     * (sidecar) init containers, largest regular init container) plus spec.overhead. */
    uint64_t memory_request_bytes;
    uint64_t cpu_request_millicores;
    bool is_mirror;      /* annotation kubernetes.io/config.mirror: the API copy of a static pod */
    bool is_static;      /* a mirror pod, or kubernetes.io/config.source other than "api" */
    json_t *annotations; /* owned reference to metadata.annotations, or NULL */
} gl_kube_pod;

/*
 * Builds *out from a Pod object (a list item or a watch event's object; kind is not required).
 * metadata.uid, name and namespace must be non-empty strings; every other field used must have
 * the right type when present. Returns 0 (free with gl_kube_pod_free), -EBADMSG with the field
 * named in err ("spec.containers[1].resources.requests.memory: bad quantity \"12Q\""), -ERANGE
 * for a quantity or priority out of range (also named), or -ENOMEM.
 */
int gl_kube_pod_decode(const json_t *obj, gl_kube_pod **out, char *err, size_t err_size);
void gl_kube_pod_free(gl_kube_pod *p);

/* The value of annotation key, or NULL when absent or not a string. Valid while p lives. */
const char *gl_kube_pod_annotation(const gl_kube_pod *p, const char *key);

const char *gl_kube_qos_name(gl_kube_qos q);
/* The cgroup view's QoS class for q; false (and *out untouched) for GL_KUBE_QOS_UNKNOWN. */
bool gl_kube_qos_to_local(gl_kube_qos q, gl_qos *out);

/*
 * Parses a Kubernetes quantity ("128Mi", "1Gi", "500m", "1", "0.5", "1e3", "2k", "1.5G") and
 * returns its value times 10^scale_pow10 (0: units such as bytes, 3: millis such as millicores),
 * rounded up as Kubernetes does. Accepted: optional '+', digits with at most one '.', then one of
 * the binary suffixes Ki Mi Gi Ti Pi Ei, the decimal suffixes n u m k M G T P E, or an exponent
 * e/E with an optional sign and 1-3 digits. Returns 0, -EBADMSG (malformed, negative, empty,
 * more than 30 significant digits), or -ERANGE (above INT64_MAX).
 */
int gl_kube_quantity_parse(const char *s, unsigned scale_pow10, uint64_t *out);

/* ---------------------------------------------------------------- pod list+watch (podwatch.c) */

typedef struct gl_kube_podwatch gl_kube_podwatch;

typedef enum {
    GL_KUBE_POD_ADDED,
    GL_KUBE_POD_UPDATED,
    GL_KUBE_POD_DELETED,
    /* A (re-)list finished: the cache now matches the server; pod is NULL. Changes the re-list
     * found were reported before it as ADDED/UPDATED/DELETED. */
    GL_KUBE_POD_SYNCED,
} gl_kube_pod_change;

/* Called on every cache change, from the loop or from inside a watch line (so the rules of
 * gl_kube_line_cb apply: it may start and cancel requests). pod is valid only during the call (for
 * DELETED it is the last known state). The callback may read the cache but not free the watch.
 * Malformed list items and watch lines are skipped and counted in the stats, never reported. */
typedef void (*gl_kube_podwatch_cb)(gl_kube_podwatch *w, gl_kube_pod_change change,
                                    const gl_kube_pod *pod, void *userdata);

/* Backoff between failed attempts: starts here, doubles, is capped, and is jittered to between
 * half and all of its value so that a fleet of guards does not reconnect in step. */
#define GL_KUBE_BACKOFF_MIN_SEC 0.25
#define GL_KUBE_BACKOFF_MAX_SEC 30.0
/* Asked of the server per watch (it ends the watch then, and we resume from the last
 * resourceVersion): the value client-go's reflectors use at most. */
#define GL_KUBE_WATCH_TIMEOUT_SEC 300

typedef struct {
    uint64_t lists;         /* list requests that succeeded */
    uint64_t list_failures; /* failed or malformed lists */
    uint64_t watches;       /* watch streams opened */
    uint64_t events;        /* watch events applied */
    uint64_t bookmarks;
    uint64_t malformed;  /* watch lines or pods skipped because they did not decode */
    uint64_t expired;    /* 410s that forced a re-list */
    uint64_t reconnects; /* watch restarts after an error or a cut stream */
    bool synced;         /* a list has succeeded (the cache is meaningful) */
    int last_err;        /* negative errno or HTTP status of the last failure, 0 none */
    /* True from a failed list or watch until a list succeeds or a watch delivers again: the cache
     * may be stale meanwhile. last_err_msg says what failed ("listing pods: HTTP 500: ...",
     * "watching pods: Connection refused"); last_malformed_msg why the last skipped item did not
     * decode. Both stay after recovery, for reports. */
    bool failing;
    uint64_t outages; /* times failing went from false to true */
    char last_err_msg[256];
    char last_malformed_msg[256];
} gl_kube_podwatch_stats;

/*
 * A watch of the pods bound to node (fieldSelector spec.nodeName=node) through client. Not
 * started: call gl_kube_podwatch_start(). Returns 0, -EINVAL (empty node name or a node name with
 * characters outside [a-z0-9.-]), or -ENOMEM.
 */
int gl_kube_podwatch_new(gl_kube_client *client, const char *node, gl_kube_podwatch_cb cb,
                         void *userdata, gl_kube_podwatch **out);

/* Lists, then watches; retries forever with backoff. Returns 0 or a negative errno. */
int gl_kube_podwatch_start(gl_kube_podwatch *w);

/* The cached pod with this UID, or NULL. Valid until the next callback or loop iteration. */
const gl_kube_pod *gl_kube_podwatch_find(const gl_kube_podwatch *w, const char *uid);
size_t gl_kube_podwatch_count(const gl_kube_podwatch *w);
/* The i-th cached pod (0 <= i < count), in no particular order. */
const gl_kube_pod *gl_kube_podwatch_at(const gl_kube_podwatch *w, size_t i);
/* The resourceVersion the next watch resumes from ("" before the first list). */
const char *gl_kube_podwatch_resource_version(const gl_kube_podwatch *w);
void gl_kube_podwatch_get_stats(const gl_kube_podwatch *w, gl_kube_podwatch_stats *out);

/* Stops everything (requests cancelled, timers stopped) and frees the cache. Accepts NULL. */
void gl_kube_podwatch_free(gl_kube_podwatch *w);

#endif
