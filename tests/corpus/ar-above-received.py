#!/usr/bin/env python3
"""ar-above-received.py [--check] FILE.eml...

Puts the corpus MTA's own Authentication-Results (authserv-id
mx.otp.example.com) above the topmost Received:, where Postfix + OpenDKIM
write it and the only place otpbridge trusts it (doc/security.md).  Only
a mail whose trusted header all stands below that line is changed: the
first such header moves up, every other byte stays; one that already has
a trusted header above it (a forged one further down is part of its
case) or has no Received: is left alone.  --check changes nothing, lists
the mails it would change and exits 1 when there is one."""
import re
import sys

ID = b"mx.otp.example.com"


def fields(head):
    """The header fields, each with its folded lines and line endings."""
    out = []
    for line in re.findall(rb"[^\n]*\n|[^\n]+$", head):
        if out and line[:1] in (b" ", b"\t"):
            out[-1] += line
        else:
            out.append(line)
    return out


def fix(raw):
    """raw with the trusted header moved up, or None when it needs none."""
    m = re.search(rb"\r?\n\r?\n", raw)
    if m is None:
        return None
    cut = m.start() + (2 if raw[m.start():m.start() + 2] == b"\r\n" else 1)
    fs = fields(raw[:cut])
    names = [f.split(b":", 1)[0].strip().lower() for f in fs]
    if b"received" not in names:
        return None
    r = names.index(b"received")

    def trusted(i):
        return names[i] == b"authentication-results" and \
            fs[i].split(b":", 1)[1].strip().split(b";")[0].strip().lower() == ID

    if any(trusted(i) for i in range(r)):
        return None
    for i in range(r + 1, len(fs)):
        if trusted(i):
            fs.insert(r, fs.pop(i))
            return b"".join(fs) + raw[cut:]
    return None


def main(argv):
    check = argv[:1] == ["--check"]
    found = 0
    for path in argv[1:] if check else argv:
        with open(path, "rb") as f:
            new = fix(f.read())
        if new is None:
            continue
        found += 1
        print(path)
        if not check:
            with open(path, "wb") as f:
                f.write(new)
    return 1 if check and found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
