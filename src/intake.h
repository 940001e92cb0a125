/*
 * intake.h - the one pipeline every source feeds (LMTP, SMTP, IMAP,
 * deliver): a message from source S for recipients R is parsed, decided
 * once per recipient with the decision settings of the live config, its
 * forwarded verdicts become jobs, the jobs (and an IMAP account's UID
 * advance) go into the next group commit, committed jobs are pushed, and
 * each recipient decision is logged once and counted once (SPEC 7); then
 * the source is told every recipient's outcome and answers its client
 * (an LMTP reply line, an IMAP `after` action, an exit status).
 */
#ifndef OTPBRIDGE_INTAKE_H
#define OTPBRIDGE_INTAKE_H

#include <glib.h>
#include "config.h"
#include "core.h"
#include "filter.h"
#include "message.h"
#include "queue.h"
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

/* ---- the pipeline ------------------------------------------------------ */

#define INTAKE_COMMIT_RETRY_MS 50        /* a busy store: try the commit again */
#define INTAKE_COMMIT_PATIENCE_MS 1000   /* ... this long, then tempfail */

/* The decision options of cfg: the one place they are built. */
void intake_core_options(const struct config *cfg, struct core_options *opt);

/* What became of one recipient of a message (SPEC 7 result names). */
enum intake_result {
	INTAKE_QUEUED,               /* a job committed, pushed at once */
	INTAKE_DUPLICATE,            /* its job was committed before */
	INTAKE_DROPPED,              /* not forwarded (v.reason says why) */
	INTAKE_TEMPFAIL,             /* the commit failed: nothing kept */
	INTAKE_REJECTED,             /* refused whole (too large): LMTP 552 */
	INTAKE_NOT_MAIL,             /* not a mail message at all */
	INTAKE_RESULTS
};
/* "queued", "duplicate", "dropped", "tempfail", "rejected", "not-mail" */
extern const char *const intake_result_names[];

struct intake_outcome {
	enum intake_result result;
	const char *reason;          /* static token (verdict reason, too-large,
	                              * not-mail), or NULL */
	gint64 job_id;               /* INTAKE_QUEUED: the job */
};

/* Everything the source is told, valid during the callback only. */
struct intake_done {
	const struct intake_outcome *outs;   /* one per recipient */
	guint n;
	gboolean committed;          /* all the message asked to keep (jobs,
	                              * the UID advance) is on disk; FALSE:
	                              * nothing of it is */
	const char *error;           /* !committed: why, else NULL */
};
typedef void (*intake_done_fn)(const struct intake_done *d, gpointer data);

/* A message from a source. */
struct intake_msg {
	const char *source;          /* "lmtp", "smtp", "deliver", "imap:NAME" */
	const char *peer;            /* for log lines, or NULL */
	const char *data;            /* the raw message, parsed during submit */
	gsize len;
	gboolean too_big;            /* over the source's size limit: not read */
	guint64 limit;               /* that limit, for the log line */
	gboolean can_refuse;         /* too big: INTAKE_REJECTED (the client is
	                              * told), else INTAKE_DROPPED (deliver must
	                              * not make an MTA bounce) */
	const char *const *rcpts;    /* envelope recipients; n_rcpts 0: one
	                              * decision for the first To address */
	guint n_rcpts;
	const char *account;         /* IMAP: envelope account fields, or NULL */
	const char *account_identifier;
	char *const *account_trusted;
	gint64 internal_date;        /* IMAP: > 0, the code was born then */
	/* IMAP: the account's state committed with the message's jobs. */
	const char *uid_account;     /* NULL: no UID to advance */
	const char *uid_mailbox;
	guint32 uidvalidity;
	guint32 uid;
};

struct intake;
struct intake_item;

/*
 * An intake committing to st and leasing and pushing through q (either
 * may be NULL until intake_set_store(); q NULL: nothing is pushed), with
 * its commit sources on ctx (NULL: the default context), deciding with
 * cfg and set (not owned; see intake_set_decision()).
 */
struct intake *intake_new(struct store *st, struct queue *q, GMainContext *ctx,
    const struct config *cfg, const struct filter_set *set);
/* Sets the store and queue of the commits to come (deliver opens its
 * store only for a message that has something to commit).  With no store
 * a commit fails. */
void intake_set_store(struct intake *in, struct store *st, struct queue *q);
/* Decides with cfg ([auth], [push] send and max_age) and set from now on:
 * a SIGHUP reload; neither is owned. */
void intake_set_decision(struct intake *in, const struct config *cfg,
    const struct filter_set *set);
/* Shutting down: a busy store is no longer waited for. */
void intake_stop(struct intake *in);
/*
 * Parses and decides m now (logging and counting what is dropped); when
 * something is to be committed, files it for the next group commit and
 * returns its handle: fn is called once, after the commit.  Otherwise fn
 * is called before this returns, which returns NULL.  m is not kept.
 */
struct intake_item *intake_submit(struct intake *in, const struct intake_msg *m,
    intake_done_fn fn, gpointer data);
/* Forgets a filed message: fn is never called (its source is gone). */
void intake_cancel(struct intake *in, struct intake_item *it);
/* Messages waiting for their commit. */
guint intake_pending(const struct intake *in);
/* Frees the intake; a message still waiting is answered tempfail. */
void intake_free(struct intake **in);

#endif
