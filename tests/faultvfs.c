/*
 * faultvfs.c - a fault-injecting SQLite VFS for the unit tests (see
 * faultvfs.h), linked through tests/libtestutil.a, never into the daemon.
 * The only test file that includes sqlite3.h, as store.c is in src/.
 *
 * It wraps the default VFS ("unix"): every method passes through to it,
 * except that xRead, xWrite and xSync of the main database and WAL files,
 * and their write locks, fail when armed.  The shared-memory index is not
 * written through xWrite (it is mapped), so WAL commits are hit where they
 * reach the WAL file.  Single-threaded use: the counters are plain.
 */
#include "autoconfig.h"

#include <string.h>
#include <sqlite3.h>

#include "faultvfs.h"

struct fault_file {
	sqlite3_file base;
	sqlite3_file *real;           /* the default VFS's file, right after us */
	gboolean counted;             /* main database or WAL */
};

static sqlite3_vfs *fault_real;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_io;

static struct {
	gboolean armed;
	enum faultvfs_op op;
	guint nth;                    /* the call that fails first */
	int times;                    /* how many fail; < 0: all from nth */
	enum faultvfs_error error;
	guint calls[FAULTVFS_OPS];
	guint fired;
} fault;

/* The SQLite result code op fails with when error is injected. */
static int
fault_rc(enum faultvfs_op op, enum faultvfs_error error)
{
	switch (error) {
	case FAULTVFS_FULL:
		return SQLITE_FULL;
	case FAULTVFS_BUSY:
		return SQLITE_BUSY;
	case FAULTVFS_CORRUPT:
		/* XXX the code itself, not a garbage page: what the store
		 * sees is the same error, which it does not call temporary. */
		return SQLITE_CORRUPT;
	case FAULTVFS_IOERR:
	default:
		return op == FAULTVFS_WRITE ? SQLITE_IOERR_WRITE :
		    op == FAULTVFS_SYNC ? SQLITE_IOERR_FSYNC :
		    op == FAULTVFS_READ ? SQLITE_IOERR_READ : SQLITE_IOERR_LOCK;
	}
}

/* Counts one call of op on f; returns the error to fail it with, or 0. */
static int
fault_hit(struct fault_file *f, enum faultvfs_op op)
{
	guint n;

	if (!f->counted || !fault.armed)
		return 0;
	n = ++fault.calls[op];
	if (fault.op != op)
		return 0;
	if (n < fault.nth)
		return 0;
	if (fault.times >= 0 && n >= fault.nth + (guint)fault.times)
		return 0;
	fault.fired++;
	return fault_rc(op, fault.error);
}

static int
fault_close(sqlite3_file *file)
{
	struct fault_file *f = (struct fault_file *)file;
	int rc = f->real->pMethods != NULL ? f->real->pMethods->xClose(f->real) : SQLITE_OK;

	f->base.pMethods = NULL;
	return rc;
}

static int
fault_read(sqlite3_file *file, void *buf, int n, sqlite3_int64 off)
{
	struct fault_file *f = (struct fault_file *)file;
	int rc = fault_hit(f, FAULTVFS_READ);

	return rc != 0 ? rc : f->real->pMethods->xRead(f->real, buf, n, off);
}

static int
fault_write(sqlite3_file *file, const void *buf, int n, sqlite3_int64 off)
{
	struct fault_file *f = (struct fault_file *)file;
	int rc = fault_hit(f, FAULTVFS_WRITE);

	return rc != 0 ? rc : f->real->pMethods->xWrite(f->real, buf, n, off);
}

static int
fault_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xTruncate(f->real, size);
}

static int
fault_sync(sqlite3_file *file, int flags)
{
	struct fault_file *f = (struct fault_file *)file;
	int rc = fault_hit(f, FAULTVFS_SYNC);

	return rc != 0 ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int
fault_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xFileSize(f->real, size);
}

static int
fault_lock(sqlite3_file *file, int level)
{
	struct fault_file *f = (struct fault_file *)file;
	int rc = level >= SQLITE_LOCK_RESERVED ? fault_hit(f, FAULTVFS_LOCK) : 0;

	return rc != 0 ? rc : f->real->pMethods->xLock(f->real, level);
}

static int
fault_unlock(sqlite3_file *file, int level)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xUnlock(f->real, level);
}

static int
fault_check_reserved(sqlite3_file *file, int *out)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int
fault_file_control(sqlite3_file *file, int op, void *arg)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
fault_sector_size(sqlite3_file *file)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xSectorSize(f->real);
}

static int
fault_device(sqlite3_file *file)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int
fault_shm_map(sqlite3_file *file, int pg, int pgsz, int extend, void volatile **p)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, p);
}

static int
fault_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct fault_file *f = (struct fault_file *)file;
	int rc = 0;

	if ((flags & SQLITE_SHM_LOCK) && (flags & SQLITE_SHM_EXCLUSIVE))
		rc = fault_hit(f, FAULTVFS_LOCK);
	return rc != 0 ? rc : f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void
fault_shm_barrier(sqlite3_file *file)
{
	struct fault_file *f = (struct fault_file *)file;

	f->real->pMethods->xShmBarrier(f->real);
}

static int
fault_shm_unmap(sqlite3_file *file, int del)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xShmUnmap(f->real, del);
}

static int
fault_fetch(sqlite3_file *file, sqlite3_int64 off, int n, void **p)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xFetch(f->real, off, n, p);
}

static int
fault_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	struct fault_file *f = (struct fault_file *)file;

	return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods fault_io_template = {
	3, fault_close, fault_read, fault_write, fault_truncate, fault_sync,
	fault_file_size, fault_lock, fault_unlock, fault_check_reserved,
	fault_file_control, fault_sector_size, fault_device, fault_shm_map,
	fault_shm_lock, fault_shm_barrier, fault_shm_unmap, fault_fetch, fault_unfetch,
};

static int
fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
    int *out_flags)
{
	struct fault_file *f = (struct fault_file *)file;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	f->counted = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0;
	rc = fault_real->xOpen(fault_real, name, f->real, flags, out_flags);
	if (rc == SQLITE_OK && f->real->pMethods != NULL) {
		fault_io = fault_io_template;
		fault_io.iVersion = MIN(3, f->real->pMethods->iVersion);
		f->base.pMethods = &fault_io;
	}
	return rc;
}

static int
fault_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return fault_real->xDelete(fault_real, name, sync_dir);
}

static int
fault_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return fault_real->xAccess(fault_real, name, flags, out);
}

static int
fault_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return fault_real->xFullPathname(fault_real, name, n, out);
}

static void *
fault_dl_open(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return fault_real->xDlOpen(fault_real, name);
}

static void
fault_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	fault_real->xDlError(fault_real, n, msg);
}

static void (*fault_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return fault_real->xDlSym(fault_real, h, sym);
}

static void
fault_dl_close(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	fault_real->xDlClose(fault_real, h);
}

static int
fault_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return fault_real->xRandomness(fault_real, n, out);
}

static int
fault_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return fault_real->xSleep(fault_real, us);
}

static int
fault_current_time(sqlite3_vfs *vfs, double *t)
{
	(void)vfs;
	return fault_real->xCurrentTime(fault_real, t);
}

static int
fault_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	return fault_real->xGetLastError(fault_real, n, msg);
}

static int
fault_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
	(void)vfs;
	return fault_real->xCurrentTimeInt64(fault_real, t);
}

void
faultvfs_install(void)
{
	if (fault_real != NULL)
		return;
	g_assert_cmpint(sqlite3_initialize(), ==, SQLITE_OK);
	fault_real = sqlite3_vfs_find(NULL);
	g_assert_nonnull(fault_real);
	g_assert_cmpint(fault_real->iVersion, >=, 2);
	fault_vfs.iVersion = 2;
	fault_vfs.szOsFile = (int)sizeof(struct fault_file) + fault_real->szOsFile;
	fault_vfs.mxPathname = fault_real->mxPathname;
	fault_vfs.zName = "faultvfs";
	fault_vfs.xOpen = fault_open;
	fault_vfs.xDelete = fault_delete;
	fault_vfs.xAccess = fault_access;
	fault_vfs.xFullPathname = fault_full_pathname;
	fault_vfs.xDlOpen = fault_dl_open;
	fault_vfs.xDlError = fault_dl_error;
	fault_vfs.xDlSym = fault_dl_sym;
	fault_vfs.xDlClose = fault_dl_close;
	fault_vfs.xRandomness = fault_randomness;
	fault_vfs.xSleep = fault_sleep;
	fault_vfs.xCurrentTime = fault_current_time;
	fault_vfs.xGetLastError = fault_last_error;
	fault_vfs.xCurrentTimeInt64 = fault_current_time64;
	g_assert_cmpint(sqlite3_vfs_register(&fault_vfs, 1), ==, SQLITE_OK);
}

void
faultvfs_arm(enum faultvfs_op op, guint nth, int times, enum faultvfs_error error)
{
	memset(&fault, 0, sizeof(fault));
	fault.armed = TRUE;
	fault.op = op;
	fault.nth = MAX(nth, 1);
	fault.times = times;
	fault.error = error;
}

void
faultvfs_disarm(void)
{
	fault.armed = FALSE;
}

guint
faultvfs_fired(void)
{
	return fault.fired;
}

guint
faultvfs_calls(enum faultvfs_op op)
{
	return fault.calls[op];
}

/* Opens path through the default VFS for faultvfs_exec/_query_int. */
static sqlite3 *
fault_db(const char *path)
{
	sqlite3 *db = NULL;

	g_assert_cmpint(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL), ==, SQLITE_OK);
	return db;
}

void
faultvfs_exec(const char *path, const char *sql)
{
	sqlite3 *db = fault_db(path);
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		g_error("faultvfs_exec: %s", msg != NULL ? msg : sqlite3_errstr(rc));
	g_assert_cmpint(sqlite3_close(db), ==, SQLITE_OK);
}

gint64
faultvfs_query_int(const char *path, const char *sql)
{
	sqlite3 *db = fault_db(path);
	sqlite3_stmt *stmt = NULL;
	gint64 v;

	g_assert_cmpint(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_step(stmt), ==, SQLITE_ROW);
	v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	g_assert_cmpint(sqlite3_close(db), ==, SQLITE_OK);
	return v;
}
