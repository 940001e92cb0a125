/*
 * mime.c - raw mail bytes to struct message (doc/core.md §1), with GMime.
 *
 * This is the only file that includes GMime.  It reads the envelope
 * headers (From, To, Cc, Delivered-To, X-Original-To, Subject, Date,
 * Message-ID, Authentication-Results, and where the topmost Received:
 * stands with its date), hashes the raw bytes, walks the
 * MIME tree for the body text (the first non-blank text/plain, else the
 * first text/html through html_to_text()) and converts every charset to
 * UTF-8.  The walk does not enter a message/rfc822 part: the first one
 * is read apart, the same way, into msg->forwarded (core.c reads it only
 * when the message's own body has no code); the parts of that inner
 * message are walked the same way, so its attachments and the messages
 * forwarded inside it are never read.
 *
 * Hostile input: the whole message.  Broken MIME never fails: missing
 * boundaries, bad base64/QP, unknown or lying charsets, bare LF, NUL
 * bytes and 8-bit text without MIME headers all give what can be read.
 * The message is parsed in place from the caller's buffer (GMime keeps
 * part contents as substreams of it), so a large attachment is scanned
 * but never copied or decoded.
 *
 * Limits: MIME_DEPTH_MAX levels and MIME_PARTS_MAX parts walked, the
 * forwarded message's included (GMime
 * itself stops nesting multiparts at 1024), MIME_DECODED_MAX decoded
 * bytes read from a text part, MIME_HTML_MAX bytes of converted text
 * (HTML before rendering), MIME_TEXT_MAX bytes of body text (cut on a
 * character boundary, text_truncated set), MIME_LIST_MAX entries in each
 * address or header list, MIME_HEADER_MAX bytes per kept header value
 * (the subject decoder reads at most twice that, in words of at most
 * MIME_WORD_MAX bytes), MIME_DATE_MAX bytes of a Received: date.  GMime's own RFC 2047 decoder is quadratic on
 * unterminated encoded words; mime_defuse_words() disarms those first
 * (copying the input only then), so no header costs quadratic time.
 * The subject is decoded here, not by GMime, which loses text after a
 * padded B word (jstedfast/gmime#133, in 3.2.13).
 */
#include "autoconfig.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

#include <gmime/gmime.h>

#include "html.h"
#include "mime.h"
#include "util.h"

#define MIME_DEPTH_MAX		32
#define MIME_PARTS_MAX		1000
#define MIME_HTML_MAX		(8 * MIME_TEXT_MAX)
#define MIME_DECODED_MAX	(8 * MIME_TEXT_MAX)
#define MIME_LIST_MAX		256
#define MIME_HEADER_MAX		(8 * 1024)
#define MIME_WORD_MAX		1024	/* encoded text of one RFC 2047 word */
#define MIME_DATE_MAX		256	/* the date of a Received: field */

#define MIME_REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD in UTF-8 */

/* State of the body search over the MIME tree. */
struct mime_walk {
	char *text;		/* the chosen text/plain, or NULL */
	gboolean truncated;	/* text was cut */
	GMimeObject *html;	/* the first text/html part, not owned */
	GMimeMessagePart *forwarded; /* the first message/rfc822, not owned */
	guint parts;		/* parts visited (shared with the forwarded walk) */
};

/* Windows-1252 0x80-0x9F; 0 marks the five undefined bytes. */
static const guint16 mime_cp1252[32] = {
	0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
	0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

void
mime_init(void)
{
	static gsize done = 0;

	if (g_once_init_enter(&done)) {
		g_mime_init();
		g_once_init_leave(&done, 1);
	}
}

/* Cuts a valid UTF-8 string to at most max bytes on a character boundary. */
static size_t
mime_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n;

	if (len <= max)
		return len;
	n = max;
	while (n > 0 && ((guchar)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* Appends len bytes of Windows-1252 as UTF-8, stopping past max bytes. */
static void
mime_append_cp1252(GString *out, const guchar *in, size_t len, size_t max)
{
	for (size_t i = 0; i < len && out->len < max; i++) {
		gunichar c = in[i];

		if (c >= 0x80 && c < 0xA0)
			c = mime_cp1252[c - 0x80];
		if (c == 0)
			g_string_append(out, MIME_REPLACEMENT);
		else
			g_string_append_unichar(out, c);
	}
}

/*
 * TRUE when the invalid UTF-8 in s still holds valid multi-byte sequences:
 * it is UTF-8 with some damage, not text in a single-byte charset.
 */
static gboolean
mime_mostly_utf8(const char *s, size_t len)
{
	const char *p = s, *end;

	while (len > 0) {
		gboolean ok = g_utf8_validate_len(p, len, &end);

		for (const char *q = p; q < end; q++)
			if ((guchar)*q >= 0x80)
				return TRUE;
		if (ok)
			break;
		len -= (size_t)(end - p) + 1;
		p = end + 1;
	}
	return FALSE;
}

/* Text that reads as s when valid UTF-8, else as Windows-1252. */
static char *
mime_header_utf8(const char *s)
{
	GString *out;
	size_t len = strlen(s);

	if (g_utf8_validate_len(s, len, NULL))
		return g_strdup(s);
	out = g_string_sized_new(len + 16);
	mime_append_cp1252(out, (const guchar *)s, len, G_MAXSIZE);
	return g_string_free(out, FALSE);
}

/* TRUE when cs is one of names (case-insensitive). */
static gboolean
mime_charset_is(const char *cs, const char *const *names)
{
	for (; *names != NULL; names++)
		if (g_ascii_strcasecmp(cs, *names) == 0)
			return TRUE;
	return FALSE;
}

/* TRUE for charsets that spell ASCII with other bytes than ASCII. */
static gboolean
mime_charset_wide(const char *cs)
{
	static const char *const prefixes[] = {
		"utf-16", "utf16", "utf-32", "utf32", "ucs-2", "ucs2",
		"ucs-4", "ucs4", NULL,
	};

	if (g_ascii_strcasecmp(cs, "unicode") == 0)
		return TRUE;
	for (const char *const *p = prefixes; *p != NULL; p++)
		if (g_ascii_strncasecmp(cs, *p, strlen(*p)) == 0)
			return TRUE;
	return FALSE;
}

/* Bytes per code unit of a charset: 4 for UTF-32, 2 for UTF-16, else 1. */
static size_t
mime_charset_unit(const char *cs)
{
	if (g_ascii_strncasecmp(cs, "utf-32", 6) == 0 ||
	    g_ascii_strncasecmp(cs, "utf32", 5) == 0 ||
	    g_ascii_strncasecmp(cs, "ucs-4", 5) == 0 ||
	    g_ascii_strncasecmp(cs, "ucs4", 4) == 0)
		return 4;
	return mime_charset_wide(cs) ? 2 : 1;
}

/* TRUE for the multi-byte (East Asian) charsets, where one bad byte is damage. */
static gboolean
mime_charset_multibyte(const char *cs)
{
	static const char *const prefixes[] = {
		"gb", "big5", "shift", "sjis", "x-sjis", "ms_kanji", "windows-31j",
		"cp932", "cp936", "cp949", "cp950", "euc", "x-euc", "iso-2022",
		"ks_c", "hz", "utf-7", "x-gbk", "csgb", "cseuc", "csshift",
		"csiso2022", "chinese", "korean", "johab", "uhc", NULL,
	};

	for (const char *const *p = prefixes; *p != NULL; p++)
		if (g_ascii_strncasecmp(cs, *p, strlen(*p)) == 0)
			return TRUE;
	return FALSE;
}

/* TRUE for 7-bit charsets whose escapes make ASCII bytes mean other text. */
static gboolean
mime_charset_stateful(const char *cs)
{
	return g_ascii_strncasecmp(cs, "iso-2022", 8) == 0 ||
	    g_ascii_strncasecmp(cs, "utf-7", 5) == 0 ||
	    g_ascii_strncasecmp(cs, "hz", 2) == 0;
}

/* The iconv name to use for a declared charset: the supersets mailers mean. */
static const char *
mime_charset_iconv(const char *cs)
{
	static const char *const gb[] = {
		"gb2312", "gbk", "x-gbk", "euc-cn", "x-euc-cn", "cp936",
		"csgb2312", "gb_2312-80", "chinese", NULL,
	};
	static const char *const sjis[] = {
		"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji",
		"csshiftjis", "windows-31j", "cp932", NULL,
	};
	static const char *const kr[] = {
		"euc-kr", "ks_c_5601-1987", "ks_c_5601", "cp949", NULL,
	};

	if (mime_charset_is(cs, gb))
		return "GB18030";
	if (mime_charset_is(cs, sjis))
		return "CP932";
	if (mime_charset_is(cs, kr))
		return "CP949";
	if (g_ascii_strcasecmp(cs, "iso-8859-8-i") == 0)
		return "ISO-8859-8";
	return cs;
}

/*
 * Converts len bytes in charset cs with iconv, appending to out; an invalid
 * sequence becomes U+FFFD (one code unit skipped, counted in *errors).
 * Stops past max bytes of output (*truncated).
 * Returns FALSE when iconv does not know the charset.
 */
static gboolean
mime_iconv(GString *out, const char *cs, const char *in, size_t len,
    size_t max, gboolean *truncated, size_t *errors)
{
	size_t unit = mime_charset_unit(cs);
	iconv_t cd = g_mime_iconv_open("UTF-8", cs);
	char buf[16384];
	char *ip = (char *)in;
	size_t ileft = len;

	if (cd == (iconv_t)-1)
		return FALSE;
	for (;;) {
		char *op = buf;
		size_t oleft = sizeof(buf);
		size_t r;
		int e;

		r = ileft > 0 ? iconv(cd, &ip, &ileft, &op, &oleft) :
		    iconv(cd, NULL, NULL, &op, &oleft);
		e = errno;
		g_string_append_len(out, buf, (gssize)(op - buf));
		if (out->len >= max) {
			*truncated = TRUE;
			break;
		}
		if (r != (size_t)-1) {
			if (ileft == 0 && op == buf)
				break;	/* flushed, nothing more */
			continue;
		}
		if (e == E2BIG)
			continue;
		/* EILSEQ, or EINVAL (a sequence cut at the end). */
		g_string_append(out, MIME_REPLACEMENT);
		(*errors)++;
		if (e != EILSEQ || ileft == 0)
			break;
		ip += MIN(unit, ileft);
		ileft -= MIN(unit, ileft);
	}
	g_mime_iconv_close(cd);
	return TRUE;
}

/*
 * Returns len bytes of text declared as charset cs (NULL: none) as UTF-8:
 * valid UTF-8 with 8-bit bytes is UTF-8 whatever was declared; damaged
 * UTF-8 keeps its good sequences (U+FFFD for the rest); an unknown charset,
 * or a single-byte one the bytes do not fit, falls back to Windows-1252;
 * a multi-byte charset gets U+FFFD for its bad sequences.  At most about
 * max bytes (*truncated when cut).  NULs are removed from in (non-wide charsets).
 * XXX: a short CJK text that happens to be valid UTF-8 is read as UTF-8.
 */
static GString *
mime_to_utf8(const char *cs, char *in, size_t len, size_t max,
    gboolean *truncated)
{
	static const char *const utf8[] = {
		"utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8", NULL,
	};
	static const char *const ascii[] = {
		"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us",
		"646", "", "x-unknown", "unknown", "unknown-8bit", "x-user-defined",
		"default", NULL,
	};
	static const char *const latin1[] = {
		"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "l1",
		"cp819", "windows-1252", "cp1252", "x-cp1252", NULL,
	};
	GString *out = g_string_sized_new(MIN(len, max) + 16);
	gboolean has8bit = FALSE, declared_utf8;
	size_t n = 0, errors = 0;

	if (cs != NULL && mime_charset_wide(cs)) {
		if (mime_iconv(out, cs, in, len, max, truncated, &errors))
			return out;
		cs = NULL;	/* unknown: read the bytes as below */
	}
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\0')
			continue;
		has8bit |= (guchar)in[i] >= 0x80;
		in[n++] = in[i];
	}
	len = n;

	if (!has8bit && (cs == NULL || !mime_charset_stateful(cs)))
		goto utf8;
	if (has8bit && g_utf8_validate_len(in, len, NULL))
		goto utf8;
	declared_utf8 = cs == NULL || mime_charset_is(cs, utf8) ||
	    mime_charset_is(cs, ascii);
	if (declared_utf8 && mime_mostly_utf8(in, len)) {
		char *valid = g_utf8_make_valid(in, (gssize)len);

		g_string_append(out, valid);
		g_free(valid);
		goto cut;
	}
	if (declared_utf8 || mime_charset_is(cs, latin1))
		goto cp1252;
	/* A single-byte charset that does not fit the bytes is a lie. */
	if (mime_iconv(out, mime_charset_iconv(cs), in, len, max, truncated, &errors) &&
	    (errors == 0 || mime_charset_multibyte(cs)))
		return out;
cp1252:
	g_string_truncate(out, 0);
	mime_append_cp1252(out, (const guchar *)in, len, max);
	if (out->len >= max)
		*truncated = TRUE;
	return out;
utf8:
	g_string_append_len(out, in, (gssize)len);
cut:
	if (out->len > max) {
		g_string_truncate(out, mime_utf8_cut(out->str, out->len, max));
		*truncated = TRUE;
	}
	return out;
}

/* Makes line endings \n and removes NUL characters, in place. */
static void
mime_normalize(GString *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->len; i++) {
		char c = s->str[i];

		if (c == '\0')
			continue;
		if (c == '\r') {
			if (i + 1 < s->len && s->str[i + 1] == '\n')
				continue;
			c = '\n';
		}
		s->str[n++] = c;
	}
	g_string_truncate(s, n);
}

/*
 * Reads a part's content with its transfer encoding undone, at most
 * MIME_DECODED_MAX bytes (*truncated when cut).  Bad base64/QP decodes as
 * far as GMime's decoder goes.  XXX: uuencode is read undecoded.
 */
static GByteArray *
mime_part_bytes(GMimePart *part, gboolean *truncated)
{
	GByteArray *out = g_byte_array_new();
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	GMimeContentEncoding enc;
	GMimeEncoding state;
	GMimeStream *src, *s;
	gboolean decode;
	char buf[65536];
	ssize_t n;

	if (content == NULL || (src = g_mime_data_wrapper_get_stream(content)) == NULL)
		return out;
	enc = g_mime_data_wrapper_get_encoding(content);
	decode = enc == GMIME_CONTENT_ENCODING_BASE64 ||
	    enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
	if (decode)
		g_mime_encoding_init_decode(&state, enc);
	/* Our own window on the content, so its position stays GMime's. */
	s = g_mime_stream_substream(src, src->bound_start, src->bound_end);
	while ((n = g_mime_stream_read(s, buf, sizeof(buf))) > 0) {
		guint old = out->len;

		if (decode) {
			g_byte_array_set_size(out, old + (guint)g_mime_encoding_outlen(&state, (size_t)n));
			g_byte_array_set_size(out, old + (guint)g_mime_encoding_step(&state,
			    buf, (size_t)n, (char *)out->data + old));
		} else
			g_byte_array_append(out, (const guint8 *)buf, (guint)n);
		if (out->len >= MIME_DECODED_MAX) {
			g_byte_array_set_size(out, MIME_DECODED_MAX);
			*truncated = TRUE;
			break;
		}
	}
	if (decode && !*truncated) {
		guint old = out->len;

		g_byte_array_set_size(out, old + (guint)g_mime_encoding_outlen(&state, 0) + 4);
		g_byte_array_set_size(out, old + (guint)g_mime_encoding_flush(&state,
		    "", 0, (char *)out->data + old));
	}
	g_object_unref(s);
	return out;
}

/* Text of a part as UTF-8 with \n line ends, at most max bytes. */
static char *
mime_part_text(GMimeObject *obj, const char *raw, size_t rawlen, size_t max,
    gboolean *truncated)
{
	const char *cs = g_mime_object_get_content_type_parameter(obj, "charset");
	GByteArray *bytes = NULL;
	GString *text;

	if (raw == NULL) {
		bytes = mime_part_bytes(GMIME_PART(obj), truncated);
		raw = (const char *)bytes->data;
		rawlen = bytes->len;
	} else {
		if (rawlen > MIME_DECODED_MAX) {
			rawlen = MIME_DECODED_MAX;
			*truncated = TRUE;
		}
		bytes = g_byte_array_sized_new((guint)rawlen);
		g_byte_array_append(bytes, (const guint8 *)raw, (guint)rawlen);
	}
	/* mime_to_utf8 strips NULs in place: hand it our own copy. */
	text = mime_to_utf8(cs, (char *)bytes->data, bytes->len, MIME_HTML_MAX, truncated);
	g_byte_array_unref(bytes);
	mime_normalize(text);
	if (text->len > max) {
		g_string_truncate(text, mime_utf8_cut(text->str, text->len, max));
		*truncated = TRUE;
	}
	return g_string_free(text, FALSE);
}

/* TRUE when s holds nothing but white space. */
static gboolean
mime_blank(const char *s)
{
	for (const char *p = s; *p != '\0'; p = g_utf8_next_char(p))
		if (!g_unichar_isspace(g_utf8_get_char(p)))
			return FALSE;
	return TRUE;
}

/* Takes text as the body when no text/plain was chosen and it is not blank. */
static void
mime_offer_text(struct mime_walk *w, char *text, gboolean truncated)
{
	if (w->text == NULL && !mime_blank(text)) {
		w->text = text;
		w->truncated = truncated;
	} else
		g_free(text);
}

/*
 * Depth-first search for the body (doc/core.md §1).  A message/rfc822 is
 * not entered, only noted; after a text/plain is chosen the walk goes on
 * only to find the first message/rfc822, reading no more text.
 */
static void
mime_walk(GMimeObject *obj, guint depth, struct mime_walk *w)
{
	GMimeContentType *ct;

	if (obj == NULL || (w->text != NULL && w->forwarded != NULL) ||
	    depth > MIME_DEPTH_MAX || ++w->parts > MIME_PARTS_MAX)
		return;
	if (GMIME_IS_MESSAGE_PART(obj)) {
		if (w->forwarded == NULL)
			w->forwarded = GMIME_MESSAGE_PART(obj);
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int count = g_mime_multipart_get_count(mp);
		const char *prologue = g_mime_multipart_get_prologue(mp);

		/*
		 * No part (no boundary parameter, or a boundary that never
		 * comes): GMime leaves the whole body in the prologue.
		 */
		if (count == 0 && prologue != NULL) {
			gboolean cut = FALSE;
			char *text;

			if (w->text != NULL)
				return;
			text = mime_part_text(obj, prologue, strlen(prologue),
			    MIME_TEXT_MAX, &cut);
			mime_offer_text(w, text, cut);
			return;
		}
		for (int i = 0; i < count && (w->text == NULL || w->forwarded == NULL); i++)
			mime_walk(g_mime_multipart_get_part(mp, i), depth + 1, w);
		return;
	}
	if (!GMIME_IS_PART(obj) || w->text != NULL)
		return;
	if (g_mime_part_is_attachment(GMIME_PART(obj)) ||
	    g_mime_part_get_filename(GMIME_PART(obj)) != NULL)
		return;
	ct = g_mime_object_get_content_type(obj);
	if (g_mime_content_type_is_type(ct, "text", "plain")) {
		gboolean cut = FALSE;
		char *text = mime_part_text(obj, NULL, 0, MIME_TEXT_MAX, &cut);

		mime_offer_text(w, text, cut);
	} else if (g_mime_content_type_is_type(ct, "text", "html") && w->html == NULL)
		w->html = obj;
}

/*
 * TRUE when obj or a part under it (message/rfc822 parts not entered) is
 * text/calendar or application/ics, inline or attached: an invitation.
 * Counts the parts it looks at in *parts, bounded like the body's walk.
 */
static gboolean
mime_has_calendar(GMimeObject *obj, guint depth, guint *parts)
{
	GMimeContentType *ct;

	if (obj == NULL || depth > MIME_DEPTH_MAX || ++*parts > MIME_PARTS_MAX ||
	    GMIME_IS_MESSAGE_PART(obj))
		return FALSE;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int count = g_mime_multipart_get_count(mp);

		for (int i = 0; i < count; i++) {
			if (mime_has_calendar(g_mime_multipart_get_part(mp, i), depth + 1, parts))
				return TRUE;
		}
		return FALSE;
	}
	ct = g_mime_object_get_content_type(obj);
	return ct != NULL && (g_mime_content_type_is_type(ct, "text", "calendar") ||
	    g_mime_content_type_is_type(ct, "application", "ics"));
}

/*
 * Fills msg->text (and msg->links) from the MIME tree of message; returns
 * the first message/rfc822 part found (not owned), or NULL.  *parts counts
 * the parts walked, across calls.
 */
static GMimeMessagePart *
mime_body(struct message *msg, GMimeMessage *message, guint *parts)
{
	struct mime_walk w = { NULL, FALSE, NULL, NULL, *parts };

	mime_walk(g_mime_message_get_mime_part(message), 0, &w);
	{
		guint seen = 0;

		msg->calendar = mime_has_calendar(g_mime_message_get_mime_part(message),
		    0, &seen);
	}
	*parts = w.parts;
	if (w.text == NULL && w.html != NULL) {
		gboolean cut = FALSE;
		char *html = mime_part_text(w.html, NULL, 0, MIME_HTML_MAX, &cut);
		char *text = html_to_text(html, strlen(html), MIME_TEXT_MAX + 4, msg->links);
		size_t len = strlen(text);

		g_free(html);
		if (len > MIME_TEXT_MAX) {
			text[mime_utf8_cut(text, len, MIME_TEXT_MAX)] = '\0';
			cut = TRUE;
		}
		w.text = text;
		w.truncated = cut;
	}
	if (w.text != NULL) {
		g_free(msg->text);
		msg->text = w.text;
		msg->text_truncated = w.truncated;
	}
	return w.forwarded;
}

static char *mime_decode_text(const char *raw);

/*
 * A lower-cased, valid UTF-8 copy of an address; NULL when empty.  An
 * address written as one RFC 2047 word (=?UTF-8?B?...?=, which RFC 2047
 * forbids in an addr-spec but mailers send for UTF-8 addresses) is
 * decoded when what it holds is a bare addr-spec.
 */
static char *
mime_addr(const char *addr)
{
	char *valid, *lower;

	if (addr == NULL || *addr == '\0')
		return NULL;
	if (g_str_has_prefix(addr, "=?") && g_str_has_suffix(addr, "?=") &&
	    strlen(addr) <= MIME_HEADER_MAX) {
		char *dec = mime_decode_text(addr);

		if (util_is_addr_spec(dec) && strchr(dec, '"') == NULL)
			valid = dec;
		else {
			g_free(dec);
			valid = g_utf8_make_valid(addr, -1);
		}
	} else {
		valid = g_utf8_make_valid(addr, -1);
	}
	lower = g_utf8_strdown(g_strstrip(valid), -1);
	g_free(valid);
	if (*lower == '\0' || strlen(lower) > MIME_HEADER_MAX) {
		g_free(lower);
		return NULL;
	}
	return lower;
}

/* Appends the mailboxes of list (groups flattened) to out, up to the limit. */
static void
mime_addr_list(InternetAddressList *list, GPtrArray *out, guint depth)
{
	int n;

	if (list == NULL || depth > 2)
		return;
	n = internet_address_list_length(list);
	for (int i = 0; i < n && out->len < MIME_LIST_MAX; i++) {
		InternetAddress *ia = internet_address_list_get_address(list, i);

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			mime_addr_list(internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)), out, depth + 1);
		} else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			char *a = mime_addr(internet_address_mailbox_get_addr(
			    INTERNET_ADDRESS_MAILBOX(ia)));

			if (a != NULL)
				g_ptr_array_add(out, a);
		}
	}
}

/* A header's raw value, unfolded (each fold is one space), trimmed, UTF-8. */
static char *
mime_unfold(const char *raw)
{
	char *s = mime_header_utf8(raw != NULL ? raw : "");
	size_t n = 0;

	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			while (s[i + 1] == '\r' || s[i + 1] == '\n' ||
			    s[i + 1] == ' ' || s[i + 1] == '\t')
				i++;
			s[n++] = ' ';
		} else
			s[n++] = s[i];
	}
	s[n] = '\0';
	g_strstrip(s);
	if (n > MIME_HEADER_MAX)
		s[mime_utf8_cut(s, strlen(s), MIME_HEADER_MAX)] = '\0';
	return s;
}

/* Decodes the text of one Q-encoded word (RFC 2047 §4.2), appending to out. */
static void
mime_q_decode(GByteArray *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		guint8 c = (guint8)s[i];

		if (c == '_')
			c = ' ';
		else if (c == '=' && i + 2 < len && g_ascii_isxdigit(s[i + 1]) &&
		    g_ascii_isxdigit(s[i + 2])) {
			c = (guint8)(g_ascii_xdigit_value(s[i + 1]) * 16 +
			    g_ascii_xdigit_value(s[i + 2]));
			i += 2;
		}
		g_byte_array_append(out, &c, 1);
	}
}

/* Decodes the text of one B-encoded word, appending to out. */
static void
mime_b_decode(GByteArray *out, const char *s, size_t len)
{
	guint old = out->len;
	gint state = 0;
	guint save = 0;

	g_byte_array_set_size(out, old + (guint)(len / 4 * 3 + 3));
	g_byte_array_set_size(out, old + (guint)g_base64_decode_step(s, len,
	    out->data + old, &state, &save));
}

/*
 * Parses an encoded word "=?charset?B|Q?text?=" at s; returns its length
 * (0 when s holds none) with the charset (RFC 2231 language dropped) and
 * the decoded bytes appended to *bytes.
 */
static size_t
mime_encoded_word(const char *s, char *charset, size_t csize, GByteArray *bytes)
{
	const char *cs, *enc, *text, *end;
	size_t cslen;

	if (s[0] != '=' || s[1] != '?')
		return 0;
	cs = s + 2;
	for (enc = cs; *enc != '?' && *enc != '\0' && !g_ascii_isspace(*enc); enc++)
		;
	if (*enc != '?' || enc == cs || strchr("BbQq", enc[1]) == NULL ||
	    enc[1] == '\0' || enc[2] != '?')
		return 0;
	text = enc + 3;
	for (end = text; *end != '\0' && !g_ascii_isspace(*end) &&
	    end - text < MIME_WORD_MAX; end++)
		if (end[0] == '?' && end[1] == '=')
			break;
	if (end[0] != '?' || end[1] != '=')
		return 0;
	cslen = (size_t)(enc - cs);
	if (memchr(cs, '*', cslen) != NULL)
		cslen = (size_t)((const char *)memchr(cs, '*', cslen) - cs);
	if (cslen >= csize)
		return 0;
	memcpy(charset, cs, cslen);
	charset[cslen] = '\0';
	if (enc[1] == 'B' || enc[1] == 'b')
		mime_b_decode(bytes, text, (size_t)(end - text));
	else
		mime_q_decode(bytes, text, (size_t)(end - text));
	return (size_t)(end + 2 - s);
}

/* Appends a run of decoded encoded words (one charset) as UTF-8. */
static void
mime_flush_words(GString *out, const char *charset, GByteArray *bytes)
{
	gboolean cut = FALSE;
	GString *u;

	if (bytes->len == 0)
		return;
	u = mime_to_utf8(charset, (char *)bytes->data, bytes->len, MIME_HEADER_MAX, &cut);
	mime_normalize(u);
	g_string_append_len(out, u->str, (gssize)u->len);
	g_string_free(u, TRUE);
	g_byte_array_set_size(bytes, 0);
}

/* Appends len bytes of unencoded header text as UTF-8 (else Windows-1252). */
static void
mime_append_plain(GString *out, const char *s, size_t len)
{
	char *t = g_strndup(s, MIN(len, (size_t)MIME_HEADER_MAX));
	char *u = mime_header_utf8(t);

	g_string_append(out, u);
	g_free(u);
	g_free(t);
}

/* TRUE when the n bytes at s are all white space (or none). */
static gboolean
mime_blank_span(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isspace(s[i]))
			return FALSE;
	return TRUE;
}

/*
 * Decodes an unstructured header (RFC 2047) from its raw value: encoded
 * words in any charset, white space between two of them dropped, adjacent
 * words in one charset joined before conversion (a character may be split
 * between them), raw 8-bit text as UTF-8 when valid, else Windows-1252.
 * Encoded words are also found inside text, as GMime's loose mode does.
 * XXX: our own decoder because GMime 3.2.13 loses the text of a B word
 * that follows a padded one (jstedfast/gmime#133).
 */
static char *
mime_decode_text(const char *raw)
{
	GString *out = g_string_new(NULL);
	GByteArray *pending = g_byte_array_new();	/* words not yet converted */
	GByteArray *word = g_byte_array_new();
	char charset[64] = "", wcs[64];
	char *head = g_strndup(raw, 2 * MIME_HEADER_MAX);
	const char *p = head, *plain = head;	/* plain: text not yet output */
	gboolean after_word = FALSE;

	while (*p != '\0' && out->len < MIME_HEADER_MAX) {
		size_t n = 0;

		if (p[0] == '=' && p[1] == '?') {
			g_byte_array_set_size(word, 0);
			n = mime_encoded_word(p, wcs, sizeof(wcs), word);
		}
		if (n == 0) {
			p++;
			continue;
		}
		if (!after_word || !mime_blank_span(plain, (size_t)(p - plain))) {
			mime_flush_words(out, charset, pending);
			mime_append_plain(out, plain, (size_t)(p - plain));
		} else if (g_ascii_strcasecmp(charset, wcs) != 0)
			mime_flush_words(out, charset, pending);
		g_strlcpy(charset, wcs, sizeof(charset));
		g_byte_array_append(pending, word->data, word->len);
		after_word = TRUE;
		p += n;
		plain = p;
	}
	mime_flush_words(out, charset, pending);
	mime_append_plain(out, plain, strlen(plain));
	g_byte_array_unref(pending);
	g_byte_array_unref(word);
	g_free(head);
	return g_string_free(out, FALSE);
}

/* Collapses white space runs to one space and trims, in place. */
static void
mime_collapse(char *s)
{
	size_t n = 0;
	gboolean space = FALSE;

	for (size_t i = 0; s[i] != '\0'; i++) {
		if (g_ascii_isspace(s[i])) {
			space = TRUE;
			continue;
		}
		if (space && n > 0)
			s[n++] = ' ';
		space = FALSE;
		s[n++] = s[i];
	}
	s[n] = '\0';
}

/*
 * Notes the topmost Received: field: which Authentication-Results stand
 * above it, and its date (after the last ';', RFC 5321 4.4), bounded.
 */
static void
mime_received(struct message *msg, const char *raw)
{
	const char *semi = raw != NULL ? strrchr(raw, ';') : NULL;
	GDateTime *date;

	msg->has_received = TRUE;
	msg->ar_above_received = msg->auth_results->len;
	if (semi == NULL || strlen(semi + 1) > MIME_DATE_MAX)
		return;
	date = g_mime_utils_header_decode_date(semi + 1);
	if (date != NULL) {
		msg->received_date = MAX(g_date_time_to_unix(date), 0);
		g_date_time_unref(date);
	}
}

/* Sets msg->subject from the Subject header of hl: decoded by us (see
 * mime_decode_text), blanks collapsed, cut at MIME_HEADER_MAX bytes. */
static void
mime_subject(struct message *msg, GMimeHeaderList *hl)
{
	GMimeHeader *sh = g_mime_header_list_get_header(hl, "Subject");
	const char *s;
	char *subject;

	if (sh == NULL || (s = g_mime_header_get_raw_value(sh)) == NULL)
		return;
	subject = mime_decode_text(s);
	mime_collapse(subject);
	if (strlen(subject) > MIME_HEADER_MAX)
		subject[mime_utf8_cut(subject, strlen(subject), MIME_HEADER_MAX)] = '\0';
	g_free(msg->subject);
	msg->subject = subject;
}

/* Reads the envelope headers of the top-level message into msg. */
static void
mime_headers(struct message *msg, GMimeMessage *message, GMimeParserOptions *opts)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(message));
	GPtrArray *from = g_ptr_array_new_with_free_func(g_free);
	const char *s;
	GDateTime *date;
	int count;

	mime_addr_list(g_mime_message_get_from(message), from, 0);
	if (from->len > 0) {
		const char *at;

		msg->from = g_strdup(from->pdata[0]);
		at = strrchr(msg->from, '@');
		if (at != NULL && at[1] != '\0')
			msg->from_domain = g_strdup(at + 1);
	}
	g_ptr_array_unref(from);
	mime_addr_list(g_mime_message_get_to(message), msg->to, 0);
	mime_addr_list(g_mime_message_get_cc(message), msg->to, 0);

	mime_subject(msg, hl);
	s = g_mime_message_get_message_id(message);
	if (s != NULL && *s != '\0' && strlen(s) <= MIME_HEADER_MAX)
		msg->message_id = g_utf8_make_valid(s, -1);
	date = g_mime_message_get_date(message);
	msg->date = date != NULL ? g_date_time_to_unix(date) : 0;

	count = g_mime_header_list_get_count(hl);
	for (int i = 0; i < count; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(h);

		if (g_ascii_strcasecmp(name, "Received") == 0) {
			if (!msg->has_received)
				mime_received(msg, g_mime_header_get_raw_value(h));
		} else if (g_ascii_strcasecmp(name, "Authentication-Results") == 0) {
			if (msg->auth_results->len < MIME_LIST_MAX)
				g_ptr_array_add(msg->auth_results,
				    mime_unfold(g_mime_header_get_raw_value(h)));
		} else if (g_ascii_strcasecmp(name, "Delivered-To") == 0 ||
		    g_ascii_strcasecmp(name, "X-Original-To") == 0) {
			char *v = mime_unfold(g_mime_header_get_raw_value(h));
			InternetAddressList *l = internet_address_list_parse(opts, v);

			if (l != NULL) {
				mime_addr_list(l, msg->delivered_to, 0);
				g_object_unref(l);
			}
			g_free(v);
		}
	}
	if (!msg->has_received)
		msg->ar_above_received = msg->auth_results->len;
}

/* Length of an RFC 2047 word start "=?charset?B?" at s (0: none). */
static size_t
mime_word_start(const char *s, const char *end)
{
	const char *p = s + 2;

	if (end - s < 6 || s[0] != '=' || s[1] != '?')
		return 0;
	while (p < end && p - s < 66 && *p != '?' && *p > ' ' && *p < 127)
		p++;
	if (p == s + 2 || end - p < 3 || p[0] != '?' || strchr("BbQq", p[1]) == NULL ||
	    p[1] == '\0' || p[2] != '?')
		return 0;
	return (size_t)(p + 3 - s);
}

/*
 * GMime's RFC 2047 decoder takes time quadratic in the number of word
 * starts ("=?cs?B?") that no "?=" follows: a 1 MB subject of them costs a
 * minute.  Returns a copy of data in which the starts whose "?=" is more
 * than MIME_WORD_MAX bytes away lose their encoding letter, or NULL when
 * there is none (any real mail): one linear pass.
 */
static char *
mime_defuse_words(const char *data, size_t len)
{
	const char *end = data + len, *term = data;
	char *copy = NULL;

	for (const char *p = data; p + 1 < end; p++) {
		size_t n;
		const char *text;

		if (p[0] != '=' || p[1] != '?' || (n = mime_word_start(p, end)) == 0)
			continue;
		text = p + n;
		if (term < text) {
			for (term = text;; term++) {
				term = memchr(term, '?', (size_t)(end - term));
				if (term == NULL || term + 1 >= end) {
					term = end;
					break;
				}
				if (term[1] == '=')
					break;
			}
		}
		if (term - text > MIME_WORD_MAX) {
			if (copy == NULL)
				copy = g_memdup2(data, len);
			copy[(text - data) - 2] = 'X';	/* "=?cs?X?" is no word */
		}
		p = text - 1;
	}
	return copy;
}

/*
 * Returns the offset of the first header line (after an mbox From_ line),
 * or -1 with *why set when the input does not start like mail.
 */
static gssize
mime_header_start(const char *data, size_t len, const char **why)
{
	size_t off = 0, i;

	if (len >= 5 && memcmp(data, "From ", 5) == 0) {
		const char *nl = memchr(data, '\n', len);

		if (nl == NULL || (size_t)(nl - data) + 1 >= len) {
			*why = "nothing after the mbox From_ line";
			return -1;
		}
		off = (size_t)(nl - data) + 1;
	}
	/* field-name = 1*(%d33-57 / %d59-126), then optional blanks, then ':' */
	for (i = off; i < len && data[i] > 32 && data[i] < 127 && data[i] != ':'; i++)
		;
	if (i == off) {
		*why = "no header field on the first line";
		return -1;
	}
	while (i < len && (data[i] == ' ' || data[i] == '\t'))
		i++;
	if (i >= len || data[i] != ':') {
		*why = "no header field on the first line";
		return -1;
	}
	return (gssize)off;
}

/*
 * Reads the forwarded message part into msg->forwarded: its subject and
 * its own body, the same way as the outer one, nothing it has attached.
 */
static void
mime_forwarded(struct message *msg, GMimeMessagePart *part, guint *parts)
{
	GMimeMessage *inner = g_mime_message_part_get_message(part);
	struct message *fwd;

	if (inner == NULL)
		return;
	fwd = message_new();
	(void)mime_body(fwd, inner, parts);
	mime_subject(fwd, g_mime_object_get_header_list(GMIME_OBJECT(inner)));
	msg->forwarded = fwd;
}

int
mime_parse(const char *data, size_t len, struct message **msg_r, GError **error)
{
	static const char *fallback[] = { "utf-8", "windows-1252", NULL };
	GMimeParserOptions *opts;
	GMimeParser *parser;
	GMimeMessage *message;
	GMimeStream *stream;
	GByteArray *array;
	struct message *msg;
	const char *why = "empty input";
	gssize off = -1;
	size_t body_len;
	char *digest, *defused;

	*msg_r = NULL;
	if (data != NULL && len > 0)
		off = mime_header_start(data, len, &why);
	if (off < 0) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_DATA,
		    "not a mail message: %s", why);
		return -1;
	}
	mime_init();
	msg = message_new();
	digest = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
	g_strlcpy(msg->digest, digest, sizeof(msg->digest));
	g_free(digest);

	opts = g_mime_parser_options_new();
	g_mime_parser_options_set_fallback_charsets(opts, fallback);
	g_mime_parser_options_set_address_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_rfc2047_compliance_mode(opts, GMIME_RFC_COMPLIANCE_LOOSE);

	/*
	 * Parse in place: the array borrows the caller's bytes (GMime only
	 * reads them) and is emptied again before it is freed.
	 * XXX: a GByteArray holds at most 4 GiB; the rest is not read.
	 */
	body_len = MIN(len - (size_t)off, (size_t)G_MAXUINT);
	defused = mime_defuse_words(data + off, body_len);
	array = g_byte_array_new_take((guint8 *)(defused != NULL ? defused :
	    (gpointer)(data + off)), body_len);
	stream = g_mime_stream_mem_new_with_byte_array(array);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(stream), FALSE);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	g_mime_parser_set_persist_stream(parser, TRUE);
	g_mime_parser_set_respect_content_length(parser, FALSE);

	/* A NULL message (GMime found no header) leaves msg empty. */
	message = g_mime_parser_construct_message(parser, opts);
	if (message != NULL) {
		guint parts = 0;
		GMimeMessagePart *fwd;

		mime_headers(msg, message, opts);
		fwd = mime_body(msg, message, &parts);
		if (fwd != NULL)
			mime_forwarded(msg, fwd, &parts);
		g_object_unref(message);
	}
	g_object_unref(parser);
	g_object_unref(stream);
	(void)g_byte_array_steal(array, NULL);	/* the caller's bytes: not ours */
	g_byte_array_unref(array);
	g_free(defused);
	g_mime_parser_options_free(opts);
	*msg_r = msg;
	return 0;
}
