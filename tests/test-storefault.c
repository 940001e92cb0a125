/*
 * test-storefault.c - store.c when the disk fails after the store is
 * open: a fault-injecting SQLite VFS (faultvfs.c) makes a write, a sync
 * or the write lock fail with SQLITE_FULL, an I/O error or SQLITE_BUSY
 * during a commit, a claim, an outcome (one, or a batch), an expiry and
 * a prune, and in the middle of a schema migration.  Each row checks that
 * the error surfaces as OTPB_ERROR_TEMP naming the store and the cause,
 * that the failed write left nothing half done (the state is the one
 * before it), that the same handle does the same write once the fault is
 * gone, and that nothing committed before the fault is lost (a new handle
 * reads it back).  Reads that fail (an I/O error reading the file) are
 * temporary errors too, and leave the handle usable.
 */
#include "autoconfig.h"

#include <string.h>

#include "store.h"
#include "util.h"
#include "faultvfs.h"
#include "testutil.h"

#define T0    1700000000   /* a fixed "now" */
#define OWNER "daemon:fault"

/* ---- fixtures ------------------------------------------------------------ */

/* A store holding acknowledged jobs: a (leased to OWNER when the row
 * says so), b, an old delivered one for prune, and for the expire row
 * one past its expiry. */
struct fx {
	char *dir;
	char *path;
	struct store *st;
	gint64 a, b, old, stale;
	struct job_in c;             /* the commit row's new job */
};

static struct job_in
job(const char *key, gint64 created, gint64 expires)
{
	struct job_in j = {
		.dedup_key = key,
		.identifier = key,             /* one scope per job: none supersedes */
		.source = "lmtp",
		.filter = "test",
		.body = "{\"totp_identifier\":\"x\",\"content\":\"SECRET\"}",
		.code = "SECRET",
		.created = created,
		.expires = expires,
	};
	return j;
}

static gint64
commit_ok(struct store *st, struct job_in j)
{
	g_autoptr(GError) err = NULL;

	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(j.id, >, 0);
	return j.id;
}

static enum job_state
state(struct store *st, gint64 id, guint *attempts)
{
	g_autoptr(GPtrArray) keep = NULL;
	struct job *j = testutil_store_job(st, id, &keep);

	g_assert_nonnull(j);
	if (attempts != NULL)
		*attempts = j->attempts;
	return j->state;
}

static guint
n_jobs(struct store *st)
{
	g_autoptr(GPtrArray) keep = NULL;

	(void)testutil_store_job(st, 0, &keep);
	return keep->len;
}

static void
fx_init(struct fx *f, gboolean lease_a, gboolean stale)
{
	g_autoptr(GError) err = NULL;
	struct job_in old = job("old", T0 - 100000, T0 - 99000);

	memset(f, 0, sizeof(*f));
	f->dir = testutil_tmpdir_new("test-storefault");
	f->path = g_build_filename(f->dir, "otpbridge.db", NULL);
	g_assert_cmpint(store_open(f->path, &f->st, &err), ==, 0);
	/* As the daemon's loop: a lock held elsewhere costs 20 ms, not 5 s. */
	store_set_busy_timeout(f->st, STORE_LOOP_BUSY_MS);
	f->a = commit_ok(f->st, job("a", T0 - 2, T0 + 600));
	f->b = commit_ok(f->st, job("b", T0 - 1, T0 + 600));
	f->old = commit_ok(f->st, old);
	g_assert_cmpint(store_job_failed(f->st, f->old, T0 - 99000, 400, "bad", &err), ==, 0);
	if (stale)
		f->stale = commit_ok(f->st, job("stale", T0 - 700, T0 - 100));
	if (lease_a)
		g_assert_cmpint(store_claim_job(f->st, f->a, OWNER, T0, T0 + 12, &err), ==, 1);
	g_assert_no_error(err);
	f->c = job("c", T0, T0 + 600);
}

/* Closes, and checks through a new handle that every job acknowledged
 * before the fault is still there. */
static void
fx_clear(struct fx *f)
{
	struct store *st = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) keep = NULL;

	store_close(&f->st);
	g_assert_cmpint(store_open(f->path, &st, &err), ==, 0);
	g_assert_nonnull(testutil_store_job(st, f->a, &keep));
	g_clear_pointer(&keep, g_ptr_array_unref);
	g_assert_nonnull(testutil_store_job(st, f->b, &keep));
	g_clear_pointer(&keep, g_ptr_array_unref);
	if (f->stale != 0)
		g_assert_nonnull(testutil_store_job(st, f->stale, &keep));
	store_close(&st);
	testutil_tmpdir_free(&f->dir);
	g_free(f->path);
}

/* ---- the writes, and the state before and after each ----------------------- */

struct op {
	const char *name;
	gboolean lease_a;                          /* a is claimed first */
	gboolean stale;                            /* with the expired job */
	int (*run)(struct fx *f, GError **error);
	void (*unchanged)(struct fx *f);           /* after the failed run */
	void (*done)(struct fx *f);                /* after the run succeeded */
};

static int
run_commit(struct fx *f, GError **error)
{
	return store_commit_jobs(f->st, &f->c, 1, error);
}

static void
unchanged_commit(struct fx *f)
{
	g_assert_cmpint(f->c.id, ==, 0);
	g_assert_cmpuint(n_jobs(f->st), ==, 3);
}

static void
done_commit(struct fx *f)
{
	/* Not a duplicate: the failed commit's dedup row went with it. */
	g_assert_cmpint(f->c.id, >, 0);
	g_assert_false(f->c.duplicate);
	g_assert_cmpint(state(f->st, f->c.id, NULL), ==, JOB_PENDING);
	g_assert_cmpuint(n_jobs(f->st), ==, 4);
}

static int
run_claim(struct fx *f, GError **error)
{
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);
	int rc = store_claim_due(f->st, OWNER, T0, T0 + 12, 10, jobs, error);

	if (rc == 0)
		g_assert_cmpuint(jobs->len, ==, 2);     /* a and b */
	else
		g_assert_cmpuint(jobs->len, ==, 0);
	return rc;
}

/* When the next job is due (store_next_due). */
static gint64
next_due(struct fx *f)
{
	g_autoptr(GError) err = NULL;
	gint64 when = 0;

	g_assert_cmpint(store_next_due(f->st, &when, &err), ==, 0);
	g_assert_no_error(err);
	return when;
}

static void
unchanged_claim(struct fx *f)
{
	/* Neither is leased: a is due since it was made. */
	g_assert_cmpint(next_due(f), ==, T0 - 2);
}

static void
done_claim(struct fx *f)
{
	/* Both leased now: nothing due until the lease ends. */
	g_assert_cmpint(next_due(f), ==, T0 + 13);
}

static int
run_delivered(struct fx *f, GError **error)
{
	return store_job_delivered(f->st, f->a, T0, 200, "{\"id\":\"tc_1\"}", "tc_1", error);
}

static void
unchanged_attempt(struct fx *f)
{
	guint attempts = 9;

	g_assert_cmpint(state(f->st, f->a, &attempts), ==, JOB_PENDING);
	g_assert_cmpuint(attempts, ==, 0);
}

static void
done_delivered(struct fx *f)
{
	g_autoptr(GPtrArray) keep = NULL;
	struct job *j = testutil_store_job(f->st, f->a, &keep);

	g_assert_cmpint(j->state, ==, JOB_DELIVERED);
	g_assert_cmpuint(j->attempts, ==, 1);
	g_assert_cmpstr(j->remote_id, ==, "tc_1");
}

static int
run_retry(struct fx *f, GError **error)
{
	return store_job_retry(f->st, f->a, T0, T0 + 4, 503, "busy", error);
}

static void
done_retry(struct fx *f)
{
	g_autoptr(GPtrArray) keep = NULL;
	struct job *j = testutil_store_job(f->st, f->a, &keep);

	g_assert_cmpint(j->state, ==, JOB_PENDING);
	g_assert_cmpuint(j->attempts, ==, 1);
	g_assert_cmpint(j->next_attempt, ==, T0 + 4);
	g_assert_cmpint(j->last_status, ==, 503);
}

static int
run_failed(struct fx *f, GError **error)
{
	return store_job_failed(f->st, f->a, T0, 400, "bad", error);
}

static void
done_failed(struct fx *f)
{
	guint attempts = 0;

	g_assert_cmpint(state(f->st, f->a, &attempts), ==, JOB_FAILED);
	g_assert_cmpuint(attempts, ==, 1);
}

/* The queue's way: the outcomes of one loop turn in one transaction. */
static int
run_batch(struct fx *f, GError **error)
{
	if (store_batch_begin(f->st, error) < 0)
		return -1;
	g_assert_cmpint(store_job_delivered(f->st, f->a, T0, 200, "ok", NULL, error), ==, 0);
	g_assert_cmpint(store_job_failed(f->st, f->b, T0, 400, "bad", error), ==, 0);
	return store_batch_end(f->st, error);
}

static void
unchanged_batch(struct fx *f)
{
	guint attempts = 9;

	unchanged_attempt(f);
	g_assert_cmpint(state(f->st, f->b, &attempts), ==, JOB_PENDING);
	g_assert_cmpuint(attempts, ==, 0);
}

static void
done_batch(struct fx *f)
{
	g_assert_cmpint(state(f->st, f->a, NULL), ==, JOB_DELIVERED);
	g_assert_cmpint(state(f->st, f->b, NULL), ==, JOB_FAILED);
}

static int
run_expire(struct fx *f, GError **error)
{
	guint n = 0;
	int rc = store_expire(f->st, T0, &n, error);

	g_assert_cmpuint(n, ==, rc == 0 ? 1 : 0);
	return rc;
}

static void
unchanged_expire(struct fx *f)
{
	g_assert_cmpint(state(f->st, f->stale, NULL), ==, JOB_PENDING);
}

static void
done_expire(struct fx *f)
{
	g_assert_cmpint(state(f->st, f->stale, NULL), ==, JOB_EXPIRED);
}

static int
run_prune(struct fx *f, GError **error)
{
	return store_prune(f->st, T0, 3600, error);
}

static void
unchanged_prune(struct fx *f)
{
	g_assert_cmpint(state(f->st, f->old, NULL), ==, JOB_FAILED);
}

static void
done_prune(struct fx *f)
{
	g_autoptr(GPtrArray) keep = NULL;

	g_assert_null(testutil_store_job(f->st, f->old, &keep));
	g_assert_cmpuint(keep->len, ==, 2);     /* a and b */
}

/* An operator's retry of a failed job (otpbridge queue retry). */
static int
run_requeue(struct fx *f, GError **error)
{
	int rc = store_requeue(f->st, f->old, T0, 600, error);

	return rc < 0 ? -1 : 0;
}

static void
unchanged_requeue(struct fx *f)
{
	g_assert_cmpint(state(f->st, f->old, NULL), ==, JOB_FAILED);
}

static void
done_requeue(struct fx *f)
{
	g_assert_cmpint(state(f->st, f->old, NULL), ==, JOB_PENDING);
}

static int
run_drop(struct fx *f, GError **error)
{
	int rc = store_drop(f->st, f->old, error);

	return rc < 0 ? -1 : 0;
}

static void
unchanged_drop(struct fx *f)
{
	g_assert_cmpuint(n_jobs(f->st), ==, 3);
}

static void
done_drop(struct fx *f)
{
	g_autoptr(GPtrArray) keep = NULL;

	g_assert_null(testutil_store_job(f->st, f->old, &keep));
}

/* The claim of one job (deliver's own push, a listener's). */
static int
run_claim_job(struct fx *f, GError **error)
{
	int rc = store_claim_job(f->st, f->b, OWNER, T0, T0 + 12, error);

	if (rc >= 0)
		g_assert_cmpint(rc, ==, 1);
	return rc < 0 ? -1 : 0;
}

static void
unchanged_claim_job(struct fx *f)
{
	g_assert_cmpint(next_due(f), ==, T0 - 2);
}

static void
done_claim_job(struct fx *f)
{
	g_autoptr(GError) err = NULL;

	/* leased to OWNER: another owner cannot take it */
	g_assert_cmpint(store_claim_job(f->st, f->b, "other:1", T0, T0 + 12, &err), ==, 0);
}

static const struct op ops[] = {
	{ "commit", FALSE, FALSE, run_commit, unchanged_commit, done_commit },
	{ "claim", FALSE, FALSE, run_claim, unchanged_claim, done_claim },
	{ "delivered", TRUE, FALSE, run_delivered, unchanged_attempt, done_delivered },
	{ "retry", TRUE, FALSE, run_retry, unchanged_attempt, done_retry },
	{ "failed", TRUE, FALSE, run_failed, unchanged_attempt, done_failed },
	{ "batch", TRUE, FALSE, run_batch, unchanged_batch, done_batch },
	{ "expire", FALSE, TRUE, run_expire, unchanged_expire, done_expire },
	{ "prune", FALSE, FALSE, run_prune, unchanged_prune, done_prune },
	{ "requeue", FALSE, FALSE, run_requeue, unchanged_requeue, done_requeue },
	{ "drop", FALSE, FALSE, run_drop, unchanged_drop, done_drop },
	{ "claim-job", FALSE, FALSE, run_claim_job, unchanged_claim_job, done_claim_job },
};

struct fault {
	const char *name;
	enum faultvfs_op op;
	enum faultvfs_error error;
	int times;                   /* BUSY: the busy handler retries, so all */
	const char *says;            /* SQLite's message for it */
};

static const struct fault faults[] = {
	{ "write-full", FAULTVFS_WRITE, FAULTVFS_FULL, 1, "database or disk is full" },
	{ "write-ioerr", FAULTVFS_WRITE, FAULTVFS_IOERR, 1, "disk I/O error" },
	{ "sync-ioerr", FAULTVFS_SYNC, FAULTVFS_IOERR, 1, "disk I/O error" },
	{ "lock-busy", FAULTVFS_LOCK, FAULTVFS_BUSY, -1, "database is locked" },
};

struct row {
	const struct op *op;
	const struct fault *fault;
};

static struct row rows[G_N_ELEMENTS(ops) * G_N_ELEMENTS(faults)];
G_STATIC_ASSERT(G_N_ELEMENTS(ops) == 11);   /* sweep_cases refer to them by index */

/* A write fails under the row's fault, then succeeds without it. */
static void
test_write_fault(gconstpointer data)
{
	const struct row *r = data;
	struct fx f;
	g_autoptr(GError) err = NULL;

	fx_init(&f, r->op->lease_a, r->op->stale);
	faultvfs_arm(r->fault->op, 1, r->fault->times, r->fault->error);
	g_assert_cmpint(r->op->run(&f, &err), ==, -1);
	faultvfs_disarm();
	g_assert_cmpuint(faultvfs_fired(), >=, 1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, f.path));
	g_assert_nonnull(strstr(err->message, r->fault->says));
	g_assert_null(strstr(err->message, "SECRET"));
	g_clear_error(&err);

	r->op->unchanged(&f);
	g_assert_cmpint(r->op->run(&f, &err), ==, 0);
	g_assert_no_error(err);
	r->op->done(&f);
	fx_clear(&f);
}

/* ---- reads ----------------------------------------------------------------- */

struct read_case {
	const char *name;
	/* returns the call's result; checks the answer when it is 0 */
	int (*run)(struct fx *f, GError **error);
};

static int
read_next_due(struct fx *f, GError **error)
{
	gint64 when = 0;
	int rc = store_next_due(f->st, &when, error);

	if (rc == 0)
		g_assert_cmpint(when, ==, T0 - 2);
	return rc;
}

static int
read_count(struct fx *f, GError **error)
{
	guint64 c[JOB_STATES];
	int rc = store_count(f->st, c, error);

	if (rc == 0) {
		g_assert_cmpuint(c[JOB_PENDING], ==, 2);
		g_assert_cmpuint(c[JOB_FAILED], ==, 1);
	}
	return rc;
}

static int
read_list(struct fx *f, GError **error)
{
	g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);
	int rc = store_list(f->st, 10, jobs, error);

	g_assert_cmpuint(jobs->len, ==, rc == 0 ? 3 : 0);
	return rc;
}

static int
read_latest_code(struct fx *f, GError **error)
{
	g_autofree char *code = NULL;
	gint64 id = 0;
	int rc = store_latest_code(f->st, "b", T0 - 600, &code, &id, error);

	if (rc == 0) {
		g_assert_cmpstr(code, ==, "SECRET");
		g_assert_cmpint(id, ==, f->b);
	}
	return rc;
}

static int
read_code_consumer(struct fx *f, GError **error)
{
	g_autofree char *consumer = NULL;
	int rc = store_code_consumer(f->st, f->a, &consumer, error);

	if (rc == 0)
		g_assert_cmpstr(consumer, ==, "tsk_1");
	return rc;
}

static int
read_imap(struct fx *f, GError **error)
{
	guint32 uv = 0, uid = 0;
	gboolean found = FALSE;
	int rc = store_imap_get(f->st, "acct", "INBOX", &uv, &uid, &found, error);

	if (rc == 0) {
		g_assert_true(found);
		g_assert_cmpuint(uid, ==, 42);
	}
	return rc;
}

static int
read_pull_code(struct fx *f, GError **error)
{
	const char *const ids[2] = { NULL, NULL };
	g_autofree char *code = NULL;
	gint64 id = 0;
	gboolean tagged = TRUE;
	int rc = store_pull_code(f->st, "b", ids, T0 - 600, &code, &id, &tagged, error);

	if (rc == 0) {
		g_assert_cmpstr(code, ==, "SECRET");
		g_assert_cmpint(id, ==, f->b);
	}
	return rc;
}

static int
read_pull_body(struct fx *f, GError **error)
{
	g_autofree char *ident = NULL;
	gint64 first = 0;
	int rc = store_pull_body_get(f->st, "digest-1", &ident, &first, error);

	if (rc == 0) {
		g_assert_cmpstr(ident, ==, "b");
		g_assert_cmpint(first, ==, T0);
	}
	return rc;
}

/* The commit reads too: the dedup row, newer jobs of the scope. */
static int
read_commit(struct fx *f, GError **error)
{
	int rc = store_commit_jobs(f->st, &f->c, 1, error);

	if (rc == 0)
		g_assert_cmpint(f->c.id, >, 0);
	else
		g_assert_cmpint(f->c.id, ==, 0);
	return rc;
}

static const struct read_case read_cases[] = {
	{ "next-due", read_next_due },
	{ "count", read_count },
	{ "list", read_list },
	{ "latest-code", read_latest_code },
	{ "code-consumer", read_code_consumer },
	{ "imap-state", read_imap },
	{ "pull-code", read_pull_code },
	{ "pull-body", read_pull_body },
	{ "commit", read_commit },
};

/*
 * A read that cannot read the file: -1 with a temporary error naming
 * the store; the same handle answers once the disk does.  Another handle
 * writes first, so that the pages are read from the file, not this
 * handle's cache.
 */
static void
test_read_fault(gconstpointer data)
{
	const struct read_case *c = data;
	struct fx f;
	struct store *other = NULL;
	g_autoptr(GError) err = NULL;

	fx_init(&f, FALSE, FALSE);
	g_assert_cmpint(store_code_handout(f.st, f.a, "tsk_1", T0, &err), ==, 0);
	g_assert_cmpint(store_imap_set(f.st, "acct", "INBOX", 7, 42, &err), ==, 0);
	g_assert_cmpint(store_pull_body_set(f.st, "digest-1", "b", T0, &err), ==, 0);
	g_assert_cmpint(store_open(f.path, &other, &err), ==, 0);
	g_assert_cmpint(store_probe(other, &err), ==, 0);
	g_assert_no_error(err);
	store_close(&other);

	faultvfs_arm(FAULTVFS_READ, 1, -1, FAULTVFS_IOERR);
	g_assert_cmpint(c->run(&f, &err), ==, -1);
	faultvfs_disarm();
	g_assert_cmpuint(faultvfs_fired(), >=, 1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, f.path));
	g_assert_nonnull(strstr(err->message, "disk I/O error"));
	g_clear_error(&err);
	g_assert_cmpint(c->run(&f, &err), ==, 0);
	g_assert_no_error(err);
	fx_clear(&f);
}

/* ---- every read and write of a commit, in turn ------------------------------ */

struct sweep_case {
	const char *name;
	const struct op *op;
	enum faultvfs_op fault;
	enum faultvfs_error error;
};

/* Every write but the batch (its outcomes are independent: one whose
 * read fails is left out, the others are committed, as queue.c wants). */
static const struct sweep_case sweep_cases[] = {
	{ "commit-reads", &ops[0], FAULTVFS_READ, FAULTVFS_IOERR },
	{ "commit-writes", &ops[0], FAULTVFS_WRITE, FAULTVFS_IOERR },
	{ "claim-reads", &ops[1], FAULTVFS_READ, FAULTVFS_IOERR },
	{ "delivered-reads", &ops[2], FAULTVFS_READ, FAULTVFS_IOERR },
	{ "retry-reads", &ops[3], FAULTVFS_READ, FAULTVFS_IOERR },
	{ "failed-reads", &ops[4], FAULTVFS_READ, FAULTVFS_IOERR },
	{ "batch-writes", &ops[5], FAULTVFS_WRITE, FAULTVFS_FULL },
	{ "expire-reads", &ops[6], FAULTVFS_READ, FAULTVFS_IOERR },
	{ "prune-reads", &ops[7], FAULTVFS_READ, FAULTVFS_IOERR },
	{ "requeue-reads", &ops[8], FAULTVFS_READ, FAULTVFS_IOERR },
	{ "drop-reads", &ops[9], FAULTVFS_READ, FAULTVFS_IOERR },
	{ "claim-job-reads", &ops[10], FAULTVFS_READ, FAULTVFS_IOERR },
};

/* The fixture of a sweep, with a cold cache (another handle wrote). */
static void
sweep_init(struct fx *f, const struct op *op)
{
	struct store *other = NULL;
	g_autoptr(GError) err = NULL;

	fx_init(f, op->lease_a, op->stale);
	g_assert_cmpint(store_open(f->path, &other, &err), ==, 0);
	g_assert_cmpint(store_probe(other, &err), ==, 0);
	g_assert_no_error(err);
	store_close(&other);
}

/*
 * The Nth read (or write) of the write fails, for every N the write
 * makes: each time the write fails as a whole (a temporary error, the
 * state as before), and the same handle then does it.
 */
static void
test_sweep(gconstpointer data)
{
	const struct sweep_case *c = data;
	struct fx f;
	g_autoptr(GError) err = NULL;
	guint calls;

	sweep_init(&f, c->op);
	faultvfs_arm(c->fault, G_MAXUINT, 1, c->error);
	g_assert_cmpint(c->op->run(&f, &err), ==, 0);
	calls = faultvfs_calls(c->fault);
	faultvfs_disarm();
	g_assert_no_error(err);
	fx_clear(&f);
	g_test_message("%u calls", calls);
	g_assert_cmpuint(calls, >=, 1);

	for (guint nth = 1; nth <= calls; nth++) {
		sweep_init(&f, c->op);
		faultvfs_arm(c->fault, nth, 1, c->error);
		g_assert_cmpint(c->op->run(&f, &err), ==, -1);
		faultvfs_disarm();
		g_assert_cmpuint(faultvfs_fired(), ==, 1);
		g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
		g_assert_nonnull(strstr(err->message, f.path));
		g_clear_error(&err);
		c->op->unchanged(&f);
		g_assert_cmpint(c->op->run(&f, &err), ==, 0);
		g_assert_no_error(err);
		c->op->done(&f);
		fx_clear(&f);
	}
}

/* ---- migration ------------------------------------------------------------- */

/* A v1 store as otpbridge before v2 wrote it, with one job. */
static const char v1_schema[] =
    TESTUTIL_STORE_V1_SCHEMA
    "INSERT INTO jobs (id, state, dedup_key, identifier, body, code, created,"
    " expires, next_attempt, updated) VALUES (7, 0, 'k7', 'bot@x',"
    " '{\"totp_identifier\":\"bot@x\",\"content\":\"777777\"}', '777777',"
    " 1700000000, 1700000600, 1700000000, 1700000000);"
    "PRAGMA user_version = 1;";

struct mig_row {
	const char *name;
	enum faultvfs_op op;
	guint nth;                   /* which write or sync (0: the last one) */
	enum faultvfs_error error;
};

static const struct mig_row mig_rows[] = {
	{ "first-write-full", FAULTVFS_WRITE, 1, FAULTVFS_FULL },
	{ "third-write-full", FAULTVFS_WRITE, 3, FAULTVFS_FULL },
	{ "third-write-ioerr", FAULTVFS_WRITE, 3, FAULTVFS_IOERR },
	{ "last-write-full", FAULTVFS_WRITE, 0, FAULTVFS_FULL },
	{ "sync-ioerr", FAULTVFS_SYNC, 1, FAULTVFS_IOERR },
};

/* How many calls of op migrating a v1 file makes (on a copy in dir). */
static guint
migrate_calls(const char *dir, enum faultvfs_op op)
{
	g_autofree char *path = g_build_filename(dir, "dry-run.db", NULL);
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;
	guint n;

	faultvfs_exec(path, v1_schema);
	faultvfs_arm(op, G_MAXUINT, 1, FAULTVFS_IOERR);
	g_assert_cmpint(store_open(path, &st, &err), ==, 0);
	n = faultvfs_calls(op);
	faultvfs_disarm();
	g_assert_cmpuint(faultvfs_fired(), ==, 0);
	store_close(&st);
	g_assert_cmpuint(n, >, 3);
	return n;
}

/* The columns of table jobs that v2 and v3 add (0 at v1). */
#define NEW_COLS "SELECT count(*) FROM pragma_table_info('jobs') " \
	"WHERE name IN ('scope', 'run_tag', 'plus_tag', 'base')"

/*
 * A migration step fails part-way (v1 -> newest, one transaction): open
 * fails with a temporary error, the file is still v1 with its job and
 * its v1 columns, and the next open migrates it cleanly.
 */
static void
test_migrate_fault(gconstpointer data)
{
	const struct mig_row *r = data;
	const char *dir = testutil_test_tmpdir("test-storefault");
	g_autofree char *path = g_build_filename(dir, "otpbridge.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) keep = NULL;
	struct store *st = NULL;
	struct job *j;

	faultvfs_exec(path, v1_schema);
	g_assert_cmpint(faultvfs_query_int(path, NEW_COLS), ==, 0);

	faultvfs_arm(r->op, r->nth > 0 ? r->nth : migrate_calls(dir, r->op), 1, r->error);
	g_assert_cmpint(store_open(path, &st, &err), ==, -1);
	faultvfs_disarm();
	g_assert_cmpuint(faultvfs_fired(), ==, 1);
	g_assert_null(st);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, path));
	g_clear_error(&err);
	g_assert_cmpint(faultvfs_query_int(path, "PRAGMA user_version"), ==, 1);
	g_assert_cmpint(faultvfs_query_int(path, NEW_COLS), ==, 0);
	g_assert_cmpint(faultvfs_query_int(path, "SELECT count(*) FROM jobs"), ==, 1);

	g_assert_cmpint(store_open(path, &st, &err), ==, 0);
	g_assert_no_error(err);
	j = testutil_store_job(st, 7, &keep);
	g_assert_nonnull(j);
	g_assert_cmpstr(j->identifier, ==, "bot@x");
	g_assert_cmpint(j->state, ==, JOB_PENDING);
	g_assert_cmpint(commit_ok(st, job("k8", T0, T0 + 600)), ==, 8);
	store_close(&st);
	g_assert_cmpint(faultvfs_query_int(path, "PRAGMA user_version"), ==, 3);
	g_assert_cmpint(faultvfs_query_int(path, NEW_COLS), ==, 4);
}

/* A new file whose first migration cannot be written: the next open
 * creates the schema as if nothing had happened. */
static void
test_migrate_fresh_full(void)
{
	const char *dir = testutil_test_tmpdir("test-storefault");
	g_autofree char *path = g_build_filename(dir, "otpbridge.db", NULL);
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;

	faultvfs_arm(FAULTVFS_WRITE, 1, -1, FAULTVFS_FULL);
	g_assert_cmpint(store_open(path, &st, &err), ==, -1);
	faultvfs_disarm();
	g_assert_cmpuint(faultvfs_fired(), >=, 1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_assert_nonnull(strstr(err->message, "database or disk is full"));
	g_clear_error(&err);
	g_assert_cmpint(faultvfs_query_int(path, "PRAGMA user_version"), ==, 0);

	g_assert_cmpint(store_open(path, &st, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(commit_ok(st, job("k1", T0, T0 + 600)), ==, 1);
	store_close(&st);
	g_assert_cmpint(faultvfs_query_int(path, "PRAGMA user_version"), ==, 3);
}

/* ---- every read of an open, in turn ---------------------------------------- */

struct open_case {
	const char *name;
	gboolean v1;                 /* a v1 file: the open migrates it */
	enum faultvfs_op fault;
};

static const struct open_case open_cases[] = {
	{ "current-reads", FALSE, FAULTVFS_READ },
	{ "v1-reads", TRUE, FAULTVFS_READ },
	{ "v1-writes", TRUE, FAULTVFS_WRITE },
};

/* Makes the file of an open row in dir; returns its path. */
static char *
open_file(const char *dir, const char *name, gboolean v1)
{
	char *path = g_build_filename(dir, name, NULL);
	struct store *st = NULL;
	g_autoptr(GError) err = NULL;

	if (v1) {
		faultvfs_exec(path, v1_schema);
		return path;
	}
	g_assert_cmpint(store_open(path, &st, &err), ==, 0);
	g_assert_cmpint(commit_ok(st, job("k7", T0, T0 + 600)), ==, 1);
	store_close(&st);
	return path;
}

/*
 * The Nth read (write) of store_open fails, for every N a clean open
 * makes: the open fails with an error naming the store (never a
 * half-open handle), and the next open works and finds the job.
 */
static void
test_open_sweep(gconstpointer data)
{
	const struct open_case *c = data;
	const char *dir = testutil_test_tmpdir("test-storefault");
	g_autofree char *dry = open_file(dir, "dry.db", c->v1);
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;
	guint calls;

	faultvfs_arm(c->fault, G_MAXUINT, 1, FAULTVFS_IOERR);
	g_assert_cmpint(store_open(dry, &st, &err), ==, 0);
	calls = faultvfs_calls(c->fault);
	faultvfs_disarm();
	store_close(&st);
	g_test_message("%u calls", calls);
	g_assert_cmpuint(calls, >=, 1);

	for (guint nth = 1; nth <= calls; nth++) {
		g_autofree char *name = g_strdup_printf("n%u.db", nth);
		g_autofree char *path = open_file(dir, name, c->v1);
		g_autoptr(GPtrArray) keep = NULL;

		faultvfs_arm(c->fault, nth, 1, FAULTVFS_IOERR);
		g_assert_cmpint(store_open(path, &st, &err), ==, -1);
		faultvfs_disarm();
		g_assert_null(st);
		g_assert_nonnull(err);
		g_assert_true(err->domain == OTPB_ERROR);
		g_assert_nonnull(strstr(err->message, path));
		g_clear_error(&err);
		g_assert_cmpint(store_open(path, &st, &err), ==, 0);
		g_assert_no_error(err);
		g_assert_nonnull(testutil_store_job(st, c->v1 ? 7 : 1, &keep));
		store_close(&st);
	}
}

/* ---- the read-only handle (otpbridge status) --------------------------------- */

struct ro_case {
	const char *name;
	int (*run)(struct store *st, GError **error);
};

static int
ro_counts(struct store *st, GError **error)
{
	g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(struct store_state_count));
	int rc = store_ro_counts(st, out, error);

	if (rc == 0)
		g_assert_cmpuint(out->len, ==, 2);       /* pending, failed */
	return rc;
}

static int
ro_last_attempt(struct store *st, GError **error)
{
	struct store_outcome *o = NULL;
	int rc = store_ro_last_attempt(st, &o, error);

	if (rc == 0) {
		g_assert_nonnull(o);
		g_assert_cmpstr(o->identifier, ==, "old");
	}
	store_outcome_free(o);
	return rc;
}

static int
ro_last_per_identifier(struct store *st, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(store_outcome_free);
	guint64 n = 0;
	int rc = store_ro_last_per_identifier(st, 10, out, &n, error);

	if (rc == 0) {
		g_assert_cmpuint(n, ==, 3);
		g_assert_cmpuint(out->len, ==, 3);
	}
	return rc;
}

static int
ro_imap(struct store *st, GError **error)
{
	guint32 uv = 0, uid = 0;
	gboolean found = FALSE;
	int rc = store_ro_imap(st, "acct", "INBOX", &uv, &uid, &found, error);

	if (rc == 0)
		g_assert_true(found && uid == 42);
	return rc;
}

static const struct ro_case ro_cases[] = {
	{ "counts", ro_counts },
	{ "last-attempt", ro_last_attempt },
	{ "last-per-identifier", ro_last_per_identifier },
	{ "imap", ro_imap },
};

/* A read of the status handle that cannot read the file: -1, a
 * temporary error naming the store; the handle answers after. */
static void
test_ro_fault(gconstpointer data)
{
	const struct ro_case *c = data;
	struct fx f;
	struct store *ro = NULL;
	g_autoptr(GError) err = NULL;

	fx_init(&f, FALSE, FALSE);
	g_assert_cmpint(store_imap_set(f.st, "acct", "INBOX", 7, 42, &err), ==, 0);
	g_assert_cmpint(store_open_readonly(f.path, 100, &ro, &err), ==, 0);
	g_assert_cmpint(store_probe(f.st, &err), ==, 0);      /* ro's cache is cold */
	g_assert_no_error(err);

	faultvfs_arm(FAULTVFS_READ, 1, -1, FAULTVFS_IOERR);
	g_assert_cmpint(c->run(ro, &err), ==, -1);
	faultvfs_disarm();
	g_assert_cmpuint(faultvfs_fired(), >=, 1);
	g_assert_nonnull(err);
	g_assert_true(err->domain == OTPB_ERROR);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, f.path));
	g_clear_error(&err);
	g_assert_cmpint(c->run(ro, &err), ==, 0);
	g_assert_no_error(err);
	store_close(&ro);
	fx_clear(&f);
}

/* ---- the leases of a dead daemon, voided at start, under faults ---------------- */

struct void_case {
	const char *name;
	enum faultvfs_op fault;
	enum faultvfs_error error;
	int times;
};

static const struct void_case void_cases[] = {
	{ "read-ioerr", FAULTVFS_READ, FAULTVFS_IOERR, -1 },
	{ "write-full", FAULTVFS_WRITE, FAULTVFS_FULL, 1 },
	{ "lock-busy", FAULTVFS_LOCK, FAULTVFS_BUSY, -1 },
};

/*
 * store_void_dead_leases() cannot read or write: -1 with a temporary
 * error, the dead owner's lease is still there; once the store takes
 * it, the lease is voided and the job is due.
 */
static void
test_void_fault(gconstpointer data)
{
	const struct void_case *c = data;
	struct fx f;
	struct store *other = NULL;
	g_autoptr(GError) err = NULL;
	g_autofree char *self = NULL;
	guint n = 9;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC, dead;
	struct job_in j = job("dead", T0, now + 600);

	fx_init(&f, FALSE, FALSE);
	/* PID 1's byte of PATH.lock: held by no otpbridge, so the owner is gone */
	j.lease_owner = "daemon:1:0000dead";
	j.lease_until = now + 600;
	dead = commit_ok(f.st, j);
	self = store_live_owner(f.st, "daemon", &err);
	g_assert_nonnull(self);
	g_assert_cmpint(store_open(f.path, &other, &err), ==, 0);   /* a cold cache */
	g_assert_cmpint(store_probe(other, &err), ==, 0);
	g_assert_no_error(err);
	store_close(&other);

	faultvfs_arm(c->fault, 1, c->times, c->error);
	g_assert_cmpint(store_void_dead_leases(f.st, self, &n, &err), ==, -1);
	faultvfs_disarm();
	g_assert_cmpuint(faultvfs_fired(), >=, 1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_assert_nonnull(strstr(err->message, f.path));
	g_clear_error(&err);
	g_assert_cmpuint(n, ==, 0);
	/* still leased: no other owner may take it */
	g_assert_cmpint(store_claim_job(f.st, dead, "other:1", now, now + 12, &err), ==, 0);

	g_assert_cmpint(store_void_dead_leases(f.st, self, &n, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 1);
	g_assert_cmpint(store_claim_job(f.st, dead, "other:1", now, now + 12, &err), ==, 1);
	fx_clear(&f);
}

/* ---- what the store refuses before it writes ------------------------------- */

/* Jobs the commit refuses whole (OTPB_ERROR_DATA): nothing is stored. */
static void
test_refused_jobs(void)
{
	struct fx f;
	g_autoptr(GError) err = NULL;
	g_autofree char *big = g_strnfill(4 * 1024 * 1024 + 1, 'x');
	struct job_in two[2];
	struct job_in *many = g_new0(struct job_in, 65537);
	const char *what[] = { "dedup", "identifier", "body" };

	fx_init(&f, FALSE, FALSE);
	/* longer than SQLite's length limit (STORE_LENGTH_MAX) */
	memcpy(big, "SECRET", 6);
	two[0] = job("ok", T0, T0 + 600);
	two[1] = job("big", T0, T0 + 600);
	two[1].body = big;
	g_assert_cmpint(store_commit_jobs(f.st, two, 2, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
	g_assert_nonnull(strstr(err->message, f.path));
	g_assert_null(strstr(err->message, "SECRET"));
	g_clear_error(&err);
	g_assert_cmpint(two[0].id, ==, 0);
	/* a job without a dedup key, identifier or body */
	for (guint i = 0; i < G_N_ELEMENTS(what); i++) {
		two[1] = job("half", T0, T0 + 600);
		if (i == 0)
			two[1].dedup_key = NULL;
		else if (i == 1)
			two[1].identifier = NULL;
		else
			two[1].body = NULL;
		g_assert_cmpint(store_commit_jobs(f.st, two, 2, &err), ==, -1);
		g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
		g_assert_nonnull(strstr(err->message, "lacks a dedup key, identifier or body"));
		g_clear_error(&err);
	}
	/* more than STORE_BATCH_MAX in one commit */
	for (guint i = 0; i < 65537; i++)
		many[i] = job("many", T0, T0 + 600);
	g_assert_cmpint(store_commit_jobs(f.st, many, 65537, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
	g_assert_nonnull(strstr(err->message, "65537 jobs in one commit"));
	g_clear_error(&err);
	g_free(many);
	g_assert_cmpuint(n_jobs(f.st), ==, 3);
	/* and the handle is fine */
	g_assert_cmpint(store_commit_jobs(f.st, two, 1, &err), ==, 0);
	g_assert_no_error(err);
	fx_clear(&f);
}

struct reply_case {
	const char *name;
	gsize ascii;                 /* this many 'r', then tail */
	const char *tail;
	gsize kept;                  /* bytes stored */
};

/* Endpoint replies are kept to STORE_REPLY_MAX bytes, cut on a character. */
static const struct reply_case reply_cases[] = {
	{ "short", 10, "", 10 },
	{ "exactly-max", STORE_REPLY_MAX, "", STORE_REPLY_MAX },
	{ "over-max", 2 * STORE_REPLY_MAX, "", STORE_REPLY_MAX },
	{ "char-across-the-end", STORE_REPLY_MAX - 1, "\xc3\xa9", STORE_REPLY_MAX - 1 },
	{ "char-at-the-end", STORE_REPLY_MAX - 2, "\xc3\xa9", STORE_REPLY_MAX },
	{ "invalid-utf8-made-valid", 4, "\xff", 4 + 3 },
};

static void
test_reply_bound(gconstpointer data)
{
	const struct reply_case *c = data;
	struct fx f;
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) keep = NULL;
	g_autofree char *ascii = g_strnfill(c->ascii, 'r');
	g_autofree char *reply = g_strconcat(ascii, c->tail, NULL);
	struct job *j;

	fx_init(&f, TRUE, FALSE);
	g_assert_cmpint(store_job_failed(f.st, f.a, T0, 400, reply, &err), ==, 0);
	j = testutil_store_job(f.st, f.a, &keep);
	g_assert_cmpuint(strlen(j->last_reply), ==, c->kept);
	g_assert_true(g_utf8_validate(j->last_reply, -1, NULL));
	g_assert_true(strncmp(j->last_reply, reply, MIN(c->ascii, c->kept)) == 0);
	fx_clear(&f);
}

/* The store's file cannot be made: a temporary error naming it. */
static void
test_create_fails(void)
{
	const char *dir = testutil_test_tmpdir("test-storefault");
	g_autofree char *file = testutil_write_in(dir, "a-file", "", 0, 0600);
	g_autofree char *under_file = g_build_filename(file, "sub", "otpbridge.db", NULL);
	g_autofree char *name = g_strnfill(300, 'n');
	g_autofree char *too_long = g_build_filename(dir, name, NULL);
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;

	g_assert_cmpint(store_open(under_file, &st, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_assert_nonnull(strstr(err->message, "cannot create the directory"));
	g_clear_error(&err);
	g_assert_cmpint(store_open(too_long, &st, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_assert_nonnull(strstr(err->message, "cannot create the file"));
	g_assert_null(st);
}

/* The status handle opens otpbridge stores only, and regular files. */
static void
test_ro_refuses(void)
{
	const char *dir = testutil_test_tmpdir("test-storefault");
	g_autofree char *other = g_build_filename(dir, "other.db", NULL);
	g_autofree char *v0 = g_build_filename(dir, "v0.db", NULL);
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;

	g_assert_cmpint(store_open_readonly(dir, 100, &st, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
	g_assert_nonnull(strstr(err->message, "not a regular file"));
	g_clear_error(&err);
	/* another application's database; ours before its first migration */
	faultvfs_exec(other, "PRAGMA application_id = 7; CREATE TABLE t (x);"
	    "PRAGMA user_version = 3;");
	faultvfs_exec(v0, "PRAGMA application_id = 1330925634; CREATE TABLE t (x);");
	g_assert_cmpint(store_open_readonly(other, 100, &st, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	g_clear_error(&err);
	g_assert_cmpint(store_open_readonly(v0, 100, &st, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	g_assert_nonnull(strstr(err->message, "not an otpbridge store"));
	g_assert_null(st);
}

/* ---- main -------------------------------------------------------------- */

static char *
row_name(gsize i, gconstpointer row)
{
	const struct row *r = row;

	(void)i;
	return g_strdup_printf("%s/%s", r->op->name, r->fault->name);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	faultvfs_install();
	for (gsize i = 0; i < G_N_ELEMENTS(ops); i++)
		for (gsize k = 0; k < G_N_ELEMENTS(faults); k++)
			rows[i * G_N_ELEMENTS(faults) + k] = (struct row){ &ops[i], &faults[k] };
	TESTUTIL_ADD_ROWS_NAMED("/storefault/write", rows, row_name, test_write_fault);
	TESTUTIL_ADD_ROWS("/storefault/read", read_cases, test_read_fault);
	TESTUTIL_ADD_ROWS("/storefault/sweep", sweep_cases, test_sweep);
	TESTUTIL_ADD_ROWS("/storefault/migrate", mig_rows, test_migrate_fault);
	g_test_add_func("/storefault/migrate/fresh-full", test_migrate_fresh_full);
	TESTUTIL_ADD_ROWS("/storefault/open", open_cases, test_open_sweep);
	TESTUTIL_ADD_ROWS("/storefault/ro", ro_cases, test_ro_fault);
	TESTUTIL_ADD_ROWS("/storefault/void-leases", void_cases, test_void_fault);
	g_test_add_func("/storefault/refused/jobs", test_refused_jobs);
	TESTUTIL_ADD_ROWS("/storefault/refused/reply-bound", reply_cases, test_reply_bound);
	g_test_add_func("/storefault/refused/create", test_create_fails);
	g_test_add_func("/storefault/refused/ro-open", test_ro_refuses);
	return g_test_run();
}
