#!/usr/bin/env python3
"""lmtp-client.py - a raw-socket LMTP/SMTP client for tests/lmtp.sh.

Addresses are unix:/path or inet:host:port (inet:[v6]:port).  Every line the server sends
is printed as "S: line"; "EOF" when the server closed the connection,
"TIMEOUT" when a read waited too long, "ERROR what" on a socket error.
Python 3 standard library only.

  chat ADDR < SCRIPT    one session driven by a script, one step a line:
      > TEXT            queue TEXT + CRLF; consecutive queued steps go out
                        in ONE write, at the next step that is not a send
      +N                queue N bytes of message body (lines of 'x')
      @ PATH            queue the bytes of file PATH as they are
      < N               read N complete replies (a multi-line reply is one)
      shut              shutdown(SHUT_WR): half-close
      eof               read until the server closes (prints EOF)
      close             close the socket (abort)
      sleep S           sleep S seconds
      kill PID SIG      send signal SIG (a number) to PID
  conns ADDR N          open N sessions and read their greetings, then one
                        more and read what it gets until it is closed; then
                        close the first and open one more (retrying for up
                        to 5 s while it gets 421): its greeting
  hog ADDR WAIT         sends NOOPs and never reads, until the server stops
                        reading (2 s of a full socket); prints "stopped
                        reading"; then probes every 0.5 s for up to WAIT s
                        whether the server closed the connection (a
                        send fails): "closed after N s" or "open after N s";
                        then keeps the socket open for another 60 s
  idle ADDR WAIT        LHLO, then wait up to WAIT s for anything; prints
                        what came and "elapsed N" (whole seconds)
  load ADDR OUT N C PID AFTER
                        N messages over C connections, one recipient each
                        (bot+m<i>@otp.example.com); appends a JSON line
                        per event to OUT: {"m":i,"ev":"dot"} once the
                        final dot was written, {"m":i,"ev":"250"} once
                        its 250 came; sends SIGKILL to PID once AFTER
                        messages got their 250.  A connection that fails
                        stops its share.
  sigterm ADDR PID      session A sends half a message; session B is idle
                        (after LHLO); SIGTERM to PID; then B's reply is
                        read, A finishes its data and reads until closed.
                        Prints "A: ..." and "B: ..." lines.
"""

import json
import os
import signal
import socket
import sys
import threading
import time

TIMEOUT = 15.0


def connect(addr, timeout=TIMEOUT):
    if addr.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(addr[5:])
    elif addr.startswith("inet:"):
        host, port = addr[5:].rsplit(":", 1)
        s = socket.create_connection((host.strip("[]"), int(port)),
                                     timeout=timeout)
    else:
        raise SystemExit("bad address %r" % addr)
    return s


class Reader:
    """Reads CRLF lines from a socket."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""
        self.eof = False

    def line(self, timeout=TIMEOUT):
        """A line without its CRLF; None at EOF; raises socket.timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.s.settimeout(left)
            d = self.s.recv(65536)
            if not d:
                self.eof = True
                if self.buf:
                    rest, self.buf = self.buf, b""
                    return rest.decode("utf-8", "replace")
                return None
            self.buf += d
        ln, self.buf = self.buf.split(b"\n", 1)
        return ln.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self, timeout=TIMEOUT):
        """One complete reply as a list of lines (ends early at EOF)."""
        lines = []
        while True:
            ln = self.line(timeout)
            if ln is None:
                return lines, True
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return lines, False


def out(prefix, text):
    sys.stdout.write("%s%s\n" % (prefix, text))
    sys.stdout.flush()


def body_bytes(n):
    """About n bytes of message body: 76-byte lines of 'x'."""
    b = b""
    while len(b) < n:
        b += b"x" * 76 + b"\r\n"
    return b


def chat(addr):
    try:
        s = connect(addr)
    except OSError as e:
        out("", "ERROR connect: %s" % e)
        return 1
    r = Reader(s)
    pending = b""

    def flush():
        nonlocal pending
        if pending:
            s.sendall(pending)
            pending = b""

    try:
        for raw in sys.stdin:
            step = raw.rstrip("\n")
            if step.startswith("> ") or step == ">":
                pending += step[2:].encode("utf-8") + b"\r\n"
                continue
            if step.startswith("+"):
                pending += body_bytes(int(step[1:]))
                continue
            if step.startswith("@ "):
                with open(step[2:], "rb") as f:
                    pending += f.read()
                continue
            flush()
            if step.startswith("< "):
                for _ in range(int(step[2:])):
                    lines, eof = r.reply()
                    for ln in lines:
                        out("S: ", ln)
                    if eof:
                        out("", "EOF")
                        return 0
            elif step == "shut":
                s.shutdown(socket.SHUT_WR)
            elif step == "eof":
                while True:
                    ln = r.line()
                    if ln is None:
                        out("", "EOF")
                        break
                    out("S: ", ln)
            elif step == "close":
                s.close()
                return 0
            elif step.startswith("sleep "):
                time.sleep(float(step[6:]))
            elif step.startswith("kill "):
                _, pid, sig = step.split()
                os.kill(int(pid), int(sig))
            elif step.strip() == "" or step.startswith("#"):
                pass
            else:
                raise SystemExit("bad step %r" % step)
        flush()
    except socket.timeout:
        out("", "TIMEOUT")
    except OSError as e:
        out("", "ERROR %s" % e)
    return 0


def conns(addr, n):
    keep = []
    for i in range(n):
        s = connect(addr)
        r = Reader(s)
        lines, _ = r.reply()
        out("%d: " % (i + 1), " ".join(lines))
        keep.append(s)
    s = connect(addr)
    r = Reader(s)
    try:
        while True:
            ln = r.line(10)
            if ln is None:
                out("%d: " % (n + 1), "EOF")
                break
            out("%d: " % (n + 1), ln)
    except socket.timeout:
        out("%d: " % (n + 1), "TIMEOUT")
    except OSError as e:
        out("%d: " % (n + 1), "ERROR %s" % e)
    keep.pop(0).close()
    last = "none"
    for _ in range(25):
        try:
            s = connect(addr)
            lines, _ = Reader(s).reply(10)
            s.close()
            last = " ".join(lines) if lines else "EOF"
        except (OSError, socket.timeout) as e:
            last = "ERROR %s" % e
        if last.startswith("220 "):
            break
        time.sleep(0.2)
    out("%d: " % (n + 2), last)
    for k in keep:
        k.close()
    return 0


def idle(addr, wait):
    s = connect(addr)
    r = Reader(s)
    r.reply()
    s.sendall(b"LHLO client.example\r\n")
    r.reply()
    t0 = time.monotonic()
    try:
        while True:
            ln = r.line(wait - (time.monotonic() - t0))
            if ln is None:
                out("", "EOF")
                break
            out("S: ", ln)
    except socket.timeout:
        out("", "TIMEOUT")
    except OSError as e:
        out("", "ERROR %s" % e)
    out("elapsed ", "%d" % int(time.monotonic() - t0))
    return 0


def hog(addr, wait):
    s = connect(addr)
    s.setblocking(False)
    chunk = b"NOOP\r\n" * 1000
    last = time.monotonic()
    t0 = last
    while time.monotonic() - last < 2:
        if time.monotonic() - t0 > 30:
            out("", "never stopped reading")
            return 0
        try:
            if s.send(chunk) > 0:
                last = time.monotonic()
        except BlockingIOError:
            time.sleep(0.05)
        except OSError as e:
            out("", "ERROR %s" % e)
            return 0
    out("", "stopped reading")
    t0 = time.monotonic()
    while time.monotonic() - t0 < wait:
        try:
            s.send(b"N")
        except BlockingIOError:
            pass
        except OSError:
            out("", "closed after %d s" % int(time.monotonic() - t0 + 2))
            break
        time.sleep(0.5)
    else:
        out("", "open after %d s" % int(time.monotonic() - t0 + 2))
    time.sleep(60)
    return 0


def message(i):
    return ("From: Acme <codes@acme.example>\r\n"
            "To: bot+m%d@otp.example.com\r\n"
            "Subject: Your Acme sign-in code\r\n"
            "Message-ID: <load-%d@acme.example>\r\n"
            "Date: Tue, 25 Nov 2025 10:00:00 +0000\r\n"
            "\r\n"
            "Your code is %06d. It expires in 10 minutes.\r\n"
            % (i, i, 100000 + i)).encode()


def load(addr, path, n, c, pid, after):
    lock = threading.Lock()
    got = [0]
    killed = [False]
    f = open(path, "a", encoding="utf-8")

    def record(i, ev):
        with lock:
            f.write(json.dumps({"m": i, "ev": ev}) + "\n")
            f.flush()
            if ev == "250":
                got[0] += 1
                if got[0] >= after and not killed[0]:
                    killed[0] = True
                    os.kill(pid, signal.SIGKILL)

    def worker(k):
        try:
            s = connect(addr, 10)
            r = Reader(s)
            r.reply(10)
            s.sendall(b"LHLO load.example\r\n")
            r.reply(10)
            for i in range(k, n, c):
                s.sendall(b"MAIL FROM:<codes@acme.example>\r\n"
                          b"RCPT TO:<bot+m%d@otp.example.com>\r\nDATA\r\n" % i)
                for _ in range(3):
                    lines, eof = r.reply(10)
                    if eof or not lines or lines[-1][:1] not in ("2", "3"):
                        return
                s.sendall(message(i) + b".\r\n")
                record(i, "dot")
                lines, eof = r.reply(10)
                if eof or not lines:
                    return
                if lines[-1].startswith("250 "):
                    record(i, "250")
                else:
                    return
        except (OSError, socket.timeout):
            return

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(c)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    f.close()
    out("", "got250 %d killed %s" % (got[0], killed[0]))
    return 0


def sigterm(addr, pid):
    a = connect(addr)
    ra = Reader(a)
    b = connect(addr)
    rb = Reader(b)
    ra.reply()
    rb.reply()
    b.sendall(b"LHLO idle.example\r\n")
    rb.reply()
    a.sendall(b"LHLO busy.example\r\nMAIL FROM:<codes@acme.example>\r\n"
              b"RCPT TO:<bot+term@otp.example.com>\r\nDATA\r\n")
    for _ in range(4):
        lines, _ = ra.reply()
        for ln in lines:
            out("A: ", ln)
    msg = ("From: Acme <codes@acme.example>\r\n"
           "To: bot+term@otp.example.com\r\n"
           "Subject: Your Acme sign-in code\r\n"
           "Message-ID: <sigterm-1@acme.example>\r\n"
           "\r\n"
           "Your code is 774411. It expires in 10 minutes.\r\n").encode()
    half = len(msg) // 2
    a.sendall(msg[:half])
    time.sleep(0.3)
    os.kill(pid, signal.SIGTERM)
    t0 = time.monotonic()
    try:
        while True:
            ln = rb.line(5)
            if ln is None:
                out("B: ", "EOF after %.1f s" % (time.monotonic() - t0))
                break
            out("B: ", ln)
    except socket.timeout:
        out("B: ", "TIMEOUT")
    except OSError as e:
        out("B: ", "ERROR %s" % e)
    try:
        a.sendall(msg[half:] + b".\r\n")
        while True:
            ln = ra.line(10)
            if ln is None:
                out("A: ", "EOF")
                break
            out("A: ", ln)
    except socket.timeout:
        out("A: ", "TIMEOUT")
    except OSError as e:
        out("A: ", "ERROR %s" % e)
    return 0


def main():
    a = sys.argv[1:]
    if not a:
        raise SystemExit(__doc__)
    if a[0] == "chat":
        return chat(a[1])
    if a[0] == "conns":
        return conns(a[1], int(a[2]))
    if a[0] == "hog":
        return hog(a[1], float(a[2]))
    if a[0] == "idle":
        return idle(a[1], float(a[2]))
    if a[0] == "load":
        return load(a[1], a[2], int(a[3]), int(a[4]), int(a[5]), int(a[6]))
    if a[0] == "sigterm":
        return sigterm(a[1], int(a[2]))
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
