/* kubeconfig.h: API server credentials from a kubeconfig or a pod's service account, as plain data.
 */
#ifndef GUARDLET_KUBECONFIG_H
#define GUARDLET_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Where a pod's service-account token, ca.crt and namespace are mounted. */
#define GL_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Every file read here (kubeconfig, CA, client cert and key, token) is rejected above this size.
 * The largest real one, a CA bundle, is a few tens of KiB; a bigger file is a wrong path (a log, a
 * disk image) and reading it whole would only waste memory. */
#define GL_KUBE_FILE_MAX_BYTES (1024 * 1024)

/* Room for a message from any function below: two paths plus a field name and a reason. Longer
 * messages are cut, never overflowed. */
#define GL_KUBE_ERR_SIZE 1024

/* The files credentials can come from, one slot each, so that rotation of any is visible. */
typedef enum {
    GL_KUBE_FILE_KUBECONFIG, /* the kubeconfig itself (unused in-cluster) */
    GL_KUBE_FILE_CA,         /* certificate-authority, or the service account's ca.crt */
    GL_KUBE_FILE_CLIENT_CERT,
    GL_KUBE_FILE_CLIENT_KEY,
    GL_KUBE_FILE_TOKEN, /* tokenFile, or the service account's token */
    GL_KUBE_FILE_N,
} gl_kube_file_role;

/* One source file and what it looked like when it was read (fstat of the descriptor read from). */
typedef struct {
    char *path;      /* absolute from a kubeconfig; in-cluster under sa_dir as given; NULL: none */
    bool stat_known; /* false when parsed with GL_KUBECONFIG_SKIP_FILES: never read */
    dev_t dev;
    ino_t ino;
    off_t size_bytes;
    struct timespec mtime;
} gl_kube_file;

/*
 * Credentials for one API server. Built by gl_kubeconfig_load() or gl_kube_in_cluster(), owned by
 * the caller, released with gl_kube_creds_free(). Every pointer is heap memory owned by the struct;
 * NULL means "not set". PEM buffers are NUL-terminated and their length excludes the NUL, so they
 * can be handed to libcurl as blobs or as strings.
 */
typedef struct {
    char *source;  /* "kubeconfig /etc/kubernetes/kubelet.conf" or "in-cluster": for messages */
    char *context; /* the kubeconfig context used; NULL in-cluster */
    char *server;  /* "https://host:port[/path]": port always present, IPv6 in brackets, no '/'
                      at the end */
    char *ca_pem;  /* NULL: the system trust store */
    size_t ca_pem_len;
    bool insecure_skip_tls_verify;
    char *tls_server_name; /* NULL: the host of server */
    char *client_cert_pem;
    size_t client_cert_pem_len;
    char *client_key_pem; /* secret: wiped before it is freed */
    size_t client_key_pem_len;
    char *token; /* bearer token, surrounding white space removed; secret, wiped when freed */
    /* files[GL_KUBE_FILE_TOKEN].path is the token file to re-read; NULL when the token is inline.
     */
    gl_kube_file files[GL_KUBE_FILE_N];
} gl_kube_creds;

/* gl_kubeconfig_parse() flag: record the paths of referenced files (resolved against the
 * kubeconfig's folder) but read none of them. The fuzz target uses it so that no input makes it
 * touch the file system. Without it, every referenced file is read as gl_kubeconfig_load() does. */
#define GL_KUBECONFIG_SKIP_FILES 0x1u

/*
 * Reads the kubeconfig at path (at most GL_KUBE_FILE_MAX_BYTES) and builds credentials for the
 * context named context, or for current-context when context is NULL or empty. Supported: the
 * cluster's server, certificate-authority(-data), insecure-skip-tls-verify and tls-server-name; the
 * user's token, tokenFile, client-certificate(-data) and client-key(-data). Relative paths resolve
 * against the kubeconfig's folder; every file referenced is read now (and recorded with its mtime).
 *
 * Returns 0 and stores a new object in *out, or a negative errno and leaves *out NULL:
 *   -ENOENT, -EACCES, ... a file could not be read (the errno of open/read)
 *   -EFBIG       a file is larger than GL_KUBE_FILE_MAX_BYTES
 *   -EBADMSG     the YAML is malformed (the message gives line and column), or a value is invalid
 *                (bad base64, no PEM, bad server URL, bad token characters)
 *   -EINVAL      something required is missing: current-context, the named context, cluster or
 *                user, server; or two settings contradict each other (token and tokenFile, a CA
 *                with insecure-skip-tls-verify, a client certificate without its key); or a
 *                referenced path is not a regular file (a folder, a FIFO)
 *   -EOPNOTSUPP  the user asks for auth guardlet does not speak (exec, auth-provider, basic auth,
 *                impersonation) or the cluster for a proxy (proxy-url)
 *   -ENOMEM
 * On failure a message naming the file and the field is written to err (err_size bytes, may be
 * NULL), e.g. "kubeconfig /x/y: users[0].user.client-key: cannot read /x/key.pem: No such file or
 * directory". Nothing is logged.
 */
int gl_kubeconfig_load(const char *path, const char *context, gl_kube_creds **out, char *err,
                       size_t err_size);

/*
 * The same from text already in memory (len bytes, need not be NUL-terminated). path is used for
 * messages and to resolve relative paths; it is recorded as files[GL_KUBE_FILE_KUBECONFIG] without
 * being read or stat'ed. flags: 0 or GL_KUBECONFIG_SKIP_FILES.
 */
int gl_kubeconfig_parse(const char *text, size_t len, const char *path, const char *context,
                        unsigned flags, gl_kube_creds **out, char *err, size_t err_size);

/*
 * In-cluster credentials as client-go's rest.InClusterConfig builds them: server
 * "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT" (an IPv6 host is bracketed), token
 * and ca.crt read from sa_dir (NULL: GL_KUBE_SA_DIR). The token path is kept for
 * gl_kube_creds_reload_token(). Returns 0 or a negative errno as gl_kubeconfig_load() does
 * (-ENXIO when either variable is unset or empty: not running in a pod).
 */
int gl_kube_in_cluster(const char *sa_dir, gl_kube_creds **out, char *err, size_t err_size);

/* The same with the two variables' values passed in (NULL: unset), for tests and callers that
 * read the environment themselves. */
int gl_kube_in_cluster_from(const char *host, const char *port, const char *sa_dir,
                            gl_kube_creds **out, char *err, size_t err_size);

/*
 * True when any source file recorded in c (with stat_known) now differs from when it was read: its
 * mtime, size, device or inode changed, or it cannot be stat'ed any more. A caller that sees true
 * rebuilds the credentials and drops its connections (the kubelet's client certificate rotates by
 * replacing its file). Token rotation alone is handled cheaper by gl_kube_creds_reload_token(),
 * which also records the token file's new state, so call that first when only the token matters.
 */
bool gl_kube_creds_changed(const gl_kube_creds *c);

/*
 * Re-reads the token file (files[GL_KUBE_FILE_TOKEN]); the token rotates, so callers do this every
 * minute and after any 401. Returns 1 when the token text changed, 0 when it is the same or there
 * is no token file (inline token), or a negative errno (-EBADMSG: empty or bad characters) with a
 * message in err, in which case the old token and recorded file state are kept.
 */
int gl_kube_creds_reload_token(gl_kube_creds *c, char *err, size_t err_size);

/* Frees c and everything it owns, wiping the key and token first. Accepts NULL and objects left
 * half-built by a failed load. */
void gl_kube_creds_free(gl_kube_creds *c);

/*
 * Strict standard base64 (RFC 4648 section 4, with '=' padding), as kubeconfig *-data fields hold
 * it: CR and LF are skipped (Go's decoder does the same, and PEM-style wrapped data has them);
 * anything else outside the alphabet, missing or misplaced padding, and non-zero bits left over
 * in the last character are errors. On success *out is a new NUL-terminated buffer (owned by the
 * caller, free()) of *out_len bytes. Returns 0, -EBADMSG with the offending input offset in
 * *bad_offset (may be NULL), or -ENOMEM.
 */
int gl_kube_base64_decode(const char *in, size_t len, char **out, size_t *out_len,
                          size_t *bad_offset);

#endif
