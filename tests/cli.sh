#!/bin/sh
# cli.sh - the command line as an operator meets it: exit codes
# (sysexits.h), usage, file:line errors, and bad input of every kind.
. "${top_srcdir:-.}/tests/testlib.sh"

C="$T/otpbridge.conf"
F="$T/filters.d"
printf '[filters]\ndir = filters.d\n' >"$C"
acme_filter "$F"
cat >"$T/ok.eml" <<'EOM'
From: Acme <codes@acme.example>
To: Bot@OTP.example.com
Subject: Your Acme code
Message-ID: <1@acme.example>

Your code is 482913.
EOM

run "$OTPBRIDGE" --version
is "$rc" 0 "--version exits 0"
like "$out" '^otpbridge [0-9]+\.[0-9]+' "--version prints the version"

run "$OTPBRIDGE" --help
is "$rc" 0 "--help exits 0"
like "$out" 'check' "--help lists the commands"

run "$OTPBRIDGE" --bogus check
is "$rc" 64 "unknown flag exits 64"
like "$err" 'usage: otpbridge' "unknown flag prints usage on stderr"

run "$OTPBRIDGE" frobnicate
is "$rc" 64 "unknown command exits 64"

run "$OTPBRIDGE"
is "$rc" 64 "no command exits 64"

run "$OTPBRIDGE" -c "$C" test
is "$rc" 64 "test without files exits 64"

run "$OTPBRIDGE" -c "$T/missing.conf" check
is "$rc" 78 "check with a missing -c file exits 78"
like "$err" 'missing.conf' "and names the file"

run "$OTPBRIDGE" -c "$C" check
is "$rc" 0 "check of a good config exits 0"
like "$out" 'ok: 1 filter from 1 file' "check prints a one-line summary"
like "$out" 'dry-run' "with no API key the push is a dry run"

printf '[push]\ntimeout = 10\ntimout = 5\n' >"$T/typo.conf"
run "$OTPBRIDGE" -c "$T/typo.conf" check
is "$rc" 78 "an unknown key exits 78"
is "$err" "$T/typo.conf:3: unknown key 'timout' in [push]" "and says file:line: problem"

printf '[push]\n\n[pusj]\n' >"$T/group.conf"
run "$OTPBRIDGE" -c "$T/group.conf" check
is "$err" "$T/group.conf:3: unknown group [pusj]" "an unknown group names its line"

printf '[filters]\ndir = bad.d\n' >"$T/bad.conf"
mkdir -p "$T/bad.d"
printf '[x]\nfrom = @a\\.example$\n\n[y]\nsubject = (unclosed\n' >"$T/bad.d/a.conf"
run "$OTPBRIDGE" -c "$T/bad.conf" check
is "$rc" 78 "a filter with a bad pattern exits 78"
like "$err" "^$T/bad.d/a.conf:5: pattern error at offset [0-9]+: " "and says file:line: pattern error at offset N"

printf '[filters]\ndir = nowhere.d\n' >"$T/nodir.conf"
run "$OTPBRIDGE" -c "$T/nodir.conf" check
is "$rc" 78 "a configured filter dir that is missing exits 78"

run "$OTPBRIDGE" -c "$C" test "$T/ok.eml"
is "$rc" 0 "test of a good mail exits 0"
like "$out" 'forward filter=acme reason=code code=482913' "test shows the decision"
like "$out" '"totp_identifier":"bot@otp.example.com"' "test shows the push body, identifier lower-cased"

run "$OTPBRIDGE" -c "$C" test --json --rcpt Other+wr_7@OTP.example.com "$T/ok.eml"
like "$out" '^\{"file":"[^"]*ok.eml","forward":true,"filter":"acme","reason":"code","code":"482913","push":\{"totp_identifier":"other\+wr_7@otp.example.com","content":"482913","source":"email"\}\}$' "test --json --rcpt prints the exact line"

run sh -c "\"$OTPBRIDGE\" -c \"$C\" test --json - <\"$T/ok.eml\""
like "$out" '"file":"-","forward":true' "test - reads stdin"

run "$OTPBRIDGE" -c "$C" test "$T/nonexistent.eml"
is "$rc" 66 "an unreadable file exits 66"
like "$err" 'nonexistent.eml' "and names it"

: >"$T/empty.eml"
run "$OTPBRIDGE" -c "$C" test "$T/empty.eml"
is "$rc" 65 "empty input exits 65"
like "$err" 'not a mail message' "and says it is not mail"

printf 'just some words\nand more\n' >"$T/words.txt"
run "$OTPBRIDGE" -c "$C" test "$T/words.txt"
is "$rc" 65 "text that is not mail exits 65"

head -c 4096 /dev/urandom >"$T/random.bin"
run "$OTPBRIDGE" -c "$C" test "$T/random.bin"
like "$rc" '^(0|65)$' "random bytes exit 0 or 65, never crash"

# A 50 MB message is refused with a clear message, not read whole.
{ cat "$T/ok.eml"; head -c 52428800 /dev/zero | tr '\0' 'a'; } >"$T/huge.eml"
run "$OTPBRIDGE" -c "$C" test "$T/huge.eml"
is "$rc" 65 "a 50 MB message exits 65"
like "$err" 'larger than the limit of 10485760 bytes' "and says which limit"

run "$OTPBRIDGE" -c "$C" test "$T/ok.eml" "$T/nonexistent.eml" "$T/ok.eml"
is "$rc" 66 "one bad file among good ones still fails the run"
is "$(printf '%s\n' "$out" | grep -c 'forward filter=acme')" 2 "but every good file is still reported"

# --- Authentication-Results: only the MTA's own counts (doc/security.md) ----
# The MTA that hands a mail over writes its Authentication-Results above
# the Received: it adds (Postfix + OpenDKIM do); one below it came with
# the mail, whatever its authserv-id says.
mkdir -p "$T/auth.d"
printf '[bank]\nfrom = @bank\\.example$\nrequire_auth = dkim\ncode = (?<code>\\d{6})\n' \
    >"$T/auth.d/10-bank.conf"
printf '[auth]\ntrusted_authserv_id = mx.otp.example.com\n\n[filters]\ndir = auth.d\n' \
    >"$T/auth.conf"
printf '[auth]\ntrusted_authserv_id = mx.otp.example.com\nmta_strips_forged = true\n\n[filters]\ndir = auth.d\n' \
    >"$T/strips.conf"
RCVD='Received: from mail.bank.example (mail.bank.example [192.0.2.7])
	by mx.otp.example.com (Postfix) with ESMTPS id 4F1A2B3C
	for <bot@otp.example.com>; Tue, 25 Nov 2025 10:00:01 +0000'
AR='Authentication-Results: mx.otp.example.com;
	dkim=pass header.d=bank.example header.s=s1'
BODY='From: Bank <alerts@bank.example>
To: bot@otp.example.com
Subject: Your sign-in code
Message-ID: <ar@bank.example>

Your code is 274019.'
printf '%s\n%s\n%s\n' "$RCVD" "$AR" "$BODY" >"$T/ar-below.eml"
printf '%s\n%s\n%s\n' "$AR" "$RCVD" "$BODY" >"$T/ar-above.eml"
printf '%s\n%s\n' "$AR" "$BODY" >"$T/ar-no-received.eml"
printf '%s\n%s\n%s\n' "$(printf '%s\n' "$AR" | sed 's/mx\.otp\.example\.com;/"mx.otp.example.com";/')" \
    "$RCVD" "$BODY" >"$T/ar-quoted-id.eml"
printf '%s\n%s\n%s\n' "$(printf '%s\n' "$AR" | sed 's/header\.s=s1/header.i=@bank.example (unclosed/')" \
    "$RCVD" "$BODY" >"$T/ar-unbalanced.eml"
printf '%s\n%s\n%s\n' "$(printf '%s\n' "$AR" | sed 's/header\.d=bank\.example/header.d=evil.example header.i=@bank.example/')" \
    "$RCVD" "$BODY" >"$T/ar-i-not-d.eml"

run "$OTPBRIDGE" -c "$T/auth.conf" test "$T/ar-below.eml"
like "$out" 'drop filter=bank reason=auth-fail \(the trusted Authentication-Results does not stand above the topmost Received: \(it came with the mail\)\)$' \
    "test: a trusted-looking A-R below the MTA's Received: does not authenticate"
run "$OTPBRIDGE" -c "$T/auth.conf" test "$T/ar-above.eml"
like "$out" 'forward filter=bank reason=code code=274019' \
    "test: the same A-R above the MTA's Received: does"
run "$OTPBRIDGE" -c "$T/auth.conf" test "$T/ar-no-received.eml"
like "$out" 'drop filter=bank reason=auth-fail' \
    "test: with no Received: at all, no MTA vouches for the A-R: auth-fail"
run "$OTPBRIDGE" -c "$T/auth.conf" test "$T/ar-quoted-id.eml"
like "$out" 'drop filter=bank reason=auth-fail \(no Authentication-Results from a trusted authserv-id\)' \
    "test: a quoted authserv-id is no one's"
run "$OTPBRIDGE" -c "$T/auth.conf" test "$T/ar-unbalanced.eml"
like "$out" 'drop filter=bank reason=auth-fail \(.*unbalanced' \
    "test: an unbalanced comment fails the trusted header"
run "$OTPBRIDGE" -c "$T/auth.conf" test "$T/ar-i-not-d.eml"
like "$out" 'drop filter=bank reason=auth-fail' \
    "test: header.i of the From domain does not override a header.d of another"
run "$OTPBRIDGE" -c "$T/strips.conf" test "$T/ar-below.eml"
like "$out" 'forward filter=bank reason=code code=274019' \
    "test: mta_strips_forged = true: a trusted A-R counts wherever it stands"
printf '[auth]\nmta_strips_forged = maybe\n' >"$T/strips-bad.conf"
run "$OTPBRIDGE" -c "$T/strips-bad.conf" check
is "$rc" 78 "check: mta_strips_forged must be a boolean"
like "$err" "^$T/strips-bad.conf:2: " "and says file:line"

# check warns (one line, exit 0) when a trusted authserv-id meets a listener
# other hosts can reach: whoever connects writes an A-R above every Received:.
printf '[lmtp]\nlisten = inet:0.0.0.0:2424\nrecipients = @otp\\.example\\.com$\n\n[auth]\ntrusted_authserv_id = mx.otp.example.com\n' \
    >"$T/exposed.conf"
run "$OTPBRIDGE" -c "$T/exposed.conf" check
is "$rc" 0 "check: trusted id + LMTP on 0.0.0.0 still exits 0"
is "$(printf '%s\n' "$err" | grep -c .)" 1 "check: and writes exactly one line on stderr"
like "$err" "^$T/exposed.conf: warning: \[auth\] trusted_authserv_id is set and \[lmtp\] listens on 0\.0\.0\.0, reachable from other hosts" \
    "check: the line names the file, the listener and the risk"
printf '[smtp]\nlisten = inet:127.0.0.1:2525;inet:[::]:2526\nrecipients = @otp\\.example\\.com$\n\n[auth]\ntrusted_authserv_id = mx.otp.example.com\n' \
    >"$T/exposed6.conf"
run "$OTPBRIDGE" -c "$T/exposed6.conf" check
like "$err" 'warning: .*\[smtp\] listens on \[?::\]?' "check: an SMTP listener on [::] is named too"
sed '/^\[auth\]/,$d' "$T/exposed.conf" >"$T/exposed-noauth.conf"
run "$OTPBRIDGE" -c "$T/exposed-noauth.conf" check
is "$rc/$err" "0/" "check: no trusted id, no warning"
printf '[lmtp]\nlisten = inet:127.0.0.1:2424;unix:/run/otpbridge/lmtp.sock\n\n[auth]\ntrusted_authserv_id = mx.otp.example.com\n' \
    >"$T/loopback.conf"
run "$OTPBRIDGE" -c "$T/loopback.conf" check
is "$rc/$err" "0/" "check: loopback and unix listeners, no warning"

# --- max_age counts from the MTA's Received: date (SPEC 5) -------------------
# deliver: a code that sat in a queue for 2 hours (max_age 600) is dropped,
# one received a minute ago is queued with that as its birth, and a date
# in the future is clamped to arrival.  No API key: a dry run.
mkdir -p "$T/fresh"
printf '[store]\npath = fresh.db\n\n[filters]\ndir = filters.d\n' >"$T/fresh/otpbridge.conf"
acme_filter "$T/fresh/filters.d"
# rcvd_mail FILE ID SECONDS-AGO CODE: an Acme mail carrying CODE whose topmost
# Received: is that old.
rcvd_mail() {
	{
		printf 'Received: from mail.acme.example by mx.otp.example.com (Postfix)\n'
		printf '\twith ESMTP id %s for <bot@otp.example.com>; %s\n' "$2" \
		    "$(date -u -R -d "@$(($(date +%s) - $3))")"
		printf 'From: Acme <codes@acme.example>\nTo: bot@otp.example.com\n'
		printf 'Subject: Your code\nMessage-ID: <%s@acme.example>\n\nYour code is %s.\n' "$2" "$4"
	} >"$T/fresh/$1"
}
rcvd_mail old.eml old 7200 318207
rcvd_mail recent.eml recent 60 318208
rcvd_mail future.eml future -86400 318209
run sh -c '"$1" -c "$2" deliver <"$3"' sh "$OTPBRIDGE" "$T/fresh/otpbridge.conf" "$T/fresh/old.eml"
is "$rc" 0 "deliver: a mail received 2 h ago exits 0 (accepted)"
like "$err" 'result=dropped reason=expired' "deliver: but its code is dropped as expired"
unlike "$err" 'dry-run' "deliver: and nothing is pushed"
recent_at=$(($(date +%s) - 60))
run sh -c '"$1" -c "$2" deliver <"$3"' sh "$OTPBRIDGE" "$T/fresh/otpbridge.conf" "$T/fresh/recent.eml"
like "$err" 'result=queued' "deliver: a mail received a minute ago is queued"
like "$err" 'result=dry-run' "deliver: and pushed"
before=$(date +%s)
run sh -c '"$1" -c "$2" deliver <"$3"' sh "$OTPBRIDGE" "$T/fresh/otpbridge.conf" "$T/fresh/future.eml"
after=$(date +%s)
like "$err" 'result=dry-run' "deliver: a Received: date a day ahead is pushed"
run "$OTPBRIDGE" -c "$T/fresh/otpbridge.conf" queue list --json
printf '%s\n' "$out" >"$T/fresh/q.json"
is "$(pyq "$T/fresh/q.json" 'len(L)')" 2 "queue list: two jobs, none for the expired code"
created=$(pyq "$T/fresh/q.json" 'L[1]["created"]')
ok "the recent code's age counts from its Received: date ($created vs $recent_at)" \
    test "$created" -ge $((recent_at - 2)) -a "$created" -le "$recent_at"
created=$(pyq "$T/fresh/q.json" 'L[0]["created"]')
ok "the future date is clamped to arrival ($before <= $created <= $after)" \
    test "$created" -ge "$before" -a "$created" -le "$after"

# --- --rcpt with an internationalised address, under every locale --------
# GLib's option parser converts a string argument from the locale's
# charset, so UTF-8 failed under C.  Locales this machine may lack are
# made in $T/loc with localedef (read through LOCPATH) when it can.
U=$(printf 'B\303\230t@B\303\274cher.Example')      # BØt@Bücher.Example, UTF-8
L1=$(printf 'B\330t@B\374cher.Example')              # the same in Latin-1
WANT=$(printf '{"totp_identifier":"b\303\270t@b\303\274cher.example","content":"482913","source":"email"}')
locs="C POSIX C.UTF-8"
latin1=""
mkdir -p "$T/loc"
if command -v localedef >/dev/null 2>&1; then
	localedef -i en_US -f UTF-8 "$T/loc/en_US.UTF-8" >/dev/null 2>&1
	localedef -i de_DE -f ISO-8859-1 "$T/loc/de_DE.ISO-8859-1" >/dev/null 2>&1
	[ -d "$T/loc/en_US.UTF-8" ] && locs="$locs en_US.UTF-8"
	[ -d "$T/loc/de_DE.ISO-8859-1" ] && latin1=de_DE.ISO-8859-1
fi
# push_of OUT: the "push" object of a test --json line.
push_of() { printf '%s\n' "$1" | sed -n 's/^.*"push":\(.*\)}$/\1/p'; }
for l in $locs; do
	run env LOCPATH="$T/loc" LC_ALL=$l "$OTPBRIDGE" -c "$C" test --json --rcpt "$U" "$T/ok.eml"
	is "$rc:$(push_of "$out")" "0:$WANT" "LC_ALL=$l: test --rcpt with a UTF-8 address pushes its normal form"
done
run env LC_ALL=C "$OTPBRIDGE" -c "$C" test --json --rcpt 'BØt@XN--BCHER-KVA.example' "$T/ok.eml"
is "$rc:$(push_of "$out")" "0:$WANT" "test --rcpt with the A-label domain pushes the same identifier"
run env LC_ALL=C "$OTPBRIDGE" -c "$C" test --json --rcpt "$(printf 'bo\314\210t@x.example')" "$T/ok.eml"
like "$(push_of "$out")" "$(printf '"totp_identifier":"b\303\266t@x.example"')" "test --rcpt: a decomposed ö is pushed composed (NFC)"
run env LC_ALL=C "$OTPBRIDGE" -c "$C" test --json --rcpt 'БОТ@ПРИМЕР.РФ' "$T/ok.eml"
like "$(push_of "$out")" '"totp_identifier":"бот@пример.рф"' "test --rcpt with a Cyrillic address: lower-cased"
for l in C POSIX C.UTF-8; do
	run env LC_ALL=$l "$OTPBRIDGE" -c "$C" test --json --rcpt "$L1" "$T/ok.eml"
	is "$rc" 64 "LC_ALL=$l: test --rcpt with Latin-1 bytes exits 64"
	like "$err" '^otpbridge: --rcpt: the address is not valid UTF-8' "LC_ALL=$l: and says why"
	is "$out" "" "LC_ALL=$l: and prints no verdict"
done
if [ -n "$latin1" ]; then
	run env LOCPATH="$T/loc" LC_ALL=$latin1 "$OTPBRIDGE" -c "$C" test --json --rcpt "$L1" "$T/ok.eml"
	is "$rc:$(push_of "$out")" "0:$WANT" "LC_ALL=$latin1: Latin-1 --rcpt bytes are read in the locale's charset"
	run env LOCPATH="$T/loc" LC_ALL=$latin1 "$OTPBRIDGE" -c "$C" test --json --rcpt "$U" "$T/ok.eml"
	is "$rc:$(push_of "$out")" "0:$WANT" "LC_ALL=$latin1: UTF-8 --rcpt bytes (as an MTA passes them) stay UTF-8"
else
	skip 2 "localedef cannot make a Latin-1 locale here"
fi

# deliver --rcpt: the same identifier reaches the endpoint under each locale.
ep_start d 0
conf d "$ep_port"
n=0
for l in $locs ${latin1:+$latin1}; do
	n=$((n + 1))
	r=$U
	[ "$l" = "$latin1" ] && r=$L1
	mail d "m$n.eml" "idn$n" "Other@acme.example" 482913
	run env LOCPATH="$T/loc" LC_ALL=$l "$OTPBRIDGE" -c "$T/d/otpbridge.conf" deliver --rcpt "$r" <"$T/d/m$n.eml"
	is "$rc:$(pyq "$T/d/requests.log" "L[$n - 1]['body'] if len(L) >= $n else 'no request'")" "0:$WANT" \
	    "LC_ALL=$l: deliver --rcpt pushes the same body"
	printf '%s\n' "$err" >>"$T/deliver-err.log"
done
run env LC_ALL=C "$OTPBRIDGE" -c "$T/d/otpbridge.conf" deliver --rcpt "$L1" <"$T/d/m1.eml"
is "$rc" 64 "LC_ALL=C: deliver --rcpt with Latin-1 bytes exits 64 (EX_USAGE)"
is "$(pyq "$T/d/requests.log" 'len(L)')" "$n" "and pushes nothing"
ok "deliver's output never shows the code" sh -c '! grep -q 482913 "$1"' sh "$T/deliver-err.log"

done_testing
