/* fuzz_pod.c: libFuzzer target for the Pod decoder and the quantity parser. */
/*
 * Build (from the top folder):
 *   clang -std=c17 -D_GNU_SOURCE -Iinclude -g -fsanitize=fuzzer,address,undefined \
 *     tests/fuzz/fuzz_pod.c src/kube/decode.c $(pkg-config --cflags --libs jansson) \
 *     -o build/fuzz_pod
 * Run:    ./build/fuzz_pod -max_len=65536 tests/fuzz/corpus/pod
 * tests/unit/test_fuzz_replay_kube.c includes this file to replay the corpus as a test.
 */
#include "guardlet/kube.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Quantities are short: the input's first line, if short, is also tried as one. */
#define FUZZ_QUANTITY_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *obj = json_loadb((const char *)data, size, 0, NULL);
    if (obj) {
        gl_kube_pod *p = NULL;
        char err[256] = "";
        int r = gl_kube_pod_decode(obj, &p, err, sizeof(err));
        if (r == 0) {
            if (!p || !p->uid || !p->uid[0] || !p->name || !p->namespace_)
                abort();
            if (p->memory_request_bytes > (uint64_t)INT64_MAX ||
                p->cpu_request_millicores > (uint64_t)INT64_MAX)
                abort();
            if (p->is_mirror && !p->is_static)
                abort();
            (void)gl_kube_pod_annotation(p, "kubernetes.io/config.source");
            gl_kube_pod_free(p);
        } else if (p || err[0] == '\0' || (r != -EBADMSG && r != -ERANGE && r != -ENOMEM)) {
            abort();
        }
        json_decref(obj);
    }

    size_t n = 0;
    while (n < size && n < FUZZ_QUANTITY_MAX && data[n] != '\n' && data[n] != '\0')
        n++;
    char q[FUZZ_QUANTITY_MAX + 1];
    memcpy(q, data, n);
    q[n] = '\0';
    for (unsigned scale = 0; scale <= 3; scale += 3) {
        uint64_t v = UINT64_MAX;
        int r = gl_kube_quantity_parse(q, scale, &v);
        if (r == 0 && v > (uint64_t)INT64_MAX)
            abort();
        if (r != 0 && r != -EBADMSG && r != -ERANGE)
            abort();
    }
    return 0;
}
