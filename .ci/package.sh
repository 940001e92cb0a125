#!/bin/sh
# package.sh - CI stage: the Debian package.  Builds it from a clean export
# of HEAD with dpkg-buildpackage -us -uc -b, runs lintian (no error may
# remain; warnings are printed), installs the .deb on this machine, runs
# `otpbridge check` and `otpbridge test` as the package's user on its
# conffiles, and purges it again.  TAP on stdout.  Run from the top of a
# clone, as root, after `sh contrib/setup-debian.sh packaging`.
top_srcdir=$(pwd)
. "$top_srcdir/tests/testlib.sh"

purge() {
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 purge -y -qq otpbridge >/dev/null 2>&1
	dpkg-query -W -f='${Status}' otpbridge 2>/dev/null | grep -q "ok installed" && return 1
	return 0
}
trap 'purge; cleanup' EXIT

ver=$(sed -n '1s/^otpbridge (\([^)]*\)).*/\1/p' debian/changelog)
mkdir -p "$T/b"
git archive --prefix="otpbridge-$ver/" HEAD | tar -x -C "$T/b"
start=$(date +%s)
ok "dpkg-buildpackage -us -uc -b" sh -c \
    'cd "$1" && dpkg-buildpackage -us -uc -b >"$2" 2>&1' sh "$T/b/otpbridge-$ver" "$T/build.log"
[ "$_failed" = 0 ] || tail -40 "$T/build.log" | sed 's/^/# /'
echo "# package build: $(($(date +%s) - start)) s"
deb=$T/b/otpbridge_${ver}_$(dpkg --print-architecture).deb
ok "the .deb exists" test -s "$deb"
echo "# package size: $(stat -c %s "$deb") bytes (.deb), installed: $(dpkg-deb -f "$deb" Installed-Size) KiB"
lintian --fail-on error "$T/b/"*.changes >"$T/lintian.out" 2>&1
lrc=$?
sed 's/^/# lintian: /' "$T/lintian.out"
is "$lrc" 0 "lintian: no errors"
is "$(grep -c '^E:' "$T/lintian.out")" 0 "lintian: no E: lines"
for f in usr/bin/otpbridge usr/bin/otpbridge-deliver lib/systemd/system/otpbridge.service etc/otpbridge/otpbridge.conf \
    etc/otpbridge/filters.d/10-github.conf usr/share/man/man8/otpbridge.8.gz \
    usr/share/man/man5/otpbridge.conf.5.gz usr/share/man/man5/otpbridge-filters.5.gz; do
	ok "the package holds /$f" sh -c 'dpkg-deb -c "$1" 2>/dev/null | grep -q " \./$2\$"' sh "$deb" "$f"
done
ok "/etc/otpbridge files are conffiles" sh -c \
    'dpkg-deb -I "$1" conffiles | grep -qx /etc/otpbridge/otpbridge.conf' sh "$deb"

purge
ok "apt-get install ./otpbridge.deb" sh -c \
    'DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$1" >"$2" 2>&1' sh "$deb" "$T/install.log"
[ "$_failed" = 0 ] || tail -20 "$T/install.log" | sed 's/^/# /'
ok "the package made the system user otpbridge" getent passwd otpbridge
like "$(stat -c '%U:%G %a' /var/lib/otpbridge 2>&1)" '^otpbridge:otpbridge 750$' \
    "/var/lib/otpbridge belongs to the user, 0750"
like "$(stat -c '%U:%G %a' /etc/otpbridge 2>&1)" '^root:otpbridge 750$' \
    "/etc/otpbridge is root:otpbridge 0750"
out=$(runuser -u otpbridge -- /usr/bin/otpbridge check 2>&1)
rc=$?
echo "# $out"
is "$rc" 0 "otpbridge check as the package's user, on the shipped conffiles"
like "$out" 'ok: .* filters' "check reports the filter library"
out=$(runuser -u otpbridge -- /usr/bin/otpbridge test "$top_srcdir/contrib/samples/newsletter.eml" 2>&1)
is "$?" 0 "otpbridge test as the package's user"
ok "the unit is installed but neither enabled nor started" sh -c \
    '! systemctl is-enabled otpbridge.service >/dev/null 2>&1'
ok "purge removes the package and its store" sh -c \
    'DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 purge -y -qq otpbridge >/dev/null 2>&1 && ! test -e /var/lib/otpbridge && ! test -e /usr/bin/otpbridge'
done_testing
