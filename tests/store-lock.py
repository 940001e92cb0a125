#!/usr/bin/env python3
"""store-lock.py - another process holding the store's SQLite lock, for the
tests of a busy or locked store.

  store-lock.py MODE DB READY [RELEASE]

MODE is "write" (BEGIN IMMEDIATE: the write lock; readers go on),
"exclusive" (BEGIN EXCLUSIVE) or "all" (the file locked in exclusive
locking mode with a write pending: even the read-only status handle is
refused).  READY is created once the lock is held; the lock is let go
(and the process exits) once RELEASE exists, or never without RELEASE
(the test kills the process).  Python 3 standard library only.
"""
import os, sqlite3, sys, time

mode, db, ready = sys.argv[1], sys.argv[2], sys.argv[3]
release = sys.argv[4] if len(sys.argv) > 4 else None
c = sqlite3.connect(db, isolation_level=None, timeout=30)
if mode == "write":
    c.execute("BEGIN IMMEDIATE")
elif mode == "exclusive":
    c.execute("BEGIN EXCLUSIVE")
elif mode == "all":
    c.execute("PRAGMA locking_mode = EXCLUSIVE")
    c.execute("BEGIN EXCLUSIVE")
    c.execute("UPDATE probe SET at = at")
else:
    sys.exit("store-lock.py: unknown mode " + mode)
open(ready, "w").close()
while release is None or not os.path.exists(release):
    time.sleep(0.02)
c.execute("ROLLBACK")
