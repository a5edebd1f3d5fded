/* meminfo.c: strict parser and reader for /proc/meminfo, and the kubelet's working-set arithmetic.
 */
#include "guardlet/meminfo.h"

#include "guardlet/fileio.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* /proc/meminfo is about 1.5 KiB today (some 55 lines of under 30 bytes). 16 KiB leaves room for
 * ten times as many keys from future kernels or architectures before the read fails with -EFBIG,
 * and is still small enough for the stack of a daemon that locks its memory. */
#define MEMINFO_BUF_SIZE (16 * 1024)

/* The keys we keep. Each has a bit in the "seen" mask so that a repeat is caught. */
typedef enum {
    KEY_MEM_TOTAL,
    KEY_MEM_FREE,
    KEY_MEM_AVAILABLE,
    KEY_INACTIVE_FILE,
    KEY_ACTIVE_FILE,
    KEY_SWAP_TOTAL,
    KEY_SWAP_FREE,
    KEY_N,
} meminfo_key;

static const char *const key_names[KEY_N] = {
    [KEY_MEM_TOTAL] = "MemTotal",         [KEY_MEM_FREE] = "MemFree",
    [KEY_MEM_AVAILABLE] = "MemAvailable", [KEY_INACTIVE_FILE] = "Inactive(file)",
    [KEY_ACTIVE_FILE] = "Active(file)",   [KEY_SWAP_TOTAL] = "SwapTotal",
    [KEY_SWAP_FREE] = "SwapFree",
};

/* Without these four neither the kubelet's figures nor the kernel's estimate can be given;
 * swap lines are absent on kernels built without CONFIG_SWAP and Active(file) is informational. */
#define REQUIRED_KEYS                                                                              \
    ((1u << KEY_MEM_TOTAL) | (1u << KEY_MEM_FREE) | (1u << KEY_MEM_AVAILABLE) |                    \
     (1u << KEY_INACTIVE_FILE))

static int lookup_key(const char *key, size_t len) {
    for (int k = 0; k < KEY_N; k++)
        if (strlen(key_names[k]) == len && memcmp(key_names[k], key, len) == 0)
            return k;
    return -1;
}

static uint64_t *key_slot(gl_meminfo *m, int k) {
    switch ((meminfo_key)k) {
    case KEY_MEM_TOTAL:
        return &m->total_bytes;
    case KEY_MEM_FREE:
        return &m->free_bytes;
    case KEY_MEM_AVAILABLE:
        return &m->available_bytes;
    case KEY_INACTIVE_FILE:
        return &m->inactive_file_bytes;
    case KEY_ACTIVE_FILE:
        return &m->active_file_bytes;
    case KEY_SWAP_TOTAL:
        return &m->swap_total_bytes;
    case KEY_SWAP_FREE:
        return &m->swap_free_bytes;
    case KEY_N:
        break;
    }
    return NULL;
}

/* Key characters the kernel uses: letters, digits, '_', '(' and ')'. Anything printable other
 * than the colon and space is accepted so that a new key never breaks the parser, while control
 * characters, NUL bytes and non-ASCII bytes are rejected as garbage. */
static int is_key_char(char c) {
    return c > ' ' && c < 0x7f && c != ':';
}

/*
 * Parses one line [p, end) without its newline. On success stores the key's span and the value
 * in bytes (scaled from kB when the unit is present) and whether a unit was given.
 */
static int parse_line(const char *p, const char *end, const char **key, size_t *key_len,
                      uint64_t *value, int *has_unit) {
    const char *k = p;
    while (p < end && is_key_char(*p))
        p++;
    if (p == k || p == end || *p != ':')
        return -EBADMSG;
    *key = k;
    *key_len = (size_t)(p - k);
    p++;

    /* The kernel pads with spaces only; a value wide enough to fill its column may leave none. */
    while (p < end && *p == ' ')
        p++;

    const char *digits = p;
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
        p++;
    }
    if (p == digits)
        return -EBADMSG;

    if (p == end) {
        *has_unit = 0;
    } else if (end - p == 3 && memcmp(p, " kB", 3) == 0) {
        /* Every kB figure is scaled, not only the ones we keep, so that an impossible value
         * anywhere marks the whole text as untrustworthy. */
        if (v > UINT64_MAX / 1024)
            return -EBADMSG;
        v *= 1024;
        *has_unit = 1;
    } else {
        return -EBADMSG;
    }
    *value = v;
    return 0;
}

int gl_meminfo_parse(const char *buf, size_t len, gl_meminfo *out) {
    if (!buf || !out)
        return -EINVAL;
    /* A text that does not end in a newline was cut short (or is empty): the last line may be
     * a prefix of its real value, so none of it is trusted. */
    if (len == 0 || buf[len - 1] != '\n')
        return -EBADMSG;

    /* Filled in a local copy so that *out is untouched when the text is rejected. */
    gl_meminfo m = {0};
    unsigned seen = 0;
    const char *p = buf;
    const char *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        /* The final byte is a newline, so every line has one. */
        const char *key;
        size_t key_len;
        uint64_t value;
        int has_unit;
        int r = parse_line(p, nl, &key, &key_len, &value, &has_unit);
        if (r < 0)
            return r;

        int k = lookup_key(key, key_len);
        if (k >= 0) {
            /* All the keys we keep are sizes in kB; a bare number there would be ambiguous. */
            if (!has_unit || (seen & (1u << k)))
                return -EBADMSG;
            seen |= 1u << k;
            *key_slot(&m, k) = value;
        }
        p = nl + 1;
    }

    if ((seen & REQUIRED_KEYS) != REQUIRED_KEYS)
        return -EBADMSG;
    *out = m;
    return 0;
}

int gl_meminfo_read(const char *proc_root, gl_meminfo *out) {
    if (!proc_root || !out)
        return -EINVAL;
    char path[PATH_MAX];
    int r = gl_path_join(path, sizeof(path), proc_root, "meminfo");
    if (r < 0)
        return r;

    char buf[MEMINFO_BUF_SIZE];
    ssize_t n = gl_read_file(path, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    return gl_meminfo_parse(buf, (size_t)n, out);
}

uint64_t gl_meminfo_working_set(const gl_meminfo *m) {
    /* Both subtractions are floored at 0: the figures are sampled by the kernel one after the
     * other, so a consistent snapshot is not guaranteed. */
    uint64_t usage = m->total_bytes > m->free_bytes ? m->total_bytes - m->free_bytes : 0;
    return usage > m->inactive_file_bytes ? usage - m->inactive_file_bytes : 0;
}

uint64_t gl_meminfo_kubelet_available(const gl_meminfo *m) {
    uint64_t ws = gl_meminfo_working_set(m);
    return m->total_bytes > ws ? m->total_bytes - ws : 0;
}
