/* test_config.c: Check suite for config loading: defaults, files, drop-ins, --set and every error.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guardlet/config.h"

#include "testutil.h"

#define KI   UINT64_C(1024)
#define MI   (KI * 1024)
#define GI   (MI * 1024)
#define SEC  UINT64_C(1000000)
#define MSEC UINT64_C(1000)

/* Every test gets a fresh folder; the main file is always <dir>/guardlet.conf. */
static char dir[PATH_MAX];
static char main_path[PATH_MAX + 32];
static gl_config cfg;
static gl_config_errors errs;

static void setup(void) {
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof(dir), "%s/guardlet-test-config.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(main_path, sizeof(main_path), "%s/guardlet.conf", dir);
    memset(&cfg, 0, sizeof(cfg));
    memset(&errs, 0, sizeof(errs));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void) {
    gl_config_free(&cfg);
    gl_config_errors_free(&errs);
    /* Restore permissions a test may have taken away so the folder can go. */
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes <dir>/<rel>; a trailing '/' in rel makes a folder instead. */
static void write_file(const char *rel, const char *content) {
    char path[PATH_MAX + 64];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (path[strlen(path) - 1] == '/') {
        ck_assert_int_eq(mkdir(path, 0755), 0);
        return;
    }
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(content, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* Writes len bytes to the main file, NUL bytes included. */
static void write_main_bytes(const char *content, size_t len) {
    FILE *f = fopen(main_path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(content, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static void dropin_dir(void) {
    write_file("guardlet.conf.d/", NULL);
}

static int load_sets(bool required, const char *const *sets, size_t n_sets) {
    gl_config_source src = {
        .path = main_path, .path_required = required, .sets = sets, .n_sets = n_sets};

    return gl_config_load(&src, &cfg, &errs);
}

static int load(void) {
    return load_sets(false, NULL, 0);
}

/* Loads and insists on success, printing the errors otherwise. */
static void load_ok_sets(const char *const *sets, size_t n_sets) {
    int r = load_sets(false, sets, n_sets);

    for (size_t i = 0; i < errs.n; i++)
        fprintf(stderr, "unexpected: %s:%u: %s\n", errs.v[i].file, errs.v[i].line,
                errs.v[i].message);
    ck_assert_int_eq(r, 0);
    ck_assert_uint_eq(errs.n, 0);
}

static void load_ok(void) {
    load_ok_sets(NULL, 0);
}

/* Asserts that error i is exactly "file:line: message"; file NULL means the main file. */
static void expect_error(size_t i, const char *file, unsigned line, const char *message) {
    char got[8192], want[8192];

    ck_assert_msg(i < errs.n, "expected an error #%zu, have only %zu", i, errs.n);
    snprintf(got, sizeof(got), "%s:%u: %s", errs.v[i].file, errs.v[i].line, errs.v[i].message);
    snprintf(want, sizeof(want), "%s:%u: %s", file ? file : main_path, line, message);
    ck_assert_str_eq(got, want);
}

/* Loads a main file that must fail with exactly one error at line, with message. */
static void expect_only_error(const char *content, unsigned line, const char *message) {
    write_file("guardlet.conf", content);
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, NULL, line, message);
    ck_assert_uint_eq(errs.n, 1);
    /* A failed load leaves the output zeroed, so nothing half-built escapes. */
    ck_assert_ptr_null(cfg.guard.cgroup_root);
    gl_config_errors_free(&errs);
}

/* The contract's values, checked field by field. */
static void assert_contract_defaults(const gl_config *c) {
    ck_assert_str_eq(c->guard.node_name, "");
    ck_assert_int_eq(c->guard.mode, GL_MODE_ENFORCE);
    ck_assert_uint_eq(c->guard.interval_usec, SEC);
    ck_assert_str_eq(c->guard.cgroup_root, "/sys/fs/cgroup");
    ck_assert_str_eq(c->guard.proc_root, "/proc");
    ck_assert_str_eq(c->guard.status_socket, "/run/guardlet/guardlet.sock");
    ck_assert_str_eq(c->guard.metrics_listen, "127.0.0.1:9847");

    ck_assert_int_eq(c->memory.throttle_below.kind, GL_QTY_PERCENT);
    ck_assert_uint_eq(c->memory.throttle_below.percent_bp, 1500);
    ck_assert_int_eq(c->memory.evict_below.kind, GL_QTY_PERCENT);
    ck_assert_uint_eq(c->memory.evict_below.percent_bp, 800);
    ck_assert_int_eq(c->memory.kill_below.kind, GL_QTY_PERCENT);
    ck_assert_uint_eq(c->memory.kill_below.percent_bp, 300);
    ck_assert_uint_eq(c->memory.pressure_limit_bp, 4000);
    ck_assert_uint_eq(c->memory.pressure_duration_usec, 10 * SEC);

    ck_assert_uint_eq(c->cpu.pressure_limit_bp, 6000);
    ck_assert_uint_eq(c->cpu.pressure_duration_usec, 30 * SEC);
    ck_assert(!c->cpu.evict);

    ck_assert_uint_eq(c->runaway.leak_window_usec, 120 * SEC);
    ck_assert_uint_eq(c->runaway.leak_horizon_usec, 300 * SEC);
    ck_assert_uint_eq(c->runaway.min_growth_rate_bytes, MI);
    ck_assert_uint_eq(c->runaway.pids_above_bp, 9000);

    ck_assert_uint_eq(c->actions.evict_grace_period_usec, 30 * SEC);
    ck_assert_uint_eq(c->actions.post_action_delay_usec, 15 * SEC);
    ck_assert_uint_eq(c->actions.max_evictions_per_minute, 3);
    ck_assert_uint_eq(c->actions.emergency_after_usec, 10 * SEC);
    ck_assert(c->actions.throttle);
    ck_assert(!c->actions.freeze);
    ck_assert(c->actions.local_kill);

    ck_assert_uint_eq(c->protect.n_namespaces, 1);
    ck_assert_str_eq(c->protect.namespaces[0], "kube-system");
    ck_assert_uint_eq(c->protect.n_pod_uids, 0);
    ck_assert_int_eq(c->protect.min_priority, 2000000000);
    ck_assert_str_eq(c->protect.annotation, "guardlet.io/protected");

    ck_assert_str_eq(c->kubernetes.kubeconfig, "");
    ck_assert(c->kubernetes.events);
    ck_assert(c->kubernetes.node_conditions);

    ck_assert_str_eq(c->pools.label, "guardlet.io/pool");
    ck_assert_str_eq(c->pools.pool, "");
    ck_assert_uint_eq(c->pools.n_rules, 2);
    ck_assert_str_eq(c->pools.rules[0].name, "highmem");
    ck_assert_int_eq(c->pools.rules[0].metric, GL_POOL_METRIC_MEMORY_PER_CPU);
    ck_assert_int_eq(c->pools.rules[0].cmp, GL_CMP_GE);
    ck_assert_uint_eq(c->pools.rules[0].value, 6 * GI);
    ck_assert_str_eq(c->pools.rules[1].name, "highcpu");
    ck_assert_int_eq(c->pools.rules[1].metric, GL_POOL_METRIC_MEMORY_PER_CPU);
    ck_assert_int_eq(c->pools.rules[1].cmp, GL_CMP_LE);
    ck_assert_uint_eq(c->pools.rules[1].value, GI);
    ck_assert_str_eq(c->pools.default_pool, "standard");
}

/* The sample from CONTRACT.md, verbatim, inline "# comments" included. */
static const char contract_sample[] =
    "[Guard]\n"
    "NodeName=                 # default: $NODE_NAME, else the host name\n"
    "Mode=enforce              # enforce | dry-run\n"
    "Interval=1s               # scan period\n"
    "CgroupRoot=/sys/fs/cgroup\n"
    "ProcRoot=/proc\n"
    "StatusSocket=/run/guardlet/guardlet.sock\n"
    "MetricsListen=127.0.0.1:9847   # empty disables the HTTP /metrics and /healthz endpoint\n"
    "\n"
    "[Memory]                  # node memory.available = capacity - working set, as the kubelet "
    "computes it\n"
    "ThrottleBelow=15%         # soft: throttle the top offender's memory (memory.high)\n"
    "EvictBelow=8%             # hard: evict the top offender through the API server\n"
    "KillBelow=3%              # emergency floor: local kill when eviction has not freed memory in "
    "EmergencyAfter\n"
    "PressureLimit=40%         # node memory PSI \"some avg10\" above this ...\n"
    "PressureDuration=10s      # ... for this long counts as memory pressure (treated like "
    "ThrottleBelow)\n"
    "\n"
    "[CPU]\n"
    "PressureLimit=60%         # node CPU PSI \"some avg10\" above this ...\n"
    "PressureDuration=30s      # ... for this long: throttle the top CPU offender (cpu.max) toward "
    "its request\n"
    "Evict=no                  # CPU contention alone never evicts unless yes\n"
    "\n"
    "[Runaway]\n"
    "LeakWindow=2min           # memory growth judged over this window\n"
    "LeakHorizon=5min          # act when a steadily growing pod will reach its limit or exhaust "
    "the node within this\n"
    "MinGrowthRate=1Mi         # per second; slower growth is never a leak\n"
    "PidsAbove=90%             # fork bomb: pids.current above this share of pids.max (or of node "
    "pid_max headroom)\n"
    "\n"
    "[Actions]\n"
    "EvictGracePeriod=30s\n"
    "PostActionDelay=15s       # after acting, wait before acting again on the same signal\n"
    "MaxEvictionsPerMinute=3\n"
    "EmergencyAfter=10s\n"
    "Throttle=yes\n"
    "Freeze=no                 # freeze (cgroup.freeze) a runaway pod while its eviction is "
    "pending\n"
    "LocalKill=yes\n"
    "\n"
    "[Protect]\n"
    "Namespaces=kube-system\n"
    "MinPriority=2000000000    # pods with priority >= this (system-*-critical) are never "
    "touched\n"
    "Annotation=guardlet.io/protected   # \"true\" on a pod protects it\n"
    "\n"
    "[Kubernetes]\n"
    "Kubeconfig=               # empty: in-cluster service account if present, else none (local "
    "mode)\n"
    "Events=yes\n"
    "NodeConditions=yes\n"
    "\n"
    "[Pools]\n"
    "Label=guardlet.io/pool\n"
    "Pool=                     # explicit pool name; overrides the rules\n"
    "Rule=highmem: memory-per-cpu >= 6Gi   # ordered rules, first match wins; Rule= may repeat\n"
    "Rule=highcpu: memory-per-cpu <= 1Gi\n"
    "Default=standard\n";

START_TEST(test_defaults_without_file) {
    load_ok();
    assert_contract_defaults(&cfg);
}
END_TEST

START_TEST(test_init_defaults_and_free) {
    gl_config c;

    ck_assert_int_eq(gl_config_init_defaults(&c), 0);
    assert_contract_defaults(&c);
    gl_config_free(&c);
    ck_assert_ptr_null(c.guard.cgroup_root);
    ck_assert_ptr_null(c.protect.namespaces);
    gl_config_free(&c); /* twice is fine: it was zeroed */
    gl_config_free(NULL);

    /* Half-built: some strings set, the rest NULL. */
    memset(&c, 0, sizeof(c));
    c.guard.proc_root = strdup("/proc");
    c.protect.namespaces = calloc(3, sizeof(char *));
    c.protect.namespaces[0] = strdup("a");
    c.protect.n_namespaces = 3;
    c.protect.pod_uids = calloc(2, sizeof(char *));
    c.protect.n_pod_uids = 2;
    gl_config_free(&c);
}
END_TEST

START_TEST(test_contract_sample_parses) {
    write_file("guardlet.conf", contract_sample);
    load_ok();
    assert_contract_defaults(&cfg);
}
END_TEST

START_TEST(test_full_file) {
    write_file("guardlet.conf", "# every key, none at its default\n"
                                "[Guard]\n"
                                "NodeName=node-1.example\n"
                                "Mode=dry-run\n"
                                "Interval=500ms\n"
                                "CgroupRoot=/tmp/cg\n"
                                "ProcRoot=/tmp/proc\n"
                                "StatusSocket=/tmp/g.sock\n"
                                "MetricsListen=[::1]:9000\n"
                                "[Memory]\n"
                                "ThrottleBelow=4Gi\n"
                                "EvictBelow=2.5Gi\n"
                                "KillBelow=512Mi\n"
                                "PressureLimit=25.5%\n"
                                "PressureDuration=1min 30s\n"
                                "[CPU]\n"
                                "PressureLimit=70%\n"
                                "PressureDuration=45s\n"
                                "Evict=yes\n"
                                "[Runaway]\n"
                                "LeakWindow=5min\n"
                                "LeakHorizon=1h\n"
                                "MinGrowthRate=256Ki\n"
                                "PidsAbove=80%\n"
                                "[Actions]\n"
                                "EvictGracePeriod=0s\n"
                                "PostActionDelay=1min\n"
                                "MaxEvictionsPerMinute=0\n"
                                "EmergencyAfter=20s\n"
                                "Throttle=no\n"
                                "Freeze=yes\n"
                                "LocalKill=off\n"
                                "[Protect]\n"
                                "Namespaces=kube-system, monitoring  logging,ingress\n"
                                "MinPriority=-10\n"
                                "Annotation=\n"
                                "[Kubernetes]\n"
                                "Kubeconfig=/etc/kubernetes/kubelet.conf\n"
                                "Events=false\n"
                                "NodeConditions=0\n"
                                "[Pools]\n"
                                "Label=example.com/node-pool\n"
                                "Pool=gpu\n"
                                "Rule=big: memory >= 256Gi\n"
                                "Default=general\n");
    load_ok();
    ck_assert_str_eq(cfg.guard.node_name, "node-1.example");
    ck_assert_int_eq(cfg.guard.mode, GL_MODE_DRY_RUN);
    ck_assert_uint_eq(cfg.guard.interval_usec, 500 * MSEC);
    ck_assert_str_eq(cfg.guard.cgroup_root, "/tmp/cg");
    ck_assert_str_eq(cfg.guard.proc_root, "/tmp/proc");
    ck_assert_str_eq(cfg.guard.status_socket, "/tmp/g.sock");
    ck_assert_str_eq(cfg.guard.metrics_listen, "[::1]:9000");
    ck_assert_int_eq(cfg.memory.throttle_below.kind, GL_QTY_BYTES);
    ck_assert_uint_eq(cfg.memory.throttle_below.bytes, 4 * GI);
    ck_assert_uint_eq(cfg.memory.evict_below.bytes, 2 * GI + GI / 2);
    ck_assert_uint_eq(cfg.memory.kill_below.bytes, 512 * MI);
    ck_assert_uint_eq(cfg.memory.pressure_limit_bp, 2550);
    ck_assert_uint_eq(cfg.memory.pressure_duration_usec, 90 * SEC);
    ck_assert_uint_eq(cfg.cpu.pressure_limit_bp, 7000);
    ck_assert_uint_eq(cfg.cpu.pressure_duration_usec, 45 * SEC);
    ck_assert(cfg.cpu.evict);
    ck_assert_uint_eq(cfg.runaway.leak_window_usec, 300 * SEC);
    ck_assert_uint_eq(cfg.runaway.leak_horizon_usec, 3600 * SEC);
    ck_assert_uint_eq(cfg.runaway.min_growth_rate_bytes, 256 * KI);
    ck_assert_uint_eq(cfg.runaway.pids_above_bp, 8000);
    ck_assert_uint_eq(cfg.actions.evict_grace_period_usec, 0);
    ck_assert_uint_eq(cfg.actions.post_action_delay_usec, 60 * SEC);
    ck_assert_uint_eq(cfg.actions.max_evictions_per_minute, 0);
    ck_assert_uint_eq(cfg.actions.emergency_after_usec, 20 * SEC);
    ck_assert(!cfg.actions.throttle);
    ck_assert(cfg.actions.freeze);
    ck_assert(!cfg.actions.local_kill);
    ck_assert_uint_eq(cfg.protect.n_namespaces, 4);
    ck_assert_str_eq(cfg.protect.namespaces[0], "kube-system");
    ck_assert_str_eq(cfg.protect.namespaces[1], "monitoring");
    ck_assert_str_eq(cfg.protect.namespaces[2], "logging");
    ck_assert_str_eq(cfg.protect.namespaces[3], "ingress");
    ck_assert_int_eq(cfg.protect.min_priority, -10);
    ck_assert_str_eq(cfg.protect.annotation, "");
    ck_assert_str_eq(cfg.kubernetes.kubeconfig, "/etc/kubernetes/kubelet.conf");
    ck_assert(!cfg.kubernetes.events);
    ck_assert(!cfg.kubernetes.node_conditions);
    ck_assert_str_eq(cfg.pools.label, "example.com/node-pool");
    ck_assert_str_eq(cfg.pools.pool, "gpu");
    ck_assert_uint_eq(cfg.pools.n_rules, 1);
    ck_assert_str_eq(cfg.pools.rules[0].name, "big");
    ck_assert_int_eq(cfg.pools.rules[0].metric, GL_POOL_METRIC_MEMORY);
    ck_assert_uint_eq(cfg.pools.rules[0].value, 256 * GI);
    ck_assert_str_eq(cfg.pools.default_pool, "general");
}
END_TEST

START_TEST(test_dropin_order) {
    write_file("guardlet.conf", "[Memory]\nEvictBelow=5%\nKillBelow=1%\n");
    dropin_dir();
    /* strcmp order: "20-b.conf" < "Z.conf" < "a.conf"; a locale collation would differ. */
    write_file("guardlet.conf.d/a.conf", "[Memory]\nEvictBelow=7%\n");
    write_file("guardlet.conf.d/20-b.conf", "[Memory]\nEvictBelow=6%\nKillBelow=2%\n");
    write_file("guardlet.conf.d/Z.conf", "[Memory]\nEvictBelow=9%\n");
    /* Ignored: wrong suffix, hidden, a folder named *.conf, a bare ".conf". */
    write_file("guardlet.conf.d/30-x.conf.disabled", "garbage\n");
    write_file("guardlet.conf.d/README", "garbage\n");
    write_file("guardlet.conf.d/.hidden.conf", "garbage\n");
    write_file("guardlet.conf.d/.conf", "garbage\n");
    write_file("guardlet.conf.d/dir.conf/", NULL);
    load_ok();
    ck_assert_uint_eq(cfg.memory.evict_below.percent_bp, 700);
    ck_assert_uint_eq(cfg.memory.kill_below.percent_bp, 200);
}
END_TEST

START_TEST(test_dropins_without_main_file) {
    dropin_dir();
    write_file("guardlet.conf.d/10.conf", "[Guard]\nMode=dry-run\n");
    load_ok();
    ck_assert_int_eq(cfg.guard.mode, GL_MODE_DRY_RUN);
}
END_TEST

START_TEST(test_later_file_may_repeat_key) {
    /* A key set once per file is fine even when every file sets it. */
    write_file("guardlet.conf", "[Guard]\nMode=dry-run\n");
    dropin_dir();
    write_file("guardlet.conf.d/1.conf", "[Guard]\nMode=enforce\n");
    load_ok();
    ck_assert_int_eq(cfg.guard.mode, GL_MODE_ENFORCE);
}
END_TEST

START_TEST(test_set_overrides) {
    static const char *const sets[] = {"Guard.Mode=enforce", "Memory.EvictBelow=6%",
                                       "Memory.EvictBelow=5%", "Protect.Namespaces=a b",
                                       "Guard.NodeName=n1"};

    write_file("guardlet.conf", "[Guard]\nMode=dry-run\n[Memory]\nEvictBelow=10%\n");
    dropin_dir();
    write_file("guardlet.conf.d/1.conf", "[Memory]\nEvictBelow=9%\n");
    load_ok_sets(sets, 5);
    ck_assert_int_eq(cfg.guard.mode, GL_MODE_ENFORCE);
    ck_assert_uint_eq(cfg.memory.evict_below.percent_bp, 500); /* the later --set wins */
    ck_assert_uint_eq(cfg.protect.n_namespaces, 2);
    ck_assert_str_eq(cfg.guard.node_name, "n1");
}
END_TEST

START_TEST(test_unknown_section) {
    expect_only_error("[Guard]\nMode=enforce\n[memory]\nEvictBelow=5%\nbogus=1\n", 3,
                      "unknown section [memory]; did you mean [Memory]?");
    expect_only_error("[Nope]\nA=1\n", 1, "unknown section [Nope]");
}
END_TEST

START_TEST(test_unknown_key) {
    expect_only_error("[Memory]\nevictbelow=5%\n", 2,
                      "unknown key Memory.evictbelow; did you mean Memory.EvictBelow?");
    expect_only_error("[Memory]\nEvict=yes\n", 2,
                      "unknown key Memory.Evict; did you mean CPU.Evict?");
    expect_only_error("[Runaway]\n\nPressureLimit=1%\n", 3,
                      "unknown key Runaway.PressureLimit; did you mean Memory.PressureLimit or "
                      "CPU.PressureLimit?");
    expect_only_error("[Guard]\nBogus=1\n", 2, "unknown key Guard.Bogus");
}
END_TEST

START_TEST(test_key_outside_section) {
    expect_only_error("# comment\nMode=enforce\n[Guard]\n", 2,
                      "key Mode is outside of any section; did you mean Guard.Mode?");
}
END_TEST

START_TEST(test_bad_values) {
    expect_only_error("[Guard]\nMode=enforce\n\n\n\n[Memory]\nEvictBelow=8 %\n", 7,
                      "Memory.EvictBelow: invalid quantity \"8 %\" (expected bytes with Ki, Mi, Gi "
                      "or Ti, or a percentage such as 8%)");
    expect_only_error("[Guard]\nInterval=50ms\n", 2,
                      "Guard.Interval: duration \"50ms\" is out of range (expected from 100ms to "
                      "1min)");
    expect_only_error(
        "[Guard]\nInterval=5\n", 2,
        "Guard.Interval: invalid duration \"5\" (expected a number with a unit us, ms, "
        "s, min, h or d, such as 500ms, 2s or 1min 30s)");
    expect_only_error("[Guard]\nMode=Enforce\n", 2,
                      "Guard.Mode: invalid mode \"Enforce\" (expected enforce or dry-run)");
    expect_only_error("[CPU]\nEvict=maybe\n", 2,
                      "CPU.Evict: invalid boolean \"maybe\" (expected yes or no)");
    expect_only_error(
        "[Memory]\nPressureLimit=1Gi\n", 2,
        "Memory.PressureLimit: invalid percentage \"1Gi\" (expected a percentage with "
        "at most two decimals, such as 40% or 7.5%)");
    expect_only_error("[Runaway]\nPidsAbove=0%\n", 2,
                      "Runaway.PidsAbove: percentage \"0%\" is out of range (expected more than 0% "
                      "and at most 100%)");
    expect_only_error("[Runaway]\nMinGrowthRate=0\n", 2,
                      "Runaway.MinGrowthRate: size \"0\" is out of range (expected at least 1 byte "
                      "per second)");
    expect_only_error("[Actions]\nMaxEvictionsPerMinute=1001\n", 2,
                      "Actions.MaxEvictionsPerMinute: number \"1001\" is out of range (expected a "
                      "whole number from 0 (never evict) to 1000)");
    expect_only_error("[Actions]\nEvictGracePeriod=1500ms\n", 2,
                      "Actions.EvictGracePeriod: duration \"1500ms\" is not a whole number of "
                      "seconds (Kubernetes takes the grace period in seconds)");
    expect_only_error("[Protect]\nNamespaces=kube-system, Bad_NS\n", 2,
                      "Protect.Namespaces: invalid namespace \"Bad_NS\" (expected lowercase "
                      "letters, digits and '-', at most 63 characters, starting and ending with a "
                      "letter or digit)");
    expect_only_error("[Protect]\nMinPriority=high\n", 2,
                      "Protect.MinPriority: invalid number \"high\" (expected a whole number such "
                      "as 2000000000)");
    expect_only_error("[Guard]\nCgroupRoot=sys/fs/cgroup\n", 2,
                      "Guard.CgroupRoot: invalid value \"sys/fs/cgroup\" (expected an absolute "
                      "path)");
    /* A '#' that does not follow a blank is part of the value. */
    expect_only_error("[Guard]\nNodeName=node#1\n", 2,
                      "Guard.NodeName: invalid value \"node#1\" (expected empty or a Kubernetes "
                      "node name: lowercase letters, digits, '-' and '.', at most 253 characters)");
    expect_only_error("[Pools]\nDefault=\n", 2,
                      "Pools.Default: invalid value \"\" (expected a label value: at most 63 "
                      "letters, digits, '-', '_' or '.', starting and ending with a letter or "
                      "digit)");
    expect_only_error("[Pools]\nLabel=-bad/x\n", 2,
                      "Pools.Label: invalid value \"-bad/x\" (expected a label key such as "
                      "guardlet.io/pool)");
}
END_TEST

START_TEST(test_string_validators) {
    static const char *const good[] = {
        "Guard.MetricsListen=",
        "Guard.MetricsListen=0.0.0.0:9847",
        "Guard.MetricsListen=localhost:1",
        "Guard.MetricsListen=[::]:65535",
        "Guard.MetricsListen=127.0.0.1:0", /* any free port */
        "Pools.Pool=",
        "Pools.Pool=a.b_c-D9",
        "Pools.Label=pool",
        "Protect.Annotation=example.com/x",
        "Kubernetes.Kubeconfig=/root/.kube/config",
        "Guard.StatusSocket=/run/x.sock",
        /* 107 bytes, the longest that fits. */
        ("Guard.StatusSocket=/run/guardlet/an-extremely-long-socket-path-that-does-not-fit-into-a-"
         "sockaddr-un-because-of-its-length.sock"),
    };
    static const char *const bad[] = {
        "Guard.MetricsListen=:9847",
        "Guard.MetricsListen=127.0.0.1",
        "Guard.MetricsListen=127.0.0.1:65536",
        "Guard.MetricsListen=999.0.0.1:80",
        "Guard.MetricsListen=::1:80",
        "Guard.MetricsListen=[zz]:80",
        "Pools.Pool=-x",
        "Pools.Pool=x y",
        "Pools.Label=Example.com/x",
        "Pools.Label=a/",
        "Kubernetes.Kubeconfig=kubeconfig",
        /* 108 bytes of path: one more than sun_path holds with its NUL. */
        ("Guard.StatusSocket=/run/guardlet/an-extremely-long-socket-path-that-does-not-fit-into-a-"
         "sockaddr-un-because-of-its-lengthy.sock"),
        "Guard.NodeName=-node",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(load_sets(false, &good[i], 1) == 0, "rejected %s", good[i]);
        gl_config_free(&cfg);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(load_sets(false, &bad[i], 1) == -EINVAL, "accepted %s", bad[i]);
        ck_assert_uint_eq(errs.n, 1);
        ck_assert_uint_eq(errs.v[0].line, 1);
        gl_config_errors_free(&errs);
    }
}
END_TEST

START_TEST(test_duplicate_key) {
    expect_only_error("[Guard]\nMode=enforce\n[Memory]\nEvictBelow=5%\nKillBelow=1%\n"
                      "[Guard]\n[Memory]\nEvictBelow=6%\n",
                      8, "duplicate key Memory.EvictBelow (first set at line 4)");
}
END_TEST

START_TEST(test_syntax_errors) {
    expect_only_error("[Guard]\nthis is not a key\n", 2,
                      "syntax error: expected [Section] or Key=value");
    expect_only_error("[Guard\nMode=enforce\n", 1, "syntax error: expected [Section] or Key=value");
    expect_only_error("[Guard] trailing\n", 1, "syntax error: expected [Section] or Key=value");
    expect_only_error("[Guard]\n=value\n", 2, "syntax error: expected [Section] or Key=value");
    expect_only_error("[Guard]\nMode ; comment = x\n", 2,
                      "syntax error: expected [Section] or Key=value");
}
END_TEST

START_TEST(test_too_long_line) {
    char content[1024], pad[300];

    memset(pad, 'x', 250);
    pad[250] = '\0';
    snprintf(content, sizeof(content), "[Guard]\n# %s\nMode=%s\nInterval=1\n", pad, pad);
    write_file("guardlet.conf", content);
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, NULL, 2, "line is longer than 198 characters");
    expect_error(1, NULL, 3, "line is longer than 198 characters");
    /* The rest of the long line is skipped and the line count stays right. */
    expect_error(2, NULL, 4,
                 "Guard.Interval: invalid duration \"1\" (expected a number with a unit us, ms, s, "
                 "min, h or d, such as 500ms, 2s or 1min 30s)");
    ck_assert_uint_eq(errs.n, 3);
}
END_TEST

START_TEST(test_line_at_limit) {
    char content[512], value[300];

    /* "NodeName=" is 9 characters: 189 more make a line of exactly 198. */
    memset(value, 'a', 189);
    value[189] = '\0';
    snprintf(content, sizeof(content), "[Guard]\r\nNodeName=%s\r\n", value);
    write_file("guardlet.conf", content);
    ck_assert_int_eq(load(), -EINVAL); /* too long for a node name, but not for the line */
    ck_assert_uint_eq(errs.n, 1);
    ck_assert_ptr_nonnull(strstr(errs.v[0].message, "Guard.NodeName: invalid value"));
}
END_TEST

START_TEST(test_many_errors_in_one_file) {
    write_file("guardlet.conf", "Mode=enforce\n"      /* 1: outside */
                                "[Guard]\n"           /* 2 */
                                "Interval=2\n"        /* 3: bad value */
                                "nonsense\n"          /* 4: syntax */
                                "[Memroy]\n"          /* 5: unknown section */
                                "EvictBelow=x\n"      /* 6: skipped, section unknown */
                                "[Memory]\n"          /* 7 */
                                "KillBelow=1%\n"      /* 8 */
                                "KillBelow=2%\n"      /* 9: duplicate */
                                "Evictbelow=1%\n"     /* 10: unknown key */
                                "[CPU]\n"             /* 11 */
                                "Evict=sometimes\n"); /* 12: bad value */
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, NULL, 1, "key Mode is outside of any section; did you mean Guard.Mode?");
    expect_error(1, NULL, 3,
                 "Guard.Interval: invalid duration \"2\" (expected a number with a unit us, ms, s, "
                 "min, h or d, such as 500ms, 2s or 1min 30s)");
    expect_error(2, NULL, 4, "syntax error: expected [Section] or Key=value");
    expect_error(3, NULL, 5, "unknown section [Memroy]");
    expect_error(4, NULL, 9, "duplicate key Memory.KillBelow (first set at line 8)");
    expect_error(5, NULL, 10, "unknown key Memory.Evictbelow; did you mean Memory.EvictBelow?");
    expect_error(6, NULL, 12, "CPU.Evict: invalid boolean \"sometimes\" (expected yes or no)");
    ck_assert_uint_eq(errs.n, 7);
}
END_TEST

START_TEST(test_errors_in_several_files) {
    char dropin[PATH_MAX + 64];

    write_file("guardlet.conf", "[Guard]\nMode=x\n");
    dropin_dir();
    write_file("guardlet.conf.d/1.conf", "\n[Guard]\nInterval=1\n");
    snprintf(dropin, sizeof(dropin), "%s.d/1.conf", main_path);
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, NULL, 2, "Guard.Mode: invalid mode \"x\" (expected enforce or dry-run)");
    expect_error(1, dropin, 3,
                 "Guard.Interval: invalid duration \"1\" (expected a number with a unit us, ms, s, "
                 "min, h or d, such as 500ms, 2s or 1min 30s)");
}
END_TEST

START_TEST(test_bad_set) {
    static const char *const sets[] = {
        "Guard.Mode",         "Mode=enforce",       ".Mode=x",           "Guard.=x", "Guard.Foo=1",
        "guard.Mode=enforce", "Guard.Mode=Enforce", "Guard.Mode=enforce"};

    ck_assert_int_eq(load_sets(false, sets, 8), -EINVAL);
    expect_error(0, "--set", 1, "invalid --set \"Guard.Mode\" (expected Section.Key=value)");
    expect_error(1, "--set", 2, "invalid --set \"Mode=enforce\" (expected Section.Key=value)");
    expect_error(2, "--set", 3, "invalid --set \".Mode=x\" (expected Section.Key=value)");
    expect_error(3, "--set", 4, "invalid --set \"Guard.=x\" (expected Section.Key=value)");
    expect_error(4, "--set", 5, "unknown key Guard.Foo");
    expect_error(5, "--set", 6, "unknown section [guard]; did you mean [Guard]?");
    expect_error(6, "--set", 7,
                 "Guard.Mode: invalid mode \"Enforce\" (expected enforce or dry-run)");
    ck_assert_uint_eq(errs.n, 7);
}
END_TEST

START_TEST(test_cross_field) {
    /* KillBelow set above the default EvictBelow: reported where KillBelow was set. */
    expect_only_error("[Memory]\n\nKillBelow=10%\n", 3,
                      "Memory.KillBelow: 10% must be below Memory.EvictBelow (8%): evictions must "
                      "come before local kills");
    /* The later of the two keys is the one named. */
    expect_only_error("[Memory]\nThrottleBelow=1Gi\nEvictBelow=2Gi\nKillBelow=512Mi\n", 3,
                      "Memory.EvictBelow: 2Gi must be below Memory.ThrottleBelow (1Gi): throttling "
                      "must come before evictions");
    expect_only_error("[Memory]\nEvictBelow=2Gi\nThrottleBelow=1Gi\nKillBelow=512Mi\n", 3,
                      "Memory.ThrottleBelow: 1Gi must be above Memory.EvictBelow (2Gi): throttling "
                      "must come before evictions");
    /* A longer Interval breaks the default LeakWindow: the Interval line is the culprit. */
    expect_only_error(
        "[Guard]\nInterval=30s\n[Memory]\nPressureDuration=30s\n[CPU]\n"
        "[Actions]\nEmergencyAfter=30s\n",
        2,
        "Guard.Interval: 30s is too long for Runaway.LeakWindow (2min), which must be "
        "at least 10 times the interval: the growth rate needs at least 10 samples");
    expect_only_error("[Runaway]\nLeakWindow=5s\n", 2,
                      "Runaway.LeakWindow: 5s must be at least 10 times Guard.Interval (1s): the "
                      "growth rate needs at least 10 samples");
    expect_only_error("[CPU]\nPressureDuration=500ms\n", 2,
                      "CPU.PressureDuration: 500ms must be at least Guard.Interval (1s): pressure "
                      "must last at least one scan to count as sustained");
    expect_only_error(
        "[Actions]\nEmergencyAfter=0s\n", 2,
        "Actions.EmergencyAfter: 0s must be at least Guard.Interval (1s): whether the "
        "eviction freed memory must be seen in a later sample");
}
END_TEST

START_TEST(test_cross_field_across_sources) {
    static const char *const sets[] = {"Memory.KillBelow=9%"};
    char dropin[PATH_MAX + 64];

    write_file("guardlet.conf", "[Memory]\nEvictBelow=5%\n");
    ck_assert_int_eq(load_sets(false, sets, 1), -EINVAL);
    expect_error(0, "--set", 1,
                 "Memory.KillBelow: 9% must be below Memory.EvictBelow (5%): evictions must come "
                 "before local kills");
    ck_assert_uint_eq(errs.n, 1);
    gl_config_errors_free(&errs);

    /* A drop-in lowering EvictBelow below the main file's KillBelow is named by the drop-in. */
    write_file("guardlet.conf", "[Memory]\nKillBelow=4%\n");
    dropin_dir();
    write_file("guardlet.conf.d/x.conf", "#\n[Memory]\nEvictBelow=4%\n");
    snprintf(dropin, sizeof(dropin), "%s.d/x.conf", main_path);
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, dropin, 3,
                 "Memory.EvictBelow: 4% must be above Memory.KillBelow (4%): evictions must come "
                 "before local kills");
    ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(test_cross_field_skips) {
    /* Bytes against a percentage can only be compared at run time; 0 turns a level off. */
    write_file("guardlet.conf", "[Memory]\nThrottleBelow=1Gi\nEvictBelow=50%\nKillBelow=0\n");
    load_ok();
    gl_config_free(&cfg);
    write_file("guardlet.conf", "[Memory]\nThrottleBelow=10%\nEvictBelow=0\nKillBelow=5%\n");
    load_ok();
    gl_config_free(&cfg);
    /* ... but ThrottleBelow and KillBelow are still compared when EvictBelow is off. */
    write_file("guardlet.conf", "[Memory]\nThrottleBelow=10%\nEvictBelow=0\nKillBelow=20%\n");
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, NULL, 4,
                 "Memory.KillBelow: 20% must be below Memory.ThrottleBelow (10%): throttling must "
                 "come before local kills");
    gl_config_errors_free(&errs);
    /* A value that did not parse is not compared again. */
    write_file("guardlet.conf", "[Memory]\nKillBelow=x\n[Runaway]\nLeakWindow=2h\n");
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_uint_eq(errs.n, 2);
}
END_TEST

START_TEST(test_missing_required_file) {
    ck_assert_int_eq(load_sets(true, NULL, 0), -EINVAL);
    expect_error(0, NULL, 0, "cannot read configuration file: No such file or directory");
    ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(test_unreadable_file) {
    write_file("guardlet.conf/", NULL); /* a folder where the file should be */
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, NULL, 0, "cannot read configuration file: Is a directory");
    gl_config_errors_free(&errs);
    rmdir(main_path);

    if (geteuid() == 0)
        return; /* root reads anything; the folder case above covers the path */
    write_file("guardlet.conf", "[Guard]\n");
    ck_assert_int_eq(chmod(main_path, 0), 0);
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, NULL, 0, "cannot read configuration file: Permission denied");
}
END_TEST

START_TEST(test_comments_and_layout) {
    /* Inline comments of both kinds, indentation, CRLF and a byte order mark. */
    write_file("guardlet.conf", "\xef\xbb\xbf[Guard]\r\n"
                                "  Mode=dry-run ; inline\r\n"
                                "\tInterval=2s # inline\r\n"
                                "   ; an indented comment\r\n"
                                "    # another\r\n"
                                "[Memory]   ; comment after a section\r\n"
                                "EvictBelow = 5%\r\n"
                                "KillBelow: 1%\r\n"
                                "[Pools]\r\n"
                                "Pool=    # nothing but a comment\r\n");
    load_ok();
    ck_assert_int_eq(cfg.guard.mode, GL_MODE_DRY_RUN);
    ck_assert_uint_eq(cfg.guard.interval_usec, 2 * SEC);
    ck_assert_uint_eq(cfg.memory.evict_below.percent_bp, 500);
    ck_assert_uint_eq(cfg.memory.kill_below.percent_bp, 100);
    ck_assert_str_eq(cfg.pools.pool, "");
}
END_TEST

START_TEST(test_indented_key_is_not_continuation) {
    /* inih would make an indented line part of the previous value; here it is a key of its own. */
    write_file("guardlet.conf", "[Guard]\nInterval=2s\n    Mode=dry-run\n");
    load_ok();
    ck_assert_uint_eq(cfg.guard.interval_usec, 2 * SEC);
    ck_assert_int_eq(cfg.guard.mode, GL_MODE_DRY_RUN);
}
END_TEST

START_TEST(test_rules_append_and_clear) {
    write_file("guardlet.conf", "[Pools]\n"
                                "Rule=a: memory >= 1Gi\n"
                                "Rule=b: cpus > 4\n");
    load_ok();
    ck_assert_uint_eq(cfg.pools.n_rules, 2); /* the built-in rules are gone */
    ck_assert_str_eq(cfg.pools.rules[0].name, "a");
    ck_assert_str_eq(cfg.pools.rules[1].name, "b");
    ck_assert_int_eq(cfg.pools.rules[1].metric, GL_POOL_METRIC_CPUS);
    ck_assert_int_eq(cfg.pools.rules[1].cmp, GL_CMP_GT);
    ck_assert_uint_eq(cfg.pools.rules[1].value, 4000);
    gl_config_free(&cfg);

    /* A drop-in appends; an empty Rule= clears what came before, in any file. */
    dropin_dir();
    write_file("guardlet.conf.d/1.conf", "[Pools]\nRule=c: memory-per-cpu == 2Gi\n");
    load_ok();
    ck_assert_uint_eq(cfg.pools.n_rules, 3);
    ck_assert_str_eq(cfg.pools.rules[2].name, "c");
    gl_config_free(&cfg);

    write_file("guardlet.conf.d/2.conf", "[Pools]\nRule=\nRule=d:cpus<0.5\n");
    load_ok();
    ck_assert_uint_eq(cfg.pools.n_rules, 1);
    ck_assert_str_eq(cfg.pools.rules[0].name, "d");
    ck_assert_int_eq(cfg.pools.rules[0].cmp, GL_CMP_LT);
    ck_assert_uint_eq(cfg.pools.rules[0].value, 500);
    gl_config_free(&cfg);

    /* Rule= alone: no rules at all, so Default always applies. */
    {
        static const char *const sets[] = {"Pools.Rule="};

        load_ok_sets(sets, 1);
        ck_assert_uint_eq(cfg.pools.n_rules, 0);
        ck_assert_str_eq(gl_config_pool_for(&cfg, 512 * GI, 8), "standard");
    }
}
END_TEST

START_TEST(test_rule_errors) {
    char content[4096] = "[Pools]\n";

    expect_only_error("[Pools]\nRule=highmem memory >= 6Gi\n", 2,
                      "Pools.Rule: invalid rule \"highmem memory >= 6Gi\" (expected NAME: METRIC "
                      "OP VALUE such as \"highmem: memory-per-cpu >= 6Gi\")");
    expect_only_error("[Pools]\nRule=hi: ram >= 6Gi\n", 2,
                      "Pools.Rule: unknown metric \"ram\" in rule \"hi: ram >= 6Gi\" (expected "
                      "memory-per-cpu, memory or cpus)");
    expect_only_error("[Pools]\nRule=hi: memory => 6Gi\n", 2,
                      "Pools.Rule: unknown comparison \"=>\" in rule \"hi: memory => 6Gi\" "
                      "(expected >=, >, <=, < or ==)");
    expect_only_error("[Pools]\nRule=hi: memory >= 6G\n", 2,
                      "Pools.Rule: invalid value \"6G\" in rule \"hi: memory >= 6G\" (expected "
                      "bytes with Ki, Mi, Gi or Ti such as 6Gi)");
    expect_only_error("[Pools]\nRule=hi: cpus >= 0.0001\n", 2,
                      "Pools.Rule: invalid value \"0.0001\" in rule \"hi: cpus >= 0.0001\" "
                      "(expected a CPU count such as 8 or 0.5, at most three decimals)");
    expect_only_error("[Pools]\nRule=hi: cpus >= 4 extra\n", 2,
                      "Pools.Rule: invalid value \"4\" in rule \"hi: cpus >= 4 extra\" (expected a "
                      "CPU count such as 8 or 0.5, at most three decimals)");
    expect_only_error(
        "[Pools]\nRule=Bad_: cpus >= 4\n", 2,
        "Pools.Rule: invalid pool name \"Bad_\" in rule (expected at most 63 letters, "
        "digits, '-', '_' or '.', starting and ending with a letter or digit)");

    /* Seventeen rules: the seventeenth is one too many. */
    for (int i = 0; i < GL_POOL_RULES_MAX + 1; i++)
        snprintf(content + strlen(content), sizeof(content) - strlen(content),
                 "Rule=p%d: cpus >= %d\n", i, i);
    expect_only_error(content, GL_POOL_RULES_MAX + 2,
                      "Pools.Rule: too many rules at \"p16: cpus >= 16\" (at most 16; an empty "
                      "Rule= clears the list)");
}
END_TEST

START_TEST(test_pool_for) {
    write_file("guardlet.conf", "[Pools]\n"
                                "Rule=tiny: memory < 4Gi\n"
                                "Rule=many: cpus >= 64\n"
                                "Rule=exact: cpus == 2.5\n"
                                "Rule=big: memory > 1024Gi\n"
                                "Rule=highmem: memory-per-cpu >= 6Gi\n"
                                "Rule=highcpu: memory-per-cpu <= 1Gi\n");
    load_ok();
    ck_assert_str_eq(gl_config_pool_for(&cfg, 2 * GI, 1), "tiny");
    ck_assert_str_eq(gl_config_pool_for(&cfg, 256 * GI, 64), "many");
    ck_assert_str_eq(gl_config_pool_for(&cfg, 2048 * GI, 128), "many"); /* first match wins */
    ck_assert_str_eq(gl_config_pool_for(&cfg, 2048 * GI, 32), "big");
    ck_assert_str_eq(gl_config_pool_for(&cfg, 48 * GI, 8), "highmem"); /* exactly 6Gi per CPU */
    ck_assert_str_eq(gl_config_pool_for(&cfg, 47 * GI, 8), "standard");
    ck_assert_str_eq(gl_config_pool_for(&cfg, 16 * GI, 16), "highcpu");
    ck_assert_str_eq(gl_config_pool_for(&cfg, 16 * GI, 0), "standard"); /* per-CPU is undefined */
    gl_config_free(&cfg);

    /* The built-in rules. */
    load_ok();
    ck_assert_str_eq(gl_config_pool_for(&cfg, 64 * GI, 8), "highmem");
    ck_assert_str_eq(gl_config_pool_for(&cfg, 8 * GI, 8), "highcpu");
    ck_assert_str_eq(gl_config_pool_for(&cfg, 32 * GI, 8), "standard");
    gl_config_free(&cfg);

    /* An explicit Pool wins over every rule. */
    {
        static const char *const sets[] = {"Pools.Pool=gpu", "Pools.Default=other"};

        load_ok_sets(sets, 2);
        ck_assert_str_eq(gl_config_pool_for(&cfg, 64 * GI, 8), "gpu");
        gl_config_free(&cfg);
        load_ok_sets(&sets[1], 1);
        ck_assert_str_eq(gl_config_pool_for(&cfg, 32 * GI, 8), "other");
    }
}
END_TEST

START_TEST(test_namespaces) {
    static const char *const sets[] = {"Protect.Namespaces=kube-system,monitoring ,\tlogging"};
    static const char *const none[] = {"Protect.Namespaces="};

    load_ok_sets(sets, 1);
    ck_assert_uint_eq(cfg.protect.n_namespaces, 3);
    ck_assert(gl_config_namespace_protected(&cfg, "kube-system"));
    ck_assert(gl_config_namespace_protected(&cfg, "logging"));
    ck_assert(!gl_config_namespace_protected(&cfg, "shop"));
    ck_assert(!gl_config_namespace_protected(&cfg, "kube"));
    ck_assert(!gl_config_namespace_protected(&cfg, ""));
    ck_assert(!gl_config_namespace_protected(&cfg, NULL));
    gl_config_free(&cfg);

    load_ok_sets(none, 1);
    ck_assert_uint_eq(cfg.protect.n_namespaces, 0);
    ck_assert(!gl_config_namespace_protected(&cfg, "kube-system"));
}
END_TEST

#define UID_A "0b7c5e3a-1d2f-4c6b-9a8e-1f2e3d4c5b6a"
#define UID_B "ffffffff-0000-4000-8000-0123456789ab"

START_TEST(test_pod_uids) {
    static const char *const sets[] = {"Protect.PodUIDs=" UID_A ",\t" UID_B " ,"};
    static const char *const none[] = {"Protect.PodUIDs="};

    load_ok_sets(sets, 1);
    ck_assert_uint_eq(cfg.protect.n_pod_uids, 2);
    ck_assert_str_eq(cfg.protect.pod_uids[0], UID_A);
    ck_assert_str_eq(cfg.protect.pod_uids[1], UID_B);
    ck_assert(gl_config_pod_uid_protected(&cfg, UID_A));
    ck_assert(gl_config_pod_uid_protected(&cfg, UID_B));
    ck_assert(!gl_config_pod_uid_protected(&cfg, "0b7c5e3a-1d2f-4c6b-9a8e-1f2e3d4c5b6b"));
    ck_assert(!gl_config_pod_uid_protected(&cfg, "0B7C5E3A-1D2F-4C6B-9A8E-1F2E3D4C5B6A"));
    ck_assert(!gl_config_pod_uid_protected(&cfg, ""));
    ck_assert(!gl_config_pod_uid_protected(&cfg, NULL));
    ck_assert(!gl_config_pod_uid_protected(NULL, UID_A));
    gl_config_free(&cfg);

    /* A later file replaces the list, like Namespaces=, and an empty value empties it. */
    write_file("guardlet.conf", "[Protect]\nPodUIDs=" UID_A " " UID_B "\n");
    dropin_dir();
    write_file("guardlet.conf.d/1.conf", "[Protect]\nPodUIDs=" UID_B "\n");
    load_ok();
    ck_assert_uint_eq(cfg.protect.n_pod_uids, 1);
    ck_assert_str_eq(cfg.protect.pod_uids[0], UID_B);
    ck_assert(!gl_config_pod_uid_protected(&cfg, UID_A));
    gl_config_free(&cfg);

    load_ok_sets(none, 1);
    ck_assert_uint_eq(cfg.protect.n_pod_uids, 0);
    ck_assert(!gl_config_pod_uid_protected(&cfg, UID_B));
}
END_TEST

#define UID_EXPECT                                                                                 \
    "(expected a lowercase UID of 8-4-4-4-12 hex digits such as "                                  \
    "0b7c5e3a-1d2f-4c6b-9a8e-1f2e3d4c5b6a)"

START_TEST(test_pod_uid_errors) {
    /* Upper case, a short group, a dash out of place, a letter past f, one character too many. */
    expect_only_error(
        "[Protect]\nPodUIDs=" UID_A " 0B7C5E3A-1D2F-4C6B-9A8E-1F2E3D4C5B6A\n", 2,
        "Protect.PodUIDs: invalid pod UID \"0B7C5E3A-1D2F-4C6B-9A8E-1F2E3D4C5B6A\" " UID_EXPECT);
    expect_only_error(
        "[Protect]\nPodUIDs=0b7c5e3-1d2f-4c6b-9a8e-1f2e3d4c5b6a\n", 2,
        "Protect.PodUIDs: invalid pod UID \"0b7c5e3-1d2f-4c6b-9a8e-1f2e3d4c5b6a\" " UID_EXPECT);
    expect_only_error(
        "[Protect]\nPodUIDs=0b7c5e3a1-d2f-4c6b-9a8e-1f2e3d4c5b6a\n", 2,
        "Protect.PodUIDs: invalid pod UID \"0b7c5e3a1-d2f-4c6b-9a8e-1f2e3d4c5b6a\" " UID_EXPECT);
    expect_only_error(
        "[Protect]\nPodUIDs=0b7c5e3a-1d2f-4c6b-9a8e-1f2e3d4c5b6g\n", 2,
        "Protect.PodUIDs: invalid pod UID \"0b7c5e3a-1d2f-4c6b-9a8e-1f2e3d4c5b6g\" " UID_EXPECT);
    expect_only_error(
        "[Protect]\nPodUIDs=0b7c5e3a-1d2f-4c6b-9a8e-1f2e3d4c5b6aa\n", 2,
        "Protect.PodUIDs: invalid pod UID \"0b7c5e3a-1d2f-4c6b-9a8e-1f2e3d4c5b6aa\" " UID_EXPECT);
    /* The kubelet's underscore spelling from systemd slice names is not a UID. */
    expect_only_error(
        "[Protect]\nPodUIDs=0b7c5e3a_1d2f_4c6b_9a8e_1f2e3d4c5b6a\n", 2,
        "Protect.PodUIDs: invalid pod UID \"0b7c5e3a_1d2f_4c6b_9a8e_1f2e3d4c5b6a\" " UID_EXPECT);
}
END_TEST

START_TEST(test_copy) {
    gl_config copy;

    write_file("guardlet.conf",
               "[Protect]\nNamespaces=a b c\nPodUIDs=" UID_A " " UID_B "\n[Guard]\nNodeName=n\n");
    load_ok();
    ck_assert_int_eq(gl_config_copy(&copy, &cfg), 0);
    gl_config_free(&cfg); /* the copy owns its own memory */
    ck_assert_str_eq(copy.guard.node_name, "n");
    ck_assert_uint_eq(copy.protect.n_namespaces, 3);
    ck_assert_str_eq(copy.protect.namespaces[2], "c");
    ck_assert_uint_eq(copy.protect.n_pod_uids, 2);
    ck_assert_str_eq(copy.protect.pod_uids[1], UID_B);
    ck_assert_str_eq(copy.pools.default_pool, "standard");
    ck_assert_uint_eq(copy.pools.n_rules, 2);
    ck_assert_str_eq(gl_config_pool_for(&copy, 64 * GI, 8), "highmem");
    gl_config_free(&copy);
}
END_TEST

START_TEST(test_errors_api) {
    gl_config_errors e = {0};

    for (unsigned i = 0; i < 20; i++)
        ck_assert_int_eq(gl_config_errors_add(&e, "f", i, "message %u", i), 0);
    ck_assert_uint_eq(e.n, 20);
    ck_assert_str_eq(e.v[19].message, "message 19");
    ck_assert_str_eq(e.v[19].file, "f");
    ck_assert_int_eq(gl_config_errors_add(&e, NULL, 0, "x"), 0);
    ck_assert_str_eq(e.v[20].file, "");
    gl_config_errors_free(&e);
    ck_assert_uint_eq(e.n, 0);
    gl_config_errors_free(NULL);

    /* Errors are appended to what the caller already has, and a NULL list is allowed. */
    ck_assert_int_eq(gl_config_errors_add(&errs, "earlier", 1, "kept"), 0);
    write_file("guardlet.conf", "[Guard]\nMode=x\n");
    ck_assert_int_eq(load(), -EINVAL);
    ck_assert_uint_eq(errs.n, 2);
    ck_assert_str_eq(errs.v[0].message, "kept");
    {
        gl_config_source src = {.path = main_path};

        ck_assert_int_eq(gl_config_load(&src, &cfg, NULL), -EINVAL);
    }
}
END_TEST

START_TEST(test_nul_character) {
    static const char content[] = "[Guard]\nMode=dry\0run\nInterval=2\n";

    write_main_bytes(content, sizeof(content) - 1);
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, NULL, 2, "line contains a NUL character");
    expect_error(1, NULL, 3,
                 "Guard.Interval: invalid duration \"2\" (expected a number with a unit us, ms, s, "
                 "min, h or d, such as 500ms, 2s or 1min 30s)");
    ck_assert_uint_eq(errs.n, 2);
}
END_TEST

START_TEST(test_huge_file) {
    size_t len = 1024 * 1024 + 1;
    char *content = malloc(len);

    ck_assert_ptr_nonnull(content);
    memset(content, '\n', len);
    write_main_bytes(content, len);
    free(content);
    ck_assert_int_eq(load(), -EINVAL);
    expect_error(0, NULL, 0, "file is larger than 1048576 bytes");
    ck_assert_uint_eq(errs.n, 1);
}
END_TEST

START_TEST(test_control_characters_quoted) {
    expect_only_error("[Guard]\nMode=\x1b[31mred\n", 2,
                      "Guard.Mode: invalid mode \"\\x1b[31mred\" (expected enforce or dry-run)");
}
END_TEST

static Suite *config_suite(void) {
    Suite *s = suite_create("config");
    TCase *load_tc = tcase_create("load");
    TCase *errors_tc = tcase_create("errors");
    TCase *model_tc = tcase_create("model");

    tcase_add_checked_fixture(load_tc, setup, teardown);
    tcase_add_test(load_tc, test_defaults_without_file);
    tcase_add_test(load_tc, test_init_defaults_and_free);
    tcase_add_test(load_tc, test_contract_sample_parses);
    tcase_add_test(load_tc, test_full_file);
    tcase_add_test(load_tc, test_dropin_order);
    tcase_add_test(load_tc, test_dropins_without_main_file);
    tcase_add_test(load_tc, test_later_file_may_repeat_key);
    tcase_add_test(load_tc, test_set_overrides);
    tcase_add_test(load_tc, test_comments_and_layout);
    tcase_add_test(load_tc, test_indented_key_is_not_continuation);
    suite_add_tcase(s, load_tc);

    tcase_add_checked_fixture(errors_tc, setup, teardown);
    tcase_add_test(errors_tc, test_unknown_section);
    tcase_add_test(errors_tc, test_unknown_key);
    tcase_add_test(errors_tc, test_key_outside_section);
    tcase_add_test(errors_tc, test_bad_values);
    tcase_add_test(errors_tc, test_string_validators);
    tcase_add_test(errors_tc, test_duplicate_key);
    tcase_add_test(errors_tc, test_syntax_errors);
    tcase_add_test(errors_tc, test_too_long_line);
    tcase_add_test(errors_tc, test_line_at_limit);
    tcase_add_test(errors_tc, test_many_errors_in_one_file);
    tcase_add_test(errors_tc, test_errors_in_several_files);
    tcase_add_test(errors_tc, test_bad_set);
    tcase_add_test(errors_tc, test_cross_field);
    tcase_add_test(errors_tc, test_cross_field_across_sources);
    tcase_add_test(errors_tc, test_cross_field_skips);
    tcase_add_test(errors_tc, test_missing_required_file);
    tcase_add_test(errors_tc, test_unreadable_file);
    tcase_add_test(errors_tc, test_control_characters_quoted);
    tcase_add_test(errors_tc, test_nul_character);
    tcase_add_test(errors_tc, test_huge_file);
    suite_add_tcase(s, errors_tc);

    tcase_add_checked_fixture(model_tc, setup, teardown);
    tcase_add_test(model_tc, test_rules_append_and_clear);
    tcase_add_test(model_tc, test_rule_errors);
    tcase_add_test(model_tc, test_pool_for);
    tcase_add_test(model_tc, test_namespaces);
    tcase_add_test(model_tc, test_pod_uids);
    tcase_add_test(model_tc, test_pod_uid_errors);
    tcase_add_test(model_tc, test_copy);
    tcase_add_test(model_tc, test_errors_api);
    suite_add_tcase(s, model_tc);
    return s;
}

GL_TEST_MAIN(config_suite)
