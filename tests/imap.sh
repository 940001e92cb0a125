#!/bin/sh
# imap.sh - the IMAP source through the daemon, against a private Dovecot
# (tests/imap-dovecot.sh) and the contract-enforcing endpoint: a mail
# saved to the mailbox is pushed once and then marked \Seen; a restart
# pushes nothing again; /healthz and /metrics see the account; a wrong
# password makes /healthz 503 with the reason while the LMTP side works.
. "${top_srcdir:-.}/tests/testlib.sh"

EP=$top_srcdir/tests/endpoint.py
DOVE=$top_srcdir/tests/imap-dovecot.sh
KEY=test-key-not-real-imap
unset OTPBRIDGE_API_KEY

if [ "$(id -u)" != 0 ] || ! command -v dovecot >/dev/null; then
	echo "1..0 # SKIP needs root and dovecot (contrib/setup-debian.sh installs it)"
	exit 0
fi
free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
chmod 755 "$T"
mkdir "$T/dove"
ports=$(sh "$DOVE" start "$T/dove" $$) || { echo "Bail out! dovecot did not start"; exit 1; }
IMAPS=${ports% *}
dove_stop() { sh "$DOVE" stop "$T/dove" >/dev/null 2>&1; }
trap 'dove_stop; cleanup' EXIT

save() { # ID CODE: a mail into bot's INBOX
	printf 'From: Acme <codes@acme.example>\nTo: bot@otp.example.com\nSubject: Your Acme code\nMessage-ID: <%s@acme.example>\nDate: %s\n\nYour verification code is %s.\n' \
	    "$1" "$(date -R)" "$2" | doveadm -c "$T/dove/dovecot.conf" save -u bot -m INBOX
}
seen() { # ID -> "yes" when the message is \Seen
	doveadm -c "$T/dove/dovecot.conf" fetch -u bot flags mailbox INBOX \
	    header message-id "$1@acme.example" 2>/dev/null | grep -q 'Seen' && echo yes || echo no
}

spawn "$PY" "$EP" --port 0 --port-file "$T/ep.port" --key "$KEY" --log "$T/ep.log"
wait_for 15 test -s "$T/ep.port"
printf '%s\n' "$KEY" >"$T/key"
printf 'secret\n' >"$T/pass"
printf 'wrong\n' >"$T/badpass"
HTTP=$(free_port)
mkdir -p "$T/f"
cat >"$T/f/10-acme.conf" <<'EOC'
[acme]
from = ^codes@acme\.example$
code = auto
EOC
conf() { # PASSWORD-FILE
	cat >"$T/otpbridge.conf" <<EOC
[push]
url = http://127.0.0.1:$(cat "$T/ep.port")/v1/credentials/totp
api_key_file = key
timeout = 2
[store]
path = $T/db/otpbridge.db
[lmtp]
listen =
[http]
listen = inet:127.0.0.1:$HTTP
[filters]
dir = f
[imap:bot]
host = 127.0.0.1
port = $IMAPS
tls = implicit
ca_file = $T/dove/ca.pem
user = bot
password_file = $1
identifier = Bot@OTP.example.com
poll_interval = 5
after = seen
EOC
}
npush() { pyq "$T/ep.log" 'sum(1 for r in L if r.get("status") == 200)'; }
# Conditions for wait_for, evaluated afresh at every poll.
npush_is() { [ "$(npush)" = "$1" ]; }
seen_is() { [ "$(seen "$1")" = yes ]; }

conf pass
save pre1 111222
spawn "$OTPBRIDGE" -c "$T/otpbridge.conf" run 2>"$T/daemon.err"
dpid=$last_pid
ok "a mail already in the mailbox at first start is pushed" wait_for 30 npush_is 1
is "$(pyq "$T/ep.log" 'L[0]["body"]')" \
    '{"totp_identifier":"bot@otp.example.com","content":"111222","source":"email"}' \
    "the body is byte-exact: the account's identifier, lower-cased"
ok "and it is marked \\Seen once committed" wait_for 15 seen_is pre1
save live1 333444
ok "a mail saved while the daemon idles is pushed" wait_for 20 npush_is 2
ok "and marked \\Seen" wait_for 15 seen_is live1
like "$(cat "$T/daemon.err")" 'src=imap:bot .*result=queued' "the decision is logged with src=imap:bot"
ok "/healthz is 200 while the account syncs" sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP/healthz)\" = 200 ]"
ok "/metrics shows the account connected" wait_for 10 sh -c \
    "curl -s http://127.0.0.1:$HTTP/metrics | grep -q 'otpbridge_imap_connected{account=\"bot\"} 1'"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# A restart resumes from the stored UID: nothing is pushed twice.
spawn "$OTPBRIDGE" -c "$T/otpbridge.conf" run 2>"$T/daemon2.err"
dpid=$last_pid
save after1 555666
ok "after a restart the next mail is pushed" wait_for 30 npush_is 3
sleep 2
is "$(npush)" 3 "and the old ones are not pushed again"
is "$(pyq "$T/ep.log" '[json.loads(r["body"])["content"] for r in L if r.get("status") == 200]')" \
    '["111222", "333444", "555666"]' "each code exactly once, in order"
stop "$dpid"

# A wrong password: /healthz says why; nothing crashes.
conf badpass
spawn "$OTPBRIDGE" -c "$T/otpbridge.conf" run 2>"$T/daemon3.err"
dpid=$last_pid
ok "/healthz turns 503 when the account cannot sync" wait_for 30 sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP/healthz)\" = 503 ]"
like "$(curl -s "http://127.0.0.1:$HTTP/healthz")" 'imap:bot has not synced' "and names the account"
unlike "$(cat "$T/daemon3.err")" 'secret|wrong' "no password in the log"
ok "the daemon is still running" alive "$dpid"
stop "$dpid"
is "$stop_rc" 0 "and exits 0 on SIGTERM"
done_testing
