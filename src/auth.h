/*
 * auth.h - sender authentication from Authentication-Results (RFC 8601).
 *
 * Only headers whose authserv-id is trusted count, only where the source
 * lets them count (above the topmost Received: for mail an MTA hands
 * over), and of those only the topmost (the one added last).  Pure.
 */
#ifndef OTPBRIDGE_AUTH_H
#define OTPBRIDGE_AUTH_H

#include <glib.h>

enum auth_req {
	AUTH_NONE = 0,
	AUTH_DKIM,   /* dkim=pass with header.d (else header.i) aligned to From */
	AUTH_SPF,    /* spf=pass with smtp.mailfrom aligned to From */
	AUTH_DMARC,  /* dmarc=pass */
};

extern const char *const auth_req_names[]; /* "none", "dkim", "spf", "dmarc", NULL */

/*
 * Where a trusted Authentication-Results header must stand to count
 * (doc/security.md).
 */
enum auth_where {
	/* Anywhere: an IMAP provider's own authserv-id (the provider strips
	 * forged ones), or [auth] mta_strips_forged. */
	AUTH_ANYWHERE = 0,
	/* Mail handed over by the operator's MTA (LMTP, SMTP, deliver,
	 * test): only above the topmost Received:, the one that MTA added;
	 * anything below it was in the mail when it arrived. */
	AUTH_ABOVE_RECEIVED,
};

/*
 * How many of a message's n_ar Authentication-Results (topmost first) may
 * count: all of them for AUTH_ANYWHERE; for AUTH_ABOVE_RECEIVED the n_above
 * that stand above the topmost Received:, and none when the message has
 * no Received: at all (no MTA vouches for any of them).
 */
guint auth_usable(enum auth_where where, guint n_ar, gboolean has_received,
    guint n_above);

/*
 * Checks req against the Authentication-Results values ar (topmost first),
 * trusting only authserv-ids in trusted (NULL-terminated, may be NULL) and
 * only in the first usable headers (auth_usable()).  The authserv-id must
 * be a bare token: a quoted or commented one is no one's.  A trusted
 * header with an unbalanced quote or comment fails.  DKIM aligns header.d
 * with the From domain (header.i only when there is no header.d, as Gmail
 * writes it); a header.i outside its header.d fails the result.
 * Returns TRUE when the requirement holds (always for AUTH_NONE); else
 * FALSE with *why set to a static explanation.
 */
gboolean auth_check(const GPtrArray *ar, guint usable, char *const *trusted,
    const char *from_domain, enum auth_req req, const char **why);

/* TRUE when domain d is aligned (relaxed) with from_domain: equal, or one
 * is a subdomain of the other. */
gboolean auth_aligned(const char *d, const char *from_domain);

#endif
