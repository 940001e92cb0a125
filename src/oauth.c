/*
 * oauth.c - OAuth2 access tokens for IMAP XOAUTH2: the refresh-token grant
 * (RFC 6749 section 6) against Google's, Microsoft's or a configured token
 * endpoint.  This file is policy only: push_form_post() does the HTTP and
 * json_token_parse() reads the reply.  Blocking, for an IMAP account's
 * thread; no globals; it logs nothing (the caller logs the error).
 *
 * Hostile input: the token endpoint's reply, at most OAUTH_REPLY_MAX bytes
 * (nesting bounded by json.c).  Its text reaches an operator only through
 * the error string, and only as printable ASCII, cut to OAUTH_TEXT_MAX
 * bytes, and dropped when it shares OAUTH_ECHO_MIN bytes in a row with a
 * secret (a server may echo what it was sent).  The access token must be
 * visible ASCII: it goes into the SASL XOAUTH2 string, where ^A separates
 * the fields.  expires_in is clamped to [OAUTH_EXPIRES_MIN,
 * OAUTH_EXPIRES_MAX].
 *
 * Secrets: the refresh token, the client secret (read from its file for
 * each refresh and never kept) and the access token.  Every copy made
 * here is wiped before it is freed, and no error string holds one: the
 * last check before an error is returned replaces one that would.
 */
#include "autoconfig.h"

#include <string.h>

#include "json.h"
#include "oauth.h"
#include "push.h"
#include "util.h"

#define OAUTH_EXPIRES_MIN  30             /* s: a shorter lifetime reads as this */
#define OAUTH_EXPIRES_MAX  (86400 * 30)   /* s: a longer one reads as this */
#define OAUTH_TEXT_MAX     200            /* bytes of error_description shown */
#define OAUTH_CODE_MAX     64             /* bytes of error or token_type shown */
#define OAUTH_ECHO_MIN     12             /* bytes shared with a secret: withheld */
#define OAUTH_SENT         2              /* secrets[]: refresh token, client
                                           * secret; then the reply's tokens */
#define OAUTH_SECRETS      4

const char *
oauth_token_url(const struct imap_config *ic)
{
	if (ic->token_url != NULL && *ic->token_url != '\0')
		return ic->token_url;
	if (ic->oauth2_provider == NULL)
		return NULL;
	if (strcmp(ic->oauth2_provider, "google") == 0)
		return OAUTH_GOOGLE_TOKEN_URL;
	if (strcmp(ic->oauth2_provider, "microsoft") == 0)
		return OAUTH_MICROSOFT_TOKEN_URL;
	return NULL;
}

const char *
oauth_scope(const struct imap_config *ic)
{
	/* Also with a token_url of its own (a tenant's endpoint). */
	if (ic->oauth2_provider != NULL &&
	    strcmp(ic->oauth2_provider, "microsoft") == 0)
		return OAUTH_MICROSOFT_SCOPE;
	return NULL;
}

gboolean
oauth_token_fresh(const struct oauth_token *tok, gint64 now_us, guint margin_s)
{
	if (tok->access_token == NULL || *tok->access_token == '\0')
		return FALSE;
	return tok->expires_at - now_us >= (gint64)margin_s * G_USEC_PER_SEC;
}

void
oauth_token_clear(struct oauth_token *tok)
{
	util_secret_free(&tok->access_token);
	util_secret_free(&tok->refresh_token);
	tok->expires_at = 0;
}

/* TRUE when s is non-empty and every byte is visible ASCII (no blank). */
static gboolean
oauth_visible(const char *s)
{
	if (*s == '\0')
		return FALSE;
	for (; *s != '\0'; s++)
		if ((guchar)*s <= 0x20 || (guchar)*s >= 0x7f)
			return FALSE;
	return TRUE;
}

/* TRUE when text holds n bytes of s at some place. */
static gboolean
oauth_holds(const char *text, const char *s, gsize n)
{
	for (; *text != '\0'; text++)
		if (strncmp(text, s, n) == 0)
			return TRUE;
	return FALSE;
}

/*
 * TRUE when text shares OAUTH_ECHO_MIN bytes in a row with one of the
 * first n secrets (all of a shorter secret): a partial or cut echo
 * counts too.
 */
static gboolean
oauth_echoes(const char *text, const char *const *secrets, guint n)
{
	for (guint i = 0; i < n; i++) {
		const char *s = secrets[i];
		gsize len, w;

		if (s == NULL || *s == '\0')
			continue;
		len = strlen(s);
		w = MIN(len, OAUTH_ECHO_MIN);
		for (gsize k = 0; k + w <= len; k++)
			if (oauth_holds(text, s + k, w))
				return TRUE;
	}
	return FALSE;
}

/*
 * Server text as it may be shown: control bytes become one blank, other
 * non-ASCII bytes one '?' per run, cut to max bytes ("..." then).  NULL
 * when nothing is left, or when raw or the result echoes a secret.
 */
static char *
oauth_server_text(const char *raw, gsize max, const char *const *secrets)
{
	enum { OAUTH_K_TEXT, OAUTH_K_BLANK, OAUTH_K_HIGH } prev = OAUTH_K_BLANK;
	const guchar *p = (const guchar *)raw;
	GString *out;

	if (raw == NULL)
		return NULL;
	for (guint i = 0; i < OAUTH_SECRETS; i++)
		if (secrets[i] != NULL && *secrets[i] != '\0' &&
		    strstr(raw, secrets[i]) != NULL)
			return NULL;
	out = g_string_sized_new(max + 4);
	for (; *p != '\0' && out->len < max; p++) {
		if (*p >= 0x80) {
			if (prev != OAUTH_K_HIGH)
				g_string_append_c(out, '?');
			prev = OAUTH_K_HIGH;
		} else if (*p <= 0x20 || *p == 0x7f) {
			if (prev != OAUTH_K_BLANK)
				g_string_append_c(out, ' ');
			prev = OAUTH_K_BLANK;
		} else {
			g_string_append_c(out, (char)*p);
			prev = OAUTH_K_TEXT;
		}
	}
	g_strchomp(out->str);
	g_string_set_size(out, strlen(out->str));
	if (*p != '\0')
		g_string_append(out, "...");
	if (out->len == 0 || oauth_echoes(out->str, secrets, OAUTH_SECRETS)) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/* "token endpoint: HTTP <status>[ <error>[ (<description>)]]" */
static char *
oauth_status_error(int status, const struct json_token *jt,
    const char *const *secrets)
{
	g_autofree char *code = NULL;
	g_autofree char *desc = NULL;

	if (jt != NULL)
		code = oauth_server_text(jt->error, OAUTH_CODE_MAX, secrets);
	if (code == NULL)
		return g_strdup_printf("token endpoint: HTTP %d", status);
	desc = oauth_server_text(jt->error_description, OAUTH_TEXT_MAX, secrets);
	if (desc == NULL)
		return g_strdup_printf("token endpoint: HTTP %d %s", status, code);
	return g_strdup_printf("token endpoint: HTTP %d %s (%s)", status, code, desc);
}

/* Checks a parsed HTTP 200 reply: NULL when it holds a usable token,
 * else the error. */
static char *
oauth_check_reply(const struct json_token *jt, const char *const *secrets)
{
	if (jt->access_token == NULL || *jt->access_token == '\0') {
		if (jt->error != NULL)
			return oauth_status_error(200, jt, secrets);
		return g_strdup("token endpoint: HTTP 200 but no access_token in the reply");
	}
	if (!oauth_visible(jt->access_token))
		return g_strdup("token endpoint: the access_token is not printable ASCII");
	if (jt->token_type != NULL &&
	    g_ascii_strcasecmp(jt->token_type, "bearer") != 0) {
		g_autofree char *type = oauth_server_text(jt->token_type,
		    OAUTH_CODE_MAX, secrets);

		if (type == NULL)
			return g_strdup("token endpoint: the token_type is not Bearer");
		return g_strdup_printf("token endpoint: token_type '%s' is not Bearer",
		    type);
	}
	if (jt->refresh_token != NULL && *jt->refresh_token != '\0' &&
	    !oauth_visible(jt->refresh_token))
		return g_strdup("token endpoint: the refresh_token is not printable ASCII");
	return NULL;
}

/* The lifetime to count with: the default when absent, clamped. */
static gint64
oauth_expires(gint64 expires_in)
{
	if (expires_in < 0)
		return OAUTH_EXPIRES_DEFAULT;
	return CLAMP(expires_in, OAUTH_EXPIRES_MIN, OAUTH_EXPIRES_MAX);
}

/*
 * Sets *err to msg (taken), or to a stand-in if msg shows a secret we
 * sent.  (Server text was checked against the reply's tokens as well; a
 * short one would match here by chance.)
 */
static void
oauth_fail(char **err, char *msg, const char *const *secrets)
{
	if (oauth_echoes(msg, secrets, OAUTH_SENT)) {
		g_free(msg);
		msg = g_strdup("token endpoint: error withheld (it would show a secret)");
	}
	*err = msg;
}

int
oauth_refresh(const struct imap_config *ic, const char *refresh_token,
    guint timeout, struct oauth_token *tok, char **err)
{
	const char *secrets[OAUTH_SECRETS] = { NULL };
	const char *fields[13];
	const char *url, *scope;
	struct json_token jt;
	char *rt = NULL, *secret = NULL, *reply = NULL, *perr = NULL, *msg = NULL;
	gsize reply_len = 0;
	gint64 start;
	int status = 0, parsed, ret = -1;
	guint n = 0;

	g_return_val_if_fail(ic != NULL && tok != NULL && err != NULL, -1);
	memset(&jt, 0, sizeof(jt));
	url = oauth_token_url(ic);
	scope = oauth_scope(ic);
	if (url == NULL) {
		*err = g_strdup("token endpoint: neither token_url nor oauth2_provider is set");
		return -1;
	}
	if (ic->client_id == NULL || *ic->client_id == '\0') {
		*err = g_strdup("token endpoint: no client_id");
		return -1;
	}
	if (refresh_token == NULL || *refresh_token == '\0') {
		*err = g_strdup("token endpoint: no refresh token");
		return -1;
	}
	/* Our own copy: refresh_token may be tok->refresh_token. */
	rt = g_strdup(refresh_token);
	secrets[0] = rt;
	if (ic->client_secret_file != NULL) {
		GError *gerr = NULL;

		secret = util_read_secret_file(ic->client_secret_file, &gerr);
		if (secret == NULL) {
			msg = g_strdup(gerr->message);
			g_error_free(gerr);
			goto out;
		}
		secrets[1] = secret;
	}
	fields[n++] = "grant_type";
	fields[n++] = "refresh_token";
	fields[n++] = "refresh_token";
	fields[n++] = rt;
	fields[n++] = "client_id";
	fields[n++] = ic->client_id;
	if (secret != NULL) {
		fields[n++] = "client_secret";
		fields[n++] = secret;
	}
	if (scope != NULL) {
		fields[n++] = "scope";
		fields[n++] = scope;
	}
	fields[n] = NULL;

	start = g_get_monotonic_time();
	if (push_form_post(url, fields, timeout, OAUTH_REPLY_MAX, &status, &reply,
	    &reply_len, &perr) < 0) {
		msg = g_strdup_printf("token endpoint: %s", perr);
		goto out;
	}
	parsed = json_token_parse(reply, reply_len, &jt);
	secrets[2] = jt.access_token;
	secrets[3] = jt.refresh_token;
	if (status != 200) {
		msg = oauth_status_error(status, parsed == 0 ? &jt : NULL, secrets);
		goto out;
	}
	if (parsed < 0) {
		msg = g_strdup("token endpoint: HTTP 200 but the reply is not a JSON object");
		goto out;
	}
	if ((msg = oauth_check_reply(&jt, secrets)) != NULL)
		goto out;

	/* Counted from before the request: the server's clock started then. */
	util_secret_free(&tok->access_token);
	tok->access_token = g_steal_pointer(&jt.access_token);
	tok->expires_at = start + oauth_expires(jt.expires_in) * G_USEC_PER_SEC;
	if (jt.refresh_token != NULL && *jt.refresh_token != '\0') {
		util_secret_free(&tok->refresh_token);
		tok->refresh_token = g_steal_pointer(&jt.refresh_token);
	}
	ret = 0;
out:
	if (ret < 0)
		oauth_fail(err, msg, secrets);
	json_token_clear(&jt);
	if (reply != NULL) {
		explicit_bzero(reply, reply_len);
		g_free(reply);
	}
	g_free(perr);
	util_secret_free(&secret);
	util_secret_free(&rt);
	return ret;
}
