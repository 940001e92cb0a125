/*
 * intake.h - from a decided message to a job to commit, and the one log
 * line per message decision (SPEC 7).  Shared by every source: deliver,
 * the LMTP/SMTP sink and the IMAP watcher.
 */
#ifndef OTPBRIDGE_INTAKE_H
#define OTPBRIDGE_INTAKE_H

#include <glib.h>
#include "core.h"
#include "message.h"
#include "store.h"

/* Owns the strings a struct job_in points at. */
struct intake_job {
	struct job_in in;
	char *dedup_key;
	char *body;
	char *source;
	char *identifier;
	char *filter;
	char *code;
	char *run_tag;
};

/*
 * Fills j for a forwarded verdict v of msg, arriving now from source,
 * expiring after max_age seconds; j owns copies of everything, so v may
 * go before j.  The dedup key is the Message-ID, else
 * "sha256:" and the digest of the raw message (SPEC 4).
 */
void intake_job_init(struct intake_job *j, const struct message *msg,
    const struct verdict *v, const char *source, gint64 now, guint max_age);
void intake_job_clear(struct intake_job *j);

/*
 * Logs one decision: msg=<id> src=<source> rcpt=<rcpt> filter=<f>
 * result=<result> reason=<reason> [job=<id>], and counts it in the
 * metrics.  Never the code.
 */
void intake_log(const struct message *msg, const char *source, const char *rcpt,
    const struct verdict *v, const char *result, gint64 job_id);

/* A log-safe short form of a Message-ID (or digest): printable, bounded. */
char *intake_msg_label(const struct message *msg);

#endif
