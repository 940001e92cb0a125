/*
 * test-secret.c - secret.c: the password from password_command or
 * password_file.  A table of commands that succeed (first line, with or
 * without a newline, CRLF) and that fail (non-zero exit, a signal, a
 * timeout, output closed then a hang, nothing printed, too much printed,
 * endless output that ignores SIGPIPE, a password on stderr): each row
 * checks the exact error, that the call returns within its timeout, and
 * that the password reaches neither the error, nor any log line (all
 * levels, debug included), nor our stderr.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "secret.h"
#include "util.h"
#include "testutil.h"

#define PW "hunter2-s3cret"          /* what every command prints */

static char *tmpdir;
static GString *logged;              /* every log line of the test */

static GLogWriterOutput
log_capture(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
	(void)level;
	(void)data;
	for (gsize i = 0; i < n; i++)
		if (fields[i].length < 0 && fields[i].value != NULL)
			g_string_append_printf(logged, "%s=%s\n", fields[i].key,
			    (const char *)fields[i].value);
	return G_LOG_WRITER_HANDLED;
}

struct cmd_case {
	const char *name;
	const char *command;
	guint timeout;
	const char *want_pw;          /* NULL: an error */
	const char *want_err;
};

static const struct cmd_case cmd_cases[] = {
	{ "first-line", "printf '" PW "\\nsecond line\\n'", 5, PW, NULL },
	{ "trailing-newline", "echo " PW, 5, PW, NULL },
	{ "no-newline", "printf " PW, 5, PW, NULL },
	{ "crlf", "printf '" PW "\\r\\n'", 5, PW, NULL },
	{ "blanks-kept", "printf ' " PW " \\n'", 5, " " PW " ", NULL },
	{ "stdin-is-empty", "read x; echo " PW "$x", 5, PW, NULL },
	{ "exit-nonzero", "echo " PW "; exit 3", 5, NULL,
	  "password_command failed (exit status 3)" },
	{ "not-found", "/nonexistent/pass show " PW, 5, NULL,
	  "password_command failed (exit status 127)" },
	{ "signal", "echo " PW "; kill -TERM $$", 5, NULL,
	  "password_command failed (killed by signal 15)" },
	{ "timeout", "echo " PW "; sleep 30", 1, NULL,
	  "password_command timed out after 1 s" },
	{ "stdout-closed-then-hangs", "echo " PW "; exec >&-; sleep 30", 1, NULL,
	  "password_command timed out after 1 s" },
	{ "silent-hang", "sleep 30", 1, NULL,
	  "password_command timed out after 1 s" },
	{ "zero-timeout-is-1s", "sleep 30", 0, NULL,
	  "password_command timed out after 1 s" },
	{ "prints-nothing", "true", 5, NULL, "password_command printed nothing" },
	{ "empty-first-line", "printf '\\n" PW "\\n'", 5, NULL,
	  "password_command printed nothing" },
	{ "exactly-the-bound", "printf '" PW "\\n'; head -c 4081 /dev/zero | tr '\\0' x",
	  5, PW, NULL },
	{ "one-byte-too-much", "printf '" PW "\\n'; head -c 4082 /dev/zero | tr '\\0' x",
	  5, NULL, "password_command printed more than 4096 bytes" },
	{ "long-first-line", "head -c 5000 /dev/zero | tr '\\0' x", 5, NULL,
	  "password_command printed more than 4096 bytes" },
	{ "endless", "while :; do echo " PW "; done", 5, NULL,
	  "password_command printed more than 4096 bytes" },
	{ "endless-ignoring-sigpipe", "trap '' PIPE; while :; do echo " PW " || :; done 2>/dev/null",
	  5, NULL, "password_command printed more than 4096 bytes" },
	{ "stderr-not-logged", "echo " PW " >&2; exit 1", 5, NULL,
	  "password_command failed (exit status 1)" },
	{ "stderr-and-stdout", "echo " PW " >&2; echo " PW, 5, PW, NULL },
};

static void
test_command(gconstpointer data)
{
	const struct cmd_case *c = data;
	const char *cmd = c->command;
	char *errpath = g_build_filename(tmpdir, "stderr", NULL);
	char *err = NULL, *pw, *errtext = NULL;
	int saved, fd;
	gint64 t0, took;

	/* Our stderr into a file for the call: nothing may reach it. */
	fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	g_assert_cmpint(fd, >=, 0);
	saved = dup(2);
	g_assert_cmpint(dup2(fd, 2), ==, 2);
	close(fd);
	g_string_truncate(logged, 0);
	t0 = g_get_monotonic_time();
	pw = secret_command(cmd, c->timeout, &err);
	took = g_get_monotonic_time() - t0;
	g_assert_cmpint(dup2(saved, 2), ==, 2);
	close(saved);

	if (c->want_pw != NULL) {
		g_assert_null(err);
		g_assert_cmpstr(pw, ==, c->want_pw);
	} else {
		g_assert_null(pw);
		g_assert_cmpstr(err, ==, c->want_err);
		g_assert_null(strstr(err, "hunter2"));
	}
	/* Bounded: never much longer than the timeout (at least 1 s). */
	g_assert_cmpint(took, <, ((gint64)MAX(c->timeout, 1) + 2) * G_USEC_PER_SEC);
	g_assert_true(g_file_get_contents(errpath, &errtext, NULL, NULL));
	g_assert_cmpstr(errtext, ==, "");
	g_assert_null(strstr(logged->str, "hunter2"));
	util_secret_free(&pw);
	g_free(err);
	g_free(errtext);
	g_free(errpath);
}

/* Reads /proc/PID/stat's state; '\0' when the process is gone. */
static char
proc_state(int pid)
{
	char *path = g_strdup_printf("/proc/%d/stat", pid);
	char *stat = NULL, *p, state = '\0';

	if (g_file_get_contents(path, &stat, NULL, NULL) &&
	    (p = strrchr(stat, ')')) != NULL && p[1] == ' ')
		state = p[2];
	g_free(stat);
	g_free(path);
	return state;
}

/* A timeout kills the whole command, not only the shell: a child of it
 * that would outlive the timeout is gone (or a zombie) once we return. */
static void
test_timeout_kills_group(void)
{
	char *pidfile = g_build_filename(tmpdir, "child.pid", NULL);
	char *cmd = g_strdup_printf("sleep 30 & echo $! >%s; wait", pidfile);
	char *err = NULL, *pid_s = NULL, *pw;
	gint64 end;
	int pid;
	char st;

	pw = secret_command(cmd, 1, &err);
	g_assert_null(pw);
	g_assert_cmpstr(err, ==, "password_command timed out after 1 s");
	g_assert_true(g_file_get_contents(pidfile, &pid_s, NULL, NULL));
	pid = (int)g_ascii_strtoll(pid_s, NULL, 10);
	g_assert_cmpint(pid, >, 1);
	/* SIGKILL was sent before we returned; its delivery is a matter of
	 * scheduling: wait for it, bounded. */
	end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
	while ((st = proc_state(pid)) != '\0' && st != 'Z' &&
	    g_get_monotonic_time() < end)
		g_usleep(10000);
	g_assert_true(st == '\0' || st == 'Z');
	g_free(err);
	g_free(pid_s);
	g_free(cmd);
	g_free(pidfile);
}

/* secret_password(): the command wins over the file; the file's first
 * line; the errors when neither is set, the file is missing or empty. */
static void
test_password(void)
{
	char *file = g_build_filename(tmpdir, "pass", NULL);
	char *missing = g_build_filename(tmpdir, "missing", NULL);
	char *err = NULL, *pw;

	g_assert_true(g_file_set_contents(file, PW "-file\nsecond\n", -1, NULL));
	pw = secret_password(file, NULL, 5, &err);
	g_assert_null(err);
	g_assert_cmpstr(pw, ==, PW "-file");
	util_secret_free(&pw);

	pw = secret_password(file, "echo " PW "-cmd", 5, &err);
	g_assert_null(err);
	g_assert_cmpstr(pw, ==, PW "-cmd");
	util_secret_free(&pw);

	pw = secret_password(file, "exit 2", 5, &err);
	g_assert_null(pw);
	g_assert_cmpstr(err, ==, "password_command failed (exit status 2)");
	g_clear_pointer(&err, g_free);

	pw = secret_password(NULL, NULL, 5, &err);
	g_assert_null(pw);
	g_assert_cmpstr(err, ==, "no password_file or password_command");
	g_clear_pointer(&err, g_free);

	pw = secret_password(missing, NULL, 5, &err);
	g_assert_null(pw);
	g_assert_nonnull(strstr(err, missing));
	g_clear_pointer(&err, g_free);

	g_assert_true(g_file_set_contents(file, "\n" PW "\n", -1, NULL));
	pw = secret_password(file, NULL, 5, &err);
	g_assert_null(pw);
	g_assert_nonnull(strstr(err, "the secret file is empty"));
	g_assert_null(strstr(err, "hunter2"));
	g_clear_pointer(&err, g_free);
	g_free(missing);
	g_free(file);
}

int
main(int argc, char **argv)
{
	int r;

	g_test_init(&argc, &argv, NULL);
	logged = g_string_new(NULL);
	g_log_set_writer_func(log_capture, NULL, NULL);
	tmpdir = testutil_tmpdir_new("test-secret");
	TESTUTIL_ADD_ROWS("/secret/command", cmd_cases, test_command);
	g_test_add_func("/secret/command/timeout-kills-group", test_timeout_kills_group);
	g_test_add_func("/secret/password", test_password);
	r = g_test_run();
	testutil_tmpdir_free(&tmpdir);
	g_string_free(logged, TRUE);
	return r;
}
