/*
 * test-regex.c - regex.c: caseless UTF-8 matching, extraction of group
 * "code" / group 1 / the whole match, error offsets, resource limits.
 */
#include "autoconfig.h"

#include <string.h>

#include "regex.h"
#include "util.h"
#include "testutil.h"

/* Compiles pattern; asserts success. */
static struct regex *
compile_ok(const char *pattern)
{
	g_autoptr(GError) err = NULL;
	struct regex *re = regex_new(pattern, &err);

	g_assert_no_error(err);
	g_assert_nonnull(re);
	return re;
}

/* ---- matching ---------------------------------------------------------- */

struct match_case {
	const char *name;
	const char *pattern;
	const char *subject;
	gboolean want;
};

static const struct match_case match_cases[] = {
	{ "plain", "code", "your code is", TRUE },
	{ "caseless-ascii", "verification", "Your VERIFICATION code", TRUE },
	{ "caseless-pattern-upper", "GITHUB", "noreply@github.com", TRUE },
	{ "escaped-dot", "@github\\.com$", "noreply@github.com", TRUE },
	{ "escaped-dot-no-any", "@github\\.com$", "noreply@githubxcom", FALSE },
	{ "anchored-end", "@github\\.com$", "noreply@github.com.evil.org", FALSE },
	{ "alternation", "code|verif|sign.?in", "Sign-in attempt", TRUE },
	{ "alternation-miss", "code|verif|sign.?in", "Newsletter", FALSE },
	{ "umlaut", "bestätigung", "Ihre Bestätigung", TRUE },
	{ "umlaut-caseless", "ü", "GRÜN", TRUE },
	{ "umlaut-caseless-rev", "Ü", "grün", TRUE },
	{ "umlaut-not-u", "grün", "grun", FALSE },
	{ "dot-is-one-char", "^gr.n$", "grün", TRUE },
	{ "cjk", "验证码", "您的验证码是 123456", TRUE },
	{ "cjk-miss", "验证码", "您的代码是 123456", FALSE },
	{ "cjk-class", "^[验证码]{3}$", "验证码", TRUE },
	{ "ucp-word", "^\\w+$", "Größe", TRUE },
	{ "ucp-digit", "\\d{3}", "١٢٣", TRUE },
	{ "greek-caseless", "κωδικός", "ΚΩΔΙΚΌΣ", TRUE },
	{ "empty-subject", "x", "", FALSE },
	{ "empty-subject-anchor", "^$", "", TRUE },
	{ "invalid-utf8-subject", "\\d{6}", "\xff\xfe 123456", TRUE },
	{ "invalid-utf8-subject-miss", "abc", "\xff\xfe", FALSE },
};

static void
test_match(gconstpointer data)
{
	const struct match_case *c = data;
	struct regex *re = compile_ok(c->pattern);

	if (re == NULL)
		return;
	g_assert_cmpint(regex_match(re, c->subject, strlen(c->subject)), ==, c->want);
	g_assert_cmpstr(regex_pattern(re), ==, c->pattern);
	regex_free(&re);
	g_assert_null(re);
}

/* The length is honoured: bytes past len are not seen. */
static void
test_match_len(void)
{
	struct regex *re = compile_ok("secret");
	const char *s = "no match here secret";

	g_assert_false(regex_match(re, s, 13));
	g_assert_true(regex_match(re, s, strlen(s)));
	regex_free(&re);
}

/* Embedded NUL inside len is part of the subject. */
static void
test_match_nul(void)
{
	struct regex *re = compile_ok("a\\x00b");
	static const char s[] = { 'x', 'a', '\0', 'b' };

	g_assert_true(regex_match(re, s, sizeof(s)));
	regex_free(&re);
}

/* ---- extraction -------------------------------------------------------- */

struct extract_case {
	const char *name;
	const char *pattern;
	const char *subject;
	const char *want;      /* NULL: no match */
};

static const struct extract_case extract_cases[] = {
	{ "named-code", "code: (?<code>\\d+)", "Your code: 123456.", "123456" },
	{ "named-code-not-first", "(\\w+) (?<code>\\d{4})", "PIN 4821 ok", "4821" },
	{ "named-code-python", "(?P<code>[A-Z0-9]{6})", "token ab12cd", "ab12cd" },
	{ "group-1", "code[: ]+(\\d+)", "CODE 98765", "98765" },
	{ "group-1-of-two", "(\\d{3})-(\\d{3})", "call 123-456", "123" },
	{ "whole-match", "\\d{6}", "is 654321 now", "654321" },
	{ "whole-match-noncapturing", "(?:G-)\\d{6}", "use G-112233", "G-112233" },
	{ "group-1-unset-falls-back", "\\d{6}|(x)", "code 777777", "777777" },
	{ "named-unset-falls-back", "(?<code>[a-z]{9})|\\d{4}", "pin 1234", "1234" },
	{ "utf8-group", "验证码[:：]\\s*(\\d+)", "您的验证码：246810，请勿泄露", "246810" },
	{ "utf8-whole", "grü\\w+", "GRÜNE Wiese", "GRÜNE" },
	{ "caseless-extract", "CODE=(\\w+)", "code=AbC", "AbC" },
	{ "empty-group", "x()y", "xy", "" },
	{ "no-match", "code: (\\d+)", "nothing here", NULL },
	{ "no-match-named", "(?<code>\\d{6})", "12345", NULL },
};

static void
test_extract(gconstpointer data)
{
	const struct extract_case *c = data;
	struct regex *re = compile_ok(c->pattern);
	g_autofree char *got = NULL;

	if (re == NULL)
		return;
	got = regex_extract(re, c->subject, strlen(c->subject));
	g_assert_cmpstr(got, ==, c->want);
	/* The same object extracts again (match data reused). */
	g_free(got);
	got = regex_extract(re, c->subject, strlen(c->subject));
	g_assert_cmpstr(got, ==, c->want);
	regex_free(&re);
}

/* ---- compile errors ---------------------------------------------------- */

struct error_case {
	const char *name;
	const char *pattern;
	int offset;
	const char *want;      /* part of PCRE2's message */
};

static const struct error_case error_cases[] = {
	{ "open-paren", "(", 1, "missing closing parenthesis" },
	{ "open-paren-late", "abc(def", 7, "missing closing parenthesis" },
	{ "close-paren", "a)", 1, "unmatched closing parenthesis" },
	{ "open-class", "[a", 2, "missing terminating ]" },
	{ "quantifier-order", "a{2,1}", 5, "numbers out of order" },
	{ "leading-quantifier", "*a", 0, "quantifier does not follow a repeatable item" },
	{ "trailing-backslash", "abc\\", 4, "\\ at end of pattern" },
	{ "utf8-byte-offset", "验证码(", 10, "missing closing parenthesis" },
	{ "bad-group-name", "x(?P<1a>y)", 5, "subpattern name" },
	/* Backreferences escape the step limit (time grows with the square
	 * of the subject), so they are refused outright. */
	{ "backreference", "^(a+)\\1+$", 0, "backreferences are not allowed" },
	{ "named-backreference", "(?<x>a)\\k<x>", 0, "backreferences are not allowed" },
};

static void
test_error(gconstpointer data)
{
	const struct error_case *c = data;
	g_autoptr(GError) err = NULL;
	struct regex *re = regex_new(c->pattern, &err);
	g_autofree char *prefix = g_strdup_printf("pattern error at offset %d: ", c->offset);

	g_assert_null(re);
	g_assert_error(err, OTPB_ERROR, OTPB_ERROR_CONFIG);
	if (err == NULL)
		return;
	if (!g_str_has_prefix(err->message, prefix))
		g_test_message("got '%s', want prefix '%s'", err->message, prefix);
	g_assert_true(g_str_has_prefix(err->message, prefix));
	g_assert_nonnull(strstr(err->message, c->want));
}

static void
test_error_null_gerror(void)
{
	g_assert_null(regex_new("(", NULL));
}

/* ---- resource limits --------------------------------------------------- */

struct limit_case {
	const char *name;
	const char *pattern;
	gsize n;               /* 'a' repeated n times, then the tail */
	const char *tail;
};

static const struct limit_case limit_cases[] = {
	{ "nested-plus", "^(a+)+$", 100000, "b" },
	{ "nested-star", "^(a*)*$", 100000, "b" },
	{ "alternation", "^(a|a)+$", 100000, "b" },
	{ "alternation-aa", "^(a|aa)+$", 100000, "b" },
	{ "nested-plus-short", "^(a+)+$", 40, "!" },
	{ "nested-plus-unanchored", "(a+)+b", 100000, "" },
};

static void
test_limit(gconstpointer data)
{
	const struct limit_case *c = data;
	struct regex *re = compile_ok(c->pattern);
	g_autofree char *as = g_strnfill(c->n, 'a');
	g_autofree char *subject = g_strconcat(as, c->tail, NULL);
	gint64 t0, elapsed;
	gboolean m;
	g_autofree char *x = NULL;

	if (re == NULL)
		return;
	/* Not a speed test: a bounded match takes milliseconds and an unbounded
	 * one minutes, so 30 s only catches a limit that does not work. */
	t0 = g_get_monotonic_time();
	m = regex_match(re, subject, strlen(subject));
	elapsed = g_get_monotonic_time() - t0;
	g_test_message("%s: match %" G_GINT64_FORMAT " us", c->name, elapsed);
	g_assert_false(m);
	g_assert_cmpint(elapsed, <, 30 * G_USEC_PER_SEC);
	if (elapsed < 30 * G_USEC_PER_SEC) {
		t0 = g_get_monotonic_time();
		x = regex_extract(re, subject, strlen(subject));
		elapsed = g_get_monotonic_time() - t0;
		g_assert_null(x);
		g_assert_cmpint(elapsed, <, 30 * G_USEC_PER_SEC);
	}
	regex_free(&re);
}

/* After a match hit a limit, the same object still matches normally. */
static void
test_limit_then_normal(void)
{
	struct regex *re = compile_ok("^(a+)+$");
	g_autofree char *as = g_strnfill(100000, 'a');
	g_autofree char *bad = g_strconcat(as, "b", NULL);

	g_assert_false(regex_match(re, bad, strlen(bad)));
	g_assert_true(regex_match(re, "aaaa", 4));
	regex_free(&re);
}

/* A long subject of a harmless pattern still matches (limits not too low). */
static void
test_long_subject(void)
{
	struct regex *re = compile_ok("code:\\s*(\\d{6})");
	GString *s = g_string_new(NULL);
	g_autofree char *x = NULL;

	for (int i = 0; i < 50000; i++)
		g_string_append(s, "lorem ipsum ");
	g_string_append(s, "code: 135790");
	x = regex_extract(re, s->str, s->len);
	g_assert_cmpstr(x, ==, "135790");
	g_string_free(s, TRUE);
	regex_free(&re);
}

static void
test_free_null(void)
{
	struct regex *re = NULL;

	regex_free(&re);
	g_assert_null(re);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();

	TESTUTIL_ADD_ROWS("/regex/match", match_cases, test_match);
	g_test_add_func("/regex/match/len", test_match_len);
	g_test_add_func("/regex/match/nul", test_match_nul);
	TESTUTIL_ADD_ROWS("/regex/extract", extract_cases, test_extract);
	TESTUTIL_ADD_ROWS("/regex/error", error_cases, test_error);
	g_test_add_func("/regex/error/null-gerror", test_error_null_gerror);
	TESTUTIL_ADD_ROWS("/regex/limit", limit_cases, test_limit);
	g_test_add_func("/regex/limit/then-normal", test_limit_then_normal);
	g_test_add_func("/regex/long-subject", test_long_subject);
	g_test_add_func("/regex/free-null", test_free_null);
	return g_test_run();
}
