/* options.c: parses guardlet's command line (getopt_long) into a gl_options struct. */
#include "guardlet/options.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_CHECK_CONFIG = 0x100,
    OPT_ONCE,
    OPT_DRY_RUN,
    OPT_CGROUP_ROOT,
    OPT_PROC_ROOT,
    OPT_NO_API,
    OPT_KUBECONFIG,
    OPT_NODE_NAME,
    OPT_LOG_TARGET,
    OPT_LOG_FORMAT,
    OPT_LOG_LEVEL,
    OPT_SET,
    OPT_VERSION,
};

void gl_options_usage(FILE *out) {
    fputs("Usage: guardlet [OPTION]...\n"
          "Node-level kubelet companion: watches memory, CPU and PID pressure and stops runaway\n"
          "pods before the node starves.\n"
          "\n"
          "  -c, --config PATH        main config file (default /etc/guardlet/guardlet.conf);\n"
          "                           drop-ins from PATH.d/*.conf in lexical order\n"
          "      --check-config       validate the configuration, print 'configuration OK'\n"
          "                           or one FILE:LINE: message per error; exit 0 or 1\n"
          "      --once               sample twice one Interval apart, decide, print, exit;\n"
          "                           never acts\n"
          "  -o, --output text|json   format for --once (default text)\n"
          "      --dry-run            decide and report everything, change nothing\n"
          "      --cgroup-root PATH   read the cgroup tree from PATH\n"
          "      --proc-root PATH     read proc files from PATH\n"
          "      --no-api             local mode: no Kubernetes API server\n"
          "      --kubeconfig PATH    kubeconfig for the API server\n"
          "      --node-name NAME     this node's name\n"
          "      --set SECTION.KEY=VALUE  set a config key (repeatable; wins over files)\n"
          "      --log-target journal|stderr|auto   where logs go (default auto)\n"
          "      --log-format text|json  stderr log format (default text)\n"
          "      --log-level LEVEL    debug info notice warning err crit (default info)\n"
          "      --version            print the version and exit\n"
          "  -h, --help               print this help and exit\n"
          "\n"
          "Exit codes: 0 ok, 1 configuration error, 2 usage error, 3 a required kernel\n"
          "feature or resource is missing.\n",
          out);
}

/* Appends "Section.Key=value" built from a flag that stands for a key. */
static int push_set(gl_options *o, const char *key, const char *value) {
    char **v = realloc(o->sets, (o->n_sets + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    o->sets = v;
    if (asprintf(&o->sets[o->n_sets], "%s=%s", key, value) < 0)
        return -ENOMEM;
    o->n_sets++;
    return 0;
}

__attribute__((format(printf, 2, 3))) static int usage_error(FILE *err, const char *fmt, ...) {
    va_list ap;

    fprintf(err, "guardlet: ");
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fprintf(err, "\nTry 'guardlet --help' for more information.\n");
    return -EINVAL;
}

int gl_options_parse(int argc, char **argv, gl_options *o, FILE *err) {
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
        {"once", no_argument, NULL, OPT_ONCE},
        {"output", required_argument, NULL, 'o'},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"cgroup-root", required_argument, NULL, OPT_CGROUP_ROOT},
        {"proc-root", required_argument, NULL, OPT_PROC_ROOT},
        {"no-api", no_argument, NULL, OPT_NO_API},
        {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
        {"node-name", required_argument, NULL, OPT_NODE_NAME},
        {"log-target", required_argument, NULL, OPT_LOG_TARGET},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"set", required_argument, NULL, OPT_SET},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c, r = 0;

    memset(o, 0, sizeof(*o));
    o->log_target = GL_LOG_TARGET_AUTO;
    o->log_format = GL_LOG_FORMAT_TEXT;
    o->log_level = LOG_INFO;

    /* getopt keeps state between calls; tests parse several command lines in one process. */
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            free(o->config_path);
            o->config_path = strdup(optarg);
            if (!o->config_path)
                return -ENOMEM;
            o->config_explicit = true;
            break;
        case OPT_CHECK_CONFIG:
            o->check_config = true;
            break;
        case OPT_ONCE:
            o->once = true;
            break;
        case 'o':
            if (strcmp(optarg, "text") == 0)
                o->output = GL_OUTPUT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                o->output = GL_OUTPUT_JSON;
            else
                return usage_error(err, "invalid --output '%s' (expected text or json)", optarg);
            break;
        case OPT_DRY_RUN:
            r = push_set(o, "Guard.Mode", "dry-run");
            break;
        case OPT_CGROUP_ROOT:
            r = push_set(o, "Guard.CgroupRoot", optarg);
            break;
        case OPT_PROC_ROOT:
            r = push_set(o, "Guard.ProcRoot", optarg);
            break;
        case OPT_NO_API:
            o->no_api = true;
            break;
        case OPT_KUBECONFIG:
            r = push_set(o, "Kubernetes.Kubeconfig", optarg);
            break;
        case OPT_NODE_NAME:
            r = push_set(o, "Guard.NodeName", optarg);
            break;
        case OPT_SET:
            if (!strchr(optarg, '=') || !strchr(optarg, '.'))
                return usage_error(err, "invalid --set '%s' (expected SECTION.KEY=VALUE)", optarg);
            {
                char **v = realloc(o->sets, (o->n_sets + 1) * sizeof(*v));
                if (!v)
                    return -ENOMEM;
                o->sets = v;
                if (!(o->sets[o->n_sets] = strdup(optarg)))
                    return -ENOMEM;
                o->n_sets++;
            }
            break;
        case OPT_LOG_TARGET:
            if (gl_log_parse_target(optarg, &o->log_target) < 0)
                return usage_error(
                    err, "invalid --log-target '%s' (expected journal, stderr or auto)", optarg);
            break;
        case OPT_LOG_FORMAT:
            if (gl_log_parse_format(optarg, &o->log_format) < 0)
                return usage_error(err, "invalid --log-format '%s' (expected text or json)",
                                   optarg);
            break;
        case OPT_LOG_LEVEL:
            if (gl_log_parse_level(optarg, &o->log_level) < 0)
                return usage_error(
                    err,
                    "invalid --log-level '%s' (expected debug, info, notice, warning, err or crit)",
                    optarg);
            break;
        case OPT_VERSION:
            o->show_version = true;
            break;
        case 'h':
            o->show_help = true;
            break;
        case ':':
            return usage_error(err, "option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error(err, "unknown option '%s'", argv[optind - 1]);
        }
        if (r < 0)
            return r;
    }
    if (optind < argc)
        return usage_error(err, "unexpected argument '%s'", argv[optind]);
    if (o->check_config && o->once)
        return usage_error(err, "%s", "--check-config and --once cannot be combined");
    return 0;
}

void gl_options_free(gl_options *o) {
    if (!o)
        return;
    for (size_t i = 0; i < o->n_sets; i++)
        free(o->sets[i]);
    free(o->sets);
    free(o->config_path);
    memset(o, 0, sizeof(*o));
}

int gl_options_load_config(const gl_options *o, gl_config *out, gl_config_errors *errs) {
    gl_config_source src = {
        .path = o->config_path,
        .path_required = o->config_explicit,
        .sets = (const char *const *)o->sets,
        .n_sets = o->n_sets,
    };
    return gl_config_load(&src, out, errs);
}
