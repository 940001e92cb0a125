/*
 * benchlib.c - the benchmarks' shared pieces (benchlib.h).  Not a test.
 * Hostile input: none.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <microhttpd.h>

#include "benchlib.h"

static volatile gint bench_requests;
static volatile gint bench_connections;
static gint64 bench_last_us;          /* under bench_lock */
static GMutex bench_lock;
static struct MHD_Daemon *bench_mhd;

int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Every push: read the body, note the time, then count it, answer 200. */
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
	g_mutex_lock(&bench_lock);
	bench_last_us = g_get_monotonic_time();
	g_mutex_unlock(&bench_lock);
	g_atomic_int_inc(&bench_requests);
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
		g_atomic_int_inc(&bench_connections);
}

char *
bench_endpoint_start(const char *bench)
{
	const union MHD_DaemonInfo *info;

	bench_mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
	    0, NULL, NULL, bench_answer, NULL,
	    MHD_OPTION_NOTIFY_CONNECTION, bench_notify, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000,
	    MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
	if (bench_mhd == NULL) {
		g_printerr("%s: cannot start the endpoint\n", bench);
		exit(1);
	}
	info = MHD_get_daemon_info(bench_mhd, MHD_DAEMON_INFO_BIND_PORT);
	return g_strdup_printf("http://127.0.0.1:%d/v1/credentials/totp", info->port);
}

void
bench_endpoint_stop(void)
{
	if (bench_mhd != NULL)
		MHD_stop_daemon(bench_mhd);
	bench_mhd = NULL;
}

gint
bench_endpoint_requests(void)
{
	return g_atomic_int_get(&bench_requests);
}

gint
bench_endpoint_connections(void)
{
	return g_atomic_int_get(&bench_connections);
}

gint64
bench_endpoint_last_us(void)
{
	gint64 t;

	g_mutex_lock(&bench_lock);
	t = bench_last_us;
	g_mutex_unlock(&bench_lock);
	return t;
}
