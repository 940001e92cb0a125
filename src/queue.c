/*
 * queue.c - the push runner (see queue.h).
 *
 * Every outcome is written to the store before anything else happens to
 * the job, so a crash at any point leaves it pending (to be pushed again
 * once its lease lapses) or finished, never lost.  The outcomes of pushes
 * that finish in the same loop turn are written in one transaction.  A
 * push never starts after the job's expiry: claims skip expired jobs and
 * store_expire() marks them.
 *
 * When another process holds the store's lock (the loop's handle waits
 * only STORE_LOOP_BUSY_MS), or the commit of the outcomes or one of their
 * statements fails with a temporary error (a full disk, an I/O error
 * reading a page another connection's write evicted: rolled back), the
 * outcomes are kept and written from a timer every QUEUE_RECORD_RETRY_MS,
 * and no job is claimed until they are: a claim could take back a job whose
 * lease lapsed meanwhile and push it again.  XXX an attempt's result is
 * logged and counted when it is first written, before that commit: after
 * a failed commit the log shows it, then result=outcomes-waiting, and the
 * writes that follow are silent; an outcome whose own statement failed
 * is counted but its result line is never logged.
 *
 * A newer job of the same identifier and scope supersedes older ones in
 * the store (store_commit_jobs): a job committed held is not pushed here,
 * and an attempt whose job was superseded while it was under way is not
 * retried (result=superseded), so a stale code never follows a fresh one.
 *
 * Pushes never wait behind commits: the push client's sources (httpc.c)
 * and the writing of outcomes run at G_PRIORITY_HIGH, above the loop's
 * default-priority work (LMTP/SMTP sessions reading and parsing, the
 * group commit and its fsync, the HTTP side).  Before, all of it shared
 * one priority, so every step of a push (curl's first timer, the send,
 * the reply) and the write of its outcome (which frees its slot of
 * max_inflight) waited a whole loop turn -- a turn that under 64 LMTP
 * connections parses dozens of messages and fsyncs a commit -- and the
 * pushes fell behind the commits: end-of-DATA -> push received p50 ~480
 * ms, p99 ~680 ms and growing with the length of the run, while the
 * commits themselves took ~12 ms (bench/bench-lmtp-peer.py, 64
 * connections, 2 busy cores).  A GLib loop turn dispatches only the
 * highest priority that is ready, so now a push moves on as soon as curl
 * can, and the outcomes of the pushes that finished by then are written
 * in one transaction before the next session is read; between two such
 * writes the sessions and the commit run as before.  This cannot starve
 * them: a high-priority source exists only for a push in flight or an
 * outcome to write, at most max_inflight of each.  Measured in the same
 * runs (medians of 5, 64 connections): p50 9.2 ms, p99 25 ms, 1.4x the
 * throughput of before (the commits no longer share their turns with
 * push bookkeeping); the Node peer, which commits nothing, 12 ms.
 * Rejected, measured in those runs: curl's sources high but the outcomes
 * written at the default priority (p50 11.4 ms, p99 42 ms: a slot waits
 * for the next turn), the same with slots freed when the reply comes
 * rather than when it is written (9.4 / 41.5 ms, and more pushes then
 * finish unwritten behind a busy store), or with 64 connections to the
 * endpoint instead of 16 (10.6 / 31 ms), or outcomes written high only
 * while jobs wait for a slot (fewer fsyncs at 8 connections, 913 against
 * 1024 for 3000 messages, but no difference in throughput or latency
 * that this machine could measure: 8-connection runs vary by +-30%, the
 * peer's own p50 by 9-12 ms, from one run to the next).  A push thread
 * with its own context and multi handle was not built: the push itself
 * is now ~2 ms after the commit's reply (EoD -> 250 p50 6.8 ms), the
 * rest is the group commit, which a thread would not shorten, and the
 * outcomes would still have to come back to this loop to be written.
 *
 * Hostile input: endpoint replies (bounded by push.c) are stored and, for
 * a 2xx, read for totp_code_id.  Logs carry job ids, identifiers, filters
 * and statuses, never a code, a body or the key.  Limits: at most
 * max_inflight pushes at once; a claim takes at most that many jobs.
 */
#include "autoconfig.h"

#include <string.h>

#include "json.h"
#include "metrics.h"
#include "queue.h"
#include "util.h"

/* Outcomes are written before the loop's default-priority work (sessions,
 * commits): see the top of the file. */
#define QUEUE_RECORD_PRIORITY G_PRIORITY_HIGH

struct queue {
	struct store *st;
	struct push_client *pc;      /* NULL: dry run */
	char *owner;
	guint timeout;
	guint max_inflight;
	guint retention;
	GMainContext *ctx;
	GSource *timer;
	guint inflight;
	gboolean running;            /* daemon mode, claiming */
	gboolean warned_403;
	gboolean auth_failing;        /* the last finished push got 403 */
	gboolean warned_busy;         /* outcomes wait for a busy store: logged */
	gboolean warned_store;        /* claims fail (a busy store): logged */
	gint64 last_prune;
	GPtrArray *finished;          /* struct attempt *, outcome not yet written */
	GQueue backlog;               /* struct job *: leased, waiting for a slot */
	GSource *record_src;
};

/* One push in flight, then finished and waiting to be recorded. */
struct attempt {
	struct queue *q;
	struct job *job;
	gint64 started_us;
	int status;
	char *error;
	char *reply;
	gint64 ms;
	gboolean told;               /* logged and counted (a failed commit) */
};

static void queue_schedule(struct queue *q, gint64 delay_ms);
static gboolean queue_record_cb(gpointer data);

static void
attempt_free(gpointer p)
{
	struct attempt *a = p;

	job_free(a->job);
	g_free(a->error);
	g_free(a->reply);
	g_free(a);
}

/* Writes the finished outcomes after delay_ms (0: this loop turn). */
static void
queue_record_soon(struct queue *q, guint delay_ms)
{
	if (q->record_src != NULL)
		return;
	q->record_src = delay_ms == 0 ? g_idle_source_new() :
	    g_timeout_source_new(delay_ms);
	g_source_set_priority(q->record_src, QUEUE_RECORD_PRIORITY);
	g_source_set_callback(q->record_src, queue_record_cb, q, NULL);
	g_source_attach(q->record_src, q->ctx);
}

gint64
queue_backoff(guint attempts, double r)
{
	gint64 base = attempts >= 5 ? QUEUE_BACKOFF_MAX : (gint64)1 << attempts;
	double d;

	if (base > QUEUE_BACKOFF_MAX)
		base = QUEUE_BACKOFF_MAX;
	d = (double)base * (0.75 + 0.5 * r);
	if (d > QUEUE_BACKOFF_MAX)
		d = QUEUE_BACKOFF_MAX;
	return d < 1.0 ? 1 : (gint64)(d + 0.5);
}

static gint64
queue_now(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

struct queue *
queue_new(struct store *st, struct push_client *pc, const struct queue_params *p,
    GMainContext *ctx)
{
	struct queue *q = g_new0(struct queue, 1);

	q->st = st;
	q->pc = pc;
	q->owner = g_strdup(p->owner);
	q->timeout = p->timeout;
	q->max_inflight = p->max_inflight > 0 ? p->max_inflight : 64;
	q->retention = p->retention;
	q->ctx = ctx != NULL ? g_main_context_ref(ctx) : NULL;
	q->finished = g_ptr_array_new();
	return q;
}

const char *
queue_owner(const struct queue *q)
{
	return q->owner;
}

void
queue_free(struct queue **qp)
{
	struct queue *q = *qp;

	if (q == NULL)
		return;
	if (q->timer != NULL) {
		g_source_destroy(q->timer);
		g_source_unref(q->timer);
	}
	if (q->record_src != NULL) {
		g_source_destroy(q->record_src);
		g_source_unref(q->record_src);
	}
	/* Outcomes a busy store never took: their leases lapse, the jobs
	 * are pushed again (at worst a duplicate, never a loss). */
	g_ptr_array_set_free_func(q->finished, attempt_free);
	g_ptr_array_unref(q->finished);
	g_queue_clear_full(&q->backlog, job_free);
	if (q->ctx != NULL)
		g_main_context_unref(q->ctx);
	g_free(q->owner);
	g_free(q);
	*qp = NULL;
}

void
queue_push_new(struct queue *q, const struct job_in *in)
{
	struct job *job;

	metrics_superseded(in->superseded);
	if (in->held) {
		/* Born superseded, or waiting for the push of its scope under
		 * way: the store holds it, a claim takes it when its turn comes. */
		g_message("job=%" G_GINT64_FORMAT " identifier=%s result=%s", in->id,
		    in->identifier, in->superseded > 0 ? "superseded (a newer job of "
		    "this identifier came first; never pushed)" : "waiting (a push of "
		    "this identifier is under way; pushed after it)");
		return;
	}
	job = g_new0(struct job, 1);

	job->id = in->id;
	job->state = JOB_PENDING;
	job->dedup_key = g_strdup(in->dedup_key);
	job->identifier = g_strdup(in->identifier);
	job->source = g_strdup(in->source);
	job->filter = g_strdup(in->filter);
	job->body = g_strdup(in->body);
	job->created = in->created;
	job->expires = in->expires;
	queue_push(q, job);
}

void
queue_lease(const struct queue *q, struct job_in *in, gint64 now)
{
	in->lease_owner = q->owner;
	in->lease_until = now + q->timeout + QUEUE_LEASE_EXTRA;
}

gboolean
queue_auth_failing(const struct queue *q)
{
	return q->auth_failing;
}

guint
queue_inflight(const struct queue *q)
{
	return q->inflight + g_queue_get_length((GQueue *)&q->backlog);
}

/* Records what one attempt got, and logs it once.  With keep, a
 * temporary failure of the write is not logged but put in *keep and -1
 * returned: the caller keeps the outcome. */
static int
queue_record(struct queue *q, struct job *job, const struct push_result *r,
    gint64 ms, gboolean told, GError **keep)
{
	GError *err = NULL;
	gint64 now = queue_now();
	int rc;

	if (!told)
		metrics_push_reply(r->status);
	switch (push_classify(r->status)) {
	case PUSH_DONE: {
		g_autofree char *remote = json_reply_string(r->reply, "totp_code_id");

		rc = store_job_delivered(q->st, job->id, now, r->status, r->reply,
		    remote, &err);
		q->auth_failing = FALSE;
		if (told)
			break;
		metrics_push("delivered", (double)ms / 1000.0);
		metrics_accepted((double)(now - job->created));
		if (rc == 0)
			g_message("job=%" G_GINT64_FORMAT " src=%s identifier=%s filter=%s "
			    "result=delivered status=%d attempts=%u ms=%" G_GINT64_FORMAT
			    " age=%" G_GINT64_FORMAT "s", job->id, job->source,
			    job->identifier, job->filter, r->status, job->attempts + 1, ms,
			    now - job->created);
		break;
	}
	case PUSH_RETRY: {
		gint64 delay = queue_backoff(job->attempts, g_random_double());
		gint64 next = now + delay;

		rc = store_job_retry(q->st, job->id, now, next, r->status, r->reply, &err);
		if (told)
			break;
		if (rc > 0) {
			/* Superseded while in flight: no retry. */
			metrics_push("superseded", (double)ms / 1000.0);
			g_message("job=%" G_GINT64_FORMAT " identifier=%s result=superseded "
			    "status=%d error=\"%s\" attempts=%u (a newer job of this "
			    "identifier came meanwhile: not pushed again)", job->id,
			    job->identifier, r->status,
			    r->status == 0 && r->error != NULL ? r->error : "",
			    job->attempts + 1);
			break;
		}
		metrics_push("retry", (double)ms / 1000.0);
		if (rc == 0)
			g_message("job=%" G_GINT64_FORMAT " identifier=%s result=retry "
			    "status=%d error=\"%s\" attempts=%u next=%" G_GINT64_FORMAT "s%s",
			    job->id, job->identifier, r->status,
			    r->status == 0 && r->error != NULL ? r->error : "",
			    job->attempts + 1, delay,
			    next > job->expires ? " (past max_age: will expire)" : "");
		break;
	}
	default:
		rc = store_job_failed(q->st, job->id, now, r->status, r->reply, &err);
		if (told)
			break;
		metrics_push("failed", (double)ms / 1000.0);
		if (r->status == 403)
			q->auth_failing = TRUE;
		if (r->status == 403 && !q->warned_403) {
			q->warned_403 = TRUE;
			g_warning("the push endpoint rejected the API key (403): check "
			    "[push] api_key_file or OTPBRIDGE_API_KEY; jobs fail until it is fixed");
		}
		if (rc == 0)
			g_warning("job=%" G_GINT64_FORMAT " identifier=%s filter=%s "
			    "result=failed status=%d (see: otpbridge queue list)",
			    job->id, job->identifier, job->filter, r->status);
		break;
	}
	if (rc < 0 && keep != NULL &&
	    g_error_matches(err, OTPB_ERROR, OTPB_ERROR_TEMP)) {
		g_propagate_error(keep, err);
		return -1;
	}
	if (rc < 0) {
		/* The lease lapses and the job is pushed again: at worst a
		 * duplicate push, never a lost one. */
		g_warning("job=%" G_GINT64_FORMAT " result=unrecorded error=\"%s\"",
		    job->id, err->message);
		g_error_free(err);
	}
	return 0;
}

/* The store takes no writes now (busy, full, failing): keeps the finished
 * outcomes for another try in QUEUE_RECORD_RETRY_MS; warns once per
 * episode.  Takes err. */
static void
queue_record_later(struct queue *q, GError *err)
{
	if (!q->warned_busy)
		g_warning("store=\"%s\" result=outcomes-waiting jobs=%u (written "
		    "when the store takes writes again)", err->message, q->finished->len);
	q->warned_busy = TRUE;
	g_error_free(err);
	queue_record_soon(q, QUEUE_RECORD_RETRY_MS);
}

/* Writes every finished attempt's outcome in one transaction. */
static gboolean
queue_record_cb(gpointer data)
{
	struct queue *q = data;
	g_autoptr(GPtrArray) done = NULL;
	GError *err = NULL, *keep = NULL;
	gboolean batch = TRUE;
	guint written;

	g_source_unref(q->record_src);
	q->record_src = NULL;
	if (store_batch_begin(q->st, &err) < 0) {
		if (g_error_matches(err, OTPB_ERROR, OTPB_ERROR_TEMP)) {
			/* Busy (another process's lock) or full: keep them. */
			queue_record_later(q, err);
			return G_SOURCE_REMOVE;
		}
		/* Without a transaction each outcome is its own: slower, not wrong. */
		g_clear_error(&err);
		batch = FALSE;
	}
	done = q->finished;
	q->finished = g_ptr_array_new();
	written = done->len;
	for (guint i = 0; i < done->len; i++) {
		struct attempt *a = g_ptr_array_index(done, i);
		struct push_result r = { a->status, a->error, a->reply, 0 };
		int rc = queue_record(q, a->job, &r, a->ms, a->told, batch ? &keep : NULL);

		a->told = TRUE;
		if (rc < 0) {
			written = i;
			break;
		}
	}
	if (keep != NULL) {
		/* A write of the batch failed (a page it had to read, a full
		 * disk): SQLite rolled back that statement, or the whole
		 * transaction.  What the commit takes is written; the rest is
		 * kept, in order, for another try, as below. */
		g_autoptr(GPtrArray) later = g_ptr_array_new();

		if (store_batch_end(q->st, &err) < 0) {
			g_clear_error(&err);
			written = 0;
		}
		for (guint i = written; i < done->len; i++)
			g_ptr_array_add(later, g_ptr_array_index(done, i));
		for (guint i = 0; i < q->finished->len; i++)
			g_ptr_array_add(later, g_ptr_array_index(q->finished, i));
		g_ptr_array_set_size(done, written);
		g_ptr_array_unref(q->finished);
		q->finished = g_steal_pointer(&later);
		queue_record_later(q, keep);
	} else if (batch && store_batch_end(q->st, &err) < 0 &&
	    g_error_matches(err, OTPB_ERROR, OTPB_ERROR_TEMP)) {
		/* Rolled back (a full disk, an I/O error): keep them, in order. */
		for (guint i = 0; i < q->finished->len; i++)
			g_ptr_array_add(done, g_ptr_array_index(q->finished, i));
		g_ptr_array_unref(q->finished);
		q->finished = g_steal_pointer(&done);
		queue_record_later(q, err);
		return G_SOURCE_REMOVE;
	} else {
		q->warned_busy = FALSE;
		if (batch && err != NULL) {
			/* Rolled back: the leases lapse and these are pushed again. */
			g_warning("result=unrecorded jobs=%u error=\"%s\"", done->len,
			    err->message);
			g_error_free(err);
		}
	}
	for (guint i = 0; i < done->len; i++)
		attempt_free(g_ptr_array_index(done, i));
	/* In flight until recorded: a drain waits for the outcome too. */
	q->inflight -= done->len;
	while (q->inflight < q->max_inflight && !g_queue_is_empty(&q->backlog))
		queue_push(q, g_queue_pop_head(&q->backlog));
	if (q->running)
		queue_schedule(q, 0);
	return G_SOURCE_REMOVE;
}

/* A push finished: keep its result for the next batched write. */
static void
queue_push_done(const struct push_result *r, gpointer data)
{
	struct attempt *a = data;
	struct queue *q = a->q;

	a->status = r->status;
	a->error = g_strdup(r->error);
	a->reply = g_strdup(r->reply);
	a->ms = (g_get_monotonic_time() - a->started_us) / 1000;
	g_ptr_array_add(q->finished, a);
	queue_record_soon(q, 0);
}

void
queue_push(struct queue *q, struct job *job)
{
	struct attempt *a;

	if (q->pc == NULL) {
		struct push_result r = { 200, NULL, "dry-run", 0 };

		metrics_push("dry-run", 0);
		g_message("job=%" G_GINT64_FORMAT " src=%s identifier=%s filter=%s "
		    "result=dry-run (no [push] api key or url: nothing sent)",
		    job->id, job->source, job->identifier, job->filter);
		/* A dry run counts as delivered, with the reply saying so. */
		{
			GError *err = NULL;
			if (store_job_delivered(q->st, job->id, queue_now(), 0, r.reply,
			    NULL, &err) < 0) {
				g_warning("job=%" G_GINT64_FORMAT " result=unrecorded error=\"%s\"",
				    job->id, err->message);
				g_error_free(err);
			}
		}
		job_free(job);
		return;
	}
	if (q->inflight >= q->max_inflight) {
		/* Leased to us already: it waits here, in order, for a slot. */
		g_queue_push_tail(&q->backlog, job);
		return;
	}
	a = g_new0(struct attempt, 1);
	a->q = q;
	a->job = job;
	a->started_us = g_get_monotonic_time();
	q->inflight++;
	push_client_send(q->pc, job->body, queue_push_done, a);
}

/* Expires, claims and pushes what is due; returns ms until the next look. */
static gint64
queue_run_due(struct queue *q)
{
	g_autoptr(GPtrArray) jobs = g_ptr_array_new();
	GError *err = NULL;
	gint64 now = queue_now(), when = 0, delay;
	guint expired = 0;

	if (store_expire(q->st, now, &expired, &err) < 0)
		goto fail;
	if (expired > 0)
		g_warning("result=expired jobs=%u (older than [push] max_age, never pushed)",
		    expired);
	if (q->retention > 0 && now - q->last_prune >= 3600) {
		if (store_prune(q->st, now, q->retention, &err) < 0)
			goto fail;
		q->last_prune = now;
	}
	/* Not while outcomes wait to be written: see the top of the file. */
	if (q->inflight < q->max_inflight && g_queue_is_empty(&q->backlog) &&
	    q->finished->len == 0 && store_claim_due(q->st, q->owner, now,
	    now + q->timeout + QUEUE_LEASE_EXTRA, q->max_inflight - q->inflight,
	    jobs, &err) < 0)
		goto fail;
	for (guint i = 0; i < jobs->len; i++)
		queue_push(q, g_ptr_array_index(jobs, i));
	g_ptr_array_set_size(jobs, 0);
	if (store_next_due(q->st, &when, &err) < 0)
		goto fail;
	q->warned_store = FALSE;
	delay = QUEUE_POLL_MS;
	if (when > 0 && (when - queue_now()) * 1000 < delay)
		delay = MAX(0, (when - queue_now()) * 1000);
	return delay;
fail:
	/* Once per episode: a store locked for minutes is one line. */
	if (!q->warned_store)
		g_warning("store=\"%s\" result=queue-error (retrying every second)",
		    err->message);
	else
		g_debug("store=\"%s\" result=queue-error", err->message);
	q->warned_store = TRUE;
	g_error_free(err);
	for (guint i = 0; i < jobs->len; i++)
		job_free(g_ptr_array_index(jobs, i));
	return QUEUE_POLL_MS;
}

static gboolean
queue_timer_cb(gpointer data)
{
	struct queue *q = data;
	gint64 delay;

	g_source_unref(q->timer);
	q->timer = NULL;
	if (!q->running)
		return G_SOURCE_REMOVE;
	delay = queue_run_due(q);
	if (q->timer == NULL)
		queue_schedule(q, delay);
	return G_SOURCE_REMOVE;
}

/* (Re)arms the one timer to fire in delay_ms. */
static void
queue_schedule(struct queue *q, gint64 delay_ms)
{
	if (q->timer != NULL) {
		g_source_destroy(q->timer);
		g_source_unref(q->timer);
	}
	q->timer = g_timeout_source_new((guint)MIN(delay_ms, G_MAXUINT));
	g_source_set_callback(q->timer, queue_timer_cb, q, NULL);
	g_source_attach(q->timer, q->ctx);
}

void
queue_start(struct queue *q)
{
	q->running = TRUE;
	queue_schedule(q, 0);
}

void
queue_kick(struct queue *q)
{
	if (q->running)
		queue_schedule(q, 0);
}

void
queue_stop(struct queue *q)
{
	q->running = FALSE;
	if (q->timer != NULL) {
		g_source_destroy(q->timer);
		g_source_unref(q->timer);
		q->timer = NULL;
	}
}
