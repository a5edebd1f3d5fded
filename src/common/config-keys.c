/* config-keys.c: guardlet's config keys with their defaults, value parsers and cross-field checks.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config-internal.h"

#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC  UINT64_C(1000000)
#define USEC_PER_MIN  (60 * USEC_PER_SEC)
#define USEC_PER_HOUR (60 * USEC_PER_MIN)

/* A unix socket path must fit in sun_path with its terminating NUL; bind() fails otherwise, and
 * that is better found by --check-config than at start-up. */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == 108, "update the message below");

#define FIELD(c, k, type) ((type *)(void *)((char *)(c) + (k)->offset))

/* Character classes by hand: ctype.h follows the locale and config must mean the same everywhere.
 */
static bool is_digit(char ch) {
    return ch >= '0' && ch <= '9';
}

static bool is_lower_alnum(char ch) {
    return (ch >= 'a' && ch <= 'z') || is_digit(ch);
}

static bool is_alnum(char ch) {
    return is_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

static bool is_space(char ch) {
    return ch == ' ' || ch == '\t';
}

static char to_lower(char ch) {
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool equal_nocase(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (to_lower(*a) != to_lower(*b))
            return false;
    return *a == *b;
}

/* One DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters. Host names may also use
 * upper case, Kubernetes names may not. */
static bool dns_label_valid(const char *s, size_t len, bool upper) {
    if (len == 0 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool alnum = upper ? is_alnum(s[i]) : is_lower_alnum(s[i]);

        if (!alnum && (s[i] != '-' || i == 0 || i == len - 1))
            return false;
    }
    return true;
}

/* A DNS-1123 subdomain: dot-separated labels, at most 253 characters (Kubernetes node names,
 * label key prefixes). */
static bool dns_subdomain_valid(const char *s, size_t len, bool upper) {
    size_t start = 0;

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (!dns_label_valid(s + start, i - start, upper))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* The name part of a label key, and a label value: (([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]),
 * at most 63 characters. Empty is rejected here; callers that allow empty say so. */
static bool label_name_valid(const char *s, size_t len) {
    if (len == 0 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool inner = s[i] == '-' || s[i] == '_' || s[i] == '.';

        if (!is_alnum(s[i]) && (!inner || i == 0 || i == len - 1))
            return false;
    }
    return true;
}

static bool label_key_valid(const char *s) {
    const char *slash = strchr(s, '/');

    if (!slash)
        return label_name_valid(s, strlen(s));
    return dns_subdomain_valid(s, (size_t)(slash - s), false) &&
           label_name_valid(slash + 1, strlen(slash + 1));
}

static bool annotation_valid(const char *s) {
    return *s == '\0' || label_key_valid(s);
}

static bool pool_name_valid(const char *s) {
    return label_name_valid(s, strlen(s));
}

static bool pool_name_or_empty_valid(const char *s) {
    return *s == '\0' || pool_name_valid(s);
}

static bool node_name_valid(const char *s) {
    return *s == '\0' || dns_subdomain_valid(s, strlen(s), false);
}

static bool namespace_valid(const char *s) {
    return dns_label_valid(s, strlen(s), false);
}

static bool no_control_chars(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* Relative paths would depend on the daemon's working directory, which systemd sets to "/". */
static bool abs_path_valid(const char *s) {
    return s[0] == '/' && no_control_chars(s);
}

static bool abs_path_or_empty_valid(const char *s) {
    return *s == '\0' || abs_path_valid(s);
}

/* Empty switches the status socket off (guardletctl then cannot inspect the daemon). */
static bool socket_path_valid(const char *s) {
    return !s[0] || (abs_path_valid(s) && strlen(s) <= SOCKET_PATH_MAX);
}

/* "127.0.0.1:9847", "[::1]:9847", "localhost:9847". An empty host is refused: listening on every
 * address exposes the metrics endpoint to the network, so that must be spelled out ("0.0.0.0").
 * Port 0 asks the kernel for a free port (tests; the address is logged). */
static bool listen_valid(const char *s) {
    const char *colon = strrchr(s, ':');
    char host[256];
    size_t host_len;
    unsigned port = 0;
    unsigned char addr[16];
    bool dotted_digits = true;

    if (*s == '\0')
        return true;
    if (!colon || colon[1] == '\0' || strlen(colon + 1) > 5)
        return false;
    for (const char *p = colon + 1; *p; p++) {
        if (!is_digit(*p))
            return false;
        port = port * 10 + (unsigned)(*p - '0');
    }
    if (port > 65535)
        return false;

    host_len = (size_t)(colon - s);
    if (host_len == 0 || host_len >= sizeof(host))
        return false;
    if (s[0] == '[') {
        if (host_len < 3 || s[host_len - 1] != ']')
            return false;
        memcpy(host, s + 1, host_len - 2);
        host[host_len - 2] = '\0';
        return inet_pton(AF_INET6, host, addr) == 1;
    }
    memcpy(host, s, host_len);
    host[host_len] = '\0';
    if (inet_pton(AF_INET, host, addr) == 1)
        return true;
    /* "999.0.0.1" is a mistyped address, not a host name. */
    for (size_t i = 0; i < host_len; i++)
        if (!is_digit(host[i]) && host[i] != '.')
            dotted_digits = false;
    return !dotted_digits && dns_subdomain_valid(host, host_len, true);
}

const char *gl_config_quote(const char *value, char *buf, size_t len) {
    /* Long enough for any sensible value; a longer one is shortened with "...". */
    const size_t shown_max = 80;
    size_t o = 0, shown = 0;

    if (len < 8) {
        if (len > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (const char *p = value ? value : ""; *p; p++, shown++) {
        unsigned char ch = (unsigned char)*p;
        char piece[8];
        size_t n;

        if (shown == shown_max) {
            snprintf(piece, sizeof(piece), "...");
            p += strlen(p) - 1;
        } else if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\') {
            snprintf(piece, sizeof(piece), ch == '"' || ch == '\\' ? "\\%c" : "\\x%02x", ch);
        } else {
            piece[0] = (char)ch;
            piece[1] = '\0';
        }
        n = strlen(piece);
        if (o + n + 2 > len)
            break;
        memcpy(buf + o, piece, n);
        o += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

#define QUOTE(v) gl_config_quote((v), (char[GL_CONFIG_MSG_MAX / 4]){0}, GL_CONFIG_MSG_MAX / 4)

static int parse_string(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                        size_t len) {
    char **field = FIELD(c, k, char *);
    char *copy;

    if (!k->valid(value)) {
        snprintf(msg, len, "invalid value %s (expected %s)", QUOTE(value), k->expect);
        return -EINVAL;
    }
    copy = strdup(value);
    if (!copy)
        return -ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

static int parse_mode(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                      size_t len) {
    gl_mode *field = FIELD(c, k, gl_mode);

    if (strcmp(value, "enforce") == 0)
        *field = GL_MODE_ENFORCE;
    else if (strcmp(value, "dry-run") == 0)
        *field = GL_MODE_DRY_RUN;
    else {
        snprintf(msg, len, "invalid mode %s (expected enforce or dry-run)", QUOTE(value));
        return -EINVAL;
    }
    return 0;
}

static int parse_bool(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                      size_t len) {
    if (gl_parse_bool(value, FIELD(c, k, bool)) < 0) {
        snprintf(msg, len, "invalid boolean %s (expected yes or no)", QUOTE(value));
        return -EINVAL;
    }
    return 0;
}

/* "from 100ms to 1min", "at least 1", "at most 1h" for out-of-range messages, or k->expect. */
static void range_describe(const gl_config_key *k, char *(*fmt)(uint64_t, char *, size_t),
                           char *buf, size_t len) {
    char lo[32], hi[32];

    if (k->expect)
        snprintf(buf, len, "%s", k->expect);
    else if (k->min > 0 && k->max < UINT64_MAX)
        snprintf(buf, len, "from %s to %s", fmt(k->min, lo, sizeof(lo)),
                 fmt(k->max, hi, sizeof(hi)));
    else if (k->min > 0)
        snprintf(buf, len, "at least %s", fmt(k->min, lo, sizeof(lo)));
    else if (k->max < UINT64_MAX)
        snprintf(buf, len, "at most %s", fmt(k->max, hi, sizeof(hi)));
    else
        snprintf(buf, len, "a smaller value");
}

static char *format_u64(uint64_t v, char *buf, size_t len) {
    snprintf(buf, len, "%" PRIu64, v);
    return buf;
}

static char *format_bp(uint64_t bp, char *buf, size_t len) {
    return gl_format_percent((uint32_t)bp, buf, len);
}

static int duration_get(const gl_config_key *k, const char *value, uint64_t *out, char *msg,
                        size_t len) {
    char range[128];
    int r = gl_parse_duration(value, out);

    if (r == -EINVAL) {
        snprintf(msg, len,
                 "invalid duration %s (expected a number with a unit us, ms, s, min, h or d, "
                 "such as 500ms, 2s or 1min 30s)",
                 QUOTE(value));
        return -EINVAL;
    }
    if (r < 0 || *out < k->min || *out > k->max) {
        range_describe(k, gl_format_duration, range, sizeof(range));
        snprintf(msg, len, "duration %s is out of range (expected %s)", QUOTE(value), range);
        return -EINVAL;
    }
    return 0;
}

static int parse_duration(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                          size_t len) {
    uint64_t v;
    int r = duration_get(k, value, &v, msg, len);

    if (r < 0)
        return r;
    *FIELD(c, k, uint64_t) = v;
    return 0;
}

/* Kubernetes takes an eviction's grace period in whole seconds; rounding "1500ms" silently would
 * give the pod less (or more) time than the operator wrote. */
static int parse_seconds(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                         size_t len) {
    uint64_t v;
    int r = duration_get(k, value, &v, msg, len);

    if (r < 0)
        return r;
    if (v % USEC_PER_SEC != 0) {
        snprintf(msg, len,
                 "duration %s is not a whole number of seconds (Kubernetes takes the grace period "
                 "in seconds)",
                 QUOTE(value));
        return -EINVAL;
    }
    *FIELD(c, k, uint64_t) = v;
    return 0;
}

static int parse_quantity(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                          size_t len) {
    gl_quantity q;
    int r = gl_parse_quantity(value, &q);

    if (r == -ERANGE) {
        snprintf(msg, len,
                 "quantity %s is out of range (expected a percentage up to 100%% or fewer than "
                 "2^64 bytes)",
                 QUOTE(value));
        return -EINVAL;
    }
    if (r < 0) {
        snprintf(msg, len,
                 "invalid quantity %s (expected bytes with Ki, Mi, Gi or Ti, or a percentage such "
                 "as 8%%)",
                 QUOTE(value));
        return -EINVAL;
    }
    *FIELD(c, k, gl_quantity) = q;
    return 0;
}

static int parse_percent(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                         size_t len) {
    char range[128];
    uint32_t bp;
    int r = gl_parse_percent(value, &bp);

    if (r == -EINVAL) {
        snprintf(msg, len,
                 "invalid percentage %s (expected a percentage with at most two decimals, such as "
                 "40%% or 7.5%%)",
                 QUOTE(value));
        return -EINVAL;
    }
    if (r < 0 || bp < k->min || bp > k->max) {
        range_describe(k, format_bp, range, sizeof(range));
        snprintf(msg, len, "percentage %s is out of range (expected %s)", QUOTE(value), range);
        return -EINVAL;
    }
    *FIELD(c, k, uint32_t) = bp;
    return 0;
}

static int parse_bytes(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                       size_t len) {
    char range[128];
    uint64_t v;
    int r = gl_parse_bytes(value, &v);

    if (r == -EINVAL) {
        snprintf(msg, len,
                 "invalid size %s (expected bytes, plain or with Ki, Mi, Gi or Ti, such as 1Mi)",
                 QUOTE(value));
        return -EINVAL;
    }
    if (r < 0 || v < k->min || v > k->max) {
        range_describe(k, gl_format_bytes, range, sizeof(range));
        snprintf(msg, len, "size %s is out of range (expected %s)", QUOTE(value), range);
        return -EINVAL;
    }
    *FIELD(c, k, uint64_t) = v;
    return 0;
}

static int parse_u32(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                     size_t len) {
    char range[128];
    uint64_t v;
    int r = gl_parse_u64(value, &v);

    range_describe(k, format_u64, range, sizeof(range));
    if (r == -EINVAL) {
        snprintf(msg, len, "invalid number %s (expected %s)", QUOTE(value), range);
        return -EINVAL;
    }
    if (r < 0 || v < k->min || v > k->max || v > UINT32_MAX) {
        snprintf(msg, len, "number %s is out of range (expected %s)", QUOTE(value), range);
        return -EINVAL;
    }
    *FIELD(c, k, uint32_t) = (uint32_t)v;
    return 0;
}

static int parse_i64(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                     size_t len) {
    int r = gl_parse_i64(value, FIELD(c, k, int64_t));

    if (r == -EINVAL) {
        snprintf(msg, len, "invalid number %s (expected a whole number such as 2000000000)",
                 QUOTE(value));
        return -EINVAL;
    }
    if (r < 0) {
        snprintf(msg, len, "number %s is out of range (expected a 64-bit signed integer)",
                 QUOTE(value));
        return -EINVAL;
    }
    return 0;
}

static void strv_free(char **v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* A pod UID as the kubelet names pods: lowercase 8-4-4-4-12 hex. Upper case is refused rather
 * than folded, because the UIDs guardlet compares against (from cgroup names and the API server)
 * are always lowercase, and a silently folded entry would hide a copy-paste from elsewhere. */
static bool pod_uid_valid(const char *s) {
    static const size_t dashes[] = {8, 13, 18, 23};
    size_t len = strlen(s), d = 0;

    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (d < 4 && i == dashes[d]) {
            if (s[i] != '-')
                return false;
            d++;
        } else if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
            return false;
        }
    }
    return true;
}

/*
 * A list of words separated by commas and/or blanks, each checked by valid(); on a bad word msg
 * says "invalid WHAT "word" (expected EXPECT)". The new list replaces *v and *n, so a drop-in can
 * also shorten a list; an empty value makes it empty. On error *v and *n are untouched.
 */
static int strv_parse(const char *value, bool (*valid)(const char *), const char *what,
                      const char *expect, char ***v_out, size_t *n_out, char *msg, size_t len) {
    char **v = NULL;
    size_t n = 0;
    const char *p = value;

    for (;;) {
        const char *start;
        char *item, **grown;

        while (*p == ',' || is_space(*p))
            p++;
        if (*p == '\0')
            break;
        start = p;
        while (*p && *p != ',' && !is_space(*p))
            p++;
        item = strndup(start, (size_t)(p - start));
        if (!item) {
            strv_free(v, n);
            return -ENOMEM;
        }
        if (!valid(item)) {
            snprintf(msg, len, "invalid %s %s (expected %s)", what, QUOTE(item), expect);
            free(item);
            strv_free(v, n);
            return -EINVAL;
        }
        grown = realloc(v, (n + 1) * sizeof(*v));
        if (!grown) {
            free(item);
            strv_free(v, n);
            return -ENOMEM;
        }
        v = grown;
        v[n++] = item;
    }
    strv_free(*v_out, *n_out);
    *v_out = v;
    *n_out = n;
    return 0;
}

/* "kube-system, monitoring logging"; an empty value protects no namespace by name. */
static int parse_namespaces(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                            size_t len) {
    (void)k;
    return strv_parse(value, namespace_valid, "namespace",
                      "lowercase letters, digits and '-', at most 63 characters, starting and "
                      "ending with a letter or digit",
                      &c->protect.namespaces, &c->protect.n_namespaces, msg, len);
}

/* "0b7c5e3a-1d2f-4c6b-9a8e-1f2e3d4c5b6a, ..."; empty by default: no pod is protected by UID. */
static int parse_pod_uids(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                          size_t len) {
    (void)k;
    return strv_parse(value, pod_uid_valid, "pod UID",
                      "a lowercase UID of 8-4-4-4-12 hex digits such as "
                      "0b7c5e3a-1d2f-4c6b-9a8e-1f2e3d4c5b6a",
                      &c->protect.pod_uids, &c->protect.n_pod_uids, msg, len);
}

static const struct {
    const char *name;
    gl_pool_metric metric;
} pool_metrics[] = {
    {"memory-per-cpu", GL_POOL_METRIC_MEMORY_PER_CPU},
    {"memory", GL_POOL_METRIC_MEMORY},
    {"cpus", GL_POOL_METRIC_CPUS},
};

static const struct {
    const char *op;
    gl_cmp cmp;
} pool_cmps[] = {
    {">=", GL_CMP_GE}, {">", GL_CMP_GT}, {"<=", GL_CMP_LE}, {"<", GL_CMP_LT}, {"==", GL_CMP_EQ},
};

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/* A CPU count, "8" or "0.5", at most three decimals, in millicores. */
static int millicores_parse(const char *s, uint64_t *out) {
    uint64_t v = 0;
    unsigned decimals = 0;
    bool dot = false, any = false;

    for (; *s; s++) {
        if (*s == '.' && !dot && any) {
            dot = true;
            continue;
        }
        if (!is_digit(*s) || (dot && ++decimals > 3))
            return -EINVAL;
        any = true;
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
            return -ERANGE;
    }
    if (!any || (dot && decimals == 0))
        return -EINVAL;
    for (; decimals < 3; decimals++)
        if (__builtin_mul_overflow(v, 10, &v))
            return -ERANGE;
    *out = v;
    return 0;
}

/* A word of a rule: the run of characters until a blank (or the end). */
static const char *rule_word(const char **p, char *buf, size_t len, bool (*in_word)(char)) {
    size_t n = 0;

    while (is_space(**p))
        (*p)++;
    while (**p && in_word(**p)) {
        if (n + 1 < len)
            buf[n++] = **p;
        (*p)++;
    }
    buf[n] = '\0';
    return buf;
}

static bool is_metric_char(char ch) {
    return is_lower_alnum(ch) || ch == '-';
}

static bool is_op_char(char ch) {
    return ch == '<' || ch == '>' || ch == '=' || ch == '!';
}

static bool is_value_char(char ch) {
    return !is_space(ch);
}

static int rule_parse(const char *value, gl_pool_rule *rule, char *msg, size_t len) {
    const char *colon = strchr(value, ':'), *p;
    char metric[32], op[8], number[64];
    size_t name_len;
    bool found = false;
    int r;

    *rule = (gl_pool_rule){0};
    if (!colon) {
        snprintf(msg, len,
                 "invalid rule %s (expected NAME: METRIC OP VALUE such as \"highmem: "
                 "memory-per-cpu >= 6Gi\")",
                 QUOTE(value));
        return -EINVAL;
    }
    name_len = (size_t)(colon - value);
    while (name_len > 0 && is_space(value[name_len - 1]))
        name_len--;
    if (!label_name_valid(value, name_len)) {
        char name[GL_CONFIG_MSG_MAX / 4];

        snprintf(name, sizeof(name), "%.*s", (int)name_len, value);
        snprintf(msg, len,
                 "invalid pool name %s in rule (expected at most 63 letters, digits, '-', '_' or "
                 "'.', starting and ending with a letter or digit)",
                 QUOTE(name));
        return -EINVAL;
    }
    memcpy(rule->name, value, name_len);
    rule->name[name_len] = '\0';

    p = colon + 1;
    rule_word(&p, metric, sizeof(metric), is_metric_char);
    for (size_t i = 0; i < N_ELEMENTS(pool_metrics); i++)
        if (strcmp(metric, pool_metrics[i].name) == 0) {
            rule->metric = pool_metrics[i].metric;
            found = true;
        }
    if (!found) {
        snprintf(msg, len, "unknown metric %s in rule %s (expected memory-per-cpu, memory or cpus)",
                 QUOTE(metric), QUOTE(value));
        return -EINVAL;
    }

    found = false;
    rule_word(&p, op, sizeof(op), is_op_char);
    for (size_t i = 0; i < N_ELEMENTS(pool_cmps); i++)
        if (strcmp(op, pool_cmps[i].op) == 0) {
            rule->cmp = pool_cmps[i].cmp;
            found = true;
        }
    if (!found) {
        snprintf(msg, len, "unknown comparison %s in rule %s (expected >=, >, <=, < or ==)",
                 QUOTE(op), QUOTE(value));
        return -EINVAL;
    }

    rule_word(&p, number, sizeof(number), is_value_char);
    while (is_space(*p))
        p++;
    if (rule->metric == GL_POOL_METRIC_CPUS)
        r = millicores_parse(number, &rule->value);
    else
        r = gl_parse_bytes(number, &rule->value);
    if (r < 0 || *p != '\0') {
        snprintf(msg, len, "invalid value %s in rule %s (expected %s)", QUOTE(number), QUOTE(value),
                 rule->metric == GL_POOL_METRIC_CPUS
                     ? "a CPU count such as 8 or 0.5, at most three decimals"
                     : "bytes with Ki, Mi, Gi or Ti such as 6Gi");
        return -EINVAL;
    }
    return 0;
}

/* Rule= appends; an empty Rule= clears. The loader empties the built-in rules before the first
 * Rule= of a load (see gl_config_rules_clear()). */
static int parse_rule(gl_config *c, const gl_config_key *k, const char *value, char *msg,
                      size_t len) {
    gl_pool_rule rule;
    int r;

    (void)k;
    if (*value == '\0') {
        gl_config_rules_clear(c);
        return 0;
    }
    r = rule_parse(value, &rule, msg, len);
    if (r < 0)
        return r;
    if (c->pools.n_rules >= GL_POOL_RULES_MAX) {
        snprintf(msg, len, "too many rules at %s (at most %d; an empty Rule= clears the list)",
                 QUOTE(value), GL_POOL_RULES_MAX);
        return -EINVAL;
    }
    c->pools.rules[c->pools.n_rules++] = rule;
    return 0;
}

void gl_config_rules_clear(gl_config *c) {
    memset(c->pools.rules, 0, sizeof(c->pools.rules));
    c->pools.n_rules = 0;
}

/* KEY(section, name, parser, field, default, min, max, string check, expectation, list) */
#define KEY(sec, nm, fn, field, dflt, lo, hi, check, what, is_list)                                \
    { sec, nm, fn, offsetof(gl_config, field), lo, hi, check, what, dflt, is_list }
#define STRING(sec, nm, field, dflt, check, what)                                                  \
    KEY(sec, nm, parse_string, field, dflt, 0, 0, check, what, false)
#define DURATION(sec, nm, field, dflt, lo, hi)                                                     \
    KEY(sec, nm, parse_duration, field, dflt, lo, hi, NULL, NULL, false)
#define ANY_DURATION(sec, nm, field, dflt) DURATION(sec, nm, field, dflt, 0, UINT64_MAX)
#define BOOL(sec, nm, field, dflt)         KEY(sec, nm, parse_bool, field, dflt, 0, 0, NULL, NULL, false)
#define QUANTITY(sec, nm, field, dflt)                                                             \
    KEY(sec, nm, parse_quantity, field, dflt, 0, 0, NULL, NULL, false)
/* A percentage that something must exceed: 0% would fire on every sample, so it starts at
 * 0.01%. */
#define PERCENT_ABOVE(sec, nm, field, dflt)                                                        \
    KEY(sec, nm, parse_percent, field, dflt, 1, GL_PERCENT_BP_MAX, NULL,                           \
        "more than 0% and at most 100%", false)

/* Pool names are Kubernetes label values, since they become the node label's value. */
#define POOL_NAME_SYNTAX                                                                           \
    "a label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a "      \
    "letter or digit"

/* The keys in the contract's order, with the contract's defaults spelled as it spells them. */
const gl_config_key gl_config_keys[] = {
    STRING("Guard", "NodeName", guard.node_name, "", node_name_valid,
           "empty or a Kubernetes node name: lowercase letters, digits, '-' and '.', at most 253 "
           "characters"),
    KEY("Guard", "Mode", parse_mode, guard.mode, "enforce", 0, 0, NULL, NULL, false),
    /* Below 100ms the scan itself (every pod's cgroup files) becomes a noticeable load; above a
     * minute a fast leak exhausts the node between two looks. */
    DURATION("Guard", "Interval", guard.interval_usec, "1s", 100 * USEC_PER_MSEC, USEC_PER_MIN),
    /* Not in the contract's block: a steady ramp causes little stall, so PSI triggers rarely wake
     * the loop early, and at a 1 s tick earlyoom (100 ms polls when memory is low) acted 6x
     * sooner in the VM bench. While memory is short the node is looked at this often. */
    DURATION("Guard", "FastInterval", guard.fast_interval_usec, "200ms", 100 * USEC_PER_MSEC,
             USEC_PER_MIN),
    STRING("Guard", "CgroupRoot", guard.cgroup_root, "/sys/fs/cgroup", abs_path_valid,
           "an absolute path"),
    STRING("Guard", "ProcRoot", guard.proc_root, "/proc", abs_path_valid, "an absolute path"),
    STRING("Guard", "StatusSocket", guard.status_socket, "/run/guardlet/guardlet.sock",
           socket_path_valid,
           "empty, or an absolute path of at most 107 bytes, the limit of a unix socket"),
    STRING("Guard", "MetricsListen", guard.metrics_listen, "127.0.0.1:9847", listen_valid,
           "empty, or HOST:PORT with an IP address or host name and a port from 0 (any free port) "
           "to 65535, such as 127.0.0.1:9847"),
    /* Not in the contract's block: guardlet must not stall on its own page faults when the node
     * thrashes, so it is on unless turned off. */
    BOOL("Guard", "LockMemory", guard.lock_memory, "yes"),

    QUANTITY("Memory", "ThrottleBelow", memory.throttle_below, "15%"),
    QUANTITY("Memory", "EvictBelow", memory.evict_below, "8%"),
    QUANTITY("Memory", "KillBelow", memory.kill_below, "3%"),
    PERCENT_ABOVE("Memory", "PressureLimit", memory.pressure_limit_bp, "40%"),
    ANY_DURATION("Memory", "PressureDuration", memory.pressure_duration_usec, "10s"),

    PERCENT_ABOVE("CPU", "PressureLimit", cpu.pressure_limit_bp, "60%"),
    ANY_DURATION("CPU", "PressureDuration", cpu.pressure_duration_usec, "30s"),
    BOOL("CPU", "Evict", cpu.evict, "no"),

    /* The growth history is kept in memory for every pod, one sample per Interval; an hour is
     * already 36000 samples per pod at the shortest Interval, and slower leaks are LeakHorizon's
     * business rather than the window's. */
    DURATION("Runaway", "LeakWindow", runaway.leak_window_usec, "2min", 0, USEC_PER_HOUR),
    ANY_DURATION("Runaway", "LeakHorizon", runaway.leak_horizon_usec, "5min"),
    /* 0 would make every pod whose memory wiggles upward a leak; at least a byte per second. */
    KEY("Runaway", "MinGrowthRate", parse_bytes, runaway.min_growth_rate_bytes, "1Mi", 1,
        UINT64_MAX, NULL, "at least 1 byte per second", false),
    PERCENT_ABOVE("Runaway", "PidsAbove", runaway.pids_above_bp, "90%"),

    KEY("Actions", "EvictGracePeriod", parse_seconds, actions.evict_grace_period_usec, "30s", 0,
        UINT64_MAX, NULL, NULL, false),
    ANY_DURATION("Actions", "PostActionDelay", actions.post_action_delay_usec, "15s"),
    /* 0 means "never evict through the API server": an operator who writes 0 wants no evictions,
     * and if they meant "unlimited" instead, they get fewer disruptions, not more. The cap keeps a
     * mistyped extra digit from draining a node in a minute. */
    KEY("Actions", "MaxEvictionsPerMinute", parse_u32, actions.max_evictions_per_minute, "3", 0,
        1000, NULL, "a whole number from 0 (never evict) to 1000", false),
    ANY_DURATION("Actions", "EmergencyAfter", actions.emergency_after_usec, "10s"),
    BOOL("Actions", "Throttle", actions.throttle, "yes"),
    BOOL("Actions", "Freeze", actions.freeze, "no"),
    BOOL("Actions", "LocalKill", actions.local_kill, "yes"),

    KEY("Protect", "Namespaces", parse_namespaces, protect.namespaces, "kube-system", 0, 0, NULL,
        NULL, false),
    KEY("Protect", "PodUIDs", parse_pod_uids, protect.pod_uids, "", 0, 0, NULL, NULL, false),
    KEY("Protect", "MinPriority", parse_i64, protect.min_priority, "2000000000", 0, 0, NULL, NULL,
        false),
    STRING("Protect", "Annotation", protect.annotation, "guardlet.io/protected", annotation_valid,
           "empty, or an annotation key such as guardlet.io/protected"),

    STRING("Kubernetes", "Kubeconfig", kubernetes.kubeconfig, "", abs_path_or_empty_valid,
           "empty, or an absolute path"),
    BOOL("Kubernetes", "Events", kubernetes.events, "yes"),
    BOOL("Kubernetes", "NodeConditions", kubernetes.node_conditions, "yes"),

    STRING("Pools", "Label", pools.label, "guardlet.io/pool", label_key_valid,
           "a label key such as guardlet.io/pool"),
    STRING("Pools", "Pool", pools.pool, "", pool_name_or_empty_valid,
           "empty, or " POOL_NAME_SYNTAX),
    /* No default here: the built-in rules are a list (default_rules below). */
    KEY("Pools", "Rule", parse_rule, pools.rules, NULL, 0, 0, NULL, NULL, true),
    STRING("Pools", "Default", pools.default_pool, "standard", pool_name_valid, POOL_NAME_SYNTAX),
};

const size_t gl_config_n_keys = N_ELEMENTS(gl_config_keys);

static const char *const default_rules[] = {
    "highmem: memory-per-cpu >= 6Gi",
    "highcpu: memory-per-cpu <= 1Gi",
};

int gl_config_section_find(const char *section) {
    for (size_t i = 0; i < gl_config_n_keys; i++)
        if (strcmp(gl_config_keys[i].section, section) == 0)
            return (int)i;
    return -1;
}

int gl_config_key_find(const char *section, const char *name) {
    for (size_t i = 0; i < gl_config_n_keys; i++)
        if (strcmp(gl_config_keys[i].section, section) == 0 &&
            strcmp(gl_config_keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

void gl_config_section_hint(const char *section, char *buf, size_t len) {
    snprintf(buf, len, "%s", "");
    for (size_t i = 0; i < gl_config_n_keys; i++)
        if (equal_nocase(gl_config_keys[i].section, section)) {
            snprintf(buf, len, "; did you mean [%s]?", gl_config_keys[i].section);
            return;
        }
}

void gl_config_key_hint(const char *section, const char *name, char *buf, size_t len) {
    size_t o = 0;

    snprintf(buf, len, "%s", "");
    if (section) {
        for (size_t i = 0; i < gl_config_n_keys; i++)
            if (strcmp(gl_config_keys[i].section, section) == 0 &&
                equal_nocase(gl_config_keys[i].name, name)) {
                snprintf(buf, len, "; did you mean %s.%s?", section, gl_config_keys[i].name);
                return;
            }
    }
    /* Keys in the wrong section are a common slip (Evict= under [Memory]); name every section that
     * has such a key, since PressureLimit lives in two. */
    for (size_t i = 0; i < gl_config_n_keys && o < len; i++) {
        const gl_config_key *k = &gl_config_keys[i];

        if ((section && strcmp(k->section, section) == 0) || !equal_nocase(k->name, name))
            continue;
        o += (size_t)snprintf(buf + o, len - o, "%s%s.%s", o == 0 ? "; did you mean " : " or ",
                              k->section, k->name);
    }
    if (o > 0 && o + 1 < len)
        snprintf(buf + o, len - o, "?");
}

int gl_config_init_defaults(gl_config *c) {
    char msg[GL_CONFIG_MSG_MAX];
    const gl_config_key *rule_key = &gl_config_keys[gl_config_key_find("Pools", "Rule")];

    *c = (gl_config){0};
    for (size_t i = 0; i < gl_config_n_keys; i++) {
        const gl_config_key *k = &gl_config_keys[i];
        int r;

        if (!k->def)
            continue;
        r = k->parse(c, k, k->def, msg, sizeof(msg));
        assert(r != -EINVAL); /* the built-in defaults are valid, and the tests check it */
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < N_ELEMENTS(default_rules); i++) {
        int r = rule_key->parse(c, rule_key, default_rules[i], msg, sizeof(msg));

        assert(r == 0);
        if (r < 0)
            return r;
    }
    return 0;
}

static const gl_config_key *key_get(const char *section, const char *name, size_t *index) {
    int i = gl_config_key_find(section, name);

    assert(i >= 0);
    *index = (size_t)i;
    return &gl_config_keys[i];
}

/*
 * Reports one violated relation between keys a and b. The error goes to the line of whichever was
 * set later, because that is the edit that broke the relation; msg_a is used when a is the later
 * one, msg_b when b is. Nothing is reported when either value failed to parse (that error is
 * already out and the value in c is a stale one).
 */
static int relation_report(gl_config_errors *errs, const gl_config_origin *origins, size_t a,
                           size_t b, const char *msg_a, const char *msg_b) {
    const gl_config_origin *later = origins[a].seq >= origins[b].seq ? &origins[a] : &origins[b];

    if (origins[a].bad || origins[b].bad)
        return 0;
    return gl_config_errors_add(errs, later->file ? later->file : "(built-in defaults)",
                                later->line, "%s", later == &origins[a] ? msg_a : msg_b);
}

/* Bytes or basis points: comparable between two quantities of the same kind. */
static uint64_t quantity_raw(const gl_quantity *q) {
    return q->kind == GL_QTY_BYTES ? q->bytes : q->percent_bp;
}

/* ThrottleBelow > EvictBelow > KillBelow, compared only when both are of the same kind (bytes
 * against a percentage needs the node's capacity, known only at run time) and both set (0 turns a
 * level off). */
static int threshold_check(const gl_config *c, const gl_config_origin *origins,
                           gl_config_errors *errs, const char *upper_name, const char *lower_name,
                           const char *why) {
    size_t ui, li;
    const gl_config_key *uk = key_get("Memory", upper_name, &ui);
    const gl_config_key *lk = key_get("Memory", lower_name, &li);
    const gl_quantity *u = (const gl_quantity *)(const void *)((const char *)c + uk->offset);
    const gl_quantity *l = (const gl_quantity *)(const void *)((const char *)c + lk->offset);
    char us[32], ls[32], msg_u[GL_CONFIG_MSG_MAX], msg_l[GL_CONFIG_MSG_MAX];
    uint64_t uv, lv;

    if (u->kind != l->kind)
        return 0;
    uv = quantity_raw(u);
    lv = quantity_raw(l);
    if (uv == 0 || lv == 0 || lv < uv)
        return 0;
    gl_format_quantity(u, us, sizeof(us));
    gl_format_quantity(l, ls, sizeof(ls));
    snprintf(msg_u, sizeof(msg_u), "Memory.%s: %s must be above Memory.%s (%s): %s", upper_name, us,
             lower_name, ls, why);
    snprintf(msg_l, sizeof(msg_l), "Memory.%s: %s must be below Memory.%s (%s): %s", lower_name, ls,
             upper_name, us, why);
    return relation_report(errs, origins, ui, li, msg_u, msg_l);
}

/* A duration key that must span at least `factor` intervals. */
static int intervals_check(const gl_config *c, const gl_config_origin *origins,
                           gl_config_errors *errs, const char *section, const char *name,
                           uint64_t factor, const char *why) {
    size_t ii, di;
    const gl_config_key *dk = key_get(section, name, &di);
    uint64_t d = *(const uint64_t *)(const void *)((const char *)c + dk->offset);
    uint64_t interval = c->guard.interval_usec, need;
    char ds[32], is[32], msg_d[GL_CONFIG_MSG_MAX], msg_i[GL_CONFIG_MSG_MAX], times[32] = "";

    key_get("Guard", "Interval", &ii);
    if (__builtin_mul_overflow(interval, factor, &need) || d >= need)
        return 0;
    gl_format_duration(d, ds, sizeof(ds));
    gl_format_duration(interval, is, sizeof(is));
    if (factor > 1)
        snprintf(times, sizeof(times), "%" PRIu64 " times ", factor);
    snprintf(msg_d, sizeof(msg_d), "%s.%s: %s must be at least %sGuard.Interval (%s): %s", section,
             name, ds, times, is, why);
    snprintf(
        msg_i, sizeof(msg_i),
        "Guard.Interval: %s is too long for %s.%s (%s), which must be at least %sthe interval: %s",
        is, section, name, ds, times, why);
    return relation_report(errs, origins, di, ii, msg_d, msg_i);
}

/*
 * The relations checked are the ones whose violation silently turns guardlet into something the
 * operator did not ask for; everything else is left to the operator.
 */
int gl_config_validate(const gl_config *c, const gl_config_origin *origins,
                       gl_config_errors *errs) {
    int r;

    /* The levels escalate: throttling first, eviction (graceful, respects disruption budgets)
     * next, and the local kill only as the last resort. Out of order, a harsher action would
     * always fire before a gentler one ever could. */
    r = threshold_check(c, origins, errs, "ThrottleBelow", "EvictBelow",
                        "throttling must come before evictions");
    if (r >= 0)
        r = threshold_check(c, origins, errs, "EvictBelow", "KillBelow",
                            "evictions must come before local kills");
    /* ThrottleBelow against KillBelow directly only when EvictBelow cannot link them (it is off or
     * of the other kind); otherwise one bad value would be reported twice. */
    if (r >= 0 && (c->memory.evict_below.kind != c->memory.kill_below.kind ||
                   c->memory.evict_below.kind != c->memory.throttle_below.kind ||
                   quantity_raw(&c->memory.evict_below) == 0))
        r = threshold_check(c, origins, errs, "ThrottleBelow", "KillBelow",
                            "throttling must come before local kills");
    /* "Sustained for PressureDuration" needs at least one sample inside the duration; shorter,
     * a single PSI spike would count as sustained pressure. */
    if (r >= 0)
        r = intervals_check(c, origins, errs, "Memory", "PressureDuration", 1,
                            "pressure must last at least one scan to count as sustained");
    if (r >= 0)
        r = intervals_check(c, origins, errs, "CPU", "PressureDuration", 1,
                            "pressure must last at least one scan to count as sustained");
    /* A growth rate fitted to fewer than ten points is dominated by noise (page cache, garbage
     * collector cycles) and would call ordinary pods leaking. */
    if (r >= 0)
        r = intervals_check(c, origins, errs, "Runaway", "LeakWindow", 10,
                            "the growth rate needs at least 10 samples");
    /* The emergency kill is for an eviction that has not freed memory; judging that needs at
     * least one fresh sample after the eviction, or one spike would bring both. */
    if (r >= 0)
        r = intervals_check(c, origins, errs, "Actions", "EmergencyAfter", 1,
                            "whether the eviction freed memory must be seen in a later sample");
    return r < 0 ? r : 0;
}

static bool rule_matches(const gl_pool_rule *rule, uint64_t memory_bytes, unsigned cpus) {
    uint64_t v;

    switch (rule->metric) {
    case GL_POOL_METRIC_MEMORY_PER_CPU:
        /* Undefined without CPUs; such a rule cannot match rather than divide by zero. */
        if (cpus == 0)
            return false;
        v = memory_bytes / cpus;
        break;
    case GL_POOL_METRIC_MEMORY:
        v = memory_bytes;
        break;
    case GL_POOL_METRIC_CPUS:
        v = (uint64_t)cpus * 1000;
        break;
    default:
        return false;
    }
    switch (rule->cmp) {
    case GL_CMP_GE:
        return v >= rule->value;
    case GL_CMP_GT:
        return v > rule->value;
    case GL_CMP_LE:
        return v <= rule->value;
    case GL_CMP_LT:
        return v < rule->value;
    case GL_CMP_EQ:
        return v == rule->value;
    }
    return false;
}

const char *gl_config_pool_for(const gl_config *c, uint64_t memory_bytes, unsigned cpus) {
    if (c->pools.pool && c->pools.pool[0] != '\0')
        return c->pools.pool;
    for (size_t i = 0; i < c->pools.n_rules && i < GL_POOL_RULES_MAX; i++)
        if (rule_matches(&c->pools.rules[i], memory_bytes, cpus))
            return c->pools.rules[i].name;
    return c->pools.default_pool ? c->pools.default_pool : "";
}

bool gl_config_pod_uid_protected(const gl_config *c, const char *uid) {
    if (!c || !uid || !c->protect.pod_uids)
        return false;
    for (size_t i = 0; i < c->protect.n_pod_uids; i++)
        if (c->protect.pod_uids[i] && strcmp(c->protect.pod_uids[i], uid) == 0)
            return true;
    return false;
}

bool gl_config_namespace_protected(const gl_config *c, const char *ns) {
    if (!c || !ns || !c->protect.namespaces)
        return false;
    for (size_t i = 0; i < c->protect.n_namespaces; i++)
        if (c->protect.namespaces[i] && strcmp(c->protect.namespaces[i], ns) == 0)
            return true;
    return false;
}
