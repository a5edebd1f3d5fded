/* config.h: guardlet's configuration as plain data, from files, drop-ins and --set overrides. */
#ifndef GUARDLET_CONFIG_H
#define GUARDLET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/units.h"

#define GL_CONFIG_DEFAULT_PATH "/etc/guardlet/guardlet.conf"
#define GL_POOL_RULES_MAX      16
#define GL_POOL_NAME_MAX       63 /* a Kubernetes label value is at most 63 characters */

typedef enum { GL_MODE_ENFORCE, GL_MODE_DRY_RUN } gl_mode;

typedef enum {
    GL_POOL_METRIC_MEMORY_PER_CPU, /* "memory-per-cpu": node memory capacity / online CPUs, bytes */
    GL_POOL_METRIC_MEMORY,         /* "memory": node memory capacity, bytes */
    GL_POOL_METRIC_CPUS,           /* "cpus": online CPUs, value kept in millicores */
} gl_pool_metric;

typedef enum { GL_CMP_GE, GL_CMP_GT, GL_CMP_LE, GL_CMP_LT, GL_CMP_EQ } gl_cmp;

/* "highmem: memory-per-cpu >= 6Gi" */
typedef struct {
    char name[GL_POOL_NAME_MAX + 1];
    gl_pool_metric metric;
    gl_cmp cmp;
    uint64_t value; /* bytes, or millicores for GL_POOL_METRIC_CPUS */
} gl_pool_rule;

/* Every string member is owned by the struct (heap), never NULL after gl_config_init_defaults(),
 * and may be empty. gl_config_free() releases them. */
typedef struct gl_config {
    struct {
        char *node_name; /* empty: $NODE_NAME, else the host name (resolved by the daemon) */
        gl_mode mode;
        uint64_t interval_usec;
        /* The scan period while node memory is short (below ThrottleBelow, or memory PSI
         * sustained): a starving node is looked at more often than a calm one. Not shorter than
         * this; at or above interval_usec it changes nothing. */
        uint64_t fast_interval_usec;
        char *cgroup_root;
        char *proc_root;
        char *status_socket;
        char *metrics_listen; /* empty disables the endpoint */
        bool lock_memory;     /* mlockall() at start: keep running when the node thrashes */
    } guard;
    struct {
        /* 0 (bytes or percent) turns a level off. Loading checks throttle > evict > kill when two
         * are of the same kind; bytes against a percentage can only be compared at run time. */
        gl_quantity throttle_below;
        gl_quantity evict_below;
        gl_quantity kill_below;
        uint32_t pressure_limit_bp;
        uint64_t pressure_duration_usec;
    } memory;
    struct {
        uint32_t pressure_limit_bp;
        uint64_t pressure_duration_usec;
        bool evict;
    } cpu;
    struct {
        uint64_t leak_window_usec;
        uint64_t leak_horizon_usec;
        uint64_t min_growth_rate_bytes; /* per second */
        uint32_t pids_above_bp;
    } runaway;
    struct {
        uint64_t evict_grace_period_usec; /* always whole seconds, as Kubernetes takes it */
        uint64_t post_action_delay_usec;
        /* 1..1000, or 0: never evict through the API server (throttling and the emergency local
         * kill still apply). Zero is "none", not "unlimited": if an operator meant the latter,
         * the misreading errs towards fewer disruptions. */
        uint32_t max_evictions_per_minute;
        uint64_t emergency_after_usec;
        bool throttle;
        bool freeze;
        bool local_kill;
    } actions;
    struct {
        char **namespaces; /* n_namespaces entries; a later file's Namespaces= replaces the list */
        size_t n_namespaces;
        /* Pod UIDs (lowercase 8-4-4-4-12 hex), n_pod_uids entries; a later file's PodUIDs= replaces
         * the list. The one protection that works in local mode, where namespaces, priorities and
         * annotations are unknown. */
        char **pod_uids;
        size_t n_pod_uids;
        int64_t min_priority;
        char *annotation;
    } protect;
    struct {
        char *kubeconfig;
        bool events;
        bool node_conditions;
    } kubernetes;
    struct {
        char *label;
        char *pool; /* explicit pool; overrides the rules when not empty */
        gl_pool_rule rules[GL_POOL_RULES_MAX];
        size_t n_rules;
        char *default_pool;
    } pools;
} gl_config;

/* One problem found while loading: "FILE:LINE: message". file is "--set" for overrides (line is
 * then the position of the --set option, from 1) and line is 0 when no line applies. */
typedef struct {
    char *file;
    unsigned line;
    char *message;
} gl_config_error;

typedef struct {
    gl_config_error *v;
    size_t n;
    size_t cap;
} gl_config_errors;

/* Where the configuration comes from. */
typedef struct {
    const char *path;        /* main file; NULL means GL_CONFIG_DEFAULT_PATH */
    bool path_required;      /* a missing main file is an error (it was named explicitly) */
    const char *const *sets; /* "Section.Key=value" overrides, applied last in order */
    size_t n_sets;
} gl_config_source;

/* Fills c with the built-in defaults (a node with no file is protected sensibly). Returns 0 or
 * -ENOMEM. On failure c is still safe to pass to gl_config_free(). */
int gl_config_init_defaults(gl_config *c);

/* Releases what c owns and zeroes it. Accepts NULL and half-built structs. */
void gl_config_free(gl_config *c);

/*
 * Loads defaults, then the main file, then PATH.d/ *.conf in byte-wise lexical order, then the
 * --set overrides, then validates the result as a whole. Returns 0 with *out filled, -EINVAL when
 * any error was found (every one is appended to errs; *out is left zeroed), or -ENOMEM.
 * *out is overwritten without being freed; errs may be NULL (errors are then dropped).
 * Within one file a scalar key may appear once; a later file overrides an earlier one. Rule=
 * appends to the list (the built-in rules apply only if no Rule= is given anywhere) and an empty
 * "Rule=" clears what came before.
 * Files: lines of at most 198 characters; leading blanks are ignored (so there are no
 * continuation lines); ';' or '#' after a blank starts a comment, also after a value.
 * --set: each is a source of its own, so a later --set of the same key wins; the value is taken
 * literally (no comments, no trimming).
 */
int gl_config_load(const gl_config_source *src, gl_config *out, gl_config_errors *errs);

/* Appends "file:line: message" formatted with printf semantics. Returns 0 or -ENOMEM. */
int gl_config_errors_add(gl_config_errors *errs, const char *file, unsigned line, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
void gl_config_errors_free(gl_config_errors *errs);

/* Copies src into dst (deep). Returns 0 or -ENOMEM. */
int gl_config_copy(gl_config *dst, const gl_config *src);

/* Picks the node's pool: the explicit Pool, else the first matching rule, else Default.
 * A memory-per-cpu rule never matches when cpus is 0. Returns a pointer into c (valid while c
 * lives). */
const char *gl_config_pool_for(const gl_config *c, uint64_t memory_bytes, unsigned cpus);

/* True when namespace is listed in [Protect] Namespaces. */
bool gl_config_namespace_protected(const gl_config *c, const char *ns);

/* True when uid is listed in [Protect] PodUIDs (exact, case-sensitive: the kubelet writes UIDs in
 * lowercase, and the list is validated to be lowercase). */
bool gl_config_pod_uid_protected(const gl_config *c, const char *uid);

#endif
