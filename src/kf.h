/*
 * kf.h - GLib key-files with line numbers, for config and filter files.
 *
 * GKeyFile parses and gives values; kf adds what operators need from a
 * config loader: every error names file:line, unknown keys and groups are
 * errors, duplicate keys and groups are errors, and pattern values are
 * read raw (g_key_file_get_value) so "\." reaches PCRE2 as written.
 * Typed getters leave *out untouched when the key is absent, so callers
 * preset defaults.
 */
#ifndef OTPBRIDGE_KF_H
#define OTPBRIDGE_KF_H

#include <glib.h>

struct kf;

/* Loads path.  A missing file sets G_FILE_ERROR_NOENT in G_FILE_ERROR;
 * syntax errors set OTPB_ERROR_CONFIG "path:line: problem". */
int kf_load(const char *path, struct kf **kf_r, GError **error);
void kf_free(struct kf **kf);

const char *kf_path(const struct kf *kf);
/* Line of key in group (key NULL: the group header); 0 when unknown. */
int kf_line(const struct kf *kf, const char *group, const char *key);
/* Groups in file order; owned by kf. */
char **kf_groups(const struct kf *kf);
gboolean kf_has_key(const struct kf *kf, const char *group, const char *key);

/* Sets *error to "path:line: <message>" for group/key (key may be NULL). */
void kf_set_error(const struct kf *kf, GError **error, const char *group,
    const char *key, const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* Every key of group must be in allowed (NULL-terminated). */
int kf_check_keys(const struct kf *kf, const char *group,
    const char *const *allowed, GError **error);

/* The raw value, blanks trimmed; *out replaced (old value freed). */
int kf_get_raw(const struct kf *kf, const char *group, const char *key,
    char **out, GError **error);
int kf_get_uint(const struct kf *kf, const char *group, const char *key,
    guint64 min, guint64 max, guint64 *out, GError **error);
int kf_get_bool(const struct kf *kf, const char *group, const char *key,
    gboolean *out, GError **error);
/* names is NULL-terminated; *out is set to the index of the value. */
int kf_get_enum(const struct kf *kf, const char *group, const char *key,
    const char *const *names, int *out, GError **error);
/* ';'-separated list, items trimmed, empty items dropped; *out replaced. */
int kf_get_list(const struct kf *kf, const char *group, const char *key,
    char ***out, GError **error);

#endif
