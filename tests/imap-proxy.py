#!/usr/bin/env python3
"""imap-proxy.py - a loopback TCP proxy for tests/imap-more.sh.
  imap-proxy.py TARGET_PORT PORT_FILE STALL_FILE LOG_FILE [TAP_FILE [WIRE_FILE]]
Listens on a free 127.0.0.1 port (written to PORT_FILE) and forwards to
127.0.0.1:TARGET_PORT.  While STALL_FILE exists, every connection open at
that moment (and every one accepted meanwhile) stops forwarding in both
directions for good, WITHOUT closing its sockets: a silent network drop.
Connections accepted after STALL_FILE is gone forward normally.  While
STALL_FILE.fetch exists (plain IMAP only), the first client chunk of a
connection holding a "UID FETCH" line is forwarded only up to that line,
and nothing the client sends after it ever reaches the server, while the
server's replies still come through: a server that answers DONE but never
the FETCH sent with it ("half-stalled N TIME" in LOG_FILE, TIME the
time.time() of the cut).  Each
accepted connection appends "conn N" to LOG_FILE.  With TAP_FILE (for
bench/bench-imap.sh, plain IMAP only), the time.time() at which each
server chunk holding "EXISTS" was forwarded is appended to it (TAP_FILE
"" for none).  With WIRE_FILE (tests/imap-wire.sh, plain IMAP only), the
conversation's shape is appended to it in the order it was forwarded:
"S EXISTS" for each server chunk holding " EXISTS", and for each client
line "C K NAME", K the number of the client chunk it came in and NAME
the command without its tag and arguments ("UID FETCH", "DONE", "IDLE"),
so no password or other argument is ever written."""
import os, select, socket, sys, threading, time

tport, port_file, stall, logf = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
tap = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
wire = sys.argv[6] if len(sys.argv) > 6 else None
held = []  # sockets of dead connections, kept open until we exit


def log(msg):
    with open(logf, "a") as f:
        f.write(msg + "\n")


def shape(k, d, pending):
    """The "C K NAME" lines of client chunk k (d), pending the part of
    the last line not ended yet (a one-element list).  A line that is
    not a command (a literal, an AUTHENTICATE reply) is one token: it is
    written as its first word, cut to 12 characters, or "?" when it is not
    made of letters."""
    out = []
    pending[0] += d
    *lines, pending[0] = pending[0].split(b"\n")
    for line in lines:
        w = line.strip().split()
        if len(w) == 1:
            name = w[0][:12] if w[0].isalpha() else b"?"
        elif len(w) >= 2:
            name = w[1] + (b" " + w[2] if w[1].upper() == b"UID" and len(w) > 2 else b"")
            if not name.replace(b" ", b"").isalpha():
                name = b"?"
        else:
            continue
        out.append("C %d %s" % (k, name.decode("ascii", "replace").upper()))
    return out


def handle(n, c):
    k = 0
    pending = [b""]
    half = False  # the client's side is cut (STALL_FILE.fetch)
    try:
        u = socket.create_connection(("127.0.0.1", tport), 5)
        # No Nagle here: a proxy that held a server's second small write
        # until the client's (delayed) ACK would add 40 ms the client is
        # not to blame for.
        for s in (c, u):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        c.close()
        return
    while True:
        if os.path.exists(stall):
            held.extend((c, u))
            log("stalled %d" % n)
            return  # never read, write or close them again
        r, _, _ = select.select([c, u], [], [], 0.1)
        for s in r:
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if not d:
                c.close(); u.close()
                return
            if s is c and half:
                continue
            if s is c and os.path.exists(stall + ".fetch") and b"UID FETCH" in d:
                d = d[:d.rfind(b"\n", 0, d.find(b"UID FETCH")) + 1]
                half = True
                log("half-stalled %d %.6f" % (n, time.time()))
            try:
                if d:
                    (u if s is c else c).sendall(d)
                if tap is not None and s is u and b" EXISTS" in d:
                    with open(tap, "a") as f:
                        f.write("%.6f\n" % time.time())
                if wire is not None:
                    if s is u:
                        ev = ["S EXISTS"] if b" EXISTS" in d else []
                    else:
                        k += 1
                        ev = shape(k, d, pending)
                    if ev:
                        with open(wire, "a") as f:
                            f.write("".join(e + "\n" for e in ev))
            except OSError:
                c.close(); u.close()
                return


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(16)
tmp = port_file + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % ls.getsockname()[1])
os.rename(tmp, port_file)
n = 0
while True:
    c, _ = ls.accept()
    n += 1
    log("conn %d" % n)
    threading.Thread(target=handle, args=(n, c), daemon=True).start()
