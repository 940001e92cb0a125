#!/bin/sh
# bench-pull.sh - the pull endpoint under 64 concurrent clients (wrk, from
# Debian's package), not a test: requests/s and latency percentiles for a
# signed POST /totp with a fresh code in the store; then the daemon's RSS
# with the LMTP, SMTP and HTTP listeners enabled and idle.
# Usage: sh bench/bench-pull.sh ./otpbridge   (needs wrk, swaks, curl)
set -eu
BIN=$(realpath "${1:-./otpbridge}")
command -v wrk >/dev/null || { echo "bench-pull: apt-get install wrk" >&2; exit 69; }
# The tests' helpers: a private $T, and the daemon (spawn) stopped and $T
# removed on exit; free_ports, wait_for.
top_srcdir=$(dirname "$0")/..
. "$top_srcdir/tests/testlib.sh"
set -- $(free_ports 3)
LMTP=$1 SMTP=$2 HTTP=$3
printf 'test_api_key\n' >"$T/key"
chmod 600 "$T/key"
cat >"$T/c.conf" <<EOC
[store]
path = $T/db/otpbridge.db
[lmtp]
listen = inet:127.0.0.1:$LMTP
[smtp]
listen = inet:127.0.0.1:$SMTP
[http]
listen = inet:127.0.0.1:$HTTP
signing_key_file = key
max_connections = 128
EOC
spawn "$BIN" -c "$T/c.conf" run 2>"$T/daemon.log"
pid=$last_pid
wait_for 5 curl -sf -o /dev/null "http://127.0.0.1:$HTTP/healthz"
sleep 0.5
echo "daemon RSS, LMTP+SMTP+HTTP listening, idle: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
swaks --protocol LMTP --server "127.0.0.1:$LMTP" --to bot@otp.example.com \
    --data "@$top_srcdir/contrib/samples/github-device.eml" >/dev/null
B='{"task_id":"tsk_123","workflow_run_id":"wr_456","workflow_permanent_id":"wpid_789"}'
S=4916edde5a0b1f8221ed2fe33bc816432b5a61277ad64badbc71f6b096b03fbe
curl -s -X POST -H "x-skyvern-signature: $S" --data-binary "$B" \
    "http://127.0.0.1:$HTTP/totp?identifier=bot%40otp.example.com"; echo
cat >"$T/post.lua" <<EOL
wrk.method = "POST"
wrk.body = '$B'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-skyvern-signature"] = "$S"
EOL
wrk -t2 -c64 -d5s --latency -s "$T/post.lua" \
    "http://127.0.0.1:$HTTP/totp?identifier=bot%40otp.example.com" | sed -n '1,20p'
echo "daemon RSS after the load: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
