/* act-internal.h: what the actuator files share: cgroup file paths, one-value reads and writes. */
#ifndef GUARDLET_ACT_INTERNAL_H
#define GUARDLET_ACT_INTERNAL_H

#include <stddef.h>

#include "guardlet/cgroup.h"

/* Returned (positive) by the helpers below when the cgroup directory no longer exists: every
 * public function turns it into 0, because a pod that is gone needs no action. */
#define GL_ACT_GONE 1

/* Which directory a cgroup file lives under. On v2 all of them are the root; on v1 each is its
 * own controller mount, and CORE (cgroup.procs, tasks) is read from the memory hierarchy. */
typedef enum {
    GL_ACT_CTL_CORE,
    GL_ACT_CTL_MEMORY,
    GL_ACT_CTL_CPU,
    GL_ACT_CTL_FREEZER,
} gl_act_ctl;

/* Checks the arguments every public function takes: -EINVAL for a NULL layout or cgroup, for a
 * cgroup naming the hierarchy's root, and for "." or ".." components; -EOPNOTSUPP for a layout
 * that is neither v1 nor v2. */
int gl_act_check_args(const gl_cgroup_layout *l, const char *cgroup);

/* The controller directory into buf. Returns 0, -EOPNOTSUPP when the layout has none for c, or
 * -ENAMETOOLONG. */
int gl_act_ctl_dir(const gl_cgroup_layout *l, gl_act_ctl c, char *buf, size_t size);

/* <controller dir>/<cgroup> into buf. Same returns as gl_act_ctl_dir. */
int gl_act_cgroup_dir(const gl_cgroup_layout *l, gl_act_ctl c, const char *cgroup, char *buf,
                      size_t size);

/*
 * Turns the errno of a failed open, read or write of a file in cgroup dir cg_dir (under
 * controller dir ctl_dir) into a result: ENODEV, or ENOENT with the cgroup directory gone, is
 * GL_ACT_GONE; ENOENT with the directory present means the controller is off (or the kernel is
 * too old for the file): -EOPNOTSUPP, as is a missing controller directory. Others pass through.
 */
int gl_act_classify(const char *ctl_dir, const char *cg_dir, int neg_errno);

/* Writes value to <controller dir>/<cgroup>/<file> in one write(). Returns 0, GL_ACT_GONE, or a
 * negative errno (-EOPNOTSUPP for a missing file in an existing cgroup). */
int gl_act_write(const gl_cgroup_layout *l, gl_act_ctl c, const char *cgroup, const char *file,
                 const char *value);

/* Reads <controller dir>/<cgroup>/<file> whole into buf (NUL-terminated), its length into *len.
 * Returns 0, GL_ACT_GONE, or a negative errno as gl_act_write. */
int gl_act_read(const gl_cgroup_layout *l, gl_act_ctl c, const char *cgroup, const char *file,
                char *buf, size_t size, size_t *len);

/*
 * The kill used where the kernel has no cgroup.kill (before 5.14, and v1): freeze, SIGKILL every
 * pid listed in cgroup.procs (v1: tasks when cgroup.procs is missing) of the cgroup and of every
 * descendant directory, then thaw (always, even when the cgroup was frozen before the call: a v1
 * frozen task acts on SIGKILL only once thawed). A failed freeze does not stop the kill: a
 * runaway pod left alive is worse than a child forked during the walk escaping. *killed (may be
 * NULL) counts the pids signalled. Returns 0 (also when the cgroup is gone) or a negative errno.
 * gl_act_kill calls it; tests call it directly to reach it on kernels that have cgroup.kill.
 */
int gl_act_kill_fallback(const gl_cgroup_layout *l, const char *cgroup, size_t *killed);

#endif
