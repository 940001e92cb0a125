/*
 * test-store.c - store.c against real SQLite files: open and migration,
 * group commit, dedup, all-or-nothing on full/read-only disks and bad
 * data, leases, outcomes, expiry, the queue commands, pruning, codes for
 * the pull side, IMAP state, the probe, and two handles on one file used
 * from two threads.  Each test works in its own temporary directory.
 *
 * The full-disk and read-only checks mount a 1 MiB tmpfs when run as
 * root (and are skipped when mount is refused); as another user the
 * read-only check uses file modes instead.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include "store.h"
#include "util.h"
#include "testutil.h"

#define T0 1700000000   /* a fixed "now" */

/* A test's temporary directory and the store path inside it. */
struct tmp {
	char *dir;
	char *path;
};

static void
tmp_init(struct tmp *t)
{
	t->dir = testutil_tmpdir_new("test-store");
	t->path = g_build_filename(t->dir, "otpbridge.db", NULL);
}

static void
tmp_clear(struct tmp *t)
{
	testutil_tmpdir_free(&t->dir);
	g_free(t->path);
}

static struct store *
open_ok(const char *path)
{
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;

	g_assert_cmpint(store_open(path, &st, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_nonnull(st);
	return st;
}

/*
 * A push body routed to workflow run run (NULL: none), interned: it lives
 * as long as the test, like the static strings of a job_in.
 */
static const char *
body_for(const char *run)
{
	g_autofree char *b = run == NULL ?
	    g_strdup("{\"totp_identifier\":\"x\",\"content\":\"123456\"}") :
	    g_strdup_printf("{\"totp_identifier\":\"x\",\"content\":\"123456\","
	    "\"workflow_run_id\":\"%s\"}", run);

	return g_intern_string(b);
}

/*
 * A job created at t with key/identifier; strings are static or kept by
 * caller.  Its body names the key as its workflow run, so that jobs of
 * one identifier never supersede each other here (test_supersede* do).
 */
static struct job_in
job_at(const char *key, const char *ident, gint64 t)
{
	struct job_in j = {
		.dedup_key = key,
		.identifier = ident,
		.source = "lmtp",
		.filter = "github",
		.body = body_for(key),
		.code = "123456",
		.created = t,
		.expires = t + 600,
	};
	return j;
}

/* Commits one job and returns its id (0 for a duplicate). */
static gint64
commit1(struct store *st, const char *key, const char *ident, gint64 t)
{
	g_autoptr(GError) err = NULL;
	struct job_in j = job_at(key, ident, t);

	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	g_assert_no_error(err);
	return j.id;
}

static void
counts(struct store *st, guint64 c[JOB_STATES])
{
	g_autoptr(GError) err = NULL;

	g_assert_cmpint(store_count(st, c, &err), ==, 0);
	g_assert_no_error(err);
}

static guint64
count_all(struct store *st)
{
	guint64 c[JOB_STATES];

	guint64 n = 0;

	counts(st, c);
	for (guint i = 0; i < JOB_STATES; i++)
		n += c[i];
	return n;
}

/* Runs argv; TRUE when it exited 0.  *out gets stderr when asked. */
static gboolean
run(const char *const *argv, char **err_out)
{
	g_autoptr(GError) err = NULL;
	int status = 0;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH |
	    G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, err_out, &status, &err))
		return FALSE;
	return g_spawn_check_wait_status(status, NULL);
}

/* ---- open, WAL, migration ----------------------------------------------- */

static void
test_open_creates(void)
{
	struct tmp t;
	g_autofree char *path = NULL;
	g_autofree char *dir = NULL;
	struct store *st;
	GStatBuf sb;

	tmp_init(&t);
	dir = g_build_filename(t.dir, "state", "sub", NULL);
	path = g_build_filename(dir, "q.db", NULL);
	st = open_ok(path);
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	g_assert_cmpint(g_stat(dir, &sb), ==, 0);
	g_assert_cmpint(sb.st_mode & 0007, ==, 0);
	g_assert_cmpint(g_stat(path, &sb), ==, 0);
	g_assert_cmpint(sb.st_mode & 0007, ==, 0);   /* codes are secrets */
	g_assert_cmpuint(count_all(st), ==, 0);
	store_close(&st);
	g_assert_null(st);
	store_close(&st);   /* NULL-safe */
	/* Reopening an existing, migrated file. */
	st = open_ok(path);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_wal_reopen(void)
{
	struct tmp t;
	g_autofree char *wal = NULL;
	g_autoptr(GPtrArray) keep = NULL;
	struct store *st;
	struct job *j;
	gint64 id;

	tmp_init(&t);
	wal = g_strconcat(t.path, "-wal", NULL);
	st = open_ok(t.path);
	id = commit1(st, "<a@x>", "bot@example.com", T0);
	g_assert_cmpint(id, >, 0);
	/* A WAL-mode commit lands in the -wal file. */
	g_assert_true(g_file_test(wal, G_FILE_TEST_IS_REGULAR));
	store_close(&st);

	st = open_ok(t.path);
	j = testutil_store_job(st, id, &keep);
	g_assert_nonnull(j);
	g_assert_cmpint(j->state, ==, JOB_PENDING);
	g_assert_cmpstr(j->dedup_key, ==, "<a@x>");
	g_assert_cmpstr(j->identifier, ==, "bot@example.com");
	g_assert_cmpstr(j->source, ==, "lmtp");
	g_assert_cmpstr(j->filter, ==, "github");
	g_assert_cmpstr(j->body, ==, body_for("<a@x>"));
	g_assert_cmpint(j->created, ==, T0);
	g_assert_cmpint(j->expires, ==, T0 + 600);
	g_assert_cmpint(j->next_attempt, ==, T0);
	g_assert_cmpuint(j->attempts, ==, 0);
	g_assert_cmpint(j->last_status, ==, 0);
	g_assert_null(j->last_reply);
	g_assert_null(j->remote_id);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_migrate_empty(void)
{
	struct tmp t;
	struct store *st;

	tmp_init(&t);
	/* A zero-byte file (e.g. made by the package) is a fresh store. */
	testutil_write_file(t.path, "", 0, -1);
	st = open_ok(t.path);
	g_assert_cmpint(commit1(st, "k", "i", T0), >, 0);
	store_close(&st);
	/* Opening again neither migrates twice nor loses the job. */
	st = open_ok(t.path);
	g_assert_cmpuint(count_all(st), ==, 1);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_not_a_store(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;

	tmp_init(&t);
	testutil_write_file(t.path,
	    "this is not an SQLite database, not even close.......................", -1, -1);
	g_assert_cmpint(store_open(t.path, &st, &err), ==, -1);
	g_assert_null(st);
	g_assert_nonnull(err);
	g_assert_true(err->domain == OTPB_ERROR);
	g_assert_nonnull(strstr(err->message, t.path));
	tmp_clear(&t);
}

static void
test_future_version(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autofree char *cli = g_find_program_in_path("sqlite3");
	struct store *st;

	if (cli == NULL) {
		g_test_skip("the sqlite3 command is not installed");
		return;
	}
	tmp_init(&t);
	st = open_ok(t.path);
	store_close(&st);
	{
		const char *argv[] = { cli, t.path, "PRAGMA user_version = 99;", NULL };
		g_assert_true(run(argv, NULL));
	}
	g_assert_cmpint(store_open(t.path, &st, &err), ==, -1);
	g_assert_null(st);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	g_assert_nonnull(strstr(err->message, "newer"));
	g_assert_nonnull(strstr(err->message, t.path));
	g_clear_error(&err);

	/* Someone else's database is not migrated into ours. */
	testutil_rm_rf(t.path);
	{
		const char *argv[] = { cli, t.path, "CREATE TABLE theirs (a);", NULL };
		g_assert_true(run(argv, NULL));
	}
	g_assert_cmpint(store_open(t.path, &st, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	g_assert_nonnull(strstr(err->message, "not an otpbridge store"));
	tmp_clear(&t);
}

/* ---- commit and dedup ---------------------------------------------------- */

static void
test_group_commit(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct job_in jobs[50];
	char keys[50][32];
	struct store *st;
	guint64 c[JOB_STATES];

	tmp_init(&t);
	st = open_ok(t.path);
	for (guint i = 0; i < G_N_ELEMENTS(jobs); i++) {
		g_snprintf(keys[i], sizeof(keys[i]), "<m%u@x>", i);
		jobs[i] = job_at(keys[i], "bot@example.com", T0 + i);
		jobs[i].id = -1;
		jobs[i].duplicate = TRUE;
	}
	g_assert_cmpint(store_commit_jobs(st, jobs, G_N_ELEMENTS(jobs), &err), ==, 0);
	g_assert_no_error(err);
	for (guint i = 0; i < G_N_ELEMENTS(jobs); i++) {
		g_assert_false(jobs[i].duplicate);
		g_assert_cmpint(jobs[i].id, >, 0);
		if (i > 0)
			g_assert_cmpint(jobs[i].id, >, jobs[i - 1].id);
	}
	counts(st, c);
	g_assert_cmpuint(c[JOB_PENDING], ==, 50);
	g_assert_cmpuint(c[JOB_DELIVERED] + c[JOB_FAILED] + c[JOB_EXPIRED], ==, 0);
	/* An empty batch is a no-op. */
	g_assert_cmpint(store_commit_jobs(st, jobs, 0, &err), ==, 0);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_dedup(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st;
	struct job_in batch[3];

	tmp_init(&t);
	st = open_ok(t.path);
	g_assert_cmpint(commit1(st, "<m@x>", "a@example.com", T0), >, 0);
	/* Same key and identifier: duplicate, whatever the path. */
	g_assert_cmpint(commit1(st, "<m@x>", "a@example.com", T0 + 60), ==, 0);
	/* Another identifier (another recipient of the same mail): not. */
	g_assert_cmpint(commit1(st, "<m@x>", "b@example.com", T0 + 60), >, 0);
	/* A digest key is just another key. */
	g_assert_cmpint(commit1(st, "sha256:00ff", "a@example.com", T0), >, 0);
	/* At exactly 24 h still within the window; one second later not. */
	g_assert_cmpint(commit1(st, "<m@x>", "a@example.com", T0 + STORE_DEDUP_WINDOW), ==, 0);
	g_assert_cmpint(commit1(st, "<m@x>", "a@example.com", T0 + STORE_DEDUP_WINDOW + 1), >, 0);
	/* ... and the window now runs from that later commit. */
	g_assert_cmpint(commit1(st, "<m@x>", "a@example.com", T0 + STORE_DEDUP_WINDOW + 2), ==, 0);

	/* Within one batch the second copy is the duplicate. */
	batch[0] = job_at("<n@x>", "a@example.com", T0);
	batch[1] = job_at("<n@x>", "a@example.com", T0);
	batch[2] = job_at("<n@x>", "c@example.com", T0);
	g_assert_cmpint(store_commit_jobs(st, batch, 3, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_false(batch[0].duplicate);
	g_assert_cmpint(batch[0].id, >, 0);
	g_assert_true(batch[1].duplicate);
	g_assert_cmpint(batch[1].id, ==, 0);
	g_assert_false(batch[2].duplicate);
	g_assert_cmpint(batch[2].id, >, 0);
	g_assert_cmpuint(count_all(st), ==, 6);
	store_close(&st);
	tmp_clear(&t);
}

/* A batch whose 11th job is too big for the store: nothing is kept. */
static void
test_all_or_nothing_data(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct job_in jobs[20];
	char keys[20][16];
	g_autofree char *huge = g_malloc(5 * 1024 * 1024 + 1);
	struct store *st;

	tmp_init(&t);
	memset(huge, 'x', 5 * 1024 * 1024);
	huge[5 * 1024 * 1024] = '\0';
	st = open_ok(t.path);
	g_assert_cmpint(commit1(st, "before", "i", T0), >, 0);
	for (guint i = 0; i < G_N_ELEMENTS(jobs); i++) {
		g_snprintf(keys[i], sizeof(keys[i]), "k%u", i);
		jobs[i] = job_at(keys[i], "i", T0);
	}
	jobs[10].body = huge;
	g_assert_cmpint(store_commit_jobs(st, jobs, G_N_ELEMENTS(jobs), &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
	g_assert_null(strstr(err->message, "xxxx"));
	g_clear_error(&err);
	for (guint i = 0; i < G_N_ELEMENTS(jobs); i++) {
		g_assert_cmpint(jobs[i].id, ==, 0);
		g_assert_false(jobs[i].duplicate);
	}
	g_assert_cmpuint(count_all(st), ==, 1);
	/* The dedup rows went with the rollback: the same keys commit now. */
	jobs[10].body = "{}";
	g_assert_cmpint(store_commit_jobs(st, jobs, G_N_ELEMENTS(jobs), &err), ==, 0);
	g_assert_no_error(err);
	for (guint i = 0; i < G_N_ELEMENTS(jobs); i++)
		g_assert_false(jobs[i].duplicate);
	g_assert_cmpuint(count_all(st), ==, 21);

	/* A job without a body is refused before anything is written. */
	jobs[0].body = NULL;
	g_assert_cmpint(store_commit_jobs(st, jobs, 1, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
	store_close(&st);
	tmp_clear(&t);
}

/* ---- full and read-only disks -------------------------------------------- */

/* Mounts a small tmpfs on dir; FALSE (and a TAP skip) when refused. */
static gboolean
mount_tmpfs(const char *dir)
{
	const char *argv[] = { "mount", "-t", "tmpfs", "-o", "size=1m,mode=0700",
	    "tmpfs", dir, NULL };
	g_autofree char *why = NULL;

	g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
	if (getuid() != 0 || !run(argv, &why)) {
		g_autofree char *msg = g_strdup_printf("cannot mount a tmpfs: %s",
		    why != NULL ? g_strstrip(why) : "not root");
		g_test_skip(msg);
		return FALSE;
	}
	return TRUE;
}

static void
umount_tmpfs(const char *dir)
{
	const char *argv[] = { "umount", dir, NULL };

	g_assert_true(run(argv, NULL));
}

/* Jobs with bodies and codes big enough to need fresh disk space. */
static void
big_batch(struct job_in *jobs, guint n, char (*keys)[16], const char *body)
{
	for (guint i = 0; i < n; i++) {
		g_snprintf(keys[i], 16, "big%u", i);
		jobs[i] = job_at(keys[i], "i", T0);
		jobs[i].body = body;
		jobs[i].code = "SECRETCODE";
	}
}

static void
assert_temp_clean(GError *err, const char *path)
{
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	g_test_message("temporary failure: %s", err->message);
	g_assert_nonnull(strstr(err->message, path));
	g_assert_null(strstr(err->message, "SECRET"));
}

static void
test_full_disk(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autofree char *mnt = NULL, *path = NULL, *filler = NULL, *body = NULL;
	struct job_in small[5], big[20];
	char skeys[5][16], bkeys[20][16];
	guint64 c[JOB_STATES];
	struct store *st;
	FILE *fp;
	char chunk[4096];

	tmp_init(&t);
	mnt = g_build_filename(t.dir, "fs", NULL);
	if (!mount_tmpfs(mnt)) {
		tmp_clear(&t);
		return;
	}
	path = g_build_filename(mnt, "otpbridge.db", NULL);
	filler = g_build_filename(mnt, "filler", NULL);
	st = open_ok(path);
	for (guint i = 0; i < G_N_ELEMENTS(small); i++) {
		g_snprintf(skeys[i], sizeof(skeys[i]), "s%u", i);
		small[i] = job_at(skeys[i], "i", T0);
	}
	g_assert_cmpint(store_commit_jobs(st, small, G_N_ELEMENTS(small), &err), ==, 0);
	g_assert_no_error(err);

	/* Fill the file system. */
	memset(chunk, 'f', sizeof(chunk));
	fp = fopen(filler, "w");
	g_assert_nonnull(fp);
	setvbuf(fp, NULL, _IONBF, 0);
	for (guint i = 0; i < 1024; i++) {
		if (fwrite(chunk, 1, sizeof(chunk), fp) != sizeof(chunk))
			break;
	}
	fclose(fp);
	/* The probe (the daemon's health check) says so first. */
	g_assert_cmpint(store_probe(st, &err), ==, -1);
	assert_temp_clean(err, path);
	g_assert_nonnull(strstr(err->message, "its filesystem is full"));
	g_clear_error(&err);

	body = g_strnfill(8192, 'b');
	memcpy(body, "SECRETBODY", 10);
	big_batch(big, G_N_ELEMENTS(big), bkeys, body);
	g_assert_cmpint(store_commit_jobs(st, big, G_N_ELEMENTS(big), &err), ==, -1);
	assert_temp_clean(err, path);
	g_clear_error(&err);
	for (guint i = 0; i < G_N_ELEMENTS(big); i++)
		g_assert_cmpint(big[i].id, ==, 0);
	/* Reads still work and nothing of the batch is there. */
	counts(st, c);
	g_assert_cmpuint(c[JOB_PENDING], ==, 5);

	/* Space comes back: the same handle takes the same batch. */
	g_assert_cmpint(g_unlink(filler), ==, 0);
	g_assert_cmpint(store_commit_jobs(st, big, G_N_ELEMENTS(big), &err), ==, 0);
	g_assert_no_error(err);
	for (guint i = 0; i < G_N_ELEMENTS(big); i++)
		g_assert_false(big[i].duplicate);
	g_assert_cmpint(store_probe(st, &err), ==, 0);
	store_close(&st);
	st = open_ok(path);
	g_assert_cmpuint(count_all(st), ==, 25);
	store_close(&st);
	umount_tmpfs(mnt);
	tmp_clear(&t);
}

/* Read-only: a file system remounted ro, or file modes when not root. */
static void
test_read_only(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autofree char *mnt = NULL, *path = NULL;
	struct store *st = NULL;
	gboolean root = getuid() == 0;

	tmp_init(&t);
	if (root) {
		mnt = g_build_filename(t.dir, "fs", NULL);
		if (!mount_tmpfs(mnt)) {
			tmp_clear(&t);
			return;
		}
	} else {
		mnt = g_build_filename(t.dir, "ro", NULL);
		g_assert_cmpint(g_mkdir(mnt, 0700), ==, 0);
	}
	path = g_build_filename(mnt, "otpbridge.db", NULL);
	st = open_ok(path);
	g_assert_cmpint(commit1(st, "k1", "i", T0), >, 0);
	/* A file system cannot go ro under open writers; close first. */
	store_close(&st);
	if (root) {
		const char *argv[] = { "mount", "-o", "remount,ro", mnt, NULL };
		g_assert_true(run(argv, NULL));
	} else {
		g_assert_cmpint(g_chmod(path, 0444), ==, 0);
		g_assert_cmpint(g_chmod(mnt, 0555), ==, 0);
	}
	/* Either open fails, or SQLite opens read-only and writes fail. */
	if (store_open(path, &st, &err) < 0) {
		assert_temp_clean(err, path);
		g_clear_error(&err);
	} else {
		g_assert_cmpint(count_all(st), ==, 1);
		{
			struct job_in j = job_at("k2", "i", T0);
			j.code = "SECRETCODE";
			g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, -1);
			assert_temp_clean(err, path);
			g_clear_error(&err);
			g_assert_cmpint(j.id, ==, 0);
		}
		g_assert_cmpint(store_probe(st, &err), ==, -1);
		assert_temp_clean(err, path);
		g_clear_error(&err);
		store_close(&st);
	}
	if (root) {
		const char *argv[] = { "mount", "-o", "remount,rw", mnt, NULL };
		g_assert_true(run(argv, NULL));
	} else {
		g_assert_cmpint(g_chmod(mnt, 0700), ==, 0);
		g_assert_cmpint(g_chmod(path, 0640), ==, 0);
	}
	st = open_ok(path);
	g_assert_cmpint(commit1(st, "k2", "i", T0), >, 0);
	g_assert_cmpuint(count_all(st), ==, 2);
	store_close(&st);
	if (root)
		umount_tmpfs(mnt);
	tmp_clear(&t);
}

/* ---- leases of processes that are gone ------------------------------------ */

/*
 * A child process that opens the store as a live owner of kind, commits
 * job key leased to itself for 1000 s, tells the owner id through a pipe
 * and waits to be killed (kill -9: no cleanup of any kind runs).
 */
static pid_t
live_child(const char *path, const char *kind, const char *key, char **owner_r)
{
	int fd[2];
	pid_t pid;
	char buf[128];
	ssize_t n;

	g_assert_cmpint(pipe(fd), ==, 0);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		GError *err = NULL;
		struct store *st = NULL;
		char *owner;
		struct job_in j = job_at(key, "i", T0);

		close(fd[0]);
		if (store_open(path, &st, &err) < 0 ||
		    (owner = store_live_owner(st, kind, &err)) == NULL)
			_exit(2);
		j.lease_owner = owner;
		j.lease_until = T0 + 1000;
		if (store_commit_jobs(st, &j, 1, &err) < 0)
			_exit(3);
		if (write(fd[1], owner, strlen(owner)) < 0)
			_exit(4);
		close(fd[1]);
		for (;;)
			pause();
	}
	close(fd[1]);
	n = read(fd[0], buf, sizeof(buf) - 1);
	close(fd[0]);
	g_assert_cmpint(n, >, 0);
	buf[n] = '\0';
	*owner_r = g_strdup(buf);
	return pid;
}

static void
kill9(pid_t pid)
{
	int status = 0;

	g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* The keys of the jobs a claim by "new" gets at T0 + 1, when every lease
 * committed below is live (they stay leased to "new" until T0 + 2). */
static char *
claimable(struct store *st)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(job_free);
	GString *s = g_string_new("");

	g_assert_cmpint(store_claim_due(st, "new", T0 + 1, T0 + 2, 100, a, &err), ==, 0);
	g_assert_no_error(err);
	for (guint i = 0; i < a->len; i++)
		g_string_append_printf(s, "%s%s", i ? " " : "",
		    ((struct job *)a->pdata[i])->dedup_key);
	return g_string_free(s, FALSE);
}

/*
 * A daemon killed with jobs leased: a new one voids those leases at start
 * (store_void_dead_leases) and claims the jobs at once, while the lease
 * of a live `deliver` stays, and so do owners not made by
 * store_live_owner() (older versions: they lapse).
 */
static void
test_dead_leases(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autofree char *dead = NULL, *live = NULL, *self = NULL, *got = NULL;
	struct store *st;
	pid_t d, l;
	guint n = 99;
	struct {
		const char *fmt;        /* "%d" stands for the dead daemon's pid */
		gboolean voided;
	} owners[] = {
		{ "daemon:%d:0badc0de", TRUE },     /* another nonce, same dead pid */
		{ "deliver:%d:00000000", TRUE },    /* any kind */
		{ "daemon:%d", FALSE },             /* the form of older versions */
		{ "daemon:%d:0badc0d", FALSE },     /* not a live owner's form */
		{ "daemon:%d:0badc0dex", FALSE },
		{ "daemon:%d:0badc0dg", FALSE },
		{ ":%d:0badc0de", FALSE },
		{ "daemon:0:0badc0de", FALSE },
		{ "daemon:-%d:0badc0de", FALSE },
		{ "daemon:%d0000000000:0badc0de", FALSE },
		{ "daemon", FALSE },
	};
	GString *want = g_string_new("dead");

	tmp_init(&t);
	/* The store exists before the children race to create it. */
	st = open_ok(t.path);
	store_close(&st);
	d = live_child(t.path, "daemon", "dead", &dead);
	l = live_child(t.path, "deliver", "live", &live);
	g_assert_true(g_str_has_prefix(dead, "daemon:"));
	g_assert_true(g_str_has_prefix(live, "deliver:"));
	st = open_ok(t.path);
	self = store_live_owner(st, "daemon", &err);
	g_assert_no_error(err);
	g_assert_nonnull(self);
	g_assert_cmpstr(self, !=, dead);
	/* Our own lease is never voided, even though our own lock is not
	 * seen through our own handle. */
	{
		struct job_in j = job_at("self", "i", T0);
		j.lease_owner = self;
		j.lease_until = T0 + 1000;
		g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	}

	/* Both alive: nothing is voided, nothing is due. */
	g_assert_cmpint(store_void_dead_leases(st, self, &n, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 0);
	got = claimable(st);
	g_assert_cmpstr(got, ==, "");
	g_clear_pointer(&got, g_free);

	kill9(d);
	for (guint i = 0; i < G_N_ELEMENTS(owners); i++) {
		g_autofree char *key = g_strdup_printf("o%u", i);
		g_autofree char *pid = g_strdup_printf("%d", (int)d);
		g_autoptr(GString) owner = g_string_new(owners[i].fmt);
		struct job_in j = job_at(key, "i", T0);

		g_string_replace(owner, "%d", pid, 0);
		j.lease_owner = owner->str;
		j.lease_until = T0 + 1000;
		g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
		if (owners[i].voided)
			g_string_append_printf(want, " %s", key);
	}
	/* The dead daemon's job, and the rows of the table that name a
	 * dead live owner, are due at once; the live deliver's is not. */
	g_assert_cmpint(store_void_dead_leases(st, self, &n, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(n, ==, 3);
	got = claimable(st);
	g_assert_cmpstr(got, ==, want->str);
	g_clear_pointer(&got, g_free);

	/* The deliver dies too: its lease goes the same way. */
	kill9(l);
	g_assert_cmpint(store_void_dead_leases(st, self, &n, &err), ==, 0);
	g_assert_cmpuint(n, ==, 1);
	got = claimable(st);
	g_assert_cmpstr(got, ==, "live");

	g_string_free(want, TRUE);
	store_close(&st);
	tmp_clear(&t);
}

/* ---- leases and outcomes ------------------------------------------------- */

static void
test_claim(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(job_free);
	g_autoptr(GPtrArray) b = g_ptr_array_new_with_free_func(job_free);
	struct store *st;
	gint64 id1, id2, id3, id4, when = -1;

	tmp_init(&t);
	st = open_ok(t.path);
	g_assert_cmpint(store_next_due(st, &when, &err), ==, 0);
	g_assert_cmpint(when, ==, 0);
	/* Committed out of order: claims go oldest first. */
	id2 = commit1(st, "k2", "i", T0 + 2);
	id1 = commit1(st, "k1", "i", T0 + 1);
	id3 = commit1(st, "k3", "i", T0 + 100);   /* not due before T0+100 */
	g_assert_cmpint(store_next_due(st, &when, &err), ==, 0);
	g_assert_cmpint(when, ==, T0 + 1);

	g_assert_cmpint(store_claim_due(st, "daemon", T0 + 10, T0 + 40, 10, a, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpuint(a->len, ==, 2);
	g_assert_cmpint(((struct job *)a->pdata[0])->id, ==, id1);
	g_assert_cmpint(((struct job *)a->pdata[1])->id, ==, id2);
	/* The other owner gets nothing while the lease holds, and neither
	 * does the owner itself: its own leased jobs are in flight ... */
	g_assert_cmpint(store_claim_due(st, "deliver", T0 + 20, T0 + 50, 10, b, &err), ==, 0);
	g_assert_cmpuint(b->len, ==, 0);
	g_assert_cmpint(store_claim_due(st, "daemon", T0 + 20, T0 + 50, 10, b, &err), ==, 0);
	g_assert_cmpuint(b->len, ==, 0);
	g_assert_cmpint(store_claim_job(st, id1, "deliver", T0 + 20, T0 + 50, &err), ==, 0);
	/* ... and next_due counts leased jobs from their lease's end. */
	g_assert_cmpint(store_next_due(st, &when, &err), ==, 0);
	g_assert_cmpint(when, ==, T0 + 41);
	/* Once it lapses, the job can be taken over. */
	g_assert_cmpint(store_claim_due(st, "deliver", T0 + 41, T0 + 70, 1, b, &err), ==, 0);
	g_assert_cmpuint(b->len, ==, 1);
	g_assert_cmpint(((struct job *)b->pdata[0])->id, ==, id1);
	g_assert_cmpint(store_claim_job(st, id2, "deliver", T0 + 41, T0 + 70, &err), ==, 1);
	g_assert_cmpint(store_claim_job(st, id2, "daemon", T0 + 42, T0 + 70, &err), ==, 0);
	/* The owner itself may take its own lease again (a restart). */
	g_assert_cmpint(store_claim_job(st, id2, "deliver", T0 + 42, T0 + 80, &err), ==, 1);
	/* A limit is a limit. */
	g_ptr_array_set_size(a, 0);
	g_assert_cmpint(store_claim_due(st, "x", T0 + 500, T0 + 530, 0, a, &err), ==, 0);
	g_assert_cmpuint(a->len, ==, 0);
	g_assert_cmpint(store_claim_due(st, "x", T0 + 500, T0 + 530, 1, a, &err), ==, 0);
	g_assert_cmpuint(a->len, ==, 1);
	g_assert_cmpint(((struct job *)a->pdata[0])->id, ==, id1);
	/* A job past its expiry is never handed out. */
	g_assert_cmpint(store_claim_job(st, id3, "x", T0 + 701, T0 + 730, &err), ==, 0);
	g_ptr_array_set_size(a, 0);
	g_assert_cmpint(store_claim_due(st, "x", T0 + 701, T0 + 730, 10, a, &err), ==, 0);
	g_assert_cmpuint(a->len, ==, 0);
	/* A job committed with a lease starts leased to its owner. */
	{
		struct job_in j = job_at("k4", "i", T0);
		j.lease_owner = "daemon";
		j.lease_until = T0 + 30;
		g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
		id4 = j.id;
	}
	g_assert_cmpint(store_claim_job(st, id4, "deliver", T0 + 1, T0 + 30, &err), ==, 0);
	g_assert_cmpint(store_claim_job(st, id4, "daemon", T0 + 1, T0 + 30, &err), ==, 1);
	g_assert_cmpint(store_claim_job(st, 999999, "daemon", T0 + 1, T0 + 30, &err), ==, 0);
	g_assert_no_error(err);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_outcomes(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) longr = g_string_new(NULL);
	g_autoptr(GString) utf = g_string_new(NULL);
	struct store *st;
	struct job *j;
	gint64 a, b, c;

	tmp_init(&t);
	st = open_ok(t.path);
	a = commit1(st, "a", "i", T0);
	b = commit1(st, "b", "i", T0);
	c = commit1(st, "c", "i", T0);
	for (guint i = 0; i < 3000; i++)
		g_string_append_c(longr, (char)('a' + i % 26));
	for (guint i = 0; i < 700; i++)
		g_string_append(utf, "\xc3\xa9");   /* é */
	g_string_prepend_c(utf, 'x');           /* byte 1024 is now mid-character */

	/* Retry: attempts counted, next attempt set, lease cleared, still pending. */
	g_assert_cmpint(store_claim_job(st, a, "d", T0, T0 + 30, &err), ==, 1);
	g_assert_cmpint(store_job_retry(st, a, T0 + 1, T0 + 5, 502, longr->str, &err), ==, 0);
	g_assert_no_error(err);
	{
		g_autoptr(GPtrArray) keep = NULL;
		j = testutil_store_job(st, a, &keep);
		g_assert_cmpint(j->state, ==, JOB_PENDING);
		g_assert_cmpuint(j->attempts, ==, 1);
		g_assert_cmpint(j->next_attempt, ==, T0 + 5);
		g_assert_cmpint(j->last_status, ==, 502);
		g_assert_cmpuint(strlen(j->last_reply), ==, STORE_REPLY_MAX);
		g_assert_true(strncmp(j->last_reply, longr->str, STORE_REPLY_MAX) == 0);
		g_assert_cmpint(j->updated, ==, T0 + 1);
	}
	/* The lease is gone: another owner may claim it now. */
	g_assert_cmpint(store_claim_job(st, a, "other", T0 + 5, T0 + 30, &err), ==, 1);
	g_assert_cmpint(store_job_retry(st, a, T0 + 6, T0 + 8, 0, NULL, &err), ==, 0);
	g_assert_cmpint(store_job_delivered(st, a, T0 + 9, 200, "{\"code\":\"123456\"}",
	    "totp_1", &err), ==, 0);
	{
		g_autoptr(GPtrArray) keep = NULL;
		j = testutil_store_job(st, a, &keep);
		g_assert_cmpint(j->state, ==, JOB_DELIVERED);
		g_assert_cmpuint(j->attempts, ==, 3);
		g_assert_cmpint(j->last_status, ==, 200);
		g_assert_cmpstr(j->last_reply, ==, "{\"code\":\"123456\"}");
		g_assert_cmpstr(j->remote_id, ==, "totp_1");
	}
	/* Failed, with a UTF-8 reply cut on a character boundary. */
	g_assert_cmpint(store_job_failed(st, b, T0 + 2, 403, utf->str, &err), ==, 0);
	{
		g_autoptr(GPtrArray) keep = NULL;
		j = testutil_store_job(st, b, &keep);
		g_assert_cmpint(j->state, ==, JOB_FAILED);
		g_assert_cmpuint(j->attempts, ==, 1);
		g_assert_cmpint(j->last_status, ==, 403);
		g_assert_cmpuint(strlen(j->last_reply), ==, STORE_REPLY_MAX - 1);
		g_assert_true(g_utf8_validate(j->last_reply, -1, NULL));
		g_assert_null(j->remote_id);
	}
	/* Invalid UTF-8 from the endpoint is stored valid. */
	g_assert_cmpint(store_job_failed(st, c, T0 + 2, 400, "bad \xff\xfe reply", &err), ==, 0);
	{
		g_autoptr(GPtrArray) keep = NULL;
		j = testutil_store_job(st, c, &keep);
		g_assert_true(g_utf8_validate(j->last_reply, -1, NULL));
		g_assert_true(g_str_has_prefix(j->last_reply, "bad "));
		g_assert_true(g_str_has_suffix(j->last_reply, " reply"));
	}
	/* An outcome for a job dropped meanwhile is not an error. */
	g_assert_cmpint(store_drop(st, c, &err), ==, 1);
	g_assert_cmpint(store_job_failed(st, c, T0 + 3, 400, NULL, &err), ==, 0);
	g_assert_no_error(err);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_expire(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st;
	guint n = 99;
	guint64 c[JOB_STATES];
	gint64 a, b, leased;

	tmp_init(&t);
	st = open_ok(t.path);
	a = commit1(st, "a", "i", T0);          /* expires T0+600 */
	b = commit1(st, "b", "i", T0 + 300);    /* expires T0+900 */
	leased = commit1(st, "l", "i", T0);
	g_assert_cmpint(store_claim_job(st, leased, "d", T0 + 590, T0 + 620, &err), ==, 1);
	g_assert_cmpint(store_expire(st, T0 + 600, &n, &err), ==, 0);
	g_assert_cmpuint(n, ==, 0);             /* at expiry, not past it */
	g_assert_cmpint(store_expire(st, T0 + 601, &n, &err), ==, 0);
	g_assert_cmpuint(n, ==, 1);             /* a; the leased one is in flight */
	counts(st, c);
	g_assert_cmpuint(c[JOB_EXPIRED], ==, 1);
	g_assert_cmpuint(c[JOB_PENDING], ==, 2);
	/* Once the lease lapses, it expires too. */
	g_assert_cmpint(store_expire(st, T0 + 621, &n, &err), ==, 0);
	g_assert_cmpuint(n, ==, 1);
	/* A delivered job never expires. */
	g_assert_cmpint(store_job_delivered(st, b, T0 + 301, 200, NULL, NULL, &err), ==, 0);
	g_assert_cmpint(store_expire(st, T0 + 10000, &n, &err), ==, 0);
	g_assert_cmpuint(n, ==, 0);
	counts(st, c);
	g_assert_cmpuint(c[JOB_EXPIRED], ==, 2);
	g_assert_cmpuint(c[JOB_DELIVERED], ==, 1);
	g_assert_cmpint(a, >, 0);
	g_assert_no_error(err);
	store_close(&st);
	tmp_clear(&t);
}

/* ---- queue commands ------------------------------------------------------- */

static void
test_list_requeue_drop(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(job_free);
	struct store *st;
	gint64 ids[5];
	guint n;
	guint64 c[JOB_STATES];

	tmp_init(&t);
	st = open_ok(t.path);
	for (guint i = 0; i < 5; i++) {
		char key[8];
		g_snprintf(key, sizeof(key), "k%u", i);
		ids[i] = commit1(st, key, "i", T0 + i);
	}
	g_assert_cmpint(store_list(st, 3, out, &err), ==, 0);
	g_assert_cmpuint(out->len, ==, 3);
	g_assert_cmpint(((struct job *)out->pdata[0])->id, ==, ids[4]);
	g_assert_cmpint(((struct job *)out->pdata[1])->id, ==, ids[3]);
	g_assert_cmpint(((struct job *)out->pdata[2])->id, ==, ids[2]);
	g_ptr_array_set_size(out, 0);
	g_assert_cmpint(store_list(st, 0, out, &err), ==, 0);
	g_assert_cmpuint(out->len, ==, 0);

	/* failed -> pending, due now, fresh expiry. */
	g_assert_cmpint(store_job_failed(st, ids[0], T0 + 10, 400, "no", &err), ==, 0);
	g_assert_cmpint(store_requeue(st, ids[0], T0 + 5000, 600, &err), ==, 1);
	/* expired -> pending. */
	g_assert_cmpint(store_expire(st, T0 + 5000, &n, &err), ==, 0);
	g_assert_cmpuint(n, ==, 4);
	g_assert_cmpint(store_requeue(st, ids[1], T0 + 5000, 600, &err), ==, 1);
	{
		g_autoptr(GPtrArray) keep = NULL;
		struct job *j = testutil_store_job(st, ids[0], &keep);
		g_assert_cmpint(j->state, ==, JOB_PENDING);
		g_assert_cmpint(j->next_attempt, ==, T0 + 5000);
		g_assert_cmpint(j->expires, ==, T0 + 5600);
	}
	g_ptr_array_set_size(out, 0);
	g_assert_cmpint(store_claim_due(st, "d", T0 + 5000, T0 + 5030, 10, out, &err), ==, 0);
	g_assert_cmpuint(out->len, ==, 2);
	/* delivered: not requeued (a stale code would beat a newer one). */
	g_assert_cmpint(store_job_delivered(st, ids[0], T0 + 5001, 200, NULL, NULL, &err), ==, 0);
	g_assert_cmpint(store_requeue(st, ids[0], T0 + 5002, 600, &err), ==, 0);
	g_assert_cmpint(store_requeue(st, 424242, T0 + 5002, 600, &err), ==, 0);

	g_assert_cmpint(store_drop(st, ids[2], &err), ==, 1);
	g_assert_cmpint(store_drop(st, ids[2], &err), ==, 0);
	g_assert_no_error(err);
	counts(st, c);
	g_assert_cmpuint(c[JOB_PENDING], ==, 1);
	g_assert_cmpuint(c[JOB_DELIVERED], ==, 1);
	g_assert_cmpuint(c[JOB_FAILED], ==, 0);
	g_assert_cmpuint(c[JOB_EXPIRED], ==, 2);
	/* ids are never reused, so a stale `retry ID` cannot hit a new job. */
	g_assert_cmpint(store_drop(st, ids[4], &err), ==, 1);
	g_assert_cmpint(commit1(st, "k5", "i", T0), >, ids[4]);
	g_assert_cmpstr(job_state_names[JOB_EXPIRED], ==, "expired");
	g_assert_cmpstr(job_state_names[JOB_SUPERSEDED], ==, "superseded");
	g_assert_null(job_state_names[JOB_STATES]);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_prune(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autofree char *who = NULL;
	struct store *st;
	gint64 old_done, new_done, old_pending, old_failed;
	guint64 c[JOB_STATES];

	tmp_init(&t);
	st = open_ok(t.path);
	old_done = commit1(st, "a", "i", T0);
	old_failed = commit1(st, "b", "i", T0);
	old_pending = commit1(st, "c", "i", T0);
	new_done = commit1(st, "d", "i", T0 + 5 * 86400);
	g_assert_cmpint(commit1(st, "e", "i", T0 + 8 * 86400 - 100), >, 0);
	g_assert_cmpint(store_job_delivered(st, old_done, T0 + 1, 200, NULL, NULL, &err), ==, 0);
	g_assert_cmpint(store_code_handout(st, old_done, "run1", T0 + 2, &err), ==, 0);
	g_assert_cmpint(store_job_failed(st, old_failed, T0 + 1, 400, NULL, &err), ==, 0);
	g_assert_cmpint(store_job_delivered(st, new_done, T0 + 5 * 86400, 200, NULL, NULL,
	    &err), ==, 0);
	/* Retention 7 days, now = T0 + 8 days. */
	g_assert_cmpint(store_prune(st, T0 + 8 * 86400, 7 * 86400, &err), ==, 0);
	g_assert_no_error(err);
	counts(st, c);
	g_assert_cmpuint(c[JOB_PENDING], ==, 2);     /* never pruned */
	g_assert_cmpuint(c[JOB_DELIVERED], ==, 1);   /* new_done */
	g_assert_cmpuint(c[JOB_FAILED], ==, 0);
	/* The handout went with its job. */
	g_assert_cmpint(store_code_consumer(st, old_done, &who, &err), ==, 0);
	g_assert_null(who);
	/* Dedup rows older than the window are gone: "a" commits again, even
	 * at a time that would still fall within 24 h of the pruned row. */
	g_assert_cmpint(commit1(st, "a", "i", T0 + 3600), >, 0);
	/* ... while a recent one stays. */
	g_assert_cmpint(commit1(st, "e", "i", T0 + 8 * 86400), ==, 0);
	g_assert_cmpint(old_pending, >, 0);
	store_close(&st);
	tmp_clear(&t);
}

/* ---- pull side, IMAP, probe ---------------------------------------------- */

/*
 * The pull side's choice (SPEC 1.2): per row, the jobs committed, then
 * what a pull for an identifier naming (task_id, workflow_run_id) gets.
 */
static void
test_pull_code(void)
{
	static const struct { const char *ident, *run_tag, *code; gint64 at; } jobs[] = {
		{ "bot@example.com", NULL, "100001", 10 },
		{ "bot+wr_7@example.com", NULL, "100002", 5 },      /* run 7's +address */
		{ "bot+tsk_3@example.com", NULL, "100003", 4 },     /* task 3's */
		{ "bot+news@example.com", NULL, "100004", 20 },     /* a +detail, not a run */
		{ "bot@example.com", "WR_9", "100005", 3 },         /* pushed for run 9 */
		{ "solo+wr_1@example.com", NULL, "100006", 2 },
		{ "fixed@example.com", "wr_2", "100007", 2 },
		{ "+1 555 0100", NULL, "100008", 2 },
	};
	static const struct { const char *ident, *task, *run, *want; gboolean tagged; } q[] = {
		{ "bot@example.com", NULL, NULL, "100001", FALSE },
		{ "bot@example.com", "tsk_1", "wr_1", "100001", FALSE },
		{ "bot@example.com", NULL, "wr_7", "100002", TRUE },   /* older, but its own */
		{ "bot@example.com", "TSK_3", "wr_1", "100003", TRUE },
		{ "bot@example.com", "tsk_3", "wr_7", "100002", TRUE }, /* both: the newer */
		{ "bot@example.com", NULL, "wr_9", "100005", TRUE },
		{ "bot+news@example.com", "tsk_1", "wr_1", "100004", FALSE },
		{ "bot+news@example.com", NULL, "news", "100004", TRUE },
		{ "bot+wr_7@example.com", NULL, "wr_7", "100002", TRUE },
		{ "bot+wr_7@example.com", "tsk_1", "wr_1", NULL, FALSE }, /* run 7's, not 1's */
		{ "solo@example.com", NULL, "wr_2", NULL, FALSE },
		{ "solo@example.com", NULL, NULL, NULL, FALSE },
		{ "solo@example.com", NULL, "wr_1", "100006", TRUE },
		{ "fixed@example.com", NULL, NULL, NULL, FALSE },
		{ "fixed@example.com", "tsk_9", "wr_3", NULL, FALSE },
		{ "fixed@example.com", NULL, "wr_2", "100007", TRUE },
		{ "+1 555 0100", "tsk_1", NULL, "100008", FALSE },
		{ "nobody@example.com", "tsk_1", "wr_7", NULL, FALSE },
	};
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st;

	tmp_init(&t);
	st = open_ok(t.path);
	for (guint i = 0; i < G_N_ELEMENTS(jobs); i++) {
		char key[16];
		struct job_in j;

		g_snprintf(key, sizeof key, "<p%u@x>", i);
		j = job_at(key, jobs[i].ident, T0 + jobs[i].at);
		j.code = jobs[i].code;
		j.run_tag = jobs[i].run_tag;
		g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	}
	for (guint i = 0; i < G_N_ELEMENTS(q); i++) {
		const char *ids[2] = { q[i].task, q[i].run };
		g_autofree char *code = NULL;
		gint64 id = 0;
		gboolean tagged = FALSE;

		g_test_message("row %u: %s %s %s", i, q[i].ident, q[i].task, q[i].run);
		g_assert_cmpint(store_pull_code(st, q[i].ident, ids, T0, &code, &id,
		    &tagged, &err), ==, 0);
		g_assert_cmpstr(code, ==, q[i].want);
		g_assert_cmpint(tagged, ==, q[i].tagged);
		g_assert_true((id != 0) == (q[i].want != NULL));
	}
	store_close(&st);
	tmp_clear(&t);
}

/* A v1 store (jobs, no pull tables) opens as v2 and keeps its jobs; the
 * pull-body bindings survive a reopen and the first one stays. */
static void
test_migrate_v2(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autofree char *cli = g_find_program_in_path("sqlite3");
	g_autofree char *bound = NULL;
	g_autofree char *code = NULL;
	const char *ids[2] = { NULL, "wr_1" };
	struct store *st;
	struct job_in j;
	gint64 first = 0, id = 0;
	gboolean tagged = FALSE;

	if (cli == NULL) {
		g_test_skip("the sqlite3 command is not installed");
		return;
	}
	tmp_init(&t);
	st = open_ok(t.path);
	store_close(&st);
	{
		const char *argv[] = { cli, t.path, "DROP TABLE pull_bodies;"
		    "DROP INDEX jobs_code_base; ALTER TABLE jobs DROP COLUMN base;"
		    "ALTER TABLE jobs DROP COLUMN plus_tag; ALTER TABLE jobs DROP COLUMN run_tag;"
		    "INSERT INTO jobs (dedup_key, identifier, body, code, created, expires,"
		    " next_attempt, updated) VALUES ('<v1@x>', 'bot+wr_1@example.com', '{}',"
		    " '424242', 1000, 1600, 1000, 1000);"
		    "PRAGMA user_version = 1;", NULL };
		g_assert_true(run(argv, NULL));
	}
	st = open_ok(t.path);
	g_assert_cmpuint(count_all(st), ==, 1);
	/* a v1 row has no tags: found by its own identifier only */
	g_assert_cmpint(store_pull_code(st, "bot+wr_1@example.com", ids, 0, &code, &id,
	    &tagged, &err), ==, 0);
	g_assert_cmpstr(code, ==, "424242");
	g_clear_pointer(&code, g_free);
	j = job_at("<v2@x>", "bot+wr_1@example.com", 2000);
	j.code = "434343";
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	g_assert_cmpint(store_pull_code(st, "bot@example.com", ids, 0, &code, &id,
	    &tagged, &err), ==, 0);
	g_assert_cmpstr(code, ==, "434343");
	g_assert_true(tagged);
	g_assert_cmpint(store_pull_body_set(st, "d1", "bot@example.com", 5, &err), ==, 0);
	g_assert_cmpint(store_pull_body_set(st, "d1", "evil@example.com", 6, &err), ==, 0);
	store_close(&st);
	st = open_ok(t.path);
	g_assert_cmpint(store_pull_body_get(st, "d1", &bound, &first, &err), ==, 0);
	g_assert_cmpstr(bound, ==, "bot@example.com");
	g_assert_cmpint(first, ==, 5);
	g_clear_pointer(&bound, g_free);
	g_assert_cmpint(store_pull_body_get(st, "d2", &bound, &first, &err), ==, 0);
	g_assert_null(bound);
	g_assert_no_error(err);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_latest_code(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st;
	struct job_in j;
	char *code = NULL;
	gint64 id = -1, newest;

	tmp_init(&t);
	st = open_ok(t.path);
	g_assert_cmpint(store_latest_code(st, "bot@example.com", 0, &code, &id, &err), ==, 0);
	g_assert_null(code);
	g_assert_cmpint(id, ==, 0);

	j = job_at("1", "bot@example.com", T0);
	j.code = "111111";
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	j = job_at("2", "bot@example.com", T0 + 20);
	j.code = "222222";
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	newest = j.id;
	/* Committed later but arrived earlier: not the newest. */
	j = job_at("3", "bot@example.com", T0 + 10);
	j.code = "333333";
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	/* A link/text job carries no code. */
	j = job_at("4", "bot@example.com", T0 + 30);
	j.code = NULL;
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	/* Another identifier. */
	j = job_at("5", "other@example.com", T0 + 40);
	j.code = "555555";
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);

	g_assert_cmpint(store_latest_code(st, "bot@example.com", T0, &code, &id, &err), ==, 0);
	g_assert_cmpstr(code, ==, "222222");
	g_assert_cmpint(id, ==, newest);
	g_clear_pointer(&code, g_free);
	/* Whatever the push state. */
	g_assert_cmpint(store_job_failed(st, newest, T0 + 21, 400, NULL, &err), ==, 0);
	g_assert_cmpint(store_latest_code(st, "bot@example.com", T0 + 20, &code, &id, &err), ==, 0);
	g_assert_cmpstr(code, ==, "222222");
	g_clear_pointer(&code, g_free);
	/* Older than since: none. */
	g_assert_cmpint(store_latest_code(st, "bot@example.com", T0 + 21, &code, &id, &err), ==, 0);
	g_assert_null(code);
	g_assert_cmpint(id, ==, 0);
	g_assert_cmpint(store_latest_code(st, "nobody@example.com", 0, &code, &id, &err), ==, 0);
	g_assert_null(code);
	g_assert_no_error(err);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_handout(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st;
	char *who = NULL;
	gint64 id;

	tmp_init(&t);
	st = open_ok(t.path);
	id = commit1(st, "k", "i", T0);
	g_assert_cmpint(store_code_consumer(st, id, &who, &err), ==, 0);
	g_assert_null(who);
	g_assert_cmpint(store_code_handout(st, id, "wr_1", T0 + 1, &err), ==, 0);
	/* Skyvern polls again: the same consumer twice is one handout. */
	g_assert_cmpint(store_code_handout(st, id, "wr_1", T0 + 11, &err), ==, 0);
	g_assert_cmpint(store_code_handout(st, id, "wr_2", T0 + 12, &err), ==, 0);
	g_assert_no_error(err);
	/* The first consumer is the one reported. */
	g_assert_cmpint(store_code_consumer(st, id, &who, &err), ==, 0);
	g_assert_cmpstr(who, ==, "wr_1");
	g_clear_pointer(&who, g_free);
	/* A handout of a job that does not exist is refused. */
	g_assert_cmpint(store_code_handout(st, id + 100, "wr_3", T0, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_DATA);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_imap_state(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st;
	guint32 v = 1, u = 1;
	gboolean found = TRUE;

	tmp_init(&t);
	st = open_ok(t.path);
	g_assert_cmpint(store_imap_get(st, "work", "INBOX", &v, &u, &found, &err), ==, 0);
	g_assert_false(found);
	g_assert_cmpint(store_imap_set(st, "work", "INBOX", 1234, 10, &err), ==, 0);
	g_assert_cmpint(store_imap_set(st, "work", "Codes", 99, 5, &err), ==, 0);
	g_assert_cmpint(store_imap_set(st, "home", "INBOX", 7, 1, &err), ==, 0);
	g_assert_cmpint(store_imap_set(st, "work", "INBOX", 1234, 42, &err), ==, 0);
	/* The full guint32 range survives. */
	g_assert_cmpint(store_imap_set(st, "big", "INBOX", G_MAXUINT32, G_MAXUINT32 - 1,
	    &err), ==, 0);
	g_assert_no_error(err);
	store_close(&st);
	st = open_ok(t.path);
	g_assert_cmpint(store_imap_get(st, "work", "INBOX", &v, &u, &found, &err), ==, 0);
	g_assert_true(found);
	g_assert_cmpuint(v, ==, 1234);
	g_assert_cmpuint(u, ==, 42);
	g_assert_cmpint(store_imap_get(st, "work", "Codes", &v, &u, &found, &err), ==, 0);
	g_assert_cmpuint(v, ==, 99);
	g_assert_cmpuint(u, ==, 5);
	g_assert_cmpint(store_imap_get(st, "big", "INBOX", &v, &u, &found, &err), ==, 0);
	g_assert_cmpuint(v, ==, G_MAXUINT32);
	g_assert_cmpuint(u, ==, G_MAXUINT32 - 1);
	/* UIDVALIDITY changed: the caller resyncs and stores the new pair. */
	g_assert_cmpint(store_imap_set(st, "work", "INBOX", 5678, 0, &err), ==, 0);
	g_assert_cmpint(store_imap_get(st, "work", "INBOX", &v, &u, &found, &err), ==, 0);
	g_assert_cmpuint(v, ==, 5678);
	g_assert_cmpuint(u, ==, 0);
	g_assert_cmpint(store_imap_get(st, "home", "Other", &v, &u, &found, &err), ==, 0);
	g_assert_false(found);
	g_assert_no_error(err);
	store_close(&st);
	tmp_clear(&t);
}

static void
test_probe(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st;

	tmp_init(&t);
	st = open_ok(t.path);
	for (guint i = 0; i < 3; i++) {
		g_assert_cmpint(store_probe(st, &err), ==, 0);
		g_assert_no_error(err);
	}
	g_assert_cmpuint(count_all(st), ==, 0);   /* touches no job */
	store_close(&st);
	tmp_clear(&t);
}

/* ---- two handles, two threads --------------------------------------------- */

#define CONC_JOBS 500

struct worker {
	const char *path;
	const char *name;
	GPtrArray *claimed;   /* gint64 ids, as pointers */
	guint committed;
	guint failures;
};

/* Commits CONC_JOBS jobs one per transaction, then claims until dry. */
static gpointer
worker_run(gpointer data)
{
	struct worker *w = data;
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;

	if (store_open(w->path, &st, &err) < 0) {
		g_printerr("%s: %s\n", w->name, err->message);
		w->failures++;
		return NULL;
	}
	for (guint i = 0; i < CONC_JOBS; i++) {
		char key[64];
		struct job_in j;

		g_snprintf(key, sizeof(key), "<%s-%u@x>", w->name, i);
		j = job_at(key, "i", T0 + i);
		if (store_commit_jobs(st, &j, 1, &err) < 0) {
			g_printerr("%s: %s\n", w->name, err->message);
			g_clear_error(&err);
			w->failures++;
			continue;
		}
		if (j.id > 0)
			w->committed++;
	}
	/* Both claim concurrently, a few at a time, and finish each job. */
	for (guint round = 0; round < 4 * CONC_JOBS; round++) {
		g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(job_free);

		if (store_claim_due(st, w->name, T0 + 600, T0 + 900, 7, got, &err) < 0) {
			g_printerr("%s: %s\n", w->name, err->message);
			g_clear_error(&err);
			w->failures++;
			continue;
		}
		if (got->len == 0)
			break;
		for (guint i = 0; i < got->len; i++) {
			struct job *j = got->pdata[i];

			g_ptr_array_add(w->claimed, GINT_TO_POINTER((gint)j->id));
			if (store_job_delivered(st, j->id, T0 + 601, 200, "{}", "r", &err) < 0) {
				g_printerr("%s: %s\n", w->name, err->message);
				g_clear_error(&err);
				w->failures++;
			}
		}
	}
	store_close(&st);
	return NULL;
}

static void
test_two_handles(void)
{
	struct tmp t;
	struct worker w[2] = {
		{ .name = "daemon" },
		{ .name = "deliver" },
	};
	GThread *th[2];
	g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash, g_direct_equal);
	struct store *st;
	guint64 c[JOB_STATES];

	tmp_init(&t);
	/* Create the file first so the workers race on writes, not creation. */
	st = open_ok(t.path);
	store_close(&st);
	for (guint i = 0; i < 2; i++) {
		w[i].path = t.path;
		w[i].claimed = g_ptr_array_new();
		th[i] = g_thread_new(w[i].name, worker_run, &w[i]);
	}
	for (guint i = 0; i < 2; i++)
		g_thread_join(th[i]);
	for (guint i = 0; i < 2; i++) {
		g_assert_cmpuint(w[i].failures, ==, 0);
		g_assert_cmpuint(w[i].committed, ==, CONC_JOBS);
		for (guint k = 0; k < w[i].claimed->len; k++) {
			gpointer id = w[i].claimed->pdata[k];
			/* No job was leased to both. */
			g_assert_false(g_hash_table_contains(seen, id));
			g_hash_table_add(seen, id);
		}
		g_test_message("%s claimed %u jobs", w[i].name, w[i].claimed->len);
		g_ptr_array_unref(w[i].claimed);
	}
	g_assert_cmpuint(g_hash_table_size(seen), ==, 2 * CONC_JOBS);
	st = open_ok(t.path);
	counts(st, c);
	g_assert_cmpuint(c[JOB_DELIVERED], ==, 2 * CONC_JOBS);
	g_assert_cmpuint(c[JOB_PENDING], ==, 0);
	store_close(&st);
	tmp_clear(&t);
}

/* ---- superseding (SPEC 5: a stale code never follows a fresh one) -------- */

/* A job of ident routed to run (NULL: none), created at t. */
static struct job_in
job_run(const char *key, const char *ident, const char *run, gint64 t)
{
	struct job_in j = job_at(key, ident, t);

	j.body = body_for(run);
	return j;
}

/* Commits one job (routed to run) and returns it with its out fields. */
static struct job_in
commit_run(struct store *st, const char *key, const char *ident, const char *run,
    gint64 t, const char *owner, gint64 lease_until)
{
	g_autoptr(GError) err = NULL;
	struct job_in j = job_run(key, ident, run, t);

	j.lease_owner = owner;
	j.lease_until = lease_until;
	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(j.id, >, 0);
	return j;
}

static enum job_state
state_of(struct store *st, gint64 id)
{
	g_autoptr(GPtrArray) keep = NULL;
	struct job *j = testutil_store_job(st, id, &keep);

	g_assert_nonnull(j);
	return j->state;
}

/* The ids store_claim_due gives owner at now, in order, as "1,2". */
static char *
claim_ids(struct store *st, const char *owner, gint64 now)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(job_free);
	GString *s = g_string_new(NULL);

	g_assert_cmpint(store_claim_due(st, owner, now, now + 30, 100, got, &err), ==, 0);
	g_assert_no_error(err);
	for (guint i = 0; i < got->len; i++)
		g_string_append_printf(s, "%s%" G_GINT64_FORMAT, i > 0 ? "," : "",
		    ((struct job *)got->pdata[i])->id);
	return g_string_free(s, FALSE);
}

/* Not in flight: older pending jobs of the scope are superseded at once,
 * a late older one is born superseded, other scopes are left alone, and
 * the rule holds after a reopen. */
static void
test_supersede(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st;
	struct job_in a, b, c, late, r1, r2, other, batch[3];
	guint64 cnt[JOB_STATES];
	char *ids;

	tmp_init(&t);
	st = open_ok(t.path);
	a = commit_run(st, "a", "bot@x", NULL, T0, NULL, 0);
	g_assert_false(a.held);
	g_assert_cmpuint(a.superseded, ==, 0);
	/* Another run's code and another identifier's: scopes of their own. */
	r1 = commit_run(st, "r1", "bot@x", "wr_1", T0 + 1, NULL, 0);
	other = commit_run(st, "o", "other@x", NULL, T0 + 1, NULL, 0);
	b = commit_run(st, "b", "bot@x", NULL, T0 + 5, NULL, 0);
	g_assert_false(b.held);
	g_assert_cmpuint(b.superseded, ==, 1);
	g_assert_cmpint(state_of(st, a.id), ==, JOB_SUPERSEDED);
	g_assert_cmpint(state_of(st, b.id), ==, JOB_PENDING);
	g_assert_cmpint(state_of(st, r1.id), ==, JOB_PENDING);
	g_assert_cmpint(state_of(st, other.id), ==, JOB_PENDING);
	r2 = commit_run(st, "r2", "bot@x", "wr_2", T0 + 6, NULL, 0);
	g_assert_cmpuint(r2.superseded, ==, 0);
	g_assert_cmpint(state_of(st, r1.id), ==, JOB_PENDING);
	/* A code that arrived before b, committed after it (an IMAP mail
	 * fetched late): born superseded, never pushed. */
	late = commit_run(st, "late", "bot@x", NULL, T0 + 3, "daemon", T0 + 100);
	g_assert_true(late.held);
	g_assert_cmpuint(late.superseded, ==, 1);
	g_assert_cmpint(state_of(st, late.id), ==, JOB_SUPERSEDED);
	g_assert_cmpint(state_of(st, b.id), ==, JOB_PENDING);

	/* The rule is in the store: after a reopen neither a nor late is
	 * ever claimed, and neither can be queued again. */
	store_close(&st);
	st = open_ok(t.path);
	ids = claim_ids(st, "daemon", T0 + 10);
	{
		g_autofree char *want = g_strdup_printf("%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT
		    ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT, r1.id, other.id, b.id, r2.id);
		g_assert_cmpstr(ids, ==, want);
	}
	g_free(ids);
	g_assert_cmpint(store_requeue(st, a.id, T0 + 10, 600, &err), ==, 0);
	g_assert_cmpint(store_requeue(st, late.id, T0 + 10, 600, &err), ==, 0);
	g_assert_no_error(err);
	/* b delivered: a failed job older than b is not queued again either. */
	g_assert_cmpint(store_job_delivered(st, b.id, T0 + 11, 200, "{}", "tc_1", &err), ==, 0);
	g_assert_cmpint(store_job_failed(st, r1.id, T0 + 11, 400, "{}", &err), ==, 0);
	c = commit_run(st, "c", "bot@x", NULL, T0 + 2, NULL, 0);
	g_assert_true(c.held);
	g_assert_cmpint(state_of(st, c.id), ==, JOB_SUPERSEDED);
	/* r1 has no newer job of its run: `retry` may take it. */
	g_assert_cmpint(store_requeue(st, r1.id, T0 + 12, 600, &err), ==, 1);
	g_assert_no_error(err);

	/* One batch, two codes of one scope: the first is superseded and
	 * loses its lease, the second is pushed; another scope is apart. */
	batch[0] = job_run("n1", "new@x", NULL, T0 + 20);
	batch[1] = job_run("n2", "new@x", "wr_9", T0 + 20);
	batch[2] = job_run("n3", "new@x", NULL, T0 + 20);
	for (guint i = 0; i < 3; i++) {
		batch[i].lease_owner = "daemon";
		batch[i].lease_until = g_get_real_time() / G_USEC_PER_SEC + 100;
	}
	g_assert_cmpint(store_commit_jobs(st, batch, 3, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_true(batch[0].held);
	g_assert_cmpuint(batch[0].superseded, ==, 1);
	g_assert_false(batch[1].held);
	g_assert_false(batch[2].held);
	g_assert_cmpuint(batch[2].superseded, ==, 0);
	g_assert_cmpint(state_of(st, batch[0].id), ==, JOB_SUPERSEDED);
	g_assert_cmpint(state_of(st, batch[2].id), ==, JOB_PENDING);
	counts(st, cnt);
	g_assert_cmpuint(cnt[JOB_SUPERSEDED], ==, 4);
	store_close(&st);
	tmp_clear(&t);
}

/* In flight: a push under a live lease keeps it, its retry leaves it
 * superseded, and the newer job waits for that push to end. */
static void
test_supersede_inflight(void)
{
	struct tmp t;
	g_autoptr(GError) err = NULL;
	struct store *st;
	struct job_in a, b, c;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC, when = 0;
	char *ids;

	tmp_init(&t);
	st = open_ok(t.path);
	/* a is being pushed by the daemon; b comes through `deliver`. */
	a = commit_run(st, "a", "bot@x", NULL, now - 2, "daemon:1", now + 60);
	g_assert_false(a.held);
	b = commit_run(st, "b", "bot@x", NULL, now - 1, "deliver:2", now + 60);
	g_assert_true(b.held);                    /* not pushed by deliver */
	g_assert_cmpuint(b.superseded, ==, 0);    /* a's attempt will tell */
	g_assert_cmpint(state_of(st, a.id), ==, JOB_SUPERSEDED);
	g_assert_cmpint(state_of(st, b.id), ==, JOB_PENDING);
	/* Nobody takes b while a's push is under way, and the next look is
	 * due when a's lease ends. */
	ids = claim_ids(st, "daemon:1", now);
	g_assert_cmpstr(ids, ==, "");
	g_free(ids);
	g_assert_cmpint(store_claim_job(st, b.id, "daemon:1", now, now + 30, &err), ==, 0);
	g_assert_cmpint(store_next_due(st, &when, &err), ==, 0);
	g_assert_cmpint(when, ==, now + 61);
	/* a's reply timed out: its retry is no retry, it stays superseded. */
	g_assert_cmpint(store_job_retry(st, a.id, now, now + 1, 0, NULL, &err), ==, 1);
	g_assert_no_error(err);
	g_assert_cmpint(state_of(st, a.id), ==, JOB_SUPERSEDED);
	ids = claim_ids(st, "daemon:1", now + 5);
	{
		g_autofree char *want = g_strdup_printf("%" G_GINT64_FORMAT, b.id);
		g_assert_cmpstr(ids, ==, want);
	}
	g_free(ids);
	/* Pending, a retry is a retry. */
	g_assert_cmpint(store_job_retry(st, b.id, now + 5, now + 6, 502, "{}", &err), ==, 0);

	/* A newer code while b's retry is pushed: b's push was accepted
	 * after all, and that is what the store says; c then goes. */
	ids = claim_ids(st, "daemon:1", now + 6);
	g_free(ids);
	c = commit_run(st, "c", "bot@x", NULL, now, "daemon:1", now + 60);
	g_assert_true(c.held);
	g_assert_cmpint(store_job_delivered(st, b.id, now + 7, 200, "{}", "tc_2", &err), ==, 0);
	g_assert_cmpint(state_of(st, b.id), ==, JOB_DELIVERED);
	ids = claim_ids(st, "daemon:1", now + 7);
	{
		g_autofree char *want = g_strdup_printf("%" G_GINT64_FORMAT, c.id);
		g_assert_cmpstr(ids, ==, want);
	}
	g_free(ids);
	/* A lease that lapsed (its owner died) blocks nothing. */
	{
		struct job_in d = commit_run(st, "d", "z@x", NULL, now, "gone:9", now - 1);
		struct job_in e = commit_run(st, "e", "z@x", NULL, now + 1, "daemon:1", now + 60);

		g_assert_cmpint(state_of(st, d.id), ==, JOB_SUPERSEDED);
		g_assert_false(e.held);
		g_assert_cmpuint(e.superseded, ==, 1);
	}
	store_close(&st);
	tmp_clear(&t);
}

/*
 * A v1 store (as otpbridge before v2 wrote it) is migrated in place: every
 * row, id and handout kept, ids never reused, older pending jobs of a
 * scope with a newer one superseded, and the new state accepted.
 */
static void
test_migrate_v1(void)
{
	static const char v1[] =
	    TESTUTIL_STORE_V1_SCHEMA
	    /* 1 and 2: two pending codes of one scope (the old queue kept
	     * both); 3: another run's; 4 delivered with a handout; 9 was
	     * the highest id ever (deleted since). */
	    "INSERT INTO jobs (id, state, dedup_key, identifier, body, code, created,"
	    " expires, next_attempt, lease_owner, lease_until, updated) VALUES"
	    " (1, 0, 'k1', 'bot@x', '{\"totp_identifier\":\"bot@x\",\"content\":\"111111\"}',"
	    "  '111111', 1700000000, 1700000600, 1700000001, 'daemon:7', 1700000040, 1700000000),"
	    " (2, 0, 'k2', 'bot@x', '{\"totp_identifier\":\"bot@x\",\"content\":\"222222\"}',"
	    "  '222222', 1700000005, 1700000605, 1700000005, NULL, 0, 1700000005),"
	    " (3, 0, 'k3', 'bot@x', '{\"totp_identifier\":\"bot@x\",\"content\":\"333333\","
	    "\"workflow_run_id\":\"wr_1\"}', '333333', 1700000001, 1700000601, 1700000001,"
	    "  NULL, 0, 1700000001),"
	    " (4, 1, 'k4', 'u@x', '{\"totp_identifier\":\"u@x\",\"content\":\"444444\"}',"
	    "  '444444', 1700000002, 1700000602, 1700000002, NULL, 0, 1700000003);"
	    "UPDATE jobs SET attempts = 2, last_status = 200, last_reply = 'r', remote_id = 'tc_4'"
	    " WHERE id = 4;"
	    "INSERT INTO handouts (job_id, consumer, at) VALUES (4, 'tsk_1', 1700000010);"
	    "INSERT INTO dedup VALUES ('k1', 'bot@x', 1700000000);"
	    "INSERT INTO imap_state VALUES ('acct', 'INBOX', 7, 42);"
	    "UPDATE sqlite_sequence SET seq = 9 WHERE name = 'jobs';"
	    "PRAGMA user_version = 1;";
	struct tmp t;
	g_autoptr(GError) err = NULL;
	g_autofree char *cli = g_find_program_in_path("sqlite3");
	g_autoptr(GPtrArray) keep = NULL;
	g_autofree char *consumer = NULL;
	struct store *st;
	struct job *j;
	struct job_in n;
	guint32 uv = 0, uid = 0;
	gboolean found = FALSE;

	if (cli == NULL) {
		g_test_skip("the sqlite3 command is not installed");
		return;
	}
	tmp_init(&t);
	{
		const char *argv[] = { cli, t.path, v1, NULL };
		g_assert_true(run(argv, NULL));
	}
	st = open_ok(t.path);
	g_assert_cmpint(state_of(st, 1), ==, JOB_SUPERSEDED);
	g_assert_cmpint(state_of(st, 2), ==, JOB_PENDING);
	g_assert_cmpint(state_of(st, 3), ==, JOB_PENDING);
	j = testutil_store_job(st, 4, &keep);
	g_assert_nonnull(j);
	g_assert_cmpint(j->state, ==, JOB_DELIVERED);
	g_assert_cmpstr(j->identifier, ==, "u@x");
	g_assert_cmpuint(j->attempts, ==, 2);
	g_assert_cmpint(j->last_status, ==, 200);
	g_assert_cmpstr(j->last_reply, ==, "r");
	g_assert_cmpstr(j->remote_id, ==, "tc_4");
	g_assert_cmpint(j->created, ==, 1700000002);
	g_assert_cmpint(j->updated, ==, 1700000003);
	g_assert_cmpint(store_code_consumer(st, 4, &consumer, &err), ==, 0);
	g_assert_cmpstr(consumer, ==, "tsk_1");
	g_assert_cmpint(store_imap_get(st, "acct", "INBOX", &uv, &uid, &found, &err), ==, 0);
	g_assert_true(found);
	g_assert_cmpuint(uid, ==, 42);
	/* Dedup survived, ids go on above the old high-water mark, and the
	 * migrated scopes supersede like new ones. */
	g_assert_cmpint(commit1(st, "k1", "bot@x", 1700000100), ==, 0);
	n = commit_run(st, "k5", "bot@x", "wr_1", 1700000100, NULL, 0);
	g_assert_cmpint(n.id, ==, 10);
	g_assert_cmpuint(n.superseded, ==, 1);
	g_assert_cmpint(state_of(st, 3), ==, JOB_SUPERSEDED);
	g_assert_cmpint(state_of(st, 2), ==, JOB_PENDING);
	store_close(&st);
	/* Reopening does not migrate again. */
	st = open_ok(t.path);
	g_assert_cmpint(state_of(st, 2), ==, JOB_PENDING);
	store_close(&st);
	{
		g_autofree char *out = NULL;
		const char *argv[] = { cli, t.path, "PRAGMA user_version;", NULL };
		gchar *so = NULL;

		g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
		    NULL, &so, NULL, NULL, &err));
		out = g_strstrip(so);
		g_assert_cmpstr(out, ==, "3");   /* the newest: v3 adds the pull side */
	}
	tmp_clear(&t);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/store/open-creates", test_open_creates);
	g_test_add_func("/store/wal-reopen", test_wal_reopen);
	g_test_add_func("/store/migrate-empty", test_migrate_empty);
	g_test_add_func("/store/not-a-store", test_not_a_store);
	g_test_add_func("/store/future-version", test_future_version);
	g_test_add_func("/store/group-commit", test_group_commit);
	g_test_add_func("/store/dedup", test_dedup);
	g_test_add_func("/store/all-or-nothing-data", test_all_or_nothing_data);
	g_test_add_func("/store/full-disk", test_full_disk);
	g_test_add_func("/store/read-only", test_read_only);
	g_test_add_func("/store/claim", test_claim);
	g_test_add_func("/store/dead-leases", test_dead_leases);
	g_test_add_func("/store/outcomes", test_outcomes);
	g_test_add_func("/store/expire", test_expire);
	g_test_add_func("/store/list-requeue-drop", test_list_requeue_drop);
	g_test_add_func("/store/prune", test_prune);
	g_test_add_func("/store/latest-code", test_latest_code);
	g_test_add_func("/store/pull-code", test_pull_code);
	g_test_add_func("/store/migrate-v2", test_migrate_v2);
	g_test_add_func("/store/handout", test_handout);
	g_test_add_func("/store/imap-state", test_imap_state);
	g_test_add_func("/store/probe", test_probe);
	g_test_add_func("/store/two-handles", test_two_handles);
	g_test_add_func("/store/supersede", test_supersede);
	g_test_add_func("/store/supersede-inflight", test_supersede_inflight);
	g_test_add_func("/store/migrate-v1", test_migrate_v1);
	return g_test_run();
}
