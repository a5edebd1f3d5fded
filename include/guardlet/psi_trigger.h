/* psi_trigger.h: kernel PSI triggers that wake the libev loop when stall time crosses a threshold.
 */
#ifndef GUARDLET_PSI_TRIGGER_H
#define GUARDLET_PSI_TRIGGER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct gl_psi_trigger gl_psi_trigger;

/* Called from the loop when the trigger fired (dead == false), or once when the kernel reported the
 * trigger dead (dead == true: PSI disabled, the cgroup removed); a dead trigger stays stopped. */
typedef void (*gl_psi_trigger_cb)(gl_psi_trigger *t, bool dead, void *userdata);

/* The window the kernel accepts from a process without CAP_SYS_RESOURCE must be a multiple of 2 s
 * (FIELD-NOTES: a 1 s window gives EINVAL); with the capability any 500 ms..10 s window works. */
#define GL_PSI_TRIGGER_FAST_WINDOW_USEC 1000000u
#define GL_PSI_TRIGGER_SLOW_WINDOW_USEC 2000000u

/*
 * Arms "some <stall> <window>" on the pressure file at path, where stall is stall_bp (basis points
 * of the window, 1..10000) of the window, and watches it on loop. It tries the 1 s window first and
 * falls back to 2 s on EINVAL or EPERM; gl_psi_trigger_window_usec() tells which one was taken.
 * Returns 0 with *out set (not started: call gl_psi_trigger_start), -EOPNOTSUPP when the file
 * takes no triggers (a plain file such as a test fixture, or PSI disabled), or another -errno.
 */
int gl_psi_trigger_new(struct ev_loop *loop, const char *path, uint32_t stall_bp,
                       gl_psi_trigger_cb cb, void *userdata, gl_psi_trigger **out);

void gl_psi_trigger_start(gl_psi_trigger *t);
void gl_psi_trigger_stop(gl_psi_trigger *t);

/* Stops and releases t. Accepts NULL. */
void gl_psi_trigger_free(gl_psi_trigger *t);

uint64_t gl_psi_trigger_window_usec(const gl_psi_trigger *t);
uint64_t gl_psi_trigger_stall_usec(const gl_psi_trigger *t);
const char *gl_psi_trigger_path(const gl_psi_trigger *t);
/* How many times the trigger fired since it was created. */
uint64_t gl_psi_trigger_fired(const gl_psi_trigger *t);

#endif
