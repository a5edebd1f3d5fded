/* daemon.h: the long-running guard: event loop, ticks, PSI wake-ups, reload, systemd notification.
 */
#ifndef GUARDLET_DAEMON_H
#define GUARDLET_DAEMON_H

#include "guardlet/config.h"
#include "guardlet/kubeconfig.h"
#include "guardlet/options.h"

typedef struct gl_daemon gl_daemon;

/* Builds a daemon that owns a copy of cfg and keeps opts (not owned; must outlive it) for reloads.
 * Returns 0, -ENOMEM, or -errno when the event loop cannot be created. */
int gl_daemon_new(const gl_options *opts, const gl_config *cfg, gl_daemon **out);

/* Runs until SIGTERM or SIGINT. Returns an exit code (GL_EXIT_*). */
int gl_daemon_run(gl_daemon *d);

/* Accepts NULL. */
void gl_daemon_free(gl_daemon *d);

/* The node name guardlet uses: [Guard] NodeName, else $NODE_NAME, else the host name. Writes into
 * buf (always NUL-terminated). */
void gl_node_name_resolve(const gl_config *c, char *buf, size_t len);

/* The API server credentials the config points at: [Kubernetes] Kubeconfig, else the pod's
 * service account when $KUBERNETES_SERVICE_HOST is set. Returns 0 and *out, 1 (and *out NULL)
 * when neither applies (local mode), or a negative errno with a message in err. */
int gl_api_creds_load(const gl_config *c, gl_kube_creds **out, char *err, size_t err_size);

/* --once: samples twice one Interval apart, decides, prints the report to out, never acts.
 * Returns an exit code. */
int gl_once_run(const gl_options *opts, const gl_config *cfg, FILE *out);

#endif
