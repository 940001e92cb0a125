/*
 * test-auth.c - auth.c: Authentication-Results (RFC 8601) read only from
 * trusted authserv-ids written as bare tokens, only where the source lets
 * them count (above the topmost Received: for mail an MTA hands over),
 * topmost trusted header decides, unbalanced quotes and comments fail,
 * DKIM/SPF/DMARC alignment with the From domain (header.d decides).
 */
#include "autoconfig.h"

#include <string.h>

#include "auth.h"
#include "testutil.h"

#define MAX_AR 4

struct ar_case {
	const char *name;
	const char *from_domain;
	enum auth_req req;
	const char *ar[MAX_AR];  /* topmost first, NULL-terminated */
	gboolean want;
	gboolean no_trusted;     /* run with no trusted ids configured */
};

/* trusted_authserv_id = mx.example.net;mx.google.com */
static char *trusted[] = { (char *)"mx.example.net", (char *)"mx.google.com", NULL };
static char *none_trusted[] = { NULL };

static const struct ar_case ar_cases[] = {
	/* trusted vs untrusted authserv-id */
	{ "dkim-pass-trusted", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com header.s=pf2023" }, TRUE },
	{ "dkim-pass-second-trusted-id", "github.com", AUTH_DKIM,
	  { "mx.google.com; dkim=pass header.i=@github.com" }, TRUE },
	{ "dkim-pass-untrusted-id", "github.com", AUTH_DKIM,
	  { "mx.evil.org; dkim=pass header.d=github.com" }, FALSE },
	{ "untrusted-id-prefix", "github.com", AUTH_DKIM,
	  { "mx.example.net.evil.org; dkim=pass header.d=github.com" }, FALSE },
	{ "untrusted-id-suffix", "github.com", AUTH_DKIM,
	  { "evilmx.example.net; dkim=pass header.d=github.com" }, FALSE },
	{ "forged-untrusted-above-trusted-fail", "github.com", AUTH_DKIM,
	  { "mx.evil.org; dkim=pass header.d=github.com",
	    "mx.example.net; dkim=fail header.d=github.com" }, FALSE },
	{ "untrusted-above-trusted-pass", "github.com", AUTH_DKIM,
	  { "mx.evil.org; dkim=fail header.d=github.com",
	    "mx.example.net; dkim=pass header.d=github.com" }, TRUE },
	{ "topmost-trusted-fail-wins", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=fail header.d=github.com",
	    "mx.example.net; dkim=pass header.d=github.com" }, FALSE },
	{ "topmost-trusted-none-wins", "github.com", AUTH_DKIM,
	  { "mx.example.net; none",
	    "mx.google.com; dkim=pass header.d=github.com" }, FALSE },
	{ "topmost-trusted-pass-wins", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com",
	    "mx.google.com; dkim=fail header.d=github.com" }, TRUE },
	{ "no-headers", "github.com", AUTH_DKIM, { NULL }, FALSE },
	{ "no-trusted-configured", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com" }, FALSE, TRUE },
	{ "no-trusted-configured-dmarc", "github.com", AUTH_DMARC,
	  { "mx.example.net; dmarc=pass header.from=github.com" }, FALSE, TRUE },
	/* DKIM alignment */
	{ "dkim-parent-domain", "accounts.google.com", AUTH_DKIM,
	  { "mx.google.com; dkim=pass header.i=@google.com header.s=20230601" }, TRUE },
	{ "dkim-parent-domain-d", "accounts.google.com", AUTH_DKIM,
	  { "mx.google.com; dkim=pass header.d=google.com" }, TRUE },
	{ "dkim-child-domain", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=mail.github.com" }, TRUE },
	{ "dkim-unaligned", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=evil.org" }, FALSE },
	{ "dkim-unaligned-lookalike", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=evilgithub.com" }, FALSE },
	{ "dkim-unaligned-suffix-domain", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com.evil.org" }, FALSE },
	{ "dkim-tld-only", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=com" }, FALSE },
	{ "dkim-header-i-full", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.i=noreply@github.com" }, TRUE },
	{ "dkim-header-i-unaligned", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.i=@evil.org" }, FALSE },
	{ "dkim-no-domain", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass" }, FALSE },
	{ "dkim-fail", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=fail header.d=github.com" }, FALSE },
	{ "dkim-neutral", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=neutral header.d=github.com" }, FALSE },
	{ "dkim-none", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=none" }, FALSE },
	{ "dkim-passed-not-pass", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=passed header.d=github.com" }, FALSE },
	{ "dkim-second-signature-aligned", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=sendgrid.net; dkim=pass header.d=github.com" }, TRUE },
	{ "dkim-aligned-but-fail-other-pass", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=fail header.d=github.com; dkim=pass header.d=evil.org" }, FALSE },
	{ "dkim-version", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim/1=pass header.d=github.com" }, TRUE },
	{ "dkim-req-spf-only-pass", "github.com", AUTH_DKIM,
	  { "mx.example.net; spf=pass smtp.mailfrom=github.com" }, FALSE },
	/* SPF */
	{ "spf-pass-aligned", "github.com", AUTH_SPF,
	  { "mx.example.net; spf=pass smtp.mailfrom=noreply@github.com" }, TRUE },
	{ "spf-pass-aligned-domain-only", "github.com", AUTH_SPF,
	  { "mx.example.net; spf=pass smtp.mailfrom=github.com" }, TRUE },
	{ "spf-pass-bounce-subdomain", "github.com", AUTH_SPF,
	  { "mx.example.net; spf=pass smtp.mailfrom=bounces+123@em.github.com" }, TRUE },
	{ "spf-pass-unaligned", "github.com", AUTH_SPF,
	  { "mx.example.net; spf=pass smtp.mailfrom=bounce@sendgrid.net" }, FALSE },
	{ "spf-softfail", "github.com", AUTH_SPF,
	  { "mx.example.net; spf=softfail smtp.mailfrom=noreply@github.com" }, FALSE },
	{ "spf-helo-only", "github.com", AUTH_SPF,
	  { "mx.example.net; spf=pass smtp.helo=github.com" }, FALSE },
	{ "spf-req-dkim-only-pass", "github.com", AUTH_SPF,
	  { "mx.example.net; dkim=pass header.d=github.com" }, FALSE },
	/* DMARC */
	{ "dmarc-pass", "github.com", AUTH_DMARC,
	  { "mx.example.net; dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=github.com" }, TRUE },
	{ "dmarc-pass-no-header-from", "github.com", AUTH_DMARC,
	  { "mx.example.net; dmarc=pass" }, TRUE },
	{ "dmarc-pass-other-domain", "github.com", AUTH_DMARC,
	  { "mx.example.net; dmarc=pass header.from=evil.org" }, FALSE },
	{ "dmarc-fail", "github.com", AUTH_DMARC,
	  { "mx.example.net; dmarc=fail (p=REJECT) header.from=github.com" }, FALSE },
	{ "dmarc-none", "github.com", AUTH_DMARC,
	  { "mx.example.net; dmarc=none header.from=github.com" }, FALSE },
	{ "dmarc-req-dkim-only-pass", "github.com", AUTH_DMARC,
	  { "mx.example.net; dkim=pass header.d=github.com; spf=pass smtp.mailfrom=github.com" },
	  FALSE },
	{ "full-gmail-style", "accounts.google.com", AUTH_DMARC,
	  { "mx.google.com;\r\n       dkim=pass header.i=@accounts.google.com header.s=20230601 "
	    "header.b=abc;\r\n       spf=pass (google.com: domain of 3abc@accounts.google.com "
	    "designates 209.85.220.73 as permitted sender) smtp.mailfrom=3abc@accounts.google.com;"
	    "\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=accounts.google.com" },
	  TRUE },
	/* comments and quoting */
	{ "comment-in-id", "github.com", AUTH_DKIM,
	  { "mx.example.net (Postfix); dkim=pass (2048-bit key) header.d=github.com" }, TRUE },
	{ "comment-with-semicolon", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass (good; header.d=evil.org) header.d=github.com" }, TRUE },
	{ "comment-hides-pass", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=fail (dkim=pass header.d=github.com) header.d=github.com" },
	  FALSE },
	{ "comment-hides-domain", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=evil.org (header.d=github.com)" }, FALSE },
	{ "comment-nested", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass (a (nested; x=y) b) header.d=github.com" }, TRUE },
	{ "comment-nested-hides", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=fail (a (b) dkim=pass header.d=github.com) header.d=x.org" },
	  FALSE },
	{ "comment-escaped-paren", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass (a \\) ; b) header.d=github.com" }, TRUE },
	{ "quoted-value", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=\"github.com\"" }, TRUE },
	{ "quoted-reason", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass reason=\"signature ok\" header.d=github.com" }, TRUE },
	{ "quoted-paren", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass reason=\"a (b\" header.d=github.com" }, TRUE },
	/* A quoted string is one value: its blanks and ';' separate nothing.
	 * (An SPF-passing envelope sender at evil.org, with a quoted local part.) */
	{ "quoted-space-injection", "github.com", AUTH_SPF,
	  { "mx.example.net; spf=pass smtp.mailfrom=\"x smtp.mailfrom=github.com \"@evil.org" },
	  FALSE },
	{ "quoted-semicolon-injection", "github.com", AUTH_DKIM,
	  { "mx.example.net; spf=pass smtp.mailfrom=\"x; dkim=pass header.d=github.com ; y\"@evil.org;"
	    " dkim=none" }, FALSE },
	/* The authserv-id is a bare token: a quoted or commented id, which
	 * an MTA stripping forged copies of its own id may not recognise,
	 * is no one's. */
	{ "quoted-id", "github.com", AUTH_DKIM,
	  { "\"mx.example.net\"; dkim=pass header.d=github.com" }, FALSE },
	{ "quoted-id-part", "github.com", AUTH_DKIM,
	  { "mx.\"example\".net; dkim=pass header.d=github.com" }, FALSE },
	{ "quoted-id-glued", "github.com", AUTH_DKIM,
	  { "mx.example.net\"x\"; dkim=pass header.d=github.com" }, FALSE },
	{ "comment-before-id", "github.com", AUTH_DKIM,
	  { "(relay) mx.example.net; dkim=pass header.d=github.com" }, FALSE },
	{ "comment-glued-to-id", "github.com", AUTH_DKIM,
	  { "mx.example.net(x); dkim=pass header.d=github.com" }, FALSE },
	{ "id-inside-comment", "github.com", AUTH_DKIM,
	  { "(mx.example.net); dkim=pass header.d=github.com" }, FALSE },
	{ "escaped-id", "github.com", AUTH_DKIM,
	  { "mx.example\\.net; dkim=pass header.d=github.com" }, FALSE },
	{ "bad-id-above-trusted-pass", "github.com", AUTH_DKIM,
	  { "\"mx.example.net\"; dkim=fail header.d=github.com",
	    "mx.example.net; dkim=pass header.d=github.com" }, TRUE },
	/* Unbalanced quotes and comments fail a trusted header instead of
	 * being read past. */
	{ "unbalanced-quote", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com reason=\"unterminated" }, FALSE },
	{ "unbalanced-quote-in-value", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=\"github.com" }, FALSE },
	{ "unbalanced-comment", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com (unterminated" }, FALSE },
	{ "unbalanced-nested-comment", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass (a (b) header.d=github.com" }, FALSE },
	{ "stray-close-paren", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass ) header.d=github.com" }, FALSE },
	{ "trailing-backslash", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com \\" }, FALSE },
	{ "unbalanced-trusted-decides", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com (x",
	    "mx.example.net; dkim=pass header.d=github.com" }, FALSE },
	{ "unbalanced-untrusted-skipped", "github.com", AUTH_DKIM,
	  { "mx.evil.org; x=\"", "mx.example.net; dkim=pass header.d=github.com" }, TRUE },
	{ "quote-in-comment-literal", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass (it\"s ok) header.d=github.com" }, TRUE },
	{ "paren-in-quote-literal", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass reason=\"a ) b\" header.d=github.com" }, TRUE },
	/* header.d decides DKIM alignment; a header.i outside header.d fails. */
	{ "dkim-d-other-i-aligned", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=evil.org header.i=@github.com" }, FALSE },
	{ "dkim-d-aligned-i-other", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com header.i=@evil.org" }, FALSE },
	{ "dkim-i-before-d-other", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.i=@github.com header.d=evil.org" }, FALSE },
	{ "dkim-i-subdomain-of-d", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com header.i=@mail.github.com" }, TRUE },
	{ "dkim-i-user-at-d", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com header.i=noreply@github.com" }, TRUE },
	{ "dkim-i-parent-of-d", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=mail.github.com header.i=@github.com" }, FALSE },
	{ "dkim-two-d-one-other", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.d=github.com header.d=evil.org" }, FALSE },
	{ "dkim-i-only-other", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim=pass header.i=@evil.org header.s=x" }, FALSE },
	/* version after the authserv-id */
	{ "version-number", "github.com", AUTH_DKIM,
	  { "mx.example.net 1; dkim=pass header.d=github.com" }, TRUE },
	{ "version-number-tab", "github.com", AUTH_DKIM,
	  { "mx.example.net\t1; dkim=pass header.d=github.com" }, TRUE },
	{ "version-untrusted", "github.com", AUTH_DKIM,
	  { "mx.evil.org 1; dkim=pass header.d=github.com" }, FALSE },
	{ "leading-blanks", "github.com", AUTH_DKIM,
	  { "  \r\n mx.example.net ;\r\n\tdkim=pass\r\n\theader.d=github.com" }, TRUE },
	/* "none" */
	{ "none-result", "github.com", AUTH_DKIM, { "mx.example.net; none" }, FALSE },
	{ "none-dmarc", "github.com", AUTH_DMARC, { "mx.example.net; none" }, FALSE },
	{ "id-only", "github.com", AUTH_DMARC, { "mx.example.net" }, FALSE },
	{ "empty-header", "github.com", AUTH_DMARC, { "" }, FALSE },
	/* case-insensitivity */
	{ "case-method-result", "github.com", AUTH_DKIM,
	  { "mx.example.net; DKIM=PASS Header.D=GitHub.COM" }, TRUE },
	{ "case-authserv-id", "github.com", AUTH_DKIM,
	  { "MX.Example.NET; dkim=pass header.d=github.com" }, TRUE },
	{ "case-from-domain", "GitHub.com", AUTH_SPF,
	  { "mx.example.net; spf=Pass smtp.mailfrom=x@GITHUB.COM" }, TRUE },
	{ "case-dmarc", "github.com", AUTH_DMARC,
	  { "mx.example.net; DMARC=PASS header.from=GITHUB.com" }, TRUE },
	/* RFC 8601 allows CFWS around '=' in a methodspec. */
	{ "blanks-around-equals", "github.com", AUTH_DKIM,
	  { "mx.example.net; dkim = pass header.d=github.com" }, TRUE },
	/* AUTH_NONE always holds */
	{ "none-req-nothing", "github.com", AUTH_NONE, { NULL }, TRUE },
	{ "none-req-fail", "github.com", AUTH_NONE,
	  { "mx.example.net; dkim=fail; spf=fail; dmarc=fail" }, TRUE },
	{ "none-req-no-trusted", "github.com", AUTH_NONE, { NULL }, TRUE, TRUE },
	{ "none-req-no-from", NULL, AUTH_NONE, { NULL }, TRUE },
	/* no From domain */
	{ "no-from-domain", NULL, AUTH_DMARC,
	  { "mx.example.net; dmarc=pass" }, FALSE },
};

static void
test_ar(gconstpointer data)
{
	const struct ar_case *c = data;
	g_autoptr(GPtrArray) ar = g_ptr_array_new();
	const char *why = NULL;
	gboolean got;

	for (int i = 0; i < MAX_AR && c->ar[i] != NULL; i++)
		g_ptr_array_add(ar, (gpointer)c->ar[i]);
	got = auth_check(ar, ar->len, c->no_trusted ? none_trusted : trusted,
	    c->from_domain, c->req, &why);
	g_assert_cmpint(got, ==, c->want);
	if (!got) {
		g_assert_nonnull(why);
		g_assert_cmpstr(why, !=, "");
	}
}

/* NULL arrays are accepted: no headers, no trusted ids. */
static void
test_ar_nulls(void)
{
	const char *why = NULL;

	g_assert_false(auth_check(NULL, 0, trusted, "github.com", AUTH_DKIM, &why));
	g_assert_nonnull(why);
	why = NULL;
	g_assert_false(auth_check(NULL, 0, NULL, "github.com", AUTH_DKIM, &why));
	g_assert_nonnull(why);
	g_assert_nonnull(strstr(why, "trusted"));
	g_assert_true(auth_check(NULL, 0, NULL, NULL, AUTH_NONE, &why));
}

/* The explanation distinguishes the failures. */
static void
test_ar_why(void)
{
	g_autoptr(GPtrArray) ar = g_ptr_array_new();
	const char *why = NULL;

	g_ptr_array_add(ar, (gpointer)"mx.evil.org; dkim=pass header.d=github.com");
	g_assert_false(auth_check(ar, ar->len, trusted, "github.com", AUTH_DKIM, &why));
	g_assert_nonnull(strstr(why, "trusted"));
	g_ptr_array_add(ar, (gpointer)"mx.example.net; dkim=fail header.d=github.com");
	g_assert_false(auth_check(ar, ar->len, trusted, "github.com", AUTH_DKIM, &why));
	g_assert_nonnull(strstr(why, "dkim"));
	g_assert_false(auth_check(ar, ar->len, trusted, "github.com", AUTH_SPF, &why));
	g_assert_nonnull(strstr(why, "spf"));
	g_assert_false(auth_check(ar, ar->len, trusted, "github.com", AUTH_DMARC, &why));
	g_assert_nonnull(strstr(why, "dmarc"));
}

/* ---- where a trusted header must stand ---------------------------------- */

#define NO_RECEIVED (-1)

struct where_case {
	const char *name;
	enum auth_where where;
	int received;            /* headers above the topmost Received:, or NO_RECEIVED */
	const char *ar[MAX_AR];  /* topmost first */
	gboolean want;
	const char *why;         /* a word of the explanation, when it fails */
};

static const struct where_case where_cases[] = {
	/* LMTP/SMTP/deliver/test: the MTA that handed the mail over wrote
	 * the headers above its own Received:; the rest came with the mail. */
	{ "forged-below-received", AUTH_ABOVE_RECEIVED, 0,
	  { "mx.example.net; dkim=pass header.d=github.com" }, FALSE, "above" },
	{ "genuine-above-received", AUTH_ABOVE_RECEIVED, 1,
	  { "mx.example.net; dkim=pass header.d=github.com" }, TRUE, NULL },
	{ "no-received-at-all", AUTH_ABOVE_RECEIVED, NO_RECEIVED,
	  { "mx.example.net; dkim=pass header.d=github.com" }, FALSE, "above" },
	{ "genuine-fail-above-forged-pass-below", AUTH_ABOVE_RECEIVED, 1,
	  { "mx.example.net; dkim=fail header.d=github.com",
	    "mx.example.net; dkim=pass header.d=github.com" }, FALSE, "dkim" },
	{ "genuine-pass-above-forged-fail-below", AUTH_ABOVE_RECEIVED, 1,
	  { "mx.example.net; dkim=pass header.d=github.com",
	    "mx.example.net; dkim=fail header.d=github.com" }, TRUE, NULL },
	{ "untrusted-above-forged-trusted-below", AUTH_ABOVE_RECEIVED, 1,
	  { "mx.other.org; dkim=pass header.d=github.com",
	    "mx.example.net; dkim=pass header.d=github.com" }, FALSE, "above" },
	{ "two-above-topmost-decides", AUTH_ABOVE_RECEIVED, 2,
	  { "mx.example.net; dkim=pass header.d=github.com",
	    "mx.google.com; dkim=fail header.d=github.com" }, TRUE, NULL },
	{ "two-above-topmost-fail-decides", AUTH_ABOVE_RECEIVED, 2,
	  { "mx.example.net; none",
	    "mx.google.com; dkim=pass header.d=github.com" }, FALSE, "dkim" },
	{ "forged-quoted-id-above", AUTH_ABOVE_RECEIVED, 1,
	  { "\"mx.example.net\"; dkim=pass header.d=github.com" }, FALSE, "trusted" },
	{ "no-headers", AUTH_ABOVE_RECEIVED, 0, { NULL }, FALSE, "trusted" },
	/* An IMAP provider's own id, or an MTA that strips forged ones:
	 * anywhere (Gmail's stands below Google's own Received: lines). */
	{ "provider-below-received", AUTH_ANYWHERE, 0,
	  { "mx.google.com; dkim=pass header.i=@github.com" }, TRUE, NULL },
	{ "provider-no-received", AUTH_ANYWHERE, NO_RECEIVED,
	  { "mx.google.com; dkim=pass header.d=github.com" }, TRUE, NULL },
	{ "strips-forged-below", AUTH_ANYWHERE, 0,
	  { "mx.other.org; dkim=fail",
	    "mx.example.net; dkim=pass header.d=github.com" }, TRUE, NULL },
};

static void
test_where(gconstpointer data)
{
	const struct where_case *c = data;
	g_autoptr(GPtrArray) ar = g_ptr_array_new();
	const char *why = NULL;
	guint usable;
	gboolean got;

	for (int i = 0; i < MAX_AR && c->ar[i] != NULL; i++)
		g_ptr_array_add(ar, (gpointer)c->ar[i]);
	usable = auth_usable(c->where, ar->len, c->received != NO_RECEIVED,
	    c->received == NO_RECEIVED ? ar->len : (guint)c->received);
	got = auth_check(ar, usable, trusted, "github.com", AUTH_DKIM, &why);
	g_assert_cmpint(got, ==, c->want);
	if (!got) {
		g_assert_nonnull(why);
		g_assert_nonnull(strstr(why, c->why));
	}
}

/* auth_usable() counts what may count, never more than there is. */
static void
test_usable(void)
{
	g_assert_cmpuint(auth_usable(AUTH_ANYWHERE, 3, FALSE, 3), ==, 3);
	g_assert_cmpuint(auth_usable(AUTH_ANYWHERE, 3, TRUE, 0), ==, 3);
	g_assert_cmpuint(auth_usable(AUTH_ABOVE_RECEIVED, 3, TRUE, 1), ==, 1);
	g_assert_cmpuint(auth_usable(AUTH_ABOVE_RECEIVED, 3, FALSE, 3), ==, 0);
	g_assert_cmpuint(auth_usable(AUTH_ABOVE_RECEIVED, 2, TRUE, 5), ==, 2);
}

static void
test_names(void)
{
	g_assert_cmpstr(auth_req_names[AUTH_NONE], ==, "none");
	g_assert_cmpstr(auth_req_names[AUTH_DKIM], ==, "dkim");
	g_assert_cmpstr(auth_req_names[AUTH_SPF], ==, "spf");
	g_assert_cmpstr(auth_req_names[AUTH_DMARC], ==, "dmarc");
	g_assert_null(auth_req_names[AUTH_DMARC + 1]);
}

/* ---- auth_aligned ------------------------------------------------------ */

struct align_case {
	const char *d, *from;
	gboolean want;
};

static const struct align_case align_cases[] = {
	{ "github.com", "github.com", TRUE },
	{ "GitHub.COM", "github.com", TRUE },
	{ "google.com", "accounts.google.com", TRUE },
	{ "mail.github.com", "github.com", TRUE },
	{ "a.b.github.com", "github.com", TRUE },
	{ "google.com", "a.b.accounts.google.com", TRUE },
	{ "com", "github.com", FALSE },
	{ "com", "com", TRUE },
	{ "org", "github.com", FALSE },
	{ "evil.org", "github.com", FALSE },
	{ "hub.com", "github.com", FALSE },
	{ "github.com", "hub.com", FALSE },
	{ "evilgithub.com", "github.com", FALSE },
	{ "github.com.evil.org", "github.com", FALSE },
	{ "github.co", "github.com", FALSE },
	{ ".com", "github.com", FALSE },
	{ "", "github.com", FALSE },
	{ "github.com", "", FALSE },
	{ NULL, "github.com", FALSE },
	{ "github.com", NULL, FALSE },
};

static void
test_aligned(gconstpointer data)
{
	const struct align_case *c = data;

	g_assert_cmpint(auth_aligned(c->d, c->from), ==, c->want);
}

/* The test name of a row of align_cases. */
static char *
align_name(gsize i, gconstpointer row)
{
	const struct align_case *c = row;

	return g_strdup_printf("%zu-%s-%s", i, c->d != NULL ? c->d : "null",
	    c->from != NULL ? c->from : "null");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();

	TESTUTIL_ADD_ROWS("/auth/check", ar_cases, test_ar);
	g_test_add_func("/auth/check/nulls", test_ar_nulls);
	g_test_add_func("/auth/check/why", test_ar_why);
	g_test_add_func("/auth/names", test_names);
	TESTUTIL_ADD_ROWS("/auth/where", where_cases, test_where);
	g_test_add_func("/auth/usable", test_usable);
	TESTUTIL_ADD_ROWS_NAMED("/auth/aligned", align_cases, align_name, test_aligned);
	return g_test_run();
}
