/*
 * proto.h - the server side of SMTP and LMTP as a pure state machine:
 * bytes in, reply bytes and events out, no I/O, no clock (Dovecot's LMTP
 * server is callbacks over a protocol library; this is that library).
 *
 * RFC 5321 (SMTP), RFC 2033 (LMTP), RFC 1870 (SIZE), RFC 2920
 * (PIPELINING), RFC 3463/2034 (ENHANCEDSTATUSCODES), RFC 6152 (8BITMIME),
 * RFC 6531 (SMTPUTF8: UTF-8 addresses when MAIL says so).
 * The session layer (lmtp.c) owns sockets, timeouts and the store; it
 * feeds whatever bytes arrive, writes whatever replies come out, and
 * answers the DATA event with one reply per recipient (LMTP) or one
 * (SMTP) once the jobs are committed.
 */
#ifndef OTPBRIDGE_PROTO_H
#define OTPBRIDGE_PROTO_H

#include <glib.h>

#define PROTO_LINE_MAX 4096       /* command line, CRLF included */
#define PROTO_ERRORS_MAX 20       /* bad commands before 421 and close */

enum proto_dialect { PROTO_LMTP, PROTO_SMTP };

struct proto_limits {
	guint64 max_size;            /* message bytes (dot-unstuffed); SIZE */
	guint max_recipients;        /* per transaction; more: 452 4.5.3 */
};

/*
 * Checks one RCPT address (bare addr-spec, as given, not lower-cased;
 * valid UTF-8, non-ASCII only in an SMTPUTF8 transaction).
 * Returns NULL to accept, or a complete reply line without CRLF to refuse
 * (e.g. "550 5.1.1 <x@y>: Recipient address rejected").  The string must
 * stay valid until the next call.
 */
typedef const char *(*proto_rcpt_fn)(const char *addr, gpointer data);

enum proto_event {
	PROTO_EV_NONE = 0,
	PROTO_EV_DATA,               /* a message is complete: see proto_txn() */
	PROTO_EV_CLOSE,              /* flush the output, then close */
};

/* The transaction whose DATA just ended; valid until proto_data_done(). */
struct proto_txn {
	const char *helo;            /* the LHLO/EHLO/HELO argument */
	const char *mail_from;       /* reverse-path without <>, "" for <> */
	char *const *rcpts;          /* accepted recipients, in RCPT order */
	guint n_rcpts;
	const char *data;            /* the message, dot-unstuffed, CRLF line ends */
	gsize len;
	gboolean too_big;            /* over max_size: data is NULL, replies say 552 */
};

struct proto;

/* hostname appears in the greeting and the LHLO/EHLO reply. */
struct proto *proto_new(enum proto_dialect dialect, const char *hostname,
    const struct proto_limits *lim, proto_rcpt_fn rcpt_check, gpointer data);
void proto_free(struct proto **p);

/* Appends the 220 greeting to out. */
void proto_greeting(struct proto *p, GString *out);

/*
 * Consumes bytes of buf[0, len), appending every reply to out in order
 * (pipelined commands get their replies in one go).  Returns how many
 * bytes it consumed: fewer than len when an event stops it (*ev != NONE);
 * the caller keeps the rest and feeds it again after handling the event.
 * After PROTO_EV_DATA nothing is consumed until proto_data_done().  After
 * PROTO_EV_CLOSE nothing more is consumed at all.  A partial line is kept
 * inside (bounded by PROTO_LINE_MAX for commands and max_size for data).
 * Only CRLF ends a line and only <CRLF>.<CRLF> ends DATA: a bare LF
 * closes the session (421, then PROTO_EV_CLOSE right after that LF).
 */
gsize proto_feed(struct proto *p, const char *buf, gsize len, GString *out,
    enum proto_event *ev);

/* After PROTO_EV_DATA: the transaction. */
const struct proto_txn *proto_txn(const struct proto *p);

/*
 * Ends the DATA event: replies are complete reply lines without CRLF,
 * one per accepted recipient in RCPT order (LMTP) or exactly one (SMTP).
 * When the transaction was too_big, pass NULL: proto answers 552 5.3.4
 * itself.  Resets the transaction (as after RSET) and resumes input.
 */
void proto_data_done(struct proto *p, const char *const *replies, GString *out);

/* TRUE between an accepted MAIL and the end of its DATA (a session that a
 * shutdown should let finish). */
gboolean proto_in_transaction(const struct proto *p);

/* Appends a 421 reply with the given enhanced code and text (timeout,
 * shutdown, too many connections) and marks the session closing. */
void proto_close(struct proto *p, const char *enhanced, const char *text, GString *out);

/*
 * After PROTO_EV_CLOSE: why proto itself closed the session, as a log
 * word - "bare-lf" (an LF without CR: proto answered 421 4.5.2 and read
 * no further, see proto.c on line ends) or "too-many-errors" - or NULL
 * (QUIT, proto_close(), or not closed).
 */
const char *proto_close_reason(const struct proto *p);

#endif
