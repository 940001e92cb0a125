#!/bin/sh
# oauth-cmd.sh - `otpbridge oauth ACCOUNT` against tests/oauth-server.py,
# a local OAuth2 provider (one playing Google, one playing Microsoft).
# The test plays the user's browser with curl.
#  Google (authorization code + PKCE + loopback redirect):
#  a. the printed URL asks for offline access, consent, the mail scope,
#     S256 PKCE and a loopback redirect; a stray request (favicon) is
#     answered 404 and ignored; the code is exchanged with the verifier
#     and the redirect URI; the refresh token lands in refresh_token_file,
#     mode 0600, and refreshes at the token endpoint;
#  b. onboarding again replaces an existing file (0644 before) by rename:
#     a new inode, mode 0600, no temporary file left;
#  c. a redirect with a forged state (CSRF): refused, exit 69, nothing
#     exchanged, the old file untouched;
#  d. a verifier the provider does not accept (PKCE mismatch): exit 69,
#     invalid_grant shown, the old file untouched;
#  e. no browser ever comes back: exit 75 after --wait, no file;
#  f. a wrong client secret: invalid_client shown plainly, exit 69;
#  g. the user denies: access_denied, exit 69.
#  Microsoft (device code):
#  h. pending -> slow_down -> granted: the user code and URL are shown,
#     the polls honour the interval and slow_down's extra 5 s, the scope
#     is IMAP + offline_access, the file is written (0600);
#  i. access_denied: exit 69; j. expired_token: exit 75; k. the code's
#     own lifetime ends first: exit 75; l. an unknown client_id at the
#     device endpoint: invalid_client shown, exit 69.
#  m. config: an unknown account, a non-xoauth2 account: exit 78; an
#     http auth_url to a non-loopback host: file:line error, exit 78;
#     `check` with a missing refresh_token_file names this command; a
#     refresh_token_file value that may be a pasted token is never shown
#     (check, and oauth when the file cannot be written: exit 73).
#  n. no code, verifier, device code, token or client secret (not even an
#     8-character piece) in anything otpbridge printed.
. "${top_srcdir:-.}/tests/testlib.sh"

OAUTH=$top_srcdir/tests/oauth-server.py

CSECRET=test-client-secret-$(rand)
WRONG=test-client-secret-$(rand)
printf '%s\n' "$CSECRET" >"$T/secret"
printf '%s\n' "$WRONG" >"$T/secret-wrong"
chmod 600 "$T/secret" "$T/secret-wrong"
printf '%s\n%s\n' "$CSECRET" "$WRONG" >"$T/secrets.mine"
mkdir "$T/tok"

# ---- the two providers -------------------------------------------------------
spawn "$PY" "$OAUTH" --port 0 --port-file "$T/g.port" --log "$T/g.log" \
    --tokens-file "$T/g.tokens" --client-id otpbridge-test \
    --client-secret "$CSECRET" --refresh-token "1//test-refresh-$(rand)"
spawn "$PY" "$OAUTH" --port 0 --port-file "$T/m.port" --log "$T/m.log" \
    --tokens-file "$T/m.tokens" --client-id ms-test-client \
    --refresh-token "1//test-refresh-$(rand)"
wait_for 15 test -s "$T/g.port" || bail "oauth-server.py (google) did not start"
wait_for 15 test -s "$T/m.port" || bail "oauth-server.py (microsoft) did not start"
GURL=http://127.0.0.1:$(cat "$T/g.port")
MURL=http://127.0.0.1:$(cat "$T/m.port")

ctl() { # URL FORM: a /control request
	$PY -c 'import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/control", data=sys.argv[2].encode()), timeout=5).read()' "$1" "$2"
}
# The refresh token the provider issued last (its own record of secrets).
issued_rt() { grep '^1//test-rt-onb-' "$1" | tail -n 1; }
# holds_issued FILE TOKENS: FILE holds exactly the refresh token the
# provider (recording in TOKENS) issued last, and one was issued.
holds_issued() {
	[ -s "$1" ] && [ -n "$(issued_rt "$2")" ] &&
	    [ "$(cat "$1")" = "$(issued_rt "$2")" ]
}
# /token requests in LOG from line N on, by outcome, as JSON.
token_outcomes() { pyq "$1" "[r['outcome'] for r in L[$2:] if r['path'] == '/token']"; }
mode() { stat -c %a "$1"; }
inode() { stat -c %i "$1"; }
# refreshes URL RT: the refresh grant with RT succeeds (exit status).
refreshes() {
	$PY - "$1" "$2" "$CSECRET" <<'EOP'
import json, sys, urllib.parse, urllib.request
body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": sys.argv[2],
    "client_id": "otpbridge-test", "client_secret": sys.argv[3]}).encode()
r = json.load(urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/token", data=body), timeout=5))
sys.exit(0 if r.get("access_token") else 1)
EOP
}

# gconf FILE ACCOUNT TOKENFILE [SECRETFILE]: a config whose [imap:ACCOUNT]
# is a Google account at the "google" provider.
gconf() {
	cat >"$1" <<EOC
[imap:$2]
host = imap.example.com
user = bot@example.com
auth = xoauth2
oauth2_provider = google
auth_url = $GURL/authorize
token_url = $GURL/token
client_id = otpbridge-test
client_secret_file = ${4:-secret}
refresh_token_file = $3
EOC
}
# mconf FILE ACCOUNT TOKENFILE [CLIENT_ID]: a Microsoft account (public
# client: no secret) at the "microsoft" provider.
mconf() {
	cat >"$1" <<EOC
[imap:$2]
host = outlook.office365.com
user = bot@example.onmicrosoft.com
auth = xoauth2
oauth2_provider = microsoft
token_url = $MURL/token
device_url = $MURL/devicecode
client_id = ${4:-ms-test-client}
refresh_token_file = $3
EOC
}

N=0
# oauth CONF ACCOUNT [ARGS]: starts `otpbridge oauth` in the background,
# stdout in $o, stderr in $e (new files per run); sets opid.
oauth() {
	N=$((N + 1))
	o=$T/run$N.out e=$T/run$N.err
	_c=$1 _a=$2
	shift 2
	spawn "$OTPBRIDGE" -c "$_c" oauth "$@" "$_a" >"$o" 2>"$e"
	opid=$last_pid
}
# finish: waits for it (at most 30 s); $stop_rc; its output as TAP
# comments when $1 is "show".
finish() {
	stop "$opid" 0
	if [ "${1:-}" = show ]; then
		sed 's/^/#   out: /' "$o"
		sed 's/^/#   err: /' "$e"
	fi
}
# url_of: the authorization URL otpbridge printed (waits for it).
url_of() {
	wait_for 15 grep -q '/authorize?' "$o" || return 1
	grep -m 1 '/authorize?' "$o"
}
# browse: the browser opens the printed URL at the provider and follows
# its redirect to otpbridge's listener: $loc (the redirect), $page_status
# and $T/page (what the listener answered).
browse() {
	_u=$(url_of) || { loc="" page_status="no URL printed"; return 1; }
	loc=$(curl -s --noproxy '*' -o /dev/null -w '%{redirect_url}' "$_u")
	page_status=$(curl -s --noproxy '*' -o "$T/page" -w '%{http_code}' "$loc")
}
# listener: http://127.0.0.1:PORT of the redirect listener (from the URL)
listener() {
	url_of | $PY -c 'import sys, urllib.parse
q = urllib.parse.parse_qs(urllib.parse.urlsplit(sys.stdin.read().strip()).query)
print(q["redirect_uri"][0].rstrip("/"))'
}
qparam() { # NAME: the printed URL's query parameter NAME
	url_of | $PY -c 'import sys, urllib.parse
q = urllib.parse.parse_qs(urllib.parse.urlsplit(sys.stdin.read().strip()).query)
print(q.get(sys.argv[1], [""])[0])' "$1"
}

# ---- a. Google: the whole flow ------------------------------------------------
gconf "$T/g.conf" gmail tok/gmail.token
oauth "$T/g.conf" gmail --wait 30
lst=$(listener)
like "$lst" '^http://127\.0\.0\.1:[0-9]+$' "the redirect URI is a loopback http URL with a port"
is "$(qparam code_challenge_method)" S256 "PKCE S256"
like "$(qparam code_challenge)" '^[A-Za-z0-9_-]{43}$' "the challenge is 43 base64url characters"
like "$(qparam state)" '^[A-Za-z0-9_-]{22,}$' "a random state"
is "$(qparam access_type),$(qparam prompt)" "offline,consent" "access_type=offline, prompt=consent"
is "$(qparam scope)" "https://mail.google.com/" "the Gmail IMAP scope"
is "$(qparam login_hint)" "bot@example.com" "login_hint is the account's user"
fav=$(curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$lst/favicon.ico")
is "$fav" 404 "a stray request (favicon) is answered 404"
ok "and otpbridge keeps waiting" alive "$opid"
browse
is "$page_status" 200 "the browser gets a page from the listener"
like "$(cat "$T/page")" 'signed in' "the page says signed in"
finish show
is "$stop_rc" 0 "exit 0"
ok "refresh_token_file holds the refresh token the provider issued" \
    holds_issued "$T/tok/gmail.token" "$T/g.tokens"
is "$(mode "$T/tok/gmail.token")" 600 "mode 0600"
is "$(ls -A "$T/tok" | tr '\n' ' ')" "gmail.token " "no temporary file left beside it"
like "$(cat "$o")" 'refresh token saved in its refresh_token_file' "stdout says it was saved"
is "$(pyq "$T/g.log" "[r['fields'] for r in L if r['path'] == '/token'][-1]")" \
    '["client_id", "client_secret", "code", "code_verifier", "grant_type", "redirect_uri"]' \
    "the exchange sends code, code_verifier, redirect_uri and the client credentials"
is "$(pyq "$T/g.log" "[r.get('pkce') for r in L if r['path'] == '/token'][-1]")" ok \
    "the provider verified the PKCE verifier"
ok "the saved refresh token works at the token endpoint" \
    refreshes "$GURL" "$(cat "$T/tok/gmail.token")"

# ---- b. onboarding again replaces the file atomically ----------------------------
chmod 644 "$T/tok/gmail.token"
cp "$T/tok/gmail.token" "$T/gmail.before"
ino=$(inode "$T/tok/gmail.token")
oauth "$T/g.conf" gmail --wait 30
browse
finish
is "$stop_rc" 0 "again: exit 0"
ok "the new refresh token replaced the old one" holds_issued "$T/tok/gmail.token" "$T/g.tokens"
ok "a different token than before" sh -c 'test -s "$1" && ! cmp -s "$1" "$2"' sh \
    "$T/tok/gmail.token" "$T/gmail.before"
ok "written by rename (a new inode: never a half-written file in place)" \
    test "$(inode "$T/tok/gmail.token")" != "$ino"
is "$(mode "$T/tok/gmail.token")" 600 "mode 0600 again (it was 0644)"
is "$(ls -A "$T/tok" | tr '\n' ' ')" "gmail.token " "no temporary file left"
cp "$T/tok/gmail.token" "$T/gmail.good"

# ---- c. a forged redirect (CSRF): wrong state ------------------------------------
n0=$(loglines "$T/g.log")
oauth "$T/g.conf" gmail --wait 30
lst=$(listener)
st=$(curl -s --noproxy '*' -o "$T/page" -w '%{http_code}' \
    "$lst/?code=4/0attacker-code-$(rand)&state=forged-$(rand)&scope=x")
finish show
is "$st" 400 "a redirect with a foreign state is answered 400"
is "$stop_rc" 69 "and otpbridge exits 69"
like "$(cat "$e")" 'state does not match' "the error says the state does not match"
is "$(token_outcomes "$T/g.log" "$n0")" "[]" "nothing was exchanged at the token endpoint"
ok "the old refresh token file is untouched" cmp -s "$T/tok/gmail.token" "$T/gmail.good"
unlike "$(cat "$T/page")" 'attacker|forged' "the page reflects nothing from the request"

# ---- d. PKCE mismatch ------------------------------------------------------------
ctl "$GURL" pkce_tamper=1
n0=$(loglines "$T/g.log")
oauth "$T/g.conf" gmail --wait 30
browse
finish show
ctl "$GURL" pkce_tamper=0
is "$stop_rc" 69 "a verifier the provider refuses: exit 69"
like "$(cat "$e")" 'token endpoint: HTTP 400 invalid_grant \(Invalid code verifier\.\)' \
    "the provider's error is shown plainly"
is "$(pyq "$T/g.log" "[r.get('pkce') for r in L[$n0:] if r['path'] == '/token']")" '["mismatch"]' \
    "one exchange, refused by the provider for the verifier"
like "$(cat "$T/page")" 'could not be exchanged' "the browser is told it failed"
ok "the old refresh token file is untouched" cmp -s "$T/tok/gmail.token" "$T/gmail.good"

# ---- e. the redirect never comes -------------------------------------------------
gconf "$T/g2.conf" gmail2 tok/never.token
t0=$(now)
oauth "$T/g2.conf" gmail2 --wait 2
finish
el=$(since "$t0")
echo "# --wait 2: gave up after $el s"
is "$stop_rc" 75 "no browser: exit 75"
like "$(cat "$e")" 'no sign-in came back in time' "the error says so"
ok "within a bounded time (< 8 s)" awk -v t="$el" 'BEGIN { exit !(t < 8) }'
ok "no refresh_token_file written" test ! -e "$T/tok/never.token"

# ---- f. a wrong client secret: invalid_client ---------------------------------------
gconf "$T/g3.conf" gmail3 tok/bad.token secret-wrong
oauth "$T/g3.conf" gmail3 --wait 30
browse
finish show
is "$stop_rc" 69 "invalid_client: exit 69"
like "$(cat "$e")" 'token endpoint: HTTP 401 invalid_client \(Unauthorized\)' \
    "the provider's error is shown plainly"
ok "no file written" test ! -e "$T/tok/bad.token"

# ---- g. the user denies ----------------------------------------------------------------
ctl "$GURL" authorize=deny
oauth "$T/g2.conf" gmail2 --wait 30
browse
finish show
ctl "$GURL" authorize=ok
is "$stop_rc" 69 "access denied: exit 69"
like "$(cat "$e")" 'the provider answered access_denied \(The user denied access\)' \
    "the denial is shown"
ok "no file written" test ! -e "$T/tok/never.token"

# ---- h. Microsoft: pending -> slow_down -> granted -------------------------------------
mconf "$T/m.conf" o365 tok/o365.token
ctl "$MURL" device_script=pending,slow_down,ok
n0=$(loglines "$T/m.log")
t0=$(now)
oauth "$T/m.conf" o365 --wait 60
finish show
echo "# device flow: $(since "$t0") s"
is "$stop_rc" 0 "device flow: exit 0"
uc=$(pyq "$T/m.log" "[r['user_code'] for r in L if r['path'] == '/devicecode'][-1]")
like "$(cat "$o")" "enter the code $uc" "the user code and the provider's message are shown"
like "$(cat "$o")" "$MURL/device" "the verification URL is shown"
is "$(pyq "$T/m.log" "[r['scope'] for r in L if r['path'] == '/devicecode'][-1]")" \
    "https://outlook.office.com/IMAP.AccessAsUser.All offline_access" "the scope: IMAP and offline_access"
is "$(token_outcomes "$T/m.log" "$n0")" '["authorization_pending", "slow_down", "ok"]' \
    "the polls: pending, slow_down, granted (never too fast)"
gap=$(pyq "$T/m.log" "[r['gap'] for r in L[$n0:] if r['path'] == '/token'][-1]")
echo "# the poll after slow_down came $gap s after the one before"
ok "after slow_down it waits interval + 5 s (>= 5.8 s)" \
    awk -v g="$gap" 'BEGIN { exit !(g ~ /^[0-9.]+$/ && g + 0 >= 5.8) }'
ok "the refresh token is saved" holds_issued "$T/tok/o365.token" "$T/m.tokens"
is "$(mode "$T/tok/o365.token")" 600 "mode 0600"

# ---- i.-l. Microsoft: refusals ------------------------------------------------------
mconf "$T/m2.conf" o365b tok/o365b.token
ctl "$MURL" device_script=pending,denied
oauth "$T/m2.conf" o365b --wait 60
finish show
is "$stop_rc" 69 "access_denied: exit 69"
like "$(cat "$e")" 'HTTP 400 access_denied \(The user declined the sign-in\.\)' "the denial is shown"
ok "no file written" test ! -e "$T/tok/o365b.token"

ctl "$MURL" device_script=expired
oauth "$T/m2.conf" o365b --wait 60
finish show
is "$stop_rc" 75 "expired_token: exit 75"
like "$(cat "$e")" 'expired_token.*the code expired' "the expiry is shown"

ctl "$MURL" "device_script=pending&device_expires_in=3"
t0=$(now)
oauth "$T/m2.conf" o365b --wait 60
finish show
el=$(since "$t0")
ctl "$MURL" "device_script=ok&device_expires_in=900"
is "$stop_rc" 75 "the code's lifetime (3 s) ends first: exit 75"
like "$(cat "$e")" 'not completed before the code expired' "it says so"
ok "it stopped polling by then (< 8 s)" awk -v t="$el" 'BEGIN { exit !(t < 8) }'
ok "no file written" test ! -e "$T/tok/o365b.token"

mconf "$T/m3.conf" o365c tok/o365c.token wrong-client-id
oauth "$T/m3.conf" o365c --wait 60
finish show
is "$stop_rc" 69 "an unknown client at the device endpoint: exit 69"
like "$(cat "$e")" 'device endpoint: HTTP 400 invalid_client \(AADSTS700016' "the provider's error is shown plainly"

# ---- m. configuration -------------------------------------------------------------------
run "$OTPBRIDGE" -c "$T/g.conf" oauth nosuch
is "$rc" 78 "an account the config lacks: exit 78"
like "$err" 'has no \[imap:nosuch\]' "named"
cat >"$T/login.conf" <<EOC
[imap:pw]
host = imap.example.com
user = bot@example.com
password_file = secret
EOC
run "$OTPBRIDGE" -c "$T/login.conf" oauth pw
is "$rc" 78 "an account with auth = login: exit 78"
like "$err" 'does not use auth = xoauth2' "it says why"
gconf "$T/bad.conf" x tok/x.token
echo "device_url = http://idp.example.com/devicecode" >>"$T/bad.conf"
run "$OTPBRIDGE" -c "$T/bad.conf" oauth x
is "$rc" 78 "device_url over http to another host: exit 78"
like "$err" "bad\.conf:[0-9]+: .*device_url must be https unless the host is loopback" "file:line: problem"
gconf "$T/nofile.conf" y tok/missing.token
run "$OTPBRIDGE" -c "$T/nofile.conf" check
is "$rc" 78 "check with a missing refresh_token_file: exit 78"
like "$err" "run 'otpbridge oauth y' to obtain it" "and it names the command that obtains it"
# A token pasted where its path belongs: never shown, also not by oauth.
PASTED=0.AXoAtest-pasted-$(rand)
gconf "$T/pasted.conf" z "$PASTED"
run "$OTPBRIDGE" -c "$T/pasted.conf" check
unlike "$out$err" "$PASTED" "check does not show a refresh_token_file value that names no file"
sed -i "s|^refresh_token_file = .*|refresh_token_file = nodir/$PASTED|" "$T/pasted.conf"
oauth "$T/pasted.conf" z --wait 30
browse
finish
is "$stop_rc" 73 "a refresh_token_file that cannot be written: exit 73"
like "$(cat "$e")" 'cannot write refresh_token_file' "it says so"
unlike "$(cat "$o" "$e")" "$PASTED" "without showing the value"
run "$OTPBRIDGE" -c "$T/g.conf" oauth --wait 0 gmail
is "$rc" 64 "--wait 0: usage, exit 64"

# ---- n. no secret in what otpbridge printed ------------------------------------------
leaks() { # FILE...: what leaked (never the secret); empty if clean
	cat "$T/secrets.mine" "$T/g.tokens" "$T/m.tokens" | $PY -c '
import re, sys
pre = re.compile(r"^(ya29\.test-\d+-|1//test-rt-onb-\d+-|4/0test-code-|test-device-code-|test-client-secret-)")
secrets = [l.strip() for l in sys.stdin if l.strip()]
out = []
text = "".join(open(p, encoding="utf-8", errors="replace").read() for p in sys.argv[1:])
for i, s in enumerate(secrets):
    r = pre.sub("", s)
    if len(r) < 20:
        out.append("secret #%d: too short to check" % i)
        continue
    hits = sum(1 for k in range(len(r) - 7) if r[k:k + 8] in text)
    if hits:
        out.append("%d piece(s) of secret #%d (%s...)" % (hits, i, s[:10]))
print("; ".join(out))
' "$@"
}
echo "# secrets checked: $(cat "$T/secrets.mine" "$T/g.tokens" "$T/m.tokens" | grep -c .)"
like "$(grep -c '^4/0test-code-' "$T/g.tokens")" '^[1-9]' "codes were issued (and are checked)"
like "$(grep -c '^test-device-code-' "$T/m.tokens")" '^[1-9]' "device codes were issued (and are checked)"
is "$(leaks "$T"/run*.out "$T"/run*.err)" "" \
    "no code, verifier, device code, token or client secret in otpbridge's output"
done_testing
