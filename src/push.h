/*
 * push.h - the push client: POSTs JSON bodies to the TOTP endpoint with
 * libcurl's multi interface driven by a GLib main context (no thread per
 * request, no blocking call on the loop).  push.c is the only file that
 * includes libcurl.
 *
 * Connections are reused (keep-alive; HTTP/2 multiplexing when offered);
 * TLS is verified; no redirect is followed; every request has a total and
 * a connect timeout; the reply body kept is bounded.
 *
 * push_form_post() is the one blocking call: a form POST for code running
 * on its own thread (the OAuth token endpoint, from an IMAP account).
 */
#ifndef OTPBRIDGE_PUSH_H
#define OTPBRIDGE_PUSH_H

#include <glib.h>

#define PUSH_REPLY_MAX 4096      /* bytes of reply body kept */
/* Bytes of reply body read at all; beyond, the transfer is aborted and
 * the status line decides (a 2xx is a delivery). */
#define PUSH_DISCARD_MAX (16 * 1024 * 1024)

struct push_config {
	const char *url;
	const char *api_key;         /* sent as x-api-key; never logged */
	guint timeout;               /* seconds, whole request */
	const char *ca_file;         /* NULL: the system store */
	gboolean http_private;       /* http:// may reach private addresses,
	                              * not only loopback ([push] allow_http) */
};

/* What one attempt got.  Strings are valid until the callback returns. */
struct push_result {
	int status;                  /* HTTP status; 0 when no reply came */
	const char *error;           /* status 0: what went wrong (curl's words) */
	const char *reply;           /* reply body, bounded, never NULL */
	gint64 elapsed_us;
};

enum push_outcome {
	PUSH_DONE,                   /* 2xx: stored by the endpoint */
	PUSH_RETRY,                  /* network error, 408, 429, 5xx */
	PUSH_FAIL,                   /* any other status: permanent */
};

/* SPEC 1.1: classifies an HTTP status (0 = no reply). */
enum push_outcome push_classify(int status);

typedef void (*push_done_fn)(const struct push_result *r, gpointer data);

struct push_client;

/*
 * Creates a client whose sockets and timers live on ctx (NULL: the global
 * default context).  cfg's strings are copied.
 */
struct push_client *push_client_new(const struct push_config *cfg, GMainContext *ctx);
/*
 * Frees the client; requests still in flight are aborted and their
 * callbacks are NOT called.  Sets *pc to NULL.
 */
void push_client_free(struct push_client **pc);

/*
 * Starts one POST of body (copied).  done(result, data) runs later on the
 * client's context, exactly once, unless the client is freed first.
 */
void push_client_send(struct push_client *pc, const char *body,
    push_done_fn done, gpointer data);

/* Requests in flight. */
guint push_client_active(const struct push_client *pc);

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
int push_form_post(const char *url, const char *const *fields, guint timeout_s,
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
int push_get(const char *url, const char *unix_path, guint timeout_ms,
    gsize reply_max, int *status, char **reply, char **err);

/*
 * The push client [push] of cfg asks for, on ctx (NULL: the default
 * context), or NULL for the dry-run sink (no URL or no API key).  The one
 * place a push client is built from the configuration: the daemon and
 * `deliver` alike.
 */
struct config;
struct push_client *push_client_for(const struct config *cfg, GMainContext *ctx);

#endif
