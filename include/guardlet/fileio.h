/* fileio.h: small helpers for reading kernel text files whole, without stdio. */
#ifndef GUARDLET_FILEIO_H
#define GUARDLET_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads the whole file at path (relative paths resolve against dirfd, which may be AT_FDCWD) into
 * buf and NUL-terminates it. Returns the byte count, -errno on failure, or -EFBIG when the file
 * does not fit in size - 1 bytes (kernel files never need more than a page or two).
 */
ssize_t gl_read_file_at(int dirfd, const char *path, char *buf, size_t size);

/* Same with an absolute or cwd-relative path. */
ssize_t gl_read_file(const char *path, char *buf, size_t size);

/* Joins root and rel with exactly one '/' into buf. Returns 0 or -ENAMETOOLONG. */
int gl_path_join(char *buf, size_t size, const char *root, const char *rel);

#endif
