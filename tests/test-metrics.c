/*
 * test-metrics.c - metrics.c: the exact exposition after a known sequence
 * of events (counters, gauges, cumulative histogram buckets, _sum and
 * _count, stable order), label escaping, the series bound with its
 * "other" series, and reset.
 */
#include "autoconfig.h"

#include <string.h>

#include "metrics.h"

static const guint64 depth[JOB_STATES] = { 3, 10, 1, 0, 2 };

static const char expected_full[] =
	"# HELP otpbridge_messages_total Recipient decisions by source and result.\n"
	"# TYPE otpbridge_messages_total counter\n"
	"otpbridge_messages_total{source=\"imap:work\",result=\"dropped\"} 1\n"
	"otpbridge_messages_total{source=\"lmtp\",result=\"queued\"} 2\n"
	"# HELP otpbridge_filter_matches_total Messages matched, by filter.\n"
	"# TYPE otpbridge_filter_matches_total counter\n"
	"otpbridge_filter_matches_total{filter=\"a\\\"b\\\\c\\nd\"} 1\n"
	"otpbridge_filter_matches_total{filter=\"github\"} 2\n"
	"# HELP otpbridge_pushes_total Push attempts by result.\n"
	"# TYPE otpbridge_pushes_total counter\n"
	"otpbridge_pushes_total{result=\"delivered\"} 2\n"
	"otpbridge_pushes_total{result=\"retry\"} 1\n"
	"otpbridge_pushes_total{result=\"superseded\"} 2\n"
	"# HELP otpbridge_push_replies_total Push attempts by the endpoint's HTTP status (0: no reply).\n"
	"# TYPE otpbridge_push_replies_total counter\n"
	"otpbridge_push_replies_total{status=\"0\"} 2\n"
	"otpbridge_push_replies_total{status=\"200\"} 1\n"
	"otpbridge_push_replies_total{status=\"403\"} 1\n"
	"# HELP otpbridge_push_duration_seconds Duration of one push attempt.\n"
	"# TYPE otpbridge_push_duration_seconds histogram\n"
	"otpbridge_push_duration_seconds_bucket{le=\"0.001\"} 0\n"
	"otpbridge_push_duration_seconds_bucket{le=\"0.0025\"} 0\n"
	"otpbridge_push_duration_seconds_bucket{le=\"0.005\"} 1\n"
	"otpbridge_push_duration_seconds_bucket{le=\"0.01\"} 1\n"
	"otpbridge_push_duration_seconds_bucket{le=\"0.025\"} 1\n"
	"otpbridge_push_duration_seconds_bucket{le=\"0.05\"} 1\n"
	"otpbridge_push_duration_seconds_bucket{le=\"0.1\"} 1\n"
	"otpbridge_push_duration_seconds_bucket{le=\"0.25\"} 1\n"
	"otpbridge_push_duration_seconds_bucket{le=\"0.5\"} 2\n"
	"otpbridge_push_duration_seconds_bucket{le=\"1\"} 2\n"
	"otpbridge_push_duration_seconds_bucket{le=\"2.5\"} 2\n"
	"otpbridge_push_duration_seconds_bucket{le=\"5\"} 2\n"
	"otpbridge_push_duration_seconds_bucket{le=\"10\"} 2\n"
	"otpbridge_push_duration_seconds_bucket{le=\"+Inf\"} 3\n"
	"otpbridge_push_duration_seconds_sum 20.50390625\n"
	"otpbridge_push_duration_seconds_count 3\n"
	"# HELP otpbridge_arrival_to_accepted_seconds From a message's arrival to the endpoint's 2xx.\n"
	"# TYPE otpbridge_arrival_to_accepted_seconds histogram\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"0.001\"} 0\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"0.0025\"} 0\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"0.005\"} 0\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"0.01\"} 0\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"0.025\"} 0\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"0.05\"} 0\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"0.1\"} 0\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"0.25\"} 0\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"0.5\"} 0\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"1\"} 1\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"2.5\"} 2\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"5\"} 2\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"10\"} 2\n"
	"otpbridge_arrival_to_accepted_seconds_bucket{le=\"+Inf\"} 2\n"
	"otpbridge_arrival_to_accepted_seconds_sum 2.5\n"
	"otpbridge_arrival_to_accepted_seconds_count 2\n"
	"# HELP otpbridge_queue_jobs Jobs in the store by state.\n"
	"# TYPE otpbridge_queue_jobs gauge\n"
	"otpbridge_queue_jobs{state=\"pending\"} 3\n"
	"otpbridge_queue_jobs{state=\"delivered\"} 10\n"
	"otpbridge_queue_jobs{state=\"failed\"} 1\n"
	"otpbridge_queue_jobs{state=\"expired\"} 0\n"
	"otpbridge_queue_jobs{state=\"superseded\"} 2\n"
	"# HELP otpbridge_sessions Open LMTP/SMTP sessions.\n"
	"# TYPE otpbridge_sessions gauge\n"
	"otpbridge_sessions{source=\"lmtp\"} 1\n"
	"otpbridge_sessions{source=\"smtp\"} 0\n"
	"# HELP otpbridge_imap_connected 1 when the IMAP account is connected.\n"
	"# TYPE otpbridge_imap_connected gauge\n"
	"otpbridge_imap_connected{account=\"home\"} 0\n"
	"otpbridge_imap_connected{account=\"work\"} 1\n"
	"# HELP otpbridge_imap_last_sync_timestamp_seconds Unix time of the account's last completed sync.\n"
	"# TYPE otpbridge_imap_last_sync_timestamp_seconds gauge\n"
	"otpbridge_imap_last_sync_timestamp_seconds{account=\"work\"} 1700000000\n"
	"# HELP otpbridge_imap_last_sync_age_seconds Seconds since the account's last completed sync.\n"
	"# TYPE otpbridge_imap_last_sync_age_seconds gauge\n"
	"otpbridge_imap_last_sync_age_seconds{account=\"work\"} 42\n"
	"# HELP otpbridge_imap_poll_interval_seconds The account's poll_interval (its sync is due at least this often).\n"
	"# TYPE otpbridge_imap_poll_interval_seconds gauge\n"
	"otpbridge_imap_poll_interval_seconds{account=\"work\"} 60\n";

static char *
render(void)
{
	GString *out = g_string_new(NULL);

	metrics_render(out, depth, 1700000042);
	return g_string_free(out, FALSE);
}

/* The number of lines of text starting with prefix. */
static guint
count_lines(const char *text, const char *prefix)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	guint n = 0;

	for (guint i = 0; lines[i] != NULL; i++)
		if (g_str_has_prefix(lines[i], prefix))
			n++;
	return n;
}

static void
test_full(void)
{
	g_autofree char *text = NULL;

	metrics_reset();
	metrics_message("lmtp", "queued");
	metrics_message("imap:work", "dropped");
	metrics_message("lmtp", "queued");
	metrics_filter("github");
	metrics_filter("a\"b\\c\nd");
	metrics_filter("github");
	metrics_push("delivered", 0.00390625);
	metrics_push("retry", 0.5);
	metrics_push("delivered", 20);
	metrics_superseded(0);
	metrics_superseded(2);
	metrics_accepted(1);      /* on a bound: counted in le="1" */
	metrics_accepted(1.5);
	metrics_sessions("lmtp", 1);
	metrics_sessions("lmtp", 1);
	metrics_sessions("lmtp", -1);
	metrics_sessions("smtp", -1);  /* never below zero */
	metrics_imap("work", TRUE, 1700000000);
	metrics_imap("home", FALSE, 0); /* never synced: no timestamp series */
	metrics_imap_poll("work", 60);
	metrics_push_reply(200);
	metrics_push_reply(403);
	metrics_push_reply(0);
	metrics_push_reply(-5);        /* out of range: counted as no reply */
	text = render();
	g_assert_cmpstr(text, ==, expected_full);
}

static void
test_stable(void)
{
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;

	metrics_reset();
	for (int i = 0; i < 50; i++) {
		g_autofree char *name = g_strdup_printf("f%02d", (i * 37) % 50);
		metrics_filter(name);
	}
	a = render();
	b = render();
	g_assert_cmpstr(a, ==, b);
	/* sorted: f00 before f01 before f49 */
	g_assert_true(strstr(a, "{filter=\"f00\"}") < strstr(a, "{filter=\"f01\"}"));
	g_assert_true(strstr(a, "{filter=\"f01\"}") < strstr(a, "{filter=\"f49\"}"));
}

static void
test_bound(void)
{
	g_autofree char *text = NULL;

	metrics_reset();
	for (guint i = 0; i < METRICS_SERIES_MAX + 10; i++) {
		g_autofree char *name = g_strdup_printf("f%04u", i);
		metrics_filter(name);
	}
	metrics_filter("f0000");   /* an existing series still counts */
	text = render();
	g_assert_cmpuint(count_lines(text, "otpbridge_filter_matches_total{"), ==,
	    METRICS_SERIES_MAX + 1);
	g_assert_nonnull(strstr(text, "otpbridge_filter_matches_total{filter=\"other\"} 10\n"));
	g_assert_nonnull(strstr(text, "otpbridge_filter_matches_total{filter=\"f0000\"} 2\n"));
	g_assert_nonnull(strstr(text, "otpbridge_filter_matches_total{filter=\"f0255\"} 1\n"));
	g_assert_null(strstr(text, "{filter=\"f0256\"}"));
	/* two labels: the overflow series has every value "other" */
	for (guint i = 0; i < METRICS_SERIES_MAX + 1; i++) {
		g_autofree char *src = g_strdup_printf("imap:a%u", i);
		metrics_message(src, "queued");
	}
	g_free(text);
	text = render();
	g_assert_nonnull(strstr(text,
	    "otpbridge_messages_total{source=\"other\",result=\"other\"} 1\n"));
}

static void
test_long_and_invalid(void)
{
	g_autofree char *text = NULL;
	g_autofree char *longname = g_strnfill(1000, 'x');
	g_autofree char *cut = g_strnfill(128, 'x');
	g_autofree char *want = g_strdup_printf("{filter=\"%s\"} 1\n", cut);

	metrics_reset();
	metrics_filter(longname);
	metrics_filter("bad\xff" "byte");
	metrics_filter(NULL);
	text = render();
	g_assert_nonnull(strstr(text, want));
	g_assert_true(g_utf8_validate(text, -1, NULL));
	g_assert_nonnull(strstr(text, "{filter=\"\"} 1\n"));
}

static void
test_reset(void)
{
	g_autofree char *text = NULL;

	metrics_filter("x");
	metrics_push("failed", 0.2);
	metrics_reset();
	text = render();
	g_assert_null(strstr(text, "{filter="));
	g_assert_null(strstr(text, "{result="));
	g_assert_nonnull(strstr(text, "otpbridge_push_duration_seconds_count 0\n"));
	g_assert_nonnull(strstr(text, "otpbridge_push_duration_seconds_sum 0\n"));
	g_assert_nonnull(strstr(text, "# TYPE otpbridge_pushes_total counter\n"));
	g_assert_cmpuint(count_lines(text, "# HELP "), ==, 12);
	g_assert_cmpuint(count_lines(text, "# TYPE "), ==, 12);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/metrics/full", test_full);
	g_test_add_func("/metrics/stable", test_stable);
	g_test_add_func("/metrics/bound", test_bound);
	g_test_add_func("/metrics/long-and-invalid", test_long_and_invalid);
	g_test_add_func("/metrics/reset", test_reset);
	return g_test_run();
}
