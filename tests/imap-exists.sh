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
# and nothing is fetched twice.  With --chatty the server puts EXISTS in
# every FETCH reply, new mail or not: one extra round, then IDLE, no loop.
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/fakeimap.sh"


ep_start . 0 "" ep.log
printf '%s\n' "$KEY" >"$T/key"
printf 'secret\n' >"$T/pass"
chmod 600 "$T/key" "$T/pass"
acme_filter "$T/f"

# mail FILE ID CODE: a mail from Acme to bot carrying CODE, Message-ID
# <ID@acme.example>, written atomically to FILE.
mail() {
	printf 'From: Acme <codes@acme.example>\nTo: bot@otp.example.com\nSubject: Your Acme code\nMessage-ID: <%s@acme.example>\nDate: %s\n\nYour verification code is %s.\n' \
	    "$2" "$(date -R)" "$3" >"$1.tmp"
	mv "$1.tmp" "$1"
}

# scenario S [server options]: S's server (IDLE, empty INBOX) and daemon,
# everything under $T/S; the daemon's pid in $T/S/pid.
scenario() {
	_s=$1
	shift
	fake_imap_start "$_s" "IMAP4rev1 AUTH=PLAIN UIDPLUS IDLE" "$@"
	fake_imap_daemon "$_s" bot@otp.example.com "idle = yes" "poll_interval = 120"
}

# pushed CODE N: the endpoint accepted CODE N times.
pushed() { [ "$(pyq "$T/ep.log" "sum(1 for b in B if b['content'] == '$1')")" = "$2" ]; }
# wire S: S's command log, the fetch items left out, "|"-joined.
wire() { sed 's/ (UID INTERNALDATE.*//' "$T/$1/wire" 2>/dev/null | paste -sd'|' -; }
# idling S: S's last command is IDLE.
idling() { wire "$1" | grep -q '|IDLE$'; }
SEEN='+FLAGS.SILENT (\Seen)'

# --- late: a mail arrives during the FETCH of another -----------------------
mail "$T/late.eml" late 624408
scenario late --late "$T/late.eml"
ok "late: the daemon syncs the empty mailbox and goes into IDLE" wait_for 30 idling late
like "$(cat "$T/late/daemon.err")" 'imap=late result=connected .*idle=yes' "late: IDLE mode"
mail "$T/late/mail/first.eml" first 513377
ok "late: the first mail, announced in IDLE, is pushed" wait_for 30 pushed 513377 1
ok "late: the late mail, announced in the FETCH's reply, is pushed within 10 s" \
    wait_for 10 pushed 624408 1
ok "late: and the daemon goes back into IDLE" wait_for 10 idling late
is "$(wire late | sed 's/^.*|UID SEARCH[^|]*|//')" \
    "IDLE|DONE|UID FETCH 1:*|UID STORE 1 $SEEN|UID FETCH 2:*|UID STORE 2 $SEEN|IDLE" \
    "late: after the FETCH that announced mail comes a UID FETCH from UID 2, not IDLE"
is "$(wire late | tr '|' '\n' | grep -c '^UID FETCH')" 2 "late: nothing is fetched twice"
is "$(grep -c '^conn$' "$T/late/wire")" 1 "late: one connection"
pushed 513377 1 && pushed 624408 1
ok "late: each code pushed once" test $? = 0
unlike "$(cat "$T/late/daemon.err")" 'result=duplicate' "late: no message handed over twice"

# --- chatty: EXISTS in every FETCH reply, no new mail -----------------------
# The round after the first mail's gets nothing but EXISTS again: IDLE
# then, not another round (the signal that the daemon does not spin).
scenario chatty --chatty
ok "chatty: the daemon goes into IDLE" wait_for 30 idling chatty
mail "$T/chatty/mail/c1.eml" c1 735591
ok "chatty: the mail is pushed" wait_for 30 pushed 735591 1
ok "chatty: the daemon goes back into IDLE" wait_for 10 idling chatty
is "$(wire chatty | sed 's/^.*|UID SEARCH[^|]*|//')" \
    "IDLE|DONE|UID FETCH 1:*|UID STORE 1 $SEEN|UID FETCH 2:*|IDLE" \
    "chatty: one more round (EXISTS in the first FETCH's reply), then IDLE: no loop"

for s in late chatty; do
	p=$(cat "$T/$s/pid")
	ok "$s: the daemon is still running" alive "$p"
	stop "$p"
	is "$stop_rc" 0 "$s: SIGTERM: exits 0"
done
secrets_checked
done_testing
