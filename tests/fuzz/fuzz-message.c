/*
 * fuzz-message.c - libFuzzer target for everything a hostile mail reaches.
 *
 * Each input is one raw message.  It goes through mime_parse() and then
 * core_decide() twice: with the built-in filter set (code = auto, the
 * detector) and with a small set of custom filters (conditions, named and
 * numbered code groups, templates, require_auth, send modes) written to a
 * temporary directory once at start-up.  Both verdicts are rendered with
 * json_test_line().  The raw bytes, made valid UTF-8, also go straight to
 * html_to_text() and detect_code(), so the HTML converter and the detector
 * are fuzzed without GMime in front of them.
 *
 * Hostile input: the whole of the fuzzer's bytes.  Limits: the library's
 * own (MIME_TEXT_MAX, PCRE2 limits); inputs above FUZZ_MAX_INPUT are
 * skipped so a run explores structure rather than size.
 */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "core.h"
#include "detect.h"
#include "filter.h"
#include "html.h"
#include "json.h"
#include "message.h"
#include "mime.h"

#define FUZZ_MAX_INPUT (1024 * 1024)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loaded once; live for the whole process (reachable, so not a leak). */
static struct filter_set *fuzz_builtin;
static struct filter_set *fuzz_custom;

/*
 * Custom filters: every key a filter file knows, so the custom code paths
 * (regex_extract with group "code", group 1, whole match; templates;
 * require_auth; send = text/auto/code) run on fuzzed messages.  The first
 * selected filter decides, so the conditions spread inputs over them.
 */
static const char fuzz_filters_a[] =
	"# named group, templates with every variable\n"
	"[named]\n"
	"subject = code|verif|sign.?in|anmeld|c\xc3\xb3" "digo|\xe9\xaa\x8c\xe8\xaf\x81\n"
	"code = (?<code>\\b\\d{3}[ -]?\\d{3}\\b)\n"
	"identifier = ${plus}-${rcpt}\n"
	"task_id = ${plus}\n"
	"workflow_id = ${from}/${account}\n"
	"workflow_run_id = ${to}\n"
	"send = code\n"
	"\n"
	"[group1]\n"
	"from = @(github|google|example)\\.(com|org|net)$\n"
	"to = ^bot\\+\n"
	"code = (?:code|pin)\\W{0,3}([A-Z0-9-]{4,12})\n"
	"require_auth = dkim\n"
	"send = auto\n";

static const char fuzz_filters_b[] =
	"[whole-match]\n"
	"body = \\d{4,}\n"
	"code = [0-9]{4,8}\n"
	"require_auth = dmarc\n"
	"identifier = ${to}\n"
	"\n"
	"[spf-text]\n"
	"from = .\n"
	"require_auth = spf\n"
	"send = text\n"
	"identifier = ${from}\n"
	"\n"
	"[catch-all]\n"
	"code = auto\n"
	"send = auto\n"
	"identifier = ${rcpt}\n";

/* Writes one file or aborts: the harness cannot run without it. */
static void
fuzz_write(const char *dir, const char *name, const char *text)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	GError *err = NULL;

	if (!g_file_set_contents(path, text, -1, &err))
		g_error("fuzz-message: %s: %s", path, err->message);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	GError *err = NULL;
	g_autofree char *dir = NULL;

	(void)argc;
	(void)argv;
	/* A critical is a broken contract inside the library: make it a crash. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	mime_init();

	fuzz_builtin = filter_set_builtin();
	dir = g_dir_make_tmp("fuzz-message-XXXXXX", &err);
	if (dir == NULL)
		g_error("fuzz-message: temp dir: %s", err->message);
	fuzz_write(dir, "10-a.conf", fuzz_filters_a);
	fuzz_write(dir, "20-b.conf", fuzz_filters_b);
	if (filter_set_load(dir, TRUE, &fuzz_custom, &err) < 0)
		g_error("fuzz-message: filters: %s", err->message);
	if (fuzz_custom->builtin || fuzz_custom->filters->len != 5)
		g_error("fuzz-message: expected 5 custom filters, got %u",
		    fuzz_custom->filters->len);
	/* The set is compiled; the files are no longer needed. */
	{
		g_autofree char *a = g_build_filename(dir, "10-a.conf", NULL);
		g_autofree char *b = g_build_filename(dir, "20-b.conf", NULL);
		g_unlink(a);
		g_unlink(b);
		g_rmdir(dir);
	}
	return 0;
}

/* Decides msg with set and renders the verdict as a test line. */
static void
fuzz_decide(const struct filter_set *set, const struct message *msg,
    const struct envelope *env)
{
	static char *const trusted[] = { "mx.example.net", "mx.google.com", NULL };
	const struct core_options opt = { trusted, SEND_AUTO, FALSE };
	struct verdict v;
	char *line;

	core_decide(set, &opt, msg, env, &v);
	if (v.reason == NULL)
		abort();          /* every verdict has a reason */
	if (v.forward && (v.push.identifier == NULL || v.push.content == NULL))
		abort();          /* a forwarded verdict has something to push */
	line = json_test_line("fuzz.eml", &v);
	g_free(line);
	verdict_clear(&v);
}

/* The raw bytes as UTF-8 through the HTML converter and the detector. */
static void
fuzz_raw(const uint8_t *data, size_t size)
{
	g_autofree char *valid = g_utf8_make_valid((const char *)data, (gssize)size);
	GPtrArray *links = g_ptr_array_new_with_free_func(link_free);
	g_autofree char *text = NULL;
	g_autofree char *subject = NULL;
	const char *nl;
	struct detection d = { DETECT_NONE, NULL };

	text = html_to_text(valid, strlen(valid), 64 * 1024, links);
	if (!g_utf8_validate(text, -1, NULL))
		abort();
	for (guint i = 0; i < links->len; i++) {
		const struct link *l = g_ptr_array_index(links, i);
		if (l->url == NULL || !g_utf8_validate(l->url, -1, NULL) ||
		    (l->text != NULL && !g_utf8_validate(l->text, -1, NULL)))
			abort();
	}

	/* First line as the subject, the rest as the text. */
	nl = strchr(valid, '\n');
	subject = nl != NULL ? g_strndup(valid, (gsize)(nl - valid)) : g_strdup(valid);
	detect_code(subject, nl != NULL ? nl + 1 : "", links, &d);
	if ((d.kind == DETECT_NONE) != (d.value == NULL))
		abort();
	detection_clear(&d);
	/* And the converted HTML as the detector sees it after mime.c. */
	detect_code("", text, links, &d);
	detection_clear(&d);
	g_ptr_array_unref(links);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct message *msg = NULL;
	GError *err = NULL;

	if (size > FUZZ_MAX_INPUT)
		return -1;       /* keep it out of the corpus */

	if (mime_parse((const char *)data, size, &msg, &err) == 0) {
		const struct envelope env_rcpt = { "bot+task-7@otp.example.com", NULL, NULL,
			NULL };
		const struct envelope env_imap = { NULL, "work", NULL, NULL };

		if (msg == NULL || msg->subject == NULL || msg->text == NULL ||
		    !g_utf8_validate(msg->subject, -1, NULL) ||
		    !g_utf8_validate(msg->text, -1, NULL))
			abort();  /* message.h: every string is valid UTF-8 */
		if (msg->forwarded != NULL &&
		    (msg->forwarded->forwarded != NULL ||
		    !g_utf8_validate(msg->forwarded->subject, -1, NULL) ||
		    !g_utf8_validate(msg->forwarded->text, -1, NULL)))
			abort();  /* one forwarded level, valid UTF-8 */
		fuzz_decide(fuzz_builtin, msg, &env_rcpt);
		fuzz_decide(fuzz_custom, msg, &env_rcpt);
		fuzz_decide(fuzz_custom, msg, &env_imap);
		message_free(&msg);
	} else {
		if (err == NULL || msg != NULL)
			abort();  /* -1 comes with an error and no message */
		g_clear_error(&err);
	}

	fuzz_raw(data, size);
	return 0;
}
