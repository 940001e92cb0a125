/*
 * test-core.c - the decision table of doc/core.md section 4: which
 * filter decides, auth failures (and which Authentication-Results count
 * for each source), send modes, templates, identifiers; and the
 * freshness every source applies after it (intake_born, intake_stale).
 * Messages are built by hand so each row changes one thing.
 */
#include "autoconfig.h"

#include <string.h>
#include <glib/gstdio.h>

#include "core.h"
#include "filter.h"
#include "intake.h"
#include "json.h"
#include "message.h"
#include "testutil.h"

static char *tmpdir;
static struct filter_set *set;

static const char filters_conf[] =
	"# rows below refer to these filters by name\n"
	"[spoofable]\n"
	"from = @bank\\.example$\n"
	"require_auth = dkim\n"
	"code = (?<code>\\d{6})\n"
	"\n"
	"[custom]\n"
	"from = ^codes@acme\\.example$\n"
	"code = PIN:\\s*(\\d[\\d ]+\\d)\n"
	"send = code\n"
	"workflow_run_id = ${plus}\n"
	"task_id = tsk_${account}\n"
	"\n"
	"[texty]\n"
	"from = @text\\.example$\n"
	"send = text\n"
	"\n"
	"[autofallback]\n"
	"from = @fallback\\.example$\n"
	"send = auto\n"
	"\n"
	"[default-send]\n"
	"from = @default\\.example$\n"
	"\n"
	"[by-subject]\n"
	"subject = ^Login code$\n"
	"to = ^ops@\n"
	"identifier = ops-${from}\n"
	"code = auto\n"
	"send = code\n"
	"\n"
	"[empty-id]\n"
	"from = @noid\\.example$\n"
	"identifier = ${plus}\n"
	"code = (\\d{4})\n"
	"\n"
	"[spaced]\n"
	"from = @spaced\\.example$\n"
	"code = CODE:(.*)END\n"
	"send = code\n"
	"workflow_id = wf_${plus}\n";

struct row {
	const char *name;
	const char *from;
	const char *to;          /* first To */
	const char *subject;
	const char *text;
	const char *ar;          /* Authentication-Results, or NULL */
	const char *rcpt;        /* envelope, or NULL */
	const char *account;
	enum send_mode default_send;
	/* expected */
	gboolean forward;
	const char *filter;
	const char *reason;
	const char *code;
	const char *push;        /* exact JSON body, or NULL */
	/* a forwarded message (msg->forwarded) when fwd_text is not NULL */
	const char *fwd_subject, *fwd_text;
	gboolean calendar;       /* msg->calendar: a text/calendar part */
};

static const struct row rows[] = {
	{ "no-match", "x@nowhere.example", "bot@otp.example.com", "hello", "no code here",
	  NULL, NULL, NULL, SEND_AUTO, FALSE, NULL, "no-match", NULL, NULL },
	{ "auth-missing", "alerts@bank.example", "bot@otp.example.com", "Code", "Code 123456",
	  NULL, NULL, NULL, SEND_AUTO, FALSE, "spoofable", "auth-fail", NULL, NULL },
	{ "auth-untrusted", "alerts@bank.example", "bot@otp.example.com", "Code", "Code 123456",
	  "evil.example; dkim=pass header.d=bank.example", NULL, NULL, SEND_AUTO,
	  FALSE, "spoofable", "auth-fail", NULL, NULL },
	{ "auth-unaligned", "alerts@bank.example", "bot@otp.example.com", "Code", "Code 123456",
	  "mx.otp.example.com; dkim=pass header.d=evil.example", NULL, NULL, SEND_AUTO,
	  FALSE, "spoofable", "auth-fail", NULL, NULL },
	{ "auth-pass", "alerts@bank.example", "Bot@OTP.example.com", "Code", "Code 123456",
	  "mx.otp.example.com; dkim=pass header.d=bank.example", NULL, NULL, SEND_AUTO,
	  TRUE, "spoofable", "code", "123456",
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"123456\",\"source\":\"email\"}" },
	{ "custom-group-blanks-removed", "codes@acme.example", "bot+wr_9@otp.example.com", "Your PIN",
	  "PIN: 12 34 56\nthanks", NULL, NULL, "work", SEND_AUTO, TRUE, "custom", "code", "123456",
	  "{\"totp_identifier\":\"bot+wr_9@otp.example.com\",\"content\":\"123456\",\"task_id\":\"tsk_work\",\"workflow_run_id\":\"wr_9\",\"source\":\"email\"}" },
	{ "custom-in-subject-first", "codes@acme.example", "bot@otp.example.com", "PIN: 999 888",
	  "PIN: 111 222", NULL, NULL, NULL, SEND_AUTO, TRUE, "custom", "code", "999888",
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"999888\",\"task_id\":\"tsk_\",\"source\":\"email\"}" },
	{ "custom-no-code", "codes@acme.example", "bot@otp.example.com", "Hello",
	  "no pin today", NULL, NULL, NULL, SEND_AUTO, FALSE, "custom", "no-code", NULL, NULL },
	{ "envelope-rcpt-wins", "codes@acme.example", "bot@otp.example.com", "x",
	  "PIN: 4242", NULL, "Other+ABC@OTP.Example.com", NULL, SEND_AUTO, TRUE, "custom", "code", "4242",
	  "{\"totp_identifier\":\"other+abc@otp.example.com\",\"content\":\"4242\",\"task_id\":\"tsk_\",\"workflow_run_id\":\"ABC\",\"source\":\"email\"}" },
	{ "send-text", "info@text.example", "bot@otp.example.com", "Hi",
	  "  Your code is 123456  \n", NULL, NULL, NULL, SEND_AUTO, TRUE, "texty", "text", NULL,
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"Your code is 123456\",\"source\":\"email\"}" },
	{ "auto-falls-back-to-text", "info@fallback.example", "bot@otp.example.com", "News",
	  "Nothing to see", NULL, NULL, NULL, SEND_CODE, TRUE, "autofallback", "text", NULL,
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"Nothing to see\",\"source\":\"email\"}" },
	{ "empty-text-uses-subject", "info@fallback.example", "bot@otp.example.com", "Subject only",
	  "   ", NULL, NULL, NULL, SEND_AUTO, TRUE, "autofallback", "text", NULL,
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"Subject only\",\"source\":\"email\"}" },
	{ "default-send-code", "info@default.example", "bot@otp.example.com", "News",
	  "Nothing to see", NULL, NULL, NULL, SEND_CODE, FALSE, "default-send", "no-code", NULL, NULL },
	{ "default-send-auto", "info@default.example", "bot@otp.example.com", "News",
	  "Nothing to see", NULL, NULL, NULL, SEND_AUTO, TRUE, "default-send", "text", NULL,
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"Nothing to see\",\"source\":\"email\"}" },
	{ "subject-and-to", "robot@corp.example", "ops@corp.example", "Login code",
	  "Your verification code is 731904.", NULL, NULL, NULL, SEND_AUTO, TRUE, "by-subject", "code", "731904",
	  "{\"totp_identifier\":\"ops-robot@corp.example\",\"content\":\"731904\",\"source\":\"email\"}" },
	{ "to-fails", "robot@corp.example", "dev@corp.example", "Login code",
	  "Your verification code is 731904.", NULL, NULL, NULL, SEND_AUTO, FALSE, NULL, "no-match", NULL, NULL },
	{ "identifier-empty", "x@noid.example", "bot@otp.example.com", "x",
	  "code 1234", NULL, NULL, NULL, SEND_AUTO, FALSE, "empty-id", "no-identifier", "1234", NULL },
	/*
	 * Skyvern stores content of 10 characters or fewer (trimmed) verbatim
	 * as the code: such a text is never pushed (reason short-text).
	 */
	{ "auto-short-text-dropped", "info@fallback.example", "bot@otp.example.com", "News",
	  "  Call me  \n", NULL, NULL, NULL, SEND_AUTO, FALSE, "autofallback", "short-text", NULL, NULL },
	{ "auto-text-of-10-dropped", "info@fallback.example", "bot@otp.example.com", "News",
	  "0123456789", NULL, NULL, NULL, SEND_AUTO, FALSE, "autofallback", "short-text", NULL, NULL },
	{ "auto-text-of-11-sent", "info@fallback.example", "bot@otp.example.com", "News",
	  "01234567890", NULL, NULL, NULL, SEND_AUTO, TRUE, "autofallback", "text", NULL,
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"01234567890\",\"source\":\"email\"}" },
	{ "auto-short-counts-characters", "info@fallback.example", "bot@otp.example.com", "News",
	  "\xc3\x84\xc3\x96\xc3\x9c\xc3\xa4\xc3\xb6\xc3\xbc\xc3\x9f\xc3\xa9\xc3\xa8\xc3\xa0",
	  NULL, NULL, NULL, SEND_AUTO, FALSE, "autofallback", "short-text", NULL, NULL },
	{ "auto-short-subject-dropped", "info@fallback.example", "bot@otp.example.com", "Hi there",
	  " \n ", NULL, NULL, NULL, SEND_AUTO, FALSE, "autofallback", "short-text", NULL, NULL },
	{ "default-send-auto-short", "info@default.example", "bot@otp.example.com", "News",
	  "Nothing", NULL, NULL, NULL, SEND_AUTO, FALSE, "default-send", "short-text", NULL, NULL },
	/*
	 * A forwarded message (attached message/rfc822) is read only when the
	 * message's own body has no code, with its own subject.
	 */
	/*
	 * A text/calendar part makes the mail a meeting invitation: the
	 * built-in detector takes no code from it, even beside "passcode";
	 * a filter's own pattern still does (the operator asked for it).
	 */
	{ "calendar-passcode-not-a-code", "info@default.example", "bot@otp.example.com",
	  "Weekly sync", "Join Zoom Meeting\nPasscode: 738291", NULL, NULL, NULL, SEND_CODE,
	  FALSE, "default-send", "no-code", NULL, NULL, NULL, NULL, TRUE },
	{ "calendar-no-text-fallback", "info@default.example", "bot@otp.example.com",
	  "Sync", "Your one-time passcode is 738291 for the call", NULL, NULL, NULL, SEND_AUTO,
	  FALSE, "default-send", "no-code", NULL, NULL, NULL, NULL, TRUE },
	{ "calendar-send-text-is-the-operators-choice", "info@default.example",
	  "bot@otp.example.com", "Sync", "Your one-time passcode is 738291 for the call",
	  NULL, NULL, NULL, SEND_TEXT, TRUE, "default-send", "text", NULL,
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"Your one-time passcode "
	  "is 738291 for the call\",\"source\":\"email\"}", NULL, NULL, TRUE },
	{ "calendar-custom-pattern-still-applies", "codes@acme.example", "bot@otp.example.com",
	  "x", "PIN: 4242", NULL, NULL, NULL, SEND_AUTO, TRUE, "custom", "code", "4242",
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"4242\",\"task_id\":\"tsk_\",\"source\":\"email\"}",
	  NULL, NULL, TRUE },
	{ "fwd-read-when-body-has-none", "info@default.example", "bot@otp.example.com", "Fwd: see below",
	  "see below", NULL, NULL, NULL, SEND_CODE, TRUE, "default-send", "code", "551730",
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"551730\",\"source\":\"email\"}",
	  "[GitHub] Please verify your device", "Device: Firefox\nVerification code: 551730" },
	{ "fwd-never-beats-body-code", "info@default.example", "bot@otp.example.com", "Your login code",
	  "Your verification code is 482913.", NULL, NULL, NULL, SEND_CODE, TRUE, "default-send", "code", "482913",
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"482913\",\"source\":\"email\"}",
	  "Your login code", "Your verification code is 111999." },
	{ "fwd-uses-its-own-subject", "info@default.example", "bot@otp.example.com", "see attachment",
	  "FYI", NULL, NULL, NULL, SEND_CODE, TRUE, "default-send", "code", "604318",
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"604318\",\"source\":\"email\"}",
	  "Your Stripe verification code", "604318" },
	{ "fwd-without-code", "info@default.example", "bot@otp.example.com", "Fwd: invoice",
	  "see below", NULL, NULL, NULL, SEND_CODE, FALSE, "default-send", "no-code", NULL, NULL,
	  "Invoice", "Invoice 2024-05 attached." },
	{ "fwd-custom-pattern", "codes@acme.example", "bot@otp.example.com", "Fwd",
	  "below", NULL, NULL, NULL, SEND_AUTO, TRUE, "custom", "code", "123456",
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"123456\",\"task_id\":\"tsk_\",\"source\":\"email\"}",
	  "x", "PIN: 123 456" },
	{ "fwd-text-when-body-blank", "info@fallback.example", "bot@otp.example.com", "Fwd",
	  " \n", NULL, NULL, NULL, SEND_AUTO, TRUE, "autofallback", "text", NULL,
	  "{\"totp_identifier\":\"bot@otp.example.com\",\"content\":\"Nothing to see here\",\"source\":\"email\"}",
	  "News", "Nothing to see here\n" },
	{ "send-text-short-refused", "info@text.example", "bot@otp.example.com", "Hi",
	  "\n 482913 \n", NULL, NULL, NULL, SEND_AUTO, FALSE, "texty", "short-text", NULL, NULL },
	/* A filter's capture loses every Unicode blank (no-break and narrow
	 * no-break spaces too); one of blanks only is no code. */
	{ "custom-unicode-blanks-removed", "x@spaced.example", "bot+r1@otp.example.com", "x",
	  "CODE: 12\xc2\xa0" "34\xe2\x80\xaf" "56 END", NULL, NULL, NULL, SEND_AUTO, TRUE, "spaced",
	  "code", "123456",
	  "{\"totp_identifier\":\"bot+r1@otp.example.com\",\"content\":\"123456\",\"workflow_id\":\"wf_r1\",\"source\":\"email\"}" },
	{ "custom-blanks-only-no-code", "x@spaced.example", "bot@otp.example.com", "x",
	  "CODE: \xc2\xa0 \t END", NULL, NULL, NULL, SEND_AUTO, FALSE, "spaced", "no-code", NULL, NULL },
	/* ${plus}: nothing for an empty tag or an address without a domain. */
	{ "plus-empty-tag", "x@spaced.example", "bot+@otp.example.com", "x",
	  "CODE:42END", NULL, NULL, NULL, SEND_AUTO, TRUE, "spaced", "code", "42",
	  "{\"totp_identifier\":\"bot+@otp.example.com\",\"content\":\"42\",\"workflow_id\":\"wf_\",\"source\":\"email\"}" },
	{ "plus-no-domain", "x@spaced.example", "bot@otp.example.com", "x",
	  "CODE:42END", NULL, "local+tag", NULL, SEND_AUTO, TRUE, "spaced", "code", "42",
	  "{\"totp_identifier\":\"local+tag\",\"content\":\"42\",\"workflow_id\":\"wf_\",\"source\":\"email\"}" },
	/* No body, no forwarded message, no subject: nothing to send. */
	{ "auto-no-text-at-all", "info@fallback.example", "bot@otp.example.com", " ",
	  " \n", NULL, NULL, NULL, SEND_AUTO, FALSE, "autofallback", "no-code", NULL, NULL },
};

static struct message *
make_message(const struct row *r)
{
	struct message *msg = message_new();
	const char *at = strchr(r->from, '@');

	msg->from = g_strdup(r->from);
	msg->from_domain = at != NULL ? g_strdup(at + 1) : NULL;
	g_ptr_array_add(msg->to, g_ascii_strdown(r->to, -1));
	g_free(msg->subject);
	msg->subject = g_strdup(r->subject);
	g_free(msg->text);
	msg->text = g_strdup(r->text);
	if (r->ar != NULL)
		g_ptr_array_add(msg->auth_results, g_strdup(r->ar));
	msg->calendar = r->calendar;
	if (r->fwd_text != NULL) {
		msg->forwarded = message_new();
		g_free(msg->forwarded->subject);
		msg->forwarded->subject = g_strdup(r->fwd_subject);
		g_free(msg->forwarded->text);
		msg->forwarded->text = g_strdup(r->fwd_text);
	}
	/* As the MTA that hands the mail over writes it: above its Received:. */
	msg->has_received = TRUE;
	msg->ar_above_received = msg->auth_results->len;
	return msg;
}

/* ---- which Authentication-Results count, per source ------------------- */

#define NO_RECEIVED (-1)

struct src_row {
	const char *name;
	const char *ar;          /* one Authentication-Results */
	int above;               /* A-R above the topmost Received: (0/1), or NO_RECEIVED */
	const char *account;     /* IMAP account, or NULL: an MTA handed it over */
	gboolean account_ids;    /* the account trusts only mx.google.com */
	gboolean empty_ids;      /* the account trusts no id (a Microsoft host) */
	gboolean strips;         /* [auth] mta_strips_forged */
	gboolean forward;
};

static const struct src_row src_rows[] = {
	{ "mta-above-received", "mx.otp.example.com; dkim=pass header.d=bank.example",
	  1, NULL, FALSE, FALSE, FALSE, TRUE },
	{ "mta-forged-below-received", "mx.otp.example.com; dkim=pass header.d=bank.example",
	  0, NULL, FALSE, FALSE, FALSE, FALSE },
	{ "mta-no-received", "mx.otp.example.com; dkim=pass header.d=bank.example",
	  NO_RECEIVED, NULL, FALSE, FALSE, FALSE, FALSE },
	{ "mta-below-but-strips-forged", "mx.otp.example.com; dkim=pass header.d=bank.example",
	  0, NULL, FALSE, FALSE, TRUE, TRUE },
	{ "mta-account-ids-not-used", "mx.google.com; dkim=pass header.d=bank.example",
	  1, NULL, TRUE, FALSE, FALSE, FALSE },
	{ "imap-provider-id-below-received", "mx.google.com; dkim=pass header.i=@bank.example",
	  0, "gmail", TRUE, FALSE, FALSE, TRUE },
	{ "imap-auth-id-not-the-providers", "mx.otp.example.com; dkim=pass header.d=bank.example",
	  1, "gmail", TRUE, FALSE, FALSE, FALSE },
	{ "imap-inherits-auth-anywhere", "mx.otp.example.com; dkim=pass header.d=bank.example",
	  0, "self", FALSE, FALSE, FALSE, TRUE },
	{ "imap-trusts-no-id", "mx.otp.example.com; dkim=pass header.d=bank.example",
	  1, "o365", FALSE, TRUE, FALSE, FALSE },
};

static void
test_src_row(gconstpointer data)
{
	const struct src_row *r = data;
	char *trusted[] = { "mx.otp.example.com", NULL };
	char *google[] = { "mx.google.com", NULL };
	char *none[] = { NULL };
	struct core_options opt = { trusted, SEND_AUTO, r->strips };
	struct envelope env = { NULL, r->account, NULL,
		r->account_ids ? google : r->empty_ids ? none : NULL };
	struct row base = { r->name, "alerts@bank.example", "bot@otp.example.com", "Code",
	    "Code 123456", r->ar, NULL, NULL, SEND_AUTO, FALSE, NULL, NULL, NULL, NULL };
	struct message *msg = make_message(&base);
	struct verdict v;

	msg->has_received = r->above != NO_RECEIVED;
	msg->ar_above_received = r->above == NO_RECEIVED ? 1 : (guint)r->above;
	core_decide(set, &opt, msg, &env, &v);
	g_assert_cmpint(v.forward, ==, r->forward);
	g_assert_cmpstr(v.filter, ==, "spoofable");
	g_assert_cmpstr(v.reason, ==, r->forward ? "code" : "auth-fail");
	verdict_clear(&v);
	message_free(&msg);
}

static void
test_row(gconstpointer data)
{
	const struct row *r = data;
	char *trusted[] = { "mx.otp.example.com", NULL };
	struct core_options opt = { trusted, r->default_send, FALSE };
	struct envelope env = { r->rcpt, r->account, NULL, NULL };
	struct message *msg = make_message(r);
	struct verdict v;

	core_decide(set, &opt, msg, &env, &v);
	g_assert_cmpint(v.forward, ==, r->forward);
	g_assert_cmpstr(v.filter, ==, r->filter);
	g_assert_cmpstr(v.reason, ==, r->reason);
	g_assert_cmpstr(v.code, ==, r->code);
	if (r->push != NULL) {
		g_autofree char *body = json_push_body(&v.push);
		g_assert_cmpstr(body, ==, r->push);
	} else {
		g_assert_null(v.push.content);
		g_assert_null(v.push.identifier);
	}
	verdict_clear(&v);
	message_free(&msg);
}

/* The built-in set forwards a detected code and drops the rest. */
static void
test_builtin(void)
{
	struct filter_set *b = filter_set_builtin();
	struct core_options opt = { NULL, SEND_AUTO, FALSE };
	struct envelope env = { NULL, "work", "Bot@Example.com", NULL };
	struct message *msg = message_new();
	struct verdict v;

	g_free(msg->text);
	msg->text = g_strdup("Your verification code is 482913.");
	core_decide(b, &opt, msg, &env, &v);
	g_assert_true(v.forward);
	g_assert_cmpstr(v.filter, ==, "builtin");
	g_assert_cmpstr(v.code, ==, "482913");
	/* No envelope recipient: the IMAP account's identifier. */
	g_assert_cmpstr(v.push.identifier, ==, "bot@example.com");
	verdict_clear(&v);

	g_free(msg->text);
	msg->text = g_strdup("Weekly newsletter, 2024 edition, $19.99");
	core_decide(b, &opt, msg, &env, &v);
	g_assert_false(v.forward);
	g_assert_cmpstr(v.reason, ==, "no-code");
	verdict_clear(&v);
	message_free(&msg);
	filter_set_free(&b);
}

/* Long text is cut at CORE_TEXT_MAX without splitting a character. */
static void
test_text_bound(void)
{
	struct row r = rows[9];
	char *trusted[] = { NULL };
	struct core_options opt = { trusted, SEND_AUTO, FALSE };
	struct envelope env = { NULL, NULL, NULL, NULL };
	GString *big = g_string_new("a");
	struct message *msg;
	struct verdict v;

	while (big->len < CORE_TEXT_MAX + 100)
		g_string_append(big, "\xc3\xa9");   /* é, two bytes */
	r.text = big->str;
	msg = make_message(&r);
	core_decide(set, &opt, msg, &env, &v);
	g_assert_true(v.forward);
	g_assert_cmpuint(strlen(v.push.content), <=, CORE_TEXT_MAX);
	g_assert_cmpuint(strlen(v.push.content), >=, CORE_TEXT_MAX - 1);
	g_assert_true(g_utf8_validate(v.push.content, -1, NULL));
	verdict_clear(&v);
	message_free(&msg);
	g_string_free(big, TRUE);
}

/* ---- freshness: when a code was born, and a code already too old ------- */

struct born_case {
	const char *name;
	gint64 received_date;    /* the topmost Received: date, 0: none/unreadable */
	gint64 arrival;
	gint64 want;
};

static const struct born_case born_cases[] = {
	{ "no-received-date-is-arrival", 0, 1000000, 1000000 },
	{ "received-date-counts", 400000, 1000000, 400000 },
	{ "received-date-equal-arrival", 1000000, 1000000, 1000000 },
	{ "future-date-clamped-to-arrival", 1000001, 1000000, 1000000 },
	{ "far-future-clamped", G_MAXINT64, 1000000, 1000000 },
	{ "negative-date-is-arrival", -5, 1000000, 1000000 },
};

static void
test_born(gconstpointer data)
{
	const struct born_case *c = data;
	struct message *msg = message_new();

	msg->received_date = c->received_date;
	g_assert_cmpint(intake_born(msg, c->arrival), ==, c->want);
	message_free(&msg);
}

struct stale_case {
	const char *name;
	gint64 age;              /* now - born */
	gboolean forward;        /* the verdict before */
	gboolean want_stale;
};

static const struct stale_case stale_cases[] = {
	{ "fresh", 10, TRUE, FALSE },
	{ "just-inside-max-age", 599, TRUE, FALSE },
	{ "exactly-max-age", 600, TRUE, FALSE },
	{ "one-second-past", 601, TRUE, TRUE },
	{ "two-hours-in-a-queue", 7200, TRUE, TRUE },
	{ "not-forwarded-stays-as-is", 7200, FALSE, FALSE },
};

static void
test_stale(gconstpointer data)
{
	const struct stale_case *c = data;
	struct verdict v = { 0 };
	gint64 now = 2000000;

	v.forward = c->forward;
	v.reason = c->forward ? "code" : "auth-fail";
	v.code = g_strdup("123456");
	v.push.identifier = g_strdup("bot@otp.example.com");
	v.push.content = g_strdup("123456");
	g_assert_cmpint(intake_stale(&v, now - c->age, now, 600), ==, c->want_stale);
	if (c->want_stale) {
		g_assert_false(v.forward);
		g_assert_cmpstr(v.reason, ==, "expired");
		g_assert_nonnull(v.detail);
		g_assert_null(v.push.content);
		g_assert_null(v.push.identifier);
	} else {
		g_assert_cmpint(v.forward, ==, c->forward);
		g_assert_cmpstr(v.reason, ==, c->forward ? "code" : "auth-fail");
	}
	verdict_clear(&v);
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *path = NULL;
	int rc;

	g_test_init(&argc, &argv, NULL);
	tmpdir = testutil_tmpdir_new("test-core");
	path = testutil_write_in(tmpdir, "10-test.conf", filters_conf, -1, -1);
	if (filter_set_load(tmpdir, TRUE, &set, &err) < 0)
		g_error("%s", err->message);

	TESTUTIL_ADD_ROWS("/core/born", born_cases, test_born);
	TESTUTIL_ADD_ROWS("/core/stale", stale_cases, test_stale);
	TESTUTIL_ADD_ROWS("/core/auth-source", src_rows, test_src_row);
	TESTUTIL_ADD_ROWS("/core", rows, test_row);
	g_test_add_func("/core/builtin", test_builtin);
	g_test_add_func("/core/text-bound", test_text_bound);
	rc = g_test_run();
	filter_set_free(&set);
	testutil_tmpdir_free(&tmpdir);
	return rc;
}
