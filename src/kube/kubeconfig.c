/* kubeconfig.c: kubeconfig (YAML via libyaml) to gl_kube_creds, and the helpers every source uses.
 */
#include "guardlet/kubeconfig.h"

#include "kubeconfig-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* A kubeconfig nests at most seven levels (root, clusters, entry, cluster, extensions, entry,
 * extension); extensions may hold anything, so leave room. The limit exists because libyaml keeps
 * a node and a stack entry per level: a megabyte of "[" would otherwise cost hundreds of MiB. */
#define KUBECONFIG_MAX_DEPTH 64

/* Names and URLs quoted in messages are cut here: enough to recognize them, too little to flood a
 * log line with a hostile value. */
#define QUOTE_MAX_CHARS 80

/* ---- helpers shared with incluster.c ---- */

void kube_errf(char *err, size_t err_size, const char *fmt, ...) {
    if (!err || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

const char *kube_read_error_text(int r) {
    if (r == -EFBIG)
        return "larger than 1 MiB";
    if (r == -EINVAL)
        return "not a regular file";
    return strerror(-r);
}

int kube_read_file(const char *path, char **out, size_t *out_len, gl_kube_file *rec) {
    *out = NULL;
    *out_len = 0;
    int fd;
    do {
        /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever. It
         * changes nothing for the regular files accepted below. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return -errno;

    int r = 0;
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        goto out;
    }
    if (st.st_size > GL_KUBE_FILE_MAX_BYTES) {
        r = -EFBIG;
        goto out;
    }
    /* The size may change between fstat and read (a rotation in progress), so read to EOF with
     * room for one byte past the limit, which tells "exactly 1 MiB" from "bigger". */
    size_t cap = (size_t)st.st_size + 1;
    buf = malloc(cap + 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            if (cap > GL_KUBE_FILE_MAX_BYTES) {
                r = -EFBIG;
                goto out;
            }
            size_t ncap = cap * 2 > (size_t)GL_KUBE_FILE_MAX_BYTES + 1
                              ? (size_t)GL_KUBE_FILE_MAX_BYTES + 1
                              : cap * 2;
            char *nbuf = realloc(buf, ncap + 1);
            if (!nbuf) {
                r = -ENOMEM;
                goto out;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > GL_KUBE_FILE_MAX_BYTES) {
        r = -EFBIG;
        goto out;
    }
    buf[len] = '\0';
    if (rec) {
        rec->stat_known = true;
        rec->dev = st.st_dev;
        rec->ino = st.st_ino;
        rec->size_bytes = st.st_size;
        rec->mtime = st.st_mtim;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
out:
    if (buf) {
        /* The buffer may hold a private key or a token. */
        explicit_bzero(buf, cap + 1);
        free(buf);
    }
    (void)close(fd);
    return r;
}

static bool is_space(char ch) {
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

int kube_token_span(const char *text, size_t len, const char **start, size_t *tok_len,
                    const char **why) {
    size_t b = 0, e = len;
    while (b < e && is_space(text[b]))
        b++;
    while (e > b && is_space(text[e - 1]))
        e--;
    if (b == e) {
        *why = "the token is empty";
        return -EBADMSG;
    }
    for (size_t i = b; i < e; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch <= ' ' || ch >= 0x7f) {
            *why = "the token holds white space, a control or a non-ASCII byte, which cannot go "
                   "into an HTTP header";
            return -EBADMSG;
        }
    }
    *start = text + b;
    *tok_len = e - b;
    return 0;
}

bool kube_looks_like_pem(const char *buf, size_t len) {
    return buf && memmem(buf, len, "-----BEGIN ", 11) != NULL;
}

/* Host name characters RFC 3986 allows unescaped in a reg-name that make sense for a server. */
static bool is_host_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_';
}

static bool is_ipv6_char(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') ||
           ch == ':' || ch == '.';
}

int kube_server_url(const char *url, char **out, const char **why) {
    *out = NULL;
    const char *scheme;
    unsigned default_port;
    if (strncasecmp(url, "https://", 8) == 0) {
        scheme = "https";
        default_port = 443;
        url += 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        scheme = "http";
        default_port = 80;
        url += 7;
    } else {
        *why = "it must start with https:// or http://";
        return -EBADMSG;
    }
    for (const char *p = url; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch >= 0x7f) {
            *why = "it holds white space, a control or a non-ASCII byte";
            return -EBADMSG;
        }
        if (ch == '?' || ch == '#') {
            *why = "a query or fragment has no place in a server URL";
            return -EBADMSG;
        }
    }
    size_t auth_len = strcspn(url, "/");
    const char *path = url + auth_len;
    if (memchr(url, '@', auth_len)) {
        *why = "user info (user@) is not supported; use a token or client certificate";
        return -EBADMSG;
    }

    const char *host = url;
    size_t host_len;
    const char *after; /* just past the host: ':' port or the end of the authority */
    if (auth_len > 0 && url[0] == '[') {
        const char *close = memchr(url, ']', auth_len);
        if (!close) {
            *why = "'[' without ']'";
            return -EBADMSG;
        }
        host_len = (size_t)(close - url) + 1;
        if (host_len == 2 || !memchr(url + 1, ':', host_len - 2)) {
            *why = "brackets must hold an IPv6 address";
            return -EBADMSG;
        }
        for (size_t i = 1; i + 1 < host_len; i++)
            if (!is_ipv6_char(url[i])) {
                *why = "brackets must hold an IPv6 address";
                return -EBADMSG;
            }
        after = close + 1;
    } else {
        const char *colon = memchr(url, ':', auth_len);
        host_len = colon ? (size_t)(colon - url) : auth_len;
        if (colon && memchr(colon + 1, ':', auth_len - host_len - 1)) {
            *why = "an IPv6 address must be written in brackets, as https://[fd00::1]:6443";
            return -EBADMSG;
        }
        for (size_t i = 0; i < host_len; i++)
            if (!is_host_char(url[i])) {
                *why = "the host holds a character not allowed in a host name";
                return -EBADMSG;
            }
        after = url + host_len;
    }
    if (host_len == 0) {
        *why = "the host is missing";
        return -EBADMSG;
    }

    unsigned long port = default_port;
    if (after < path) {
        if (*after != ':' || after + 1 == path) {
            *why = "the port is missing or malformed";
            return -EBADMSG;
        }
        port = 0;
        for (const char *p = after + 1; p < path; p++) {
            if (*p < '0' || *p > '9' || port > 65535) {
                *why = "the port must be a number from 1 to 65535";
                return -EBADMSG;
            }
            port = port * 10 + (unsigned long)(*p - '0');
        }
        if (port == 0 || port > 65535) {
            *why = "the port must be a number from 1 to 65535";
            return -EBADMSG;
        }
    }

    /* A path prefix is kept (proxies such as Rancher serve the API below one); its trailing
     * slashes are dropped so that callers can append "/api/v1/..." without doubling them. */
    size_t path_len = strlen(path);
    while (path_len > 0 && path[path_len - 1] == '/')
        path_len--;

    char *s = NULL;
    if (asprintf(&s, "%s://%.*s:%lu%.*s", scheme, (int)host_len, host, port, (int)path_len, path) <
        0)
        return -ENOMEM;
    *out = s;
    return 0;
}

int kube_set_file(gl_kube_creds *c, gl_kube_file_role role, const char *path) {
    char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    free(c->files[role].path);
    c->files[role] = (gl_kube_file){.path = p};
    return 0;
}

/* Frees a secret, wiping it first so it does not linger in freed heap (core dumps, reuse). */
static void free_secret(char *s, size_t len) {
    if (!s)
        return;
    explicit_bzero(s, len);
    free(s);
}

int kube_set_token(gl_kube_creds *c, const char *tok, size_t len) {
    char *t = strndup(tok, len);
    if (!t)
        return -ENOMEM;
    if (c->token)
        free_secret(c->token, strlen(c->token));
    c->token = t;
    return 0;
}

/* ---- public helpers ---- */

void gl_kube_creds_free(gl_kube_creds *c) {
    if (!c)
        return;
    free(c->source);
    free(c->context);
    free(c->server);
    free(c->ca_pem);
    free(c->tls_server_name);
    free(c->client_cert_pem);
    free_secret(c->client_key_pem, c->client_key_pem_len);
    if (c->token)
        free_secret(c->token, strlen(c->token));
    for (int i = 0; i < GL_KUBE_FILE_N; i++)
        free(c->files[i].path);
    free(c);
}

bool gl_kube_creds_changed(const gl_kube_creds *c) {
    if (!c)
        return false;
    for (int i = 0; i < GL_KUBE_FILE_N; i++) {
        const gl_kube_file *f = &c->files[i];
        if (!f->path || !f->stat_known)
            continue;
        struct stat st;
        /* stat follows symlinks on purpose: the kubelet's kubelet-client-current.pem and a
         * projected token are symlinks whose target is replaced on rotation. */
        if (stat(f->path, &st) < 0)
            return true;
        if (st.st_dev != f->dev || st.st_ino != f->ino || st.st_size != f->size_bytes ||
            st.st_mtim.tv_sec != f->mtime.tv_sec || st.st_mtim.tv_nsec != f->mtime.tv_nsec)
            return true;
    }
    return false;
}

int gl_kube_creds_reload_token(gl_kube_creds *c, char *err, size_t err_size) {
    if (!c)
        return -EINVAL;
    gl_kube_file *f = &c->files[GL_KUBE_FILE_TOKEN];
    if (!f->path)
        return 0;
    gl_kube_file rec = {0};
    char *text;
    size_t len;
    int r = kube_read_file(f->path, &text, &len, &rec);
    if (r < 0) {
        kube_errf(err, err_size, "%s: cannot read token file %s: %s", c->source, f->path,
                  kube_read_error_text(r));
        return r;
    }
    const char *tok, *why = NULL;
    size_t tok_len;
    r = kube_token_span(text, len, &tok, &tok_len, &why);
    if (r < 0) {
        kube_errf(err, err_size, "%s: token file %s: %s", c->source, f->path, why);
        free_secret(text, len);
        return r;
    }
    bool same = c->token && strlen(c->token) == tok_len && memcmp(c->token, tok, tok_len) == 0;
    if (!same) {
        r = kube_set_token(c, tok, tok_len);
        if (r < 0) {
            free_secret(text, len);
            return r;
        }
    }
    free_secret(text, len);
    rec.path = f->path;
    *f = rec;
    return same ? 0 : 1;
}

/* ---- base64 ---- */

static int b64_value(unsigned char ch) {
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int gl_kube_base64_decode(const char *in, size_t len, char **out, size_t *out_len,
                          size_t *bad_offset) {
    if (!out || !out_len || (!in && len > 0))
        return -EINVAL;
    *out = NULL;
    *out_len = 0;
    size_t bad_dummy;
    if (!bad_offset)
        bad_offset = &bad_dummy;

    /* Every 4 input characters give at most 3 bytes; CR and LF only make the bound looser. */
    char *buf = malloc(len / 4 * 3 + 3 + 1);
    if (!buf)
        return -ENOMEM;
    size_t o = 0;
    uint32_t acc = 0;
    int n = 0;            /* characters collected in the current 4-character quantum */
    size_t last_data = 0; /* offset of the last alphabet character, for leftover-bit errors */
    size_t i = 0;
    for (; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '\r' || ch == '\n')
            continue;
        if (ch == '=')
            break;
        int v = b64_value(ch);
        if (v < 0)
            goto bad;
        acc = acc << 6 | (uint32_t)v;
        last_data = i;
        if (++n == 4) {
            buf[o++] = (char)(acc >> 16);
            buf[o++] = (char)(acc >> 8);
            buf[o++] = (char)acc;
            acc = 0;
            n = 0;
        }
    }
    if (i < len) {
        /* Padding: after two characters "==", after three "=", never anywhere else. */
        int pads_needed = n == 2 ? 2 : n == 3 ? 1 : 0;
        if (pads_needed == 0)
            goto bad;
        int pads = 0;
        for (; i < len; i++) {
            unsigned char ch = (unsigned char)in[i];
            if (ch == '\r' || ch == '\n')
                continue;
            if (ch != '=' || pads == pads_needed)
                goto bad;
            pads++;
        }
        if (pads != pads_needed)
            goto bad_end;
        /* The last character carries bits past the data; a canonical encoder leaves them 0. A
         * non-zero remainder means the text was cut or altered. */
        uint32_t rest_mask = n == 2 ? 0xf : 0x3;
        if (acc & rest_mask) {
            i = last_data;
            goto bad;
        }
        if (n == 2) {
            buf[o++] = (char)(acc >> 4);
        } else {
            buf[o++] = (char)(acc >> 10);
            buf[o++] = (char)(acc >> 2);
        }
    } else if (n != 0) {
        goto bad_end;
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
bad_end:
    i = len;
bad:
    *bad_offset = i;
    free(buf);
    return -EBADMSG;
}

/* ---- kubeconfig ---- */

typedef struct {
    const char *path; /* absolute path of the kubeconfig, for messages */
    char *base_dir;   /* its folder, against which relative paths resolve */
    unsigned flags;
    char *err;
    size_t err_size;
    yaml_document_t doc;
    gl_kube_creds *c;
} kc_ctx;

/* Writes "kubeconfig PATH: FIELD: reason" (without "FIELD: " when field is NULL); returns r. */
__attribute__((format(printf, 4, 5))) static int kc_fail(kc_ctx *k, int r, const char *field,
                                                         const char *fmt, ...) {
    if (!k->err || k->err_size == 0)
        return r;
    char reason[GL_KUBE_ERR_SIZE];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (field)
        kube_errf(k->err, k->err_size, "kubeconfig %s: %s: %s", k->path, field, reason);
    else
        kube_errf(k->err, k->err_size, "kubeconfig %s: %s", k->path, reason);
    return r;
}

/* Copies s into buf in double quotes, escaping anything unprintable and cutting long values, so
 * that names taken from the file cannot garble a log line. */
static const char *quote(char *buf, size_t size, const char *s) {
    size_t o = 0;
    buf[o++] = '"';
    size_t i = 0;
    for (; s[i] && i < QUOTE_MAX_CHARS && o + 6 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < ' ' || ch >= 0x7f || ch == '"' || ch == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
        else
            buf[o++] = (char)ch;
    }
    if (s[i] && o + 4 < size) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* Room for quote()'s longest result: each character may become 4, plus quotes and "...". */
#define QUOTE_BUF_SIZE (QUOTE_MAX_CHARS * 4 + 8)

static int kc_yaml_error(kc_ctx *k, const yaml_parser_t *p) {
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return kc_fail(k, -ENOMEM, NULL, "out of memory while parsing YAML");
    case YAML_READER_ERROR:
        /* Reader errors (bad UTF-8, control characters) have an offset, not a line. */
        return kc_fail(k, -EBADMSG, NULL, "byte %zu: %s", p->problem_offset,
                       p->problem ? p->problem : "unreadable YAML");
    case YAML_SCANNER_ERROR:
    case YAML_PARSER_ERROR:
    case YAML_COMPOSER_ERROR:
        if (p->context)
            return kc_fail(k, -EBADMSG, NULL, "line %zu column %zu: %s, %s that starts at line %zu",
                           p->problem_mark.line + 1, p->problem_mark.column + 1,
                           p->problem ? p->problem : "malformed YAML", p->context,
                           p->context_mark.line + 1);
        return kc_fail(k, -EBADMSG, NULL, "line %zu column %zu: %s", p->problem_mark.line + 1,
                       p->problem_mark.column + 1, p->problem ? p->problem : "malformed YAML");
    default:
        return kc_fail(k, -EBADMSG, NULL, "malformed YAML");
    }
}

/*
 * First pass over the events, before libyaml builds the document: rejects nesting deeper than
 * KUBECONFIG_MAX_DEPTH and a second document early and cheaply, and reports syntax errors with
 * their line. The document loader keeps no such limit.
 */
static int kc_prepass(kc_ctx *k, const char *text, size_t len) {
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return kc_fail(k, -ENOMEM, NULL, "out of memory while parsing YAML");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int r = 0, depth = 0, docs = 0;
    for (bool done = false; !done;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            r = kc_yaml_error(k, &p);
            break;
        }
        yaml_event_type_t type = ev.type;
        yaml_mark_t mark = ev.start_mark;
        yaml_event_delete(&ev);
        switch (type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                r = kc_fail(k, -EBADMSG, NULL,
                            "line %zu: a second YAML document; a kubeconfig holds one",
                            mark.line + 1);
                done = true;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > KUBECONFIG_MAX_DEPTH) {
                r = kc_fail(k, -EBADMSG, NULL, "line %zu column %zu: nested deeper than %d levels",
                            mark.line + 1, mark.column + 1, KUBECONFIG_MAX_DEPTH);
                done = true;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
    }
    yaml_parser_delete(&p);
    return r;
}

static yaml_node_t *kc_node(kc_ctx *k, int index) {
    return yaml_document_get_node(&k->doc, index);
}

static size_t kc_line(const yaml_node_t *n) {
    return n->start_mark.line + 1;
}

/* YAML's null: "~", "null" or nothing, unquoted (or tagged !!null). Go's YAML decoding turns it
 * into an empty string, which kubeconfig readers treat as "not set". */
static bool kc_is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE)
        return false;
    if (n->tag && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
        return true;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static bool kc_key_is(kc_ctx *k, const yaml_node_pair_t *pair, const char *key) {
    const yaml_node_t *kn = kc_node(k, pair->key);
    return kn && kn->type == YAML_SCALAR_NODE && kn->data.scalar.length == strlen(key) &&
           memcmp(kn->data.scalar.value, key, kn->data.scalar.length) == 0;
}

/*
 * Looks key up in mapping m. *val is the value node, or NULL when the key is absent or null.
 * A key given twice is an error: YAML forbids it, libyaml does not check, and which one wins would
 * be a guess. field names the key for messages.
 */
static int kc_get(kc_ctx *k, yaml_node_t *m, const char *key, const char *field,
                  yaml_node_t **val) {
    *val = NULL;
    if (!m || m->type != YAML_MAPPING_NODE)
        return 0;
    bool found = false;
    for (yaml_node_pair_t *pair = m->data.mapping.pairs.start; pair < m->data.mapping.pairs.top;
         pair++) {
        if (!kc_key_is(k, pair, key))
            continue;
        if (found)
            return kc_fail(k, -EBADMSG, field, "given twice (line %zu)",
                           kc_line(kc_node(k, pair->key)));
        found = true;
        *val = kc_node(k, pair->value);
    }
    if (*val && kc_is_null(*val))
        *val = NULL;
    return 0;
}

/* A string value: *out is NULL when absent, null or empty (client-go treats "" as unset). */
static int kc_get_str(kc_ctx *k, yaml_node_t *m, const char *key, const char *field,
                      const char **out) {
    *out = NULL;
    yaml_node_t *v;
    int r = kc_get(k, m, key, field, &v);
    if (r < 0 || !v)
        return r;
    if (v->type != YAML_SCALAR_NODE)
        return kc_fail(k, -EBADMSG, field, "expected a string (line %zu)", kc_line(v));
    if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
        return kc_fail(k, -EBADMSG, field, "holds a NUL byte (line %zu)", kc_line(v));
    if (v->data.scalar.length > 0)
        *out = (const char *)v->data.scalar.value;
    return 0;
}

/* A boolean: true/false as YAML 1.2 spells them, plain (a quoted "true" is a string to Go). */
static int kc_get_bool(kc_ctx *k, yaml_node_t *m, const char *key, const char *field, bool *out) {
    *out = false;
    yaml_node_t *v;
    int r = kc_get(k, m, key, field, &v);
    if (r < 0 || !v)
        return r;
    const char *s = v->type == YAML_SCALAR_NODE && v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
                        ? (const char *)v->data.scalar.value
                        : "";
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
        *out = true;
    else if (strcmp(s, "false") != 0 && strcmp(s, "False") != 0 && strcmp(s, "FALSE") != 0)
        return kc_fail(k, -EBADMSG, field, "expected true or false (line %zu)", kc_line(v));
    return 0;
}

/*
 * Finds the entry named name in the top-level list (contexts, clusters or users: a list of
 * {name: N, <inner>: {...}}) and returns its inner mapping in *inner (NULL when the entry has
 * none) and its index. Two entries of that name are an error, as is no entry, which the
 * message blames on ref_field: the setting that named it.
 */
static int kc_find_named(kc_ctx *k, const char *list, const char *inner_key, const char *name,
                         const char *ref_field, size_t *index, yaml_node_t **inner) {
    *inner = NULL;
    char field[96], qbuf[QUOTE_BUF_SIZE];
    yaml_node_t *seq;
    int r = kc_get(k, yaml_document_get_root_node(&k->doc), list, list, &seq);
    if (r < 0)
        return r;
    if (seq && seq->type != YAML_SEQUENCE_NODE)
        return kc_fail(k, -EBADMSG, list, "expected a list (line %zu)", kc_line(seq));
    bool found = false;
    size_t n = seq ? (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start) : 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = kc_node(k, seq->data.sequence.items.start[i]);
        snprintf(field, sizeof(field), "%s[%zu]", list, i);
        if (!e || e->type != YAML_MAPPING_NODE)
            return kc_fail(k, -EBADMSG, field, "expected a mapping with name and %s (line %zu)",
                           inner_key, e ? kc_line(e) : 0);
        const char *ename;
        snprintf(field, sizeof(field), "%s[%zu].name", list, i);
        r = kc_get_str(k, e, "name", field, &ename);
        if (r < 0)
            return r;
        if (!ename || strcmp(ename, name) != 0)
            continue;
        snprintf(field, sizeof(field), "%s[%zu]", list, i);
        if (found)
            return kc_fail(k, -EINVAL, field, "a second entry named %s (line %zu)",
                           quote(qbuf, sizeof(qbuf), name), kc_line(e));
        found = true;
        *index = i;
        snprintf(field, sizeof(field), "%s[%zu].%s", list, i, inner_key);
        r = kc_get(k, e, inner_key, field, inner);
        if (r < 0)
            return r;
        if (*inner && (*inner)->type != YAML_MAPPING_NODE)
            return kc_fail(k, -EBADMSG, field, "expected a mapping (line %zu)", kc_line(*inner));
    }
    if (!found)
        return kc_fail(k, -EINVAL, ref_field, "no %s named %s", inner_key,
                       quote(qbuf, sizeof(qbuf), name));
    return 0;
}

/* A path from the file, absolute, or relative to the kubeconfig's folder as client-go resolves
 * it. Returns a new string or NULL (out of memory). */
static char *kc_resolve(kc_ctx *k, const char *p) {
    char *s = NULL;
    if (p[0] == '/')
        return strdup(p);
    if (asprintf(&s, "%s%s%s", k->base_dir, strcmp(k->base_dir, "/") == 0 ? "" : "/", p) < 0)
        return NULL;
    return s;
}

/*
 * Reads a referenced file (CA, client cert, key, tokenFile) into *data, recording it under role.
 * With GL_KUBECONFIG_SKIP_FILES only the path is recorded and *data stays NULL.
 */
static int kc_read_ref(kc_ctx *k, const char *field, gl_kube_file_role role, const char *raw,
                       char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    char *path = kc_resolve(k, raw);
    if (!path)
        return -ENOMEM;
    int r = kube_set_file(k->c, role, path);
    if (r < 0 || (k->flags & GL_KUBECONFIG_SKIP_FILES)) {
        free(path);
        return r;
    }
    r = kube_read_file(path, data, len, &k->c->files[role]);
    if (r < 0)
        r = kc_fail(k, r, field, "cannot read %s: %s", path, kube_read_error_text(r));
    free(path);
    return r;
}

/*
 * One PEM item (CA, client cert or key) from either its file key or its -data key, never both.
 * Leaves *pem NULL when neither is set (or the file is skipped).
 */
static int kc_pem_item(kc_ctx *k, yaml_node_t *m, const char *prefix, const char *file_key,
                       gl_kube_file_role role, char **pem, size_t *pem_len) {
    char file_field[96], data_field[96], data_key[64];
    snprintf(data_key, sizeof(data_key), "%s-data", file_key);
    snprintf(file_field, sizeof(file_field), "%s.%s", prefix, file_key);
    snprintf(data_field, sizeof(data_field), "%s.%s", prefix, data_key);
    const char *file, *data;
    int r = kc_get_str(k, m, file_key, file_field, &file);
    if (r < 0)
        return r;
    r = kc_get_str(k, m, data_key, data_field, &data);
    if (r < 0)
        return r;
    if (file && data)
        return kc_fail(k, -EINVAL, prefix, "both %s and %s are set; keep one", file_key, data_key);
    if (file) {
        r = kc_read_ref(k, file_field, role, file, pem, pem_len);
        if (r < 0 || !*pem)
            return r;
        if (!kube_looks_like_pem(*pem, *pem_len))
            return kc_fail(k, -EBADMSG, file_field, "%s holds no PEM data (no \"-----BEGIN\" line)",
                           k->c->files[role].path);
        return 0;
    }
    if (data) {
        size_t bad;
        r = gl_kube_base64_decode(data, strlen(data), pem, pem_len, &bad);
        if (r == -EBADMSG)
            return kc_fail(k, r, data_field, "invalid base64 at offset %zu", bad);
        if (r < 0)
            return r;
        if (!kube_looks_like_pem(*pem, *pem_len))
            /* "LS0tLS1" is base64 of "-----": the value was encoded twice. */
            return kc_fail(k, -EBADMSG, data_field, "decodes to no PEM data (no \"-----BEGIN\")%s",
                           strncmp(*pem, "LS0tLS1", 7) == 0 ? "; it looks base64-encoded twice"
                                                            : "");
    }
    return 0;
}

static int kc_cluster(kc_ctx *k, size_t idx, yaml_node_t *m) {
    char prefix[64], field[96], qbuf[QUOTE_BUF_SIZE];
    snprintf(prefix, sizeof(prefix), "clusters[%zu].cluster", idx);
    if (!m)
        return kc_fail(k, -EINVAL, prefix, "not set");
    gl_kube_creds *c = k->c;

    const char *s;
    snprintf(field, sizeof(field), "%s.proxy-url", prefix);
    int r = kc_get_str(k, m, "proxy-url", field, &s);
    if (r < 0)
        return r;
    if (s)
        return kc_fail(k, -EOPNOTSUPP, field, "proxies are not supported");

    snprintf(field, sizeof(field), "%s.server", prefix);
    r = kc_get_str(k, m, "server", field, &s);
    if (r < 0)
        return r;
    if (!s)
        return kc_fail(k, -EINVAL, field, "not set");
    const char *why = NULL;
    r = kube_server_url(s, &c->server, &why);
    if (r == -EBADMSG)
        return kc_fail(k, r, field, "%s: %s", quote(qbuf, sizeof(qbuf), s), why);
    if (r < 0)
        return r;

    snprintf(field, sizeof(field), "%s.insecure-skip-tls-verify", prefix);
    r = kc_get_bool(k, m, "insecure-skip-tls-verify", field, &c->insecure_skip_tls_verify);
    if (r < 0)
        return r;

    snprintf(field, sizeof(field), "%s.tls-server-name", prefix);
    r = kc_get_str(k, m, "tls-server-name", field, &s);
    if (r < 0)
        return r;
    if (s) {
        for (const char *p = s; *p; p++)
            if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
                return kc_fail(k, -EBADMSG, field, "%s is not a host name",
                               quote(qbuf, sizeof(qbuf), s));
        c->tls_server_name = strdup(s);
        if (!c->tls_server_name)
            return -ENOMEM;
    }

    r = kc_pem_item(k, m, prefix, "certificate-authority", GL_KUBE_FILE_CA, &c->ca_pem,
                    &c->ca_pem_len);
    if (r < 0)
        return r;
    /* client-go refuses the same combination: trusting a CA and trusting anyone at once means
     * the file was edited by mistake. */
    if (c->insecure_skip_tls_verify && (c->ca_pem || c->files[GL_KUBE_FILE_CA].path))
        return kc_fail(k, -EINVAL, prefix,
                       "insecure-skip-tls-verify is true but a certificate authority is given");
    return 0;
}

/* User keys guardlet refuses, each with the reason it gives. Ignoring them instead would connect
 * with the wrong identity, or with none. */
static const struct {
    const char *key;
    const char *why;
} unsupported_user_keys[] = {
    {"exec", "exec credential plugins are not supported; use a token, tokenFile or client "
             "certificate"},
    {"auth-provider", "auth-provider plugins are not supported; use a token, tokenFile or client "
                      "certificate"},
    {"username", "basic authentication is not supported; use a token, tokenFile or client "
                 "certificate"},
    {"password", "basic authentication is not supported; use a token, tokenFile or client "
                 "certificate"},
    {"as", "impersonation is not supported"},
    {"as-uid", "impersonation is not supported"},
    {"as-groups", "impersonation is not supported"},
    {"as-user-extra", "impersonation is not supported"},
};

static int kc_user(kc_ctx *k, size_t idx, yaml_node_t *m) {
    char prefix[64], field[96];
    snprintf(prefix, sizeof(prefix), "users[%zu].user", idx);
    gl_kube_creds *c = k->c;
    int r;
    for (size_t i = 0; i < sizeof(unsupported_user_keys) / sizeof(unsupported_user_keys[0]); i++) {
        yaml_node_t *v;
        snprintf(field, sizeof(field), "%s.%s", prefix, unsupported_user_keys[i].key);
        r = kc_get(k, m, unsupported_user_keys[i].key, field, &v);
        if (r < 0)
            return r;
        if (v)
            return kc_fail(k, -EOPNOTSUPP, field, "%s", unsupported_user_keys[i].why);
    }

    const char *token, *token_file;
    snprintf(field, sizeof(field), "%s.token", prefix);
    r = kc_get_str(k, m, "token", field, &token);
    if (r < 0)
        return r;
    char file_field[96];
    snprintf(file_field, sizeof(file_field), "%s.tokenFile", prefix);
    r = kc_get_str(k, m, "tokenFile", file_field, &token_file);
    if (r < 0)
        return r;
    if (token && token_file)
        return kc_fail(k, -EINVAL, prefix, "both token and tokenFile are set; keep one");
    const char *tok, *why = NULL;
    size_t tok_len;
    if (token) {
        /* The message never quotes the token: it is a secret. */
        r = kube_token_span(token, strlen(token), &tok, &tok_len, &why);
        if (r < 0)
            return kc_fail(k, r, field, "%s", why);
        r = kube_set_token(c, tok, tok_len);
        if (r < 0)
            return r;
    }
    if (token_file) {
        char *text;
        size_t len;
        r = kc_read_ref(k, file_field, GL_KUBE_FILE_TOKEN, token_file, &text, &len);
        if (r < 0)
            return r;
        if (text) { /* NULL when files are skipped */
            r = kube_token_span(text, len, &tok, &tok_len, &why);
            if (r < 0)
                r = kc_fail(k, r, file_field, "%s: %s", c->files[GL_KUBE_FILE_TOKEN].path, why);
            else
                r = kube_set_token(c, tok, tok_len);
            free_secret(text, len);
            if (r < 0)
                return r;
        }
    }

    r = kc_pem_item(k, m, prefix, "client-certificate", GL_KUBE_FILE_CLIENT_CERT,
                    &c->client_cert_pem, &c->client_cert_pem_len);
    if (r < 0)
        return r;
    r = kc_pem_item(k, m, prefix, "client-key", GL_KUBE_FILE_CLIENT_KEY, &c->client_key_pem,
                    &c->client_key_pem_len);
    if (r < 0)
        return r;
    bool have_cert = c->client_cert_pem || c->files[GL_KUBE_FILE_CLIENT_CERT].path;
    bool have_key = c->client_key_pem || c->files[GL_KUBE_FILE_CLIENT_KEY].path;
    if (have_cert != have_key)
        return kc_fail(k, -EINVAL, prefix, "%s is set without %s",
                       have_cert ? "client-certificate" : "client-key",
                       have_cert ? "client-key" : "client-certificate");
    return 0;
}

/* Picks the context, then fills the cluster and the user it names. */
static int kc_build(kc_ctx *k, const char *context) {
    char field[96];
    yaml_node_t *root = yaml_document_get_root_node(&k->doc);
    if (!root)
        return kc_fail(k, -EINVAL, NULL, "holds no YAML document");
    if (root->type != YAML_MAPPING_NODE)
        return kc_fail(k, -EBADMSG, NULL, "line %zu: the top level is not a mapping",
                       kc_line(root));

    const char *name = context && context[0] ? context : NULL;
    if (!name) {
        int r = kc_get_str(k, root, "current-context", "current-context", &name);
        if (r < 0)
            return r;
        if (!name)
            return kc_fail(k, -EINVAL, "current-context", "not set; name a context explicitly");
    }
    k->c->context = strdup(name);
    if (!k->c->context)
        return -ENOMEM;

    size_t ci;
    yaml_node_t *ctx;
    int r = kc_find_named(k, "contexts", "context", name,
                          context && context[0] ? "contexts" : "current-context", &ci, &ctx);
    if (r < 0)
        return r;
    const char *cluster, *user;
    snprintf(field, sizeof(field), "contexts[%zu].context.cluster", ci);
    r = kc_get_str(k, ctx, "cluster", field, &cluster);
    if (r < 0)
        return r;
    if (!cluster)
        return kc_fail(k, -EINVAL, field, "not set");
    char user_field[96];
    snprintf(user_field, sizeof(user_field), "contexts[%zu].context.user", ci);
    r = kc_get_str(k, ctx, "user", user_field, &user);
    if (r < 0)
        return r;

    size_t idx;
    yaml_node_t *inner;
    r = kc_find_named(k, "clusters", "cluster", cluster, field, &idx, &inner);
    if (r < 0)
        return r;
    r = kc_cluster(k, idx, inner);
    if (r < 0)
        return r;

    /* A context without a user is anonymous access; kubectl allows it and so do we (a local test
     * API server needs nothing more). */
    if (!user)
        return 0;
    r = kc_find_named(k, "users", "user", user, user_field, &idx, &inner);
    if (r < 0)
        return r;
    return kc_user(k, idx, inner);
}

/* path made absolute against the working directory, so that it and every path resolved against
 * it stay valid after a chdir. */
static char *abs_path(const char *path) {
    if (path[0] == '/')
        return strdup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd)))
        return NULL;
    char *s = NULL;
    if (asprintf(&s, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", path) < 0)
        return NULL;
    return s;
}

static int kc_parse(const char *text, size_t len, const char *path, const char *context,
                    unsigned flags, const gl_kube_file *rec, gl_kube_creds **out, char *err,
                    size_t err_size) {
    kc_ctx k = {.flags = flags, .err = err, .err_size = err_size, .path = path};
    if (len > GL_KUBE_FILE_MAX_BYTES)
        return kc_fail(&k, -EFBIG, NULL, "larger than 1 MiB");
    gl_kube_creds *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    k.c = c;
    int r = -ENOMEM;
    if (asprintf(&c->source, "kubeconfig %s", path) < 0) {
        c->source = NULL;
        goto fail;
    }
    if (kube_set_file(c, GL_KUBE_FILE_KUBECONFIG, path) < 0)
        goto fail;
    if (rec) {
        char *p = c->files[GL_KUBE_FILE_KUBECONFIG].path;
        c->files[GL_KUBE_FILE_KUBECONFIG] = *rec;
        c->files[GL_KUBE_FILE_KUBECONFIG].path = p;
    }
    k.base_dir = strdup(path);
    if (!k.base_dir)
        goto fail;
    char *slash = strrchr(k.base_dir, '/');
    if (slash == k.base_dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';

    r = kc_prepass(&k, text, len);
    if (r < 0)
        goto fail;

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        r = -ENOMEM;
        goto fail;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &k.doc)) {
        r = kc_yaml_error(&k, &p);
        yaml_parser_delete(&p);
        goto fail;
    }
    yaml_parser_delete(&p);
    r = kc_build(&k, context);
    yaml_document_delete(&k.doc);
    if (r < 0)
        goto fail;
    free(k.base_dir);
    *out = c;
    return 0;
fail:
    if (r == -ENOMEM)
        kc_fail(&k, r, NULL, "out of memory");
    free(k.base_dir);
    gl_kube_creds_free(c);
    return r;
}

int gl_kubeconfig_parse(const char *text, size_t len, const char *path, const char *context,
                        unsigned flags, gl_kube_creds **out, char *err, size_t err_size) {
    if (out)
        *out = NULL;
    if ((!text && len > 0) || !path || !path[0] || !out || (flags & ~GL_KUBECONFIG_SKIP_FILES))
        return -EINVAL;
    char *abs = abs_path(path);
    if (!abs) {
        int e = errno;
        kube_errf(err, err_size, "kubeconfig %s: %s", path, strerror(e));
        return -e;
    }
    int r = kc_parse(text ? text : "", len, abs, context, flags, NULL, out, err, err_size);
    free(abs);
    return r;
}

int gl_kubeconfig_load(const char *path, const char *context, gl_kube_creds **out, char *err,
                       size_t err_size) {
    if (out)
        *out = NULL;
    if (!path || !path[0] || !out)
        return -EINVAL;
    char *abs = abs_path(path);
    if (!abs) {
        int e = errno;
        kube_errf(err, err_size, "kubeconfig %s: %s", path, strerror(e));
        return -e;
    }
    char *text;
    size_t len;
    gl_kube_file rec = {0};
    int r = kube_read_file(abs, &text, &len, &rec);
    if (r < 0) {
        kube_errf(err, err_size, "kubeconfig %s: cannot read: %s", abs, kube_read_error_text(r));
        free(abs);
        return r;
    }
    r = kc_parse(text, len, abs, context, 0, &rec, out, err, err_size);
    /* An inline token or key may be in the text. (libyaml's own copies are freed unwiped: it
     * offers no hook for that.) */
    explicit_bzero(text, len);
    free(text);
    free(abs);
    return r;
}
