/* fileio.c: reads small kernel text files whole with open/read loops, without stdio. */
#include "guardlet/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

ssize_t gl_read_file_at(int dirfd, const char *path, char *buf, size_t size) {
    /* The count is returned as ssize_t, so a buffer larger than SSIZE_MAX could not report its
     * length; and a zero-sized buffer has no room for the terminating NUL. */
    if (!path || !buf || size == 0 || size > (size_t)SSIZE_MAX)
        return -EINVAL;
    buf[0] = '\0';

    int fd;
    do {
        /* Opening a FIFO can block and be interrupted; a signal is no reason to fail a read. */
        fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;

    /* Files in /proc and /sys report st_size 0 and may hand out their text in several short
     * reads, so the only reliable end of file is a read that returns 0. */
    size_t len = 0;
    ssize_t r = 0;
    for (;;) {
        if (len == size - 1) {
            /* The buffer is full: one more byte tells a file of exactly size - 1 bytes from a
             * bigger one, which must not be handed out silently truncated. */
            char extra;
            r = read(fd, &extra, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r > 0)
                r = -EFBIG;
            else if (r < 0)
                r = -errno;
            break;
        }
        r = read(fd, buf + len, size - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            r = -errno;
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }

    /* close() is not retried on EINTR: Linux releases the descriptor either way, and a retry
     * could close a descriptor another thread has just been given. Nothing was written, so a
     * failing close cannot lose data and is ignored. */
    (void)close(fd);

    if (r < 0) {
        buf[0] = '\0';
        return r;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

ssize_t gl_read_file(const char *path, char *buf, size_t size) {
    return gl_read_file_at(AT_FDCWD, path, buf, size);
}

int gl_path_join(char *buf, size_t size, const char *root, const char *rel) {
    if (!buf || !root || !rel)
        return -EINVAL;

    /* Trailing slashes of root and leading slashes of rel are dropped so that exactly one '/'
     * separates them. A root of "/" (or "") therefore yields "/rel", which is what a caller
     * passing "/" as the proc or cgroup root means. */
    size_t root_len = strlen(root);
    while (root_len > 0 && root[root_len - 1] == '/')
        root_len--;
    while (*rel == '/')
        rel++;
    size_t rel_len = strlen(rel);

    /* The result needs root_len + 1 + rel_len + 1 bytes. The sum is checked term by term
     * against what is left so that no addition can wrap. */
    if (size == 0 || root_len >= size || rel_len >= size - root_len - 1) {
        if (size > 0)
            buf[0] = '\0';
        return -ENAMETOOLONG;
    }

    /* memmove because callers may join in place (buf == root), which memcpy does not allow. */
    memmove(buf, root, root_len);
    buf[root_len] = '/';
    memmove(buf + root_len + 1, rel, rel_len);
    buf[root_len + 1 + rel_len] = '\0';
    return 0;
}
