/*
 * html.c - HTML to the text a reader sees (doc/core.md §2), with gumbo.
 *
 * The input is a real HTML5 parse (never pattern matching): the tree is
 * walked without recursion, hidden subtrees are dropped, block elements
 * end lines, table cells of a row are joined by one space, inline runs are
 * joined as rendered, whitespace is collapsed within lines, lines are
 * trimmed and at most one blank line is kept.  <a href> gives a link.
 * Text the reader does not see is dropped: the mail's own <style> rules
 * (simple selectors, the cascade) and style="" are read for display,
 * visibility, opacity, zero size with overflow:hidden, font-size:0 and
 * text coloured like its background (doc/core.md §2).
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
 * HTML_ANCHOR_DEPTH links collected inside one another.  Style sheets:
 * HTML_CSS_MAX bytes of <style> text, HTML_CSS_SELECTORS selectors,
 * HTML_CSS_DECLS declarations per rule or style attribute,
 * HTML_CSS_COMPOUNDS compounds per selector, HTML_CSS_WORK matching steps
 * per document (a selector like ".a .a .a .a .b" backtracks over deep
 * nesting; past the budget the sheet is no longer applied: XXX a hostile
 * sheet can so make us read text it hides, which the mail's sender could
 * as well have shown).
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
#define HTML_CSS_MAX	(256 * 1024)	/* bytes of <style> text read */
#define HTML_CSS_SELECTORS 4096	/* selectors kept */
#define HTML_CSS_DECLS	64	/* declarations kept per rule or style="" */
#define HTML_CSS_COMPOUNDS 8	/* compounds per selector (a b > c ...) */
#define HTML_CSS_CLASSES 5	/* classes per compound, plus the NULL */
#define HTML_CSS_CLASSES_EL 32	/* classes of one element looked up */
#define HTML_CSS_KEY_MAX 128	/* longest id or class name looked up */
#define HTML_CSS_WORK	(4 * 1000 * 1000)	/* selector matching steps */
#define HTML_CSS_CLOSE	16	/* colour channels this close do not contrast */

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

/* What an element inherits and shows: the state that hides text. */
struct html_style {
	gboolean invisible;	/* visibility: hidden */
	gboolean font_zero;	/* font-size: 0 (and em/% of it) */
	guint8 color_kind, bg_kind;	/* HTML_RGB_* */
	guint32 color, bg;	/* 0xRRGGBB when known */
};

enum { HTML_RGB_UNKNOWN, HTML_RGB_KNOWN, HTML_RGB_TRANSPARENT };

/* One open element of the walk: the node and the next child to visit. */
struct html_frame {
	GumboNode *node;
	guint next;
	enum html_kind kind;
	gboolean anchor;	/* pushed an html_anchor */
	gboolean pre;		/* a <pre> element */
	struct html_style style;	/* what its text looks like */
};

struct html_css;

struct html_out {
	GString *out;
	size_t max_out;
	guint newlines;		/* pending line breaks (0, 1 or 2) */
	gboolean space;		/* a blank is pending */
	gboolean full;		/* max_out reached: stop */
	guint pre;		/* depth of <pre> elements */
	GPtrArray *anchors;	/* struct html_anchor *: open <a href> */
	GPtrArray *links;	/* where finished links go, or NULL */
	struct html_css *css;	/* the mail's style sheets */
	GPtrArray *open;	/* GumboElement *: the open elements, outermost first */
};

/* ---- CSS: what the mail's own <style> and style="" hide ---- */

/* The properties that can hide text. */
enum html_prop {
	HP_DISPLAY, HP_VISIBILITY, HP_MSO_HIDE, HP_OPACITY, HP_FONT_SIZE,
	HP_MAX_HEIGHT, HP_HEIGHT, HP_MAX_WIDTH, HP_WIDTH, HP_OVERFLOW,
	HP_COLOR, HP_BACKGROUND, HP_BACKGROUND_IMAGE, HP_N
};

static const char *const html_prop_names[HP_N] = {
	"display", "visibility", "mso-hide", "opacity", "font-size",
	"max-height", "height", "max-width", "width", "overflow",
	"color", "background-color", "background-image",
};

/* One declaration: value lower-cased, blanks collapsed, !important cut. */
struct html_decl {
	enum html_prop prop;
	gboolean important;
	char *value;
};

/* One simple selector of a compound: tag (or any), id, classes. */
struct html_compound {
	GumboTag tag;		/* GUMBO_TAG_LAST: any element */
	char *id;		/* lower-cased, or NULL */
	char *classes[HTML_CSS_CLASSES];	/* lower-cased, NULL-terminated */
	gboolean child;		/* joined to the compound on its left by '>' */
};

/* A selector, compounds right to left, with the declarations it brings. */
struct html_selector {
	struct html_compound c[HTML_CSS_COMPOUNDS];
	guint n;
	guint32 specificity;	/* ids << 16 | classes << 8 | tags */
	guint32 order;		/* position in the style sheets */
	GArray *decls;		/* struct html_decl, shared by a rule's selectors */
};

/* The mail's style sheets, indexed by the key of the rightmost compound. */
struct html_css {
	GHashTable *index;	/* "#id" ".class" "tag" "*" -> GPtrArray of selectors */
	GPtrArray *selectors;	/* owns the selectors */
	GPtrArray *decl_sets;	/* owns the declaration arrays */
	guint32 order;
	guint64 work;		/* matching steps spent */
	gboolean unsure;	/* a rule we cannot match sets color/background/font-size */
};


static void
html_decls_free(gpointer p)
{
	GArray *a = p;

	for (guint i = 0; i < a->len; i++)
		g_free(g_array_index(a, struct html_decl, i).value);
	g_array_free(a, TRUE);
}

static void
html_selector_free(gpointer p)
{
	struct html_selector *s = p;

	for (guint i = 0; i < s->n; i++) {
		g_free(s->c[i].id);
		for (guint j = 0; s->c[i].classes[j] != NULL; j++)
			g_free(s->c[i].classes[j]);
	}
	g_free(s);
}

/* Collapses blanks and lower-cases s[0..len) into a new string. */
static char *
html_css_norm(const char *s, size_t len)
{
	GString *out = g_string_sized_new(len);
	gboolean space = FALSE;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (g_ascii_isspace(c)) {
			space = out->len > 0;
			continue;
		}
		if (space && !(c == ',' || c == ')' || c == '(') &&
		    !(out->len > 0 && (out->str[out->len - 1] == ',' ||
		    out->str[out->len - 1] == '(')))
			g_string_append_c(out, ' ');
		space = FALSE;
		g_string_append_c(out, g_ascii_tolower(c));
	}
	return g_string_free(out, FALSE);
}

/* TRUE for a value that sets nothing of its own (inherit, none, ...). */
static gboolean
html_css_neutral(const char *v)
{
	static const char *const names[] = {
		"inherit", "unset", "initial", "currentcolor", "none", "transparent",
	};

	for (guint i = 0; i < G_N_ELEMENTS(names); i++)
		if (strcmp(v, names[i]) == 0)
			return TRUE;
	return FALSE;
}

/*
 * Parses the declarations "prop: value [!important]; ..." of s[0..len) into
 * decls (struct html_decl); only the properties of html_prop count, and
 * "background" is read as background-color plus background-image.
 * Returns TRUE when a color, background or font-size was given a value of
 * its own (not inherit, none, ...).
 */
static gboolean
html_decls_parse(const char *s, size_t len, GArray *decls)
{
	gboolean paint = FALSE;
	size_t i = 0;

	while (i < len && decls->len < HTML_CSS_DECLS) {
		size_t start = i, colon = 0, end;
		char *name, *value;
		gboolean important = FALSE;
		char *bang;

		while (i < len && s[i] != ';') {
			if (s[i] == ':' && colon == 0)
				colon = i;
			i++;
		}
		end = i++;
		if (colon == 0)
			continue;
		name = html_css_norm(s + start, colon - start);
		value = html_css_norm(s + colon + 1, end - colon - 1);
		if ((bang = strchr(value, '!')) != NULL) {
			important = strstr(bang, "important") != NULL;
			*bang = '\0';
			g_strchomp(value);
		}
		if (strcmp(name, "background") == 0) {
			struct html_decl d = { HP_BACKGROUND, important, g_strdup(value) };
			struct html_decl im = { HP_BACKGROUND_IMAGE, important, g_strdup(value) };

			g_array_append_val(decls, d);
			g_array_append_val(decls, im);
			paint = paint || !html_css_neutral(value);
		} else {
			const char *n = strcmp(name, "overflow-y") == 0 ? "overflow" : name;

			for (guint p = 0; p < HP_N; p++)
				if (strcmp(n, html_prop_names[p]) == 0) {
					struct html_decl d = { p, important, g_strdup(value) };

					g_array_append_val(decls, d);
					if ((p == HP_COLOR || p == HP_BACKGROUND ||
					    p == HP_BACKGROUND_IMAGE || p == HP_FONT_SIZE) &&
					    !html_css_neutral(value))
						paint = TRUE;
					break;
				}
		}
		g_free(name);
		g_free(value);
	}
	return paint;
}

/* TRUE for the characters of a CSS identifier we read (no escapes). */
static gboolean
html_css_ident_char(char c)
{
	return g_ascii_isalnum(c) || c == '-' || c == '_' || (guchar)c >= 0x80;
}

/*
 * Parses one selector of s[0..len) into sel (compounds right to left).
 * FALSE for what we do not match: pseudo-classes and -elements, attribute
 * selectors, '+' and '~', escapes, too many compounds or classes.
 */
static gboolean
html_selector_parse(const char *s, size_t len, struct html_selector *sel)
{
	struct html_compound left[HTML_CSS_COMPOUNDS];
	guint n = 0, ids = 0, classes = 0, tags = 0;
	size_t i = 0;
	gboolean child = FALSE;

	memset(left, 0, sizeof(left));
	while (i < len) {
		struct html_compound *c;
		guint ncls = 0;
		gboolean any = FALSE;

		while (i < len && g_ascii_isspace(s[i]))
			i++;
		if (i < len && s[i] == '>') {
			if (n == 0 || child)
				return FALSE;
			child = TRUE;
			i++;
			continue;
		}
		if (i >= len)
			break;
		if (n == HTML_CSS_COMPOUNDS)
			return FALSE;
		c = &left[n];
		c->tag = GUMBO_TAG_LAST;
		c->child = child;
		child = FALSE;
		if (s[i] == '*') {
			any = TRUE;
			i++;
		} else if (html_css_ident_char(s[i])) {
			size_t st = i;

			while (i < len && html_css_ident_char(s[i]))
				i++;
			c->tag = gumbo_tagn_enum(s + st, (unsigned)(i - st));
			if (c->tag == GUMBO_TAG_UNKNOWN)
				goto fail;
			tags++;
			any = TRUE;
		}
		while (i < len && (s[i] == '.' || s[i] == '#')) {
			char kind = s[i++];
			size_t st = i;

			while (i < len && html_css_ident_char(s[i]))
				i++;
			if (i == st)
				goto fail;
			if (kind == '#') {
				if (c->id != NULL)
					goto fail;
				c->id = g_ascii_strdown(s + st, (gssize)(i - st));
				ids++;
			} else {
				if (ncls + 1 >= HTML_CSS_CLASSES)
					goto fail;
				c->classes[ncls++] = g_ascii_strdown(s + st, (gssize)(i - st));
				classes++;
			}
			any = TRUE;
		}
		n++;
		if (!any || (i < len && !g_ascii_isspace(s[i]) && s[i] != '>'))
			goto fail;
	}
	if (n == 0 || child)
		goto fail;
	/* right to left; child marks move with their compound */
	for (guint k = 0; k < n; k++)
		sel->c[k] = left[n - 1 - k];
	sel->n = n;
	sel->specificity = MIN(ids, 255u) << 16 | MIN(classes, 255u) << 8 | MIN(tags, 255u);
	return TRUE;
fail:
	for (guint k = 0; k <= n && k < HTML_CSS_COMPOUNDS; k++) {
		g_free(left[k].id);
		for (guint j = 0; left[k].classes[j] != NULL; j++)
			g_free(left[k].classes[j]);
	}
	return FALSE;
}

/* The index key of a compound: "#id", ".class", the tag name or "*". */
static char *
html_compound_key(const struct html_compound *c)
{
	if (c->id != NULL)
		return g_strconcat("#", c->id, NULL);
	if (c->classes[0] != NULL)
		return g_strconcat(".", c->classes[0], NULL);
	if (c->tag != GUMBO_TAG_LAST)
		return g_strdup(gumbo_normalized_tagname(c->tag));
	return g_strdup("*");
}

/* Adds the rule "sels { decls }" to the sheet. */
static void
html_css_rule(struct html_css *css, const char *sels, size_t slen,
    const char *decls, size_t dlen)
{
	GArray *d = g_array_new(FALSE, FALSE, sizeof(struct html_decl));
	gboolean paint = html_decls_parse(decls, dlen, d);
	size_t i = 0;

	if (d->len == 0) {
		html_decls_free(d);
		return;
	}
	g_ptr_array_add(css->decl_sets, d);
	while (i <= slen) {
		size_t st = i;
		struct html_selector *sel;
		GPtrArray *bucket;
		char *key;

		while (i < slen && sels[i] != ',')
			i++;
		sel = g_new0(struct html_selector, 1);
		if (css->selectors->len >= HTML_CSS_SELECTORS ||
		    !html_selector_parse(sels + st, i - st, sel)) {
			g_free(sel);
			if (paint)
				css->unsure = TRUE;
			i++;
			continue;
		}
		i++;
		sel->order = ++css->order;
		sel->decls = d;
		g_ptr_array_add(css->selectors, sel);
		key = html_compound_key(&sel->c[0]);
		bucket = g_hash_table_lookup(css->index, key);
		if (bucket == NULL) {
			bucket = g_ptr_array_new();
			g_hash_table_insert(css->index, key, bucket);
		} else
			g_free(key);
		g_ptr_array_add(bucket, sel);
	}
}

/* Index of the '}' that closes the block opened before s[i], or len. */
static size_t
html_css_block_end(const char *s, size_t len, size_t i)
{
	guint depth = 1;

	for (; i < len; i++) {
		if (s[i] == '{')
			depth++;
		else if (s[i] == '}' && --depth == 0)
			return i;
	}
	return len;
}

/*
 * Reads the rules of s[0..len) (comments already removed).  @media without
 * a feature test (screen, all) is read like the top level; @media with one
 * ((max-width: 600px), (prefers-color-scheme: dark)) is not: we read the
 * mail as the default, wide, light rendering shows it.  Other at-rules are
 * skipped.
 */
static void
html_css_parse(struct html_css *css, const char *s, size_t len, guint depth)
{
	size_t i = 0;

	while (i < len) {
		size_t st, open, close;

		while (i < len && (g_ascii_isspace(s[i]) || s[i] == '}' || s[i] == ';'))
			i++;
		if (i >= len)
			break;
		st = i;
		while (i < len && s[i] != '{' && !(s[st] == '@' && s[i] == ';'))
			i++;
		if (i >= len)
			break;
		if (s[i] == ';') {	/* @import, @charset */
			i++;
			continue;
		}
		open = i;
		close = html_css_block_end(s, len, open + 1);
		if (s[st] == '@') {
			if (depth == 0 && open - st >= 6 &&
			    g_ascii_strncasecmp(s + st, "@media", 6) == 0 &&
			    memchr(s + st, '(', open - st) == NULL)
				html_css_parse(css, s + open + 1, close - open - 1, depth + 1);
		} else
			html_css_rule(css, s + st, open - st, s + open + 1, close - open - 1);
		i = close + 1;
	}
}

/* Appends the text of every <style> in the document, comments removed. */
static void
html_css_collect(GumboNode *root, GString *sheet)
{
	GPtrArray *todo = g_ptr_array_new();

	g_ptr_array_add(todo, root);
	while (todo->len > 0 && sheet->len < HTML_CSS_MAX) {
		GumboNode *n = g_ptr_array_steal_index(todo, todo->len - 1);
		const GumboVector *kids;

		if (n->type == GUMBO_NODE_DOCUMENT)
			kids = &n->v.document.children;
		else if (n->type == GUMBO_NODE_ELEMENT)
			kids = &n->v.element.children;
		else
			continue;
		if (n->type == GUMBO_NODE_ELEMENT && n->v.element.tag == GUMBO_TAG_STYLE) {
			for (guint i = 0; i < kids->length; i++) {
				GumboNode *t = kids->data[i];

				if (t->type == GUMBO_NODE_TEXT || t->type == GUMBO_NODE_WHITESPACE ||
				    t->type == GUMBO_NODE_CDATA) {
					g_string_append(sheet, t->v.text.text);
					g_string_append_c(sheet, '\n');
				}
			}
			continue;
		}
		for (guint i = kids->length; i > 0; i--)
			g_ptr_array_add(todo, kids->data[i - 1]);
	}
	g_ptr_array_unref(todo);
	if (sheet->len > HTML_CSS_MAX)
		g_string_truncate(sheet, HTML_CSS_MAX);
	/* comments, and the <!-- --> that old mailers wrap rules in */
	for (size_t i = 0; i + 1 < sheet->len; i++) {
		if (sheet->str[i] == '/' && sheet->str[i + 1] == '*') {
			char *e = strstr(sheet->str + i + 2, "*/");
			size_t end = e != NULL ? (size_t)(e - sheet->str) + 2 : sheet->len;

			memset(sheet->str + i, ' ', end - i);
			i = end - 1;
		} else if (strncmp(sheet->str + i, "<!--", 4) == 0)
			memset(sheet->str + i, ' ', 4);
		else if (strncmp(sheet->str + i, "-->", 3) == 0)
			memset(sheet->str + i, ' ', 3);
	}
}

static struct html_css *
html_css_new(GumboNode *root)
{
	struct html_css *css = g_new0(struct html_css, 1);
	GString *sheet = g_string_new(NULL);

	css->index = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    (GDestroyNotify)g_ptr_array_unref);
	css->selectors = g_ptr_array_new_with_free_func(html_selector_free);
	css->decl_sets = g_ptr_array_new_with_free_func(html_decls_free);
	html_css_collect(root, sheet);
	html_css_parse(css, sheet->str, sheet->len, 0);
	g_string_free(sheet, TRUE);
	return css;
}

static void
html_css_free(struct html_css *css)
{
	g_hash_table_unref(css->index);
	g_ptr_array_unref(css->selectors);
	g_ptr_array_unref(css->decl_sets);
	g_free(css);
}

/* TRUE when the element's class attribute holds cls (caseless). */
static gboolean
html_has_class(const GumboElement *el, const char *cls)
{
	const GumboAttribute *a = gumbo_get_attribute(&el->attributes, "class");
	size_t n = strlen(cls);

	if (a == NULL || a->value == NULL)
		return FALSE;
	for (const char *p = a->value; *p != '\0';) {
		size_t k = 0;

		while (*p != '\0' && g_ascii_isspace(*p))
			p++;
		while (p[k] != '\0' && !g_ascii_isspace(p[k]))
			k++;
		if (k == n && g_ascii_strncasecmp(p, cls, n) == 0)
			return TRUE;
		p += k;
	}
	return FALSE;
}

static gboolean
html_compound_match(const struct html_compound *c, const GumboElement *el)
{
	if (c->tag != GUMBO_TAG_LAST && c->tag != el->tag)
		return FALSE;
	if (c->id != NULL) {
		const GumboAttribute *a = gumbo_get_attribute(&el->attributes, "id");

		if (a == NULL || a->value == NULL || g_ascii_strcasecmp(a->value, c->id) != 0)
			return FALSE;
	}
	for (guint j = 0; c->classes[j] != NULL; j++)
		if (!html_has_class(el, c->classes[j]))
			return FALSE;
	return TRUE;
}

/*
 * Does compound k.. of sel match, compound k at ancestors[pos]?  ancestors
 * are the open elements, outermost first.  Backtracks over descendant
 * combinators; every step is counted against HTML_CSS_WORK.
 */
static gboolean
html_selector_match_at(struct html_css *css, const struct html_selector *sel,
    guint k, GumboElement *const *anc, guint pos)
{
	if (++css->work > HTML_CSS_WORK || !html_compound_match(&sel->c[k], anc[pos]))
		return FALSE;
	if (k + 1 == sel->n)
		return TRUE;
	if (sel->c[k].child)
		return pos > 0 && html_selector_match_at(css, sel, k + 1, anc, pos - 1);
	for (guint p = pos; p > 0; p--)
		if (html_selector_match_at(css, sel, k + 1, anc, p - 1))
			return TRUE;
	return FALSE;
}

/* The colours mailers name; others are unknown (never compared). */
static const struct {
	const char *name;
	guint32 rgb;
} html_colour_names[] = {
	{ "white", 0xffffff }, { "black", 0x000000 }, { "red", 0xff0000 },
	{ "green", 0x008000 }, { "blue", 0x0000ff }, { "yellow", 0xffff00 },
	{ "gray", 0x808080 }, { "grey", 0x808080 }, { "silver", 0xc0c0c0 },
	{ "navy", 0x000080 }, { "whitesmoke", 0xf5f5f5 }, { "snow", 0xfffafa },
	{ "ghostwhite", 0xf8f8ff }, { "ivory", 0xfffff0 }, { "lightgray", 0xd3d3d3 },
	{ "lightgrey", 0xd3d3d3 }, { "gainsboro", 0xdcdcdc }, { "darkgray", 0xa9a9a9 },
	{ "orange", 0xffa500 }, { "purple", 0x800080 },
};

/* One channel of rgb(): 0-255, or a percentage. */
static gboolean
html_rgb_channel(const char **p, guint32 *out)
{
	char *end;
	double v = g_ascii_strtod(*p, &end);

	if (end == *p)
		return FALSE;
	if (*end == '%') {
		v = v * 255.0 / 100.0;
		end++;
	}
	*out = (guint32)CLAMP(v + 0.5, 0.0, 255.0);
	*p = end;
	return TRUE;
}

/* Parses a colour value token: HTML_RGB_KNOWN with *rgb, or another kind. */
static guint8
html_colour(const char *v, guint32 *rgb)
{
	size_t n = strlen(v);

	if (strcmp(v, "transparent") == 0)
		return HTML_RGB_TRANSPARENT;
	if (v[0] == '#') {
		guint32 x = 0;

		for (size_t i = 1; i < n; i++) {
			if (!g_ascii_isxdigit(v[i]))
				return HTML_RGB_UNKNOWN;
			x = x << 4 | (guint32)g_ascii_xdigit_value(v[i]);
		}
		switch (n - 1) {
		case 3:	/* #rgb */
			*rgb = (x >> 8 & 0xf) * 0x110000 + (x >> 4 & 0xf) * 0x1100 + (x & 0xf) * 0x11;
			return HTML_RGB_KNOWN;
		case 4:	/* #rgba */
			if ((x & 0xf) == 0)
				return HTML_RGB_TRANSPARENT;
			*rgb = (x >> 12 & 0xf) * 0x110000 + (x >> 8 & 0xf) * 0x1100 + (x >> 4 & 0xf) * 0x11;
			return HTML_RGB_KNOWN;
		case 6:
			*rgb = x;
			return HTML_RGB_KNOWN;
		case 8:
			if ((x & 0xff) == 0)
				return HTML_RGB_TRANSPARENT;
			*rgb = x >> 8;
			return HTML_RGB_KNOWN;
		default:
			return HTML_RGB_UNKNOWN;
		}
	}
	if (g_str_has_prefix(v, "rgb(") || g_str_has_prefix(v, "rgba(")) {
		const char *p = strchr(v, '(') + 1;
		guint32 c[3];

		for (guint i = 0; i < 3; i++) {
			while (*p == ' ' || *p == ',')
				p++;
			if (!html_rgb_channel(&p, &c[i]))
				return HTML_RGB_UNKNOWN;
		}
		while (*p == ' ' || *p == ',' || *p == '/')
			p++;
		if (*p != ')') {
			char *end;
			double a = g_ascii_strtod(p, &end);

			if (end != p && a <= 0.0)
				return HTML_RGB_TRANSPARENT;
		}
		*rgb = c[0] << 16 | c[1] << 8 | c[2];
		return HTML_RGB_KNOWN;
	}
	for (guint i = 0; i < G_N_ELEMENTS(html_colour_names); i++)
		if (strcmp(v, html_colour_names[i].name) == 0) {
			*rgb = html_colour_names[i].rgb;
			return HTML_RGB_KNOWN;
		}
	return HTML_RGB_UNKNOWN;
}

/* TRUE when v starts with a number equal to zero ("0", "0px", "0.0em", "0%"). */
static gboolean
html_zero(const char *v)
{
	char *end;
	double x = g_ascii_strtod(v, &end);

	return end != v && x == 0.0;
}

/* TRUE when two colours differ by at most HTML_CSS_CLOSE per channel. */
static gboolean
html_colour_close(guint32 a, guint32 b)
{
	for (guint sh = 0; sh < 24; sh += 8) {
		int d = (int)(a >> sh & 0xff) - (int)(b >> sh & 0xff);

		if (ABS(d) > HTML_CSS_CLOSE)
			return FALSE;
	}
	return TRUE;
}

/* The winning declaration per property (the cascade of one element). */
struct html_cascade {
	const char *v[HP_N];
	guint64 rank[HP_N];
};

static void
html_cascade_put(struct html_cascade *c, const struct html_decl *d, guint64 rank)
{
	if (c->v[d->prop] == NULL || rank >= c->rank[d->prop]) {
		c->v[d->prop] = d->value;
		c->rank[d->prop] = rank;
	}
}

/* Adds the declarations of the selectors in bucket key that match. */
static void
html_cascade_bucket(struct html_out *o, struct html_cascade *c, const char *key)
{
	GPtrArray *b = g_hash_table_lookup(o->css->index, key);

	if (b == NULL)
		return;
	for (guint i = 0; i < b->len; i++) {
		const struct html_selector *sel = b->pdata[i];

		if (!html_selector_match_at(o->css, sel, 0,
		    (GumboElement *const *)o->open->pdata, o->open->len - 1))
			continue;
		for (guint j = 0; j < sel->decls->len; j++) {
			const struct html_decl *d = &g_array_index(sel->decls, struct html_decl, j);

			html_cascade_put(c, d, (d->important ? 2ull << 56 : 0) |
			    (guint64)sel->specificity << 24 | sel->order);
		}
	}
}

/* Adds the style sheet's rules that match the last element of o->open. */
static void
html_cascade_sheet(struct html_out *o, struct html_cascade *c, const GumboElement *el)
{
	const GumboAttribute *a;
	char key[HTML_CSS_KEY_MAX + 2];

	if (g_hash_table_size(o->css->index) == 0 || o->css->work > HTML_CSS_WORK)
		return;
	html_cascade_bucket(o, c, "*");
	if (el->tag != GUMBO_TAG_UNKNOWN)
		html_cascade_bucket(o, c, gumbo_normalized_tagname(el->tag));
	a = gumbo_get_attribute(&el->attributes, "id");
	if (a != NULL && a->value != NULL && strlen(a->value) <= HTML_CSS_KEY_MAX) {
		key[0] = '#';
		for (size_t i = 0; ; i++)
			if ((key[i + 1] = g_ascii_tolower(a->value[i])) == '\0')
				break;
		html_cascade_bucket(o, c, key);
	}
	a = gumbo_get_attribute(&el->attributes, "class");
	if (a != NULL && a->value != NULL) {
		guint seen = 0;

		for (const char *p = a->value; *p != '\0' && seen < HTML_CSS_CLASSES_EL; seen++) {
			size_t k = 0;

			while (*p != '\0' && g_ascii_isspace(*p))
				p++;
			while (p[k] != '\0' && !g_ascii_isspace(p[k]))
				k++;
			if (k > 0 && k <= HTML_CSS_KEY_MAX) {
				key[0] = '.';
				for (size_t i = 0; i < k; i++)
					key[i + 1] = g_ascii_tolower(p[i]);
				key[k + 1] = '\0';
				html_cascade_bucket(o, c, key);
			}
			p += k;
		}
	}
}

/*
 * Computes the element's style from its parent's, the style sheet, its
 * presentational attributes and its style attribute.  FALSE when the
 * element and everything in it is hidden: display:none, mso-hide:all,
 * opacity:0, a zero (max-)height or (max-)width with overflow:hidden.
 */
static gboolean
html_style_of(struct html_out *o, const GumboElement *el,
    const struct html_style *parent, struct html_style *s)
{
	struct html_cascade c;
	struct html_decl attr[3];
	guint nattr = 0;
	GArray *inl = g_array_new(FALSE, FALSE, sizeof(struct html_decl));
	const GumboAttribute *a;
	const char *v;
	gboolean shown = TRUE;
	guint32 rgb = 0;

	memset(&c, 0, sizeof(c));
	*s = *parent;
	/* presentational hints: below every rule */
	if ((a = gumbo_get_attribute(&el->attributes, "bgcolor")) != NULL && a->value != NULL)
		attr[nattr++] = (struct html_decl){ HP_BACKGROUND, FALSE,
		    html_css_norm(a->value, strlen(a->value)) };
	if ((a = gumbo_get_attribute(&el->attributes, "background")) != NULL && a->value != NULL)
		attr[nattr++] = (struct html_decl){ HP_BACKGROUND_IMAGE, FALSE, g_strdup("url()") };
	if (el->tag == GUMBO_TAG_FONT &&
	    (a = gumbo_get_attribute(&el->attributes, "color")) != NULL && a->value != NULL)
		attr[nattr++] = (struct html_decl){ HP_COLOR, FALSE,
		    html_css_norm(a->value, strlen(a->value)) };
	for (guint i = 0; i < nattr; i++)
		html_cascade_put(&c, &attr[i], 1);
	html_cascade_sheet(o, &c, el);
	if ((a = gumbo_get_attribute(&el->attributes, "style")) != NULL && a->value != NULL)
		html_decls_parse(a->value, strlen(a->value), inl);
	for (guint i = 0; i < inl->len; i++) {
		const struct html_decl *d = &g_array_index(inl, struct html_decl, i);

		html_cascade_put(&c, d, (d->important ? 3ull : 1ull) << 56 | (i + 1));
	}

	if ((v = c.v[HP_DISPLAY]) != NULL && strcmp(v, "none") == 0)
		shown = FALSE;
	if ((v = c.v[HP_MSO_HIDE]) != NULL && strcmp(v, "all") == 0)
		shown = FALSE;
	if ((v = c.v[HP_OPACITY]) != NULL && html_zero(v))
		shown = FALSE;
	if ((v = c.v[HP_OVERFLOW]) != NULL &&
	    (strcmp(v, "hidden") == 0 || strcmp(v, "clip") == 0) &&
	    ((c.v[HP_MAX_HEIGHT] != NULL && html_zero(c.v[HP_MAX_HEIGHT])) ||
	    (c.v[HP_HEIGHT] != NULL && html_zero(c.v[HP_HEIGHT])) ||
	    (c.v[HP_MAX_WIDTH] != NULL && html_zero(c.v[HP_MAX_WIDTH])) ||
	    (c.v[HP_WIDTH] != NULL && html_zero(c.v[HP_WIDTH]))))
		shown = FALSE;

	if ((v = c.v[HP_VISIBILITY]) != NULL) {
		if (strcmp(v, "hidden") == 0 || strcmp(v, "collapse") == 0)
			s->invisible = TRUE;
		else if (strcmp(v, "visible") == 0)
			s->invisible = FALSE;
	}
	if ((v = c.v[HP_FONT_SIZE]) != NULL) {
		if (html_zero(v))
			s->font_zero = TRUE;
		else if (strcmp(v, "inherit") == 0 || strcmp(v, "unset") == 0 ||
		    strstr(v, "em") != NULL || strchr(v, '%') != NULL ||
		    strcmp(v, "smaller") == 0 || strcmp(v, "larger") == 0)
			;	/* relative to the parent's: zero stays zero */
		else
			s->font_zero = FALSE;
	}
	if ((v = c.v[HP_COLOR]) != NULL) {
		if (strcmp(v, "inherit") != 0 && strcmp(v, "unset") != 0 &&
		    strcmp(v, "currentcolor") != 0) {
			s->color_kind = html_colour(v, &rgb);
			s->color = rgb;
		}
	} else if (el->tag == GUMBO_TAG_A &&
	    gumbo_get_attribute(&el->attributes, "href") != NULL) {
		s->color_kind = HTML_RGB_KNOWN;	/* the link colour, not inherited */
		s->color = 0x0000ee;
	}
	if ((v = c.v[HP_BACKGROUND_IMAGE]) != NULL &&
	    (strstr(v, "url(") != NULL || strstr(v, "gradient(") != NULL))
		s->bg_kind = HTML_RGB_UNKNOWN;	/* an image: any colour */
	else if ((v = c.v[HP_BACKGROUND]) != NULL && strcmp(v, "inherit") != 0) {
		char **tok = g_strsplit(v, " ", HTML_CSS_DECLS);
		guint8 k = HTML_RGB_UNKNOWN;

		for (guint i = 0; tok[i] != NULL && k == HTML_RGB_UNKNOWN; i++)
			k = html_colour(tok[i], &rgb);
		if (k == HTML_RGB_KNOWN) {
			s->bg_kind = k;
			s->bg = rgb;
		} else if (k == HTML_RGB_UNKNOWN && strcmp(v, "none") != 0 &&
		    strcmp(v, "initial") != 0 && strcmp(v, "unset") != 0)
			s->bg_kind = HTML_RGB_UNKNOWN;	/* a colour we cannot read */
		/* transparent: the parent's shows through */
		g_strfreev(tok);
	}
	html_decls_free(inl);
	for (guint i = 0; i < nattr; i++)
		g_free(attr[i].value);
	return shown;
}

/*
 * TRUE when text in style s is not seen: invisible, no size, no contrast.
 * XXX: when a rule we cannot match (td:first-child, [attr]) paints, size
 * and colour are not judged at all: it may set the dark background under
 * white text, and a visible code lost is worse than a decoy read.
 */
static gboolean
html_style_hides(const struct html_out *o, const struct html_style *s)
{
	if (s->invisible || s->color_kind == HTML_RGB_TRANSPARENT)
		return TRUE;
	if (o->css->unsure)
		return FALSE;
	return s->font_zero || (s->color_kind == HTML_RGB_KNOWN &&
	    s->bg_kind == HTML_RGB_KNOWN && html_colour_close(s->color, s->bg));
}

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

/*
 * Runs the start-of-element effects; FALSE when the subtree is skipped
 * (not rendered, the hidden attribute, or hidden by its style).
 */
static gboolean
html_enter(struct html_out *o, struct html_frame *f, const struct html_style *parent)
{
	GumboElement *el = &f->node->v.element;

	f->kind = html_kind_of(el);
	if (f->kind == HTML_SKIP || gumbo_get_attribute(&el->attributes, "hidden") != NULL)
		return FALSE;
	g_ptr_array_add(o->open, el);
	if (!html_style_of(o, el, parent, &f->style)) {
		g_ptr_array_set_size(o->open, o->open->len - 1);
		return FALSE;
	}
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
	g_ptr_array_set_size(o->open, o->open->len - 1);
}

/* Walks the tree depth-first with an explicit stack (no recursion). */
static void
html_walk(struct html_out *o, GumboNode *root)
{
	GArray *stack = g_array_new(FALSE, TRUE, sizeof(struct html_frame));
	/* the page: black on white, as a mail client shows it */
	struct html_frame top = { root, 0, HTML_BLOCK, FALSE, FALSE,
	    { FALSE, FALSE, HTML_RGB_KNOWN, HTML_RGB_KNOWN, 0x000000, 0xffffff } };

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
			if (!html_style_hides(o, &f->style))
				html_text(o, child->v.text.text);
			break;
		case GUMBO_NODE_ELEMENT: {
			struct html_frame nf = { child, 0, HTML_INLINE, FALSE, FALSE, { 0 } };
			struct html_style parent = f->style;	/* the append may move f */

			if (html_enter(o, &nf, &parent))
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
	o.css = html_css_new(doc->document);
	o.open = g_ptr_array_new();
	html_walk(&o, doc->document);
	html_css_free(o.css);
	g_ptr_array_unref(o.open);

	gumbo_destroy_output(&opts, doc);
	g_ptr_array_unref(o.anchors);
	g_free(valid);
	return g_string_free(o.out, FALSE);
}
