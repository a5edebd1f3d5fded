/* guardletctl.c: inspects a running guardlet over its status socket. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "guardlet/config.h"
#include "guardlet/options.h"
#include "guardlet/status.h"
#include "guardlet/version.h"

#include "render.h"

static void usage(FILE *out) {
    fputs(
        "Usage: guardletctl [--socket PATH | -c CONFIG] [-o text|json] COMMAND\n"
        "Inspects a running guardlet.\n"
        "\n"
        "Commands:\n"
        "  status                  node state, pressure levels, API connectivity, last actions\n"
        "  pods                    pods ranked as guardlet would pick them, with the figures\n"
        "  explain NAMESPACE/POD   why that pod would or would not be chosen (a pod UID\n"
        "                          works too, and is the only name in local mode)\n"
        "  actions                 recent actions\n"
        "\n"
        "Options:\n"
        "      --socket PATH       the daemon's status socket\n"
        "  -c, --config PATH       read StatusSocket from this config (default\n"
        "                          /etc/guardlet/guardlet.conf)\n"
        "  -o, --output text|json  output format (default text)\n"
        "      --version           print the version and exit\n"
        "  -h, --help              print this help and exit\n"
        "\n"
        "Exit codes: 0 ok, 1 configuration error, 2 usage error, 3 the daemon cannot be reached.\n",
        out);
}

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "guardletctl: %s%s%s\nTry 'guardletctl --help' for more information.\n", msg,
            arg ? " " : "", arg ? arg : "");
    return GL_EXIT_USAGE;
}

/* How long the daemon may take to answer: it answers from its loop between ticks, within
 * milliseconds normally, but a daemon under valgrind or on a starved node needs longer. */
#define ANSWER_TIMEOUT_MSEC 30000
/* Answers are a few KiB per pod; a bound keeps a broken peer from filling our memory. */
#define ANSWER_MAX_BYTES (64u << 20)

/* Connects to the daemon's socket. Returns the fd or -errno. */
static int connect_socket(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

/* Sends the request line and reads the whole answer (the daemon closes after it). Returns the
 * answer (caller frees) or NULL with *err set to a negative errno (-ETIMEDOUT, -EMSGSIZE, ...). */
static char *exchange(int fd, const char *line, int *err) {
    size_t len = 0, cap = 0;
    char *buf = NULL;
    size_t off = 0, n = strlen(line);

    while (off < n) {
        ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            *err = -errno;
            return NULL;
        }
        off += (size_t)w;
    }
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, ANSWER_TIMEOUT_MSEC);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            *err = r == 0 ? -ETIMEDOUT : -errno;
            free(buf);
            return NULL;
        }
        if (cap - len < 4096) {
            if (cap >= ANSWER_MAX_BYTES) {
                *err = -EMSGSIZE;
                free(buf);
                return NULL;
            }
            char *v = realloc(buf, cap ? cap * 2 : 8192);
            if (!v) {
                *err = -ENOMEM;
                free(buf);
                return NULL;
            }
            buf = v;
            cap = cap ? cap * 2 : 8192;
        }
        ssize_t got = read(fd, buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            *err = -errno;
            free(buf);
            return NULL;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (!buf && !(buf = malloc(1))) {
        *err = -ENOMEM;
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Asks the daemon and prints its answer. Returns the exit code. */
static int ask(const char *path, const char *cmd, const char *arg, bool json_out) {
    char line[GL_STATUS_MAX_REQUEST + 2];
    int err = 0;

    if ((size_t)snprintf(line, sizeof(line), "%s%s%s\n", cmd, arg ? " " : "", arg ? arg : "") >=
        sizeof(line)) {
        fprintf(stderr, "guardletctl: the pod name is too long\n");
        return GL_EXIT_USAGE;
    }
    int fd = connect_socket(path);
    if (fd == -ENOENT || fd == -ECONNREFUSED || fd == -ENOTDIR) {
        fprintf(stderr, "guardletctl: guardlet is not running (no socket at %s)\n", path);
        return GL_EXIT_MISSING;
    }
    if (fd == -EACCES || fd == -EPERM) {
        fprintf(stderr, "guardletctl: permission denied on %s (run as root)\n", path);
        return GL_EXIT_MISSING;
    }
    if (fd < 0) {
        fprintf(stderr, "guardletctl: cannot reach guardlet at %s: %s\n", path, strerror(-fd));
        return GL_EXIT_MISSING;
    }
    char *text = exchange(fd, line, &err);
    close(fd);
    if (!text) {
        fprintf(stderr, "guardletctl: no answer from guardlet at %s: %s\n", path,
                err == -ETIMEDOUT ? "timed out" : strerror(-err));
        return GL_EXIT_MISSING;
    }
    json_error_t jerr;
    json_t *answer = text[0] ? json_loads(text, 0, &jerr) : NULL;
    free(text);
    json_t *proto = json_object_get(answer, "protocol");
    if (!json_is_object(answer) || !json_is_integer(proto)) {
        fprintf(stderr, "guardletctl: bad answer from guardlet at %s: %s\n", path,
                !answer ? "not JSON (or empty)" : "no protocol version");
        json_decref(answer);
        return GL_EXIT_MISSING;
    }
    if (json_integer_value(proto) != GL_STATUS_PROTOCOL) {
        fprintf(stderr,
                "guardletctl: guardlet at %s speaks status protocol %lld; this guardletctl "
                "knows %d (use the guardletctl of the same version)\n",
                path, (long long)json_integer_value(proto), GL_STATUS_PROTOCOL);
        json_decref(answer);
        return GL_EXIT_MISSING;
    }
    int rc = GL_EXIT_OK;
    if (!json_is_true(json_object_get(answer, "ok"))) {
        const json_t *e = json_object_get(answer, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        /* An unknown pod is the caller's mistake, like a configuration error: exit 1. */
        bool no_pod = code && strcmp(code, "no-pod") == 0;
        if (no_pod)
            fprintf(stderr, "guardletctl: no pod %s on this node\n", arg ? arg : "?");
        else
            fprintf(stderr, "guardletctl: guardlet at %s answered: %s\n", path,
                    msg ? msg : "an error without a message");
        rc = no_pod ? GL_EXIT_CONFIG : GL_EXIT_MISSING;
        if (!json_out) {
            json_decref(answer);
            return rc;
        }
    }
    if (json_out) {
        if (json_dumpf(answer, stdout, JSON_INDENT(2)) < 0 || fputc('\n', stdout) == EOF)
            rc = GL_EXIT_MISSING;
    } else if (ctl_render_text(cmd, answer, stdout) < 0) {
        fprintf(stderr, "guardletctl: bad answer from guardlet at %s: fields missing for '%s'\n",
                path, cmd);
        rc = GL_EXIT_MISSING;
    }
    json_decref(answer);
    if (fflush(stdout) == EOF)
        rc = GL_EXIT_MISSING;
    return rc;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {0},
    };
    const char *socket_path = NULL, *config_path = NULL;
    bool json_out = false;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            socket_path = optarg;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0)
                return usage_error("invalid --output (expected text or json):", optarg);
            json_out = strcmp(optarg, "json") == 0;
            break;
        case 'V':
            printf("guardletctl %s\n", GL_VERSION);
            return GL_EXIT_OK;
        case 'h':
            usage(stdout);
            return GL_EXIT_OK;
        case ':':
            return usage_error("option needs a value:", argv[optind - 1]);
        default:
            return usage_error("unknown option:", argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return GL_EXIT_USAGE;
    }
    const char *cmd = argv[optind];
    int want_args = strcmp(cmd, "explain") == 0 ? 1 : 0;
    if (strcmp(cmd, "status") != 0 && strcmp(cmd, "pods") != 0 && strcmp(cmd, "explain") != 0 &&
        strcmp(cmd, "actions") != 0)
        return usage_error("unknown command:", cmd);
    if (argc - optind - 1 != want_args)
        return usage_error(want_args ? "explain takes NAMESPACE/POD" : "unexpected argument after",
                           want_args ? NULL : cmd);
    /* One line, one argument: the protocol has no quoting. */
    if (want_args && (!argv[optind + 1][0] || strpbrk(argv[optind + 1], " \t\r\n")))
        return usage_error("explain takes NAMESPACE/POD or a pod UID, got", argv[optind + 1]);

    gl_config cfg = {0};
    if (!socket_path) {
        /* The socket path comes from the same configuration the daemon reads. */
        gl_config_errors errs = {0};
        gl_config_source src = {.path = config_path, .path_required = config_path != NULL};
        if (gl_config_load(&src, &cfg, &errs) < 0) {
            for (size_t i = 0; i < errs.n; i++)
                fprintf(stderr, "%s:%u: %s\n", errs.v[i].file, errs.v[i].line, errs.v[i].message);
            gl_config_errors_free(&errs);
            return GL_EXIT_CONFIG;
        }
        socket_path = cfg.guard.status_socket;
    }

    if (!socket_path[0]) {
        fprintf(stderr, "guardletctl: the status socket is disabled (StatusSocket is empty)\n");
        gl_config_free(&cfg);
        return GL_EXIT_MISSING;
    }
    int rc = ask(socket_path, cmd, want_args ? argv[optind + 1] : NULL, json_out);
    gl_config_free(&cfg);
    return rc;
}
