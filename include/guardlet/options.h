/* options.h: guardlet's command line, parsed into plain data. */
#ifndef GUARDLET_OPTIONS_H
#define GUARDLET_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "guardlet/config.h"
#include "guardlet/log.h"

/* The contract's exit codes. */
enum {
    GL_EXIT_OK = 0,
    GL_EXIT_CONFIG = 1,  /* configuration error */
    GL_EXIT_USAGE = 2,   /* usage error */
    GL_EXIT_MISSING = 3, /* a required kernel feature or resource is missing */
};

typedef enum { GL_OUTPUT_TEXT, GL_OUTPUT_JSON } gl_output_format;

typedef struct {
    char *config_path;    /* NULL: the default path */
    bool config_explicit; /* -c was given: a missing file is an error */
    char **sets;          /* "Section.Key=value", command-line flags that map to keys included */
    size_t n_sets;
    bool check_config;
    bool once;
    bool no_api;
    gl_output_format output;
    gl_log_target log_target;
    gl_log_format log_format;
    int log_level;
    bool show_help;
    bool show_version;
} gl_options;

/*
 * Parses argv. Flags that stand for config keys (--dry-run, --cgroup-root, --proc-root,
 * --kubeconfig, --node-name) become entries of sets in command-line order, after which they win
 * over files just as --set does. Returns 0, or -EINVAL after printing a usage error to err.
 * gl_options_free() releases what o owns, also after a failure.
 */
int gl_options_parse(int argc, char **argv, gl_options *o, FILE *err);
void gl_options_free(gl_options *o);
void gl_options_usage(FILE *out);

/* Loads the configuration the options name (file, drop-ins, --set and key flags). Returns what
 * gl_config_load() returns. */
int gl_options_load_config(const gl_options *o, gl_config *out, gl_config_errors *errs);

#endif
