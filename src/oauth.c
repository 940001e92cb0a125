/*
 * oauth.c - OAuth2 access tokens for IMAP XOAUTH2: the refresh-token grant
 * (RFC 6749 section 6) against Google's, Microsoft's or a configured token
 * endpoint; for `otpbridge oauth` (onboard.c) also the code and device
 * grants, the device authorization request (RFC 8628), the endpoint
 * presets, and the atomic write of a refresh token (the IMAP thread's
 * rotated token goes through it too).  This file is policy only: httpc_form_post() does the HTTP and
 * json_token_parse() reads the reply.  Blocking, for an IMAP account's
 * thread; no globals; it logs nothing (the caller logs the error).
 *
 * The token cache (oauth_cache_*, moved here from imap.c): an IMAP
 * account's access token is reused while it has the margin the caller
 * asks for; a refresh token the provider rotates is written back to
 * refresh_token_file (atomically, mode 0600), and when that fails it is
 * kept in memory and a warning says the old one will be used after a
 * restart.  Those two events and the refresh (debug) are the only lines
 * this file logs (the one exception to "logs nothing" above), with the
 * account's name and never a token.
 *
 * Hostile input: the token endpoint's reply, and the device endpoint's,
 * at most OAUTH_REPLY_MAX bytes each (nesting bounded by json.c); a device
 * reply's lifetime and interval are clamped (OAUTH_DEVICE_MAX,
 * OAUTH_INTERVAL_MAX) and its user code, URL and message are shown only
 * as sanitised text, never one that holds the device code.  Its text reaches an operator only through
 * the error string, and only as printable ASCII, cut to OAUTH_TEXT_MAX
 * bytes, and dropped when it shares OAUTH_ECHO_MIN bytes in a row with a
 * secret (a server may echo what it was sent).  The access token must be
 * visible ASCII: it goes into the SASL XOAUTH2 string, where ^A separates
 * the fields.  expires_in is clamped to [OAUTH_EXPIRES_MIN,
 * OAUTH_EXPIRES_MAX].
 *
 * Secrets: the refresh token, the client secret (read from its file for
 * each request and never kept), the access token, and for onboarding the
 * authorization code, the PKCE verifier and the device code.  Every copy made
 * here is wiped before it is freed, and no error string holds one: the
 * last check before an error is returned replaces one that would.
 */
#include "autoconfig.h"

#include <string.h>

#include "json.h"
#include "oauth.h"
#include "httpc.h"
#include "util.h"

#define OAUTH_EXPIRES_MIN  30             /* s: a shorter lifetime reads as this */
#define OAUTH_EXPIRES_MAX  (86400 * 30)   /* s: a longer one reads as this */
#define OAUTH_TEXT_MAX     200            /* bytes of error_description shown */
#define OAUTH_CODE_MAX     64             /* bytes of error or token_type shown */
#define OAUTH_ECHO_MIN     12             /* bytes shared with a secret: withheld */
#define OAUTH_SENT         4              /* secrets[]: what we sent (refresh
                                           * token or code, verifier or device
                                           * code, client secret); then the
                                           * reply's tokens */
#define OAUTH_SECRETS      (OAUTH_SENT + 2)
#define OAUTH_ERRCODE_MAX  64             /* bytes of an error code returned */
#define OAUTH_FIELDS_MAX   8              /* grant: names and values at most */

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

const char *
oauth_auth_url(const struct imap_config *ic)
{
	if (ic->auth_url != NULL && *ic->auth_url != '\0')
		return ic->auth_url;
	if (ic->oauth2_provider != NULL &&
	    strcmp(ic->oauth2_provider, "google") == 0)
		return OAUTH_GOOGLE_AUTH_URL;
	return NULL;
}

char *
oauth_device_url(const struct imap_config *ic)
{
	const char *tail = "/oauth2/v2.0/token";

	if (ic->device_url != NULL && *ic->device_url != '\0')
		return g_strdup(ic->device_url);
	if (ic->oauth2_provider == NULL ||
	    strcmp(ic->oauth2_provider, "microsoft") != 0)
		return NULL;
	/* A tenant's token endpoint: the same tenant's device endpoint. */
	if (ic->token_url != NULL && g_str_has_suffix(ic->token_url, tail) &&
	    strchr(ic->token_url, '?') == NULL)
		return g_strdup_printf("%.*s/oauth2/v2.0/devicecode",
		    (int)(strlen(ic->token_url) - strlen(tail)), ic->token_url);
	return g_strdup(OAUTH_MICROSOFT_DEVICE_URL);
}

const char *
oauth_onboard_scope(const struct imap_config *ic)
{
	if (ic->oauth2_provider != NULL &&
	    strcmp(ic->oauth2_provider, "google") == 0)
		return OAUTH_GOOGLE_SCOPE;
	return oauth_scope(ic);
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

/* "<what>: HTTP <status>[ <error>[ (<description>)]]" */
static char *
oauth_status_error_at(const char *what, int status, const char *error,
    const char *error_description, const char *const *secrets)
{
	g_autofree char *code = NULL;
	g_autofree char *desc = NULL;

	code = oauth_server_text(error, OAUTH_CODE_MAX, secrets);
	if (code == NULL)
		return g_strdup_printf("%s: HTTP %d", what, status);
	desc = oauth_server_text(error_description, OAUTH_TEXT_MAX, secrets);
	if (desc == NULL)
		return g_strdup_printf("%s: HTTP %d %s", what, status, code);
	return g_strdup_printf("%s: HTTP %d %s (%s)", what, status, code, desc);
}

/* "token endpoint: HTTP <status>[ <error>[ (<description>)]]" */
static char *
oauth_status_error(int status, const struct json_token *jt,
    const char *const *secrets)
{
	return oauth_status_error_at("token endpoint", status,
	    jt != NULL ? jt->error : NULL, jt != NULL ? jt->error_description : NULL,
	    secrets);
}

/* The reply's error code as a caller may compare it: NULL unless it is
 * 1..OAUTH_ERRCODE_MAX bytes of [A-Za-z0-9_.-] (RFC 6749 5.2 codes). */
static char *
oauth_error_code(const char *error)
{
	gsize n = 0;

	if (error == NULL)
		return NULL;
	for (const char *p = error; *p != '\0'; p++, n++)
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '.' && *p != '-')
			return NULL;
	if (n == 0 || n > OAUTH_ERRCODE_MAX)
		return NULL;
	return g_strdup(error);
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

/* 0 when ic names a token endpoint and a client_id, else -1 and *err. */
static int
oauth_check_client(const struct imap_config *ic, char **err)
{
	if (oauth_token_url(ic) == NULL) {
		*err = g_strdup("token endpoint: neither token_url nor oauth2_provider is set");
		return -1;
	}
	if (ic->client_id == NULL || *ic->client_id == '\0') {
		*err = g_strdup("token endpoint: no client_id");
		return -1;
	}
	return 0;
}

/*
 * Appends client_id, and client_secret when the account has a
 * client_secret_file, to fields at *n.  *secret_r is the secret read
 * (the caller wipes it; NULL when none); -1 with *msg_r when the file
 * cannot be read.
 */
static int
oauth_client_fields(const struct imap_config *ic, const char **fields, guint *n,
    char **secret_r, char **msg_r)
{
	*secret_r = NULL;
	if (ic->client_secret_file != NULL) {
		GError *gerr = NULL;

		*secret_r = util_read_secret_file(ic->client_secret_file, &gerr);
		if (*secret_r == NULL) {
			*msg_r = g_strdup(gerr->message);
			g_error_free(gerr);
			return -1;
		}
	}
	fields[(*n)++] = "client_id";
	fields[(*n)++] = ic->client_id;
	if (*secret_r != NULL) {
		fields[(*n)++] = "client_secret";
		fields[(*n)++] = *secret_r;
	}
	return 0;
}

/*
 * One POST to the token endpoint: grant (name, value pairs, NULL), then
 * client_id and client_secret, then scope when not NULL; sent[] (up to OAUTH_SENT - 1 entries,
 * NULL-terminated) are the secret values among grant's.  The contract of
 * oauth_grant().
 */
static int
oauth_token_request(const struct imap_config *ic, const char *const *grant,
    const char *scope, const char *const *sent, guint timeout,
    struct oauth_token *tok, char **error_code, char **err)
{
	const char *secrets[OAUTH_SECRETS] = { NULL };
	const char *fields[OAUTH_FIELDS_MAX + 7];
	const char *url;
	struct json_token jt;
	char *secret = NULL, *reply = NULL, *perr = NULL, *msg = NULL;
	gsize reply_len = 0;
	gint64 start;
	int status = 0, parsed, ret = -1;
	guint n = 0, k = 0;

	memset(&jt, 0, sizeof(jt));
	if (error_code != NULL)
		*error_code = NULL;
	if (oauth_check_client(ic, err) < 0)
		return -1;
	url = oauth_token_url(ic);
	for (; grant[n] != NULL; n++) {
		if (n == OAUTH_FIELDS_MAX) {
			*err = g_strdup("token endpoint: too many form fields");
			return -1;
		}
		fields[n] = grant[n];
	}
	for (; sent != NULL && sent[k] != NULL && k < OAUTH_SENT - 1; k++)
		secrets[k] = sent[k];
	if (oauth_client_fields(ic, fields, &n, &secret, &msg) < 0)
		goto out;
	secrets[OAUTH_SENT - 1] = secret;
	if (scope != NULL) {
		fields[n++] = "scope";
		fields[n++] = scope;
	}
	fields[n] = NULL;

	start = g_get_monotonic_time();
	if (httpc_form_post(url, fields, timeout, OAUTH_REPLY_MAX, &status, &reply,
	    &reply_len, &perr) < 0) {
		msg = g_strdup_printf("token endpoint: %s", perr);
		goto out;
	}
	parsed = json_token_parse(reply, reply_len, &jt);
	secrets[OAUTH_SENT] = jt.access_token;
	secrets[OAUTH_SENT + 1] = jt.refresh_token;
	if (error_code != NULL && parsed == 0 &&
	    (status != 200 || jt.access_token == NULL || *jt.access_token == '\0'))
		*error_code = oauth_error_code(jt.error);
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
	return ret;
}

int
oauth_refresh(const struct imap_config *ic, const char *refresh_token,
    guint timeout, struct oauth_token *tok, char **err)
{
	const char *grant[5];
	const char *sent[2];
	char *rt;
	guint n = 0;
	int ret;

	g_return_val_if_fail(ic != NULL && tok != NULL && err != NULL, -1);
	if (oauth_check_client(ic, err) < 0)
		return -1;
	if (refresh_token == NULL || *refresh_token == '\0') {
		*err = g_strdup("token endpoint: no refresh token");
		return -1;
	}
	/* Our own copy: refresh_token may be tok->refresh_token. */
	rt = g_strdup(refresh_token);
	grant[n++] = "grant_type";
	grant[n++] = "refresh_token";
	grant[n++] = "refresh_token";
	grant[n++] = rt;
	grant[n] = NULL;
	sent[0] = rt;
	sent[1] = NULL;
	ret = oauth_token_request(ic, grant, oauth_scope(ic), sent, timeout, tok,
	    NULL, err);
	util_secret_free(&rt);
	return ret;
}

int
oauth_grant(const struct imap_config *ic, const char *const *grant,
    const char *const *sent, guint timeout, struct oauth_token *tok,
    char **error_code, char **err)
{
	g_return_val_if_fail(ic != NULL && grant != NULL && tok != NULL &&
	    err != NULL, -1);
	return oauth_token_request(ic, grant, NULL, sent, timeout, tok, error_code,
	    err);
}

char *
oauth_text(const char *raw, gsize max, const char *secret)
{
	const char *secrets[OAUTH_SECRETS] = { secret };

	return oauth_server_text(raw, max, secrets);
}

int
oauth_device_start(const struct imap_config *ic, guint timeout,
    struct oauth_device *dev, char **err)
{
	const char *secrets[OAUTH_SECRETS] = { NULL };
	const char *fields[7];
	const char *scope = oauth_onboard_scope(ic);
	g_autofree char *url = oauth_device_url(ic);
	struct json_device jd;
	char *secret = NULL, *reply = NULL, *perr = NULL, *msg = NULL;
	gsize reply_len = 0;
	int status = 0, parsed, ret = -1;
	guint n = 0;

	memset(&jd, 0, sizeof(jd));
	memset(dev, 0, sizeof(*dev));
	if (url == NULL) {
		*err = g_strdup("device endpoint: neither device_url nor "
		    "oauth2_provider = microsoft is set");
		return -1;
	}
	if (ic->client_id == NULL || *ic->client_id == '\0') {
		*err = g_strdup("device endpoint: no client_id");
		return -1;
	}
	if (oauth_client_fields(ic, fields, &n, &secret, &msg) < 0)
		goto out;
	secrets[OAUTH_SENT - 1] = secret;
	if (scope != NULL) {
		fields[n++] = "scope";
		fields[n++] = scope;
	}
	fields[n] = NULL;
	if (httpc_form_post(url, fields, timeout, OAUTH_REPLY_MAX, &status, &reply,
	    &reply_len, &perr) < 0) {
		msg = g_strdup_printf("device endpoint: %s", perr);
		goto out;
	}
	parsed = json_device_parse(reply, reply_len, &jd);
	/* From the reply: server text is checked against it, not our own
	 * messages (a short one would match them by chance). */
	secrets[OAUTH_SENT] = jd.device_code;
	if (status != 200) {
		msg = oauth_status_error_at("device endpoint", status,
		    parsed == 0 ? jd.error : NULL,
		    parsed == 0 ? jd.error_description : NULL, secrets);
		goto out;
	}
	if (parsed < 0) {
		msg = g_strdup("device endpoint: HTTP 200 but the reply is not a JSON object");
		goto out;
	}
	if (jd.device_code == NULL || !oauth_visible(jd.device_code) ||
	    jd.user_code == NULL || jd.verification_uri == NULL) {
		msg = g_strdup("device endpoint: HTTP 200 but no device_code, "
		    "user_code or verification_uri in the reply");
		goto out;
	}
	dev->user_code = oauth_server_text(jd.user_code, OAUTH_CODE_MAX, secrets);
	dev->verification_uri = oauth_server_text(jd.verification_uri,
	    OAUTH_TEXT_MAX, secrets);
	if (dev->user_code == NULL || dev->verification_uri == NULL ||
	    strchr(dev->verification_uri, ' ') != NULL) {
		oauth_device_clear(dev);
		msg = g_strdup("device endpoint: the user_code or verification_uri "
		    "cannot be shown");
		goto out;
	}
	dev->message = oauth_server_text(jd.message, OAUTH_TEXT_MAX * 2, secrets);
	dev->device_code = g_steal_pointer(&jd.device_code);
	dev->expires_in = jd.expires_in > 0 ? MIN(jd.expires_in, OAUTH_DEVICE_MAX) :
	    OAUTH_DEVICE_DEFAULT;
	dev->interval = jd.interval > 0 ? (guint)MIN(jd.interval, OAUTH_INTERVAL_MAX) :
	    OAUTH_INTERVAL_DEFAULT;
	ret = 0;
out:
	if (ret < 0)
		oauth_fail(err, msg, secrets);
	json_device_clear(&jd);
	if (reply != NULL) {
		explicit_bzero(reply, reply_len);
		g_free(reply);
	}
	g_free(perr);
	util_secret_free(&secret);
	return ret;
}

void
oauth_device_clear(struct oauth_device *dev)
{
	util_secret_free(&dev->device_code);
	g_clear_pointer(&dev->user_code, g_free);
	g_clear_pointer(&dev->verification_uri, g_free);
	g_clear_pointer(&dev->message, g_free);
	dev->expires_in = 0;
	dev->interval = 0;
}

int
oauth_save_refresh_token(const char *path, const char *refresh_token,
    GError **error)
{
	char *line = g_strconcat(refresh_token, "\n", NULL);
	gboolean ok;

	GError *gerr = NULL;

	ok = g_file_set_contents_full(path, line, -1,
	    G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
	    0600, &gerr);
	util_secret_free(&line);
	if (!ok) {
		/* GLib names the file (and its temporary): not the path, in
		 * case a token was pasted where the path belongs. */
		GString *m = g_string_new(gerr->message);

		g_string_replace(m, path, "refresh_token_file", 0);
		g_set_error_literal(error, gerr->domain, gerr->code, m->str);
		g_string_free(m, TRUE);
		g_error_free(gerr);
	}
	return ok ? 0 : -1;
}

/* ---- the token cache of an IMAP account (moved from imap.c) ------------- */

/* Writes a refresh token the provider rotated back to refresh_token_file;
 * keeps it in c->rotated when that fails. */
static void
oauth_cache_rotated(struct oauth_cache *c, const struct imap_config *ic, char **rt)
{
	GError *gerr = NULL;

	if (oauth_save_refresh_token(ic->refresh_token_file, *rt, &gerr) == 0) {
		g_message("imap=%s result=refresh-token-rotated saved=%s",
		    ic->name, ic->refresh_token_file);
		util_secret_free(rt);
		util_secret_free(&c->rotated);
	} else {
		g_warning("imap=%s result=refresh-token-rotated error=\"cannot save it: %s\" "
		    "(kept in memory; the old one is used after a restart)",
		    ic->name, gerr->message);
		g_error_free(gerr);
		util_secret_free(&c->rotated);
		c->rotated = *rt;
		*rt = NULL;
	}
}

/* Gets a new access token into c->token.  0, or -1 and *err. */
static int
oauth_cache_refresh(struct oauth_cache *c, const struct imap_config *ic, char **err)
{
	GError *gerr = NULL;
	char *rt;
	int r;

	if (c->rotated != NULL) {
		rt = g_strdup(c->rotated);
	} else {
		rt = util_read_secret_file(ic->refresh_token_file, &gerr);
		if (rt == NULL) {
			*err = g_strdup_printf("refresh_token_file: %s", gerr->message);
			g_error_free(gerr);
			return -1;
		}
	}
	oauth_token_clear(&c->token);
	r = oauth_refresh(ic, rt, MAX(ic->timeout, 1), &c->token, err);
	if (r < 0) {
		util_secret_free(&rt);
		return -1;
	}
	g_debug("imap=%s result=token-refreshed expires_in=%" G_GINT64_FORMAT,
	    ic->name, (c->token.expires_at - g_get_monotonic_time()) / G_USEC_PER_SEC);
	if (c->token.refresh_token != NULL && strcmp(c->token.refresh_token, rt) != 0) {
		util_secret_free(&rt);
		rt = c->token.refresh_token;
		c->token.refresh_token = NULL;
		oauth_cache_rotated(c, ic, &rt);
	}
	util_secret_free(&rt);
	util_secret_free(&c->token.refresh_token);
	return 0;
}

const char *
oauth_cache_token(struct oauth_cache *c, const struct imap_config *ic,
    guint margin_s, gboolean *refreshed, char **err)
{
	if (!oauth_token_fresh(&c->token, g_get_monotonic_time(), margin_s)) {
		if (oauth_cache_refresh(c, ic, err) < 0)
			return NULL;
		*refreshed = TRUE;
	}
	return c->token.access_token;
}

void
oauth_cache_drop(struct oauth_cache *c)
{
	oauth_token_clear(&c->token);
}

void
oauth_cache_clear(struct oauth_cache *c)
{
	oauth_token_clear(&c->token);
	util_secret_free(&c->rotated);
}
