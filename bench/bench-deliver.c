/*
 * bench-deliver.c - `deliver` start -> push received, not a test.
 *
 * A local endpoint (libmicrohttpd, in this process) takes the pushes.
 * Three series, each a fresh Message-ID per run, the time from fork() of
 * the MDA to the endpoint having read the push, p50/p99/max:
 *
 *   1. otpbridge-deliver with `otpbridge run` listening on a unix socket
 *      (the fast path: the daemon commits and pushes), also start -> exit;
 *   2. otpbridge-deliver with no daemon (it execs otpbridge deliver);
 *   3. otpbridge deliver itself, no daemon (today's path).
 *
 * Usage: bench-deliver OTPBRIDGE OTPBRIDGE-DELIVER [RUNS]  (default 200,
 * at least 100).  Hostile input: none.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include "benchlib.h"

/*
 * One MDA run with argv; returns ms from fork to the push arriving, and
 * in *exit_ms from fork to its exit.  Exits the bench when the MDA fails
 * or no push comes within 5 s.
 */
static double
bench_run(char **argv, const char *tag, int n, double *exit_ms)
{
	g_autofree char *mail = g_strdup_printf(
	    "From: Acme <codes@acme.example>\r\nTo: bot@otp.example.com\r\n"
	    "Subject: Your Acme code\r\nMessage-ID: <bench-%s-%d-%d@acme.example>\r\n\r\n"
	    "Your verification code is 482913.\r\n", tag, (int)getpid(), n);
	int fds[2], status = 0;
	gint before = bench_endpoint_requests();
	gint64 t0, t1, arrived, give_up;
	pid_t pid;

	if (pipe(fds) < 0)
		exit(1);
	t0 = g_get_monotonic_time();
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 2);         /* its log lines are not the figures */
		dup2(fds[0], 0);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[0]);
	if (write(fds[1], mail, strlen(mail)) < 0)
		exit(1);
	close(fds[1]);
	waitpid(pid, &status, 0);
	t1 = g_get_monotonic_time();
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		g_printerr("bench-deliver: %s run %d failed (status %d)\n", tag, n, status);
		exit(1);
	}
	give_up = t1 + 5 * G_USEC_PER_SEC;
	while (bench_endpoint_requests() == before) {
		if (g_get_monotonic_time() > give_up) {
			g_printerr("bench-deliver: %s run %d: no push\n", tag, n);
			exit(1);
		}
		g_usleep(100);
	}
	arrived = bench_endpoint_last_us();
	*exit_ms = (double)(t1 - t0) / 1000.0;
	return (double)(arrived - t0) / 1000.0;
}

/* Runs a series and prints its figures. */
static void
bench_series(const char *title, const char *tag, char **argv, int runs)
{
	double *lat = g_new(double, runs), *ex = g_new(double, runs);

	for (int i = 0; i < runs; i++)
		lat[i] = bench_run(argv, tag, i, &ex[i]);
	qsort(lat, runs, sizeof(double), bench_cmp_double);
	qsort(ex, runs, sizeof(double), bench_cmp_double);
	printf("%s, %d runs\n", title, runs);
	printf("  start -> push received: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
	    lat[runs / 2], lat[runs * 99 / 100], lat[runs - 1]);
	printf("  start -> exit:          p50 %.2f ms, p99 %.2f ms\n",
	    ex[runs / 2], ex[runs * 99 / 100]);
	g_free(lat);
	g_free(ex);
}

/* TRUE once something accepts on the unix socket path. */
static gboolean
bench_listening(const char *path)
{
	struct sockaddr_un sa = { 0 };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	gboolean ok;

	sa.sun_family = AF_UNIX;
	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

int
main(int argc, char **argv)
{
	g_autofree char *url = NULL, *dir = NULL, *conf = NULL, *keyf = NULL;
	g_autofree char *text = NULL, *sock = NULL, *rcpt = NULL;
	int runs = argc > 3 ? atoi(argv[3]) : 200;
	pid_t daemon_pid;
	int status;

	if (argc < 3 || runs < 100) {
		g_printerr("usage: bench-deliver OTPBRIDGE OTPBRIDGE-DELIVER [RUNS >= 100]\n");
		return 64;
	}
	url = bench_endpoint_start("bench-deliver");
	dir = g_dir_make_tmp("bench-deliver-XXXXXX", NULL);
	conf = g_build_filename(dir, "otpbridge.conf", NULL);
	keyf = g_build_filename(dir, "key", NULL);
	sock = g_build_filename(dir, "lmtp.sock", NULL);
	g_file_set_contents(keyf, "bench-key-not-real\n", -1, NULL);
	g_chmod(keyf, 0600);    /* config.c refuses a key others can read */
	text = g_strdup_printf("[push]\nurl = %s\napi_key_file = key\n"
	    "[store]\npath = %s/otpbridge.db\n[lmtp]\nlisten = unix:%s\n", url, dir, sock);
	g_file_set_contents(conf, text, -1, NULL);

	daemon_pid = fork();
	if (daemon_pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 2);
		execl(argv[1], argv[1], "-c", conf, "run", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000 && !bench_listening(sock); i++)
		g_usleep(10000);
	if (!bench_listening(sock)) {
		g_printerr("bench-deliver: the daemon does not listen on %s\n", sock);
		kill(daemon_pid, SIGTERM);
		return 1;
	}
	rcpt = g_strdup("--rcpt=bot@otp.example.com");
	{
		char *fast[] = { argv[2], (char *)"-s", sock, (char *)"-c", conf, rcpt, NULL };

		bench_series("otpbridge-deliver, daemon running (LMTP socket)", "fast",
		    fast, runs);
		kill(daemon_pid, SIGTERM);
		waitpid(daemon_pid, &status, 0);
		bench_series("otpbridge-deliver, no daemon (execs otpbridge deliver)",
		    "fallback", fast, runs);
	}
	{
		char *full[] = { argv[1], (char *)"-c", conf, (char *)"deliver", rcpt, NULL };

		bench_series("otpbridge deliver, no daemon (today's path)", "full", full, runs);
	}
	bench_endpoint_stop();
	{
		g_autofree char *db = g_build_filename(dir, "otpbridge.db", NULL);
		g_autofree char *wal = g_strconcat(db, "-wal", NULL);
		g_autofree char *shm = g_strconcat(db, "-shm", NULL);
		g_unlink(db);
		g_unlink(wal);
		g_unlink(shm);
		g_unlink(conf);
		g_unlink(keyf);
		g_unlink(sock);
		g_rmdir(dir);
	}
	return 0;
}
