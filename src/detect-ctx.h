/*
 * detect-ctx.h - what the files of the built-in detector share (detect.c,
 * token.c, score.c, links.c; no other file includes it): the limits, the
 * token and line types, and the working memory of one detect_code() call.
 */
#ifndef OTPBRIDGE_DETECT_CTX_H
#define OTPBRIDGE_DETECT_CTX_H

#include <glib.h>
#define LEXICON_SHORT_FLAGS   /* K_OTP for LEXICON_OTP, ... */
#include "lexicon.h"

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

#endif
