/*
 * auth.c - sender authentication from Authentication-Results (RFC 8601).
 *
 * Hostile input: the header values come from mail; anyone can forge an
 * Authentication-Results header, so only those whose authserv-id the
 * operator trusts are read, and of those only the topmost (added last, by
 * our own border MTA, which removes forged copies of its own id).
 * Quoted strings and comments are honoured before the value is split, so
 * a quoted local part cannot smuggle in a result.  Limits: at most
 * AUTH_MAX_RESINFO results of AUTH_MAX_PAIRS pairs each per header.
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

	auth_skip_cfws(&p);
	id = auth_read_value(&p);
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
	for (guint i = 1; i < pairs->len; i++) {
		const struct auth_pair *pr = g_ptr_array_index(pairs, i);

		if (pr->value == NULL)
			continue;
		if ((req == AUTH_DKIM && (g_ascii_strcasecmp(pr->key, "header.d") == 0 ||
		    g_ascii_strcasecmp(pr->key, "header.i") == 0)) ||
		    (req == AUTH_SPF && g_ascii_strcasecmp(pr->key, "smtp.mailfrom") == 0) ||
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

gboolean
auth_check(const GPtrArray *ar, char *const *trusted, const char *from_domain,
    enum auth_req req, const char **why)
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

		if (!auth_trusted(trusted, id))
			continue;
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
