/* protect.c: which pods guardlet must never touch, and why. */
#include "guardlet/policy.h"

/* Most telling first: the word for a pod protected several ways is the first that applies. */
static const struct {
    gl_protect bit;
    const char *word;
} protect_words[] = {
    {GL_PROTECT_SELF, "self"},
    {GL_PROTECT_STATIC, "static-pod"},
    {GL_PROTECT_NAMESPACE, "namespace"},
    {GL_PROTECT_PRIORITY, "priority"},
    {GL_PROTECT_ANNOTATION, "annotation"},
    {GL_PROTECT_UID, "pod-uid"},
    {GL_PROTECT_PENDING, "metadata-pending"},
};

const char *gl_protect_word(gl_protect p, size_t nth) {
    for (size_t i = 0; i < sizeof(protect_words) / sizeof(protect_words[0]); i++)
        if ((p & protect_words[i].bit) && nth-- == 0)
            return protect_words[i].word;
    return nth == 0 && p == GL_PROTECT_NONE ? "" : NULL;
}

gl_protect gl_policy_protected(const gl_config *c, const gl_policy_pod *p) {
    unsigned why = GL_PROTECT_NONE;

    /* A namespace is known only from the API server; a pod without one is judged by the rest. */
    if (p->ns && gl_config_namespace_protected(c, p->ns))
        why |= GL_PROTECT_NAMESPACE;
    /* Priority and annotations are metadata too. Without it, priority reads as 0 and would
     * compare against a negative MinPriority as if it were known, so it is not compared at all. */
    if (p->has_metadata && p->priority >= c->protect.min_priority)
        why |= GL_PROTECT_PRIORITY;
    /* An empty Annotation= switches annotation protection off, whatever the snapshot says. */
    if (p->has_metadata && p->annotation_protected && c->protect.annotation &&
        c->protect.annotation[0] != '\0')
        why |= GL_PROTECT_ANNOTATION;
    /* Static pods have no controller to recreate them elsewhere: evicted or killed, they are gone
     * until the kubelet restarts them here, and they are usually the control plane. */
    if (p->static_pod)
        why |= GL_PROTECT_STATIC;
    /* Throttling or killing guardlet would remove the guard exactly when it is needed. */
    if (p->self)
        why |= GL_PROTECT_SELF;
    /* The one protection that works in local mode, where nothing but the UID is known. */
    if (p->uid && gl_config_pod_uid_protected(c, p->uid))
        why |= GL_PROTECT_UID;
    /* Acting before the API server said who a pod is could hit a protected one; the guard holds
     * this only briefly (see guard.c), so local protection is never blocked for long. */
    if (p->metadata_pending)
        why |= GL_PROTECT_PENDING;
    return (gl_protect)why;
}
