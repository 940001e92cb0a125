/*
 * test-onboard.c - the pieces of `otpbridge oauth` (onboard.c and the
 * onboarding half of oauth.c) that need no browser: PKCE (the RFC 7636
 * appendix B vector), the authorization URL, the endpoint presets, the
 * redirect request parser with its hostile variants, the grant's error
 * codes and the device authorization reply against an in-test endpoint,
 * and the atomic 0600 write.  The whole flows run in tests/oauth-cmd.sh.
 */
#include "autoconfig.h"

#include <string.h>
#include <sys/stat.h>
#include <gio/gio.h>

#include "config.h"
#include "oauth.h"
#include "onboard.h"
#include "testhttp.h"
#include "testutil.h"

#define TEST_CLIENT_ID "123-abc.apps.googleusercontent.com"
#define TEST_CODE      "4/0AeaYSHTEST-code-SECRET-abcdefghijkl"
#define TEST_VERIFIER  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"

static char *tmpdir;

/* An account as config.c would make it (strings borrowed). */
static struct imap_config
account(const char *provider, const char *token_url, const char *auth_url,
    const char *device_url)
{
	struct imap_config ic;

	memset(&ic, 0, sizeof(ic));
	ic.name = (char *)"t";
	ic.host = (char *)"imap.example.com";
	ic.user = (char *)"bot@example.com";
	ic.auth = IMAP_AUTH_XOAUTH2;
	ic.oauth2_provider = (char *)provider;
	ic.token_url = (char *)token_url;
	ic.auth_url = (char *)auth_url;
	ic.device_url = (char *)device_url;
	ic.client_id = (char *)TEST_CLIENT_ID;
	return ic;
}

/* ---- PKCE and randomness ------------------------------------------------- */

static void
test_pkce(void)
{
	/* RFC 7636 appendix B. */
	g_autofree char *c = onboard_challenge(TEST_VERIFIER);
	char *seen[8];

	g_assert_cmpstr(c, ==, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	for (guint i = 0; i < G_N_ELEMENTS(seen); i++) {
		seen[i] = onboard_random(32);
		/* 32 bytes: 43 base64url characters, no padding (RFC 7636 4.1). */
		g_assert_cmpuint(strlen(seen[i]), ==, 43);
		for (const char *p = seen[i]; *p != '\0'; p++)
			g_assert_true(g_ascii_isalnum(*p) || *p == '-' || *p == '_');
		for (guint j = 0; j < i; j++)
			g_assert_cmpstr(seen[i], !=, seen[j]);
	}
	for (guint i = 0; i < G_N_ELEMENTS(seen); i++)
		g_free(seen[i]);
}

/* ---- presets ------------------------------------------------------------- */

struct preset_case {
	const char *provider, *token_url, *auth_url, *device_url;
	const char *want_auth, *want_device, *want_scope;
};

static const struct preset_case preset_cases[] = {
	{ "google", NULL, NULL, NULL, OAUTH_GOOGLE_AUTH_URL, NULL, OAUTH_GOOGLE_SCOPE },
	{ "microsoft", NULL, NULL, NULL, NULL, OAUTH_MICROSOFT_DEVICE_URL,
	  OAUTH_MICROSOFT_SCOPE },
	/* A tenant's token endpoint gives the same tenant's device endpoint. */
	{ "microsoft", "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
	  NULL, NULL, NULL,
	  "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode",
	  OAUTH_MICROSOFT_SCOPE },
	/* One that does not end like that: the common endpoint. */
	{ "microsoft", "https://proxy.example.com/token", NULL, NULL, NULL,
	  OAUTH_MICROSOFT_DEVICE_URL, OAUTH_MICROSOFT_SCOPE },
	/* The config's URLs win. */
	{ "google", NULL, "http://127.0.0.1:9/authorize", NULL,
	  "http://127.0.0.1:9/authorize", NULL, OAUTH_GOOGLE_SCOPE },
	{ "microsoft", NULL, NULL, "http://127.0.0.1:9/devicecode", NULL,
	  "http://127.0.0.1:9/devicecode", OAUTH_MICROSOFT_SCOPE },
	/* A custom provider: only what is configured, no scope. */
	{ NULL, "https://idp.example.com/token", NULL, NULL, NULL, NULL, NULL },
	{ NULL, "https://idp.example.com/token", "https://idp.example.com/auth",
	  "https://idp.example.com/device", "https://idp.example.com/auth",
	  "https://idp.example.com/device", NULL },
};

static void
test_presets(void)
{
	g_assert_cmpstr(OAUTH_GOOGLE_AUTH_URL, ==, "https://accounts.google.com/o/oauth2/v2/auth");
	g_assert_cmpstr(OAUTH_MICROSOFT_DEVICE_URL, ==,
	    "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode");
	for (gsize i = 0; i < G_N_ELEMENTS(preset_cases); i++) {
		const struct preset_case *c = &preset_cases[i];
		struct imap_config ic = account(c->provider, c->token_url, c->auth_url,
		    c->device_url);
		g_autofree char *dev = oauth_device_url(&ic);

		g_test_message("case %zu", i);
		g_assert_cmpstr(oauth_auth_url(&ic), ==, c->want_auth);
		g_assert_cmpstr(dev, ==, c->want_device);
		g_assert_cmpstr(oauth_onboard_scope(&ic), ==, c->want_scope);
	}
}

static void
test_auth_request(void)
{
	struct imap_config ic = account("google", NULL, NULL, NULL);
	g_autofree char *url = onboard_auth_request(&ic, "http://127.0.0.1:4711/",
	    "st4te", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	g_autofree char *url2 = NULL;

	g_assert_cmpstr(url, ==, "https://accounts.google.com/o/oauth2/v2/auth"
	    "?response_type=code&client_id=123-abc.apps.googleusercontent.com"
	    "&redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2F"
	    "&scope=https%3A%2F%2Fmail.google.com%2F&state=st4te"
	    "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	    "&code_challenge_method=S256&access_type=offline&prompt=consent"
	    "&login_hint=bot%40example.com");
	/* An auth_url with a query of its own: appended with &. */
	ic.auth_url = (char *)"https://idp.example.com/auth?tenant=x";
	ic.user = (char *)"not an address";
	url2 = onboard_auth_request(&ic, "http://127.0.0.1:1/", "s", "c");
	g_assert_true(g_str_has_prefix(url2,
	    "https://idp.example.com/auth?tenant=x&response_type=code&"));
	g_assert_null(strstr(url2, "login_hint"));
}

/* ---- the redirect request ---------------------------------------------- */

struct req_case {
	const char *name;
	const char *head;
	enum onboard_req want;
	const char *code, *state, *error, *desc;
};

static const struct req_case req_cases[] = {
	{ "code", "GET /?state=abc&code=4%2F0Ae-x&scope=https%3A%2F%2Fmail.google.com%2F HTTP/1.1\r\n"
	  "Host: 127.0.0.1\r\n\r\n", ONBOARD_REQ_CALLBACK, "4/0Ae-x", "abc", NULL, NULL },
	{ "bare-lf", "GET /?code=c&state=s HTTP/1.0\n\n", ONBOARD_REQ_CALLBACK,
	  "c", "s", NULL, NULL },
	{ "error", "GET /?error=access_denied&error_description=The+user+said+no&state=s HTTP/1.1\r\n\r\n",
	  ONBOARD_REQ_CALLBACK, NULL, "s", "access_denied", "The user said no" },
	{ "fragment", "GET /?code=c&state=s#x HTTP/1.1\r\n\r\n", ONBOARD_REQ_CALLBACK,
	  "c", "s", NULL, NULL },
	{ "unknown-params-ignored", "GET /?x=1&state=s&authuser=0&code=c HTTP/1.1\r\n\r\n",
	  ONBOARD_REQ_CALLBACK, "c", "s", NULL, NULL },
	{ "favicon", "GET /favicon.ico HTTP/1.1\r\n\r\n", ONBOARD_REQ_OTHER },
	{ "no-query", "GET / HTTP/1.1\r\n\r\n", ONBOARD_REQ_OTHER },
	{ "no-state", "GET /?code=c HTTP/1.1\r\n\r\n", ONBOARD_REQ_OTHER },
	{ "other-path", "GET /cb?code=c&state=s HTTP/1.1\r\n\r\n", ONBOARD_REQ_OTHER },
	{ "post", "POST /?code=c&state=s HTTP/1.1\r\n\r\n", ONBOARD_REQ_BAD },
	{ "http09", "GET /?code=c&state=s\r\n\r\n", ONBOARD_REQ_BAD },
	{ "absolute-form", "GET http://127.0.0.1/?code=c&state=s HTTP/1.1\r\n\r\n", ONBOARD_REQ_BAD },
	{ "two-blanks", "GET  /?code=c&state=s HTTP/1.1\r\n\r\n", ONBOARD_REQ_BAD },
	{ "no-eol", "GET /?code=c&state=s HTTP/1.1", ONBOARD_REQ_BAD },
	{ "state-twice", "GET /?state=s&code=c&state=t HTTP/1.1\r\n\r\n", ONBOARD_REQ_BAD },
	{ "code-twice", "GET /?state=s&code=c&code=d HTTP/1.1\r\n\r\n", ONBOARD_REQ_BAD },
	{ "code-with-space", "GET /?state=s&code=a+b HTTP/1.1\r\n\r\n", ONBOARD_REQ_BAD },
	{ "code-control", "GET /?state=s&code=a%01b HTTP/1.1\r\n\r\n", ONBOARD_REQ_BAD },
	{ "code-empty", "GET /?state=s&code= HTTP/1.1\r\n\r\n", ONBOARD_REQ_BAD },
	{ "bad-escape", "GET /?state=s&code=%zz HTTP/1.1\r\n\r\n", ONBOARD_REQ_BAD },
	{ "empty", "\r\n", ONBOARD_REQ_BAD },
};

static void
test_request(gconstpointer data)
{
	const struct req_case *c = data;
	struct onboard_redirect r;
	enum onboard_req got = onboard_parse_request(c->head, strlen(c->head), &r);

	g_assert_cmpint(got, ==, c->want);
	if (got == ONBOARD_REQ_CALLBACK) {
		g_assert_cmpstr(r.code, ==, c->code);
		g_assert_cmpstr(r.state, ==, c->state);
		g_assert_cmpstr(r.error, ==, c->error);
		g_assert_cmpstr(r.error_description, ==, c->desc);
	} else {
		g_assert_null(r.code);
		g_assert_null(r.state);
	}
	onboard_redirect_clear(&r);
	g_assert_null(r.code);
}

/* A NUL in the request line, and a code beyond the limit. */
static void
test_request_hostile(void)
{
	static const char nul[] = "GET /?state=s&code=c\0x HTTP/1.1\r\n\r\n";
	struct onboard_redirect r;
	GString *big = g_string_new("GET /?state=s&code=");

	g_assert_cmpint(onboard_parse_request(nul, sizeof(nul) - 1, &r), ==,
	    ONBOARD_REQ_BAD);
	for (guint i = 0; i < 4097; i++)
		g_string_append_c(big, 'a');
	g_string_append(big, " HTTP/1.1\r\n\r\n");
	g_assert_cmpint(onboard_parse_request(big->str, big->len, &r), ==,
	    ONBOARD_REQ_BAD);
	g_string_free(big, TRUE);
}

/* ---- the grant and the device endpoint --------------------------------- */

struct grant_case {
	const char *name;
	int status;
	const char *reply;
	int want;
	const char *want_code;       /* error code returned */
	const char *want_err;        /* substring of the error */
};

static const struct grant_case grant_cases[] = {
	{ "ok", 200, "{\"access_token\":\"ya29.a\",\"refresh_token\":\"1//r\",\"token_type\":\"Bearer\"}",
	  0, NULL, NULL },
	{ "pending", 400, "{\"error\":\"authorization_pending\"}", -1,
	  "authorization_pending", "HTTP 400 authorization_pending" },
	{ "slow-down", 400, "{\"error\":\"slow_down\",\"error_description\":\"x\"}", -1,
	  "slow_down", "HTTP 400 slow_down (x)" },
	{ "pending-as-200", 200, "{\"error\":\"authorization_pending\"}", -1,
	  "authorization_pending", "authorization_pending" },
	{ "odd-code", 400, "{\"error\":\"slow down\"}", -1, NULL, "HTTP 400 slow down" },
	{ "not-json", 502, "<html>bad gateway</html>", -1, NULL, "HTTP 502" },
	/* A server echoing the code or the verifier: the text is withheld. */
	{ "echo-code", 400, "{\"error\":\"invalid_grant\",\"error_description\":\"bad code "
	  TEST_CODE "\"}", -1, "invalid_grant", "HTTP 400 invalid_grant" },
	{ "echo-verifier-part", 400, "{\"error\":\"invalid_grant\",\"error_description\":\"verifier "
	  "mB92K27uhbUJU1p1 is wrong\"}", -1, "invalid_grant", "HTTP 400 invalid_grant" },
};

static void
test_grant(gconstpointer data)
{
	const struct grant_case *c = data;
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, "/token");
	struct imap_config ic = account("google", url, NULL, NULL);
	struct oauth_token tok = { NULL, 0, NULL };
	const char *grant[] = { "grant_type", "authorization_code", "code", TEST_CODE,
		"code_verifier", TEST_VERIFIER, NULL };
	const char *sent[] = { TEST_CODE, TEST_VERIFIER, NULL };
	char *err = NULL, *code = (char *)"unset";
	int status = c->status;

	testhttp_set_statuses(srv, &status, 1);
	testhttp_set_reply(srv, c->reply, strlen(c->reply));
	g_assert_cmpint(oauth_grant(&ic, grant, sent, 10, &tok, &code, &err), ==, c->want);
	g_assert_cmpstr(testhttp_last(srv)->body, ==, "grant_type=authorization_code"
	    "&code=4%2F0AeaYSHTEST-code-SECRET-abcdefghijkl"
	    "&code_verifier=" TEST_VERIFIER "&client_id=" TEST_CLIENT_ID);
	g_assert_cmpstr(code, ==, c->want_code);
	if (c->want == 0) {
		g_assert_null(err);
		g_assert_cmpstr(tok.refresh_token, ==, "1//r");
	} else {
		g_test_message("error: %s", err);
		g_assert_nonnull(strstr(err, c->want_err));
		g_assert_null(strstr(err, "SECRET"));
		g_assert_null(strstr(err, "mB92K27u"));
		g_assert_null(tok.access_token);
	}
	g_free(code);
	g_free(err);
	oauth_token_clear(&tok);
	testhttp_free(&srv);
}

struct device_case {
	const char *name;
	int status;
	const char *reply;
	int want;
	const char *want_err;
	const char *want_message;    /* NULL: none kept */
	gint64 want_expires;
	guint want_interval;
};

static const struct device_case device_cases[] = {
	{ "microsoft", 200, "{\"device_code\":\"DAQABAA-SECRET-devicecode\",\"user_code\":\"ABCD-EFGH\","
	  "\"verification_uri\":\"https://microsoft.com/devicelogin\",\"expires_in\":900,"
	  "\"interval\":5,\"message\":\"To sign in, open https://microsoft.com/devicelogin "
	  "and enter ABCD-EFGH.\"}", 0, NULL,
	  "To sign in, open https://microsoft.com/devicelogin and enter ABCD-EFGH.", 900, 5 },
	/* Google's spelling, strings for numbers, no message. */
	{ "google-spelling", 200, "{\"device_code\":\"AH-SECRET-1\",\"user_code\":\"GQVQ-JKEC\","
	  "\"verification_url\":\"https://www.google.com/device\",\"expires_in\":\"1800\","
	  "\"interval\":\"5\"}", 0, NULL, NULL, 1800, 5 },
	/* Absurd numbers are clamped; absent ones defaulted. */
	{ "clamped", 200, "{\"device_code\":\"d-SECRET\",\"user_code\":\"U\","
	  "\"verification_uri\":\"https://x.example/d\",\"expires_in\":99999999,\"interval\":3600}",
	  0, NULL, NULL, OAUTH_DEVICE_MAX, OAUTH_INTERVAL_MAX },
	{ "defaults", 200, "{\"device_code\":\"d-SECRET\",\"user_code\":\"U\","
	  "\"verification_uri\":\"https://x.example/d\"}",
	  0, NULL, NULL, OAUTH_DEVICE_DEFAULT, OAUTH_INTERVAL_DEFAULT },
	/* A message that shows the device code is not shown. */
	{ "message-echoes-device-code", 200, "{\"device_code\":\"DAQABAA-SECRET-devicecode\","
	  "\"user_code\":\"U\",\"verification_uri\":\"https://x.example/d\","
	  "\"message\":\"your DAQABAA-SECRET-devicecode\"}", 0, NULL, NULL, OAUTH_DEVICE_DEFAULT,
	  OAUTH_INTERVAL_DEFAULT },
	{ "no-user-code", 200, "{\"device_code\":\"d\",\"verification_uri\":\"https://x.example/d\"}",
	  -1, "no device_code, user_code or verification_uri" },
	{ "uri-with-blank", 200, "{\"device_code\":\"d\",\"user_code\":\"U\","
	  "\"verification_uri\":\"https://x.example/d evil\"}", -1, "cannot be shown" },
	{ "refused", 400, "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS700016: "
	  "Application not found\"}", -1,
	  "device endpoint: HTTP 400 invalid_client (AADSTS700016: Application not found)" },
	{ "not-json", 200, "hello", -1, "not a JSON object" },
};

static void
test_device(gconstpointer data)
{
	const struct device_case *c = data;
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, "/devicecode");
	struct imap_config ic = account("microsoft", NULL, NULL, url);
	struct oauth_device dev;
	char *err = NULL;
	int status = c->status;

	testhttp_set_statuses(srv, &status, 1);
	testhttp_set_reply(srv, c->reply, strlen(c->reply));
	g_assert_cmpint(oauth_device_start(&ic, 10, &dev, &err), ==, c->want);
	g_assert_cmpstr(testhttp_last(srv)->body, ==, "client_id=" TEST_CLIENT_ID
	    "&scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All%20offline_access");
	if (c->want == 0) {
		g_assert_null(err);
		g_assert_nonnull(dev.device_code);
		g_assert_nonnull(dev.user_code);
		g_assert_nonnull(dev.verification_uri);
		g_assert_cmpstr(dev.message, ==, c->want_message);
		g_assert_cmpint(dev.expires_in, ==, c->want_expires);
		g_assert_cmpuint(dev.interval, ==, c->want_interval);
		oauth_device_clear(&dev);
		g_assert_null(dev.device_code);
	} else {
		g_test_message("error: %s", err);
		g_assert_nonnull(strstr(err, c->want_err));
		g_assert_null(strstr(err, "SECRET"));
		g_assert_null(dev.device_code);
		g_free(err);
	}
	testhttp_free(&srv);
}

/* ---- the atomic write ---------------------------------------------------- */

static void
test_save(void)
{
	g_autofree char *path = g_build_filename(tmpdir, "rt", NULL);
	g_autofree char *bad = g_build_filename(tmpdir, "no-such-dir", "rt", NULL);
	g_autofree char *got = NULL;
	GError *err = NULL;
	struct stat st1, st2;
	GDir *d;
	guint n = 0;

	testutil_write_file(path, "old\n", -1, 0644);
	g_assert_cmpint(stat(path, &st1), ==, 0);
	g_assert_cmpint(oauth_save_refresh_token(path, "1//new-SECRET", &err), ==, 0);
	g_assert_no_error(err);
	g_assert_true(g_file_get_contents(path, &got, NULL, NULL));
	g_assert_cmpstr(got, ==, "1//new-SECRET\n");
	g_assert_cmpint(stat(path, &st2), ==, 0);
	g_assert_cmpint(st2.st_mode & 0777, ==, 0600);
	g_assert_cmpuint(st1.st_ino, !=, st2.st_ino);   /* renamed in */
	d = g_dir_open(tmpdir, 0, NULL);
	while (g_dir_read_name(d) != NULL)
		n++;
	g_dir_close(d);
	g_assert_cmpuint(n, ==, 1);                      /* no temporary left */
	g_assert_cmpint(oauth_save_refresh_token(bad, "1//new-SECRET", &err), ==, -1);
	g_assert_nonnull(err);
	g_test_message("%s", err->message);
	g_assert_null(strstr(err->message, "SECRET"));
	g_assert_null(strstr(err->message, "no-such-dir"));
	g_assert_nonnull(strstr(err->message, "refresh_token_file"));
	g_error_free(err);
}

int
main(int argc, char **argv)
{
	int rc;

	testutil_no_proxy();
	g_test_init(&argc, &argv, NULL);
	tmpdir = testutil_tmpdir_new("test-onboard");

	g_test_add_func("/onboard/pkce", test_pkce);
	g_test_add_func("/onboard/presets", test_presets);
	g_test_add_func("/onboard/auth-request", test_auth_request);
	TESTUTIL_ADD_ROWS("/onboard/request", req_cases, test_request);
	g_test_add_func("/onboard/request/hostile", test_request_hostile);
	TESTUTIL_ADD_ROWS("/onboard/grant", grant_cases, test_grant);
	TESTUTIL_ADD_ROWS("/onboard/device", device_cases, test_device);
	g_test_add_func("/onboard/save", test_save);
	rc = g_test_run();
	testutil_tmpdir_free(&tmpdir);
	return rc;
}
