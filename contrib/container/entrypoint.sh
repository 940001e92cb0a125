#!/bin/sh
# The container's entry: the API key from a mounted secret when the
# environment has none, then otpbridge with the mounted configuration
# (/etc/otpbridge/otpbridge.conf, the image's own when none is mounted).
# Arguments are otpbridge's command: run (the default), check, test FILE,
# queue list, status ...
set -eu
secret=/run/secrets/otpbridge_api_key
if [ -z "${OTPBRIDGE_API_KEY:-}" ] && [ -r "$secret" ]; then
	OTPBRIDGE_API_KEY=$(head -n 1 "$secret")
	export OTPBRIDGE_API_KEY
fi
exec /usr/bin/otpbridge -c "${OTPBRIDGE_CONFIG:-/etc/otpbridge/otpbridge.conf}" "$@"
