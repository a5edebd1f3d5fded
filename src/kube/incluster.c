/* incluster.c: credentials of the pod's service account, as client-go's rest.InClusterConfig. */
#include "guardlet/kubeconfig.h"

#include "kubeconfig-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Reads sa_dir/name into c, recording the file under role. *text is the new buffer, which the
 * caller frees (wiping it when it holds the token).
 */
static int read_sa_file(gl_kube_creds *c, const char *sa_dir, const char *name,
                        gl_kube_file_role role, char **text, size_t *len, char *err,
                        size_t err_size) {
    char *path = NULL;
    if (asprintf(&path, "%s%s%s", sa_dir, sa_dir[strlen(sa_dir) - 1] == '/' ? "" : "/", name) < 0)
        return -ENOMEM;
    int r = kube_set_file(c, role, path);
    free(path);
    if (r < 0)
        return r;
    r = kube_read_file(c->files[role].path, text, len, &c->files[role]);
    if (r < 0)
        kube_errf(err, err_size, "in-cluster: cannot read %s: %s", c->files[role].path,
                  kube_read_error_text(r));
    return r;
}

int gl_kube_in_cluster_from(const char *host, const char *port, const char *sa_dir,
                            gl_kube_creds **out, char *err, size_t err_size) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!host || !host[0] || !port || !port[0]) {
        kube_errf(err, err_size,
                  "in-cluster: %s is not set; is guardlet running in a pod? (give a kubeconfig "
                  "otherwise)",
                  !host || !host[0] ? "KUBERNETES_SERVICE_HOST" : "KUBERNETES_SERVICE_PORT");
        return -ENXIO;
    }
    if (!sa_dir || !sa_dir[0])
        sa_dir = GL_KUBE_SA_DIR;

    gl_kube_creds *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int r = -ENOMEM;
    char *url = NULL, *text = NULL;
    size_t len = 0;
    c->source = strdup("in-cluster");
    if (!c->source)
        goto fail;

    /* Both values end up inside a URL: a '/' would start a path there and a non-digit port would
     * be taken apart by the URL check below, so reject them first. */
    if (strchr(host, '/') || strspn(port, "0123456789") != strlen(port)) {
        kube_errf(err, err_size,
                  "in-cluster: KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT is malformed");
        r = -EBADMSG;
        goto fail;
    }
    /* The service host is an IP address; an IPv6 one needs brackets in a URL, which client-go adds
     * with net.JoinHostPort. A host already in brackets is taken as is. */
    bool v6 = strchr(host, ':') && host[0] != '[';
    if (asprintf(&url, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port) < 0) {
        url = NULL;
        goto fail;
    }
    const char *why = NULL;
    r = kube_server_url(url, &c->server, &why);
    if (r == -EBADMSG)
        kube_errf(err, err_size,
                  "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT make no URL: "
                  "%s",
                  why);
    if (r < 0)
        goto fail;

    r = read_sa_file(c, sa_dir, "token", GL_KUBE_FILE_TOKEN, &text, &len, err, err_size);
    if (r < 0)
        goto fail;
    const char *tok;
    size_t tok_len;
    r = kube_token_span(text, len, &tok, &tok_len, &why);
    if (r < 0)
        kube_errf(err, err_size, "in-cluster: %s: %s", c->files[GL_KUBE_FILE_TOKEN].path, why);
    else
        r = kube_set_token(c, tok, tok_len);
    explicit_bzero(text, len);
    free(text);
    text = NULL;
    if (r < 0)
        goto fail;

    /* client-go logs a missing ca.crt and goes on with the system roots, which can never verify
     * a cluster's own CA; failing here names the real problem. */
    r = read_sa_file(c, sa_dir, "ca.crt", GL_KUBE_FILE_CA, &c->ca_pem, &c->ca_pem_len, err,
                     err_size);
    if (r < 0)
        goto fail;
    if (!kube_looks_like_pem(c->ca_pem, c->ca_pem_len)) {
        kube_errf(err, err_size, "in-cluster: %s holds no PEM data (no \"-----BEGIN\" line)",
                  c->files[GL_KUBE_FILE_CA].path);
        r = -EBADMSG;
        goto fail;
    }
    free(url);
    *out = c;
    return 0;
fail:
    if (r == -ENOMEM)
        kube_errf(err, err_size, "in-cluster: out of memory");
    free(url);
    gl_kube_creds_free(c);
    return r;
}

int gl_kube_in_cluster(const char *sa_dir, gl_kube_creds **out, char *err, size_t err_size) {
    return gl_kube_in_cluster_from(getenv("KUBERNETES_SERVICE_HOST"),
                                   getenv("KUBERNETES_SERVICE_PORT"), sa_dir, out, err, err_size);
}
