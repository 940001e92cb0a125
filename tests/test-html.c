/*
 * test-html.c - html_to_text() against a table of inputs and the text a
 * reader sees (doc/core.md §2), plus hostile documents: deep nesting, a
 * flood of links, the output bound.
 */
#include "autoconfig.h"

#include <string.h>

#include "html.h"
#include "message.h"
#include "testutil.h"

#define TEST_MAX_OUT 65536

struct html_case {
	const char *name;
	const char *input;
	size_t len;		/* 0: strlen(input) */
	size_t max_out;		/* 0: TEST_MAX_OUT */
	const char *expected;
	const char *links;	/* "url|text" lines, or NULL: not checked */
};

static const struct html_case html_cases[] = {
	{ "plain", "hello", 0, 0, "hello", "" },
	{ "empty", "", 0, 0, "", "" },
	/* found by fuzz-message: gumbo turns a reference beyond any code
	 * point into a stray byte; the output must stay valid UTF-8 */
	{ "charref-beyond-unicode", "<p>Your code &#xbbbbbbbb; is 123456</p>", 0, 0,
	    "Your code \xef\xbf\xbd is 123456", NULL },
	{ "charref-in-href", "<a href=\"https://x.example/&#xbbbbbbbb;\">go</a>", 0, 0,
	    "go", "https://x.example/\xef\xbf\xbd|go" },
	{ "only-blanks", " \n\t&nbsp; ", 0, 0, "", NULL },
	{ "inline-spans-joined", "<span>1</span><span>2</span><span>3</span>",
	    0, 0, "123", NULL },
	{ "inline-spans-spaced", "<span>1</span> <span>2</span>", 0, 0, "1 2", NULL },
	{ "digit-per-td",
	    "<table><tr><td>1</td><td>2</td><td>3</td><td>4</td><td>5</td>"
	    "<td>6</td></tr></table>", 0, 0, "1 2 3 4 5 6", NULL },
	{ "td-blanks", "<table>\n <tr>\n  <td> 1 </td>\n  <td>\n2</td>\n </tr>\n</table>",
	    0, 0, "1 2", NULL },
	{ "table-rows", "<table><tr><td>a</td><th>b</th></tr><tr><td>c</td></tr></table>",
	    0, 0, "a b\nc", NULL },
	{ "entities", "&lt;code&gt; &amp; &quot;x&quot; &#49;&#x32; &eacute;",
	    0, 0, "<code> & \"x\" 12 \xc3\xa9", NULL },
	{ "nbsp-collapses", "a&nbsp;&nbsp; &nbsp;b", 0, 0, "a b", NULL },
	{ "br", "a<br>b", 0, 0, "a\nb", NULL },
	{ "br-br-blank-line", "a<br><br>b", 0, 0, "a\n\nb", NULL },
	{ "one-blank-line-max", "a<br><br><br><br>b<p></p><p></p><br><br>c",
	    0, 0, "a\n\nb\n\nc", NULL },
	{ "p", "<p>a</p><p>b</p>", 0, 0, "a\nb", NULL },
	{ "div-nested", "<div>a<div>b</div>c</div>", 0, 0, "a\nb\nc", NULL },
	{ "br-ends-block", "<div>a<br></div><div>b</div>", 0, 0, "a\nb", NULL },
	{ "style-dropped", "<style>p { color: red }</style><p>x</p>", 0, 0, "x", NULL },
	{ "script-dropped", "a<script>var code = 123456;</script>b", 0, 0, "ab", NULL },
	{ "comment-dropped", "a<!-- 654321 -->b", 0, 0, "ab", NULL },
	{ "head-dropped",
	    "<html><head><title>T 111111</title><meta charset=utf-8></head>"
	    "<body>x</body></html>", 0, 0, "x", NULL },
	{ "noscript-template-dropped",
	    "a<noscript>n</noscript><template>t</template>b", 0, 0, "ab", NULL },
	{ "preheader-display-none",
	    "<div style=\"display: none; max-height:0\">preview 999999</div>"
	    "<p>Your code is 123456</p>", 0, 0, "Your code is 123456", NULL },
	{ "display-none-uppercase", "<span style='DISPLAY : NONE !important'>x</span>y",
	    0, 0, "y", NULL },
	{ "visibility-hidden", "<p style=\"visibility:hidden\">x</p><p>y</p>", 0, 0, "y", NULL },
	{ "mso-hide", "<div style=\"mso-hide:all\">x</div>y", 0, 0, "y", NULL },
	{ "hidden-attribute", "<div hidden>x</div><div>y</div>", 0, 0, "y", NULL },
	{ "nested-inline",
	    "<b>Your <i>code</i> is <span><strong>42</strong><em>17</em></span></b>",
	    0, 0, "Your code is 4217", NULL },
	{ "font-u-small", "<font size=2>1</font><u>2</u><small>3</small><code>4</code>",
	    0, 0, "1234", NULL },
	{ "whitespace-collapse", "  a \n\t b  ", 0, 0, "a b", NULL },
	{ "lines-trimmed", "<p>  a  </p>\n\n<p>  b </p>", 0, 0, "a\nb", NULL },
	{ "list", "<ul><li>a</li><li>b</li></ul><ol><li>c</ol>", 0, 0, "a\nb\nc", NULL },
	{ "headings", "<h1>Title</h1>text<h6>end</h6>", 0, 0, "Title\ntext\nend", NULL },
	{ "hr", "a<hr>b", 0, 0, "a\nb", NULL },
	{ "pre-keeps-lines", "<pre>a  b\nc</pre>", 0, 0, "a b\nc", NULL },

	/*
	 * Hidden by the mail's own <style> (doc/core.md §2): class, id, tag,
	 * lists, descendant and child selectors, @media without a feature
	 * test; the cascade (specificity, !important, style="").
	 */
	{ "css-class-display-none",
	    "<style>.preheader { display: none }</style>"
	    "<span class=\"preheader\">Code 999999</span><p>Your code is 123456</p>",
	    0, 0, "Your code is 123456", NULL },
	{ "css-id-important", "<style>#pre{display:none !important}</style>"
	    "<div id=\"PRE\">111111</div>x", 0, 0, "x", NULL },
	{ "css-tag-class", "<style>span.hide{visibility:hidden}</style>"
	    "<span class=hide>1</span><div class=hide>2</div>", 0, 0, "2", NULL },
	{ "css-selector-list", "<style>.a, .b ,p.c{display:none}</style>"
	    "<p class=a>1</p><p class=b>2</p><p class=c>4</p><p>3</p>", 0, 0, "3", NULL },
	{ "css-one-of-many-classes", "<style>.preheader{display:none}</style>"
	    "<p class=\"x  Preheader\ty\">1</p>2", 0, 0, "2", NULL },
	{ "css-media-screen-applies", "<style>@media screen { .h { display:none } }</style>"
	    "<p class=h>1</p>2", 0, 0, "2", NULL },
	{ "css-media-feature-not-applied",
	    "<style>@media only screen and (max-width:600px){.desk{display:none}}</style>"
	    "<p class=desk>Code 123456</p>", 0, 0, "Code 123456", NULL },
	{ "css-descendant", "<style>.wrap .pre{display:none}</style>"
	    "<div class=wrap><div><p class=pre>1</p></div></div><p class=pre>2</p>", 0, 0, "2", NULL },
	{ "css-child", "<style>div > .pre{display:none}</style>"
	    "<div><span><b class=pre>1</b></span><b class=pre>2</b></div>", 0, 0, "1", NULL },
	{ "css-child-then-descendant", "<style>.a > .b .c{display:none}</style>"
	    "<div class=a><div class=b><div class=b><i class=c>1</i></div></div></div>"
	    "<div class=b><i class=c>2</i></div>", 0, 0, "2", NULL },
	{ "css-pseudo-and-attribute-ignored",
	    "<style>.x:hover{display:none} [class=y]{display:none} .z + .z{display:none}</style>"
	    "<p class=x>1</p><p class=y>2</p><p class=z>3</p><p class=z>4</p>",
	    0, 0, "1\n2\n3\n4", NULL },
	{ "css-inline-beats-rule", "<style>.pre{display:none}</style>"
	    "<p class=pre style=\"display:block\">1</p>", 0, 0, "1", NULL },
	{ "css-important-beats-inline", "<style>.pre{display:none!important}</style>"
	    "<p class=pre style=\"display:block\">1</p>2", 0, 0, "2", NULL },
	{ "css-specificity", "<style>#a{display:block} .b{display:none} p.c{display:none}"
	    " .c{display:block}</style><p id=a class=b>1</p><p class=c>2</p>", 0, 0, "1", NULL },
	{ "css-later-rule-wins", "<style>.b{display:none} .b{display:block}</style>"
	    "<p class=b>1</p>", 0, 0, "1", NULL },
	{ "css-comments-and-cdo", "<style><!-- /* .x{display:block} */ .x{display:none} --></style>"
	    "<p class=x>1</p>2", 0, 0, "2", NULL },
	{ "css-at-rules-skipped",
	    "<style>@import url(x.css); @font-face{font-family:F;src:url(f.woff)}"
	    " @supports (display:grid){.x{display:block}} .x{display:none}</style>"
	    "<p class=x>1</p>2", 0, 0, "2", NULL },
	{ "css-style-in-body", "<p class=late>1</p>2<style>.late{display:none}</style>",
	    0, 0, "2", NULL },
	{ "css-class-mso-hide", "<style>.m{mso-hide:all}</style><p class=m>1</p>2", 0, 0, "2", NULL },
	/* Zero size, zero opacity, clipped to nothing. */
	{ "font-size-zero", "<div style=\"font-size:0\">999999<span style=\"font-size:16px\">"
	    "Code 123456</span></div>", 0, 0, "Code 123456", NULL },
	{ "font-size-zero-em-child", "<div style=\"font-size:0px\"><span style=\"font-size:2em\">"
	    "1</span></div>x", 0, 0, "x", NULL },
	{ "font-size-zero-class", "<style>.t{font-size:0pt;line-height:0}</style>"
	    "<p class=t>1</p>2", 0, 0, "2", NULL },
	{ "max-height-zero-overflow-hidden", "<div style=\"max-height:0;overflow:hidden\">1</div>2",
	    0, 0, "2", NULL },
	{ "max-height-zero-alone-shown", "<div style=\"max-height:0px\">1</div><div>2</div>",
	    0, 0, "1\n2", NULL },
	{ "height-zero-overflow-class", "<style>.c{overflow:hidden}</style>"
	    "<div class=c style=\"height:0\">1</div>2", 0, 0, "2", NULL },
	{ "width-zero-overflow-hidden", "<div style=\"width:0;max-height:none;overflow:hidden\">1</div>2",
	    0, 0, "2", NULL },
	{ "opacity-zero", "<span style=\"opacity:0\">1</span>2<span style=\"opacity:0.5\">3</span>",
	    0, 0, "23", NULL },
	{ "visibility-visible-child", "<div style=\"visibility:hidden\">1<span style=\"visibility:"
	    "visible\">2</span></div>", 0, 0, "2", NULL },
	/* Coloured like the background. */
	{ "white-on-default-white", "<span style=\"color:#fff\">999999</span> <span>123456</span>",
	    0, 0, "123456", NULL },
	{ "white-forms", "<p style=\"color:#FFFFFF\">1</p><p style=\"color:White\">2</p>"
	    "<p style=\"color:rgb(255, 255, 255)\">3</p><p style=\"color:rgb(100%,100%,100%)\">4</p>"
	    "<p style=\"color:#fefefe\">5</p><p>6</p>", 0, 0, "6", NULL },
	{ "transparent-text", "<p style=\"color:rgba(0,0,0,0)\">1</p><p style=\"color:transparent\">"
	    "2</p><p style=\"color:#0000\">3</p><p style=\"color:rgba(0,0,0,.8)\">4</p>", 0, 0, "4", NULL },
	{ "same-colour-on-dark", "<table><tr><td style=\"background-color:#000\">"
	    "<span style=\"color:#000000\">1</span><span style=\"color:#fff\">2</span></td></tr></table>",
	    0, 0, "2", NULL },
	{ "bgcolor-attribute", "<table bgcolor=\"#1a73e8\"><tr><td style=\"color:#1A73E8\">1</td>"
	    "<td style=\"color:#ffffff\">2</td></tr></table>", 0, 0, "2", NULL },
	{ "background-shorthand", "<div style=\"background:#222 none\"><p style=\"color:#222222\">1</p>"
	    "<p style=\"color:#fff\">2</p></div>", 0, 0, "2", NULL },
	{ "background-image-unknown", "<table><tr><td style=\"background:url(x.png) #ffffff;"
	    "color:#ffffff\">123456</td><td background=\"y.png\"><font color=\"#fff\">7</font>"
	    "</td></tr></table>", 0, 0, "123456 7", NULL },
	{ "font-color-attribute", "<font color=\"white\">1</font>2", 0, 0, "2", NULL },
	{ "link-colour-not-inherited", "<div style=\"color:#fff\"><a href=\"https://x.example/\">"
	    "Verify</a></div>", 0, 0, "Verify", "https://x.example/|Verify" },
	{ "css-class-colour", "<style>.ghost{color:#ffffff}</style><p class=ghost>1</p><p>2</p>",
	    0, 0, "2", NULL },
	{ "css-body-dark", "<style>body{background-color:#111}</style><body>"
	    "<p style=\"color:#fff\">1</p><p style=\"color:#111\">2</p></body>", 0, 0, "1", NULL },
	{ "colour-unknown-name-shown", "<div style=\"background:darkslateblue\">"
	    "<p style=\"color:#fff\">1</p></div>", 0, 0, "1", NULL },
	/* A rule we cannot match paints: colour and size are not judged. */
	{ "css-unsure-paint", "<style>td:first-child{background:#000}</style>"
	    "<table><tr><td style=\"color:#fff\">123456</td></tr></table>", 0, 0, "123456", NULL },
	{ "css-unsure-neutral-ignored", "<style>a[x-apple-data-detectors]{color:inherit!important}"
	    "</style><p style=\"color:#fff\">1</p>2", 0, 0, "2", NULL },
	{ "zero-width-dropped", "1&zwnj;2&#8203;3&shy;4&#xFEFF;", 0, 0, "1234", NULL },
	{ "unclosed-tags", "<p>a<p>b<div>c", 0, 0, "a\nb\nc", NULL },
	{ "japanese", "<p>\xe7\xa2\xba\xe8\xaa\x8d\xe3\x82\xb3\xe3\x83\xbc\xe3\x83\x89"
	    "\xef\xbc\x9a<b>123456</b></p>", 0, 0,
	    "\xe7\xa2\xba\xe8\xaa\x8d\xe3\x82\xb3\xe3\x83\xbc\xe3\x83\x89"
	    "\xef\xbc\x9a" "123456", NULL },
	{ "link-with-text",
	    "<a href=\" https://x.example/login?a=1&amp;b=2 \">Sign <b>in</b>\n now</a>",
	    0, 0, "Sign in now", "https://x.example/login?a=1&b=2|Sign in now" },
	{ "links-several",
	    "<a href='u1'>one</a> <a>two</a> <a href=''>three</a> <a href='u4'></a>",
	    0, 0, "one two three", "u1|one\nu4|" },
	{ "link-block-inside", "<a href='u'><div>Verify</div><div>email</div></a>",
	    0, 0, "Verify\nemail", "u|Verify email" },
	{ "link-hidden-dropped", "<div style='display:none'><a href='u'>x</a></div>",
	    0, 0, "", "" },
	{ "bound-ascii", "<p>abcdef</p>", 0, 3, "abc", NULL },
	{ "bound-utf8-boundary", "\xc3\xa9\xc3\xa9", 0, 3, "\xc3\xa9", NULL },
	{ "bound-zero", "abc", 0, 1, "a", NULL },
	{ "bound-no-trailing-break", "a<br>b", 0, 2, "a", NULL },
	{ "invalid-utf8", "a\xff" "b\xc3", 0, 0, "a\xef\xbf\xbd" "b\xef\xbf\xbd", NULL },
	{ "nul-byte", "a\0b", 3, 0, "a\xef\xbf\xbd" "b", NULL },
	{ "cdata-svg", "<svg><![CDATA[42]]></svg>x", 0, 0, "42x", NULL },
};

/* The links as "url|text" lines. */
static char *
links_string(GPtrArray *links)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < links->len; i++) {
		const struct link *l = links->pdata[i];

		g_string_append_printf(s, "%s%s|%s", i > 0 ? "\n" : "", l->url, l->text);
	}
	return g_string_free(s, FALSE);
}

static void
test_html_case(gconstpointer data)
{
	const struct html_case *c = data;
	GPtrArray *links = g_ptr_array_new_with_free_func(link_free);
	size_t len = c->len != 0 ? c->len : strlen(c->input);
	size_t max = c->max_out != 0 ? c->max_out : TEST_MAX_OUT;
	char *text = html_to_text(c->input, len, max, links);

	g_assert_true(g_utf8_validate(text, -1, NULL));
	g_assert_cmpuint(strlen(text), <=, max);
	g_assert_cmpstr(text, ==, c->expected);
	if (c->links != NULL) {
		char *got = links_string(links);

		g_assert_cmpstr(got, ==, c->links);
		g_free(got);
	}
	g_free(text);
	g_ptr_array_unref(links);
}

/* n copies of s. */
static char *
repeat(const char *s, guint n)
{
	GString *out = g_string_sized_new(strlen(s) * n + 1);

	for (guint i = 0; i < n; i++)
		g_string_append(out, s);
	return g_string_free(out, FALSE);
}

/* Hostile nesting must neither crash (stack) nor take long (gumbo's cost). */
static void
test_html_deep(void)
{
	static const char *const opens[] = {
		"<div>", "<b>", "<span>", "<table><tr><td>", "<a href=u>",
		"<a href=u><table><tr><td>", "<p><b>x", "<li><ul>", "<font><i><u>",
	};

	for (guint i = 0; i < G_N_ELEMENTS(opens); i++) {
		char *body = repeat(opens[i], 100000);
		char *doc = g_strconcat("start<br>", body, "deep", NULL);
		GPtrArray *links = g_ptr_array_new_with_free_func(link_free);
		gint64 t0 = g_get_monotonic_time();
		char *text = html_to_text(doc, strlen(doc), TEST_MAX_OUT, links);
		gint64 ms = (g_get_monotonic_time() - t0) / 1000;

		g_test_message("%s x 100000: %" G_GINT64_FORMAT " ms", opens[i], ms);
		g_assert_true(g_str_has_prefix(text, "start"));
		g_assert_cmpint(ms, <, 5000);
		g_free(text);
		g_free(body);
		g_free(doc);
		g_ptr_array_unref(links);
	}
}

/*
 * Hostile style sheets: many rules, selectors that backtrack over deep
 * nesting, a sheet larger than the bound.  The work is bounded; the text
 * outside them still comes out, and soon.
 */
static void
test_html_css_hostile(void)
{
	static const char *const sheets[] = {
		".a .a .a .a .a .a .a .b{display:none}",
		"* * * * * * * *{color:#fff}",
		"div div div div div div div p{visibility:hidden}",
		".a>.a .a>.a .a .a .a .b{font-size:0}",
		"@media screen{.a .a .a .a .a .a .a .a{opacity:0}}",
	};

	for (guint i = 0; i < G_N_ELEMENTS(sheets); i++) {
		char *rules = repeat(sheets[i], 5000);
		char *nest = repeat("<div class=a>", 3000);
		char *doc = g_strconcat("<style>", rules, "</style>start<br>", nest,
		    "<p class=b>deep</p>", NULL);
		gint64 t0 = g_get_monotonic_time();
		char *text = html_to_text(doc, strlen(doc), TEST_MAX_OUT, NULL);
		gint64 ms = (g_get_monotonic_time() - t0) / 1000;

		g_test_message("sheet %u x 5000, 3000 deep: %" G_GINT64_FORMAT " ms", i, ms);
		g_assert_true(g_str_has_prefix(text, "start"));
		g_assert_cmpint(ms, <, 5000);
		g_free(text);
		g_free(doc);
		g_free(nest);
		g_free(rules);
	}
}

/* A flood of links is capped; big output stays within the bound. */
static void
test_html_floods(void)
{
	char *doc = repeat("<a href='https://x.example/'>0123456789</a><br>", 5000);
	GPtrArray *links = g_ptr_array_new_with_free_func(link_free);
	char *text = html_to_text(doc, strlen(doc), 1000, links);

	g_assert_cmpuint(strlen(text), <=, 1000);
	g_assert_true(g_str_has_prefix(text, "0123456789\n0123456789\n"));
	g_free(text);
	g_ptr_array_set_size(links, 0);
	text = html_to_text(doc, strlen(doc), 1024 * 1024, links);
	g_assert_cmpuint(links->len, ==, 1000);
	g_assert_cmpuint(strlen(text), ==, 5000 * 11 - 1);
	g_free(text);
	g_free(doc);
	g_ptr_array_unref(links);

	/* links may be NULL */
	text = html_to_text("<a href=u>x</a>", 15, 100, NULL);
	g_assert_cmpstr(text, ==, "x");
	g_free(text);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	TESTUTIL_ADD_ROWS("/html", html_cases, test_html_case);
	g_test_add_func("/html/deep-nesting", test_html_deep);
	g_test_add_func("/html/floods", test_html_floods);
	g_test_add_func("/html/css-hostile", test_html_css_hostile);
	return g_test_run();
}
