#!/bin/sh
# status.sh - `otpbridge status [--json]` (SPEC 2) with and without the
# daemon: a missing store (a clear error, nothing created), the queue and
# the last job per identifier from the store alone, the store untouched
# by reading it, the daemon's live state (an IMAP account that cannot
# connect, over the unix-socket and the inet listener), GET /status
# refused to a relayed client, a locked store (answers at once, says
# busy), a listener that accepts and never answers (bounded time), and
# neither a code nor the API key in any output.
. "${top_srcdir:-.}/tests/testlib.sh"

# (free_port(s), ep_start, acme_filter, mail, spawn, stop, wait_for, pyq,
# secrets_checked and $KEY come from testlib.sh)
set -- $(free_ports 3)
LMTP=$1 HTTP=$2 DEAD=$3
mkdir -p "$T/a"
ep_start a 0 "200,400"
[ -n "$ep_port" ] || bail "the endpoint did not start"
printf '%s\n' "$KEY" >"$T/a/key"
chmod 600 "$T/a/key"
acme_filter "$T/a/f"
DB=$T/a/db/otpbridge.db
cat >"$T/a/otpbridge.conf" <<EOC
[push]
url = http://127.0.0.1:$ep_port/v1/credentials/totp
api_key_file = key
timeout = 2
[store]
path = $DB
[lmtp]
listen = inet:127.0.0.1:$LMTP
[http]
listen = inet:127.0.0.1:$HTTP;unix:$T/a/http.sock
[imap:work]
host = 127.0.0.1
port = $DEAD
tls = none
user = bot
password_file = key
poll_interval = 5
[filters]
dir = f
EOC

# st [ARGS...]: `otpbridge status ARGS` on this config: $rc $out $err,
# and every output kept for the secrets check; $secs how long it took.
st() {
	_t0=$(date +%s.%N)
	run timeout 60 "$OTPBRIDGE" -c "$T/a/otpbridge.conf" status "$@"
	secs=$(echo "$(date +%s.%N) - $_t0" | bc)
	printf '%s\n%s\n' "$out" "$err" >>"$T/all-stderr.log"
}
# sj EXPR: EXPR (Python) over J, the object of the last `status --json`.
sj() {
	printf '%s\n' "$out" >"$T/status.json"
	"$PY" - "$T/status.json" "$1" <<'EOP'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    lines = [l for l in f if l.strip()]
try:
    if len(lines) != 1:
        raise ValueError("%d lines, not one" % len(lines))
    J = json.loads(lines[0])
    r = eval(sys.argv[2])
except Exception as e:
    r = "error: %s: %s" % (type(e).__name__, e)
print(r if isinstance(r, str) else json.dumps(r))
EOP
}
lmtp_send() { # RCPT MAILFILE
	swaks --protocol LMTP --server "127.0.0.1:$LMTP" --to "$1" --from codes@acme.example \
	    --data "$2" >"$T/swaks.out" 2>&1
}
jobs_in() { # STATE N: the store holds N jobs in STATE (asked through status)
	st --json
	[ "$(sj "J['queue']['$1']")" = "$2" ]
}

# ---- no store yet: a clear error, and nothing is created -------------------
st
is "$rc" 66 "a missing store: exit 66 (EX_NOINPUT)"
like "$err" "store $DB: does not exist" "stderr names the store and says it does not exist"
like "$out" 'store: +MISSING' "the report says the store is missing"
like "$out" "listeners: +lmtp inet:127.0.0.1:$LMTP; smtp -; http inet:127.0.0.1:$HTTP,unix:$T/a/http.sock" \
    "the listeners of the config are shown all the same"
like "$out" "push: +127.0.0.1:$ep_port\$" "the push endpoint's host and port, not dry run"
ok "no store file, no directory is created" test ! -e "$T/a/db"
st --json
is "$rc" 66 "--json: exit 66 as well"
is "$(sj '[J["store"]["ok"], J["store"]["busy"], J["queue"], J["last_delivery"]]')" \
    '[false, false, null, []]' "--json: one object, store not ok, no queue"
ok "still no store file" test ! -e "$T/a/db"

# ---- the daemon running: two identifiers, one delivered, one refused --------
spawn "$OTPBRIDGE" -c "$T/a/otpbridge.conf" run 2>"$T/a/daemon.err"
dpid=$last_pid
ok "the daemon answers on its unix socket" wait_for 15 test -S "$T/a/http.sock"
mail a m1.eml m1 bot@otp.example.com 482913
mail a m2.eml m2 other@otp.example.com 551920
lmtp_send bot@otp.example.com "$T/a/m1.eml"
ok "the first code is delivered" wait_for 15 jobs_in delivered 1
lmtp_send other@otp.example.com "$T/a/m2.eml"
ok "the second is refused by the endpoint (400) and failed" wait_for 15 jobs_in failed 1
ok "the IMAP account's connection error is known to the daemon" wait_for 15 sh -c \
    "curl -s --unix-socket '$T/a/http.sock' http://localhost/status | grep -q '\"last_error\":\"'"

st
is "$rc" 0 "with the daemon: exit 0"
like "$out" "daemon: +running, on unix:$T/a/http.sock, pid $dpid, version [0-9.]+, up [0-9]+s; healthy" \
    "the daemon was asked on its unix socket: running, its pid, healthy"
like "$out" 'last result: failed \(HTTP 400\), [0-9]+s ago \(job 2, other@otp.example.com\)' \
    "the push endpoint's last result: the newest attempt, failed 400"
like "$out" 'queue: +0 pending, 1 delivered, 1 failed, 0 expired' "queue depth by state"
like "$out" '  work +INBOX: NOT connected, never synced, last error: .+' \
    "the IMAP account: not connected, never synced, with the daemon's last error"
like "$out" 'other@otp.example.com +[0-9]+s +lmtp +acme +failed \(HTTP 400\)' \
    "last delivery of other@: when, source, filter, result"
like "$out" 'bot@otp.example.com +[0-9]+s +lmtp +acme +delivered \(HTTP 200\)' \
    "last delivery of bot@: delivered 200"
ok "status with a daemon took less than 5 s" [ "$(echo "$secs < 5" | bc)" = 1 ]

st --json
is "$rc" 0 "--json with the daemon: exit 0"
is "$(sj '[J["daemon"]["running"], J["daemon"]["healthy"], J["daemon"]["pid"], J["daemon"]["asked"]]')" \
    "[true, true, $dpid, \"unix:$T/a/http.sock\"]" "--json daemon: running, healthy, pid, where asked"
is "$(sj 'J["queue"]')" \
    '{"pending": 0, "delivered": 1, "failed": 1, "expired": 0, "superseded": 0, "retrying": 0}' "--json queue by state"
is "$(sj '[(d["identifier"], d["filter"], d["source"], d["state"], d["http_status"]) for d in J["last_delivery"]]')" \
    '[["other@otp.example.com", "acme", "lmtp", "failed", 400], ["bot@otp.example.com", "acme", "lmtp", "delivered", 200]]' \
    "--json last delivery per identifier, newest first"
is "$(sj '[J["push"]["host"], J["push"]["dry_run"], J["push"]["auth_failing"], J["push"]["last"]["state"], J["push"]["last"]["http_status"]]')" \
    "[\"127.0.0.1:$ep_port\", false, false, \"failed\", 400]" "--json push: host, not dry run, last result"
is "$(sj '[(a["account"], a["connected"], a["last_sync"], bool(a["last_error"])) for a in J["imap"]]')" \
    '[["work", false, null, true]]' "--json imap: known not connected, never synced, an error"
is "$(sj 'sorted(J)')" \
    '["config", "daemon", "identifiers", "imap", "last_delivery", "listeners", "push", "queue", "store", "time"]' \
    "--json: the documented top-level keys"

# GET /status: for this host only; a relayed request is refused.
code=$(curl -s -o "$T/s.json" -w '%{http_code}' "http://127.0.0.1:$HTTP/status")
is "$code" 200 "GET /status over loopback inet: 200"
is "$(pyq "$T/s.json" 'sorted(L[0])')" '["imap", "pid", "push_auth_failing", "started", "store", "version"]' \
    "GET /status: the documented keys"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 203.0.113.9' "http://127.0.0.1:$HTTP/status")
is "$code" 403 "GET /status relayed by a proxy (X-Forwarded-For): 403"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Forwarded: for=203.0.113.9' "http://127.0.0.1:$HTTP/status")
is "$code" 403 "GET /status with Forwarded: 403"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$HTTP/status")
is "$code" 405 "POST /status: 405"

stop "$dpid"
is "$stop_rc" 0 "the daemon stops"

# ---- no daemon: the store alone, and reading it changes nothing ----------
files() { (cd "$T/a/db" && for f in *; do echo "$f $(sha256sum <"$f")"; done); }
files >"$T/files.before"
st
is "$rc" 0 "without the daemon: exit 0"
like "$out" "daemon: +not answering on unix:$T/a/http.sock" "the daemon is not answering"
like "$out" 'queue: +0 pending, 1 delivered, 1 failed, 0 expired' "the queue from the store alone"
like "$out" 'bot@otp.example.com +[0-9]+s +lmtp +acme +delivered \(HTTP 200\)' \
    "the last delivery per identifier from the store alone"
like "$out" '  work +INBOX: live state unknown' "IMAP live state: unknown without the daemon"
st --json
is "$(sj '[J["daemon"]["running"], J["imap"][0]["connected"], J["queue"]["delivered"]]')" \
    '[false, null, 1]' "--json without the daemon: not running, IMAP unknown (null), queue read"
files >"$T/files.after"
is "$(cat "$T/files.after")" "$(cat "$T/files.before")" \
    "the store's files are byte for byte the same, and no file is added beside them"

# ---- a locked store: answers at once, says busy -----------------------------
store_lock all "$DB" "$T/locked"
locker=$last_pid
ok "another process holds the store's exclusive lock" wait_for 15 test -e "$T/locked"
st
is "$rc" 75 "a locked store: exit 75 (EX_TEMPFAIL)"
like "$out" 'store: +BUSY: store .* is busy' "the report says the store is busy"
like "$out" "listeners: +lmtp inet:127.0.0.1:$LMTP" "and still shows what it can"
ok "it answered within 5 s" [ "$(echo "$secs < 5" | bc)" = 1 ]
st --json
is "$(sj '[J["store"]["ok"], J["store"]["busy"], J["queue"]]')" '[false, true, null]' \
    "--json: store busy, no queue"
stop "$locker"

# ---- a listener that accepts and never answers ------------------------------
sed -i "s|^listen = inet:127.0.0.1:$HTTP;unix:.*|listen = inet:127.0.0.1:$HTTP|" "$T/a/otpbridge.conf"
cat >"$T/mute.py" <<'EOP'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
open(sys.argv[2], "w").close()
held = []
while True:
    c, _ = s.accept()
    held.append(c)      # read nothing, answer nothing
EOP
spawn "$PY" "$T/mute.py" "$HTTP" "$T/mute"
mute=$last_pid
ok "a mute listener holds the [http] port" wait_for 15 test -e "$T/mute"
st
is "$rc" 0 "a mute daemon: exit 0 (the store answered)"
like "$out" "daemon: +not answering on inet:127.0.0.1:$HTTP \\(.*timed out" \
    "the daemon is reported as not answering (timed out)"
like "$out" 'queue: +0 pending, 1 delivered' "and the store's part is there"
ok "within 5 s" [ "$(echo "$secs < 5" | bc)" = 1 ]
stop "$mute"

# ---- nothing secret in any output ----------------------------------------------
secrets_checked
done_testing
