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

#endif
