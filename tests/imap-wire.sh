#!/bin/sh
# imap-wire.sh - what the IMAP source says on the wire for new mail
# (SPEC 6: one round trip from EXISTS to the body).  A tapping
# proxy (tests/imap-proxy.py, WIRE_FILE: command names only, never an
# argument) sits between the daemon and the private Dovecot's plain IMAP
# port.  After "* N EXISTS" the daemon must send DONE and one
# UID FETCH <last+1>:* in the same write, no SEARCH and no second FETCH,
# then IDLE again; a round with no new mail (the watchdog's, every few
# seconds) gets the last message back for "*" and must not push it again.
# The watchdog's round is itself one write and one round trip: DONE and
# the UID FETCH (whose reply proves the server alive), never a NOOP in
# between; while polling (idle = no), a round is NOOP alone, and the UID
# FETCH follows only when NOOP's reply announced mail (a server looks for
# new mail between commands: a FETCH alone would see it a round late),
# so a mail saved meanwhile is fetched by the first round after it.
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/imaplib.sh"

PROXY=$top_srcdir/tests/imap-proxy.py
imap_start
IMAP=${ports#* }
spawn "$PY" "$PROXY" "$IMAP" "$T/proxy.port" "$T/stall" "$T/proxy.log" "" "$T/wire"
wait_for 15 test -s "$T/proxy.port" || bail "proxy did not start"
{
	common db
	account w "$(cat "$T/proxy.port")" INBOX none "idle = yes"
} | sed 's/^tls = implicit$/tls = none/' >"$T/c.conf"
save INBOX w0 600000
start_daemon "$T/c.conf" "$T/daemon.err"
ok "the first mail (first sync) is pushed" wait_for 30 ncode_is 600000 1
ok "the daemon is in IDLE" wait_for 15 logged "$T/wire" ' IDLE$'

# wire_after N: the events of $T/wire after its first N lines.
wire_after() { tail -n +"$(($1 + 1))" "$T/wire"; }
# cmds N: the client commands after the first "S EXISTS" past line N, up
# to and including the next IDLE, as "K NAME" joined by "|".
cmds() {
	wire_after "$1" | awk '/^S EXISTS/ { on = 1; next }
	    on && /^C / { k = $2; $1 = ""; $2 = ""; sub(/^  /, ""); printf "%s%s %s", sep, k, $0; sep = "|"
	        if ($0 == "IDLE") exit }'
}
# idle_again N: a whole round after line N is on the wire (back in IDLE).
idle_again() { cmds "$1" | grep -q 'IDLE$'; }

n=$(wc -l <"$T/wire")
save INBOX w1 600001
ok "a new mail is pushed" wait_for 30 ncode_is 600001 1
ok "and the daemon goes back to IDLE" wait_for 15 idle_again "$n"
got=$(cmds "$n")
echo "# after EXISTS: $got"
like "$got" '^([0-9]+) DONE\|\1 UID FETCH\|[0-9]+ IDLE$' \
    "after EXISTS: DONE and one UID FETCH in one write, then IDLE (no SEARCH, no second FETCH)"

# Two mails in one EXISTS, or close together: still one FETCH per round.
n=$(wc -l <"$T/wire")
save INBOX w2 600002
save INBOX w3 600003
both() { ncode_is 600002 1 && ncode_is 600003 1; }
ok "two more mails are pushed" wait_for 30 both
is "$(wire_after "$n" | grep -c -e ' SEARCH$' -e 'UID SEARCH')" 0 "no SEARCH for them either"

# Rounds with nothing new: the watchdog ends IDLE every poll_interval
# minus its reply wait (3 s here) and fetches <last+1>:*, which the
# server answers with the last message.  Two such rounds, then nothing
# may have been pushed again.
n=$(wc -l <"$T/wire")
two_rounds() { [ "$(wire_after "$n" | grep -c ' UID FETCH$')" -ge 2 ]; }
ok "two rounds with no new mail ran" wait_for 20 two_rounds
is "$(pyq "$T/ep.log" 'len(B)')" 4 "nothing was pushed again: 4 pushes for 4 mails"

# rounds N: the whole rounds after line N (from the first IDLE on), one a
# line, as their commands up to the next IDLE: "+" joins two commands of
# one client write, "/" separates two writes (a round trip between).
rounds() {
	wire_after "$1" | awk '/^C / { k = $2; $1 = ""; $2 = ""; sub(/^  /, "")
	        if ($0 == "IDLE") { if (on) print r; on = 1; r = ""; sep = ""; next }
	        if (on) { r = r (sep == "" ? "" : (k == pk ? "+" : "/")) $0; sep = 1; pk = k } }'
}
# Three rounds: the watchdog's (poll_interval 5) is at least every other
# one of these (a wake-up every 3 s).
n=$(wc -l <"$T/wire")
three_rounds() { [ "$(rounds "$n" | wc -l)" -ge 3 ]; }
ok "three rounds with no new mail ran" wait_for 30 three_rounds
got=$(rounds "$n" | sort | uniq -c | sed 's/^ *//' | paste -sd, -)
echo "# rounds: $got"
is "$(rounds "$n" | grep -cvx 'DONE+UID FETCH')" 0 \
    "every round, the watchdog's too, is DONE + UID FETCH in one write: one round trip, no NOOP"
unlike "$(cat "$T/daemon.err")" 'result=(disconnected|reconnected)|failed' \
    "the session never failed"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# Polling: the same account with idle = no, its state known.
{
	common db
	account w "$(cat "$T/proxy.port")" INBOX none "idle = no"
} | sed 's/^tls = implicit$/tls = none/' >"$T/c2.conf"
start_daemon "$T/c2.conf" "$T/daemon2.err"
ok "polling: the daemon connected" \
    wait_for 30 logged "$T/daemon2.err" 'imap=w result=connected .*idle=no'
# writes N: the client writes after line N, one a line: their commands
# joined by "+".
writes() {
	wire_after "$1" | awk '/^C / { k = $2; $1 = ""; $2 = ""; sub(/^  /, "")
	        if (k != pk && pk != "") print w; w = (k == pk ? w "+" : "") $0; pk = k }
	    END { if (pk != "") print w }'
}
n=$(wc -l <"$T/wire")
three_noops() { [ "$(wire_after "$n" | grep -c '^C .* NOOP$')" -ge 3 ]; }
ok "polling: three rounds ran" wait_for 30 three_noops
got=$(writes "$n" | sort | uniq -c | sed 's/^ *//' | paste -sd, -)
echo "# polling, client writes: $got"
is "$(writes "$n" | grep -cvx 'NOOP')" 0 \
    "polling: a round with no new mail is one NOOP: one write, one round trip"
is "$(pyq "$T/ep.log" 'len(B)')" 4 "polling: nothing was pushed again"
n=$(wc -l <"$T/wire")
save INBOX w4 600004
ok "polling: a new mail is pushed" wait_for 30 ncode_is 600004 1
got=$(writes "$n" | paste -sd'|' -)
echo "# polling, from the save to the push: $got"
# A round under way during the save may have seen the mail already.
like "$got" '^(NOOP\|)?UID FETCH$' \
    "polling: the first round after the save fetched it (NOOP, then one UID FETCH)"
unlike "$(cat "$T/daemon2.err")" 'result=(disconnected|reconnected)|failed' \
    "polling: the session never failed"
stop "$dpid"
is "$stop_rc" 0 "polling: SIGTERM: exits 0"
secrets_checked
done_testing
