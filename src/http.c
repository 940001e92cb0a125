/*
 * http.c - the HTTP side (SPEC 1.2, 7): Skyvern's pull endpoint
 * (POST /totp?identifier=ADDR or POST /totp/ADDR), GET /metrics,
 * GET /healthz and GET /status (for `otpbridge status`), served by
 * libmicrohttpd; the only file that includes it.
 *
 * MHD runs without a thread of its own: each daemon is started with
 * MHD_USE_EPOLL, its epoll fd is watched on the default GLib main context
 * and MHD_run() is called when it is readable or when the timeout from
 * MHD_get_timeout() expires, so every handler runs on the main thread
 * (the store handle and the metrics are main-thread only).
 *
 * Hostile input: the request line, headers and body come from the
 * network (behind a reverse proxy in production).  The signature is
 * checked over the raw body bytes in constant time before the body is
 * parsed.  The identifier comes from the request target as sent (MHD's
 * URI callback), decoded here: '+' is a plus, not a blank, in the path
 * and in the query alike; %00, a bad escape, a control byte or a second
 * identifier= is a 400, never a cut identifier.  GET /status answers
 * only a client on this host (unix socket, loopback, or the listener's
 * own address) whose request carries no Forwarded/X-Forwarded-For/
 * X-Real-IP header (a reverse proxy on this host relaying someone else):
 * 403 otherwise.  Every logged string is reduced to printable ASCII.  A code or the key is never logged.
 *
 * SECURITY (the pull side; the man page's THREAT MODEL): Skyvern signs
 * the body only, so whoever holds one signed body can send it with any
 * URL and any x-skyvern-timestamp.  A signed body is therefore bound to
 * the identifier it first asked for (kept in the store) and answers only
 * for that one, for HTTP_BODY_LIFE seconds; a code tagged with another
 * run is never handed out, and with bind_code_to_task a code goes to one
 * task.  The pull path needs no write to answer: bindings and handouts
 * the store cannot take (a full disk) are kept in memory.  /healthz
 * never names the store path and probes the store at most once per
 * HTTP_PROBE_CACHE_US.
 *
 * Framing is strict (request smuggling through a proxy in front): a
 * request with both Content-Length and Transfer-Encoding, with two
 * Content-Length headers (equal or not), with more than one
 * Transfer-Encoding, or with Transfer-Encoding in HTTP/1.0 gets 400; a
 * transfer coding other than "chunked" gets 501.  Each is answered with
 * Connection: close before any body byte is read, and nothing after it
 * on that connection is read or answered.
 *
 * Limits: [http] max_connections per listener, max_connections_per_client
 * per client IP address (MHD counts them; unix-socket clients are not
 * counted), request_timeout seconds for a whole request (head and body)
 * counted from the connection's start or the previous response (our own
 * deadline: MHD's idle timeout is reset by every byte, so a client
 * trickling a header a byte at a time would hold its slot forever; at the
 * deadline the socket is shut down and MHD closes it), timeout seconds of
 * silence per connection, HTTP_MEMORY_LIMIT bytes of MHD memory per
 * connection (request line and headers), max_body bytes of body: a
 * larger Content-Length gets 413 before the body is read; a chunked body
 * that grows past it is cut by closing the connection.  When accept()
 * runs out of descriptors MHD pauses accepting by itself while it has
 * connections; with none it would retry at once, for ever, so the
 * listener's watch is paused for UTIL_ACCEPT_PAUSE_MS instead (util.h).
 * HTTP_UNSAVED_MAX pull records held in memory while the store cannot
 * take them (beyond it a new body gets 503, a new handout "").
 * A SIGHUP swaps the signing key, the timestamp window, bind_code_to_task
 * and max_body for the next request (http_reconfigure); MHD's connection
 * limits and timeouts are fixed when it starts.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <microhttpd.h>

#include "http.h"
#include "json.h"
#include "metrics.h"
#include "util.h"

#define HTTP_MEMORY_LIMIT (64 * 1024)  /* MHD pool per connection */
#define HTTP_BACKLOG 64                /* unix listeners */
#define HTTP_LOG_MAX 128               /* bytes of one logged field */
#define HTTP_SIGNATURE_HEX 64          /* HMAC-SHA256 in hex */
#define HTTP_JSON "application/json"
#define HTTP_TEXT "text/plain; charset=utf-8"
#define HTTP_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define HTTP_PROBE_CACHE_US (5 * G_USEC_PER_SEC) /* /healthz reuses a probe */
#define HTTP_BODY_LIFE 3600            /* seconds a signed pull body answers */
#define HTTP_UNSAVED_MAX 1024          /* pull records kept in memory */
#define HTTP_QUARTER 900               /* UTC offsets are quarter-hours... */
#define HTTP_QUARTERS_MIN 4            /* ...of at least 1 h */
#define HTTP_QUARTERS_MAX 56           /* ...within +-14 h */

/* One MHD daemon: one [http] listen address. */
struct http_server {
	struct http *h;
	struct MHD_Daemon *mhd;
	char *label;          /* "inet:host:port" or "unix:/path" for logs */
	char *unix_path;      /* unlinked at free, or NULL */
	guint io_src;         /* the epoll fd watch */
	guint timer_src;      /* MHD_get_timeout(), or 0 */
	guint pause_src;      /* accept paused (out of fds), or 0 */
};

/* Per connection, MHD's socket context: the deadline of the request being
 * received ([http] request_timeout). */
struct http_conn {
	struct http_server *s;
	struct MHD_Connection *c;
	guint deadline_src;   /* armed while a request is awaited, or 0 */
};

/* A pull body's binding that the store could not take yet. */
struct http_binding {
	char *identifier;
	gint64 first_seen;
};

struct http {
	struct http_env env;  /* a copy: st and cfg must outlive the struct http */
	GPtrArray *servers;   /* struct http_server * */
	char *mhd_error;      /* MHD's last log line, for http_new()'s error */
	gint64 probe_at;      /* /healthz: monotonic time of the last probe, 0: none */
	gboolean probe_ok;    /* its result */
	/* Pull records whose write failed (a full disk): kept here, so the
	 * rules hold while the process lives, and written at a later pull. */
	GHashTable *unsaved_bodies;   /* digest -> struct http_binding * */
	GHashTable *unsaved_handouts; /* gint64 * job id -> consumer */
	gint64 skew_logged;   /* the last clock offset (quarter-hours) logged */
	/* What MHD_run() said of running out of descriptors at accept(). */
	enum { HTTP_FDS_OK, HTTP_FDS_PAUSED_BY_MHD, HTTP_FDS_SPINNING } mhd_fds;
};

enum http_route { HTTP_ROUTE_NONE, HTTP_ROUTE_PULL, HTTP_ROUTE_METRICS,
	HTTP_ROUTE_HEALTHZ, HTTP_ROUTE_STATUS };

/* Per request; freed by the completion callback. */
struct http_req {
	char *raw_uri;        /* the request target as sent, before decoding */
	gboolean begun;       /* http_begin() ran */
	enum http_route route;
	GString *body;        /* HTTP_ROUTE_PULL: at most max_body bytes */
	gboolean answered;    /* a response was queued */
};

/* s reduced to printable ASCII without blanks, quotes or '=', cut at
 * HTTP_LOG_MAX: safe inside a key=value log line.  "-" for NULL/empty. */
static char *
http_safe(const char *s)
{
	GString *out;

	if (s == NULL || *s == '\0')
		return g_strdup("-");
	out = g_string_sized_new(32);
	for (const char *p = s; *p != '\0' && out->len < HTTP_LOG_MAX; p++) {
		unsigned char c = (unsigned char)*p;
		g_string_append_c(out, (c > 0x20 && c < 0x7f && c != '"' && c != '=') ?
		    (char)c : '?');
	}
	return g_string_free(out, FALSE);
}

gboolean
http_signature_ok(const char *key, const char *body, gsize len,
    const char *signature)
{
	g_autoptr(GHmac) mac = NULL;
	const char *want;
	guint diff = 0;

	if (key == NULL || *key == '\0' || signature == NULL ||
	    strlen(signature) != HTTP_SIGNATURE_HEX || (body == NULL && len > 0))
		return FALSE;
	mac = g_hmac_new(G_CHECKSUM_SHA256, (const guchar *)key, strlen(key));
	if (len > 0)
		g_hmac_update(mac, (const guchar *)body, (gssize)len);
	want = g_hmac_get_string(mac);   /* lowercase hex, owned by mac */
	/* Uppercase hex is accepted (folded): it names the same MAC.  Any
	 * other byte fails.  No early exit: the time does not depend on
	 * where the first difference is. */
	for (guint i = 0; i < HTTP_SIGNATURE_HEX; i++) {
		unsigned char c = (unsigned char)signature[i];

		if (!g_ascii_isxdigit(c))
			diff |= 1;
		diff |= (guint)(g_ascii_tolower(c) ^ (unsigned char)want[i]);
	}
	return diff == 0;
}

/* Queues a response; MHD_YES when MHD took it. */
static enum MHD_Result
http_reply(struct MHD_Connection *c, struct http_req *r, unsigned int status,
    const char *type, const char *body, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES && r != NULL)
		r->answered = TRUE;
	return ret;
}

static enum MHD_Result
http_reply_error(struct MHD_Connection *c, struct http_req *r, unsigned int status,
    const char *message, const char *allow)
{
	g_autofree char *body = json_error_body(message);

	return http_reply(c, r, status, HTTP_JSON, body, allow);
}

/* GET /metrics. */
static enum MHD_Result
http_metrics(struct http *h, struct MHD_Connection *c, struct http_req *r)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) out = NULL;
	guint64 counts[JOB_STATES] = { 0 };

	if (store_count(h->env.st, counts, &err) < 0) {
		g_autofree char *msg = g_strdup_printf("store: %s\n", err->message);

		g_warning("src=http path=/metrics result=error reason=\"%s\"", err->message);
		return http_reply(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, HTTP_TEXT, msg, NULL);
	}
	out = g_string_sized_new(4096);
	metrics_render(out, counts, g_get_real_time() / G_USEC_PER_SEC);
	return http_reply(c, r, MHD_HTTP_OK, HTTP_METRICS_TYPE, out->str, NULL);
}

/*
 * GET /healthz: "ok" or the reasons, one per line.  The store probe (a
 * write and an fsync) runs at most once per HTTP_PROBE_CACHE_US however
 * often this unauthenticated path is asked; its answer never names the
 * store's path (the log does, once per change).
 */
static enum MHD_Result
http_healthz(struct http *h, struct MHD_Connection *c, struct http_req *r)
{
	g_autoptr(GString) why = g_string_new(NULL);
	gint64 mono = g_get_monotonic_time();

	if (h->probe_at == 0 || mono - h->probe_at >= HTTP_PROBE_CACHE_US) {
		g_autoptr(GError) err = NULL;
		gboolean ok = store_probe(h->env.st, &err) == 0;

		if (!ok && (h->probe_ok || h->probe_at == 0))
			g_warning("src=http path=/healthz store=unwritable reason=\"%s\"",
			    err->message);
		else if (ok && !h->probe_ok && h->probe_at != 0)
			g_message("src=http path=/healthz store=writable");
		h->probe_ok = ok;
		h->probe_at = mono;
	}
	if (!h->probe_ok)
		g_string_append(why, "store: not writable (full disk or locked; see the log)\n");
	if (h->env.health != NULL) {
		g_autofree char *extra = h->env.health(h->env.health_data);

		if (extra != NULL && *extra != '\0') {
			g_string_append(why, extra);
			if (why->str[why->len - 1] != '\n')
				g_string_append_c(why, '\n');
		}
	}
	if (why->len == 0)
		return http_reply(c, r, MHD_HTTP_OK, HTTP_TEXT, "ok\n", NULL);
	return http_reply(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, HTTP_TEXT, why->str, NULL);
}

/* TRUE when the address is loopback (127/8, ::1, ::ffff:127/104). */
static gboolean
http_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		    (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return FALSE;
}

/*
 * TRUE when the client of c is on this host: a unix-socket peer, a
 * loopback address, or the connection's own local address (a client on
 * this host that connected to a non-loopback listener), and no proxy
 * header says it relays someone else (a reverse proxy on this host).
 */
static gboolean
http_local_client(struct MHD_Connection *c)
{
	static const char *const relayed[] = { "Forwarded", "X-Forwarded-For",
		"X-Real-IP", NULL };
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const union MHD_ConnectionInfo *fi =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	const struct sockaddr *peer = ci != NULL ? ci->client_addr : NULL;
	struct sockaddr_storage local;
	socklen_t len = sizeof local;

	for (guint i = 0; relayed[i] != NULL; i++)
		if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, relayed[i]) != NULL)
			return FALSE;
	if (fi != NULL && getsockname(fi->connect_fd, (struct sockaddr *)&local, &len) == 0 &&
	    local.ss_family == AF_UNIX)
		return TRUE;
	if (peer == NULL)
		return FALSE;
	if (peer->sa_family == AF_UNIX || http_loopback(peer))
		return TRUE;
	if (fi == NULL || len > sizeof local)
		return FALSE;
	if (peer->sa_family == AF_INET && local.ss_family == AF_INET)
		return ((const struct sockaddr_in *)peer)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)&local)->sin_addr.s_addr;
	if (peer->sa_family == AF_INET6 && local.ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)peer)->sin6_addr,
		    &((const struct sockaddr_in6 *)&local)->sin6_addr,
		    sizeof(struct in6_addr)) == 0;
	return FALSE;
}

/* GET /status: the daemon's live state, for `otpbridge status` on this
 * host only (it names accounts, paths and IMAP errors; never a code or a
 * secret). */
static enum MHD_Result
http_status(struct http *h, struct MHD_Connection *c, struct http_req *r)
{
	g_autofree char *body = NULL;

	if (h->env.status == NULL)
		return http_reply(c, r, MHD_HTTP_NOT_FOUND, HTTP_TEXT, "not found\n", NULL);
	if (!http_local_client(c)) {
		g_message("src=http path=/status result=refused (not a local client)");
		return http_reply_error(c, r, MHD_HTTP_FORBIDDEN,
		    "/status is served to clients on this host only", NULL);
	}
	body = h->env.status(h->env.status_data);
	return http_reply(c, r, MHD_HTTP_OK, HTTP_JSON, body, NULL);
}

/*
 * Percent-decodes len bytes of s.  '+' stays '+': an address holds no
 * blank, so a literal '+' is the plus of a sub-address (form encoding's
 * '+' for a blank does not apply; a blank is %20).  NULL for a bad
 * escape, a NUL (%00) or any other control byte, or invalid UTF-8.
 */
static char *
http_unescape(const char *s, gsize len)
{
	g_autoptr(GString) out = g_string_sized_new(len + 1);

	for (gsize i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= len)
				return NULL;
			if (!g_ascii_isxdigit(s[i + 1]) || !g_ascii_isxdigit(s[i + 2]))
				return NULL;
			c = (unsigned char)(g_ascii_xdigit_value(s[i + 1]) * 16 +
			    g_ascii_xdigit_value(s[i + 2]));
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return NULL;
		g_string_append_c(out, (char)c);
	}
	if (!g_utf8_validate(out->str, (gssize)out->len, NULL))
		return NULL;
	return g_string_free(g_steal_pointer(&out), FALSE);
}

/*
 * The identifier named by the request target as sent (raw: path form
 * /totp/ADDR first, then the one query argument identifier=), decoded by
 * http_unescape() and normalised; NULL when none or unusable: a %00
 * anywhere in the target, a bad escape, a control byte, or identifier=
 * given twice.
 */
static char *
http_identifier(const struct http_req *r)
{
	const char *raw = r->raw_uri;
	const char *q;
	g_autofree char *found = NULL;
	char *id;

	if (raw == NULL || strstr(raw, "%00") != NULL)
		return NULL;
	q = strchr(raw, '?');
	if (g_str_has_prefix(raw, "/totp/") && raw + 6 != (q != NULL ? q : raw + strlen(raw))) {
		found = http_unescape(raw + 6, (gsize)((q != NULL ? q : raw + strlen(raw)) - raw - 6));
	} else if (q != NULL) {
		g_auto(GStrv) args = g_strsplit(q + 1, "&", 0);

		for (guint i = 0; args[i] != NULL; i++) {
			const char *eq = strchr(args[i], '=');
			g_autofree char *name = http_unescape(args[i],
			    eq != NULL ? (gsize)(eq - args[i]) : strlen(args[i]));

			if (name == NULL || strcmp(name, "identifier") != 0)
				continue;
			if (found != NULL || eq == NULL)
				return NULL;   /* twice, or no value: ambiguous */
			found = http_unescape(eq + 1, strlen(eq + 1));
			if (found == NULL)
				return NULL;
		}
	}
	if (found == NULL)
		return NULL;
	id = util_normalize_identifier(found);
	if (id != NULL && *id == '\0')
		g_clear_pointer(&id, g_free);
	return id;
}

/* One log line per pull. */
static void
http_log_pull(const char *identifier, const char *consumer, const char *result)
{
	g_autofree char *i = http_safe(identifier);
	g_autofree char *k = http_safe(consumer);

	g_message("src=http identifier=%s consumer=%s result=%s", i, k, result);
}

/*
 * TRUE when the timestamp header is within the window of now (or the
 * window is off).  Skyvern computes it with utcnow().timestamp(), which
 * is off by the host's UTC offset where Skyvern does not run on UTC; so
 * an offset of a whole number of quarter-hours from 1 h to 14 h either
 * way (every UTC offset in use) is taken off first, and logged once per
 * offset.  (The header is not signed: the
 * window is a sanity check, not the replay defence.)
 */
static gboolean
http_timestamp_ok(struct http *h, struct MHD_Connection *c, gint64 now)
{
	guint window = h->env.cfg->http.timestamp_window;
	const char *s;
	gint64 ts, d, k;

	if (window == 0)
		return TRUE;
	s = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-skyvern-timestamp");
	if (s == NULL || !g_ascii_string_to_signed(s, 10, 0, G_MAXINT64 / 2, &ts, NULL))
		return FALSE;
	d = ts - now;
	k = (d >= 0 ? d + HTTP_QUARTER / 2 : d - HTTP_QUARTER / 2) / HTTP_QUARTER;
	if (k > HTTP_QUARTERS_MAX || k < -HTTP_QUARTERS_MAX ||
	    (k < HTTP_QUARTERS_MIN && k > -HTTP_QUARTERS_MIN))
		k = 0;   /* not a UTC offset: the plain window decides */
	if (d - k * HTTP_QUARTER < -(gint64)window || d - k * HTTP_QUARTER > (gint64)window) {
		if (d >= -(gint64)window && d <= (gint64)window)
			k = 0;
		else
			return FALSE;
	}
	if (k != 0 && k != h->skew_logged) {
		h->skew_logged = k;
		g_message("src=http x-skyvern-timestamp is %+" G_GINT64_FORMAT " min off "
		    "the local clock: Skyvern's host is not on UTC (it sends "
		    "utcnow().timestamp()); accepted as a UTC offset", k * 15);
	}
	return TRUE;
}

/* The consumer that got job_id's code, from memory or the store. */
static int
http_consumer(struct http *h, gint64 job_id, char **consumer_r, GError **error)
{
	const char *mem = g_hash_table_lookup(h->unsaved_handouts, &job_id);

	if (mem != NULL) {
		*consumer_r = g_strdup(mem);
		return 0;
	}
	return store_code_consumer(h->env.st, job_id, consumer_r, error);
}

/*
 * Writes the pull records that an earlier write could not take; stops
 * at the first failure (they stay in memory).
 */
static void
http_flush_unsaved(struct http *h)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, h->unsaved_bodies);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		const struct http_binding *b = v;

		if (store_pull_body_set(h->env.st, k, b->identifier, b->first_seen,
		    NULL) < 0)
			return;
		g_hash_table_iter_remove(&it);
	}
	g_hash_table_iter_init(&it, h->unsaved_handouts);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		if (store_code_handout(h->env.st, *(gint64 *)k, v,
		    g_get_real_time() / G_USEC_PER_SEC, NULL) < 0)
			return;
		g_hash_table_iter_remove(&it);
	}
}

/*
 * Records that consumer got job_id's code.  A failed write (a full disk)
 * is kept in memory instead, so a known code still goes out and is still
 * withheld from other tasks while this process lives; only when that
 * memory is full is it -1 (the code is then not handed out).
 */
static int
http_handout(struct http *h, gint64 job_id, const char *consumer, gint64 now)
{
	g_autoptr(GError) err = NULL;

	if (store_code_handout(h->env.st, job_id, consumer, now, &err) == 0)
		return 0;
	if (g_hash_table_size(h->unsaved_handouts) >= HTTP_UNSAVED_MAX) {
		g_warning("src=http result=unsaved-full what=handout reason=\"%s\"",
		    err->message);
		return -1;
	}
	g_warning("src=http result=kept-in-memory what=handout reason=\"%s\"",
	    err->message);
	g_hash_table_insert(h->unsaved_handouts, g_memdup2(&job_id, sizeof job_id),
	    g_strdup(consumer));
	return 0;
}

enum http_body_verdict { HTTP_BODY_OK, HTTP_BODY_OTHER, HTTP_BODY_OLD };

/*
 * The replay defence.  Skyvern signs the body only; the identifier is in
 * the URL.  So a signed body is bound to the identifier it first asked
 * for (persisted: it survives a restart) and answers only for that one,
 * and only for HTTP_BODY_LIFE seconds after it was first seen.
 * Returns -1 with *error when the store cannot be read, or when neither
 * the store nor the memory can take a new binding.
 */
static int
http_body_check(struct http *h, const char *digest, const char *identifier,
    gint64 now, enum http_body_verdict *v, GError **error)
{
	const struct http_binding *mem = g_hash_table_lookup(h->unsaved_bodies, digest);
	g_autofree char *bound = NULL;
	gint64 first = 0;
	g_autoptr(GError) werr = NULL;

	*v = HTTP_BODY_OK;
	if (mem != NULL) {
		bound = g_strdup(mem->identifier);
		first = mem->first_seen;
	} else if (store_pull_body_get(h->env.st, digest, &bound, &first, error) < 0) {
		return -1;
	}
	if (bound != NULL) {
		if (strcmp(bound, identifier) != 0)
			*v = HTTP_BODY_OTHER;
		else if (now - first > HTTP_BODY_LIFE)
			*v = HTTP_BODY_OLD;
		return 0;
	}
	if (store_pull_body_set(h->env.st, digest, identifier, now, &werr) == 0)
		return 0;
	if (g_hash_table_size(h->unsaved_bodies) >= HTTP_UNSAVED_MAX) {
		g_propagate_error(error, g_steal_pointer(&werr));
		return -1;
	}
	g_warning("src=http result=kept-in-memory what=binding reason=\"%s\"",
	    werr->message);
	{
		struct http_binding *b = g_new0(struct http_binding, 1);

		b->identifier = g_strdup(identifier);
		b->first_seen = now;
		g_hash_table_insert(h->unsaved_bodies, g_strdup(digest), b);
	}
	return 0;
}

/*
 * The code (or magic link) to hand to the pull for identifier, or NULL
 * for "not yet".  ids are the pull's task_id and workflow_run_id: a code
 * tagged with one of them comes first, one tagged with another run never
 * (store_pull_code()).  With bind_code_to_task, a code already handed to
 * another consumer is withheld while it is fresh (no fallback to an
 * older code); a pull with no consumer gets a code only while nobody has
 * taken it, and is not recorded.  Only reads can fail here (-1 with
 * *error): a handout record the store cannot take is kept in memory.
 */
static int
http_lookup(struct http *h, const char *identifier, const struct json_pull *pull,
    gint64 now, char **code_r, GError **error)
{
	const struct config *cfg = h->env.cfg;
	const char *ids[2] = { pull->task_id, pull->workflow_run_id };
	const char *consumer = pull->task_id != NULL ? pull->task_id : pull->workflow_run_id;
	g_autofree char *code = NULL;
	g_autofree char *prev = NULL;
	gint64 job_id = 0;
	gboolean tagged = FALSE;

	*code_r = NULL;
	if (store_pull_code(h->env.st, identifier, ids, now - (gint64)cfg->push.max_age,
	    &code, &job_id, &tagged, error) < 0)
		return -1;
	if (code == NULL || *code == '\0')
		return 0;
	if (cfg->http.bind_code_to_task) {
		if (http_consumer(h, job_id, &prev, error) < 0)
			return -1;
		if (prev != NULL && (consumer == NULL || strcmp(prev, consumer) != 0))
			return 0;
		if (consumer != NULL && prev == NULL &&
		    http_handout(h, job_id, consumer, now) < 0)
			return 0;
	} else if (consumer != NULL) {
		/* a record only: nobody is refused by it */
		g_autoptr(GError) err = NULL;

		if (store_code_handout(h->env.st, job_id, consumer, now, &err) < 0)
			g_debug("src=http handout not recorded: %s", err->message);
	}
	*code_r = g_steal_pointer(&code);
	return 0;
}

/* Answers a pull refused by the replay defence: 403 and a log line. */
static enum MHD_Result
http_pull_refuse(struct MHD_Connection *c, struct http_req *r,
    const char *identifier, const char *consumer, enum http_body_verdict v)
{
	http_log_pull(identifier, consumer, v == HTTP_BODY_OTHER ?
	    "replay-other-identifier" : "replay-expired");
	return http_reply_error(c, r, MHD_HTTP_FORBIDDEN, v == HTTP_BODY_OTHER ?
	    "this signed request was first made for another identifier" :
	    "this signed request is too old to be answered again", NULL);
}

/* POST /totp, once the whole body is in. */
static enum MHD_Result
http_pull(struct http *h, struct MHD_Connection *c, struct http_req *r)
{
	const struct config *cfg = h->env.cfg;
	g_autofree char *identifier = http_identifier(r);
	g_autofree char *code = NULL;
	g_autofree char *reply = NULL;
	g_autofree char *digest = NULL;
	g_autoptr(GError) err = NULL;
	struct json_pull pull = { 0 };
	enum http_body_verdict verdict;
	const char *sig;
	const char *consumer;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	enum MHD_Result ret;

	if (cfg->http.signing_key == NULL || *cfg->http.signing_key == '\0') {
		http_log_pull(identifier, NULL, "no-signing-key");
		return http_reply_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "no signing key configured", NULL);
	}
	sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-skyvern-signature");
	if (sig == NULL || !http_signature_ok(cfg->http.signing_key, r->body->str,
	    r->body->len, sig)) {
		http_log_pull(identifier, NULL, "bad-signature");
		return http_reply_error(c, r, MHD_HTTP_UNAUTHORIZED, sig == NULL ?
		    "missing x-skyvern-signature" : "bad x-skyvern-signature", NULL);
	}
	if (!http_timestamp_ok(h, c, now)) {
		http_log_pull(identifier, NULL, "bad-timestamp");
		return http_reply_error(c, r, MHD_HTTP_UNAUTHORIZED,
		    "x-skyvern-timestamp missing or outside the window", NULL);
	}
	if (json_pull_parse(r->body->str, r->body->len, &pull) < 0) {
		http_log_pull(identifier, NULL, "bad-request");
		return http_reply_error(c, r, MHD_HTTP_BAD_REQUEST,
		    "the body is not a JSON object of string ids", NULL);
	}
	consumer = pull.task_id != NULL ? pull.task_id : pull.workflow_run_id;
	if (identifier == NULL) {
		http_log_pull(NULL, consumer, "bad-request");
		json_pull_clear(&pull);
		return http_reply_error(c, r, MHD_HTTP_BAD_REQUEST,
		    "no identifier: POST /totp?identifier=ADDR or /totp/ADDR", NULL);
	}
	http_flush_unsaved(h);
	digest = g_compute_checksum_for_data(G_CHECKSUM_SHA256,
	    (const guchar *)r->body->str, r->body->len);
	if (http_body_check(h, digest, identifier, now, &verdict, &err) == 0 &&
	    verdict != HTTP_BODY_OK) {
		ret = http_pull_refuse(c, r, identifier, consumer, verdict);
		json_pull_clear(&pull);
		return ret;
	}
	if (err != NULL || http_lookup(h, identifier, &pull, now, &code, &err) < 0) {
		g_autofree char *i = http_safe(identifier);

		g_warning("src=http identifier=%s result=error reason=\"%s\"", i,
		    err->message);
		json_pull_clear(&pull);
		return http_reply_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "store unavailable", NULL);
	}
	http_log_pull(identifier, consumer, code != NULL ? "code" : "empty");
	reply = json_pull_reply(pull.task_id, code);
	json_pull_clear(&pull);
	ret = http_reply(c, r, MHD_HTTP_OK, HTTP_JSON, reply, NULL);
	if (code != NULL)
		memset(code, 0, strlen(code));
	memset(reply, 0, strlen(reply));
	return ret;
}

/* The first call for a request: routes it and refuses at once what it
 * can (wrong method, unknown path, a body too large).  The answers that
 * keep the connection alive are queued at the last call (MHD closes a
 * connection whose response was queued at the first). */
static enum MHD_Result
http_begin(struct http *h, struct MHD_Connection *c, struct http_req *r,
    const char *url, const char *method)
{
	gboolean get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	    strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	const char *len_s;
	guint64 len = 0;

	if (strcmp(url, "/totp") == 0 || g_str_has_prefix(url, "/totp/")) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return http_reply_error(c, r, MHD_HTTP_METHOD_NOT_ALLOWED,
			    "method not allowed", MHD_HTTP_METHOD_POST);
		len_s = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (len_s != NULL && (!g_ascii_string_to_unsigned(len_s, 10, 0,
		    G_MAXUINT64, &len, NULL) || len > h->env.cfg->http.max_body)) {
			g_autofree char *id = http_identifier(r);

			http_log_pull(id, NULL, "too-large");
			return http_reply_error(c, r, MHD_HTTP_CONTENT_TOO_LARGE,
			    "request body too large", NULL);
		}
		r->route = HTTP_ROUTE_PULL;
		r->body = g_string_sized_new(len > 0 ? (gsize)len + 1 : 256);
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0) {
		if (!get)
			return http_reply(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, HTTP_TEXT,
			    "method not allowed\n", "GET, HEAD");
		r->route = url[1] == 'm' ? HTTP_ROUTE_METRICS : HTTP_ROUTE_HEALTHZ;
		return MHD_YES;
	}
	if (strcmp(url, "/status") == 0) {
		if (!get)
			return http_reply(c, r, MHD_HTTP_METHOD_NOT_ALLOWED, HTTP_TEXT,
			    "method not allowed\n", "GET, HEAD");
		r->route = HTTP_ROUTE_STATUS;
		return MHD_YES;
	}
	return http_reply(c, r, MHD_HTTP_NOT_FOUND, HTTP_TEXT, "not found\n", NULL);
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct http *h = cls;
	struct http_req *r = *req_cls;

	if (r == NULL || !r->begun) {
		if (r == NULL) {
			r = g_new0(struct http_req, 1);
			*req_cls = r;
		}
		r->begun = TRUE;
		return http_begin(h, c, r, url, method);
	}
	if (r->answered || (r->route != HTTP_ROUTE_PULL && *upload_data_size > 0)) {
		/* answered at the first call, or a body where none belongs:
		 * refuse to read it */
		return *upload_data_size > 0 ? MHD_NO : MHD_YES;
	}
	if (r->route == HTTP_ROUTE_METRICS)
		return http_metrics(h, c, r);
	if (r->route == HTTP_ROUTE_HEALTHZ)
		return http_healthz(h, c, r);
	if (r->route == HTTP_ROUTE_STATUS)
		return http_status(h, c, r);
	if (r->route != HTTP_ROUTE_PULL)
		return MHD_NO;   /* a refusal MHD did not take */
	if (*upload_data_size > 0) {
		if (*upload_data_size > h->env.cfg->http.max_body - MIN(r->body->len,
		    h->env.cfg->http.max_body)) {
			/* XXX a chunked body past the limit: MHD 0.9.75 cannot queue
			 * a 413 in the middle of a body, so the connection is closed */
			g_autofree char *id = http_identifier(r);

			http_log_pull(id, NULL, "too-large");
			return MHD_NO;
		}
		g_string_append_len(r->body, upload_data, (gssize)*upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return http_pull(h, c, r);
}

/* Counts of the framing headers of one request. */
struct http_framing {
	guint content_length;
	guint transfer_encoding;
	gboolean chunked;     /* the (only) Transfer-Encoding is "chunked" */
};

static enum MHD_Result
http_framing_count(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_framing *f = cls;

	if (g_ascii_strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		f->content_length++;
	} else if (g_ascii_strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		f->transfer_encoding++;
		f->chunked = value != NULL && g_ascii_strcasecmp(value, "chunked") == 0;
	}
	return MHD_YES;
}

/* Answers status with Connection: close: nothing after this request is
 * read or answered on the connection. */
static enum MHD_Result
http_reply_close(struct MHD_Connection *c, struct http_req *r,
    unsigned int status, const char *message)
{
	g_autofree char *body = json_error_body(message);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), body,
	    MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, HTTP_JSON);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	if (ret == MHD_YES)
		r->answered = TRUE;
	return ret;
}

/*
 * The framing rule (RFC 9112 6.1, 6.3), checked once the head is in and
 * before any body byte: 0 when the request may go on, else -1 with the
 * refusal queued (*ret is MHD's answer).  MHD 0.9.75 itself takes the
 * first Content-Length and lets Transfer-Encoding win silently, which a
 * proxy in front may read differently (request smuggling).
 */
static int
http_framing_check(struct MHD_Connection *c, struct http_req *r,
    const char *version, enum MHD_Result *ret)
{
	struct http_framing f = { 0 };
	const char *why = NULL;
	unsigned int status = MHD_HTTP_BAD_REQUEST;

	MHD_get_connection_values(c, MHD_HEADER_KIND, http_framing_count, &f);
	if (f.content_length > 0 && f.transfer_encoding > 0)
		why = "both Content-Length and Transfer-Encoding";
	else if (f.content_length > 1)
		why = "more than one Content-Length";
	else if (f.transfer_encoding > 1)
		why = "more than one Transfer-Encoding";
	else if (f.transfer_encoding > 0 && strcmp(version, MHD_HTTP_VERSION_1_0) == 0)
		why = "Transfer-Encoding in an HTTP/1.0 request";
	else if (f.transfer_encoding > 0 && !f.chunked) {
		why = "a transfer coding other than chunked";
		status = MHD_HTTP_NOT_IMPLEMENTED;
	}
	if (why == NULL)
		return 0;
	g_info("src=http result=bad-framing status=%u reason=\"%s\"", status, why);
	*ret = http_reply_close(c, r, status, why);
	return -1;
}

/* The socket context of c, or NULL. */
static struct http_conn *
http_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static void http_run(struct http_server *s);

/* The request deadline passed: shut the socket down (MHD reads the end
 * of stream at once and closes the connection; the fd stays MHD's). */
static gboolean
http_deadline_cb(gpointer data)
{
	struct http_conn *hc = data;
	struct http_server *s = hc->s;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(hc->c, MHD_CONNECTION_INFO_CONNECTION_FD);

	hc->deadline_src = 0;
	g_info("src=http listen=%s result=closed reason=request-timeout", s->label);
	if (ci != NULL)
		(void)shutdown(ci->connect_fd, SHUT_RDWR);
	http_run(s);   /* may free hc */
	return G_SOURCE_REMOVE;
}

/* Arms (on) or clears the request deadline of hc. */
static void
http_deadline(struct http_conn *hc, gboolean on)
{
	if (hc == NULL)
		return;
	if (hc->deadline_src != 0) {
		g_source_remove(hc->deadline_src);
		hc->deadline_src = 0;
	}
	if (on)
		hc->deadline_src = g_timeout_add(hc->s->h->env.cfg->http.request_timeout *
		    1000u, http_deadline_cb, hc);
}

/* MHD's access handler: the framing check at the first call, then
 * http_access(); the deadline is cleared once a response is queued. */
static enum MHD_Result
http_access_checked(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **req_cls)
{
	struct http_req *r = *req_cls;
	enum MHD_Result ret;

	/* The first call for a request: http_uri() may have made its
	 * http_req already (the raw target), which http_access() takes on. */
	if (r == NULL || !r->begun) {
		gboolean fresh = r == NULL;

		if (fresh)
			r = g_new0(struct http_req, 1);
		if (http_framing_check(c, r, version, &ret) < 0) {
			*req_cls = r;
			http_deadline(http_conn_of(c), FALSE);
			return ret;
		}
		if (fresh)
			g_free(r);
	}
	ret = http_access(cls, c, url, method, version, upload_data,
	    upload_data_size, req_cls);
	r = *req_cls;
	if (r != NULL && r->answered)
		http_deadline(http_conn_of(c), FALSE);
	return ret;
}

/* MHD's connection notifications: the socket context and its deadline. */
static void
http_notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;
	struct http_conn *hc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		util_accept_recovered();
		hc = g_new0(struct http_conn, 1);
		hc->s = s;
		hc->c = c;
		*socket_context = hc;
		http_deadline(hc, TRUE);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && hc != NULL) {
		http_deadline(hc, FALSE);
		g_free(hc);
		*socket_context = NULL;
	}
}

static void
http_completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_req *r = *req_cls;

	http_deadline(http_conn_of(c), TRUE);   /* the next request's, if any */
	if (r == NULL)
		return;
	if (r->body != NULL)
		g_string_free(r->body, TRUE);
	g_free(r->raw_uri);
	g_free(r);
	*req_cls = NULL;
}

/* Called by MHD with the request target as sent, before it decodes it:
 * the pull side reads the identifier from these bytes (http_identifier()). */
static void *
http_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct http_req *r = g_new0(struct http_req, 1);

	r->raw_uri = g_strdup(uri);
	return r;
}

/* MHD's own diagnostics: kept for http_new()'s error, logged at debug. */
static void http_mhd_log(void *cls, const char *fmt, va_list ap) G_GNUC_PRINTF(2, 0);

static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http *h = cls;
	char *msg = g_strdup_vprintf(fmt, ap);

	g_strchomp(msg);
	g_debug("src=http mhd=\"%s\"", msg);
	/* XXX MHD 0.9.75 tells of descriptor exhaustion only here: with
	 * connections open it stops accepting until one closes; with none it
	 * "busy waits" (see http_run()).  The line before (kept in mhd_error)
	 * names the accept error. */
	if (g_str_has_prefix(fmt, "Hit process or system resource limit")) {
		h->mhd_fds = strstr(fmt, "at FIRST") != NULL ? HTTP_FDS_SPINNING :
		    HTTP_FDS_PAUSED_BY_MHD;
		g_free(msg);
		return;
	}
	g_free(h->mhd_error);
	h->mhd_error = msg;
}

static gboolean http_timer_cb(gpointer data);
static gboolean http_io_cb(gint fd, GIOCondition cond, gpointer data);

/* The accept pause is over: watch MHD's epoll fd again. */
static gboolean
http_resume_cb(gpointer data)
{
	struct http_server *s = data;
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);

	s->pause_src = 0;
	if (info != NULL && info->epoll_fd >= 0)
		s->io_src = g_unix_fd_add(info->epoll_fd, G_IO_IN, http_io_cb, s);
	http_run(s);
	return G_SOURCE_REMOVE;
}

/* accept() ran out of descriptors.  With connections open MHD stops
 * accepting until one closes; with none it would retry at every turn of
 * the loop, so stop watching it for a while. */
static void
http_pause(struct http_server *s)
{
	util_accept_exhausted("http", s->label, s->h->mhd_error != NULL ?
	    s->h->mhd_error : "out of descriptors");
	if (s->h->mhd_fds != HTTP_FDS_SPINNING)
		return;
	if (s->io_src != 0) {
		g_source_remove(s->io_src);
		s->io_src = 0;
	}
	if (s->timer_src != 0) {
		g_source_remove(s->timer_src);
		s->timer_src = 0;
	}
	if (s->pause_src == 0)
		s->pause_src = g_timeout_add(UTIL_ACCEPT_PAUSE_MS, http_resume_cb, s);
}

/* The connections MHD has open. */
static unsigned int
http_connections(struct http_server *s)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info != NULL ? info->num_connections : 0;
}

/* Runs MHD once and re-arms the timer from MHD_get_timeout(). */
static void
http_run(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;
	unsigned int before;

	if (s->pause_src != 0)
		return;
	s->h->mhd_fds = HTTP_FDS_OK;
	before = http_connections(s);
	MHD_run(s->mhd);
	/* XXX MHD 0.9.75 takes its listening socket out of the epoll set at
	 * max_connections or when accept() ran out of descriptors, and puts
	 * it back only at the start of a run: once a connection closed, run
	 * again now, or a client waiting in the backlog would wait for some
	 * other event (for ever when no connection is left). */
	if (s->h->mhd_fds == HTTP_FDS_OK && http_connections(s) < before)
		MHD_run(s->mhd);
	if (s->timer_src != 0) {
		g_source_remove(s->timer_src);
		s->timer_src = 0;
	}
	if (s->h->mhd_fds != HTTP_FDS_OK) {
		http_pause(s);
		if (s->pause_src != 0)
			return;
	}
	if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
		s->timer_src = g_timeout_add((guint)MIN(ms, (MHD_UNSIGNED_LONG_LONG)G_MAXINT),
		    http_timer_cb, s);
}

static gboolean
http_timer_cb(gpointer data)
{
	struct http_server *s = data;

	s->timer_src = 0;   /* this source ends by returning G_SOURCE_REMOVE */
	http_run(s);
	return G_SOURCE_REMOVE;
}

static gboolean
http_io_cb(gint fd, GIOCondition cond, gpointer data)
{
	http_run(data);
	return G_SOURCE_CONTINUE;
}

static void
http_server_free(gpointer p)
{
	struct http_server *s = p;

	if (s->io_src != 0)
		g_source_remove(s->io_src);
	if (s->timer_src != 0)
		g_source_remove(s->timer_src);
	if (s->pause_src != 0)
		g_source_remove(s->pause_src);
	if (s->mhd != NULL)
		MHD_stop_daemon(s->mhd);   /* closes the listening socket too */
	if (s->unix_path != NULL)
		g_unlink(s->unix_path);
	g_free(s->unix_path);
	g_free(s->label);
	g_free(s);
}

/* A bound, listening unix socket at path (a stale socket file is
 * replaced, a live one or another file is not); -1 with *error. */
static int
http_unix_socket(const char *path, GError **error)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	g_autofree char *dir = g_path_get_dirname(path);
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "[http] listen unix:%s: path too long", path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (g_mkdir_with_parents(dir, 0755) < 0) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO, "%s: %s", dir,
		    g_strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
			    "[http] listen unix:%s exists and is not a socket", path);
			close(fd);
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
			    "[http] listen unix:%s is in use by another process", path);
			close(fd);
			return -1;
		}
		close(fd);
		if (unlink(path) < 0 && errno != ENOENT)
			goto fail;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
	    listen(fd, HTTP_BACKLOG) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		goto fail;
	}
	return fd;
fail:
	g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO, "[http] listen unix:%s: %s",
	    path, g_strerror(errno));
	return -1;
}

/* Starts one MHD daemon on la and hooks it to the main loop. */
static int
http_server_open(struct http *h, const struct listen_addr *la, GError **error)
{
	const struct config *cfg = h->env.cfg;
	struct http_server *s = g_new0(struct http_server, 1);
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	int lfd = -1;

	s->h = h;
	g_ptr_array_add(h->servers, s);
	g_clear_pointer(&h->mhd_error, g_free);
	if (la->kind == LISTEN_UNIX) {
		s->label = g_strdup_printf("unix:%s", la->path);
		lfd = http_unix_socket(la->path, error);
		if (lfd < 0)
			return -1;
		s->unix_path = g_strdup(la->path);
		s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, http_access_checked, h,
		    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
		    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->http.max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->http.timeout,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		    (unsigned int)cfg->http.max_connections_per_client,
		    MHD_OPTION_NOTIFY_CONNECTION, http_notify_conn, s,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
		    MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
		    MHD_OPTION_URI_LOG_CALLBACK, http_uri, h,
		    MHD_OPTION_END);
		if (s->mhd == NULL)
			close(lfd);
	} else {
		g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(
		    g_ascii_strcasecmp(la->host, "localhost") == 0 ? "127.0.0.1" : la->host);
		g_autoptr(GSocketAddress) sa = NULL;

		s->label = g_strdup_printf("inet:%s:%u", la->host, la->port);
		if (ia == NULL) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
			    "[http] listen: '%s' is not an IP address", la->host);
			return -1;
		}
		if (g_inet_address_get_family(ia) == G_SOCKET_FAMILY_IPV6)
			flags |= MHD_USE_IPv6;
		sa = g_inet_socket_address_new(ia, (guint16)la->port);
		if (!g_socket_address_to_native(sa, &ss, sizeof ss, error))
			return -1;
		s->mhd = MHD_start_daemon(flags, (uint16_t)la->port, NULL, NULL,
		    http_access_checked, h,
		    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
		    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->http.max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->http.timeout,
		    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		    (unsigned int)cfg->http.max_connections_per_client,
		    MHD_OPTION_NOTIFY_CONNECTION, http_notify_conn, s,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
		    MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
		    MHD_OPTION_URI_LOG_CALLBACK, http_uri, h,
		    MHD_OPTION_END);
	}
	if (s->mhd == NULL) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO, "[http] listen %s: %s",
		    s->label, h->mhd_error != NULL ? h->mhd_error :
		    "cannot start the HTTP server");
		return -1;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO,
		    "[http] listen %s: no epoll fd from libmicrohttpd", s->label);
		return -1;
	}
	s->io_src = g_unix_fd_add(info->epoll_fd, G_IO_IN, http_io_cb, s);
	http_run(s);
	g_message("listening: http %s", s->label);
	return 0;
}

static void
http_binding_free(gpointer p)
{
	struct http_binding *b = p;

	g_free(b->identifier);
	g_free(b);
}

struct http *
http_new(const struct http_env *env, GError **error)
{
	struct http *h = g_new0(struct http, 1);

	h->env = *env;
	h->servers = g_ptr_array_new_with_free_func(http_server_free);
	h->unsaved_bodies = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    http_binding_free);
	h->unsaved_handouts = g_hash_table_new_full(g_int64_hash, g_int64_equal,
	    g_free, g_free);
	for (guint i = 0; i < env->cfg->http.listen->len; i++) {
		if (http_server_open(h, g_ptr_array_index(env->cfg->http.listen, i),
		    error) < 0) {
			http_free(&h);
			return NULL;
		}
	}
	if (h->servers->len > 0 && (env->cfg->http.signing_key == NULL ||
	    *env->cfg->http.signing_key == '\0'))
		g_warning("src=http no signing key: POST /totp answers 503");
	return h;
}

void
http_reconfigure(struct http *h, const struct config *cfg)
{
	h->env.cfg = cfg;
}

void
http_free(struct http **hp)
{
	struct http *h = *hp;

	if (h == NULL)
		return;
	g_ptr_array_unref(h->servers);
	g_hash_table_unref(h->unsaved_bodies);
	g_hash_table_unref(h->unsaved_handouts);
	g_free(h->mhd_error);
	g_free(h);
	*hp = NULL;
}
