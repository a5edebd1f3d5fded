/* cgroup.c: finds the cgroup hierarchy and the kubepods tree under a root, and parses cgroup value
 * files. */
#include "guardlet/cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* v1 reports "no limit" as the largest page-aligned signed value (9223372036854771712); anything
 * this large is no real limit on any machine. */
#define V1_UNLIMITED_FLOOR (1ull << 62)

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *join(const char *a, const char *b) {
    char *s;
    return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

/* Sets *out to root/name when that directory exists. Returns -ENOMEM only. */
static int find_dir(const char *root, const char *name, char **out) {
    char *p = join(root, name);
    if (!p)
        return -ENOMEM;
    if (!is_dir(p)) {
        free(p);
        return 0;
    }
    *out = p;
    return 0;
}

bool gl_cgroup_layout_refresh_kubepods(gl_cgroup_layout *l) {
    static const struct {
        const char *name;
        bool systemd;
    } candidates[] = {{"kubepods.slice", true}, {"kubepods", false}};

    if (l->kubepods)
        return true;
    if (!l->memory)
        return false;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        char *p = join(l->memory, candidates[i].name);
        bool found = p && is_dir(p);
        free(p);
        if (found) {
            l->kubepods = strdup(candidates[i].name);
            l->systemd_driver = candidates[i].systemd;
            return l->kubepods != NULL;
        }
    }
    return false;
}

int gl_cgroup_layout_discover(const char *root, gl_cgroup_layout *out) {
    char *probe;
    struct stat st;
    int r = 0;

    memset(out, 0, sizeof(*out));
    out->root = strdup(root);
    if (!out->root)
        return -ENOMEM;

    /* Only the v2 hierarchy has cgroup.controllers in every directory, the root included. */
    if (!(probe = join(root, "cgroup.controllers")))
        goto nomem;
    bool v2 = stat(probe, &st) == 0;
    free(probe);

    if (v2) {
        out->version = GL_CGROUP_V2;
        if (!(out->memory = strdup(root)) || !(out->cpu = strdup(root)) ||
            !(out->cpuacct = strdup(root)) || !(out->pids = strdup(root)))
            goto nomem;
    } else {
        if ((r = find_dir(root, "memory", &out->memory)) < 0)
            goto nomem;
        /* Distributions co-mount cpu and cpuacct as "cpu,cpuacct" (with cpu and cpuacct as
         * symlinks); some mount them apart. */
        if ((r = find_dir(root, "cpu,cpuacct", &out->cpu)) < 0)
            goto nomem;
        if (!out->cpu && (r = find_dir(root, "cpu", &out->cpu)) < 0)
            goto nomem;
        if ((r = find_dir(root, "cpu,cpuacct", &out->cpuacct)) < 0)
            goto nomem;
        if (!out->cpuacct && (r = find_dir(root, "cpuacct", &out->cpuacct)) < 0)
            goto nomem;
        if ((r = find_dir(root, "pids", &out->pids)) < 0)
            goto nomem;
        out->version = out->memory ? GL_CGROUP_V1 : GL_CGROUP_NONE;
    }
    gl_cgroup_layout_refresh_kubepods(out);
    return 0;
nomem:
    gl_cgroup_layout_free(out);
    return -ENOMEM;
}

void gl_cgroup_layout_free(gl_cgroup_layout *l) {
    if (!l)
        return;
    free(l->root);
    free(l->memory);
    free(l->cpu);
    free(l->cpuacct);
    free(l->pids);
    free(l->kubepods);
    memset(l, 0, sizeof(*l));
}

/* Parses digits in [p, end) into *out. Returns 0 or -EBADMSG (empty, non-digit, overflow). */
static int parse_digits(const char *p, const char *end, uint64_t *out) {
    uint64_t v = 0;
    if (p == end)
        return -EBADMSG;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -EBADMSG;
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
            return -EBADMSG;
    }
    *out = v;
    return 0;
}

static size_t strip_newline(const char *buf, size_t len) {
    return len > 0 && buf[len - 1] == '\n' ? len - 1 : len;
}

int gl_cgroup_parse_u64(const char *buf, size_t len, uint64_t *out) {
    return parse_digits(buf, buf + strip_newline(buf, len), out);
}

int gl_cgroup_parse_limit(const char *buf, size_t len, uint64_t *out) {
    len = strip_newline(buf, len);
    if (len == 3 && memcmp(buf, "max", 3) == 0) {
        *out = GL_CGROUP_UNLIMITED;
        return 0;
    }
    uint64_t v;
    int r = parse_digits(buf, buf + len, &v);
    if (r < 0)
        return r;
    *out = v >= V1_UNLIMITED_FLOOR ? GL_CGROUP_UNLIMITED : v;
    return 0;
}

int gl_cgroup_kv_get(const char *buf, size_t len, const char *key, uint64_t *out) {
    size_t klen = strlen(key);
    const char *p = buf, *end = buf + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        /* Whole-key match: "file" must not match "file_mapped". */
        if ((size_t)(line_end - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == ' ')
            return parse_digits(p + klen + 1, line_end, out);
        p = nl ? nl + 1 : end;
    }
    return -ENOENT;
}
