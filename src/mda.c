/*
 * mda.c - `otpbridge deliver` (SPEC 2): Postfix pipe, procmail, fetchmail
 * mda, sieve pipe.
 *
 * Exit 0 once the push is done or the job is durably committed (the
 * daemon pushes it later), and also for mail we drop on purpose: no code,
 * a duplicate, not mail at all, larger than [lmtp] max_size.  An MTA must
 * not bounce an OTP mail because of us, nor send backscatter for one we
 * do not want.  Exit 75 (EX_TEMPFAIL) only when the job could not be
 * committed, so the MTA keeps the mail and retries.
 *
 * Hostile input: the message on stdin (bounded by max_size).  The job is
 * committed leased to this process, so the daemon does not push it at the
 * same time; if we die, the next daemon to start voids the lease (see
 * store_live_owner), or else it lapses, and the daemon takes over.
 */
#include "autoconfig.h"

#include <unistd.h>

#include "daemon.h"
#include "intake.h"
#include "mda.h"
#include "mime.h"
#include "push.h"
#include "queue.h"
#include "store.h"
#include "util.h"

struct mda_run {
	GMainLoop *loop;
	struct queue *q;
};

static gboolean
mda_wait_cb(gpointer data)
{
	struct mda_run *r = data;

	if (queue_inflight(r->q) > 0)
		return G_SOURCE_CONTINUE;
	g_main_loop_quit(r->loop);
	return G_SOURCE_REMOVE;
}

/* Pushes the committed job once, on a private loop; outcome in the store. */
static void
mda_push(const struct config *cfg, struct store *st, const struct job_in *in,
    const char *owner)
{
	g_autoptr(GMainContext) ctx = g_main_context_new();
	struct push_client *pc;
	struct queue_params qp = { owner, cfg->push.timeout, 1, 0 };
	struct mda_run r;

	g_main_context_push_thread_default(ctx);
	pc = daemon_push_client(cfg, ctx);
	r.q = queue_new(st, pc, &qp, ctx);
	r.loop = g_main_loop_new(ctx, FALSE);
	queue_push_new(r.q, in);
	if (queue_inflight(r.q) > 0) {
		GSource *s = g_timeout_source_new(5);
		g_source_set_callback(s, mda_wait_cb, &r, NULL);
		g_source_attach(s, ctx);
		g_source_unref(s);
		g_main_loop_run(r.loop);
	}
	g_main_loop_unref(r.loop);
	queue_free(&r.q);
	push_client_free(&pc);
	g_main_context_pop_thread_default(ctx);
}

int
mda_deliver(const struct config *cfg, const struct filter_set *set,
    const char *rcpt)
{
	char *data = NULL;
	gsize len = 0;
	GError *err = NULL;
	struct message *msg = NULL;
	struct verdict v;
	struct core_options copt = { cfg->trusted_authserv_id, cfg->push.send,
	    cfg->mta_strips_forged };
	struct envelope env = { rcpt, NULL, NULL, NULL };
	struct intake_job ij;
	struct store *st = NULL;
	g_autofree char *owner = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	int rc = 0;

	if (util_read_file("-", cfg->lmtp.max_size, &data, &len, &err) < 0) {
		if (g_error_matches(err, OTPB_ERROR, OTPB_ERROR_DATA)) {
			g_warning("src=deliver result=dropped reason=too-large limit=%"
			    G_GUINT64_FORMAT " ([lmtp] max_size)", cfg->lmtp.max_size);
			rc = 0;
		} else {
			g_warning("src=deliver result=tempfail error=\"%s\"", err->message);
			rc = EXIT_TEMPFAIL;
		}
		g_error_free(err);
		return rc;
	}
	if (mime_parse(data, len, &msg, &err) < 0) {
		g_warning("src=deliver result=dropped reason=not-mail error=\"%s\"",
		    err->message);
		g_error_free(err);
		g_free(data);
		return 0;
	}
	g_free(data);
	core_decide(set, &copt, msg, &env, &v);
	intake_stale(&v, intake_born(msg, now), now, cfg->push.max_age);
	if (!v.forward) {
		intake_log(msg, "deliver", rcpt, &v, "dropped", 0);
		goto out;
	}
	if (store_open(cfg->store.path, &st, &err) < 0)
		goto tempfail;
	/* A live owner: a daemon starting meanwhile leaves our lease alone,
	 * and voids it at once if we die.  Else a plain one, whose lease
	 * lapses (push timeout + QUEUE_LEASE_EXTRA) if we die. */
	owner = store_live_owner(st, "deliver", &err);
	if (owner == NULL) {
		g_debug("src=deliver %s", err->message);
		g_clear_error(&err);
		owner = g_strdup_printf("deliver:%d", (int)getpid());
	}
	intake_job_init(&ij, msg, &v, "deliver", intake_born(msg, now),
	    cfg->push.max_age);
	ij.in.lease_owner = owner;
	ij.in.lease_until = now + cfg->push.timeout + QUEUE_LEASE_EXTRA;
	if (store_commit_jobs(st, &ij.in, 1, &err) < 0) {
		intake_job_clear(&ij);
		goto tempfail;
	}
	if (ij.in.duplicate) {
		intake_log(msg, "deliver", rcpt, &v, "duplicate", 0);
	} else {
		intake_log(msg, "deliver", rcpt, &v, "queued", ij.in.id);
		mda_push(cfg, st, &ij.in, owner);
	}
	intake_job_clear(&ij);
	goto out;
tempfail:
	g_warning("src=deliver result=tempfail error=\"%s\" (the MTA will retry)",
	    err->message);
	g_error_free(err);
	rc = EXIT_TEMPFAIL;
out:
	store_close(&st);
	verdict_clear(&v);
	message_free(&msg);
	return rc;
}
