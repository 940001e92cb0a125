/*
 * lmtp.c - the LMTP and SMTP sink (see lmtp.h): listeners, sessions and
 * the group commit, over the pure protocol engine in proto.c.
 *
 * Each session is one non-blocking socket with one GSource whose
 * condition follows what the session wants: input while it can take
 * more, output while replies are unsent.  At the end of DATA the message
 * is parsed and decided once per recipient (each gets its own
 * identifier); the forwarded ones become jobs that wait, with the
 * session, for the next group commit.  The commit runs from an idle
 * source, so every session that ended DATA in the same loop turn shares
 * one transaction (Redis writes in beforeSleep() before replying); only
 * then do the replies go out.  The jobs are committed leased to the
 * daemon's queue, which pushes them at once.
 *
 * A store another process holds locked: the loop's store handle waits at
 * most STORE_LOOP_BUSY_MS per call, so a failed commit (OTPB_ERROR_TEMP)
 * is tried again from a timer every LMTP_COMMIT_RETRY_MS, the batch kept
 * and joined by sessions that end DATA meanwhile, for LMTP_COMMIT_PATIENCE_MS
 * from its first try; only then do its recipients get 451 4.3.0.  The loop
 * keeps serving every other session, /metrics and /healthz meanwhile.  (A
 * commit on a worker thread with the full busy timeout was the other
 * design: a second connection and a hand-off for the same result, since a
 * client still needs its answer within a bound.)
 *
 * Hostile input: everything a client sends (proto.c bounds lines, sizes
 * and recipients and closes a session at a bare LF, logged here as
 * reason=bare-lf; mime.c bounds the parse).  Limits here: max_connections
 * per listener group (421 4.4.5 beyond), timeout seconds of silence
 * (421 4.4.2), LMTP_OUT_MAX bytes of unsent replies before we stop
 * reading a client that does not read, LMTP_READ_CHUNK per read.  When
 * accept() runs out of descriptors or memory (clients holding connections
 * up to the process's fd limit), the listener stops watching its socket
 * for UTIL_ACCEPT_PAUSE_MS and tries again, instead of spinning on a
 * socket that stays readable; one log line per episode (util.h).
 * A SIGHUP swaps the recipients pattern and these limits for the next
 * RCPT, accept, read or session (lmtp_reconfigure); the listeners stay.
 */
#include "autoconfig.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

#include "core.h"
#include "intake.h"
#include "lmtp.h"
#include "metrics.h"
#include "mime.h"
#include "proto.h"
#include "util.h"

#define LMTP_READ_CHUNK (64 * 1024)
#define LMTP_OUT_MAX (256 * 1024)
#define LMTP_BACKLOG 128
#define LMTP_COMMIT_RETRY_MS 50        /* a busy store: try the commit again */
#define LMTP_COMMIT_PATIENCE_MS 1000   /* ... this long, then 451 */

struct sink;

struct listener {
	struct sink *sink;
	GSocket *sock;
	GSource *src;
	char *unix_path;              /* to unlink at exit, or NULL */
	char *label;                  /* "unix:/path" or "inet:host:port" */
	guint pause_src;              /* accept paused (out of fds), or 0 */
};

/* One listener group: [lmtp] or [smtp]. */
struct sink {
	struct lmtp *l;
	enum proto_dialect dialect;
	const struct sink_config *cfg;
	const char *name;             /* "lmtp" or "smtp" */
	guint sessions;
};

struct session {
	struct lmtp *l;
	struct sink *sink;
	guint64 id;
	char *peer;
	GSocket *sock;
	GSource *src;
	GIOCondition cond;            /* what src watches */
	GSource *timer;
	struct proto *proto;
	GString *in;                  /* bytes proto did not take yet */
	GString *out;                 /* replies not yet sent */
	gsize out_off;
	gboolean eof;                 /* the client closed its side */
	gboolean closing;             /* close once out is flushed */
	gboolean waiting;             /* DATA ended: waiting for the commit */
	/* The transaction being committed. */
	GPtrArray *rcpt_replies;      /* char *, one per recipient */
	GArray *jobs;                 /* struct intake_job */
	GArray *job_rcpt;             /* guint: recipient index of each job */
	struct message *msg;
	const char **rcpt_reasons;    /* per recipient: the verdict's reason */
};

struct lmtp {
	struct lmtp_env env;
	struct sink sinks[2];
	GPtrArray *listeners;         /* struct listener * */
	GHashTable *sessions;         /* struct session * set */
	GPtrArray *batch;             /* sessions waiting for the group commit */
	GSource *commit_src;
	gint64 commit_first_us;       /* the waiting batch's first try, or 0 */
	char *hostname;
	guint64 next_id;
	gboolean stopping;
};

static void session_update(struct session *s);
static void session_free(struct session *s);
static void session_feed(struct session *s);
static void session_touch(struct session *s);

/* ---- replies after the commit ------------------------------------------ */

/* Ends the session's DATA with its per-recipient replies. */
static void
session_finish_data(struct session *s)
{
	g_autoptr(GPtrArray) lines = g_ptr_array_new();

	if (s->sink->dialect == PROTO_LMTP) {
		for (guint i = 0; i < s->rcpt_replies->len; i++)
			g_ptr_array_add(lines, g_ptr_array_index(s->rcpt_replies, i));
	} else {
		/* SMTP has one reply: a temporary failure of any recipient
		 * fails the message, which the client then retries whole. */
		const char *one = NULL;
		for (guint i = 0; i < s->rcpt_replies->len; i++) {
			const char *r = g_ptr_array_index(s->rcpt_replies, i);
			if (r[0] == '4' || one == NULL)
				one = r;
		}
		g_ptr_array_add(lines, one != NULL && one[0] == '4' ?
		    (gpointer)"451 4.3.0 Temporary failure: the store cannot be written" :
		    (gpointer)"250 2.0.0 Ok: accepted");
	}
	g_ptr_array_add(lines, NULL);
	proto_data_done(s->proto, (const char *const *)lines->pdata, s->out);
	g_ptr_array_set_size(s->rcpt_replies, 0);
	for (guint i = 0; i < s->jobs->len; i++)
		intake_job_clear(&g_array_index(s->jobs, struct intake_job, i));
	g_array_set_size(s->jobs, 0);
	g_array_set_size(s->job_rcpt, 0);
	message_free(&s->msg);
	g_clear_pointer(&s->rcpt_reasons, g_free);
	s->waiting = FALSE;
	if (s->l->stopping)
		proto_close(s->proto, "4.3.2", "Service shutting down", s->out);
}

/* Commits every waiting session's jobs in one transaction, then replies. */
static gboolean
lmtp_commit_cb(gpointer data)
{
	struct lmtp *l = data;
	g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(struct job_in));
	g_autoptr(GPtrArray) batch = l->batch;
	GError *err = NULL;
	gboolean ok;
	guint k = 0;

	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	l->commit_src = NULL;
	l->batch = g_ptr_array_new();
	for (guint i = 0; i < batch->len; i++) {
		struct session *s = g_ptr_array_index(batch, i);
		for (guint j = 0; j < s->jobs->len; j++) {
			struct intake_job *ij = &g_array_index(s->jobs, struct intake_job, j);

			/* Committed leased to our queue, which pushes it at once:
			 * no claim needed, and no other process takes it. */
			if (l->env.q != NULL)
				queue_lease(l->env.q, &ij->in, now);
			g_array_append_val(all, ij->in);
		}
	}
	ok = all->len == 0 ||
	    store_commit_jobs(l->env.st, (struct job_in *)(void *)all->data, all->len,
	    &err) == 0;
	if (l->commit_first_us == 0)
		l->commit_first_us = g_get_monotonic_time();
	if (!ok && g_error_matches(err, OTPB_ERROR, OTPB_ERROR_TEMP) && !l->stopping &&
	    g_get_monotonic_time() - l->commit_first_us < LMTP_COMMIT_PATIENCE_MS * 1000) {
		/* Most likely another process's lock: keep the batch (nothing
		 * was stored) and try again shortly, the loop free meanwhile. */
		g_debug("store=\"%s\" result=commit-retry sessions=%u jobs=%u",
		    err->message, batch->len, all->len);
		g_error_free(err);
		for (guint i = 0; i < batch->len; i++)
			g_ptr_array_insert(l->batch, (gint)i, g_ptr_array_index(batch, i));
		l->commit_src = g_timeout_source_new(LMTP_COMMIT_RETRY_MS);
		g_source_set_callback(l->commit_src, lmtp_commit_cb, l, NULL);
		g_source_attach(l->commit_src, NULL);
		g_source_unref(l->commit_src);
		return G_SOURCE_REMOVE;
	}
	l->commit_first_us = 0;
	if (!ok) {
		g_warning("store=\"%s\" result=tempfail sessions=%u jobs=%u "
		    "(recipients answered 451 4.3.0)", err->message, batch->len, all->len);
		g_error_free(err);
	}
	for (guint i = 0; i < batch->len; i++) {
		struct session *s = g_ptr_array_index(batch, i);

		for (guint j = 0; j < s->jobs->len; j++, k++) {
			struct intake_job *ij = &g_array_index(s->jobs, struct intake_job, j);
			const struct job_in *done = &g_array_index(all, struct job_in, k);
			guint r = g_array_index(s->job_rcpt, guint, j);
			const char *rcpt = proto_txn(s->proto)->rcpts[r];
			char *line;

			ij->in.id = done->id;
			ij->in.duplicate = done->duplicate;
			if (ok && !done->duplicate && l->env.q != NULL)
				queue_push_new(l->env.q, &ij->in);
			if (!ok)
				line = g_strdup_printf("451 4.3.0 <%s> Temporary failure: "
				    "the store cannot be written", rcpt);
			else if (done->duplicate)
				line = g_strdup_printf("250 2.0.0 <%s> Ok: duplicate, "
				    "already queued", rcpt);
			else
				line = g_strdup_printf("250 2.0.0 <%s> Ok: queued as %"
				    G_GINT64_FORMAT, rcpt, done->id);
			g_free(g_ptr_array_index(s->rcpt_replies, r));
			g_ptr_array_index(s->rcpt_replies, r) = line;
			{
				struct verdict v = { 0 };
				v.filter = ij->filter;
				v.reason = s->rcpt_reasons[r];
				intake_log(s->msg, s->sink->name, rcpt, &v,
				    !ok ? "tempfail" : done->duplicate ? "duplicate" : "queued",
				    ok && !done->duplicate ? done->id : 0);
			}
		}
		session_finish_data(s);
		session_feed(s);       /* commands pipelined after the dot */
		session_update(s);
	}
	return G_SOURCE_REMOVE;
}

/* Decides the message for every recipient and files the session for the
 * next group commit (or answers at once when nothing is to be kept). */
static void
session_data(struct session *s)
{
	const struct proto_txn *t = proto_txn(s->proto);
	const struct config *cfg = s->l->env.cfg;
	struct core_options copt = { cfg->trusted_authserv_id, cfg->push.send,
	    cfg->mta_strips_forged };
	gint64 now = g_get_real_time() / G_USEC_PER_SEC, born;
	GError *err = NULL;

	if (t->too_big) {
		g_warning("src=%s peer=%s result=rejected reason=too-large limit=%"
		    G_GUINT64_FORMAT, s->sink->name, s->peer, s->sink->cfg->max_size);
		proto_data_done(s->proto, NULL, s->out);
		return;
	}
	s->rcpt_reasons = g_new0(const char *, t->n_rcpts + 1);
	if (mime_parse(t->data, t->len, &s->msg, &err) < 0) {
		/* Not mail: accepted and dropped, as any mail we do not want. */
		g_warning("src=%s peer=%s result=dropped reason=not-mail error=\"%s\"",
		    s->sink->name, s->peer, err->message);
		g_error_free(err);
		for (guint i = 0; i < t->n_rcpts; i++)
			g_ptr_array_add(s->rcpt_replies, g_strdup_printf(
			    "250 2.0.0 <%s> Ok: not mail, dropped", t->rcpts[i]));
		session_finish_data(s);
		return;
	}
	born = intake_born(s->msg, now);
	for (guint i = 0; i < t->n_rcpts; i++) {
		struct envelope env = { t->rcpts[i], NULL, NULL, NULL };
		struct verdict v;

		core_decide(s->l->env.set, &copt, s->msg, &env, &v);
		intake_stale(&v, born, now, cfg->push.max_age);
		s->rcpt_reasons[i] = v.reason;   /* static */
		if (v.forward) {
			struct intake_job ij;
			intake_job_init(&ij, s->msg, &v, s->sink->name, born,
			    cfg->push.max_age);
			g_array_append_val(s->jobs, ij);
			g_array_append_val(s->job_rcpt, i);
			/* The reply is written after the commit. */
			g_ptr_array_add(s->rcpt_replies, g_strdup(""));
		} else {
			intake_log(s->msg, s->sink->name, t->rcpts[i], &v, "dropped", 0);
			g_ptr_array_add(s->rcpt_replies, g_strdup_printf(
			    "250 2.0.0 <%s> Ok: not forwarded (%s)", t->rcpts[i], v.reason));
		}
		verdict_clear(&v);
	}
	if (s->jobs->len == 0) {
		session_finish_data(s);
		return;
	}
	s->waiting = TRUE;
	g_ptr_array_add(s->l->batch, s);
	if (s->l->commit_src == NULL) {
		s->l->commit_src = g_idle_source_new();
		g_source_set_priority(s->l->commit_src, G_PRIORITY_DEFAULT);
		g_source_set_callback(s->l->commit_src, lmtp_commit_cb, s->l, NULL);
		g_source_attach(s->l->commit_src, NULL);
		g_source_unref(s->l->commit_src);
	}
}

/* ---- session I/O --------------------------------------------------------- */

static gboolean session_io_cb(GSocket *sock, GIOCondition cond, gpointer data);

/* Sends what it can of the pending output; FALSE on a write error. */
static gboolean
session_flush(struct session *s)
{
	while (s->out_off < s->out->len) {
		GError *err = NULL;
		gssize n = g_socket_send(s->sock, s->out->str + s->out_off,
		    s->out->len - s->out_off, NULL, &err);

		if (n < 0) {
			gboolean again = g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK);
			g_error_free(err);
			return again;
		}
		s->out_off += (gsize)n;
	}
	g_string_truncate(s->out, 0);
	s->out_off = 0;
	return TRUE;
}

/* Feeds buffered input to the protocol engine and acts on its events. */
static void
session_feed(struct session *s)
{
	while (s->in->len > 0 && !s->waiting && !s->closing) {
		enum proto_event ev = PROTO_EV_NONE;
		gsize used = proto_feed(s->proto, s->in->str, s->in->len, s->out, &ev);

		g_string_erase(s->in, 0, (gssize)used);
		if (ev == PROTO_EV_DATA) {
			session_data(s);
		} else if (ev == PROTO_EV_CLOSE) {
			/* a bare LF (smuggling) or too many errors: say so once */
			const char *why = proto_close_reason(s->proto);

			if (why != NULL)
				g_warning("src=%s peer=%s result=closed reason=%s",
				    s->sink->name, s->peer, why);
			s->closing = TRUE;
		} else if (used == 0) {
			break;
		}
	}
}

/* Re-arms the timeout: the session closes after cfg->timeout of silence. */
static gboolean
session_timeout_cb(gpointer data)
{
	struct session *s = data;

	s->timer = NULL;
	if (s->waiting)
		return G_SOURCE_REMOVE;   /* ours to answer, not the client's */
	if (s->closing || s->eof) {
		/* A second timeout: the client does not even read our 421. */
		g_message("src=%s peer=%s result=dropped (not reading its replies)",
		    s->sink->name, s->peer);
		session_free(s);
		return G_SOURCE_REMOVE;
	}
	g_message("src=%s peer=%s result=timeout (%u s of silence)", s->sink->name,
	    s->peer, s->sink->cfg->timeout);
	proto_close(s->proto, "4.4.2", "Error: timeout exceeded", s->out);
	s->closing = TRUE;
	session_touch(s);             /* the 421 gets one more timeout to go out */
	session_update(s);
	return G_SOURCE_REMOVE;
}

static void
session_touch(struct session *s)
{
	if (s->timer != NULL) {
		g_source_destroy(s->timer);
		g_source_unref(s->timer);
	}
	s->timer = g_timeout_source_new_seconds(s->sink->cfg->timeout);
	g_source_set_callback(s->timer, session_timeout_cb, s, NULL);
	g_source_attach(s->timer, NULL);
}

/*
 * Brings the session's watch in line with what it wants, or frees it when
 * it is done: closing with nothing left to send, or the client gone and
 * nothing left to do.
 */
static void
session_update(struct session *s)
{
	GIOCondition want = 0;

	if (!session_flush(s)) {
		session_free(s);
		return;
	}
	if (s->waiting) {
		want = 0;                      /* the commit will call us again */
	} else if (s->closing) {
		if (s->out->len == 0) {
			session_free(s);
			return;
		}
		want = G_IO_OUT;
	} else if (s->eof) {
		/* Half-closed: answer what was sent, then go. */
		if (s->out->len == 0) {
			session_free(s);
			return;
		}
		want = G_IO_OUT;
	} else {
		if (s->out->len < LMTP_OUT_MAX)
			want |= G_IO_IN;
		if (s->out->len > 0)
			want |= G_IO_OUT;
	}
	if (want == s->cond && s->src != NULL)
		return;
	if (s->src != NULL) {
		g_source_destroy(s->src);
		g_source_unref(s->src);
		s->src = NULL;
	}
	s->cond = want;
	if (want != 0) {
		s->src = g_socket_create_source(s->sock, want | G_IO_HUP | G_IO_ERR, NULL);
		g_source_set_callback(s->src, (GSourceFunc)(void (*)(void))session_io_cb,
		    s, NULL);
		g_source_attach(s->src, NULL);
	}
}

static gboolean
session_io_cb(GSocket *sock, GIOCondition cond, gpointer data)
{
	struct session *s = data;

	if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
		char buf[LMTP_READ_CHUNK];
		GError *err = NULL;
		gssize n = g_socket_receive(sock, buf, sizeof(buf), NULL, &err);

		if (n < 0) {
			if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
				g_error_free(err);
				session_free(s);
				return G_SOURCE_REMOVE;
			}
			g_error_free(err);
		} else if (n == 0) {
			s->eof = TRUE;
		} else {
			g_string_append_len(s->in, buf, n);
			session_touch(s);
			session_feed(s);
		}
	}
	/* session_update may free s and always replaces the source. */
	session_update(s);
	return G_SOURCE_CONTINUE;
}

static void
session_free(struct session *s)
{
	struct lmtp *l = s->l;

	if (s->waiting) {
		/* The commit still needs it: it is freed after its reply. */
		s->eof = TRUE;
		return;
	}
	g_hash_table_remove(l->sessions, s);
	s->sink->sessions--;
	metrics_sessions(s->sink->name, -1);
	if (s->src != NULL) {
		g_source_destroy(s->src);
		g_source_unref(s->src);
	}
	if (s->timer != NULL) {
		g_source_destroy(s->timer);
		g_source_unref(s->timer);
	}
	g_socket_close(s->sock, NULL);
	g_object_unref(s->sock);
	proto_free(&s->proto);
	g_string_free(s->in, TRUE);
	g_string_free(s->out, TRUE);
	g_ptr_array_unref(s->rcpt_replies);
	for (guint i = 0; i < s->jobs->len; i++)
		intake_job_clear(&g_array_index(s->jobs, struct intake_job, i));
	g_array_unref(s->jobs);
	g_array_unref(s->job_rcpt);
	message_free(&s->msg);
	g_free(s->rcpt_reasons);
	g_free(s->peer);
	g_free(s);
}

/* proto's RCPT check: the [lmtp]/[smtp] recipients pattern, over the
 * address's normal form (util_normalize_address: U-labels, NFC). */
static const char *
session_rcpt_check(const char *addr, gpointer data)
{
	struct session *s = data;
	const struct regex *re = s->sink->cfg->recipients;
	g_autofree char *norm = NULL;

	if (re == NULL)
		return NULL;
	norm = util_normalize_identifier(addr);
	if (regex_match(re, norm, strlen(norm)))
		return NULL;
	return "550 5.1.1 Recipient address rejected: not an address this sink serves";
}

/* A printable name of the peer for logs. */
static char *
session_peer(GSocket *sock)
{
	g_autoptr(GSocketAddress) a = g_socket_get_remote_address(sock, NULL);

	if (a != NULL && G_IS_INET_SOCKET_ADDRESS(a)) {
		g_autofree char *ip = g_inet_address_to_string(
		    g_inet_socket_address_get_address(G_INET_SOCKET_ADDRESS(a)));
		return g_strdup_printf("%s:%u", ip,
		    g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(a)));
	}
	return g_strdup("unix");
}

/* ---- listeners ------------------------------------------------------------ */

static gboolean listener_accept_cb(GSocket *lsock, GIOCondition cond, gpointer data);

/* Watches the listening socket for connections. */
static void
listener_watch(struct listener *ln)
{
	ln->src = g_socket_create_source(ln->sock, G_IO_IN, NULL);
	g_source_set_callback(ln->src, (GSourceFunc)(void (*)(void))listener_accept_cb,
	    ln, NULL);
	g_source_attach(ln->src, NULL);
}

/* The pause after an exhausted accept is over: watch the socket again. */
static gboolean
listener_resume_cb(gpointer data)
{
	struct listener *ln = data;

	ln->pause_src = 0;
	listener_watch(ln);
	return G_SOURCE_REMOVE;
}

/* accept() ran out of descriptors or memory: the pending connection stays
 * in the backlog and the socket stays readable, so stop watching it for a
 * while rather than spin; log once per episode. */
static void
listener_pause(struct listener *ln, const char *why)
{
	util_accept_exhausted(ln->sink->name, ln->label, why);
	if (ln->src != NULL) {
		g_source_destroy(ln->src);
		g_source_unref(ln->src);
		ln->src = NULL;
	}
	ln->pause_src = g_timeout_add(UTIL_ACCEPT_PAUSE_MS, listener_resume_cb, ln);
}

static gboolean
listener_accept_cb(GSocket *lsock, GIOCondition cond, gpointer data)
{
	struct listener *ln = data;
	struct sink *sink = ln->sink;
	struct lmtp *l = sink->l;
	struct proto_limits lim;
	struct session *s;
	GError *err = NULL;
	GSocket *sock = g_socket_accept(lsock, NULL, &err);

	if (sock == NULL) {
		if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TOO_MANY_OPEN_FILES) ||
		    g_error_matches(err, G_IO_ERROR, G_IO_ERROR_NO_SPACE)) {
			/* EMFILE, ENFILE, ENOMEM */
			listener_pause(ln, err->message);
			g_error_free(err);
			return G_SOURCE_REMOVE;   /* listener_pause destroyed it */
		}
		if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			g_warning("listen=%s accept failed: %s", ln->label, err->message);
		g_error_free(err);
		return G_SOURCE_CONTINUE;
	}
	util_accept_recovered();
	g_socket_set_blocking(sock, FALSE);
	if (l->stopping || sink->sessions >= sink->cfg->max_connections) {
		g_autofree char *msg = g_strdup_printf("421 4.4.5 %s Error: too many "
		    "connections\r\n", l->hostname);
		if (!l->stopping)
			g_warning("src=%s listen=%s result=refused reason=too-many-connections "
			    "max=%u", sink->name, ln->label, sink->cfg->max_connections);
		(void)g_socket_send(sock, msg, strlen(msg), NULL, NULL);
		g_socket_close(sock, NULL);
		g_object_unref(sock);
		return G_SOURCE_CONTINUE;
	}
	s = g_new0(struct session, 1);
	s->l = l;
	s->sink = sink;
	s->id = ++l->next_id;
	s->sock = sock;
	s->peer = session_peer(sock);
	s->in = g_string_new(NULL);
	s->out = g_string_new(NULL);
	s->rcpt_replies = g_ptr_array_new_with_free_func(g_free);
	s->jobs = g_array_new(FALSE, TRUE, sizeof(struct intake_job));
	s->job_rcpt = g_array_new(FALSE, FALSE, sizeof(guint));
	lim.max_size = sink->cfg->max_size;
	lim.max_recipients = sink->cfg->max_recipients;
	s->proto = proto_new(sink->dialect, l->hostname, &lim, session_rcpt_check, s);
	sink->sessions++;
	metrics_sessions(sink->name, 1);
	g_hash_table_add(l->sessions, s);
	g_debug("src=%s peer=%s session=%" G_GUINT64_FORMAT " connected", sink->name,
	    s->peer, s->id);
	proto_greeting(s->proto, s->out);
	session_touch(s);
	session_update(s);
	return G_SOURCE_CONTINUE;
}

/* Removes a unix socket left by a dead process; refuses a live one or a
 * file that is not a socket. */
static int
listener_clear_stale(const char *path, GError **error)
{
	struct stat st;
	g_autoptr(GSocket) probe = NULL;
	g_autoptr(GSocketAddress) a = NULL;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "%s exists and is not a socket; not replacing it", path);
		return -1;
	}
	probe = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_DEFAULT, NULL);
	a = g_unix_socket_address_new(path);
	if (probe != NULL && g_socket_connect(probe, a, NULL, NULL)) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "%s is in use by another process", path);
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO, "%s: cannot remove the "
		    "stale socket: %s", path, g_strerror(errno));
		return -1;
	}
	return 0;
}

/* Creates, binds and starts one listener. */
static int
listener_open(struct lmtp *l, struct sink *sink, const struct listen_addr *la,
    GError **error)
{
	struct listener *ln;
	g_autoptr(GSocketAddress) addr = NULL;
	GSocket *sock;
	GSocketFamily family;

	if (la->kind == LISTEN_UNIX) {
		g_autofree char *dir = g_path_get_dirname(la->path);

		if (g_mkdir_with_parents(dir, 0755) < 0) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO, "%s: %s", dir,
			    g_strerror(errno));
			return -1;
		}
		if (listener_clear_stale(la->path, error) < 0)
			return -1;
		addr = g_unix_socket_address_new(la->path);
		family = G_SOCKET_FAMILY_UNIX;
	} else {
		g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(
		    g_ascii_strcasecmp(la->host, "localhost") == 0 ? "127.0.0.1" : la->host);

		if (ia == NULL) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
			    "[%s] listen: '%s' is not an IP address", sink->name, la->host);
			return -1;
		}
		family = g_inet_address_get_family(ia);
		addr = g_inet_socket_address_new(ia, (guint16)la->port);
	}
	sock = g_socket_new(family, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
	if (sock == NULL)
		return -1;
	g_socket_set_blocking(sock, FALSE);
	g_socket_set_listen_backlog(sock, LMTP_BACKLOG);
	if (!g_socket_bind(sock, addr, TRUE, error) || !g_socket_listen(sock, error)) {
		g_prefix_error(error, "[%s] listen %s%s: ", sink->name,
		    la->kind == LISTEN_UNIX ? "unix:" : "inet:",
		    la->kind == LISTEN_UNIX ? la->path : la->host);
		g_object_unref(sock);
		return -1;
	}
	ln = g_new0(struct listener, 1);
	ln->sink = sink;
	ln->sock = sock;
	if (la->kind == LISTEN_UNIX) {
		ln->unix_path = g_strdup(la->path);
		ln->label = g_strdup_printf("unix:%s", la->path);
		if (chmod(la->path, sink->cfg->socket_mode) < 0)
			g_warning("listen=%s chmod %o failed: %s", ln->label,
			    sink->cfg->socket_mode, g_strerror(errno));
		if (sink->cfg->socket_group != NULL) {
			struct group *gr = getgrnam(sink->cfg->socket_group);
			if (gr == NULL || chown(la->path, (uid_t)-1, gr->gr_gid) < 0) {
				g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
				    "[%s] socket_group '%s': %s", sink->name,
				    sink->cfg->socket_group, gr == NULL ? "no such group" :
				    g_strerror(errno));
				g_ptr_array_add(l->listeners, ln);
				return -1;
			}
		}
	} else {
		g_autoptr(GSocketAddress) bound = g_socket_get_local_address(sock, NULL);
		guint port = bound != NULL ?
		    g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound)) : la->port;
		ln->label = g_strdup_printf("inet:%s:%u", la->host, port);
	}
	listener_watch(ln);
	g_ptr_array_add(l->listeners, ln);
	g_message("listening: %s %s", sink->name, ln->label);
	return 0;
}

static void
listener_free(gpointer p)
{
	struct listener *ln = p;

	if (ln->src != NULL) {
		g_source_destroy(ln->src);
		g_source_unref(ln->src);
	}
	if (ln->pause_src != 0)
		g_source_remove(ln->pause_src);
	g_socket_close(ln->sock, NULL);
	g_object_unref(ln->sock);
	if (ln->unix_path != NULL)
		unlink(ln->unix_path);
	g_free(ln->unix_path);
	g_free(ln->label);
	g_free(ln);
}

struct lmtp *
lmtp_new(const struct lmtp_env *env, GError **error)
{
	struct lmtp *l = g_new0(struct lmtp, 1);
	const struct config *cfg = env->cfg;     /* the boot config: listeners */

	l->env = *env;
	l->hostname = g_strdup(g_get_host_name());
	l->listeners = g_ptr_array_new_with_free_func(listener_free);
	l->sessions = g_hash_table_new(g_direct_hash, g_direct_equal);
	l->batch = g_ptr_array_new();
	l->sinks[0] = (struct sink){ l, PROTO_LMTP, &cfg->lmtp, "lmtp", 0 };
	l->sinks[1] = (struct sink){ l, PROTO_SMTP, &cfg->smtp, "smtp", 0 };
	for (int k = 0; k < 2; k++) {
		const struct sink_config *sc = l->sinks[k].cfg;
		for (guint i = 0; i < sc->listen->len; i++) {
			if (listener_open(l, &l->sinks[k], g_ptr_array_index(sc->listen, i),
			    error) < 0) {
				lmtp_free(&l);
				return NULL;
			}
		}
	}
	return l;
}

void
lmtp_set_decision(struct lmtp *l, const struct config *cfg,
    const struct filter_set *set)
{
	l->env.cfg = cfg;
	l->env.set = set;
}

void
lmtp_reconfigure(struct lmtp *l, const struct config *cfg)
{
	l->sinks[0].cfg = &cfg->lmtp;
	l->sinks[1].cfg = &cfg->smtp;
}

guint
lmtp_sessions(const struct lmtp *l)
{
	return g_hash_table_size(l->sessions);
}

void
lmtp_shutdown(struct lmtp *l)
{
	GHashTableIter it;
	gpointer key;
	g_autoptr(GPtrArray) idle = g_ptr_array_new();

	l->stopping = TRUE;
	g_ptr_array_set_size(l->listeners, 0);     /* closes and unlinks */
	g_hash_table_iter_init(&it, l->sessions);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		struct session *s = key;
		if (!s->waiting && !proto_in_transaction(s->proto))
			g_ptr_array_add(idle, s);
	}
	for (guint i = 0; i < idle->len; i++) {
		struct session *s = g_ptr_array_index(idle, i);
		proto_close(s->proto, "4.3.2", "Service shutting down", s->out);
		s->closing = TRUE;
		session_update(s);
	}
}

void
lmtp_free(struct lmtp **lp)
{
	struct lmtp *l = *lp;
	GHashTableIter it;
	gpointer key;

	if (l == NULL)
		return;
	if (l->commit_src != NULL)
		g_source_destroy(l->commit_src);
	g_ptr_array_set_size(l->batch, 0);
	/* Free every session; each removes itself from the table.  One still
	 * in a transaction (the shutdown grace is over) gets its 421 first,
	 * best effort: RFC 5321 3.8. */
	while (g_hash_table_size(l->sessions) > 0) {
		struct session *s;

		g_hash_table_iter_init(&it, l->sessions);
		if (!g_hash_table_iter_next(&it, &key, NULL))
			break;
		s = key;
		s->waiting = FALSE;
		if (!s->closing)
			proto_close(s->proto, "4.3.2", "Service shutting down", s->out);
		(void)session_flush(s);
		session_free(s);
	}
	g_ptr_array_unref(l->listeners);
	g_hash_table_unref(l->sessions);
	g_ptr_array_unref(l->batch);
	g_free(l->hostname);
	g_free(l);
	*lp = NULL;
}
