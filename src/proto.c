/*
 * proto.c - the server side of SMTP and LMTP as a pure state machine
 * (see proto.h): bytes in, reply lines and events out.  No I/O, no clock,
 * no mutable globals; one struct proto per connection.
 *
 * Hostile input: every byte the client sends - command lines, addresses,
 * ESMTP parameters and message data - and, defensively, the reply lines
 * handed in by the session layer (rcpt_check, proto_data_done), which are
 * cut at CR/LF and to PROTO_REPLY_MAX so the wire stays well-framed.
 *
 * Limits: a command line is at most PROTO_LINE_MAX bytes with its line end
 * (longer: 500 5.5.2, the rest up to its line end is discarded); addresses
 * at most PROTO_ADDR_MAX bytes; hostnames and HELO arguments
 * PROTO_HOST_MAX; at most max_recipients per transaction (452 4.5.3);
 * message data at most max_size bytes after dot-unstuffing (more is
 * read and dropped until the final dot, then 552 5.3.4); the data buffer
 * grows to max_size at most, never by doubling past it; after
 * PROTO_ERRORS_MAX protocol errors, 421 4.7.0 and close.  Every reply this
 * file writes is a single line far below 512 bytes.
 *
 * Line ends (SMTP smuggling, CVE-2023-51764): only CRLF ends a line, in
 * commands and in DATA, and only <CRLF>.<CRLF> ends DATA (the first CRLF
 * may be the one that ended the DATA command).  A bare LF - an LF without
 * the CR right before it - anywhere in the session gets 421 4.5.2 and the
 * session closes at once: nothing after it is read, the transaction in
 * progress is dropped (no DATA event), so no second transaction can ride
 * inside a message whatever "end of data" a client or a relay in front
 * had in mind.  This is Postfix's smtpd_forbid_bare_newline = reject
 * (Postfix 3.9 defaults to "normalize": bare LF ends a line but never
 * the data), made stricter in one way: we close where Postfix answers
 * after the data, because once two parties disagree on where a line ends
 * there is no safe place to resynchronise (sendmail's "g" option and
 * chasquid do the same).  A bare CR is no line end at all: in DATA it is
 * message text, kept as sent (Postfix before 3.9 forwards it as is, 3.9
 * as a space, so refusing it would bounce mail an MTA in front took); in a
 * command it is a control byte (500 5.5.2).  So "\r.\r", "\r\n.\r" and
 * "\r.\r\n" are text inside the message.  The sink sits behind an MTA,
 * whose LMTP/SMTP client always sends CRLF, and mail libraries (Python's
 * smtplib, swaks) do too: the strict rule costs such senders nothing, and
 * a client that sends bare LF learns why at once instead of hanging at
 * an end of data we would never see.
 *
 * Choices: DATA lines have no length limit (only the total counts).
 * Command lines must be printable ASCII (no controls, no NUL); 8-bit
 * bytes are only allowed inside MAIL/RCPT paths.  SMTPUTF8 (RFC 6531) is
 * offered after LHLO/EHLO (not HELO): UTF-8 is read as atext and as
 * sub-domain letters (quoted strings too) in the MAIL path and in the
 * RCPT paths of a transaction whose MAIL carried the SMTPUTF8 parameter,
 * and must be valid UTF-8 there (else 501 5.1.7/5.1.3: overlong forms,
 * surrogates, stray or truncated bytes); a non-ASCII path in a
 * transaction without it gets 553 5.6.7.  Addresses are handed on as
 * sent: their normal form (NFC, lower case, U-labels) is
 * util_normalize_address()'s, decided where the identifier is made.
 * XXX: a label holding UTF-8 may have 4 x 63 bytes (its A-label's 63 is
 * not computed here); PROTO_ADDR_MAX still bounds the whole address.
 * "RCPT TO:<postmaster>" is accepted syntactically (RFC 5321
 * 4.5.1 says it MUST be) and handed to rcpt_check as "postmaster", which
 * decides like for any other address.  Quoted local parts are kept as
 * sent, quotes included.  Protocol errors (500-503, 553, 555) count
 * towards PROTO_ERRORS_MAX; policy refusals (rcpt_check, 452, 552, 554)
 * do not, and the count never resets within a session.
 */
#include "autoconfig.h"

#include <string.h>

#include "proto.h"

#define PROTO_ADDR_MAX 320        /* mailbox: local@domain */
#define PROTO_HOST_MAX 255        /* our hostname, the HELO argument */
#define PROTO_REPLY_MAX 510       /* a reply line without its CRLF */
#define PROTO_NOT_UTF8 "553 5.6.7 Non-ASCII address needs SMTPUTF8 on MAIL FROM"

enum proto_state {
	PROTO_ST_CMD,                /* reading command lines */
	PROTO_ST_DATA,               /* reading message data */
	PROTO_ST_EVENT,              /* DATA event raised, waiting for data_done */
	PROTO_ST_CLOSED,             /* 221/421 sent; nothing more is consumed */
};

/* Where a data line stands; the pending bytes (a leading dot, a CR) are
 * not stored until the next byte decides what they are. */
enum proto_dline {
	PROTO_DL_BOL,                /* at the start of a line */
	PROTO_DL_DOT,                /* "." at the start of a line */
	PROTO_DL_DOTCR,              /* ".\r" at the start of a line */
	PROTO_DL_MID,                /* inside a line */
	PROTO_DL_CR,                 /* inside a line, after a CR */
};

enum proto_path {
	PROTO_PATH_OK,
	PROTO_PATH_SYNTAX,
	PROTO_PATH_8BIT,
	PROTO_PATH_BADUTF8,
	PROTO_PATH_LONG,
};

struct proto {
	enum proto_dialect dialect;
	char *host;
	guint64 max_size;
	guint max_recipients;
	proto_rcpt_fn rcpt_check;
	gpointer rcpt_data;

	enum proto_state state;
	GString *line;               /* the partial command line, no LF */
	gboolean discarding;         /* line too long: dropping up to LF */
	gboolean discard_cr;         /* the last byte dropped was a CR */
	const char *why;             /* why proto closed the session, or NULL */
	guint errors;

	char *helo;                  /* NULL until LHLO/EHLO/HELO */
	gboolean ext;                /* LHLO/EHLO: the extensions were offered */
	gboolean smtputf8;           /* this transaction's MAIL said SMTPUTF8 */
	char *mail_from;             /* NULL: no MAIL yet */
	GPtrArray *rcpts;            /* char *, NULL-terminated */

	enum proto_dline dline;
	char *data;                  /* data_len bytes, NUL after them */
	gsize data_len;
	gsize data_cap;              /* never above max_size */
	gboolean too_big;

	gboolean in_event;           /* DATA event raised, data_done not yet */
	struct proto_txn txn;
};

/* Copies at most max bytes of s, cut at the first CR or LF. */
static char *
proto_strdup_line(const char *s, gsize max)
{
	gsize n = 0;

	while (s[n] != '\0' && s[n] != '\r' && s[n] != '\n' && n < max)
		n++;
	return g_strndup(s, n);
}

struct proto *
proto_new(enum proto_dialect dialect, const char *hostname,
    const struct proto_limits *lim, proto_rcpt_fn rcpt_check, gpointer data)
{
	struct proto *p;

	g_return_val_if_fail(hostname != NULL && lim != NULL, NULL);
	g_return_val_if_fail(lim->max_size > 0 && lim->max_recipients > 0, NULL);
	p = g_new0(struct proto, 1);
	p->dialect = dialect;
	p->host = proto_strdup_line(hostname, PROTO_HOST_MAX);
	p->max_size = lim->max_size;
	p->max_recipients = lim->max_recipients;
	p->rcpt_check = rcpt_check;
	p->rcpt_data = data;
	p->state = PROTO_ST_CMD;
	p->line = g_string_sized_new(128);
	p->rcpts = g_ptr_array_new_with_free_func(g_free);
	g_ptr_array_add(p->rcpts, NULL);
	return p;
}

/* Forgets the transaction: sender, recipients and data. */
static void
proto_txn_reset(struct proto *p)
{
	g_clear_pointer(&p->mail_from, g_free);
	p->smtputf8 = FALSE;
	g_ptr_array_set_size(p->rcpts, 0);
	g_ptr_array_add(p->rcpts, NULL);
	g_clear_pointer(&p->data, g_free);
	p->data_len = 0;
	p->data_cap = 0;
	p->too_big = FALSE;
	p->dline = PROTO_DL_BOL;
	memset(&p->txn, 0, sizeof(p->txn));
}

void
proto_free(struct proto **p)
{
	if (*p == NULL)
		return;
	proto_txn_reset(*p);
	g_ptr_array_free((*p)->rcpts, TRUE);
	g_string_free((*p)->line, TRUE);
	g_free((*p)->helo);
	g_free((*p)->host);
	g_free(*p);
	*p = NULL;
}

/* Appends one reply line of our own and its CRLF. */
static void
proto_reply(GString *out, const char *line)
{
	g_string_append(out, line);
	g_string_append(out, "\r\n");
}

/*
 * Appends a reply line from the session layer: cut at CR/LF and to
 * PROTO_REPLY_MAX; anything that is not "NNN" or "NNN text" with a first
 * digit from codes becomes fallback, so one call writes one final reply.
 */
static void
proto_reply_foreign(GString *out, const char *line, const char *codes,
    const char *fallback)
{
	gsize n = 0;

	if (line == NULL || line[0] == '\0' || strchr(codes, line[0]) == NULL ||
	    !g_ascii_isdigit(line[1]) || !g_ascii_isdigit(line[2]) ||
	    (line[3] != ' ' && line[3] != '\0')) {
		proto_reply(out, fallback);
		return;
	}
	while (line[n] != '\0' && line[n] != '\r' && line[n] != '\n' &&
	    n < PROTO_REPLY_MAX)
		n++;
	g_string_append_len(out, line, (gssize)n);
	g_string_append(out, "\r\n");
}

void
proto_greeting(struct proto *p, GString *out)
{
	g_string_append_printf(out, "220 %s %s otpbridge ready\r\n", p->host,
	    p->dialect == PROTO_LMTP ? "LMTP" : "ESMTP");
}

/* Appends the 421 line and stops the session. */
static void
proto_close_with(struct proto *p, const char *enhanced, const char *text, GString *out)
{
	g_autofree char *e = proto_strdup_line(enhanced != NULL ? enhanced : "4.3.2", 16);
	g_autofree char *t = proto_strdup_line(text != NULL ? text : "Closing", 200);

	g_string_append_printf(out, "421 %s %s %s\r\n", e, p->host, t);
	p->state = PROTO_ST_CLOSED;
}

void
proto_close(struct proto *p, const char *enhanced, const char *text, GString *out)
{
	if (p->state == PROTO_ST_CLOSED)
		return;
	proto_close_with(p, enhanced, text, out);
}

/* Replies with a protocol error and counts it; closes at the limit. */
static void
proto_error(struct proto *p, GString *out, const char *line)
{
	proto_reply(out, line);
	if (++p->errors >= PROTO_ERRORS_MAX) {
		proto_close_with(p, "4.7.0", "Too many errors", out);
		p->why = "too-many-errors";
	}
}

/* A bare LF: 421 and close, dropping the transaction in progress. */
static void
proto_bare_lf(struct proto *p, GString *out)
{
	proto_txn_reset(p);
	proto_close_with(p, "4.5.2", "Bare LF received: lines must end in CRLF", out);
	p->why = "bare-lf";
}

const char *
proto_close_reason(const struct proto *p)
{
	return p->state == PROTO_ST_CLOSED ? p->why : NULL;
}

/* ---- addresses ------------------------------------------------------- */

/* RFC 5321 atext. */
static gboolean
proto_is_atext(unsigned char c)
{
	return g_ascii_isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* A letter of a sub-domain: ASCII alphanumeric, or any 8-bit byte when
 * UTF-8 is allowed (its validity is checked on the whole path). */
static gboolean
proto_is_let_dig(unsigned char c, gboolean utf8)
{
	return g_ascii_isalnum(c) || (utf8 && c >= 0x80);
}

/* Parses a domain or address literal at s[*i]; FALSE on a syntax error
 * (*i then stops at the offending byte).  utf8: U-labels are allowed. */
static gboolean
proto_parse_domain(const char *s, gsize len, gboolean utf8, gsize *i)
{
	gsize j = *i;

	if (j < len && s[j] == '[') {
		gsize start = ++j;

		while (j < len && (unsigned char)s[j] >= 33 && (unsigned char)s[j] <= 126 &&
		    s[j] != '[' && s[j] != ']' && s[j] != '\\')
			j++;
		*i = j;
		if (j == start || j >= len || s[j] != ']')
			return FALSE;
		*i = j + 1;
		return TRUE;
	}
	for (;;) {
		gsize start = j;
		gboolean wide = FALSE;

		if (j >= len || !proto_is_let_dig((unsigned char)s[j], utf8)) {
			*i = j;
			return FALSE;
		}
		while (j < len && (proto_is_let_dig((unsigned char)s[j], utf8) ||
		    s[j] == '-' || s[j] == '_')) {
			if ((unsigned char)s[j] >= 0x80)
				wide = TRUE;
			j++;
		}
		if (s[j - 1] == '-' || j - start > (wide ? 4 * 63 : 63)) {
			*i = j;
			return FALSE;
		}
		if (j < len && s[j] == '.') {
			j++;
			continue;
		}
		*i = j;
		return TRUE;
	}
}

/* Parses a local part (dot-string or quoted string) at s[*i]; utf8:
 * 8-bit bytes are atext and qtext (RFC 6531 3.3). */
static gboolean
proto_parse_local(const char *s, gsize len, gboolean utf8, gsize *i)
{
	gsize j = *i;

	if (j < len && s[j] == '"') {
		for (j++; j < len; j++) {
			unsigned char c = (unsigned char)s[j];

			if (c == '"') {
				*i = j + 1;
				return TRUE;
			}
			if (c == '\\') {
				if (j + 1 >= len || (unsigned char)s[j + 1] < 32 ||
				    (unsigned char)s[j + 1] > 126) {
					*i = j + 1;
					return FALSE;
				}
				j++;
			} else if (c < 32 || c == 127 || (c > 127 && !utf8)) {
				break;
			}
		}
		*i = j;
		return FALSE;
	}
	for (;;) {
		if (j >= len || !(proto_is_atext((unsigned char)s[j]) ||
		    (utf8 && (unsigned char)s[j] >= 0x80))) {
			*i = j;
			return FALSE;
		}
		while (j < len && (proto_is_atext((unsigned char)s[j]) ||
		    (utf8 && (unsigned char)s[j] >= 0x80)))
			j++;
		if (j < len && s[j] == '.') {
			j++;
			continue;
		}
		*i = j;
		return TRUE;
	}
}

/*
 * Parses "<path>" at the start of s[0, len): "<>" (when allow_null), an
 * optional source route "@a,@b:" that is dropped, then local@domain or,
 * when allow_postmaster, a bare "postmaster".  On success *addr is the
 * mailbox ("" for <>) and *end the index after '>'.  Without utf8, an
 * 8-bit byte where the parse failed gives PROTO_PATH_8BIT; with it, 8-bit
 * bytes are letters and a mailbox that is not valid UTF-8 gives
 * PROTO_PATH_BADUTF8.
 */
static enum proto_path
proto_parse_path(const char *s, gsize len, gboolean allow_null,
    gboolean allow_postmaster, gboolean utf8, char **addr, gsize *end)
{
	gsize i = 1, start;
	gboolean ok;

	*addr = NULL;
	if (len == 0 || s[0] != '<')
		return PROTO_PATH_SYNTAX;
	if (i < len && s[i] == '>') {
		if (!allow_null)
			return PROTO_PATH_SYNTAX;
		*addr = g_strdup("");
		*end = 2;
		return PROTO_PATH_OK;
	}
	if (i < len && s[i] == '@') {
		for (;;) {
			i++;  /* the '@' */
			if (!proto_parse_domain(s, len, utf8, &i))
				goto fail;
			if (i < len && s[i] == ',' && i + 1 < len && s[i + 1] == '@') {
				i++;
				continue;
			}
			if (i < len && s[i] == ':')
				break;
			goto fail;
		}
		i++;
	}
	start = i;
	ok = proto_parse_local(s, len, utf8, &i);
	if (!ok)
		goto fail;
	if (i < len && s[i] == '@') {
		i++;
		if (!proto_parse_domain(s, len, utf8, &i))
			goto fail;
	} else if (!(allow_postmaster && i - start == 10 &&
	    g_ascii_strncasecmp(s + start, "postmaster", 10) == 0)) {
		goto fail;
	}
	if (i >= len || s[i] != '>')
		goto fail;
	if (i - start > PROTO_ADDR_MAX)
		return PROTO_PATH_LONG;
	if (utf8 && !g_utf8_validate(s + start, (gssize)(i - start), NULL))
		return PROTO_PATH_BADUTF8;
	*addr = g_strndup(s + start, i - start);
	*end = i + 1;
	return PROTO_PATH_OK;
fail:
	if (utf8)
		return PROTO_PATH_SYNTAX;
	/* XXX: an 8-bit byte anywhere in the path means "needs SMTPUTF8",
	 * even when the parse failed on an earlier byte. */
	for (gsize k = 1; k < len && s[k] != '>' && s[k] != ' '; k++)
		if ((unsigned char)s[k] >= 0x80)
			return PROTO_PATH_8BIT;
	if (i < len && (unsigned char)s[i] >= 0x80)
		return PROTO_PATH_8BIT;
	return PROTO_PATH_SYNTAX;
}

/* ---- commands -------------------------------------------------------- */

/* TRUE when s holds no 8-bit byte. */
static gboolean
proto_is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return FALSE;
	return TRUE;
}

/* TRUE when the argument starts with the keyword (case-insensitive, e.g.
 * "FROM:"); *rest is then after it and any spaces. */
static gboolean
proto_arg_prefix(const char *arg, const char *kw, const char **rest)
{
	gsize n = strlen(kw);

	if (g_ascii_strncasecmp(arg, kw, n) != 0)
		return FALSE;
	arg += n;
	while (*arg == ' ')
		arg++;
	*rest = arg;
	return TRUE;
}

/* Replies to LHLO/EHLO/HELO; ext is FALSE for HELO. */
static void
proto_cmd_hello(struct proto *p, const char *arg, const char *verb, gboolean ext,
    GString *out)
{
	if (*arg == '\0' || strlen(arg) > PROTO_HOST_MAX) {
		g_autofree char *msg = g_strdup_printf("501 5.5.4 Syntax: %s hostname", verb);

		proto_error(p, out, msg);
		return;
	}
	proto_txn_reset(p);
	g_free(p->helo);
	p->helo = g_strdup(arg);
	p->ext = ext;
	if (!ext) {
		g_string_append_printf(out, "250 %s\r\n", p->host);
		return;
	}
	g_string_append_printf(out, "250-%s\r\n", p->host);
	proto_reply(out, "250-PIPELINING");
	proto_reply(out, "250-ENHANCEDSTATUSCODES");
	proto_reply(out, "250-8BITMIME");
	proto_reply(out, "250-SMTPUTF8");
	g_string_append_printf(out, "250 SIZE %" G_GUINT64_FORMAT "\r\n", p->max_size);
}

/* Checks the ESMTP parameters of MAIL; returns NULL or the error reply.
 * *smtputf8: the SMTPUTF8 parameter was given (RFC 6531 3.4). */
static const char *
proto_mail_params(struct proto *p, const char *s, gboolean *smtputf8)
{
	gboolean seen_size = FALSE, seen_body = FALSE, over = FALSE;

	*smtputf8 = FALSE;
	while (*s != '\0') {
		const char *kw = s, *eq = NULL, *val;
		gsize kwlen, vlen;

		while (*s != '\0' && *s != ' ') {
			if (*s == '=' && eq == NULL)
				eq = s;
			s++;
		}
		kwlen = (gsize)((eq != NULL ? eq : s) - kw);
		val = eq != NULL ? eq + 1 : s;
		vlen = (gsize)(s - val);
		while (*s == ' ')
			s++;
		/* esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		if (kwlen == 0 || !g_ascii_isalnum(kw[0]))
			return "501 5.5.4 Bad parameter syntax";
		for (gsize k = 1; k < kwlen; k++)
			if (!g_ascii_isalnum(kw[k]) && kw[k] != '-')
				return "501 5.5.4 Bad parameter syntax";
		for (gsize k = 0; k < vlen; k++)
			if ((unsigned char)val[k] < 33 || (unsigned char)val[k] > 126 ||
			    val[k] == '=')
				return "501 5.5.4 Bad parameter syntax";
		if (kwlen == 4 && g_ascii_strncasecmp(kw, "SIZE", 4) == 0) {
			guint64 n = 0;

			if (seen_size || eq == NULL || vlen == 0)
				return "501 5.5.4 Bad SIZE parameter";
			seen_size = TRUE;
			for (gsize k = 0; k < vlen; k++) {
				if (!g_ascii_isdigit(val[k]))
					return "501 5.5.4 Bad SIZE parameter";
				if (n > (G_MAXUINT64 - 9) / 10)
					over = TRUE;  /* beyond any limit */
				else
					n = n * 10 + (guint64)(val[k] - '0');
			}
			if (n > p->max_size)
				over = TRUE;
		} else if (kwlen == 4 && g_ascii_strncasecmp(kw, "BODY", 4) == 0) {
			if (seen_body || eq == NULL)
				return "501 5.5.4 Bad BODY parameter";
			seen_body = TRUE;
			if (!(vlen == 4 && g_ascii_strncasecmp(val, "7BIT", 4) == 0) &&
			    !(vlen == 8 && g_ascii_strncasecmp(val, "8BITMIME", 8) == 0))
				return "555 5.5.4 Unsupported BODY type";
		} else if (kwlen == 8 && g_ascii_strncasecmp(kw, "SMTPUTF8", 8) == 0 &&
		    p->ext) {
			if (*smtputf8 || eq != NULL)
				return "501 5.5.4 Bad SMTPUTF8 parameter";
			*smtputf8 = TRUE;
		} else {
			return "555 5.5.4 Unsupported parameter";
		}
	}
	if (over)
		return "552 5.3.4 Message size exceeds fixed limit";
	return NULL;
}

/*
 * Parses the <path> of MAIL (sender) or RCPT (recipient) at *rest, then
 * expects a blank or the end; utf8: UTF-8 is allowed in it.  On success
 * returns the address and moves *rest past the blanks after it; else
 * answers out and returns NULL.
 */
static char *
proto_take_path(struct proto *p, const char **rest, gboolean sender,
    gboolean utf8, GString *out)
{
	const char *bad = sender ? "501 5.1.7 Bad sender address syntax" :
	    "501 5.1.3 Bad recipient address syntax";
	char *addr = NULL;
	gsize end = 0;

	switch (proto_parse_path(*rest, strlen(*rest), sender, !sender, utf8,
	    &addr, &end)) {
	case PROTO_PATH_OK:
		break;
	case PROTO_PATH_8BIT:
		proto_error(p, out, PROTO_NOT_UTF8);
		return NULL;
	case PROTO_PATH_BADUTF8:
		proto_error(p, out, sender ? "501 5.1.7 Sender address is not valid UTF-8" :
		    "501 5.1.3 Recipient address is not valid UTF-8");
		return NULL;
	case PROTO_PATH_LONG:
		proto_error(p, out, sender ? "501 5.1.7 Sender address too long" :
		    "501 5.1.3 Recipient address too long");
		return NULL;
	case PROTO_PATH_SYNTAX:
	default:
		proto_error(p, out, bad);
		return NULL;
	}
	*rest += end;
	if (**rest != '\0' && **rest != ' ') {
		g_free(addr);
		proto_error(p, out, bad);
		return NULL;
	}
	while (**rest == ' ')
		(*rest)++;
	return addr;
}

/* MAIL FROM:<path> [params]. */
static void
proto_cmd_mail(struct proto *p, const char *arg, GString *out)
{
	const char *rest, *err;
	char *addr = NULL;
	gboolean smtputf8 = FALSE;

	if (p->helo == NULL) {
		proto_error(p, out, p->dialect == PROTO_LMTP ?
		    "503 5.5.1 Send LHLO first" : "503 5.5.1 Send EHLO first");
		return;
	}
	if (p->mail_from != NULL) {
		proto_error(p, out, "503 5.5.1 Sender already given");
		return;
	}
	if (!proto_arg_prefix(arg, "FROM:", &rest) || *rest == '\0') {
		proto_error(p, out, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	/* UTF-8 is read here when offered; the parameter decides below */
	if ((addr = proto_take_path(p, &rest, TRUE, p->ext, out)) == NULL)
		return;
	err = proto_mail_params(p, rest, &smtputf8);
	if (err == NULL && !smtputf8 && !proto_is_ascii(addr)) {
		g_free(addr);
		proto_error(p, out, PROTO_NOT_UTF8);
		return;
	}
	if (err != NULL) {
		g_free(addr);
		if (err[0] == '5' && err[1] == '5' && err[2] == '2')
			proto_reply(out, err);  /* policy, not a protocol error */
		else
			proto_error(p, out, err);
		return;
	}
	p->mail_from = addr;
	p->smtputf8 = smtputf8;
	proto_reply(out, "250 2.1.0 Ok");
}

/* RCPT TO:<path>; no parameters are offered. */
static void
proto_cmd_rcpt(struct proto *p, const char *arg, GString *out)
{
	const char *rest, *refusal;
	char *addr = NULL;

	if (p->mail_from == NULL) {
		proto_error(p, out, "503 5.5.1 Need MAIL command");
		return;
	}
	if (!proto_arg_prefix(arg, "TO:", &rest) || *rest == '\0') {
		proto_error(p, out, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if ((addr = proto_take_path(p, &rest, FALSE, p->smtputf8, out)) == NULL)
		return;
	if (*rest != '\0') {
		g_free(addr);
		proto_error(p, out, "555 5.5.4 Unsupported parameter");
		return;
	}
	if (p->rcpts->len - 1 >= p->max_recipients) {
		g_free(addr);
		proto_reply(out, "452 4.5.3 Too many recipients");
		return;
	}
	refusal = p->rcpt_check != NULL ? p->rcpt_check(addr, p->rcpt_data) : NULL;
	if (refusal != NULL) {
		g_free(addr);
		/* a refusal must refuse: 4xx or 5xx */
		proto_reply_foreign(out, refusal, "45", "550 5.1.1 Recipient address rejected");
		return;
	}
	/* keep the array NULL-terminated: replace the NULL, add a new one */
	g_ptr_array_index(p->rcpts, p->rcpts->len - 1) = addr;
	g_ptr_array_add(p->rcpts, NULL);
	proto_reply(out, "250 2.1.5 Ok");
}

/* DATA: 354 and switch to data, or say why not. */
static void
proto_cmd_data(struct proto *p, GString *out)
{
	if (p->mail_from == NULL) {
		proto_error(p, out, "503 5.5.1 Need MAIL command");
		return;
	}
	if (p->rcpts->len <= 1) {
		proto_reply(out, "554 5.5.1 No valid recipients");
		return;
	}
	p->state = PROTO_ST_DATA;
	p->dline = PROTO_DL_BOL;
	proto_reply(out, "354 End data with <CR><LF>.<CR><LF>");
}

/* Handles one complete command line (line end removed). */
static void
proto_command(struct proto *p, char *line, gsize len, GString *out)
{
	char *arg;
	gsize vlen = 0;
	gboolean eight = FALSE;
	char verb[9];                /* upper-cased; "" when longer */

	if (len == 0) {
		proto_error(p, out, "500 5.5.2 Empty command");
		return;
	}
	for (gsize i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 32 || c == 127) {
			proto_error(p, out, "500 5.5.2 Invalid character in command");
			return;
		}
		if (c >= 0x80)
			eight = TRUE;
	}
	/* no NUL inside from here on: the line is a C string */
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	arg = line + vlen;
	while (*arg == ' ')
		arg++;
	memset(verb, 0, sizeof(verb));
	if (vlen < sizeof(verb))
		for (gsize i = 0; i < vlen; i++)
			verb[i] = g_ascii_toupper(line[i]);

	if (eight && strcmp(verb, "MAIL") != 0 && strcmp(verb, "RCPT") != 0) {
		proto_error(p, out, "500 5.5.2 Invalid character in command");
		return;
	}
	/* trailing spaces are not arguments */
	{
		gsize alen = strlen(arg);

		while (alen > 0 && arg[alen - 1] == ' ')
			alen--;
		arg[alen] = '\0';
	}

	if (strcmp(verb, "LHLO") == 0) {
		if (p->dialect == PROTO_LMTP)
			proto_cmd_hello(p, arg, "LHLO", TRUE, out);
		else
			proto_error(p, out, "500 5.5.1 This is SMTP: use EHLO or HELO");
	} else if (strcmp(verb, "EHLO") == 0 || strcmp(verb, "HELO") == 0) {
		if (p->dialect == PROTO_SMTP)
			proto_cmd_hello(p, arg, verb, verb[0] == 'E', out);
		else
			proto_error(p, out, "500 5.5.1 This is LMTP: use LHLO");
	} else if (strcmp(verb, "MAIL") == 0) {
		proto_cmd_mail(p, arg, out);
	} else if (strcmp(verb, "RCPT") == 0) {
		proto_cmd_rcpt(p, arg, out);
	} else if (strcmp(verb, "NOOP") == 0) {
		proto_reply(out, "250 2.0.0 Ok");
	} else if (strcmp(verb, "VRFY") == 0) {
		if (*arg == '\0')
			proto_error(p, out, "501 5.5.4 Syntax: VRFY address");
		else
			proto_reply(out, "252 2.5.0 Cannot VRFY user, but will accept message");
	} else if (strcmp(verb, "HELP") == 0) {
		proto_reply(out, p->dialect == PROTO_LMTP ?
		    "214 2.0.0 Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP" :
		    "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
	} else if (strcmp(verb, "RSET") == 0 || strcmp(verb, "QUIT") == 0 ||
	    strcmp(verb, "DATA") == 0) {
		if (*arg != '\0') {
			proto_error(p, out, "501 5.5.4 Syntax error: no arguments allowed");
		} else if (verb[0] == 'R') {
			proto_txn_reset(p);
			proto_reply(out, "250 2.0.0 Ok");
		} else if (verb[0] == 'Q') {
			proto_reply(out, "221 2.0.0 Bye");
			p->state = PROTO_ST_CLOSED;
		} else {
			proto_cmd_data(p, out);
		}
	} else if (strcmp(verb, "STARTTLS") == 0 || strcmp(verb, "AUTH") == 0 ||
	    strcmp(verb, "BDAT") == 0 || strcmp(verb, "EXPN") == 0 ||
	    strcmp(verb, "ETRN") == 0 || strcmp(verb, "TURN") == 0) {
		proto_error(p, out, "502 5.5.1 Command not implemented");
	} else {
		proto_error(p, out, "500 5.5.1 Command unrecognized");
	}
}

/* ---- data ------------------------------------------------------------ */

/* Stores n message bytes, or drops them all once over max_size. */
static void
proto_data_put(struct proto *p, const char *s, gsize n)
{
	gsize need;

	if (p->too_big || n == 0)
		return;
	if ((guint64)n > p->max_size - (guint64)p->data_len) {
		p->too_big = TRUE;
		g_clear_pointer(&p->data, g_free);
		p->data_len = 0;
		p->data_cap = 0;
		return;
	}
	need = p->data_len + n;
	if (need > p->data_cap) {
		/* double, but never past max_size: the buffer is the bound */
		gsize cap = MAX(p->data_cap * 2, MAX(need, (gsize)4096));

		if ((guint64)cap > p->max_size)
			cap = (gsize)p->max_size;
		p->data = g_realloc(p->data, cap + 1);
		p->data_cap = cap;
	}
	memcpy(p->data + p->data_len, s, n);
	p->data_len = need;
	p->data[need] = '\0';
}

/*
 * Consumes message bytes of buf[0, len); returns how many.  Sets *done
 * when the final ".\r\n" line ended, *bare_lf at an LF with no CR right
 * before it; the count then stops right after that LF.  A line starts
 * only after CRLF (or the DATA command's), so DOT/DOTCR always follow one.
 */
static gsize
proto_data_feed(struct proto *p, const char *buf, gsize len, gboolean *done,
    gboolean *bare_lf)
{
	gsize i = 0;

	*done = FALSE;
	*bare_lf = FALSE;
	while (i < len) {
		char c = buf[i];

		switch (p->dline) {
		case PROTO_DL_MID: {
			gsize j = i;

			/* fast path: the rest of the line up to CR or LF */
			while (j < len && buf[j] != '\r' && buf[j] != '\n')
				j++;
			proto_data_put(p, buf + i, j - i);
			i = j;
			if (i < len) {
				if (buf[i] == '\n') {
					*bare_lf = TRUE;
					return i + 1;
				}
				p->dline = PROTO_DL_CR;
				i++;
			}
			continue;
		}
		case PROTO_DL_BOL:
			if (c == '.')
				p->dline = PROTO_DL_DOT;
			else if (c == '\r')
				p->dline = PROTO_DL_CR;
			else if (c == '\n') {
				*bare_lf = TRUE;
				return i + 1;
			} else {
				proto_data_put(p, &c, 1);
				p->dline = PROTO_DL_MID;
			}
			break;
		case PROTO_DL_DOT:
			if (c == '\n') {
				/* ".\n": no end of data, a bare LF */
				*bare_lf = TRUE;
				return i + 1;
			}
			if (c == '\r') {
				p->dline = PROTO_DL_DOTCR;
			} else {
				proto_data_put(p, &c, 1);  /* the dot is unstuffed */
				p->dline = PROTO_DL_MID;
			}
			break;
		case PROTO_DL_DOTCR:
			if (c == '\n') {
				*done = TRUE;
				return i + 1;
			}
			proto_data_put(p, "\r", 1);
			if (c == '\r') {
				p->dline = PROTO_DL_CR;
			} else {
				proto_data_put(p, &c, 1);
				p->dline = PROTO_DL_MID;
			}
			break;
		case PROTO_DL_CR:
		default:
			if (c == '\n') {
				proto_data_put(p, "\r\n", 2);
				p->dline = PROTO_DL_BOL;
			} else if (c == '\r') {
				proto_data_put(p, "\r", 1);
			} else {
				proto_data_put(p, "\r", 1);
				proto_data_put(p, &c, 1);
				p->dline = PROTO_DL_MID;
			}
			break;
		}
		i++;
	}
	return i;
}

/* Fills p->txn for the DATA event. */
static void
proto_txn_fill(struct proto *p)
{
	p->txn.helo = p->helo;
	p->txn.mail_from = p->mail_from;
	p->txn.rcpts = (char *const *)p->rcpts->pdata;
	p->txn.n_rcpts = p->rcpts->len - 1;
	p->txn.too_big = p->too_big;
	p->txn.data = p->too_big ? NULL : (p->data != NULL ? p->data : "");
	p->txn.len = p->too_big ? 0 : p->data_len;
}

/* ---- the feed -------------------------------------------------------- */

gsize
proto_feed(struct proto *p, const char *buf, gsize len, GString *out,
    enum proto_event *ev)
{
	gsize i = 0;

	*ev = PROTO_EV_NONE;
	if (p->state == PROTO_ST_CLOSED) {
		*ev = PROTO_EV_CLOSE;
		return 0;
	}
	if (p->state == PROTO_ST_EVENT) {
		*ev = PROTO_EV_DATA;  /* still pending: data_done first */
		return 0;
	}
	while (i < len) {
		const char *nl;
		gsize n;

		if (p->state == PROTO_ST_DATA) {
			gboolean done, bare_lf;

			i += proto_data_feed(p, buf + i, len - i, &done, &bare_lf);
			if (bare_lf) {
				proto_bare_lf(p, out);
				*ev = PROTO_EV_CLOSE;
				return i;
			}
			if (done) {
				p->state = PROTO_ST_EVENT;
				p->in_event = TRUE;
				proto_txn_fill(p);
				*ev = PROTO_EV_DATA;
				return i;
			}
			continue;
		}
		nl = memchr(buf + i, '\n', len - i);
		n = nl != NULL ? (gsize)(nl - (buf + i)) : len - i;
		if (p->discarding) {
			if (n > 0)
				p->discard_cr = buf[i + n - 1] == '\r';
			i += n;
			if (nl == NULL)
				break;
			i++;
			p->discarding = FALSE;
			if (!p->discard_cr)
				proto_bare_lf(p, out);
			else
				proto_error(p, out, "500 5.5.2 Line too long");
		} else if (n > PROTO_LINE_MAX - 1 - p->line->len) {
			/* with its LF the line would pass PROTO_LINE_MAX */
			p->discard_cr = p->line->len > 0 &&
			    p->line->str[p->line->len - 1] == '\r';
			g_string_truncate(p->line, 0);
			p->discarding = TRUE;
			continue;
		} else {
			g_string_append_len(p->line, buf + i, (gssize)n);
			i += n;
			if (nl == NULL)
				break;
			i++;
			if (p->line->len == 0 || p->line->str[p->line->len - 1] != '\r') {
				g_string_truncate(p->line, 0);
				proto_bare_lf(p, out);
			} else {
				g_string_truncate(p->line, p->line->len - 1);
				proto_command(p, p->line->str, p->line->len, out);
				g_string_truncate(p->line, 0);
			}
		}
		if (p->state == PROTO_ST_CLOSED) {
			*ev = PROTO_EV_CLOSE;
			return i;
		}
	}
	return i;
}

const struct proto_txn *
proto_txn(const struct proto *p)
{
	g_return_val_if_fail(p->in_event, NULL);
	return &p->txn;
}

gboolean
proto_in_transaction(const struct proto *p)
{
	/* MAIL accepted, through DATA and its event; not once closed */
	return p->mail_from != NULL && p->state != PROTO_ST_CLOSED;
}

void
proto_data_done(struct proto *p, const char *const *replies, GString *out)
{
	guint n;

	g_return_if_fail(p->in_event);
	p->in_event = FALSE;
	if (p->state == PROTO_ST_CLOSED) {
		/* proto_close() came first: its 421 is the answer */
		proto_txn_reset(p);
		return;
	}
	n = p->dialect == PROTO_LMTP ? p->rcpts->len - 1 : 1;
	for (guint k = 0; k < n; k++) {
		if (p->too_big)
			proto_reply(out, "552 5.3.4 Message size exceeds fixed limit");
		else
			proto_reply_foreign(out, replies != NULL ? replies[k] : NULL,
			    "245", "451 4.3.0 Internal error");
	}
	proto_txn_reset(p);
	p->state = PROTO_ST_CMD;
}
