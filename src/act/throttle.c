/* throttle.c: lowers a pod's memory.high and CPU quota, and puts the original values back. */
#include "guardlet/actuate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "act-internal.h"

/* The kernel refuses CPU quotas below 1 ms per period (cpu.max and cpu.cfs_quota_us alike). */
#define MIN_QUOTA_USEC 1000u

/* Limit files hold a short line; a page is far more than any of them needs. */
#define LIMIT_TEXT_MAX 64

static void limit_text(char *buf, size_t size, uint64_t v) {
    if (v == GL_ACT_UNLIMITED)
        snprintf(buf, size, "max");
    else
        snprintf(buf, size, "%" PRIu64, v);
}

int gl_act_memory_high(const gl_cgroup_layout *l, const char *cgroup, uint64_t bytes,
                       gl_act_saved *saved) {
    int r = gl_act_check_args(l, cgroup);
    if (r < 0)
        return r;
    /* cgroup v1 has no soft limit that throttles instead of killing: soft_limit_in_bytes only
     * steers global reclaim. Tightening limit_in_bytes would OOM-kill, which is not throttling. */
    if (l->version != GL_CGROUP_V2)
        return -EOPNOTSUPP;

    /* Only the first call saves, so a second tightening still restores the pod's own value. */
    if (saved && !saved->memory_high_saved) {
        char buf[LIMIT_TEXT_MAX];
        size_t len;
        uint64_t old;
        r = gl_act_read(l, GL_ACT_CTL_MEMORY, cgroup, "memory.high", buf, sizeof(buf), &len);
        if (r != 0)
            return r == GL_ACT_GONE ? 0 : r;
        r = gl_cgroup_parse_limit(buf, len, &old);
        if (r < 0)
            return r;
        saved->memory_high = old;
        saved->memory_high_saved = true;
    }

    char text[LIMIT_TEXT_MAX];
    limit_text(text, sizeof(text), bytes);
    r = gl_act_write(l, GL_ACT_CTL_MEMORY, cgroup, "memory.high", text);
    return r == GL_ACT_GONE ? 0 : r;
}

/* Parses v1's cpu.cfs_quota_us: -1 means no limit. */
static int parse_v1_quota(const char *buf, size_t len, uint64_t *out) {
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len == 2 && memcmp(buf, "-1", 2) == 0) {
        *out = GL_ACT_UNLIMITED;
        return 0;
    }
    return gl_cgroup_parse_u64(buf, len, out);
}

/* Parses v2's cpu.max: "<quota|max> <period>". */
static int parse_cpu_max(const char *buf, size_t len, uint64_t *quota, uint64_t *period) {
    const char *sp = memchr(buf, ' ', len);
    if (!sp)
        return -EBADMSG;
    size_t qlen = (size_t)(sp - buf);
    if (qlen == 3 && memcmp(buf, "max", 3) == 0)
        *quota = GL_ACT_UNLIMITED;
    else if (gl_cgroup_parse_u64(buf, qlen, quota) < 0)
        return -EBADMSG;
    return gl_cgroup_parse_u64(sp + 1, len - qlen - 1, period);
}

/* Reads the current quota and period of either version. */
static int read_cpu(const gl_cgroup_layout *l, const char *cgroup, uint64_t *quota,
                    uint64_t *period) {
    char buf[LIMIT_TEXT_MAX];
    size_t len;
    int r;

    if (l->version == GL_CGROUP_V2) {
        r = gl_act_read(l, GL_ACT_CTL_CPU, cgroup, "cpu.max", buf, sizeof(buf), &len);
        if (r != 0)
            return r;
        return parse_cpu_max(buf, len, quota, period);
    }
    r = gl_act_read(l, GL_ACT_CTL_CPU, cgroup, "cpu.cfs_period_us", buf, sizeof(buf), &len);
    if (r != 0)
        return r;
    if ((r = gl_cgroup_parse_u64(buf, len, period)) < 0)
        return r;
    r = gl_act_read(l, GL_ACT_CTL_CPU, cgroup, "cpu.cfs_quota_us", buf, sizeof(buf), &len);
    if (r != 0)
        return r;
    return parse_v1_quota(buf, len, quota);
}

int gl_act_cpu_max(const gl_cgroup_layout *l, const char *cgroup, uint32_t millicores,
                   gl_act_saved *saved) {
    int r = gl_act_check_args(l, cgroup);
    if (r < 0)
        return r;

    /* The current period is read every time (not only when saving): the quota is a share of
     * it, and the period is the pod's own, kept as it is. */
    uint64_t quota, period;
    r = read_cpu(l, cgroup, &quota, &period);
    if (r != 0)
        return r == GL_ACT_GONE ? 0 : r;
    if (period == 0)
        return -EBADMSG;
    if (saved && !saved->cpu_max_saved) {
        saved->cpu_quota_usec = quota;
        saved->cpu_period_usec = period;
        saved->cpu_max_saved = true;
    }

    /* uint32 millicores times a period of at most 1 s (10^6 us) cannot overflow 64 bits. */
    uint64_t new_quota = (uint64_t)millicores * period / 1000;
    if (new_quota < MIN_QUOTA_USEC)
        new_quota = MIN_QUOTA_USEC;

    char text[LIMIT_TEXT_MAX];
    if (l->version == GL_CGROUP_V2) {
        snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64, new_quota, period);
        r = gl_act_write(l, GL_ACT_CTL_CPU, cgroup, "cpu.max", text);
    } else {
        snprintf(text, sizeof(text), "%" PRIu64, new_quota);
        r = gl_act_write(l, GL_ACT_CTL_CPU, cgroup, "cpu.cfs_quota_us", text);
    }
    return r == GL_ACT_GONE ? 0 : r;
}

static int restore_cpu(const gl_cgroup_layout *l, const char *cgroup, const gl_act_saved *saved) {
    char text[LIMIT_TEXT_MAX];
    int r;

    if (l->version == GL_CGROUP_V2) {
        if (saved->cpu_quota_usec == GL_ACT_UNLIMITED)
            snprintf(text, sizeof(text), "max %" PRIu64, saved->cpu_period_usec);
        else
            snprintf(text, sizeof(text), "%" PRIu64 " %" PRIu64, saved->cpu_quota_usec,
                     saved->cpu_period_usec);
        return gl_act_write(l, GL_ACT_CTL_CPU, cgroup, "cpu.max", text);
    }

    /* v1 keeps quota and period in two files. gl_act_cpu_max never changes the period, so
     * writing it first is normally a no-op; it comes first so that the quota written next is
     * judged against the period it was saved with. */
    snprintf(text, sizeof(text), "%" PRIu64, saved->cpu_period_usec);
    r = gl_act_write(l, GL_ACT_CTL_CPU, cgroup, "cpu.cfs_period_us", text);
    if (r != 0)
        return r;
    if (saved->cpu_quota_usec == GL_ACT_UNLIMITED)
        snprintf(text, sizeof(text), "-1");
    else
        snprintf(text, sizeof(text), "%" PRIu64, saved->cpu_quota_usec);
    return gl_act_write(l, GL_ACT_CTL_CPU, cgroup, "cpu.cfs_quota_us", text);
}

int gl_act_restore(const gl_cgroup_layout *l, const char *cgroup, gl_act_saved *saved) {
    int r = gl_act_check_args(l, cgroup);
    if (r < 0)
        return r;
    if (!saved)
        return -EINVAL;

    /* Each value is cleared once it is back (or its cgroup is gone, or its file can never be
     * written: -EOPNOTSUPP), so a repeated restore does nothing, while one that failed for
     * another reason can be retried. */
    int first = 0;
    if (saved->memory_high_saved) {
        char text[LIMIT_TEXT_MAX];
        limit_text(text, sizeof(text), saved->memory_high);
        r = l->version == GL_CGROUP_V2
                ? gl_act_write(l, GL_ACT_CTL_MEMORY, cgroup, "memory.high", text)
                : -EOPNOTSUPP;
        if (r >= 0 || r == -EOPNOTSUPP)
            saved->memory_high_saved = false;
        if (r < 0)
            first = r;
    }
    if (saved->cpu_max_saved) {
        r = restore_cpu(l, cgroup, saved);
        if (r >= 0 || r == -EOPNOTSUPP)
            saved->cpu_max_saved = false;
        if (r < 0 && first == 0)
            first = r;
    }
    return first;
}
