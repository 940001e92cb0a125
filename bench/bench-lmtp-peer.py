#!/usr/bin/env python3
"""bench-lmtp-peer.py - the LMTP sink against a Node peer, not a test.

Same run, same load generator, same HTTP sink: otpbridge's LMTP listener
and the peer (nodemailer smtp-server -> mailparser -> POST, which commits
nothing) each take N messages at 1, 8 and 64 connections from
lmtp_loadgen (C, pipelined MAIL/RCPT/DATA).  For each it reports accepted
msgs/s, end-of-DATA -> 250 and end-of-DATA -> push received at the sink,
p50/p99 in ms, and the server's RSS after the run and its peak (VmHWM),
then the ratios ours/peer.  Loopback only; ports from tests/ports.py.

    python3 bench/bench-lmtp-peer.py OTPBRIDGE PEERDIR [REPS]
    python3 bench/bench-lmtp-peer.py new=./otpbridge,old=/path/otpbridge PEERDIR [REPS]

The second form interleaves several builds with the peer in every run
(a before/after comparison on a busy machine) and prints each against the
peer.

PEERDIR holds lmtp_loadgen (built), sink.js, peer-node-lmtp.js and their
node_modules (npm install).  REPS (default 3) runs of every point; the
figures printed are the medians over the runs.  N per run:
BENCH_MSGS (default 400 x connections, at most 6000); BENCH_CONNS the
connection counts (default "1 8 64").
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONNS = tuple(int(c) for c in os.environ.get("BENCH_CONNS", "1 8 64").split())
BINARIES = {}


def ports(n):
    out = subprocess.check_output([sys.executable, os.path.join(TOP, "tests", "ports.py"),
                                   str(n), str(os.getpid())], text=True)
    return [int(p) for p in out.split()]


def wait_port(port, proc, secs=15.0):
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit("bench-lmtp-peer: a server exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit("bench-lmtp-peer: port %d never opened" % port)


def rss(pid):
    vals = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                vals[k] = int(v.split()[0])
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0)


def msgfile(path, tag, n):
    with open(path, "wb") as f:
        for i in range(n):
            rcpt = "bot+%s%d@otp.example.com" % (tag, i)
            body = ("From: Example <no-reply@accounts.example.org>\r\nTo: %s\r\n"
                    "Subject: Your verification code\r\nMessage-ID: <%s.%d@bench.example>\r\n"
                    "Date: Sun, 06 Dec 2026 03:00:00 +0000\r\n\r\n"
                    "Your verification code is 482913.\r\n.\r\n" % (rcpt, tag, i)).encode()
            f.write(b"%d\t%s\t%d\n" % (i, rcpt.encode(), len(body)))
            f.write(body)


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def one_run(peerdir, server_port, pid, sink_log, tag, conc, n, tmp):
    mf = os.path.join(tmp, "m-%s" % tag)
    out = os.path.join(tmp, "o-%s" % tag)
    msgfile(mf, tag, n)
    subprocess.check_call([os.path.join(peerdir, "lmtp_loadgen"), "127.0.0.1", str(server_port),
                           str(conc), mf, out])
    dots, acks = {}, []
    t0 = t1 = 0.0
    with open(out) as f:
        for line in f:
            if line.startswith("#"):
                _, _, t0, _, t1 = line.split()
                t0, t1 = float(t0), float(t1)
                continue
            seq, tdot, tack, st = line.split()
            if int(st) == 250:
                dots["bot+%s%s@otp.example.com" % (tag, seq)] = float(tdot)
                acks.append((float(tack) - float(tdot)) * 1000.0)
    # Every accepted message's push, or give up after 10 s of silence.
    got, last, size = {}, time.time(), 0
    while len(got) < len(dots) and time.time() - last < 10.0:
        with open(sink_log) as f:
            f.seek(size)
            chunk = f.read()
        nl = chunk.rfind("\n")
        if nl < 0:
            time.sleep(0.05)
            continue
        size += len(chunk[:nl + 1].encode())
        for line in chunk[:nl + 1].splitlines():
            rec = json.loads(line)
            ident = json.loads(rec["b"]).get("totp_identifier")
            if ident in dots and ident not in got:
                got[ident] = rec["t"] / 1000.0
        last = time.time()
    push = [(got[k] - dots[k]) * 1000.0 for k in got]
    os.unlink(mf)
    r, hwm = rss(pid)
    return {"msgs": len(acks) / (t1 - t0), "ack50": pct(acks, 50), "ack99": pct(acks, 99),
            "push50": pct(push, 50), "push99": pct(push, 99), "missing": len(dots) - len(got),
            "rss": r, "hwm": hwm}


def serve(kind, binary, peerdir, tmp, lport, sport, sink_log):
    binary = BINARIES.get(kind, binary)
    env = dict(os.environ)
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(k, None)
    url = "http://127.0.0.1:%d/v1/credentials/totp" % sport
    if kind == "peer":
        return subprocess.Popen(["node", os.path.join(peerdir, "peer-node-lmtp.js"), str(lport), url],
                                env=env, stderr=subprocess.DEVNULL)
    d = os.path.join(tmp, "ours")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "db"))
    with open(os.path.join(d, "key"), "w") as f:
        f.write("k\n")
    os.chmod(os.path.join(d, "key"), 0o600)
    with open(os.path.join(d, "c.conf"), "w") as f:
        f.write("[push]\nurl = %s\napi_key_file = key\n[store]\npath = db/o.db\n"
                "[lmtp]\nlisten = inet:127.0.0.1:%d\nmax_connections = 300\n" % (url, lport))
    return subprocess.Popen([binary, "-c", os.path.join(d, "c.conf"), "run"], env=env,
                            stderr=open(os.path.join(d, "log"), "w"))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    peerdir = os.path.abspath(sys.argv[2])
    if "=" in sys.argv[1]:
        for item in sys.argv[1].split(","):
            label, _, path = item.partition("=")
            label = label.lower()   # the daemon pushes the address lower-cased
            BINARIES[label] = os.path.abspath(path)
    else:
        BINARIES["ours"] = os.path.abspath(sys.argv[1])
    binary = None
    kinds = list(BINARIES) + ["peer"]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    tmp = tempfile.mkdtemp(prefix="bench-lmtp-peer.")
    procs = []
    res = {}
    try:
        for rep in range(reps):
            for kind in kinds:
                lport, sport = ports(2)
                sink_log = os.path.join(tmp, "sink-%s-%d.jsonl" % (kind, rep))
                sink = subprocess.Popen(["node", os.path.join(peerdir, "sink.js"), str(sport), sink_log])
                procs.append(sink)
                wait_port(sport, sink)
                srv = serve(kind, binary, peerdir, tmp, lport, sport, sink_log)
                procs.append(srv)
                wait_port(lport, srv)
                for conc in CONNS:
                    n = int(os.environ.get("BENCH_MSGS", "0")) or min(400 * conc, 6000)
                    tag = "%s%dr%dc%d-" % (kind, rep, conc, conc)
                    res.setdefault((kind, conc), []).append(
                        one_run(peerdir, lport, srv.pid, sink_log, tag, conc, n, tmp))
                for p in (srv, sink):
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(30)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
                    procs.remove(p)
                subprocess.call([sys.executable, os.path.join(TOP, "tests", "ports.py"),
                                 "--release", str(os.getpid())])
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.call([sys.executable, os.path.join(TOP, "tests", "ports.py"),
                         "--release", str(os.getpid())])
    keys = ("msgs", "ack50", "ack99", "push50", "push99", "rss", "hwm", "missing")
    med = {k: {f: statistics.median(r[f] for r in v) for f in keys} for k, v in res.items()}
    print("medians of %d runs; latencies in ms from end of DATA; RSS KiB after the run / peak" % reps)
    print("%-5s %4s %8s %8s %8s %8s %8s %8s %8s %4s" % ("who", "conn", "msgs/s", "250 p50", "250 p99",
                                                      "push p50", "push p99", "RSS", "peak", "lost"))
    for conc in CONNS:
        for kind in kinds:
            m = med[(kind, conc)]
            print("%-5s %4d %8.0f %8.2f %8.2f %8.2f %8.2f %8d %8d %4d" % (
                kind, conc, m["msgs"], m["ack50"], m["ack99"], m["push50"], m["push99"],
                m["rss"], m["hwm"], m["missing"]))
        for kind in kinds[:-1]:
            o, p = med[(kind, conc)], med[("peer", conc)]
            print("%-5s %4d %7.2fx %7.2fx %8s %7.2fx %8s %7.2fx   (%s/peer)" % (
                "ratio", conc, o["msgs"] / p["msgs"], o["ack50"] / p["ack50"], "",
                o["push50"] / p["push50"], "", o["hwm"] / p["hwm"], kind))


if __name__ == "__main__":
    main()
