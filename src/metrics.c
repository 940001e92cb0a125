/*
 * metrics.c - the process-wide counters, gauges and histograms behind
 * GET /metrics, rendered in the Prometheus text exposition format 0.0.4.
 *
 * Hostile input: label values come from configuration and from mail
 * (filter names, account names, sources); they are escaped per the
 * format (\\, \" and \n), made valid UTF-8 and cut at METRICS_LABEL_MAX
 * bytes before they become part of a series key.
 *
 * Limits: at most METRICS_SERIES_MAX series per metric; a new label set
 * beyond that is counted in one extra series whose every label value is
 * "other".  Histograms have fixed buckets and no labels.  Main-thread
 * only, like every caller (metrics.h).
 */
#include "autoconfig.h"

#include <math.h>
#include <string.h>

#include "metrics.h"

#define METRICS_LABEL_MAX 128   /* bytes of one label value kept */

/* The bucket bounds, as numbers and exactly as rendered in le="". */
static const double metrics_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
static const char *const metrics_bound_names[] = {
	"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
	"1", "2.5", "5", "10",
};
#define METRICS_BUCKETS G_N_ELEMENTS(metrics_bounds)
G_STATIC_ASSERT(G_N_ELEMENTS(metrics_bounds) == G_N_ELEMENTS(metrics_bound_names));

/* A metric with labels: series key (the rendered "{a="x",b="y"}") ->
 * gdouble *. */
struct metrics_family {
	const char *name;
	const char *help;
	const char *type;              /* counter | gauge */
	const char *const *labels;     /* NULL-terminated */
	GHashTable *series;            /* created on first use */
};

struct metrics_hist {
	const char *name;
	const char *help;
	guint64 buckets[METRICS_BUCKETS]; /* cumulative; +Inf is count */
	guint64 count;
	double sum;
};

static const char *const metrics_l_source_result[] = { "source", "result", NULL };
static const char *const metrics_l_filter[] = { "filter", NULL };
static const char *const metrics_l_result[] = { "result", NULL };
static const char *const metrics_l_source[] = { "source", NULL };
static const char *const metrics_l_account[] = { "account", NULL };
static const char *const metrics_l_status[] = { "status", NULL };

enum metrics_family_id {
	METRICS_MESSAGES,
	METRICS_FILTER,
	METRICS_PUSHES,
	METRICS_SESSIONS,
	METRICS_IMAP_CONNECTED,
	METRICS_IMAP_SYNC,
	METRICS_IMAP_POLL,
	METRICS_REPLIES,
	METRICS_FAMILIES
};

static struct metrics_family metrics_families[METRICS_FAMILIES] = {
	[METRICS_MESSAGES] = { "otpbridge_messages_total",
	    "Recipient decisions by source and result.", "counter",
	    metrics_l_source_result, NULL },
	[METRICS_FILTER] = { "otpbridge_filter_matches_total",
	    "Messages matched, by filter.", "counter", metrics_l_filter, NULL },
	[METRICS_PUSHES] = { "otpbridge_pushes_total",
	    "Push attempts by result.", "counter", metrics_l_result, NULL },
	[METRICS_SESSIONS] = { "otpbridge_sessions",
	    "Open LMTP/SMTP sessions.", "gauge", metrics_l_source, NULL },
	[METRICS_IMAP_CONNECTED] = { "otpbridge_imap_connected",
	    "1 when the IMAP account is connected.", "gauge", metrics_l_account, NULL },
	[METRICS_IMAP_SYNC] = { "otpbridge_imap_last_sync_timestamp_seconds",
	    "Unix time of the account's last completed sync.", "gauge",
	    metrics_l_account, NULL },
	[METRICS_IMAP_POLL] = { "otpbridge_imap_poll_interval_seconds",
	    "The account's poll_interval (its sync is due at least this often).",
	    "gauge", metrics_l_account, NULL },
	[METRICS_REPLIES] = { "otpbridge_push_replies_total",
	    "Push attempts by the endpoint's HTTP status (0: no reply).", "counter",
	    metrics_l_status, NULL },
};

static struct metrics_hist metrics_push_hist = {
	"otpbridge_push_duration_seconds", "Duration of one push attempt.",
	{ 0 }, 0, 0,
};
static struct metrics_hist metrics_accepted_hist = {
	"otpbridge_arrival_to_accepted_seconds",
	"From a message's arrival to the endpoint's 2xx.", { 0 }, 0, 0,
};

/* Appends s escaped as a label value (exposition format 0.0.4). */
static void
metrics_escape(GString *out, const char *s)
{
	g_autofree char *valid = g_utf8_make_valid(s != NULL ? s : "", -1);
	const char *end = valid + strlen(valid);

	if (end - valid > METRICS_LABEL_MAX) {
		/* cut on a character boundary */
		end = g_utf8_find_prev_char(valid, valid + METRICS_LABEL_MAX + 1);
		if (end == NULL)
			end = valid;
	}
	for (const char *p = valid; p < end; p++) {
		switch (*p) {
		case '\\':
			g_string_append(out, "\\\\");
			break;
		case '"':
			g_string_append(out, "\\\"");
			break;
		case '\n':
			g_string_append(out, "\\n");
			break;
		default:
			g_string_append_c(out, *p);
		}
	}
}

/* The series key {l1="v1",...} for values (NULL: every value "other"). */
static char *
metrics_key(const struct metrics_family *f, const char *const *values)
{
	GString *k = g_string_new("{");

	for (guint i = 0; f->labels[i] != NULL; i++) {
		if (i > 0)
			g_string_append_c(k, ',');
		g_string_append_printf(k, "%s=\"", f->labels[i]);
		metrics_escape(k, values != NULL ? values[i] : "other");
		g_string_append_c(k, '"');
	}
	g_string_append_c(k, '}');
	return g_string_free(k, FALSE);
}

/* The value cell of the series for values, created at 0 when new (or
 * the "other" series when the family is full). */
static double *
metrics_cell(enum metrics_family_id id, const char *const *values)
{
	struct metrics_family *f = &metrics_families[id];
	char *key;
	double *v;

	if (f->series == NULL)
		f->series = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	key = metrics_key(f, values);
	v = g_hash_table_lookup(f->series, key);
	if (v != NULL) {
		g_free(key);
		return v;
	}
	if (g_hash_table_size(f->series) >= METRICS_SERIES_MAX) {
		g_free(key);
		key = metrics_key(f, NULL);
		v = g_hash_table_lookup(f->series, key);
		if (v != NULL) {
			g_free(key);
			return v;
		}
	}
	v = g_new0(double, 1);
	g_hash_table_insert(f->series, key, v);
	return v;
}

static void
metrics_hist_observe(struct metrics_hist *h, double v)
{
	if (isnan(v))
		return;
	if (v < 0)
		v = 0;   /* a clock step backwards; durations are never negative */
	for (guint i = 0; i < METRICS_BUCKETS; i++)
		if (v <= metrics_bounds[i])
			h->buckets[i]++;
	h->count++;
	if (isfinite(v))
		h->sum += v;
}

void
metrics_message(const char *source, const char *result)
{
	const char *v[] = { source, result };

	*metrics_cell(METRICS_MESSAGES, v) += 1;
}

void
metrics_filter(const char *filter)
{
	const char *v[] = { filter };

	*metrics_cell(METRICS_FILTER, v) += 1;
}

void
metrics_push(const char *result, double seconds)
{
	const char *v[] = { result };

	*metrics_cell(METRICS_PUSHES, v) += 1;
	metrics_hist_observe(&metrics_push_hist, seconds);
}

void
metrics_push_reply(int status)
{
	char buf[16];
	const char *v[] = { buf };

	g_snprintf(buf, sizeof buf, "%d", status >= 0 && status <= 999 ? status : 0);
	*metrics_cell(METRICS_REPLIES, v) += 1;
}

void
metrics_superseded(guint n)
{
	const char *v[] = { "superseded" };

	if (n > 0)
		*metrics_cell(METRICS_PUSHES, v) += n;
}

void
metrics_accepted(double seconds)
{
	metrics_hist_observe(&metrics_accepted_hist, seconds);
}

void
metrics_sessions(const char *source, int delta)
{
	const char *v[] = { source };
	double *cell = metrics_cell(METRICS_SESSIONS, v);

	*cell += delta;
	if (*cell < 0)
		*cell = 0;
}

void
metrics_imap(const char *account, gboolean connected, gint64 last_sync)
{
	const char *v[] = { account };

	*metrics_cell(METRICS_IMAP_CONNECTED, v) = connected ? 1 : 0;
	if (last_sync > 0)
		*metrics_cell(METRICS_IMAP_SYNC, v) = (double)last_sync;
}

void
metrics_imap_poll(const char *account, guint poll_interval)
{
	const char *v[] = { account };

	*metrics_cell(METRICS_IMAP_POLL, v) = (double)poll_interval;
}

/* Appends v as a sample value: integers plainly, others with the
 * shortest of %.15g / %.17g that reads back exactly. */
static void
metrics_number(GString *out, double v)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (isnan(v)) {
		g_string_append(out, "NaN");
		return;
	}
	if (isinf(v)) {
		g_string_append(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if (v > -1e15 && v < 1e15 && (double)(gint64)v == v) {
		g_string_append_printf(out, "%" G_GINT64_FORMAT, (gint64)v);
		return;
	}
	g_ascii_formatd(buf, sizeof buf, "%.15g", v);
	if (g_ascii_strtod(buf, NULL) != v)
		g_ascii_formatd(buf, sizeof buf, "%.17g", v);
	g_string_append(out, buf);
}

static void
metrics_header(GString *out, const char *name, const char *help, const char *type)
{
	g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static int
metrics_strcmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* HELP, TYPE and every series of f, sorted by label set. */
static void
metrics_render_family(GString *out, const struct metrics_family *f)
{
	g_autofree gpointer *keys = NULL;
	guint n = 0;

	metrics_header(out, f->name, f->help, f->type);
	if (f->series == NULL)
		return;
	keys = g_hash_table_get_keys_as_array(f->series, &n);
	qsort(keys, n, sizeof *keys, metrics_strcmp);
	for (guint i = 0; i < n; i++) {
		g_string_append_printf(out, "%s%s ", f->name, (const char *)keys[i]);
		metrics_number(out, *(const double *)g_hash_table_lookup(f->series,
		    keys[i]));
		g_string_append_c(out, '\n');
	}
}

/* The age of each last-sync timestamp at now, as its own gauge. */
static void
metrics_render_age(GString *out, const struct metrics_family *f, gint64 now)
{
	g_autofree gpointer *keys = NULL;
	guint n = 0;

	metrics_header(out, "otpbridge_imap_last_sync_age_seconds",
	    "Seconds since the account's last completed sync.", "gauge");
	if (f->series == NULL)
		return;
	keys = g_hash_table_get_keys_as_array(f->series, &n);
	qsort(keys, n, sizeof *keys, metrics_strcmp);
	for (guint i = 0; i < n; i++) {
		double ts = *(const double *)g_hash_table_lookup(f->series, keys[i]);

		g_string_append_printf(out, "otpbridge_imap_last_sync_age_seconds%s ",
		    (const char *)keys[i]);
		metrics_number(out, MAX(0.0, (double)now - ts));
		g_string_append_c(out, '\n');
	}
}

static void
metrics_render_hist(GString *out, const struct metrics_hist *h)
{
	metrics_header(out, h->name, h->help, "histogram");
	/* buckets[] is already cumulative: each bound counts every v <= it */
	for (guint i = 0; i < METRICS_BUCKETS; i++)
		g_string_append_printf(out, "%s_bucket{le=\"%s\"} %" G_GUINT64_FORMAT "\n",
		    h->name, metrics_bound_names[i], h->buckets[i]);
	g_string_append_printf(out, "%s_bucket{le=\"+Inf\"} %" G_GUINT64_FORMAT "\n",
	    h->name, h->count);
	g_string_append_printf(out, "%s_sum ", h->name);
	metrics_number(out, h->sum);
	g_string_append_printf(out, "\n%s_count %" G_GUINT64_FORMAT "\n", h->name,
	    h->count);
}

void
metrics_render(GString *out, const guint64 queue_depth[JOB_STATES], gint64 now)
{
	const char *const *states = job_state_names;

	metrics_render_family(out, &metrics_families[METRICS_MESSAGES]);
	metrics_render_family(out, &metrics_families[METRICS_FILTER]);
	metrics_render_family(out, &metrics_families[METRICS_PUSHES]);
	metrics_render_family(out, &metrics_families[METRICS_REPLIES]);
	metrics_render_hist(out, &metrics_push_hist);
	metrics_render_hist(out, &metrics_accepted_hist);
	metrics_header(out, "otpbridge_queue_jobs", "Jobs in the store by state.", "gauge");
	for (guint i = 0; i < JOB_STATES; i++)
		g_string_append_printf(out, "otpbridge_queue_jobs{state=\"%s\"} %"
		    G_GUINT64_FORMAT "\n", states[i], queue_depth != NULL ? queue_depth[i] : 0);
	metrics_render_family(out, &metrics_families[METRICS_SESSIONS]);
	metrics_render_family(out, &metrics_families[METRICS_IMAP_CONNECTED]);
	metrics_render_family(out, &metrics_families[METRICS_IMAP_SYNC]);
	metrics_render_age(out, &metrics_families[METRICS_IMAP_SYNC], now);
	metrics_render_family(out, &metrics_families[METRICS_IMAP_POLL]);
}

static void
metrics_hist_reset(struct metrics_hist *h)
{
	memset(h->buckets, 0, sizeof h->buckets);
	h->count = 0;
	h->sum = 0;
}

void
metrics_reset(void)
{
	for (guint i = 0; i < METRICS_FAMILIES; i++)
		g_clear_pointer(&metrics_families[i].series, g_hash_table_destroy);
	metrics_hist_reset(&metrics_push_hist);
	metrics_hist_reset(&metrics_accepted_hist);
}
