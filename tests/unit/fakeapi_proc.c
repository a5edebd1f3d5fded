/* fakeapi_proc.c: starts, drives and stops the fake Kubernetes API server for the Check suites. */
#include "fakeapi_proc.h"

#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

double gl_fakeapi_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool gl_fakeapi_on_path(const char *prog) {
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

bool gl_fakeapi_missing(const char *test) {
    if (gl_fakeapi_on_path("python3"))
        return false;
    printf("SKIP %s: python3 not found on PATH (the fake API server needs it)\n", test);
    return true;
}

/* The fake server's script, found from this file's path so the suites run from any folder. */
static void fakeapi_path(char *buf, size_t size) {
    const char *slash = strrchr(__FILE__, '/');
    int dir_len = slash ? (int)(slash - __FILE__) : 1;
    ck_assert_int_lt(
        snprintf(buf, size, "%.*s/../fakeapi/fakeapi.py", dir_len, slash ? __FILE__ : "."),
        (int)size);
}

void gl_fakeapi_write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

gl_kube_creds *gl_fakeapi_plain_creds(int port, const char *token) {
    gl_kube_creds *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    ck_assert_int_ge(asprintf(&c->server, "http://127.0.0.1:%d", port), 0);
    c->source = strdup("test");
    c->token = strdup(token);
    return c;
}

/* In the child: log to the fake's log file and exec python3; never returns. */
static void exec_fake(const gl_fakeapi *f, const gl_fakeapi_opts *o, pid_t parent,
                      const char *script, const char *portfile, const char *seed, const char *log) {
    /* The server must not outlive a test that dies on a failed assertion. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    const char *argv[32];
    int n = 0;
    argv[n++] = "python3";
    argv[n++] = script;
    argv[n++] = "--state-dir";
    argv[n++] = f->dir;
    argv[n++] = "--port-file";
    argv[n++] = portfile;
    if (!o->tls)
        argv[n++] = "--plain";
    argv[n++] = "--node";
    argv[n++] = "node-a";
    if (o->seed) {
        argv[n++] = "--seed";
        argv[n++] = seed;
    }
    argv[n++] = "--token";
    argv[n++] = o->token;
    if (o->admin_token) {
        argv[n++] = "--admin-token";
        argv[n++] = o->admin_token;
    }
    if (o->bookmark_interval) {
        argv[n++] = "--bookmark-interval";
        argv[n++] = o->bookmark_interval;
    }
    argv[n++] = "--max-seconds";
    argv[n++] = "120";
    argv[n] = NULL;
    execvp("python3", (char **)argv);
    _exit(127);
}

/* The guard's and the admin's creds: plain ones, or (TLS) from the kubeconfig the fake wrote. */
static void make_creds(gl_fakeapi *f, const gl_fakeapi_opts *o) {
    if (o->tls) {
        char kc[512], err[GL_KUBE_ERR_SIZE] = "";
        snprintf(kc, sizeof(kc), "%s/kubeconfig", f->dir);
        ck_assert_msg(gl_kubeconfig_load(kc, "fake", &f->creds, err, sizeof(err)) == 0, "%s", err);
        if (o->admin_token) {
            ck_assert_msg(gl_kubeconfig_load(kc, "fake", &f->admin_creds, err, sizeof(err)) == 0,
                          "%s", err);
            free(f->admin_creds->token);
            f->admin_creds->token = strdup(o->admin_token);
        }
    } else {
        f->creds = gl_fakeapi_plain_creds(f->port, o->token);
        if (o->admin_token)
            f->admin_creds = gl_fakeapi_plain_creds(f->port, o->admin_token);
    }
}

void gl_fakeapi_start(gl_fakeapi *f, const gl_fakeapi_opts *o) {
    memset(f, 0, sizeof(*f));
    f->tls = o->tls;
    gl_test_tmpdir(f->dir, sizeof(f->dir), o->name);
    char seed[512], portfile[512], script[4096], log[512];
    snprintf(seed, sizeof(seed), "%s/pods.json", f->dir);
    snprintf(portfile, sizeof(portfile), "%s/port", f->dir);
    snprintf(log, sizeof(log), "%s/fakeapi.log", f->dir);
    fakeapi_path(script, sizeof(script));
    if (o->seed)
        gl_fakeapi_write_file(seed, o->seed);

    pid_t parent = getpid();
    f->pid = fork();
    ck_assert_int_ge(f->pid, 0);
    if (f->pid == 0)
        exec_fake(f, o, parent, script, portfile, seed, log);
    /* Bounded wait for the port file (TLS first makes its certificates with openssl). */
    double deadline = gl_fakeapi_now() + 30;
    while (gl_fakeapi_now() < deadline) {
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
    make_creds(f, o);
    ck_assert_int_eq(gl_kube_client_new(f->loop, f->creds, &f->client), 0);
    if (f->admin_creds)
        ck_assert_int_eq(gl_kube_client_new(f->loop, f->admin_creds, &f->admin), 0);
}

void gl_fakeapi_stop(gl_fakeapi *f) {
    gl_kube_client_free(f->client);
    gl_kube_client_free(f->admin);
    gl_kube_creds_free(f->creds);
    gl_kube_creds_free(f->admin_creds);
    if (f->loop)
        ev_loop_destroy(f->loop);
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        int st;
        double deadline = gl_fakeapi_now() + 10;
        while (waitpid(f->pid, &st, WNOHANG) == 0) {
            if (gl_fakeapi_now() > deadline) {
                kill(f->pid, SIGKILL);
                waitpid(f->pid, &st, 0);
                break;
            }
            usleep(20000);
        }
    }
    if (f->dir[0])
        gl_test_rmtree(f->dir);
    memset(f, 0, sizeof(*f));
}

static void tick_noop(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop;
    (void)w;
    (void)revents;
}

bool gl_fakeapi_run(struct ev_loop *loop, bool (*done)(const void *arg), const void *arg,
                    double seconds) {
    /* The tick bounds each iteration so the deadline is checked even when nothing happens. */
    ev_timer tick;
    ev_timer_init(&tick, tick_noop, 0.02, 0.02);
    ev_timer_start(loop, &tick);
    double deadline = gl_fakeapi_now() + seconds;
    bool ok;
    while (!(ok = done(arg)) && gl_fakeapi_now() < deadline)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &tick);
    return ok;
}

static bool flag_set(const void *flag) {
    return *(const bool *)flag;
}

bool gl_fakeapi_run_until(struct ev_loop *loop, const bool *flag, double seconds) {
    gl_fakeapi_run(loop, flag_set, flag, seconds);
    return *flag;
}

void gl_fakeapi_on_answer(long status, const char *body, size_t len, int err, const char *errmsg,
                          void *userdata) {
    gl_fakeapi_answer *a = userdata;
    a->done = true;
    a->status = status;
    a->err = err;
    a->body = strndup(body, len);
    snprintf(a->errmsg, sizeof(a->errmsg), "%s", errmsg);
}

void gl_fakeapi_answer_clear(gl_fakeapi_answer *a) {
    free(a->body);
    memset(a, 0, sizeof(*a));
}

void gl_fakeapi_call(gl_fakeapi *f, gl_kube_client *c, const char *method, const char *path,
                     const char *body, gl_fakeapi_answer *a) {
    memset(a, 0, sizeof(*a));
    ck_assert_int_eq(gl_kube_request(c, method, path, body ? "application/json" : NULL, body,
                                     body ? strlen(body) : 0, 20000, gl_fakeapi_on_answer, a, NULL),
                     0);
    ck_assert_msg(gl_fakeapi_run_until(f->loop, &a->done, 25), "%s %s: no answer", method, path);
}

void gl_fakeapi_admin(gl_fakeapi *f, const char *method, const char *path, const char *body) {
    gl_fakeapi_answer a;
    gl_fakeapi_call(f, f->admin, method, path, body, &a);
    ck_assert_msg(a.err == 0 && a.status == 200, "admin %s %s: %ld %d %s %s", method, path,
                  a.status, a.err, a.errmsg, a.body ? a.body : "");
    gl_fakeapi_answer_clear(&a);
}
