/*
 * test-kf.c - kf.c: key-files with file:line errors, raw values, typed
 * getters, unknown-key checks.
 */
#include "autoconfig.h"

#include <string.h>
#include <glib/gstdio.h>

#include "kf.h"
#include "util.h"
#include "testutil.h"

static char *tmpdir;
static guint file_seq;

/* Writes text to a fresh file in tmpdir; returns its path. */
static char *
write_conf(const char *text, gssize len)
{
	char *path = g_strdup_printf("%s/kf-%u.conf", tmpdir, file_seq++);

	testutil_write_file(path, text, len, -1);
	return path;
}

/* Loads text; asserts success. */
static struct kf *
load_ok(const char *text, char **path_r)
{
	g_autofree char *path = write_conf(text, -1);
	g_autoptr(GError) err = NULL;
	struct kf *kf = NULL;

	g_assert_cmpint(kf_load(path, &kf, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_nonnull(kf);
	g_assert_cmpstr(kf_path(kf), ==, path);
	if (path_r != NULL)
		*path_r = g_steal_pointer(&path);
	return kf;
}

/* Asserts that msg is "path:line: <something containing want>". */
static void
assert_line_error(const GError *err, const char *path, int line, const char *want)
{
	g_autofree char *prefix = g_strdup_printf("%s:%d: ", path, line);

	g_assert_nonnull(err);
	if (err == NULL)
		return;
	g_assert_true(err->domain == OTPB_ERROR);
	g_assert_cmpint(err->code, ==, OTPB_ERROR_CONFIG);
	if (!g_str_has_prefix(err->message, prefix))
		g_test_message("'%s' does not start with '%s'", err->message, prefix);
	g_assert_true(g_str_has_prefix(err->message, prefix));
	if (want != NULL && strstr(err->message, want) == NULL)
		g_test_message("'%s' does not contain '%s'", err->message, want);
	g_assert_true(want == NULL || strstr(err->message, want) != NULL);
}

/* ---- syntax errors ----------------------------------------------------- */

struct syntax_case {
	const char *name;
	const char *text;
	gssize len;            /* -1: strlen */
	int line;              /* 0: loads fine */
	const char *want;      /* part of the message */
};

static const struct syntax_case syntax_cases[] = {
	{ "ok-minimal", "[a]\nk = v\n", -1, 0, NULL },
	{ "ok-empty", "", -1, 0, NULL },
	{ "ok-comments-blanks", "# c\n\n   \n[a]\n  # indented comment\nk=v\n", -1, 0, NULL },
	{ "ok-crlf", "[a]\r\nk = v\r\n", -1, 0, NULL },
	{ "ok-no-final-newline", "[a]\nk = v", -1, 0, NULL },
	{ "ok-group-trailing-blank", "[a]  \nk = v\n", -1, 0, NULL },
	{ "ok-imap-group", "[imap:work]\nhost = x\n", -1, 0, NULL },
	{ "ok-key-chars", "[a]\nkey_name-2 = v\n", -1, 0, NULL },
	{ "garbage-line", "[a]\nk = v\nthis is not a key\n", -1, 3,
	  "expected key = value, [group] or a # comment" },
	{ "garbage-first-line", "garbage\n[a]\n", -1, 1, "expected key = value" },
	{ "key-before-group", "# comment\n\nk = v\n[a]\n", -1, 3,
	  "key 'k' before any [group]" },
	{ "group-unclosed", "[a]\nk = v\n\n[b\n", -1, 4,
	  "a group header must read [name]" },
	{ "group-trailing-text", "[a] x\n", -1, 1, "a group header must read [name]" },
	{ "group-empty-name", "[a]\n[]\n", -1, 2, "a group header must read [name]" },
	{ "group-double-close", "[a]]\n", -1, 1, "a group header must read [name]" },
	/* GKeyFile rejects '[' inside a group name; the scan must say where. */
	{ "group-inner-bracket", "[a]\nk = v\n[b[c]\n", -1, 3, NULL },
	{ "group-control-char", "[a]\n\n[b\001c]\n", -1, 3, NULL },
	{ "group-twice", "[a]\nk = v\n[b]\nx = y\n[a]\nz = 1\n", -1, 5,
	  "group [a] appears twice (first at line 1)" },
	{ "key-twice", "[a]\nk = v\nj = w\n\nk = v2\n", -1, 5,
	  "key 'k' appears twice in [a] (first at line 2)" },
	{ "key-twice-other-group-ok", "[a]\nk = v\n[b]\nk = v\n", -1, 0, NULL },
	{ "key-invalid-space", "[a]\nmy key = v\n", -1, 2, "'my key' is not a valid key name" },
	{ "key-invalid-locale", "[a]\nname[de] = v\n", -1, 2, "'name[de]' is not a valid key name" },
	{ "key-invalid-dot", "[a]\nk.x = v\n", -1, 2, "'k.x' is not a valid key name" },
	{ "key-empty", "[a]\n= v\n", -1, 2, "is not a valid key name" },
	{ "invalid-utf8", "[a]\nk = v\nj = \xff\xfe\n", -1, 3, "not valid UTF-8" },
	{ "invalid-utf8-comment", "[a]\n# \xc3\x28\n", -1, 2, "not valid UTF-8" },
	{ "nul-byte", "[a]\nk = v\x00x\n", 12, 2, "not valid UTF-8" },
	{ "crlf-line-numbers", "[a]\r\nk = v\r\n\r\nk = w\r\n", -1, 4, "appears twice" },
};

static void
test_syntax(gconstpointer data)
{
	const struct syntax_case *c = data;
	g_autofree char *path = write_conf(c->text, c->len);
	g_autoptr(GError) err = NULL;
	struct kf *kf = NULL;
	int rc = kf_load(path, &kf, &err);

	if (c->line == 0) {
		g_assert_no_error(err);
		g_assert_cmpint(rc, ==, 0);
		g_assert_nonnull(kf);
		kf_free(&kf);
		g_assert_null(kf);
		return;
	}
	g_assert_cmpint(rc, ==, -1);
	g_assert_null(kf);
	assert_line_error(err, path, c->line, c->want);
}

static void
test_missing(void)
{
	g_autofree char *path = g_build_filename(tmpdir, "missing.conf", NULL);
	g_autoptr(GError) err = NULL;
	struct kf *kf = NULL;

	g_assert_cmpint(kf_load(path, &kf, &err), ==, -1);
	g_assert_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_null(kf);
}

static void
test_too_big(void)
{
	GString *s = g_string_new("[a]\n");
	g_autofree char *path = NULL;
	g_autoptr(GError) err = NULL;
	struct kf *kf = NULL;

	while (s->len <= 1024 * 1024)
		g_string_append(s, "# padding padding padding padding padding padding\n");
	path = write_conf(s->str, (gssize)s->len);
	g_string_free(s, TRUE);
	g_assert_cmpint(kf_load(path, &kf, &err), ==, -1);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err != NULL)
		g_assert_true(g_str_has_prefix(err->message, path));
	kf_free(&kf);
}

/* ---- lines, groups, raw values ----------------------------------------- */

static void
test_lines_and_groups(void)
{
	g_autofree char *path = NULL;
	struct kf *kf = load_ok("# head\n\n[push]\nurl = x\n\n# c\ntimeout = 5\n"
	    "[imap:work]\nhost = h\n[store]\n", &path);
	char **g;

	if (kf == NULL)
		return;
	g = kf_groups(kf);
	g_assert_cmpuint(g_strv_length(g), ==, 3);
	g_assert_cmpstr(g[0], ==, "push");
	g_assert_cmpstr(g[1], ==, "imap:work");
	g_assert_cmpstr(g[2], ==, "store");
	g_assert_cmpint(kf_line(kf, "push", NULL), ==, 3);
	g_assert_cmpint(kf_line(kf, "push", "url"), ==, 4);
	g_assert_cmpint(kf_line(kf, "push", "timeout"), ==, 7);
	g_assert_cmpint(kf_line(kf, "imap:work", NULL), ==, 8);
	g_assert_cmpint(kf_line(kf, "imap:work", "host"), ==, 9);
	g_assert_cmpint(kf_line(kf, "store", NULL), ==, 10);
	g_assert_cmpint(kf_line(kf, "push", "nope"), ==, 0);
	g_assert_cmpint(kf_line(kf, "nope", NULL), ==, 0);
	g_assert_true(kf_has_key(kf, "push", "url"));
	g_assert_false(kf_has_key(kf, "push", "host"));
	g_assert_false(kf_has_key(kf, "store", "path"));
	kf_free(&kf);
}

struct raw_case {
	const char *name;
	const char *line;      /* the "k = ..." line */
	const char *want;
};

static const struct raw_case raw_cases[] = {
	{ "plain", "k = value", "value" },
	{ "trimmed", "k =    value   ", "value" },
	{ "no-blanks", "k=value", "value" },
	{ "backslash-dot", "k = @github\\.com$", "@github\\.com$" },
	{ "backslash-d", "k = \\d{6}", "\\d{6}" },
	{ "backslash-s", "k = code:\\s*(\\w+)", "code:\\s*(\\w+)" },
	{ "backslash-n-kept", "k = a\\nb", "a\\nb" },
	{ "hash-in-value", "k = a#b", "a#b" },
	{ "hash-after-blank", "k = code # not a comment", "code # not a comment" },
	{ "hash-first", "k = #abc", "#abc" },
	{ "semicolon", "k = a;b", "a;b" },
	{ "equals-in-value", "k = a=b=c", "a=b=c" },
	{ "brackets", "k = [0-9]{6}", "[0-9]{6}" },
	{ "utf8", "k = 验证码|Bestätigung", "验证码|Bestätigung" },
	{ "empty", "k =", "" },
	{ "template", "k = ${rcpt}", "${rcpt}" },
};

static void
test_raw(gconstpointer data)
{
	const struct raw_case *c = data;
	g_autofree char *text = g_strconcat("[g]\n", c->line, "\n", NULL);
	struct kf *kf = load_ok(text, NULL);
	g_autoptr(GError) err = NULL;
	char *v = g_strdup("old");

	if (kf == NULL)
		return;
	g_assert_cmpint(kf_get_raw(kf, "g", "k", &v, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpstr(v, ==, c->want);
	g_free(v);
	kf_free(&kf);
}

static void
test_raw_absent(void)
{
	struct kf *kf = load_ok("[g]\nk = v\n", NULL);
	char *v = g_strdup("preset");
	char *w = NULL;

	if (kf == NULL)
		return;
	g_assert_cmpint(kf_get_raw(kf, "g", "other", &v, NULL), ==, 0);
	g_assert_cmpstr(v, ==, "preset");
	g_assert_cmpint(kf_get_raw(kf, "nogroup", "k", &w, NULL), ==, 0);
	g_assert_null(w);
	g_free(v);
	kf_free(&kf);
}

/* Whole-line comments only: a commented-out key is not a key. */
static void
test_comment_lines(void)
{
	struct kf *kf = load_ok("[g]\n# k = commented\n   # j = also\nk = real # tail\n", NULL);
	char *v = NULL;

	if (kf == NULL)
		return;
	g_assert_false(kf_has_key(kf, "g", "j"));
	g_assert_cmpint(kf_line(kf, "g", "k"), ==, 4);
	kf_get_raw(kf, "g", "k", &v, NULL);
	g_assert_cmpstr(v, ==, "real # tail");
	g_free(v);
	kf_free(&kf);
}

/* ---- uint -------------------------------------------------------------- */

struct uint_case {
	const char *name;
	const char *value;     /* NULL: key absent */
	guint64 min, max;
	int rc;
	guint64 want;          /* rc 0: *out afterwards */
};

static const struct uint_case uint_cases[] = {
	{ "absent-keeps-default", NULL, 1, 300, 0, 42 },
	{ "in-range", "10", 1, 300, 0, 10 },
	{ "min", "1", 1, 300, 0, 1 },
	{ "max", "300", 1, 300, 0, 300 },
	{ "below-min", "0", 1, 300, -1, 42 },
	{ "above-max", "301", 1, 300, -1, 42 },
	{ "negative", "-1", 0, 300, -1, 42 },
	{ "plus-sign", "+5", 0, 300, -1, 42 },
	{ "not-a-number", "ten", 0, 300, -1, 42 },
	{ "trailing-junk", "10s", 0, 300, -1, 42 },
	{ "empty", "", 0, 300, -1, 42 },
	{ "hex", "0x10", 0, 300, -1, 42 },
	{ "big", "1073741824", 1024, G_GUINT64_CONSTANT(1) << 30, 0, 1073741824 },
	{ "overflow", "99999999999999999999999", 0, G_MAXUINT64, -1, 42 },
	{ "zero-allowed", "0", 0, 86400, 0, 0 },
};

static void
test_uint(gconstpointer data)
{
	const struct uint_case *c = data;
	g_autofree char *text = c->value != NULL ?
	    g_strdup_printf("[g]\nother = 1\n\nn = %s\n", c->value) :
	    g_strdup("[g]\nother = 1\n");
	g_autofree char *path = NULL;
	struct kf *kf = load_ok(text, &path);
	g_autoptr(GError) err = NULL;
	guint64 out = 42;

	if (kf == NULL)
		return;
	g_assert_cmpint(kf_get_uint(kf, "g", "n", c->min, c->max, &out, &err), ==, c->rc);
	g_assert_cmpuint(out, ==, c->want);
	if (c->rc < 0) {
		g_autofree char *range = g_strdup_printf("from %" G_GUINT64_FORMAT " to %"
		    G_GUINT64_FORMAT, c->min, c->max);
		assert_line_error(err, path, 4, range);
		assert_line_error(err, path, 4, "n must be a whole number");
	} else {
		g_assert_no_error(err);
	}
	kf_free(&kf);
}

/* ---- bool -------------------------------------------------------------- */

struct bool_case {
	const char *value;
	int rc;
	gboolean want;
};

static const struct bool_case bool_cases[] = {
	{ "true", 0, TRUE }, { "TRUE", 0, TRUE }, { "yes", 0, TRUE }, { "Yes", 0, TRUE },
	{ "1", 0, TRUE }, { "false", 0, FALSE }, { "False", 0, FALSE }, { "no", 0, FALSE },
	{ "NO", 0, FALSE }, { "0", 0, FALSE },
	{ "maybe", -1, 7 }, { "", -1, 7 }, { "on", -1, 7 }, { "2", -1, 7 }, { "truee", -1, 7 },
};

static void
test_bool(gconstpointer data)
{
	const struct bool_case *c = data;
	g_autofree char *text = g_strdup_printf("[g]\nb = %s\n", c->value);
	g_autofree char *path = NULL;
	struct kf *kf = load_ok(text, &path);
	g_autoptr(GError) err = NULL;
	gboolean out = 7;

	if (kf == NULL)
		return;
	g_assert_cmpint(kf_get_bool(kf, "g", "b", &out, &err), ==, c->rc);
	g_assert_cmpint(out, ==, c->want);
	if (c->rc < 0)
		assert_line_error(err, path, 2, "b must be true or false");
	else
		g_assert_no_error(err);
	kf_free(&kf);
}

static void
test_bool_absent(void)
{
	struct kf *kf = load_ok("[g]\n", NULL);
	gboolean out = TRUE;

	if (kf == NULL)
		return;
	g_assert_cmpint(kf_get_bool(kf, "g", "b", &out, NULL), ==, 0);
	g_assert_true(out);
	out = FALSE;
	g_assert_cmpint(kf_get_bool(kf, "g", "b", &out, NULL), ==, 0);
	g_assert_false(out);
	kf_free(&kf);
}

/* ---- enum -------------------------------------------------------------- */

static const char *const colour_names[] = { "auto", "code", "text", NULL };

struct enum_case {
	const char *value;
	int rc;
	int want;
};

static const struct enum_case enum_cases[] = {
	{ "auto", 0, 0 }, { "code", 0, 1 }, { "text", 0, 2 }, { "TEXT", 0, 2 },
	{ "Code", 0, 1 }, { "bogus", -1, 9 }, { "", -1, 9 }, { "codes", -1, 9 },
	{ "auto;code", -1, 9 },
};

static void
test_enum(gconstpointer data)
{
	const struct enum_case *c = data;
	g_autofree char *text = g_strdup_printf("[g]\n\n\nsend = %s\n", c->value);
	g_autofree char *path = NULL;
	struct kf *kf = load_ok(text, &path);
	g_autoptr(GError) err = NULL;
	int out = 9;

	if (kf == NULL)
		return;
	g_assert_cmpint(kf_get_enum(kf, "g", "send", colour_names, &out, &err), ==, c->rc);
	g_assert_cmpint(out, ==, c->want);
	if (c->rc < 0) {
		g_autofree char *tail = g_strdup_printf("send must be one of auto, code, text, not '%s'",
		    c->value);
		assert_line_error(err, path, 4, tail);
	} else {
		g_assert_no_error(err);
	}
	kf_free(&kf);
}

/* ---- list -------------------------------------------------------------- */

struct list_case {
	const char *name;
	const char *value;
	const char *want;      /* items joined by '|' */
};

static const struct list_case list_cases[] = {
	{ "one", "a", "a" },
	{ "two", "a;b", "a|b" },
	{ "blanks-trimmed", "  a ;  b  ", "a|b" },
	{ "empties-dropped", ";a;;b;", "a|b" },
	{ "all-empty", " ; ; ", "" },
	{ "empty", "", "" },
	{ "inner-blank-kept", "unix:/run/x y;inet:127.0.0.1:1", "unix:/run/x y|inet:127.0.0.1:1" },
	{ "ids", "mx.example.net;mx.google.com", "mx.example.net|mx.google.com" },
};

static void
test_list(gconstpointer data)
{
	const struct list_case *c = data;
	g_autofree char *text = g_strdup_printf("[g]\nl = %s\n", c->value);
	struct kf *kf = load_ok(text, NULL);
	g_autoptr(GError) err = NULL;
	char **out = g_new0(char *, 2);
	g_autofree char *joined = NULL;

	if (kf == NULL)
		return;
	out[0] = g_strdup("old");
	g_assert_cmpint(kf_get_list(kf, "g", "l", &out, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_nonnull(out);
	joined = g_strjoinv("|", out);
	g_assert_cmpstr(joined, ==, c->want);
	g_strfreev(out);
	kf_free(&kf);
}

static void
test_list_absent(void)
{
	struct kf *kf = load_ok("[g]\n", NULL);
	char **out = NULL;

	if (kf == NULL)
		return;
	g_assert_cmpint(kf_get_list(kf, "g", "l", &out, NULL), ==, 0);
	g_assert_null(out);
	kf_free(&kf);
}

/* ---- check_keys, set_error --------------------------------------------- */

static void
test_check_keys(void)
{
	static const char *const allowed[] = { "url", "timeout", NULL };
	g_autofree char *path = NULL;
	struct kf *kf = load_ok("[push]\nurl = x\n# c\n\ntimeuot = 5\n[other]\nurl = y\n", &path);
	g_autoptr(GError) err = NULL;

	if (kf == NULL)
		return;
	g_assert_cmpint(kf_check_keys(kf, "push", allowed, &err), ==, -1);
	assert_line_error(err, path, 5, "unknown key 'timeuot' in [push]");
	g_clear_error(&err);
	g_assert_cmpint(kf_check_keys(kf, "other", allowed, &err), ==, 0);
	g_assert_no_error(err);
	g_assert_cmpint(kf_check_keys(kf, "absent", allowed, &err), ==, 0);
	g_assert_no_error(err);
	kf_free(&kf);
}

static void
test_set_error(void)
{
	g_autofree char *path = NULL;
	struct kf *kf = load_ok("\n[g]\nk = v\n", &path);
	GError *err = NULL;
	g_autofree char *w1 = NULL, *w2 = NULL, *w3 = NULL, *w4 = NULL;

	if (kf == NULL)
		return;
	w1 = g_strdup_printf("%s:3: bad thing 7", path);
	w2 = g_strdup_printf("%s:2: needs a host", path);
	w3 = g_strdup_printf("%s:2: group problem", path);
	w4 = g_strdup_printf("%s: x", path);
	kf_set_error(kf, &err, "g", "k", "bad %s %d", "thing", 7);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	g_assert_cmpstr(err->message, ==, w1);
	g_clear_error(&err);
	/* A key that is absent: the group's line. */
	kf_set_error(kf, &err, "g", "missing", "needs a host");
	g_assert_cmpstr(err->message, ==, w2);
	g_clear_error(&err);
	kf_set_error(kf, &err, "g", NULL, "group problem");
	g_assert_cmpstr(err->message, ==, w3);
	g_clear_error(&err);
	/* Nothing known: just the path. */
	kf_set_error(kf, &err, "absent", NULL, "x");
	g_assert_cmpstr(err->message, ==, w4);
	g_clear_error(&err);
	kf_free(&kf);
}

/* ---- main -------------------------------------------------------------- */

/* The test name of a row of bool_cases. */
static char *
bool_name(gsize i, gconstpointer row)
{
	const struct bool_case *c = row;

	return g_strdup_printf("%zu-%s", i, *c->value ? c->value : "empty");
}

/* The test name of a row of enum_cases. */
static char *
enum_name(gsize i, gconstpointer row)
{
	const struct enum_case *c = row;

	return g_strdup_printf("%zu-%s", i, *c->value ? c->value : "empty");
}

int
main(int argc, char **argv)
{
	int rc;

	g_test_init(&argc, &argv, NULL);
	/* Every row reports its own failure; the table goes on. */
	g_test_set_nonfatal_assertions();
	tmpdir = testutil_tmpdir_new("test-kf");

	TESTUTIL_ADD_ROWS("/kf/syntax", syntax_cases, test_syntax);
	g_test_add_func("/kf/missing", test_missing);
	g_test_add_func("/kf/too-big", test_too_big);
	g_test_add_func("/kf/lines-and-groups", test_lines_and_groups);
	TESTUTIL_ADD_ROWS("/kf/raw", raw_cases, test_raw);
	g_test_add_func("/kf/raw/absent", test_raw_absent);
	g_test_add_func("/kf/comment-lines", test_comment_lines);
	TESTUTIL_ADD_ROWS("/kf/uint", uint_cases, test_uint);
	TESTUTIL_ADD_ROWS_NAMED("/kf/bool", bool_cases, bool_name, test_bool);
	g_test_add_func("/kf/bool/absent", test_bool_absent);
	TESTUTIL_ADD_ROWS_NAMED("/kf/enum", enum_cases, enum_name, test_enum);
	TESTUTIL_ADD_ROWS("/kf/list", list_cases, test_list);
	g_test_add_func("/kf/list/absent", test_list_absent);
	g_test_add_func("/kf/check-keys", test_check_keys);
	g_test_add_func("/kf/set-error", test_set_error);

	rc = g_test_run();
	testutil_tmpdir_free(&tmpdir);
	return rc;
}
