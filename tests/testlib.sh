# testlib.sh - TAP helpers for the shell tests.  Source it, call plan N
# (or done_testing at the end), then is/ok/like.  Each test gets a private
# temp dir in $T, removed on exit with every process started through spawn.
set -u
: "${OTPBRIDGE:=./otpbridge}"
: "${top_srcdir:=.}"
T=$(mktemp -d "${TMPDIR:-/tmp}/otpbridge-test.XXXXXX")
_n=0
_failed=0
_pids=""
cleanup() {
	for p in $_pids; do kill "$p" 2>/dev/null; done
	for p in $_pids; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
_result() { # ok? description
	_n=$((_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $_n - $2"
	else
		echo "not ok $_n - $2"
		_failed=$((_failed + 1))
	fi
}
ok() { # description command...
	d=$1; shift
	if "$@"; then _result 0 "$d"; else _result 1 "$d"; fi
}
is() { # got want description
	if [ "$1" = "$2" ]; then
		_result 0 "$3"
	else
		_result 1 "$3"
		printf '#   got:  %s\n#   want: %s\n' "$1" "$2"
	fi
}
like() { # got pattern description  (grep -E pattern)
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		_result 0 "$3"
	else
		_result 1 "$3"
		printf '#   got:  %s\n#   want /%s/\n' "$1" "$2" | head -20
	fi
}
unlike() {
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		_result 1 "$3"
		printf '#   got:  %s\n#   must not match /%s/\n' "$1" "$2" | head -20
	else
		_result 0 "$3"
	fi
}
# run CMD...: sets $rc, $out (stdout) and $err (stderr)
run() {
	"$@" >"$T/.out" 2>"$T/.err"
	rc=$?
	out=$(cat "$T/.out")
	err=$(cat "$T/.err")
}
spawn() { # starts a background process and remembers its pid
	"$@" &
	_pids="$_pids $!"
	last_pid=$!
}
done_testing() {
	echo "1..$_n"
	[ "$_failed" = 0 ]
}
