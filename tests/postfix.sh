#!/bin/sh
# postfix.sh - otpbridge's LMTP sink behind a real Postfix (SPEC 3 [lmtp],
# 5): a private Postfix instance under $T/pf delivers over LMTP to
# `otpbridge run`, on a unix socket (otp.example.com) and on TCP
# (otp2.example.com), and otpbridge pushes to tests/endpoint.py.
#
#   1. 100 messages, 2 recipients each (half of them both on the unix
#      socket in one LMTP transaction, half split over unix and TCP):
#      200 pushes, each identifier with its message's code, none twice,
#      and Postfix logs status=sent for every recipient.
#  1b. A store another process keeps locked past the daemon's busy
#      timeout: 451, deferred, then sent and pushed once it is released.
#   2. A store that cannot be written: Postfix logs status=deferred with
#      our 451 4.3.0, nothing is pushed; once the store is writable again
#      Postfix retries, logs status=sent, and the push arrives once.
#
# The Postfix instance: its own config directory, queue_directory,
# data_directory and maillog_file under $T, inet services disabled, no
# local delivery, transport_maps = texthash:$T/pf/transport; started with
# `postfix -c $T/pf start`, mail injected with `sendmail -C $T/pf`.
# No `postfix set-permissions`: `postfix start` creates the missing queue
# directories itself (post-install create-missing), while set-permissions
# would also re-chown/chmod the system's Postfix files (/usr/sbin/postdrop
# ...).  The services run unchrooted.  Nothing outside $T is changed.  Needs root (Postfix's master runs as
# root, and phase 2 mounts a tmpfs) and Postfix installed; skipped
# otherwise.
#
# Why "full" rather than "read-only" in phase 2: a running daemon keeps
# the SQLite file open for writing, so `mount -o remount,ro` of its
# filesystem fails with EBUSY (Linux refuses to make a mount read-only
# while a file on it is open for writing).  A full tmpfs fails SQLite's
# commit just the same (SQLITE_FULL): a fresh store's WAL has to grow for
# any new transaction, and every frame (4120 bytes) needs a new page.
. "${top_srcdir:-.}/tests/testlib.sh"
# (PF, MAILLOG, nlog, pf_master, master_runs, master_gone, pf_stop, the
# EXIT trap, pf_config and pf_start come from postfixlib.sh)
. "${top_srcdir:-.}/tests/postfixlib.sh"

dpid=""                          # the otpbridge daemon

[ "$(id -u)" = 0 ] || skip_all "needs root (Postfix's master, a tmpfs)"
command -v postfix >/dev/null 2>&1 || skip_all "postfix is not installed"
command -v postconf >/dev/null 2>&1 || skip_all "postconf is not installed"
command -v "$PY" >/dev/null 2>&1 || skip_all "no $PY"
id postfix >/dev/null 2>&1 || skip_all "no postfix user"
getent group postdrop >/dev/null 2>&1 || skip_all "no postdrop group"

# --- helpers ---------------------------------------------------------------
# (ep_start, free_port, mail, mount_tmpfs, wait_for, alive, stop, pyq and
# skip_all come from testlib.sh)

# The endpoint's log: requests, accepted ones, "identifier code" lines.
REQ=$T/requests.log
nreq() { pyq "$REQ" 'len(L)'; }
naccepted() { pyq "$REQ" 'sum(1 for r in L if r["status"] == 200)'; }
naccepted_ge() { [ "$(naccepted)" -ge "$1" ]; }
# settled CONF: every job of the store CONF names is delivered: nothing
# more can be pushed (the barrier for "exactly once", not a sleep).
settled() {
	timeout 60 "$OTPBRIDGE" -c "$1" queue list --json >"$T/q.json" 2>>"$T/queue.err" &&
	    [ "$(pyq "$T/q.json" 'sum(1 for j in L if j["state"] != "delivered")')" = 0 ]
}
pairs() { # sorted "identifier code" of the accepted pushes
	pyq "$REQ" '"\n".join(sorted("%s %s" % (json.loads(r["body"])["totp_identifier"], json.loads(r["body"])["content"]) for r in L if r["status"] == 200))'
}

phase1_done() { naccepted_ge 200 && nlog_ge 'status=sent' 200; }

# daemon_up CONF NAME: starts `otpbridge run`, stderr in $T/NAME.err, and
# waits until both listeners are up.
daemon_up() {
	spawn "$OTPBRIDGE" -c "$1" run 2>"$T/$2.err"
	dpid=$last_pid
	wait_for 15 test -S "$T/run/lmtp.sock" &&
	    wait_for 15 grep -q "listening: lmtp inet:127.0.0.1:$LPORT" "$T/$2.err"
}

# inject FILE RCPT...: the Postfix instance's sendmail.
inject() {
	_f=$1
	shift
	timeout -k 5 30 sendmail -C "$PF" -i -f sender@acme.example -- "$@" <"$_f"
}

start_time=$(date +%s)

# Postfix's daemons run as postfix and chdir into the queue under $T; the
# lmtp client connects to the socket under $T: $T must be traversable.
chmod 0755 "$T"

# --- the endpoint ------------------------------------------------------------
ep_start . 0 "" requests.log     # logs to $REQ
EPORT=$ep_port
ok "the endpoint listens" test -n "$EPORT"

# --- otpbridge ---------------------------------------------------------------
LPORT=$(free_port)
mkdir -p "$T/filters.d" "$T/db"
printf '%s\n' "$KEY" >"$T/api-key"
chmod 600 "$T/api-key"
cat >"$T/filters.d/10-acme.conf" <<'EOF'
# Acme sends its codes from one address
[acme]
from = ^sender@acme\.example$
code = (?<code>\d{6})
EOF
# write_conf FILE STORE: the daemon's config.
write_conf() {
	cat >"$1" <<EOF
[push]
url = http://127.0.0.1:$EPORT/v1/credentials/totp
api_key_file = $T/api-key
timeout = 5

[store]
path = $2

[filters]
dir = $T/filters.d

# what Postfix's lmtp client (user postfix) reaches: the socket through
# its group, the TCP port on loopback
[lmtp]
listen = unix:$T/run/lmtp.sock;inet:127.0.0.1:$LPORT
recipients = @otp2?\.example\.com$
max_recipients = 100
socket_mode = 0660
socket_group = postfix
EOF
}
write_conf "$T/otpbridge.conf" "$T/db/otpbridge.db"
run "$OTPBRIDGE" -c "$T/otpbridge.conf" check
is "$rc" 0 "otpbridge check accepts the config"
ok "otpbridge run listens on the unix socket and on 127.0.0.1:$LPORT" \
    daemon_up "$T/otpbridge.conf" daemon1
is "$(stat -c '%a %G' "$T/run/lmtp.sock" 2>/dev/null)" "660 postfix" \
    "the socket is mode 660, group postfix (socket_mode, socket_group)"

# --- the Postfix instance ----------------------------------------------------
# Every service out of the chroot (a chrooted lmtp client would look for
# the socket inside the queue directory), and no inet services: mail is
# injected with sendmail.
pf_config -- \
    "master_service_disable = inet" \
    "myhostname = otpbridge-test.localdomain" \
    "relay_domains =" \
    "lmtp_destination_recipient_limit = 50"
cat >"$PF/transport" <<EOF
otp.example.com    lmtp:unix:$T/run/lmtp.sock
otp2.example.com   lmtp:inet:127.0.0.1:$LPORT
EOF
pf_start
like "$(postconf -c "$PF" -h transport_maps queue_directory)" "texthash:$T/pf/transport" \
    "postconf -c sees the private instance's settings"

# --- phase 1: 200 pushes ------------------------------------------------------
# Message i (1..100) has code 100000 + 7919 i (unique, 6 digits) and two
# recipients: mI.a@otp.example.com and, for odd i, mI.b@otp2.example.com
# (TCP); for even i mI.b@otp.example.com (both in one LMTP transaction).
: >"$T/expected"
: >"$T/codes"
inject_fail=0
i=1
while [ "$i" -le 100 ]; do
	n=$(printf '%03d' "$i")
	code=$((100000 + 7919 * i))
	a=m$n.a@otp.example.com
	if [ $((i % 2)) = 1 ]; then b=m$n.b@otp2.example.com; else b=m$n.b@otp.example.com; fi
	mail . m.eml "pf-$n" "$a, $b" "$code" sender@acme.example
	inject "$T/m.eml" "$a" "$b" || inject_fail=$((inject_fail + 1))
	printf '%s %s\n%s %s\n' "$a" "$code" "$b" "$code" >>"$T/expected"
	echo "$code" >>"$T/codes"
	i=$((i + 1))
done
is "$inject_fail" 0 "sendmail -C \$T/pf took all 100 messages"
t0=$(date +%s)
ok "all 200 recipients are pushed and logged status=sent" wait_for 120 phase1_done
echo "# phase 1: $(($(date +%s) - t0)) s from the last injection"
is "$(naccepted)" 200 "the endpoint accepted exactly 200 pushes"
is "$(nreq)" 200 "and got no other request (no contract violation, no retry)"
sort "$T/expected" >"$T/expected.sorted"
pairs >"$T/got"
if cmp -s "$T/expected.sorted" "$T/got"; then
	_result 0 "every identifier got its message's code, and only that"
else
	_result 1 "every identifier got its message's code, and only that"
	diff "$T/expected.sorted" "$T/got" | head -20 | sed 's/^/# /'
fi
is "$(pyq "$REQ" 'len(L) - len(set(json.loads(r["body"])["totp_identifier"] for r in L))')" 0 \
    "no identifier was pushed twice"
is "$(pyq "$REQ" 'sorted(set(tuple(sorted(json.loads(r["body"]))) for r in L))')" \
    '[["content", "source", "totp_identifier"]]' "every body has exactly the fields it should"
is "$(nlog 'status=sent')" 200 "Postfix logged status=sent exactly 200 times"
is "$(nlog "status=sent \(250 2\.0\.0 <m[0-9]{3}\.[ab]@otp2?\.example\.com> Ok: queued as [0-9]+\)")" 200 \
    "each with our per-recipient 250 2.0.0 reply"
is "$(nlog "relay=[^ ]*\[$T/run/lmtp\.sock\].*status=sent")" 150 \
    "150 recipients went over the unix socket"
is "$(nlog "relay=127\.0\.0\.1\[127\.0\.0\.1\]:$LPORT,.*status=sent")" 50 \
    "50 recipients went over TCP"
is "$(nlog 'status=(deferred|bounced)')" 0 "nothing was deferred or bounced"

# --- phase 1b: a store another process keeps locked ----------------------------
# A writer that holds SQLite's write lock longer than the daemon's busy
# timeout (5 s): the commit fails, 451, and Postfix retries once it is
# released.
if "$PY" -c 'import sqlite3' 2>/dev/null; then
	store_lock write "$T/db/otpbridge.db" "$T/locked"
	lock_pid=$last_pid
	ok "another process holds the store's write lock" wait_for 15 test -f "$T/locked"
	mail . lock.eml pf-lock "lock.a@otp.example.com" 246813 sender@acme.example
	echo 246813 >>"$T/codes"
	inject "$T/lock.eml" lock.a@otp.example.com
	ok "Postfix logs status=deferred with our 451 4.3.0 (store locked)" \
	    wait_for 30 nlog_ge 'to=<lock\.a@otp\.example\.com>,.*status=deferred .*said: 451 4\.3\.0 <lock\.a@otp\.example\.com>' 1
	is "$(nreq)" 200 "nothing was pushed"
	stop "$lock_pid"
	run timeout -k 5 30 postqueue -c "$PF" -f
	ok "the lock released, Postfix logs status=sent" \
	    wait_for 30 nlog_ge 'to=<lock\.a@otp\.example\.com>,.*status=sent \(250 2\.0\.0 ' 1
	ok "and it is pushed" wait_for 15 naccepted_ge 201
	ok "and its job is delivered: nothing more to push" wait_for 15 settled "$T/otpbridge.conf"
	is "$(pyq "$REQ" '[json.loads(r["body"])["content"] for r in L if "lock.a@" in r["body"]]')" \
	    '["246813"]' "exactly once, with its code"
else
	# python3 (which contrib/setup-debian.sh installs) always has it:
	# not running phase 1b is a failure, not a quiet comment.
	echo "# python3 has no sqlite3 module: phase 1b not run"
	_result 1 "python3 can hold the store's write lock (its sqlite3 module)"
fi
NREQ1=$(nreq)                   # requests and status=sent lines so far
NSENT1=$(nlog 'status=sent')

leaked=$(grep -F -f "$T/codes" "$T/daemon1.err" | head -3)
is "$leaked" "" "the daemon's log shows no code"
stop "$dpid"
is "$stop_rc" 0 "otpbridge exits 0 on SIGTERM"
dpid=""

# --- phase 2: a store that cannot be written ------------------------------------
if mount_tmpfs "$T/store2" 512k 0700; then
	write_conf "$T/otpbridge2.conf" "$MNT/otpbridge.db"
	ok "otpbridge restarts with a fresh store on a 512k tmpfs" \
	    daemon_up "$T/otpbridge2.conf" daemon2
	dd if=/dev/zero of="$MNT/filler" bs=4096 2>/dev/null
	is "$(df -k --output=avail "$MNT" | tail -1 | tr -d ' ')" 0 "the store's filesystem is full"
	mail . full.eml pf-full "full.a@otp.example.com, full.b@otp2.example.com" 654321 \
	    sender@acme.example
	inject "$T/full.eml" full.a@otp.example.com full.b@otp2.example.com
	is "$?" 0 "sendmail takes a message for both sockets"
	ok "Postfix logs status=deferred with our 451 4.3.0 for the unix recipient" \
	    wait_for 30 nlog_ge 'to=<full\.a@otp\.example\.com>,.*status=deferred .*said: 451 4\.3\.0 <full\.a@otp\.example\.com> Temporary failure' 1
	ok "and for the TCP recipient" \
	    wait_for 30 nlog_ge "to=<full\.b@otp2\.example\.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$LPORT,.*status=deferred .*said: 451 4\.3\.0" 1
	grep -m1 'to=<full\.a@.*status=deferred' "$MAILLOG" | sed 's/^[^]]*]: /# /'
	like "$(cat "$T/daemon2.err")" 'result=tempfail' "the daemon logs the tempfail"
	ok "the daemon is still running" alive "$dpid"
	is "$(nreq)" "$NREQ1" "nothing was pushed"
	run timeout -k 5 30 postqueue -c "$PF" -p
	like "$out" 'full\.a@otp\.example\.com' "the message waits in Postfix's queue"
	rm -f "$MNT/filler"
	run timeout -k 5 30 postqueue -c "$PF" -f
	is "$rc" 0 "postqueue -c \$T/pf -f"
	ok "with space again Postfix logs status=sent for both" wait_for 30 sh -c '
	    grep -Eq "to=<full\.a@otp\.example\.com>,.*status=sent \(250 2\.0\.0 " "$1" &&
	    grep -Eq "to=<full\.b@otp2\.example\.com>,.*status=sent \(250 2\.0\.0 " "$1"' sh "$MAILLOG"
	ok "and both are pushed" wait_for 15 naccepted_ge $((NREQ1 + 2))
	ok "and their jobs are delivered: nothing more to push" wait_for 15 settled "$T/otpbridge2.conf"
	is "$(pyq "$REQ" '"\n".join(sorted("%s %s" % (json.loads(r["body"])["totp_identifier"], json.loads(r["body"])["content"]) for r in L if r["body"].find("full.") >= 0))')" \
	    "$(printf 'full.a@otp.example.com 654321\nfull.b@otp2.example.com 654321')" \
	    "each exactly once, with its code"
	is "$(nreq)" $((NREQ1 + 2)) "$((NREQ1 + 2)) requests in all"
	is "$(nlog 'status=sent')" $((NSENT1 + 2)) "Postfix logged status=sent $((NSENT1 + 2)) times in all"
	run timeout -k 5 30 postqueue -c "$PF" -p
	like "$out" 'Mail queue is empty' "Postfix's queue is empty"
	echo "654321" >>"$T/codes"
	leaked=$(grep -F -f "$T/codes" "$T/daemon2.err" | head -3)
	is "$leaked" "" "the daemon's log shows no code"
	stop "$dpid"
	is "$stop_rc" 0 "otpbridge exits 0 on SIGTERM"
	dpid=""
	umount "$MNT" && MNT=""
else
	echo "# $no_tmpfs: phase 2 not run"
	_result 1 "mount a tmpfs for the store"
fi

# --- the end --------------------------------------------------------------------
m=$(pf_master)
pf_stop
ok "postfix -c \$T/pf stop: the master is gone" master_gone "$m"
stop "$ep_pid"
echo "# runtime $(($(date +%s) - start_time)) s"
done_testing
