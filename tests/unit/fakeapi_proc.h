/* fakeapi_proc.h: the fake Kubernetes API server (tests/fakeapi) run as a subprocess, for suites.
 */
#ifndef GUARDLET_FAKEAPI_PROC_H
#define GUARDLET_FAKEAPI_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "guardlet/kube.h"

/* How to start the fake; fields left NULL or false are not passed to it. */
typedef struct {
    const char *name;              /* names the temp folder (gl_test_tmpdir) */
    bool tls;                      /* false: --plain */
    const char *token;             /* the guard's token; required */
    const char *admin_token;       /* NULL: no --admin-token, no admin client */
    const char *seed;              /* JSON array of pods written to pods.json, or NULL */
    const char *bookmark_interval; /* seconds, or NULL */
} gl_fakeapi_opts;

/* A running fake and the clients that talk to it; everything is owned by the struct. */
typedef struct {
    pid_t pid;
    char dir[256];
    int port;
    bool tls;
    gl_kube_creds *creds;       /* token opts.token */
    gl_kube_creds *admin_creds; /* token opts.admin_token, or NULL */
    struct ev_loop *loop;
    gl_kube_client *client;
    gl_kube_client *admin; /* NULL without admin_token */
} gl_fakeapi;

/* One request's answer; body is owned (strndup) and freed by gl_fakeapi_answer_clear. */
typedef struct {
    bool done;
    long status;
    int err;
    char *body;
    char errmsg[256];
} gl_fakeapi_answer;

/* Seconds on the monotonic clock. */
double gl_fakeapi_now(void);

/* Returns whether an executable prog is in one of PATH's folders. */
bool gl_fakeapi_on_path(const char *prog);

/* Returns true, after printing "SKIP test: reason", when python3 is not on PATH. */
bool gl_fakeapi_missing(const char *test);

/* Returns new creds (the caller frees with gl_kube_creds_free) for http://127.0.0.1:port. */
gl_kube_creds *gl_fakeapi_plain_creds(int port, const char *token);

/* Writes text to path (overwriting); fails the test when it cannot. */
void gl_fakeapi_write_file(const char *path, const char *text);

/* Starts the fake on node-a in a fresh temp folder, waits (at most 30 s) for its port, and fills
 * f with a loop, creds and clients; fails the test when the fake does not come up. */
void gl_fakeapi_start(gl_fakeapi *f, const gl_fakeapi_opts *opts);

/* Frees f's clients, creds and loop, ends the fake by its PID (SIGTERM, SIGKILL after 10 s),
 * reaps it and removes its folder; f is zeroed. */
void gl_fakeapi_stop(gl_fakeapi *f);

/* Runs loop until done(arg) or seconds pass; returns done(arg). */
bool gl_fakeapi_run(struct ev_loop *loop, bool (*done)(const void *arg), const void *arg,
                    double seconds);

/* Runs loop until *flag is true or seconds pass; returns *flag. */
bool gl_fakeapi_run_until(struct ev_loop *loop, const bool *flag, double seconds);

/* The gl_kube_response_cb that fills a gl_fakeapi_answer (userdata). */
void gl_fakeapi_on_answer(long status, const char *body, size_t len, int err, const char *errmsg,
                          void *userdata);

/* Sends one request with c (JSON body or NULL) and runs f's loop until it is answered (25 s at
 * most, else fails the test); the caller clears a. */
void gl_fakeapi_call(gl_fakeapi *f, gl_kube_client *c, const char *method, const char *path,
                     const char *body, gl_fakeapi_answer *a);

/* Frees a's body and zeroes a. */
void gl_fakeapi_answer_clear(gl_fakeapi_answer *a);

/* One call with the admin client; fails the test unless it is answered 200. */
void gl_fakeapi_admin(gl_fakeapi *f, const char *method, const char *path, const char *body);

#endif
