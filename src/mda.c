/*
 * mda.c - `otpbridge deliver` (SPEC 2): Postfix pipe, procmail, fetchmail
 * mda, sieve pipe.  A source adapter of the intake (intake.c), which
 * decides, commits and logs; this file reads stdin, opens the store only
 * when there is something to commit, pushes once and picks the exit
 * status.
 *
 * Exit 0 once the push is done or the job is durably committed (the
 * daemon pushes it later), and also for mail we drop on purpose: no code,
 * a duplicate, not mail at all, larger than [lmtp] max_size.  An MTA must
 * not bounce an OTP mail because of us, nor send backscatter for one we
 * do not want.  Exit 75 (EX_TEMPFAIL) only when the job could not be
 * committed, or stdin could not be read, so the MTA keeps the mail and
 * retries.
 *
 * Hostile input: the message on stdin (bounded by [lmtp] max_size; the
 * parse by mime.c).  The job is committed leased to this process's queue
 * (queue_lease(), by the intake), so the daemon does not push it at the
 * same time; if we die, the next daemon to start voids the lease (see
 * store_live_owner), or else it lapses, and the daemon takes over.
 */
#include "autoconfig.h"

#include <unistd.h>

#include "intake.h"
#include "mda.h"
#include "push.h"
#include "queue.h"
#include "store.h"
#include "util.h"

struct mda_run {
	GMainLoop *loop;
	struct queue *q;
	gboolean answered;
	gboolean committed;
	char *error;
};

/* The intake's outcome: committed (or nothing to keep) or not. */
static void
mda_done_cb(const struct intake_done *d, gpointer data)
{
	struct mda_run *r = data;

	r->answered = TRUE;
	r->committed = d->committed;
	r->error = g_strdup(d->error);
	if (r->loop != NULL)
		g_main_loop_quit(r->loop);
}

static gboolean
mda_wait_cb(gpointer data)
{
	struct mda_run *r = data;

	if (queue_inflight(r->q) > 0)
		return G_SOURCE_CONTINUE;
	g_main_loop_quit(r->loop);
	return G_SOURCE_REMOVE;
}

int
mda_deliver(const struct config *cfg, const struct filter_set *set,
    const char *rcpt)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	struct mda_run r = { 0 };
	struct intake_msg m = { 0 };
	struct intake *in;
	struct store *st = NULL;
	struct push_client *pc = NULL;
	char *data = NULL;
	gsize len = 0;
	GError *err = NULL;
	g_autofree char *owner = NULL;
	int rc = 0;

	m.source = "deliver";
	m.limit = cfg->lmtp.max_size;
	m.rcpts = rcpt != NULL ? &rcpt : NULL;
	m.n_rcpts = rcpt != NULL ? 1 : 0;
	if (util_read_file("-", cfg->lmtp.max_size, &data, &len, &err) < 0) {
		if (!g_error_matches(err, OTPB_ERROR, OTPB_ERROR_DATA)) {
			g_warning("src=deliver result=tempfail error=\"%s\"", err->message);
			g_error_free(err);
			return EXIT_TEMPFAIL;
		}
		g_error_free(err);
		m.too_big = TRUE;        /* dropped: an MTA must not bounce it */
	}
	m.data = data;
	m.len = len;
	g_main_context_push_thread_default(ctx);
	in = intake_new(NULL, NULL, ctx, cfg, set);
	if (intake_submit(in, &m, mda_done_cb, &r) != NULL) {
		/* Something to commit: the store, and a queue to push with
		 * whose lease owner is alive while we are. */
		if (store_open(cfg->store.path, &st, &err) < 0) {
			g_warning("src=deliver result=tempfail error=\"%s\"", err->message);
			g_clear_error(&err);
		} else {
			/* A live owner: a daemon starting meanwhile leaves our
			 * lease alone, and voids it at once if we die.  Else a
			 * plain one, whose lease lapses if we die. */
			struct queue_params qp = { NULL, cfg->push.timeout, 1, 0 };

			owner = store_live_owner(st, "deliver", &err);
			if (owner == NULL) {
				g_debug("src=deliver %s", err->message);
				g_clear_error(&err);
				owner = g_strdup_printf("deliver:%d", (int)getpid());
			}
			qp.owner = owner;
			pc = push_client_for(cfg, ctx);
			r.q = queue_new(st, pc, &qp, ctx);
		}
		intake_set_store(in, st, r.q);
		r.loop = g_main_loop_new(ctx, FALSE);
		if (!r.answered)
			g_main_loop_run(r.loop);
		if (r.q != NULL && queue_inflight(r.q) > 0) {
			/* Pushes the committed job once; its outcome is in the store. */
			GSource *s = g_timeout_source_new(5);
			g_source_set_callback(s, mda_wait_cb, &r, NULL);
			g_source_attach(s, ctx);
			g_source_unref(s);
			g_main_loop_run(r.loop);
		}
		g_main_loop_unref(r.loop);
	}
	g_free(data);
	if (!r.committed) {
		g_warning("src=deliver result=tempfail error=\"%s\" (the MTA will retry)",
		    r.error != NULL ? r.error : "not committed");
		rc = EXIT_TEMPFAIL;
	}
	intake_free(&in);
	queue_free(&r.q);
	push_client_free(&pc);
	store_close(&st);
	g_main_context_pop_thread_default(ctx);
	g_free(r.error);
	return rc;
}
