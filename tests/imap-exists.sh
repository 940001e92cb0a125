#!/bin/sh
# imap-exists.sh - in IDLE mode, mail a FETCH's reply announces is fetched
# at once (SPEC 6), against tests/imap-after.py with IDLE and --late: a
# second mail "arrives" while the daemon's UID FETCH of the first is
# answered, and the server reports it as Dovecot does, "* 2 EXISTS" ahead
# of that FETCH's tagged OK, and never again in the IDLE that follows.
# poll_interval is 120 s: a daemon that went back into IDLE would fetch
# it only at the watchdog's round, long after the 10 s this test waits.
# The server's command log shows the round that follows (after the first
# mail's \Seen, the default `after`): a UID FETCH from UID 2, not IDLE;
# and nothing is fetched twice.
. "${top_srcdir:-.}/tests/testlib.sh"

SRV=$top_srcdir/tests/imap-after.py

ep_start . 0 "" ep.log
printf '%s\n' "$KEY" >"$T/key"
printf 'secret\n' >"$T/pass"
chmod 600 "$T/key" "$T/pass"
acme_filter "$T/f"
mkdir -p "$T/mail"

# mail FILE ID CODE: a mail from Acme to bot carrying CODE, Message-ID
# <ID@acme.example>, written atomically to FILE.
mail() {
	printf 'From: Acme <codes@acme.example>\nTo: bot@otp.example.com\nSubject: Your Acme code\nMessage-ID: <%s@acme.example>\nDate: %s\n\nYour verification code is %s.\n' \
	    "$2" "$(date -R)" "$3" >"$1.tmp"
	mv "$1.tmp" "$1"
}
mail "$T/late.eml" late 624408

spawn "$PY" "$SRV" "$T/imap.port" "$T/wire" "$T/state.json" "$T/mail" \
    --caps "IMAP4rev1 AUTH=PLAIN UIDPLUS IDLE" --late "$T/late.eml"
wait_for 15 test -s "$T/imap.port" || bail "imap-after.py did not start"
cat >"$T/c.conf" <<EOC
[push]
url = http://127.0.0.1:$ep_port/v1/credentials/totp
api_key_file = $T/key
timeout = 5
[store]
path = $T/db/otpbridge.db
[lmtp]
listen =
[filters]
dir = $T/f
[imap:bot]
host = 127.0.0.1
port = $(cat "$T/imap.port")
tls = none
user = bot
password_file = $T/pass
identifier = bot@otp.example.com
idle = yes
poll_interval = 120
EOC
spawn "$OTPBRIDGE" -c "$T/c.conf" run 2>"$T/daemon.err"
pid=$last_pid

# pushed CODE N: the endpoint accepted CODE N times.
pushed() { [ "$(pyq "$T/ep.log" "sum(1 for b in B if b['content'] == '$1')")" = "$2" ]; }
# wire: the server's command log, the fetch items left out, "|"-joined.
wire() { sed 's/ (UID INTERNALDATE.*//' "$T/wire" 2>/dev/null | paste -sd'|' -; }
idling() { wire | grep -q '|IDLE$'; }

ok "the daemon syncs the empty mailbox and goes into IDLE" wait_for 30 idling
like "$(cat "$T/daemon.err")" 'imap=bot result=connected .*idle=yes' "IDLE mode"
mail "$T/mail/first.eml" first 513377
ok "the first mail, announced in IDLE, is pushed" wait_for 30 pushed 513377 1
ok "the late mail, announced in the FETCH's reply, is pushed within 10 s" \
    wait_for 10 pushed 624408 1
ok "and the daemon goes back into IDLE" wait_for 10 idling
is "$(wire | sed 's/^.*|UID SEARCH[^|]*|//')" \
    'IDLE|DONE|UID FETCH 1:*|UID STORE 1 +FLAGS.SILENT (\Seen)|UID FETCH 2:*|UID STORE 2 +FLAGS.SILENT (\Seen)|IDLE' \
    "after the FETCH that announced mail comes a UID FETCH from UID 2, not IDLE"
is "$(wire | tr '|' '\n' | grep -c '^UID FETCH')" 2 "nothing is fetched twice"
is "$(grep -c '^conn$' "$T/wire")" 1 "one connection"
pushed 513377 1 && pushed 624408 1
ok "each code pushed once" test $? = 0
unlike "$(cat "$T/daemon.err")" 'result=duplicate' "no message handed over twice"

ok "the daemon is still running" alive "$pid"
stop "$pid"
is "$stop_rc" 0 "SIGTERM: exits 0"
secrets_checked
done_testing
