#!/usr/bin/env python3
"""imap-after.py - a small stateful plain-IMAP server on 127.0.0.1 whose
answers to the `after` commands (UID MOVE, UID COPY, UID STORE, UID
EXPUNGE, EXPUNGE) a test scripts, for tests/imap-after.sh.

  imap-after.py PORT_FILE LOG_FILE STATE_FILE MAILDIR [options]
    --caps "CAP ..."   the capabilities (default: IMAP4rev1 AUTH=PLAIN
                       UIDPLUS; add MOVE for a server with MOVE)
    --folders "A B"    mailboxes that exist besides INBOX (default: none)
    --no CMD           answer "NO" to command CMD ("UID COPY", "UID
                       MOVE", "UID STORE", "UID EXPUNGE", "EXPUNGE");
                       may be repeated
    --drop CMD         the first time CMD comes, close the connection
                       without an answer (a network drop between the
                       commit and the action); may be repeated
    --late FILE        a mail arrives during the first UID FETCH that
                       returns messages: after that FETCH's data, FILE
                       is copied into MAILDIR (so it gets the next UID)
                       and "* N EXISTS" written before the tagged OK, as
                       Dovecot reports mail that came during a command
    --chatty           every UID FETCH reply ends with "* N EXISTS", new
                       mail or not (unsolicited, as RFC 3501 allows)

INBOX holds the files MAILDIR/*.eml, UID 1, 2, ... in name order; a file
that appears later (written atomically: *.eml.tmp renamed) gets the next
UID when the next command comes.  UIDVALIDITY is 7.  IDLE when --caps
has it: "+ idling", then, until the client's DONE (logged as "DONE"),
"* N EXISTS" whenever INBOX holds more messages than the client was last
told of (SELECT, NOOP, IDLE, --late's EXISTS); then the tagged OK.
Outside IDLE, only NOOP and --late announce new mail.  COPY/MOVE to a mailbox that does not exist is answered "NO
[TRYCREATE]", as real servers do.  STORE, EXPUNGE, COPY and MOVE change
the state as a server would; EXPUNGE removes INBOX's \\Deleted messages,
UID EXPUNGE only those of its set.

LOG_FILE gets one line per command, without its tag, as received (LOGIN
as just "LOGIN": no password), then "conn" for each connection and
"drop CMD" when --drop acted.  STATE_FILE is rewritten (atomically) after
every command: {"INBOX": [{"uid", "file", "flags"}], "<folder>": [...]}.
One client at a time; a test double, not a server.  Python 3 standard
library only.
"""
import argparse, json, os, re, select, socket, time

ap = argparse.ArgumentParser()
ap.add_argument("port_file")
ap.add_argument("log_file")
ap.add_argument("state_file")
ap.add_argument("maildir")
ap.add_argument("--caps", default="IMAP4rev1 AUTH=PLAIN UIDPLUS")
ap.add_argument("--folders", default="")
ap.add_argument("--no", action="append", default=[])
ap.add_argument("--drop", action="append", default=[])
ap.add_argument("--late")
ap.add_argument("--chatty", action="store_true")
args = ap.parse_args()

boxes = {"INBOX": []}
for name in args.folders.split():
    boxes[name] = []
files_seen = set()
next_uid = [1]
dropped = set()
late_done = [False]
DATE = time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime())


def log(msg):
    with open(args.log_file, "a") as f:
        f.write(msg + "\n")


def save_state():
    tmp = args.state_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(boxes, f)
    os.rename(tmp, args.state_file)


def rescan():
    for name in sorted(os.listdir(args.maildir)):
        if name.endswith(".eml") and name not in files_seen:
            files_seen.add(name)
            boxes["INBOX"].append({"uid": next_uid[0], "file": name, "flags": []})
            next_uid[0] += 1


def body(m):
    with open(os.path.join(args.maildir, m["file"]), "rb") as f:
        return f.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def uid_set(spec):
    """The INBOX messages a UID set names ("*" is the highest UID)."""
    inbox = boxes["INBOX"]
    top = inbox[-1]["uid"] if inbox else 0
    want = set()
    for part in spec.split(","):
        lo, _, hi = part.partition(":")
        lo = top if lo == "*" else int(lo)
        hi = lo if hi == "" else (top if hi == "*" else int(hi))
        lo, hi = min(lo, hi), max(lo, hi)
        want.update(range(lo, hi + 1))
    return [m for m in inbox if m["uid"] in want]


def fetch(c, spec, items):
    """Writes the FETCH data; the number of messages it named."""
    msgs = uid_set(spec)
    for m in msgs:
        seq = boxes["INBOX"].index(m) + 1
        parts = [b"UID %d" % m["uid"]]
        data = body(m)
        if "INTERNALDATE" in items:
            parts.append(b'INTERNALDATE "%s"' % DATE.encode())
        if "RFC822.SIZE" in items:
            parts.append(b"RFC822.SIZE %d" % len(data))
        head = b"* %d FETCH (" % seq + b" ".join(parts)
        if "BODY" in items:
            c.sendall(head + b" BODY[]<0> {%d}\r\n" % len(data) + data + b")\r\n")
        else:
            c.sendall(head + b")\r\n")
    return len(msgs)


def late_mail():
    """--late: FILE arrives in MAILDIR (atomically), INBOX picks it up."""
    name = os.path.basename(args.late)
    tmp = os.path.join(args.maildir, name + ".tmp")
    with open(args.late, "rb") as src, open(tmp, "wb") as dst:
        dst.write(src.read())
    os.rename(tmp, os.path.join(args.maildir, name))
    rescan()


def idle(c, f, t, known):
    """IDLE until DONE, announcing new mail; the count the client knows."""
    c.sendall(b"+ idling\r\n")
    while True:
        rescan()
        if len(boxes["INBOX"]) > known:
            known = len(boxes["INBOX"])
            c.sendall(b"* %d EXISTS\r\n" % known)
        if select.select([c], [], [], 0.05)[0]:
            line = f.readline(65536)
            if not line:
                return known
            log(line.rstrip(b"\r\n").decode("latin-1"))
            c.sendall(t + b" OK idle done\r\n")
            return known


def handle(c):
    f = c.makefile("rb")
    caps = args.caps.encode()
    c.sendall(b"* OK [CAPABILITY " + caps + b"] imap-after ready\r\n")
    known = 0  # messages the client was told INBOX holds
    while True:
        line = f.readline(65536)
        if not line:
            return
        line = line.rstrip(b"\r\n").decode("latin-1")
        tag, _, rest = line.partition(" ")
        words = rest.split(" ")
        cmd = words[0].upper()
        if cmd == "UID" and len(words) > 1:
            cmd = "UID " + words[1].upper()
            rest = " ".join(words[2:])
        else:
            rest = " ".join(words[1:])
        log("LOGIN" if cmd == "LOGIN" else (cmd + " " + rest).rstrip())
        rescan()
        t = tag.encode()
        if cmd in args.drop and cmd not in dropped:
            dropped.add(cmd)
            log("drop " + cmd)
            save_state()
            c.shutdown(socket.SHUT_RDWR)
            return
        if cmd in args.no:
            c.sendall(t + b" NO [CANNOT] refused by this test\r\n")
        elif cmd == "CAPABILITY":
            c.sendall(b"* CAPABILITY " + caps + b"\r\n" + t + b" OK done\r\n")
        elif cmd == "LOGIN":
            c.sendall(t + b" OK logged in\r\n")
        elif cmd in ("SELECT", "EXAMINE"):
            c.sendall(b"* FLAGS (\\Seen \\Deleted)\r\n* %d EXISTS\r\n"
                      b"* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT %d] ok\r\n"
                      % (len(boxes["INBOX"]), next_uid[0])
                      + t + b" OK [READ-WRITE] selected\r\n")
            known = len(boxes["INBOX"])
        elif cmd == "NOOP":
            c.sendall(b"* %d EXISTS\r\n" % len(boxes["INBOX"]) + t + b" OK noop\r\n")
            known = len(boxes["INBOX"])
        elif cmd == "IDLE" and b"IDLE" in caps.upper().split():
            known = idle(c, f, t, known)
        elif cmd == "LOGOUT":
            c.sendall(b"* BYE bye\r\n" + t + b" OK bye\r\n")
            return
        elif cmd == "UID SEARCH":
            c.sendall(b"* SEARCH" + b"".join(b" %d" % m["uid"] for m in boxes["INBOX"])
                      + b"\r\n" + t + b" OK searched\r\n")
        elif cmd == "UID FETCH":
            spec, _, items = rest.partition(" ")
            n = fetch(c, spec, items.upper())
            if n > 0 and args.late and not late_done[0]:
                late_done[0] = True
                late_mail()
                known = len(boxes["INBOX"])
                c.sendall(b"* %d EXISTS\r\n" % known)
            elif args.chatty:
                known = len(boxes["INBOX"])
                c.sendall(b"* %d EXISTS\r\n" % known)
            c.sendall(t + b" OK fetched\r\n")
        elif cmd == "UID STORE":
            m = re.match(r"(\S+) ([+-]?)FLAGS(?:\.SILENT)? \((.*)\)$", rest, re.I)
            for msg in uid_set(m.group(1)):
                for fl in m.group(3).split():
                    if m.group(2) == "-":
                        msg["flags"] = [x for x in msg["flags"] if x != fl]
                    elif fl not in msg["flags"]:
                        msg["flags"].append(fl)
            c.sendall(t + b" OK stored\r\n")
        elif cmd in ("UID COPY", "UID MOVE"):
            spec, _, dest = rest.partition(" ")
            dest = dest.strip('"')
            if dest not in boxes:
                c.sendall(t + b" NO [TRYCREATE] Mailbox doesn't exist: "
                          + dest.encode() + b"\r\n")
            else:
                msgs = uid_set(spec)
                for msg in msgs:
                    boxes[dest].append(dict(msg, flags=list(msg["flags"])))
                if cmd == "UID MOVE":
                    for msg in msgs:
                        c.sendall(b"* %d EXPUNGE\r\n" % (boxes["INBOX"].index(msg) + 1))
                        boxes["INBOX"].remove(msg)
                c.sendall(t + b" OK done\r\n")
        elif cmd in ("UID EXPUNGE", "EXPUNGE"):
            gone = [m for m in (uid_set(rest) if cmd == "UID EXPUNGE" else boxes["INBOX"])
                    if "\\Deleted" in m["flags"]]
            for msg in gone:
                c.sendall(b"* %d EXPUNGE\r\n" % (boxes["INBOX"].index(msg) + 1))
                boxes["INBOX"].remove(msg)
            c.sendall(t + b" OK expunged\r\n")
        else:
            c.sendall(t + b" BAD not in this test double\r\n")
        save_state()


rescan()
save_state()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(4)
with open(args.port_file + ".tmp", "w") as pf:
    pf.write("%d\n" % ls.getsockname()[1])
os.rename(args.port_file + ".tmp", args.port_file)
while True:
    conn, _ = ls.accept()
    log("conn")
    try:
        handle(conn)
    except OSError:
        pass
    finally:
        conn.close()
