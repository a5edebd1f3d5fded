/* pressure.h: pure classification of node pressure from one sample and a little history. */
#ifndef GUARDLET_PRESSURE_H
#define GUARDLET_PRESSURE_H

#include <stdbool.h>
#include <stdint.h>

#include "guardlet/config.h"
#include "guardlet/node.h"

/* How short of memory the node is, by the [Memory] thresholds on memory.available. */
typedef enum {
    GL_MEM_LEVEL_OK,       /* above ThrottleBelow */
    GL_MEM_LEVEL_THROTTLE, /* below ThrottleBelow (or memory PSI sustained over its limit) */
    GL_MEM_LEVEL_EVICT,    /* below EvictBelow */
    GL_MEM_LEVEL_KILL,     /* below KillBelow */
} gl_mem_level;

const char *gl_mem_level_name(gl_mem_level l);

/* The level for available bytes on a node of capacity bytes (percent thresholds resolve
 * against capacity). */
gl_mem_level gl_mem_level_for(const gl_config *c, uint64_t capacity_bytes,
                              uint64_t available_bytes);

/*
 * "Above limit for at least duration": a PSI average counts as sustained pressure only once it
 * has stayed above its limit for the configured time, so a single busy second never acts.
 * since_usec is when the current run above the limit began (0: not above).
 */
typedef struct {
    uint64_t since_usec;
    bool sustained;
} gl_sustain;

/* Feeds one observation taken at now_usec. Returns true when the sustained state changed. */
bool gl_sustain_update(gl_sustain *s, bool above, uint64_t now_usec, uint64_t duration_usec);

/* The node's pressure state derived sample by sample. */
typedef struct {
    gl_mem_level mem_level; /* from memory.available alone */
    gl_sustain mem_psi;     /* memory PSI some avg10 over [Memory] PressureLimit */
    gl_sustain cpu_psi;     /* CPU PSI some avg10 over [CPU] PressureLimit */
} gl_node_pressure;

/* What changed in the last update, so the caller can say so once. */
typedef struct {
    bool mem_level_changed;
    gl_mem_level old_mem_level;
    bool mem_psi_changed;
    bool cpu_psi_changed;
} gl_node_pressure_change;

void gl_node_pressure_update(gl_node_pressure *p, const gl_config *c, const gl_node_sample *s,
                             gl_node_pressure_change *change);

#endif
