/*
 * json.c - JSON output through json-glib; the only file that includes it.
 *
 * Hostile input: strings from mail (codes, identifiers, text) are written
 * as JSON strings; json-glib escapes them.  Nothing is parsed here yet.
 */
#include "autoconfig.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "json.h"

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
