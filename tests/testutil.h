/*
 * testutil.h - helpers shared by the unit tests: the temporary directory,
 * the file writer, the registration of table rows and the log capture
 * live here once.
 */
#ifndef OTPBRIDGE_TESTUTIL_H
#define OTPBRIDGE_TESTUTIL_H

#include <glib.h>

/* Removes path: a file, or a directory with everything below it (links
 * are removed, never followed).  Missing paths are fine. */
void testutil_rm_rf(const char *path);

/* Unsets the proxy variables libcurl reads: the tests talk to 127.0.0.1
 * only, and no proxy may sit in between. */
void testutil_no_proxy(void);

/* Creates a private (0700) directory <tmp>/<prefix>-XXXXXX; asserts.
 * The caller owns the path and removes it with testutil_tmpdir_free(). */
char *testutil_tmpdir_new(const char *prefix);
/* Removes *dir with everything below it, frees it and NULLs *dir. */
void testutil_tmpdir_free(char **dir);
/* A directory made for the running test and removed (with everything
 * below it) when that test ends; the path stays valid until then. */
const char *testutil_test_tmpdir(const char *prefix);

/* Writes len bytes of data (len < 0: a NUL-terminated string) to path,
 * then, if mode >= 0, sets exactly that mode whatever the umask; asserts. */
void testutil_write_file(const char *path, const char *data, gssize len, int mode);
/* The same into dir/name; returns the path (the caller frees it). */
char *testutil_write_in(const char *dir, const char *name, const char *data,
    gssize len, int mode);

/*
 * Captures the message of every log line from now on (any thread), as
 * text, one line each; warnings and worse (everything with --verbose)
 * still go to stderr.  testutil_log_text() returns a copy of what was
 * captured since the last testutil_log_clear(); testutil_log_count() how
 * often needle occurs in it.
 */
void testutil_log_capture(void);
char *testutil_log_text(void);
guint testutil_log_count(const char *needle);
void testutil_log_clear(void);

/* The job with id, read back through store_list() into *keep (which
 * the caller frees); NULL when absent. */
struct store;
struct job;
struct job *testutil_store_job(struct store *st, gint64 id, GPtrArray **keep);

/* Names row i of a table: the part of the test path after the prefix
 * (returns a new string). */
typedef char *(*testutil_row_name)(gsize i, gconstpointer row);

/*
 * Registers one g_test per row of a table: n rows of stride bytes from
 * rows, each as prefix/NAME running fn with the row as its data.  NAME is
 * name(i, row) or, with name NULL, the string at name_offset in the row.
 * Use the macros below.
 */
void testutil_add_rows(const char *prefix, gconstpointer rows, gsize n, gsize stride,
    gsize name_offset, testutil_row_name name, GTestDataFunc fn);

/* Each row of the array rows as prefix/rows[i].name. */
#define TESTUTIL_ADD_ROWS(prefix, rows, fn) \
	testutil_add_rows((prefix), (rows), G_N_ELEMENTS(rows), sizeof((rows)[0]), \
	    G_STRUCT_OFFSET(__typeof__((rows)[0]), name), NULL, (fn))
/* Each row of the array rows as prefix/namefn(i, &rows[i]). */
#define TESTUTIL_ADD_ROWS_NAMED(prefix, rows, namefn, fn) \
	testutil_add_rows((prefix), (rows), G_N_ELEMENTS(rows), sizeof((rows)[0]), \
	    0, (namefn), (fn))

/* The schema of a version-1 store (before the v2 rebuild of jobs), as
 * otpbridge wrote it: migration tests start from it and add their rows. */
#define TESTUTIL_STORE_V1_SCHEMA \
	"PRAGMA journal_mode = WAL;" \
	"PRAGMA application_id = 1330925634;" \
	"CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT," \
	" state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 3)," \
	" dedup_key TEXT NOT NULL, identifier TEXT NOT NULL, source TEXT, filter TEXT," \
	" body TEXT NOT NULL, code TEXT, created INTEGER NOT NULL," \
	" expires INTEGER NOT NULL, next_attempt INTEGER NOT NULL," \
	" attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER NOT NULL DEFAULT 0," \
	" last_reply TEXT, remote_id TEXT, lease_owner TEXT," \
	" lease_until INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL);" \
	"CREATE INDEX jobs_due ON jobs(next_attempt) WHERE state = 0;" \
	"CREATE INDEX jobs_code ON jobs(identifier, created) WHERE code IS NOT NULL;" \
	"CREATE INDEX jobs_updated ON jobs(updated) WHERE state <> 0;" \
	"CREATE TABLE dedup (dedup_key TEXT NOT NULL, identifier TEXT NOT NULL," \
	" created INTEGER NOT NULL, PRIMARY KEY (dedup_key, identifier)) WITHOUT ROWID;" \
	"CREATE INDEX dedup_created ON dedup(created);" \
	"CREATE TABLE handouts (job_id INTEGER NOT NULL REFERENCES jobs(id)" \
	" ON DELETE CASCADE, consumer TEXT NOT NULL, at INTEGER NOT NULL," \
	" UNIQUE (job_id, consumer));" \
	"CREATE TABLE imap_state (account TEXT NOT NULL, mailbox TEXT NOT NULL," \
	" uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL," \
	" PRIMARY KEY (account, mailbox)) WITHOUT ROWID;" \
	"CREATE TABLE probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);"

#endif
