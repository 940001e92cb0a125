/*
 * test-json.c - json.c: the push body of SPEC 1.1 (key order, omitted
 * optional fields, escaping) and the `otpbridge test --json` line.
 */
#include "autoconfig.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "json.h"

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

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();

	for (gsize i = 0; i < G_N_ELEMENTS(push_cases); i++) {
		g_autofree char *p = g_strdup_printf("/json/push/%s", push_cases[i].name);
		g_test_add_data_func(p, &push_cases[i], test_push);
	}
	g_test_add_func("/json/push/all-controls", test_push_all_controls);
	g_test_add_func("/json/push/long", test_push_long);
	for (gsize i = 0; i < G_N_ELEMENTS(line_cases); i++) {
		g_autofree char *p = g_strdup_printf("/json/line/%s", line_cases[i].name);
		g_test_add_data_func(p, &line_cases[i], test_line);
	}
	return g_test_run();
}
