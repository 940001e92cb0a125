/*
 * bench-detect.c - detect_code() time per mail over a corpus, p50 and p99.
 *
 * Each DIR/NNN-*.eml is parsed once (mime_parse, not timed); then
 * detect_code() on its subject, text and links is run BENCH_DETECT_ITERS
 * times and the mail's time is the median of those runs.  The report is
 * the 50th and 99th percentile and the maximum of the per-mail times, in
 * microseconds, and the mail that took longest.
 *
 * Usage: bench-detect DIR   (tests/corpus).  Environment:
 * BENCH_DETECT_ITERS (default 51, at least 1).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "benchlib.h"
#include "detect.h"
#include "message.h"
#include "mime.h"

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	const char *e = g_getenv("BENCH_DETECT_ITERS");
	int iters = e != NULL ? atoi(e) : 51;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	GArray *times = g_array_new(FALSE, FALSE, sizeof(double));
	double *runs, worst = 0;
	const char *worst_name = "";
	GDir *d;
	const char *n;

	if (argc != 2) {
		fprintf(stderr, "usage: bench-detect DIR\n");
		return 2;
	}
	if (iters < 1)
		iters = 1;
	d = g_dir_open(argv[1], 0, NULL);
	if (d == NULL) {
		fprintf(stderr, "bench-detect: cannot open %s\n", argv[1]);
		return 1;
	}
	while ((n = g_dir_read_name(d)) != NULL)
		if (g_str_has_suffix(n, ".eml"))
			g_ptr_array_add(names, g_build_filename(argv[1], n, NULL));
	g_dir_close(d);
	mime_init();
	runs = g_new(double, iters);
	for (guint i = 0; i < names->len; i++) {
		const char *path = g_ptr_array_index(names, i);
		g_autofree char *data = NULL;
		gsize len;
		struct message *msg = NULL;
		double t;

		if (!g_file_get_contents(path, &data, &len, NULL) ||
		    mime_parse(data, len, &msg, NULL) < 0)
			continue;
		for (int k = 0; k < iters; k++) {
			struct detection det = { DETECT_NONE, NULL };
			double t0 = bench_now();

			detect_code(msg->subject, msg->text, msg->links, &det);
			runs[k] = bench_now() - t0;
			detection_clear(&det);
		}
		qsort(runs, iters, sizeof *runs, bench_cmp_double);
		t = runs[iters / 2] * 1e6;
		g_array_append_val(times, t);
		if (t > worst) {
			worst = t;
			worst_name = path;
		}
		message_free(&msg);
	}
	g_array_sort(times, bench_cmp_double);
	if (times->len == 0) {
		fprintf(stderr, "bench-detect: no mail in %s\n", argv[1]);
		return 1;
	}
	printf("mails %u  p50 %.1f us  p99 %.1f us  max %.1f us (%s)\n", times->len,
	    g_array_index(times, double, times->len / 2),
	    g_array_index(times, double, (times->len * 99) / 100),
	    worst, worst_name);
	g_free(runs);
	g_array_unref(times);
	return 0;
}
