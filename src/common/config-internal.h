/* config-internal.h: the private interface between config loading (config.c) and the key table
 * (config-keys.c). */
#ifndef GUARDLET_CONFIG_INTERNAL_H
#define GUARDLET_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guardlet/config.h"

/* Room for one message. Values are quoted and shortened by gl_config_quote(), so this is ample. */
#define GL_CONFIG_MSG_MAX 512

typedef struct gl_config_key gl_config_key;

/* Parses value into the field of c that k describes. Returns 0, -EINVAL with msg saying what is
 * wrong and what is expected (without the "Section.Key: " prefix), or -ENOMEM. c is unchanged on
 * error. */
typedef int (*gl_config_parse_fn)(gl_config *c, const gl_config_key *k, const char *value,
                                  char *msg, size_t len);

struct gl_config_key {
    const char *section;
    const char *name;
    gl_config_parse_fn parse;
    size_t offset;                /* of the field in gl_config */
    uint64_t min, max;            /* inclusive bounds of numbers, durations and percentages (bp) */
    bool (*valid)(const char *s); /* string keys: the syntax check */
    const char *expect;           /* string keys: what valid() accepts, for messages */
    const char *def;              /* the built-in default, spelled as in the contract; NULL: none */
    bool list;                    /* may repeat within one file; each line appends (Rule=) */
};

extern const gl_config_key gl_config_keys[];
extern const size_t gl_config_n_keys;

/* By exact, case-sensitive name: a key's index in gl_config_keys, or for a section any
 * non-negative number; -1 when unknown. */
int gl_config_section_find(const char *section);
int gl_config_key_find(const char *section, const char *name);

/* "; did you mean [Memory]?" for an unknown section, or "" when nothing is close. */
void gl_config_section_hint(const char *section, char *buf, size_t len);

/* "; did you mean CPU.Evict?" for an unknown key: a case-insensitive match in the same section,
 * else the same name in other sections. section NULL searches every section. "" when nothing. */
void gl_config_key_hint(const char *section, const char *name, char *buf, size_t len);

/* Writes value in double quotes with control characters escaped and long values shortened, so a
 * message never carries terminal escapes or runs on for pages. Returns buf. */
const char *gl_config_quote(const char *value, char *buf, size_t len);

/* Where a key was last set during one load: for duplicate detection within a file and to name a
 * line in cross-field errors. */
typedef struct {
    const char *file; /* NULL: still the built-in default */
    unsigned line;
    unsigned source; /* which file or --set set it, numbered from 1; 0: none */
    uint64_t seq;    /* order of assignment over the whole load, to find the later of two keys */
    bool bad;        /* its last value did not parse: cross-field checks skip it */
} gl_config_origin;

/* Checks that need several keys at once, with origins indexed like gl_config_keys. Appends one
 * error per violated rule at the place where the later of the keys involved was set. Returns 0
 * or -ENOMEM. */
int gl_config_validate(const gl_config *c, const gl_config_origin *origins, gl_config_errors *errs);

/* Empties the pool rule list: the first Rule= of a load replaces the built-in rules. */
void gl_config_rules_clear(gl_config *c);

#endif
