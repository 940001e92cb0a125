#!/usr/bin/env python3
"""imap-liar.py - a tiny plain-IMAP server on 127.0.0.1 that lies about
message sizes, for tests/imap-liar.sh.
  imap-liar.py PORT_FILE LOG_FILE BIG_BYTES
Mailbox INBOX holds UID 1, whose RFC822.SIZE is given as 200 but whose
body literal is BIG_BYTES long (whatever range the client asked for), and
UID 2, an honest small mail with a code; UID FETCH N:* answers with both
(sizes, dates and bodies, UID 1 lying the same way).  No IDLE: the client
polls.  One
line per command received goes to LOG_FILE (the password is not logged).
It speaks just enough IMAP4rev1 for one client at a time; it is a test
double, not a server."""
import os, re, socket, sys, threading, time

port_file, logf, big = sys.argv[1], sys.argv[2], int(sys.argv[3])
SMALL = (b"From: Acme <codes@acme.example>\r\nTo: bot@otp.example.com\r\n"
         b"Subject: Your Acme code\r\nMessage-ID: <liar2@acme.example>\r\n"
         b"\r\nYour verification code is 700002.\r\n")
DATE = time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime())


def log(msg):
    with open(logf, "a") as f:
        f.write(msg + "\n")


def handle(c):
    f = c.makefile("rb")
    c.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS] liar ready\r\n")
    while True:
        line = f.readline(8192)
        if not line:
            return
        parts = line.rstrip(b"\r\n").split(b" ", 2)
        tag = parts[0]
        cmd = parts[1].upper() if len(parts) > 1 else b""
        rest = parts[2] if len(parts) > 2 else b""
        log((cmd + (b"" if cmd == b"LOGIN" else b" " + rest)).decode("latin-1"))
        if cmd == b"CAPABILITY":
            c.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS\r\n" + tag + b" OK done\r\n")
        elif cmd == b"LOGIN":
            c.sendall(tag + b" OK logged in\r\n")
        elif cmd == b"SELECT":
            c.sendall(b"* 2 EXISTS\r\n* OK [UIDVALIDITY 77] ok\r\n"
                      b"* OK [UIDNEXT 3] ok\r\n" + tag + b" OK [READ-WRITE] selected\r\n")
        elif cmd == b"NOOP":
            c.sendall(tag + b" OK noop\r\n")
        elif cmd == b"LOGOUT":
            c.sendall(b"* BYE bye\r\n" + tag + b" OK bye\r\n")
            return
        elif cmd == b"UID" and rest.upper().startswith(b"SEARCH"):
            c.sendall(b"* SEARCH 1 2\r\n" + tag + b" OK searched\r\n")
        elif cmd == b"UID" and re.match(rb"FETCH \d+:\* ", rest, re.I):
            # UID FETCH N:* (UID INTERNALDATE RFC822.SIZE BODY.PEEK[]...):
            # every message from UID N on, or the last one when N > 2
            # (what "*" means).  UID 1 lies as below.
            first = int(re.match(rb"FETCH (\d+):", rest, re.I).group(1))
            for uid in [u for u in (1, 2) if u >= first] or [2]:
                body = SMALL if uid == 2 else None
                head = (b'* %d FETCH (UID %d INTERNALDATE "%s" RFC822.SIZE %d BODY[]<0> {%d}\r\n'
                        % (uid, uid, DATE.encode(), 200 if uid == 1 else len(SMALL),
                           big if uid == 1 else len(SMALL)))
                try:
                    c.sendall(head)
                    if body is not None:
                        c.sendall(body + b")\r\n")
                        continue
                    chunk = b"x" * 65536
                    sent = 0
                    while sent < big:
                        n = min(len(chunk), big - sent)
                        c.sendall(chunk[:n])
                        sent += n
                    c.sendall(b")\r\n")
                    log("sent the whole %d-byte literal" % big)
                except OSError:
                    log("client hung up during the literal of UID %d" % uid)
                    return
            c.sendall(tag + b" OK fetched\r\n")
        elif cmd == b"UID" and rest.upper().startswith(b"FETCH"):
            m = re.match(rb"FETCH (\d+) ", rest, re.I)
            uid = int(m.group(1)) if m else 0
            seq = 1 if uid == 1 else 2
            if b"BODY" in rest.upper():
                if uid == 1:
                    head = b"* %d FETCH (UID 1 BODY[]<0> {%d}\r\n" % (seq, big)
                    c.sendall(head)
                    chunk = b"x" * 65536
                    sent = 0
                    try:
                        while sent < big:
                            n = min(len(chunk), big - sent)
                            c.sendall(chunk[:n])
                            sent += n
                    except OSError:
                        log("client hung up after %d of %d literal bytes" % (sent, big))
                        return
                    c.sendall(b")\r\n" + tag + b" OK fetched\r\n")
                    log("sent the whole %d-byte literal" % big)
                else:
                    c.sendall(b"* %d FETCH (UID 2 BODY[]<0> {%d}\r\n" % (seq, len(SMALL))
                              + SMALL + b")\r\n" + tag + b" OK fetched\r\n")
            else:
                size = 200 if uid == 1 else len(SMALL)
                c.sendall(b'* %d FETCH (UID %d INTERNALDATE "%s" RFC822.SIZE %d)\r\n'
                          % (seq, uid, DATE.encode(), size) + tag + b" OK fetched\r\n")
        elif cmd == b"UID" and rest.upper().startswith(b"STORE"):
            c.sendall(tag + b" OK stored\r\n")
        else:
            c.sendall(tag + b" BAD not in this test double\r\n")


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(4)
with open(port_file + ".tmp", "w") as pf:
    pf.write("%d\n" % ls.getsockname()[1])
os.rename(port_file + ".tmp", port_file)
while True:
    conn, _ = ls.accept()
    log("conn")
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
