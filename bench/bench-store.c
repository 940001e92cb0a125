/*
 * bench-store.c - a throughput check of store_commit_jobs(), not a test:
 * jobs committed per second by one producer with 1, 8 and 64 jobs per
 * commit (the group-commit effect), and by 8 concurrent producers (threads,
 * each with its own handle, as separate `deliver` processes would be) at
 * one job per commit; median of 5 runs, each on a fresh temporary file.  Every commit is fsync'd (WAL, synchronous=FULL), so
 * the figures mostly measure the disk's fsync latency.
 *
 * Usage: bench-store [DIR]   (DIR: where the temporary files go; default
 * the system temporary directory).  Hostile input: none.
 * Limits: COMMITS_PER_RUN commits per run.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <glib/gstdio.h>

#include "benchlib.h"
#include "store.h"

#define RUNS            5
#define COMMITS_PER_RUN 200
#define BATCH_MAX       64

static const char body[] =
	"{\"totp_identifier\":\"bot@example.com\",\"content\":\"123456\","
	"\"source\":\"email\",\"expired_at\":\"2026-08-01T12:10:00\"}";

#define PRODUCERS 8

struct producer {
	const char *path;
	guint id;
	guint commits;
};

/* A producer thread: its own handle, one job per commit. */
static gpointer
bench_producer(gpointer data)
{
	struct producer *p = data;
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;
	char key[64];

	if (store_open(p->path, &st, &err) < 0) {
		g_printerr("bench-store: %s\n", err->message);
		exit(1);
	}
	for (guint c = 0; c < p->commits; c++) {
		struct job_in j = {
			.dedup_key = key, .identifier = "bot@example.com", .source = "deliver",
			.filter = "bench", .body = body, .code = "123456",
			.created = 1700000000 + c, .expires = 1700000600 + c,
		};
		g_snprintf(key, sizeof(key), "<%u-%u@bench>", p->id, c);
		if (store_commit_jobs(st, &j, 1, &err) < 0) {
			g_printerr("bench-store: %s\n", err->message);
			exit(1);
		}
	}
	store_close(&st);
	return NULL;
}

/* One run of PRODUCERS concurrent producers; returns jobs per second. */
static double
bench_concurrent(const char *base)
{
	g_autofree char *dir = g_build_filename(base, "bench-store-XXXXXX", NULL);
	g_autofree char *path = NULL, *wal = NULL, *shm = NULL;
	struct producer p[PRODUCERS];
	GThread *t[PRODUCERS];
	struct store *st = NULL;
	g_autoptr(GError) err = NULL;
	gint64 t0, t1;

	if (g_mkdtemp(dir) == NULL)
		exit(1);
	path = g_build_filename(dir, "bench.db", NULL);
	if (store_open(path, &st, &err) < 0) {    /* create and migrate once */
		g_printerr("bench-store: %s\n", err->message);
		exit(1);
	}
	store_close(&st);
	t0 = g_get_monotonic_time();
	for (guint i = 0; i < PRODUCERS; i++) {
		p[i] = (struct producer){ path, i, COMMITS_PER_RUN / PRODUCERS };
		t[i] = g_thread_new("producer", bench_producer, &p[i]);
	}
	for (guint i = 0; i < PRODUCERS; i++)
		g_thread_join(t[i]);
	t1 = g_get_monotonic_time();
	wal = g_strconcat(path, "-wal", NULL);
	shm = g_strconcat(path, "-shm", NULL);
	g_unlink(wal);
	g_unlink(shm);
	g_unlink(path);
	g_rmdir(dir);
	return (double)(COMMITS_PER_RUN / PRODUCERS) * PRODUCERS * G_USEC_PER_SEC /
	    (double)MAX(t1 - t0, 1);
}

/* One run: COMMITS_PER_RUN commits of batch jobs; returns jobs per second. */
static double
bench_run(const char *base, guint batch)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *dir = NULL, *path = NULL, *wal = NULL, *shm = NULL;
	struct job_in jobs[BATCH_MAX];
	char keys[BATCH_MAX][48];
	struct store *st = NULL;
	gint64 t0, t1, seq = 0;

	dir = g_build_filename(base, "bench-store-XXXXXX", NULL);
	if (g_mkdtemp(dir) == NULL) {
		g_printerr("bench-store: cannot create a directory in %s\n", base);
		exit(1);
	}
	path = g_build_filename(dir, "bench.db", NULL);
	if (store_open(path, &st, &err) < 0) {
		g_printerr("bench-store: %s\n", err->message);
		exit(1);
	}
	t0 = g_get_monotonic_time();
	for (guint c = 0; c < COMMITS_PER_RUN; c++) {
		for (guint i = 0; i < batch; i++) {
			g_snprintf(keys[i], sizeof(keys[i]), "<%" G_GINT64_FORMAT "@bench>", seq++);
			jobs[i] = (struct job_in){
				.dedup_key = keys[i],
				.identifier = "bot@example.com",
				.source = "lmtp",
				.filter = "bench",
				.body = body,
				.code = "123456",
				.created = 1700000000 + seq,
				.expires = 1700000600 + seq,
			};
		}
		if (store_commit_jobs(st, jobs, batch, &err) < 0) {
			g_printerr("bench-store: %s\n", err->message);
			exit(1);
		}
	}
	t1 = g_get_monotonic_time();
	store_close(&st);
	wal = g_strconcat(path, "-wal", NULL);
	shm = g_strconcat(path, "-shm", NULL);
	g_unlink(wal);
	g_unlink(shm);
	g_unlink(path);
	g_rmdir(dir);
	return (double)COMMITS_PER_RUN * batch * G_USEC_PER_SEC / (double)MAX(t1 - t0, 1);
}

int
main(int argc, char **argv)
{
	static const guint batches[] = { 1, 8, 64 };
	const char *base = argc > 1 ? argv[1] : g_get_tmp_dir();

	printf("store commit throughput in %s: %d commits per run, median of %d runs\n",
	    base, COMMITS_PER_RUN, RUNS);
	for (guint b = 0; b < G_N_ELEMENTS(batches); b++) {
		double r[RUNS];

		for (guint i = 0; i < RUNS; i++)
			r[i] = bench_run(base, batches[b]);
		qsort(r, RUNS, sizeof(r[0]), bench_cmp_double);
		printf("batch %2u: %9.0f jobs/s  %7.0f commits/s  (min %.0f, max %.0f jobs/s)\n",
		    batches[b], r[RUNS / 2], r[RUNS / 2] / batches[b], r[0], r[RUNS - 1]);
	}
	{
		double r[RUNS];

		for (guint i = 0; i < RUNS; i++)
			r[i] = bench_concurrent(base);
		qsort(r, RUNS, sizeof(r[0]), bench_cmp_double);
		printf("%u producers, 1 job per commit: %9.0f jobs/s  (min %.0f, max %.0f)\n",
		    PRODUCERS, r[RUNS / 2], r[0], r[RUNS - 1]);
	}
	return 0;
}
