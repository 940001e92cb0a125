/*
 * log.c - where log lines go: journald when stderr is connected to the
 * journal (systemd), else "otpbridge: level: message" on stderr.
 *
 * Callers write one event per line with key=value fields and never pass a
 * code, a body, a password or a key.  Debug and info lines appear only
 * with -v.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <unistd.h>

#include "log.h"

static gboolean log_verbose;
static gboolean log_journal;

/* The message text of a structured log call. */
static const char *
log_field_message(const GLogField *fields, gsize n)
{
	for (gsize i = 0; i < n; i++)
		if (g_strcmp0(fields[i].key, "MESSAGE") == 0)
			return fields[i].value;
	return "";
}

static GLogWriterOutput
log_writer(GLogLevelFlags level, const GLogField *fields, gsize n,
    gpointer user_data)
{
	const char *name;

	if (!log_verbose && (level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)))
		return G_LOG_WRITER_HANDLED;
	if (log_journal &&
	    g_log_writer_journald(level, fields, n, user_data) == G_LOG_WRITER_HANDLED)
		return G_LOG_WRITER_HANDLED;
	if (level & G_LOG_LEVEL_ERROR)
		name = "fatal";
	else if (level & G_LOG_LEVEL_CRITICAL)
		name = "critical";
	else if (level & G_LOG_LEVEL_WARNING)
		name = "warning";
	else if (level & G_LOG_LEVEL_MESSAGE)
		name = "notice";
	else if (level & G_LOG_LEVEL_INFO)
		name = "info";
	else
		name = "debug";
	fprintf(stderr, "otpbridge: %s: %s\n", name, log_field_message(fields, n));
	fflush(stderr);
	return G_LOG_WRITER_HANDLED;
}

void
log_init(gboolean verbose)
{
	static gboolean installed;

	log_verbose = verbose;
	log_journal = g_log_writer_is_journald(STDERR_FILENO);
	if (!installed) {
		g_log_set_writer_func(log_writer, NULL, NULL);
		installed = TRUE;
	}
}
