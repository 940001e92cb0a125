/*
 * test-queue.c - queue.c over a real store and an in-test HTTP server
 * (testhttp.c), all in one process as in the daemon:
 *
 * - superseding: a newer job committed while the older one's push is
 *   under way is held; the older attempt gets no reply, and instead of a
 *   retry it ends superseded; then the newer job is claimed and pushed,
 *   so the server sees old, new and never old again;
 * - a store another connection holds locked: the outcome of a finished
 *   push waits (the job stays in flight, nothing is claimed) and is
 *   written once the lock is released, the job pushed once;
 * - outcomes the store refuses (a full disk or an I/O error at their
 *   commit, a lock that never comes, a page the outcome's statement
 *   cannot read; faultvfs.c): kept, written again, counted once, the job
 *   pushed once;
 *   a lock that lasts several writes warns once; a runner freed before
 *   an outcome is written leaves the job pending under its lease;
 * - backoff: the values, the jitter's bounds and the cap (a table);
 * - leases: the lease a runner gives the jobs it pushes, a live lease of
 *   another owner that no claim takes, a lapsed one (a dead owner's) that
 *   the next claim takes;
 * - what each reply makes of a job (delivered, retried with backoff,
 *   failed; a 403 flags the key, once; a retry past the job's expiry
 *   says so; a 503 of a job superseded meanwhile ends it superseded),
 *   the dry run, the backlog beyond max_inflight, and the daemon's
 *   timer: expiry, pruning (once an hour), a store that refuses the
 *   claim for a while.
 *
 * The queue runs on a private GMainContext; every wait has a watchdog.
 */
#include "autoconfig.h"

#include <string.h>
#include <glib/gstdio.h>

#include "faultvfs.h"
#include "metrics.h"
#include "push.h"
#include "queue.h"
#include "store.h"
#include "testhttp.h"
#include "testutil.h"

#define WATCHDOG_S 20
#define IDENT      "bot@example.com"

struct fix {
	char *dir;
	char *path;
	struct store *st;
	struct testhttp *srv;
	char *url;
	GMainContext *ctx;
	struct push_client *pc;
	struct queue *q;
};

/* A store, a server answering statuses, and a queue pushing to it. */
static void
fix_init(struct fix *f, const int *statuses, guint n)
{
	g_autoptr(GError) err = NULL;
	struct push_config pcfg = { 0 };
	struct queue_params qp = { "daemon:test", 2, 8, 0 };

	memset(f, 0, sizeof(*f));
	f->dir = testutil_tmpdir_new("test-queue");
	f->path = g_build_filename(f->dir, "otpbridge.db", NULL);
	g_assert_cmpint(store_open(f->path, &f->st, &err), ==, 0);
	store_set_busy_timeout(f->st, STORE_LOOP_BUSY_MS);   /* as the daemon */
	f->srv = testhttp_new(TESTHTTP_REPLY);
	testhttp_set_statuses(f->srv, statuses, n);
	f->url = testhttp_url(f->srv, "/v1/credentials/totp");
	f->ctx = g_main_context_new();
	pcfg.url = f->url;
	pcfg.api_key = "test-key";
	pcfg.timeout = 2;
	f->pc = push_client_new(&pcfg, f->ctx);
	f->q = queue_new(f->st, f->pc, &qp, f->ctx);
	metrics_reset();
}

static void
fix_clear(struct fix *f)
{
	queue_stop(f->q);
	queue_free(&f->q);
	push_client_free(&f->pc);
	store_close(&f->st);
	testhttp_free(&f->srv);
	g_main_context_unref(f->ctx);
	testutil_tmpdir_free(&f->dir);
	g_free(f->url);
	g_free(f->path);
}

/* Commits one job for IDENT carrying code, created at created, leased to
 * the queue as the daemon's listeners do; returns it with its out fields
 * (body and key are interned: they outlive the job_in). */
static struct job_in
commit(struct fix *f, const char *code, gint64 created)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *body = g_strdup_printf(
	    "{\"totp_identifier\":\"" IDENT "\",\"content\":\"%s\",\"source\":\"email\"}",
	    code);
	g_autofree char *key = g_strdup_printf("<%s@example.com>", code);
	struct job_in in = {
		.dedup_key = g_intern_string(key),
		.identifier = IDENT,
		.source = "lmtp",
		.filter = "test",
		.body = g_intern_string(body),
		.code = g_intern_string(code),
		.created = created,
		.expires = created + 600,
	};

	queue_lease(f->q, &in, g_get_real_time() / G_USEC_PER_SEC);
	g_assert_cmpint(store_commit_jobs(f->st, &in, 1, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(in.id, >, 0);
	return in;
}

/* The state of job id (a read: it does not wait for a writer). */
static enum job_state
state_of(struct store *st, gint64 id, guint *attempts)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);
	enum job_state s = JOB_STATES;

	g_assert_cmpint(store_list(st, 100, jobs, &err), ==, 0);
	for (guint i = 0; i < jobs->len; i++) {
		const struct job *j = jobs->pdata[i];

		if (j->id == id) {
			s = j->state;
			if (attempts != NULL)
				*attempts = j->attempts;
		}
	}
	g_assert_cmpint(s, !=, JOB_STATES);
	return s;
}

static gboolean
wake_cb(gpointer data)
{
	(void)data;
	return G_SOURCE_CONTINUE;
}

typedef gboolean (*cond_fn)(struct fix *f, gconstpointer data);

/* Iterates the queue's context until cond holds (watchdog bounded). */
static void
run_until(struct fix *f, cond_fn cond, gconstpointer data)
{
	gint64 deadline = g_get_monotonic_time() + WATCHDOG_S * G_USEC_PER_SEC;
	GSource *wake = g_timeout_source_new(10);

	g_source_set_callback(wake, wake_cb, NULL, NULL);
	g_source_attach(wake, f->ctx);
	while (!cond(f, data)) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		g_main_context_iteration(f->ctx, TRUE);
	}
	g_source_destroy(wake);
	g_source_unref(wake);
}

static gboolean
job_delivered(struct fix *f, gconstpointer data)
{
	return state_of(f->st, *(const gint64 *)data, NULL) == JOB_DELIVERED;
}

static gboolean
push_answered(struct fix *f, gconstpointer data)
{
	(void)data;
	return testhttp_nreqs(f->srv) >= 1 && push_client_active(f->pc) == 0;
}

static gboolean
queue_idle(struct fix *f, gconstpointer data)
{
	(void)data;
	return queue_inflight(f->q) == 0;
}

/* The content of the push body of request i. */
static char *
content_of(struct fix *f, guint i)
{
	const struct testhttp_req *r = testhttp_req(f->srv, i);
	const char *p = strstr(r->body, "\"content\":\"");

	g_assert_nonnull(p);
	p += strlen("\"content\":\"");
	return g_strndup(p, strcspn(p, "\""));
}

static void
test_supersede_inflight(void)
{
	static const int statuses[] = { 0, 200 };   /* no reply, then 200 */
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a, b;
	g_autoptr(GString) text = g_string_new(NULL);
	guint64 depth[JOB_STATES] = { 0 };
	guint attempts = 0;
	char *c;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	a = commit(&f, "111111", now - 1);
	g_assert_false(a.held);
	queue_push_new(f.q, &a);             /* under way from the next turn */
	b = commit(&f, "222222", now);
	g_assert_true(b.held);               /* waits for a's push */
	queue_push_new(f.q, &b);             /* so this sends nothing */
	g_assert_cmpuint(queue_inflight(f.q), ==, 1);
	queue_start(f.q);
	run_until(&f, job_delivered, &b.id);
	run_until(&f, queue_idle, NULL);

	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 2);
	c = content_of(&f, 0);
	g_assert_cmpstr(c, ==, "111111");
	g_free(c);
	c = content_of(&f, 1);
	g_assert_cmpstr(c, ==, "222222");
	g_free(c);
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, JOB_SUPERSEDED);
	g_assert_cmpuint(attempts, ==, 1);

	depth[JOB_SUPERSEDED] = 1;
	metrics_render(text, depth, now);
	g_assert_nonnull(strstr(text->str, "otpbridge_pushes_total{result=\"superseded\"} 1\n"));
	g_assert_null(strstr(text->str, "result=\"retry\""));
	g_assert_nonnull(strstr(text->str, "otpbridge_pushes_total{result=\"delivered\"} 1\n"));
	fix_clear(&f);
}

/* A newer job with no push under way: the older one is superseded at
 * its commit and never sent; the count shows it. */
static void
test_supersede_pending(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a, b;
	g_autoptr(GString) text = g_string_new(NULL);
	guint64 depth[JOB_STATES] = { 0 };
	char *c;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	{
		/* committed by another process, not leased: waits for a claim */
		g_autoptr(GError) err = NULL;
		struct job_in in = {
			.dedup_key = "<a@example.com>", .identifier = IDENT,
			.source = "deliver", .filter = "test",
			.body = "{\"totp_identifier\":\"" IDENT "\",\"content\":\"333333\","
			    "\"source\":\"email\"}",
			.code = "333333", .created = now - 5, .expires = now + 600,
		};

		g_assert_cmpint(store_commit_jobs(f.st, &in, 1, &err), ==, 0);
		a = in;
	}
	b = commit(&f, "444444", now);
	g_assert_false(b.held);
	g_assert_cmpuint(b.superseded, ==, 1);
	queue_push_new(f.q, &b);
	queue_start(f.q);
	run_until(&f, job_delivered, &b.id);
	run_until(&f, queue_idle, NULL);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	c = content_of(&f, 0);
	g_assert_cmpstr(c, ==, "444444");
	g_free(c);
	g_assert_cmpint(state_of(f.st, a.id, NULL), ==, JOB_SUPERSEDED);
	metrics_render(text, depth, now);
	g_assert_nonnull(strstr(text->str, "otpbridge_pushes_total{result=\"superseded\"} 1\n"));
	fix_clear(&f);
}

static void
test_outcome_busy(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	g_autoptr(GError) err = NULL;
	struct store *other = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;
	guint attempts = 0;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	a = commit(&f, "555555", now);
	g_assert_cmpint(store_open(f.path, &other, &err), ==, 0);
	/* Another connection takes the write lock (BEGIN IMMEDIATE). */
	g_assert_cmpint(store_batch_begin(other, &err), ==, 0);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*result=outcomes-waiting*");
	queue_push_new(f.q, &a);
	run_until(&f, push_answered, NULL);
	/* The outcome's first write runs now and finds the store locked. */
	while (g_main_context_iteration(f.ctx, FALSE))
		;
	g_test_assert_expected_messages();
	g_assert_cmpuint(queue_inflight(f.q), ==, 1);
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, JOB_PENDING);
	g_assert_cmpuint(attempts, ==, 0);
	/* Released: written within a retry period, and pushed only once. */
	g_assert_cmpint(store_batch_end(other, &err), ==, 0);
	g_assert_no_error(err);
	run_until(&f, queue_idle, NULL);
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, JOB_DELIVERED);
	g_assert_cmpuint(attempts, ==, 1);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	store_close(&other);
	fix_clear(&f);
}

/* ---- outcomes the store refuses ------------------------------------------- */

struct unrecorded_case {
	const char *name;
	enum faultvfs_op op;
	enum faultvfs_error error;
	int times;                   /* the lock: until disarmed */
	gboolean told;               /* the push's result is logged first */
	const char *warning;
	int status;                  /* the endpoint's answer (0: 200) */
};

static const struct unrecorded_case unrecorded_cases[] = {
	{ "commit-write-full", FAULTVFS_WRITE, FAULTVFS_FULL, 1, TRUE,
	  "*database or disk is full*result=outcomes-waiting jobs=1*" },
	{ "commit-write-ioerr", FAULTVFS_WRITE, FAULTVFS_IOERR, 1, TRUE,
	  "*disk I/O error*result=outcomes-waiting jobs=1*" },
	{ "commit-sync-ioerr", FAULTVFS_SYNC, FAULTVFS_IOERR, 1, TRUE,
	  "*disk I/O error*result=outcomes-waiting jobs=1*" },
	{ "lock-busy", FAULTVFS_LOCK, FAULTVFS_BUSY, -1, FALSE,
	  "*database is locked*result=outcomes-waiting jobs=1*" },
	{ "commit-write-full-retry", FAULTVFS_WRITE, FAULTVFS_FULL, 1, TRUE,
	  "*database or disk is full*result=outcomes-waiting jobs=1*", 503 },
	{ "commit-write-full-failed", FAULTVFS_WRITE, FAULTVFS_FULL, 1, TRUE,
	  "*database or disk is full*result=outcomes-waiting jobs=1*", 400 },
};

static gboolean
fault_fired(struct fix *f, gconstpointer data)
{
	(void)f;
	(void)data;
	return faultvfs_fired() > 0;
}

/*
 * A push is answered 200, and the write of its outcome fails: the queue
 * keeps the outcome (the job stays in flight, pending, no attempt
 * counted) and writes it again once the store takes writes; the job is
 * delivered with one attempt, pushed once, counted once.
 */
static void
test_unrecorded(gconstpointer data)
{
	const struct unrecorded_case *c = data;
	const int status = c->status != 0 ? c->status : 200;
	/* what the status makes of the job, its log line and its count */
	const enum job_state final = status == 200 ? JOB_DELIVERED :
	    status == 503 ? JOB_PENDING : JOB_FAILED;
	const char *result = status == 200 ? "delivered" : status == 503 ? "retry" : "failed";
	const GLogLevelFlags level = status == 400 ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE;
	g_autofree char *told = g_strdup_printf("*result=%s*", result);
	g_autofree char *counted = g_strdup_printf(
	    "otpbridge_pushes_total{result=\"%s\"} 1\n", result);
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;
	guint attempts = 9;
	guint64 depth[JOB_STATES] = { 0 };
	g_autoptr(GString) text = g_string_new(NULL);

	fix_init(&f, &status, 1);
	a = commit(&f, "666666", now);
	queue_push_new(f.q, &a);
	run_until(&f, push_answered, NULL);
	/* The outcome is written from the next loop turn on; the push's
	 * result is logged once, and the wait, and nothing else. */
	if (c->told)
		g_test_expect_message(G_LOG_DOMAIN, level, told);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, c->warning);
	faultvfs_arm(c->op, 1, c->times, c->error);
	run_until(&f, fault_fired, NULL);
	faultvfs_disarm();
	g_test_assert_expected_messages();
	g_assert_cmpuint(queue_inflight(f.q), ==, 1);
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, JOB_PENDING);
	g_assert_cmpuint(attempts, ==, 0);

	if (!c->told)
		g_test_expect_message(G_LOG_DOMAIN, level, told);
	run_until(&f, queue_idle, NULL);
	g_test_assert_expected_messages();
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, final);
	g_assert_cmpuint(attempts, ==, 1);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	depth[final] = 1;
	metrics_render(text, depth, now);
	g_assert_nonnull(strstr(text->str, counted));
	fix_clear(&f);
}

/*
 * Store errors that are not temporary (here SQLITE_CORRUPT): the queue
 * does not wait for them.  A failed BEGIN writes each outcome on its own
 * (delivered, once); a failed commit of the outcome is logged as
 * unrecorded, the attempt leaves the queue and its lease lapses (the job
 * stays pending, with no attempt counted, pushed once so far).
 */
struct corrupt_case {
	const char *name;
	enum faultvfs_op op;
	const char *warning;         /* NULL: none */
	enum job_state state;
	guint attempts;
};

static const struct corrupt_case corrupt_cases[] = {
	{ "begin-lock-corrupt", FAULTVFS_LOCK, NULL, JOB_DELIVERED, 1 },
	{ "commit-write-corrupt", FAULTVFS_WRITE,
	  "*result=unrecorded jobs=1 error=*malformed*", JOB_PENDING, 0 },
};

static void
test_unrecorded_corrupt(gconstpointer data)
{
	const struct corrupt_case *c = data;
	const int status = 200;
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;
	guint attempts = 9;

	fix_init(&f, &status, 1);
	a = commit(&f, "646464", now);
	queue_push_new(f.q, &a);
	run_until(&f, push_answered, NULL);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*result=delivered*");
	if (c->warning != NULL)
		g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, c->warning);
	faultvfs_arm(c->op, 1, 1, FAULTVFS_CORRUPT);
	run_until(&f, queue_idle, NULL);
	g_assert_cmpuint(faultvfs_fired(), ==, 1);
	faultvfs_disarm();
	g_test_assert_expected_messages();
	g_assert_cmpuint(queue_inflight(f.q), ==, 0);
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, c->state);
	g_assert_cmpuint(attempts, ==, c->attempts);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	fix_clear(&f);
}

/* ---- backoff ------------------------------------------------------------- */

struct backoff_case {
	const char *name;
	guint attempts;
	double r;
	gint64 want;
};

/* base 1, 2, 4, 8, 16, 30...; jitter 0.75 + 0.5 r; rounded, at least 1,
 * at most QUEUE_BACKOFF_MAX. */
static const struct backoff_case backoff_cases[] = {
	{ "0-mid", 0, 0.5, 1 },
	{ "1-mid", 1, 0.5, 2 },
	{ "2-mid", 2, 0.5, 4 },
	{ "3-mid", 3, 0.5, 8 },
	{ "4-mid", 4, 0.5, 16 },
	{ "5-mid-capped", 5, 0.5, 30 },
	{ "6-mid-capped", 6, 0.5, 30 },
	{ "0-low-at-least-1", 0, 0.0, 1 },
	{ "1-low", 1, 0.0, 2 },
	{ "2-low", 2, 0.0, 3 },
	{ "4-low", 4, 0.0, 12 },
	{ "5-low", 5, 0.0, 23 },
	{ "0-high", 0, 0.999999, 1 },
	{ "1-high", 1, 0.999999, 2 },
	{ "2-high", 2, 0.999999, 5 },
	{ "3-high", 3, 0.999999, 10 },
	{ "4-high", 4, 0.999999, 20 },
	{ "5-high-capped", 5, 0.999999, 30 },
	{ "31-no-overflow", 31, 0.5, 30 },
	{ "63-no-overflow", 63, 0.0, 23 },
	{ "max-no-overflow", G_MAXUINT, 0.999999, 30 },
};

static void
test_backoff(gconstpointer data)
{
	const struct backoff_case *c = data;

	g_assert_cmpint(queue_backoff(c->attempts, c->r), ==, c->want);
}

/* Every r in [0, 1): within the jitter's bounds around the base, never
 * below 1 or above the cap, and never shorter for a larger r. */
static void
test_backoff_bounds(void)
{
	for (guint n = 0; n < 40; n++) {
		double base = n >= 5 ? QUEUE_BACKOFF_MAX : (double)(1u << n);
		gint64 prev = 0;

		for (guint k = 0; k < 1000; k++) {
			double r = k / 1000.0;
			gint64 d = queue_backoff(n, r);

			g_assert_cmpint(d, >=, 1);
			g_assert_cmpint(d, <=, QUEUE_BACKOFF_MAX);
			g_assert_cmpfloat((double)d, >=, MIN(0.75 * base, QUEUE_BACKOFF_MAX) - 0.5);
			g_assert_cmpfloat((double)d, <=, MAX(1.25 * base + 0.5, 1));
			g_assert_cmpint(d, >=, prev);
			prev = d;
		}
	}
}

/* ---- leases -------------------------------------------------------------- */

/* The lease queue_lease() gives: this runner's owner, for the push
 * timeout and QUEUE_LEASE_EXTRA; no other owner may take the job before
 * it ends, and any may after. */
static void
test_lease_own(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	g_autoptr(GError) err = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gint64 later;
	struct job_in a;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	a = commit(&f, "777777", now);
	later = g_get_real_time() / G_USEC_PER_SEC;
	g_assert_cmpstr(a.lease_owner, ==, "daemon:test");
	g_assert_cmpstr(a.lease_owner, ==, queue_owner(f.q));
	g_assert_cmpint(a.lease_until, >=, now + 2 + QUEUE_LEASE_EXTRA);
	g_assert_cmpint(a.lease_until, <=, later + 2 + QUEUE_LEASE_EXTRA);
	g_assert_cmpint(store_claim_job(f.st, a.id, "daemon:other", a.lease_until,
	    a.lease_until + 12, &err), ==, 0);
	g_assert_cmpint(store_claim_job(f.st, a.id, "daemon:other", a.lease_until + 1,
	    a.lease_until + 13, &err), ==, 1);
	g_assert_no_error(err);
	fix_clear(&f);
}

/* Commits a job for its own identifier leased to owner until until
 * (owner NULL: not leased), as another process would. */
static gint64
commit_leased(struct fix *f, const char *code, const char *owner, gint64 until)
{
	g_autoptr(GError) err = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autofree char *ident = g_strdup_printf("%s@example.com", code);
	g_autofree char *body = g_strdup_printf(
	    "{\"totp_identifier\":\"%s\",\"content\":\"%s\",\"source\":\"email\"}",
	    ident, code);
	struct job_in in = {
		.dedup_key = code, .identifier = ident, .source = "deliver",
		.filter = "test", .body = body, .code = code,
		.created = now - 1, .expires = now + 600,
		.lease_owner = owner, .lease_until = until,
	};

	g_assert_cmpint(store_commit_jobs(f->st, &in, 1, &err), ==, 0);
	g_assert_no_error(err);
	return in.id;
}

/*
 * The daemon's claim takes unleased jobs and jobs whose lease lapsed (an
 * owner that died mid-push), never one another owner holds: its one claim
 * pushes two of three, the third stays pending, never attempted.
 */
static void
test_lease_claims(void)
{
	static const int statuses[] = { 200, 200, 200 };
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	gint64 free_id, dead_id, live_id;
	guint attempts = 9;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	free_id = commit_leased(&f, "111111", NULL, 0);
	dead_id = commit_leased(&f, "222222", "deliver:4242", now - 1);
	live_id = commit_leased(&f, "333333", "daemon:other", now + 600);
	queue_start(f.q);
	run_until(&f, job_delivered, &free_id);
	run_until(&f, job_delivered, &dead_id);
	run_until(&f, queue_idle, NULL);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 2);
	g_assert_cmpint(state_of(f.st, live_id, &attempts), ==, JOB_PENDING);
	g_assert_cmpuint(attempts, ==, 0);
	fix_clear(&f);
}

/* ---- replies and outcomes ------------------------------------------------ */

struct reply_case {
	const char *name;
	int status;
	enum job_state state;
	const char *result;          /* the otpbridge_pushes_total label */
	gboolean auth_failing;
	const char *warnings[2];     /* expected in this order, or none */
};

static const struct reply_case reply_cases[] = {
	{ "200-delivered", 200, JOB_DELIVERED, "delivered", FALSE, { NULL } },
	{ "201-delivered", 201, JOB_DELIVERED, "delivered", FALSE, { NULL } },
	{ "503-retry", 503, JOB_PENDING, "retry", FALSE, { NULL } },
	{ "429-retry", 429, JOB_PENDING, "retry", FALSE, { NULL } },
	{ "400-failed", 400, JOB_FAILED, "failed", FALSE,
	  { "*job=* identifier=" IDENT " filter=test result=failed status=400*" } },
	{ "403-failed-key-flagged", 403, JOB_FAILED, "failed", TRUE,
	  { "*rejected the API key (403)*", "*result=failed status=403*" } },
};

/* One push, one reply: the job's state, attempts, next attempt, the
 * key flag, the count by result, and the warnings. */
static void
test_reply(gconstpointer data)
{
	const struct reply_case *c = data;
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) text = g_string_new(NULL);
	g_autofree char *want = NULL;
	guint64 depth[JOB_STATES] = { 0 };
	struct job_in a;
	const struct job *j = NULL;

	fix_init(&f, &c->status, 1);
	a = commit(&f, "121212", now);
	for (guint i = 0; i < G_N_ELEMENTS(c->warnings) && c->warnings[i] != NULL; i++)
		g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, c->warnings[i]);
	queue_push_new(f.q, &a);
	run_until(&f, queue_idle, NULL);
	g_test_assert_expected_messages();
	g_assert_cmpint(queue_auth_failing(f.q), ==, c->auth_failing);
	g_assert_cmpint(store_list(f.st, 10, jobs, &err), ==, 0);
	g_assert_cmpuint(jobs->len, ==, 1);
	j = jobs->pdata[0];
	g_assert_cmpint(j->state, ==, c->state);
	g_assert_cmpuint(j->attempts, ==, 1);
	g_assert_cmpint(j->last_status, ==, c->status);
	if (c->state == JOB_PENDING) {
		/* queue_backoff(0, r) is 1 s for every r */
		g_assert_cmpint(j->next_attempt, >=, now + 1);
		g_assert_cmpint(j->next_attempt, <=, g_get_real_time() / G_USEC_PER_SEC + 1);
	}
	metrics_render(text, depth, now);
	want = g_strdup_printf("otpbridge_pushes_total{result=\"%s\"} 1\n", c->result);
	g_assert_nonnull(strstr(text->str, want));
	fix_clear(&f);
}

/* A 403 warns about the key once; the next success clears the flag. */
static void
test_auth_failing(void)
{
	static const int statuses[] = { 403, 403, 200 };
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*rejected the API key*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*result=failed status=403*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*result=failed status=403*");
	a = commit(&f, "131313", now - 2);
	queue_push_new(f.q, &a);
	run_until(&f, queue_idle, NULL);
	g_assert_true(queue_auth_failing(f.q));
	a = commit(&f, "141414", now - 1);
	queue_push_new(f.q, &a);
	run_until(&f, queue_idle, NULL);
	g_test_assert_expected_messages();
	g_assert_true(queue_auth_failing(f.q));
	a = commit(&f, "151515", now);
	queue_push_new(f.q, &a);
	run_until(&f, queue_idle, NULL);
	g_assert_false(queue_auth_failing(f.q));
	g_assert_cmpint(state_of(f.st, a.id, NULL), ==, JOB_DELIVERED);
	fix_clear(&f);
}

/* No push client: the dry run marks the job delivered at once, sends
 * nothing, and says so in the stored reply. */
static void
test_dry_run(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	struct queue_params qp = { "daemon:dry", 2, 8, 0 };
	struct queue *dry;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func(job_free);
	g_autoptr(GError) err = NULL;
	struct job_in a;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	dry = queue_new(f.st, NULL, &qp, f.ctx);
	a = commit(&f, "161616", now);
	queue_push_new(dry, &a);
	g_assert_cmpuint(queue_inflight(dry), ==, 0);
	g_assert_cmpint(store_list(f.st, 10, keep, &err), ==, 0);
	g_assert_cmpint(((struct job *)keep->pdata[0])->state, ==, JOB_DELIVERED);
	g_assert_cmpstr(((struct job *)keep->pdata[0])->last_reply, ==, "dry-run");
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 0);
	queue_free(&dry);
	fix_clear(&f);
}

/* Commits a job of its own identifier leased to q, for queue_push_new. */
static struct job_in
commit_for(struct fix *f, struct queue *q, const char *code, gint64 created)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *ident = g_strdup_printf("%s@example.com", code);
	g_autofree char *body = g_strdup_printf(
	    "{\"totp_identifier\":\"%s\",\"content\":\"%s\",\"source\":\"email\"}",
	    ident, code);
	struct job_in in = {
		.dedup_key = g_intern_string(code), .identifier = g_intern_string(ident),
		.source = "lmtp", .filter = "test", .body = g_intern_string(body),
		.code = g_intern_string(code), .created = created, .expires = created + 600,
	};

	queue_lease(q, &in, g_get_real_time() / G_USEC_PER_SEC);
	g_assert_cmpint(store_commit_jobs(f->st, &in, 1, &err), ==, 0);
	g_assert_no_error(err);
	return in;
}

/* Beyond max_inflight, leased jobs wait in order and count as in flight. */
static void
test_backlog(void)
{
	static const int statuses[] = { 200, 200, 200 };
	static const char *const codes[] = { "171717", "181818", "191919" };
	struct fix f;
	struct queue_params qp = { "daemon:one", 2, 1, 0 };
	struct queue *one;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	one = queue_new(f.st, f.pc, &qp, f.ctx);
	for (guint i = 0; i < G_N_ELEMENTS(codes); i++) {
		struct job_in in = commit_for(&f, one, codes[i], now - 3 + i);

		queue_push_new(one, &in);
	}
	g_assert_cmpuint(queue_inflight(one), ==, 3);
	while (queue_inflight(one) > 0) {
		g_assert_cmpuint(push_client_active(f.pc), <=, 1);
		g_main_context_iteration(f.ctx, TRUE);
	}
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 3);
	for (guint i = 0; i < G_N_ELEMENTS(codes); i++) {
		g_autofree char *c = content_of(&f, i);

		g_assert_cmpstr(c, ==, codes[i]);
	}
	queue_free(&one);
	fix_clear(&f);
}

/*
 * The daemon's timer: one look expires a job past its max_age (never
 * pushed), prunes finished jobs older than the retention, and claims
 * and pushes what is due.
 */
static void
test_timer_expire_prune(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	struct queue_params qp = { "daemon:timer", 2, 8, 3600 };
	struct queue *d;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GError) err = NULL;
	gint64 stale, old, due;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	d = queue_new(f.st, f.pc, &qp, f.ctx);
	{
		/* stale: pending past its expiry (max_age) */
		struct job_in in = {
			.dedup_key = "stale", .identifier = "stale@example.com",
			.source = "lmtp", .filter = "test", .body = "{}", .code = "202020",
			.created = now - 700, .expires = now - 100,
		};

		g_assert_cmpint(store_commit_jobs(f.st, &in, 1, &err), ==, 0);
		stale = in.id;
	}
	/* old: delivered two hours ago */
	old = commit_leased(&f, "212121", NULL, 0);
	g_assert_cmpint(store_job_delivered(f.st, old, now - 7200, 200, "ok", NULL, &err), ==, 0);
	due = commit_leased(&f, "222222", NULL, 0);
	g_assert_no_error(err);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "*result=expired jobs=1*");

	queue_start(d);
	run_until(&f, job_delivered, &due);
	queue_stop(d);
	g_test_assert_expected_messages();
	g_assert_cmpint(state_of(f.st, stale, NULL), ==, JOB_EXPIRED);
	{
		g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);

		g_assert_cmpint(store_list(f.st, 10, jobs, &err), ==, 0);
		g_assert_cmpuint(jobs->len, ==, 2);     /* old is pruned */
	}
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	run_until(&f, queue_idle, NULL);
	queue_free(&d);
	fix_clear(&f);
}

struct look {
	gint64 at;
	guint fired;
};

static gboolean
later_look_failed(struct fix *f, gconstpointer data)
{
	const struct look *first = data;

	(void)f;
	return faultvfs_fired() > first->fired &&
	    g_get_monotonic_time() - first->at > QUEUE_POLL_MS * 1000 / 2;
}

/* The store refuses the timer's writes (its lock never comes): one
 * warning, a look every second, and the job is pushed once it is back. */
static void
test_timer_store_refuses(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	struct look first;
	gint64 id;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	id = commit_leased(&f, "232323", NULL, 0);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
	    "*database is locked*result=queue-error*");
	faultvfs_arm(FAULTVFS_LOCK, 1, -1, FAULTVFS_BUSY);
	queue_start(f.q);
	run_until(&f, fault_fired, NULL);
	/* The next look (QUEUE_POLL_MS later; one look's busy retries take
	 * STORE_LOOP_BUSY_MS) fails too, and says nothing more. */
	first.at = g_get_monotonic_time();
	first.fired = faultvfs_fired();
	run_until(&f, later_look_failed, &first);
	g_test_assert_expected_messages();
	g_assert_cmpint(state_of(f.st, id, NULL), ==, JOB_PENDING);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 0);
	faultvfs_disarm();
	run_until(&f, job_delivered, &id);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	fix_clear(&f);
}

static gboolean
store_empty(struct fix *f, gconstpointer data)
{
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);
	g_autoptr(GError) err = NULL;

	(void)data;
	g_assert_cmpint(store_list(f->st, 10, jobs, &err), ==, 0);
	return jobs->len == 0;
}

/*
 * The prune of the timer's look fails (its BEGIN's lock, the look's third
 * after the expiry's two, the file's and the WAL's): one warning, the
 * finished job is kept, and the next look, a second later, prunes it
 * (the hour between prunes counts from one that worked).
 */
static void
test_timer_prune_fails(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	struct queue_params qp = { "daemon:prune", 2, 8, 3600 };
	struct queue *d;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GError) err = NULL;
	gint64 old;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	d = queue_new(f.st, f.pc, &qp, f.ctx);
	old = commit_leased(&f, "262626", NULL, 0);
	g_assert_cmpint(store_job_delivered(f.st, old, now - 7200, 200, "ok", NULL, &err), ==, 0);
	g_assert_no_error(err);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
	    "*begin: database disk image is malformed*result=queue-error*");
	faultvfs_arm(FAULTVFS_LOCK, 3, 1, FAULTVFS_CORRUPT);
	queue_start(d);
	run_until(&f, fault_fired, NULL);
	g_test_assert_expected_messages();
	g_assert_cmpint(state_of(f.st, old, NULL), ==, JOB_DELIVERED);
	faultvfs_disarm();
	run_until(&f, store_empty, NULL);
	queue_stop(d);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 0);
	queue_free(&d);
	fix_clear(&f);
}

/* max_inflight 0 means the default (64): three pushes go at once; a
 * runner freed while its timer is armed, and a NULL one, are fine. */
static void
test_defaults(void)
{
	static const int statuses[] = { 200, 200, 200 };
	struct fix f;
	struct queue_params qp = { "daemon:dflt", 2, 0, 0 };
	struct queue *q, *none = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	guint most = 0;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	q = queue_new(f.st, f.pc, &qp, f.ctx);
	for (guint i = 0; i < 3; i++) {
		g_autofree char *code = g_strdup_printf("24242%u", i);
		struct job_in in = commit_for(&f, q, g_intern_string(code), now - 3 + i);

		queue_push_new(q, &in);
	}
	while (queue_inflight(q) > 0) {
		most = MAX(most, push_client_active(f.pc));
		g_main_context_iteration(f.ctx, TRUE);
	}
	g_assert_cmpuint(most, ==, 3);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 3);
	queue_start(q);
	queue_kick(q);
	queue_free(&q);
	g_assert_null(q);
	queue_free(&none);
	fix_clear(&f);
}

/* A job older than one already pending is born superseded: nothing is
 * pushed or counted in flight for it. */
static void
test_born_superseded(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in newer, older;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	newer = commit(&f, "262626", now);
	older = commit(&f, "272727", now - 60);
	g_assert_true(older.held);
	g_assert_cmpuint(older.superseded, >, 0);
	queue_push_new(f.q, &older);
	g_assert_cmpuint(queue_inflight(f.q), ==, 0);
	g_assert_cmpint(state_of(f.st, older.id, NULL), ==, JOB_SUPERSEDED);
	queue_push_new(f.q, &newer);
	run_until(&f, queue_idle, NULL);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	fix_clear(&f);
}

/* The dry run cannot record: a warning, the job stays pending. */
static void
test_dry_run_unrecorded(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	struct queue_params qp = { "daemon:dry", 2, 8, 0 };
	struct queue *dry;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	dry = queue_new(f.st, NULL, &qp, f.ctx);
	a = commit(&f, "282828", now);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "*result=dry-run*");
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
	    "*result=unrecorded*database or disk is full*");
	faultvfs_arm(FAULTVFS_WRITE, 1, 1, FAULTVFS_FULL);
	queue_push_new(dry, &a);
	faultvfs_disarm();
	g_test_assert_expected_messages();
	g_assert_cmpint(state_of(f.st, a.id, NULL), ==, JOB_PENDING);
	queue_free(&dry);
	fix_clear(&f);
}

/* The daemon retries a 503 when its backoff is up (the timer wakes for
 * it, sooner than its poll), and then delivers: two attempts. */
static void
test_timer_retry(void)
{
	static const int statuses[] = { 503, 200 };
	struct fix f;
	guint attempts = 0;
	gint64 id;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	id = commit_leased(&f, "292929", NULL, 0);
	queue_start(f.q);
	run_until(&f, job_delivered, &id);
	g_assert_cmpint(state_of(f.st, id, &attempts), ==, JOB_DELIVERED);
	g_assert_cmpuint(attempts, ==, 2);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 2);
	run_until(&f, queue_idle, NULL);
	fix_clear(&f);
}

/* An endpoint that closes without a reply: a retry (status 0, in 1 s)
 * whose log line says what went wrong, nothing sent anywhere else; a
 * kick of a runner that was never started does nothing. */
static void
test_network_error(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	struct testhttp *closer = testhttp_new(TESTHTTP_CLOSE);
	g_autofree char *url = testhttp_url(closer, "/v1/credentials/totp");
	struct push_config pcfg = { 0 };
	struct queue_params qp = { "daemon:net", 2, 8, 0 };
	struct push_client *pc;
	struct queue *q;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);
	g_autoptr(GError) err = NULL;
	const struct job *j;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	pcfg.url = url;
	pcfg.api_key = "test-key";
	pcfg.timeout = 2;
	pc = push_client_new(&pcfg, f.ctx);
	q = queue_new(f.st, pc, &qp, f.ctx);
	{
		struct job_in in = commit_for(&f, q, "303030", now);

		g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
		    "*result=retry status=0 error=\"?*\" attempts=1 next=1s*");
		queue_push_new(q, &in);
	}
	while (queue_inflight(q) > 0)
		g_main_context_iteration(f.ctx, TRUE);
	g_test_assert_expected_messages();
	g_assert_cmpint(store_list(f.st, 10, jobs, &err), ==, 0);
	j = jobs->pdata[0];
	g_assert_cmpint(j->state, ==, JOB_PENDING);
	g_assert_cmpint(j->last_status, ==, 0);
	g_assert_cmpuint(j->attempts, ==, 1);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 0);
	queue_kick(q);                  /* stopped: nothing happens */
	g_assert_cmpuint(queue_inflight(q), ==, 0);
	queue_free(&q);
	push_client_free(&pc);
	testhttp_free(&closer);
	fix_clear(&f);
}

/* ---- a write of the batch that fails --------------------------------------- */

struct statement_case {
	const char *name;
	int status;
	enum job_state final;
	const char *result;          /* its count in otpbridge_pushes_total */
};

static const struct statement_case statement_cases[] = {
	{ "delivered", 200, JOB_DELIVERED, "delivered" },
	{ "retry", 503, JOB_PENDING, "retry" },
	{ "failed", 400, JOB_FAILED, "failed" },
};

/*
 * Another connection wrote, so the outcome's statement reads pages again
 * inside the batch, and a read fails (the first read is BEGIN's, of page
 * 1; the second the statement's): SQLite rolls the transaction back.  The
 * outcome is kept, not dropped (before, result=unrecorded, and the job
 * waited for its lease to lapse to be pushed again); it is written once
 * the store reads again: one push, one attempt, counted once.
 */
static void
test_outcome_statement(gconstpointer data)
{
	const struct statement_case *c = data;
	struct fix f;
	g_autoptr(GError) err = NULL;
	struct store *other = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;
	guint attempts = 9;
	guint64 depth[JOB_STATES] = { 0 };
	g_autoptr(GString) text = g_string_new(NULL);
	g_autofree char *counted = g_strdup_printf(
	    "otpbridge_pushes_total{result=\"%s\"} 1\n", c->result);
	struct job_in in = {
		.dedup_key = "other", .identifier = "other@example.com",
		.source = "lmtp", .filter = "test", .body = "{}", .code = "737373",
		.created = now, .expires = now + 600,
	};

	fix_init(&f, &c->status, 1);
	a = commit(&f, "717171", now);
	queue_push_new(f.q, &a);
	run_until(&f, push_answered, NULL);
	g_assert_cmpint(store_open(f.path, &other, &err), ==, 0);
	g_assert_cmpint(store_commit_jobs(other, &in, 1, &err), ==, 0);
	store_close(&other);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
	    "*record attempt: disk I/O error*result=outcomes-waiting jobs=1*");
	faultvfs_arm(FAULTVFS_READ, 2, 1, FAULTVFS_IOERR);
	run_until(&f, fault_fired, NULL);
	faultvfs_disarm();
	g_test_assert_expected_messages();
	g_assert_cmpuint(queue_inflight(f.q), ==, 1);
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, JOB_PENDING);
	g_assert_cmpuint(attempts, ==, 0);

	run_until(&f, queue_idle, NULL);
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, c->final);
	g_assert_cmpuint(attempts, ==, 1);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	depth[c->final] = 1;
	depth[JOB_PENDING] += 1;         /* the other connection's job */
	metrics_render(text, depth, now);
	g_assert_nonnull(strstr(text->str, counted));
	fix_clear(&f);
}

/*
 * As above, but the read fails as a corrupt page would (not temporary):
 * the outcome is not kept for another try but logged as unrecorded; the
 * attempt leaves the queue, and the job waits, pending with no attempt
 * counted, for its lease to lapse.
 */
static void
test_outcome_statement_corrupt(void)
{
	const int status = 200;
	struct fix f;
	struct store *other = NULL;
	GError *err = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;
	guint attempts = 9;
	struct job_in in = {
		.dedup_key = "other", .identifier = "other@example.com",
		.source = "lmtp", .filter = "test", .body = "{}", .code = "747474",
		.created = now, .expires = now + 600,
	};

	fix_init(&f, &status, 1);
	a = commit(&f, "757575", now);
	queue_push_new(f.q, &a);
	run_until(&f, push_answered, NULL);
	g_assert_cmpint(store_open(f.path, &other, &err), ==, 0);
	g_assert_cmpint(store_commit_jobs(other, &in, 1, &err), ==, 0);
	store_close(&other);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
	    "*job=* result=unrecorded error=*record attempt*malformed*");
	/* SQLite keeps the error until the transaction ends: the commit
	 * fails too, and says so for the batch (the same job, once more). */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
	    "result=unrecorded jobs=1 error=*commit*malformed*");
	faultvfs_arm(FAULTVFS_READ, 2, 1, FAULTVFS_CORRUPT);
	run_until(&f, queue_idle, NULL);
	g_assert_cmpuint(faultvfs_fired(), ==, 1);
	faultvfs_disarm();
	g_test_assert_expected_messages();
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, JOB_PENDING);
	g_assert_cmpuint(attempts, ==, 0);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	fix_clear(&f);
}

/* ---- more of the outcomes' writes -------------------------------------------- */

struct busy_wait {
	gint64 at;
	guint fired;
};

static gboolean
record_retried(struct fix *f, gconstpointer data)
{
	const struct busy_wait *first = data;

	(void)f;
	return faultvfs_fired() > first->fired &&
	    g_get_monotonic_time() - first->at > QUEUE_RECORD_RETRY_MS * 1000;
}

/* The store stays locked across several writes of the outcome: one
 * warning for the episode, the job in flight and pending meanwhile;
 * then the outcome is written, and the runner pushes a job due. */
static void
test_outcome_busy_long(void)
{
	static const int statuses[] = { 200, 200 };
	struct fix f;
	struct busy_wait first;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;
	gint64 due;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	a = commit(&f, "747474", now);
	queue_push_new(f.q, &a);
	run_until(&f, push_answered, NULL);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING,
	    "*database is locked*result=outcomes-waiting jobs=1*");
	faultvfs_arm(FAULTVFS_LOCK, 1, -1, FAULTVFS_BUSY);
	run_until(&f, fault_fired, NULL);
	g_test_assert_expected_messages();
	/* A second write of the outcome fails too, and says nothing more. */
	first.at = g_get_monotonic_time();
	first.fired = faultvfs_fired();
	run_until(&f, record_retried, &first);
	faultvfs_disarm();
	due = commit_leased(&f, "757575", NULL, 0);
	g_assert_cmpint(state_of(f.st, a.id, NULL), ==, JOB_PENDING);
	g_assert_cmpuint(queue_inflight(f.q), ==, 1);
	queue_start(f.q);
	run_until(&f, job_delivered, &due);
	g_assert_cmpint(state_of(f.st, a.id, NULL), ==, JOB_DELIVERED);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 2);
	run_until(&f, queue_idle, NULL);
	fix_clear(&f);
}

/* A runner freed with an outcome not yet written: nothing runs for it
 * afterwards, and the job stays pending under its lease (pushed again
 * when it lapses). */
static void
test_free_unwritten(void)
{
	static const int statuses[] = { 200 };
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;
	guint attempts = 9;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	a = commit(&f, "767676", now);
	queue_push_new(f.q, &a);
	run_until(&f, push_answered, NULL);
	g_assert_cmpuint(queue_inflight(f.q), ==, 1);
	queue_free(&f.q);
	while (g_main_context_iteration(f.ctx, FALSE))
		;
	g_assert_cmpint(state_of(f.st, a.id, &attempts), ==, JOB_PENDING);
	g_assert_cmpuint(attempts, ==, 0);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
	{
		struct queue_params qp = { "daemon:test", 2, 8, 0 };

		f.q = queue_new(f.st, f.pc, &qp, f.ctx);
	}
	fix_clear(&f);
}

/* A retry whose next attempt falls after the job's expiry says so. */
static void
test_retry_past_max_age(void)
{
	static const int statuses[] = { 503 };
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	a = commit(&f, "777777", now - 600);     /* expires now */
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
	    "*result=retry status=503*attempts=1 next=1s (past max_age: will expire)*");
	queue_push_new(f.q, &a);
	run_until(&f, queue_idle, NULL);
	g_test_assert_expected_messages();
	g_assert_cmpint(state_of(f.st, a.id, NULL), ==, JOB_PENDING);
	fix_clear(&f);
}

/* A job superseded while its push got a 503: superseded, not retried,
 * and the line names the status with no transport error. */
static void
test_supersede_503(void)
{
	static const int statuses[] = { 503, 200 };
	struct fix f;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a, b;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	a = commit(&f, "787878", now - 1);
	queue_push_new(f.q, &a);             /* under way from the next turn */
	b = commit(&f, "797979", now);
	g_assert_true(b.held);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE,
	    "*job=* result=superseded status=503 error=\"\" attempts=1 *");
	queue_start(f.q);
	run_until(&f, job_delivered, &b.id);
	run_until(&f, queue_idle, NULL);
	g_test_assert_expected_messages();
	g_assert_cmpint(state_of(f.st, a.id, NULL), ==, JOB_SUPERSEDED);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 2);
	fix_clear(&f);
}

/* Pruning runs at most once an hour: a job delivered two hours ago,
 * stored after the first look pruned, outlives the next look (the one
 * that pushes a second due job). */
static void
test_prune_hourly(void)
{
	static const int statuses[] = { 200, 200 };
	struct fix f;
	struct queue_params qp = { "daemon:prune", 2, 8, 3600 };
	struct queue *d;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);
	gint64 first, old, second;

	fix_init(&f, statuses, G_N_ELEMENTS(statuses));
	d = queue_new(f.st, f.pc, &qp, f.ctx);
	first = commit_leased(&f, "818181", NULL, 0);
	queue_start(d);
	run_until(&f, job_delivered, &first);
	old = commit_leased(&f, "828282", NULL, 0);
	g_assert_cmpint(store_job_delivered(f.st, old, now - 7200, 200, "ok", NULL, &err), ==, 0);
	second = commit_leased(&f, "838383", NULL, 0);
	queue_kick(d);
	run_until(&f, job_delivered, &second);
	queue_stop(d);
	g_assert_cmpint(state_of(f.st, old, NULL), ==, JOB_DELIVERED);
	g_assert_cmpint(store_list(f.st, 10, jobs, &err), ==, 0);
	g_assert_cmpuint(jobs->len, ==, 3);
	g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 2);
	run_until(&f, queue_idle, NULL);
	queue_free(&d);
	fix_clear(&f);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	faultvfs_install();
	g_test_add_func("/queue/supersede-inflight", test_supersede_inflight);
	g_test_add_func("/queue/supersede-pending", test_supersede_pending);
	g_test_add_func("/queue/outcome-busy", test_outcome_busy);
	TESTUTIL_ADD_ROWS("/queue/outcome-unrecorded", unrecorded_cases, test_unrecorded);
	TESTUTIL_ADD_ROWS("/queue/backoff", backoff_cases, test_backoff);
	g_test_add_func("/queue/backoff-bounds", test_backoff_bounds);
	g_test_add_func("/queue/lease-own", test_lease_own);
	g_test_add_func("/queue/lease-claims", test_lease_claims);
	TESTUTIL_ADD_ROWS("/queue/reply", reply_cases, test_reply);
	g_test_add_func("/queue/auth-failing", test_auth_failing);
	g_test_add_func("/queue/dry-run", test_dry_run);
	g_test_add_func("/queue/backlog", test_backlog);
	g_test_add_func("/queue/timer-expire-prune", test_timer_expire_prune);
	g_test_add_func("/queue/timer-store-refuses", test_timer_store_refuses);
	g_test_add_func("/queue/defaults", test_defaults);
	g_test_add_func("/queue/born-superseded", test_born_superseded);
	g_test_add_func("/queue/dry-run-unrecorded", test_dry_run_unrecorded);
	g_test_add_func("/queue/timer-retry", test_timer_retry);
	g_test_add_func("/queue/network-error", test_network_error);
	TESTUTIL_ADD_ROWS("/queue/outcome-statement", statement_cases, test_outcome_statement);
	g_test_add_func("/queue/outcome-busy-long", test_outcome_busy_long);
	g_test_add_func("/queue/free-unwritten", test_free_unwritten);
	g_test_add_func("/queue/retry-past-max-age", test_retry_past_max_age);
	g_test_add_func("/queue/supersede-503", test_supersede_503);
	g_test_add_func("/queue/prune-hourly", test_prune_hourly);
	/* A suite of their own, last: the numbers above stay. */
	TESTUTIL_ADD_ROWS("/queue/store-corrupt", corrupt_cases, test_unrecorded_corrupt);
	g_test_add_func("/queue/store-corrupt/outcome-statement", test_outcome_statement_corrupt);
	g_test_add_func("/queue/store-corrupt/timer-prune", test_timer_prune_fails);
	return g_test_run();
}
