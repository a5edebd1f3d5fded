/* test_kubeconfig.c: Check suite for kubeconfig and in-cluster credentials, base64 and rotation. */
#include "guardlet/kubeconfig.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

/* Short fake PEM blocks: the code checks for a PEM opening, never parses certificates. */
#define CA_PEM   "-----BEGIN CERTIFICATE-----\nQ0EgZm9yIHRlc3Rz\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nY2xpZW50IGNlcnQ=\n-----END CERTIFICATE-----\n"
#define KEY_PEM                                                                                    \
    "-----BEGIN EC PRIVATE KEY-----\na2V5IGZvciB0ZXN0cw==\n-----END EC PRIVATE KEY-----\n"

/* One temporary folder per test case, made and removed outside the forked tests (an unchecked
 * fixture) so that a failing test cannot leave it behind. Each test works in its own subfolder. */
#define TMP_TEMPLATE "/tmp/guardlet-kubeconfig-XXXXXX"
static char tmp_dir[sizeof(TMP_TEMPLATE)];

static char err[GL_KUBE_ERR_SIZE];

static void setup(void) {
    memcpy(tmp_dir, TMP_TEMPLATE, sizeof(TMP_TEMPLATE));
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        (void)chmod(path, 0700);
    return remove(path) < 0 ? 0 : 0;
}

static void teardown(void) {
    (void)nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Makes tmp_dir/name (a folder for one test) and returns its path in dir. */
static void test_dir(const char *name, char *dir, size_t size) {
    ck_assert_int_lt(snprintf(dir, size, "%s/%s", tmp_dir, name), (int)size);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
}

static void join(char *buf, size_t size, const char *dir, const char *rel) {
    ck_assert_int_lt(snprintf(buf, size, "%s/%s", dir, rel), (int)size);
}

/* Writes len bytes to dir/rel, making missing folders on the way. */
static void put_len(const char *dir, const char *rel, const char *text, size_t len) {
    char path[512];
    join(path, sizeof(path), dir, rel);
    for (char *slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(path, 0700) < 0)
            ck_assert_int_eq(errno, EEXIST);
        *slash = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    ck_assert_int_eq(close(fd), 0);
}

static void put(const char *dir, const char *rel, const char *text) {
    put_len(dir, rel, text, strlen(text));
}

/* Standard base64 with padding, wrapped at wrap characters with "\r\n" when wrap > 0. */
static char *b64_encode(const unsigned char *in, size_t len, size_t wrap) {
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 * 2 + 3);
    ck_assert_ptr_nonnull(out);
    size_t o = 0, col = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        char q[4] = {abc[v >> 18 & 63], abc[v >> 12 & 63], i + 1 < len ? abc[v >> 6 & 63] : '=',
                     i + 2 < len ? abc[v & 63] : '='};
        for (int j = 0; j < 4; j++) {
            if (wrap && col == wrap) {
                out[o++] = '\r';
                out[o++] = '\n';
                col = 0;
            }
            out[o++] = q[j];
            col++;
        }
    }
    out[o] = '\0';
    return out;
}

static char *b64s(const char *s) {
    return b64_encode((const unsigned char *)s, strlen(s), 0);
}

/*
 * A kubeconfig with one context "main" -> cluster "c1" and user "u1"; cluster_extra and
 * user_extra are lines (4-space indented) added to each. The result is malloc'd.
 */
static char *kubeconfig(const char *cluster_extra, const char *user_extra) {
    char *s;
    ck_assert_int_ge(asprintf(&s,
                              "apiVersion: v1\n"
                              "kind: Config\n"
                              "current-context: main\n"
                              "clusters:\n"
                              "- name: c1\n"
                              "  cluster:\n"
                              "    server: https://10.0.0.1:6443\n"
                              "%s"
                              "contexts:\n"
                              "- name: main\n"
                              "  context:\n"
                              "    cluster: c1\n"
                              "    user: u1\n"
                              "users:\n"
                              "- name: u1\n"
                              "  user:\n"
                              "%s"
                              "preferences: {}\n",
                              cluster_extra, user_extra),
                     0);
    return s;
}

/* Writes text as dir/config and loads it. */
static int load_text(const char *dir, const char *text, const char *context, gl_kube_creds **c) {
    put(dir, "config", text);
    char path[512];
    join(path, sizeof(path), dir, "config");
    err[0] = '\0';
    int r = gl_kubeconfig_load(path, context, c, err, sizeof(err));
    if (r < 0)
        ck_assert_ptr_null(*c);
    else
        ck_assert_ptr_nonnull(*c);
    return r;
}

/* The same with kubeconfig(cluster_extra, user_extra). */
static int load_kc(const char *dir, const char *cluster_extra, const char *user_extra,
                   gl_kube_creds **c) {
    char *text = kubeconfig(cluster_extra, user_extra);
    int r = load_text(dir, text, NULL, c);
    free(text);
    return r;
}

/* Parses text in memory reading no files; the path names a folder that does not exist. */
static int parse_text(const char *text, const char *context, gl_kube_creds **c) {
    err[0] = '\0';
    return gl_kubeconfig_parse(text, strlen(text), "/nonexistent/kube/config", context,
                               GL_KUBECONFIG_SKIP_FILES, c, err, sizeof(err));
}

#define assert_err_has(s)                                                                          \
    ck_assert_msg(strstr(err, (s)) != NULL, "message \"%s\" lacks \"%s\"", err, (s))

/* ---- base64 ---- */

static int decode(const char *in, char **out, size_t *len, size_t *bad) {
    return gl_kube_base64_decode(in, strlen(in), out, len, bad);
}

START_TEST(test_base64_rfc4648_vectors) {
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        char *out;
        size_t len;
        ck_assert_int_eq(decode(enc[i], &out, &len, NULL), 0);
        ck_assert_uint_eq(len, strlen(plain[i]));
        ck_assert_str_eq(out, plain[i]);
        free(out);
    }
}
END_TEST

START_TEST(test_base64_round_trip_all_lengths) {
    /* Every byte value, every length and tail, wrapped with CR LF as PEM-style tools wrap. */
    unsigned char in[300];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof(in); len++) {
        for (size_t wrap = 0; wrap <= 64; wrap += 64) {
            char *enc = b64_encode(in, len, wrap);
            char *out;
            size_t out_len;
            ck_assert_int_eq(decode(enc, &out, &out_len, NULL), 0);
            ck_assert_uint_eq(out_len, len);
            ck_assert_int_eq(memcmp(out, in, len), 0);
            ck_assert_int_eq(out[len], '\0');
            free(out);
            free(enc);
        }
    }
}
END_TEST

START_TEST(test_base64_garbage) {
    static const struct {
        const char *in;
        size_t bad;
    } cases[] = {
        {"Zm9v!", 4}, {"Zm 9v", 2}, {"Zm9v\t", 4},   {"Zg=", 3},     {"Zg", 2},   {"Z===", 1},
        {"Zm9v=", 4}, {"=Zg=", 0},  {"Zg==Zg==", 4}, {"Zg===", 4},   {"Zh==", 1}, {"Zm9=", 2},
        {"Zm-_", 2},  {"Zm9vY", 5}, {"Zg=x", 3},     {"Zg\xff=", 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = (char *)1;
        size_t len = 99, bad = 99;
        ck_assert_msg(decode(cases[i].in, &out, &len, &bad) == -EBADMSG, "accepted %s",
                      cases[i].in);
        ck_assert_ptr_null(out);
        ck_assert_uint_eq(len, 0);
        ck_assert_msg(bad == cases[i].bad, "%s: bad offset %zu, want %zu", cases[i].in, bad,
                      cases[i].bad);
    }
    /* A NUL inside the given length is garbage too, not an end. */
    char *out;
    size_t len, bad;
    ck_assert_int_eq(gl_kube_base64_decode("Zm\0v", 4, &out, &len, &bad), -EBADMSG);
    ck_assert_uint_eq(bad, 2);
}
END_TEST

/* ---- valid kubeconfigs ---- */

START_TEST(test_inline_token) {
    char dir[256], path[512];
    test_dir("inline", dir, sizeof(dir));
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir, "", "    token: abc.DEF-123_x\n", &c), 0);
    join(path, sizeof(path), dir, "config");
    char want[600];
    snprintf(want, sizeof(want), "kubeconfig %s", path);
    ck_assert_str_eq(c->source, want);
    ck_assert_str_eq(c->context, "main");
    ck_assert_str_eq(c->server, "https://10.0.0.1:6443");
    ck_assert_str_eq(c->token, "abc.DEF-123_x");
    ck_assert_ptr_null(c->ca_pem);
    ck_assert(!c->insecure_skip_tls_verify);
    ck_assert_ptr_null(c->tls_server_name);
    ck_assert_ptr_null(c->client_cert_pem);
    ck_assert_ptr_null(c->client_key_pem);
    ck_assert_str_eq(c->files[GL_KUBE_FILE_KUBECONFIG].path, path);
    ck_assert(c->files[GL_KUBE_FILE_KUBECONFIG].stat_known);
    ck_assert_ptr_null(c->files[GL_KUBE_FILE_TOKEN].path);
    ck_assert(!gl_kube_creds_changed(c));
    /* An inline token has no file to re-read. */
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), 0);
    ck_assert_str_eq(c->token, "abc.DEF-123_x");
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_token_file_relative) {
    char dir[256], path[512];
    test_dir("tokenfile", dir, sizeof(dir));
    put(dir, "secrets/token", "  eyJ.tok.en\n\n");
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir, "", "    tokenFile: secrets/token\n", &c), 0);
    ck_assert_str_eq(c->token, "eyJ.tok.en");
    join(path, sizeof(path), dir, "secrets/token");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_TOKEN].path, path);
    ck_assert(c->files[GL_KUBE_FILE_TOKEN].stat_known);
    ck_assert_int_eq(c->files[GL_KUBE_FILE_TOKEN].size_bytes, 14);
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_client_cert_files_and_ca_file) {
    char dir[256], path[512];
    test_dir("certfiles", dir, sizeof(dir));
    put(dir, "pki/ca.crt", CA_PEM);
    put(dir, "pki/client.crt", CERT_PEM);
    put(dir, "pki/client.key", KEY_PEM);
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir, "    certificate-authority: pki/ca.crt\n",
                             "    client-certificate: pki/client.crt\n"
                             "    client-key: ./pki/client.key\n",
                             &c),
                     0);
    ck_assert_str_eq(c->ca_pem, CA_PEM);
    ck_assert_uint_eq(c->ca_pem_len, strlen(CA_PEM));
    ck_assert_str_eq(c->client_cert_pem, CERT_PEM);
    ck_assert_uint_eq(c->client_cert_pem_len, strlen(CERT_PEM));
    ck_assert_str_eq(c->client_key_pem, KEY_PEM);
    ck_assert_uint_eq(c->client_key_pem_len, strlen(KEY_PEM));
    ck_assert_ptr_null(c->token);
    join(path, sizeof(path), dir, "pki/ca.crt");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CA].path, path);
    join(path, sizeof(path), dir, "pki/client.crt");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CLIENT_CERT].path, path);
    join(path, sizeof(path), dir, "./pki/client.key");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CLIENT_KEY].path, path);
    for (int i = 0; i < GL_KUBE_FILE_TOKEN; i++)
        ck_assert(c->files[i].stat_known);
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_absolute_paths_and_cwd_relative_kubeconfig) {
    /* Absolute references are used as they are; a kubeconfig named relative to the working
     * directory still resolves its references against its own folder. */
    char dir[256], path[512], line[700];
    test_dir("abs", dir, sizeof(dir));
    put(dir, "elsewhere/ca.pem", CA_PEM);
    put(dir, "conf/token", "t0k\n");
    join(path, sizeof(path), dir, "elsewhere/ca.pem");
    snprintf(line, sizeof(line), "    certificate-authority: %s\n", path);
    char *text = kubeconfig(line, "    tokenFile: token\n");
    put(dir, "conf/kubeconfig", text);
    free(text);

    char cwd[512];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
    ck_assert_int_eq(chdir(dir), 0);
    gl_kube_creds *c = NULL;
    int r = gl_kubeconfig_load("conf/kubeconfig", NULL, &c, err, sizeof(err));
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(r == 0, "%s", err);
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CA].path, path);
    ck_assert_str_eq(c->ca_pem, CA_PEM);
    join(path, sizeof(path), dir, "conf/token");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_TOKEN].path, path);
    ck_assert_str_eq(c->token, "t0k");
    join(path, sizeof(path), dir, "conf/kubeconfig");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_KUBECONFIG].path, path);
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_data_fields) {
    char dir[256];
    test_dir("data", dir, sizeof(dir));
    char *ca = b64s(CA_PEM), *cert = b64s(CERT_PEM), *key = b64s(KEY_PEM);
    char cl[512], us[1024];
    snprintf(cl, sizeof(cl), "    certificate-authority-data: %s\n", ca);
    snprintf(us, sizeof(us), "    client-certificate-data: %s\n    client-key-data: \"%s\"\n", cert,
             key);
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir, cl, us, &c), 0);
    ck_assert_str_eq(c->ca_pem, CA_PEM);
    ck_assert_uint_eq(c->ca_pem_len, strlen(CA_PEM));
    ck_assert_str_eq(c->client_cert_pem, CERT_PEM);
    ck_assert_str_eq(c->client_key_pem, KEY_PEM);
    ck_assert_uint_eq(c->client_key_pem_len, strlen(KEY_PEM));
    /* Data fields have no file to watch. */
    ck_assert_ptr_null(c->files[GL_KUBE_FILE_CA].path);
    ck_assert_ptr_null(c->files[GL_KUBE_FILE_CLIENT_CERT].path);
    ck_assert_ptr_null(c->files[GL_KUBE_FILE_CLIENT_KEY].path);
    gl_kube_creds_free(c);
    free(ca);
    free(cert);
    free(key);
}
END_TEST

START_TEST(test_insecure_and_tls_server_name) {
    char dir[256];
    test_dir("insecure", dir, sizeof(dir));
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir,
                             "    insecure-skip-tls-verify: true\n"
                             "    tls-server-name: kubernetes.default.svc\n",
                             "    token: x\n", &c),
                     0);
    ck_assert(c->insecure_skip_tls_verify);
    ck_assert_str_eq(c->tls_server_name, "kubernetes.default.svc");
    ck_assert_ptr_null(c->ca_pem);
    gl_kube_creds_free(c);

    ck_assert_int_eq(load_kc(dir, "    insecure-skip-tls-verify: False\n", "", &c), 0);
    ck_assert(!c->insecure_skip_tls_verify);
    gl_kube_creds_free(c);

    ck_assert_int_eq(load_kc(dir, "    insecure-skip-tls-verify: \"true\"\n", "", &c), -EBADMSG);
    assert_err_has("clusters[0].cluster.insecure-skip-tls-verify: expected true or false");
    ck_assert_int_eq(load_kc(dir, "    insecure-skip-tls-verify: yes please\n", "", &c), -EBADMSG);
}
END_TEST

START_TEST(test_explicit_context) {
    static const char text[] = "current-context: a\n"
                               "clusters:\n"
                               "- {name: ca, cluster: {server: 'https://a.example'}}\n"
                               "- name: cb\n"
                               "  cluster: {server: 'https://[fd00::1]:8443/k8s/clusters/x/'}\n"
                               "contexts:\n"
                               "- {name: a, context: {cluster: ca, user: ua}}\n"
                               "- {name: b, context: {cluster: cb, user: ub}}\n"
                               "users:\n"
                               "- {name: ua, user: {token: ta}}\n"
                               "- {name: ub, user: {token: tb}}\n";
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(parse_text(text, NULL, &c), 0);
    ck_assert_str_eq(c->context, "a");
    ck_assert_str_eq(c->server, "https://a.example:443");
    ck_assert_str_eq(c->token, "ta");
    gl_kube_creds_free(c);
    ck_assert_int_eq(parse_text(text, "b", &c), 0);
    ck_assert_str_eq(c->context, "b");
    ck_assert_str_eq(c->server, "https://[fd00::1]:8443/k8s/clusters/x");
    ck_assert_str_eq(c->token, "tb");
    gl_kube_creds_free(c);
    /* An empty name means current-context. */
    ck_assert_int_eq(parse_text(text, "", &c), 0);
    ck_assert_str_eq(c->context, "a");
    gl_kube_creds_free(c);
    /* An explicit context works without any current-context. */
    ck_assert_int_eq(parse_text(text + strlen("current-context: a\n"), "b", &c), 0);
    ck_assert_str_eq(c->token, "tb");
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_anonymous_unknown_keys_and_aliases) {
    /* No user: anonymous, which a local test API server accepts. Unknown keys are skipped.
     * Anchors and aliases work as in kubectl, and an alias loop elsewhere is never walked. */
    static const char text[] = "current-context: x\n"
                               "preferences: {colors: true}\n"
                               "extensions: [{name: e, extension: {a: [1, 2, {b: c}]}}]\n"
                               "loop: &l [*l]\n"
                               "common: &cl {server: 'http://127.0.0.1:8080', future-key: 1}\n"
                               "clusters: [{name: c, cluster: *cl}]\n"
                               "contexts: [{name: x, context: {cluster: c, namespace: ns}}]\n";
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(parse_text(text, NULL, &c), 0);
    ck_assert_str_eq(c->server, "http://127.0.0.1:8080");
    ck_assert_ptr_null(c->token);
    ck_assert_ptr_null(c->client_cert_pem);
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_server_urls) {
    static const struct {
        const char *in, *out; /* out NULL: rejected */
    } cases[] = {
        {"https://10.0.0.1:6443", "https://10.0.0.1:6443"},
        {"https://api.example.test", "https://api.example.test:443"},
        {"HTTPS://api.example.test/", "https://api.example.test:443"},
        {"http://localhost", "http://localhost:80"},
        {"https://[::1]:6443", "https://[::1]:6443"},
        {"https://[fd00::1]", "https://[fd00::1]:443"},
        {"https://h:65535/a/b//", "https://h:65535/a/b"},
        {"https://fd00::1:6443", NULL},
        {"api.example.test:6443", NULL},
        {"ftp://h:1", NULL},
        {"https://:6443", NULL},
        {"https://h:0", NULL},
        {"https://h:65536", NULL},
        {"https://h:", NULL},
        {"https://h:12x", NULL},
        {"https://user:pw@h:1", NULL},
        {"https://h:1/?q=1", NULL},
        {"https://h:1/#f", NULL},
        {"https://h 1:1", NULL},
        {"https://[fd00::1", NULL},
        {"https://[]:1", NULL},
        {"https://[h.example]:1", NULL},
        {"https://[::1]x:1", NULL},
        {"https://h%41:1", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text),
                 "current-context: x\n"
                 "clusters: [{name: c, cluster: {server: '%s'}}]\n"
                 "contexts: [{name: x, context: {cluster: c}}]\n",
                 cases[i].in);
        gl_kube_creds *c = NULL;
        int r = parse_text(text, NULL, &c);
        if (cases[i].out) {
            ck_assert_msg(r == 0, "%s: %s", cases[i].in, err);
            ck_assert_str_eq(c->server, cases[i].out);
        } else {
            ck_assert_msg(r == -EBADMSG, "%s accepted (%d)", cases[i].in, r);
            assert_err_has("clusters[0].cluster.server: \"");
        }
        gl_kube_creds_free(c);
    }
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(parse_text("current-context: x\n"
                                "clusters: [{name: c, cluster: {server: 'https://fd00::1:6443'}}]\n"
                                "contexts: [{name: x, context: {cluster: c}}]\n",
                                NULL, &c),
                     -EBADMSG);
    assert_err_has("IPv6 address must be written in brackets");
}
END_TEST

START_TEST(test_skip_files_records_paths) {
    /* The fuzz target's mode: paths resolved against the kubeconfig's folder, nothing read. */
    gl_kube_creds *c = NULL;
    char *text =
        kubeconfig("    certificate-authority: ca.crt\n", "    tokenFile: /abs/token\n"
                                                          "    client-certificate: a/c.crt\n"
                                                          "    client-key: a/c.key\n");
    ck_assert_int_eq(parse_text(text, NULL, &c), 0);
    free(text);
    ck_assert_str_eq(c->files[GL_KUBE_FILE_KUBECONFIG].path, "/nonexistent/kube/config");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CA].path, "/nonexistent/kube/ca.crt");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_TOKEN].path, "/abs/token");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CLIENT_CERT].path, "/nonexistent/kube/a/c.crt");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CLIENT_KEY].path, "/nonexistent/kube/a/c.key");
    for (int i = 0; i < GL_KUBE_FILE_N; i++)
        ck_assert(!c->files[i].stat_known);
    ck_assert_ptr_null(c->ca_pem);
    ck_assert_ptr_null(c->token);
    ck_assert(!gl_kube_creds_changed(c));
    gl_kube_creds_free(c);

    /* A kubeconfig in the root folder resolves "x" to "/x". */
    text = kubeconfig("    certificate-authority: ca.crt\n", "");
    ck_assert_int_eq(gl_kubeconfig_parse(text, strlen(text), "/config", NULL,
                                         GL_KUBECONFIG_SKIP_FILES, &c, err, sizeof(err)),
                     0);
    free(text);
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CA].path, "/ca.crt");
    gl_kube_creds_free(c);

    ck_assert_int_eq(gl_kubeconfig_parse("", 0, "/config", NULL, 0x100, &c, err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(gl_kubeconfig_parse("", 0, NULL, NULL, 0, &c, err, sizeof(err)), -EINVAL);
}
END_TEST

/* ---- what is missing or wrong ---- */

START_TEST(test_current_context_missing) {
    gl_kube_creds *c = (gl_kube_creds *)1;
    ck_assert_int_eq(parse_text("clusters: []\ncontexts: []\n", NULL, &c), -EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err, "kubeconfig /nonexistent/kube/config: current-context: not set; name "
                          "a context explicitly");
    ck_assert_int_eq(parse_text("current-context: \"\"\n", NULL, &c), -EINVAL);
    assert_err_has("current-context: not set");
    ck_assert_int_eq(parse_text("current-context: ~\n", NULL, &c), -EINVAL);
    assert_err_has("current-context: not set");
    ck_assert_int_eq(parse_text("current-context: [a]\n", NULL, &c), -EBADMSG);
    assert_err_has("current-context: expected a string (line 1)");
}
END_TEST

START_TEST(test_context_cluster_user_missing) {
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(
        parse_text("current-context: gone\ncontexts: [{name: a, context: {}}]\n", NULL, &c),
        -EINVAL);
    ck_assert_str_eq(err, "kubeconfig /nonexistent/kube/config: current-context: no context "
                          "named \"gone\"");
    ck_assert_int_eq(parse_text("contexts: [{name: a, context: {cluster: c}}]\n", "b", &c),
                     -EINVAL);
    assert_err_has(": contexts: no context named \"b\"");

    ck_assert_int_eq(
        parse_text("current-context: a\ncontexts: [{name: a, context: {user: u}}]\n", NULL, &c),
        -EINVAL);
    assert_err_has(": contexts[0].context.cluster: not set");

    char *text = kubeconfig("", "    token: t\n");
    char *p = strstr(text, "    cluster: c1\n");
    p[14] = '9'; /* the context now names c9 */
    ck_assert_int_eq(parse_text(text, NULL, &c), -EINVAL);
    assert_err_has(": contexts[0].context.cluster: no cluster named \"c9\"");
    free(text);

    text = kubeconfig("", "    token: t\n");
    p = strstr(text, "    user: u1\n");
    p[11] = '7';
    ck_assert_int_eq(parse_text(text, NULL, &c), -EINVAL);
    assert_err_has(": contexts[0].context.user: no user named \"u7\"");
    free(text);

    ck_assert_int_eq(parse_text("current-context: a\n"
                                "contexts: [{name: a, context: {cluster: c}}]\n"
                                "clusters: [{name: c}]\n",
                                NULL, &c),
                     -EINVAL);
    assert_err_has(": clusters[0].cluster: not set");
    ck_assert_int_eq(
        parse_text("current-context: a\n"
                   "contexts: [{name: a, context: {cluster: c}}]\n"
                   "clusters: [{name: c, cluster: {insecure-skip-tls-verify: true}}]\n",
                   NULL, &c),
        -EINVAL);
    assert_err_has(": clusters[0].cluster.server: not set");

    /* Names are quoted with control bytes escaped so a hostile name cannot garble a log line. */
    ck_assert_int_eq(parse_text("current-context: \"a\\nb\\e\"\n", NULL, &c), -EINVAL);
    assert_err_has("no context named \"a\\x0ab\\x1b\"");
}
END_TEST

START_TEST(test_unsupported_auth) {
    static const struct {
        const char *user, *want;
    } cases[] = {
        {"    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n",
         "users[0].user.exec: exec credential plugins are not supported"},
        {"    auth-provider: {name: oidc, config: {}}\n",
         "users[0].user.auth-provider: auth-provider plugins are not supported"},
        {"    username: admin\n", "users[0].user.username: basic authentication is not supported"},
        {"    password: secret\n", "users[0].user.password: basic authentication is not supported"},
        {"    token: t\n    as: system:admin\n",
         "users[0].user.as: impersonation is not supported"},
    };
    char dir[256];
    test_dir("unsupported", dir, sizeof(dir));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gl_kube_creds *c = NULL;
        ck_assert_int_eq(load_kc(dir, "", cases[i].user, &c), -EOPNOTSUPP);
        assert_err_has(cases[i].want);
        assert_err_has("kubeconfig /tmp/");
    }
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir, "    proxy-url: http://proxy:3128\n", "", &c), -EOPNOTSUPP);
    assert_err_has("clusters[0].cluster.proxy-url: proxies are not supported");
    /* A null exec (as some tools write) is no exec. */
    ck_assert_int_eq(load_kc(dir, "", "    exec: null\n    token: t\n", &c), 0);
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_malformed_yaml) {
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(parse_text("current-context: a\n"
                                "clusters:\n"
                                "- name: c\n"
                                "  cluster: {server: x\n"
                                "users: []\n",
                                NULL, &c),
                     -EBADMSG);
    assert_err_has("kubeconfig /nonexistent/kube/config: line 5 column 6: ");
    ck_assert_int_eq(parse_text("a: b\n  c: d\n", NULL, &c), -EBADMSG);
    assert_err_has(": line 2 column 4: mapping values are not allowed in this context");
    ck_assert_int_eq(parse_text("a: *nowhere\n", NULL, &c), -EBADMSG);
    assert_err_has("line 1 column 4: found undefined alias");
    ck_assert_int_eq(parse_text("current-context: \xff\n", NULL, &c), -EBADMSG);
    assert_err_has(": byte 17: invalid leading UTF-8 octet");
    ck_assert_int_eq(parse_text("current-context: a\n---\ncurrent-context: b\n", NULL, &c),
                     -EBADMSG);
    assert_err_has(": line 2: a second YAML document");
    ck_assert_int_eq(parse_text("", NULL, &c), -EINVAL);
    assert_err_has(": holds no YAML document");
    ck_assert_int_eq(parse_text("- a\n- b\n", NULL, &c), -EBADMSG);
    assert_err_has(": line 1: the top level is not a mapping");
    ck_assert_int_eq(parse_text("current-context: a\ncurrent-context: b\n", NULL, &c), -EBADMSG);
    assert_err_has(": current-context: given twice (line 2)");
    ck_assert_int_eq(parse_text("current-context: a\ncontexts: {a: b}\n", NULL, &c), -EBADMSG);
    assert_err_has(": contexts: expected a list (line 2)");
    ck_assert_int_eq(parse_text("current-context: a\ncontexts: [x]\n", NULL, &c), -EBADMSG);
    assert_err_has(": contexts[0]: expected a mapping with name and context");
    ck_assert_int_eq(parse_text("current-context: \"a\\0b\"\n", NULL, &c), -EBADMSG);
    assert_err_has(": current-context: holds a NUL byte");

    /* Nesting is capped before libyaml builds a node per level. */
    size_t n = 100000;
    char *deep = malloc(n + 16);
    memcpy(deep, "a: ", 3);
    memset(deep + 3, '[', n);
    deep[n + 3] = '\0';
    ck_assert_int_eq(parse_text(deep, NULL, &c), -EBADMSG);
    assert_err_has("nested deeper than 64 levels");
    free(deep);
}
END_TEST

START_TEST(test_duplicates_and_contradictions) {
    static const struct {
        const char *cluster, *user, *want;
        int r;
    } cases[] = {
        {"", "    token: a\n    tokenFile: /t\n", "users[0].user: both token and tokenFile",
         -EINVAL},
        {"    certificate-authority: /ca\n    certificate-authority-data: eA==\n", "",
         "clusters[0].cluster: both certificate-authority and certificate-authority-data", -EINVAL},
        {"    certificate-authority: /ca\n    insecure-skip-tls-verify: true\n", "",
         "clusters[0].cluster: insecure-skip-tls-verify is true but a certificate authority",
         -EINVAL},
        {"", "    client-certificate: /c\n",
         "users[0].user: client-certificate is set without "
         "client-key",
         -EINVAL},
        {"", "    client-key: /k\n", "users[0].user: client-key is set without client-certificate",
         -EINVAL},
        {"", "    client-key: /k\n    client-key-data: eA==\n",
         "users[0].user: both client-key and client-key-data", -EINVAL},
        {"", "    token: a\n    token: b\n", "users[0].user.token: given twice (line 17)",
         -EBADMSG},
        {"", "    token: \"two words\"\n", "users[0].user.token: the token holds white space",
         -EBADMSG},
        {"", "    token: \"a\\r\\nX-Evil: 1\"\n",
         "users[0].user.token: the token holds white space", -EBADMSG},
        {"", "    token: \"  \"\n", "users[0].user.token: the token is empty", -EBADMSG},
        {"    tls-server-name: \"a b\"\n", "",
         "clusters[0].cluster.tls-server-name: \"a b\" is not", -EBADMSG},
        {"    server: https://x\n", "", "clusters[0].cluster.server: given twice", -EBADMSG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = kubeconfig(cases[i].cluster, cases[i].user);
        gl_kube_creds *c = NULL;
        ck_assert_msg(parse_text(text, NULL, &c) == cases[i].r, "case %zu: %s", i, err);
        assert_err_has(cases[i].want);
        free(text);
    }

    /* Two entries of the name in use are ambiguous; a duplicate of another name is not ours. */
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(parse_text("current-context: a\n"
                                "contexts: [{name: a, context: {cluster: c}}]\n"
                                "clusters:\n"
                                "- {name: c, cluster: {server: 'https://x'}}\n"
                                "- {name: d, cluster: {server: 'https://y'}}\n"
                                "- {name: c, cluster: {server: 'https://z'}}\n",
                                NULL, &c),
                     -EINVAL);
    assert_err_has(": clusters[2]: a second entry named \"c\" (line 6)");
}
END_TEST

START_TEST(test_base64_garbage_in_data) {
    char dir[256];
    test_dir("b64", dir, sizeof(dir));
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir, "    certificate-authority-data: LS0t*S1CRUdJTg==\n", "", &c),
                     -EBADMSG);
    assert_err_has("clusters[0].cluster.certificate-authority-data: invalid base64 at offset 4");

    /* Valid base64 of something that is not PEM. */
    ck_assert_int_eq(
        load_kc(dir, "", "    client-certificate-data: aGVsbG8=\n    client-key: k\n", &c),
        -EBADMSG);
    assert_err_has("users[0].user.client-certificate-data: decodes to no PEM data");

    /* Base64 of base64 of PEM: a common copy-and-paste slip, named as such. */
    char *once = b64s(CA_PEM);
    char *twice = b64s(once);
    char line[1024];
    snprintf(line, sizeof(line), "    certificate-authority-data: %s\n", twice);
    ck_assert_int_eq(load_kc(dir, line, "", &c), -EBADMSG);
    assert_err_has("it looks base64-encoded twice");
    free(once);
    free(twice);

    /* A referenced file without PEM in it. */
    put(dir, "notpem", "hello\n");
    ck_assert_int_eq(load_kc(dir, "    certificate-authority: notpem\n", "", &c), -EBADMSG);
    assert_err_has("notpem holds no PEM data");
}
END_TEST

START_TEST(test_unreadable_files) {
    char dir[256], path[512], want[1200];
    test_dir("unreadable", dir, sizeof(dir));
    put(dir, "client.crt", CERT_PEM);
    gl_kube_creds *c = NULL;
    /* The exact shape every file error has: file, field, path, reason. */
    ck_assert_int_eq(load_kc(dir, "",
                             "    client-certificate: client.crt\n"
                             "    client-key: key.pem\n",
                             &c),
                     -ENOENT);
    join(path, sizeof(path), dir, "config");
    char key[512];
    join(key, sizeof(key), dir, "key.pem");
    snprintf(want, sizeof(want),
             "kubeconfig %s: users[0].user.client-key: cannot read %s: No such file or directory",
             path, key);
    ck_assert_str_eq(err, want);

    ck_assert_int_eq(load_kc(dir, "", "    tokenFile: missing-token\n", &c), -ENOENT);
    assert_err_has("users[0].user.tokenFile: cannot read ");

    /* A folder and a FIFO are refused without blocking on the FIFO. */
    ck_assert_int_eq(mkdir(strcat(strcpy(path, dir), "/adir"), 0700), 0);
    ck_assert_int_eq(load_kc(dir, "    certificate-authority: adir\n", "", &c), -EINVAL);
    assert_err_has("adir: not a regular file");
    ck_assert_int_eq(mkfifo(strcat(strcpy(path, dir), "/fifo"), 0600), 0);
    ck_assert_int_eq(load_kc(dir, "", "    tokenFile: fifo\n", &c), -EINVAL);
    assert_err_has("fifo: not a regular file");

    /* Permissions: only meaningful when not root (root reads mode 000 files). */
    put(dir, "secret.key", KEY_PEM);
    ck_assert_int_eq(chmod(strcat(strcpy(path, dir), "/secret.key"), 0), 0);
    if (geteuid() != 0) {
        ck_assert_int_eq(load_kc(dir, "",
                                 "    client-certificate: client.crt\n"
                                 "    client-key: secret.key\n",
                                 &c),
                         -EACCES);
        assert_err_has("secret.key: Permission denied");
    }

    /* The kubeconfig itself. */
    join(path, sizeof(path), dir, "no-such-config");
    ck_assert_int_eq(gl_kubeconfig_load(path, NULL, &c, err, sizeof(err)), -ENOENT);
    snprintf(want, sizeof(want), "kubeconfig %s: cannot read: No such file or directory", path);
    ck_assert_str_eq(err, want);
    ck_assert_ptr_null(c);
}
END_TEST

START_TEST(test_size_limit) {
    char dir[256];
    test_dir("big", dir, sizeof(dir));
    size_t n = GL_KUBE_FILE_MAX_BYTES;
    char *big = malloc(n + 2);
    memset(big, '\n', n + 1);
    memcpy(big, CA_PEM, strlen(CA_PEM));
    put_len(dir, "exact.crt", big, n);
    put_len(dir, "over.crt", big, n + 1);
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir, "    certificate-authority: exact.crt\n", "", &c), 0);
    ck_assert_uint_eq(c->ca_pem_len, n);
    gl_kube_creds_free(c);
    ck_assert_int_eq(load_kc(dir, "    certificate-authority: over.crt\n", "", &c), -EFBIG);
    assert_err_has("over.crt: larger than 1 MiB");

    /* A kubeconfig over the limit, from disk and from memory. */
    memset(big, ' ', n + 1);
    memcpy(big, "current-context: a\n", 19);
    big[n + 1] = '\0';
    ck_assert_int_eq(load_text(dir, big, NULL, &c), -EFBIG);
    assert_err_has("larger than 1 MiB");
    ck_assert_int_eq(parse_text(big, NULL, &c), -EFBIG);
    free(big);
}
END_TEST

/* ---- in-cluster ---- */

static void make_sa(const char *dir, const char *token) {
    put(dir, "sa/token", token);
    put(dir, "sa/ca.crt", CA_PEM);
    put(dir, "sa/namespace", "kube-system");
}

START_TEST(test_in_cluster) {
    char dir[256], sa[512], path[600];
    test_dir("incluster", dir, sizeof(dir));
    make_sa(dir, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln\n");
    join(sa, sizeof(sa), dir, "sa");
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(gl_kube_in_cluster_from("10.96.0.1", "443", sa, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c->source, "in-cluster");
    ck_assert_ptr_null(c->context);
    ck_assert_str_eq(c->server, "https://10.96.0.1:443");
    ck_assert_str_eq(c->token, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
    ck_assert_str_eq(c->ca_pem, CA_PEM);
    ck_assert(!c->insecure_skip_tls_verify);
    join(path, sizeof(path), sa, "token");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_TOKEN].path, path);
    join(path, sizeof(path), sa, "ca.crt");
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CA].path, path);
    ck_assert_ptr_null(c->files[GL_KUBE_FILE_KUBECONFIG].path);
    ck_assert(!gl_kube_creds_changed(c));
    gl_kube_creds_free(c);

    /* A trailing slash on the folder does not double. */
    strcat(sa, "/");
    ck_assert_int_eq(gl_kube_in_cluster_from("10.96.0.1", "443", sa, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c->files[GL_KUBE_FILE_CA].path, path);
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_in_cluster_ipv6) {
    char dir[256], sa[512];
    test_dir("incluster6", dir, sizeof(dir));
    make_sa(dir, "tok");
    join(sa, sizeof(sa), dir, "sa");
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(gl_kube_in_cluster_from("fd00:10:96::1", "443", sa, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c->server, "https://[fd00:10:96::1]:443");
    gl_kube_creds_free(c);
    ck_assert_int_eq(gl_kube_in_cluster_from("[fd00::1]", "6443", sa, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c->server, "https://[fd00::1]:6443");
    gl_kube_creds_free(c);

    static const char *const bad[][2] = {
        {"10.0.0.1", "abc"}, {"10.0.0.1", "0"},     {"10.0.0.1", "70000"}, {"a/b", "443"},
        {"a b", "443"},      {"10.0.0.1", "443/x"}, {"[fd00::1", "443"},   {"user@host", "443"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(gl_kube_in_cluster_from(bad[i][0], bad[i][1], sa, &c, err, sizeof(err)) ==
                          -EBADMSG,
                      "%s %s accepted", bad[i][0], bad[i][1]);
        ck_assert_ptr_null(c);
        assert_err_has("in-cluster: KUBERNETES_SERVICE_");
    }
}
END_TEST

START_TEST(test_in_cluster_missing) {
    char dir[256], sa[512];
    test_dir("incluster-missing", dir, sizeof(dir));
    join(sa, sizeof(sa), dir, "sa");
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(gl_kube_in_cluster_from(NULL, "443", sa, &c, err, sizeof(err)), -ENXIO);
    assert_err_has("in-cluster: KUBERNETES_SERVICE_HOST is not set");
    ck_assert_int_eq(gl_kube_in_cluster_from("10.0.0.1", "", sa, &c, err, sizeof(err)), -ENXIO);
    assert_err_has("in-cluster: KUBERNETES_SERVICE_PORT is not set");

    /* The environment wrapper, with the variables restored afterwards. */
    char *old_host = getenv("KUBERNETES_SERVICE_HOST"),
         *old_port = getenv("KUBERNETES_SERVICE_PORT");
    old_host = old_host ? strdup(old_host) : NULL;
    old_port = old_port ? strdup(old_port) : NULL;
    ck_assert_int_eq(unsetenv("KUBERNETES_SERVICE_HOST"), 0);
    ck_assert_int_eq(setenv("KUBERNETES_SERVICE_PORT", "443", 1), 0);
    int r_unset = gl_kube_in_cluster(sa, &c, err, sizeof(err));
    make_sa(dir, "tok\n");
    ck_assert_int_eq(setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1), 0);
    int r_set = gl_kube_in_cluster(sa, &c, err, sizeof(err));
    if (old_host)
        setenv("KUBERNETES_SERVICE_HOST", old_host, 1);
    else
        unsetenv("KUBERNETES_SERVICE_HOST");
    if (old_port)
        setenv("KUBERNETES_SERVICE_PORT", old_port, 1);
    else
        unsetenv("KUBERNETES_SERVICE_PORT");
    free(old_host);
    free(old_port);
    ck_assert_int_eq(r_unset, 0 - ENXIO);
    ck_assert_int_eq(r_set, 0);
    ck_assert_str_eq(c->server, "https://[fd00::1]:443");
    gl_kube_creds_free(c);
    c = NULL;

    /* Missing or bad files, each named. */
    char path[600];
    join(path, sizeof(path), sa, "token");
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(gl_kube_in_cluster_from("10.0.0.1", "443", sa, &c, err, sizeof(err)), -ENOENT);
    char want[800];
    snprintf(want, sizeof(want), "in-cluster: cannot read %s: No such file or directory", path);
    ck_assert_str_eq(err, want);
    put(dir, "sa/token", "\n");
    ck_assert_int_eq(gl_kube_in_cluster_from("10.0.0.1", "443", sa, &c, err, sizeof(err)),
                     -EBADMSG);
    assert_err_has("token: the token is empty");
    put(dir, "sa/token", "tok");
    join(path, sizeof(path), sa, "ca.crt");
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(gl_kube_in_cluster_from("10.0.0.1", "443", sa, &c, err, sizeof(err)), -ENOENT);
    assert_err_has("ca.crt: No such file or directory");
    put(dir, "sa/ca.crt", "not pem");
    ck_assert_int_eq(gl_kube_in_cluster_from("10.0.0.1", "443", sa, &c, err, sizeof(err)),
                     -EBADMSG);
    assert_err_has("ca.crt holds no PEM data");
    ck_assert_ptr_null(c);
}
END_TEST

/* ---- rotation ---- */

/* Sets a file's mtime exactly, so that a test decides whether the time tells a rewrite apart
 * instead of the clock's granularity deciding. */
static void set_mtime_ts(const char *path, struct timespec t) {
    struct timespec ts[2] = {t, t};
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void set_mtime(const char *path, time_t sec) {
    set_mtime_ts(path, (struct timespec){sec, 0});
}

START_TEST(test_token_rotation) {
    char dir[256], tok[512];
    test_dir("rotate", dir, sizeof(dir));
    put(dir, "token", "token-1\n");
    join(tok, sizeof(tok), dir, "token");
    set_mtime(tok, 1000000);
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir, "", "    tokenFile: token\n", &c), 0);
    ck_assert_str_eq(c->token, "token-1");
    ck_assert(!gl_kube_creds_changed(c));
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), 0);

    /* A new token of another size. */
    put(dir, "token", "token-two\n");
    ck_assert(gl_kube_creds_changed(c));
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), 1);
    ck_assert_str_eq(c->token, "token-two");
    ck_assert(!gl_kube_creds_changed(c));
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), 0);

    /* Same size, only the mtime tells. */
    set_mtime(tok, 1000000);
    ck_assert(gl_kube_creds_changed(c));
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), 0); /* same text */
    ck_assert(!gl_kube_creds_changed(c));
    put(dir, "token", "token-333\n");
    set_mtime(tok, 1000001);
    ck_assert(gl_kube_creds_changed(c));
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), 1);
    ck_assert_str_eq(c->token, "token-333");

    /* A bad new token keeps the old one and the old file state. */
    put(dir, "token", " \n");
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), -EBADMSG);
    assert_err_has("token file ");
    assert_err_has(": the token is empty");
    ck_assert_str_eq(c->token, "token-333");
    ck_assert(gl_kube_creds_changed(c));

    /* A vanished token file: an error, the old token kept, and a change reported. */
    ck_assert_int_eq(unlink(tok), 0);
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), -ENOENT);
    assert_err_has("cannot read token file");
    ck_assert_str_eq(c->token, "token-333");
    ck_assert(gl_kube_creds_changed(c));
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_in_cluster_token_rotation_by_symlink) {
    /* The kubelet projects the token through a "..data" symlink swapped atomically. */
    char dir[256], p1[512], p2[512], link[512], sa[512];
    test_dir("projected", dir, sizeof(dir));
    put(dir, "sa/..2024_01/token", "first\n");
    put(dir, "sa/..2024_02/token", "second-token\n");
    put(dir, "sa/ca.crt", CA_PEM);
    join(sa, sizeof(sa), dir, "sa");
    join(link, sizeof(link), sa, "token");
    join(p1, sizeof(p1), sa, "..2024_01/token");
    join(p2, sizeof(p2), sa, "..2024_02/token");
    ck_assert_int_eq(symlink(p1, link), 0);
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(gl_kube_in_cluster_from("10.0.0.1", "443", sa, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c->token, "first");
    ck_assert(!gl_kube_creds_changed(c));
    char tmp[600];
    join(tmp, sizeof(tmp), sa, "token.tmp");
    ck_assert_int_eq(symlink(p2, tmp), 0);
    ck_assert_int_eq(rename(tmp, link), 0);
    ck_assert(gl_kube_creds_changed(c));
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), 1);
    ck_assert_str_eq(c->token, "second-token");
    ck_assert(!gl_kube_creds_changed(c));
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_cert_and_kubeconfig_rotation) {
    char dir[256], path[512], tmp[512];
    test_dir("certrotate", dir, sizeof(dir));
    put(dir, "pki/c.pem", CERT_PEM KEY_PEM);
    gl_kube_creds *c = NULL;
    ck_assert_int_eq(load_kc(dir, "",
                             "    client-certificate: pki/c.pem\n"
                             "    client-key: pki/c.pem\n",
                             &c),
                     0);
    ck_assert(!gl_kube_creds_changed(c));
    /* The kubelet writes a new file and renames it into place: same size, and here even the
     * same mtime, so only the new inode tells. */
    put(dir, "pki/new.pem", CERT_PEM KEY_PEM);
    join(tmp, sizeof(tmp), dir, "pki/new.pem");
    join(path, sizeof(path), dir, "pki/c.pem");
    set_mtime_ts(tmp, c->files[GL_KUBE_FILE_CLIENT_CERT].mtime);
    ck_assert_int_eq(rename(tmp, path), 0);
    ck_assert(gl_kube_creds_changed(c));
    /* No token file: reloading the token changes nothing and does not hide the change. */
    ck_assert_int_eq(gl_kube_creds_reload_token(c, err, sizeof(err)), 0);
    ck_assert(gl_kube_creds_changed(c));
    gl_kube_creds_free(c);

    /* An edit of the kubeconfig itself. */
    ck_assert_int_eq(load_kc(dir, "", "    token: t\n", &c), 0);
    ck_assert(!gl_kube_creds_changed(c));
    join(path, sizeof(path), dir, "config");
    set_mtime(path, 12345);
    ck_assert(gl_kube_creds_changed(c));
    gl_kube_creds_free(c);
}
END_TEST

START_TEST(test_free_null_and_half_built) {
    gl_kube_creds_free(NULL);
    ck_assert(!gl_kube_creds_changed(NULL));
    ck_assert_int_eq(gl_kube_creds_reload_token(NULL, err, sizeof(err)), -EINVAL);
    /* What a failed load leaves behind: some members set, others not. */
    gl_kube_creds *c = calloc(1, sizeof(*c));
    c->source = strdup("in-cluster");
    c->files[GL_KUBE_FILE_TOKEN].path = strdup("/nonexistent/token");
    c->token = strdup("secret");
    gl_kube_creds_free(c);
    /* And errors with no message buffer at all. */
    ck_assert_int_eq(gl_kube_in_cluster_from(NULL, NULL, NULL, &c, NULL, 0), -ENXIO);
    ck_assert_int_eq(gl_kubeconfig_load("/nonexistent/config", NULL, &c, NULL, 0), -ENOENT);
    ck_assert_int_eq(gl_kubeconfig_parse("a: [", 4, "/x", NULL, 0, &c, NULL, 0), -EBADMSG);
}
END_TEST

static Suite *kubeconfig_suite(void) {
    Suite *s = suite_create("kubeconfig");
    TCase *tc = tcase_create("base64");
    tcase_add_test(tc, test_base64_rfc4648_vectors);
    tcase_add_test(tc, test_base64_round_trip_all_lengths);
    tcase_add_test(tc, test_base64_garbage);
    suite_add_tcase(s, tc);

    tc = tcase_create("kubeconfig");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_inline_token);
    tcase_add_test(tc, test_token_file_relative);
    tcase_add_test(tc, test_client_cert_files_and_ca_file);
    tcase_add_test(tc, test_absolute_paths_and_cwd_relative_kubeconfig);
    tcase_add_test(tc, test_data_fields);
    tcase_add_test(tc, test_insecure_and_tls_server_name);
    tcase_add_test(tc, test_explicit_context);
    tcase_add_test(tc, test_anonymous_unknown_keys_and_aliases);
    tcase_add_test(tc, test_server_urls);
    tcase_add_test(tc, test_skip_files_records_paths);
    tcase_add_test(tc, test_current_context_missing);
    tcase_add_test(tc, test_context_cluster_user_missing);
    tcase_add_test(tc, test_unsupported_auth);
    tcase_add_test(tc, test_malformed_yaml);
    tcase_add_test(tc, test_duplicates_and_contradictions);
    tcase_add_test(tc, test_base64_garbage_in_data);
    tcase_add_test(tc, test_unreadable_files);
    tcase_add_test(tc, test_size_limit);
    suite_add_tcase(s, tc);

    tc = tcase_create("in-cluster");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_in_cluster);
    tcase_add_test(tc, test_in_cluster_ipv6);
    tcase_add_test(tc, test_in_cluster_missing);
    suite_add_tcase(s, tc);

    tc = tcase_create("rotation");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_token_rotation);
    tcase_add_test(tc, test_in_cluster_token_rotation_by_symlink);
    tcase_add_test(tc, test_cert_and_kubeconfig_rotation);
    tcase_add_test(tc, test_free_null_and_half_built);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(kubeconfig_suite)
