/*
 * testhttp.c - the scripted HTTP/1.1 server of the unit tests (linked
 * through tests/libtestutil.a, never into the daemon).
 *
 * One acceptor thread, one thread per connection.  A connection reads
 * requests one after another (keep-alive), records each (method, path,
 * headers, body, connection number) and answers from the script.
 *
 * Input: our own clients on loopback, so requests are trusted to be
 * well-formed; still every read is bounded, so that a broken client fails
 * its test instead of hanging it: a head beyond TESTHTTP_HEAD_MAX, a body
 * beyond TESTHTTP_BODY_MAX, a first byte that cannot start a method (a
 * TLS ClientHello) or a malformed request line closes the connection; a
 * receive or send waits at most TESTHTTP_IO_TIMEOUT_S; connections beyond
 * TESTHTTP_CONNS_MAX are closed at once.  testhttp_free() cancels every
 * wait and joins all threads.
 */
#include "autoconfig.h"

#include <string.h>
#include <gio/gio.h>

#include "testhttp.h"

#define TESTHTTP_HEAD_MAX       65536
#define TESTHTTP_BODY_MAX       (8 * 1024 * 1024)
#define TESTHTTP_IO_TIMEOUT_S   60
#define TESTHTTP_CONNS_MAX      256
#define TESTHTTP_DEFAULT_REPLY  "{\"status\":\"ok\"}"

struct testhttp {
	GSocket *listen;
	guint16 port;
	GCancellable *cancel;
	GThread *acceptor;
	GMutex lock;                 /* guards everything below */
	GPtrArray *threads;          /* GThread *, one per connection */
	GPtrArray *reqs;             /* struct testhttp_req * */
	guint conns;                 /* accepted TCP connections */
	/* The script. */
	enum testhttp_mode mode;
	GArray *statuses;            /* int per request, last repeats; 0 = close */
	GBytes *reply;               /* body of every reply */
	guint delay_ms;
	gboolean no_length;          /* reply without Content-Length, then close */
};

/* One accepted connection; owned by its thread. */
struct testhttp_conn {
	struct testhttp *h;
	GSocket *sock;
	guint id;
};

static void
testhttp_req_free(gpointer p)
{
	struct testhttp_req *r = p;

	g_free(r->method);
	g_free(r->path);
	g_free(r->version);
	g_ptr_array_unref(r->names);
	g_ptr_array_unref(r->values);
	g_free(r->body);
	g_free(r);
}

/* Sends all of data; FALSE when the peer is gone, stalls or we are
 * cancelled. */
static gboolean
testhttp_send_all(struct testhttp_conn *c, const char *data, gsize len)
{
	while (len > 0) {
		gssize n = g_socket_send(c->sock, data, len, c->h->cancel, NULL);

		if (n <= 0)
			return FALSE;
		data += n;
		len -= (gsize)n;
	}
	return TRUE;
}

/* Reads more bytes into buf; FALSE on EOF, error, timeout or
 * cancellation. */
static gboolean
testhttp_recv_more(struct testhttp_conn *c, GByteArray *buf)
{
	char tmp[16384];
	gssize n = g_socket_receive(c->sock, tmp, sizeof(tmp), c->h->cancel, NULL);

	if (n <= 0)
		return FALSE;
	g_byte_array_append(buf, (const guint8 *)tmp, (guint)n);
	return TRUE;
}

/* Index of "\r\n\r\n" in buf, or -1. */
static gssize
testhttp_find_head_end(const GByteArray *buf)
{
	for (guint i = 0; i + 3 < buf->len; i++)
		if (memcmp(buf->data + i, "\r\n\r\n", 4) == 0)
			return (gssize)i;
	return -1;
}

/* FALSE unless the head starts like a method (a TLS ClientHello does not). */
static gboolean
testhttp_looks_like_http(const GByteArray *buf)
{
	return buf->len == 0 || (buf->data[0] >= 'A' && buf->data[0] <= 'Z');
}

/* Parses a request head (without the blank line); NULL if malformed. */
static struct testhttp_req *
testhttp_parse_head(const char *head, gsize len, guint64 *content_length)
{
	g_autofree char *text = g_strndup(head, len);
	g_auto(GStrv) lines = g_strsplit(text, "\r\n", -1);
	g_auto(GStrv) parts = NULL;
	struct testhttp_req *r;

	if (lines[0] == NULL)
		return NULL;
	parts = g_strsplit(lines[0], " ", 3);
	if (g_strv_length(parts) != 3)
		return NULL;
	r = g_new0(struct testhttp_req, 1);
	r->method = g_strdup(parts[0]);
	r->path = g_strdup(parts[1]);
	r->version = g_strdup(parts[2]);
	r->names = g_ptr_array_new_with_free_func(g_free);
	r->values = g_ptr_array_new_with_free_func(g_free);
	*content_length = 0;
	for (guint i = 1; lines[i] != NULL; i++) {
		const char *colon = strchr(lines[i], ':');
		char *name, *value;

		if (colon == NULL)
			continue;
		name = g_ascii_strdown(lines[i], colon - lines[i]);
		value = g_strstrip(g_strdup(colon + 1));
		if (strcmp(name, "content-length") == 0)
			*content_length = g_ascii_strtoull(value, NULL, 10);
		g_ptr_array_add(r->names, name);
		g_ptr_array_add(r->values, value);
	}
	return r;
}

/* Reads the next request of the connection, whose unread bytes are in
 * buf; NULL at EOF or on anything out of bounds. */
static struct testhttp_req *
testhttp_read_req(struct testhttp_conn *c, GByteArray *buf)
{
	struct testhttp_req *r;
	guint64 clen = 0;
	gssize end;

	while ((end = testhttp_find_head_end(buf)) < 0) {
		if (buf->len > TESTHTTP_HEAD_MAX || !testhttp_looks_like_http(buf) ||
		    !testhttp_recv_more(c, buf))
			return NULL;
	}
	r = testhttp_parse_head((const char *)buf->data, (gsize)end, &clen);
	g_byte_array_remove_range(buf, 0, (guint)end + 4);
	if (r == NULL)
		return NULL;
	if (clen > TESTHTTP_BODY_MAX)
		goto fail;
	while (buf->len < clen)
		if (!testhttp_recv_more(c, buf))
			goto fail;
	r->body_len = (gsize)clen;
	r->body = g_malloc(r->body_len + 1);
	memcpy(r->body, buf->data, r->body_len);
	r->body[r->body_len] = '\0';
	g_byte_array_remove_range(buf, 0, (guint)clen);
	r->conn = c->id;
	return r;
fail:
	testhttp_req_free(r);
	return NULL;
}

/* Sends the scripted reply for one request; FALSE: close the connection. */
static gboolean
testhttp_answer(struct testhttp_conn *c, int status, GBytes *reply,
    gboolean no_length)
{
	g_autoptr(GString) head = g_string_new(NULL);
	gsize blen = 0;
	const char *body = g_bytes_get_data(reply, &blen);

	g_string_append_printf(head, "HTTP/1.1 %d Scripted\r\n", status);
	g_string_append(head, "Content-Type: application/json\r\n");
	if (status == 301)
		g_string_append(head, "Location: /elsewhere\r\n");
	if (status == 204 || status == 304)
		blen = 0;
	else if (no_length)
		g_string_append(head, "Connection: close\r\n");
	else
		g_string_append_printf(head, "Content-Length: %" G_GSIZE_FORMAT "\r\n", blen);
	g_string_append(head, "\r\n");
	/* One write for head and body: no Nagle/delayed-ACK stall. */
	g_string_append_len(head, body, (gssize)blen);
	return testhttp_send_all(c, head->str, head->len) && !no_length;
}

/* One connection: read requests, record them, answer per the script. */
static gpointer
testhttp_conn_main(gpointer data)
{
	struct testhttp_conn *c = data;
	struct testhttp *h = c->h;
	GByteArray *buf = g_byte_array_new();
	struct testhttp_req *r;

	while ((r = testhttp_read_req(c, buf)) != NULL) {
		g_autoptr(GBytes) reply = NULL;
		enum testhttp_mode mode;
		int status = 200;
		guint delay_ms;
		gboolean no_length;

		g_mutex_lock(&h->lock);
		if (h->statuses->len > 0)
			status = g_array_index(h->statuses, int,
			    MIN(h->reqs->len, h->statuses->len - 1));
		g_ptr_array_add(h->reqs, r);
		mode = h->mode;
		delay_ms = h->delay_ms;
		no_length = h->no_length;
		reply = g_bytes_ref(h->reply);
		g_mutex_unlock(&h->lock);

		if (delay_ms > 0)
			g_usleep((gulong)delay_ms * 1000);
		if (mode == TESTHTTP_NEVER) {
			/* Hold the connection until the client, the timeout or
			 * testhttp_free() ends it; what comes is dropped. */
			while (testhttp_recv_more(c, buf))
				g_byte_array_set_size(buf, 0);
			break;
		}
		if (mode == TESTHTTP_CLOSE || status == 0 ||
		    !testhttp_answer(c, status, reply, no_length))
			break;
	}
	g_byte_array_unref(buf);
	g_socket_close(c->sock, NULL);
	g_object_unref(c->sock);
	g_free(c);
	return NULL;
}

/* Accepts connections until testhttp_free() cancels; one thread each. */
static gpointer
testhttp_accept_main(gpointer data)
{
	struct testhttp *h = data;
	GSocket *s;

	while ((s = g_socket_accept(h->listen, h->cancel, NULL)) != NULL) {
		struct testhttp_conn *c;

		g_mutex_lock(&h->lock);
		if (h->conns >= TESTHTTP_CONNS_MAX) {
			g_mutex_unlock(&h->lock);
			g_socket_close(s, NULL);
			g_object_unref(s);
			continue;
		}
		g_socket_set_blocking(s, TRUE);
		g_socket_set_timeout(s, TESTHTTP_IO_TIMEOUT_S);
		c = g_new0(struct testhttp_conn, 1);
		c->h = h;
		c->sock = s;
		c->id = h->conns++;
		g_ptr_array_add(h->threads, g_thread_new("testhttp-conn",
		    testhttp_conn_main, c));
		g_mutex_unlock(&h->lock);
	}
	return NULL;
}

/* A TCP socket bound to a free port on 127.0.0.1 (SO_REUSEADDR when
 * reuse); *port gets the port. */
static GSocket *
testhttp_bind_loopback(gboolean reuse, guint16 *port)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GSocketAddress) addr =
	    g_inet_socket_address_new_from_string("127.0.0.1", 0);
	g_autoptr(GSocketAddress) local = NULL;
	GSocket *s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_TCP, &err);

	g_assert_no_error(err);
	g_assert_true(g_socket_bind(s, addr, reuse, &err));
	g_assert_no_error(err);
	local = g_socket_get_local_address(s, &err);
	g_assert_no_error(err);
	*port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(local));
	return s;
}

struct testhttp *
testhttp_new(enum testhttp_mode mode)
{
	struct testhttp *h = g_new0(struct testhttp, 1);
	g_autoptr(GError) err = NULL;

	g_mutex_init(&h->lock);
	h->cancel = g_cancellable_new();
	h->threads = g_ptr_array_new();
	h->reqs = g_ptr_array_new_with_free_func(testhttp_req_free);
	h->statuses = g_array_new(FALSE, FALSE, sizeof(int));
	h->reply = g_bytes_new_static(TESTHTTP_DEFAULT_REPLY,
	    strlen(TESTHTTP_DEFAULT_REPLY));
	h->mode = mode;
	h->listen = testhttp_bind_loopback(TRUE, &h->port);
	g_socket_set_listen_backlog(h->listen, 128);
	g_assert_true(g_socket_listen(h->listen, &err));
	g_assert_no_error(err);
	h->acceptor = g_thread_new("testhttp-accept", testhttp_accept_main, h);
	return h;
}

void
testhttp_free(struct testhttp **hp)
{
	struct testhttp *h = *hp;

	*hp = NULL;
	g_cancellable_cancel(h->cancel);
	g_thread_join(h->acceptor);
	/* No new threads now: the acceptor is gone. */
	for (guint i = 0; i < h->threads->len; i++)
		g_thread_join(h->threads->pdata[i]);
	g_ptr_array_unref(h->threads);
	g_socket_close(h->listen, NULL);
	g_object_unref(h->listen);
	g_object_unref(h->cancel);
	g_ptr_array_unref(h->reqs);
	g_array_unref(h->statuses);
	g_bytes_unref(h->reply);
	g_mutex_clear(&h->lock);
	g_free(h);
}

guint16
testhttp_port(const struct testhttp *h)
{
	return h->port;
}

char *
testhttp_url(const struct testhttp *h, const char *path)
{
	return g_strdup_printf("http://127.0.0.1:%u%s", h->port, path);
}

void
testhttp_set_statuses(struct testhttp *h, const int *statuses, guint n)
{
	g_mutex_lock(&h->lock);
	g_array_set_size(h->statuses, 0);
	g_array_append_vals(h->statuses, statuses, n);
	g_mutex_unlock(&h->lock);
}

void
testhttp_set_reply(struct testhttp *h, const void *data, gsize len)
{
	g_mutex_lock(&h->lock);
	g_bytes_unref(h->reply);
	h->reply = g_bytes_new(data, len);
	g_mutex_unlock(&h->lock);
}

void
testhttp_set_delay(struct testhttp *h, guint ms)
{
	g_mutex_lock(&h->lock);
	h->delay_ms = ms;
	g_mutex_unlock(&h->lock);
}

void
testhttp_set_no_length(struct testhttp *h, gboolean on)
{
	g_mutex_lock(&h->lock);
	h->no_length = on;
	g_mutex_unlock(&h->lock);
}

guint
testhttp_nreqs(struct testhttp *h)
{
	guint n;

	g_mutex_lock(&h->lock);
	n = h->reqs->len;
	g_mutex_unlock(&h->lock);
	return n;
}

guint
testhttp_nconns(struct testhttp *h)
{
	guint n;

	g_mutex_lock(&h->lock);
	n = h->conns;
	g_mutex_unlock(&h->lock);
	return n;
}

const struct testhttp_req *
testhttp_req(struct testhttp *h, guint i)
{
	const struct testhttp_req *r;

	g_mutex_lock(&h->lock);
	g_assert_cmpuint(i, <, h->reqs->len);
	r = h->reqs->pdata[i];
	g_mutex_unlock(&h->lock);
	return r;
}

const struct testhttp_req *
testhttp_last(struct testhttp *h)
{
	guint n = testhttp_nreqs(h);

	g_assert_cmpuint(n, >, 0);
	return testhttp_req(h, n - 1);
}

const char *
testhttp_req_header(const struct testhttp_req *r, const char *name, guint *count)
{
	const char *v = NULL;
	guint n = 0;

	for (guint i = 0; i < r->names->len; i++) {
		if (strcmp(r->names->pdata[i], name) == 0) {
			if (v == NULL)
				v = r->values->pdata[i];
			n++;
		}
	}
	if (count != NULL)
		*count = n;
	return v;
}

GSocket *
testhttp_refusing(guint16 *port)
{
	return testhttp_bind_loopback(FALSE, port);
}
