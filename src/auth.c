/*
 * auth.c - sender authentication from Authentication-Results (RFC 8601).
 *
 * Hostile input: the header values come from mail; anyone can forge an
 * Authentication-Results header, so only those whose authserv-id the
 * operator trusts are read, only where the source lets them count (for
 * mail an MTA hands over, above the topmost Received:, which that MTA
 * added: a header below it was in the mail on arrival; see
 * doc/security.md), and of those only the topmost (added last).
 * The authserv-id must be a bare token at the start: a quoted or
 * commented id, which an MTA's "remove forged copies of my own id" rule
 * may not recognise, is no one's.  A trusted header whose quotes or
 * comments do not balance fails instead of being read past.  Quoted
 * strings and comments are honoured before the value is split, so a
 * quoted local part cannot smuggle in a result.  DKIM alignment uses
 * header.d; a header.i outside its header.d fails the result.
 * Limits: at most AUTH_MAX_RESINFO results of AUTH_MAX_PAIRS pairs each
 * per header.
 */
#include "autoconfig.h"

#include <string.h>

#include "auth.h"

#define AUTH_MAX_RESINFO 64
#define AUTH_MAX_PAIRS 64

const char *const auth_req_names[] = { "none", "dkim", "spf", "dmarc", NULL };

/* One "key=value" of a result; value NULL for a bare word ("none"). */
struct auth_pair {
	char *key;
	char *value;
};

static void
auth_pair_free(gpointer p)
{
	struct auth_pair *pair = p;

	g_free(pair->key);
	g_free(pair->value);
	g_free(pair);
}

/* Skips blanks and RFC 5322 comments (nested, with quoted-pairs). */
static void
auth_skip_cfws(const char **pp)
{
	const char *p = *pp;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '(')
			break;
		for (int depth = 0; *p != '\0'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				depth++;
			else if (*p == ')' && --depth == 0) {
				p++;
				break;
			}
		}
	}
	*pp = p;
}

/* Reads a key: up to a blank, '=', ';', '(' or '"'. */
static char *
auth_read_key(const char **pp)
{
	const char *p = *pp;

	while (*p != '\0' && !strchr(" \t\r\n=;(\"", *p))
		p++;
	{
		char *k = g_strndup(*pp, (gsize)(p - *pp));
		*pp = p;
		return k;
	}
}

/* Reads a value: atoms and quoted strings (unquoted here, after the
 * structure is known) up to a blank, ';' or '(' outside quotes. */
static char *
auth_read_value(const char **pp)
{
	GString *v = g_string_new(NULL);
	const char *p = *pp;

	while (*p != '\0' && !strchr(" \t\r\n;(", *p)) {
		if (*p != '"') {
			g_string_append_c(v, *p++);
			continue;
		}
		for (p++; *p != '\0' && *p != '"'; p++) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			g_string_append_c(v, *p);
		}
		if (*p == '"')
			p++;
	}
	*pp = p;
	return g_string_free(v, FALSE);
}

/*
 * Reads the authserv-id: a bare token after blanks, followed by a blank,
 * ';' or the end.  NULL for a quoted or commented id, or none.
 */
static char *
auth_read_id(const char **pp)
{
	const char *p = *pp, *start;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	start = p;
	while (*p != '\0' && !strchr(" \t\r\n;()\"\\", *p))
		p++;
	if (p == start || (*p != '\0' && !strchr(" \t\r\n;", *p)))
		return NULL;
	*pp = p;
	return g_strndup(start, (gsize)(p - start));
}

/*
 * TRUE when every quoted string and comment of v is closed (RFC 5322
 * quoted-pairs honoured, quotes inside comments literal) and no ')'
 * closes what was never opened.
 */
static gboolean
auth_balanced(const char *v)
{
	gboolean quoted = FALSE;
	guint depth = 0;

	for (const char *p = v; *p != '\0'; p++) {
		if (*p == '\\') {
			if (p[1] == '\0')
				return FALSE;
			p++;
		} else if (quoted) {
			if (*p == '"')
				quoted = FALSE;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			if (depth == 0)
				return FALSE;
			depth--;
		} else if (*p == '"' && depth == 0) {
			quoted = TRUE;
		}
	}
	return !quoted && depth == 0;
}

/*
 * Parses one header value into its authserv-id and results, each result a
 * GPtrArray of struct auth_pair (the first pair is method=result).
 * Quoted strings and comments are honoured before anything is split, so a
 * quoted local part cannot smuggle in a result of its own.
 */
static char *
auth_parse(const char *v, GPtrArray *results)
{
	const char *p = v;
	char *id;

	if ((id = auth_read_id(&p)) == NULL)
		return NULL;
	auth_skip_cfws(&p);
	if (*p != ';' && *p != '\0') {       /* authserv-id [version] */
		g_free(auth_read_value(&p));
		auth_skip_cfws(&p);
	}
	while (*p == ';' && results->len < AUTH_MAX_RESINFO) {
		GPtrArray *pairs = g_ptr_array_new_with_free_func(auth_pair_free);

		p++;
		auth_skip_cfws(&p);
		while (*p != '\0' && *p != ';' && pairs->len < AUTH_MAX_PAIRS) {
			struct auth_pair *pair = g_new0(struct auth_pair, 1);
			const char *before = p;

			pair->key = auth_read_key(&p);
			auth_skip_cfws(&p);
			if (*p == '=') {
				p++;
				auth_skip_cfws(&p);
				pair->value = auth_read_value(&p);
				auth_skip_cfws(&p);
			}
			g_ptr_array_add(pairs, pair);
			if (p == before) {          /* a stray '"' or '=': skip it */
				p++;
				auth_skip_cfws(&p);
			}
		}
		if (pairs->len > 0)
			g_ptr_array_add(results, pairs);
		else
			g_ptr_array_unref(pairs);
		/* Too many pairs: skip to the next result. */
		while (*p != '\0' && *p != ';')
			p++;
	}
	return id;
}

gboolean
auth_aligned(const char *d, const char *from_domain)
{
	gsize dl, fl;

	if (d == NULL || from_domain == NULL || *d == '\0' || *from_domain == '\0')
		return FALSE;
	if (g_ascii_strcasecmp(d, from_domain) == 0)
		return TRUE;
	dl = strlen(d);
	fl = strlen(from_domain);
	/* From is a subdomain of the signing domain: accounts.google.com / google.com.
	 * The signer must have a dot of its own, so "com" never aligns. */
	if (fl > dl && from_domain[fl - dl - 1] == '.' &&
	    g_ascii_strcasecmp(from_domain + fl - dl, d) == 0 && strchr(d, '.') != NULL)
		return TRUE;
	/* The signing domain is a subdomain of From: mail.github.com / github.com. */
	if (dl > fl && d[dl - fl - 1] == '.' &&
	    g_ascii_strcasecmp(d + dl - fl, from_domain) == 0)
		return TRUE;
	return FALSE;
}

/* The domain of a property value: after the last '@', else the value. */
static const char *
auth_domain_of(const char *v)
{
	const char *at = strrchr(v, '@');

	return at != NULL ? at + 1 : v;
}

/* TRUE when domain i is d or a subdomain of it (RFC 6376 3.5, "i="). */
static gboolean
auth_within(const char *i, const char *d)
{
	gsize il = strlen(i), dl = strlen(d);

	return g_ascii_strcasecmp(i, d) == 0 || (il > dl && i[il - dl - 1] == '.' &&
	    g_ascii_strcasecmp(i + il - dl, d) == 0);
}

/*
 * The alignment of a dkim=pass result: header.d decides (every header.d
 * of the result aligned with From); a header.i that is not within every
 * header.d contradicts the signature and fails it.  Without a header.d
 * (Gmail writes only header.i), header.i decides.
 */
static gboolean
auth_dkim_aligned(const GPtrArray *pairs, const char *from_domain)
{
	gboolean have_d = FALSE, have_i = FALSE, d_ok = TRUE, i_ok = TRUE;

	for (guint n = 1; n < pairs->len; n++) {
		const struct auth_pair *pr = g_ptr_array_index(pairs, n);

		if (pr->value == NULL || g_ascii_strcasecmp(pr->key, "header.d") != 0)
			continue;
		have_d = TRUE;
		if (!auth_aligned(pr->value, from_domain))
			d_ok = FALSE;
	}
	for (guint n = 1; n < pairs->len; n++) {
		const struct auth_pair *pr = g_ptr_array_index(pairs, n);
		const char *dom;

		if (pr->value == NULL || g_ascii_strcasecmp(pr->key, "header.i") != 0)
			continue;
		have_i = TRUE;
		dom = auth_domain_of(pr->value);
		if (!have_d && !auth_aligned(dom, from_domain))
			i_ok = FALSE;
		for (guint m = 1; have_d && m < pairs->len; m++) {
			const struct auth_pair *d = g_ptr_array_index(pairs, m);

			if (d->value != NULL && g_ascii_strcasecmp(d->key, "header.d") == 0 &&
			    !auth_within(dom, d->value))
				i_ok = FALSE;
		}
	}
	return (have_d || have_i) && d_ok && i_ok;
}

/* Does one result (its pairs) satisfy req for from_domain? */
static gboolean
auth_result_ok(const GPtrArray *pairs, const char *from_domain, enum auth_req req)
{
	const struct auth_pair *first = g_ptr_array_index(pairs, 0);
	const char *want = req == AUTH_DKIM ? "dkim" : req == AUTH_SPF ? "spf" : "dmarc";
	gboolean aligned = FALSE, have_domain = FALSE;
	gsize mlen = strcspn(first->key, "/");      /* method/version */

	if (first->value == NULL || mlen != strlen(want) ||
	    g_ascii_strncasecmp(first->key, want, mlen) != 0 ||
	    g_ascii_strcasecmp(first->value, "pass") != 0)
		return FALSE;
	if (req == AUTH_DKIM)
		return auth_dkim_aligned(pairs, from_domain);
	for (guint i = 1; i < pairs->len; i++) {
		const struct auth_pair *pr = g_ptr_array_index(pairs, i);

		if (pr->value == NULL)
			continue;
		if ((req == AUTH_SPF && g_ascii_strcasecmp(pr->key, "smtp.mailfrom") == 0) ||
		    (req == AUTH_DMARC && g_ascii_strcasecmp(pr->key, "header.from") == 0)) {
			have_domain = TRUE;
			if (auth_aligned(auth_domain_of(pr->value), from_domain))
				aligned = TRUE;
		}
	}
	/* DMARC's own pass is alignment; a header.from that names another
	 * domain than ours still disqualifies it. */
	if (req == AUTH_DMARC)
		return !have_domain || aligned;
	return aligned;
}

/* TRUE when id is one of the trusted authserv-ids (case-insensitive). */
static gboolean
auth_trusted(char *const *trusted, const char *id)
{
	for (gsize t = 0; trusted[t] != NULL; t++)
		if (g_ascii_strcasecmp(trusted[t], id) == 0)
			return TRUE;
	return FALSE;
}

guint
auth_usable(enum auth_where where, guint n_ar, gboolean has_received, guint n_above)
{
	if (where == AUTH_ANYWHERE)
		return n_ar;
	if (!has_received)
		return 0;
	return MIN(n_above, n_ar);
}

gboolean
auth_check(const GPtrArray *ar, guint usable, char *const *trusted,
    const char *from_domain, enum auth_req req, const char **why)
{
	if (req == AUTH_NONE)
		return TRUE;
	if (from_domain == NULL) {
		*why = "the message has no From domain";
		return FALSE;
	}
	if (trusted == NULL || trusted[0] == NULL) {
		*why = "no trusted_authserv_id is configured";
		return FALSE;
	}
	for (guint i = 0; ar != NULL && i < ar->len; i++) {
		g_autoptr(GPtrArray) results =
		    g_ptr_array_new_with_free_func((GDestroyNotify)g_ptr_array_unref);
		g_autofree char *id = auth_parse(g_ptr_array_index(ar, i), results);

		if (id == NULL || !auth_trusted(trusted, id))
			continue;
		/* No usable trusted header above this one: it arrived with the
		 * mail (the sender may have written it). */
		if (i >= usable) {
			*why = "the trusted Authentication-Results does not stand above "
			    "the topmost Received: (it came with the mail)";
			return FALSE;
		}
		if (!auth_balanced(g_ptr_array_index(ar, i))) {
			*why = "the trusted Authentication-Results has an unbalanced "
			    "quote or comment";
			return FALSE;
		}
		/* The topmost trusted header decides, pass or not. */
		for (guint r = 0; r < results->len; r++)
			if (auth_result_ok(g_ptr_array_index(results, r), from_domain, req))
				return TRUE;
		*why = req == AUTH_DKIM ? "no dkim=pass aligned with the From domain" :
		    req == AUTH_SPF ? "no spf=pass aligned with the From domain" :
		    "no dmarc=pass";
		return FALSE;
	}
	*why = "no Authentication-Results from a trusted authserv-id";
	return FALSE;
}
