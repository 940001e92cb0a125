/*
 * testhttp.h - a scripted HTTP/1.1 server on 127.0.0.1 for the unit tests
 * of our HTTP clients (test-push, test-oauth).  It records every request
 * and answers from a script the test sets; it runs on its own threads, so
 * blocking and main-loop clients alike can talk to it.
 */
#ifndef OTPBRIDGE_TESTHTTP_H
#define OTPBRIDGE_TESTHTTP_H

#include <gio/gio.h>

enum testhttp_mode {
	TESTHTTP_REPLY,              /* answer per the script */
	TESTHTTP_NEVER,              /* read each request, never answer */
	TESTHTTP_CLOSE,              /* read each request, close, no reply */
};

/* One request as it came in; the server never changes it once recorded. */
struct testhttp_req {
	char *method;
	char *path;
	char *version;
	GPtrArray *names;            /* header names, lower-cased */
	GPtrArray *values;           /* their values, blanks stripped */
	char *body;                  /* body_len bytes, then a NUL */
	gsize body_len;
	guint conn;                  /* which accepted connection, from 0 */
};

struct testhttp;

/*
 * Starts a server on 127.0.0.1 at a free port, in mode.  Until the script
 * says otherwise it answers every request 200 with {"status":"ok"}.
 * Aborts the test when it cannot listen.  testhttp_free() stops it.
 */
struct testhttp *testhttp_new(enum testhttp_mode mode);

/* Stops the server, joins its threads and frees it and its requests;
 * NULLs *hp. */
void testhttp_free(struct testhttp **hp);

guint16 testhttp_port(const struct testhttp *h);

/* "http://127.0.0.1:<port><path>".  g_malloc'd. */
char *testhttp_url(const struct testhttp *h, const char *path);

/*
 * The script, for the requests still to come.  Statuses: request i (the
 * i-th the server has seen, from 0) gets statuses[i], the last one repeats;
 * status 0 closes the connection without a reply.  The reply body is sent
 * with every status but 204 and 304; 301 also gets a Location header.
 */
void testhttp_set_statuses(struct testhttp *h, const int *statuses, guint n);
void testhttp_set_reply(struct testhttp *h, const void *data, gsize len);
/* Waits ms before each answer. */
void testhttp_set_delay(struct testhttp *h, guint ms);
/* Replies without Content-Length, ends them by closing the connection. */
void testhttp_set_no_length(struct testhttp *h, gboolean on);

/* Requests recorded, and TCP connections accepted, so far. */
guint testhttp_nreqs(struct testhttp *h);
guint testhttp_nconns(struct testhttp *h);

/* Request i (fails the test when there is none yet); owned by h. */
const struct testhttp_req *testhttp_req(struct testhttp *h, guint i);
/* The latest request (fails the test when there is none yet). */
const struct testhttp_req *testhttp_last(struct testhttp *h);

/* The first value of header name (lower case) in r, or NULL; *count, when
 * count is not NULL, gets how often it occurs. */
const char *testhttp_req_header(const struct testhttp_req *r, const char *name,
    guint *count);

/* A socket bound to a free port on 127.0.0.1, never listening, so that
 * connections to *port are refused while it lives.  Unref it to close. */
GSocket *testhttp_refusing(guint16 *port);

#endif
