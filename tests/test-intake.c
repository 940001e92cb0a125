/*
 * test-intake.c - one table of cases through every source adapter of the
 * intake (intake.c): the LMTP and SMTP sink (lmtp.c, over a unix socket,
 * a client on its own thread), the IMAP adapter (daemon_imap_submit(),
 * what the daemon does with each message an IMAP thread fetched) and
 * deliver (mda_deliver(), stdin redirected), all in this process over a
 * real store and an in-test push endpoint (testhttp.c).
 *
 * Each case asserts, for every adapter, the same three things: the
 * outcome the source's client sees (the LMTP/SMTP reply, whether the IMAP
 * message was committed and its UID advanced, deliver's exit status), the
 * one decision log line (src=, result=, reason=) and the one count of
 * otpbridge_messages_total{source,result}; a queued job is pushed once, a
 * failed commit keeps nothing.  Faults come from outside: a second
 * connection holding the write lock for a while (the busy store), and a
 * trigger that makes every job insert fail (a commit that cannot succeed).
 *
 * Where the sources differ on purpose, the table says so: SMTP has one
 * reply for every recipient; deliver drops a mail that is too large
 * (exit 0: an MTA must not bounce it) where the sink rejects it (552);
 * so does IMAP, which has no client to refuse: the thread never fetches
 * the body of a message over max_size (imap.c knows it by its
 * RFC822.SIZE) and hands it over marked too big, its UID advanced with
 * the drop.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sqlite3.h>
#include <glib/gstdio.h>

#include "config.h"
#include "daemon.h"
#include "filter.h"
#include "intake.h"
#include "lmtp.h"
#include "mda.h"
#include "metrics.h"
#include "mime.h"
#include "push.h"
#include "queue.h"
#include "store.h"
#include "testhttp.h"
#include "testutil.h"

#define WATCHDOG_S 20
#define MAX_SIZE   4096
#define MAX_AGE    600
#define RCPT       "bot@example.com"
#define CODE       "482913"
#define HOLD_MS    300          /* the busy case: how long the lock is held */

enum adapter { AD_LMTP, AD_SMTP, AD_IMAP, AD_DELIVER, AD_N };
static const char *const ad_names[AD_N] = { "lmtp", "smtp", "imap", "deliver" };
static const char *const ad_source[AD_N] = { "lmtp", "smtp", "imap:work", "deliver" };

enum fault { F_NONE, F_BUSY, F_FAIL };

struct icase {
	const char *name;
	const char *from;             /* codes@acme.example: the filter's sender */
	gboolean not_mail;
	gboolean big;                 /* over max_size */
	gint64 age;                   /* seconds since the code was born */
	gboolean twice;               /* the case is the second submission */
	enum fault fault;
	enum intake_result result;
	const char *reason;
	gboolean deliver_drops;       /* deliver and IMAP (no client to
	                               * refuse): dropped, not rejected */
};

static const struct icase cases[] = {
	{ .name = "forwarded", .from = "codes@acme.example",
	  .result = INTAKE_QUEUED, .reason = "code" },
	{ .name = "duplicate", .from = "codes@acme.example", .twice = TRUE,
	  .result = INTAKE_DUPLICATE, .reason = "code" },
	{ .name = "no-filter", .from = "someone@other.example",
	  .result = INTAKE_DROPPED, .reason = "no-match" },
	{ .name = "too-large", .from = "codes@acme.example", .big = TRUE,
	  .result = INTAKE_REJECTED, .reason = "too-large", .deliver_drops = TRUE },
	{ .name = "not-mail", .not_mail = TRUE,
	  .result = INTAKE_NOT_MAIL, .reason = "not-mail" },
	{ .name = "expired", .from = "codes@acme.example", .age = MAX_AGE + 600,
	  .result = INTAKE_DROPPED, .reason = "expired" },
	{ .name = "busy-store", .from = "codes@acme.example", .fault = F_BUSY,
	  .result = INTAKE_QUEUED, .reason = "code" },
	{ .name = "failed-commit", .from = "codes@acme.example", .fault = F_FAIL,
	  .result = INTAKE_TEMPFAIL, .reason = "code" },
};

struct param {
	const struct icase *c;
	enum adapter ad;
};

/* ---- the log --------------------------------------------------------- */

/* The decision lines (msg=...) logged since the last reset. */
static char **
log_decisions(guint *n_r)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new();
	g_autofree char *text = testutil_log_text();
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

	for (guint i = 0; lines[i] != NULL; i++)
		if (g_str_has_prefix(lines[i], "msg="))
			g_ptr_array_add(out, g_strdup(lines[i]));
	*n_r = out->len;
	g_ptr_array_add(out, NULL);
	return (char **)g_ptr_array_free(g_steal_pointer(&out), FALSE);
}

/* ---- the fixture ------------------------------------------------------ */

struct fix {
	char *dir;
	char *db;
	struct config *cfg;
	struct filter_set *set;
	struct store *st;
	struct testhttp *srv;
	struct push_client *pc;
	struct queue *q;
	struct intake *in;
	struct lmtp *lmtp;
	struct imap_config ic;
};

static gboolean
watchdog_cb(gpointer data)
{
	g_error("watchdog: %s took over %d s", (const char *)data, WATCHDOG_S);
	return G_SOURCE_REMOVE;
}

static void
fix_init(struct fix *f, enum adapter ad)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *url = NULL;
	g_autofree char *conf = NULL;
	g_autofree char *text = NULL;
	g_autofree char *filters = NULL;
	struct queue_params qp = { "daemon:test", 2, 8, 0 };

	memset(f, 0, sizeof(*f));
	f->dir = testutil_tmpdir_new("test-intake");
	f->db = g_build_filename(f->dir, "otpbridge.db", NULL);
	filters = g_build_filename(f->dir, "filters.d", NULL);
	g_assert_cmpint(g_mkdir(filters, 0700), ==, 0);
	g_free(testutil_write_in(filters, "10-acme.conf", "[acme]\n"
	    "from = ^codes@acme\\.example$\n"
	    "code = (?<code>\\d{6})\n", -1, 0600));
	f->srv = testhttp_new(TESTHTTP_REPLY);
	url = testhttp_url(f->srv, "/v1/credentials/totp");
	text = g_strdup_printf("[push]\nurl = %s\ntimeout = 2\nmax_age = %d\n\n"
	    "[store]\npath = %s\n\n[filters]\ndir = %s\n\n"
	    "[lmtp]\nlisten = unix:%s/lmtp.sock\nmax_size = %d\n\n"
	    "[smtp]\nlisten = unix:%s/smtp.sock\nmax_size = %d\n",
	    url, MAX_AGE, f->db, filters, f->dir, MAX_SIZE, f->dir, MAX_SIZE);
	conf = testutil_write_in(f->dir, "otpbridge.conf", text, -1, 0600);
	g_assert_cmpint(config_load(conf, TRUE, &f->cfg, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(filter_set_load(f->cfg->filters_dir, TRUE, &f->set, &err), ==, 0);
	g_assert_cmpint(store_open(f->db, &f->st, &err), ==, 0);
	store_set_busy_timeout(f->st, STORE_LOOP_BUSY_MS);   /* as the daemon */
	f->pc = push_client_for(f->cfg, NULL);
	g_assert_nonnull(f->pc);
	f->q = queue_new(f->st, f->pc, &qp, NULL);
	f->in = intake_new(f->st, f->q, NULL, f->cfg, f->set);
	if (ad == AD_LMTP || ad == AD_SMTP) {
		struct lmtp_env env = { f->in, f->cfg };

		f->lmtp = lmtp_new(&env, &err);
		g_assert_no_error(err);
	}
	f->ic.name = (char *)"work";
	f->ic.mailbox = (char *)"INBOX";
	f->ic.max_size = MAX_SIZE;
	metrics_reset();
	testutil_log_clear();
}

static void
fix_clear(struct fix *f)
{
	lmtp_free(&f->lmtp);
	intake_free(&f->in);
	queue_stop(f->q);
	/* pushes in flight record their outcome first */
	while (queue_inflight(f->q) > 0)
		g_main_context_iteration(NULL, TRUE);
	queue_free(&f->q);
	push_client_free(&f->pc);
	store_close(&f->st);
	testhttp_free(&f->srv);
	filter_set_free(&f->set);
	config_free(&f->cfg);
	g_free(f->db);
	testutil_tmpdir_free(&f->dir);
}

/* ---- the message --------------------------------------------------------- */

static char *
message_for(const struct icase *c, enum adapter ad, guint round)
{
	GString *m = g_string_new(NULL);

	if (c->not_mail)
		return g_string_free(g_string_append(m, "hello world, no header here\r\n"),
		    FALSE);
	if (c->age > 0) {
		g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(
		    g_get_real_time() / G_USEC_PER_SEC - c->age);
		g_autofree char *d = g_date_time_format(t, "%a, %d %b %Y %H:%M:%S +0000");
		g_string_append_printf(m, "Received: from mx.acme.example by mx.example.com;"
		    " %s\r\n", d);
	}
	/* The duplicate case sends the very same mail twice; others differ. */
	g_string_append_printf(m, "From: <%s>\r\nTo: <" RCPT ">\r\n"
	    "Subject: Your sign-in code\r\n"
	    "Message-ID: <%s-%s-%u@acme.example>\r\n\r\n"
	    "Your code is " CODE ".\r\n", c->from, c->name, ad_names[ad],
	    c->twice ? 0 : round);
	if (c->big)
		while (m->len <= MAX_SIZE)
			g_string_append(m, "padding padding padding padding padding\r\n");
	return g_string_free(m, FALSE);
}

/* ---- the adapters ---------------------------------------------------------- */

/* What the source's client saw. */
struct seen {
	char *reply;                  /* LMTP/SMTP: the reply after the data */
	int exit;                     /* deliver */
	gboolean answered, committed; /* IMAP */
};

struct client {
	char *path;
	gboolean smtp;
	const char *msg;
	char *reply;
	gint done;
};

static char *
client_read(FILE *fp)
{
	char line[1024];

	/* The last line of a reply has a blank after its code. */
	while (fgets(line, sizeof line, fp) != NULL)
		if (strlen(line) >= 4 && line[3] != '-')
			return g_strchomp(g_strdup(line));
	return g_strdup("(connection closed)");
}

static void
client_say(FILE *fp, const char *cmd)
{
	g_free(client_read(fp));
	fputs(cmd, fp);
	fflush(fp);
}

/* One LMTP or SMTP transaction, blocking, on its own thread. */
static gpointer
client_thread(gpointer data)
{
	struct client *c = data;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	FILE *fp;

	g_assert_cmpint(fd, >=, 0);
	g_strlcpy(sa.sun_path, c->path, sizeof sa.sun_path);
	g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof sa), ==, 0);
	fp = fdopen(fd, "r+");
	client_say(fp, c->smtp ? "EHLO test\r\n" : "LHLO test\r\n");
	client_say(fp, "MAIL FROM:<codes@acme.example>\r\n");
	client_say(fp, "RCPT TO:<" RCPT ">\r\n");
	client_say(fp, "DATA\r\n");
	client_say(fp, c->msg);      /* reads 354, then sends the message */
	fputs("\r\n.\r\n", fp);
	fflush(fp);
	c->reply = client_read(fp);
	fputs("QUIT\r\n", fp);
	fflush(fp);
	g_free(client_read(fp));
	fclose(fp);
	g_atomic_int_set(&c->done, 1);
	g_main_context_wakeup(NULL);
	return NULL;
}

static void
imap_done_cb(const struct intake_done *d, gpointer data)
{
	struct seen *s = data;

	s->answered = TRUE;
	s->committed = d->committed;
}

/* Sends msg through adapter ad; returns when its client has its answer. */
static void
submit(struct fix *f, enum adapter ad, const char *msg, guint32 uid, gint64 age,
    struct seen *s)
{
	guint wd = g_timeout_add_seconds(WATCHDOG_S, watchdog_cb, (gpointer)"submit");

	memset(s, 0, sizeof(*s));
	switch (ad) {
	case AD_LMTP:
	case AD_SMTP: {
		struct client c = { 0 };
		GThread *t;

		c.path = g_strdup_printf("%s/%s.sock", f->dir, ad == AD_SMTP ? "smtp" : "lmtp");
		c.smtp = ad == AD_SMTP;
		c.msg = msg;
		t = g_thread_new("client", client_thread, &c);
		while (!g_atomic_int_get(&c.done))
			g_main_context_iteration(NULL, TRUE);
		g_thread_join(t);
		s->reply = c.reply;
		g_free(c.path);
		break;
	}
	case AD_IMAP: {
		struct imap_msg m = { "work", "INBOX", 7, uid, msg, strlen(msg),
			g_get_real_time() / G_USEC_PER_SEC - age, FALSE, 0 };

		/* As imap.c: over max_size by its size, the body not read. */
		if (m.len > f->ic.max_size) {
			m.too_big = TRUE;
			m.limit = f->ic.max_size;
			m.data = NULL;
			m.len = 0;
		}

		daemon_imap_submit(f->in, &f->ic, &m, imap_done_cb, s);
		while (!s->answered)
			g_main_context_iteration(NULL, TRUE);
		break;
	}
	case AD_DELIVER: {
		g_autofree char *p = testutil_write_in(f->dir, "stdin.eml", msg, -1, -1);
		int saved = dup(0), fd;

		fd = open(p, O_RDONLY);
		g_assert_cmpint(fd, >=, 0);
		g_assert_cmpint(dup2(fd, 0), ==, 0);
		close(fd);
		s->exit = mda_deliver(f->cfg, f->set, RCPT);
		g_assert_cmpint(dup2(saved, 0), ==, 0);
		close(saved);
		break;
	}
	case AD_N:
		g_assert_not_reached();
	}
	g_source_remove(wd);
}

/* ---- faults ------------------------------------------------------------- */

struct holder {
	const char *db;
	gint held;
};

/* Another process's write lock, held HOLD_MS. */
static gpointer
holder_thread(gpointer data)
{
	struct holder *h = data;
	sqlite3 *db = NULL;

	g_assert_cmpint(sqlite3_open(h->db, &db), ==, SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	g_assert_cmpint(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), ==, SQLITE_OK);
	g_atomic_int_set(&h->held, 1);
	g_usleep(HOLD_MS * 1000);
	g_assert_cmpint(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), ==, SQLITE_OK);
	sqlite3_close(db);
	return NULL;
}

static void
sql(const char *path, const char *stmt)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, stmt, NULL, NULL, &msg) != SQLITE_OK)
		g_error("%s: %s", stmt, msg);
	sqlite3_close(db);
}

static gint64
sql_count(const char *path, const char *query)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	gint64 n;

	g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_prepare_v2(db, query, -1, &st, NULL), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* ---- the checks ------------------------------------------------------------ */

static gboolean
pushed_once(struct testhttp *srv)
{
	return testhttp_nreqs(srv) >= 1;
}

static void
check_outcome(const struct icase *c, enum adapter ad, enum intake_result want,
    const struct seen *s, struct fix *f, guint32 uid)
{
	switch (ad) {
	case AD_LMTP: {
		const char *const lmtp_want[INTAKE_RESULTS] = {
			"^250 2\\.0\\.0 <" RCPT "> Ok: queued as [1-9][0-9]*$",
			"^250 2\\.0\\.0 <" RCPT "> Ok: duplicate, already queued$",
			"^250 2\\.0\\.0 <" RCPT "> Ok: not forwarded \\(",
			"^451 4\\.3\\.0 <" RCPT "> Temporary failure",
			"^552 ",
			"^250 2\\.0\\.0 <" RCPT "> Ok: not mail, dropped$",
		};
		g_autofree char *re = g_strconcat(lmtp_want[want],
		    want == INTAKE_DROPPED ? c->reason : "",
		    want == INTAKE_DROPPED ? "\\)$" : "", NULL);

		if (!g_regex_match_simple(re, s->reply, 0, 0))
			g_error("%s/lmtp: reply \"%s\", want /%s/", c->name, s->reply, re);
		break;
	}
	case AD_SMTP: {
		/* One reply for the message: accepted, temporary, or too large. */
		const char *code = want == INTAKE_TEMPFAIL ? "451 " :
		    want == INTAKE_REJECTED ? "552 " : "250 ";
		if (!g_str_has_prefix(s->reply, code))
			g_error("%s/smtp: reply \"%s\", want %s", c->name, s->reply, code);
		break;
	}
	case AD_IMAP: {
		g_autoptr(GError) err = NULL;
		guint32 uv = 0, last = 0;
		gboolean found = FALSE;

		g_assert_true(s->answered);
		g_assert_cmpint(s->committed, ==, want != INTAKE_TEMPFAIL);
		/* The UID moves with the commit, and only with it. */
		g_assert_cmpint(store_imap_get(f->st, "work", "INBOX", &uv, &last, &found,
		    &err), ==, 0);
		if (want == INTAKE_TEMPFAIL) {
			g_assert_true(!found || last < uid);
		} else {
			g_assert_true(found);
			g_assert_cmpuint(uv, ==, 7);
			g_assert_cmpuint(last, ==, uid);
		}
		break;
	}
	case AD_DELIVER:
		g_assert_cmpint(s->exit, ==, want == INTAKE_TEMPFAIL ? 75 : 0);
		break;
	case AD_N:
		g_assert_not_reached();
	}
}

static void
test_case(gconstpointer data)
{
	const struct param *p = data;
	const struct icase *c = p->c;
	enum adapter ad = p->ad;
	enum intake_result want = (ad == AD_DELIVER || ad == AD_IMAP) &&
	    c->deliver_drops ? INTAKE_DROPPED : c->result;
	const char *rname = intake_result_names[want];
	struct fix f;
	struct seen s;
	struct holder h = { 0 };
	GThread *ht = NULL;
	g_autofree char *msg = NULL;
	g_auto(GStrv) lines = NULL;
	g_autoptr(GString) metrics = g_string_new(NULL);
	g_autofree char *series = NULL;
	guint64 depth[JOB_STATES] = { 0 };
	guint n = 0;

	fix_init(&f, ad);
	if (c->twice) {
		msg = message_for(c, ad, 0);
		submit(&f, ad, msg, 1, c->age, &s);
		g_free(s.reply);
		g_free(msg);
		while (!pushed_once(f.srv))
			g_main_context_iteration(NULL, TRUE);
		metrics_reset();
		testutil_log_clear();
	}
	if (c->fault == F_BUSY) {
		h.db = f.db;
		ht = g_thread_new("holder", holder_thread, &h);
		while (!g_atomic_int_get(&h.held))
			g_usleep(1000);
	} else if (c->fault == F_FAIL) {
		sql(f.db, "CREATE TRIGGER test_fault BEFORE INSERT ON jobs BEGIN "
		    "SELECT RAISE(ABORT, 'injected fault'); END");
	}
	msg = message_for(c, ad, 1);
	submit(&f, ad, msg, 2, c->age, &s);
	if (ht != NULL)
		g_thread_join(ht);

	/* The outcome its client saw. */
	check_outcome(c, ad, want, &s, &f, 2);

	/* One decision line: its source, result and reason; never the code. */
	lines = log_decisions(&n);
	if (n != 1)
		g_error("%s/%s: %u decision lines, want 1:\n%s", c->name, ad_names[ad], n,
		    testutil_log_text());
	{
		g_autofree char *re = g_strdup_printf(" src=%s .*result=%s reason=%s( |$)",
		    ad_source[ad], rname, c->reason);
		if (!g_regex_match_simple(re, lines[0], 0, 0))
			g_error("%s/%s: logged \"%s\", want /%s/", c->name, ad_names[ad],
			    lines[0], re);
		if (c->big && strstr(lines[0], " limit=" G_STRINGIFY(MAX_SIZE)) == NULL)
			g_error("%s/%s: logged \"%s\", without the limit", c->name,
			    ad_names[ad], lines[0]);
	}
	g_assert_cmpuint(testutil_log_count(CODE), ==, 0);

	/* One count, under the same source and result. */
	metrics_render(metrics, depth, g_get_real_time() / G_USEC_PER_SEC);
	series = g_strdup_printf("otpbridge_messages_total{source=\"%s\",result=\"%s\"} 1\n",
	    ad_source[ad], rname);
	if (strstr(metrics->str, series) == NULL)
		g_error("%s/%s: no %s in\n%s", c->name, ad_names[ad], series, metrics->str);
	g_assert_cmpint(g_strstr_len(metrics->str, -1, "otpbridge_messages_total{") ==
	    g_strrstr(metrics->str, "otpbridge_messages_total{"), ==, TRUE);

	/* What was kept, and pushed. */
	if (want == INTAKE_QUEUED) {
		guint wd = g_timeout_add_seconds(WATCHDOG_S, watchdog_cb, (gpointer)"push");

		while (!pushed_once(f.srv))
			g_main_context_iteration(NULL, TRUE);
		g_source_remove(wd);
		g_assert_cmpuint(testhttp_nreqs(f.srv), ==, 1);
		g_assert_cmpint(sql_count(f.db, "SELECT count(*) FROM jobs"), ==, 1);
	} else {
		g_assert_cmpint(sql_count(f.db, "SELECT count(*) FROM jobs"), ==,
		    c->twice ? 1 : 0);
	}
	if (c->fault == F_FAIL)
		sql(f.db, "DROP TRIGGER test_fault");
	g_free(s.reply);
	fix_clear(&f);
}

int
main(int argc, char **argv)
{
	g_autoptr(GPtrArray) params = g_ptr_array_new_with_free_func(g_free);

	g_test_init(&argc, &argv, NULL);
	/* The intake logs a failed commit with g_warning: not fatal here. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	testutil_log_capture();
	testutil_no_proxy();
	g_setenv("OTPBRIDGE_API_KEY", "test-key", TRUE);   /* before any thread */
	mime_init();
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		for (int ad = 0; ad < AD_N; ad++) {
			struct param *p;
			g_autofree char *path = NULL;

			p = g_new0(struct param, 1);
			p->c = &cases[i];
			p->ad = (enum adapter)ad;
			g_ptr_array_add(params, p);
			path = g_strdup_printf("/intake/%s/%s", cases[i].name, ad_names[ad]);
			g_test_add_data_func(path, p, test_case);
		}
	}
	return g_test_run();
}
