/*
 * json.c - JSON output through json-glib; the only file that includes it.
 *
 * Hostile input: strings from mail (codes, identifiers, text) are written
 * as JSON strings; json-glib escapes them.  Endpoint replies are parsed
 * (bounded by the push client) only to read one string member.
 */
#include "autoconfig.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "json.h"
#include "store.h"

/* Adds key: s when s is non-empty (SPEC 1.1: never send ""). */
static void
json_add_optional(JsonBuilder *b, const char *key, const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	json_builder_set_member_name(b, key);
	json_builder_add_string_value(b, s);
}

/* Adds key: s, or key: null when s is NULL. */
static void
json_add_nullable(JsonBuilder *b, const char *key, const char *s)
{
	json_builder_set_member_name(b, key);
	if (s == NULL)
		json_builder_add_null_value(b);
	else
		json_builder_add_string_value(b, s);
}

static void
json_build_push(JsonBuilder *b, const struct push_job *p)
{
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "totp_identifier");
	json_builder_add_string_value(b, p->identifier != NULL ? p->identifier : "");
	json_builder_set_member_name(b, "content");
	json_builder_add_string_value(b, p->content != NULL ? p->content : "");
	json_add_optional(b, "task_id", p->task_id);
	json_add_optional(b, "workflow_id", p->workflow_id);
	json_add_optional(b, "workflow_run_id", p->workflow_run_id);
	json_builder_set_member_name(b, "source");
	json_builder_add_string_value(b, "email");
	json_builder_end_object(b);
}

/* Serialises the builder's root compactly. */
static char *
json_finish(JsonBuilder *b)
{
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	g_autoptr(JsonGenerator) gen = json_generator_new();

	g_autofree char *out = NULL;
	GString *fixed;

	json_generator_set_root(gen, root);
	out = json_generator_to_data(gen, NULL);
	if (strchr(out, '\037') == NULL)
		return g_steal_pointer(&out);
	/* XXX json-glib 1.6 writes U+001F raw, which is invalid JSON.  A raw
	 * control byte can only stand inside a string here, so escape it. */
	fixed = g_string_sized_new(strlen(out) + 16);
	for (const char *p = out; *p != '\0'; p++) {
		if (*p == '\037')
			g_string_append(fixed, "\\u001f");
		else
			g_string_append_c(fixed, *p);
	}
	return g_string_free(fixed, FALSE);
}

char *
json_job_line(const struct job *job, const char *state, const char *reply,
    gint64 now)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "id");
	json_builder_add_int_value(b, job->id);
	json_builder_set_member_name(b, "state");
	json_builder_add_string_value(b, state);
	json_builder_set_member_name(b, "created");
	json_builder_add_int_value(b, job->created);
	json_builder_set_member_name(b, "age");
	json_builder_add_int_value(b, now - job->created);
	json_builder_set_member_name(b, "attempts");
	json_builder_add_int_value(b, job->attempts);
	json_add_nullable(b, "source", job->source);
	json_add_nullable(b, "filter", job->filter);
	json_add_nullable(b, "identifier", job->identifier);
	json_builder_set_member_name(b, "last_status");
	json_builder_add_int_value(b, job->last_status);
	json_add_nullable(b, "last_reply", reply);
	json_add_nullable(b, "totp_code_id", job->remote_id);
	json_builder_set_member_name(b, "next_attempt");
	json_builder_add_int_value(b, job->next_attempt);
	json_builder_set_member_name(b, "expires");
	json_builder_add_int_value(b, job->expires);
	json_builder_end_object(b);
	return json_finish(b);
}

char *
json_reply_string(const char *reply, const char *field)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonNode *root;
	JsonObject *obj;
	JsonNode *m;

	if (reply == NULL || !json_parser_load_from_data(p, reply, -1, NULL))
		return NULL;
	root = json_parser_get_root(p);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return NULL;
	obj = json_node_get_object(root);
	m = json_object_get_member(obj, field);
	if (m == NULL || !JSON_NODE_HOLDS_VALUE(m) ||
	    json_node_get_value_type(m) != G_TYPE_STRING)
		return NULL;
	return g_strdup(json_node_get_string(m));
}

char *
json_push_body(const struct push_job *p)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_build_push(b, p);
	return json_finish(b);
}

char *
json_test_line(const char *file, const struct verdict *v)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "file");
	json_builder_add_string_value(b, file);
	json_builder_set_member_name(b, "forward");
	json_builder_add_boolean_value(b, v->forward);
	json_add_nullable(b, "filter", v->filter);
	json_add_nullable(b, "reason", v->reason);
	json_add_nullable(b, "code", v->code);
	json_builder_set_member_name(b, "push");
	if (v->forward)
		json_build_push(b, &v->push);
	else
		json_builder_add_null_value(b);
	json_builder_end_object(b);
	return json_finish(b);
}
