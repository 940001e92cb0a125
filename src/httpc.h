/*
 * httpc.h - the HTTP client: the one file that includes libcurl.
 *
 * Two ways in.  httpc_client_*: POSTs on a GLib main context through
 * curl's multi interface (no thread per request, no blocking call on the
 * loop), with connection reuse (keep-alive; HTTP/2 multiplexing when
 * offered) -- push.c builds the TOTP push on it.  httpc_form_post() and
 * httpc_get(): one blocking request each, for a caller on its own thread
 * (the OAuth token endpoint, oauth.c) or a command (`otpbridge status`).
 *
 * Every request: http and https only, no redirect followed, TLS verified,
 * a total and a connect timeout, no signals, the reply body bounded.
 */
#ifndef OTPBRIDGE_HTTPC_H
#define OTPBRIDGE_HTTPC_H

#include <glib.h>

struct httpc_config {
	const char *url;
	const char *ca_file;         /* NULL: the system store */
	guint timeout;               /* seconds, whole request (0: 30, at most 3600) */
	gboolean http_private;       /* http:// may reach private addresses,
	                              * not only loopback */
	/* Request header lines, NULL-terminated, copied; the copies are
	 * wiped when freed (one may hold an API key). */
	const char *const *headers;
	gsize reply_max;             /* bytes of reply body kept */
	gsize discard_max;           /* bytes of reply body read at all; beyond,
	                              * the transfer is aborted */
};

/* What one POST got.  Valid until the callback returns. */
struct httpc_reply {
	gboolean complete;           /* the transfer finished (any status) */
	gboolean setup_failed;       /* never sent: error says why */
	gboolean overflow;           /* aborted past discard_max */
	int status;                  /* status line received, 0: none */
	const char *error;           /* !complete: curl's words */
	const guint8 *body;          /* at most reply_max bytes, raw */
	gsize body_len;
	gboolean truncated;          /* more body came than was kept */
	gint64 elapsed_us;
};

typedef void (*httpc_done_fn)(const struct httpc_reply *r, gpointer data);

struct httpc_client;

/*
 * Creates a client whose sockets and timers live on ctx (NULL: the global
 * default context).  cfg is copied.
 */
struct httpc_client *httpc_client_new(const struct httpc_config *cfg,
    GMainContext *ctx);
/* Frees the client; requests in flight are aborted and their callbacks are
 * NOT called.  Callable from a callback.  Sets *hc to NULL. */
void httpc_client_free(struct httpc_client **hc);
/*
 * Starts one POST of body (copied, wiped when freed).  done(reply, data)
 * runs later on the client's context, exactly once, unless the client is
 * freed first; it may send more requests or free the client.
 */
void httpc_client_post(struct httpc_client *hc, const char *body, gsize len,
    httpc_done_fn done, gpointer data);
/* Requests in flight. */
guint httpc_client_active(const struct httpc_client *hc);

/*
 * One blocking POST of an application/x-www-form-urlencoded body, for a
 * thread other than the main loop's: its own connection, no GMainContext,
 * no signal (CURLOPT_NOSIGNAL).  fields is name, value, name, value, ...,
 * NULL; every name and value is percent-encoded (RFC 3986 unreserved
 * characters kept, every other byte %XX), the body is wiped when freed,
 * and neither is ever put in *err.  Sent with "Accept: application/json";
 * http and https only, no redirect followed, TLS verified against the
 * system store, timeout_s seconds in all (0: 30, at most 3600) of which at
 * most 10 to connect.
 *
 * Returns 0 when an HTTP reply arrived, whatever its status: *status, and
 * *reply (g_malloc'd, NUL-terminated, *reply_len bytes not counting the
 * NUL, raw: it may hold NULs and any bytes) which the caller frees -- and
 * wipes first when it may hold a secret.  Returns -1 otherwise: no reply,
 * a reply body longer than reply_max bytes ("reply larger than N bytes"),
 * or fields not in pairs; *err (g_malloc'd) says why in curl's words,
 * *status is 0 and *reply NULL.
 */
int httpc_form_post(const char *url, const char *const *fields, guint timeout_s,
    gsize reply_max, int *status, char **reply, gsize *reply_len, char **err);

/*
 * One blocking GET of a local HTTP service (`otpbridge status` asking the
 * daemon): http only, over unix_path when non-NULL (the URL's host is then
 * only the Host header), no proxy whatever the environment says, no
 * redirect, timeout_ms in all (connect included).  Returns 0 when a reply
 * arrived (*status, *reply g_malloc'd and NUL-terminated, at most
 * reply_max bytes), -1 otherwise with *err (g_malloc'd: curl's words, or
 * "reply larger than N bytes").
 */
int httpc_get(const char *url, const char *unix_path, guint timeout_ms,
    gsize reply_max, int *status, char **reply, char **err);

#endif
