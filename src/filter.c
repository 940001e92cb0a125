/*
 * filter.c - loads filters.d/NAME.conf and picks the filter that decides.
 *
 * Files are read in name order, groups in file order; the first filter
 * whose conditions all hold decides.  Every key is validated and every
 * pattern compiled at load time, so a broken file is reported as
 * file:line and never half-applied.
 *
 * Hostile input: the mail fields matched against (through regex.c, which
 * bounds every match).  Limits: FILTER_MAX_FILES files, FILTER_MAX
 * filters; templates expand to at most FILTER_EXPAND_MAX bytes.
 */
#include "autoconfig.h"

#include <string.h>

#include "filter.h"
#include "kf.h"
#include "util.h"

#define FILTER_MAX_FILES 1000
#define FILTER_MAX 10000
#define FILTER_EXPAND_MAX 1024

const char *const send_mode_names[] = { "auto", "code", "text", NULL };

static const char *const filter_keys[] = { "from", "to", "subject", "body",
	"require_auth", "code", "identifier", "task_id", "workflow_id",
	"workflow_run_id", "send", NULL };
static const char *const template_names[] = { "rcpt", "plus", "to", "from",
	"account", NULL };

static void
filter_free(gpointer p)
{
	struct filter *f = p;

	g_free(f->name);
	g_free(f->file);
	regex_free(&f->from);
	regex_free(&f->to);
	regex_free(&f->subject);
	regex_free(&f->body);
	regex_free(&f->code);
	g_free(f->identifier);
	g_free(f->task_id);
	g_free(f->workflow_id);
	g_free(f->workflow_run_id);
	g_free(f);
}

static struct filter_set *
filter_set_new(void)
{
	struct filter_set *set = g_new0(struct filter_set, 1);

	set->filters = g_ptr_array_new_with_free_func(filter_free);
	return set;
}

void
filter_set_free(struct filter_set **setp)
{
	if (*setp == NULL)
		return;
	g_ptr_array_unref((*setp)->filters);
	g_free(*setp);
	*setp = NULL;
}

struct filter_set *
filter_set_builtin(void)
{
	struct filter_set *set = filter_set_new();
	struct filter *f = g_new0(struct filter, 1);

	f->name = g_strdup("builtin");
	f->file = g_strdup("(built-in)");
	f->send_set = TRUE;
	f->send = SEND_CODE;
	f->identifier = g_strdup("${rcpt}");
	g_ptr_array_add(set->filters, f);
	set->builtin = TRUE;
	return set;
}

int
filter_template_check(const char *tmpl, const char **why)
{
	for (const char *p = tmpl; *p != '\0'; p++) {
		const char *close;
		gboolean known = FALSE;

		if (p[0] != '$' || p[1] != '{')
			continue;
		close = strchr(p + 2, '}');
		if (close == NULL) {
			*why = "'${' without a closing '}'";
			return -1;
		}
		for (gsize i = 0; template_names[i] != NULL; i++) {
			gsize n = strlen(template_names[i]);
			if ((gsize)(close - p - 2) == n &&
			    strncmp(p + 2, template_names[i], n) == 0)
				known = TRUE;
		}
		if (!known) {
			*why = "unknown variable (known: ${rcpt} ${plus} ${to} ${from} ${account})";
			return -1;
		}
		p = close;
	}
	return 0;
}

char *
filter_expand(const char *tmpl, const struct template_vars *vars)
{
	GString *out = g_string_new(NULL);

	for (const char *p = tmpl; *p != '\0' && out->len < FILTER_EXPAND_MAX; p++) {
		const char *close, *val = NULL;
		gsize n;

		if (p[0] != '$' || p[1] != '{' || (close = strchr(p + 2, '}')) == NULL) {
			g_string_append_c(out, *p);
			continue;
		}
		n = (gsize)(close - p - 2);
		if (n == 4 && strncmp(p + 2, "rcpt", 4) == 0)
			val = vars->rcpt;
		else if (n == 4 && strncmp(p + 2, "plus", 4) == 0)
			val = vars->plus;
		else if (n == 2 && strncmp(p + 2, "to", 2) == 0)
			val = vars->to;
		else if (n == 4 && strncmp(p + 2, "from", 4) == 0)
			val = vars->from;
		else if (n == 7 && strncmp(p + 2, "account", 7) == 0)
			val = vars->account;
		if (val != NULL)
			g_string_append(out, val);
		p = close;
	}
	if (out->len > FILTER_EXPAND_MAX)
		g_string_truncate(out, FILTER_EXPAND_MAX);
	/* Keep the result valid UTF-8 after a cut. */
	{
		const char *end = NULL;
		if (!g_utf8_validate(out->str, (gssize)out->len, &end))
			g_string_truncate(out, (gsize)(end - out->str));
	}
	return g_string_free(out, FALSE);
}

/* Compiles the pattern of key into *re, when the key is there. */
static int
filter_get_regex(const struct kf *kf, const char *group, const char *key,
    struct regex **re, GError **error)
{
	g_autofree char *pat = NULL;
	GError *err = NULL;

	kf_get_raw(kf, group, key, &pat, NULL);
	if (pat == NULL)
		return 0;
	if (*pat == '\0') {
		kf_set_error(kf, error, group, key, "%s: empty pattern", key);
		return -1;
	}
	*re = regex_new(pat, &err);
	if (*re == NULL) {
		kf_set_error(kf, error, group, key, "%s", err->message);
		g_error_free(err);
		return -1;
	}
	return 0;
}

/* Reads a template key into *out after checking its variables. */
static int
filter_get_template(const struct kf *kf, const char *group, const char *key,
    char **out, GError **error)
{
	const char *why = NULL;

	kf_get_raw(kf, group, key, out, NULL);
	if (*out == NULL)
		return 0;
	if (filter_template_check(*out, &why) < 0) {
		kf_set_error(kf, error, group, key, "%s: %s", key, why);
		return -1;
	}
	return 0;
}

/* Loads one group of a filter file as a filter. */
static int
filter_load_group(struct filter_set *set, const struct kf *kf, const char *group,
    GError **error)
{
	struct filter *f;
	g_autofree char *code = NULL;
	int e;

	for (guint i = 0; i < set->filters->len; i++) {
		struct filter *o = g_ptr_array_index(set->filters, i);
		if (strcmp(o->name, group) == 0) {
			kf_set_error(kf, error, group, NULL,
			    "filter [%s] is already defined at %s:%d", group,
			    o->file, o->line);
			return -1;
		}
	}
	if (kf_check_keys(kf, group, filter_keys, error) < 0)
		return -1;
	f = g_new0(struct filter, 1);
	g_ptr_array_add(set->filters, f);
	f->name = g_strdup(group);
	f->file = g_strdup(kf_path(kf));
	f->line = kf_line(kf, group, NULL);
	f->identifier = g_strdup("${rcpt}");
	if (filter_get_regex(kf, group, "from", &f->from, error) < 0 ||
	    filter_get_regex(kf, group, "to", &f->to, error) < 0 ||
	    filter_get_regex(kf, group, "subject", &f->subject, error) < 0 ||
	    filter_get_regex(kf, group, "body", &f->body, error) < 0)
		return -1;
	kf_get_raw(kf, group, "code", &code, NULL);
	if (code != NULL && g_ascii_strcasecmp(code, "auto") != 0 &&
	    filter_get_regex(kf, group, "code", &f->code, error) < 0)
		return -1;
	e = AUTH_NONE;
	if (kf_get_enum(kf, group, "require_auth", auth_req_names, &e, error) < 0)
		return -1;
	f->require_auth = (enum auth_req)e;
	f->send_set = kf_has_key(kf, group, "send");
	e = SEND_AUTO;
	if (kf_get_enum(kf, group, "send", send_mode_names, &e, error) < 0)
		return -1;
	f->send = (enum send_mode)e;
	if (filter_get_template(kf, group, "identifier", &f->identifier, error) < 0 ||
	    filter_get_template(kf, group, "task_id", &f->task_id, error) < 0 ||
	    filter_get_template(kf, group, "workflow_id", &f->workflow_id, error) < 0 ||
	    filter_get_template(kf, group, "workflow_run_id", &f->workflow_run_id, error) < 0)
		return -1;
	if (*f->identifier == '\0') {
		kf_set_error(kf, error, group, "identifier", "identifier must not be empty");
		return -1;
	}
	return 0;
}

static gint
filter_name_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
filter_set_load(const char *dir, gboolean must_exist,
    struct filter_set **set_r, GError **error)
{
	struct filter_set *set;
	GError *err = NULL;
	GDir *d;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	d = g_dir_open(dir, 0, &err);
	if (d == NULL) {
		if (!must_exist && g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_error_free(err);
			*set_r = filter_set_builtin();
			return 0;
		}
		g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
		    "%s: cannot read the filter directory: %s", dir, err->message);
		g_error_free(err);
		return -1;
	}
	while ((name = g_dir_read_name(d)) != NULL) {
		if (name[0] == '.' || !g_str_has_suffix(name, ".conf"))
			continue;
		if (names->len >= FILTER_MAX_FILES) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
			    "%s: more than %d filter files", dir, FILTER_MAX_FILES);
			g_dir_close(d);
			return -1;
		}
		g_ptr_array_add(names, g_strdup(name));
	}
	g_dir_close(d);
	g_ptr_array_sort(names, filter_name_cmp);

	set = filter_set_new();
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *path = g_build_filename(dir, g_ptr_array_index(names, i), NULL);
		struct kf *kf = NULL;
		char **groups;

		if (kf_load(path, &kf, error) < 0)
			goto fail;
		groups = kf_groups(kf);
		for (gsize g = 0; groups[g] != NULL; g++) {
			if (set->filters->len >= FILTER_MAX) {
				kf_set_error(kf, error, groups[g], NULL,
				    "more than %d filters", FILTER_MAX);
				kf_free(&kf);
				goto fail;
			}
			if (filter_load_group(set, kf, groups[g], error) < 0) {
				kf_free(&kf);
				goto fail;
			}
		}
		kf_free(&kf);
		set->files++;
	}
	if (set->filters->len == 0) {
		guint files = set->files;
		filter_set_free(&set);
		set = filter_set_builtin();
		set->files = files;
	}
	*set_r = set;
	return 0;
fail:
	filter_set_free(&set);
	return -1;
}

/* Does re match s (NULL counts as "")? */
static gboolean
filter_re(const struct regex *re, const char *s)
{
	if (s == NULL)
		s = "";
	return regex_match(re, s, strlen(s));
}

/* The "to" condition: the envelope recipient, else To/Cc/Delivered-To. */
static gboolean
filter_match_to(const struct regex *re, const struct match_input *in)
{
	if (in->rcpt != NULL)
		return filter_re(re, in->rcpt);
	for (guint i = 0; i < in->msg->to->len; i++)
		if (filter_re(re, g_ptr_array_index(in->msg->to, i)))
			return TRUE;
	for (guint i = 0; i < in->msg->delivered_to->len; i++)
		if (filter_re(re, g_ptr_array_index(in->msg->delivered_to, i)))
			return TRUE;
	return FALSE;
}

const struct filter *
filter_set_match(const struct filter_set *set, const struct match_input *in)
{
	for (guint i = 0; i < set->filters->len; i++) {
		const struct filter *f = g_ptr_array_index(set->filters, i);

		if (f->from != NULL && !filter_re(f->from, in->msg->from))
			continue;
		if (f->to != NULL && !filter_match_to(f->to, in))
			continue;
		if (f->subject != NULL && !filter_re(f->subject, in->msg->subject))
			continue;
		if (f->body != NULL && !filter_re(f->body, in->msg->text) &&
		    (in->msg->forwarded == NULL ||
		    !filter_re(f->body, in->msg->forwarded->text)))
			continue;
		return f;
	}
	return NULL;
}
