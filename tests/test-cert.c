/*
 * test-cert.c - cert.c: a server's chain verified against a CA file, as
 * imap.c hands it over (DER bytes).  The certificates are made for the
 * run by openssl(1): a CA, another CA, a server certificate for
 * localhost and 127.0.0.1 with the TLS server purpose, and one with the
 * client purpose only.  Each row changes one thing from the accepted one.
 */
#include "autoconfig.h"

#include <string.h>
#include <glib/gstdio.h>

#include "cert.h"
#include "testutil.h"

static char *tmpdir;

/* Makes the certificates in tmpdir. */
static void
make_certs(void)
{
	const char *script =
	    "set -e\n"
	    "k='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
	    "openssl req -x509 $k -days 2 -subj '/CN=test CA' -keyout ca.key -out ca.pem\n"
	    "openssl req -x509 $k -days 2 -subj '/CN=other CA' -keyout other.key -out other.pem\n"
	    "for p in server client; do\n"
	    "  openssl req $k -subj /CN=localhost -keyout $p.key -out $p.csr\n"
	    "  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n"
	    "extendedKeyUsage=%sAuth\\nbasicConstraints=CA:FALSE\\n' $p >$p.ext\n"
	    "  openssl x509 -req -in $p.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
	    " -days 2 -extfile $p.ext -outform DER -out $p.der\n"
	    "done\n"
	    "openssl x509 -in ca.pem -outform DER -out ca.der\n"
	    ": >empty.pem\n";
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	char *out = NULL, *err = NULL;
	int status = -1;
	GError *gerr = NULL;

	g_assert_true(g_spawn_sync(tmpdir, (char **)argv, NULL, G_SPAWN_DEFAULT,
	    NULL, NULL, &out, &err, &status, &gerr));
	g_assert_no_error(gerr);
	if (status != 0)
		g_printerr("%s", err);
	g_assert_cmpint(status, ==, 0);
	g_free(out);
	g_free(err);
}

struct cert_case {
	const char *name;
	const char *chain;            /* comma-separated DER files, or
	                               * "garbage"; "" none */
	const char *host;
	const char *ca_file;          /* in tmpdir; NULL: the system store */
	const char *want_err;         /* NULL: accepted; else its prefix */
};

static const struct cert_case cert_cases[] = {
	{ "accepted", "server.der", "localhost", "ca.pem", NULL },
	{ "ip-address", "server.der", "127.0.0.1", "ca.pem", NULL },
	{ "with-its-ca", "server.der,ca.der", "localhost", "ca.pem", NULL },
	{ "host-case", "server.der", "LOCALHOST", "ca.pem", NULL },
	{ "wrong-host", "server.der", "example.com", "ca.pem",
	  "TLS: certificate not trusted for example.com: " },
	{ "wrong-ip", "server.der", "127.0.0.2", "ca.pem",
	  "TLS: certificate not trusted for 127.0.0.2: " },
	{ "other-ca", "server.der", "localhost", "other.pem",
	  "TLS: certificate not trusted for localhost: " },
	{ "system-store", "server.der", "localhost", NULL,
	  "TLS: certificate not trusted for localhost: " },
	{ "client-purpose", "client.der", "localhost", "ca.pem",
	  "TLS: certificate not trusted for localhost" },
	{ "no-certificate", "", "localhost", "ca.pem",
	  "TLS: the server sent no certificate" },
	{ "unparsable", "garbage", "localhost", "ca.pem",
	  "TLS: unparsable server certificate" },
	{ "unparsable-second", "server.der,garbage", "localhost", "ca.pem",
	  "TLS: unparsable server certificate" },
	{ "empty-ca-file", "server.der", "localhost", "empty.pem",
	  "TLS: no trusted CA loaded from " },
	{ "missing-ca-file", "server.der", "localhost", "missing.pem",
	  "TLS: no trusted CA loaded from " },
};

static void
test_cert(gconstpointer data)
{
	const struct cert_case *c = data;
	char **files = g_strsplit(c->chain, ",", -1);
	guint n = g_strv_length(files), i;
	struct cert_der *der = g_new0(struct cert_der, MAX(n, 1));
	char **bytes = g_new0(char *, n + 1);
	char *ca = c->ca_file != NULL ? g_build_filename(tmpdir, c->ca_file, NULL) : NULL;
	char *err = NULL;
	int r;

	for (i = 0; i < n; i++) {
		gsize len = 0;

		if (strcmp(files[i], "garbage") == 0) {
			bytes[i] = g_strdup("\x30\x82\x01\x00 not a certificate");
			len = strlen(bytes[i]);
		} else {
			char *path = g_build_filename(tmpdir, files[i], NULL);

			g_assert_true(g_file_get_contents(path, &bytes[i], &len, NULL));
			g_free(path);
		}
		der[i].data = (const unsigned char *)bytes[i];
		der[i].len = len;
	}
	r = cert_verify(n > 0 ? der : NULL, n, c->host, ca, &err);
	if (c->want_err == NULL) {
		g_assert_null(err);
		g_assert_cmpint(r, ==, 0);
	} else {
		g_assert_cmpint(r, ==, -1);
		g_assert_nonnull(err);
		if (!g_str_has_prefix(err, c->want_err))
			g_error("got \"%s\", want \"%s...\"", err, c->want_err);
		if (ca != NULL && g_str_has_prefix(c->want_err, "TLS: no trusted CA"))
			g_assert_nonnull(strstr(err, ca));
	}
	g_free(err);
	g_free(ca);
	g_strfreev(bytes);
	g_free(der);
	g_strfreev(files);
}

int
main(int argc, char **argv)
{
	int r;

	g_test_init(&argc, &argv, NULL);
	tmpdir = testutil_tmpdir_new("test-cert");
	make_certs();
	TESTUTIL_ADD_ROWS("/cert", cert_cases, test_cert);
	r = g_test_run();
	testutil_tmpdir_free(&tmpdir);
	return r;
}
