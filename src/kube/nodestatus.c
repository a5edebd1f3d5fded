/* nodestatus.c: the node's guardlet label (merge patch) and Guardlet*Pressure conditions
 * (strategic merge on /status), coalesced to one request in flight per kind, retried with backoff.
 */
/*
 * Each kind (labels, conditions) keeps what is wanted, what was last applied (a 2xx answer), and a
 * snapshot of what the request in flight carries. A request starts when something wanted differs
 * from what was applied and neither a request nor a retry timer of that kind is active; when it
 * ends, its snapshot becomes the applied state (2xx) or a retry is scheduled, and the comparison
 * runs again, so the latest value always wins and nothing is sent twice. Conditions go as one
 * strategic-merge patch keyed by type, so kubelet's own conditions stay as they are.
 */
#include "guardlet/nodestatus.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *key;
    char *want; /* NULL: removed */
    bool applied_known;
    char *applied; /* NULL: removed (when applied_known) */
    bool in_req;
    char *sending;
} label;

typedef struct {
    bool set;
    bool status;
    char *reason;
    char *message;
    double changed_at; /* when the wanted status last changed (or was first set) */
    bool applied_known;
    bool a_status;
    char *a_reason;
    double a_ltt;
    bool in_req;
    bool s_status;
    char *s_reason;
    double s_ltt;
} cond;

typedef struct {
    gl_kube_req *req;
    ev_timer retry;
    double backoff_sec;
} channel;

struct gl_nodestatus {
    gl_kube_client *client;
    struct ev_loop *loop;
    char *node;
    char *path_node;
    char *path_status;
    label labels[GL_NODESTATUS_MAX_LABELS];
    size_t nlabels;
    cond conds[GL_NODE_COND_COUNT];
    double now;
    bool force;        /* conditions due for a heartbeat (or a message-only change) */
    bool have_applied; /* last_applied is meaningful */
    double last_applied;
    double sending_at;
    channel lab, cnd;
    unsigned seed;
    gl_nodestatus_stats stats;
};

static const char *const cond_names[GL_NODE_COND_COUNT] = {
    "GuardletMemoryPressure",
    "GuardletCPUPressure",
    "GuardletPIDPressure",
};

const char *gl_node_condition_name(gl_node_condition c) {
    if ((int)c < 0 || c >= GL_NODE_COND_COUNT)
        return NULL;
    return cond_names[c];
}

static bool str_eq(const char *a, const char *b) {
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Replaces *slot by a copy of s (NULL allowed). */
static int set_str(char **slot, const char *s) {
    char *copy = NULL;
    if (s) {
        copy = strdup(s);
        if (!copy)
            return -ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

static bool valid_utf8(const char *s) {
    json_t *j = json_string(s);
    if (!j)
        return false;
    json_decref(j);
    return true;
}

static void rfc3339(double t, char *buf, size_t size) {
    time_t secs = (time_t)floor(t);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, size, "1970-01-01T00:00:00Z");
}

/* ---------------------------------------------------------------- failures and backoff */

static void record_failure(gl_nodestatus *ns, const char *what, long status, const char *body,
                           size_t len, int err, const char *errmsg) {
    if (err != 0) {
        ns->stats.last_err = err;
        snprintf(ns->stats.last_error, sizeof(ns->stats.last_error), "%s: %s", what,
                 errmsg && errmsg[0] ? errmsg : strerror(-err));
        return;
    }
    ns->stats.last_err = (int)status;
    const char *msg = "";
    json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (j && json_is_string(json_object_get(j, "message")))
        msg = json_string_value(json_object_get(j, "message"));
    snprintf(ns->stats.last_error, sizeof(ns->stats.last_error), "%s: HTTP %ld%s%s", what, status,
             msg[0] ? ": " : "", msg);
    json_decref(j);
}

static void schedule_retry(gl_nodestatus *ns, channel *ch) {
    /* Jitter to [b/2, b] so that a fleet of guards does not retry in step. */
    double b = ch->backoff_sec;
    double delay = b / 2 + (b / 2) * ((double)rand_r(&ns->seed) / (double)RAND_MAX);
    ch->backoff_sec = b * 2 > GL_KUBE_BACKOFF_MAX_SEC ? GL_KUBE_BACKOFF_MAX_SEC : b * 2;
    ev_timer_stop(ns->loop, &ch->retry);
    ev_timer_set(&ch->retry, delay, 0.);
    ev_timer_start(ns->loop, &ch->retry);
}

static bool busy(const gl_nodestatus *ns, const channel *ch) {
    (void)ns;
    return ch->req != NULL || ev_is_active(&ch->retry) || ev_is_pending(&ch->retry);
}

/* ---------------------------------------------------------------- labels */

static bool label_dirty(const label *l) {
    return !l->applied_known || !str_eq(l->want, l->applied);
}

static void labels_kick(gl_nodestatus *ns);

static void on_label_done(long status, const char *body, size_t len, int err, const char *errmsg,
                          void *userdata) {
    gl_nodestatus *ns = userdata;
    ns->lab.req = NULL;
    bool ok = err == 0 && status >= 200 && status < 300;
    for (size_t i = 0; i < ns->nlabels; i++) {
        label *l = &ns->labels[i];
        if (!l->in_req)
            continue;
        l->in_req = false;
        if (ok) {
            free(l->applied);
            l->applied = l->sending;
            l->applied_known = true;
        } else {
            free(l->sending);
        }
        l->sending = NULL;
    }
    if (ok) {
        ns->stats.label_patches++;
        ns->lab.backoff_sec = GL_KUBE_BACKOFF_MIN_SEC;
        labels_kick(ns);
    } else {
        ns->stats.label_failures++;
        record_failure(ns, "node label PATCH", status, body, len, err, errmsg);
        schedule_retry(ns, &ns->lab);
    }
}

static void labels_kick(gl_nodestatus *ns) {
    if (busy(ns, &ns->lab))
        return;
    json_t *labels = json_object();
    json_t *root = json_pack("{s:{s:o}}", "metadata", "labels", labels);
    char *text = NULL;
    bool any = false;
    int rc = root ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < ns->nlabels; i++) {
        label *l = &ns->labels[i];
        if (!label_dirty(l))
            continue;
        any = true;
        if (json_object_set_new(labels, l->key, l->want ? json_string(l->want) : json_null()))
            rc = -ENOMEM;
        else if (set_str(&l->sending, l->want) < 0)
            rc = -ENOMEM;
        else
            l->in_req = true;
    }
    if (rc == 0 && any) {
        text = json_dumps(root, JSON_COMPACT);
        rc = text ? gl_kube_request(ns->client, "PATCH", ns->path_node,
                                    "application/merge-patch+json", text, strlen(text),
                                    GL_NODESTATUS_TIMEOUT_MS, on_label_done, ns, &ns->lab.req)
                  : -ENOMEM;
    }
    free(text);
    json_decref(root);
    if (rc < 0) {
        for (size_t i = 0; i < ns->nlabels; i++) {
            ns->labels[i].in_req = false;
            free(ns->labels[i].sending);
            ns->labels[i].sending = NULL;
        }
        ns->lab.req = NULL;
        ns->stats.label_failures++;
        record_failure(ns, "node label PATCH", 0, NULL, 0, rc, NULL);
        schedule_retry(ns, &ns->lab);
    }
}

int gl_nodestatus_set_label(gl_nodestatus *ns, const char *key, const char *value) {
    if (!ns || !key || !key[0] || !valid_utf8(key) || (value && !valid_utf8(value)))
        return -EINVAL;
    label *l = NULL;
    for (size_t i = 0; i < ns->nlabels && !l; i++)
        if (strcmp(ns->labels[i].key, key) == 0)
            l = &ns->labels[i];
    if (!l) {
        if (ns->nlabels == GL_NODESTATUS_MAX_LABELS)
            return -ENOSPC;
        char *k = strdup(key);
        if (!k)
            return -ENOMEM;
        l = &ns->labels[ns->nlabels++];
        memset(l, 0, sizeof(*l));
        l->key = k;
    }
    if (set_str(&l->want, value) < 0)
        return -ENOMEM;
    labels_kick(ns);
    return 0;
}

/* ---------------------------------------------------------------- conditions */

static bool cond_dirty(const cond *c) {
    return c->set &&
           (!c->applied_known || c->status != c->a_status || !str_eq(c->reason, c->a_reason));
}

static void conds_kick(gl_nodestatus *ns);

static void on_cond_done(long status, const char *body, size_t len, int err, const char *errmsg,
                         void *userdata) {
    gl_nodestatus *ns = userdata;
    ns->cnd.req = NULL;
    bool ok = err == 0 && status >= 200 && status < 300;
    for (size_t i = 0; i < GL_NODE_COND_COUNT; i++) {
        cond *c = &ns->conds[i];
        if (!c->in_req)
            continue;
        c->in_req = false;
        if (ok) {
            c->applied_known = true;
            c->a_status = c->s_status;
            c->a_ltt = c->s_ltt;
            free(c->a_reason);
            c->a_reason = c->s_reason;
        } else {
            free(c->s_reason);
        }
        c->s_reason = NULL;
    }
    if (ok) {
        ns->stats.condition_patches++;
        ns->have_applied = true;
        ns->last_applied = ns->sending_at;
        ns->cnd.backoff_sec = GL_KUBE_BACKOFF_MIN_SEC;
        conds_kick(ns);
    } else {
        ns->stats.condition_failures++;
        ns->force = true; /* whatever that request carried is still owed */
        record_failure(ns, "node condition PATCH", status, body, len, err, errmsg);
        schedule_retry(ns, &ns->cnd);
    }
}

static void conds_kick(gl_nodestatus *ns) {
    if (busy(ns, &ns->cnd))
        return;
    bool dirty = false;
    for (size_t i = 0; i < GL_NODE_COND_COUNT; i++)
        dirty = dirty || cond_dirty(&ns->conds[i]);
    if (!dirty && !ns->force)
        return;
    json_t *arr = json_array();
    json_t *root = json_pack("{s:{s:o}}", "status", "conditions", arr);
    char *text = NULL, hb[32];
    int rc = root ? 0 : -ENOMEM;
    bool any = false;
    rfc3339(ns->now, hb, sizeof(hb));
    for (size_t i = 0; rc == 0 && i < GL_NODE_COND_COUNT; i++) {
        cond *c = &ns->conds[i];
        if (!c->set)
            continue;
        double ltt = c->applied_known && c->status == c->a_status ? c->a_ltt : c->changed_at;
        char lt[32];
        rfc3339(ltt, lt, sizeof(lt));
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", cond_names[i], "status",
                              c->status ? "True" : "False", "reason", c->reason, "message",
                              c->message ? c->message : "", "lastHeartbeatTime", hb,
                              "lastTransitionTime", lt);
        if (!o || json_array_append_new(arr, o) || set_str(&c->s_reason, c->reason) < 0) {
            rc = -ENOMEM;
            break;
        }
        c->s_status = c->status;
        c->s_ltt = ltt;
        c->in_req = true;
        any = true;
    }
    if (rc == 0 && any) {
        if (!dirty)
            ns->stats.heartbeats++;
        ns->force = false;
        ns->sending_at = ns->now;
        text = json_dumps(root, JSON_COMPACT);
        rc = text ? gl_kube_request(ns->client, "PATCH", ns->path_status,
                                    "application/strategic-merge-patch+json", text, strlen(text),
                                    GL_NODESTATUS_TIMEOUT_MS, on_cond_done, ns, &ns->cnd.req)
                  : -ENOMEM;
    }
    free(text);
    json_decref(root);
    if (rc < 0) {
        for (size_t i = 0; i < GL_NODE_COND_COUNT; i++) {
            ns->conds[i].in_req = false;
            free(ns->conds[i].s_reason);
            ns->conds[i].s_reason = NULL;
        }
        ns->cnd.req = NULL;
        ns->force = true;
        ns->stats.condition_failures++;
        record_failure(ns, "node condition PATCH", 0, NULL, 0, rc, NULL);
        schedule_retry(ns, &ns->cnd);
    }
}

int gl_nodestatus_set_condition(gl_nodestatus *ns, gl_node_condition which, bool status,
                                const char *reason, const char *message, double now_realtime) {
    if (!ns || (int)which < 0 || which >= GL_NODE_COND_COUNT || !reason || !reason[0] ||
        !valid_utf8(reason) || (message && !valid_utf8(message)) || !isfinite(now_realtime))
        return -EINVAL;
    cond *c = &ns->conds[which];
    if (set_str(&c->reason, reason) < 0 || set_str(&c->message, message ? message : "") < 0)
        return -ENOMEM;
    if (!c->set || c->status != status)
        c->changed_at = now_realtime;
    c->set = true;
    c->status = status;
    ns->now = now_realtime;
    conds_kick(ns);
    return 0;
}

void gl_nodestatus_heartbeat(gl_nodestatus *ns, double now_realtime) {
    if (!ns || !isfinite(now_realtime))
        return;
    ns->now = now_realtime;
    bool any = false;
    for (size_t i = 0; i < GL_NODE_COND_COUNT; i++)
        any = any || ns->conds[i].set;
    /* A request in flight refreshes the heartbeat itself; when it fails, force is set again. */
    if (!any || ns->cnd.req)
        return;
    if (!ns->have_applied || now_realtime - ns->last_applied >= GL_NODESTATUS_HEARTBEAT_SEC ||
        now_realtime < ns->last_applied)
        ns->force = true;
    conds_kick(ns);
}

/* ---------------------------------------------------------------- lifecycle */

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents) {
    gl_nodestatus *ns = t->data;
    (void)loop;
    (void)revents;
    if (t == &ns->lab.retry)
        labels_kick(ns);
    else
        conds_kick(ns);
}

int gl_nodestatus_new(gl_kube_client *client, const char *node, gl_nodestatus **out) {
    if (!client || !node || !node[0] || strlen(node) > 253 || !out)
        return -EINVAL;
    for (const char *p = node; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
            return -EINVAL;
    gl_nodestatus *ns = calloc(1, sizeof(*ns));
    if (!ns)
        return -ENOMEM;
    ns->client = client;
    ns->loop = gl_kube_client_loop(client);
    ev_timer_init(&ns->lab.retry, on_retry, 0., 0.);
    ev_timer_init(&ns->cnd.retry, on_retry, 0., 0.);
    ns->lab.retry.data = ns;
    ns->cnd.retry.data = ns;
    ns->lab.backoff_sec = GL_KUBE_BACKOFF_MIN_SEC;
    ns->cnd.backoff_sec = GL_KUBE_BACKOFF_MIN_SEC;
    char *pn = NULL, *ps = NULL;
    if (asprintf(&pn, "/api/v1/nodes/%s", node) < 0)
        pn = NULL;
    if (asprintf(&ps, "/api/v1/nodes/%s/status", node) < 0)
        ps = NULL;
    ns->path_node = pn;
    ns->path_status = ps;
    ns->node = strdup(node);
    if (!ns->node || !pn || !ps) {
        gl_nodestatus_free(ns);
        return -ENOMEM;
    }
    ns->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)ns;
    *out = ns;
    return 0;
}

bool gl_nodestatus_pending(const gl_nodestatus *ns) {
    if (!ns)
        return false;
    if (ns->lab.req || ns->cnd.req || ev_is_active(&ns->lab.retry) ||
        ev_is_active(&ns->cnd.retry) || ns->force)
        return true;
    for (size_t i = 0; i < ns->nlabels; i++)
        if (label_dirty(&ns->labels[i]))
            return true;
    for (size_t i = 0; i < GL_NODE_COND_COUNT; i++)
        if (cond_dirty(&ns->conds[i]))
            return true;
    return false;
}

void gl_nodestatus_get_stats(const gl_nodestatus *ns, gl_nodestatus_stats *out) {
    if (ns && out)
        *out = ns->stats;
}

void gl_nodestatus_free(gl_nodestatus *ns) {
    if (!ns)
        return;
    gl_kube_cancel(ns->lab.req);
    gl_kube_cancel(ns->cnd.req);
    if (ns->loop) {
        ev_timer_stop(ns->loop, &ns->lab.retry);
        ev_timer_stop(ns->loop, &ns->cnd.retry);
    }
    for (size_t i = 0; i < ns->nlabels; i++) {
        free(ns->labels[i].key);
        free(ns->labels[i].want);
        free(ns->labels[i].applied);
        free(ns->labels[i].sending);
    }
    for (size_t i = 0; i < GL_NODE_COND_COUNT; i++) {
        free(ns->conds[i].reason);
        free(ns->conds[i].message);
        free(ns->conds[i].a_reason);
        free(ns->conds[i].s_reason);
    }
    free(ns->node);
    free(ns->path_node);
    free(ns->path_status);
    free(ns);
}
