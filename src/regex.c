/*
 * regex.c - PCRE2 behind a small interface; the only file that includes
 * pcre2.h (Postfix dict_pcre.c keeps the same boundary).
 *
 * Hostile input: patterns come from the operator's files (trusted, but
 * checked and reported with their offset); subjects come from mail and are
 * hostile.  Limits: every match runs with a match limit, a depth limit and
 * a heap limit, so a pathological pattern on a crafted mail fails the
 * match (counted as "no match") instead of burning the daemon's CPU.
 * Backreferences are refused at compile time: the step limit does not
 * bound them.
 */
#include "autoconfig.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

#include "regex.h"
#include "util.h"

#define REGEX_MATCH_LIMIT 1000000u  /* backtracking steps per match */
#define REGEX_DEPTH_LIMIT 10000u    /* nested backtracking frames */
#define REGEX_HEAP_LIMIT  20480u    /* KiB of heap per match */

struct regex {
	char *pattern;
	pcre2_code *code;
	pcre2_match_context *mctx;
	pcre2_match_data *md;
	gboolean jit;
	guint32 group;              /* the group regex_extract returns */
};

struct regex *
regex_new(const char *pattern, GError **error)
{
	struct regex *re;
	int err = 0;
	PCRE2_SIZE off = 0;
	pcre2_code *code;
	int idx;
	guint32 ncap = 0;

	code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	    PCRE2_CASELESS | PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
	    &err, &off, NULL);
	if (code == NULL) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(err, msg, sizeof(msg));
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "pattern error at offset %zu: %s", (size_t)off, (char *)msg);
		return NULL;
	}
	{
		guint32 backrefs = 0;
		pcre2_pattern_info(code, PCRE2_INFO_BACKREFMAX, &backrefs);
		if (backrefs > 0) {
			/* The match limit counts steps, but one backreference step can
			 * compare the whole subject: time would grow with its square. */
			pcre2_code_free(code);
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
			    "pattern error at offset 0: backreferences are not "
			    "allowed (their matching time is unbounded)");
			return NULL;
		}
	}
	re = g_new0(struct regex, 1);
	re->pattern = g_strdup(pattern);
	re->code = code;
	re->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
	re->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(re->mctx, REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(re->mctx, REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(re->mctx, REGEX_HEAP_LIMIT);
	re->md = pcre2_match_data_create_from_pattern(code, NULL);

	pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &ncap);
	idx = pcre2_substring_number_from_name(code, (PCRE2_SPTR)"code");
	if (idx > 0)
		re->group = (guint32)idx;
	else
		re->group = ncap >= 1 ? 1 : 0;
	return re;
}

void
regex_free(struct regex **rep)
{
	struct regex *re = *rep;

	if (re == NULL)
		return;
	pcre2_match_data_free(re->md);
	pcre2_match_context_free(re->mctx);
	pcre2_code_free(re->code);
	g_free(re->pattern);
	g_free(re);
	*rep = NULL;
}

/* Runs one match; returns the pcre2_match result (>0 on a match). */
static int
regex_run(const struct regex *re, const char *subject, size_t len)
{
	return pcre2_match(re->code, (PCRE2_SPTR)subject, len, 0, 0, re->md,
	    re->mctx);
}

gboolean
regex_match(const struct regex *re, const char *subject, size_t len)
{
	return regex_run(re, subject, len) > 0;
}

char *
regex_extract(const struct regex *re, const char *subject, size_t len)
{
	PCRE2_SIZE *ov;
	int rc = regex_run(re, subject, len);

	if (rc <= 0)
		return NULL;
	ov = pcre2_get_ovector_pointer(re->md);
	if (re->group >= (guint32)rc || ov[2 * re->group] == PCRE2_UNSET) {
		/* The group did not take part: fall back to the whole match. */
		return g_strndup(subject + ov[0], ov[1] - ov[0]);
	}
	return g_strndup(subject + ov[2 * re->group],
	    ov[2 * re->group + 1] - ov[2 * re->group]);
}

const char *
regex_pattern(const struct regex *re)
{
	return re->pattern;
}
