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
# ---- helpers for the integration tests ----------------------------------
: "${PY:=${PYTHON:-python3}}"

# wait_for SECONDS CMD...: polls CMD every 0.2 s; its status at the end.
wait_for() {
	_w=$(($1 * 5))
	shift
	while [ "$_w" -gt 0 ]; do
		"$@" && return 0
		sleep 0.2
		_w=$((_w - 1))
	done
	"$@"
}

# alive PID: running (not gone, not a zombie waiting to be reaped).
alive() {
	_st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$_st" ] && [ "$_st" != Z ]
}
dead() { ! alive "$1"; }

# stop PID [SIGNAL]: signals a child of ours (0: none, just wait), waits
# at most 30 s, reaps it; $stop_rc.
stop() {
	[ "${2:-TERM}" = 0 ] || kill -"${2:-TERM}" "$1" 2>/dev/null
	_w=150
	while alive "$1" && [ "$_w" -gt 0 ]; do
		sleep 0.2
		_w=$((_w - 1))
	done
	if alive "$1"; then
		echo "# pid $1 still running after 30 s: killing it"
		kill -9 "$1" 2>/dev/null
	fi
	wait "$1"
	stop_rc=$?
	_pids=$(printf ' %s ' $_pids | sed "s/ $1 / /")
}

# pyq FILE EXPR: the Python EXPR over L, the JSON lines of FILE (empty
# when missing); K is $PUSH_TEST_KEY, B the bodies of the pushes answered
# 200 (endpoint.py logs).  A string prints as is, anything else as JSON.
pyq() {
	"$PY" - "$1" "$2" <<'EOP'
import json, os, sys
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        L = [json.loads(l) for l in f if l.strip()]
except FileNotFoundError:
    L = []
K = os.environ.get("PUSH_TEST_KEY")
try:
    B = [json.loads(r["body"]) for r in L if r.get("status") == 200]
except Exception:
    B = []
try:
    r = eval(sys.argv[2])
except Exception as e:
    r = "error: %s: %s" % (type(e).__name__, e)
print(r if isinstance(r, str) else json.dumps(r))
EOP
}

done_testing() {
	echo "1..$_n"
	[ "$_failed" = 0 ]
}
