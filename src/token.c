/*
 * token.c - the built-in detector's tokenizer (detect.c has the flow):
 * one linear pass over a line's UTF-8 cuts it into words, digit runs,
 * CJK/Hangul/Thai runs, spaces, punctuation and URLs; words are folded
 * once (lower case, accents removed, ß -> ss, Arabic letter forms
 * unified) and looked up in lexicon.c's word table through a per-call
 * index; CJK, Hangul and Thai runs are matched by substring against the
 * phrase table; token_line_resolve() sums up what a line says (its
 * keyword strength, its flags, "keyword:" at its end).
 *
 * Hostile input: any line of any mail's subject or text, possibly
 * invalid UTF-8 (an invalid byte is one punctuation token).  Limits: at
 * most DETECT_LINE_TOKENS tokens per call (the rest of the line is read
 * by the next call), folded words keep DETECT_FOLD_MAX bytes (SH_LONG
 * marks a cut one), a URL token ends at the first byte a URL cannot hold.
 * Work is linear in the bytes read.
 *
 * SECURITY: pure -- no I/O, no globals, no regular expressions; the
 * lexicon is read-only data.
 */
#include "autoconfig.h"

#include <string.h>

#include "token.h"

/* ---- characters ---------------------------------------------------------- */

enum { CH_OTHER, CH_DIGIT, CH_ALPHA, CH_SPACE, CH_CJK, CH_ZW, CH_MARK, CH_NL };

/* Accent-free lower case of U+00C0..U+00FF; '?' = special, '-' = not a letter. */
static const char token_fold_latin1[] =
	"aaaaaa?ceeeeiiiidnooooo-ouuuuyt?"
	"aaaaaa?ceeeeiiiidnooooo-ouuuuyty";
/* Same for U+0100..U+017F; '?' = special. */
static const char token_fold_latin_a[] =
	"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkk"
	"llllllllllnnnnnnnnnoooooo??rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/* Whether cp belongs in a CJK run (ideographs, kana, Hangul). */
static gboolean
token_is_cjk(gunichar cp)
{
	return (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x31f0 && cp <= 0x31ff) ||
	    (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) ||
	    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff66 && cp <= 0xff9f) ||
	    (cp >= 0xac00 && cp <= 0xd7af) || cp == 0x3005 ||
	    (cp >= 0x0e01 && cp <= 0x0e4e);   /* Thai: no spaces between words */
}

/* Whether cp is one of the ASCII characters in set. */
gboolean
token_ascii_in(gunichar cp, const char *set)
{
	return cp != 0 && cp < 0x80 && strchr(set, (int)cp) != NULL;
}

/* Whether cp is a currency sign. */
gboolean
token_is_currency(gunichar cp)
{
	switch (cp) {
	case '$': case 0xa2: case 0xa3: case 0xa5: case 0x20ac: case 0x20b9:
	case 0x20a9: case 0x20bd: case 0xffe5: case 0x20ba: case 0x20aa:
	case 0x0e3f: case 0x20ab: case 0x20b4: case 0x20a6: case 0xffe1:
		return TRUE;
	default:
		return FALSE;
	}
}

/* Class of each ASCII character. */
static const guint8 token_ascii_class[128] = {
	['0' ... '9'] = CH_DIGIT,
	['A' ... 'Z'] = CH_ALPHA,
	['a' ... 'z'] = CH_ALPHA,
	['_'] = CH_ALPHA,
	['\n'] = CH_NL,
	[' '] = CH_SPACE, ['\t'] = CH_SPACE, ['\r'] = CH_SPACE, ['\f'] = CH_SPACE,
	['\v'] = CH_SPACE,
};

/* Classifies the non-ASCII character at p (end excluded); sets *cp and *n. */
static int
token_char_class_slow(const char *p, const char *end, gunichar *cp, int *n)
{
	guchar b = (guchar)*p;

	*cp = g_utf8_get_char_validated(p, end - p);
	if (*cp == (gunichar)-1 || *cp == (gunichar)-2) {
		*cp = 0xfffd;
		*n = 1;
		return CH_OTHER;
	}
	*n = g_utf8_skip[b];
	if (*cp == 0xa0 || (*cp >= 0x2000 && *cp <= 0x200a) || *cp == 0x202f ||
	    *cp == 0x205f || *cp == 0x3000)
		return CH_SPACE;
	if ((*cp >= 0x200b && *cp <= 0x200d) || *cp == 0xfeff || *cp == 0x2060 ||
	    *cp == 0xad)
		return CH_ZW;
	if (token_is_cjk(*cp))
		return CH_CJK;
	if (g_unichar_isalpha(*cp))
		return CH_ALPHA;
	if (g_unichar_ismark(*cp))
		return CH_MARK;
	return CH_OTHER;
}

/* Classifies the character at p (end excluded); sets *cp and *n (bytes). */
static inline int
token_char_class(const char *p, const char *end, gunichar *cp, int *n)
{
	guchar b = (guchar)*p;

	if (G_LIKELY(b < 0x80)) {
		*cp = b;
		*n = 1;
		return token_ascii_class[b];
	}
	return token_char_class_slow(p, end, cp, n);
}

/*
 * The base letter of cp for the scripts whose accents do not change a
 * keyword: Latin Extended-B and Additional (Romanian ș, Vietnamese ự) and
 * Greek (ή) lose their combining marks, final ς is σ; Arabic alef forms become ا, Persian
 * yeh and keheh become ي and ك (legacy charsets write them so).  Cyrillic
 * й and ё stay what they are.
 */
static gunichar
token_fold_base(gunichar cp)
{
	gunichar a, b;

	if (cp == 0x3c2)
		return 0x3c3;   /* final sigma: ΚΩΔΙΚΟΣ and κωδικός are one word */
	if ((cp >= 0x180 && cp <= 0x24f) || (cp >= 0x370 && cp <= 0x3ff) ||
	    (cp >= 0x1e00 && cp <= 0x1fff)) {
		while (g_unichar_decompose(cp, &a, &b) && b >= 0x300 && b <= 0x36f)
			cp = a;
		return cp;
	}
	switch (cp) {
	case 0x622: case 0x623: case 0x625: case 0x671:
		return 0x627;
	case 0x649: case 0x6cc:
		return 0x64a;
	case 0x6a9:
		return 0x643;
	default:
		return cp;
	}
}

/* Whether a combining mark belongs to the word's spelling (Indic vowel signs). */
static gboolean
token_mark_kept(gunichar cp)
{
	return cp >= 0x900 && cp <= 0xdff;
}

/* Appends the folded form of a letter to t->fold; returns whether it is upper case. */
static gboolean
token_fold_letter(struct tok *t, gunichar cp)
{
	char buf[8];
	int n = 0, i;
	gboolean upper = FALSE;

	if (cp < 0x80) {
		upper = cp >= 'A' && cp <= 'Z';
		if (t->flen < DETECT_FOLD_MAX - 1)
			t->fold[t->flen++] = upper ? (char)(cp | 0x20) : (char)cp;
		else
			t->shape |= SH_LONG;
		return upper;
	} else if (cp >= 0xc0 && cp <= 0x17f) {
		char f = cp <= 0xff ? token_fold_latin1[cp - 0xc0] :
		    token_fold_latin_a[cp - 0x100];

		upper = cp <= 0xde ? TRUE : (cp >= 0x100 && (cp & 1) == 0);
		if (f == '?') {
			if (cp == 0xdf) {
				buf[n++] = 's';
				buf[n++] = 's';
				upper = FALSE;
			} else if (cp == 0xc6 || cp == 0xe6) {
				buf[n++] = 'a';
				buf[n++] = 'e';
			} else {
				buf[n++] = 'o';
				buf[n++] = 'e';
			}
		} else {
			buf[n++] = f;
		}
	} else {
		gunichar base = token_fold_base(cp);

		upper = g_unichar_isupper(cp);
		if (base != cp && (base < 0x80 || (base >= 0xc0 && base <= 0x17f))) {
			token_fold_letter(t, base);
			return upper;
		}
		n = g_unichar_to_utf8(g_unichar_tolower(base), buf);
	}
	for (i = 0; i < n; i++) {
		if (t->flen >= DETECT_FOLD_MAX - 1) {
			t->shape |= SH_LONG;
			break;
		}
		t->fold[t->flen++] = buf[i];
	}
	return upper;
}

/* ---- keyword tables ------------------------------------------------------ */

/* Bucket of a folded word's first byte in the keyword index, or -1. */
static int
token_kw_bucket(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '0' && c <= '9')
		return 26 + c - '0';
	if ((guchar)c >= 0xc0)
		return 36 + ((guchar)c & 63);   /* Cyrillic, Greek, Hebrew, Arabic... */
	return -1;
}

/* Bucket of a word in the keyword index: first character and length, or -1. */
static int
token_kw_key(const char *w, gsize len)
{
	int b = token_kw_bucket(w[0]);

	if (b < 0 || len == 0 || len > 31)
		return -1;
	return b * 32 + (int)len;
}

/* Builds the per-call keyword index (cheap: one counting sort of the tables). */
void
token_kw_index(struct detect_ctx *c)
{
	guint16 fill[DETECT_KW_BUCKETS * 32];
	gsize i;
	int k;

	for (i = 0; i < lexicon_nwords; i++)
		if ((k = token_kw_key(lexicon_words[i].w, lexicon_words[i].len)) >= 0)
			c->kstart[k + 1]++;
	for (k = 0; k < DETECT_KW_BUCKETS * 32; k++)
		c->kstart[k + 1] += c->kstart[k];
	memcpy(fill, c->kstart, sizeof fill);
	for (i = 0; i < lexicon_nwords; i++)
		if ((k = token_kw_key(lexicon_words[i].w, lexicon_words[i].len)) >= 0)
			c->korder[fill[k]++] = i;
	for (i = 0; i < lexicon_nphrases; i++) {
		c->cjk_first[i] = g_utf8_get_char(lexicon_phrases[i].w);
		c->cjk_bloom[(c->cjk_first[i] >> 6) & 63] |=
		    G_GUINT64_CONSTANT(1) << (c->cjk_first[i] & 63);
	}
}

/* The table entry for a folded word, or NULL. */
static const struct lexicon_entry *
token_kw_find(const struct detect_ctx *c, const char *w, gsize len)
{
	int k = len > 0 ? token_kw_key(w, len) : -1, i;

	if (k < 0)
		return NULL;
	for (i = c->kstart[k]; i < c->kstart[k + 1]; i++) {
		const struct lexicon_entry *e = &lexicon_words[c->korder[i]];

		if (e->w[len - 1] == w[len - 1] && memcmp(e->w, w, len) == 0)
			return e;
	}
	return NULL;
}

/* K_* of a prefix of a compound (with or without a linking 's'). */
static guint32
token_kw_prefix_flags(const struct detect_ctx *c, const char *w, gsize len)
{
	const struct lexicon_entry *k;

	while (len > 0 && w[len - 1] == '-')
		len--;
	if ((k = token_kw_find(c, w, len)) != NULL)
		return k->flags;
	if (len > 2 && w[len - 1] == 's' && (k = token_kw_find(c, w, len - 1)) != NULL)
		return k->flags;
	return 0;
}

/* The last halves of a "...code" compound (code, kod, kode, koodi and forms). */
static const char *const token_code_suffix[] = {
	"codes", "code", "koden", "kode", "kod", "koodisi", "koodi",
};

/* K_* of a folded word, and the words it must precede (*need); handles compounds. */
static guint32
token_kw_word(const struct detect_ctx *c, const struct tok *t, const char **need)
{
	const struct lexicon_entry *k;
	const char *w = t->fold;
	gsize len = t->flen, i;
	guint32 pf;

	*need = NULL;
	if (t->shape & SH_LONG)
		return 0;
	if ((k = token_kw_find(c, w, len)) != NULL) {
		*need = k->need;
		return k->flags & K_PFX ? 0 : k->flags;
	}
	/* Bestätigungscode, Gutscheincode, verificatiecode, engångskoden, barcode */
	for (i = 0; i < G_N_ELEMENTS(token_code_suffix); i++) {
		gsize sl = strlen(token_code_suffix[i]);

		if (len < sl + 3 || memcmp(w + len - sl, token_code_suffix[i], sl) != 0)
			continue;
		pf = token_kw_prefix_flags(c, w, len - sl);
		if (pf & (K_DECOY | K_PROMO))
			return K_NEGD | K_LABEL;
		if (pf & (K_KW | K_PFX | K_LINK))
			return K_OTP;
		return K_CODE;
	}
	/* Bestellnummer, Telefonnummer, klantnummer */
	if (len > 7 && w[len - 1] == 'r' && memcmp(w + len - 6, "nummer", 6) == 0) {
		pf = token_kw_prefix_flags(c, w, len - 6);
		return pf & K_PHONE ? K_PHONE : K_LABEL;
	}
	return 0;
}

/* Matches CJK phrases in a run; fills t->flags, head and tail. */
static void
token_kw_cjk(const struct detect_ctx *c, struct tok *t)
{
	const char *p = t->s, *end = t->s + t->len;
	int pos = 0, lastend = -1;
	gsize i;

	t->flags = t->head = t->tail = 0;
	t->headoff = t->tailgap = 0;
	while (p < end) {
		gunichar cp = g_utf8_get_char(p);
		gsize best = 0;
		guint32 bflags = 0;

		if (c->cjk_bloom[(cp >> 6) & 63] & (G_GUINT64_CONSTANT(1) << (cp & 63))) {
			for (i = 0; i < lexicon_nphrases; i++) {
				const struct lexicon_entry *k = &lexicon_phrases[i];

				if (c->cjk_first[i] != cp || k->len <= best ||
				    (gsize)(end - p) < k->len ||
				    memcmp(p, k->w, k->len) != 0)
					continue;
				best = k->len;
				bflags = k->flags;
			}
		}
		if (best > 0) {
			if (t->head == 0) {
				t->head = bflags;
				t->headoff = MIN(pos, 255);
			}
			t->tail = bflags;
			t->flags |= bflags;
			pos += (int)g_utf8_strlen(p, best);
			lastend = pos;
			p += best;
			continue;
		}
		p = g_utf8_next_char(p);
		pos++;
	}
	if (lastend >= 0)
		t->tailgap = MIN(pos - lastend, 255);
	/* 受取用の認証キー, 取件码: a pick-up or promo word negates the keyword */
	if ((t->flags & K_NEG) && (t->flags & K_KW)) {
		t->flags = (t->flags & ~(K_KW | K_LINK)) | K_NEGD | K_LABEL;
		t->head = (t->head & ~(K_KW | K_LINK)) | K_NEGD;
		t->tail = (t->tail & ~(K_KW | K_LINK)) | K_NEGD;
	}
}

/* ---- tokenizer ----------------------------------------------------------- */

/* Length of an http(s):// or www. URL starting at p, or 0. */
static gsize
token_url_len(const char *p, const char *end)
{
	const char *q = p;
	gsize avail = end - p;

	if (*p != 'h' && *p != 'H' && *p != 'w' && *p != 'W')
		return 0;
	if (!((avail > 7 && g_ascii_strncasecmp(p, "http://", 7) == 0) ||
	    (avail > 8 && g_ascii_strncasecmp(p, "https://", 8) == 0) ||
	    (avail > 4 && g_ascii_strncasecmp(p, "www.", 4) == 0)))
		return 0;
	while (q < end && (guchar)*q > 0x20 && (guchar)*q < 0x7f &&
	    strchr("<>\"`{}|\\^", *q) == NULL)
		q++;
	while (q > p && strchr(".,;:!?)]}'*", q[-1]) != NULL)
		q--;
	return q - p;
}

/*
 * Cuts [p, end) into tokens up to the end of the line or max tokens; returns
 * the number of tokens and sets *next past what was read (past the '\n').
 */
int
token_split(const char *p, const char *end, struct tok *toks, int max, const char **next)
{
	int n = 0;

	while (p < end && n < max) {
		struct tok *t = &toks[n];
		gunichar cp;
		int len, cls = token_char_class(p, end, &cp, &len);

		if (cls == CH_NL) {
			p++;
			*next = p;
			return n;
		}
		if (cls == CH_ZW || cls == CH_MARK) {
			p += len;
			continue;
		}
		memset(t, 0, offsetof(struct tok, fold));
		t->s = p;
		if (cls == CH_SPACE) {
			t->kind = TK_SPACE;
			while (p < end && (*p == ' ' || token_char_class(p, end, &cp, &len) == CH_SPACE)) {
				if (*p == ' ')
					len = 1;
				p += len;
				if (t->nch < 255)
					t->nch++;
			}
		} else if (cls == CH_CJK) {
			t->kind = TK_CJK;
			t->cp = cp;
			while (p < end && token_char_class(p, end, &cp, &len) == CH_CJK)
				p += len;
		} else if (cls == CH_DIGIT || cls == CH_ALPHA) {
			gsize ul = cls == CH_ALPHA ? token_url_len(p, end) : 0;
			gboolean first = TRUE, rest_lower = TRUE, first_upper = FALSE;

			if (ul > 0) {
				t->kind = TK_URL;
				p += ul;
				t->len = p - t->s;
				n++;
				continue;
			}
			t->shape = SH_UPCODE;
			while (p < end) {
				guchar b = (guchar)*p;

				/* the common case: ASCII letters and digits */
				if (b < 0x80 && token_ascii_class[b] == CH_ALPHA && b != '_') {
					gboolean up = b <= 'Z';

					if (t->flen < DETECT_FOLD_MAX - 1)
						t->fold[t->flen++] = (char)(b | 0x20);
					else
						t->shape |= SH_LONG;
					t->shape |= SH_ALPHA;
					if (!up)
						t->shape &= ~SH_UPCODE;
					if (first)
						first_upper = up;
					else if (up)
						rest_lower = FALSE;
					first = FALSE;
					p++;
					continue;
				}
				cls = token_char_class(p, end, &cp, &len);
				if (cls == CH_DIGIT) {
					t->shape |= SH_DIGIT;
					rest_lower = FALSE;
					if (t->flen < DETECT_FOLD_MAX - 1)
						t->fold[t->flen++] = (char)cp;
				} else if (cls == CH_ALPHA) {
					gboolean up = token_fold_letter(t, cp);

					t->shape |= SH_ALPHA;
					if (cp >= 0x80 || cp == '_' || !up)
						t->shape &= ~SH_UPCODE;
					if (first)
						first_upper = up;
					else if (up)
						rest_lower = FALSE;
				} else if (cls == CH_ZW || cls == CH_MARK) {
					t->shape &= ~SH_UPCODE;
					if (cls == CH_MARK && token_mark_kept(cp)) {
						char mb[8];
						int ml = g_unichar_to_utf8(cp, mb), mi;

						for (mi = 0; mi < ml; mi++) {
							if (t->flen >= DETECT_FOLD_MAX - 1) {
								t->shape |= SH_LONG;
								break;
							}
							t->fold[t->flen++] = mb[mi];
						}
					}
				} else {
					break;
				}
				first = FALSE;
				p += len;
			}
			if (first_upper && rest_lower && (t->shape & SH_ALPHA))
				t->shape |= SH_CAP;
			t->kind = (t->shape & SH_ALPHA) ? TK_WORD : TK_NUM;
		} else {
			t->kind = TK_PUNCT;
			t->cp = cp;
			p += len;
		}
		t->len = p - t->s;
		n++;
	}
	/* a full buffer: the rest of the line comes next, as its own chunk */
	if (p < end && *p == '\n')
		p++;
	*next = p;
	return n;
}

/* ---- line analysis ------------------------------------------------------- */

/* Index of the word next to token i in direction dir across spaces/hyphens, or -1. */
static int
token_word_next(const struct tok *t, int n, int i, int dir, gboolean skip_func)
{
	int k = i + dir, seps = 0;

	while (k >= 0 && k < n) {
		if (t[k].kind == TK_SPACE ||
		    (t[k].kind == TK_PUNCT && (t[k].cp == '-' || t[k].cp == 0x2010))) {
			if (++seps > 3)
				return -1;
			k += dir;
			continue;
		}
		if (t[k].kind != TK_WORD)
			return -1;
		if (skip_func && (t[k].flags & K_FUNC)) {
			skip_func = FALSE;
			seps = 0;
			k += dir;
			continue;
		}
		return k;
	}
	return -1;
}

/* Whether word w is one of the '|'-separated alternatives in need. */
static gboolean
token_need_match(const char *need, const struct tok *w)
{
	const char *p = need;

	while (*p) {
		const char *bar = strchr(p, '|');
		gsize l = bar ? (gsize)(bar - p) : strlen(p);

		if (l == w->flen && memcmp(p, w->fold, l) == 0)
			return TRUE;
		if (bar == NULL)
			break;
		p = bar + 1;
	}
	return FALSE;
}

/* Resolves the keyword flags of every word and CJK run of a line; fills *li. */
void
token_line_resolve(const struct detect_ctx *c, struct tok *t, int n, struct lineinfo *li)
{
	const char *need[DETECT_LINE_TOKENS];
	gboolean promo = FALSE;
	int i, last = -1;

	memset(li, 0, sizeof *li);
	for (i = 0; i < n; i++) {
		need[i] = NULL;
		if (t[i].kind == TK_WORD)
			t[i].flags = token_kw_word(c, &t[i], &need[i]);
		else if (t[i].kind == TK_CJK)
			token_kw_cjk(c, &t[i]);
		if (t[i].kind != TK_SPACE)
			last = i;
		if (t[i].kind == TK_PUNCT && (t[i].cp == '%' || t[i].cp == 0xff05))
			promo = TRUE;
	}
	li->blank = last < 0;
	for (i = 0; i < n; i++) {
		int j;

		if (t[i].kind != TK_WORD || t[i].flags == 0)
			continue;
		if (need[i] != NULL) {
			j = token_word_next(t, n, i, 1, FALSE);
			if (j < 0 || !token_need_match(need[i], &t[j]))
				t[i].flags = 0;
		}
	}
	for (i = 0; i < n; i++) {
		int a, b;

		if (t[i].kind != TK_WORD || !(t[i].flags & (K_CODE | K_WEAK)))
			continue;
		a = token_word_next(t, n, i, -1, TRUE);
		b = token_word_next(t, n, i, 1, TRUE);
		if ((a >= 0 && (t[a].flags & K_NEG)) || (b >= 0 && (t[b].flags & K_NEG)))
			t[i].flags = (t[i].flags & ~(K_KW | K_LINK)) | K_NEGD | K_LABEL;
	}
	for (i = 0; i < n; i++)
		if (t[i].kind == TK_WORD || t[i].kind == TK_CJK)
			li->flags |= t[i].flags;
	if (li->flags & K_PROMO)
		promo = TRUE;
	if (li->flags & K_OTP)
		li->kw = 3;
	else if (!promo && (li->flags & K_CODE))
		li->kw = 2;
	else if (!promo && (li->flags & K_WEAK))
		li->kw = 1;
	li->colon_kw = li->kw > 0 && last >= 0 && t[last].kind == TK_PUNCT &&
	    (t[last].cp == ':' || t[last].cp == 0xff1a);
}
