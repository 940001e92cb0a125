/*
 * lmtp.h - the LMTP and SMTP sink: listeners and sessions on the GLib
 * main loop, with durable acknowledgement (SPEC 5).
 *
 * A recipient gets its 250 only after its push job is committed; the
 * jobs of every session that ends DATA in the same loop turn are
 * committed in one transaction (the intake's group commit, intake.h);
 * when the store cannot be written the recipient gets 451 4.3.0 and
 * nothing is kept.
 */
#ifndef OTPBRIDGE_LMTP_H
#define OTPBRIDGE_LMTP_H

#include <glib.h>
#include "config.h"
#include "intake.h"

struct lmtp;

/* What the sink needs from the daemon; none of it is owned. */
struct lmtp_env {
	struct intake *intake;       /* decides, commits and logs each message */
	const struct config *cfg;    /* the listeners and their limits */
};

/*
 * Binds every listener of [lmtp] and [smtp] (unix sockets: a stale one is
 * replaced, a live one is an error) and starts accepting on the default
 * main context.  Returns NULL with *error when any listener fails.
 */
struct lmtp *lmtp_new(const struct lmtp_env *env, GError **error);

/*
 * Applies cfg's [lmtp]/[smtp] recipients and limits (SIGHUP reload): the
 * recipients pattern at the next RCPT, max_connections at the next
 * accept, timeout at a session's next read, max_size and max_recipients
 * for sessions that connect from now on.  cfg is not owned and must
 * outlive its use (until the next call).  Listeners, socket_mode and
 * socket_group stay those of lmtp_new() until a restart.
 */
void lmtp_reconfigure(struct lmtp *l, const struct config *cfg);

/*
 * Stops accepting, answers idle sessions with 421 and closes them;
 * sessions in a transaction finish it first.  lmtp_sessions() tells when
 * all are gone.
 */
void lmtp_shutdown(struct lmtp *l);
guint lmtp_sessions(const struct lmtp *l);

/* Closes every listener and session at once; removes unix sockets. */
void lmtp_free(struct lmtp **l);

#endif
