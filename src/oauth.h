/*
 * oauth.h - OAuth2 access tokens for IMAP XOAUTH2 (SPEC 6): the
 * refresh-token grant (RFC 6749 section 6) against the provider's token
 * endpoint, with Google and Microsoft 365 presets.
 *
 * Blocking: it runs on an IMAP account's thread, never on the main loop.
 * The HTTP goes through httpc_form_post() (httpc.c owns libcurl) and the
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
#define OAUTH_GOOGLE_AUTH_URL     "https://accounts.google.com/o/oauth2/v2/auth"
#define OAUTH_GOOGLE_SCOPE        "https://mail.google.com/"
#define OAUTH_MICROSOFT_DEVICE_URL \
	"https://login.microsoftonline.com/common/oauth2/v2.0/devicecode"
#define OAUTH_DEVICE_DEFAULT      900    /* s a device code lives, when unsaid */
#define OAUTH_DEVICE_MAX          3600   /* s a device code is waited for at most */
#define OAUTH_INTERVAL_DEFAULT    5      /* s between polls, when unsaid */
#define OAUTH_INTERVAL_MAX        60     /* s between polls at most */
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

/*
 * A grant for onboarding (otpbridge oauth): POSTs grant (name, value
 * pairs, NULL-terminated, at most 4 pairs) plus client_id and
 * client_secret (from ic->client_secret_file when set) to
 * oauth_token_url(ic).  sent lists the secret values among grant's (at
 * most 3, NULL-terminated; never shown in an error).  Success, *tok and
 * *err as with oauth_refresh().  On -1, when the endpoint answered with
 * an RFC 6749 error code (authorization_pending, slow_down,
 * access_denied, ...), *error_code (if error_code is not NULL) is that
 * code, g_malloc'd; else NULL.
 */
int oauth_grant(const struct imap_config *ic, const char *const *grant,
    const char *const *sent, guint timeout, struct oauth_token *tok,
    char **error_code, char **err);

/* The authorization endpoint for the code flow: ic->auth_url when set,
 * else Google's preset; NULL when neither. */
const char *oauth_auth_url(const struct imap_config *ic);
/* The device authorization endpoint (RFC 8628): ic->device_url when set,
 * else for oauth2_provider = microsoft the one of token_url's tenant
 * (".../TENANT/oauth2/v2.0/token" -> ".../TENANT/oauth2/v2.0/devicecode"),
 * else Microsoft's common one; NULL for other providers.  g_malloc'd. */
char *oauth_device_url(const struct imap_config *ic);
/* The scope asked for when onboarding: Google's mail scope, Microsoft's
 * IMAP + offline_access; NULL (the client's default) otherwise. */
const char *oauth_onboard_scope(const struct imap_config *ic);

/* A device authorization, as it may be shown (RFC 8628 3.2). */
struct oauth_device {
	char *device_code;           /* secret: oauth_device_clear() wipes it */
	char *user_code;             /* printable ASCII */
	char *verification_uri;      /* printable ASCII, no blank */
	char *message;               /* the provider's instructions, printable
	                              * ASCII; NULL when absent */
	gint64 expires_in;           /* s: 1..OAUTH_DEVICE_MAX */
	guint interval;              /* s: 1..OAUTH_INTERVAL_MAX */
};

/*
 * POSTs client_id, the onboarding scope (and client_secret when set) to
 * oauth_device_url(ic).  Returns 0 and fills *dev; -1 and *err
 * ("device endpoint: HTTP 400 invalid_client (...)"), never a secret.
 */
int oauth_device_start(const struct imap_config *ic, guint timeout,
    struct oauth_device *dev, char **err);
void oauth_device_clear(struct oauth_device *dev);

/* Provider text as it may be shown: printable ASCII, cut to max bytes;
 * NULL when empty or when it holds (part of) secret.  g_malloc'd. */
char *oauth_text(const char *raw, gsize max, const char *secret);

/*
 * Writes refresh_token and a newline to path atomically (a temporary
 * file in the same directory, fsync'd, renamed over path), mode 0600.
 * Returns -1 and *error (which holds neither the token nor the path: the
 * file is called "refresh_token_file" there) when it cannot.
 */
int oauth_save_refresh_token(const char *path, const char *refresh_token,
    GError **error);

/* TRUE when tok has an access token valid for at least margin_s more
 * seconds at monotonic time now_us. */
gboolean oauth_token_fresh(const struct oauth_token *tok, gint64 now_us,
    guint margin_s);

/* Wipes and frees the members; the struct may be reused. */
void oauth_token_clear(struct oauth_token *tok);

/*
 * The token cache of one IMAP account (its thread owns it; no lock):
 * the access token between sessions, and a refresh token the provider
 * rotated that could not be written back.  Zero-initialised is empty.
 */
struct oauth_cache {
	struct oauth_token token;    /* the cached access token */
	char *rotated;               /* a rotated refresh token not yet saved
	                              * (secret), or NULL */
};

/*
 * The access token to send for ic: the cached one while it has at least
 * margin_s seconds left, else a new one from oauth_refresh() with the
 * refresh token kept in c->rotated or read from ic->refresh_token_file
 * (*refreshed is then set TRUE; it is never set FALSE).  A refresh token
 * the provider rotates is written back with oauth_save_refresh_token();
 * when that fails it is kept in c->rotated and used instead of the file's
 * until the daemon stops.  Logs the rotation (saved, or kept in memory and
 * why) and the refresh at debug level, with ic->name, never a token.
 * Returns the token, owned by c and valid until the next call, or NULL and
 * *err (g_malloc'd, no secret in it).
 */
const char *oauth_cache_token(struct oauth_cache *c, const struct imap_config *ic,
    guint margin_s, gboolean *refreshed, char **err);

/* Forgets the cached access token (the server refused it). */
void oauth_cache_drop(struct oauth_cache *c);

/* Wipes and frees everything c holds; c may be reused. */
void oauth_cache_clear(struct oauth_cache *c);

#endif
