/*
 * score.c - the built-in detector's candidates and their scores
 * (detect.c has the flow, token.c the tokens).  Candidates are 4-8 digit
 * runs, grouped digits, spaced single digits on a line of their own,
 * uppercase alphanumeric codes, label-prefixed digits, and lower/mixed-case
 * alphanumeric words right after an OTP keyword; each is checked for decoy
 * shapes and labels (phone, order, amount, date, postcode...), gated by
 * keyword proximity, scored and merged by value.
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
 * Hostile input: the tokens of any line.  Limits: at most
 * DETECT_CANDS_MAX distinct candidates per mail (more are dropped), a
 * value holds at most DETECT_VALUE_MAX - 1 bytes.
 *
 * SECURITY: pure -- no I/O, no globals; a candidate's value is copied
 * into a fixed buffer whose bound is checked before each copy.
 */
#include "autoconfig.h"

#include <string.h>

#include "score.h"
#include "token.h"

/* Uppercase tokens that look like codes but name things. */
static const char *const score_alnum_stop[] = {
	"UTF", "ISO", "COVID", "SHA", "RFC", "CVE", "MP3", "MP4", "H264", "X509",
};

/* ---- candidates ---------------------------------------------------------- */

/* How a number is labelled: nothing, a keyword near, a keyword right
 * before ("code is X"), a code noun right before ("code: X"), a decoy label. */
enum { LBL_NONE, LBL_NEAR, LBL_STRONG, LBL_TIGHT, LBL_DECOY };

/* Whether punctuation cp may sit between a label and its number. */
static gboolean
score_label_sep(gunichar cp)
{
	return cp == ':' || cp == 0xff1a || cp == '-' || cp == 0x2013 ||
	    cp == 0x2014 || cp == '=' || cp == '>' || cp == ',' || cp == '(' ||
	    cp == '"' || cp == '\'' || cp == 0x201c || cp == 0x201d ||
	    cp == 0xab || cp == 0xbb || cp == '.' || cp == '[' || cp == '*';
}

/* Whether a phone label comes anywhere before token a on the line. */
static gboolean
score_phone_before(const struct tok *t, int a)
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
score_code_before(const struct tok *t, int k)
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
score_label_before(const struct tok *t, int a)
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
			if (!score_label_sep(p->cp))
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
			if ((p->flags & K_DECOY) == K_LABEL && score_code_before(t, k))
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
score_label_after(const struct tok *t, int n, int b)
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
score_boundary_bad(const struct tok *t, int n, int a, int b)
{
	if (a > 0) {
		const struct tok *p = &t[a - 1];
		const struct tok *pp = a > 1 ? &t[a - 2] : NULL;

		if (p->kind == TK_URL)
			return TRUE;
		if (p->kind == TK_PUNCT) {
			if (token_is_currency(p->cp) || token_ascii_in(p->cp, "_/\\@=&?#+*~^|") ||
			    p->cp == 0x2022 || p->cp == 0x2116 || p->cp == 0xff03)
				return TRUE;
			if ((p->cp == '.' || p->cp == ',' || p->cp == '-') && pp != NULL &&
			    (pp->kind == TK_NUM || pp->kind == TK_WORD))
				return TRUE;
			if (p->cp == ':' && pp != NULL && pp->kind == TK_NUM)
				return TRUE;
		}
		if (p->kind == TK_SPACE && pp != NULL) {
			if (pp->kind == TK_PUNCT && token_is_currency(pp->cp))
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
			if (token_is_currency(q->cp) || token_ascii_in(q->cp, "_/\\@%=&*") ||
			    q->cp == 0xb0 || q->cp == 0xff05)
				return TRUE;
			if ((q->cp == '.' || q->cp == ',' || q->cp == ':' || q->cp == '-') &&
			    qq != NULL && (qq->kind == TK_NUM || qq->kind == TK_WORD))
				return TRUE;
		}
		if (q->kind == TK_SPACE && qq != NULL) {
			if (qq->kind == TK_PUNCT && (token_is_currency(qq->cp) || qq->cp == '%'))
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
score_num_value(const struct tok *t)
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
score_num_digits(const struct tok *t)
{
	return t->flen;   /* digits are folded as themselves */
}

/* Whether the groups g[0..k) with separator sep read as a date. */
static gboolean
score_is_date(const struct tok *t, const int *g, int k, gunichar sep)
{
	long a, b, d;
	int la, lc;

	if (k == 2 && sep == '-') {
		a = score_num_value(&t[g[0]]);
		b = score_num_value(&t[g[1]]);
		la = score_num_digits(&t[g[0]]);
		if (la == 4 && a >= 1900 && a <= 2099 &&
		    ((b >= 1 && b <= 12) || (b >= 1900 && b <= 2099)))
			return TRUE;   /* 2024-05, 2023-2024 */
		return FALSE;
	}
	if (k != 3)
		return FALSE;
	a = score_num_value(&t[g[0]]);
	b = score_num_value(&t[g[1]]);
	d = score_num_value(&t[g[2]]);
	la = score_num_digits(&t[g[0]]);
	lc = score_num_digits(&t[g[2]]);
	if (la == 4 && b >= 1 && b <= 12 && d >= 1 && d <= 31)
		return TRUE;   /* 2024-05-17 */
	if ((lc == 4 || (lc == 2 && sep == '.')) && a >= 1 && a <= 31 &&
	    b >= 1 && b <= 31 && (a <= 12 || b <= 12))
		return TRUE;   /* 17.05.2024, 05-17-2024, 17.05.24 */
	return FALSE;
}

/* Whether the candidate line holds nothing but tokens [a, b]. */
static gboolean
score_own_line(const struct tok *t, int n, int a, int b)
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
void
score_cand_add(struct detect_ctx *c, struct cand *list, int *nlist, int max,
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

/* Scores a candidate [a, b] of a line and files it. */
static void
score_cand_take(struct detect_ctx *c, const struct tok *t, int n, int a, int b,
    const char *value, gboolean alnum, int label, const struct where *w)
{
	gboolean own = !w->cont && score_own_line(t, n, a, b);
	int extra = 0, after;

	after = score_label_after(t, n, b);
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
		score_cand_add(c, c->cands, &c->ncands, DETECT_CANDS_MAX, value,
		    w->prox + extra, w->kw);
	else if (own && w->own_prox > 0)
		score_cand_add(c, c->cands, &c->ncands, DETECT_CANDS_MAX, value,
		    w->own_prox + extra, w->kw);
	else if (own && w->pending_prox > 0)
		score_cand_add(c, c->pending, &c->npending, G_N_ELEMENTS(c->pending),
		    value, w->pending_prox + extra, 0);
}

/* Tries an uppercase alphanumeric code over tokens [a, b]. */
static void
score_cand_alnum(struct detect_ctx *c, const struct tok *t, int n, int a, int b,
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
	if (score_boundary_bad(t, n, a, b))
		return;
	if (hyphens == 1 && t[a].kind == TK_WORD && t[a].len <= 3 &&
	    !(t[a].shape & SH_DIGIT) && t[b].kind == TK_NUM &&
	    t[b].len >= 4 && t[b].len <= 8) {
		/* G-123456, FB-12345: the letters are a label the site shows */
		label = score_label_before(t, a);
		if (label == LBL_DECOY)
			return;
		memcpy(value, t[b].s, t[b].len);
		value[t[b].len] = '\0';
		score_cand_take(c, t, n, a, b, value, FALSE, label, w);
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
	for (j = 0; j < G_N_ELEMENTS(score_alnum_stop); j++)
		if (g_str_has_prefix(value, score_alnum_stop[j]))
			return;
	label = score_label_before(t, a);
	if (label == LBL_DECOY)
		return;
	score_cand_take(c, t, n, a, b, value, TRUE, label, w);
}

/*
 * Tries a lower- or mixed-case alphanumeric word (a4k9zq, Tq8Lm3): only on
 * a line with an OTP word (verification, one-time, passcode, OTP), right
 * after a keyword ("verification code: x", "passcode is x") or alone on the
 * line after "...code:"; 4-12 ASCII characters, two digits and two letters
 * at least.  "Your code: abc123" is no code.
 */
static void
score_cand_mixed(struct detect_ctx *c, const struct tok *t, int n, int a,
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
	if (digits < 2 || letters < 2 || score_boundary_bad(t, n, a, a))
		return;
	if (a + 1 < n && t[a + 1].kind == TK_PUNCT && t[a + 1].cp == '-')
		return;
	label = score_label_before(t, a);
	if (label == LBL_DECOY)
		return;
	if (label < LBL_STRONG && !(w->colon && !w->cont && score_own_line(t, n, a, a)))
		return;
	memcpy(value, t[a].s, t[a].len);
	value[t[a].len] = '\0';
	score_cand_take(c, t, n, a, a, value, TRUE, label, w);
}

/* Tries a digit run, grouped digits or spaced single digits over groups g[0..k). */
static void
score_cand_digits(struct detect_ctx *c, const struct tok *t, int n, const int *g, int k,
    gunichar sep, const struct where *w)
{
	char value[DETECT_VALUE_MAX];
	int i, total = 0, shortest = 99, longest = 0, label, a, b;
	gsize vl = 0;
	long v;

	for (i = 0; i < k; i++) {
		int d = score_num_digits(&t[g[i]]);

		total += d;
		shortest = MIN(shortest, d);
		longest = MAX(longest, d);
	}
	if (k == 1) {
		if (total < 4 || total > 8)
			return;
	} else if (score_is_date(t, g, k, sep)) {
		return;
	} else if (sep == ' ' && longest == 1 && k >= 4 && k <= 8) {
		if (w->cont || !score_own_line(t, n, g[0], g[k - 1]))
			return;
	} else if (shortest >= 2 && longest <= 4 && k <= 4 && total >= 4 &&
	    total <= 8 && !(sep == '.' && k != 3)) {
		/* grouped: 123 456, 123-456, 12.34.56 */
	} else if (sep == ' ' && k == 2 && (score_num_digits(&t[g[0]]) <= 2 ||
	    score_num_digits(&t[g[1]]) <= 2)) {
		/* "123456 10 minutes": the long one alone */
		int one = score_num_digits(&t[g[0]]) <= 2 ? g[1] : g[0];

		score_cand_digits(c, t, n, &one, 1, 0, w);
		return;
	} else {
		return;   /* a phone number, an IP address, an amount */
	}
	a = g[0];
	b = g[k - 1];
	if (score_boundary_bad(t, n, a, b))
		return;
	for (i = 0; i < k; i++) {
		guint32 j;

		for (j = 0; j < t[g[i]].len && vl + 1 < sizeof value; j++)
			if (g_ascii_isdigit(t[g[i]].s[j]))
				value[vl++] = t[g[i]].s[j];
	}
	value[vl] = '\0';
	label = score_label_before(t, a);
	if (label == LBL_DECOY)
		return;
	v = k == 1 ? score_num_value(&t[a]) : 0;
	if (k == 1 && total == 4 && v >= 1900 && v <= 2099 && label != LBL_TIGHT)
		return;   /* a year */
	if (k > 1 && sep != '.' && score_phone_before(t, a))
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
	score_cand_take(c, t, n, a, b, value, FALSE, label, w);
}

/* Finds the candidates of one line (or subject) and files those near a keyword. */
void
score_line(struct detect_ctx *c, const struct tok *t, int n, const struct where *w)
{
	int i = 0;

	while (i < n) {
		int j, hyphens = 0, g[9], k;
		gboolean word = FALSE;
		gunichar sep = 0;

		if (t[i].kind == TK_WORD && (t[i].shape & SH_DIGIT) &&
		    !(t[i].shape & SH_UPCODE)) {
			if (i == 0 || t[i - 1].kind != TK_PUNCT || t[i - 1].cp != '-')
				score_cand_mixed(c, t, n, i, w);
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
			score_cand_alnum(c, t, n, i, j, hyphens, w);
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
			score_cand_digits(c, t, n, g, k, sep, w);
		i = j + 1;
	}
}
