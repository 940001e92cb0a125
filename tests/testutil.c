/*
 * testutil.c - helpers shared by the unit tests (linked through
 * tests/libtestutil.a, never into the daemon): recursive removal, the
 * proxy variables, temporary directories, the file writer and the
 * registration of table rows, the log capture.  Test-only: every failure
 * is an assertion.
 */
#include "autoconfig.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "store.h"
#include "testutil.h"

void
testutil_rm_rf(const char *path)
{
	GDir *d;
	const char *name;

	if (g_file_test(path, G_FILE_TEST_IS_SYMLINK) ||
	    (d = g_dir_open(path, 0, NULL)) == NULL) {
		g_unlink(path);
		return;
	}
	while ((name = g_dir_read_name(d)) != NULL) {
		g_autofree char *child = g_build_filename(path, name, NULL);
		testutil_rm_rf(child);
	}
	g_dir_close(d);
	g_rmdir(path);
}

void
testutil_no_proxy(void)
{
	static const char *const vars[] = {
		"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
		"all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(vars); i++)
		g_unsetenv(vars[i]);
}

char *
testutil_tmpdir_new(const char *prefix)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix);
	char *dir = g_dir_make_tmp(tmpl, &err);

	g_assert_no_error(err);
	g_assert_nonnull(dir);
	return dir;
}

void
testutil_tmpdir_free(char **dir)
{
	if (*dir == NULL)
		return;
	testutil_rm_rf(*dir);
	g_clear_pointer(dir, g_free);
}

/* g_test_queue_destroy's callback: removes and frees the test's dir. */
static void
test_tmpdir_done(gpointer dir)
{
	char *d = dir;

	testutil_tmpdir_free(&d);
}

const char *
testutil_test_tmpdir(const char *prefix)
{
	char *dir = testutil_tmpdir_new(prefix);

	g_test_queue_destroy(test_tmpdir_done, dir);
	return dir;
}

void
testutil_write_file(const char *path, const char *data, gssize len, int mode)
{
	g_autoptr(GError) err = NULL;

	g_assert_true(g_file_set_contents(path, data, len, &err));
	g_assert_no_error(err);
	if (mode >= 0)
		g_assert_cmpint(g_chmod(path, mode), ==, 0);
}

char *
testutil_write_in(const char *dir, const char *name, const char *data, gssize len,
    int mode)
{
	char *path = g_build_filename(dir, name, NULL);

	testutil_write_file(path, data, len, mode);
	return path;
}

void
testutil_add_rows(const char *prefix, gconstpointer rows, gsize n, gsize stride,
    gsize name_offset, testutil_row_name name, GTestDataFunc fn)
{
	const char *base = rows;

	for (gsize i = 0; i < n; i++) {
		const char *row = base + i * stride;
		g_autofree char *own = name != NULL ? name(i, row) : NULL;
		const char *suffix = own != NULL ? own :
		    *(const char *const *)(gconstpointer)(row + name_offset);
		g_autofree char *path = g_strdup_printf("%s/%s", prefix, suffix);

		g_test_add_data_func(path, row, fn);
	}
}

/* ---- log capture ---- */

static GMutex log_lock;
static GString *log_text;

static GLogWriterOutput
testutil_log_writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
	for (gsize i = 0; i < n; i++) {
		if (strcmp(fields[i].key, "MESSAGE") == 0 && fields[i].length < 0) {
			g_mutex_lock(&log_lock);
			g_string_append(log_text, fields[i].value);
			g_string_append_c(log_text, '\n');
			g_mutex_unlock(&log_lock);
		}
	}
	if (g_test_verbose() || (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL |
	    G_LOG_LEVEL_ERROR)) != 0)
		return g_log_writer_standard_streams(level, fields, n, data);
	return G_LOG_WRITER_HANDLED;
}

void
testutil_log_capture(void)
{
	g_mutex_lock(&log_lock);
	if (log_text == NULL)
		log_text = g_string_new(NULL);
	g_mutex_unlock(&log_lock);
	g_log_set_writer_func(testutil_log_writer, NULL, NULL);
}

char *
testutil_log_text(void)
{
	char *s;

	g_mutex_lock(&log_lock);
	s = g_strdup(log_text != NULL ? log_text->str : "");
	g_mutex_unlock(&log_lock);
	return s;
}

guint
testutil_log_count(const char *needle)
{
	g_autofree char *text = testutil_log_text();
	guint n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

void
testutil_log_clear(void)
{
	g_mutex_lock(&log_lock);
	if (log_text != NULL)
		g_string_truncate(log_text, 0);
	g_mutex_unlock(&log_lock);
}

/* ---- the store ---- */

struct job *
testutil_store_job(struct store *st, gint64 id, GPtrArray **keep)
{
	g_autoptr(GError) err = NULL;

	*keep = g_ptr_array_new_with_free_func(job_free);
	g_assert_cmpint(store_list(st, 100000, *keep, &err), ==, 0);
	g_assert_no_error(err);
	for (guint i = 0; i < (*keep)->len; i++) {
		struct job *j = (*keep)->pdata[i];

		if (j->id == id)
			return j;
	}
	return NULL;
}
