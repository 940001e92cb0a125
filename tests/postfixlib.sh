# postfixlib.sh - a private Postfix instance for the shell tests that need
# one (postfix.sh, postfix-dkim.sh).  Source it after testlib.sh.  The
# instance lives in $PF ($T/pf), logs to $MAILLOG, runs every service out
# of the chroot, and is stopped by pf_stop (the EXIT trap set here runs it
# before testlib's cleanup).
PF=$T/pf
PF_STARTED=""
MAILLOG=$PF/maillog
PATH=$PATH:/usr/sbin:/sbin
export PATH

# nlog PATTERN: lines of the maillog matching the grep -E PATTERN.
nlog() {
	_c=$(grep -Ec -- "$1" "$MAILLOG" 2>/dev/null)
	echo "${_c:-0}"
}
nlog_ge() { [ "$(nlog "$1")" -ge "$2" ]; }

# The Postfix master's pid, from its pid file (empty when none).
pf_master() { sed 's/[^0-9]//g' "$PF/queue/pid/master.pid" 2>/dev/null; }
master_runs() { _m=$(pf_master); [ -n "$_m" ] && alive "$_m"; }
master_gone() { [ -n "$1" ] && ! alive "$1"; }

pf_stop() {
	[ -n "$PF_STARTED" ] || return 0
	_m=$(pf_master)
	timeout -k 5 30 postfix -c "$PF" stop >/dev/null 2>&1
	_w=100
	while [ -n "$_m" ] && alive "$_m" && [ "$_w" -gt 0 ]; do
		sleep 0.1
		_w=$((_w - 1))
	done
	if [ -n "$_m" ] && alive "$_m"; then
		echo "# the Postfix master ($_m) did not stop in 10 s: postfix abort"
		timeout -k 5 30 postfix -c "$PF" abort >/dev/null 2>&1
		sleep 1
	fi
	PF_STARTED=""
}
# Postfix first; then testlib's cleanup stops what the test spawned (a
# daemon holding a store on a tmpfs open) and unmounts $MNT.
trap 'pf_stop; cleanup' EXIT

# pf_config [SERVICE-LINE...] -- [MAIN-LINE...]: the instance's queue and
# data directories, master.cf (the given services, then Postfix's own,
# none chrooted) and main.cf (the settings every test shares: a private
# queue, its own log, loopback only, no local delivery, transport_maps
# from $PF/transport, fast retries; then the given lines).
pf_config() {
	mkdir -p "$PF/queue" "$PF/data"
	chown postfix "$PF/data"
	{
		while [ $# -gt 0 ] && [ "$1" != -- ]; do
			echo "$1"
			shift
		done
		cat <<'EOM'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
lmtp      unix  -       -       n       -       -       lmtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
showq     unix  n       -       n       -       -       showq
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOM
	} >"$PF/master.cf"
	[ "${1:-}" = -- ] && shift
	{
		cat <<EOM
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $MAILLOG
maillog_file_prefixes = $T
inet_interfaces = loopback-only
mydestination =
local_transport = error:local delivery disabled
default_transport = error:nothing else
transport_maps = texthash:$PF/transport
alias_maps =
alias_database =
smtputf8_enable = no
queue_run_delay = 1s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
EOM
		for l in "$@"; do echo "$l"; done
	} >"$PF/main.cf"
}

# pf_start: postfix check and start (two test points), and the master
# running (one more); from here on the EXIT trap stops it.
pf_start() {
	run timeout -k 5 60 postfix -c "$PF" check
	is "$rc" 0 "postfix -c \$T/pf check"
	PF_STARTED=1
	run timeout -k 5 60 postfix -c "$PF" start
	is "$rc" 0 "postfix -c \$T/pf start"
	[ "$rc" = 0 ] || tail -20 "$MAILLOG" 2>/dev/null | sed 's/^/# /'
	ok "the Postfix master runs" wait_for 15 master_runs
}
