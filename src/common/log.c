/* log.c: writes log entries to journald with structured fields, or to stderr as text or JSON lines.
 */
#include "guardlet/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

/* journald's native socket: its presence is how "auto" tells that journald runs here. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* An entry carries MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the caller's fields; callers pass at
 * most a few dozen fields (an action entry has about twenty). */
#define MAX_FIELDS 48

static gl_log_target log_target = GL_LOG_TARGET_STDERR;
static gl_log_format log_format = GL_LOG_FORMAT_TEXT;
static int log_max_priority = LOG_INFO;

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg",     [LOG_ALERT] = "alert",   [LOG_CRIT] = "crit", [LOG_ERR] = "err",
    [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int gl_log_parse_target(const char *s, gl_log_target *out) {
    if (strcmp(s, "auto") == 0)
        *out = GL_LOG_TARGET_AUTO;
    else if (strcmp(s, "journal") == 0)
        *out = GL_LOG_TARGET_JOURNAL;
    else if (strcmp(s, "stderr") == 0)
        *out = GL_LOG_TARGET_STDERR;
    else
        return -EINVAL;
    return 0;
}

int gl_log_parse_format(const char *s, gl_log_format *out) {
    if (strcmp(s, "text") == 0)
        *out = GL_LOG_FORMAT_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = GL_LOG_FORMAT_JSON;
    else
        return -EINVAL;
    return 0;
}

int gl_log_parse_level(const char *s, int *out_priority) {
    /* The contract names six levels; "warn" and "error" are common spellings worth accepting. */
    for (int p = LOG_CRIT; p <= LOG_DEBUG; p++) {
        if (strcmp(s, level_names[p]) == 0) {
            *out_priority = p;
            return 0;
        }
    }
    if (strcmp(s, "warn") == 0) {
        *out_priority = LOG_WARNING;
        return 0;
    }
    if (strcmp(s, "error") == 0) {
        *out_priority = LOG_ERR;
        return 0;
    }
    return -EINVAL;
}

const char *gl_log_level_name(int priority) {
    if (priority < LOG_EMERG || priority > LOG_DEBUG)
        return "unknown";
    return level_names[priority];
}

void gl_log_setup(gl_log_target target, gl_log_format format, int max_priority) {
    if (target == GL_LOG_TARGET_AUTO)
        target = access(JOURNAL_SOCKET, W_OK) == 0 ? GL_LOG_TARGET_JOURNAL : GL_LOG_TARGET_STDERR;
    log_target = target;
    log_format = format;
    log_max_priority = max_priority;
}

void gl_log_set_max_priority(int max_priority) {
    log_max_priority = max_priority;
}

gl_log_target gl_log_get_target(void) {
    return log_target;
}

bool gl_log_enabled(int priority) {
    return priority <= log_max_priority;
}

static void write_stderr_text(int priority, const char *msg, const gl_log_field *fields,
                              size_t n_fields) {
    char ts[32];
    struct timespec now;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);

    /* One line per entry so that line-oriented tools keep working; fields follow as key=value. */
    flockfile(stderr);
    fprintf(stderr, "%s.%03ldZ %s: %s", ts, now.tv_nsec / 1000000, gl_log_level_name(priority),
            msg);
    for (size_t i = 0; i < n_fields; i++)
        fprintf(stderr, " %s=%s", fields[i].key, fields[i].value ? fields[i].value : "");
    fputc('\n', stderr);
    funlockfile(stderr);
}

static void write_stderr_json(int priority, const char *msg, const gl_log_field *fields,
                              size_t n_fields) {
    char ts[40], prio[4];
    struct timespec now;
    struct tm tm;
    json_t *o = json_object();

    if (!o) {
        write_stderr_text(priority, msg, fields, n_fields);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%06ldZ", now.tv_nsec / 1000);
    snprintf(prio, sizeof(prio), "%d", priority);

    /* Values are strings, as in `journalctl -o json`, so that one parser reads both. */
    json_object_set_new(o, "TIMESTAMP", json_string(ts));
    json_object_set_new(o, "PRIORITY", json_string(prio));
    json_object_set_new(o, "SYSLOG_IDENTIFIER", json_string(program_invocation_short_name));
    json_object_set_new(o, "MESSAGE", json_string(msg));
    for (size_t i = 0; i < n_fields; i++)
        json_object_set_new(o, fields[i].key, json_string(fields[i].value ? fields[i].value : ""));

    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line) {
        write_stderr_text(priority, msg, fields, n_fields);
        return;
    }
    flockfile(stderr);
    fputs(line, stderr);
    fputc('\n', stderr);
    funlockfile(stderr);
    free(line);
}

/* Returns 0 when journald took the entry. */
static int write_journal(int priority, const char *msg, const gl_log_field *fields,
                         size_t n_fields) {
    struct iovec iov[MAX_FIELDS + 3];
    char *bufs[MAX_FIELDS + 3];
    size_t n = 0;
    int r = 0;

    if (n_fields > MAX_FIELDS)
        n_fields = MAX_FIELDS;
    if (asprintf(&bufs[n++], "MESSAGE=%s", msg) < 0)
        return -ENOMEM;
    if (asprintf(&bufs[n++], "PRIORITY=%d", priority) < 0) {
        n--;
        r = -ENOMEM;
        goto out;
    }
    if (asprintf(&bufs[n++], "SYSLOG_IDENTIFIER=%s", program_invocation_short_name) < 0) {
        n--;
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n_fields; i++) {
        if (asprintf(&bufs[n++], "%s=%s", fields[i].key, fields[i].value ? fields[i].value : "") <
            0) {
            n--;
            r = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++)
        iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = strlen(bufs[i])};
    r = sd_journal_sendv(iov, (int)n);
out:
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
    return r;
}

void gl_log_fields(int priority, const gl_log_field *fields, size_t n_fields, const char *fmt,
                   ...) {
    char stackbuf[512];
    char *msg = stackbuf;
    char *heap = NULL;
    int saved_errno = errno;
    va_list ap;

    if (!gl_log_enabled(priority))
        return;

    va_start(ap, fmt);
    int len = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
    va_end(ap);
    if (len >= (int)sizeof(stackbuf)) {
        va_start(ap, fmt);
        if (vasprintf(&heap, fmt, ap) >= 0)
            msg = heap;
        va_end(ap);
    }

    if (log_target == GL_LOG_TARGET_JOURNAL && write_journal(priority, msg, fields, n_fields) == 0)
        goto done;
    /* The journal refused the entry (or is not the target): stderr still gets it. */
    if (log_format == GL_LOG_FORMAT_JSON)
        write_stderr_json(priority, msg, fields, n_fields);
    else
        write_stderr_text(priority, msg, fields, n_fields);
done:
    free(heap);
    errno = saved_errno;
}
