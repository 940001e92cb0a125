/*
 * test-mime.c - mime_parse() against a table of messages written as C
 * strings (non-UTF-8 bytes as \x escapes) and the struct message fields
 * doc/core.md §1 promises; then generated ones: a 3 MB attachment, the
 * text bound, deep nesting, the digest.
 */
#include "autoconfig.h"

#include <string.h>

#include "mime.h"
#include "util.h"
#include "testutil.h"

struct mime_case {
	const char *name;
	const char *input;
	size_t len;		/* 0: strlen(input) */
	gboolean fails;		/* not mail: mime_parse() returns -1 */
	/* Expected values; NULL: not checked.  Lists are "\n"-joined. */
	const char *subject;
	const char *from;
	const char *from_domain;
	const char *text;
	const char *to;
	const char *delivered_to;
	const char *auth_results;
	const char *links;	/* "url|text" lines */
	const char *message_id;
	gint64 date;		/* checked when not 0 */
	/* The forwarded message (msg->forwarded); fwd_text NULL: none. */
	const char *fwd_subject;
	const char *fwd_text;
	const char *fwd_links;
	/* "received=0|1 above=N date=UNIX": the topmost Received:, which
	 * Authentication-Results stand above it, its date; NULL: unchecked */
	const char *received;
	/* "0" or "1": msg->calendar (a text/calendar or application/ics
	 * part); NULL: unchecked */
	const char *calendar;
};

#define HDR "From: sender@example.com\r\nSubject: t\r\n"

static const struct mime_case mime_cases[] = {
	/* Not mail. */
	{ .name = "not-mail-empty", .input = "", .fails = TRUE },
	{ .name = "not-mail-hello", .input = "hello world", .fails = TRUE },
	{ .name = "not-mail-hello-colon", .input = "hello world: again\n\nx", .fails = TRUE },
	{ .name = "not-mail-binary", .input = "\x00\x01\xff\xfe\x89PNG\r\n\x1a\n", .len = 12,
	    .fails = TRUE },
	{ .name = "not-mail-blank-first", .input = "\r\nSubject: x\r\n\r\nbody", .fails = TRUE },
	{ .name = "not-mail-from-only", .input = "From someone Mon Jan  1 00:00:00 2024\n",
	    .fails = TRUE },
	{ .name = "not-mail-from-then-text",
	    .input = "From someone Mon Jan  1 00:00:00 2024\nhello\n", .fails = TRUE },

	/* Headers. */
	{ .name = "minimal-header-only", .input = "Subject: x", .subject = "x", .text = "" },
	{ .name = "mbox-from-line",
	    .input = "From sender@x Mon Jan  1 00:00:00 2024\nFrom: A@B.c\nSubject: mbox\n\nbody\n",
	    .subject = "mbox", .from = "a@b.c", .text = "body\n" },
	{ .name = "addresses-lowercased",
	    .input = "From: \"Alice\" <Alice@Example.COM>, bob@other.org\r\n"
	    "To: Undisclosed: A@X.COM, b@y.com;\r\n"
	    "To: second@x.com\r\n"
	    "Cc: C <C@Z.com>, d@Q.org\r\n"
	    "Delivered-To: Bot+Tag@Example.com\r\n"
	    "X-Original-To: <Other@Ex.COM>\r\n"
	    "Delivered-To: third@ex.com\r\n"
	    "Subject: a\r\n\r\nx\r\n",
	    .from = "alice@example.com", .from_domain = "example.com",
	    .to = "a@x.com\nb@y.com\nsecond@x.com\nc@z.com\nd@q.org",
	    .delivered_to = "bot+tag@example.com\nother@ex.com\nthird@ex.com" },
	{ .name = "addresses-utf8",
	    /* RFC 6532 raw UTF-8, and a whole address as one RFC 2047 word
	     * (B and Q), which mailers send; a word that holds no bare
	     * addr-spec stays as it was */
	    .input = "To: \xd0\x91\xd0\x9e\xd0\xa2@\xd0\x9f\xd0\xa0.\xd0\xa0\xd0\xa4, "
	    "=?UTF-8?B?0JHQntCiQNCf0KAu0KDQpA==?=, =?utf-8?q?B=C3=98t@x.example?=, "
	    "=?utf-8?q?a_b@x?=\r\n"
	    "Delivered-To: =?UTF-8?B?0JHQntCiQNCf0KAu0KDQpA==?=\r\n"
	    "Subject: a\r\n\r\nx\r\n",
	    .to = "\xd0\xb1\xd0\xbe\xd1\x82@\xd0\xbf\xd1\x80.\xd1\x80\xd1\x84\n"
	    "\xd0\xb1\xd0\xbe\xd1\x82@\xd0\xbf\xd1\x80.\xd1\x80\xd1\x84\n"
	    "b\xc3\xb8t@x.example\n=?utf-8?q?a_b@x?=",
	    .delivered_to = "\xd0\xb1\xd0\xbe\xd1\x82@\xd0\xbf\xd1\x80.\xd1\x80\xd1\x84" },
	{ .name = "from-missing", .input = "Subject: s\r\n\r\nx", .from = "" },
	{ .name = "auth-results-order",
	    .input = "Authentication-Results: mx.example.com;\r\n"
	    "\tdkim=pass header.d=github.com;\r\n  dmarc=pass\r\n"
	    "Received: by x\r\n"
	    "Authentication-Results: forged.example; dkim=fail\r\n"
	    "From: a@b.c\r\n\r\nx\r\n",
	    .auth_results = "mx.example.com; dkim=pass header.d=github.com; dmarc=pass\n"
	    "forged.example; dkim=fail" },
	{ .name = "received-position-and-date",
	    .input = "Authentication-Results: mx.example.com; dkim=pass header.d=github.com\r\n"
	    "Received: from a (a [192.0.2.1])\r\n\tby mx.example.com (Postfix) with ESMTP id X;\r\n"
	    "\tMon, 1 Jan 2024 10:00:00 +0000 (UTC)\r\n"
	    "Authentication-Results: mx.example.com; dkim=pass header.d=evil.example\r\n"
	    "Received: from b by c; Tue, 2 Jan 2024 10:00:00 +0000\r\n"
	    "From: a@b.c\r\n\r\nx\r\n",
	    .received = "received=1 above=1 date=1704103200" },
	{ .name = "received-below-all-ar",
	    .input = "Received: by mx.example.com; Mon, 1 Jan 2024 12:00:00 +0200\r\n"
	    "Authentication-Results: mx.example.com; dkim=pass header.d=github.com\r\n"
	    "From: a@b.c\r\n\r\nx\r\n",
	    .received = "received=1 above=0 date=1704103200" },
	{ .name = "received-none",
	    .input = "Authentication-Results: mx.example.com; dkim=pass\r\n"
	    "Authentication-Results: mx.example.com; spf=pass\r\n"
	    "From: a@b.c\r\n\r\nx\r\n",
	    .received = "received=0 above=2 date=0" },
	{ .name = "received-no-date",
	    .input = "Received: by mx.example.com with LMTP\r\n"
	    "Received: from x by y; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
	    "From: a@b.c\r\n\r\nx\r\n",
	    .received = "received=1 above=0 date=0" },
	{ .name = "received-bad-date",
	    .input = "Received: by mx.example.com; not a date at all\r\n"
	    "From: a@b.c\r\n\r\nx\r\n",
	    .received = "received=1 above=0 date=0" },
	{ .name = "received-semicolon-in-comment-last-wins",
	    .input = "Received: from x (helo; Mon, 1 Jan 2001 00:00:00 +0000) by y;\r\n"
	    " Mon, 1 Jan 2024 10:00:00 +0000\r\n"
	    "From: a@b.c\r\n\r\nx\r\n",
	    .received = "received=1 above=0 date=1704103200" },
	{ .name = "message-id-date",
	    .input = "Message-ID: <Abc.123@mail.example>\r\n"
	    "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nx",
	    .message_id = "Abc.123@mail.example", .date = 1704103200 },
	{ .name = "date-timezone",
	    .input = "Date: Mon, 1 Jan 2024 12:00:00 +0200\r\n\r\nx", .date = 1704103200 },

	/* Subjects. */
	{ .name = "subject-2047-b", .input = "Subject: =?UTF-8?B?Q29kZTogMTIzNDU2?=\r\n\r\n",
	    .subject = "Code: 123456" },
	{ .name = "subject-2047-q", .input = "Subject: =?iso-8859-1?Q?Caf=E9_code?=\r\n\r\n",
	    .subject = "Caf\xc3\xa9 code" },
	{ .name = "subject-folded-adjacent",
	    .input = "Subject: =?utf-8?q?Your_?=\r\n =?utf-8?q?code?= is\r\n\t  here  \r\n\r\n",
	    .subject = "Your code is here" },
	{ .name = "subject-mixed-charsets",
	    .input = "Subject: =?iso-8859-1?q?caf=E9?= =?koi8-r?b?8NLJ18XU?= plain\r\n\r\n",
	    .subject = "caf\xc3\xa9\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 plain" },
	{ .name = "subject-adjacent-padded-b",
	    .input = "Subject: =?utf-8?b?Q29kZQ==?= =?utf-8?b?IDEyMzQ1Ng==?=\r\n\r\n",
	    .subject = "Code 123456" },
	{ .name = "subject-character-split-between-words",
	    .input = "Subject: =?utf-8?b?ww==?=\r\n =?UTF-8?b?qQ==?= =?utf-8?q?=C3?= =?utf-8?q?=A9!?=\r\n\r\n",
	    .subject = "\xc3\xa9\xc3\xa9!" },
	{ .name = "subject-2047-loose",
	    .input = "Subject: a=?utf-8?q?b?=c =?x-unknown?q?caf=E9?= =?bogus?q =?utf-8*en?b?w6k=?=\r\n\r\n",
	    .subject = "abc caf\xc3\xa9 =?bogus?q \xc3\xa9" },
	{ .name = "subject-encoded-word-glued",
	    .input = "Subject: =?utf-8?b?w6k=?= =?utf-8?b?w6k=?=x\r\n\r\n",
	    .subject = "\xc3\xa9\xc3\xa9x" },
	{ .name = "subject-iso-2022-jp",
	    .input = "Subject: =?ISO-2022-JP?B?GyRCM05HJyUzITwlSRsoQg==?= 123456\r\n\r\n",
	    .subject = "\xe7\xa2\xba\xe8\xaa\x8d\xe3\x82\xb3\xe3\x83\xbc\xe3\x83\x89 123456" },
	{ .name = "subject-raw-utf8", .input = "Subject: C\xc3\xb3" "digo 1\r\n\r\n",
	    .subject = "C\xc3\xb3" "digo 1" },
	{ .name = "subject-raw-cp1252", .input = "Subject: caf\xe9 \x80" "5\r\n\r\n",
	    .subject = "caf\xc3\xa9 \xe2\x82\xac" "5" },
	{ .name = "subject-absent", .input = "From: a@b.c\r\n\r\nx", .subject = "" },

	/* Transfer encodings. */
	{ .name = "te-7bit",
	    .input = HDR "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\nYour code is 123456.\r\n",
	    .text = "Your code is 123456.\n" },
	{ .name = "te-8bit-utf8",
	    .input = HDR "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\nC\xc3\xb3" "digo: 123456\r\n",
	    .text = "C\xc3\xb3" "digo: 123456\n" },
	{ .name = "te-qp",
	    .input = HDR "Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Code=3A 12=\r\n3456 caf=E9\r\n",
	    .text = "Code: 123456 caf\xc3\xa9\n" },
	{ .name = "te-base64",
	    .input = HDR "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "WW91ciBjb2Rl\r\nOiA5ODc2NTQK\r\n",
	    .text = "Your code: 987654\n" },
	{ .name = "te-bad-base64",
	    .input = HDR "Content-Transfer-Encoding: BASE64\r\n\r\nQ29kZ!!!TogMT#IzNDU2\r\n",
	    .text = "Code: 123456" },
	{ .name = "te-truncated-base64",
	    .input = HDR "Content-Transfer-Encoding: base64\r\n\r\nQ29kZTogMTIzN",
	    .text = "Code: 123" },
	{ .name = "te-bad-qp",
	    .input = HDR "Content-Transfer-Encoding: quoted-printable\r\n\r\n=ZZcode =3D 1=\r\n2=",
	    .text = "=ZZcode = 12" },
	{ .name = "te-unknown",
	    .input = HDR "Content-Transfer-Encoding: x-weird\r\n\r\ncode 42\r\n",
	    .text = "code 42\n" },

	/* Charsets. */
	{ .name = "cs-iso-8859-1", .input = HDR "Content-Type: text/plain; charset=ISO-8859-1\r\n\r\ncaf\xe9",
	    .text = "caf\xc3\xa9" },
	{ .name = "cs-iso-8859-15",
	    .input = HDR "Content-Type: text/plain; charset=iso-8859-15\r\n\r\n\xa4 \xbd",
	    .text = "\xe2\x82\xac \xc5\x93" },
	{ .name = "cs-windows-1252",
	    .input = HDR "Content-Type: text/plain; charset=windows-1252\r\n\r\n\x80 \x93q\x94 \x8a",
	    .text = "\xe2\x82\xac \xe2\x80\x9cq\xe2\x80\x9d \xc5\xa0" },
	{ .name = "cs-koi8-r", .input = HDR "Content-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4",
	    .text = "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82" },
	{ .name = "cs-shift-jis",
	    .input = HDR "Content-Type: text/plain; charset=Shift_JIS\r\n\r\n"
	    "\x8am\x94" "F\x83R\x81[\x83h: 123456",
	    .text = "\xe7\xa2\xba\xe8\xaa\x8d\xe3\x82\xb3\xe3\x83\xbc\xe3\x83\x89: 123456" },
	{ .name = "cs-iso-2022-jp",
	    .input = HDR "Content-Type: text/plain; charset=iso-2022-jp\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n\x1b$B3NG'%3!<%I\x1b(B: 123456",
	    .text = "\xe7\xa2\xba\xe8\xaa\x8d\xe3\x82\xb3\xe3\x83\xbc\xe3\x83\x89: 123456" },
	{ .name = "cs-gb2312-holding-gbk",
	    .input = HDR "Content-Type: text/plain; charset=gb2312\r\n\r\n"
	    "\xd1\xe9\xd6\xa4\xc2\xeb \xe9" "F: 123456",
	    .text = "\xe9\xaa\x8c\xe8\xaf\x81\xe7\xa0\x81 \xe9\x95\x95: 123456" },
	{ .name = "cs-gbk", .input = HDR "Content-Type: text/plain; charset=GBK\r\n\r\n\xd1\xe9\xd6\xa4\xc2\xeb",
	    .text = "\xe9\xaa\x8c\xe8\xaf\x81\xe7\xa0\x81" },
	{ .name = "cs-utf16-bom-base64",
	    .input = HDR "Content-Type: text/plain; charset=utf-16\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n//4aBD4ENAQ6ACAAMQAyADMANAA1ADYACgA=\r\n",
	    .text = "\xd0\x9a\xd0\xbe\xd0\xb4: 123456\n" },
	{ .name = "cs-unknown-utf8",
	    .input = HDR "Content-Type: text/plain; charset=x-no-such\r\n\r\nC\xc3\xb3" "digo",
	    .text = "C\xc3\xb3" "digo" },
	{ .name = "cs-unknown-8bit",
	    .input = HDR "Content-Type: text/plain; charset=x-no-such\r\n\r\ncaf\xe9 \x80",
	    .text = "caf\xc3\xa9 \xe2\x82\xac" },
	{ .name = "cs-lying-utf8",
	    .input = HDR "Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9",
	    .text = "caf\xc3\xa9" },
	{ .name = "cs-lying-latin1",
	    .input = HDR "Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xc3\xa9",
	    .text = "caf\xc3\xa9" },
	{ .name = "cs-damaged-utf8",
	    .input = HDR "Content-Type: text/plain; charset=utf-8\r\n\r\n\xc3\xa9 \xff ok",
	    .text = "\xc3\xa9 \xef\xbf\xbd ok" },
	{ .name = "cs-invalid-sjis",
	    .input = HDR "Content-Type: text/plain; charset=shift_jis\r\n\r\n"
	    "\x83R\x81[\x83h \x85\xff 12",
	    .text = "\xe3\x82\xb3\xe3\x83\xbc\xe3\x83\x89 \xef\xbf\xbd\xef\xbf\xbd 12" },
	{ .name = "cs-x-unknown-8bit",
	    .input = HDR "Content-Type: text/plain; charset=x-unknown\r\n\r\ncaf\xe9",
	    .text = "caf\xc3\xa9" },
	{ .name = "cs-lying-ascii-cp1252",
	    .input = HDR "Content-Type: text/plain; charset=us-ascii\r\n\r\n\x93q\x94",
	    .text = "\xe2\x80\x9cq\xe2\x80\x9d" },
	{ .name = "cs-lying-single-byte",
	    .input = HDR "Content-Type: text/plain; charset=iso-8859-6\r\n\r\n\xa1" "caf\xe9",
	    .text = "\xc2\xa1" "caf\xc3\xa9" },
	{ .name = "no-mime-8bit", .input = "From: a@b.c\nSubject: x\n\ncaf\xe9\n",
	    .text = "caf\xc3\xa9\n" },
	{ .name = "bare-lf-and-cr",
	    .input = "From: a@b.c\nSubject: bare\nContent-Type: text/plain\n\nline1\nline2\rline3\r\n",
	    .subject = "bare", .text = "line1\nline2\nline3\n" },
	{ .name = "nul-bytes", .input = HDR "\r\nco\0de 12\0" "34\r\n", .len = sizeof(HDR) - 1 + 16,
	    .text = "code 1234\n" },

	/* Structure. */
	{ .name = "alternative-plain-first",
	    .input = HDR "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n"
	    "--b1\r\nContent-Type: text/html\r\n\r\n<p>html 111111</p>\r\n"
	    "--b1\r\nContent-Type: text/plain\r\n\r\nplain 222222\r\n--b1--\r\n",
	    .text = "plain 222222", .links = "" },
	{ .name = "alternative-blank-plain",
	    .input = HDR "Content-Type: multipart/alternative; boundary=b1\r\n\r\n"
	    "--b1\r\nContent-Type: text/plain\r\n\r\n \r\n\r\n"
	    "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
	    "<p>Code <b>55</b><b>66</b></p><a href=\"https://x.example/v?t=1\">Verify</a>\r\n"
	    "--b1--\r\n",
	    .text = "Code 5566\nVerify", .links = "https://x.example/v?t=1|Verify" },
	{ .name = "html-only-base64",
	    .input = HDR "Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "PHA+Q29kZSA8Yj41NTwvYj48Yj42NjwvYj48L3A+PGEgaHJlZj0iaHR0cHM6Ly94LmV4YW1w\r\n"
	    "bGUvdmVyaWZ5P3Q9MSI+VmVyaWZ5PC9hPg==\r\n",
	    .text = "Code 5566\nVerify", .links = "https://x.example/verify?t=1|Verify" },
	{ .name = "html-latin1",
	    .input = HDR "Content-Type: text/html; charset=iso-8859-1\r\n\r\n<p>caf\xe9&nbsp;&euro;</p>",
	    .text = "caf\xc3\xa9 \xe2\x82\xac" },
	/*
	 * Forwarded messages: the outer body is the text; the first
	 * message/rfc822 is read apart (its own body, none of its attachments
	 * or forwarded messages), for core.c to read when the outer has no code.
	 */
	/*
	 * A meeting invitation: a text/calendar part beside the text (as
	 * Google Calendar and Outlook send it), or an .ics attachment, or
	 * application/ics; one inside a forwarded message is that message's.
	 */
	{ .name = "calendar-alternative",
	    .input = HDR "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nJoin: passcode 738291\r\n"
	    "--b\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\n"
	    "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n",
	    .text = "Join: passcode 738291", .calendar = "1" },
	{ .name = "calendar-ics-attachment",
	    .input = HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nSee the invite.\r\n"
	    "--b\r\nContent-Type: application/ics; name=invite.ics\r\n"
	    "Content-Disposition: attachment; filename=invite.ics\r\n\r\n"
	    "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b--\r\n",
	    .text = "See the invite.", .calendar = "1" },
	{ .name = "calendar-nested-after-the-text",
	    .input = HDR "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
	    "--i\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
	    "--i\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n--i--\r\n"
	    "--o\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n--o--\r\n",
	    .text = "hello", .calendar = "1" },
	{ .name = "calendar-none",
	    .input = HDR "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nYour code is 738291\r\n"
	    "--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n",
	    .calendar = "0" },
	{ .name = "calendar-only-in-forwarded",
	    .input = HDR "Content-Type: multipart/mixed; boundary=out\r\n\r\n"
	    "--out\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
	    "--out\r\nContent-Type: message/rfc822\r\n\r\n"
	    "From: inner@example.com\r\nSubject: inner\r\n"
	    "Content-Type: multipart/alternative; boundary=in\r\n\r\n"
	    "--in\r\nContent-Type: text/plain\r\n\r\ninner\r\n"
	    "--in\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n--in--\r\n"
	    "--out--\r\n",
	    .text = "see below", .fwd_text = "inner", .calendar = "0" },
	{ .name = "forwarded-rfc822",
	    .input = HDR "Content-Type: multipart/mixed; boundary=out\r\n\r\n"
	    "--out\r\nContent-Type: message/rfc822\r\n\r\n"
	    "From: inner@example.com\r\nSubject: inner\r\n"
	    "Content-Type: text/plain\r\n\r\ninner code 313131\r\n--out--\r\n",
	    .subject = "t", .from = "sender@example.com", .text = "",
	    .fwd_subject = "inner", .fwd_text = "inner code 313131" },
	{ .name = "forwarded-outer-html-beats-inner-plain",
	    .input = HDR "Content-Type: multipart/mixed; boundary=out\r\n\r\n"
	    "--out\r\nContent-Type: text/html\r\n\r\n<p>outer 111111</p>\r\n"
	    "--out\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
	    "Subject: inner\r\nContent-Type: text/plain\r\n\r\ninner 222222\r\n--out--\r\n",
	    .text = "outer 111111", .fwd_subject = "inner", .fwd_text = "inner 222222" },
	{ .name = "forwarded-first-outer-plain-after",
	    .input = HDR "Content-Type: multipart/mixed; boundary=out\r\n\r\n"
	    "--out\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: inner\r\nContent-Type: text/plain\r\n\r\ninner 333333\r\n"
	    "--out\r\nContent-Type: text/plain\r\n\r\nsee above\r\n--out--\r\n",
	    .text = "see above", .fwd_subject = "inner", .fwd_text = "inner 333333" },
	{ .name = "forwarded-after-outer-plain",
	    .input = HDR "Content-Type: multipart/mixed; boundary=out\r\n\r\n"
	    "--out\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
	    "--out\r\nContent-Type: message/rfc822; name=\"fw.eml\"\r\n"
	    "Content-Disposition: attachment; filename=\"fw.eml\"\r\n\r\n"
	    "Subject: =?UTF-8?B?Q8OzZGlnbw==?=\r\nContent-Type: text/html\r\n\r\n"
	    "<p>C\xc3\xb3" "digo 444444</p><a href=\"https://x.example/l?t=1\">Entrar</a>\r\n--out--\r\n",
	    .text = "see below", .links = "", .fwd_subject = "C\xc3\xb3" "digo",
	    .fwd_text = "C\xc3\xb3" "digo 444444\nEntrar", .fwd_links = "https://x.example/l?t=1|Entrar" },
	{ .name = "forwarded-own-attachments-not-read",
	    .input = HDR "Content-Type: multipart/mixed; boundary=out\r\n\r\n"
	    "--out\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: inner\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n"
	    "--in\r\nContent-Type: text/plain; name=\"a.txt\"\r\n\r\nattached 555555\r\n"
	    "--in\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: nested\r\n\r\nnested 666666\r\n"
	    "--in--\r\n--out--\r\n",
	    .text = "", .fwd_subject = "inner", .fwd_text = "" },
	{ .name = "forwarded-only-the-first",
	    .input = HDR "Content-Type: multipart/mixed; boundary=out\r\n\r\n"
	    "--out\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: one\r\n\r\nfirst 777777\r\n"
	    "--out\r\nContent-Type: message/rfc822\r\n\r\n"
	    "Subject: two\r\n\r\nsecond 888888\r\n--out--\r\n",
	    .text = "", .fwd_subject = "one", .fwd_text = "first 777777" },
	{ .name = "attachment-skipped",
	    .input = HDR "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
	    "--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\natt 111111\r\n"
	    "--m\r\nContent-Type: text/plain; name=\"a.txt\"\r\n\r\nnamed 222222\r\n"
	    "--m\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n"
	    "--m\r\nContent-Type: text/plain\r\nContent-Disposition: inline\r\n\r\nbody 333333\r\n"
	    "--m--\r\n",
	    .text = "body 333333" },
	{ .name = "nested-multipart",
	    .input = HDR "Content-Type: multipart/mixed; boundary=a\r\n\r\npreamble 999\r\n"
	    "--a\r\nContent-Type: multipart/related; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n"
	    "--c\r\nContent-Type: text/html\r\n\r\n<b>deep 4</b>\r\n--c--\r\n--b--\r\n--a--\r\n",
	    .text = "deep 4" },
	{ .name = "missing-boundary-parameter",
	    .input = HDR "Content-Type: multipart/mixed\r\n\r\nYour code 123\r\n--x\r\n",
	    .text = "Your code 123\n--x\n" },
	{ .name = "missing-closing-boundary",
	    .input = HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\ncode 424242\r\n",
	    .text = "code 424242\n" },
	{ .name = "wrong-boundary",
	    .input = HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--other\r\nContent-Type: text/plain\r\n\r\ncode 5\r\n",
	    .text = "--other\nContent-Type: text/plain\n\ncode 5\n" },
	{ .name = "text-other-subtype-skipped",
	    .input = HDR "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n"
	    "--b\r\nContent-Type: TEXT/PLAIN\r\n\r\nok\r\n--b--\r\n",
	    .text = "ok" },
};

/* The strings of a as one "\n"-joined string. */
static char *
join(GPtrArray *a)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < a->len; i++)
		g_string_append_printf(s, "%s%s", i > 0 ? "\n" : "", (const char *)a->pdata[i]);
	return g_string_free(s, FALSE);
}

/* The links as "url|text" lines. */
static char *
join_links(GPtrArray *links)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < links->len; i++) {
		const struct link *l = links->pdata[i];

		g_string_append_printf(s, "%s%s|%s", i > 0 ? "\n" : "", l->url, l->text);
	}
	return g_string_free(s, FALSE);
}

static void
check_list(GPtrArray *a, const char *expected)
{
	char *got;

	if (expected == NULL)
		return;
	got = join(a);
	g_assert_cmpstr(got, ==, expected);
	g_free(got);
}

/* Every string of a parsed message is valid UTF-8. */
static void
check_utf8(const struct message *m)
{
	g_assert_true(g_utf8_validate(m->subject, -1, NULL));
	g_assert_true(g_utf8_validate(m->text, -1, NULL));
	g_assert_null(strchr(m->text, '\r'));
	g_assert_cmpuint(strlen(m->text), <=, MIME_TEXT_MAX);
	g_assert_cmpuint(strlen(m->digest), ==, 64);
	for (guint i = 0; i < m->to->len; i++)
		g_assert_true(g_utf8_validate(m->to->pdata[i], -1, NULL));
	for (guint i = 0; i < m->auth_results->len; i++)
		g_assert_true(g_utf8_validate(m->auth_results->pdata[i], -1, NULL));
}

static void
test_mime_case(gconstpointer data)
{
	const struct mime_case *c = data;
	size_t len = c->len != 0 ? c->len : strlen(c->input);
	struct message *m = NULL;
	GError *error = NULL;
	int r = mime_parse(c->input, len, &m, &error);

	if (c->fails) {
		g_assert_cmpint(r, ==, -1);
		g_assert_null(m);
		g_assert_error(error, OTPB_ERROR, OTPB_ERROR_DATA);
		g_assert_true(g_str_has_prefix(error->message, "not a mail message: "));
		g_error_free(error);
		return;
	}
	g_assert_no_error(error);
	g_assert_cmpint(r, ==, 0);
	g_assert_nonnull(m);
	check_utf8(m);
	if (c->subject != NULL)
		g_assert_cmpstr(m->subject, ==, c->subject);
	if (c->from != NULL)
		g_assert_cmpstr(m->from != NULL ? m->from : "", ==, c->from);
	if (c->from_domain != NULL)
		g_assert_cmpstr(m->from_domain, ==, c->from_domain);
	if (c->text != NULL)
		g_assert_cmpstr(m->text, ==, c->text);
	if (c->message_id != NULL)
		g_assert_cmpstr(m->message_id, ==, c->message_id);
	if (c->date != 0)
		g_assert_cmpint(m->date, ==, c->date);
	check_list(m->to, c->to);
	check_list(m->delivered_to, c->delivered_to);
	check_list(m->auth_results, c->auth_results);
	if (c->calendar != NULL)
		g_assert_cmpint(m->calendar, ==, *c->calendar == '1');
	if (c->received != NULL) {
		g_autofree char *got = g_strdup_printf("received=%d above=%u date=%"
		    G_GINT64_FORMAT, m->has_received, m->ar_above_received,
		    m->received_date);

		g_assert_cmpstr(got, ==, c->received);
	}
	if (c->links != NULL) {
		char *got = join_links(m->links);

		g_assert_cmpstr(got, ==, c->links);
		g_free(got);
	}
	g_assert_false(m->text_truncated);
	if (c->fwd_text == NULL)
		g_assert_null(m->forwarded);
	else {
		g_assert_nonnull(m->forwarded);
		g_assert_true(g_utf8_validate(m->forwarded->subject, -1, NULL));
		g_assert_true(g_utf8_validate(m->forwarded->text, -1, NULL));
		g_assert_cmpstr(m->forwarded->text, ==, c->fwd_text);
		if (c->fwd_subject != NULL)
			g_assert_cmpstr(m->forwarded->subject, ==, c->fwd_subject);
		if (c->fwd_links != NULL) {
			char *got = join_links(m->forwarded->links);

			g_assert_cmpstr(got, ==, c->fwd_links);
			g_free(got);
		}
		g_assert_null(m->forwarded->forwarded);
	}
	message_free(&m);
	g_assert_null(m);
}

/* The digest is the SHA-256 of every input byte, the From_ line included. */
static void
test_mime_digest(void)
{
	static const char in[] = "Subject: x\n\nbody\n";
	struct message *a = NULL, *b = NULL;
	char *mbox;

	g_assert_cmpint(mime_parse(in, strlen(in), &a, NULL), ==, 0);
	g_assert_cmpstr(a->digest, ==,
	    "a8feb3bd723123b67775f4e2a368b3f7db5f6b7d4777a1dec37880942feed7a7");
	g_assert_cmpint(mime_parse(in, strlen(in), &b, NULL), ==, 0);
	g_assert_cmpstr(a->digest, ==, b->digest);
	g_assert_cmpint(a->date, ==, 0);
	g_assert_null(a->message_id);
	message_free(&b);
	mbox = g_strconcat("From x Mon Jan  1 00:00:00 2024\n", in, NULL);
	g_assert_cmpint(mime_parse(mbox, strlen(mbox), &b, NULL), ==, 0);
	g_assert_cmpstr(a->digest, !=, b->digest);
	g_assert_cmpstr(a->text, ==, b->text);
	message_free(&a);
	message_free(&b);
	g_free(mbox);
}

/* Base64 of n pseudo-random bytes, in 76-column lines. */
static char *
base64_blob(gsize n)
{
	guchar *raw = g_malloc(n);
	GString *s = g_string_sized_new(n * 4 / 3 + n / 38 + 8);
	char *b64;
	gsize len;

	for (gsize i = 0; i < n; i++)
		raw[i] = (guchar)(i * 2654435761u >> 13);
	b64 = g_base64_encode(raw, n);
	len = strlen(b64);
	for (gsize i = 0; i < len; i += 76) {
		g_string_append_len(s, b64 + i, (gssize)MIN(76, len - i));
		g_string_append(s, "\r\n");
	}
	g_free(raw);
	g_free(b64);
	return g_string_free(s, FALSE);
}

/* A 3 MB attachment before a small text part: found, quickly. */
static void
test_mime_big_attachment(void)
{
	char *blob = base64_blob(3 * 1024 * 1024);
	char *in = g_strconcat(HDR "Content-Type: multipart/mixed; boundary=zz\r\n\r\n"
	    "--zz\r\nContent-Type: application/pdf; name=x.pdf\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n",
	    blob, "--zz\r\nContent-Type: text/plain\r\n\r\nYour code is 778899\r\n--zz--\r\n",
	    NULL);
	struct message *m = NULL;
	gint64 t0 = g_get_monotonic_time();

	g_assert_cmpint(mime_parse(in, strlen(in), &m, NULL), ==, 0);
	g_test_message("3 MB attachment: %" G_GINT64_FORMAT " ms",
	    (g_get_monotonic_time() - t0) / 1000);
	g_assert_cmpstr(m->text, ==, "Your code is 778899");
	g_assert_false(m->text_truncated);
	message_free(&m);
	g_free(in);
	g_free(blob);
}

/* Body text is cut at MIME_TEXT_MAX on a character boundary. */
static void
test_mime_truncation(void)
{
	static const char *const heads[] = {
		HDR "Content-Type: text/plain; charset=utf-8\r\n\r\n",
		HDR "Content-Type: text/html; charset=utf-8\r\n\r\n",
		HDR "Content-Type: text/plain; charset=utf-16le\r\n\r\n",
	};

	for (guint k = 0; k < G_N_ELEMENTS(heads); k++) {
		GString *in = g_string_new(heads[k]);
		struct message *m = NULL;
		size_t len;

		/* "é" (2 bytes) after one ASCII byte: an odd cut splits it. */
		for (guint i = 0; i < MIME_TEXT_MAX; i++) {
			if (k == 2)
				g_string_append_len(in, "a\0\xe9\0", 4);
			else
				g_string_append(in, "a\xc3\xa9");
		}
		g_assert_cmpint(mime_parse(in->str, in->len, &m, NULL), ==, 0);
		len = strlen(m->text);
		g_assert_true(m->text_truncated);
		g_assert_cmpuint(len, <=, MIME_TEXT_MAX);
		g_assert_cmpuint(len, >=, MIME_TEXT_MAX - 3);
		g_assert_true(g_utf8_validate(m->text, -1, NULL));
		g_assert_true(g_str_has_prefix(m->text, "a\xc3\xa9" "a"));
		message_free(&m);
		g_string_free(in, TRUE);
	}
}

/* Hostile nesting: multiparts and forwarded messages thousands deep. */
static void
test_mime_deep(void)
{
	for (guint kind = 0; kind < 2; kind++) {
		GString *in = g_string_new("From: a@b.c\r\nSubject: deep\r\n");
		struct message *m = NULL;

		for (guint i = 0; i < 5000; i++) {
			if (kind == 0)
				g_string_append_printf(in, "Content-Type: multipart/mixed; "
				    "boundary=b%u\r\n\r\n--b%u\r\n", i, i);
			else
				g_string_append(in, "Content-Type: message/rfc822\r\n\r\nSubject: x\r\n");
		}
		g_string_append(in, "Content-Type: text/plain\r\n\r\ncode\r\n");
		g_assert_cmpint(mime_parse(in->str, in->len, &m, NULL), ==, 0);
		g_assert_cmpstr(m->subject, ==, "deep");
		g_assert_true(g_utf8_validate(m->text, -1, NULL));
		message_free(&m);
		g_string_free(in, TRUE);
	}
}

/* Hostile subjects: long, full of almost-encoded-words; bounded and quick. */
static void
test_mime_hostile_subject(void)
{
	static const char *const units[] = {
		"x=?a?b?", "x=?a?b? ", "=?utf-8?q?", "=?", "a ", "=?=?b?",
	};

	for (guint i = 0; i < G_N_ELEMENTS(units); i++) {
		GString *in = g_string_new("Subject: ");
		struct message *m = NULL;
		gint64 t0 = g_get_monotonic_time();

		while (in->len < 1024 * 1024)
			g_string_append(in, units[i]);
		g_string_append(in, "\r\n\r\nbody");
		g_assert_cmpint(mime_parse(in->str, in->len, &m, NULL), ==, 0);
		g_assert_cmpuint(strlen(m->subject), <=, 8192);
		g_assert_true(g_utf8_validate(m->subject, -1, NULL));
		g_assert_cmpstr(m->text, ==, "body");
		g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
		message_free(&m);
		g_string_free(in, TRUE);
	}
}

/* Every prefix of a message parses without crashing (truncated delivery). */
static void
test_mime_prefixes(void)
{
	const struct mime_case *c = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(mime_cases); i++)
		if (strcmp(mime_cases[i].name, "attachment-skipped") == 0)
			c = &mime_cases[i];
	g_assert_nonnull(c);
	for (size_t n = 1; n <= strlen(c->input); n++) {
		char *copy = g_memdup2(c->input, n);	/* exact size, for ASan */
		struct message *m = NULL;
		GError *error = NULL;

		if (mime_parse(copy, n, &m, &error) == 0) {
			check_utf8(m);
			message_free(&m);
		} else
			g_clear_error(&error);
		g_free(copy);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	mime_init();
	mime_init();	/* idempotent */
	TESTUTIL_ADD_ROWS("/mime", mime_cases, test_mime_case);
	g_test_add_func("/mime/digest", test_mime_digest);
	g_test_add_func("/mime/big-attachment", test_mime_big_attachment);
	g_test_add_func("/mime/truncation", test_mime_truncation);
	g_test_add_func("/mime/deep-nesting", test_mime_deep);
	g_test_add_func("/mime/hostile-subject", test_mime_hostile_subject);
	g_test_add_func("/mime/prefixes", test_mime_prefixes);
	return g_test_run();
}
