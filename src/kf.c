/*
 * kf.c - GLib key-files that can say file:line (see kf.h).
 *
 * GKeyFile parses the values; it does not keep line numbers, rejects
 * nothing an operator would call a typo, and silently lets a repeated key
 * win.  So the text is first scanned here, line by line: every line must
 * be blank, a whole-line # comment, a [group] header or a key = value
 * pair; repeated groups and keys are errors; the line of each group and
 * key is remembered for later messages.
 *
 * Hostile input: none beyond an operator's mistakes; files are bounded to
 * KF_FILE_MAX bytes and lines must be valid UTF-8.
 */
#include "autoconfig.h"

#include <stdarg.h>
#include <string.h>

#include "kf.h"
#include "util.h"

#define KF_FILE_MAX (1024 * 1024)

struct kf {
	char *path;
	GKeyFile *keyfile;
	GHashTable *lines;   /* "group\037key" or "group" -> line (GINT) */
	GPtrArray *groups;   /* char *, file order, NULL-terminated */
};

/* The lines-table key for group/key (key NULL: the group itself). */
static char *
kf_line_key(const char *group, const char *key)
{
	return key == NULL ? g_strdup(group) : g_strconcat(group, "\037", key, NULL);
}

/* TRUE when name is a plain key name: letters, digits, '_' and '-'. */
static gboolean
kf_valid_key(const char *name)
{
	if (*name == '\0')
		return FALSE;
	for (const char *p = name; *p != '\0'; p++)
		if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
			return FALSE;
	return TRUE;
}

/* TRUE when the n bytes of a group name hold no brackets or controls. */
static gboolean
kf_valid_group(const char *name, gsize n)
{
	for (gsize i = 0; i < n; i++)
		if (name[i] == '[' || name[i] == ']' || (unsigned char)name[i] < 0x20 ||
		    name[i] == 0x7f)
			return FALSE;
	return TRUE;
}

/* Scans text line by line, filling kf->lines and kf->groups. */
static int
kf_scan(struct kf *kf, const char *text, gsize len, GError **error)
{
	const char *p = text, *end = text + len;
	char *group = NULL;
	int lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		gsize n = nl != NULL ? (gsize)(nl - p) : (gsize)(end - p);
		g_autofree char *line = g_strndup(p, n);
		char *s;

		p = nl != NULL ? nl + 1 : end;
		lineno++;
		if (memchr(line, '\0', n) != NULL || !g_utf8_validate(line, -1, NULL)) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
			    "%s:%d: not valid UTF-8 text", kf->path, lineno);
			goto fail;
		}
		s = g_strstrip(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (close == NULL || close[1] != '\0' || close == s + 1 ||
			    !kf_valid_group(s + 1, (gsize)(close - s - 1))) {
				g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
				    "%s:%d: a group header must read [name]",
				    kf->path, lineno);
				goto fail;
			}
			g_free(group);
			group = g_strndup(s + 1, (gsize)(close - s - 1));
			if (g_hash_table_contains(kf->lines, group)) {
				g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
				    "%s:%d: group [%s] appears twice (first at line %d)",
				    kf->path, lineno, group,
				    GPOINTER_TO_INT(g_hash_table_lookup(kf->lines, group)));
				goto fail;
			}
			g_hash_table_insert(kf->lines, g_strdup(group), GINT_TO_POINTER(lineno));
			g_ptr_array_add(kf->groups, g_strdup(group));
			continue;
		}
		{
			char *eq = strchr(s, '=');
			g_autofree char *key = NULL;
			g_autofree char *lk = NULL;

			if (eq == NULL) {
				g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
				    "%s:%d: expected key = value, [group] or a # comment",
				    kf->path, lineno);
				goto fail;
			}
			key = g_strstrip(g_strndup(s, (gsize)(eq - s)));
			if (group == NULL) {
				g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
				    "%s:%d: key '%s' before any [group]", kf->path,
				    lineno, key);
				goto fail;
			}
			if (!kf_valid_key(key)) {
				g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
				    "%s:%d: '%s' is not a valid key name", kf->path,
				    lineno, key);
				goto fail;
			}
			lk = kf_line_key(group, key);
			if (g_hash_table_contains(kf->lines, lk)) {
				g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
				    "%s:%d: key '%s' appears twice in [%s] (first at line %d)",
				    kf->path, lineno, key, group,
				    GPOINTER_TO_INT(g_hash_table_lookup(kf->lines, lk)));
				goto fail;
			}
			g_hash_table_insert(kf->lines, g_steal_pointer(&lk),
			    GINT_TO_POINTER(lineno));
		}
	}
	g_free(group);
	return 0;
fail:
	g_free(group);
	return -1;
}

int
kf_load(const char *path, struct kf **kf_r, GError **error)
{
	struct kf *kf;
	char *text = NULL;
	gsize len = 0;
	GError *err = NULL;

	if (!g_file_get_contents(path, &text, &len, &err)) {
		if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_propagate_error(error, err);
		} else {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG, "%s: %s",
			    path, err->message);
			g_error_free(err);
		}
		return -1;
	}
	if (len > KF_FILE_MAX) {
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "%s: larger than %d bytes", path, KF_FILE_MAX);
		g_free(text);
		return -1;
	}
	kf = g_new0(struct kf, 1);
	kf->path = g_strdup(path);
	kf->lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	kf->groups = g_ptr_array_new_with_free_func(g_free);
	kf->keyfile = g_key_file_new();
	if (kf_scan(kf, text, len, error) < 0)
		goto fail;
	if (!g_key_file_load_from_data(kf->keyfile, text, len, G_KEY_FILE_NONE, &err)) {
		/* The scan accepts only what GKeyFile takes; keep a message anyway. */
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG, "%s: %s", path,
		    err->message);
		g_error_free(err);
		goto fail;
	}
	g_ptr_array_add(kf->groups, NULL);
	g_free(text);
	*kf_r = kf;
	return 0;
fail:
	g_free(text);
	kf_free(&kf);
	return -1;
}

void
kf_free(struct kf **kfp)
{
	struct kf *kf = *kfp;

	if (kf == NULL)
		return;
	g_free(kf->path);
	if (kf->keyfile != NULL)
		g_key_file_unref(kf->keyfile);
	g_hash_table_unref(kf->lines);
	g_ptr_array_unref(kf->groups);
	g_free(kf);
	*kfp = NULL;
}

const char *
kf_path(const struct kf *kf)
{
	return kf->path;
}

int
kf_line(const struct kf *kf, const char *group, const char *key)
{
	g_autofree char *lk = kf_line_key(group, key);

	return GPOINTER_TO_INT(g_hash_table_lookup(kf->lines, lk));
}

char **
kf_groups(const struct kf *kf)
{
	return (char **)kf->groups->pdata;
}

gboolean
kf_has_key(const struct kf *kf, const char *group, const char *key)
{
	return kf_line(kf, group, key) > 0;
}

void
kf_set_error(const struct kf *kf, GError **error, const char *group,
    const char *key, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;
	int line = kf_line(kf, group, key);

	if (line == 0 && key != NULL)
		line = kf_line(kf, group, NULL);
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (line > 0)
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG, "%s:%d: %s",
		    kf->path, line, msg);
	else
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG, "%s: %s",
		    kf->path, msg);
}

int
kf_check_keys(const struct kf *kf, const char *group,
    const char *const *allowed, GError **error)
{
	g_auto(GStrv) keys = g_key_file_get_keys(kf->keyfile, group, NULL, NULL);

	for (gsize i = 0; keys != NULL && keys[i] != NULL; i++) {
		if (!g_strv_contains(allowed, keys[i])) {
			kf_set_error(kf, error, group, keys[i],
			    "unknown key '%s' in [%s]", keys[i], group);
			return -1;
		}
	}
	return 0;
}

int
kf_get_raw(const struct kf *kf, const char *group, const char *key,
    char **out, GError **error)
{
	char *v;

	if (!kf_has_key(kf, group, key))
		return 0;
	v = g_key_file_get_value(kf->keyfile, group, key, NULL);
	if (v == NULL)
		return 0;
	g_free(*out);
	*out = g_strstrip(v);
	return 0;
}

int
kf_get_uint(const struct kf *kf, const char *group, const char *key,
    guint64 min, guint64 max, guint64 *out, GError **error)
{
	g_autofree char *v = NULL;
	guint64 n = 0;

	kf_get_raw(kf, group, key, &v, NULL);
	if (v == NULL)
		return 0;
	if (!g_ascii_string_to_unsigned(v, 10, min, max, &n, NULL)) {
		kf_set_error(kf, error, group, key,
		    "%s must be a whole number from %" G_GUINT64_FORMAT " to %"
		    G_GUINT64_FORMAT ", not '%s'", key, min, max, v);
		return -1;
	}
	*out = n;
	return 0;
}

int
kf_get_bool(const struct kf *kf, const char *group, const char *key,
    gboolean *out, GError **error)
{
	g_autofree char *v = NULL;

	kf_get_raw(kf, group, key, &v, NULL);
	if (v == NULL)
		return 0;
	if (g_ascii_strcasecmp(v, "true") == 0 || g_ascii_strcasecmp(v, "yes") == 0 ||
	    strcmp(v, "1") == 0) {
		*out = TRUE;
	} else if (g_ascii_strcasecmp(v, "false") == 0 ||
	    g_ascii_strcasecmp(v, "no") == 0 || strcmp(v, "0") == 0) {
		*out = FALSE;
	} else {
		kf_set_error(kf, error, group, key,
		    "%s must be true or false, not '%s'", key, v);
		return -1;
	}
	return 0;
}

int
kf_get_enum(const struct kf *kf, const char *group, const char *key,
    const char *const *names, int *out, GError **error)
{
	g_autofree char *v = NULL;
	g_autofree char *list = NULL;

	kf_get_raw(kf, group, key, &v, NULL);
	if (v == NULL)
		return 0;
	for (int i = 0; names[i] != NULL; i++) {
		if (g_ascii_strcasecmp(v, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	list = g_strjoinv(", ", (char **)names);
	kf_set_error(kf, error, group, key, "%s must be one of %s, not '%s'",
	    key, list, v);
	return -1;
}

int
kf_get_list(const struct kf *kf, const char *group, const char *key,
    char ***out, GError **error)
{
	g_autofree char *v = NULL;
	g_auto(GStrv) parts = NULL;
	GPtrArray *items;

	kf_get_raw(kf, group, key, &v, NULL);
	if (v == NULL)
		return 0;
	parts = g_strsplit(v, ";", -1);
	items = g_ptr_array_new();
	for (gsize i = 0; parts[i] != NULL; i++) {
		char *s = g_strstrip(parts[i]);
		if (*s != '\0')
			g_ptr_array_add(items, g_strdup(s));
	}
	g_ptr_array_add(items, NULL);
	g_strfreev(*out);
	*out = (char **)g_ptr_array_free(items, FALSE);
	return 0;
}
