/* render.h: guardletctl's text rendering of the status socket's JSON answers (status.h). */
#ifndef GUARDLET_CTL_RENDER_H
#define GUARDLET_CTL_RENDER_H

#include <jansson.h>
#include <stdio.h>

/* Prints the answer to command ("status", "pods", "explain", "actions") as aligned text. Returns 0,
 * or -EBADMSG when a field the rendering needs is missing or of the wrong type. */
int ctl_render_text(const char *command, const json_t *answer, FILE *out);

/* Human sizes, one decimal at most: "1.2Gi", "512Mi", "900B". */
char *ctl_fmt_bytes(double bytes, char *buf, size_t len);

#endif
