#!/bin/sh
# systemd.sh - the shipped unit (contrib/otpbridge.service.in, SPEC 7):
# `systemd-analyze verify` accepts it (with ExecStart pointing at the
# built binary, since verify checks that the executable exists, and the
# man pages of Documentation= found through MANPATH), and
# `systemd-analyze security --offline=true` rates its sandbox 2.0 or lower.
. "${top_srcdir:-.}/tests/testlib.sh"
: "${top_builddir:=.}"

MAX_EXPOSURE=2.0
SA=$(command -v systemd-analyze)
if [ -z "$SA" ]; then
	_result 1 "systemd-analyze is installed"
	echo "# systemd-analyze not found: install the Debian package 'systemd'"
	echo "# (contrib/setup-debian.sh does)"
	done_testing
	exit 1
fi

# The unit as `make` generates it; else generated here from the template.
IN="$top_srcdir/contrib/otpbridge.service.in"
GEN="$top_builddir/contrib/otpbridge.service"
ok "the unit template exists" test -f "$IN"
if [ -f "$GEN" ]; then
	SRC=$GEN
else
	echo "# $GEN not built: substituting the template here"
	sed -e 's|@bindir@|/usr/local/bin|g' -e 's|@sysconfdir@|/usr/local/etc|g' \
	    "$IN" >"$T/generated.service"
	SRC="$T/generated.service"
fi
unlike "$(cat "$SRC")" '@[a-z]+@' "no @placeholder@ is left in the unit"
like "$(grep '^ExecStart=' "$SRC")" '^ExecStart=/[^ ]*/otpbridge -c /[^ ]*/otpbridge/otpbridge\.conf run$' \
    "ExecStart runs 'otpbridge -c SYSCONFDIR/otpbridge/otpbridge.conf run'"
like "$(grep '^Type=' "$SRC")" '^Type=notify$' "Type=notify"
# WatchdogSec needs WATCHDOG=1 keep-alives, which the daemon does not send.
if grep -q 'WATCHDOG=1' "$top_srcdir"/src/*.c; then
	_result 0 "WatchdogSec: the daemon sends WATCHDOG=1 (either way is fine)"
else
	unlike "$(grep -v '^#' "$SRC")" '^WatchdogSec=' \
	    "no WatchdogSec= while the daemon sends no WATCHDOG=1"
fi

# verify needs the executable of ExecStart to exist: the built one.
mkdir -p "$T/unit"
U="$T/unit/otpbridge.service"
sed -e "s|^ExecStart=[^ ]*|ExecStart=$OTPBRIDGE|" "$SRC" >"$U"
ok "the built binary exists ($OTPBRIDGE)" test -x "$OTPBRIDGE"

# Documentation=man:... is checked with man(1): point MANPATH at doc/.
mkdir -p "$T/man/man5" "$T/man/man8"
for p in otpbridge.8 otpbridge.conf.5 otpbridge-filters.5; do
	s=${p##*.}
	ln -s "$(cd "$top_srcdir/doc" && pwd)/$p" "$T/man/man$s/$p"
done
if command -v man >/dev/null 2>&1; then
	MANOPT=--man=yes
else
	echo "# man(1) not installed: Documentation= not checked"
	MANOPT=--man=no
fi
run env MANPATH="$T/man" SYSTEMD_LOG_LEVEL=notice "$SA" verify "$MANOPT" "$U"
is "$rc" 0 "systemd-analyze verify accepts the unit"
is "$out$err" "" "and says nothing about it"
[ "$rc" = 0 ] || printf '# %s\n' "$out" "$err"

run "$SA" security --offline=true --no-pager "$U"
is "$rc" 0 "systemd-analyze security --offline=true runs"
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p')
like "$level" '^[0-9]+\.[0-9]$' "it prints an overall exposure level ($level)"
if [ -n "$level" ] && awk -v l="$level" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
	_result 0 "exposure level $level <= $MAX_EXPOSURE"
else
	_result 1 "exposure level ${level:-?} <= $MAX_EXPOSURE"
	printf '%s\n' "$out" | grep '✗' | head -25 | sed 's/^/# /'
fi

done_testing
