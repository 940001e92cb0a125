/*
 * test-json.c - json.c: the push body of SPEC 1.1 (key order, omitted
 * optional fields, escaping), the `otpbridge test --json` line, and
 * OAuth2 token replies (members, types, expires_in in every shape).
 */
#include "autoconfig.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "json.h"
#include "testutil.h"

/* ---- push body --------------------------------------------------------- */

struct push_case {
	const char *name;
	struct push_job job;
	const char *want;
};

static const struct push_case push_cases[] = {
	{ "minimal", { "bot@example.com", "123456", NULL, NULL, NULL },
	  "{\"totp_identifier\":\"bot@example.com\",\"content\":\"123456\",\"source\":\"email\"}" },
	{ "all-fields", { "bot@example.com", "123456", "tsk_1", "wpid_2", "wr_3" },
	  "{\"totp_identifier\":\"bot@example.com\",\"content\":\"123456\","
	  "\"task_id\":\"tsk_1\",\"workflow_id\":\"wpid_2\",\"workflow_run_id\":\"wr_3\","
	  "\"source\":\"email\"}" },
	{ "only-run-id", { "id", "c", NULL, NULL, "wr_3" },
	  "{\"totp_identifier\":\"id\",\"content\":\"c\",\"workflow_run_id\":\"wr_3\","
	  "\"source\":\"email\"}" },
	{ "only-task-id", { "id", "c", "tsk_1", NULL, NULL },
	  "{\"totp_identifier\":\"id\",\"content\":\"c\",\"task_id\":\"tsk_1\","
	  "\"source\":\"email\"}" },
	{ "only-workflow-id", { "id", "c", NULL, "wpid_2", NULL },
	  "{\"totp_identifier\":\"id\",\"content\":\"c\",\"workflow_id\":\"wpid_2\","
	  "\"source\":\"email\"}" },
	{ "empty-optional-omitted", { "id", "c", "", "", "" },
	  "{\"totp_identifier\":\"id\",\"content\":\"c\",\"source\":\"email\"}" },
	{ "mixed-empty-null", { "id", "c", "", "wpid_2", NULL },
	  "{\"totp_identifier\":\"id\",\"content\":\"c\",\"workflow_id\":\"wpid_2\","
	  "\"source\":\"email\"}" },
	{ "null-required", { NULL, NULL, NULL, NULL, NULL },
	  "{\"totp_identifier\":\"\",\"content\":\"\",\"source\":\"email\"}" },
	{ "quotes", { "a\"b", "say \"hi\"", NULL, NULL, NULL },
	  "{\"totp_identifier\":\"a\\\"b\",\"content\":\"say \\\"hi\\\"\",\"source\":\"email\"}" },
	{ "backslash", { "id", "C:\\path\\x", NULL, NULL, NULL },
	  "{\"totp_identifier\":\"id\",\"content\":\"C:\\\\path\\\\x\",\"source\":\"email\"}" },
	{ "newline-tab-cr", { "id", "a\nb\tc\rd", NULL, NULL, NULL },
	  "{\"totp_identifier\":\"id\",\"content\":\"a\\nb\\tc\\rd\",\"source\":\"email\"}" },
	{ "backspace-formfeed", { "id", "a\bb\fc", NULL, NULL, NULL },
	  "{\"totp_identifier\":\"id\",\"content\":\"a\\bb\\fc\",\"source\":\"email\"}" },
	{ "control-chars", { "id", "x\001y\037z", NULL, NULL, NULL },
	  "{\"totp_identifier\":\"id\",\"content\":\"x\\u0001y\\u001fz\",\"source\":\"email\"}" },
	{ "utf8-raw", { "jürgen@example.de", "您的验证码 123456", NULL, NULL, NULL },
	  "{\"totp_identifier\":\"jürgen@example.de\",\"content\":\"您的验证码 123456\","
	  "\"source\":\"email\"}" },
	{ "slash-and-angle", { "Name <a@b>", "https://x/y?a=1&b=<2>", NULL, NULL, NULL },
	  "{\"totp_identifier\":\"Name <a@b>\",\"content\":\"https://x/y?a=1&b=<2>\","
	  "\"source\":\"email\"}" },
	{ "escaped-optional", { "id", "c", "t\"1", "w\\2", "r\n3" },
	  "{\"totp_identifier\":\"id\",\"content\":\"c\",\"task_id\":\"t\\\"1\","
	  "\"workflow_id\":\"w\\\\2\",\"workflow_run_id\":\"r\\n3\",\"source\":\"email\"}" },
};

/* Parses s as JSON; returns the root object node (owned by the caller). */
static JsonNode *
parse(const char *s)
{
	g_autoptr(JsonParser) p = json_parser_new();
	g_autoptr(GError) err = NULL;

	g_assert_true(json_parser_load_from_data(p, s, -1, &err));
	g_assert_no_error(err);
	if (err != NULL)
		return NULL;
	return json_node_copy(json_parser_get_root(p));
}

static void
test_push(gconstpointer data)
{
	const struct push_case *c = data;
	g_autofree char *got = json_push_body(&c->job);
	g_autoptr(JsonNode) root = NULL;
	JsonObject *o;

	g_assert_cmpstr(got, ==, c->want);
	/* Whatever the bytes, they parse back to the same values. */
	root = parse(got);
	if (root == NULL)
		return;
	g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
	o = json_node_get_object(root);
	g_assert_cmpstr(json_object_get_string_member(o, "totp_identifier"), ==,
	    c->job.identifier != NULL ? c->job.identifier : "");
	g_assert_cmpstr(json_object_get_string_member(o, "content"), ==,
	    c->job.content != NULL ? c->job.content : "");
	g_assert_cmpstr(json_object_get_string_member(o, "source"), ==, "email");
	g_assert_cmpint(json_object_has_member(o, "task_id"), ==,
	    c->job.task_id != NULL && *c->job.task_id != '\0');
	g_assert_cmpint(json_object_has_member(o, "workflow_id"), ==,
	    c->job.workflow_id != NULL && *c->job.workflow_id != '\0');
	g_assert_cmpint(json_object_has_member(o, "workflow_run_id"), ==,
	    c->job.workflow_run_id != NULL && *c->job.workflow_run_id != '\0');
	if (json_object_has_member(o, "task_id"))
		g_assert_cmpstr(json_object_get_string_member(o, "task_id"), ==, c->job.task_id);
	if (json_object_has_member(o, "workflow_run_id"))
		g_assert_cmpstr(json_object_get_string_member(o, "workflow_run_id"), ==,
		    c->job.workflow_run_id);
}

/* Every control character round-trips and never appears raw. */
static void
test_push_all_controls(void)
{
	char content[33];
	struct push_job job = { "id", content, NULL, NULL, NULL };
	g_autofree char *got = NULL;
	g_autoptr(JsonNode) root = NULL;

	for (int i = 1; i < 32; i++)
		content[i - 1] = (char)i;
	content[31] = 'x';
	content[32] = '\0';
	got = json_push_body(&job);
	for (const char *p = got; *p != '\0'; p++)
		g_assert_cmpint((unsigned char)*p, >=, 0x20);
	root = parse(got);
	if (root == NULL)
		return;
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(root), "content"),
	    ==, content);
}

/* A long text content is written whole. */
static void
test_push_long(void)
{
	g_autofree char *content = g_strnfill(4000, 'x');
	struct push_job job = { "id", content, NULL, NULL, NULL };
	g_autofree char *got = json_push_body(&job);
	g_autofree char *want = g_strdup_printf(
	    "{\"totp_identifier\":\"id\",\"content\":\"%s\",\"source\":\"email\"}", content);

	g_assert_cmpstr(got, ==, want);
}

/* ---- test line --------------------------------------------------------- */

struct line_case {
	const char *name;
	const char *file;
	struct verdict v;
	const char *want;
};

static const struct line_case line_cases[] = {
	{ "dropped-no-match", "001-x.eml",
	  { FALSE, NULL, "no-match", NULL, NULL, { NULL, NULL, NULL, NULL, NULL } },
	  "{\"file\":\"001-x.eml\",\"forward\":false,\"filter\":null,\"reason\":\"no-match\","
	  "\"code\":null,\"push\":null}" },
	{ "all-null", "a.eml",
	  { FALSE, NULL, NULL, NULL, NULL, { NULL, NULL, NULL, NULL, NULL } },
	  "{\"file\":\"a.eml\",\"forward\":false,\"filter\":null,\"reason\":null,"
	  "\"code\":null,\"push\":null}" },
	{ "dropped-with-filter", "b.eml",
	  { FALSE, (char *)"github", "auth-fail", NULL, NULL, { NULL, NULL, NULL, NULL, NULL } },
	  "{\"file\":\"b.eml\",\"forward\":false,\"filter\":\"github\",\"reason\":\"auth-fail\","
	  "\"code\":null,\"push\":null}" },
	/* A dropped verdict never shows a push, even if one was filled. */
	{ "dropped-push-ignored", "c.eml",
	  { FALSE, (char *)"f", "no-code", NULL, NULL, { (char *)"id", (char *)"x", NULL, NULL, NULL } },
	  "{\"file\":\"c.eml\",\"forward\":false,\"filter\":\"f\",\"reason\":\"no-code\","
	  "\"code\":null,\"push\":null}" },
	{ "forward-code", "002-github.eml",
	  { TRUE, (char *)"github", "code", NULL, (char *)"123456",
	    { (char *)"bot@example.com", (char *)"123456", NULL, NULL, (char *)"wr_1" } },
	  "{\"file\":\"002-github.eml\",\"forward\":true,\"filter\":\"github\",\"reason\":\"code\","
	  "\"code\":\"123456\",\"push\":{\"totp_identifier\":\"bot@example.com\","
	  "\"content\":\"123456\",\"workflow_run_id\":\"wr_1\",\"source\":\"email\"}}" },
	{ "forward-text-null-code", "t.eml",
	  { TRUE, (char *)"any", "text", NULL, NULL,
	    { (char *)"id", (char *)"line1\nline2", (char *)"", NULL, NULL } },
	  "{\"file\":\"t.eml\",\"forward\":true,\"filter\":\"any\",\"reason\":\"text\","
	  "\"code\":null,\"push\":{\"totp_identifier\":\"id\",\"content\":\"line1\\nline2\","
	  "\"source\":\"email\"}}" },
	{ "file-escaped", "dir/we\"ird\\name.eml",
	  { FALSE, NULL, "no-match", NULL, NULL, { NULL, NULL, NULL, NULL, NULL } },
	  "{\"file\":\"dir/we\\\"ird\\\\name.eml\",\"forward\":false,\"filter\":null,"
	  "\"reason\":\"no-match\",\"code\":null,\"push\":null}" },
};

static void
test_line(gconstpointer data)
{
	const struct line_case *c = data;
	g_autofree char *got = json_test_line(c->file, &c->v);
	g_autoptr(JsonNode) root = NULL;

	g_assert_cmpstr(got, ==, c->want);
	g_assert_null(strchr(got, '\n'));
	root = parse(got);
	if (root == NULL)
		return;
	g_assert_cmpstr(json_object_get_string_member(json_node_get_object(root), "file"),
	    ==, c->file);
}

/* ---- OAuth2 token replies ---------------------------------------------- */

#define ABSENT (-1)

struct token_case {
	const char *name;
	const char *body;
	int ret;
	const char *access_token;
	const char *refresh_token;
	const char *token_type;
	const char *error;
	const char *error_description;
	gint64 expires_in;
};

static const struct token_case token_cases[] = {
	{ "google",
	  "{\n  \"access_token\": \"ya29.a0AfH6SMBx-Example_token.0123\",\n"
	  "  \"expires_in\": 3599,\n  \"scope\": \"https://mail.google.com/\",\n"
	  "  \"token_type\": \"Bearer\"\n}",
	  0, "ya29.a0AfH6SMBx-Example_token.0123", NULL, "Bearer", NULL, NULL, 3599 },
	{ "microsoft-rotated-string-expires",
	  "{\"token_type\":\"Bearer\",\"scope\":\"https://outlook.office.com/IMAP.AccessAsUser.All\","
	  "\"expires_in\":\"3599\",\"ext_expires_in\":\"3599\","
	  "\"access_token\":\"eyJ0eXAiOiJKV1QiLCJub25jZSI6Ij.eyJhdWQiOiJodHRwczovL291dGxvb2su.sig-_\","
	  "\"refresh_token\":\"0.AXoA-rotated-refresh_token.x\"}",
	  0, "eyJ0eXAiOiJKV1QiLCJub25jZSI6Ij.eyJhdWQiOiJodHRwczovL291dGxvb2su.sig-_",
	  "0.AXoA-rotated-refresh_token.x", "Bearer", NULL, NULL, 3599 },
	{ "google-invalid-grant",
	  "{\"error\":\"invalid_grant\",\"error_description\":\"Token has been expired or revoked.\"}",
	  0, NULL, NULL, NULL, "invalid_grant", "Token has been expired or revoked.", ABSENT },
	{ "microsoft-error-extra-members",
	  "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS700082: The refresh token "
	  "has expired due to inactivity.\\r\\nTrace ID: 1f\",\"error_codes\":[700082],"
	  "\"timestamp\":\"2026-11-25 10:00:00Z\",\"trace_id\":\"1f\",\"correlation_id\":\"2e\","
	  "\"error_uri\":\"https://login.microsoftonline.com/error?code=700082\"}",
	  0, NULL, NULL, NULL, "invalid_grant",
	  "AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: 1f", ABSENT },
	{ "escapes", "{\"error\":\"x\",\"error_description\":\"a \\\"q\\\" \\u00e9 \\/ \\\\\"}",
	  0, NULL, NULL, NULL, "x", "a \"q\" \xc3\xa9 / \\", ABSENT },
	{ "empty-object", "{}", 0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "empty-strings", "{\"access_token\":\"\",\"token_type\":\"\"}",
	  0, "", NULL, "", NULL, NULL, ABSENT },
	{ "token-type-mac", "{\"access_token\":\"t\",\"token_type\":\"mac\",\"expires_in\":60}",
	  0, "t", NULL, "mac", NULL, NULL, 60 },
	{ "unknown-nested-members",
	  "{\"a\":{\"b\":[1,2,{\"c\":null}]},\"access_token\":\"t\",\"id_token\":\"j.w.t\"}",
	  0, "t", NULL, NULL, NULL, NULL, ABSENT },
	/* not a JSON object */
	{ "not-json-html", "<html><body>502 Bad Gateway</body></html>", -1,
	  NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "not-json-form", "access_token=t&expires_in=3600", -1,
	  NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "empty", "", -1, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "blank", " \r\n", -1, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "truncated", "{\"access_token\":\"t\",\"expires_in\":36", -1,
	  NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "array", "[{\"access_token\":\"t\"}]", -1, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "string", "\"t\"", -1, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "number", "42", -1, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "null", "null", -1, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "trailing-garbage", "{\"access_token\":\"t\"} x", -1,
	  NULL, NULL, NULL, NULL, NULL, ABSENT },
	/* wrong types count as absent */
	{ "wrong-types",
	  "{\"access_token\":123,\"refresh_token\":true,\"token_type\":null,"
	  "\"error\":{\"x\":1},\"error_description\":[\"a\"],\"expires_in\":false}",
	  0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "expires-null", "{\"access_token\":\"t\",\"expires_in\":null}",
	  0, "t", NULL, NULL, NULL, NULL, ABSENT },
	{ "expires-object", "{\"expires_in\":{\"s\":3600}}", 0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "expires-array", "{\"expires_in\":[3600]}", 0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	/* expires_in in every shape */
	{ "expires-zero", "{\"expires_in\":0}", 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "expires-string-zero", "{\"expires_in\":\"0\"}", 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "expires-negative", "{\"expires_in\":-5}", 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "expires-minus-one", "{\"expires_in\":-1}", 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "expires-negative-string", "{\"expires_in\":\"-3600\"}", 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "expires-negative-double", "{\"expires_in\":-0.5}", 0, NULL, NULL, NULL, NULL, NULL, 0 },
	{ "expires-fraction", "{\"expires_in\":3599.9}", 0, NULL, NULL, NULL, NULL, NULL, 3599 },
	{ "expires-exponent", "{\"expires_in\":3.6e3}", 0, NULL, NULL, NULL, NULL, NULL, 3600 },
	{ "expires-int64-max", "{\"expires_in\":9223372036854775807}",
	  0, NULL, NULL, NULL, NULL, NULL, G_MAXINT64 },
	{ "expires-huge-double", "{\"expires_in\":1e30}", 0, NULL, NULL, NULL, NULL, NULL, G_MAXINT64 },
	{ "expires-huge-string", "{\"expires_in\":\"99999999999999999999999\"}",
	  0, NULL, NULL, NULL, NULL, NULL, G_MAXINT64 },
	{ "expires-string-int64-max", "{\"expires_in\":\"9223372036854775807\"}",
	  0, NULL, NULL, NULL, NULL, NULL, G_MAXINT64 },
	{ "expires-string-int64-max-plus-1", "{\"expires_in\":\"9223372036854775808\"}",
	  0, NULL, NULL, NULL, NULL, NULL, G_MAXINT64 },
	{ "expires-string-empty", "{\"expires_in\":\"\"}", 0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "expires-string-minus", "{\"expires_in\":\"-\"}", 0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "expires-string-word", "{\"expires_in\":\"soon\"}", 0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "expires-string-trailing", "{\"expires_in\":\"3600s\"}",
	  0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "expires-string-blank", "{\"expires_in\":\" 3600\"}", 0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "expires-string-plus", "{\"expires_in\":\"+3600\"}", 0, NULL, NULL, NULL, NULL, NULL, ABSENT },
	{ "expires-string-fraction", "{\"expires_in\":\"3599.5\"}",
	  0, NULL, NULL, NULL, NULL, NULL, ABSENT },
};

/* Checks every member of t against c, then that clearing empties it. */
static void
check_token(const struct token_case *c, struct json_token *t)
{
	g_assert_cmpstr(t->access_token, ==, c->access_token);
	g_assert_cmpstr(t->refresh_token, ==, c->refresh_token);
	g_assert_cmpstr(t->token_type, ==, c->token_type);
	g_assert_cmpstr(t->error, ==, c->error);
	g_assert_cmpstr(t->error_description, ==, c->error_description);
	g_assert_cmpint(t->expires_in, ==, c->expires_in);
	json_token_clear(t);
	g_assert_null(t->access_token);
	g_assert_null(t->refresh_token);
	g_assert_null(t->token_type);
	g_assert_null(t->error);
	g_assert_null(t->error_description);
	g_assert_cmpint(t->expires_in, ==, ABSENT);
	json_token_clear(t);
}

static void
test_token(gconstpointer data)
{
	const struct token_case *c = data;
	gsize len = strlen(c->body);
	char *copy = g_memdup2(c->body, len);   /* exactly len bytes: no NUL */
	struct json_token t;

	memset(&t, 0xa5, sizeof(t));
	g_assert_cmpint(json_token_parse(copy, len, &t), ==, c->ret);
	check_token(c, &t);
	g_free(copy);
}

/* Only the first len bytes count; a NUL inside is refused. */
static void
test_token_len(void)
{
	static const char body[] = "{\"access_token\":\"t\"}{\"x\":";
	static const char nul[] = "{\"access_token\":\"t\"}\0";
	static const char nul_in_string[] = "{\"access_token\":\"t\0u\"}";
	struct json_token t;

	g_assert_cmpint(json_token_parse(body, 20, &t), ==, 0);
	g_assert_cmpstr(t.access_token, ==, "t");
	json_token_clear(&t);
	g_assert_cmpint(json_token_parse(body, sizeof(body) - 1, &t), ==, -1);
	g_assert_null(t.access_token);
	g_assert_cmpint(json_token_parse(nul, sizeof(nul) - 1, &t), ==, -1);
	g_assert_cmpint(json_token_parse(nul_in_string, sizeof(nul_in_string) - 1, &t), ==, -1);
	g_assert_cmpint(json_token_parse(NULL, 0, &t), ==, -1);
	g_assert_cmpint(t.expires_in, ==, ABSENT);
	json_token_clear(&t);
}

/* Nesting up to JSON_TOKEN_DEPTH_MAX is read, deeper refused up front. */
static void
test_token_depth(void)
{
	for (guint depth = JSON_TOKEN_DEPTH_MAX - 1; depth <= JSON_TOKEN_DEPTH_MAX + 1; depth++) {
		/* {"x": + (depth - 1) brackets, with the token beside them */
		GString *b = g_string_new("{\"access_token\":\"t\",\"x\":");
		struct json_token t;

		for (guint i = 1; i < depth; i++)
			g_string_append_c(b, '[');
		for (guint i = 1; i < depth; i++)
			g_string_append_c(b, ']');
		g_string_append_c(b, '}');
		g_test_message("depth %u: %s", depth, b->str);
		g_assert_cmpint(json_token_parse(b->str, b->len, &t), ==,
		    depth <= JSON_TOKEN_DEPTH_MAX ? 0 : -1);
		json_token_clear(&t);
		g_string_free(b, TRUE);
	}
	/* A million brackets: refused, and no stack blown on the way. */
	{
		gsize n = 1000000;
		char *deep = g_malloc(n);
		struct json_token t;

		memset(deep, '[', n);
		g_assert_cmpint(json_token_parse(deep, n, &t), ==, -1);
		g_free(deep);
	}
}

/*
 * Integers beyond int64: whatever json-glib makes of them (1.6 wraps
 * them), expires_in is never "absent" nor negative.
 */
static void
test_token_overflow(void)
{
	static const char *const bodies[] = {
		"{\"expires_in\":99999999999999999999}",
		"{\"expires_in\":9223372036854775808}",
		"{\"expires_in\":18446744073709551615}",
		"{\"expires_in\":18446744073709551616}",
		"{\"expires_in\":-99999999999999999999}",
		"{\"expires_in\":-9223372036854775809}",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(bodies); i++) {
		struct json_token t;

		g_assert_cmpint(json_token_parse(bodies[i], strlen(bodies[i]), &t), ==, 0);
		g_test_message("%s -> %" G_GINT64_FORMAT, bodies[i], t.expires_in);
		g_assert_cmpint(t.expires_in, >=, 0);
		json_token_clear(&t);
	}
}

/* The pull answer (SPEC 1.2): task_id echoed first when the request had
 * one, escaped like any JSON string; "" when there is no code. */
static void
test_pull_reply(void)
{
	static const struct { const char *task, *code, *want; } rows[] = {
		{ NULL, NULL, "{\"verification_code\":\"\"}" },
		{ NULL, "123456", "{\"verification_code\":\"123456\"}" },
		{ "tsk_123", "123456", "{\"task_id\":\"tsk_123\",\"verification_code\":\"123456\"}" },
		{ "tsk_123", NULL, "{\"task_id\":\"tsk_123\",\"verification_code\":\"\"}" },
		{ "a\"b\\c\n", "x", "{\"task_id\":\"a\\\"b\\\\c\\n\",\"verification_code\":\"x\"}" },
		{ "tsk", "https://x.example/m?a=1&b=2",
		  "{\"task_id\":\"tsk\",\"verification_code\":\"https://x.example/m?a=1&b=2\"}" },
	};

	for (guint i = 0; i < G_N_ELEMENTS(rows); i++) {
		g_autofree char *got = json_pull_reply(rows[i].task, rows[i].code);

		g_assert_cmpstr(got, ==, rows[i].want);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();

	TESTUTIL_ADD_ROWS("/json/push", push_cases, test_push);
	g_test_add_func("/json/push/all-controls", test_push_all_controls);
	g_test_add_func("/json/push/long", test_push_long);
	TESTUTIL_ADD_ROWS("/json/line", line_cases, test_line);
	TESTUTIL_ADD_ROWS("/json/token", token_cases, test_token);
	g_test_add_func("/json/token/len", test_token_len);
	g_test_add_func("/json/pull/reply", test_pull_reply);
	g_test_add_func("/json/token/depth", test_token_depth);
	g_test_add_func("/json/token/overflow", test_token_overflow);
	return g_test_run();
}
