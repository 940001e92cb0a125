#!/bin/sh
# secrets.sh - how the daemon keeps its secrets (issue 10 item 8), each
# checked by doing what goes wrong in the field:
#  a. a key file others can read (the default umask's 0644) or another
#     user owns is refused with file:line, KEY, the file and the fix, by
#     `check` and by `run`; 0600 and 0640 of our own group are taken;
#  b. a secret pasted where its file's name belongs never reaches stderr;
#  c. OTPBRIDGE_API_KEY is gone from the environment of the children the
#     daemon starts (a password_command that dumps its environment, run
#     against tests/imap-liar.py), yet it still pushes with that key, also
#     after a SIGHUP;
#  d. `queue list` (table and --json) never shows a code an endpoint
#     echoed re-encoded: JSON \u escapes, percent-encoding, HTML entities;
#  e. a password_command that exits non-zero, is killed, hangs, prints too
#     much or nothing is reported by its failure in the log, and the
#     password it printed (stdout or stderr) is in no log line at any level.
. "${top_srcdir:-.}/tests/testlib.sh"

# (ob, secrets_checked and the rest come from testlib.sh)

# ---- a. the ssh rule for secret files ------------------------------------
mkdir -p "$T/a"
printf '%s\n' "$KEY" >"$T/a/key"
chmod 644 "$T/a/key"
cat >"$T/a/otpbridge.conf" <<EOC
[push]
api_key_file = key
[store]
path = $T/a/db/otpbridge.db
[lmtp]
listen =
EOC
ob a check
is "$rc" 78 "a: check refuses a world-readable key file (exit 78)"
is "$err" "$T/a/otpbridge.conf:2: api_key_file: $T/a/key is readable by others (mode 0644); chmod 600 it" \
    "a: the error names file:line, the key, the file, the mode and the fix"
run timeout -k 5 60 "$OTPBRIDGE" -c "$T/a/otpbridge.conf" run
is "$rc" 78 "a: run refuses it too, before it listens"
like "$err" 'api_key_file: .* is readable by others \(mode 0644\)' "a: run says why"
chmod 666 "$T/a/key"
ob a check
like "$err" ':2: api_key_file: .* is writable by others \(mode 0666\)' \
    "a: a world-writable key file is refused"
chmod 620 "$T/a/key"
ob a check
like "$err" 'is writable by its group \(mode 0620\)' "a: a group-writable one too"
chmod 640 "$T/a/key"
chgrp "$(id -g)" "$T/a/key"
ob a check
is "$rc" 0 "a: 0640 with our own group is taken (root:otpbridge 0640 under systemd)"
chmod 600 "$T/a/key"
ob a check
is "$rc" 0 "a: 0600 is taken"
if [ "$(id -u)" = 0 ]; then
	chown 65534 "$T/a/key"
	ob a check
	like "$err" ':2: api_key_file: .* is owned by uid 65534, neither this user \(uid 0\) nor root' \
	    "a: a key file another (non-root) user owns is refused"
	chown 0 "$T/a/key"
else
	skip 1 "not root: cannot give a file to another user"
fi

# ---- b. a pasted secret never shows ----------------------------------------
PASTED=sk-live-PASTED-$$-c0ffee
mkdir -p "$T/b"
for k in "push api_key_file" "http signing_key_file"; do
	set -- $k
	printf '[%s]\n%s = %s\n[store]\npath = %s\n[lmtp]\nlisten =\n' \
	    "$1" "$2" "$PASTED" "$T/b/db/otpbridge.db" >"$T/b/otpbridge.conf"
	ob b check
	is "$rc" 78 "b: $2 = <a pasted secret>: check fails"
	like "$err" "^$T/b/otpbridge.conf:2: $2: cannot read the file it names" \
	    "b: $2: the error names file:line and the key"
	unlike "$err" "$PASTED" "b: $2: the error does not repeat the value"
done
printf '[imap:w]\nhost = 127.0.0.1\ntls = none\nuser = u\npassword_file = %s\n[lmtp]\nlisten =\n' \
    "$PASTED" >"$T/b/otpbridge.conf"
ob b check
like "$err" ':5: password_file: cannot read the file it names' "b: password_file: file:line and the key"
unlike "$err" "$PASTED" "b: password_file: the error does not repeat the value"

# ---- c. OTPBRIDGE_API_KEY does not reach the children ----------------------
ep_start c 0 "" ep.log
[ -n "$ep_port" ] || bail "endpoint did not start"
spawn "$PY" "$top_srcdir/tests/imap-liar.py" "$T/c/liar.port" "$T/c/liar.log" 300
wait_for 15 test -s "$T/c/liar.port" || bail "imap-liar.py did not start"
acme_filter "$T/c/f"
cat >"$T/c/otpbridge.conf" <<EOC
[push]
url = http://127.0.0.1:$ep_port/v1/credentials/totp
[store]
path = $T/c/db/otpbridge.db
[lmtp]
listen =
[filters]
dir = f
[imap:liar]
host = 127.0.0.1
port = $(cat "$T/c/liar.port")
tls = none
user = bot
password_command = env >"$T/c/child.env.tmp" && mv "$T/c/child.env.tmp" "$T/c/child.env" && echo secret
identifier = bot@otp.example.com
poll_interval = 5
EOC
# (PUSH_TEST_KEY, testlib's copy of the key for pyq, stays out of it.)
spawn env -u PUSH_TEST_KEY OTPBRIDGE_API_KEY="$KEY" OTPB_TEST_MARK=inherited "$OTPBRIDGE" \
    -c "$T/c/otpbridge.conf" run 2>"$T/c/daemon.err"
dpid=$last_pid
ok "c: the daemon ran password_command" wait_for 30 test -s "$T/c/child.env"
like "$(cat "$T/c/child.env")" '^OTPB_TEST_MARK=inherited$' \
    "c: the child inherits the rest of the environment"
unlike "$(cat "$T/c/child.env")" 'OTPBRIDGE_API_KEY' \
    "c: the child's environment has no OTPBRIDGE_API_KEY"
ok "c: nor the key's value" sh -c '! grep -qF -- "$1" "$2"' sh "$KEY" "$T/c/child.env"
ncode_is() { [ "$(pyq "$T/c/ep.log" "sum(1 for b in B if b['content'] == '$1')")" = "$2" ]; }
ok "c: the daemon still pushes with the key it took from the environment" \
    wait_for 60 ncode_is 700002 1
kill -HUP "$dpid"
ok "c: SIGHUP: reloaded" wait_for 15 grep -q 'reloaded' "$T/c/daemon.err"
unlike "$(cat "$T/c/daemon.err")" 'need a restart' \
    "c: the reload keeps the environment's key (no key change to restart for)"
ok "c: the daemon is still running" alive "$dpid"
stop "$dpid"
is "$stop_rc" 0 "c: SIGTERM: exits 0"

# ---- d. queue list redacts re-encoded echoes of the code -------------------
ep_start d 0 "422u,422p,422h" requests.log
[ -n "$ep_port" ] || bail "endpoint did not start"
conf d "$ep_port"
mail d m1.eml d1 bot1@otp.example.com 482913
mail d m2.eml d2 bot2@otp.example.com 593024
mail d m3.eml d3 bot3@otp.example.com 604135
for m in m1 m2 m3; do
	ob d deliver <"$T/d/$m.eml"
	is "$rc" 0 "d: $m delivered to the queue"
done
daemon d
states() { [ "$(qj d '",".join(j["state"] for j in L)')" = "$1" ]; }
ok "d: all three pushes fail with 422" wait_for 30 states failed,failed,failed
is "$(pyq "$T/d/requests.log" '",".join(str(r["status"]) for r in L)')" 422,422,422 \
    "d: the endpoint answered 422 three times"
is "$(pyq "$T/d/requests.log" 'all(r["headers"].get("x-api-key") == K for r in L)')" true \
    "d: (each push carried the right key)"
stop "$dpid"
# decoded FILE: FILE (a JSON line: its last_reply) with every JSON escape,
# %XX and HTML entity undone, as a reader (or a script) of it would.
decoded() {
	"$PY" - "$1" <<'EOP'
import html, json, re, sys, urllib.parse
lines = []
for l in open(sys.argv[1], encoding="utf-8"):
    try:
        lines.append(json.loads(l).get("last_reply") or "")
    except ValueError:
        lines.append(l)
s = "\n".join(lines)
for _ in range(3):
    s = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), s)
    s = urllib.parse.unquote(html.unescape(s))
print(s)
EOP
}
ob d queue list
printf '%s\n' "$out" >"$T/d/list.txt"
like "$out" '^[0-9]+ +failed .* 422 .*\[code\]' "d: queue list shows the 422 reply, redacted"
ob d queue list --json
printf '%s\n' "$out" >"$T/d/list.json"
like "$out" '"last_reply":".*\[code\]' "d: queue list --json shows it redacted too"
for c in 482913 593024 604135; do
	unlike "$(decoded "$T/d/list.txt")" "$c" "d: queue list: no code $c, even decoded"
	unlike "$(decoded "$T/d/list.json")" "$c" "d: queue list --json: no code $c, even decoded"
done

# ---- e. password_command failures: a clear error, never the password -----
# Each account's command prints the password (stdout and stderr) and then
# fails one way; the daemon runs with -v (debug lines too).  The log must
# say which failure, and hold the password nowhere.
PW=pw-LEAK-4f9c2e
mkdir -p "$T/e"
spawn "$PY" "$top_srcdir/tests/imap-liar.py" "$T/e/liar.port" "$T/e/liar.log" 300
wait_for 15 test -s "$T/e/liar.port" || bail "imap-liar.py did not start"
account_e() { # NAME COMMAND
	printf '[imap:%s]\nhost = 127.0.0.1\nport = %s\ntls = none\nuser = %s\n' \
	    "$1" "$(cat "$T/e/liar.port")" "$1"
	printf 'password_command = %s\nidentifier = bot@otp.example.com\ntimeout = 5\n' "$2"
}
{
	printf '[store]\npath = %s\n[lmtp]\nlisten =\n' "$T/e/db/otpbridge.db"
	account_e exit "echo $PW; echo $PW >&2; exit 3"
	account_e signal "echo $PW; kill -KILL \$\$"
	account_e timeout "echo $PW; echo $PW >&2; sleep 60"
	account_e much "echo $PW; yes | head -c 5000"
	account_e nothing "echo $PW >&2"
} >"$T/e/otpbridge.conf"
spawn "$OTPBRIDGE" -v -c "$T/e/otpbridge.conf" run 2>"$T/e/daemon.err"
epid=$last_pid
for x in "exit:failed (exit status 3)" "signal:failed (killed by signal 9)" \
    "timeout:timed out after 5 s" "much:printed more than 4096 bytes" \
    "nothing:printed nothing"; do
	ok "e: ${x%%:*}: the log says \"password_command ${x#*:}\"" wait_for 30 \
	    grep -qF "imap=${x%%:*} result=disconnected error=\"password_command ${x#*:}\"" \
	    "$T/e/daemon.err"
done
ok "e: the daemon is still running" alive "$epid"
stop "$epid"
ok "e: the debug log is not empty (the test sees every level)" \
    grep -q ': debug: imap=' "$T/e/daemon.err"
ok "e: no log line, at any level, shows the password" \
    sh -c '! grep -qF -- "$1" "$2"' sh "$PW" "$T/e/daemon.err"
is "$(grep -c LOGIN "$T/e/liar.log")" 0 "e: no LOGIN was sent with any of them"

CODES="$CODES 700002"
secrets_checked
done_testing
