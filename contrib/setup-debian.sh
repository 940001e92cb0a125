#!/bin/sh
# Installs every Debian 12 package that building and testing otpbridge needs.
# Idempotent; run as root. Postfix is preseeded so it installs without questions.
# "setup-debian.sh packaging" also installs what the Debian package and the
# container image are built and tried with (.ci/package.sh, .ci/container.sh),
# and lcov for `make coverage`.
set -eu
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
pkgs="build-essential autoconf automake libtool pkg-config
 libglib2.0-dev libgmime-3.0-dev libetpan-dev libpcre2-dev libcurl4-gnutls-dev
 libgnutls28-dev libsasl2-modules libsqlite3-dev libjson-glib-dev libgumbo-dev libmicrohttpd-dev libsystemd-dev
 clang libclang-rt-14-dev python3 swaks dovecot-imapd postfix openssl sqlite3 curl
 prometheus
 systemd opendkim opendkim-tools python3-dkim"
if [ "${1:-}" = packaging ]; then
	pkgs="$pkgs debhelper dh-autoreconf dpkg-dev fakeroot lintian
 mmdebstrap podman podman-compose python3-yaml uidmap lcov"
fi
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
fi
