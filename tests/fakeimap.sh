# fakeimap.sh - one account against tests/imap-after.py, the scripted IMAP
# server, for imap-after.sh and imap-exists.sh; sourced after testlib.sh.
# The test provides $T, $ep_port (the push endpoint), $T/key, $T/pass
# and the filters in $T/f.  Everything of account S is under $T/S.

# fake_imap_start S CAPS [server options]: S's server; bails if it does not start.
fake_imap_start() {
	_fs=$1 _fcaps=$2
	shift 2
	mkdir -p "$T/$_fs/mail"
	spawn "$PY" "$top_srcdir/tests/imap-after.py" "$T/$_fs/port" "$T/$_fs/wire" \
	    "$T/$_fs/state.json" "$T/$_fs/mail" --caps "$_fcaps" "$@"
	wait_for 15 test -s "$T/$_fs/port" || bail "imap-after.py for $_fs did not start"
}

# fake_imap_daemon S IDENTIFIER [KEY=VALUE ...]: a daemon watching S's
# server for IDENTIFIER, the lines given added to [imap:S]; its pid in
# $T/S/pid, its stderr in $T/S/daemon.err.
fake_imap_daemon() {
	_fs=$1 _fid=$2
	shift 2
	cat >"$T/$_fs/c.conf" <<EOC
[push]
url = http://127.0.0.1:$ep_port/v1/credentials/totp
api_key_file = $T/key
timeout = 5
[store]
path = $T/$_fs/db/otpbridge.db
[lmtp]
listen =
[filters]
dir = $T/f
[imap:$_fs]
host = 127.0.0.1
port = $(cat "$T/$_fs/port")
tls = none
user = bot
password_file = $T/pass
identifier = $_fid
EOC
	printf '%s\n' "$@" >>"$T/$_fs/c.conf"
	spawn "$OTPBRIDGE" -c "$T/$_fs/c.conf" run 2>"$T/$_fs/daemon.err"
	echo "$last_pid" >"$T/$_fs/pid"
}
