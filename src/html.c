/*
 * html.c - HTML to the text a reader sees (doc/core.md §2), with gumbo.
 *
 * The input is a real HTML5 parse (never pattern matching): the tree is
 * walked without recursion, hidden subtrees are dropped, block elements
 * end lines, table cells of a row are joined by one space, inline runs are
 * joined as rendered, whitespace is collapsed within lines, lines are
 * trimmed and at most one blank line is kept.  <a href> gives a link.
 *
 * Hostile input: the whole HTML body of a mail.  It may be invalid UTF-8
 * (made valid first, since gumbo requires UTF-8), nest elements without
 * end (the walk keeps its own stack), or be built to make gumbo slow:
 * gumbo scans its stack of open elements for every tag, so a document of
 * 100 000 nested <div>s costs seconds and a flood of tags costs memory.
 *
 * Limits: HTML_INPUT_MAX bytes of input, HTML_TAGS_MAX tags and
 * HTML_WORK_MAX estimated parser work (the input is cut before the tag
 * that would exceed them), max_out bytes of output (cut on a character
 * boundary), HTML_LINKS_MAX links, HTML_URL_MAX bytes per href (longer
 * ones are dropped), HTML_ANCHOR_MAX bytes of text per link, and
 * HTML_ANCHOR_DEPTH links collected inside one another.
 */
#include "autoconfig.h"

#include <string.h>

#include <gumbo.h>

#include "html.h"
#include "message.h"

#define HTML_INPUT_MAX	(4 * 1024 * 1024)
#define HTML_TAGS_MAX	100000
#define HTML_WORK_MAX	(32 * 1000 * 1000)
#define HTML_LINKS_MAX	1000
#define HTML_URL_MAX	(16 * 1024)
#define HTML_ANCHOR_MAX	1024
#define HTML_ANCHOR_DEPTH 8	/* open <a> collected at once (table cells nest them) */

/* What an element does to the text around it. */
enum html_kind {
	HTML_INLINE,
	HTML_BLOCK,	/* starts and ends a line */
	HTML_BREAK,	/* <br>: a line break */
	HTML_CELL,	/* <td>, <th>: one space from the previous cell */
	HTML_SKIP,	/* produces nothing, nor do its children */
};

/* Text of one <a href> being collected. */
struct html_anchor {
	char *url;
	GString *text;
	gboolean space;	/* a blank is pending in text */
};

/* One open element of the walk: the node and the next child to visit. */
struct html_frame {
	GumboNode *node;
	guint next;
	enum html_kind kind;
	gboolean anchor;	/* pushed an html_anchor */
	gboolean pre;		/* a <pre> element */
};

struct html_out {
	GString *out;
	size_t max_out;
	guint newlines;		/* pending line breaks (0, 1 or 2) */
	gboolean space;		/* a blank is pending */
	gboolean full;		/* max_out reached: stop */
	guint pre;		/* depth of <pre> elements */
	GPtrArray *anchors;	/* struct html_anchor *: open <a href> */
	GPtrArray *links;	/* where finished links go, or NULL */
};

/* TRUE for the elements whose end tag is optional (they close themselves). */
static gboolean
html_self_closing_name(const char *name, size_t n)
{
	static const char *const names[] = {
		"p", "li", "td", "th", "tr", "dt", "dd", "option", "optgroup",
		"tbody", "thead", "tfoot", "colgroup", "rb", "rt", "rp",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
		if (strlen(names[i]) == n && g_ascii_strncasecmp(names[i], name, n) == 0)
			return TRUE;
	return FALSE;
}

/* TRUE for void elements: they never hold children. */
static gboolean
html_void_name(const char *name, size_t n)
{
	static const char *const names[] = {
		"br", "img", "hr", "meta", "link", "input", "col", "area",
		"base", "wbr", "source", "track", "embed", "param", "keygen",
	};

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
		if (strlen(names[i]) == n && g_ascii_strncasecmp(names[i], name, n) == 0)
			return TRUE;
	return FALSE;
}

/*
 * Returns how many bytes of s gumbo may parse.  Gumbo's cost per tag grows
 * with the depth of open elements, so estimate the depth from the tags and
 * cut before the tag that makes the total cost, or the tag count, too big.
 * XXX: an estimate (end tags are trusted, raw text is not skipped); it only
 * cuts documents that are hostile or absurdly large.
 */
static size_t
html_parse_len(const char *s, size_t len)
{
	guint64 work = 0;
	size_t depth = 0, tags = 0;

	for (size_t i = 0; i + 1 < len; i++) {
		size_t j, n;

		if (s[i] != '<')
			continue;
		if (s[i + 1] == '/') {
			work += depth;
			if (depth > 0)
				depth--;
			continue;
		}
		if (!g_ascii_isalpha(s[i + 1]))
			continue;
		for (j = i + 1; j < len && g_ascii_isalnum(s[j]); j++)
			;
		n = j - (i + 1);
		work += depth + 1;
		if (++tags > HTML_TAGS_MAX || work > HTML_WORK_MAX)
			return i;
		if (!html_void_name(s + i + 1, n) && !html_self_closing_name(s + i + 1, n))
			depth++;
	}
	return len;
}

/* TRUE when the element's style or hidden attribute hides it. */
static gboolean
html_hidden(const GumboElement *el)
{
	const GumboAttribute *a;
	char *style, *w;
	gboolean hidden;

	if (gumbo_get_attribute(&el->attributes, "hidden") != NULL)
		return TRUE;
	a = gumbo_get_attribute(&el->attributes, "style");
	if (a == NULL || a->value == NULL)
		return FALSE;
	/* Lower-cased, without blanks: "Display : NONE" is "display:none". */
	style = g_ascii_strdown(a->value, -1);
	w = style;
	for (const char *p = style; *p != '\0'; p++)
		if (!g_ascii_isspace(*p))
			*w++ = *p;
	*w = '\0';
	hidden = strstr(style, "display:none") != NULL ||
	    strstr(style, "visibility:hidden") != NULL ||
	    strstr(style, "mso-hide:all") != NULL;
	g_free(style);
	return hidden;
}

/* How the element affects the text (doc/core.md §2). */
static enum html_kind
html_kind_of(const GumboElement *el)
{
	switch (el->tag) {
	case GUMBO_TAG_HEAD:
	case GUMBO_TAG_STYLE:
	case GUMBO_TAG_SCRIPT:
	case GUMBO_TAG_TEMPLATE:
	case GUMBO_TAG_NOSCRIPT:
	case GUMBO_TAG_TITLE:
		return HTML_SKIP;
	case GUMBO_TAG_BR:
		return HTML_BREAK;
	case GUMBO_TAG_TD:
	case GUMBO_TAG_TH:
		return HTML_CELL;
	case GUMBO_TAG_P:
	case GUMBO_TAG_DIV:
	case GUMBO_TAG_TR:
	case GUMBO_TAG_LI:
	case GUMBO_TAG_H1:
	case GUMBO_TAG_H2:
	case GUMBO_TAG_H3:
	case GUMBO_TAG_H4:
	case GUMBO_TAG_H5:
	case GUMBO_TAG_H6:
	case GUMBO_TAG_TABLE:
	case GUMBO_TAG_UL:
	case GUMBO_TAG_OL:
	case GUMBO_TAG_BLOCKQUOTE:
	case GUMBO_TAG_PRE:
	case GUMBO_TAG_HR:
	case GUMBO_TAG_SECTION:
	case GUMBO_TAG_ARTICLE:
	case GUMBO_TAG_HEADER:
	case GUMBO_TAG_FOOTER:
	case GUMBO_TAG_CENTER:
	case GUMBO_TAG_DD:
	case GUMBO_TAG_DT:
	case GUMBO_TAG_DL:
	case GUMBO_TAG_FORM:
	case GUMBO_TAG_ADDRESS:
	case GUMBO_TAG_NAV:
	case GUMBO_TAG_MAIN:
	case GUMBO_TAG_ASIDE:
	case GUMBO_TAG_FIGURE:
	/* Not in the list of §2, but blocks in every browser. */
	case GUMBO_TAG_FIGCAPTION:
	case GUMBO_TAG_CAPTION:
	case GUMBO_TAG_DETAILS:
	case GUMBO_TAG_SUMMARY:
	case GUMBO_TAG_FIELDSET:
	case GUMBO_TAG_LEGEND:
	case GUMBO_TAG_BODY:
		return HTML_BLOCK;
	default:
		return HTML_INLINE;
	}
}

/* Characters that take no room: zero-width spaces and joiners, soft hyphen. */
static gboolean
html_invisible(gunichar c)
{
	return c == 0x00AD || c == 0x034F || c == 0x200B || c == 0x200C ||
	    c == 0x200D || c == 0x2060 || c == 0xFEFF;
}

/* Ends the current line; a second break in a row leaves one blank line. */
static void
html_break(struct html_out *o, gboolean hard)
{
	if (hard)
		o->newlines = MIN(o->newlines + 1, 2);
	else
		o->newlines = MAX(o->newlines, 1);
	o->space = FALSE;
	for (guint i = 0; i < o->anchors->len; i++)
		((struct html_anchor *)o->anchors->pdata[i])->space = TRUE;
}

/* A blank: collapses with its neighbours, vanishes at line ends. */
static void
html_space(struct html_out *o)
{
	o->space = TRUE;
	for (guint i = 0; i < o->anchors->len; i++)
		((struct html_anchor *)o->anchors->pdata[i])->space = TRUE;
}

/* Appends one visible character (n bytes of UTF-8) after what is pending. */
static void
html_char(struct html_out *o, const char *c, size_t n)
{
	size_t lead = 0;

	if (o->out->len > 0)
		lead = o->newlines > 0 ? o->newlines : (o->space ? 1 : 0);
	if (o->out->len + lead + n > o->max_out) {
		o->full = TRUE;
		return;
	}
	if (lead > 0)
		g_string_append_len(o->out, o->newlines > 0 ? "\n\n" : " ", lead);
	g_string_append_len(o->out, c, n);
	o->newlines = 0;
	o->space = FALSE;

	for (guint i = 0; i < o->anchors->len; i++) {
		struct html_anchor *a = o->anchors->pdata[i];
		size_t alead = a->space && a->text->len > 0 ? 1 : 0;

		if (a->text->len + alead + n <= HTML_ANCHOR_MAX) {
			if (alead)
				g_string_append_c(a->text, ' ');
			g_string_append_len(a->text, c, n);
		}
		a->space = FALSE;
	}
}

/*
 * Feeds a text node's UTF-8 through the whitespace rules.  XXX gumbo 0.10
 * turns a numeric reference beyond any code point (&#xbbbbbbbb;) into a
 * stray byte, so the text is checked here and a bad byte becomes U+FFFD.
 */
static void
html_text(struct html_out *o, const char *s)
{
	const char *next;

	for (const char *p = s; *p != '\0' && !o->full; p = next) {
		gunichar c = g_utf8_get_char_validated(p, -1);

		if (c == (gunichar)-1 || c == (gunichar)-2) {
			html_char(o, "\xef\xbf\xbd", 3);
			next = p + 1;
			continue;
		}
		next = g_utf8_next_char(p);
		if (c == '\n' && o->pre > 0)
			html_break(o, TRUE);
		else if (g_unichar_isspace(c))
			html_space(o);
		else if (!html_invisible(c) && c != 0)
			html_char(o, p, (size_t)(next - p));
	}
}

/* Opens an <a href> whose text is collected until the element ends. */
static gboolean
html_anchor_open(struct html_out *o, const GumboElement *el)
{
	const GumboAttribute *href;
	struct html_anchor *a;
	char *url;

	if (o->links == NULL || el->tag != GUMBO_TAG_A ||
	    o->anchors->len >= HTML_ANCHOR_DEPTH)
		return FALSE;
	href = gumbo_get_attribute(&el->attributes, "href");
	if (href == NULL || href->value == NULL)
		return FALSE;
	url = g_strstrip(g_utf8_make_valid(href->value, -1));   /* see html_text */
	if (*url == '\0' || strlen(url) > HTML_URL_MAX) {
		g_free(url);
		return FALSE;
	}
	a = g_new0(struct html_anchor, 1);
	a->url = url;
	a->text = g_string_new(NULL);
	g_ptr_array_add(o->anchors, a);
	return TRUE;
}

/* Closes the innermost anchor and hands its link to o->links. */
static void
html_anchor_close(struct html_out *o)
{
	struct html_anchor *a = g_ptr_array_steal_index(o->anchors, o->anchors->len - 1);

	if (o->links->len < HTML_LINKS_MAX) {
		struct link *l = g_new0(struct link, 1);

		l->url = a->url;
		l->text = g_string_free(a->text, FALSE);
		g_ptr_array_add(o->links, l);
	} else {
		g_free(a->url);
		g_string_free(a->text, TRUE);
	}
	g_free(a);
}

/* Runs the start-of-element effects; FALSE when the subtree is skipped. */
static gboolean
html_enter(struct html_out *o, struct html_frame *f)
{
	const GumboElement *el = &f->node->v.element;

	f->kind = html_kind_of(el);
	if (f->kind == HTML_SKIP || html_hidden(el))
		return FALSE;
	switch (f->kind) {
	case HTML_BLOCK:
		html_break(o, FALSE);
		break;
	case HTML_BREAK:
		html_break(o, TRUE);
		break;
	case HTML_CELL:
		html_space(o);
		break;
	default:
		break;
	}
	if (el->tag == GUMBO_TAG_PRE) {
		f->pre = TRUE;
		o->pre++;
	}
	f->anchor = html_anchor_open(o, el);
	return TRUE;
}

/* Runs the end-of-element effects. */
static void
html_leave(struct html_out *o, const struct html_frame *f)
{
	if (f->kind == HTML_BLOCK)
		html_break(o, FALSE);
	else if (f->kind == HTML_CELL)
		html_space(o);
	if (f->pre)
		o->pre--;
	if (f->anchor)
		html_anchor_close(o);
}

/* Walks the tree depth-first with an explicit stack (no recursion). */
static void
html_walk(struct html_out *o, GumboNode *root)
{
	GArray *stack = g_array_new(FALSE, TRUE, sizeof(struct html_frame));
	struct html_frame top = { root, 0, HTML_BLOCK, FALSE, FALSE };

	g_array_append_val(stack, top);
	while (stack->len > 0) {
		struct html_frame *f = &g_array_index(stack, struct html_frame, stack->len - 1);
		const GumboVector *children;
		GumboNode *child;

		children = f->node->type == GUMBO_NODE_DOCUMENT ?
		    &f->node->v.document.children : &f->node->v.element.children;
		if (o->full || f->next >= children->length) {
			struct html_frame done = *f;

			g_array_set_size(stack, stack->len - 1);
			if (stack->len > 0)
				html_leave(o, &done);
			continue;
		}
		child = children->data[f->next++];
		switch (child->type) {
		case GUMBO_NODE_TEXT:
		case GUMBO_NODE_CDATA:
		case GUMBO_NODE_WHITESPACE:
			html_text(o, child->v.text.text);
			break;
		case GUMBO_NODE_ELEMENT: {
			struct html_frame nf = { child, 0, HTML_INLINE, FALSE, FALSE };

			if (html_enter(o, &nf))
				g_array_append_val(stack, nf);
			break;
		}
		default:	/* comments, <template>, documents */
			break;
		}
	}
	g_array_free(stack, TRUE);
}

/* Frees an anchor left open when the walk stopped early. */
static void
html_anchor_free(gpointer p)
{
	struct html_anchor *a = p;

	g_free(a->url);
	g_string_free(a->text, TRUE);
	g_free(a);
}

char *
html_to_text(const char *html, size_t len, size_t max_out, GPtrArray *links)
{
	GumboOptions opts = kGumboDefaultOptions;
	GumboOutput *doc;
	struct html_out o;
	char *valid;
	size_t n;

	if (html == NULL || len == 0)
		return g_strdup("");
	if (len > HTML_INPUT_MAX)
		len = HTML_INPUT_MAX;	/* g_utf8_make_valid mends a cut character */
	valid = g_utf8_make_valid(html, (gssize)len);
	n = html_parse_len(valid, strlen(valid));

	opts.max_errors = 0;	/* we never read the error list */
	doc = gumbo_parse_with_options(&opts, valid, n);

	memset(&o, 0, sizeof(o));
	o.out = g_string_new(NULL);
	o.max_out = max_out;
	o.anchors = g_ptr_array_new_with_free_func(html_anchor_free);
	o.links = links;
	html_walk(&o, doc->document);

	gumbo_destroy_output(&opts, doc);
	g_ptr_array_unref(o.anchors);
	g_free(valid);
	return g_string_free(o.out, FALSE);
}
