/*
 * faultvfs.h - a fault-injecting SQLite VFS for the unit tests: the store
 * runs on real files, and the Nth read, write, sync or write lock of the main
 * database or its WAL fails with a chosen error, as a full disk, a
 * failing device, another writer or a corrupt page would make it fail.
 * No hook in the daemon: the VFS is registered as SQLite's default for
 * the test process.
 */
#ifndef OTPBRIDGE_FAULTVFS_H
#define OTPBRIDGE_FAULTVFS_H

#include <glib.h>

enum faultvfs_op {
	FAULTVFS_WRITE,      /* xWrite of the database or its WAL */
	FAULTVFS_SYNC,       /* xSync of the same */
	FAULTVFS_LOCK,       /* a write lock: xLock >= RESERVED, exclusive xShmLock */
	FAULTVFS_READ,       /* xRead of the database or its WAL */
	FAULTVFS_OPS
};

enum faultvfs_error {
	FAULTVFS_FULL,       /* SQLITE_FULL: no space left */
	FAULTVFS_IOERR,      /* SQLITE_IOERR_WRITE / _FSYNC / _LOCK / _READ, by op */
	FAULTVFS_BUSY,       /* SQLITE_BUSY: another writer holds the lock */
	FAULTVFS_CORRUPT,    /* SQLITE_CORRUPT: not temporary, unlike the others */
};

/* Registers the VFS as SQLite's default (once; later calls do nothing).
 * Call before the first store_open(). */
void faultvfs_install(void);
/* From now on, call number nth (1: the next) of op and the times - 1
 * after it (times < 0: every later one) fail with error.  Replaces any
 * earlier arming and resets the counters. */
void faultvfs_arm(enum faultvfs_op op, guint nth, int times, enum faultvfs_error error);
/* Nothing fails any more. */
void faultvfs_disarm(void);
/* Calls failed since the last faultvfs_arm(). */
guint faultvfs_fired(void);
/* Calls of op counted since the last faultvfs_arm() (arm with nth
 * G_MAXUINT to count without failing). */
guint faultvfs_calls(enum faultvfs_op op);

/* Test-side SQL on a store file, outside store.c (to build an old schema
 * or read what it holds): runs sql through its own connection; asserts. */
void faultvfs_exec(const char *path, const char *sql);
/* The integer the first column of sql's first row holds; asserts. */
gint64 faultvfs_query_int(const char *path, const char *sql);

#endif
