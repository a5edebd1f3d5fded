/* cgfile.c: the actuators' cgroup file access: paths per controller, one-write values, "gone". */
#include "act-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guardlet/fileio.h"

int gl_act_check_args(const gl_cgroup_layout *l, const char *cgroup) {
    if (!l || !cgroup)
        return -EINVAL;
    if (l->version != GL_CGROUP_V1 && l->version != GL_CGROUP_V2)
        return -EOPNOTSUPP;

    /* A pod guard acts on pods only. An empty path would name the hierarchy's root, where the
     * fallback kill would signal every process on the node, and ".." could climb out of the pod
     * into kubepods: both are refused rather than trusted to never happen. */
    bool any = false;
    for (const char *p = cgroup; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return -EINVAL;
        any = true;
        p += n;
    }
    return any ? 0 : -EINVAL;
}

int gl_act_ctl_dir(const gl_cgroup_layout *l, gl_act_ctl c, char *buf, size_t size) {
    const char *dir = NULL;

    if (l->version == GL_CGROUP_V2) {
        /* Every controller's files sit in the one unified directory; memory and cpu are kept
         * apart only because the layout names them (they equal root on v2). */
        switch (c) {
        case GL_ACT_CTL_MEMORY:
            dir = l->memory ? l->memory : l->root;
            break;
        case GL_ACT_CTL_CPU:
            dir = l->cpu ? l->cpu : l->root;
            break;
        case GL_ACT_CTL_CORE:
        case GL_ACT_CTL_FREEZER:
            dir = l->root;
            break;
        }
    } else {
        switch (c) {
        case GL_ACT_CTL_CORE:
            /* Kubelet creates every pod cgroup in each v1 hierarchy, so any of them lists the
             * pod's processes; memory is the one a kubelet node always has. */
        case GL_ACT_CTL_MEMORY:
            dir = l->memory;
            break;
        case GL_ACT_CTL_CPU:
            dir = l->cpu;
            break;
        case GL_ACT_CTL_FREEZER:
            /* The layout has no freezer field (guardlet senses through memory, cpu and pids
             * only), so the v1 freezer mount is derived from the root: <root>/freezer, where
             * every distribution mounts it. A node without it gets -EOPNOTSUPP. */
            if (!l->root)
                return -EOPNOTSUPP;
            return gl_path_join(buf, size, l->root, "freezer");
        }
    }
    if (!dir)
        return -EOPNOTSUPP;
    if (strlen(dir) >= size)
        return -ENAMETOOLONG;
    memcpy(buf, dir, strlen(dir) + 1);
    return 0;
}

int gl_act_cgroup_dir(const gl_cgroup_layout *l, gl_act_ctl c, const char *cgroup, char *buf,
                      size_t size) {
    char ctl[PATH_MAX];
    int r = gl_act_ctl_dir(l, c, ctl, sizeof(ctl));
    if (r < 0)
        return r;
    return gl_path_join(buf, size, ctl, cgroup);
}

static bool is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int gl_act_classify(const char *ctl_dir, const char *cg_dir, int neg_errno) {
    /* A descriptor or path into a removed cgroup fails with ENODEV: the pod is gone. */
    if (neg_errno == -ENODEV)
        return GL_ACT_GONE;
    if (neg_errno != -ENOENT)
        return neg_errno;
    /* The file is missing. If its cgroup directory is still there, the controller is simply
     * not enabled for it (or the kernel predates the file), which a retry will not change. If
     * the directory is missing too, either the pod went away (its controller directory exists)
     * or the controller is not mounted at all. */
    if (is_dir(cg_dir))
        return -EOPNOTSUPP;
    return is_dir(ctl_dir) ? GL_ACT_GONE : -EOPNOTSUPP;
}

/* The three paths one file operation needs, so a failure can be classified. */
typedef struct {
    char ctl[PATH_MAX];
    char dir[PATH_MAX];
    char file[PATH_MAX];
} cg_paths;

static int paths_of(const gl_cgroup_layout *l, gl_act_ctl c, const char *cgroup, const char *file,
                    cg_paths *p) {
    int r = gl_act_ctl_dir(l, c, p->ctl, sizeof(p->ctl));
    if (r == 0)
        r = gl_path_join(p->dir, sizeof(p->dir), p->ctl, cgroup);
    if (r == 0)
        r = gl_path_join(p->file, sizeof(p->file), p->dir, file);
    return r;
}

int gl_act_write(const gl_cgroup_layout *l, gl_act_ctl c, const char *cgroup, const char *file,
                 const char *value) {
    cg_paths p;
    int r = paths_of(l, c, cgroup, file, &p);
    if (r < 0)
        return r;

    /* O_TRUNC changes nothing on cgroupfs (shells' "echo 1 > cgroup.kill" passes it too), but
     * lets a plain fixture file hold exactly the value written, as a cgroup file would. */
    int fd;
    do {
        fd = open(p.file, O_WRONLY | O_CLOEXEC | O_TRUNC | O_NOCTTY);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return gl_act_classify(p.ctl, p.dir, -errno);

    /* Cgroup files parse each write() as one whole value, so the value goes out in a single
     * call; a short write would hand the kernel half a number. */
    size_t len = strlen(value);
    ssize_t w;
    do {
        w = write(fd, value, len);
    } while (w < 0 && errno == EINTR);
    if (w < 0)
        r = gl_act_classify(p.ctl, p.dir, -errno);
    else if ((size_t)w != len)
        r = -EIO;
    /* Errors of cgroup writes are reported by write(); close() has nothing left to flush. */
    (void)close(fd);
    return r;
}

int gl_act_read(const gl_cgroup_layout *l, gl_act_ctl c, const char *cgroup, const char *file,
                char *buf, size_t size, size_t *len) {
    cg_paths p;
    int r = paths_of(l, c, cgroup, file, &p);
    if (r < 0)
        return r;
    ssize_t n = gl_read_file(p.file, buf, size);
    if (n < 0)
        return gl_act_classify(p.ctl, p.dir, (int)n);
    *len = (size_t)n;
    return 0;
}
