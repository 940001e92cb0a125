/*
 * test-storeedge.c - store.c at its edges: rows holding values the
 * CHECK constraints forbid (written by another program with the checks
 * off) read back clamped or refused, never trusted; identifiers whose
 * +detail is not one (a leading '+', an empty detail, a space, no '@');
 * store_commit_batch() with IMAP UIDs only, a UIDVALIDITY change, an
 * older UID and a UID write that fails with jobs in the same batch
 * (nothing committed); strings longer than SQLite's length limit bound
 * as parameters; a PATH.lock that cannot be opened; the status handle
 * on a missing path, an empty store, and reads that fail once its
 * schema is loaded; a job stored unleased while its scope is pushed;
 * files store_open refuses; every lock (read) of an open failing,
 * including a store left in rollback-journal mode; every read of a
 * commit that reads its scope's rows from disk; a busy timeout beyond
 * an int.  Each row checks the error (its domain and text, the store
 * path named, no value leaked) and that the store is unchanged and
 * works after.  The faults come from faultvfs.c, as in test-storefault.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "store.h"
#include "util.h"
#include "faultvfs.h"
#include "testutil.h"

#define T0    1700000000   /* a fixed "now" */

static struct job_in
job(const char *key, const char *identifier)
{
	struct job_in j = {
		.dedup_key = key,
		.identifier = identifier,
		.source = "lmtp",
		.filter = "test",
		.body = "{\"totp_identifier\":\"x\",\"content\":\"SECRET\"}",
		.code = "SECRET",
		.created = T0,
		.expires = T0 + 600,
	};
	return j;
}

/* A new store in the test's directory; *path_r its file. */
static struct store *
fresh(char **path_r)
{
	const char *dir = testutil_test_tmpdir("test-storeedge");
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;

	*path_r = g_build_filename(dir, "otpbridge.db", NULL);
	g_assert_cmpint(store_open(*path_r, &st, &err), ==, 0);
	g_assert_no_error(err);
	return st;
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

static guint
n_jobs(const char *path)
{
	return (guint)faultvfs_query_int(path, "SELECT count(*) FROM jobs");
}

/* ---- values the CHECK constraints forbid ----------------------------------- */

/* Another writer with ignore_check_constraints put them there. */
static void
forbid(const char *path, gint64 id, const char *set)
{
	g_autofree char *sql = g_strdup_printf("PRAGMA ignore_check_constraints = ON;"
	    " UPDATE jobs SET %s WHERE id = %" G_GINT64_FORMAT ";", set, id);

	faultvfs_exec(path, sql);
}

/*
 * A state out of range reads as failed and an attempt count out of
 * range as its nearest bound in a list; a count refuses the unknown
 * state (an error, not a count in the wrong slot) and answers again once
 * the row is repaired.
 */
static void
test_forbidden_rw(void)
{
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	gint64 a = commit_ok(st, job("a", "a@x"));
	gint64 b = commit_ok(st, job("b", "b@x"));
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(job_free);
	g_autoptr(GError) err = NULL;
	guint64 c[JOB_STATES];

	forbid(path, a, "state = 9, attempts = -5");
	forbid(path, b, "attempts = 8589934592");          /* 2^33 */
	g_assert_cmpint(store_list(st, 10, out, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(out->len, ==, 2);
	for (guint i = 0; i < out->len; i++) {
		const struct job *j = out->pdata[i];

		if (j->id == a) {
			g_assert_cmpint(j->state, ==, JOB_FAILED);
			g_assert_cmpuint(j->attempts, ==, 0);
		} else {
			g_assert_cmpint(j->state, ==, JOB_PENDING);
			g_assert_cmpuint(j->attempts, ==, G_MAXUINT);
		}
	}

	g_assert_cmpint(store_count(st, c, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
	g_assert_nonnull(strstr(err->message, path));
	g_assert_nonnull(strstr(err->message, "unknown job state 9"));
	g_clear_error(&err);
	forbid(path, a, "state = -1");
	g_ptr_array_set_size(out, 0);
	g_assert_cmpint(store_list(st, 10, out, &err), ==, 0);
	g_assert_cmpint(((struct job *)out->pdata[out->len - 1])->state, ==, JOB_FAILED);
	g_assert_cmpint(store_count(st, c, &err), ==, -1);
	g_assert_nonnull(strstr(err->message, "unknown job state -1"));
	g_clear_error(&err);
	/* every state once, and one more: a sixth group */
	for (gint64 k = 0; k < JOB_STATES; k++) {
		g_autofree char *key = g_strdup_printf("s%" G_GINT64_FORMAT, k);
		g_autofree char *set = g_strdup_printf("state = %" G_GINT64_FORMAT, k);

		forbid(path, commit_ok(st, job(key, key)), set);
	}
	g_assert_cmpint(store_count(st, c, &err), ==, -1);
	g_assert_nonnull(strstr(err->message, "unknown job state -1"));
	g_clear_error(&err);
	forbid(path, a, "state = 5");
	g_assert_cmpint(store_count(st, c, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
	g_assert_nonnull(strstr(err->message, "unknown job state 5"));
	g_clear_error(&err);
	faultvfs_exec(path, "DELETE FROM jobs WHERE dedup_key GLOB 's[0-9]'");

	forbid(path, a, "state = 2");
	g_assert_cmpint(store_count(st, c, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(c[JOB_PENDING], ==, 1);
	g_assert_cmpuint(c[JOB_FAILED], ==, 1);
	store_close(&st);
	job_free(NULL);              /* a no-op, like g_free(NULL) */
}

/*
 * The status handle shows what is there, clamped to its types: a state
 * beyond an int is the nearest int (status prints it as unknown), an
 * attempt count beyond a guint the largest one.
 */
static void
test_forbidden_ro(void)
{
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	gint64 a = commit_ok(st, job("a", "a@x"));
	gint64 b = commit_ok(st, job("b", "b@x"));
	g_autoptr(GArray) counts = g_array_new(FALSE, TRUE, sizeof(struct store_state_count));
	g_autoptr(GPtrArray) last = g_ptr_array_new_with_free_func(store_outcome_free);
	g_autoptr(GError) err = NULL;
	struct store_outcome *o = NULL;
	struct store *ro = NULL;
	guint64 n = 0;

	forbid(path, a, "state = 1099511627776, attempts = 8589934592, updated = 2");
	forbid(path, b, "state = -1099511627776, attempts = -3, updated = 1");
	store_close(&st);
	g_assert_cmpint(store_open_readonly(path, 100, &ro, &err), ==, 0);
	g_assert_no_error(err);

	g_assert_cmpint(store_ro_counts(ro, counts, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(counts->len, ==, 2);
	g_assert_cmpint(g_array_index(counts, struct store_state_count, 0).state, ==, G_MININT);
	g_assert_cmpint(g_array_index(counts, struct store_state_count, 1).state, ==, G_MAXINT);
	g_assert_cmpuint(g_array_index(counts, struct store_state_count, 1).jobs, ==, 1);

	g_assert_cmpint(store_ro_last_attempt(ro, &o, &err), ==, 0);
	g_assert_nonnull(o);
	g_assert_cmpint(o->id, ==, a);
	g_assert_cmpint(o->state, ==, G_MAXINT);
	g_assert_cmpuint(o->attempts, ==, G_MAXUINT);
	store_outcome_free(o);

	g_assert_cmpint(store_ro_last_per_identifier(ro, 10, last, &n, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 2);
	g_assert_cmpuint(last->len, ==, 2);
	o = last->pdata[0];                  /* newest first: b */
	g_assert_cmpint(o->id, ==, b);
	g_assert_cmpint(o->state, ==, G_MININT);
	g_assert_cmpuint(o->attempts, ==, 0);
	store_close(&ro);
}

/* ---- identifiers and their +detail --------------------------------------------- */

struct ident_case {
	const char *name;
	const char *identifier;
	const char *run_tag;
	const char *stored;          /* "plus_tag|base|run_tag", '-' for NULL */
};

static const struct ident_case ident_cases[] = {
	{ "detail", "bot+wr_1@x.test", NULL, "wr_1|bot@x.test|-" },
	{ "detail-lowered", "Bot+WR_1@X.test", "WR_9", "wr_1|Bot@X.test|wr_9" },
	{ "first-plus", "a+b+c@x.test", NULL, "b+c|a@x.test|-" },
	{ "leading-plus", "+x@y.test", NULL, "-|-|-" },
	{ "empty-detail", "bot+@y.test", NULL, "-|-|-" },
	{ "space", "bot x+wr_1@y.test", NULL, "-|-|-" },
	{ "no-at", "bot+wr_1", NULL, "-|-|-" },
	{ "plus-after-at", "bot@x+wr_1.test", NULL, "-|-|-" },
	{ "empty-run-tag", "bot@x.test", "", "-|-|-" },
};

/*
 * What the pull side matches on is split at commit: the detail of an
 * address (lower-cased) and the address without it, only for a real
 * +detail; an empty run tag is none.
 */
static void
test_identifier(gconstpointer data)
{
	const struct ident_case *c = data;
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	struct job_in j = job("k", c->identifier);
	g_autofree char *sql = NULL;
	g_autofree char *want = g_strdup(c->stored);
	gint64 id;

	j.run_tag = c->run_tag;
	id = commit_ok(st, j);
	sql = g_strdup_printf("SELECT coalesce(plus_tag, '-') || '|' || coalesce(base, '-')"
	    " || '|' || coalesce(run_tag, '-') = '%s' FROM jobs WHERE id = %" G_GINT64_FORMAT,
	    want, id);
	g_assert_cmpint(faultvfs_query_int(path, sql), ==, 1);
	store_close(&st);
}

/* ---- store_commit_batch: jobs and IMAP UIDs, all or nothing -------------------- */

static void
uid_is(struct store *st, const char *account, guint32 uv, guint32 uid)
{
	g_autoptr(GError) err = NULL;
	guint32 got_uv = 0, got_uid = 0;
	gboolean found = FALSE;

	g_assert_cmpint(store_imap_get(st, account, "INBOX", &got_uv, &got_uid, &found, &err),
	    ==, 0);
	g_assert_no_error(err);
	g_assert_true(found == (uv != 0));
	g_assert_cmpuint(got_uv, ==, uv);
	g_assert_cmpuint(got_uid, ==, uid);
}

static void
test_batch_uids(void)
{
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	g_autoptr(GError) err = NULL;
	struct store_uid_advance adv[2] = {
		{ "acct", "INBOX", 7, 40 },
		{ "other", "INBOX", 3, 5 },
	};
	struct job_in jobs[2] = { job("j1", "a@x"), job("j2", "b@x") };

	/* nothing at all: nothing to do */
	g_assert_cmpint(store_commit_batch(st, NULL, 0, NULL, 0, &err), ==, 0);
	/* UIDs without jobs: accounts without a row get one */
	g_assert_cmpint(store_commit_batch(st, NULL, 0, adv, 2, &err), ==, 0);
	g_assert_no_error(err);
	uid_is(st, "acct", 7, 40);
	uid_is(st, "other", 3, 5);
	/* the caller's UID is the state: a lower one after a UIDVALIDITY
	 * change, and an older one, are stored as given */
	adv[0].uidvalidity = 8;
	adv[0].uid = 2;
	g_assert_cmpint(store_commit_batch(st, jobs, 1, adv, 1, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(jobs[0].id, >, 0);
	uid_is(st, "acct", 8, 2);
	adv[0].uid = 1;
	g_assert_cmpint(store_commit_batch(st, NULL, 0, adv, 1, &err), ==, 0);
	uid_is(st, "acct", 8, 1);

	/* the second UID write fails (no mailbox): neither the job nor the
	 * first UID is committed, and the batch's ids are cleared */
	adv[0].uid = 50;
	adv[1].mailbox = NULL;
	g_assert_cmpint(store_commit_batch(st, &jobs[1], 1, adv, 2, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, path));
	g_assert_nonnull(strstr(err->message, "set imap state"));
	g_assert_null(strstr(err->message, "SECRET"));
	g_clear_error(&err);
	g_assert_cmpint(jobs[1].id, ==, 0);
	g_assert_cmpuint(n_jobs(path), ==, 1);
	uid_is(st, "acct", 8, 1);
	uid_is(st, "other", 3, 5);

	/* the same batch once it is right */
	adv[1].mailbox = "INBOX";
	g_assert_cmpint(store_commit_batch(st, &jobs[1], 1, adv, 2, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(jobs[1].id, >, 0);
	g_assert_cmpuint(n_jobs(path), ==, 2);
	uid_is(st, "acct", 8, 50);
	store_close(&st);
}

/* ---- strings longer than SQLite's length limit -------------------------------- */

/*
 * A job whose fields are over the limit is refused as bad data on the
 * first failed bind (the message names SQLite's reason, not a value);
 * the status handle refuses an over-long account or mailbox the same way.
 */
static void
test_too_long(void)
{
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	g_autofree char *big = g_strnfill(4 * 1024 * 1024 + 1, 'x');
	g_autoptr(GError) err = NULL;
	struct job_in j = job("k", "a@x");
	struct store *ro = NULL;
	guint32 uv = 0, uid = 0;
	gboolean found = TRUE;

	memcpy(big, "SECRET", 6);
	j.body = big;
	j.code = big;
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, "string or blob too big"));
	g_assert_null(strstr(err->message, "SECRET"));
	g_clear_error(&err);
	g_assert_cmpuint(n_jobs(path), ==, 0);
	g_assert_cmpint(store_imap_set(st, "acct", "INBOX", 1, 9, &err), ==, 0);
	store_close(&st);

	g_assert_cmpint(store_open_readonly(path, 100, &ro, &err), ==, 0);
	for (guint i = 0; i < 2; i++) {
		g_assert_cmpint(store_ro_imap(ro, i == 0 ? big : "acct", i == 0 ? "INBOX" : big,
		    &uv, &uid, &found, &err), ==, -1);
		g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
		g_assert_nonnull(strstr(err->message, "imap state: string or blob too big"));
		g_assert_null(strstr(err->message, "SECRET"));
		g_assert_false(found);
		g_clear_error(&err);
	}
	g_assert_cmpint(store_ro_imap(ro, "acct", "INBOX", &uv, &uid, &found, &err), ==, 0);
	g_assert_true(found);
	g_assert_cmpuint(uid, ==, 9);
	store_close(&ro);
}

/* ---- PATH.lock ------------------------------------------------------------- */

/*
 * PATH.lock is a symbolic link (never followed): no live owner can be
 * made and no dead lease voided, a temporary error naming the lock; the
 * leases stay as they are, and the store works otherwise.
 */
static void
test_lock_link(void)
{
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	g_autofree char *lock = g_strconcat(path, ".lock", NULL);
	g_autofree char *target = g_strconcat(path, ".elsewhere", NULL);
	g_autoptr(GError) err = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in j = job("dead", "d@x");
	guint n = 9;

	j.lease_owner = "daemon:1:0000dead";
	j.lease_until = now + 600;
	commit_ok(st, j);
	g_assert_cmpint(symlink(target, lock), ==, 0);

	g_assert_null(store_live_owner(st, "daemon", &err));
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, lock));
	g_clear_error(&err);
	g_assert_cmpint(store_void_dead_leases(st, "daemon:2:00000002", &n, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_assert_nonnull(strstr(err->message, lock));
	g_clear_error(&err);
	g_assert_cmpuint(n, ==, 0);
	g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));
	g_assert_cmpint(faultvfs_query_int(path,
	    "SELECT count(*) FROM jobs WHERE lease_owner = 'daemon:1:0000dead'"), ==, 1);

	g_assert_cmpint(g_unlink(lock), ==, 0);
	g_assert_cmpint(store_void_dead_leases(st, "daemon:2:00000002", &n, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 1);
	store_close(&st);
}

/* ---- the status handle ------------------------------------------------------ */

/* A path that is not there, or cannot be: the error says which. */
static void
test_ro_missing(void)
{
	const char *dir = testutil_test_tmpdir("test-storeedge");
	g_autofree char *missing = g_build_filename(dir, "none.db", NULL);
	g_autofree char *file = testutil_write_in(dir, "a-file", "", 0, 0600);
	g_autofree char *under = g_build_filename(file, "otpbridge.db", NULL);
	g_autoptr(GError) err = NULL;
	struct store *ro = NULL;

	g_assert_cmpint(store_open_readonly(missing, 100, &ro, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
	g_assert_nonnull(strstr(err->message, "does not exist (the daemon creates it"));
	g_clear_error(&err);
	g_assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));
	g_assert_cmpint(store_open_readonly(under, 100, &ro, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, g_strerror(ENOTDIR)));
	g_assert_null(strstr(err->message, "the daemon creates it"));
	g_assert_null(ro);
}

/* A store never attempted: no last attempt, no identifiers, no rows. */
static void
test_ro_empty(void)
{
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	g_autoptr(GArray) counts = g_array_new(FALSE, TRUE, sizeof(struct store_state_count));
	g_autoptr(GPtrArray) last = g_ptr_array_new_with_free_func(store_outcome_free);
	g_autoptr(GError) err = NULL;
	struct store_outcome *o = NULL;
	struct store *ro = NULL;
	guint32 uv = 1, uid = 1;
	gboolean found = TRUE;
	guint64 n = 9;

	commit_ok(st, job("a", "a@x"));      /* pending, never attempted */
	g_assert_cmpint(store_open_readonly(path, 100, &ro, &err), ==, 0);
	g_assert_cmpint(store_ro_last_attempt(ro, &o, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_null(o);
	g_assert_cmpint(store_ro_imap(ro, "acct", "INBOX", &uv, &uid, &found, &err), ==, 0);
	g_assert_false(found);
	g_assert_cmpuint(uv, ==, 0);
	g_assert_cmpuint(uid, ==, 0);
	/* limit 0: the count of identifiers, no rows */
	g_assert_cmpint(store_ro_last_per_identifier(ro, 0, last, &n, &err), ==, 0);
	g_assert_cmpuint(n, ==, 1);
	g_assert_cmpuint(last->len, ==, 0);
	g_assert_cmpint(store_ro_counts(ro, counts, &err), ==, 0);
	g_assert_cmpuint(counts->len, ==, 1);
	store_close(&ro);
	store_close(&st);
}

struct ro_read {
	const char *name;
	int (*run)(struct store *ro, GError **error);
};

static int
ro_counts(struct store *ro, GError **error)
{
	g_autoptr(GArray) out = g_array_new(FALSE, TRUE, sizeof(struct store_state_count));
	int rc = store_ro_counts(ro, out, error);

	g_assert_cmpuint(out->len, ==, rc == 0 ? 1 : 0);
	return rc;
}

static int
ro_last_attempt(struct store *ro, GError **error)
{
	struct store_outcome *o = NULL;
	int rc = store_ro_last_attempt(ro, &o, error);

	g_assert_true((o != NULL) == (rc == 0));
	store_outcome_free(o);
	return rc;
}

static int
ro_last_per_identifier(struct store *ro, GError **error)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(store_outcome_free);
	guint64 n = 0;
	int rc = store_ro_last_per_identifier(ro, 10, out, &n, error);

	g_assert_cmpuint(out->len, ==, rc == 0 ? 1 : 0);
	g_assert_cmpuint(n, ==, rc == 0 ? 1 : 0);
	return rc;
}

static int
ro_imap(struct store *ro, GError **error)
{
	guint32 uv = 0, uid = 0;
	gboolean found = FALSE;
	int rc = store_ro_imap(ro, "acct", "INBOX", &uv, &uid, &found, error);

	g_assert_true(found == (rc == 0));
	return rc;
}

static const struct ro_read ro_reads[] = {
	{ "counts", ro_counts },
	{ "last-attempt", ro_last_attempt },
	{ "last-per-identifier", ro_last_per_identifier },
	{ "imap", ro_imap },
};

/* What a daemon writes meanwhile: the rows the status reads change. */
static void
touch(struct store *st, gint64 id, guint32 uid)
{
	g_autoptr(GError) err = NULL;

	g_assert_cmpint(store_job_failed(st, id, T0 + uid, 500, "no", &err), ==, 0);
	g_assert_cmpint(store_imap_set(st, "acct", "INBOX", 7, uid, &err), ==, 0);
	g_assert_no_error(err);
}

/*
 * The status handle has read the schema; a daemon writes meanwhile, and
 * the next read of the rows fails (every read of the file, in turn): a
 * temporary error naming the store, nothing half returned, and the same
 * handle answers after.
 */
static void
test_ro_warm(gconstpointer data)
{
	const struct ro_read *c = data;
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	g_autoptr(GError) err = NULL;
	struct store *ro = NULL;
	gint64 id = commit_ok(st, job("a", "a@x"));
	guint calls;

	touch(st, id, 1);
	g_assert_cmpint(store_open_readonly(path, 100, &ro, &err), ==, 0);
	g_assert_no_error(err);

	/* how many reads one call makes, after the schema is read */
	g_assert_cmpint(c->run(ro, &err), ==, 0);
	touch(st, id, 2);
	faultvfs_arm(FAULTVFS_READ, G_MAXUINT, 1, FAULTVFS_IOERR);
	g_assert_cmpint(c->run(ro, &err), ==, 0);
	calls = faultvfs_calls(FAULTVFS_READ);
	faultvfs_disarm();
	g_assert_no_error(err);
	g_test_message("%u reads", calls);
	g_assert_cmpuint(calls, >=, 1);

	for (guint nth = 1; nth <= calls; nth++) {
		touch(st, id, 2 + nth);
		faultvfs_arm(FAULTVFS_READ, nth, 1, FAULTVFS_IOERR);
		g_assert_cmpint(c->run(ro, &err), ==, -1);
		faultvfs_disarm();
		g_assert_cmpuint(faultvfs_fired(), ==, 1);
		g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
		g_assert_nonnull(strstr(err->message, path));
		g_assert_nonnull(strstr(err->message, "disk I/O error"));
		g_clear_error(&err);
		g_assert_cmpint(c->run(ro, &err), ==, 0);
		g_assert_no_error(err);
	}
	store_close(&ro);
	store_close(&st);
}

/* ---- a job without a lease while its scope is being pushed ---------------------- */

/*
 * A job committed unleased (deliver, IMAP) while a push of its scope is
 * under a live lease is not held: it waits for no lease of its own, and
 * the claim takes it once that push is over, not before.
 */
static void
test_unleased_beside_push(void)
{
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(job_free);
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in a = job("a", "bot@x"), b = job("b", "bot@x");

	a.lease_owner = "daemon:1";
	a.lease_until = now + 600;
	a.created = now - 10;
	b.created = now - 5;
	b.expires = a.expires = now + 600;
	g_assert_cmpint(store_commit_jobs(st, &a, 1, &err), ==, 0);
	g_assert_cmpint(store_commit_jobs(st, &b, 1, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_false(b.held);
	g_assert_false(b.duplicate);
	g_assert_cmpint(faultvfs_query_int(path, "SELECT lease_owner IS NULL AND state = 0"
	    " FROM jobs WHERE dedup_key = 'b'"), ==, 1);
	g_assert_cmpint(store_claim_due(st, "daemon:2", now, now + 12, 10, got, &err), ==, 0);
	g_assert_cmpuint(got->len, ==, 0);
	g_assert_cmpint(store_job_delivered(st, a.id, now, 200, "{}", NULL, &err), ==, 0);
	g_assert_cmpint(store_claim_due(st, "daemon:2", now, now + 12, 10, got, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(got->len, ==, 1);
	g_assert_cmpint(((struct job *)got->pdata[0])->id, ==, b.id);
	store_close(&st);
}

/* ---- files the store refuses to open ------------------------------------------- */

struct refuse_case {
	const char *name;
	const char *sql;             /* makes the file (NULL: a directory) */
	int code;                    /* OTPB_ERROR_* */
	const char *text;
};

static const struct refuse_case refuse_cases[] = {
	{ "negative-version", "PRAGMA application_id = 1330925634;"
	  "PRAGMA user_version = -1;", OTPB_ERROR_CONFIG, "not an otpbridge store" },
	{ "foreign-empty", "PRAGMA application_id = 7;",
	  OTPB_ERROR_CONFIG, "not an otpbridge store" },
	{ "ours-unversioned", "PRAGMA application_id = 1330925634; CREATE TABLE t (x);",
	  OTPB_ERROR_CONFIG, "not an otpbridge store" },
	{ "directory", NULL, OTPB_ERROR_TEMP, "open: unable to open database file" },
};

/* Refused with the reason, the file left as it was. */
static void
test_refuse(gconstpointer data)
{
	const struct refuse_case *c = data;
	const char *dir = testutil_test_tmpdir("test-storeedge");
	g_autofree char *path = g_build_filename(dir, "otpbridge.db", NULL);
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;

	if (c->sql != NULL)
		faultvfs_exec(path, c->sql);
	else
		g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
	g_assert_cmpint(store_open(path, &st, &err), ==, -1);
	g_assert_null(st);
	g_assert_error(err, OTPB_ERROR, c->code);
	g_test_message("%s", err->message);
	g_assert_nonnull(strstr(err->message, path));
	g_assert_nonnull(strstr(err->message, c->text));
	if (c->sql != NULL) {
		g_assert_cmpint(faultvfs_query_int(path,
		    "SELECT count(*) FROM sqlite_schema WHERE name = 'jobs'"), ==, 0);
	} else {
		g_assert_true(g_file_test(path, G_FILE_TEST_IS_DIR));
	}
}

/*
 * A store SQLite cannot keep in WAL mode (an in-memory database: its
 * journal mode stays "memory") is refused, never run without WAL.
 */
static void
test_refuse_no_wal(void)
{
	const char *dir = testutil_test_tmpdir("test-storeedge");
	g_autofree char *cwd = g_get_current_dir();
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;

	g_assert_cmpint(g_chdir(dir), ==, 0);
	g_assert_cmpint(store_open(":memory:", &st, &err), ==, -1);
	g_assert_cmpint(g_chdir(cwd), ==, 0);
	g_assert_null(st);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
	g_assert_nonnull(strstr(err->message, "cannot use WAL mode (journal_mode is memory)"));
}

/* ---- opens that fail part-way ---------------------------------------------------- */

struct open_fault {
	const char *name;
	gboolean readonly;           /* the status handle */
	gboolean rollback;           /* the file is in rollback-journal mode */
	enum faultvfs_op op;
};

static const struct open_fault open_faults[] = {
	{ "locks", FALSE, FALSE, FAULTVFS_LOCK },
	{ "status-reads", TRUE, FALSE, FAULTVFS_READ },
	{ "rollback-reads", FALSE, TRUE, FAULTVFS_READ },
	{ "rollback-locks", FALSE, TRUE, FAULTVFS_LOCK },
};

static int
open_either(const struct open_fault *c, const char *path, struct store **st_r,
    GError **error)
{
	return c->readonly ? store_open_readonly(path, 100, st_r, error) :
	    store_open(path, st_r, error);
}

/*
 * The Nth lock (read, of the status handle) of an open of a
 * current store fails, for every N an open makes: no handle, an error
 * naming the store, and the next open works and finds the job.
 */
static void
test_open_fault(gconstpointer data)
{
	const struct open_fault *c = data;
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	g_autoptr(GError) err = NULL;
	gint64 id = commit_ok(st, job("k", "a@x"));
	guint calls;

	store_close(&st);
	if (c->rollback)
		faultvfs_exec(path, "PRAGMA journal_mode = DELETE;");
	faultvfs_arm(c->op, G_MAXUINT, 1, FAULTVFS_IOERR);
	g_assert_cmpint(open_either(c, path, &st, &err), ==, 0);
	calls = faultvfs_calls(c->op);
	faultvfs_disarm();
	g_assert_no_error(err);
	store_close(&st);
	g_test_message("%u calls", calls);
	g_assert_cmpuint(calls, >=, 1);

	for (guint nth = 1; nth <= calls; nth++) {
		if (c->rollback)
			faultvfs_exec(path, "PRAGMA journal_mode = DELETE;");
		faultvfs_arm(c->op, nth, 1, FAULTVFS_IOERR);
		g_assert_cmpint(open_either(c, path, &st, &err), ==, -1);
		faultvfs_disarm();
		g_assert_cmpuint(faultvfs_fired(), ==, 1);
		g_assert_null(st);
		g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
		g_test_message("%u: %s", nth, err->message);
		g_assert_nonnull(strstr(err->message, path));
		g_assert_nonnull(strstr(err->message, "disk I/O error"));
		g_clear_error(&err);
		g_assert_cmpint(open_either(c, path, &st, &err), ==, 0);
		g_assert_no_error(err);
		g_assert_cmpint(faultvfs_query_int(path, "SELECT max(id) FROM jobs"), ==, id);
		store_close(&st);
	}
}

/* ---- a commit that reads rows of its scope from the disk ---------------------- */

#define COLD_ROWS 8

/*
 * A store with COLD_ROWS pending jobs of bot@x older than T0 and as many
 * failed ones newer than T0, each on a page of its own, that another
 * handle wrote last: committing a job of bot@x at T0 reads their pages
 * (to find a newer job, then to supersede the older ones).
 */
static struct store *
cold_init(char **path_r)
{
	struct store *st = fresh(path_r);
	struct store *other = NULL;
	g_autoptr(GError) err = NULL;
	for (guint i = 0; i < 2 * COLD_ROWS; i++) {
		g_autofree char *key = g_strdup_printf("old%u", i);
		g_autofree char *pad = g_strnfill(3000, 'p');
		g_autofree char *code = g_strconcat("C", pad, NULL);
		struct job_in j = job(key, "bot@x");

		j.code = code;               /* a row of its own page */
		j.created = i < COLD_ROWS ? T0 - 100 + i : T0 + 100 + i;
		commit_ok(st, j);
	}
	store_close(&st);
	faultvfs_exec(*path_r, "UPDATE jobs SET state = CASE WHEN created < 1700000000"
	    " THEN 0 ELSE 2 END;");
	g_assert_cmpint(store_open(*path_r, &st, &err), ==, 0);
	g_assert_cmpint(store_open(*path_r, &other, &err), ==, 0);
	g_assert_cmpint(store_probe(st, &err), ==, 0);
	g_assert_cmpint(store_probe(other, &err), ==, 0);   /* st's cache is cold */
	g_assert_no_error(err);
	store_close(&other);
	return st;
}

static guint
n_state(const char *path, int state)
{
	g_autofree char *sql = g_strdup_printf("SELECT count(*) FROM jobs WHERE state = %d",
	    state);

	return (guint)faultvfs_query_int(path, sql);
}

/*
 * Every read of that commit fails in turn: the commit fails as a whole
 * with a temporary error (no job, no supersede), and the same handle
 * then commits it, superseding the older pending jobs.
 */
static void
test_commit_cold(void)
{
	g_autofree char *path = NULL;
	struct store *st = cold_init(&path);
	g_autoptr(GError) err = NULL;
	struct job_in j = job("new", "bot@x");
	guint calls;

	faultvfs_arm(FAULTVFS_READ, G_MAXUINT, 1, FAULTVFS_IOERR);
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	calls = faultvfs_calls(FAULTVFS_READ);
	faultvfs_disarm();
	g_assert_no_error(err);
	g_assert_cmpuint(j.superseded, ==, COLD_ROWS);
	store_close(&st);
	g_test_message("%u reads", calls);
	g_assert_cmpuint(calls, >=, COLD_ROWS);

	for (guint nth = 1; nth <= calls; nth++) {
		g_free(path);
		st = cold_init(&path);
		j = job("new", "bot@x");
		faultvfs_arm(FAULTVFS_READ, nth, 1, FAULTVFS_IOERR);
		g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, -1);
		faultvfs_disarm();
		g_assert_cmpuint(faultvfs_fired(), ==, 1);
		g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
		g_assert_nonnull(strstr(err->message, path));
		g_clear_error(&err);
		g_assert_cmpint(j.id, ==, 0);
		g_assert_cmpuint(j.superseded, ==, 0);
		g_assert_cmpuint(n_jobs(path), ==, 2 * COLD_ROWS);
		g_assert_cmpuint(n_state(path, JOB_PENDING), ==, COLD_ROWS);

		g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
		g_assert_no_error(err);
		g_assert_cmpuint(j.superseded, ==, COLD_ROWS);
		g_assert_cmpuint(n_state(path, JOB_PENDING), ==, 1);
		g_assert_cmpuint(n_state(path, JOB_SUPERSEDED), ==, COLD_ROWS);
		store_close(&st);
	}
}

/* ---- claims in order ------------------------------------------------------------ */

/* Jobs that arrived in the same second are claimed in the order they
 * were stored. */
static void
test_claim_ties(void)
{
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(job_free);
	g_autoptr(GError) err = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	struct job_in jobs[4] = {
		job("k1", "a@x"), job("k2", "b@x"), job("k3", "c@x"), job("k4", "d@x"),
	};

	for (guint i = 0; i < G_N_ELEMENTS(jobs); i++) {
		jobs[i].created = now - 5;
		jobs[i].expires = now + 600;
	}
	jobs[3].created = now - 6;
	g_assert_cmpint(store_commit_jobs(st, jobs, G_N_ELEMENTS(jobs), &err), ==, 0);
	g_assert_cmpint(store_claim_due(st, "daemon:1", now, now + 12, 10, got, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(got->len, ==, 4);
	g_assert_cmpint(((struct job *)got->pdata[0])->id, ==, jobs[3].id);
	for (guint i = 1; i < 4; i++)
		g_assert_cmpint(((struct job *)got->pdata[i])->id, ==, jobs[i - 1].id);
	store_close(&st);
}

/* ---- a busy timeout beyond an int ------------------------------------------------ */

/* Ends the write transaction of the handle it is given after 300 ms. */
static gpointer
release_later(gpointer data)
{
	struct store *st = data;
	g_autoptr(GError) err = NULL;

	g_usleep(300 * 1000);
	g_assert_cmpint(store_batch_end(st, &err), ==, 0);
	g_assert_no_error(err);
	return NULL;
}

/*
 * A timeout too large for SQLite's int is its largest, not a negative
 * one (which would mean "never wait"): a commit waits for the other
 * handle's write lock and goes through when it is released.
 */
static void
test_busy_timeout_max(void)
{
	g_autofree char *path = NULL;
	struct store *st = fresh(&path);
	struct store *holder = NULL;
	g_autoptr(GError) err = NULL;
	struct job_in j = job("k", "a@x");
	GThread *t;
	gint64 t0;

	g_assert_cmpint(store_open(path, &holder, &err), ==, 0);
	g_assert_cmpint(store_batch_begin(holder, &err), ==, 0);
	g_assert_no_error(err);
	store_set_busy_timeout(st, G_MAXUINT);
	t0 = g_get_monotonic_time();
	t = g_thread_new("release", release_later, holder);
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(g_get_monotonic_time() - t0, >=, 250 * 1000);
	g_thread_join(t);
	g_assert_cmpuint(n_jobs(path), ==, 1);
	store_close(&holder);
	store_close(&st);
}

/* ---- main -------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	faultvfs_install();
	g_test_add_func("/storeedge/forbidden/list-count", test_forbidden_rw);
	g_test_add_func("/storeedge/forbidden/status", test_forbidden_ro);
	TESTUTIL_ADD_ROWS("/storeedge/identifier", ident_cases, test_identifier);
	g_test_add_func("/storeedge/batch/uids", test_batch_uids);
	g_test_add_func("/storeedge/too-long", test_too_long);
	g_test_add_func("/storeedge/lock-link", test_lock_link);
	g_test_add_func("/storeedge/status/missing", test_ro_missing);
	g_test_add_func("/storeedge/status/empty", test_ro_empty);
	TESTUTIL_ADD_ROWS("/storeedge/status/warm", ro_reads, test_ro_warm);
	g_test_add_func("/storeedge/unleased-beside-push", test_unleased_beside_push);
	TESTUTIL_ADD_ROWS("/storeedge/refuse", refuse_cases, test_refuse);
	g_test_add_func("/storeedge/refuse/no-wal", test_refuse_no_wal);
	TESTUTIL_ADD_ROWS("/storeedge/open-fault", open_faults, test_open_fault);
	g_test_add_func("/storeedge/commit-cold", test_commit_cold);
	g_test_add_func("/storeedge/claim-ties", test_claim_ties);
	g_test_add_func("/storeedge/busy-timeout-max", test_busy_timeout_max);
	return g_test_run();
}
