/*
 * fuzz-redirect.c - libFuzzer target for onboard_parse_request(), the
 * parser of what reaches `otpbridge oauth`'s loopback redirect listener
 * (any local process, or a web page in the user's browser, can send it).
 *
 * Input: the head of one request, raw (NULs included).  Invariants
 * (abort on violation): a CALLBACK has a state of at most 256 bytes and,
 * when it has a code, 1..4096 bytes of printable ASCII without blanks;
 * OTHER and BAD leave every member NULL; onboard_redirect_clear() leaves
 * them NULL again.  The same head cut at every tenth byte must never
 * parse as a CALLBACK with another code or state than whole (a request
 * line is read up to its first LF only).
 *
 * Hostile input: all of it.  Inputs above ONBOARD_REQUEST_MAX are
 * skipped, as the listener never reads more.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "onboard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless r is what kind promises. */
static void
fuzz_check(enum onboard_req kind, const struct onboard_redirect *r)
{
	if (kind != ONBOARD_REQ_CALLBACK) {
		if (r->code != NULL || r->state != NULL || r->error != NULL ||
		    r->error_description != NULL)
			abort();
		return;
	}
	if (r->state == NULL || strlen(r->state) > 256)
		abort();
	if (r->code != NULL) {
		size_t n = strlen(r->code);

		if (n == 0 || n > 4096)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)r->code[i] <= 0x20 ||
			    (unsigned char)r->code[i] >= 0x7f)
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct onboard_redirect whole, part;
	enum onboard_req k;
	const uint8_t *lf;

	if (size > ONBOARD_REQUEST_MAX)
		return -1;
	k = onboard_parse_request((const char *)data, size, &whole);
	fuzz_check(k, &whole);
	lf = memchr(data, '\n', size);
	for (size_t cut = 0; cut <= size; cut += 10) {
		enum onboard_req kp = onboard_parse_request((const char *)data, cut, &part);

		fuzz_check(kp, &part);
		/* Cut after the first LF: the same request line, the same answer. */
		if (lf != NULL && cut > (size_t)(lf - data)) {
			if (kp != k)
				abort();
			if (k == ONBOARD_REQ_CALLBACK &&
			    (g_strcmp0(part.code, whole.code) != 0 ||
			    g_strcmp0(part.state, whole.state) != 0))
				abort();
		}
		onboard_redirect_clear(&part);
		if (part.code != NULL || part.state != NULL)
			abort();
	}
	onboard_redirect_clear(&whole);
	return 0;
}
