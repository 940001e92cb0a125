# imaplib.sh - what the IMAP tests (imap.sh, imap-more.sh, imap-oauth.sh)
# share: a private Dovecot (tests/imap-dovecot.sh, user bot, password
# "secret"), the push endpoint, mail saved into bot's mailboxes, and the
# daemon's config.  Source it after testlib.sh; it skips the whole test
# unless it runs as root with Dovecot installed.

DOVE=$top_srcdir/tests/imap-dovecot.sh

if [ "$(id -u)" != 0 ] || ! command -v dovecot >/dev/null; then
	skip_all "needs root and dovecot (contrib/setup-debian.sh installs it)"
fi

# imap_start [INTROSPECT-URL]: starts the private Dovecot in $T/dove (in
# OAuth mode, checking tokens at INTROSPECT-URL), stopped on exit; $IMAPS
# is its implicit-TLS port, $DC its config.  Then the push endpoint on any
# port (ep_port, log $T/ep.log); the key file $T/key, bot's password in
# $T/pass, the Acme filter in $T/f, and $HTTP, a free port for [http].
# Bails out when Dovecot or the endpoint does not start.
imap_start() {
	chmod 755 "$T"
	mkdir "$T/dove"
	ports=$(OAUTH_INTROSPECT_URL=${1:-} sh "$DOVE" start "$T/dove" $$) ||
	    bail "dovecot did not start"
	IMAPS=${ports% *}
	DC=$T/dove/dovecot.conf
	trap 'dove_stop; cleanup' EXIT
	ep_start . 0 "" ep.log
	[ -n "$ep_port" ] || bail "endpoint did not start"
	printf '%s\n' "$KEY" >"$T/key"
	printf 'secret\n' >"$T/pass"
	chmod 600 "$T/key" "$T/pass"
	HTTP=$(free_port)
	acme_filter "$T/f" 'code = auto'
}
# dove_stop: stops the private Dovecot (it can be started again with
# dovecot -c "$DC").
dove_stop() { sh "$DOVE" stop "$T/dove" >/dev/null 2>&1; }
# imaps_up: the private Dovecot accepts connections on $IMAPS.
imaps_up() {
	"$PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$IMAPS"
}

# imap_mail ID CODE: a mail from Acme to bot carrying CODE, Message-ID
# <ID@acme.example>, on stdout.
imap_mail() {
	printf 'From: Acme <codes@acme.example>\nTo: bot@otp.example.com\nSubject: Your Acme code\nMessage-ID: <%s@acme.example>\nDate: %s\n\nYour verification code is %s.\n' \
	    "$1" "$(date -R)" "$2"
}
# save MAILBOX ID CODE: that mail saved into one of bot's mailboxes.
save() { imap_mail "$2" "$3" | doveadm -c "$DC" save -u bot -m "$1"; }

# ncode CODE: how many pushes of CODE the endpoint accepted.
ncode() { pyq "$T/ep.log" "sum(1 for b in B if b['content'] == '$1')"; }
ncode_is() { [ "$(ncode "$1")" = "$2" ]; }
# logged FILE PATTERN: FILE (a log) has a line matching the grep -E PATTERN.
logged() { grep -Eq -- "$2" "$1" 2>/dev/null; }

# common DB: the part of the daemon's config that is not an account
# (store $T/DB/otpbridge.db, [http] on $HTTP, no LMTP).  Not "head":
# testlib's like and unlike run head(1).
common() {
	cat <<EOC
[push]
url = http://127.0.0.1:$ep_port/v1/credentials/totp
api_key_file = key
timeout = 2
[store]
path = $T/$1/otpbridge.db
[lmtp]
listen =
[http]
listen = inet:127.0.0.1:$HTTP
[filters]
dir = f
EOC
}
# imap_group NAME PORT: the head of an [imap:NAME] group for user bot on
# the private Dovecot at loopback PORT (implicit TLS, checked against its
# CA); how it logs in, and the rest, follow.
imap_group() {
	cat <<EOC
[imap:$1]
host = 127.0.0.1
port = $2
tls = implicit
ca_file = $T/dove/ca.pem
user = bot
EOC
}
# account NAME PORT MAILBOX AFTER [LINE...]: an [imap:NAME] group that
# logs in with the password in $T/pass, watches MAILBOX and does AFTER
# with what it pushed, identifier Bot@OTP.example.com, poll_interval = 5.
# A LINE "key = value" for password_file, identifier or poll_interval
# replaces that default; any other LINE is added.
account() {
	_an=$1 _ap=$2 _am=$3 _aa=$4
	shift 4
	imap_group "$_an" "$_ap"
	for _l in "password_file = pass" "identifier = Bot@OTP.example.com" "poll_interval = 5"; do
		case " $* " in
		*" ${_l%% = *} = "*) ;;
		*) echo "$_l" ;;
		esac
	done
	echo "mailbox = $_am"
	echo "after = $_aa"
	for _l in "$@"; do echo "$_l"; done
}

# start_daemon CONF ERRFILE [OPTION...]: `otpbridge OPTION... -c CONF run`,
# stderr in ERRFILE; sets dpid.
start_daemon() {
	_sc=$1 _se=$2
	shift 2
	spawn "$OTPBRIDGE" "$@" -c "$_sc" run 2>"$_se"
	dpid=$last_pid
}
