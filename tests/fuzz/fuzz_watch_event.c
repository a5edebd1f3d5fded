/* fuzz_watch_event.c: libFuzzer target for the watch event line decoder (and the Pod decoder
 * behind it, as podwatch.c chains them). */
/*
 * Build (from the top folder):
 *   clang -std=c17 -D_GNU_SOURCE -Iinclude -g -fsanitize=fuzzer,address,undefined \
 *     tests/fuzz/fuzz_watch_event.c src/kube/decode.c $(pkg-config --cflags --libs jansson) \
 *     -o build/fuzz_watch_event
 * Run:    ./build/fuzz_watch_event -max_len=65536 tests/fuzz/corpus/watch_event
 * tests/unit/test_fuzz_replay_kube.c includes this file to replay the corpus as a test.
 */
#include "guardlet/kube.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gl_kube_watch_event ev;
    char err[256] = "";
    int r = gl_kube_watch_event_decode((const char *)data, size, &ev, err, sizeof(err));
    if (r == 0) {
        /* Success promises an object, and a type the enum names. */
        if (!json_is_object(ev.object) || strcmp(gl_kube_event_type_name(ev.type), "?") == 0)
            abort();
        if (ev.type == GL_KUBE_EVENT_BOOKMARK && (!ev.resource_version || !ev.resource_version[0]))
            abort();
        if (ev.type == GL_KUBE_EVENT_ERROR && !ev.error_message)
            abort();
        if (ev.type != GL_KUBE_EVENT_ERROR && ev.type != GL_KUBE_EVENT_BOOKMARK) {
            gl_kube_pod *p = NULL;
            char perr[256] = "";
            int pr = gl_kube_pod_decode(ev.object, &p, perr, sizeof(perr));
            if ((pr == 0) != (p != NULL) || (pr < 0 && perr[0] == '\0'))
                abort();
            if (p && (!p->uid[0] || !p->name[0] || !p->namespace_[0]))
                abort();
            gl_kube_pod_free(p);
        }
        gl_kube_watch_event_clear(&ev);
    } else {
        /* Every failure names itself and leaves nothing to free. */
        if (ev.object || err[0] == '\0' || (r != -EBADMSG && r != -EMSGSIZE && r != -ENOMEM))
            abort();
    }
    return 0;
}
