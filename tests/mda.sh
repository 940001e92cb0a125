#!/bin/sh
# mda.sh - `otpbridge deliver` (mda.c) on its own, no daemon: every path to
# its exit status (0 pushed, queued or dropped on purpose; 64 usage; 75
# nothing could be committed, or no input), the one decision line of each,
# and what the store holds afterwards.
. "${top_srcdir:-.}/tests/testlib.sh"

S=$T/s
mkdir -p "$S"
ep_start s 0
conf s "$ep_port" "max_age = 600" "[lmtp]" "max_size = 4096"
RCPT=bot@otp.example.com

dl() { # FILE [ARGS]: deliver FILE ($rc, $err)
	_f=$1
	shift
	ob s deliver --rcpt "$RCPT" "$@" <"$_f"
}
njobs() { sqlite3 "$S/db/otpbridge.db" 'SELECT count(*) FROM jobs'; }

# Mail nobody wants never needs the store: it is not even created.
mail s other.eml m0 "$RCPT" 111222 someone@other.example
dl "$S/other.eml"
is "$rc" 0 "no filter matches: exit 0"
like "$err" 'src=deliver .*result=dropped reason=no-match' "no filter matches: logged dropped"
ok "no filter matches: the store is not created" test ! -e "$S/db/otpbridge.db"

printf 'hello world, no header here\n' >"$S/junk.txt"
dl "$S/junk.txt"
is "$rc" 0 "not mail: exit 0 (no bounce)"
like "$err" 'src=deliver rcpt=bot@otp.example.com result=not-mail reason=not-mail' \
    "not mail: logged result=not-mail"

mail s big.eml m1 "$RCPT" 333444
i=0
while [ $i -lt 100 ]; do echo "padding padding padding padding padding padding"; i=$((i + 1)); done \
    >>"$S/big.eml"
dl "$S/big.eml"
is "$rc" 0 "larger than [lmtp] max_size: exit 0 (no bounce)"
like "$err" 'src=deliver rcpt=bot@otp.example.com result=dropped reason=too-large limit=4096' \
    "too large: logged dropped, with the limit"

# A code: committed, then pushed once by deliver itself.
mail s a.eml a1 "$RCPT" 482913
dl "$S/a.eml"
is "$rc" 0 "a code: exit 0"
like "$err" 'src=deliver .*result=queued reason=code job=1' "a code: logged queued"
ok "a code: pushed once" wait_for 10 sh -c \
    '[ "$(grep -c 482913 "$1")" = 1 ]' sh "$S/requests.log"
is "$(sqlite3 "$S/db/otpbridge.db" 'SELECT state, source FROM jobs WHERE id = 1')" \
    "1|deliver" "a code: the job is delivered (state 1), source deliver"
dl "$S/a.eml"
is "$rc" 0 "the same mail again: exit 0"
like "$err" 'src=deliver .*result=duplicate' "the same mail again: logged duplicate"
is "$(grep -c 482913 "$S/requests.log")" 1 "the same mail again: not pushed again"

# The store cannot be committed to: 75, nothing kept; then it can: 0.
sqlite3 "$S/db/otpbridge.db" "CREATE TRIGGER test_fault BEFORE INSERT ON jobs
    BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
mail s b.eml b1 "$RCPT" 505606
dl "$S/b.eml"
is "$rc" 75 "the commit fails: exit 75 (EX_TEMPFAIL), the MTA retries"
like "$err" 'src=deliver .*result=tempfail reason=code' "the commit fails: logged tempfail"
like "$err" 'src=deliver result=tempfail error=".*injected fault" \(the MTA will retry\)' \
    "the commit fails: says why"
is "$(njobs)" 1 "the commit fails: no job was kept"
sqlite3 "$S/db/otpbridge.db" "DROP TRIGGER test_fault"
dl "$S/b.eml"
is "$rc" 0 "the MTA's retry: exit 0"
ok "the MTA's retry: pushed once" wait_for 10 sh -c \
    '[ "$(grep -c 505606 "$1")" = 1 ]' sh "$S/requests.log"

# A store that cannot be opened: 75 for a code, 0 for mail nobody wants.
mkdir -p "$T/n"
store_path=$T/n/not-a-dir/otpbridge.db conf n "$ep_port"
: >"$T/n/not-a-dir"
ob n deliver --rcpt "$RCPT" <"$S/a.eml"
is "$rc" 75 "no store for a code: exit 75"
like "$err" 'src=deliver result=tempfail error=' "no store for a code: says why"
ob n deliver --rcpt "$RCPT" <"$S/other.eml"
is "$rc" 0 "no store, mail nobody wants: exit 0 (the store is not needed)"

# No input at all: 75.  Usage: 64.  A broken config: 75.
ob s deliver --rcpt "$RCPT" <&-
is "$rc" 75 "stdin closed: exit 75"
like "$err" 'src=deliver result=tempfail' "stdin closed: says so"
ob s deliver --bogus <"$S/a.eml"
is "$rc" 64 "an unknown option: exit 64"
printf '[push]\ntimeout = soon\n' >"$T/bad.conf"
run "$OTPBRIDGE" -c "$T/bad.conf" deliver <"$S/a.eml"
is "$rc" 75 "a broken config: exit 75, the MTA keeps the mail"

secrets_checked
done_testing
