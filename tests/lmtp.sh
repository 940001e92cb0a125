#!/bin/sh
# lmtp.sh - the LMTP/SMTP sink end to end (SPEC 3 [lmtp]/[smtp], 5):
# `otpbridge run` with its listeners on a unix socket and loopback TCP,
# driven by swaks and by tests/lmtp-client.py (raw sockets: pipelining,
# half-close, disconnects, limits, load), pushing to tests/endpoint.py.
#
# Each daemon has its own directory $T/X with its config, filter, store,
# stderr and endpoint log.  The main daemon ($T/m) serves a-d, f, g, j-l
# and p; those that need other limits, a full disk (e), a crash (m, n) or
# a shutdown (o) get their own.  Scenarios i (a 10 s idle timeout) and q
# (a client that never reads) start first and are checked at the end.
# LMTP_TEST_VERBOSE=1 shows every raw-socket transcript as TAP comments.
. "${top_srcdir:-.}/tests/testlib.sh"

CL="$top_srcdir/tests/lmtp-client.py"

# --- helpers ---------------------------------------------------------------
# (conf, mail, daemon, qj, ep_start, free_ports, mount_tmpfs,
# secrets_checked, wait_for, alive, dead, stop, pyq and skip come from
# testlib.sh)

# Pushes the endpoint of S accepted (B: their bodies), by identifier.
npush() { pyq "$T/$1/requests.log" "sum(1 for b in B if b['totp_identifier'] == '$2')"; }
npush_is() { [ "$(npush "$1" "$2")" = "$3" ]; }
# npush2_is S LOCAL1 LOCAL2 N1/N2: the pushes of LOCAL1@ and LOCAL2@otp.example.com.
npush2_is() {
	[ "$(npush "$1" "$2@otp.example.com")/$(npush "$1" "$3@otp.example.com")" = "$4" ]
}
all_delivered() { [ "$(qj "$1" 'sum(1 for j in L if j["state"] != "delivered")')" = 0 ]; }

# started S [NAME]: the daemon of S (stderr in $T/S/NAME.err) logged that
# it runs.
started() { grep -q 'started:' "$T/$1/${2:-daemon}.err"; }

# refused S NAME: starts daemon S (stderr $T/S/NAME.err), which must not
# run, and waits for it to exit (15 s at most); $stop_rc.
refused() {
	daemon "$1" "$2"
	wait_for 15 dead "$dpid"
	stop "$dpid" 0
}

# slow_client S MODE SECONDS: once daemon S has started, lmtp-client.py
# MODE (idle, hog) for SECONDS on its socket $T/S/lmtp.sock, in the
# background, output in $T/S/MODE.out; sets client.  Bails out, the
# daemon's stderr shown, when it did not start: that is a failure.
slow_client() {
	if wait_for 15 started "$1"; then
		spawn sh -c 'exec "$1" "$2" "$3" "unix:$4" "$5" >"$6" 2>&1' sh "$PY" "$CL" \
		    "$2" "$T/$1/lmtp.sock" "$3" "$T/$1/$2.out"
		client=$last_pid
	else
		bail "daemon $1 did not start: $(cat "$T/$1/daemon.err")"
	fi
}

# chat ADDR: lmtp-client.py chat with the script on stdin; sets $out.
# chat_file ADDR: the same with the script in $T/.script.
# With LMTP_TEST_VERBOSE set, every transcript is shown as TAP comments.
chat() {
	out=$(timeout -k 5 60 "$PY" "$CL" chat "$1")
	[ -z "${LMTP_TEST_VERBOSE:-}" ] || printf '%s\n' "$out" | sed 's/^/#   /'
}
chat_file() { chat "$1" <"$T/.script"; }

# txn ADDR LHLO|EHLO MAILFILE FROM RCPT...: one whole transaction, each
# command waiting for its reply; sets $out (the transcript).
txn() {
	_a=$1 _h=$2 _m=$3 _f=$4
	shift 4
	_nr=$#
	{
		echo "< 1"
		echo "> $_h client.example"
		echo "< 1"
		echo "> MAIL FROM:<$_f>"
		echo "< 1"
		for r in "$@"; do
			echo "> RCPT TO:<$r>"
			echo "< 1"
		done
		echo "> DATA"
		echo "< 1"
		sed 's/^\./../; s/^/> /' "$_m"
		echo "> ."
		if [ "$_h" = LHLO ]; then echo "< $_nr"; else echo "< 1"; fi
		echo "> QUIT"
		echo "< 1"
	} >"$T/.script"
	chat_file "$_a"
}

# codes TEXT: the reply codes of the S: lines, space-separated.
codes() { printf '%s\n' "$1" | sed -n 's/^S: \([0-9][0-9][0-9]\)\( .*\)*$/\1/p' | tr '\n' ' ' | sed 's/ $//'; }
count() { printf '%s\n' "$1" | grep -Ec -- "$2"; }

start_time=$(date +%s)
set -- $(free_ports 3)
M_LMTP=$1 M_SMTP=$2 N_PUSH=$3
# An LMTP listener on [::1] too, where the host has IPv6 loopback.
M_V6=""
if "$PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	M_V6=$(free_port)
fi

# --- i (part 1): an idle session, timeout = 10 -------------------------------
conf i 9 "[lmtp]" "listen = unix:$T/i/lmtp.sock" "timeout = 10" "socket_group = nogroup"
daemon i
i_pid=$dpid
slow_client i idle 30
i_client=$client

# --- q (part 1): a client that sends but never reads -------------------------
# Replies pile up until the daemon stops reading it; after timeout (10 s)
# of no input it must give up on the session, whose 421 can never be
# delivered, and free its slot (max_connections = 1 here).
conf q 9 "[lmtp]" "listen = unix:$T/q/lmtp.sock" "timeout = 10" "max_connections = 1"
daemon q
q_pid=$dpid
slow_client q hog 25
q_client=$client

# --- the main daemon ---------------------------------------------------------
ep_start m 0
m_ep=$ep_pid
conf m "$ep_port" \
    "[lmtp]" \
    "listen = unix:$T/m/run/lmtp.sock;inet:127.0.0.1:$M_LMTP${M_V6:+;inet:[::1]:$M_V6}" \
    "recipients = @otp\.example\.com$" \
    "max_size = 2048" \
    "max_recipients = 2" \
    "socket_mode = 0600" \
    "" \
    "[smtp]" \
    "listen = inet:127.0.0.1:$M_SMTP" \
    "recipients = @otp\.example\.com$"
daemon m
m_pid=$dpid
ok "the main daemon starts (unix + TCP LMTP, TCP SMTP)" wait_for 15 started m
SOCK=$T/m/run/lmtp.sock

# --- p: socket_mode ------------------------------------------------------------
is "$(stat -c %a "$SOCK" 2>&1)" 600 "p: socket_mode = 0600 gives the socket mode 600"
is "$(stat -c %a "$T/i/lmtp.sock" 2>&1)" 660 "p: the default socket mode is 660"
is "$(stat -c %G "$T/i/lmtp.sock" 2>&1)" nogroup "p: socket_group = nogroup sets the socket's group"

# --- a: swaks, LMTP, two recipients ----------------------------------------------
mail m a1.eml a1 bot+wr_1@otp.example.com 401201
out=$(timeout 30 swaks --protocol LMTP --socket "$SOCK" --helo client.example \
    --from codes@acme.example --to bot+wr_1@otp.example.com,bot+wr_2@otp.example.com \
    --data "@$T/m/a1.eml" 2>&1)
is "$?" 0 "a: swaks over the unix socket exits 0"
is "$(count "$out" '^<[-~] +250 2\.0\.0 <bot\+wr_[12]@otp\.example\.com> Ok: queued as [0-9]+$')" 2 \
    "a: unix: two 250 replies after DATA, one per recipient, 'queued as N'"
a_ids=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9]*\)$/\1/p' | sort -u | wc -l)
is "$a_ids" 2 "a: unix: each recipient has its own job id"
ok "a: unix: both are pushed, once each" wait_for 15 npush2_is m bot+wr_1 bot+wr_2 1/1
is "$(pyq "$T/m/requests.log" 'sorted((b["totp_identifier"], b.get("workflow_run_id")) for b in B if b["totp_identifier"].startswith("bot+wr_"))')" \
    '[["bot+wr_1@otp.example.com", "wr_1"], ["bot+wr_2@otp.example.com", "wr_2"]]' \
    "a: unix: each push has its own identifier and workflow_run_id"
is "$(pyq "$T/m/requests.log" '[b["content"] for b in B if b["totp_identifier"] == "bot+wr_1@otp.example.com"]')" \
    '["401201"]' "a: unix: the content is the code"

mail m a2.eml a2 bot+wr_3@otp.example.com 401202
out=$(timeout 30 swaks --protocol LMTP --server 127.0.0.1 --port "$M_LMTP" \
    --helo client.example --from codes@acme.example \
    --to bot+wr_3@otp.example.com,bot+wr_4@otp.example.com --data "@$T/m/a2.eml" 2>&1)
is "$?" 0 "a: swaks over TCP exits 0"
is "$(count "$out" '^<[-~] +250 2\.0\.0 <bot\+wr_[34]@otp\.example\.com> Ok: queued as [0-9]+$')" 2 \
    "a: TCP: two 250 replies after DATA"
ok "a: TCP: both are pushed, once each" wait_for 15 npush2_is m bot+wr_3 bot+wr_4 1/1
is "$(pyq "$T/m/requests.log" 'sorted(b.get("workflow_run_id") for b in B if b["totp_identifier"] in ("bot+wr_3@otp.example.com", "bot+wr_4@otp.example.com"))')" \
    '["wr_3", "wr_4"]' "a: TCP: workflow_run_id from each recipient's +detail"
txn "inet:127.0.0.1:$M_LMTP" LHLO "$T/m/a1.eml" codes@acme.example bot+wr_1@otp.example.com
like "$out" '^S: 250 2\.0\.0 <bot\+wr_1@otp\.example\.com> Ok: duplicate' \
    "a: the same mail (Message-ID) again for the same recipient: 250, a duplicate"
# The 250 comes after the decision: a duplicate made no job, so nothing
# more can be pushed (the store says so; no sleep needed).
is "$(qj m 'sum(1 for j in L if j["identifier"] == "bot+wr_1@otp.example.com")')" 1 \
    "a: the duplicate made no second job"
is "$(npush m bot+wr_1@otp.example.com)" 1 "a: and it is not pushed again"

if [ -n "$M_V6" ]; then
	mail m a3.eml a3 bot+wr_5@otp.example.com 401210
	txn "inet:[::1]:$M_V6" LHLO "$T/m/a3.eml" codes@acme.example bot+wr_5@otp.example.com
	like "$out" '^S: 250 2\.0\.0 <bot\+wr_5@otp\.example\.com> Ok: queued as [0-9]+$' \
	    "a: LMTP over inet:[::1]: 250 after DATA"
	ok "a: [::1]: pushed once" wait_for 15 npush_is m bot+wr_5@otp.example.com 1
else
	skip 2 "no IPv6 loopback"
fi

# --- b: swaks, SMTP ----------------------------------------------------------------
mail m b.eml b1 bot+b@otp.example.com 401203
out=$(timeout 30 swaks --server 127.0.0.1 --port "$M_SMTP" --helo client.example \
    --from codes@acme.example --to bot+b@otp.example.com --data "@$T/m/b.eml" 2>&1)
is "$?" 0 "b: swaks over SMTP exits 0"
like "$out" '^<- +220 .*ESMTP' "b: the greeting says ESMTP"
for ext in PIPELINING ENHANCEDSTATUSCODES 8BITMIME 'SIZE 10485760'; do
	like "$out" "^<- +250[- ]$ext\$" "b: EHLO lists $ext"
done
is "$(printf '%s\n' "$out" | sed -n '/^ -> \.$/,$p' | grep -Ec '^<- +[0-9]{3} ')" 2 \
    "b: after the final dot: one reply (then QUIT's 221)"
like "$out" '^<- +250 2\.0\.0 Ok: accepted$' "b: the reply after DATA is 250"
ok "b: it is pushed once" wait_for 15 npush_is m bot+b@otp.example.com 1
# The wrong greeting for the port (an MTA pointed at the wrong sink) fails
# loudly instead of limping on.
chat "inet:127.0.0.1:$M_LMTP" <<'EOS'
< 1
> EHLO client.example
< 1
> QUIT
< 1
EOS
like "$out" '^S: 500 5\.5\.1 .*LHLO' "b: EHLO on the LMTP port: 500 5.5.1, use LHLO"
chat "inet:127.0.0.1:$M_SMTP" <<'EOS'
< 1
> LHLO client.example
< 1
> QUIT
< 1
EOS
like "$out" '^S: 500 5\.5\.1 .*EHLO' "b: LHLO on the SMTP port: 500 5.5.1, use EHLO"

# --- c: recipients ------------------------------------------------------------------
chat "unix:$SOCK" <<'EOS'
< 1
> LHLO client.example
< 1
> MAIL FROM:<codes@acme.example>
< 1
> RCPT TO:<someone@elsewhere.example>
< 1
> RCPT TO:<bot@otp.example.com.evil.example>
< 1
> RCPT TO:<Bot@OTP.example.com>
< 1
> QUIT
< 1
EOS
is "$(codes "$out")" "220 250 250 550 550 250 221" \
    "c: RCPT outside the recipients pattern: 550, inside: 250"
like "$out" '^S: 550 5\.1\.1 ' "c: the refusal is 550 5.1.1"
mkdir -p "$T/c"
printf '[store]\npath = %s\n\n[filters]\ndir = %s\n\n[lmtp]\n# open to the world\nlisten = inet:0.0.0.0:2424\n' \
    "$T/c/db" "$T/m/filters.d" >"$T/c/open.conf"
run "$OTPBRIDGE" -c "$T/c/open.conf" check
is "$rc" 78 "c: check: a non-loopback listen without recipients exits 78"
like "$err" "^$T/c/open.conf:9: .*recipients" "c: and names file:line and recipients"
sed 's/0\.0\.0\.0:2424/[::]:2424/; s/^\[lmtp\]/[smtp]/' "$T/c/open.conf" >"$T/c/open6.conf"
run "$OTPBRIDGE" -c "$T/c/open6.conf" check
is "$rc:$err" "78:$T/c/open6.conf:9: listening on non-loopback :: needs 'recipients' set, or this would be an open sink" \
    "c: check: [smtp] on inet:[::] without recipients exits 78 (file:line)" 
sed 's/0\.0\.0\.0:2424/127.3.4.5:2424/' "$T/c/open.conf" >"$T/c/lo.conf"
run "$OTPBRIDGE" -c "$T/c/lo.conf" check
is "$rc" 0 "c: check: any 127/8 address is loopback: no recipients needed"
sed 's/^# open.*/recipients = @otp\\.example\\.com$/' "$T/c/open.conf" >"$T/c/closed.conf"
run "$OTPBRIDGE" -c "$T/c/closed.conf" check
is "$rc" 0 "c: check: the same listen with recipients set exits 0"

# --- d: a mail no filter wants ---------------------------------------------------------
mail m d.eml d1 bot+news@otp.example.com 401204 news@shop.example
txn "inet:127.0.0.1:$M_LMTP" LHLO "$T/m/d.eml" news@shop.example bot+news@otp.example.com
like "$out" '^S: 250 2\.0\.0 <bot\+news@otp\.example\.com> Ok: not forwarded' \
    "d: a newsletter is accepted: 250, not forwarded"
like "$(cat "$T/m/daemon.err")" 'src=lmtp .*rcpt=bot\+news@otp\.example\.com .*result=dropped' \
    "d: the daemon logs result=dropped"
is "$(qj m 'sum(1 for j in L if j["identifier"] == "bot+news@otp.example.com")')" 0 \
    "d: no job for it"

# --- f: the client goes away in the middle of DATA ---------------------------------------
mail m f.eml f1 bot+f@otp.example.com 401205
{
	echo "< 1"
	echo "> LHLO client.example"
	echo "> MAIL FROM:<codes@acme.example>"
	echo "> RCPT TO:<bot+f@otp.example.com>"
	echo "> DATA"
	echo "< 4"
	head -n 8 "$T/m/f.eml" | sed 's/^/> /'
	echo "sleep 0.3"
	echo "close"
} >"$T/.script"
chat_file "unix:$SOCK"
is "$(codes "$out")" "220 250 250 250 354" "f: the client got to DATA (354)"

# --- g: half-closed client ---------------------------------------------------------------
mail m g.eml g1 bot+g@otp.example.com 401206
{
	echo "< 1"
	echo "> LHLO client.example"
	echo "> MAIL FROM:<codes@acme.example>"
	echo "> RCPT TO:<bot+g@otp.example.com>"
	echo "> DATA"
	sed 's/^/> /' "$T/m/g.eml"
	echo "> ."
	echo "shut"
	echo "eof"
} >"$T/.script"
chat_file "inet:127.0.0.1:$M_LMTP"
is "$(codes "$out")" "220 250 250 250 354 250" \
    "g: pipelined transaction then SHUT_WR: every reply arrives"
like "$out" '^S: 250 2\.0\.0 <bot\+g@otp\.example\.com> Ok: queued as [0-9]+$' \
    "g: the message is queued"
like "$out" 'EOF$' "g: then the daemon closes"
ok "g: it is pushed once" wait_for 15 npush_is m bot+g@otp.example.com 1
mail m g2.eml g2 bot+g2@otp.example.com 401216
mail m g3.eml g3 bot+g3@otp.example.com 401217
{
	echo "< 1"
	echo "> LHLO client.example"
	for x in g2 g3; do
		echo "> MAIL FROM:<codes@acme.example>"
		echo "> RCPT TO:<bot+$x@otp.example.com>"
		echo "> DATA"
		sed 's/^\./../; s/^/> /' "$T/m/$x.eml"
		echo "> ."
	done
	echo "shut"
	echo "eof"
} >"$T/.script"
chat_file "unix:$SOCK"
is "$(codes "$out")" "220 250 250 250 354 250 250 250 354 250" \
    "g: two pipelined transactions then SHUT_WR: both answered in order"
is "$(count "$out" '^S: 250 2\.0\.0 <bot\+g[23]@otp\.example\.com> Ok: queued as')" 2 \
    "g: both queued"
ok "g: both pushed once" wait_for 15 npush2_is m bot+g2 bot+g3 1/1
# g's job is committed after f's disconnect: f has left nothing behind.
is "$(qj m 'sum(1 for j in L if j["identifier"] == "bot+f@otp.example.com")')" 0 \
    "f: a disconnect mid-DATA queues nothing"
is "$(npush m bot+f@otp.example.com)" 0 "f: and nothing is pushed"

# --- j: max_size ----------------------------------------------------------------------------
{
	echo "< 1"
	echo "> LHLO client.example"
	echo "< 1"
	echo "> MAIL FROM:<codes@acme.example>"
	echo "> RCPT TO:<bot+j1@otp.example.com>"
	echo "> RCPT TO:<bot+j2@otp.example.com>"
	echo "> DATA"
	echo "< 4"
	echo "> From: Acme <codes@acme.example>"
	echo "> Subject: Your sign-in code"
	echo "> Message-ID: <j1@acme.example>"
	echo ">"
	echo "> Your code is 401207."
	echo "+3000"
	echo "> ."
	echo "< 2"
	echo "> MAIL FROM:<codes@acme.example> SIZE=999999"
	echo "< 1"
	echo "> MAIL FROM:<codes@acme.example> SIZE=2000"
	echo "< 1"
	echo "> QUIT"
	echo "< 1"
} >"$T/.script"
chat_file "unix:$SOCK"
CODES="$CODES 401207"
is "$(codes "$out")" "220 250 250 250 250 354 552 552 552 250 221" \
    "j: over max_size: 552 per recipient; SIZE=999999: 552; SIZE=2000: 250"
is "$(count "$out" '^S: 552 5\.3\.4 ')" 3 "j: each 552 is 5.3.4"
# Exactly max_size bytes (dot-unstuffed, CRLF line ends) is accepted; one
# more is not.  A newsletter: accepted and dropped, nothing pushed.
for n in 2048 2049; do
	"$PY" - "$n" "$T/m/j$n.eml" <<'EOP'
import sys
n = int(sys.argv[1])
head = (b"From: News <news@shop.example>\r\nTo: bot+j3@otp.example.com\r\n"
        b"Subject: Our offers\r\nMessage-ID: <j%d@shop.example>\r\n\r\n" % n)
body = b""
while len(head) + len(body) + 78 <= n:
    body += b"y" * 76 + b"\r\n"
body += b"z" * (n - len(head) - len(body) - 2) + b"\r\n"
# a line starting with a dot: two bytes on the wire, one counted
body = b"..\r\n" + body[3:]
data = head + body
assert len(data) - 1 == n, len(data)
open(sys.argv[2], "wb").write(data)
EOP
done
{
	echo "< 1"
	echo "> LHLO client.example"
	echo "< 1"
	for n in 2048 2049; do
		echo "> MAIL FROM:<news@shop.example> SIZE=$n"
		echo "< 1"
		echo "> RSET"
		echo "< 1"
		echo "> MAIL FROM:<news@shop.example>"
		echo "> RCPT TO:<bot+j3@otp.example.com>"
		echo "> DATA"
		echo "< 3"
		echo "@ $T/m/j$n.eml"
		echo "> ."
		echo "< 1"
	done
	echo "> QUIT"
	echo "< 1"
} >"$T/.script"
chat_file "unix:$SOCK"
is "$(codes "$out")" "220 250 250 250 250 250 354 250 552 250 250 250 354 552 221" \
    "j: SIZE=max_size and a message of exactly max_size bytes: 250; one byte more: 552"
like "$out" '^S: 250 2\.0\.0 <bot\+j3@otp\.example\.com> Ok: not forwarded' \
    "j: the message of max_size bytes was taken (and dropped: a newsletter)"

# --- k: max_recipients ---------------------------------------------------------------------
chat "inet:127.0.0.1:$M_LMTP" <<'EOS'
< 1
> LHLO client.example
< 1
> MAIL FROM:<codes@acme.example>
< 1
> RCPT TO:<bot+k1@otp.example.com>
< 1
> RCPT TO:<bot+k2@otp.example.com>
< 1
> RCPT TO:<bot+k3@otp.example.com>
< 1
> DATA
< 1
> From: News <news@shop.example>
> Subject: Our offers
> Message-ID: <k1@shop.example>
>
> Buy now.
> .
< 2
> QUIT
< 1
EOS
is "$(codes "$out")" "220 250 250 250 250 452 354 250 250 221" \
    "k: max_recipients = 2: the third RCPT gets 452, DATA answers the two"
like "$out" '^S: 452 4\.5\.3 ' "k: 452 4.5.3"
unlike "$out" 'bot\+k3@' "k: no DATA reply for the refused recipient"

# --- l: pipelining -------------------------------------------------------------------------
mail m l.eml l1 bot+l1@otp.example.com 401208
{
	echo "< 1"
	echo "> LHLO client.example"
	echo "< 1"
	echo "> MAIL FROM:<codes@acme.example>"
	echo "> RCPT TO:<bot+l1@otp.example.com>"
	echo "> RCPT TO:<bot+l2@otp.example.com>"
	echo "> DATA"
	echo "sleep 0.2"
	sed 's/^\./../; s/^/> /' "$T/m/l.eml"
	echo "> ."
	echo "> QUIT"
	echo "eof"
} >"$T/.script"
chat_file "unix:$SOCK"
is "$(codes "$out" | cut -d' ' -f3-)" "250 250 250 354 250 250 221" \
    "l: pipelined MAIL RCPT RCPT DATA, then message + QUIT: replies in order"
like "$(printf '%s\n' "$out" | grep '^S: 250 2.0.0 <' | head -1)" 'bot\+l1@' \
    "l: the first DATA reply is the first recipient's"
ok "l: both recipients are pushed, once each" wait_for 15 npush2_is m bot+l1 bot+l2 1/1

# --- r: SMTP smuggling (CVE-2023-51764) ------------------------------------------------------
# Each session pipelines, in one write, an honest transaction and then
# one whose body (a newsletter no filter wants) hides a non-standard end
# of data followed by a spoofed transaction: the filter's trusted sender,
# another recipient, a code.  Only <CRLF>.<CRLF> ends DATA: a bare LF
# closes the session with 421 4.5.2 before the smuggled commands are
# read; a bare CR is message text, so the smuggled transaction is part of
# the newsletter.  Every variant, over LMTP (unix) and SMTP (TCP): the
# honest mail is pushed once, the smuggled recipient gets nothing.
r_n=0 r_got="" r_want="" r_closed=0
for r_lst in "unix:$SOCK" "inet:127.0.0.1:$M_SMTP"; do
	case $r_lst in unix:*) r_hello=LHLO ;; *) r_hello=EHLO ;; esac
	for r_v in lf-dot-lf cr-dot-cr lf-dot-crlf crlf-dot-lf crlf-dot-cr cr-dot-crlf; do
		r_n=$((r_n + 10))
		"$PY" - "$r_hello" "$r_v" "$r_n" "$T/m/r$r_n.bin" <<'EOP'
import sys
hello, v, n, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
end = {"lf-dot-lf": b"\n.\n", "cr-dot-cr": b"\r.\r", "lf-dot-crlf": b"\n.\r\n",
       "crlf-dot-lf": b"\r\n.\n", "crlf-dot-cr": b"\r\n.\r", "cr-dot-crlf": b"\r.\r\n"}[v]
def mail(frm, to, mid, subject, body):
    return ("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n"
            "Date: Tue, 25 Nov 2025 10:00:00 +0000\r\n\r\n%s" % (frm, to, subject, mid, body)).encode()
def txn(frm, to):
    return ("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (frm, to)).encode()
honest = "bot+sm%d@otp.example.com" % n
outer = "bot+out%d@otp.example.com" % n
victim = "bot+victim%d@otp.example.com" % n
data = (hello.encode() + b" client.example\r\n"
        + txn("codes@acme.example", honest)
        + mail("codes@acme.example", honest, "sm%d@acme.example" % n, "Your sign-in code",
               "Your code is %d.\r\n" % (401300 + n)) + b".\r\n"
        + txn("news@shop.example", outer)
        + mail("news@shop.example", outer, "out%d@shop.example" % n, "Our offers", "Buy now.")
        + end
        + txn("codes@acme.example", victim)
        + mail("codes@acme.example", victim, "victim%d@acme.example" % n, "Your sign-in code",
               "Your code is %d.\r\n" % (401301 + n)) + b".\r\nQUIT\r\n")
open(path, "wb").write(data)
EOP
		CODES="$CODES $((401300 + r_n)) $((401301 + r_n))"
		printf '< 1\n@ %s\neof\n' "$T/m/r$r_n.bin" >"$T/.script"
		chat_file "$r_lst"
		r_got="$r_got $r_hello/$r_v: $(codes "$out")$(printf '%s\n' "$out" | tail -1 | sed 's/^EOF$/ EOF/')"
		case $r_v in
		lf-dot-lf|lf-dot-crlf|crlf-dot-lf)
			r_closed=$((r_closed + 1))
			r_want="$r_want $r_hello/$r_v: 220 250 250 250 354 250 250 250 354 421 EOF"
			like "$out" '^S: 421 4\.5\.2 .*Bare LF received' "r: $r_hello $r_v: 421 4.5.2 bare LF" ;;
		*)
			r_want="$r_want $r_hello/$r_v: 220 250 250 250 354 250 250 250 354 250 221 EOF" ;;
		esac
	done
done
is "$r_got" "$r_want" \
    "r: every variant: one reply per real transaction; bare LF: 421 and closed, bare CR: text, then QUIT"
# The store is the deterministic signal: a job is committed before its 250.
is "$(qj m 'sum(1 for j in L if j["identifier"].startswith(("bot+victim", "bot+out")))')" 0 \
    "r: no job for a smuggled recipient (nor for the newsletter)"
r_all_pushed() {
	[ "$(pyq "$T/m/requests.log" 'sum(1 for b in B if b["totp_identifier"].startswith("bot+sm"))')" -ge 12 ]
}
ok "r: each of the 12 honest mails is pushed" wait_for 15 r_all_pushed
is "$(pyq "$T/m/requests.log" '[i for i in sorted({b["totp_identifier"] for b in B}) if i.startswith("bot+sm") and [c["totp_identifier"] for c in B].count(i) != 1]')" \
    "[]" "r: and each once"
is "$(grep -c 'result=closed reason=bare-lf' "$T/m/daemon.err")" "$r_closed" \
    "r: the daemon logs result=closed reason=bare-lf once per closed session ($r_closed)"
is "$(grep -Ec 'src=(lmtp|smtp) .*rcpt=bot\+out[0-9]+@otp\.example\.com .*result=dropped' "$T/m/daemon.err")" \
    $((12 - r_closed)) "r: a bare CR variant is one message: the newsletter, logged and dropped"
is "$(grep -c 'victim' "$T/m/daemon.err")" 0 "r: no log line names a smuggled recipient"

# --- h: max_connections ----------------------------------------------------------------------
conf h 9 "[lmtp]" "listen = unix:$T/h/lmtp.sock" "max_connections = 3"
daemon h
h_pid=$dpid
ok "h: a daemon with max_connections = 3 starts" wait_for 15 started h
out=$(timeout 60 "$PY" "$CL" conns "unix:$T/h/lmtp.sock" 3)
is "$(printf '%s\n' "$out" | grep -c '^[123]: 220 ')" 3 "h: three sessions get the greeting"
like "$(printf '%s\n' "$out" | grep '^4: ' | head -1)" '^4: 421 4\.4\.5 ' "h: the fourth gets 421 4.4.5"
is "$(printf '%s\n' "$out" | grep '^4: ' | tail -1)" "4: EOF" "h: and is closed"
like "$(printf '%s\n' "$out" | grep '^5: ')" '^5: 220 ' "h: once one session closes, a new one is served"
stop "$h_pid"
is "$stop_rc" 0 "h: the daemon exits 0 on SIGTERM"

# --- e: a store that cannot be written ---------------------------------------------------------
if mount_tmpfs "$T/e/mnt" 256k 0750; then
	store_path=$MNT/otpbridge.db
	E_SMTP=$(free_port)
	conf e "$(cat "$T/m/port")" "[lmtp]" "listen = unix:$T/e/lmtp.sock" \
	    "[smtp]" "listen = inet:127.0.0.1:$E_SMTP"
	store_path=""
	mail e e.eml e1 bot+e@otp.example.com 401209
	daemon e
	e_pid=$dpid
	ok "e: a daemon with its store on a 256k tmpfs starts" wait_for 15 started e
	dd if=/dev/zero of="$MNT/filler" bs=4096 2>/dev/null
	is "$(df -k --output=avail "$MNT" | tail -1 | tr -d ' ')" 0 "e: the filesystem is full"
	txn "unix:$T/e/lmtp.sock" LHLO "$T/e/e.eml" codes@acme.example \
	    bot+e@otp.example.com bot+e2@otp.example.com
	is "$(count "$out" '^S: 451 4\.3\.0 <bot\+e2?@otp\.example\.com> ')" 2 \
	    "e: full store: 451 4.3.0 for each recipient"
	txn "inet:127.0.0.1:$E_SMTP" EHLO "$T/e/e.eml" codes@acme.example bot+e3@otp.example.com
	like "$out" '^S: 451 4\.3\.0 ' "e: SMTP: 451 4.3.0 after DATA"
	like "$(cat "$T/e/daemon.err")" 'result=tempfail' "e: the daemon logs the tempfail"
	ok "e: the daemon is still running" alive "$e_pid"
	rm -f "$MNT/filler"
	txn "unix:$T/e/lmtp.sock" LHLO "$T/e/e.eml" codes@acme.example \
	    bot+e@otp.example.com bot+e2@otp.example.com
	is "$(count "$out" '^S: 250 2\.0\.0 <bot\+e2?@otp\.example\.com> Ok: queued as')" 2 \
	    "e: with space again the same mail is queued for both (no dedup row was left)"
	ok "e: both are pushed, once each" wait_for 15 npush2_is m bot+e bot+e2 1/1
	stop "$e_pid"
	is "$stop_rc" 0 "e: the daemon exits 0"
	is "$(qj e '[j["state"] for j in L]')" '["delivered", "delivered"]' \
	    "e: exactly two jobs, delivered: nothing was half-written"
	is "$(npush m bot+e3@otp.example.com)" 0 "e: the mail refused over SMTP was not pushed"
	umount "$MNT" && MNT=""
else
	skip 11 "$no_tmpfs"
fi

# --- m: stale and foreign files at the socket path -------------------------------------------
conf s 9 "[lmtp]" "listen = unix:$T/s/lmtp.sock"
daemon s s1
s1=$dpid
ok "m: a daemon on a unix socket starts" wait_for 15 started s s1
stop "$s1" 9
ok "m: kill -9 leaves the socket file behind" test -S "$T/s/lmtp.sock"
daemon s s2
s2=$dpid
ok "m: the next start replaces the stale socket" wait_for 15 started s s2
chat "unix:$T/s/lmtp.sock" <<'EOS'
< 1
> QUIT
< 1
EOS
is "$(codes "$out")" "220 221" "m: and answers on it"
refused s s3
ok "m: a second daemon on the same socket exits non-zero ($stop_rc)" test "$stop_rc" -ne 0
like "$(cat "$T/s/s3.err")" 'lmtp\.sock is in use by another process' "m: and says the socket is in use"
chat "unix:$T/s/lmtp.sock" <<'EOS'
< 1
> QUIT
< 1
EOS
is "$(codes "$out")" "220 221" "m: the first daemon still answers on its socket"
stop "$s2"
is "$stop_rc" 0 "m: the first daemon exits 0 on SIGTERM"
ok "m: and removes its socket" test ! -e "$T/s/lmtp.sock"
echo "not a socket" >"$T/s/lmtp.sock"
refused s s4
ok "m: a regular file at the socket path: the daemon exits non-zero ($stop_rc)" test "$stop_rc" -ne 0
like "$(cat "$T/s/s4.err")" 'lmtp\.sock exists and is not a socket' "m: and says why"
is "$(cat "$T/s/lmtp.sock")" "not a socket" "m: the file is left untouched"

# A unix socket path longer than sun_path (108 bytes with its NUL) cannot
# be bound as given: check must refuse it (file:line) and run must not
# bind some truncated path and claim to listen on the configured one.
LONGDIR=$T/s/$(printf '%0100d' 0 | tr 0 d)
conf s "$(cat "$T/m/port")" "[lmtp]" "listen = unix:$LONGDIR/lmtp.sock"
s_line=$(grep -n '^listen = ' "$T/s/otpbridge.conf" | cut -d: -f1)
run "$OTPBRIDGE" -c "$T/s/otpbridge.conf" check
is "$rc" 78 "m: check: a unix socket path of ${#LONGDIR}+9 bytes (over 107) exits 78"
like "$err" "^$T/s/otpbridge.conf:$s_line: " "m: and names file:line"
run timeout -k 2 5 "$OTPBRIDGE" -c "$T/s/otpbridge.conf" run
ok "m: run refuses it (exit $rc, not 0, not still running)" test "$rc" -ne 0 -a "$rc" -ne 124
is "$(find "$T/s" -type s | wc -l)" 0 "m: and leaves no socket anywhere (no truncated path)"
printf '%s\n' "$err" >>"$T/all-stderr.log"

# --- o: SIGTERM during DATA ----------------------------------------------------------------------
ep_start o 0
o_ep=$ep_pid
conf o "$ep_port" "[lmtp]" "listen = unix:$T/o/lmtp.sock"
daemon o
o_pid=$dpid
ok "o: a daemon starts" wait_for 15 started o
out=$(timeout 60 "$PY" "$CL" sigterm "unix:$T/o/lmtp.sock" "$o_pid")
CODES="$CODES 774411"
like "$(printf '%s\n' "$out" | grep '^B: ' | head -1)" '^B: 421 4\.3\.2 ' \
    "o: the idle session gets 421 4.3.2 at once"
like "$(printf '%s\n' "$out" | grep '^B: ' | tail -1)" '^B: EOF after 0\.[0-9] s$' "o: and is closed at once"
like "$(printf '%s\n' "$out" | grep '^A: ' | tail -3 | tr '\n' '|')" \
    '^A: 250 2\.0\.0 <bot\+term@otp\.example\.com> Ok: queued as [0-9]+\|A: 421 4\.3\.2 [^|]*shutting down\|A: EOF\|$' \
    "o: the session in DATA finishes: 250, then 421 4.3.2, then closed"
stop "$o_pid" 0
is "$stop_rc" 0 "o: the daemon exits 0"
is "$(npush o bot+term@otp.example.com)" 1 "o: the push was delivered before the daemon exited"
is "$(qj o '[j["state"] for j in L]')" '["delivered"]' "o: the store says delivered"
stop "$o_ep"

# A session that stays in its transaction (MAIL, no DATA) past the grace
# (push timeout 2 s + 2 s): the daemon exits 0, and tells the client
# 421 4.3.2 before it drops the connection (RFC 5321 3.8), not a bare close.
conf o2 9 "[lmtp]" "listen = unix:$T/o2/lmtp.sock" "timeout = 60"
daemon o2
o2_pid=$dpid
ok "o: a daemon with timeout = 60 starts" wait_for 15 started o2
t0=$(date +%s)
chat "unix:$T/o2/lmtp.sock" <<EOS
< 1
> LHLO client.example
< 1
> MAIL FROM:<codes@acme.example>
< 1
kill $o2_pid 15
eof
EOS
t1=$(date +%s)
stop "$o2_pid" 0
is "$stop_rc" 0 "o: SIGTERM with a session stuck in a transaction: the daemon exits 0"
ok "o: within its grace of about 4 s ($((t1 - t0)) s)" test $((t1 - t0)) -le 8
is "$(printf '%s\n' "$out" | tail -2 | cut -c1-12 | tr '\n' '|')" "S: 421 4.3.2|EOF|" \
    "o: the stuck session gets 421 4.3.2 before the connection is closed"

# --- n: kill -9 under load ----------------------------------------------------------------------
conf n "$N_PUSH" "[lmtp]" "listen = unix:$T/n/lmtp.sock"
daemon n n1
n1=$dpid
ok "n: a daemon starts (its endpoint is down: jobs stay pending)" wait_for 15 started n n1
out=$(timeout 60 "$PY" "$CL" load "unix:$T/n/lmtp.sock" "$T/n/load.log" 100 4 "$n1" 50)
like "$out" '^got250 [0-9]+ killed True$' "n: the load ran and the daemon was killed midway ($out)"
stop "$n1" 0
is "$stop_rc" 137 "n: the daemon died of SIGKILL"
n_dot=$(pyq "$T/n/load.log" 'len({l["m"] for l in L if l["ev"] == "dot"})')
n_250=$(pyq "$T/n/load.log" 'len({l["m"] for l in L if l["ev"] == "250"})')
ok "n: some messages got 250 ($n_250), not all 100 were sent ($n_dot)" \
    test "$n_250" -ge 50 -a "$n_dot" -lt 100
timeout 60 "$OTPBRIDGE" -c "$T/n/otpbridge.conf" queue list --json >"$T/n/q0.json" 2>>"$T/all-stderr.log"
is "$(pyq "$T/n/q0.json" '"missing %s" % sorted({l["m"] for l in map(json.loads, open(sys.argv[1].replace("q0.json", "load.log"))) if l["ev"] == "250"} - {int(j["identifier"].split("+m")[1].split("@")[0]) for j in L})')" \
    "missing []" "n: after the kill, every message that got 250 has a job in the store"
ep_start n "$N_PUSH"
n_ep=$ep_pid
is "$ep_port" "$N_PUSH" "n: the endpoint now listens on the push port"
daemon n n2
n2=$dpid
ok "n: the daemon restarts" wait_for 15 started n n2
ok "n: the queue settles (every job delivered)" wait_for 40 all_delivered n
# Every job delivered: nothing more can be pushed, no need to wait.
stop "$n2"
is "$stop_rc" 0 "n: the restarted daemon exits 0"
"$PY" - "$T/n/load.log" "$T/n/requests.log" "$T/n/q.json" >"$T/n/check.out" <<'EOP'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reqs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
jobs = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
dot = {e["m"] for e in ev if e["ev"] == "dot"}
got = {e["m"] for e in ev if e["ev"] == "250"}
push = {}
for r in reqs:
    if r["status"] != 200:
        continue
    ident = json.loads(r["body"])["totp_identifier"]
    m = int(ident.split("@")[0].split("+m")[1])
    push[m] = push.get(m, 0) + 1
print("lost", sorted(got - set(push)))
print("dup", sorted(m for m, c in push.items() if c > 1))
print("unsent", sorted(set(push) - dot))
print("bad", sum(1 for r in reqs if r["status"] != 200))
print("jobs", len(jobs), "pushed", len(push))
EOP
n_chk=$(cat "$T/n/check.out")
like "$n_chk" '^lost \[\]$' "n: every message that got 250 was pushed"
like "$n_chk" '^dup \[\]$' "n: none was pushed twice"
like "$n_chk" '^unsent \[\]$' "n: nothing was pushed whose final dot was not sent"
like "$n_chk" '^bad 0$' "n: the endpoint accepted every push"
like "$n_chk" '^jobs ([0-9]+) pushed \1$' "n: one job per pushed message"
stop "$n_ep"

# --- au: a forged Authentication-Results, and freshness from Received: -----------------------
# A bank filter needs dkim; [auth] trusts mx.otp.example.com.  The sender
# wrote a trusted-looking A-R, which arrives below the Received: of the MTA
# that hands the mail over: not authenticated.  The MTA's own, above its
# Received:, is.  max_age (600 s) counts from that Received: date: a code
# that sat two hours in a queue is not pushed.
ep_start au 0
au_ep=$ep_pid
conf au "$ep_port" "[lmtp]" "listen = unix:$T/au/lmtp.sock" "" \
    "[auth]" "trusted_authserv_id = mx.otp.example.com"
printf '[bank]\nfrom = @bank\\.example$\nrequire_auth = dkim\ncode = (?<code>\\d{6})\n' \
    >"$T/au/filters.d/20-bank.conf"
daemon au
au_pid=$dpid
# au_mail FILE ID ORDER AGE CODE: a bank mail with CODE; ORDER "ar-first"
# puts the A-R above the Received:, else below; AGE: seconds since the
# Received: date.
au_mail() {
	CODES="$CODES $5"
	_rc="Received: from mail.bank.example (mail.bank.example [192.0.2.7])
	by mx.otp.example.com (Postfix) with ESMTPS id $2
	for <bot+$2@otp.example.com>; $(date -u -R -d "@$(($(date +%s) - $4))")"
	_ar="Authentication-Results: mx.otp.example.com;
	dkim=pass header.d=bank.example header.s=s1"
	if [ "$3" = ar-first ]; then _h="$_ar
$_rc"; else _h="$_rc
$_ar"; fi
	printf '%s\nFrom: Bank <alerts@bank.example>\nTo: bot+%s@otp.example.com\nSubject: Sign-in code\nMessage-ID: <%s@bank.example>\n\nYour code is %s.\n' \
	    "$_h" "$2" "$2" "$5" >"$T/au/$1"
}
au_mail forged.eml au1 ar-last 5 602811
au_mail genuine.eml au2 ar-first 5 602812
au_mail queued.eml au3 ar-first 7200 602813
ok "au: the daemon starts (LMTP, [auth] trusted_authserv_id)" wait_for 15 started au
txn "unix:$T/au/lmtp.sock" LHLO "$T/au/forged.eml" alerts@bank.example bot+au1@otp.example.com
like "$out" '^S: 250 2\.0\.0 <bot\+au1@otp\.example\.com> Ok: not forwarded \(auth-fail\)$' \
    "au: a forged A-R below the MTA's Received: is not trusted: 250, not forwarded (auth-fail)"
txn "unix:$T/au/lmtp.sock" LHLO "$T/au/genuine.eml" alerts@bank.example bot+au2@otp.example.com
like "$out" '^S: 250 2\.0\.0 <bot\+au2@otp\.example\.com> Ok: queued as [0-9]+$' \
    "au: the MTA's own A-R above its Received: is: queued"
ok "au: and pushed" wait_for 15 npush_is au bot+au2@otp.example.com 1
txn "unix:$T/au/lmtp.sock" LHLO "$T/au/queued.eml" alerts@bank.example bot+au3@otp.example.com
like "$out" '^S: 250 2\.0\.0 <bot\+au3@otp\.example\.com> Ok: not forwarded \(expired\)$' \
    "au: a mail received 2 h ago (max_age 600): 250, not forwarded (expired)"
like "$(cat "$T/au/daemon.err")" 'rcpt=bot\+au1@otp\.example\.com filter=bank result=dropped reason=auth-fail' \
    "au: the daemon logs the forged one as dropped, auth-fail"
is "$(qj au '[j["identifier"] for j in L]')" '["bot+au2@otp.example.com"]' \
    "au: the store holds one job, the genuine one"
is "$(pyq "$T/au/requests.log" 'sorted(b["totp_identifier"] for b in B)')" \
    '["bot+au2@otp.example.com"]' "au: the endpoint got the genuine code only"
stop "$au_pid"
stop "$au_ep"

# --- i (part 2): the idle session timed out --------------------------------------------------------
stop "$i_client" 0
i_out=$(cat "$T/i/idle.out")
like "$i_out" '^S: 421 4\.4\.2 ' "i: an idle session gets 421 4.4.2"
like "$i_out" '^EOF$' "i: and is closed"
i_el=$(printf '%s\n' "$i_out" | sed -n 's/^elapsed //p')
ok "i: after about 10 s (${i_el:-?} s)" test "${i_el:-0}" -ge 9 -a "${i_el:-99}" -le 15
stop "$i_pid"

# --- q (part 2): the client that never reads is dropped ------------------------------------------
wait_for 40 grep -q ' after ' "$T/q/hog.out"
q_out=$(cat "$T/q/hog.out")
like "$q_out" '^stopped reading$' "q: the daemon stops reading a client that does not read"
like "$q_out" '^closed after ([0-9]|1[0-9]|2[0-4]) s$' \
    "q: and drops it within about 2 x timeout (10 s): $(echo $q_out)"
chat "unix:$T/q/lmtp.sock" <<'EOS'
< 1
> QUIT
< 1
EOS
is "$(codes "$out")" "220 221" "q: its connection slot is free again (max_connections = 1)"
stop "$q_client"
stop "$q_pid"

# --- u: SMTPUTF8, internationalised recipients (RFC 6531) ---------------------------------------
# swaks has no SMTPUTF8 option: the raw client speaks it.  The recipients
# pattern names the U-label; the A-label form of the same domain matches
# it too, and both reach the endpoint as one normal form.
ep_start u 0
conf u "$ep_port" "[lmtp]" "listen = unix:$T/u/lmtp.sock" 'recipients = @bücher\.example$'
daemon u
u_pid=$dpid
if wait_for 15 started u; then
	mail u m.eml u1 'BØt@Bücher.example' 401290
	{
		printf '< 1\n> LHLO client.example\n< 1\n'
		printf '> MAIL FROM:<codes@acme.example>\n< 1\n> RCPT TO:<bøt@bücher.example>\n< 1\n> RSET\n< 1\n'
		printf '> MAIL FROM:<codes@acme.example> SMTPUTF8\n< 1\n'
		printf '> RCPT TO:<BØt+wr_8@Bücher.example>\n< 1\n'
		printf '> RCPT TO:<Bot@XN--BCHER-KVA.example>\n< 1\n'
		printf '> RCPT TO:<bot@elsewhere.example>\n< 1\n'
		printf '> DATA\n< 1\n'
		sed 's/^\./../; s/^/> /' "$T/u/m.eml"
		printf '> .\n< 2\n> QUIT\n< 1\n'
	} >"$T/.script"
	chat_file "unix:$T/u/lmtp.sock"
	like "$out" '^S: 250-SMTPUTF8$' "u: LHLO lists SMTPUTF8"
	is "$(codes "$out")" "220 250 250 553 250 250 250 250 550 354 250 250 221" \
	    "u: UTF-8 RCPT: 553 without SMTPUTF8, 250 with it (U- and A-label), 550 outside the pattern"
	like "$out" '^S: 553 5\.6\.7 ' "u: the refusal without SMTPUTF8 is 553 5.6.7"
	u_two() { [ "$(pyq "$T/u/requests.log" 'len(B)')" = 2 ]; }
	ok "u: both recipients are pushed" wait_for 15 u_two
	is "$(pyq "$T/u/requests.log" '" ".join(sorted(b["totp_identifier"] + "=" + str(b.get("workflow_run_id")) for b in B))')" \
	    'bot@bücher.example=None bøt+wr_8@bücher.example=wr_8' \
	    "u: identifiers in the normal form (lower case, U-label), the run id from the tag"
else
	bail "daemon u did not start: $(cat "$T/u/daemon.err")"
fi
stop "$u_pid"

# --- the main daemon: nothing pushed that must not be -----------------------------------------------
stop "$m_pid"
is "$stop_rc" 0 "the main daemon exits 0 on SIGTERM"
ok "the main daemon removed its socket" test ! -e "$SOCK"
is "$(pyq "$T/m/requests.log" 'sorted(b["totp_identifier"].split("@")[0] for b in B if any(x in b["totp_identifier"] for x in ("+news", "+f@", "+j1", "+j2", "+k", "+victim", "+out")))')" \
    '[]' "d, f, j, k, r: none of the refused, dropped or smuggled mails was pushed"
is "$(pyq "$T/m/requests.log" 'sum(1 for r in L if r["status"] != 200)')" 0 \
    "the endpoint accepted every push (the contract holds)"
stop "$m_ep"

# --- secrets -------------------------------------------------------------------------------------
secrets_checked

echo "# runtime $(($(date +%s) - start_time)) s"
done_testing
