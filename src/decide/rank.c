/* rank.c: the order in which pods are chosen, and the runaway tests (leak, fork bomb) it uses. */
#include <math.h>
#include <string.h>

#include "guardlet/cgroup.h"

#include "policy-internal.h"

uint64_t gl_policy_share(uint64_t value, uint32_t bp) {
    /* Split so that neither product can overflow: bp is at most 10000. */
    return value / GL_PERCENT_BP_MAX * bp + value % GL_PERCENT_BP_MAX * bp / GL_PERCENT_BP_MAX;
}

double gl_policy_seconds_to_limit(const gl_policy_pod *p) {
    if (p->memory_limit_bytes == GL_CGROUP_UNLIMITED || p->memory_limit_bytes == 0 ||
        !(p->growth_per_sec > 0))
        return INFINITY;
    if (p->working_set_bytes >= p->memory_limit_bytes)
        return 0;
    return (double)(p->memory_limit_bytes - p->working_set_bytes) / p->growth_per_sec;
}

double gl_policy_seconds_to_node(const gl_policy_snapshot *snap, const gl_policy_pod *p) {
    /* Everything the pod adds comes out of the node's memory.available, so at this rate the node
     * runs dry after available / rate seconds, whatever the other pods do. */
    if (!(p->growth_per_sec > 0))
        return INFINITY;
    return (double)snap->available_bytes / p->growth_per_sec;
}

bool gl_policy_is_leak(const gl_config *c, const gl_policy_snapshot *snap, const gl_policy_pod *p) {
    double horizon_sec = (double)c->runaway.leak_horizon_usec / (double)GL_USEC_PER_SEC;

    /* Each condition rules out a different impostor: the least-squares screen alone is fooled by
     * one large step (robust: Theil-Sen confirmed it); slow growth is normal life (MinGrowthRate);
     * a sawtooth trends up too (rising share, see GL_LEAK_RISING_MIN_BP); a few seconds of history
     * say nothing about minutes (at least half the LeakWindow); and a leak that takes longer than
     * LeakHorizon to hurt anyone is left to the operator. */
    if (!p->growth_robust || !(p->growth_per_sec >= (double)c->runaway.min_growth_rate_bytes))
        return false;
    if (p->growth_rising_bp < GL_LEAK_RISING_MIN_BP)
        return false;
    if (p->growth_span_usec < c->runaway.leak_window_usec / 2)
        return false;
    return gl_policy_seconds_to_limit(p) <= horizon_sec ||
           gl_policy_seconds_to_node(snap, p) <= horizon_sec;
}

uint64_t gl_policy_pids_ceiling(const gl_policy_snapshot *snap, const gl_policy_pod *p) {
    /* pids.max 0 would make every pod a fork bomb; the kernel accepts it but no running pod has
     * it, so it is read as "unknown" like a missing file. */
    if (p->pids_max != GL_CGROUP_UNLIMITED && p->pids_max != 0)
        return p->pids_max;
    return snap->node_pids_max;
}

bool gl_policy_is_fork_bomb(const gl_config *c, const gl_policy_snapshot *snap,
                            const gl_policy_pod *p) {
    uint64_t ceiling = gl_policy_pids_ceiling(snap, p), threshold;

    if (ceiling == 0)
        return false; /* neither pids.max nor pid_max known: no evidence either way */
    threshold = gl_policy_share(ceiling, c->runaway.pids_above_bp);
    /* A tiny ceiling rounds the share down to 0, which every pod would reach. */
    if (threshold == 0)
        threshold = 1;
    return p->pids_current >= threshold;
}

uint64_t gl_policy_memory_excess(const gl_policy_pod *p) {
    if (!p->has_metadata)
        /* Local mode knows no requests. A BestEffort pod has none, and a Burstable one is treated
         * the same (its request is usually far below its use); a Guaranteed pod's request equals
         * its limit, so it is taken to be within it, as the kubelet would find. */
        return p->qos == GL_QOS_GUARANTEED ? 0 : p->working_set_bytes;
    return p->working_set_bytes > p->memory_request_bytes
               ? p->working_set_bytes - p->memory_request_bytes
               : 0;
}

static bool exceeds_request(const gl_policy_pod *p) {
    return gl_policy_memory_excess(p) > 0;
}

/* Local mode has no priorities: every pod counts as priority 0, so the order falls through to
 * usage. */
static int64_t priority_of(const gl_policy_pod *p) {
    return p->has_metadata ? p->priority : 0;
}

static int cmp_desc_u64(uint64_t a, uint64_t b) {
    return a > b ? -1 : a < b ? 1 : 0;
}

static int cmp_uid(const gl_policy_pod *a, const gl_policy_pod *b) {
    return strcmp(a->uid ? a->uid : "", b->uid ? b->uid : "");
}

/*
 * The kubelet evicts for memory by (1) whether usage exceeds the request, (2) priority, lowest
 * first, (3) usage above the request, largest first. guardlet puts runaway pods (leaks, fork
 * bombs) in front of all of that: they are the cause, and any other pod freed would be eaten by
 * them. Ties go to the larger working set (the most memory back per action) and then to the UID,
 * so the choice never depends on the order the pods were listed in.
 */
int gl_policy_memory_cmp(const gl_config *c, const gl_policy_snapshot *snap, const gl_policy_pod *a,
                         const gl_policy_pod *b) {
    bool ra = gl_policy_is_leak(c, snap, a) || gl_policy_is_fork_bomb(c, snap, a);
    bool rb = gl_policy_is_leak(c, snap, b) || gl_policy_is_fork_bomb(c, snap, b);
    bool ea = exceeds_request(a), eb = exceeds_request(b);
    int64_t pa = priority_of(a), pb = priority_of(b);
    int r;

    if (ra != rb)
        return ra ? -1 : 1;
    if (ea != eb)
        return ea ? -1 : 1;
    if (pa != pb)
        return pa < pb ? -1 : 1;
    if ((r = cmp_desc_u64(gl_policy_memory_excess(a), gl_policy_memory_excess(b))) != 0)
        return r;
    if ((r = cmp_desc_u64(a->working_set_bytes, b->working_set_bytes)) != 0)
        return r;
    return cmp_uid(a, b);
}

void gl_policy_rank(const gl_config *c, const gl_policy_snapshot *snap, size_t *order) {
    /* Insertion sort: a node runs at most a few hundred pods, the comparison is total, and no
     * allocation is needed (qsort has no context argument in C17). */
    for (size_t i = 0; i < snap->n_pods; i++) {
        size_t j = i;

        while (j > 0 &&
               gl_policy_memory_cmp(c, snap, &snap->pods[i], &snap->pods[order[j - 1]]) < 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

bool gl_policy_cpu_offender(const gl_policy_pod *p) {
    /* Local mode never throttles a Guaranteed pod: its CPU limit equals its request, so it cannot
     * be using more than it was promised, and that promise is what Guaranteed means. */
    if (!p->has_metadata)
        return p->qos != GL_QOS_GUARANTEED && p->cpu_usage_millicores > 0;
    return p->cpu_usage_millicores > p->cpu_request_millicores;
}

uint32_t gl_policy_cpu_excess(const gl_policy_pod *p) {
    if (!p->has_metadata)
        return p->qos == GL_QOS_GUARANTEED ? 0 : p->cpu_usage_millicores;
    return p->cpu_usage_millicores > p->cpu_request_millicores
               ? p->cpu_usage_millicores - p->cpu_request_millicores
               : 0;
}

/* Without requests, BestEffort pods asked for nothing and go first, Burstable ones next; with
 * requests the excess alone decides. A pod without metadata in API mode (just created, not yet
 * listed) competes in the local tiers; that window is a few seconds long. */
static int cpu_tier(const gl_policy_pod *p) {
    if (p->has_metadata)
        return 0;
    return p->qos == GL_QOS_BESTEFFORT ? 0 : 1;
}

int gl_policy_cpu_cmp(const gl_policy_pod *a, const gl_policy_pod *b) {
    int ta = cpu_tier(a), tb = cpu_tier(b), r;

    if (ta != tb)
        return ta < tb ? -1 : 1;
    if ((r = cmp_desc_u64(gl_policy_cpu_excess(a), gl_policy_cpu_excess(b))) != 0)
        return r;
    return cmp_uid(a, b);
}
