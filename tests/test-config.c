/*
 * test-config.c - config.c: built-in defaults, a full SPEC 3 config,
 * file:line errors for every kind of bad value, relative paths, secrets
 * from files and the environment.
 */
#include "autoconfig.h"

#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "config.h"
#include "util.h"
#include "testutil.h"

#define ENV_KEY "OTPBRIDGE_API_KEY"

static char *tmpdir;
static guint dir_seq;

/* Modes of the key-MODE files in every new_dir(). */
static const guint secret_modes[] = { 0644, 0640, 0660, 0602, 0604, 0400 };

/* A fresh directory under tmpdir holding the secrets configs refer to. */
static char *
new_dir(void)
{
	char *d = g_strdup_printf("%s/c%u", tmpdir, dir_seq++);
	g_autofree char *key = g_build_filename(d, "api-key", NULL);
	g_autofree char *pass = g_build_filename(d, "work.pass", NULL);
	g_autofree char *ca = g_build_filename(d, "ca.pem", NULL);
	g_autofree char *tok = g_build_filename(d, "refresh.token", NULL);
	g_autofree char *sec = g_build_filename(d, "client.secret", NULL);
	g_autofree char *sign = g_build_filename(d, "signing-key", NULL);
	g_autofree char *empty = g_build_filename(d, "empty-key", NULL);

	g_assert_cmpint(g_mkdir(d, 0700), ==, 0);
	testutil_write_file(key, "file-api-key-SECRET\n", -1, 0600);
	testutil_write_file(pass, "hunter2-SECRET\n", -1, 0600);
	testutil_write_file(ca, "-----BEGIN CERTIFICATE-----\n", -1, -1);
	testutil_write_file(tok, "1//refresh-SECRET\n", -1, 0600);
	testutil_write_file(sec, "client-SECRET\n", -1, 0600);
	testutil_write_file(sign, "signing-key-SECRET\r\n", -1, 0600);
	testutil_write_file(empty, "\n", -1, 0600);
	/* The same secret with modes the ssh rule refuses (and one it takes). */
	for (gsize i = 0; i < G_N_ELEMENTS(secret_modes); i++) {
		g_autofree char *name = g_strdup_printf("key-%04o", secret_modes[i]);
		g_autofree char *p = g_build_filename(d, name, NULL);
		testutil_write_file(p, "file-api-key-SECRET\n", -1, (int)secret_modes[i]);
	}
	return d;
}

/* Writes text as dir/otpbridge.conf; returns the path. */
static char *
write_conf(const char *dir, const char *text)
{
	char *path = g_build_filename(dir, "otpbridge.conf", NULL);

	testutil_write_file(path, text, -1, -1);
	return path;
}

/* Writes text into a fresh dir and loads it; asserts success. */
static struct config *
load_text_ok(const char *text, char **dir_r)
{
	g_autofree char *dir = new_dir();
	g_autofree char *path = write_conf(dir, text);
	g_autoptr(GError) err = NULL;
	struct config *cfg = NULL;

	if (config_load(path, TRUE, &cfg, &err) < 0)
		g_test_message("unexpected error: %s", err->message);
	g_assert_no_error(err);
	g_assert_nonnull(cfg);
	if (cfg != NULL)
		g_assert_cmpstr(cfg->path, ==, path);
	if (dir_r != NULL)
		*dir_r = g_steal_pointer(&dir);
	return cfg;
}

static struct listen_addr *
listen_at(GPtrArray *arr, guint i)
{
	return g_ptr_array_index(arr, i);
}

static struct imap_config *
imap_at(const struct config *cfg, guint i)
{
	return g_ptr_array_index(cfg->imap, i);
}

/* ---- defaults ---------------------------------------------------------- */

static void
check_defaults(const struct config *cfg)
{
	struct listen_addr *a;

	g_assert_cmpstr(cfg->push.url, ==, "https://api.skyvern.com/v1/credentials/totp");
	g_assert_null(cfg->push.api_key_file);
	g_assert_null(cfg->push.api_key);
	g_assert_cmpuint(cfg->push.timeout, ==, 10);
	g_assert_cmpuint(cfg->push.max_age, ==, 600);
	g_assert_cmpint(cfg->push.send, ==, SEND_AUTO);
	g_assert_null(cfg->push.ca_file);
	g_assert_cmpstr(cfg->store.path, ==, "var/otpbridge.db");
	g_assert_cmpuint(cfg->lmtp.listen->len, ==, 1);
	if (cfg->lmtp.listen->len == 1) {
		a = listen_at(cfg->lmtp.listen, 0);
		g_assert_cmpint(a->kind, ==, LISTEN_INET);
		g_assert_cmpstr(a->host, ==, "127.0.0.1");
		g_assert_cmpuint(a->port, ==, 2424);
	}
	g_assert_null(cfg->lmtp.recipients);
	g_assert_cmpuint(cfg->lmtp.max_size, ==, 10485760);
	g_assert_cmpuint(cfg->lmtp.max_connections, ==, 256);
	g_assert_cmpuint(cfg->smtp.listen->len, ==, 0);
	g_assert_cmpuint(cfg->http.listen->len, ==, 0);
	g_assert_null(cfg->http.signing_key);
	g_assert_cmpuint(cfg->http.max_connections_per_client, ==, 16);
	g_assert_cmpuint(cfg->http.request_timeout, ==, 10);
	g_assert_cmpuint(cfg->imap->len, ==, 0);
	g_assert_nonnull(cfg->trusted_authserv_id);
	g_assert_null(cfg->trusted_authserv_id[0]);
	g_assert_cmpstr(cfg->filters_dir, ==, SYSCONFDIR "/otpbridge/filters.d");
	g_assert_false(cfg->filters_dir_set);
}

static void
test_defaults_missing_file(void)
{
	g_autofree char *path = g_build_filename(tmpdir, "absent.conf", NULL);
	g_autoptr(GError) err = NULL;
	struct config *cfg = NULL;

	g_assert_cmpint(config_load(path, FALSE, &cfg, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_nonnull(cfg);
	if (cfg == NULL)
		return;
	g_assert_null(cfg->path);
	check_defaults(cfg);
	config_free(&cfg);
	g_assert_null(cfg);
}

static void
test_defaults_function(void)
{
	struct config *cfg = config_defaults();

	check_defaults(cfg);
	config_free(&cfg);
}

/* An empty file is the defaults too (with its path). */
static void
test_defaults_empty_file(void)
{
	struct config *cfg = load_text_ok("# nothing\n", NULL);

	if (cfg == NULL)
		return;
	check_defaults(cfg);
	config_free(&cfg);
}

static void
test_missing_must_exist(void)
{
	g_autofree char *path = g_build_filename(tmpdir, "absent.conf", NULL);
	g_autoptr(GError) err = NULL;
	struct config *cfg = NULL;

	g_assert_cmpint(config_load(path, TRUE, &cfg, &err), ==, -1);
	g_assert_null(cfg);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err != NULL)
		g_assert_true(g_str_has_prefix(err->message, path));
}

/* ---- the full SPEC 3 example ------------------------------------------- */

static const char full_conf[] =
	"[push]\n"
	"url = https://api.skyvern.com/v1/credentials/totp\n"
	"# or env OTPBRIDGE_API_KEY\n"
	"api_key_file = api-key\n"
	"# seconds per request\n"
	"timeout = 20\n"
	"# a code older than this is expired, never pushed\n"
	"max_age = 900\n"
	"# auto: the code if found, else text; code; text\n"
	"send = code\n"
	"ca_file = ca.pem\n"
	"\n"
	"[store]\n"
	"# SQLite, WAL; holds queue, IMAP state, dedup, codes\n"
	"path = state/otpbridge.db\n"
	"retention = 86400\n"
	"\n"
	"[lmtp]\n"
	"listen = unix:/run/otpbridge/lmtp.sock;inet:127.0.0.1:2424\n"
	"# PCRE2 over RCPT addresses; others get 550 5.1.1\n"
	"recipients = @otp\\.example\\.com$\n"
	"max_size = 1048576\n"
	"max_connections = 32\n"
	"max_recipients = 50\n"
	"timeout = 120\n"
	"socket_mode = 0600\n"
	"socket_group = postfix\n"
	"\n"
	"# same sink speaking SMTP (EHLO, one reply after DATA)\n"
	"[smtp]\n"
	"listen = inet:127.0.0.1:2525\n"
	"\n"
	"# one group per account\n"
	"[imap:work]\n"
	"host = imap.example.com\n"
	"port = 993\n"
	"# implicit | starttls | none (none: loopback only)\n"
	"tls = implicit\n"
	"ca_file = ca.pem\n"
	"user = bot@example.com\n"
	"password_file = work.pass\n"
	"# login | plain | xoauth2\n"
	"auth = login\n"
	"mailbox = INBOX\n"
	"idle = true\n"
	"idle_refresh = 600\n"
	"# fallback and watchdog cross-check, seconds\n"
	"poll_interval = 60\n"
	"timeout = 30\n"
	"# seen | move:Processed | delete | none\n"
	"after = move:Processed\n"
	"# default ${rcpt} for this account\n"
	"identifier = bot@example.com\n"
	"max_size = 2097152\n"
	"\n"
	"[imap:gmail]\n"
	"host = imap.gmail.com\n"
	"user = otp.bot@gmail.com\n"
	"auth = xoauth2\n"
	"oauth2_provider = google\n"
	"client_id = 1234.apps.googleusercontent.com\n"
	"client_secret_file = client.secret\n"
	"refresh_token_file = refresh.token\n"
	"idle = false\n"
	"after = delete\n"
	"\n"
	"[imap:local]\n"
	"host = 127.0.0.1\n"
	"tls = none\n"
	"user = bot\n"
	"password_command = pass show otp\n"
	"after = none\n"
	"\n"
	"[imap:custom]\n"
	"host = mail.example.org\n"
	"tls = starttls\n"
	"user = other@example.org\n"
	"auth = xoauth2\n"
	"token_url = https://login.example.org/token\n"
	"client_id = abc\n"
	"refresh_token_file = refresh.token\n"
	"after = seen\n"
	"\n"
	"# pull endpoint, /metrics, /healthz\n"
	"[http]\n"
	"listen = inet:127.0.0.1:8465\n"
	"signing_key_file = signing-key\n"
	"max_body = 8192\n"
	"max_connections = 16\n"
	"timeout = 15\n"
	"timestamp_window = 300\n"
	"bind_code_to_task = false\n"
	"max_connections_per_client = 4\n"
	"request_timeout = 5\n"
	"\n"
	"[auth]\n"
	"trusted_authserv_id = mx.example.net;mx.google.com\n"
	"\n"
	"[filters]\n"
	"dir = filters.d\n";

static void
test_full(void)
{
	g_autofree char *dir = NULL;
	struct config *cfg = load_text_ok(full_conf, &dir);
	g_autofree char *p_key = NULL, *p_ca = NULL, *p_db = NULL, *p_pass = NULL;
	g_autofree char *p_tok = NULL, *p_sec = NULL, *p_sign = NULL, *p_filters = NULL;
	struct listen_addr *a;
	struct imap_config *ic;

	if (cfg == NULL)
		return;
	p_key = g_build_filename(dir, "api-key", NULL);
	p_ca = g_build_filename(dir, "ca.pem", NULL);
	p_db = g_build_filename(dir, "state/otpbridge.db", NULL);
	p_pass = g_build_filename(dir, "work.pass", NULL);
	p_tok = g_build_filename(dir, "refresh.token", NULL);
	p_sec = g_build_filename(dir, "client.secret", NULL);
	p_sign = g_build_filename(dir, "signing-key", NULL);
	p_filters = g_build_filename(dir, "filters.d", NULL);

	g_assert_cmpstr(cfg->push.url, ==, "https://api.skyvern.com/v1/credentials/totp");
	g_assert_cmpstr(cfg->push.api_key_file, ==, p_key);
	g_assert_cmpstr(cfg->push.api_key, ==, "file-api-key-SECRET");
	g_assert_cmpuint(cfg->push.timeout, ==, 20);
	g_assert_cmpuint(cfg->push.max_age, ==, 900);
	g_assert_cmpint(cfg->push.send, ==, SEND_CODE);
	g_assert_cmpstr(cfg->push.ca_file, ==, p_ca);
	g_assert_cmpstr(cfg->store.path, ==, p_db);
	g_assert_cmpuint(cfg->store.retention, ==, 86400);

	g_assert_cmpuint(cfg->lmtp.listen->len, ==, 2);
	if (cfg->lmtp.listen->len == 2) {
		a = listen_at(cfg->lmtp.listen, 0);
		g_assert_cmpint(a->kind, ==, LISTEN_UNIX);
		g_assert_cmpstr(a->path, ==, "/run/otpbridge/lmtp.sock");
		a = listen_at(cfg->lmtp.listen, 1);
		g_assert_cmpint(a->kind, ==, LISTEN_INET);
		g_assert_cmpstr(a->host, ==, "127.0.0.1");
		g_assert_cmpuint(a->port, ==, 2424);
	}
	g_assert_nonnull(cfg->lmtp.recipients);
	if (cfg->lmtp.recipients != NULL) {
		g_assert_cmpstr(regex_pattern(cfg->lmtp.recipients), ==, "@otp\\.example\\.com$");
		g_assert_true(regex_match(cfg->lmtp.recipients, "bot@OTP.example.com", 19));
		g_assert_false(regex_match(cfg->lmtp.recipients, "bot@otpxexample.com", 19));
	}
	g_assert_cmpuint(cfg->lmtp.max_size, ==, 1048576);
	g_assert_cmpuint(cfg->lmtp.max_connections, ==, 32);
	g_assert_cmpuint(cfg->lmtp.max_recipients, ==, 50);
	g_assert_cmpuint(cfg->lmtp.timeout, ==, 120);
	g_assert_cmpuint(cfg->lmtp.socket_mode, ==, 0600);
	g_assert_cmpstr(cfg->lmtp.socket_group, ==, "postfix");

	g_assert_cmpuint(cfg->smtp.listen->len, ==, 1);
	if (cfg->smtp.listen->len == 1)
		g_assert_cmpuint(listen_at(cfg->smtp.listen, 0)->port, ==, 2525);
	g_assert_null(cfg->smtp.recipients);

	g_assert_cmpuint(cfg->imap->len, ==, 4);
	if (cfg->imap->len != 4)
		goto out;
	ic = imap_at(cfg, 0);
	g_assert_cmpstr(ic->name, ==, "work");
	g_assert_cmpstr(ic->host, ==, "imap.example.com");
	g_assert_cmpuint(ic->port, ==, 993);
	g_assert_cmpint(ic->tls, ==, IMAP_TLS_IMPLICIT);
	g_assert_cmpstr(ic->ca_file, ==, p_ca);
	g_assert_cmpstr(ic->user, ==, "bot@example.com");
	g_assert_cmpstr(ic->password_file, ==, p_pass);
	g_assert_cmpint(ic->auth, ==, IMAP_AUTH_LOGIN);
	g_assert_cmpstr(ic->mailbox, ==, "INBOX");
	g_assert_true(ic->idle);
	g_assert_cmpuint(ic->idle_refresh, ==, 600);
	g_assert_cmpuint(ic->poll_interval, ==, 60);
	g_assert_cmpuint(ic->timeout, ==, 30);
	g_assert_cmpint(ic->after, ==, IMAP_AFTER_MOVE);
	g_assert_cmpstr(ic->after_folder, ==, "Processed");
	g_assert_cmpstr(ic->identifier, ==, "bot@example.com");
	g_assert_cmpuint(ic->max_size, ==, 2097152);

	ic = imap_at(cfg, 1);
	g_assert_cmpstr(ic->name, ==, "gmail");
	g_assert_cmpuint(ic->port, ==, 993);
	g_assert_cmpint(ic->auth, ==, IMAP_AUTH_XOAUTH2);
	g_assert_cmpstr(ic->oauth2_provider, ==, "google");
	g_assert_cmpstr(ic->client_id, ==, "1234.apps.googleusercontent.com");
	g_assert_cmpstr(ic->client_secret_file, ==, p_sec);
	g_assert_cmpstr(ic->refresh_token_file, ==, p_tok);
	g_assert_null(ic->password_file);
	g_assert_false(ic->idle);
	g_assert_cmpint(ic->after, ==, IMAP_AFTER_DELETE);
	g_assert_cmpstr(ic->mailbox, ==, "INBOX");
	g_assert_cmpuint(ic->poll_interval, ==, 60);
	/* identifier defaults to the user when it is an address */
	g_assert_cmpstr(ic->identifier, ==, "otp.bot@gmail.com");

	ic = imap_at(cfg, 2);
	g_assert_cmpstr(ic->name, ==, "local");
	g_assert_cmpint(ic->tls, ==, IMAP_TLS_NONE);
	g_assert_cmpuint(ic->port, ==, 143);
	g_assert_cmpstr(ic->password_command, ==, "pass show otp");
	g_assert_cmpint(ic->after, ==, IMAP_AFTER_NONE);
	g_assert_null(ic->identifier);   /* "bot" is no address */

	ic = imap_at(cfg, 3);
	g_assert_cmpint(ic->tls, ==, IMAP_TLS_STARTTLS);
	g_assert_cmpuint(ic->port, ==, 143);
	g_assert_null(ic->oauth2_provider);
	g_assert_cmpstr(ic->token_url, ==, "https://login.example.org/token");
	g_assert_cmpint(ic->after, ==, IMAP_AFTER_SEEN);

	g_assert_cmpuint(cfg->http.listen->len, ==, 1);
	if (cfg->http.listen->len == 1)
		g_assert_cmpuint(listen_at(cfg->http.listen, 0)->port, ==, 8465);
	g_assert_cmpstr(cfg->http.signing_key_file, ==, p_sign);
	g_assert_cmpstr(cfg->http.signing_key, ==, "signing-key-SECRET");
	g_assert_cmpuint(cfg->http.max_body, ==, 8192);
	g_assert_cmpuint(cfg->http.max_connections, ==, 16);
	g_assert_cmpuint(cfg->http.timeout, ==, 15);
	g_assert_cmpuint(cfg->http.timestamp_window, ==, 300);
	g_assert_false(cfg->http.bind_code_to_task);
	g_assert_cmpuint(cfg->http.max_connections_per_client, ==, 4);
	g_assert_cmpuint(cfg->http.request_timeout, ==, 5);

	g_assert_cmpuint(g_strv_length(cfg->trusted_authserv_id), ==, 2);
	g_assert_cmpstr(cfg->trusted_authserv_id[0], ==, "mx.example.net");
	g_assert_cmpstr(cfg->trusted_authserv_id[1], ==, "mx.google.com");
	g_assert_cmpstr(cfg->filters_dir, ==, p_filters);
	g_assert_true(cfg->filters_dir_set);
out:
	config_free(&cfg);
}

/* Absolute paths are kept as written. */
static void
test_absolute_paths(void)
{
	g_autofree char *dir = new_dir();
	g_autofree char *key = g_build_filename(dir, "api-key", NULL);
	g_autofree char *text = g_strdup_printf("[push]\napi_key_file = %s\n[store]\n"
	    "path = /var/lib/otpbridge/otpbridge.db\n[filters]\ndir = /etc/otpbridge/filters.d\n",
	    key);
	struct config *cfg = load_text_ok(text, NULL);

	if (cfg == NULL)
		return;
	g_assert_cmpstr(cfg->push.api_key_file, ==, key);
	g_assert_cmpstr(cfg->push.api_key, ==, "file-api-key-SECRET");
	g_assert_cmpstr(cfg->store.path, ==, "/var/lib/otpbridge/otpbridge.db");
	g_assert_cmpstr(cfg->filters_dir, ==, "/etc/otpbridge/filters.d");
	config_free(&cfg);
}

/* A missing refresh_token_file: `check` names the command that obtains
 * it; config_load_oauth() lets that account (and only it) go without. */
static void
test_oauth_missing_token(void)
{
	g_autofree char *dir = new_dir();
	g_autofree char *path = write_conf(dir, "[imap:g]\nhost = imap.example.com\n"
	    "user = bot@example.com\nauth = xoauth2\nclient_id = c\n"
	    "oauth2_provider = google\nrefresh_token_file = not-yet.token\n");
	GError *err = NULL;
	struct config *cfg = NULL;

	g_assert_cmpint(config_load(path, TRUE, &cfg, &err), ==, -1);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, "otpbridge.conf:7: "));
	g_assert_nonnull(strstr(err->message, "run 'otpbridge oauth g' to obtain it"));
	g_assert_null(strstr(err->message, "not-yet"));
	g_clear_error(&err);
	g_assert_cmpint(config_load_oauth(path, "other", &cfg, &err), ==, -1);
	g_assert_nonnull(strstr(err->message, "run 'otpbridge oauth g'"));
	g_clear_error(&err);
	g_assert_cmpint(config_load_oauth(path, "g", &cfg, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpstr(((struct imap_config *)g_ptr_array_index(cfg->imap, 0))->
	    refresh_token_file, !=, NULL);
	config_free(&cfg);
}

/* ---- valid variants ---------------------------------------------------- */

struct ok_case {
	const char *name;
	const char *text;
};

/* An XOAUTH2 account but for its token_url or provider (6 lines). */
#define XOAUTH2_CONF "[imap:g]\nhost = imap.example.com\nuser = bot@example.com\n" \
	"auth = xoauth2\nclient_id = c\nrefresh_token_file = refresh.token\n"

static const struct ok_case ok_cases[] = {
	{ "https-remote", "[push]\nurl = https://totp.example.com/v1/credentials/totp\n" },
	{ "http-loopback-v4", "[push]\nurl = http://127.0.0.1:8080/totp\n" },
	/* allow_http = private: the Compose set-up, and it may come after url */
	{ "http-private-compose", "[push]\nallow_http = private\n"
	  "url = http://skyvern:8000/v1/credentials/totp\n" },
	{ "http-private-after-url", "[push]\nurl = http://10.0.3.7:8000/v1/credentials/totp\n"
	  "allow_http = private\n" },
	{ "http-private-ula", "[push]\nallow_http = private\nurl = http://[fd00::5]:8000/t\n" },
	{ "http-private-loopback-default", "[push]\nallow_http = loopback\n"
	  "url = http://localhost:8000/t\n" },
	{ "http-loopback-127-x", "[push]\nurl = http://127.0.0.53/totp\n" },
	{ "http-localhost", "[push]\nurl = http://localhost:8080/totp\n" },
	{ "http-loopback-v6", "[push]\nurl = http://[::1]:8080/totp\n" },
	{ "legacy-url", "[push]\nurl = https://api.skyvern.com/api/v1/totp\n" },
	{ "timeout-bounds", "[push]\ntimeout = 1\nmax_age = 30\n" },
	{ "timeout-max", "[push]\ntimeout = 300\nmax_age = 86400\n" },
	{ "send-text", "[push]\nsend = text\n" },
	{ "lmtp-off", "[lmtp]\nlisten =\n" },
	{ "lmtp-public-with-recipients",
	  "[lmtp]\nlisten = inet:0.0.0.0:2424\nrecipients = @otp\\.example\\.com$\n" },
	{ "lmtp-v6-loopback", "[lmtp]\nlisten = inet:[::1]:2424\n" },
	{ "lmtp-localhost", "[lmtp]\nlisten = inet:localhost:2424\n" },
	{ "smtp-public-with-recipients",
	  "[smtp]\nlisten = inet:192.0.2.10:25\nrecipients = ^otp@\n" },
	{ "imap-none-loopback", "[imap:l]\nhost = 127.0.0.1\ntls = none\nuser = u\n"
	  "password_file = work.pass\n" },
	{ "imap-none-localhost", "[imap:l]\nhost = localhost\ntls = none\nuser = u\n"
	  "password_file = work.pass\n" },
	{ "imap-same-user-other-mailbox",
	  "[imap:a]\nhost = h.example\nuser = u\npassword_file = work.pass\n"
	  "[imap:b]\nhost = h.example\nuser = u\npassword_file = work.pass\nmailbox = OTP\n" },
	{ "imap-same-mailbox-other-user",
	  "[imap:a]\nhost = h.example\nuser = u\npassword_file = work.pass\n"
	  "[imap:b]\nhost = h.example\nuser = v\npassword_file = work.pass\n" },
	{ "auth-empty-list", "[auth]\ntrusted_authserv_id =\n" },
	{ "http-no-listen", "[http]\nmax_body = 64\n" },
	{ "bools", "[http]\nbind_code_to_task = yes\n[imap:x]\nhost = h\nuser = u\n"
	  "password_file = work.pass\nidle = no\n" },
	{ "imap-token-url-https", XOAUTH2_CONF "token_url = https://idp.example.com/oauth2/token\n" },
	{ "imap-token-url-https-port-query",
	  XOAUTH2_CONF "token_url = HTTPS://idp.example.com:8443/t/oauth2/v2.0/token?x=1\n" },
	{ "imap-token-url-no-path", XOAUTH2_CONF "token_url = https://idp.example.com\n" },
	{ "imap-token-url-http-loopback", XOAUTH2_CONF "token_url = http://127.0.0.1:8080/token\n" },
	{ "imap-token-url-http-localhost", XOAUTH2_CONF "token_url = http://localhost:8080/token\n" },
	{ "imap-token-url-http-v6-loopback", XOAUTH2_CONF "token_url = http://[::1]:8080/token\n" },
	{ "imap-token-url-with-provider", XOAUTH2_CONF "oauth2_provider = microsoft\n"
	  "token_url = https://login.microsoftonline.com/contoso/oauth2/v2.0/token\n" },
	{ "imap-token-url-empty-with-provider", XOAUTH2_CONF "oauth2_provider = google\ntoken_url =\n" },
	/* Readable by its group, which is ours (root:otpbridge 0640). */
	{ "api-key-own-group-readable", "[push]\napi_key_file = key-0640\n" },
	{ "api-key-read-only", "[push]\napi_key_file = key-0400\n" },
	{ "imap-auth-url-https", XOAUTH2_CONF "oauth2_provider = google\n"
	  "auth_url = https://accounts.example.com/o/oauth2/v2/auth\n" },
	{ "imap-device-url-loopback", XOAUTH2_CONF "token_url = http://127.0.0.1:9/token\n"
	  "device_url = http://127.0.0.1:9/devicecode\n" },
	{ "imap-onboard-urls-empty", XOAUTH2_CONF "oauth2_provider = microsoft\n"
	  "auth_url =\ndevice_url =\n" },
};

static void
test_ok(gconstpointer data)
{
	const struct ok_case *c = data;
	struct config *cfg = load_text_ok(c->text, NULL);

	config_free(&cfg);
}

/* allow_http: loopback unless said otherwise. */
static void
test_allow_http(void)
{
	struct config *cfg = load_text_ok("[push]\nurl = http://127.0.0.1/t\n", NULL);

	g_assert_false(cfg->push.http_private);
	config_free(&cfg);
	cfg = load_text_ok("[push]\nallow_http = private\n", NULL);
	g_assert_true(cfg->push.http_private);
	config_free(&cfg);
}

/* ---- errors ------------------------------------------------------------ */

struct error_case {
	const char *name;
	const char *text;
	int line;              /* 0: no line expected ("file: ...") */
	const char *want;      /* part of the message */
};

static const struct error_case error_cases[] = {
	/* syntax (kf) */
	{ "garbage", "[push]\nurl = https://x.example/\nnonsense\n", 3, "expected key = value" },
	{ "duplicate-key", "[push]\ntimeout = 5\ntimeout = 6\n", 3, "appears twice" },
	{ "duplicate-group", "[push]\n[store]\n[push]\n", 3, "appears twice" },
	/* unknown groups and keys */
	{ "unknown-group", "[push]\ntimeout = 5\n\n[pushh]\nurl = x\n", 4, "unknown group [pushh]" },
	{ "unknown-group-case", "# c\n[Push]\n", 2, "unknown group [Push]" },
	{ "unknown-group-imap-prefix", "[imap]\nhost = x\n", 1, "unknown group [imap]" },
	{ "unknown-key-push", "[push]\nurl = https://x.example/\n# typo:\ntimeuot = 5\n", 4,
	  "unknown key 'timeuot' in [push]" },
	{ "unknown-key-store", "[store]\npath = x.db\ndb = y\n", 3, "unknown key 'db' in [store]" },
	{ "unknown-key-lmtp", "[lmtp]\nrecipient = x\n", 2, "unknown key 'recipient' in [lmtp]" },
	{ "unknown-key-smtp", "[smtp]\nlisten = inet:127.0.0.1:2525\nhost = x\n", 3,
	  "unknown key 'host' in [smtp]" },
	{ "unknown-key-imap", "[imap:w]\nhost = h\nuser = u\npassword_file = work.pass\n"
	  "pasword = x\n", 5, "unknown key 'pasword' in [imap:w]" },
	{ "unknown-key-http", "[http]\nsigning_key = x\n", 2, "unknown key 'signing_key' in [http]" },
	{ "unknown-key-auth", "[auth]\ntrusted_authserv_ids = x\n", 2,
	  "unknown key 'trusted_authserv_ids' in [auth]" },
	{ "auth-strips-not-bool", "[auth]\ntrusted_authserv_id = x\nmta_strips_forged = sure\n", 3,
	  "mta_strips_forged" },
	{ "unknown-key-filters", "[filters]\ndirectory = x\n", 2,
	  "unknown key 'directory' in [filters]" },
	/* [push] */
	{ "timeout-0", "[push]\ntimeout = 0\n", 2, "timeout must be a whole number from 1 to 300" },
	{ "timeout-301", "[push]\ntimeout = 301\n", 2, "from 1 to 300" },
	{ "timeout-word", "[push]\ntimeout = ten\n", 2, "not 'ten'" },
	{ "max-age-5", "[push]\n\nmax_age = 5\n", 3, "max_age must be a whole number from 10 to 86400" },
	{ "send-bogus", "[push]\nsend = bogus\n", 2, "send must be one of auto, code, text, not 'bogus'" },
	{ "url-http-remote", "[push]\nurl = http://api.skyvern.com/v1/credentials/totp\n", 2,
	  "url must use https unless the host is loopback" },
	{ "url-http-lookalike", "[push]\nurl = http://127.0.0.1.example.com/x\n", 2,
	  "must use https" },
	{ "url-http-compose-needs-private", "[push]\nurl = http://skyvern:8000/v1/credentials/totp\n",
	  2, "or a private network with allow_http = private" },
	{ "url-http-rfc1918-needs-private", "[push]\nurl = http://192.168.1.5/t\n", 2,
	  "allow_http = private" },
	{ "url-http-private-public-name", "[push]\nallow_http = private\n"
	  "url = http://api.skyvern.com/v1/credentials/totp\n", 3,
	  "url must use https unless the host is loopback, a private address" },
	{ "url-http-private-public-ip", "[push]\nallow_http = private\nurl = http://8.8.8.8/t\n", 3,
	  "single-label name" },
	{ "url-http-private-link-local", "[push]\nallow_http = private\n"
	  "url = http://169.254.169.254/latest\n", 3, "must use https" },
	{ "allow-http-bogus", "[push]\nallow_http = any\n", 2,
	  "allow_http must be one of loopback, private, not 'any'" },
	{ "url-ftp", "[push]\nurl = ftp://files.example.com/x\n", 2,
	  "url must be an http:// or https:// URL" },
	{ "url-not-url", "[push]\nurl = api.skyvern.com\n", 2, "url must be an http:// or https:// URL" },
	{ "url-no-host", "[push]\nurl = https:///v1/credentials/totp\n", 2, "url" },
	{ "url-empty-authority", "[push]\nurl = https://\n", 2, "url" },
	{ "api-key-file-missing", "[push]\napi_key_file = no-such-key\n", 2,
	  "api_key_file: cannot read the file it names: No such file" },
	{ "api-key-file-empty", "[push]\napi_key_file = empty-key\n", 2, "empty" },
	{ "ca-file-missing", "[push]\nca_file = no-ca.pem\n", 2, "cannot read ca_file" },
	/* [store] */
	{ "store-path-empty", "[store]\npath =\n", 2, "path must not be empty" },
	{ "store-retention-low", "[store]\nretention = 60\n", 2, "retention must be a whole number" },
	/* listen strings */
	{ "listen-scheme", "[lmtp]\nlisten = tcp:127.0.0.1:2424\n", 2,
	  "'tcp:127.0.0.1:2424': a listen address starts with unix: or inet:" },
	{ "listen-unix-relative", "[lmtp]\nlisten = unix:run/lmtp.sock\n", 2,
	  "a unix socket path must be absolute" },
	{ "listen-no-port", "[lmtp]\nlisten = inet:127.0.0.1\n", 2, "expected inet:host:port" },
	{ "listen-no-host", "[lmtp]\nlisten = inet::2424\n", 2, "expected inet:host:port" },
	{ "listen-port-0", "[lmtp]\nlisten = inet:127.0.0.1:0\n", 2,
	  "the port must be a number from 1 to 65535" },
	{ "listen-port-big", "[lmtp]\nlisten = inet:127.0.0.1:65536\n", 2,
	  "the port must be a number from 1 to 65535" },
	{ "listen-port-word", "[smtp]\nlisten = inet:127.0.0.1:smtp\n", 2, "the port must be" },
	{ "listen-v6-unclosed", "[lmtp]\nlisten = inet:[::1:2424\n", 2,
	  "expected inet:[v6-address]:port" },
	{ "listen-v6-no-port", "[lmtp]\nlisten = inet:[::1]\n", 2, "expected inet:[v6-address]:port" },
	{ "listen-v6-empty", "[http]\nlisten = inet:[]:8465\n", 2, "listen" },
	{ "listen-second-bad", "[lmtp]\nlisten = inet:127.0.0.1:2424;inet:127.0.0.1:x\n", 2,
	  "'inet:127.0.0.1:x'" },
	{ "http-listen-bad", "[http]\n\nlisten = 127.0.0.1:8465\n", 3,
	  "a listen address starts with unix: or inet:" },
	/* open sinks */
	{ "lmtp-public-no-recipients", "[lmtp]\nlisten = inet:0.0.0.0:2424\n", 2,
	  "listening on non-loopback 0.0.0.0 needs 'recipients' set" },
	{ "smtp-public-no-recipients", "[smtp]\nmax_size = 2048\nlisten = inet:192.0.2.1:25\n", 3,
	  "needs 'recipients' set" },
	{ "lmtp-v6-any-no-recipients", "[lmtp]\nlisten = inet:[::]:2424\n", 2,
	  "needs 'recipients' set" },
	{ "recipients-bad", "[lmtp]\nlisten = inet:127.0.0.1:2424\nrecipients = @otp(\n", 3,
	  "pattern error at offset 5: missing closing parenthesis" },
	{ "recipients-bad-class", "[smtp]\nrecipients = [a\n", 2,
	  "pattern error at offset 2: missing terminating ]" },
	{ "socket-mode-bad", "[lmtp]\nsocket_mode = 999\n", 2, "socket_mode must be an octal mode" },
	{ "max-size-small", "[lmtp]\nmax_size = 10\n", 2, "max_size must be a whole number" },
	/* [imap:NAME] */
	{ "imap-no-name", "[imap:]\nhost = h\n", 1, "[imap:NAME]" },
	{ "imap-no-host", "[push]\n\n[imap:work]\nuser = u\npassword_file = work.pass\n", 3,
	  "[imap:work] needs a host" },
	{ "imap-empty-host", "[imap:work]\nhost =\nuser = u\npassword_file = work.pass\n", 1,
	  "needs a host" },
	{ "imap-no-user", "[imap:work]\nhost = h\npassword_file = work.pass\n", 1,
	  "[imap:work] needs a user" },
	{ "imap-no-password", "[imap:work]\nhost = h\nuser = u\n", 1,
	  "auth = login needs password_file or password_command" },
	{ "imap-plain-no-password", "[imap:work]\nhost = h\nuser = u\nauth = plain\n", 4,
	  "auth = plain needs password_file or password_command" },
	{ "imap-password-file-missing", "[imap:work]\nhost = h\nuser = u\npassword_file = nope.pass\n",
	  4, "password_file: cannot read the file it names" },
	{ "imap-tls-none-remote", "[imap:work]\nhost = imap.example.com\ntls = none\nuser = u\n"
	  "password_file = work.pass\n", 3,
	  "tls = none is allowed only for a loopback host, not imap.example.com" },
	{ "imap-tls-bogus", "[imap:work]\nhost = h\ntls = ssl\nuser = u\npassword_file = work.pass\n",
	  3, "tls must be one of implicit, starttls, none, not 'ssl'" },
	{ "imap-auth-bogus", "[imap:work]\nhost = h\nuser = u\nauth = cram-md5\n", 4,
	  "auth must be one of login, plain, xoauth2" },
	{ "imap-xoauth2-no-refresh", "[imap:g]\nhost = imap.gmail.com\nuser = u@gmail.com\n"
	  "auth = xoauth2\noauth2_provider = google\nclient_id = c\n", 4,
	  "auth = xoauth2 needs refresh_token_file and client_id" },
	{ "imap-xoauth2-no-client-id", "[imap:g]\nhost = imap.gmail.com\nuser = u@gmail.com\n"
	  "auth = xoauth2\noauth2_provider = google\nrefresh_token_file = refresh.token\n", 4,
	  "needs refresh_token_file and client_id" },
	{ "imap-xoauth2-no-token-url", "[imap:g]\nhost = h\nuser = u\nauth = xoauth2\n"
	  "client_id = c\nrefresh_token_file = refresh.token\n", 4,
	  "auth = xoauth2 needs token_url or oauth2_provider" },
	{ "imap-provider-bogus", "[imap:g]\nhost = h\nuser = u\nauth = xoauth2\n"
	  "oauth2_provider = yahoo\n", 5, "oauth2_provider must be one of google, microsoft, custom" },
	{ "imap-auth-url-http-remote", XOAUTH2_CONF "oauth2_provider = google\n"
	  "auth_url = http://accounts.example.com/auth\n", 8,
	  "auth_url must be https unless the host is loopback" },
	{ "imap-device-url-ftp", XOAUTH2_CONF "oauth2_provider = microsoft\n"
	  "device_url = ftp://login.example.com/devicecode\n", 8,
	  "device_url must be an https:// URL (http:// only to a loopback host)" },
	{ "imap-token-url-http-remote", XOAUTH2_CONF "token_url = http://idp.example.com/token\n", 7,
	  "token_url must be https unless the host is loopback" },
	{ "imap-token-url-http-lookalike",
	  XOAUTH2_CONF "token_url = http://127.0.0.1.example.com/token\n", 7,
	  "token_url must be https unless the host is loopback" },
	{ "imap-token-url-http-any", XOAUTH2_CONF "token_url = http://0.0.0.0/token\n", 7,
	  "token_url must be https unless the host is loopback" },
	{ "imap-token-url-ftp", XOAUTH2_CONF "token_url = ftp://idp.example.com/token\n", 7,
	  "token_url must be an https:// URL (http:// only to a loopback host)" },
	{ "imap-token-url-file", XOAUTH2_CONF "token_url = file:///etc/passwd\n", 7,
	  "token_url must be an https:// URL" },
	{ "imap-token-url-not-url", XOAUTH2_CONF "token_url = idp.example.com/token\n", 7,
	  "token_url must be an https:// URL" },
	{ "imap-token-url-no-host", XOAUTH2_CONF "token_url = https:///token\n", 7,
	  "token_url must be an https:// URL" },
	{ "imap-token-url-bad-port", XOAUTH2_CONF "token_url = https://idp.example.com:99999/token\n",
	  7, "token_url must be an https:// URL" },
	{ "imap-token-url-blank", XOAUTH2_CONF "token_url = https://idp.example.com/o auth\n", 7,
	  "token_url must be an https:// URL" },
	{ "imap-token-url-with-provider", XOAUTH2_CONF "oauth2_provider = google\n"
	  "token_url = http://oauth2.googleapis.com/token\n", 8, "token_url must be https" },
	/* Checked whatever the auth, so a later switch to xoauth2 is safe. */
	{ "imap-token-url-login-auth", "[imap:w]\nhost = h\nuser = u\npassword_file = work.pass\n"
	  "token_url = http://idp.example.com/token\n", 5, "token_url must be https" },
	{ "imap-token-url-empty", XOAUTH2_CONF "token_url =\n", 4,
	  "auth = xoauth2 needs token_url or oauth2_provider" },
	{ "imap-after-bogus", "[imap:work]\nhost = h\nuser = u\npassword_file = work.pass\n"
	  "after = bogus\n", 5, "after must be seen, move:FOLDER, delete or none, not 'bogus'" },
	{ "imap-after-move-empty", "[imap:work]\nhost = h\nuser = u\npassword_file = work.pass\n"
	  "after = move:\n", 5, "after must be seen, move:FOLDER, delete or none" },
	{ "imap-port-0", "[imap:work]\nhost = h\nport = 0\nuser = u\npassword_file = work.pass\n",
	  3, "port must be a whole number from 1 to 65535" },
	{ "imap-idle-bogus", "[imap:work]\nhost = h\nuser = u\npassword_file = work.pass\n"
	  "idle = sometimes\n", 5, "idle must be true or false" },
	{ "imap-idle-refresh-30min", "[imap:work]\nhost = h\nuser = u\npassword_file = work.pass\n"
	  "idle_refresh = 1800\n", 5, "idle_refresh must be a whole number from 30 to 1740" },
	{ "imap-poll-low", "[imap:work]\nhost = h\nuser = u\npassword_file = work.pass\n"
	  "poll_interval = 1\n", 5, "poll_interval must be a whole number from 5 to 3600" },
	{ "imap-duplicate-mailbox",
	  "[imap:a]\nhost = imap.example.com\nuser = bot@example.com\npassword_file = work.pass\n"
	  "\n[imap:b]\nhost = IMAP.Example.com\nuser = bot@example.com\npassword_file = work.pass\n"
	  "mailbox = INBOX\n", 6, "[imap:b] watches the same mailbox as [imap:a]" },
	/* [http], [auth], [filters] */
	{ "http-timestamp-window-big", "[http]\ntimestamp_window = 100000\n", 2,
	  "timestamp_window must be a whole number from 0 to 86400" },
	{ "http-bind-bogus", "[http]\nbind_code_to_task = maybe\n", 2,
	  "bind_code_to_task must be true or false" },
	{ "http-request-timeout-0", "[http]\nrequest_timeout = 0\n", 2,
	  "request_timeout must be a whole number from 1 to 3600" },
	{ "http-per-client-big", "[http]\nmax_connections_per_client = 70000\n", 2,
	  "max_connections_per_client must be a whole number from 0 to 65536" },
	{ "http-signing-key-missing", "[http]\nsigning_key_file = nope\n", 2,
	  "signing_key_file: cannot read the file it names" },
	/* A secret pasted where its file's name belongs never shows (the
	 * test asserts no "SECRET" in any message). */
	{ "pasted-api-key", "[push]\napi_key_file = sk-live-PASTED-SECRET-4711\n", 2,
	  "api_key_file: cannot read the file it names" },
	{ "pasted-api-key-absolute", "[push]\napi_key_file = /sk-live-PASTED-SECRET\n", 2,
	  "api_key_file: cannot read the file it names" },
	{ "pasted-signing-key", "[http]\nsigning_key_file = PASTED-SECRET-x\n", 2,
	  "signing_key_file: cannot read the file it names" },
	{ "pasted-password", "[imap:w]\nhost = h\nuser = u\npassword_file = hunter2-SECRET\n",
	  4, "password_file: cannot read the file it names" },
	{ "pasted-refresh-token", "[imap:g]\nhost = imap.example.com\nuser = b@example.com\n"
	  "auth = xoauth2\nclient_id = c\noauth2_provider = google\n"
	  "refresh_token_file = 1//0g-PASTED-SECRET\n", 7,
	  "refresh_token_file: cannot read the file it names" },
	{ "pasted-client-secret", XOAUTH2_CONF "oauth2_provider = google\n"
	  "client_secret_file = GOCSPX-PASTED-SECRET\n", 8,
	  "client_secret_file: cannot read the file it names" },
	/* Secret files others can read or write are refused, as ssh does. */
	{ "api-key-world-readable", "[push]\napi_key_file = key-0644\n", 2,
	  "key-0644 is readable by others (mode 0644); chmod 600 it" },
	{ "api-key-others-only", "[push]\napi_key_file = key-0604\n", 2,
	  "is readable by others (mode 0604)" },
	{ "signing-key-group-writable", "[http]\nsigning_key_file = key-0660\n", 2,
	  "signing_key_file: " },
	{ "signing-key-group-writable-why", "[http]\nsigning_key_file = key-0660\n", 2,
	  "is writable by its group (mode 0660); chmod 600 it" },
	{ "password-file-world-writable", "[imap:w]\nhost = h\nuser = u\n"
	  "password_file = key-0602\n", 4, "is writable by others (mode 0602)" },
	{ "refresh-token-world-readable", "[imap:g]\nhost = imap.example.com\n"
	  "user = b@example.com\nauth = xoauth2\nclient_id = c\noauth2_provider = google\n"
	  "refresh_token_file = key-0644\n", 7, "refresh_token_file: " },
	{ "client-secret-world-readable", XOAUTH2_CONF "oauth2_provider = google\n"
	  "client_secret_file = key-0644\n", 8, "is readable by others (mode 0644)" },
	{ "api-key-directory", "[push]\napi_key_file = .\n", 2, "is not a regular file" },
	{ "http-signing-key-empty", "[http]\nsigning_key_file = empty-key\n", 2, "empty" },
	{ "filters-dir-empty", "[filters]\ndir =\n", 2, "dir must not be empty" },
};

static void
test_error(gconstpointer data)
{
	const struct error_case *c = data;
	g_autofree char *dir = new_dir();
	g_autofree char *path = write_conf(dir, c->text);
	g_autofree char *prefix = c->line > 0 ? g_strdup_printf("%s:%d: ", path, c->line) :
	    g_strdup_printf("%s: ", path);
	g_autoptr(GError) err = NULL;
	struct config *cfg = NULL;

	g_assert_cmpint(config_load(path, TRUE, &cfg, &err), ==, -1);
	g_assert_null(cfg);
	config_free(&cfg);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err == NULL)
		return;
	if (!g_str_has_prefix(err->message, prefix) || strstr(err->message, c->want) == NULL)
		g_test_message("got '%s', want '%s...%s'", err->message, prefix, c->want);
	g_assert_true(g_str_has_prefix(err->message, prefix));
	g_assert_nonnull(strstr(err->message, c->want));
	/* No secret ever shows in a message. */
	g_assert_null(strstr(err->message, "SECRET"));
}

/* A secret file owned by another user (not root) is refused: that user
 * could swap the key.  Needs root to give the file away. */
static void
test_secret_other_owner(void)
{
	g_autofree char *dir = new_dir();
	g_autofree char *key = g_build_filename(dir, "key-0400", NULL);
	g_autofree char *path = write_conf(dir, "[push]\napi_key_file = key-0400\n");
	g_autoptr(GError) err = NULL;
	struct config *cfg = NULL;

	if (geteuid() != 0) {
		g_test_skip("needs root to chown a file to another user");
		return;
	}
	g_assert_cmpint(chown(key, 65534, 65534), ==, 0);
	g_assert_cmpint(config_load(path, TRUE, &cfg, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err != NULL) {
		g_test_message("%s", err->message);
		g_assert_nonnull(strstr(err->message, ":2: api_key_file: "));
		g_assert_nonnull(strstr(err->message,
		    "is owned by uid 65534, neither this user (uid 0) nor root; chown it"));
	}
	config_free(&cfg);
}

/* ---- SIGHUP: what applies live, what takes a restart ------------------ */

#define RELOAD_BASE "[push]\nurl = https://x.example/t\napi_key_file = api-key\n" \
	"timeout = 5\n[store]\npath = db/x.db\n[http]\nlisten = inet:127.0.0.1:8465\n" \
	"signing_key_file = signing-key\n[lmtp]\nlisten = inet:127.0.0.1:2424\n" \
	"recipients = ^bot@\n[imap:w]\nhost = h\nuser = u\npassword_file = work.pass\n"

struct reload_case {
	const char *name;
	const char *from, *to;  /* RELOAD_BASE with from replaced by to */
	const char *want;       /* the restart list, NULL: all of it is live */
};

static const struct reload_case reload_cases[] = {
	{ "same", "", "", NULL },
	/* Applied live. */
	{ "recipients", "^bot@", "^other@", NULL },
	{ "sink-limits", "recipients = ^bot@\n", "recipients = ^bot@\n"
	  "max_connections = 3\ntimeout = 10\nmax_recipients = 5\n", NULL },
	{ "sink-max-size", "^bot@\n[imap:w]\n", "^bot@\nmax_size = 2048\n"
	  "[imap:w]\nmax_size = 10485760\n", NULL },
	{ "signing-key", "signing_key_file = signing-key", "signing_key_file = api-key", NULL },
	{ "http-live", "signing_key_file = signing-key\n", "signing_key_file = signing-key\n"
	  "timestamp_window = 60\nbind_code_to_task = false\nmax_body = 128\n", NULL },
	{ "push-decision", "timeout = 5\n", "timeout = 5\nmax_age = 60\nsend = text\n", NULL },
	{ "auth", "[imap:w]", "[auth]\ntrusted_authserv_id = mx.example.net\n[imap:w]", NULL },
	/* Named as taking a restart. */
	{ "lmtp-port", "inet:127.0.0.1:2424", "inet:127.0.0.1:2425", "[lmtp] listen" },
	{ "lmtp-host", "inet:127.0.0.1:2424", "inet:127.0.0.2:2424", "[lmtp] listen" },
	{ "lmtp-one-more", "inet:127.0.0.1:2424", "inet:127.0.0.1:2424;unix:/run/o.sock",
	  "[lmtp] listen" },
	{ "lmtp-socket-mode", "recipients = ^bot@\n", "recipients = ^bot@\nsocket_mode = 0600\n",
	  "[lmtp] socket_mode" },
	{ "smtp-listen", "[http]", "[smtp]\nlisten = inet:127.0.0.1:2525\n[http]", "[smtp] listen" },
	{ "http-listen", "inet:127.0.0.1:8465", "inet:127.0.0.1:8466", "[http] listen" },
	{ "http-timeout", "signing_key_file = signing-key\n",
	  "signing_key_file = signing-key\ntimeout = 5\n", "[http] timeout" },
	{ "http-max-connections", "signing_key_file = signing-key\n",
	  "signing_key_file = signing-key\nmax_connections = 5\n", "[http] max_connections" },
	{ "store-path", "db/x.db", "db/y.db", "[store] path" },
	{ "store-retention", "db/x.db\n", "db/x.db\nretention = 3600\n", "[store] retention" },
	{ "push-url", "https://x.example/t", "https://y.example/t", "[push] url" },
	{ "push-timeout", "timeout = 5\n", "timeout = 6\n", "[push] timeout" },
	{ "imap-trusted-ids", "password_file = work.pass\n",
	  "password_file = work.pass\ntrusted_authserv_id = mx.google.com\n", "[imap:w]" },
	{ "push-allow-http", "timeout = 5\n", "timeout = 5\nallow_http = private\n",
	  "[push] allow_http" },
	{ "http-request-timeout", "signing_key_file = signing-key\n",
	  "signing_key_file = signing-key\nrequest_timeout = 5\n", "[http] request_timeout" },
	{ "http-per-client", "signing_key_file = signing-key\n",
	  "signing_key_file = signing-key\nmax_connections_per_client = 2\n",
	  "[http] max_connections_per_client" },
	{ "push-key", "api_key_file = api-key", "api_key_file = signing-key", "[push] api_key_file" },
	{ "imap-changed", "host = h\n", "host = h2\n", "[imap:w]" },
	/* An account without its own max_size takes [lmtp]'s, which the
	 * running account thread keeps. */
	{ "imap-inherited-max-size", "recipients = ^bot@\n",
	  "recipients = ^bot@\nmax_size = 2048\n", "[imap:w]" },
	{ "imap-identifier", "password_file = work.pass\n",
	  "password_file = work.pass\nidentifier = x@example.com\n", "[imap:w]" },
	{ "imap-added", "password_file = work.pass\n", "password_file = work.pass\n"
	  "[imap:x]\nhost = h\nuser = u\npassword_file = work.pass\nmailbox = B\n", "[imap:x]" },
	{ "imap-removed", "[imap:w]\nhost = h\nuser = u\npassword_file = work.pass\n", "",
	  "[imap:w]" },
	{ "several", "signing_key_file = signing-key\n", "signing_key_file = signing-key\n"
	  "timeout = 5\n[smtp]\nlisten = inet:127.0.0.1:2525\n",
	  "[smtp] listen, [http] timeout" },
};

/* Loads text from dir; asserts success. */
static struct config *
load_in(const char *dir, const char *name, const char *text)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autoptr(GError) err = NULL;
	struct config *cfg = NULL;

	testutil_write_file(path, text, -1, -1);
	if (config_load(path, TRUE, &cfg, &err) < 0)
		g_test_message("unexpected error: %s", err->message);
	g_assert_no_error(err);
	return cfg;
}

static void
test_reload(gconstpointer data)
{
	const struct reload_case *c = data;
	g_autofree char *dir = new_dir();
	g_autoptr(GString) to = g_string_new(RELOAD_BASE);
	struct config *a, *b;
	g_autofree char *restart = NULL;
	g_autoptr(GError) err = NULL;

	if (*c->from != '\0')
		g_assert_cmpuint(g_string_replace(to, c->from, c->to, 1), ==, 1);
	a = load_in(dir, "a.conf", RELOAD_BASE);
	b = load_in(dir, "b.conf", to->str);
	if (a == NULL || b == NULL)
		return;
	g_assert_cmpint(config_reload_check(a, b, &restart, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpstr(restart, ==, c->want);
	config_free(&a);
	config_free(&b);
}

/* A running listener beyond loopback keeps its recipients pattern: a
 * reload that moves the listener to loopback and drops the pattern would
 * leave the running (public) listener an open sink. */
static void
test_reload_open_sink(void)
{
	g_autofree char *dir = new_dir();
	struct config *a = load_in(dir, "a.conf",
	    "[smtp]\nlisten = inet:192.0.2.10:25\nrecipients = ^otp@\n");
	struct config *b = load_in(dir, "b.conf", "[smtp]\nlisten = inet:127.0.0.1:25\n");
	struct config *c = load_in(dir, "c.conf",
	    "[smtp]\nlisten = inet:127.0.0.1:25\nrecipients = ^bot@\n");
	g_autofree char *restart = NULL;
	g_autoptr(GError) err = NULL;

	if (a == NULL || b == NULL || c == NULL)
		return;
	g_assert_cmpint(config_reload_check(a, b, &restart, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err != NULL)
		g_assert_cmpstr(err->message, ==, "[smtp] recipients: the running listener on "
		    "192.0.2.10 is not loopback, so it needs 'recipients' set, or it would "
		    "be an open sink");
	g_assert_null(restart);
	g_clear_error(&err);
	/* With a pattern it applies (the address itself takes a restart). */
	g_assert_cmpint(config_reload_check(a, c, &restart, &err), ==, 0);
	g_assert_cmpstr(restart, ==, "[smtp] listen");
	config_free(&a);
	config_free(&b);
	config_free(&c);
}

/* "token_url =" is no token_url: the preset's URL is used. */
static void
test_token_url_empty(void)
{
	struct config *cfg = load_text_ok(XOAUTH2_CONF "oauth2_provider = google\n"
	    "token_url =\n", NULL);

	if (cfg == NULL)
		return;
	g_assert_null(imap_at(cfg, 0)->token_url);
	g_assert_cmpstr(imap_at(cfg, 0)->oauth2_provider, ==, "google");
	config_free(&cfg);
}

/* ---- relative paths ---------------------------------------------------- */

/* A relative config path: paths resolve against its directory, not cwd. */
static void
test_relative_config_path(void)
{
	g_autofree char *dir = new_dir();
	g_autofree char *cwd = g_get_current_dir();
	g_autoptr(GError) err = NULL;
	struct config *cfg = NULL;
	g_autofree char *base = g_path_get_basename(dir);
	g_autofree char *want_db = g_build_filename(base, "db/x.db", NULL);
	g_autofree char *want_f = g_build_filename(base, "f.d", NULL);
	g_autofree char *rel = g_build_filename(base, "otpbridge.conf", NULL);

	g_free(write_conf(dir, "[push]\napi_key_file = api-key\n"
	    "[store]\npath = db/x.db\n[filters]\ndir = f.d\n"));
	g_assert_cmpint(g_chdir(tmpdir), ==, 0);
	g_assert_cmpint(config_load(rel, TRUE, &cfg, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(g_chdir(cwd), ==, 0);
	if (cfg == NULL)
		return;
	g_assert_cmpstr(cfg->push.api_key, ==, "file-api-key-SECRET");
	g_assert_cmpstr(cfg->store.path, ==, want_db);
	g_assert_cmpstr(cfg->filters_dir, ==, want_f);
	config_free(&cfg);
}

/* ---- API key: file, environment, signing key default ------------------- */

static void
test_api_key_file(void)
{
	struct config *cfg;

	g_unsetenv(ENV_KEY);
	cfg = load_text_ok("[push]\napi_key_file = api-key\n", NULL);
	if (cfg == NULL)
		return;
	g_assert_cmpstr(cfg->push.api_key, ==, "file-api-key-SECRET");
	config_free(&cfg);
}

static void
test_api_key_none(void)
{
	struct config *cfg;

	g_unsetenv(ENV_KEY);
	cfg = load_text_ok("[push]\ntimeout = 5\n", NULL);
	if (cfg == NULL)
		return;
	g_assert_null(cfg->push.api_key);
	config_free(&cfg);
}

static void
test_api_key_env(void)
{
	struct config *cfg;

	g_setenv(ENV_KEY, "env-api-key", TRUE);
	cfg = load_text_ok("[push]\ntimeout = 5\n", NULL);
	if (cfg != NULL) {
		g_assert_cmpstr(cfg->push.api_key, ==, "env-api-key");
		config_free(&cfg);
	}
	g_unsetenv(ENV_KEY);
}

static void
test_api_key_env_wins(void)
{
	struct config *cfg;

	g_setenv(ENV_KEY, "env-api-key", TRUE);
	cfg = load_text_ok("[push]\napi_key_file = api-key\n", NULL);
	if (cfg != NULL) {
		g_assert_cmpstr(cfg->push.api_key, ==, "env-api-key");
		config_free(&cfg);
	}
	g_unsetenv(ENV_KEY);
}

/* The environment also applies to the built-in defaults. */
static void
test_api_key_env_defaults(void)
{
	g_autofree char *path = g_build_filename(tmpdir, "absent.conf", NULL);
	struct config *cfg = NULL;

	g_setenv(ENV_KEY, "env-api-key", TRUE);
	g_assert_cmpint(config_load(path, FALSE, &cfg, NULL), ==, 0);
	if (cfg != NULL) {
		g_assert_cmpstr(cfg->push.api_key, ==, "env-api-key");
		config_free(&cfg);
	}
	g_unsetenv(ENV_KEY);
}

/* An empty variable is no key: the file is used. */
static void
test_api_key_env_empty(void)
{
	struct config *cfg;

	g_setenv(ENV_KEY, "", TRUE);
	cfg = load_text_ok("[push]\napi_key_file = api-key\n", NULL);
	if (cfg != NULL) {
		g_assert_cmpstr(cfg->push.api_key, ==, "file-api-key-SECRET");
		config_free(&cfg);
	}
	g_unsetenv(ENV_KEY);
}

static void
test_signing_key_default(void)
{
	struct config *cfg;

	g_unsetenv(ENV_KEY);
	/* [http] listening, no signing key file: the API key signs. */
	cfg = load_text_ok("[push]\napi_key_file = api-key\n[http]\nlisten = inet:127.0.0.1:8465\n",
	    NULL);
	if (cfg != NULL) {
		g_assert_cmpstr(cfg->http.signing_key, ==, "file-api-key-SECRET");
		g_assert_true(cfg->http.signing_key != cfg->push.api_key);
		config_free(&cfg);
	}
	/* Order of groups does not matter. */
	cfg = load_text_ok("[http]\nlisten = inet:127.0.0.1:8465\n[push]\napi_key_file = api-key\n",
	    NULL);
	if (cfg != NULL) {
		g_assert_cmpstr(cfg->http.signing_key, ==, "file-api-key-SECRET");
		config_free(&cfg);
	}
	/* From the environment as well. */
	g_setenv(ENV_KEY, "env-api-key", TRUE);
	cfg = load_text_ok("[http]\nlisten = inet:127.0.0.1:8465\n", NULL);
	if (cfg != NULL) {
		g_assert_cmpstr(cfg->http.signing_key, ==, "env-api-key");
		config_free(&cfg);
	}
	g_unsetenv(ENV_KEY);
	/* Not listening: no signing key. */
	cfg = load_text_ok("[push]\napi_key_file = api-key\n[http]\ntimeout = 5\n", NULL);
	if (cfg != NULL) {
		g_assert_null(cfg->http.signing_key);
		config_free(&cfg);
	}
	/* An explicit signing key file wins over the API key. */
	cfg = load_text_ok("[push]\napi_key_file = api-key\n[http]\nlisten = inet:127.0.0.1:8465\n"
	    "signing_key_file = signing-key\n", NULL);
	if (cfg != NULL) {
		g_assert_cmpstr(cfg->http.signing_key, ==, "signing-key-SECRET");
		config_free(&cfg);
	}
}

/* An account's max_size default must not depend on where [lmtp] is. */
static void
test_imap_max_size_order(void)
{
	static const char imap[] = "[imap:w]\nhost = h\nuser = u\npassword_file = work.pass\n";
	static const char lmtp[] = "[lmtp]\nmax_size = 2048\n";
	g_autofree char *before = g_strconcat(lmtp, imap, NULL);
	g_autofree char *after = g_strconcat(imap, lmtp, NULL);
	struct config *a = load_text_ok(before, NULL);
	struct config *b = load_text_ok(after, NULL);

	if (a != NULL && b != NULL && a->imap->len == 1 && b->imap->len == 1)
		g_assert_cmpuint(imap_at(a, 0)->max_size, ==, imap_at(b, 0)->max_size);
	config_free(&a);
	config_free(&b);
}

/* ---- which authserv-ids an IMAP account trusts -------------------------- */

struct imap_ids_case {
	const char *name;
	const char *group;     /* the [imap:x] lines after the group header */
	const char *want;      /* the ids joined by ';', "" none, NULL: [auth]'s */
};

#define IMAP_BASE "user = u\npassword_file = work.pass\n"

static const struct imap_ids_case imap_ids_cases[] = {
	{ "gmail-preset", "host = imap.gmail.com\n" IMAP_BASE, "mx.google.com" },
	{ "gmail-preset-case", "host = IMAP.GMail.com\n" IMAP_BASE, "mx.google.com" },
	{ "googlemail-preset", "host = imap.googlemail.com\n" IMAP_BASE, "mx.google.com" },
	{ "outlook-preset-trusts-none", "host = outlook.office365.com\n" IMAP_BASE, "" },
	{ "outlook-com-preset-trusts-none", "host = imap-mail.outlook.com\n" IMAP_BASE, "" },
	{ "other-host-uses-auth", "host = imap.example.org\n" IMAP_BASE, NULL },
	{ "lookalike-host-uses-auth", "host = imap.gmail.com.example.org\n" IMAP_BASE, NULL },
	{ "explicit-wins", "host = imap.gmail.com\n" IMAP_BASE
	  "trusted_authserv_id = mx.google.com;arc.example\n", "mx.google.com;arc.example" },
	{ "explicit-other-host", "host = imap.example.org\n" IMAP_BASE
	  "trusted_authserv_id = mail.example.org\n", "mail.example.org" },
	{ "explicit-empty-trusts-none", "host = imap.gmail.com\n" IMAP_BASE
	  "trusted_authserv_id =\n", "" },
};

static void
test_imap_ids(gconstpointer data)
{
	const struct imap_ids_case *c = data;
	g_autofree char *text = g_strconcat("[auth]\ntrusted_authserv_id = mx.example.net\n"
	    "mta_strips_forged = true\n[imap:x]\n", c->group, NULL);
	struct config *cfg = load_text_ok(text, NULL);
	struct imap_config *ic;

	if (cfg == NULL || cfg->imap->len != 1)
		return;
	g_assert_true(cfg->mta_strips_forged);
	ic = imap_at(cfg, 0);
	if (c->want == NULL) {
		g_assert_null(ic->trusted_authserv_id);
	} else {
		g_autofree char *got = NULL;

		g_assert_nonnull(ic->trusted_authserv_id);
		got = g_strjoinv(";", ic->trusted_authserv_id);
		g_assert_cmpstr(got, ==, c->want);
	}
	config_free(&cfg);
}

/* mta_strips_forged is off unless the operator says so. */
static void
test_strips_default(void)
{
	struct config *cfg = load_text_ok("[auth]\ntrusted_authserv_id = mx.example.net\n", NULL);

	if (cfg != NULL)
		g_assert_false(cfg->mta_strips_forged);
	config_free(&cfg);
	cfg = config_defaults();
	g_assert_false(cfg->mta_strips_forged);
	config_free(&cfg);
}

/* ---- config_parse_listen ----------------------------------------------- */

struct listen_case {
	const char *s;
	gboolean ok;
	enum listen_kind kind;
	const char *where;     /* path or host */
	guint port;
};

static const struct listen_case listen_cases[] = {
	{ "unix:/run/otpbridge/lmtp.sock", TRUE, LISTEN_UNIX, "/run/otpbridge/lmtp.sock", 0 },
	{ "inet:127.0.0.1:2424", TRUE, LISTEN_INET, "127.0.0.1", 2424 },
	{ "inet:localhost:1", TRUE, LISTEN_INET, "localhost", 1 },
	{ "inet:[::1]:65535", TRUE, LISTEN_INET, "::1", 65535 },
	{ "inet:0.0.0.0:25", TRUE, LISTEN_INET, "0.0.0.0", 25 },
	{ "unix:", FALSE, 0, NULL, 0 },
	{ "unix:sock", FALSE, 0, NULL, 0 },
	{ "inet:", FALSE, 0, NULL, 0 },
	{ "inet:host", FALSE, 0, NULL, 0 },
	{ "inet:host:", FALSE, 0, NULL, 0 },
	{ "inet:host:-1", FALSE, 0, NULL, 0 },
	{ "inet:host:1x", FALSE, 0, NULL, 0 },
	{ "inet:[::1]", FALSE, 0, NULL, 0 },
	{ "inet:[::1]:", FALSE, 0, NULL, 0 },
	{ "inet:[]:25", FALSE, 0, NULL, 0 },
	{ "tcp:127.0.0.1:25", FALSE, 0, NULL, 0 },
	{ "127.0.0.1:25", FALSE, 0, NULL, 0 },
	{ "", FALSE, 0, NULL, 0 },
};

static void
test_listen(gconstpointer data)
{
	const struct listen_case *c = data;
	struct listen_addr *a = NULL;
	const char *why = NULL;
	int rc = config_parse_listen(c->s, &a, &why);

	if (!c->ok) {
		g_assert_cmpint(rc, ==, -1);
		g_assert_nonnull(why);
		if (rc == 0)
			listen_addr_free(a);
		return;
	}
	g_assert_cmpint(rc, ==, 0);
	g_assert_nonnull(a);
	if (a == NULL)
		return;
	g_assert_cmpint(a->kind, ==, c->kind);
	g_assert_cmpstr(c->kind == LISTEN_UNIX ? a->path : a->host, ==, c->where);
	g_assert_cmpuint(a->port, ==, c->port);
	listen_addr_free(a);
}

/* ---- main -------------------------------------------------------------- */

/* The test name of a row of listen_cases. */
static char *
listen_name(gsize i, gconstpointer row)
{
	const struct listen_case *c = row;

	g_autofree char *s = g_strdelimit(g_strdup(c->s), "/", '_');

	return g_strdup_printf("%zu-%s", i, s);
}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();
	g_unsetenv(ENV_KEY);
	tmpdir = testutil_tmpdir_new("test-config");

	g_test_add_func("/config/defaults/missing-file", test_defaults_missing_file);
	g_test_add_func("/config/defaults/function", test_defaults_function);
	g_test_add_func("/config/defaults/empty-file", test_defaults_empty_file);
	g_test_add_func("/config/missing-must-exist", test_missing_must_exist);
	g_test_add_func("/config/full", test_full);
	g_test_add_func("/config/absolute-paths", test_absolute_paths);
	g_test_add_func("/config/relative-config-path", test_relative_config_path);
	g_test_add_func("/config/imap-max-size-order", test_imap_max_size_order);
	g_test_add_func("/config/allow-http", test_allow_http);
	g_test_add_func("/config/token-url-empty", test_token_url_empty);
	g_test_add_func("/config/secret-other-owner", test_secret_other_owner);
	TESTUTIL_ADD_ROWS("/config/reload", reload_cases, test_reload);
	g_test_add_func("/config/reload/open-sink", test_reload_open_sink);
	TESTUTIL_ADD_ROWS("/config/imap-trusted-ids", imap_ids_cases, test_imap_ids);
	g_test_add_func("/config/strips-forged-default", test_strips_default);
	g_test_add_func("/config/oauth-missing-token", test_oauth_missing_token);
	TESTUTIL_ADD_ROWS("/config/ok", ok_cases, test_ok);
	TESTUTIL_ADD_ROWS("/config/error", error_cases, test_error);
	g_test_add_func("/config/api-key/file", test_api_key_file);
	g_test_add_func("/config/api-key/none", test_api_key_none);
	g_test_add_func("/config/api-key/env", test_api_key_env);
	g_test_add_func("/config/api-key/env-wins", test_api_key_env_wins);
	g_test_add_func("/config/api-key/env-defaults", test_api_key_env_defaults);
	g_test_add_func("/config/api-key/env-empty", test_api_key_env_empty);
	g_test_add_func("/config/api-key/signing-key-default", test_signing_key_default);
	TESTUTIL_ADD_ROWS_NAMED("/config/listen", listen_cases, listen_name, test_listen);

	rc = g_test_run();
	testutil_tmpdir_free(&tmpdir);
	return rc;
}
