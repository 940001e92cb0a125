/*
 * intake.c - the one pipeline of every source (see intake.h): parse,
 * decide, job, group commit, push, the decision log line and metric, and
 * the per-recipient outcome handed back to the source.
 *
 * The decision options are built here and only here (intake_core_options),
 * from the config a SIGHUP swaps in one call (intake_set_decision).  A
 * code's age counts from the topmost Received: date (intake_born()), or
 * the INTERNALDATE for IMAP, never from a date later than arrival; a
 * code already past max_age is dropped (reason expired).
 *
 * Group commit: a message with something to keep (a forwarded verdict,
 * or an IMAP UID to advance) waits for an idle source on the intake's
 * context, so every message that ended in the same loop turn -- LMTP and
 * SMTP sessions, IMAP messages of every account -- shares one transaction
 * (store_commit_batch: the jobs and the UIDs together; Redis writes in
 * beforeSleep() before replying).  Jobs are committed leased to the
 * queue, which pushes them at once.  Only after the commit is each
 * source told its outcome: an LMTP recipient gets its 250, an IMAP
 * message its `after` action and its UID stays advanced, deliver exits 0.
 * A store another process holds locked: the loop's store handle waits at
 * most STORE_LOOP_BUSY_MS per call, so a commit that fails with
 * OTPB_ERROR_TEMP is tried again from a timer every INTAKE_COMMIT_RETRY_MS,
 * the batch kept and joined by messages that arrive meanwhile, for
 * INTAKE_COMMIT_PATIENCE_MS from its first try (not while stopping); only
 * then is every message of it a tempfail: nothing is kept, no UID moves
 * (the LMTP client gets 451 4.3.0 and retries, the IMAP message is fetched
 * again, deliver exits 75).  The loop serves everything else meanwhile.
 * (A commit on a worker thread with the full busy timeout was the other
 * design: a second connection and a hand-off for the same result, since a
 * client still needs its answer within a bound.)
 *
 * Logs and metrics: one line and one otpbridge_messages_total{source,
 * result} count per recipient decision: queued, duplicate, dropped,
 * tempfail, rejected (too large, refused to the client), not-mail; never
 * the code or the body.
 *
 * Hostile input: the raw message (mime.c bounds the parse; the source
 * bounds its size); Message-IDs and addresses from mail end up in log
 * lines: they are cut to INTAKE_LABEL_MAX and every byte outside
 * printable ASCII (and blanks, quotes, '=') is replaced, so a header
 * cannot forge fields or lines in the log.
 */
#include "autoconfig.h"

#include <string.h>

#include "intake.h"
#include "json.h"
#include "metrics.h"
#include "mime.h"
#include "util.h"

#define INTAKE_LABEL_MAX 96

void
intake_job_init(struct intake_job *j, const struct message *msg,
    const struct verdict *v, const char *source, gint64 now, guint max_age)
{
	memset(j, 0, sizeof(*j));
	j->dedup_key = msg->message_id != NULL && *msg->message_id != '\0' ?
	    g_strdup(msg->message_id) : g_strconcat("sha256:", msg->digest, NULL);
	j->body = json_push_body(&v->push);
	j->source = g_strdup(source);
	j->identifier = g_strdup(v->push.identifier);
	j->filter = g_strdup(v->filter);
	j->run_tag = g_strdup(v->push.workflow_run_id != NULL ?
	    v->push.workflow_run_id : v->push.task_id);
	/* A magic link is handed out by the pull side like a code. */
	j->code = g_strdup(v->code != NULL ? v->code :
	    v->reason != NULL && strcmp(v->reason, "link") == 0 ? v->push.content : NULL);
	j->in.dedup_key = j->dedup_key;
	j->in.identifier = j->identifier;
	j->in.source = j->source;
	j->in.filter = j->filter;
	j->in.body = j->body;
	j->in.code = j->code;
	j->in.run_tag = j->run_tag;
	j->in.created = now;
	j->in.expires = now + max_age;
}

gint64
intake_born(const struct message *msg, gint64 arrival)
{
	if (msg->received_date <= 0 || msg->received_date > arrival)
		return arrival;
	return msg->received_date;
}

gboolean
intake_stale(struct verdict *v, gint64 born, gint64 now, guint max_age)
{
	if (!v->forward || born + (gint64)max_age >= now)
		return FALSE;
	v->forward = FALSE;
	v->reason = "expired";
	v->detail = "older than [push] max_age when it arrived";
	push_job_clear(&v->push);
	return TRUE;
}

void
intake_job_clear(struct intake_job *j)
{
	g_free(j->dedup_key);
	g_free(j->body);
	g_free(j->source);
	g_free(j->identifier);
	g_free(j->filter);
	g_free(j->code);
	g_free(j->run_tag);
	memset(j, 0, sizeof(*j));
}

/* s made safe for a key=value log field, bounded. */
static char *
intake_safe(const char *s)
{
	GString *out = g_string_new(NULL);

	if (s == NULL || *s == '\0')
		return g_string_free(g_string_append(out, "-"), FALSE);
	for (const char *p = s; *p != '\0' && out->len < INTAKE_LABEL_MAX; p++) {
		unsigned char c = (unsigned char)*p;
		g_string_append_c(out, (c > 0x20 && c < 0x7f && c != '"' && c != '=') ?
		    (char)c : '?');
	}
	return g_string_free(out, FALSE);
}

char *
intake_msg_label(const struct message *msg)
{
	if (msg->message_id != NULL && *msg->message_id != '\0')
		return intake_safe(msg->message_id);
	{
		g_autofree char *d = g_strndup(msg->digest, 16);
		return g_strconcat("sha256:", d, NULL);
	}
}

void
intake_log(const struct message *msg, const char *source, const char *rcpt,
    const struct verdict *v, const char *result, gint64 job_id)
{
	g_autofree char *label = intake_msg_label(msg);
	g_autofree char *r = intake_safe(rcpt != NULL ? rcpt :
	    msg->to->len > 0 ? g_ptr_array_index(msg->to, 0) : NULL);
	g_autofree char *from = intake_safe(msg->from);
	g_autofree char *job = job_id > 0 ?
	    g_strdup_printf(" job=%" G_GINT64_FORMAT, job_id) : g_strdup("");

	metrics_message(source, result);
	if (v->filter != NULL)
		metrics_filter(v->filter);
	g_message("msg=%s src=%s from=%s rcpt=%s filter=%s result=%s reason=%s%s%s%s",
	    label, source, from, r, v->filter != NULL ? v->filter : "-", result,
	    v->reason != NULL ? v->reason : "-", job,
	    v->detail != NULL ? " detail=\"" : "", v->detail != NULL ? v->detail : "");
	(void)0;
}

/* ---- the pipeline ------------------------------------------------------ */

const char *const intake_result_names[] = { "queued", "duplicate", "dropped",
	"tempfail", "rejected", "not-mail", NULL };

struct intake {
	struct store *st;
	struct queue *q;
	GMainContext *ctx;
	const struct config *cfg;
	const struct filter_set *set;
	GPtrArray *batch;             /* struct intake_item *, waiting */
	GSource *commit_src;
	gint64 commit_first_us;       /* the waiting batch's first try, or 0 */
	gboolean stopping;
};

/* A message filed for the group commit. */
struct intake_item {
	char *source;
	struct message *msg;
	char **rcpts;                 /* n entries, NULL: the first To */
	guint n;
	struct intake_outcome *outs;  /* one per recipient */
	GArray *jobs;                 /* struct intake_job */
	GArray *job_rcpt;             /* guint: the recipient of each job */
	gboolean has_uid;
	struct store_uid_advance adv;
	char *adv_account, *adv_mailbox;
	intake_done_fn fn;
	gpointer data;
};

void
intake_core_options(const struct config *cfg, struct core_options *opt)
{
	opt->trusted_authserv_id = cfg->trusted_authserv_id;
	opt->default_send = cfg->push.send;
	opt->mta_strips_forged = cfg->mta_strips_forged;
}

struct intake *
intake_new(struct store *st, struct queue *q, GMainContext *ctx,
    const struct config *cfg, const struct filter_set *set)
{
	struct intake *in = g_new0(struct intake, 1);

	in->st = st;
	in->q = q;
	in->ctx = ctx != NULL ? g_main_context_ref(ctx) : NULL;
	in->cfg = cfg;
	in->set = set;
	in->batch = g_ptr_array_new();
	return in;
}

void
intake_set_store(struct intake *in, struct store *st, struct queue *q)
{
	in->st = st;
	in->q = q;
}

void
intake_set_decision(struct intake *in, const struct config *cfg,
    const struct filter_set *set)
{
	in->cfg = cfg;
	in->set = set;
}

void
intake_stop(struct intake *in)
{
	in->stopping = TRUE;
}

guint
intake_pending(const struct intake *in)
{
	return in->batch->len;
}

static void
intake_item_free(struct intake_item *it)
{
	for (guint i = 0; i < it->jobs->len; i++)
		intake_job_clear(&g_array_index(it->jobs, struct intake_job, i));
	g_array_unref(it->jobs);
	g_array_unref(it->job_rcpt);
	message_free(&it->msg);
	for (guint i = 0; i < it->n; i++)
		g_free(it->rcpts[i]);
	g_free(it->rcpts);
	g_free(it->outs);
	g_free(it->source);
	g_free(it->adv_account);
	g_free(it->adv_mailbox);
	g_free(it);
}

/* One decision of a message that was not parsed: too large, not mail. */
static void
intake_log_unread(const struct intake_msg *m, const char *rcpt,
    enum intake_result result, const char *reason, const char *extra)
{
	g_autofree char *r = intake_safe(rcpt);
	g_autofree char *uid = m->uid_account != NULL ?
	    g_strdup_printf(" uid=%u", m->uid) : g_strdup("");

	metrics_message(m->source, intake_result_names[result]);
	g_message("msg=- src=%s%s%s%s rcpt=%s result=%s reason=%s%s", m->source,
	    m->peer != NULL ? " peer=" : "", m->peer != NULL ? m->peer : "", uid, r,
	    intake_result_names[result], reason, extra);
}

/* Tells the source, then frees the item. */
static void
intake_answer(struct intake_item *it, gboolean committed, const char *error)
{
	struct intake_done d = { it->outs, it->n, committed, error };

	it->fn(&d, it->data);
	intake_item_free(it);
}

static gboolean intake_commit_cb(gpointer data);

static void
intake_commit_later(struct intake *in, guint ms)
{
	in->commit_src = ms == 0 ? g_idle_source_new() : g_timeout_source_new(ms);
	g_source_set_priority(in->commit_src, G_PRIORITY_DEFAULT);
	g_source_set_callback(in->commit_src, intake_commit_cb, in, NULL);
	g_source_attach(in->commit_src, in->ctx);
	g_source_unref(in->commit_src);
}

struct intake_item *
intake_submit(struct intake *in, const struct intake_msg *m, intake_done_fn fn,
    gpointer data)
{
	struct intake_item *it = g_new0(struct intake_item, 1);
	const struct config *cfg = in->cfg;
	struct core_options copt;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC, born;
	GError *err = NULL;

	it->source = g_strdup(m->source);
	it->n = MAX(m->n_rcpts, 1);
	it->rcpts = g_new0(char *, it->n);
	for (guint i = 0; i < m->n_rcpts; i++)
		it->rcpts[i] = g_strdup(m->rcpts[i]);
	it->outs = g_new0(struct intake_outcome, it->n);
	it->jobs = g_array_new(FALSE, TRUE, sizeof(struct intake_job));
	it->job_rcpt = g_array_new(FALSE, FALSE, sizeof(guint));
	it->fn = fn;
	it->data = data;
	if (m->uid_account != NULL) {
		it->has_uid = TRUE;
		it->adv_account = g_strdup(m->uid_account);
		it->adv_mailbox = g_strdup(m->uid_mailbox);
		it->adv.account = it->adv_account;
		it->adv.mailbox = it->adv_mailbox;
		it->adv.uidvalidity = m->uidvalidity;
		it->adv.uid = m->uid;
	}

	if (m->too_big) {
		g_autofree char *extra = g_strdup_printf(" limit=%" G_GUINT64_FORMAT,
		    m->limit);
		enum intake_result r = m->can_refuse ? INTAKE_REJECTED : INTAKE_DROPPED;

		for (guint i = 0; i < it->n; i++) {
			it->outs[i].result = r;
			it->outs[i].reason = "too-large";
			intake_log_unread(m, it->rcpts[i], r, "too-large", extra);
		}
		goto decided;
	}
	if (mime_parse(m->data, m->len, &it->msg, &err) < 0) {
		/* Not mail: dropped, as any mail we do not want. */
		g_autofree char *extra = g_strdup_printf(" error=\"%s\"", err->message);

		g_error_free(err);
		for (guint i = 0; i < it->n; i++) {
			it->outs[i].result = INTAKE_NOT_MAIL;
			it->outs[i].reason = "not-mail";
			intake_log_unread(m, it->rcpts[i], INTAKE_NOT_MAIL, "not-mail", extra);
		}
		goto decided;
	}
	intake_core_options(cfg, &copt);
	/* IMAP: the code's age counts from its arrival in the mailbox. */
	born = m->internal_date > 0 ? MIN(m->internal_date, now) :
	    intake_born(it->msg, now);
	for (guint i = 0; i < it->n; i++) {
		struct envelope env = { it->rcpts[i], m->account, m->account_identifier,
			m->account_trusted };
		struct verdict v;

		core_decide(in->set, &copt, it->msg, &env, &v);
		intake_stale(&v, born, now, cfg->push.max_age);
		it->outs[i].reason = v.reason;   /* static */
		if (v.forward) {
			struct intake_job ij;

			intake_job_init(&ij, it->msg, &v, it->source, born, cfg->push.max_age);
			g_array_append_val(it->jobs, ij);
			g_array_append_val(it->job_rcpt, i);
			it->outs[i].result = INTAKE_TEMPFAIL;   /* until committed */
		} else {
			it->outs[i].result = INTAKE_DROPPED;
			intake_log(it->msg, it->source, it->rcpts[i], &v, "dropped", 0);
		}
		verdict_clear(&v);
	}
decided:
	if (it->jobs->len == 0 && !it->has_uid) {
		intake_answer(it, TRUE, NULL);
		return NULL;
	}
	g_ptr_array_add(in->batch, it);
	if (in->commit_src == NULL)
		intake_commit_later(in, 0);
	return it;
}

void
intake_cancel(struct intake *in, struct intake_item *it)
{
	if (g_ptr_array_remove(in->batch, it))
		intake_item_free(it);
}

/* Commits every waiting message's jobs and UIDs in one transaction, then
 * tells each source. */
static gboolean
intake_commit_cb(gpointer data)
{
	struct intake *in = data;
	g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(struct job_in));
	g_autoptr(GArray) adv = g_array_new(FALSE, FALSE, sizeof(struct store_uid_advance));
	g_autoptr(GPtrArray) batch = in->batch;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	GError *err = NULL;
	gboolean ok;
	guint k = 0;

	in->commit_src = NULL;
	in->batch = g_ptr_array_new();
	for (guint i = 0; i < batch->len; i++) {
		struct intake_item *it = g_ptr_array_index(batch, i);

		for (guint j = 0; j < it->jobs->len; j++) {
			struct intake_job *ij = &g_array_index(it->jobs, struct intake_job, j);

			/* Committed leased to our queue, which pushes it at once:
			 * no claim needed, and no other process takes it. */
			if (in->q != NULL)
				queue_lease(in->q, &ij->in, now);
			g_array_append_val(all, ij->in);
		}
		if (it->has_uid)
			g_array_append_val(adv, it->adv);
	}
	if (in->st == NULL) {
		g_set_error(&err, OTPB_ERROR, OTPB_ERROR_IO, "the store is not open");
		ok = FALSE;
	} else {
		ok = store_commit_batch(in->st, (struct job_in *)(void *)all->data, all->len,
		    (const struct store_uid_advance *)(void *)adv->data, adv->len, &err) == 0;
	}
	if (in->commit_first_us == 0)
		in->commit_first_us = g_get_monotonic_time();
	if (!ok && g_error_matches(err, OTPB_ERROR, OTPB_ERROR_TEMP) && !in->stopping &&
	    g_get_monotonic_time() - in->commit_first_us < INTAKE_COMMIT_PATIENCE_MS * 1000) {
		/* Most likely another process's lock: keep the batch (nothing
		 * was stored) and try again shortly, the loop free meanwhile. */
		g_debug("store=\"%s\" result=commit-retry messages=%u jobs=%u",
		    err->message, batch->len, all->len);
		g_error_free(err);
		for (guint i = 0; i < batch->len; i++)
			g_ptr_array_insert(in->batch, (gint)i, g_ptr_array_index(batch, i));
		intake_commit_later(in, INTAKE_COMMIT_RETRY_MS);
		return G_SOURCE_REMOVE;
	}
	in->commit_first_us = 0;
	if (!ok)
		g_warning("store=\"%s\" result=tempfail messages=%u jobs=%u (nothing kept: "
		    "recipients answered 451 4.3.0, IMAP messages fetched again, deliver "
		    "exits 75)", err->message, batch->len, all->len);
	for (guint i = 0; i < batch->len; i++) {
		struct intake_item *it = g_ptr_array_index(batch, i);

		for (guint j = 0; j < it->jobs->len; j++, k++) {
			struct intake_job *ij = &g_array_index(it->jobs, struct intake_job, j);
			const struct job_in *done = &g_array_index(all, struct job_in, k);
			guint r = g_array_index(it->job_rcpt, guint, j);
			struct intake_outcome *o = &it->outs[r];
			struct verdict v = { 0 };

			ij->in.id = done->id;
			ij->in.duplicate = done->duplicate;
			ij->in.held = done->held;
			ij->in.superseded = done->superseded;
			o->result = !ok ? INTAKE_TEMPFAIL : done->duplicate ?
			    INTAKE_DUPLICATE : INTAKE_QUEUED;
			o->job_id = o->result == INTAKE_QUEUED ? done->id : 0;
			if (o->result == INTAKE_QUEUED && in->q != NULL)
				queue_push_new(in->q, &ij->in);
			v.filter = ij->filter;
			v.reason = o->reason;
			intake_log(it->msg, it->source, it->rcpts[r], &v,
			    intake_result_names[o->result], o->job_id);
		}
	}
	/* The sources last: a callback may submit again (pipelined mail). */
	for (guint i = 0; i < batch->len; i++)
		intake_answer(g_ptr_array_index(batch, i), ok, ok ? NULL : err->message);
	g_clear_error(&err);
	return G_SOURCE_REMOVE;
}

void
intake_free(struct intake **inp)
{
	struct intake *in = *inp;

	if (in == NULL)
		return;
	*inp = NULL;
	if (in->commit_src != NULL)
		g_source_destroy(in->commit_src);
	for (guint i = 0; i < in->batch->len; i++) {
		struct intake_item *it = g_ptr_array_index(in->batch, i);

		for (guint j = 0; j < it->jobs->len; j++)
			it->outs[g_array_index(it->job_rcpt, guint, j)].result = INTAKE_TEMPFAIL;
		intake_answer(it, FALSE, "shutting down");
	}
	g_ptr_array_unref(in->batch);
	if (in->ctx != NULL)
		g_main_context_unref(in->ctx);
	g_free(in);
}
