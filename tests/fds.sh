#!/bin/sh
# fds.sh - accept() out of descriptors (issue 10 item 7b), against the real
# daemon run with a low fd limit.  Two episodes: clients hold LMTP
# connections until the daemon's accept() fails with EMFILE and one more
# knocks on the HTTP listener (libmicrohttpd with no connection open: it
# retries at once, for ever); then clients hold HTTP connections (MHD
# stops accepting by itself) and one more knocks on the LMTP listener.
# During each episode the daemon must not spin (its CPU time over 3 s
# stays low: a loop retrying accept() burns a whole core), it logs exactly
# one line for the episode, and it serves new connections by itself once
# the old ones close.
. "${top_srcdir:-.}/tests/testlib.sh"

set -- $(free_ports 2)
LMTP=$1 HTTP=$2
mkdir -p "$T/db"
printf 'test_api_key\n' >"$T/signing-key"
chmod 600 "$T/signing-key"
cat >"$T/otpbridge.conf" <<EOC
[store]
path = $T/db/otpbridge.db
[lmtp]
listen = inet:127.0.0.1:$LMTP
[http]
listen = inet:127.0.0.1:$HTTP
signing_key_file = signing-key
EOC
# 40 descriptors: about 14 at rest, so some 26 connections exhaust them.
spawn sh -c 'ulimit -n 40 && exec "$@"' sh "$OTPBRIDGE" -v -c "$T/otpbridge.conf" run \
    2>"$T/daemon.err"
dpid=$last_pid
wait_for 15 sh -c "curl -sf http://127.0.0.1:$HTTP/healthz >/dev/null" ||
    bail "the daemon did not answer /healthz: $(cat "$T/daemon.err")"
is "$(sed -n 's/^Max open files *\([0-9]*\) .*/\1/p' "/proc/$dpid/limits")" 40 \
    "the daemon runs with 40 descriptors"

# episode KIND: clients hold KIND connections (lmtp; http: from three
# loopback addresses, as max_connections_per_client is 16) until the
# daemon's accept() fails, then one client knocks on the other listener;
# the daemon's CPU time over 3 s is measured; then every client closes and
# new ones must be served.  Prints key=value lines.
episode() {
	"$PY" - "$1" "$LMTP" "$HTTP" "$dpid" "$T/daemon.err" <<'EOP'
import http.client, os, re, socket, sys, time
kind, lmtp, http_port, pid, errfile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
# the warnings about accepting: ours, or the one per failure of old
EPISODE = re.compile(r"warning: .*(result=accept-paused|accept failed)")

def log_lines():
    with open(errfile, errors="replace") as f:
        return [l for l in f if EPISODE.search(l)]

def cpu_ticks():
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])   # utime + stime

before = len(log_lines())
held = []
for i in range(60):                  # more than the daemon can accept
    if kind == "lmtp":
        s = socket.create_connection(("127.0.0.1", lmtp), timeout=5)
    else:
        s = socket.create_connection(("127.0.0.1", http_port), timeout=5,
                                     source_address=("127.0.0.%d" % (1 + i // 15), 0))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")   # and no more
    held.append(s)
end = time.monotonic() + 10
while time.monotonic() < end and len(log_lines()) == before:
    time.sleep(0.1)
print("episode_started=%s" % ("yes" if len(log_lines()) > before else "no"))
# one more client on the other listener
if kind == "lmtp":
    k = socket.create_connection(("127.0.0.1", http_port), timeout=5)
    k.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
else:
    k = socket.create_connection(("127.0.0.1", lmtp), timeout=5)
held.append(k)
time.sleep(0.5)
t0 = cpu_ticks()
time.sleep(3)
used = (cpu_ticks() - t0) / os.sysconf("SC_CLK_TCK")
print("cpu_ok=%s" % ("yes" if used < 0.5 else "no %.2fs in 3 s" % used))
print("cpu_used=%.2f" % used)
print("episode_lines=%d" % (len(log_lines()) - before))
for s in held:
    s.close()
# recovery: a new LMTP client gets its greeting, /healthz answers
start = time.monotonic()
greet = "none"
while time.monotonic() - start < 10:
    try:
        s = socket.create_connection(("127.0.0.1", lmtp), timeout=3)
        greet = s.recv(512).decode(errors="replace")[:3]
        s.close()
        if greet == "220":
            break
    except OSError as e:
        greet = type(e).__name__
    time.sleep(0.2)
print("lmtp_after=%s" % greet)
# the episode ends with the first accept 3 s after the last failure
resumed = "no"
while time.monotonic() - start < 15:
    with open(errfile, errors="replace") as f:
        if f.read().count("result=accept-resumed") > (kind == "http"):
            resumed = "yes"
            break
    try:
        socket.create_connection(("127.0.0.1", lmtp), timeout=3).close()
    except OSError:
        pass
    time.sleep(0.3)
print("resumed=%s" % resumed)
try:
    c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
    c.request("GET", "/healthz")
    print("http_after=%d" % c.getresponse().status)
except Exception as e:
    print("http_after=%s" % type(e).__name__)
print("episode_lines_after=%d" % (len(log_lines()) - before))
EOP
}
v() { sed -n "s/^$1=//p" "$T/$2.out"; }
for kind in lmtp http; do
	other=http; [ $kind = lmtp ] || other=lmtp
	episode $kind >"$T/$kind.out" 2>"$T/$kind.err"
	cat "$T/$kind.err" >&2
	is "$(v episode_started $kind)" yes \
	    "$kind clients exhausted the daemon's descriptors (an accept line was logged)"
	is "$(v cpu_ok $kind)" yes \
	    "$kind episode: the daemon does not spin (CPU over 3 s < 0.5 s; used $(v cpu_used $kind) s)"
	is "$(v episode_lines $kind)" 1 \
	    "$kind episode: one log line, though the $other listener was tried too"
	is "$(v lmtp_after $kind)" 220 "$kind episode: once the clients close, a new LMTP client is greeted"
	is "$(v http_after $kind)" 200 "$kind episode: once the clients close, /healthz answers"
	is "$(v resumed $kind)" yes "$kind episode: it ends (an info line) once accepts work 3 s after the last failure"
	is "$(v episode_lines_after $kind)" 1 "$kind episode: recovering logs no warning"
done
like "$(grep accept-paused "$T/daemon.err" | head -1)" \
    'src=lmtp listen=inet:127.0.0.1:[0-9]+ result=accept-paused reason="[^"]*[Tt]oo many open files' \
    "the line names the listener and its error"
like "$(grep accept-paused "$T/daemon.err" | sed -n 2p)" \
    'src=http listen=inet:127.0.0.1:[0-9]+ result=accept-paused reason="[^"]*[Tt]oo many open files' \
    "... for the HTTP listener too"
ok "the daemon is still running" alive "$dpid"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: the daemon exits 0"

done_testing
