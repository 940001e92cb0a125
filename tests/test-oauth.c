/*
 * test-oauth.c - oauth.c against an in-test token endpoint on 127.0.0.1:
 * presets and token_url, the exact form sent, success and expiry, token
 * rotation, every kind of error and its text, freshness margins, and that
 * no error ever shows the refresh token or the client secret; an IMAP
 * account's token cache (reuse, refresh, rotation saved or kept in memory).
 *
 * The token endpoint is testhttp.c's server: it records each request
 * and answers with the scripted status and body.
 */
#include "autoconfig.h"

#include <string.h>
#include <gio/gio.h>

#include "config.h"
#include "oauth.h"
#include "testhttp.h"
#include "testutil.h"

#define TEST_RT        "1//0gTEST-refresh-SECRET_token-abcdefghijklmnop"
#define TEST_SECRET    "GOCSPX-client-SECRET-0123456789"
#define TEST_CLIENT_ID "123-abc.apps.googleusercontent.com"
#define TEST_PATH      "/token"

static char *tmpdir;
static char *secret_path;      /* holds TEST_SECRET */

/* ---- the scripted token endpoint --------------------------------------- */

/* The next replies: status and body. */
static void
srv_script(struct testhttp *srv, int status, const char *reply)
{
	testhttp_set_statuses(srv, &status, 1);
	testhttp_set_reply(srv, reply, strlen(reply));
}

/* ---- helpers ----------------------------------------------------------- */

/* An account as config.c would make it (strings borrowed). */
static struct imap_config
account(const char *provider, const char *token_url, gboolean with_secret)
{
	struct imap_config ic;

	memset(&ic, 0, sizeof(ic));
	ic.name = (char *)"t";
	ic.host = (char *)"imap.example.com";
	ic.user = (char *)"bot@example.com";
	ic.auth = IMAP_AUTH_XOAUTH2;
	ic.oauth2_provider = (char *)provider;
	ic.token_url = (char *)token_url;
	ic.client_id = (char *)TEST_CLIENT_ID;
	ic.client_secret_file = with_secret ? secret_path : NULL;
	return ic;
}

/* No error text may hold a secret, whole or in part. */
static void
check_err_clean(const char *err)
{
	g_assert_nonnull(err);
	g_assert_cmpstr(err, !=, "");
	g_assert_null(strstr(err, "SECRET"));
	g_assert_null(strstr(err, TEST_RT));
	g_assert_null(strstr(err, TEST_SECRET));
	g_assert_null(strstr(err, "abcdefghijklmnop"));
	for (const char *p = err; *p != '\0'; p++) {
		g_assert_cmpint((guchar)*p, >=, 0x20);
		g_assert_cmpint((guchar)*p, <, 0x7f);
	}
}

/*
 * Runs one refresh that must fail; *tok must come back untouched.
 * Returns the error (g_malloc'd), already checked for secrets.
 */
static char *
refresh_fail(const struct imap_config *ic, const char *rt)
{
	struct oauth_token tok = { NULL, 0, NULL };
	char *err = NULL;

	tok.access_token = g_strdup("old-access");
	tok.expires_at = 42;
	tok.refresh_token = g_strdup("old-rotated");
	g_assert_cmpint(oauth_refresh(ic, rt, 10, &tok, &err), ==, -1);
	g_test_message("error: %s", err);
	check_err_clean(err);
	g_assert_cmpstr(tok.access_token, ==, "old-access");
	g_assert_cmpint(tok.expires_at, ==, 42);
	g_assert_cmpstr(tok.refresh_token, ==, "old-rotated");
	oauth_token_clear(&tok);
	return err;
}

/* ---- presets ----------------------------------------------------------- */

struct preset_case {
	const char *provider;
	const char *token_url;
	const char *want_url;
	const char *want_scope;
};

static const struct preset_case preset_cases[] = {
	{ "google", NULL, OAUTH_GOOGLE_TOKEN_URL, NULL },
	{ "microsoft", NULL, OAUTH_MICROSOFT_TOKEN_URL, OAUTH_MICROSOFT_SCOPE },
	{ NULL, "https://idp.example.com/oauth2/token", "https://idp.example.com/oauth2/token", NULL },
	{ "google", "https://google-proxy.example.com/token",
	  "https://google-proxy.example.com/token", NULL },
	/* A tenant's own endpoint keeps the Microsoft scope. */
	{ "microsoft", "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
	  "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
	  OAUTH_MICROSOFT_SCOPE },
	{ "microsoft", "", OAUTH_MICROSOFT_TOKEN_URL, OAUTH_MICROSOFT_SCOPE },
	{ NULL, NULL, NULL, NULL },
	{ NULL, "", NULL, NULL },
};

static void
test_presets(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(preset_cases); i++) {
		const struct preset_case *c = &preset_cases[i];
		struct imap_config ic = account(c->provider, c->token_url, FALSE);

		g_test_message("provider %s token_url %s", c->provider, c->token_url);
		g_assert_cmpstr(oauth_token_url(&ic), ==, c->want_url);
		g_assert_cmpstr(oauth_scope(&ic), ==, c->want_scope);
	}
	g_assert_cmpstr(OAUTH_GOOGLE_TOKEN_URL, ==, "https://oauth2.googleapis.com/token");
	g_assert_cmpstr(OAUTH_MICROSOFT_TOKEN_URL, ==,
	    "https://login.microsoftonline.com/common/oauth2/v2.0/token");
}

/* ---- the form sent ----------------------------------------------------- */

struct form_case {
	const char *name;
	const char *provider;
	gboolean with_secret;
	const char *want;
};

static const struct form_case form_cases[] = {
	{ "google-with-secret", "google", TRUE,
	  "grant_type=refresh_token"
	  "&refresh_token=1%2F%2F0gTEST-refresh-SECRET_token-abcdefghijklmnop"
	  "&client_id=123-abc.apps.googleusercontent.com"
	  "&client_secret=GOCSPX-client-SECRET-0123456789" },
	{ "public-client", NULL, FALSE,
	  "grant_type=refresh_token"
	  "&refresh_token=1%2F%2F0gTEST-refresh-SECRET_token-abcdefghijklmnop"
	  "&client_id=123-abc.apps.googleusercontent.com" },
	{ "microsoft-scope", "microsoft", FALSE,
	  "grant_type=refresh_token"
	  "&refresh_token=1%2F%2F0gTEST-refresh-SECRET_token-abcdefghijklmnop"
	  "&client_id=123-abc.apps.googleusercontent.com"
	  "&scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All%20offline_access" },
	{ "microsoft-scope-and-secret", "microsoft", TRUE,
	  "grant_type=refresh_token"
	  "&refresh_token=1%2F%2F0gTEST-refresh-SECRET_token-abcdefghijklmnop"
	  "&client_id=123-abc.apps.googleusercontent.com"
	  "&client_secret=GOCSPX-client-SECRET-0123456789"
	  "&scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All%20offline_access" },
};

static void
test_form(gconstpointer data)
{
	const struct form_case *c = data;
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct imap_config ic = account(c->provider, url, c->with_secret);
	struct oauth_token tok = { NULL, 0, NULL };
	const struct testhttp_req *r;
	char *err = NULL;

	srv_script(srv, 200, "{\"access_token\":\"ya29.x\",\"token_type\":\"Bearer\"}");
	g_assert_cmpint(oauth_refresh(&ic, TEST_RT, 10, &tok, &err), ==, 0);
	g_assert_null(err);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 1);
	r = testhttp_last(srv);
	g_assert_cmpstr(r->path, ==, TEST_PATH);
	g_assert_cmpstr(testhttp_req_header(r, "content-type", NULL), ==,
	    "application/x-www-form-urlencoded");
	g_assert_cmpstr(testhttp_req_header(r, "accept", NULL), ==, "application/json");
	g_assert_cmpstr(r->body, ==, c->want);
	oauth_token_clear(&tok);
	testhttp_free(&srv);
}

/* ---- success ----------------------------------------------------------- */

struct ok_case {
	const char *name;
	const char *reply;
	const char *access_token;
	const char *refresh_token;   /* NULL: none rotated */
	gint64 lifetime;             /* seconds expires_at is from the request */
};

static const struct ok_case ok_cases[] = {
	{ "google", "{\"access_token\":\"ya29.a0AfH6SMB-x_y.z~\",\"expires_in\":3599,"
	  "\"scope\":\"https://mail.google.com/\",\"token_type\":\"Bearer\"}",
	  "ya29.a0AfH6SMB-x_y.z~", NULL, 3599 },
	{ "no-expires-in", "{\"access_token\":\"t1\",\"token_type\":\"Bearer\"}",
	  "t1", NULL, OAUTH_EXPIRES_DEFAULT },
	{ "no-token-type", "{\"access_token\":\"t2\",\"expires_in\":600}", "t2", NULL, 600 },
	{ "bearer-lower", "{\"access_token\":\"t3\",\"token_type\":\"bearer\"}",
	  "t3", NULL, OAUTH_EXPIRES_DEFAULT },
	{ "bearer-upper", "{\"access_token\":\"t4\",\"token_type\":\"BEARER\"}",
	  "t4", NULL, OAUTH_EXPIRES_DEFAULT },
	{ "expires-string", "{\"access_token\":\"t5\",\"expires_in\":\"3599\"}", "t5", NULL, 3599 },
	{ "expires-short", "{\"access_token\":\"t6\",\"expires_in\":5}", "t6", NULL, 30 },
	{ "expires-zero", "{\"access_token\":\"t7\",\"expires_in\":0}", "t7", NULL, 30 },
	{ "expires-negative", "{\"access_token\":\"t8\",\"expires_in\":-100}", "t8", NULL, 30 },
	{ "expires-huge", "{\"access_token\":\"t9\",\"expires_in\":1000000000000}",
	  "t9", NULL, 86400 * 30 },
	{ "expires-overflow", "{\"access_token\":\"t10\",\"expires_in\":99999999999999999999}",
	  "t10", NULL, -1 },
	{ "expires-bogus", "{\"access_token\":\"t11\",\"expires_in\":\"soon\"}",
	  "t11", NULL, OAUTH_EXPIRES_DEFAULT },
	{ "microsoft-rotated",
	  "{\"token_type\":\"Bearer\",\"scope\":\"https://outlook.office.com/IMAP.AccessAsUser.All\","
	  "\"expires_in\":4780,\"ext_expires_in\":4780,\"access_token\":\"eyJ0.eyJh.c2ln\","
	  "\"refresh_token\":\"0.AXoA-rotated\"}",
	  "eyJ0.eyJh.c2ln", "0.AXoA-rotated", 4780 },
	{ "empty-refresh-ignored", "{\"access_token\":\"t12\",\"refresh_token\":\"\"}",
	  "t12", NULL, OAUTH_EXPIRES_DEFAULT },
	{ "error-beside-token", "{\"access_token\":\"t13\",\"error\":\"odd\"}",
	  "t13", NULL, OAUTH_EXPIRES_DEFAULT },
};

static void
test_ok(gconstpointer data)
{
	const struct ok_case *c = data;
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct imap_config ic = account("google", url, TRUE);
	struct oauth_token tok = { NULL, 0, NULL };
	gint64 before, after;
	char *err = NULL;

	srv_script(srv, 200, c->reply);
	before = g_get_monotonic_time();
	g_assert_cmpint(oauth_refresh(&ic, TEST_RT, 10, &tok, &err), ==, 0);
	after = g_get_monotonic_time();
	g_assert_null(err);
	g_assert_cmpstr(tok.access_token, ==, c->access_token);
	g_assert_cmpstr(tok.refresh_token, ==, c->refresh_token);
	if (c->lifetime >= 0) {
		g_assert_cmpint(tok.expires_at, >=, before + c->lifetime * G_USEC_PER_SEC);
		g_assert_cmpint(tok.expires_at, <=, after + c->lifetime * G_USEC_PER_SEC);
	} else {
		/* Whatever json-glib makes of it: within the clamp. */
		g_assert_cmpint(tok.expires_at, >=, before + 30 * G_USEC_PER_SEC);
		g_assert_cmpint(tok.expires_at, <=, after + (gint64)86400 * 30 * G_USEC_PER_SEC);
	}
	g_assert_true(oauth_token_fresh(&tok, after, 0));
	oauth_token_clear(&tok);
	testhttp_free(&srv);
}

/*
 * Rotation: a returned refresh token lands in tok and may be passed back
 * as tok->refresh_token itself; a reply without one keeps it; a failure
 * keeps everything.
 */
static void
test_rotation(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct imap_config ic = account("microsoft", url, FALSE);
	struct oauth_token tok = { NULL, 0, NULL };
	char *err = NULL;

	srv_script(srv, 200, "{\"access_token\":\"a1\",\"refresh_token\":\"r1-rotated\","
	    "\"expires_in\":3600,\"token_type\":\"Bearer\"}");
	g_assert_cmpint(oauth_refresh(&ic, TEST_RT, 10, &tok, &err), ==, 0);
	g_assert_cmpstr(tok.access_token, ==, "a1");
	g_assert_cmpstr(tok.refresh_token, ==, "r1-rotated");

	srv_script(srv, 200, "{\"access_token\":\"a2\",\"refresh_token\":\"r2-rotated\"}");
	g_assert_cmpint(oauth_refresh(&ic, tok.refresh_token, 10, &tok, &err), ==, 0);
	g_assert_nonnull(strstr(testhttp_last(srv)->body, "&refresh_token=r1-rotated&"));
	g_assert_cmpstr(tok.access_token, ==, "a2");
	g_assert_cmpstr(tok.refresh_token, ==, "r2-rotated");

	srv_script(srv, 200, "{\"access_token\":\"a3\"}");
	g_assert_cmpint(oauth_refresh(&ic, tok.refresh_token, 10, &tok, &err), ==, 0);
	g_assert_nonnull(strstr(testhttp_last(srv)->body, "&refresh_token=r2-rotated&"));
	g_assert_cmpstr(tok.access_token, ==, "a3");
	g_assert_cmpstr(tok.refresh_token, ==, "r2-rotated");

	srv_script(srv, 400, "{\"error\":\"invalid_grant\"}");
	g_assert_cmpint(oauth_refresh(&ic, tok.refresh_token, 10, &tok, &err), ==, -1);
	g_assert_cmpstr(err, ==, "token endpoint: HTTP 400 invalid_grant");
	g_assert_cmpstr(tok.access_token, ==, "a3");
	g_assert_cmpstr(tok.refresh_token, ==, "r2-rotated");
	g_free(err);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 4);
	oauth_token_clear(&tok);
	testhttp_free(&srv);
}

/* ---- errors ------------------------------------------------------------ */

struct fail_case {
	const char *name;
	int status;
	const char *reply;
	const char *want;            /* the whole error */
};

static const struct fail_case fail_cases[] = {
	{ "invalid-grant", 400,
	  "{\"error\":\"invalid_grant\",\"error_description\":\"Token has been expired or revoked.\"}",
	  "token endpoint: HTTP 400 invalid_grant (Token has been expired or revoked.)" },
	{ "invalid-grant-no-description", 400, "{\"error\":\"invalid_grant\"}",
	  "token endpoint: HTTP 400 invalid_grant" },
	{ "invalid-client", 401,
	  "{\"error\":\"invalid_client\",\"error_description\":\"Unauthorized\"}",
	  "token endpoint: HTTP 401 invalid_client (Unauthorized)" },
	{ "microsoft-aadsts", 400,
	  "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS700082: The refresh token "
	  "has expired due to inactivity.\\r\\nTrace ID: 1f\\r\\nCorrelation ID: 2e\","
	  "\"error_codes\":[700082]}",
	  "token endpoint: HTTP 400 invalid_grant (AADSTS700082: The refresh token has expired "
	  "due to inactivity. Trace ID: 1f Correlation ID: 2e)" },
	{ "unavailable-html", 503, "<html><body>Service Unavailable</body></html>",
	  "token endpoint: HTTP 503" },
	{ "server-error-empty", 500, "", "token endpoint: HTTP 500" },
	{ "error-not-string", 400, "{\"error\":400,\"error_description\":\"x\"}",
	  "token endpoint: HTTP 400" },
	{ "error-empty", 400, "{\"error\":\" \",\"error_description\":\"x\"}",
	  "token endpoint: HTTP 400" },
	{ "redirect", 302, "{}", "token endpoint: HTTP 302" },
	{ "created", 201, "{\"access_token\":\"t\"}", "token endpoint: HTTP 201" },
	/* The server's text: printable ASCII, cut. */
	{ "description-sanitised", 400,
	  "{\"error\":\"invalid_grant\",\"error_description\":\"caf\\u00e9 \\u001b[31mred\\u0007"
	  "\\t\\t tab \\ud83d\\udd11 key\"}",
	  "token endpoint: HTTP 400 invalid_grant (caf? [31mred tab ? key)" },
	{ "error-code-sanitised", 400, "{\"error\":\"bad\\ncode\\u00e9\"}",
	  "token endpoint: HTTP 400 bad code?" },
	/* Echoes of what we sent: withheld. */
	{ "description-echoes-refresh-token", 400,
	  "{\"error\":\"invalid_grant\",\"error_description\":\"Bad refresh token "
	  TEST_RT " for client " TEST_CLIENT_ID "\"}",
	  "token endpoint: HTTP 400 invalid_grant" },
	{ "description-echoes-refresh-token-encoded", 400,
	  "{\"error\":\"invalid_grant\",\"error_description\":\"refresh_token="
	  "1%2F%2F0gTEST-refresh-SECRET_token-abcdefghijklmnop\"}",
	  "token endpoint: HTTP 400 invalid_grant" },
	{ "description-echoes-part-of-refresh-token", 400,
	  "{\"error\":\"invalid_grant\",\"error_description\":\"token ...abcdefghijkl... invalid\"}",
	  "token endpoint: HTTP 400 invalid_grant" },
	{ "description-echoes-client-secret", 401,
	  "{\"error\":\"invalid_client\",\"error_description\":\"secret GOCSPX-client-SECRET-0123456789"
	  " is wrong\"}",
	  "token endpoint: HTTP 401 invalid_client" },
	{ "error-echoes-refresh-token", 400,
	  "{\"error\":\"" TEST_RT "\",\"error_description\":\"x\"}",
	  "token endpoint: HTTP 400" },
	{ "description-echo-beyond-cut", 400,
	  "{\"error\":\"invalid_grant\",\"error_description\":\""
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx "
	  TEST_RT "\"}",
	  "token endpoint: HTTP 400 invalid_grant" },
	/* HTTP 200 that is not a token */
	{ "ok-no-access-token", 200, "{\"token_type\":\"Bearer\",\"expires_in\":3600}",
	  "token endpoint: HTTP 200 but no access_token in the reply" },
	{ "ok-empty-access-token", 200, "{\"access_token\":\"\"}",
	  "token endpoint: HTTP 200 but no access_token in the reply" },
	{ "ok-access-token-not-string", 200, "{\"access_token\":12345}",
	  "token endpoint: HTTP 200 but no access_token in the reply" },
	{ "ok-with-error", 200,
	  "{\"error\":\"invalid_grant\",\"error_description\":\"Token has been expired or revoked.\"}",
	  "token endpoint: HTTP 200 invalid_grant (Token has been expired or revoked.)" },
	{ "ok-not-json", 200, "access_token=t&expires_in=3600",
	  "token endpoint: HTTP 200 but the reply is not a JSON object" },
	{ "ok-array", 200, "[{\"access_token\":\"t\"}]",
	  "token endpoint: HTTP 200 but the reply is not a JSON object" },
	{ "token-type-mac", 200, "{\"access_token\":\"t\",\"token_type\":\"mac\"}",
	  "token endpoint: token_type 'mac' is not Bearer" },
	{ "token-type-empty", 200, "{\"access_token\":\"t\",\"token_type\":\"\"}",
	  "token endpoint: the token_type is not Bearer" },
	{ "token-type-echoes-token", 200,
	  "{\"access_token\":\"ya29.access-token-value\",\"token_type\":\"ya29.access-token-value\"}",
	  "token endpoint: the token_type is not Bearer" },
	{ "access-token-control", 200, "{\"access_token\":\"a\\u0001auth=Bearer x\"}",
	  "token endpoint: the access_token is not printable ASCII" },
	{ "access-token-space", 200, "{\"access_token\":\"a b\"}",
	  "token endpoint: the access_token is not printable ASCII" },
	{ "access-token-utf8", 200, "{\"access_token\":\"t\\u00e9\"}",
	  "token endpoint: the access_token is not printable ASCII" },
	{ "refresh-token-newline", 200, "{\"access_token\":\"t\",\"refresh_token\":\"r\\nx\"}",
	  "token endpoint: the refresh_token is not printable ASCII" },
};

static void
test_fail(gconstpointer data)
{
	const struct fail_case *c = data;
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct imap_config ic = account("google", url, TRUE);
	g_autofree char *err = NULL;

	srv_script(srv, c->status, c->reply);
	err = refresh_fail(&ic, TEST_RT);
	g_assert_cmpstr(err, ==, c->want);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 1);
	testhttp_free(&srv);
}

/* A long description is cut to about 200 bytes, marked "...". */
static void
test_fail_long_description(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct imap_config ic = account("google", url, TRUE);
	GString *reply = g_string_new("{\"error\":\"invalid_grant\",\"error_description\":\"");
	g_autofree char *err = NULL;
	const char *open;

	for (guint i = 0; i < 100; i++)
		g_string_append(reply, "0123456789 ");
	g_string_append(reply, "\"}");
	srv_script(srv, 400, reply->str);
	err = refresh_fail(&ic, TEST_RT);
	g_assert_true(g_str_has_prefix(err,
	    "token endpoint: HTTP 400 invalid_grant (0123456789 0123456789 "));
	g_assert_true(g_str_has_suffix(err, "...)"));
	open = strchr(err, '(');
	g_assert_nonnull(open);
	g_assert_cmpuint(strlen(open), <=, 200 + 5);
	g_assert_cmpuint(strlen(open), >=, 150);
	g_string_free(reply, TRUE);
	testhttp_free(&srv);
}

/* Nothing listens: curl's words, no request, tok untouched. */
static void
test_unreachable(void)
{
	guint16 port;
	g_autoptr(GSocket) s = testhttp_refusing(&port);   /* held: nobody listens */
	g_autofree char *url = g_strdup_printf("http://127.0.0.1:%u" TEST_PATH, port);
	struct imap_config ic = account("google", url, TRUE);
	g_autofree char *err = refresh_fail(&ic, TEST_RT);

	(void)s;
	g_assert_true(g_str_has_prefix(err, "token endpoint: "));
	g_assert_cmpuint(strlen(err), >, strlen("token endpoint: "));
}

/* Errors found before any request is sent. */
static void
test_local_errors(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	g_autofree char *missing = g_build_filename(tmpdir, "no-such-secret", NULL);
	g_autofree char *empty = g_build_filename(tmpdir, "empty-secret", NULL);
	struct imap_config ic;
	char *err;

	testutil_write_file(empty, "\n", -1, -1);

	ic = account("google", url, TRUE);
	ic.client_secret_file = missing;
	err = refresh_fail(&ic, TEST_RT);
	g_assert_nonnull(strstr(err, missing));
	g_free(err);

	ic.client_secret_file = empty;
	err = refresh_fail(&ic, TEST_RT);
	g_assert_nonnull(strstr(err, "empty"));
	g_free(err);

	ic = account(NULL, NULL, FALSE);
	err = refresh_fail(&ic, TEST_RT);
	g_assert_cmpstr(err, ==, "token endpoint: neither token_url nor oauth2_provider is set");
	g_free(err);

	ic = account("google", url, FALSE);
	ic.client_id = NULL;
	err = refresh_fail(&ic, TEST_RT);
	g_assert_cmpstr(err, ==, "token endpoint: no client_id");
	g_free(err);

	ic = account("google", url, FALSE);
	err = refresh_fail(&ic, "");
	g_assert_cmpstr(err, ==, "token endpoint: no refresh token");
	g_free(err);
	err = refresh_fail(&ic, NULL);
	g_assert_cmpstr(err, ==, "token endpoint: no refresh token");
	g_free(err);

	/* Only http(s): the check is httpc.c's, the words curl's. */
	ic = account(NULL, "file:///etc/passwd", FALSE);
	err = refresh_fail(&ic, TEST_RT);
	g_assert_true(g_str_has_prefix(err, "token endpoint: "));
	g_free(err);

	g_assert_cmpuint(testhttp_nreqs(srv), ==, 0);
	testhttp_free(&srv);
}

/* ---- freshness and clearing ------------------------------------------- */

struct fresh_case {
	const char *access_token;
	gint64 expires_at;
	gint64 now;
	guint margin;
	gboolean want;
};

#define S ((gint64)G_USEC_PER_SEC)

static const struct fresh_case fresh_cases[] = {
	{ "t", 1000 * S, 0, 0, TRUE },
	{ "t", 1000 * S, 940 * S, 60, TRUE },        /* exactly the margin left */
	{ "t", 1000 * S, 940 * S + 1, 60, FALSE },   /* a microsecond less */
	{ "t", 1000 * S, 999 * S, 0, TRUE },
	{ "t", 1000 * S, 1000 * S, 0, TRUE },        /* 0 s left, 0 s asked */
	{ "t", 1000 * S, 1000 * S + 1, 0, FALSE },   /* expired */
	{ "t", 1000 * S, 5000 * S, 60, FALSE },
	{ "t", 1000 * S, 0, 1000, TRUE },
	{ "t", 1000 * S, 0, 1001, FALSE },
	{ "t", 1000 * S, 0, G_MAXUINT, FALSE },      /* no overflow */
	{ "t", G_MAXINT64 / 2, 0, G_MAXUINT, TRUE },
	{ NULL, 1000 * S, 0, 0, FALSE },             /* no token */
	{ "", 1000 * S, 0, 0, FALSE },
};

#undef S

static void
test_fresh(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(fresh_cases); i++) {
		const struct fresh_case *c = &fresh_cases[i];
		struct oauth_token tok = { (char *)c->access_token, c->expires_at, NULL };

		g_test_message("case %" G_GSIZE_FORMAT, i);
		g_assert_cmpint(oauth_token_fresh(&tok, c->now, c->margin), ==, c->want);
	}
}

static void
test_clear(void)
{
	struct oauth_token tok = { NULL, 0, NULL };

	oauth_token_clear(&tok);
	tok.access_token = g_strdup("access");
	tok.refresh_token = g_strdup("refresh");
	tok.expires_at = 1234;
	oauth_token_clear(&tok);
	g_assert_null(tok.access_token);
	g_assert_null(tok.refresh_token);
	g_assert_cmpint(tok.expires_at, ==, 0);
	g_assert_false(oauth_token_fresh(&tok, 0, 0));
	oauth_token_clear(&tok);
}

/* ---- the token cache of an IMAP account (oauth_cache_*) --------------- */

/* Reads path whole (the test fails when it cannot); g_malloc'd. */
static char *
cache_file(const char *path)
{
	char *data = NULL;

	g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
	return data;
}

/*
 * The cache: a refresh from refresh_token_file when empty; the token
 * reused while it has the margin, refreshed when it has not or was
 * dropped; a rotated refresh token saved to the file and used next; one
 * that cannot be saved kept in memory (a warning says so) and preferred
 * to the file; a failed refresh and an unreadable file give the error and
 * no token.
 */
static void
test_cache(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct imap_config ic = account("microsoft", url, FALSE);
	g_autofree char *rtf = g_build_filename(tmpdir, "cache.rt", NULL);
	g_autofree char *name = g_strnfill(250, 'r');
	g_autofree char *longf = g_build_filename(tmpdir, name, NULL);
	g_autofree char *missing = g_build_filename(tmpdir, "missing.rt", NULL);
	struct oauth_cache c;
	gboolean refreshed = FALSE;
	const char *t;
	char *err = NULL, *data;

	memset(&c, 0, sizeof(c));
	g_assert_true(g_file_set_contents(rtf, TEST_RT "\n", -1, NULL));
	ic.refresh_token_file = rtf;
	ic.timeout = 10;

	/* Empty: refreshed with the file's token. */
	srv_script(srv, 200, "{\"access_token\":\"a1\",\"expires_in\":3600}");
	t = oauth_cache_token(&c, &ic, 60, &refreshed, &err);
	g_assert_null(err);
	g_assert_cmpstr(t, ==, "a1");
	g_assert_true(refreshed);
	g_assert_nonnull(strstr(testhttp_last(srv)->body, "0gTEST-refresh-SECRET_token"));

	/* Fresh for the margin: reused, nothing sent. */
	refreshed = FALSE;
	t = oauth_cache_token(&c, &ic, 60, &refreshed, &err);
	g_assert_cmpstr(t, ==, "a1");
	g_assert_false(refreshed);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 1);

	/* Not fresh for a margin longer than its life: refreshed; the
	 * provider rotates the refresh token, which is saved to the file. */
	srv_script(srv, 200, "{\"access_token\":\"a2\",\"refresh_token\":\"r-rotated-1\"}");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
	    "imap=t result=refresh-token-rotated saved=*cache.rt");
	t = oauth_cache_token(&c, &ic, 7200, &refreshed, &err);
	g_test_assert_expected_messages();
	g_assert_cmpstr(t, ==, "a2");
	g_assert_true(refreshed);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 2);
	g_assert_null(c.rotated);
	data = cache_file(rtf);
	g_assert_cmpstr(data, ==, "r-rotated-1\n");
	g_free(data);

	/* Dropped (the server refused it): refreshed with the saved one. */
	oauth_cache_drop(&c);
	srv_script(srv, 200, "{\"access_token\":\"a3\"}");
	t = oauth_cache_token(&c, &ic, 60, &refreshed, &err);
	g_assert_cmpstr(t, ==, "a3");
	g_assert_nonnull(strstr(testhttp_last(srv)->body, "&refresh_token=r-rotated-1&"));

	/* A rotation that cannot be saved (the temporary file's name is too
	 * long, whoever we are): kept in memory, with a warning. */
	g_assert_true(g_file_set_contents_full(longf, "r-in-file\n", -1,
	    G_FILE_SET_CONTENTS_NONE, 0600, NULL));   /* in place: no temporary */
	ic.refresh_token_file = longf;
	oauth_cache_drop(&c);
	srv_script(srv, 200, "{\"access_token\":\"a4\",\"refresh_token\":\"r-in-memory\"}");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
	    "imap=t result=refresh-token-rotated error=\"cannot save it: *\" "
	    "(kept in memory; the old one is used after a restart)");
	t = oauth_cache_token(&c, &ic, 60, &refreshed, &err);
	g_test_assert_expected_messages();
	g_assert_cmpstr(t, ==, "a4");
	g_assert_nonnull(strstr(testhttp_last(srv)->body, "&refresh_token=r-in-file&"));
	g_assert_cmpstr(c.rotated, ==, "r-in-memory");
	data = cache_file(longf);
	g_assert_cmpstr(data, ==, "r-in-file\n");
	g_free(data);

	/* The one in memory wins over the file's from then on. */
	oauth_cache_drop(&c);
	srv_script(srv, 200, "{\"access_token\":\"a5\"}");
	t = oauth_cache_token(&c, &ic, 60, &refreshed, &err);
	g_assert_cmpstr(t, ==, "a5");
	g_assert_nonnull(strstr(testhttp_last(srv)->body, "&refresh_token=r-in-memory&"));

	/* A refresh that fails: no token, the endpoint's error. */
	oauth_cache_drop(&c);
	srv_script(srv, 400, "{\"error\":\"invalid_grant\"}");
	t = oauth_cache_token(&c, &ic, 60, &refreshed, &err);
	g_assert_null(t);
	g_assert_cmpstr(err, ==, "token endpoint: HTTP 400 invalid_grant");
	g_clear_pointer(&err, g_free);
	g_assert_null(c.token.access_token);

	/* Cleared, with an unreadable file: its error, nothing sent. */
	oauth_cache_clear(&c);
	g_assert_null(c.rotated);
	ic.refresh_token_file = missing;
	t = oauth_cache_token(&c, &ic, 60, &refreshed, &err);
	g_assert_null(t);
	g_assert_true(g_str_has_prefix(err, "refresh_token_file: "));
	check_err_clean(err);
	g_free(err);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 6);
	oauth_cache_clear(&c);
	testhttp_free(&srv);
}

int
main(int argc, char **argv)
{
	int rc;

	testutil_no_proxy();
	g_test_init(&argc, &argv, NULL);
	tmpdir = testutil_tmpdir_new("test-oauth");
	secret_path = g_build_filename(tmpdir, "client.secret", NULL);
	testutil_write_file(secret_path, TEST_SECRET "\n", -1, -1);

	g_test_add_func("/oauth/presets", test_presets);
	TESTUTIL_ADD_ROWS("/oauth/form", form_cases, test_form);
	TESTUTIL_ADD_ROWS("/oauth/ok", ok_cases, test_ok);
	g_test_add_func("/oauth/rotation", test_rotation);
	TESTUTIL_ADD_ROWS("/oauth/fail", fail_cases, test_fail);
	g_test_add_func("/oauth/fail/long-description", test_fail_long_description);
	g_test_add_func("/oauth/fail/unreachable", test_unreachable);
	g_test_add_func("/oauth/fail/local", test_local_errors);
	g_test_add_func("/oauth/fresh", test_fresh);
	g_test_add_func("/oauth/clear", test_clear);
	g_test_add_func("/oauth/cache", test_cache);
	rc = g_test_run();
	testutil_rm_rf(tmpdir);
	g_free(secret_path);
	g_free(tmpdir);
	return rc;
}
