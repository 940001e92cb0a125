#!/bin/sh
# imap-more.sh - more of the IMAP source against a private Dovecot
# (tests/imap-dovecot.sh) and the contract-enforcing endpoint:
#  1. two accounts at once, one on INBOX with after = delete and one on
#     another mailbox with after = move:Processed;
#  2. a silent network drop (tests/imap-proxy.py stops forwarding without
#     closing) is detected within poll_interval, and the account recovers
#     once the network works again;
#  3. Dovecot stopped and restarted mid-IDLE: one disconnect line, a
#     reconnect, the mail saved meanwhile pushed once, nothing lost;
#  4. the mailbox deleted and recreated (new UIDVALIDITY) under a running
#     daemon: resync logged, the old mail not pushed again, a mail APPENDed
#     by another IMAP client pushed; after = none leaves mail unread;
#  5. a server without IDLE (imap_capability without it): polling works.
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/imaplib.sh"

PROXY=$top_srcdir/tests/imap-proxy.py

imap_start
count() { # MAILBOX ID -> how many messages with that Message-ID (expunged excluded)
	doveadm -c "$DC" search -u bot mailbox "$1" NOT DELETED \
	    header message-id "$2@acme.example" 2>/dev/null | wc -l | tr -d ' '
}
count_is() { [ "$(count "$1" "$2")" = "$3" ]; }
# one_account N ACCOUNT-ARGS...: the config $T/N.conf (store $T/dbN) with
# one account (account's arguments), and a daemon on it, stderr in
# $T/daemonN.err ($dpid).
one_account() {
	_oa=$1
	shift
	{ common "db$_oa"; account "$@"; } >"$T/$_oa.conf"
	start_daemon "$T/$_oa.conf" "$T/daemon$_oa.err"
}
# decided N NAME: the messages account NAME of daemon N decided on (its
# decision lines, one per message read), comma-separated, in order.
decided() {
	grep -o "msg=[^ ]* src=imap:$2 " "$T/daemon$1.err" | cut -d' ' -f1 | paste -sd, -
}
# idling N NAME: account NAME of daemon N logged that it is in IDLE.
idling() { logged "$T/daemon$1.err" "imap=$2 result=connected .*idle=yes"; }

for m in Other Processed Drop NoIdle; do
	doveadm -c "$DC" mailbox create -u bot "$m"
done

# ---- 1. two accounts at once ---------------------------------------------
# Each its own identifier: two codes for one identifier fetched at the
# same moment are one group commit, where the newer supersedes the other
# (SPEC 5) -- right, but not what this section is about.
{
	common db1
	account a "$IMAPS" INBOX delete
	account b "$IMAPS" Other move:Processed "identifier = Other@OTP.example.com"
} >"$T/1.conf"
save INBOX two-a 100001
save Other two-b 100002
start_daemon "$T/1.conf" "$T/daemon1.err"
ok "two accounts: the INBOX mail is pushed" wait_for 30 ncode_is 100001 1
ok "two accounts: the Other mail is pushed" wait_for 30 ncode_is 100002 1
ok "after = delete: the mail is gone from INBOX" wait_for 15 count_is INBOX two-a 0
ok "after = move:Processed: the mail is in Processed" wait_for 15 count_is Processed two-b 1
is "$(count Other two-b)" 0 "and no longer in Other"
is "$(count Processed two-a)" 0 "the deleted one was not moved"
like "$(cat "$T/daemon1.err")" 'imap=a result=connected' "account a logs its connection"
like "$(cat "$T/daemon1.err")" 'imap=b result=connected' "account b logs its connection"
# Nothing read twice: one more mail in each mailbox, read after the first
# ones (UID order), is the barrier; each account's decision lines must
# name its two mails once each (a re-read would be a duplicate line, and
# never a push, so the pushes alone could not show it).
save INBOX two-a2 100003
save Other two-b2 100004
later_two() { ncode_is 100003 1 && ncode_is 100004 1; }
ok "two accounts: a later mail in each is pushed" wait_for 30 later_two
is "$(decided 1 a)" msg=two-a@acme.example,msg=two-a2@acme.example \
    "account a read each of its mails once"
is "$(decided 1 b)" msg=two-b@acme.example,msg=two-b2@acme.example \
    "account b read each of its mails once"
is "$(ncode 100001),$(ncode 100002)" "1,1" "each pushed exactly once"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# ---- 2. a silent network drop ----------------------------------------------
spawn "$PY" "$PROXY" "$IMAPS" "$T/proxy.port" "$T/stall" "$T/proxy.log"
ppid_=$last_pid
wait_for 15 test -s "$T/proxy.port" || bail "proxy did not start"
PPORT=$(cat "$T/proxy.port")
save Drop drop1 200001
# The worst case is poll_interval: IDLE lasts poll_interval minus the
# watchdog's reply wait (a quarter of poll_interval, at least 2 s).
one_account 2 c "$PPORT" Drop seen "poll_interval = 10" "timeout = 5"
ok "through the proxy: the first mail is pushed" wait_for 30 ncode_is 200001 1
ok "the daemon connected through the proxy" logged "$T/proxy.log" '^conn 1$'
ok "and is idling there" idling 2 c
sleep 1
t0=$(date +%s.%N)
touch "$T/stall"
ok "the proxy stalled the connection" wait_for 5 logged "$T/proxy.log" '^stalled'
ok "a silent drop is logged as a disconnect" \
    wait_for 30 logged "$T/daemon2.err" 'imap=c result=disconnected'
t1=$(date +%s.%N)
rm -f "$T/stall"
el=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
echo "# stall -> logged disconnect: $el s (poll_interval 10, timeout 5)"
grep 'imap=c result=disconnected' "$T/daemon2.err" | sed 's/^/#   /'
# The 1 s on top is this test's own measuring (log polled every 0.2 s,
# the proxy's stall noticed within 0.1 s), not the daemon's.
ok "measured: stall to logged disconnect <= poll_interval (10 s, + 1 s measuring)" \
    awk -v e="$el" 'BEGIN { exit !(e <= 11) }'
unlike "$(grep 'imap=c result=disconnected' "$T/daemon2.err")" 'Store completed' \
    "the error does not quote the previous command's reply as its own"
ok "the daemon is still running" alive "$dpid"
ok "once the network works again it reconnects" \
    wait_for 40 logged "$T/daemon2.err" 'imap=c result=reconnected'
save Drop drop2 200002
ok "and a newly saved mail is pushed" wait_for 30 ncode_is 200002 1
is "$(ncode 200001)" 1 "the first one is not pushed again"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"
stop "$ppid_"

# ---- 3. Dovecot stopped and restarted mid-IDLE -----------------------------
doveadm -c "$DC" mailbox create -u bot Restart
# -v: the daemon logs each failed reconnect (debug), the sign of retries.
{ common db4; account e "$IMAPS" Restart seen; } >"$T/4.conf"
start_daemon "$T/4.conf" "$T/daemon4.err" -v
ok "restart: the account is idling" wait_for 30 idling 4 e
save Restart rs1 400001
ok "restart: a mail saved while idling is pushed" wait_for 30 ncode_is 400001 1
dove_stop
ok "Dovecot stopped: the account logs one disconnect" \
    wait_for 30 logged "$T/daemon4.err" 'imap=e result=disconnected'
# Delivered while the IMAP server is down, as an MDA would: straight into
# the maildir (doveadm needs the running auth service).
md=$T/dove/mail/bot/.Restart
imap_mail rs2 400002 >"$md/tmp/rs2.$$.test"
chown nobody:nogroup "$md/tmp/rs2.$$.test"
mv "$md/tmp/rs2.$$.test" "$md/new/rs2.$$.test"
# Nothing can be pushed while the server is down (that cannot fail);
# what can is the daemon giving up or claiming a recovery it has not had.
retries2() { [ "$(grep -c 'imap=e result=retry-failed' "$T/daemon4.err")" -ge 2 ]; }
ok "while the server is down the account keeps retrying (two failed reconnects logged)" \
    wait_for 30 retries2
unlike "$(sed -n '/imap=e result=disconnected/,$p' "$T/daemon4.err")" 'imap=e result=(re)?connected' \
    "and claims no reconnect meanwhile"
dovecot -c "$DC" </dev/null >/dev/null 2>&1
ok "Dovecot started again" wait_for 15 imaps_up
ok "the account reconnects (one line for the recovery)" \
    wait_for 40 logged "$T/daemon4.err" 'imap=e result=reconnected'
ok "the mail saved during the outage is pushed" wait_for 30 ncode_is 400002 1
save Restart rs3 400003
ok "and so is the next one, through IDLE again" wait_for 30 ncode_is 400003 1
is "$(grep -c 'imap=e result=disconnected' "$T/daemon4.err")" 1 \
    "the outage is logged once, not once per failed retry"
is "$(ncode 400001),$(ncode 400002),$(ncode 400003)" "1,1,1" "each pushed exactly once"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# ---- 4. the mailbox recreated (a new UIDVALIDITY), after = none ----------
doveadm -c "$DC" mailbox create -u bot Recreate
one_account 5 g "$IMAPS" Recreate none
ok "recreate: the account is idling" wait_for 30 idling 5 g
save Recreate rc1 500001
ok "recreate: the first mail is pushed" wait_for 30 ncode_is 500001 1
# The account applies `after` to a mail before it reads the next: the
# next one decided is the barrier for "rc1 left as it was".
save Recreate rc0 500003
ok "recreate: a second mail is read" wait_for 30 logged "$T/daemon5.err" 'msg=rc0@acme\.example src=imap:g '
like "$(doveadm -c "$DC" fetch -u bot flags mailbox Recreate header message-id rc1@acme.example)" \
    '^flags: *$' "after = none: the mail is left unread"
uv1=$(doveadm -c "$DC" mailbox status -u bot uidvalidity Recreate | sed "s/.*=//")
doveadm -c "$DC" mailbox delete -u bot Recreate
doveadm -c "$DC" mailbox create -u bot Recreate
uv2=$(doveadm -c "$DC" mailbox status -u bot uidvalidity Recreate | sed "s/.*=//")
ok "the recreated mailbox has a new UIDVALIDITY ($uv1 -> $uv2)" test "$uv1" != "$uv2"
save Recreate rc1 500001        # the same mail again, e.g. restored from a backup
# A new one by IMAP APPEND from another client, not through doveadm.
$PY - "$IMAPS" "$T/dove/ca.pem" <<'EOP'
import imaplib, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
m = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
m.login("bot", "secret")
msg = ("From: Acme <codes@acme.example>\r\nTo: bot@otp.example.com\r\n"
       "Subject: Your Acme code\r\nMessage-ID: <rc2@acme.example>\r\n"
       "Date: %s\r\n\r\nYour verification code is 500002.\r\n"
       % time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()))
typ, _ = m.append("Recreate", None, imaplib.Time2Internaldate(time.time()), msg.encode())
assert typ == "OK", typ
m.logout()
EOP
ok "recreate: the daemon logs the resync with both UIDVALIDITYs" \
    wait_for 40 logged "$T/daemon5.err" "imap=g mailbox=\"Recreate\" result=resync uidvalidity=$uv2 old=$uv1"
ok "the APPENDed mail in the new mailbox is pushed" wait_for 30 ncode_is 500002 1
# rc1 again has the lower UID: decided before rc2 (no sleep needed).  It
# is read (a new UIDVALIDITY) and must be a duplicate, never a new job.
like "$(grep -E 'msg=rc1@acme\.example src=imap:g ' "$T/daemon5.err" | tail -1)" 'result=duplicate' \
    "the mail seen before the resync is read again as a duplicate"
is "$(ncode 500001)" 1 "and not pushed again"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# ---- 5. a server without IDLE ----------------------------------------------
cp "$DC" "$T/dove/noidle.conf"
echo 'imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE' \
    >>"$T/dove/noidle.conf"
dove_stop
dovecot -c "$T/dove/noidle.conf" </dev/null >/dev/null 2>&1
DC=$T/dove/noidle.conf
ok "dovecot restarted without IDLE" wait_for 15 imaps_up
one_account 3 d "$IMAPS" NoIdle seen "idle = true"
ok "without IDLE the account connects and says idle=no" \
    wait_for 30 logged "$T/daemon3.err" 'imap=d result=connected .*idle=no'
sleep 1
save NoIdle noidle1 300001
ok "a saved mail is still pushed by polling (within 15 s)" wait_for 15 ncode_is 300001 1
ok "and marked \\Seen" wait_for 10 sh -c \
    "doveadm -c '$DC' fetch -u bot flags mailbox NoIdle header message-id noidle1@acme.example | grep -q Seen"
unlike "$(cat "$T/daemon3.err")" 'imap=d result=disconnected' "no disconnect while polling"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"
is "$(pyq "$T/ep.log" "sorted(b['content'] for b in B)")" '["100001", "100002", "100003", "100004", "200001", "200002", "300001", "400001", "400002", "400003", "500001", "500002", "500003"]' \
    "every code exactly once over the whole run"
done_testing
