/*
 * bench-core.c - throughput and memory of the pure message core.
 *
 * For each input mail it times parse+decide (mime_parse, core_decide with
 * the built-in filter set, message_free, verdict_clear) in a loop of about
 * BENCH_SECONDS, BENCH_REPS times, and reports the median messages/s and
 * MB/s.  Peak memory is measured in a fresh child per input (fork, N
 * iterations, the child's ru_maxrss) against a child that only runs
 * mime_init(), so "memory stays near one copy of the message" can be
 * judged.  detect_code() alone is timed on the 6 KB mail's text.
 *
 * Inputs: DIR/otp-6k.eml and DIR/html-60k.eml are in the tree;
 * attach-3m.eml (a code plus a ~3 MB base64 attachment) is generated at
 * start into a temporary directory and removed at the end.
 *
 * Usage: bench-core DIR   (make bench).  Environment: BENCH_SECONDS
 * (default 1.0) and BENCH_REPS (default 5, at least 1).
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "benchlib.h"
#include "core.h"
#include "detect.h"
#include "filter.h"
#include "message.h"
#include "mime.h"

#define BENCH_RCPT "bot+task-42@otp.example.com"
#define BENCH_ATTACH_BYTES (3u * 1024 * 1024) /* base64 text of the attachment */
#define BENCH_MAX_REPS 100

struct bench_input {
	const char *name;
	char *path;
	guint rss_iters;       /* iterations in the memory child */
	/* filled by the run */
	gsize size;
	long rss_kib;          /* child's peak RSS, KiB; -1 when it failed */
	double rate[BENCH_MAX_REPS]; /* messages/s per repetition */
	guint64 iters;         /* iterations over all repetitions */
	char verdict[96];
};

static double bench_seconds = 1.0;
static int bench_reps = 5;

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Median of n values (n >= 1); also the spread (max-min)/median. */
static double
bench_median(const double *v, int n, double *spread)
{
	double s[BENCH_MAX_REPS];
	double m;

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), bench_cmp_double);
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	if (spread != NULL)
		*spread = m > 0 ? (s[n - 1] - s[0]) / m : 0;
	return m;
}

/* Human size: "6.5 KiB", "2.9 MiB". */
static const char *
bench_size(double bytes, char *buf, size_t len)
{
	if (bytes >= 1024.0 * 1024.0)
		snprintf(buf, len, "%.1f MiB", bytes / (1024.0 * 1024.0));
	else if (bytes >= 1024.0)
		snprintf(buf, len, "%.1f KiB", bytes / 1024.0);
	else
		snprintf(buf, len, "%.0f B", bytes);
	return buf;
}

/* xorshift64: deterministic filler so runs are comparable. */
static guint64
bench_rand(guint64 *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Base64 of 57 bytes (one 76-column line), without allocating. */
static size_t
bench_b64_line(const guint8 *in, size_t n, char *out)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i;

	for (i = 0; i + 2 < n; i += 3) {
		guint32 v = (guint32)in[i] << 16 | (guint32)in[i + 1] << 8 | in[i + 2];
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	if (i < n) {
		guint32 v = (guint32)in[i] << 16 | (i + 1 < n ? (guint32)in[i + 1] << 8 : 0);
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	return o;
}

/*
 * Writes attach-3m.eml into dir: a short text part with a code and a
 * PDF-looking attachment whose base64 text is about BENCH_ATTACH_BYTES.
 * Streams line by line so the parent never holds the message in memory
 * (its RSS is the starting point of every memory child).
 */
static char *
bench_make_attach(const char *dir)
{
	char *path = g_build_filename(dir, "attach-3m.eml", NULL);
	FILE *fp = fopen(path, "wb");
	guint64 seed = 0x9e3779b97f4a7c15ull;
	size_t written = 0;
	gboolean first = TRUE;

	if (fp == NULL) {
		fprintf(stderr, "bench-core: %s: %s\n", path, g_strerror(errno));
		exit(1);
	}
	fputs("Return-Path: <billing@invoices.example.com>\r\n"
	    "Delivered-To: bot+task-42@otp.example.com\r\n"
	    "Received: from mail.invoices.example.com (mail.invoices.example.com [203.0.113.9])\r\n"
	    "\tby mx.example.net (Postfix) with ESMTPS id 4VgS1q2w3e4r\r\n"
	    "\tfor <bot+task-42@otp.example.com>; Fri, 17 May 2024 11:20:00 +0000 (UTC)\r\n"
	    "Authentication-Results: mx.example.net; dkim=pass header.d=invoices.example.com;"
	    " spf=pass smtp.mailfrom=invoices.example.com; dmarc=pass header.from=invoices.example.com\r\n"
	    "From: Example Billing <billing@invoices.example.com>\r\n"
	    "To: bot+task-42@otp.example.com\r\n"
	    "Subject: Your statement is ready - verification code inside\r\n"
	    "Date: Fri, 17 May 2024 11:19:58 +0000\r\n"
	    "Message-ID: <stmt-20240517-1119@invoices.example.com>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_bench_mixed_0001\"\r\n"
	    "\r\n"
	    "This is a multi-part message in MIME format.\r\n"
	    "\r\n"
	    "--=_bench_mixed_0001\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "Hello,\r\n"
	    "\r\n"
	    "your May statement is attached. To open it in the portal, sign in\r\n"
	    "with this one-time verification code:\r\n"
	    "\r\n"
	    "    Verification code: 305817\r\n"
	    "\r\n"
	    "The code expires in 10 minutes.\r\n"
	    "\r\n"
	    "Example Billing\r\n"
	    "\r\n"
	    "--=_bench_mixed_0001\r\n"
	    "Content-Type: application/pdf; name=\"statement-2024-05.pdf\"\r\n"
	    "Content-Disposition: attachment; filename=\"statement-2024-05.pdf\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "\r\n", fp);
	while (written < BENCH_ATTACH_BYTES) {
		guint8 raw[57];
		char line[80];
		size_t n;

		for (size_t i = 0; i < sizeof(raw); i += 8) {
			guint64 r = bench_rand(&seed);
			for (size_t k = 0; k < 8 && i + k < sizeof(raw); k++)
				raw[i + k] = (guint8)(r >> (8 * k));
		}
		if (first) {
			memcpy(raw, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", 15);
			first = FALSE;
		}
		n = bench_b64_line(raw, sizeof(raw), line);
		line[n++] = '\r';
		line[n++] = '\n';
		fwrite(line, 1, n, fp);
		written += n;
	}
	fputs("\r\n--=_bench_mixed_0001--\r\n", fp);
	if (fclose(fp) != 0) {
		fprintf(stderr, "bench-core: %s: %s\n", path, g_strerror(errno));
		exit(1);
	}
	return path;
}

/* Reads a whole input or exits: the bench makes no sense without it. */
static char *
bench_read(const char *path, gsize *len)
{
	char *data = NULL;
	GError *err = NULL;

	if (!g_file_get_contents(path, &data, len, &err)) {
		fprintf(stderr, "bench-core: %s\n", err->message);
		exit(1);
	}
	return data;
}

/* One parse+decide; returns -1 when the input is not mail. */
static int
bench_once(const struct filter_set *set, const char *data, gsize len,
    struct verdict *keep)
{
	const struct core_options opt = { NULL, SEND_AUTO };
	const struct envelope env = { BENCH_RCPT, NULL, NULL };
	struct message *msg = NULL;
	struct verdict v;
	GError *err = NULL;

	if (mime_parse(data, len, &msg, &err) < 0) {
		fprintf(stderr, "bench-core: %s\n", err->message);
		g_error_free(err);
		return -1;
	}
	core_decide(set, &opt, msg, &env, &v);
	message_free(&msg);
	if (keep != NULL)
		*keep = v;
	else
		verdict_clear(&v);
	return 0;
}

/*
 * Peak RSS (KiB) of a fresh child that runs iters parse+decide rounds on
 * path; with path NULL the child only runs mime_init() (the baseline).
 * The child starts from the parent's current RSS, which is why the parent
 * runs this before it loads or parses anything itself.
 */
static long
bench_child_rss(const char *path, guint iters)
{
	struct rusage ru;
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench-core: fork: %s\n", g_strerror(errno));
		return -1;
	}
	if (pid == 0) {
		struct filter_set *set;
		char *data;
		gsize len;
		int rc = 0;

		mime_init();
		if (path == NULL)
			_exit(0);
		data = bench_read(path, &len);
		set = filter_set_builtin();
		for (guint i = 0; i < iters && rc == 0; i++)
			rc = bench_once(set, data, len, NULL);
		filter_set_free(&set);
		g_free(data);
		fflush(NULL);
		_exit(rc == 0 ? 0 : 1);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "bench-core: wait4: %s\n", g_strerror(errno));
			return -1;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "bench-core: memory child for %s failed\n",
		    path != NULL ? path : "baseline");
		return -1;
	}
	return ru.ru_maxrss;   /* KiB on Linux */
}

/* BENCH_REPS rounds of about BENCH_SECONDS of parse+decide on in. */
static void
bench_throughput(const struct filter_set *set, struct bench_input *in)
{
	gsize len;
	g_autofree char *data = bench_read(in->path, &len);
	struct verdict v;

	in->size = len;
	/* One warm-up round, kept to show what the core decided. */
	if (bench_once(set, data, len, &v) < 0)
		exit(1);
	if (v.code != NULL)
		snprintf(in->verdict, sizeof(in->verdict), "%s %s", v.reason, v.code);
	else if (strcmp(v.reason, "link") == 0)
		snprintf(in->verdict, sizeof(in->verdict), "%s (url)", v.reason);
	else
		snprintf(in->verdict, sizeof(in->verdict), "%s", v.reason);
	verdict_clear(&v);

	for (int r = 0; r < bench_reps; r++) {
		double t0 = bench_now(), el;
		guint64 n = 0;

		do {
			if (bench_once(set, data, len, NULL) < 0)
				exit(1);
			n++;
			el = bench_now() - t0;
		} while (el < bench_seconds);
		in->rate[r] = (double)n / el;
		in->iters += n;
	}
}

/* detect_code() alone on the parsed text of path; median calls/s. */
static void
bench_detect(const char *path)
{
	gsize len;
	g_autofree char *data = bench_read(path, &len);
	struct message *msg = NULL;
	GError *err = NULL;
	double rate[BENCH_MAX_REPS], med, spread;
	guint64 total = 0;
	struct detection d = { DETECT_NONE, NULL };
	g_autofree char *base = g_path_get_basename(path);
	char sz[32];

	if (mime_parse(data, len, &msg, &err) < 0) {
		fprintf(stderr, "bench-core: %s\n", err->message);
		exit(1);
	}
	for (int r = 0; r < bench_reps; r++) {
		double t0 = bench_now(), el;
		guint64 n = 0;

		do {
			detect_code(msg->subject, msg->text, msg->links, &d);
			detection_clear(&d);
			n++;
			el = bench_now() - t0;
		} while (el < bench_seconds);
		rate[r] = (double)n / el;
		total += n;
	}
	detect_code(msg->subject, msg->text, msg->links, &d);
	med = bench_median(rate, bench_reps, &spread);
	printf("\ndetect_code() alone on %s: subject %zu B + text %s, %u links\n",
	    base,
	    strlen(msg->subject), bench_size((double)strlen(msg->text), sz, sizeof(sz)),
	    msg->links->len);
	printf("  %.0f calls/s, %.2f us/call (median of %d, spread %.1f%%, %" G_GUINT64_FORMAT
	    " calls), result: %s%s%s\n", med, 1e6 / med, bench_reps, spread * 100, total,
	    d.kind == DETECT_CODE ? "code " : d.kind == DETECT_LINK ? "link " : "none",
	    d.kind == DETECT_CODE ? d.value : "", d.kind == DETECT_LINK ? "(url)" : "");
	detection_clear(&d);
	message_free(&msg);
}

int
main(int argc, char **argv)
{
	struct bench_input inputs[] = {
		{ "otp-6k.eml", NULL, 1000, 0, -1, { 0 }, 0, "" },
		{ "html-60k.eml", NULL, 1000, 0, -1, { 0 }, 0, "" },
		{ "attach-3m.eml", NULL, 20, 0, -1, { 0 }, 0, "" },
	};
	const size_t ninputs = G_N_ELEMENTS(inputs);
	struct filter_set *set;
	GError *err = NULL;
	char *tmp;
	const char *e;
	long base_kib;
	char a[32], b[32];

	if (argc != 2) {
		fprintf(stderr, "usage: bench-core DIR   (DIR holds otp-6k.eml and html-60k.eml)\n");
		return 64;
	}
	if ((e = g_getenv("BENCH_SECONDS")) != NULL)
		bench_seconds = g_ascii_strtod(e, NULL);
	if ((e = g_getenv("BENCH_REPS")) != NULL)
		bench_reps = (int)g_ascii_strtoll(e, NULL, 10);
	if (!(bench_seconds > 0) || bench_seconds > 600)
		bench_seconds = 1.0;
	if (bench_reps < 1 || bench_reps > BENCH_MAX_REPS)
		bench_reps = 5;

	tmp = g_dir_make_tmp("bench-core-XXXXXX", &err);
	if (tmp == NULL) {
		fprintf(stderr, "bench-core: %s\n", err->message);
		return 1;
	}
	inputs[0].path = g_build_filename(argv[1], inputs[0].name, NULL);
	inputs[1].path = g_build_filename(argv[1], inputs[1].name, NULL);
	inputs[2].path = bench_make_attach(tmp);

	/* Memory first, while this process is still small: each child
	 * inherits the parent's RSS as its starting point. */
	base_kib = bench_child_rss(NULL, 0);
	for (size_t i = 0; i < ninputs; i++)
		inputs[i].rss_kib = bench_child_rss(inputs[i].path, inputs[i].rss_iters);

	mime_init();
	set = filter_set_builtin();
	for (size_t i = 0; i < ninputs; i++)
		bench_throughput(set, &inputs[i]);

	printf("otpbridge bench-core: parse+decide = mime_parse + core_decide (built-in filter)"
	    " + message_free + verdict_clear\n");
	printf("%d repetitions of >= %.2f s per input; rates are the median repetition;"
	    " MB = 10^6 bytes\n\n", bench_reps, bench_seconds);
	printf("%-14s %10s  %-14s %11s %9s %7s %9s\n", "input", "size", "verdict",
	    "msgs/s", "MB/s", "spread", "iters");
	for (size_t i = 0; i < ninputs; i++) {
		struct bench_input *in = &inputs[i];
		double spread, med = bench_median(in->rate, bench_reps, &spread);

		printf("%-14s %10s  %-14s %11.1f %9.2f %6.1f%% %9" G_GUINT64_FORMAT "\n",
		    in->name, bench_size((double)in->size, a, sizeof(a)), in->verdict,
		    med, med * (double)in->size / 1e6, spread * 100, in->iters);
	}

	printf("\npeak RSS: a fresh child per input runs N parse+decide rounds;"
	    " baseline child runs only mime_init()\n\n");
	printf("%-14s %6s %11s %11s %12s %16s\n", "input", "N", "peak RSS",
	    "over base", "x baseline", "(peak-base)/size");
	printf("%-14s %6s %11s %11s %12s %16s\n", "baseline", "-",
	    base_kib >= 0 ? bench_size((double)base_kib * 1024, a, sizeof(a)) : "failed",
	    "-", "1.00", "-");
	for (size_t i = 0; i < ninputs; i++) {
		struct bench_input *in = &inputs[i];
		double over = (double)(in->rss_kib - base_kib) * 1024;

		if (in->rss_kib < 0 || base_kib <= 0) {
			printf("%-14s %6u %11s\n", in->name, in->rss_iters, "failed");
			continue;
		}
		printf("%-14s %6u %11s %11s %12.2f %16.2f\n", in->name, in->rss_iters,
		    bench_size((double)in->rss_kib * 1024, a, sizeof(a)),
		    bench_size(over > 0 ? over : 0, b, sizeof(b)),
		    (double)in->rss_kib / (double)base_kib,
		    over > 0 ? over / (double)in->size : 0.0);
	}

	bench_detect(inputs[0].path);

	filter_set_free(&set);
	g_unlink(inputs[2].path);
	g_rmdir(tmp);
	for (size_t i = 0; i < ninputs; i++)
		g_free(inputs[i].path);
	g_free(tmp);
	return 0;
}
