/*
 * detect.c - the built-in one-time-code detector (code = auto), doc/core.md §3.
 *
 * Pure: no I/O, no mutable globals, GLib only, no regular expressions.  The
 * subject and the body text are cut into lines and each line into tokens in
 * one linear pass over the UTF-8 (words, digit runs, CJK/Hangul/Thai runs,
 * spaces, punctuation, URLs).  Words are folded once (lower case, accents
 * removed, ß -> ss, Arabic letter forms unified) and looked up in the word
 * table of lexicon.c, which says what a word is: an OTP keyword, a generic
 * "code" word, a weak sign-in/security word, a negating modifier (zip, promo,
 * Gutschein...), a decoy label (order, invoice, phone...), a currency, a
 * copula, a meeting or booking/gift word.  CJK, Hangul and Thai runs are
 * matched by substring against the phrase table.  Candidates (4-8 digit
 * runs, grouped digits, spaced single digits on a line of their own,
 * uppercase alphanumeric codes, label-prefixed digits, lower/mixed-case
 * alphanumeric words right after an OTP keyword) are checked for decoy
 * shapes and labels, gated by keyword proximity, scored, merged by value;
 * a meeting invitation keeps none, a booking/ticket/gift/promo mail only
 * those an OTP word vouched for; a tie between two different values is
 * "nothing".  Only when no candidate counted at all is a magic sign-in link
 * looked for (never in a meeting invitation).
 *
 * The work is in three files beside this one, which keeps the flow
 * (detect_code(): subject, then text line by line, then the verdict):
 * token.c cuts lines into tokens and resolves them against the lexicon,
 * score.c finds and scores the candidates of a line, links.c ranks magic
 * links; detect-ctx.h holds what they share (limits, token types, the
 * per-call working memory).  Scoring rules are written in score.c's
 * header, the magic-link rules in links.c's.
 *
 * Only the lines that can matter are tokenized: a cheap first pass finds
 * the non-blank lines and which hold a digit; a line is read when it or one
 * of the three after it holds a digit.  When no code is found, every line is
 * read once more for URLs and the words that introduce them.
 *
 * The kind of mail (XXX: judged from words, so a sign-in mail that says
 * "meeting" or "invitation" near its code gives nothing, and a booking mail
 * whose code line says "verification" still gives its code): meeting words
 * anywhere read drop every candidate; booking, ticket, gift and promo words
 * leave only candidates an OTP word (strength 3) vouched for.
 *
 * Hostile input: the whole subject and body text of any mail, possibly
 * invalid UTF-8 (an invalid byte is one punctuation token), and the href and
 * anchor text of every HTML link; detect_normalize() reads a filter's capture
 * (any UTF-8, blanks removed) and keeps at most DETECT_VALUE_MAX - 1 digits.
 *
 * Limits: DETECT_TEXT_MAX bytes of text are read (XXX: a code further down
 * a giant mail is missed; OTP mails put it near the top); a line is looked
 * at DETECT_LINE_TOKENS tokens at a time; folded words keep DETECT_FOLD_MAX
 * bytes; at most DETECT_CANDS_MAX distinct candidates, DETECT_LINKS_MAX HTML
 * links and DETECT_TLINKS_MAX text URLs are kept; URLs longer than
 * DETECT_URL_MAX are ignored; the subject is read up to 4 KiB, anchor texts
 * up to 1 KiB.  Work is linear in the text read.  Not handled: fullwidth
 * digits, languages the lexicon does not have.
 */
#include "autoconfig.h"

#include <string.h>

#include "detect.h"
#include "detect-ctx.h"
#include "links.h"
#include "message.h"
#include "score.h"
#include "token.h"

/* ---- the detector -------------------------------------------------------- */

/* A non-blank line of the text. */
struct lref {
	guint32 off, len;
	gboolean digit;   /* holds an ASCII digit: may hold a candidate */
};

/* Cuts text[0, len) into its non-blank lines (one cheap pass). */
static GArray *
detect_lines(const char *text, gsize len)
{
	GArray *lines = g_array_sized_new(FALSE, FALSE, sizeof(struct lref), 128);
	struct lref l = { 0, 0, FALSE };
	gboolean nonblank = FALSE;
	gsize i;

	for (i = 0; i <= len; i++) {
		guchar b = i < len ? (guchar)text[i] : '\n';

		if (b == '\n') {
			if (nonblank) {
				l.len = i - l.off;
				g_array_append_val(lines, l);
			}
			l.off = i + 1;
			l.digit = nonblank = FALSE;
		} else if (b >= '0' && b <= '9') {
			l.digit = nonblank = TRUE;
		} else if (b != ' ' && b != '\t' && b != '\r') {
			nonblank = TRUE;
		}
	}
	return lines;
}

/*
 * Reads the body text line by line: keywords, candidates, URLs.  Unless
 * full, only lines that can matter to a candidate are tokenized: lines with
 * a digit, the three before them, and the one after an own-line candidate.
 */
static void
detect_text(struct detect_ctx *c, const char *text, GArray *lines, int subj_kw,
    struct tok *toks, gboolean full)
{
	int since_kw = 100, last_kw = 0;
	gboolean prev_colon = FALSE;
	guint32 prev_flags = 0;
	guint li_i;

	for (li_i = 0; li_i < lines->len; li_i++) {
		const struct lref *lr = &g_array_index(lines, struct lref, li_i);
		const char *p = text + lr->off, *end = p + lr->len;
		gboolean need = full || c->npending > 0, cont = FALSE;
		guint j;

		for (j = li_i; !need && j < lines->len && j <= li_i + 3; j++)
			need = g_array_index(lines, struct lref, j).digit;
		if (!need) {
			since_kw++;
			prev_colon = FALSE;
			prev_flags = 0;
			continue;
		}
		while (p < end) {
			const char *next, *lstart = p;
			struct lineinfo li;
			struct where w;
			int n, i;

			n = token_split(p, end, toks, DETECT_LINE_TOKENS, &next);
			token_line_resolve(c, toks, n, &li);
			p = next > lstart ? next : end;
			if (li.blank)
				break;
			c->mail_flags |= li.flags;
			if (c->npending > 0) {
				if (li.kw > 0) {
					for (i = 0; i < c->npending; i++)
						score_cand_add(c, c->cands, &c->ncands, DETECT_CANDS_MAX,
						    c->pending[i].value,
						    c->pending[i].score + 5 * li.kw, li.kw);
				}
				c->npending = 0;
			}
			since_kw++;
			memset(&w, 0, sizeof w);
			w.early = lstart - text < DETECT_EARLY_BYTES;
			w.cont = cont;
			w.colon = prev_colon && since_kw == 1;
			if (li.kw > 0) {
				w.prox = 40 + 5 * li.kw;
				w.weak = li.kw == 1;
				w.kw = li.kw;
			} else if (since_kw <= 3) {
				w.prox = 30 - 5 * (since_kw - 1) + 5 * last_kw;
				w.weak = last_kw == 1;
				w.kw = last_kw;
			} else if (subj_kw > 0) {
				w.own_prox = 20 + 5 * subj_kw;
				w.kw = subj_kw;
			} else {
				w.pending_prox = 20;   /* + 5 * strength of the next line */
			}
			score_line(c, toks, n, &w);
			for (i = 0; i < n; i++) {
				guint32 ctx = 0;
				int k;

				if (toks[i].kind != TK_URL || c->ntlinks >= DETECT_TLINKS_MAX)
					continue;
				for (k = 0; k < i; k++)
					if (toks[k].kind == TK_WORD || toks[k].kind == TK_CJK)
						ctx |= toks[k].flags;
				if (ctx == 0 && !cont)
					ctx = prev_flags;
				c->tlinks[c->ntlinks].url = toks[i].s;
				c->tlinks[c->ntlinks].len = toks[i].len;
				c->tlinks[c->ntlinks].ctx = ctx;
				c->ntlinks++;
			}
			if (li.kw > 0) {
				since_kw = 0;
				last_kw = li.kw;
			}
			prev_colon = li.colon_kw;
			prev_flags = li.flags;
			cont = TRUE;   /* the rest of a very long line */
		}
	}
}

void
detect_code(const char *subject, const char *text, const GPtrArray *links,
    struct detection *out)
{
	struct detect_ctx *c = g_new0(struct detect_ctx, 1);
	struct tok *toks = g_new(struct tok, DETECT_LINE_TOKENS);
	GArray *lines = NULL;
	int subj_kw = 0, i, best = -1, ties = 0;

	out->kind = DETECT_NONE;
	out->value = NULL;
	token_kw_index(c);

	if (subject != NULL) {
		const char *p = subject, *end = subject + strnlen(subject, 4096);
		int chunks = 0;

		/* first the keywords of the whole subject, then its candidates */
		while (p < end && chunks++ < 4) {
			const char *next;
			struct lineinfo li;
			int n = token_split(p, end, toks, DETECT_LINE_TOKENS, &next);

			token_line_resolve(c, toks, n, &li);
			subj_kw = MAX(subj_kw, li.kw);
			c->mail_flags |= li.flags;
			p = next > p ? next : end;
		}
		p = subject;
		chunks = 0;
		while (subj_kw > 0 && p < end && chunks++ < 4) {
			const char *next;
			struct lineinfo li;
			struct where w;
			int n = token_split(p, end, toks, DETECT_LINE_TOKENS, &next);

			token_line_resolve(c, toks, n, &li);
			memset(&w, 0, sizeof w);
			w.prox = 40 + 5 * subj_kw;
			w.weak = subj_kw == 1;
			w.kw = subj_kw;
			w.early = TRUE;
			w.cont = TRUE;   /* "own line" means nothing in a subject */
			score_line(c, toks, n, &w);
			p = next > p ? next : end;
		}
	}
	if (text != NULL) {
		gsize tlen = strnlen(text, DETECT_TEXT_MAX);

		lines = detect_lines(text, tlen);
		detect_text(c, text, lines, subj_kw, toks, FALSE);
	}

	/*
	 * The kind of mail: a meeting invitation has no sign-in code (its
	 * passcode and ID are the meeting's); in a booking, order, ticket or
	 * gift mail only an unambiguous OTP word vouches for a code, never a
	 * bare "code", "PIN" or "confirmation".
	 */
	for (i = 0; i < c->ncands; i++) {
		if ((c->mail_flags & K_MEET) ||
		    ((c->mail_flags & K_TXN) && c->cands[i].kw < 3))
			c->cands[i].score = 0;
	}
	for (i = 0; i < c->ncands; i++) {
		if (c->cands[i].score <= 0)
			continue;
		if (best < 0 || c->cands[i].score > c->cands[best].score) {
			best = i;
			ties = 0;
		} else if (c->cands[i].score == c->cands[best].score) {
			ties++;
		}
	}
	if (best >= 0) {
		if (ties == 0) {
			out->kind = DETECT_CODE;
			out->value = g_strdup(c->cands[best].value);
		}
	} else {
		char *url;

		/* no code: read every line for URLs and the words around them */
		if (lines != NULL) {
			c->ntlinks = 0;
			c->npending = 0;
			detect_text(c, text, lines, subj_kw, toks, TRUE);
		}
		url = (c->mail_flags & K_MEET) ? NULL : links_pick(c, links, toks);

		if (url != NULL) {
			out->kind = DETECT_LINK;
			out->value = url;
		}
	}
	if (lines != NULL)
		g_array_unref(lines);
	g_free(toks);
	g_free(c);
}

gsize
detect_fold_word(const char *word, char *out, gsize size)
{
	struct tok t;
	const char *next;
	gsize n = 0;

	if (size == 0)
		return 0;
	if (token_split(word, word + strlen(word), &t, 1, &next) == 1 &&
	    t.kind == TK_WORD && !(t.shape & SH_LONG)) {
		n = MIN((gsize)t.flen, size - 1);
		memcpy(out, t.fold, n);
	}
	out[n] = '\0';
	return n;
}

char *
detect_normalize(const char *code)
{
	const char *p = code;
	char digits[DETECT_VALUE_MAX];
	gsize nd = 0, letters = 0, groups = 0, glen = 0;
	char sep = 0;

	/* G-123456, FB-12345: a 1-3 letter label, a hyphen, 4-8 digits */
	while (g_ascii_isupper(*p))
		p++, letters++;
	if (letters > 0) {
		if (letters > 3 || *p != '-')
			return g_strdup(code);
		p++;
	}
	for (; *p != '\0'; p++) {
		if (g_ascii_isdigit(*p)) {
			if (nd + 1 >= sizeof digits)
				return g_strdup(code);
			digits[nd++] = *p;
			glen++;
			continue;
		}
		/* 123-456, 12.34.56: one kind of separator between groups */
		if (letters > 0 || (*p != '-' && *p != '.') || glen == 0 ||
		    (sep != 0 && *p != sep))
			return g_strdup(code);
		sep = *p;
		groups++;
		glen = 0;
	}
	digits[nd] = '\0';
	if (glen == 0 || nd < 4 || nd > 8 || (sep == '.' && groups != 2))
		return g_strdup(code);
	if (letters == 0 && sep == 0)
		return g_strdup(code);
	return g_strdup(digits);
}

void
detection_clear(struct detection *d)
{
	if (d == NULL)
		return;
	g_clear_pointer(&d->value, g_free);
	d->kind = DETECT_NONE;
}
