/*
 * util.h - small helpers shared by every module: the error domain,
 * path resolution, secret files, address normalisation.
 */
#ifndef OTPBRIDGE_UTIL_H
#define OTPBRIDGE_UTIL_H

#include <stddef.h>
#include <glib.h>

/* sysexits.h values we use, named so callers read well. */
#define EXIT_USAGE     64  /* EX_USAGE */
#define EXIT_DATAERR   65  /* EX_DATAERR */
#define EXIT_NOINPUT   66  /* EX_NOINPUT */
#define EXIT_UNAVAILABLE 69  /* EX_UNAVAILABLE */
#define EXIT_SOFTWARE  70  /* EX_SOFTWARE */
#define EXIT_CANTCREAT 73  /* EX_CANTCREAT */
#define EXIT_IOERR     74  /* EX_IOERR */
#define EXIT_TEMPFAIL  75  /* EX_TEMPFAIL */
#define EXIT_CONFIG    78  /* EX_CONFIG */

#define OTPB_ERROR (otpb_error_quark())
GQuark otpb_error_quark(void);

enum otpb_error_code {
	OTPB_ERROR_CONFIG,   /* a configuration or filter file is wrong */
	OTPB_ERROR_DATA,     /* the input is not acceptable (not mail, too big) */
	OTPB_ERROR_IO,       /* reading or writing failed */
	OTPB_ERROR_TEMP,     /* a temporary failure: try again later */
};

/* path if absolute, else base_dir/path; g_malloc'd.  base_dir may be NULL. */
char *util_resolve_path(const char *base_dir, const char *path);

/*
 * Reads a secret (API key, password) from path: first line, trailing
 * CR/LF and blanks removed, at most 4096 bytes.  Returns NULL and sets
 * *error when unreadable or empty.  The error never contains the secret.
 */
char *util_read_secret_file(const char *path, GError **error);

/*
 * Why a secret file with this mode and owner must not be used (the ssh
 * rule), as a phrase to follow the file's name ("is readable by others
 * (mode 0644); chmod 600 it"), g_malloc'd; NULL when it may be used.
 * Refused: any write bit for group or others, any bit for others, a
 * group-read bit unless group_ok (the file's group is one of the
 * process's own), an owner that is neither euid nor root.
 */
char *util_secret_mode_problem(guint mode, guint uid, guint euid, gboolean group_ok);

/*
 * text (an endpoint's reply) as it may be shown: escapes undone (JSON
 * \uXXXX and \X, %XX, &#N; and &#xH;, repeated for layered encodings),
 * every occurrence of secret's letters and digits (case-insensitive, at
 * most two other bytes between two of them) replaced by "[code]", and
 * control bytes blanked.  When secret is not a short code (send = text:
 * the whole mail text), every run of 4 or more digits is replaced too.
 * NULL text gives NULL; secret may be NULL.  g_malloc'd, valid UTF-8.
 */
char *util_redact(const char *text, const char *secret);

/* Overwrites and frees a secret; sets *s to NULL.  NULL-safe. */
void util_secret_free(char **s);

/* A short age for a table: "40s" under 2 min, "5m" under 2 h, "2h" under
 * 2 days, else "3d"; a negative age reads 0s.  g_malloc'd. */
char *util_age_short(gint64 seconds);

/* TRUE for "localhost", 127.0.0.0/8 and ::1. */
gboolean util_is_loopback_host(const char *host);

/*
 * TRUE for a host that names this machine or a private network: what
 * util_is_loopback_host() takes, RFC 1918 addresses (10/8, 172.16/12,
 * 192.168/16), IPv6 unique-local addresses (fc00::/7), and single-label
 * host names ("skyvern", a Compose service).  A name says nothing about
 * where it resolves: util_sockaddr_in_scope() checks the address itself.
 */
gboolean util_is_private_host(const char *host);

struct sockaddr;
/*
 * TRUE when the IPv4/IPv6 address sa is loopback, or (private_ok) within
 * the ranges util_is_private_host() takes; IPv4-mapped IPv6 addresses
 * are judged as IPv4.  Any other family: FALSE.
 */
gboolean util_sockaddr_in_scope(const struct sockaddr *sa, gboolean private_ok);

/*
 * The normal form of an identifier or address, the one every path uses
 * (envelope recipient of LMTP/SMTP and --rcpt, IMAP account identifier,
 * To/Delivered-To of the mail, the pull endpoint's ?identifier=): s is
 * trimmed; when it is a bare addr-spec (one '@', no blanks or angle
 * brackets) the local part and the domain are NFC-normalised and
 * lower-cased character by character (the same in every locale), and
 * each A-label of the domain ("xn--bcher-kva") becomes its U-label
 * ("bücher"): an A-label and its U-label are one identifier.  An A-label
 * that does not decode to a real U-label stays as it is (lower-cased).
 * Anything else (a phone number, "Name <a@b>") is returned trimmed and
 * unchanged, as Skyvern matches it exactly.  Returns NULL and sets
 * *error (OTPB_ERROR_DATA) when s is not valid UTF-8.  g_malloc'd.
 */
char *util_normalize_address(const char *s, GError **error);

/*
 * util_normalize_address() for text already checked (or known to be
 * UTF-8): an invalid sequence becomes U+FFFD instead of an error, so the
 * result is never NULL ("" for NULL).  g_malloc'd.
 */
char *util_normalize_identifier(const char *s);

/* TRUE when s looks like a bare addr-spec: local@domain, no blanks. */
gboolean util_is_addr_spec(const char *s);

/*
 * Reads a whole file (or stdin for "-") up to max bytes.  Returns -1 and
 * sets *error (OTPB_ERROR_IO, or OTPB_ERROR_DATA when larger than max).
 */
int util_read_file(const char *path, gsize max, char **data_r, gsize *len_r, GError **error);

/*
 * accept() ran out of descriptors or memory (EMFILE, ENFILE, ENOMEM): one
 * process-wide episode that every listener (LMTP, SMTP, HTTP) shares.
 * The listener that saw it stops watching its socket for
 * UTIL_ACCEPT_PAUSE_MS and calls util_accept_exhausted(), which logs one
 * warning per episode (src, listen label, why).  Every accept that
 * succeeds calls util_accept_recovered(): the first one at least
 * UTIL_ACCEPT_QUIET_MS after the last failure ends the episode (logged at
 * info), so a process hovering at its limit, where accepts fail and
 * succeed by turns, logs no more.  Main thread only.
 */
#define UTIL_ACCEPT_PAUSE_MS 1000
#define UTIL_ACCEPT_QUIET_MS 3000
void util_accept_exhausted(const char *src, const char *label, const char *why);
void util_accept_recovered(void);

#endif
