/* test_policy.c: Check suite for the decision engine: signals, ladder, ranking, protection, state.
 */
#include "guardlet/policy.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/cgroup.h"

#include "testutil.h"

#define MiB  (UINT64_C(1) << 20)
#define GiB  (UINT64_C(1) << 30)
#define SEC  UINT64_C(1000000)
#define T0   (1000 * SEC) /* every scenario starts here; times in tables are seconds after it */
#define UNL  GL_CGROUP_UNLIMITED
#define NPOD 8

/* On the 16 GiB test node the defaults put ThrottleBelow at 2.4Gi, EvictBelow at 1.28Gi and
 * KillBelow at 491Mi; these sit well inside each level. */
#define CAPACITY    (16 * GiB)
#define AV_OK       (8 * GiB)
#define AV_THROTTLE (2 * GiB)
#define AV_EVICT    (1 * GiB)
#define AV_KILL     (256 * MiB)

/* UIDs in lexical order of their index, so ties broken by UID are easy to predict. */
static const char *const uids[NPOD] = {
    "10000000-0000-4000-8000-000000000000", "20000000-0000-4000-8000-000000000000",
    "30000000-0000-4000-8000-000000000000", "40000000-0000-4000-8000-000000000000",
    "50000000-0000-4000-8000-000000000000", "60000000-0000-4000-8000-000000000000",
    "70000000-0000-4000-8000-000000000000", "80000000-0000-4000-8000-000000000000",
};

/* One test's world: the contract's default config, a node, its pods and the policy's memory. */
static struct {
    gl_config c;
    gl_policy_pod pods[NPOD];
    size_t n;
    gl_policy_snapshot snap;
    gl_policy_state st;
    gl_decision out[GL_POLICY_MAX_DECISIONS];
    size_t n_out;
} F;

static void setup(void) {
    memset(&F, 0, sizeof(F));
    ck_assert_int_eq(gl_config_init_defaults(&F.c), 0);
    F.snap = (gl_policy_snapshot){
        .now_usec = T0,
        .capacity_bytes = CAPACITY,
        .available_bytes = AV_OK,
        .memory_psi_valid = true,
        .cpu_psi_valid = true,
        .node_pids_max = 4194304,
        .cpus = 8,
        .pods = F.pods,
    };
}

static void teardown(void) {
    gl_config_free(&F.c);
}

/* A pod as local mode sees it: no metadata, no limits, a little CPU, a few pids. */
static gl_policy_pod *pod(gl_qos qos, uint64_t ws) {
    gl_policy_pod *p = &F.pods[F.n];

    ck_assert_uint_lt(F.n, NPOD);
    *p = (gl_policy_pod){
        .uid = uids[F.n],
        .qos = qos,
        .cgroup = "kubepods.slice/pod",
        .working_set_bytes = ws,
        .memory_limit_bytes = UNL,
        .memory_high_bytes = UNL,
        .cpu_usage_millicores = 100,
        .pids_current = 5,
        .pids_max = UNL,
    };
    F.n++;
    F.snap.n_pods = F.n;
    return p;
}

/* What the API server adds. */
static gl_policy_pod *meta(gl_policy_pod *p, const char *ns, int64_t priority, uint64_t request) {
    p->has_metadata = true;
    p->ns = ns;
    p->name = "web";
    p->priority = priority;
    p->memory_request_bytes = request;
    return p;
}

/* Confirmed, steady growth over a full window. */
static gl_policy_pod *leaking(gl_policy_pod *p, double bytes_per_sec) {
    p->growth_per_sec = bytes_per_sec;
    p->growth_robust = true;
    p->growth_rising_bp = 8000;
    p->growth_span_usec = 120 * SEC;
    return p;
}

static void protect_uid(size_t i) {
    char **v = realloc(F.c.protect.pod_uids, (F.c.protect.n_pod_uids + 1) * sizeof(char *));

    ck_assert_ptr_nonnull(v);
    F.c.protect.pod_uids = v;
    v[F.c.protect.n_pod_uids++] = strdup(uids[i]);
}

static void tick_at(uint64_t sec) {
    F.snap.now_usec = T0 + sec * SEC;
    F.snap.n_pods = F.n;
    F.n_out = gl_policy_decide(&F.c, &F.snap, &F.st, F.out, GL_POLICY_MAX_DECISIONS);
}

/* ---- expectations ---- */

typedef struct {
    gl_action action;
    gl_reason reason;
    gl_skip skip;
    size_t pod;
    uint64_t target; /* 0: not checked */
} want;

#define W(a, r, s, i)                                                                              \
    { GL_ACTION_##a, GL_REASON_##r, GL_SKIP_##s, (i), 0 }
#define WT(a, r, s, i, t)                                                                          \
    { GL_ACTION_##a, GL_REASON_##r, GL_SKIP_##s, (i), (t) }

static void dump(const char *label) {
    fprintf(stderr, "%s: %zu decision(s)\n", label, F.n_out);
    for (size_t i = 0; i < F.n_out; i++)
        fprintf(stderr, "  %s %s [%s] %s target=%llu: %s\n", gl_action_name(F.out[i].action),
                gl_reason_name(F.out[i].reason), gl_skip_name(F.out[i].skip), F.out[i].uid,
                (unsigned long long)F.out[i].fig.target, F.out[i].detail);
}

static void expect(const char *label, const want *w, size_t n) {
    bool ok = F.n_out == n;

    for (size_t i = 0; ok && i < n; i++) {
        const gl_decision *d = &F.out[i];

        ok = d->action == w[i].action && d->reason == w[i].reason && d->skip == w[i].skip &&
             strcmp(d->uid, uids[w[i].pod]) == 0 && (!w[i].target || d->fig.target == w[i].target);
    }
    if (!ok)
        dump(label);
    ck_assert_msg(ok, "%s: unexpected decisions (see above)", label);
    for (size_t i = 0; i < n; i++) {
        const gl_decision *d = &F.out[i];
        bool carried = d->skip == GL_SKIP_NONE || d->skip == GL_SKIP_DRY_RUN;

        /* Every decision explains itself, and evictions and kills ask for a re-check. */
        ck_assert_msg(d->detail[0] != '\0', "%s: decision %zu has no detail", label, i);
        if (carried && (d->action == GL_ACTION_EVICT || d->action == GL_ACTION_KILL))
            ck_assert_msg(d->destructive, "%s: decision %zu is not destructive", label, i);
        if (d->skip == GL_SKIP_PROTECTED)
            ck_assert_msg(d->protected_by != GL_PROTECT_NONE, "%s: no protected_by", label);
    }
}

/* ---- worlds ---- */

/* Local mode: the Burstable 2 GiB pod (1) ranks before the BestEffort 1 GiB pod (0). */
static void two_local(void) {
    pod(GL_QOS_BESTEFFORT, 1 * GiB);
    pod(GL_QOS_BURSTABLE, 2 * GiB);
}

/* API mode: pod 1 is 1.5 GiB above its request, pod 0 768 MiB. */
static void two_api(void) {
    F.snap.can_evict = true;
    meta(pod(GL_QOS_BURSTABLE, 1 * GiB), "shop", 0, 256 * MiB);
    meta(pod(GL_QOS_BURSTABLE, 2 * GiB), "shop", 0, 512 * MiB);
}

static void at_throttle(void) {
    F.snap.available_bytes = AV_THROTTLE;
}
static void at_evict(void) {
    F.snap.available_bytes = AV_EVICT;
}
static void at_kill(void) {
    F.snap.available_bytes = AV_KILL;
}
static void at_ok(void) {
    F.snap.available_bytes = AV_OK;
    F.snap.memory_psi_some_avg10_bp = 0;
}

static void mem_psi_for(uint64_t sec) {
    F.snap.memory_psi_some_avg10_bp = 5000;
    F.st.memory_psi_since_usec = T0 - sec * SEC;
}

/* Guaranteed 3000m, Burstable 2000m, BestEffort 500m; CPU PSI 70% for `sec`. */
static void three_cpu(uint64_t sec) {
    pod(GL_QOS_GUARANTEED, 1 * GiB)->cpu_usage_millicores = 3000;
    pod(GL_QOS_BURSTABLE, 1 * GiB)->cpu_usage_millicores = 2000;
    pod(GL_QOS_BESTEFFORT, 1 * GiB)->cpu_usage_millicores = 500;
    F.snap.cpu_psi_some_avg10_bp = 7000;
    F.st.cpu_psi_since_usec = T0 - sec * SEC;
}

/* A leaking Burstable pod, 1.5 GiB of its 2 GiB limit, at `rate`. */
static gl_policy_pod *limited_leak(double rate) {
    gl_policy_pod *p = leaking(pod(GL_QOS_BURSTABLE, 3 * GiB / 2), rate);

    p->memory_limit_bytes = 2 * GiB;
    return p;
}

/* ---- one tick ---- */

static void s_ok(void) {
    two_local();
}
static void s_throttle_local(void) {
    two_local();
    at_throttle();
}
static void s_evict_local(void) {
    two_local();
    at_evict();
}
static void s_evict_api(void) {
    two_api();
    at_evict();
}
static void s_evict_api_freeze(void) {
    s_evict_api();
    F.c.actions.freeze = true;
}
static void s_kill_local(void) {
    two_local();
    at_kill();
}
static void s_kill_api(void) {
    two_api();
    at_kill();
}
static void s_kill_off_local(void) {
    s_kill_local();
    F.c.actions.local_kill = false;
}
static void s_kill_off_api(void) {
    s_kill_api();
    F.c.actions.local_kill = false;
}
static void s_mem_psi_sustained(void) {
    two_local();
    mem_psi_for(10);
}
static void s_mem_psi_not_yet(void) {
    two_local();
    mem_psi_for(9);
}
static void s_mem_psi_at_limit(void) {
    two_local();
    mem_psi_for(60);
    F.snap.memory_psi_some_avg10_bp = 4000; /* at the limit is not above it */
}
static void s_mem_psi_unreadable(void) {
    two_local();
    mem_psi_for(60);
    F.snap.memory_psi_valid = false;
}
static void s_cpu_local(void) {
    three_cpu(30);
}
static void s_cpu_not_yet(void) {
    three_cpu(29);
}
static void s_cpu_api(void) {
    gl_policy_pod *a = meta(pod(GL_QOS_BURSTABLE, 1 * GiB), "shop", 0, 0);
    gl_policy_pod *b = meta(pod(GL_QOS_BURSTABLE, 1 * GiB), "shop", 0, 0);

    a->cpu_usage_millicores = 2000;
    a->cpu_request_millicores = 1500;
    b->cpu_usage_millicores = 1200;
    b->cpu_request_millicores = 200;
    F.snap.cpu_psi_some_avg10_bp = 7000;
    F.st.cpu_psi_since_usec = T0 - 30 * SEC;
}
static void s_cpu_guaranteed_only(void) {
    pod(GL_QOS_GUARANTEED, 1 * GiB)->cpu_usage_millicores = 3000;
    F.snap.cpu_psi_some_avg10_bp = 7000;
    F.st.cpu_psi_since_usec = T0 - 30 * SEC;
}
static void s_cpu_floor(void) {
    pod(GL_QOS_BESTEFFORT, 1 * GiB)->cpu_usage_millicores = 150;
    F.snap.cpu_psi_some_avg10_bp = 7000;
    F.st.cpu_psi_since_usec = T0 - 30 * SEC;
}
static void s_leak_limit(void) {
    limited_leak(2.0 * MiB); /* 512 MiB to go at 2 MiB/s: 256 s, within 5 min */
}
static void s_leak_node(void) {
    leaking(pod(GL_QOS_BURSTABLE, 2 * GiB), 32.0 * MiB); /* 8 GiB available: 256 s */
}
static void s_leak_far(void) {
    leaking(pod(GL_QOS_BURSTABLE, 2 * GiB), 2.0 * MiB); /* 4096 s to exhaust the node */
}
static void s_leak_flat(void) {
    limited_leak(0);
}
static void s_leak_not_robust(void) {
    limited_leak(2.0 * MiB)->growth_robust = false;
}
static void s_leak_rising_low(void) {
    limited_leak(2.0 * MiB)->growth_rising_bp = 5999;
}
static void s_leak_short_span(void) {
    limited_leak(2.0 * MiB)->growth_span_usec = 59 * SEC; /* half of LeakWindow is 60 s */
}
static void s_leak_slow(void) {
    gl_policy_pod *p = limited_leak((double)(MiB - 1));

    p->working_set_bytes = 2 * GiB - 10 * MiB; /* 10 s from its limit, yet slower than 1Mi/s */
}
static void s_fork_pids_max(void) {
    gl_policy_pod *p = pod(GL_QOS_BURSTABLE, 1 * GiB);

    p->pids_max = 1000;
    p->pids_current = 900;
}
static void s_fork_below(void) {
    s_fork_pids_max();
    F.pods[0].pids_current = 899;
}
static void s_fork_node(void) {
    F.snap.node_pids_max = 10000;
    pod(GL_QOS_BURSTABLE, 1 * GiB)->pids_current = 9000;
}
static void s_fork_unknown(void) {
    F.snap.node_pids_max = 0;
    pod(GL_QOS_BURSTABLE, 1 * GiB)->pids_current = 1000000;
}
static void s_fork_tiny_ceiling(void) {
    gl_policy_pod *p = pod(GL_QOS_BURSTABLE, 1 * GiB);

    p->pids_max = 1; /* 90% of 1 rounds down to 0, which an empty pod would "reach" */
    p->pids_current = 0;
}
static void s_fork_api(void) {
    F.snap.can_evict = true;
    s_fork_pids_max();
    meta(&F.pods[0], "shop", 0, 0);
}
static void s_fork_api_freeze(void) {
    s_fork_api();
    F.c.actions.freeze = true;
}
static void s_fork_kill_off(void) {
    s_fork_pids_max();
    F.c.actions.local_kill = false;
}
static void s_rank_runaway(void) {
    F.snap.can_evict = true;
    meta(pod(GL_QOS_BURSTABLE, 4 * GiB), "shop", 0, 0);
    gl_policy_pod *p = meta(leaking(pod(GL_QOS_BURSTABLE, 512 * MiB), 2.0 * MiB), "shop", 0, 0);
    p->memory_limit_bytes = 1 * GiB;
    at_evict();
}
static void s_rank_request(void) {
    F.snap.can_evict = true;
    meta(pod(GL_QOS_BURSTABLE, 3 * GiB), "shop", 0, 4 * GiB);
    meta(pod(GL_QOS_BURSTABLE, 1 * GiB), "shop", 0, 512 * MiB);
    at_evict();
}
static void s_rank_priority(void) {
    F.snap.can_evict = true;
    meta(pod(GL_QOS_BURSTABLE, 3 * GiB), "shop", 100, 1 * GiB);
    meta(pod(GL_QOS_BURSTABLE, 3 * GiB / 2), "shop", 0, 1 * GiB);
    at_evict();
}
static void s_rank_excess(void) {
    F.snap.can_evict = true;
    meta(pod(GL_QOS_BURSTABLE, 3 * GiB), "shop", 0, 2 * GiB);
    meta(pod(GL_QOS_BURSTABLE, 5 * GiB / 2), "shop", 0, GiB / 2);
    at_evict();
}
static void s_rank_ws(void) {
    F.snap.can_evict = true;
    meta(pod(GL_QOS_BURSTABLE, 2 * GiB), "shop", 0, 1 * GiB);
    meta(pod(GL_QOS_BURSTABLE, 3 * GiB), "shop", 0, 2 * GiB);
    at_evict();
}
static void s_rank_uid(void) {
    F.snap.can_evict = true;
    meta(pod(GL_QOS_BURSTABLE, 2 * GiB), "shop", 0, 1 * GiB);
    meta(pod(GL_QOS_BURSTABLE, 2 * GiB), "shop", 0, 1 * GiB);
    at_evict();
}
static void s_rank_guaranteed_last(void) {
    pod(GL_QOS_GUARANTEED, 4 * GiB);
    pod(GL_QOS_BURSTABLE, 1 * GiB);
    at_throttle();
}
static void s_protect_ns(void) {
    s_evict_api();
    F.pods[1].ns = "kube-system";
}
static void s_protect_priority(void) {
    s_evict_api();
    /* A high priority ranks a pod late; pod 0 within its request keeps pod 1 first anyway. */
    F.pods[1].priority = 2000000000;
    F.pods[0].memory_request_bytes = 2 * GiB;
}
static void s_protect_annotation(void) {
    s_evict_api();
    F.pods[1].annotation_protected = true;
}
static void s_protect_static(void) {
    s_evict_api();
    F.pods[1].static_pod = true;
}
static void s_protect_self(void) {
    s_evict_api();
    F.pods[1].self = true;
}
static void s_protect_uid_local(void) {
    s_throttle_local();
    protect_uid(1);
}
static void s_all_protected(void) {
    s_throttle_local();
    protect_uid(0);
    protect_uid(1);
}
static void s_priority_unknown_local(void) {
    s_throttle_local();
    F.pods[1].priority = 3000000000; /* garbage without metadata: ignored */
}
static void s_dry_run(void) {
    s_evict_api();
    F.c.guard.mode = GL_MODE_DRY_RUN;
}
static void s_max_evictions_zero(void) {
    s_evict_api();
    F.c.actions.max_evictions_per_minute = 0;
}
static void s_throttle_off(void) {
    s_throttle_local();
    F.c.actions.throttle = false;
}
static void s_bytes_threshold_throttle(void) {
    two_api();
    F.c.memory.evict_below = (gl_quantity){.kind = GL_QTY_BYTES, .bytes = 1 * GiB};
    F.snap.available_bytes = 1 * GiB + 200 * MiB; /* above 1Gi, below 15% = 2.4Gi */
}
static void s_bytes_threshold_evict(void) {
    two_api();
    F.c.memory.evict_below = (gl_quantity){.kind = GL_QTY_BYTES, .bytes = 2 * GiB};
    F.snap.available_bytes = 3 * GiB / 2; /* above 8% = 1.28Gi, below 2Gi */
}
static void s_floor_request(void) {
    meta(pod(GL_QOS_BURSTABLE, 1 * GiB), "shop", 0, 1000 * MiB);
    at_throttle();
}
static void s_floor_64mib(void) {
    meta(pod(GL_QOS_BURSTABLE, 60 * MiB), "shop", 0, 0);
    meta(pod(GL_QOS_BURSTABLE, 1 * GiB), "shop", 10, 0);
    at_throttle();
}
static void s_memory_high_lower(void) {
    s_throttle_local();
    F.pods[1].memory_high_bytes = 1 * GiB; /* someone already holds it lower than we would */
}

#define TARGET_95(ws) ((ws) / 10000 * 9500 + (ws) % 10000 * 9500 / 10000)

static const struct {
    const char *name;
    void (*setup)(void);
    want w[4];
    size_t n;
} ticks[] = {
    {"ok node", s_ok, {{0}}, 0},
    {"throttle level, local",
     s_throttle_local,
     {WT(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1, TARGET_95(2 * GiB))},
     1},
    {"evict level, local: no eviction, falls through",
     s_evict_local,
     {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1), W(EVICT, MEMORY_LOW, NO_EVICTION, 1)},
     2},
    {"evict level, API", s_evict_api, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
    {"evict level, API, Freeze=yes",
     s_evict_api_freeze,
     {W(FREEZE, MEMORY_LOW, NONE, 1), W(EVICT, MEMORY_LOW, NONE, 1)},
     2},
    {"kill level, local", s_kill_local, {W(KILL, MEMORY_LOW, NONE, 1)}, 1},
    {"kill level, API", s_kill_api, {W(KILL, MEMORY_LOW, NONE, 1)}, 1},
    {"kill level, LocalKill=no, local",
     s_kill_off_local,
     {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1), W(EVICT, MEMORY_LOW, NO_EVICTION, 1),
      W(KILL, MEMORY_LOW, DISABLED, 1)},
     3},
    {"kill level, LocalKill=no, API",
     s_kill_off_api,
     {W(EVICT, MEMORY_LOW, NONE, 1), W(KILL, MEMORY_LOW, DISABLED, 1)},
     2},
    {"memory PSI sustained",
     s_mem_psi_sustained,
     {W(THROTTLE_MEMORY, MEMORY_PRESSURE, NONE, 1)},
     1},
    {"memory PSI not yet sustained", s_mem_psi_not_yet, {{0}}, 0},
    {"memory PSI at its limit", s_mem_psi_at_limit, {{0}}, 0},
    {"memory PSI unreadable", s_mem_psi_unreadable, {{0}}, 0},
    {"CPU PSI, local: BestEffort first",
     s_cpu_local,
     {WT(THROTTLE_CPU, CPU_PRESSURE, NONE, 2, 250)},
     1},
    {"CPU PSI not yet sustained", s_cpu_not_yet, {{0}}, 0},
    {"CPU PSI, API: most above request",
     s_cpu_api,
     {WT(THROTTLE_CPU, CPU_PRESSURE, NONE, 1, 200)},
     1},
    {"CPU PSI, local: never Guaranteed", s_cpu_guaranteed_only, {{0}}, 0},
    {"CPU PSI: at least 100m", s_cpu_floor, {WT(THROTTLE_CPU, CPU_PRESSURE, NONE, 0, 100)}, 1},
    {"leak reaching its limit",
     s_leak_limit,
     {WT(THROTTLE_MEMORY, LEAK, NONE, 0, TARGET_95(3 * GiB / 2))},
     1},
    {"leak exhausting the node", s_leak_node, {W(THROTTLE_MEMORY, LEAK, NONE, 0)}, 1},
    {"growth too slow to hurt within LeakHorizon", s_leak_far, {{0}}, 0},
    {"not a leak: flat", s_leak_flat, {{0}}, 0},
    {"not a leak: not robust", s_leak_not_robust, {{0}}, 0},
    {"not a leak: rising share below 60%", s_leak_rising_low, {{0}}, 0},
    {"not a leak: span below LeakWindow/2", s_leak_short_span, {{0}}, 0},
    {"not a leak: below MinGrowthRate", s_leak_slow, {{0}}, 0},
    {"fork bomb by pids.max, local", s_fork_pids_max, {W(KILL, FORK_BOMB, NONE, 0)}, 1},
    {"pids just below PidsAbove", s_fork_below, {{0}}, 0},
    {"fork bomb by the node's pid_max", s_fork_node, {W(KILL, FORK_BOMB, NONE, 0)}, 1},
    {"fork bomb with no ceiling known", s_fork_unknown, {{0}}, 0},
    {"an empty pod under pids.max 1", s_fork_tiny_ceiling, {{0}}, 0},
    {"fork bomb, API: freeze is off, evict",
     s_fork_api,
     {W(FREEZE, FORK_BOMB, DISABLED, 0), W(EVICT, FORK_BOMB, NONE, 0)},
     2},
    {"fork bomb, API, Freeze=yes",
     s_fork_api_freeze,
     {W(FREEZE, FORK_BOMB, NONE, 0), W(EVICT, FORK_BOMB, NONE, 0)},
     2},
    {"fork bomb, LocalKill=no", s_fork_kill_off, {W(KILL, FORK_BOMB, DISABLED, 0)}, 1},
    {"rank: runaway first", s_rank_runaway, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
    {"rank: usage above request first", s_rank_request, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
    {"rank: lower priority first", s_rank_priority, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
    {"rank: larger usage - request first", s_rank_excess, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
    {"rank: larger working set first", s_rank_ws, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
    {"rank: lower UID first", s_rank_uid, {W(EVICT, MEMORY_LOW, NONE, 0)}, 1},
    {"rank: Guaranteed last in local mode",
     s_rank_guaranteed_last,
     {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1)},
     1},
    {"protected by namespace",
     s_protect_ns,
     {W(EVICT, MEMORY_LOW, PROTECTED, 1), W(EVICT, MEMORY_LOW, NONE, 0)},
     2},
    {"protected by priority",
     s_protect_priority,
     {W(EVICT, MEMORY_LOW, PROTECTED, 1), W(EVICT, MEMORY_LOW, NONE, 0)},
     2},
    {"protected by annotation",
     s_protect_annotation,
     {W(EVICT, MEMORY_LOW, PROTECTED, 1), W(EVICT, MEMORY_LOW, NONE, 0)},
     2},
    {"protected as a static pod",
     s_protect_static,
     {W(EVICT, MEMORY_LOW, PROTECTED, 1), W(EVICT, MEMORY_LOW, NONE, 0)},
     2},
    {"protected as guardlet itself",
     s_protect_self,
     {W(EVICT, MEMORY_LOW, PROTECTED, 1), W(EVICT, MEMORY_LOW, NONE, 0)},
     2},
    {"protected by PodUIDs in local mode",
     s_protect_uid_local,
     {W(THROTTLE_MEMORY, MEMORY_LOW, PROTECTED, 1), W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 0)},
     2},
    {"all candidates protected",
     s_all_protected,
     {W(THROTTLE_MEMORY, MEMORY_LOW, PROTECTED, 1), W(THROTTLE_MEMORY, MEMORY_LOW, PROTECTED, 0)},
     2},
    {"priority unknown in local mode",
     s_priority_unknown_local,
     {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1)},
     1},
    {"dry-run", s_dry_run, {W(EVICT, MEMORY_LOW, DRY_RUN, 1)}, 1},
    {"MaxEvictionsPerMinute=0",
     s_max_evictions_zero,
     {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1), W(EVICT, MEMORY_LOW, DISABLED, 1)},
     2},
    {"Throttle=no", s_throttle_off, {{0}}, 0},
    {"bytes EvictBelow not reached",
     s_bytes_threshold_throttle,
     {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1)},
     1},
    {"bytes EvictBelow above a percentage",
     s_bytes_threshold_evict,
     {W(EVICT, MEMORY_LOW, NONE, 1)},
     1},
    {"throttle never below the request",
     s_floor_request,
     {WT(THROTTLE_MEMORY, MEMORY_LOW, NONE, 0, 1000 * MiB)},
     1},
    {"a pod at the 64 MiB floor is passed over",
     s_floor_64mib,
     {WT(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1, TARGET_95(GiB))},
     1},
    {"memory.high already lower: passed over",
     s_memory_high_lower,
     {WT(THROTTLE_MEMORY, MEMORY_LOW, NONE, 0, TARGET_95(GiB))},
     1},
};

START_TEST(test_one_tick) {
    ticks[_i].setup();
    tick_at(0);
    expect(ticks[_i].name, ticks[_i].w, ticks[_i].n);
}
END_TEST

/* ---- several ticks ---- */

typedef struct {
    uint64_t at_sec;
    void (*change)(void); /* applied before this tick; NULL: nothing changes */
    want w[3];
    size_t n;
} step;

static void c_psi_up(void) {
    F.snap.memory_psi_some_avg10_bp = 5000;
}
static void c_psi_down(void) {
    F.snap.memory_psi_some_avg10_bp = 0;
}
static void c_cpu_clear(void) {
    F.snap.cpu_psi_some_avg10_bp = 1000;
}
static void c_leak_stops(void) {
    F.pods[0].growth_per_sec = 0;
    F.pods[0].working_set_bytes = 1 * GiB;
}
static void c_leak_held(void) {
    F.pods[0].growth_per_sec = 0;
    F.pods[0].working_set_bytes = TARGET_95(2 * GiB); /* flat at the memory.high we set */
}

/* A budget said no, or the API server is away: the leak's eviction waits like any other. */
static void c_backoff(void) {
    F.pods[0].eviction_backoff = true;
}
static void c_backoff_over(void) {
    F.pods[0].eviction_backoff = false;
}

static void m_delay(void) {
    s_throttle_local();
}
/* Two leaks at once: each is its own signal, and a protected leak is reported, not touched. */
static void m_two_leaks(void) {
    leaking(pod(GL_QOS_BURSTABLE, 2 * GiB), 64.0 * MiB);
    leaking(pod(GL_QOS_BURSTABLE, 1 * GiB), 64.0 * MiB);
    protect_uid(2);
    leaking(pod(GL_QOS_BURSTABLE, 3 * GiB), 64.0 * MiB);
}
static void m_rate_limit(void) {
    F.snap.can_evict = true;
    F.c.actions.max_evictions_per_minute = 2;
    F.c.actions.emergency_after_usec = 3600 * SEC;
    for (uint64_t i = 0; i < 4; i++)
        meta(pod(GL_QOS_BURSTABLE, (4 - i) * GiB / 2), "shop", 0, 0);
    at_evict();
}
static void m_dry_run(void) {
    s_throttle_local();
    F.c.guard.mode = GL_MODE_DRY_RUN;
}
static void m_restore(void) {
    s_throttle_local();
}
static void m_cpu_restore(void) {
    three_cpu(30);
}
static void m_leak_local(void) {
    leaking(pod(GL_QOS_BURSTABLE, 2 * GiB), 32.0 * MiB);
}
static void m_leak_api(void) {
    F.snap.can_evict = true;
    meta(leaking(pod(GL_QOS_BURSTABLE, 2 * GiB), 32.0 * MiB), "shop", 0, 0);
}
static void m_emergency(void) {
    s_evict_api();
}
static void m_spike(void) {
    pod(GL_QOS_BESTEFFORT, 3 * GiB);
    pod(GL_QOS_BESTEFFORT, 2 * GiB);
    pod(GL_QOS_BESTEFFORT, 1 * GiB);
    at_evict();
}
static void m_all_protected(void) {
    s_all_protected();
}
static void m_kill_twice(void) {
    s_kill_local();
}
static void m_evict_twice(void) {
    s_evict_api();
    F.c.actions.emergency_after_usec = 3600 * SEC;
}
static void m_cpu_evict(void) {
    gl_policy_pod *p = meta(pod(GL_QOS_BURSTABLE, 1 * GiB), "shop", 0, 0);

    F.snap.can_evict = true;
    F.c.cpu.evict = true;
    p->cpu_usage_millicores = 2000;
    p->cpu_request_millicores = 1000;
    F.snap.cpu_psi_some_avg10_bp = 7000;
    F.st.cpu_psi_since_usec = T0 - 30 * SEC;
}
static void m_cpu_no_evict(void) {
    m_cpu_evict();
    F.c.cpu.evict = false;
}
static void m_shared_memory_signal(void) {
    s_mem_psi_sustained();
}

static const struct {
    const char *name;
    void (*setup)(void);
    step s[7];
    size_t n;
} runs[] = {
    /* The top pod's throttle is the spike's action: after the delay the pressure persists, but
     * the pod that ranks first is already throttled, so no bystander is throttled instead. */
    {"one throttle per spike, bystanders untouched",
     m_delay,
     {{0, NULL, {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1)}, 1},
      {14, NULL, {{0}}, 0},
      {15, NULL, {{0}}, 0},
      {30, NULL, {{0}}, 0}},
     4},
    /* Escalation is never delayed: a throttle at 0 s, memory falls below KillBelow at 5 s, well
     * within PostActionDelay, and the kill happens at once. */
    {"two leaks are two signals; a protected leak is reported",
     m_two_leaks,
     {{0, NULL, {W(THROTTLE_MEMORY, LEAK, PROTECTED, 2), W(THROTTLE_MEMORY, LEAK, NONE, 0)}, 2},
      {1, NULL, {W(THROTTLE_MEMORY, LEAK, NONE, 1)}, 1},
      {2, NULL, {{0}}, 0}},
     3},
    {"escalation within PostActionDelay",
     m_delay,
     {{0, NULL, {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1)}, 1},
      {5, at_kill, {W(KILL, MEMORY_LOW, NONE, 1)}, 1},
      {6, NULL, {{0}}, 0}},
     3},
    {"MaxEvictionsPerMinute=2 over a sliding minute",
     m_rate_limit,
     {{0, NULL, {W(EVICT, MEMORY_LOW, NONE, 0)}, 1},
      {15, NULL, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
      {30,
       NULL,
       {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 2), W(EVICT, MEMORY_LOW, RATE_LIMITED, 2)},
       2},
      {45,
       NULL,
       {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 3), W(EVICT, MEMORY_LOW, RATE_LIMITED, 2)},
       2},
      /* The eviction at 0 s has left the window; the one at 15 s has not. */
      {60, NULL, {W(EVICT, MEMORY_LOW, NONE, 2)}, 1},
      {75, NULL, {W(EVICT, MEMORY_LOW, NONE, 3)}, 1}},
     6},
    {"dry-run does not repeat itself",
     m_dry_run,
     {{0, NULL, {W(THROTTLE_MEMORY, MEMORY_LOW, DRY_RUN, 1)}, 1},
      {1, NULL, {{0}}, 0},
      {15, NULL, {{0}}, 0}},
     3},
    {"restore after 2 x PostActionDelay clear",
     m_restore,
     {{0, NULL, {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1)}, 1},
      {1, at_ok, {{0}}, 0},
      {30, NULL, {{0}}, 0},
      {31, NULL, {W(RESTORE, PRESSURE_CLEARED, NONE, 1)}, 1},
      {32, NULL, {{0}}, 0}},
     5},
    {"returning pressure restarts the restore clock",
     m_restore,
     {{0, NULL, {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1)}, 1},
      {1, at_ok, {{0}}, 0},
      {20, c_psi_up, {{0}}, 0},
      {21, c_psi_down, {{0}}, 0},
      {50, NULL, {{0}}, 0},
      {51, NULL, {W(RESTORE, PRESSURE_CLEARED, NONE, 1)}, 1}},
     6},
    {"CPU restore",
     m_cpu_restore,
     {{0, NULL, {W(THROTTLE_CPU, CPU_PRESSURE, NONE, 2)}, 1},
      {1, c_cpu_clear, {{0}}, 0},
      {30, NULL, {{0}}, 0},
      {31, NULL, {W(RESTORE, PRESSURE_CLEARED, NONE, 2)}, 1}},
     4},
    {"a leak is restored once it stopped growing",
     m_leak_local,
     {{0, NULL, {W(THROTTLE_MEMORY, LEAK, NONE, 0)}, 1},
      {31, NULL, {{0}}, 0},
      {32, c_leak_stops, {W(RESTORE, PRESSURE_CLEARED, NONE, 0)}, 1}},
     3},
    {"a leak held flat by its throttle stays throttled",
     m_leak_local,
     {{0, NULL, {W(THROTTLE_MEMORY, LEAK, NONE, 0)}, 1},
      {40, c_leak_held, {{0}}, 0},
      {41, c_leak_stops, {W(RESTORE, PRESSURE_CLEARED, NONE, 0)}, 1}},
     3},
    {"a leak still growing after its throttle is evicted",
     m_leak_api,
     {{0, NULL, {W(THROTTLE_MEMORY, LEAK, NONE, 0)}, 1},
      {14, NULL, {{0}}, 0},
      {15, NULL, {W(EVICT, LEAK, NONE, 0)}, 1},
      {30, NULL, {{0}}, 0}},
     4},
    {"a leak's eviction waits out a back-off, then goes",
     m_leak_api,
     {{0, NULL, {W(THROTTLE_MEMORY, LEAK, NONE, 0)}, 1},
      {15, c_backoff, {{0}}, 0},
      {16, NULL, {{0}}, 0},
      {20, c_backoff_over, {W(EVICT, LEAK, NONE, 0)}, 1}},
     4},
    {"emergency kill after EmergencyAfter",
     m_emergency,
     {{0, NULL, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
      {9, NULL, {{0}}, 0},
      {10, NULL, {W(KILL, EMERGENCY, NONE, 1)}, 1},
      {11, NULL, {{0}}, 0}},
     4},
    {"no emergency once above EvictBelow",
     m_emergency,
     {{0, NULL, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
      {10, at_throttle, {{0}}, 0},
      {15, NULL, {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 0)}, 1}},
     3},
    {"no-eviction is reported once per spike",
     m_spike,
     {{0, NULL, {W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 0), W(EVICT, MEMORY_LOW, NO_EVICTION, 0)}, 2},
      {15, NULL, {{0}}, 0},
      {20, at_ok, {{0}}, 0},
      {30, at_evict, {W(EVICT, MEMORY_LOW, NO_EVICTION, 0)}, 1}},
     4},
    {"protected pods are reported once per PostActionDelay",
     m_all_protected,
     {{0,
       NULL,
       {W(THROTTLE_MEMORY, MEMORY_LOW, PROTECTED, 1), W(THROTTLE_MEMORY, MEMORY_LOW, PROTECTED, 0)},
       2},
      {1, NULL, {{0}}, 0},
      {15,
       NULL,
       {W(THROTTLE_MEMORY, MEMORY_LOW, PROTECTED, 1), W(THROTTLE_MEMORY, MEMORY_LOW, PROTECTED, 0)},
       2}},
     3},
    {"a killed pod is not killed again",
     m_kill_twice,
     {{0, NULL, {W(KILL, MEMORY_LOW, NONE, 1)}, 1},
      {15, NULL, {W(KILL, MEMORY_LOW, NONE, 0)}, 1},
      {30, NULL, {{0}}, 0}},
     3},
    {"a pod with an eviction pending is not evicted again",
     m_evict_twice,
     {{0, NULL, {W(EVICT, MEMORY_LOW, NONE, 1)}, 1},
      {15, NULL, {W(EVICT, MEMORY_LOW, NONE, 0)}, 1},
      {30, NULL, {{0}}, 0}},
     3},
    {"CPU.Evict=yes evicts the throttled offender",
     m_cpu_evict,
     {{0, NULL, {WT(THROTTLE_CPU, CPU_PRESSURE, NONE, 0, 1000)}, 1},
      {14, NULL, {{0}}, 0},
      {15, NULL, {W(EVICT, CPU_PRESSURE, NONE, 0)}, 1}},
     3},
    {"CPU.Evict=no never evicts for CPU",
     m_cpu_no_evict,
     {{0, NULL, {WT(THROTTLE_CPU, CPU_PRESSURE, NONE, 0, 1000)}, 1}, {15, NULL, {{0}}, 0}},
     2},
    {"memory-pressure and memory-low are one signal",
     m_shared_memory_signal,
     {{0, NULL, {W(THROTTLE_MEMORY, MEMORY_PRESSURE, NONE, 1)}, 1},
      {5, at_throttle, {{0}}, 0},
      {15, NULL, {{0}}, 0}},
     3},
};

START_TEST(test_ticks) {
    runs[_i].setup();
    for (size_t k = 0; k < runs[_i].n; k++) {
        const step *s = &runs[_i].s[k];
        char label[160];

        if (s->change)
            s->change();
        tick_at(s->at_sec);
        snprintf(label, sizeof(label), "%s, at %llus", runs[_i].name,
                 (unsigned long long)s->at_sec);
        expect(label, s->w, s->n);
    }
}
END_TEST

/* ---- ranking ---- */

/* A pod the Eviction API cannot take now (its budget said no) is passed over for the next one. */
START_TEST(test_eviction_backoff_next_candidate) {
    F.snap.can_evict = true;
    meta(pod(GL_QOS_BURSTABLE, 3 * GiB), "shop", 0, 0)->eviction_backoff = true;
    meta(pod(GL_QOS_BURSTABLE, 2 * GiB), "shop", 0, 0);
    at_evict();
    tick_at(0);
    size_t evicts = 0;
    for (size_t i = 0; i < F.n_out; i++) {
        if (F.out[i].action != GL_ACTION_EVICT)
            continue;
        evicts++;
        ck_assert_str_eq(F.out[i].uid, uids[1]);
        ck_assert_int_eq(F.out[i].skip, GL_SKIP_NONE);
    }
    ck_assert_uint_eq(evicts, 1);
}
END_TEST

/* API mode before the first pod list: the biggest pod may be kube-system's; it is passed over as
 * protected, whatever the level, even at the kill floor. */
START_TEST(test_metadata_pending_is_never_touched) {
    F.snap.can_evict = true;
    pod(GL_QOS_BURSTABLE, 3 * GiB)->metadata_pending = true;
    meta(pod(GL_QOS_BURSTABLE, 2 * GiB), "shop", 0, 0);
    at_kill();
    for (uint64_t t = 0; t < 60; t++) {
        tick_at(t);
        for (size_t i = 0; i < F.n_out; i++) {
            if (strcmp(F.out[i].uid, uids[0]) != 0)
                continue;
            ck_assert_int_eq(F.out[i].skip, GL_SKIP_PROTECTED);
            ck_assert(F.out[i].protected_by & GL_PROTECT_PENDING);
            ck_assert_msg(strstr(F.out[i].detail, "first pod list is pending"), "%s",
                          F.out[i].detail);
        }
    }
}
END_TEST

START_TEST(test_rank_order) {
    size_t order[NPOD];
    gl_policy_pod *p;

    meta(pod(GL_QOS_GUARANTEED, 4 * GiB), "shop", 0, 4 * GiB);   /* 0: within its request */
    meta(pod(GL_QOS_BURSTABLE, 2 * GiB), "shop", 1000, 1 * GiB); /* 1: higher priority */
    meta(pod(GL_QOS_BURSTABLE, 2 * GiB), "shop", 0, 1 * GiB);    /* 2: tie with 3 ... */
    meta(pod(GL_QOS_BURSTABLE, 2 * GiB), "shop", 0, 1 * GiB);    /* 3: ... lost on UID */
    meta(pod(GL_QOS_BESTEFFORT, 3 * GiB / 2), "shop", 0, 0);     /* 4: 1.5Gi above */
    p = meta(pod(GL_QOS_BURSTABLE, 256 * MiB), "shop", 1000, 0); /* 5: a fork bomb */
    p->pids_max = 100;
    p->pids_current = 100;
    gl_policy_rank(&F.c, &F.snap, order);
    {
        const size_t want_order[] = {5, 4, 2, 3, 1, 0};

        for (size_t i = 0; i < F.n; i++)
            ck_assert_uint_eq(order[i], want_order[i]);
    }
}
END_TEST

/* ---- protection ---- */

static const struct {
    const char *name;
    bool has_metadata;
    const char *ns;
    int64_t priority;
    bool annotation, static_pod, self, by_uid;
    bool annotation_key_empty;
    gl_protect want;
} protections[] = {
    {"nothing", true, "shop", 0, false, false, false, false, false, GL_PROTECT_NONE},
    {"namespace", true, "kube-system", 0, false, false, false, false, false, GL_PROTECT_NAMESPACE},
    {"priority", true, "shop", 2000000000, false, false, false, false, false, GL_PROTECT_PRIORITY},
    {"priority below", true, "shop", 1999999999, false, false, false, false, false,
     GL_PROTECT_NONE},
    {"priority unknown", false, NULL, 2000000000, false, false, false, false, false,
     GL_PROTECT_NONE},
    {"annotation", true, "shop", 0, true, false, false, false, false, GL_PROTECT_ANNOTATION},
    {"annotation key empty", true, "shop", 0, true, false, false, false, true, GL_PROTECT_NONE},
    {"static", true, "shop", 0, false, true, false, false, false, GL_PROTECT_STATIC},
    {"self, local", false, NULL, 0, false, false, true, false, false, GL_PROTECT_SELF},
    {"uid, local", false, NULL, 0, false, false, false, true, false, GL_PROTECT_UID},
    {"several", true, "kube-system", 2000001000, false, true, false, true, false,
     GL_PROTECT_NAMESPACE | GL_PROTECT_PRIORITY | GL_PROTECT_STATIC | GL_PROTECT_UID},
};

START_TEST(test_protected) {
    gl_policy_pod *p = pod(GL_QOS_BURSTABLE, 1 * GiB);

    p->has_metadata = protections[_i].has_metadata;
    p->ns = protections[_i].ns;
    p->priority = protections[_i].priority;
    p->annotation_protected = protections[_i].annotation;
    p->static_pod = protections[_i].static_pod;
    p->self = protections[_i].self;
    if (protections[_i].by_uid)
        protect_uid(0);
    if (protections[_i].annotation_key_empty)
        F.c.protect.annotation[0] = '\0';
    ck_assert_msg(gl_policy_protected(&F.c, p) == protections[_i].want, "%s: got %#x",
                  protections[_i].name, (unsigned)gl_policy_protected(&F.c, p));
}
END_TEST

/* ---- the re-check before destruction ---- */

static const struct {
    const char *name;
    gl_action action;
    gl_reason reason;
    bool destructive;
    uint64_t available;
    bool want;
} rechecks[] = {
    {"evict, still below EvictBelow", GL_ACTION_EVICT, GL_REASON_MEMORY_LOW, true, AV_EVICT, true},
    {"evict, recovered while choosing", GL_ACTION_EVICT, GL_REASON_MEMORY_LOW, true, AV_THROTTLE,
     false},
    {"kill, still below KillBelow", GL_ACTION_KILL, GL_REASON_MEMORY_LOW, true, AV_KILL, true},
    {"kill, back above KillBelow", GL_ACTION_KILL, GL_REASON_MEMORY_LOW, true, AV_EVICT, false},
    {"emergency, still below EvictBelow", GL_ACTION_KILL, GL_REASON_EMERGENCY, true, AV_EVICT,
     true},
    {"emergency, recovered", GL_ACTION_KILL, GL_REASON_EMERGENCY, true, AV_THROTTLE, false},
    {"leak evict holds", GL_ACTION_EVICT, GL_REASON_LEAK, true, AV_OK, true},
    {"fork-bomb kill holds", GL_ACTION_KILL, GL_REASON_FORK_BOMB, true, AV_OK, true},
    {"not destructive", GL_ACTION_THROTTLE_MEMORY, GL_REASON_MEMORY_LOW, false, AV_OK, true},
};

START_TEST(test_recheck) {
    gl_decision d = {.action = rechecks[_i].action,
                     .reason = rechecks[_i].reason,
                     .destructive = rechecks[_i].destructive};

    ck_assert_msg(gl_policy_recheck(&F.c, &d, rechecks[_i].available, CAPACITY) ==
                      rechecks[_i].want,
                  "%s", rechecks[_i].name);
}
END_TEST

START_TEST(test_recheck_bytes_threshold) {
    gl_decision d = {
        .action = GL_ACTION_EVICT, .reason = GL_REASON_MEMORY_LOW, .destructive = true};

    /* The percentage resolves against the capacity given, not the one at decision time. */
    ck_assert(gl_policy_recheck(&F.c, &d, 600 * MiB, 8 * GiB));  /* 8% of 8Gi is 655Mi */
    ck_assert(!gl_policy_recheck(&F.c, &d, 600 * MiB, 4 * GiB)); /* 8% of 4Gi is 327Mi */
    F.c.memory.evict_below = (gl_quantity){.kind = GL_QTY_BYTES, .bytes = 1 * GiB};
    ck_assert(gl_policy_recheck(&F.c, &d, 1 * GiB - 1, 64 * GiB));
    ck_assert(!gl_policy_recheck(&F.c, &d, 1 * GiB, 64 * GiB));
}
END_TEST

/* ---- state ---- */

START_TEST(test_action_failed_allows_retry) {
    s_evict_api();
    tick_at(0);
    ck_assert_uint_eq(F.n_out, 1);
    ck_assert_uint_eq(F.st.n_evictions, 1);
    /* "Recovered while choosing": the caller marks it and tells the policy. */
    F.out[0].skip = GL_SKIP_RECOVERED;
    gl_policy_action_failed(&F.st, &F.out[0]);
    ck_assert_uint_eq(F.st.n_evictions, 0);
    tick_at(1);
    expect("retry after a recheck", (want[]){W(EVICT, MEMORY_LOW, NONE, 1)}, 1);
    /* A failed eviction: the same again, and it is not counted against the cap. */
    gl_policy_action_failed(&F.st, &F.out[0]);
    tick_at(2);
    expect("retry after a failure", (want[]){W(EVICT, MEMORY_LOW, NONE, 1)}, 1);
    ck_assert_uint_eq(F.st.n_evictions, 1);
    tick_at(3);
    expect("then the delay holds", NULL, 0);
}
END_TEST

START_TEST(test_action_failed_throttle_and_restore) {
    s_throttle_local();
    tick_at(0);
    gl_policy_action_failed(&F.st, &F.out[0]);
    tick_at(1);
    expect("throttle retried", (want[]){W(THROTTLE_MEMORY, MEMORY_LOW, NONE, 1)}, 1);
    at_ok();
    tick_at(2);
    tick_at(32);
    expect("restore", (want[]){W(RESTORE, PRESSURE_CLEARED, NONE, 1)}, 1);
    gl_policy_action_failed(&F.st, &F.out[0]);
    tick_at(33);
    expect("restore retried", (want[]){W(RESTORE, PRESSURE_CLEARED, NONE, 1)}, 1);
    tick_at(34);
    expect("restored for good", NULL, 0);
    /* Reports have nothing to undo. */
    F.out[0].skip = GL_SKIP_PROTECTED;
    gl_policy_action_failed(&F.st, &F.out[0]);
}
END_TEST

START_TEST(test_freeze_failed_then_thawed) {
    s_evict_api_freeze();
    tick_at(0);
    ck_assert_uint_eq(F.n_out, 2);
    /* The eviction failed after the freeze worked: the pod must not stay frozen for nothing. */
    gl_policy_action_failed(&F.st, &F.out[1]);
    at_ok();
    tick_at(1);
    expect("thawed at once", (want[]){W(RESTORE, PRESSURE_CLEARED, NONE, 1)}, 1);
}
END_TEST

START_TEST(test_pod_gone) {
    s_throttle_local();
    tick_at(0);
    ck_assert_uint_eq(F.st.n_pods, 1);
    gl_policy_pod_gone(&F.st, uids[1]);
    ck_assert_uint_eq(F.st.n_pods, 0);
    gl_policy_pod_gone(&F.st, uids[1]); /* twice is fine */

    /* A pod that leaves the snapshot has ended: its state goes with it. */
    tick_at(15);
    ck_assert_uint_eq(F.st.n_pods, 1);
    F.n = 1;
    tick_at(16);
    ck_assert_uint_eq(F.st.n_pods, 0);
}
END_TEST

START_TEST(test_deterministic) {
    static gl_policy_state copy;
    gl_decision first[GL_POLICY_MAX_DECISIONS];
    size_t n;

    s_protect_ns();
    pod(GL_QOS_BESTEFFORT, 300 * MiB)->pids_current = 4000000;
    F.snap.cpu_psi_some_avg10_bp = 9000;
    F.st.cpu_psi_since_usec = T0 - 60 * SEC;
    memcpy(&copy, &F.st, sizeof(copy));
    tick_at(0);
    n = F.n_out;
    ck_assert_uint_ge(n, 3);
    memcpy(first, F.out, sizeof(first));
    memcpy(&F.st, &copy, sizeof(copy));
    tick_at(0);
    ck_assert_uint_eq(F.n_out, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(F.out[i].action, first[i].action);
        ck_assert_int_eq(F.out[i].reason, first[i].reason);
        ck_assert_int_eq(F.out[i].skip, first[i].skip);
        ck_assert_str_eq(F.out[i].uid, first[i].uid);
        ck_assert_str_eq(F.out[i].detail, first[i].detail);
    }
}
END_TEST

START_TEST(test_dry_run_matches_enforce) {
    static gl_policy_state enforce_state;
    gl_decision enforce[GL_POLICY_MAX_DECISIONS];
    size_t n;

    s_protect_ns();
    F.c.actions.freeze = true;
    pod(GL_QOS_BESTEFFORT, 300 * MiB)->pids_current = 4000000;
    tick_at(0);
    n = F.n_out;
    memcpy(enforce, F.out, sizeof(enforce));
    memcpy(&enforce_state, &F.st, sizeof(enforce_state));

    memset(&F.st, 0, sizeof(F.st));
    F.c.guard.mode = GL_MODE_DRY_RUN;
    tick_at(0);
    ck_assert_uint_eq(F.n_out, n);
    ck_assert_uint_ge(n, 4);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(F.out[i].action, enforce[i].action);
        ck_assert_str_eq(F.out[i].uid, enforce[i].uid);
        ck_assert_int_eq(F.out[i].skip,
                         enforce[i].skip == GL_SKIP_NONE ? GL_SKIP_DRY_RUN : enforce[i].skip);
        ck_assert_str_eq(F.out[i].detail, enforce[i].detail);
    }
    /* The same memory, so the next tick is as quiet as it would be in enforce mode. */
    ck_assert_uint_eq(F.st.n_pods, enforce_state.n_pods);
    ck_assert_uint_eq(F.st.n_evictions, enforce_state.n_evictions);
    tick_at(1);
    ck_assert_uint_eq(F.n_out, 0);
}
END_TEST

START_TEST(test_cap_on_decisions) {
    /* Five throttled pods to restore, room for two per tick: nothing is lost, only delayed. */
    for (int i = 0; i < 5; i++)
        pod(GL_QOS_BURSTABLE, (uint64_t)(5 - i) * GiB / 4);
    F.c.actions.post_action_delay_usec = 0;
    at_throttle();
    for (int i = 0; i < 5; i++) {
        tick_at((uint64_t)i);
        /* Throttled, the pod shrinks below the others, so the next one ranks first. */
        F.pods[i].working_set_bytes = 100 * MiB;
    }
    ck_assert_uint_eq(F.st.n_pods, 5);
    /* With PostActionDelay=0 the first clear tick already restores. */
    at_ok();
    F.snap.now_usec = T0 + 11 * SEC;
    ck_assert_uint_eq(gl_policy_decide(&F.c, &F.snap, &F.st, F.out, 2), 2);
    F.snap.now_usec = T0 + 12 * SEC;
    ck_assert_uint_eq(gl_policy_decide(&F.c, &F.snap, &F.st, F.out, 2), 2);
    F.snap.now_usec = T0 + 13 * SEC;
    ck_assert_uint_eq(gl_policy_decide(&F.c, &F.snap, &F.st, F.out, 2), 1);
    ck_assert_int_eq(F.out[0].action, GL_ACTION_RESTORE);
    ck_assert_str_eq(F.out[0].uid, uids[4]);
    F.snap.now_usec = T0 + 14 * SEC;
    ck_assert_uint_eq(gl_policy_decide(&F.c, &F.snap, &F.st, F.out, 0), 0);
}
END_TEST

START_TEST(test_cap_keeps_the_action) {
    /* With room for one decision, the eviction wins over the protected report. */
    s_protect_ns();
    ck_assert_uint_eq(gl_policy_decide(&F.c, &F.snap, &F.st, F.out, 1), 1);
    ck_assert_int_eq(F.out[0].action, GL_ACTION_EVICT);
    ck_assert_int_eq(F.out[0].skip, GL_SKIP_NONE);
    ck_assert_str_eq(F.out[0].uid, uids[0]);
}
END_TEST

START_TEST(test_details) {
    s_evict_api();
    F.pods[1].growth_per_sec = 3.0 * MiB;
    tick_at(0);
    ck_assert_uint_eq(F.n_out, 1);
    ck_assert_str_eq(F.out[0].detail,
                     "node memory.available 1Gi (6.25%) is below EvictBelow 8% (1.27Gi); evicting "
                     "the first pod in the kubelet's eviction order: working set 2Gi, request "
                     "512Mi, growing 3Mi/s");
    ck_assert_uint_eq(F.out[0].fig.threshold_bytes,
                      gl_quantity_resolve(&F.c.memory.evict_below, CAPACITY));
    ck_assert_uint_eq(F.out[0].fig.node_available_bytes, AV_EVICT);
    ck_assert_uint_eq(F.out[0].fig.pod_working_set_bytes, 2 * GiB);
    ck_assert_ptr_eq(F.out[0].ns, F.pods[1].ns);
    ck_assert_int_eq(F.out[0].qos, GL_QOS_BURSTABLE);
}
END_TEST

START_TEST(test_detail_protected_and_leak) {
    s_leak_limit();
    protect_uid(0);
    tick_at(0);
    ck_assert_uint_eq(F.n_out, 1);
    ck_assert_int_eq(F.out[0].skip, GL_SKIP_PROTECTED);
    ck_assert_int_eq(F.out[0].protected_by, GL_PROTECT_UID);
    ck_assert_str_eq(F.out[0].detail,
                     "memory grows 2Mi/s steadily (80% of steps rising over 120s) and reaches its "
                     "limit 2Gi in 256s; the pod is protected by PodUIDs and is passed over: "
                     "working set 1.50Gi, growing 2Mi/s");
}
END_TEST

START_TEST(test_names) {
    static const char *const actions[] = {"throttle-memory", "throttle-cpu", "freeze",
                                          "evict",           "kill",         "restore"};
    static const char *const reasons[] = {
        "memory-low", "memory-pressure", "cpu-pressure",    "leak",
        "fork-bomb",  "emergency",       "pressure-cleared"};
    static const char *const skips[] = {"",          "protected",   "rate-limited",
                                        "dry-run",   "no-eviction", "disabled",
                                        "recovered", "blocked"};

    for (int i = 0; i < GL_ACTION_N; i++)
        ck_assert_str_eq(gl_action_name((gl_action)i), actions[i]);
    for (int i = 0; i < GL_REASON_N; i++)
        ck_assert_str_eq(gl_reason_name((gl_reason)i), reasons[i]);
    for (int i = 0; i < GL_SKIP_N; i++)
        ck_assert_str_eq(gl_skip_name((gl_skip)i), skips[i]);
    ck_assert_str_eq(gl_action_name(GL_ACTION_N), "unknown");
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *policy_suite(void) {
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("decide");
    TCase *parts = tcase_create("parts");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_one_tick, 0, N(ticks));
    tcase_add_loop_test(tc, test_ticks, 0, N(runs));
    tcase_add_test(tc, test_action_failed_allows_retry);
    tcase_add_test(tc, test_action_failed_throttle_and_restore);
    tcase_add_test(tc, test_freeze_failed_then_thawed);
    tcase_add_test(tc, test_pod_gone);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_dry_run_matches_enforce);
    tcase_add_test(tc, test_cap_on_decisions);
    tcase_add_test(tc, test_cap_keeps_the_action);
    tcase_add_test(tc, test_details);
    tcase_add_test(tc, test_detail_protected_and_leak);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(parts, setup, teardown);
    tcase_add_test(parts, test_rank_order);
    tcase_add_test(parts, test_eviction_backoff_next_candidate);
    tcase_add_test(parts, test_metadata_pending_is_never_touched);
    tcase_add_loop_test(parts, test_protected, 0, N(protections));
    tcase_add_loop_test(parts, test_recheck, 0, N(rechecks));
    tcase_add_test(parts, test_recheck_bytes_threshold);
    tcase_add_test(parts, test_names);
    suite_add_tcase(s, parts);
    return s;
}

GL_TEST_MAIN(policy_suite)
