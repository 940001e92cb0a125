/*
 * token.h - the detector's tokenizer (token.c): lines cut into words,
 * digit runs, CJK/Hangul/Thai runs, spaces, punctuation and URLs, words
 * folded and resolved against the lexicon.  For detect.c, score.c and
 * links.c only.
 */
#ifndef OTPBRIDGE_TOKEN_H
#define OTPBRIDGE_TOKEN_H

#include <glib.h>
#include "detect-ctx.h"

/* Whether cp is one of the ASCII characters in set. */
gboolean token_ascii_in(gunichar cp, const char *set);

/* Whether cp is a currency sign. */
gboolean token_is_currency(gunichar cp);

/* Builds the per-call keyword index (cheap: one counting sort of the tables). */
void token_kw_index(struct detect_ctx *c);

/*
 * Cuts [p, end) into tokens up to the end of the line or max tokens; returns
 * the number of tokens and sets *next past what was read (past the '\n').
 */
int token_split(const char *p, const char *end, struct tok *toks, int max, const char **next);

/* Resolves the keyword flags of every word and CJK run of a line; fills *li. */
void token_line_resolve(const struct detect_ctx *c, struct tok *t, int n, struct lineinfo *li);

#endif
