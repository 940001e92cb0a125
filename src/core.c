/*
 * core.c - the pure decision: which filter, whether the sender is
 * genuine, which code, which identifier; see doc/core.md section 4.
 *
 * No I/O and no globals, so every source (test, deliver, LMTP, IMAP)
 * shares it and fuzzing it is cheap.  Hostile input: the parsed message
 * (bounded by mime.c); content sent as text is cut at CORE_TEXT_MAX, and
 * a text of CORE_TEXT_MIN characters or fewer is never sent: Skyvern
 * would store it verbatim as the code (SPEC 1.1), so a mail saying only
 * "123456" or "Hi" must not become one.
 */
#include "autoconfig.h"

#include <string.h>

#include "core.h"
#include "detect.h"
#include "util.h"

void
push_job_clear(struct push_job *p)
{
	g_clear_pointer(&p->identifier, g_free);
	g_clear_pointer(&p->content, g_free);
	g_clear_pointer(&p->task_id, g_free);
	g_clear_pointer(&p->workflow_id, g_free);
	g_clear_pointer(&p->workflow_run_id, g_free);
}

void
verdict_clear(struct verdict *v)
{
	g_clear_pointer(&v->filter, g_free);
	g_clear_pointer(&v->code, g_free);
	push_job_clear(&v->push);
	v->forward = FALSE;
	v->reason = NULL;
	v->detail = NULL;
}

/* s without any Unicode white space; NULL when nothing is left. */
static char *
core_strip_blanks(const char *s)
{
	GString *out = g_string_new(NULL);

	for (const char *p = s; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (!g_unichar_isspace(c) && c != 0x00a0 && c != 0x202f)
			g_string_append_unichar(out, c);
	}
	if (out->len == 0) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/*
 * The text sent when a filter falls back to text: the body, else the
 * forwarded message's body, else the subject; trimmed and bounded.
 */
static char *
core_text_content(const struct message *msg)
{
	const char *src = msg->text;
	g_autofree char *t = NULL;
	const char *end;

	t = g_strstrip(g_strdup(src));
	if (*t == '\0' && msg->forwarded != NULL) {
		g_free(t);
		t = g_strstrip(g_strdup(msg->forwarded->text));
	}
	if (*t == '\0') {
		g_free(t);
		t = g_strstrip(g_strdup(msg->subject));
	}
	if (*t == '\0')
		return NULL;
	if (strlen(t) > CORE_TEXT_MAX) {
		t[CORE_TEXT_MAX] = '\0';
		if (!g_utf8_validate(t, -1, &end))
			t[end - t] = '\0';
	}
	return g_steal_pointer(&t);
}

/* The +detail of an address's local part, or NULL. */
static char *
core_plus(const char *addr)
{
	const char *plus, *at;

	if (addr == NULL || (at = strchr(addr, '@')) == NULL)
		return NULL;
	plus = memchr(addr, '+', (size_t)(at - addr));
	if (plus == NULL || plus + 1 == at)
		return NULL;
	return g_strndup(plus + 1, (gsize)(at - plus - 1));
}

/* Expands tmpl; returns NULL when it expands to nothing. */
static char *
core_expand(const char *tmpl, const struct template_vars *vars)
{
	char *s;

	if (tmpl == NULL)
		return NULL;
	s = g_strstrip(filter_expand(tmpl, vars));
	if (*s == '\0') {
		g_free(s);
		return NULL;
	}
	return s;
}

/* Runs the filter's code extraction on one body; sets v->code or *link. */
static void
core_extract_body(const struct filter *f, const struct message *msg,
    struct verdict *v, char **link)
{
	if (f->code != NULL) {
		g_autofree char *c = regex_extract(f->code, msg->subject,
		    strlen(msg->subject));
		if (c == NULL)
			c = regex_extract(f->code, msg->text, strlen(msg->text));
		if (c != NULL) {
			g_autofree char *s = core_strip_blanks(c);

			/* the same normalisation as the detector's (doc/core.md §4) */
			if (s != NULL)
				v->code = detect_normalize(s);
		}
		return;
	}
	/* A meeting invitation (a text/calendar part) carries a passcode and
	 * a meeting ID, never a sign-in code or link (doc/core.md section 3):
	 * the built-in detector takes nothing from it. */
	if (msg->calendar)
		return;
	{
		struct detection d = { DETECT_NONE, NULL };

		detect_code(msg->subject, msg->text, msg->links, &d);
		if (d.kind == DETECT_CODE)
			v->code = g_steal_pointer(&d.value);
		else if (d.kind == DETECT_LINK)
			*link = g_steal_pointer(&d.value);
		detection_clear(&d);
	}
}

/*
 * The message's own body first; a forwarded message (an attached
 * message/rfc822, its subject and body) only when that gave neither a
 * code nor a link (doc/core.md section 4).
 */
static void
core_extract(const struct filter *f, const struct message *msg,
    struct verdict *v, char **link)
{
	core_extract_body(f, msg, v, link);
	if (v->code == NULL && *link == NULL && msg->forwarded != NULL)
		core_extract_body(f, msg->forwarded, v, link);
}

/* How many of msg's Authentication-Results may count for this source. */
static guint
core_auth_usable(const struct core_options *opt, const struct message *msg,
    const struct envelope *env)
{
	enum auth_where where = env->account != NULL || opt->mta_strips_forged ?
	    AUTH_ANYWHERE : AUTH_ABOVE_RECEIVED;

	return auth_usable(where, msg->auth_results->len, msg->has_received,
	    msg->ar_above_received);
}

void
core_decide(const struct filter_set *set, const struct core_options *opt,
    const struct message *msg, const struct envelope *env, struct verdict *v)
{
	/* patterns see the recipient's normal form; ${rcpt} and ${plus} the
	 * address as given (a run id in the tag keeps its case) */
	g_autofree char *rcpt_norm = env->rcpt != NULL ?
	    util_normalize_identifier(env->rcpt) : NULL;
	struct match_input in = { msg, rcpt_norm, env->account };
	const struct filter *f;
	const char *why = NULL;
	enum send_mode send;
	g_autofree char *link = NULL;
	g_autofree char *plus = NULL;
	struct template_vars vars = { 0 };
	const char *first_to = msg->to->len > 0 ? g_ptr_array_index(msg->to, 0) : NULL;

	memset(v, 0, sizeof(*v));
	f = filter_set_match(set, &in);
	if (f == NULL) {
		v->reason = "no-match";
		return;
	}
	v->filter = g_strdup(f->name);
	if (!auth_check(msg->auth_results, core_auth_usable(opt, msg, env),
	    env->account != NULL && env->trusted_authserv_id != NULL ?
	    env->trusted_authserv_id : opt->trusted_authserv_id,
	    msg->from_domain, f->require_auth, &why)) {
		v->reason = "auth-fail";
		v->detail = why;
		return;
	}
	send = f->send_set ? f->send : opt->default_send;
	if (send != SEND_TEXT)
		core_extract(f, msg, v, &link);

	if (v->code != NULL) {
		v->reason = "code";
		v->push.content = g_strdup(v->code);
	} else if (link != NULL && f->code == NULL) {
		v->reason = "link";
		v->push.content = g_steal_pointer(&link);
	} else if (send == SEND_AUTO && msg->calendar && f->code == NULL) {
		/* its text would hand the meeting's passcode to Skyvern's parser */
		v->reason = "no-code";
		v->detail = "a meeting invitation (text/calendar part)";
		return;
	} else if (send != SEND_CODE) {
		v->reason = "text";
		v->push.content = core_text_content(msg);
		if (v->push.content == NULL) {
			v->reason = "no-code";
			v->detail = "the message has no text";
			return;
		}
		if (g_utf8_strlen(v->push.content, -1) <= CORE_TEXT_MIN) {
			v->reason = "short-text";
			v->detail = "text of 10 characters or fewer would be stored as the code";
			push_job_clear(&v->push);
			return;
		}
	} else {
		v->reason = "no-code";
		return;
	}

	vars.rcpt = env->rcpt != NULL ? env->rcpt :
	    env->account_identifier != NULL ? env->account_identifier : first_to;
	plus = core_plus(vars.rcpt);
	vars.plus = plus;
	vars.to = first_to;
	vars.from = msg->from;
	vars.account = env->account;
	{
		g_autofree char *id = core_expand(f->identifier, &vars);
		if (id == NULL) {
			v->reason = "no-identifier";
			push_job_clear(&v->push);
			return;
		}
		v->push.identifier = util_normalize_identifier(id);
	}
	v->push.task_id = core_expand(f->task_id, &vars);
	v->push.workflow_id = core_expand(f->workflow_id, &vars);
	v->push.workflow_run_id = core_expand(f->workflow_run_id, &vars);
	v->forward = TRUE;
}
