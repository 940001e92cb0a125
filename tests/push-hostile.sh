#!/bin/sh
# push-hostile.sh - pushes to an endpoint whose replies never end or never
# stop growing (tests/push-hostile.py): a 2xx, 4xx or 5xx with a 64 MiB
# body, a chunked body with no last chunk, header lines that never end
# (fast, or one byte a second), a body or a status line one byte a
# second.  Through the daemon: each push is bounded in time (the push
# timeout, 4 s here) and in memory (the daemon's peak RSS stays far below
# what the endpoint sent), the outcome follows the status line (SPEC 1.1
# and 5: a 2xx is delivered, a 4xx failed, a 5xx or no status retried --
# and a retried job is delivered once the endpoint behaves), no reply byte
# past PUSH_REPLY_MAX is stored or logged, and the daemon keeps serving:
# a mail it accepts over LMTP afterwards is pushed.
#
# Each job names its reply: the endpoint reads the mode from the plus part
# of the identifier (bot+big_200@...), so concurrent pushes need no order.
. "${top_srcdir:-.}/tests/testlib.sh"

HOSTILE=$top_srcdir/tests/push-hostile.py
CL=$top_srcdir/tests/lmtp-client.py

# mode state requests: what each job must end as, after how many
# requests (its attempts are one more: the deliver that committed it
# tried first, with nothing listening).  A 2xx is a delivery
# however its body ends (the endpoint stored the code); a 4xx under a body
# cut by our bound is permanent; a 5xx, or a reply cut by the timeout
# before its status line, is retried and then delivered.  XXX a 4xx whose
# body is cut by the timeout (trickle_403) counts as no reply and is
# retried: push.c trusts an unfinished reply's status line only when it
# is a 2xx or when our byte bound cut it.
CASES="big_200:delivered:1
big_422:failed:1
big_503:delivered:2
chunk_200:delivered:1
chunk_422:failed:1
chunk_500:delivered:2
head_200:delivered:1
slowhead_200:delivered:1
trickle_200:delivered:1
trickle_403:delivered:2
tricklestatus:delivered:2"

port=$(free_port)
mkdir -p "$T/h"
conf h "$port" "timeout = 4" "[lmtp]" "listen = unix:$T/h/lmtp.sock"
n=0
for c in $CASES; do
	n=$((n + 1))
	mode=${c%%:*}
	mail h "$mode.eml" "hostile$n" "bot+$mode@otp.example.com" "$(printf '6381%02d' $n)"
	ob h deliver <"$T/h/$mode.eml"
	[ "$rc" = 0 ] || bail "deliver of $mode exited $rc: $err"
done
is "$(qj h '",".join(sorted({j["state"] for j in L})) + " %d" % len(L)')" "pending $n" \
    "$n jobs pending, committed with nothing listening"

spawn "$PY" "$HOSTILE" "$T/h/hostile.port" "$T/h/hostile.log" "$port"
hpid=$last_pid
wait_for 15 test -s "$T/h/hostile.port" || bail "push-hostile.py did not start"
daemon h
dpid_h=$dpid

# job MODE EXPR: EXPR over j, the job of bot+MODE@ in queue list --json.
job() {
	qj h "[$2 for j in L if j['identifier'] == 'bot+$1@otp.example.com'][0]"
}
# settled: every job is delivered or failed.
settled() { [ "$(qj h 'sum(1 for j in L if j["state"] in ("delivered", "failed"))')" = "$n" ]; }
ok "every hostile push ends delivered or failed" wait_for 60 settled

for c in $CASES; do
	mode=${c%%:*}
	want=${c#*:}
	is "$(job "$mode" '"%s:%d" % (j["state"], j["attempts"] - 1)')" "$want" \
	    "$mode: $(echo "$want" | sed 's/:/ after /') push(es) from the daemon"
	is "$(pyq "$T/h/hostile.log" "sum(1 for r in L if r['ev'] == 'req' and r['id'] == '$mode')")" \
	    "${want#*:}" "$mode: the endpoint saw ${want#*:} request(s)"
done

# Time: each hostile reply was cut by the client within the push timeout
# (4 s) plus 1.5 s (the endpoint notices a hang-up within 1 s in the slow
# modes; the machine is shared); the fast ones by the byte bound, before
# the timeout.
is "$(pyq "$T/h/hostile.log" "sum(1 for r in L if r['ev'] == 'gone')")" "$n" \
    "the daemon hung up on every hostile reply ($n)"
is "$(pyq "$T/h/hostile.log" "[r['id'] for r in L if r['ev'] == 'gone' and not r['after'] <= 5.5]")" '[]' \
    "every hostile reply was cut within the timeout (+1.5 s): $(pyq "$T/h/hostile.log" "' '.join('%s=%s' % (r['id'], r['after']) for r in L if r['ev'] == 'gone')")"
for m in big_200 big_422 chunk_200 head_200; do
	is "$(pyq "$T/h/hostile.log" "[r['after'] < 4 for r in L if r['ev'] == 'gone' and r['id'] == '$m']")" '[true]' \
	    "$m: cut by the byte bound before the timeout"
done
for m in slowhead_200 trickle_200 trickle_403 tricklestatus; do
	is "$(pyq "$T/h/hostile.log" "[r['after'] >= 3.5 for r in L if r['ev'] == 'gone' and r['id'] == '$m']")" '[true]' \
	    "$m: cut by the timeout (it trickled until then)"
done

# Memory: the endpoint sent far more than the daemon's peak RSS.
sent=$(pyq "$T/h/hostile.log" "sum(r['sent'] for r in L if r['ev'] == 'gone') // 1024")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$dpid_h/status")
echo "# peak RSS: $hwm kB; the endpoint sent $sent kB of hostile replies"
# A sanitizer build starts some 35 MiB larger (see imap-liar.sh).
limit=49152
if command -v ldd >/dev/null && ldd "$OTPBRIDGE" 2>/dev/null | grep -q 'libasan'; then
	limit=81920
fi
ok "the endpoint sent more than the RSS bound ($sent kB)" test "$sent" -gt "$limit"
ok "peak RSS stays below $((limit / 1024)) MiB" test "$hwm" -lt "$limit"

# What was kept of the replies: the head, cut to the store's bound
# (STORE_REPLY_MAX, 1024 bytes; push.c keeps PUSH_REPLY_MAX, 4096).
is "$(qj h 'max(len(j["last_reply"] or "") for j in L) <= 1024')" true \
    "no stored reply is longer than 1024 bytes"
for m in big_200 big_422 chunk_200 chunk_422; do
	is "$(job "$m" 'j["last_reply"] == "P" * 1024')" true \
	    "$m: the stored reply is the first 1024 bytes"
done
is "$(job trickle_200 '(j["last_status"], j["last_reply"] == "P" * len(j["last_reply"]))')" \
    '[200, true]' "trickle_200: delivered on its status line, the bytes that came kept"
for m in big_503 chunk_500 trickle_403 tricklestatus; do
	like "$(cat "$T/h/daemon.err")" "identifier=bot\\+$m@otp\\.example\\.com result=retry status=(0|5[0-9][0-9]) " \
	    "$m: the first attempt is logged as a retry"
done
like "$(grep 'identifier=bot+big_503@' "$T/h/daemon.err")" 'result=retry status=503 ' \
    "big_503: retried on its status (503), not as no reply"
like "$(grep 'identifier=bot+chunk_500@' "$T/h/daemon.err")" 'result=retry status=500 ' \
    "chunk_500: retried on its status (500), not as no reply"
ob h queue list
printf '%s\n%s\n' "$out" "$(cat "$T/h/q.json")" >"$T/h/kept.txt"
cat "$T/h/daemon.err" >>"$T/h/kept.txt"
ok "nothing past the bound is logged, listed or stored" \
    sh -c '! grep -qE "BEYOND|YONDBO|NDBOUN|BOUNDB" "$1"' sh "$T/h/kept.txt"

# The daemon keeps serving: a mail over LMTP now is pushed.
ok "the daemon is still running" alive "$dpid_h"
mail h late.txt late bot+late@otp.example.com 638199
sed 's/$/\r/' "$T/h/late.txt" >"$T/h/late.eml"
out=$(printf '%s\n' '< 1' '> LHLO t' '< 1' '> MAIL FROM:<codes@acme.example>' '< 1' \
    '> RCPT TO:<bot+late@otp.example.com>' '< 1' '> DATA' '< 1' "@ $T/h/late.eml" \
    '> .' '< 1' '> QUIT' '< 1' | timeout -k 5 60 "$PY" "$CL" chat "unix:$T/h/lmtp.sock")
like "$out" 'S: 250 2\.[0-9.]+ .*' "an LMTP delivery is accepted after the hostile pushes"
late_ok() { [ "$(pyq "$T/h/hostile.log" "sum(1 for r in L if r['ev'] == 'req' and r['id'] == 'late')")" = 1 ]; }
ok "and pushed" wait_for 15 late_ok
late_delivered() { [ "$(job late 'j["state"]')" = delivered ]; }
ok "and delivered" wait_for 15 late_delivered
stop "$dpid_h"
is "$stop_rc" 0 "SIGTERM: the daemon exits 0"
stop "$hpid"
secrets_checked
done_testing
