/*
 * httpc.c - the HTTP client (see httpc.h): the only file that includes
 * curl/curl.h.  push.c (the TOTP push) and oauth.c (the token endpoint)
 * sit above it; status.c asks the daemon through it.
 *
 * Loop integration: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION, one GUnixFDSource per socket, recreated when
 * the wanted condition changes) and when to call it back
 * (CURLMOPT_TIMERFUNCTION, one timeout GSource).  Both lead to
 * curl_multi_socket_action(), after which finished transfers are drained
 * with curl_multi_info_read() and each request's callback runs exactly
 * once.  Everything runs on the client's context; a client belongs to the
 * thread that iterates that context.  A callback may send more requests
 * or free the client.
 *
 * Priority: every source of ours (sockets, the timer, a failed setup's
 * report) is attached at HTTPC_PRIORITY, G_PRIORITY_HIGH.  A turn of a
 * busy loop (the daemon's: LMTP sessions parsing, a group commit's
 * fsync) takes milliseconds, and a request needs several turns (curl's
 * first timer, the send, the reply); at the default priority each waited
 * a full turn, so requests queued up behind the loop's other work.  Ours
 * do little (non-blocking socket I/O) and finish: they cannot starve the
 * loop for longer than the requests in flight take.  queue.c explains
 * the choice and the figures.
 *
 * One multi handle per client: its connection cache gives keep-alive
 * reuse and HTTP/2 multiplexing over TLS when the server offers it.  TLS
 * is verified (peer and host name); only http and https are allowed; no
 * redirect is followed; "Expect: 100-continue" is suppressed by the
 * caller's headers.  A plain http URL connects only to a loopback
 * address, or with http_private (allow_http = private) to an RFC 1918 /
 * fc00::/7 one: checked on the resolved address at connect
 * (httpc_open_socket), not only on the name.
 *
 * Hostile input: the server's replies (status line, headers, body).
 * Headers are parsed and bounded by libcurl; we keep only the status and
 * at most reply_max bytes of body.  A reply body longer than discard_max
 * is not read further: the transfer is aborted and reported with the
 * status line that came before the body (overflow); what that means is
 * the caller's to decide.
 *
 * Secrets: the header lines (one may hold an API key) and the body live
 * only in our copies, wiped when freed; this file logs nothing.
 *
 * Limits: total timeout per request (1..HTTPC_TIMEOUT_MAX seconds, 0 =
 * HTTPC_TIMEOUT_DEFAULT), connect timeout at most
 * HTTPC_CONNECT_TIMEOUT_MAX, HTTPC_HOST_CONNECTIONS connections to one
 * host (more requests wait in curl's queue), reply_max bytes of reply
 * kept, discard_max bytes of reply read at all.
 *
 * httpc_get() is one blocking GET of a local service (the daemon's own
 * HTTP side, for `otpbridge status`): http only, no proxy, no redirect,
 * a total timeout in milliseconds, the reply bounded by the caller.
 *
 * httpc_form_post() is apart from all that: one blocking request on its
 * own easy handle, for a caller on its own thread (OAuth token refresh).
 * Same rules (http/https only, no redirect, verified TLS, both timeouts,
 * no signals); its reply is kept raw up to the caller's bound and the
 * transfer is aborted beyond it.  Its body and reply carry secrets
 * (refresh token, client secret; access token): every buffer of ours
 * that held them is wiped before it is freed.
 */
#include "autoconfig.h"

#include <string.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <glib-unix.h>

#include "httpc.h"
#include "util.h"

#define HTTPC_TIMEOUT_DEFAULT      30
#define HTTPC_TIMEOUT_MAX          3600
#define HTTPC_CONNECT_TIMEOUT_MAX  10
#define HTTPC_HOST_CONNECTIONS     16
#define HTTPC_TOTAL_CONNECTIONS    32
/* Every source of ours runs before the loop's default-priority work
 * (sessions, commits): see "Priority" at the top of the file. */
#define HTTPC_PRIORITY             G_PRIORITY_HIGH

struct httpc_client;

/* One socket curl asked us to watch. */
struct httpc_sock {
	struct httpc_client *pc;
	curl_socket_t fd;
	GIOCondition cond;
	GSource *src;
};

/* One request, from httpc_client_post() to its callback. */
struct httpc_req {
	struct httpc_client *pc;
	GList *link;                 /* in pc->reqs */
	CURL *easy;                  /* NULL: setup failed, see error */
	char *body;                  /* our copy, wiped when freed */
	gsize body_len;
	httpc_done_fn done;
	gpointer data;
	gint64 start_us;
	GByteArray *reply;           /* at most pc->reply_max bytes */
	gsize reply_seen;            /* bytes received, kept or not */
	gboolean overflow;           /* aborted past pc->discard_max */
	GSource *fail_src;           /* setup failed: reports it later */
	const char *fail_error;
	char errbuf[CURL_ERROR_SIZE];
};

struct httpc_client {
	CURLM *multi;
	GMainContext *ctx;
	char *url;
	char *ca_file;
	guint timeout;               /* seconds, as httpc_timeout() gives */
	gsize reply_max;
	gsize discard_max;
	gboolean http_private;       /* plain http may reach private networks */
	struct curl_slist *headers;  /* may hold a key: wiped when freed */
	GSource *timer;
	GHashTable *socks;           /* struct httpc_sock * set */
	GList *reqs;                 /* struct httpc_req *, in flight */
	guint nreqs;
	guint busy;                  /* callbacks running (re-entrancy) */
	gboolean dead;               /* freed while busy: free at unwind */
	gboolean closing;            /* teardown: no new timers */
};

static gsize httpc_global_once;

/* curl_global_init() exactly once per process, from any thread. */
static void
httpc_global_init(void)
{
	if (g_once_init_enter(&httpc_global_once)) {
		/* Only fails on allocation failure, which aborts elsewhere too. */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			g_abort();
		g_once_init_leave(&httpc_global_once, 1);
	}
}

/* Wipes and frees a string we own (key or body). */
static void
httpc_wipe_free(char *s, gsize len)
{
	if (s == NULL)
		return;
	explicit_bzero(s, len);
	g_free(s);
}

/* Wipes and frees the header list (one of its lines holds the key). */
static void
httpc_headers_free(struct curl_slist **list)
{
	struct curl_slist *l;

	for (l = *list; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(*list);
	*list = NULL;
}

/* Appends a line to the header list; allocation failure aborts. */
static struct curl_slist *
httpc_headers_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *l = curl_slist_append(list, line);

	if (l == NULL)
		g_abort();
	return l;
}

/* Frees a finished or aborted request (no callback). */
static void
httpc_req_free(struct httpc_req *req)
{
	if (req->easy != NULL)
		curl_easy_cleanup(req->easy);
	if (req->fail_src != NULL) {
		g_source_destroy(req->fail_src);
		g_source_unref(req->fail_src);
	}
	httpc_wipe_free(req->body, req->body_len);
	if (req->reply != NULL) {
		explicit_bzero(req->reply->data, req->reply->len);
		g_byte_array_unref(req->reply);
	}
	g_free(req);
}

/* The status line received so far (0: none, or not a status). */
static long
httpc_req_status(struct httpc_req *req)
{
	long status = 0;

	if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
	    status < 100 || status > 999)
		return 0;
	return status;
}

/*
 * Reports req to its owner, exactly once, and frees it.  req must
 * already be out of the multi handle and off pc->reqs.
 */
static void
httpc_req_report(struct httpc_req *req, CURLcode code)
{
	struct httpc_reply r;

	memset(&r, 0, sizeof(r));
	if (req->easy == NULL) {
		r.setup_failed = TRUE;
		r.error = req->fail_error;
	} else {
		r.status = (int)httpc_req_status(req);
		r.complete = code == CURLE_OK;
		r.overflow = req->overflow;
		if (code != CURLE_OK)
			r.error = req->overflow ? "reply too large" :
			    req->errbuf[0] != '\0' ? req->errbuf : curl_easy_strerror(code);
	}
	r.body = req->reply->data;
	r.body_len = req->reply->len;
	r.truncated = req->reply_seen > req->reply->len;
	r.elapsed_us = g_get_monotonic_time() - req->start_us;
	req->done(&r, req->data);
	httpc_req_free(req);
}

/* Takes req off the client's list (and out of curl) before reporting. */
static void
httpc_req_detach(struct httpc_client *pc, struct httpc_req *req)
{
	if (req->easy != NULL)
		curl_multi_remove_handle(pc->multi, req->easy);
	pc->reqs = g_list_delete_link(pc->reqs, req->link);
	req->link = NULL;
	pc->nreqs--;
}

/*
 * Reports every finished transfer.  A callback may free the client: we
 * then stop and free the struct once the outermost report returns.
 */
static void
httpc_check_done(struct httpc_client *pc)
{
	CURLMsg *m;
	int left;

	pc->busy++;
	while (!pc->dead && (m = curl_multi_info_read(pc->multi, &left)) != NULL) {
		struct httpc_req *req;
		char *priv = NULL;
		CURLcode code;

		if (m->msg != CURLMSG_DONE)
			continue;
		code = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		req = (struct httpc_req *)priv;
		httpc_req_detach(pc, req);
		httpc_req_report(req, code);
	}
	pc->busy--;
	if (pc->dead && pc->busy == 0)
		g_free(pc);
}

/* A watched socket is ready: tell curl, then report what finished. */
static gboolean
httpc_sock_ready(gint fd, GIOCondition cond, gpointer data)
{
	struct httpc_sock *ps = data;
	struct httpc_client *pc = ps->pc;
	int flags = 0;
	int running;

	/* ps may be freed by curl_multi_socket_action(): not used after. */
	if (cond & (G_IO_IN | G_IO_HUP))
		flags |= CURL_CSELECT_IN;
	if (cond & G_IO_OUT)
		flags |= CURL_CSELECT_OUT;
	if (cond & (G_IO_ERR | G_IO_NVAL))
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(pc->multi, fd, flags, &running);
	httpc_check_done(pc);
	return G_SOURCE_CONTINUE;
}

/* curl's timeout expired: tell curl, then report what finished. */
static gboolean
httpc_timer_fired(gpointer data)
{
	struct httpc_client *pc = data;
	int running;

	/* This source is pc->timer; curl may set a new one below. */
	g_source_unref(pc->timer);
	pc->timer = NULL;
	curl_multi_socket_action(pc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	httpc_check_done(pc);
	return G_SOURCE_REMOVE;
}

/* Stops watching a socket and frees its record. */
static void
httpc_sock_free(struct httpc_sock *ps)
{
	if (ps->src != NULL) {
		g_source_destroy(ps->src);
		g_source_unref(ps->src);
	}
	g_free(ps);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl wants, or stop. */
static int
httpc_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct httpc_client *pc = userp;
	struct httpc_sock *ps = socketp;
	GIOCondition cond = 0;

	if (what == CURL_POLL_REMOVE) {
		if (ps != NULL) {
			g_hash_table_remove(pc->socks, ps);
			httpc_sock_free(ps);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		cond |= G_IO_IN | G_IO_HUP | G_IO_ERR;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		cond |= G_IO_OUT | G_IO_ERR;
	if (ps == NULL) {
		ps = g_new0(struct httpc_sock, 1);
		ps->pc = pc;
		ps->fd = fd;
		g_hash_table_add(pc->socks, ps);
		curl_multi_assign(pc->multi, fd, ps);
	} else if (ps->src != NULL && ps->cond == cond) {
		return 0;
	}
	if (ps->src != NULL) {
		g_source_destroy(ps->src);
		g_source_unref(ps->src);
	}
	ps->cond = cond;
	ps->src = g_unix_fd_source_new(fd, cond);
	g_source_set_priority(ps->src, HTTPC_PRIORITY);
	g_source_set_callback(ps->src, G_SOURCE_FUNC(httpc_sock_ready), ps, NULL);
	g_source_attach(ps->src, pc->ctx);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: (re)arm the one timer; -1 removes it. */
static int
httpc_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc_client *pc = userp;

	if (pc->timer != NULL) {
		g_source_destroy(pc->timer);
		g_source_unref(pc->timer);
		pc->timer = NULL;
	}
	if (timeout_ms < 0 || pc->closing)
		return 0;
	if (timeout_ms > G_MAXINT)
		timeout_ms = G_MAXINT;
	pc->timer = g_timeout_source_new((guint)timeout_ms);
	g_source_set_priority(pc->timer, HTTPC_PRIORITY);
	g_source_set_callback(pc->timer, httpc_timer_fired, pc, NULL);
	g_source_attach(pc->timer, pc->ctx);
	return 0;
}

/* CURLOPT_WRITEFUNCTION: keep reply_max bytes, discard the rest. */
static size_t
httpc_write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct httpc_req *req = userp;
	gsize n = size * nmemb;
	gsize room = req->pc->reply_max - req->reply->len;

	if (n > req->pc->discard_max - req->reply_seen) {
		req->overflow = TRUE;
		return 0;
	}
	req->reply_seen += n;
	if (room > 0)
		g_byte_array_append(req->reply, (const guint8 *)ptr, MIN(n, room));
	return n;
}

#define HTTPC_SETOPT(e, opt, val) do {					\
		CURLcode rc_ = curl_easy_setopt((e), (opt), (val));	\
		if (rc_ != CURLE_OK)					\
			return rc_;					\
	} while (0)

/* A configured timeout in seconds: 0 means HTTPC_TIMEOUT_DEFAULT. */
static guint
httpc_timeout(guint timeout_s)
{
	return timeout_s == 0 ? HTTPC_TIMEOUT_DEFAULT : MIN(timeout_s, HTTPC_TIMEOUT_MAX);
}

/*
 * The policy every request shares, multi or blocking: no signals (we may be
 * on a thread; XXX with libcurl's synchronous resolver this leaves name
 * lookups without a timeout -- the distributions build the threaded
 * one), http and https only, no redirect, TLS verified (peer and host
 * name, against ca_file or the system store), a whole and a connect
 * timeout, one POST of body with our User-Agent and headers.
 */
/* The scopes a plain-http request may connect to (clientp of
 * httpc_open_socket): loopback only, or private networks too. */
static const gboolean httpc_scope_loopback = FALSE;
static const gboolean httpc_scope_private = TRUE;

/*
 * CURLOPT_OPENSOCKETFUNCTION for plain http: the configuration checked
 * the host *name*; this checks the *address* it resolved to, so a
 * single-label name that the resolver's search list turns into a public
 * host, or a name that resolves to a public address, never receives the
 * API key in clear.  The connection fails like an unreachable host.
 */
static curl_socket_t
httpc_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	const gboolean *private_ok = clientp;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    !util_sockaddr_in_scope(&a->addr, *private_ok))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype, a->protocol);
}

static CURLcode
httpc_easy_policy(CURL *e, const char *url, const char *ca_file, guint timeout_s,
    gboolean http_private, struct curl_slist *headers, const char *body,
    gsize body_len, char *errbuf)
{
	guint t = httpc_timeout(timeout_s);

	if (g_ascii_strncasecmp(url, "http://", 7) == 0) {
		HTTPC_SETOPT(e, CURLOPT_OPENSOCKETFUNCTION, httpc_open_socket);
		HTTPC_SETOPT(e, CURLOPT_OPENSOCKETDATA, (void *)(http_private ?
		    &httpc_scope_private : &httpc_scope_loopback));
	}

	HTTPC_SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	HTTPC_SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	HTTPC_SETOPT(e, CURLOPT_URL, url);
	HTTPC_SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	HTTPC_SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	HTTPC_SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
	HTTPC_SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file != NULL)
		HTTPC_SETOPT(e, CURLOPT_CAINFO, ca_file);
	HTTPC_SETOPT(e, CURLOPT_TIMEOUT, (long)t);
	HTTPC_SETOPT(e, CURLOPT_CONNECTTIMEOUT, (long)MIN(t, HTTPC_CONNECT_TIMEOUT_MAX));
	HTTPC_SETOPT(e, CURLOPT_HTTPHEADER, headers);
	HTTPC_SETOPT(e, CURLOPT_USERAGENT, "otpbridge/" PACKAGE_VERSION);
	HTTPC_SETOPT(e, CURLOPT_POST, 1L);
	HTTPC_SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	HTTPC_SETOPT(e, CURLOPT_POSTFIELDS, body);
	return CURLE_OK;
}

/* Sets every option of one request; an error names the first that failed. */
static CURLcode
httpc_easy_setup(struct httpc_client *pc, struct httpc_req *req)
{
	CURL *e = req->easy;
	CURLcode rc;

	HTTPC_SETOPT(e, CURLOPT_PRIVATE, req);
	rc = httpc_easy_policy(e, pc->url, pc->ca_file, pc->timeout, pc->http_private,
	    pc->headers, req->body, req->body_len, req->errbuf);
	if (rc != CURLE_OK)
		return rc;
	HTTPC_SETOPT(e, CURLOPT_WRITEFUNCTION, httpc_write_cb);
	HTTPC_SETOPT(e, CURLOPT_WRITEDATA, req);
	/*
	 * Over TLS, wait for ALPN on a connection being set up rather than
	 * open more: it may turn out to multiplex (HTTP/2).  Plain http never
	 * multiplexes here, so waiting would only serialise the first batch.
	 */
	if (g_ascii_strncasecmp(pc->url, "https:", 6) == 0)
		HTTPC_SETOPT(e, CURLOPT_PIPEWAIT, 1L);
	/* Best effort: a libcurl without HTTP/2 still speaks HTTP/1.1. */
	(void)curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS);
	return CURLE_OK;
}

/* Setup failed: the callback still runs, later, from the loop. */
static gboolean
httpc_req_failed(gpointer data)
{
	struct httpc_req *req = data;
	struct httpc_client *pc = req->pc;

	g_source_unref(req->fail_src);
	req->fail_src = NULL;
	httpc_req_detach(pc, req);
	pc->busy++;
	httpc_req_report(req, CURLE_FAILED_INIT);
	pc->busy--;
	if (pc->dead && pc->busy == 0)
		g_free(pc);
	return G_SOURCE_REMOVE;
}

void
httpc_client_post(struct httpc_client *pc, const char *body, gsize len,
    httpc_done_fn done, gpointer data)
{
	struct httpc_req *req;
	CURLcode rc;

	g_return_if_fail(pc != NULL && !pc->dead && body != NULL && done != NULL);
	req = g_new0(struct httpc_req, 1);
	req->pc = pc;
	req->body_len = len;
	req->body = g_malloc(len + 1);
	memcpy(req->body, body, len);
	req->body[len] = '\0';
	req->done = done;
	req->data = data;
	req->start_us = g_get_monotonic_time();
	req->reply = g_byte_array_sized_new(256);
	pc->reqs = g_list_prepend(pc->reqs, req);
	req->link = pc->reqs;
	pc->nreqs++;

	req->easy = curl_easy_init();
	if (req->easy == NULL)
		g_abort();   /* only fails on allocation failure */
	rc = httpc_easy_setup(pc, req);
	if (rc == CURLE_OK) {
		if (curl_multi_add_handle(pc->multi, req->easy) == CURLM_OK)
			return;
		req->fail_error = "cannot start the request";
	} else {
		req->fail_error = curl_easy_strerror(rc);
	}
	curl_easy_cleanup(req->easy);
	req->easy = NULL;
	req->fail_src = g_idle_source_new();
	g_source_set_priority(req->fail_src, HTTPC_PRIORITY);
	g_source_set_callback(req->fail_src, httpc_req_failed, req, NULL);
	g_source_attach(req->fail_src, pc->ctx);
}

guint
httpc_client_active(const struct httpc_client *pc)
{
	return pc->nreqs;
}

struct httpc_client *
httpc_client_new(const struct httpc_config *cfg, GMainContext *ctx)
{
	struct httpc_client *pc;

	g_return_val_if_fail(cfg != NULL && cfg->url != NULL, NULL);
	httpc_global_init();
	pc = g_new0(struct httpc_client, 1);
	pc->multi = curl_multi_init();
	if (pc->multi == NULL)
		g_abort();   /* only fails on allocation failure */
	pc->ctx = g_main_context_ref(ctx != NULL ? ctx : g_main_context_default());
	pc->url = g_strdup(cfg->url);
	pc->ca_file = g_strdup(cfg->ca_file);
	pc->timeout = httpc_timeout(cfg->timeout);
	pc->http_private = cfg->http_private;
	pc->reply_max = cfg->reply_max;
	pc->discard_max = MAX(cfg->discard_max, cfg->reply_max);
	pc->socks = g_hash_table_new(g_direct_hash, g_direct_equal);

	for (gsize i = 0; cfg->headers != NULL && cfg->headers[i] != NULL; i++)
		pc->headers = httpc_headers_add(pc->headers, cfg->headers[i]);

	curl_multi_setopt(pc->multi, CURLMOPT_SOCKETFUNCTION, httpc_socket_cb);
	curl_multi_setopt(pc->multi, CURLMOPT_SOCKETDATA, pc);
	curl_multi_setopt(pc->multi, CURLMOPT_TIMERFUNCTION, httpc_timer_cb);
	curl_multi_setopt(pc->multi, CURLMOPT_TIMERDATA, pc);
	curl_multi_setopt(pc->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(pc->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)HTTPC_HOST_CONNECTIONS);
	curl_multi_setopt(pc->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)HTTPC_TOTAL_CONNECTIONS);
	curl_multi_setopt(pc->multi, CURLMOPT_MAXCONNECTS,
	    (long)HTTPC_TOTAL_CONNECTIONS);
	return pc;
}

/*
 * Aborts every request without its callback, closes the connections and
 * removes every GSource.  The struct itself is freed by the caller.
 */
static void
httpc_client_destroy(struct httpc_client *pc)
{
	GHashTableIter it;
	gpointer key;

	pc->closing = TRUE;
	while (pc->reqs != NULL) {
		struct httpc_req *req = pc->reqs->data;

		httpc_req_detach(pc, req);
		httpc_req_free(req);
	}
	/* May call httpc_socket_cb(REMOVE) and httpc_timer_cb(-1). */
	curl_multi_cleanup(pc->multi);
	pc->multi = NULL;
	g_hash_table_iter_init(&it, pc->socks);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		g_hash_table_iter_remove(&it);
		httpc_sock_free(key);
	}
	g_hash_table_unref(pc->socks);
	pc->socks = NULL;
	if (pc->timer != NULL) {
		g_source_destroy(pc->timer);
		g_source_unref(pc->timer);
		pc->timer = NULL;
	}
	httpc_headers_free(&pc->headers);
	g_free(pc->url);
	g_free(pc->ca_file);
	g_main_context_unref(pc->ctx);
	pc->ctx = NULL;
	pc->dead = TRUE;
}

void
httpc_client_free(struct httpc_client **pcp)
{
	struct httpc_client *pc = *pcp;

	if (pc == NULL)
		return;
	*pcp = NULL;
	g_return_if_fail(!pc->dead);
	httpc_client_destroy(pc);
	/* Freed from inside a callback: httpc_check_done() frees it. */
	if (pc->busy == 0)
		g_free(pc);
}

/* ---- the blocking form POST -------------------------------------------- */

/* The reply of one blocking request, grown by copying (old copy wiped). */
struct httpc_form {
	char *data;                  /* NUL-terminated, or NULL */
	gsize len;
	gsize cap;                   /* bytes allocated, the NUL included */
	gsize max;                   /* < G_MAXSIZE */
	gboolean overflow;           /* aborted: more than max bytes */
};

/* RFC 3986 unreserved: the bytes sent as they are. */
static gboolean
httpc_form_unreserved(guchar c)
{
	return g_ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Bytes s takes once percent-encoded. */
static gsize
httpc_form_escaped_len(const char *s)
{
	gsize n = 0;

	for (; *s != '\0'; s++)
		n += httpc_form_unreserved((guchar)*s) ? 1 : 3;
	return n;
}

/* Writes s percent-encoded at out; returns the end. */
static char *
httpc_form_escape(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		guchar c = (guchar)*s;

		if (httpc_form_unreserved(c)) {
			*out++ = (char)c;
		} else {
			*out++ = '%';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 0x0f];
		}
	}
	return out;
}

/*
 * The body "n1=v1&n2=v2..." for fields, or NULL when they are not in
 * pairs.  curl_easy_escape() would encode the same way, but it grows its
 * buffer by realloc and leaves pieces of the secrets behind in freed
 * memory; this sizes one buffer exactly and writes each byte once.
 */
static char *
httpc_form_body(const char *const *fields, gsize *len_r)
{
	gsize len = 0, i;
	char *body, *p;

	for (i = 0; fields[i] != NULL; i += 2) {
		if (fields[i + 1] == NULL)
			return NULL;
		len += (i > 0 ? 1 : 0) + httpc_form_escaped_len(fields[i]) + 1 +
		    httpc_form_escaped_len(fields[i + 1]);
	}
	p = body = g_malloc(len + 1);
	for (i = 0; fields[i] != NULL; i += 2) {
		if (i > 0)
			*p++ = '&';
		p = httpc_form_escape(p, fields[i]);
		*p++ = '=';
		p = httpc_form_escape(p, fields[i + 1]);
	}
	*p = '\0';
	*len_r = len;
	return body;
}

/* CURLOPT_WRITEFUNCTION: keep everything up to f->max, abort beyond. */
static size_t
httpc_form_write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct httpc_form *f = userp;
	gsize n = size * nmemb;
	gsize need;

	if (n > f->max - f->len) {
		f->overflow = TRUE;
		return 0;    /* CURLE_WRITE_ERROR: the transfer stops here */
	}
	need = f->len + n + 1;
	if (need > f->cap) {
		gsize cap = MAX(f->cap, 1024);
		char *p;

		while (cap < need && cap <= G_MAXSIZE / 2)
			cap *= 2;
		cap = MIN(MAX(cap, need), f->max + 1);
		p = g_malloc(cap);
		if (f->len > 0)
			memcpy(p, f->data, f->len);
		httpc_wipe_free(f->data, f->cap);
		f->data = p;
		f->cap = cap;
	}
	memcpy(f->data + f->len, ptr, n);
	f->len += n;
	f->data[f->len] = '\0';
	return n;
}

/* Sets every option of one blocking form POST. */
static CURLcode
httpc_form_setup(CURL *e, const char *url, struct curl_slist *headers,
    const char *body, gsize body_len, guint timeout_s, struct httpc_form *f,
    char *errbuf)
{
	CURLcode rc = httpc_easy_policy(e, url, NULL, timeout_s, FALSE, headers, body,
	    body_len, errbuf);

	if (rc != CURLE_OK)
		return rc;
	/* A Content-Length over the bound is refused before the body. */
	HTTPC_SETOPT(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)MIN(f->max, (gsize)G_MAXINT64));
	HTTPC_SETOPT(e, CURLOPT_WRITEFUNCTION, httpc_form_write_cb);
	HTTPC_SETOPT(e, CURLOPT_WRITEDATA, f);
	return CURLE_OK;
}

/*
 * Runs a blocking request whose setup returned rc (httpc_form_post,
 * httpc_get): 0 with *code once an HTTP status came; else -1 with *err
 * (the reply past f's bound, or curl's words).
 */
static int
httpc_blocking_perform(CURL *e, CURLcode rc, const struct httpc_form *f,
    const char *errbuf, long *code, char **err)
{
	if (rc == CURLE_OK)
		rc = curl_easy_perform(e);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, code);
		if (*code >= 100 && *code <= 999)
			return 0;
		*err = g_strdup("no HTTP status");
	} else if (f->overflow || rc == CURLE_FILESIZE_EXCEEDED) {
		*err = g_strdup_printf("reply larger than %" G_GSIZE_FORMAT " bytes",
		    f->max);
	} else {
		*err = g_strdup(errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
	}
	return -1;
}

int
httpc_form_post(const char *url, const char *const *fields, guint timeout_s,
    gsize reply_max, int *status, char **reply, gsize *reply_len, char **err)
{
	struct curl_slist *headers = NULL;
	struct httpc_form f;
	char errbuf[CURL_ERROR_SIZE];
	char *body;
	gsize body_len = 0;
	CURL *e;
	CURLcode rc;
	long code = 0;
	int ret = -1;

	*status = 0;
	*reply = NULL;
	*reply_len = 0;
	*err = NULL;
	body = httpc_form_body(fields, &body_len);
	if (body == NULL) {
		*err = g_strdup("form fields must come in name, value pairs");
		return -1;
	}
	httpc_global_init();
	memset(&f, 0, sizeof(f));
	f.max = MIN(reply_max, G_MAXSIZE - 1);
	errbuf[0] = '\0';
	headers = httpc_headers_add(NULL,
	    "Content-Type: application/x-www-form-urlencoded");
	headers = httpc_headers_add(headers, "Accept: application/json");
	headers = httpc_headers_add(headers, "Expect:");
	e = curl_easy_init();
	if (e == NULL)
		g_abort();   /* only fails on allocation failure */
	rc = httpc_form_setup(e, url, headers, body, body_len, timeout_s, &f, errbuf);
	ret = httpc_blocking_perform(e, rc, &f, errbuf, &code, err);
	/* XXX curl's own receive buffer is freed here without a wipe. */
	curl_easy_cleanup(e);
	httpc_headers_free(&headers);
	httpc_wipe_free(body, body_len + 1);
	if (ret == 0) {
		*status = (int)code;
		*reply = f.data != NULL ? f.data : g_strdup("");
		*reply_len = f.len;
	} else {
		httpc_wipe_free(f.data, f.cap);
	}
	return ret;
}

/* Sets every option of one blocking local GET. */
static CURLcode
httpc_get_setup(CURL *e, const char *url, const char *unix_path, guint timeout_ms,
    struct httpc_form *f, char *errbuf)
{
	long t = (long)MAX(timeout_ms, 1);

	HTTPC_SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	HTTPC_SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	HTTPC_SETOPT(e, CURLOPT_URL, url);
	HTTPC_SETOPT(e, CURLOPT_PROTOCOLS_STR, "http");
	HTTPC_SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* "": no proxy, not even one named by http_proxy in the environment */
	HTTPC_SETOPT(e, CURLOPT_PROXY, "");
	if (unix_path != NULL)
		HTTPC_SETOPT(e, CURLOPT_UNIX_SOCKET_PATH, unix_path);
	HTTPC_SETOPT(e, CURLOPT_TIMEOUT_MS, t);
	HTTPC_SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, t);
	HTTPC_SETOPT(e, CURLOPT_USERAGENT, "otpbridge/" PACKAGE_VERSION);
	HTTPC_SETOPT(e, CURLOPT_HTTPGET, 1L);
	HTTPC_SETOPT(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)MIN(f->max, (gsize)G_MAXINT64));
	HTTPC_SETOPT(e, CURLOPT_WRITEFUNCTION, httpc_form_write_cb);
	HTTPC_SETOPT(e, CURLOPT_WRITEDATA, f);
	return CURLE_OK;
}

int
httpc_get(const char *url, const char *unix_path, guint timeout_ms,
    gsize reply_max, int *status, char **reply, char **err)
{
	struct httpc_form f;
	char errbuf[CURL_ERROR_SIZE];
	CURL *e;
	CURLcode rc;
	long code = 0;
	int ret = -1;

	*status = 0;
	*reply = NULL;
	*err = NULL;
	httpc_global_init();
	memset(&f, 0, sizeof(f));
	f.max = MIN(reply_max, G_MAXSIZE - 1);
	errbuf[0] = '\0';
	e = curl_easy_init();
	if (e == NULL)
		g_abort();   /* only fails on allocation failure */
	rc = httpc_get_setup(e, url, unix_path, timeout_ms, &f, errbuf);
	ret = httpc_blocking_perform(e, rc, &f, errbuf, &code, err);
	curl_easy_cleanup(e);
	if (ret == 0) {
		*status = (int)code;
		*reply = f.data != NULL ? f.data : g_strdup("");
	} else {
		g_free(f.data);
	}
	return ret;
}

#undef HTTPC_SETOPT
