/*
 * lmtp.c - the LMTP and SMTP sink (see lmtp.h): listeners and sessions
 * over the pure protocol engine in proto.c; a source adapter of the
 * intake (intake.c), which decides, commits and logs.
 *
 * Each session is one non-blocking socket with one GSource whose
 * condition follows what the session wants: input while it can take
 * more, output while replies are unsent.  At the end of DATA the message
 * goes to the intake with its recipients; the session waits (reading
 * nothing more) until the intake tells it every recipient's outcome --
 * after the group commit when something was to be kept -- and only then
 * do the replies go out: 250 queued, duplicate or not forwarded, 451
 * 4.3.0 when the store could not be written, 552 for a message over
 * max_size (SMTP: one reply for all).
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

#include "intake.h"
#include "lmtp.h"
#include "metrics.h"
#include "proto.h"
#include "util.h"

#define LMTP_READ_CHUNK (64 * 1024)
#define LMTP_OUT_MAX (256 * 1024)
#define LMTP_BACKLOG 128

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
	gboolean waiting;             /* DATA ended: waiting for the intake */
	gboolean submitting;          /* inside intake_submit() */
	struct intake_item *item;     /* the message waiting for its commit */
};

struct lmtp {
	struct lmtp_env env;
	struct sink sinks[2];
	GPtrArray *listeners;         /* struct listener * */
	GHashTable *sessions;         /* struct session * set */
	char *hostname;
	guint64 next_id;
	gboolean stopping;
};

static void session_update(struct session *s);
static void session_free(struct session *s);
static void session_feed(struct session *s);
static void session_touch(struct session *s);

/* ---- replies after the commit ------------------------------------------ */

/* The LMTP reply line of one recipient's outcome. */
static char *
session_reply(const char *rcpt, const struct intake_outcome *o)
{
	switch (o->result) {
	case INTAKE_QUEUED:
		return g_strdup_printf("250 2.0.0 <%s> Ok: queued as %" G_GINT64_FORMAT,
		    rcpt, o->job_id);
	case INTAKE_DUPLICATE:
		return g_strdup_printf("250 2.0.0 <%s> Ok: duplicate, already queued", rcpt);
	case INTAKE_NOT_MAIL:
		return g_strdup_printf("250 2.0.0 <%s> Ok: not mail, dropped", rcpt);
	case INTAKE_DROPPED:
	case INTAKE_REJECTED:
	case INTAKE_RESULTS:
		break;
	case INTAKE_TEMPFAIL:
		return g_strdup_printf("451 4.3.0 <%s> Temporary failure: the store "
		    "cannot be written", rcpt);
	}
	return g_strdup_printf("250 2.0.0 <%s> Ok: not forwarded (%s)", rcpt,
	    o->reason != NULL ? o->reason : "-");
}

/* The intake's outcome of the session's message: ends its DATA with the
 * per-recipient replies (SMTP: one reply for all). */
static void
session_done_cb(const struct intake_done *d, gpointer data)
{
	struct session *s = data;
	const struct proto_txn *t = proto_txn(s->proto);
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);

	s->item = NULL;
	s->waiting = FALSE;
	if (d->n > 0 && d->outs[0].result == INTAKE_REJECTED) {
		proto_data_done(s->proto, NULL, s->out);     /* 552, too large */
	} else {
		gboolean temp = FALSE;

		for (guint i = 0; i < d->n; i++) {
			temp |= d->outs[i].result == INTAKE_TEMPFAIL;
			if (s->sink->dialect == PROTO_LMTP)
				g_ptr_array_add(lines, session_reply(t->rcpts[i], &d->outs[i]));
		}
		/* SMTP has one reply: a temporary failure of any recipient
		 * fails the message, which the client then retries whole. */
		if (s->sink->dialect != PROTO_LMTP)
			g_ptr_array_add(lines, g_strdup(temp ?
			    "451 4.3.0 Temporary failure: the store cannot be written" :
			    "250 2.0.0 Ok: accepted"));
		g_ptr_array_add(lines, NULL);
		proto_data_done(s->proto, (const char *const *)lines->pdata, s->out);
	}
	if (s->l->stopping)
		proto_close(s->proto, "4.3.2", "Service shutting down", s->out);
	if (!s->submitting) {
		session_feed(s);       /* commands pipelined after the dot */
		session_update(s);
	}
}

/* Hands the message to the intake; the replies go out once it has been
 * decided and, when something is to be kept, committed. */
static void
session_data(struct session *s)
{
	const struct proto_txn *t = proto_txn(s->proto);
	struct intake_msg m = { 0 };

	m.source = s->sink->name;
	m.peer = s->peer;
	m.data = t->data;
	m.len = t->len;
	m.too_big = t->too_big;
	m.limit = s->sink->cfg->max_size;
	m.can_refuse = TRUE;
	m.rcpts = (const char *const *)t->rcpts;
	m.n_rcpts = t->n_rcpts;
	s->waiting = TRUE;
	s->submitting = TRUE;
	s->item = intake_submit(s->l->env.intake, &m, session_done_cb, s);
	s->submitting = FALSE;
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
	/* Free every session; each removes itself from the table.  One still
	 * in a transaction (the shutdown grace is over) gets its 421 first,
	 * best effort: RFC 5321 3.8. */
	while (g_hash_table_size(l->sessions) > 0) {
		struct session *s;

		g_hash_table_iter_init(&it, l->sessions);
		if (!g_hash_table_iter_next(&it, &key, NULL))
			break;
		s = key;
		if (s->item != NULL)
			intake_cancel(l->env.intake, s->item);
		s->item = NULL;
		s->waiting = FALSE;
		if (!s->closing)
			proto_close(s->proto, "4.3.2", "Service shutting down", s->out);
		(void)session_flush(s);
		session_free(s);
	}
	g_ptr_array_unref(l->listeners);
	g_hash_table_unref(l->sessions);
	g_free(l->hostname);
	g_free(l);
	*lp = NULL;
}
