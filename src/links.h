/*
 * links.h - the detector's magic sign-in links (links.c), looked for only
 * when no code counted.  For detect.c only.
 */
#ifndef OTPBRIDGE_LINKS_H
#define OTPBRIDGE_LINKS_H

#include <glib.h>
#include "detect-ctx.h"

/* The one best magic link, or NULL (none, or two of equal standing). */
char *links_pick(struct detect_ctx *c, const GPtrArray *links, struct tok *toks);

#endif
