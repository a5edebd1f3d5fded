/* report.h: renders what guardlet sees (the snapshot) as the contract's JSON or as text. */
#ifndef GUARDLET_REPORT_H
#define GUARDLET_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "guardlet/config.h"
#include "guardlet/guard.h"
#include "guardlet/kube.h"
#include "guardlet/node.h"
#include "guardlet/pods.h"
#include "guardlet/pressure.h"

/* Everything a report needs about the node; no pointers are owned. */
typedef struct {
    const char *node_name;
    int cgroup_version;
    const char *pool;
    const gl_node_sample *sample;
    const gl_node_pressure *pressure;
    const gl_config *config;
    const gl_pods *pods; /* NULL: no pod view (no kubepods tree found) */
    const gl_guard_outcome *decisions;
    size_t n_decisions;
    bool api; /* false in local mode */
    /* API mode: pod names and QoS from the watch cache (joined by UID); NULL in local mode. */
    const gl_kube_podwatch *podwatch;
} gl_report_input;

/* The contract's --once object: node, pods, decisions. Returns a new reference or NULL (ENOMEM). */
json_t *gl_report_json(const gl_report_input *in);

/* One pod as in the contract's "pods" array. Returns a new reference or NULL (ENOMEM). */
json_t *gl_report_pod_json(const gl_pod *pod, uint64_t node_available_bytes);

/* One decision as in the contract's "decisions" array. Returns a new reference or NULL. */
json_t *gl_report_decision_json(const gl_guard_outcome *o);

/* A human summary of the same, several lines, for --once -o text. */
void gl_report_text(const gl_report_input *in, FILE *out);

/* One line for sd_notify STATUS= and the journal: the figures an operator looks at first. */
void gl_report_status_line(const gl_report_input *in, char *buf, size_t len);

#endif
