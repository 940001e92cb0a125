/*
 * util.c - small shared helpers: error domain, paths, secrets, addresses,
 * bounded file reading.
 *
 * Hostile input: file contents (bounded by the caller's max), address
 * strings from mail headers, the envelope and the command line
 * (util_normalize_address: invalid UTF-8 is refused, each A-label is
 * decoded by GLib's bounded punycode decoder and kept only when it gives
 * a real U-label; work is linear in the address) and an
 * endpoint's reply text (util_redact: decoded in at most 4 bounded
 * passes, each linear in its length, for display only).  Secret files
 * are checked with the ssh rule (util_secret_mode_problem).  The
 * accept-exhaustion episode (util_accept_*) bounds the log lines a client
 * can cause by exhausting descriptors to one per episode.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "util.h"

#define SECRET_MAX 4096

G_DEFINE_QUARK(otpbridge-error-quark, otpb_error)

char *
util_resolve_path(const char *base_dir, const char *path)
{
	if (g_path_is_absolute(path) || base_dir == NULL)
		return g_strdup(path);
	return g_build_filename(base_dir, path, NULL);
}

char *
util_read_secret_file(const char *path, GError **error)
{
	char *data = NULL;
	gsize len = 0;
	char *nl;

	if (util_read_file(path, SECRET_MAX, &data, &len, error) < 0)
		return NULL;
	nl = strpbrk(data, "\r\n");
	if (nl != NULL)
		*nl = '\0';
	g_strstrip(data);
	if (*data == '\0') {
		g_free(data);
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "%s: the secret file is empty", path);
		return NULL;
	}
	/* Shrink to the secret itself; wipe the rest of the buffer first. */
	{
		char *s = g_strdup(data);
		explicit_bzero(data, len);
		g_free(data);
		return s;
	}
}

char *
util_secret_mode_problem(guint mode, guint uid, guint euid, gboolean group_ok)
{
	guint m = mode & 07777;

	if ((m & 0022) != 0)
		return g_strdup_printf("is writable by %s (mode %04o); chmod 600 it",
		    (m & 0002) != 0 ? "others" : "its group", m);
	if ((m & 0007) != 0)
		return g_strdup_printf("is readable by others (mode %04o); chmod 600 it", m);
	if ((m & 0050) != 0 && !group_ok)
		return g_strdup_printf("is readable by a group this process is not in "
		    "(mode %04o); chmod 600 it, or chgrp it to the service's group", m);
	if (uid != euid && uid != 0)
		return g_strdup_printf("is owned by uid %u, neither this user (uid %u) "
		    "nor root; chown it", uid, euid);
	return NULL;
}

/* The value of hex digit c, or -1. */
static int
util_hex(char c)
{
	return g_ascii_isxdigit(c) ? g_ascii_xdigit_value(c) : -1;
}

/* Appends code point cp as UTF-8 (U+FFFD for NUL and surrogates). */
static void
util_append_cp(GString *out, gunichar cp)
{
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;
	g_string_append_unichar(out, cp);
}

/* One decoding pass over s (see util_redact); TRUE when it changed s. */
static gboolean
util_unescape_once(GString *s)
{
	GString *out = g_string_sized_new(s->len);
	gboolean changed = FALSE;
	gsize i = 0;

	while (i < s->len) {
		const char *p = s->str + i;
		gsize left = s->len - i;
		int a, b;

		if (p[0] == '\\' && left >= 6 && p[1] == 'u' && util_hex(p[2]) >= 0 &&
		    util_hex(p[3]) >= 0 && util_hex(p[4]) >= 0 && util_hex(p[5]) >= 0) {
			gunichar cp = (gunichar)(util_hex(p[2]) << 12 | util_hex(p[3]) << 8 |
			    util_hex(p[4]) << 4 | util_hex(p[5]));
			i += 6;
			/* A surrogate pair: \uD8xx\uDCxx. */
			if (cp >= 0xd800 && cp <= 0xdbff && s->len - i >= 6 &&
			    s->str[i] == '\\' && s->str[i + 1] == 'u' &&
			    util_hex(s->str[i + 2]) >= 0 && util_hex(s->str[i + 3]) >= 0 &&
			    util_hex(s->str[i + 4]) >= 0 && util_hex(s->str[i + 5]) >= 0) {
				gunichar lo = (gunichar)(util_hex(s->str[i + 2]) << 12 |
				    util_hex(s->str[i + 3]) << 8 | util_hex(s->str[i + 4]) << 4 |
				    util_hex(s->str[i + 5]));
				if (lo >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					i += 6;
				}
			}
			util_append_cp(out, cp);
			changed = TRUE;
		} else if (p[0] == '\\' && left >= 2 && strchr("\"\\/bfnrt", p[1]) != NULL &&
		    p[1] != '\0') {
			g_string_append_c(out, strchr("\"\\/", p[1]) != NULL ? p[1] : ' ');
			i += 2;
			changed = TRUE;
		} else if (p[0] == '%' && left >= 3 && (a = util_hex(p[1])) >= 0 &&
		    (b = util_hex(p[2])) >= 0) {
			/* %00 must not cut the text short: a blank. */
			g_string_append_c(out, (a << 4 | b) != 0 ? (char)(a << 4 | b) : ' ');
			i += 3;
			changed = TRUE;
		} else if (p[0] == '&' && left >= 4 && p[1] == '#') {
			gboolean hex = p[2] == 'x' || p[2] == 'X';
			gsize j = hex ? 3 : 2;
			guint64 cp = 0;

			while (j < left && j < 12 && (hex ? util_hex(p[j]) >= 0 :
			    g_ascii_isdigit(p[j]))) {
				cp = cp * (hex ? 16 : 10) + (guint64)(hex ? util_hex(p[j]) :
				    g_ascii_digit_value(p[j]));
				j++;
			}
			if (j < left && p[j] == ';' && j > (hex ? 3u : 2u)) {
				util_append_cp(out, cp > 0x10ffff ? 0xfffd : (gunichar)cp);
				i += j + 1;
				changed = TRUE;
			} else {
				g_string_append_c(out, p[0]);
				i++;
			}
		} else {
			g_string_append_c(out, p[0]);
			i++;
		}
	}
	g_string_assign(s, out->str);
	g_string_free(out, TRUE);
	return changed;
}

/* Replaces each match of key (lower-case letters and digits) in s by
 * "[code]": key's characters in order, case-insensitive, at most two
 * other bytes between two of them. */
static void
util_redact_key(GString *s, const char *key)
{
	GString *out = g_string_sized_new(s->len);
	gsize n = strlen(key), i = 0;

	while (i < s->len) {
		gsize j = i, k = 0, gap = 0;

		while (j < s->len && k < n) {
			if (g_ascii_tolower(s->str[j]) == key[k]) {
				j++;
				k++;
				gap = 0;
			} else if (k > 0 && gap < 2 && !g_ascii_isalnum(s->str[j])) {
				j++;
				gap++;
			} else {
				break;
			}
		}
		if (k == n) {
			g_string_append(out, "[code]");
			i = j;
		} else {
			g_string_append_c(out, s->str[i]);
			i++;
		}
	}
	g_string_assign(s, out->str);
	g_string_free(out, TRUE);
}

/* Replaces every run of 4 or more digits (one blank, '-' or '.' allowed
 * between two of them) by "[code]". */
static void
util_redact_digits(GString *s)
{
	GString *out = g_string_sized_new(s->len);
	gsize i = 0;

	while (i < s->len) {
		gsize j = i, digits = 0, end = i;

		while (j < s->len && g_ascii_isdigit(s->str[j])) {
			digits++;
			end = ++j;
			if (j + 1 < s->len && strchr(" -.", s->str[j]) != NULL &&
			    s->str[j] != '\0' && g_ascii_isdigit(s->str[j + 1]))
				j++;
		}
		if (digits >= 4) {
			g_string_append(out, "[code]");
			i = end;
		} else if (digits > 0) {
			g_string_append_len(out, s->str + i, (gssize)(end - i));
			i = end;
		} else {
			g_string_append_c(out, s->str[i]);
			i++;
		}
	}
	g_string_assign(s, out->str);
	g_string_free(out, TRUE);
}

/* XXX: an echo re-encoded otherwise (base64, a hash) is not recognised;
 * what an endpoint echoes is not ours to enumerate. */
char *
util_redact(const char *text, const char *secret)
{
	GString *s, *key;
	char *valid;

	if (text == NULL)
		return NULL;
	s = g_string_new(text);
	/* Layered encodings (%5Cu0033) unwrap in a few passes; bounded. */
	for (int pass = 0; pass < 4 && util_unescape_once(s); pass++)
		;
	key = g_string_new(NULL);
	for (const char *p = secret != NULL ? secret : ""; *p != '\0'; p++)
		if (g_ascii_isalnum(*p))
			g_string_append_c(key, g_ascii_tolower(*p));
	if (key->len > 0)
		util_redact_key(s, key->str);
	/* send = text: the code is somewhere in the text; mask digit runs. */
	if (secret != NULL && (strlen(secret) > 16 || strpbrk(secret, " \t\r\n") != NULL))
		util_redact_digits(s);
	g_string_free(key, TRUE);
	valid = g_utf8_make_valid(s->str, (gssize)s->len);
	g_string_free(s, TRUE);
	for (char *p = valid; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return valid;
}

void
util_secret_free(char **s)
{
	if (*s == NULL)
		return;
	explicit_bzero(*s, strlen(*s));
	g_free(*s);
	*s = NULL;
}

char *
util_age_short(gint64 s)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		return g_strdup_printf("%" G_GINT64_FORMAT "s", s);
	if (s < 7200)
		return g_strdup_printf("%" G_GINT64_FORMAT "m", s / 60);
	if (s < 172800)
		return g_strdup_printf("%" G_GINT64_FORMAT "h", s / 3600);
	return g_strdup_printf("%" G_GINT64_FORMAT "d", s / 86400);
}

gboolean
util_is_loopback_host(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	gsize n;

	if (host == NULL)
		return FALSE;
	if (g_ascii_strcasecmp(host, "localhost") == 0)
		return TRUE;
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
	}
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return FALSE;
}

/* The IPv4 address a (host order): 0 other, 1 loopback, 2 RFC 1918. */
static int
util_v4_scope(guint32 a)
{
	if ((a >> 24) == 127)
		return 1;
	if ((a >> 24) == 10 || (a >> 20) == (172u << 4 | 1u) ||
	    (a >> 16) == (192u << 8 | 168u))
		return 2;
	return 0;
}

/* The IPv6 address a: 0 other, 1 loopback, 2 unique-local (or either
 * of those as an IPv4-mapped address). */
static int
util_v6_scope(const struct in6_addr *a)
{
	if (IN6_IS_ADDR_LOOPBACK(a))
		return 1;
	if (IN6_IS_ADDR_V4MAPPED(a)) {
		guint32 v4;

		memcpy(&v4, a->s6_addr + 12, sizeof v4);
		return util_v4_scope(ntohl(v4));
	}
	return (a->s6_addr[0] & 0xfe) == 0xfc ? 2 : 0;
}

gboolean
util_is_private_host(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char buf[64];
	gsize n;

	if (host == NULL || *host == '\0')
		return FALSE;
	if (util_is_loopback_host(host))
		return TRUE;
	n = strlen(host);
	if (host[0] == '[') {
		/* an IP literal in brackets, nothing else */
		if (n < 2 || host[n - 1] != ']' || n - 2 >= sizeof(buf))
			return FALSE;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		host = buf;
		n -= 2;
		if (inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1)
			return FALSE;
	}
	if (inet_pton(AF_INET, host, &a4) == 1)
		return util_v4_scope(ntohl(a4.s_addr)) != 0;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return util_v6_scope(&a6) != 0;
	/* a single DNS label: letters, digits, hyphens, not at either end;
	 * at least one letter (so "10" is no host name) */
	if (n > 63 || host[0] == '-' || host[n - 1] == '-')
		return FALSE;
	{
		gboolean letter = FALSE;

		for (const char *p = host; *p != '\0'; p++) {
			if (g_ascii_isalpha(*p))
				letter = TRUE;
			else if (!g_ascii_isdigit(*p) && *p != '-')
				return FALSE;
		}
		return letter;
	}
}

gboolean
util_sockaddr_in_scope(const struct sockaddr *sa, gboolean private_ok)
{
	int scope = 0;

	if (sa == NULL)
		return FALSE;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in in;

		memcpy(&in, sa, sizeof in);
		scope = util_v4_scope(ntohl(in.sin_addr.s_addr));
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 in6;

		memcpy(&in6, sa, sizeof in6);
		scope = util_v6_scope(&in6.sin6_addr);
	}
	return scope == 1 || (private_ok && scope == 2);
}

gboolean
util_is_addr_spec(const char *s)
{
	const char *at;

	if (s == NULL || *s == '\0')
		return FALSE;
	at = strchr(s, '@');
	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return FALSE;
	for (const char *p = s; *p != '\0'; p++) {
		if (g_ascii_isspace(*p) || *p == '<' || *p == '>' || *p == ',' ||
		    (unsigned char)*p < 0x20)
			return FALSE;
	}
	return TRUE;
}

/* Lower-cases and NFC-normalises UTF-8 text, one character at a time
 * (g_unichar_tolower: the same in every locale, unlike g_utf8_strdown,
 * which follows a Turkish or Lithuanian LC_CTYPE). */
static void
util_lower_nfc(GString *out, const char *s, gssize len)
{
	g_autofree char *nfc = g_utf8_normalize(s, len, G_NORMALIZE_NFC);
	g_autofree char *again = NULL;
	GString *low = g_string_new(NULL);

	for (const char *p = nfc; *p != '\0'; p = g_utf8_next_char(p))
		g_string_append_unichar(low, g_unichar_tolower(g_utf8_get_char(p)));
	again = g_utf8_normalize(low->str, (gssize)low->len, G_NORMALIZE_NFC);
	g_string_append(out, again);
	g_string_free(low, TRUE);
}

/*
 * The U-label of an A-label ("xn--bcher-kva" -> "bücher"), or NULL when
 * label is no A-label or decodes to something no domain label holds
 * (nothing, ASCII only, controls, blanks, dots, U+FFFD).
 */
static char *
util_u_label(const char *label, gsize len)
{
	g_autofree char *a = g_ascii_strdown(label, (gssize)len);
	char *u;
	gboolean wide = FALSE;

	if (len <= 4 || strncmp(a, "xn--", 4) != 0 ||
	    (u = g_hostname_to_unicode(a)) == NULL)
		return NULL;
	for (const char *p = u; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c >= 0x80)
			wide = TRUE;
		if (c == '.' || c == '@' || c == 0xfffd || g_unichar_iscntrl(c) ||
		    g_unichar_isspace(c) || g_unichar_type(c) == G_UNICODE_FORMAT) {
			wide = FALSE;
			break;
		}
	}
	if (!wide) {
		g_free(u);
		return NULL;
	}
	return u;
}

char *
util_normalize_address(const char *s, GError **error)
{
	g_autofree char *t = g_strstrip(g_strdup(s != NULL ? s : ""));
	const char *at, *label;
	GString *out;

	if (!g_utf8_validate(t, -1, NULL)) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_DATA,
		    "the address is not valid UTF-8");
		return NULL;
	}
	if (!util_is_addr_spec(t))
		return g_steal_pointer(&t);
	at = strchr(t, '@');
	out = g_string_sized_new(strlen(t) + 8);
	util_lower_nfc(out, t, at - t);
	g_string_append_c(out, '@');
	label = at + 1;
	for (;;) {
		const char *dot = strchr(label, '.');
		gsize len = dot != NULL ? (gsize)(dot - label) : strlen(label);
		g_autofree char *u = util_u_label(label, len);

		if (u != NULL)
			util_lower_nfc(out, u, -1);
		else
			util_lower_nfc(out, label, (gssize)len);
		if (dot == NULL)
			break;
		g_string_append_c(out, '.');
		label = dot + 1;
	}
	return g_string_free(out, FALSE);
}

char *
util_normalize_identifier(const char *s)
{
	g_autofree char *valid = g_utf8_make_valid(s != NULL ? s : "", -1);

	return util_normalize_address(valid, NULL);
}

int
util_read_file(const char *path, gsize max, char **data_r, gsize *len_r,
    GError **error)
{
	FILE *fp;
	GByteArray *buf;
	guint8 chunk[65536];
	size_t n;
	gboolean is_stdin = strcmp(path, "-") == 0;
	const char *name = is_stdin ? "<stdin>" : path;

	fp = is_stdin ? stdin : fopen(path, "rb");
	if (fp == NULL) {
		int e = errno;
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO, "%s: %s", name,
		    g_strerror(e));
		return -1;
	}
	buf = g_byte_array_new();
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (buf->len + n > max) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_DATA,
			    "%s: larger than the limit of %" G_GSIZE_FORMAT " bytes",
			    name, max);
			goto fail;
		}
		g_byte_array_append(buf, chunk, (guint)n);
	}
	if (ferror(fp)) {
		int e = errno;
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_IO, "%s: %s", name,
		    g_strerror(e));
		goto fail;
	}
	if (!is_stdin)
		fclose(fp);
	*len_r = buf->len;
	g_byte_array_append(buf, (const guint8 *)"", 1);
	*data_r = (char *)g_byte_array_free(buf, FALSE);
	return 0;
fail:
	if (!is_stdin)
		fclose(fp);
	g_byte_array_free(buf, TRUE);
	return -1;
}

/* The descriptor-exhaustion episode: the monotonic time of its last
 * failed accept, 0 when none is going on.  Main thread only (listeners
 * run there). */
static gint64 util_accept_failed_at;

void
util_accept_exhausted(const char *src, const char *label, const char *why)
{
	gboolean first = util_accept_failed_at == 0;

	util_accept_failed_at = g_get_monotonic_time();
	if (first)
		g_warning("src=%s listen=%s result=accept-paused reason=\"%s\" pause_ms=%u "
		    "(out of descriptors: accepts pause and retry; logged once until "
		    "accepts work again)", src, label, why, UTIL_ACCEPT_PAUSE_MS);
}

void
util_accept_recovered(void)
{
	if (util_accept_failed_at == 0 || g_get_monotonic_time() -
	    util_accept_failed_at < (gint64)UTIL_ACCEPT_QUIET_MS * 1000)
		return;
	util_accept_failed_at = 0;
	g_info("src=accept result=accept-resumed");
}
