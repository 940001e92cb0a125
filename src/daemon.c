/*
 * daemon.c - `otpbridge run`: opens the store, starts the push runner and
 * the LMTP/SMTP sink, the HTTP side (pull, /metrics, /healthz, /status)
 * and one IMAP thread per account; one GLib main loop for everything else
 * (STYLE: one process, one event loop).  Every source feeds the one
 * intake (intake.c), which decides, commits and logs.  IMAP threads only
 * fetch: each message goes to the intake, its job and the account's UID
 * are committed in one transaction, and only then is the thread told,
 * which marks, moves or deletes it.
 *
 * SIGHUP reads the config and every filter again; only when all of it
 * loads does the new set replace the old, atomically between two
 * messages (a broken file keeps the running set and logs file:line).
 * What decides a message ([auth], [push] send and max_age, the filters),
 * the sink's recipients and limits and the HTTP side's signing key,
 * timestamp window, bind_code_to_task and max_body apply at once; the
 * listeners, the store, the push client and the IMAP accounts are those
 * of the start, and every change to them is named in one log line as
 * needing a restart (config_reload_check).
 *
 * SIGTERM and SIGINT stop accepting connections, answer idle sessions
 * with 421, let sessions in a transaction finish it, then stop claiming
 * jobs and let pushes in flight finish, all within a grace period of the
 * push timeout plus DAEMON_GRACE_EXTRA; then exit 0.  What is not pushed
 * stays pending in the store for the next start, which pushes it at once:
 * also the jobs a killed process had leased, whose leases it voids
 * (daemon_owner, store_void_dead_leases).  No self-daemonising:
 * systemd (or the shell) runs us.
 */
#include "autoconfig.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <glib-unix.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon.h"
#include "http.h"
#include "imap.h"
#include "intake.h"
#include "json.h"
#include "lmtp.h"
#include "metrics.h"
#include "push.h"
#include "queue.h"
#include "status.h"
#include "store.h"
#include "util.h"

#define DAEMON_GRACE_EXTRA 2      /* seconds beyond the push timeout */
#define DAEMON_MAX_INFLIGHT 64

struct daemon {
	struct config *cfg;           /* the boot config: listeners, store, push */
	struct filter_set *set;
	struct config *live;          /* the config messages are decided with */
	char *path;
	gboolean must_exist;
	struct store *st;
	struct push_client *pc;
	struct queue *q;
	struct intake *intake;        /* every source's pipeline */
	struct lmtp *lmtp;
	struct http *http;
	GPtrArray *imap;              /* struct imap_account * */
	gint64 started;               /* Unix seconds */
	GMainLoop *loop;
	gint64 stop_deadline;     /* monotonic µs; 0: running */
};

/* One line at start when the API key goes over plain http beyond this
 * machine ([push] allow_http = private). */
static void
daemon_warn_clear_http(const struct config *cfg)
{
	g_autoptr(GUri) uri = NULL;

	if (!cfg->push.http_private || cfg->push.api_key == NULL ||
	    g_ascii_strncasecmp(cfg->push.url, "http://", 7) != 0)
		return;
	uri = g_uri_parse(cfg->push.url, G_URI_FLAGS_NONE, NULL);
	if (uri == NULL || util_is_loopback_host(g_uri_get_host(uri)))
		return;
	g_warning("push: url is plain http to %s ([push] allow_http = private): the API "
	    "key and the codes cross that network in clear; connections go only to "
	    "private addresses", g_uri_get_host(uri));
}

/* Polls the drain: quits once nothing is in flight or the grace is over. */
static gboolean
daemon_drain_cb(gpointer data)
{
	struct daemon *d = data;
	gboolean late = g_get_monotonic_time() >= d->stop_deadline;
	guint n;

	/* Sessions first: what they commit is pushed before we go. */
	if (d->lmtp != NULL && lmtp_sessions(d->lmtp) > 0 && !late)
		return G_SOURCE_CONTINUE;
	if (d->lmtp != NULL && lmtp_sessions(d->lmtp) > 0)
		g_warning("stopping with %u session%s still open: their clients retry",
		    lmtp_sessions(d->lmtp), lmtp_sessions(d->lmtp) == 1 ? "" : "s");
	/* IMAP messages waiting for their commit: it is tried once more. */
	if (intake_pending(d->intake) > 0 && !late)
		return G_SOURCE_CONTINUE;
	queue_stop(d->q);
	n = queue_inflight(d->q);
	if (n == 0 || late) {
		if (n > 0)
			g_warning("stopping with %u push%s in flight: they stay pending "
			    "and are pushed at the next start", n, n == 1 ? "" : "es");
		g_main_loop_quit(d->loop);
		return G_SOURCE_REMOVE;
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
daemon_stop_cb(gpointer data)
{
	struct daemon *d = data;

	if (d->stop_deadline != 0)
		return G_SOURCE_CONTINUE;
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	g_message("stopping: draining %u session%s and %u push%s (at most %u s)",
	    d->lmtp != NULL ? lmtp_sessions(d->lmtp) : 0,
	    d->lmtp != NULL && lmtp_sessions(d->lmtp) == 1 ? "" : "s",
	    queue_inflight(d->q), queue_inflight(d->q) == 1 ? "" : "es",
	    d->cfg->push.timeout + DAEMON_GRACE_EXTRA);
	if (d->lmtp != NULL)
		lmtp_shutdown(d->lmtp);
	intake_stop(d->intake);
	d->stop_deadline = g_get_monotonic_time() +
	    (gint64)(d->cfg->push.timeout + DAEMON_GRACE_EXTRA) * G_USEC_PER_SEC;
	g_timeout_add(50, daemon_drain_cb, d);
	return G_SOURCE_CONTINUE;
}

static gboolean
daemon_hup_cb(gpointer data)
{
	struct daemon *d = data;
	struct config *cfg = NULL;
	struct filter_set *set = NULL;
	GError *err = NULL;
	g_autofree char *restart = NULL;

	/* d->cfg is what the listeners, store, push client and accounts run. */
	if (config_load(d->path, d->must_exist, &cfg, &err) < 0 ||
	    config_reload_check(d->cfg, cfg, &restart, &err) < 0 ||
	    filter_set_load(cfg->filters_dir, cfg->filters_dir_set, &set, &err) < 0) {
		g_warning("reload failed, keeping the running configuration: %s",
		    err->message);
		g_error_free(err);
		config_free(&cfg);
		return G_SOURCE_CONTINUE;
	}
	if (restart != NULL)
		g_warning("reload: these changes need a restart to apply: %s", restart);
	intake_set_decision(d->intake, cfg, set);
	if (d->lmtp != NULL)
		lmtp_reconfigure(d->lmtp, cfg);
	if (d->http != NULL)
		http_reconfigure(d->http, cfg);
	filter_set_free(&d->set);
	d->set = set;
	if (d->live != d->cfg)
		config_free(&d->live);
	d->live = cfg;
	g_message("reloaded %s: %u filter%s%s", cfg->path != NULL ? cfg->path :
	    "(built-in defaults)", set->filters->len, set->filters->len == 1 ? "" : "s",
	    set->builtin ? " (built-in)" : "");
	return G_SOURCE_CONTINUE;
}

/* The [imap:NAME] config of an account. */
static const struct imap_config *
daemon_imap_config(const struct daemon *d, const char *name)
{
	for (guint i = 0; i < d->cfg->imap->len; i++) {
		const struct imap_config *ic = g_ptr_array_index(d->cfg->imap, i);
		if (strcmp(ic->name, name) == 0)
			return ic;
	}
	return NULL;
}

/* An IMAP message waiting for the intake's verdict. */
struct daemon_imap_wait {
	struct imap_account *a;
	const struct imap_msg *m;
};

/* The intake's outcome: the thread applies `after` and keeps the UID only
 * when the commit (jobs and UID in one transaction) went through. */
static void
daemon_imap_done(const struct intake_done *done, gpointer data)
{
	struct daemon_imap_wait *w = data;

	if (!done->committed)
		g_warning("src=imap:%s uid=%u result=tempfail error=\"%s\" (fetched "
		    "again later)", w->m->account, w->m->uid, done->error);
	imap_msg_done(w->a, w->m, done->committed);
	g_free(w);
}

void
daemon_imap_submit(struct intake *in, const struct imap_config *ic,
    const struct imap_msg *m, intake_done_fn fn, gpointer data)
{
	g_autofree char *src = g_strconcat("imap:", m->account, NULL);
	struct intake_msg im = { 0 };

	im.source = src;
	im.data = m->data;
	im.len = m->len;
	/* Over max_size: no client to refuse, so dropped (too-large), as
	 * deliver does; the UID still advances in the same commit. */
	im.too_big = m->too_big;
	im.limit = m->limit;
	im.can_refuse = FALSE;
	im.account = m->account;
	im.account_identifier = ic != NULL ? ic->identifier : NULL;
	im.account_trusted = ic != NULL ? ic->trusted_authserv_id : NULL;
	im.internal_date = m->internal_date;
	im.uid_account = m->account;
	im.uid_mailbox = m->mailbox;
	im.uidvalidity = m->uidvalidity;
	im.uid = m->uid;
	(void)intake_submit(in, &im, fn, data);
}

/* One message from an IMAP thread (see daemon_imap_submit). */
static void
daemon_imap_msg(struct imap_account *a, const struct imap_msg *m, gpointer data)
{
	struct daemon *d = data;
	struct daemon_imap_wait *w = g_new0(struct daemon_imap_wait, 1);

	w->a = a;
	w->m = m;
	daemon_imap_submit(d->intake, daemon_imap_config(d, m->account), m,
	    daemon_imap_done, w);
}

/* Starts one thread per [imap:NAME], resuming from the stored state. */
static void
daemon_imap_start(struct daemon *d)
{
	d->imap = g_ptr_array_new();
	for (guint i = 0; i < d->cfg->imap->len; i++) {
		const struct imap_config *ic = g_ptr_array_index(d->cfg->imap, i);
		struct imap_start start = { FALSE, 0, 0, d->cfg->push.max_age };
		GError *err = NULL;

		if (store_imap_get(d->st, ic->name, ic->mailbox, &start.uidvalidity,
		    &start.last_uid, &start.have_state, &err) < 0) {
			g_warning("imap=%s cannot read its state (%s): starting afresh",
			    ic->name, err->message);
			g_clear_error(&err);
			start.have_state = FALSE;
		}
		g_ptr_array_add(d->imap, imap_account_start(ic, &start, daemon_imap_msg, d,
		    NULL));
	}
}

/* Feeds the IMAP gauges of /metrics. */
static gboolean
daemon_imap_metrics_cb(gpointer data)
{
	struct daemon *d = data;

	for (guint i = 0; d->imap != NULL && i < d->imap->len; i++) {
		struct imap_account *a = g_ptr_array_index(d->imap, i);
		struct imap_status st = { 0 };

		const struct imap_config *ic;

		imap_account_status(a, &st);
		metrics_imap(imap_account_name(a), st.connected, st.last_sync);
		ic = daemon_imap_config(d, imap_account_name(a));
		if (ic != NULL)
			metrics_imap_poll(imap_account_name(a), ic->poll_interval);
		g_free(st.last_error);
	}
	return G_SOURCE_CONTINUE;
}

/* /healthz beyond the store probe: pushes refused for a bad key, and IMAP
 * accounts not synced within 2 x poll_interval (after a start-up grace of
 * the same length). */
static char *
daemon_health(gpointer data)
{
	struct daemon *d = data;
	GString *why = g_string_new(NULL);
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	if (queue_auth_failing(d->q))
		g_string_append(why, "pushes fail with 403: the endpoint rejects the API key\n");
	for (guint i = 0; d->imap != NULL && i < d->imap->len; i++) {
		struct imap_account *a = g_ptr_array_index(d->imap, i);
		const struct imap_config *ic = daemon_imap_config(d, imap_account_name(a));
		gint64 limit = 2 * (gint64)(ic != NULL ? ic->poll_interval : 60);
		struct imap_status st = { 0 };

		imap_account_status(a, &st);
		if (st.last_sync > 0 ? now - st.last_sync > limit : now - d->started > limit)
			g_string_append_printf(why, "imap:%s has not synced for over %" G_GINT64_FORMAT
			    " s%s%s\n", imap_account_name(a), limit,
			    st.last_error != NULL ? ": " : "",
			    st.last_error != NULL ? st.last_error : "");
		g_free(st.last_error);
	}
	if (why->len == 0) {
		g_string_free(why, TRUE);
		return NULL;
	}
	g_string_truncate(why, why->len - 1);
	return g_string_free(why, FALSE);
}

/* GET /status for `otpbridge status`: what only the running daemon
 * knows (its IMAP connections), as JSON.  No code, no secret. */
static char *
daemon_status(gpointer data)
{
	struct daemon *d = data;
	struct status_live l;
	char *body;

	status_live_init(&l);
	l.version = g_strdup(PACKAGE_VERSION);
	l.pid = (gint64)getpid();
	l.started = d->started;
	l.store = g_strdup(d->cfg->store.path);
	l.push_auth_failing = queue_auth_failing(d->q);
	for (guint i = 0; d->imap != NULL && i < d->imap->len; i++) {
		struct imap_account *a = g_ptr_array_index(d->imap, i);
		struct status_imap_live *al = g_new0(struct status_imap_live, 1);
		struct imap_status st = { 0 };

		imap_account_status(a, &st);
		al->account = g_strdup(imap_account_name(a));
		al->connected = st.connected;
		al->last_sync = st.last_sync;
		al->last_error = st.last_error;
		g_ptr_array_add(l.imap, al);
	}
	body = json_status_live(&l);
	status_live_clear(&l);
	return body;
}

#ifdef HAVE_SYSTEMD
/* Tells systemd's watchdog the loop is alive. */
static gboolean
daemon_watchdog_cb(gpointer data)
{
	sd_notify(0, "WATCHDOG=1");
	return G_SOURCE_CONTINUE;
}
#endif

/*
 * Our lease owner, alive while we are (store_live_owner), and the leases
 * of processes that died holding some (kill -9) made due now: "a restart
 * resumes pending jobs at once" (SPEC 5).  Without the lock file the
 * owner is plain "daemon:PID" and a crash costs the lease (push timeout +
 * QUEUE_LEASE_EXTRA) as before.
 */
static char *
daemon_owner(struct store *st)
{
	GError *err = NULL;
	char *owner = store_live_owner(st, "daemon", &err);
	guint n = 0;

	if (owner == NULL) {
		g_warning("%s (after a crash, jobs it had leased wait for the lease "
		    "to lapse)", err->message);
		g_clear_error(&err);
		return g_strdup_printf("daemon:%d", (int)getpid());
	}
	if (store_void_dead_leases(st, owner, &n, &err) < 0) {
		g_warning("%s (leases of a crashed process lapse instead)", err->message);
		g_clear_error(&err);
	} else if (n > 0) {
		g_message("result=reclaimed jobs=%u (leased by a process that is gone: "
		    "due now)", n);
	}
	return owner;
}

int
daemon_run(struct config *cfg, struct filter_set *set, const char *path,
    gboolean must_exist)
{
	struct daemon d = { 0 };
	struct queue_params qp;
	GError *err = NULL;
	g_autofree char *owner = NULL;
	guint sig[3];
	int rc = 0;

	d.cfg = cfg;
	d.live = cfg;
	d.set = set;
	d.must_exist = must_exist;
	if (store_open(cfg->store.path, &d.st, &err) < 0) {
		g_warning("cannot open the store: %s", err->message);
		rc = EXIT_TEMPFAIL;
		goto out;
	}
	/* The loop must not wait seconds for another process's lock: the
	 * group commit and the queue retry from timers instead (intake.c,
	 * queue.c). */
	owner = daemon_owner(d.st);
	store_set_busy_timeout(d.st, STORE_LOOP_BUSY_MS);
	d.pc = push_client_for(cfg, NULL);
	daemon_warn_clear_http(cfg);
	qp.owner = owner;
	qp.timeout = cfg->push.timeout;
	qp.max_inflight = DAEMON_MAX_INFLIGHT;
	qp.retention = cfg->store.retention;
	d.q = queue_new(d.st, d.pc, &qp, NULL);
	d.intake = intake_new(d.st, d.q, NULL, cfg, set);
	{
		struct lmtp_env env = { d.intake, cfg };
		struct http_env henv = { d.st, cfg, daemon_health, &d, daemon_status, &d };

		d.lmtp = lmtp_new(&env, &err);
		if (d.lmtp == NULL ||
		    (cfg->http.listen->len > 0 && (d.http = http_new(&henv, &err)) == NULL)) {
			g_warning("%s", err->message);
			rc = EXIT_CONFIG;
			goto out;
		}
	}
	d.path = g_strdup(path);
	d.started = g_get_real_time() / G_USEC_PER_SEC;
	daemon_imap_start(&d);
	d.loop = g_main_loop_new(NULL, FALSE);
	sig[0] = g_unix_signal_add(SIGTERM, daemon_stop_cb, &d);
	sig[1] = g_unix_signal_add(SIGINT, daemon_stop_cb, &d);
	sig[2] = g_unix_signal_add(SIGHUP, daemon_hup_cb, &d);

	g_message("otpbridge %s started: store=%s push=%s filters=%u%s",
	    PACKAGE_VERSION, cfg->store.path,
	    d.pc != NULL ? cfg->push.url : "dry-run (no api key or url: logs what it would push)",
	    set->filters->len, set->builtin ? " (built-in)" : "");
	queue_start(d.q);
	g_timeout_add_seconds(5, daemon_imap_metrics_cb, &d);
#ifdef HAVE_SYSTEMD
	{
		guint64 usec = 0;

		if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
			g_timeout_add((guint)MAX(usec / 2000, 100), daemon_watchdog_cb, NULL);
	}
	sd_notify(0, "READY=1\nSTATUS=running");
#endif
	g_main_loop_run(d.loop);

	for (int i = 0; i < 3; i++)
		g_source_remove(sig[i]);
	g_main_loop_unref(d.loop);
	g_message("stopped");
out:
	g_clear_error(&err);
	/* The threads first: no message may arrive for a freed queue. */
	for (guint i = 0; d.imap != NULL && i < d.imap->len; i++) {
		struct imap_account *a = g_ptr_array_index(d.imap, i);
		imap_account_stop(&a);
	}
	if (d.imap != NULL)
		g_ptr_array_unref(d.imap);
	http_free(&d.http);
	lmtp_free(&d.lmtp);
	intake_free(&d.intake);    /* what still waits: not kept, not acknowledged */
	queue_free(&d.q);
	push_client_free(&d.pc);
	store_close(&d.st);
	filter_set_free(&d.set);
	if (d.live != d.cfg)
		config_free(&d.live);
	config_free(&d.cfg);
	g_free(d.path);
	return rc;
}
