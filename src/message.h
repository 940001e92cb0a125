/*
 * message.h - the parsed form of one mail, as the pure core sees it.
 *
 * A struct message is produced by mime_parse() from raw bytes and owned
 * by its caller (free with message_free()).  Every string in it is valid
 * UTF-8; addresses are bare, lower-cased addr-specs.
 */
#ifndef OTPBRIDGE_MESSAGE_H
#define OTPBRIDGE_MESSAGE_H

#include <glib.h>

/* A hyperlink found in an HTML part: where it points and what it says. */
struct link {
	char *url;   /* the href, entities decoded, trimmed */
	char *text;  /* the anchor's visible text, whitespace collapsed */
};

struct message {
	char *message_id;      /* Message-ID without <>, or NULL */
	char *from;            /* From addr-spec, lower-cased, or NULL */
	char *from_domain;     /* domain part of from, or NULL */
	GPtrArray *to;         /* char *: To and Cc addresses, lower-cased */
	GPtrArray *delivered_to; /* char *: Delivered-To / X-Original-To */
	char *subject;         /* decoded subject, "" when absent */
	char *text;            /* the chosen body as text, "" when none */
	GPtrArray *links;      /* struct link *: links of the HTML part */
	GPtrArray *auth_results; /* char *: Authentication-Results values, topmost first */
	gboolean has_received; /* the header has a Received: field */
	guint ar_above_received; /* auth_results[0..n) stand above the topmost
	                            Received: (all of them when there is none) */
	gint64 received_date;  /* date after the last ';' of the topmost
	                          Received:, Unix seconds; 0 when absent/bad */
	gint64 date;           /* Date header as Unix seconds, 0 when absent/bad */
	char digest[65];       /* SHA-256 of the raw bytes, lowercase hex */
	gboolean text_truncated; /* the body text was cut at MIME_TEXT_MAX */
	/* a text/calendar (or application/ics) part anywhere in the message:
	 * a meeting invitation, whose passcode and ID are not sign-in codes */
	gboolean calendar;
	/*
	 * The first attached message/rfc822 (a mail forwarded as an
	 * attachment): its subject, text and links only, read when the
	 * message's own body has no code; NULL when there is none.  Its own
	 * attachments and forwarded messages are never read.
	 */
	struct message *forwarded;
};

struct message *message_new(void);
/* Frees *msg and everything it owns; sets *msg to NULL.  NULL-safe. */
void message_free(struct message **msg);
void link_free(gpointer link);

#endif
