/* test_kube_evict.c: Check suite for gl_evictor against the fake API server (tests/fakeapi) run as
 * a subprocess on 127.0.0.1: each answer of the eviction subresource and the per-pod backoff. */
#include "guardlet/evict.h"

#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakeapi_proc.h"
#include "guardlet/node.h"
#include "testutil.h"

#define TOKEN       "evict-token-1"
#define ADMIN_TOKEN "evict-admin-1"
#define SEC         1000000ull

/* ---------------------------------------------------------------- the fake server */

typedef gl_fakeapi_answer answer;

typedef struct {
    gl_fakeapi api;
    gl_evictor *ev;
} fake;

/* A Running pod in namespace default: budgets are only checked for Running pods. */
static char *pod_json(const char *name, const char *uid, const char *label) {
    char *s = NULL;
    ck_assert_int_ge(
        asprintf(&s,
                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                 "\"namespace\":\"default\",\"uid\":\"%s\",\"labels\":{\"app\":\"%s\"}}"
                 ",\"spec\":{\"nodeName\":\"node-a\",\"containers\":[{\"name\":\"app\","
                 "\"image\":\"x\"}]},\"status\":{\"phase\":\"Running\"}}",
                 name, uid, label),
        0);
    return s;
}

/* Starts the fake over plain HTTP (TLS is the client's business, tested in test_kube_client) with
 * pods web-1, web-2 (app=web) and db-1 (app=db). */
static void fake_start(fake *f) {
    f->ev = NULL;
    char *a = pod_json("web-1", "uid-web-1", "web");
    char *b = pod_json("web-2", "uid-web-2", "web");
    char *c = pod_json("db-1", "uid-db-1", "db");
    char *all = NULL;
    ck_assert_int_ge(asprintf(&all, "[%s,%s,%s]", a, b, c), 0);
    free(a);
    free(b);
    free(c);
    gl_fakeapi_opts o = {.name = "evict", .token = TOKEN, .admin_token = ADMIN_TOKEN, .seed = all};
    gl_fakeapi_start(&f->api, &o);
    free(all);
    ck_assert_int_eq(gl_evictor_new(f->api.client, &f->ev), 0);
}

/* Frees the evictor, then stops the fake (ended by its PID and reaped). */
static void fake_stop(fake *f) {
    gl_evictor_free(f->ev);
    f->ev = NULL;
    gl_fakeapi_stop(&f->api);
}

/* ---------------------------------------------------------------- evictions */

typedef struct {
    bool done;
    int calls;
    gl_evict_result result;
    long status;
    char message[512];
} outcome;

static void on_result(gl_evict_result result, long http_status, const char *message,
                      void *userdata) {
    outcome *o = userdata;
    o->done = true;
    o->calls++;
    o->result = result;
    o->status = http_status;
    snprintf(o->message, sizeof(o->message), "%s", message);
}

/* One eviction run to its end; checks that the callback came exactly once. */
static void evict(fake *f, const char *name, const char *uid, int64_t grace, outcome *o) {
    memset(o, 0, sizeof(*o));
    ck_assert_int_eq(gl_evict(f->ev, "default", name, uid, grace, on_result, o), 0);
    ck_assert(!o->done); /* never from inside gl_evict() */
    ck_assert_uint_eq(gl_evictor_pending(f->ev), 1);
    ck_assert_msg(gl_fakeapi_run_until(f->api.loop, &o->done, 40), "evict %s: no result", name);
    bool never = false;
    gl_fakeapi_run_until(f->api.loop, &never, 0.05);
    ck_assert_int_eq(o->calls, 1);
    ck_assert_uint_eq(gl_evictor_pending(f->ev), 0);
}

/* The fake's record of the last eviction attempt (owned; json_decref). */
static json_t *last_eviction(fake *f) {
    answer a;
    gl_fakeapi_call(&f->api, f->api.admin, "GET", "/_fake/evictions", NULL, &a);
    ck_assert_int_eq(a.status, 200);
    json_t *list = json_loads(a.body, 0, NULL);
    free(a.body);
    ck_assert(json_is_array(list));
    ck_assert_uint_gt(json_array_size(list), 0);
    json_t *last = json_incref(json_array_get(list, json_array_size(list) - 1));
    json_decref(list);
    return last;
}

static long pod_status(fake *f, const char *name) {
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/pods/%s", name);
    answer a;
    gl_fakeapi_call(&f->api, f->api.client, "GET", path, NULL, &a);
    free(a.body);
    ck_assert_int_eq(a.err, 0);
    return a.status;
}

START_TEST(test_evict_ok_records_uid) {
    if (gl_fakeapi_missing("test_evict_ok_records_uid"))
        return;
    fake f;
    fake_start(&f);

    /* Refused before anything is sent: names that are not Kubernetes names (and would bend the
     * URL path), a missing uid, a negative grace period. */
    outcome o = {0};
    ck_assert_int_eq(gl_evict(f.ev, "default", "../nodes/x", "u", 1, on_result, &o), -EINVAL);
    ck_assert_int_eq(gl_evict(f.ev, "Default", "web-1", "u", 1, on_result, &o), -EINVAL);
    ck_assert_int_eq(gl_evict(f.ev, "default", "web-1", "", 1, on_result, &o), -EINVAL);
    ck_assert_int_eq(gl_evict(f.ev, "default", "web-1", "a b", 1, on_result, &o), -EINVAL);
    ck_assert_int_eq(gl_evict(f.ev, "default", "web-1", "u", -1, on_result, &o), -EINVAL);
    ck_assert_int_eq(gl_evict(f.ev, "default", "web-1", "u", 1, NULL, &o), -EINVAL);
    ck_assert_uint_eq(gl_evictor_pending(f.ev), 0);

    /* A second eviction of the same uid while one is in flight is refused. */
    ck_assert_int_eq(gl_evict(f.ev, "default", "web-1", "uid-web-1", 30, on_result, &o), 0);
    outcome dup = {0};
    ck_assert_int_eq(gl_evict(f.ev, "default", "web-1", "uid-web-1", 30, on_result, &dup),
                     -EALREADY);
    ck_assert_msg(gl_fakeapi_run_until(f.api.loop, &o.done, 40), "no result");
    ck_assert_int_eq(o.calls, 1);
    ck_assert(!dup.done);
    ck_assert_int_eq(o.result, GL_EVICT_OK);
    ck_assert_int_eq(o.status, 201);
    ck_assert_str_eq(o.message, "");
    uint64_t now = gl_now_usec();
    ck_assert_uint_eq(gl_evictor_retry_after(f.ev, "uid-web-1", now), now);

    /* What the server got: the policy/v1 Eviction with the uid precondition and the grace. */
    json_t *rec = last_eviction(&f);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "code")), 201);
    json_t *body = json_object_get(rec, "body");
    ck_assert_str_eq(json_string_value(json_object_get(body, "apiVersion")), "policy/v1");
    ck_assert_str_eq(json_string_value(json_object_get(body, "kind")), "Eviction");
    json_t *meta = json_object_get(body, "metadata");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "name")), "web-1");
    ck_assert_str_eq(json_string_value(json_object_get(meta, "namespace")), "default");
    json_t *opts = json_object_get(body, "deleteOptions");
    ck_assert_int_eq(json_integer_value(json_object_get(opts, "gracePeriodSeconds")), 30);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(opts, "preconditions"), "uid")),
        "uid-web-1");
    json_decref(rec);

    /* And the pod is gone. */
    ck_assert_int_eq(pod_status(&f, "web-1"), 404);
    fake_stop(&f);
}
END_TEST

START_TEST(test_evict_blocked_by_budget) {
    if (gl_fakeapi_missing("test_evict_blocked_by_budget"))
        return;
    fake f;
    fake_start(&f);
    gl_fakeapi_admin(
        &f.api, "POST", "/_fake/budgets",
        "{\"name\":\"db-pdb\",\"namespace\":\"default\",\"matchLabels\":{\"app\":\"db\"},"
        "\"disruptionsAllowed\":0}");
    outcome o;
    uint64_t before = gl_now_usec();
    evict(&f, "db-1", "uid-db-1", 10, &o);
    ck_assert_int_eq(o.result, GL_EVICT_BLOCKED);
    ck_assert_int_eq(o.status, 429);
    ck_assert_msg(strstr(o.message, "disruption budget") && strstr(o.message, "db-pdb"),
                  "message: %s", o.message);
    /* Blocked pods wait before their next try; other pods do not. */
    uint64_t at = gl_evictor_retry_after(f.ev, "uid-db-1", before);
    ck_assert_uint_ge(at, before + 5 * SEC);
    ck_assert_uint_le(at, gl_now_usec() + 5 * SEC);
    ck_assert_uint_eq(gl_evictor_retry_after(f.ev, "uid-web-1", before), before);
    ck_assert_int_eq(pod_status(&f, "db-1"), 200);
    gl_evictor_forget(f.ev, "uid-db-1");
    ck_assert_uint_eq(gl_evictor_retry_after(f.ev, "uid-db-1", before), before);
    fake_stop(&f);
}
END_TEST

START_TEST(test_evict_unknown_pod_gone) {
    if (gl_fakeapi_missing("test_evict_unknown_pod_gone"))
        return;
    fake f;
    fake_start(&f);
    outcome o;
    evict(&f, "no-such-pod", "uid-none", 10, &o);
    ck_assert_int_eq(o.result, GL_EVICT_GONE);
    ck_assert_int_eq(o.status, 404);
    ck_assert_msg(strstr(o.message, "not found"), "message: %s", o.message);
    uint64_t now = gl_now_usec();
    ck_assert_uint_eq(gl_evictor_retry_after(f.ev, "uid-none", now), now);
    fake_stop(&f);
}
END_TEST

START_TEST(test_evict_wrong_uid_gone) {
    if (gl_fakeapi_missing("test_evict_wrong_uid_gone"))
        return;
    fake f;
    fake_start(&f);
    /* web-2 was replaced by a pod of the same name: the old uid must not evict the new pod. */
    outcome o;
    evict(&f, "web-2", "uid-web-2-old", 10, &o);
    ck_assert_int_eq(o.result, GL_EVICT_GONE);
    ck_assert_int_eq(o.status, 409);
    ck_assert_msg(strstr(o.message, "Precondition failed"), "message: %s", o.message);
    ck_assert_int_eq(pod_status(&f, "web-2"), 200);
    json_t *rec = last_eviction(&f);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "code")), 409);
    json_decref(rec);
    fake_stop(&f);
}
END_TEST

START_TEST(test_evict_500_backoff_grows) {
    if (gl_fakeapi_missing("test_evict_500_backoff_grows"))
        return;
    fake f;
    fake_start(&f);
    gl_fakeapi_admin(
        &f.api, "POST", "/_fake/faults",
        "{\"fail\":{\"count\":8,\"code\":500,\"path\":\"/api/v1/namespaces/default/pods/web-1/"
        "eviction\"}}");
    /* A 5xx is about the server: a server-wide wait doubling from 1 s up to the 30 s cap, for
     * every pod alike. The test tries again at once: the backoff is advice to the caller, not
     * enforced by gl_evict(). */
    uint64_t want[] = {1 * SEC, 2 * SEC, 4 * SEC, 8 * SEC, 16 * SEC, 30 * SEC, 30 * SEC, 30 * SEC};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        outcome o;
        uint64_t before = gl_now_usec();
        evict(&f, "web-1", "uid-web-1", 10, &o);
        uint64_t after = gl_now_usec();
        ck_assert_int_eq(o.result, GL_EVICT_RETRY);
        ck_assert_int_eq(o.status, 500);
        ck_assert(o.message[0] != '\0');
        uint64_t at = gl_evictor_retry_after(f.ev, "uid-web-1", after);
        ck_assert_msg(at >= before + want[i] && at <= after + want[i], "try %zu: wait %.2f s", i,
                      (double)(at - after) / 1e6);
        ck_assert_uint_eq(gl_evictor_retry_after(f.ev, "uid-other", after), at);
    }
    /* The fault is used up: success resets the backoff. */
    outcome o;
    evict(&f, "web-1", "uid-web-1", 10, &o);
    ck_assert_int_eq(o.result, GL_EVICT_OK);
    uint64_t now = gl_now_usec();
    ck_assert_uint_eq(gl_evictor_retry_after(f.ev, "uid-web-1", now), now);
    fake_stop(&f);
}
END_TEST

START_TEST(test_evict_server_down_retry) {
    if (gl_fakeapi_missing("test_evict_server_down_retry"))
        return;
    fake f;
    fake_start(&f);
    gl_fakeapi_admin(&f.api, "POST", "/_fake/down", "{\"seconds\":30}");
    usleep(300000); /* the fake stops listening just after answering */
    outcome o;
    uint64_t before = gl_now_usec();
    evict(&f, "web-1", "uid-web-1", 10, &o);
    ck_assert_int_eq(o.result, GL_EVICT_RETRY);
    ck_assert_int_eq(o.status, 0);
    ck_assert(o.message[0] != '\0');
    ck_assert_uint_ge(gl_evictor_retry_after(f.ev, "uid-web-1", before), before + 1 * SEC);

    /* Freeing with an eviction in flight cancels it without a callback. */
    outcome late = {0};
    ck_assert_int_eq(gl_evict(f.ev, "default", "web-2", "uid-web-2", 10, on_result, &late), 0);
    gl_evictor_free(f.ev);
    f.ev = NULL;
    bool never = false;
    gl_fakeapi_run_until(f.api.loop, &never, 0.2);
    ck_assert(!late.done);
    ck_assert_uint_eq(gl_kube_client_active(f.api.client), 0);
    fake_stop(&f);
}
END_TEST

START_TEST(test_result_names) {
    ck_assert_str_eq(gl_evict_result_name(GL_EVICT_OK), "ok");
    ck_assert_str_eq(gl_evict_result_name(GL_EVICT_BLOCKED), "blocked");
    ck_assert_str_eq(gl_evict_result_name(GL_EVICT_GONE), "gone");
    ck_assert_str_eq(gl_evict_result_name(GL_EVICT_RETRY), "retry");
    ck_assert_str_eq(gl_evict_result_name(GL_EVICT_FAILED), "failed");
}
END_TEST

static Suite *kube_evict_suite(void) {
    Suite *s = suite_create("kube_evict");
    TCase *tc = tcase_create("fakeapi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_evict_ok_records_uid);
    tcase_add_test(tc, test_evict_blocked_by_budget);
    tcase_add_test(tc, test_evict_unknown_pod_gone);
    tcase_add_test(tc, test_evict_wrong_uid_gone);
    tcase_add_test(tc, test_evict_500_backoff_grows);
    tcase_add_test(tc, test_evict_server_down_retry);
    tcase_add_test(tc, test_result_names);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(kube_evict_suite)
