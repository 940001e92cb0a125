/*
 * detect.c - the built-in one-time-code detector (code = auto), doc/core.md §3.
 *
 * Pure: no I/O, no mutable globals, GLib only, no regular expressions.  The
 * subject and the body text are cut into lines and each line into tokens in
 * one linear pass over the UTF-8 (words, digit runs, CJK/Hangul/Thai runs,
 * spaces, punctuation, URLs).  Words are folded once (lower case, accents
 * removed, ß -> ss, Arabic letter forms unified) and looked up in the word
 * table of lexicon.c, which says what a word is: an OTP keyword, a generic
 * "code" word, a weak sign-in/security word, a negating modifier (zip, promo,
 * Gutschein...), a decoy label (order, invoice, phone...), a currency, a
 * copula, a meeting or booking/gift word.  CJK, Hangul and Thai runs are
 * matched by substring against the phrase table.  Candidates (4-8 digit
 * runs, grouped digits, spaced single digits on a line of their own,
 * uppercase alphanumeric codes, label-prefixed digits, lower/mixed-case
 * alphanumeric words right after an OTP keyword) are checked for decoy
 * shapes and labels, gated by keyword proximity, scored, merged by value;
 * a meeting invitation keeps none, a booking/ticket/gift/promo mail only
 * those an OTP word vouched for; a tie between two different values is
 * "nothing".  Only when no candidate counted at all is a magic sign-in link
 * looked for (never in a meeting invitation).
 *
 * Only the lines that can matter are tokenized: a cheap first pass finds
 * the non-blank lines and which hold a digit; a line is read when it or one
 * of the three after it holds a digit.  When no code is found, every line is
 * read once more for URLs and the words that introduce them.
 *
 * Scoring (higher wins; a candidate far from any keyword scores nothing):
 *   proximity  subject candidate, subject has a keyword: 40 + 5 * strength
 *              same line as a keyword:                   40 + 5 * strength
 *              1st/2nd/3rd non-blank line after one:     30/25/20 + 5 * strength
 *              own line, keyword on the next line:       20 + 5 * strength
 *              own line, subject has a keyword:          20 + 5 * strength
 *              (strength: 3 OTP word, 2 generic "code"/PIN, 1 sign-in/security)
 *   form       "code: X", "code is X", "X is your code", "验证码：X" +30
 *   own line   the candidate is all its line holds            +10
 *   shape      uppercase alphanumeric code                     -5
 *   position   in the subject or the first 2 KiB of text       +2
 * A weak keyword (sign in, login, security, confirm) vouches only for a
 * candidate in a clear form ("Login: X", "X to sign in") or on its own line.
 * A year counts only right after a code noun ("code: 2024").
 *
 * Magic links (only when no candidate counted; a tie of codes is nothing):
 * an http(s) URL with a token-like run (16+ characters with digits or mixed
 * case, or 12+ mixing letters and digits: a bare login page is no magic
 * link), not pointing at unsubscribe, privacy, help, reset or a pixel;
 * standing 2 when its anchor text (or the words before it in the text) says
 * sign in/verify/confirm, +1 when its path says login/auth/magic/verify/
 * token/otp.  An HTML link counts only through its anchor text; the path
 * alone counts only for a URL in plain text, and only when the mail speaks
 * of signing in somewhere.  Best standing wins; a tie is nothing.
 *
 * The kind of mail (XXX: judged from words, so a sign-in mail that says
 * "meeting" or "invitation" near its code gives nothing, and a booking mail
 * whose code line says "verification" still gives its code): meeting words
 * anywhere read drop every candidate; booking, ticket, gift and promo words
 * leave only candidates an OTP word (strength 3) vouched for.
 *
 * Hostile input: the whole subject and body text of any mail, possibly
 * invalid UTF-8 (an invalid byte is one punctuation token), and the href and
 * anchor text of every HTML link; detect_normalize() reads a filter's capture
 * (any UTF-8, blanks removed) and keeps at most DETECT_VALUE_MAX - 1 digits.
 *
 * Limits: DETECT_TEXT_MAX bytes of text are read (XXX: a code further down
 * a giant mail is missed; OTP mails put it near the top); a line is looked
 * at DETECT_LINE_TOKENS tokens at a time; folded words keep DETECT_FOLD_MAX
 * bytes; at most DETECT_CANDS_MAX distinct candidates, DETECT_LINKS_MAX HTML
 * links and DETECT_TLINKS_MAX text URLs are kept; URLs longer than
 * DETECT_URL_MAX are ignored; the subject is read up to 4 KiB, anchor texts
 * up to 1 KiB.  Work is linear in the text read.  Not handled: fullwidth
 * digits, languages the lexicon does not have.
 */
#include "autoconfig.h"

#include <string.h>

#include "detect.h"
#define LEXICON_SHORT_FLAGS   /* K_OTP for LEXICON_OTP, ... */
#include "lexicon.h"
#include "message.h"

#define DETECT_TEXT_MAX    (64 * 1024)
#define DETECT_LINE_TOKENS 256
#define DETECT_FOLD_MAX    32
#define DETECT_CANDS_MAX   64
#define DETECT_VALUE_MAX   24
#define DETECT_LINKS_MAX   256
#define DETECT_TLINKS_MAX  64
#define DETECT_URL_MAX     4096
#define DETECT_EARLY_BYTES 2048
#define DETECT_KW_BUCKETS  (36 + 64)   /* a-z, 0-9, then UTF-8 lead bytes */


#define K_KW    (K_OTP | K_CODE | K_WEAK)
#define K_DECOY (K_NEG | K_LABEL | K_PHONE | K_POST | K_CUR | K_NEGD)

/* Uppercase tokens that look like codes but name things. */
static const char *const detect_alnum_stop[] = {
	"UTF", "ISO", "COVID", "SHA", "RFC", "CVE", "MP3", "MP4", "H264", "X509",
};

enum { TK_SPACE, TK_WORD, TK_NUM, TK_CJK, TK_PUNCT, TK_URL };

/* Shape of a word token. */
#define SH_DIGIT  0x01u  /* has an ASCII digit */
#define SH_ALPHA  0x02u  /* has a letter */
#define SH_UPCODE 0x04u  /* only ASCII A-Z and 0-9 */
#define SH_CAP    0x08u  /* Capitalised: an upper-case letter then lower case */
#define SH_LONG   0x10u  /* folded form was cut at DETECT_FOLD_MAX */

struct tok {
	const char *s;        /* first byte in the source */
	guint32 len;          /* bytes */
	guint8 kind;          /* TK_* */
	guint8 flen;          /* bytes of fold */
	guint8 shape;         /* SH_* */
	guint8 nch;           /* chars of a space run (capped) */
	gunichar cp;          /* TK_PUNCT: the character; TK_CJK: the first */
	guint32 flags;        /* K_* of a word or CJK run, resolved */
	guint32 head, tail;   /* TK_CJK: K_* of the first and the last match */
	guint8 headoff;       /* TK_CJK: chars before the first match */
	guint8 tailgap;       /* TK_CJK: chars after the last match */
	char fold[DETECT_FOLD_MAX];
};

struct lineinfo {
	guint32 flags;        /* K_* of all its words */
	int kw;               /* keyword strength 0-3 */
	gboolean blank;
	gboolean colon_kw;    /* has a keyword and ends in ':' */
};

struct cand {
	char value[DETECT_VALUE_MAX];
	int score;
	int kw;               /* strength of the strongest keyword that vouched */
};

struct tlink {
	const char *url;
	gsize len;
	guint32 ctx;          /* K_* of the words that introduce it */
};

struct detect_ctx {
	/* keyword index: lexicon_words sorted by (first byte, length) */
	guint16 kstart[DETECT_KW_BUCKETS * 32 + 1];
	guint16 korder[LEXICON_WORDS_MAX];
	guint64 cjk_bloom[64];    /* first characters of lexicon_phrases, by cp & 4095 */
	gunichar cjk_first[LEXICON_PHRASES_MAX];

	struct cand cands[DETECT_CANDS_MAX];
	int ncands;
	struct cand pending[4];   /* own-line candidates awaiting a keyword line */
	int npending;

	struct tlink tlinks[DETECT_TLINKS_MAX];
	int ntlinks;
	guint32 mail_flags;       /* K_* of the subject and every text line */
};

/* ---- characters ---------------------------------------------------------- */

enum { CH_OTHER, CH_DIGIT, CH_ALPHA, CH_SPACE, CH_CJK, CH_ZW, CH_MARK, CH_NL };

/* Accent-free lower case of U+00C0..U+00FF; '?' = special, '-' = not a letter. */
static const char detect_fold_latin1[] =
	"aaaaaa?ceeeeiiiidnooooo-ouuuuyt?"
	"aaaaaa?ceeeeiiiidnooooo-ouuuuyty";
/* Same for U+0100..U+017F; '?' = special. */
static const char detect_fold_latin_a[] =
	"aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkk"
	"llllllllllnnnnnnnnnoooooo??rrrrrrssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";

/* Whether cp belongs in a CJK run (ideographs, kana, Hangul). */
static gboolean
is_cjk(gunichar cp)
{
	return (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x31f0 && cp <= 0x31ff) ||
	    (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) ||
	    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff66 && cp <= 0xff9f) ||
	    (cp >= 0xac00 && cp <= 0xd7af) || cp == 0x3005 ||
	    (cp >= 0x0e01 && cp <= 0x0e4e);   /* Thai: no spaces between words */
}

/* Whether cp is one of the ASCII characters in set. */
static gboolean
ascii_in(gunichar cp, const char *set)
{
	return cp != 0 && cp < 0x80 && strchr(set, (int)cp) != NULL;
}

/* Whether cp is a currency sign. */
static gboolean
is_currency(gunichar cp)
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
static const guint8 detect_ascii_class[128] = {
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
char_class_slow(const char *p, const char *end, gunichar *cp, int *n)
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
	if (is_cjk(*cp))
		return CH_CJK;
	if (g_unichar_isalpha(*cp))
		return CH_ALPHA;
	if (g_unichar_ismark(*cp))
		return CH_MARK;
	return CH_OTHER;
}

/* Classifies the character at p (end excluded); sets *cp and *n (bytes). */
static inline int
char_class(const char *p, const char *end, gunichar *cp, int *n)
{
	guchar b = (guchar)*p;

	if (G_LIKELY(b < 0x80)) {
		*cp = b;
		*n = 1;
		return detect_ascii_class[b];
	}
	return char_class_slow(p, end, cp, n);
}

/*
 * The base letter of cp for the scripts whose accents do not change a
 * keyword: Latin Extended-B and Additional (Romanian ș, Vietnamese ự) and
 * Greek (ή) lose their combining marks, final ς is σ; Arabic alef forms become ا, Persian
 * yeh and keheh become ي and ك (legacy charsets write them so).  Cyrillic
 * й and ё stay what they are.
 */
static gunichar
fold_base(gunichar cp)
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
mark_kept(gunichar cp)
{
	return cp >= 0x900 && cp <= 0xdff;
}

/* Appends the folded form of a letter to t->fold; returns whether it is upper case. */
static gboolean
fold_letter(struct tok *t, gunichar cp)
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
		char f = cp <= 0xff ? detect_fold_latin1[cp - 0xc0] :
		    detect_fold_latin_a[cp - 0x100];

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
		gunichar base = fold_base(cp);

		upper = g_unichar_isupper(cp);
		if (base != cp && (base < 0x80 || (base >= 0xc0 && base <= 0x17f))) {
			fold_letter(t, base);
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
kw_bucket(char c)
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
kw_key(const char *w, gsize len)
{
	int b = kw_bucket(w[0]);

	if (b < 0 || len == 0 || len > 31)
		return -1;
	return b * 32 + (int)len;
}

/* Builds the per-call keyword index (cheap: one counting sort of the tables). */
static void
kw_index(struct detect_ctx *c)
{
	guint16 fill[DETECT_KW_BUCKETS * 32];
	gsize i;
	int k;

	for (i = 0; i < lexicon_nwords; i++)
		if ((k = kw_key(lexicon_words[i].w, lexicon_words[i].len)) >= 0)
			c->kstart[k + 1]++;
	for (k = 0; k < DETECT_KW_BUCKETS * 32; k++)
		c->kstart[k + 1] += c->kstart[k];
	memcpy(fill, c->kstart, sizeof fill);
	for (i = 0; i < lexicon_nwords; i++)
		if ((k = kw_key(lexicon_words[i].w, lexicon_words[i].len)) >= 0)
			c->korder[fill[k]++] = i;
	for (i = 0; i < lexicon_nphrases; i++) {
		c->cjk_first[i] = g_utf8_get_char(lexicon_phrases[i].w);
		c->cjk_bloom[(c->cjk_first[i] >> 6) & 63] |=
		    G_GUINT64_CONSTANT(1) << (c->cjk_first[i] & 63);
	}
}

/* The table entry for a folded word, or NULL. */
static const struct lexicon_entry *
kw_find(const struct detect_ctx *c, const char *w, gsize len)
{
	int k = len > 0 ? kw_key(w, len) : -1, i;

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
kw_prefix_flags(const struct detect_ctx *c, const char *w, gsize len)
{
	const struct lexicon_entry *k;

	while (len > 0 && w[len - 1] == '-')
		len--;
	if ((k = kw_find(c, w, len)) != NULL)
		return k->flags;
	if (len > 2 && w[len - 1] == 's' && (k = kw_find(c, w, len - 1)) != NULL)
		return k->flags;
	return 0;
}

/* The last halves of a "...code" compound (code, kod, kode, koodi and forms). */
static const char *const detect_code_suffix[] = {
	"codes", "code", "koden", "kode", "kod", "koodisi", "koodi",
};

/* K_* of a folded word, and the words it must precede (*need); handles compounds. */
static guint32
kw_word(const struct detect_ctx *c, const struct tok *t, const char **need)
{
	const struct lexicon_entry *k;
	const char *w = t->fold;
	gsize len = t->flen, i;
	guint32 pf;

	*need = NULL;
	if (t->shape & SH_LONG)
		return 0;
	if ((k = kw_find(c, w, len)) != NULL) {
		*need = k->need;
		return k->flags & K_PFX ? 0 : k->flags;
	}
	/* Bestätigungscode, Gutscheincode, verificatiecode, engångskoden, barcode */
	for (i = 0; i < G_N_ELEMENTS(detect_code_suffix); i++) {
		gsize sl = strlen(detect_code_suffix[i]);

		if (len < sl + 3 || memcmp(w + len - sl, detect_code_suffix[i], sl) != 0)
			continue;
		pf = kw_prefix_flags(c, w, len - sl);
		if (pf & (K_DECOY | K_PROMO))
			return K_NEGD | K_LABEL;
		if (pf & (K_KW | K_PFX | K_LINK))
			return K_OTP;
		return K_CODE;
	}
	/* Bestellnummer, Telefonnummer, klantnummer */
	if (len > 7 && w[len - 1] == 'r' && memcmp(w + len - 6, "nummer", 6) == 0) {
		pf = kw_prefix_flags(c, w, len - 6);
		return pf & K_PHONE ? K_PHONE : K_LABEL;
	}
	return 0;
}

/* Matches CJK phrases in a run; fills t->flags, head and tail. */
static void
kw_cjk(const struct detect_ctx *c, struct tok *t)
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
url_len(const char *p, const char *end)
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
static int
tokenize(const char *p, const char *end, struct tok *toks, int max, const char **next)
{
	int n = 0;

	while (p < end && n < max) {
		struct tok *t = &toks[n];
		gunichar cp;
		int len, cls = char_class(p, end, &cp, &len);

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
			while (p < end && (*p == ' ' || char_class(p, end, &cp, &len) == CH_SPACE)) {
				if (*p == ' ')
					len = 1;
				p += len;
				if (t->nch < 255)
					t->nch++;
			}
		} else if (cls == CH_CJK) {
			t->kind = TK_CJK;
			t->cp = cp;
			while (p < end && char_class(p, end, &cp, &len) == CH_CJK)
				p += len;
		} else if (cls == CH_DIGIT || cls == CH_ALPHA) {
			gsize ul = cls == CH_ALPHA ? url_len(p, end) : 0;
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
				if (b < 0x80 && detect_ascii_class[b] == CH_ALPHA && b != '_') {
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
				cls = char_class(p, end, &cp, &len);
				if (cls == CH_DIGIT) {
					t->shape |= SH_DIGIT;
					rest_lower = FALSE;
					if (t->flen < DETECT_FOLD_MAX - 1)
						t->fold[t->flen++] = (char)cp;
				} else if (cls == CH_ALPHA) {
					gboolean up = fold_letter(t, cp);

					t->shape |= SH_ALPHA;
					if (cp >= 0x80 || cp == '_' || !up)
						t->shape &= ~SH_UPCODE;
					if (first)
						first_upper = up;
					else if (up)
						rest_lower = FALSE;
				} else if (cls == CH_ZW || cls == CH_MARK) {
					t->shape &= ~SH_UPCODE;
					if (cls == CH_MARK && mark_kept(cp)) {
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
word_next(const struct tok *t, int n, int i, int dir, gboolean skip_func)
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
need_match(const char *need, const struct tok *w)
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
static void
line_resolve(const struct detect_ctx *c, struct tok *t, int n, struct lineinfo *li)
{
	const char *need[DETECT_LINE_TOKENS];
	gboolean promo = FALSE;
	int i, last = -1;

	memset(li, 0, sizeof *li);
	for (i = 0; i < n; i++) {
		need[i] = NULL;
		if (t[i].kind == TK_WORD)
			t[i].flags = kw_word(c, &t[i], &need[i]);
		else if (t[i].kind == TK_CJK)
			kw_cjk(c, &t[i]);
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
			j = word_next(t, n, i, 1, FALSE);
			if (j < 0 || !need_match(need[i], &t[j]))
				t[i].flags = 0;
		}
	}
	for (i = 0; i < n; i++) {
		int a, b;

		if (t[i].kind != TK_WORD || !(t[i].flags & (K_CODE | K_WEAK)))
			continue;
		a = word_next(t, n, i, -1, TRUE);
		b = word_next(t, n, i, 1, TRUE);
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

/* ---- candidates ---------------------------------------------------------- */

/* How a number is labelled: nothing, a keyword near, a keyword right
 * before ("code is X"), a code noun right before ("code: X"), a decoy label. */
enum { LBL_NONE, LBL_NEAR, LBL_STRONG, LBL_TIGHT, LBL_DECOY };

/* Whether punctuation cp may sit between a label and its number. */
static gboolean
label_sep(gunichar cp)
{
	return cp == ':' || cp == 0xff1a || cp == '-' || cp == 0x2013 ||
	    cp == 0x2014 || cp == '=' || cp == '>' || cp == ',' || cp == '(' ||
	    cp == '"' || cp == '\'' || cp == 0x201c || cp == 0x201d ||
	    cp == 0xab || cp == 0xbb || cp == '.' || cp == '[' || cp == '*';
}

/* Whether a phone label comes anywhere before token a on the line. */
static gboolean
phone_before(const struct tok *t, int a)
{
	int k;

	for (k = a - 1; k >= 0; k--)
		if ((t[k].kind == TK_WORD || t[k].kind == TK_CJK) && (t[k].flags & K_PHONE))
			return TRUE;
	return FALSE;
}

/*
 * Whether a "code" word comes a few words before the label at token k:
 * "code for your account: X", "code to log in to your account: X".
 */
static gboolean
code_before(const struct tok *t, int k)
{
	int words = 0, unknown = 0;

	for (k--; k >= 0; k--) {
		if (t[k].kind == TK_SPACE)
			continue;
		if (t[k].kind != TK_WORD)
			return FALSE;
		if (t[k].flags & (K_CODE | K_OTP))
			return TRUE;
		if (++words > 7)
			return FALSE;
		if (t[k].flags & (K_COP | K_FUNC | K_WEAK))
			continue;
		if (t[k].flags != 0 || ++unknown > 2)
			return FALSE;
	}
	return FALSE;
}

/* What labels the number starting at token a, looking left on its line. */
static int
label_before(const struct tok *t, int a)
{
	gboolean tight = TRUE;
	int k, unknown = 0, steps = 0, words_since = 0;

	for (k = a - 1; k >= 0 && steps < 24; k--, steps++) {
		const struct tok *p = &t[k];

		switch (p->kind) {
		case TK_SPACE:
			continue;
		case TK_PUNCT:
			if (p->cp == ')' && k >= 2 && t[k - 1].kind == TK_NUM &&
			    t[k - 2].kind == TK_PUNCT && t[k - 2].cp == '(')
				return LBL_DECOY;   /* (555) 123-4567 */
			if (p->cp == ',' && words_since == 0)
				continue;   /* a list of numbers */
			if (!label_sep(p->cp))
				return LBL_NONE;
			if (p->cp == '.' || p->cp == ',' || p->cp == '(')
				tight = FALSE;
			continue;
		case TK_NUM:
			/* "codes: 482913 and 551209": the list shares its label */
			if (words_since <= 1 && p->flen >= 4) {
				words_since = 0;
				continue;
			}
			return LBL_NONE;
		case TK_WORD:
			if (p->flags & K_KW) {
				if (!tight || unknown > 2)
					return LBL_NEAR;
				if (unknown == 0 && (p->flags & (K_OTP | K_CODE)))
					return LBL_TIGHT;
				if (unknown > 0 && !(p->flags & (K_OTP | K_CODE)))
					return LBL_NEAR;
				return LBL_STRONG;
			}
			if ((p->flags & K_DECOY) == K_LABEL && code_before(t, k))
				return LBL_NEAR;   /* code for your account: X */
			if (p->flags & K_DECOY)
				return LBL_DECOY;
			if (p->flags & K_CONJ) {
				words_since++;
				continue;
			}
			if (p->flags & K_COP)
				continue;
			words_since += 2;
			if (p->flags & (K_NUMW | K_FUNC)) {
				tight = FALSE;
				continue;
			}
			if (++unknown > 3)
				return LBL_NONE;
			continue;
		case TK_CJK:
			if ((p->tail & K_KW) && p->tailgap <= 2)
				return !tight ? LBL_NEAR : p->tailgap == 0 &&
				    (p->tail & (K_OTP | K_CODE)) ? LBL_TIGHT : LBL_STRONG;
			if ((p->tail & K_DECOY) && p->tailgap <= 2)
				return LBL_DECOY;
			return LBL_NONE;
		default:
			return LBL_NONE;
		}
	}
	return LBL_NONE;
}

/* What follows the number ending at token b: "is your code" or "is your order number". */
static int
label_after(const struct tok *t, int n, int b)
{
	gboolean cop = FALSE;
	int k, words = 0;

	for (k = b + 1; k < n; k++) {
		const struct tok *p = &t[k];

		if (p->kind == TK_SPACE)
			continue;
		if (p->kind == TK_PUNCT) {
			if (words == 0 && (p->cp == '-' || p->cp == 0x2013 ||
			    p->cp == 0x2014 || p->cp == ':' || p->cp == '|')) {
				cop = TRUE;
				continue;
			}
			return LBL_NONE;
		}
		if (p->kind == TK_CJK) {
			if (words > 0 || p->headoff > 4)
				return LBL_NONE;
			if (p->head & K_KW)
				return LBL_STRONG;
			if (p->head & K_DECOY)
				return LBL_DECOY;
			return LBL_NONE;
		}
		if (p->kind != TK_WORD)
			return LBL_NONE;
		if (words == 0 && !cop) {
			if (!(p->flags & K_COP))
				return LBL_NONE;
			cop = TRUE;
			words++;
			continue;
		}
		if (p->flags & K_KW)
			return LBL_STRONG;
		if (p->flags & K_DECOY)
			return LBL_DECOY;
		if (++words > 5)
			return LBL_NONE;
	}
	return LBL_NONE;
}

/* Whether the tokens around [a, b] make it part of something bigger. */
static gboolean
boundary_bad(const struct tok *t, int n, int a, int b)
{
	if (a > 0) {
		const struct tok *p = &t[a - 1];
		const struct tok *pp = a > 1 ? &t[a - 2] : NULL;

		if (p->kind == TK_URL)
			return TRUE;
		if (p->kind == TK_PUNCT) {
			if (is_currency(p->cp) || ascii_in(p->cp, "_/\\@=&?#+*~^|") ||
			    p->cp == 0x2022 || p->cp == 0x2116 || p->cp == 0xff03)
				return TRUE;
			if ((p->cp == '.' || p->cp == ',' || p->cp == '-') && pp != NULL &&
			    (pp->kind == TK_NUM || pp->kind == TK_WORD))
				return TRUE;
			if (p->cp == ':' && pp != NULL && pp->kind == TK_NUM)
				return TRUE;
		}
		if (p->kind == TK_SPACE && pp != NULL) {
			if (pp->kind == TK_PUNCT && is_currency(pp->cp))
				return TRUE;
			if (pp->kind == TK_WORD && (pp->flags & K_CUR))
				return TRUE;
			if (pp->kind == TK_PUNCT && (pp->cp == '+' || pp->cp == '*' ||
			    pp->cp == 0x2022 || pp->cp == 0xb7))
				return TRUE;   /* +49 30..., **** 4821 */
		}
	}
	if (b + 1 < n) {
		const struct tok *q = &t[b + 1];
		const struct tok *qq = b + 2 < n ? &t[b + 2] : NULL;

		if (q->kind == TK_URL)
			return TRUE;
		if (q->kind == TK_PUNCT) {
			if (is_currency(q->cp) || ascii_in(q->cp, "_/\\@%=&*") ||
			    q->cp == 0xb0 || q->cp == 0xff05)
				return TRUE;
			if ((q->cp == '.' || q->cp == ',' || q->cp == ':' || q->cp == '-') &&
			    qq != NULL && (qq->kind == TK_NUM || qq->kind == TK_WORD))
				return TRUE;
		}
		if (q->kind == TK_SPACE && qq != NULL) {
			if (qq->kind == TK_PUNCT && (is_currency(qq->cp) || qq->cp == '%'))
				return TRUE;
			if (qq->kind == TK_WORD && (qq->flags & K_CUR))
				return TRUE;
		}
		if (q->kind == TK_CJK) {
			switch (q->cp) {
			case 0x5e74: case 0x6708: case 0x65e5: case 0x6642: case 0x65f6:
			case 0x5206: case 0x79d2: case 0x5143: case 0x5186: case 0x5706:
			case 0x5757: case 0x53f7: case 0x865f: case 0x500b: case 0x4e2a:
				return TRUE;   /* 年月日時时分秒元円圆块号號個个 */
			}
		}
	}
	return FALSE;
}

/* Numeric value of a short digit token (at most 9 digits). */
static long
num_value(const struct tok *t)
{
	long v = 0;
	guint32 i;

	for (i = 0; i < t->len && i < 9; i++)
		if (g_ascii_isdigit(t->s[i]))
			v = v * 10 + (t->s[i] - '0');
	return v;
}

/* Digits in a number token. */
static int
num_digits(const struct tok *t)
{
	return t->flen;   /* digits are folded as themselves */
}

/* Whether the groups g[0..k) with separator sep read as a date. */
static gboolean
is_date(const struct tok *t, const int *g, int k, gunichar sep)
{
	long a, b, d;
	int la, lc;

	if (k == 2 && sep == '-') {
		a = num_value(&t[g[0]]);
		b = num_value(&t[g[1]]);
		la = num_digits(&t[g[0]]);
		if (la == 4 && a >= 1900 && a <= 2099 &&
		    ((b >= 1 && b <= 12) || (b >= 1900 && b <= 2099)))
			return TRUE;   /* 2024-05, 2023-2024 */
		return FALSE;
	}
	if (k != 3)
		return FALSE;
	a = num_value(&t[g[0]]);
	b = num_value(&t[g[1]]);
	d = num_value(&t[g[2]]);
	la = num_digits(&t[g[0]]);
	lc = num_digits(&t[g[2]]);
	if (la == 4 && b >= 1 && b <= 12 && d >= 1 && d <= 31)
		return TRUE;   /* 2024-05-17 */
	if ((lc == 4 || (lc == 2 && sep == '.')) && a >= 1 && a <= 31 &&
	    b >= 1 && b <= 31 && (a <= 12 || b <= 12))
		return TRUE;   /* 17.05.2024, 05-17-2024, 17.05.24 */
	return FALSE;
}

/* Whether the candidate line holds nothing but tokens [a, b]. */
static gboolean
own_line(const struct tok *t, int n, int a, int b)
{
	int i;

	for (i = 0; i < n; i++) {
		if (i >= a && i <= b)
			continue;
		if (t[i].kind == TK_SPACE)
			continue;
		if (t[i].kind == TK_PUNCT && i > b && (t[i].cp == '.' || t[i].cp == 0x3002))
			continue;
		return FALSE;
	}
	return TRUE;
}

/* Records value with score, merging a repeated value (keeps its best score). */
static void
cand_add(struct detect_ctx *c, struct cand *list, int *nlist, int max,
    const char *value, int score, int kw)
{
	int i;

	for (i = 0; i < *nlist; i++) {
		if (strcmp(list[i].value, value) == 0) {
			list[i].score = MAX(list[i].score, score);
			list[i].kw = MAX(list[i].kw, kw);
			return;
		}
	}
	if (*nlist >= max)
		return;
	g_strlcpy(list[*nlist].value, value, sizeof list[*nlist].value);
	list[*nlist].score = score;
	list[*nlist].kw = kw;
	(*nlist)++;
}

/* Where and how near a keyword the candidates of a line are. */
struct where {
	int prox;          /* proximity score, 0: does not count */
	int own_prox;      /* proximity of a candidate alone on its line */
	int pending_prox;  /* own-line score to use if the next line has a keyword */
	gboolean early;    /* in the subject or the first bytes of text */
	gboolean colon;    /* the previous line was "...code:" */
	gboolean cont;     /* the line is a continuation chunk */
	gboolean weak;     /* the keyword that makes it count is a weak one */
	int kw;            /* strength of that keyword (0-3) */
};

/* Scores a candidate [a, b] of a line and files it. */
static void
cand_take(struct detect_ctx *c, const struct tok *t, int n, int a, int b,
    const char *value, gboolean alnum, int label, const struct where *w)
{
	gboolean own = !w->cont && own_line(t, n, a, b);
	int extra = 0, after;

	after = label_after(t, n, b);
	if (after == LBL_DECOY && label < LBL_STRONG)
		return;
	/* a weak keyword (sign in, security) only vouches for a clear form */
	if (w->weak && label < LBL_STRONG && after != LBL_STRONG && !own)
		return;
	if (label >= LBL_STRONG || after == LBL_STRONG || (own && w->colon))
		extra += 30;
	if (own)
		extra += 10;
	if (alnum)
		extra -= 5;
	if (w->early)
		extra += 2;
	if (w->prox > 0)
		cand_add(c, c->cands, &c->ncands, DETECT_CANDS_MAX, value,
		    w->prox + extra, w->kw);
	else if (own && w->own_prox > 0)
		cand_add(c, c->cands, &c->ncands, DETECT_CANDS_MAX, value,
		    w->own_prox + extra, w->kw);
	else if (own && w->pending_prox > 0)
		cand_add(c, c->pending, &c->npending, G_N_ELEMENTS(c->pending),
		    value, w->pending_prox + extra, 0);
}

/* Tries an uppercase alphanumeric code over tokens [a, b]. */
static void
cand_alnum(struct detect_ctx *c, const struct tok *t, int n, int a, int b,
    int hyphens, const struct where *w)
{
	char value[DETECT_VALUE_MAX];
	gboolean letter = FALSE, digit = FALSE;
	int i, alnum = 0, label;
	gsize vl = 0, j;

	if (hyphens > 2)
		return;
	for (i = a; i <= b; i++) {
		if (t[i].kind == TK_PUNCT)
			continue;
		alnum += t[i].len;
		if (t[i].shape & SH_ALPHA)
			letter = TRUE;
		if (t[i].shape & SH_DIGIT)
			digit = TRUE;
	}
	if (alnum < 4 || alnum > 12 || !letter || !digit)
		return;
	if (boundary_bad(t, n, a, b))
		return;
	if (hyphens == 1 && t[a].kind == TK_WORD && t[a].len <= 3 &&
	    !(t[a].shape & SH_DIGIT) && t[b].kind == TK_NUM &&
	    t[b].len >= 4 && t[b].len <= 8) {
		/* G-123456, FB-12345: the letters are a label the site shows */
		label = label_before(t, a);
		if (label == LBL_DECOY)
			return;
		memcpy(value, t[b].s, t[b].len);
		value[t[b].len] = '\0';
		cand_take(c, t, n, a, b, value, FALSE, label, w);
		return;
	}
	if (a == b) {
		/* 10AM, 64GB, 5000MAH: a quantity and its unit */
		const char *s = t[a].s;

		for (j = 0; j < t[a].len && g_ascii_isdigit(s[j]); j++)
			;
		if (j > 0 && t[a].len - j <= 3)
			return;
	}
	for (i = a; i <= b && vl + t[i].len < sizeof value; i++) {
		memcpy(value + vl, t[i].s, t[i].len);
		vl += t[i].len;
	}
	if (i <= b)
		return;
	value[vl] = '\0';
	for (j = 0; j < G_N_ELEMENTS(detect_alnum_stop); j++)
		if (g_str_has_prefix(value, detect_alnum_stop[j]))
			return;
	label = label_before(t, a);
	if (label == LBL_DECOY)
		return;
	cand_take(c, t, n, a, b, value, TRUE, label, w);
}

/*
 * Tries a lower- or mixed-case alphanumeric word (a4k9zq, Tq8Lm3): only on
 * a line with an OTP word (verification, one-time, passcode, OTP), right
 * after a keyword ("verification code: x", "passcode is x") or alone on the
 * line after "...code:"; 4-12 ASCII characters, two digits and two letters
 * at least.  "Your code: abc123" is no code.
 */
static void
cand_mixed(struct detect_ctx *c, const struct tok *t, int n, int a,
    const struct where *w)
{
	char value[DETECT_VALUE_MAX];
	int digits = 0, letters = 0, label;
	guint32 j;

	if (t[a].len < 4 || t[a].len > 12 || w->kw < 3)
		return;
	for (j = 0; j < t[a].len; j++) {
		if (g_ascii_isdigit(t[a].s[j]))
			digits++;
		else if (g_ascii_isalpha(t[a].s[j]))
			letters++;
		else
			return;
	}
	if (digits < 2 || letters < 2 || boundary_bad(t, n, a, a))
		return;
	if (a + 1 < n && t[a + 1].kind == TK_PUNCT && t[a + 1].cp == '-')
		return;
	label = label_before(t, a);
	if (label == LBL_DECOY)
		return;
	if (label < LBL_STRONG && !(w->colon && !w->cont && own_line(t, n, a, a)))
		return;
	memcpy(value, t[a].s, t[a].len);
	value[t[a].len] = '\0';
	cand_take(c, t, n, a, a, value, TRUE, label, w);
}

/* Tries a digit run, grouped digits or spaced single digits over groups g[0..k). */
static void
cand_digits(struct detect_ctx *c, const struct tok *t, int n, const int *g, int k,
    gunichar sep, const struct where *w)
{
	char value[DETECT_VALUE_MAX];
	int i, total = 0, shortest = 99, longest = 0, label, a, b;
	gsize vl = 0;
	long v;

	for (i = 0; i < k; i++) {
		int d = num_digits(&t[g[i]]);

		total += d;
		shortest = MIN(shortest, d);
		longest = MAX(longest, d);
	}
	if (k == 1) {
		if (total < 4 || total > 8)
			return;
	} else if (is_date(t, g, k, sep)) {
		return;
	} else if (sep == ' ' && longest == 1 && k >= 4 && k <= 8) {
		if (w->cont || !own_line(t, n, g[0], g[k - 1]))
			return;
	} else if (shortest >= 2 && longest <= 4 && k <= 4 && total >= 4 &&
	    total <= 8 && !(sep == '.' && k != 3)) {
		/* grouped: 123 456, 123-456, 12.34.56 */
	} else if (sep == ' ' && k == 2 && (num_digits(&t[g[0]]) <= 2 ||
	    num_digits(&t[g[1]]) <= 2)) {
		/* "123456 10 minutes": the long one alone */
		int one = num_digits(&t[g[0]]) <= 2 ? g[1] : g[0];

		cand_digits(c, t, n, &one, 1, 0, w);
		return;
	} else {
		return;   /* a phone number, an IP address, an amount */
	}
	a = g[0];
	b = g[k - 1];
	if (boundary_bad(t, n, a, b))
		return;
	for (i = 0; i < k; i++) {
		guint32 j;

		for (j = 0; j < t[g[i]].len && vl + 1 < sizeof value; j++)
			if (g_ascii_isdigit(t[g[i]].s[j]))
				value[vl++] = t[g[i]].s[j];
	}
	value[vl] = '\0';
	label = label_before(t, a);
	if (label == LBL_DECOY)
		return;
	v = k == 1 ? num_value(&t[a]) : 0;
	if (k == 1 && total == 4 && v >= 1900 && v <= 2099 && label != LBL_TIGHT)
		return;   /* a year */
	if (k > 1 && sep != '.' && phone_before(t, a))
		return;   /* call us: 0800 1234 */
	if (k == 1 && label < LBL_STRONG) {
		/* 75008 Paris, 1012 AB Amsterdam, CA 94107 */
		if ((total == 4 || total == 5) && b + 2 < n && t[b + 1].kind == TK_SPACE &&
		    t[b + 2].kind == TK_WORD && ((t[b + 2].shape & SH_CAP) ||
		    (total == 4 && t[b + 2].len == 2 && (t[b + 2].shape & SH_UPCODE))))
			return;
		if (total == 5 && a >= 2 && t[a - 1].kind == TK_SPACE &&
		    t[a - 2].kind == TK_WORD && t[a - 2].len == 2 &&
		    (t[a - 2].shape & SH_UPCODE) && !(t[a - 2].shape & SH_DIGIT))
			return;
	}
	cand_take(c, t, n, a, b, value, FALSE, label, w);
}

/* Finds the candidates of one line (or subject) and files those near a keyword. */
static void
line_candidates(struct detect_ctx *c, const struct tok *t, int n, const struct where *w)
{
	int i = 0;

	while (i < n) {
		int j, hyphens = 0, g[9], k;
		gboolean word = FALSE;
		gunichar sep = 0;

		if (t[i].kind == TK_WORD && (t[i].shape & SH_DIGIT) &&
		    !(t[i].shape & SH_UPCODE)) {
			if (i == 0 || t[i - 1].kind != TK_PUNCT || t[i - 1].cp != '-')
				cand_mixed(c, t, n, i, w);
			i++;
			continue;
		}
		if (t[i].kind != TK_NUM &&
		    !(t[i].kind == TK_WORD && (t[i].shape & SH_UPCODE))) {
			i++;
			continue;
		}
		/* hyphen chain of uppercase words and numbers: KXR-4T9, G-123456 */
		j = i;
		word = t[i].kind == TK_WORD;
		while (j + 2 < n && t[j + 1].kind == TK_PUNCT && t[j + 1].cp == '-' &&
		    (t[j + 2].kind == TK_NUM || (t[j + 2].kind == TK_WORD &&
		    (t[j + 2].shape & SH_UPCODE)))) {
			j += 2;
			hyphens++;
			if (t[j].kind == TK_WORD)
				word = TRUE;
		}
		if (word) {
			cand_alnum(c, t, n, i, j, hyphens, w);
			i = j + 1;
			continue;
		}
		/* chain of numbers joined by one space, '-' or '.' */
		g[0] = i;
		k = 1;
		j = i;
		while (j + 2 < n && t[j + 2].kind == TK_NUM && k < 9) {
			gunichar s;

			if (t[j + 1].kind == TK_SPACE && t[j + 1].nch == 1)
				s = ' ';
			else if (t[j + 1].kind == TK_PUNCT &&
			    (t[j + 1].cp == '-' || t[j + 1].cp == '.'))
				s = t[j + 1].cp;
			else
				break;
			if (sep != 0 && s != sep)
				break;
			sep = s;
			j += 2;
			g[k++] = j;
		}
		if (k < 9)
			cand_digits(c, t, n, g, k, sep, w);
		i = j + 1;
	}
}

/* ---- magic links --------------------------------------------------------- */

/* Whether a lower-cased URL component names a sign-in step. */
static gboolean
url_word_good(const char *w, gsize l)
{
	static const char *const exact[] = {
		"auth", "oauth", "authenticate", "authentication", "authorize",
		"authorise", "otp", "signin", "login", "token",
	};
	static const char *const prefix[] = {
		"verif", "magic", "login", "signin", "token",
	};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(exact); i++)
		if (strlen(exact[i]) == l && memcmp(exact[i], w, l) == 0)
			return TRUE;
	for (i = 0; i < G_N_ELEMENTS(prefix); i++)
		if (l >= strlen(prefix[i]) && memcmp(prefix[i], w, strlen(prefix[i])) == 0)
			return TRUE;
	return FALSE;
}

/* Whether a lower-cased URL component names a link that is never a sign-in. */
static gboolean
url_word_bad(const char *w, gsize l)
{
	static const char *const bad[] = {
		"unsubscribe", "unsub", "optout", "privacy", "help", "support",
		"faq", "reset", "password", "pixel", "beacon", "preferences",
		"logout", "signout", "gif", "png", "jpg", "jpeg",
	};
	gsize i;

	for (i = 0; i < G_N_ELEMENTS(bad); i++)
		if (strlen(bad[i]) == l && memcmp(bad[i], w, l) == 0)
			return TRUE;
	return FALSE;
}

/*
 * Reads the path and query of an http(s) URL: *good if a component names a
 * sign-in step, *bad if one names unsubscribe/privacy/help/reset/a pixel,
 * *secret if it carries a token-like run of 16+ characters.  FALSE if the
 * URL is not http(s) or too long.
 */
static gboolean
url_read(const char *u, gsize len, gboolean *good, gboolean *bad, gboolean *secret)
{
	gsize i, start, run = 0, rdig = 0, rup = 0, rlow = 0;
	char w[33];
	gsize wl = 0;
	gboolean prev_sign = FALSE, prev_opt = FALSE;

	*good = *bad = *secret = FALSE;
	if (len > DETECT_URL_MAX)
		return FALSE;
	if (len > 8 && g_ascii_strncasecmp(u, "https://", 8) == 0)
		start = 8;
	else if (len > 7 && g_ascii_strncasecmp(u, "http://", 7) == 0)
		start = 7;
	else
		return FALSE;
	for (i = start; i < len && u[i] != '/' && u[i] != '?' && u[i] != '#'; i++)
		if ((guchar)u[i] <= 0x20)
			return FALSE;
	if (i == start)
		return FALSE;
	for (; i <= len; i++) {
		char ch = i < len ? u[i] : '/';

		if (g_ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == '%') {
			run++;
			rdig += g_ascii_isdigit(ch) ? 1 : 0;
			rup += g_ascii_isupper(ch) ? 1 : 0;
			rlow += g_ascii_islower(ch) ? 1 : 0;
		} else {
			run = rdig = rup = rlow = 0;
		}
		/* a token, not a slug: digits in it, or mixed case; a shorter
		 * one must mix letters and digits (a timestamp is no secret) */
		if ((run >= 16 && (rdig >= 3 || (rup > 0 && rlow > 0))) ||
		    (run >= 12 && rdig >= 3 && rup + rlow >= 3))
			*secret = TRUE;
		if (g_ascii_isalnum(ch)) {
			if (wl < sizeof w - 1)
				w[wl++] = g_ascii_tolower(ch);
			continue;
		}
		if (wl == 0)
			continue;
		if (url_word_good(w, wl) || (prev_sign && wl == 2 && memcmp(w, "in", 2) == 0))
			*good = TRUE;
		if (url_word_bad(w, wl) || (prev_opt && wl == 3 && memcmp(w, "out", 3) == 0))
			*bad = TRUE;
		prev_sign = wl == 4 && memcmp(w, "sign", 4) == 0;
		prev_opt = wl == 3 && memcmp(w, "opt", 3) == 0;
		wl = 0;
	}
	return TRUE;
}

/* K_* of a short text (anchor text), tokenized as one line. */
static guint32
text_flags(const struct detect_ctx *c, const char *s, struct tok *toks)
{
	const char *end, *next;
	struct lineinfo li;
	guint32 flags = 0;
	int n, chunks = 0;

	if (s == NULL)
		return 0;
	end = s + strnlen(s, 1024);
	while (s < end && chunks++ < 8) {
		n = tokenize(s, end, toks, DETECT_LINE_TOKENS, &next);
		line_resolve(c, toks, n, &li);
		flags |= li.flags;
		if (next <= s)
			break;
		s = next;
	}
	return flags;
}

struct linkc {
	const char *url;
	gsize len;
	int standing;
};

/*
 * Standing of one link (0: not a sign-in link).  anchored: an HTML link,
 * whose anchor text must itself say sign in/verify/confirm ("Check
 * activity" under a new-sign-in alert is no magic link); a URL in plain
 * text has no anchor, so its path may stand in for one.
 */
static int
link_standing(const struct detect_ctx *c, const char *url, gsize len, guint32 ctx,
    gboolean anchored)
{
	gboolean good, bad, secret;
	int st = 0;

	if (!url_read(url, len, &good, &bad, &secret) || bad || !secret)
		return 0;
	if (ctx & K_LINKNEG)
		return 0;
	if (ctx & K_LINK)
		st += 2;
	else if (anchored)
		return 0;
	if (good && (st > 0 || (c->mail_flags & (K_LINK | K_OTP | K_WEAK))))
		st += 1;
	return st;
}

/* Files a link candidate, merging the same URL. */
static void
link_add(struct linkc *l, int *nl, const char *url, gsize len, int st)
{
	int i;

	for (i = 0; i < *nl; i++) {
		if (l[i].len == len && memcmp(l[i].url, url, len) == 0) {
			l[i].standing = MAX(l[i].standing, st);
			return;
		}
	}
	if (*nl >= DETECT_LINKS_MAX + DETECT_TLINKS_MAX)
		return;
	l[*nl].url = url;
	l[*nl].len = len;
	l[*nl].standing = st;
	(*nl)++;
}

/* The one best magic link, or NULL (none, or two of equal standing). */
static char *
link_pick(struct detect_ctx *c, const GPtrArray *links, struct tok *toks)
{
	struct linkc *l = g_new(struct linkc, DETECT_LINKS_MAX + DETECT_TLINKS_MAX);
	int nl = 0, i, best = -1, ties = 0;
	char *ret = NULL;

	for (i = 0; links != NULL && i < (int)links->len && i < DETECT_LINKS_MAX; i++) {
		const struct link *lk = g_ptr_array_index(links, i);
		int st;

		if (lk == NULL || lk->url == NULL)
			continue;
		st = link_standing(c, lk->url, strnlen(lk->url, DETECT_URL_MAX + 1),
		    text_flags(c, lk->text, toks), TRUE);
		if (st > 0)
			link_add(l, &nl, lk->url, strlen(lk->url), st);
	}
	for (i = 0; i < c->ntlinks; i++) {
		int st = link_standing(c, c->tlinks[i].url, c->tlinks[i].len,
		    c->tlinks[i].ctx, FALSE);

		if (st > 0)
			link_add(l, &nl, c->tlinks[i].url, c->tlinks[i].len, st);
	}
	for (i = 0; i < nl; i++) {
		if (best < 0 || l[i].standing > l[best].standing) {
			best = i;
			ties = 0;
		} else if (l[i].standing == l[best].standing) {
			ties++;
		}
	}
	if (best >= 0 && ties == 0)
		ret = g_strndup(l[best].url, l[best].len);
	g_free(l);
	return ret;
}

/* ---- the detector -------------------------------------------------------- */

/* A non-blank line of the text. */
struct lref {
	guint32 off, len;
	gboolean digit;   /* holds an ASCII digit: may hold a candidate */
};

/* Cuts text[0, len) into its non-blank lines (one cheap pass). */
static GArray *
text_lines(const char *text, gsize len)
{
	GArray *lines = g_array_sized_new(FALSE, FALSE, sizeof(struct lref), 128);
	struct lref l = { 0, 0, FALSE };
	gboolean nonblank = FALSE;
	gsize i;

	for (i = 0; i <= len; i++) {
		guchar b = i < len ? (guchar)text[i] : '\n';

		if (b == '\n') {
			if (nonblank) {
				l.len = i - l.off;
				g_array_append_val(lines, l);
			}
			l.off = i + 1;
			l.digit = nonblank = FALSE;
		} else if (b >= '0' && b <= '9') {
			l.digit = nonblank = TRUE;
		} else if (b != ' ' && b != '\t' && b != '\r') {
			nonblank = TRUE;
		}
	}
	return lines;
}

/*
 * Reads the body text line by line: keywords, candidates, URLs.  Unless
 * full, only lines that can matter to a candidate are tokenized: lines with
 * a digit, the three before them, and the one after an own-line candidate.
 */
static void
detect_text(struct detect_ctx *c, const char *text, GArray *lines, int subj_kw,
    struct tok *toks, gboolean full)
{
	int since_kw = 100, last_kw = 0;
	gboolean prev_colon = FALSE;
	guint32 prev_flags = 0;
	guint li_i;

	for (li_i = 0; li_i < lines->len; li_i++) {
		const struct lref *lr = &g_array_index(lines, struct lref, li_i);
		const char *p = text + lr->off, *end = p + lr->len;
		gboolean need = full || c->npending > 0, cont = FALSE;
		guint j;

		for (j = li_i; !need && j < lines->len && j <= li_i + 3; j++)
			need = g_array_index(lines, struct lref, j).digit;
		if (!need) {
			since_kw++;
			prev_colon = FALSE;
			prev_flags = 0;
			continue;
		}
		while (p < end) {
			const char *next, *lstart = p;
			struct lineinfo li;
			struct where w;
			int n, i;

			n = tokenize(p, end, toks, DETECT_LINE_TOKENS, &next);
			line_resolve(c, toks, n, &li);
			p = next > lstart ? next : end;
			if (li.blank)
				break;
			c->mail_flags |= li.flags;
			if (c->npending > 0) {
				if (li.kw > 0) {
					for (i = 0; i < c->npending; i++)
						cand_add(c, c->cands, &c->ncands, DETECT_CANDS_MAX,
						    c->pending[i].value,
						    c->pending[i].score + 5 * li.kw, li.kw);
				}
				c->npending = 0;
			}
			since_kw++;
			memset(&w, 0, sizeof w);
			w.early = lstart - text < DETECT_EARLY_BYTES;
			w.cont = cont;
			w.colon = prev_colon && since_kw == 1;
			if (li.kw > 0) {
				w.prox = 40 + 5 * li.kw;
				w.weak = li.kw == 1;
				w.kw = li.kw;
			} else if (since_kw <= 3) {
				w.prox = 30 - 5 * (since_kw - 1) + 5 * last_kw;
				w.weak = last_kw == 1;
				w.kw = last_kw;
			} else if (subj_kw > 0) {
				w.own_prox = 20 + 5 * subj_kw;
				w.kw = subj_kw;
			} else {
				w.pending_prox = 20;   /* + 5 * strength of the next line */
			}
			line_candidates(c, toks, n, &w);
			for (i = 0; i < n; i++) {
				guint32 ctx = 0;
				int k;

				if (toks[i].kind != TK_URL || c->ntlinks >= DETECT_TLINKS_MAX)
					continue;
				for (k = 0; k < i; k++)
					if (toks[k].kind == TK_WORD || toks[k].kind == TK_CJK)
						ctx |= toks[k].flags;
				if (ctx == 0 && !cont)
					ctx = prev_flags;
				c->tlinks[c->ntlinks].url = toks[i].s;
				c->tlinks[c->ntlinks].len = toks[i].len;
				c->tlinks[c->ntlinks].ctx = ctx;
				c->ntlinks++;
			}
			if (li.kw > 0) {
				since_kw = 0;
				last_kw = li.kw;
			}
			prev_colon = li.colon_kw;
			prev_flags = li.flags;
			cont = TRUE;   /* the rest of a very long line */
		}
	}
}

void
detect_code(const char *subject, const char *text, const GPtrArray *links,
    struct detection *out)
{
	struct detect_ctx *c = g_new0(struct detect_ctx, 1);
	struct tok *toks = g_new(struct tok, DETECT_LINE_TOKENS);
	GArray *lines = NULL;
	int subj_kw = 0, i, best = -1, ties = 0;

	out->kind = DETECT_NONE;
	out->value = NULL;
	kw_index(c);

	if (subject != NULL) {
		const char *p = subject, *end = subject + strnlen(subject, 4096);
		int chunks = 0;

		/* first the keywords of the whole subject, then its candidates */
		while (p < end && chunks++ < 4) {
			const char *next;
			struct lineinfo li;
			int n = tokenize(p, end, toks, DETECT_LINE_TOKENS, &next);

			line_resolve(c, toks, n, &li);
			subj_kw = MAX(subj_kw, li.kw);
			c->mail_flags |= li.flags;
			p = next > p ? next : end;
		}
		p = subject;
		chunks = 0;
		while (subj_kw > 0 && p < end && chunks++ < 4) {
			const char *next;
			struct lineinfo li;
			struct where w;
			int n = tokenize(p, end, toks, DETECT_LINE_TOKENS, &next);

			line_resolve(c, toks, n, &li);
			memset(&w, 0, sizeof w);
			w.prox = 40 + 5 * subj_kw;
			w.weak = subj_kw == 1;
			w.kw = subj_kw;
			w.early = TRUE;
			w.cont = TRUE;   /* "own line" means nothing in a subject */
			line_candidates(c, toks, n, &w);
			p = next > p ? next : end;
		}
	}
	if (text != NULL) {
		gsize tlen = strnlen(text, DETECT_TEXT_MAX);

		lines = text_lines(text, tlen);
		detect_text(c, text, lines, subj_kw, toks, FALSE);
	}

	/*
	 * The kind of mail: a meeting invitation has no sign-in code (its
	 * passcode and ID are the meeting's); in a booking, order, ticket or
	 * gift mail only an unambiguous OTP word vouches for a code, never a
	 * bare "code", "PIN" or "confirmation".
	 */
	for (i = 0; i < c->ncands; i++) {
		if ((c->mail_flags & K_MEET) ||
		    ((c->mail_flags & K_TXN) && c->cands[i].kw < 3))
			c->cands[i].score = 0;
	}
	for (i = 0; i < c->ncands; i++) {
		if (c->cands[i].score <= 0)
			continue;
		if (best < 0 || c->cands[i].score > c->cands[best].score) {
			best = i;
			ties = 0;
		} else if (c->cands[i].score == c->cands[best].score) {
			ties++;
		}
	}
	if (best >= 0) {
		if (ties == 0) {
			out->kind = DETECT_CODE;
			out->value = g_strdup(c->cands[best].value);
		}
	} else {
		char *url;

		/* no code: read every line for URLs and the words around them */
		if (lines != NULL) {
			c->ntlinks = 0;
			c->npending = 0;
			detect_text(c, text, lines, subj_kw, toks, TRUE);
		}
		url = (c->mail_flags & K_MEET) ? NULL : link_pick(c, links, toks);

		if (url != NULL) {
			out->kind = DETECT_LINK;
			out->value = url;
		}
	}
	if (lines != NULL)
		g_array_unref(lines);
	g_free(toks);
	g_free(c);
}

gsize
detect_fold_word(const char *word, char *out, gsize size)
{
	struct tok t;
	const char *next;
	gsize n = 0;

	if (size == 0)
		return 0;
	if (tokenize(word, word + strlen(word), &t, 1, &next) == 1 &&
	    t.kind == TK_WORD && !(t.shape & SH_LONG)) {
		n = MIN((gsize)t.flen, size - 1);
		memcpy(out, t.fold, n);
	}
	out[n] = '\0';
	return n;
}

char *
detect_normalize(const char *code)
{
	const char *p = code;
	char digits[DETECT_VALUE_MAX];
	gsize nd = 0, letters = 0, groups = 0, glen = 0;
	char sep = 0;

	/* G-123456, FB-12345: a 1-3 letter label, a hyphen, 4-8 digits */
	while (g_ascii_isupper(*p))
		p++, letters++;
	if (letters > 0) {
		if (letters > 3 || *p != '-')
			return g_strdup(code);
		p++;
	}
	for (; *p != '\0'; p++) {
		if (g_ascii_isdigit(*p)) {
			if (nd + 1 >= sizeof digits)
				return g_strdup(code);
			digits[nd++] = *p;
			glen++;
			continue;
		}
		/* 123-456, 12.34.56: one kind of separator between groups */
		if (letters > 0 || (*p != '-' && *p != '.') || glen == 0 ||
		    (sep != 0 && *p != sep))
			return g_strdup(code);
		sep = *p;
		groups++;
		glen = 0;
	}
	digits[nd] = '\0';
	if (glen == 0 || nd < 4 || nd > 8 || (sep == '.' && groups != 2))
		return g_strdup(code);
	if (letters == 0 && sep == 0)
		return g_strdup(code);
	return g_strdup(digits);
}

void
detection_clear(struct detection *d)
{
	if (d == NULL)
		return;
	g_clear_pointer(&d->value, g_free);
	d->kind = DETECT_NONE;
}
