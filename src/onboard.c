/*
 * onboard.c - `otpbridge oauth ACCOUNT`: obtains an xoauth2 account's
 * refresh token and writes its refresh_token_file (0600, atomically, with
 * oauth_save_refresh_token(), the function the IMAP thread uses for a
 * rotated token).  Blocking; the command line only, never the daemon.
 *
 * Code flow (Google, or an account with auth_url): PKCE S256 with a
 * 32-byte verifier, a 16-byte state, both from getrandom(); a listener on
 * 127.0.0.1 (an ephemeral port unless --port) is the redirect URI
 * (RFC 8252 7.3).  The first request to "/" that carries a state decides:
 * a state other than ours is refused and nothing is exchanged (a forged or
 * stale redirect: CSRF); an error is shown; a code is exchanged, with the
 * verifier and the redirect URI, at the token endpoint.  Device flow
 * (Microsoft, or an account with device_url, RFC 8628): the user code and
 * URL are printed, the token endpoint polled every interval seconds
 * (slow_down adds 5), until the grant, a refusal, expired_token, or the
 * end of the code's lifetime (or of --wait, whichever is first).
 *
 * Hostile input: requests to the loopback listener (any local process or
 * a web page the browser runs can send them): at most ONBOARD_REQUEST_MAX
 * bytes of head, ONBOARD_READ_TIMEOUT s per connection (and never past
 * the deadline), ONBOARD_CONN_MAX connections, one at a time; only the
 * request line is parsed; a parameter given twice, a code that is not
 * printable ASCII or longer than ONBOARD_CODE_MAX is refused.  The pages
 * sent back are fixed text: nothing from the request is reflected.
 * XXX connections are served one at a time, so a browser's idle
 * preconnection (or a local process that connects and says nothing)
 * delays the real redirect by up to ONBOARD_READ_TIMEOUT s each; the
 * deadline still bounds the whole wait.
 * Provider replies are read by oauth.c (bounded, sanitised).
 *
 * Secrets: the code, the verifier, the device code, the client secret and
 * the tokens.  None is printed or put in an error; our copies are wiped.
 * What is printed: the authorization URL (which holds the state and the
 * PKCE challenge, both useless without the verifier), or the user code
 * and verification URL the user must type.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <gio/gio.h>

#include "oauth.h"
#include "onboard.h"
#include "util.h"

#define ONBOARD_CODE_MAX     4096   /* bytes of an authorization code */
#define ONBOARD_STATE_MAX    256    /* bytes of a state echoed back */
#define ONBOARD_SLOW_DOWN    5      /* s added to the interval (RFC 8628 3.5) */
#define ONBOARD_TEXT_MAX     200    /* bytes of provider text shown */

/* ---- the pure parts ---------------------------------------------------- */

/* data as unpadded base64url (RFC 4648 section 5).  g_malloc'd. */
static char *
onboard_b64url(const guchar *data, gsize len)
{
	char *s = g_base64_encode(data, len);
	char *w = s;

	for (char *p = s; *p != '\0'; p++) {
		if (*p == '=')
			continue;
		*w++ = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	}
	*w = '\0';
	return s;
}

char *
onboard_random(gsize n)
{
	guchar buf[64];
	gsize got = 0;
	char *s;

	g_return_val_if_fail(n <= sizeof(buf), NULL);
	while (got < n) {
		ssize_t r = getrandom(buf + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			g_error("getrandom: %s", g_strerror(errno));
		got += (gsize)r;
	}
	s = onboard_b64url(buf, n);
	explicit_bzero(buf, sizeof(buf));
	return s;
}

char *
onboard_challenge(const char *verifier)
{
	GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
	guint8 digest[32];
	gsize dlen = sizeof(digest);

	g_checksum_update(c, (const guchar *)verifier, (gssize)strlen(verifier));
	g_checksum_get_digest(c, digest, &dlen);
	g_checksum_free(c);
	return onboard_b64url(digest, dlen);
}

/* Appends &name=value (the first without &), value percent-encoded. */
static void
onboard_param(GString *s, gboolean first, const char *name, const char *value)
{
	g_autofree char *v = g_uri_escape_string(value, NULL, FALSE);

	if (!first)
		g_string_append_c(s, '&');
	g_string_append_printf(s, "%s=%s", name, v);
}

char *
onboard_auth_request(const struct imap_config *ic, const char *redirect_uri,
    const char *state, const char *challenge)
{
	const char *base = oauth_auth_url(ic);
	const char *scope = oauth_onboard_scope(ic);
	GString *s;

	g_return_val_if_fail(base != NULL, NULL);
	s = g_string_new(base);
	g_string_append_c(s, strchr(base, '?') != NULL ? '&' : '?');
	onboard_param(s, TRUE, "response_type", "code");
	onboard_param(s, FALSE, "client_id", ic->client_id);
	onboard_param(s, FALSE, "redirect_uri", redirect_uri);
	if (scope != NULL)
		onboard_param(s, FALSE, "scope", scope);
	onboard_param(s, FALSE, "state", state);
	onboard_param(s, FALSE, "code_challenge", challenge);
	onboard_param(s, FALSE, "code_challenge_method", "S256");
	/* Google: a refresh token only with offline access, and again only
	 * when consent is asked again.  Others ignore unknown parameters. */
	onboard_param(s, FALSE, "access_type", "offline");
	onboard_param(s, FALSE, "prompt", "consent");
	if (ic->user != NULL && util_is_addr_spec(ic->user))
		onboard_param(s, FALSE, "login_hint", ic->user);
	return g_string_free(s, FALSE);
}

void
onboard_redirect_clear(struct onboard_redirect *r)
{
	util_secret_free(&r->code);
	g_clear_pointer(&r->state, g_free);
	g_clear_pointer(&r->error, g_free);
	g_clear_pointer(&r->error_description, g_free);
}

/* TRUE when s is non-empty printable ASCII (no blank) of at most max bytes. */
static gboolean
onboard_token_ok(const char *s, gsize max)
{
	gsize n = 0;

	for (; s[n] != '\0'; n++)
		if ((guchar)s[n] <= 0x20 || (guchar)s[n] >= 0x7f)
			return FALSE;
	return n > 0 && n <= max;
}

/* Parses the query of a callback into r; FALSE when it is malformed. */
static gboolean
onboard_parse_query(const char *query, struct onboard_redirect *r)
{
	GUriParamsIter it;
	char *name = NULL, *value = NULL;
	GError *gerr = NULL;
	gboolean ok = TRUE;

	g_uri_params_iter_init(&it, query, -1, "&", G_URI_PARAMS_WWW_FORM);
	while (ok && g_uri_params_iter_next(&it, &name, &value, &gerr)) {
		char **slot = strcmp(name, "code") == 0 ? &r->code :
		    strcmp(name, "state") == 0 ? &r->state :
		    strcmp(name, "error") == 0 ? &r->error :
		    strcmp(name, "error_description") == 0 ? &r->error_description :
		    NULL;

		if (slot != NULL && *slot != NULL)
			ok = FALSE;             /* given twice: which one? */
		else if (slot != NULL)
			*slot = g_steal_pointer(&value);
		g_free(name);
		util_secret_free(&value);
	}
	if (gerr != NULL) {
		g_error_free(gerr);
		ok = FALSE;
	}
	if (ok && r->code != NULL && !onboard_token_ok(r->code, ONBOARD_CODE_MAX))
		ok = FALSE;
	if (ok && r->state != NULL && strlen(r->state) > ONBOARD_STATE_MAX)
		ok = FALSE;
	return ok;
}

enum onboard_req
onboard_parse_request(const char *head, gsize len, struct onboard_redirect *r)
{
	const char *eol = memchr(head, '\n', len);
	g_autofree char *line = NULL;
	g_auto(GStrv) parts = NULL;
	char *target, *query;

	memset(r, 0, sizeof(*r));
	if (eol == NULL)
		return ONBOARD_REQ_BAD;
	line = g_strndup(head, (gsize)(eol - head));
	if (strlen(line) != (gsize)(eol - head))
		return ONBOARD_REQ_BAD;         /* a NUL in the request line */
	g_strchomp(line);
	parts = g_strsplit(line, " ", 0);
	if (g_strv_length(parts) != 3 || strcmp(parts[0], "GET") != 0 ||
	    !g_str_has_prefix(parts[2], "HTTP/1.") || parts[1][0] != '/')
		return ONBOARD_REQ_BAD;
	target = parts[1];
	query = strchr(target, '?');
	if (query != NULL)
		*query++ = '\0';
	if (strcmp(target, "/") != 0 || query == NULL)
		return ONBOARD_REQ_OTHER;
	if (query != NULL) {
		char *frag = strchr(query, '#');

		if (frag != NULL)
			*frag = '\0';
	}
	if (!onboard_parse_query(query, r)) {
		onboard_redirect_clear(r);
		return ONBOARD_REQ_BAD;
	}
	if (r->state == NULL) {
		onboard_redirect_clear(r);
		return ONBOARD_REQ_OTHER;
	}
	return ONBOARD_REQ_CALLBACK;
}

/* ---- the loopback listener -------------------------------------------- */

/* A socket listening on 127.0.0.1:port (0: any); *bound is the port. */
static GSocket *
onboard_listen(guint port, guint *bound, GError **error)
{
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) sa = g_inet_socket_address_new(lo, (guint16)port);
	g_autoptr(GSocketAddress) local = NULL;
	GSocket *s;

	s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_TCP, error);
	if (s == NULL)
		return NULL;
	if (!g_socket_bind(s, sa, TRUE, error) || !g_socket_listen(s, error) ||
	    (local = g_socket_get_local_address(s, error)) == NULL) {
		g_object_unref(s);
		return NULL;
	}
	*bound = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
	return s;
}

/* Reads a request head (up to a blank line) into buf, at most max bytes
 * within timeout_s.  Returns its length, or -1 (closed, timed out, too
 * long: *too_long). */
static gssize
onboard_read_head(GSocket *c, guint timeout_s, char *buf, gsize max,
    gboolean *too_long)
{
	gsize len = 0;

	*too_long = FALSE;
	g_socket_set_timeout(c, MAX(timeout_s, 1));
	while (len < max) {
		gssize n = g_socket_receive(c, buf + len, max - len, NULL, NULL);

		if (n <= 0)
			return -1;
		len += (gsize)n;
		if (g_strstr_len(buf, (gssize)len, "\r\n\r\n") != NULL ||
		    g_strstr_len(buf, (gssize)len, "\n\n") != NULL)
			return (gssize)len;
	}
	*too_long = TRUE;
	return -1;
}

/* Sends one whole HTTP/1.1 reply with a fixed page and closes c. */
static void
onboard_answer(GSocket *c, int status, const char *reason, const char *text)
{
	g_autofree char *page = g_strdup_printf("<!doctype html>\n<html><head>"
	    "<meta charset=\"utf-8\"><title>otpbridge</title></head>\n"
	    "<body><p>%s</p></body></html>\n", text);
	g_autofree char *msg = g_strdup_printf("HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "Referrer-Policy: no-referrer\r\nConnection: close\r\n\r\n%s",
	    status, reason, strlen(page), page);
	gsize len = strlen(msg), off = 0;

	while (off < len) {
		gssize n = g_socket_send(c, msg + off, len - off, NULL, NULL);

		if (n <= 0)
			break;
		off += (gsize)n;
	}
	g_socket_shutdown(c, FALSE, TRUE, NULL);
	g_socket_close(c, NULL);
}

/* ---- the flows --------------------------------------------------------- */

/* The exit status for a failed token request: a refusal (an OAuth error
 * code) is 69, a provider that is busy or did not answer properly 75. */
static int
onboard_status(const char *error_code)
{
	if (error_code == NULL || strcmp(error_code, "temporarily_unavailable") == 0 ||
	    strcmp(error_code, "server_error") == 0)
		return EXIT_TEMPFAIL;
	return EXIT_UNAVAILABLE;
}

/* Saves tok's refresh token for ic; the exit status. */
static int
onboard_save(const struct imap_config *ic, const struct oauth_token *tok,
    FILE *out, FILE *err)
{
	GError *gerr = NULL;

	if (tok->refresh_token == NULL || *tok->refresh_token == '\0') {
		fprintf(err, "otpbridge oauth: [imap:%s]: the provider granted access "
		    "but returned no refresh_token (it needs offline access and a "
		    "fresh consent; see doc/oauth.md); nothing written\n", ic->name);
		return EXIT_UNAVAILABLE;
	}
	if (oauth_save_refresh_token(ic->refresh_token_file, tok->refresh_token,
	    &gerr) < 0) {
		fprintf(err, "otpbridge oauth: [imap:%s]: cannot write "
		    "refresh_token_file: %s\n", ic->name, gerr->message);
		g_error_free(gerr);
		return EXIT_CANTCREAT;
	}
	/* Not the path: a token pasted where it belongs stays off screen. */
	fprintf(out, "otpbridge oauth: [imap:%s]: refresh token saved in its "
	    "refresh_token_file (mode 0600)\n", ic->name);
	fflush(out);
	return 0;
}

/* A state compare that does not stop at the first difference. */
static gboolean
onboard_state_equal(const char *a, const char *b)
{
	gsize la = strlen(a), lb = strlen(b);
	guchar d = la == lb ? 0 : 1;

	for (gsize i = 0; i < la; i++)
		d |= (guchar)a[i] ^ (guchar)b[i % MAX(lb, 1)];
	return d == 0;
}

/* Decides one callback: exchanges its code when it is ours; answers the
 * browser; the exit status. */
static int
onboard_callback(const struct imap_config *ic, GSocket *c,
    const struct onboard_redirect *r, const char *state, const char *verifier,
    const char *redirect_uri, FILE *out, FILE *err)
{
	struct oauth_token tok = { NULL, 0, NULL };
	const char *grant[9];
	const char *sent[3];
	char *emsg = NULL, *ecode = NULL;
	int rc;

	if (!onboard_state_equal(r->state, state)) {
		onboard_answer(c, 400, "Bad Request", "otpbridge: this answer does not "
		    "belong to the sign-in otpbridge started (state mismatch); it was "
		    "refused. Start again from the terminal.");
		fprintf(err, "otpbridge oauth: [imap:%s]: the redirect's state does "
		    "not match the one sent (a forged or stale redirect): refused, "
		    "nothing exchanged\n", ic->name);
		return EXIT_UNAVAILABLE;
	}
	if (r->error != NULL) {
		g_autofree char *e = oauth_text(r->error, ONBOARD_TEXT_MAX, verifier);
		g_autofree char *d = oauth_text(r->error_description, ONBOARD_TEXT_MAX,
		    verifier);

		onboard_answer(c, 200, "OK", "otpbridge: the sign-in was not "
		    "completed; see the terminal.");
		fprintf(err, "otpbridge oauth: [imap:%s]: the provider answered %s%s%s%s\n",
		    ic->name, e != NULL ? e : "an error", d != NULL ? " (" : "",
		    d != NULL ? d : "", d != NULL ? ")" : "");
		return EXIT_UNAVAILABLE;
	}
	if (r->code == NULL) {
		onboard_answer(c, 400, "Bad Request", "otpbridge: no authorization "
		    "code in this answer; see the terminal.");
		fprintf(err, "otpbridge oauth: [imap:%s]: the redirect carries neither "
		    "a code nor an error\n", ic->name);
		return EXIT_UNAVAILABLE;
	}
	grant[0] = "grant_type";
	grant[1] = "authorization_code";
	grant[2] = "code";
	grant[3] = r->code;
	grant[4] = "code_verifier";
	grant[5] = verifier;
	grant[6] = "redirect_uri";
	grant[7] = redirect_uri;
	grant[8] = NULL;
	sent[0] = r->code;
	sent[1] = verifier;
	sent[2] = NULL;
	if (oauth_grant(ic, grant, sent, MAX(ic->timeout, 1), &tok, &ecode, &emsg) < 0) {
		onboard_answer(c, 200, "OK", "otpbridge: the code could not be "
		    "exchanged for a token; see the terminal.");
		fprintf(err, "otpbridge oauth: [imap:%s]: %s\n", ic->name, emsg);
		rc = onboard_status(ecode);
		g_free(emsg);
		g_free(ecode);
		return rc;
	}
	rc = onboard_save(ic, &tok, out, err);
	oauth_token_clear(&tok);
	onboard_answer(c, 200, "OK", rc == 0 ? "otpbridge: signed in; the refresh "
	    "token is saved. You can close this tab." : "otpbridge: signed in, but "
	    "the token could not be saved; see the terminal.");
	return rc;
}

/* The authorization-code flow with PKCE and a loopback redirect. */
static int
onboard_code_flow(const struct imap_config *ic, const struct onboard_options *o,
    FILE *out, FILE *err)
{
	g_autoptr(GSocket) ls = NULL;
	g_autofree char *state = onboard_random(16);
	g_autofree char *challenge = NULL;
	g_autofree char *redirect_uri = NULL;
	g_autofree char *url = NULL;
	char *verifier = onboard_random(32);
	char *buf = g_malloc(ONBOARD_REQUEST_MAX + 1);
	GError *gerr = NULL;
	gint64 deadline;
	guint port = 0, conns = 0;
	int rc = -1;

	challenge = onboard_challenge(verifier);
	ls = onboard_listen(o->port, &port, &gerr);
	if (ls == NULL) {
		fprintf(err, "otpbridge oauth: cannot listen on 127.0.0.1:%u for the "
		    "redirect: %s\n", o->port, gerr->message);
		g_error_free(gerr);
		rc = EXIT_TEMPFAIL;
		goto out;
	}
	redirect_uri = g_strdup_printf("http://127.0.0.1:%u/", port);
	url = onboard_auth_request(ic, redirect_uri, state, challenge);
	fprintf(out, "otpbridge oauth: [imap:%s] sign in as %s and allow access.\n"
	    "Open this URL in a browser on this machine (the provider sends the "
	    "browser back to %s):\n\n%s\n\nWaiting up to %u s for the browser...\n",
	    ic->name, ic->user, redirect_uri, url, o->wait);
	fflush(out);
	deadline = g_get_monotonic_time() + (gint64)o->wait * G_USEC_PER_SEC;
	while (rc < 0) {
		g_autoptr(GSocket) c = NULL;
		struct onboard_redirect r;
		gint64 left = deadline - g_get_monotonic_time();
		gboolean too_long;
		gssize len;

		if (left <= 0 || conns >= ONBOARD_CONN_MAX) {
			fprintf(err, "otpbridge oauth: [imap:%s]: %s; nothing written\n",
			    ic->name, left <= 0 ? "no sign-in came back in time" :
			    "too many requests to the redirect listener");
			rc = left <= 0 ? EXIT_TEMPFAIL : EXIT_UNAVAILABLE;
			break;
		}
		if (!g_socket_condition_timed_wait(ls, G_IO_IN, left, NULL, &gerr)) {
			g_clear_error(&gerr);
			continue;           /* timed out: the check above ends it */
		}
		c = g_socket_accept(ls, NULL, &gerr);
		if (c == NULL) {
			g_clear_error(&gerr);
			continue;
		}
		conns++;
		len = onboard_read_head(c, (guint)MIN(ONBOARD_READ_TIMEOUT,
		    left / G_USEC_PER_SEC + 1), buf, ONBOARD_REQUEST_MAX, &too_long);
		if (len < 0) {
			if (too_long)
				onboard_answer(c, 431, "Request Header Fields Too Large",
				    "otpbridge: request too large.");
			continue;
		}
		switch (onboard_parse_request(buf, (gsize)len, &r)) {
		case ONBOARD_REQ_OTHER:
			onboard_answer(c, 404, "Not Found", "otpbridge: not found.");
			break;
		case ONBOARD_REQ_BAD:
			onboard_answer(c, 400, "Bad Request", "otpbridge: bad request.");
			break;
		case ONBOARD_REQ_CALLBACK:
			rc = onboard_callback(ic, c, &r, state, verifier, redirect_uri,
			    out, err);
			onboard_redirect_clear(&r);
			break;
		}
	}
out:
	explicit_bzero(buf, ONBOARD_REQUEST_MAX + 1);
	g_free(buf);
	util_secret_free(&verifier);
	return rc;
}

/* The device authorization grant. */
static int
onboard_device_flow(const struct imap_config *ic, const struct onboard_options *o,
    FILE *out, FILE *err)
{
	struct oauth_device dev;
	const char *grant[5];
	const char *sent[2];
	char *emsg = NULL;
	gint64 deadline;
	guint interval;
	int rc = -1;

	if (oauth_device_start(ic, MAX(ic->timeout, 1), &dev, &emsg) < 0) {
		fprintf(err, "otpbridge oauth: [imap:%s]: %s\n", ic->name, emsg);
		rc = strstr(emsg, ": HTTP 4") != NULL ? EXIT_UNAVAILABLE : EXIT_TEMPFAIL;
		g_free(emsg);
		return rc;
	}
	fprintf(out, "otpbridge oauth: [imap:%s] sign in as %s and allow access.\n",
	    ic->name, ic->user);
	if (dev.message != NULL)
		fprintf(out, "%s\n", dev.message);
	else
		fprintf(out, "To sign in, open %s in a browser and enter the code %s\n",
		    dev.verification_uri, dev.user_code);
	fprintf(out, "(code %s at %s; waiting up to %u s)\n", dev.user_code,
	    dev.verification_uri, (guint)MIN((gint64)o->wait, dev.expires_in));
	fflush(out);
	deadline = g_get_monotonic_time() +
	    MIN((gint64)o->wait, dev.expires_in) * G_USEC_PER_SEC;
	interval = dev.interval;
	grant[0] = "grant_type";
	grant[1] = "urn:ietf:params:oauth:grant-type:device_code";
	grant[2] = "device_code";
	grant[3] = dev.device_code;
	grant[4] = NULL;
	sent[0] = dev.device_code;
	sent[1] = NULL;
	while (rc < 0) {
		struct oauth_token tok = { NULL, 0, NULL };
		char *ecode = NULL;

		if (g_get_monotonic_time() + (gint64)interval * G_USEC_PER_SEC > deadline) {
			fprintf(err, "otpbridge oauth: [imap:%s]: the sign-in was not "
			    "completed before the code expired; nothing written\n",
			    ic->name);
			rc = EXIT_TEMPFAIL;
			break;
		}
		g_usleep((gulong)interval * G_USEC_PER_SEC);
		if (oauth_grant(ic, grant, sent, MAX(ic->timeout, 1), &tok, &ecode,
		    &emsg) == 0) {
			rc = onboard_save(ic, &tok, out, err);
			oauth_token_clear(&tok);
			break;
		}
		if (ecode != NULL && strcmp(ecode, "authorization_pending") == 0) {
			/* the user has not finished yet */
		} else if (ecode != NULL && strcmp(ecode, "slow_down") == 0) {
			interval = MIN(interval + ONBOARD_SLOW_DOWN, OAUTH_INTERVAL_MAX);
		} else if (ecode != NULL && strcmp(ecode, "expired_token") == 0) {
			fprintf(err, "otpbridge oauth: [imap:%s]: %s: the code expired "
			    "before the sign-in was completed; nothing written\n",
			    ic->name, emsg);
			rc = EXIT_TEMPFAIL;
		} else {
			/* XXX a network error ends the poll too (exit 75, run
			 * again) rather than being retried until the deadline. */
			fprintf(err, "otpbridge oauth: [imap:%s]: %s; nothing written\n",
			    ic->name, emsg);
			rc = onboard_status(ecode);
		}
		g_clear_pointer(&emsg, g_free);
		g_free(ecode);
	}
	oauth_device_clear(&dev);
	return rc;
}

int
onboard_run(const struct imap_config *ic, const struct onboard_options *o,
    FILE *out, FILE *err)
{
	g_autofree char *device_url = NULL;

	if (ic->auth != IMAP_AUTH_XOAUTH2) {
		fprintf(err, "otpbridge oauth: [imap:%s] does not use auth = xoauth2; "
		    "nothing to obtain\n", ic->name);
		return EXIT_CONFIG;
	}
	/* An explicit endpoint says which flow; else the provider does. */
	if (ic->device_url == NULL && (ic->auth_url != NULL ||
	    (ic->oauth2_provider != NULL &&
	    strcmp(ic->oauth2_provider, "google") == 0)))
		return onboard_code_flow(ic, o, out, err);
	device_url = oauth_device_url(ic);
	if (device_url != NULL)
		return onboard_device_flow(ic, o, out, err);
	fprintf(err, "otpbridge oauth: [imap:%s] names no authorization endpoint: "
	    "set oauth2_provider = google or microsoft, or auth_url (code flow) or "
	    "device_url (device flow)\n", ic->name);
	return EXIT_CONFIG;
}
