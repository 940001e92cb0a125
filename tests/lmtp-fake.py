#!/usr/bin/env python3
"""lmtp-fake.py - a scripted LMTP server on a unix socket for
tests/deliver-fast.sh: it answers like otpbridge's sink up to the end of
DATA, then what it is told, and keeps every message's data as it came
over the wire (dot-stuffed, CRLF), so a test can check the client's
bytes.

  --sock PATH       the socket; made as PATH.tmp and renamed to PATH once
                    listening, so PATH existing means "accepting"
  --size N          the SIZE of the LHLO reply (default 4096)
  --final REPLY     the reply after the final dot (default "250 2.0.0 Ok");
                    "close": close the connection without a reply
  --data-dir DIR    message n's data, up to and without the final
                    ".\\r\\n", goes to DIR/n.wire (n = 1, 2, ...)
  --hold FILE       after the final dot: create FILE.held, then wait until
                    FILE exists before replying (a test looks at the
                    client meanwhile)

One session at a time, sequentially; SIGTERM ends it.  Python 3 standard
library only.
"""

import argparse
import os
import signal
import socket
import sys
import time


def serve(conn, a, count):
    f = conn.makefile("rb")

    def reply(s):
        conn.sendall(s.encode() + b"\r\n")

    reply("220 fake LMTP")
    while True:
        line = f.readline()
        if not line:
            return count
        verb = line.strip().split(b" ")[0].upper()
        if verb == b"LHLO":
            conn.sendall(b"250-fake\r\n250-PIPELINING\r\n250-SMTPUTF8\r\n"
                         b"250 SIZE %d\r\n" % a.size)
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            reply("250 2.0.0 Ok")
        elif verb == b"QUIT":
            reply("221 2.0.0 Bye")
            return count
        elif verb == b"DATA":
            reply("354 go ahead")
            data = b""
            while True:
                line = f.readline()
                if not line or line == b".\r\n":
                    break
                data += line
            if not line:
                return count
            count += 1
            if a.data_dir:
                with open(os.path.join(a.data_dir, "%d.wire" % count), "wb") as out:
                    out.write(data)
            if a.hold:
                open(a.hold + ".held", "w").close()
                while not os.path.exists(a.hold):
                    time.sleep(0.02)
            if a.final == "close":
                return count
            reply(a.final)
        else:
            reply("500 5.5.2 what")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sock", required=True)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--final", default="250 2.0.0 Ok")
    p.add_argument("--data-dir")
    p.add_argument("--hold")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(a.sock + ".tmp")
    s.listen(8)
    os.rename(a.sock + ".tmp", a.sock)
    count = 0
    while True:
        conn, _ = s.accept()
        try:
            count = serve(conn, a, count)
        except OSError:
            pass
        conn.close()


if __name__ == "__main__":
    main()
