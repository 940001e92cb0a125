#!/bin/sh
# bench-restart.sh - kill -9 under load, not a test: the time from the
# restarted daemon's ready line ("started:") to the push of the last code
# the killed daemon had acknowledged.  Each trial: a daemon whose endpoint
# reads every push and never answers takes N messages over C LMTP
# connections and is killed with SIGKILL after K of them got 250, so
# every acknowledged job is leased to a dead process; then a new daemon
# starts with an endpoint that answers at once.  Per trial: jobs
# acknowledged, reclaimed, lost, pushed twice, and ready -> last push;
# then the median over the trials.  Loopback only.
# Usage: sh bench/bench-restart.sh ./otpbridge [TRIALS [N [C [K]]]]
set -u   # not -e: stop reaps a daemon killed on purpose (status 137)
BIN=$(realpath "${1:-./otpbridge}")
TRIALS=${2:-5} N=${3:-300} C=${4:-8} K=${5:-150}
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
. "$top_srcdir/tests/testlib.sh"
OTPBRIDGE=$BIN
PY=${PY:-python3}
hangs=$("$PY" -c "print(','.join(['hang'] * $N))")
: >"$T/ms"
for k in $(seq "$TRIALS"); do
	S=r$k
	port=$(free_port)
	conf "$S" "$port" "timeout = 10" "[lmtp]" "listen = unix:$T/$S/lmtp.sock"
	ep_start "$S" "$port" "$hangs" hang.log
	ep1=$ep_pid
	daemon "$S" d1
	d1=$dpid
	wait_for 15 grep -q 'started:' "$T/$S/d1.err"
	"$PY" "$top_srcdir/tests/lmtp-client.py" load "unix:$T/$S/lmtp.sock" \
	    "$T/$S/load.log" "$N" "$C" "$d1" "$K" >/dev/null
	stop "$d1" 0
	stop "$ep1"
	ep_start "$S" "$port" ""
	ep2=$ep_pid
	acked=$(pyq "$T/$S/load.log" 'len({l["m"] for l in L if l["ev"] == "250"})')
	daemon_ts "$S" d2
	d2=$dpid
	wait_for 60 sh -c '[ "$(grep -c "\"status\": 200" "$1" 2>/dev/null)" -ge "$2" ] 2>/dev/null' sh \
	    "$T/$S/requests.log" "$acked" || true
	stop "$d2"
	stop "$ep2"
	"$PY" - "$T/$S/load.log" "$T/$S/requests.log" "$T/$S/d2.ts" "$T/ms" <<'EOP'
import json, re, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
reqs = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
ts = open(sys.argv[3], errors="replace").read().splitlines()
ready = min(float(l.split(" ", 1)[0]) for l in ts if "started:" in l)
m = re.search(r"result=reclaimed jobs=(\d+)", "\n".join(ts))
got = {e["m"] for e in ev if e["ev"] == "250"}
push = {}
last = 0.0
for r in reqs:
    if r["status"] != 200:
        continue
    i = int(json.loads(r["body"])["totp_identifier"].split("+m")[1].split("@")[0])
    push[i] = push.get(i, 0) + 1
    if i in got:
        last = max(last, r["t"])
ms = (last - ready) * 1000
print("acknowledged %d reclaimed %s lost %d twice %d ready->last push %.1f ms"
      % (len(got), m.group(1) if m else 0, len(got - set(push)),
         sum(1 for c in push.values() if c > 1), ms))
open(sys.argv[4], "a").write("%.1f\n" % ms)
EOP
done
"$PY" -c 'import statistics, sys; v = [float(l) for l in open(sys.argv[1])]; print("median ready->last orphaned push: %.1f ms over %d trials (min %.1f, max %.1f)" % (statistics.median(v), len(v), min(v), max(v)))' "$T/ms"
