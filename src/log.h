/*
 * log.h - logging setup: GLib structured logging to journald when stderr
 * is the journal, else one line per event on stderr.
 *
 * Log lines are key=value events; they never carry a code, a body, a
 * password or a key.
 */
#ifndef OTPBRIDGE_LOG_H
#define OTPBRIDGE_LOG_H

#include <glib.h>

/* Installs the writer; verbose also shows debug/info. */
void log_init(gboolean verbose);

#endif
