#!/bin/sh
# postfix-dkim.sh - who may write a trusted Authentication-Results, against
# a real Postfix and OpenDKIM (doc/security.md, otpbridge.conf(5) [auth]):
# a private Postfix instance under $T/pf with two smtpd services on
# loopback, one with OpenDKIM (verify mode, AuthservID mx.example.net) as
# its milter and one without, relaying otp.example.com over LMTP to
# `otpbridge run`, which trusts mx.example.net and has a GitHub filter
# with require_auth = dkim.
#
#   1. freshness: a signed mail Postfix cannot hand over (otpbridge not yet
#      running) waits in its queue past max_age (15 s); once delivered it
#      is accepted and dropped, "expired": its age counts from Postfix's
#      Received: date, not from its arrival at otpbridge.
#   2. a mail signed by github.com (dkimpy, key published to OpenDKIM
#      through TestPublicKeys, no DNS), through the milter: OpenDKIM writes
#      dkim=pass above Postfix's Received:, the code is pushed.
#   3. the sender writes "Authentication-Results: mx.example.net; dkim=pass
#      header.d=github.com" into an unsigned mail, through the milter
#      (which removes such headers and says dkim=none above Received:):
#      auth-fail.
#   4. the same forged mail through the smtpd without a milter: Postfix
#      passes the header through, below its own Received:, where it does
#      not count: auth-fail.  (Before the rule it was pushed.)
#
# Needs root (Postfix's master), Postfix, opendkim, opendkim-genkey and
# Debian's python3-dkim (contrib/setup-debian.sh installs them); skipped
# otherwise.  Everything runs on loopback under $T; OpenDKIM runs in the
# foreground, started and stopped by its pid.
. "${top_srcdir:-.}/tests/testlib.sh"
# (PF, MAILLOG, nlog, master_runs, pf_stop, the EXIT trap, pf_config and
# pf_start come from postfixlib.sh)
. "${top_srcdir:-.}/tests/postfixlib.sh"
DPY=/usr/bin/python3             # Debian's python3, which has dkimpy

[ "$(id -u)" = 0 ] || skip_all "needs root (Postfix's master)"
command -v postfix >/dev/null 2>&1 || skip_all "postfix is not installed"
command -v opendkim >/dev/null 2>&1 || skip_all "opendkim is not installed"
command -v opendkim-genkey >/dev/null 2>&1 || skip_all "opendkim-tools is not installed"
"$DPY" -c 'import dkim' 2>/dev/null || skip_all "python3-dkim is not installed"
id postfix >/dev/null 2>&1 || skip_all "no postfix user"
id opendkim >/dev/null 2>&1 || skip_all "no opendkim user"
getent group postdrop >/dev/null 2>&1 || skip_all "no postdrop group"

# --- helpers ---------------------------------------------------------------
REQ=$T/requests.log
# pushed ID: the codes pushed for bot+ID@otp.example.com.
pushed() { pyq "$REQ" "[b['content'] for b in B if b['totp_identifier'] == 'bot+$1@otp.example.com']"; }
pushed_is() { [ "$(pushed "$1")" = "$2" ]; }
# sent_reply ID: the LMTP reply Postfix logged for bot+ID@otp.example.com.
sent_reply() {
	grep -E "to=<bot\+$1@otp\.example\.com>,.*status=sent" "$MAILLOG" 2>/dev/null |
	    sed -n 's/.*status=sent (\(.*\))$/\1/p' | tail -1
}
# port_up PORT: something accepts connections on 127.0.0.1:PORT.
port_up() {
	"$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
	    "$1" 2>/dev/null
}

# send PORT FILE RCPT: one SMTP transaction to the smtpd on PORT.
send() {
	"$DPY" - "$@" <<'EOP'
import smtplib, sys
port, path, rcpt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
    s.sendmail("noreply@github.com", [rcpt], open(path, "rb").read())
EOP
}

# github_mail FILE ID CODE [SIGN [HEADER]]: a GitHub sign-in mail to
# bot+ID@otp.example.com; SIGN "sign": DKIM-signed by github.com (s1);
# HEADER: a header line the sender puts on top.
github_mail() {
	"$DPY" - "$T/$1" "$2" "$3" "${4:-}" "${5:-}" "$T/dkim/s1.private" <<'EOP'
import sys, email.utils, dkim
path, ident, code, sign, extra, key = sys.argv[1:7]
msg = ("%sFrom: GitHub <noreply@github.com>\r\n"
       "To: bot+%s@otp.example.com\r\n"
       "Subject: [GitHub] Please verify your device\r\n"
       "Date: %s\r\n"
       "Message-ID: <%s@github.example>\r\n"
       "\r\n"
       "Verification code: %s\r\n"
       % (extra + "\r\n" if extra else "", ident, email.utils.formatdate(), ident, code)).encode()
if sign == "sign":
    sig = dkim.sign(msg, b"s1", b"github.com", open(key, "rb").read(),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    msg = sig + msg
open(path, "wb").write(msg)
EOP
	CODES="$CODES $3"
}

start_time=$(date +%s)
chmod 0755 "$T"                  # postfix and opendkim read below $T
set -- $(free_ports 3)
MPORT=$1 SMILTER=$2 SPLAIN=$3

# --- OpenDKIM, verify mode, keys from a file -----------------------------------
mkdir -p "$T/dkim"
run opendkim-genkey -b 1024 -d github.com -s s1 -D "$T/dkim"
is "$rc" 0 "opendkim-genkey makes a key for github.com"
# s1.txt is a zone file line: the p= tag split over quoted strings.
{
	printf 's1._domainkey.github.com '
	tr -d '\n' <"$T/dkim/s1.txt" | sed 's/^[^(]*(//; s/).*$//; s/"[[:space:]]*"//g; s/[[:space:]]*"//g; s/[[:space:]]*$//'
	echo
} >"$T/dkim/keys"
chmod 0644 "$T/dkim/keys"
cat >"$T/dkim/opendkim.conf" <<EOF
Mode			v
Socket			inet:$MPORT@127.0.0.1
AuthservID		mx.example.net
RemoveARFrom		mx.example.net
AlwaysAddARHeader	yes
TestPublicKeys		$T/dkim/keys
Syslog			no
UserID			opendkim
EOF
like "$(cat "$T/dkim/keys")" '^s1\._domainkey\.github\.com v=DKIM1; .*p=[A-Za-z0-9+/=]{100,}$' \
    "the public key is published to OpenDKIM as a TestPublicKeys line"
spawn opendkim -f -x "$T/dkim/opendkim.conf"
dkim_pid=$last_pid
ok "OpenDKIM listens on 127.0.0.1:$MPORT" wait_for 15 port_up "$MPORT"

# --- the endpoint and otpbridge's config (started later) -------------------------
ep_start . 0 "" requests.log
mkdir -p "$T/filters.d" "$T/db" "$T/run"
printf '%s\n' "$KEY" >"$T/api-key"
chmod 600 "$T/api-key"
cat >"$T/filters.d/10-github.conf" <<'EOF'
[github]
from = @github\.com$
require_auth = dkim
code = Verification code: (?<code>\d{6})
EOF
cat >"$T/otpbridge.conf" <<EOF
[push]
url = http://127.0.0.1:$ep_port/v1/credentials/totp
api_key_file = $T/api-key
timeout = 5
max_age = 15

[store]
path = $T/db/otpbridge.db

[filters]
dir = $T/filters.d

[lmtp]
listen = unix:$T/run/lmtp.sock
recipients = @otp\.example\.com$
socket_group = postfix

[auth]
trusted_authserv_id = mx.example.net
EOF
run "$OTPBRIDGE" -c "$T/otpbridge.conf" check
is "$rc/$err" "0/" "otpbridge check accepts the config, no warning (LMTP on a unix socket)"

# --- Postfix: smtpd with and without the milter, LMTP to otpbridge -------------
pf_config \
    "127.0.0.1:$SMILTER inet n - n - - smtpd -o smtpd_milters=inet:127.0.0.1:$MPORT" \
    "127.0.0.1:$SPLAIN  inet n - n - - smtpd" \
    -- \
    "inet_protocols = ipv4" \
    "myhostname = mx.example.net" \
    "mynetworks = 127.0.0.0/8" \
    "relay_domains = otp.example.com" \
    "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
    "milter_default_action = tempfail"
echo "otp.example.com    lmtp:unix:$T/run/lmtp.sock" >"$PF/transport"
pf_start
ok "the smtpd with the milter listens" wait_for 15 port_up "$SMILTER"
ok "the smtpd without it listens" wait_for 15 port_up "$SPLAIN"

# --- 1. freshness: a code that waited in Postfix's queue past max_age ---------------
github_mail late.eml late 730211 sign
send "$SMILTER" "$T/late.eml" bot+late@otp.example.com
is "$?" 0 "1: Postfix takes a signed mail while otpbridge is not running"
ok "1: and defers it (no LMTP socket yet)" \
    wait_for 30 nlog_ge 'to=<bot\+late@otp\.example\.com>,.*status=deferred' 1
late_at=$(date +%s)
# The condition under test is time itself: the mail must grow older than
# max_age (15 s) in Postfix's queue before otpbridge can take it.
older() { [ "$(date +%s)" -gt $((late_at + 16)) ]; }
wait_for 30 older
spawn "$OTPBRIDGE" -c "$T/otpbridge.conf" run 2>"$T/daemon.err"
dpid=$last_pid
ok "otpbridge run listens on its unix socket" wait_for 15 test -S "$T/run/lmtp.sock"
run timeout -k 5 30 postqueue -c "$PF" -f
ok "1: Postfix hands the queued mail over" \
    wait_for 30 nlog_ge 'to=<bot\+late@otp\.example\.com>,.*status=sent' 1
is "$(sent_reply late)" "250 2.0.0 <bot+late@otp.example.com> Ok: not forwarded (expired)" \
    "1: accepted and dropped: older than max_age counted from Postfix's Received: ($(($(date +%s) - late_at)) s after it was queued)"

# --- 2. signed by github.com, through OpenDKIM: pushed -------------------------------
github_mail signed.eml signed 730212 sign
send "$SMILTER" "$T/signed.eml" bot+signed@otp.example.com
is "$?" 0 "2: Postfix takes the signed mail"
ok "2: it is pushed with its code (OpenDKIM's dkim=pass above Postfix's Received:)" \
    wait_for 30 pushed_is signed '["730212"]'
like "$(sent_reply signed)" '^250 2\.0\.0 <bot\+signed@otp\.example\.com> Ok: queued as [0-9]+$' \
    "2: Postfix logs our 250 queued"

# --- 3. a forged header, through OpenDKIM: removed, dkim=none ------------------------
FORGED='Authentication-Results: mx.example.net; dkim=pass header.d=github.com header.s=s1'
github_mail forged.eml forged 730213 "" "$FORGED"
send "$SMILTER" "$T/forged.eml" bot+forged@otp.example.com
is "$?" 0 "3: Postfix takes the unsigned mail with a forged header"
ok "3: and hands it over" \
    wait_for 30 nlog_ge 'to=<bot\+forged@otp\.example\.com>,.*status=sent' 1
is "$(sent_reply forged)" "250 2.0.0 <bot+forged@otp.example.com> Ok: not forwarded (auth-fail)" \
    "3: through OpenDKIM the forged header does not pass: auth-fail"

# --- 4. the same forged header, no milter: below Received:, not trusted ---------------
github_mail nomilter.eml nomilter 730214 "" "$FORGED"
send "$SPLAIN" "$T/nomilter.eml" bot+nomilter@otp.example.com
is "$?" 0 "4: the smtpd without a milter takes it"
ok "4: and hands it over" \
    wait_for 30 nlog_ge 'to=<bot\+nomilter@otp\.example\.com>,.*status=sent' 1
is "$(sent_reply nomilter)" "250 2.0.0 <bot+nomilter@otp.example.com> Ok: not forwarded (auth-fail)" \
    "4: the forged header stands below Postfix's Received: and does not count: auth-fail"
like "$(cat "$T/daemon.err")" 'rcpt=bot\+nomilter@otp\.example\.com filter=github result=dropped reason=auth-fail detail="the trusted Authentication-Results does not stand above the topmost Received:' \
    "4: the daemon's log says why"

# --- the end ------------------------------------------------------------------------
is "$(pyq "$REQ" 'sorted(b["totp_identifier"] for b in B)')" '["bot+signed@otp.example.com"]' \
    "only the signed, fresh code was pushed"
leaked=""
for c in $CODES; do grep -qF -- "$c" "$T/daemon.err" && leaked="$leaked $c"; done
is "$leaked" "" "the daemon's log shows no code"
stop "$dpid"
is "$stop_rc" 0 "otpbridge exits 0 on SIGTERM"
pf_stop
stop "$dkim_pid"
stop "$ep_pid"
echo "# runtime $(($(date +%s) - start_time)) s"
done_testing
