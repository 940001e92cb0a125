/*
 * test-push.c - push.c against an in-test HTTP/1.1 server on 127.0.0.1:
 * the exact request sent, reply classification, network errors and
 * timeouts, keep-alive reuse, concurrency, bounded and sanitised replies,
 * and freeing the client with requests in flight; and the blocking form
 * POST: the exact body and headers, statuses, errors, timeout, the reply
 * bound, several threads at once.
 *
 * The server (testhttp.c) runs on its own threads, records every request
 * and answers from a per-test script.  The client runs on a private
 * GMainContext; every loop has a watchdog.
 */
#include "autoconfig.h"

#include <string.h>
#include <gio/gio.h>

#include "httpc.h"
#include "push.h"
#include "testhttp.h"
#include "testutil.h"

#define TEST_KEY          "sk-test-\xc3\xa9-key_0123456789"
#define TEST_PATH         "/v1/credentials/totp"
#define WATCHDOG_S        20

/* ---- the client side --------------------------------------------------- */

struct run;

/* What one request's callback saw. */
struct got {
	struct run *run;
	guint idx;
	guint calls;
	int status;
	char *error;
	char *reply;
	gint64 elapsed_us;
};

struct run {
	GMainContext *ctx;
	GMainLoop *loop;
	struct push_client *pc;
	struct got *got;
	guint n;                     /* got[] size */
	guint want;                  /* callbacks until the loop quits */
	guint ndone;
	gboolean timed_out;
	gboolean sequential;         /* each callback sends the next */
	gboolean free_in_cb;         /* the first callback frees the client */
	const char *body;
};

static void run_send(struct run *run, guint i);

static void
got_cb(const struct push_result *r, gpointer data)
{
	struct got *g = data;
	struct run *run = g->run;

	g_assert_nonnull(r->reply);
	g_assert_true(g_utf8_validate(r->reply, -1, NULL));
	g_assert_cmpuint(strlen(r->reply), <=, PUSH_REPLY_MAX);
	if (r->status == 0)
		g_assert_nonnull(r->error);
	g->calls++;
	g->status = r->status;
	g_free(g->error);
	g->error = g_strdup(r->error);
	g_free(g->reply);
	g->reply = g_strdup(r->reply);
	g->elapsed_us = r->elapsed_us;
	run->ndone++;
	if (run->free_in_cb && run->pc != NULL)
		push_client_free(&run->pc);
	if (run->sequential && run->pc != NULL && g->idx + 1 < run->n)
		run_send(run, g->idx + 1);
	if (run->ndone >= run->want)
		g_main_loop_quit(run->loop);
}

/* Sends request i of the run (body: run->body or a numbered object). */
static void
run_send(struct run *run, guint i)
{
	char *body = run->body != NULL ? g_strdup(run->body) :
	    g_strdup_printf("{\"totp_identifier\":\"a@b.example\",\"content\":\"%06u\"}", i);

	push_client_send(run->pc, body, got_cb, &run->got[i]);
	g_free(body);
}

/* push_config.http_private for the clients run_init() makes. */
static gboolean run_http_private;

static void
run_init(struct run *run, const char *url, guint timeout, guint n)
{
	struct push_config cfg = {
		.url = url, .api_key = TEST_KEY, .timeout = timeout, .ca_file = NULL,
		.http_private = run_http_private,
	};
	guint i;

	memset(run, 0, sizeof(*run));
	run->ctx = g_main_context_new();
	run->loop = g_main_loop_new(run->ctx, FALSE);
	run->pc = push_client_new(&cfg, run->ctx);
	g_assert_nonnull(run->pc);
	run->n = n;
	run->want = n;
	run->got = g_new0(struct got, n);
	for (i = 0; i < n; i++) {
		run->got[i].run = run;
		run->got[i].idx = i;
	}
}

static gboolean
watchdog_cb(gpointer data)
{
	struct run *run = data;

	run->timed_out = TRUE;
	g_main_loop_quit(run->loop);
	return G_SOURCE_REMOVE;
}

/* Runs the loop until run->want callbacks came, or fails after seconds. */
static void
run_loop(struct run *run, guint seconds)
{
	GSource *wd = g_timeout_source_new_seconds(seconds);

	g_source_set_callback(wd, watchdog_cb, run, NULL);
	g_source_attach(wd, run->ctx);
	if (run->ndone < run->want)
		g_main_loop_run(run->loop);
	g_source_destroy(wd);
	g_source_unref(wd);
	if (run->timed_out)
		g_test_message("watchdog fired after %u s (%u of %u callbacks)",
		    seconds, run->ndone, run->want);
	g_assert_false(run->timed_out);
}

static gboolean
quit_cb(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

/* Iterates the context for ms milliseconds (stray events show up here). */
static void
run_idle(struct run *run, guint ms)
{
	GSource *t = g_timeout_source_new(ms);

	g_source_set_callback(t, quit_cb, run->loop, NULL);
	g_source_attach(t, run->ctx);
	g_main_loop_run(run->loop);
	g_source_destroy(t);
	g_source_unref(t);
}

/* Iterates the context until srv has seen n requests (watchdog bounded). */
static void
run_until_server_has(struct run *run, struct testhttp *srv, guint n)
{
	gint64 deadline = g_get_monotonic_time() + WATCHDOG_S * G_USEC_PER_SEC;

	while (testhttp_nreqs(srv) < n) {
		g_assert_cmpint(g_get_monotonic_time(), <, deadline);
		run_idle(run, 10);
	}
}

static void
run_fini(struct run *run)
{
	guint i;

	push_client_free(&run->pc);
	g_assert_null(run->pc);
	for (i = 0; i < run->n; i++) {
		g_free(run->got[i].error);
		g_free(run->got[i].reply);
	}
	g_free(run->got);
	g_main_loop_unref(run->loop);
	g_main_context_unref(run->ctx);
}

/* Sends one request to url and runs the loop until its callback came. */
static void
run_one(struct run *run, const char *url, guint timeout)
{
	run_init(run, url, timeout, 1);
	run_send(run, 0);
	g_assert_cmpuint(run->got[0].calls, ==, 0);   /* never synchronous */
	run_loop(run, WATCHDOG_S);
}

/* g saw no reply: one callback, status 0 with curl's words, RETRY. */
static void
check_no_reply(const struct got *g)
{
	g_assert_cmpuint(g->calls, ==, 1);
	g_assert_cmpint(g->status, ==, 0);
	g_assert_nonnull(g->error);
	g_assert_cmpstr(g->error, !=, "");
	g_assert_cmpint(push_classify(g->status), ==, PUSH_RETRY);
}

/* size bytes "abc...zabc...", no NUL added.  g_malloc'd. */
static char *
letters(gsize size)
{
	char *p = g_malloc(size);

	for (gsize i = 0; i < size; i++)
		p[i] = (char)('a' + i % 26);
	return p;
}

/* The bodies of the n requests srv saw, as a set; no two the same. */
static GHashTable *
bodies_seen(struct testhttp *srv, guint n)
{
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	g_assert_cmpuint(testhttp_nreqs(srv), ==, n);
	for (guint i = 0; i < n; i++) {
		const struct testhttp_req *r = testhttp_req(srv, i);

		g_assert_true(g_hash_table_add(seen, g_strndup(r->body, r->body_len)));
	}
	return seen;
}

/* ---- tests ------------------------------------------------------------- */

struct classify_case {
	int status;
	enum push_outcome want;
};

static const struct classify_case classify_cases[] = {
	{ 0, PUSH_RETRY }, { -1, PUSH_FAIL }, { 100, PUSH_FAIL }, { 101, PUSH_FAIL },
	{ 199, PUSH_FAIL }, { 200, PUSH_DONE }, { 201, PUSH_DONE }, { 202, PUSH_DONE },
	{ 204, PUSH_DONE }, { 299, PUSH_DONE }, { 300, PUSH_FAIL }, { 301, PUSH_FAIL },
	{ 302, PUSH_FAIL }, { 304, PUSH_FAIL }, { 399, PUSH_FAIL }, { 400, PUSH_FAIL },
	{ 401, PUSH_FAIL }, { 402, PUSH_FAIL }, { 403, PUSH_FAIL }, { 404, PUSH_FAIL },
	{ 407, PUSH_FAIL }, { 408, PUSH_RETRY }, { 409, PUSH_FAIL }, { 413, PUSH_FAIL },
	{ 422, PUSH_FAIL }, { 428, PUSH_FAIL }, { 429, PUSH_RETRY }, { 430, PUSH_FAIL },
	{ 499, PUSH_FAIL }, { 500, PUSH_RETRY }, { 501, PUSH_RETRY }, { 502, PUSH_RETRY },
	{ 503, PUSH_RETRY }, { 504, PUSH_RETRY }, { 599, PUSH_RETRY }, { 600, PUSH_FAIL },
	{ 999, PUSH_FAIL },
};

static void
test_classify(void)
{
	guint i;

	for (i = 0; i < G_N_ELEMENTS(classify_cases); i++) {
		g_test_message("status %d", classify_cases[i].status);
		g_assert_cmpint(push_classify(classify_cases[i].status), ==,
		    classify_cases[i].want);
	}
}

/* The request on the wire: method, path, headers and body byte-exact. */
static void
test_request(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;
	GString *big = g_string_new("{\"content\":\"");
	const char *bodies[3];
	guint i;

	/* Above curl's threshold for "Expect: 100-continue" (1 MiB). */
	while (big->len < 1100 * 1024)
		g_string_append(big, "0123456789 \\u00e9 \xc3\xa9 \\\"x\\\" ");
	g_string_append(big, "\"}");
	bodies[0] = "{\"totp_identifier\":\"bot@example.com\",\"content\":\"123456\","
	    "\"source\":\"email\",\"expired_at\":\"2026-08-01T10:00:00\"}";
	bodies[1] = big->str;
	bodies[2] = "";

	run_init(&run, url, 10, 3);
	run.body = bodies[0];
	run.want = 1;
	run_send(&run, 0);
	g_assert_cmpuint(run.got[0].calls, ==, 0);   /* never synchronous */
	g_assert_cmpuint(push_client_active(run.pc), ==, 1);
	run_loop(&run, WATCHDOG_S);
	for (i = 1; i < 3; i++) {
		run.want = i + 1;
		run.body = bodies[i];
		run_send(&run, i);
		run_loop(&run, WATCHDOG_S);
	}
	g_assert_cmpuint(push_client_active(run.pc), ==, 0);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 3);
	for (i = 0; i < 3; i++) {
		const struct testhttp_req *r = testhttp_req(srv, i);
		guint count;

		g_assert_cmpuint(run.got[i].calls, ==, 1);
		g_assert_cmpint(run.got[i].status, ==, 200);
		g_assert_cmpstr(r->method, ==, "POST");
		g_assert_cmpstr(r->path, ==, TEST_PATH);
		g_assert_cmpstr(r->version, ==, "HTTP/1.1");
		g_assert_cmpstr(testhttp_req_header(r, "x-api-key", &count), ==, TEST_KEY);
		g_assert_cmpuint(count, ==, 1);
		g_assert_cmpstr(testhttp_req_header(r, "content-type", &count), ==,
		    "application/json");
		g_assert_cmpuint(count, ==, 1);
		g_assert_cmpstr(testhttp_req_header(r, "accept", &count), ==,
		    "application/json");
		g_assert_cmpuint(count, ==, 1);
		g_assert_null(testhttp_req_header(r, "expect", NULL));
		g_assert_null(testhttp_req_header(r, "transfer-encoding", NULL));
		g_assert_nonnull(testhttp_req_header(r, "user-agent", NULL));
		g_assert_cmpuint(r->body_len, ==, strlen(bodies[i]));
		g_assert_true(r->body_len == 0 || memcmp(r->body, bodies[i], r->body_len) == 0);
	}
	run_fini(&run);
	testhttp_free(&srv);
	g_string_free(big, TRUE);
	g_free(url);
}

/* A 200 reply's body reaches the callback, unchanged. */
static void
test_reply(void)
{
	static const char reply[] =
	    "{\"id\":\"totp_1\",\"code\":\"123456\",\"status\":\"stored\",\"x\":\"\xc3\xa9\"}";
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;

	testhttp_set_reply(srv, reply, strlen(reply));
	run_one(&run, url, 10);
	g_assert_cmpuint(run.got[0].calls, ==, 1);
	g_assert_cmpint(run.got[0].status, ==, 200);
	g_assert_cmpint(push_classify(run.got[0].status), ==, PUSH_DONE);
	g_assert_cmpstr(run.got[0].reply, ==, reply);
	g_assert_cmpint(run.got[0].elapsed_us, >=, 0);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* Each status comes back as is and classifies per SPEC 1.1. */
static void
test_statuses(void)
{
	static const int statuses[] = {
		200, 201, 204, 400, 401, 402, 403, 404, 408, 422, 429,
		500, 502, 503, 504, 301, 200,
	};
	const guint n = G_N_ELEMENTS(statuses);
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;
	guint i;

	testhttp_set_statuses(srv, statuses, n);
	run_init(&run, url, 10, n);
	run.sequential = TRUE;
	run_send(&run, 0);
	run_loop(&run, WATCHDOG_S);
	/* One request per send: 301 was not followed, nothing was retried. */
	g_assert_cmpuint(testhttp_nreqs(srv), ==, n);
	for (i = 0; i < n; i++) {
		g_test_message("status %d", statuses[i]);
		g_assert_cmpuint(run.got[i].calls, ==, 1);
		g_assert_cmpint(run.got[i].status, ==, statuses[i]);
		g_assert_cmpint(push_classify(run.got[i].status), ==,
		    push_classify(statuses[i]));
		g_assert_cmpstr(testhttp_req(srv, i)->path, ==, TEST_PATH);
		if (statuses[i] != 204)
			g_assert_cmpstr(run.got[i].reply, ==, "{\"status\":\"ok\"}");
		else
			g_assert_cmpstr(run.got[i].reply, ==, "");
	}
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* The server closes without a reply: status 0, an error, RETRY. */
static void
test_no_reply(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_CLOSE);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;

	run_one(&run, url, 10);
	check_no_reply(&run.got[0]);
	g_assert_cmpstr(run.got[0].reply, ==, "");
	g_assert_cmpuint(testhttp_nreqs(srv), >=, 1);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* Nothing listens: status 0 with curl's words, RETRY. */
static void
test_refused(void)
{
	guint16 port;
	GSocket *s = testhttp_refusing(&port);
	char *url = g_strdup_printf("http://127.0.0.1:%u" TEST_PATH, port);
	struct run run;

	run_one(&run, url, 10);
	check_no_reply(&run.got[0]);
	run_fini(&run);
	g_object_unref(s);
	g_free(url);
}

/* The server never answers: status 0 after about the timeout, RETRY. */
static void
test_timeout(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_NEVER);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;

	run_one(&run, url, 1);
	check_no_reply(&run.got[0]);
	g_assert_cmpint(run.got[0].elapsed_us, >=, 900 * 1000);
	g_assert_cmpint(run.got[0].elapsed_us, <, 15 * G_USEC_PER_SEC);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* 100 requests one after another share one or two connections. */
static void
test_reuse(void)
{
	const guint n = 100;
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;
	guint i;

	run_init(&run, url, 10, n);
	run.sequential = TRUE;
	run_send(&run, 0);
	run_loop(&run, WATCHDOG_S);
	for (i = 0; i < n; i++) {
		g_assert_cmpuint(run.got[i].calls, ==, 1);
		g_assert_cmpint(run.got[i].status, ==, 200);
	}
	g_assert_cmpuint(testhttp_nreqs(srv), ==, n);
	g_test_message("%u requests over %u connections", n, testhttp_nconns(srv));
	g_assert_cmpuint(testhttp_nconns(srv), >=, 1);
	g_assert_cmpuint(testhttp_nconns(srv), <=, 2);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* The default-priority work of test_before_default_work: it stands for a
 * busy loop turn (sessions, a commit) and notes how many requests had
 * reached the server by the time the loop first turned to it. */
struct busy {
	struct testhttp *srv;
	guint want;                  /* requests the server should see */
	guint dispatched;
	guint nreqs_first;
};

static gboolean
busy_cb(gpointer data)
{
	struct busy *b = data;
	gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

	if (b->dispatched++ == 0) {
		/* Single-threaded: nothing is sent while we wait here. */
		while (testhttp_nreqs(b->srv) < b->want && g_get_monotonic_time() < end)
			g_usleep(1000);
		b->nreqs_first = testhttp_nreqs(b->srv);
	}
	return G_SOURCE_CONTINUE;
}

/*
 * Pushes never wait behind the loop's other work: with a default-priority
 * source ready all the time (a busy daemon), the client's sources run
 * first.  The second request goes over the first one's connection, so
 * curl writes it as soon as its timer runs: it is on the wire before the
 * other work is first dispatched (or even answered).  At the same
 * priority that work would run first (it was attached first) and the
 * request would wait for it.
 */
static void
test_before_default_work(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct busy b = { srv, 2, 0, 0 };
	GSource *work;
	struct run run;

	run_init(&run, url, 10, 2);
	run.want = 1;
	run_send(&run, 0);
	run_loop(&run, WATCHDOG_S);
	g_assert_cmpuint(run.got[0].calls, ==, 1);
	work = g_idle_source_new();
	g_source_set_priority(work, G_PRIORITY_DEFAULT);
	g_source_set_callback(work, busy_cb, &b, NULL);
	g_source_attach(work, run.ctx);
	run.want = 2;
	run_send(&run, 1);
	run_loop(&run, WATCHDOG_S);
	g_assert_cmpuint(run.got[1].calls, ==, 1);
	g_assert_cmpint(run.got[1].status, ==, 200);
	g_assert_cmpuint(testhttp_nconns(srv), ==, 1);
	/* Not dispatched at all: the push was over before the work ran. */
	if (b.dispatched > 0)
		g_assert_cmpuint(b.nreqs_first, ==, 2);
	g_source_destroy(work);
	g_source_unref(work);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* 50 requests at once: all complete, each callback exactly once. */
static void
test_concurrent(void)
{
	const guint n = 50;
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;
	GHashTable *seen;
	guint i;

	testhttp_set_delay(srv, 20);      /* keep them overlapping */
	run_init(&run, url, 15, n);
	for (i = 0; i < n; i++)
		run_send(&run, i);
	g_assert_cmpuint(push_client_active(run.pc), ==, n);
	run_loop(&run, WATCHDOG_S);
	g_assert_cmpuint(push_client_active(run.pc), ==, 0);
	for (i = 0; i < n; i++) {
		g_assert_cmpuint(run.got[i].calls, ==, 1);
		g_assert_cmpint(run.got[i].status, ==, 200);
	}
	/* Stray second callbacks would show up here. */
	run_idle(&run, 100);
	for (i = 0; i < n; i++)
		g_assert_cmpuint(run.got[i].calls, ==, 1);
	g_assert_cmpuint(run.ndone, ==, n);
	seen = bodies_seen(srv, n);
	for (i = 0; i < n; i++) {
		char *want = g_strdup_printf(
		    "{\"totp_identifier\":\"a@b.example\",\"content\":\"%06u\"}", i);

		g_assert_true(g_hash_table_contains(seen, want));
		g_free(want);
	}
	g_test_message("%u concurrent requests over %u connections", n, testhttp_nconns(srv));
	g_assert_cmpuint(testhttp_nconns(srv), <=, 16);
	g_hash_table_unref(seen);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* A 1 MB reply is cut to PUSH_REPLY_MAX; the connection stays usable. */
static void
test_large_reply(void)
{
	const gsize size = 1024 * 1024;
	char *big = letters(size);
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;
	gsize i;

	testhttp_set_reply(srv, big, size);
	run_init(&run, url, 15, 2);
	run.sequential = TRUE;
	run_send(&run, 0);
	run_loop(&run, WATCHDOG_S);
	for (i = 0; i < 2; i++) {
		g_assert_cmpuint(run.got[i].calls, ==, 1);
		g_assert_cmpint(run.got[i].status, ==, 200);
		g_assert_cmpuint(strlen(run.got[i].reply), ==, PUSH_REPLY_MAX);
		g_assert_true(memcmp(run.got[i].reply, big, PUSH_REPLY_MAX) == 0);
	}
	g_assert_cmpuint(testhttp_nconns(srv), ==, 1);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
	g_free(big);
}

/*
 * A reply body past PUSH_DISCARD_MAX is not read to its end, but the
 * status line before it stands: a 2xx is a delivery (retrying would push
 * the code again), another status is classified as usual.
 */
static void
test_huge_reply(void)
{
	static const int statuses[] = { 200, 201, 400, 502 };
	const gsize size = PUSH_DISCARD_MAX + 64 * 1024;
	char *big = letters(size);

	for (guint i = 0; i < G_N_ELEMENTS(statuses); i++) {
		struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
		char *url = testhttp_url(srv, TEST_PATH);
		struct run run;

		testhttp_set_statuses(srv, &statuses[i], 1);
		testhttp_set_reply(srv, big, size);
		run_one(&run, url, 15);
		g_assert_cmpuint(run.got[0].calls, ==, 1);
		g_assert_cmpint(run.got[0].status, ==, statuses[i]);
		g_assert_null(run.got[0].error);
		g_assert_cmpuint(strlen(run.got[0].reply), ==, PUSH_REPLY_MAX);
		g_assert_true(memcmp(run.got[0].reply, big, PUSH_REPLY_MAX) == 0);
		g_assert_cmpuint(testhttp_nreqs(srv), ==, 1);
		run_fini(&run);
		testhttp_free(&srv);
		g_free(url);
	}
	g_assert_cmpint(push_classify(200), ==, PUSH_DONE);
	g_free(big);
}

struct utf8_case {
	const char *reply;
	gsize len;
	const char *want;            /* NULL: only check validity and bounds */
};

/* Invalid UTF-8 (and NULs) come back valid; a cut sequence is dropped. */
static void
test_utf8(void)
{
	static const char bad[] = "ok \xff\xfe \xc3\x28 \0 \xed\xa0\x80 end \xe2\x82";
	static const char good[] = "ok \xe2\x82\xac \xf0\x9f\x94\x91 end";
	GString *cut = g_string_new(NULL);
	GString *all_bad = g_string_new(NULL);
	GString *want_cut = g_string_new(NULL);
	GString *cut4 = g_string_new(NULL);
	GString *want_cut4 = g_string_new(NULL);
	struct utf8_case cases[6];
	struct testhttp *srv;
	guint i;

	while (cut->len < PUSH_REPLY_MAX - 1)
		g_string_append_c(cut, 'a');
	g_string_append(want_cut, cut->str);
	g_string_append(cut, "\xc3\xa9zzz");       /* é straddles the limit */
	while (cut4->len < PUSH_REPLY_MAX - 3)
		g_string_append_c(cut4, 'b');
	g_string_append(want_cut4, cut4->str);
	g_string_append(cut4, "\xf0\x9f\x94\x91");   /* 3 of its 4 bytes fit */
	while (all_bad->len < 3 * PUSH_REPLY_MAX)
		g_string_append_c(all_bad, '\xff');

	cases[0] = (struct utf8_case){ bad, sizeof(bad) - 1, NULL };
	cases[1] = (struct utf8_case){ good, sizeof(good) - 1, good };
	cases[2] = (struct utf8_case){ cut->str, cut->len, want_cut->str };
	cases[3] = (struct utf8_case){ all_bad->str, all_bad->len, NULL };
	cases[4] = (struct utf8_case){ "\xf0\x9f", 2, "\xef\xbf\xbd\xef\xbf\xbd" };
	cases[5] = (struct utf8_case){ cut4->str, cut4->len, want_cut4->str };

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *url;
		struct run run;
		const char *got;

		g_test_message("utf8 case %u", i);
		srv = testhttp_new(TESTHTTP_REPLY);
		url = testhttp_url(srv, TEST_PATH);
		testhttp_set_reply(srv, cases[i].reply, cases[i].len);
		run_one(&run, url, 10);
		g_assert_cmpuint(run.got[0].calls, ==, 1);
		g_assert_cmpint(run.got[0].status, ==, 200);
		got = run.got[0].reply;
		g_assert_true(g_utf8_validate(got, -1, NULL));
		g_assert_cmpuint(strlen(got), <=, PUSH_REPLY_MAX);
		if (cases[i].want != NULL)
			g_assert_cmpstr(got, ==, cases[i].want);
		if (i == 0) {
			g_assert_true(g_str_has_prefix(got, "ok "));
			g_assert_nonnull(strstr(got, " end "));
			g_assert_nonnull(strstr(got, "\xef\xbf\xbd"));
		}
		if (i == 3)
			g_assert_true(g_str_has_prefix(got, "\xef\xbf\xbd\xef\xbf\xbd"));
		run_fini(&run);
		testhttp_free(&srv);
		g_free(url);
	}
	g_string_free(cut, TRUE);
	g_string_free(all_bad, TRUE);
	g_string_free(want_cut, TRUE);
	g_string_free(cut4, TRUE);
	g_string_free(want_cut4, TRUE);
}

/* Freed with requests on the wire: no callback, nothing left behind. */
static void
test_free_in_flight(void)
{
	const guint n = 10;
	struct testhttp *srv = testhttp_new(TESTHTTP_NEVER);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;
	guint i;

	run_init(&run, url, 30, n);
	for (i = 0; i < n; i++)
		run_send(&run, i);
	run_until_server_has(&run, srv, n);
	g_assert_cmpuint(push_client_active(run.pc), ==, n);
	push_client_free(&run.pc);
	g_assert_null(run.pc);
	/* Any source left on the context would fire on freed memory here. */
	run_idle(&run, 300);
	g_assert_cmpuint(run.ndone, ==, 0);
	for (i = 0; i < n; i++)
		g_assert_cmpuint(run.got[i].calls, ==, 0);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* Freed right after sending, before the loop ran at all. */
static void
test_free_unstarted(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;
	guint i;

	run_init(&run, url, 10, 5);
	for (i = 0; i < 5; i++)
		run_send(&run, i);
	push_client_free(&run.pc);
	run_idle(&run, 300);
	g_assert_cmpuint(run.ndone, ==, 0);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* A callback frees the client: no other callback runs afterwards. */
static void
test_free_in_callback(void)
{
	const guint n = 8;
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct run run;
	guint i, calls = 0;

	run_init(&run, url, 10, n);
	run.free_in_cb = TRUE;
	run.want = 1;
	for (i = 0; i < n; i++)
		run_send(&run, i);
	run_loop(&run, WATCHDOG_S);
	g_assert_null(run.pc);
	run_idle(&run, 300);
	for (i = 0; i < n; i++)
		calls += run.got[i].calls;
	g_assert_cmpuint(calls, ==, 1);
	g_assert_cmpuint(run.ndone, ==, 1);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* Only http and https: other schemes and bad URLs fail with status 0. */
static void
test_bad_urls(void)
{
	static const char *const urls[] = {
		"file:///etc/passwd",
		"ftp://127.0.0.1:1/x",
		"gopher://127.0.0.1:1/x",
		"dict://127.0.0.1:1/x",
		"http://[::1",
		"",
	};
	guint i;

	for (i = 0; i < G_N_ELEMENTS(urls); i++) {
		struct run run;

		g_test_message("url '%s'", urls[i]);
		run_one(&run, urls[i], 5);
		check_no_reply(&run.got[0]);
		g_assert_cmpstr(run.got[0].reply, ==, "");
		run_fini(&run);
	}
}

/*
 * Plain http connects only to loopback (or, http_private, private)
 * addresses, judged on the address: 0.0.0.0 reaches this machine's
 * listeners on Linux (checked first, so the refusal below is ours) but is
 * neither, so nothing is sent, whatever the scope; 127.0.0.1 is served.
 */
static void
test_http_scope(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *any = g_strdup_printf("http://0.0.0.0:%u" TEST_PATH,
	    testhttp_port(srv));
	g_autofree char *lo = g_strdup_printf("http://127.0.0.1:%u" TEST_PATH,
	    testhttp_port(srv));
	g_autoptr(GSocketClient) sc = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) err = NULL;

	conn = g_socket_client_connect_to_host(sc, "0.0.0.0", testhttp_port(srv), NULL, &err);
	g_assert_no_error(err);
	g_assert_nonnull(conn);
	g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
	for (guint private_ok = 0; private_ok < 2; private_ok++) {
		struct run run;
		guint before = testhttp_nreqs(srv);

		run_http_private = private_ok;
		run_one(&run, any, 5);
		check_no_reply(&run.got[0]);
		g_assert_cmpuint(testhttp_nreqs(srv), ==, before);
		run_fini(&run);
		run_one(&run, lo, 5);
		g_assert_cmpint(run.got[0].status, ==, 200);
		g_assert_cmpuint(testhttp_nreqs(srv), ==, before + 1);
		run_fini(&run);
	}
	run_http_private = FALSE;
	testhttp_free(&srv);
}

/* https to a plain-HTTP server: the TLS handshake fails, status 0. */
static void
test_tls_to_plain(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = g_strdup_printf("https://127.0.0.1:%u" TEST_PATH, testhttp_port(srv));
	struct run run;

	run_one(&run, url, 10);
	check_no_reply(&run.got[0]);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 0);
	run_fini(&run);
	testhttp_free(&srv);
	g_free(url);
}

/* ---- the blocking form POST -------------------------------------------- */

/* What one httpc_form_post() returned. */
struct form_got {
	int ret;
	int status;
	char *reply;
	gsize reply_len;
	char *err;
	gint64 elapsed_us;
};

static void
form_got_clear(struct form_got *g)
{
	g_free(g->reply);
	g_free(g->err);
	memset(g, 0, sizeof(*g));
}

/* Calls httpc_form_post() and checks the contract common to all calls. */
static void
form_post(const char *url, const char *const *fields, guint timeout_s,
    gsize reply_max, struct form_got *g)
{
	gint64 start = g_get_monotonic_time();

	memset(g, 0, sizeof(*g));
	g->status = -2;
	g->reply = (char *)"junk";
	g->reply_len = 12345;
	g->err = (char *)"junk";
	g->ret = httpc_form_post(url, fields, timeout_s, reply_max, &g->status,
	    &g->reply, &g->reply_len, &g->err);
	g->elapsed_us = g_get_monotonic_time() - start;
	if (g->ret == 0) {
		g_assert_null(g->err);
		g_assert_nonnull(g->reply);
		g_assert_cmpint(g->status, >=, 100);
		g_assert_cmpint(g->status, <=, 999);
		g_assert_cmpuint(g->reply_len, <=, reply_max);
		g_assert_true(g->reply[g->reply_len] == '\0');
	} else {
		g_assert_cmpint(g->ret, ==, -1);
		g_assert_null(g->reply);
		g_assert_cmpuint(g->reply_len, ==, 0);
		g_assert_cmpint(g->status, ==, 0);
		g_assert_nonnull(g->err);
		g_assert_cmpstr(g->err, !=, "");
	}
}

/* The request on the wire: every byte of the body, the headers. */
static void
test_form_request(void)
{
	static const char *const fields[] = {
		"grant_type", "refresh_token",
		"refresh_token", "1//0g-a&b=c+d e/\xc3\xa9~._%",
		"scope", "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
		"empty", "",
		"na me&=", "v\r\nX-Injected: 1",
		NULL,
	};
	static const char want[] =
	    "grant_type=refresh_token"
	    "&refresh_token=1%2F%2F0g-a%26b%3Dc%2Bd%20e%2F%C3%A9~._%25"
	    "&scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All%20offline_access"
	    "&empty="
	    "&na%20me%26%3D=v%0D%0AX-Injected%3A%201";
	static const char reply[] = "{\"access_token\":\"ya29.x\",\"n\":\"\xc3\xa9\"}";
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct form_got g;
	const struct testhttp_req *r;
	guint count;

	testhttp_set_reply(srv, reply, sizeof(reply) - 1);
	form_post(url, fields, 10, 65536, &g);
	g_assert_cmpint(g.ret, ==, 0);
	g_assert_cmpint(g.status, ==, 200);
	g_assert_cmpuint(g.reply_len, ==, sizeof(reply) - 1);
	g_assert_cmpstr(g.reply, ==, reply);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 1);
	r = testhttp_req(srv, 0);
	g_assert_cmpstr(r->method, ==, "POST");
	g_assert_cmpstr(r->path, ==, TEST_PATH);
	g_assert_cmpstr(r->version, ==, "HTTP/1.1");
	g_assert_cmpstr(testhttp_req_header(r, "content-type", &count), ==,
	    "application/x-www-form-urlencoded");
	g_assert_cmpuint(count, ==, 1);
	g_assert_cmpstr(testhttp_req_header(r, "accept", &count), ==, "application/json");
	g_assert_cmpuint(count, ==, 1);
	g_assert_null(testhttp_req_header(r, "expect", NULL));
	g_assert_null(testhttp_req_header(r, "transfer-encoding", NULL));
	g_assert_null(testhttp_req_header(r, "x-injected", NULL));
	g_assert_null(testhttp_req_header(r, "x-api-key", NULL));
	g_assert_nonnull(testhttp_req_header(r, "user-agent", NULL));
	g_assert_cmpuint(r->body_len, ==, sizeof(want) - 1);
	g_assert_true(memcmp(r->body, want, r->body_len) == 0);
	form_got_clear(&g);
	testhttp_free(&srv);
	g_free(url);
}

/* No fields: an empty body; fields not in pairs: refused, nothing sent. */
static void
test_form_fields(void)
{
	static const char *const none[] = { NULL };
	static const char *const odd[] = { "a", "1", "b", NULL };
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct form_got g;

	form_post(url, none, 10, 1024, &g);
	g_assert_cmpint(g.ret, ==, 0);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 1);
	g_assert_cmpuint(testhttp_req(srv, 0)->body_len, ==, 0);
	g_assert_cmpstr(testhttp_req_header(testhttp_req(srv, 0), "content-length", NULL), ==, "0");
	form_got_clear(&g);

	form_post(url, odd, 10, 1024, &g);
	g_assert_cmpint(g.ret, ==, -1);
	g_assert_cmpstr(g.err, ==, "form fields must come in name, value pairs");
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 1);
	form_got_clear(&g);
	testhttp_free(&srv);
	g_free(url);
}

/* Every status comes back as is with its body; 301 is not followed. */
static void
test_form_statuses(void)
{
	static const int statuses[] = { 200, 201, 204, 301, 400, 401, 403, 404,
		429, 500, 502, 503 };
	static const char *const fields[] = { "a", "b", NULL };
	static const char reply[] = "{\"error\":\"invalid_grant\"}";
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	guint i;

	testhttp_set_reply(srv, reply, sizeof(reply) - 1);
	testhttp_set_statuses(srv, statuses, G_N_ELEMENTS(statuses));
	for (i = 0; i < G_N_ELEMENTS(statuses); i++) {
		struct form_got g;

		g_test_message("status %d", statuses[i]);
		form_post(url, fields, 10, 1024, &g);
		g_assert_cmpint(g.ret, ==, 0);
		g_assert_cmpint(g.status, ==, statuses[i]);
		g_assert_cmpstr(g.reply, ==, statuses[i] == 204 ? "" : reply);
		form_got_clear(&g);
	}
	g_assert_cmpuint(testhttp_nreqs(srv), ==, G_N_ELEMENTS(statuses));
	for (i = 0; i < G_N_ELEMENTS(statuses); i++)
		g_assert_cmpstr(testhttp_req(srv, i)->path, ==, TEST_PATH);
	testhttp_free(&srv);
	g_free(url);
}

/* Nothing listens: -1 with curl's words. */
static void
test_form_refused(void)
{
	static const char *const fields[] = { "refresh_token", "SECRET-rt", NULL };
	guint16 port;
	GSocket *s = testhttp_refusing(&port);
	char *url = g_strdup_printf("http://127.0.0.1:%u" TEST_PATH, port);
	struct form_got g;

	form_post(url, fields, 10, 1024, &g);
	g_test_message("error: %s", g.err);
	g_assert_cmpint(g.ret, ==, -1);
	g_assert_null(strstr(g.err, "SECRET"));
	form_got_clear(&g);
	g_object_unref(s);
	g_free(url);
}

/* The server closes without a reply: -1. */
static void
test_form_no_reply(void)
{
	static const char *const fields[] = { "a", "b", NULL };
	struct testhttp *srv = testhttp_new(TESTHTTP_CLOSE);
	char *url = testhttp_url(srv, TEST_PATH);
	struct form_got g;

	form_post(url, fields, 10, 1024, &g);
	g_assert_cmpint(g.ret, ==, -1);
	form_got_clear(&g);
	testhttp_free(&srv);
	g_free(url);
}

/* The server never answers: -1 after about the timeout. */
static void
test_form_timeout(void)
{
	static const char *const fields[] = { "a", "b", NULL };
	struct testhttp *srv = testhttp_new(TESTHTTP_NEVER);
	char *url = testhttp_url(srv, TEST_PATH);
	struct form_got g;

	form_post(url, fields, 1, 1024, &g);
	g_test_message("error: %s", g.err);
	g_assert_cmpint(g.ret, ==, -1);
	g_assert_cmpint(g.elapsed_us, >=, 900 * 1000);
	g_assert_cmpint(g.elapsed_us, <, 15 * G_USEC_PER_SEC);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 1);
	form_got_clear(&g);
	testhttp_free(&srv);
	g_free(url);
}

/* A reply of exactly reply_max bytes is whole; one more is refused,
 * whether announced by Content-Length or not. */
static void
test_form_reply_max(void)
{
	static const char *const fields[] = { "a", "b", NULL };
	const gsize size = 100000;
	char *big = letters(size);
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct form_got g;
	gsize i;

	big[10] = '\0';             /* raw bytes come back raw */
	testhttp_set_reply(srv, big, size);
	for (i = 0; i < 2; i++) {
		testhttp_set_no_length(srv, i == 1);
		g_test_message("%s", i == 0 ? "with Content-Length" : "close-delimited");
		form_post(url, fields, 10, size, &g);
		g_assert_cmpint(g.ret, ==, 0);
		g_assert_cmpint(g.status, ==, 200);
		g_assert_cmpuint(g.reply_len, ==, size);
		g_assert_true(memcmp(g.reply, big, size) == 0);
		form_got_clear(&g);

		form_post(url, fields, 10, size - 1, &g);
		g_assert_cmpint(g.ret, ==, -1);
		g_assert_cmpstr(g.err, ==, "reply larger than 99999 bytes");
		form_got_clear(&g);

		form_post(url, fields, 10, 0, &g);
		g_assert_cmpint(g.ret, ==, -1);
		g_assert_cmpstr(g.err, ==, "reply larger than 0 bytes");
		form_got_clear(&g);
	}
	testhttp_free(&srv);
	g_free(url);
	g_free(big);
}

/* Only http and https, and a malformed URL, fail before any request. */
static void
test_form_bad_urls(void)
{
	static const char *const urls[] = {
		"file:///etc/passwd", "ftp://127.0.0.1:1/x", "dict://127.0.0.1:1/x",
		"http://[::1", "",
	};
	static const char *const fields[] = { "a", "b", NULL };
	guint i;

	for (i = 0; i < G_N_ELEMENTS(urls); i++) {
		struct form_got g;

		g_test_message("url '%s'", urls[i]);
		form_post(urls[i], fields, 5, 1024, &g);
		g_assert_cmpint(g.ret, ==, -1);
		form_got_clear(&g);
	}
}

/* https to a plain-HTTP server: the handshake fails, nothing is sent. */
static void
test_form_tls_to_plain(void)
{
	static const char *const fields[] = { "a", "b", NULL };
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = g_strdup_printf("https://127.0.0.1:%u" TEST_PATH, testhttp_port(srv));
	struct form_got g;

	form_post(url, fields, 10, 1024, &g);
	g_assert_cmpint(g.ret, ==, -1);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 0);
	form_got_clear(&g);
	testhttp_free(&srv);
	g_free(url);
}

struct form_thread {
	const char *url;
	char *value;
	int ret;
	int status;
};

static gpointer
form_thread_main(gpointer data)
{
	struct form_thread *t = data;
	const char *fields[] = { "n", t->value, NULL };
	char *reply = NULL, *err = NULL;
	gsize len = 0;

	t->ret = httpc_form_post(t->url, fields, 10, 1024, &t->status, &reply,
	    &len, &err);
	g_free(reply);
	g_free(err);
	return NULL;
}

/* Threads post at once, no main loop anywhere: each gets its reply. */
static void
test_form_threads(void)
{
	enum { NTHREADS = 8 };
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	char *url = testhttp_url(srv, TEST_PATH);
	struct form_thread t[NTHREADS];
	GThread *th[NTHREADS];
	GHashTable *seen;
	guint i;

	testhttp_set_delay(srv, 50);      /* keep them overlapping */
	for (i = 0; i < NTHREADS; i++) {
		t[i].url = url;
		t[i].value = g_strdup_printf("%u", i);
		t[i].ret = -2;
		th[i] = g_thread_new("form", form_thread_main, &t[i]);
	}
	for (i = 0; i < NTHREADS; i++) {
		g_thread_join(th[i]);
		g_assert_cmpint(t[i].ret, ==, 0);
		g_assert_cmpint(t[i].status, ==, 200);
	}
	seen = bodies_seen(srv, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		char *want = g_strdup_printf("n=%u", i);

		g_assert_true(g_hash_table_contains(seen, want));
		g_free(want);
		g_free(t[i].value);
	}
	g_hash_table_unref(seen);
	testhttp_free(&srv);
	g_free(url);
}

int
main(int argc, char **argv)
{
	testutil_no_proxy();
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/push/classify", test_classify);
	g_test_add_func("/push/request", test_request);
	g_test_add_func("/push/reply", test_reply);
	g_test_add_func("/push/statuses", test_statuses);
	g_test_add_func("/push/no-reply", test_no_reply);
	g_test_add_func("/push/refused", test_refused);
	g_test_add_func("/push/timeout", test_timeout);
	g_test_add_func("/push/reuse", test_reuse);
	g_test_add_func("/push/concurrent", test_concurrent);
	g_test_add_func("/push/before-default-work", test_before_default_work);
	g_test_add_func("/push/large-reply", test_large_reply);
	g_test_add_func("/push/huge-reply", test_huge_reply);
	g_test_add_func("/push/utf8", test_utf8);
	g_test_add_func("/push/free-in-flight", test_free_in_flight);
	g_test_add_func("/push/free-unstarted", test_free_unstarted);
	g_test_add_func("/push/free-in-callback", test_free_in_callback);
	g_test_add_func("/push/bad-urls", test_bad_urls);
	g_test_add_func("/push/http-scope", test_http_scope);
	g_test_add_func("/push/tls-to-plain", test_tls_to_plain);
	g_test_add_func("/push/form/request", test_form_request);
	g_test_add_func("/push/form/fields", test_form_fields);
	g_test_add_func("/push/form/statuses", test_form_statuses);
	g_test_add_func("/push/form/refused", test_form_refused);
	g_test_add_func("/push/form/no-reply", test_form_no_reply);
	g_test_add_func("/push/form/timeout", test_form_timeout);
	g_test_add_func("/push/form/reply-max", test_form_reply_max);
	g_test_add_func("/push/form/bad-urls", test_form_bad_urls);
	g_test_add_func("/push/form/tls-to-plain", test_form_tls_to_plain);
	g_test_add_func("/push/form/threads", test_form_threads);
	return g_test_run();
}
