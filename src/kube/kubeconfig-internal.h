/* kubeconfig-internal.h: helpers kubeconfig.c shares with incluster.c; not part of the API. */
#ifndef GUARDLET_KUBECONFIG_INTERNAL_H
#define GUARDLET_KUBECONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "guardlet/kubeconfig.h"

/* Writes a message into err (may be NULL), cutting it to err_size. */
__attribute__((format(printf, 3, 4))) void kube_errf(char *err, size_t err_size, const char *fmt,
                                                     ...);

/* Why a read of a referenced file failed, for "cannot read PATH: <reason>": strerror, except for
 * the two refusals of kube_read_file that strerror would describe badly. */
const char *kube_read_error_text(int r);

/*
 * Reads the regular file at path whole into a new NUL-terminated buffer (*out, *out_len bytes
 * before the NUL). rec (may be NULL) receives the descriptor's fstat taken before reading, so a
 * change during the read shows up later in gl_kube_creds_changed(); rec->path is not touched.
 * Returns 0, -errno, -EFBIG above GL_KUBE_FILE_MAX_BYTES, or -EINVAL when path is not a regular
 * file (a FIFO or device would block or never end).
 */
int kube_read_file(const char *path, char **out, size_t *out_len, gl_kube_file *rec);

/*
 * Finds the bearer token in text[0..len): surrounding white space is dropped (files end with a
 * newline, and client-go trims the same way). Returns 0 with the span in *start and *tok_len, or
 * -EBADMSG with a reason in *why when nothing is left or a byte could not go into an HTTP header
 * (inner white space, control or non-ASCII bytes: a CR LF would smuggle in a header).
 */
int kube_token_span(const char *text, size_t len, const char **start, size_t *tok_len,
                    const char **why);

/* True when buf holds a PEM block opening ("-----BEGIN "): libcurl and client-go take PEM only, so
 * anything else is a mistake better named here than as a TLS handshake failure. */
bool kube_looks_like_pem(const char *buf, size_t len);

/*
 * Checks and normalizes an API server URL: scheme http or https, a host (an IPv6 literal must be in
 * brackets), an optional port 1-65535 (443 or 80 when absent), an optional path; no user info,
 * query, fragment, white space or control bytes. *out is a new string "scheme://host:port[/path]"
 * without a trailing '/'. Returns 0, -EBADMSG with a reason in *why, or -ENOMEM.
 */
int kube_server_url(const char *url, char **out, const char **why);

/* Stores a copy of path as files[role].path. Returns 0 or -ENOMEM. */
int kube_set_file(gl_kube_creds *c, gl_kube_file_role role, const char *path);

/* Replaces the token with a copy of tok[0..len), wiping the old one. Returns 0 or -ENOMEM. */
int kube_set_token(gl_kube_creds *c, const char *tok, size_t len);

#endif
