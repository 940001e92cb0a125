#!/bin/sh
# imap-size.sh - an IMAP message over max_size against a private Dovecot
# (tests/imap-dovecot.sh): the account never fetches its body (it knows
# the size from RFC822.SIZE) and hands it to the intake marked too big,
# which drops it like deliver does (no client to refuse): one decision
# line "result=dropped reason=too-large limit=N", one count in
# otpbridge_messages_total{source="imap:NAME",result="dropped"}, `after`
# applied as to any dropped mail, and its UID committed with the drop, so
# a restarted daemon does not fetch it again.  Both fetch paths: the
# first sync (a search, then one UID at a time) and new mail in IDLE (one
# UID FETCH <last+1>:*).
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/imaplib.sh"

imap_start
# big_mail ID CODE: a mail from Acme carrying CODE, over 4096 bytes.
big_mail() {
	imap_mail "$1" "$2"
	"$PY" -c 'print("\n".join("padding line %03d " % i + "x" * 60 for i in range(80)))'
}
save_big() { big_mail "$2" "$3" | doveadm -c "$DC" save -u bot -m "$1"; }
seen_is() { # ID: that mail in INBOX is \Seen
	doveadm -c "$DC" fetch -u bot flags mailbox INBOX \
	    header message-id "$1@acme.example" 2>/dev/null | grep -q 'Seen'
}
# toolarge ERRFILE: the too-large decision lines of account s.
toolarge() {
	grep -cE 'src=imap:s uid=[0-9]+ rcpt=[^ ]+ result=dropped reason=too-large limit=4096$' "$1"
}
{ common db; account s "$IMAPS" INBOX seen "max_size = 4096"; } >"$T/c.conf"

# ---- the first sync: the size first, one UID at a time --------------------
save_big INBOX big1 710091
save INBOX small1 710001
start_daemon "$T/c.conf" "$T/daemon1.err"
# small1 has the higher UID: it is decided after big1 (the barrier).
ok "first sync: the mail behind the oversized one is pushed" wait_for 30 ncode_is 710001 1
is "$(toolarge "$T/daemon1.err")" 1 "first sync: the oversized mail is logged once, dropped as too-large"
unlike "$(cat "$T/daemon1.err")" 'result=skipped' "and not logged a second way"
ok "and \`after = seen\` applies to it as to any dropped mail" wait_for 15 seen_is big1

# ---- new mail in IDLE: one UID FETCH <last+1>:* ----------------------------
ok "the account is idling" wait_for 30 logged "$T/daemon1.err" 'imap=s result=connected .*idle=yes'
save_big INBOX big2 710092
save INBOX small2 710002
ok "in IDLE: the mail behind the oversized one is pushed" wait_for 30 ncode_is 710002 1
is "$(toolarge "$T/daemon1.err")" 2 "in IDLE: the oversized mail is logged once, dropped as too-large"
ok "and marked \\Seen" wait_for 15 seen_is big2
is "$(ncode 710091),$(ncode 710092)" "0,0" "no code of an oversized mail is pushed"
dropped() {
	curl -s "http://127.0.0.1:$HTTP/metrics" |
	    grep -qx 'otpbridge_messages_total{source="imap:s",result="dropped"} 2'
}
ok "both are counted: messages_total{source=\"imap:s\",result=\"dropped\"} 2" dropped
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# ---- a restart: their UIDs were committed with the drops ------------------
start_daemon "$T/c.conf" "$T/daemon2.err"
ok "restart: the account is idling" wait_for 30 logged "$T/daemon2.err" 'imap=s result=connected .*idle=yes'
save INBOX small3 710003
# small3 is newer than both: once it is decided, a re-fetch of either
# oversized mail would have been logged.
ok "restart: a new mail is pushed" wait_for 30 ncode_is 710003 1
is "$(toolarge "$T/daemon2.err")" 0 "restart: the oversized mails are not fetched again"
is "$(pyq "$T/ep.log" 'len(B)')" 3 "three pushes in all, one per small mail"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"
secrets_checked
done_testing
