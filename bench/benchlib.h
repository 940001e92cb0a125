/*
 * benchlib.h - what the benchmarks share: sorting figures, and a local
 * push endpoint (libmicrohttpd on a thread of the bench process) that
 * answers every push 200 and records when the last one arrived.
 */
#ifndef OTPBRIDGE_BENCHLIB_H
#define OTPBRIDGE_BENCHLIB_H

#include <glib.h>

/* qsort()/g_array_sort() order for doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);

/*
 * Starts the endpoint on 127.0.0.1 at a free port; returns its push URL
 * (g_malloc'd).  Exits the bench (status 1) when it cannot listen.
 */
char *bench_endpoint_start(const char *bench);
void bench_endpoint_stop(void);
/* Pushes answered, and connections accepted, so far. */
gint bench_endpoint_requests(void);
gint bench_endpoint_connections(void);
/* Monotonic µs when the latest push was read; read after the count. */
gint64 bench_endpoint_last_us(void);

#endif
