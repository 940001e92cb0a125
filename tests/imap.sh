#!/bin/sh
# imap.sh - the IMAP source through the daemon, against a private Dovecot
# (tests/imap-dovecot.sh) and the contract-enforcing endpoint: a mail
# saved to the mailbox is pushed once and then marked \Seen; a restart
# pushes nothing again; /healthz and /metrics see the account; a wrong
# password makes /healthz 503 with the reason while the LMTP side works.
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/imaplib.sh"

imap_start
printf 'wrong\n' >"$T/badpass"
chmod 600 "$T/badpass"

seen() { # ID -> "yes" when the message is \Seen
	doveadm -c "$DC" fetch -u bot flags mailbox INBOX \
	    header message-id "$1@acme.example" 2>/dev/null | grep -q 'Seen' && echo yes || echo no
}
write_conf() { # PASSWORD-FILE: the one account, bot on INBOX
	{ common db; account bot "$IMAPS" INBOX seen "password_file = $1"; } >"$T/otpbridge.conf"
}
npush() { pyq "$T/ep.log" 'sum(1 for r in L if r.get("status") == 200)'; }
# Conditions for wait_for, evaluated afresh at every poll.
npush_is() { [ "$(npush)" = "$1" ]; }
seen_is() { [ "$(seen "$1")" = yes ]; }

write_conf pass
save INBOX pre1 111222
start_daemon "$T/otpbridge.conf" "$T/daemon.err"
ok "a mail already in the mailbox at first start is pushed" wait_for 30 npush_is 1
is "$(pyq "$T/ep.log" 'L[0]["body"]')" \
    '{"totp_identifier":"bot@otp.example.com","content":"111222","source":"email"}' \
    "the body is byte-exact: the account's identifier, lower-cased"
ok "and it is marked \\Seen once committed" wait_for 15 seen_is pre1
save INBOX live1 333444
ok "a mail saved while the daemon idles is pushed" wait_for 20 npush_is 2
ok "and marked \\Seen" wait_for 15 seen_is live1
like "$(cat "$T/daemon.err")" 'src=imap:bot .*result=queued' "the decision is logged with src=imap:bot"
ok "/healthz is 200 while the account syncs" sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP/healthz)\" = 200 ]"
ok "/metrics shows the account connected" wait_for 10 sh -c \
    "curl -s http://127.0.0.1:$HTTP/metrics | grep -q 'otpbridge_imap_connected{account=\"bot\"} 1'"
"$OTPBRIDGE" -c "$T/otpbridge.conf" status --json >"$T/status.json" 2>>"$T/status.err"
is "$(pyq "$T/status.json" '[(a["account"], a["connected"], 0 <= a["last_sync_age"] < 60, a["last_error"], a["last_uid"] >= 2) for a in L[0]["imap"]]')" \
    '[["bot", true, true, null, true]]' "status --json: bot connected, synced just now, no error, its stored UID"
like "$("$OTPBRIDGE" -c "$T/otpbridge.conf" status 2>&1)" '  bot +INBOX: connected, last sync [0-9]+s ago; stored uid [0-9]+' \
    "status: the account as a person reads it"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# A restart resumes from the stored UID: nothing is read, so nothing is
# pushed, twice.  A count of pushes cannot show it (a second read of
# pre1 or live1 is a duplicate by Message-ID and never pushed): the
# restarted daemon's one decision line per message read can.  It reads
# in UID order, so once after1 (the highest UID) is decided, a re-read
# of the two below would be in its log already.
start_daemon "$T/otpbridge.conf" "$T/daemon2.err"
save INBOX after1 555666
ok "after a restart the next mail is pushed" wait_for 30 npush_is 3
ok "and decided" wait_for 10 logged "$T/daemon2.err" 'msg=after1@acme\.example src=imap:bot '
is "$(grep -o 'msg=[^ ]* src=imap:bot ' "$T/daemon2.err" | cut -d' ' -f1 | paste -sd, -)" \
    'msg=after1@acme.example' "the old ones are not read again (the stored UID holds)"
is "$(npush)" 3 "and not pushed again"
is "$(pyq "$T/ep.log" '[json.loads(r["body"])["content"] for r in L if r.get("status") == 200]')" \
    '["111222", "333444", "555666"]' "each code exactly once, in order"
stop "$dpid"

# A wrong password: /healthz says why; nothing crashes.
write_conf badpass
start_daemon "$T/otpbridge.conf" "$T/daemon3.err"
ok "/healthz turns 503 when the account cannot sync" wait_for 30 sh -c \
    "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$HTTP/healthz)\" = 503 ]"
like "$(curl -s "http://127.0.0.1:$HTTP/healthz")" 'imap:bot has not synced' "and names the account"
unlike "$(cat "$T/daemon3.err")" 'secret|wrong' "no password in the log"
ok "the daemon is still running" alive "$dpid"
stop "$dpid"
is "$stop_rc" 0 "and exits 0 on SIGTERM"
done_testing
