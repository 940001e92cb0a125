/*
 * test-push-edge.c - push.h's and httpc.h's public API at its edges, where
 * test-push.c
 * does not go: a libcurl that refuses an option or a transfer (each of
 * the options we set, in turn: a libcurl built without a feature answers
 * CURLE_UNKNOWN_OPTION), libcurl's allocations failing, calls that break
 * the contract, an API key carrying control characters, configured
 * timeouts out of range, reply text cut inside a UTF-8 sequence, and
 * httpc_get() over a unix socket.
 *
 * The refusals are injected at the library boundary: this program is
 * linked with -Wl,--wrap for curl_easy_setopt, curl_multi_add_handle,
 * curl_easy_init, curl_multi_init and curl_slist_append, so httpc.c's
 * calls go through the __wrap_ functions below, which pass them on to
 * libcurl unless a test asked one to fail.  Nothing of push.c's or
 * httpc.c's internals is named: a test counts the options set and fails each in
 * turn until a request sets no more.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>

#include "push.h"
#include "httpc.h"
#include "testhttp.h"
#include "testutil.h"

#define TEST_PATH   "/v1/credentials/totp"
#define WATCHDOG_S  20
#define BODY        "{\"totp_identifier\":\"a@b.example\",\"content\":\"123456\"}"

/* ---- the wrapped libcurl calls ------------------------------------------ */

CURLcode __real_curl_easy_setopt(CURL *e, CURLoption opt, ...);
CURLMcode __real_curl_multi_add_handle(CURLM *m, CURL *e);
CURL *__real_curl_easy_init(void);
CURLM *__real_curl_multi_init(void);
struct curl_slist *__real_curl_slist_append(struct curl_slist *l, const char *s);

CURLcode __wrap_curl_easy_setopt(CURL *e, CURLoption opt, ...);
CURLMcode __wrap_curl_multi_add_handle(CURLM *m, CURL *e);
CURL *__wrap_curl_easy_init(void);
CURLM *__wrap_curl_multi_init(void);
struct curl_slist *__wrap_curl_slist_append(struct curl_slist *l, const char *s);

/* Set by the tests; only the thread running the test uses them, except
 * push_form_threads-style tests, which this file does not have. */
static guint setopt_calls;            /* since the last reset */
static guint setopt_fail_at;          /* 1-based call to refuse; 0: none */
static CURLoption setopt_failed_opt;  /* the option refused */
static gboolean add_handle_fail;
static gboolean easy_init_fail, multi_init_fail, slist_fail;

CURLcode
__wrap_curl_easy_setopt(CURL *e, CURLoption opt, ...)
{
	va_list ap;
	CURLcode rc;

	if (++setopt_calls == setopt_fail_at) {
		setopt_failed_opt = opt;
		return CURLE_UNKNOWN_OPTION;
	}
	/* One argument, of the type the option's number range says
	 * (curl/curl.h CURLOPTTYPE_*), as libcurl itself reads it. */
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = __real_curl_easy_setopt(e, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = __real_curl_easy_setopt(e, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = __real_curl_easy_setopt(e, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = __real_curl_easy_setopt(e, opt, va_arg(ap, curl_off_t));
	else
		rc = __real_curl_easy_setopt(e, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLMcode
__wrap_curl_multi_add_handle(CURLM *m, CURL *e)
{
	if (add_handle_fail)
		return CURLM_BAD_HANDLE;
	return __real_curl_multi_add_handle(m, e);
}

CURL *
__wrap_curl_easy_init(void)
{
	return easy_init_fail ? NULL : __real_curl_easy_init();
}

CURLM *
__wrap_curl_multi_init(void)
{
	return multi_init_fail ? NULL : __real_curl_multi_init();
}

struct curl_slist *
__wrap_curl_slist_append(struct curl_slist *l, const char *s)
{
	return slist_fail ? NULL : __real_curl_slist_append(l, s);
}

static void
faults_reset(guint fail_at)
{
	setopt_calls = 0;
	setopt_fail_at = fail_at;
	setopt_failed_opt = 0;
	add_handle_fail = FALSE;
	easy_init_fail = multi_init_fail = slist_fail = FALSE;
}

/* ---- one push through a client on a private context ---------------------- */

struct one {
	GMainContext *ctx;
	GMainLoop *loop;
	struct push_client *pc;
	guint calls;
	int status;
	char *error;
	char *reply;
	gboolean free_in_cb;         /* the callback frees the client */
	gboolean timed_out;
};

static void
one_cb(const struct push_result *r, gpointer data)
{
	struct one *o = data;

	g_assert_nonnull(r->reply);
	g_assert_true(g_utf8_validate(r->reply, -1, NULL));
	g_assert_cmpuint(strlen(r->reply), <=, PUSH_REPLY_MAX);
	o->calls++;
	o->status = r->status;
	g_free(o->error);
	o->error = g_strdup(r->error);
	g_free(o->reply);
	o->reply = g_strdup(r->reply);
	if (o->free_in_cb)
		push_client_free(&o->pc);
	g_main_loop_quit(o->loop);
}

static gboolean
one_watchdog(gpointer data)
{
	struct one *o = data;

	o->timed_out = TRUE;
	g_main_loop_quit(o->loop);
	return G_SOURCE_REMOVE;
}

static gboolean
one_quit(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

static void
one_init(struct one *o, const struct push_config *cfg)
{
	memset(o, 0, sizeof(*o));
	o->ctx = g_main_context_new();
	o->loop = g_main_loop_new(o->ctx, FALSE);
	o->pc = push_client_new(cfg, o->ctx);
	g_assert_nonnull(o->pc);
}

/* Runs the loop until the callback came (watchdog bounded). */
static void
one_run(struct one *o)
{
	GSource *wd = g_timeout_source_new_seconds(WATCHDOG_S);

	g_source_set_callback(wd, one_watchdog, o, NULL);
	g_source_attach(wd, o->ctx);
	if (o->calls == 0)
		g_main_loop_run(o->loop);
	g_source_destroy(wd);
	g_source_unref(wd);
	g_assert_false(o->timed_out);
}

/* Iterates the context for ms (a stray second callback shows here). */
static void
one_idle(struct one *o, guint ms)
{
	GSource *t = g_timeout_source_new(ms);

	g_source_set_callback(t, one_quit, o->loop, NULL);
	g_source_attach(t, o->ctx);
	g_main_loop_run(o->loop);
	g_source_destroy(t);
	g_source_unref(t);
}

static void
one_fini(struct one *o)
{
	push_client_free(&o->pc);
	g_free(o->error);
	g_free(o->reply);
	g_main_loop_unref(o->loop);
	g_main_context_unref(o->ctx);
}

/* One push of BODY with cfg; the callback ran exactly once, later. */
static void
one_push(struct one *o, const struct push_config *cfg)
{
	one_init(o, cfg);
	push_client_send(o->pc, BODY, one_cb, o);
	g_assert_cmpuint(o->calls, ==, 0);   /* never synchronous */
	one_run(o);
	g_assert_cmpuint(o->calls, ==, 1);
	if (o->pc != NULL)
		one_idle(o, 50);
	g_assert_cmpuint(o->calls, ==, 1);
}

/* ---- tests ------------------------------------------------------------- */

/*
 * Each option the push client sets, refused in turn: the request fails
 * cleanly -- one callback, later, status 0 with libcurl's words, RETRY,
 * nothing sent -- except the HTTP/2 wish, which is best effort: without
 * it the push still goes out over HTTP/1.1.  The loop ends at the first
 * request that set fewer options than the one to refuse; it must have
 * succeeded, and a dozen options at least were refused on the way.
 */
static void
test_setopt_refused(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct push_config cfg = { .url = url, .api_key = "k", .timeout = 10 };
	guint refused = 0, best_effort = 0;

	for (guint i = 1; ; i++) {
		struct one o;
		guint before = testhttp_nreqs(srv);

		faults_reset(i);
		one_push(&o, &cfg);
		if (setopt_calls < i) {
			/* Nothing refused: the request as usual. */
			g_assert_cmpint(o.status, ==, 200);
			g_assert_cmpuint(testhttp_nreqs(srv), ==, before + 1);
			one_fini(&o);
			break;
		}
		g_test_message("option %d refused (call %u)", (int)setopt_failed_opt, i);
		if (setopt_failed_opt == CURLOPT_HTTP_VERSION) {
			g_assert_cmpint(o.status, ==, 200);
			g_assert_cmpuint(testhttp_nreqs(srv), ==, before + 1);
			best_effort++;
		} else {
			g_assert_cmpint(o.status, ==, 0);
			g_assert_cmpstr(o.error, ==, curl_easy_strerror(CURLE_UNKNOWN_OPTION));
			g_assert_cmpstr(o.reply, ==, "");
			g_assert_cmpint(push_classify(o.status), ==, PUSH_RETRY);
			g_assert_cmpuint(testhttp_nreqs(srv), ==, before);
			refused++;
		}
		one_fini(&o);
	}
	faults_reset(0);
	g_test_message("%u options refused, %u best effort", refused, best_effort);
	g_assert_cmpuint(refused, >=, 12);
	g_assert_cmpuint(best_effort, ==, 1);
	testhttp_free(&srv);
}

/* The same over https with a CA file: the options of TLS too. */
static void
test_setopt_refused_tls(void)
{
	guint16 port;
	GSocket *s = testhttp_refusing(&port);
	g_autofree char *url = g_strdup_printf("https://127.0.0.1:%u" TEST_PATH, port);
	struct push_config cfg = {
		.url = url, .api_key = "k", .timeout = 10, .ca_file = "/nonexistent/ca.pem",
	};
	guint refused = 0;

	for (guint i = 1; ; i++) {
		struct one o;

		faults_reset(i);
		one_push(&o, &cfg);
		/* Nothing listens: whatever happens, status 0 and RETRY. */
		g_assert_cmpint(o.status, ==, 0);
		g_assert_nonnull(o.error);
		one_fini(&o);
		if (setopt_calls < i)
			break;
		if (setopt_failed_opt != CURLOPT_HTTP_VERSION)
			refused++;
	}
	faults_reset(0);
	g_assert_cmpuint(refused, >=, 14);
	g_object_unref(s);
}

/* A refused request whose callback frees the client: nothing else runs. */
static void
test_setopt_refused_free_in_cb(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct push_config cfg = { .url = url, .api_key = "k", .timeout = 10 };
	struct one o;

	one_init(&o, &cfg);
	o.free_in_cb = TRUE;
	faults_reset(1);
	push_client_send(o.pc, BODY, one_cb, &o);
	faults_reset(0);
	push_client_send(o.pc, BODY, one_cb, &o);
	one_run(&o);
	g_assert_null(o.pc);
	one_idle(&o, 300);
	g_assert_cmpuint(o.calls, ==, 1);
	g_assert_cmpint(o.status, ==, 0);
	one_fini(&o);
	testhttp_free(&srv);
}

/* A refused request, the client freed before the loop ran: no callback. */
static void
test_setopt_refused_free_unstarted(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct push_config cfg = { .url = url, .api_key = "k", .timeout = 10 };
	struct one o;

	one_init(&o, &cfg);
	faults_reset(1);
	push_client_send(o.pc, BODY, one_cb, &o);
	faults_reset(0);
	g_assert_cmpuint(push_client_active(o.pc), ==, 1);
	push_client_free(&o.pc);
	one_idle(&o, 200);
	g_assert_cmpuint(o.calls, ==, 0);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 0);
	one_fini(&o);
	testhttp_free(&srv);
}

/* A callback that starts another push, then frees its client: the new
 * push is aborted (its callback never runs) and nothing else happens.
 * (Using the client after the free is the caller's bug, not a contract.) */
static void
free_in_cb(const struct push_result *r, gpointer data)
{
	struct one *o = data;

	o->calls++;
	o->status = r->status;
	push_client_send(o->pc, BODY, one_cb, o);
	g_assert_cmpuint(push_client_active(o->pc), ==, 1);
	push_client_free(&o->pc);
	g_main_loop_quit(o->loop);
}

static void
test_free_in_callback(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct push_config cfg = { .url = url, .api_key = "k", .timeout = 10 };
	struct one o;

	faults_reset(0);
	one_init(&o, &cfg);
	push_client_send(o.pc, BODY, free_in_cb, &o);
	one_run(&o);
	g_assert_null(o.pc);
	one_idle(&o, 200);
	g_assert_cmpuint(o.calls, ==, 1);
	g_assert_cmpint(o.status, ==, 200);
	g_assert_cmpuint(testhttp_nreqs(srv), <=, 2);
	one_fini(&o);
	testhttp_free(&srv);
}

/* libcurl refuses to start the transfer: status 0, our words, nothing sent. */
static void
test_add_handle_refused(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct push_config cfg = { .url = url, .api_key = "k", .timeout = 10 };
	struct one o;

	faults_reset(0);
	add_handle_fail = TRUE;
	one_push(&o, &cfg);
	add_handle_fail = FALSE;
	g_assert_cmpint(o.status, ==, 0);
	g_assert_cmpstr(o.error, ==, "cannot start the request");
	g_assert_cmpint(push_classify(o.status), ==, PUSH_RETRY);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 0);
	/* The same client sends normally afterwards. */
	o.calls = 0;
	push_client_send(o.pc, BODY, one_cb, &o);
	one_run(&o);
	g_assert_cmpint(o.status, ==, 200);
	one_fini(&o);
	testhttp_free(&srv);
}

/* The blocking form POST and local GET, each option refused in turn. */
static void
test_setopt_refused_blocking(void)
{
	static const char *const fields[] = { "grant_type", "refresh_token", NULL };
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, "/token");
	const char *dir = testutil_test_tmpdir("push-edge");
	g_autofree char *missing = g_build_filename(dir, "none.sock", NULL);

	/* get: 0 the form POST, 1 a GET, 2 a GET over a unix socket where
	 * nothing listens (once nothing is refused: no reply, an error). */
	for (guint get = 0; get < 3; get++) {
		guint refused = 0;

		for (guint i = 1; ; i++) {
			guint before = testhttp_nreqs(srv);
			int status = -1, ret;
			char *reply = NULL, *err = NULL;
			gsize len = 0;

			faults_reset(i);
			if (get)
				ret = httpc_get(url, get == 2 ? missing : NULL, 5000, 1024,
				    &status, &reply, &err);
			else
				ret = httpc_form_post(url, fields, 5, 1024, &status, &reply,
				    &len, &err);
			if (setopt_calls < i && get == 2) {
				g_assert_cmpint(ret, ==, -1);
				g_assert_cmpstr(err, !=, curl_easy_strerror(CURLE_UNKNOWN_OPTION));
				g_assert_cmpuint(testhttp_nreqs(srv), ==, before);
				g_free(err);
				break;
			}
			if (setopt_calls < i) {
				g_assert_cmpint(ret, ==, 0);
				g_assert_cmpint(status, ==, 200);
				g_assert_cmpuint(testhttp_nreqs(srv), ==, before + 1);
				g_free(reply);
				break;
			}
			g_assert_cmpint(ret, ==, -1);
			g_assert_cmpint(status, ==, 0);
			g_assert_null(reply);
			g_assert_cmpstr(err, ==, curl_easy_strerror(CURLE_UNKNOWN_OPTION));
			g_assert_cmpuint(testhttp_nreqs(srv), ==, before);
			g_free(err);
			refused++;
		}
		g_test_message("mode %u: %u options refused", get, refused);
		g_assert_cmpuint(refused, >=, 10);
	}
	faults_reset(0);
	testhttp_free(&srv);
}

static void
never_cb(const struct push_result *r, gpointer data)
{
	(void)r;
	(void)data;
	g_assert_not_reached();
}

/* Allocation failure inside libcurl aborts: never a half-made client.
 * data names the allocation that fails. */
static void
test_alloc_abort(gconstpointer data)
{
	const char *w = data;

	if (g_test_subprocess()) {
		struct push_config cfg = { .url = "http://127.0.0.1:9/x", .api_key = "k" };
		static const char *const fields[] = { "a", "b", NULL };
		GMainContext *ctx = g_main_context_new();
		struct push_client *pc = NULL;
		int status;
		char *reply, *err;
		gsize len;

		if (strcmp(w, "easy") == 0) {
			pc = push_client_new(&cfg, ctx);
			easy_init_fail = TRUE;
			push_client_send(pc, BODY, never_cb, NULL);
		} else if (strcmp(w, "multi") == 0) {
			multi_init_fail = TRUE;
			pc = push_client_new(&cfg, ctx);
		} else if (strcmp(w, "slist") == 0) {
			slist_fail = TRUE;
			pc = push_client_new(&cfg, ctx);
		} else if (strcmp(w, "form") == 0) {
			easy_init_fail = TRUE;
			httpc_form_post(cfg.url, fields, 1, 10, &status, &reply, &len, &err);
		} else {
			easy_init_fail = TRUE;
			httpc_get(cfg.url, NULL, 100, 10, &status, &reply, &err);
		}
		/* Not reached: each of the above aborts. */
		g_print("Not reached %p\n", (void *)pc);
		return;
	}
	g_test_trap_subprocess(NULL, 10 * G_USEC_PER_SEC, 0);
	g_test_trap_assert_failed();
	g_test_trap_assert_stdout_unmatched("*Not reached*");
}

/* Calls that break the contract are refused with a critical, no crash. */
static void
test_misuse(void)
{
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);
	struct push_config cfg = { .url = url, .api_key = "k", .timeout = 10 };
	struct push_config nourl = { .url = NULL };
	struct one o;

	faults_reset(0);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*assertion*failed*");
	g_assert_null(push_client_new(NULL, NULL));
	g_test_assert_expected_messages();
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*assertion*failed*");
	g_assert_null(push_client_new(&nourl, NULL));
	g_test_assert_expected_messages();

	one_init(&o, &cfg);
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*assertion*failed*");
	push_client_send(o.pc, NULL, one_cb, &o);
	g_test_assert_expected_messages();
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*assertion*failed*");
	push_client_send(o.pc, BODY, NULL, &o);
	g_test_assert_expected_messages();
	g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*assertion*failed*");
	push_client_send(NULL, BODY, one_cb, &o);
	g_test_assert_expected_messages();
	g_assert_cmpuint(push_client_active(o.pc), ==, 0);
	one_idle(&o, 100);
	g_assert_cmpuint(o.calls, ==, 0);
	g_assert_cmpuint(testhttp_nreqs(srv), ==, 0);
	one_fini(&o);
	testhttp_free(&srv);
}

struct key_case {
	const char *key;             /* NULL: no key configured */
	const char *want;            /* the x-api-key header sent; NULL: none */
};

/*
 * The key is cut at its first control character: it never adds a header
 * line.  A key cut to nothing sends no x-api-key at all (libcurl drops a
 * header with an empty value), so the endpoint answers 403.
 */
static void
test_key_control(void)
{
	static const struct key_case cases[] = {
		{ "plain-key_0123", "plain-key_0123" },
		{ "abc\r\nx-evil: 1", "abc" },
		{ "abc\nx-evil: 1", "abc" },
		{ "ab\x7f" "cd", "ab" },
		{ "ab\tcd", "ab" },
		{ "\r\nx-evil: 1", NULL },
		{ "", NULL },
		{ NULL, NULL },
	};
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);

	faults_reset(0);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct push_config cfg = { .url = url, .api_key = cases[i].key, .timeout = 10 };
		const struct testhttp_req *r;
		struct one o;
		guint count = 0;

		g_test_message("key case %u", i);
		one_push(&o, &cfg);
		g_assert_cmpint(o.status, ==, 200);
		r = testhttp_last(srv);
		g_assert_cmpstr(testhttp_req_header(r, "x-api-key", &count), ==, cases[i].want);
		g_assert_cmpuint(count, ==, cases[i].want != NULL ? 1 : 0);
		g_assert_null(testhttp_req_header(r, "x-evil", NULL));
		g_assert_cmpuint(r->body_len, ==, strlen(BODY));
		one_fini(&o);
	}
	testhttp_free(&srv);
}

/*
 * Timeouts: 0 is the default (30 s, not "none") and anything above the
 * maximum is cut to it -- a server that never answers is given up on at
 * the timeout we set, here 1 s, while 0 and a huge value still let a
 * normal reply through.
 */
static void
test_timeout_range(void)
{
	static const guint timeouts[] = { 0, 1, 3600, 3601, G_MAXUINT };
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, TEST_PATH);

	faults_reset(0);
	for (guint i = 0; i < G_N_ELEMENTS(timeouts); i++) {
		struct push_config cfg = { .url = url, .api_key = "k", .timeout = timeouts[i] };
		struct one o;

		g_test_message("timeout %u", timeouts[i]);
		one_push(&o, &cfg);
		g_assert_cmpint(o.status, ==, 200);
		one_fini(&o);
	}
	testhttp_free(&srv);
}

struct cut_case {
	const char *tail;            /* appended after PUSH_REPLY_MAX - pad 'a's */
	gsize pad;                   /* how many bytes before the limit it starts */
	const char *want_tail;       /* what follows the 'a's in the reply */
};

/*
 * Replies longer than PUSH_REPLY_MAX, cut at the limit: a UTF-8 sequence
 * the cut splits is dropped whole, one it leaves whole is kept, stray
 * continuation bytes become U+FFFD and the result is never longer than
 * the limit.
 */
static void
test_utf8_cut(void)
{
	static const struct cut_case cases[] = {
		/* é (2 bytes) ends exactly at the limit: kept */
		{ "\xc3\xa9zzz", 2, "\xc3\xa9" },
		/* € (3 bytes) with 2 inside: dropped */
		{ "\xe2\x82\xaczzz", 2, "" },
		/* € with 1 inside: dropped */
		{ "\xe2\x82\xaczzz", 1, "" },
		/* € whole at the limit: kept */
		{ "\xe2\x82\xaczzz", 3, "\xe2\x82\xac" },
		/* a 4-byte key with 2 inside: dropped */
		{ "\xf0\x9f\x94\x91zz", 2, "" },
		/* a 4-byte key whole at the limit: kept */
		{ "\xf0\x9f\x94\x91zz", 4, "\xf0\x9f\x94\x91" },
		/* five stray continuation bytes up to the limit: invalid */
		{ "\x80\x80\x80\x80\x80zz", 5, NULL },
		/* a lone lead byte right at the limit: dropped */
		{ "\xc3zz", 1, "" },
		/* plain ASCII at the limit */
		{ "bzz", 1, "b" },
	};

	faults_reset(0);
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
		g_autofree char *url = testhttp_url(srv, TEST_PATH);
		struct push_config cfg = { .url = url, .api_key = "k", .timeout = 10 };
		GString *reply = g_string_new(NULL);
		struct one o;

		g_test_message("cut case %u", i);
		while (reply->len < PUSH_REPLY_MAX - cases[i].pad)
			g_string_append_c(reply, 'a');
		g_string_append(reply, cases[i].tail);
		testhttp_set_reply(srv, reply->str, reply->len);
		one_push(&o, &cfg);
		g_assert_cmpint(o.status, ==, 200);
		g_assert_cmpuint(strlen(o.reply), <=, PUSH_REPLY_MAX);
		g_assert_true(g_str_has_prefix(o.reply, reply->str) ||
		    strncmp(o.reply, reply->str, PUSH_REPLY_MAX - cases[i].pad) == 0);
		if (cases[i].want_tail != NULL) {
			g_assert_cmpuint(strlen(o.reply), ==,
			    PUSH_REPLY_MAX - cases[i].pad + strlen(cases[i].want_tail));
			g_assert_cmpstr(o.reply + PUSH_REPLY_MAX - cases[i].pad, ==,
			    cases[i].want_tail);
		} else {
			g_assert_nonnull(strstr(o.reply, "\xef\xbf\xbd"));
		}
		one_fini(&o);
		g_string_free(reply, TRUE);
		testhttp_free(&srv);
	}
}

/* A one-shot HTTP server on a unix socket, for httpc_get's unix_path. */
struct unix_srv {
	GSocket *sock;
	GThread *thread;
	char *request;               /* the request line and headers seen */
	const char *reply;
};

static gpointer
unix_srv_main(gpointer data)
{
	struct unix_srv *u = data;
	GSocket *c = g_socket_accept(u->sock, NULL, NULL);
	GString *req = g_string_new(NULL);
	char buf[4096];
	gssize n;

	g_assert_nonnull(c);
	g_socket_set_timeout(c, WATCHDOG_S);
	while (strstr(req->str, "\r\n\r\n") == NULL &&
	    (n = g_socket_receive(c, buf, sizeof(buf), NULL, NULL)) > 0)
		g_string_append_len(req, buf, n);
	/* Before the reply: the client may look as soon as it has one. */
	u->request = g_string_free(req, FALSE);
	g_socket_send(c, u->reply, strlen(u->reply), NULL, NULL);
	g_socket_close(c, NULL);
	g_object_unref(c);
	return NULL;
}

static void
unix_srv_start(struct unix_srv *u, const char *path, const char *reply)
{
	GSocketAddress *addr = g_unix_socket_address_new(path);

	memset(u, 0, sizeof(*u));
	u->reply = reply;
	u->sock = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_assert_nonnull(u->sock);
	g_assert_true(g_socket_bind(u->sock, addr, FALSE, NULL));
	g_assert_true(g_socket_listen(u->sock, NULL));
	g_object_unref(addr);
	u->thread = g_thread_new("unix-srv", unix_srv_main, u);
}

static void
unix_srv_stop(struct unix_srv *u)
{
	g_thread_join(u->thread);
	g_socket_close(u->sock, NULL);
	g_object_unref(u->sock);
	g_free(u->request);
}

/*
 * httpc_get() over a unix socket: the request goes there (the URL's host
 * only names the Host header), the reply comes back; an empty 204 is an
 * empty string; nothing at the path is an error; a reply_max of
 * G_MAXSIZE is no bound at all.
 */
static void
test_get_unix(void)
{
	const char *dir = testutil_test_tmpdir("push-edge");
	g_autofree char *path = g_build_filename(dir, "http.sock", NULL);
	g_autofree char *missing = g_build_filename(dir, "none.sock", NULL);
	struct unix_srv u;
	int status;
	char *reply, *err;

	faults_reset(0);
	unix_srv_start(&u, path, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
	    "Connection: close\r\n\r\n{\"ok\":true}");
	g_assert_cmpint(httpc_get("http://localhost/status", path, 5000, G_MAXSIZE,
	    &status, &reply, &err), ==, 0);
	unix_srv_stop(&u);
	g_assert_cmpint(status, ==, 200);
	g_assert_cmpstr(reply, ==, "{\"ok\":true}");
	g_assert_null(err);
	g_free(reply);
	unlink(path);

	unix_srv_start(&u, path, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
	g_assert_cmpint(httpc_get("http://localhost/status", path, 5000, 64,
	    &status, &reply, &err), ==, 0);
	g_assert_true(g_str_has_prefix(u.request, "GET /status HTTP/1.1\r\n"));
	unix_srv_stop(&u);
	g_assert_cmpint(status, ==, 204);
	g_assert_cmpstr(reply, ==, "");
	g_free(reply);
	unlink(path);

	g_assert_cmpint(httpc_get("http://localhost/status", missing, 2000, 64,
	    &status, &reply, &err), ==, -1);
	g_assert_cmpint(status, ==, 0);
	g_assert_null(reply);
	g_assert_nonnull(err);
	g_free(err);
}

/* httpc_form_post() with no bound on the reply (G_MAXSIZE). */
static void
test_form_unbounded(void)
{
	static const char *const fields[] = { "a", "b", NULL };
	struct testhttp *srv = testhttp_new(TESTHTTP_REPLY);
	g_autofree char *url = testhttp_url(srv, "/token");
	int status;
	char *reply, *err;
	gsize len;

	faults_reset(0);
	g_assert_cmpint(httpc_form_post(url, fields, 5, G_MAXSIZE, &status, &reply, &len,
	    &err), ==, 0);
	g_assert_cmpint(status, ==, 200);
	g_assert_cmpstr(reply, ==, "{\"status\":\"ok\"}");
	g_assert_cmpuint(len, ==, strlen(reply));
	g_free(reply);
	testhttp_free(&srv);
}

int
main(int argc, char **argv)
{
	testutil_no_proxy();
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/push-edge/setopt-refused", test_setopt_refused);
	g_test_add_func("/push-edge/setopt-refused-tls", test_setopt_refused_tls);
	g_test_add_func("/push-edge/setopt-refused-free-in-cb", test_setopt_refused_free_in_cb);
	g_test_add_func("/push-edge/setopt-refused-free-unstarted",
	    test_setopt_refused_free_unstarted);
	g_test_add_func("/push-edge/free-in-callback", test_free_in_callback);
	g_test_add_func("/push-edge/add-handle-refused", test_add_handle_refused);
	g_test_add_func("/push-edge/setopt-refused-blocking", test_setopt_refused_blocking);
	g_test_add_data_func("/push-edge/alloc-abort/easy", "easy", test_alloc_abort);
	g_test_add_data_func("/push-edge/alloc-abort/multi", "multi", test_alloc_abort);
	g_test_add_data_func("/push-edge/alloc-abort/slist", "slist", test_alloc_abort);
	g_test_add_data_func("/push-edge/alloc-abort/form", "form", test_alloc_abort);
	g_test_add_data_func("/push-edge/alloc-abort/get", "get", test_alloc_abort);
	g_test_add_func("/push-edge/misuse", test_misuse);
	g_test_add_func("/push-edge/key-control", test_key_control);
	g_test_add_func("/push-edge/timeout-range", test_timeout_range);
	g_test_add_func("/push-edge/utf8-cut", test_utf8_cut);
	g_test_add_func("/push-edge/get-unix", test_get_unix);
	g_test_add_func("/push-edge/form-unbounded", test_form_unbounded);
	return g_test_run();
}
