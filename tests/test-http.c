/*
 * test-http.c - http.c end to end: a real struct http on 127.0.0.1 (and a
 * unix socket) over a private store, driven by libcurl from a client
 * thread while the test's main thread runs the default main context, as
 * the daemon does.  Covers the SPEC 1.2 signature vectors, Skyvern's
 * exact request bytes, every refusal (401, 400, 405, 413, 503), the
 * freshness and handout rules, /metrics, /healthz and the path form, and
 * checks that no code is ever logged.  The attacks on the pull side: a
 * signed body replayed for another identifier (and after a restart), an
 * old captured body replayed to take a waiting task's code, %00 and
 * other bad escapes in the URL, another run's tagged code; and what
 * must keep working: Skyvern's skewed timestamps, '+' in the query, the
 * run's own code first, magic links, task_id echoed, /healthz probing
 * the store once per few seconds.  Raw-socket requests replay the
 * framing attacks (sent whole and byte by byte, each with a request
 * pipelined behind it) and a client trickling its head past
 * request_timeout.
 *
 * Uppercase hex signatures: accepted (they name the same MAC); tested.
 */
#include "autoconfig.h"

#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <curl/curl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "config.h"
#include "http.h"
#include "intake.h"
#include "json.h"
#include "metrics.h"
#include "store.h"
#include "testutil.h"

#define KEY "test_api_key"
#define V1 "{\"task_id\":\"tsk_123\",\"workflow_run_id\":\"wr_456\"," \
	"\"workflow_permanent_id\":\"wpid_789\"}"
#define V1_SIG "4916edde5a0b1f8221ed2fe33bc816432b5a61277ad64badbc71f6b096b03fbe"
#define V2 "{\"task_id\":\"tsk_123\"}"
#define V2_SIG "92c0c215cae0536ca374586339c8f2960788561e737e819faa85659416665448"

static struct store *st;
static struct config *cfg;
static struct http *srv;
static guint port;
static char *tmpdir;
static char *sock_path;
static gboolean health_bad;
static guint dedup_seq;
static struct http_env env;
static char *db_path;

/* ---- fixture ---- */

static char *
health_cb(gpointer data)
{
	return health_bad ? g_strdup("imap:work: no sync for 300 s") : NULL;
}

static guint
free_port(void)
{
	g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_DEFAULT, NULL);
	g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	g_autoptr(GSocketAddress) a = g_inet_socket_address_new(lo, 0);
	g_autoptr(GSocketAddress) bound = NULL;

	g_assert_true(g_socket_bind(s, a, TRUE, NULL));
	bound = g_socket_get_local_address(s, NULL);
	return g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
}

static void
add_listen(const char *spec)
{
	struct listen_addr *la = NULL;
	const char *why = NULL;

	g_assert_cmpint(config_parse_listen(spec, &la, &why), ==, 0);
	g_ptr_array_add(cfg->http.listen, la);
}

static gint64
now_s(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

/* Commits one job carrying code for identifier, created at created. */
static gint64
commit_code(const char *identifier, const char *code, gint64 created)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *key = g_strdup_printf("<test-%u@example.com>", ++dedup_seq);
	struct job_in j = {
		.dedup_key = key,
		.identifier = identifier,
		.source = "lmtp",
		.filter = "test",
		.body = "{}",
		.code = code,
		.created = created,
		.expires = created + 600,
	};

	g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_false(j.duplicate);
	return j.id;
}

/* ---- the client ---- */

struct call {
	const char *method;
	char *url;
	const char *body;       /* NULL: none */
	gsize len;
	const char *headers[6]; /* NULL-terminated */
	gboolean via_unix;
	gboolean twice;         /* perform twice on one handle (keep-alive) */
	/* out */
	long new_conns;         /* connections opened by the second perform */
	CURLcode rc;
	long status;
	GString *resp;
	GString *resp_headers;
	gint done;
};

static size_t
call_write(char *p, size_t size, size_t n, void *data)
{
	g_string_append_len(data, p, (gssize)(size * n));
	return size * n;
}

static gpointer
call_thread(gpointer data)
{
	struct call *c = data;
	CURL *curl = curl_easy_init();
	struct curl_slist *hl = NULL;

	curl_easy_setopt(curl, CURLOPT_URL, c->url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, call_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, c->resp);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, call_write);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, c->resp_headers);
	if (c->via_unix)
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, sock_path);
	if (c->body != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, c->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)c->len);
	}
	if (strcmp(c->method, "GET") != 0 && strcmp(c->method, "POST") != 0)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c->method);
	else if (strcmp(c->method, "POST") == 0 && c->body == NULL)
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
	hl = curl_slist_append(hl, "Expect:");
	for (guint i = 0; c->headers[i] != NULL; i++)
		hl = curl_slist_append(hl, c->headers[i]);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
	c->rc = curl_easy_perform(curl);
	if (c->twice && c->rc == CURLE_OK) {
		g_string_truncate(c->resp, 0);
		c->rc = curl_easy_perform(curl);
		curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &c->new_conns);
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &c->status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(curl);
	g_atomic_int_set(&c->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

/* Runs c on a client thread while this thread serves. */
static void
call_run(struct call *c)
{
	GThread *t;

	c->resp = g_string_new(NULL);
	c->resp_headers = g_string_new(NULL);
	t = g_thread_new("client", call_thread, c);
	while (!g_atomic_int_get(&c->done))
		g_main_context_iteration(NULL, TRUE);
	g_thread_join(t);
}

static void
call_clear(struct call *c)
{
	g_free(c->url);
	g_string_free(c->resp, TRUE);
	g_string_free(c->resp_headers, TRUE);
}

static char *
url_for(const char *path)
{
	return g_strdup_printf("http://127.0.0.1:%u%s", port, path);
}

static char *
sign(const char *body, gsize len)
{
	return g_compute_hmac_for_data(G_CHECKSUM_SHA256, (const guchar *)KEY,
	    strlen(KEY), (const guchar *)body, len);
}

/*
 * POSTs body to path with signature sig ("" : computed right, NULL: no
 * header) and Skyvern's headers; returns the status, *resp the body.
 */
static long
pull_full(const char *path, const char *body, const char *sig, const char *ts,
    char **resp)
{
	struct call c = { .method = "POST", .url = url_for(path), .body = body,
	    .len = body != NULL ? strlen(body) : 0 };
	g_autofree char *computed = body != NULL ? sign(body, strlen(body)) : NULL;
	g_autofree char *sig_h = NULL;
	g_autofree char *ts_h = g_strdup_printf("x-skyvern-timestamp: %s",
	    ts != NULL ? ts : "0");
	guint n = 0;
	long status;

	c.headers[n++] = "Content-Type: application/json";
	if (sig != NULL) {
		sig_h = g_strdup_printf("x-skyvern-signature: %s", *sig == '\0' ?
		    computed : sig);
		c.headers[n++] = sig_h;
	}
	if (ts != NULL)
		c.headers[n++] = ts_h;
	call_run(&c);
	g_assert_cmpint(c.rc, ==, CURLE_OK);
	if (c.status == 200 || c.status == 400 || c.status == 401 || c.status == 503)
		g_assert_nonnull(strstr(c.resp_headers->str,
		    "Content-Type: application/json"));
	status = c.status;
	*resp = g_strdup(c.resp->str);
	call_clear(&c);
	return status;
}

static long
pull(const char *path, const char *body, char **resp)
{
	g_autofree char *ts = g_strdup_printf("%" G_GINT64_FORMAT, now_s());

	return pull_full(path, body, "", ts, resp);
}

/* The answer to body with this code: the request's task_id echoed
 * first when it had one (SPEC 1.2). */
static char *
reply_for(const char *body, const char *code)
{
	struct json_pull p = { 0 };
	char *want;

	g_assert_cmpint(json_pull_parse(body, strlen(body), &p), ==, 0);
	want = p.task_id != NULL ?
	    g_strdup_printf("{\"task_id\":\"%s\",\"verification_code\":\"%s\"}",
	    p.task_id, code) :
	    g_strdup_printf("{\"verification_code\":\"%s\"}", code);
	json_pull_clear(&p);
	return want;
}

/* Asserts a 200 answer with this code ("" for none). */
static void
assert_code(const char *path, const char *body, const char *want)
{
	g_autofree char *resp = NULL;
	g_autofree char *expect = reply_for(body, want);

	g_assert_cmpint(pull(path, body, &resp), ==, 200);
	g_assert_cmpstr(resp, ==, expect);
}

static long
get(const char *method, const char *path, gboolean via_unix, char **resp,
    char **headers)
{
	struct call c = { .method = method, .url = url_for(path), .via_unix = via_unix };
	long status;

	call_run(&c);
	g_assert_cmpint(c.rc, ==, CURLE_OK);
	status = c.status;
	*resp = g_strdup(c.resp->str);
	if (headers != NULL)
		*headers = g_strdup(c.resp_headers->str);
	call_clear(&c);
	return status;
}

/* ---- tests ---- */

static void
test_signature_vectors(void)
{
	char flipped[] = V1_SIG;
	g_autofree char *upper = g_ascii_strup(V2_SIG, -1);

	g_assert_true(http_signature_ok(KEY, V1, strlen(V1), V1_SIG));
	g_assert_true(http_signature_ok(KEY, V2, strlen(V2), V2_SIG));
	flipped[10] = flipped[10] == 'a' ? 'b' : 'a';
	g_assert_false(http_signature_ok(KEY, V1, strlen(V1), flipped));
	g_assert_false(http_signature_ok(KEY, V2, strlen(V2), V1_SIG));
	g_assert_true(http_signature_ok(KEY, V2, strlen(V2), upper)); /* accepted */
	g_assert_false(http_signature_ok(KEY, V2, strlen(V2) - 1, V2_SIG));
	g_assert_false(http_signature_ok("other_key", V2, strlen(V2), V2_SIG));
	g_assert_false(http_signature_ok(KEY, V2, strlen(V2), NULL));
	g_assert_false(http_signature_ok(NULL, V2, strlen(V2), V2_SIG));
	g_assert_false(http_signature_ok("", V2, strlen(V2), V2_SIG));
	g_assert_false(http_signature_ok(KEY, V2, strlen(V2), ""));
	/* wrong lengths and non-hex */
	{
		g_autofree char *shorter = g_strndup(V2_SIG, 63);
		g_autofree char *longer = g_strconcat(V2_SIG, "0", NULL);
		char nonhex[] = V2_SIG;

		nonhex[0] = 'g';
		g_assert_false(http_signature_ok(KEY, V2, strlen(V2), shorter));
		g_assert_false(http_signature_ok(KEY, V2, strlen(V2), longer));
		g_assert_false(http_signature_ok(KEY, V2, strlen(V2), nonhex));
		/* 'G' ^ 0x20 == 'g': a non-hex letter that folds must still fail */
		nonhex[0] = 'z';
		g_assert_false(http_signature_ok(KEY, V2, strlen(V2), nonhex));
	}
	/* {} signed */
	{
		g_autofree char *s = sign("{}", 2);
		g_assert_true(http_signature_ok(KEY, "{}", 2, s));
	}
}

static void
test_pull_vectors(void)
{
	g_autofree char *r = NULL;
	gint64 now = now_s();

	commit_code("vec@example.com", "111111", now - 120);
	commit_code("vec@example.com", "222222", now - 30);
	commit_code("other@example.com", "999999", now - 5);
	/* Skyvern's exact bytes and signatures, no timestamp window */
	g_assert_cmpint(pull_full("/totp?identifier=vec%40example.com", V1, V1_SIG,
	    "1754000000", &r), ==, 200);
	g_assert_cmpstr(r, ==, "{\"task_id\":\"tsk_123\",\"verification_code\":\"222222\"}");
	g_free(r);
	g_assert_cmpint(pull_full("/totp?identifier=vec%40example.com", V2, V2_SIG,
	    "1754000000", &r), ==, 200);
	g_assert_cmpstr(r, ==, "{\"task_id\":\"tsk_123\",\"verification_code\":\"222222\"}");
	g_free(r);
	/* uppercase hex accepted on the wire too */
	{
		g_autofree char *upper = g_ascii_strup(V2_SIG, -1);
		g_assert_cmpint(pull_full("/totp?identifier=vec%40example.com", V2, upper,
		    NULL, &r), ==, 200);
		g_assert_cmpstr(r, ==, "{\"task_id\":\"tsk_123\",\"verification_code\":\"222222\"}");
	}
	g_assert_cmpuint(testutil_log_count(
	    "src=http identifier=vec@example.com consumer=tsk_123 result=code"), >, 0);
}

static void
test_pull_refused(void)
{
	g_autofree char *r = NULL;
	char flipped[] = V2_SIG;

	commit_code("auth@example.com", "313131", now_s() - 5);
	g_assert_cmpint(pull_full("/totp?identifier=auth%40example.com", V2, NULL,
	    NULL, &r), ==, 401);
	g_assert_cmpstr(r, ==, "{\"error\":\"missing x-skyvern-signature\"}");
	g_free(r);
	flipped[63] = flipped[63] == '8' ? '9' : '8';
	g_assert_cmpint(pull_full("/totp?identifier=auth%40example.com", V2, flipped,
	    NULL, &r), ==, 401);
	g_assert_cmpstr(r, ==, "{\"error\":\"bad x-skyvern-signature\"}");
	g_free(r);
	/* a signature over other bytes (V1's for V2) */
	g_assert_cmpint(pull_full("/totp?identifier=auth%40example.com", V2, V1_SIG,
	    NULL, &r), ==, 401);
	g_free(r);
	g_assert_cmpint(pull_full("/totp?identifier=auth%40example.com", V2, "zz",
	    NULL, &r), ==, 401);
	g_assert_cmpuint(testutil_log_count(
	    "identifier=auth@example.com consumer=- result=bad-signature"), >, 0);
}

static void
test_pull_empty_object(void)
{
	commit_code("empty@example.com", "424242", now_s() - 5);
	assert_code("/totp?identifier=empty%40example.com", "{}", "424242");
}

static void
test_pull_not_yet(void)
{
	/* unknown identifier */
	assert_code("/totp?identifier=nobody%40example.com", "{\"task_id\":\"tsk_nobody\"}", "");
	/* only a stale code (older than max_age = 600) */
	commit_code("stale@example.com", "777777", now_s() - 700);
	assert_code("/totp?identifier=stale%40example.com", "{\"task_id\":\"tsk_stale\"}", "");
	/* a code in the window is found, an older stale one never */
	commit_code("stale@example.com", "787878", now_s() - 590);
	assert_code("/totp?identifier=stale%40example.com", "{\"task_id\":\"tsk_stale\"}", "787878");
}

static void
test_pull_handout(void)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *who = NULL;
	gint64 now = now_s();
	gint64 id;

	commit_code("hand@example.com", "444444", now - 100);
	id = commit_code("hand@example.com", "333333", now - 10);
	assert_code("/totp/hand@example.com", "{\"task_id\":\"A\"}", "333333");
	g_assert_cmpint(store_code_consumer(st, id, &who, &err), ==, 0);
	g_assert_cmpstr(who, ==, "A");
	/* another task: nothing, and no fallback to the older code */
	assert_code("/totp/hand@example.com", "{\"task_id\":\"B\"}", "");
	/* the first task again: still its code */
	assert_code("/totp/hand@example.com", "{\"task_id\":\"A\"}", "333333");
	/* a run id is the consumer when there is no task id */
	assert_code("/totp/hand@example.com", "{\"workflow_run_id\":\"wr_1\"}", "");
	assert_code("/totp/hand@example.com",
	    "{\"task_id\":\"A\",\"workflow_run_id\":\"wr_1\"}", "333333");
	/* no consumer at all: not a code somebody took ("{}" answers for
	 * empty@ already: other bytes) */
	assert_code("/totp/hand@example.com", "{ }", "");
	/* a newer code goes to whoever asks first */
	commit_code("hand@example.com", "555555", now - 1);
	assert_code("/totp/hand@example.com", "{\"task_id\":\"B\"}", "555555");
	assert_code("/totp/hand@example.com", "{\"task_id\":\"A\"}", "");
	/* bind_code_to_task = false: everyone gets the newest */
	cfg->http.bind_code_to_task = FALSE;
	assert_code("/totp/hand@example.com", "{\"task_id\":\"A\"}", "555555");
	cfg->http.bind_code_to_task = TRUE;
}

static void
test_pull_bad_request(void)
{
	static const char *const bad[] = {
		"{\"task_id\":",
		"[]",
		"\"x\"",
		"{\"task_id\":5}",
		"{\"task_id\":\"a\"} trailing",
		"",
	};
	g_autofree char *deep = NULL;
	g_autofree char *r = NULL;
	GString *d = g_string_new(NULL);

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_cmpint(pull("/totp?identifier=x%40example.com", bad[i], &r), ==, 400);
		g_assert_true(g_str_has_prefix(r, "{\"error\":"));
		g_clear_pointer(&r, g_free);
	}
	/* deep nesting is refused, not recursed into */
	for (int i = 0; i < 2000; i++)
		g_string_append_c(d, '[');
	deep = g_string_free(d, FALSE);
	g_assert_cmpint(pull("/totp?identifier=x%40example.com", deep, &r), ==, 400);
	g_clear_pointer(&r, g_free);
	/* null ids are absent ids; unknown members are ignored */
	commit_code("nullid@example.com", "565656", now_s() - 5);
	assert_code("/totp?identifier=nullid%40example.com",
	    "{\"task_id\":null,\"extra\":[1,{\"a\":2}]}", "565656");
	/* no identifier */
	g_assert_cmpint(pull("/totp", "{}", &r), ==, 400);
	g_assert_nonnull(strstr(r, "no identifier"));
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull("/totp/", "{}", &r), ==, 400);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull("/totp?identifier=", "{}", &r), ==, 400);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull("/totp?identifier=a%0Ab%40example.com", "{}", &r), ==, 400);
}

static void
test_pull_method(void)
{
	g_autofree char *r = NULL;
	g_autofree char *h = NULL;

	g_assert_cmpint(get("GET", "/totp?identifier=x%40example.com", FALSE, &r, &h),
	    ==, 405);
	g_assert_nonnull(strstr(h, "Allow: POST\r\n"));
	g_free(r);
	g_free(h);
	g_assert_cmpint(get("PUT", "/totp/x@example.com", FALSE, &r, &h), ==, 405);
	g_assert_nonnull(strstr(h, "Allow: POST\r\n"));
}

static void
test_pull_too_large(void)
{
	g_autofree char *big = NULL;
	g_autofree char *r = NULL;
	g_autofree char *h = NULL;
	gsize n = cfg->http.max_body + 1;

	big = g_malloc(n + 1);
	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	g_assert_cmpint(pull("/totp?identifier=x%40example.com", big, &r), ==, 413);
	g_assert_cmpstr(r, ==, "{\"error\":\"request body too large\"}");
	g_clear_pointer(&r, g_free);
	/* exactly max_body is fine */
	big[n - 2] = '}';
	big[n - 1] = '\0';
	commit_code("big@example.com", "676767", now_s() - 5);
	assert_code("/totp?identifier=big%40example.com", big, "676767");
	/* chunked past the limit: the connection is cut, never a 200 */
	{
		struct call c = { .method = "POST",
		    .url = url_for("/totp?identifier=big%40example.com") };
		g_autofree char *huge = g_malloc0(cfg->http.max_body * 4 + 1);

		memset(huge, ' ', cfg->http.max_body * 4);
		c.body = huge;
		c.len = cfg->http.max_body * 4;
		c.headers[0] = "Transfer-Encoding: chunked";
		call_run(&c);
		g_assert_true(c.rc != CURLE_OK || c.status == 413);
		g_assert_cmpint(c.status, !=, 200);
		call_clear(&c);
	}
	/* and the server still serves */
	g_assert_cmpint(get("GET", "/healthz", FALSE, &h, NULL), ==, 200);
}

static void
test_pull_path_form(void)
{
	/* one signed body answers for one identifier: one body each */
	commit_code("path@example.com", "808080", now_s() - 5);
	assert_code("/totp/Path%40Example.COM", "{\"task_id\":\"tsk_path\"}", "808080");
	assert_code("/totp?identifier=PATH%40example.com", "{\"task_id\":\"tsk_path\"}", "808080");
	/* sub-addressing: '+' is a plus in the path and, as users write it,
	 * in the query too; %2B keeps working */
	commit_code("bot+tag@example.com", "838383", now_s() - 5);
	assert_code("/totp/Bot+tag@example.com", "{\"task_id\":\"tsk_tag\"}", "838383");
	assert_code("/totp?identifier=Bot%2Btag%40example.com", "{\"task_id\":\"tsk_tag\"}", "838383");
	assert_code("/totp?identifier=bot+tag@example.com", "{\"task_id\":\"tsk_tag\"}", "838383");
	assert_code("/totp?x=1&identifier=bot+tag%40example.com&y=%20",
	    "{\"task_id\":\"tsk_tag\"}", "838383");
	/* non-address identifiers match exactly */
	commit_code("+1 555 0100", "818181", now_s() - 5);
	assert_code("/totp/%2B1%20555%200100", "{\"task_id\":\"tsk_phone\"}", "818181");
}

static void
test_pull_no_key(void)
{
	g_autofree char *r = NULL;
	char *key = cfg->http.signing_key;

	cfg->http.signing_key = NULL;
	g_assert_cmpint(pull("/totp?identifier=x%40example.com", V2, &r), ==, 503);
	g_assert_cmpstr(r, ==, "{\"error\":\"no signing key configured\"}");
	cfg->http.signing_key = key;
}

static void
test_pull_timestamp(void)
{
	g_autofree char *r = NULL;
	g_autofree char *ts_now = g_strdup_printf("%" G_GINT64_FORMAT, now_s());
	g_autofree char *ts_old = g_strdup_printf("%" G_GINT64_FORMAT, now_s() - 1000);
	g_autofree char *ts_future = g_strdup_printf("%" G_GINT64_FORMAT, now_s() + 1000);

	const char *b = "{\"task_id\":\"tsk_ts\"}";

	commit_code("ts@example.com", "828282", now_s() - 5);
	cfg->http.timestamp_window = 300;
	g_assert_cmpint(pull_full("/totp/ts@example.com", b, "", NULL, &r), ==, 401);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull_full("/totp/ts@example.com", b, "", ts_old, &r), ==, 401);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull_full("/totp/ts@example.com", b, "", ts_future, &r), ==, 401);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull_full("/totp/ts@example.com", b, "", "12abc", &r), ==, 401);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull_full("/totp/ts@example.com", b, "", ts_now, &r), ==, 200);
	g_assert_cmpstr(r, ==, "{\"task_id\":\"tsk_ts\",\"verification_code\":\"828282\"}");
	cfg->http.timestamp_window = 0;
}

/* Counts the log lines holding needle. */
/* Closes the server and the store and opens both again, as a restart. */
static void
restart(void)
{
	g_autoptr(GError) err = NULL;

	http_free(&srv);
	store_close(&st);
	g_assert_cmpint(store_open(db_path, &st, &err), ==, 0);
	env.st = st;
	srv = http_new(&env, &err);
	g_assert_no_error(err);
	g_assert_nonnull(srv);
}

/*
 * Issue 10 item 2: a captured signed body, replayed with another
 * identifier in the URL, unlocks nothing and takes no code from the task
 * that waits for it; the same body for its own identifier is answered as
 * before; the binding survives a restart.
 */
static void
test_pull_replay(void)
{
	const char *mine = "{\"task_id\":\"tsk_atk\",\"workflow_run_id\":\"wr_atk\"}";
	const char *victim = "{\"task_id\":\"tsk_vic\"}";
	g_autoptr(GError) err = NULL;
	g_autofree char *who = NULL;
	g_autofree char *r = NULL;
	gint64 id;

	commit_code("own@replay.example", "616161", now_s() - 20);
	id = commit_code("victim@replay.example", "626262", now_s() - 10);
	/* the body's first use: its own identifier */
	assert_code("/totp?identifier=own%40replay.example", mine, "616161");
	/* replayed for another identifier, in either URL form */
	g_assert_cmpint(pull("/totp?identifier=victim%40replay.example", mine, &r), ==, 403);
	g_assert_cmpstr(r, ==,
	    "{\"error\":\"this signed request was first made for another identifier\"}");
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull("/totp/Victim@replay.example", mine, &r), ==, 403);
	g_clear_pointer(&r, g_free);
	g_assert_cmpuint(testutil_log_count("identifier=victim@replay.example consumer=tsk_atk "
	    "result=replay-other-identifier"), ==, 2);
	/* it took nothing: the victim's code is bound to nobody yet */
	g_assert_cmpint(store_code_consumer(st, id, &who, &err), ==, 0);
	g_assert_null(who);
	assert_code("/totp/victim@replay.example", victim, "626262");
	/* the identical body for its own identifier: as before */
	assert_code("/totp/own@replay.example", mine, "616161");
	/* after a restart the binding holds */
	restart();
	g_assert_cmpint(pull("/totp?identifier=victim%40replay.example", mine, &r), ==, 403);
	g_clear_pointer(&r, g_free);
	assert_code("/totp?identifier=own%40replay.example", mine, "616161");
	assert_code("/totp?identifier=victim%40replay.example", victim, "626262");
}

#ifndef TEST_ON_BASE
/*
 * The steal with one identifier shared by every task: a body captured
 * from an old task, replayed for the same identifier while another task
 * waits, must not take that task's code (bind_code_to_task would give it
 * to the replayer and "" to the real task).  A signed body answers for an
 * hour after it was first seen.
 */
static void
test_pull_replay_old(void)
{
	g_autoptr(GError) err = NULL;
	const char *old = "{\"task_id\":\"tsk_old\",\"workflow_run_id\":\"wr_old\"}";
	const char *fresh = "{\"task_id\":\"tsk_fresh\"}";
	g_autofree char *digest = g_compute_checksum_for_string(G_CHECKSUM_SHA256, old, -1);
	g_autofree char *digest2 = g_compute_checksum_for_string(G_CHECKSUM_SHA256,
	    fresh, -1);
	g_autofree char *who = NULL;
	g_autofree char *r = NULL;
	gint64 id;

	/* the old task asked for shared@ 61 minutes ago */
	g_assert_cmpint(store_pull_body_set(st, digest, "shared@replay.example",
	    now_s() - 3660, &err), ==, 0);
	id = commit_code("shared@replay.example", "636363", now_s() - 5);
	g_assert_cmpint(pull("/totp/shared@replay.example", old, &r), ==, 403);
	g_assert_cmpstr(r, ==,
	    "{\"error\":\"this signed request is too old to be answered again\"}");
	g_assert_cmpint(store_code_consumer(st, id, &who, &err), ==, 0);
	g_assert_null(who);
	g_assert_cmpuint(testutil_log_count("consumer=tsk_old result=replay-expired"), ==, 1);
	/* the waiting task: its code; within its hour again and again */
	g_assert_cmpint(store_pull_body_set(st, digest2, "shared@replay.example",
	    now_s() - 3500, &err), ==, 0);
	assert_code("/totp/shared@replay.example", fresh, "636363");
	assert_code("/totp/shared@replay.example", fresh, "636363");
	/* the first binding stays: set again does not move it */
	g_assert_cmpint(store_pull_body_set(st, digest2, "other@replay.example",
	    now_s(), &err), ==, 0);
	assert_code("/totp/shared@replay.example", fresh, "636363");
}
#endif

/* Skyvern's utcnow().timestamp() on a host that is not on UTC. */
static void
test_pull_timestamp_skew(void)
{
	const char *b = "{\"task_id\":\"tsk_skew\"}";
	g_autofree char *r = NULL;
	static const struct { gint64 off; long status; } rows[] = {
		{ 5 * 3600, 200 },                 /* UTC-5 host */
		{ 5 * 3600 + 40, 200 },            /* and 40 s of drift */
		{ 5 * 3600 - 290, 200 },
		{ -(5 * 3600 + 1800), 200 },       /* UTC+5:30 */
		{ 14 * 3600, 200 },                /* UTC-14 is the last offset */
		{ 5 * 3600 + 450, 401 },           /* 7.5 min off a quarter-hour */
		{ 5 * 3600 - 301, 401 },
		{ -15 * 3600, 401 },               /* no UTC offset is 15 h */
		{ 1000, 401 },                     /* not an offset, not within */
	};

	commit_code("skew@example.com", "646464", now_s() - 5);
	cfg->http.timestamp_window = 300;
	for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_autofree char *ts = g_strdup_printf("%" G_GINT64_FORMAT,
		    now_s() + rows[i].off);

		g_test_message("row %u: %+" G_GINT64_FORMAT " s", i, rows[i].off);
		g_assert_cmpint(pull_full("/totp/skew@example.com", b, "", ts, &r), ==,
		    rows[i].status);
		if (rows[i].status == 200)
			g_assert_cmpstr(r, ==,
			    "{\"task_id\":\"tsk_skew\",\"verification_code\":\"646464\"}");
		g_clear_pointer(&r, g_free);
	}
	cfg->http.timestamp_window = 0;
	/* logged once per offset, not per request */
	g_assert_cmpuint(testutil_log_count("x-skyvern-timestamp is +300 min off the local clock"),
	    ==, 1);
	g_assert_cmpuint(testutil_log_count("x-skyvern-timestamp is -330 min off the local clock"),
	    ==, 1);
}

/* Issue 11 item 10 and issue 10 item 9: a literal '+' in the query is a
 * plus; %00 anywhere is a 400, never a cut identifier. */
static void
test_pull_identifier_decoding(void)
{
	static const char *const bad[] = {
		"/totp?identifier=bot%40nul.example%00.evil.example",
		"/totp?identifier=bot%40nul.example&x=%00",
		"/totp/bot@nul.example%00x",
		"/totp/bot%00@nul.example",
		"/totp?identifier=bot%40nul.example&identifier=bot%40plus.example",
		"/totp?identifier=bot%4",
		"/totp?identifier=bot%zz%40nul.example",
		"/totp?identifier",
		"/totp?identifier=bot%FF%40nul.example",
	};
	const char *b = "{\"task_id\":\"tsk_plus\",\"workflow_run_id\":\"wr_1\"}";
	g_autofree char *r = NULL;

	commit_code("bot+wr_1@plus.example", "656565", now_s() - 5);
	assert_code("/totp?identifier=bot+wr_1@plus.example", b, "656565");
	assert_code("/totp?identifier=Bot+wr_1%40plus.example", b, "656565");
	assert_code("/totp?identifier=bot%2Bwr_1%40plus.example", b, "656565");
	assert_code("/totp/bot+wr_1@plus.example", b, "656565");
	commit_code("bot@nul.example", "666666", now_s() - 5);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_test_message("%s", bad[i]);
		g_assert_cmpint(pull(bad[i], "{\"task_id\":\"tsk_nul\"}", &r), ==, 400);
		g_assert_null(strstr(r, "666666"));
		g_clear_pointer(&r, g_free);
	}
}

/* Issue 11 item 12: task_id echoed when the request had one. */
static void
test_pull_echo_task_id(void)
{
	g_autofree char *r = NULL;

	commit_code("echo@example.com", "676868", now_s() - 5);
	g_assert_cmpint(pull("/totp/echo@example.com",
	    "{\"task_id\":\"tsk_\\\"q\\u00e9\",\"workflow_run_id\":\"wr_e\"}", &r), ==, 200);
	g_assert_cmpstr(r, ==,
	    "{\"task_id\":\"tsk_\\\"q\xc3\xa9\",\"verification_code\":\"676868\"}");
	g_clear_pointer(&r, g_free);
	/* no task_id: the reply has none either */
	g_assert_cmpint(pull("/totp/nothing@example.com", "{\"workflow_run_id\":\"wr_e2\"}",
	    &r), ==, 200);
	g_assert_cmpstr(r, ==, "{\"verification_code\":\"\"}");
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull("/totp/nothing@example.com", "{\"task_id\":\"tsk_e3\"}",
	    &r), ==, 200);
	g_assert_cmpstr(r, ==, "{\"task_id\":\"tsk_e3\",\"verification_code\":\"\"}");
}

/* Issue 11 item 9: the run's own code first, another run's never. */
static void
test_pull_run_tag(void)
{
	gint64 now = now_s();

	/* a code that came to the run's +address beats a newer untagged one */
	commit_code("bot+wr_7@tag.example", "686868", now - 100);
	commit_code("bot@tag.example", "696969", now - 10);
	assert_code("/totp?identifier=bot%40tag.example",
	    "{\"task_id\":\"tsk_r7\",\"workflow_run_id\":\"wr_7\"}", "686868");
	/* the task id tags as well */
	commit_code("bot+tsk_t1@tag.example", "707171", now - 50);
	assert_code("/totp?identifier=bot%40tag.example", "{\"task_id\":\"TSK_T1\"}",
	    "707171");
	/* another run gets the untagged one, never run 7's */
	assert_code("/totp?identifier=bot%40tag.example",
	    "{\"task_id\":\"tsk_r8\",\"workflow_run_id\":\"wr_8\"}", "696969");
	/* only another run's code: nothing, whichever address is asked */
	commit_code("bot+wr_9@tag2.example", "707070", now - 5);
	assert_code("/totp/bot@tag2.example", "{\"workflow_run_id\":\"wr_8\"}", "");
	assert_code("/totp/bot+wr_9@tag2.example",
	    "{\"task_id\":\"tsk_x\",\"workflow_run_id\":\"wr_8x\"}", "");
	assert_code("/totp/bot+wr_9@tag2.example", "{\"workflow_run_id\":\"wr_9\"}",
	    "707070");
#ifndef TEST_ON_BASE
	/* the push's own run id (workflow_run_id = ${plus}) tags a code at a
	 * fixed identifier */
	{
		g_autoptr(GError) err = NULL;
		struct job_in j = {
			.dedup_key = "<run-tag@example.com>", .identifier = "fixed@tag3.example",
			.source = "lmtp", .filter = "test", .body = "{}", .code = "717171",
			.run_tag = "WR_5", .created = now - 5, .expires = now + 595,
		};

		g_assert_cmpint(store_commit_jobs(st, &j, 1, &err), ==, 0);
		assert_code("/totp/fixed@tag3.example", "{\"workflow_run_id\":\"wr_6\"}", "");
		assert_code("/totp/fixed@tag3.example", "{\"task_id\":\"tsk_none\"}", "");
		assert_code("/totp/fixed@tag3.example", "{\"workflow_run_id\":\"wr_5\"}",
		    "717171");
	}
#endif
}

/* Issue 11 item 8: a magic-link verdict is handed out like a code. */
static void
test_pull_link(void)
{
	g_autoptr(GError) err = NULL;
	struct message *msg = message_new();
	struct verdict v = { 0 };
	struct intake_job ij;
	const char *link = "https://app.example.com/magic?token=Zx81_q";

	msg->message_id = g_strdup("link-1@example.com");
	v.forward = TRUE;
	v.reason = "link";
	v.filter = g_strdup("test");
	v.push.identifier = g_strdup("link@example.com");
	v.push.content = g_strdup(link);
	intake_job_init(&ij, msg, &v, "lmtp", now_s() - 5, 600);
	g_assert_cmpint(store_commit_jobs(st, &ij.in, 1, &err), ==, 0);
	assert_code("/totp/link@example.com", "{\"task_id\":\"tsk_link\"}", link);
	intake_job_clear(&ij);
	verdict_clear(&v);
	message_free(&msg);
}

#ifndef TEST_ON_BASE
/* Issue 10 item 10: /healthz probes the store (a write and an fsync) at
 * most once per few seconds, however often it is asked. */
static void
test_healthz_cache(void)
{
	guint64 before = store_probe_count(st);
	g_autofree char *r = NULL;

	for (guint i = 0; i < 20; i++) {
		g_assert_cmpint(get("GET", "/healthz", FALSE, &r, NULL), ==, 200);
		g_assert_cmpstr(r, ==, "ok\n");
		g_clear_pointer(&r, g_free);
	}
	g_assert_cmpuint(store_probe_count(st) - before, <=, 1);
}
#endif

static void
test_metrics(void)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *r = NULL;
	g_autofree char *h = NULL;
	g_autofree char *line = NULL;
	guint64 counts[JOB_STATES];

	metrics_push("delivered", 0.2);
	g_assert_cmpint(store_count(st, counts, &err), ==, 0);
	g_assert_cmpuint(counts[JOB_PENDING], >, 0);
	g_assert_cmpint(get("GET", "/metrics", FALSE, &r, &h), ==, 200);
	g_assert_nonnull(strstr(h, "Content-Type: text/plain; version=0.0.4"));
	line = g_strdup_printf("\notpbridge_queue_jobs{state=\"pending\"} %"
	    G_GUINT64_FORMAT "\n", counts[JOB_PENDING]);
	g_assert_nonnull(strstr(r, line));
	g_assert_nonnull(strstr(r, "\notpbridge_queue_jobs{state=\"expired\"} 0\n"));
	g_assert_nonnull(strstr(r, "\notpbridge_pushes_total{result=\"delivered\"} 1\n"));
	g_free(r);
	g_assert_cmpint(get("POST", "/metrics", FALSE, &r, NULL), ==, 405);
}

static void
test_healthz(void)
{
	g_autofree char *r = NULL;

	g_assert_cmpint(get("GET", "/healthz", FALSE, &r, NULL), ==, 200);
	g_assert_cmpstr(r, ==, "ok\n");
	g_free(r);
	health_bad = TRUE;
	g_assert_cmpint(get("GET", "/healthz", FALSE, &r, NULL), ==, 503);
	g_assert_cmpstr(r, ==, "imap:work: no sync for 300 s\n");
	g_free(r);
	health_bad = FALSE;
	/* connections are kept alive between requests */
	{
		struct call c = { .method = "GET", .url = url_for("/healthz"), .twice = TRUE };

		call_run(&c);
		g_assert_cmpint(c.rc, ==, CURLE_OK);
		g_assert_cmpint(c.status, ==, 200);
		g_assert_cmpint(c.new_conns, ==, 0);
		call_clear(&c);
	}
	/* the unix listener serves the same routes */
	g_assert_cmpint(get("GET", "/healthz", TRUE, &r, NULL), ==, 200);
	g_assert_cmpstr(r, ==, "ok\n");
}

/* ---- raw requests ---- */

struct raw {
	const char *req;
	gboolean bytewise;      /* send req one byte per write */
	gboolean trickle;       /* then one more byte every 100 ms */
	guint wait_ms;          /* how long to read; 0: 5000 */
	/* out */
	GString *resp;
	gboolean closed;        /* the server ended the connection (within 5 s) */
	double secs;            /* from connect to the end */
	gint done;
};

static gpointer
raw_thread(gpointer data)
{
	struct raw *x = data;
	g_autoptr(GSocketClient) cl = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	GSocket *sock;
	gint64 start = g_get_monotonic_time();
	gsize len = strlen(x->req);
	char buf[4096];

	conn = g_socket_client_connect_to_host(cl, "127.0.0.1", (guint16)port, NULL, NULL);
	g_assert_nonnull(conn);
	sock = g_socket_connection_get_socket(conn);
	g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
	for (gsize off = 0; off < len; ) {
		gssize n = g_socket_send(sock, x->req + off, x->bytewise ? 1 : len - off,
		    NULL, NULL);

		if (n <= 0)
			break;   /* the server closed early: what follows is unread */
		off += (gsize)n;
	}
	while (g_get_monotonic_time() - start < (x->wait_ms != 0 ? x->wait_ms : 5000) * 1000) {
		g_autoptr(GError) err = NULL;
		gssize n;

		if (!g_socket_condition_timed_wait(sock, G_IO_IN, 100 * 1000, NULL, NULL)) {
			if (x->trickle)
				(void)g_socket_send(sock, "a", 1, NULL, NULL);
			continue;
		}
		n = g_socket_receive(sock, buf, sizeof buf, NULL, &err);
		if (n <= 0) {
			x->closed = TRUE;   /* end of stream, or reset */
			break;
		}
		g_string_append_len(x->resp, buf, n);
	}
	x->secs = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
	g_atomic_int_set(&x->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

/* Runs x on a client thread while this thread serves. */
static void
raw_run(struct raw *x)
{
	GThread *t;

	x->resp = g_string_new(NULL);
	t = g_thread_new("raw", raw_thread, x);
	while (!g_atomic_int_get(&x->done))
		g_main_context_iteration(NULL, TRUE);
	g_thread_join(t);
}

/* How many status lines ("HTTP/1.x NNN ") resp holds. */
static guint
raw_responses(const char *resp)
{
	guint n = 0;

	for (const char *p = resp; (p = strstr(p, "HTTP/1.")) != NULL; p++)
		if (strlen(p) >= 13 && (p[7] == '0' || p[7] == '1') && p[8] == ' ' &&
		    g_ascii_isdigit(p[9]) && g_ascii_isdigit(p[10]) &&
		    g_ascii_isdigit(p[11]) && p[12] == ' ')
			n++;
	return n;
}

#define PIPELINED "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

/* Issue 10 item 9: ambiguous framing is refused with one answer and the
 * connection closed; the request pipelined behind it is never answered. */
static void
test_framing(void)
{
	static const struct {
		const char *name;
		const char *req;        /* PIPELINED follows */
		const char *status;     /* "" : a good request, answered twice */
	} rows[] = {
		{ "control", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "" },
		{ "cl-te", "POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400" },
		{ "te-cl", "POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
		  "\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", "400" },
		{ "te-cl-lowercase", "POST /totp/a@b.c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: "
		  "CHUNKED\r\ncontent-length: 5\r\n\r\n0\r\n\r\n", "400" },
		{ "cl-cl-equal", "POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
		  "Content-Length: 2\r\n\r\n{}", "400" },
		{ "cl-cl-differ", "POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
		  "Content-Length: 40\r\n\r\n{}", "400" },
		{ "cl-cl-get", "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
		  "Content-Length: 0\r\n\r\n", "400" },
		{ "te-te", "POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400" },
		{ "te-http10", "POST /totp/a@b.c HTTP/1.0\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400" },
		{ "te-gzip", "POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: gzip\r\n\r\n", "501" },
		{ "te-chunked-gzip", "POST /totp/a@b.c HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: chunked, gzip\r\n\r\n", "501" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		for (int bytewise = 0; bytewise < 2; bytewise++) {
			g_autofree char *req = g_strconcat(rows[i].req, PIPELINED, NULL);
			g_autofree char *want = g_strdup_printf("HTTP/1.1 %s ", rows[i].status);
			/* a kept connection shows within 1 s that it stays open */
			struct raw x = { .req = req, .bytewise = bytewise,
			    .wait_ms = *rows[i].status == '\0' ? 1000 : 0 };

			g_test_message("%s %s", rows[i].name, bytewise ? "byte by byte" : "whole");
			raw_run(&x);
			if (*rows[i].status == '\0') {
				g_assert_cmpuint(raw_responses(x.resp->str), ==, 2);
				g_assert_false(x.closed);
			} else {
				g_assert_true(g_str_has_prefix(x.resp->str, want));
				g_assert_cmpuint(raw_responses(x.resp->str), ==, 1);
				g_assert_nonnull(strstr(x.resp->str, "\r\nConnection: close\r\n"));
				g_assert_true(x.closed);
			}
			g_string_free(x.resp, TRUE);
		}
	}
}

/* Issue 10 item 7a: a client trickling its request head a byte at a time
 * (which resets MHD's idle timeout) is cut at request_timeout; so is one
 * idling after a response on a kept connection. */
static void
test_request_timeout(void)
{
	struct raw x = { .req = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", .trickle = TRUE };
	struct raw y = { .req = PIPELINED };

	cfg->http.request_timeout = 1;
	raw_run(&x);
	g_assert_true(x.closed);
	g_assert_cmpfloat(x.secs, >=, 0.9);
	g_assert_cmpfloat(x.secs, <, 3.0);
	g_assert_cmpuint(raw_responses(x.resp->str), ==, 0);
	g_string_free(x.resp, TRUE);
	/* answered, then idle: cut a request_timeout after the response */
	raw_run(&y);
	g_assert_cmpuint(raw_responses(y.resp->str), ==, 1);
	g_assert_true(y.closed);
	g_assert_cmpfloat(y.secs, >=, 0.9);
	g_assert_cmpfloat(y.secs, <, 3.0);
	g_string_free(y.resp, TRUE);
	cfg->http.request_timeout = 10;
}

static void
test_other_paths(void)
{
	g_autofree char *r = NULL;
	g_autofree char *h = NULL;

	g_assert_cmpint(get("GET", "/nope", FALSE, &r, NULL), ==, 404);
	g_free(r);
	g_assert_cmpint(get("GET", "/totpx", FALSE, &r, NULL), ==, 404);
	g_free(r);
	g_assert_cmpint(get("DELETE", "/healthz", FALSE, &r, &h), ==, 405);
	g_assert_nonnull(strstr(h, "Allow: GET, HEAD\r\n"));
}

/* Runs last: no code committed by any test appears in the log. */
static void
test_no_code_logged(void)
{
	static const char *const codes[] = {
		"111111", "222222", "999999", "313131", "424242", "777777", "787878",
		"444444", "333333", "555555", "565656", "676767", "808080", "818181",
		"828282", "838383", "616161", "626262", "636363", "646464", "656565",
		"666666", "676868", "686868", "696969", "707070", "707171", "717171",
		"Zx81_q",
	};

	for (guint i = 0; i < G_N_ELEMENTS(codes); i++)
		g_assert_cmpuint(testutil_log_count(codes[i]), ==, 0);
	g_assert_cmpuint(testutil_log_count(KEY), ==, 0);
	g_assert_cmpuint(testutil_log_count("result=empty"), >, 0);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *inet = NULL;
	g_autofree char *unix_spec = NULL;
	int rc;

	g_test_init(&argc, &argv, NULL);
	testutil_log_capture();
	g_assert_cmpint(curl_global_init(CURL_GLOBAL_DEFAULT), ==, 0);

	tmpdir = testutil_tmpdir_new("test-http");
	db_path = g_build_filename(tmpdir, "otpbridge.db", NULL);
	g_assert_cmpint(store_open(db_path, &st, &err), ==, 0);
	sock_path = g_build_filename(tmpdir, "run", "http.sock", NULL);

	cfg = config_defaults();
	cfg->http.signing_key = g_strdup(KEY);
	unix_spec = g_strdup_printf("unix:%s", sock_path);
	env.st = st;
	env.cfg = cfg;
	env.health = health_cb;
	/* free_port's port is released before http_new binds it: a test
	 * running in parallel may take it in between.  Then pick again. */
	for (int tries = 0; srv == NULL && tries < 5; tries++) {
		if (err != NULL)
			g_test_message("port %u taken meanwhile: %s", port, err->message);
		g_clear_error(&err);
		g_ptr_array_set_size(cfg->http.listen, 0);
		g_free(inet);
		port = free_port();
		inet = g_strdup_printf("inet:127.0.0.1:%u", port);
		add_listen(inet);
		add_listen(unix_spec);
		srv = http_new(&env, &err);
	}
	g_assert_no_error(err);
	g_assert_nonnull(srv);

	g_test_add_func("/http/signature-vectors", test_signature_vectors);
	g_test_add_func("/http/pull-vectors", test_pull_vectors);
	g_test_add_func("/http/pull-refused", test_pull_refused);
	g_test_add_func("/http/pull-empty-object", test_pull_empty_object);
	g_test_add_func("/http/pull-not-yet", test_pull_not_yet);
	g_test_add_func("/http/pull-handout", test_pull_handout);
	g_test_add_func("/http/pull-bad-request", test_pull_bad_request);
	g_test_add_func("/http/pull-method", test_pull_method);
	g_test_add_func("/http/pull-too-large", test_pull_too_large);
	g_test_add_func("/http/pull-path-form", test_pull_path_form);
	g_test_add_func("/http/pull-no-key", test_pull_no_key);
	g_test_add_func("/http/pull-timestamp", test_pull_timestamp);
	g_test_add_func("/http/pull-replay", test_pull_replay);
#ifndef TEST_ON_BASE
	g_test_add_func("/http/pull-replay-old", test_pull_replay_old);
#endif
	g_test_add_func("/http/pull-timestamp-skew", test_pull_timestamp_skew);
	g_test_add_func("/http/pull-identifier-decoding", test_pull_identifier_decoding);
	g_test_add_func("/http/pull-echo-task-id", test_pull_echo_task_id);
	g_test_add_func("/http/pull-run-tag", test_pull_run_tag);
	g_test_add_func("/http/pull-link", test_pull_link);
	g_test_add_func("/http/metrics", test_metrics);
	g_test_add_func("/http/healthz", test_healthz);
#ifndef TEST_ON_BASE
	g_test_add_func("/http/healthz-cache", test_healthz_cache);
#endif
	g_test_add_func("/http/other-paths", test_other_paths);
	g_test_add_func("/http/framing", test_framing);
	g_test_add_func("/http/request-timeout", test_request_timeout);
	g_test_add_func("/http/no-code-logged", test_no_code_logged);
	rc = g_test_run();

	http_free(&srv);
	g_assert_null(srv);
	g_assert_false(g_file_test(sock_path, G_FILE_TEST_EXISTS));
	store_close(&st);
	config_free(&cfg);
	testutil_tmpdir_free(&tmpdir);
	g_free(sock_path);
	g_free(db_path);
	curl_global_cleanup();
	return rc;
}
