/*
 * status.c - `otpbridge status [--json]` (SPEC 2): what the operator
 * wants to know on one screen, with or without a running daemon.
 *
 * Sources: the config (listeners, push host, dry run), the store opened
 * read-only and query-only (store_open_readonly: a missing store is
 * reported, never created; a locked one is reported as busy after
 * STATUS_STORE_BUSY_MS), and, when [http] listen is set, the daemon's
 * GET /healthz and GET /status (IMAP connected, last sync, last error:
 * only the daemon knows them), each bounded by STATUS_HTTP_TIMEOUT_MS
 * and STATUS_REPLY_MAX bytes, so a listener that accepts and never
 * answers costs at most twice the timeout.  Why GET /status and not
 * /metrics: the last IMAP error is not a metric (free text has no place
 * in a label), and one small JSON object is a contract that can be
 * documented and parsed strictly, where scraping the exposition format
 * would tie this command to metric names.
 *
 * Hostile input: whatever answers on the [http] address (it may not be
 * our daemon) and the strings stored from mail (identifiers, sources).
 * The reply is bounded and parsed strictly by json.c; every string shown
 * to a person has its control bytes replaced (no terminal escapes) and is
 * cut at STATUS_FIELD_MAX bytes.  Never shown: a code, a push body or
 * endpoint reply (they may hold the code), the API key, the URL's path,
 * query or user part (only its host and port).
 */
#include "autoconfig.h"

#include <string.h>

#include "json.h"
#include "httpc.h"
#include "status.h"
#include "util.h"

#define STATUS_FIELD_MAX 200          /* bytes of one string shown */

void
status_live_init(struct status_live *l)
{
	memset(l, 0, sizeof *l);
	l->imap = g_ptr_array_new();
}

void
status_live_clear(struct status_live *l)
{
	for (guint i = 0; l->imap != NULL && i < l->imap->len; i++) {
		struct status_imap_live *a = g_ptr_array_index(l->imap, i);

		g_free(a->account);
		g_free(a->last_error);
		g_free(a);
	}
	if (l->imap != NULL)
		g_ptr_array_unref(l->imap);
	g_free(l->version);
	g_free(l->store);
	memset(l, 0, sizeof *l);
}

char *
status_state_name(int state)
{
	int n = (int)g_strv_length((char **)job_state_names);

	if (state >= 0 && state < n)
		return g_strdup(job_state_names[state]);
	return g_strdup_printf("state %d", state);
}

char *
status_listen_label(const struct listen_addr *la)
{
	if (la->kind == LISTEN_UNIX)
		return g_strdup_printf("unix:%s", la->path);
	return g_strdup_printf("inet:%s:%u", la->host, la->port);
}

/* host[:port] of url, or NULL when it has none. */
static char *
status_url_host(const char *url)
{
	g_autoptr(GUri) u = NULL;

	if (url == NULL || *url == '\0')
		return NULL;
	u = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
	if (u == NULL || g_uri_get_host(u) == NULL)
		return NULL;
	if (g_uri_get_port(u) > 0)
		return g_strdup_printf("%s:%d", g_uri_get_host(u), g_uri_get_port(u));
	return g_strdup(g_uri_get_host(u));
}

/* s fit to show on a terminal: control bytes and DEL as '?', valid
 * UTF-8, at most STATUS_FIELD_MAX bytes.  "-" for NULL. */
static char *
status_clean(const char *s)
{
	g_autofree char *valid = NULL;
	GString *out;

	if (s == NULL)
		return g_strdup("-");
	valid = g_utf8_make_valid(s, -1);
	out = g_string_sized_new(strlen(valid));
	for (const char *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (out->len + 6 > STATUS_FIELD_MAX) {
			g_string_append(out, "...");
			break;
		}
		if (c < 0x20 || (c >= 0x7f && c < 0xa0))
			g_string_append_c(out, '?');
		else
			g_string_append_len(out, p, g_utf8_next_char(p) - p);
	}
	return g_string_free(out, FALSE);
}

/* Reads what the store holds into r; on error r says why. */
static void
status_collect_store(const struct config *cfg, struct status_report *r)
{
	struct store *st = NULL;
	GError *err = NULL;

	if (store_open_readonly(cfg->store.path, STATUS_STORE_BUSY_MS, &st, &err) < 0)
		goto fail;
	if (store_ro_counts(st, r->counts, &err) < 0 ||
	    store_ro_last_attempt(st, &r->last_attempt, &err) < 0 ||
	    store_ro_last_per_identifier(st, STATUS_IDENTIFIERS_MAX, r->recent,
	    &r->identifiers, &err) < 0)
		goto fail;
	for (guint i = 0; i < cfg->imap->len; i++) {
		const struct imap_config *ic = g_ptr_array_index(cfg->imap, i);
		struct status_imap_stored s = { 0 };

		if (store_ro_imap(st, ic->name, ic->mailbox, &s.uidvalidity, &s.last_uid,
		    &s.found, &err) < 0)
			goto fail;
		g_array_append_val(r->imap_stored, s);
	}
	store_close(&st);
	r->store_ok = TRUE;
	return;
fail:
	store_close(&st);
	r->store_ok = FALSE;
	r->store_busy = g_error_matches(err, OTPB_ERROR, OTPB_ERROR_TEMP);
	r->store_missing = g_error_matches(err, OTPB_ERROR, OTPB_ERROR_IO) &&
	    !g_file_test(cfg->store.path, G_FILE_TEST_EXISTS);
	r->store_error = g_strdup(err->message);
	g_error_free(err);
	/* nothing half-read is shown */
	g_array_set_size(r->counts, 0);
	g_clear_pointer(&r->last_attempt, store_outcome_free);
	g_ptr_array_set_size(r->recent, 0);
	g_array_set_size(r->imap_stored, 0);
	r->identifiers = 0;
}

/* The [http] listener to ask (a unix socket first: only this host's
 * users can reach it) as a URL base and a socket path. */
static const struct listen_addr *
status_daemon_addr(const struct config *cfg, char **base_r, char **unix_r)
{
	const struct listen_addr *pick = NULL;

	*base_r = NULL;
	*unix_r = NULL;
	for (guint i = 0; i < cfg->http.listen->len; i++) {
		const struct listen_addr *la = g_ptr_array_index(cfg->http.listen, i);

		if (pick == NULL || (la->kind == LISTEN_UNIX && pick->kind != LISTEN_UNIX))
			pick = la;
	}
	if (pick == NULL)
		return NULL;
	if (pick->kind == LISTEN_UNIX) {
		*base_r = g_strdup("http://localhost");
		*unix_r = g_strdup(pick->path);
	} else {
		const char *h = pick->host;

		/* a wildcard listener is asked on loopback */
		if (strcmp(h, "0.0.0.0") == 0 || g_ascii_strcasecmp(h, "localhost") == 0)
			h = "127.0.0.1";
		else if (strcmp(h, "::") == 0)
			h = "::1";
		*base_r = strchr(h, ':') != NULL ?
		    g_strdup_printf("http://[%s]:%u", h, pick->port) :
		    g_strdup_printf("http://%s:%u", h, pick->port);
	}
	return pick;
}

/* Asks the daemon for /healthz and /status. */
static void
status_collect_daemon(const struct config *cfg, struct status_report *r)
{
	g_autofree char *base = NULL;
	g_autofree char *sock = NULL;
	g_autofree char *url = NULL;
	g_autofree char *reply = NULL;
	g_autofree char *err = NULL;
	const struct listen_addr *la = status_daemon_addr(cfg, &base, &sock);
	int code = 0;

	if (la == NULL)
		return;
	r->daemon_at = status_listen_label(la);
	url = g_strconcat(base, "/healthz", NULL);
	if (httpc_get(url, sock, STATUS_HTTP_TIMEOUT_MS, STATUS_REPLY_MAX, &code, &reply,
	    &err) < 0) {
		r->daemon_error = g_steal_pointer(&err);
		return;
	}
	r->health_status = code;
	g_strchomp(reply);
	r->health = g_steal_pointer(&reply);
	g_free(url);
	url = g_strconcat(base, "/status", NULL);
	if (httpc_get(url, sock, STATUS_HTTP_TIMEOUT_MS, STATUS_REPLY_MAX, &code, &reply,
	    &err) < 0) {
		r->daemon_error = g_strdup_printf("GET /status: %s", err);
		return;
	}
	if (code != 200) {
		r->daemon_error = g_strdup_printf("GET /status answered %d%s", code,
		    code == 404 ? " (a daemon older than this command?)" : "");
		return;
	}
	if (json_status_live_parse(reply, strlen(reply), &r->live) < 0) {
		status_live_clear(&r->live);
		status_live_init(&r->live);
		r->daemon_error = g_strdup("GET /status: not the JSON object expected");
		return;
	}
	r->live_ok = TRUE;
}

void
status_collect(const struct config *cfg, gint64 now, struct status_report *r)
{
	memset(r, 0, sizeof *r);
	r->now = now;
	r->cfg = cfg;
	r->push_host = status_url_host(cfg->push.url);
	r->dry_run = cfg->push.api_key == NULL || *cfg->push.url == '\0';
	r->counts = g_array_new(FALSE, TRUE, sizeof(struct store_state_count));
	r->recent = g_ptr_array_new_with_free_func(store_outcome_free);
	r->imap_stored = g_array_new(FALSE, TRUE, sizeof(struct status_imap_stored));
	status_live_init(&r->live);
	status_collect_store(cfg, r);
	status_collect_daemon(cfg, r);
}

void
status_report_clear(struct status_report *r)
{
	g_free(r->push_host);
	g_free(r->store_error);
	if (r->counts != NULL)
		g_array_unref(r->counts);
	store_outcome_free(r->last_attempt);
	if (r->recent != NULL)
		g_ptr_array_unref(r->recent);
	if (r->imap_stored != NULL)
		g_array_unref(r->imap_stored);
	g_free(r->daemon_at);
	g_free(r->daemon_error);
	status_live_clear(&r->live);
	g_free(r->health);
	memset(r, 0, sizeof *r);
}

/* "delivered (HTTP 200)", "pending, retrying (HTTP 503)". */
static char *
status_result(const struct store_outcome *o)
{
	g_autofree char *state = status_state_name(o->state);
	GString *s = g_string_new(state);

	if (o->state == JOB_PENDING && o->attempts > 0)
		g_string_append(s, ", retrying");
	if (o->last_status > 0)
		g_string_append_printf(s, " (HTTP %d)", o->last_status);
	else if (o->state == JOB_DELIVERED)
		g_string_append(s, " (dry run)");
	else if (o->attempts > 0)
		g_string_append(s, " (no reply)");
	return g_string_free(s, FALSE);
}

static void
status_text_listeners(GString *out, const char *name, const GPtrArray *listen)
{
	g_string_append_printf(out, " %s ", name);
	if (listen->len == 0)
		g_string_append_c(out, '-');
	for (guint i = 0; i < listen->len; i++) {
		g_autofree char *l = status_listen_label(g_ptr_array_index(listen, i));
		g_autofree char *c = status_clean(l);

		g_string_append_printf(out, "%s%s", i > 0 ? "," : "", c);
	}
	g_string_append_c(out, ';');
}

/* The live entry of account, or NULL. */
static const struct status_imap_live *
status_imap_live(const struct status_report *r, const char *account)
{
	for (guint i = 0; r->live_ok && i < r->live.imap->len; i++) {
		const struct status_imap_live *a = g_ptr_array_index(r->live.imap, i);

		if (g_strcmp0(a->account, account) == 0)
			return a;
	}
	return NULL;
}

static void
status_text_daemon(GString *out, const struct status_report *r)
{
	g_string_append(out, "daemon:     ");
	if (r->daemon_at == NULL) {
		g_string_append(out, "not asked: no [http] listen, so the live state "
		    "(IMAP connections) is unknown\n");
		return;
	}
	if (r->health_status == 0) {
		g_autofree char *e = status_clean(r->daemon_error);

		g_string_append_printf(out, "not answering on %s (%s)\n", r->daemon_at, e);
		return;
	}
	g_string_append_printf(out, "running, on %s", r->daemon_at);
	if (r->live_ok) {
		g_autofree char *v = status_clean(r->live.version);
		g_autofree char *up = util_age_short(r->now - r->live.started);

		g_string_append_printf(out, ", pid %" G_GINT64_FORMAT ", version %s, up %s",
		    r->live.pid, v, up);
	}
	if (r->health_status == 200) {
		g_string_append(out, "; healthy\n");
	} else {
		g_auto(GStrv) lines = g_strsplit(r->health != NULL ? r->health : "", "\n", 20);

		g_string_append_printf(out, "; NOT healthy (/healthz %d)\n", r->health_status);
		for (guint i = 0; lines[i] != NULL; i++) {
			g_autofree char *c = status_clean(lines[i]);

			if (*lines[i] != '\0')
				g_string_append_printf(out, "            %s\n", c);
		}
	}
	if (!r->live_ok) {
		g_autofree char *e = status_clean(r->daemon_error);

		g_string_append_printf(out, "            live state unknown: %s\n", e);
	} else if (g_strcmp0(r->live.store, r->cfg->store.path) != 0) {
		g_autofree char *s = status_clean(r->live.store);

		g_string_append_printf(out, "            note: it uses the store %s, not the "
		    "one of this config\n", s);
	}
}

static void
status_text_push(GString *out, const struct status_report *r)
{
	g_autofree char *host = status_clean(r->push_host);

	g_string_append_printf(out, "push:       %s%s%s\n", host,
	    r->dry_run ? " (dry run: no API key or URL, nothing is sent)" : "",
	    r->live_ok && r->live.push_auth_failing ?
	    " (FAILING: the endpoint rejects the API key, 403)" : "");
	if (r->last_attempt != NULL) {
		const struct store_outcome *o = r->last_attempt;
		g_autofree char *res = status_result(o);
		g_autofree char *age = util_age_short(r->now - o->updated);
		g_autofree char *id = status_clean(o->identifier);

		g_string_append_printf(out, "            last result: %s, %s ago "
		    "(job %" G_GINT64_FORMAT ", %s)\n", res, age, o->id, id);
	} else if (r->store_ok) {
		g_string_append(out, "            last result: none yet\n");
	}
}

static void
status_text_queue(GString *out, const struct status_report *r)
{
	g_autofree char *path = status_clean(r->cfg->store.path);
	guint64 retrying = 0;

	if (!r->store_ok) {
		g_autofree char *e = status_clean(r->store_error);

		g_string_append_printf(out, "store:      %s: %s\n", r->store_busy ? "BUSY" :
		    r->store_missing ? "MISSING" : "UNREADABLE", e);
		return;
	}
	g_string_append_printf(out, "store:      %s\nqueue:     ", path);
	for (int s = 0; job_state_names[s] != NULL; s++) {
		guint64 n = 0;

		for (guint i = 0; i < r->counts->len; i++)
			if (g_array_index(r->counts, struct store_state_count, i).state == s)
				n = g_array_index(r->counts, struct store_state_count, i).jobs;
		g_string_append_printf(out, "%s %" G_GUINT64_FORMAT " %s", s > 0 ? "," : "",
		    n, job_state_names[s]);
	}
	for (guint i = 0; i < r->counts->len; i++) {
		const struct store_state_count *c =
		    &g_array_index(r->counts, struct store_state_count, i);

		retrying += c->retrying;
		if (c->state < 0 || c->state >= (int)g_strv_length((char **)job_state_names))
			g_string_append_printf(out, ", %" G_GUINT64_FORMAT " in state %d",
			    c->jobs, c->state);
	}
	if (retrying > 0)
		g_string_append_printf(out, " (%" G_GUINT64_FORMAT " pending retrying)",
		    retrying);
	g_string_append_c(out, '\n');
}

static void
status_text_imap(GString *out, const struct status_report *r)
{
	const GPtrArray *accounts = r->cfg->imap;

	if (accounts->len == 0)
		return;
	g_string_append(out, "imap:\n");
	for (guint i = 0; i < accounts->len; i++) {
		const struct imap_config *ic = g_ptr_array_index(accounts, i);
		const struct status_imap_live *a = status_imap_live(r, ic->name);
		g_autofree char *name = status_clean(ic->name);
		g_autofree char *mbox = status_clean(ic->mailbox);

		g_string_append_printf(out, "  %-16s %s: ", name, mbox);
		if (a == NULL) {
			g_string_append(out, "live state unknown (no answer from the daemon)");
		} else {
			g_string_append(out, a->connected ? "connected" : "NOT connected");
			if (a->last_sync > 0) {
				g_autofree char *age = util_age_short(r->now - a->last_sync);

				g_string_append_printf(out, ", last sync %s ago", age);
			} else {
				g_string_append(out, ", never synced");
			}
			if (a->last_error != NULL) {
				g_autofree char *e = status_clean(a->last_error);

				g_string_append_printf(out, ", last error: %s", e);
			}
		}
		if (r->store_ok && i < r->imap_stored->len &&
		    g_array_index(r->imap_stored, struct status_imap_stored, i).found)
			g_string_append_printf(out, "; stored uid %u (uidvalidity %u)",
			    g_array_index(r->imap_stored, struct status_imap_stored, i).last_uid,
			    g_array_index(r->imap_stored, struct status_imap_stored, i).uidvalidity);
		g_string_append_c(out, '\n');
	}
}

static void
status_text_recent(GString *out, const struct status_report *r)
{
	if (!r->store_ok)
		return;
	if (r->recent->len == 0) {
		g_string_append(out, "last delivery per identifier: none yet\n");
		return;
	}
	g_string_append_printf(out, "last delivery per identifier (%u of %" G_GUINT64_FORMAT
	    "):\n  %-32s %5s  %-12s %-16s %s\n", r->recent->len, r->identifiers,
	    "IDENTIFIER", "AGE", "SOURCE", "FILTER", "RESULT");
	for (guint i = 0; i < r->recent->len; i++) {
		const struct store_outcome *o = g_ptr_array_index(r->recent, i);
		g_autofree char *id = status_clean(o->identifier);
		g_autofree char *src = status_clean(o->source);
		g_autofree char *f = status_clean(o->filter);
		g_autofree char *age = util_age_short(r->now - o->created);
		g_autofree char *res = status_result(o);

		g_string_append_printf(out, "  %-32s %5s  %-12s %-16s %s\n", id, age, src, f,
		    res);
	}
}

char *
status_text(const struct status_report *r)
{
	GString *out = g_string_new(NULL);
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(r->now);
	g_autofree char *when = t != NULL ? g_date_time_format(t, "%Y-%m-%d %H:%M:%S UTC") :
	    g_strdup("?");
	g_autofree char *conf = status_clean(r->cfg->path != NULL ? r->cfg->path :
	    "(built-in defaults)");

	g_string_append_printf(out, "otpbridge status, %s, config %s\n", when, conf);
	status_text_daemon(out, r);
	g_string_append(out, "listeners: ");
	status_text_listeners(out, "lmtp", r->cfg->lmtp.listen);
	status_text_listeners(out, "smtp", r->cfg->smtp.listen);
	status_text_listeners(out, "http", r->cfg->http.listen);
	g_string_truncate(out, out->len - 1);
	g_string_append_c(out, '\n');
	status_text_push(out, r);
	status_text_queue(out, r);
	status_text_imap(out, r);
	status_text_recent(out, r);
	return g_string_free(out, FALSE);
}
