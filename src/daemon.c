/*
 * daemon.c - `otpbridge run`: opens the store, starts the push runner and
 * the LMTP/SMTP sink (IMAP arrives with issue 5); one GLib main loop for
 * all of it (STYLE: one process, one event loop).
 *
 * SIGTERM and SIGINT stop accepting connections, answer idle sessions
 * with 421, let sessions in a transaction finish it, then stop claiming
 * jobs and let pushes in flight finish, all within a grace period of the
 * push timeout plus DAEMON_GRACE_EXTRA; then exit 0.  What is not pushed
 * stays pending in the store for the next start.  No self-daemonising:
 * systemd (or the shell) runs us.
 */
#include "autoconfig.h"

#include <signal.h>
#include <unistd.h>
#include <glib-unix.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon.h"
#include "lmtp.h"
#include "push.h"
#include "queue.h"
#include "store.h"
#include "util.h"

#define DAEMON_GRACE_EXTRA 2      /* seconds beyond the push timeout */
#define DAEMON_MAX_INFLIGHT 64

struct daemon {
	struct config *cfg;
	struct filter_set *set;
	struct store *st;
	struct push_client *pc;
	struct queue *q;
	struct lmtp *lmtp;
	GMainLoop *loop;
	gint64 stop_deadline;     /* monotonic µs; 0: running */
};

struct push_client *
daemon_push_client(const struct config *cfg, GMainContext *ctx)
{
	struct push_config pcfg;

	if (cfg->push.api_key == NULL || *cfg->push.url == '\0')
		return NULL;
	pcfg.url = cfg->push.url;
	pcfg.api_key = cfg->push.api_key;
	pcfg.timeout = cfg->push.timeout;
	pcfg.ca_file = cfg->push.ca_file;
	return push_client_new(&pcfg, ctx);
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
	d->stop_deadline = g_get_monotonic_time() +
	    (gint64)(d->cfg->push.timeout + DAEMON_GRACE_EXTRA) * G_USEC_PER_SEC;
	g_timeout_add(50, daemon_drain_cb, d);
	return G_SOURCE_CONTINUE;
}

static gboolean
daemon_hup_cb(gpointer data)
{
	/* XXX reload arrives with the sources that use config and filters. */
	g_message("SIGHUP: reloading is not supported yet; restart to apply changes");
	return G_SOURCE_CONTINUE;
}

int
daemon_run(struct config *cfg, struct filter_set *set)
{
	struct daemon d = { 0 };
	struct queue_params qp;
	GError *err = NULL;
	g_autofree char *owner = g_strdup_printf("daemon:%d", (int)getpid());
	guint sig[3];

	d.cfg = cfg;
	d.set = set;
	if (store_open(cfg->store.path, &d.st, &err) < 0) {
		g_warning("cannot open the store: %s", err->message);
		g_error_free(err);
		filter_set_free(&set);
		config_free(&cfg);
		return EXIT_TEMPFAIL;
	}
	d.pc = daemon_push_client(cfg, NULL);
	qp.owner = owner;
	qp.timeout = cfg->push.timeout;
	qp.max_inflight = DAEMON_MAX_INFLIGHT;
	qp.retention = cfg->store.retention;
	d.q = queue_new(d.st, d.pc, &qp, NULL);
	{
		struct lmtp_env env = { d.st, d.q, cfg, set };

		d.lmtp = lmtp_new(&env, &err);
		if (d.lmtp == NULL) {
			g_warning("%s", err->message);
			g_error_free(err);
			queue_free(&d.q);
			push_client_free(&d.pc);
			store_close(&d.st);
			filter_set_free(&set);
			config_free(&cfg);
			return EXIT_CONFIG;
		}
	}
	d.loop = g_main_loop_new(NULL, FALSE);
	sig[0] = g_unix_signal_add(SIGTERM, daemon_stop_cb, &d);
	sig[1] = g_unix_signal_add(SIGINT, daemon_stop_cb, &d);
	sig[2] = g_unix_signal_add(SIGHUP, daemon_hup_cb, NULL);

	g_message("otpbridge %s started: store=%s push=%s filters=%u%s",
	    PACKAGE_VERSION, cfg->store.path,
	    d.pc != NULL ? cfg->push.url : "dry-run (no api key or url: logs what it would push)",
	    set->filters->len, set->builtin ? " (built-in)" : "");
	queue_start(d.q);
#ifdef HAVE_SYSTEMD
	sd_notify(0, "READY=1\nSTATUS=running");
#endif
	g_main_loop_run(d.loop);

	for (int i = 0; i < 3; i++)
		g_source_remove(sig[i]);
	lmtp_free(&d.lmtp);
	queue_free(&d.q);
	push_client_free(&d.pc);
	store_close(&d.st);
	g_main_loop_unref(d.loop);
	filter_set_free(&d.set);
	config_free(&d.cfg);
	g_message("stopped");
	return 0;
}
