/*
 * imap.h - the IMAP source (SPEC 6): one thread per account, because
 * libetpan blocks; each thread hands finished messages to the main loop
 * and waits for the verdict before it marks, moves or deletes anything.
 * imap.c is the only file that includes libetpan.
 *
 * The thread connects (implicit TLS or STARTTLS, verified; plain only to
 * loopback), logs in (LOGIN, PLAIN, or XOAUTH2 with a token from
 * oauth.c), selects the mailbox, fetches with UID FETCH
 * BODY.PEEK[] (bounded literal size) every UID above the committed one,
 * then waits with IDLE (re-issued every idle_refresh seconds) or polls
 * every poll_interval seconds, and cross-checks a silent connection with
 * NOOP every poll_interval.  It reconnects with capped exponential backoff
 * and jitter, logging one line per outage and one on recovery.
 */
#ifndef OTPBRIDGE_IMAP_H
#define OTPBRIDGE_IMAP_H

#include <glib.h>
#include "config.h"

struct imap_account;

/* One fetched message, handed to the main loop; owned by the account. */
struct imap_msg {
	const char *account;         /* the [imap:NAME] name */
	const char *mailbox;
	guint32 uidvalidity;
	guint32 uid;
	const char *data;            /* the raw message (RFC 5322 bytes) */
	gsize len;
	gint64 internal_date;        /* INTERNALDATE, Unix seconds, 0 if unknown */
	gboolean too_big;            /* over max_size (its RFC822.SIZE, or the
	                              * body): data NULL, nothing of it read */
	guint64 limit;               /* too_big: that max_size */
};

/*
 * Runs on the main context for each message.  The callee must answer
 * exactly once with imap_msg_done() (now or later, on the main thread):
 * committed TRUE once the message's jobs, if any, and its UID as the
 * account's state are committed (one transaction: the daemon's intake);
 * the thread then applies `after` and advances the UID.  FALSE when that
 * commit failed (the message is fetched again later).
 */
typedef void (*imap_msg_fn)(struct imap_account *a, const struct imap_msg *m,
    gpointer data);

/* Where to start: the state stored for this account+mailbox. */
struct imap_start {
	gboolean have_state;         /* FALSE: first start */
	guint32 uidvalidity;
	guint32 last_uid;            /* highest UID already committed */
	guint max_age;               /* first start: only mail younger than this */
};

/*
 * Starts the account's thread.  ic is copied.  fn runs on main_ctx (NULL:
 * the default context).  The password is read (password_file or
 * password_command), or the XOAUTH2 token refreshed when needed, by the
 * thread at each connect.
 */
struct imap_account *imap_account_start(const struct imap_config *ic,
    const struct imap_start *start, imap_msg_fn fn, gpointer data,
    GMainContext *main_ctx);

/* See imap_msg_fn. */
void imap_msg_done(struct imap_account *a, const struct imap_msg *m,
    gboolean committed);

/* Stops the thread (closing its connection) and frees everything. */
void imap_account_stop(struct imap_account **a);

/* For /healthz and /metrics (main thread). */
struct imap_status {
	gboolean connected;
	gint64 last_sync;            /* Unix seconds of the last good sync, 0: never */
	char *last_error;            /* g_malloc'd or NULL */
};
void imap_account_status(struct imap_account *a, struct imap_status *st);
const char *imap_account_name(const struct imap_account *a);

#endif
