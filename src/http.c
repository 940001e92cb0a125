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
 * parsed; the identifier comes from the URL (MHD percent-decodes it; in
 * the query string '+' is a blank, form-style, so sub-addresses there
 * need %2B, while the path form keeps '+') and is normalised and checked
 * for control bytes.  GET /status answers only a client on this host
 * (unix socket, loopback, or the listener's own address) whose request
 * carries no Forwarded/X-Forwarded-For/X-Real-IP header (a reverse proxy
 * on this host relaying someone else): 403 otherwise.  Every logged string is
 * reduced to printable ASCII.  A code or the key is never logged.
 *
 * Limits: [http] max_connections per listener, timeout seconds of
 * silence per connection, HTTP_MEMORY_LIMIT bytes of MHD memory per
 * connection (request line and headers), max_body bytes of body: a
 * larger Content-Length gets 413 before the body is read; a chunked body
 * that grows past it is cut by closing the connection.
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

/* One MHD daemon: one [http] listen address. */
struct http_server {
	struct http *h;
	struct MHD_Daemon *mhd;
	char *label;          /* "inet:host:port" or "unix:/path" for logs */
	char *unix_path;      /* unlinked at free, or NULL */
	guint io_src;         /* the epoll fd watch */
	guint timer_src;      /* MHD_get_timeout(), or 0 */
};

struct http {
	struct http_env env;  /* a copy: st and cfg must outlive the struct http */
	GPtrArray *servers;   /* struct http_server * */
	char *mhd_error;      /* MHD's last log line, for http_new()'s error */
};

enum http_route { HTTP_ROUTE_NONE, HTTP_ROUTE_PULL, HTTP_ROUTE_METRICS,
	HTTP_ROUTE_HEALTHZ, HTTP_ROUTE_STATUS };

/* Per request; freed by the completion callback. */
struct http_req {
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
	guint64 counts[4] = { 0 };

	if (store_count(h->env.st, counts, &err) < 0) {
		g_autofree char *msg = g_strdup_printf("store: %s\n", err->message);

		g_warning("src=http path=/metrics result=error reason=\"%s\"", err->message);
		return http_reply(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, HTTP_TEXT, msg, NULL);
	}
	out = g_string_sized_new(4096);
	metrics_render(out, counts, g_get_real_time() / G_USEC_PER_SEC);
	return http_reply(c, r, MHD_HTTP_OK, HTTP_METRICS_TYPE, out->str, NULL);
}

/* GET /healthz: "ok" or the reasons, one per line. */
static enum MHD_Result
http_healthz(struct http *h, struct MHD_Connection *c, struct http_req *r)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) why = g_string_new(NULL);

	if (store_probe(h->env.st, &err) < 0)
		g_string_append_printf(why, "store: %s\n", err->message);
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

/* The identifier named by the URL (path form first, then the query
 * argument), normalised; NULL when none or unusable. */
static char *
http_identifier(struct MHD_Connection *c, const char *url)
{
	const char *raw = NULL;
	char *id;

	if (g_str_has_prefix(url, "/totp/") && url[6] != '\0')
		raw = url + 6;
	else
		raw = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "identifier");
	if (raw == NULL || !g_utf8_validate(raw, -1, NULL))
		return NULL;
	for (const char *p = raw; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return NULL;
	id = util_normalize_identifier(raw);
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

/* TRUE when the timestamp header is within the window of now (or the
 * window is off). */
static gboolean
http_timestamp_ok(struct http *h, struct MHD_Connection *c, gint64 now)
{
	guint window = h->env.cfg->http.timestamp_window;
	const char *s;
	gint64 ts;

	if (window == 0)
		return TRUE;
	s = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-skyvern-timestamp");
	if (s == NULL || !g_ascii_string_to_signed(s, 10, 0, G_MAXINT64 / 2, &ts, NULL))
		return FALSE;
	return ts >= now - (gint64)window && ts <= now + (gint64)window;
}

/*
 * The code to hand to consumer for identifier, or NULL for "not yet".
 * With bind_code_to_task, a code already handed to another consumer is
 * withheld while it is fresh (no fallback to an older code); a pull with
 * no consumer gets a code only while nobody has taken it, and is not
 * recorded.  Returns -1 with *error when the store fails.
 */
static int
http_lookup(struct http *h, const char *identifier, const char *consumer,
    gint64 now, char **code_r, GError **error)
{
	const struct config *cfg = h->env.cfg;
	g_autofree char *code = NULL;
	g_autofree char *prev = NULL;
	gint64 job_id = 0;

	*code_r = NULL;
	if (store_latest_code(h->env.st, identifier, now - (gint64)cfg->push.max_age,
	    &code, &job_id, error) < 0)
		return -1;
	if (code == NULL || *code == '\0')
		return 0;
	if (cfg->http.bind_code_to_task) {
		if (store_code_consumer(h->env.st, job_id, &prev, error) < 0)
			return -1;
		if (prev != NULL && (consumer == NULL || strcmp(prev, consumer) != 0))
			return 0;
		if (consumer != NULL && prev == NULL &&
		    store_code_handout(h->env.st, job_id, consumer, now, error) < 0)
			return -1;
	} else if (consumer != NULL &&
	    store_code_handout(h->env.st, job_id, consumer, now, error) < 0) {
		return -1;
	}
	*code_r = g_steal_pointer(&code);
	return 0;
}

/* POST /totp, once the whole body is in. */
static enum MHD_Result
http_pull(struct http *h, struct MHD_Connection *c, struct http_req *r,
    const char *url)
{
	const struct config *cfg = h->env.cfg;
	g_autofree char *identifier = http_identifier(c, url);
	g_autofree char *code = NULL;
	g_autofree char *reply = NULL;
	g_autoptr(GError) err = NULL;
	struct json_pull pull = { 0 };
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
	if (http_lookup(h, identifier, consumer, now, &code, &err) < 0) {
		g_autofree char *i = http_safe(identifier);

		g_warning("src=http identifier=%s result=error reason=\"%s\"", i,
		    err->message);
		json_pull_clear(&pull);
		return http_reply_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "store unavailable", NULL);
	}
	http_log_pull(identifier, consumer, code != NULL ? "code" : "empty");
	json_pull_clear(&pull);
	reply = json_pull_reply(code);
	ret = http_reply(c, r, MHD_HTTP_OK, HTTP_JSON, reply, NULL);
	if (code != NULL)
		memset(code, 0, strlen(code));
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
			g_autofree char *id = http_identifier(c, url);

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

	if (r == NULL) {
		r = g_new0(struct http_req, 1);
		*req_cls = r;
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
			g_autofree char *id = http_identifier(c, url);

			http_log_pull(id, NULL, "too-large");
			return MHD_NO;
		}
		g_string_append_len(r->body, upload_data, (gssize)*upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	return http_pull(h, c, r, url);
}

static void
http_completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_req *r = *req_cls;

	if (r == NULL)
		return;
	if (r->body != NULL)
		g_string_free(r->body, TRUE);
	g_free(r);
	*req_cls = NULL;
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
	g_free(h->mhd_error);
	h->mhd_error = msg;
}

static gboolean http_timer_cb(gpointer data);

/* Runs MHD once and re-arms the timer from MHD_get_timeout(). */
static void
http_run(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms = 0;

	MHD_run(s->mhd);
	if (s->timer_src != 0) {
		g_source_remove(s->timer_src);
		s->timer_src = 0;
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
		s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, http_access, h,
		    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
		    MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->http.max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->http.timeout,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
		    MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
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
		    http_access, h,
		    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, h,
		    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
		    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->http.max_connections,
		    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->http.timeout,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
		    MHD_OPTION_NOTIFY_COMPLETED, http_completed, h,
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

struct http *
http_new(const struct http_env *env, GError **error)
{
	struct http *h = g_new0(struct http, 1);

	h->env = *env;
	h->servers = g_ptr_array_new_with_free_func(http_server_free);
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
http_free(struct http **hp)
{
	struct http *h = *hp;

	if (h == NULL)
		return;
	g_ptr_array_unref(h->servers);
	g_free(h->mhd_error);
	g_free(h);
	*hp = NULL;
}
