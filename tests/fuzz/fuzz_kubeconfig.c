/* fuzz_kubeconfig.c: libFuzzer target for the kubeconfig parser and the base64 decoder. */
/*
 * Build (from the top folder; SRCS is every .c file in src/kube):
 *   clang -std=c17 -D_GNU_SOURCE -Iinclude -g -fsanitize=fuzzer,address,undefined \
 *     tests/fuzz/fuzz_kubeconfig.c $SRCS $(pkg-config --cflags --libs yaml-0.1) \
 *     -o build/fuzz_kubeconfig
 * Run:    ./build/fuzz_kubeconfig -max_len=65536 tests/fuzz/corpus/kubeconfig
 * Without libFuzzer, -DGL_FUZZ_MAIN adds a main() that runs each file named on the command line
 * once. tests/unit/test_fuzz_replay_kubeconfig.c includes this file to replay the corpus as a test.
 */
#include "guardlet/kubeconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A path in a folder that does not exist: relative references resolve under it, and
 * GL_KUBECONFIG_SKIP_FILES keeps every path, absolute ones included, from being opened, so the
 * outcome depends on the input alone. */
#define FUZZ_KUBECONFIG_PATH "/nonexistent-guardlet-fuzz/kubeconfig"

/* Checks what every caller relies on; abort() turns a broken promise into a crash the fuzzer
 * reports. */
static void fuzz_check(int r, const gl_kube_creds *c, const char *err) {
    if (r == 0) {
        if (!c || !c->server || !c->source || !c->context)
            abort();
        if (strncmp(c->server, "https://", 8) != 0 && strncmp(c->server, "http://", 7) != 0)
            abort();
        if (c->server[strlen(c->server) - 1] == '/')
            abort();
        /* Never read a file: no stat may be recorded but the kubeconfig's own (none here). */
        for (int i = 0; i < GL_KUBE_FILE_N; i++)
            if (c->files[i].stat_known)
                abort();
        if (c->ca_pem && strlen(c->ca_pem) > c->ca_pem_len)
            abort();
    } else {
        /* Every failure explains itself in one non-empty, terminated line prefixed with the
         * source. */
        if (c || err[0] == '\0' || strncmp(err, "kubeconfig ", 11) != 0)
            abort();
        if (strlen(err) >= GL_KUBE_ERR_SIZE)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const contexts[] = {NULL, "fuzz"};
    for (size_t i = 0; i < sizeof(contexts) / sizeof(contexts[0]); i++) {
        char err[GL_KUBE_ERR_SIZE] = "";
        gl_kube_creds *c = NULL;
        int r = gl_kubeconfig_parse((const char *)data, size, FUZZ_KUBECONFIG_PATH, contexts[i],
                                    GL_KUBECONFIG_SKIP_FILES, &c, err, sizeof(err));
        fuzz_check(r, c, err);
        /* Nothing was read, so nothing can have changed. */
        if (c && gl_kube_creds_changed(c))
            abort();
        gl_kube_creds_free(c);
    }

    char *out = NULL;
    size_t out_len = 0, bad = SIZE_MAX;
    int r = gl_kube_base64_decode((const char *)data, size, &out, &out_len, &bad);
    if (r == 0 && (!out || out_len > size || out[out_len] != '\0'))
        abort();
    if (r < 0 && (out || bad > size))
        abort();
    free(out);
    return 0;
}

#ifdef GL_FUZZ_MAIN
#include <stdio.h>

/* Runs each file named on the command line through the target once, as libFuzzer would. */
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        /* Twice the kubeconfig limit: inputs beyond it must be refused, not crash. */
        size_t cap = 2 * (size_t)GL_KUBE_FILE_MAX_BYTES;
        uint8_t *buf = malloc(cap);
        if (!buf)
            return 1;
        size_t n = fread(buf, 1, cap, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    return 0;
}
#endif
