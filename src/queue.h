/*
 * queue.h - the push runner: takes due jobs from the store, pushes them
 * through the push client (or the dry-run sink), and records each outcome
 * (SPEC 5): delivered, retried with exponential backoff and jitter until
 * the job's expiry, or failed with the endpoint's reply.
 *
 * The daemon runs one with queue_start() (claims due jobs now and keeps
 * looking, also for jobs other processes committed); `deliver` runs one
 * on a private context for the job it just committed (queue_push()).
 */
#ifndef OTPBRIDGE_QUEUE_H
#define OTPBRIDGE_QUEUE_H

#include <glib.h>
#include "push.h"
#include "store.h"

#define QUEUE_BACKOFF_MAX 30        /* seconds: "about 1 s doubling to 30 s" */
#define QUEUE_POLL_MS 1000          /* look for other processes' jobs */
#define QUEUE_LEASE_EXTRA 10        /* seconds a lease outlives the push timeout */
#define QUEUE_RECORD_RETRY_MS 250   /* a busy store: write the outcomes again */

struct queue_params {
	const char *owner;           /* lease owner, e.g. "daemon:1234" */
	guint timeout;               /* push timeout, seconds */
	guint max_inflight;          /* pushes at once */
	guint retention;             /* seconds finished jobs are kept */
};

struct queue;

/*
 * Creates a runner over st (not owned) pushing through pc (not owned;
 * NULL: the dry-run sink, which logs and marks jobs delivered).  Its timers
 * live on ctx (NULL: the default context).
 */
struct queue *queue_new(struct store *st, struct push_client *pc,
    const struct queue_params *p, GMainContext *ctx);
/* Frees the runner; in-flight pushes must be over (see queue_inflight). */
void queue_free(struct queue **q);

/* Daemon mode: expire, claim and push due jobs now and whenever due. */
void queue_start(struct queue *q);
/* Looks for due jobs at once (new jobs were committed). */
void queue_kick(struct queue *q);
/* Claims nothing more; pushes in flight still record their outcome. */
void queue_stop(struct queue *q);
/* Pushes one job the caller has committed and leased to this owner;
 * takes ownership of job. */
void queue_push(struct queue *q, struct job *job);
/* Sets in's lease to this runner, before the caller commits it, so that
 * queue_push_new() can push it at once without a claim. */
void queue_lease(const struct queue *q, struct job_in *in, gint64 now);
/* Pushes the job just committed from in (leased with queue_lease()). */
void queue_push_new(struct queue *q, const struct job_in *in);
const char *queue_owner(const struct queue *q);
/* TRUE while pushes fail with 403 (a bad API key), for /healthz. */
gboolean queue_auth_failing(const struct queue *q);
/* Pushes in flight or waiting for a slot (leased to us, not yet sent). */
guint queue_inflight(const struct queue *q);

/* Seconds before attempt number attempts+1, given a uniform r in [0,1):
 * 1, 2, 4, 8, 16, 30, 30, ... each scaled by a jitter in [0.75, 1.25),
 * at most QUEUE_BACKOFF_MAX.  Pure. */
gint64 queue_backoff(guint attempts, double r);

#endif
