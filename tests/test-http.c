/*
 * test-http.c - http.c end to end: a real struct http on 127.0.0.1 (and a
 * unix socket) over a private store, driven by libcurl from a client
 * thread while the test's main thread runs the default main context, as
 * the daemon does.  Covers the SPEC 1.2 signature vectors, Skyvern's
 * exact request bytes, every refusal (401, 400, 405, 413, 503), the
 * freshness and handout rules, /metrics, /healthz and the path form, and
 * checks that no code is ever logged.
 *
 * Uppercase hex signatures: accepted (they name the same MAC); tested.
 */
#include "autoconfig.h"

#include <string.h>
#include <curl/curl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>

#include "config.h"
#include "http.h"
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
static GMutex log_lock;
static GString *log_text;
static guint dedup_seq;

/* ---- fixture ---- */

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
	for (gsize i = 0; i < n; i++) {
		if (strcmp(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0) {
			g_mutex_lock(&log_lock);
			g_string_append(log_text, fields[i].value);
			g_string_append_c(log_text, '\n');
			g_mutex_unlock(&log_lock);
		}
	}
	if (g_test_verbose() || (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL |
	    G_LOG_LEVEL_ERROR)) != 0)
		return g_log_writer_standard_streams(level, fields, n, data);
	return G_LOG_WRITER_HANDLED;
}

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

/* Asserts a 200 answer with this code ("" for none). */
static void
assert_code(const char *path, const char *body, const char *want)
{
	g_autofree char *resp = NULL;
	g_autofree char *expect = g_strdup_printf("{\"verification_code\":\"%s\"}", want);

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
	g_assert_cmpstr(r, ==, "{\"verification_code\":\"222222\"}");
	g_free(r);
	g_assert_cmpint(pull_full("/totp?identifier=vec%40example.com", V2, V2_SIG,
	    "1754000000", &r), ==, 200);
	g_assert_cmpstr(r, ==, "{\"verification_code\":\"222222\"}");
	g_free(r);
	/* uppercase hex accepted on the wire too */
	{
		g_autofree char *upper = g_ascii_strup(V2_SIG, -1);
		g_assert_cmpint(pull_full("/totp?identifier=vec%40example.com", V2, upper,
		    NULL, &r), ==, 200);
		g_assert_cmpstr(r, ==, "{\"verification_code\":\"222222\"}");
	}
	g_mutex_lock(&log_lock);
	g_assert_nonnull(strstr(log_text->str,
	    "src=http identifier=vec@example.com consumer=tsk_123 result=code"));
	g_mutex_unlock(&log_lock);
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
	g_mutex_lock(&log_lock);
	g_assert_nonnull(strstr(log_text->str,
	    "identifier=auth@example.com consumer=- result=bad-signature"));
	g_mutex_unlock(&log_lock);
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
	assert_code("/totp?identifier=nobody%40example.com", V2, "");
	/* only a stale code (older than max_age = 600) */
	commit_code("stale@example.com", "777777", now_s() - 700);
	assert_code("/totp?identifier=stale%40example.com", V2, "");
	/* a code in the window is found, an older stale one never */
	commit_code("stale@example.com", "787878", now_s() - 590);
	assert_code("/totp?identifier=stale%40example.com", V2, "787878");
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
	/* no consumer at all: not a code somebody took */
	assert_code("/totp/hand@example.com", "{}", "");
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
	commit_code("path@example.com", "808080", now_s() - 5);
	assert_code("/totp/Path%40Example.COM", V2, "808080");
	assert_code("/totp?identifier=PATH%40example.com", V2, "808080");
	/* sub-addressing: '+' is literal in the path; the query is form
	 * encoded ('+' is a blank there), so it needs %2B */
	commit_code("bot+tag@example.com", "838383", now_s() - 5);
	assert_code("/totp/Bot+tag@example.com", V2, "838383");
	assert_code("/totp?identifier=Bot%2Btag%40example.com", V2, "838383");
	/* non-address identifiers match exactly */
	commit_code("+1 555 0100", "818181", now_s() - 5);
	assert_code("/totp/%2B1%20555%200100", V2, "818181");
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

	commit_code("ts@example.com", "828282", now_s() - 5);
	cfg->http.timestamp_window = 300;
	g_assert_cmpint(pull_full("/totp/ts@example.com", V2, "", NULL, &r), ==, 401);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull_full("/totp/ts@example.com", V2, "", ts_old, &r), ==, 401);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull_full("/totp/ts@example.com", V2, "", ts_future, &r), ==, 401);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull_full("/totp/ts@example.com", V2, "", "12abc", &r), ==, 401);
	g_clear_pointer(&r, g_free);
	g_assert_cmpint(pull_full("/totp/ts@example.com", V2, "", ts_now, &r), ==, 200);
	g_assert_cmpstr(r, ==, "{\"verification_code\":\"828282\"}");
	cfg->http.timestamp_window = 0;
}

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
		"828282", "838383",
	};

	g_mutex_lock(&log_lock);
	for (guint i = 0; i < G_N_ELEMENTS(codes); i++)
		g_assert_null(strstr(log_text->str, codes[i]));
	g_assert_null(strstr(log_text->str, KEY));
	g_assert_nonnull(strstr(log_text->str, "result=empty"));
	g_mutex_unlock(&log_lock);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *db = NULL;
	g_autofree char *inet = NULL;
	g_autofree char *unix_spec = NULL;
	struct http_env env = { 0 };
	int rc;

	g_test_init(&argc, &argv, NULL);
	log_text = g_string_new(NULL);
	g_log_set_writer_func(log_writer, NULL, NULL);
	g_assert_cmpint(curl_global_init(CURL_GLOBAL_DEFAULT), ==, 0);

	tmpdir = g_dir_make_tmp("test-http-XXXXXX", &err);
	g_assert_no_error(err);
	db = g_build_filename(tmpdir, "otpbridge.db", NULL);
	g_assert_cmpint(store_open(db, &st, &err), ==, 0);
	sock_path = g_build_filename(tmpdir, "run", "http.sock", NULL);

	cfg = config_defaults();
	cfg->http.signing_key = g_strdup(KEY);
	port = free_port();
	inet = g_strdup_printf("inet:127.0.0.1:%u", port);
	unix_spec = g_strdup_printf("unix:%s", sock_path);
	add_listen(inet);
	add_listen(unix_spec);
	env.st = st;
	env.cfg = cfg;
	env.health = health_cb;
	srv = http_new(&env, &err);
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
	g_test_add_func("/http/metrics", test_metrics);
	g_test_add_func("/http/healthz", test_healthz);
	g_test_add_func("/http/other-paths", test_other_paths);
	g_test_add_func("/http/no-code-logged", test_no_code_logged);
	rc = g_test_run();

	http_free(&srv);
	g_assert_null(srv);
	g_assert_false(g_file_test(sock_path, G_FILE_TEST_EXISTS));
	store_close(&st);
	config_free(&cfg);
	testutil_rm_rf(tmpdir);
	g_free(tmpdir);
	g_free(sock_path);
	g_string_free(log_text, TRUE);
	curl_global_cleanup();
	return rc;
}
