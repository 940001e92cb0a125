/*
 * push.c - the push client: POSTs JSON bodies to the TOTP endpoint with
 * libcurl's multi interface driven by a GLib main context.  This is the
 * only file that includes curl/curl.h; callers see struct push_result.
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
 * One multi handle per client: its connection cache gives keep-alive
 * reuse and HTTP/2 multiplexing over TLS when the server offers it.  TLS
 * is verified (peer and host name); only http and https are allowed; no
 * redirect is followed; "Expect: 100-continue" is suppressed.  A plain
 * http URL connects only to a loopback address, or with http_private
 * (allow_http = private) to an RFC 1918 / fc00::/7 one: checked on the
 * resolved address at connect (push_open_socket), not only on the name.
 *
 * Hostile input: the endpoint's replies (status line, headers, body).
 * Headers are parsed and bounded by libcurl; we keep only the status and
 * at most PUSH_REPLY_MAX bytes of body, cut on a UTF-8 boundary and made
 * valid UTF-8 (NULs and invalid bytes become U+FFFD).  A reply body
 * longer than PUSH_DISCARD_MAX is not read further: the transfer is
 * aborted, and reported with the status line that came before the body
 * (a 2xx is a delivery, the endpoint has stored the code; only a reply
 * without a status line is status 0, retryable).  A body cut off by the
 * timeout or the connection after a 2xx status line is a delivery too.
 *
 * Secrets: the API key lives only in the header list and the body only in
 * the request; both are wiped when freed and never logged (this file logs
 * nothing: the caller decides and logs).
 *
 * Limits: total timeout per request (cfg->timeout, 1..PUSH_TIMEOUT_MAX
 * seconds, 0 = PUSH_TIMEOUT_DEFAULT), connect timeout at most
 * PUSH_CONNECT_TIMEOUT_MAX, PUSH_HOST_CONNECTIONS connections to the
 * endpoint (more requests wait in curl's queue), PUSH_REPLY_MAX bytes of
 * reply kept, PUSH_DISCARD_MAX bytes of reply read at all.
 *
 * push_get() is one blocking GET of a local service (the daemon's own
 * HTTP side, for `otpbridge status`): http only, no proxy, no redirect,
 * a total timeout in milliseconds, the reply bounded by the caller.
 *
 * push_form_post() is apart from all that: one blocking request on its
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

#include "config.h"
#include "push.h"
#include "util.h"

#define PUSH_TIMEOUT_DEFAULT      30
#define PUSH_TIMEOUT_MAX          3600
#define PUSH_CONNECT_TIMEOUT_MAX  10
#define PUSH_HOST_CONNECTIONS     16
#define PUSH_TOTAL_CONNECTIONS    32

struct push_client;

/* One socket curl asked us to watch. */
struct push_sock {
	struct push_client *pc;
	curl_socket_t fd;
	GIOCondition cond;
	GSource *src;
};

/* One request, from push_client_send() to its callback. */
struct push_req {
	struct push_client *pc;
	GList *link;                 /* in pc->reqs */
	CURL *easy;                  /* NULL: setup failed, see error */
	char *body;                  /* our copy, wiped when freed */
	gsize body_len;
	push_done_fn done;
	gpointer data;
	gint64 start_us;
	GByteArray *reply;           /* at most PUSH_REPLY_MAX bytes */
	gsize reply_seen;            /* bytes received, kept or not */
	gboolean overflow;           /* aborted past PUSH_DISCARD_MAX */
	GSource *fail_src;           /* setup failed: reports it later */
	const char *fail_error;
	char errbuf[CURL_ERROR_SIZE];
};

struct push_client {
	CURLM *multi;
	GMainContext *ctx;
	char *url;
	char *ca_file;
	guint timeout;               /* seconds, as push_timeout() gives */
	gboolean http_private;       /* plain http may reach private networks */
	struct curl_slist *headers;  /* holds the key: wiped when freed */
	GSource *timer;
	GHashTable *socks;           /* struct push_sock * set */
	GList *reqs;                 /* struct push_req *, in flight */
	guint nreqs;
	guint busy;                  /* callbacks running (re-entrancy) */
	gboolean dead;               /* freed while busy: free at unwind */
	gboolean closing;            /* teardown: no new timers */
};

static gsize push_global_once;

/* curl_global_init() exactly once per process, from any thread. */
static void
push_global_init(void)
{
	if (g_once_init_enter(&push_global_once)) {
		/* Only fails on allocation failure, which aborts elsewhere too. */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			g_abort();
		g_once_init_leave(&push_global_once, 1);
	}
}

enum push_outcome
push_classify(int status)
{
	if (status >= 200 && status <= 299)
		return PUSH_DONE;
	if (status == 0 || status == 408 || status == 429 ||
	    (status >= 500 && status <= 599))
		return PUSH_RETRY;
	return PUSH_FAIL;
}

/* Wipes and frees a string we own (key or body). */
static void
push_wipe_free(char *s, gsize len)
{
	if (s == NULL)
		return;
	explicit_bzero(s, len);
	g_free(s);
}

/* Wipes and frees the header list (one of its lines holds the key). */
static void
push_headers_free(struct curl_slist **list)
{
	struct curl_slist *l;

	for (l = *list; l != NULL; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(*list);
	*list = NULL;
}

/* Appends a line to the header list; allocation failure aborts. */
static struct curl_slist *
push_headers_add(struct curl_slist *list, const char *line)
{
	struct curl_slist *l = curl_slist_append(list, line);

	if (l == NULL)
		g_abort();
	return l;
}

/* Frees a finished or aborted request (no callback). */
static void
push_req_free(struct push_req *req)
{
	if (req->easy != NULL)
		curl_easy_cleanup(req->easy);
	if (req->fail_src != NULL) {
		g_source_destroy(req->fail_src);
		g_source_unref(req->fail_src);
	}
	push_wipe_free(req->body, req->body_len);
	if (req->reply != NULL) {
		explicit_bzero(req->reply->data, req->reply->len);
		g_byte_array_unref(req->reply);
	}
	g_free(req);
}

/*
 * Turns the kept reply bytes into a NUL-terminated, valid UTF-8 string of
 * at most PUSH_REPLY_MAX bytes.  A sequence cut by the size limit is
 * dropped; other invalid bytes and NULs become U+FFFD.
 */
static char *
push_reply_text(const GByteArray *buf, gboolean truncated)
{
	const char *p = (const char *)buf->data;
	gsize len = buf->len;
	char *s;
	gsize n;

	if (truncated && len > 0) {
		/* Drop a trailing lead byte plus its continuation bytes. */
		gsize i = len, k = 0;

		while (i > 0 && k < 4 && ((guchar)p[i - 1] & 0xc0) == 0x80) {
			i--;
			k++;
		}
		if (i > 0 && (guchar)p[i - 1] >= 0xc0) {
			guchar c = (guchar)p[i - 1];
			gsize need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

			if (k + 1 < need)
				len = i - 1;
		}
	}
	s = g_utf8_make_valid(p, (gssize)len);
	n = strlen(s);
	if (n > PUSH_REPLY_MAX) {
		/* Replacement characters grew it: cut on a character start. */
		n = PUSH_REPLY_MAX;
		while (n > 0 && ((guchar)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = '\0';
	}
	return s;
}

/* The status line received so far (0: none, or not a status). */
static long
push_req_status(struct push_req *req)
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
push_req_report(struct push_req *req, CURLcode code)
{
	struct push_result r;
	long status = 0;
	char *reply;
	gboolean truncated = req->reply_seen > req->reply->len;

	memset(&r, 0, sizeof(r));
	if (req->easy == NULL) {
		r.error = req->fail_error;
	} else if (code != CURLE_OK && push_req_status(req) / 100 == 2) {
		/*
		 * The status line said the endpoint stored it; only the body
		 * was cut (our bound, the timeout, the connection).  Pushing
		 * again would only duplicate the code.
		 */
		status = push_req_status(req);
	} else if (code != CURLE_OK && req->overflow && push_req_status(req) > 0) {
		/* A bounded body under a status line: that status decides. */
		status = push_req_status(req);
	} else if (code != CURLE_OK) {
		/* A transfer that failed midway counts as no reply. */
		if (req->overflow)
			r.error = "reply too large";
		else if (req->errbuf[0] != '\0')
			r.error = req->errbuf;
		else
			r.error = curl_easy_strerror(code);
	} else {
		curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status < 0 || status > 999)
			status = 0;
		if (status == 0)
			r.error = "no HTTP status";
	}
	r.status = (int)status;
	reply = push_reply_text(req->reply, truncated);
	r.reply = reply;
	r.elapsed_us = g_get_monotonic_time() - req->start_us;
	req->done(&r, req->data);
	explicit_bzero(reply, strlen(reply));
	g_free(reply);
	push_req_free(req);
}

/* Takes req off the client's list (and out of curl) before reporting. */
static void
push_req_detach(struct push_client *pc, struct push_req *req)
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
push_check_done(struct push_client *pc)
{
	CURLMsg *m;
	int left;

	pc->busy++;
	while (!pc->dead && (m = curl_multi_info_read(pc->multi, &left)) != NULL) {
		struct push_req *req;
		char *priv = NULL;
		CURLcode code;

		if (m->msg != CURLMSG_DONE)
			continue;
		code = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		req = (struct push_req *)priv;
		push_req_detach(pc, req);
		push_req_report(req, code);
	}
	pc->busy--;
	if (pc->dead && pc->busy == 0)
		g_free(pc);
}

/* A watched socket is ready: tell curl, then report what finished. */
static gboolean
push_sock_ready(gint fd, GIOCondition cond, gpointer data)
{
	struct push_sock *ps = data;
	struct push_client *pc = ps->pc;
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
	push_check_done(pc);
	return G_SOURCE_CONTINUE;
}

/* curl's timeout expired: tell curl, then report what finished. */
static gboolean
push_timer_fired(gpointer data)
{
	struct push_client *pc = data;
	int running;

	/* This source is pc->timer; curl may set a new one below. */
	g_source_unref(pc->timer);
	pc->timer = NULL;
	curl_multi_socket_action(pc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	push_check_done(pc);
	return G_SOURCE_REMOVE;
}

/* Stops watching a socket and frees its record. */
static void
push_sock_free(struct push_sock *ps)
{
	if (ps->src != NULL) {
		g_source_destroy(ps->src);
		g_source_unref(ps->src);
	}
	g_free(ps);
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what curl wants, or stop. */
static int
push_socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
    void *socketp)
{
	struct push_client *pc = userp;
	struct push_sock *ps = socketp;
	GIOCondition cond = 0;

	if (what == CURL_POLL_REMOVE) {
		if (ps != NULL) {
			g_hash_table_remove(pc->socks, ps);
			push_sock_free(ps);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		cond |= G_IO_IN | G_IO_HUP | G_IO_ERR;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		cond |= G_IO_OUT | G_IO_ERR;
	if (ps == NULL) {
		ps = g_new0(struct push_sock, 1);
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
	g_source_set_callback(ps->src, G_SOURCE_FUNC(push_sock_ready), ps, NULL);
	g_source_attach(ps->src, pc->ctx);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: (re)arm the one timer; -1 removes it. */
static int
push_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct push_client *pc = userp;

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
	g_source_set_callback(pc->timer, push_timer_fired, pc, NULL);
	g_source_attach(pc->timer, pc->ctx);
	return 0;
}

/* CURLOPT_WRITEFUNCTION: keep PUSH_REPLY_MAX bytes, discard the rest. */
static size_t
push_write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct push_req *req = userp;
	gsize n = size * nmemb;
	gsize room = PUSH_REPLY_MAX - req->reply->len;

	if (n > PUSH_DISCARD_MAX - req->reply_seen) {
		req->overflow = TRUE;
		return 0;
	}
	req->reply_seen += n;
	if (room > 0)
		g_byte_array_append(req->reply, (const guint8 *)ptr, MIN(n, room));
	return n;
}

#define PUSH_SETOPT(e, opt, val) do {					\
		CURLcode rc_ = curl_easy_setopt((e), (opt), (val));	\
		if (rc_ != CURLE_OK)					\
			return rc_;					\
	} while (0)

/* A configured timeout in seconds: 0 means PUSH_TIMEOUT_DEFAULT. */
static guint
push_timeout(guint timeout_s)
{
	return timeout_s == 0 ? PUSH_TIMEOUT_DEFAULT : MIN(timeout_s, PUSH_TIMEOUT_MAX);
}

/*
 * The policy every request shares, push or form: no signals (we may be
 * on a thread; XXX with libcurl's synchronous resolver this leaves name
 * lookups without a timeout -- the distributions build the threaded
 * one), http and https only, no redirect, TLS verified (peer and host
 * name, against ca_file or the system store), a whole and a connect
 * timeout, one POST of body with our User-Agent and headers.
 */
/* The scopes a plain-http request may connect to (clientp of
 * push_open_socket): loopback only, or private networks too. */
static const gboolean push_scope_loopback = FALSE;
static const gboolean push_scope_private = TRUE;

/*
 * CURLOPT_OPENSOCKETFUNCTION for plain http: the configuration checked
 * the host *name*; this checks the *address* it resolved to, so a
 * single-label name that the resolver's search list turns into a public
 * host, or a name that resolves to a public address, never receives the
 * API key in clear.  The connection fails like an unreachable host.
 */
static curl_socket_t
push_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	const gboolean *private_ok = clientp;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    !util_sockaddr_in_scope(&a->addr, *private_ok))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype, a->protocol);
}

static CURLcode
push_easy_policy(CURL *e, const char *url, const char *ca_file, guint timeout_s,
    gboolean http_private, struct curl_slist *headers, const char *body,
    gsize body_len, char *errbuf)
{
	guint t = push_timeout(timeout_s);

	if (g_ascii_strncasecmp(url, "http://", 7) == 0) {
		PUSH_SETOPT(e, CURLOPT_OPENSOCKETFUNCTION, push_open_socket);
		PUSH_SETOPT(e, CURLOPT_OPENSOCKETDATA, (void *)(http_private ?
		    &push_scope_private : &push_scope_loopback));
	}

	PUSH_SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	PUSH_SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	PUSH_SETOPT(e, CURLOPT_URL, url);
	PUSH_SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
	PUSH_SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	PUSH_SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
	PUSH_SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file != NULL)
		PUSH_SETOPT(e, CURLOPT_CAINFO, ca_file);
	PUSH_SETOPT(e, CURLOPT_TIMEOUT, (long)t);
	PUSH_SETOPT(e, CURLOPT_CONNECTTIMEOUT, (long)MIN(t, PUSH_CONNECT_TIMEOUT_MAX));
	PUSH_SETOPT(e, CURLOPT_HTTPHEADER, headers);
	PUSH_SETOPT(e, CURLOPT_USERAGENT, "otpbridge/" PACKAGE_VERSION);
	PUSH_SETOPT(e, CURLOPT_POST, 1L);
	PUSH_SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	PUSH_SETOPT(e, CURLOPT_POSTFIELDS, body);
	return CURLE_OK;
}

/* Sets every option of one request; an error names the first that failed. */
static CURLcode
push_easy_setup(struct push_client *pc, struct push_req *req)
{
	CURL *e = req->easy;
	CURLcode rc;

	PUSH_SETOPT(e, CURLOPT_PRIVATE, req);
	rc = push_easy_policy(e, pc->url, pc->ca_file, pc->timeout, pc->http_private,
	    pc->headers, req->body, req->body_len, req->errbuf);
	if (rc != CURLE_OK)
		return rc;
	PUSH_SETOPT(e, CURLOPT_WRITEFUNCTION, push_write_cb);
	PUSH_SETOPT(e, CURLOPT_WRITEDATA, req);
	/*
	 * Over TLS, wait for ALPN on a connection being set up rather than
	 * open more: it may turn out to multiplex (HTTP/2).  Plain http never
	 * multiplexes here, so waiting would only serialise the first batch.
	 */
	if (g_ascii_strncasecmp(pc->url, "https:", 6) == 0)
		PUSH_SETOPT(e, CURLOPT_PIPEWAIT, 1L);
	/* Best effort: a libcurl without HTTP/2 still speaks HTTP/1.1. */
	(void)curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS);
	return CURLE_OK;
}

/* Setup failed: the callback still runs, later, from the loop. */
static gboolean
push_req_failed(gpointer data)
{
	struct push_req *req = data;
	struct push_client *pc = req->pc;

	g_source_unref(req->fail_src);
	req->fail_src = NULL;
	push_req_detach(pc, req);
	pc->busy++;
	push_req_report(req, CURLE_FAILED_INIT);
	pc->busy--;
	if (pc->dead && pc->busy == 0)
		g_free(pc);
	return G_SOURCE_REMOVE;
}

void
push_client_send(struct push_client *pc, const char *body,
    push_done_fn done, gpointer data)
{
	struct push_req *req;
	CURLcode rc;

	g_return_if_fail(pc != NULL && !pc->dead && body != NULL && done != NULL);
	req = g_new0(struct push_req, 1);
	req->pc = pc;
	req->body_len = strlen(body);
	req->body = g_memdup2(body, req->body_len + 1);
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
	rc = push_easy_setup(pc, req);
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
	g_source_set_callback(req->fail_src, push_req_failed, req, NULL);
	g_source_attach(req->fail_src, pc->ctx);
}

guint
push_client_active(const struct push_client *pc)
{
	return pc->nreqs;
}

/*
 * Builds the "x-api-key: KEY" line.  The key is cut at the first control
 * character so that it can never add a header line of its own.
 */
static char *
push_key_line(const char *key)
{
	gsize n = 0;
	char *line;

	while (key[n] != '\0' && (guchar)key[n] >= 0x20 && key[n] != 0x7f)
		n++;
	line = g_malloc(sizeof("x-api-key: ") + n);
	memcpy(line, "x-api-key: ", sizeof("x-api-key: ") - 1);
	memcpy(line + sizeof("x-api-key: ") - 1, key, n);
	line[sizeof("x-api-key: ") - 1 + n] = '\0';
	return line;
}

struct push_client *
push_client_new(const struct push_config *cfg, GMainContext *ctx)
{
	struct push_client *pc;
	char *line;

	g_return_val_if_fail(cfg != NULL && cfg->url != NULL, NULL);
	push_global_init();
	pc = g_new0(struct push_client, 1);
	pc->multi = curl_multi_init();
	if (pc->multi == NULL)
		g_abort();   /* only fails on allocation failure */
	pc->ctx = g_main_context_ref(ctx != NULL ? ctx : g_main_context_default());
	pc->url = g_strdup(cfg->url);
	pc->ca_file = g_strdup(cfg->ca_file);
	pc->timeout = push_timeout(cfg->timeout);
	pc->http_private = cfg->http_private;
	pc->socks = g_hash_table_new(g_direct_hash, g_direct_equal);

	line = push_key_line(cfg->api_key != NULL ? cfg->api_key : "");
	pc->headers = push_headers_add(NULL, line);
	push_wipe_free(line, strlen(line));
	pc->headers = push_headers_add(pc->headers, "Content-Type: application/json");
	pc->headers = push_headers_add(pc->headers, "Accept: application/json");
	pc->headers = push_headers_add(pc->headers, "Expect:");

	curl_multi_setopt(pc->multi, CURLMOPT_SOCKETFUNCTION, push_socket_cb);
	curl_multi_setopt(pc->multi, CURLMOPT_SOCKETDATA, pc);
	curl_multi_setopt(pc->multi, CURLMOPT_TIMERFUNCTION, push_timer_cb);
	curl_multi_setopt(pc->multi, CURLMOPT_TIMERDATA, pc);
	curl_multi_setopt(pc->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(pc->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    (long)PUSH_HOST_CONNECTIONS);
	curl_multi_setopt(pc->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)PUSH_TOTAL_CONNECTIONS);
	curl_multi_setopt(pc->multi, CURLMOPT_MAXCONNECTS,
	    (long)PUSH_TOTAL_CONNECTIONS);
	return pc;
}

/*
 * Aborts every request without its callback, closes the connections and
 * removes every GSource.  The struct itself is freed by the caller.
 */
static void
push_client_destroy(struct push_client *pc)
{
	GHashTableIter it;
	gpointer key;

	pc->closing = TRUE;
	while (pc->reqs != NULL) {
		struct push_req *req = pc->reqs->data;

		push_req_detach(pc, req);
		push_req_free(req);
	}
	/* May call push_socket_cb(REMOVE) and push_timer_cb(-1). */
	curl_multi_cleanup(pc->multi);
	pc->multi = NULL;
	g_hash_table_iter_init(&it, pc->socks);
	while (g_hash_table_iter_next(&it, &key, NULL)) {
		g_hash_table_iter_remove(&it);
		push_sock_free(key);
	}
	g_hash_table_unref(pc->socks);
	pc->socks = NULL;
	if (pc->timer != NULL) {
		g_source_destroy(pc->timer);
		g_source_unref(pc->timer);
		pc->timer = NULL;
	}
	push_headers_free(&pc->headers);
	g_free(pc->url);
	g_free(pc->ca_file);
	g_main_context_unref(pc->ctx);
	pc->ctx = NULL;
	pc->dead = TRUE;
}

void
push_client_free(struct push_client **pcp)
{
	struct push_client *pc = *pcp;

	if (pc == NULL)
		return;
	*pcp = NULL;
	g_return_if_fail(!pc->dead);
	push_client_destroy(pc);
	/* Freed from inside a callback: push_check_done() frees it. */
	if (pc->busy == 0)
		g_free(pc);
}

/* ---- the blocking form POST -------------------------------------------- */

/* The reply of one blocking request, grown by copying (old copy wiped). */
struct push_form {
	char *data;                  /* NUL-terminated, or NULL */
	gsize len;
	gsize cap;                   /* bytes allocated, the NUL included */
	gsize max;                   /* < G_MAXSIZE */
	gboolean overflow;           /* aborted: more than max bytes */
};

/* RFC 3986 unreserved: the bytes sent as they are. */
static gboolean
push_form_unreserved(guchar c)
{
	return g_ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Bytes s takes once percent-encoded. */
static gsize
push_form_escaped_len(const char *s)
{
	gsize n = 0;

	for (; *s != '\0'; s++)
		n += push_form_unreserved((guchar)*s) ? 1 : 3;
	return n;
}

/* Writes s percent-encoded at out; returns the end. */
static char *
push_form_escape(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		guchar c = (guchar)*s;

		if (push_form_unreserved(c)) {
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
push_form_body(const char *const *fields, gsize *len_r)
{
	gsize len = 0, i;
	char *body, *p;

	for (i = 0; fields[i] != NULL; i += 2) {
		if (fields[i + 1] == NULL)
			return NULL;
		len += (i > 0 ? 1 : 0) + push_form_escaped_len(fields[i]) + 1 +
		    push_form_escaped_len(fields[i + 1]);
	}
	p = body = g_malloc(len + 1);
	for (i = 0; fields[i] != NULL; i += 2) {
		if (i > 0)
			*p++ = '&';
		p = push_form_escape(p, fields[i]);
		*p++ = '=';
		p = push_form_escape(p, fields[i + 1]);
	}
	*p = '\0';
	*len_r = len;
	return body;
}

/* CURLOPT_WRITEFUNCTION: keep everything up to f->max, abort beyond. */
static size_t
push_form_write_cb(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct push_form *f = userp;
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
		push_wipe_free(f->data, f->cap);
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
push_form_setup(CURL *e, const char *url, struct curl_slist *headers,
    const char *body, gsize body_len, guint timeout_s, struct push_form *f,
    char *errbuf)
{
	CURLcode rc = push_easy_policy(e, url, NULL, timeout_s, FALSE, headers, body,
	    body_len, errbuf);

	if (rc != CURLE_OK)
		return rc;
	/* A Content-Length over the bound is refused before the body. */
	PUSH_SETOPT(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)MIN(f->max, (gsize)G_MAXINT64));
	PUSH_SETOPT(e, CURLOPT_WRITEFUNCTION, push_form_write_cb);
	PUSH_SETOPT(e, CURLOPT_WRITEDATA, f);
	return CURLE_OK;
}

/*
 * Runs a blocking request whose setup returned rc (push_form_post,
 * push_get): 0 with *code once an HTTP status came; else -1 with *err
 * (the reply past f's bound, or curl's words).
 */
static int
push_blocking_perform(CURL *e, CURLcode rc, const struct push_form *f,
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
push_form_post(const char *url, const char *const *fields, guint timeout_s,
    gsize reply_max, int *status, char **reply, gsize *reply_len, char **err)
{
	struct curl_slist *headers = NULL;
	struct push_form f;
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
	body = push_form_body(fields, &body_len);
	if (body == NULL) {
		*err = g_strdup("form fields must come in name, value pairs");
		return -1;
	}
	push_global_init();
	memset(&f, 0, sizeof(f));
	f.max = MIN(reply_max, G_MAXSIZE - 1);
	errbuf[0] = '\0';
	headers = push_headers_add(NULL,
	    "Content-Type: application/x-www-form-urlencoded");
	headers = push_headers_add(headers, "Accept: application/json");
	headers = push_headers_add(headers, "Expect:");
	e = curl_easy_init();
	if (e == NULL)
		g_abort();   /* only fails on allocation failure */
	rc = push_form_setup(e, url, headers, body, body_len, timeout_s, &f, errbuf);
	ret = push_blocking_perform(e, rc, &f, errbuf, &code, err);
	/* XXX curl's own receive buffer is freed here without a wipe. */
	curl_easy_cleanup(e);
	push_headers_free(&headers);
	push_wipe_free(body, body_len + 1);
	if (ret == 0) {
		*status = (int)code;
		*reply = f.data != NULL ? f.data : g_strdup("");
		*reply_len = f.len;
	} else {
		push_wipe_free(f.data, f.cap);
	}
	return ret;
}

/* Sets every option of one blocking local GET. */
static CURLcode
push_get_setup(CURL *e, const char *url, const char *unix_path, guint timeout_ms,
    struct push_form *f, char *errbuf)
{
	long t = (long)MAX(timeout_ms, 1);

	PUSH_SETOPT(e, CURLOPT_ERRORBUFFER, errbuf);
	PUSH_SETOPT(e, CURLOPT_NOSIGNAL, 1L);
	PUSH_SETOPT(e, CURLOPT_URL, url);
	PUSH_SETOPT(e, CURLOPT_PROTOCOLS_STR, "http");
	PUSH_SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* "": no proxy, not even one named by http_proxy in the environment */
	PUSH_SETOPT(e, CURLOPT_PROXY, "");
	if (unix_path != NULL)
		PUSH_SETOPT(e, CURLOPT_UNIX_SOCKET_PATH, unix_path);
	PUSH_SETOPT(e, CURLOPT_TIMEOUT_MS, t);
	PUSH_SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, t);
	PUSH_SETOPT(e, CURLOPT_USERAGENT, "otpbridge/" PACKAGE_VERSION);
	PUSH_SETOPT(e, CURLOPT_HTTPGET, 1L);
	PUSH_SETOPT(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)MIN(f->max, (gsize)G_MAXINT64));
	PUSH_SETOPT(e, CURLOPT_WRITEFUNCTION, push_form_write_cb);
	PUSH_SETOPT(e, CURLOPT_WRITEDATA, f);
	return CURLE_OK;
}

int
push_get(const char *url, const char *unix_path, guint timeout_ms,
    gsize reply_max, int *status, char **reply, char **err)
{
	struct push_form f;
	char errbuf[CURL_ERROR_SIZE];
	CURL *e;
	CURLcode rc;
	long code = 0;
	int ret = -1;

	*status = 0;
	*reply = NULL;
	*err = NULL;
	push_global_init();
	memset(&f, 0, sizeof(f));
	f.max = MIN(reply_max, G_MAXSIZE - 1);
	errbuf[0] = '\0';
	e = curl_easy_init();
	if (e == NULL)
		g_abort();   /* only fails on allocation failure */
	rc = push_get_setup(e, url, unix_path, timeout_ms, &f, errbuf);
	ret = push_blocking_perform(e, rc, &f, errbuf, &code, err);
	curl_easy_cleanup(e);
	if (ret == 0) {
		*status = (int)code;
		*reply = f.data != NULL ? f.data : g_strdup("");
	} else {
		g_free(f.data);
	}
	return ret;
}

#undef PUSH_SETOPT

struct push_client *
push_client_for(const struct config *cfg, GMainContext *ctx)
{
	struct push_config pcfg;

	if (cfg->push.api_key == NULL || *cfg->push.url == '\0')
		return NULL;
	pcfg.url = cfg->push.url;
	pcfg.api_key = cfg->push.api_key;
	pcfg.timeout = cfg->push.timeout;
	pcfg.ca_file = cfg->push.ca_file;
	pcfg.http_private = cfg->push.http_private;
	return push_client_new(&pcfg, ctx);
}
