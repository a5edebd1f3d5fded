/* test_kube_nodestatus.c: Check suite for the node label and Guardlet*Pressure conditions kept by
 * gl_nodestatus, against the fake API server (tests/fakeapi) run as a subprocess on 127.0.0.1. */
#include "guardlet/nodestatus.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeapi_proc.h"
#include "testutil.h"

#define TOKEN       "test-token-1"
#define ADMIN_TOKEN "test-admin-1"
#define POOL        "guardlet.io/pool"
#define T0          1700000000.0 /* 2023-11-14T22:13:20Z */

/* ---------------------------------------------------------------- the fake server */

typedef gl_fakeapi fake;

/* Starts the fake over plain HTTP with node-a (kubelet conditions included). */
static void fake_start(fake *f) {
    gl_fakeapi_opts o = {.name = "nodestatus",
                         .token = TOKEN,
                         .admin_token = ADMIN_TOKEN,
                         .bookmark_interval = "0.5"};
    gl_fakeapi_start(f, &o);
}

/* ---------------------------------------------------------------- loop helpers */

/* One request, run to its end (bounded); returns the answer's JSON (the caller decrefs). */
static json_t *call_json(fake *f, gl_kube_client *c, const char *method, const char *path,
                         const char *body) {
    gl_fakeapi_answer a;
    gl_fakeapi_call(f, c, method, path, body, &a);
    ck_assert_msg(a.err == 0 && a.status == 200, "%s %s: %ld %d %s", method, path, a.status, a.err,
                  a.body ? a.body : "");
    json_t *j = json_loads(a.body, 0, NULL);
    gl_fakeapi_answer_clear(&a);
    ck_assert_ptr_nonnull(j);
    return j;
}

static json_t *get_node(fake *f) {
    return call_json(f, f->client, "GET", "/api/v1/nodes/node-a", NULL);
}

static void admin(fake *f, const char *method, const char *path, const char *body) {
    json_decref(call_json(f, f->admin, method, path, body));
}

/* How many method requests to exactly path the fake recorded; every one must have content_type. */
static int count_requests(fake *f, const char *method, const char *path, const char *content_type) {
    json_t *reqs = call_json(f, f->admin, "GET", "/_fake/requests", NULL);
    ck_assert(json_is_array(reqs));
    int n = 0;
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        const char *m = json_string_value(json_object_get(r, "method"));
        const char *p = json_string_value(json_object_get(r, "path"));
        if (!m || !p || strcmp(m, method) != 0 || strcmp(p, path) != 0)
            continue;
        const char *ct = json_string_value(json_object_get(r, "content_type"));
        ck_assert_ptr_nonnull(ct);
        ck_assert_str_eq(ct, content_type);
        n++;
    }
    json_decref(reqs);
    return n;
}

static int label_patches(fake *f) {
    return count_requests(f, "PATCH", "/api/v1/nodes/node-a", "application/merge-patch+json");
}

static int status_patches(fake *f) {
    return count_requests(f, "PATCH", "/api/v1/nodes/node-a/status",
                          "application/strategic-merge-patch+json");
}

static bool settled(const void *ns) {
    return !gl_nodestatus_pending(ns);
}

/* Runs the loop until ns has nothing pending (bounded); fails the test otherwise. */
static void settle(fake *f, gl_nodestatus *ns, double seconds) {
    gl_fakeapi_run(f->loop, settled, ns, seconds);
    ck_assert_msg(!gl_nodestatus_pending(ns), "node status still pending after %.0f s", seconds);
}

/* Runs the loop for a while whatever happens. */
static void spin(fake *f, double seconds) {
    bool never = false;
    gl_fakeapi_run_until(f->loop, &never, seconds);
}

static const char *node_label(json_t *node, const char *key) {
    return json_string_value(
        json_object_get(json_object_get(json_object_get(node, "metadata"), "labels"), key));
}

static json_t *node_cond(json_t *node, const char *type) {
    json_t *conds = json_object_get(json_object_get(node, "status"), "conditions");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

static size_t node_cond_count(json_t *node) {
    return json_array_size(json_object_get(json_object_get(node, "status"), "conditions"));
}

static const char *field(json_t *obj, const char *key) {
    ck_assert_ptr_nonnull(obj);
    const char *v = json_string_value(json_object_get(obj, key));
    ck_assert_msg(v != NULL, "no string %s", key);
    return v;
}

/* ---------------------------------------------------------------- labels */

START_TEST(test_label_applied_once) {
    if (gl_fakeapi_missing("test_label_applied_once"))
        return;
    fake f;
    fake_start(&f);
    gl_nodestatus *ns = NULL;
    ck_assert_int_eq(gl_nodestatus_new(f.client, "", &ns), -EINVAL);
    ck_assert_int_eq(gl_nodestatus_new(f.client, "Node_A", &ns), -EINVAL);
    ck_assert_int_eq(gl_nodestatus_new(f.client, "node-a", &ns), 0);
    ck_assert_int_eq(gl_nodestatus_set_label(ns, "", "x"), -EINVAL);

    ck_assert_int_eq(gl_nodestatus_set_label(ns, POOL, "batch"), 0);
    ck_assert(gl_nodestatus_pending(ns));
    settle(&f, ns, 10);
    json_t *node = get_node(&f);
    ck_assert_str_eq(node_label(node, POOL), "batch");
    ck_assert_str_eq(node_label(node, "kubernetes.io/hostname"), "node-a");
    json_decref(node);
    ck_assert_int_eq(label_patches(&f), 1);

    /* The same value again: nothing to send. */
    ck_assert_int_eq(gl_nodestatus_set_label(ns, POOL, "batch"), 0);
    ck_assert(!gl_nodestatus_pending(ns));
    spin(&f, 0.3);
    ck_assert_int_eq(label_patches(&f), 1);

    /* Changes while a request is in flight (the fake holds it 0.5 s): one more request carries
     * only the latest value. */
    admin(&f, "POST", "/_fake/faults",
          "{\"delay\":{\"seconds\":0.5,\"path\":\"/api/v1/nodes/node-a\","
          "\"method\":\"PATCH\"}}");
    ck_assert_int_eq(gl_nodestatus_set_label(ns, POOL, "web"), 0);
    spin(&f, 0.2);
    ck_assert_int_eq(gl_nodestatus_set_label(ns, POOL, "db"), 0);
    ck_assert_int_eq(gl_nodestatus_set_label(ns, POOL, "system"), 0);
    settle(&f, ns, 10);
    admin(&f, "POST", "/_fake/faults", "{\"clear\":true}");
    node = get_node(&f);
    ck_assert_str_eq(node_label(node, POOL), "system");
    json_decref(node);
    ck_assert_int_eq(label_patches(&f), 3);

    /* NULL removes the label. */
    ck_assert_int_eq(gl_nodestatus_set_label(ns, POOL, NULL), 0);
    settle(&f, ns, 10);
    node = get_node(&f);
    ck_assert_ptr_null(node_label(node, POOL));
    ck_assert_str_eq(node_label(node, "kubernetes.io/hostname"), "node-a");
    json_decref(node);

    gl_nodestatus_stats st;
    gl_nodestatus_get_stats(ns, &st);
    ck_assert_uint_eq(st.label_patches, 4);
    ck_assert_uint_eq(st.label_failures, 0);
    ck_assert_int_eq(st.last_err, 0);
    ck_assert_int_eq(status_patches(&f), 0);
    gl_nodestatus_free(ns);
    gl_fakeapi_stop(&f);
}
END_TEST

/* ---------------------------------------------------------------- conditions */

START_TEST(test_conditions_merge) {
    if (gl_fakeapi_missing("test_conditions_merge"))
        return;
    fake f;
    fake_start(&f);
    gl_nodestatus *ns = NULL;
    ck_assert_int_eq(gl_nodestatus_new(f.client, "node-a", &ns), 0);
    ck_assert_int_eq(gl_nodestatus_set_condition(ns, GL_NODE_COND_COUNT, false, "X", "", T0),
                     -EINVAL);
    ck_assert_int_eq(gl_nodestatus_set_condition(ns, GL_NODE_COND_MEMORY, false, "", "", T0),
                     -EINVAL);

    json_t *node = get_node(&f);
    size_t kubelet_conds = node_cond_count(node);
    ck_assert_uint_ge(kubelet_conds, 1);
    ck_assert_str_eq(field(node_cond(node, "Ready"), "status"), "True");
    json_decref(node);

    ck_assert_int_eq(gl_nodestatus_set_condition(ns, GL_NODE_COND_MEMORY, false,
                                                 "GuardletNoMemoryPressure", "memory available 3Gi",
                                                 T0),
                     0);
    ck_assert_int_eq(gl_nodestatus_set_condition(ns, GL_NODE_COND_CPU, false,
                                                 "GuardletNoCPUPressure", "cpu some avg10 1.0", T0),
                     0);
    settle(&f, ns, 10);
    node = get_node(&f);
    ck_assert_uint_eq(node_cond_count(node), kubelet_conds + 2);
    ck_assert_str_eq(field(node_cond(node, "Ready"), "status"), "True");
    ck_assert_str_eq(field(node_cond(node, "Ready"), "reason"), "KubeletReady");
    json_t *m = node_cond(node, "GuardletMemoryPressure");
    ck_assert_str_eq(field(m, "status"), "False");
    ck_assert_str_eq(field(m, "reason"), "GuardletNoMemoryPressure");
    ck_assert_str_eq(field(m, "message"), "memory available 3Gi");
    ck_assert_str_eq(field(m, "lastTransitionTime"), "2023-11-14T22:13:20Z");
    ck_assert_str_eq(field(m, "lastHeartbeatTime"), "2023-11-14T22:13:20Z");
    ck_assert_str_eq(field(node_cond(node, "GuardletCPUPressure"), "status"), "False");
    ck_assert_ptr_null(node_cond(node, "GuardletPIDPressure"));
    json_decref(node);
    int sent = status_patches(&f);
    ck_assert_int_ge(sent, 1);
    ck_assert_int_le(sent, 2);
    ck_assert_int_eq(label_patches(&f), 0);

    /* A flip: only ours changes, with a new lastTransitionTime. */
    ck_assert_int_eq(gl_nodestatus_set_condition(ns, GL_NODE_COND_MEMORY, true, "GuardletMemoryLow",
                                                 "memory available 90Mi", T0 + 100),
                     0);
    settle(&f, ns, 10);
    node = get_node(&f);
    ck_assert_uint_eq(node_cond_count(node), kubelet_conds + 2);
    ck_assert_str_eq(field(node_cond(node, "Ready"), "status"), "True");
    m = node_cond(node, "GuardletMemoryPressure");
    ck_assert_str_eq(field(m, "status"), "True");
    ck_assert_str_eq(field(m, "reason"), "GuardletMemoryLow");
    ck_assert_str_eq(field(m, "lastTransitionTime"), "2023-11-14T22:15:00Z");
    ck_assert_str_eq(field(m, "lastHeartbeatTime"), "2023-11-14T22:15:00Z");
    ck_assert_str_eq(field(node_cond(node, "GuardletCPUPressure"), "status"), "False");
    ck_assert_str_eq(field(node_cond(node, "GuardletCPUPressure"), "lastTransitionTime"),
                     "2023-11-14T22:13:20Z");
    json_decref(node);
    ck_assert_int_eq(status_patches(&f), sent + 1);

    /* Same status, new reason: sent at once, lastTransitionTime kept. */
    ck_assert_int_eq(gl_nodestatus_set_condition(ns, GL_NODE_COND_MEMORY, true, "GuardletMemoryPSI",
                                                 "memory some avg10 40", T0 + 200),
                     0);
    settle(&f, ns, 10);
    node = get_node(&f);
    m = node_cond(node, "GuardletMemoryPressure");
    ck_assert_str_eq(field(m, "reason"), "GuardletMemoryPSI");
    ck_assert_str_eq(field(m, "lastTransitionTime"), "2023-11-14T22:15:00Z");
    ck_assert_str_eq(field(m, "lastHeartbeatTime"), "2023-11-14T22:16:40Z");
    json_decref(node);
    ck_assert_int_eq(status_patches(&f), sent + 2);

    /* Only the figures change: nothing until the heartbeat is due (60 s after the last). */
    ck_assert_int_eq(gl_nodestatus_set_condition(ns, GL_NODE_COND_MEMORY, true, "GuardletMemoryPSI",
                                                 "memory some avg10 55", T0 + 210),
                     0);
    ck_assert(!gl_nodestatus_pending(ns));
    gl_nodestatus_heartbeat(ns, T0 + 220);
    ck_assert(!gl_nodestatus_pending(ns));
    spin(&f, 0.3);
    ck_assert_int_eq(status_patches(&f), sent + 2);
    gl_nodestatus_heartbeat(ns, T0 + 261);
    ck_assert(gl_nodestatus_pending(ns));
    settle(&f, ns, 10);
    gl_nodestatus_heartbeat(ns, T0 + 262); /* just applied: not due */
    ck_assert(!gl_nodestatus_pending(ns));
    node = get_node(&f);
    m = node_cond(node, "GuardletMemoryPressure");
    ck_assert_str_eq(field(m, "status"), "True");
    ck_assert_str_eq(field(m, "message"), "memory some avg10 55");
    ck_assert_str_eq(field(m, "lastTransitionTime"), "2023-11-14T22:15:00Z");
    ck_assert_str_eq(field(m, "lastHeartbeatTime"), "2023-11-14T22:17:41Z");
    ck_assert_str_eq(field(node_cond(node, "GuardletCPUPressure"), "lastHeartbeatTime"),
                     "2023-11-14T22:17:41Z");
    ck_assert_str_eq(field(node_cond(node, "GuardletCPUPressure"), "lastTransitionTime"),
                     "2023-11-14T22:13:20Z");
    ck_assert_str_eq(field(node_cond(node, "Ready"), "reason"), "KubeletReady");
    json_decref(node);
    ck_assert_int_eq(status_patches(&f), sent + 3);

    gl_nodestatus_stats st;
    gl_nodestatus_get_stats(ns, &st);
    ck_assert_uint_eq(st.condition_patches, (uint64_t)sent + 3);
    ck_assert_uint_eq(st.heartbeats, 1);
    ck_assert_uint_eq(st.condition_failures, 0);
    gl_nodestatus_free(ns);
    gl_fakeapi_stop(&f);
}
END_TEST

/* ---------------------------------------------------------------- failures */

START_TEST(test_retry_after_500) {
    if (gl_fakeapi_missing("test_retry_after_500"))
        return;
    fake f;
    fake_start(&f);
    gl_nodestatus *ns = NULL;
    ck_assert_int_eq(gl_nodestatus_new(f.client, "node-a", &ns), 0);

    admin(&f, "POST", "/_fake/faults",
          "{\"fail\":{\"count\":2,\"code\":500,\"path\":\"/api/v1/nodes/node-a\","
          "\"method\":\"PATCH\"}}");
    ck_assert_int_eq(gl_nodestatus_set_label(ns, POOL, "batch"), 0);
    settle(&f, ns, 15);
    json_t *node = get_node(&f);
    ck_assert_str_eq(node_label(node, POOL), "batch");
    json_decref(node);
    gl_nodestatus_stats st;
    gl_nodestatus_get_stats(ns, &st);
    ck_assert_uint_eq(st.label_failures, 2);
    ck_assert_uint_eq(st.label_patches, 1);
    ck_assert_int_eq(st.last_err, 500);
    ck_assert_msg(strstr(st.last_error, "500") != NULL, "%s", st.last_error);
    ck_assert_int_eq(label_patches(&f), 3);

    admin(&f, "POST", "/_fake/faults",
          "{\"fail\":{\"count\":1,\"code\":500,\"path\":\"/api/v1/nodes/node-a/status\"}}");
    ck_assert_int_eq(gl_nodestatus_set_condition(ns, GL_NODE_COND_PID, false,
                                                 "GuardletNoPIDPressure", "pids 120 of 4096", T0),
                     0);
    settle(&f, ns, 15);
    node = get_node(&f);
    ck_assert_str_eq(field(node_cond(node, "GuardletPIDPressure"), "status"), "False");
    ck_assert_str_eq(field(node_cond(node, "Ready"), "status"), "True");
    json_decref(node);
    gl_nodestatus_get_stats(ns, &st);
    ck_assert_uint_eq(st.condition_failures, 1);
    ck_assert_uint_eq(st.condition_patches, 1);
    ck_assert_int_eq(status_patches(&f), 2);

    /* Freed with a request in flight: cancelled, nothing leaks. */
    ck_assert_int_eq(gl_nodestatus_set_label(ns, POOL, "other"), 0);
    ck_assert(gl_nodestatus_pending(ns));
    gl_nodestatus_free(ns);
    gl_fakeapi_stop(&f);
}
END_TEST

static Suite *nodestatus_suite(void) {
    Suite *s = suite_create("kube_nodestatus");
    TCase *tc = tcase_create("fakeapi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_label_applied_once);
    tcase_add_test(tc, test_conditions_merge);
    tcase_add_test(tc, test_retry_after_500);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(nodestatus_suite)
