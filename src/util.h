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

/* Overwrites and frees a secret; sets *s to NULL.  NULL-safe. */
void util_secret_free(char **s);

/* TRUE for "localhost", 127.0.0.0/8 and ::1. */
gboolean util_is_loopback_host(const char *host);

/*
 * Normalises an identifier for the push body: a bare addr-spec (one '@',
 * no blanks or angle brackets) is lower-cased; anything else is returned
 * trimmed and unchanged.  g_malloc'd.
 */
char *util_normalize_identifier(const char *s);

/* TRUE when s looks like a bare addr-spec: local@domain, no blanks. */
gboolean util_is_addr_spec(const char *s);

/*
 * Reads a whole file (or stdin for "-") up to max bytes.  Returns -1 and
 * sets *error (OTPB_ERROR_IO, or OTPB_ERROR_DATA when larger than max).
 */
int util_read_file(const char *path, gsize max, char **data_r, gsize *len_r, GError **error);

#endif
