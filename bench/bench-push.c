/*
 * bench-push.c - push throughput and `deliver` latency, not a test.
 *
 *   pushes/s   push_client over one multi handle to a local endpoint
 *              (libmicrohttpd, in this process), 32 requests in flight,
 *              connections reused; median of 5 runs of 2000 pushes, with
 *              the number of TCP connections the endpoint accepted.
 *   deliver    the time from starting `otpbridge deliver` (fork+exec) to
 *              the endpoint receiving its push, over 200 runs: median and
 *              p99.  Each run uses a fresh Message-ID.
 *
 * Usage: bench-push OTPBRIDGE-BINARY   Hostile input: none.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <glib/gstdio.h>

#include "push.h"

#define RUNS 5
#define PUSHES 2000
#define INFLIGHT 32
#define DELIVERS 200

static volatile gint requests;
static volatile gint connections;
static gint64 last_request_us;      /* monotonic, set by the endpoint */
static GMutex lock;

static enum MHD_Result
bench_answer(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **state)
{
	static const char reply[] = "{\"totp_code_id\":\"tc_1\",\"code\":\"123456\"}";
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (*state == NULL) {          /* headers only: wait for the body */
		*state = (void *)1;
		return MHD_YES;
	}
	if (*size > 0) {
		*size = 0;
		return MHD_YES;
	}
	g_atomic_int_inc(&requests);
	g_mutex_lock(&lock);
	last_request_us = g_get_monotonic_time();
	g_mutex_unlock(&lock);
	r = MHD_create_response_from_buffer(sizeof(reply) - 1, (void *)reply,
	    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void
bench_notify(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		g_atomic_int_inc(&connections);
}

struct run {
	struct push_client *pc;
	GMainLoop *loop;
	int started, done, failed;
};

static const char body[] =
	"{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"482913\",\"source\":\"email\"}";

static void bench_done(const struct push_result *r, gpointer data);

static void
bench_send(struct run *r)
{
	r->started++;
	push_client_send(r->pc, body, bench_done, r);
}

static void
bench_done(const struct push_result *res, gpointer data)
{
	struct run *r = data;

	r->done++;
	if (res->status != 200)
		r->failed++;
	if (r->started < PUSHES)
		bench_send(r);
	else if (r->done == PUSHES)
		g_main_loop_quit(r->loop);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One run of PUSHES pushes; returns pushes per second. */
static double
bench_pushes(const char *url, int *conns, int *failed)
{
	struct push_config cfg = { url, "bench-key-not-real", 10, NULL };
	struct run r = { 0 };
	gint64 t0, t1;
	int c0 = g_atomic_int_get(&connections);

	r.pc = push_client_new(&cfg, NULL);
	r.loop = g_main_loop_new(NULL, FALSE);
	t0 = g_get_monotonic_time();
	for (int i = 0; i < INFLIGHT; i++)
		bench_send(&r);
	g_main_loop_run(r.loop);
	t1 = g_get_monotonic_time();
	push_client_free(&r.pc);
	g_main_loop_unref(r.loop);
	*conns = g_atomic_int_get(&connections) - c0;
	*failed = r.failed;
	return PUSHES / ((double)(t1 - t0) / G_USEC_PER_SEC);
}

/* One `otpbridge deliver` run; returns ms from fork to the push arriving. */
static double
bench_deliver(const char *bin, const char *conf, int n)
{
	g_autofree char *mail = g_strdup_printf(
	    "From: Acme <codes@acme.example>\r\nTo: bot@otp.example.com\r\n"
	    "Subject: Your Acme code\r\nMessage-ID: <bench-%d-%d@acme.example>\r\n\r\n"
	    "Your verification code is 482913.\r\n", (int)getpid(), n);
	int fds[2], status = 0;
	gint before = g_atomic_int_get(&requests);
	gint64 t0, arrived;
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
		execl(bin, bin, "-c", conf, "deliver", (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	if (write(fds[1], mail, strlen(mail)) < 0)
		exit(1);
	close(fds[1]);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    g_atomic_int_get(&requests) != before + 1) {
		g_printerr("bench-push: deliver run %d failed (status %d)\n", n, status);
		exit(1);
	}
	g_mutex_lock(&lock);
	arrived = last_request_us;
	g_mutex_unlock(&lock);
	return (double)(arrived - t0) / 1000.0;
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	double rate[RUNS], lat[DELIVERS];
	g_autofree char *url = NULL, *dir = NULL, *conf = NULL, *keyf = NULL;
	g_autofree char *text = NULL;
	int port, conns = 0, failed = 0;

	if (argc < 2) {
		g_printerr("usage: bench-push OTPBRIDGE-BINARY\n");
		return 64;
	}
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
	    0, NULL, NULL, bench_answer, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, bench_notify, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
	    MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
	if (d == NULL) {
		g_printerr("bench-push: cannot start the endpoint\n");
		return 1;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = info->port;
	url = g_strdup_printf("http://127.0.0.1:%d/v1/credentials/totp", port);

	printf("push client -> local endpoint, %d in flight, %d pushes per run\n",
	    INFLIGHT, PUSHES);
	for (int i = 0; i < RUNS; i++) {
		rate[i] = bench_pushes(url, &conns, &failed);
		printf("  run %d: %8.0f pushes/s  (%d connections, %d failed)\n", i + 1,
		    rate[i], conns, failed);
	}
	qsort(rate, RUNS, sizeof(double), cmp_double);
	printf("  median: %.0f pushes/s\n", rate[RUNS / 2]);

	dir = g_dir_make_tmp("bench-push-XXXXXX", NULL);
	conf = g_build_filename(dir, "otpbridge.conf", NULL);
	keyf = g_build_filename(dir, "key", NULL);
	g_file_set_contents(keyf, "bench-key-not-real\n", -1, NULL);
	g_chmod(keyf, 0600);    /* config.c refuses a key others can read */
	text = g_strdup_printf("[push]\nurl = %s\napi_key_file = key\n"
	    "[store]\npath = %s/otpbridge.db\n", url, dir);
	g_file_set_contents(conf, text, -1, NULL);
	for (int i = 0; i < DELIVERS; i++)
		lat[i] = bench_deliver(argv[1], conf, i);
	qsort(lat, DELIVERS, sizeof(double), cmp_double);
	printf("otpbridge deliver: start -> push received over %d runs\n", DELIVERS);
	printf("  median %.2f ms, p99 %.2f ms, max %.2f ms\n", lat[DELIVERS / 2],
	    lat[DELIVERS * 99 / 100], lat[DELIVERS - 1]);
	MHD_stop_daemon(d);
	{
		g_autofree char *db = g_build_filename(dir, "otpbridge.db", NULL);
		g_autofree char *wal = g_strconcat(db, "-wal", NULL);
		g_autofree char *shm = g_strconcat(db, "-shm", NULL);
		g_unlink(db);
		g_unlink(wal);
		g_unlink(shm);
		g_unlink(conf);
		g_unlink(keyf);
		g_rmdir(dir);
	}
	return 0;
}
