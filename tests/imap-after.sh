#!/bin/sh
# imap-after.sh - the `after` action on a processed IMAP message, and what
# the daemon does when it fails (SPEC 5 and 6), against
# tests/imap-after.py, a stateful plain-IMAP server on loopback whose
# capabilities and answers each scenario scripts.  It logs every command
# the daemon sends and its mailboxes after each one.
#
#   move      a server with MOVE: UID MOVE, nothing else
#   fallback  a server without MOVE: UID COPY, UID STORE +\Deleted, UID
#             EXPUNGE of that UID alone (UIDPLUS)
#   plain     without MOVE and without UIDPLUS: COPY, STORE, EXPUNGE
#   copyno    without MOVE, COPY answered NO: no STORE, no EXPUNGE
#   nofolder  move: to a mailbox that does not exist (NO [TRYCREATE])
#   storeno   after = delete, STORE answered NO: no EXPUNGE
#   drop      the connection drops when MOVE is sent (between the commit
#             and the action)
#
# Each failure must be logged once with the command and the server's
# words, the code pushed exactly once (its job delivered), the message
# left in INBOX as it was (a failed COPY never leads to \Deleted), the
# session reconnected, and the message neither fetched again nor its
# action retried in the rounds that follow -- the signal is the server's
# command log, not the push count, which Message-ID dedup would mask.  A
# mail that arrives after the failure is pushed too.
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/fakeimap.sh"

NOMOVE="IMAP4rev1 AUTH=PLAIN UIDPLUS"
MOVE="IMAP4rev1 AUTH=PLAIN UIDPLUS MOVE"

ep_start . 0 "" ep.log
printf '%s\n' "$KEY" >"$T/key"
printf 'secret\n' >"$T/pass"
chmod 600 "$T/key" "$T/pass"
acme_filter "$T/f"

# imap_mail S ID CODE: a mail from Acme to bot carrying CODE, Message-ID
# <ID@acme.example>, into S's maildir (atomically: the server may scan it).
imap_mail() {
	CODES="$CODES $3"
	printf 'From: Acme <codes@acme.example>\nTo: bot@otp.example.com\nSubject: Your Acme code\nMessage-ID: <%s@acme.example>\nDate: %s\n\nYour verification code is %s.\n' \
	    "$2" "$(date -R)" "$3" >"$T/$1/mail/$2.eml.tmp"
	mv "$T/$1/mail/$2.eml.tmp" "$T/$1/mail/$2.eml"
}

# scenario S AFTER CAPS [server options]: S's server (with one mail, S1)
# and daemon, after = AFTER; sets nothing, everything is under $T/S.
scenario() {
	_s=$1 _after=$2 _caps=$3
	shift 3
	mkdir -p "$T/$_s/mail"
	imap_mail "$_s" "${_s}1" "$(printf '8%05d' "$(( $(printf '%s' "$_s" | cksum | cut -d' ' -f1) % 99999 ))")"
	fake_imap_start "$_s" "$_caps" "$@"
	fake_imap_daemon "$_s" "bot+$_s@otp.example.com" "poll_interval = 5" "after = $_after"
}

# pushes S: the pushes the endpoint accepted for S's identifier.
pushes() { pyq "$T/ep.log" "sum(1 for b in B if b['totp_identifier'] == 'bot+$1@otp.example.com')"; }
pushes_are() { [ "$(pushes "$1")" = "$2" ]; }
# wire S: S's command log, the fetch items left out; lines "conn", then
# one per command.
wire() { sed 's/ (UID INTERNALDATE.*//; s/ BODY\.PEEK.*//' "$T/$1/wire"; }
# cmds S: the commands that act on messages, in order, joined by "|".
cmds() { wire "$1" | grep -E '^(UID (MOVE|COPY|STORE|EXPUNGE)|EXPUNGE)' | paste -sd'|' -; }
# box S EXPR: EXPR over S's mailboxes (D: {name: [{uid, file, flags}]}).
box() {
	"$PY" -c 'import json, sys; D = json.load(open(sys.argv[1])); r = eval(sys.argv[2]); print(r if isinstance(r, str) else json.dumps(r))' \
	    "$T/$1/state.json" "$2"
}
# rounds_after S N: S's log has N rounds that fetch new mail (UID FETCH
# X:*) after its last line naming an action.
rounds_after() {
	[ "$(awk '/^(UID (MOVE|COPY|STORE|EXPUNGE)|EXPUNGE)/ { n = 0; next }
	    /^UID FETCH [0-9]+:\*/ { n++ } END { print n + 0 }' "$T/$1/wire")" -ge "$2" ]
}

scenario move "move:Codes" "$MOVE" --folders Codes
scenario fallback "move:Codes" "$NOMOVE" --folders Codes
scenario plain "move:Codes" "IMAP4rev1 AUTH=PLAIN" --folders Codes
scenario copyno "move:Codes" "$NOMOVE" --folders Codes --no "UID COPY"
scenario nofolder "move:Nope" "$MOVE" --folders Codes
scenario storeno "delete" "$MOVE" --no "UID STORE"
scenario drop "move:Codes" "$MOVE" --folders Codes --drop "UID MOVE"

# --- the action done ---------------------------------------------------------
for s in move fallback plain; do
	ok "$s: the mail is pushed" wait_for 30 pushes_are "$s" 1
	ok "$s: and its action done, the daemon back to polling" wait_for 30 rounds_after "$s" 1
done
is "$(cmds move)" 'UID MOVE 1 Codes' "move: a server with MOVE gets UID MOVE alone"
is "$(cmds fallback)" 'UID COPY 1 Codes|UID STORE 1 +FLAGS.SILENT (\Deleted)|UID EXPUNGE 1' \
    "fallback: without MOVE: UID COPY, then \\Deleted, then UID EXPUNGE of that UID"
is "$(cmds plain)" 'UID COPY 1 Codes|UID STORE 1 +FLAGS.SILENT (\Deleted)|EXPUNGE' \
    "plain: without UIDPLUS either: COPY, \\Deleted, EXPUNGE"
for s in move fallback plain; do
	is "$(box "$s" '"%s %s" % ([m["file"] for m in D["INBOX"]], [m["file"] for m in D["Codes"]])')" \
	    "[] ['${s}1.eml']" "$s: the mail left INBOX and is in Codes"
done
is "$(box fallback '[m["flags"] for m in D["Codes"]]')" '[[]]' \
    "fallback: the copy in Codes is not \\Deleted"

# --- the action failed -------------------------------------------------------
# fail S CMD PATTERN: S's action CMD failed; the checks every failure gets.
fail() {
	_s=$1 _c=$2
	ok "$_s: the mail is pushed" wait_for 30 pushes_are "$_s" 1
	ok "$_s: the session reconnects and polls twice after the failure" \
	    wait_for 40 rounds_after "$_s" 2
	like "$(cat "$T/$_s/daemon.err")" "imap=$_s result=disconnected error=\"$3" \
	    "$_s: the failure is logged with the command and the server's words"
	is "$(grep -c 'result=disconnected' "$T/$_s/daemon.err")" 1 "$_s: once"
	is "$(grep -c "^$_c " "$T/$_s/wire")" 1 "$_s: $_c was sent once, not retried"
	is "$(grep -c '^LOGIN' "$T/$_s/wire")" 2 "$_s: one reconnection, no loop"
	is "$(wire "$_s" | awk -v c="$_c" 'index($0, c " ") == 1 { on = 1; next }
	    on && /^UID (FETCH|SEARCH)/ && !/^UID (FETCH|SEARCH.* UID) ([2-9]|[1-9][0-9]+):\*$/' |
	    paste -sd'|' -)" "" \
	    "$_s: after the failure, every round searches or fetches from UID 2 on: UID 1 is recorded"
	is "$(qj_s "$_s")" delivered "$_s: its job is delivered: the code is not lost"
	unlike "$(cat "$T/$_s/daemon.err")" 'result=duplicate' \
	    "$_s: the message was not handed over again (no duplicate decision)"
}
# qj_s S: the state of S's one job.
qj_s() {
	timeout 60 "$OTPBRIDGE" -c "$T/$1/c.conf" queue list --json >"$T/$1/q.json" 2>>"$T/all-stderr.log"
	pyq "$T/$1/q.json" '",".join(j["state"] for j in L)'
}

fail copyno "UID COPY" 'UID COPY failed \(libetpan [0-9]+: .*refused by this test'
is "$(cmds copyno)" 'UID COPY 1 Codes' "copyno: after the failed COPY: no STORE, no EXPUNGE"
is "$(box copyno '[(m["file"], m["flags"]) for m in D["INBOX"]] + D["Codes"]')" \
    '[["copyno1.eml", []]]' "copyno: the mail is still in INBOX, not \\Deleted; Codes is empty"

fail nofolder "UID MOVE" "UID MOVE failed \\(libetpan [0-9]+: Mailbox doesn't exist: Nope\\)"
is "$(box nofolder '[m["file"] for m in D["INBOX"]]')" '["nofolder1.eml"]' \
    "nofolder: the mail is still in INBOX"

fail storeno "UID STORE" 'UID STORE failed \(libetpan [0-9]+: .*refused by this test'
is "$(cmds storeno)" 'UID STORE 1 +FLAGS.SILENT (\Deleted)' \
    "storeno: after the refused STORE: no EXPUNGE"
is "$(box storeno '[(m["file"], m["flags"]) for m in D["INBOX"]]')" \
    '[["storeno1.eml", []]]' "storeno: the mail is still in INBOX, unflagged"

# (libetpan reports a connection closed before the answer as a parse error.)
fail drop "UID MOVE" 'UID MOVE failed \(libetpan [0-9]+: (connection lost|unparsable server response)'
like "$(cat "$T/drop/wire")" 'drop UID MOVE' "drop: the server dropped the connection at UID MOVE"
is "$(box drop '[m["file"] for m in D["INBOX"]] + [m["file"] for m in D["Codes"]]')" '["drop1.eml"]' \
    "drop: the mail is still in INBOX (the action is not retried)"

# A new mail after the failure: pushed, its own action tried once.
for s in copyno nofolder storeno drop; do
	imap_mail "$s" "${s}2" "$(printf '7%05d' "$(( $(printf '%s2' "$s" | cksum | cut -d' ' -f1) % 99999 ))")"
done
for s in copyno nofolder storeno drop; do
	ok "$s: a mail that arrives after the failure is pushed" wait_for 30 pushes_are "$s" 2
done

for s in move fallback plain copyno nofolder storeno drop; do
	p=$(cat "$T/$s/pid")
	ok "$s: the daemon is still running" alive "$p"
	stop "$p"
	is "$stop_rc" 0 "$s: SIGTERM: exits 0"
done
secrets_checked
done_testing
