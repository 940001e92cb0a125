/*
 * links.c - the built-in detector's magic sign-in links (detect.c has
 * the flow): asked only when no code counted, it ranks the HTML links of
 * the mail and the URLs of its text.
 *
 * Magic links (only when no candidate counted; a tie of codes is nothing):
 * an http(s) URL with a token-like run (16+ characters with digits or mixed
 * case, or 12+ mixing letters and digits: a bare login page is no magic
 * link), not pointing at unsubscribe, privacy, help, reset or a pixel;
 * standing 2 when its anchor text (or the words before it in the text) says
 * sign in/verify/confirm, +1 when its path says login/auth/magic/verify/
 * token/otp.  An HTML link counts only through its anchor text; the path
 * alone counts only for a URL in plain text, and only when the mail speaks
 * of signing in somewhere.  Best standing wins; a tie is nothing.
 *
 * Hostile input: the href and anchor text of every HTML link and every
 * URL of the text.  Limits: DETECT_LINKS_MAX HTML links and
 * DETECT_TLINKS_MAX text URLs are looked at, URLs longer than
 * DETECT_URL_MAX are ignored, anchor texts are read up to 1 KiB.
 *
 * SECURITY: pure -- no I/O, no globals; the link chosen is a copy.
 */
#include "autoconfig.h"

#include <string.h>

#include "links.h"
#include "message.h"
#include "token.h"

/* ---- magic links --------------------------------------------------------- */

/* Whether a lower-cased URL component names a sign-in step. */
static gboolean
links_url_word_good(const char *w, gsize l)
{
	static const char *const exact[] = {
		"auth", "oauth", "authenticate", "authentication", "authorize",
		"authorise", "otp", "signin", "login", "token",
	};
	static const char *const prefix[] = {
		"verif", "magic", "login", "signin", "token",
	};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(exact); i++)
		if (strlen(exact[i]) == l && memcmp(exact[i], w, l) == 0)
			return TRUE;
	for (i = 0; i < G_N_ELEMENTS(prefix); i++)
		if (l >= strlen(prefix[i]) && memcmp(prefix[i], w, strlen(prefix[i])) == 0)
			return TRUE;
	return FALSE;
}

/* Whether a lower-cased URL component names a link that is never a sign-in. */
static gboolean
links_url_word_bad(const char *w, gsize l)
{
	static const char *const bad[] = {
		"unsubscribe", "unsub", "optout", "privacy", "help", "support",
		"faq", "reset", "password", "pixel", "beacon", "preferences",
		"logout", "signout", "gif", "png", "jpg", "jpeg",
	};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(bad); i++)
		if (strlen(bad[i]) == l && memcmp(bad[i], w, l) == 0)
			return TRUE;
	return FALSE;
}

/*
 * Reads the path and query of an http(s) URL: *good if a component names a
 * sign-in step, *bad if one names unsubscribe/privacy/help/reset/a pixel,
 * *secret if it carries a token-like run of 16+ characters.  FALSE if the
 * URL is not http(s) or too long.
 */
static gboolean
links_url_read(const char *u, gsize len, gboolean *good, gboolean *bad, gboolean *secret)
{
	gsize i, start, run = 0, rdig = 0, rup = 0, rlow = 0;
	char w[33];
	gsize wl = 0;
	gboolean prev_sign = FALSE, prev_opt = FALSE;

	*good = *bad = *secret = FALSE;
	if (len > DETECT_URL_MAX)
		return FALSE;
	if (len > 8 && g_ascii_strncasecmp(u, "https://", 8) == 0)
		start = 8;
	else if (len > 7 && g_ascii_strncasecmp(u, "http://", 7) == 0)
		start = 7;
	else
		return FALSE;
	for (i = start; i < len && u[i] != '/' && u[i] != '?' && u[i] != '#'; i++)
		if ((guchar)u[i] <= 0x20)
			return FALSE;
	if (i == start)
		return FALSE;
	for (; i <= len; i++) {
		char ch = i < len ? u[i] : '/';

		if (g_ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '%') {
			run++;
			rdig += g_ascii_isdigit(ch) ? 1 : 0;
			rup += g_ascii_isupper(ch) ? 1 : 0;
			rlow += g_ascii_islower(ch) ? 1 : 0;
		} else {
			run = rdig = rup = rlow = 0;
		}
		/* a token, not a slug: digits in it, or mixed case; a shorter
		 * one must mix letters and digits (a timestamp is no secret) */
		if ((run >= 16 && (rdig >= 3 || (rup > 0 && rlow > 0))) ||
		    (run >= 12 && rdig >= 3 && rup + rlow >= 3))
			*secret = TRUE;
		if (g_ascii_isalnum(ch)) {
			if (wl < sizeof w - 1)
				w[wl++] = g_ascii_tolower(ch);
			continue;
		}
		if (wl == 0)
			continue;
		if (links_url_word_good(w, wl) || (prev_sign && wl == 2 && memcmp(w, "in", 2) == 0))
			*good = TRUE;
		if (links_url_word_bad(w, wl) || (prev_opt && wl == 3 && memcmp(w, "out", 3) == 0))
			*bad = TRUE;
		prev_sign = wl == 4 && memcmp(w, "sign", 4) == 0;
		prev_opt = wl == 3 && memcmp(w, "opt", 3) == 0;
		wl = 0;
	}
	return TRUE;
}

/* K_* of a short text (anchor text), tokenized as one line. */
static guint32
links_text_flags(const struct detect_ctx *c, const char *s, struct tok *toks)
{
	const char *end, *next;
	struct lineinfo li;
	guint32 flags = 0;
	int n, chunks = 0;

	if (s == NULL)
		return 0;
	end = s + strnlen(s, 1024);
	while (s < end && chunks++ < 8) {
		n = token_split(s, end, toks, DETECT_LINE_TOKENS, &next);
		token_line_resolve(c, toks, n, &li);
		flags |= li.flags;
		if (next <= s)
			break;
		s = next;
	}
	return flags;
}

struct linkc {
	const char *url;
	gsize len;
	int standing;
};

/*
 * Standing of one link (0: not a sign-in link).  anchored: an HTML link,
 * whose anchor text must itself say sign in/verify/confirm ("Check
 * activity" under a new-sign-in alert is no magic link); a URL in plain
 * text has no anchor, so its path may stand in for one.
 */
static int
links_standing(const struct detect_ctx *c, const char *url, gsize len, guint32 ctx,
    gboolean anchored)
{
	gboolean good, bad, secret;
	int st = 0;

	if (!links_url_read(url, len, &good, &bad, &secret) || bad || !secret)
		return 0;
	if (ctx & K_LINKNEG)
		return 0;
	if (ctx & K_LINK)
		st += 2;
	else if (anchored)
		return 0;
	if (good && (st > 0 || (c->mail_flags & (K_LINK | K_OTP | K_WEAK))))
		st += 1;
	return st;
}

/* Files a link candidate, merging the same URL. */
static void
links_add(struct linkc *l, int *nl, const char *url, gsize len, int st)
{
	int i;

	for (i = 0; i < *nl; i++) {
		if (l[i].len == len && memcmp(l[i].url, url, len) == 0) {
			l[i].standing = MAX(l[i].standing, st);
			return;
		}
	}
	if (*nl >= DETECT_LINKS_MAX + DETECT_TLINKS_MAX)
		return;
	l[*nl].url = url;
	l[*nl].len = len;
	l[*nl].standing = st;
	(*nl)++;
}

/* The one best magic link, or NULL (none, or two of equal standing). */
char *
links_pick(struct detect_ctx *c, const GPtrArray *links, struct tok *toks)
{
	struct linkc *l = g_new(struct linkc, DETECT_LINKS_MAX + DETECT_TLINKS_MAX);
	int nl = 0, i, best = -1, ties = 0;
	char *ret = NULL;

	for (i = 0; links != NULL && i < (int)links->len && i < DETECT_LINKS_MAX; i++) {
		const struct link *lk = g_ptr_array_index(links, i);
		int st;

		if (lk == NULL || lk->url == NULL)
			continue;
		st = links_standing(c, lk->url, strnlen(lk->url, DETECT_URL_MAX + 1),
		    links_text_flags(c, lk->text, toks), TRUE);
		if (st > 0)
			links_add(l, &nl, lk->url, strlen(lk->url), st);
	}
	for (i = 0; i < c->ntlinks; i++) {
		int st = links_standing(c, c->tlinks[i].url, c->tlinks[i].len,
		    c->tlinks[i].ctx, FALSE);

		if (st > 0)
			links_add(l, &nl, c->tlinks[i].url, c->tlinks[i].len, st);
	}
	for (i = 0; i < nl; i++) {
		if (best < 0 || l[i].standing > l[best].standing) {
			best = i;
			ties = 0;
		} else if (l[i].standing == l[best].standing) {
			ties++;
		}
	}
	if (best >= 0 && ties == 0)
		ret = g_strndup(l[best].url, l[best].len);
	g_free(l);
	return ret;
}
