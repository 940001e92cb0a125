#!/bin/sh
# ops.sh - the daemon as an operator runs it (SPEC 7): SIGHUP with a good
# and a broken filter file, /metrics after a known sequence of events,
# /healthz flipping to 503 (full store, bad API key) and back, and the
# pull endpoint answering Skyvern's exact request bytes end to end.
. "${top_srcdir:-.}/tests/testlib.sh"

# (free_port, ep_start, acme_filter, mail, mount_tmpfs, skip and $KEY come
# from testlib.sh)
http() { # METHOD PATH [curl args...]: $code and $body
	_m=$1 _p=$2; shift 2
	body=$(curl -s -o - -w '\n%{http_code}' -X "$_m" "$@" "http://127.0.0.1:$HTTP$_p")
	code=$(printf '%s\n' "$body" | tail -1)
	body=$(printf '%s\n' "$body" | sed '$d')
}
lmtp_send() { # RCPT MAILFILE
	swaks --protocol LMTP --server "127.0.0.1:$LMTP" --to "$1" --from codes@acme.example \
	    --data "$2" >"$T/swaks.out" 2>&1
}
metric() { # NAME{labels} -> value
	curl -s "http://127.0.0.1:$HTTP/metrics" | grep -F "$1 " | awk '{print $2}'
}

LMTP=$(free_port)
HTTP=$(free_port)
mkdir -p "$T/db"
printf '%s\n' "$KEY" >"$T/key"
printf 'test_api_key\n' >"$T/signing-key"
chmod 600 "$T/key" "$T/signing-key"
acme_filter "$T/f"
write_conf() { # PUSH-URL-LINES
	cat >"$T/otpbridge.conf" <<EOC
[push]
$1
timeout = 2
[store]
path = $T/db/otpbridge.db
[lmtp]
listen = inet:127.0.0.1:$LMTP
[http]
listen = inet:127.0.0.1:$HTTP
signing_key_file = signing-key
[filters]
dir = f
EOC
}

# ---- metrics after a known sequence, pull, SIGHUP (dry run) ----------------
write_conf "url = https://api.skyvern.com/v1/credentials/totp"
spawn "$OTPBRIDGE" -c "$T/otpbridge.conf" run 2>"$T/daemon.err"
dpid=$last_pid
ok "the daemon answers /healthz" wait_for 15 sh -c "curl -sf http://127.0.0.1:$HTTP/healthz >/dev/null"
http GET /healthz
is "$code" 200 "/healthz is 200 with a writable store"
is "$body" "ok" "/healthz says ok"

mail . m1.eml m1 bot@otp.example.com 482913
mail . m2.eml m2 bot@otp.example.com 551920
mail . news.eml n1 bot@otp.example.com "nothing" news@shop.example
lmtp_send bot@otp.example.com "$T/m1.eml"
lmtp_send bot@otp.example.com "$T/m1.eml"      # the same Message-ID again
lmtp_send other@otp.example.com "$T/m2.eml"
lmtp_send bot@otp.example.com "$T/news.eml"
ok "the dry-run pushes are recorded" wait_for 10 sh -c \
    "[ \"\$(curl -s http://127.0.0.1:$HTTP/metrics | grep -F 'otpbridge_pushes_total{result=\"dry-run\"}' | awk '{print \$2}')\" = 2 ]"
is "$(metric 'otpbridge_messages_total{source="lmtp",result="queued"}')" 2 "/metrics: 2 queued"
is "$(metric 'otpbridge_messages_total{source="lmtp",result="duplicate"}')" 1 "/metrics: 1 duplicate"
is "$(metric 'otpbridge_messages_total{source="lmtp",result="dropped"}')" 1 "/metrics: 1 dropped (no filter)"
is "$(metric 'otpbridge_filter_matches_total{filter="acme"}')" 3 "/metrics: acme matched 3 times"
is "$(metric 'otpbridge_queue_jobs{state="delivered"}')" 2 "/metrics: 2 jobs delivered"
is "$(metric 'otpbridge_queue_jobs{state="pending"}')" 0 "/metrics: none pending"
is "$(metric 'otpbridge_sessions{source="lmtp"}')" 0 "/metrics: no open session"
like "$(curl -s "http://127.0.0.1:$HTTP/metrics")" '# TYPE otpbridge_push_duration_seconds histogram' \
    "/metrics: the push latency histogram is typed"

# Skyvern's exact request bytes (SPEC 1.2 test vector, key test_api_key).
B1='{"task_id":"tsk_123","workflow_run_id":"wr_456","workflow_permanent_id":"wpid_789"}'
S1=4916edde5a0b1f8221ed2fe33bc816432b5a61277ad64badbc71f6b096b03fbe
http POST '/totp?identifier=bot%40otp.example.com' -H "x-skyvern-signature: $S1" \
    -H "x-skyvern-timestamp: $(date +%s)" -H 'Content-Type: application/json' --data-binary "$B1"
is "$code" 200 "pull: the test vector's signature is accepted"
is "$body" '{"verification_code":"482913"}' "pull: the newest code for the identifier"
B2='{"task_id":"tsk_123"}'
S2=92c0c215cae0536ca374586339c8f2960788561e737e819faa85659416665448
http POST '/totp/other@otp.example.com' -H "x-skyvern-signature: $S2" \
    -H 'Content-Type: application/json' --data-binary "$B2"
is "$body" '{"verification_code":"551920"}' "pull: the path form and the second vector"
http POST '/totp/bot@otp.example.com' -H "x-skyvern-signature: $S2" --data-binary "$B1"
is "$code" 401 "pull: a signature over other bytes is refused"
http POST '/totp/nobody@otp.example.com' -H "x-skyvern-signature: $S2" --data-binary "$B2"
is "$body" '{"verification_code":""}' "pull: an unknown identifier gets an empty code, 200"
unlike "$(cat "$T/daemon.err")" '482913|551920' "no code in the daemon's log"

# SIGHUP: a broken filter file keeps the running set, a good one applies.
printf '[broken]\nfrom = (unclosed\n' >"$T/f/20-broken.conf"
kill -HUP "$dpid"
ok "a broken reload is logged with file:line" wait_for 10 grep -q \
    "reload failed, keeping the running configuration: .*20-broken.conf:2: pattern error" "$T/daemon.err"
mail . m3.eml m3 bot@otp.example.com 739104
lmtp_send bot@otp.example.com "$T/m3.eml"
like "$(cat "$T/swaks.out")" '250 2.0.0 <bot@otp.example.com> Ok: queued' "after a broken reload the old filters still decide"
rm "$T/f/20-broken.conf"
cat >"$T/f/05-block.conf" <<'EOC'
# decides first: Acme mail is no longer forwarded
[block-acme]
from = ^codes@acme\.example$
send = code
code = NEVER(\d{9})
EOC
kill -HUP "$dpid"
ok "a good reload is logged" wait_for 10 grep -q "reloaded .*: 2 filters" "$T/daemon.err"
mail . m4.eml m4 bot@otp.example.com 620114
lmtp_send bot@otp.example.com "$T/m4.eml"
like "$(cat "$T/swaks.out")" 'Ok: not forwarded \(no-code\)' "after a good reload the new filter decides"
rm "$T/f/05-block.conf"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: the daemon exits 0"

# ---- /healthz: 403 from the endpoint, then a full store --------------------
# An endpoint that demands another key (its --key replaces ep_start's).
ep_start . 0 "" ep.log --key some-other-key
write_conf "url = http://127.0.0.1:$ep_port/v1/credentials/totp
api_key_file = key"
spawn "$OTPBRIDGE" -c "$T/otpbridge.conf" run 2>"$T/daemon2.err"
dpid=$last_pid
wait_for 15 sh -c "curl -sf http://127.0.0.1:$HTTP/healthz >/dev/null"
mail . m5.eml m5 bot@otp.example.com 300111
lmtp_send bot@otp.example.com "$T/m5.eml"
ok "/healthz turns 503 when pushes fail with 403" wait_for 10 sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP/healthz)\" = 503 ]"
http GET /healthz
like "$body" '403' "/healthz says why: the API key"
unlike "$(cat "$T/daemon2.err")" "$KEY" "the API key is never logged"
stop "$dpid"
stop "$ep_pid"

if mount_tmpfs "$T/db" 512k 2>/dev/null; then
	write_conf "url = https://api.skyvern.com/v1/credentials/totp"
	spawn "$OTPBRIDGE" -c "$T/otpbridge.conf" run 2>"$T/daemon3.err"
	dpid=$last_pid
	wait_for 15 sh -c "curl -sf http://127.0.0.1:$HTTP/healthz >/dev/null"
	http GET /healthz
	is "$code" 200 "/healthz is 200 on a fresh store"
	dd if=/dev/zero of="$T/db/filler" bs=4k 2>/dev/null
	http GET /healthz
	is "$code" 503 "/healthz is 503 when the store is full"
	like "$body" 'store' "/healthz names the store"
	rm -f "$T/db/filler"
	http GET /healthz
	is "$code" 200 "/healthz is 200 again once there is room"
	stop "$dpid"
	umount "$MNT" && MNT=""
else
	skip 4 "needs root for a tmpfs"
fi

done_testing
