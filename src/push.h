/*
 * push.h - the push client: POSTs JSON bodies to the TOTP endpoint through
 * the HTTP client (httpc.h: libcurl's multi interface driven by a GLib
 * main context, no thread per request, no blocking call on the loop).
 *
 * Connections are reused (keep-alive; HTTP/2 multiplexing when offered);
 * TLS is verified; no redirect is followed; every request has a total and
 * a connect timeout; the reply body kept is bounded.
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
 * The push client [push] of cfg asks for, on ctx (NULL: the default
 * context), or NULL for the dry-run sink (no URL or no API key).  The one
 * place a push client is built from the configuration: the daemon and
 * `deliver` alike.
 */
struct config;
struct push_client *push_client_for(const struct config *cfg, GMainContext *ctx);

#endif
