/*
 * bench-push.c - push throughput, not a test.
 *
 *   pushes/s   push_client over one multi handle to a local endpoint
 *              (libmicrohttpd, in this process), 32 requests in flight,
 *              connections reused; median of 5 runs of 2000 pushes, with
 *              the number of TCP connections the endpoint accepted.
 *
 * `deliver` start -> push received is bench-deliver's (both paths).
 *
 * Usage: bench-push   Hostile input: none.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>

#include "benchlib.h"
#include "push.h"

#define RUNS 5
#define PUSHES 2000
#define INFLIGHT 32

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

/* One run of PUSHES pushes; returns pushes per second. */
static double
bench_pushes(const char *url, int *conns, int *failed)
{
	struct push_config cfg = { url, "bench-key-not-real", 10, NULL };
	struct run r = { 0 };
	gint64 t0, t1;
	int c0 = bench_endpoint_connections();

	r.pc = push_client_new(&cfg, NULL);
	r.loop = g_main_loop_new(NULL, FALSE);
	t0 = g_get_monotonic_time();
	for (int i = 0; i < INFLIGHT; i++)
		bench_send(&r);
	g_main_loop_run(r.loop);
	t1 = g_get_monotonic_time();
	push_client_free(&r.pc);
	g_main_loop_unref(r.loop);
	*conns = bench_endpoint_connections() - c0;
	*failed = r.failed;
	return PUSHES / ((double)(t1 - t0) / G_USEC_PER_SEC);
}

int
main(void)
{
	double rate[RUNS];
	g_autofree char *url = bench_endpoint_start("bench-push");
	int conns = 0, failed = 0;

	printf("push client -> local endpoint, %d in flight, %d pushes per run\n",
	    INFLIGHT, PUSHES);
	for (int i = 0; i < RUNS; i++) {
		rate[i] = bench_pushes(url, &conns, &failed);
		printf("  run %d: %8.0f pushes/s  (%d connections, %d failed)\n", i + 1,
		    rate[i], conns, failed);
	}
	qsort(rate, RUNS, sizeof(double), bench_cmp_double);
	printf("  median: %.0f pushes/s\n", rate[RUNS / 2]);
	bench_endpoint_stop();
	return 0;
}
