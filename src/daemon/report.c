/* report.c: turns a node sample and pressure state into the contract's JSON, text and status lines.
 */
#include "guardlet/report.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "guardlet/units.h"

/* Basis points to the kernel's percentage ("3.70" -> 3.7); exact for two decimals. */
static double bp_to_percent(uint32_t bp) {
    return (double)bp / 100.0;
}

static json_t *psi_json(const gl_node_sample *s, gl_psi_resource r) {
    if (s->psi_error[r] != 0)
        return json_null();
    const gl_psi *p = &s->psi[r];
    return json_pack("{s:f, s:o}", "some_avg10", bp_to_percent(p->some.avg10_bp), "full_avg10",
                     p->has_full ? json_real(bp_to_percent(p->full.avg10_bp)) : json_null());
}

json_t *gl_report_json(const gl_report_input *in) {
    const gl_node_sample *s = in->sample;
    json_t *psi = json_object();
    if (!psi)
        return NULL;
    for (int r = 0; r < GL_PSI_N; r++)
        json_object_set_new(psi, gl_psi_resource_name((gl_psi_resource)r),
                            psi_json(s, (gl_psi_resource)r));

    /* Byte counts stay below 2^63 on any real machine, so json_integer (signed) holds them. */
    json_t *node = json_pack(
        "{s:s, s:i, s:{s:I, s:I, s:I, s:I}, s:o, s:s, s:i, s:{s:s, s:b, s:b}}", "name",
        in->node_name, "cgroup_version", in->cgroup_version, "memory", "capacity_bytes",
        (json_int_t)s->capacity_bytes, "available_bytes", (json_int_t)s->available_bytes,
        "working_set_bytes", (json_int_t)s->working_set_bytes, "kernel_available_bytes",
        (json_int_t)s->meminfo.available_bytes, "psi", psi, "pool", in->pool, "cpus", (int)s->cpus,
        "pressure", "memory_level", gl_mem_level_name(in->pressure->mem_level),
        "memory_psi_sustained", in->pressure->mem_psi.sustained, "cpu_psi_sustained",
        in->pressure->cpu_psi.sustained);
    if (!node)
        return NULL;
    return json_pack("{s:o, s:s, s:b, s:[], s:[]}", "node", node, "mode",
                     in->config->guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforce", "api",
                     in->api, "pods", "decisions");
}

static void psi_text(const gl_node_sample *s, gl_psi_resource r, char *buf, size_t len) {
    if (s->psi_error[r] != 0) {
        snprintf(buf, len, "n/a");
        return;
    }
    const gl_psi *p = &s->psi[r];
    snprintf(buf, len, "%u.%02u/%u.%02u", p->some.avg10_bp / 100, p->some.avg10_bp % 100,
             p->full.avg10_bp / 100, p->full.avg10_bp % 100);
}

/* Available memory as a whole percentage of capacity, for humans. */
static unsigned available_percent(const gl_node_sample *s) {
    return s->capacity_bytes ? (unsigned)(s->available_bytes * 100 / s->capacity_bytes) : 0;
}

void gl_report_text(const gl_report_input *in, FILE *out) {
    const gl_node_sample *s = in->sample;
    char cap[32], ws[32], avail[32], kavail[32], pm[32], pc[32], pi[32];
    char thr[32], evi[32], kil[32];
    const gl_config *c = in->config;

    gl_format_bytes(s->capacity_bytes, cap, sizeof(cap));
    gl_format_bytes(s->working_set_bytes, ws, sizeof(ws));
    gl_format_bytes(s->available_bytes, avail, sizeof(avail));
    gl_format_bytes(s->meminfo.available_bytes, kavail, sizeof(kavail));
    gl_format_bytes(gl_quantity_resolve(&c->memory.throttle_below, s->capacity_bytes), thr,
                    sizeof(thr));
    gl_format_bytes(gl_quantity_resolve(&c->memory.evict_below, s->capacity_bytes), evi,
                    sizeof(evi));
    gl_format_bytes(gl_quantity_resolve(&c->memory.kill_below, s->capacity_bytes), kil,
                    sizeof(kil));
    psi_text(s, GL_PSI_MEMORY, pm, sizeof(pm));
    psi_text(s, GL_PSI_CPU, pc, sizeof(pc));
    psi_text(s, GL_PSI_IO, pi, sizeof(pi));

    fprintf(out, "node:      %s (pool %s, %u CPUs, cgroup v%d, %s, %s)\n", in->node_name, in->pool,
            s->cpus, in->cgroup_version, c->guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforce",
            in->api ? "API" : "local mode");
    fprintf(out, "memory:    available %s of %s (%u%%), working set %s, kernel MemAvailable %s\n",
            avail, cap, available_percent(s), ws, kavail);
    fprintf(out, "limits:    throttle below %s, evict below %s, kill below %s\n", thr, evi, kil);
    fprintf(out, "pressure:  some/full avg10 %%: memory %s, cpu %s, io %s\n", pm, pc, pi);
    fprintf(out, "state:     memory %s%s%s\n", gl_mem_level_name(in->pressure->mem_level),
            in->pressure->mem_psi.sustained ? ", memory PSI sustained over limit" : "",
            in->pressure->cpu_psi.sustained ? ", CPU PSI sustained over limit" : "");
    fprintf(out, "pods:      none seen\n");
    fprintf(out, "decisions: none\n");
}

void gl_report_status_line(const gl_report_input *in, char *buf, size_t len) {
    const gl_node_sample *s = in->sample;
    char avail[32], cap[32], pm[32], pc[32];

    gl_format_bytes(s->available_bytes, avail, sizeof(avail));
    gl_format_bytes(s->capacity_bytes, cap, sizeof(cap));
    psi_text(s, GL_PSI_MEMORY, pm, sizeof(pm));
    psi_text(s, GL_PSI_CPU, pc, sizeof(pc));
    snprintf(buf, len, "%s: memory available %s of %s (%u%%), %s; PSI some/full memory %s cpu %s",
             in->config->guard.mode == GL_MODE_DRY_RUN ? "dry-run" : "enforcing", avail, cap,
             available_percent(s), gl_mem_level_name(in->pressure->mem_level), pm, pc);
}
