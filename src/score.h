/*
 * score.h - the detector's candidates and their scores (score.c): which
 * tokens of a line may be a code, and how near a keyword they stand.  For
 * detect.c only.
 */
#ifndef OTPBRIDGE_SCORE_H
#define OTPBRIDGE_SCORE_H

#include <glib.h>
#include "detect-ctx.h"

/* Where and how near a keyword the candidates of a line are. */
struct where {
	int prox;          /* proximity score, 0: does not count */
	int own_prox;      /* proximity of a candidate alone on its line */
	int pending_prox;  /* own-line score to use if the next line has a keyword */
	gboolean early;    /* in the subject or the first bytes of text */
	gboolean colon;    /* the previous line was "...code:" */
	gboolean cont;     /* the line is a continuation chunk */
	gboolean weak;     /* the keyword that makes it count is a weak one */
	int kw;            /* strength of that keyword (0-3) */
};

/* Records value with score, merging a repeated value (keeps its best score). */
void score_cand_add(struct detect_ctx *c, struct cand *list, int *nlist, int max,
    const char *value, int score, int kw);

/* Finds the candidates of one line (or subject) and files those near a keyword. */
void score_line(struct detect_ctx *c, const struct tok *t, int n, const struct where *w);

#endif
