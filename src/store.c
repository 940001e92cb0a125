/*
 * store.c - the durable store: one SQLite file in WAL mode with
 * synchronous=FULL holding the push queue (jobs), the dedup record, the
 * handouts of codes to pull consumers, the IMAP state and a probe row.
 * This is the only file that includes sqlite3.h; callers see plain
 * structs and GErrors in the OTPB_ERROR domain.
 *
 * `otpbridge status` reads the file through its own handle
 * (store_open_readonly): opened read-only and query-only, never created,
 * migrated or written, with the caller's short busy timeout; its queries
 * (store_ro_*) read counts, outcomes and IMAP state, never a body or a code.
 *
 * Durability: a function that writes returns 0 only after SQLite's
 * COMMIT returned, i.e. after the WAL was fsync'd.  store_commit_jobs()
 * runs the dedup check and the inserts of a whole batch inside one
 * BEGIN IMMEDIATE ... COMMIT and rolls back on any error, so a batch is
 * stored completely or not at all.  Busy, full, read-only, I/O and open
 * failures are OTPB_ERROR_TEMP (the caller answers 4xx / EX_TEMPFAIL).
 *
 * Superseding (SPEC 5, store.h): each job row carries its scope, the
 * routing fields of its push body as SQLite's json functions read them
 * (a JSON array; '' for a body that is not JSON).  The commit of a job
 * supersedes the older pending jobs of its identifier and scope, or the
 * job itself when a newer one is pending or delivered, and a claim never
 * takes a job while another of its scope is under a live lease.  All of
 * it is in the rows (state 4, leases), so it holds across restarts and
 * between processes.  Migration v2 rebuilds jobs for the wider state
 * CHECK and the scope column.
 *
 * Threading: a struct store (one SQLite connection and its cached
 * statements) belongs to one thread at a time; the connection is opened
 * with SQLITE_OPEN_NOMUTEX.  Another thread or process opens its own
 * struct store on the same file: writers serialise on SQLite's write lock
 * under a busy timeout, and jobs being pushed are leased to one owner.
 * An owner made by store_live_owner() holds a lock on its byte of
 * PATH.lock while it lives, so a starting daemon voids the leases of
 * owners that died (kill -9) at once instead of waiting for them to lapse.
 *
 * The pull side reads codes (and magic links) by identifier, by the
 * +detail of an address identifier and by the run they were pushed for,
 * and keeps one row per signed pull body: the identifier it first asked
 * for (pull_bodies).  XXX pull_bodies is never pruned (one ~150-byte row
 * per distinct pull body, i.e. per Skyvern task that pulled): a pruned
 * row would let an old captured body bind anew.
 *
 * Hostile input: job bodies, codes, identifiers and endpoint replies are
 * only ever bound as parameters, never spliced into SQL (a body is read
 * only by json_valid/json_extract for its scope); error messages
 * name the store path and SQLite's message, never a value.  A replaced
 * file that is not ours (tables but no schema version, a foreign
 * application_id) or a newer schema is refused.
 *
 * Limits: strings and rows at most STORE_LENGTH_MAX bytes (SQLite's
 * length limit), STORE_BATCH_MAX jobs per commit, STORE_ROWS_MAX rows per
 * claim or list, endpoint replies cut to STORE_REPLY_MAX bytes on a UTF-8
 * boundary, STORE_BUSY_MS of waiting for another writer (the daemon sets
 * STORE_LOOP_BUSY_MS on its main loop's handle: a lock another process
 * holds costs the loop that much per call, never seconds; readers are not
 * blocked by a writer in WAL mode).
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "store.h"
#include "util.h"

#define STORE_BUSY_MS     5000
#define STORE_LENGTH_MAX  (4 * 1024 * 1024)
#define STORE_BATCH_MAX   65536
#define STORE_ROWS_MAX    100000
#define STORE_APP_ID      0x4f545042   /* "OTPB" */

const char *const job_state_names[] = {
	"pending", "delivered", "failed", "expired", "superseded", NULL
};

/*
 * The scope of a push body: what, beside the identifier, decides which
 * jobs supersede each other (store.h).  Computed by SQLite from the body
 * at insert (and by the v2 migration for older rows); a body that is not
 * JSON has the empty scope.
 */
#define STORE_SCOPE(b) \
	"(CASE WHEN json_valid(" b ") THEN json_array(" \
	"json_extract(" b ", '$.task_id'), json_extract(" b ", '$.workflow_id'), " \
	"json_extract(" b ", '$.workflow_run_id')) ELSE '' END)"

/*
 * Schema migrations: entry i takes user_version i to i + 1.  A v2 is one
 * more entry here; never edit an entry that has shipped.
 */
static const char *const store_migrations[] = {
	/* v1 */
	"PRAGMA application_id = 1330925634;"   /* STORE_APP_ID */
	"CREATE TABLE jobs ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 3),"
	"  dedup_key TEXT NOT NULL,"
	"  identifier TEXT NOT NULL,"
	"  source TEXT,"
	"  filter TEXT,"
	"  body TEXT NOT NULL,"
	"  code TEXT,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  next_attempt INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  last_status INTEGER NOT NULL DEFAULT 0,"
	"  last_reply TEXT,"
	"  remote_id TEXT,"
	"  lease_owner TEXT,"
	"  lease_until INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL"
	");"
	/* due-job claims and store_next_due(): pending jobs only */
	"CREATE INDEX jobs_due ON jobs(next_attempt) WHERE state = 0;"
	/* store_latest_code(): jobs that carry a code */
	"CREATE INDEX jobs_code ON jobs(identifier, created) WHERE code IS NOT NULL;"
	/* store_prune(): finished jobs by age */
	"CREATE INDEX jobs_updated ON jobs(updated) WHERE state <> 0;"
	"CREATE TABLE dedup ("
	"  dedup_key TEXT NOT NULL,"
	"  identifier TEXT NOT NULL,"
	"  created INTEGER NOT NULL,"
	"  PRIMARY KEY (dedup_key, identifier)"
	") WITHOUT ROWID;"
	"CREATE INDEX dedup_created ON dedup(created);"
	"CREATE TABLE handouts ("
	"  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
	"  consumer TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  UNIQUE (job_id, consumer)"
	");"
	"CREATE TABLE imap_state ("
	"  account TEXT NOT NULL,"
	"  mailbox TEXT NOT NULL,"
	"  uidvalidity INTEGER NOT NULL,"
	"  last_uid INTEGER NOT NULL,"
	"  PRIMARY KEY (account, mailbox)"
	") WITHOUT ROWID;"
	"CREATE TABLE probe ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  at INTEGER NOT NULL"
	");",
	/*
	 * v2: state 4 (superseded) and the scope column.  SQLite cannot
	 * widen a CHECK in place: jobs is rebuilt, the v1 columns copied by
	 * name, ids and the AUTOINCREMENT high-water mark kept.  Dropping
	 * jobs would cascade into handouts (foreign keys are on and cannot be
	 * turned off inside the migration's transaction), so handouts are
	 * kept aside and put back.  Older pending jobs of a scope that has a
	 * newer pending or delivered one become superseded.
	 */
	"CREATE TABLE jobs_v2 ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 4),"
	"  dedup_key TEXT NOT NULL,"
	"  identifier TEXT NOT NULL,"
	"  source TEXT,"
	"  filter TEXT,"
	"  body TEXT NOT NULL,"
	"  code TEXT,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  next_attempt INTEGER NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  last_status INTEGER NOT NULL DEFAULT 0,"
	"  last_reply TEXT,"
	"  remote_id TEXT,"
	"  lease_owner TEXT,"
	"  lease_until INTEGER NOT NULL DEFAULT 0,"
	"  updated INTEGER NOT NULL,"
	"  scope TEXT NOT NULL DEFAULT ''"
	");"
	"INSERT INTO jobs_v2 (id, state, dedup_key, identifier, source, filter, body,"
	"  code, created, expires, next_attempt, attempts, last_status, last_reply,"
	"  remote_id, lease_owner, lease_until, updated, scope)"
	" SELECT id, state, dedup_key, identifier, source, filter, body,"
	"  code, created, expires, next_attempt, attempts, last_status, last_reply,"
	"  remote_id, lease_owner, lease_until, updated, " STORE_SCOPE("body")
	" FROM jobs;"
	"UPDATE sqlite_sequence SET seq = max(seq,"
	"  coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0))"
	" WHERE name = 'jobs_v2';"
	"CREATE TABLE handouts_v1 AS"
	" SELECT rowid AS rid, job_id, consumer, at FROM handouts;"
	"DROP TABLE jobs;"
	"ALTER TABLE jobs_v2 RENAME TO jobs;"
	"INSERT INTO handouts (rowid, job_id, consumer, at)"
	" SELECT rid, job_id, consumer, at FROM handouts_v1;"
	"DROP TABLE handouts_v1;"
	"CREATE INDEX jobs_due ON jobs(next_attempt) WHERE state = 0;"
	"CREATE INDEX jobs_code ON jobs(identifier, created) WHERE code IS NOT NULL;"
	"CREATE INDEX jobs_updated ON jobs(updated) WHERE state <> 0;"
	/* superseding: a newer job of the scope (a short range at the end) */
	"CREATE INDEX jobs_scope ON jobs(identifier, scope, created);"
	/* ... the older pending ones, and the leases on a scope: few rows
	 * each, however many finished jobs an identifier has */
	"CREATE INDEX jobs_scope_due ON jobs(identifier, scope, created) WHERE state = 0;"
	"CREATE INDEX jobs_scope_leased ON jobs(identifier, scope)"
	"  WHERE lease_owner IS NOT NULL;"
	"UPDATE jobs SET state = 4 WHERE state = 0 AND EXISTS (SELECT 1 FROM jobs n"
	"  WHERE n.identifier = jobs.identifier AND n.scope = jobs.scope"
	"  AND n.state IN (0, 1) AND (n.created > jobs.created"
	"  OR (n.created = jobs.created AND n.id > jobs.id)));",
	/* v3: the pull side.  Columns added, never a rebuild of jobs.
	 * run_tag: the run or task a code was pushed for (the push's
	 * workflow_run_id, else task_id); plus_tag and base: the +detail of
	 * an address identifier and the identifier without it, so a pull for
	 * bot@x naming run wr_1 finds a code that came to bot+wr_1@x.
	 * pull_bodies: the identifier each signed pull body first asked for. */
	"ALTER TABLE jobs ADD COLUMN run_tag TEXT;"
	"ALTER TABLE jobs ADD COLUMN plus_tag TEXT;"
	"ALTER TABLE jobs ADD COLUMN base TEXT;"
	"CREATE INDEX jobs_code_base ON jobs(base, created)"
	" WHERE code IS NOT NULL AND base IS NOT NULL;"
	"CREATE TABLE pull_bodies ("
	"  digest TEXT PRIMARY KEY,"
	"  identifier TEXT NOT NULL,"
	"  first_seen INTEGER NOT NULL"
	") WITHOUT ROWID;",
};
G_STATIC_ASSERT(STORE_APP_ID == 1330925634);
/* The SQL below spells job states as numbers. */
G_STATIC_ASSERT(JOB_PENDING == 0 && JOB_DELIVERED == 1 && JOB_FAILED == 2 &&
    JOB_EXPIRED == 3 && JOB_SUPERSEDED == 4 && JOB_STATES == 5);

/* Another job of j's identifier and scope under a live lease at time t. */
#define STORE_SCOPE_LEASED(j, t) \
	"EXISTS (SELECT 1 FROM jobs o WHERE o.identifier = " j ".identifier" \
	" AND o.scope = " j ".scope AND o.id <> " j ".id AND o.state IN (0, 4)" \
	" AND o.lease_owner IS NOT NULL AND o.lease_until >= " t ")"

/* The columns of a struct job, in store_job_from_row() order. */
#define JOB_COLS "id, state, dedup_key, identifier, source, filter, body, " \
	"created, expires, next_attempt, attempts, last_status, last_reply, " \
	"remote_id, updated"

/* Cached statements, prepared once at open. */
enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_DEDUP,
	ST_INSERT,
	ST_CLAIM_DUE,
	ST_CLAIM_JOB,
	ST_NEXT_DUE,
	ST_DELIVERED,
	ST_RETRY,
	ST_FAILED,
	ST_EXPIRE,
	ST_LIST,
	ST_REQUEUE,
	ST_DROP,
	ST_COUNT,
	ST_PRUNE_JOBS,
	ST_PRUNE_DEDUP,
	ST_LATEST_CODE,
	ST_HANDOUT,
	ST_CONSUMER,
	ST_IMAP_GET,
	ST_IMAP_SET,
	ST_PROBE,
	ST_PULL_CODE,
	ST_PULL_BODY_GET,
	ST_PULL_BODY_SET,
	ST_NEWER,
	ST_SUPERSEDE,
	ST_SET_SUPERSEDED,
	ST_HOLD,
	ST_UNLEASE,
	ST_COUNT_ALL
};

static const char *const store_sql[ST_COUNT_ALL] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	/* Changes a row (1) unless the pair was seen within the window (0). */
	[ST_DEDUP] =
	    "INSERT INTO dedup (dedup_key, identifier, created) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT (dedup_key, identifier) DO UPDATE "
	    "SET created = max(dedup.created, excluded.created) "
	    "WHERE abs(excluded.created - dedup.created) > ?4",
	[ST_INSERT] =
	    "INSERT INTO jobs (state, dedup_key, identifier, source, filter, body,"
	    " code, created, expires, next_attempt, lease_owner, lease_until, updated,"
	    " run_tag, plus_tag, base, scope) "
	    "VALUES (0, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9, ?10, ?7, ?11, ?12, ?13, "
	    STORE_SCOPE("?5") ")",
	[ST_CLAIM_DUE] =
	    "UPDATE jobs SET lease_owner = ?1, lease_until = ?3 "
	    "WHERE id IN (SELECT id FROM jobs j WHERE state = 0"
	    " AND next_attempt <= ?2 AND expires >= ?2"
	    " AND (lease_owner IS NULL OR lease_until < ?2)"
	    " AND NOT " STORE_SCOPE_LEASED("j", "?2")
	    " ORDER BY created, id LIMIT ?4) "
	    "RETURNING " JOB_COLS,
	[ST_CLAIM_JOB] =
	    "UPDATE jobs SET lease_owner = ?2, lease_until = ?4 "
	    "WHERE id = ?1 AND state = 0 AND expires >= ?3"
	    " AND (lease_owner IS NULL OR lease_until < ?3 OR lease_owner = ?2)"
	    " AND NOT " STORE_SCOPE_LEASED("jobs", "?3"),
	/* A leased job counts from the second its lease runs out, and so
	 * does one whose scope has another job under a lease. */
	[ST_NEXT_DUE] =
	    "SELECT min(max(next_attempt,"
	    " CASE WHEN lease_owner IS NULL THEN 0 ELSE lease_until + 1 END,"
	    " coalesce((SELECT max(o.lease_until) + 1 FROM jobs o"
	    "  WHERE o.identifier = j.identifier AND o.scope = j.scope"
	    "  AND o.id <> j.id AND o.state IN (0, 4) AND o.lease_owner IS NOT NULL),"
	    " 0))) FROM jobs j WHERE state = 0",
	[ST_DELIVERED] =
	    "UPDATE jobs SET state = 1, attempts = attempts + 1, last_status = ?3,"
	    " last_reply = ?4, remote_id = ?5, lease_owner = NULL, lease_until = 0,"
	    " updated = ?2 WHERE id = ?1",
	/* The state is kept: a job expired, superseded or dropped meanwhile
	 * stays so. */
	[ST_RETRY] =
	    "UPDATE jobs SET attempts = attempts + 1, next_attempt = ?3,"
	    " last_status = ?4, last_reply = ?5, lease_owner = NULL, lease_until = 0,"
	    " updated = ?2 WHERE id = ?1 RETURNING state",
	[ST_FAILED] =
	    "UPDATE jobs SET state = 2, attempts = attempts + 1, last_status = ?3,"
	    " last_reply = ?4, lease_owner = NULL, lease_until = 0,"
	    " updated = ?2 WHERE id = ?1",
	/* A job under a live lease is being pushed: its outcome decides. */
	[ST_EXPIRE] =
	    "UPDATE jobs SET state = 3, lease_owner = NULL, lease_until = 0,"
	    " updated = ?1 WHERE state = 0 AND expires < ?1"
	    " AND (lease_owner IS NULL OR lease_until < ?1)",
	[ST_LIST] =
	    "SELECT " JOB_COLS " FROM jobs ORDER BY id DESC LIMIT ?1",
	/* Not for delivered or superseded jobs, nor under a newer pending or
	 * delivered one: a stale code would override a newer one. */
	[ST_REQUEUE] =
	    "UPDATE jobs SET state = 0, next_attempt = ?2, expires = ?2 + ?3,"
	    " updated = ?2 WHERE id = ?1 AND state IN (0, 2, 3)"
	    " AND NOT EXISTS (SELECT 1 FROM jobs n WHERE n.identifier = jobs.identifier"
	    "  AND n.scope = jobs.scope AND n.state IN (0, 1) AND (n.created > jobs.created"
	    "  OR (n.created = jobs.created AND n.id > jobs.id)))",
	[ST_DROP] = "DELETE FROM jobs WHERE id = ?1",
	[ST_COUNT] = "SELECT state, count(*) FROM jobs GROUP BY state",
	[ST_PRUNE_JOBS] =
	    "DELETE FROM jobs WHERE state <> 0 AND updated < ?1",
	[ST_PRUNE_DEDUP] = "DELETE FROM dedup WHERE created < ?1",
	[ST_LATEST_CODE] =
	    "SELECT code, id FROM jobs WHERE identifier = ?1 AND code IS NOT NULL"
	    " AND created >= ?2 ORDER BY created DESC, id DESC LIMIT 1",
	[ST_HANDOUT] =
	    "INSERT INTO handouts (job_id, consumer, at) VALUES (?1, ?2, ?3) "
	    "ON CONFLICT (job_id, consumer) DO NOTHING",
	[ST_CONSUMER] =
	    "SELECT consumer FROM handouts WHERE job_id = ?1"
	    " ORDER BY at, rowid LIMIT 1",
	[ST_IMAP_GET] =
	    "SELECT uidvalidity, last_uid FROM imap_state"
	    " WHERE account = ?1 AND mailbox = ?2",
	[ST_IMAP_SET] =
	    "INSERT INTO imap_state (account, mailbox, uidvalidity, last_uid)"
	    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account, mailbox) DO UPDATE"
	    " SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid",
	[ST_PROBE] =
	    "INSERT INTO probe (id, at) VALUES (1, ?1)"
	    " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
	/*
	 * store_pull_code(): ?1 identifier, ?2 since, ?3 ?4 the pull's ids
	 * (lower-cased, or NULL).  A code tagged with one of the ids (by the
	 * push's run or task id, or by the +detail of its address) comes
	 * first, whether it came to ?1 or to a +detail of ?1; otherwise only
	 * a code for ?1 itself that names no run: no run tag, and no
	 * +detail shaped like Skyvern's run or task ids (wr_, tsk_).
	 * XXX the id shape is a heuristic: a +detail such as "github" is a
	 * routing tag of the user's, not a run, and must keep working.
	 */
	[ST_PULL_CODE] =
	    "SELECT code, id,"
	    " coalesce(run_tag IN (?3, ?4) OR plus_tag IN (?3, ?4), 0) AS mine"
	    " FROM jobs WHERE code IS NOT NULL AND created >= ?2"
	    " AND (identifier = ?1 OR base = ?1)"
	    " AND (run_tag IN (?3, ?4) OR plus_tag IN (?3, ?4)"
	    "  OR (identifier = ?1 AND run_tag IS NULL AND (plus_tag IS NULL"
	    "   OR NOT (plus_tag GLOB 'wr_*' OR plus_tag GLOB 'tsk_*'))))"
	    " ORDER BY mine DESC, created DESC, id DESC LIMIT 1",
	[ST_PULL_BODY_GET] =
	    "SELECT identifier, first_seen FROM pull_bodies WHERE digest = ?1",
	[ST_PULL_BODY_SET] =
	    "INSERT INTO pull_bodies (digest, identifier, first_seen)"
	    " VALUES (?1, ?2, ?3) ON CONFLICT (digest) DO NOTHING",
	/* A job of ?1's scope, newer than it, that is pending or delivered. */
	[ST_NEWER] =
	    "SELECT 1 FROM jobs n, jobs j WHERE j.id = ?1"
	    " AND n.identifier = j.identifier AND n.scope = j.scope AND n.id <> j.id"
	    " AND n.state IN (0, 1) AND n.created > j.created LIMIT 1",
	/* Older pending jobs of ?1's scope become superseded; each row says
	 * whether a push of it was under way (a live lease at ?2). */
	[ST_SUPERSEDE] =
	    "UPDATE jobs SET state = 4, updated = ?2 FROM (SELECT id AS nid,"
	    " identifier AS nident, scope AS nscope, created AS ncreated FROM jobs"
	    " WHERE id = ?1) WHERE identifier = nident AND scope = nscope AND id <> nid"
	    " AND state = 0 AND (created < ncreated OR (created = ncreated AND id < nid))"
	    " RETURNING id, lease_owner IS NOT NULL AND lease_until >= ?2",
	[ST_SET_SUPERSEDED] =
	    "UPDATE jobs SET state = 4, updated = ?2 WHERE id = ?1",
	/* After a batch: a job's state, whether it is leased, and whether
	 * another job of its scope is under a live lease at ?2. */
	[ST_HOLD] =
	    "SELECT state, lease_owner IS NOT NULL, " STORE_SCOPE_LEASED("j", "?2")
	    " FROM jobs j WHERE id = ?1",
	[ST_UNLEASE] =
	    "UPDATE jobs SET lease_owner = NULL, lease_until = 0 WHERE id = ?1",
};

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[ST_COUNT_ALL];
	int bind_rc;            /* first failed bind since the last reset */
	guint64 probes;         /* store_probe() writes tried */
	int live_fd;            /* PATH.lock, once store_live_owner() ran; -1 */
};

/* Maps an SQLite result code to our error code. */
static int
store_error_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
	case SQLITE_NOMEM:
	case SQLITE_NOLFS:
		return OTPB_ERROR_TEMP;
	case SQLITE_CONSTRAINT:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return OTPB_ERROR_DATA;
	default:
		return OTPB_ERROR_IO;
	}
}

/*
 * Sets *error from rc and the connection's message; returns -1.  Must run
 * before anything else touches the connection (ROLLBACK resets it).
 */
static int
store_fail(struct store *st, int rc, const char *what, GError **error)
{
	const char *msg = st->db != NULL ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);

	/* A failed bind leaves the connection's message alone. */
	if (st->db != NULL && sqlite3_errcode(st->db) != rc)
		msg = sqlite3_errstr(rc);
	g_set_error(error, OTPB_ERROR, store_error_code(rc), "store %s: %s: %s",
	    st->path, what, msg);
	return -1;
}

/* Resets a cached statement after use so it holds no locks or values. */
static void
store_done(struct store *st, sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	st->bind_rc = SQLITE_OK;
}

/* Records the first failed bind; store_step() reports it. */
static void
store_bind_rc(struct store *st, int rc)
{
	if (rc != SQLITE_OK && st->bind_rc == SQLITE_OK)
		st->bind_rc = rc;
}

static void
store_bind_text(struct store *st, sqlite3_stmt *stmt, int i, const char *s)
{
	if (s == NULL)
		store_bind_rc(st, sqlite3_bind_null(stmt, i));
	else
		store_bind_rc(st, sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC));
}

static void
store_bind_int(struct store *st, sqlite3_stmt *stmt, int i, gint64 v)
{
	store_bind_rc(st, sqlite3_bind_int64(stmt, i, v));
}

/*
 * Steps stmt once: 1 for a row, 0 when done, -1 with *error set (the
 * statement is then reset).
 */
static int
store_step(struct store *st, sqlite3_stmt *stmt, const char *what, GError **error)
{
	int rc;

	if (st->bind_rc != SQLITE_OK) {
		rc = st->bind_rc;
		store_fail(st, rc, what, error);
		store_done(st, stmt);
		return -1;
	}
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	store_fail(st, rc, what, error);
	store_done(st, stmt);
	return -1;
}

/* Runs a statement that returns no rows, then resets it. */
static int
store_run(struct store *st, sqlite3_stmt *stmt, const char *what, GError **error)
{
	int r = store_step(st, stmt, what, error);

	if (r < 0)
		return -1;
	store_done(st, stmt);
	if (r > 0) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO,
		    "store %s: %s: unexpected row", st->path, what);
		return -1;
	}
	return 0;
}

static int
store_begin(struct store *st, GError **error)
{
	return store_run(st, st->stmt[ST_BEGIN], "begin", error);
}

/* Rolls back the open transaction, if SQLite has not done so already. */
static void
store_rollback(struct store *st)
{
	if (sqlite3_get_autocommit(st->db))
		return;
	if (sqlite3_step(st->stmt[ST_ROLLBACK]) != SQLITE_DONE)
		g_debug("store %s: rollback: %s", st->path, sqlite3_errmsg(st->db));
	sqlite3_reset(st->stmt[ST_ROLLBACK]);
}

/* Commits; on failure rolls back and sets *error. */
static int
store_commit(struct store *st, GError **error)
{
	if (store_run(st, st->stmt[ST_COMMIT], "commit", error) < 0) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

static char *
store_col_text(sqlite3_stmt *stmt, int i)
{
	return g_strdup((const char *)sqlite3_column_text(stmt, i));
}

/* Builds a struct job from a row of JOB_COLS. */
static struct job *
store_job_from_row(sqlite3_stmt *stmt)
{
	struct job *j = g_new0(struct job, 1);
	gint64 state = sqlite3_column_int64(stmt, 1);
	gint64 attempts = sqlite3_column_int64(stmt, 10);

	j->id = sqlite3_column_int64(stmt, 0);
	/* The CHECK constraint holds the range; clamp all the same. */
	j->state = state >= JOB_PENDING && state < JOB_STATES ?
	    (enum job_state)state : JOB_FAILED;
	j->dedup_key = store_col_text(stmt, 2);
	j->identifier = store_col_text(stmt, 3);
	j->source = store_col_text(stmt, 4);
	j->filter = store_col_text(stmt, 5);
	j->body = store_col_text(stmt, 6);
	j->created = sqlite3_column_int64(stmt, 7);
	j->expires = sqlite3_column_int64(stmt, 8);
	j->next_attempt = sqlite3_column_int64(stmt, 9);
	j->attempts = (guint)CLAMP(attempts, 0, (gint64)G_MAXUINT);
	j->last_status = sqlite3_column_int(stmt, 11);
	j->last_reply = store_col_text(stmt, 12);
	j->remote_id = store_col_text(stmt, 13);
	j->updated = sqlite3_column_int64(stmt, 14);
	return j;
}

void
job_free(gpointer p)
{
	struct job *j = p;

	if (j == NULL)
		return;
	g_free(j->dedup_key);
	g_free(j->identifier);
	g_free(j->source);
	g_free(j->filter);
	g_free(j->body);
	g_free(j->last_reply);
	g_free(j->remote_id);
	g_free(j);
}

/*
 * An endpoint reply as stored: valid UTF-8, at most STORE_REPLY_MAX bytes,
 * cut on a character boundary.  NULL stays NULL.  g_malloc'd.
 */
static char *
store_reply_bound(const char *reply)
{
	char *valid, *s;
	gsize n;

	if (reply == NULL)
		return NULL;
	/* Only the head matters; a character cut here is dropped below. */
	n = strnlen(reply, STORE_REPLY_MAX + 1);
	valid = g_utf8_make_valid(reply, (gssize)n);
	n = strlen(valid);
	if (n <= STORE_REPLY_MAX)
		return valid;
	n = STORE_REPLY_MAX;
	while (n > 0 && ((guchar)valid[n] & 0xc0) == 0x80)
		n--;
	s = g_strndup(valid, n);
	g_free(valid);
	return s;
}

/* Runs SQL without rows (pragmas, migrations) through sqlite3_exec. */
static int
store_exec(struct store *st, const char *sql, const char *what, GError **error)
{
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_fail(st, rc, what, error);
	return 0;
}

/* Reads a one-integer result (a pragma or a count) into *v. */
static int
store_query_int(struct store *st, const char *sql, gint64 *v, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return store_fail(st, rc, sql, error);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			rc = SQLITE_ERROR;
		store_fail(st, rc, sql, error);
		sqlite3_finalize(stmt);
		return -1;
	}
	*v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return 0;
}

/* Sets WAL mode (checking SQLite agreed), synchronous=FULL and foreign keys. */
static int
store_pragmas(struct store *st, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	const char *mode;
	gint64 fk = 0;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		store_fail(st, rc, "journal_mode", error);
		sqlite3_finalize(stmt);
		return -1;
	}
	mode = (const char *)sqlite3_column_text(stmt, 0);
	if (mode == NULL || g_ascii_strcasecmp(mode, "wal") != 0) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO,
		    "store %s: cannot use WAL mode (journal_mode is %s)", st->path,
		    mode != NULL ? mode : "unknown");
		sqlite3_finalize(stmt);
		return -1;
	}
	sqlite3_finalize(stmt);
	if (store_exec(st, "PRAGMA synchronous = FULL", "synchronous", error) < 0 ||
	    store_exec(st, "PRAGMA foreign_keys = ON", "foreign_keys", error) < 0 ||
	    store_exec(st, "PRAGMA trusted_schema = OFF", "trusted_schema", error) < 0 ||
	    store_query_int(st, "PRAGMA foreign_keys", &fk, error) < 0)
		return -1;
	if (fk != 1) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO,
		    "store %s: this SQLite does not enforce foreign keys", st->path);
		return -1;
	}
	return 0;
}

/*
 * Brings the schema to the newest version inside one write transaction,
 * so two processes opening a new file at once migrate it once.
 */
static int
store_migrate(struct store *st, GError **error)
{
	const gint64 newest = (gint64)G_N_ELEMENTS(store_migrations);
	gint64 version = 0, app_id = 0, objects = 0;

	if (store_exec(st, "BEGIN IMMEDIATE", "begin", error) < 0)
		return -1;
	if (store_query_int(st, "PRAGMA user_version", &version, error) < 0 ||
	    store_query_int(st, "PRAGMA application_id", &app_id, error) < 0 ||
	    store_query_int(st, "SELECT count(*) FROM sqlite_schema", &objects, error) < 0)
		goto fail;
	if (version > newest) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "store %s: schema version %" G_GINT64_FORMAT " is newer than this "
		    "otpbridge understands (%" G_GINT64_FORMAT "); run a newer otpbridge",
		    st->path, version, newest);
		goto fail;
	}
	if ((app_id != 0 && app_id != STORE_APP_ID) ||
	    (version == 0 && objects > 0) || version < 0) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "store %s: not an otpbridge store", st->path);
		goto fail;
	}
	for (gint64 v = version; v < newest; v++) {
		g_autofree char *what = g_strdup_printf("migrate to v%" G_GINT64_FORMAT, v + 1);
		g_autofree char *set = g_strdup_printf("PRAGMA user_version = %" G_GINT64_FORMAT,
		    v + 1);

		if (store_exec(st, store_migrations[v], what, error) < 0 ||
		    store_exec(st, set, what, error) < 0)
			goto fail;
	}
	if (store_exec(st, "COMMIT", "commit", error) < 0)
		goto fail;
	return 0;
fail:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Creates the directory (0750) and an empty file (0640) when missing. */
static int
store_create_file(const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	int fd;

	if (g_mkdir_with_parents(dir, 0750) < 0) {
		int e = errno;
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_TEMP,
		    "store %s: cannot create the directory: %s", path, g_strerror(e));
		return -1;
	}
	/* SQLite would use 0644; codes are secrets.  -wal/-shm copy this mode. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0 && errno != EEXIST) {
		int e = errno;
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_TEMP,
		    "store %s: cannot create the file: %s", path, g_strerror(e));
		return -1;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

int
store_open(const char *path, struct store **st_r, GError **error)
{
	struct store *st;
	int rc;

	*st_r = NULL;
	if (store_create_file(path, error) < 0)
		return -1;
	st = g_new0(struct store, 1);
	st->live_fd = -1;
	st->path = g_strdup(path);
	rc = sqlite3_open_v2(path, &st->db,
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_fail(st, rc, "open", error);
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, STORE_LENGTH_MAX);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if (store_pragmas(st, error) < 0 || store_migrate(st, error) < 0)
		goto fail;
	for (guint i = 0; i < ST_COUNT_ALL; i++) {
		rc = sqlite3_prepare_v3(st->db, store_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			store_fail(st, rc, "prepare", error);
			goto fail;
		}
	}
	*st_r = st;
	return 0;
fail:
	store_close(&st);
	return -1;
}

void
store_set_busy_timeout(struct store *st, guint ms)
{
	sqlite3_busy_timeout(st->db, (int)MIN(ms, (guint)G_MAXINT));
}

void
store_close(struct store **stp)
{
	struct store *st = *stp;

	if (st == NULL)
		return;
	for (guint i = 0; i < ST_COUNT_ALL; i++)
		sqlite3_finalize(st->stmt[i]);
	if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK)
		g_warning("store %s: close: %s", st->path, sqlite3_errmsg(st->db));
	if (st->live_fd >= 0)
		close(st->live_fd);      /* our live lock goes with it */
	g_free(st->path);
	g_free(st);
	*stp = NULL;
}

/* Clears the out fields of a batch that was not stored. */
static void
store_jobs_unset(struct job_in *jobs, guint n)
{
	for (guint i = 0; i < n; i++) {
		jobs[i].id = 0;
		jobs[i].duplicate = FALSE;
		jobs[i].held = FALSE;
		jobs[i].superseded = 0;
	}
}

/*
 * For an address identifier with a +detail ("bot+wr_1@x"): *base_r the
 * address without it ("bot@x"), *tag_r the detail lower-cased ("wr_1");
 * both NULL otherwise.  The first '+' of the local part starts the
 * detail, as the push side's ${plus} reads it.
 */
static void
store_split_plus(const char *identifier, char **base_r, char **tag_r)
{
	const char *at = strrchr(identifier, '@');
	const char *plus;

	*base_r = *tag_r = NULL;
	if (at == NULL || strchr(identifier, ' ') != NULL)
		return;
	plus = memchr(identifier, '+', (size_t)(at - identifier));
	if (plus == NULL || plus == identifier || plus + 1 == at)
		return;
	*tag_r = g_ascii_strdown(plus + 1, at - plus - 1);
	*base_r = g_strdup_printf("%.*s%s", (int)(plus - identifier), identifier, at);
}

/* TRUE when id is one of the first n jobs of the batch. */
static gboolean
store_in_batch(const struct job_in *jobs, guint n, gint64 id)
{
	for (guint i = 0; i < n; i++) {
		if (jobs[i].id == id)
			return TRUE;
	}
	return FALSE;
}

/*
 * Job k of the batch was just inserted: it is superseded itself when a
 * newer job of its scope is pending or delivered, else it supersedes the
 * older pending ones (store.h).  Counts, on job k, the jobs outside the
 * batch that were superseded with no push under way.
 */
static int
store_supersede(struct store *st, struct job_in *jobs, guint k, gint64 now,
    GError **error)
{
	struct job_in *j = &jobs[k];
	sqlite3_stmt *newer = st->stmt[ST_NEWER];
	sqlite3_stmt *sup = st->stmt[ST_SUPERSEDE];
	int r;

	store_bind_int(st, newer, 1, j->id);
	r = store_step(st, newer, "newer job", error);
	if (r < 0)
		return -1;
	store_done(st, newer);
	if (r > 0) {
		sqlite3_stmt *set = st->stmt[ST_SET_SUPERSEDED];

		store_bind_int(st, set, 1, j->id);
		store_bind_int(st, set, 2, now);
		return store_run(st, set, "supersede", error);
	}
	store_bind_int(st, sup, 1, j->id);
	store_bind_int(st, sup, 2, now);
	while ((r = store_step(st, sup, "supersede", error)) > 0) {
		/* Batch jobs are counted after the batch (store_hold). */
		if (!sqlite3_column_int(sup, 1) &&
		    !store_in_batch(jobs, k, sqlite3_column_int64(sup, 0)))
			j->superseded++;
	}
	if (r < 0)
		return -1;
	store_done(st, sup);
	return 0;
}

/*
 * After the inserts of a batch: a job superseded within it, or waiting
 * for a push of its scope under way, is held and loses the lease it was
 * inserted with (nobody pushes it now; a held pending job is claimed once
 * that push is over).  Runs in batch order, so the one job of a scope that
 * stays pending sees its superseded batch-mates unleased.
 */
static int
store_hold(struct store *st, struct job_in *j, gint64 now, GError **error)
{
	sqlite3_stmt *hold = st->stmt[ST_HOLD];
	sqlite3_stmt *un = st->stmt[ST_UNLEASE];
	gint64 state;
	gboolean leased, busy;
	int r;

	store_bind_int(st, hold, 1, j->id);
	store_bind_int(st, hold, 2, now);
	r = store_step(st, hold, "hold", error);
	if (r < 0)
		return -1;
	if (r == 0) {
		store_done(st, hold);
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO,
		    "store %s: hold: job %" G_GINT64_FORMAT " is gone", st->path, j->id);
		return -1;
	}
	state = sqlite3_column_int64(hold, 0);
	leased = sqlite3_column_int(hold, 1) != 0;
	busy = sqlite3_column_int(hold, 2) != 0;
	store_done(st, hold);
	if (state == JOB_SUPERSEDED) {
		j->superseded++;
		j->held = TRUE;
	} else if (busy && j->lease_owner != NULL) {
		j->held = TRUE;
	}
	if (!j->held || !leased)
		return 0;
	store_bind_int(st, un, 1, j->id);
	return store_run(st, un, "unlease", error);
}

/* Dedup check and insert of job k of the batch inside the open transaction. */
static int
store_commit_one(struct store *st, struct job_in *jobs, guint k, gint64 now,
    GError **error)
{
	struct job_in *j = &jobs[k];
	sqlite3_stmt *d = st->stmt[ST_DEDUP];
	sqlite3_stmt *ins = st->stmt[ST_INSERT];

	store_bind_text(st, d, 1, j->dedup_key);
	store_bind_text(st, d, 2, j->identifier);
	store_bind_int(st, d, 3, j->created);
	store_bind_int(st, d, 4, STORE_DEDUP_WINDOW);
	if (store_run(st, d, "dedup", error) < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0) {
		j->duplicate = TRUE;
		j->id = 0;
		return 0;
	}
	store_bind_text(st, ins, 1, j->dedup_key);
	store_bind_text(st, ins, 2, j->identifier);
	store_bind_text(st, ins, 3, j->source);
	store_bind_text(st, ins, 4, j->filter);
	store_bind_text(st, ins, 5, j->body);
	store_bind_text(st, ins, 6, j->code);
	store_bind_int(st, ins, 7, j->created);
	store_bind_int(st, ins, 8, j->expires);
	store_bind_text(st, ins, 9, j->lease_owner);
	store_bind_int(st, ins, 10, j->lease_owner != NULL ? j->lease_until : 0);
	{
		g_autofree char *run_tag = j->run_tag != NULL && *j->run_tag != '\0' ?
		    g_ascii_strdown(j->run_tag, -1) : NULL;
		g_autofree char *plus_tag = NULL;
		g_autofree char *base = NULL;

		store_split_plus(j->identifier, &base, &plus_tag);
		store_bind_text(st, ins, 11, run_tag);
		store_bind_text(st, ins, 12, plus_tag);
		store_bind_text(st, ins, 13, base);
		if (store_run(st, ins, "insert job", error) < 0)
			return -1;
	}
	j->id = sqlite3_last_insert_rowid(st->db);
	j->duplicate = FALSE;
	return store_supersede(st, jobs, k, now, error);
}

int
store_commit_jobs(struct store *st, struct job_in *jobs, guint n, GError **error)
{
	return store_commit_batch(st, jobs, n, NULL, 0, error);
}

int
store_commit_batch(struct store *st, struct job_in *jobs, guint n,
    const struct store_uid_advance *adv, guint n_adv, GError **error)
{
	/* Leases are live against the clock, whatever created says. */
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	if (n == 0 && n_adv == 0)
		return 0;
	if (n > STORE_BATCH_MAX) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_DATA,
		    "store %s: %u jobs in one commit (at most %u)", st->path, n,
		    (guint)STORE_BATCH_MAX);
		return -1;
	}
	for (guint i = 0; i < n; i++) {
		if (jobs[i].dedup_key == NULL || jobs[i].identifier == NULL ||
		    jobs[i].body == NULL) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_DATA,
			    "store %s: job %u lacks a dedup key, identifier or body",
			    st->path, i);
			return -1;
		}
	}
	store_jobs_unset(jobs, n);
	if (store_begin(st, error) < 0)
		return -1;
	for (guint i = 0; i < n; i++) {
		if (store_commit_one(st, jobs, i, now, error) < 0)
			goto fail;
	}
	for (guint i = 0; i < n; i++) {
		if (jobs[i].id > 0 && store_hold(st, &jobs[i], now, error) < 0)
			goto fail;
	}
	/* The IMAP UIDs these messages advance, in the same transaction: a
	 * job is never on disk without its UID, nor a UID without its job. */
	for (guint i = 0; i < n_adv; i++) {
		if (store_imap_set(st, adv[i].account, adv[i].mailbox,
		    adv[i].uidvalidity, adv[i].uid, error) < 0)
			goto fail;
	}
	if (store_commit(st, error) < 0)
		goto fail;
	return 0;
fail:
	store_rollback(st);
	store_jobs_unset(jobs, n);
	return -1;
}

/* Orders claimed jobs oldest first (RETURNING gives no order). */
static gint
store_job_cmp(gconstpointer a, gconstpointer b)
{
	const struct job *x = *(struct job *const *)a;
	const struct job *y = *(struct job *const *)b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Steps a row-returning statement to the end, collecting at most limit
 * jobs; appends them to out only when the statement (and, for a write,
 * its implicit commit) succeeded.
 */
static int
store_collect_jobs(struct store *st, sqlite3_stmt *stmt, guint limit,
    gboolean sort, GPtrArray *out, const char *what, GError **error)
{
	g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(job_free);
	int r;

	while ((r = store_step(st, stmt, what, error)) > 0) {
		if (got->len >= limit) {
			store_done(st, stmt);
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO,
			    "store %s: %s: more rows than asked for", st->path, what);
			return -1;
		}
		g_ptr_array_add(got, store_job_from_row(stmt));
	}
	if (r < 0)
		return -1;
	store_done(st, stmt);
	if (sort)
		g_ptr_array_sort(got, store_job_cmp);
	/* Move the jobs to out; got keeps no pointers it would free. */
	for (guint i = 0; i < got->len; i++)
		g_ptr_array_add(out, got->pdata[i]);
	g_ptr_array_set_free_func(got, NULL);
	return 0;
}

int
store_claim_due(struct store *st, const char *owner, gint64 now,
    gint64 lease_until, guint limit, GPtrArray *out, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_CLAIM_DUE];

	limit = MIN(limit, STORE_ROWS_MAX);
	if (limit == 0)
		return 0;
	store_bind_text(st, stmt, 1, owner);
	store_bind_int(st, stmt, 2, now);
	store_bind_int(st, stmt, 3, lease_until);
	store_bind_int(st, stmt, 4, limit);
	return store_collect_jobs(st, stmt, limit, TRUE, out, "claim due jobs", error);
}

int
store_claim_job(struct store *st, gint64 id, const char *owner, gint64 now,
    gint64 lease_until, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_CLAIM_JOB];

	store_bind_int(st, stmt, 1, id);
	store_bind_text(st, stmt, 2, owner);
	store_bind_int(st, stmt, 3, now);
	store_bind_int(st, stmt, 4, lease_until);
	if (store_run(st, stmt, "claim job", error) < 0)
		return -1;
	return sqlite3_changes(st->db) > 0 ? 1 : 0;
}

int
store_next_due(struct store *st, gint64 *when_r, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_NEXT_DUE];
	int r = store_step(st, stmt, "next due", error);

	if (r < 0)
		return -1;
	*when_r = r > 0 && sqlite3_column_type(stmt, 0) != SQLITE_NULL ?
	    sqlite3_column_int64(stmt, 0) : 0;
	store_done(st, stmt);
	return 0;
}

/* Records the outcome of an attempt (delivered, retry, failed). */
static int
store_outcome(struct store *st, enum store_stmt which, gint64 id, gint64 now,
    gint64 next_attempt, int status, const char *reply, const char *remote_id,
    GError **error)
{
	sqlite3_stmt *stmt = st->stmt[which];
	g_autofree char *bounded = store_reply_bound(reply);

	store_bind_int(st, stmt, 1, id);
	store_bind_int(st, stmt, 2, now);
	switch (which) {
	case ST_DELIVERED:
		store_bind_int(st, stmt, 3, status);
		store_bind_text(st, stmt, 4, bounded);
		store_bind_text(st, stmt, 5, remote_id);
		break;
	case ST_RETRY:
		store_bind_int(st, stmt, 3, next_attempt);
		store_bind_int(st, stmt, 4, status);
		store_bind_text(st, stmt, 5, bounded);
		break;
	default:
		store_bind_int(st, stmt, 3, status);
		store_bind_text(st, stmt, 4, bounded);
		break;
	}
	if (which == ST_RETRY) {
		/* RETURNING state: 1 when a newer job superseded it. */
		int r = store_step(st, stmt, "record attempt", error);
		gint64 state = r > 0 ? sqlite3_column_int64(stmt, 0) : -1;

		if (r < 0)
			return -1;
		if (r > 0 && store_step(st, stmt, "record attempt", error) < 0)
			return -1;
		store_done(st, stmt);
		return state == JOB_SUPERSEDED ? 1 : 0;
	}
	return store_run(st, stmt, "record attempt", error);
}

int
store_batch_begin(struct store *st, GError **error)
{
	return store_begin(st, error);
}

int
store_batch_end(struct store *st, GError **error)
{
	return store_commit(st, error);
}

int
store_job_delivered(struct store *st, gint64 id, gint64 now, int status,
    const char *reply, const char *remote_id, GError **error)
{
	return store_outcome(st, ST_DELIVERED, id, now, 0, status, reply,
	    remote_id, error);
}

int
store_job_retry(struct store *st, gint64 id, gint64 now, gint64 next_attempt,
    int status, const char *reply, GError **error)
{
	return store_outcome(st, ST_RETRY, id, now, next_attempt, status, reply,
	    NULL, error);
}

int
store_job_failed(struct store *st, gint64 id, gint64 now, int status,
    const char *reply, GError **error)
{
	return store_outcome(st, ST_FAILED, id, now, 0, status, reply, NULL, error);
}

int
store_expire(struct store *st, gint64 now, guint *count_r, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_EXPIRE];

	*count_r = 0;
	store_bind_int(st, stmt, 1, now);
	if (store_run(st, stmt, "expire", error) < 0)
		return -1;
	*count_r = (guint)sqlite3_changes(st->db);
	return 0;
}

int
store_list(struct store *st, guint limit, GPtrArray *out, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_LIST];

	limit = MIN(limit, STORE_ROWS_MAX);
	if (limit == 0)
		return 0;
	store_bind_int(st, stmt, 1, limit);
	return store_collect_jobs(st, stmt, limit, FALSE, out, "list", error);
}

int
store_requeue(struct store *st, gint64 id, gint64 now, gint64 max_age, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_REQUEUE];

	store_bind_int(st, stmt, 1, id);
	store_bind_int(st, stmt, 2, now);
	store_bind_int(st, stmt, 3, max_age);
	if (store_run(st, stmt, "requeue", error) < 0)
		return -1;
	return sqlite3_changes(st->db) > 0 ? 1 : 0;
}

int
store_drop(struct store *st, gint64 id, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_DROP];

	store_bind_int(st, stmt, 1, id);
	if (store_run(st, stmt, "drop", error) < 0)
		return -1;
	return sqlite3_changes(st->db) > 0 ? 1 : 0;
}

int
store_count(struct store *st, guint64 counts[JOB_STATES], GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_COUNT];
	guint64 c[JOB_STATES] = { 0 };
	int r;

	/* GROUP BY state: at most JOB_STATES rows, the CHECK constraint says. */
	for (guint rows = 0; (r = store_step(st, stmt, "count", error)) > 0; rows++) {
		gint64 state = sqlite3_column_int64(stmt, 0);
		gint64 n = sqlite3_column_int64(stmt, 1);

		if (rows >= JOB_STATES || state < 0 || state >= JOB_STATES) {
			store_done(st, stmt);
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO,
			    "store %s: count: unknown job state %" G_GINT64_FORMAT,
			    st->path, state);
			return -1;
		}
		c[state] = (guint64)MAX(n, 0);
	}
	if (r < 0)
		return -1;
	store_done(st, stmt);
	memcpy(counts, c, sizeof(c));
	return 0;
}

int
store_prune(struct store *st, gint64 now, gint64 retention, GError **error)
{
	sqlite3_stmt *jobs = st->stmt[ST_PRUNE_JOBS];
	sqlite3_stmt *dedup = st->stmt[ST_PRUNE_DEDUP];

	if (store_begin(st, error) < 0)
		return -1;
	store_bind_int(st, jobs, 1, now - retention);
	if (store_run(st, jobs, "prune jobs", error) < 0)
		goto fail;
	store_bind_int(st, dedup, 1, now - STORE_DEDUP_WINDOW);
	if (store_run(st, dedup, "prune dedup", error) < 0)
		goto fail;
	if (store_commit(st, error) < 0)
		goto fail;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

int
store_latest_code(struct store *st, const char *identifier, gint64 since,
    char **code_r, gint64 *job_id_r, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_LATEST_CODE];
	int r;

	*code_r = NULL;
	*job_id_r = 0;
	store_bind_text(st, stmt, 1, identifier);
	store_bind_int(st, stmt, 2, since);
	r = store_step(st, stmt, "latest code", error);
	if (r < 0)
		return -1;
	if (r > 0) {
		*code_r = store_col_text(stmt, 0);
		*job_id_r = sqlite3_column_int64(stmt, 1);
	}
	store_done(st, stmt);
	return 0;
}

int
store_code_handout(struct store *st, gint64 job_id, const char *consumer,
    gint64 now, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_HANDOUT];

	store_bind_int(st, stmt, 1, job_id);
	store_bind_text(st, stmt, 2, consumer);
	store_bind_int(st, stmt, 3, now);
	return store_run(st, stmt, "code handout", error);
}

int
store_code_consumer(struct store *st, gint64 job_id, char **consumer_r,
    GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_CONSUMER];
	int r;

	*consumer_r = NULL;
	store_bind_int(st, stmt, 1, job_id);
	r = store_step(st, stmt, "code consumer", error);
	if (r < 0)
		return -1;
	if (r > 0)
		*consumer_r = store_col_text(stmt, 0);
	store_done(st, stmt);
	return 0;
}

int
store_imap_get(struct store *st, const char *account, const char *mailbox,
    guint32 *uidvalidity_r, guint32 *last_uid_r, gboolean *found_r, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_IMAP_GET];
	int r;

	*found_r = FALSE;
	*uidvalidity_r = 0;
	*last_uid_r = 0;
	store_bind_text(st, stmt, 1, account);
	store_bind_text(st, stmt, 2, mailbox);
	r = store_step(st, stmt, "imap state", error);
	if (r < 0)
		return -1;
	if (r > 0) {
		*uidvalidity_r = (guint32)sqlite3_column_int64(stmt, 0);
		*last_uid_r = (guint32)sqlite3_column_int64(stmt, 1);
		*found_r = TRUE;
	}
	store_done(st, stmt);
	return 0;
}

int
store_imap_set(struct store *st, const char *account, const char *mailbox,
    guint32 uidvalidity, guint32 last_uid, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_IMAP_SET];

	store_bind_text(st, stmt, 1, account);
	store_bind_text(st, stmt, 2, mailbox);
	store_bind_int(st, stmt, 3, uidvalidity);
	store_bind_int(st, stmt, 4, last_uid);
	return store_run(st, stmt, "set imap state", error);
}

int
store_probe(struct store *st, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_PROBE];
	g_autofree char *dir = g_path_get_dirname(st->path);
	struct statvfs vfs;

	/* SQLite reuses WAL space, so a small write can pass on a full disk
	 * that the next commit of a message would not survive. */
	if (statvfs(dir, &vfs) == 0 &&
	    (guint64)vfs.f_bavail * vfs.f_frsize < STORE_MIN_FREE) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_TEMP,
		    "store %s: its filesystem is full (%" G_GUINT64_FORMAT " KiB free)",
		    st->path, (guint64)vfs.f_bavail * vfs.f_frsize / 1024);
		return -1;
	}
	st->probes++;
	store_bind_int(st, stmt, 1, g_get_real_time() / G_USEC_PER_SEC);
	return store_run(st, stmt, "probe", error);
}

guint64
store_probe_count(const struct store *st)
{
	return st->probes;
}

int
store_pull_code(struct store *st, const char *identifier,
    const char *const ids[2], gint64 since, char **code_r, gint64 *job_id_r,
    gboolean *tagged_r, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_PULL_CODE];
	g_autofree char *id0 = ids[0] != NULL ? g_ascii_strdown(ids[0], -1) : NULL;
	g_autofree char *id1 = ids[1] != NULL ? g_ascii_strdown(ids[1], -1) : NULL;
	int r;

	*code_r = NULL;
	*job_id_r = 0;
	*tagged_r = FALSE;
	store_bind_text(st, stmt, 1, identifier);
	store_bind_int(st, stmt, 2, since);
	store_bind_text(st, stmt, 3, id0);
	store_bind_text(st, stmt, 4, id1);
	r = store_step(st, stmt, "pull code", error);
	if (r < 0)
		return -1;
	if (r > 0) {
		*code_r = store_col_text(stmt, 0);
		*job_id_r = sqlite3_column_int64(stmt, 1);
		*tagged_r = sqlite3_column_int(stmt, 2) != 0;
	}
	store_done(st, stmt);
	return 0;
}

int
store_pull_body_get(struct store *st, const char *digest, char **identifier_r,
    gint64 *first_seen_r, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_PULL_BODY_GET];
	int r;

	*identifier_r = NULL;
	*first_seen_r = 0;
	store_bind_text(st, stmt, 1, digest);
	r = store_step(st, stmt, "pull body", error);
	if (r < 0)
		return -1;
	if (r > 0) {
		*identifier_r = store_col_text(stmt, 0);
		*first_seen_r = sqlite3_column_int64(stmt, 1);
	}
	store_done(st, stmt);
	return 0;
}

int
store_pull_body_set(struct store *st, const char *digest, const char *identifier,
    gint64 first_seen, GError **error)
{
	sqlite3_stmt *stmt = st->stmt[ST_PULL_BODY_SET];

	store_bind_text(st, stmt, 1, digest);
	store_bind_text(st, stmt, 2, identifier);
	store_bind_int(st, stmt, 3, first_seen);
	return store_run(st, stmt, "bind pull body", error);
}

/* ---- read-only access, for `otpbridge status` ------------------------- */

/* The columns of a struct store_outcome, in store_outcome_from_row() order:
 * never the body or the code. */
#define OUTCOME_COLS "id, state, identifier, source, filter, created, " \
	"updated, attempts, last_status"

/* Like store_fail(), but a lock held by another process reads as such. */
static int
store_ro_fail(struct store *st, int rc, const char *what, GError **error)
{
	if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_TEMP,
		    "store %s is busy: another process holds a lock on it (%s)",
		    st->path, sqlite3_errstr(rc));
		return -1;
	}
	return store_fail(st, rc, what, error);
}

/* Prepares sql and binds nothing; -1 with *error. */
static int
store_ro_prepare(struct store *st, const char *sql, sqlite3_stmt **stmt_r,
    GError **error)
{
	int rc = sqlite3_prepare_v2(st->db, sql, -1, stmt_r, NULL);

	if (rc != SQLITE_OK) {
		sqlite3_finalize(*stmt_r);
		*stmt_r = NULL;
		return store_ro_fail(st, rc, "query", error);
	}
	return 0;
}

/* Steps stmt: 1 for a row, 0 when done, -1 with *error. */
static int
store_ro_step(struct store *st, sqlite3_stmt *stmt, const char *what, GError **error)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return store_ro_fail(st, rc, what, error);
}

/* A one-integer result (a pragma or a count). */
static int
store_ro_int(struct store *st, const char *sql, gint64 *v, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int r;

	if (store_ro_prepare(st, sql, &stmt, error) < 0)
		return -1;
	r = store_ro_step(st, stmt, sql, error);
	if (r == 0) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO, "store %s: %s: no row",
		    st->path, sql);
		r = -1;
	}
	if (r > 0)
		*v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return r > 0 ? 0 : -1;
}

int
store_open_readonly(const char *path, guint busy_ms, struct store **st_r,
    GError **error)
{
	struct store *st;
	GStatBuf sb;
	g_autofree char *wal = NULL;
	g_autofree char *escaped = NULL;
	g_autofree char *uri = NULL;
	gint64 app_id = 0, version = 0;
	int rc;

	*st_r = NULL;
	if (g_stat(path, &sb) < 0) {
		int e = errno;

		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO, "store %s: %s%s", path,
		    e == ENOENT ? "does not exist" : g_strerror(e),
		    e == ENOENT ? " (the daemon creates it when it first starts; "
		    "check [store] path)" : "");
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO,
		    "store %s: not a regular file", path);
		return -1;
	}
	st = g_new0(struct store, 1);
	st->path = g_strdup(path);
	wal = g_strconcat(path, "-wal", NULL);
	escaped = g_uri_escape_string(path, G_URI_RESERVED_CHARS_ALLOWED_IN_PATH, TRUE);
	/*
	 * Without a -wal file no process has the store open and every commit
	 * is in the main file: it is read as immutable, because a read-only
	 * WAL connection would create -wal and -shm files and leave them
	 * behind.  XXX a daemon starting during this read may checkpoint
	 * into the file under us: at worst a wrong count or an error here,
	 * never harm to the store, which this handle cannot write.
	 */
	uri = g_strdup_printf("file:%s%s", escaped,
	    g_file_test(wal, G_FILE_TEST_EXISTS) ? "" : "?immutable=1");
	/* No SQLITE_OPEN_CREATE: a file removed meanwhile is not made again. */
	rc = sqlite3_open_v2(uri, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_ro_fail(st, rc, "open", error);
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, (int)MIN(busy_ms, (guint)G_MAXINT));
	sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, STORE_LENGTH_MAX);
	sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	if (store_exec(st, "PRAGMA query_only = ON", "query_only", error) < 0 ||
	    store_exec(st, "PRAGMA trusted_schema = OFF", "trusted_schema", error) < 0 ||
	    store_ro_int(st, "PRAGMA application_id", &app_id, error) < 0 ||
	    store_ro_int(st, "PRAGMA user_version", &version, error) < 0)
		goto fail;
	if (app_id != STORE_APP_ID || version < 1) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "store %s: not an otpbridge store", path);
		goto fail;
	}
	*st_r = st;
	return 0;
fail:
	store_close(&st);
	return -1;
}

int
store_ro_counts(struct store *st, GArray *out, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	g_autoptr(GArray) got = g_array_new(FALSE, TRUE, sizeof(struct store_state_count));
	int r;

	if (store_ro_prepare(st, "SELECT state, count(*),"
	    " sum(state = 0 AND attempts > 0) FROM jobs GROUP BY state ORDER BY state",
	    &stmt, error) < 0)
		return -1;
	while ((r = store_ro_step(st, stmt, "count", error)) > 0) {
		struct store_state_count c;

		c.state = (int)CLAMP(sqlite3_column_int64(stmt, 0), G_MININT, G_MAXINT);
		c.jobs = (guint64)MAX(sqlite3_column_int64(stmt, 1), 0);
		c.retrying = (guint64)MAX(sqlite3_column_int64(stmt, 2), 0);
		g_array_append_val(got, c);
	}
	sqlite3_finalize(stmt);
	if (r < 0)
		return -1;
	g_array_append_vals(out, got->data, got->len);
	return 0;
}

void
store_outcome_free(gpointer p)
{
	struct store_outcome *o = p;

	if (o == NULL)
		return;
	g_free(o->identifier);
	g_free(o->source);
	g_free(o->filter);
	g_free(o);
}

/* Builds a struct store_outcome from a row of OUTCOME_COLS. */
static struct store_outcome *
store_outcome_from_row(sqlite3_stmt *stmt)
{
	struct store_outcome *o = g_new0(struct store_outcome, 1);

	o->id = sqlite3_column_int64(stmt, 0);
	o->state = (int)CLAMP(sqlite3_column_int64(stmt, 1), G_MININT, G_MAXINT);
	o->identifier = store_col_text(stmt, 2);
	o->source = store_col_text(stmt, 3);
	o->filter = store_col_text(stmt, 4);
	o->created = sqlite3_column_int64(stmt, 5);
	o->updated = sqlite3_column_int64(stmt, 6);
	o->attempts = (guint)CLAMP(sqlite3_column_int64(stmt, 7), 0, (gint64)G_MAXUINT);
	o->last_status = sqlite3_column_int(stmt, 8);
	return o;
}

int
store_ro_last_attempt(struct store *st, struct store_outcome **out_r, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int r;

	*out_r = NULL;
	if (store_ro_prepare(st, "SELECT " OUTCOME_COLS " FROM jobs WHERE attempts > 0"
	    " ORDER BY updated DESC, id DESC LIMIT 1", &stmt, error) < 0)
		return -1;
	r = store_ro_step(st, stmt, "last attempt", error);
	if (r > 0)
		*out_r = store_outcome_from_row(stmt);
	sqlite3_finalize(stmt);
	return r < 0 ? -1 : 0;
}

int
store_ro_last_per_identifier(struct store *st, guint limit, GPtrArray *out,
    guint64 *identifiers_r, GError **error)
{
	g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(store_outcome_free);
	sqlite3_stmt *stmt = NULL;
	gint64 n = 0;
	int r;

	*identifiers_r = 0;
	limit = MIN(limit, STORE_ROWS_MAX);
	if (store_ro_int(st, "SELECT count(DISTINCT identifier) FROM jobs", &n, error) < 0 ||
	    store_ro_prepare(st, "SELECT " OUTCOME_COLS " FROM jobs WHERE id IN"
	    " (SELECT max(id) FROM jobs GROUP BY identifier) ORDER BY id DESC LIMIT ?1",
	    &stmt, error) < 0)
		return -1;
	if ((r = sqlite3_bind_int64(stmt, 1, limit)) != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return store_fail(st, r, "last per identifier", error);
	}
	while ((r = store_ro_step(st, stmt, "last per identifier", error)) > 0 &&
	    got->len < limit)
		g_ptr_array_add(got, store_outcome_from_row(stmt));
	sqlite3_finalize(stmt);
	if (r < 0)
		return -1;
	for (guint i = 0; i < got->len; i++)
		g_ptr_array_add(out, got->pdata[i]);
	g_ptr_array_set_free_func(got, NULL);
	*identifiers_r = (guint64)MAX(n, 0);
	return 0;
}

int
store_ro_imap(struct store *st, const char *account, const char *mailbox,
    guint32 *uidvalidity_r, guint32 *last_uid_r, gboolean *found_r, GError **error)
{
	sqlite3_stmt *stmt = NULL;
	int r;

	*found_r = FALSE;
	*uidvalidity_r = 0;
	*last_uid_r = 0;
	if (store_ro_prepare(st, "SELECT uidvalidity, last_uid FROM imap_state"
	    " WHERE account = ?1 AND mailbox = ?2", &stmt, error) < 0)
		return -1;
	if ((r = sqlite3_bind_text(stmt, 1, account, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (r = sqlite3_bind_text(stmt, 2, mailbox, -1, SQLITE_STATIC)) != SQLITE_OK) {
		sqlite3_finalize(stmt);
		return store_fail(st, r, "imap state", error);
	}
	r = store_ro_step(st, stmt, "imap state", error);
	if (r > 0) {
		*uidvalidity_r = (guint32)sqlite3_column_int64(stmt, 0);
		*last_uid_r = (guint32)sqlite3_column_int64(stmt, 1);
		*found_r = TRUE;
	}
	sqlite3_finalize(stmt);
	return r < 0 ? -1 : 0;
}

/*
 * Live owners (store.h).  A process that leases jobs holds a read lock on
 * byte PID of PATH.lock for as long as its handle is open; the kernel
 * drops the lock when the process dies, however it dies (kill -9, OOM).
 * Open file description locks: the lock belongs to the open file, not to
 * the process, so a second handle in one process sees the first one's
 * lock (the unit tests), and O_CLOEXEC keeps it from outliving us in a
 * child (password_command).  A read lock needs only read access: a
 * `deliver` running as another user can hold one beside the daemon's.
 * Another local user who can read the file can make a dead owner look
 * alive (its leases then lapse as before), never a live one look dead.
 */
#ifndef F_OFD_SETLK
#error "open file description locks (F_OFD_SETLK, Linux 3.15) are needed"
#endif

/* Opens PATH.lock once (created 0644: it holds no data). */
static int
store_live_fd(struct store *st, GError **error)
{
	g_autofree char *lock = NULL;

	if (st->live_fd >= 0)
		return st->live_fd;
	lock = g_strconcat(st->path, ".lock", NULL);
	st->live_fd = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (st->live_fd < 0) {
		int e = errno;
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_TEMP, "store %s: %s: %s",
		    st->path, lock, g_strerror(e));
	}
	return st->live_fd;
}

char *
store_live_owner(struct store *st, const char *kind, GError **error)
{
	struct flock fl = { 0 };
	pid_t pid = getpid();
	int fd = store_live_fd(st, error);

	if (fd < 0)
		return NULL;
	fl.l_type = F_RDLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = pid;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		int e = errno;
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_TEMP,
		    "store %s: cannot lock %s.lock: %s", st->path, st->path, g_strerror(e));
		return NULL;
	}
	/* The nonce tells this process from an earlier one with its pid. */
	return g_strdup_printf("%s:%d:%08x", kind, (int)pid, g_random_int());
}

/* The pid of a live owner "KIND:PID:NONCE", else 0 (legacy "KIND:PID"
 * owners, or anything else: never voided, their leases lapse). */
static pid_t
store_owner_pid(const char *owner)
{
	const char *p = strchr(owner, ':');
	char *end;
	guint64 v;

	if (p == NULL || p == owner || !g_ascii_isdigit(p[1]))
		return 0;
	v = g_ascii_strtoull(p + 1, &end, 10);
	if (*end != ':' || strlen(end + 1) != 8 || v == 0 || v > G_MAXINT32)
		return 0;
	for (const char *q = end + 1; *q != '\0'; q++)
		if (!g_ascii_isxdigit(*q))
			return 0;
	return (pid_t)v;
}

/* 1 when no process holds the live lock on pid's byte, 0 when one does. */
static int
store_owner_gone(int fd, pid_t pid)
{
	struct flock fl = { 0 };

	fl.l_type = F_WRLCK;         /* conflicts with any read lock there */
	fl.l_whence = SEEK_SET;
	fl.l_start = pid;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return 0;                /* cannot tell: keep the lease */
	return fl.l_type == F_UNLCK;
}

int
store_void_dead_leases(struct store *st, const char *self, guint *count_r,
    GError **error)
{
	g_autoptr(GPtrArray) owners = g_ptr_array_new_with_free_func(g_free);
	sqlite3_stmt *sel = NULL, *upd = NULL;
	int fd, rc;

	*count_r = 0;
	fd = store_live_fd(st, error);
	if (fd < 0)
		return -1;
	rc = sqlite3_prepare_v2(st->db, "SELECT DISTINCT lease_owner FROM jobs"
	    " WHERE lease_owner IS NOT NULL", -1, &sel, NULL);
	if (rc != SQLITE_OK)
		return store_fail(st, rc, "find leases", error);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const char *o = (const char *)sqlite3_column_text(sel, 0);
		pid_t pid = o != NULL ? store_owner_pid(o) : 0;

		if (pid > 0 && g_strcmp0(o, self) != 0 && store_owner_gone(fd, pid))
			g_ptr_array_add(owners, g_strdup(o));
	}
	if (rc != SQLITE_DONE) {
		store_fail(st, rc, "find leases", error);
		sqlite3_finalize(sel);
		return -1;
	}
	sqlite3_finalize(sel);
	if (owners->len == 0)
		return 0;
	rc = sqlite3_prepare_v2(st->db, "UPDATE jobs SET lease_owner = NULL,"
	    " lease_until = 0 WHERE lease_owner = ?1", -1, &upd, NULL);
	if (rc != SQLITE_OK)
		return store_fail(st, rc, "void leases", error);
	for (guint i = 0; i < owners->len; i++) {
		store_bind_text(st, upd, 1, g_ptr_array_index(owners, i));
		if (store_run(st, upd, "void leases", error) < 0) {
			sqlite3_finalize(upd);
			return -1;
		}
		*count_r += (guint)sqlite3_changes(st->db);
	}
	sqlite3_finalize(upd);
	return 0;
}
