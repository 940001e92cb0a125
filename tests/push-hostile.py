#!/usr/bin/env python3
"""push-hostile.py - a push endpoint on loopback whose replies are hostile,
for tests/push-hostile.sh.

  push-hostile.py PORT_FILE LOG_FILE [PORT]

Listens on 127.0.0.1:PORT (default: a free port; written to PORT_FILE, atomically, once
listening).  Each request is read whole (headers, Content-Length body);
the reply is chosen by the request's "workflow_run_id" (the plus part of
the identifier, bot+MODE@...): the first request of an id gets the
hostile reply MODE names, every later one -- and every request whose id
names no mode -- an ordinary 200 with a small JSON body (so a retried
job ends delivered).  Modes:

  big_S       status S, Content-Length 64 MiB, the body streamed at once
  chunk_S     status S, chunked, chunks streamed at once, never a last one
  head_S      status line S, then header lines streamed at once, never
              the empty line that ends them
  slowhead_S  status line S, then one header byte a second, forever
  trickle_S   status S, Content-Length 1000, then one body byte a second
  tricklestatus  the status line itself one byte a second, forever

Every reply body starts with REPLY_HEAD bytes of "P" (the part a client
keeps); past them, every byte sent belongs to the word "BEYONDBOUND"
repeated, so a test can grep for any of it in what the client stored or
logged.  Header lines past the status line carry "BEYONDBOUND" too.

LOG_FILE gets one JSON line when a request is read ({"ev":"req", "t",
"id", "n" (1 for the first request of that id), "mode", "body"}) and one
when the client hung up on a hostile reply ({"ev":"gone", "id", "n",
"after" (seconds from the request to the hang-up), "sent" (bytes of the
reply sent)}).  SIGTERM ends it at once.  Python 3 standard library only.
"""
import json, os, select, signal, socket, sys, threading, time

port_file, log_file = sys.argv[1], sys.argv[2]
port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
REPLY_HEAD = 4096            # push.h PUSH_REPLY_MAX
BIG = 64 * 1024 * 1024
KINDS = ("big", "chunk", "head", "slowhead", "trickle", "tricklestatus")
lock = threading.Lock()
seen = {}                    # id -> requests so far


def log(entry):
    line = json.dumps(entry, separators=(",", ":"))
    with lock:
        with open(log_file, "a") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())


def beyond(n):
    """n bytes of BEYONDBOUND repeated."""
    w = b"BEYONDBOUND"
    return (w * (n // len(w) + 1))[:n]


def read_request(c, buf):
    """One request from c (buf: bytes already read); (body, rest) or None."""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return None
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(buf) < length:
        d = c.recv(65536)
        if not d:
            return None
        buf += d
    return buf[:length], buf[length:]


def gone(c, secs):
    """Waits up to secs for c to be closed by the client: True if it was."""
    r, _, _ = select.select([c], [], [], secs)
    if not r:
        return False
    try:
        return c.recv(65536, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def stream(c, first, more, pause=0.0):
    """Sends first, then more() forever, waiting pause seconds (watching
    for the hang-up) before each; the bytes sent once c is gone."""
    sent = 0
    try:
        c.sendall(first)
        sent += len(first)
        while not gone(c, pause):
            d = more()
            c.sendall(d)
            sent += len(d)
    except OSError:
        pass
    return sent


def hostile(c, mode):
    """Sends the reply mode names; returns the bytes sent when c is gone."""
    kind, _, status = mode.partition("_")
    status = int(status) if status.isdigit() else 200
    line = b"HTTP/1.1 %d Hostile\r\n" % status
    head = b"P" * REPLY_HEAD
    if kind == "big":
        sent = [0]

        def more():
            n = min(65536, BIG - REPLY_HEAD - sent[0])
            if n <= 0:
                gone(c, 0.5)         # all of it sent: wait for the hang-up
                return b""
            sent[0] += n
            return beyond(n)
        return stream(c, line + b"Content-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % BIG + head, more)
    if kind == "chunk":
        chunk = b"%x\r\n%s\r\n" % (65536, beyond(65536))
        return stream(c, line + b"Content-Type: application/json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n"
                      + b"%x\r\n%s\r\n" % (REPLY_HEAD, head), lambda: chunk)
    if kind == "head":
        n = [0]

        def more():
            n[0] += 1
            return b"X-Pad-%d: %s\r\n" % (n[0], beyond(1000))
        return stream(c, line, more)
    if kind == "slowhead":
        pad = b"X-Slow: " + beyond(100000)
        i = [0]

        def more():
            i[0] += 1
            return pad[i[0] - 1:i[0]]
        return stream(c, line, more, 1.0)
    if kind == "trickle":
        return stream(c, line + b"Content-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n", lambda: b"P", 1.0)
    if kind == "tricklestatus":
        i = [0]

        def more():
            i[0] += 1
            return line[i[0] - 1:i[0]] if i[0] <= len(line) else b" "
        return stream(c, b"", more, 1.0)
    raise ValueError("unknown mode %r" % mode)


def handle(c):
    buf = b""
    try:
        while True:
            got = read_request(c, buf)
            if got is None:
                return
            body, buf = got
            t0 = time.time()
            try:
                ident = json.loads(body.decode("utf-8")).get("workflow_run_id")
            except ValueError:
                ident = None
            with lock:
                n = seen[ident] = seen.get(ident, 0) + 1
            hostile_id = ident is not None and ident.partition("_")[0] in KINDS
            mode = ident if n == 1 and hostile_id else "ok"
            log({"ev": "req", "t": t0, "id": ident, "n": n, "mode": mode,
                 "body": body.decode("utf-8", "replace")})
            if mode == "ok":
                data = json.dumps({"totp_code_id": "tc_%s_%d" % (ident, n),
                                   "status": "stored"}).encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(data) + data)
                continue
            sent = hostile(c, mode)
            log({"ev": "gone", "id": ident, "n": n,
                 "after": round(time.time() - t0, 3), "sent": sent})
            return
    except OSError:
        return
    finally:
        c.close()


signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(64)
with open(port_file + ".tmp", "w") as pf:
    pf.write("%d\n" % ls.getsockname()[1])
os.rename(port_file + ".tmp", port_file)
while True:
    conn, _ = ls.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
