#!/bin/sh
# imap-oauth.sh - IMAP with auth = xoauth2 against a private Dovecot in
# OAuth mode (tests/imap-dovecot.sh with OAUTH_INTROSPECT_URL) and a local
# OAuth2 provider (tests/oauth-server.py: the token endpoint the daemon
# refreshes at, the introspection endpoint Dovecot checks each login at):
#  a. a saved mail is pushed once; exactly one refresh; Dovecot's
#     introspection said the token is active;
#  b. no refresh token, client secret or issued access token (not even a
#     fragment) in the daemon's log (-v), checked at the end over all runs;
#  c. all tokens revoked + the session kicked: the cached token is refused,
#     the daemon refreshes, logs in again and pushes the next mail;
#  d. tokens that live 61 s: after a kick the daemon refreshes before it
#     tries its cached token (< 60 s left), which is never refused;
#  e. a wrong refresh token: a clear invalid_grant error, the daemon stays
#     up, /healthz is 503 naming that account, and a LOGIN account in the
#     same daemon still pushes;
#  f. a provider that rotates refresh tokens: the rotated one is used for
#     the next refresh (no invalid_grant);
#  g. the provider down behind Dovecot (NO [UNAVAILABLE]): no refresh, a
#     clear error, and the same token works once it is back.
# Dovecot's auth penalty (2, 4, 8, 15 s per failed login from one IP,
# reset by a success) and its 2 s failure delay slow (c) and (f) down.
. "${top_srcdir:-.}/tests/testlib.sh"
. "$top_srcdir/tests/imaplib.sh"

OAUTH=$top_srcdir/tests/oauth-server.py

chmod 755 "$T"

# ---- the provider ----------------------------------------------------------
# Secret formats oauth-server.py and this file share, so the leak check can
# tell the random part (secret) from the prefix (not): see leaks() below.
RTOKEN=1//test-refresh-$(rand)
CSECRET=test-client-secret-$(rand)
WRONG_RT=1//test-wrong-$(rand)
printf '%s\n' "$CSECRET" >"$T/secret"
printf '%s\n' "$RTOKEN" >"$T/refresh"
printf '%s\n' "$WRONG_RT" >"$T/refresh-wrong"
chmod 600 "$T/secret" "$T/refresh" "$T/refresh-wrong"
printf '%s\n%s\n%s\n' "$RTOKEN" "$CSECRET" "$WRONG_RT" >"$T/secrets.mine"
spawn "$PY" "$OAUTH" --port 0 --port-file "$T/oauth.port" --log "$T/oauth.log" \
    --tokens-file "$T/oauth.tokens" --client-id otpbridge-test \
    --client-secret "$CSECRET" --refresh-token "$RTOKEN" --user bot
wait_for 15 test -s "$T/oauth.port" || bail "oauth-server.py did not start"
OURL=http://127.0.0.1:$(cat "$T/oauth.port")

ostat() { # KEY: one of oauth-server.py's /stats counters
	$PY -c 'import json, sys, urllib.request
print(json.load(urllib.request.urlopen(sys.argv[1] + "/stats", timeout=5))[sys.argv[2]])' \
	    "$OURL" "$1"
}
ostat_is() { [ "$(ostat "$1")" = "$2" ]; }
opost() { # PATH [FORM]: a test control request to oauth-server.py
	$PY -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=sys.argv[2].encode()), timeout=5).read()' \
	    "$OURL$1" "${2:-}"
}
# The seq (order of issue) of the token Dovecot last asked about, and of
# the last one issued: they are equal when the last login used the newest.
last_introspected() { pyq "$T/oauth.log" '[r["seq"] for r in L if r["path"] == "/introspect"][-1]'; }
# /token requests from line N of the log on, by outcome, as JSON.
token_outcomes() { pyq "$T/oauth.log" "[r['outcome'] for r in L[$1:] if r['path'] == '/token']"; }

# ---- Dovecot in OAuth mode, the push endpoint ------------------------------
imap_start "$OURL/introspect"
DLOG=$T/dove/dovecot.log

kick() { doveadm -c "$DC" kick bot >/dev/null; }
okshow() { # FILE DESCRIPTION CMD...: like ok, and on failure FILE's tail
	_f=$1 _d=$2
	shift 2
	if "$@"; then _result 0 "$_d"; else _result 1 "$_d"; show "$_f"; fi
}
show() { # FILE: its last lines as TAP comments (after a failure)
	echo "# --- tail of $(basename "$1"):"
	tail -n "${2:-15}" "$1" 2>/dev/null | sed 's/^/#   /'
}
healthz() { # -> "CODE" on stdout, the body in $T/healthz.body
	$PY - "http://127.0.0.1:$HTTP/healthz" "$T/healthz.body" <<'EOP'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
    code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
except OSError as e:
    code, body = 0, str(e).encode()
open(sys.argv[2], "wb").write(body)
print(code)
EOP
}
healthz_is() { [ "$(healthz)" = "$1" ]; }
# reconnects ERRFILE DESCRIPTION SECONDS [NOTE]: a test point (okshow)
# that account o of the daemon with stderr in ERRFILE logs its reconnect
# within SECONDS; then the time since $t0 (the kick) as a comment.
reconnects() {
	okshow "$1" "$2" wait_for "$3" logged "$1" 'imap=o result=reconnected'
	echo "# kick -> reconnected: $(since "$t0") s${4:+ ($4)}"
}

doveadm -c "$DC" mailbox create -u bot Other

oauth_account() { # NAME REFRESH-FILE: the xoauth2 account on INBOX
	imap_group "$1" "$IMAPS"
	cat <<EOC
auth = xoauth2
token_url = $OURL/token
client_id = otpbridge-test
client_secret_file = secret
refresh_token_file = $2
identifier = bot@otp.example.com
poll_interval = 5
after = seen
EOC
}
{ common db1; oauth_account o refresh; } >"$T/one.conf"

# ---- a. a mail is pushed with a refreshed token --------------------------
save INBOX oa1 400001
t0=$(now)
start_daemon "$T/one.conf" "$T/daemon-a.err" -v
if ! wait_for 60 logged "$T/daemon-a.err" 'imap=o result=connected'; then
	show "$T/daemon-a.err"
	bail "the xoauth2 account never connected"
fi
_result 0 "xoauth2: the account connects"
okshow "$T/daemon-a.err" "xoauth2: the saved mail is pushed" wait_for 30 ncode_is 400001 1
echo "# start -> pushed: $(since "$t0") s"
is "$(ostat refresh_ok),$(ostat refresh_fail)" "1,0" "the token endpoint saw exactly one refresh, and it succeeded"
is "$(pyq "$T/oauth.log" '[r["fields"] for r in L if r["path"] == "/token"][0]')" \
    '["client_id", "client_secret", "grant_type", "refresh_token"]' \
    "the refresh sends grant_type, refresh_token, client_id and client_secret"
is "$(pyq "$T/oauth.log" '[r["client_auth"] for r in L if r["path"] == "/token"][0]')" form \
    "client credentials in the form body"
ok "Dovecot introspected the token: active" ostat_is introspect_fail 0
like "$(ostat introspect_ok)" '^[1-9]' "at least one active introspection"
is "$(last_introspected)" 1 "the login used the token just issued"
ok "Dovecot logged an XOAUTH2 login for bot" logged "$DLOG" 'Login: user=<bot>, method=XOAUTH2'
# XXX a fixed wait, one more poll_interval: no event marks a refresh (or
# a push) that does not come while the token stays valid.
sleep 6
is "$(ncode 400001)" 1 "pushed exactly once"
is "$(ostat refresh_ok)" 1 "no further refresh while the token is valid"

# ---- c. a revoked token: refused, refreshed, logged in again --------------
opost /revoke-all
f0=$(ostat introspect_fail)
t0=$(now)
kick
ok "kicked: the daemon notices the disconnect" \
    wait_for 30 logged "$T/daemon-a.err" 'imap=o result=disconnected'
reconnects "$T/daemon-a.err" "and reconnects (after the cached token is refused and a refresh)" 90 \
    "2 s failure delay + 2 s auth penalty in Dovecot"
like "$(ostat introspect_fail)" "^([1-9][0-9]*)$" "the cached token was tried and refused"
is "$(ostat refresh_ok)" 2 "it refreshed: refresh_ok is 2"
is "$(ostat refresh_fail)" 0 "no failed refresh"
is "$(last_introspected)" "$(ostat issued)" "the login after the kick used the new token"
echo "# introspections refused during the reconnect: $(( $(ostat introspect_fail) - f0 ))"
save INBOX oa2 400002
okshow "$T/daemon-a.err" "the next mail is pushed" wait_for 30 ncode_is 400002 1
ok "the daemon is still running" alive "$dpid"
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# ---- d. a token about to expire is refreshed before it is used ------------
opost /control expires_in=61
start_daemon "$T/one.conf" "$T/daemon-d.err" -v
okshow "$T/daemon-d.err" "61 s tokens: connects" \
    wait_for 60 logged "$T/daemon-d.err" 'imap=o result=connected'
r0=$(ostat refresh_ok)
f0=$(ostat introspect_fail)
is "$r0" 3 "a fresh start refreshes (refresh_ok 3)"
sleep 2 # now fewer than 60 s of the 61 are left
t0=$(now)
kick
reconnects "$T/daemon-d.err" "kicked: reconnects" 60
is "$(ostat refresh_ok)" $((r0 + 1)) "it refreshed on the reconnect (refresh_ok $((r0 + 1)))"
is "$(ostat introspect_fail)" "$f0" "introspect_fail unchanged: the near-expiry token was never tried"
is "$(last_introspected)" "$(ostat issued)" "the login used the token issued after the kick"
save INBOX od1 400003
okshow "$T/daemon-d.err" "a mail is pushed" wait_for 30 ncode_is 400003 1
opost /control expires_in=3600
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# ---- e. a wrong refresh token next to a working LOGIN account ------------
{
	common db2
	oauth_account w refresh-wrong
	account p "$IMAPS" Other seen "identifier = bot@otp.example.com"
} >"$T/two.conf"
fail0=$(ostat refresh_fail)
n0=$(loglines "$T/oauth.log")
t0=$(now)
start_daemon "$T/two.conf" "$T/daemon-e.err" -v
okshow "$T/daemon-e.err" "a wrong refresh token: the error names invalid_grant" \
    wait_for 30 logged "$T/daemon-e.err" 'imap=w.*invalid_grant'
echo "# start -> invalid_grant logged: $(since "$t0") s"
grep 'imap=w' "$T/daemon-e.err" | sed -n '1,3s/^/#   /p'
ok "the token endpoint answered invalid_grant" test "$(ostat refresh_fail)" -gt "$fail0"
okshow "$T/daemon-e.err" "the LOGIN account connects" wait_for 30 logged "$T/daemon-e.err" 'imap=p result=connected'
save Other pe1 500001
okshow "$T/daemon-e.err" "and its mail is pushed" wait_for 30 ncode_is 500001 1
ok "/healthz is 503 (the xoauth2 account never syncs)" wait_for 40 healthz_is 503
hz=$(cat "$T/healthz.body" 2>/dev/null)
echo "# /healthz 503 after $(since "$t0") s:"
printf '%s\n' "$hz" | sed 's/^/#   /'
like "$hz" 'imap:w' "/healthz names imap:w"
like "$hz" 'invalid_grant' "/healthz gives the reason"
unlike "$hz" 'imap:p' "/healthz does not blame imap:p"
ok "the daemon stays up" alive "$dpid"
el=$(since "$t0")
ng=$(pyq "$T/oauth.log" "sum(1 for r in L[$n0:] if r['outcome'] == 'invalid_grant')")
echo "# invalid_grant refreshes in $el s: $ng (backoff, no tight loop)"
ok "no tight retry loop (< 15 refreshes)" test "$ng" -lt 15
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"
fail1=$(ostat refresh_fail)

# ---- f. rotating refresh tokens --------------------------------------------
opost /control rotate=1
r0=$(ostat refresh_ok)
n0=$(loglines "$T/oauth.log")
cp "$T/refresh" "$T/refresh.before"
start_daemon "$T/one.conf" "$T/daemon-f.err" -v
okshow "$T/daemon-f.err" "rotate: connects" \
    wait_for 60 logged "$T/daemon-f.err" 'imap=o result=connected'
is "$(ostat refresh_ok)" $((r0 + 1)) "one refresh, which rotated the refresh token"
is "$(pyq "$T/oauth.log" "[r.get('rotated') for r in L[$n0:] if r['path'] == '/token']")" '[true]' \
    "the provider returned a new refresh token (the old one is now dead)"
opost /revoke-all
t0=$(now)
kick
reconnects "$T/daemon-f.err" "revoked + kicked: reconnects" 90
is "$(ostat refresh_ok)" $((r0 + 2)) "the next refresh succeeded (with the rotated token)"
is "$(ostat refresh_fail)" "$fail1" "no invalid_grant"
is "$(token_outcomes "$n0")" '["ok", "ok"]' "every refresh since the rotation: ok"
save INBOX of1 400004
okshow "$T/daemon-f.err" "a mail is pushed" wait_for 30 ncode_is 400004 1
if cmp -s "$T/refresh" "$T/refresh.before"; then
	echo "# refresh_token_file: unchanged (the rotated token is kept in memory)"
else
	echo "# refresh_token_file: rewritten by the daemon"
fi
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# ---- g. the provider down behind Dovecot: NO [UNAVAILABLE] -----------------
# Dovecot cannot introspect and answers NO [UNAVAILABLE]: the token was not
# refused, so the daemon must not throw it away and refresh; once the
# provider is back it logs in with the token it has.
opost /control rotate=0
start_daemon "$T/one.conf" "$T/daemon-g.err" -v
okshow "$T/daemon-g.err" "unavailable: connects" \
    wait_for 60 logged "$T/daemon-g.err" 'imap=o result=connected'
r0=$(ostat refresh_ok)
opost /control introspect_down=1
kick
okshow "$T/daemon-g.err" "the failed logins say the server could not check the token" \
    wait_for 30 logged "$T/daemon-g.err" 'imap=o result=retry-failed .*XOAUTH2 \[UNAVAILABLE\]'
grep 'imap=o result=retry-failed' "$T/daemon-g.err" | sed -n '1s/^/#   /p'
# Two failed logins more (not a sleep): each was a chance to refresh.
retries_ge() { [ "$(grep -c 'imap=o result=retry-failed' "$T/daemon-g.err")" -ge "$1" ]; }
ok "a retry or two more meanwhile" wait_for 30 retries_ge 3
is "$(ostat refresh_ok)" "$r0" "no refresh while the server cannot check tokens"
unlike "$(cat "$T/daemon-g.err")" 'token-refused' "the token is not taken for refused"
opost /control introspect_down=0
t0=$(now)
reconnects "$T/daemon-g.err" "provider back: reconnects" 60
is "$(ostat refresh_ok)" "$r0" "with the token it already had"
save INBOX og1 400005
okshow "$T/daemon-g.err" "a mail is pushed" wait_for 30 ncode_is 400005 1
stop "$dpid"
is "$stop_rc" 0 "SIGTERM: exits 0"

# ---- b. no secret in any log -------------------------------------------------
# Every secret's random part, and each 8-character piece of it, must not
# occur in the daemon's stderr (-v, all runs).  The secrets: ours (refresh
# tokens, client secret) and every one the provider issued.
leaks() { # FILE...: what leaked, on one line (never the secret); empty if clean
	cat "$T/secrets.mine" "$T/oauth.tokens" | $PY -c '
import re, sys
pre = re.compile(r"^(ya29\.test-\d+-|1//test-rt-\d+-|1//test-refresh-|1//test-wrong-|test-client-secret-)")
secrets = [l.strip() for l in sys.stdin if l.strip()]
out = []
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8", errors="replace").read()
    for i, s in enumerate(secrets):
        r = pre.sub("", s)
        if len(r) < 20:
            out.append("secret #%d: random part too short to check" % i)
            continue
        hits = sum(1 for k in range(len(r) - 7) if r[k:k + 8] in text)
        if hits:
            out.append("%s: %d piece(s) of secret #%d (%s...)" % (path.split("/")[-1], hits, i, s[:12]))
print("; ".join(out))
' "$@"
}
echo "# secrets checked: $(cat "$T/secrets.mine" "$T/oauth.tokens" | grep -c .)"
lk=$(leaks "$T"/daemon-*.err)
is "$lk" "" "no refresh token, client secret or access token in the daemon's log"
is "$(leaks "$T/oauth.log")" "" "nor in oauth-server.py's log"
is "$(pyq "$T/ep.log" "sorted(b['content'] for b in B)")" '["400001", "400002", "400003", "400004", "400005", "500001"]' \
    "every code exactly once over the whole run"
done_testing
