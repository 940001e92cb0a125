#!/bin/sh
# imap-dovecot.sh - a private Dovecot for test-imap (loopback only).
#   imap-dovecot.sh start DIR [PID] -> prints "IMAPS_PORT IMAP_PORT" on stdout;
#       with PID, a watchdog stops Dovecot, removes DIR and releases the
#       two ports (tests/ports.py, reserved for PID) once PID is gone
#       (a failed g_assert aborts the test before its own clean-up)
#   imap-dovecot.sh stop DIR
# DIR must exist and be empty on start.  Creates DIR/ca.pem (the CA that
# signs the server cert), DIR/other-ca.pem (a CA that does not), a user
# "bot" with password "secret", mail in DIR/mail/bot (maildir, owned by
# nobody), and DIR/dovecot.conf.  Listens on 127.0.0.1 and 127.0.0.2;
# the certificate names only 127.0.0.1 and localhost.
#
# OAuth mode: with OAUTH_INTROSPECT_URL set at start (e.g. the /introspect
# of tests/oauth-server.py), Dovecot also offers AUTHENTICATE XOAUTH2 and
# OAUTHBEARER, checked by an oauth2 passdb (DIR/dovecot-oauth2.conf.ext)
# that POSTs token=... to that URL for every login (no auth cache) and
# accepts {"active":true,"username":"bot"}.  LOGIN and PLAIN with "secret"
# work as before; a token is never tried as a password, nor the password
# as a token.  Auth results (not secrets) go to DIR/dovecot.log.
set -eu
cmd=$1
T=$2
watch=${3:-}
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
case $cmd in
start)
	cd "$T"
	chmod 755 "$T"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=otpbridge test CA" \
		-keyout ca.key -out ca.pem >/dev/null 2>&1
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" \
		-keyout other-ca.key -out other-ca.pem >/dev/null 2>&1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
		-keyout server.key -out server.csr >/dev/null 2>&1
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > ext.cnf
	openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-days 2 -extfile ext.cnf -out server.pem >/dev/null 2>&1
	# Two ports no parallel test can take before Dovecot binds them
	# (tests/ports.py), reserved for PID, released once it is gone.
	ports=$(python3 "$(dirname "$self")/ports.py" 2 "${watch:-$$}")
	set -- $ports
	imaps=$1; imap=$2
	mkdir -p base state mail/bot
	chown -R nobody:nogroup mail
	echo "bot:{PLAIN}secret::::::" > passwd
	chmod 644 passwd
	# OAuth mode: the passwd-file passdb must not see XOAUTH2 (Dovecot
	# hands the token to the passdbs as the password) but must still
	# answer lookups without a mechanism ("none": doveadm's user lookup
	# through the static userdb); the oauth2 passdb sees only the token
	# mechanisms.
	pw_mechs=
	[ -z "${OAUTH_INTROSPECT_URL:-}" ] || pw_mechs='
  mechanisms = plain login none'
	cat > dovecot.conf <<CONF
base_dir = $T/base
state_dir = $T/state
log_path = $T/dovecot.log
protocols = imap
listen = 127.0.0.1, 127.0.0.2
ssl = yes
ssl_cert = <$T/server.pem
ssl_key = <$T/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login${OAUTH_INTROSPECT_URL:+ xoauth2 oauthbearer}
mail_location = maildir:$T/mail/%u
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
mail_privileged_group =
passdb {
  driver = passwd-file$pw_mechs
  args = scheme=PLAIN $T/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$T/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1, 127.0.0.2
    port = $imap
  }
  inet_listener imaps {
    address = 127.0.0.1, 127.0.0.2
    port = $imaps
    ssl = yes
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
protocol imap {
  mail_max_userip_connections = 50
}
CONF
	if [ -n "${OAUTH_INTROSPECT_URL:-}" ]; then
		cat >> dovecot.conf <<CONF
# OAuth mode (OAUTH_INTROSPECT_URL)
auth_cache_size = 0
auth_verbose = yes
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $T/dovecot-oauth2.conf.ext
}
CONF
		cat > dovecot-oauth2.conf.ext <<CONF
introspection_url = $OAUTH_INTROSPECT_URL
introspection_mode = post
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 10000
CONF
	fi
	dovecot -c "$T/dovecot.conf" </dev/null >/dev/null 2>&1
	# Wait until both ports accept connections.
	i=0
	while [ $i -lt 100 ]; do
		if python3 -c "
import socket,sys
for p in ($imaps,$imap):
    socket.create_connection(('127.0.0.1',p),1).close()" 2>/dev/null; then
			if [ -n "$watch" ]; then
				(cd / && while kill -0 "$watch" 2>/dev/null; do sleep 1; done
				 sh "$self" stop "$T"; rm -rf "$T"
				 python3 "$(dirname "$self")/ports.py" --release "$watch") </dev/null >/dev/null 2>&1 &
			fi
			echo "$imaps $imap"
			exit 0
		fi
		sleep 0.1
		i=$((i+1))
	done
	echo "dovecot did not start" >&2
	cat "$T/dovecot.log" >&2 || true
	exit 1
	;;
stop)
	if [ -f "$T/base/master.pid" ]; then
		pid=$(cat "$T/base/master.pid")
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
		kill -9 "$pid" 2>/dev/null || true
	fi
	;;
esac
