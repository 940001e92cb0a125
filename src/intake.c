/*
 * intake.c - verdict to job, and the decision log line (see intake.h).
 *
 * A code's age counts from the topmost Received: date (intake_born()), never
 * from a date later than arrival; a code already past max_age is dropped.
 *
 * Hostile input: Message-IDs and addresses from mail end up in log lines;
 * they are cut to INTAKE_LABEL_MAX and every byte outside printable ASCII
 * (and blanks, quotes, '=') is replaced, so a header cannot forge fields
 * or lines in the log.
 */
#include "autoconfig.h"

#include <string.h>

#include "intake.h"
#include "json.h"
#include "metrics.h"

#define INTAKE_LABEL_MAX 96

void
intake_job_init(struct intake_job *j, const struct message *msg,
    const struct verdict *v, const char *source, gint64 now, guint max_age)
{
	memset(j, 0, sizeof(*j));
	j->dedup_key = msg->message_id != NULL && *msg->message_id != '\0' ?
	    g_strdup(msg->message_id) : g_strconcat("sha256:", msg->digest, NULL);
	j->body = json_push_body(&v->push);
	j->source = g_strdup(source);
	j->identifier = g_strdup(v->push.identifier);
	j->filter = g_strdup(v->filter);
	j->run_tag = g_strdup(v->push.workflow_run_id != NULL ?
	    v->push.workflow_run_id : v->push.task_id);
	/* A magic link is handed out by the pull side like a code. */
	j->code = g_strdup(v->code != NULL ? v->code :
	    v->reason != NULL && strcmp(v->reason, "link") == 0 ? v->push.content : NULL);
	j->in.dedup_key = j->dedup_key;
	j->in.identifier = j->identifier;
	j->in.source = j->source;
	j->in.filter = j->filter;
	j->in.body = j->body;
	j->in.code = j->code;
	j->in.run_tag = j->run_tag;
	j->in.created = now;
	j->in.expires = now + max_age;
}

gint64
intake_born(const struct message *msg, gint64 arrival)
{
	if (msg->received_date <= 0 || msg->received_date > arrival)
		return arrival;
	return msg->received_date;
}

gboolean
intake_stale(struct verdict *v, gint64 born, gint64 now, guint max_age)
{
	if (!v->forward || born + (gint64)max_age >= now)
		return FALSE;
	v->forward = FALSE;
	v->reason = "expired";
	v->detail = "older than [push] max_age when it arrived";
	push_job_clear(&v->push);
	return TRUE;
}

void
intake_job_clear(struct intake_job *j)
{
	g_free(j->dedup_key);
	g_free(j->body);
	g_free(j->source);
	g_free(j->identifier);
	g_free(j->filter);
	g_free(j->code);
	g_free(j->run_tag);
	memset(j, 0, sizeof(*j));
}

/* s made safe for a key=value log field, bounded. */
static char *
intake_safe(const char *s)
{
	GString *out = g_string_new(NULL);

	if (s == NULL || *s == '\0')
		return g_string_free(g_string_append(out, "-"), FALSE);
	for (const char *p = s; *p != '\0' && out->len < INTAKE_LABEL_MAX; p++) {
		unsigned char c = (unsigned char)*p;
		g_string_append_c(out, (c > 0x20 && c < 0x7f && c != '"' && c != '=') ?
		    (char)c : '?');
	}
	return g_string_free(out, FALSE);
}

char *
intake_msg_label(const struct message *msg)
{
	if (msg->message_id != NULL && *msg->message_id != '\0')
		return intake_safe(msg->message_id);
	{
		g_autofree char *d = g_strndup(msg->digest, 16);
		return g_strconcat("sha256:", d, NULL);
	}
}

void
intake_log(const struct message *msg, const char *source, const char *rcpt,
    const struct verdict *v, const char *result, gint64 job_id)
{
	g_autofree char *label = intake_msg_label(msg);
	g_autofree char *r = intake_safe(rcpt != NULL ? rcpt :
	    msg->to->len > 0 ? g_ptr_array_index(msg->to, 0) : NULL);
	g_autofree char *from = intake_safe(msg->from);
	g_autofree char *job = job_id > 0 ?
	    g_strdup_printf(" job=%" G_GINT64_FORMAT, job_id) : g_strdup("");

	metrics_message(source, result);
	if (v->filter != NULL)
		metrics_filter(v->filter);
	g_message("msg=%s src=%s from=%s rcpt=%s filter=%s result=%s reason=%s%s%s%s",
	    label, source, from, r, v->filter != NULL ? v->filter : "-", result,
	    v->reason != NULL ? v->reason : "-", job,
	    v->detail != NULL ? " detail=\"" : "", v->detail != NULL ? v->detail : "");
	(void)0;
}
