/* test_kube_evict.c: Check suite for gl_evictor against the fake API server (tests/fakeapi) run as
 * a subprocess on 127.0.0.1: each answer of the eviction subresource and the per-pod backoff. */
#include "guardlet/evict.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guardlet/node.h"
#include "testutil.h"

#define TOKEN       "evict-token-1"
#define ADMIN_TOKEN "evict-admin-1"
#define SEC         1000000ull

/* ---------------------------------------------------------------- the fake server */

typedef struct {
    pid_t pid;
    char dir[256];
    int port;
    gl_kube_creds *creds;
    gl_kube_creds *admin_creds;
    struct ev_loop *loop;
    gl_kube_client *client;
    gl_kube_client *admin;
    gl_evictor *ev;
} fake;

static double now_sec(void) {
    return (double)gl_now_usec() / 1e6;
}

static bool on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path)
        return false;
    char *copy = strdup(path), *save = NULL;
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char full[4096];
        snprintf(full, sizeof(full), "%s/%s", d, prog);
        found = access(full, X_OK) == 0;
    }
    free(copy);
    return found;
}

static bool python_missing(const char *test) {
    if (on_path("python3"))
        return false;
    printf("SKIP %s: python3 not found on PATH (the fake API server needs it)\n", test);
    return true;
}

/* The script is found from this file's path, so the test runs from any working folder. */
static void fakeapi_path(char *buf, size_t size) {
    const char *slash = strrchr(__FILE__, '/');
    int dir_len = slash ? (int)(slash - __FILE__) : 1;
    ck_assert_int_lt(
        snprintf(buf, size, "%.*s/../fakeapi/fakeapi.py", dir_len, slash ? __FILE__ : "."),
        (int)size);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

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

static gl_kube_creds *plain_creds(int port, const char *token) {
    gl_kube_creds *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    ck_assert_int_ge(asprintf(&c->server, "http://127.0.0.1:%d", port), 0);
    c->source = strdup("test");
    c->token = strdup(token);
    return c;
}

/* Starts the fake over plain HTTP (TLS is the client's business, tested in test_kube_client) with
 * pods web-1, web-2 (app=web) and db-1 (app=db). */
static void fake_start(fake *f) {
    memset(f, 0, sizeof(*f));
    gl_test_tmpdir(f->dir, sizeof(f->dir), "evict");
    char seed[512], portfile[512], script[4096], log[512];
    snprintf(seed, sizeof(seed), "%s/pods.json", f->dir);
    snprintf(portfile, sizeof(portfile), "%s/port", f->dir);
    snprintf(log, sizeof(log), "%s/fakeapi.log", f->dir);
    fakeapi_path(script, sizeof(script));
    char *a = pod_json("web-1", "uid-web-1", "web");
    char *b = pod_json("web-2", "uid-web-2", "web");
    char *c = pod_json("db-1", "uid-db-1", "db");
    char *all = NULL;
    ck_assert_int_ge(asprintf(&all, "[%s,%s,%s]", a, b, c), 0);
    write_file(seed, all);
    free(a);
    free(b);
    free(c);
    free(all);

    pid_t parent = getpid();
    f->pid = fork();
    ck_assert_int_ge(f->pid, 0);
    if (f->pid == 0) {
        /* The server must not outlive a test that dies on a failed assertion. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        const char *argv[] = {
            "python3", script,          "--state-dir", f->dir,          "--port-file", portfile,
            "--plain", "--node",        "node-a",      "--seed",        seed,          "--token",
            TOKEN,     "--admin-token", ADMIN_TOKEN,   "--max-seconds", "120",         NULL};
        execvp("python3", (char **)argv);
        _exit(127);
    }
    /* Bounded wait for the port file. */
    double deadline = now_sec() + 30;
    while (now_sec() < deadline) {
        FILE *pf = fopen(portfile, "r");
        if (pf) {
            int got = fscanf(pf, "%d", &f->port);
            fclose(pf);
            if (got == 1 && f->port > 0)
                break;
        }
        int st;
        ck_assert_msg(waitpid(f->pid, &st, WNOHANG) == 0, "fakeapi exited early; see %s", log);
        usleep(20000);
    }
    ck_assert_msg(f->port > 0, "fakeapi did not start within 30 s; see %s", log);

    f->loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(f->loop);
    f->creds = plain_creds(f->port, TOKEN);
    f->admin_creds = plain_creds(f->port, ADMIN_TOKEN);
    ck_assert_int_eq(gl_kube_client_new(f->loop, f->creds, &f->client), 0);
    ck_assert_int_eq(gl_kube_client_new(f->loop, f->admin_creds, &f->admin), 0);
    ck_assert_int_eq(gl_evictor_new(f->client, &f->ev), 0);
}

/* Frees everything, then ends the server by its PID and reaps it (SIGKILL after 10 s). */
static void fake_stop(fake *f) {
    gl_evictor_free(f->ev);
    gl_kube_client_free(f->client);
    gl_kube_client_free(f->admin);
    gl_kube_creds_free(f->creds);
    gl_kube_creds_free(f->admin_creds);
    if (f->loop)
        ev_loop_destroy(f->loop);
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        int st;
        double deadline = now_sec() + 10;
        while (waitpid(f->pid, &st, WNOHANG) == 0) {
            if (now_sec() > deadline) {
                kill(f->pid, SIGKILL);
                waitpid(f->pid, &st, 0);
                break;
            }
            usleep(20000);
        }
    }
    gl_test_rmtree(f->dir);
    memset(f, 0, sizeof(*f));
}

/* ---------------------------------------------------------------- loop helpers */

static void tick_noop(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)w;
    (void)revents;
}

/* Runs the loop until *flag is true or seconds pass; returns *flag. The tick bounds each
 * iteration so the deadline is checked even when nothing happens. */
static bool run_until(struct ev_loop *loop, const bool *flag, double seconds) {
    ev_timer tick;
    ev_timer_init(&tick, tick_noop, 0.02, 0.02);
    ev_timer_start(loop, &tick);
    double deadline = now_sec() + seconds;
    while (!*flag && now_sec() < deadline)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &tick);
    return *flag;
}

typedef struct {
    bool done;
    long status;
    int err;
    char *body;
} answer;

static void on_answer(long status, const char *body, size_t len, int err, const char *errmsg,
                      void *userdata) {
    answer *a = userdata;
    (void)errmsg;
    a->done = true;
    a->status = status;
    a->err = err;
    a->body = strndup(body, len);
}

/* One admin (or plain) request run to its end; the caller frees a->body. */
static void call(fake *f, gl_kube_client *c, const char *method, const char *path, const char *body,
                 answer *a) {
    memset(a, 0, sizeof(*a));
    ck_assert_int_eq(gl_kube_request(c, method, path, body ? "application/json" : NULL, body,
                                     body ? strlen(body) : 0, 20000, on_answer, a, NULL),
                     0);
    ck_assert_msg(run_until(f->loop, &a->done, 25), "%s %s: no answer", method, path);
}

static void admin(fake *f, const char *method, const char *path, const char *body) {
    answer a;
    call(f, f->admin, method, path, body, &a);
    ck_assert_msg(a.err == 0 && a.status == 200, "admin %s %s: %ld %d %s", method, path, a.status,
                  a.err, a.body ? a.body : "");
    free(a.body);
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
    ck_assert_msg(run_until(f->loop, &o->done, 40), "evict %s: no result", name);
    bool never = false;
    run_until(f->loop, &never, 0.05);
    ck_assert_int_eq(o->calls, 1);
    ck_assert_uint_eq(gl_evictor_pending(f->ev), 0);
}

/* The fake's record of the last eviction attempt (owned; json_decref). */
static json_t *last_eviction(fake *f) {
    answer a;
    call(f, f->admin, "GET", "/_fake/evictions", NULL, &a);
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
    call(f, f->client, "GET", path, NULL, &a);
    free(a.body);
    ck_assert_int_eq(a.err, 0);
    return a.status;
}

START_TEST(test_evict_ok_records_uid) {
    if (python_missing("test_evict_ok_records_uid"))
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
    ck_assert_msg(run_until(f.loop, &o.done, 40), "no result");
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
    if (python_missing("test_evict_blocked_by_budget"))
        return;
    fake f;
    fake_start(&f);
    admin(&f, "POST", "/_fake/budgets",
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
    if (python_missing("test_evict_unknown_pod_gone"))
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
    if (python_missing("test_evict_wrong_uid_gone"))
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
    if (python_missing("test_evict_500_backoff_grows"))
        return;
    fake f;
    fake_start(&f);
    admin(&f, "POST", "/_fake/faults",
          "{\"fail\":{\"count\":8,\"code\":500,\"path\":\"/api/v1/namespaces/default/pods/web-1/"
          "eviction\"}}");
    /* Doubling from 5 s up to the 5 min cap. The test tries again at once: the backoff is advice
     * to the caller, not enforced by gl_evict(). */
    uint64_t want[] = {5 * SEC,  10 * SEC,  20 * SEC,  40 * SEC,
                       80 * SEC, 160 * SEC, 300 * SEC, 300 * SEC};
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
    if (python_missing("test_evict_server_down_retry"))
        return;
    fake f;
    fake_start(&f);
    admin(&f, "POST", "/_fake/down", "{\"seconds\":30}");
    usleep(300000); /* the fake stops listening just after answering */
    outcome o;
    uint64_t before = gl_now_usec();
    evict(&f, "web-1", "uid-web-1", 10, &o);
    ck_assert_int_eq(o.result, GL_EVICT_RETRY);
    ck_assert_int_eq(o.status, 0);
    ck_assert(o.message[0] != '\0');
    ck_assert_uint_ge(gl_evictor_retry_after(f.ev, "uid-web-1", before), before + 5 * SEC);

    /* Freeing with an eviction in flight cancels it without a callback. */
    outcome late = {0};
    ck_assert_int_eq(gl_evict(f.ev, "default", "web-2", "uid-web-2", 10, on_result, &late), 0);
    gl_evictor_free(f.ev);
    f.ev = NULL;
    bool never = false;
    run_until(f.loop, &never, 0.2);
    ck_assert(!late.done);
    ck_assert_uint_eq(gl_kube_client_active(f.client), 0);
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
