/* guard.c: turns a tick's sample and pods into a policy snapshot, logs each decision and carries it
 * out. */
#include "guardlet/guard.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guardlet/actuate.h"
#include "guardlet/fileio.h"
#include "guardlet/kubepods.h"
#include "guardlet/log.h"
#include "guardlet/meminfo.h"
#include "guardlet/node.h"
#include "guardlet/message_ids.h"

/* How long a freeze may take before it is given up (FIELD-NOTES: "frozen 1" arrives 0.1-1.8 ms
 * after the write; a cgroup that takes far longer is stuck in uninterruptible sleep). */
#define FREEZE_TIMEOUT_USEC 100000u

typedef struct {
    char uid[GL_POD_UID_LEN + 1];
    gl_act_saved saved;
} saved_entry;

/* An eviction in flight: the decision, with its own copies of the strings the snapshot lent. */
typedef struct {
    bool used;
    gl_guard *g;
    gl_decision d;
    char ns[256];
    char name[256];
    char cgroup[1024];
    bool dry_run;
} pending_eviction;

/* Evictions take one API round trip each and at most MaxEvictionsPerMinute start a minute; a
 * handful of slots is plenty, and a full table simply waits a tick. */
#define MAX_PENDING_EVICTIONS 16

struct gl_guard {
    gl_events *events;
    gl_guard_result_cb on_result; /* eviction answers, for metrics */
    void *on_result_userdata;
    uint64_t fork_bomb_usec; /* last fork-bomb decision carried out, 0 none */
    const gl_kube_podwatch *podwatch;
    uint64_t api_since_usec; /* when the pod watch was handed over */
    gl_evictor *evictor;
    pending_eviction pending[MAX_PENDING_EVICTIONS];
    gl_policy_state state;
    gl_policy_pod *snap_pods;
    size_t snap_cap;
    saved_entry saved[GL_POLICY_MAX_TRACKED];
    size_t n_saved;
    uint64_t node_pids_max;
    char self_uid[GL_POD_UID_LEN + 1]; /* empty when guardlet does not run in a pod */
    gl_guard_outcome recent[GL_GUARD_HISTORY];
    /* The ring's own copies of the strings its decisions borrowed from a snapshot (or from a
     * finished eviction), which are gone by the time anyone reads the history. */
    struct {
        char ns[64];
        char name[256];
        char cgroup[1024];
    } recent_str[GL_GUARD_HISTORY];
    size_t n_recent; /* total ever recorded; the ring holds the last GL_GUARD_HISTORY */
    /* The last tick's snapshot with its own copies of the strings (the pod view and the watch
     * cache lend theirs only until the next scan or loop iteration), for the status socket. */
    bool have_last;
    gl_policy_snapshot last;
    gl_policy_pod *last_pods;
    size_t last_cap;
    char *last_strings;
    size_t last_strings_cap;
};

/* Finds the pod UID in our own /proc/self/cgroup, so that guardlet never picks its own pod. */
static void find_self_uid(const char *proc_root, char *uid) {
    char path[4096], buf[4096];
    uid[0] = '\0';
    if (gl_path_join(path, sizeof(path), proc_root, "self/cgroup") < 0 ||
        gl_read_file(path, buf, sizeof(buf)) < 0)
        return;
    for (char *tok = strtok(buf, "/\n:"); tok; tok = strtok(NULL, "/\n:"))
        if (gl_kubepods_parse_pod_dir(tok, uid) == 0)
            return;
    uid[0] = '\0';
}

int gl_guard_new(const char *proc_root, gl_guard **out) {
    char path[4096], buf[64];
    gl_guard *g = calloc(1, sizeof(*g));
    if (!g)
        return -ENOMEM;
    if (gl_path_join(path, sizeof(path), proc_root, "sys/kernel/pid_max") == 0) {
        ssize_t n = gl_read_file(path, buf, sizeof(buf));
        if (n > 0)
            g->node_pids_max = strtoull(buf, NULL, 10);
    }
    find_self_uid(proc_root, g->self_uid);
    *out = g;
    return 0;
}

void gl_guard_set_api(gl_guard *g, const gl_kube_podwatch *podwatch, gl_evictor *evictor) {
    g->podwatch = podwatch;
    g->evictor = evictor;
    g->api_since_usec = gl_now_usec();
}

void gl_guard_set_events(gl_guard *g, gl_events *events) {
    g->events = events;
}

void gl_guard_set_result_cb(gl_guard *g, gl_guard_result_cb cb, void *userdata) {
    g->on_result = cb;
    g->on_result_userdata = userdata;
}

bool gl_guard_fork_bomb_recent(const gl_guard *g, uint64_t now_usec, uint64_t window_usec) {
    return g->fork_bomb_usec && now_usec - g->fork_bomb_usec <= window_usec;
}

/* The contract's event reasons. A decision about a runaway pod says so; otherwise the action
 * names it. Events need a pod name, so local-mode pods (no metadata) get none. */
static void emit_event(gl_guard *g, const gl_guard_outcome *o) {
    static const char *const reasons[GL_ACTION_N] = {
        [GL_ACTION_THROTTLE_MEMORY] = "GuardletThrottled",
        [GL_ACTION_THROTTLE_CPU] = "GuardletThrottled",
        [GL_ACTION_FREEZE] = "GuardletFrozen",
        [GL_ACTION_EVICT] = "GuardletEvicted",
        [GL_ACTION_KILL] = "GuardletKilled",
        [GL_ACTION_RESTORE] = "GuardletRestored",
    };
    const gl_decision *d = &o->d;
    char msg[GL_DECISION_DETAIL_MAX + 64];
    const char *reason = reasons[d->action];

    if (!g->events || !d->ns || !d->name || o->error)
        return;
    if (d->skip == GL_SKIP_BLOCKED)
        reason = "GuardletEvictionBlocked";
    else if (d->skip != GL_SKIP_NONE && d->skip != GL_SKIP_DRY_RUN)
        return; /* protected, rate-limited, ...: the journal has them; the cluster needs actions */
    else if (d->reason == GL_REASON_LEAK || d->reason == GL_REASON_FORK_BOMB)
        reason = d->action == GL_ACTION_THROTTLE_MEMORY ? "GuardletRunaway" : reason;
    snprintf(msg, sizeof(msg), "%s%s (%s): %s", o->dry_run ? "dry run: " : "",
             gl_action_name(d->action), gl_reason_name(d->reason), d->detail);
    gl_events_object obj = {.kind = "Pod", .namespace_ = d->ns, .name = d->name, .uid = d->uid};
    bool warn =
        d->action == GL_ACTION_KILL || d->action == GL_ACTION_EVICT || d->skip == GL_SKIP_BLOCKED;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* Dropped by the rate limit or a full queue: the journal entry stands, the event is optional.
     */
    gl_events_emit(g->events, &obj, warn ? "Warning" : "Normal", reason, msg,
                   (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}

void gl_guard_free(gl_guard *g) {
    if (!g)
        return;
    free(g->snap_pods);
    free(g->last_pods);
    free(g->last_strings);
    free(g);
}

static gl_act_saved *saved_for(gl_guard *g, const char *uid, bool create) {
    for (size_t i = 0; i < g->n_saved; i++)
        if (strcmp(g->saved[i].uid, uid) == 0)
            return &g->saved[i].saved;
    if (!create || g->n_saved == GL_POLICY_MAX_TRACKED)
        return NULL;
    saved_entry *e = &g->saved[g->n_saved++];
    memset(e, 0, sizeof(*e));
    snprintf(e->uid, sizeof(e->uid), "%s", uid);
    return &e->saved;
}

size_t gl_guard_release_all(gl_guard *g, const gl_cgroup_layout *l, const gl_pods *pods) {
    size_t n = 0;
    for (size_t i = 0; pods && i < g->state.n_pods; i++) {
        const gl_policy_pod_state *ps = &g->state.pods[i];
        if (ps->killed || ps->eviction_pending ||
            !(ps->memory_throttled || ps->cpu_throttled || ps->frozen))
            continue;
        const gl_pod *p = gl_pods_find(pods, ps->uid);
        gl_act_saved *saved = saved_for(g, ps->uid, false);
        if (!p)
            continue;
        int r = saved ? gl_act_restore(l, p->cgroup, saved) : 0;
        int t = ps->frozen ? gl_act_thaw(l, p->cgroup) : 0;
        if (t == -EOPNOTSUPP)
            t = 0;
        gl_log_field f[] = {
            {"MESSAGE_ID", GL_MID_RESTORE},
            {"GUARDLET_ACTION", "restore"},
            {"GUARDLET_REASON", "guardlet-stopping"},
            {"GUARDLET_OUTCOME", r < 0 || t < 0 ? "failed" : "done"},
            {"POD_UID", ps->uid},
            {"CGROUP_PATH", p->cgroup},
        };
        gl_log_fields(r < 0 || t < 0 ? LOG_WARNING : LOG_NOTICE, f, sizeof(f) / sizeof(f[0]),
                      "guardlet is stopping: released pod %s (%s%s%s)%s%s", ps->uid,
                      ps->memory_throttled || ps->cpu_throttled ? "limits restored" : "",
                      (ps->memory_throttled || ps->cpu_throttled) && ps->frozen ? ", " : "",
                      ps->frozen ? "thawed" : "", r < 0 || t < 0 ? ": " : "",
                      r < 0   ? strerror(-r)
                      : t < 0 ? strerror(-t)
                              : "");
        n++;
    }
    return n;
}

/* Forgets saved values of pods that ended: their cgroups (and limits) are gone. */
static void saved_prune(gl_guard *g, const gl_pods *pods) {
    size_t kept = 0;
    for (size_t i = 0; i < g->n_saved; i++)
        if (gl_pods_find(pods, g->saved[i].uid))
            g->saved[kept++] = g->saved[i];
    g->n_saved = kept;
}

/* Fills what the API server knows about a pod; returns false when it knows nothing (yet). */
static bool join_metadata(const gl_guard *g, const gl_config *c, gl_policy_pod *pp) {
    const gl_kube_pod *kp = g->podwatch ? gl_kube_podwatch_find(g->podwatch, pp->uid) : NULL;
    if (!kp)
        return false;
    const char *ann =
        c->protect.annotation[0] ? gl_kube_pod_annotation(kp, c->protect.annotation) : NULL;
    pp->has_metadata = true;
    pp->ns = kp->namespace_;
    pp->name = kp->name;
    pp->priority = kp->priority;
    pp->memory_request_bytes = kp->memory_request_bytes;
    pp->cpu_request_millicores = (uint32_t)kp->cpu_request_millicores;
    pp->annotation_protected = ann && strcmp(ann, "true") == 0;
    pp->static_pod = kp->is_static || kp->is_mirror;
    /* The API server's status.qosClass is the truth; the cgroup path only says where the kubelet
     * put the pod, which is the same unless a pod was resized or the layout is unusual. */
    gl_kube_qos_to_local(kp->qos, &pp->qos);
    return true;
}

/*
 * API mode, before the first pod list: nobody knows yet which pods a namespace, priority or
 * annotation protects, so none is acted on. Held only while the list is in flight and for at most
 * GL_GUARD_SYNC_GRACE_USEC: once it failed (the API server is down, the CA is wrong, ...) or the
 * grace is over, local-mode rules apply, because local protection never waits on the API server.
 * After the list, a pod the cache does not know is judged by local-mode rules too (the kubelet
 * creates a pod's cgroup after the API server bound it here, so the watch has usually told us).
 */
static bool metadata_pending(const gl_guard *g, uint64_t now) {
    gl_kube_podwatch_stats st;
    if (!g->podwatch)
        return false;
    gl_kube_podwatch_get_stats(g->podwatch, &st);
    return !st.synced && !st.failing && now - g->api_since_usec < GL_GUARD_SYNC_GRACE_USEC;
}

static int build_snapshot(gl_guard *g, const gl_config *c, const gl_node_sample *s,
                          const gl_pods *pods, gl_policy_snapshot *snap) {
    size_t n = pods ? gl_pods_count(pods) : 0;
    if (n > g->snap_cap) {
        gl_policy_pod *v = realloc(g->snap_pods, n * sizeof(*v));
        if (!v)
            return -ENOMEM;
        g->snap_pods = v;
        g->snap_cap = n;
    }
    bool pending = metadata_pending(g, gl_now_usec());
    for (size_t i = 0; i < n; i++) {
        const gl_pod *p = gl_pods_at(pods, i);
        g->snap_pods[i] = (gl_policy_pod){
            .uid = p->uid,
            .qos = p->qos,
            .cgroup = p->cgroup,
            /* Local mode: names, priorities and requests come with the Kubernetes client. */
            .has_metadata = false,
            .self = g->self_uid[0] && strcmp(g->self_uid, p->uid) == 0,
            .working_set_bytes = p->cur.memory_working_set_bytes,
            .memory_limit_bytes = p->cur.memory_max_bytes,
            .memory_high_bytes = p->cur.memory_high_bytes,
            .growth_per_sec = p->growth.n_points ? p->growth.slope_per_sec : 0.0,
            .growth_robust = p->growth_robust,
            .growth_rising_bp = p->growth.rising_bp,
            .growth_span_usec = p->growth.span_usec,
            .cpu_usage_millicores = p->cpu_usage_millicores,
            .pids_current = p->cur.pids_current,
            .pids_max = p->cur.pids_max,
        };
        bool known = join_metadata(g, c, &g->snap_pods[i]);
        g->snap_pods[i].metadata_pending = pending && !known;
        /* Without a name there is nothing to evict; a budget's "no" backs off per pod. */
        g->snap_pods[i].eviction_backoff =
            !known || (g->evictor &&
                       gl_evictor_retry_after(g->evictor, p->uid, gl_now_usec()) > gl_now_usec());
    }
    *snap = (gl_policy_snapshot){
        .now_usec = s->timestamp_usec,
        .capacity_bytes = s->capacity_bytes,
        .available_bytes = s->available_bytes,
        .memory_psi_some_avg10_bp = s->psi[GL_PSI_MEMORY].some.avg10_bp,
        .memory_psi_valid = s->psi_error[GL_PSI_MEMORY] == 0,
        .cpu_psi_some_avg10_bp = s->psi[GL_PSI_CPU].some.avg10_bp,
        .cpu_psi_valid = s->psi_error[GL_PSI_CPU] == 0,
        .node_pids_max = g->node_pids_max,
        .cpus = s->cpus,
        .can_evict = g->evictor != NULL,
        .pods = g->snap_pods,
        .n_pods = n,
    };
    return 0;
}

static const char *message_id(const gl_guard_outcome *o) {
    static const char *const ids[GL_ACTION_N] = {
        [GL_ACTION_THROTTLE_MEMORY] = GL_MID_THROTTLE_MEMORY,
        [GL_ACTION_THROTTLE_CPU] = GL_MID_THROTTLE_CPU,
        [GL_ACTION_FREEZE] = GL_MID_FREEZE,
        [GL_ACTION_EVICT] = GL_MID_EVICT,
        [GL_ACTION_KILL] = GL_MID_KILL,
        [GL_ACTION_RESTORE] = GL_MID_RESTORE,
    };
    if (o->error)
        return GL_MID_ACTION_FAILED;
    if (o->d.skip != GL_SKIP_NONE && o->d.skip != GL_SKIP_DRY_RUN)
        return GL_MID_NOT_ACTED;
    return ids[o->d.action];
}

/* How loud: destruction is a warning, throttling a notice, undoing it info; decisions not carried
 * out are notices (someone expected an action), failures errors. */
static int priority_of(const gl_guard_outcome *o) {
    if (o->error)
        return LOG_ERR;
    if (o->d.skip != GL_SKIP_NONE && o->d.skip != GL_SKIP_DRY_RUN)
        return LOG_NOTICE;
    switch (o->d.action) {
    case GL_ACTION_KILL:
    case GL_ACTION_EVICT:
        return LOG_WARNING;
    case GL_ACTION_RESTORE:
        return LOG_INFO;
    default:
        return LOG_NOTICE;
    }
}

static const char *protected_by_name(gl_protect p) {
    return gl_protect_word(p, 0);
}

static void log_outcome(const gl_guard_outcome *o) {
    const gl_decision *d = &o->d;
    char avail[24], thr[24], ws[24], lim[24], growth[32], pids[24], cpu[24], target[24], psi[16];
    char err[128] = "";

    snprintf(avail, sizeof(avail), "%" PRIu64, d->fig.node_available_bytes);
    snprintf(thr, sizeof(thr), "%" PRIu64, d->fig.threshold_bytes);
    snprintf(ws, sizeof(ws), "%" PRIu64, d->fig.pod_working_set_bytes);
    if (d->fig.pod_limit_bytes == UINT64_MAX)
        snprintf(lim, sizeof(lim), "max");
    else
        snprintf(lim, sizeof(lim), "%" PRIu64, d->fig.pod_limit_bytes);
    snprintf(growth, sizeof(growth), "%.0f", d->fig.pod_growth_per_sec);
    snprintf(pids, sizeof(pids), "%" PRIu64, d->fig.pod_pids);
    snprintf(cpu, sizeof(cpu), "%u", d->fig.pod_cpu_millicores);
    snprintf(target, sizeof(target), "%" PRIu64, d->fig.target);
    snprintf(psi, sizeof(psi), "%u.%02u", d->fig.psi_some_avg10_bp / 100,
             d->fig.psi_some_avg10_bp % 100);
    if (o->error)
        snprintf(err, sizeof(err), ": failed: %s", strerror(-o->error));

    gl_log_field f[32];
    size_t n = 0;
#define FIELD(k, v) f[n++] = (gl_log_field){(k), (v)}
    FIELD("MESSAGE_ID", message_id(o));
    FIELD("GUARDLET_ACTION", gl_action_name(d->action));
    FIELD("GUARDLET_REASON", gl_reason_name(d->reason));
    FIELD("GUARDLET_DRY_RUN", o->dry_run ? "1" : "0");
    if (d->skip != GL_SKIP_NONE)
        FIELD("GUARDLET_SKIP", gl_skip_name(d->skip));
    if (d->skip == GL_SKIP_PROTECTED)
        FIELD("GUARDLET_PROTECTED_BY", protected_by_name(d->protected_by));
    FIELD("GUARDLET_OUTCOME", o->error ? "failed" : o->done ? "done" : "not-done");
    if (d->ns)
        FIELD("POD_NAMESPACE", d->ns);
    if (d->name)
        FIELD("POD_NAME", d->name);
    FIELD("POD_UID", d->uid);
    FIELD("POD_QOS", gl_qos_name(d->qos));
    if (d->cgroup)
        FIELD("CGROUP_PATH", d->cgroup);
    FIELD("NODE_MEMORY_AVAILABLE_BYTES", avail);
    if (d->fig.threshold_bytes)
        FIELD("NODE_MEMORY_THRESHOLD_BYTES", thr);
    FIELD("POD_WORKING_SET_BYTES", ws);
    FIELD("POD_MEMORY_LIMIT_BYTES", lim);
    FIELD("POD_GROWTH_BYTES_PER_SEC", growth);
    FIELD("POD_PIDS", pids);
    FIELD("POD_CPU_MILLICORES", cpu);
    FIELD("PSI_SOME_AVG10", psi);
    if (d->fig.target)
        FIELD("GUARDLET_TARGET", target);
#undef FIELD
    const char *who = d->name ? d->name : d->uid;
    if (d->skip != GL_SKIP_NONE && d->skip != GL_SKIP_DRY_RUN)
        gl_log_fields(priority_of(o), f, n, "Not %s pod %s%s%s (%s): %s", gl_action_name(d->action),
                      d->ns ? d->ns : "", d->ns ? "/" : "", who, gl_skip_name(d->skip), d->detail);
    else
        gl_log_fields(priority_of(o), f, n, "%s%s pod %s%s%s (%s): %s%s",
                      o->dry_run ? "Dry run: " : "", gl_action_name(d->action), d->ns ? d->ns : "",
                      d->ns ? "/" : "", who, gl_reason_name(d->reason), d->detail, err);
}

static void remember(gl_guard *g, const gl_guard_outcome *o);

/* The Eviction API's answer: logged as its own entry (the request was logged when sent), and fed
 * back so that a "no" makes the policy choose another pod next tick. */
static void on_eviction_result(gl_evict_result result, long http_status, const char *message,
                               void *userdata) {
    pending_eviction *pe = userdata;
    gl_guard *g = pe->g;
    gl_guard_outcome o = {.d = pe->d, .t_usec = gl_now_usec(), .dry_run = pe->dry_run};
    char status[16], avail[24], ws[24];

    snprintf(status, sizeof(status), "%ld", http_status);
    /* The figures of the decision that sent it, so that this entry also stands on its own. */
    snprintf(avail, sizeof(avail), "%" PRIu64, pe->d.fig.node_available_bytes);
    snprintf(ws, sizeof(ws), "%" PRIu64, pe->d.fig.pod_working_set_bytes);
    switch (result) {
    case GL_EVICT_OK:
        o.done = true;
        break;
    case GL_EVICT_GONE:
        gl_policy_pod_gone(&g->state, pe->d.uid);
        o.done = true;
        break;
    case GL_EVICT_BLOCKED:
        o.d.skip = GL_SKIP_BLOCKED;
        gl_policy_action_failed(&g->state, &pe->d);
        break;
    case GL_EVICT_RETRY:
    case GL_EVICT_FAILED:
        o.error = -EIO;
        gl_policy_action_failed(&g->state, &pe->d);
        break;
    }
    gl_log_field f[] = {
        {"MESSAGE_ID", result == GL_EVICT_BLOCKED ? GL_MID_NOT_ACTED
                       : o.error                  ? GL_MID_ACTION_FAILED
                                                  : GL_MID_EVICT},
        {"GUARDLET_ACTION", "evict"},
        {"GUARDLET_REASON", gl_reason_name(pe->d.reason)},
        {"GUARDLET_DRY_RUN", "0"},
        {"GUARDLET_EVICTION_RESULT", gl_evict_result_name(result)},
        {"GUARDLET_OUTCOME", o.error  ? "failed"
                             : o.done ? "done"
                                      : "not-done"},
        {"GUARDLET_SKIP", result == GL_EVICT_BLOCKED ? "blocked" : ""},
        {"HTTP_STATUS", status},
        {"POD_NAMESPACE", pe->ns},
        {"POD_NAME", pe->name},
        {"POD_UID", pe->d.uid},
        {"POD_QOS", gl_qos_name(pe->d.qos)},
        {"CGROUP_PATH", pe->cgroup},
        {"NODE_MEMORY_AVAILABLE_BYTES", avail},
        {"POD_WORKING_SET_BYTES", ws},
    };
    gl_log_fields(result == GL_EVICT_OK || result == GL_EVICT_GONE ? LOG_NOTICE : LOG_WARNING, f,
                  sizeof(f) / sizeof(f[0]), "Eviction of pod %s/%s %s%s%s", pe->ns, pe->name,
                  result == GL_EVICT_OK     ? "accepted"
                  : result == GL_EVICT_GONE ? "not needed: the pod is already gone"
                  : result == GL_EVICT_BLOCKED
                      ? "blocked by a disruption budget; the next candidate is chosen"
                      : "failed; it will be retried",
                  message && message[0] ? ": " : "", message ? message : "");
    if (result == GL_EVICT_OK || result == GL_EVICT_BLOCKED)
        emit_event(g, &o);
    remember(g, &o);
    if (g->on_result)
        g->on_result(&o, g->on_result_userdata);
    pe->used = false;
}

static int start_eviction(gl_guard *g, const gl_config *c, const gl_decision *d) {
    pending_eviction *pe = NULL;
    if (!g->evictor || !d->ns || !d->name)
        return -EOPNOTSUPP;
    for (size_t i = 0; i < MAX_PENDING_EVICTIONS && !pe; i++)
        if (!g->pending[i].used)
            pe = &g->pending[i];
    if (!pe)
        return -EBUSY;
    *pe = (pending_eviction){
        .used = true, .g = g, .d = *d, .dry_run = c->guard.mode == GL_MODE_DRY_RUN};
    snprintf(pe->ns, sizeof(pe->ns), "%s", d->ns);
    snprintf(pe->name, sizeof(pe->name), "%s", d->name);
    snprintf(pe->cgroup, sizeof(pe->cgroup), "%s", d->cgroup ? d->cgroup : "");
    pe->d.ns = pe->ns;
    pe->d.name = pe->name;
    pe->d.cgroup = pe->cgroup;
    int r =
        gl_evict(g->evictor, d->ns, d->name, d->uid,
                 (int64_t)(c->actions.evict_grace_period_usec / 1000000u), on_eviction_result, pe);
    if (r < 0)
        pe->used = false;
    return r;
}

/* Carries one decision out. Returns 0 or a negative errno. */
static int carry_out(gl_guard *g, const gl_config *c, const gl_cgroup_layout *l,
                     const gl_decision *d) {
    gl_act_saved *saved;

    switch (d->action) {
    case GL_ACTION_THROTTLE_MEMORY:
        if (!(saved = saved_for(g, d->uid, true)))
            return -ENOSPC;
        return gl_act_memory_high(l, d->cgroup, d->fig.target, saved);
    case GL_ACTION_THROTTLE_CPU:
        if (!(saved = saved_for(g, d->uid, true)))
            return -ENOSPC;
        return gl_act_cpu_max(l, d->cgroup, (uint32_t)d->fig.target, saved);
    case GL_ACTION_FREEZE:
        return gl_act_freeze(l, d->cgroup, FREEZE_TIMEOUT_USEC);
    case GL_ACTION_KILL:
        return gl_act_kill(l, d->cgroup, NULL);
    case GL_ACTION_RESTORE: {
        /* A restore undoes everything in force: limits back, and thawed if frozen. */
        int r = 0;
        if ((saved = saved_for(g, d->uid, false)))
            r = gl_act_restore(l, d->cgroup, saved);
        int t = gl_act_thaw(l, d->cgroup);
        return r < 0 ? r : (t == -EOPNOTSUPP ? 0 : t);
    }
    case GL_ACTION_EVICT:
        return start_eviction(g, c, d);
    case GL_ACTION_N:
        break;
    }
    return -EINVAL;
}

static void remember(gl_guard *g, const gl_guard_outcome *o) {
    size_t slot = g->n_recent % GL_GUARD_HISTORY;
    gl_guard_outcome *r = &g->recent[slot];

    *r = *o;
    if (o->d.ns)
        r->d.ns = strncpy(g->recent_str[slot].ns, o->d.ns, sizeof(g->recent_str[slot].ns) - 1);
    if (o->d.name)
        r->d.name =
            strncpy(g->recent_str[slot].name, o->d.name, sizeof(g->recent_str[slot].name) - 1);
    if (o->d.cgroup)
        r->d.cgroup = strncpy(g->recent_str[slot].cgroup, o->d.cgroup,
                              sizeof(g->recent_str[slot].cgroup) - 1);
    g->n_recent++;
}

/* Copies one borrowed string into the arena; NULL stays NULL. */
static const char *keep_string(char **at, const char *src) {
    if (!src)
        return NULL;
    size_t n = strlen(src) + 1;
    char *dst = *at;
    memcpy(dst, src, n);
    *at += n;
    return dst;
}

/* Keeps a copy of snap that stays valid until the next tick. On ENOMEM the previous copy is
 * dropped rather than left pointing at freed strings. */
static void keep_snapshot(gl_guard *g, const gl_policy_snapshot *snap) {
    size_t need = 0;

    g->have_last = false;
    for (size_t i = 0; i < snap->n_pods; i++) {
        const gl_policy_pod *p = &snap->pods[i];
        const char *strs[] = {p->uid, p->ns, p->name, p->cgroup};
        for (size_t j = 0; j < sizeof(strs) / sizeof(strs[0]); j++)
            need += strs[j] ? strlen(strs[j]) + 1 : 0;
    }
    if (snap->n_pods > g->last_cap) {
        gl_policy_pod *v = realloc(g->last_pods, snap->n_pods * sizeof(*v));
        if (!v)
            return;
        g->last_pods = v;
        g->last_cap = snap->n_pods;
    }
    if (need > g->last_strings_cap) {
        char *v = realloc(g->last_strings, need);
        if (!v)
            return;
        g->last_strings = v;
        g->last_strings_cap = need;
    }
    char *at = g->last_strings;
    for (size_t i = 0; i < snap->n_pods; i++) {
        gl_policy_pod *p = &g->last_pods[i];
        *p = snap->pods[i];
        p->uid = keep_string(&at, p->uid);
        p->ns = keep_string(&at, p->ns);
        p->name = keep_string(&at, p->name);
        p->cgroup = keep_string(&at, p->cgroup);
    }
    g->last = *snap;
    g->last.pods = g->last_pods;
    g->have_last = true;
}

const gl_policy_snapshot *gl_guard_last_snapshot(const gl_guard *g) {
    return g->have_last ? &g->last : NULL;
}

const gl_policy_state *gl_guard_policy_state(const gl_guard *g) {
    return &g->state;
}

const gl_guard_outcome *gl_guard_recent_nth(const gl_guard *g, size_t i) {
    if (i >= g->n_recent || i >= GL_GUARD_HISTORY)
        return NULL;
    return &g->recent[(g->n_recent - 1 - i) % GL_GUARD_HISTORY];
}

size_t gl_guard_recent(const gl_guard *g, const gl_guard_outcome **out) {
    *out = g->recent;
    return g->n_recent < GL_GUARD_HISTORY ? g->n_recent : GL_GUARD_HISTORY;
}

size_t gl_guard_tick(gl_guard *g, const gl_config *c, const gl_cgroup_layout *l,
                     const gl_node_sample *s, const gl_pods *pods, bool act, bool log,
                     gl_guard_outcome *out, size_t max) {
    gl_policy_snapshot snap;
    gl_decision decisions[GL_POLICY_MAX_DECISIONS];

    if (build_snapshot(g, c, s, pods, &snap) < 0) {
        if (log)
            gl_log_err("Out of memory building the policy snapshot; no decisions this tick");
        return 0;
    }
    if (pods)
        saved_prune(g, pods);
    keep_snapshot(g, &snap);
    size_t n = gl_policy_decide(c, &snap, &g->state, decisions, GL_POLICY_MAX_DECISIONS);
    bool dry = c->guard.mode == GL_MODE_DRY_RUN;

    for (size_t i = 0; i < n; i++) {
        gl_guard_outcome o = {.d = decisions[i], .t_usec = s->timestamp_usec, .dry_run = dry};
        gl_decision *d = &o.d;

        if (act && d->skip == GL_SKIP_NONE && d->destructive) {
            /* Re-check right before destroying anything: memory may have come back while we
             * chose (a pod finished, the kernel reclaimed), and then nothing must die. */
            gl_meminfo m;
            /* The configured proc root, not the one at start: a reload may have changed it. */
            if (gl_meminfo_read(c->guard.proc_root, &m) == 0 &&
                !gl_policy_recheck(c, d, gl_meminfo_kubelet_available(&m), m.total_bytes)) {
                d->skip = GL_SKIP_RECOVERED;
                gl_policy_action_failed(&g->state, d);
            }
        }
        if (act && d->skip == GL_SKIP_NONE) {
            o.error = carry_out(g, c, l, d);
            o.done = o.error == 0;
            if (o.error)
                gl_policy_action_failed(&g->state, d);
        }
        if (log)
            log_outcome(&o);
        /* An eviction's event waits for the API server's answer (on_eviction_result). */
        if (d->action != GL_ACTION_EVICT || d->skip != GL_SKIP_NONE)
            emit_event(g, &o);
        if (o.done && d->reason == GL_REASON_FORK_BOMB)
            g->fork_bomb_usec = s->timestamp_usec;
        remember(g, &o);
        if (out && i < max)
            out[i] = o;
    }
    return n;
}
