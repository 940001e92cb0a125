/*
 * lexicon.h - the detector's words: what a word or phrase means, per language.
 *
 * Data only.  Entries are stored folded the way token.c folds the text it
 * reads (lower case; Latin and Greek accents removed, ß -> ss, ς -> σ; Arabic alef
 * and yeh/kaf forms unified; Indic vowel signs kept), which tests/test-detect.c
 * checks entry by entry.
 */
#ifndef OTPBRIDGE_LEXICON_H
#define OTPBRIDGE_LEXICON_H

#include <glib.h>

/* What a word (or CJK/Thai phrase) is. */
#define LEXICON_OTP     0x0001u  /* unambiguous: verification, OTP, passcode, 验证码 */
#define LEXICON_CODE    0x0002u  /* generic: code, código, PIN, コード, код */
#define LEXICON_WEAK    0x0004u  /* sign in, login, security, confirm */
#define LEXICON_NEG     0x0008u  /* negates a keyword next to it: zip, promo */
#define LEXICON_LABEL   0x0010u  /* labels a number that is no code: order, invoice */
#define LEXICON_PHONE   0x0020u  /* phone, tel, call */
#define LEXICON_POST    0x0040u  /* zip, postcode, PLZ */
#define LEXICON_CUR     0x0080u  /* USD, EUR, euros */
#define LEXICON_NUMW    0x0100u  /* no, nr, number: transparent before a number */
#define LEXICON_COP     0x0200u  /* is, ist, est, es, lautet */
#define LEXICON_FUNC    0x0400u  /* de, di, of: skipped between modifier and keyword */
#define LEXICON_LINK    0x0800u  /* sign in, verify, confirm: a magic link's anchor */
#define LEXICON_LINKNEG 0x1000u  /* unsubscribe, privacy, help, reset */
#define LEXICON_PROMO   0x2000u  /* a line about selling: off, sale, discount */
#define LEXICON_PFX     0x4000u  /* only as the first half of a "...code" compound */
#define LEXICON_NEGD    0x8000u  /* (set by the detector) a keyword negated by its neighbour */
#define LEXICON_CONJ    0x10000u /* and, or, und, et: joins a list of numbers */
#define LEXICON_MEET    0x20000u /* meeting, webinar, invitation: a meeting invitation */
#define LEXICON_TXN     0x40000u /* booking, order, ticket, gift, coupon: a transaction mail */

struct lexicon_entry {
	const char *w;     /* folded */
	guint8 len;        /* bytes */
	guint32 flags;     /* LEXICON_* */
	const char *need;  /* "in|on": counts only before one of these (folded) words */
};

/* Short names for the flags, for the files whose tables and rules use
 * them densely (lexicon.c, and the detector through detect-ctx.h): they
 * define LEXICON_SHORT_FLAGS before including this header. */
#ifdef LEXICON_SHORT_FLAGS
#define K_OTP     LEXICON_OTP
#define K_CODE    LEXICON_CODE
#define K_WEAK    LEXICON_WEAK
#define K_NEG     LEXICON_NEG
#define K_LABEL   LEXICON_LABEL
#define K_PHONE   LEXICON_PHONE
#define K_POST    LEXICON_POST
#define K_CUR     LEXICON_CUR
#define K_NUMW    LEXICON_NUMW
#define K_COP     LEXICON_COP
#define K_FUNC    LEXICON_FUNC
#define K_LINK    LEXICON_LINK
#define K_LINKNEG LEXICON_LINKNEG
#define K_PROMO   LEXICON_PROMO
#define K_PFX     LEXICON_PFX
#define K_NEGD    LEXICON_NEGD
#define K_CONJ    LEXICON_CONJ
#define K_MEET    LEXICON_MEET
#define K_TXN     LEXICON_TXN
#endif

#define LEXICON_WORDS_MAX   1024
#define LEXICON_PHRASES_MAX 256

/* Space-separated words (Latin, Cyrillic, Greek, Hebrew, Arabic, Devanagari). */
extern const struct lexicon_entry lexicon_words[];
extern const gsize lexicon_nwords;
/* Phrases matched inside runs of CJK, Hangul and Thai, which have no spaces. */
extern const struct lexicon_entry lexicon_phrases[];
extern const gsize lexicon_nphrases;

#endif
