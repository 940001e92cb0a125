/*
 * regex.h - the PCRE2 wrapper: the only door to PCRE2 in otpbridge.
 *
 * Patterns are compiled caseless and UTF-8, JIT-compiled where the
 * platform allows, and matched with match, depth and heap limits so that
 * no pattern can burn unbounded CPU or memory on hostile input.
 * Not thread-safe per object: match on the thread that owns the set.
 */
#ifndef OTPBRIDGE_REGEX_H
#define OTPBRIDGE_REGEX_H

#include <stddef.h>
#include <glib.h>

struct regex;

/*
 * Compiles pattern.  On failure returns NULL and sets *error to
 * "pattern error at offset N: <PCRE2 message>".
 */
struct regex *regex_new(const char *pattern, GError **error);
void regex_free(struct regex **re);

/* TRUE when re matches somewhere in subject (len bytes of UTF-8). A match
 * that hits a resource limit counts as no match. */
gboolean regex_match(const struct regex *re, const char *subject, size_t len);

/* The group named "code", else group 1, else the whole match, as a new
 * string; NULL when there is no match. */
char *regex_extract(const struct regex *re, const char *subject, size_t len);

const char *regex_pattern(const struct regex *re);

#endif
