/*
 * mda.h - `otpbridge deliver`: one message on stdin, as an MDA.
 */
#ifndef OTPBRIDGE_MDA_H
#define OTPBRIDGE_MDA_H

#include "config.h"
#include "filter.h"

/*
 * Reads one message from fd 0, decides, commits the job and pushes it
 * once.  Returns 0 when pushed, durably queued for the daemon, or dropped
 * on purpose (not wanted, duplicate, not mail, too large: no bounce);
 * EXIT_TEMPFAIL (75) when the job could not be committed, so the MTA
 * retries.  rcpt may be NULL (the first To address).
 */
int mda_deliver(const struct config *cfg, const struct filter_set *set,
    const char *rcpt);

#endif
