/* test_kube_client.c: Check suite for the libcurl+libev API client and the pod watch, against the
 * fake API server (tests/fakeapi) run as a subprocess on 127.0.0.1. */
#include "guardlet/kube.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeapi_proc.h"
#include "testutil.h"

#define TOKEN       "test-token-1"
#define ADMIN_TOKEN "test-admin-1"

/* ---------------------------------------------------------------- the fake server */

typedef gl_fakeapi fake;
typedef gl_fakeapi_answer answer;

static char *pod_json(const char *name, const char *uid, const char *node, const char *label) {
    char *s = NULL;
    ck_assert_int_ge(
        asprintf(&s,
                 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                 "\"namespace\":\"default\",\"uid\":\"%s\",\"labels\":{\"v\":\"%s\"}},"
                 "\"spec\":{\"nodeName\":\"%s\",\"priority\":0,\"containers\":[{\"name\":\"app\","
                 "\"image\":\"x\",\"resources\":{\"requests\":{\"memory\":\"64Mi\",\"cpu\":"
                 "\"100m\"}}}]},\"status\":{\"phase\":\"Running\",\"qosClass\":\"Burstable\"}}",
                 name, uid, label, node),
        0);
    return s;
}

/* Starts the fake (plain HTTP unless tls) with two pods on node-a and one on node-b. */
static void fake_start(fake *f, bool tls) {
    char *a = pod_json("web-1", "uid-web-1", "node-a", "1");
    char *b = pod_json("web-2", "uid-web-2", "node-a", "1");
    char *c = pod_json("other", "uid-other", "node-b", "1");
    char *all = NULL;
    ck_assert_int_ge(asprintf(&all, "[%s,%s,%s]", a, b, c), 0);
    free(a);
    free(b);
    free(c);
    gl_fakeapi_opts o = {.name = "kube",
                         .tls = tls,
                         .token = TOKEN,
                         .admin_token = ADMIN_TOKEN,
                         .seed = all,
                         .bookmark_interval = "0.5"};
    gl_fakeapi_start(f, &o);
    free(all);
}

/* ---------------------------------------------------------------- plain requests */

static bool reload_calls_ok(gl_kube_client *c, void *userdata) {
    gl_kube_creds *cr = userdata;
    (void)c;
    /* What gl_kube_creds_reload_token() would do after the token file rotated. */
    free(cr->token);
    cr->token = strdup(TOKEN);
    return true;
}

START_TEST(test_get_post_404_401) {
    if (gl_fakeapi_missing("test_get_post_404_401"))
        return;
    fake f;
    fake_start(&f, false);
    answer a;
    gl_fakeapi_call(&f, f.client, "GET", "/api/v1/namespaces/default/pods/web-1", NULL, &a);
    ck_assert_int_eq(a.err, 0);
    ck_assert_int_eq(a.status, 200);
    ck_assert_ptr_nonnull(strstr(a.body, "uid-web-1"));
    gl_fakeapi_answer_clear(&a);

    char *pod = pod_json("made", "uid-made", "node-a", "1");
    gl_fakeapi_call(&f, f.client, "POST", "/api/v1/namespaces/default/pods", pod, &a);
    free(pod);
    ck_assert_int_eq(a.status, 201);
    ck_assert_ptr_nonnull(strstr(a.body, "uid-made"));
    gl_fakeapi_answer_clear(&a);

    gl_fakeapi_call(
        &f, f.client, "POST", "/api/v1/namespaces/default/pods/made/eviction",
        "{\"apiVersion\":\"policy/v1\",\"kind\":\"Eviction\",\"metadata\":{\"name\":\"made\","
        "\"namespace\":\"default\"},\"deleteOptions\":{\"preconditions\":{\"uid\":"
        "\"uid-made\"}}}",
        &a);
    ck_assert_int_eq(a.status, 201);
    gl_fakeapi_answer_clear(&a);

    gl_fakeapi_call(&f, f.client, "GET", "/api/v1/namespaces/default/pods/made", NULL, &a);
    ck_assert_int_eq(a.err, 0);
    ck_assert_int_eq(a.status, 404);
    ck_assert_ptr_nonnull(strstr(a.body, "NotFound"));
    gl_fakeapi_answer_clear(&a);

    gl_fakeapi_call(&f, f.client, "PATCH", "/api/v1/nodes/node-a", NULL, &a);
    ck_assert_int_eq(a.status, 415);
    gl_fakeapi_answer_clear(&a);

    /* A stale token: 401 without the hook, then answered after one reload with it. */
    free(f.creds->token);
    f.creds->token = strdup("stale");
    gl_fakeapi_call(&f, f.client, "GET", "/api/v1/namespaces/default/pods/web-1", NULL, &a);
    ck_assert_int_eq(a.status, 401);
    gl_fakeapi_answer_clear(&a);
    gl_kube_client_set_unauthorized_cb(f.client, reload_calls_ok, f.creds);
    gl_fakeapi_call(&f, f.client, "GET", "/api/v1/namespaces/default/pods/web-1", NULL, &a);
    ck_assert_int_eq(a.status, 200);
    gl_fakeapi_answer_clear(&a);
    ck_assert_uint_eq(gl_kube_client_active(f.client), 0);
    gl_fakeapi_stop(&f);
}
END_TEST

typedef struct {
    gl_kube_creds *creds;
    int calls;
    int last;
} reloader;

/* The owner's side of a 401, as the daemon does it: re-read the token file. */
static bool reload_token_file(gl_kube_client *c, void *userdata) {
    reloader *rl = userdata;
    char err[GL_KUBE_ERR_SIZE] = "";
    (void)c;
    rl->calls++;
    rl->last = gl_kube_creds_reload_token(rl->creds, err, sizeof(err));
    return rl->last > 0;
}

START_TEST(test_token_rotation) {
    if (gl_fakeapi_missing("test_token_rotation"))
        return;
    fake f;
    fake_start(&f, false);
    /* A kubeconfig whose user reads the fake's token file, which rotate-token rewrites. */
    char kc[512], *text = NULL, err[GL_KUBE_ERR_SIZE] = "";
    snprintf(kc, sizeof(kc), "%s/tokenfile.kubeconfig", f.dir);
    ck_assert_int_ge(asprintf(&text,
                              "apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster:\n"
                              "    server: http://127.0.0.1:%d\nusers:\n- name: u\n  user:\n"
                              "    tokenFile: %s/token\ncontexts:\n- name: c\n  context:\n"
                              "    cluster: f\n    user: u\ncurrent-context: c\n",
                              f.port, f.dir),
                     0);
    gl_fakeapi_write_file(kc, text);
    free(text);
    gl_kube_creds *cr = NULL;
    ck_assert_msg(gl_kubeconfig_load(kc, NULL, &cr, err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(cr->token, TOKEN);
    gl_kube_client *c = NULL;
    ck_assert_int_eq(gl_kube_client_new(f.loop, cr, &c), 0);
    reloader rl = {.creds = cr};
    gl_kube_client_set_unauthorized_cb(c, reload_token_file, &rl);
    answer a;
    gl_fakeapi_call(&f, c, "GET", "/api/v1/nodes/node-a", NULL, &a);
    ck_assert_int_eq(a.status, 200);
    gl_fakeapi_answer_clear(&a);
    ck_assert_int_eq(rl.calls, 0);

    gl_fakeapi_admin(&f, "POST", "/_fake/rotate-token", "{\"token\":\"rotated-token-2\"}");
    gl_fakeapi_call(&f, c, "GET", "/api/v1/nodes/node-a", NULL, &a);
    ck_assert_int_eq(a.status, 200);
    gl_fakeapi_answer_clear(&a);
    ck_assert_int_eq(rl.calls, 1);
    ck_assert_int_eq(rl.last, 1);
    ck_assert_str_eq(cr->token, "rotated-token-2");

    /* The same token once more: the reload finds nothing new, so the 401 is delivered, once. */
    gl_fakeapi_admin(&f, "POST", "/_fake/rotate-token", "{\"token\":\"rotated-token-3\"}");
    char tokpath[512];
    snprintf(tokpath, sizeof(tokpath), "%s/token", f.dir);
    gl_fakeapi_write_file(tokpath, "rotated-token-2\n");
    gl_fakeapi_call(&f, c, "GET", "/api/v1/nodes/node-a", NULL, &a);
    ck_assert_int_eq(a.status, 401);
    gl_fakeapi_answer_clear(&a);
    ck_assert_int_eq(rl.calls, 2);
    ck_assert_int_eq(rl.last, 0);
    gl_kube_client_free(c);
    gl_kube_creds_free(cr);
    gl_fakeapi_stop(&f);
}
END_TEST

typedef struct {
    int ticks;
} ticker;

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)revents;
    ((ticker *)w->data)->ticks++;
}

START_TEST(test_slow_answer_does_not_block) {
    if (gl_fakeapi_missing("test_slow_answer_does_not_block"))
        return;
    fake f;
    fake_start(&f, false);
    gl_fakeapi_admin(
        &f, "POST", "/_fake/faults",
        "{\"delay\":{\"seconds\":2,\"path\":\"/api/v1/namespaces/default/pods/web-2\"}}");
    ticker t = {0};
    ev_timer tick;
    ev_timer_init(&tick, on_tick, 0.1, 0.1);
    tick.data = &t;
    ev_timer_start(f.loop, &tick);
    answer a = {0};
    double t0 = gl_fakeapi_now();
    ck_assert_int_eq(gl_kube_request(f.client, "GET", "/api/v1/namespaces/default/pods/web-2", NULL,
                                     NULL, 0, 10000, gl_fakeapi_on_answer, &a, NULL),
                     0);
    /* Nothing is answered from inside gl_kube_request(). */
    ck_assert(!a.done);
    while (!a.done && gl_fakeapi_now() - t0 < 10)
        ev_run(f.loop, EVRUN_ONCE);
    double took = gl_fakeapi_now() - t0;
    ev_timer_stop(f.loop, &tick);
    ck_assert(a.done);
    ck_assert_int_eq(a.status, 200);
    ck_assert_msg(took >= 1.9, "answered after %.2f s despite the 2 s delay", took);
    /* 2 s at 100 ms is 20 ticks; allow for scheduling noise (valgrind) but not for a block. */
    ck_assert_msg(t.ticks >= 14, "only %d ticks in %.2f s: the loop was blocked", t.ticks, took);
    gl_fakeapi_answer_clear(&a);
    gl_fakeapi_stop(&f);
}
END_TEST

START_TEST(test_timeout_and_refused) {
    if (gl_fakeapi_missing("test_timeout_and_refused"))
        return;
    fake f;
    fake_start(&f, false);
    gl_fakeapi_admin(&f, "POST", "/_fake/faults",
                     "{\"delay\":{\"seconds\":3,\"path\":\"/api/v1/nodes\"}}");
    answer a = {0};
    /* 300 ms: curl's sub-second timer must not be truncated to 0 or to 1 s. */
    double t0 = gl_fakeapi_now();
    ck_assert_int_eq(gl_kube_request(f.client, "GET", "/api/v1/nodes", NULL, NULL, 0, 300,
                                     gl_fakeapi_on_answer, &a, NULL),
                     0);
    ck_assert(gl_fakeapi_run_until(f.loop, &a.done, 5));
    ck_assert_int_eq(a.err, -ETIMEDOUT);
    ck_assert_int_eq(a.status, 0);
    ck_assert_msg(gl_fakeapi_now() - t0 < 1.5, "timeout took %.2f s", gl_fakeapi_now() - t0);
    gl_fakeapi_answer_clear(&a);

    /* A cancelled request never calls back. */
    gl_kube_req *r = NULL;
    ck_assert_int_eq(gl_kube_request(f.client, "GET", "/api/v1/nodes", NULL, NULL, 0, 0,
                                     gl_fakeapi_on_answer, &a, &r),
                     0);
    bool never = false;
    gl_fakeapi_run_until(f.loop, &never, 0.3);
    gl_kube_cancel(r);
    gl_fakeapi_run_until(f.loop, &never, 0.2);
    ck_assert(!a.done);
    ck_assert_uint_eq(gl_kube_client_active(f.client), 0);

    gl_fakeapi_admin(&f, "POST", "/_fake/down", "{\"seconds\":30}");
    usleep(300000);
    gl_fakeapi_call(&f, f.client, "GET", "/api/v1/nodes/node-a", NULL, &a);
    ck_assert_msg(a.err == -ECONNREFUSED, "err %d (%s)", a.err, a.errmsg);
    ck_assert(a.errmsg[0] != '\0');
    gl_fakeapi_answer_clear(&a);
    gl_fakeapi_stop(&f);
}
END_TEST

/* ---------------------------------------------------------------- streams and the pod watch */

typedef struct {
    int added, updated, deleted, synced;
    char last[64];
} changes;

static void on_change(gl_kube_podwatch *w, gl_kube_pod_change change, const gl_kube_pod *pod,
                      void *userdata) {
    changes *c = userdata;
    (void)w;
    switch (change) {
    case GL_KUBE_POD_ADDED:
        c->added++;
        break;
    case GL_KUBE_POD_UPDATED:
        c->updated++;
        break;
    case GL_KUBE_POD_DELETED:
        c->deleted++;
        break;
    case GL_KUBE_POD_SYNCED:
        c->synced++;
        break;
    }
    if (pod)
        snprintf(c->last, sizeof(c->last), "%s", pod->name);
}

/* Runs the loop until pred holds (bounded). */
typedef bool (*pred_fn)(gl_kube_podwatch *w, const changes *c, const void *arg);

typedef struct {
    gl_kube_podwatch *w;
    const changes *c;
    pred_fn pred;
    const void *arg;
} wait_ctx;

static bool wait_ctx_holds(const void *ctx) {
    const wait_ctx *x = ctx;
    return x->pred(x->w, x->c, x->arg);
}

static bool wait_for(fake *f, gl_kube_podwatch *w, const changes *c, pred_fn pred, const void *arg,
                     double seconds) {
    wait_ctx x = {w, c, pred, arg};
    /* Only the upper bound grows under a slow runner (valgrind): the wait still ends as soon as
     * the condition holds, so nothing here asserts a duration. */
    const char *slow = getenv("GUARDLET_TEST_SLOW");
    double factor = slow ? atof(slow) : 1.0;
    return gl_fakeapi_run(f->loop, wait_ctx_holds, &x, seconds * (factor >= 1.0 ? factor : 1.0));
}

static void break_loop(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

static bool has_pod(gl_kube_podwatch *w, const changes *c, const void *uid) {
    (void)c;
    return gl_kube_podwatch_find(w, uid) != NULL;
}

static bool lacks_pod(gl_kube_podwatch *w, const changes *c, const void *uid) {
    (void)c;
    return gl_kube_podwatch_find(w, uid) == NULL;
}

static bool synced_n(gl_kube_podwatch *w, const changes *c, const void *n) {
    (void)w;
    return c->synced >= *(const int *)n;
}

static bool watches_n(gl_kube_podwatch *w, const changes *c, const void *n) {
    gl_kube_podwatch_stats st;
    (void)c;
    gl_kube_podwatch_get_stats(w, &st);
    return st.watches >= (uint64_t) * (const int *)n;
}

static bool label_is(gl_kube_podwatch *w, const changes *c, const void *want) {
    (void)c;
    const gl_kube_pod *p = gl_kube_podwatch_find(w, "uid-new");
    return p && p->resource_version && strcmp(p->resource_version, want) != 0;
}

static gl_kube_podwatch *watch_start(fake *f, changes *c) {
    gl_kube_podwatch *w = NULL;
    memset(c, 0, sizeof(*c));
    ck_assert_int_eq(gl_kube_podwatch_new(f->client, "node-a", on_change, c, &w), 0);
    ck_assert_int_eq(gl_kube_podwatch_start(w), 0);
    int one = 1;
    ck_assert_msg(wait_for(f, w, c, synced_n, &one, 15), "no list");
    ck_assert_msg(wait_for(f, w, c, watches_n, &one, 15), "no watch");
    ck_assert_uint_eq(gl_kube_podwatch_count(w), 2);
    ck_assert_ptr_nonnull(gl_kube_podwatch_find(w, "uid-web-1"));
    ck_assert_ptr_null(gl_kube_podwatch_find(w, "uid-other"));
    ck_assert_int_eq(c->added, 2);
    return w;
}

static void add_pod(fake *f, const char *name, const char *uid, const char *label) {
    char *p = pod_json(name, uid, "node-a", label);
    gl_fakeapi_admin(f, "POST", "/_fake/objects", p);
    free(p);
}

START_TEST(test_watch_added_modified_deleted) {
    if (gl_fakeapi_missing("test_watch_added_modified_deleted"))
        return;
    fake f;
    changes c;
    fake_start(&f, false);
    gl_kube_podwatch *w = watch_start(&f, &c);
    add_pod(&f, "new", "uid-new", "1");
    ck_assert(wait_for(&f, w, &c, has_pod, "uid-new", 10));
    ck_assert_int_eq(c.added, 3);
    char rv[64];
    snprintf(rv, sizeof(rv), "%s", gl_kube_podwatch_find(w, "uid-new")->resource_version);
    add_pod(&f, "new", "uid-new", "2");
    ck_assert(wait_for(&f, w, &c, label_is, rv, 10));
    ck_assert_int_ge(c.updated, 1);
    gl_fakeapi_admin(&f, "DELETE", "/_fake/objects/pods/default/new", NULL);
    ck_assert(wait_for(&f, w, &c, lacks_pod, "uid-new", 10));
    ck_assert_int_eq(c.deleted, 1);
    ck_assert_str_eq(c.last, "new");
    /* A pod on another node never shows up. */
    char *other = pod_json("far", "uid-far", "node-b", "1");
    gl_fakeapi_admin(&f, "POST", "/_fake/objects", other);
    free(other);
    add_pod(&f, "late", "uid-late", "1");
    ck_assert(wait_for(&f, w, &c, has_pod, "uid-late", 10));
    ck_assert_ptr_null(gl_kube_podwatch_find(w, "uid-far"));

    /* Bookmarks move the resourceVersion without events (every 0.5 s here). The loop runs with
     * nothing else to do for 2 s: a handful of wakeups, not a spin (an integer-divided curl
     * timeout of 0 s would give tens of thousands). */
    gl_kube_podwatch_stats st;
    ev_timer stop;
    ev_timer_init(&stop, break_loop, 2.0, 0.);
    ev_timer_start(f.loop, &stop);
    unsigned before = ev_iteration(f.loop);
    ev_run(f.loop, 0);
    unsigned wakeups = ev_iteration(f.loop) - before;
    ck_assert_msg(wakeups < 200, "%u loop iterations in 2 s of idle watching", wakeups);
    gl_kube_podwatch_get_stats(w, &st);
    ck_assert_uint_ge(st.bookmarks, 1);
    ck_assert_uint_eq(st.malformed, 0);
    ck_assert_uint_eq(st.lists, 1);
    gl_kube_podwatch_free(w);
    gl_fakeapi_stop(&f);
}
END_TEST

START_TEST(test_malformed_list_retried) {
    if (gl_fakeapi_missing("test_malformed_list_retried"))
        return;
    fake f;
    changes c;
    fake_start(&f, false);
    /* The first list answer is cut in half: counted, retried after a short backoff. */
    gl_fakeapi_admin(&f, "POST", "/_fake/faults", "{\"malformed_list\":1}");
    gl_kube_podwatch *w = watch_start(&f, &c);
    gl_kube_podwatch_stats st;
    gl_kube_podwatch_get_stats(w, &st);
    ck_assert_uint_eq(st.list_failures, 1);
    ck_assert_int_eq(st.last_err, -EBADMSG);
    ck_assert_uint_eq(st.lists, 1);
    ck_assert(st.synced);
    ck_assert_int_eq(c.synced, 1);
    gl_kube_podwatch_free(w);
    gl_fakeapi_stop(&f);
}
END_TEST

START_TEST(test_watch_cut_reconnects) {
    if (gl_fakeapi_missing("test_watch_cut_reconnects"))
        return;
    fake f;
    changes c;
    fake_start(&f, false);
    gl_kube_podwatch *w = watch_start(&f, &c);
    gl_fakeapi_admin(&f, "POST", "/_fake/faults", "{\"cut_watches\":0}");
    int two = 2;
    ck_assert_msg(wait_for(&f, w, &c, watches_n, &two, 10), "no second watch");
    add_pod(&f, "after-cut", "uid-after-cut", "1");
    ck_assert(wait_for(&f, w, &c, has_pod, "uid-after-cut", 10));
    gl_kube_podwatch_stats st;
    gl_kube_podwatch_get_stats(w, &st);
    ck_assert_uint_ge(st.reconnects, 1);
    /* Resumed from the resourceVersion: no re-list was needed. */
    ck_assert_uint_eq(st.lists, 1);

    /* A truncated event is skipped and counted; the next one still arrives. */
    gl_fakeapi_admin(&f, "POST", "/_fake/faults", "{\"malformed_watch\":1}");
    add_pod(&f, "garbled", "uid-garbled", "1");
    add_pod(&f, "fine", "uid-fine", "1");
    ck_assert(wait_for(&f, w, &c, has_pod, "uid-fine", 10));
    gl_kube_podwatch_get_stats(w, &st);
    ck_assert_uint_eq(st.malformed, 1);
    gl_kube_podwatch_free(w);
    gl_fakeapi_stop(&f);
}
END_TEST

START_TEST(test_watch_410_relists) {
    if (gl_fakeapi_missing("test_watch_410_relists"))
        return;
    fake f;
    changes c;
    fake_start(&f, false);
    gl_kube_podwatch *w = watch_start(&f, &c);
    /* A change made while no watch is open, then a cut: the next watch gets 410 and the re-list
     * brings the change in. */
    gl_fakeapi_admin(&f, "POST", "/_fake/faults", "{\"expire_next_watch\":1}");
    gl_fakeapi_admin(&f, "POST", "/_fake/faults", "{\"cut_watches\":0}");
    int two = 2;
    ck_assert_msg(wait_for(&f, w, &c, synced_n, &two, 15), "no re-list");
    gl_kube_podwatch_stats st;
    gl_kube_podwatch_get_stats(w, &st);
    ck_assert_uint_ge(st.expired, 1);
    ck_assert_uint_eq(st.lists, 2);
    ck_assert_uint_eq(gl_kube_podwatch_count(w), 2);
    /* The re-list found nothing new: no spurious ADDED. */
    ck_assert_int_eq(c.added, 2);

    /* A pod deleted while the watch is broken: the stream is cut before it can carry the
     * DELETED, the next watch gets 410, and the re-list, replacing the cache wholesale, reports
     * the pod gone. (Whichever way the race goes, the cache must end up right.) */
    gl_fakeapi_admin(&f, "POST", "/_fake/faults", "{\"expire_next_watch\":1,\"cut_watches\":0}");
    gl_fakeapi_admin(&f, "DELETE", "/_fake/objects/pods/default/web-2", NULL);
    ck_assert(wait_for(&f, w, &c, lacks_pod, "uid-web-2", 15));
    int three = 3;
    ck_assert_msg(wait_for(&f, w, &c, synced_n, &three, 15), "no second re-list");
    ck_assert_int_eq(c.deleted, 1);
    ck_assert_uint_eq(gl_kube_podwatch_count(w), 1);
    add_pod(&f, "post", "uid-post", "1");
    ck_assert(wait_for(&f, w, &c, has_pod, "uid-post", 10));
    gl_kube_podwatch_free(w);
    gl_fakeapi_stop(&f);
}
END_TEST

START_TEST(test_server_down_then_up) {
    if (gl_fakeapi_missing("test_server_down_then_up"))
        return;
    fake f;
    changes c;
    fake_start(&f, false);
    gl_kube_podwatch *w = watch_start(&f, &c);
    gl_fakeapi_admin(&f, "POST", "/_fake/down", "{\"seconds\":2}");
    /* While it is down, connections are refused and the watch backs off. */
    bool never = false;
    gl_fakeapi_run_until(f.loop, &never, 1.0);
    gl_kube_podwatch_stats st;
    gl_kube_podwatch_get_stats(w, &st);
    ck_assert_uint_ge(st.reconnects, 1);
    /* Once it is back, the admin call goes through and the watch sees the new pod. */
    double deadline = gl_fakeapi_now() + 15;
    for (;;) {
        answer a;
        char *p = pod_json("back", "uid-back", "node-a", "1");
        gl_fakeapi_call(&f, f.admin, "POST", "/_fake/objects", p, &a);
        free(p);
        bool ok = a.err == 0 && a.status == 200;
        gl_fakeapi_answer_clear(&a);
        if (ok)
            break;
        ck_assert_msg(gl_fakeapi_now() < deadline, "fake server never came back");
        gl_fakeapi_run_until(f.loop, &never, 0.2);
    }
    /* Backoff is capped and jittered; by now it is at most a few seconds. */
    ck_assert(wait_for(&f, w, &c, has_pod, "uid-back", 20));
    gl_kube_podwatch_free(w);
    gl_fakeapi_stop(&f);
}
END_TEST

/* A raw stream: lines arrive whole, and a line callback may stop the stream. */
typedef struct {
    int lines;
    bool saw_added;
    answer end;
} stream_state;

static int on_line_stop_after_3(const char *line, size_t len, void *userdata) {
    stream_state *s = userdata;
    ck_assert_uint_eq(strlen(line), len);
    ck_assert(line[0] == '{' && line[len - 1] == '}');
    if (strstr(line, "\"ADDED\""))
        s->saw_added = true;
    return ++s->lines >= 3;
}

static void on_stream_done(long status, const char *body, size_t len, int err, const char *errmsg,
                           void *userdata) {
    gl_fakeapi_on_answer(status, body, len, err, errmsg, &((stream_state *)userdata)->end);
}

START_TEST(test_raw_stream) {
    if (gl_fakeapi_missing("test_raw_stream"))
        return;
    fake f;
    fake_start(&f, false);
    stream_state s = {0}, bad = {0};
    ck_assert_int_eq(gl_kube_stream(f.client,
                                    "/api/v1/pods?watch=1&allowWatchBookmarks=true"
                                    "&timeoutSeconds=30",
                                    10000, on_line_stop_after_3, on_stream_done, &s, NULL),
                     0);
    ck_assert_int_eq(gl_kube_stream(f.client, "/api/v1/pods?watch=1&resourceVersion=abc", 10000,
                                    on_line_stop_after_3, on_stream_done, &bad, NULL),
                     0);
    /* A non-2xx answer to a stream is given whole to on_done, never as lines. */
    ck_assert(gl_fakeapi_run_until(f.loop, &bad.end.done, 10));
    ck_assert_int_eq(bad.end.status, 400);
    ck_assert_ptr_nonnull(strstr(bad.end.body, "invalid resource version"));
    ck_assert_int_eq(bad.lines, 0);
    gl_fakeapi_answer_clear(&bad.end);
    ck_assert(gl_fakeapi_run_until(f.loop, &s.end.done, 10));
    ck_assert_int_eq(s.end.err, -ECANCELED);
    ck_assert_int_eq(s.lines, 3);
    ck_assert(s.saw_added);
    gl_fakeapi_answer_clear(&s.end);
    gl_fakeapi_stop(&f);
}
END_TEST

static int on_line_count(const char *line, size_t len, void *userdata) {
    (void)line;
    (void)len;
    ((stream_state *)userdata)->lines++;
    return 0;
}

START_TEST(test_line_cap) {
    if (gl_fakeapi_missing("test_line_cap"))
        return;
    fake f;
    fake_start(&f, false);
    /* A pod whose JSON is over GL_KUBE_LINE_MAX_BYTES: fetched whole it is fine (under the body
     * cap), as one watch line it is refused instead of growing the buffer without end. */
    size_t big = GL_KUBE_LINE_MAX_BYTES + 1024;
    char *pad = malloc(big + 1);
    ck_assert_ptr_nonnull(pad);
    memset(pad, 'x', big);
    pad[big] = '\0';
    char *pod = NULL;
    ck_assert_int_ge(asprintf(&pod,
                              "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
                              "\"huge\",\"namespace\":\"default\",\"uid\":\"uid-huge\","
                              "\"annotations\":{\"pad\":\"%s\"}},\"spec\":{\"nodeName\":"
                              "\"node-a\",\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]}}",
                              pad),
                     0);
    free(pad);
    gl_fakeapi_admin(&f, "POST", "/_fake/objects", pod);
    free(pod);
    answer a;
    gl_fakeapi_call(&f, f.client, "GET", "/api/v1/namespaces/default/pods/huge", NULL, &a);
    ck_assert_int_eq(a.status, 200);
    ck_assert_uint_gt(strlen(a.body), GL_KUBE_LINE_MAX_BYTES);
    gl_fakeapi_answer_clear(&a);
    stream_state s = {0};
    ck_assert_int_eq(gl_kube_stream(f.client, "/api/v1/pods?watch=1&timeoutSeconds=20", 20000,
                                    on_line_count, on_stream_done, &s, NULL),
                     0);
    ck_assert(gl_fakeapi_run_until(f.loop, &s.end.done, 20));
    ck_assert_int_eq(s.end.err, -EMSGSIZE);
    gl_fakeapi_answer_clear(&s.end);
    gl_fakeapi_stop(&f);
}
END_TEST

/* ---------------------------------------------------------------- TLS */

START_TEST(test_tls) {
    if (gl_fakeapi_missing("test_tls"))
        return;
    if (!gl_fakeapi_on_path("openssl")) {
        printf("SKIP test_tls: openssl not found (the fake API server makes its CA with it)\n");
        return;
    }
    fake f;
    fake_start(&f, true);
    answer a;
    /* Token over TLS, CA from the kubeconfig's certificate-authority-data. */
    gl_fakeapi_call(&f, f.client, "GET", "/api/v1/namespaces/default/pods/web-1", NULL, &a);
    ck_assert_msg(a.err == 0 && a.status == 200, "%ld %d %s", a.status, a.err, a.errmsg);
    gl_fakeapi_answer_clear(&a);

    /* Client certificate (context fake-cert), no token. */
    char kc[512], err[GL_KUBE_ERR_SIZE] = "";
    snprintf(kc, sizeof(kc), "%s/kubeconfig", f.dir);
    gl_kube_creds *cert = NULL;
    ck_assert_msg(gl_kubeconfig_load(kc, "fake-cert", &cert, err, sizeof(err)) == 0, "%s", err);
    ck_assert_ptr_null(cert->token);
    gl_kube_client *cc = NULL;
    ck_assert_int_eq(gl_kube_client_new(f.loop, cert, &cc), 0);
    gl_fakeapi_call(&f, cc, "GET", "/api/v1/namespaces/default/pods/web-1", NULL, &a);
    ck_assert_msg(a.err == 0 && a.status == 200, "%ld %d %s", a.status, a.err, a.errmsg);
    gl_fakeapi_answer_clear(&a);
    gl_kube_client_free(cc);

    /* tls-server-name: connect to 127.0.0.1, verify the certificate as "localhost" (in its SANs)
     * and then as a name it does not carry. */
    free(cert->tls_server_name);
    cert->tls_server_name = strdup("localhost");
    ck_assert_int_eq(gl_kube_client_new(f.loop, cert, &cc), 0);
    gl_fakeapi_call(&f, cc, "GET", "/api/v1/namespaces/default/pods/web-1", NULL, &a);
    ck_assert_msg(a.err == 0 && a.status == 200, "%ld %d %s", a.status, a.err, a.errmsg);
    gl_fakeapi_answer_clear(&a);
    gl_kube_client_free(cc);
    free(cert->tls_server_name);
    cert->tls_server_name = strdup("wrong.example");
    ck_assert_int_eq(gl_kube_client_new(f.loop, cert, &cc), 0);
    gl_fakeapi_call(&f, cc, "GET", "/api/v1/namespaces/default/pods/web-1", NULL, &a);
    ck_assert_msg(a.err == -EKEYREJECTED || a.err == -EPROTO, "%ld %d %s", a.status, a.err,
                  a.errmsg);
    gl_fakeapi_answer_clear(&a);
    gl_kube_client_free(cc);

    /* Without the CA, the test CA is not trusted. */
    free(cert->tls_server_name);
    cert->tls_server_name = NULL;
    free(cert->ca_pem);
    cert->ca_pem = NULL;
    cert->ca_pem_len = 0;
    ck_assert_int_eq(gl_kube_client_new(f.loop, cert, &cc), 0);
    gl_fakeapi_call(&f, cc, "GET", "/api/v1/namespaces/default/pods/web-1", NULL, &a);
    ck_assert_msg(a.err == -EKEYREJECTED || a.err == -EPROTO, "%ld %d %s", a.status, a.err,
                  a.errmsg);
    gl_fakeapi_answer_clear(&a);
    gl_kube_client_free(cc);
    /* ... unless verification is off. */
    cert->insecure_skip_tls_verify = true;
    ck_assert_int_eq(gl_kube_client_new(f.loop, cert, &cc), 0);
    gl_fakeapi_call(&f, cc, "GET", "/api/v1/namespaces/default/pods/web-1", NULL, &a);
    ck_assert_msg(a.err == 0 && a.status == 200, "%ld %d %s", a.status, a.err, a.errmsg);
    gl_fakeapi_answer_clear(&a);
    gl_kube_client_free(cc);
    gl_kube_creds_free(cert);
    gl_fakeapi_stop(&f);
}
END_TEST

static Suite *kube_client_suite(void) {
    Suite *s = suite_create("kube_client");
    TCase *tc = tcase_create("fakeapi");
    /* Each test starts its own server; valgrind slows everything several times over. */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_get_post_404_401);
    tcase_add_test(tc, test_token_rotation);
    tcase_add_test(tc, test_slow_answer_does_not_block);
    tcase_add_test(tc, test_timeout_and_refused);
    tcase_add_test(tc, test_raw_stream);
    tcase_add_test(tc, test_watch_added_modified_deleted);
    tcase_add_test(tc, test_malformed_list_retried);
    tcase_add_test(tc, test_watch_cut_reconnects);
    tcase_add_test(tc, test_watch_410_relists);
    tcase_add_test(tc, test_server_down_then_up);
    tcase_add_test(tc, test_line_cap);
    tcase_add_test(tc, test_tls);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(kube_client_suite)
