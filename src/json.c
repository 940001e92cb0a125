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
 * The daemon's GET /status body is read by `otpbridge status` from
 * whatever answers on the [http] address (STATUS_REPLY_MAX bytes at
 * most): nesting is limited likewise and every member's type checked.
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
#include "status.h"
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
json_pull_reply(const char *task_id, const char *code)
{
	g_autoptr(JsonBuilder) b = NULL;

	if (task_id == NULL)
		return json_one_string("verification_code", code);
	b = json_builder_new();
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "task_id");
	json_builder_add_string_value(b, task_id);
	json_builder_set_member_name(b, "verification_code");
	json_builder_add_string_value(b, code != NULL ? code : "");
	json_builder_end_object(b);
	return json_finish(b);
}

char *
json_error_body(const char *message)
{
	return json_one_string("error", message);
}

/* ---- `otpbridge status` and the daemon's GET /status ---------------- */

static void
json_add_int(JsonBuilder *b, const char *key, gint64 v)
{
	json_builder_set_member_name(b, key);
	json_builder_add_int_value(b, v);
}

static void
json_add_bool(JsonBuilder *b, const char *key, gboolean v)
{
	json_builder_set_member_name(b, key);
	json_builder_add_boolean_value(b, v);
}

/* key: v, or key: null when v is 0 (a time never reached). */
static void
json_add_time(JsonBuilder *b, const char *key, gint64 v)
{
	json_builder_set_member_name(b, key);
	if (v == 0)
		json_builder_add_null_value(b);
	else
		json_builder_add_int_value(b, v);
}

char *
json_status_live(const struct status_live *l)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_add_nullable(b, "version", l->version);
	json_add_int(b, "pid", l->pid);
	json_add_int(b, "started", l->started);
	json_add_nullable(b, "store", l->store);
	json_add_bool(b, "push_auth_failing", l->push_auth_failing);
	json_builder_set_member_name(b, "imap");
	json_builder_begin_array(b);
	for (guint i = 0; l->imap != NULL && i < l->imap->len; i++) {
		const struct status_imap_live *a = g_ptr_array_index(l->imap, i);

		json_builder_begin_object(b);
		json_add_nullable(b, "account", a->account);
		json_add_bool(b, "connected", a->connected);
		json_add_time(b, "last_sync", a->last_sync);
		json_add_nullable(b, "last_error", a->last_error);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	return json_finish(b);
}

/* Reads member name of obj: 1 when present with the wanted type (*v set),
 * 0 when absent or null, -1 for another type. */
static int
json_status_int(JsonObject *obj, const char *name, gint64 *v)
{
	JsonNode *m = json_object_get_member(obj, name);

	if (m == NULL || JSON_NODE_HOLDS_NULL(m))
		return 0;
	if (!JSON_NODE_HOLDS_VALUE(m) || json_node_get_value_type(m) != G_TYPE_INT64)
		return -1;
	*v = json_node_get_int(m);
	return 1;
}

static int
json_status_bool(JsonObject *obj, const char *name, gboolean *v)
{
	JsonNode *m = json_object_get_member(obj, name);

	if (m == NULL || JSON_NODE_HOLDS_NULL(m))
		return 0;
	if (!JSON_NODE_HOLDS_VALUE(m) || json_node_get_value_type(m) != G_TYPE_BOOLEAN)
		return -1;
	*v = json_node_get_boolean(m);
	return 1;
}

int
json_status_live_parse(const char *body, gsize len, struct status_live *l)
{
	g_autoptr(JsonObject) obj = json_parse_object(body, len, JSON_STATUS_DEPTH_MAX);
	JsonNode *m;
	JsonArray *arr;

	if (obj == NULL ||
	    json_pull_member(obj, "version", &l->version) < 0 ||
	    json_status_int(obj, "pid", &l->pid) < 0 ||
	    json_status_int(obj, "started", &l->started) < 0 ||
	    json_pull_member(obj, "store", &l->store) < 0 ||
	    json_status_bool(obj, "push_auth_failing", &l->push_auth_failing) < 0)
		return -1;
	m = json_object_get_member(obj, "imap");
	if (m == NULL || JSON_NODE_HOLDS_NULL(m))
		return 0;
	if (!JSON_NODE_HOLDS_ARRAY(m))
		return -1;
	arr = json_node_get_array(m);
	for (guint i = 0; i < json_array_get_length(arr); i++) {
		JsonNode *e = json_array_get_element(arr, i);
		JsonObject *o;
		struct status_imap_live *a;

		if (!JSON_NODE_HOLDS_OBJECT(e))
			return -1;
		o = json_node_get_object(e);
		a = g_new0(struct status_imap_live, 1);
		if (json_pull_member(o, "account", &a->account) < 0 ||
		    json_status_bool(o, "connected", &a->connected) < 0 ||
		    json_status_int(o, "last_sync", &a->last_sync) < 0 ||
		    json_pull_member(o, "last_error", &a->last_error) < 0 ||
		    a->account == NULL) {
			gboolean bad = a->account != NULL;

			g_free(a->account);
			g_free(a->last_error);
			g_free(a);
			if (bad)
				return -1;
			continue;
		}
		g_ptr_array_add(l->imap, a);
	}
	return 0;
}

/* One job outcome of the store, without its body or code. */
static void
json_status_outcome(JsonBuilder *b, const struct store_outcome *o)
{
	g_autofree char *state = status_state_name(o->state);

	json_builder_begin_object(b);
	json_add_int(b, "job", o->id);
	json_add_nullable(b, "identifier", o->identifier);
	json_add_nullable(b, "source", o->source);
	json_add_nullable(b, "filter", o->filter);
	json_add_nullable(b, "state", state);
	json_add_int(b, "created", o->created);
	json_add_int(b, "updated", o->updated);
	json_add_int(b, "attempts", o->attempts);
	json_builder_set_member_name(b, "http_status");
	if (o->last_status > 0)
		json_builder_add_int_value(b, o->last_status);
	else
		json_builder_add_null_value(b);
	json_builder_end_object(b);
}

static void
json_status_listeners(JsonBuilder *b, const char *key, const GPtrArray *listen)
{
	json_builder_set_member_name(b, key);
	json_builder_begin_array(b);
	for (guint i = 0; listen != NULL && i < listen->len; i++) {
		g_autofree char *s = status_listen_label(g_ptr_array_index(listen, i));

		json_builder_add_string_value(b, s);
	}
	json_builder_end_array(b);
}

/* The live entry of account, or NULL. */
static const struct status_imap_live *
json_status_imap_live(const struct status_report *r, const char *account)
{
	for (guint i = 0; r->live_ok && r->live.imap != NULL && i < r->live.imap->len; i++) {
		const struct status_imap_live *a = g_ptr_array_index(r->live.imap, i);

		if (g_strcmp0(a->account, account) == 0)
			return a;
	}
	return NULL;
}

char *
json_status_report(const struct status_report *r)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	const struct config *cfg = r->cfg;

	json_builder_begin_object(b);
	json_add_int(b, "time", r->now);
	json_add_nullable(b, "config", cfg->path);

	json_builder_set_member_name(b, "listeners");
	json_builder_begin_object(b);
	json_status_listeners(b, "lmtp", cfg->lmtp.listen);
	json_status_listeners(b, "smtp", cfg->smtp.listen);
	json_status_listeners(b, "http", cfg->http.listen);
	json_builder_end_object(b);

	json_builder_set_member_name(b, "daemon");
	json_builder_begin_object(b);
	json_add_nullable(b, "asked", r->daemon_at);
	json_add_bool(b, "running", r->health_status > 0 || r->live_ok);
	json_add_nullable(b, "error", r->daemon_error);
	json_builder_set_member_name(b, "healthy");
	if (r->health_status > 0)
		json_builder_add_boolean_value(b, r->health_status == 200);
	else
		json_builder_add_null_value(b);
	json_add_nullable(b, "health", r->health);
	json_add_nullable(b, "version", r->live_ok ? r->live.version : NULL);
	json_builder_set_member_name(b, "pid");
	if (r->live_ok && r->live.pid > 0)
		json_builder_add_int_value(b, r->live.pid);
	else
		json_builder_add_null_value(b);
	json_add_time(b, "started", r->live_ok ? r->live.started : 0);
	json_add_nullable(b, "store", r->live_ok ? r->live.store : NULL);
	json_builder_end_object(b);

	json_builder_set_member_name(b, "push");
	json_builder_begin_object(b);
	json_add_nullable(b, "host", r->push_host);
	json_add_bool(b, "dry_run", r->dry_run);
	json_builder_set_member_name(b, "auth_failing");
	if (r->live_ok)
		json_builder_add_boolean_value(b, r->live.push_auth_failing);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "last");
	if (r->last_attempt != NULL)
		json_status_outcome(b, r->last_attempt);
	else
		json_builder_add_null_value(b);
	json_builder_end_object(b);

	json_builder_set_member_name(b, "store");
	json_builder_begin_object(b);
	json_add_nullable(b, "path", cfg->store.path);
	json_add_bool(b, "ok", r->store_ok);
	json_add_bool(b, "busy", r->store_busy);
	json_add_nullable(b, "error", r->store_error);
	json_builder_end_object(b);

	json_builder_set_member_name(b, "queue");
	if (r->store_ok) {
		guint64 retrying = 0;

		json_builder_begin_object(b);
		/* every state this build knows, 0 when it has no job */
		for (int s = 0; job_state_names[s] != NULL; s++) {
			guint64 n = 0;

			for (guint i = 0; i < r->counts->len; i++)
				if (g_array_index(r->counts, struct store_state_count, i).state == s)
					n = g_array_index(r->counts, struct store_state_count, i).jobs;
			json_add_int(b, job_state_names[s], (gint64)n);
		}
		for (guint i = 0; i < r->counts->len; i++) {
			const struct store_state_count *c =
			    &g_array_index(r->counts, struct store_state_count, i);
			g_autofree char *name = status_state_name(c->state);

			retrying += c->retrying;
			/* a state a newer schema wrote: by its number */
			if (c->state >= 0 &&
			    c->state < (int)g_strv_length((char **)job_state_names))
				continue;
			json_add_int(b, name, (gint64)c->jobs);
		}
		json_add_int(b, "retrying", (gint64)retrying);
		json_builder_end_object(b);
	} else {
		json_builder_add_null_value(b);
	}

	json_builder_set_member_name(b, "imap");
	json_builder_begin_array(b);
	for (guint i = 0; i < cfg->imap->len; i++) {
		const struct imap_config *ic = g_ptr_array_index(cfg->imap, i);
		const struct status_imap_live *a = json_status_imap_live(r, ic->name);
		const struct status_imap_stored *s = r->imap_stored != NULL &&
		    i < r->imap_stored->len ?
		    &g_array_index(r->imap_stored, struct status_imap_stored, i) : NULL;

		json_builder_begin_object(b);
		json_add_nullable(b, "account", ic->name);
		json_add_nullable(b, "host", ic->host);
		json_add_nullable(b, "mailbox", ic->mailbox);
		json_builder_set_member_name(b, "connected");
		if (a != NULL)
			json_builder_add_boolean_value(b, a->connected);
		else
			json_builder_add_null_value(b);
		json_add_time(b, "last_sync", a != NULL ? a->last_sync : 0);
		json_builder_set_member_name(b, "last_sync_age");
		if (a != NULL && a->last_sync > 0)
			json_builder_add_int_value(b, MAX(r->now - a->last_sync, 0));
		else
			json_builder_add_null_value(b);
		json_add_nullable(b, "last_error", a != NULL ? a->last_error : NULL);
		json_builder_set_member_name(b, "uidvalidity");
		if (s != NULL && s->found)
			json_builder_add_int_value(b, s->uidvalidity);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "last_uid");
		if (s != NULL && s->found)
			json_builder_add_int_value(b, s->last_uid);
		else
			json_builder_add_null_value(b);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);

	json_builder_set_member_name(b, "last_delivery");
	json_builder_begin_array(b);
	for (guint i = 0; r->recent != NULL && i < r->recent->len; i++)
		json_status_outcome(b, g_ptr_array_index(r->recent, i));
	json_builder_end_array(b);
	json_add_int(b, "identifiers", (gint64)r->identifiers);
	json_builder_end_object(b);
	return json_finish(b);
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
