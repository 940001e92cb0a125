/*
 * test-proto.c - proto.c: SMTP/LMTP sessions as scripted, table-driven
 * conversations.  Each row gives the dialect, the limits, the exact bytes
 * a client sends, the exact bytes the server must answer (greeting
 * included), the transactions seen at each DATA event and, for sessions
 * that close, the bytes left unconsumed.  Every row runs whole, one byte
 * at a time and split at random points (fixed seeds); the results must
 * be identical.  Extra tests: proto_close(), the memory bound of an
 * endless DATA, the txn fields, feeding around events.
 */
#include "autoconfig.h"

#include <string.h>

#include "proto.h"
#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
/* from <sanitizer/allocator_interface.h>, which gcc does not install */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif

#define HOST "mx.test"
#define GL "220 mx.test LMTP otpbridge ready\r\n"
#define GS "220 mx.test ESMTP otpbridge ready\r\n"
#define LHLO "LHLO client.test\r\n"
#define EHLO "EHLO client.test\r\n"
#define EXT(sz) "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n" \
	"250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE " sz "\r\n"
#define HL GL EXT("10000")           /* greeting and LHLO reply, defaults */
#define HS GS EXT("10000")
#define M(a) "MAIL FROM:<" a ">\r\n"
#define R(a) "RCPT TO:<" a ">\r\n"
#define OKM "250 2.1.0 Ok\r\n"
#define OKR "250 2.1.5 Ok\r\n"
#define OK "250 2.0.0 Ok\r\n"
#define GO "354 End data with <CR><LF>.<CR><LF>\r\n"
#define BYE "221 2.0.0 Bye\r\n"
#define DLV(r) "250 2.0.0 <" r "> Ok\r\n"
#define TOOBIG "552 5.3.4 Message size exceeds fixed limit\r\n"
#define UNREC "500 5.5.1 Command unrecognized\r\n"
#define NEEDMAIL "503 5.5.1 Need MAIL command\r\n"
#define NOARGS "501 5.5.4 Syntax error: no arguments allowed\r\n"
#define BADCHAR "500 5.5.2 Invalid character in command\r\n"
#define BADFROM "501 5.1.7 Bad sender address syntax\r\n"
#define BADTO "501 5.1.3 Bad recipient address syntax\r\n"
#define NOTUTF8 "553 5.6.7 Non-ASCII address needs SMTPUTF8 on MAIL FROM\r\n"
#define BADUTF8FROM "501 5.1.7 Sender address is not valid UTF-8\r\n"
#define BADUTF8TO "501 5.1.3 Recipient address is not valid UTF-8\r\n"
/* UTF-8 addresses (RFC 6531): jörg, bøt, bücher, бот@пример.рф */
#define U_JORG "j\xc3\xb6rg"
#define U_BOT "b\xc3\xb8t"
#define U_BUCHER "b\xc3\xbc" "cher"
#define U_RU "\xd0\xb1\xd0\xbe\xd1\x82@\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80." \
	"\xd1\x80\xd1\x84"
#define UNSUPP "555 5.5.4 Unsupported parameter\r\n"
#define TOOLONG "500 5.5.2 Line too long\r\n"
#define NOTIMPL "502 5.5.1 Command not implemented\r\n"
#define MANYERR "421 4.7.0 mx.test Too many errors\r\n"
#define BARELF "421 4.5.2 mx.test Bare LF received: lines must end in CRLF\r\n"

/*
 * SMTP smuggling (CVE-2023-51764): a message whose body holds some
 * non-standard end of data, then a second transaction with a spoofed
 * sender and another recipient, then the real end of data.  SMUG_TXN is
 * the smuggled transaction as sent, SMUG_TXN_DATA the same bytes as they
 * are stored when they stay message text (its own final dot is the real
 * end of the first message).
 */
#define SMUG_HEAD M("a@b.test") R("c@d.test") "DATA\r\nSubject: hi\r\n\r\nbody"
#define SMUG_TXN_DATA M("spoof@evil.test") R("victim@d.test") "DATA\r\n" \
	"From: <security@bank.test>\r\n\r\nYour code: 123456\r\n"
#define SMUG_TXN SMUG_TXN_DATA ".\r\n"
#define SMUG_FIRST "[a@b.test>c@d.test]Subject: hi\r\n\r\nbody"

#define IN(x) .in = x, .in_len = sizeof(x) - 1
#define TX(x) .txns = x, .txns_len = sizeof(x) - 1

#define DEF_SIZE 10000
#define DEF_RCPTS 3

enum {
	ROW_NULL_REPLIES = 1 << 0,   /* answer DATA with replies = NULL */
};

/* What a run produced; the three ways of feeding must agree on all. */
struct result {
	GString *out;
	GString *txns;               /* "[from>r1,r2]data" per DATA event */
	GString *offsets;            /* where each event stopped consumption */
	GString *rest;               /* unconsumed bytes after CLOSE */
	gboolean closed;
	gsize max_data;              /* largest txn->len seen */
};

/* A generated row (too big or too regular to write out). */
struct built {
	GString *in, *out, *txns, *rest;
	gboolean closes;
};

struct row {
	const char *name;
	enum proto_dialect dialect;
	guint64 max_size;            /* 0: DEF_SIZE */
	guint max_rcpts;             /* 0: DEF_RCPTS */
	const char *in;
	gsize in_len;
	const char *out;
	const char *txns;            /* NULL: no DATA event */
	gsize txns_len;
	const char *rest;            /* NULL: the session stays open */
	guint flags;
	void (*build)(struct built *b);
};

/* ---- the driver --------------------------------------------------------- */

struct check_ctx {
	char *last;                  /* the last refusal, owned */
};

/*
 * The rcpt_check of every row: "bad..." is refused with a proper line,
 * "crlf..." with a line that has CRLF inside, "junk..." with no code,
 * "long..." with a 1 KB line; the rest is accepted.
 */
static const char *
test_rcpt_check(const char *addr, gpointer data)
{
	struct check_ctx *c = data;

	g_clear_pointer(&c->last, g_free);
	if (g_str_has_prefix(addr, "bad"))
		c->last = g_strdup_printf("550 5.1.1 <%s>: Recipient address rejected", addr);
	else if (g_str_has_prefix(addr, "crlf"))
		c->last = g_strdup("550 5.7.1 first\r\n250 2.1.5 injected");
	else if (g_str_has_prefix(addr, "junk"))
		c->last = g_strdup("go away");
	else if (g_str_has_prefix(addr, "yes"))
		c->last = g_strdup("250 2.1.5 a refusal that says yes");
	else if (g_str_has_prefix(addr, "long")) {
		GString *s = g_string_new("550 5.1.1 ");

		for (int i = 0; i < 1000; i++)
			g_string_append_c(s, 'x');
		c->last = g_string_free(s, FALSE);
	}
	return c->last;
}

/* Appends the DATA replies the session layer would give for txn. */
static void
answer_data(struct proto *p, enum proto_dialect dialect, guint flags, GString *out)
{
	const struct proto_txn *t = proto_txn(p);
	GPtrArray *replies;

	if (t->too_big || (flags & ROW_NULL_REPLIES) != 0) {
		proto_data_done(p, NULL, out);
		return;
	}
	replies = g_ptr_array_new_with_free_func(g_free);
	if (dialect == PROTO_SMTP)
		g_ptr_array_add(replies, g_strdup("250 2.0.0 Ok"));
	else
		for (guint i = 0; i < t->n_rcpts; i++) {
			const char *r = t->rcpts[i];

			if (g_str_has_prefix(r, "tmp"))
				g_ptr_array_add(replies, g_strdup_printf(
				    "451 4.3.0 <%s> Try again later", r));
			else if (g_str_has_prefix(r, "odd"))
				g_ptr_array_add(replies, g_strdup("OK then"));
			else if (g_str_has_prefix(r, "cont"))
				g_ptr_array_add(replies, g_strdup("250-2.0.0 more to come"));
			else if (g_str_has_prefix(r, "inter"))
				g_ptr_array_add(replies, g_strdup("354 2.0.0 go on"));
			else if (g_str_has_prefix(r, "split"))
				g_ptr_array_add(replies, g_strdup(
				    "250 2.0.0 stored\r\n250 2.0.0 forged"));
			else
				g_ptr_array_add(replies, g_strdup_printf("250 2.0.0 <%s> Ok", r));
		}
	g_ptr_array_add(replies, NULL);
	proto_data_done(p, (const char *const *)replies->pdata, out);
	g_ptr_array_free(replies, TRUE);
}

/* Records the transaction of a DATA event. */
static void
record_txn(const struct proto_txn *t, struct result *r)
{
	g_assert_nonnull(t->helo);
	g_assert_nonnull(t->mail_from);
	g_assert_nonnull(t->rcpts);
	g_assert_null(t->rcpts[t->n_rcpts]);
	g_string_append_printf(r->txns, "[%s>", t->mail_from);
	for (guint i = 0; i < t->n_rcpts; i++)
		g_string_append_printf(r->txns, "%s%s", i > 0 ? "," : "", t->rcpts[i]);
	g_string_append_c(r->txns, ']');
	if (t->too_big) {
		g_assert_null(t->data);
		g_string_append(r->txns, "TOO BIG");
		return;
	}
	g_assert_nonnull(t->data);
	g_assert_cmpint(t->data[t->len], ==, '\0');
	g_string_append_len(r->txns, t->data, (gssize)t->len);
	r->max_data = MAX(r->max_data, t->len);
}

/*
 * Feeds in[0, len) to a fresh proto in chunks: mode 0 all at once, 1 one
 * byte at a time, 2 random sizes (1-40) from seed.  Unconsumed bytes are
 * kept and fed again, as the session layer does.
 */
static void
run_session(const struct row *row, const char *in, gsize len, int mode,
    guint32 seed, struct result *r)
{
	const struct proto_limits lim = {
		row->max_size != 0 ? row->max_size : DEF_SIZE,
		row->max_rcpts != 0 ? row->max_rcpts : DEF_RCPTS,
	};
	struct check_ctx ctx = { NULL };
	GRand *rnd = g_rand_new_with_seed(seed);
	GString *pending = g_string_new(NULL);
	struct proto *p;
	gsize off = 0, used_total = 0;

	p = proto_new(row->dialect, HOST, &lim, test_rcpt_check, &ctx);
	g_assert_nonnull(p);
	proto_greeting(p, r->out);
	while (off < len && !r->closed) {
		gsize n = mode == 0 ? len - off : mode == 1 ? 1 :
		    (gsize)g_rand_int_range(rnd, 1, 41);

		n = MIN(n, len - off);
		g_string_append_len(pending, in + off, (gssize)n);
		off += n;
		for (;;) {
			enum proto_event ev = PROTO_EV_DATA;
			gsize used = proto_feed(p, pending->str, pending->len, r->out, &ev);

			g_assert_cmpuint(used, <=, pending->len);
			g_string_erase(pending, 0, (gssize)used);
			used_total += used;
			if (ev == PROTO_EV_NONE) {
				/* partial lines are kept inside */
				g_assert_cmpuint(pending->len, ==, 0);
				break;
			}
			if (ev == PROTO_EV_CLOSE) {
				r->closed = TRUE;
				break;
			}
			g_assert_cmpint(ev, ==, PROTO_EV_DATA);
			/* stopped right after <CRLF>.<CRLF>, the only end of data
			 * (the first CRLF may be DATA's own) */
			g_assert_cmpuint(used_total, >=, 5);
			g_assert_true(used_total >= 5 &&
			    memcmp(in + used_total - 5, "\r\n.\r\n", 5) == 0);
			g_string_append_printf(r->offsets, "%zu ", used_total);
			/* nothing more until data_done, and the event repeats */
			{
				enum proto_event ev2 = PROTO_EV_NONE;
				gsize before = r->out->len;

				g_assert_cmpuint(proto_feed(p, pending->str, pending->len,
				    r->out, &ev2), ==, 0);
				g_assert_cmpint(ev2, ==, PROTO_EV_DATA);
				g_assert_cmpuint(r->out->len, ==, before);
			}
			record_txn(proto_txn(p), r);
			answer_data(p, row->dialect, row->flags, r->out);
		}
	}
	if (r->closed) {
		enum proto_event ev = PROTO_EV_NONE;
		gsize before = r->out->len;

		g_string_append_len(r->rest, pending->str, (gssize)pending->len);
		g_string_append_len(r->rest, in + off, (gssize)(len - off));
		/* closed means closed */
		g_assert_cmpuint(proto_feed(p, "NOOP\r\n", 6, r->out, &ev), ==, 0);
		g_assert_cmpint(ev, ==, PROTO_EV_CLOSE);
		g_assert_cmpuint(r->out->len, ==, before);
	}
	proto_free(&p);
	g_assert_null(p);
	g_free(ctx.last);
	g_string_free(pending, TRUE);
	g_rand_free(rnd);
}

static void
result_init(struct result *r)
{
	r->out = g_string_new(NULL);
	r->txns = g_string_new(NULL);
	r->offsets = g_string_new(NULL);
	r->rest = g_string_new(NULL);
	r->closed = FALSE;
	r->max_data = 0;
}

static void
result_clear(struct result *r)
{
	g_string_free(r->out, TRUE);
	g_string_free(r->txns, TRUE);
	g_string_free(r->offsets, TRUE);
	g_string_free(r->rest, TRUE);
}

/* A printable copy of len bytes: CR, LF and other controls escaped. */
static char *
escape_bytes(const char *s, gsize len)
{
	GString *e = g_string_new(NULL);

	for (gsize i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r')
			g_string_append(e, "\\r");
		else if (c == '\n')
			g_string_append(e, "\\n");
		else if (c < 32 || c >= 127)
			g_string_append_printf(e, "\\x%02x", c);
		else
			g_string_append_c(e, (char)c);
	}
	return g_string_free(e, FALSE);
}

/* Asserts two byte strings equal, showing where they part. */
static void
assert_bytes(const char *what, const char *got, gsize got_len, const char *want,
    gsize want_len)
{
	gsize i = 0, from;
	g_autofree char *g = NULL, *w = NULL;

	while (i < got_len && i < want_len && got[i] == want[i])
		i++;
	if (i == got_len && i == want_len)
		return;
	from = i > 60 ? i - 60 : 0;
	g = escape_bytes(got + from, MIN(got_len - from, (gsize)200));
	w = escape_bytes(want + from, MIN(want_len - from, (gsize)200));
	g_test_message("%s differs at byte %zu (got %zu, want %zu bytes)\n"
	    "  got:  ...%s\n  want: ...%s", what, i, got_len, want_len, g, w);
	g_test_fail();
}

/* Runs one row all three ways (random split with three seeds). */
static void
test_row(gconstpointer data)
{
	const struct row *row = data;
	struct built b = { NULL, NULL, NULL, NULL, FALSE };
	const char *in = row->in, *want_out = row->out, *want_txns = row->txns;
	const char *want_rest = row->rest;
	gsize in_len = row->in_len, want_txns_len = row->txns_len;
	struct result first;

	if (row->build != NULL) {
		b.in = g_string_new(NULL);
		b.out = g_string_new(NULL);
		b.txns = g_string_new(NULL);
		b.rest = g_string_new(NULL);
		row->build(&b);
		in = b.in->str;
		in_len = b.in->len;
		want_out = b.out->str;
		want_txns = b.txns->len > 0 ? b.txns->str : NULL;
		want_txns_len = b.txns->len;
		want_rest = b.closes ? b.rest->str : NULL;
	}
	result_init(&first);
	for (int way = 0; way < 5; way++) {
		struct result r;

		result_init(&r);
		run_session(row, in, in_len, way < 2 ? way : 2, 0x5eed + (guint32)way, &r);
		if (way == 0) {
			assert_bytes("output", r.out->str, r.out->len, want_out, strlen(want_out));
			assert_bytes("transactions", r.txns->str, r.txns->len,
			    want_txns != NULL ? want_txns : "", want_txns != NULL ? want_txns_len : 0);
			g_assert_cmpint(r.closed, ==, want_rest != NULL);
			if (want_rest != NULL)
				assert_bytes("unconsumed", r.rest->str, r.rest->len,
				    want_rest, strlen(want_rest));
			g_string_append_len(first.out, r.out->str, (gssize)r.out->len);
			g_string_append_len(first.txns, r.txns->str, (gssize)r.txns->len);
			g_string_append_len(first.offsets, r.offsets->str, (gssize)r.offsets->len);
			g_string_append_len(first.rest, r.rest->str, (gssize)r.rest->len);
			first.closed = r.closed;
		} else {
			assert_bytes("output", r.out->str, r.out->len, first.out->str, first.out->len);
			assert_bytes("transactions", r.txns->str, r.txns->len,
			    first.txns->str, first.txns->len);
			g_assert_cmpstr(r.offsets->str, ==, first.offsets->str);
			g_assert_cmpint(r.closed, ==, first.closed);
			assert_bytes("unconsumed", r.rest->str, r.rest->len,
			    first.rest->str, first.rest->len);
		}
		/* the data never outgrows max_size */
		g_assert_cmpuint(r.max_data, <=, row->max_size != 0 ? row->max_size : DEF_SIZE);
		result_clear(&r);
	}
	result_clear(&first);
	if (row->build != NULL) {
		g_string_free(b.in, TRUE);
		g_string_free(b.out, TRUE);
		g_string_free(b.txns, TRUE);
		g_string_free(b.rest, TRUE);
	}
}

/* ---- generated rows ----------------------------------------------------- */

/* One 100 KB data line (max_size 200000). */
static void
build_long_data_line(struct built *b)
{
	g_string_append(b->in, LHLO M("a@b.test") R("c@d.test") "DATA\r\n");
	g_string_append(b->out, GL EXT("200000") OKM OKR GO);
	g_string_append(b->txns, "[a@b.test>c@d.test]");
	for (int i = 0; i < 100 * 1024; i++) {
		g_string_append_c(b->in, (char)('a' + i % 26));
		g_string_append_c(b->txns, (char)('a' + i % 26));
	}
	g_string_append(b->in, "\r\n.\r\nQUIT\r\n");
	g_string_append(b->txns, "\r\n");
	g_string_append(b->out, DLV("c@d.test") BYE);
	b->closes = TRUE;
}

/* DATA without a final dot: no event, nothing after 354 (max_size 1000). */
static void
build_endless_data(struct built *b)
{
	g_string_append(b->in, LHLO M("a@b.test") R("c@d.test") "DATA\r\n");
	g_string_append(b->out, GL EXT("1000") OKM OKR GO);
	for (int i = 0; i < 20000; i++)
		g_string_append(b->in, "QUIT and more text\r\n.x\r\n..\r\n");
}

/* A 100 KB line without the final dot, then the dot: too big. */
static void
build_too_big_line(struct built *b)
{
	g_string_append(b->in, LHLO M("a@b.test") R("c@d.test") R("e@d.test") "DATA\r\n");
	g_string_append(b->out, GL EXT("1000") OKM OKR OKR GO);
	for (int i = 0; i < 100 * 1024; i++)
		g_string_append_c(b->in, 'z');
	g_string_append(b->in, "\r\n.\r\nNOOP\r\n");
	g_string_append(b->out, TOOBIG TOOBIG OK);
	g_string_append(b->txns, "[a@b.test>c@d.test,e@d.test]TOO BIG");
}

/* Command lines at PROTO_LINE_MAX and one byte over. */
static void
build_line_limit(struct built *b)
{
	GString *pad = g_string_new("NOOP ");

	while (pad->len < PROTO_LINE_MAX - 2)
		g_string_append_c(pad, 'x');
	g_string_append(b->out, GL);
	/* exactly PROTO_LINE_MAX with CRLF */
	g_string_append_printf(b->in, "%s\r\n", pad->str);
	g_string_append(b->out, OK);
	/* one over */
	g_string_append_printf(b->in, "%sx\r\n", pad->str);
	g_string_append(b->out, TOOLONG);
	/* far over: one reply, then the next line works */
	for (int i = 0; i < 5; i++)
		g_string_append(b->in, pad->str);
	g_string_append(b->in, "\r\nNOOP\r\n");
	g_string_append(b->out, TOOLONG OK);
	/* a line dropped for its length that ends in a bare LF: closed */
	g_string_append_printf(b->in, "%sxx\n", pad->str);
	g_string_append(b->out, BARELF);
	g_string_append(b->rest, "NOOP\r\n");
	g_string_append(b->in, b->rest->str);
	b->closes = TRUE;
	g_string_free(pad, TRUE);
}

/* Addresses of 320 bytes pass, 321 do not. */
static void
build_addr_limit(struct built *b)
{
	GString *a = g_string_new(NULL);

	while (a->len < 320 - strlen("@b.test"))
		g_string_append_c(a, 'a');
	g_string_append(a, "@b.test");
	g_string_append(b->out, HL);
	g_string_append_printf(b->in, LHLO "MAIL FROM:<x%s>\r\n", a->str);
	g_string_append(b->out, "501 5.1.7 Sender address too long\r\n");
	g_string_append_printf(b->in, "MAIL FROM:<%s>\r\n", a->str);
	g_string_append(b->out, OKM);
	g_string_append_printf(b->in, "RCPT TO:<x%s>\r\n", a->str);
	g_string_append(b->out, "501 5.1.3 Recipient address too long\r\n");
	g_string_append_printf(b->in, "RCPT TO:<%s>\r\nDATA\r\nhi\r\n.\r\n", a->str);
	g_string_append_printf(b->out, OKR GO "250 2.0.0 <%s> Ok\r\n", a->str);
	g_string_append_printf(b->txns, "[%s>%s]hi\r\n", a->str, a->str);
	g_string_free(a, TRUE);
}

/* PROTO_ERRORS_MAX bad commands: 421 and close; the rest stays unread. */
static void
build_too_many_errors(struct built *b)
{
	g_string_append(b->in, LHLO);
	g_string_append(b->out, HL);
	for (int i = 0; i < PROTO_ERRORS_MAX - 1; i++) {
		g_string_append(b->in, i % 2 ? "FOO\r\nNOOP\r\n" : "RCPT TO:<a@b>\r\n");
		g_string_append(b->out, i % 2 ? UNREC OK : NEEDMAIL);
	}
	g_string_append(b->in, "BAR\r\n");
	g_string_append(b->out, UNREC MANYERR);
	g_string_append(b->rest, "NOOP\r\nQUIT\r\n");
	g_string_append(b->in, b->rest->str);
	b->closes = TRUE;
}

/* Policy refusals do not count as errors. */
static void
build_refusals_not_errors(struct built *b)
{
	g_string_append(b->in, LHLO M("a@b.test"));
	g_string_append(b->out, HL OKM);
	for (int i = 0; i < 3 * PROTO_ERRORS_MAX; i++) {
		g_string_append_printf(b->in, "RCPT TO:<bad%d@d.test>\r\n", i);
		g_string_append_printf(b->out,
		    "550 5.1.1 <bad%d@d.test>: Recipient address rejected\r\n", i);
	}
	g_string_append(b->in, "DATA\r\nQUIT\r\n");
	g_string_append(b->out, "554 5.5.1 No valid recipients\r\n" BYE);
	b->closes = TRUE;
}

/* A refusal of 1 KB is cut to 510 bytes. */
static void
build_long_refusal(struct built *b)
{
	g_string_append(b->in, LHLO M("a@b.test") R("long@d.test") "NOOP\r\n");
	g_string_append(b->out, HL OKM "550 5.1.1 ");
	for (int i = 0; i < 500; i++)
		g_string_append_c(b->out, 'x');
	g_string_append(b->out, "\r\n" OK);
}

/* Many transactions in one pipelined write. */
static void
build_many_txns(struct built *b)
{
	g_string_append(b->in, LHLO);
	g_string_append(b->out, HL);
	for (int i = 0; i < 50; i++) {
		g_string_append_printf(b->in, "MAIL FROM:<s%d@b.test>\r\nRCPT TO:<r%d@d.test>\r\n"
		    "DATA\r\nmessage %d\r\n.\r\n", i, i, i);
		g_string_append_printf(b->out, OKM OKR GO "250 2.0.0 <r%d@d.test> Ok\r\n", i);
		g_string_append_printf(b->txns, "[s%d@b.test>r%d@d.test]message %d\r\n", i, i, i);
	}
	g_string_append(b->in, "QUIT\r\n");
	g_string_append(b->out, BYE);
	b->closes = TRUE;
}

/* ---- the table ---------------------------------------------------------- */

static const struct row rows[] = {
	/* --- greetings and dialects */
	{ "lmtp-basic", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n"),
	  HL OKM OKR GO DLV("c@d.test") BYE,
	  TX("[a@b.test>c@d.test]Subject: hi\r\n\r\nbody\r\n"), "" },
	{ "smtp-basic", PROTO_SMTP, 0, 0,
	  IN(EHLO M("a@b.test") R("c@d.test") "DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n"),
	  HS OKM OKR GO OK BYE,
	  TX("[a@b.test>c@d.test]Subject: hi\r\n\r\nbody\r\n"), "" },
	{ "smtp-helo", PROTO_SMTP, 0, 0,
	  IN("HELO client.test\r\n" M("a@b.test") R("c@d.test") "DATA\r\nx\r\n.\r\n"),
	  GS "250 mx.test\r\n" OKM OKR GO OK,
	  TX("[a@b.test>c@d.test]x\r\n") },
	{ "lmtp-refuses-ehlo-helo", PROTO_LMTP, 0, 0,
	  IN(EHLO "HELO client.test\r\n" M("a@b.test") LHLO M("a@b.test")),
	  GL "500 5.5.1 This is LMTP: use LHLO\r\n500 5.5.1 This is LMTP: use LHLO\r\n"
	  "503 5.5.1 Send LHLO first\r\n" EXT("10000") OKM },
	{ "smtp-refuses-lhlo", PROTO_SMTP, 0, 0,
	  IN(LHLO M("a@b.test") EHLO),
	  GS "500 5.5.1 This is SMTP: use EHLO or HELO\r\n503 5.5.1 Send EHLO first\r\n"
	  EXT("10000") },
	{ "hello-needs-argument", PROTO_LMTP, 0, 0,
	  IN("LHLO\r\nLHLO   \r\n" M("a@b.test")),
	  GL "501 5.5.4 Syntax: LHLO hostname\r\n501 5.5.4 Syntax: LHLO hostname\r\n"
	  "503 5.5.1 Send LHLO first\r\n" },
	{ "smtp-ehlo-helo-need-argument", PROTO_SMTP, 0, 0,
	  IN("EHLO\r\nhelo\r\n"),
	  GS "501 5.5.4 Syntax: EHLO hostname\r\n501 5.5.4 Syntax: HELO hostname\r\n" },
	{ "size-in-ehlo", PROTO_SMTP, 12345678, 0,
	  IN(EHLO),
	  GS EXT("12345678") },
	{ "lhlo-resets-transaction", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") LHLO "DATA\r\n" R("c@d.test") M("e@b.test")),
	  HL OKM OKR EXT("10000") NEEDMAIL NEEDMAIL OKM },
	{ "ehlo-resets-transaction", PROTO_SMTP, 0, 0,
	  IN(EHLO M("a@b.test") "HELO other.test\r\n" M("e@b.test")),
	  HS OKM "250 mx.test\r\n" OKM },
	{ "case-insensitive", PROTO_LMTP, 0, 0,
	  IN("lhlo client.test\r\nmail from:<a@b.test>\r\nRcPt To:<c@d.test>\r\ndata\r\n"
	     "x\r\n.\r\nnoop\r\nrset\r\nquit\r\n"),
	  HL OKM OKR GO DLV("c@d.test") OK OK BYE,
	  TX("[a@b.test>c@d.test]x\r\n"), "" },
	{ "bare-lf-commands", PROTO_LMTP, 0, 0,
	  /* only CRLF ends a line: a bare LF closes the session at once */
	  IN("LHLO client.test\nMAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\nDATA\nx\n.\nQUIT\n"),
	  GL BARELF,
	  .rest = "MAIL FROM:<a@b.test>\nRCPT TO:<c@d.test>\nDATA\nx\n.\nQUIT\n" },

	/* --- MAIL */
	{ "mail-before-hello", PROTO_SMTP, 0, 0,
	  IN(M("a@b.test") R("c@d.test") "DATA\r\n"),
	  GS "503 5.5.1 Send EHLO first\r\n" NEEDMAIL NEEDMAIL },
	{ "mail-nested", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") M("e@b.test") R("c@d.test") "DATA\r\nx\r\n.\r\n"),
	  HL OKM "503 5.5.1 Sender already given\r\n" OKR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test]x\r\n") },
	{ "mail-null-sender", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<>\r\n" R("c@d.test") "DATA\r\nbounce\r\n.\r\n"),
	  HL OKM OKR GO DLV("c@d.test"),
	  TX("[>c@d.test]bounce\r\n") },
	{ "mail-source-route", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<@a.test,@b.test:u@d.test>\r\n"
	     "RCPT TO:<@relay.test:c@d.test>\r\nDATA\r\nx\r\n.\r\n"),
	  HL OKM OKR GO DLV("c@d.test"),
	  TX("[u@d.test>c@d.test]x\r\n") },
	{ "mail-bad-source-route", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<@a.test,b.test:u@d.test>\r\nMAIL FROM:<@a.test u@d.test>\r\n"
	     "MAIL FROM:<@:u@d.test>\r\n"),
	  HL BADFROM BADFROM BADFROM },
	{ "mail-quoted-local-part", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<\"john doe\"@b.test>\r\nRCPT TO:<\"a\\\"b>c\"@d.test>\r\n"
	     "DATA\r\nx\r\n.\r\n"),
	  HL OKM OKR GO "250 2.0.0 <\"a\\\"b>c\"@d.test> Ok\r\n",
	  TX("[\"john doe\"@b.test>\"a\\\"b>c\"@d.test]x\r\n") },
	{ "mail-bad-quoted", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<\"open@b.test>\r\nMAIL FROM:<\"a\"b@c.test>\r\n"),
	  HL BADFROM BADFROM },
	{ "mail-address-literal", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<u@[192.0.2.1]>\r\nRCPT TO:<v@[IPv6:2001:db8::1]>\r\n"
	     "RCPT TO:<w@[]>\r\nRCPT TO:<w@[1.2.3.4>\r\n"),
	  HL OKM OKR BADTO BADTO },
	{ "mail-bad-syntax", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:a@b.test\r\nMAIL FROM:<a@>\r\nMAIL FROM:<@b.test>\r\n"
	     "MAIL FROM:<a..b@c.test>\r\nMAIL FROM:<.a@c.test>\r\nMAIL FROM:<a@b.test\r\n"
	     "MAIL FROM:<a@-b.test>\r\nMAIL FROM:<a@b-.test>\r\nMAIL FROM:<a@b..test>\r\n"
	     "MAIL FROM:<a@b.test>x\r\nMAIL FROM:<a b@c.test>\r\nMAIL FROM:<a@b.test.>\r\n"
	     "MAIL FROM:<a>\r\nMAIL FROM:<postmaster>\r\n"),
	  HL BADFROM BADFROM BADFROM BADFROM BADFROM BADFROM BADFROM BADFROM BADFROM
	  BADFROM BADFROM BADFROM BADFROM BADFROM },
	{ "mail-syntax", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL\r\nMAIL FROM:\r\nMAIL TO:<a@b.test>\r\nMAIL FROM<a@b.test>\r\n"
	     "MAIL FROM: <a@b.test>\r\n"),
	  HL "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
	  "501 5.5.4 Syntax: MAIL FROM:<address>\r\n" OKM },
	{ "mail-8bit-address", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<j\xc3\xb6rg@b.test>\r\nMAIL FROM:<a@b\xc3\xa4.test>\r\n"
	     "MAIL FROM:<\"\xc3\xa4\"@b.test>\r\n" M("a@b.test") "RCPT TO:<\xe2\x82\xac@d.test>\r\n"),
	  HL NOTUTF8 NOTUTF8 NOTUTF8 OKM NOTUTF8 },
	/* --- SMTPUTF8 (RFC 6531): UTF-8 in MAIL/RCPT paths only when MAIL said so */
	{ "smtputf8-lmtp", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<" U_JORG "@" U_BUCHER ".test> SMTPUTF8\r\n"
	     "RCPT TO:<" U_RU ">\r\nRCPT TO:<" U_BOT "@xn--bcher-kva.test>\r\n"
	     "RCPT TO:<\"\xc3\xa4 x\"@d.test>\r\n"
	     "DATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\n"),
	  HL OKM OKR OKR OKR GO DLV(U_RU) DLV(U_BOT "@xn--bcher-kva.test")
	  DLV("\"\xc3\xa4 x\"@d.test"),
	  TX("[" U_JORG "@" U_BUCHER ".test>" U_RU "," U_BOT "@xn--bcher-kva.test,"
	     "\"\xc3\xa4 x\"@d.test]Subject: hi\r\n\r\nbody\r\n") },
	{ "smtputf8-smtp", PROTO_SMTP, 0, 0,
	  IN(EHLO "MAIL FROM:<> smtputf8 BODY=8BITMIME SIZE=10\r\n"
	     "RCPT TO:<" U_BOT "@" U_BUCHER ".test>\r\nDATA\r\nx\r\n.\r\n"),
	  HS OKM OKR GO OK,
	  TX("[>" U_BOT "@" U_BUCHER ".test]x\r\n") },
	{ "smtputf8-per-transaction", PROTO_LMTP, 0, 0,
	  /* the parameter covers its own transaction only; ASCII needs none */
	  IN(LHLO "MAIL FROM:<a@b.test> SMTPUTF8\r\nRCPT TO:<" U_BOT "@d.test>\r\n"
	     "RSET\r\n" M("a@b.test") "RCPT TO:<" U_BOT "@d.test>\r\n" R("c@d.test")
	     "RCPT TO:<c@" U_BUCHER ".test>\r\n" "DATA\r\nx\r\n.\r\n"
	     "RCPT TO:<" U_BOT "@d.test>\r\n" "MAIL FROM:<" U_BOT "@d.test>\r\n"),
	  HL OKM OKR OK OKM NOTUTF8 OKR NOTUTF8 GO DLV("c@d.test") NEEDMAIL NOTUTF8,
	  TX("[a@b.test>c@d.test]x\r\n") },
	{ "smtputf8-not-after-helo", PROTO_SMTP, 0, 0,
	  /* HELO offers no extensions: SMTPUTF8 was never advertised */
	  IN("HELO client.test\r\nMAIL FROM:<a@b.test> SMTPUTF8\r\n"
	     "MAIL FROM:<" U_BOT "@d.test>\r\n" EHLO "MAIL FROM:<" U_BOT "@d.test> SMTPUTF8\r\n"),
	  GS "250 mx.test\r\n" UNSUPP NOTUTF8 EXT("10000") OKM },
	{ "smtputf8-bad-parameter", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<a@b.test> SMTPUTF8=yes\r\nMAIL FROM:<a@b.test> SMTPUTF8=\r\n"
	     "MAIL FROM:<a@b.test> SMTPUTF8 SMTPUTF8\r\n"
	     "MAIL FROM:<" U_BOT "@d.test> SIZE=1 SMTPUTF8=1\r\n"),
	  HL "501 5.5.4 Bad SMTPUTF8 parameter\r\n501 5.5.4 Bad SMTPUTF8 parameter\r\n"
	  "501 5.5.4 Bad SMTPUTF8 parameter\r\n501 5.5.4 Bad SMTPUTF8 parameter\r\n" },
	{ "smtputf8-invalid-utf8", PROTO_LMTP, 0, 0,
	  /* hostile bytes: Latin-1, an overlong '@', a surrogate, a lone
	   * continuation byte, a truncated sequence at the '>' */
	  IN(LHLO "MAIL FROM:<b\xf8t@d.test> SMTPUTF8\r\n"
	     "MAIL FROM:<a\xc0\x80@d.test> SMTPUTF8\r\n"
	     "MAIL FROM:<a@b.test> SMTPUTF8\r\n"
	     "RCPT TO:<b\xf8t@d.test>\r\nRCPT TO:<a@\xed\xa0\x80.test>\r\n"
	     "RCPT TO:<\x80@d.test>\r\nRCPT TO:<a@d\xc3>\r\n"
	     "RCPT TO:<\"\xff\"@d.test>\r\n" "RCPT TO:<" U_BOT "@d.test>\r\n"),
	  HL BADUTF8FROM BADUTF8FROM OKM BADUTF8TO BADUTF8TO BADUTF8TO BADUTF8TO BADUTF8TO OKR },
	{ "smtputf8-syntax-still-checked", PROTO_LMTP, 0, 0,
	  /* UTF-8 joins atext and sub-domain letters, nothing else changes */
	  IN(LHLO "MAIL FROM:<a@b.test> SMTPUTF8\r\n"
	     "RCPT TO:<" U_BOT " x@d.test>\r\nRCPT TO:<" U_BOT "@-" U_BUCHER ".test>\r\n"
	     "RCPT TO:<" U_BOT "@" U_BUCHER "..test>\r\nRCPT TO:<" U_BOT ">\r\n"
	     "RCPT TO:<" U_BOT "@d.test> SMTPUTF8\r\n" "RCPT TO:<" U_BUCHER "-x@" U_BUCHER "-x.test>\r\n"),
	  HL OKM BADTO BADTO BADTO BADTO UNSUPP OKR },
	{ "mail-params", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<a@b.test> size=100 body=8bitmime\r\nRSET\r\n"
	     "MAIL FROM:<a@b.test>   SIZE=10000   BODY=7BIT   \r\nRSET\r\n"
	     "MAIL FROM:<> BODY=8BITMIME\r\n"),
	  HL OKM OK OKM OK OKM },
	{ "mail-unknown-param", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<a@b.test> RET=FULL\r\nMAIL FROM:<a@b.test> MT-PRIORITY=1\r\n"
	     "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\nMAIL FROM:<a@b.test> AUTH=<>\r\n"),
	  HL UNSUPP UNSUPP "555 5.5.4 Unsupported BODY type\r\n" UNSUPP },
	{ "mail-bad-param-syntax", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<a@b.test> =1\r\nMAIL FROM:<a@b.test> SIZE=abc\r\n"
	     "MAIL FROM:<a@b.test> SIZE\r\nMAIL FROM:<a@b.test> SIZE=\r\n"
	     "MAIL FROM:<a@b.test> SIZE=1 SIZE=2\r\nMAIL FROM:<a@b.test> BODY\r\n"
	     "MAIL FROM:<a@b.test> X_Y=1\r\nMAIL FROM:<a@b.test> SIZE=1=2\r\n"
	     "MAIL FROM:<a@b.test> X=\xff\r\n"),
	  HL "501 5.5.4 Bad parameter syntax\r\n501 5.5.4 Bad SIZE parameter\r\n"
	  "501 5.5.4 Bad SIZE parameter\r\n501 5.5.4 Bad SIZE parameter\r\n"
	  "501 5.5.4 Bad SIZE parameter\r\n501 5.5.4 Bad BODY parameter\r\n"
	  "501 5.5.4 Bad parameter syntax\r\n501 5.5.4 Bad parameter syntax\r\n"
	  "501 5.5.4 Bad parameter syntax\r\n" },
	{ "mail-size-too-big", PROTO_LMTP, 0, 0,
	  IN(LHLO "MAIL FROM:<a@b.test> SIZE=10001\r\n"
	     "MAIL FROM:<a@b.test> SIZE=99999999999999999999999999\r\n"
	     "MAIL FROM:<a@b.test> SIZE=18446744073709551616\r\n"
	     "MAIL FROM:<a@b.test> SIZE=10000\r\n"),
	  HL TOOBIG TOOBIG TOOBIG OKM },
	{ "mail-param-error-before-size", PROTO_LMTP, 0, 0,
	  /* a bad parameter is reported before a size that is too big */
	  IN(LHLO "MAIL FROM:<a@b.test> SIZE=20000 FOO=1\r\n"),
	  HL UNSUPP },

	/* --- RCPT */
	{ "rcpt-before-mail", PROTO_LMTP, 0, 0,
	  IN(LHLO R("c@d.test") "RCPT\r\n"),
	  HL NEEDMAIL NEEDMAIL },
	{ "rcpt-syntax", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") "RCPT\r\nRCPT FROM:<c@d.test>\r\nRCPT TO:\r\n"
	     "RCPT TO:<>\r\nRCPT TO:c@d.test\r\nRCPT TO:<c>\r\nRCPT TO:<c@d.test\r\n"
	     "RCPT TO:<c@d.test>junk\r\nRCPT TO: <c@d.test>\r\n"),
	  HL OKM "501 5.5.4 Syntax: RCPT TO:<address>\r\n501 5.5.4 Syntax: RCPT TO:<address>\r\n"
	  "501 5.5.4 Syntax: RCPT TO:<address>\r\n" BADTO BADTO BADTO BADTO BADTO OKR },
	{ "rcpt-postmaster", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("Postmaster") R("postmaster@d.test") "DATA\r\nx\r\n.\r\n"),
	  HL OKM OKR OKR GO DLV("Postmaster") DLV("postmaster@d.test"),
	  TX("[a@b.test>Postmaster,postmaster@d.test]x\r\n") },
	{ "rcpt-params-refused", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") "RCPT TO:<c@d.test> NOTIFY=NEVER\r\nRCPT TO:<c@d.test>  \r\n"),
	  HL OKM UNSUPP OKR },
	{ "rcpt-too-many", PROTO_LMTP, 0, 2,
	  IN(LHLO M("a@b.test") R("c1@d.test") R("c2@d.test") R("c3@d.test") R("bad@d.test")
	     "DATA\r\nx\r\n.\r\n" M("a@b.test") R("c3@d.test") "DATA\r\ny\r\n.\r\n"),
	  HL OKM OKR OKR "452 4.5.3 Too many recipients\r\n452 4.5.3 Too many recipients\r\n"
	  GO DLV("c1@d.test") DLV("c2@d.test") OKM OKR GO DLV("c3@d.test"),
	  TX("[a@b.test>c1@d.test,c2@d.test]x\r\n[a@b.test>c3@d.test]y\r\n") },
	{ "rcpt-check-refuses", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") R("bad@d.test") R("e@d.test")
	     "DATA\r\nx\r\n.\r\n"),
	  HL OKM OKR "550 5.1.1 <bad@d.test>: Recipient address rejected\r\n" OKR GO
	  DLV("c@d.test") DLV("e@d.test"),
	  TX("[a@b.test>c@d.test,e@d.test]x\r\n") },
	{ "rcpt-check-refusal-sanitised", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("crlf@d.test") R("junk@d.test") R("yes@d.test") "DATA\r\n"),
	  HL OKM "550 5.7.1 first\r\n550 5.1.1 Recipient address rejected\r\n"
	  "550 5.1.1 Recipient address rejected\r\n554 5.5.1 No valid recipients\r\n" },
	{ "rcpt-check-refusal-long", PROTO_LMTP, 0, 0, .build = build_long_refusal },
	{ "rcpt-duplicates-kept", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") R("c@d.test") "DATA\r\nx\r\n.\r\n"),
	  HL OKM OKR OKR GO DLV("c@d.test") DLV("c@d.test"),
	  TX("[a@b.test>c@d.test,c@d.test]x\r\n") },

	/* --- DATA */
	{ "data-before-mail", PROTO_LMTP, 0, 0,
	  IN(LHLO "DATA\r\n"),
	  HL NEEDMAIL },
	{ "data-no-recipients", PROTO_LMTP, 0, 0,
	  /* after 554 the "body" is read as commands, as in any SMTP server */
	  IN(LHLO M("a@b.test") R("bad@d.test") "DATA\r\nhello\r\n.\r\n"),
	  HL OKM "550 5.1.1 <bad@d.test>: Recipient address rejected\r\n"
	  "554 5.5.1 No valid recipients\r\n" UNREC UNREC },
	{ "data-with-argument", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA x\r\nDATA\r\n.\r\n"),
	  HL OKM OKR NOARGS GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test]") },
	{ "data-empty-message", PROTO_SMTP, 0, 0,
	  IN(EHLO M("a@b.test") R("c@d.test") "DATA\r\n.\r\nNOOP\r\n"),
	  HS OKM OKR GO OK OK,
	  TX("[a@b.test>c@d.test]") },
	{ "data-dot-unstuffing", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\n..\r\n...\r\n..x\r\n.x\r\n. \r\n"
	     "a.\r\n.\r\n"),
	  HL OKM OKR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test].\r\n..\r\n.x\r\nx\r\n \r\na.\r\n") },
	{ "data-not-final-dots", PROTO_LMTP, 0, 0,
	  /* " ." and ".." and ". " are not the end; "\r.\r\n" is data */
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\n .\r\n..\r\n. \r\nx\r.\r\n.\r\n"),
	  HL OKM OKR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test] .\r\n.\r\n \r\nx\r.\r\n") },
	{ "data-bare-lf", PROTO_LMTP, 0, 0,
	  /* a bare LF in the data: closed at once, no message */
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\na\nb\r\n\n\r\nc\n.\nNOOP\r\n"),
	  HL OKM OKR GO BARELF,
	  .rest = "b\r\n\n\r\nc\n.\nNOOP\r\n" },
	{ "data-bare-cr", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\na\rb\r\n\r\r\n\r\rx\r\n.\r\n"),
	  HL OKM OKR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test]a\rb\r\n\r\r\n\r\rx\r\n") },
	{ "data-dot-cr", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\n.\rx\r\n.\r\r\n.\r\r\rx\r\n.\r\n"),
	  HL OKM OKR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test]\rx\r\n\r\r\n\r\r\rx\r\n") },
	{ "data-final-dot-crcr", PROTO_LMTP, 0, 0,
	  /* ".\r\r\n" is a data line "\r", not the end */
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\nx\r\n.\r\r\n.\r\n"),
	  HL OKM OKR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test]x\r\n\r\r\n") },
	{ "data-nul-bytes", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\na\0" "b\r\n\0\r\n.\0\r\n.\r\n"),
	  HL OKM OKR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test]a\0" "b\r\n\0\r\n\0\r\n") },
	{ "data-8bit-headers", PROTO_SMTP, 0, 0,
	  IN(EHLO "MAIL FROM:<a@b.test> BODY=8BITMIME\r\n" R("c@d.test")
	     "DATA\r\nSubject: Ihr Code f\xc3\xbcr caf\xc3\xa9\r\nFrom: \xff\xfe\r\n\r\n"
	     "Code: 123456 \xe2\x82\xac\r\n.\r\n"),
	  HS OKM OKR GO OK,
	  TX("[a@b.test>c@d.test]Subject: Ihr Code f\xc3\xbcr caf\xc3\xa9\r\nFrom: \xff\xfe\r\n"
	     "\r\nCode: 123456 \xe2\x82\xac\r\n") },
	{ "data-looks-like-commands", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\nQUIT\r\nRSET\r\nDATA\r\n.\r\nQUIT\r\n"),
	  HL OKM OKR GO DLV("c@d.test") BYE,
	  TX("[a@b.test>c@d.test]QUIT\r\nRSET\r\nDATA\r\n"), "" },

	/* --- smuggling: only <CRLF>.<CRLF> ends DATA.  Every other end of
	 * data ends nothing: a bare LF closes the session (421) before the
	 * smuggled transaction is read; a bare CR is message text, so the
	 * smuggled transaction is part of the first message.  Never a
	 * second message, never the smuggled recipient. */
	{ "smuggle-lf-dot-lf", PROTO_LMTP, 0, 0,
	  IN(LHLO SMUG_HEAD "\n.\n" SMUG_TXN "QUIT\r\n"),
	  HL OKM OKR GO BARELF, .rest = ".\n" SMUG_TXN "QUIT\r\n" },
	{ "smuggle-cr-dot-cr", PROTO_LMTP, 0, 0,
	  IN(LHLO SMUG_HEAD "\r.\r" SMUG_TXN "QUIT\r\n"),
	  HL OKM OKR GO DLV("c@d.test") BYE,
	  TX(SMUG_FIRST "\r.\r" SMUG_TXN_DATA), "" },
	{ "smuggle-lf-dot-crlf", PROTO_LMTP, 0, 0,
	  IN(LHLO SMUG_HEAD "\n.\r\n" SMUG_TXN "QUIT\r\n"),
	  HL OKM OKR GO BARELF, .rest = ".\r\n" SMUG_TXN "QUIT\r\n" },
	{ "smuggle-crlf-dot-lf", PROTO_LMTP, 0, 0,
	  IN(LHLO SMUG_HEAD "\r\n.\n" SMUG_TXN "QUIT\r\n"),
	  HL OKM OKR GO BARELF, .rest = SMUG_TXN "QUIT\r\n" },
	{ "smuggle-crlf-dot-cr", PROTO_LMTP, 0, 0,
	  /* ".\rMAIL ..." is a data line: its dot is unstuffed */
	  IN(LHLO SMUG_HEAD "\r\n.\r" SMUG_TXN "QUIT\r\n"),
	  HL OKM OKR GO DLV("c@d.test") BYE,
	  TX(SMUG_FIRST "\r\n\r" SMUG_TXN_DATA), "" },
	{ "smuggle-cr-dot-crlf", PROTO_LMTP, 0, 0,
	  IN(LHLO SMUG_HEAD "\r.\r\n" SMUG_TXN "QUIT\r\n"),
	  HL OKM OKR GO DLV("c@d.test") BYE,
	  TX(SMUG_FIRST "\r.\r\n" SMUG_TXN_DATA), "" },
	{ "smuggle-smtp-lf-dot-lf", PROTO_SMTP, 0, 0,
	  IN(EHLO SMUG_HEAD "\n.\n" SMUG_TXN "QUIT\r\n"),
	  HS OKM OKR GO BARELF, .rest = ".\n" SMUG_TXN "QUIT\r\n" },
	{ "smuggle-smtp-cr-dot-cr", PROTO_SMTP, 0, 0,
	  IN(EHLO SMUG_HEAD "\r.\r" SMUG_TXN "QUIT\r\n"),
	  HS OKM OKR GO OK BYE,
	  TX(SMUG_FIRST "\r.\r" SMUG_TXN_DATA), "" },
	{ "smuggle-smtp-lf-dot-crlf", PROTO_SMTP, 0, 0,
	  IN(EHLO SMUG_HEAD "\n.\r\n" SMUG_TXN "QUIT\r\n"),
	  HS OKM OKR GO BARELF, .rest = ".\r\n" SMUG_TXN "QUIT\r\n" },
	{ "smuggle-smtp-crlf-dot-lf", PROTO_SMTP, 0, 0,
	  IN(EHLO SMUG_HEAD "\r\n.\n" SMUG_TXN "QUIT\r\n"),
	  HS OKM OKR GO BARELF, .rest = SMUG_TXN "QUIT\r\n" },
	{ "smuggle-smtp-crlf-dot-cr", PROTO_SMTP, 0, 0,
	  IN(EHLO SMUG_HEAD "\r\n.\r" SMUG_TXN "QUIT\r\n"),
	  HS OKM OKR GO OK BYE,
	  TX(SMUG_FIRST "\r\n\r" SMUG_TXN_DATA), "" },
	{ "smuggle-smtp-cr-dot-crlf", PROTO_SMTP, 0, 0,
	  IN(EHLO SMUG_HEAD "\r.\r\n" SMUG_TXN "QUIT\r\n"),
	  HS OKM OKR GO OK BYE,
	  TX(SMUG_FIRST "\r.\r\n" SMUG_TXN_DATA), "" },
	{ "smuggle-all-bare-lf", PROTO_LMTP, 0, 0,
	  /* the smuggled transaction in bare-LF lines too */
	  IN(LHLO SMUG_HEAD "\n.\nMAIL FROM:<spoof@evil.test>\nRCPT TO:<victim@d.test>\nDATA\n"
	     "Your code: 123456\n.\n\r\n.\r\n"),
	  HL OKM OKR GO BARELF,
	  .rest = ".\nMAIL FROM:<spoof@evil.test>\nRCPT TO:<victim@d.test>\nDATA\n"
	  "Your code: 123456\n.\n\r\n.\r\n" },
	{ "smuggle-at-data-start", PROTO_SMTP, 0, 0,
	  /* right after DATA: ".\n" is no end either */
	  IN(EHLO M("a@b.test") R("c@d.test") "DATA\r\n.\n" SMUG_TXN "QUIT\r\n"),
	  HS OKM OKR GO BARELF, .rest = SMUG_TXN "QUIT\r\n" },
	{ "smuggle-dot-cr-at-data-start", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\n.\r" SMUG_TXN "QUIT\r\n"),
	  HL OKM OKR GO DLV("c@d.test") BYE,
	  TX("[a@b.test>c@d.test]\r" SMUG_TXN_DATA), "" },
	{ "bare-lf-after-command", PROTO_LMTP, 0, 0,
	  /* RSET ended by a bare LF would drop the sender: closed instead */
	  IN(LHLO M("a@b.test") "RSET\n" M("spoof@evil.test") R("victim@d.test")
	     "DATA\r\nx\r\n.\r\n"),
	  HL OKM BARELF,
	  .rest = M("spoof@evil.test") R("victim@d.test") "DATA\r\nx\r\n.\r\n" },
	{ "bare-lf-empty-line", PROTO_LMTP, 0, 0,
	  IN(LHLO "\nNOOP\r\n"),
	  HL BARELF, .rest = "NOOP\r\n" },
	{ "bare-lf-commands-smtp", PROTO_SMTP, 0, 0,
	  IN(EHLO M("a@b.test") R("c@d.test") "DATA\nx\r\n.\r\n"),
	  HS OKM OKR BARELF, .rest = "x\r\n.\r\n" },
	{ "bare-cr-in-commands", PROTO_LMTP, 0, 0,
	  /* a bare CR is no line end: the line holds a control, 500 */
	  IN(LHLO "NOOP\rMAIL FROM:<spoof@evil.test>\r\n" M("a@b.test")
	     "RCPT TO:<c@d.test>\rRCPT TO:<victim@d.test>\r\n" R("c@d.test")
	     "DATA\rx\r\n" "DATA\r\nx\r\n.\r\n"),
	  HL BADCHAR OKM BADCHAR OKR BADCHAR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test]x\r\n") },
	{ "bare-cr-in-commands-smtp", PROTO_SMTP, 0, 0,
	  IN(EHLO M("a@b.test") "RCPT TO:<c@d.test>\rDATA\r\n" R("c@d.test") "DATA\r\n.\r\n"),
	  HS OKM BADCHAR OKR GO OK,
	  TX("[a@b.test>c@d.test]") },
	{ "cr-line-ends", PROTO_LMTP, 0, 0,
	  /* a session in CR-only lines is one line, until an LF */
	  IN("LHLO client.test\rMAIL FROM:<a@b.test>\rRCPT TO:<c@d.test>\rDATA\rx\r.\r\r\nNOOP\r\n"),
	  GL BADCHAR OK },
	{ "data-long-line", PROTO_LMTP, 200000, 0, .build = build_long_data_line },
	{ "data-exactly-max-size", PROTO_LMTP, 20, 0,
	  /* 20 bytes after unstuffing: "..abcdefghijklmno\r\n" is 18, "\r\n" 2 */
	  IN("LHLO client.test\r\n" M("a@b.test") R("c@d.test")
	     "DATA\r\n..abcdefghijklmno\r\n\r\n.\r\n"),
	  GL EXT("20") OKM OKR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test].abcdefghijklmno\r\n\r\n") },
	{ "data-one-over-max-size", PROTO_LMTP, 20, 0,
	  IN("LHLO client.test\r\n" M("a@b.test") R("c@d.test")
	     "DATA\r\n..abcdefghijklmnop\r\n\r\n.\r\nNOOP\r\n"),
	  GL EXT("20") OKM OKR GO TOOBIG OK,
	  TX("[a@b.test>c@d.test]TOO BIG") },
	{ "data-too-big-lmtp", PROTO_LMTP, 50, 0,
	  IN("LHLO client.test\r\n" M("a@b.test") R("c@d.test") R("bad@d.test") R("e@d.test")
	     "DATA\r\n0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n"
	     ".\r\n" M("a@b.test") R("c@d.test") "DATA\r\nsmall\r\n.\r\n"),
	  GL EXT("50") OKM OKR "550 5.1.1 <bad@d.test>: Recipient address rejected\r\n"
	  OKR GO TOOBIG TOOBIG OKM OKR GO DLV("c@d.test"),
	  TX("[a@b.test>c@d.test,e@d.test]TOO BIG[a@b.test>c@d.test]small\r\n") },
	{ "data-too-big-smtp", PROTO_SMTP, 50, 0,
	  IN(EHLO M("a@b.test") R("c@d.test") R("e@d.test")
	     "DATA\r\n0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n0123456789\r\n"
	     ".\r\nQUIT\r\n"),
	  GS EXT("50") OKM OKR OKR GO TOOBIG BYE,
	  TX("[a@b.test>c@d.test,e@d.test]TOO BIG"), "" },
	{ "data-too-big-long-line", PROTO_LMTP, 1000, 0, .build = build_too_big_line },
	{ "data-endless", PROTO_LMTP, 1000, 0, .build = build_endless_data },
	{ "data-half-closed", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\nabc\r\n.\r"),
	  HL OKM OKR GO },
	{ "data-replies-per-recipient", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") R("tmp@d.test") R("e@d.test") "DATA\r\nx\r\n.\r\n"),
	  HL OKM OKR OKR OKR GO DLV("c@d.test") "451 4.3.0 <tmp@d.test> Try again later\r\n"
	  DLV("e@d.test"),
	  TX("[a@b.test>c@d.test,tmp@d.test,e@d.test]x\r\n") },
	{ "data-replies-sanitised", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("odd@d.test") R("split@d.test") "DATA\r\nx\r\n.\r\nNOOP\r\n"
	     M("a@b.test") R("cont@d.test") R("inter@d.test") "DATA\r\ny\r\n.\r\n"),
	  HL OKM OKR OKR GO "451 4.3.0 Internal error\r\n250 2.0.0 stored\r\n" OK
	  OKM OKR OKR GO "451 4.3.0 Internal error\r\n451 4.3.0 Internal error\r\n",
	  TX("[a@b.test>odd@d.test,split@d.test]x\r\n[a@b.test>cont@d.test,inter@d.test]y\r\n") },
	{ "data-replies-null", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") R("e@d.test") "DATA\r\nx\r\n.\r\n"),
	  HL OKM OKR OKR GO "451 4.3.0 Internal error\r\n451 4.3.0 Internal error\r\n",
	  TX("[a@b.test>c@d.test,e@d.test]x\r\n"), NULL, ROW_NULL_REPLIES },
	{ "data-resets-transaction", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\nx\r\n.\r\n" R("c@d.test") "DATA\r\n"),
	  HL OKM OKR GO DLV("c@d.test") NEEDMAIL NEEDMAIL,
	  TX("[a@b.test>c@d.test]x\r\n") },

	/* --- pipelining */
	{ "pipelined-lmtp-two-messages", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") R("e@d.test") "DATA\r\none\r\n.\r\n"
	     "MAIL FROM:<>\r\n" R("f@d.test") "DATA\r\ntwo\r\n.\r\nQUIT\r\nNOOP\r\n"),
	  HL OKM OKR OKR GO DLV("c@d.test") DLV("e@d.test") OKM OKR GO DLV("f@d.test") BYE,
	  TX("[a@b.test>c@d.test,e@d.test]one\r\n[>f@d.test]two\r\n"), "NOOP\r\n" },
	{ "pipelined-errors-in-order", PROTO_SMTP, 0, 0,
	  IN(EHLO M("a@b.test") R("bad@d.test") R("c@d.test") "RCPT TO:<>\r\nNOOP\r\n"
	     "DATA\r\nx\r\n.\r\nRSET\r\n"),
	  HS OKM "550 5.1.1 <bad@d.test>: Recipient address rejected\r\n" OKR BADTO OK GO OK OK,
	  TX("[a@b.test>c@d.test]x\r\n") },
	{ "pipelined-many-transactions", PROTO_LMTP, 0, 0, .build = build_many_txns },
	{ "quit-stops-pipeline", PROTO_LMTP, 0, 0,
	  IN(LHLO "NOOP\r\nQUIT\r\nNOOP\r\n" M("a@b.test")),
	  HL OK BYE, .rest = "NOOP\r\n" M("a@b.test") },
	{ "quit-right-after-data", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "DATA\r\nx\r\n.\r\nQUIT\r\nLHLO again\r\n"),
	  HL OKM OKR GO DLV("c@d.test") BYE,
	  TX("[a@b.test>c@d.test]x\r\n"), "LHLO again\r\n" },
	{ "half-closed-command", PROTO_LMTP, 0, 0,
	  IN(LHLO "NOOP\r\nQUIT"),
	  HL OK },
	{ "half-closed-after-cr", PROTO_LMTP, 0, 0,
	  IN(LHLO "QUIT\r"),
	  HL },

	/* --- other commands */
	{ "rset", PROTO_LMTP, 0, 0,
	  IN(LHLO M("a@b.test") R("c@d.test") "RSET\r\n" R("c@d.test") "RSET x\r\n"
	     M("a@b.test") "rset \r\n" M("a@b.test")),
	  HL OKM OKR OK NEEDMAIL NOARGS OKM OK OKM },
	{ "rset-before-hello", PROTO_SMTP, 0, 0,
	  IN("RSET\r\nNOOP\r\n"),
	  GS OK OK },
	{ "noop-with-argument", PROTO_LMTP, 0, 0,
	  IN("NOOP\r\nNOOP anything at all\r\n"),
	  GL OK OK },
	{ "quit-with-argument", PROTO_LMTP, 0, 0,
	  IN("QUIT now\r\nQUIT\r\n"),
	  GL NOARGS BYE, .rest = "" },
	{ "vrfy", PROTO_LMTP, 0, 0,
	  IN("VRFY c@d.test\r\nVRFY\r\nvrfy postmaster\r\n"),
	  GL "252 2.5.0 Cannot VRFY user, but will accept message\r\n"
	  "501 5.5.4 Syntax: VRFY address\r\n"
	  "252 2.5.0 Cannot VRFY user, but will accept message\r\n" },
	{ "help", PROTO_LMTP, 0, 0,
	  IN("HELP\r\nHELP DATA\r\n"),
	  GL "214 2.0.0 Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n"
	  "214 2.0.0 Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n" },
	{ "help-smtp", PROTO_SMTP, 0, 0,
	  IN("HELP\r\n"),
	  GS "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP\r\n" },
	{ "not-implemented", PROTO_SMTP, 0, 0,
	  IN(EHLO "STARTTLS\r\nAUTH PLAIN AGFAYg==\r\nBDAT 10 LAST\r\nEXPN list\r\nETRN x\r\n"
	     "starttls\r\n"),
	  HS NOTIMPL NOTIMPL NOTIMPL NOTIMPL NOTIMPL NOTIMPL },
	{ "unknown-commands", PROTO_LMTP, 0, 0,
	  IN("FOO\r\nMAILX FROM:<a@b.test>\r\nMAI\r\n NOOP\r\nGET / HTTP/1.0\r\nSTLS\r\n"
	     "STARTTLSX\r\nSTARTTLS2\r\n"),
	  GL UNREC UNREC UNREC UNREC UNREC UNREC UNREC UNREC },
	{ "empty-lines", PROTO_LMTP, 0, 0,
	  IN("\r\n\r\n \r\nNOOP\r\n"),
	  GL "500 5.5.2 Empty command\r\n500 5.5.2 Empty command\r\n" UNREC OK },
	{ "nul-in-command", PROTO_LMTP, 0, 0,
	  IN(LHLO "NO\0OP\r\n" "MAIL FROM:<a@b.test>\0\r\n\0\r\nNOOP\r\n"),
	  HL BADCHAR BADCHAR BADCHAR OK },
	{ "controls-in-command", PROTO_LMTP, 0, 0,
	  IN("NOOP\tx\r\nNOOP\rx\r\nNOOP\x7f\r\nNOOP \x1b[1m\r\nNOOP\r\r\n"),
	  GL BADCHAR BADCHAR BADCHAR BADCHAR BADCHAR },
	{ "8bit-in-command", PROTO_LMTP, 0, 0,
	  IN("NOOP caf\xc3\xa9\r\n\xff\xfe\r\nLHLO h\xc3\xb6st\r\nQUIT \xe2\x82\xac\r\n"),
	  GL BADCHAR BADCHAR BADCHAR BADCHAR },
	{ "line-limit", PROTO_LMTP, 0, 0, .build = build_line_limit },
	{ "address-limit", PROTO_LMTP, 0, 0, .build = build_addr_limit },
	{ "too-many-errors", PROTO_LMTP, 0, 0, .build = build_too_many_errors },
	{ "refusals-are-not-errors", PROTO_LMTP, 0, 0, .build = build_refusals_not_errors },
	{ "too-many-errors-mixed", PROTO_SMTP, 0, 0,
	  /* every kind of protocol error counts: 20 of them, then 421 */
	  IN("\r\nFOO\r\nLHLO x\r\nEHLO\r\n" M("a@b.test") EHLO "MAIL FROM:a\r\n"
	     "MAIL FROM:<a@b.test> X=1\r\nMAIL FROM:<\xc3\xa4@b.test>\r\n" M("a@b.test") M("a@b.test")
	     "RCPT TO:<>\r\nDATA x\r\nAUTH x\r\nNO\0OP\r\nNOOP\xff\r\nQUIT x\r\nRSET x\r\n"
	     "VRFY\r\nRCPT\r\n" "MAIL\r\n" "HELO\r\n" "NOOP\r\nNOOP\r\n"),
	  GS "500 5.5.2 Empty command\r\n" UNREC "500 5.5.1 This is SMTP: use EHLO or HELO\r\n"
	  "501 5.5.4 Syntax: EHLO hostname\r\n503 5.5.1 Send EHLO first\r\n" EXT("10000")
	  BADFROM UNSUPP NOTUTF8 OKM "503 5.5.1 Sender already given\r\n" BADTO NOARGS NOTIMPL
	  BADCHAR BADCHAR NOARGS NOARGS "501 5.5.4 Syntax: VRFY address\r\n"
	  "501 5.5.4 Syntax: RCPT TO:<address>\r\n" "503 5.5.1 Sender already given\r\n"
	  "501 5.5.4 Syntax: HELO hostname\r\n" MANYERR,
	  .rest = "NOOP\r\nNOOP\r\n" },
};

/* ---- other tests -------------------------------------------------------- */

/* Bytes the process has allocated now (ASan's count, or malloc's). */
static gsize
allocated_bytes(void)
{
#ifdef TEST_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#endif
}

/* An endless DATA of 64 MB against max_size 1 MB keeps memory bounded
 * (not a power of two, so a doubling buffer would overshoot). */
static void
test_endless_data_memory(void)
{
	const struct proto_limits lim = { 1000 * 1000, 5 };
	struct proto *p = proto_new(PROTO_LMTP, HOST, &lim, NULL, NULL);
	GString *out = g_string_new(NULL);
	const char *head = LHLO M("a@b.test") R("c@d.test") "DATA\r\n";
	enum proto_event ev;
	char *chunk = g_malloc(64 * 1024);
	gsize base, peak = 0;

	for (gsize i = 0; i < 64 * 1024; i++)
		chunk[i] = i % 80 == 79 ? '\n' : i % 80 == 78 ? '\r' : (i % 7 == 0 ? '.' : 'q');
	g_assert_cmpuint(proto_feed(p, head, strlen(head), out, &ev), ==, strlen(head));
	g_assert_cmpint(ev, ==, PROTO_EV_NONE);
	base = allocated_bytes();
	for (int i = 0; i < 1024; i++) {
		gsize now;

		g_assert_cmpuint(proto_feed(p, chunk, 64 * 1024, out, &ev), ==, 64 * 1024);
		g_assert_cmpint(ev, ==, PROTO_EV_NONE);
		now = allocated_bytes();
		peak = MAX(peak, now > base ? now - base : 0);
	}
	g_test_message("peak growth %zu bytes", peak);
	/* the buffer is capped at max_size; a line's worth of slack */
	g_assert_cmpuint(peak, <=, lim.max_size + PROTO_LINE_MAX + 4096);
	g_assert_true(g_str_has_suffix(out->str, GO));
	/* once over, the data was dropped: memory is back near base */
	g_assert_cmpuint(allocated_bytes(), <=, base + 4096);
	g_assert_cmpuint(proto_feed(p, "\r\n.\r\n", 5, out, &ev), ==, 5);
	g_assert_cmpint(ev, ==, PROTO_EV_DATA);
	if (ev == PROTO_EV_DATA) {
		g_assert_true(proto_txn(p)->too_big);
		g_assert_null(proto_txn(p)->data);
		proto_data_done(p, NULL, out);
		g_assert_true(g_str_has_suffix(out->str, TOOBIG));
	}
	proto_free(&p);
	g_string_free(out, TRUE);
	g_free(chunk);
}

/* A command line that never ends keeps memory bounded and has no reply. */
static void
test_endless_line_memory(void)
{
	const struct proto_limits lim = { 1024 * 1024, 5 };
	struct proto *p = proto_new(PROTO_SMTP, HOST, &lim, NULL, NULL);
	GString *out = g_string_new(NULL);
	char chunk[4000];
	enum proto_event ev;
	gsize base, peak = 0;

	memset(chunk, 'A', sizeof(chunk));
	base = allocated_bytes();
	for (int i = 0; i < 10000; i++) {
		gsize now;

		g_assert_cmpuint(proto_feed(p, chunk, sizeof(chunk), out, &ev), ==, sizeof(chunk));
		g_assert_cmpint(ev, ==, PROTO_EV_NONE);
		now = allocated_bytes();
		peak = MAX(peak, now > base ? now - base : 0);
	}
	g_assert_cmpuint(peak, <=, 2 * PROTO_LINE_MAX);
	g_assert_cmpuint(out->len, ==, 0);
	g_assert_cmpuint(proto_feed(p, "\r\nNOOP\r\n", 8, out, &ev), ==, 8);
	g_assert_cmpstr(out->str, ==, TOOLONG OK);
	proto_free(&p);
	g_string_free(out, TRUE);
}

/* The txn fields, including helo, at the DATA event. */
static void
test_txn_fields(void)
{
	const struct proto_limits lim = { 100, 5 };
	struct proto *p = proto_new(PROTO_SMTP, HOST, &lim, NULL, NULL);
	GString *out = g_string_new(NULL);
	const char *in = "EHLO [192.0.2.7]\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "RCPT TO:<e@d.test>\r\nDATA\r\nbody\r\n.\r\nNOOP\r\n";
	const char *const ok[] = { "250 2.0.0 Queued as 1", NULL };
	const struct proto_txn *t;
	enum proto_event ev;
	gsize n;

	n = proto_feed(p, in, strlen(in), out, &ev);
	g_assert_cmpint(ev, ==, PROTO_EV_DATA);
	g_assert_cmpuint(n, ==, strlen(in) - strlen("NOOP\r\n"));
	if (ev != PROTO_EV_DATA) {
		proto_free(&p);
		g_string_free(out, TRUE);
		return;
	}
	t = proto_txn(p);
	g_assert_cmpstr(t->helo, ==, "[192.0.2.7]");
	g_assert_cmpstr(t->mail_from, ==, "a@b.test");
	g_assert_cmpuint(t->n_rcpts, ==, 2);
	g_assert_cmpstr(t->rcpts[0], ==, "c@d.test");
	g_assert_cmpstr(t->rcpts[1], ==, "e@d.test");
	g_assert_null(t->rcpts[2]);
	g_assert_cmpuint(t->len, ==, 6);
	g_assert_cmpmem(t->data, t->len, "body\r\n", 6);
	g_assert_false(t->too_big);
	g_string_truncate(out, 0);
	proto_data_done(p, ok, out);
	g_assert_cmpstr(out->str, ==, "250 2.0.0 Queued as 1\r\n");
	n = proto_feed(p, in + n, strlen(in + n), out, &ev);
	g_assert_cmpint(ev, ==, PROTO_EV_NONE);
	g_assert_cmpuint(n, ==, 6);
	g_assert_cmpstr(out->str, ==, "250 2.0.0 Queued as 1\r\n" OK);
	proto_free(&p);
	proto_free(&p);  /* NULL is fine */
	g_string_free(out, TRUE);
}

/* proto_close: 421 with our host, then nothing more, in every state. */
static void
test_close(void)
{
	static const struct {
		const char *before;      /* fed first */
		gboolean in_event;
	} cases[] = {
		{ "", FALSE },
		{ "LHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n", FALSE },
		{ "LHLO x\r\nNOO", FALSE },
		{ "LHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nhalf", FALSE },
		{ "LHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n.\r\n", TRUE },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		const struct proto_limits lim = { 1000, 5 };
		struct proto *p = proto_new(PROTO_LMTP, HOST, &lim, NULL, NULL);
		GString *out = g_string_new(NULL);
		enum proto_event ev;
		gsize before;

		proto_feed(p, cases[i].before, strlen(cases[i].before), out, &ev);
		g_assert_cmpint(ev, ==, cases[i].in_event ? PROTO_EV_DATA : PROTO_EV_NONE);
		before = out->len;
		proto_close(p, "4.4.2", "Timeout, closing", out);
		g_assert_cmpstr(out->str + before, ==, "421 4.4.2 mx.test Timeout, closing\r\n");
		/* a second close says nothing more */
		proto_close(p, "4.3.2", "Shutting down", out);
		g_assert_cmpstr(out->str + before, ==, "421 4.4.2 mx.test Timeout, closing\r\n");
		if (cases[i].in_event) {
			const char *const ok[] = { "250 2.0.0 <c@d.test> Ok", NULL };

			/* the jobs were still answered: no reply after the 421 */
			proto_data_done(p, ok, out);
			g_assert_cmpstr(out->str + before, ==,
			    "421 4.4.2 mx.test Timeout, closing\r\n");
		}
		g_assert_cmpuint(proto_feed(p, "NOOP\r\n", 6, out, &ev), ==, 0);
		g_assert_cmpint(ev, ==, PROTO_EV_CLOSE);
		g_assert_cmpstr(out->str + before, ==, "421 4.4.2 mx.test Timeout, closing\r\n");
		proto_free(&p);
		g_string_free(out, TRUE);
	}
}

/* proto_close cuts CR/LF out of its arguments; NULLs get defaults. */
static void
test_close_sanitised(void)
{
	const struct proto_limits lim = { 1000, 5 };
	struct proto *p = proto_new(PROTO_SMTP, "evil\r\nhost", &lim, NULL, NULL);
	struct proto *q = proto_new(PROTO_SMTP, HOST, &lim, NULL, NULL);
	GString *out = g_string_new(NULL);

	proto_greeting(p, out);
	proto_close(p, "4.3.2\r\n250 x", "Bye\r\n250 forged", out);
	g_assert_cmpstr(out->str, ==, "220 evil ESMTP otpbridge ready\r\n421 4.3.2 evil Bye\r\n");
	g_string_truncate(out, 0);
	proto_close(q, NULL, NULL, out);
	g_assert_cmpstr(out->str, ==, "421 4.3.2 mx.test Closing\r\n");
	proto_free(&p);
	proto_free(&q);
	g_string_free(out, TRUE);
}

/* proto_in_transaction: from an accepted MAIL to data_done. */
static void
test_in_transaction(void)
{
	static const struct {
		const char *in;
		gboolean want;
	} steps[] = {
		{ "LHLO x\r\n", FALSE },
		{ "MAIL FROM:<a b>\r\n", FALSE },
		{ "MAIL FROM:<a@b.test>\r\n", TRUE },
		{ "RCPT TO:<c@d.test>\r\n", TRUE },
		{ "RSET\r\n", FALSE },
		{ "MAIL FROM:<>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n", TRUE },
		{ "part of a line", TRUE },
		{ "\r\n.\r\n", TRUE },      /* the DATA event */
		{ NULL, FALSE },               /* data_done */
		{ "MAIL FROM:<a@b.test>\r\n", TRUE },
		{ "LHLO y\r\n", FALSE },
		{ "MAIL FROM:<a@b.test>\r\n", TRUE },
		{ "QUIT\r\n", FALSE },
	};
	const struct proto_limits lim = { 1000, 5 };
	struct proto *p = proto_new(PROTO_LMTP, HOST, &lim, NULL, NULL);
	GString *out = g_string_new(NULL);

	g_assert_false(proto_in_transaction(p));
	for (gsize i = 0; i < G_N_ELEMENTS(steps); i++) {
		enum proto_event ev;

		if (steps[i].in == NULL) {
			const char *const ok[] = { "250 2.0.0 Ok", NULL };

			proto_data_done(p, ok, out);
		} else {
			proto_feed(p, steps[i].in, strlen(steps[i].in), out, &ev);
		}
		if (proto_in_transaction(p) != steps[i].want)
			g_test_message("step %zu", i);
		g_assert_cmpint(proto_in_transaction(p), ==, steps[i].want);
	}
	proto_free(&p);
	g_string_free(out, TRUE);
}

/* Feeding nothing does nothing; feeding after QUIT consumes nothing. */
static void
test_feed_edges(void)
{
	const struct proto_limits lim = { 1000, 5 };
	struct proto *p = proto_new(PROTO_LMTP, HOST, &lim, NULL, NULL);
	GString *out = g_string_new(NULL);
	enum proto_event ev = PROTO_EV_DATA;

	g_assert_cmpuint(proto_feed(p, "", 0, out, &ev), ==, 0);
	g_assert_cmpint(ev, ==, PROTO_EV_NONE);
	g_assert_cmpuint(out->len, ==, 0);
	g_assert_cmpuint(proto_feed(p, "QUIT\r\nNOOP\r\n", 12, out, &ev), ==, 6);
	g_assert_cmpint(ev, ==, PROTO_EV_CLOSE);
	g_assert_cmpuint(proto_feed(p, "NOOP\r\n", 6, out, &ev), ==, 0);
	g_assert_cmpint(ev, ==, PROTO_EV_CLOSE);
	g_assert_cmpstr(out->str, ==, BYE);
	proto_free(&p);
	g_string_free(out, TRUE);
}

/* proto_close_reason: why proto closed by itself, NULL otherwise. */
static void
test_close_reason(void)
{
	static const struct {
		const char *in;
		const char *want;        /* NULL: no reason */
	} cases[] = {
		{ "LHLO x\r\nNOOP\n", "bare-lf" },
		{ "LHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\nx\n", "bare-lf" },
		{ "LHLO x\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n.\n", "bare-lf" },
		{ "FOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\n"
		  "FOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\nFOO\r\n",
		  "too-many-errors" },
		{ "LHLO x\r\nQUIT\r\n", NULL },
		{ "LHLO x\r\nNOOP\r\n", NULL },   /* still open */
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		const struct proto_limits lim = { 1000, 5 };
		struct proto *p = proto_new(PROTO_LMTP, HOST, &lim, NULL, NULL);
		GString *out = g_string_new(NULL);
		enum proto_event ev;
		gsize n = proto_feed(p, cases[i].in, strlen(cases[i].in), out, &ev);

		g_assert_cmpuint(n, ==, strlen(cases[i].in));
		g_assert_cmpstr(proto_close_reason(p), ==, cases[i].want);
		g_assert_false(proto_in_transaction(p) && cases[i].want != NULL);
		proto_free(&p);
		p = proto_new(PROTO_SMTP, HOST, &lim, NULL, NULL);
		proto_close(p, "4.3.2", "Shutting down", out);
		g_assert_null(proto_close_reason(p));
		proto_free(&p);
		g_string_free(out, TRUE);
	}
}

/* A hostname above 255 bytes is cut, so no reply outgrows 512 bytes. */
static void
test_long_hostname(void)
{
	const struct proto_limits lim = { 1000, 5 };
	char host[1000];
	struct proto *p;
	GString *out = g_string_new(NULL);
	enum proto_event ev;
	g_auto(GStrv) lines = NULL;

	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	p = proto_new(PROTO_LMTP, host, &lim, NULL, NULL);
	proto_greeting(p, out);
	proto_feed(p, "LHLO x\r\n", 8, out, &ev);
	proto_close(p, "4.3.2", "Shutting down", out);
	lines = g_strsplit(out->str, "\r\n", -1);
	for (int i = 0; lines[i] != NULL; i++)
		g_assert_cmpuint(strlen(lines[i]), <=, 510);
	g_assert_true(strstr(out->str, "250-hhhh") != NULL);
	proto_free(&p);
	g_string_free(out, TRUE);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	/* Every row reports its own failure; the table goes on. */
	g_test_set_nonfatal_assertions();

	TESTUTIL_ADD_ROWS("/proto/session", rows, test_row);
	g_test_add_func("/proto/endless-data-memory", test_endless_data_memory);
	g_test_add_func("/proto/endless-line-memory", test_endless_line_memory);
	g_test_add_func("/proto/txn-fields", test_txn_fields);
	g_test_add_func("/proto/close", test_close);
	g_test_add_func("/proto/close-sanitised", test_close_sanitised);
	g_test_add_func("/proto/feed-edges", test_feed_edges);
	g_test_add_func("/proto/in-transaction", test_in_transaction);
	g_test_add_func("/proto/long-hostname", test_long_hostname);
	g_test_add_func("/proto/close-reason", test_close_reason);
	return g_test_run();
}
