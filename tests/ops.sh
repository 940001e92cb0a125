#!/bin/sh
# ops.sh - the daemon as an operator runs it (SPEC 7): SIGHUP with a good
# and a broken filter file, /metrics after a known sequence of events,
# /healthz flipping to 503 (full store, bad API key) and back, the pull
# endpoint answering Skyvern's exact request bytes end to end, and a store
# lock held by another process not stalling the daemon.
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
sign() { # BODY -> the x-skyvern-signature for it (key test_api_key)
	printf '%s' "$1" | openssl dgst -sha256 -hmac test_api_key | sed 's/^.* //'
}
pull() { # PATH BODY: a signed pull, as Skyvern sends it; $code and $body
	http POST "$1" -H "x-skyvern-signature: $(sign "$2")" \
	    -H "x-skyvern-timestamp: $(date +%s)" -H 'Content-Type: application/json' \
	    --data-binary "$2"
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
is "$body" '{"task_id":"tsk_123","verification_code":"482913"}' \
    "pull: the newest code for the identifier, task_id echoed"
B2='{"task_id":"tsk_123"}'
S2=92c0c215cae0536ca374586339c8f2960788561e737e819faa85659416665448
http POST '/totp/other@otp.example.com' -H "x-skyvern-signature: $S2" \
    -H 'Content-Type: application/json' --data-binary "$B2"
is "$body" '{"task_id":"tsk_123","verification_code":"551920"}' "pull: the path form and the second vector"
http POST '/totp/bot@otp.example.com' -H "x-skyvern-signature: $S2" --data-binary "$B1"
is "$code" 401 "pull: a signature over other bytes is refused"
pull /totp/nobody@otp.example.com '{"workflow_run_id":"wr_nobody"}'
is "$body" '{"verification_code":""}' "pull: an unknown identifier gets an empty code, 200"

# The replay (issue 10 item 2): the captured first vector, whose signature
# covers only the body, sent again with another identifier in the URL.
http POST '/totp?identifier=other%40otp.example.com' -H "x-skyvern-signature: $S1" \
    -H "x-skyvern-timestamp: $(date +%s)" --data-binary "$B1"
is "$code" 403 "replay: a signed body first made for bot@ is refused for other@"
unlike "$body" '551920' "replay: other@'s code is not in the answer"
like "$(cat "$T/daemon.err")" 'identifier=other@otp.example.com consumer=tsk_123 result=replay-other-identifier' \
    "replay: logged"
http POST '/totp?identifier=bot%40otp.example.com' -H "x-skyvern-signature: $S1" \
    -H "x-skyvern-timestamp: $(date +%s)" --data-binary "$B1"
is "$body" '{"task_id":"tsk_123","verification_code":"482913"}' "replay: the same body for its own identifier, as before"

# The run's own code (issue 11 item 9), '+' in the query (item 10), %00.
mail . m6.eml m6 bot+wr_42@otp.example.com 604242
mail . m7.eml m7 bot@otp.example.com 607777
lmtp_send bot+wr_42@otp.example.com "$T/m6.eml"
lmtp_send bot@otp.example.com "$T/m7.eml"
pull '/totp?identifier=bot%40otp.example.com' '{"task_id":"tsk_42","workflow_run_id":"wr_42"}'
is "$body" '{"task_id":"tsk_42","verification_code":"604242"}' "pull: the code sent to the run's +address first"
pull '/totp?identifier=bot%40otp.example.com' '{"task_id":"tsk_43","workflow_run_id":"wr_43"}'
is "$body" '{"task_id":"tsk_43","verification_code":"607777"}' "pull: another run gets the untagged code, not run 42's"
pull '/totp?identifier=bot+wr_42@otp.example.com' '{"task_id":"tsk_42","workflow_run_id":"wr_42"}'
is "$code $body" '403 {"error":"this signed request was first made for another identifier"}' \
    "pull: the body already bound to bot@ does not serve bot+wr_42@"
mail . m9.eml m9 bot+wr_44@otp.example.com 604444
lmtp_send bot+wr_44@otp.example.com "$T/m9.eml"
pull '/totp?identifier=bot+wr_44@otp.example.com' '{"task_id":"tsk_44","workflow_run_id":"wr_44"}'
is "$body" '{"task_id":"tsk_44","verification_code":"604444"}' "pull: a literal + in ?identifier= is a plus"
pull '/totp?identifier=bot%40otp.example.com%00.evil' '{"task_id":"tsk_nul"}'
is "$code" 400 "pull: %00 in the query is a 400, not a cut identifier"
pull '/totp/bot@otp.example.com%00x' '{"task_id":"tsk_nul"}'
is "$code" 400 "pull: %00 in the path is a 400"
unlike "$(cat "$T/daemon.err")" '482913|551920|604242|607777|604444' "no code in the daemon's log"

# /healthz probes the store (a write, an fsync) once per few seconds, not
# per unauthenticated GET: nothing is committed while it is asked 20 times.
http GET /healthz
is "$("$PY" - "$T/db/otpbridge.db" "http://127.0.0.1:$HTTP/healthz" <<'EOP'
import sqlite3, sys, urllib.request
db = sqlite3.connect(sys.argv[1])
v = db.execute("PRAGMA data_version").fetchone()[0]
codes = {urllib.request.urlopen(sys.argv[2]).status for _ in range(20)}
print(codes, "unchanged" if db.execute("PRAGMA data_version").fetchone()[0] == v else "written")
EOP
)" "{200} unchanged" "/healthz: 20 GETs in a row write nothing"

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
http POST '/totp?identifier=other%40otp.example.com' -H "x-skyvern-signature: $S1" \
    --data-binary "$B1"
is "$code" 403 "replay: the binding survives a restart"
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
	mail . m8.eml m8 full@otp.example.com 808181
	lmtp_send full@otp.example.com "$T/m8.eml"
	like "$(cat "$T/swaks.out")" 'Ok: queued' "a code arrives before the disk fills"
	dd if=/dev/zero of="$T/db/filler" bs=4k 2>/dev/null
	# (the probe is cached for a few seconds: wait for the next one)
	ok "/healthz is 503 when the store is full" wait_for 10 sh -c \
	    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP/healthz)\" = 503 ]"
	http GET /healthz
	like "$body" 'store: not writable' "/healthz says the store is not writable"
	unlike "$body" "$T|otpbridge\.db" "/healthz does not reveal the store path"
	# A full disk: the pull still answers with the code it has (its
	# binding and handout are kept in memory), and still withholds it
	# from another task and refuses the body for another identifier.
	pull /totp/full@otp.example.com '{"task_id":"tsk_full"}'
	is "$code $body" '200 {"task_id":"tsk_full","verification_code":"808181"}' \
	    "full disk: the pull answers with the code it already has"
	like "$(cat "$T/daemon3.err")" 'result=kept-in-memory what=binding' \
	    "full disk: the binding that could not be written is kept in memory"
	pull /totp/full@otp.example.com '{"task_id":"tsk_other"}'
	is "$code $body" '200 {"task_id":"tsk_other","verification_code":""}' \
	    "full disk: the code stays bound to the first task"
	pull /totp/bot@otp.example.com '{"task_id":"tsk_full"}'
	is "$code" 403 "full disk: the body still answers for its identifier only"
	rm -f "$T/db/filler"
	ok "/healthz is 200 again once there is room" wait_for 10 sh -c \
	    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP/healthz)\" = 200 ]"
	pull /totp/full@otp.example.com '{"task_id":"tsk_later"}'
	is "$code $body" '200 {"task_id":"tsk_later","verification_code":""}' \
	    "once there is room the kept handout is written and still holds"
	unlike "$(cat "$T/daemon3.err")" '808181' "no code in the daemon's log"
	stop "$dpid"
	umount "$MNT" && MNT=""
else
	skip 14 "needs root for a tmpfs"
fi

# ---- a store lock held by another process (issue: the loop must not freeze) --
# Another process (here python3's sqlite3) holds the store's write lock.
# The daemon's loop waits at most a few ms per store call, so /metrics and
# /healthz answer far below SQLite's 5 s busy timeout, LMTP answers 451
# promptly, a push that finishes meanwhile has its outcome written after
# the release (not pushed again), and the mail the MTA retries is pushed
# once.  The old daemon waited 5 s per store call, again and again.
mkdir -p "$T/lk"
LK_LMTP=$(free_port)
LK_HTTP=$(free_port)
ep_start lk 0 "200@2"          # the first push is answered after 2 s
cat >"$T/lk/otpbridge.conf" <<EOC
[push]
url = http://127.0.0.1:$ep_port/v1/credentials/totp
api_key_file = $T/key
timeout = 5
[store]
path = $T/lk/db/otpbridge.db
[lmtp]
listen = inet:127.0.0.1:$LK_LMTP
[http]
listen = inet:127.0.0.1:$LK_HTTP
signing_key_file = $T/signing-key
[filters]
dir = $T/f
EOC
spawn "$OTPBRIDGE" -c "$T/lk/otpbridge.conf" run 2>"$T/lk/daemon.err"
lk_d=$last_pid
wait_for 15 sh -c "curl -sf http://127.0.0.1:$LK_HTTP/healthz >/dev/null"
lk_send() { # RCPT MAILFILE: swaks over LMTP; $out, and $secs it took
	_t0=$(date +%s.%N)
	out=$(timeout 30 swaks --protocol LMTP --server "127.0.0.1:$LK_LMTP" \
	    --to "$1" --from codes@acme.example --data "@$2" 2>&1)
	secs=$(echo "$(date +%s.%N) - $_t0" | bc)
}
lk_pushes() { # CODE: requests the endpoint got carrying CODE
	pyq "$T/lk/requests.log" "sum(1 for r in L if json.loads(r['body'])['content'] == '$1')"
}
lk_state_is() { # ID STATE
	[ "$(qj lk "[j['state'] for j in L if j['id'] == $1]")" = "[\"$2\"]" ]
}
mail lk a.eml lka bot@otp.example.com 640311
mail lk b.eml lkb bot2@otp.example.com 640322
lk_send bot@otp.example.com "$T/lk/a.eml"
like "$out" '250 2.0.0 <bot@otp.example.com> Ok: queued as 1' "lock: the first mail is queued"
ok "lock: its push is under way" wait_for 15 sh -c "[ -s '$T/lk/requests.log' ]"
store_lock write "$T/lk/db/otpbridge.db" "$T/lk/locked" "$T/lk/release"
lk_locker=$last_pid
ok "lock: another process holds the store's write lock" wait_for 15 test -e "$T/lk/locked"
# /metrics back to back for 3 s: the queue's timer fires three times, the
# push's reply comes back; the slowest answer must stay far below 5 s.
lk_max=$("$PY" - "$LK_HTTP" <<'EOP'
import sys, time, urllib.request
end, worst, codes = time.time() + 3, 0.0, set()
while time.time() < end:
    t = time.time()
    with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=30) as r:
        r.read()
        codes.add(r.status)
    worst = max(worst, time.time() - t)
print("%.3f %s" % (worst, ",".join(map(str, sorted(codes)))))
EOP
)
like "$lk_max" ' 200$' "lock: /metrics answers 200 while the lock is held ($lk_max)"
ok "lock: every /metrics answer within 1 s (slowest ${lk_max% *} s)" \
    test "$(echo "${lk_max% *} < 1" | bc)" = 1
_t0=$(date +%s.%N)
lk_hz=$(curl -s -o /dev/null -m 30 -w '%{http_code}' "http://127.0.0.1:$LK_HTTP/healthz")
lk_hz_s=$(echo "$(date +%s.%N) - $_t0" | bc)
like "$lk_hz" '^(200|503)$' "lock: /healthz answers ($lk_hz)"
ok "lock: /healthz answers within 1 s ($lk_hz_s s)" test "$(echo "$lk_hz_s < 1" | bc)" = 1
lk_send bot2@otp.example.com "$T/lk/b.eml"
like "$out" '451 4.3.0 <bot2@otp.example.com> Temporary failure' \
    "lock: LMTP answers 451 when the commit cannot be written"
ok "lock: ... promptly ($secs s)" test "$(echo "$secs < 3" | bc)" = 1
ok "lock: the finished push's outcome waits for the store" \
    grep -q 'result=outcomes-waiting' "$T/lk/daemon.err"
touch "$T/lk/release"
stop "$lk_locker" 0
ok "lock: after the release the first job is recorded delivered" \
    wait_for 15 lk_state_is 1 delivered
is "$(lk_pushes 640311)" 1 "lock: ... pushed once, not again"
lk_send bot2@otp.example.com "$T/lk/b.eml"             # the MTA retries the 451
like "$out" '250 2.0.0 <bot2@otp.example.com> Ok: queued as' "lock: the retried mail is queued"
ok "lock: and delivered" wait_for 15 lk_state_is 2 delivered
is "$(lk_pushes 640322)" 1 "lock: the retried mail is pushed once"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$LK_HTTP/healthz")" 200 \
    "lock: /healthz is 200 again"
stop "$lk_d"
is "$stop_rc" 0 "lock: the daemon exits 0"
unlike "$(cat "$T/lk/daemon.err")" '640311|640322' "lock: no log line shows a code"
stop "$ep_pid"

done_testing
