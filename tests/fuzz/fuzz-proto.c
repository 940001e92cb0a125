/*
 * fuzz-proto.c - libFuzzer target for proto.c, the SMTP/LMTP state machine.
 *
 * Input: byte 0 picks the limits (max_size from a small table,
 * max_recipients 1-4), whether DATA is answered with NULL replies and
 * whether the session ends with proto_close(); byte 1 seeds the chunk
 * sizes; the rest is what the client sends.  Every input runs in both
 * dialects.  The bytes are fed in chunks, unconsumed bytes are fed again
 * after each event, as the session layer does, and DATA events are
 * answered per recipient (LMTP) or once (SMTP).
 *
 * Invariants (abort on violation): proto_feed consumes everything unless
 * an event stops it, and a DATA event stops right after <CRLF>.<CRLF>;
 * no smuggling: a session raises no more DATA events than the client
 * bytes hold <CRLF>.<CRLF> sequences that do not overlap (each event
 * needs one of its own, with a DATA command between two); after
 * CLOSE nothing is consumed and nothing written; the output is always
 * whole reply lines - "NNN " or "NNN-", at most 512 bytes with CRLF, no
 * control bytes; data_done writes one line per recipient (LMTP) or one
 * (SMTP); a transaction has 1..max_recipients recipients, addresses of at
 * most 320 printable ASCII bytes, at most max_size bytes of data with CRLF
 * line ends only (too_big: data NULL); memory held by proto stays below
 * max_size plus a few lines (checked with ASan's allocator counter).
 *
 * Hostile input: all of it.  Inputs above FUZZ_MAX_INPUT are skipped.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "proto.h"

#define FUZZ_MAX_INPUT (512 * 1024)
#define FUZZ_REPLY_MAX 512       /* RFC 5321 4.5.3.1.5, CRLF included */
#define FUZZ_ADDR_MAX 320

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
/* from <sanitizer/allocator_interface.h> */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const guint64 fuzz_sizes[] = { 1, 16, 100, 1000, 4096, 65536, 1000000, 10485760 };

struct fuzz_run {
	enum proto_dialect dialect;
	struct proto_limits lim;
	gboolean null_replies;
	gboolean close_at_end;
	guint32 rng;
	char refusal[512];           /* rcpt_check's answer */
	gsize base;                  /* allocated bytes before proto_new */
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL |
	    G_LOG_LEVEL_WARNING);
	return 0;
}

/* xorshift32: the chunk sizes. */
static guint32
fuzz_next(struct fuzz_run *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 17;
	r->rng ^= r->rng << 5;
	return r->rng;
}

/* Refuses addresses by their first byte: 'b' properly, 'x' with a line
 * that needs cutting, 'y' with a 250 that is not a refusal. */
static const char *
fuzz_rcpt_check(const char *addr, gpointer data)
{
	struct fuzz_run *r = data;

	if (addr == NULL || strlen(addr) > FUZZ_ADDR_MAX)
		abort();
	switch (addr[0]) {
	case 'b':
		g_snprintf(r->refusal, sizeof(r->refusal),
		    "550 5.1.1 <%s>: Recipient address rejected", addr);
		return r->refusal;
	case 'x':
		g_snprintf(r->refusal, sizeof(r->refusal), "450 4.2.0 %s\r\n250 ok", addr);
		return r->refusal;
	case 'y':
		return "250 2.1.5 yes";
	default:
		return NULL;
	}
}

/*
 * How many <CRLF>.<CRLF> the client sent, counted left to right without
 * overlap: the most DATA events a session can honestly raise.
 */
static gsize
fuzz_terminators(const char *in, size_t len)
{
	gsize n = 0;

	for (size_t i = 0; i + 5 <= len; i++)
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0) {
			n++;
			i += 4;
		}
	return n;
}

/* Checks that out holds whole, well-formed reply lines; returns how many. */
static guint
fuzz_check_output(const GString *out)
{
	gsize i = 0;
	guint lines = 0;

	while (i < out->len) {
		const char *nl = memchr(out->str + i, '\n', out->len - i);
		gsize n;

		if (nl == NULL)
			abort();  /* a partial reply */
		n = (gsize)(nl - (out->str + i)) + 1;
		if (n < 5 || n > FUZZ_REPLY_MAX || out->str[i + n - 2] != '\r')
			abort();
		if (out->str[i] < '2' || out->str[i] > '5' ||
		    !g_ascii_isdigit(out->str[i + 1]) || !g_ascii_isdigit(out->str[i + 2]) ||
		    (out->str[i + 3] != ' ' && out->str[i + 3] != '-' && n != 5))
			abort();
		for (gsize k = 0; k < n - 2; k++) {
			unsigned char c = (unsigned char)out->str[i + k];

			if (c < 32 || c == 127)
				abort();
		}
		i += n;
		lines++;
	}
	return lines;
}

/* Checks an address from a transaction. */
static void
fuzz_check_addr(const char *a, gboolean may_be_empty)
{
	gsize n;

	if (a == NULL)
		abort();
	n = strlen(a);
	if ((n == 0 && !may_be_empty) || n > FUZZ_ADDR_MAX)
		abort();
	for (gsize k = 0; k < n; k++)
		if ((unsigned char)a[k] <= 32 || (unsigned char)a[k] >= 127) {
			/* spaces only inside a quoted local part */
			if (a[k] != ' ' || a[0] != '"')
				abort();
		}
}

/* Checks the DATA event's transaction. */
static void
fuzz_check_txn(const struct fuzz_run *r, const struct proto_txn *t)
{
	if (t == NULL || t->helo == NULL || strlen(t->helo) > 255)
		abort();
	fuzz_check_addr(t->mail_from, TRUE);
	if (t->n_rcpts == 0 || t->n_rcpts > r->lim.max_recipients ||
	    t->rcpts == NULL || t->rcpts[t->n_rcpts] != NULL)
		abort();
	for (guint i = 0; i < t->n_rcpts; i++)
		fuzz_check_addr(t->rcpts[i], FALSE);
	if (t->too_big) {
		if (t->data != NULL || t->len != 0)
			abort();
		return;
	}
	if (t->data == NULL || (guint64)t->len > r->lim.max_size || t->data[t->len] != '\0')
		abort();
	for (gsize k = 0; k < t->len; k++)
		if (t->data[k] == '\n' && (k == 0 || t->data[k - 1] != '\r'))
			abort();  /* bare LF left in */
	if (t->len > 0 && (t->len < 2 || t->data[t->len - 1] != '\n'))
		abort();
}

/* Answers a DATA event; checks the number of replies. */
static void
fuzz_answer(struct fuzz_run *r, struct proto *p, GString *out)
{
	const struct proto_txn *t = proto_txn(p);
	GPtrArray *replies = g_ptr_array_new_with_free_func(g_free);
	guint want = r->dialect == PROTO_LMTP ? t->n_rcpts : 1;

	fuzz_check_txn(r, t);
	if (!proto_in_transaction(p))
		abort();
	for (guint i = 0; i < want; i++) {
		const char *rc = r->dialect == PROTO_LMTP ? t->rcpts[i] : "";

		if (rc[0] == 't')
			g_ptr_array_add(replies, g_strdup_printf("451 4.3.0 <%s> later", rc));
		else if (rc[0] == 'w')
			g_ptr_array_add(replies, g_strdup("250-2.0.0 weird\r\n"));
		else
			g_ptr_array_add(replies, g_strdup_printf("250 2.0.0 <%s> Ok", rc));
	}
	g_ptr_array_add(replies, NULL);
	g_string_truncate(out, 0);
	proto_data_done(p, r->null_replies ? NULL : (const char *const *)replies->pdata, out);
	if (fuzz_check_output(out) != want || proto_in_transaction(p))
		abort();
	g_ptr_array_free(replies, TRUE);
}

/* Checks the memory proto holds: the data buffer and a few lines. */
static void
fuzz_check_memory(const struct fuzz_run *r, const GString *out, const GString *pending)
{
#ifdef FUZZ_ASAN
	gsize now = __sanitizer_get_current_allocated_bytes();
	gsize mine = out->allocated_len + pending->allocated_len;
	gsize held = now > r->base + mine ? now - r->base - mine : 0;

	if ((guint64)held > r->lim.max_size + 1 + 4 * PROTO_LINE_MAX +
	    (guint64)r->lim.max_recipients * (FUZZ_ADDR_MAX + 64) + 16384)
		abort();
#else
	(void)r;
	(void)out;
	(void)pending;
#endif
}

/* One session over the client bytes in[0, len). */
static void
fuzz_session(struct fuzz_run *r, const char *in, size_t len)
{
	GString *out = g_string_sized_new(4096);
	GString *pending = g_string_sized_new(4096);
	struct proto *p;
	gboolean closed = FALSE;
	gsize off = 0, used_total = 0, events = 0;

	r->base = 0;
#ifdef FUZZ_ASAN
	r->base = __sanitizer_get_current_allocated_bytes() - out->allocated_len -
	    pending->allocated_len;
#endif
	p = proto_new(r->dialect, "mx.fuzz", &r->lim, fuzz_rcpt_check, r);
	if (p == NULL)
		abort();
	proto_greeting(p, out);
	while (off < len && !closed) {
		guint32 x = fuzz_next(r);
		gsize n = (x & 0x300) == 0 ? len - off : (gsize)(x % 64) + 1;

		n = MIN(n, len - off);
		g_string_append_len(pending, in + off, (gssize)n);
		off += n;
		for (;;) {
			enum proto_event ev = PROTO_EV_NONE;
			gsize used = proto_feed(p, pending->str, pending->len, out, &ev);

			if (used > pending->len)
				abort();
			g_string_erase(pending, 0, (gssize)used);
			used_total += used;
			fuzz_check_output(out);
			g_string_truncate(out, 0);
			fuzz_check_memory(r, out, pending);
			if (ev == PROTO_EV_NONE) {
				if (pending->len != 0)
					abort();
				break;
			}
			if (ev == PROTO_EV_CLOSE) {
				enum proto_event ev2 = PROTO_EV_NONE;

				closed = TRUE;
				if (proto_feed(p, "NOOP\r\n", 6, out, &ev2) != 0 ||
				    ev2 != PROTO_EV_CLOSE || out->len != 0)
					abort();
				break;
			}
			if (ev != PROTO_EV_DATA)
				abort();
			/* stopped right after <CRLF>.<CRLF>, and no more
			 * messages than terminators so far */
			if (used_total < 5 ||
			    memcmp(in + used_total - 5, "\r\n.\r\n", 5) != 0)
				abort();
			if (++events > fuzz_terminators(in, used_total))
				abort();
			fuzz_answer(r, p, out);
			g_string_truncate(out, 0);
		}
	}
	/* the property on the whole input, whatever the chunking */
	if (events > fuzz_terminators(in, len))
		abort();
	if (r->close_at_end) {
		g_string_truncate(out, 0);
		proto_close(p, "4.4.2", "Timeout", out);
		if (!closed && !g_str_has_prefix(out->str, "421 4.4.2 mx.fuzz Timeout\r\n"))
			abort();
		if (closed && out->len != 0)
			abort();
		fuzz_check_output(out);
	}
	proto_free(&p);
	if (p != NULL)
		abort();
	g_string_free(out, TRUE);
	g_string_free(pending, TRUE);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_run r;

	if (size < 2 || size > FUZZ_MAX_INPUT)
		return -1;
	for (int d = 0; d < 2; d++) {
		memset(&r, 0, sizeof(r));
		r.dialect = d == 0 ? PROTO_LMTP : PROTO_SMTP;
		r.lim.max_size = fuzz_sizes[data[0] & 7];
		r.lim.max_recipients = ((data[0] >> 3) & 3) + 1;
		r.null_replies = (data[0] & 0x20) != 0;
		r.close_at_end = (data[0] & 0x40) != 0;
		r.rng = 0x9e3779b9u ^ ((guint32)data[1] << 8) ^ data[1];
		fuzz_session(&r, (const char *)data + 2, size - 2);
	}
	return 0;
}
