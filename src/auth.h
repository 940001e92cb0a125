/*
 * auth.h - sender authentication from Authentication-Results (RFC 8601).
 *
 * Only headers whose authserv-id is trusted count, and of those only the
 * topmost (the one our own border MTA added last).  Pure.
 */
#ifndef OTPBRIDGE_AUTH_H
#define OTPBRIDGE_AUTH_H

#include <glib.h>

enum auth_req {
	AUTH_NONE = 0,
	AUTH_DKIM,   /* dkim=pass with header.d (or header.i) aligned to From */
	AUTH_SPF,    /* spf=pass with smtp.mailfrom aligned to From */
	AUTH_DMARC,  /* dmarc=pass */
};

extern const char *const auth_req_names[]; /* "none", "dkim", "spf", "dmarc", NULL */

/*
 * Checks req against the Authentication-Results values ar (topmost first),
 * trusting only authserv-ids in trusted (NULL-terminated, may be NULL).
 * Returns TRUE when the requirement holds (always for AUTH_NONE); else
 * FALSE with *why set to a static explanation.
 */
gboolean auth_check(const GPtrArray *ar, char *const *trusted,
    const char *from_domain, enum auth_req req, const char **why);

/* TRUE when domain d is aligned (relaxed) with from_domain: equal, or one
 * is a subdomain of the other. */
gboolean auth_aligned(const char *d, const char *from_domain);

#endif
