/*
 * cert.h - verification of a TLS server's certificate chain (SPEC 6):
 * the IMAP source hands the DER certificates it was sent, and the name it
 * connected to, as plain bytes.  cert.c is the only file that includes
 * GnuTLS.
 */
#ifndef OTPBRIDGE_CERT_H
#define OTPBRIDGE_CERT_H

#include <glib.h>

#define CERT_CHAIN_MAX 16           /* certificates of a chain looked at */

/* One certificate as the peer sent it (DER); the bytes are the caller's. */
struct cert_der {
	const unsigned char *data;
	gsize len;
};

/*
 * Verifies chain[0..n) (the server's certificate first; at most
 * CERT_CHAIN_MAX are used) against the CAs in ca_file (PEM) or, when
 * ca_file is NULL, the system store: the chain must lead to a trusted
 * CA, be valid now, name host (a DNS name or an IP address) and allow the
 * TLS server key purpose.  Returns 0, or -1 and *err (g_malloc'd), e.g.
 * "TLS: certificate not trusted for HOST: REASON".
 */
int cert_verify(const struct cert_der *chain, guint n, const char *host,
    const char *ca_file, char **err);

#endif
