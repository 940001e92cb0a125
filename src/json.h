/*
 * json.h - JSON in and out, through json-glib (the only file using it).
 */
#ifndef OTPBRIDGE_JSON_H
#define OTPBRIDGE_JSON_H

#include <glib.h>
#include "core.h"

/* The compact push body of SPEC 1.1 for p: optional fields omitted when
 * NULL or empty, "source":"email" always.  g_malloc'd. */
char *json_push_body(const struct push_job *p);

/* One `otpbridge test --json` line (no newline) for file and v. */
char *json_test_line(const char *file, const struct verdict *v);

/* One `otpbridge queue list --json` line for job (no newline); reply is
 * the last reply as it may be shown (the caller redacts it). */
struct job;
char *json_job_line(const struct job *job, const char *state, const char *reply,
    gint64 now);

/* The string member field of a JSON object reply, or NULL (not JSON, not
 * an object, no such string member).  g_malloc'd. */
char *json_reply_string(const char *reply, const char *field);

/* The pull request body of SPEC 1.2 (compact, only the keys Skyvern has;
 * possibly {}), parsed from len raw bytes. */
struct json_pull {
	char *task_id;               /* NULL when absent, null or "" */
	char *workflow_run_id;
	char *workflow_permanent_id;
};
#define JSON_PULL_DEPTH_MAX 16   /* nesting refused beyond this */

/* Parses body into *pull (members zeroed first).  Returns -1 when it is
 * not JSON, not an object, nested deeper than JSON_PULL_DEPTH_MAX, or a
 * known member is neither a string nor null; unknown members are
 * ignored.  json_pull_clear() frees the members. */
int json_pull_parse(const char *body, gsize len, struct json_pull *pull);
void json_pull_clear(struct json_pull *pull);

/* An OAuth2 token endpoint reply (RFC 6749 sections 5.1 and 5.2). */
struct json_token {
	char *access_token;          /* secret */
	char *refresh_token;         /* secret: a rotated one, when sent */
	char *token_type;
	char *error;
	char *error_description;     /* the server's words, unsanitised */
	gint64 expires_in;           /* seconds, >= 0; -1 when absent */
};
#define JSON_TOKEN_DEPTH_MAX 16  /* nesting refused beyond this */

/*
 * Parses len raw bytes of body into *t (strings NULL, expires_in -1
 * first).  Returns -1 when it is not JSON, not an object, holds a NUL
 * byte or nests deeper than JSON_TOKEN_DEPTH_MAX.  A member that is null
 * or of another type than expected counts as absent; unknown members are
 * ignored; "" is kept as "".  expires_in may be a number or a string of
 * digits (some providers send "3599"): a negative value reads as 0, one
 * beyond G_MAXINT64 as G_MAXINT64, a fraction is dropped.
 * json_token_clear() wipes and frees the members (the struct may be
 * reused).
 */
int json_token_parse(const char *body, gsize len, struct json_token *t);
void json_token_clear(struct json_token *t);

/* An OAuth2 device authorization reply (RFC 8628 section 3.2). */
struct json_device {
	char *device_code;           /* secret: it polls for the tokens */
	char *user_code;             /* shown to the user */
	char *verification_uri;      /* or verification_url (Google) */
	char *message;               /* Microsoft's instructions, unsanitised */
	char *error;
	char *error_description;     /* the server's words, unsanitised */
	gint64 expires_in;           /* seconds, >= 0; -1 when absent */
	gint64 interval;             /* seconds, >= 0; -1 when absent */
};

/* Parses len raw bytes of body into *d, with the rules of
 * json_token_parse() (interval read like expires_in).
 * json_device_clear() frees the members (wipes device_code). */
int json_device_parse(const char *body, gsize len, struct json_device *d);
void json_device_clear(struct json_device *d);

/* The pull answer (SPEC 1.2): {"task_id":"<task_id>","verification_code":
 * "<code>"}, the task_id member only when task_id is not NULL (the
 * request's, echoed); code "" when NULL.  g_malloc'd. */
char *json_pull_reply(const char *task_id, const char *code);

/* {"error":"<message>"}.  g_malloc'd. */
char *json_error_body(const char *message);

/* ---- `otpbridge status` and the daemon's GET /status ---------------- */
struct status_live;
struct status_report;
#define JSON_STATUS_DEPTH_MAX 8      /* nesting refused beyond this */

/* The daemon's GET /status body for l (compact).  g_malloc'd. */
char *json_status_live(const struct status_live *l);
/*
 * Parses len raw bytes of a GET /status body into *l (which the caller
 * initialised with status_live_init() and clears).  Returns -1 when it is
 * not a JSON object, holds a NUL, nests deeper than JSON_STATUS_DEPTH_MAX
 * or a known member has the wrong type; unknown members are ignored, and
 * so are IMAP entries without an account name.
 */
int json_status_live_parse(const char *body, gsize len, struct status_live *l);
/* The `otpbridge status --json` object (one line, no newline).  The keys
 * are documented in otpbridge(8).  g_malloc'd. */
char *json_status_report(const struct status_report *r);

#endif
