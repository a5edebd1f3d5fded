/* memlock.h: locks guardlet's own memory (mlockall) so that it keeps running when the node
 * thrashes, which is exactly when it is needed. */
#ifndef GUARDLET_MEMLOCK_H
#define GUARDLET_MEMLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What stands in the way of locking, judged before trying. */
typedef struct {
    bool cap_ipc_lock;    /* CAP_IPC_LOCK is effective: RLIMIT_MEMLOCK does not apply */
    bool limit_infinite;  /* RLIMIT_MEMLOCK is unlimited (after trying to raise it) */
    uint64_t limit_bytes; /* RLIMIT_MEMLOCK when finite */
} gl_memlock_state;

/* Pure: whether locking may be tried, else writes why not into why. Without CAP_IPC_LOCK and
 * with a finite RLIMIT_MEMLOCK, MCL_FUTURE would make every later allocation beyond the limit
 * fail, which is worse than not locking at all. */
bool gl_memlock_allowed(const gl_memlock_state *s, char *why, size_t len);

/* Raises RLIMIT_MEMLOCK where permitted, then mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT).
 * Logs the outcome; a failure is a warning naming the cause, never fatal. Returns 0 when locked,
 * else a negative errno (-EPERM when not allowed). */
int gl_memlock_apply(void);

#endif
