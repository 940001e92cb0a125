#!/bin/sh
# observe.sh - the Prometheus rules and the Grafana dashboard in contrib/
# against the daemon they watch: promtool checks the rules and runs their
# unit tests (one firing and one near-miss case per alert), the dashboard
# is valid JSON, and every otpbridge_* series the rules and the dashboard
# query is one that a running daemon's /metrics declares (a renamed metric
# must break this test, not a dashboard in production).
. "${top_srcdir:-.}/tests/testlib.sh"

rules=$top_srcdir/contrib/prometheus/otpbridge.rules.yml
rtest=$top_srcdir/contrib/prometheus/otpbridge.rules.test.yml
dash=$top_srcdir/contrib/grafana/otpbridge.json

# CI installs promtool through contrib/setup-debian.sh: its absence is a
# failure here, never a skip.
ok "promtool is installed (contrib/setup-debian.sh)" command -v promtool
ok "promtool check rules" sh -c 'promtool check rules "$1" >"$2" 2>&1' sh "$rules" "$T/check.out"
# promtool resolves rule_files relative to the test file
ok "promtool test rules: every alert fires on its case and not on its near miss" \
    sh -c 'promtool test rules "$1" >"$2" 2>&1' sh "$rtest" "$T/test.out"
[ "$_failed" = 0 ] || sed 's/^/# /' "$T/check.out" "$T/test.out"
alerts=$(grep -c '^      - alert:' "$rules")
tested=$(grep -E '^        alertname:' "$rtest" | sort -u | wc -l)
is "$tested" "$alerts" "each of the $alerts alerts has unit tests"
ok "the dashboard is valid JSON" sh -c 'python3 -m json.tool "$1" >/dev/null' sh "$dash"

HTTP=$(free_port)
mkdir -p "$T/S"
cat >"$T/S/otpbridge.conf" <<EOC
[store]
path = $T/S/otpbridge.db
[lmtp]
listen =
[http]
listen = inet:127.0.0.1:$HTTP
EOC
daemon S
wait_for 20 curl -sf -o "$T/metrics" "http://127.0.0.1:$HTTP/metrics"
ok "the daemon serves /metrics" test -s "$T/metrics"
# declared names, histograms with their three suffixes
awk '$1 == "#" && $2 == "TYPE" {
	print $3
	if ($4 == "histogram") { print $3 "_bucket"; print $3 "_sum"; print $3 "_count" }
}' "$T/metrics" | sort -u >"$T/declared"
grep -ohE 'otpbridge_[a-z0-9_]+' "$rules" "$rtest" "$dash" | sort -u >"$T/used"
unknown=$(comm -23 "$T/used" "$T/declared" | tr '\n' ' ')
is "$unknown" "" "the rules and the dashboard use only series /metrics declares"
ok "they use some" test "$(wc -l <"$T/used")" -ge 10
done_testing
