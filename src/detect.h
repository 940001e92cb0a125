/*
 * detect.h - the built-in one-time-code detector (code = auto).  Pure.
 */
#ifndef OTPBRIDGE_DETECT_H
#define OTPBRIDGE_DETECT_H

#include <glib.h>

enum detect_kind {
	DETECT_NONE = 0,
	DETECT_CODE,   /* value is the code, separators removed unless part of it */
	DETECT_LINK,   /* value is a magic sign-in URL (only when no code) */
};

struct detection {
	enum detect_kind kind;
	char *value;   /* g_malloc'd, NULL for DETECT_NONE */
};

/*
 * Looks for a one-time code in the subject and text (both UTF-8), and for
 * a magic sign-in link among links (struct link *, may be NULL) or in the
 * text when there is no code.  Says DETECT_NONE rather than guess.
 * Fills *out; free its value with detection_clear().
 */
void detect_code(const char *subject, const char *text, const GPtrArray *links,
    struct detection *out);
void detection_clear(struct detection *d);

/*
 * A code as it is pushed, the detector's rule applied to any code (a
 * filter's own `code =` capture too): grouped digits (123-456, 12.34.56)
 * become the digits alone, a 1-3 letter label before 4-8 digits (G-123456,
 * FB-12345) is dropped; anything else (KXR-4T9, FKW-RQZ) is returned as is.
 * code has no blanks.  Returns a new string.
 */
char *detect_normalize(const char *code);

/*
 * The folded form of the first word of word as the detector reads it (lower
 * case, accents removed...) into out (size bytes, NUL-terminated); returns
 * its length, 0 when word does not start with a word.  For the lexicon test.
 */
gsize detect_fold_word(const char *word, char *out, gsize size);

#endif
