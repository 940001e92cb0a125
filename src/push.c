/*
 * push.c - the push client: POSTs the JSON body of a job to the TOTP
 * endpoint (SPEC 1.1) through the HTTP client (httpc.c, the libcurl
 * user) and says what the reply means.  Callers see struct push_result.
 *
 * This file owns the push's semantics: the headers (x-api-key, the JSON
 * content type, no "Expect: 100-continue"), the bounds of the reply
 * (PUSH_REPLY_MAX kept, PUSH_DISCARD_MAX read at all) and the reading of
 * what came back.  httpc.c owns the transport: the curl multi handle on
 * the caller's GLib context, TLS, protocols, redirects, timeouts, the
 * connect-time address check for plain http.
 *
 * Hostile input: the endpoint's replies.  We keep only the status and at
 * most PUSH_REPLY_MAX bytes of body, cut on a UTF-8 boundary and made
 * valid UTF-8 (NULs and invalid bytes become U+FFFD).  A reply body
 * longer than PUSH_DISCARD_MAX is not read further: the transfer is
 * aborted, and reported with the status line that came before the body
 * (a 2xx is a delivery, the endpoint has stored the code; only a reply
 * without a status line is status 0, retryable).  A body cut off by the
 * timeout or the connection after a 2xx status line is a delivery too.
 *
 * Secrets: the API key lives only in the header line handed to httpc.c
 * (cut at the first control character so that it cannot add a header of
 * its own) and the body only in the request; both are wiped when freed
 * and never logged (this file logs nothing: the caller decides and logs).
 *
 * Limits: total timeout per request (cfg->timeout, 1..3600 seconds, 0 =
 * 30), connect timeout at most 10 s (httpc.c), PUSH_REPLY_MAX bytes of
 * reply kept, PUSH_DISCARD_MAX bytes of reply read at all.
 */
#include "autoconfig.h"

#include <string.h>

#include "config.h"
#include "httpc.h"
#include "push.h"

struct push_client {
	struct httpc_client *hc;
	GQueue reqs;                 /* struct push_req *, in flight */
};

/* One push, from push_client_send() to its callback. */
struct push_req {
	struct push_client *pc;
	GList link;                  /* in pc->reqs */
	push_done_fn done;
	gpointer data;
};

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

/* What the reply means for the push, then the caller's callback. */
static void
push_req_done(const struct httpc_reply *hr, gpointer data)
{
	struct push_req *req = data;
	struct push_result r;
	GByteArray buf = { (guint8 *)hr->body, (guint)hr->body_len };
	char *reply;

	memset(&r, 0, sizeof(r));
	g_queue_unlink(&req->pc->reqs, &req->link);
	if (hr->setup_failed) {
		r.error = hr->error;
	} else if (!hr->complete && hr->status / 100 == 2) {
		/*
		 * The status line said the endpoint stored it; only the body
		 * was cut (our bound, the timeout, the connection).  Pushing
		 * again would only duplicate the code.
		 */
		r.status = hr->status;
	} else if (!hr->complete && hr->overflow && hr->status > 0) {
		/* A bounded body under a status line: that status decides. */
		r.status = hr->status;
	} else if (!hr->complete) {
		/* A transfer that failed midway counts as no reply. */
		r.error = hr->error;
	} else {
		r.status = hr->status;
		if (r.status == 0)
			r.error = "no HTTP status";
	}
	reply = push_reply_text(&buf, hr->truncated);
	r.reply = reply;
	r.elapsed_us = hr->elapsed_us;
	/* The callback may free the client: req is ours alone. */
	req->done(&r, req->data);
	explicit_bzero(reply, strlen(reply));
	g_free(reply);
	g_free(req);
}

void
push_client_send(struct push_client *pc, const char *body,
    push_done_fn done, gpointer data)
{
	struct push_req *req;

	g_return_if_fail(pc != NULL && body != NULL && done != NULL);
	req = g_new0(struct push_req, 1);
	req->pc = pc;
	req->done = done;
	req->data = data;
	req->link.data = req;
	g_queue_push_tail_link(&pc->reqs, &req->link);
	httpc_client_post(pc->hc, body, strlen(body), push_req_done, req);
}

guint
push_client_active(const struct push_client *pc)
{
	return pc->reqs.length;
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
	struct httpc_config hcfg;
	char *line;
	const char *headers[5];

	g_return_val_if_fail(cfg != NULL && cfg->url != NULL, NULL);
	line = push_key_line(cfg->api_key != NULL ? cfg->api_key : "");
	headers[0] = line;
	headers[1] = "Content-Type: application/json";
	headers[2] = "Accept: application/json";
	headers[3] = "Expect:";
	headers[4] = NULL;
	memset(&hcfg, 0, sizeof(hcfg));
	hcfg.url = cfg->url;
	hcfg.ca_file = cfg->ca_file;
	hcfg.timeout = cfg->timeout;
	hcfg.http_private = cfg->http_private;
	hcfg.headers = headers;
	hcfg.reply_max = PUSH_REPLY_MAX;
	hcfg.discard_max = PUSH_DISCARD_MAX;
	pc = g_new0(struct push_client, 1);
	pc->hc = httpc_client_new(&hcfg, ctx);
	explicit_bzero(line, strlen(line));
	g_free(line);
	return pc;
}

void
push_client_free(struct push_client **pcp)
{
	struct push_client *pc = *pcp;

	if (pc == NULL)
		return;
	*pcp = NULL;
	/* Aborts what is in flight: those callbacks never run. */
	httpc_client_free(&pc->hc);
	while (pc->reqs.head != NULL) {
		struct push_req *req = pc->reqs.head->data;

		g_queue_unlink(&pc->reqs, &req->link);
		g_free(req);
	}
	g_free(pc);
}

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
