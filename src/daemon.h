/*
 * daemon.h - `otpbridge run`: the daemon in the foreground.
 */
#ifndef OTPBRIDGE_DAEMON_H
#define OTPBRIDGE_DAEMON_H

#include "config.h"
#include "filter.h"
#include "imap.h"
#include "intake.h"

/* Runs until SIGTERM/SIGINT; returns the process exit status.  Takes
 * ownership of cfg and set, loaded from path (must_exist as for
 * config_load), which SIGHUP reads again. */
int daemon_run(struct config *cfg, struct filter_set *set, const char *path,
    gboolean must_exist);

/*
 * The IMAP source's adapter: hands m, fetched by the account ic (NULL:
 * unknown), to the intake as source "imap:NAME", born at its
 * INTERNALDATE, decided with the account's identifier and trusted
 * authserv-ids, its UID advance committed with its jobs in one
 * transaction.  fn learns whether that commit went through (the thread
 * then applies `after`) or not (fetched again); it may run before this
 * returns.
 */
void daemon_imap_submit(struct intake *in, const struct imap_config *ic,
    const struct imap_msg *m, intake_done_fn fn, gpointer data);

#endif
