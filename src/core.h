/*
 * core.h - the pure decision: message + filters + envelope -> verdict.
 *
 * No I/O, no globals: the same function serves `test`, `deliver`, the
 * LMTP/SMTP sink and the IMAP source.
 */
#ifndef OTPBRIDGE_CORE_H
#define OTPBRIDGE_CORE_H

#include <glib.h>
#include "filter.h"
#include "message.h"

/* Longest text sent as content when a filter falls back to text. */
#define CORE_TEXT_MAX 4000
/*
 * Longest trimmed text never sent as content (characters): Skyvern stores
 * content this short verbatim as the code, without reading it.
 */
#define CORE_TEXT_MIN 10

struct envelope {
	const char *rcpt;        /* envelope recipient, or NULL: first To */
	const char *account;     /* IMAP account name, or NULL */
	const char *account_identifier; /* the account's identifier, or NULL */
	/* IMAP: the authserv-ids the account trusts (its provider strips
	 * forged ones, so they count anywhere in the header), or NULL for
	 * [auth]'s.  Without an account, [auth]'s count only above the
	 * topmost Received: unless mta_strips_forged (doc/security.md). */
	char *const *trusted_authserv_id;
};

/* What we would POST (SPEC 1.1); NULL optional fields are omitted. */
struct push_job {
	char *identifier;        /* totp_identifier */
	char *content;
	char *task_id, *workflow_id, *workflow_run_id;
};

struct core_options {
	char *const *trusted_authserv_id; /* NULL-terminated, may be NULL */
	enum send_mode default_send;      /* [push] send */
	gboolean mta_strips_forged;       /* [auth]: trusted A-R count anywhere */
};

struct verdict {
	gboolean forward;
	char *filter;            /* the deciding filter's name, NULL if none */
	const char *reason;      /* static token: code link text no-match
	                            no-code short-text auth-fail
	                            no-identifier expired */
	const char *detail;      /* static human detail, may be NULL */
	char *code;              /* the extracted code, NULL if none */
	struct push_job push;    /* filled when forward */
};

void core_decide(const struct filter_set *set, const struct core_options *opt,
    const struct message *msg, const struct envelope *env, struct verdict *v);
void verdict_clear(struct verdict *v);
void push_job_clear(struct push_job *p);

#endif
