/* decode.c: strict jansson decoders for watch event lines, Pod objects and resource quantities. */
#include "guardlet/kube.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void errf(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t err_size, const char *fmt, ...) {
    if (!err || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------- quantities */

/* Kubernetes quantities are exact decimals; floating point would round "0.1" and make sums
 * depend on order. The value is kept as an integer mantissa and powers of 2 and 10, computed in
 * 128 bits so that 40 digits times 2^60 still fits before the final range check. */
typedef unsigned __int128 u128;

/* 10^30 is about 2^100: with the largest binary suffix checked step by step, nothing wraps. */
#define QUANTITY_MAX_DIGITS 30

int gl_kube_quantity_parse(const char *s, unsigned scale_pow10, uint64_t *out) {
    if (!s || !out || scale_pow10 > 9)
        return -EBADMSG;
    const char *p = s;
    if (*p == '+')
        p++;
    u128 mant = 0;
    int digits = 0, frac = 0;
    bool dot = false, any = false;
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            if (dot)
                return -EBADMSG;
            dot = true;
            continue;
        }
        any = true;
        /* Leading zeros do not count toward the digit limit. */
        if (mant == 0 && *p == '0') {
            if (dot)
                frac++;
            continue;
        }
        if (++digits > QUANTITY_MAX_DIGITS)
            return -EBADMSG;
        mant = mant * 10 + (u128)(*p - '0');
        if (dot)
            frac++;
    }
    if (!any)
        return -EBADMSG;
    /* "1.000000000000Ei" is 2^60, not an overflow: trailing fraction zeros carry nothing. */
    while (frac > 0 && mant != 0 && mant % 10 == 0) {
        mant /= 10;
        frac--;
    }
    int pow2 = 0, pow10 = 0;
    static const struct {
        const char *suffix;
        int pow2, pow10;
    } suffixes[] = {
        {"Ki", 10, 0}, {"Mi", 20, 0}, {"Gi", 30, 0}, {"Ti", 40, 0}, {"Pi", 50, 0}, {"Ei", 60, 0},
        {"n", 0, -9},  {"u", 0, -6},  {"m", 0, -3},  {"k", 0, 3},   {"M", 0, 6},   {"G", 0, 9},
        {"T", 0, 12},  {"P", 0, 15},  {"E", 0, 18},  {"", 0, 0},
    };
    if (*p == 'e' || *p == 'E') {
        /* "1E" alone would be the exa suffix; an exponent needs digits after it. */
        const char *q = p + 1;
        int sign = 1, ex = 0, n = 0;
        if (*q == '+' || *q == '-')
            sign = *q++ == '-' ? -1 : 1;
        for (; *q >= '0' && *q <= '9'; q++, n++) {
            if (n >= 3)
                return -EBADMSG;
            ex = ex * 10 + (*q - '0');
        }
        if (n > 0) {
            if (*q != '\0')
                return -EBADMSG;
            pow10 = sign * ex;
            goto have_suffix;
        }
    }
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
        if (strcmp(p, suffixes[i].suffix) == 0) {
            pow2 = suffixes[i].pow2;
            pow10 = suffixes[i].pow10;
            goto have_suffix;
        }
    return -EBADMSG;
have_suffix:;
    int e10 = pow10 + (int)scale_pow10 - frac;
    u128 v = mant;
    const u128 limit = (u128)INT64_MAX;
    if (v == 0) {
        *out = 0;
        return 0;
    }
    for (int i = 0; i < pow2; i++) {
        v <<= 1;
        if (v > limit << 40)
            return -ERANGE;
    }
    if (e10 >= 0) {
        for (int i = 0; i < e10; i++) {
            v *= 10;
            if (v > limit)
                return -ERANGE;
        }
    } else {
        /* Round up, as resource.Quantity.Value() and MilliValue() do: 0.1m of CPU is 1m. */
        u128 div = 1;
        for (int i = 0; i < -e10; i++) {
            if (div > v) {
                div = 0;
                break;
            }
            div *= 10;
        }
        v = div == 0 ? 1 : (v + div - 1) / div;
    }
    if (v > limit)
        return -ERANGE;
    *out = (uint64_t)v;
    return 0;
}

/* ---------------------------------------------------------------- watch events */

static const char *const event_names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *gl_kube_event_type_name(gl_kube_event_type t) {
    return (unsigned)t < sizeof(event_names) / sizeof(event_names[0]) ? event_names[t] : "?";
}

void gl_kube_watch_event_clear(gl_kube_watch_event *ev) {
    if (!ev)
        return;
    json_decref(ev->object);
    memset(ev, 0, sizeof(*ev));
}

int gl_kube_watch_event_decode(const char *line, size_t len, gl_kube_watch_event *ev, char *err,
                               size_t err_size) {
    memset(ev, 0, sizeof(*ev));
    if (len > GL_KUBE_LINE_MAX_BYTES) {
        errf(err, err_size, "watch event: line of %zu bytes is over the %u byte cap", len,
             GL_KUBE_LINE_MAX_BYTES);
        return -EMSGSIZE;
    }
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        errf(err, err_size, "watch event: bad JSON at line %d column %d: %s", jerr.line,
             jerr.column, jerr.text);
        return -EBADMSG;
    }
    int r = -EBADMSG;
    if (!json_is_object(root)) {
        errf(err, err_size, "watch event: not a JSON object");
        goto out;
    }
    const char *type = json_string_value(json_object_get(root, "type"));
    if (!type) {
        errf(err, err_size, "watch event: type: missing or not a string");
        goto out;
    }
    size_t i;
    for (i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++)
        if (strcmp(type, event_names[i]) == 0)
            break;
    if (i == sizeof(event_names) / sizeof(event_names[0])) {
        errf(err, err_size, "watch event: type: unknown \"%.40s\"", type);
        goto out;
    }
    json_t *obj = json_object_get(root, "object");
    if (!json_is_object(obj)) {
        errf(err, err_size, "watch event: object: missing or not an object");
        goto out;
    }
    ev->type = (gl_kube_event_type)i;
    if (ev->type == GL_KUBE_EVENT_ERROR) {
        json_t *code = json_object_get(obj, "code");
        if (code && !json_is_integer(code)) {
            errf(err, err_size, "watch event: object.code: not an integer");
            goto out;
        }
        ev->error_code = code ? (long)json_integer_value(code) : 0;
        const char *reason = json_string_value(json_object_get(obj, "reason"));
        const char *msg = json_string_value(json_object_get(obj, "message"));
        ev->error_message = msg ? msg : "";
        ev->expired = ev->error_code == 410 ||
                      (reason && (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0));
    } else {
        json_t *meta = json_object_get(obj, "metadata");
        if (meta && !json_is_object(meta)) {
            errf(err, err_size, "watch event: object.metadata: not an object");
            goto out;
        }
        json_t *rv = meta ? json_object_get(meta, "resourceVersion") : NULL;
        if (rv && !json_is_string(rv)) {
            errf(err, err_size, "watch event: object.metadata.resourceVersion: not a string");
            goto out;
        }
        ev->resource_version = rv ? json_string_value(rv) : NULL;
        if (ev->type == GL_KUBE_EVENT_BOOKMARK &&
            (!ev->resource_version || !ev->resource_version[0])) {
            errf(err, err_size, "watch event: BOOKMARK without object.metadata.resourceVersion");
            goto out;
        }
    }
    ev->object = json_incref(obj);
    r = 0;
out:
    json_decref(root);
    if (r < 0) {
        memset(ev, 0, sizeof(*ev));
        ev->object = NULL;
    }
    return r;
}

/* ---------------------------------------------------------------- pods */

bool gl_kube_qos_to_local(gl_kube_qos q, gl_qos *out) {
    switch (q) {
    case GL_KUBE_QOS_GUARANTEED:
        *out = GL_QOS_GUARANTEED;
        return true;
    case GL_KUBE_QOS_BURSTABLE:
        *out = GL_QOS_BURSTABLE;
        return true;
    case GL_KUBE_QOS_BESTEFFORT:
        *out = GL_QOS_BESTEFFORT;
        return true;
    default:
        return false;
    }
}

const char *gl_kube_qos_name(gl_kube_qos q) {
    switch (q) {
    case GL_KUBE_QOS_GUARANTEED:
        return "Guaranteed";
    case GL_KUBE_QOS_BURSTABLE:
        return "Burstable";
    case GL_KUBE_QOS_BESTEFFORT:
        return "BestEffort";
    default:
        return "Unknown";
    }
}

void gl_kube_pod_free(gl_kube_pod *p) {
    if (!p)
        return;
    free(p->uid);
    free(p->namespace_);
    free(p->name);
    free(p->node_name);
    free(p->resource_version);
    free(p->phase);
    free(p->owner_kind);
    free(p->deletion_timestamp);
    json_decref(p->annotations);
    free(p);
}

const char *gl_kube_pod_annotation(const gl_kube_pod *p, const char *key) {
    if (!p || !p->annotations || !key)
        return NULL;
    return json_string_value(json_object_get(p->annotations, key));
}

/* Copies an optional string member (absent or null: *out stays NULL). */
static int opt_string(const json_t *parent, const char *key, const char *where, bool required,
                      char **out, char *err, size_t err_size) {
    json_t *v = parent ? json_object_get(parent, key) : NULL;
    if (!v || json_is_null(v)) {
        if (required) {
            errf(err, err_size, "pod: %s.%s: missing", where, key);
            return -EBADMSG;
        }
        return 0;
    }
    if (!json_is_string(v)) {
        errf(err, err_size, "pod: %s.%s: not a string", where, key);
        return -EBADMSG;
    }
    if (required && json_string_length(v) == 0) {
        errf(err, err_size, "pod: %s.%s: empty", where, key);
        return -EBADMSG;
    }
    if (!(*out = strdup(json_string_value(v))))
        return -ENOMEM;
    return 0;
}

/* The object member key of parent, NULL when absent or null; -EBADMSG when of another type. */
static int opt_object(const json_t *parent, const char *key, const char *where, json_t **out,
                      char *err, size_t err_size) {
    json_t *v = parent ? json_object_get(parent, key) : NULL;
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        errf(err, err_size, "pod: %s.%s: not an object", where, key);
        return -EBADMSG;
    }
    *out = v;
    return 0;
}

typedef struct {
    uint64_t mem_bytes;
    uint64_t cpu_milli;
} requests;

static int add_u64(uint64_t *acc, uint64_t v) {
    if (*acc > UINT64_MAX - v || *acc + v > (uint64_t)INT64_MAX)
        return -ERANGE;
    *acc += v;
    return 0;
}

/* Reads cpu and memory out of a ResourceList object (requests or overhead). */
static int resource_list(const json_t *list, const char *where, requests *out, char *err,
                         size_t err_size) {
    static const struct {
        const char *name;
        unsigned scale;
    } keys[] = {{"memory", 0}, {"cpu", 3}};
    memset(out, 0, sizeof(*out));
    if (!list)
        return 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(list, keys[i].name);
        if (!v)
            continue;
        /* The API server always sends strings, but a quantity may be a JSON number in
         * hand-written objects; integers only, as floats would not be exact. */
        char num[32];
        const char *text = json_string_value(v);
        if (json_is_integer(v) && json_integer_value(v) >= 0) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            text = num;
        }
        if (!text) {
            errf(err, err_size, "pod: %s.%s: not a quantity string", where, keys[i].name);
            return -EBADMSG;
        }
        uint64_t q;
        int r = gl_kube_quantity_parse(text, keys[i].scale, &q);
        if (r < 0) {
            errf(err, err_size, "pod: %s.%s: %s \"%.40s\"", where, keys[i].name,
                 r == -ERANGE ? "quantity out of range" : "bad quantity", text);
            return r;
        }
        if (i == 0)
            out->mem_bytes = q;
        else
            out->cpu_milli = q;
    }
    return 0;
}

/* Sums or maxes one container list's requests into sum (regular containers and sidecars) and
 * init_max (regular init containers). */
static int container_requests(const json_t *spec, const char *key, bool init, requests *sum,
                              requests *init_max, char *err, size_t err_size) {
    json_t *arr = json_object_get(spec, key);
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr)) {
        errf(err, err_size, "pod: spec.%s: not an array", key);
        return -EBADMSG;
    }
    size_t i;
    json_t *ctr;
    json_array_foreach(arr, i, ctr) {
        char where[96];
        snprintf(where, sizeof(where), "spec.%s[%zu]", key, i);
        if (!json_is_object(ctr)) {
            errf(err, err_size, "pod: %s: not an object", where);
            return -EBADMSG;
        }
        json_t *res, *reqs;
        int r = opt_object(ctr, "resources", where, &res, err, err_size);
        if (r < 0)
            return r;
        char where2[128];
        snprintf(where2, sizeof(where2), "%s.resources", where);
        if ((r = opt_object(res, "requests", where2, &reqs, err, err_size)) < 0)
            return r;
        snprintf(where2, sizeof(where2), "%s.resources.requests", where);
        requests q;
        if ((r = resource_list(reqs, where2, &q, err, err_size)) < 0)
            return r;
        json_t *rp = json_object_get(ctr, "restartPolicy");
        if (rp && !json_is_null(rp) && !json_is_string(rp)) {
            errf(err, err_size, "pod: %s.restartPolicy: not a string", where);
            return -EBADMSG;
        }
        /* A restartable init container (sidecar) runs beside the app containers, so it adds up
         * with them; a regular one runs alone before them, so only the largest counts. */
        bool sidecar = init && rp && strcmp(json_string_value(rp), "Always") == 0;
        if (!init || sidecar) {
            if (add_u64(&sum->mem_bytes, q.mem_bytes) < 0 ||
                add_u64(&sum->cpu_milli, q.cpu_milli) < 0) {
                errf(err, err_size, "pod: %s: requests add up out of range", where);
                return -ERANGE;
            }
        } else {
            if (q.mem_bytes > init_max->mem_bytes)
                init_max->mem_bytes = q.mem_bytes;
            if (q.cpu_milli > init_max->cpu_milli)
                init_max->cpu_milli = q.cpu_milli;
        }
    }
    return 0;
}

static int owner_kind(const json_t *meta, char **out, char *err, size_t err_size) {
    json_t *refs = json_object_get(meta, "ownerReferences");
    if (!refs || json_is_null(refs))
        return 0;
    if (!json_is_array(refs)) {
        errf(err, err_size, "pod: metadata.ownerReferences: not an array");
        return -EBADMSG;
    }
    const char *pick = NULL;
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref) {
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        if (!json_is_object(ref) || !kind) {
            errf(err, err_size, "pod: metadata.ownerReferences[%zu].kind: missing or not a string",
                 i);
            return -EBADMSG;
        }
        if (!pick)
            pick = kind;
        if (json_is_true(json_object_get(ref, "controller"))) {
            pick = kind;
            break;
        }
    }
    if (pick && !(*out = strdup(pick)))
        return -ENOMEM;
    return 0;
}

int gl_kube_pod_decode(const json_t *obj, gl_kube_pod **out, char *err, size_t err_size) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!json_is_object(obj)) {
        errf(err, err_size, "pod: not an object");
        return -EBADMSG;
    }
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (kind && strcmp(kind, "Pod") != 0) {
        errf(err, err_size, "pod: kind: \"%.40s\", not Pod", kind);
        return -EBADMSG;
    }
    gl_kube_pod *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    json_t *meta, *spec, *status, *ann;
    int r;
    if ((r = opt_object(obj, "metadata", "", &meta, err, err_size)) < 0)
        goto fail;
    if (!meta) {
        errf(err, err_size, "pod: metadata: missing");
        r = -EBADMSG;
        goto fail;
    }
    if ((r = opt_string(meta, "uid", "metadata", true, &p->uid, err, err_size)) < 0 ||
        (r = opt_string(meta, "namespace", "metadata", true, &p->namespace_, err, err_size)) < 0 ||
        (r = opt_string(meta, "name", "metadata", true, &p->name, err, err_size)) < 0 ||
        (r = opt_string(meta, "resourceVersion", "metadata", false, &p->resource_version, err,
                        err_size)) < 0 ||
        (r = opt_string(meta, "deletionTimestamp", "metadata", false, &p->deletion_timestamp, err,
                        err_size)) < 0 ||
        (r = owner_kind(meta, &p->owner_kind, err, err_size)) < 0)
        goto fail;
    if ((r = opt_object(meta, "annotations", "metadata", &ann, err, err_size)) < 0)
        goto fail;
    if (ann) {
        const char *key;
        json_t *v;
        json_object_foreach(ann, key, v) {
            if (!json_is_string(v)) {
                errf(err, err_size, "pod: metadata.annotations[\"%.60s\"]: not a string", key);
                r = -EBADMSG;
                goto fail;
            }
        }
        p->annotations = json_incref(ann);
        /* How the kubelet marks static pods (pkg/kubelet/types/pod_update.go). */
        const char *source = gl_kube_pod_annotation(p, "kubernetes.io/config.source");
        p->is_mirror = gl_kube_pod_annotation(p, "kubernetes.io/config.mirror") != NULL;
        p->is_static = p->is_mirror || (source && strcmp(source, "api") != 0);
    }

    if ((r = opt_object(obj, "spec", "", &spec, err, err_size)) < 0)
        goto fail;
    if (spec) {
        if ((r = opt_string(spec, "nodeName", "spec", false, &p->node_name, err, err_size)) < 0)
            goto fail;
        json_t *prio = json_object_get(spec, "priority");
        if (prio && !json_is_null(prio)) {
            if (!json_is_integer(prio)) {
                errf(err, err_size, "pod: spec.priority: not an integer");
                r = -EBADMSG;
                goto fail;
            }
            json_int_t v = json_integer_value(prio);
            if (v < INT32_MIN || v > INT32_MAX) {
                errf(err, err_size, "pod: spec.priority: %lld out of the int32 range",
                     (long long)v);
                r = -ERANGE;
                goto fail;
            }
            p->priority = (int32_t)v;
        }
        requests sum = {0}, init_max = {0}, overhead;
        json_t *ov;
        if ((r = container_requests(spec, "containers", false, &sum, &init_max, err, err_size)) <
                0 ||
            (r = container_requests(spec, "initContainers", true, &sum, &init_max, err, err_size)) <
                0 ||
            (r = opt_object(spec, "overhead", "spec", &ov, err, err_size)) < 0 ||
            (r = resource_list(ov, "spec.overhead", &overhead, err, err_size)) < 0)
            goto fail;
        p->memory_request_bytes =
            sum.mem_bytes > init_max.mem_bytes ? sum.mem_bytes : init_max.mem_bytes;
        p->cpu_request_millicores =
            sum.cpu_milli > init_max.cpu_milli ? sum.cpu_milli : init_max.cpu_milli;
        if (add_u64(&p->memory_request_bytes, overhead.mem_bytes) < 0 ||
            add_u64(&p->cpu_request_millicores, overhead.cpu_milli) < 0) {
            errf(err, err_size, "pod: spec.overhead: requests add up out of range");
            r = -ERANGE;
            goto fail;
        }
    }

    if ((r = opt_object(obj, "status", "", &status, err, err_size)) < 0)
        goto fail;
    if (status) {
        char *qos = NULL;
        if ((r = opt_string(status, "phase", "status", false, &p->phase, err, err_size)) < 0 ||
            (r = opt_string(status, "qosClass", "status", false, &qos, err, err_size)) < 0)
            goto fail;
        if (qos) {
            if (strcmp(qos, "Guaranteed") == 0)
                p->qos = GL_KUBE_QOS_GUARANTEED;
            else if (strcmp(qos, "Burstable") == 0)
                p->qos = GL_KUBE_QOS_BURSTABLE;
            else if (strcmp(qos, "BestEffort") == 0)
                p->qos = GL_KUBE_QOS_BESTEFFORT;
            else {
                errf(err, err_size, "pod: status.qosClass: unknown \"%.40s\"", qos);
                free(qos);
                r = -EBADMSG;
                goto fail;
            }
            free(qos);
        }
    }
    *out = p;
    return 0;
fail:
    gl_kube_pod_free(p);
    return r;
}
