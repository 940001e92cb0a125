/*
 * onboard.h - `otpbridge oauth ACCOUNT` (SPEC 2): obtains the refresh
 * token of an xoauth2 IMAP account and writes its refresh_token_file.
 *
 * Google (or any account with an auth_url): the authorization-code flow
 * with PKCE S256 (RFC 7636) and a loopback redirect (RFC 8252 7.3).
 * Microsoft (or any account with a device_url): the device authorization
 * grant (RFC 8628).  Blocking, for the command line only; the token
 * requests go through oauth.c (and so httpc_form_post()).
 */
#ifndef OTPBRIDGE_ONBOARD_H
#define OTPBRIDGE_ONBOARD_H

#include <stdio.h>
#include <glib.h>
#include "config.h"

#define ONBOARD_WAIT_DEFAULT  300    /* s the user has to sign in */
#define ONBOARD_WAIT_MAX      3600
#define ONBOARD_REQUEST_MAX   8192   /* bytes of a redirect request read */
#define ONBOARD_READ_TIMEOUT  5      /* s one browser connection may take */
#define ONBOARD_CONN_MAX      64     /* connections to the listener at most */

struct onboard_options {
	guint wait;                  /* s: the whole wait for the user */
	guint port;                  /* loopback redirect port; 0: any free */
};

/*
 * Runs the flow for ic (an xoauth2 account), printing what the user must
 * do on out and errors on err; writes ic->refresh_token_file on success.
 * Returns the exit status (sysexits): 0; EXIT_CONFIG for an account that
 * cannot be onboarded; EXIT_UNAVAILABLE when the provider (or the user)
 * refused, or the redirect did not match (state); EXIT_TEMPFAIL when the
 * provider could not be reached, the user did not finish in time or the
 * device code expired; EXIT_CANTCREAT when the file cannot be written.
 */
int onboard_run(const struct imap_config *ic, const struct onboard_options *o,
    FILE *out, FILE *err);

/* ---- the pure parts, for the tests ------------------------------------ */

/* The PKCE S256 challenge of verifier: BASE64URL(SHA256(verifier)),
 * unpadded.  g_malloc'd. */
char *onboard_challenge(const char *verifier);

/* n random bytes (from the kernel) as unpadded base64url.  g_malloc'd. */
char *onboard_random(gsize n);

/* The authorization request URL (RFC 6749 4.1.1 + PKCE; for Google also
 * access_type=offline, prompt=consent and login_hint).  g_malloc'd. */
char *onboard_auth_request(const struct imap_config *ic,
    const char *redirect_uri, const char *state, const char *challenge);

/* What a request to the redirect listener asked. */
struct onboard_redirect {
	char *code;                  /* secret */
	char *state;
	char *error;
	char *error_description;
};

enum onboard_req {
	ONBOARD_REQ_CALLBACK,        /* GET / with a state: *r filled */
	ONBOARD_REQ_OTHER,           /* another path, or no state (favicon):
	                              * answered 404 and ignored */
	ONBOARD_REQ_BAD,             /* not an HTTP GET request line */
};

/*
 * Parses the head of one request (len bytes, not NUL-terminated; the
 * request line is all that is read).  r's members are g_malloc'd (code
 * wiped by onboard_redirect_clear()); a parameter given twice makes the
 * request ONBOARD_REQ_BAD.
 */
enum onboard_req onboard_parse_request(const char *head, gsize len,
    struct onboard_redirect *r);
void onboard_redirect_clear(struct onboard_redirect *r);

#endif
