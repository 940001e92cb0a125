#!/bin/sh
# http.sh - the HTTP side under attack, raw sockets against the real
# daemon (issue 10 item 9):
# - strict framing: Content-Length with Transfer-Encoding, two
#   Content-Length headers (equal or not), an unknown transfer coding, on
#   every route: one 400 (501) with Connection: close, the connection
#   really closed, and a request pipelined behind it never answered (a
#   well-formed pipelined pair is answered twice: the probe can see it).
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

ok "the daemon is still running" alive "$dpid"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: the daemon exits 0"

done_testing
