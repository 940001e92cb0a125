/*
 * oauth.h - OAuth2 access tokens for IMAP XOAUTH2 (SPEC 6): the
 * refresh-token grant (RFC 6749 section 6) against the provider's token
 * endpoint, with Google and Microsoft 365 presets.
 *
 * Blocking: it runs on an IMAP account's thread, never on the main loop.
 * The HTTP goes through push_form_post() (push.c owns libcurl) and the
 * reply through json_token_parse() (json.c owns json-glib); this file owns
 * the policy: which URL and scope, what is sent, what counts as success,
 * and errors an operator can act on without any secret in them.
 */
#ifndef OTPBRIDGE_OAUTH_H
#define OTPBRIDGE_OAUTH_H

#include <glib.h>
#include "config.h"

#define OAUTH_GOOGLE_TOKEN_URL    "https://oauth2.googleapis.com/token"
#define OAUTH_MICROSOFT_TOKEN_URL \
	"https://login.microsoftonline.com/common/oauth2/v2.0/token"
#define OAUTH_MICROSOFT_SCOPE \
	"https://outlook.office.com/IMAP.AccessAsUser.All offline_access"
#define OAUTH_EXPIRES_DEFAULT     3600   /* s, when the reply has no expires_in */
#define OAUTH_REPLY_MAX           65536  /* bytes of token reply read at most */

struct oauth_token {
	char *access_token;          /* secret: oauth_token_clear() wipes it */
	gint64 expires_at;           /* g_get_monotonic_time() µs when it expires */
	char *refresh_token;         /* a rotated refresh token the provider
	                              * returned (secret), or NULL */
};

/* ic->token_url when set (it wins over the preset), else the preset's;
 * NULL when neither. */
const char *oauth_token_url(const struct imap_config *ic);
/* The scope sent with the refresh (the Microsoft preset needs one), or NULL. */
const char *oauth_scope(const struct imap_config *ic);

/*
 * POSTs grant_type=refresh_token, refresh_token, client_id, client_secret
 * (read from ic->client_secret_file when set) and the preset's scope to
 * oauth_token_url(ic), waiting at most timeout seconds.  refresh_token is
 * the one to use (from refresh_token_file, or one the provider rotated);
 * it may be tok->refresh_token itself.
 * Returns 0 and fills *tok: the old access token is wiped and replaced;
 * tok->refresh_token is replaced only when the reply carries a new one
 * (so a token rotated earlier is kept).  Success is HTTP 200 with a
 * non-empty access_token and a token_type absent or Bearer; expires_in
 * absent means OAUTH_EXPIRES_DEFAULT, and it is clamped to 30 s .. 30 days.
 * Returns -1 and *err (g_malloc'd), *tok untouched: e.g.
 * "token endpoint: HTTP 400 invalid_grant (Token has been expired or
 * revoked.)" or "token endpoint: Couldn't connect to server" -- never a
 * secret, server text sanitised and cut.
 */
int oauth_refresh(const struct imap_config *ic, const char *refresh_token,
    guint timeout, struct oauth_token *tok, char **err);

/* TRUE when tok has an access token valid for at least margin_s more
 * seconds at monotonic time now_us. */
gboolean oauth_token_fresh(const struct oauth_token *tok, gint64 now_us,
    guint margin_s);

/* Wipes and frees the members; the struct may be reused. */
void oauth_token_clear(struct oauth_token *tok);

#endif
