/*
 * test-corpus.c - the golden corpus: runs `otpbridge test --json` over
 * every tests/corpus/NNN-name.eml with tests/corpus/corpus.conf and
 * compares each line with NNN-name.json field by field.
 *
 * The binary is the one built ($OTPBRIDGE), so this checks the command
 * line, the config and filter loading, MIME, the detector and the JSON
 * output together, exactly as an operator runs them.
 */
#include "autoconfig.h"

#include <string.h>
#include <json-glib/json-glib.h>

/* The corpus promised by doc/core.md: at least this many cases. */
#define CORPUS_MIN 300

static GHashTable *results;   /* basename -> JsonObject * (owned by nodes) */
static GPtrArray *nodes;      /* JsonNode *, keep results alive */
static char *corpus_dir;
static int run_status;        /* wait status of the otpbridge run */

/* Compact JSON of a node, for comparing objects key order included. */
static char *
to_json(JsonNode *n)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();

	json_generator_set_root(gen, n);
	return json_generator_to_data(gen, NULL);
}

static JsonNode *
parse_json(const char *text, GError **error)
{
	g_autoptr(JsonParser) p = json_parser_new();

	if (!json_parser_load_from_data(p, text, -1, error))
		return NULL;
	return json_node_copy(json_parser_get_root(p));
}

static void
test_case(gconstpointer data)
{
	const char *name = data;
	g_autofree char *jpath = g_strdup_printf("%s/%s.json", corpus_dir, name);
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonNode) want = NULL;
	JsonObject *got, *w;
	const char *const fields[] = { "forward", "filter", "reason", "code", "push", NULL };

	g_assert_true(g_file_get_contents(jpath, &text, NULL, &err));
	want = parse_json(text, &err);
	g_assert_no_error(err);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(want));
	w = json_node_get_object(want);
	got = g_hash_table_lookup(results, name);
	if (got == NULL) {
		/* Assertions are non-fatal here: stop before reading NULL. */
		g_test_fail_printf("%s: no output line from otpbridge test", name);
		return;
	}
	for (int i = 0; fields[i] != NULL; i++) {
		JsonNode *wn = json_object_get_member(w, fields[i]);
		JsonNode *gn = json_object_get_member(got, fields[i]);
		g_autofree char *ws = NULL, *gs = NULL;

		if (wn == NULL || gn == NULL) {
			g_test_fail_printf("%s: \"%s\" missing from %s", name, fields[i],
			    wn == NULL ? "its .json" : "the output");
			continue;
		}
		ws = to_json(wn);
		gs = to_json(gn);
		if (strcmp(ws, gs) != 0)
			g_test_message("%s: %s: want %s, got %s", name, fields[i], ws, gs);
		g_assert_cmpstr(gs, ==, ws);
	}
}

/* Every .eml has its .json, the corpus is as large as promised, and the
 * command that read it succeeded (a file it could not read fails it). */
static void
test_complete(gconstpointer data)
{
	const GPtrArray *names = data;
	g_autoptr(GError) err = NULL;

	if (!g_spawn_check_wait_status(run_status, &err))
		g_test_fail_printf("otpbridge test --json: %s", err->message);
	g_assert_no_error(err);

	for (guint i = 0; i < names->len; i++) {
		g_autofree char *j = g_strdup_printf("%s/%s.json", corpus_dir,
		    (char *)g_ptr_array_index(names, i));
		if (!g_file_test(j, G_FILE_TEST_EXISTS))
			g_test_fail_printf("%s is missing", j);
	}
	g_assert_cmpuint(names->len, >=, CORPUS_MIN);
}

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs otpbridge once over all files and indexes its lines by basename. */
static void
run_corpus(const GPtrArray *names)
{
	const char *bin = g_getenv("OTPBRIDGE");
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *out = NULL, *errout = NULL;
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) lines = NULL;
	int status = 0;

	g_ptr_array_add(argv, g_strdup(bin != NULL ? bin : "./otpbridge"));
	g_ptr_array_add(argv, g_strdup("-c"));
	g_ptr_array_add(argv, g_strdup_printf("%s/corpus.conf", corpus_dir));
	g_ptr_array_add(argv, g_strdup("test"));
	g_ptr_array_add(argv, g_strdup("--json"));
	for (guint i = 0; i < names->len; i++)
		g_ptr_array_add(argv, g_strdup_printf("%s/%s.eml", corpus_dir,
		    (char *)g_ptr_array_index(names, i)));
	g_ptr_array_add(argv, NULL);
	if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL,
	    NULL, &out, &errout, &status, &err))
		g_error("cannot run %s: %s", bin, err->message);
	if (errout != NULL && *errout != '\0')
		g_printerr("%s", errout);
	run_status = status;
	lines = g_strsplit(out, "\n", -1);
	for (gsize i = 0; lines[i] != NULL; i++) {
		JsonNode *n;
		const char *file;
		g_autofree char *base = NULL;

		if (*lines[i] == '\0')
			continue;
		n = parse_json(lines[i], NULL);
		if (n == NULL || !JSON_NODE_HOLDS_OBJECT(n)) {
			g_printerr("not JSON: %s\n", lines[i]);
			if (n != NULL)
				json_node_unref(n);
			continue;
		}
		g_ptr_array_add(nodes, n);
		file = json_object_get_string_member(json_node_get_object(n), "file");
		base = g_path_get_basename(file);
		if (g_str_has_suffix(base, ".eml"))
			base[strlen(base) - 4] = '\0';
		g_hash_table_insert(results, g_steal_pointer(&base),
		    json_node_get_object(n));
	}
}

int
main(int argc, char **argv)
{
	const char *srcdir = g_getenv("top_srcdir");
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	GDir *d;
	const char *n;
	int rc;

	g_test_init(&argc, &argv, NULL);
	/* Report every field of every case, not just the first failure. */
	g_test_set_nonfatal_assertions();
	corpus_dir = g_build_filename(srcdir != NULL ? srcdir : ".", "tests", "corpus", NULL);
	d = g_dir_open(corpus_dir, 0, NULL);
	g_assert_nonnull(d);
	while ((n = g_dir_read_name(d)) != NULL)
		if (g_str_has_suffix(n, ".eml"))
			g_ptr_array_add(names, g_strndup(n, strlen(n) - 4));
	g_dir_close(d);
	g_ptr_array_sort(names, cmp_str);

	results = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	nodes = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	run_corpus(names);

	g_test_add_data_func("/corpus/complete", names, test_complete);
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *path = g_strdup_printf("/corpus/%s",
		    (char *)g_ptr_array_index(names, i));
		g_test_add_data_func(path, g_ptr_array_index(names, i), test_case);
	}
	rc = g_test_run();
	g_hash_table_unref(results);
	g_ptr_array_unref(nodes);
	g_free(corpus_dir);
	return rc;
}
