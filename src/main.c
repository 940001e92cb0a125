/*
 * main.c - the otpbridge command line (SPEC 2): option parsing and the
 * subcommands check and test.  Everything else lives in the library.
 *
 * Exit codes follow sysexits.h: 64 usage, 65 bad input data, 66 input
 * missing, 78 configuration error.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "filter.h"
#include "json.h"
#include "log.h"
#include "message.h"
#include "mime.h"
#include "util.h"

#define DEFAULT_CONFIG SYSCONFDIR "/otpbridge/otpbridge.conf"

struct main_opts {
	char *config;       /* -c FILE, NULL: the default path */
	gboolean verbose;
	gboolean version;
	char *rcpt;         /* test/deliver --rcpt */
	gboolean json;      /* test --json */
};

static const char main_summary[] =
	"Commands:\n"
	"  run                      the daemon, in the foreground\n"
	"  check                    load the config and every filter, report the first error\n"
	"  test [--rcpt A] [--json] FILE...  show what each message would push\n"
	"  deliver [--rcpt A]       one message on stdin, as an MDA\n"
	"  queue [list|retry ID|drop ID]  the durable push queue";

static void
main_usage(void)
{
	fprintf(stderr,
	    "usage: otpbridge [-c FILE] [-v] COMMAND [ARGS]\n%s\n"
	    "Try 'otpbridge --help' for more.\n", main_summary);
}

/* Parses argv with entries plus the common -c/-v; exits 64 on bad usage. */
static void
main_parse(struct main_opts *o, const char *params, const GOptionEntry *extra,
    int *argc, char ***argv, gboolean strict)
{
	const GOptionEntry common[] = {
		{ "config", 'c', 0, G_OPTION_ARG_FILENAME, &o->config,
		  "configuration file (default " DEFAULT_CONFIG ")", "FILE" },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &o->verbose,
		  "more log detail", NULL },
		{ NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new(params);
	GError *err = NULL;

	g_option_context_add_main_entries(ctx, common, NULL);
	if (extra != NULL)
		g_option_context_add_main_entries(ctx, extra, NULL);
	g_option_context_set_strict_posix(ctx, strict);
	if (strict)
		g_option_context_set_summary(ctx, main_summary);
	if (!g_option_context_parse(ctx, argc, argv, &err)) {
		fprintf(stderr, "otpbridge: %s\n", err->message);
		g_error_free(err);
		main_usage();
		exit(EXIT_USAGE);
	}
}

/* Loads the config and filters; on error prints file:line and returns -1. */
static int
main_load(const struct main_opts *o, struct config **cfg, struct filter_set **set)
{
	GError *err = NULL;
	const char *path = o->config != NULL ? o->config : DEFAULT_CONFIG;

	if (config_load(path, o->config != NULL, cfg, &err) < 0 ||
	    filter_set_load((*cfg)->filters_dir, (*cfg)->filters_dir_set, set, &err) < 0) {
		fprintf(stderr, "%s\n", err->message);
		g_error_free(err);
		config_free(cfg);
		return -1;
	}
	return 0;
}

/* Warns about a setup that can never forward what the filters ask for. */
static void
main_warn_auth(const struct config *cfg, const struct filter_set *set)
{
	if (cfg->trusted_authserv_id[0] != NULL)
		return;
	for (guint i = 0; i < set->filters->len; i++) {
		const struct filter *f = g_ptr_array_index(set->filters, i);
		if (f->require_auth != AUTH_NONE) {
			fprintf(stderr, "%s:%d: warning: filter [%s] requires %s but "
			    "[auth] trusted_authserv_id is empty, so it can never pass\n",
			    f->file, f->line, f->name, auth_req_names[f->require_auth]);
			return;
		}
	}
}

static int
cmd_check(struct main_opts *o)
{
	struct config *cfg = NULL;
	struct filter_set *set = NULL;

	if (main_load(o, &cfg, &set) < 0)
		return EXIT_CONFIG;
	main_warn_auth(cfg, set);
	printf("%s: ok: %u filter%s%s from %u file%s, %u IMAP account%s, "
	    "lmtp %u listener%s, smtp %u, http %u, push %s\n",
	    cfg->path != NULL ? cfg->path : "(built-in defaults)",
	    set->filters->len, set->filters->len == 1 ? "" : "s",
	    set->builtin ? " (built-in)" : "", set->files,
	    set->files == 1 ? "" : "s", cfg->imap->len,
	    cfg->imap->len == 1 ? "" : "s", cfg->lmtp.listen->len,
	    cfg->lmtp.listen->len == 1 ? "" : "s", cfg->smtp.listen->len,
	    cfg->http.listen->len,
	    cfg->push.api_key != NULL && *cfg->push.url != '\0' ? cfg->push.url :
	    "dry-run (no API key or URL)");
	filter_set_free(&set);
	config_free(&cfg);
	return 0;
}

/* Prints one verdict as a human reads it. */
static void
main_print_verdict(const char *file, const struct verdict *v)
{
	printf("%s: %s filter=%s reason=%s", file, v->forward ? "forward" : "drop",
	    v->filter != NULL ? v->filter : "-", v->reason);
	if (v->detail != NULL)
		printf(" (%s)", v->detail);
	if (v->code != NULL)
		printf(" code=%s", v->code);
	printf("\n");
	if (v->forward) {
		g_autofree char *body = json_push_body(&v->push);
		printf("  push: %s\n", body);
	}
}

static int
cmd_test(struct main_opts *o, int argc, char **argv)
{
	struct config *cfg = NULL;
	struct filter_set *set = NULL;
	struct core_options copt;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "otpbridge: test needs at least one FILE (or - for stdin)\n");
		main_usage();
		return EXIT_USAGE;
	}
	if (main_load(o, &cfg, &set) < 0)
		return EXIT_CONFIG;
	mime_init();
	copt.trusted_authserv_id = cfg->trusted_authserv_id;
	copt.default_send = cfg->push.send;
	for (int i = 1; i < argc; i++) {
		const char *file = argv[i];
		char *data = NULL;
		gsize len = 0;
		GError *err = NULL;
		struct message *msg = NULL;
		struct envelope env = { o->rcpt, NULL, NULL };
		struct verdict v;

		if (util_read_file(file, cfg->lmtp.max_size, &data, &len, &err) < 0 ||
		    mime_parse(data, len, &msg, &err) < 0) {
			fprintf(stderr, "otpbridge: %s%s\n", err->message,
			    g_error_matches(err, OTPB_ERROR, OTPB_ERROR_DATA) &&
			    strstr(err->message, "limit") != NULL ?
			    " ([lmtp] max_size)" : "");
			if (g_error_matches(err, OTPB_ERROR, OTPB_ERROR_IO))
				rc = EXIT_NOINPUT;
			else if (rc == 0)
				rc = EXIT_DATAERR;
			g_error_free(err);
			g_free(data);
			continue;
		}
		core_decide(set, &copt, msg, &env, &v);
		if (o->json) {
			g_autofree char *line = json_test_line(file, &v);
			printf("%s\n", line);
		} else {
			main_print_verdict(file, &v);
		}
		verdict_clear(&v);
		message_free(&msg);
		g_free(data);
	}
	fflush(stdout);
	filter_set_free(&set);
	config_free(&cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	struct main_opts o = { 0 };
	const GOptionEntry top[] = {
		{ "version", 0, 0, G_OPTION_ARG_NONE, &o.version,
		  "print the version and exit", NULL },
		{ NULL }
	};
	const GOptionEntry test_opts[] = {
		{ "rcpt", 0, 0, G_OPTION_ARG_STRING, &o.rcpt,
		  "envelope recipient (default: the first To address)", "ADDR" },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &o.json,
		  "one JSON object per file", NULL },
		{ NULL }
	};
	const char *cmd;
	int rc;

	main_parse(&o, "COMMAND [ARGS]", top, &argc, &argv, TRUE);
	if (o.version) {
		printf("otpbridge %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (argc < 2) {
		main_usage();
		return EXIT_USAGE;
	}
	cmd = argv[1];
	argc--;
	argv++;
	if (strcmp(cmd, "check") == 0) {
		main_parse(&o, "", NULL, &argc, &argv, FALSE);
		if (argc > 1) {
			main_usage();
			return EXIT_USAGE;
		}
		log_init(o.verbose);
		rc = cmd_check(&o);
	} else if (strcmp(cmd, "test") == 0) {
		main_parse(&o, "FILE...", test_opts, &argc, &argv, FALSE);
		log_init(o.verbose);
		rc = cmd_test(&o, argc, argv);
	} else if (strcmp(cmd, "run") == 0 || strcmp(cmd, "deliver") == 0 ||
	    strcmp(cmd, "queue") == 0) {
		fprintf(stderr, "otpbridge: '%s' is not part of this build yet "
		    "(the store and push client come next)\n", cmd);
		rc = 69; /* EX_UNAVAILABLE */
	} else {
		fprintf(stderr, "otpbridge: unknown command '%s'\n", cmd);
		main_usage();
		rc = EXIT_USAGE;
	}
	g_free(o.config);
	g_free(o.rcpt);
	return rc;
}
