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
MNT=""           # a tmpfs the test mounted: unmounted on exit (then MNT="")
# cleanup: what the EXIT trap runs (a test with more to undo traps
# 'its_own; cleanup'): stops every process started through spawn, then
# unmounts $MNT (no process holds it open now), then removes $T.  Safe
# under set -e (bench/bench-pull.sh).
cleanup() {
	set +e
	for p in $_pids; do kill "$p" 2>/dev/null; done
	for p in $_pids; do wait "$p" 2>/dev/null; done
	_pids=""
	if [ -n "$MNT" ]; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
		MNT=""
	fi
	rm -rf "$T"
	# the ports free_ports reserved for this test (from /: a test may
	# have been in $T, now gone, and a python wrapper may need a cwd)
	[ ! -d "${TMPDIR:-/tmp}/otpbridge-ports" ] ||
	    (_r=$(cd "$top_srcdir" && pwd)/tests/ports.py && cd / &&
	    "${PY:-python3}" "$_r" --release "$$") 2>/dev/null
}
trap cleanup EXIT
# A signal (make check interrupted) exits through the EXIT trap too.
trap 'exit 130' INT TERM HUP
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
# skip N REASON: N test points skipped.
skip() {
	_k=$1
	while [ "$_k" -gt 0 ]; do
		_n=$((_n + 1))
		echo "ok $_n # SKIP $2"
		_k=$((_k - 1))
	done
}
# skip_all REASON: the whole test is skipped (before any test point).
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}
# bail REASON: the test cannot go on (what it needs did not start).
bail() {
	echo "Bail out! $1"
	exit 1
}
# ---- helpers for the integration tests ----------------------------------
: "${PY:=${PYTHON:-python3}}"
# store_lock MODE DB READY [RELEASE]: another process takes the store's
# lock (tests/store-lock.py: write, exclusive or all) and creates READY;
# it lets go once RELEASE exists (or when killed).  Its pid: $last_pid.
store_lock() {
	spawn "$PY" "$top_srcdir/tests/store-lock.py" "$@"
}
# The contract-enforcing push endpoint (ep_start).
EP=$top_srcdir/tests/endpoint.py
# The fake API key it demands, which the configs name in an api_key_file;
# pyq's K.  OTPBRIDGE_API_KEY is unset: it would win over api_key_file.
KEY=test-key-not-real
PUSH_TEST_KEY=$KEY
export PUSH_TEST_KEY
unset OTPBRIDGE_API_KEY

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

# rand: a fresh URL-safe random string (secrets, tokens a test mints).
rand() { "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))'; }
# now: the time, in seconds with a fraction; since T: seconds from T to
# now, to one decimal.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# loglines FILE: how many lines FILE has (0 when it does not exist yet),
# to read only what a log gained after a point.
loglines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

# free_ports N: N distinct loopback TCP ports nothing listens on, for
# listeners started later, space-separated.  free_port: one.  They come
# from below the kernel's ephemeral range, reserved for this test until
# it exits (tests/ports.py): no other test, and no bind(0) or outgoing
# connection, takes one between the choice and the listener's bind.
free_ports() {
	"$PY" "$top_srcdir/tests/ports.py" "$1" "$$" || bail "no free ports"
}
free_port() { free_ports 1; }

# ep_start S PORT [SCRIPT [LOG [endpoint options]]]: starts the endpoint
# for S on loopback PORT (0: any), answering SCRIPT (endpoint.py --script;
# "": always 200) and logging to $T/S/LOG (requests.log); waits until it
# listens.  Sets ep_pid and ep_port; bails out (a failure, never a skip)
# if it did not start.  S is a directory under $T ("." for $T itself);
# its port file is $T/S/port.
ep_start() {
	_e=$T/$1
	_p=$2
	_scr=${3:-}
	_log=${4:-requests.log}
	[ $# -ge 4 ] && shift 4 || shift $#
	mkdir -p "$_e"
	rm -f "$_e/port"
	spawn "$PY" "$EP" --port "$_p" --port-file "$_e/port" --key "$KEY" \
	    --script "$_scr" --log "$_e/$_log" "$@"
	ep_pid=$last_pid
	ep_port=""
	wait_for 15 test -s "$_e/port" || bail "the endpoint for $_e did not start"
	ep_port=$(cat "$_e/port")
}

# acme_filter DIR [LINE...]: DIR/10-acme.conf, the filter [acme] for the
# mail of codes@acme.example; the LINEs follow its from line (without
# any: code = (?<code>\d{6}), a six-digit code).
acme_filter() {
	_d=$1
	shift
	[ $# -gt 0 ] || set -- 'code = (?<code>\d{6})'
	mkdir -p "$_d"
	{
		echo "# Acme sends its codes from one address"
		echo "[acme]"
		echo 'from = ^codes@acme\.example$'
		for l in "$@"; do echo "$l"; done
	} >"$_d/10-acme.conf"
}

# mail S FILE ID TO CODE [FROM]: $T/S/FILE (S "." for $T itself), a mail
# to TO carrying CODE, from Acme (codes@acme.example) unless FROM names
# another sender, with Message-ID <ID@acme.example>.  CODE joins $CODES
# (see secrets_checked).
CODES=""
mail() {
	CODES="$CODES $5"
	cat >"$T/$1/$2" <<EOM
Return-Path: <${6:-codes@acme.example}>
From: Sender <${6:-codes@acme.example}>
To: $4
Subject: Your sign-in code
Date: Tue, 25 Nov 2025 10:00:00 +0000
Message-ID: <$3@acme.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello,

Your code is $5. It expires in 10 minutes.
EOM
}

# mount_tmpfs DIR SIZE [MODE]: a tmpfs of SIZE mounted on DIR (made if
# need be), as $MNT: unmounted on exit unless the test does it first
# (umount "$MNT" && MNT="").  Else false, and $no_tmpfs says why: "not
# root", or "cannot mount a tmpfs".
mount_tmpfs() {
	if [ "$(id -u)" != 0 ]; then
		no_tmpfs="not root"
		return 1
	fi
	mkdir -p "$1"
	if ! mount -t tmpfs -o "size=$2${3:+,mode=$3}" tmpfs "$1"; then
		no_tmpfs="cannot mount a tmpfs"
		return 1
	fi
	MNT=$1
}

# ---- one daemon per directory $T/S, pushing to its endpoint: push.sh and
# lmtp.sh (each S has its config, filter, key, store, stderr and log).

# conf S PUSHPORT [LINE...]: writes $T/S/otpbridge.conf, with the Acme
# filter (its ${plus} names a workflow run) and the key file it names.
# [push] goes to the endpoint on PUSHPORT with api_key_file and timeout =
# 2; the LINEs before the first "[group]" one are more [push] settings
# ("nokey": no api_key_file; a timeout replaces the 2 s).  [store] is at
# $store_path, or $T/S/db/otpbridge.db; [filters] at $T/S/filters.d.  The
# LINEs from the first "[group]" on follow verbatim; without an [lmtp]
# group among them the daemon has no LMTP listener.
conf() {
	_c=$T/$1
	_port=$2
	shift 2
	acme_filter "$_c/filters.d" 'code = (?<code>\d{6})' 'workflow_run_id = ${plus}'
	printf '%s\n' "$KEY" >"$_c/api-key"
	chmod 600 "$_c/api-key"
	_c_key=yes _c_timeout=yes _c_lmtp=no _in=push
	for l in "$@"; do
		case $l in "["*) _in=groups ;; esac
		case $_in:$l in
		push:nokey) _c_key=no ;;
		push:"timeout = "*) _c_timeout=no ;;
		groups:"[lmtp]") _c_lmtp=yes ;;
		esac
	done
	{
		echo "[push]"
		echo "url = http://127.0.0.1:$_port/v1/credentials/totp"
		[ "$_c_key" = no ] || echo "api_key_file = $_c/api-key"
		[ "$_c_timeout" = no ] || echo "timeout = 2"
		for l in "$@"; do
			case $l in "["*) break ;; nokey) ;; *) echo "$l" ;; esac
		done
		echo
		echo "[store]"
		echo "path = ${store_path:-$_c/db/otpbridge.db}"
		echo
		echo "[filters]"
		echo "dir = $_c/filters.d"
		echo
		if [ "$_c_lmtp" = no ]; then
			echo "# no LMTP listener: these daemons only push, several at once"
			echo "[lmtp]"
			echo "listen ="
		fi
		_in=push
		for l in "$@"; do
			case $l in "["*) _in=groups ;; esac
			[ "$_in" = push ] || echo "$l"
		done
	} >"$_c/otpbridge.conf"
}

# daemon S [NAME]: starts `otpbridge run` for S, stderr in $T/S/NAME.err
# (daemon.err); sets dpid.
daemon() {
	spawn "$OTPBRIDGE" -c "$T/$1/otpbridge.conf" run 2>"$T/$1/${2:-daemon}.err"
	dpid=$last_pid
}

# daemon_ts S NAME: `otpbridge run` for S like daemon (stderr in
# $T/S/NAME.err), each line of its stderr also in $T/S/NAME.ts stamped
# with the time it was read ("SECONDS LINE"); sets dpid.
daemon_ts() {
	mkfifo "$T/$1/$2.fifo"
	spawn "$PY" -c '
import sys, time
src = open(sys.argv[1], "rb", buffering=0)
err = open(sys.argv[2], "ab", buffering=0)
ts = open(sys.argv[3], "ab", buffering=0)
buf = b""
while True:
    d = src.read(65536)
    if not d:
        break
    t = time.time()
    err.write(d)
    buf += d
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        ts.write(b"%.6f %s\n" % (t, line))
' "$T/$1/$2.fifo" "$T/$1/$2.err" "$T/$1/$2.ts"
	spawn "$OTPBRIDGE" -c "$T/$1/otpbridge.conf" run 2>"$T/$1/$2.fifo"
	dpid=$last_pid
}

# ob S ARGS...: otpbridge -c $T/S/otpbridge.conf ARGS (bounded to 60 s),
# via run; its stderr is also kept in $T/all-stderr.log for the final
# secret checks (secrets_checked).
ob() {
	_s=$1
	shift
	run timeout -k 5 60 "$OTPBRIDGE" -c "$T/$_s/otpbridge.conf" "$@"
	printf '%s\n' "$err" >>"$T/all-stderr.log"
}

# qj S EXPR: EXPR over L, the jobs of `queue list --json` (newest first).
qj() {
	timeout 60 "$OTPBRIDGE" -c "$T/$1/otpbridge.conf" queue list --json \
	    >"$T/$1/q.json" 2>>"$T/all-stderr.log"
	pyq "$T/$1/q.json" "$2"
}

# secrets_checked: two test points at the end: no otpbridge output (the
# stderr of every daemon, $T/*/*.err, and what the test kept in
# $T/all-stderr.log) shows the API key, nor any code of $CODES.
secrets_checked() {
	cat "$T"/*/*.err >>"$T/all-stderr.log" 2>/dev/null
	ok "no otpbridge output shows the API key" \
	    sh -c '! grep -qF -- "$1" "$2"' sh "$KEY" "$T/all-stderr.log"
	leaked=""
	for c in $CODES; do
		grep -qF -- "$c" "$T/all-stderr.log" && leaked="$leaked $c"
	done
	is "$leaked" "" "no log line shows a code"
}

done_testing() {
	echo "1..$_n"
	[ "$_failed" = 0 ]
}
