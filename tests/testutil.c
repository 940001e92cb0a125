/*
 * testutil.c - helpers shared by the unit tests (linked through
 * tests/libtestutil.a, never into the daemon).
 */
#include "autoconfig.h"

#include <glib.h>
#include <glib/gstdio.h>

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
