/* pressure.c: pure classification of node memory and PSI pressure against the configured limits. */
#include "guardlet/pressure.h"

#include <string.h>

const char *gl_mem_level_name(gl_mem_level l) {
    switch (l) {
    case GL_MEM_LEVEL_OK:
        return "ok";
    case GL_MEM_LEVEL_THROTTLE:
        return "throttle";
    case GL_MEM_LEVEL_EVICT:
        return "evict";
    case GL_MEM_LEVEL_KILL:
        return "kill";
    }
    return "unknown";
}

gl_mem_level gl_mem_level_for(const gl_config *c, uint64_t capacity_bytes,
                              uint64_t available_bytes) {
    /* Checked from the most severe down, so that thresholds configured out of order (possible only
     * when bytes and percentages are mixed) still give the most severe level that applies. */
    if (available_bytes < gl_quantity_resolve(&c->memory.kill_below, capacity_bytes))
        return GL_MEM_LEVEL_KILL;
    if (available_bytes < gl_quantity_resolve(&c->memory.evict_below, capacity_bytes))
        return GL_MEM_LEVEL_EVICT;
    if (available_bytes < gl_quantity_resolve(&c->memory.throttle_below, capacity_bytes))
        return GL_MEM_LEVEL_THROTTLE;
    return GL_MEM_LEVEL_OK;
}

bool gl_sustain_update(gl_sustain *s, bool above, uint64_t now_usec, uint64_t duration_usec) {
    bool was = s->sustained;

    if (!above) {
        s->since_usec = 0;
        s->sustained = false;
        return was;
    }
    /* 0 means "not above"; a sample at monotonic time 0 cannot happen on a running system. */
    if (s->since_usec == 0)
        s->since_usec = now_usec ? now_usec : 1;
    s->sustained = now_usec - s->since_usec >= duration_usec;
    return s->sustained != was;
}

void gl_node_pressure_update(gl_node_pressure *p, const gl_config *c, const gl_node_sample *s,
                             gl_node_pressure_change *change) {
    gl_mem_level level = gl_mem_level_for(c, s->capacity_bytes, s->available_bytes);
    /* A file that could not be read gives no evidence of pressure. */
    bool mem_above = s->psi_error[GL_PSI_MEMORY] == 0 &&
                     s->psi[GL_PSI_MEMORY].some.avg10_bp > c->memory.pressure_limit_bp;
    bool cpu_above = s->psi_error[GL_PSI_CPU] == 0 &&
                     s->psi[GL_PSI_CPU].some.avg10_bp > c->cpu.pressure_limit_bp;

    memset(change, 0, sizeof(*change));
    change->old_mem_level = p->mem_level;
    change->mem_level_changed = level != p->mem_level;
    p->mem_level = level;
    change->mem_psi_changed = gl_sustain_update(&p->mem_psi, mem_above, s->timestamp_usec,
                                                c->memory.pressure_duration_usec);
    change->cpu_psi_changed =
        gl_sustain_update(&p->cpu_psi, cpu_above, s->timestamp_usec, c->cpu.pressure_duration_usec);
}
