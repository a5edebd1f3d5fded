/* render.c: turns the status socket's JSON answers into aligned text for people; guardletctl's
 * socket I/O lives in guardletctl.c. */
#include "render.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

/* The last few actions `status` lists, and how wide a detail sentence may run in a table. */
#define DETAIL_WIDTH 80

char *ctl_fmt_bytes(double bytes, char *buf, size_t len) {
    static const char *const units[] = {"Ki", "Mi", "Gi", "Ti", "Pi"};
    double v = bytes;
    int u = -1;

    while (fabs(v) >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%.0fB", v);
    else if (fabs(v - round(v)) < 0.05 || fabs(v) >= 100)
        snprintf(buf, len, "%.0f%s", v, units[u]);
    else
        snprintf(buf, len, "%.1f%s", v, units[u]);
    return buf;
}

static char *fmt_seconds(double s, char *buf, size_t len) {
    if (!isfinite(s) || s < 0)
        snprintf(buf, len, "-");
    else if (s < 10)
        snprintf(buf, len, "%.1fs", s);
    else if (s < 120)
        snprintf(buf, len, "%.0fs", s);
    else if (s < 7200)
        snprintf(buf, len, "%.0fmin", s / 60);
    else if (s < 172800)
        snprintf(buf, len, "%.1fh", s / 3600);
    else
        snprintf(buf, len, "%.1fd", s / 86400);
    return buf;
}

/* Wall-clock seconds as local HH:MM:SS. */
static char *fmt_clock(double t, char *buf, size_t len) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (!isfinite(t) || !localtime_r(&tt, &tm) || !strftime(buf, len, "%H:%M:%S", &tm))
        snprintf(buf, len, "-");
    return buf;
}

static double num(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *str(const json_t *o, const char *key, const char *dflt) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static bool flag(const json_t *o, const char *key) {
    return json_is_true(json_object_get(o, key));
}

static char *fmt_bytes_or(const json_t *o, const char *key, const char *none, char *buf,
                          size_t len) {
    double v = num(o, key);
    if (isnan(v))
        snprintf(buf, len, "%s", none);
    else
        ctl_fmt_bytes(v, buf, len);
    return buf;
}

/* "namespace/name" when known, else the UID. */
static char *pod_name(const json_t *p, char *buf, size_t len) {
    const char *ns = str(p, "namespace", NULL), *name = str(p, "name", NULL);
    if (ns && name)
        snprintf(buf, len, "%s/%s", ns, name);
    else
        snprintf(buf, len, "%s", str(p, "uid", "?"));
    return buf;
}

static char *join_words(const json_t *a, char *buf, size_t len) {
    size_t i, used = 0;
    const json_t *w;

    buf[0] = '\0';
    json_array_foreach(a, i, w) {
        int r = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", json_string_value(w));
        if (r < 0 || (size_t)r >= len - used)
            break;
        used += (size_t)r;
    }
    return buf;
}

static const char *outcome_word(const json_t *a) {
    const char *skip = str(a, "skip", NULL);
    if (skip && strcmp(skip, "dry-run") != 0)
        return skip; /* protected, rate-limited, blocked, ... */
    if (flag(a, "dry_run"))
        return "dry-run";
    return str(a, "outcome", "?");
}

static void actions_table(const json_t *actions, FILE *out, const char *indent) {
    size_t i;
    const json_t *a;

    if (json_array_size(actions) == 0) {
        fprintf(out, "%snone\n", indent);
        return;
    }
    fprintf(out, "%s%-8s  %-7s  %-15s  %-16s  %-40s  %-13s  %s\n", indent, "TIME", "AGO", "ACTION",
            "REASON", "POD", "OUTCOME", "DETAIL");
    json_array_foreach(actions, i, a) {
        char t[16], ago[16], pod[320], detail[DETAIL_WIDTH + 4];
        const char *d = str(a, "detail", "");
        snprintf(detail, sizeof(detail), "%.*s%s", DETAIL_WIDTH, d,
                 strlen(d) > DETAIL_WIDTH ? "..." : "");
        fprintf(out, "%s%-8s  %-7s  %-15s  %-16s  %-40s  %-13s  %s\n", indent,
                fmt_clock(num(a, "time"), t, sizeof(t)),
                fmt_seconds(num(a, "seconds_ago"), ago, sizeof(ago)), str(a, "action", "?"),
                str(a, "reason", "?"), pod_name(a, pod, sizeof(pod)), outcome_word(a), detail);
    }
}

static char *psi_text(const json_t *psi, const char *res, char *buf, size_t len) {
    const json_t *r = json_object_get(psi, res);
    if (!json_is_object(r))
        snprintf(buf, len, "n/a");
    else if (json_is_number(json_object_get(r, "full_avg10")))
        snprintf(buf, len, "%.2f%% some, %.2f%% full", num(r, "some_avg10"), num(r, "full_avg10"));
    else
        snprintf(buf, len, "%.2f%% some", num(r, "some_avg10"));
    return buf;
}

static int render_status(const json_t *j, FILE *out) {
    const json_t *node = json_object_get(j, "node"), *mem = json_object_get(node, "memory");
    const json_t *api = json_object_get(j, "api"), *pr = json_object_get(j, "pressure");
    const json_t *psi = json_object_get(node, "psi"), *last = json_object_get(j, "last_tick");
    char avail[32], cap[32], ws[32], thr[32], evi[32], kil[32], up[32], iv[32], ago[32];
    char pm[64], pc[64], pi[64];

    if (!json_is_object(node) || !json_is_object(mem) || !json_is_object(api) ||
        !json_is_object(pr))
        return -EBADMSG;
    fmt_bytes_or(mem, "available_bytes", "?", avail, sizeof(avail));
    fmt_bytes_or(mem, "capacity_bytes", "?", cap, sizeof(cap));
    fmt_bytes_or(mem, "working_set_bytes", "?", ws, sizeof(ws));
    fmt_bytes_or(mem, "throttle_below_bytes", "?", thr, sizeof(thr));
    fmt_bytes_or(mem, "evict_below_bytes", "?", evi, sizeof(evi));
    fmt_bytes_or(mem, "kill_below_bytes", "?", kil, sizeof(kil));
    double capb = num(mem, "capacity_bytes"), avb = num(mem, "available_bytes");

    fprintf(out, "node:        %s (pool %s, %.0f CPUs, cgroup v%.0f)\n", str(node, "name", "?"),
            str(node, "pool", "?"), num(node, "cpus"), num(node, "cgroup_version"));
    fprintf(out, "guardlet:    %s, %s, up %s, %.0f ticks every %s, last %s ago\n",
            str(j, "version", "?"), str(j, "mode", "?"),
            fmt_seconds(num(j, "uptime_seconds"), up, sizeof(up)), num(j, "ticks"),
            fmt_seconds(num(j, "interval_seconds"), iv, sizeof(iv)),
            fmt_seconds(num(last, "seconds_ago"), ago, sizeof(ago)));
    if (strcmp(str(api, "mode", "local"), "api") != 0)
        fprintf(out, "api:         local mode (no API server: no pod names, no evictions)\n");
    else
        fprintf(out, "api:         %s, %.0f pods known%s%s%s\n",
                flag(api, "synced") ? "synced" : "not synced", num(api, "pods"),
                json_is_string(json_object_get(api, "last_error")) ? ", last error: " : "",
                str(api, "last_error", ""), flag(api, "can_evict") ? "" : ", cannot evict");
    fprintf(out, "memory:      available %s of %s (%.0f%%), working set %s\n", avail, cap,
            capb > 0 ? avb * 100 / capb : 0.0, ws);
    fprintf(out, "thresholds:  throttle below %s, evict below %s, kill below %s\n", thr, evi, kil);
    fprintf(out, "psi avg10:   memory %s; cpu %s; io %s\n", psi_text(psi, "memory", pm, sizeof(pm)),
            psi_text(psi, "cpu", pc, sizeof(pc)), psi_text(psi, "io", pi, sizeof(pi)));
    fprintf(out, "pressure:    memory level %s; memory PSI %s; CPU PSI %s; PIDs %s\n",
            str(pr, "memory_level", "?"), flag(pr, "memory_psi_sustained") ? "sustained" : "ok",
            flag(pr, "cpu_psi_sustained") ? "sustained" : "ok",
            flag(pr, "pid_pressure") ? "fork bomb stopped recently" : "ok");
    fprintf(out, "pods:        %.0f (%.0f protected)\n", num(j, "pods"), num(j, "protected_pods"));
    fprintf(out, "last actions:\n");
    actions_table(json_object_get(j, "recent_actions"), out, "  ");
    return 0;
}

static int render_pods(const json_t *j, FILE *out) {
    const json_t *pods = json_object_get(j, "pods"), *p;
    size_t i;

    if (!json_is_array(pods))
        return -EBADMSG;
    if (json_array_size(pods) == 0) {
        fprintf(out, "no pods on this node\n");
        return 0;
    }
    fprintf(out, "%-4s  %-40s  %-10s  %8s  %8s  %9s  %5s  %5s  %s\n", "RANK", "POD", "QOS",
            "WORKSET", "LIMIT", "GROWTH/s", "CPU", "PIDS", "PROTECTED");
    json_array_foreach(pods, i, p) {
        const json_t *mem = json_object_get(p, "memory"), *cpu = json_object_get(p, "cpu");
        char name[320], ws[32], lim[32], gr[32], prot[128];
        double g = num(mem, "growth_bytes_per_sec");
        if (isnan(g))
            snprintf(gr, sizeof(gr), "-");
        else
            ctl_fmt_bytes(g, gr, sizeof(gr));
        if (flag(p, "protected"))
            join_words(json_object_get(p, "protected_by"), prot, sizeof(prot));
        else
            snprintf(prot, sizeof(prot), "-");
        fprintf(out, "%-4.0f  %-40s  %-10s  %8s  %8s  %9s  %5.2f  %5.0f  %s\n", num(p, "rank"),
                pod_name(p, name, sizeof(name)), str(p, "qos", "?"),
                fmt_bytes_or(mem, "working_set_bytes", "?", ws, sizeof(ws)),
                fmt_bytes_or(mem, "limit_bytes", "none", lim, sizeof(lim)), gr,
                num(cpu, "usage_cores"), num(p, "pids"), prot);
    }
    return 0;
}

static int render_explain(const json_t *j, FILE *out) {
    const json_t *pod = json_object_get(j, "pod"), *rank = json_object_get(j, "rank");
    const json_t *cpu = json_object_get(j, "cpu"), *pr = json_object_get(j, "pressure");
    const json_t *hold = json_object_get(j, "hold"), *s;
    char name[320], first[320], words[128], ws[32], ex[32], tl[32], tn[32], left[32];
    size_t i;

    if (!json_is_object(pod) || !json_is_object(rank) || !json_is_object(pr))
        return -EBADMSG;
    pod_name(pod, name, sizeof(name));
    fprintf(out, "pod:         %s", name);
    if (strcmp(name, str(pod, "uid", "")) != 0)
        fprintf(out, " (uid %s)", str(pod, "uid", "?"));
    fprintf(out, ", %s\n", str(pod, "qos", "?"));
    fprintf(out, "verdict:     %s\n", str(j, "verdict", "?"));
    fprintf(out, "why:         %s\n", str(j, "summary", ""));
    if (flag(j, "protected"))
        fprintf(out, "protected:   yes, by %s\n",
                join_words(json_object_get(j, "protected_by"), words, sizeof(words)));
    else
        fprintf(out, "protected:   no\n");
    const json_t *f = json_object_get(rank, "first");
    fprintf(out, "rank:        %.0f of %.0f pods", num(rank, "position"), num(rank, "of"));
    if (json_is_number(json_object_get(rank, "candidate_position")))
        fprintf(out, "; candidate %.0f of %.0f", num(rank, "candidate_position"),
                num(rank, "candidates"));
    else
        fprintf(out, "; not a candidate");
    if (json_is_object(f))
        fprintf(out, "; first: %s", pod_name(f, first, sizeof(first)));
    fprintf(out, "\n");
    double prio = num(rank, "priority");
    char prio_s[32];
    if (isnan(prio))
        snprintf(prio_s, sizeof(prio_s), "unknown");
    else
        snprintf(prio_s, sizeof(prio_s), "%.0f", prio);
    fprintf(out,
            "compared:    runaway %s; over its request %s; priority %s; above request %s; "
            "working set %s\n",
            flag(rank, "runaway") ? "yes" : "no", flag(rank, "exceeds_request") ? "yes" : "no",
            prio_s, fmt_bytes_or(rank, "memory_excess_bytes", "?", ex, sizeof(ex)),
            fmt_bytes_or(rank, "working_set_bytes", "?", ws, sizeof(ws)));
    double to_limit = num(rank, "seconds_to_limit");
    double to_node = num(rank, "seconds_to_node_exhaustion");
    if (isnan(to_limit) && isnan(to_node))
        fprintf(out, "growth:      not growing toward its limit or the node's\n");
    else
        fprintf(out, "growth:      its limit in %s, the node's memory in %s at this rate\n",
                isnan(to_limit) ? "never" : fmt_seconds(to_limit, tl, sizeof(tl)),
                isnan(to_node) ? "never" : fmt_seconds(to_node, tn, sizeof(tn)));
    if (json_is_object(cpu)) {
        if (flag(cpu, "offender"))
            fprintf(out, "cpu:         %.0fm above its request, offender %.0f\n",
                    num(cpu, "excess_millicores"), num(cpu, "rank"));
        else
            fprintf(out, "cpu:         within its request\n");
    }
    fprintf(out, "memory:      level %s\n", str(pr, "memory_level", "?"));
    fprintf(out, "signals:\n");
    json_array_foreach(json_object_get(pr, "signals"), i, s) {
        const char *state = !flag(s, "active")     ? "clear"
                            : flag(s, "sustained") ? "sustained"
                                                   : "active";
        fprintf(out, "  %-16s  %-9s  %-17s  %s\n", str(s, "signal", "?"), state,
                json_is_string(json_object_get(s, "action")) ? str(s, "action", "") : "-",
                str(s, "detail", ""));
    }
    if (json_is_object(hold)) {
        double d = num(hold, "post_action_delay_left_seconds");
        fprintf(out, "held back:   post-action delay %s; evictions %.0f of %.0f this minute%s%s\n",
                d > 0 ? fmt_seconds(d, left, sizeof(left)) : "none",
                num(hold, "evictions_last_minute"), num(hold, "max_evictions_per_minute"),
                flag(hold, "rate_limited") ? " (rate-limited)" : "",
                flag(hold, "eviction_backoff") ? "; the Eviction API cannot take it now" : "");
    }
    const json_t *inf = json_object_get(pod, "in_force");
    if (json_is_object(inf)) {
        char buf[128] = "";
        const char *keys[] = {"memory_throttled", "cpu_throttled", "frozen", "eviction_pending",
                              "killed"};
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if (flag(inf, keys[k]))
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", buf[0] ? ", " : "",
                         keys[k]);
        fprintf(out, "in force:    %s\n", buf[0] ? buf : "nothing");
    }
    fprintf(out, "last actions on it:\n");
    actions_table(json_object_get(j, "recent_actions"), out, "  ");
    return 0;
}

int ctl_render_text(const char *command, const json_t *answer, FILE *out) {
    if (strcmp(command, "status") == 0)
        return render_status(answer, out);
    if (strcmp(command, "pods") == 0)
        return render_pods(answer, out);
    if (strcmp(command, "explain") == 0)
        return render_explain(answer, out);
    const json_t *a = json_object_get(answer, "actions");
    if (!json_is_array(a))
        return -EBADMSG;
    actions_table(a, out, "");
    return 0;
}
