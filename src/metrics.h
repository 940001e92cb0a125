/*
 * metrics.h - counters, gauges and histograms for GET /metrics
 * (Prometheus text exposition, prefix otpbridge_).
 *
 * Process-wide and main-thread only: every event is reported from the
 * main loop (IMAP threads hand their messages to the loop first).  Label
 * values are bounded: at most METRICS_SERIES_MAX series per metric; more
 * are counted under the value "other".
 */
#ifndef OTPBRIDGE_METRICS_H
#define OTPBRIDGE_METRICS_H

#include <glib.h>
#include "store.h"          /* enum job_state: the queue-depth states */

#define METRICS_SERIES_MAX 256

/* otpbridge_messages_total{source,result}: one per recipient decision.
 * result: queued, duplicate, dropped, tempfail, rejected, not-mail (the
 * intake's, intake.h). */
void metrics_message(const char *source, const char *result);
/* otpbridge_filter_matches_total{filter} */
void metrics_filter(const char *filter);
/* otpbridge_pushes_total{result} (delivered, retry, failed, dry-run, and
 * superseded for an attempt whose retry a newer job superseded) and
 * otpbridge_push_duration_seconds (histogram, one attempt). */
void metrics_push(const char *result, double seconds);
/* otpbridge_push_replies_total{status}: one per push attempt, by the
 * endpoint's HTTP status (0 when no reply came: network error, timeout). */
void metrics_push_reply(int status);
/* otpbridge_pushes_total{result="superseded"} += n: jobs a newer one
 * superseded with no push of theirs under way (no attempt, no duration). */
void metrics_superseded(guint n);
/* otpbridge_arrival_to_accepted_seconds (histogram): from the message's
 * arrival to the endpoint's 2xx. */
void metrics_accepted(double seconds);
/* otpbridge_sessions{source}: open LMTP/SMTP sessions (gauge). */
void metrics_sessions(const char *source, int delta);
/* otpbridge_imap_connected{account}, otpbridge_imap_last_sync_timestamp_seconds
 * and otpbridge_imap_last_sync_age_seconds{account} (the age at scrape time). */
void metrics_imap(const char *account, gboolean connected, gint64 last_sync);
/* otpbridge_imap_poll_interval_seconds{account}: the account's
 * poll_interval, so an alert can say "not synced for 2 x poll_interval". */
void metrics_imap_poll(const char *account, guint poll_interval);

/*
 * Appends the whole exposition to out.  queue_depth holds the job counts
 * by state (indexed by enum job_state, named by job_state_names), read
 * from the store at scrape time: otpbridge_queue_jobs{state}.  now (Unix
 * seconds) gives otpbridge_imap_last_sync_age_seconds{account}.
 */
void metrics_render(GString *out, const guint64 queue_depth[JOB_STATES], gint64 now);

/* Forgets everything (tests). */
void metrics_reset(void);

#endif
