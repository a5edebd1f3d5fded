/* test_explain.c: Check suite for `guardletctl explain`'s reasoning: finding a pod, its rank, the
 * signals, protection and what holds an action back. */
#include "guardlet/explain.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/cgroup.h"

#include "testutil.h"

#define MiB  (UINT64_C(1) << 20)
#define GiB  (UINT64_C(1) << 30)
#define SEC  UINT64_C(1000000)
#define T0   (1000 * SEC)
#define NPOD 4

/* On the 16 GiB node the defaults put ThrottleBelow at 2.4Gi, EvictBelow at 1.28Gi, KillBelow at
 * 491Mi. */
#define CAPACITY    (16 * GiB)
#define AV_OK       (8 * GiB)
#define AV_THROTTLE (2 * GiB)
#define AV_EVICT    (1 * GiB)
#define AV_KILL     (256 * MiB)

static const char *const uids[NPOD] = {
    "10000000-0000-4000-8000-000000000000",
    "20000000-0000-4000-8000-000000000000",
    "30000000-0000-4000-8000-000000000000",
    "40000000-0000-4000-8000-000000000000",
};

static struct {
    gl_config c;
    gl_policy_pod pods[NPOD];
    gl_policy_snapshot snap;
    gl_policy_state st;
    gl_explain e;
} F;

/* Four local-mode pods: a large and a small BestEffort one, a Burstable one, a Guaranteed one. */
static void setup(void) {
    static const struct {
        gl_qos qos;
        uint64_t ws;
    } shape[NPOD] = {
        {GL_QOS_BURSTABLE, 1 * GiB},
        {GL_QOS_BESTEFFORT, 3 * GiB},
        {GL_QOS_BESTEFFORT, 512 * MiB},
        {GL_QOS_GUARANTEED, 4 * GiB},
    };
    memset(&F, 0, sizeof(F));
    ck_assert_int_eq(gl_config_init_defaults(&F.c), 0);
    for (size_t i = 0; i < NPOD; i++)
        F.pods[i] = (gl_policy_pod){
            .uid = uids[i],
            .qos = shape[i].qos,
            .cgroup = "kubepods.slice/pod",
            .working_set_bytes = shape[i].ws,
            .memory_limit_bytes = GL_CGROUP_UNLIMITED,
            .memory_high_bytes = GL_CGROUP_UNLIMITED,
            .cpu_usage_millicores = 100,
            .pids_current = 5,
            .pids_max = GL_CGROUP_UNLIMITED,
            .eviction_backoff = true,
        };
    F.snap = (gl_policy_snapshot){
        .now_usec = T0,
        .capacity_bytes = CAPACITY,
        .available_bytes = AV_OK,
        .memory_psi_valid = true,
        .cpu_psi_valid = true,
        .node_pids_max = 4194304,
        .cpus = 8,
        .pods = F.pods,
        .n_pods = NPOD,
    };
}

static void teardown(void) {
    gl_config_free(&F.c);
}

static void explain(size_t i) {
    ck_assert_int_eq(gl_explain_pod(&F.c, &F.snap, &F.st, i, &F.e), 0);
}

/* Runs the policy on the snapshot, as the guard's tick does before anyone asks. */
static void decide(void) {
    gl_decision out[GL_POLICY_MAX_DECISIONS];
    gl_policy_decide(&F.c, &F.snap, &F.st, out, GL_POLICY_MAX_DECISIONS);
}

START_TEST(test_find) {
    size_t i = 99;
    F.pods[2].ns = "shop";
    F.pods[2].name = "cart-7";
    ck_assert_int_eq(gl_explain_find(&F.snap, uids[1], &i), 0);
    ck_assert_uint_eq(i, 1);
    ck_assert_int_eq(gl_explain_find(&F.snap, "shop/cart-7", &i), 0);
    ck_assert_uint_eq(i, 2);
    ck_assert_int_eq(gl_explain_find(&F.snap, "shop/cart", &i), -ENOENT);
    ck_assert_int_eq(gl_explain_find(&F.snap, "sho/cart-7", &i), -ENOENT);
    ck_assert_int_eq(gl_explain_find(&F.snap, "nope", &i), -ENOENT);
    ck_assert_int_eq(gl_explain_pod(&F.c, &F.snap, &F.st, NPOD, &F.e), -EINVAL);
}
END_TEST

START_TEST(test_no_pressure_still_ranks) {
    explain(1);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_NO_PRESSURE);
    ck_assert(!F.e.has_action);
    /* Local mode: no requests, so the whole working set counts; the largest BestEffort pod is
     * first, the Guaranteed pod (within its request) last. */
    ck_assert_uint_eq(F.e.rank, 1);
    ck_assert_uint_eq(F.e.candidate_rank, 1);
    ck_assert_uint_eq(F.e.n_candidates, NPOD);
    ck_assert_ptr_eq(F.e.first, &F.pods[1]);
    ck_assert(F.e.exceeds_request);
    ck_assert_uint_eq(F.e.memory_excess_bytes, 3 * GiB);
    ck_assert(!F.e.signals[GL_EXPLAIN_SIG_MEMORY_LOW].active);
    ck_assert_ptr_nonnull(strstr(F.e.summary, "candidate 1 of 4"));
    explain(3);
    ck_assert_uint_eq(F.e.rank, 4);
    ck_assert(!F.e.exceeds_request);
}
END_TEST

START_TEST(test_memory_low_chooses_the_first) {
    F.snap.available_bytes = AV_THROTTLE;
    explain(1);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_CHOSEN);
    ck_assert_int_eq(F.e.action, GL_ACTION_THROTTLE_MEMORY);
    ck_assert_int_eq(F.e.reason, GL_REASON_MEMORY_LOW);
    ck_assert_int_eq(F.e.level, GL_MEM_LEVEL_THROTTLE);
    ck_assert(F.e.signals[GL_EXPLAIN_SIG_MEMORY_LOW].active);
    ck_assert_ptr_nonnull(strstr(F.e.signals[GL_EXPLAIN_SIG_MEMORY_LOW].detail, "ThrottleBelow"));
    explain(0);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_NOT_FIRST);
    ck_assert_uint_eq(F.e.candidate_rank, 2);
    ck_assert_ptr_nonnull(strstr(F.e.summary, uids[1]));
}
END_TEST

START_TEST(test_local_mode_evict_level_throttles) {
    F.snap.available_bytes = AV_EVICT;
    explain(1);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_CHOSEN);
    ck_assert_int_eq(F.e.action, GL_ACTION_THROTTLE_MEMORY);
    F.snap.can_evict = true;
    F.pods[1].eviction_backoff = false;
    explain(1);
    ck_assert_int_eq(F.e.action, GL_ACTION_EVICT);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_CHOSEN);
    F.pods[1].eviction_backoff = true;
    explain(1);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_HELD);
    ck_assert(F.e.eviction_backoff);
    F.snap.available_bytes = AV_KILL;
    explain(1);
    ck_assert_int_eq(F.e.action, GL_ACTION_KILL);
}
END_TEST

START_TEST(test_rate_limit_holds_evictions) {
    F.snap.available_bytes = AV_EVICT;
    F.snap.can_evict = true;
    F.pods[1].eviction_backoff = false;
    for (size_t i = 0; i < F.c.actions.max_evictions_per_minute; i++)
        F.st.evictions_usec[F.st.n_evictions++] = T0 - 10 * SEC;
    explain(1);
    ck_assert(F.e.rate_limited);
    ck_assert_uint_eq(F.e.evictions_last_minute, F.c.actions.max_evictions_per_minute);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_HELD);
    ck_assert_ptr_nonnull(strstr(F.e.summary, "MaxEvictionsPerMinute"));
}
END_TEST

START_TEST(test_protected_by_uid) {
    char words[64];
    F.c.protect.pod_uids = calloc(2, sizeof(char *));
    F.c.protect.pod_uids[0] = strdup(uids[1]);
    F.c.protect.n_pod_uids = 1;
    F.snap.available_bytes = AV_KILL;
    explain(1);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_PROTECTED);
    ck_assert_int_eq(F.e.protected_by, GL_PROTECT_UID);
    ck_assert_uint_eq(F.e.candidate_rank, 0);
    ck_assert_ptr_nonnull(strstr(F.e.summary, "pod-uid"));
    /* The protected pod still ranks first; the next candidate is what would be hit. */
    ck_assert_uint_eq(F.e.rank, 1);
    explain(0);
    ck_assert_ptr_eq(F.e.first, &F.pods[0]);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_CHOSEN);
    gl_explain_protect_words(GL_PROTECT_NAMESPACE | GL_PROTECT_UID, words, sizeof(words));
    ck_assert_str_eq(words, "namespace,pod-uid");
    gl_explain_protect_words(GL_PROTECT_NONE, words, sizeof(words));
    ck_assert_str_eq(words, "");
}
END_TEST

START_TEST(test_after_the_action_it_is_held) {
    F.snap.available_bytes = AV_THROTTLE;
    decide(); /* throttles pod 1 */
    F.snap.now_usec = T0 + 3 * SEC;
    explain(1);
    ck_assert(F.e.has_state);
    ck_assert(F.e.state.memory_throttled);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_HELD);
    ck_assert_uint_eq(F.e.memory_delay_left_usec, F.c.actions.post_action_delay_usec - 3 * SEC);
    ck_assert_ptr_nonnull(strstr(F.e.summary, "PostActionDelay"));
    /* A more severe level is escalation, which is never delayed. */
    F.snap.available_bytes = AV_KILL;
    explain(1);
    ck_assert_uint_eq(F.e.memory_delay_left_usec, 0);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_CHOSEN);
    ck_assert_int_eq(F.e.action, GL_ACTION_KILL);
}
END_TEST

START_TEST(test_dying_pod) {
    F.snap.available_bytes = AV_KILL;
    decide(); /* kills pod 1 */
    explain(1);
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_DYING);
    ck_assert_uint_eq(F.e.candidate_rank, 0);
    explain(0);
    ck_assert_ptr_eq(F.e.first, &F.pods[0]);
}
END_TEST

START_TEST(test_psi_and_runaway_signals) {
    F.snap.memory_psi_some_avg10_bp = F.c.memory.pressure_limit_bp + 100;
    F.st.memory_psi_since_usec = T0 - F.c.memory.pressure_duration_usec;
    F.pods[2].pids_current = 4194304;
    explain(2);
    ck_assert(F.e.signals[GL_EXPLAIN_SIG_MEMORY_PRESSURE].sustained);
    ck_assert(F.e.signals[GL_EXPLAIN_SIG_FORK_BOMB].active);
    ck_assert(F.e.runaway);
    ck_assert_uint_eq(F.e.rank, 1); /* a runaway goes before everything */
    ck_assert_int_eq(F.e.verdict, GL_EXPLAIN_CHOSEN);
    ck_assert_int_eq(F.e.reason, GL_REASON_FORK_BOMB);
    ck_assert_int_eq(F.e.action, GL_ACTION_KILL); /* local mode */
    ck_assert_str_eq(gl_explain_signal_name(GL_EXPLAIN_SIG_FORK_BOMB), "fork-bomb");
    ck_assert_str_eq(gl_explain_verdict_name(GL_EXPLAIN_NOT_FIRST), "not-first");
}
END_TEST

static Suite *explain_suite(void) {
    Suite *s = suite_create("explain");
    TCase *tc = tcase_create("explain");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_find);
    tcase_add_test(tc, test_no_pressure_still_ranks);
    tcase_add_test(tc, test_memory_low_chooses_the_first);
    tcase_add_test(tc, test_local_mode_evict_level_throttles);
    tcase_add_test(tc, test_rate_limit_holds_evictions);
    tcase_add_test(tc, test_protected_by_uid);
    tcase_add_test(tc, test_after_the_action_it_is_held);
    tcase_add_test(tc, test_dying_pod);
    tcase_add_test(tc, test_psi_and_runaway_signals);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(explain_suite)
