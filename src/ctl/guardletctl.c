/* guardletctl.c: inspects a running guardlet over its status socket. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "guardlet/config.h"
#include "guardlet/options.h"
#include "guardlet/version.h"

static void usage(FILE *out) {
    fputs(
        "Usage: guardletctl [--socket PATH | -c CONFIG] [-o text|json] COMMAND\n"
        "Inspects a running guardlet.\n"
        "\n"
        "Commands:\n"
        "  status                  node state, pressure levels, API connectivity, last actions\n"
        "  pods                    pods ranked as guardlet would pick them, with the figures\n"
        "  explain NAMESPACE/POD   why that pod would or would not be chosen\n"
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

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"output", required_argument, NULL, 'o'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {0},
    };
    const char *socket_path = NULL, *config_path = NULL;
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

    int fd = connect_socket(socket_path);
    if (fd < 0) {
        fprintf(stderr, "guardletctl: cannot reach guardlet at %s: %s%s\n", socket_path,
                strerror(-fd),
                fd == -ENOENT || fd == -ECONNREFUSED ? " (is the daemon running?)"
                : fd == -EACCES                      ? " (the socket is for root: try sudo)"
                                                     : "");
        gl_config_free(&cfg);
        return GL_EXIT_MISSING;
    }
    /* The status protocol arrives with the "Ship it" issue; until then a daemon that accepts the
     * connection cannot answer yet, and saying so is better than hanging. */
    close(fd);
    fprintf(stderr, "guardletctl: the daemon at %s does not serve '%s' yet\n", socket_path, cmd);
    gl_config_free(&cfg);
    return GL_EXIT_MISSING;
}
