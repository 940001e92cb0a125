#include "autoconfig.h"
/*
 * test-imap.c - the IMAP source against a real, private Dovecot
 * (tests/imap-dovecot.sh) on loopback: first start, \Seen after commit,
 * IDLE, a FALSE verdict, restart with state, UIDVALIDITY change, move,
 * wrong password, untrusted certificate, STARTTLS.  Every wait is bounded.
 * Skips when dovecot or doveadm is missing or we are not root.
 */
#include <string.h>
#include <unistd.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <gio/gio.h>

#include "imap.h"
#include "testutil.h"

static char *imap_t_dir;
static char *imap_t_conf;
static char *imap_t_script;
static guint imap_t_imaps, imap_t_imap;

struct imap_t_got {
	guint32 uid, uidvalidity;
	char *data;
	gsize len;
	gint64 idate;
};

static GPtrArray *imap_t_msgs;          /* struct imap_t_got * */
static gboolean imap_t_verdict = TRUE;
static gboolean imap_t_hold;             /* keep the message, answer later */
static const struct imap_msg *imap_t_held;

static gboolean imap_t_log_count(const char *what, guint n, int secs, guint *count);

static void
imap_t_got_free(gpointer p)
{
	struct imap_t_got *g = p;

	g_free(g->data);
	g_free(g);
}

static void
imap_t_cb(struct imap_account *a, const struct imap_msg *m, gpointer data)
{
	struct imap_t_got *g = g_new0(struct imap_t_got, 1);

	g_assert_cmpstr(m->account, ==, "t");
	g->uid = m->uid;
	g->uidvalidity = m->uidvalidity;
	g->data = g_strndup(m->data, m->len);
	g->len = m->len;
	g->idate = m->internal_date;
	g_ptr_array_add(imap_t_msgs, g);
	if (imap_t_hold)
		imap_t_held = m;
	else
		imap_msg_done(a, m, imap_t_verdict);
}

/* Runs the main loop until at least n messages arrived or secs pass. */
static gboolean
imap_t_wait_msgs(guint n, int secs)
{
	gint64 end = g_get_monotonic_time() + (gint64)secs * G_USEC_PER_SEC;

	while (imap_t_msgs->len < n && g_get_monotonic_time() < end) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(20000);
	}
	return imap_t_msgs->len >= n;
}

/* Runs the main loop for secs. */
static void
imap_t_spin(int secs)
{
	gint64 end = g_get_monotonic_time() + (gint64)secs * G_USEC_PER_SEC;

	while (g_get_monotonic_time() < end) {
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(20000);
	}
}

/* Waits (main loop running) until the account has synced once. */
static gboolean
imap_t_wait_sync(struct imap_account *a, int secs)
{
	gint64 end = g_get_monotonic_time() + (gint64)secs * G_USEC_PER_SEC;

	for (;;) {
		struct imap_status st;

		imap_account_status(a, &st);
		g_free(st.last_error);
		if (st.last_sync != 0 && st.connected)
			return TRUE;
		if (g_get_monotonic_time() >= end)
			return FALSE;
		while (g_main_context_iteration(NULL, FALSE))
			;
		g_usleep(20000);
	}
}

static char *
imap_t_sh(const char *cmd)
{
	char *out = NULL, *err = NULL;
	int status = 0;
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };

	g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT,
	    NULL, NULL, &out, &err, &status, NULL));
	if (!g_spawn_check_wait_status(status, NULL))
		g_error("'%s' failed: %s", cmd, err);
	g_free(err);
	return out;
}

/* doveadm mailbox create. */
static void
imap_t_mkbox(const char *names)
{
	char *cmd = g_strdup_printf("doveadm -c %s mailbox create -u bot %s",
	    imap_t_conf, names);

	g_free(imap_t_sh(cmd));
	g_free(cmd);
}

/* Saves a message with this subject into mailbox (doveadm save). */
static char *
imap_t_save(const char *mailbox, const char *subject)
{
	char *body = g_strdup_printf("From: sender@example.com\r\nTo: bot@example.com\r\n"
	    "Subject: %s\r\nMessage-ID: <%s@test>\r\n\r\nYour code is 123456.\r\n",
	    subject, subject);
	char *path = g_build_filename(imap_t_dir, "msg.eml", NULL);
	char *cmd;

	testutil_write_file(path, body, -1, -1);
	cmd = g_strdup_printf("doveadm -c %s save -u bot -m '%s' < %s",
	    imap_t_conf, mailbox, path);
	g_free(imap_t_sh(cmd));
	g_free(cmd);
	g_free(path);
	return body;
}

/* "uid flags" of the message with this subject in mailbox, or "" if none. */
static char *
imap_t_flags(const char *mailbox, const char *subject)
{
	char *cmd = g_strdup_printf("doveadm -c %s -f flow fetch -u bot 'uid flags' "
	    "mailbox '%s' header subject '%s'", imap_t_conf, mailbox, subject);
	char *out = imap_t_sh(cmd);

	g_free(cmd);
	return g_strstrip(out);
}

static void
imap_t_config(struct imap_config *ic, const char *mailbox, const char *pwfile)
{
	memset(ic, 0, sizeof(*ic));
	ic->name = (char *)"t";
	ic->host = (char *)"127.0.0.1";
	ic->port = imap_t_imaps;
	ic->tls = IMAP_TLS_IMPLICIT;
	ic->ca_file = g_build_filename(imap_t_dir, "ca.pem", NULL);
	ic->user = (char *)"bot";
	ic->password_file = g_build_filename(imap_t_dir, pwfile, NULL);
	ic->auth = IMAP_AUTH_LOGIN;
	ic->mailbox = (char *)mailbox;
	ic->idle = TRUE;
	ic->idle_refresh = 1200;
	ic->poll_interval = 60;
	ic->timeout = 10;
	ic->after = IMAP_AFTER_SEEN;
	ic->max_size = 1024 * 1024;
}

static void
imap_t_config_clear(struct imap_config *ic)
{
	g_free(ic->ca_file);
	g_free(ic->password_file);
}

static void
imap_t_reset(void)
{
	g_ptr_array_set_size(imap_t_msgs, 0);
	imap_t_verdict = TRUE;
	imap_t_hold = FALSE;
	imap_t_held = NULL;
}

/* First start, \Seen after commit, IDLE delivery, restart with state. */
static void
test_first_start_seen_idle_restart(void)
{
	struct imap_config ic;
	struct imap_start st = { FALSE, 0, 0, 600 };
	struct imap_account *a;
	struct imap_t_got *g;
	char *body, *body2, *fl;
	guint32 uv, uid2;

	imap_t_reset();
	body = imap_t_save("INBOX", "first");
	imap_t_config(&ic, "INBOX", "pw");
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	g_assert_cmpstr(imap_account_name(a), ==, "t");
	g_assert_true(imap_t_wait_msgs(1, 20));
	g = imap_t_msgs->pdata[0];
	g_assert_cmpuint(g->uid, ==, 1);
	g_assert_cmpuint(g->len, ==, strlen(body));
	g_assert_cmpmem(g->data, g->len, body, strlen(body));
	g_assert_cmpint(g->idate, >, g_get_real_time() / G_USEC_PER_SEC - 600);
	uv = g->uidvalidity;
	g_assert_cmpuint(uv, !=, 0);
	g_assert_true(imap_t_wait_sync(a, 20));
	fl = imap_t_flags("INBOX", "first");
	g_assert_nonnull(strstr(fl, "\\Seen"));
	g_free(fl);

	/* Arrives through IDLE: poll_interval is 60 s, we wait at most 15. */
	imap_t_spin(1);
	body2 = imap_t_save("INBOX", "second");
	g_assert_true(imap_t_wait_msgs(2, 15));
	g = imap_t_msgs->pdata[1];
	g_assert_cmpuint(g->uid, ==, 2);
	g_assert_cmpmem(g->data, g->len, body2, strlen(body2));
	uid2 = g->uid;
	imap_account_stop(&a);
	g_assert_null(a);

	/* Restart with the state: nothing old again, a new one is fetched. */
	imap_t_reset();
	st.have_state = TRUE;
	st.uidvalidity = uv;
	st.last_uid = uid2;
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	g_assert_true(imap_t_wait_sync(a, 20));
	imap_t_spin(1);
	g_assert_cmpuint(imap_t_msgs->len, ==, 0);
	g_free(body2);
	body2 = imap_t_save("INBOX", "third");
	g_assert_true(imap_t_wait_msgs(1, 15));
	g = imap_t_msgs->pdata[0];
	g_assert_cmpuint(g->uid, ==, 3);
	imap_account_stop(&a);

	/* A different UIDVALIDITY: resync as a first start. */
	imap_t_reset();
	st.uidvalidity = uv + 1;
	st.last_uid = 1000;
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	g_assert_true(imap_t_wait_msgs(3, 20));
	imap_account_stop(&a);

	imap_t_config_clear(&ic);
	g_free(body);
	g_free(body2);
}

/* committed = FALSE: not marked, fetched again at the next sync. */
static void
test_not_committed(void)
{
	struct imap_config ic;
	struct imap_start st = { FALSE, 0, 0, 600 };
	struct imap_account *a;
	char *body, *fl;

	imap_t_reset();
	imap_t_mkbox("T2");
	body = imap_t_save("T2", "retry");
	imap_t_config(&ic, "T2", "pw");
	ic.poll_interval = 2;
	imap_t_verdict = FALSE;
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	g_assert_true(imap_t_wait_msgs(1, 20));
	fl = imap_t_flags("T2", "retry");
	g_assert_null(strstr(fl, "\\Seen"));
	g_free(fl);
	imap_t_verdict = TRUE;
	g_assert_true(imap_t_wait_msgs(2, 20));
	g_assert_cmpuint(((struct imap_t_got *)imap_t_msgs->pdata[1])->uid, ==,
	    ((struct imap_t_got *)imap_t_msgs->pdata[0])->uid);
	imap_t_spin(1);
	fl = imap_t_flags("T2", "retry");
	g_assert_nonnull(strstr(fl, "\\Seen"));
	g_free(fl);
	imap_account_stop(&a);
	imap_t_config_clear(&ic);
	g_free(body);
}

/* after = move:Processed over STARTTLS on the plain port to "localhost",
 * AUTH PLAIN. */
static void
test_move_starttls(void)
{
	struct imap_config ic;
	struct imap_start st = { FALSE, 0, 0, 600 };
	struct imap_account *a;
	char *body, *fl;

	imap_t_reset();
	imap_t_mkbox("T3 Processed");
	body = imap_t_save("T3", "moveme");
	imap_t_config(&ic, "T3", "pw");
	ic.tls = IMAP_TLS_STARTTLS;
	ic.host = (char *)"localhost";      /* DNS:localhost in the certificate */
	ic.port = imap_t_imap;
	ic.after = IMAP_AFTER_MOVE;
	ic.after_folder = (char *)"Processed";
	ic.auth = IMAP_AUTH_PLAIN;
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	g_assert_true(imap_t_wait_msgs(1, 20));
	g_assert_true(imap_t_wait_sync(a, 20));
	fl = imap_t_flags("T3", "moveme");
	g_assert_cmpstr(fl, ==, "");
	g_free(fl);
	fl = imap_t_flags("Processed", "moveme");
	g_assert_cmpstr(fl, !=, "");
	g_free(fl);
	imap_account_stop(&a);
	imap_t_config_clear(&ic);
	g_free(body);
}

/* Stop while the verdict is outstanding; the late answer is harmless and
 * the message stays unmarked. */
static void
test_stop_while_pending(void)
{
	struct imap_config ic;
	struct imap_start st = { FALSE, 0, 0, 600 };
	struct imap_account *a, *old;
	char *body, *fl;

	imap_t_reset();
	imap_t_mkbox("T5");
	body = imap_t_save("T5", "held");
	imap_t_config(&ic, "T5", "pw");
	imap_t_hold = TRUE;
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	g_assert_true(imap_t_wait_msgs(1, 20));
	g_assert_nonnull(imap_t_held);
	imap_t_spin(1);
	old = a;
	imap_account_stop(&a);
	imap_msg_done(old, imap_t_held, TRUE);
	imap_t_held = NULL;
	fl = imap_t_flags("T5", "held");
	g_assert_cmpstr(fl, !=, "");
	g_assert_null(strstr(fl, "\\Seen"));
	g_free(fl);
	imap_t_config_clear(&ic);
	g_free(body);
}

/* The server drops the connection: one reconnect, then mail flows. */
static void
test_reconnect(void)
{
	struct imap_config ic;
	struct imap_start st = { FALSE, 0, 0, 600 };
	struct imap_account *a;
	char *body, *cmd;
	guint logins = 0, kicks = 0;

	imap_t_reset();
	imap_t_mkbox("T7");
	imap_t_config(&ic, "T7", "pw");
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	g_assert_true(imap_t_wait_sync(a, 20));
	imap_t_spin(1);
	imap_t_log_count("login: user=<bot>", 0, 0, &logins);
	imap_t_log_count("killed with signal", 0, 0, &kicks);
	cmd = g_strdup_printf("doveadm -c %s kick bot", imap_t_conf);
	g_free(imap_t_sh(cmd));
	g_free(cmd);
	g_assert_true(imap_t_log_count("killed with signal", kicks + 1, 10, NULL));
	g_assert_true(imap_t_log_count("login: user=<bot>", logins + 1, 20, NULL));
	g_assert_true(imap_t_wait_sync(a, 20));
	body = imap_t_save("T7", "after-kick");
	g_assert_true(imap_t_wait_msgs(1, 20));
	g_assert_cmpmem(((struct imap_t_got *)imap_t_msgs->pdata[0])->data,
	    ((struct imap_t_got *)imap_t_msgs->pdata[0])->len, body, strlen(body));
	imap_account_stop(&a);
	imap_t_config_clear(&ic);
	g_free(body);
}

/* No IDLE: polling every poll_interval; the password from a command. */
static void
test_poll_password_command(void)
{
	struct imap_config ic;
	struct imap_start st = { FALSE, 0, 0, 600 };
	struct imap_account *a;
	char *body;

	imap_t_reset();
	imap_t_mkbox("T6");
	imap_t_config(&ic, "T6", "pw");
	ic.idle = FALSE;
	ic.poll_interval = 1;
	ic.password_command = g_strdup_printf("echo secret; echo second-line");
	g_free(ic.password_file);
	ic.password_file = NULL;
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	g_assert_true(imap_t_wait_sync(a, 20));
	g_assert_cmpuint(imap_t_msgs->len, ==, 0);
	body = imap_t_save("T6", "polled");
	g_assert_true(imap_t_wait_msgs(1, 15));
	g_assert_cmpmem(((struct imap_t_got *)imap_t_msgs->pdata[0])->data,
	    ((struct imap_t_got *)imap_t_msgs->pdata[0])->len, body, strlen(body));
	imap_account_stop(&a);
	g_free(ic.password_command);
	imap_t_config_clear(&ic);
	g_free(body);
}

/* Waits until the account reports an error; returns it (g_malloc'd). */
static char *
imap_t_wait_error(struct imap_account *a, int secs)
{
	gint64 end = g_get_monotonic_time() + (gint64)secs * G_USEC_PER_SEC;

	for (;;) {
		struct imap_status st;

		imap_account_status(a, &st);
		if (st.last_error != NULL) {
			g_assert_false(st.connected);
			g_assert_cmpint(st.last_sync, ==, 0);
			return st.last_error;
		}
		if (g_get_monotonic_time() >= end)
			return NULL;
		imap_t_spin(0);
		g_usleep(50000);
	}
}

/* Waits until Dovecot's log has n lines containing what (lower case);
 * n == 0: returns the current count in *count without waiting. */
static gboolean
imap_t_log_count(const char *what, guint n, int secs, guint *count)
{
	gint64 end = g_get_monotonic_time() + (gint64)secs * G_USEC_PER_SEC;
	char *path = g_build_filename(imap_t_dir, "dovecot.log", NULL);
	gboolean ok = FALSE;

	for (;;) {
		char *log = NULL, **lines;
		guint i, c = 0;

		if (g_file_get_contents(path, &log, NULL, NULL)) {
			lines = g_strsplit(log, "\n", -1);
			for (i = 0; lines[i] != NULL; i++) {
				char *l = g_ascii_strdown(lines[i], -1);

				if (strstr(l, what) != NULL)
					c++;
				g_free(l);
			}
			g_strfreev(lines);
			g_free(log);
		}
		if (count != NULL)
			*count = c;
		ok = c >= n;
		if (ok || g_get_monotonic_time() >= end)
			break;
		imap_t_spin(1);
	}
	g_free(path);
	return ok;
}

static void
test_wrong_password(void)
{
	struct imap_config ic;
	struct imap_start st = { FALSE, 0, 0, 600 };
	struct imap_account *a;
	char *err;

	imap_t_reset();
	imap_t_config(&ic, "INBOX", "badpw");
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	err = imap_t_wait_error(a, 20);
	g_assert_nonnull(err);
	g_test_message("error: %s", err);
	g_assert_nonnull(strstr(err, "LOGIN"));
	g_assert_null(strstr(err, "wrongpass"));
	g_free(err);
	/* It keeps retrying (with backoff): a second failed login shows up. */
	g_assert_true(imap_t_log_count("auth failed", 2, 20, NULL));
	imap_account_stop(&a);
	g_assert_cmpuint(imap_t_msgs->len, ==, 0);
	imap_t_config_clear(&ic);
}

/* A server that accepts TCP and never speaks: every mode fails within the
 * timeout, with an error, and stop is prompt. */
static void
test_silent_server(void)
{
	struct imap_config ic;
	struct imap_start st = { FALSE, 0, 0, 600 };
	struct imap_account *a;
	GSocket *ls;
	GInetAddress *lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
	GSocketAddress *sa = g_inet_socket_address_new(lo, 0), *bound;
	char *err;
	gint64 t0;
	int mode;

	ls = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_TCP, NULL);
	g_assert_nonnull(ls);
	g_assert_true(g_socket_bind(ls, sa, TRUE, NULL));
	g_assert_true(g_socket_listen(ls, NULL));
	bound = g_socket_get_local_address(ls, NULL);
	imap_t_reset();
	for (mode = 0; mode < 2; mode++) {
		imap_t_config(&ic, "INBOX", "pw");
		ic.port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
		ic.tls = mode == 0 ? IMAP_TLS_IMPLICIT : IMAP_TLS_NONE;
		ic.timeout = 2;
		t0 = g_get_monotonic_time();
		a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
		err = imap_t_wait_error(a, 15);
		g_assert_nonnull(err);
		g_test_message("error: %s (after %.1f s)", err,
		    (double)(g_get_monotonic_time() - t0) / G_USEC_PER_SEC);
		g_assert_cmpint(g_get_monotonic_time() - t0, <, 10 * G_USEC_PER_SEC);
		g_free(err);
		t0 = g_get_monotonic_time();
		imap_account_stop(&a);
		g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
		imap_t_config_clear(&ic);
	}
	g_assert_cmpuint(imap_t_msgs->len, ==, 0);
	g_object_unref(bound);
	g_object_unref(sa);
	g_object_unref(lo);
	g_socket_close(ls, NULL);
	g_object_unref(ls);
}

static void
test_bad_certificate(void)
{
	struct imap_config ic;
	struct imap_start st = { FALSE, 0, 0, 600 };
	struct imap_account *a;
	char *err;

	imap_t_reset();
	imap_t_config(&ic, "INBOX", "pw");
	g_free(ic.ca_file);
	ic.ca_file = g_build_filename(imap_t_dir, "other-ca.pem", NULL);
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	err = imap_t_wait_error(a, 20);
	g_assert_nonnull(err);
	g_test_message("error: %s", err);
	g_assert_nonnull(strstr(err, "not trusted"));
	g_free(err);
	imap_account_stop(&a);

	/* Right CA, wrong name. */
	g_free(ic.ca_file);
	ic.ca_file = g_build_filename(imap_t_dir, "ca.pem", NULL);
	ic.host = (char *)"127.0.0.2";
	a = imap_account_start(&ic, &st, imap_t_cb, NULL, NULL);
	err = imap_t_wait_error(a, 20);
	g_assert_nonnull(err);
	g_test_message("error: %s", err);
	g_assert_nonnull(strstr(err, "not trusted"));
	g_free(err);
	imap_account_stop(&a);
	g_assert_cmpuint(imap_t_msgs->len, ==, 0);
	imap_t_config_clear(&ic);
}

static gboolean
imap_t_have(const char *prog)
{
	char *p = g_find_program_in_path(prog);
	gboolean found = p != NULL;

	g_free(p);
	return found;
}

int
main(int argc, char **argv)
{
	char *out, *cmd;
	int rc;

	g_test_init(&argc, &argv, NULL);
	/* The IMAP thread logs outages with g_warning: not fatal here. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);

	if (geteuid() != 0 || !imap_t_have("dovecot") || !imap_t_have("doveadm")) {
		g_test_skip("needs root, dovecot and doveadm");
		return g_test_run();
	}
	if (g_getenv("top_srcdir") != NULL)
		imap_t_script = g_build_filename(g_getenv("top_srcdir"), "tests",
		    "imap-dovecot.sh", NULL);
	else
		imap_t_script = g_test_build_filename(G_TEST_DIST, "imap-dovecot.sh", NULL);
	if (!g_file_test(imap_t_script, G_FILE_TEST_EXISTS)) {
		g_free(imap_t_script);
		imap_t_script = g_strdup("tests/imap-dovecot.sh");
	}
	imap_t_dir = testutil_tmpdir_new("otpbridge-imap");
	imap_t_conf = g_build_filename(imap_t_dir, "dovecot.conf", NULL);
	cmd = g_strdup_printf("sh '%s' start '%s' %d", imap_t_script, imap_t_dir,
	    (int)getpid());
	out = imap_t_sh(cmd);
	g_free(cmd);
	if (sscanf(out, "%u %u", &imap_t_imaps, &imap_t_imap) != 2)
		g_error("imap-dovecot.sh: %s", out);
	g_free(out);
	g_free(testutil_write_in(imap_t_dir, "pw", "secret\n", -1, -1));
	g_free(testutil_write_in(imap_t_dir, "badpw", "wrongpass\n", -1, -1));
	imap_t_msgs = g_ptr_array_new_with_free_func(imap_t_got_free);

	g_test_add_func("/imap/first-start-seen-idle-restart",
	    test_first_start_seen_idle_restart);
	g_test_add_func("/imap/not-committed", test_not_committed);
	g_test_add_func("/imap/move-starttls", test_move_starttls);
	g_test_add_func("/imap/stop-while-pending", test_stop_while_pending);
	g_test_add_func("/imap/poll-password-command", test_poll_password_command);
	g_test_add_func("/imap/reconnect", test_reconnect);
	g_test_add_func("/imap/wrong-password", test_wrong_password);
	g_test_add_func("/imap/bad-certificate", test_bad_certificate);
	g_test_add_func("/imap/silent-server", test_silent_server);
	rc = g_test_run();

	cmd = g_strdup_printf("sh '%s' stop '%s'", imap_t_script, imap_t_dir);
	g_free(imap_t_sh(cmd));
	g_free(cmd);
	testutil_tmpdir_free(&imap_t_dir);
	g_ptr_array_unref(imap_t_msgs);
	g_free(imap_t_conf);
	g_free(imap_t_script);
	return rc;
}
