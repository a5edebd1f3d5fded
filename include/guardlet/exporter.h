/* exporter.h: the daemon's figures as Prometheus metrics, and the /metrics and /healthz endpoint
 * at [Guard] MetricsListen. */
#ifndef GUARDLET_EXPORTER_H
#define GUARDLET_EXPORTER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/guard.h"
#include "guardlet/kube.h"
#include "guardlet/metrics.h"
#include "guardlet/node.h"
#include "guardlet/pods.h"
#include "guardlet/pressure.h"

typedef struct gl_exporter gl_exporter;

/* /healthz fails when no tick has completed within max(this many Intervals, the floor): one late
 * tick is normal on a loaded node, three in a row mean the loop is stuck. */
#define GL_EXPORTER_HEALTH_INTERVALS  3
#define GL_EXPORTER_HEALTH_FLOOR_USEC (5u * 1000000u)

/* Returns 0 and *out, or -ENOMEM. Nothing listens until gl_exporter_listen(). */
int gl_exporter_new(struct ev_loop *loop, gl_exporter **out);
void gl_exporter_free(gl_exporter *e); /* accepts NULL */

/*
 * Serves at listen ("" disables), logging what happens: "Metrics on http://ADDR/metrics", a bind
 * failure as an error naming the address (the daemon goes on: metrics are not protection), or
 * "disabled". Called at start and after every reload: an unchanged address keeps its listener; a
 * changed one is bound first and the old listener kept when that fails. Returns 0 when serving at
 * listen (or disabled as asked), else the negative errno.
 */
int gl_exporter_listen(gl_exporter *e, const char *listen);

/* The address actually bound ("127.0.0.1:9847"), or NULL when not listening. */
const char *gl_exporter_address(const gl_exporter *e);

/* One completed tick's figures. Pointers are borrowed for the call; pods and podwatch may be NULL
 * (no kubepods tree; local mode). */
typedef struct {
    const gl_node_sample *sample;
    const gl_node_pressure *pressure;
    const gl_pods *pods;
    const gl_kube_podwatch *podwatch;
    bool api_mode;
    const gl_guard_outcome *outcomes;
    size_t n_outcomes;
    uint64_t started_usec; /* monotonic, before sensing */
    uint64_t done_usec;    /* monotonic, after acting */
    uint64_t interval_usec;
} gl_exporter_tick;

void gl_exporter_tick_done(gl_exporter *e, const gl_exporter_tick *t);

/* The tick could not sense the node (meminfo unreadable): guardlet_up drops to 0. */
void gl_exporter_sense_failed(gl_exporter *e);

/* For gl_kube_client_set_observer(): counts API requests by verb and code (userdata: the
 * exporter). */
void gl_exporter_api_request(const char *verb, long status, void *userdata);

/* For gl_guard_set_result_cb(): counts eviction answers (userdata: the exporter). */
void gl_exporter_eviction_result(const gl_guard_outcome *o, void *userdata);

/* What /metrics serves, rendered now (for tests and benchmarks). Same contract as
 * gl_metrics_render(). */
int gl_exporter_render(gl_exporter *e, char **out, size_t *len);

/* /healthz's verdict now: true when healthy; else reason says why (always written). */
bool gl_exporter_healthy(const gl_exporter *e, uint64_t now_usec, char *reason, size_t len);

#endif
