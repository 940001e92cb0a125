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

#endif
