/* cgroup_detect.c: tells which cgroup layout a cgroup root holds, by the files the kernel puts
 * there. */
#include "guardlet/node.h"

#include <stdio.h>
#include <sys/stat.h>

static bool exists_under(const char *root, const char *rel) {
    char path[4096];
    struct stat st;

    if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int)sizeof(path))
        return false;
    return stat(path, &st) == 0;
}

int gl_cgroup_detect_version(const char *root) {
    /* Only the v2 root carries cgroup.controllers; a v1 (or hybrid) root is a tmpfs of controller
     * mounts, of which memory is the one guardlet cannot do without. Files rather than statfs()
     * magic numbers, so that fixture trees in ordinary folders are recognised the same way. */
    if (exists_under(root, "cgroup.controllers"))
        return 2;
    if (exists_under(root, "memory/memory.usage_in_bytes") || exists_under(root, "memory"))
        return 1;
    return 0;
}
