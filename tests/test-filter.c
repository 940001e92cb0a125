/*
 * test-filter.c - filter.c: loading filters.d (name order, file order,
 * duplicates, ignored files, file:line errors), templates, and which
 * filter a message selects.
 */
#include "autoconfig.h"

#include <string.h>
#include <glib/gstdio.h>

#include "filter.h"
#include "util.h"
#include "testutil.h"

static char *tmpdir;
static guint dir_seq;

/* A fresh, empty directory under tmpdir. */
static char *
new_dir(void)
{
	char *d = g_strdup_printf("%s/d%u", tmpdir, dir_seq++);

	g_assert_cmpint(g_mkdir(d, 0700), ==, 0);
	return d;
}

static void
put(const char *dir, const char *name, const char *text)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);

	testutil_write_file(path, text, -1, -1);
}

/* Loads dir; asserts success. */
static struct filter_set *
load_ok(const char *dir)
{
	g_autoptr(GError) err = NULL;
	struct filter_set *set = NULL;

	g_assert_cmpint(filter_set_load(dir, TRUE, &set, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_nonnull(set);
	return set;
}

static const struct filter *
nth(const struct filter_set *set, guint i)
{
	return g_ptr_array_index(set->filters, i);
}

/* A message with the given From, subject and text; To/Delivered-To empty. */
static struct message *
msg_make(const char *from, const char *subject, const char *text)
{
	struct message *m = message_new();

	if (from != NULL) {
		const char *at = strrchr(from, '@');
		m->from = g_strdup(from);
		m->from_domain = at != NULL ? g_strdup(at + 1) : NULL;
	}
	if (subject != NULL) {
		g_free(m->subject);
		m->subject = g_strdup(subject);
	}
	if (text != NULL) {
		g_free(m->text);
		m->text = g_strdup(text);
	}
	return m;
}

/* ---- load order -------------------------------------------------------- */

static void
test_name_order(void)
{
	g_autofree char *d = new_dir();
	struct filter_set *set;
	struct message *m = msg_make("noreply@github.com", "Your code", "123456");
	struct match_input in = { m, NULL, NULL };
	const struct filter *f;

	/* Written in reverse order; read in name order. */
	put(d, "30-catchall.conf", "[catchall]\n");
	put(d, "20-github.conf", "[github]\nfrom = @github\\.com$\n");
	put(d, "10-other.conf", "# first file\n[other-a]\nfrom = @gitlab\\.com$\n\n"
	    "[other-b]\nsubject = ^never$\n");
	set = load_ok(d);
	if (set == NULL)
		goto out;
	g_assert_false(set->builtin);
	g_assert_cmpuint(set->files, ==, 3);
	g_assert_cmpuint(set->filters->len, ==, 4);
	g_assert_cmpstr(nth(set, 0)->name, ==, "other-a");
	g_assert_cmpstr(nth(set, 1)->name, ==, "other-b");
	g_assert_cmpstr(nth(set, 2)->name, ==, "github");
	g_assert_cmpstr(nth(set, 3)->name, ==, "catchall");
	g_assert_cmpint(nth(set, 0)->line, ==, 2);
	g_assert_cmpint(nth(set, 1)->line, ==, 5);
	g_assert_true(g_str_has_suffix(nth(set, 2)->file, "/20-github.conf"));
	f = filter_set_match(set, &in);
	g_assert_nonnull(f);
	if (f != NULL)
		g_assert_cmpstr(f->name, ==, "github");
	/* A mail nobody claims falls to the catch-all. */
	g_free(m->from);
	m->from = g_strdup("someone@example.org");
	f = filter_set_match(set, &in);
	g_assert_nonnull(f);
	if (f != NULL)
		g_assert_cmpstr(f->name, ==, "catchall");
	filter_set_free(&set);
	g_assert_null(set);
out:
	message_free(&m);
}

/* Two filters in one file that both match: the first in the file wins. */
static void
test_file_order(void)
{
	g_autofree char *d = new_dir();
	struct filter_set *set;
	struct message *m = msg_make("a@b.example", "code", "");
	struct match_input in = { m, NULL, NULL };
	const struct filter *f;

	put(d, "x.conf", "[zeta]\nsubject = code\n[alpha]\nsubject = code\n");
	set = load_ok(d);
	if (set == NULL)
		goto out;
	f = filter_set_match(set, &in);
	g_assert_nonnull(f);
	if (f != NULL)
		g_assert_cmpstr(f->name, ==, "zeta");
	filter_set_free(&set);
out:
	message_free(&m);
}

/* Name order is byte order: "10" before "9", upper case before lower. */
static void
test_name_order_bytes(void)
{
	g_autofree char *d = new_dir();
	struct filter_set *set;

	put(d, "9-z.conf", "[nine]\n");
	put(d, "10-a.conf", "[ten]\n");
	put(d, "B.conf", "[upper]\n");
	put(d, "a.conf", "[lower]\n");
	set = load_ok(d);
	if (set == NULL)
		return;
	g_assert_cmpuint(set->filters->len, ==, 4);
	g_assert_cmpstr(nth(set, 0)->name, ==, "ten");
	g_assert_cmpstr(nth(set, 1)->name, ==, "nine");
	g_assert_cmpstr(nth(set, 2)->name, ==, "upper");
	g_assert_cmpstr(nth(set, 3)->name, ==, "lower");
	filter_set_free(&set);
}

static void
test_duplicate_across_files(void)
{
	g_autofree char *d = new_dir();
	g_autofree char *a = g_build_filename(d, "a.conf", NULL);
	g_autofree char *b = g_build_filename(d, "b.conf", NULL);
	g_autofree char *want = NULL;
	g_autoptr(GError) err = NULL;
	struct filter_set *set = NULL;

	put(d, "a.conf", "# a\n[first]\n\n[dup]\nfrom = x\n");
	put(d, "b.conf", "[other]\n[dup]\nsubject = y\n");
	g_assert_cmpint(filter_set_load(d, TRUE, &set, &err), ==, -1);
	g_assert_null(set);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err == NULL)
		return;
	want = g_strdup_printf("%s:2: filter [dup] is already defined at %s:4", b, a);
	g_assert_cmpstr(err->message, ==, want);
}

static void
test_duplicate_in_file(void)
{
	g_autofree char *d = new_dir();
	g_autofree char *a = g_build_filename(d, "a.conf", NULL);
	g_autofree char *prefix = g_strdup_printf("%s:3: ", a);
	g_autoptr(GError) err = NULL;
	struct filter_set *set = NULL;

	put(d, "a.conf", "[dup]\nfrom = x\n[dup]\n");
	g_assert_cmpint(filter_set_load(d, TRUE, &set, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err != NULL)
		g_assert_true(g_str_has_prefix(err->message, prefix));
}

/* ---- missing, empty, ignored ------------------------------------------- */

static void
test_missing_dir(void)
{
	g_autofree char *d = g_build_filename(tmpdir, "no-such-dir", NULL);
	g_autoptr(GError) err = NULL;
	struct filter_set *set = NULL;

	g_assert_cmpint(filter_set_load(d, FALSE, &set, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_nonnull(set);
	if (set == NULL)
		return;
	g_assert_true(set->builtin);
	g_assert_cmpuint(set->filters->len, ==, 1);
	g_assert_cmpuint(set->files, ==, 0);
	filter_set_free(&set);

	g_assert_cmpint(filter_set_load(d, TRUE, &set, &err), ==, -1);
	g_assert_null(set);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err != NULL)
		g_assert_true(g_str_has_prefix(err->message, d));
}

/* A file where a directory should be is an error even when optional. */
static void
test_dir_is_file(void)
{
	g_autofree char *d = new_dir();
	g_autofree char *f = g_build_filename(d, "plain", NULL);
	g_autoptr(GError) err = NULL;
	struct filter_set *set = NULL;

	put(d, "plain", "[x]\n");
	g_assert_cmpint(filter_set_load(f, FALSE, &set, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
}

static void
test_empty_dir(void)
{
	g_autofree char *d = new_dir();
	struct filter_set *set = load_ok(d);

	if (set == NULL)
		return;
	g_assert_true(set->builtin);
	g_assert_cmpuint(set->files, ==, 0);
	g_assert_cmpuint(set->filters->len, ==, 1);
	filter_set_free(&set);
}

/* Files without any group: counted, and the built-in filter applies. */
static void
test_comment_only_files(void)
{
	g_autofree char *d = new_dir();
	struct filter_set *set;

	put(d, "a.conf", "# nothing yet\n");
	put(d, "b.conf", "");
	set = load_ok(d);
	if (set == NULL)
		return;
	g_assert_true(set->builtin);
	g_assert_cmpuint(set->files, ==, 2);
	filter_set_free(&set);
}

static void
test_ignored_files(void)
{
	g_autofree char *d = new_dir();
	g_autofree char *sub = g_build_filename(d, "sub", NULL);
	struct filter_set *set;

	put(d, ".hidden.conf", "garbage\n");
	put(d, ".conf", "garbage\n");
	put(d, "README", "garbage\n");
	put(d, "x.conf~", "garbage\n");
	put(d, "x.conf.bak", "garbage\n");
	put(d, "x.CONF", "garbage\n");
	put(d, "x.conf.dpkg-dist", "garbage\n");
	put(d, "real.conf", "[real]\n");
	g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
	put(sub, "nested.conf", "[nested]\n");
	set = load_ok(d);
	if (set == NULL)
		return;
	g_assert_false(set->builtin);
	g_assert_cmpuint(set->files, ==, 1);
	g_assert_cmpuint(set->filters->len, ==, 1);
	g_assert_cmpstr(nth(set, 0)->name, ==, "real");
	filter_set_free(&set);
}

static void
test_builtin(void)
{
	struct filter_set *set = filter_set_builtin();
	const struct filter *f = nth(set, 0);
	struct message *m = message_new();
	struct match_input in = { m, NULL, NULL };

	g_assert_true(set->builtin);
	g_assert_cmpuint(set->filters->len, ==, 1);
	g_assert_null(f->from);
	g_assert_null(f->to);
	g_assert_null(f->subject);
	g_assert_null(f->body);
	g_assert_null(f->code);
	g_assert_cmpint(f->require_auth, ==, AUTH_NONE);
	g_assert_cmpint(f->send, ==, SEND_CODE);
	g_assert_true(f->send_set);
	g_assert_cmpstr(f->identifier, ==, "${rcpt}");
	g_assert_true(filter_set_match(set, &in) == f);
	filter_set_free(&set);
	message_free(&m);
}

/* ---- keys of one filter ------------------------------------------------ */

static void
test_filter_fields(void)
{
	g_autofree char *d = new_dir();
	struct filter_set *set;
	const struct filter *f, *g;

	put(d, "f.conf",
	    "[full]\n"
	    "from = @accounts\\.example\\.org$\n"
	    "to = ^bot\\+\n"
	    "subject = code|verif|sign.?in\n"
	    "body = \\d{6}\n"
	    "require_auth = DMARC\n"
	    "code = (?<code>\\d{6})\n"
	    "identifier = ${rcpt}\n"
	    "task_id = ${plus}\n"
	    "workflow_id = wf-${account}\n"
	    "workflow_run_id = ${plus}\n"
	    "send = text\n"
	    "[defaults]\n"
	    "code = auto\n");
	set = load_ok(d);
	if (set == NULL)
		return;
	g_assert_cmpuint(set->filters->len, ==, 2);
	f = nth(set, 0);
	g_assert_cmpstr(f->name, ==, "full");
	g_assert_cmpint(f->line, ==, 1);
	g_assert_nonnull(f->from);
	g_assert_nonnull(f->to);
	g_assert_nonnull(f->subject);
	g_assert_nonnull(f->body);
	g_assert_nonnull(f->code);
	if (f->from != NULL)
		g_assert_cmpstr(regex_pattern(f->from), ==, "@accounts\\.example\\.org$");
	if (f->code != NULL)
		g_assert_cmpstr(regex_pattern(f->code), ==, "(?<code>\\d{6})");
	g_assert_cmpint(f->require_auth, ==, AUTH_DMARC);
	g_assert_true(f->send_set);
	g_assert_cmpint(f->send, ==, SEND_TEXT);
	g_assert_cmpstr(f->identifier, ==, "${rcpt}");
	g_assert_cmpstr(f->task_id, ==, "${plus}");
	g_assert_cmpstr(f->workflow_id, ==, "wf-${account}");
	g_assert_cmpstr(f->workflow_run_id, ==, "${plus}");

	g = nth(set, 1);
	g_assert_cmpint(g->line, ==, 13);
	g_assert_null(g->from);
	g_assert_null(g->code);
	g_assert_cmpint(g->require_auth, ==, AUTH_NONE);
	g_assert_false(g->send_set);
	g_assert_cmpint(g->send, ==, SEND_AUTO);
	g_assert_cmpstr(g->identifier, ==, "${rcpt}");
	g_assert_null(g->task_id);
	g_assert_null(g->workflow_id);
	g_assert_null(g->workflow_run_id);
	filter_set_free(&set);
}

struct enum_case {
	const char *key, *value;
	int want;
};

static const struct enum_case enum_cases[] = {
	{ "require_auth", "none", AUTH_NONE },
	{ "require_auth", "dkim", AUTH_DKIM },
	{ "require_auth", "spf", AUTH_SPF },
	{ "require_auth", "dmarc", AUTH_DMARC },
	{ "send", "auto", SEND_AUTO },
	{ "send", "code", SEND_CODE },
	{ "send", "text", SEND_TEXT },
};

static void
test_enum_values(gconstpointer data)
{
	const struct enum_case *c = data;
	g_autofree char *d = new_dir();
	g_autofree char *text = g_strdup_printf("[f]\n%s = %s\n", c->key, c->value);
	struct filter_set *set;

	put(d, "f.conf", text);
	set = load_ok(d);
	if (set == NULL)
		return;
	if (strcmp(c->key, "send") == 0) {
		g_assert_cmpint(nth(set, 0)->send, ==, c->want);
		g_assert_true(nth(set, 0)->send_set);
	} else {
		g_assert_cmpint(nth(set, 0)->require_auth, ==, c->want);
	}
	filter_set_free(&set);
}

/* ---- load errors ------------------------------------------------------- */

struct load_error_case {
	const char *name;
	const char *text;      /* the file f.conf */
	int line;
	const char *want;      /* the message after "path:line: " */
};

static const struct load_error_case load_error_cases[] = {
	{ "pattern-error-subject", "[f]\nfrom = x\n\nsubject = code(\n", 4,
	  "pattern error at offset 5: missing closing parenthesis" },
	{ "pattern-error-from", "# c\n[f]\nfrom = [a\n", 3,
	  "pattern error at offset 2: missing terminating ]" },
	{ "pattern-error-code", "[f]\ncode = (?<code>\\d+\n", 2,
	  "pattern error at offset 11: missing closing parenthesis" },
	{ "pattern-error-body", "[f]\nbody = *x\n", 2,
	  "pattern error at offset 0: quantifier does not follow a repeatable item" },
	{ "pattern-error-second-filter", "[ok]\nfrom = a\n[bad]\nto = a)\n", 4,
	  "pattern error at offset 1: unmatched closing parenthesis" },
	{ "empty-pattern", "[f]\nsubject =\n", 2, "subject: empty pattern" },
	{ "unknown-key", "[f]\nfrom = x\nform = y\n", 3, "unknown key 'form' in [f]" },
	{ "unknown-key-code_pattern", "[f]\n\ncode_pattern = x\n", 3,
	  "unknown key 'code_pattern' in [f]" },
	{ "bad-require-auth", "[f]\nrequire_auth = yes\n", 2,
	  "require_auth must be one of none, dkim, spf, dmarc, not 'yes'" },
	{ "bad-send", "[f]\n\n\nsend = always\n", 4,
	  "send must be one of auto, code, text, not 'always'" },
	{ "template-unknown", "[f]\nidentifier = ${user}\n", 2,
	  "identifier: unknown variable" },
	{ "template-unclosed", "[f]\ntask_id = ${rcpt\n", 2,
	  "task_id: '${' without a closing '}'" },
	{ "template-unknown-workflow", "[f]\nworkflow_id = a-${to}-${sender}\n", 2,
	  "workflow_id: unknown variable" },
	{ "template-unclosed-run-id", "[f]\nworkflow_run_id = ${plus}${\n", 2,
	  "workflow_run_id: '${' without a closing '}'" },
	{ "identifier-empty", "[f]\nidentifier =\n", 2, "identifier must not be empty" },
	{ "syntax-error", "[f]\nfrom = x\nnot a key\n", 3, "expected key = value" },
};

static void
test_load_error(gconstpointer data)
{
	const struct load_error_case *c = data;
	g_autofree char *d = new_dir();
	g_autofree char *path = g_build_filename(d, "f.conf", NULL);
	g_autofree char *want = NULL;
	g_autoptr(GError) err = NULL;
	struct filter_set *set = NULL;

	put(d, "f.conf", c->text);
	g_assert_cmpint(filter_set_load(d, TRUE, &set, &err), ==, -1);
	g_assert_null(set);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err == NULL)
		return;
	want = g_strdup_printf("%s:%d: %s", path, c->line, c->want);
	if (!g_str_has_prefix(err->message, want))
		g_test_message("got '%s', want prefix '%s'", err->message, want);
	g_assert_true(g_str_has_prefix(err->message, want));
}

/* An error in a later file: nothing is half-loaded. */
static void
test_error_in_second_file(void)
{
	g_autofree char *d = new_dir();
	g_autofree char *path = g_build_filename(d, "b.conf", NULL);
	g_autoptr(GError) err = NULL;
	struct filter_set *set = NULL;

	put(d, "a.conf", "[fine]\nfrom = x\n");
	put(d, "b.conf", "[broken]\nsend = maybe\n");
	g_assert_cmpint(filter_set_load(d, FALSE, &set, &err), ==, -1);
	g_assert_null(set);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err != NULL)
		g_assert_true(g_str_has_prefix(err->message, path));
}

/* ---- templates --------------------------------------------------------- */

struct tcheck_case {
	const char *name;
	const char *tmpl;
	gboolean ok;
};

static const struct tcheck_case tcheck_cases[] = {
	{ "rcpt", "${rcpt}", TRUE },
	{ "all", "${rcpt}${plus}${to}${from}${account}", TRUE },
	{ "literal", "fixed-id", TRUE },
	{ "empty", "", TRUE },
	{ "mixed", "wr_${plus}-x", TRUE },
	{ "dollar-alone", "cost $5", TRUE },
	{ "dollar-brace-text", "a$b{c}", TRUE },
	{ "dollar-end", "x$", TRUE },
	{ "unknown", "${x}", FALSE },
	{ "unknown-empty", "${}", FALSE },
	{ "unknown-case", "${RCPT}", FALSE },
	{ "unknown-after-known", "${rcpt}${bogus}", FALSE },
	{ "unknown-prefix", "${rcpt2}", FALSE },
	{ "unknown-shorter", "${rcp}", FALSE },
	{ "unclosed", "${rcpt", FALSE },
	{ "unclosed-after-known", "${rcpt}-${", FALSE },
};

static void
test_template_check(gconstpointer data)
{
	const struct tcheck_case *c = data;
	const char *why = NULL;
	int rc = filter_template_check(c->tmpl, &why);

	g_assert_cmpint(rc, ==, c->ok ? 0 : -1);
	if (!c->ok) {
		g_assert_nonnull(why);
		if (strstr(c->tmpl, "}") != NULL && g_str_has_suffix(c->tmpl, "}"))
			g_assert_nonnull(strstr(why, "unknown variable"));
		else
			g_assert_nonnull(strstr(why, "without a closing"));
	}
}

struct expand_case {
	const char *name;
	const char *tmpl;
	struct template_vars vars;
	const char *want;
};

#define VARS { "bot+run42@otp.example.com", "run42", "first@example.com", \
	"noreply@github.com", "work" }

static const struct expand_case expand_cases[] = {
	{ "rcpt", "${rcpt}", VARS, "bot+run42@otp.example.com" },
	{ "plus", "${plus}", VARS, "run42" },
	{ "to", "${to}", VARS, "first@example.com" },
	{ "from", "${from}", VARS, "noreply@github.com" },
	{ "account", "${account}", VARS, "work" },
	{ "all", "${rcpt}|${plus}|${to}|${from}|${account}", VARS,
	  "bot+run42@otp.example.com|run42|first@example.com|noreply@github.com|work" },
	{ "literal", "fixed", VARS, "fixed" },
	{ "mixed", "wr_${plus}-${account}.", VARS, "wr_run42-work." },
	{ "repeated", "${plus}${plus}", VARS, "run42run42" },
	{ "empty", "", VARS, "" },
	{ "dollar-alone", "$5 ${plus}", VARS, "$5 run42" },
	{ "unclosed-literal", "a${rcpt", VARS, "a${rcpt" },
	{ "unknown-empty", "<${nope}>", VARS, "<>" },
	{ "missing-rcpt", "${rcpt}", { NULL, "p", "t", "f", "a" }, "" },
	{ "missing-plus", "x${plus}y", { "r", NULL, "t", "f", "a" }, "xy" },
	{ "missing-to", "x${to}y", { "r", "p", NULL, "f", "a" }, "xy" },
	{ "missing-from", "x${from}y", { "r", "p", "t", NULL, "a" }, "xy" },
	{ "missing-account", "x${account}y", { "r", "p", "t", "f", NULL }, "xy" },
	{ "all-missing", "${rcpt}${plus}${to}${from}${account}", { NULL, NULL, NULL, NULL, NULL }, "" },
	{ "utf8", "${from}", { NULL, NULL, NULL, "jürgen@例え.jp", NULL }, "jürgen@例え.jp" },
};

static void
test_expand(gconstpointer data)
{
	const struct expand_case *c = data;
	g_autofree char *got = filter_expand(c->tmpl, &c->vars);

	g_assert_cmpstr(got, ==, c->want);
}

/* Expansion is bounded at 1024 bytes and cut on a character boundary. */
static void
test_expand_bounded(void)
{
	GString *big = g_string_new("x");
	struct template_vars v = { NULL, NULL, NULL, NULL, NULL };
	g_autofree char *got = NULL;

	for (int i = 0; i < 1000; i++)
		g_string_append(big, "ü");   /* 2 bytes each; "x" makes them odd-aligned */
	v.rcpt = big->str;
	got = filter_expand("${rcpt}${rcpt}", &v);
	g_assert_cmpuint(strlen(got), <=, 1024);
	g_assert_cmpuint(strlen(got), >=, 1022);
	g_assert_true(g_utf8_validate(got, -1, NULL));
	g_assert_true(g_str_has_prefix(big->str, got));
	g_string_free(big, TRUE);
}

/* ---- matching ---------------------------------------------------------- */

struct match_case {
	const char *name;
	const char *filter;    /* the keys of filter [f] */
	const char *from;
	const char *to[3];     /* To and Cc */
	const char *delivered[2];
	const char *rcpt;
	const char *subject;
	const char *text;
	gboolean want;
};

static const struct match_case match_cases[] = {
	{ "no-conditions", "", "a@b.c", { NULL }, { NULL }, NULL, "", "", TRUE },
	{ "no-conditions-empty-msg", "", NULL, { NULL }, { NULL }, NULL, NULL, NULL, TRUE },
	{ "from-match", "from = @github\\.com$", "noreply@github.com", { NULL }, { NULL },
	  NULL, "", "", TRUE },
	{ "from-miss", "from = @github\\.com$", "noreply@github.com.evil.org", { NULL },
	  { NULL }, NULL, "", "", FALSE },
	{ "from-caseless", "from = @GitHub\\.COM$", "noreply@github.com", { NULL },
	  { NULL }, NULL, "", "", TRUE },
	{ "from-absent", "from = @github\\.com$", NULL, { NULL }, { NULL }, NULL, "", "", FALSE },
	{ "subject-match", "subject = code|verif|sign.?in", "a@b.c", { NULL }, { NULL },
	  NULL, "Your verification code", "", TRUE },
	{ "subject-miss", "subject = code|verif|sign.?in", "a@b.c", { NULL }, { NULL },
	  NULL, "Weekly digest", "Your code", FALSE },
	{ "subject-utf8", "subject = 验证码", "a@b.c", { NULL }, { NULL },
	  NULL, "您的验证码", "", TRUE },
	{ "body-match", "body = one-time", "a@b.c", { NULL }, { NULL }, NULL, "Hi",
	  "Your one-time code is 123456", TRUE },
	{ "body-miss", "body = one-time", "a@b.c", { NULL }, { NULL }, NULL, "one-time",
	  "nothing", FALSE },
	{ "all-conditions", "from = github\nto = ^bot\\+\nsubject = code\nbody = \\d{6}",
	  "noreply@github.com", { NULL }, { NULL }, "bot+x@otp.example.com", "code",
	  "123456", TRUE },
	{ "all-but-body", "from = github\nto = ^bot\\+\nsubject = code\nbody = \\d{6}",
	  "noreply@github.com", { NULL }, { NULL }, "bot+x@otp.example.com", "code",
	  "no digits", FALSE },
	{ "to-rcpt", "to = ^bot\\+", "a@b.c", { "other@example.com" }, { NULL },
	  "bot+run1@otp.example.com", "", "", TRUE },
	{ "to-rcpt-wins-over-header", "to = ^bot\\+", "a@b.c", { "bot+run1@otp.example.com" },
	  { NULL }, "other@otp.example.com", "", "", FALSE },
	{ "to-rcpt-wins-over-delivered", "to = ^bot\\+", "a@b.c", { NULL },
	  { "bot+run1@otp.example.com" }, "other@otp.example.com", "", "", FALSE },
	{ "to-header-without-rcpt", "to = ^bot\\+", "a@b.c", { "bot+run1@otp.example.com" },
	  { NULL }, NULL, "", "", TRUE },
	{ "to-cc-without-rcpt", "to = ^bot\\+", "a@b.c",
	  { "someone@example.com", "bot+cc@otp.example.com" }, { NULL }, NULL, "", "", TRUE },
	{ "to-delivered-without-rcpt", "to = ^bot\\+", "a@b.c", { "someone@example.com" },
	  { "bot+dt@otp.example.com" }, NULL, "", "", TRUE },
	{ "to-none-match", "to = ^bot\\+", "a@b.c", { "someone@example.com" },
	  { "list@example.com" }, NULL, "", "", FALSE },
	{ "to-no-recipients", "to = ^bot\\+", "a@b.c", { NULL }, { NULL }, NULL, "", "", FALSE },
};

static void
test_match(gconstpointer data)
{
	const struct match_case *c = data;
	g_autofree char *d = new_dir();
	g_autofree char *text = g_strdup_printf("[other]\nsubject = ^(?!)\n[f]\n%s\n", c->filter);
	struct message *m = msg_make(c->from, c->subject, c->text);
	struct match_input in = { m, c->rcpt, NULL };
	struct filter_set *set;
	const struct filter *f;

	for (int i = 0; i < 3 && c->to[i] != NULL; i++)
		g_ptr_array_add(m->to, g_strdup(c->to[i]));
	for (int i = 0; i < 2 && c->delivered[i] != NULL; i++)
		g_ptr_array_add(m->delivered_to, g_strdup(c->delivered[i]));
	put(d, "f.conf", text);
	set = load_ok(d);
	if (set == NULL)
		goto out;
	f = filter_set_match(set, &in);
	if (c->want) {
		g_assert_nonnull(f);
		if (f != NULL)
			g_assert_cmpstr(f->name, ==, "f");
	} else {
		g_assert_null(f);
	}
	filter_set_free(&set);
out:
	message_free(&m);
}

/* ---- the shipped library (filters/) ------------------------------------ */

/*
 * Each service filter selects its verification mails by sender and an
 * anchored subject; the rest of the domain's mail (invitations, invoices,
 * money requests, notifications whose text other customers write) matches
 * nothing, the catch-all included.
 */
struct shipped_case {
	const char *from;
	const char *subject;
	const char *filter;	/* expected, NULL: none */
};

static const struct shipped_case shipped_cases[] = {
	{ "noreply@github.com", "[GitHub] Please verify your device", "github" },
	{ "noreply@github.com", "[GitHub] Sudo email verification code", "github" },
	{ "noreply@github.com", "[GitHub] @mallory has invited you to join the @acme organization", NULL },
	{ "noreply@github.com", "[GitHub] Please verify your device @mallory invited you", NULL },
	{ "gitlab@mg.gitlab.com", "Verify your identity", "gitlab" },
	{ "gitlab@mg.gitlab.com", "acme / app | Verify your identity (#12)", NULL },
	{ "no-reply@accounts.google.com", "Google verification code", "google" },
	{ "no-reply@accounts.google.com", "Security alert", NULL },
	{ "comments-noreply@docs.google.com", "Verification code 123456 (Doc)", NULL },
	{ "account-security-noreply@accountprotection.microsoft.com",
	  "Microsoft account security code", "microsoft" },
	{ "account-security-noreply@accountprotection.microsoft.com",
	  "New app(s) connected to your Microsoft account", NULL },
	{ "no-reply@slack.com", "Slack confirmation code: ABC-DEF", "slack-code" },
	{ "feedback@slack.com", "Slack sign-in link for Acme Corp", "slack" },
	{ "feedback@slack.com", "Mallory has invited you to work with them in Slack", NULL },
	{ "notifications@stripe.com", "Your Stripe verification code", "stripe" },
	{ "invoice+statements@stripe.com", "Your Stripe verification code", NULL },
	{ "no-reply@dropbox.com", "Your Dropbox security code", "dropbox" },
	{ "no-reply@dropbox.com", "Your Dropbox security code shared \"x\" with you", NULL },
	{ "service@paypal.com", "Your PayPal security code", "paypal" },
	{ "service@paypal.de", "Ihr PayPal-Sicherheitscode", "paypal" },
	{ "service@paypal.com", "Your PayPal security code sent you a request for $1.00 USD", NULL },
	{ "info@x.com", "Your X confirmation code is ab12cd34", "x" },
	{ "notify@x.com", "548302 is your X verification code", NULL },
	{ "noreply@discord.com", "Verify Email Address for Discord", "discord" },
	{ "notifications@discord.com", "Your Discord verification code", NULL },
	{ "notify@mail.notion.so", "Your temporary Notion login code is 123456", "notion" },
	{ "notify@mail.notion.so", "Mallory invited you to Login code 620318", NULL },
	{ "registration@facebookmail.com", "12345 is your Facebook confirmation code", "facebook" },
	{ "notification@facebookmail.com", "12345 is your Facebook confirmation code", NULL },
	{ "no-reply@zoom.us", "Zoom sign-in verification code", "zoom" },
	{ "no-reply@zoom.us", "Invitation: Zoom sign-in verification code 605833", NULL },
	{ "noreply@okta.com", "One-time verification code", "okta" },
	{ "noreply@okta.com", "Welcome to Okta!", NULL },
	{ "no-reply@auth0user.net", "Welcome to Acme", "auth0" },
	{ "no-reply@auth0user.net", "You've been invited to join Mallory 123456", NULL },
	{ "noreply@id.atlassian.com", "Your Atlassian verification code", "atlassian" },
	{ "jira@acme.atlassian.net", "[JIRA] Verify your email", NULL },
	{ "noreply@salesforce.com", "Verify your identity in Salesforce", "salesforce" },
	{ "noreply@salesforce.com", "Case 00012345: Verify your account", NULL },
	{ "no-reply@shop.app", "Your Shop login code", "shopify" },
	{ "mailer@shopify.com", "Order #1042 confirmed", NULL },
	{ "account-update@amazon.de", "amazon.de: Anmeldeversuch", "amazon" },
	{ "ab12@marketplace.amazon.de", "Your Amazon one-time password", NULL },
	/* the catch-all: every other sender, lookalikes of the excluded domains too */
	{ "noreply@medium.com", "Sign in to Medium", "fallback" },
	{ "noreply@notgithub.com", "Your code", "fallback" },
	{ "noreply@github.com.mallory.example", "Your code", "fallback" },
	{ NULL, "Your code", "fallback" },
};

static void
test_shipped(gconstpointer data)
{
	const struct shipped_case *c = data;
	static struct filter_set *set;
	struct message *m = msg_make(c->from, c->subject, "");
	struct match_input in = { m, "bot@otp.example.com", NULL };
	const struct filter *f;

	if (set == NULL) {
		const char *top = g_getenv("top_srcdir");
		g_autofree char *dir = g_build_filename(top != NULL ? top : ".", "filters", NULL);
		g_autoptr(GError) err = NULL;

		g_assert_cmpint(filter_set_load(dir, TRUE, &set, &err), ==, 0);
		g_assert_no_error(err);
	}
	f = filter_set_match(set, &in);
	g_assert_cmpstr(f != NULL ? f->name : NULL, ==, c->filter);
	message_free(&m);
}

/* ---- main -------------------------------------------------------------- */

/* The test name of a row of shipped_cases. */
static char *
shipped_name(gsize i, gconstpointer row)
{
	(void)row;
	return g_strdup_printf("%02zu", i);
}

/* The test name of a row of enum_cases. */
static char *
enum_name(gsize i, gconstpointer row)
{
	const struct enum_case *c = row;

	(void)i;
	return g_strdup_printf("%s=%s", c->key, c->value);
}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();
	tmpdir = testutil_tmpdir_new("test-filter");

	g_test_add_func("/filter/load/name-order", test_name_order);
	g_test_add_func("/filter/load/file-order", test_file_order);
	g_test_add_func("/filter/load/name-order-bytes", test_name_order_bytes);
	g_test_add_func("/filter/load/duplicate-across-files", test_duplicate_across_files);
	g_test_add_func("/filter/load/duplicate-in-file", test_duplicate_in_file);
	g_test_add_func("/filter/load/missing-dir", test_missing_dir);
	g_test_add_func("/filter/load/dir-is-file", test_dir_is_file);
	g_test_add_func("/filter/load/empty-dir", test_empty_dir);
	g_test_add_func("/filter/load/comment-only-files", test_comment_only_files);
	g_test_add_func("/filter/load/ignored-files", test_ignored_files);
	g_test_add_func("/filter/load/fields", test_filter_fields);
	g_test_add_func("/filter/builtin", test_builtin);
	TESTUTIL_ADD_ROWS_NAMED("/filter/shipped", shipped_cases, shipped_name, test_shipped);
	TESTUTIL_ADD_ROWS_NAMED("/filter/load/enum", enum_cases, enum_name, test_enum_values);
	TESTUTIL_ADD_ROWS("/filter/load/error", load_error_cases, test_load_error);
	g_test_add_func("/filter/load/error/second-file", test_error_in_second_file);
	TESTUTIL_ADD_ROWS("/filter/template-check", tcheck_cases, test_template_check);
	TESTUTIL_ADD_ROWS("/filter/expand", expand_cases, test_expand);
	g_test_add_func("/filter/expand/bounded", test_expand_bounded);
	TESTUTIL_ADD_ROWS("/filter/match", match_cases, test_match);

	rc = g_test_run();
	testutil_tmpdir_free(&tmpdir);
	return rc;
}
