/*
 * bench-lmtp.c - LMTP load generator, not a test.  Starts `otpbridge run`
 * on a private config (LMTP on a loopback port, store in a temp dir, push
 * to a libmicrohttpd endpoint inside this process), then for 1, 8 and 64
 * connections sends LMTP transactions for BENCH_SECONDS each and reports:
 *
 *   msgs/s        accepted (250 after commit) messages per second
 *   250 latency   end of DATA (the final dot sent) -> 250 received, p50/p99
 *   push latency  end of DATA -> the endpoint receiving the push, p50/p99
 *
 * and the daemon's RSS idle and with 256 open sessions (/proc VmRSS).
 * One blocking thread per connection: the client is cheap next to the
 * fsync'd commits it measures.  Usage: bench-lmtp OTPBRIDGE-BINARY
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <microhttpd.h>
#include <glib/gstdio.h>

#include "benchlib.h"

#define MAX_SAMPLES 400000

static int lmtp_port;
static GMutex lock;
static GHashTable *sent_at;          /* identifier -> gint64* end-of-DATA µs */
static GArray *push_lat;             /* double ms */
static double bench_seconds = 3.0;

/* The endpoint: records when each identifier's push arrives. */
struct req {
	GString *body;
};

static enum MHD_Result
bench_answer(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data, size_t *size,
    void **state)
{
	static const char reply[] = "{\"totp_code_id\":\"tc_1\"}";
	struct req *r = *state;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r == NULL) {
		r = g_new0(struct req, 1);
		r->body = g_string_new(NULL);
		*state = r;
		return MHD_YES;
	}
	if (*size > 0) {
		g_string_append_len(r->body, data, *size);
		*size = 0;
		return MHD_YES;
	}
	{
		gint64 now = g_get_monotonic_time();
		const char *p = strstr(r->body->str, "\"totp_identifier\":\"");
		if (p != NULL) {
			g_autofree char *id = NULL;
			const char *e;
			p += 19;
			e = strchr(p, '"');
			id = g_strndup(p, e != NULL ? (gsize)(e - p) : 0);
			g_mutex_lock(&lock);
			{
				gint64 *t = g_hash_table_lookup(sent_at, id);
				if (t != NULL) {
					double ms = (double)(now - *t) / 1000.0;
					g_array_append_val(push_lat, ms);
					g_hash_table_remove(sent_at, id);
				}
			}
			g_mutex_unlock(&lock);
		}
	}
	resp = MHD_create_response_from_buffer(sizeof(reply) - 1, (void *)reply,
	    MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
bench_completed(void *cls, struct MHD_Connection *c, void **state,
    enum MHD_RequestTerminationCode code)
{
	struct req *r = *state;

	if (r != NULL) {
		g_string_free(r->body, TRUE);
		g_free(r);
	}
	*state = NULL;
}

/* A line reader over a blocking socket. */
struct conn {
	int fd;
	char buf[8192];
	gsize len;
};

static int
conn_open(struct conn *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int one = 1;

	c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons((guint16)lmtp_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(c->fd);
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* Reads one reply (all its lines); returns its code, -1 on EOF. */
static int
conn_reply(struct conn *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl != NULL) {
			gsize n = (gsize)(nl - c->buf) + 1;
			gboolean last = n >= 4 && c->buf[3] == ' ';
			int code = (int)g_ascii_strtoll(c->buf, NULL, 10);
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			if (last)
				return code;
			continue;
		}
		{
			ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
			if (r <= 0)
				return -1;
			c->len += (gsize)r;
		}
	}
}

static void
conn_send(struct conn *c, const char *s)
{
	gsize n = strlen(s), off = 0;

	while (off < n) {
		ssize_t w = write(c->fd, s + off, n - off);
		if (w <= 0)
			exit(1);
		off += (gsize)w;
	}
}

struct worker {
	int id;                      /* unique across levels: ids never repeat */
	gint64 deadline;
	guint sent;
	GArray *lat;                 /* double ms, end of DATA -> 250 */
};

static gpointer
worker_run(gpointer data)
{
	struct worker *w = data;
	struct conn c;
	char cmd[512];

	if (conn_open(&c) < 0 || conn_reply(&c) != 220) {
		g_printerr("bench-lmtp: cannot connect\n");
		exit(1);
	}
	conn_send(&c, "LHLO bench.example\r\n");
	conn_reply(&c);
	for (guint n = 0; g_get_monotonic_time() < w->deadline; n++) {
		g_autofree char *id = g_strdup_printf("bot+w%dn%u@otp.example.com", w->id, n);
		g_autofree char *msg = g_strdup_printf(
		    "From: Acme <codes@acme.example>\r\nTo: %s\r\n"
		    "Subject: Your Acme verification code\r\n"
		    "Message-ID: <%d.%u.%d@bench.example>\r\n\r\n"
		    "Your verification code is 482913.\r\n.\r\n", id, w->id, n, (int)getpid());
		gint64 t0, *t;
		int code;

		g_snprintf(cmd, sizeof(cmd), "MAIL FROM:<codes@acme.example>\r\n"
		    "RCPT TO:<%s>\r\nDATA\r\n", id);
		conn_send(&c, cmd);
		if (conn_reply(&c) != 250 || conn_reply(&c) != 250 || conn_reply(&c) != 354) {
			g_printerr("bench-lmtp: transaction refused\n");
			exit(1);
		}
		t = g_new(gint64, 1);
		t0 = g_get_monotonic_time();
		*t = t0;
		g_mutex_lock(&lock);
		g_hash_table_insert(sent_at, g_strdup(id), t);
		g_mutex_unlock(&lock);
		conn_send(&c, msg);
		code = conn_reply(&c);
		if (code != 250) {
			g_printerr("bench-lmtp: DATA answered %d\n", code);
			exit(1);
		}
		{
			double ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
			g_array_append_val(w->lat, ms);
		}
		w->sent++;
	}
	conn_send(&c, "QUIT\r\n");
	conn_reply(&c);
	close(c.fd);
	return NULL;
}

static double
pct(GArray *a, double p)
{
	if (a->len == 0)
		return 0;
	qsort(a->data, a->len, sizeof(double), bench_cmp_double);
	return g_array_index(a, double, (guint)((a->len - 1) * p));
}

static long
rss_kib(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/status", (int)pid);
	g_autofree char *text = NULL;
	const char *p;

	if (!g_file_get_contents(path, &text, NULL, NULL) ||
	    (p = strstr(text, "VmRSS:")) == NULL)
		return -1;
	return strtol(p + 6, NULL, 10);
}

static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	getsockname(fd, (struct sockaddr *)&sa, &len);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Opens 256 sessions (each past LHLO), reports the daemon's RSS, closes. */
static void
bench_sessions(pid_t pid, const char *when)
{
	int socks[256], n = 0;

	for (; n < 256; n++) {
		struct conn c;
		if (conn_open(&c) < 0 || conn_reply(&c) != 220) {
			g_printerr("bench-lmtp: session %d refused\n", n);
			break;
		}
		socks[n] = c.fd;
		conn_send(&c, "LHLO bench.example\r\n");
		conn_reply(&c);
	}
	g_usleep(300 * 1000);
	printf("daemon RSS with %d open sessions, %s: %ld KiB\n", n, when, rss_kib(pid));
	for (int i = 0; i < n; i++)
		close(socks[i]);
	g_usleep(300 * 1000);
}

static void
bench_level(int nconn)
{
	GThread *t[256];
	struct worker w[256];
	gint64 t0 = g_get_monotonic_time(), t1;
	guint total = 0;
	g_autoptr(GArray) all = g_array_new(FALSE, FALSE, sizeof(double));

	g_mutex_lock(&lock);
	g_array_set_size(push_lat, 0);
	g_mutex_unlock(&lock);
	for (int i = 0; i < nconn; i++) {
		w[i] = (struct worker){ nconn * 1000 + i, t0 + (gint64)(bench_seconds * G_USEC_PER_SEC), 0,
		    g_array_new(FALSE, FALSE, sizeof(double)) };
		t[i] = g_thread_new("worker", worker_run, &w[i]);
	}
	for (int i = 0; i < nconn; i++) {
		g_thread_join(t[i]);
		total += w[i].sent;
		g_array_append_vals(all, w[i].lat->data, w[i].lat->len);
		g_array_unref(w[i].lat);
	}
	t1 = g_get_monotonic_time();
	g_usleep(2000 * 1000);       /* let the last pushes land */
	g_mutex_lock(&lock);
	printf("%3d conn: %7.0f msgs/s  250: p50 %6.2f ms p99 %6.2f ms   "
	    "push: p50 %6.2f ms p99 %6.2f ms  (%u msgs, %u pushes seen)\n",
	    nconn, total / ((double)(t1 - t0) / G_USEC_PER_SEC), pct(all, 0.5),
	    pct(all, 0.99), pct(push_lat, 0.5), pct(push_lat, 0.99), total,
	    push_lat->len);
	g_mutex_unlock(&lock);
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	g_autofree char *dir = NULL, *conf = NULL, *text = NULL, *keyf = NULL;
	const char *secs = g_getenv("BENCH_SECONDS");
	int http_port;
	pid_t pid;

	if (argc < 2) {
		g_printerr("usage: bench-lmtp OTPBRIDGE-BINARY\n");
		return 64;
	}
	if (secs != NULL)
		bench_seconds = g_ascii_strtod(secs, NULL);
	sent_at = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	push_lat = g_array_new(FALSE, FALSE, sizeof(double));
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0,
	    NULL, NULL, bench_answer, NULL, MHD_OPTION_NOTIFY_COMPLETED,
	    bench_completed, NULL, MHD_OPTION_END);
	http_port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
	lmtp_port = free_port();
	dir = g_dir_make_tmp("bench-lmtp-XXXXXX", NULL);
	conf = g_build_filename(dir, "otpbridge.conf", NULL);
	keyf = g_build_filename(dir, "key", NULL);
	g_file_set_contents(keyf, "bench-key-not-real\n", -1, NULL);
	g_chmod(keyf, 0600);    /* config.c refuses a key others can read */
	text = g_strdup_printf("[push]\nurl = http://127.0.0.1:%d/v1/credentials/totp\n"
	    "api_key_file = key\n[store]\npath = db/otpbridge.db\n"
	    "[lmtp]\nlisten = inet:127.0.0.1:%d\nmax_connections = 300\n", http_port,
	    lmtp_port);
	g_file_set_contents(conf, text, -1, NULL);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", 1);
		dup2(null, 2);
		execl(argv[1], argv[1], "-c", conf, "run", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {         /* wait for the listener */
		struct conn c;
		if (conn_open(&c) == 0) {
			close(c.fd);
			break;
		}
		g_usleep(50 * 1000);
	}
	g_usleep(200 * 1000);
	printf("daemon RSS idle: %ld KiB\n", rss_kib(pid));
	bench_sessions(pid, "before any load");
	bench_level(1);
	bench_level(8);
	bench_level(64);
	bench_sessions(pid, "after the loads");
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	MHD_stop_daemon(d);
	{
		g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
		if (system(cmd) != 0)
			g_printerr("bench-lmtp: could not remove %s\n", dir);
	}
	return 0;
}
