/* memlock.c: mlockall() at start, with the checks that keep it from doing harm. */
#include "guardlet/memlock.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guardlet/log.h"

bool gl_memlock_allowed(const gl_memlock_state *s, char *why, size_t len) {
    if (s->cap_ipc_lock || s->limit_infinite)
        return true;
    snprintf(why, len,
             "CAP_IPC_LOCK is missing and RLIMIT_MEMLOCK is %" PRIu64
             " bytes; locking would make allocations beyond it fail",
             s->limit_bytes);
    return false;
}

/* No libcap for one bit: capget(2) directly. */
static bool have_cap_ipc_lock(void) {
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        return false;
    return (data[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32))) != 0;
}

int gl_memlock_apply(void) {
    gl_memlock_state s = {.cap_ipc_lock = have_cap_ipc_lock()};
    struct rlimit rl;
    char why[160];

    if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
        if (rl.rlim_cur != RLIM_INFINITY) {
            /* Works with CAP_SYS_RESOURCE, or when the hard limit is already unlimited. */
            struct rlimit want = {RLIM_INFINITY, RLIM_INFINITY};
            if (setrlimit(RLIMIT_MEMLOCK, &want) == 0)
                rl = want;
            else if (rl.rlim_max == RLIM_INFINITY) {
                want.rlim_max = rl.rlim_max;
                if (setrlimit(RLIMIT_MEMLOCK, &want) == 0)
                    rl = want;
            }
        }
        s.limit_infinite = rl.rlim_cur == RLIM_INFINITY;
        s.limit_bytes = (uint64_t)rl.rlim_cur;
    }
    if (!gl_memlock_allowed(&s, why, sizeof(why))) {
        gl_log_warning("Not locking memory (LockMemory=yes): %s; grant CAP_IPC_LOCK or set "
                       "LockMemory=no",
                       why);
        return -EPERM;
    }
    /* MCL_ONFAULT locks pages as they are touched instead of populating every mapping at once:
     * reserved-but-unused address space (thread stacks, sanitizer shadow) costs nothing. Without
     * it (kernels before 4.4) MCL_CURRENT would fault in everything, so there is no fallback. */
    if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0) {
        int e = errno;
        gl_log_warning("Cannot lock memory (LockMemory=yes): mlockall: %s%s", strerror(e),
                       e == EINVAL   ? " (the kernel lacks MCL_ONFAULT, Linux 4.4 or later)"
                       : e == EPERM  ? " (CAP_IPC_LOCK is missing)"
                       : e == ENOMEM ? " (RLIMIT_MEMLOCK is too low)"
                                     : "");
        return -e;
    }
    gl_log_info("Memory locked (mlockall): guardlet keeps running when the node thrashes");
    return 0;
}
