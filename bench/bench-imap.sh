#!/bin/sh
# bench-imap.sh - the IMAP source, not a test: APPEND -> push received
# latency over N messages (median, p99) with IDLE and with polling, the
# time to notice a silent network drop (a stalled proxy, 5 trials at
# poll_interval 10, the stall at a random point of the IDLE cycle), and
# the daemon's RSS with 1 and with 50 idle accounts, against a private
# Dovecot (tests/imap-dovecot.sh; root, dovecot).  Loopback only.
# With DELAY_PROXY set, "our share" again through a proxy that adds 20 ms
# each way (a provider 40 ms away).
# Usage: [DELAY_PROXY=delay-proxy.py] sh bench/bench-imap.sh ./otpbridge [N]
set -eu
BIN=$(realpath "${1:-./otpbridge}")
N=${2:-100}
top=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d); chmod 755 "$T"; mkdir "$T/dove" "$T/f"
ports=$(sh "$top/tests/imap-dovecot.sh" start "$T/dove")
IMAPS=${ports% *}
pid=""; ep=""
trap 'kill $pid $ep 2>/dev/null; wait 2>/dev/null; sh "$top/tests/imap-dovecot.sh" stop "$T/dove" >/dev/null 2>&1; rm -rf "$T"' EXIT
python3 "$top/tests/endpoint.py" --port 0 --port-file "$T/ep.port" --key k --log "$T/ep.log" &
ep=$!
while [ ! -s "$T/ep.port" ]; do sleep 0.1; done
printf 'k\n' >"$T/key"; printf 'secret\n' >"$T/pass"
chmod 600 "$T/key" "$T/pass"
printf '[acme]\nfrom = ^codes@acme\\.example$\n' >"$T/f/10.conf"
conf() { # IDLE ACCOUNTS
	{
		printf '[push]\nurl = http://127.0.0.1:%s/v1/credentials/totp\napi_key_file = key\n' "$(cat "$T/ep.port")"
		printf '[store]\npath = %s/db/o.db\n[lmtp]\nlisten =\n[filters]\ndir = f\n' "$T"
		for a in $(seq "$2"); do
			printf '[imap:a%s]\nhost = 127.0.0.1\nport = %s\nca_file = %s/dove/ca.pem\nuser = bot\n' "$a" "$IMAPS" "$T"
			printf 'password_file = pass\nidentifier = bot@otp.example.com\nidle = %s\npoll_interval = 5\nafter = none\nmailbox = %s\n' "$1" "$([ "$a" = 1 ] && echo INBOX || echo "Box$a")"
		done
	} >"$T/c.conf"
}
run_latency() { # IDLE LABEL
	rm -rf "$T/db"; : >"$T/ep.log"
	doveadm -c "$T/dove/dovecot.conf" expunge -u bot mailbox INBOX all
	conf "$1" 1
	"$BIN" -c "$T/c.conf" run 2>"$T/d.log" & pid=$!
	sleep 2
	: >"$T/lat"
	for i in $(seq "$N"); do
		before=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if l.strip()))' "$T/ep.log")
		t0=$(date +%s%N)
		printf 'From: Acme <codes@acme.example>\nTo: bot@otp.example.com\nSubject: code\nMessage-ID: <%s-%s@bench>\n\nYour verification code is %06d.\n' "$2" "$i" "$((100000 + i))" |
		    doveadm -c "$T/dove/dovecot.conf" save -u bot -m INBOX
		while [ "$(grep -c . "$T/ep.log")" -le "$before" ]; do sleep 0.005; done
		echo $(( ($(date +%s%N) - t0) / 1000 )) >>"$T/lat"
	done
	sort -n "$T/lat" | awk -v l="$2" '{a[NR]=$1} END {printf "%s: APPEND -> push over %d: p50 %.1f ms, p99 %.1f ms (includes doveadm save, ~tens of ms)\n", l, NR, a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}'
	kill -TERM "$pid"; wait "$pid" || true; pid=""
}
run_latency yes idle
# Our share: the server's "* N EXISTS" forwarded by a tapping proxy (plain
# IMAP on loopback) -> the push request read by the endpoint.  Dovecot
# waits a fixed 500 ms (NOTIFY_DELAY_MSECS in its mailbox-watch.c) before
# it tells IDLE clients, so the end-to-end figure above cannot go lower.
share() { # TARGET_PORT LABEL: the tapping proxy in front of TARGET_PORT
	rm -rf "$T/db" "$T/stall" "$T/proxy.port"; : >"$T/ep.log"; : >"$T/tap"; : >"$T/proxy.log"
	doveadm -c "$T/dove/dovecot.conf" expunge -u bot mailbox INBOX all
	python3 "$top/tests/imap-proxy.py" "$1" "$T/proxy.port" "$T/stall" "$T/proxy.log" "$T/tap" & px=$!
	while [ ! -s "$T/proxy.port" ]; do sleep 0.05; done
	conf yes 1
	sed -i "s/^port = .*/port = $(cat "$T/proxy.port")\ntls = none/" "$T/c.conf"
	"$BIN" -c "$T/c.conf" run 2>"$T/d.log" & pid=$!
	until grep -q 'result=connected' "$T/d.log"; do sleep 0.05; done
	: >"$T/share"
	for i in $(seq "$N"); do
		before=$(grep -c . "$T/ep.log" || true)
		printf 'From: Acme <codes@acme.example>\nTo: bot@otp.example.com\nSubject: code\nMessage-ID: <share-%s@bench>\n\nYour verification code is %06d.\n' "$i" "$((200000 + i))" |
		    doveadm -c "$T/dove/dovecot.conf" save -u bot -m INBOX
		while [ "$(grep -c . "$T/ep.log")" -le "$before" ]; do sleep 0.005; done
		python3 -c 'import json,sys; t=[float(l) for l in open(sys.argv[1])][-1]; e=[json.loads(l) for l in open(sys.argv[2])][-1]; print(int((e["t"]-t)*1e6))' "$T/tap" "$T/ep.log" >>"$T/share"
	done
	sort -n "$T/share" | awk -v l="$2" '{a[NR]=$1} END {printf "idle, our share%s: EXISTS on the wire -> push request read over %d: p50 %.1f ms, p99 %.1f ms\n", l, NR, a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}'
	kill -TERM "$pid" "$px"; wait "$pid" "$px" 2>/dev/null || true; pid=""
}
share "${ports#* }" ""
# The same over a WAN: DELAY_PROXY (a TCP proxy "PROXY LISTEN_PORT
# TARGET_PORT DELAY_MS", e.g. the peers' delay-proxy.py) adds 20 ms each
# way between the tap and Dovecot, so the tap sees EXISTS where the
# daemon does and one round trip is 40 ms.
if [ -n "${DELAY_PROXY:-}" ]; then
	dport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	python3 "$DELAY_PROXY" "$dport" "${ports#* }" 20 & dp=$!
	sleep 0.5
	share "$dport" " (20 ms each way: 1 round trip = 40 ms)"
	kill "$dp"; wait "$dp" 2>/dev/null || true
fi
run_latency no polling
# Silent drop: stall -> "result=disconnected" logged.
: >"$T/drop"
for i in 1 2 3 4 5; do
	rm -rf "$T/db" "$T/stall" "$T/proxy.port"; : >"$T/proxy.log"
	python3 "$top/tests/imap-proxy.py" "$IMAPS" "$T/proxy.port" "$T/stall" "$T/proxy.log" & px=$!
	while [ ! -s "$T/proxy.port" ]; do sleep 0.05; done
	conf yes 1
	sed -i "s/^port = .*/port = $(cat "$T/proxy.port")/; s/^poll_interval = .*/poll_interval = 10/" "$T/c.conf"
	"$BIN" -c "$T/c.conf" run 2>"$T/d.log" & pid=$!
	until grep -q 'result=connected' "$T/d.log"; do sleep 0.05; done
	sleep "$(awk -v r="$(od -An -N2 -tu2 /dev/urandom)" 'BEGIN { printf "%.2f", r % 900 / 100 }')"
	t0=$(date +%s%N); touch "$T/stall"
	until grep -q 'result=disconnected' "$T/d.log"; do sleep 0.02; done
	echo $(( ($(date +%s%N) - t0) / 1000000 )) >>"$T/drop"
	kill -TERM "$pid" "$px"; wait "$pid" "$px" 2>/dev/null || true; pid=""
done
sort -n "$T/drop" | awk '{a[NR]=$1} END {printf "silent drop -> disconnect logged, poll_interval 10: median %.1f s, max %.1f s over %d\n", a[int((NR+1)/2)]/1000, a[NR]/1000, NR}'
rm -f "$T/stall"
for n in 1 50; do
	rm -rf "$T/db"
	for a in $(seq 2 "$n"); do doveadm -c "$T/dove/dovecot.conf" mailbox create -u bot "Box$a" 2>/dev/null || true; done
	conf yes "$n"
	"$BIN" -c "$T/c.conf" run 2>"$T/d.log" & pid=$!
	sleep 6
	echo "RSS with $n idle account(s): $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status), $(grep -c 'result=connected' "$T/d.log") connected"
	kill -TERM "$pid"; wait "$pid" || true; pid=""
done
