/*
 * secret.c - an IMAP account's password: the first line of password_file,
 * or of what password_command prints (SPEC 6).  Moved out of imap.c so
 * that the session file holds the session only.
 *
 * password_command runs as /bin/sh -c COMMAND in a process group of its
 * own, stdin and stderr on /dev/null (whatever it says on stderr never
 * reaches our log), on the IMAP account's thread, which it blocks.
 *
 * Hostile input: the command's stdout and exit status (a password
 * manager that hangs, prints a prompt or an error page, or never stops).
 * Limits: the whole run -- output and exit -- is bounded by the account's
 * timeout (at least 1 s), after which the process group is killed;
 * SECRET_CMD_OUT_MAX bytes of stdout, beyond which the group is killed
 * and the password refused rather than cut; only the first line is used.
 * password_file is read by util_read_secret_file() (SECRET_MAX bytes,
 * shared with the other secret files; config.c checks its mode).
 *
 * SECURITY: the password is the only secret here.  Every buffer that
 * held it is wiped before it is freed (util_secret_free() for the
 * result), no error string holds any of the command's output, and this
 * file logs nothing.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secret.h"
#include "util.h"

#define SECRET_WAIT_STEP_US 2000   /* between exit checks after EOF */

/* In the child: a process group of its own, so a timeout kills it all. */
static void
secret_child_setup(gpointer data)
{
	(void)data;
	(void)setpgid(0, 0);
}

/* Kills the command's process group (or, failing that, the command). */
static void
secret_kill(GPid pid)
{
	if (kill(-pid, SIGKILL) < 0)
		(void)kill(pid, SIGKILL);
}

/* Waits for pid until end (monotonic µs); FALSE when it is still running. */
static gboolean
secret_wait(GPid pid, gint64 end, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid)
			return TRUE;
		if (r < 0 && errno != EINTR)
			return TRUE;   /* not our child any more: nothing to wait for */
		if (g_get_monotonic_time() >= end)
			return FALSE;
		g_usleep(SECRET_WAIT_STEP_US);
	}
}

/* Runs password_command (sh -c) with a timeout; first line of stdout. */
char *
secret_command(const char *command, guint timeout_s, char **err)
{
	const char *argv[] = { "/bin/sh", "-c", command, NULL };
	GPid pid;
	int out = -1, status = 0;
	char buf[SECRET_CMD_OUT_MAX + 2];
	gsize len = 0;
	GError *gerr = NULL;
	gint64 end;
	gboolean timed_out = FALSE, too_much = FALSE;
	char *nl, *pw;

	timeout_s = MAX(timeout_s, 1);
	if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
	    G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDERR_TO_DEV_NULL,
	    secret_child_setup, NULL, &pid, NULL, &out, NULL, &gerr)) {
		*err = g_strdup_printf("password_command: %s", gerr->message);
		g_error_free(gerr);
		return NULL;
	}
	end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
	for (;;) {
		struct pollfd p = { .fd = out, .events = POLLIN };
		gint64 left = (end - g_get_monotonic_time()) / 1000;
		ssize_t n;

		if (left <= 0) {
			timed_out = TRUE;
			break;
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		/* One byte more than we keep: more than that is an error. */
		n = read(out, buf + len, SECRET_CMD_OUT_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (gsize)n;
		if (len > SECRET_CMD_OUT_MAX) {
			too_much = TRUE;
			break;
		}
	}
	close(out);
	/* The output is read; the exit must come within the same bound. */
	if (!timed_out && !too_much && !secret_wait(pid, end, &status))
		timed_out = TRUE;
	if (timed_out || too_much) {
		secret_kill(pid);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	g_spawn_close_pid(pid);
	buf[MIN(len, SECRET_CMD_OUT_MAX)] = '\0';
	if (timed_out || too_much || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		explicit_bzero(buf, sizeof(buf));
		if (timed_out)
			*err = g_strdup_printf("password_command timed out after %u s",
			    timeout_s);
		else if (too_much)
			*err = g_strdup_printf("password_command printed more than %d bytes",
			    SECRET_CMD_OUT_MAX);
		else if (WIFEXITED(status))
			*err = g_strdup_printf("password_command failed (exit status %d)",
			    WEXITSTATUS(status));
		else
			*err = g_strdup_printf("password_command failed (killed by signal %d)",
			    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		return NULL;
	}
	nl = strpbrk(buf, "\r\n");
	if (nl != NULL)
		*nl = '\0';
	pw = g_strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	if (*pw == '\0') {
		g_free(pw);
		*err = g_strdup("password_command printed nothing");
		return NULL;
	}
	return pw;
}

char *
secret_password(const char *password_file, const char *password_command,
    guint timeout_s, char **err)
{
	GError *gerr = NULL;
	char *pw;

	if (password_command != NULL)
		return secret_command(password_command, timeout_s, err);
	if (password_file == NULL) {
		*err = g_strdup("no password_file or password_command");
		return NULL;
	}
	pw = util_read_secret_file(password_file, &gerr);
	if (pw == NULL) {
		*err = g_strdup(gerr->message);
		g_error_free(gerr);
	}
	return pw;
}
