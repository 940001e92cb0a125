/*
 * http.h - the small HTTP side (SPEC 1.2, 7): the Skyvern pull endpoint,
 * GET /metrics, GET /healthz and GET /status (local clients only),
 * served by libmicrohttpd on the GLib main
 * loop (http.c is the only file that includes it).  Loopback by default;
 * request bodies, connections and time per request are bounded.
 */
#ifndef OTPBRIDGE_HTTP_H
#define OTPBRIDGE_HTTP_H

#include <glib.h>
#include "config.h"
#include "store.h"

/* Why the daemon is not healthy, or NULL when it is (for /healthz). */
typedef char *(*http_health_fn)(gpointer data);

struct http_env {
	struct store *st;            /* not owned; main-thread handle */
	const struct config *cfg;    /* [http], [push] max_age */
	http_health_fn health;       /* extra checks beyond the store probe; may be NULL */
	gpointer health_data;
	/* GET /status: the daemon's live state as JSON (json_status_live());
	 * NULL: 404.  Served to local clients only (http.c). */
	char *(*status)(gpointer data);
	gpointer status_data;
};

struct http;

/* Binds every [http] listen address and serves on the default main
 * context.  Returns NULL with *error when a listener fails. */
struct http *http_new(const struct http_env *env, GError **error);
void http_free(struct http **h);

/*
 * Serves with cfg from now on (SIGHUP reload): the signing key,
 * timestamp_window, bind_code_to_task, max_body and [push] max_age apply
 * to the next request.  cfg is not owned and must outlive its use (until
 * the next call).  Listeners, max_connections and timeout stay those of
 * http_new() until a restart.
 */
void http_reconfigure(struct http *h, const struct config *cfg);

/*
 * The pull contract, pure, for tests and for http.c: checks the
 * x-skyvern-signature header (lowercase hex HMAC-SHA256 of body keyed
 * with key) in constant time.  TRUE when it matches.
 */
gboolean http_signature_ok(const char *key, const char *body, gsize len,
    const char *signature);

#endif
