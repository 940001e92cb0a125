#!/bin/sh
# imap-watchdog.sh - the IMAP watchdog's guarantees now that its round is
# one write (DONE + UID FETCH <last+1>:*, no NOOP), against a private
# Dovecot's plain IMAP port behind tests/imap-proxy.py:
#  1. a server that answers DONE but never the FETCH sent with it (the
#     proxy forwards the client's bytes up to the FETCH line only) is
#     caught by the watchdog's short wait for the FETCH's first reply
#     line, not the general timeout, and the account recovers;
#  2. polling (idle = no): a silent network drop (the proxy stops
#     forwarding without closing) is detected within poll_interval.
# (The silent drop in IDLE is tests/imap-more.sh's section 2.)
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/imaplib.sh"

PROXY=$top_srcdir/tests/imap-proxy.py
imap_start
IMAP=${ports#* }
spawn "$PY" "$PROXY" "$IMAP" "$T/proxy.port" "$T/stall" "$T/proxy.log"
wait_for 15 test -s "$T/proxy.port" || bail "proxy did not start"
PPORT=$(cat "$T/proxy.port")
for m in Half Poll; do
	doveadm -c "$DC" mailbox create -u bot "$m"
done
# conf N NAME MAILBOX [LINE...]: $T/N.conf, store $T/dbN, account NAME
# on MAILBOX through the proxy, plain IMAP, poll_interval 10 and timeout
# 10 (so the watchdog waits 2 s for a reply, the general timeout 10 s).
conf() {
	_cn=$1 _ca=$2 _cm=$3
	shift 3
	{
		common "db$_cn"
		account "$_ca" "$PPORT" "$_cm" seen "poll_interval = 10" "timeout = 10" "$@"
	} | sed 's/^tls = implicit$/tls = none/' >"$T/$_cn.conf"
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ---- 1. DONE answered, the FETCH never -------------------------------------
conf 1 h Half
save Half half1 810001
start_daemon "$T/1.conf" "$T/daemon1.err"
ok "the first mail is pushed" wait_for 30 ncode_is 810001 1
ok "the account is idling" wait_for 15 logged "$T/daemon1.err" 'imap=h result=connected .*idle=yes'
t0=$(date +%s.%N)
touch "$T/stall.fetch"
# The next round (within poll_interval) sends DONE + UID FETCH; the
# proxy forwards the DONE only.
ok "the next round's FETCH is cut off, its DONE forwarded" \
    wait_for 15 logged "$T/proxy.log" '^half-stalled '
ok "the unanswered FETCH is logged as a disconnect" \
    wait_for 20 logged "$T/daemon1.err" 'imap=h result=disconnected'
t1=$(date +%s.%N)
rm -f "$T/stall.fetch"
th=$(sed -n 's/^half-stalled [0-9]* //p' "$T/proxy.log" | head -1)
grep 'imap=h result=disconnected' "$T/daemon1.err" | sed 's/^/#   /'
el=$(elapsed "$th" "$t1")
echo "# FETCH cut -> logged disconnect: $el s (watchdog wait 2 s, timeout 10 s)"
# 1 s on top for this test's own measuring (the log polled every 0.2 s).
ok "measured: caught within the watchdog's wait (2 s + 1 s measuring), not the timeout (10 s)" \
    awk -v e="$el" 'BEGIN { exit !(e <= 3) }'
el=$(elapsed "$t0" "$t1")
ok "measured: cut to logged disconnect <= poll_interval (10 s, + 1 s measuring): $el s" \
    awk -v e="$el" 'BEGIN { exit !(e <= 11) }'
like "$(grep 'imap=h result=disconnected' "$T/daemon1.err")" 'UID FETCH' \
    "the error names the FETCH (DONE was answered)"
ok "the account reconnects" wait_for 40 logged "$T/daemon1.err" 'imap=h result=reconnected'
save Half half2 810002
ok "and a newly saved mail is pushed" wait_for 30 ncode_is 810002 1
is "$(ncode 810001)" 1 "the first one is not pushed again"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# ---- 2. polling: a silent drop ---------------------------------------------
conf 2 p Poll "idle = no"
save Poll poll1 820001
start_daemon "$T/2.conf" "$T/daemon2.err"
ok "polling: the first mail is pushed" wait_for 30 ncode_is 820001 1
ok "polling: the account says idle=no" logged "$T/daemon2.err" 'imap=p result=connected .*idle=no'
t0=$(date +%s.%N)
touch "$T/stall"
ok "the proxy stalled the connection" wait_for 5 logged "$T/proxy.log" '^stalled'
ok "polling: a silent drop is logged as a disconnect" \
    wait_for 30 logged "$T/daemon2.err" 'imap=p result=disconnected'
t1=$(date +%s.%N)
rm -f "$T/stall"
el=$(elapsed "$t0" "$t1")
echo "# polling: stall -> logged disconnect: $el s (poll_interval 10, timeout 10)"
grep 'imap=p result=disconnected' "$T/daemon2.err" | sed 's/^/#   /'
ok "measured: stall to logged disconnect <= poll_interval (10 s, + 1 s measuring)" \
    awk -v e="$el" 'BEGIN { exit !(e <= 11) }'
ok "polling: the account reconnects" wait_for 40 logged "$T/daemon2.err" 'imap=p result=reconnected'
save Poll poll2 820002
ok "polling: a newly saved mail is pushed" wait_for 30 ncode_is 820002 1
is "$(ncode 820001)" 1 "polling: the first one is not pushed again"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"
secrets_checked
done_testing
