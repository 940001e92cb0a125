/*
 * secret.h - an IMAP account's password (SPEC 6): read from
 * password_file, or printed by password_command.  Blocking, for an IMAP
 * account's thread; no globals; it logs nothing (the caller logs the
 * error, which never holds the password).
 */
#ifndef OTPBRIDGE_SECRET_H
#define OTPBRIDGE_SECRET_H

#include <glib.h>

#define SECRET_CMD_OUT_MAX 4096     /* password_command stdout bytes */

/*
 * Runs command with /bin/sh -c (stdin and stderr on /dev/null) and waits
 * at most timeout_s seconds (at least 1) for it.  Returns the first line
 * of its stdout (without "\r" or "\n"), g_malloc'd: free it with
 * util_secret_free().  Returns NULL and *err (g_malloc'd, never the
 * output) when the command cannot start, exits non-zero or by a signal
 * ("password_command failed (exit status N)"), runs longer
 * ("password_command timed out after N s": its process group is killed),
 * prints more than SECRET_CMD_OUT_MAX bytes ("password_command printed
 * more than N bytes": killed too), or its first line is empty
 * ("password_command printed nothing").
 */
char *secret_command(const char *command, guint timeout_s, char **err);

/*
 * The password: secret_command(password_command) when it is set, else
 * the first line of password_file (util_read_secret_file()).  NULL and
 * *err (g_malloc'd) when neither is set or that fails.
 */
char *secret_password(const char *password_file, const char *password_command,
    guint timeout_s, char **err);

#endif
