/*
 * imap.c - the IMAP source (SPEC 6), the only file that includes libetpan.
 * What it needs around the session lives beside it: cert.c verifies the
 * server's certificate chain (the only GnuTLS user), secret.c reads the
 * password (password_file, password_command), oauth.c gets and caches
 * the XOAUTH2 access token.
 *
 * One GThread per account owns one mailimap session: connect (implicit
 * TLS, STARTTLS or plain to loopback), verify the server certificate,
 * LOGIN or AUTHENTICATE PLAIN, SELECT, then new mail in one command:
 * UID FETCH <last+1>:* (UID INTERNALDATE RFC822.SIZE BODY.PEEK[]<0.N>),
 * hand each message to the main loop and wait for imap_msg_done() before
 * applying `after` (\Seen, move, delete) and advancing the UID.  Then
 * IDLE (or poll), left for that FETCH at least every poll_interval (the
 * watchdog below).  Out of IDLE, DONE is written together with that FETCH
 * (pipelined: the server answers DONE, then the FETCH), so "* N EXISTS"
 * costs one round trip to the body, not four (DONE, SEARCH, FETCH of the
 * size, FETCH of the body).  The first sync of a mailbox (only mail
 * younger than max_age: a UID SEARCH SINCE) and a session after a literal
 * over max_size still search and fetch one UID at a time
 * (imap_fetch_one).
 *
 * A round whose FETCH reply announced mail ("* N EXISTS": Dovecot reports
 * mail that arrived during any command at its end, and never again in
 * the IDLE that follows) or that left mail behind (IMAP_BATCH_MAX,
 * IMAP_FETCH_KEEP) is followed at once by the next round instead of
 * IDLE, or that mail would wait for the watchdog, up to poll_interval
 * (a->again).  A failed commit (a FALSE verdict) is not: its message is
 * fetched again by the next round as usual, so a store that keeps
 * failing does not make the thread spin.  Nor does a server that says
 * EXISTS in every reply: an EXISTS in the empty reply of a round that
 * itself came at once is not followed (a->chained).
 *
 * Watchdog: a connection that died without a FIN (a NAT that forgot it,
 * a pulled cable, a stalled proxy) looks exactly like an idle one.  So
 * IDLE (or the sleep between polls) lasts at most poll_interval minus
 * imap_check_timeout(), and every wake-up is a round of the one command
 * above, in one write and one round trip: DONE and the UID FETCH.  The
 * reply to DONE and the first line of the FETCH's (its tagged OK when
 * nothing is new) are awaited only imap_check_timeout() -- a live server
 * answers at once, so this is much shorter than the general timeout,
 * which covers the rest of the FETCH's reply (the bodies) -- so a dead
 * connection, or a server that answers
 * DONE but not the FETCH, is replaced within poll_interval of its death.
 * No NOOP: the FETCH's reply is the proof of life.  Polling, a round is
 * NOOP alone, also one round trip, its reply awaited that long; the
 * FETCH follows only when the server announced mail (EXISTS) in it or in
 * the last FETCH's reply, or the last round left mail for the next: a
 * server looks for new mail between commands, so a FETCH alone would see
 * a message a round late (imap_poll_noop).
 *
 * XOAUTH2: the access token comes from oauth.c's token cache (one per
 * account, owned by the thread); a new one is fetched when fewer than
 * IMAP_TOKEN_MARGIN seconds of it are left, and once more when the server
 * refuses a cached one (revoked, or our clocks disagree).  XXX libetpan
 * builds the SASL string in malloc'd memory it does not wipe.
 *
 * Certificates: libetpan verifies nothing (Debian builds it against
 * GnuTLS, where mailstream_ssl_set_server_certicate() is a no-op).  After
 * the handshake, before any credential is sent, the peer chain from
 * mailstream_get_certificate_chain() goes to cert_verify().
 *
 * Hostile input: everything the server sends (responses, literals,
 * dates, capability lists).  Limits: ic->timeout on every network
 * operation (libetpan session timeout), RFC822.SIZE checked against
 * max_size before the body is used (one UID at a time: before it is
 * fetched; a message over it is handed over without its body, marked
 * too_big, for the intake to drop, log and count like deliver's), at
 * most IMAP_BATCH_MAX UIDs per round, at most IMAP_FETCH_KEEP bytes of
 * bodies kept from one UID FETCH <last+1>:* (each message is copied out
 * of libetpan's parser as it is read and freed there; the rest is
 * fetched by the next round), UIDs at or below
 * the committed one ignored whatever the server sends for "*", server
 * text in logs sanitised and cut to IMAP_TEXT_MAX bytes, a bounded wait
 * for the main loop's verdict (password_command's output and run time are
 * bounded in secret.c).  The body literal: RFC822.SIZE is checked first, the
 * body is fetched as BODY.PEEK[]<0.max_size+1>, and since libetpan reads a
 * literal whole into memory, its progress callback (which sees the size
 * the server announces) shuts the socket down when a literal is larger
 * than asked for -- a server that lies about sizes costs a reconnect and
 * that message, not our memory.  XXX the pipelined DONE and the FETCH are
 * written by hand (libetpan has no call that sends without reading) and
 * read with libetpan's public reader and parser, setting the session's
 * imap_tag to the tag each answer must carry.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <glib-unix.h>

#include <libetpan/libetpan.h>

#include "cert.h"
#include "imap.h"
#include "oauth.h"
#include "secret.h"
#include "util.h"

#define IMAP_BATCH_MAX 1000       /* UIDs handled per sync round */
#define IMAP_TEXT_MAX 200         /* server text copied into errors */
#define IMAP_VERDICT_WAIT 600     /* seconds to wait for imap_msg_done */
#define IMAP_BACKOFF_MAX 300      /* seconds */
#define IMAP_CHECK_MIN 2          /* seconds: shortest watchdog reply wait */
#define IMAP_TOKEN_MARGIN 60      /* seconds of validity a token must have left */
#define IMAP_FETCH_KEEP (8 << 20) /* body bytes one UID FETCH <last+1>:* keeps */

/* A message on its way to the main loop; m is first (imap_msg_done casts). */
struct imap_pending {
	struct imap_msg m;
	gint refs;                   /* atomic: thread + main side */
	gint cancelled;              /* atomic: account stopped */
	struct imap_account *a;
	char *account;
	char *mailbox;
	char *data;
	gboolean answered;           /* under a->lock */
	gboolean committed;
};

struct imap_account {
	struct imap_config ic;       /* deep copy */
	imap_msg_fn fn;
	gpointer fn_data;
	GMainContext *ctx;
	GThread *thread;
	int wake[2];                 /* stop wakes poll() through this pipe */

	GMutex lock;                 /* protects everything below */
	GCond cond;
	gboolean stopping;
	int sock_fd;                 /* current session's fd, -1 */
	struct imap_pending *pending;
	gboolean connected;
	gint64 last_sync;
	char *last_error;

	/* Thread-only state. */
	gboolean have_state;
	guint32 uidvalidity;
	guint32 last_uid;
	guint max_age;
	gboolean outage;             /* an outage has been logged */
	gboolean cap_idle, cap_move, cap_uidplus;
	gboolean narrow;             /* next round: search, then one UID at a time */
	gboolean refetch;            /* polling: the next round fetches whatever
	                              * its NOOP says, as the last FETCH's reply
	                              * announced mail (EXISTS) it may not have
	                              * had, or the round left mail for the next */
	gboolean again;              /* IDLE: run the next round at once, not
	                              * IDLE (announced or left-behind mail;
	                              * never for a failed commit) */
	gboolean chained;            /* this round came at once (a->again) */
	gsize literal_max;           /* body fetch in progress: its bound, else 0 */
	gsize literal_seen;          /* the largest literal announced meanwhile */
	struct oauth_cache oauth;    /* XOAUTH2: the cached access token */
};

/* Deep copy of the fields we use. */
static void
imap_config_copy(struct imap_config *dst, const struct imap_config *src)
{
	*dst = *src;
	dst->name = g_strdup(src->name);
	dst->host = g_strdup(src->host);
	dst->ca_file = g_strdup(src->ca_file);
	dst->user = g_strdup(src->user);
	dst->password_file = g_strdup(src->password_file);
	dst->password_command = g_strdup(src->password_command);
	dst->oauth2_provider = g_strdup(src->oauth2_provider);
	dst->token_url = g_strdup(src->token_url);
	dst->client_id = g_strdup(src->client_id);
	dst->client_secret_file = g_strdup(src->client_secret_file);
	dst->refresh_token_file = g_strdup(src->refresh_token_file);
	dst->mailbox = g_strdup(src->mailbox != NULL ? src->mailbox : "INBOX");
	dst->after_folder = g_strdup(src->after_folder);
	dst->identifier = g_strdup(src->identifier);
}

static void
imap_config_clear(struct imap_config *c)
{
	g_free(c->name);
	g_free(c->host);
	g_free(c->ca_file);
	g_free(c->user);
	g_free(c->password_file);
	g_free(c->password_command);
	g_free(c->oauth2_provider);
	g_free(c->token_url);
	g_free(c->client_id);
	g_free(c->client_secret_file);
	g_free(c->refresh_token_file);
	g_free(c->mailbox);
	g_free(c->after_folder);
	g_free(c->identifier);
}

/* Printable-ASCII copy of untrusted server text, at most IMAP_TEXT_MAX. */
static char *
imap_sanitize(const char *s)
{
	GString *out = g_string_new(NULL);

	for (; s != NULL && *s != '\0' && out->len < IMAP_TEXT_MAX; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			g_string_append_c(out, '\'');
		else if (c >= 0x20 && c < 0x7f)
			g_string_append_c(out, (char)c);
		else if (c == '\r' || c == '\n')
			break;
		else
			g_string_append_c(out, '?');
	}
	return g_string_free(out, FALSE);
}

/* A few libetpan error codes in words; NULL for the rest. */
static const char *
imap_errname(int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM:
		return "connection lost or timed out";
	case MAILIMAP_ERROR_CONNECTION_REFUSED:
		return "connection refused or unreachable";
	case MAILIMAP_ERROR_SSL:
		return "TLS handshake failed";
	case MAILIMAP_ERROR_PARSE:
		return "unparsable server response";
	case MAILIMAP_ERROR_MEMORY:
		return "out of memory";
	default:
		return NULL;
	}
}

/* "what failed (libetpan N[: name][: server text])"; g_malloc'd. */
static char *
imap_err(mailimap *s, const char *what, int r)
{
	const char *name = imap_errname(r);
	char *txt, *e;

	/* After a stream error the session's response text is the previous
	 * command's, not an answer to this one. */
	txt = imap_sanitize(s != NULL && name == NULL ? s->imap_response : NULL);

	e = g_strdup_printf("%s failed (libetpan %d%s%s%s%s)", what, r,
	    name != NULL ? ": " : "", name != NULL ? name : "",
	    *txt != '\0' ? ": " : "", txt);
	g_free(txt);
	return e;
}

static gboolean
imap_is_stopping(struct imap_account *a)
{
	gboolean s;

	g_mutex_lock(&a->lock);
	s = a->stopping;
	g_mutex_unlock(&a->lock);
	return s;
}

/* Sleeps up to ms milliseconds or until stop; also waits on fd if >= 0.
 * Returns 1 if fd is readable, 0 on timeout, -1 on stop. */
static int
imap_wait(struct imap_account *a, int fd, int ms)
{
	struct pollfd p[2];
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;

	for (;;) {
		int n = 1, r;
		gint64 left;

		if (imap_is_stopping(a))
			return -1;
		left = (end - g_get_monotonic_time()) / 1000;
		if (left <= 0)
			return 0;
		p[0].fd = a->wake[0];
		p[0].events = POLLIN;
		p[0].revents = 0;
		if (fd >= 0) {
			p[1].fd = fd;
			p[1].events = POLLIN;
			p[1].revents = 0;
			n = 2;
		}
		r = poll(p, (nfds_t)n, (int)MIN(left, G_MAXINT));
		if (r < 0 && errno != EINTR)
			return 0;
		if (r <= 0)
			continue;
		if (p[0].revents != 0)
			return -1;
		if (n == 2 && p[1].revents != 0)
			return 1;
	}
}

static void
imap_set_status(struct imap_account *a, gboolean connected, gboolean synced,
    const char *error)
{
	g_mutex_lock(&a->lock);
	a->connected = connected;
	if (synced) {
		a->last_sync = g_get_real_time() / G_USEC_PER_SEC;
		g_clear_pointer(&a->last_error, g_free);   /* recovered */
	}
	if (error != NULL) {
		g_free(a->last_error);
		a->last_error = g_strdup(error);
	}
	g_mutex_unlock(&a->lock);
}

/* Sets SNI on the libetpan TLS context. */
static void
imap_tls_cb(struct mailstream_ssl_context *ctx, void *data)
{
	mailstream_ssl_set_server_name(ctx, (char *)data);
}

/* Verifies the peer chain of the session's stream (cert.c): 0, or -1
 * and *err. */
static int
imap_verify(struct imap_account *a, mailimap *s, char **err)
{
	carray *chain = mailstream_get_certificate_chain(s->imap_stream);
	struct cert_der der[CERT_CHAIN_MAX];
	guint n = 0;
	int ret;

	for (; chain != NULL && n < carray_count(chain) && n < CERT_CHAIN_MAX; n++) {
		MMAPString *m = carray_get(chain, n);

		der[n].data = (const unsigned char *)m->str;
		der[n].len = m->len;
	}
	ret = cert_verify(der, n, a->ic.host, a->ic.ca_file, err);
	if (chain != NULL)
		mailstream_certificate_chain_free(chain);
	return ret;
}

/* Reads CAPABILITY into a->cap_*; 0 or -1. */
static int
imap_caps(struct imap_account *a, mailimap *s, char **err)
{
	struct mailimap_capability_data *cd = NULL;
	clistiter *it;
	int r = mailimap_capability(s, &cd);

	if (r != MAILIMAP_NO_ERROR) {
		*err = imap_err(s, "CAPABILITY", r);
		return -1;
	}
	a->cap_idle = a->cap_move = a->cap_uidplus = FALSE;
	for (it = clist_begin(cd->cap_list); it != NULL; it = clist_next(it)) {
		struct mailimap_capability *c = clist_content(it);

		if (c->cap_type != MAILIMAP_CAPABILITY_NAME || c->cap_data.cap_name == NULL)
			continue;
		if (g_ascii_strcasecmp(c->cap_data.cap_name, "IDLE") == 0)
			a->cap_idle = TRUE;
		else if (g_ascii_strcasecmp(c->cap_data.cap_name, "MOVE") == 0)
			a->cap_move = TRUE;
		else if (g_ascii_strcasecmp(c->cap_data.cap_name, "UIDPLUS") == 0)
			a->cap_uidplus = TRUE;
	}
	mailimap_capability_data_free(cd);
	return 0;
}

/* TRUE when the last tagged reply carried the response code [code]. */
static gboolean
imap_resp_code(mailimap *s, const char *code)
{
	return s->imap_response_info != NULL &&
	    s->imap_response_info->rsp_atom != NULL &&
	    g_ascii_strcasecmp(s->imap_response_info->rsp_atom, code) == 0;
}

/* AUTHENTICATE XOAUTH2 with the cached token when it has IMAP_TOKEN_MARGIN
 * seconds left, else a new one (oauth.c's token cache); a refused cached
 * token is replaced and tried once more.  0, or -1 and *err. */
static int
imap_xoauth2(struct imap_account *a, mailimap *s, char **err)
{
	gboolean refreshed = FALSE;
	const char *token;
	int r;

	for (;;) {
		token = oauth_cache_token(&a->oauth, &a->ic, IMAP_TOKEN_MARGIN,
		    &refreshed, err);
		if (token == NULL)
			return -1;
		r = mailimap_oauth2_authenticate(s, a->ic.user, token);
		if (r == MAILIMAP_NO_ERROR)
			return 0;
		if (r == MAILIMAP_ERROR_LOGIN && imap_resp_code(s, "UNAVAILABLE")) {
			/* RFC 5530: the server could not check the token
			 * (its identity provider is down): not a refusal. */
			*err = imap_err(s, "AUTHENTICATE XOAUTH2 [UNAVAILABLE]", r);
			return -1;
		}
		if (r != MAILIMAP_ERROR_LOGIN || refreshed) {
			*err = imap_err(s, "AUTHENTICATE XOAUTH2", r);
			if (r == MAILIMAP_ERROR_LOGIN)
				oauth_cache_drop(&a->oauth);
			return -1;
		}
		g_message("imap=%s result=token-refused action=refresh", a->ic.name);
		oauth_cache_drop(&a->oauth);
	}
}

/* Connects, verifies, logs in and selects.  0, or -1 and *err. */
static int
imap_open(struct imap_account *a, mailimap *s, char **err)
{
	char *pw;
	int r;

	if (a->ic.tls == IMAP_TLS_NONE && !util_is_loopback_host(a->ic.host)) {
		/* config.c refuses this too; never send a password in clear. */
		*err = g_strdup("tls=none is allowed only to loopback");
		return -1;
	}
	if (a->ic.tls == IMAP_TLS_IMPLICIT)
		r = mailimap_ssl_connect_with_callback(s, a->ic.host,
		    (uint16_t)a->ic.port, imap_tls_cb, a->ic.host);
	else
		r = mailimap_socket_connect(s, a->ic.host, (uint16_t)a->ic.port);
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		*err = imap_err(NULL, a->ic.tls == IMAP_TLS_IMPLICIT ?
		    "connect (TLS)" : "connect", r);
		return -1;
	}
	g_mutex_lock(&a->lock);
	a->sock_fd = mailstream_low_get_fd(mailstream_get_low(s->imap_stream));
	r = a->stopping;
	g_mutex_unlock(&a->lock);
	if (r) {
		*err = g_strdup("stopping");
		return -1;
	}
	if (a->ic.tls == IMAP_TLS_STARTTLS) {
		r = mailimap_socket_starttls_with_callback(s, imap_tls_cb, a->ic.host);
		if (r != MAILIMAP_NO_ERROR) {
			*err = imap_err(s, "STARTTLS", r);
			return -1;
		}
	}
	if (a->ic.tls != IMAP_TLS_NONE && imap_verify(a, s, err) < 0)
		return -1;

	if (a->ic.auth == IMAP_AUTH_XOAUTH2) {
		if (imap_xoauth2(a, s, err) < 0)
			return -1;
		goto authenticated;
	}
	pw = secret_password(a->ic.password_file, a->ic.password_command,
	    a->ic.timeout, err);
	if (pw == NULL)
		return -1;
	if (a->ic.auth == IMAP_AUTH_PLAIN)
		r = mailimap_authenticate(s, "PLAIN", a->ic.host, NULL, NULL,
		    a->ic.user, a->ic.user, pw, NULL);
	else
		r = mailimap_login(s, a->ic.user, pw);
	util_secret_free(&pw);
	if (r != MAILIMAP_NO_ERROR) {
		*err = imap_err(s, a->ic.auth == IMAP_AUTH_PLAIN ?
		    "AUTHENTICATE PLAIN" : "LOGIN", r);
		return -1;
	}
authenticated:
	if (imap_caps(a, s, err) < 0)
		return -1;
	r = mailimap_select(s, a->ic.mailbox);
	if (r != MAILIMAP_NO_ERROR) {
		*err = imap_err(s, "SELECT", r);
		return -1;
	}
	return 0;
}

/* INTERNALDATE to Unix seconds; 0 when invalid. */
static gint64
imap_date(const struct mailimap_date_time *d)
{
	GDateTime *dt;
	gint64 t;
	int z, off;

	if (d == NULL)
		return 0;
	dt = g_date_time_new_utc(d->dt_year, d->dt_month, d->dt_day, d->dt_hour,
	    d->dt_min, d->dt_sec);
	if (dt == NULL)
		return 0;
	t = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	z = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
	off = (z / 100) * 3600 + (z % 100) * 60;
	return d->dt_zone < 0 ? t + off : t - off;
}

static gint
imap_uid_cmp(gconstpointer x, gconstpointer y)
{
	guint32 u = *(const guint32 *)x, v = *(const guint32 *)y;

	return u < v ? -1 : u > v;
}

/* UID SEARCH: UIDs above last_uid (first: SINCE the max_age day too). */
static int
imap_search(struct imap_account *a, mailimap *s, gboolean first, GArray *uids,
    char **err)
{
	struct mailimap_search_key *key;
	clist *res = NULL;
	clistiter *it;
	int r;

	if (first) {
		GDateTime *now = g_date_time_new_now_utc();
		GDateTime *since = g_date_time_add_seconds(now,
		    -(gdouble)a->max_age - 86400.0);

		key = mailimap_search_key_new_multiple_empty();
		mailimap_search_key_multiple_add(key, mailimap_search_key_new_since(
		    mailimap_date_new(g_date_time_get_day_of_month(since),
		    g_date_time_get_month(since), g_date_time_get_year(since))));
		mailimap_search_key_multiple_add(key, mailimap_search_key_new_uid(
		    mailimap_set_new_interval(a->last_uid + 1, 0)));
		g_date_time_unref(since);
		g_date_time_unref(now);
	} else {
		key = mailimap_search_key_new_uid(
		    mailimap_set_new_interval(a->last_uid + 1, 0));
	}
	r = mailimap_uid_search(s, NULL, key, &res);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR) {
		*err = imap_err(s, "UID SEARCH", r);
		return -1;
	}
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		guint32 u = *(uint32_t *)clist_content(it);

		/* "N:*" matches the highest UID even when it is below N. */
		if (u > a->last_uid)
			g_array_append_val(uids, u);
	}
	mailimap_search_result_free(res);
	g_array_sort(uids, imap_uid_cmp);
	if (uids->len > IMAP_BATCH_MAX)
		g_array_set_size(uids, IMAP_BATCH_MAX);
	return 0;
}

/* Fetches one message: meta first, body only if it fits.  Returns 0 with
 * *data set, or NULL when skipped (*too_big: over max_size, for the
 * intake to drop), -1 on error. */
static int
imap_fetch_one(struct imap_account *a, mailimap *s, guint32 uid, gboolean first,
    char **data, gsize *len, gint64 *idate, gboolean *too_big, char **err)
{
	struct mailimap_set *set;
	struct mailimap_fetch_type *ft;
	clist *res = NULL;
	clistiter *it, *jt;
	guint64 size = 0;
	gboolean found = FALSE;
	int r;

	*data = NULL;
	*len = 0;
	*idate = 0;
	*too_big = FALSE;
	set = mailimap_set_new_single(uid);
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_internaldate());
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_rfc822_size());
	r = mailimap_uid_fetch(s, set, ft, &res);
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (r != MAILIMAP_NO_ERROR) {
		*err = imap_err(s, "UID FETCH", r);
		return -1;
	}
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		struct mailimap_msg_att *ma = clist_content(it);
		guint32 u = 0;
		gint64 d = 0;
		guint64 sz = 0;

		for (jt = clist_begin(ma->att_list); jt != NULL; jt = clist_next(jt)) {
			struct mailimap_msg_att_item *item = clist_content(jt);

			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
				continue;
			switch (item->att_data.att_static->att_type) {
			case MAILIMAP_MSG_ATT_UID:
				u = item->att_data.att_static->att_data.att_uid;
				break;
			case MAILIMAP_MSG_ATT_INTERNALDATE:
				d = imap_date(item->att_data.att_static->att_data.att_internal_date);
				break;
			case MAILIMAP_MSG_ATT_RFC822_SIZE:
				sz = item->att_data.att_static->att_data.att_rfc822_size;
				break;
			default:
				break;
			}
		}
		if (u == uid) {
			found = TRUE;
			*idate = d;
			size = sz;
		}
	}
	mailimap_fetch_list_free(res);
	if (!found) {
		/* Expunged meanwhile. */
		return 0;
	}
	if (first && *idate > 0 &&
	    *idate < g_get_real_time() / G_USEC_PER_SEC - (gint64)a->max_age) {
		g_debug("imap=%s uid=%u result=skipped reason=older-than-max-age",
		    a->ic.name, uid);
		return 0;
	}
	if (a->ic.max_size > 0 && size > a->ic.max_size) {
		*too_big = TRUE;        /* the intake drops it: not fetched */
		return 0;
	}

	res = NULL;
	set = mailimap_set_new_single(uid);
	ft = mailimap_fetch_type_new_fetch_att_list_empty();
	mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
	if (a->ic.max_size > 0) {
		a->literal_max = (gsize)MIN(a->ic.max_size + 1, (guint64)G_MAXUINT32);
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		    mailimap_fetch_att_new_body_peek_section_partial(
		    mailimap_section_new(NULL), 0, (uint32_t)a->literal_max));
	} else {
		mailimap_fetch_type_new_fetch_att_list_add(ft,
		    mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL)));
	}
	a->literal_seen = 0;
	r = mailimap_uid_fetch(s, set, ft, &res);
	a->literal_max = 0;
	mailimap_fetch_type_free(ft);
	mailimap_set_free(set);
	if (a->literal_seen > 0) {
		/* We cut the connection: skip this UID (in this run). */
		g_warning("imap=%s uid=%u result=skipped reason=too-large size=%zu "
		    "limit=%" G_GUINT64_FORMAT " (the server announced "
		    "RFC822.SIZE %" G_GUINT64_FORMAT ")", a->ic.name, uid,
		    a->literal_seen, a->ic.max_size, size);
		a->last_uid = uid;
		if (res != NULL)
			mailimap_fetch_list_free(res);
		*err = g_strdup_printf("UID FETCH: a %zu-byte literal for UID %u, "
		    "over max_size: connection dropped", a->literal_seen, uid);
		return -1;
	}
	if (r != MAILIMAP_NO_ERROR) {
		*err = imap_err(s, "UID FETCH BODY.PEEK[]", r);
		return -1;
	}
	for (it = clist_begin(res); it != NULL; it = clist_next(it)) {
		struct mailimap_msg_att *ma = clist_content(it);
		guint32 u = 0;
		struct mailimap_msg_att_body_section *bs = NULL;

		for (jt = clist_begin(ma->att_list); jt != NULL; jt = clist_next(jt)) {
			struct mailimap_msg_att_item *item = clist_content(jt);

			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
				continue;
			if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID)
				u = item->att_data.att_static->att_data.att_uid;
			else if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_BODY_SECTION)
				bs = item->att_data.att_static->att_data.att_body_section;
		}
		if (u == uid && bs != NULL && bs->sec_body_part != NULL && *data == NULL) {
			if (a->ic.max_size > 0 && bs->sec_length > a->ic.max_size) {
				*too_big = TRUE;    /* larger than its RFC822.SIZE */
				break;
			}
			*data = g_malloc(bs->sec_length + 1);
			memcpy(*data, bs->sec_body_part, bs->sec_length);
			(*data)[bs->sec_length] = '\0';
			*len = bs->sec_length;
		}
	}
	mailimap_fetch_list_free(res);
	return 0;
}

static void imap_set_stream_timeout(mailimap *s, guint secs);

/* One message of a UID FETCH <last+1>:* response (imap_fetch_new). */
struct imap_got {
	guint32 uid;
	gint64 idate;
	guint64 size;                /* RFC822.SIZE, or the body's length if larger */
	char *data;                  /* NULL: no body came, or over IMAP_FETCH_KEEP */
	gsize len;
};

struct imap_fetch_ctx {
	struct imap_account *a;
	GArray *got;                 /* struct imap_got */
	gsize kept;                  /* body bytes in got */
};

static gint
imap_got_cmp(gconstpointer x, gconstpointer y)
{
	return imap_uid_cmp(&((const struct imap_got *)x)->uid,
	    &((const struct imap_got *)y)->uid);
}

/*
 * libetpan's per-message handler during imap_fetch_new(): copies what we
 * need out of each FETCH response as it is parsed (libetpan then frees
 * it), so the response's bodies are never all in memory at once: bodies
 * beyond IMAP_FETCH_KEEP bytes are dropped here and fetched by the next
 * round.  Responses for UIDs we have (the "*" of <last+1>:* is the last
 * message even when its UID is lower) and unsolicited ones without a UID
 * are ignored; two responses for one UID are merged.
 */
static void
imap_msg_att_cb(struct mailimap_msg_att *ma, void *data)
{
	struct imap_fetch_ctx *c = data;
	struct imap_account *a = c->a;
	struct imap_got g = { 0 }, *e = NULL;
	struct mailimap_msg_att_body_section *bs = NULL;
	clistiter *jt;

	for (jt = clist_begin(ma->att_list); jt != NULL; jt = clist_next(jt)) {
		struct mailimap_msg_att_item *item = clist_content(jt);
		struct mailimap_msg_att_static *st;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
			continue;
		st = item->att_data.att_static;
		switch (st->att_type) {
		case MAILIMAP_MSG_ATT_UID:
			g.uid = st->att_data.att_uid;
			break;
		case MAILIMAP_MSG_ATT_INTERNALDATE:
			g.idate = imap_date(st->att_data.att_internal_date);
			break;
		case MAILIMAP_MSG_ATT_RFC822_SIZE:
			g.size = st->att_data.att_rfc822_size;
			break;
		case MAILIMAP_MSG_ATT_BODY_SECTION:
			bs = st->att_data.att_body_section;
			break;
		default:
			break;
		}
	}
	if (g.uid == 0 || g.uid <= a->last_uid)
		return;
	for (guint i = 0; i < c->got->len; i++)
		if (g_array_index(c->got, struct imap_got, i).uid == g.uid)
			e = &g_array_index(c->got, struct imap_got, i);
	if (e == NULL) {
		if (c->got->len >= IMAP_BATCH_MAX)
			return;              /* the next round has it */
		g_array_append_val(c->got, g);
		e = &g_array_index(c->got, struct imap_got, c->got->len - 1);
	} else {
		e->idate = g.idate != 0 ? g.idate : e->idate;
		e->size = MAX(e->size, g.size);
	}
	if (bs == NULL || bs->sec_body_part == NULL || e->data != NULL)
		return;
	e->size = MAX(e->size, (guint64)bs->sec_length);
	if (a->ic.max_size > 0 && e->size > a->ic.max_size)
		return;                  /* skipped on its size: no copy */
	if (c->kept > 0 && c->kept + bs->sec_length > IMAP_FETCH_KEEP)
		return;                  /* dropped: fetched again next round */
	e->data = g_malloc(bs->sec_length + 1);
	memcpy(e->data, bs->sec_body_part, bs->sec_length);
	e->data[bs->sec_length] = '\0';
	e->len = bs->sec_length;
	c->kept += bs->sec_length;
}

/* Reads one response to the command tagged tag; 0, or -1 and *err.  Its
 * first line is awaited first_s seconds (the watchdog's wait), the rest
 * (literals, further lines) the general timeout.  *exists (if not NULL):
 * whether the server announced a mailbox size (EXISTS) in it. */
static int
imap_read_tagged(struct imap_account *a, mailimap *s, int tag, guint first_s,
    const char *what, gboolean *exists, char **err)
{
	struct mailimap_response *resp = NULL;
	gboolean line;
	clistiter *it;
	int r, state;

	s->imap_tag = tag;           /* libetpan checks the tag against it */
	imap_set_stream_timeout(s, first_s);
	line = mailimap_read_line(s) != NULL;
	imap_set_stream_timeout(s, MAX(a->ic.timeout, 1));
	if (!line) {
		*err = imap_err(s, what, MAILIMAP_ERROR_STREAM);
		return -1;
	}
	r = mailimap_parse_response(s, &resp);
	if (r != MAILIMAP_NO_ERROR) {
		*err = imap_err(s, what, r);
		return -1;
	}
	state = resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type;
	for (it = exists != NULL && resp->rsp_cont_req_or_resp_data_list != NULL ?
	    clist_begin(resp->rsp_cont_req_or_resp_data_list) : NULL; it != NULL;
	    it = clist_next(it)) {
		struct mailimap_cont_req_or_resp_data *d = clist_content(it);
		struct mailimap_response_data *rd = d->rsp_data.rsp_resp_data;

		if (d->rsp_type == MAILIMAP_RESP_RESP_DATA && rd != NULL &&
		    rd->rsp_type == MAILIMAP_RESP_DATA_TYPE_MAILBOX_DATA &&
		    rd->rsp_data.rsp_mailbox_data != NULL &&
		    rd->rsp_data.rsp_mailbox_data->mbd_type == MAILIMAP_MAILBOX_DATA_EXISTS)
			*exists = TRUE;
	}
	mailimap_response_free(resp);
	if (state != MAILIMAP_RESP_COND_STATE_OK) {
		*err = imap_err(s, what, MAILIMAP_ERROR_UID_FETCH);
		return -1;
	}
	return 0;
}

/*
 * New mail in one round trip: UID FETCH <last+1>:* (UID INTERNALDATE
 * RFC822.SIZE BODY.PEEK[]<0.max_size+1>).  With done (the session is in
 * IDLE), DONE goes in the same write, ahead of the FETCH: the server ends
 * IDLE, answers its tag, then the FETCH, so nothing waits for DONE's
 * reply.  libetpan has no call for that, so the command is written here
 * and its responses read with libetpan's reader and parser; DONE's reply
 * and the FETCH's first line are awaited check_s only (the watchdog), the
 * rest of the FETCH's the general timeout.
 * Fills got (struct imap_got, by UID).  0, or -1 and *err.
 */
static int
imap_fetch_new(struct imap_account *a, mailimap *s, gboolean done, guint check_s,
    GArray *got, char **err)
{
	GString *cmd = g_string_new(NULL);
	struct imap_fetch_ctx c = { a, got, 0 };
	int idle_tag = s->imap_tag, tag = s->imap_tag + 1, r;
	const char *pfx = mailimap_is_163_workaround_enabled(s) ? "C" : "";

	if (done)
		g_string_append(cmd, "DONE\r\n");
	g_string_append_printf(cmd, "%s%d UID FETCH %u:* (UID INTERNALDATE "
	    "RFC822.SIZE BODY.PEEK[]", pfx, tag, a->last_uid + 1);
	a->literal_max = 0;
	if (a->ic.max_size > 0) {
		a->literal_max = (gsize)MIN(a->ic.max_size + 1, (guint64)G_MAXUINT32);
		g_string_append_printf(cmd, "<0.%zu>", a->literal_max);
	}
	g_string_append(cmd, ")\r\n");
	r = mailstream_write(s->imap_stream, cmd->str, cmd->len) < 0 ||
	    mailstream_flush(s->imap_stream) < 0 ? -1 : 0;
	g_string_free(cmd, TRUE);
	if (r < 0) {
		a->literal_max = 0;
		*err = imap_err(s, done ? "DONE" : "UID FETCH", MAILIMAP_ERROR_STREAM);
		return -1;
	}
	/* The server may answer DONE and the FETCH in two small writes; if
	 * it has Nagle on, the second waits for our ACK of the first, which
	 * the kernel would delay (40 ms) as we have nothing to send. */
	g_mutex_lock(&a->lock);
	if (a->sock_fd >= 0)
		(void)setsockopt(a->sock_fd, IPPROTO_TCP, TCP_QUICKACK, &(int){ 1 },
		    sizeof(int));
	g_mutex_unlock(&a->lock);
	if (done) {
		r = imap_read_tagged(a, s, idle_tag, check_s, "DONE", NULL, err);
		if (r < 0) {
			a->literal_max = 0;
			return -1;
		}
	}
	/* The watchdog: the FETCH's first line (a FETCH response, or its
	 * tagged OK when nothing is new) comes within check_s from a live
	 * server, so this round proves the connection alive without NOOP
	 * and a server that answers DONE but not the FETCH is caught as
	 * soon as one that answers nothing. */
	a->literal_seen = 0;
	a->refetch = FALSE;
	mailimap_set_msg_att_handler(s, imap_msg_att_cb, &c);
	r = imap_read_tagged(a, s, tag, check_s, "UID FETCH", &a->refetch, err);
	mailimap_set_msg_att_handler(s, NULL, NULL);
	a->literal_max = 0;
	if (a->literal_seen > 0) {
		/* We cut the connection: one message is larger than asked
		 * for.  The next session takes one UID at a time, and skips
		 * that one (imap_fetch_one). */
		a->narrow = TRUE;
		g_free(*err);
		*err = g_strdup_printf("UID FETCH: a %zu-byte literal, over max_size: "
		    "connection dropped", a->literal_seen);
		return -1;
	}
	if (r < 0)
		return -1;
	g_array_sort(got, imap_got_cmp);
	return 0;
}

static void
imap_got_clear(GArray *got)
{
	for (guint i = 0; i < got->len; i++)
		g_free(g_array_index(got, struct imap_got, i).data);
	g_array_set_size(got, 0);
}

static void
imap_pending_unref(struct imap_pending *p)
{
	if (!g_atomic_int_dec_and_test(&p->refs))
		return;
	g_free(p->account);
	g_free(p->mailbox);
	g_free(p->data);
	g_free(p);
}

/* Main context: hand the message to the callback unless stopped. */
static gboolean
imap_invoke_cb(gpointer data)
{
	struct imap_pending *p = data;

	if (g_atomic_int_get(&p->cancelled)) {
		imap_pending_unref(p);   /* the main side's reference */
		return G_SOURCE_REMOVE;
	}
	p->a->fn(p->a, &p->m, p->a->fn_data);
	return G_SOURCE_REMOVE;
}

/* Hands a message over and waits for the verdict: 1 committed, 0 not,
 * -1 stopping. */
static int
imap_deliver(struct imap_account *a, guint32 uid, char *data, gsize len,
    gint64 idate, gboolean too_big)
{
	struct imap_pending *p = g_new0(struct imap_pending, 1);
	gint64 end = g_get_monotonic_time() + IMAP_VERDICT_WAIT * G_TIME_SPAN_SECOND;
	int ret;

	p->refs = 2;
	p->a = a;
	p->account = g_strdup(a->ic.name);
	p->mailbox = g_strdup(a->ic.mailbox);
	p->data = data;
	p->m.account = p->account;
	p->m.mailbox = p->mailbox;
	p->m.uidvalidity = a->uidvalidity;
	p->m.uid = uid;
	p->m.data = data;
	p->m.len = len;
	p->m.internal_date = idate;
	p->m.too_big = too_big;
	p->m.limit = a->ic.max_size;

	g_mutex_lock(&a->lock);
	a->pending = p;
	g_mutex_unlock(&a->lock);
	g_main_context_invoke_full(a->ctx, G_PRIORITY_DEFAULT, imap_invoke_cb, p, NULL);

	g_mutex_lock(&a->lock);
	while (!p->answered && !a->stopping)
		if (!g_cond_wait_until(&a->cond, &a->lock, end))
			break;
	if (p->answered)
		ret = p->committed ? 1 : 0;
	else if (a->stopping)
		ret = -1;
	else {
		g_warning("imap=%s uid=%u result=retry reason=no-verdict-in-%ds",
		    a->ic.name, uid, IMAP_VERDICT_WAIT);
		/* Abandoned: a late imap_msg_done() (or a still queued
		 * invocation) must not touch the account any more. */
		g_atomic_int_set(&p->cancelled, 1);
		ret = 0;
	}
	if (ret >= 0) {
		a->pending = NULL;
		g_mutex_unlock(&a->lock);
		imap_pending_unref(p);
	} else {
		/* stop() cancels and drops the thread's reference. */
		g_mutex_unlock(&a->lock);
	}
	return ret;
}

/* Applies `after` to uid.  0 or -1 and *err. */
static int
imap_after(struct imap_account *a, mailimap *s, guint32 uid, char **err)
{
	struct mailimap_set *set;
	struct mailimap_flag_list *fl;
	struct mailimap_store_att_flags *sf;
	int r = MAILIMAP_NO_ERROR;
	const char *what = "";

	switch (a->ic.after) {
	case IMAP_AFTER_NONE:
		return 0;
	case IMAP_AFTER_SEEN:
	case IMAP_AFTER_DELETE:
		fl = mailimap_flag_list_new_empty();
		mailimap_flag_list_add(fl, a->ic.after == IMAP_AFTER_SEEN ?
		    mailimap_flag_new_seen() : mailimap_flag_new_deleted());
		sf = mailimap_store_att_flags_new_add_flags_silent(fl);
		set = mailimap_set_new_single(uid);
		r = mailimap_uid_store(s, set, sf);
		mailimap_store_att_flags_free(sf);
		what = "UID STORE";
		if (r == MAILIMAP_NO_ERROR && a->ic.after == IMAP_AFTER_DELETE)
			goto expunge;
		mailimap_set_free(set);
		break;
	case IMAP_AFTER_MOVE:
		set = mailimap_set_new_single(uid);
		if (a->cap_move) {
			r = mailimap_uid_move(s, set, a->ic.after_folder);
			what = "UID MOVE";
			mailimap_set_free(set);
			break;
		}
		r = mailimap_uid_copy(s, set, a->ic.after_folder);
		what = "UID COPY";
		if (r == MAILIMAP_NO_ERROR) {
			fl = mailimap_flag_list_new_empty();
			mailimap_flag_list_add(fl, mailimap_flag_new_deleted());
			sf = mailimap_store_att_flags_new_add_flags_silent(fl);
			r = mailimap_uid_store(s, set, sf);
			mailimap_store_att_flags_free(sf);
			what = "UID STORE";
			if (r == MAILIMAP_NO_ERROR)
				goto expunge;
		}
		mailimap_set_free(set);
		break;
	}
	goto out;
expunge:
	/* XXX without UIDPLUS, EXPUNGE also removes other \Deleted mail. */
	if (a->cap_uidplus) {
		r = mailimap_uid_expunge(s, set);
		what = "UID EXPUNGE";
	} else {
		r = mailimap_expunge(s);
		what = "EXPUNGE";
	}
	mailimap_set_free(set);
out:
	if (r != MAILIMAP_NO_ERROR) {
		*err = imap_err(s, what, r);
		return -1;
	}
	return 0;
}

/* Hands one fetched message over, then applies `after`: 1 go on, 0 stop
 * (a FALSE verdict: fetched again next round), -1 error, -2 stopping.
 * Takes data.  too_big: a message over max_size, data NULL; the intake
 * drops it (reason too-large), logs and counts it, and commits its UID
 * like any other dropped mail, and `after` applies to it as to them. */
static int
imap_handle(struct imap_account *a, mailimap *s, guint32 uid, char *data,
    gsize len, gint64 idate, gboolean too_big, char **err)
{
	int v = imap_deliver(a, uid, data, len, idate, too_big);

	if (v < 0)
		return -2;
	if (v == 0)
		return 0;
	if (imap_after(a, s, uid, err) < 0) {
		/* Committed: never deliver it again from this session. */
		a->last_uid = uid;
		return -1;
	}
	a->last_uid = uid;
	return 1;
}

/* A round of the one-command path (imap_fetch_new); as imap_sync. */
static int
imap_sync_fetch(struct imap_account *a, mailimap *s, gboolean done, guint check_s,
    char **err)
{
	GArray *got = g_array_new(FALSE, TRUE, sizeof(struct imap_got));
	int ret = 0;

	if (imap_fetch_new(a, s, done, check_s, got, err) < 0) {
		imap_got_clear(got);
		g_array_free(got, TRUE);
		return -1;
	}
	if (got->len >= IMAP_BATCH_MAX)
		a->refetch = TRUE;      /* there may be more */
	/* EXISTS in the reply, or more; an EXISTS in the empty reply of a
	 * round that itself came at once is not followed (a server that
	 * says EXISTS in every reply must not make us spin). */
	a->again = a->refetch && (got->len > 0 || !a->chained);
	for (guint i = 0; i < got->len && ret == 0; i++) {
		struct imap_got *g = &g_array_index(got, struct imap_got, i);
		int v;

		if (imap_is_stopping(a)) {
			ret = -2;
			break;
		}
		if (a->ic.max_size > 0 && g->size > a->ic.max_size) {
			/* Too large: dropped by the intake, never read. */
			g_clear_pointer(&g->data, g_free);
			v = imap_handle(a, s, g->uid, NULL, 0, g->idate, TRUE, err);
		} else if (g->data == NULL) {
			a->refetch = TRUE;  /* over IMAP_FETCH_KEEP: the next round */
			a->again = TRUE;
			break;
		} else {
			v = imap_handle(a, s, g->uid, g->data, g->len, g->idate, FALSE,
			    err);
		}
		g->data = NULL;
		if (v == 0) {
			a->refetch = TRUE;  /* a FALSE verdict: the next round */
			a->again = FALSE;   /* not at once: no spinning */
		}
		if (v <= 0)
			ret = v == 0 ? 1 : v;
	}
	imap_got_clear(got);
	g_array_free(got, TRUE);
	return ret > 0 ? 0 : ret;
}

/*
 * The watchdog's round while polling: NOOP alone, written here so that
 * its reply is awaited check_s and read for EXISTS.  A server looks for
 * new mail between commands, and Dovecot even runs a FETCH pipelined
 * behind NOOP before NOOP's look, so the FETCH follows (a second round
 * trip) only when NOOP's reply, or the last FETCH's, announced mail, or
 * the last round left mail for the next (a->refetch).  1: mail may be
 * new, 0: nothing new, -1 and *err.
 */
static int
imap_poll_noop(struct imap_account *a, mailimap *s, guint check_s, char **err)
{
	char cmd[32];
	int tag = s->imap_tag + 1, n;
	gboolean exists = FALSE;

	n = g_snprintf(cmd, sizeof(cmd), "%s%d NOOP\r\n",
	    mailimap_is_163_workaround_enabled(s) ? "C" : "", tag);
	if (mailstream_write(s->imap_stream, cmd, (size_t)n) < 0 ||
	    mailstream_flush(s->imap_stream) < 0) {
		*err = imap_err(s, "NOOP", MAILIMAP_ERROR_STREAM);
		return -1;
	}
	if (imap_read_tagged(a, s, tag, check_s, "NOOP", &exists, err) < 0)
		return -1;
	return exists || a->refetch ? 1 : 0;
}

/*
 * One sync round.  0 (possibly stopped early on a FALSE verdict), -1
 * error, -2 stopping.  done: the session is in IDLE, to be ended first.
 * The first sync of a mailbox (only mail younger than max_age: UID
 * SEARCH SINCE) and the round after a message over max_size cut the
 * connection (narrow) search and fetch one UID at a time; every other
 * round is one UID FETCH <last+1>:* (imap_fetch_new), whose first reply
 * line is the watchdog's proof of life.  watch: a round after a wait
 * with nothing from the server (the watchdog's; the server may be gone):
 * out of IDLE (polling) it is a NOOP (imap_poll_noop), followed by the
 * FETCH only when mail was announced; on the search path NOOP comes
 * first, as nothing else there answers within check_s.
 */
static int
imap_sync(struct imap_account *a, mailimap *s, gboolean *first, gboolean done,
    gboolean watch, guint check_s, char **err)
{
	GArray *uids;
	guint i;
	int ret = 0, r;

	a->again = FALSE;
	if (!*first && !a->narrow) {
		if (watch && !done) {
			r = imap_poll_noop(a, s, check_s, err);
			if (r <= 0)
				return r;
		}
		return imap_sync_fetch(a, s, done, check_s, err);
	}
	if (done || watch) {
		imap_set_stream_timeout(s, check_s);
		r = done ? mailimap_idle_done(s) : mailimap_noop(s);
		imap_set_stream_timeout(s, MAX(a->ic.timeout, 1));
		if (r != MAILIMAP_NO_ERROR) {
			*err = imap_err(s, done ? "DONE" : "NOOP", r);
			return -1;
		}
	}
	uids = g_array_new(FALSE, FALSE, sizeof(guint32));
	if (imap_search(a, s, *first, uids, err) < 0) {
		g_array_free(uids, TRUE);
		return -1;
	}
	for (i = 0; i < uids->len; i++) {
		guint32 uid = g_array_index(uids, guint32, i);
		char *data;
		gsize len;
		gint64 idate;
		gboolean too_big;
		int v;

		if (imap_is_stopping(a)) {
			ret = -2;
			break;
		}
		if (imap_fetch_one(a, s, uid, *first, &data, &len, &idate, &too_big,
		    err) < 0) {
			ret = -1;
			break;
		}
		if (data == NULL && !too_big) {
			a->last_uid = uid;  /* skipped or gone */
			continue;
		}
		v = imap_handle(a, s, uid, data, len, idate, too_big, err);
		if (v < 0) {
			ret = v;
			break;
		}
		if (v == 0)
			break;          /* fetched again next round */
	}
	if (ret == 0 && i == uids->len)
		a->narrow = FALSE;
	if (ret == 0 && i == uids->len && *first) {
		/* First start done: nothing older is wanted any more. */
		guint32 next = s->imap_selection_info != NULL ?
		    s->imap_selection_info->sel_uidnext : 0;

		if (next > 0 && next - 1 > a->last_uid)
			a->last_uid = next - 1;
		*first = FALSE;
		a->have_state = TRUE;
	}
	g_array_free(uids, TRUE);
	return ret;
}

/* libetpan's body progress callback: current and announced size of the
 * literal being read.  Runs on the account's thread. */
static void
imap_body_progress(size_t current, size_t maximum, void *data)
{
	struct imap_account *a = data;

	if (a->literal_max == 0 || MAX(current, maximum) <= a->literal_max)
		return;
	if (a->literal_seen == 0) {
		a->literal_seen = MAX(current, maximum);
		g_mutex_lock(&a->lock);
		if (a->sock_fd >= 0)
			shutdown(a->sock_fd, SHUT_RDWR);
		g_mutex_unlock(&a->lock);
	}
}

/* Seconds the watchdog waits for the reply to DONE or NOOP: a quarter of
 * poll_interval, at least IMAP_CHECK_MIN, at most the general timeout. */
static guint
imap_check_timeout(const struct imap_config *ic)
{
	return MIN(MAX(ic->poll_interval / 4, IMAP_CHECK_MIN),
	    MAX(ic->timeout, IMAP_CHECK_MIN));
}

/* Sets the read/write timeout of the session's stream (seconds). */
static void
imap_set_stream_timeout(mailimap *s, guint secs)
{
	mailimap_set_timeout(s, (time_t)secs);
	if (s->imap_stream != NULL)
		mailstream_low_set_timeout(mailstream_get_low(s->imap_stream),
		    (time_t)secs);
}

/* One connection's life.  Returns with *err set (or NULL when stopping). */
static void
imap_session(struct imap_account *a, guint *backoff, char **err)
{
	mailimap *s = mailimap_new(0, NULL);
	gboolean first;
	guint32 uv;
	gint64 wait_ms;
	gboolean idle, in_idle, watch;
	guint check_s;
	int r, fd;

	mailimap_set_timeout(s, MAX(a->ic.timeout, 1));
	mailimap_set_progress_callback(s, imap_body_progress, NULL, a);
	if (imap_open(a, s, err) < 0)
		goto out;
	uv = s->imap_selection_info != NULL ? s->imap_selection_info->sel_uidvalidity : 0;
	if (uv == 0) {
		*err = g_strdup("SELECT returned no UIDVALIDITY");
		goto out;
	}
	if (a->have_state && uv != a->uidvalidity) {
		g_message("imap=%s mailbox=\"%s\" result=resync uidvalidity=%u old=%u",
		    a->ic.name, a->ic.mailbox, uv, a->uidvalidity);
		a->have_state = FALSE;
		a->last_uid = 0;
	}
	a->uidvalidity = uv;
	first = !a->have_state;

	imap_set_status(a, TRUE, FALSE, NULL);
	idle = a->ic.idle && a->cap_idle;
	g_message("imap=%s result=%s host=%s idle=%s", a->ic.name,
	    a->outage ? "reconnected" : "connected", a->ic.host,
	    idle ? "yes" : "no");
	a->outage = FALSE;

	/* The wait between checks leaves room for the check itself within
	 * poll_interval (see "Watchdog" above). */
	check_s = imap_check_timeout(&a->ic);
	wait_ms = (gint64)a->ic.poll_interval * 1000 - (gint64)check_s * 1000;
	if (idle && a->ic.idle_refresh > 0)
		wait_ms = MIN(wait_ms, (gint64)a->ic.idle_refresh * 1000);
	wait_ms = MAX(wait_ms, 1000);
	in_idle = FALSE;
	watch = FALSE;
	a->chained = FALSE;
	for (;;) {
		r = imap_sync(a, s, &first, in_idle, watch, check_s, err);
		in_idle = FALSE;
		if (r == -2)
			goto out;
		if (r < 0)
			goto out;
		imap_set_status(a, TRUE, TRUE, NULL);
		*backoff = 1;
		if (idle && a->again) {
			/* Mail announced or left by this round: the next round
			 * now, out of IDLE (see the header). */
			if (imap_is_stopping(a))
				goto out;
			watch = FALSE;
			a->chained = TRUE;
			continue;
		}
		a->chained = FALSE;
		if (idle) {
			r = mailimap_idle(s);
			if (r != MAILIMAP_NO_ERROR) {
				*err = imap_err(s, "IDLE", r);
				goto out;
			}
			/* XXX we see libetpan's read buffer but not GnuTLS's
			 * record buffer: data already decrypted there waits for
			 * the next wake-up (at most wait_ms). */
			if (s->imap_stream->read_buffer_len == 0)
				r = imap_wait(a, mailimap_idle_get_fd(s), (int)wait_ms);
			else
				r = 1;
		} else {
			r = imap_wait(a, -1, (int)wait_ms);
		}
		if (r < 0)
			goto out;
		/* The next round (imap_sync) is the watchdog's check too:
		 * DONE and the FETCH in one write, their replies awaited
		 * check_s; a wake by the timer (nothing came from the
		 * server) may have found a dead connection. */
		in_idle = idle;
		watch = r == 0;
	}
out:
	g_mutex_lock(&a->lock);
	fd = a->sock_fd;
	a->sock_fd = -1;
	g_mutex_unlock(&a->lock);
	if (s->imap_stream != NULL && *err == NULL && !imap_is_stopping(a))
		mailimap_logout(s);
	else if (fd >= 0)
		/* A failed connection: mailimap_free's TLS close would
		 * otherwise wait the timeout again for the peer's close_notify
		 * (gnutls_bye with SHUT_RDWR) on a dead link. */
		shutdown(fd, SHUT_RDWR);
	/* mailimap_free closes the stream. */
	mailimap_free(s);
}

static gpointer
imap_thread(gpointer data)
{
	struct imap_account *a = data;
	guint backoff = 1;
	sigset_t set;

	/* libetpan writes without MSG_NOSIGNAL: a peer that closed (or our
	 * own shutdown() at stop) must give EPIPE here, not kill the daemon.
	 * SIGPIPE is thread-directed, so blocking it here is enough. */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	while (!imap_is_stopping(a)) {
		char *err = NULL;
		guint ms;

		imap_session(a, &backoff, &err);
		if (imap_is_stopping(a)) {
			g_free(err);
			break;
		}
		if (err == NULL)
			err = g_strdup("connection closed");
		imap_set_status(a, FALSE, FALSE, err);
		if (!a->outage) {
			g_warning("imap=%s result=disconnected error=\"%s\"", a->ic.name, err);
			a->outage = TRUE;
		} else {
			g_debug("imap=%s result=retry-failed error=\"%s\" backoff=%u",
			    a->ic.name, err, backoff);
		}
		g_free(err);
		/* Full jitter in [backoff/2, backoff]. */
		ms = backoff * 500 + (guint)g_random_int_range(0, (gint32)(backoff * 500 + 1));
		if (imap_wait(a, -1, (int)ms) < 0)
			break;
		backoff = MIN(backoff * 2, IMAP_BACKOFF_MAX);
	}
	return NULL;
}

struct imap_account *
imap_account_start(const struct imap_config *ic, const struct imap_start *start,
    imap_msg_fn fn, gpointer data, GMainContext *main_ctx)
{
	struct imap_account *a = g_new0(struct imap_account, 1);
	GError *err = NULL;
	char *tname;

	imap_config_copy(&a->ic, ic);
	a->fn = fn;
	a->fn_data = data;
	a->ctx = main_ctx != NULL ? g_main_context_ref(main_ctx) :
	    g_main_context_ref(g_main_context_default());
	a->sock_fd = -1;
	g_mutex_init(&a->lock);
	g_cond_init(&a->cond);
	if (!g_unix_open_pipe(a->wake, FD_CLOEXEC, &err))
		g_error("imap=%s pipe: %s", ic->name, err->message);
	if (start != NULL) {
		a->have_state = start->have_state;
		a->uidvalidity = start->uidvalidity;
		a->last_uid = start->have_state ? start->last_uid : 0;
		a->max_age = start->max_age;
	}
	tname = g_strdup_printf("imap:%s", ic->name);
	a->thread = g_thread_new(tname, imap_thread, a);
	g_free(tname);
	return a;
}

void
imap_msg_done(struct imap_account *a, const struct imap_msg *m, gboolean committed)
{
	struct imap_pending *p = (struct imap_pending *)m;

	if (!g_atomic_int_get(&p->cancelled)) {
		g_mutex_lock(&a->lock);
		if (a->pending == p && !p->answered) {
			p->answered = TRUE;
			p->committed = committed;
			g_cond_broadcast(&a->cond);
		}
		g_mutex_unlock(&a->lock);
	}
	imap_pending_unref(p);      /* the main side's reference */
}

void
imap_account_stop(struct imap_account **ap)
{
	struct imap_account *a = *ap;
	char c = 'x';

	if (a == NULL)
		return;
	*ap = NULL;
	g_mutex_lock(&a->lock);
	a->stopping = TRUE;
	g_cond_broadcast(&a->cond);
	if (a->sock_fd >= 0)
		shutdown(a->sock_fd, SHUT_RDWR);
	g_mutex_unlock(&a->lock);
	if (write(a->wake[1], &c, 1) < 0)
		g_debug("imap=%s wake: %s", a->ic.name, g_strerror(errno));
	g_thread_join(a->thread);
	if (a->pending != NULL) {
		struct imap_pending *p = a->pending;

		a->pending = NULL;
		g_atomic_int_set(&p->cancelled, 1);
		imap_pending_unref(p);  /* the thread's reference */
	}
	close(a->wake[0]);
	close(a->wake[1]);
	g_mutex_clear(&a->lock);
	g_cond_clear(&a->cond);
	g_main_context_unref(a->ctx);
	g_free(a->last_error);
	oauth_cache_clear(&a->oauth);
	imap_config_clear(&a->ic);
	g_free(a);
}

void
imap_account_status(struct imap_account *a, struct imap_status *st)
{
	g_mutex_lock(&a->lock);
	st->connected = a->connected;
	st->last_sync = a->last_sync;
	st->last_error = g_strdup(a->last_error);
	g_mutex_unlock(&a->lock);
}

const char *
imap_account_name(const struct imap_account *a)
{
	return a->ic.name;
}
