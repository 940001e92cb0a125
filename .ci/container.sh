#!/bin/sh
# container.sh - CI stage: the container image, built and tried here with
# no registry.  A Debian 12 base comes from the Debian archive through
# mmdebstrap (with this machine's apt sources), `podman import` makes it
# an image, `podman build --isolation=chroot --build-arg BASE=...` builds
# contrib/container/Containerfile from a clean export of HEAD (this
# sandbox forbids the setrlimit a plain `podman run` needs, so nothing
# runs a container), and the built image is mounted (`podman image mount`)
# and tried with chroot as its own non-root user: `otpbridge check` on the
# image's configuration, `otpbridge test` on the samples, and the daemon
# end to end -- mail in over LMTP, the push received by tests/endpoint.py.
# Then contrib/container/compose.yaml is validated beside a Skyvern-like
# compose file.  TAP on stdout.  Run from the top of a clone, as root,
# after `sh contrib/setup-debian.sh packaging`.
top_srcdir=$(pwd)
. "$top_srcdir/tests/testlib.sh"

tag=localhost/otpbridge-ci:$$
base=localhost/otpbridge-ci-base:$$
mnt=""
binds=""
unmount_all() {
	for b in $binds; do umount "$b" 2>/dev/null || umount -l "$b" 2>/dev/null; done
	binds=""
	[ -z "$mnt" ] || podman image unmount "$tag" >/dev/null 2>&1
	mnt=""
	podman rmi -f "$tag" "$base" >/dev/null 2>&1
	podman image prune -f >/dev/null 2>&1
}
trap 'unmount_all; cleanup' EXIT

start=$(date +%s)
ok "mmdebstrap: a Debian 12 minbase from the archive" sh -c \
    'mmdebstrap --variant=minbase --include=ca-certificates bookworm "$1" /etc/apt/sources.list.d/debian.sources </dev/null >"$2" 2>&1' \
    sh "$T/base.tar" "$T/mmdebstrap.log"
[ "$_failed" = 0 ] || tail -20 "$T/mmdebstrap.log" | sed 's/^/# /'
ok "podman import" sh -c 'podman import "$1" "$2" >/dev/null' sh "$T/base.tar" "$base"
echo "# base image: $(($(date +%s) - start)) s"

mkdir -p "$T/ctx"
git archive HEAD | tar -x -C "$T/ctx"
start=$(date +%s)
ok "podman build --isolation=chroot (the unit tests and corpus run in the build stage)" sh -c \
    'cd "$1" && podman build --isolation=chroot --format docker --build-arg BASE="$2" \
        -f contrib/container/Containerfile -t "$3" . >"$4" 2>&1' \
    sh "$T/ctx" "$base" "$tag" "$T/build.log"
[ "$_failed" = 0 ] || tail -40 "$T/build.log" | sed 's/^/# /'
echo "# image build: $(($(date +%s) - start)) s"
size=$(podman image inspect "$tag" --format '{{.Size}}' 2>/dev/null)
bsize=$(podman image inspect "$base" --format '{{.Size}}' 2>/dev/null)
echo "# image size: ${size:-?} bytes (base ${bsize:-?}, otpbridge's layers $(( ${size:-0} - ${bsize:-0} )))"

cfg() { podman image inspect "$tag" --format "$1" 2>/dev/null; }
is "$(cfg '{{.Config.User}}')" otpbridge "the image runs as the user otpbridge"
like "$(cfg '{{.Config.Entrypoint}}')" 'tini -- /usr/bin/otpbridge-entrypoint' "tini is PID 1 before the daemon"
is "$(cfg '{{.Config.Cmd}}')" "[run]" "the default command is run"
like "$(cfg '{{.Config.Volumes}}')" '/var/lib/otpbridge' "/var/lib/otpbridge is a volume"
like "$(cfg '{{.Config.ExposedPorts}}')" '2424/tcp.*2525/tcp.*8465/tcp' "LMTP, SMTP and HTTP ports exposed"
like "$(cfg '{{.Config.Healthcheck.Test}}')" 'healthz' "a HEALTHCHECK on /healthz"
is "$(cfg '{{.Config.StopSignal}}')" SIGTERM "SIGTERM stops it (drain)"

mnt=$(podman image mount "$tag" 2>"$T/mount.err")
ok "podman image mount" test -n "$mnt" -a -x "$mnt/usr/bin/otpbridge"
ok "the image has the MDA client too" test -x "$mnt/usr/bin/otpbridge-deliver"
uid=$(chroot "$mnt" id -u otpbridge)
gid=$(chroot "$mnt" id -g otpbridge)
ok "the image has no compiler (runtime stage only)" sh -c '! test -e "$1/usr/bin/gcc" && ! test -e "$1/usr/include/glib-2.0"' sh "$mnt"
asuser() { chroot --userspec="$uid:$gid" "$mnt" "$@"; }

out=$(asuser /usr/bin/otpbridge-entrypoint check 2>&1)
rc=$?
echo "# $out"
is "$rc" 0 "otpbridge check in the image, on its own configuration, as otpbridge"
like "$out" 'ok: .* filters .* http 1' "the image's configuration: the filter library and the HTTP side"
out=$(asuser /usr/bin/otpbridge-entrypoint test - <"$top_srcdir/contrib/samples/german-code.eml" 2>&1)
like "$out" 'forward .*reason=code' "otpbridge test in the image: the German sample forwards its code"
out=$(asuser /usr/bin/otpbridge-entrypoint test - <"$top_srcdir/contrib/samples/newsletter.eml" 2>&1)
like "$out" 'drop ' "otpbridge test in the image: the newsletter is dropped"

# ---- the daemon end to end, inside the image's filesystem --------------
# The configuration and the store come in by bind mounts (the image mount
# is read-only), as a mounted /etc/otpbridge and a volume would.
ep_start ep 0
LMTP=$(free_port)
mkdir -p "$T/etc/filters.d" "$T/state"
acme_filter "$T/etc/filters.d"
cat >"$T/etc/otpbridge.conf" <<EOC
[push]
url = http://127.0.0.1:$ep_port/v1/credentials/totp
timeout = 5
[store]
path = /var/lib/otpbridge/otpbridge.db
[lmtp]
listen = inet:127.0.0.1:$LMTP
[filters]
dir = /etc/otpbridge/filters.d
EOC
chown -R "$uid:$gid" "$T/state"
chmod 0755 "$T" "$T/etc" "$T/etc/filters.d"
chmod 0644 "$T/etc/otpbridge.conf" "$T/etc/filters.d"/*
mount --bind "$T/etc" "$mnt/etc/otpbridge" && binds="$mnt/etc/otpbridge"
mount --bind "$T/state" "$mnt/var/lib/otpbridge" && binds="$mnt/var/lib/otpbridge $binds"
ok "config and store bound into the image" test -f "$mnt/etc/otpbridge/otpbridge.conf"
mkdir -p "$T/d"
spawn env OTPBRIDGE_API_KEY="$KEY" chroot --userspec="$uid:$gid" "$mnt" \
    /usr/bin/otpbridge-entrypoint run 2>"$T/d/daemon.err"
dpid=$last_pid
listens() { python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null; }
ok "the daemon runs in the image as otpbridge" wait_for 20 listens "$LMTP"
mail . m1.eml c1 bot@otp.example.com 731904
ok "swaks delivers over LMTP" sh -c 'swaks --protocol LMTP --server "127.0.0.1:$1" \
    --to bot@otp.example.com --from codes@acme.example --data "$2" >"$3" 2>&1' \
    sh "$LMTP" "$T/m1.eml" "$T/swaks.out"
pushed() { pyq "$T/ep/requests.log" '[b["content"] for b in B]'; }
ok "the endpoint received the push" wait_for 20 sh -c 'grep -q 731904 "$1"' sh "$T/ep/requests.log"
is "$(pushed)" '["731904"]' "pushed once, the code alone"
kill -TERM "$dpid" 2>/dev/null
wait_for 20 dead "$dpid"
ok "SIGTERM: the daemon drains and exits" dead "$dpid"
like "$(tail -3 "$T/d/daemon.err")" 'stop|drain|exit|bye' "its last lines say it stopped"
ok "the store is in the volume, owned by otpbridge" sh -c \
    'test "$(stat -c %u "$1/otpbridge.db")" = "$2"' sh "$T/state" "$uid"
ok "no log line shows the API key or the code" sh -c \
    '! grep -qF -e "$1" -e 731904 "$2"' sh "$KEY" "$T/d/daemon.err"

# ---- compose.yaml beside Skyvern's services -----------------------------
mkdir -p "$T/sky"
cat >"$T/sky/docker-compose.yml" <<'EOC'
# the shape of Skyvern's own docker-compose.yml: the API is "skyvern"
services:
  postgres:
    image: postgres:14-alpine
  skyvern:
    image: public.ecr.aws/skyvern/skyvern:latest
    ports: ["8000:8000"]
    depends_on: [postgres]
EOC
ok "compose.yaml parses, with the otpbridge service as documented" python3 - \
    "$top_srcdir/contrib/container/compose.yaml" <<'EOPY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
s = c["services"]["otpbridge"]
assert "skyvern" in s["depends_on"], s
assert s["environment"]["OTPBRIDGE_API_KEY"].startswith("${SKYVERN_API_KEY"), s
assert any(v.endswith(":/etc/otpbridge:ro") for v in s["volumes"]), s
assert any(v.startswith("otpbridge-state:/var/lib/otpbridge") for v in s["volumes"]), s
assert "otpbridge-state" in c["volumes"], c
assert "ports" not in s, "nothing published by default"
EOPY
# podman-compose merges the two files as one project (its --dry-run prints
# the podman commands; it still creates the network and the volume, which
# are removed again by project name).
(cd "$T/sky" && SKYVERN_API_KEY=k timeout 60 podman-compose -p "otpbridgeci$$" --dry-run \
    -f docker-compose.yml -f "$top_srcdir/contrib/container/compose.yaml" up -d >"$T/compose.out" 2>&1)
podman network rm "otpbridgeci$$_default" >/dev/null 2>&1
podman volume rm "otpbridgeci$$_otpbridge-state" >/dev/null 2>&1
run_line=$(grep -- "--network-alias otpbridge " "$T/compose.out")
like "$run_line" "--net otpbridgeci$$_default" "podman-compose: otpbridge joins Skyvern's project network"
like "$run_line" "-v otpbridgeci$$_otpbridge-state:/var/lib/otpbridge" "podman-compose: the store on a named volume"
(cd "$T/sky" && env -u SKYVERN_API_KEY timeout 60 podman-compose -p "otpbridgeci$$" --dry-run \
    -f docker-compose.yml -f "$top_srcdir/contrib/container/compose.yaml" up -d >"$T/compose2.out" 2>&1)
like "$(cat "$T/compose2.out")" 'set SKYVERN_API_KEY' "podman-compose: a missing API key is refused with a clear message"
podman network rm "otpbridgeci$$_default" >/dev/null 2>&1
# the configuration compose.yaml mounts: valid as the image reads it
cp "$top_srcdir/contrib/container/otpbridge-compose.conf" "$T/etc/otpbridge.conf"
printf 'app-password\n' >"$T/etc/imap.pass"
chmod 0640 "$T/etc/imap.pass"
chgrp "$gid" "$T/etc/imap.pass"
out=$(asuser /usr/bin/otpbridge-entrypoint check 2>&1)
is "$?" 0 "otpbridge-compose.conf loads in the image (allow_http = private to http://skyvern:8000)"
echo "# $out"
done_testing
