/*
 * test-util.c - util.c: loopback hosts, addr-specs, identifier
 * normalisation, bounded file reading and secret files.
 */
#include "autoconfig.h"

#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <glib/gstdio.h>

#include "util.h"
#include "testutil.h"

static char *tmpdir;

/* Writes len bytes of data to tmpdir/name; returns the path. */
static char *
write_file(const char *name, const char *data, gssize len)
{
	char *path = g_build_filename(tmpdir, name, NULL);

	testutil_write_file(path, data, len, -1);
	return path;
}

/* ---- loopback ---------------------------------------------------------- */

struct loopback_case {
	const char *host;
	gboolean want;
};

static const struct loopback_case loopback_cases[] = {
	{ "localhost", TRUE },
	{ "LOCALHOST", TRUE },
	{ "LocalHost", TRUE },
	{ "127.0.0.1", TRUE },
	{ "127.1.2.3", TRUE },
	{ "127.255.255.254", TRUE },
	{ "::1", TRUE },
	{ "[::1]", TRUE },
	{ "0:0:0:0:0:0:0:1", TRUE },
	{ "[127.0.0.1]", TRUE },
	{ "10.0.0.1", FALSE },
	{ "128.0.0.1", FALSE },
	{ "126.255.255.255", FALSE },
	{ "0.0.0.0", FALSE },
	{ "::", FALSE },
	{ "::2", FALSE },
	{ "[::2]", FALSE },
	{ "192.168.1.1", FALSE },
	{ "example.com", FALSE },
	{ "localhost.example.com", FALSE },
	{ "127.0.0.1.example.com", FALSE },
	{ "localhostx", FALSE },
	{ "", FALSE },
	{ "[", FALSE },
	{ "[]", FALSE },
	{ "[::1", FALSE },
	{ "::1]", FALSE },
	{ "127.0.0.1 ", FALSE },
};

static void
test_loopback(gconstpointer data)
{
	const struct loopback_case *c = data;

	g_assert_cmpint(util_is_loopback_host(c->host), ==, c->want);
}

static void
test_loopback_null(void)
{
	g_assert_false(util_is_loopback_host(NULL));
}

/* ---- short ages (queue list, status) ------------------------------------ */

static void
test_age_short(void)
{
	static const struct { gint64 s; const char *want; } cases[] = {
		{ -5, "0s" }, { 0, "0s" }, { 119, "119s" }, { 120, "2m" },
		{ 7199, "119m" }, { 7200, "2h" }, { 172799, "47h" }, { 172800, "2d" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *got = util_age_short(cases[i].s);

		g_assert_cmpstr(got, ==, cases[i].want);
	}
}

/* ---- private hosts ([push] allow_http = private) ----------------------- */

static const struct loopback_case private_cases[] = {
	{ "localhost", TRUE },
	{ "127.0.0.1", TRUE },
	{ "[::1]", TRUE },
	{ "10.0.0.1", TRUE },
	{ "10.255.255.255", TRUE },
	{ "172.16.0.1", TRUE },
	{ "172.31.255.254", TRUE },
	{ "192.168.1.1", TRUE },
	{ "[192.168.1.1]", TRUE },
	{ "fd12:3456::1", TRUE },
	{ "[fc00::1]", TRUE },
	{ "::ffff:10.1.2.3", TRUE },
	{ "skyvern", TRUE },
	{ "skyvern-api", TRUE },
	{ "api2", TRUE },
	/* public or special, not private */
	{ "172.15.255.255", FALSE },
	{ "172.32.0.1", FALSE },
	{ "192.169.0.1", FALSE },
	{ "11.0.0.1", FALSE },
	{ "8.8.8.8", FALSE },
	{ "169.254.169.254", FALSE },   /* link-local: cloud metadata */
	{ "0.0.0.0", FALSE },
	{ "fe80::1", FALSE },
	{ "2001:db8::1", FALSE },
	{ "::ffff:8.8.8.8", FALSE },
	{ "::", FALSE },
	/* names with a dot may be anywhere; odd labels are no names */
	{ "skyvern.example.com", FALSE },
	{ "skyvern.", FALSE },
	{ "10", FALSE },
	{ "-skyvern", FALSE },
	{ "skyvern-", FALSE },
	{ "sky_vern", FALSE },
	{ "sky vern", FALSE },
	{ "[skyvern]", FALSE },
	{ "[10.0.0.1", FALSE },
	{ "", FALSE },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", FALSE },
};

static void
test_private(gconstpointer data)
{
	const struct loopback_case *c = data;

	g_assert_cmpint(util_is_private_host(c->host), ==, c->want);
}

/* The connect-time check: the address, not the name. */
static void
test_sockaddr_scope(void)
{
	static const struct { const char *ip; gboolean loopback, priv; } cases[] = {
		{ "127.0.0.1", TRUE, TRUE },
		{ "10.1.2.3", FALSE, TRUE },
		{ "172.20.0.5", FALSE, TRUE },
		{ "192.168.0.9", FALSE, TRUE },
		{ "93.184.216.34", FALSE, FALSE },
		{ "169.254.169.254", FALSE, FALSE },
		{ "::1", TRUE, TRUE },
		{ "fd00::5", FALSE, TRUE },
		{ "::ffff:10.0.0.1", FALSE, TRUE },
		{ "::ffff:127.0.0.1", TRUE, TRUE },
		{ "2606:4700::1111", FALSE, FALSE },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct sockaddr_storage ss;

		memset(&ss, 0, sizeof ss);
		if (strchr(cases[i].ip, ':') != NULL) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

			a->sin6_family = AF_INET6;
			g_assert_cmpint(inet_pton(AF_INET6, cases[i].ip, &a->sin6_addr), ==, 1);
		} else {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;

			a->sin_family = AF_INET;
			g_assert_cmpint(inet_pton(AF_INET, cases[i].ip, &a->sin_addr), ==, 1);
		}
		g_assert_cmpint(util_sockaddr_in_scope((struct sockaddr *)&ss, FALSE), ==,
		    cases[i].loopback);
		g_assert_cmpint(util_sockaddr_in_scope((struct sockaddr *)&ss, TRUE), ==,
		    cases[i].priv);
	}
	{
		struct sockaddr_storage ss;

		memset(&ss, 0, sizeof ss);
		ss.ss_family = AF_UNIX;
		g_assert_false(util_sockaddr_in_scope((struct sockaddr *)&ss, TRUE));
		g_assert_false(util_sockaddr_in_scope(NULL, TRUE));
	}
	g_assert_false(util_is_private_host(NULL));
}

/* ---- addr-spec --------------------------------------------------------- */

struct addr_case {
	const char *s;
	gboolean want;
};

static const struct addr_case addr_cases[] = {
	{ "a@b", TRUE },
	{ "bot@example.com", TRUE },
	{ "Bot+tag@Example.COM", TRUE },
	{ "first.last@sub.example.org", TRUE },
	{ "", FALSE },
	{ "@example.com", FALSE },
	{ "bot@", FALSE },
	{ "bot", FALSE },
	{ "a@b@c", FALSE },
	{ "a b@c", FALSE },
	{ "a@b c", FALSE },
	{ "<a@b>", FALSE },
	{ "Name <a@b>", FALSE },
	{ "a@b,c@d", FALSE },
	{ "a@b\tc", FALSE },
	{ "a@b\n", FALSE },
	{ "a\001@b", FALSE },
	{ "+1 555 0100", FALSE },
};

static void
test_addr_spec(gconstpointer data)
{
	const struct addr_case *c = data;

	g_assert_cmpint(util_is_addr_spec(c->s), ==, c->want);
}

static void
test_addr_spec_null(void)
{
	g_assert_false(util_is_addr_spec(NULL));
}

/* ---- identifier normalisation ------------------------------------------ */

struct norm_case {
	const char *name;
	const char *in;
	const char *want;
};

static const struct norm_case norm_cases[] = {
	{ "addr-lower", "Bot@Example.COM", "bot@example.com" },
	{ "addr-already-lower", "bot@example.com", "bot@example.com" },
	{ "addr-trimmed", "  Bot@Example.COM \t", "bot@example.com" },
	{ "addr-plus", "Bot+Signup@Example.COM", "bot+signup@example.com" },
	{ "addr-utf8", "Jürgen@Example.DE", "jürgen@example.de" },
	{ "display-name", "Name <a@b>", "Name <a@b>" },
	{ "display-name-upper", "Name <A@B>", "Name <A@B>" },
	{ "phone", "+1 555 0100", "+1 555 0100" },
	{ "phone-trimmed", "  +1 555 0100  ", "+1 555 0100" },
	{ "plain-word", "MyTask", "MyTask" },
	{ "two-at", "A@B@C", "A@B@C" },
	{ "empty", "", "" },
	{ "blanks", "   ", "" },
	/* internationalised addresses (RFC 6531/6532): one normal form */
	{ "idn-local", "B\xc3\x98t@OTP.Example.COM", "b\xc3\xb8t@otp.example.com" },
	{ "idn-domain", "Bot@B\xc3\xbc" "cher.Example", "bot@b\xc3\xbc" "cher.example" },
	{ "idn-cyrillic", "\xd0\x91\xd0\x9e\xd0\xa2@\xd0\x9f\xd0\xa0\xd0\x98\xd0\x9c"
	  "\xd0\x95\xd0\xa0.\xd0\xa0\xd0\xa4",
	  "\xd0\xb1\xd0\xbe\xd1\x82@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80."
	  "\xd1\x80\xd1\x84" },
	{ "idn-a-label", "bot@xn--bcher-kva.example", "bot@b\xc3\xbc" "cher.example" },
	{ "idn-a-label-upper", "Bot@XN--BCHER-KVA.Example", "bot@b\xc3\xbc" "cher.example" },
	{ "idn-a-labels-all", "\xd0\xb1\xd0\xbe\xd1\x82@xn--e1afmkfd.xn--p1ai",
	  "\xd0\xb1\xd0\xbe\xd1\x82@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80."
	  "\xd1\x80\xd1\x84" },
	{ "idn-nfd-local", "bo\xcc\x88t@x.example", "b\xc3\xb6t@x.example" },
	{ "idn-nfd-domain", "bot@bu\xcc\x88" "cher.example", "bot@b\xc3\xbc" "cher.example" },
	{ "idn-a-label-bad", "bot@xn--zz.example", "bot@xn--zz.example" },
	{ "idn-a-label-ascii", "bot@XN--A-.example", "bot@xn--a-.example" },
	{ "idn-a-label-empty", "bot@xn--.example", "bot@xn--.example" },
	{ "idn-plus-kept", "B\xc3\x98t+WR_1@x.example", "b\xc3\xb8t+wr_1@x.example" },
	{ "idn-dotless-i", "\xc4\xb0NFO@x.example", "info@x.example" },
	{ "idn-display-name", "\xd0\x98\xd0\xbc\xd1\x8f <A@B>", "\xd0\x98\xd0\xbc\xd1\x8f <A@B>" },
	{ "invalid-utf8-replaced", "b\xf8t@X.example", "b\xef\xbf\xbdt@x.example" },
};

/* util_normalize_address: what it refuses, and that it agrees with
 * util_normalize_identifier on everything else. */
static const char *const norm_bad[] = {
	"b\xf8t@x.example",              /* Latin-1 */
	"bot@b\xfc\x63her.example",      /* \x63: c */
	"\xc0\xaf@x.example",            /* overlong '/' */
	"bot@x.example\xed\xa0\x80",     /* a UTF-16 surrogate */
	"\xff",
	"Name <b\xf8t@x>",
};

static void
test_normalize_bad(void)
{
	for (gsize i = 0; i < G_N_ELEMENTS(norm_bad); i++) {
		g_autoptr(GError) err = NULL;
		char *got = util_normalize_address(norm_bad[i], &err);

		g_assert_null(got);
		g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
		g_assert_nonnull(strstr(err->message, "not valid UTF-8"));
	}
	for (gsize i = 0; i < G_N_ELEMENTS(norm_cases); i++) {
		g_autoptr(GError) err = NULL;
		g_autofree char *got = util_normalize_address(norm_cases[i].in, &err);

		if (g_utf8_validate(norm_cases[i].in, -1, NULL)) {
			g_assert_no_error(err);
			g_assert_cmpstr(got, ==, norm_cases[i].want);
		} else {
			g_assert_null(got);
		}
	}
}

static void
test_normalize(gconstpointer data)
{
	const struct norm_case *c = data;
	g_autofree char *got = util_normalize_identifier(c->in);

	g_assert_cmpstr(got, ==, c->want);
}

static void
test_normalize_null(void)
{
	g_autofree char *got = util_normalize_identifier(NULL);

	g_assert_cmpstr(got, ==, "");
}

/* ---- resolve_path ------------------------------------------------------ */

static void
test_resolve_path(void)
{
	g_autofree char *a = util_resolve_path("/etc/otpbridge", "api-key");
	g_autofree char *b = util_resolve_path("/etc/otpbridge", "/run/key");
	g_autofree char *c = util_resolve_path(NULL, "rel/key");
	g_autofree char *d = util_resolve_path("conf", "sub/key");

	g_assert_cmpstr(a, ==, "/etc/otpbridge/api-key");
	g_assert_cmpstr(b, ==, "/run/key");
	g_assert_cmpstr(c, ==, "rel/key");
	g_assert_cmpstr(d, ==, "conf/sub/key");
}

/* ---- read_file --------------------------------------------------------- */

static void
test_read_file_exact_limit(void)
{
	g_autofree char *path = write_file("exact", "0123456789", 10);
	g_autoptr(GError) err = NULL;
	char *data = NULL;
	gsize len = 0;

	g_assert_cmpint(util_read_file(path, 10, &data, &len, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(len, ==, 10);
	g_assert_cmpmem(data, len, "0123456789", 10);
	g_assert_cmpint(data[len], ==, '\0');
	g_free(data);
}

static void
test_read_file_over_limit(void)
{
	g_autofree char *path = write_file("over", "0123456789A", 11);
	g_autoptr(GError) err = NULL;
	char *data = NULL;
	gsize len = 0;

	g_assert_cmpint(util_read_file(path, 10, &data, &len, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
	g_assert_null(data);
	if (err != NULL)
		g_assert_nonnull(strstr(err->message, path));
}

/* The limit also holds across the reader's internal chunk size. */
static void
test_read_file_large(void)
{
	gsize n = 200000;
	g_autofree char *big = g_malloc(n);
	g_autofree char *path = NULL;
	g_autoptr(GError) err = NULL;
	char *data = NULL;
	gsize len = 0;

	for (gsize i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	path = write_file("big", big, (gssize)n);
	g_assert_cmpint(util_read_file(path, n, &data, &len, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(len, ==, n);
	g_assert_cmpmem(data, len, big, n);
	g_free(data);
	data = NULL;
	g_assert_cmpint(util_read_file(path, n - 1, &data, &len, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
}

static void
test_read_file_empty(void)
{
	g_autofree char *path = write_file("empty", "", 0);
	g_autoptr(GError) err = NULL;
	char *data = NULL;
	gsize len = 99;

	g_assert_cmpint(util_read_file(path, 10, &data, &len, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(len, ==, 0);
	g_assert_nonnull(data);
	g_assert_cmpstr(data, ==, "");
	g_free(data);
}

static void
test_read_file_binary(void)
{
	static const char bin[] = { 'a', '\0', 'b', '\n', '\0' };
	g_autofree char *path = write_file("bin", bin, sizeof(bin));
	g_autoptr(GError) err = NULL;
	char *data = NULL;
	gsize len = 0;

	g_assert_cmpint(util_read_file(path, 100, &data, &len, &err), ==, 0);
	g_assert_cmpuint(len, ==, sizeof(bin));
	g_assert_cmpmem(data, len, bin, sizeof(bin));
	g_free(data);
}

static void
test_read_file_missing(void)
{
	g_autofree char *path = g_build_filename(tmpdir, "no-such-file", NULL);
	g_autoptr(GError) err = NULL;
	char *data = NULL;
	gsize len = 0;

	g_assert_cmpint(util_read_file(path, 10, &data, &len, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
	if (err != NULL)
		g_assert_nonnull(strstr(err->message, path));
}

static void
test_read_file_directory(void)
{
	g_autoptr(GError) err = NULL;
	char *data = NULL;
	gsize len = 0;

	g_assert_cmpint(util_read_file(tmpdir, 10, &data, &len, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
}

/* ---- secret files ------------------------------------------------------ */

struct secret_case {
	const char *name;
	const char *content;
	const char *want;      /* NULL: an error */
};

static const struct secret_case secret_cases[] = {
	{ "plain", "s3cr3t-Key", "s3cr3t-Key" },
	{ "lf", "s3cr3t-Key\n", "s3cr3t-Key" },
	{ "crlf", "s3cr3t-Key\r\n", "s3cr3t-Key" },
	{ "cr-only", "s3cr3t-Key\r", "s3cr3t-Key" },
	{ "first-line-only", "s3cr3t-Key\nsecond-line\nthird\n", "s3cr3t-Key" },
	{ "first-line-crlf", "s3cr3t-Key\r\nsecond-line\r\n", "s3cr3t-Key" },
	{ "trailing-blanks", "s3cr3t-Key  \t\n", "s3cr3t-Key" },
	{ "leading-blanks", "  s3cr3t-Key\n", "s3cr3t-Key" },
	{ "inner-blank-kept", "pass word\n", "pass word" },
	{ "empty", "", NULL },
	{ "only-newline", "\n", NULL },
	{ "only-crlf", "\r\n", NULL },
	{ "blanks-only", "   \n", NULL },
	{ "empty-first-line", "\ns3cr3t-Key\n", NULL },
};

static void
test_secret(gconstpointer data)
{
	const struct secret_case *c = data;
	g_autofree char *fname = g_strconcat("secret-", c->name, NULL);
	g_autofree char *path = write_file(fname, c->content, -1);
	g_autoptr(GError) err = NULL;
	char *s = util_read_secret_file(path, &err);

	if (c->want == NULL) {
		g_assert_null(s);
		g_assert_nonnull(err);
		if (err == NULL)
			return;
		g_assert_true(err->domain == OTPB_ERROR);
		g_assert_nonnull(strstr(err->message, path));
		g_assert_null(strstr(err->message, "s3cr3t"));
	} else {
		g_assert_no_error(err);
		g_assert_cmpstr(s, ==, c->want);
		util_secret_free(&s);
		g_assert_null(s);
	}
}

static void
test_secret_missing(void)
{
	g_autofree char *path = g_build_filename(tmpdir, "no-secret", NULL);
	g_autoptr(GError) err = NULL;

	g_assert_null(util_read_secret_file(path, &err));
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
	if (err != NULL)
		g_assert_nonnull(strstr(err->message, path));
}

/* Too big: an error that does not quote the content. */
static void
test_secret_too_big(void)
{
	GString *s = g_string_new("s3cr3t-");
	g_autofree char *path = NULL;
	g_autoptr(GError) err = NULL;

	while (s->len <= 5000)
		g_string_append(s, "s3cr3t-Key");
	path = write_file("secret-big", s->str, (gssize)s->len);
	g_string_free(s, TRUE);
	g_assert_null(util_read_secret_file(path, &err));
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
	if (err != NULL)
		g_assert_null(strstr(err->message, "s3cr3t"));
}

/* At the 4096-byte bound the secret is still read. */
static void
test_secret_at_limit(void)
{
	g_autofree char *key = g_strnfill(4095, 'k');
	g_autofree char *content = g_strconcat(key, "\n", NULL);
	g_autofree char *path = write_file("secret-limit", content, -1);
	g_autoptr(GError) err = NULL;
	char *s = util_read_secret_file(path, &err);

	g_assert_no_error(err);
	g_assert_cmpstr(s, ==, key);
	util_secret_free(&s);
}

static void
test_secret_free_null(void)
{
	char *s = NULL;

	util_secret_free(&s);
	g_assert_null(s);
	s = g_strdup("x");
	util_secret_free(&s);
	g_assert_null(s);
}

/* ---- secret file modes (the ssh rule) ----------------------------------- */

struct mode_case {
	guint mode, uid, euid;
	gboolean group_ok;
	const char *want;      /* part of the problem, NULL: accepted */
};

static const struct mode_case mode_cases[] = {
	{ 0100600, 0, 0, FALSE, NULL },
	{ 0100400, 0, 0, FALSE, NULL },
	{ 0100600, 998, 998, FALSE, NULL },          /* the service user's own */
	{ 0100640, 0, 998, TRUE, NULL },             /* root:otpbridge 0640 */
	{ 0100440, 0, 998, TRUE, NULL },
	{ 0100700, 998, 998, FALSE, NULL },          /* owner bits are the owner's */
	{ 0100644, 0, 0, TRUE, "is readable by others (mode 0644); chmod 600 it" },
	{ 0100604, 998, 998, FALSE, "is readable by others (mode 0604)" },
	{ 0100601, 998, 998, FALSE, "is readable by others (mode 0601)" },
	{ 0100640, 0, 998, FALSE, "is readable by a group this process is not in (mode 0640)" },
	{ 0100610, 0, 998, FALSE, "a group this process is not in" },
	{ 0100660, 0, 998, TRUE, "is writable by its group (mode 0660); chmod 600 it" },
	{ 0100620, 998, 998, TRUE, "is writable by its group" },
	{ 0100602, 998, 998, FALSE, "is writable by others (mode 0602)" },
	{ 0100666, 0, 0, TRUE, "is writable by others (mode 0666)" },
	{ 0104600, 0, 0, FALSE, NULL },              /* setuid: not a reader */
	{ 0100600, 1000, 998, FALSE, "is owned by uid 1000, neither this user (uid 998) nor root" },
	{ 0100600, 998, 0, FALSE, "is owned by uid 998, neither this user (uid 0) nor root" },
};

static void
test_secret_mode(gconstpointer data)
{
	const struct mode_case *c = data;
	g_autofree char *why = util_secret_mode_problem(c->mode, c->uid, c->euid, c->group_ok);

	if (c->want == NULL) {
		g_assert_null(why);
		return;
	}
	g_assert_nonnull(why);
	if (why != NULL && strstr(why, c->want) == NULL)
		g_test_message("got '%s', want '%s'", why, c->want);
	g_assert_nonnull(why != NULL ? strstr(why, c->want) : NULL);
}

/* ---- util_redact: an endpoint's reply as queue list shows it ----------- */

struct redact_case {
	const char *name;
	const char *reply;
	const char *secret;
	const char *want;      /* the exact result */
};

static const struct redact_case redact_cases[] = {
	{ "plain", "{\"input\":\"482913\"}", "482913", "{\"input\":\"[code]\"}" },
	{ "json-u-one", "{\"content\":\"48\\u00329\\u0031\\u0033\"}", "482913",
	  "{\"content\":\"[code]\"}" },
	{ "json-u-all", "\\u0034\\u0038\\u0032\\u0039\\u0031\\u0033", "482913", "[code]" },
	{ "json-u-upper", "\\u004B\\u0058R-4T9", "KXR-4T9", "[code]" },
	{ "json-solidus", "code 48\\/29\\/13 refused", "482913", "code [code] refused" },
	{ "percent", "content=48%32%3913&x=1", "482913", "content=[code]&x=1" },
	{ "percent-all", "%34%38%32%39%31%33", "482913", "[code]" },
	{ "percent-of-json-escape", "48%5Cu00329%5Cu00313", "482913", "[code]" },
	{ "html-decimal", "<p>&#52;&#56;2913</p>", "482913", "<p>[code]</p>" },
	{ "html-hex", "&#x34;&#X38;2913", "482913", "[code]" },
	{ "grouped", "got 482 913 and 482-913", "482913", "got [code] and [code]" },
	{ "case", "code kxr4t9", "KXR-4T9", "code [code]" },
	{ "twice", "482913,482913", "482913", "[code],[code]" },
	{ "not-there", "{\"detail\":\"Invalid credentials\"}", "482913",
	  "{\"detail\":\"Invalid credentials\"}" },
	{ "other-number", "request 4829 failed", "482913", "request 4829 failed" },
	{ "three-gap-is-no-match", "48 - 2913", "482913", "48 - 2913" },
	{ "no-secret", "a\\u0041b", NULL, "aAb" },
	{ "controls", "a\nb\\u0007c\\nd", "482913", "a b c d" },
	{ "percent-nul", "48%0029%0013xx", "482913", "[code]xx" },
	{ "lone-surrogate", "\\ud800x", NULL, "\xef\xbf\xbdx" },
	{ "pair", "\\ud83d\\ude00", NULL, "\xf0\x9f\x98\x80" },
	{ "bad-utf8", "\xff 482913", "482913", "\xef\xbf\xbd [code]" },
	{ "truncated-escapes", "\\u00 %3 &#52", "482913", "\\u00 %3 &#52" },
	/* send = text: the code is somewhere in the text; digit runs go. */
	{ "text-mode", "{\"input\":\"Your code is 4\\u003829 13, valid 10 min\"}",
	  "Hello,\nyour code is 482913. It expires in 10 minutes.",
	  "{\"input\":\"Your code is [code], valid 10 min\"}" },
};

static void
test_redact(gconstpointer data)
{
	const struct redact_case *c = data;
	g_autofree char *got = util_redact(c->reply, c->secret);

	g_assert_cmpstr(got, ==, c->want);
	g_assert_true(g_utf8_validate(got, -1, NULL));
}

static void
test_redact_null(void)
{
	g_assert_null(util_redact(NULL, "482913"));
}

/* ---- main -------------------------------------------------------------- */

/* The test name of a row of loopback_cases. */
static char *
host_name(gsize i, gconstpointer row)
{
	const struct loopback_case *c = row;

	return g_strdup_printf("%zu:%s", i, *c->host ? c->host : "(empty)");
}

/* The test name of a row of addr_cases. */
static char *
index_name(gsize i, gconstpointer row)
{
	(void)row;
	return g_strdup_printf("%zu", i);
}

/* The test name of a row of mode_cases. */
static char *
mode_name(gsize i, gconstpointer row)
{
	const struct mode_case *c = row;

	(void)i;
	return g_strdup_printf("%04o-uid%u-euid%u%s", c->mode & 07777, c->uid, c->euid,
	    c->group_ok ? "-own-group" : "");
}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();
	tmpdir = testutil_tmpdir_new("test-util");

	TESTUTIL_ADD_ROWS_NAMED("/util/loopback", loopback_cases, host_name, test_loopback);
	g_test_add_func("/util/loopback/null", test_loopback_null);
	TESTUTIL_ADD_ROWS_NAMED("/util/private", private_cases, host_name, test_private);
	g_test_add_func("/util/private/sockaddr", test_sockaddr_scope);
	g_test_add_func("/util/age-short", test_age_short);
	TESTUTIL_ADD_ROWS_NAMED("/util/addr-spec", addr_cases, index_name, test_addr_spec);
	g_test_add_func("/util/addr-spec/null", test_addr_spec_null);
	TESTUTIL_ADD_ROWS("/util/normalize", norm_cases, test_normalize);
	g_test_add_func("/util/normalize/null", test_normalize_null);
	g_test_add_func("/util/normalize/bad-utf8", test_normalize_bad);
	g_test_add_func("/util/resolve-path", test_resolve_path);
	g_test_add_func("/util/read-file/exact-limit", test_read_file_exact_limit);
	g_test_add_func("/util/read-file/over-limit", test_read_file_over_limit);
	g_test_add_func("/util/read-file/large", test_read_file_large);
	g_test_add_func("/util/read-file/empty", test_read_file_empty);
	g_test_add_func("/util/read-file/binary", test_read_file_binary);
	g_test_add_func("/util/read-file/missing", test_read_file_missing);
	g_test_add_func("/util/read-file/directory", test_read_file_directory);
	TESTUTIL_ADD_ROWS("/util/secret", secret_cases, test_secret);
	g_test_add_func("/util/secret/missing", test_secret_missing);
	g_test_add_func("/util/secret/too-big", test_secret_too_big);
	g_test_add_func("/util/secret/at-limit", test_secret_at_limit);
	g_test_add_func("/util/secret/free", test_secret_free_null);
	TESTUTIL_ADD_ROWS_NAMED("/util/secret-mode", mode_cases, mode_name, test_secret_mode);
	TESTUTIL_ADD_ROWS("/util/redact", redact_cases, test_redact);
	g_test_add_func("/util/redact/null", test_redact_null);

	rc = g_test_run();
	testutil_tmpdir_free(&tmpdir);
	return rc;
}
