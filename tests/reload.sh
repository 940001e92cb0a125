#!/bin/sh
# reload.sh - SIGHUP applies what it says it applies (issue 10 item 6),
# against the running daemon:
#  1. a reload that changes the [http] signing key, timestamp_window and
#     the [lmtp] recipients pattern and max_size applies all of it at once
#     (a request signed with the old key gets 401, with the new key 200; a
#     formerly refused RCPT is accepted and a formerly accepted one
#     refused; a mail over the new max_size is refused) and logs no
#     restart line;
#  2. a reload that changes the LMTP listen address and [http] timeout
#     logs exactly one line naming both as needing a restart, and the old
#     listener keeps serving (the new address is not bound);
#  3. a reload that would leave nothing to apply (a broken file) keeps
#     the running key.
. "${top_srcdir:-.}/tests/testlib.sh"

# http METHOD PATH [curl args...]: $code and $body
http() {
	_m=$1 _p=$2; shift 2
	body=$(curl -s -o - -w '\n%{http_code}' -X "$_m" "$@" "http://127.0.0.1:$HTTP$_p")
	code=$(printf '%s\n' "$body" | tail -1)
	body=$(printf '%s\n' "$body" | sed '$d')
}
# sig KEY BODY: Skyvern's x-skyvern-signature, HMAC-SHA256 hex of BODY.
sig() {
	"$PY" -c 'import hashlib, hmac, sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())' "$1" "$2"
}
# pull KEY [TIMESTAMP]: a signed pull for bot@ (task tsk_1) signed with KEY.
BODY='{"task_id":"tsk_1"}'
pull() {
	http POST '/totp?identifier=bot%40otp.example.com' -H "x-skyvern-signature: $(sig "$1" "$BODY")" \
	    -H "x-skyvern-timestamp: ${2:-$(date +%s)}" -H 'Content-Type: application/json' \
	    --data-binary "$BODY"
}
# rcpt PORT ADDR [MAILFILE]: one LMTP transaction to ADDR; the reply to
# RCPT TO and the whole session in $T/swaks.out.
rcpt() {
	swaks --protocol LMTP --server "127.0.0.1:$1" --to "$2" --from codes@acme.example \
	    --data "${3:-$T/m1.eml}" >"$T/swaks.out" 2>&1
}
rcpt_reply() { # the reply to RCPT TO in $T/swaks.out
	sed -n '/RCPT TO/{n;p;}' "$T/swaks.out" | head -1
}
reloads_are() { [ "$(grep -c 'reloaded ' "$T/daemon.err")" = "$1" ]; }

set -- $(free_ports 3)
LMTP=$1 LMTP2=$2 HTTP=$3
mkdir -p "$T/db"
printf 'old-signing-key\n' >"$T/key-old"
printf 'new-signing-key\n' >"$T/key-new"
chmod 600 "$T/key-old" "$T/key-new"
acme_filter "$T/f"
# write_conf LMTP-PORT SIGNING-KEY-FILE RECIPIENTS [LMTP-LINES [HTTP-LINES]]
write_conf() {
	cat >"$T/otpbridge.conf" <<EOC
[push]
url = https://api.skyvern.com/v1/credentials/totp
[store]
path = $T/db/otpbridge.db
[lmtp]
listen = inet:127.0.0.1:$1
recipients = $3
${4:-}
[http]
listen = inet:127.0.0.1:$HTTP
signing_key_file = $2
${5:-}
[filters]
dir = f
EOC
}
mail . m1.eml m1 bot@otp.example.com 482913
mail . m2.eml m2 other@otp.example.com 551920
# A mail of about 3 KB: over max_size = 2048, under the 10 MiB default.
{ cat "$T/m2.eml"; i=0; while [ $i -lt 40 ]; do
	echo "padding line $i .........................................................."
	i=$((i + 1)); done; } >"$T/big.eml"

write_conf "$LMTP" key-old '^bot@otp\.example\.com$'
spawn "$OTPBRIDGE" -c "$T/otpbridge.conf" run 2>"$T/daemon.err"
dpid=$last_pid
ok "the daemon listens" wait_for 15 sh -c "curl -sf http://127.0.0.1:$HTTP/healthz >/dev/null"

# ---- before: the boot config ------------------------------------------------
rcpt "$LMTP" bot@otp.example.com
like "$(rcpt_reply)" '^<(-|\*\*) +250 ' "before: RCPT bot@ is accepted"
like "$(cat "$T/swaks.out")" 'Ok: queued' "before: and the mail is queued (a dry run delivers it)"
rcpt "$LMTP" other@otp.example.com "$T/m2.eml"
like "$(rcpt_reply)" '^<(-|\*\*) +550 5\.1\.1 ' "before: RCPT other@ is refused (550 5.1.1)"
rcpt "$LMTP" bot@otp.example.com "$T/big.eml"
like "$(cat "$T/swaks.out")" '250 2\.0\.0 .*Ok' "before: a 3 KB mail is accepted"
ok "before: the code is in the store" wait_for 10 sh -c "grep -q 'result=queued' '$T/daemon.err'"
pull old-signing-key
is "$code" 200 "before: a pull signed with the old key: 200"
pull new-signing-key
is "$code" 401 "before: a pull signed with the new key: 401"
pull old-signing-key $(( $(date +%s) - 1000 ))
is "$code" 200 "before: a timestamp 1000 s off is taken (timestamp_window = 0)"

# ---- 1. a reload of what applies live ---------------------------------------
write_conf "$LMTP" key-new '^other@otp\.example\.com$' 'max_size = 2048' 'timestamp_window = 300'
kill -HUP "$dpid"
ok "1: the reload is logged" wait_for 10 reloads_are 1
pull old-signing-key
is "$code" 401 "1: a pull signed with the old key: 401"
pull new-signing-key
is "$code" 200 "1: a pull signed with the new key: 200"
pull new-signing-key $(( $(date +%s) - 1000 ))
is "$code" 401 "1: the new timestamp_window applies: 1000 s off is refused"
like "$body" 'outside the window' "1: (refused for its timestamp, not its signature)"
rcpt "$LMTP" other@otp.example.com "$T/m2.eml"
like "$(rcpt_reply)" '^<(-|\*\*) +250 ' "1: RCPT other@, refused before, is accepted"
like "$(cat "$T/swaks.out")" 'Ok: queued' "1: and its mail is queued"
rcpt "$LMTP" bot@otp.example.com
like "$(rcpt_reply)" '^<(-|\*\*) +550 5\.1\.1 ' "1: RCPT bot@, accepted before, is refused"
rcpt "$LMTP" other@otp.example.com "$T/big.eml"
like "$(cat "$T/swaks.out")" '552 5\.3\.4' "1: a 3 KB mail is over the new max_size (552 5.3.4)"
unlike "$(cat "$T/daemon.err")" 'restart' "1: no restart line: all of it applied"

# ---- 2. a reload of what takes a restart ------------------------------------
write_conf "$LMTP2" key-new '^other@otp\.example\.com$' 'max_size = 2048' \
    "timestamp_window = 300
timeout = 5"
kill -HUP "$dpid"
ok "2: the reload is logged" wait_for 10 reloads_are 2
is "$(grep -c 'restart' "$T/daemon.err")" 1 "2: exactly one line speaks of a restart"
like "$(grep 'restart' "$T/daemon.err")" \
    'reload: these changes need a restart to apply: \[lmtp\] listen, \[http\] timeout$' \
    "2: it names [lmtp] listen and [http] timeout, and nothing else"
rcpt "$LMTP" other@otp.example.com "$T/m2.eml"
like "$(rcpt_reply)" '^<(-|\*\*) +250 ' "2: the old listener still serves"
ok "2: the new address is not bound" sh -c "! curl -s --max-time 5 telnet://127.0.0.1:$LMTP2 </dev/null >/dev/null 2>&1"

# ---- 3. a broken file keeps the running set --------------------------------
write_conf "$LMTP" key-missing '^bot@otp\.example\.com$'
kill -HUP "$dpid"
ok "3: the failed reload is logged" wait_for 10 grep -q 'reload failed, keeping the running configuration: .*signing_key_file: cannot read the file it names' "$T/daemon.err"
pull new-signing-key
is "$code" 200 "3: the running key still signs"
rcpt "$LMTP" bot@otp.example.com
like "$(rcpt_reply)" '^<(-|\*\*) +550 ' "3: and the running recipients still decide"

ok "the daemon is still running" alive "$dpid"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"
ok "no code in the daemon's log" sh -c '! grep -qE "482913|551920" "$1"' sh "$T/daemon.err"
done_testing
