/* main.c: guardlet's entry point: parse options, load configuration, then check, run once or run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guardlet/config.h"
#include "guardlet/daemon.h"
#include "guardlet/log.h"
#include "guardlet/options.h"
#include "guardlet/version.h"

static void print_config_errors(const gl_config_errors *errs) {
    for (size_t i = 0; i < errs->n; i++) {
        if (errs->v[i].line)
            fprintf(stderr, "%s:%u: %s\n", errs->v[i].file, errs->v[i].line, errs->v[i].message);
        else
            fprintf(stderr, "%s: %s\n", errs->v[i].file, errs->v[i].message);
    }
}

int main(int argc, char **argv) {
    gl_options opts;
    gl_config cfg = {0};
    gl_config_errors errs = {0};
    gl_daemon *d = NULL;
    int ret;

    int r = gl_options_parse(argc, argv, &opts, stderr);
    if (r < 0) {
        ret = r == -ENOMEM ? GL_EXIT_MISSING : GL_EXIT_USAGE;
        goto out;
    }
    if (opts.show_help) {
        gl_options_usage(stdout);
        ret = GL_EXIT_OK;
        goto out;
    }
    if (opts.show_version) {
        printf("guardlet %s\n", GL_VERSION);
        ret = GL_EXIT_OK;
        goto out;
    }

    /* --once and --check-config are interactive: their logs go to the terminal. */
    gl_log_setup(opts.once || opts.check_config ? GL_LOG_TARGET_STDERR : opts.log_target,
                 opts.log_format, opts.log_level);

    r = gl_options_load_config(&opts, &cfg, &errs);
    if (r < 0) {
        print_config_errors(&errs);
        if (!opts.check_config)
            fprintf(stderr, "guardlet: invalid configuration, not starting\n");
        ret = r == -ENOMEM ? GL_EXIT_MISSING : GL_EXIT_CONFIG;
        goto out;
    }
    if (opts.check_config) {
        puts("configuration OK");
        ret = GL_EXIT_OK;
        goto out;
    }
    if (opts.once) {
        ret = gl_once_run(&opts, &cfg, stdout);
        goto out;
    }

    r = gl_daemon_new(&opts, &cfg, &d);
    if (r < 0) {
        gl_log_crit("Cannot start: %s", strerror(-r));
        ret = GL_EXIT_MISSING;
        goto out;
    }
    ret = gl_daemon_run(d);
out:
    gl_daemon_free(d);
    gl_config_free(&cfg);
    gl_config_errors_free(&errs);
    gl_options_free(&opts);
    return ret;
}
