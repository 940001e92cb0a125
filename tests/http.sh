#!/bin/sh
# http.sh - the HTTP side under attack, raw sockets against the real
# daemon (issue 10 items 9 and 7a):
# - strict framing: Content-Length with Transfer-Encoding, two
#   Content-Length headers (equal or not), an unknown transfer coding, on
#   every route: one 400 (501) with Connection: close, the connection
#   really closed, and a request pipelined behind it never answered (a
#   well-formed pipelined pair is answered twice: the probe can see it);
# - slow-loris: 64 connections from 127.0.0.1 trickling a header a byte at
#   a time; /healthz, /metrics and /totp still answer at once to a client
#   on 127.0.0.2, only max_connections_per_client (16 by default) of the
#   tricklers are let in, and those are cut once request_timeout (10 s by
#   default) has passed, although each sent a byte every half second.
. "${top_srcdir:-.}/tests/testlib.sh"

HTTP=$(free_port)
mkdir -p "$T/db"
printf 'test_api_key\n' >"$T/signing-key"
chmod 600 "$T/signing-key"
cat >"$T/otpbridge.conf" <<EOC
[store]
path = $T/db/otpbridge.db
[lmtp]
listen =
[http]
listen = inet:127.0.0.1:$HTTP
signing_key_file = signing-key
EOC
spawn "$OTPBRIDGE" -c "$T/otpbridge.conf" run 2>"$T/daemon.err"
dpid=$last_pid
wait_for 15 sh -c "curl -sf http://127.0.0.1:$HTTP/healthz >/dev/null" ||
    bail "the daemon did not answer /healthz: $(cat "$T/daemon.err")"

# raw PORT REQ: sends REQ (a Python bytes expression) on one connection, reads
# until the server closes it (5 s at most); prints one line per response
# status, then "closed" or "open" (still open after 5 s), then the
# Connection header of the first response.
raw() {
	"$PY" - "$1" "$2" <<'EOP'
import re, socket, sys, time
req = eval(sys.argv[2])
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(req)
data, closed, end = b"", False, time.monotonic() + 5
while time.monotonic() < end:
    try:
        chunk = s.recv(65536)
    except socket.timeout:
        break
    except ConnectionResetError:
        closed = True
        break
    if not chunk:
        closed = True
        break
    data += chunk
s.close()
for m in re.finditer(rb"HTTP/1\.[01] (\d{3})", data):
    print(m.group(1).decode())
print("closed" if closed else "open")
m = re.search(rb"\r\nConnection: *([^\r]*)\r\n", data, re.I)
print("connection=" + (m.group(1).decode().lower() if m else "-"))
EOP
}
GETH='b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"'

out=$(raw "$HTTP" "$GETH + $GETH")
is "$(echo $out)" "200 200 open connection=-" \
    "control: a well-formed pipelined pair gets two answers on a kept connection"

# name | request bytes | want
while IFS='|' read -r name req want; do
	[ -n "$name" ] || continue
	out=$(raw "$HTTP" "$req + $GETH")
	is "$(echo $out)" "$want closed connection=close" \
	    "framing: $name: one $want, Connection: close, closed, the pipelined GET unanswered"
done <<'EOT'
CL then TE on /totp|b"POST /totp?identifier=a%40b.c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"|400
TE then CL on /totp|b"POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"|400
two equal CL on /totp|b"POST /totp?identifier=a%40b.c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}"|400
two different CL on /totp|b"POST /totp?identifier=a%40b.c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}"|400
two CL on GET /healthz|b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n"|400
CL and TE on GET /metrics|b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"|400
CL and TE on an unknown path|b"GET /nope HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n"|400
two TE on /totp|b"POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"|400
TE in HTTP/1.0|b"POST /totp/a@b.c HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"|400
TE gzip on /totp|b"POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"|501
EOT
ok "the daemon is still running after the framing attacks" alive "$dpid"

# ---- slow-loris -------------------------------------------------------------
# 64 tricklers from 127.0.0.1; after 1 s, the legitimate client on
# 127.0.0.2 asks /healthz, /metrics and POST /totp (a bad signature: 401),
# each with a 3 s limit, while the trickle goes on.  Prints key=value lines.
"$PY" - "$HTTP" >"$T/loris.out" 2>"$T/loris.err" <<'EOP'
import http.client, select, socket, sys, threading, time
port = int(sys.argv[1])
N = 64
t0 = time.monotonic()
socks, cut = [], {}
for i in range(N):
    s = socket.socket()
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    s.setblocking(False)
    socks.append(s)
legit = {}
def ask():
    for name, method, path, body, headers in (
            ("healthz", "GET", "/healthz", None, {}),
            ("metrics", "GET", "/metrics", None, {}),
            ("totp", "POST", "/totp?identifier=a%40b.c", b"{}",
             {"x-skyvern-signature": "0" * 64, "Content-Type": "application/json"})):
        start = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=3,
                                           source_address=("127.0.0.2", 0))
            c.request(method, path, body=body, headers=headers)
            st = c.getresponse().status
            c.close()
        except Exception as e:
            st = type(e).__name__
        legit[name] = (st, time.monotonic() - start)
open_at_ask = None
asker = None
while time.monotonic() - t0 < 16 and len(cut) < N:
    now = time.monotonic() - t0
    if asker is None and now >= 1.0:
        open_at_ask = N - len(cut)
        asker = threading.Thread(target=ask)
        asker.start()
    live = [s for i, s in enumerate(socks) if i not in cut]
    r, _, _ = select.select(live, [], [], 0.5)
    for i, s in enumerate(socks):
        if i in cut:
            continue
        gone = False
        if s in r:
            try:
                gone = s.recv(4096) == b""
            except (ConnectionResetError, BlockingIOError):
                gone = True
        if not gone:
            try:
                s.send(b"a")       # one byte per half second
            except (BrokenPipeError, ConnectionResetError):
                gone = True
            except BlockingIOError:
                pass
        if gone:
            cut[i] = time.monotonic() - t0
            s.close()
if asker is not None:
    asker.join()
early = [t for t in cut.values() if t < 2]
late = [t for t in cut.values() if t >= 2]
print("refused=%d" % len(early))
print("held=%d" % (N - len(early)))
print("open_at_ask=%s" % open_at_ask)
print("cut_first=%.1f" % (min(late) if late else -1))
print("cut_last=%.1f" % (max(late) if late else -1))
print("never_cut=%d" % (N - len(cut)))
for k in ("healthz", "metrics", "totp"):
    st, dt = legit.get(k, ("none", 0))
    print("%s=%s" % (k, st))
    print("%s_fast=%s" % (k, "yes" if dt < 2 else "no %.1fs" % dt))
EOP
cat "$T/loris.err" >&2
v() { sed -n "s/^$1=//p" "$T/loris.out"; }
is "$(v healthz)" 200 "slow-loris: /healthz from another address answers 200 during the trickle"
is "$(v healthz_fast)" yes "slow-loris: ... within 2 s"
is "$(v metrics)" 200 "slow-loris: /metrics answers 200 during the trickle"
is "$(v metrics_fast)" yes "slow-loris: ... within 2 s"
is "$(v totp)" 401 "slow-loris: POST /totp answers (401, bad signature) during the trickle"
is "$(v totp_fast)" yes "slow-loris: ... within 2 s"
is "$(v held)" 16 "slow-loris: 16 connections of one address let in (max_connections_per_client), the rest closed at once"
ok "slow-loris: the trickle was still going on when the legitimate client asked" \
    test "$(v open_at_ask)" -ge 16
is "$(v never_cut)" 0 "slow-loris: every trickler was cut"
ok "slow-loris: none cut before request_timeout (10 s; got $(v cut_first))" \
    "$PY" -c "import sys; sys.exit(not 9.0 <= float('$(v cut_first)'))"
ok "slow-loris: all cut by request_timeout + 2 s (got $(v cut_last))" \
    "$PY" -c "import sys; sys.exit(not 0 < float('$(v cut_last)') <= 12.5)"
ok "slow-loris: 127.0.0.1 is served again once the tricklers are gone" \
    sh -c "curl -sf --max-time 3 http://127.0.0.1:$HTTP/healthz >/dev/null"
ok "the daemon is still running" alive "$dpid"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: the daemon exits 0"

done_testing
