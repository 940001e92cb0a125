#!/bin/sh
# imap-commit.sh - an IMAP message whose commit fails, against a private
# Dovecot: another process holds the store's write lock past the intake's
# patience, so the job and the account's UID (one transaction) are not
# committed.  Then the UID is not advanced, the `after` action (\Seen) is
# not applied and nothing is pushed; once the lock is gone the message is
# fetched again, pushed once, marked \Seen, and its UID stored.
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/imaplib.sh"

imap_start
DB=$T/db/otpbridge.db
{ common db; account bot "$IMAPS" INBOX seen; } >"$T/otpbridge.conf"

seen() { # ID -> "yes" when the message is \Seen
	doveadm -c "$DC" fetch -u bot flags mailbox INBOX \
	    header message-id "$1@acme.example" 2>/dev/null | grep -q 'Seen' && echo yes || echo no
}
seen_is() { [ "$(seen "$1")" = "$2" ]; }
uid_of() { # ID -> its UID in INBOX
	doveadm -c "$DC" fetch -u bot uid mailbox INBOX \
	    header message-id "$1@acme.example" 2>/dev/null | sed -n 's/^uid: //p'
}
stored_uid() { sqlite3 "$DB" "SELECT last_uid FROM imap_state WHERE account = 'bot'"; }
stored_is() { [ "$(stored_uid)" = "$1" ]; }

save INBOX w1 111222
start_daemon "$T/otpbridge.conf" "$T/daemon.err"
ok "a first mail is pushed" wait_for 30 ncode_is 111222 1
ok "and marked \\Seen" wait_for 15 seen_is w1 yes
W1=$(uid_of w1)
ok "and its UID stored" wait_for 10 stored_is "$W1"

# Another process takes the write lock and keeps it until told.
store_lock exclusive "$DB" "$T/locked" "$T/unlock"
lk_pid=$last_pid
wait_for 15 test -e "$T/locked" || bail "the lock holder did not start"
save INBOX c1 505606
C1=$(uid_of c1)
ok "the commit of the new mail fails (the lock outlasts the patience)" \
    wait_for 30 logged "$T/daemon.err" "src=imap:bot uid=$C1 result=tempfail"
like "$(cat "$T/daemon.err")" "msg=c1@acme\\.example src=imap:bot .*result=tempfail reason=code" \
    "its decision is logged tempfail"
is "$(stored_uid)" "$W1" "the UID is not advanced"
is "$(seen c1)" no "no after action: not \\Seen"
is "$(ncode 505606)" 0 "nothing pushed"

touch "$T/unlock"
stop "$lk_pid" 0
ok "once the store is writable it is fetched again and pushed" wait_for 30 ncode_is 505606 1
ok "then marked \\Seen" wait_for 15 seen_is c1 yes
ok "and its UID stored" wait_for 10 stored_is "$C1"
is "$(ncode 505606)" 1 "pushed once"
is "$(sqlite3 "$DB" "SELECT count(*) FROM jobs WHERE dedup_key LIKE '%c1@acme.example%'")" 1 \
    "one job"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"
done_testing
