/* log.h: the one logging module: journald with structured fields, or stderr as text or JSON lines.
 */
#ifndef GUARDLET_LOG_H
#define GUARDLET_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

typedef enum { GL_LOG_TARGET_AUTO, GL_LOG_TARGET_JOURNAL, GL_LOG_TARGET_STDERR } gl_log_target;
typedef enum { GL_LOG_FORMAT_TEXT, GL_LOG_FORMAT_JSON } gl_log_format;

/* A structured field. key is [A-Z0-9_]+ (journald's rule); value is any text. */
typedef struct {
    const char *key;
    const char *value;
} gl_log_field;

/* Parsers for the command-line words. Return 0 or -EINVAL. */
int gl_log_parse_target(const char *s, gl_log_target *out);
int gl_log_parse_format(const char *s, gl_log_format *out);
int gl_log_parse_level(const char *s, int *out_priority); /* debug info notice warning err crit */
const char *gl_log_level_name(int priority);

/* Chooses where logs go. AUTO means the journal when journald's socket exists, else stderr.
 * Messages less important than max_priority (a LOG_* value) are dropped. */
void gl_log_setup(gl_log_target target, gl_log_format format, int max_priority);
void gl_log_set_max_priority(int max_priority);

/* The target in use after AUTO was resolved. */
gl_log_target gl_log_get_target(void);

/* True when a message at this priority would be written (skip building costly fields). */
bool gl_log_enabled(int priority);

/* Writes one entry: MESSAGE from fmt, PRIORITY, and the given fields. Never fails visibly: a
 * journal that refuses the entry makes the module fall back to stderr. errno is preserved. */
void gl_log_fields(int priority, const gl_log_field *fields, size_t n_fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define gl_log(prio, ...)   gl_log_fields((prio), NULL, 0, __VA_ARGS__)
#define gl_log_debug(...)   gl_log(LOG_DEBUG, __VA_ARGS__)
#define gl_log_info(...)    gl_log(LOG_INFO, __VA_ARGS__)
#define gl_log_notice(...)  gl_log(LOG_NOTICE, __VA_ARGS__)
#define gl_log_warning(...) gl_log(LOG_WARNING, __VA_ARGS__)
#define gl_log_err(...)     gl_log(LOG_ERR, __VA_ARGS__)
#define gl_log_crit(...)    gl_log(LOG_CRIT, __VA_ARGS__)

#endif
