/*
 * json.c - JSON in and out through json-glib; the only file that includes it.
 *
 * Hostile input: strings from mail (codes, identifiers, text) are written
 * as JSON strings; json-glib escapes them.  Endpoint replies are parsed
 * (bounded by the push client) only to read one string member.  Pull
 * request bodies (bounded by [http] max_body) and OAuth token and device
 * authorization replies (bounded by OAUTH_REPLY_MAX) are hostile: nesting is limited before
 * json-glib's recursive parser sees them.
 *
 * Secrets: a token reply holds an access token and maybe a refresh
 * token; a device authorization reply a device code.  Our copies are wiped when freed.  XXX json-glib's own copies
 * (scanner buffer, nodes) are freed without a wipe; the caller wipes the
 * reply body it gave us.
 */
#include "autoconfig.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "json.h"
#include "store.h"
#include "util.h"

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

/*
 * TRUE when the brackets of body nest no deeper than max outside strings:
 * json-glib's parser recurses once per level, so a body of "[[[[..." must
 * be refused before it reaches it.
 */
static gboolean
json_depth_ok(const char *body, gsize len, guint max)
{
	guint depth = 0;
	gboolean in_str = FALSE;

	for (gsize i = 0; i < len; i++) {
		char c = body[i];

		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = FALSE;
		} else if (c == '"') {
			in_str = TRUE;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return FALSE;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return TRUE;
}

/*
 * The JSON object in len raw bytes of hostile body, or NULL when body is
 * empty, holds a NUL byte, nests deeper than max_depth, is not JSON or
 * not an object.  The caller owns the returned reference.
 */
static JsonObject *
json_parse_object(const char *body, gsize len, guint max_depth)
{
	g_autoptr(JsonParser) p = NULL;
	JsonNode *root;

	if (body == NULL || len == 0 || len > G_MAXSSIZE ||
	    memchr(body, '\0', len) != NULL ||
	    !json_depth_ok(body, len, max_depth))
		return NULL;
	p = json_parser_new();
	if (!json_parser_load_from_data(p, body, (gssize)len, NULL))
		return NULL;
	root = json_parser_get_root(p);
	if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root))
		return NULL;
	return json_object_ref(json_node_get_object(root));
}

/* Reads the optional string member name into *out: 0 when absent, null
 * or a string, -1 for any other type. */
static int
json_pull_member(JsonObject *obj, const char *name, char **out)
{
	JsonNode *m = json_object_get_member(obj, name);
	const char *s;

	if (m == NULL || JSON_NODE_HOLDS_NULL(m))
		return 0;
	if (!JSON_NODE_HOLDS_VALUE(m) || json_node_get_value_type(m) != G_TYPE_STRING)
		return -1;
	s = json_node_get_string(m);
	if (s != NULL && *s != '\0')
		*out = g_strdup(s);
	return 0;
}

int
json_pull_parse(const char *body, gsize len, struct json_pull *pull)
{
	g_autoptr(JsonObject) obj = NULL;

	memset(pull, 0, sizeof *pull);
	obj = json_parse_object(body, len, JSON_PULL_DEPTH_MAX);
	if (obj == NULL)
		return -1;
	if (json_pull_member(obj, "task_id", &pull->task_id) < 0 ||
	    json_pull_member(obj, "workflow_run_id", &pull->workflow_run_id) < 0 ||
	    json_pull_member(obj, "workflow_permanent_id",
	    &pull->workflow_permanent_id) < 0) {
		json_pull_clear(pull);
		return -1;
	}
	return 0;
}

void
json_pull_clear(struct json_pull *pull)
{
	g_clear_pointer(&pull->task_id, g_free);
	g_clear_pointer(&pull->workflow_run_id, g_free);
	g_clear_pointer(&pull->workflow_permanent_id, g_free);
}

/* The string member name, copied, or NULL when absent or not a string. */
static char *
json_token_string(JsonObject *obj, const char *name)
{
	JsonNode *m = json_object_get_member(obj, name);

	if (m == NULL || !JSON_NODE_HOLDS_VALUE(m) ||
	    json_node_get_value_type(m) != G_TYPE_STRING)
		return NULL;
	return g_strdup(json_node_get_string(m));
}

/* s as a whole number ("-"? digits, nothing else), saturated to
 * 0..G_MAXINT64; -1 when it is not one. */
static gint64
json_token_digits(const char *s)
{
	gboolean neg = *s == '-';
	gint64 v = 0;

	if (neg)
		s++;
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!g_ascii_isdigit(*s))
			return -1;
		if (v > (G_MAXINT64 - (*s - '0')) / 10)
			v = G_MAXINT64;
		else
			v = v * 10 + (*s - '0');
	}
	return neg ? 0 : v;
}

/* A member counting seconds (expires_in, interval): 0..G_MAXINT64, or -1
 * when absent. */
static gint64
json_token_seconds(JsonObject *obj, const char *name)
{
	JsonNode *m = json_object_get_member(obj, name);
	gint64 v;
	double d;

	if (m == NULL || !JSON_NODE_HOLDS_VALUE(m))
		return -1;
	switch (json_node_get_value_type(m)) {
	case G_TYPE_INT64:
		/* XXX json-glib 1.6 does not refuse integers beyond int64: it
		 * saturates to 2^64-1 and casts, so 99999999999999999999 reads
		 * as -1.  Such a value then counts as 0 here, like a negative
		 * one: short-lived, never "absent". */
		v = json_node_get_int(m);
		return v < 0 ? 0 : v;
	case G_TYPE_DOUBLE:
		d = json_node_get_double(m);
		if (!(d > 0))
			return 0;
		if (d >= 9223372036854775807.0)
			return G_MAXINT64;
		return (gint64)d;
	case G_TYPE_STRING:
		return json_token_digits(json_node_get_string(m));
	default:
		return -1;
	}
}

/* The expires_in member: seconds, 0..G_MAXINT64, or -1 when absent. */
static gint64
json_token_expires(JsonObject *obj)
{
	return json_token_seconds(obj, "expires_in");
}

int
json_token_parse(const char *body, gsize len, struct json_token *t)
{
	g_autoptr(JsonObject) obj = NULL;

	memset(t, 0, sizeof *t);
	t->expires_in = -1;
	obj = json_parse_object(body, len, JSON_TOKEN_DEPTH_MAX);
	if (obj == NULL)
		return -1;
	t->access_token = json_token_string(obj, "access_token");
	t->refresh_token = json_token_string(obj, "refresh_token");
	t->token_type = json_token_string(obj, "token_type");
	t->error = json_token_string(obj, "error");
	t->error_description = json_token_string(obj, "error_description");
	t->expires_in = json_token_expires(obj);
	return 0;
}

void
json_token_clear(struct json_token *t)
{
	util_secret_free(&t->access_token);
	util_secret_free(&t->refresh_token);
	util_secret_free(&t->token_type);
	util_secret_free(&t->error);
	util_secret_free(&t->error_description);
	t->expires_in = -1;
}

/* {"<key>":"<s>"} ("" when s is NULL), compact.  g_malloc'd. */
static char *
json_one_string(const char *key, const char *s)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, key);
	json_builder_add_string_value(b, s != NULL ? s : "");
	json_builder_end_object(b);
	return json_finish(b);
}

char *
json_pull_reply(const char *code)
{
	return json_one_string("verification_code", code);
}

char *
json_error_body(const char *message)
{
	return json_one_string("error", message);
}

int
json_device_parse(const char *body, gsize len, struct json_device *d)
{
	g_autoptr(JsonObject) obj = NULL;

	memset(d, 0, sizeof *d);
	d->expires_in = -1;
	d->interval = -1;
	obj = json_parse_object(body, len, JSON_TOKEN_DEPTH_MAX);
	if (obj == NULL)
		return -1;
	d->device_code = json_token_string(obj, "device_code");
	d->user_code = json_token_string(obj, "user_code");
	d->verification_uri = json_token_string(obj, "verification_uri");
	if (d->verification_uri == NULL)   /* Google's older spelling */
		d->verification_uri = json_token_string(obj, "verification_url");
	d->message = json_token_string(obj, "message");
	d->error = json_token_string(obj, "error");
	d->error_description = json_token_string(obj, "error_description");
	d->expires_in = json_token_seconds(obj, "expires_in");
	d->interval = json_token_seconds(obj, "interval");
	return 0;
}

void
json_device_clear(struct json_device *d)
{
	util_secret_free(&d->device_code);
	g_clear_pointer(&d->user_code, g_free);
	g_clear_pointer(&d->verification_uri, g_free);
	g_clear_pointer(&d->message, g_free);
	g_clear_pointer(&d->error, g_free);
	g_clear_pointer(&d->error_description, g_free);
	d->expires_in = -1;
	d->interval = -1;
}
