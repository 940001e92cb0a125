/*
 * cert.c - verification of a TLS server's certificate chain with GnuTLS,
 * the only file that includes it.
 *
 * Why: Debian's libetpan is built against GnuTLS and its
 * mailstream_ssl_set_server_certicate() is a no-op there, so libetpan
 * verifies nothing.  After the handshake (and before any credential is
 * sent) imap.c takes the peer chain with mailstream_get_certificate_chain()
 * and hands it here as DER bytes; we verify it against ca_file or the
 * system store, including the host name (or IP address) and the TLS
 * server key purpose.
 *
 * Hostile input: the certificates the server sent (parsed by GnuTLS).
 * Limits: at most CERT_CHAIN_MAX certificates of a chain are parsed; the
 * server's reason text is GnuTLS's own description of the status bits,
 * not anything the server wrote.
 *
 * SECURITY: nothing is sent to a server whose chain this refuses; a chain
 * that cannot be parsed, an empty one and a CA file with no CA in it are
 * refusals too, never a fallback to "unverified".
 */
#include "autoconfig.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "cert.h"

int
cert_verify(const struct cert_der *chain, guint count, const char *host,
    const char *ca_file, char **err)
{
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_x509_crt_t *crts = NULL;
	unsigned int n = 0, i, status = 0;
	int r, ret = -1;
	gnutls_typed_vdata_st vd[2];

	if (chain == NULL || count == 0) {
		*err = g_strdup("TLS: the server sent no certificate");
		goto out;
	}
	n = MIN(count, (guint)CERT_CHAIN_MAX);
	crts = g_new0(gnutls_x509_crt_t, n);
	for (i = 0; i < n; i++) {
		gnutls_datum_t d = { (unsigned char *)chain[i].data,
		    (unsigned int)MIN(chain[i].len, (gsize)G_MAXUINT) };

		if (gnutls_x509_crt_init(&crts[i]) < 0 ||
		    gnutls_x509_crt_import(crts[i], &d, GNUTLS_X509_FMT_DER) < 0) {
			*err = g_strdup("TLS: unparsable server certificate");
			goto out;
		}
	}
	if (gnutls_x509_trust_list_init(&tl, 0) < 0) {
		*err = g_strdup("TLS: cannot create a trust list");
		goto out;
	}
	if (ca_file != NULL)
		r = gnutls_x509_trust_list_add_trust_file(tl, ca_file, NULL,
		    GNUTLS_X509_FMT_PEM, 0, 0);
	else
		r = gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
	if (r <= 0) {
		*err = g_strdup_printf("TLS: no trusted CA loaded from %s",
		    ca_file != NULL ? ca_file : "the system store");
		goto out;
	}
	vd[0].type = GNUTLS_DT_DNS_HOSTNAME;
	vd[0].data = (unsigned char *)host;
	vd[0].size = 0;
	vd[1].type = GNUTLS_DT_KEY_PURPOSE_OID;
	vd[1].data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER;
	vd[1].size = 0;
	r = gnutls_x509_trust_list_verify_crt2(tl, crts, n, vd, 2, 0, &status, NULL);
	if (r < 0 || status != 0) {
		gnutls_datum_t txt = { NULL, 0 };

		if (r >= 0 && gnutls_certificate_verification_status_print(status,
		    GNUTLS_CRT_X509, &txt, 0) >= 0 && txt.data != NULL) {
			*err = g_strdup_printf("TLS: certificate not trusted for %s: %s",
			    host, g_strstrip((char *)txt.data));
			gnutls_free(txt.data);
		} else {
			*err = g_strdup_printf("TLS: certificate not trusted for %s",
			    host);
		}
		goto out;
	}
	ret = 0;
out:
	if (crts != NULL) {
		for (i = 0; i < n; i++)
			if (crts[i] != NULL)
				gnutls_x509_crt_deinit(crts[i]);
		g_free(crts);
	}
	if (tl != NULL)
		gnutls_x509_trust_list_deinit(tl, 1);
	return ret;
}
