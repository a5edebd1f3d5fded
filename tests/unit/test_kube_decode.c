/* test_kube_decode.c: Check suite for the watch event, Pod and quantity decoders. */
#include "guardlet/kube.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static uint64_t q(const char *s, unsigned scale) {
    uint64_t v = 0;
    int r = gl_kube_quantity_parse(s, scale, &v);
    ck_assert_msg(r == 0, "quantity \"%s\": %d", s, r);
    return v;
}

START_TEST(test_quantities) {
    ck_assert_uint_eq(q("128Mi", 0), 128ull << 20);
    ck_assert_uint_eq(q("1Gi", 0), 1ull << 30);
    ck_assert_uint_eq(q("1.5Gi", 0), 3ull << 29);
    ck_assert_uint_eq(q("500m", 3), 500);
    ck_assert_uint_eq(q("1", 3), 1000);
    ck_assert_uint_eq(q("0.5", 3), 500);
    ck_assert_uint_eq(q(".5", 3), 500);
    ck_assert_uint_eq(q("+2", 0), 2);
    ck_assert_uint_eq(q("1e3", 0), 1000);
    ck_assert_uint_eq(q("1E3", 3), 1000000);
    ck_assert_uint_eq(q("1e-3", 3), 1);
    ck_assert_uint_eq(q("2k", 0), 2000);
    ck_assert_uint_eq(q("1.5G", 0), 1500000000);
    ck_assert_uint_eq(q("1E", 0), 1000000000000000000ull);
    ck_assert_uint_eq(q("1.000000000000Ei", 0), 1ull << 60);
    ck_assert_uint_eq(q("0", 0), 0);
    ck_assert_uint_eq(q("0.000Mi", 0), 0);
    /* Rounded up, as Kubernetes does: 0.1m is 1m, 1.5 bytes is 2. */
    ck_assert_uint_eq(q("0.1m", 3), 1);
    ck_assert_uint_eq(q("1500m", 0), 2);
    ck_assert_uint_eq(q("1n", 3), 1);
    ck_assert_uint_eq(q("100u", 3), 1);

    static const char *const bad[] = {"",     "-1",     "Mi",    "1K",   "1mi", "1.2.3", ".",
                                      "1e",   "1e1000", "1e3Mi", "1 Mi", " 1",  "1i",    "0x10",
                                      "1Mii", "1e+",    "1,5",   "inf",  "nan", "1m5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v;
        ck_assert_msg(gl_kube_quantity_parse(bad[i], 0, &v) == -EBADMSG, "\"%s\" accepted", bad[i]);
    }
    uint64_t v;
    ck_assert_int_eq(gl_kube_quantity_parse("8Ei", 0, &v), -ERANGE);
    ck_assert_int_eq(gl_kube_quantity_parse("10E", 0, &v), -ERANGE);
    ck_assert_int_eq(gl_kube_quantity_parse("1e100", 0, &v), -ERANGE);
    ck_assert_int_eq(gl_kube_quantity_parse("1234567890123456789012345678901", 0, &v), -EBADMSG);
}
END_TEST

static int decode_line(const char *s, gl_kube_watch_event *ev, char *err, size_t n) {
    return gl_kube_watch_event_decode(s, strlen(s), ev, err, n);
}

START_TEST(test_watch_events) {
    gl_kube_watch_event ev;
    char err[256] = "";
    ck_assert_int_eq(decode_line("{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
                                 "{\"resourceVersion\":\"42\"}}}\n",
                                 &ev, err, sizeof(err)),
                     0);
    ck_assert_int_eq(ev.type, GL_KUBE_EVENT_ADDED);
    ck_assert_str_eq(ev.resource_version, "42");
    ck_assert_ptr_nonnull(ev.object);
    gl_kube_watch_event_clear(&ev);

    ck_assert_int_eq(decode_line("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\","
                                 "\"metadata\":{\"resourceVersion\":\"77\"}}}",
                                 &ev, err, sizeof(err)),
                     0);
    ck_assert_int_eq(ev.type, GL_KUBE_EVENT_BOOKMARK);
    ck_assert_str_eq(ev.resource_version, "77");
    ck_assert_str_eq(gl_kube_event_type_name(ev.type), "BOOKMARK");
    gl_kube_watch_event_clear(&ev);
}
END_TEST

START_TEST(test_watch_410) {
    gl_kube_watch_event ev;
    char err[256] = "";
    ck_assert_int_eq(
        decode_line("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                    "\"status\":\"Failure\",\"message\":\"too old resource version: 1 (5)\","
                    "\"reason\":\"Expired\",\"code\":410}}",
                    &ev, err, sizeof(err)),
        0);
    ck_assert_int_eq(ev.type, GL_KUBE_EVENT_ERROR);
    ck_assert(ev.expired);
    ck_assert_int_eq(ev.error_code, 410);
    ck_assert_str_eq(ev.error_message, "too old resource version: 1 (5)");
    gl_kube_watch_event_clear(&ev);

    /* Older servers said Gone without a code. */
    ck_assert_int_eq(
        decode_line("{\"type\":\"ERROR\",\"object\":{\"reason\":\"Gone\"}}", &ev, err, sizeof(err)),
        0);
    ck_assert(ev.expired);
    gl_kube_watch_event_clear(&ev);

    ck_assert_int_eq(decode_line("{\"type\":\"ERROR\",\"object\":{\"code\":500,\"reason\":"
                                 "\"InternalError\"}}",
                                 &ev, err, sizeof(err)),
                     0);
    ck_assert(!ev.expired);
    ck_assert_int_eq(ev.error_code, 500);
    gl_kube_watch_event_clear(&ev);
}
END_TEST

START_TEST(test_watch_malformed) {
    static const struct {
        const char *line;
        const char *field;
    } cases[] = {
        {"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",", "bad JSON"},
        {"[1,2]", "not a JSON object"},
        {"{\"object\":{}}", "type"},
        {"{\"type\":\"EXPLODED\",\"object\":{}}", "type: unknown"},
        {"{\"type\":\"ADDED\"}", "object"},
        {"{\"type\":\"ADDED\",\"object\":[]}", "object"},
        {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":5}}}",
         "resourceVersion"},
        {"{\"type\":\"BOOKMARK\",\"object\":{}}", "BOOKMARK"},
        {"{\"type\":\"ERROR\",\"object\":{\"code\":\"410\"}}", "object.code"},
        {"{\"type\":\"ADDED\",\"type\":\"DELETED\",\"object\":{}}", "duplicate"},
        {"{\"type\":\"ADDED\",\"object\":{}} trailing", "bad JSON"},
        {"", "bad JSON"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gl_kube_watch_event ev;
        char err[256] = "";
        ck_assert_msg(decode_line(cases[i].line, &ev, err, sizeof(err)) == -EBADMSG, "accepted: %s",
                      cases[i].line);
        ck_assert_ptr_null(ev.object);
        ck_assert_msg(strstr(err, cases[i].field) != NULL, "%s: message \"%s\" lacks \"%s\"",
                      cases[i].line, err, cases[i].field);
    }
    /* The cap is checked before any parsing. */
    gl_kube_watch_event ev;
    char err[256] = "";
    ck_assert_int_eq(
        gl_kube_watch_event_decode("{}", (size_t)GL_KUBE_LINE_MAX_BYTES + 1, &ev, err, sizeof(err)),
        -EMSGSIZE);
}
END_TEST

static const char POD_JSON[] =
    "{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\",\"uid\":\"u-1\","
    "\"resourceVersion\":\"9\",\"annotations\":{\"guardlet.io/protect\":\"true\"},"
    "\"ownerReferences\":[{\"kind\":\"Node\"},{\"kind\":\"ReplicaSet\",\"controller\":true}]},"
    "\"spec\":{\"nodeName\":\"node-a\",\"priority\":1000,"
    "\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"memory\":\"128Mi\",\"cpu\":"
    "\"250m\"}}},{\"name\":\"b\",\"resources\":{\"requests\":{\"memory\":\"64Mi\",\"cpu\":"
    "\"0.5\"}}},{\"name\":\"c\"}],"
    "\"initContainers\":[{\"name\":\"i\",\"resources\":{\"requests\":{\"memory\":\"1Gi\"}}},"
    "{\"name\":\"side\",\"restartPolicy\":\"Always\",\"resources\":{\"requests\":{\"cpu\":"
    "\"100m\",\"memory\":\"16Mi\"}}}],"
    "\"overhead\":{\"cpu\":\"10m\"}},"
    "\"status\":{\"phase\":\"Running\",\"qosClass\":\"Burstable\"}}";

static gl_kube_pod *pod_from(const char *text, int want, const char *field) {
    json_error_t jerr;
    json_t *obj = json_loads(text, 0, &jerr);
    ck_assert_msg(obj != NULL, "test JSON: %s", jerr.text);
    gl_kube_pod *p = NULL;
    char err[256] = "";
    int r = gl_kube_pod_decode(obj, &p, err, sizeof(err));
    json_decref(obj);
    ck_assert_msg(r == want, "decode gave %d (%s), want %d", r, err, want);
    if (field)
        ck_assert_msg(strstr(err, field) != NULL, "message \"%s\" lacks \"%s\"", err, field);
    return p;
}

START_TEST(test_pod_decode) {
    gl_kube_pod *p = pod_from(POD_JSON, 0, NULL);
    ck_assert_str_eq(p->uid, "u-1");
    ck_assert_str_eq(p->namespace_, "shop");
    ck_assert_str_eq(p->name, "web-1");
    ck_assert_str_eq(p->node_name, "node-a");
    ck_assert_str_eq(p->resource_version, "9");
    ck_assert_str_eq(p->phase, "Running");
    ck_assert_str_eq(p->owner_kind, "ReplicaSet");
    ck_assert_ptr_null(p->deletion_timestamp);
    ck_assert_int_eq(p->priority, 1000);
    ck_assert_int_eq(p->qos, GL_KUBE_QOS_BURSTABLE);
    ck_assert_str_eq(gl_kube_qos_name(p->qos), "Burstable");
    /* Memory: the 1Gi init container runs alone and is the largest; CPU: 250m + 500m + 100m
     * sidecar, plus 10m overhead. */
    ck_assert_uint_eq(p->memory_request_bytes, 1ull << 30);
    ck_assert_uint_eq(p->cpu_request_millicores, 860);
    ck_assert_str_eq(gl_kube_pod_annotation(p, "guardlet.io/protect"), "true");
    ck_assert_ptr_null(gl_kube_pod_annotation(p, "nope"));
    ck_assert(!p->is_mirror);
    ck_assert(!p->is_static);
    gl_kube_pod_free(p);

    p = pod_from(
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"etcd-n\",\"namespace\":\"kube-system\","
        "\"uid\":\"u-2\",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\",\"annotations\":{"
        "\"kubernetes.io/config.mirror\":\"abc\",\"kubernetes.io/config.source\":"
        "\"file\"}},\"status\":{\"qosClass\":\"BestEffort\"}}",
        0, NULL);
    ck_assert(p->is_mirror);
    ck_assert(p->is_static);
    ck_assert_int_eq(p->qos, GL_KUBE_QOS_BESTEFFORT);
    ck_assert_str_eq(p->deletion_timestamp, "2026-01-01T00:00:00Z");
    ck_assert_uint_eq(p->memory_request_bytes, 0);
    gl_kube_pod_free(p);

    p = pod_from("{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"u\",\"annotations\":"
                 "{\"kubernetes.io/config.source\":\"api\"}}}",
                 0, NULL);
    ck_assert(!p->is_static);
    ck_assert_int_eq(p->qos, GL_KUBE_QOS_UNKNOWN);
    gl_kube_pod_free(p);
}
END_TEST

START_TEST(test_pod_malformed) {
    static const struct {
        const char *json;
        int want;
        const char *field;
    } cases[] = {
        {"[]", -EBADMSG, "not an object"},
        {"{}", -EBADMSG, "metadata: missing"},
        {"{\"kind\":\"Node\",\"metadata\":{}}", -EBADMSG, "kind"},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\"}}", -EBADMSG, "metadata.uid"},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"\"}}", -EBADMSG,
         "metadata.uid: empty"},
        {"{\"metadata\":{\"name\":5,\"namespace\":\"d\",\"uid\":\"u\"}}", -EBADMSG,
         "metadata.name"},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"u\",\"annotations\":{\"a\":1}"
         "}}",
         -EBADMSG, "annotations"},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"u\"},\"spec\":{\"priority\":"
         "\"high\"}}",
         -EBADMSG, "spec.priority"},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"u\"},\"spec\":{\"priority\":"
         "3000000000}}",
         -ERANGE, "spec.priority"},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"u\"},\"spec\":{"
         "\"containers\":"
         "[{\"resources\":{\"requests\":{\"memory\":\"12Q\"}}}]}}",
         -EBADMSG, "spec.containers[0].resources.requests.memory: bad quantity \"12Q\""},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"u\"},\"spec\":{"
         "\"containers\":"
         "[{},{\"resources\":{\"requests\":{\"cpu\":\"9E\"}}}]}}",
         -ERANGE, "spec.containers[1].resources.requests.cpu"},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"u\"},\"spec\":{"
         "\"containers\":"
         "{}}}",
         -EBADMSG, "spec.containers"},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"u\"},\"status\":{"
         "\"qosClass\":"
         "\"Gold\"}}",
         -EBADMSG, "status.qosClass"},
        {"{\"metadata\":{\"name\":\"x\",\"namespace\":\"d\",\"uid\":\"u\",\"ownerReferences\":[{}]}"
         "}",
         -EBADMSG, "ownerReferences[0].kind"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gl_kube_pod *p = pod_from(cases[i].json, cases[i].want, cases[i].field);
        ck_assert_ptr_null(p);
    }
}
END_TEST

static Suite *kube_decode_suite(void) {
    Suite *s = suite_create("kube_decode");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, test_quantities);
    tcase_add_test(tc, test_watch_events);
    tcase_add_test(tc, test_watch_410);
    tcase_add_test(tc, test_watch_malformed);
    tcase_add_test(tc, test_pod_decode);
    tcase_add_test(tc, test_pod_malformed);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(kube_decode_suite)
