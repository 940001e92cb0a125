#!/bin/sh
# imap-after-dovecot.sh - the COPY fallback of `after = move:FOLDER`
# against the real thing: the private Dovecot with imap_capability
# stripped of MOVE.  A tapping proxy (tests/imap-proxy.py, WIRE_FILE:
# command names only) shows what the daemon sent; doveadm shows where the
# mail is and its flags.
#   a  move:Processed (it exists): UID COPY, UID STORE, UID EXPUNGE, never
#      UID MOVE; the mail ends in Processed, INBOX empty
#   b  move:Nowhere (it does not exist): COPY is refused; logged, pushed
#      once, the mail still in INBOX without \Deleted, the action not
#      retried (tests/imap-after.sh has the other failures, scripted)
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/imaplib.sh"

PROXY=$top_srcdir/tests/imap-proxy.py
imap_start
IMAP=${ports#* }
# Every capability Dovecot 2.3 offers after login that the daemon looks
# at, but MOVE.
cat >>"$DC" <<EOC
protocol imap {
  imap_capability = IMAP4rev1 IDLE UIDPLUS LITERAL+ ENABLE
}
EOC
doveadm -c "$DC" reload || bail "dovecot did not reload"
doveadm -c "$DC" mailbox create -u bot Processed Other2 || bail "doveadm mailbox create"

# proxied S: a tapping proxy for S in front of the plain IMAP port; $T/S.port.
proxied() {
	spawn "$PY" "$PROXY" "$IMAP" "$T/$1.port" "$T/$1.stall" "$T/$1.log" "" "$T/$1.wire"
	wait_for 15 test -s "$T/$1.port" || bail "proxy $1 did not start"
}
proxied a
proxied b
{
	common db
	account a "$(cat "$T/a.port")" INBOX move:Processed "identifier = a@otp.example.com"
	account b "$(cat "$T/b.port")" Other2 move:Nowhere "identifier = b@otp.example.com"
} | sed 's/^tls = implicit$/tls = none/' >"$T/c.conf"
save INBOX da1 610001
save Other2 db1 610002
CODES="610001 610002"
start_daemon "$T/c.conf" "$T/daemon.err"

ok "a: the mail is pushed" wait_for 30 ncode_is 610001 1
# cmds S: S's client commands after login, "NAME" joined by "|", from
# the first UID COPY/MOVE on.
cmds() {
	awk '/^C / { $1 = ""; $2 = ""; sub(/^  /, ""); print }' "$T/$1.wire" |
	    sed -n '/^UID \(COPY\|MOVE\)/,$p' | grep -vE '^(IDLE|DONE|NOOP|UID FETCH|UID SEARCH)$' |
	    paste -sd'|' -
}
a_done() { [ "$(cmds a)" = 'UID COPY|UID STORE|UID EXPUNGE' ]; }
ok "a: without MOVE: UID COPY, UID STORE, UID EXPUNGE ($(cmds a))" wait_for 15 a_done
is "$(grep -c 'UID MOVE' "$T/a.wire")" 0 "a: UID MOVE is never sent"
is "$(doveadm -c "$DC" mailbox status -u bot messages INBOX)" "INBOX messages=0" "a: INBOX is empty"
is "$(doveadm -c "$DC" mailbox status -u bot messages Processed)" "Processed messages=1" "a: the mail is in Processed"
like "$(doveadm -c "$DC" fetch -u bot 'hdr.message-id flags' mailbox Processed all)" \
    'da1@acme\.example' "a: it is the pushed mail"
unlike "$(doveadm -c "$DC" fetch -u bot flags mailbox Processed all)" 'Deleted' \
    "a: the copy is not \\Deleted"

ok "b: the mail is pushed" wait_for 30 ncode_is 610002 1
b_failed() { logged "$T/daemon.err" 'imap=b result=disconnected error="UID COPY failed'; }
ok "b: the refused COPY is logged" wait_for 15 b_failed
like "$(grep 'imap=b result=disconnected' "$T/daemon.err")" 'Nowhere|exist' \
    "b: with the server's words"
# Two rounds after the reconnection, counted on the wire.
rounds() { [ "$(sed -n '/UID COPY/,$p' "$T/b.wire" | grep -c 'UID FETCH$')" -ge 2 ]; }
ok "b: the session reconnects and polls twice" wait_for 40 rounds
is "$(grep -c 'UID COPY' "$T/b.wire")" 1 "b: COPY was sent once, not retried"
is "$(sed -n '/UID COPY/,$p' "$T/b.wire" | grep -cE 'UID (STORE|EXPUNGE)|^C [0-9]+ EXPUNGE')" 0 \
    "b: no STORE or EXPUNGE after the refused COPY"
is "$(doveadm -c "$DC" mailbox status -u bot messages Other2)" "Other2 messages=1" "b: the mail is still in Other2"
unlike "$(doveadm -c "$DC" fetch -u bot flags mailbox Other2 all)" 'Deleted' \
    "b: and not \\Deleted"
is "$(grep -c 'result=disconnected' "$T/daemon.err")" 1 "one failure logged in all"
unlike "$(cat "$T/daemon.err")" 'result=duplicate' "b: the mail was not handed over again"
is "$(pyq "$T/ep.log" 'len(B)')" 2 "two pushes in all"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"
secrets_checked
done_testing
