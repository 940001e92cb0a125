/*
 * test-status.c - `otpbridge status` below the command line: the daemon's
 * GET /status body written and read back, the reader against hostile
 * bodies (whatever answers on the [http] address), the store read through
 * the read-only handle (nothing created, nothing changed, no body or code
 * read), and the report as text and JSON: no code, no control byte.
 */
#include "autoconfig.h"

#include <string.h>
#include <glib/gstdio.h>

#include "config.h"
#include "json.h"
#include "status.h"
#include "store.h"
#include "util.h"
#include "testutil.h"

#define T0 1700000000   /* a fixed "now" */
#define CODE_A "482913"
#define CODE_B "551920"

static void
live_add(struct status_live *l, const char *account, gboolean connected,
    gint64 last_sync, const char *error)
{
	struct status_imap_live *a = g_new0(struct status_imap_live, 1);

	a->account = g_strdup(account);
	a->connected = connected;
	a->last_sync = last_sync;
	a->last_error = g_strdup(error);
	g_ptr_array_add(l->imap, a);
}

/* What the daemon writes, the command reads back unchanged. */
static void
test_live_roundtrip(void)
{
	struct status_live l, back;
	g_autofree char *body = NULL;

	status_live_init(&l);
	l.version = g_strdup("0.1.0");
	l.pid = 4242;
	l.started = T0;
	l.store = g_strdup("/var/lib/otpbridge/otpbridge.db");
	l.push_auth_failing = TRUE;
	live_add(&l, "work", TRUE, T0 + 5, NULL);
	live_add(&l, "home \"x\"", FALSE, 0, "connect: Connection refused\n\x1b[31m");
	body = json_status_live(&l);
	status_live_init(&back);
	g_assert_cmpint(json_status_live_parse(body, strlen(body), &back), ==, 0);
	g_assert_cmpstr(back.version, ==, "0.1.0");
	g_assert_cmpint(back.pid, ==, 4242);
	g_assert_cmpint(back.started, ==, T0);
	g_assert_cmpstr(back.store, ==, l.store);
	g_assert_true(back.push_auth_failing);
	g_assert_cmpuint(back.imap->len, ==, 2);
	for (guint i = 0; i < 2; i++) {
		const struct status_imap_live *a = g_ptr_array_index(l.imap, i);
		const struct status_imap_live *b = g_ptr_array_index(back.imap, i);

		g_assert_cmpstr(b->account, ==, a->account);
		g_assert_cmpint(b->connected, ==, a->connected);
		g_assert_cmpint(b->last_sync, ==, a->last_sync);
		g_assert_cmpstr(b->last_error, ==, a->last_error);
	}
	status_live_clear(&l);
	status_live_clear(&back);
}

/* Bodies from whatever answers on the port: refused or read safely. */
static void
test_live_hostile(void)
{
	static const struct {
		const char *body;
		int rc;
		guint accounts;          /* when rc == 0 */
	} cases[] = {
		{ "", -1, 0 },
		{ "not json", -1, 0 },
		{ "[]", -1, 0 },
		{ "\"x\"", -1, 0 },
		{ "{", -1, 0 },
		{ "{}", 0, 0 },
		{ "{\"pid\":\"12\"}", -1, 0 },
		{ "{\"pid\":1.5}", -1, 0 },
		{ "{\"version\":7}", -1, 0 },
		{ "{\"push_auth_failing\":1}", -1, 0 },
		{ "{\"imap\":{}}", -1, 0 },
		{ "{\"imap\":[1]}", -1, 0 },
		{ "{\"imap\":[{\"account\":\"a\",\"connected\":\"yes\"}]}", -1, 0 },
		{ "{\"imap\":[{\"account\":\"a\",\"last_sync\":\"1\"}]}", -1, 0 },
		/* an entry without an account is skipped, not fatal */
		{ "{\"imap\":[{\"connected\":true},{\"account\":\"a\"}]}", 0, 1 },
		/* unknown members, nulls: ignored */
		{ "{\"x\":{\"y\":[1,2]},\"pid\":null,\"imap\":null}", 0, 0 },
		{ "{\"imap\":[{\"account\":\"a\",\"last_error\":null,\"z\":[]}]}", 0, 1 },
		/* nesting past JSON_STATUS_DEPTH_MAX */
		{ "{\"x\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}", -1, 0 },
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		struct status_live l;

		status_live_init(&l);
		g_test_message("case %u: %s", i, cases[i].body);
		g_assert_cmpint(json_status_live_parse(cases[i].body, strlen(cases[i].body),
		    &l), ==, cases[i].rc);
		if (cases[i].rc == 0)
			g_assert_cmpuint(l.imap->len, ==, cases[i].accounts);
		status_live_clear(&l);
	}
	{
		/* a NUL inside the body */
		static const char nul[] = "{\"version\":\"a\0b\"}";
		struct status_live l;

		status_live_init(&l);
		g_assert_cmpint(json_status_live_parse(nul, sizeof nul - 1, &l), ==, -1);
		status_live_clear(&l);
	}
}

/* The names of the files in dir, sorted, one string. */
static char *
dir_files(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	g_assert_nonnull(d);
	while ((n = g_dir_read_name(d)) != NULL)
		g_ptr_array_add(names, g_strdup(n));
	g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
	g_ptr_array_add(names, NULL);
	return g_strjoinv(" ", (char **)names->pdata);
}

/* Three jobs: bot@ delivered then a newer one retrying, other@ failed. */
static void
fill_store(const char *path)
{
	g_autoptr(GError) err = NULL;
	struct store *st = NULL;
	/* designated: struct job_in may grow */
	struct job_in j[3] = {
		{ .dedup_key = "<1@x>", .identifier = "bot@otp.example.com",
		  .source = "lmtp", .filter = "acme",
		  .body = "{\"content\":\"" CODE_A "\"}", .code = CODE_A,
		  .created = T0, .expires = T0 + 600 },
		{ .dedup_key = "<2@x>", .identifier = "other@otp.example.com",
		  .source = "imap:work", .filter = "acme",
		  .body = "{\"content\":\"" CODE_B "\"}", .code = CODE_B,
		  .created = T0 + 1, .expires = T0 + 601 },
		{ .dedup_key = "<3@x>", .identifier = "bot@otp.example.com",
		  .source = "smtp", .filter = "github",
		  .body = "{\"content\":\"" CODE_B "\"}", .code = CODE_B,
		  .created = T0 + 2, .expires = T0 + 602 },
	};
	g_assert_cmpint(store_open(path, &st, &err), ==, 0);
	g_assert_cmpint(store_commit_jobs(st, j, 3, &err), ==, 0);
	g_assert_cmpint(store_job_delivered(st, j[0].id, T0 + 10, 200,
	    "{\"code\":\"" CODE_A "\"}", NULL, &err), ==, 0);
	g_assert_cmpint(store_job_failed(st, j[1].id, T0 + 20, 400, CODE_B, &err), ==, 0);
	g_assert_cmpint(store_job_retry(st, j[2].id, T0 + 15, T0 + 30, 503, "", &err), ==, 0);
	g_assert_cmpint(store_imap_set(st, "work", "INBOX", 7, 42, &err), ==, 0);
	g_assert_no_error(err);
	store_close(&st);
}

static void
test_store_readonly(void)
{
	g_autoptr(GError) err = NULL;
	const char *dir = testutil_test_tmpdir("test-status");
	g_autofree char *path = g_build_filename(dir, "otpbridge.db", NULL);
	g_autofree char *missing = g_build_filename(dir, "sub", "none.db", NULL);
	g_autofree char *junk = g_build_filename(dir, "junk.db", NULL);
	g_autofree char *before = NULL;
	g_autofree char *after = NULL;
	g_autofree char *bytes_before = NULL;
	g_autofree char *bytes_after = NULL;
	g_autoptr(GArray) counts = g_array_new(FALSE, TRUE, sizeof(struct store_state_count));
	g_autoptr(GPtrArray) recent = g_ptr_array_new_with_free_func(store_outcome_free);
	struct store_outcome *last = NULL;
	struct store *st = NULL;
	guint64 ids = 0;
	guint32 uv = 0, uid = 0;
	gboolean found = FALSE;
	gsize n1 = 0, n2 = 0;

	/* missing: an error that says so, and nothing created */
	g_assert_cmpint(store_open_readonly(missing, 100, &st, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_IO);
	g_assert_nonnull(strstr(err->message, "does not exist"));
	g_assert_null(st);
	g_clear_error(&err);
	g_assert_false(g_file_test(missing, G_FILE_TEST_EXISTS));
	{
		g_autofree char *sub = g_path_get_dirname(missing);

		g_assert_false(g_file_test(sub, G_FILE_TEST_EXISTS));
	}
	/* not ours */
	testutil_write_file(junk, "not a database", -1, -1);
	g_assert_cmpint(store_open_readonly(junk, 100, &st, &err), ==, -1);
	g_assert_nonnull(err);
	g_clear_error(&err);

	fill_store(path);
	g_remove(junk);
	before = dir_files(dir);
	g_assert_true(g_file_get_contents(path, &bytes_before, &n1, NULL));
	g_assert_cmpint(store_open_readonly(path, 100, &st, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(store_ro_counts(st, counts, &err), ==, 0);
	g_assert_cmpuint(counts->len, ==, 3);
	for (guint i = 0; i < counts->len; i++) {
		const struct store_state_count *c =
		    &g_array_index(counts, struct store_state_count, i);

		g_assert_cmpuint(c->jobs, ==, 1);
		g_assert_cmpuint(c->retrying, ==, c->state == JOB_PENDING ? 1 : 0);
	}
	g_assert_cmpint(store_ro_last_attempt(st, &last, &err), ==, 0);
	g_assert_nonnull(last);
	g_assert_cmpint(last->state, ==, JOB_FAILED);
	g_assert_cmpint(last->last_status, ==, 400);
	g_assert_cmpstr(last->identifier, ==, "other@otp.example.com");
	g_assert_cmpint(store_ro_last_per_identifier(st, 10, recent, &ids, &err), ==, 0);
	g_assert_cmpuint(ids, ==, 2);
	g_assert_cmpuint(recent->len, ==, 2);
	/* newest first: bot@'s newest job is the retrying one */
	g_assert_cmpstr(((struct store_outcome *)recent->pdata[0])->identifier, ==,
	    "bot@otp.example.com");
	g_assert_cmpstr(((struct store_outcome *)recent->pdata[0])->filter, ==, "github");
	g_assert_cmpint(((struct store_outcome *)recent->pdata[0])->state, ==, JOB_PENDING);
	g_assert_cmpstr(((struct store_outcome *)recent->pdata[1])->source, ==, "imap:work");
	g_ptr_array_set_size(recent, 0);
	g_assert_cmpint(store_ro_last_per_identifier(st, 1, recent, &ids, &err), ==, 0);
	g_assert_cmpuint(recent->len, ==, 1);
	g_assert_cmpuint(ids, ==, 2);
	g_assert_cmpint(store_ro_imap(st, "work", "INBOX", &uv, &uid, &found, &err), ==, 0);
	g_assert_true(found);
	g_assert_cmpuint(uv, ==, 7);
	g_assert_cmpuint(uid, ==, 42);
	g_assert_cmpint(store_ro_imap(st, "work", "Other", &uv, &uid, &found, &err), ==, 0);
	g_assert_false(found);
	g_assert_no_error(err);
	store_close(&st);
	store_outcome_free(last);
	/* nothing created beside the store, nothing changed in it */
	after = dir_files(dir);
	g_assert_cmpstr(after, ==, before);
	g_assert_true(g_file_get_contents(path, &bytes_after, &n2, NULL));
	g_assert_cmpuint(n1, ==, n2);
	g_assert_true(memcmp(bytes_before, bytes_after, n1) == 0);
}

/* The report, from a real store and a daemon whose strings are hostile:
 * no code, no control byte, in text or JSON. */
static void
test_report(void)
{
	g_autoptr(GError) err = NULL;
	const char *dir = testutil_test_tmpdir("test-status");
	g_autofree char *conf = g_build_filename(dir, "otpbridge.conf", NULL);
	g_autofree char *text = NULL;
	g_autofree char *json = NULL;
	g_autofree char *cs = NULL;
	struct config *cfg = NULL;
	struct status_report r;
	g_autofree char *pass = g_build_filename(dir, "pass", NULL);

	/* a secret file readable by others may be refused: 0600 */
	testutil_write_file(pass, "secret\n", -1, 0600);
	cs = g_strdup_printf("[push]\nurl = https://user:pw@api.example.com:8443/v1/totp?k=s\n"
	    "[store]\npath = %s/otpbridge.db\n[lmtp]\nlisten = inet:127.0.0.1:2424\n"
	    "[imap:work]\nhost = imap.example.com\nuser = bot\npassword_file = %s\n",
	    dir, pass);
	testutil_write_file(conf, cs, -1, -1);
	g_assert_cmpint(config_load(conf, TRUE, &cfg, &err), ==, 0);
	g_assert_no_error(err);
	fill_store(cfg->store.path);

	status_collect(cfg, T0 + 60, &r);
	g_assert_true(r.store_ok);
	g_assert_null(r.daemon_at);    /* no [http] listen: not asked */
	g_assert_cmpstr(r.push_host, ==, "api.example.com:8443");
	/* as if the daemon had answered */
	r.daemon_at = g_strdup("inet:127.0.0.1:8465");
	r.live_ok = TRUE;
	r.health_status = 503;
	r.health = g_strdup("imap:work has not synced\x1b]0;pwned\x07");
	live_add(&r.live, "work", FALSE, T0 + 30, "NO [AUTH] \x1b[2Jlogin failed\r\nX");

	text = status_text(&r);
	json = json_status_report(&r);
	g_test_message("%s", text);
	for (const char *p = text; *p != '\0'; p++)
		g_assert_true(*p == '\n' || (guchar)*p >= 0x20);
	g_assert_null(strstr(text, CODE_A));
	g_assert_null(strstr(text, CODE_B));
	g_assert_null(strstr(json, CODE_A));
	g_assert_null(strstr(json, CODE_B));
	/* the URL's user part, path and query are not shown */
	g_assert_null(strstr(text, "pw@"));
	g_assert_null(strstr(json, "k=s"));
	g_assert_nonnull(strstr(text, "push:       api.example.com:8443 (dry run"));
	g_assert_nonnull(strstr(text, "queue:      1 pending, 1 delivered, 1 failed, "
	    "0 expired, 0 superseded (1 pending retrying)"));
	g_assert_nonnull(strstr(text, "last result: failed (HTTP 400), 40s ago"));
	g_assert_nonnull(strstr(text, "work             INBOX: NOT connected, last sync "
	    "30s ago, last error: NO [AUTH] ?[2Jlogin failed??X; stored uid 42 "
	    "(uidvalidity 7)"));
	g_assert_nonnull(strstr(text, "pending, retrying (HTTP 503)"));
	g_assert_nonnull(strstr(text, "NOT healthy (/healthz 503)\n"
	    "            imap:work has not synced?]0;pwned?\n"));
	g_assert_nonnull(strstr(json, "\"queue\":{\"pending\":1,\"delivered\":1,"
	    "\"failed\":1,\"expired\":0,\"superseded\":0,\"retrying\":1}"));
	g_assert_nonnull(strstr(json, "\"last_sync_age\":30"));
	status_report_clear(&r);
	config_free(&cfg);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/status/live-roundtrip", test_live_roundtrip);
	g_test_add_func("/status/live-hostile", test_live_hostile);
	g_test_add_func("/status/store-readonly", test_store_readonly);
	g_test_add_func("/status/report", test_report);
	return g_test_run();
}
