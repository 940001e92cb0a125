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
 * Fills j for a forwarded verdict v of msg, born at now (intake_born(),
 * or the INTERNALDATE) from source, expiring max_age seconds after that; j owns copies of everything, so v may
 * go before j.  The dedup key is the Message-ID, else
 * "sha256:" and the digest of the raw message (SPEC 4).
 */
void intake_job_init(struct intake_job *j, const struct message *msg,
    const struct verdict *v, const char *source, gint64 now, guint max_age);
void intake_job_clear(struct intake_job *j);

/*
 * When the code of mail an MTA handed over was born, for max_age (SPEC
 * 5): the date of the topmost Received: (added by that MTA), so the time
 * the mail sat in a queue counts; arrival when that date is missing or
 * unreadable, and when it lies after arrival (a clock ahead is clamped).
 * IMAP uses the INTERNALDATE instead.
 */
gint64 intake_born(const struct message *msg, gint64 arrival);

/*
 * A forwarded verdict whose code was born more than max_age seconds
 * before now is not forwarded after all: reason "expired", the push job
 * cleared.  Returns TRUE when it did that.
 */
gboolean intake_stale(struct verdict *v, gint64 born, gint64 now, guint max_age);

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
