/*
 * util.c - small shared helpers: error domain, paths, secrets, addresses,
 * bounded file reading.
 *
 * Hostile input: file contents (bounded by the caller's max) and address
 * strings from mail headers (only scanned, never interpreted).  The
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

void
util_secret_free(char **s)
{
	if (*s == NULL)
		return;
	explicit_bzero(*s, strlen(*s));
	g_free(*s);
	*s = NULL;
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

char *
util_normalize_identifier(const char *s)
{
	char *t = g_strstrip(g_strdup(s != NULL ? s : ""));

	if (util_is_addr_spec(t)) {
		char *lower = g_utf8_strdown(t, -1);
		g_free(t);
		return lower;
	}
	return t;
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
