/* config.c: loads guardlet's configuration from the main file, its drop-ins and --set overrides. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-internal.h"

/* A config file is a few kilobytes; refusing anything above a mebibyte keeps a mistaken path
 * (a log file, /dev/zero) from eating the daemon's memory. */
#define CONFIG_FILE_MAX (1024 * 1024)

/* The reader's section state besides an index from gl_config_section_find(): no [Section] line
 * yet, or an unknown or broken one whose keys are not checked (that line was reported already). */
#define SECTION_NONE (-1)
#define SECTION_SKIP (-2)

/* The owned string members of gl_config, for gl_config_free() and gl_config_copy(). Keep in step
 * with the struct in config.h. */
static const size_t string_fields[] = {
    offsetof(gl_config, guard.node_name),
    offsetof(gl_config, guard.cgroup_root),
    offsetof(gl_config, guard.proc_root),
    offsetof(gl_config, guard.status_socket),
    offsetof(gl_config, guard.metrics_listen),
    offsetof(gl_config, protect.annotation),
    offsetof(gl_config, kubernetes.kubeconfig),
    offsetof(gl_config, pools.label),
    offsetof(gl_config, pools.pool),
    offsetof(gl_config, pools.default_pool),
};

#define N_STRING_FIELDS (sizeof(string_fields) / sizeof(string_fields[0]))

static char **string_field(gl_config *c, size_t i) {
    return (char **)(void *)((char *)c + string_fields[i]);
}

int gl_config_errors_add(gl_config_errors *errs, const char *file, unsigned line, const char *fmt,
                         ...) {
    gl_config_error e = {.line = line};
    va_list ap;
    int n;

    if (errs->n == errs->cap) {
        size_t cap = errs->cap ? errs->cap * 2 : 8;
        gl_config_error *v = realloc(errs->v, cap * sizeof(*v));

        if (!v)
            return -ENOMEM;
        errs->v = v;
        errs->cap = cap;
    }
    e.file = strdup(file ? file : "");
    va_start(ap, fmt);
    n = vasprintf(&e.message, fmt, ap);
    va_end(ap);
    if (!e.file || n < 0) {
        free(e.file);
        if (n >= 0)
            free(e.message);
        return -ENOMEM;
    }
    errs->v[errs->n++] = e;
    return 0;
}

void gl_config_errors_free(gl_config_errors *errs) {
    if (!errs)
        return;
    for (size_t i = 0; i < errs->n; i++) {
        free(errs->v[i].file);
        free(errs->v[i].message);
    }
    free(errs->v);
    *errs = (gl_config_errors){0};
}

void gl_config_free(gl_config *c) {
    if (!c)
        return;
    for (size_t i = 0; i < N_STRING_FIELDS; i++)
        free(*string_field(c, i));
    if (c->protect.namespaces)
        for (size_t i = 0; i < c->protect.n_namespaces; i++)
            free(c->protect.namespaces[i]);
    free(c->protect.namespaces);
    if (c->protect.pod_uids)
        for (size_t i = 0; i < c->protect.n_pod_uids; i++)
            free(c->protect.pod_uids[i]);
    free(c->protect.pod_uids);
    *c = (gl_config){0};
}

int gl_config_copy(gl_config *dst, const gl_config *src) {
    *dst = *src;
    /* Forget src's pointers first so that a failure half-way leaves dst safe to free. */
    for (size_t i = 0; i < N_STRING_FIELDS; i++)
        *string_field(dst, i) = NULL;
    dst->protect.namespaces = NULL;
    dst->protect.n_namespaces = 0;
    dst->protect.pod_uids = NULL;
    dst->protect.n_pod_uids = 0;

    for (size_t i = 0; i < N_STRING_FIELDS; i++) {
        const char *s = *string_field((gl_config *)src, i);

        if (s && !(*string_field(dst, i) = strdup(s)))
            goto fail;
    }
    if (src->protect.n_namespaces > 0) {
        dst->protect.namespaces = calloc(src->protect.n_namespaces, sizeof(char *));
        if (!dst->protect.namespaces)
            goto fail;
        dst->protect.n_namespaces = src->protect.n_namespaces;
        for (size_t i = 0; i < src->protect.n_namespaces; i++)
            if (!(dst->protect.namespaces[i] = strdup(src->protect.namespaces[i])))
                goto fail;
    }
    if (src->protect.n_pod_uids > 0) {
        dst->protect.pod_uids = calloc(src->protect.n_pod_uids, sizeof(char *));
        if (!dst->protect.pod_uids)
            goto fail;
        dst->protect.n_pod_uids = src->protect.n_pod_uids;
        for (size_t i = 0; i < src->protect.n_pod_uids; i++)
            if (!(dst->protect.pod_uids[i] = strdup(src->protect.pod_uids[i])))
                goto fail;
    }
    return 0;
fail:
    gl_config_free(dst);
    return -ENOMEM;
}

/* State of one gl_config_load(). */
typedef struct {
    gl_config *c;
    gl_config_errors *errs;
    gl_config_origin *origins; /* indexed like gl_config_keys */
    unsigned source;           /* the file or --set being read, numbered from 1 */
    uint64_t seq;
    bool rules_touched; /* a Rule= was seen: the built-in rules are gone */
    char **names;       /* owned file names that origins point to */
    size_t n_names;
} loader;

/* Keeps a copy of name for as long as the load runs and returns it, or NULL. */
static const char *loader_name(loader *l, const char *name) {
    char **v = realloc(l->names, (l->n_names + 1) * sizeof(*v));

    if (!v)
        return NULL;
    l->names = v;
    if (!(v[l->n_names] = strdup(name)))
        return NULL;
    return v[l->n_names++];
}

/* Applies one Section.Key=value from file:line. Problems become errors; returns 0 or -ENOMEM. */
static int loader_assign(loader *l, const char *file, unsigned line, const char *section,
                         const char *name, const char *value) {
    char msg[GL_CONFIG_MSG_MAX];
    const gl_config_key *k;
    gl_config_origin *o;
    int i, r;

    i = gl_config_key_find(section, name);
    if (i < 0) {
        gl_config_key_hint(section, name, msg, sizeof(msg));
        return gl_config_errors_add(l->errs, file, line, "unknown key %s.%s%s", section, name, msg);
    }
    k = &gl_config_keys[i];
    o = &l->origins[i];
    if (!k->list && o->source == l->source)
        return gl_config_errors_add(l->errs, file, line,
                                    "duplicate key %s.%s (first set at line %u)", section, name,
                                    o->line);
    if (k->list && !l->rules_touched) {
        gl_config_rules_clear(l->c);
        l->rules_touched = true;
    }

    r = k->parse(l->c, k, value, msg, sizeof(msg));
    if (r == -ENOMEM)
        return r;
    *o = (gl_config_origin){
        .file = file, .line = line, .source = l->source, .seq = ++l->seq, .bad = r < 0};
    if (r < 0)
        return gl_config_errors_add(l->errs, file, line, "%s.%s: %s", section, name, msg);
    return 0;
}

/* One file being fed to inih line by line. */
typedef struct {
    loader *l;
    const char *file;
    const char *data;
    size_t size, pos;
    unsigned line; /* of the line last handed to inih, from 1 */
    int section;   /* SECTION_NONE, SECTION_SKIP or a known section */
    const char *section_name;
    int error; /* -ENOMEM stops the file */
} file_reader;

static bool is_blank(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\v' || ch == '\f' || ch == '\r';
}

/* inih's own scan: up to one of chars or to an inline comment, which is ';' after whitespace
 * (Debian builds inih with ';' as the only inline comment prefix). */
static char *inih_find_chars_or_comment(char *s, const char *chars) {
    bool was_space = false;

    while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = is_blank(*s);
        s++;
    }
    return s;
}

static void reader_error(file_reader *r, const char *msg) {
    int e = gl_config_errors_add(r->l->errs, r->file, r->line, "%s", msg);

    if (e < 0)
        r->error = e;
}

#define SYNTAX_ERROR "syntax error: expected [Section] or Key=value"

/*
 * Looks at one line before inih does, so that every bad line is reported (inih only returns the
 * first) and so that the reader knows which section it is in. Rewrites line in place into what
 * inih should see: leading blanks removed, a "#" comment after a value removed, and nothing at
 * all for a line already reported. Removing the indentation means inih never treats a line as
 * a continuation of the previous value: systemd-style files have no continuation lines, and an
 * indented "  Mode=enforce" silently becoming part of the previous key's value would be a trap.
 */
static void reader_check_line(file_reader *r, char *line) {
    size_t skip = 0, len;
    char *end;

    while (is_blank(line[skip]))
        skip++;
    memmove(line, line + skip, strlen(line + skip) + 1);
    len = strlen(line);
    while (len > 0 && is_blank(line[len - 1]))
        line[--len] = '\0';

    if (line[0] == '\0' || line[0] == ';' || line[0] == '#')
        return;

    if (line[0] == '[') {
        char *after, hint[GL_CONFIG_MSG_MAX];
        int idx;

        end = inih_find_chars_or_comment(line + 1, "]");
        after = *end == ']' ? end + 1 : end;
        while (is_blank(*after))
            after++;
        if (*end != ']' || (*after && *after != ';' && *after != '#')) {
            reader_error(r, SYNTAX_ERROR);
            r->section = SECTION_SKIP;
            line[0] = '\0';
            return;
        }
        *end = '\0';
        idx = gl_config_section_find(line + 1);
        if (idx < 0) {
            gl_config_section_hint(line + 1, hint, sizeof(hint));
            if (gl_config_errors_add(r->l->errs, r->file, r->line, "unknown section [%s]%s",
                                     line + 1, hint) < 0)
                r->error = -ENOMEM;
            r->section = SECTION_SKIP;
        } else {
            r->section = idx;
            r->section_name = gl_config_keys[idx].section;
        }
        *end = ']';
        return;
    }

    end = inih_find_chars_or_comment(line, "=:");
    if ((*end != '=' && *end != ':') || end == line) {
        reader_error(r, SYNTAX_ERROR);
        line[0] = '\0';
        return;
    }
    /* Users paste the contract's sample, which explains values with "Key=value   # comment". A
     * '#' right after the '=' or inside a word stays part of the value. */
    for (char *p = end + 1; *p; p++)
        if (*p == '#' && is_blank(p[-1])) {
            *p = '\0';
            break;
        }
}

/* inih's reader callback: hands out the next line of the file, like fgets() would. */
static char *reader_next(char *str, int num, void *stream) {
    file_reader *r = stream;
    const char *line, *eol;
    size_t len, max;

    if (r->error < 0 || r->pos >= r->size || num < 3)
        return NULL;
    line = r->data + r->pos;
    eol = memchr(line, '\n', r->size - r->pos);
    len = eol ? (size_t)(eol - line) : r->size - r->pos;
    r->pos += len + (eol ? 1 : 0);
    r->line++;
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (r->line == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
        line += 3;
        len -= 3;
    }

    /* fgets() semantics: the line and its newline must fit in num - 1 bytes. */
    max = (size_t)num - 2;
    str[0] = '\0';
    if (memchr(line, '\0', len)) {
        reader_error(r, "line contains a NUL character");
    } else if (len > max) {
        char msg[64];

        snprintf(msg, sizeof(msg), "line is longer than %zu characters", max);
        reader_error(r, msg);
    } else {
        memcpy(str, line, len);
        str[len] = '\0';
        reader_check_line(r, str);
    }
    return str;
}

/* inih's handler callback. Always returns nonzero: errors are collected, not reported to inih. */
static int reader_handle(void *user, const char *section, const char *name, const char *value) {
    file_reader *r = user;
    char hint[GL_CONFIG_MSG_MAX];
    int e = 0;

    (void)section; /* the reader tracks sections itself, including unknown ones */
    if (r->error < 0 || r->section == SECTION_SKIP)
        return 1;
    if (r->section == SECTION_NONE) {
        gl_config_key_hint(NULL, name, hint, sizeof(hint));
        e = gl_config_errors_add(r->l->errs, r->file, r->line, "key %s is outside of any section%s",
                                 name, hint);
    } else {
        e = loader_assign(r->l, r->file, r->line, r->section_name, name, value);
    }
    if (e < 0)
        r->error = e;
    return 1;
}

static void strerror_into(int err, char *buf, size_t len) {
    /* The GNU strerror_r() may return a static string instead of filling buf. */
    const char *s = strerror_r(err, buf, len);

    if (s != buf)
        snprintf(buf, len, "%s", s);
}

/* Reads a whole file into memory (NUL-terminated). Returns 0, -ENOENT, -EFBIG, -ENOMEM or another
 * negative errno. */
static int file_read(const char *path, char **data, size_t *size) {
    struct stat st;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int fd, r = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        r = -EISDIR;
        goto out;
    }
    for (;;) {
        ssize_t got;

        if (cap - n < 4096) {
            char *grown;

            cap = cap ? cap * 2 : 8192;
            grown = realloc(buf, cap + 1);
            if (!grown) {
                r = -ENOMEM;
                goto out;
            }
            buf = grown;
        }
        got = read(fd, buf + n, cap - n);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > CONFIG_FILE_MAX) {
            r = -EFBIG;
            goto out;
        }
    }
    if (!buf && !(buf = malloc(1))) {
        r = -ENOMEM;
        goto out;
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return r;
}

/* Reads and applies one file. A missing file is fine unless required. Returns 0 or -ENOMEM. */
static int loader_file(loader *l, const char *path, bool required) {
    file_reader r = {.l = l, .section = SECTION_NONE};
    char *data = NULL, reason[128];
    int e;

    e = file_read(path, &data, &r.size);
    if (e == -ENOENT && !required)
        return 0;
    if (e == -ENOMEM)
        return e;
    if (e == -EFBIG)
        return gl_config_errors_add(l->errs, path, 0, "file is larger than %d bytes",
                                    CONFIG_FILE_MAX);
    if (e < 0) {
        strerror_into(-e, reason, sizeof(reason));
        return gl_config_errors_add(l->errs, path, 0, "cannot read configuration file: %s", reason);
    }

    r.file = loader_name(l, path);
    if (!r.file) {
        free(data);
        return -ENOMEM;
    }
    r.data = data;
    l->source++;
    /* Problems are collected by the callbacks; inih's own result (the first line it disliked) adds
     * nothing, since the reader already hid every line inih would reject. */
    (void)ini_parse_stream(reader_next, &r, reader_handle, &r);
    free(data);
    return r.error;
}

static int strcmp_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool dropin_name_ok(const char *name) {
    size_t len = strlen(name);

    return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".conf") == 0;
}

/* Applies PATH.d/ *.conf in byte-wise order (strcmp, never the locale's collation: the order must
 * be the same on every node). A missing directory is fine. Returns 0 or -ENOMEM. */
static int loader_dropins(loader *l, const char *path) {
    char *dir = NULL, **names = NULL, reason[128];
    size_t n = 0;
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (asprintf(&dir, "%s.d", path) < 0)
        return -ENOMEM;
    d = opendir(dir);
    if (!d) {
        if (errno != ENOENT) {
            strerror_into(errno, reason, sizeof(reason));
            r = gl_config_errors_add(l->errs, dir, 0, "cannot read drop-in directory: %s", reason);
        }
        free(dir);
        return r;
    }
    for (;;) {
        struct stat st;
        char **grown;

        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno != 0) {
                strerror_into(errno, reason, sizeof(reason));
                r = gl_config_errors_add(l->errs, dir, 0, "cannot read drop-in directory: %s",
                                         reason);
            }
            break;
        }
        /* Only regular files (or links to them) named *.conf; editor backups, dpkg leftovers and
         * hidden files are skipped without a word, as systemd does. */
        if (!dropin_name_ok(de->d_name) || fstatat(dirfd(d), de->d_name, &st, 0) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        grown = realloc(names, (n + 1) * sizeof(*names));
        if (!grown || !(grown[n] = strdup(de->d_name))) {
            names = grown ? grown : names;
            r = -ENOMEM;
            break;
        }
        names = grown;
        n++;
    }
    closedir(d);

    if (r >= 0)
        qsort(names, n, sizeof(*names), strcmp_ptr);
    for (size_t i = 0; i < n && r >= 0; i++) {
        char *file;

        if (asprintf(&file, "%s/%s", dir, names[i]) < 0) {
            r = -ENOMEM;
            break;
        }
        /* Listed a moment ago, so a file that is gone now is worth reporting. */
        r = loader_file(l, file, true);
        free(file);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    return r;
}

/* Applies the index-th "Section.Key=value" override. Each --set is a source of its own, so a
 * later --set of the same key wins, as repeated command line options usually do. The value is
 * taken literally: no comments, no trimming. Returns 0 or -ENOMEM. */
static int loader_set(loader *l, size_t index, const char *set) {
    const char *eq = set ? strchr(set, '=') : NULL, *dot;
    char *section = NULL, *name = NULL, quoted[GL_CONFIG_MSG_MAX / 4], hint[GL_CONFIG_MSG_MAX];
    unsigned line = (unsigned)index + 1;
    int r;

    l->source++;
    dot = eq ? memchr(set, '.', (size_t)(eq - set)) : NULL;
    if (!eq || !dot || dot == set || dot + 1 == eq)
        return gl_config_errors_add(l->errs, "--set", line,
                                    "invalid --set %s (expected Section.Key=value)",
                                    gl_config_quote(set, quoted, sizeof(quoted)));
    section = strndup(set, (size_t)(dot - set));
    name = strndup(dot + 1, (size_t)(eq - dot - 1));
    if (!section || !name) {
        r = -ENOMEM;
    } else if (gl_config_section_find(section) < 0) {
        gl_config_section_hint(section, hint, sizeof(hint));
        r = gl_config_errors_add(l->errs, "--set", line, "unknown section [%s]%s", section, hint);
    } else {
        r = loader_assign(l, "--set", line, section, name, eq + 1);
    }
    free(section);
    free(name);
    return r;
}

int gl_config_load(const gl_config_source *src, gl_config *out, gl_config_errors *errs) {
    gl_config_errors own_errs = {0};
    gl_config c;
    loader l = {.c = &c};
    const char *path = src && src->path ? src->path : GL_CONFIG_DEFAULT_PATH;
    size_t n_before;
    int r;

    *out = (gl_config){0};
    l.errs = errs ? errs : &own_errs;
    n_before = l.errs->n;

    r = gl_config_init_defaults(&c);
    if (r >= 0) {
        l.origins = calloc(gl_config_n_keys, sizeof(*l.origins));
        if (!l.origins)
            r = -ENOMEM;
    }
    if (r >= 0)
        r = loader_file(&l, path, src && src->path_required);
    if (r >= 0)
        r = loader_dropins(&l, path);
    for (size_t i = 0; src && i < src->n_sets && r >= 0; i++)
        r = loader_set(&l, i, src->sets[i]);
    if (r >= 0)
        r = gl_config_validate(&c, l.origins, l.errs);
    if (r >= 0 && l.errs->n > n_before)
        r = -EINVAL;

    if (r >= 0)
        *out = c;
    else
        gl_config_free(&c);
    for (size_t i = 0; i < l.n_names; i++)
        free(l.names[i]);
    free(l.names);
    free(l.origins);
    gl_config_errors_free(&own_errs);
    return r;
}
