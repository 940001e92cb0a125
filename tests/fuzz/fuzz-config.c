/*
 * fuzz-config.c - libFuzzer target for otpbridge.conf and filters.d files.
 *
 * The input is split at the first "\n====\n": the part before is written
 * as otpbridge.conf and loaded with config_load(path, TRUE, ...); the part
 * after is written as filters.d/fuzz.conf and loaded with
 * filter_set_load().  Without a separator the whole input is used as both,
 * so every input exercises both loaders.  One temporary directory is made
 * at start-up and reused; every loaded object is freed each run.
 *
 * Hostile input: the file contents (key-file syntax, patterns, templates,
 * listen addresses, numbers).  Paths named in the input are only read or
 * checked for access (secret files, CA files), never written.  Inputs
 * above FUZZ_MAX_INPUT are skipped.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "config.h"
#include "filter.h"

#define FUZZ_MAX_INPUT (256 * 1024)
#define FUZZ_SEP "\n====\n"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fuzz_conf_path;    /* <tmp>/otpbridge.conf */
static char *fuzz_filters_dir;  /* <tmp>/filters.d */
static char *fuzz_filter_path;  /* <tmp>/filters.d/fuzz.conf */
static char *fuzz_key_path;     /* <tmp>/api-key */
static char *fuzz_dir;          /* <tmp> */

/* Removes the temporary directory when libFuzzer exits normally. */
static void
fuzz_cleanup(void)
{
	g_unlink(fuzz_filter_path);
	g_rmdir(fuzz_filters_dir);
	g_unlink(fuzz_conf_path);
	g_unlink(fuzz_key_path);
	g_rmdir(fuzz_dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	GError *err = NULL;

	(void)argc;
	(void)argv;
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	/* A secret from the environment would make runs depend on the caller. */
	g_unsetenv("OTPBRIDGE_API_KEY");
	fuzz_dir = g_dir_make_tmp("fuzz-config-XXXXXX", &err);
	if (fuzz_dir == NULL)
		g_error("fuzz-config: temp dir: %s", err->message);
	fuzz_conf_path = g_build_filename(fuzz_dir, "otpbridge.conf", NULL);
	fuzz_filters_dir = g_build_filename(fuzz_dir, "filters.d", NULL);
	fuzz_filter_path = g_build_filename(fuzz_filters_dir, "fuzz.conf", NULL);
	fuzz_key_path = g_build_filename(fuzz_dir, "api-key", NULL);
	if (g_mkdir(fuzz_filters_dir, 0700) != 0)
		g_error("fuzz-config: mkdir %s failed", fuzz_filters_dir);
	/* A secret file that relative paths in the input ("api-key") can name. */
	if (!g_file_set_contents(fuzz_key_path, "fuzz-secret\n", -1, &err))
		g_error("fuzz-config: %s", err->message);
	/* 0600: config.c refuses a secret file others can read. */
	if (g_chmod(fuzz_key_path, 0600) != 0)
		g_error("fuzz-config: chmod %s failed", fuzz_key_path);
	atexit(fuzz_cleanup);
	return 0;
}

/* Writes len bytes to path; aborts when the temp dir is unusable. */
static void
fuzz_write(const char *path, const char *data, size_t len)
{
	GError *err = NULL;

	if (!g_file_set_contents(path, data, (gssize)len, &err))
		g_error("fuzz-config: %s: %s", path, err->message);
}

static void
fuzz_config(const char *data, size_t len)
{
	struct config *cfg = NULL;
	GError *err = NULL;

	fuzz_write(fuzz_conf_path, data, len);
	if (config_load(fuzz_conf_path, TRUE, &cfg, &err) == 0) {
		if (cfg == NULL || err != NULL || cfg->trusted_authserv_id == NULL)
			abort();
		config_free(&cfg);
		if (cfg != NULL)
			abort();  /* free functions NULL the pointer */
	} else {
		if (err == NULL || err->message == NULL)
			abort();  /* -1 always explains */
		g_clear_error(&err);
	}
}

static void
fuzz_filters(const char *data, size_t len)
{
	struct filter_set *set = NULL;
	GError *err = NULL;

	fuzz_write(fuzz_filter_path, data, len);
	if (filter_set_load(fuzz_filters_dir, TRUE, &set, &err) == 0) {
		if (set == NULL || err != NULL || set->filters->len == 0)
			abort();
		/* Templates that loaded must expand without surprises. */
		for (guint i = 0; i < set->filters->len; i++) {
			const struct filter *f = g_ptr_array_index(set->filters, i);
			const struct template_vars vars = { "bot+t1@otp.example.com",
				"t1", "bot@otp.example.com", "noreply@example.org", "work" };
			const char *why = NULL;
			char *s;

			if (f->identifier == NULL ||
			    filter_template_check(f->identifier, &why) < 0)
				abort();
			s = filter_expand(f->identifier, &vars);
			if (!g_utf8_validate(s, -1, NULL))
				abort();
			g_free(s);
		}
		filter_set_free(&set);
	} else {
		if (err == NULL || err->message == NULL)
			abort();
		g_clear_error(&err);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	const char *sep;

	if (size > FUZZ_MAX_INPUT)
		return -1;
	sep = size >= strlen(FUZZ_SEP) ?
	    g_strstr_len(s, (gssize)size, FUZZ_SEP) : NULL;
	/* g_strstr_len stops at a NUL; that only moves the split. */
	if (sep != NULL) {
		size_t head = (size_t)(sep - s) + 1;        /* keep its newline */
		size_t tail = head + strlen(FUZZ_SEP) - 1;

		fuzz_config(s, head);
		fuzz_filters(s + tail, size - tail);
	} else {
		fuzz_config(s, size);
		fuzz_filters(s, size);
	}
	return 0;
}
