#!/usr/bin/env python3
"""ports.py - loopback TCP ports for listeners a test starts later.

    ports.py N OWNER-PID   prints N distinct ports, space-separated
    ports.py --release OWNER-PID   drops OWNER-PID's reservations

A port picked by bind(("127.0.0.1", 0)) and released comes from the
kernel's ephemeral range, where another test running in parallel can take
it before our listener binds it: its own bind(0), or the source port of
any outgoing connection.  These ports come from just below that range
(net.ipv4.ip_local_port_range), which the kernel never hands out by
itself, and each is reserved for OWNER-PID (the test's shell, $$) as a
directory in $TMPDIR/otpbridge-ports (mkdir is atomic: two tests never
hold one port), removed on the test's exit (testlib.sh cleanup); a
reservation whose owner is gone is taken over after an hour.  A port something already
listens on (bind fails) is not handed out.
"""
import os
import random
import shutil
import socket
import sys
import time

DIR = os.path.join(os.environ.get("TMPDIR", "/tmp"), "otpbridge-ports")
SPAN = 12000           # how many ports below the ephemeral range we use


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reserve(port, owner):
    """True when port is now ours (a reservation of a gone owner is taken)."""
    r = os.path.join(DIR, str(port))
    try:
        os.mkdir(r)
    except FileExistsError:
        try:
            with open(os.path.join(r, "pid")) as f:
                pid = int(f.read())
        except (OSError, ValueError):
            return False       # being made right now, or unreadable
        # A test killed hard leaves its reservations: one whose owner is
        # gone and that is an hour old (nobody is making it now) is taken.
        if alive(pid) or time.time() - os.stat(r).st_mtime < 3600:
            return False
        shutil.rmtree(r, ignore_errors=True)
        try:
            os.mkdir(r)
        except FileExistsError:
            return False       # another test took it over first
    with open(os.path.join(r, "pid"), "w") as f:
        f.write(str(owner))
    return True


def bindable(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    if sys.argv[1] == "--release":
        owner = sys.argv[2]
        for name in os.listdir(DIR) if os.path.isdir(DIR) else []:
            r = os.path.join(DIR, name)
            try:
                with open(os.path.join(r, "pid")) as f:
                    mine = f.read() == owner
            except OSError:
                mine = False
            if mine:
                shutil.rmtree(r, ignore_errors=True)
        return
    n, owner = int(sys.argv[1]), int(sys.argv[2])
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    first = max(1024, low - SPAN)
    try:
        os.mkdir(DIR)
        os.chmod(DIR, 0o1777)      # shared by every user's tests
    except FileExistsError:
        pass
    got = []
    for _ in range(5000):
        if len(got) == n:
            break
        p = random.randrange(first, low)
        if p in got or not reserve(p, owner):
            continue
        if bindable(p):
            got.append(p)
        else:
            shutil.rmtree(os.path.join(DIR, str(p)), ignore_errors=True)
    if len(got) < n:
        sys.exit("ports.py: no %d free ports below %d" % (n, low))
    print(" ".join(str(p) for p in got))


if __name__ == "__main__":
    main()
