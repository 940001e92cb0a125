#!/bin/sh
# deliver-fast.sh - otpbridge-deliver (SPEC 2 deliver; otpbridge(8)), the
# libc-only client that hands a message to the running daemon over its
# unix LMTP socket, else runs the full `otpbridge deliver`.
#
# Against a real daemon ($T/d: unix socket, [lmtp] recipients and a 4096
# byte max_size, pushing to tests/endpoint.py) and a scripted one
# (tests/lmtp-fake.py: answers 451, hangs up, holds its reply, and keeps
# the bytes the client sent).  What it checks: the client maps no GMime,
# GLib, curl or SQLite; with the daemon, the message goes over the socket
# and is pushed once; with no daemon, a stale socket, no --rcpt, an
# address outside [lmtp] recipients, a 451 or a hang-up, the full path
# runs and commits; a store nobody can write gives 75; what goes on the
# wire has CRLF line ends and dot-stuffing, so a "." line in the body
# neither ends the data nor smuggles a command, and the daemon decides it
# as `otpbridge test` decides the input; an oversized mail; and every exit
# code equals `otpbridge deliver`'s on the same input.
. "${top_srcdir:-.}/tests/testlib.sh"

: "${OTPBRIDGE_DELIVER:=${top_builddir:-.}/otpbridge-deliver}"
DC=$OTPBRIDGE_DELIVER
FAKE=$top_srcdir/tests/lmtp-fake.py
unset OTPBRIDGE_LMTP_SOCKET

# --- helpers -----------------------------------------------------------------
# dc MAIL ARGS...: the client with MAIL on stdin and the config of d, via
# run ($rc, $out, $err); stderr also kept for the secret checks.
dc() {
	_m=$1
	shift
	run timeout -k 5 60 "$DC" -c "$T/d/otpbridge.conf" "$@" <"$_m"
	printf '%s\n' "$err" >>"$T/all-stderr.log"
}
# full MAIL ARGS...: today's `otpbridge deliver`, the same way.
full() {
	_m=$1
	shift
	run timeout -k 5 60 "$OTPBRIDGE" -c "$T/d/otpbridge.conf" deliver "$@" <"$_m"
	printf '%s\n' "$err" >>"$T/all-stderr.log"
}
# Pushes the endpoint of d accepted for IDENTIFIER; npush_is ID N.
npush() { pyq "$T/d/requests.log" "sum(1 for b in B if b['totp_identifier'] == '$1')"; }
npush_is() { [ "$(npush "$1")" = "$2" ]; }
# content ID: the content of the pushes for ID, as a JSON list.
content() { pyq "$T/d/requests.log" "[b['content'] for b in B if b['totp_identifier'] == '$1']"; }
# dlog PATTERN: the daemon of d logged a line matching PATTERN.
dlog() { grep -Eq -- "$1" "$T/d/daemon.err"; }
started() { grep -q 'started:' "$T/d/daemon.err"; }
# fake S ARGS...: lmtp-fake.py on $T/S/lmtp.sock, data in $T/S; waits
# until it accepts; sets fpid.
fake() {
	_s=$1
	shift
	mkdir -p "$T/$_s"
	spawn "$PY" "$FAKE" --sock "$T/$_s/lmtp.sock" --data-dir "$T/$_s" "$@"
	fpid=$last_pid
	wait_for 15 test -S "$T/$_s/lmtp.sock" || echo "# the fake daemon $_s did not start"
}
# mailn FILE ID TO CODE: mail in $T/d (testlib's mail).
mailn() { mail d "$1" "$2" "$3" "$4"; }

ep_start d 0
conf d "$ep_port" "[lmtp]" "listen = unix:$T/d/lmtp.sock" \
    'recipients = @otp\.example\.com$' "max_size = 4096"
daemon d
ok "the daemon starts on a unix socket" wait_for 15 started
SOCK=$T/d/lmtp.sock

# --- what the client maps ------------------------------------------------------
run ldd "$DC"
is "$rc" 0 "ldd reads the client"
unlike "$out" 'gmime|glib|gio|curl|sqlite|gnutls|etpan|microhttpd|pcre|gumbo|json' \
    "the client links none of the daemon's libraries"

# --- with the daemon: over the socket ----------------------------------------
mailn a.eml a1 bot+a@otp.example.com 604215
dc "$T/d/a.eml" -s "$SOCK" --rcpt bot+a@otp.example.com
is "$rc" 0 "daemon: exit 0"
is "$err" "" "daemon: the client says nothing (the full path would log src=deliver)"
ok "daemon: the daemon took it over LMTP and queued it" \
    wait_for 10 dlog 'src=lmtp .*rcpt=bot\+a@otp\.example\.com .*result=queued'
ok "daemon: pushed" wait_for 15 npush_is bot+a@otp.example.com 1
is "$(content bot+a@otp.example.com)" '["604215"]' "daemon: once, with the code (bare-LF input)"

mailn e.eml e1 bot+e@otp.example.com 604216
run sh -c 'OTPBRIDGE_LMTP_SOCKET=$1 timeout 60 "$2" -c "$3" --rcpt bot+e@otp.example.com <"$4"' \
    sh "$SOCK" "$DC" "$T/d/otpbridge.conf" "$T/d/e.eml"
is "$rc/$err" "0/" "OTPBRIDGE_LMTP_SOCKET names the socket: exit 0, nothing said"
ok "OTPBRIDGE_LMTP_SOCKET: the daemon queued it" \
    wait_for 10 dlog 'src=lmtp .*rcpt=bot\+e@otp\.example\.com .*result=queued'

# The process that talks to the daemon: its maps, while the (fake)
# daemon holds its reply to the final dot.
fake h --hold "$T/h/go"
h_pid=$fpid
mailn h.eml h1 bot+h@otp.example.com 604217
spawn sh -c 'exec "$1" -s "$2" --rcpt bot+h@otp.example.com <"$3" 2>"$4"' sh \
    "$DC" "$T/h/lmtp.sock" "$T/d/h.eml" "$T/h/client.err"
c_pid=$last_pid
if wait_for 15 test -e "$T/h/go.held"; then
	maps=$(cat "/proc/$c_pid/maps" 2>&1)
	like "$maps" 'libc[.-]' "maps: the client maps libc"
	unlike "$maps" 'gmime|glib|curl|sqlite|gnutls|etpan|microhttpd' \
	    "maps: and none of GMime, GLib, curl, SQLite, GnuTLS, libetpan, MHD"
else
	_result 1 "maps: the client reached the end of DATA"
	_result 1 "maps: (not read)"
fi
touch "$T/h/go"
stop "$c_pid" 0
is "$stop_rc" 0 "maps: the client exits 0 on the 250"
stop "$h_pid"

# --- no daemon: the full path --------------------------------------------------
mailn n.eml n1 bot+n@otp.example.com 604218
dc "$T/d/n.eml" -s "$T/nowhere/lmtp.sock" --rcpt bot+n@otp.example.com
is "$rc" 0 "no socket: exit 0"
like "$err" 'src=deliver .*rcpt=bot\+n@otp\.example\.com .*result=queued' \
    "no socket: otpbridge deliver ran and queued it"
ok "no socket: pushed once" wait_for 15 npush_is bot+n@otp.example.com 1

mkdir -p "$T/stale"
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/stale/lmtp.sock"
mailn s.eml s1 bot+s@otp.example.com 604219
dc "$T/d/s.eml" -s "$T/stale/lmtp.sock" --rcpt bot+s@otp.example.com
is "$rc" 0 "a stale socket (nobody listens): exit 0"
like "$err" 'src=deliver .*result=queued' "a stale socket: the full path queued it"
ok "a stale socket: pushed once" wait_for 15 npush_is bot+s@otp.example.com 1

# A socket in a directory others can write (/tmp-like): anyone could have
# bound it, so it is not used.
mkdir -p "$T/ww"
chmod 1777 "$T/ww"
fake ww
mailn ww.eml ww1 bot+ww@otp.example.com 604230
dc "$T/d/ww.eml" -s "$T/ww/lmtp.sock" --rcpt bot+ww@otp.example.com
is "$rc" 0 "a socket in a world-writable directory: exit 0"
like "$err" 'src=deliver .*result=queued' "... through the full path"
ok "... which never handed the message to that socket" test ! -e "$T/ww/1.wire"
stop "$fpid"

# No --rcpt: the first To address, which only the full path reads.
mailn t.eml t1 bot+t@otp.example.com 604220
dc "$T/d/t.eml" -s "$SOCK"
is "$rc" 0 "no --rcpt: exit 0"
like "$err" 'src=deliver .*result=queued' \
    "no --rcpt: the full path queued it"
ok "no --rcpt: pushed once, for the To address" wait_for 15 npush_is bot+t@otp.example.com 1

# Outside [lmtp] recipients: the daemon says 550, today's deliver lets
# the filters decide (the Acme filter wants it).
mailn o.eml o1 someone@elsewhere.example 604221
dc "$T/d/o.eml" -s "$SOCK" --rcpt someone@elsewhere.example
is "$rc" 0 "550 at RCPT: exit 0"
like "$err" 'src=deliver .*result=queued' "550 at RCPT: the full path queued it, as today"
ok "550 at RCPT: pushed once" wait_for 15 npush_is someone@elsewhere.example 1

# --- a daemon that cannot commit ---------------------------------------------
fake f --final "451 4.3.0 Temporary failure: the store cannot be written"
mailn f.eml f1 bot+f@otp.example.com 604222
dc "$T/d/f.eml" -s "$T/f/lmtp.sock" --rcpt bot+f@otp.example.com
is "$rc" 0 "451 at the end of data: exit 0"
ok "451: the daemon had the message" test -s "$T/f/1.wire"
like "$err" 'src=deliver .*result=queued' "451: the full path committed it itself"
ok "451: pushed once" wait_for 15 npush_is bot+f@otp.example.com 1
stop "$fpid"

fake c --final close
mailn c.eml c1 bot+c@otp.example.com 604223
dc "$T/d/c.eml" -s "$T/c/lmtp.sock" --rcpt bot+c@otp.example.com
is "$rc" 0 "no reply after the data (hang-up): exit 0"
like "$err" 'src=deliver .*result=queued' "hang-up: the full path committed it"
ok "hang-up: pushed once" wait_for 15 npush_is bot+c@otp.example.com 1
stop "$fpid"

# The real daemon, its store locked by another process: 451 after its
# patience, then the full path cannot commit either: 75, and nothing was
# committed.  Once the lock is gone the retry goes through once.
store_lock exclusive "$T/d/db/otpbridge.db" "$T/d/locked" "$T/d/unlock"
lk_pid=$last_pid
wait_for 15 test -e "$T/d/locked"
mailn l.eml l1 bot+l@otp.example.com 604224
dc "$T/d/l.eml" -s "$SOCK" --rcpt bot+l@otp.example.com
is "$rc" 75 "store locked: exit 75 (EX_TEMPFAIL), the MTA retries"
ok "store locked: the daemon answered 451" \
    dlog 'result=tempfail .*recipients answered 451'
like "$err" 'src=deliver result=tempfail' "store locked: the full path could not commit either"
touch "$T/d/unlock"
stop "$lk_pid" 0
is "$(qj d "sum(1 for j in L if j['identifier'] == 'bot+l@otp.example.com')")" 0 \
    "store locked: no job was committed"
dc "$T/d/l.eml" -s "$SOCK" --rcpt bot+l@otp.example.com
is "$rc/$err" "0/" "store unlocked: the retry goes over the socket, exit 0"
ok "store unlocked: pushed once" wait_for 15 npush_is bot+l@otp.example.com 1

# --- the bytes on the wire --------------------------------------------------
# Bare LF, CRLF, a bare CR, "." and ".." lines, a last line with no line
# end: what the daemon must see.
fake w
printf 'Subject: w\n\nA\n.\n..\nB\r\n.x\rC\n.\r\nend' >"$T/w/in"
run timeout 60 "$DC" -s "$T/w/lmtp.sock" --rcpt bot+w@otp.example.com <"$T/w/in"
is "$rc" 0 "wire: exit 0 on the 250"
is "$("$PY" -c 'import sys; print(repr(open(sys.argv[1], "rb").read()))' "$T/w/1.wire")" \
    "b'Subject: w\\r\\n\\r\\nA\\r\\n..\\r\\n...\\r\\nB\\r\\n..x\\rC\\r\\n..\\r\\nend\\r\\n'" \
    "wire: CRLF line ends, dot-stuffed, a bare CR kept, the last line ended"
stop "$fpid"

# The same through the real daemon: a "." line and a smuggled command in
# the body; the data ends where the mail ends, and the code after them
# arrives.
cat >"$T/d/dot.eml" <<'EOM'
From: Sender <codes@acme.example>
To: bot+dot@otp.example.com
Subject: Your sign-in code
Date: Tue, 25 Nov 2025 10:00:00 +0000
Message-ID: <dot1@acme.example>

Hello,
.
..
.
MAIL FROM:<evil@attacker.example>
RCPT TO:<bot+evil@otp.example.com>
DATA

Your code is 731904.
EOM
CODES="$CODES 731904"
dc "$T/d/dot.eml" -s "$SOCK" --rcpt bot+dot@otp.example.com
is "$rc/$err" "0/" "dots: exit 0 over the socket"
ok "dots: the code after the dot lines is pushed" \
    wait_for 15 npush_is bot+dot@otp.example.com 1
is "$(content bot+dot@otp.example.com)" '["731904"]' "dots: with the code after them"
is "$(npush bot+evil@otp.example.com)" 0 "dots: no smuggled second message"

# What the daemon decides on the wire bytes is what `otpbridge test`
# decides on the input (LF) - the message arrives intact.
fake x
mailn x.eml x1 bot+x@otp.example.com 604225
run timeout 60 "$DC" -s "$T/x/lmtp.sock" --rcpt bot+x@otp.example.com <"$T/d/x.eml"
"$PY" -c '
import sys
d = open(sys.argv[1], "rb").read().split(b"\r\n")
sys.stdout.buffer.write(b"\r\n".join(l[1:] if l.startswith(b".") else l for l in d))
' "$T/x/1.wire" >"$T/x/unstuffed.eml"
stop "$fpid"
v_in=$(timeout 60 "$OTPBRIDGE" -c "$T/d/otpbridge.conf" test --json --rcpt bot+x@otp.example.com "$T/d/x.eml" | sed 's/"file":"[^"]*",//')
v_wire=$(timeout 60 "$OTPBRIDGE" -c "$T/d/otpbridge.conf" test --json --rcpt bot+x@otp.example.com "$T/x/unstuffed.eml" | sed 's/"file":"[^"]*",//')
like "$v_in" '"forward":true' "intact: the input is forwarded"
is "$v_wire" "$v_in" "intact: the wire bytes decide exactly as the input (verdict, push body)"

# --- size --------------------------------------------------------------------
# Over the daemon's SIZE (4096) as read: dropped on purpose, exit 0, as
# today; never sent.
mailn big.eml big1 bot+big@otp.example.com 604226
"$PY" -c 'import sys; sys.stdout.write(("x" * 70 + "\n") * 60)' >>"$T/d/big.eml"
dc "$T/d/big.eml" -s "$SOCK" --rcpt bot+big@otp.example.com
is "$rc" 0 "oversized: exit 0 (no bounce)"
like "$err" 'result=dropped reason=too-large limit=4096' "oversized: says why"
full "$T/d/big.eml" --rcpt bot+big@otp.example.com
is "$rc" 0 "oversized: otpbridge deliver exits 0 too"
# Within 4096 as read, over it with CRLF (one byte per line more): today's
# deliver takes it, so the client hands it to the full path.
mailn grow.eml grow1 bot+grow@otp.example.com 604227
"$PY" -c '
import os, sys
n = 4090 - os.path.getsize(sys.argv[1])
sys.stdout.write(("x" * 9 + "\n") * (n // 10))
' "$T/d/grow.eml" >>"$T/d/grow.eml"
dc "$T/d/grow.eml" -s "$SOCK" --rcpt bot+grow@otp.example.com
is "$rc" 0 "under the limit, over it with CRLF: exit 0"
like "$err" 'src=deliver .*result=queued' "... the full path took it"
ok "... and pushed it" wait_for 15 npush_is bot+grow@otp.example.com 1
# (deterministic: the later mails went through the same daemon and queue)
is "$(npush bot+big@otp.example.com)" 0 "the oversized one was never pushed"
ok "... nor did the daemon log it: its data was never sent" \
    sh -c '! grep -q "bot+big" "$1"' sh "$T/d/daemon.err"

# --- exit codes: the client's and otpbridge deliver's on the same input --------
# (the client with the daemon running; otpbridge deliver reads the same
# config and store)
printf '' >"$T/d/empty.eml"
mailn nofilter.eml nf1 bot+nf@otp.example.com 604228 someone@unknown.example
mailn dup.eml dup1 bot+dup@otp.example.com 604229
L1=$(printf 'caf\351@otp.example.com')
for c in "a.eml:--rcpt bot+a2@otp.example.com:normal mail" \
    "nofilter.eml:--rcpt bot+nf@otp.example.com:mail no filter wants" \
    "empty.eml:--rcpt bot+em@otp.example.com:no mail at all" \
    "big.eml:--rcpt bot+big@otp.example.com:oversized" \
    "dup.eml:--rcpt bot+dup@otp.example.com:a duplicate (the second time)" \
    "a.eml:--bogus:an unknown option" \
    "a.eml:--rcpt $L1:a Latin-1 --rcpt under LC_ALL=C"; do
	f=${c%%:*} r=${c#*:}
	args=${r%%:*} what=${r#*:}
	# shellcheck disable=SC2086
	{ run env LC_ALL=C timeout 60 "$OTPBRIDGE" -c "$T/d/otpbridge.conf" deliver $args <"$T/d/$f"; }
	printf '%s\n' "$err" >>"$T/all-stderr.log"
	want=$rc
	# shellcheck disable=SC2086
	{ run env LC_ALL=C timeout 60 "$DC" -s "$SOCK" -c "$T/d/otpbridge.conf" $args <"$T/d/$f"; }
	printf '%s\n' "$err" >>"$T/all-stderr.log"
	is "$rc" "$want" "exit code as otpbridge deliver's ($want): $what"
done
run timeout 60 "$DC" -s "$T/nowhere/sock" -c "$T/nowhere.conf" --rcpt bot@otp.example.com <"$T/d/a.eml"
is "$rc" 75 "no daemon and no config: 75, as otpbridge deliver"
run timeout 60 "$DC" -s
is "$rc" 64 "-s without a socket: 64 (EX_USAGE)"

stop "$dpid"
secrets_checked
done_testing
