/* test_kube_events.c: Check suite for guardlet's Events: keys, token bucket and LRU cache on their
 * own, then aggregation and rate limit against the fake API server (tests/fakeapi) on 127.0.0.1. */
#include "guardlet/events.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeapi_proc.h"
#include "testutil.h"

#define TOKEN "test-token-1"
#define NODE  "node-a"
/* 2026-01-01T00:00:00Z */
#define T0 (1767225600ll * 1000000ll)

/* ---------------------------------------------------------------- pure parts */

START_TEST(test_bucket_burst_refill) {
    gl_events_bucket b;
    gl_events_bucket_init(&b, T0);
    ck_assert_uint_eq(gl_events_bucket_tokens(&b), GL_EVENTS_BURST);
    for (unsigned i = 0; i < GL_EVENTS_BURST; i++)
        ck_assert_msg(gl_events_bucket_take(&b, T0 + i), "token %u", i);
    ck_assert(!gl_events_bucket_take(&b, T0 + 100));
    /* One token per 5 minutes: not a microsecond early. */
    int64_t t = T0 + 100 + (int64_t)GL_EVENTS_REFILL_PERIOD_USEC - 200;
    ck_assert(!gl_events_bucket_take(&b, t));
    t = T0 + 25 + (int64_t)GL_EVENTS_REFILL_PERIOD_USEC; /* a period after the bucket ran dry */
    ck_assert(gl_events_bucket_take(&b, t));
    ck_assert(!gl_events_bucket_take(&b, t + 1));
    /* A clock going back adds nothing. */
    ck_assert(!gl_events_bucket_take(&b, T0));
    /* A long quiet spell refills to the burst, no more. */
    t = T0 + 1000ll * (int64_t)GL_EVENTS_REFILL_PERIOD_USEC;
    unsigned n = 0;
    while (gl_events_bucket_take(&b, t))
        n++;
    ck_assert_uint_eq(n, GL_EVENTS_BURST);
    /* Three periods give three tokens. */
    t += 3 * (int64_t)GL_EVENTS_REFILL_PERIOD_USEC;
    n = 0;
    while (gl_events_bucket_take(&b, t))
        n++;
    ck_assert_uint_eq(n, 3);
}
END_TEST

START_TEST(test_keys) {
    gl_events_object pod = {"Pod", "shop", "web-1", "uid-1"};
    gl_events_object pod2 = {"Pod", "shop", "web-2", "uid-2"};
    gl_events_object node = {"Node", NULL, NODE, NULL};
    char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
    ck_assert_int_eq(gl_events_key(NODE, &pod, "Warning", "GuardletThrottled", "m1", &a), 0);
    ck_assert_int_eq(gl_events_key(NODE, &pod, "Warning", "GuardletThrottled", "m1", &b), 0);
    ck_assert_str_eq(a, b);
    free(b);
    /* Each field matters. */
    ck_assert_int_eq(gl_events_key(NODE, &pod, "Warning", "GuardletThrottled", "m2", &b), 0);
    ck_assert_str_ne(a, b);
    free(b);
    ck_assert_int_eq(gl_events_key(NODE, &pod, "Normal", "GuardletThrottled", "m1", &b), 0);
    ck_assert_str_ne(a, b);
    free(b);
    ck_assert_int_eq(gl_events_key(NODE, &pod, "Warning", "GuardletFrozen", "m1", &b), 0);
    ck_assert_str_ne(a, b);
    free(b);
    ck_assert_int_eq(gl_events_key(NODE, &pod2, "Warning", "GuardletThrottled", "m1", &b), 0);
    ck_assert_str_ne(a, b);
    free(b);
    ck_assert_int_eq(gl_events_key("node-b", &pod, "Warning", "GuardletThrottled", "m1", &b), 0);
    ck_assert_str_ne(a, b);
    free(b);
    /* Separators inside fields cannot make two events collide. */
    ck_assert_int_eq(gl_events_key(NODE, &pod, "Warning", "R|1:x", "m", &b), 0);
    ck_assert_int_eq(gl_events_key(NODE, &pod, "Warning", "R", "x|1:m", &c), 0);
    ck_assert_str_ne(b, c);
    free(b);
    free(c);
    /* The object key ignores type, reason and message; NULL fields are "". */
    ck_assert_int_eq(gl_events_object_key(NODE, &pod, &c), 0);
    ck_assert_ptr_null(strstr(c, "GuardletThrottled"));
    ck_assert_ptr_nonnull(strstr(c, "web-1"));
    ck_assert_int_eq(gl_events_object_key(NODE, &node, &d), 0);
    gl_events_object node_empty = {"Node", "", NODE, ""};
    ck_assert_int_eq(gl_events_object_key(NODE, &node_empty, &e), 0);
    ck_assert_str_eq(d, e);
    ck_assert_str_ne(c, d);
    free(a);
    free(c);
    free(d);
    free(e);
}
END_TEST

static int freed_values;
static void count_free(void *v) {
    freed_values++;
    free(v);
}
static bool is_pinned(const void *v) {
    return *(const int *)v < 0;
}
static int *intv(int x) {
    int *p = malloc(sizeof(*p));
    ck_assert_ptr_nonnull(p);
    *p = x;
    return p;
}

START_TEST(test_cache_lru) {
    gl_events_cache *c = NULL;
    ck_assert_int_eq(gl_events_cache_new(0, NULL, NULL, &c), -EINVAL);
    freed_values = 0;
    ck_assert_int_eq(gl_events_cache_new(3, count_free, is_pinned, &c), 0);
    ck_assert_int_eq(gl_events_cache_put(c, "a", intv(1)), 0);
    ck_assert_int_eq(gl_events_cache_put(c, "b", intv(2)), 0);
    ck_assert_int_eq(gl_events_cache_put(c, "c", intv(3)), 0);
    ck_assert_uint_eq(gl_events_cache_size(c), 3);
    /* Touching a makes b the least recently used. */
    ck_assert_int_eq(*(int *)gl_events_cache_get(c, "a"), 1);
    ck_assert_int_eq(gl_events_cache_put(c, "d", intv(4)), 0);
    ck_assert_ptr_null(gl_events_cache_get(c, "b"));
    ck_assert_uint_eq(gl_events_cache_evictions(c), 1);
    ck_assert_int_eq(freed_values, 1);
    ck_assert_uint_eq(gl_events_cache_size(c), 3);
    /* Replacing frees the old value and keeps the size. */
    ck_assert_int_eq(gl_events_cache_put(c, "c", intv(-3)), 0); /* pinned now */
    ck_assert_int_eq(freed_values, 2);
    ck_assert_int_eq(*(int *)gl_events_cache_get(c, "c"), -3);
    /* Order now (old to new): a d c; a goes. */
    ck_assert_int_eq(gl_events_cache_put(c, "e", intv(5)), 0);
    ck_assert_ptr_null(gl_events_cache_get(c, "a"));
    /* d e c(pinned): pin all, then a put finds no victim. */
    ck_assert_int_eq(gl_events_cache_put(c, "d", intv(-4)), 0);
    ck_assert_int_eq(gl_events_cache_put(c, "e", intv(-5)), 0);
    int *v = intv(6);
    ck_assert_int_eq(gl_events_cache_put(c, "f", v), -ENOSPC);
    free(v);
    ck_assert(gl_events_cache_remove(c, "d"));
    ck_assert(!gl_events_cache_remove(c, "d"));
    ck_assert_int_eq(gl_events_cache_put(c, "f", intv(6)), 0);
    ck_assert_uint_eq(gl_events_cache_size(c), 3);
    /* Many keys through a small cache: bounded, and every value is freed once. */
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        ck_assert_int_eq(gl_events_cache_put(c, key, intv(i)), 0);
    }
    ck_assert_uint_eq(gl_events_cache_size(c), 3); /* e, c pinned, k999 */
    ck_assert_ptr_nonnull(gl_events_cache_get(c, "k999"));
    ck_assert_ptr_nonnull(gl_events_cache_get(c, "c"));
    gl_events_cache_free(c);
    gl_events_cache_free(NULL);
}
END_TEST

START_TEST(test_emit_invalid) {
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
    gl_kube_creds *cr = gl_fakeapi_plain_creds(1, TOKEN);
    gl_kube_client *client = NULL;
    ck_assert_int_eq(gl_kube_client_new(loop, cr, &client), 0);
    gl_events *ev = NULL;
    ck_assert_int_eq(gl_events_new(client, "", &ev), -EINVAL);
    ck_assert_int_eq(gl_events_new(client, NODE, &ev), 0);
    gl_events_object ok = {"Pod", "default", "web-1", "u"};
    gl_events_object bad_kind = {"Deployment", "default", "web", NULL};
    gl_events_object no_ns = {"Pod", NULL, "web-1", NULL};
    gl_events_object bad_name = {"Pod", "default", "../x", NULL};
    ck_assert_int_eq(gl_events_emit(ev, &bad_kind, "Normal", "GuardletRestored", "m", T0), -EINVAL);
    ck_assert_int_eq(gl_events_emit(ev, &no_ns, "Normal", "GuardletRestored", "m", T0), -EINVAL);
    ck_assert_int_eq(gl_events_emit(ev, &bad_name, "Normal", "GuardletRestored", "m", T0), -EINVAL);
    ck_assert_int_eq(gl_events_emit(ev, &ok, "Error", "GuardletRestored", "m", T0), -EINVAL);
    ck_assert_int_eq(gl_events_emit(ev, &ok, "Normal", "", "m", T0), -EINVAL);
    ck_assert_int_eq(gl_events_emit(ev, &ok, "Normal", "GuardletRestored", "bad \xff utf-8", T0),
                     -EINVAL);
    ck_assert_uint_eq(gl_events_in_flight(ev), 0);
    /* A valid one starts a request; freeing cancels it. */
    ck_assert_int_eq(gl_events_emit(ev, &ok, "Normal", "GuardletRestored", "m", T0), 0);
    ck_assert_uint_eq(gl_events_in_flight(ev), 1);
    gl_events_free(ev);
    gl_events_free(NULL);
    gl_kube_client_free(client);
    gl_kube_creds_free(cr);
    ev_loop_destroy(loop);
}
END_TEST

/* ---------------------------------------------------------------- the fake server */

typedef struct {
    gl_fakeapi api;
    gl_events *ev;
} fake;

/* Starts the fake over plain HTTP (no admin token) and a recorder for NODE on its client. */
static void fake_start(fake *f) {
    f->ev = NULL;
    gl_fakeapi_opts o = {.name = "events", .token = TOKEN, .admin_token = "events-admin"};
    gl_fakeapi_start(&f->api, &o);
    ck_assert_int_eq(gl_events_new(f->api.client, NODE, &f->ev), 0);
}

/* Frees the recorder, then stops the fake (ended by its PID and reaped). */
static void fake_stop(fake *f) {
    gl_events_free(f->ev);
    f->ev = NULL;
    gl_fakeapi_stop(&f->api);
}

static bool nothing_in_flight(const void *ev) {
    return gl_events_in_flight(ev) == 0;
}

/* Runs the loop until the recorder has nothing in flight (bounded). */
static void settle(fake *f) {
    gl_fakeapi_run(f->api.loop, nothing_in_flight, f->ev, 25);
    ck_assert_uint_eq(gl_events_in_flight(f->ev), 0);
}

/* The events stored in ns (a JSON array, owned). */
static json_t *list_events(fake *f, const char *ns) {
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", ns);
    gl_fakeapi_answer a;
    gl_fakeapi_call(&f->api, f->api.client, "GET", path, NULL, &a);
    ck_assert_msg(a.done && a.status == 200, "list %s: %ld", ns, a.status);
    json_t *doc = json_loads(a.body, 0, NULL);
    free(a.body);
    ck_assert_ptr_nonnull(doc);
    json_t *items = json_incref(json_object_get(doc, "items"));
    json_decref(doc);
    ck_assert(json_is_array(items));
    return items;
}

static const char *str_at(json_t *obj, const char *a, const char *b) {
    json_t *v = json_object_get(obj, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

static json_int_t count_of(json_t *e) {
    return json_integer_value(json_object_get(e, "count"));
}

START_TEST(test_post_listed) {
    if (gl_fakeapi_missing("test_post_listed"))
        return;
    fake f;
    fake_start(&f);
    gl_events_object pod = {"Pod", "kube-system", "web-1", "uid-web-1"};
    ck_assert_int_eq(
        gl_events_emit(f.ev, &pod, "Warning", "GuardletThrottled", "memory.high set to 200Mi", T0),
        0);
    settle(&f);
    json_t *items = list_events(&f, "kube-system");
    ck_assert_uint_eq(json_array_size(items), 1);
    json_t *e = json_array_get(items, 0);
    ck_assert_str_eq(str_at(e, "source", "component"), "guardlet");
    ck_assert_str_eq(str_at(e, "source", "host"), NODE);
    ck_assert_str_eq(str_at(e, "reportingComponent", NULL), "guardlet");
    ck_assert_str_eq(str_at(e, "reportingInstance", NULL), NODE);
    ck_assert_str_eq(str_at(e, "reason", NULL), "GuardletThrottled");
    ck_assert_str_eq(str_at(e, "type", NULL), "Warning");
    ck_assert_str_eq(str_at(e, "message", NULL), "memory.high set to 200Mi");
    ck_assert_str_eq(str_at(e, "involvedObject", "kind"), "Pod");
    ck_assert_str_eq(str_at(e, "involvedObject", "namespace"), "kube-system");
    ck_assert_str_eq(str_at(e, "involvedObject", "name"), "web-1");
    ck_assert_str_eq(str_at(e, "involvedObject", "uid"), "uid-web-1");
    ck_assert_str_eq(str_at(e, "firstTimestamp", NULL), "2026-01-01T00:00:00Z");
    ck_assert_str_eq(str_at(e, "lastTimestamp", NULL), "2026-01-01T00:00:00Z");
    ck_assert_int_eq(strncmp(str_at(e, "metadata", "name"), "web-1.", 6), 0);
    ck_assert_int_eq(count_of(e), 1);
    json_decref(items);
    gl_events_stats st;
    gl_events_get_stats(f.ev, &st);
    ck_assert_uint_eq(st.posts, 1);
    ck_assert_uint_eq(st.failures, 0);
    fake_stop(&f);
}
END_TEST

START_TEST(test_aggregate_and_new_message) {
    if (gl_fakeapi_missing("test_aggregate_and_new_message"))
        return;
    fake f;
    fake_start(&f);
    gl_events_object pod = {"Pod", "default", "web-1", "uid-web-1"};
    /* Two folded into the POST in flight, a third after it is stored: a PATCH. */
    ck_assert_int_eq(gl_events_emit(f.ev, &pod, "Warning", "GuardletFrozen", "frozen", T0), 0);
    ck_assert_int_eq(
        gl_events_emit(f.ev, &pod, "Warning", "GuardletFrozen", "frozen", T0 + 1000000), 0);
    settle(&f);
    ck_assert_int_eq(
        gl_events_emit(f.ev, &pod, "Warning", "GuardletFrozen", "frozen", T0 + 61000000), 0);
    settle(&f);
    ck_assert_int_eq(
        gl_events_emit(f.ev, &pod, "Warning", "GuardletFrozen", "thawed", T0 + 62000000), 0);
    settle(&f);
    json_t *items = list_events(&f, "default");
    ck_assert_uint_eq(json_array_size(items), 2);
    bool seen_frozen = false, seen_thawed = false;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *e = json_array_get(items, i);
        if (strcmp(str_at(e, "message", NULL), "frozen") == 0) {
            seen_frozen = true;
            ck_assert_int_eq(count_of(e), 3);
            ck_assert_str_eq(str_at(e, "firstTimestamp", NULL), "2026-01-01T00:00:00Z");
            ck_assert_str_eq(str_at(e, "lastTimestamp", NULL), "2026-01-01T00:01:01Z");
        } else {
            seen_thawed = true;
            ck_assert_int_eq(count_of(e), 1);
        }
    }
    ck_assert(seen_frozen && seen_thawed);
    json_decref(items);
    gl_events_stats st;
    gl_events_get_stats(f.ev, &st);
    ck_assert_uint_eq(st.emitted, 4);
    ck_assert_uint_eq(st.aggregated, 2);
    ck_assert_uint_eq(st.posts, 2);
    ck_assert_uint_ge(st.patches, 1);
    ck_assert_uint_eq(st.failures, 0);
    /* After the window the same key starts a new Event. */
    ck_assert_int_eq(gl_events_emit(f.ev, &pod, "Warning", "GuardletFrozen", "frozen",
                                    T0 + 61000000 + GL_EVENTS_AGGREGATE_WINDOW_USEC + 1),
                     0);
    settle(&f);
    items = list_events(&f, "default");
    ck_assert_uint_eq(json_array_size(items), 3);
    json_decref(items);
    fake_stop(&f);
}
END_TEST

START_TEST(test_rate_limit) {
    if (gl_fakeapi_missing("test_rate_limit"))
        return;
    fake f;
    fake_start(&f);
    gl_events_object pod = {"Pod", "default", "noisy", "uid-noisy"};
    int ok = 0, dropped = 0;
    for (int i = 0; i < 30; i++) {
        int rc = gl_events_emit(f.ev, &pod, "Warning", "GuardletRunaway", "runaway", T0 + i);
        if (rc == 0)
            ok++;
        else if (rc == -EAGAIN)
            dropped++;
        if (i % 7 == 0)
            settle(&f); /* a mix of folded and PATCHed repeats */
    }
    settle(&f);
    ck_assert_int_eq(ok, 25);
    ck_assert_int_eq(dropped, 5);
    gl_events_stats st;
    gl_events_get_stats(f.ev, &st);
    ck_assert_uint_eq(st.dropped_rate, 5);
    ck_assert_uint_eq(st.failures, 0);
    json_t *items = list_events(&f, "default");
    ck_assert_uint_eq(json_array_size(items), 1);
    ck_assert_int_eq(count_of(json_array_get(items, 0)), 25);
    json_decref(items);
    /* Another object has its own bucket. */
    gl_events_object other = {"Pod", "default", "quiet", "uid-quiet"};
    ck_assert_int_eq(gl_events_emit(f.ev, &other, "Normal", "GuardletRestored", "ok", T0 + 40), 0);
    settle(&f);
    fake_stop(&f);
}
END_TEST

START_TEST(test_node_event_in_default) {
    if (gl_fakeapi_missing("test_node_event_in_default"))
        return;
    fake f;
    fake_start(&f);
    gl_events_object node = {"Node", "kube-system", NODE, NODE}; /* namespace ignored */
    ck_assert_int_eq(gl_events_emit(f.ev, &node, "Warning", "GuardletEvictionBlocked",
                                    "a disruption budget refused", T0),
                     0);
    settle(&f);
    gl_events_stats st;
    gl_events_get_stats(f.ev, &st);
    ck_assert_msg(st.failures == 0, "last_err %d", st.last_err);
    json_t *items = list_events(&f, "default");
    ck_assert_uint_eq(json_array_size(items), 1);
    json_t *e = json_array_get(items, 0);
    ck_assert_str_eq(str_at(e, "involvedObject", "kind"), "Node");
    ck_assert_str_eq(str_at(e, "involvedObject", "name"), NODE);
    ck_assert_ptr_null(json_object_get(json_object_get(e, "involvedObject"), "namespace"));
    ck_assert_str_eq(str_at(e, "source", "component"), "guardlet");
    json_decref(items);
    fake_stop(&f);
}
END_TEST

START_TEST(test_patch_of_deleted_event_posts_again) {
    if (gl_fakeapi_missing("test_patch_of_deleted_event_posts_again"))
        return;
    fake f;
    fake_start(&f);
    gl_events_object pod = {"Pod", "default", "web-1", "uid-web-1"};
    ck_assert_int_eq(gl_events_emit(f.ev, &pod, "Warning", "GuardletKilled", "killed", T0), 0);
    settle(&f);
    json_t *items = list_events(&f, "default");
    ck_assert_uint_eq(json_array_size(items), 1);
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/namespaces/default/events/%s",
             str_at(json_array_get(items, 0), "metadata", "name"));
    json_decref(items);
    gl_fakeapi_answer a;
    gl_fakeapi_call(&f.api, f.api.client, "DELETE", path, NULL, &a);
    ck_assert_int_eq(a.status, 200);
    free(a.body);
    /* The repeat's PATCH gets 404; the Event is created again with the count so far. */
    ck_assert_int_eq(gl_events_emit(f.ev, &pod, "Warning", "GuardletKilled", "killed", T0 + 5), 0);
    settle(&f);
    items = list_events(&f, "default");
    ck_assert_uint_eq(json_array_size(items), 1);
    ck_assert_int_eq(count_of(json_array_get(items, 0)), 2);
    json_decref(items);
    gl_events_stats st;
    gl_events_get_stats(f.ev, &st);
    ck_assert_uint_eq(st.posts, 2);
    ck_assert_uint_eq(st.failures, 0);
    fake_stop(&f);
}
END_TEST

static bool posted(const void *ev) {
    gl_events_stats st;
    gl_events_get_stats(ev, &st);
    return st.posts > 0;
}

START_TEST(test_server_away_event_sent_later) {
    if (gl_fakeapi_missing("test_server_away_event_sent_later"))
        return;
    fake f;
    fake_start(&f);
    /* The API server is away for the first two tries (500s): the event waits and goes out after,
     * with the repeat that came meanwhile folded into its count. */
    gl_fakeapi_admin(&f.api, "POST", "/_fake/faults",
                     "{\"fail\":{\"count\":2,\"code\":500,\"path\":\"/api/v1/namespaces/default/"
                     "events\"}}");
    gl_events_object pod = {"Pod", "default", "web-1", "uid-web-1"};
    ck_assert_int_eq(gl_events_emit(f.ev, &pod, "Warning", "GuardletKilled", "killed", T0), 0);
    settle(&f);
    ck_assert_int_eq(gl_events_emit(f.ev, &pod, "Warning", "GuardletKilled", "killed", T0 + 5), 0);
    gl_fakeapi_run(f.api.loop, posted, f.ev, 30);
    settle(&f);
    json_t *items = list_events(&f, "default");
    ck_assert_uint_eq(json_array_size(items), 1);
    ck_assert_int_eq(count_of(json_array_get(items, 0)), 2);
    json_decref(items);
    gl_events_stats st;
    gl_events_get_stats(f.ev, &st);
    ck_assert_uint_eq(st.failures, 2);
    ck_assert_uint_eq(st.retries, 2);
    ck_assert_uint_eq(st.posts, 1);
    ck_assert_uint_eq(st.dropped_retry, 0);
    fake_stop(&f);
}
END_TEST

static Suite *kube_events_suite(void) {
    Suite *s = suite_create("kube_events");
    TCase *pure = tcase_create("pure");
    tcase_set_timeout(pure, 60);
    tcase_add_test(pure, test_bucket_burst_refill);
    tcase_add_test(pure, test_keys);
    tcase_add_test(pure, test_cache_lru);
    tcase_add_test(pure, test_emit_invalid);
    suite_add_tcase(s, pure);
    TCase *tc = tcase_create("fakeapi");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_post_listed);
    tcase_add_test(tc, test_aggregate_and_new_message);
    tcase_add_test(tc, test_rate_limit);
    tcase_add_test(tc, test_node_event_in_default);
    tcase_add_test(tc, test_patch_of_deleted_event_posts_again);
    tcase_add_test(tc, test_server_away_event_sent_later);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(kube_events_suite)
