/*
 * main.c - the otpbridge command line (SPEC 2): option parsing and the
 * subcommands.  The work lives in the library (daemon.c, mda.c, store.c).
 *
 * Exit codes follow sysexits.h: 64 usage, 65 bad input data, 66 input
 * missing, 78 configuration error.
 */
#include "autoconfig.h"

#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "daemon.h"
#include "filter.h"
#include "intake.h"
#include "json.h"
#include "log.h"
#include "mda.h"
#include "message.h"
#include "mime.h"
#include "status.h"
#include "onboard.h"
#include "store.h"
#include "util.h"

#define DEFAULT_CONFIG SYSCONFDIR "/otpbridge/otpbridge.conf"

struct main_opts {
	char *config;       /* -c FILE, NULL: the default path */
	gboolean verbose;
	gboolean version;
	char *rcpt;         /* test/deliver --rcpt, raw bytes (main_rcpt_utf8) */
	gboolean json;      /* test --json, queue --json */
};

static const char main_summary[] =
	"Commands:\n"
	"  run                      the daemon, in the foreground\n"
	"  check                    load the config and every filter, report the first error\n"
	"  test [--rcpt A] [--json] FILE...  show what each message would push\n"
	"  deliver [--rcpt A]       one message on stdin, as an MDA\n"
	"  queue [list|retry ID|drop ID]  the durable push queue\n"
	"  status [--json]          listeners, endpoint, queue, IMAP accounts, last deliveries\n"
	"  oauth [--wait S] [--port N] ACCOUNT  obtain [imap:ACCOUNT]'s refresh token";

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

/*
 * --rcpt as UTF-8 whatever the locale (the option is taken as raw bytes:
 * GLib's string conversion refuses UTF-8 under LC_ALL=C).  Bytes that are
 * UTF-8 are taken as they are - an MTA passes the recipient so, whatever
 * its locale - and other bytes are read in the charset of the locale the
 * environment names (a Latin-1 terminal), without switching the
 * process's own locale.  Replaces o->rcpt; -1 and a message on stderr
 * when neither reads it, or it is no valid address text.
 */
static int
main_rcpt_utf8(struct main_opts *o)
{
	g_autofree char *utf8 = NULL;
	g_autofree char *norm = NULL;
	g_autoptr(GError) err = NULL;
	const char *cs = "ANSI_X3.4-1968";
	locale_t loc;

	if (o->rcpt == NULL)
		return 0;
	loc = newlocale(LC_CTYPE_MASK, "", (locale_t)0);
	if (loc != (locale_t)0)
		cs = nl_langinfo_l(CODESET, loc);
	if (g_utf8_validate(o->rcpt, -1, NULL))
		utf8 = g_strdup(o->rcpt);
	else if (g_ascii_strcasecmp(cs, "UTF-8") != 0 &&
	    g_ascii_strcasecmp(cs, "ANSI_X3.4-1968") != 0)
		utf8 = g_convert(o->rcpt, -1, "UTF-8", cs, NULL, NULL, NULL);
	if (utf8 == NULL) {
		fprintf(stderr, "otpbridge: --rcpt: the address is not valid UTF-8 "
		    "(nor text in %s, the locale's charset)\n", cs);
	} else if ((norm = util_normalize_address(utf8, &err)) == NULL) {
		fprintf(stderr, "otpbridge: --rcpt: %s\n", err->message);
	} else {
		g_free(o->rcpt);
		o->rcpt = g_steal_pointer(&utf8);
	}
	if (loc != (locale_t)0)
		freelocale(loc);
	return norm != NULL ? 0 : -1;
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

/*
 * Warns when a trusted authserv-id meets an LMTP/SMTP listener that other
 * hosts can reach: whoever connects writes headers above every Received:.
 */
static void
main_warn_exposed(const struct config *cfg)
{
	const struct sink_config *sinks[] = { &cfg->lmtp, &cfg->smtp };
	const char *names[] = { "lmtp", "smtp" };

	if (cfg->trusted_authserv_id[0] == NULL)
		return;
	for (gsize s = 0; s < G_N_ELEMENTS(sinks); s++)
		for (guint i = 0; i < sinks[s]->listen->len; i++) {
			const struct listen_addr *a = g_ptr_array_index(sinks[s]->listen, i);

			if (a->kind != LISTEN_INET || util_is_loopback_host(a->host))
				continue;
			fprintf(stderr, "%s: warning: [auth] trusted_authserv_id is set "
			    "and [%s] listens on %s, reachable from other hosts: anyone "
			    "who connects can write a trusted Authentication-Results "
			    "(listen on loopback or a unix socket, or firewall it to "
			    "your MTA)\n", cfg->path != NULL ? cfg->path :
			    "(built-in defaults)", names[s], a->host);
			return;
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
	main_warn_exposed(cfg);
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
	intake_core_options(cfg, &copt);
	for (int i = 1; i < argc; i++) {
		const char *file = argv[i];
		char *data = NULL;
		gsize len = 0;
		GError *err = NULL;
		struct message *msg = NULL;
		struct envelope env = { o->rcpt, NULL, NULL, NULL };
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

/* The last reply as it may be shown: one line, bounded, and never the
 * code (an endpoint may echo it, a 2xx reply carries it, also escaped or
 * percent-encoded: util_redact decodes before it looks). */
static char *
main_reply(const struct job *job)
{
	g_autofree char *code = json_reply_string(job->body, "content");

	return util_redact(job->last_reply, code);
}

/* Parses a job id argument; -1 when it is not one. */
static gint64
main_job_id(const char *s)
{
	guint64 n = 0;

	if (s == NULL || !g_ascii_string_to_unsigned(s, 10, 1, G_MAXINT64, &n, NULL))
		return -1;
	return (gint64)n;
}

static int
cmd_queue(struct main_opts *o, int argc, char **argv)
{
	struct config *cfg = NULL;
	struct filter_set *set = NULL;
	struct store *st = NULL;
	GError *err = NULL;
	const char *what = argc > 1 ? argv[1] : "list";
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;
	int rc = 0;

	if ((strcmp(what, "list") == 0 && argc > 2) ||
	    ((strcmp(what, "retry") == 0 || strcmp(what, "drop") == 0) && argc != 3) ||
	    (strcmp(what, "list") != 0 && strcmp(what, "retry") != 0 &&
	    strcmp(what, "drop") != 0)) {
		main_usage();
		return EXIT_USAGE;
	}
	if (main_load(o, &cfg, &set) < 0)
		return EXIT_CONFIG;
	if (store_open(cfg->store.path, &st, &err) < 0)
		goto fail;
	if (strcmp(what, "list") == 0) {
		g_autoptr(GPtrArray) jobs = g_ptr_array_new_with_free_func(job_free);
		guint64 counts[JOB_STATES] = { 0 };

		if (store_list(st, 1000, jobs, &err) < 0 || store_count(st, counts, &err) < 0)
			goto fail;
		if (!o->json)
			printf("%-6s %-10s %5s %5s  %-16s %-32s %s\n", "ID", "STATE", "AGE",
			    "TRIES", "FILTER", "IDENTIFIER", "LAST REPLY");
		for (guint i = 0; i < jobs->len; i++) {
			const struct job *j = g_ptr_array_index(jobs, i);
			g_autofree char *reply = main_reply(j);
			g_autofree char *age = util_age_short(now - j->created);

			if (o->json) {
				g_autofree char *line = json_job_line(j, job_state_names[j->state],
				    reply, now);
				printf("%s\n", line);
				continue;
			}
			printf("%-6" G_GINT64_FORMAT " %-10s %5s %5u  %-16.16s %-32.32s ",
			    j->id, job_state_names[j->state], age, j->attempts,
			    j->filter != NULL ? j->filter : "-", j->identifier);
			if (j->last_status > 0)
				printf("%d ", j->last_status);
			if (j->state == JOB_DELIVERED && j->remote_id != NULL)
				printf("totp_code_id=%s", j->remote_id);
			else if (reply != NULL)
				printf("%.100s", reply);
			printf("\n");
		}
		if (!o->json)
			printf("%" G_GUINT64_FORMAT " pending, %" G_GUINT64_FORMAT
			    " delivered, %" G_GUINT64_FORMAT " failed, %" G_GUINT64_FORMAT
			    " expired, %" G_GUINT64_FORMAT " superseded\n",
			    counts[JOB_PENDING], counts[JOB_DELIVERED], counts[JOB_FAILED],
			    counts[JOB_EXPIRED], counts[JOB_SUPERSEDED]);
	} else {
		gint64 id = main_job_id(argv[2]);
		int found;

		if (id < 0) {
			fprintf(stderr, "otpbridge: '%s' is not a job id\n", argv[2]);
			rc = EXIT_USAGE;
			goto out;
		}
		found = strcmp(what, "retry") == 0 ?
		    store_requeue(st, id, now, cfg->push.max_age, &err) :
		    store_drop(st, id, &err);
		if (found < 0)
			goto fail;
		if (found == 0) {
			fprintf(stderr, "otpbridge: no job %" G_GINT64_FORMAT "%s\n", id,
			    strcmp(what, "retry") == 0 ? " to retry (delivered and superseded "
			    "jobs, and jobs with a newer pending or delivered one for their "
			    "identifier, are not pushed again: a stale code would beat a "
			    "newer one)" : "");
			rc = EXIT_NOINPUT;
		} else {
			printf("job %" G_GINT64_FORMAT " %s\n", id,
			    strcmp(what, "retry") == 0 ? "is pending again; the daemon "
			    "pushes it" : "dropped");
		}
	}
	goto out;
fail:
	fprintf(stderr, "otpbridge: %s\n", err->message);
	rc = g_error_matches(err, OTPB_ERROR, OTPB_ERROR_TEMP) ? EXIT_TEMPFAIL : EXIT_IOERR;
	g_error_free(err);
out:
	store_close(&st);
	filter_set_free(&set);
	config_free(&cfg);
	return rc;
}

/* `otpbridge status [--json]`: the report on stdout, also when the store
 * cannot be read (then 66 when it is missing, 75 when busy, 74 else). */
static int
cmd_status(struct main_opts *o, int argc)
{
	struct config *cfg = NULL;
	struct filter_set *set = NULL;
	struct status_report r;
	g_autofree char *out = NULL;
	int rc = 0;

	if (argc > 1) {
		main_usage();
		return EXIT_USAGE;
	}
	if (main_load(o, &cfg, &set) < 0)
		return EXIT_CONFIG;
	status_collect(cfg, g_get_real_time() / G_USEC_PER_SEC, &r);
	out = o->json ? json_status_report(&r) : status_text(&r);
	printf("%s%s", out, o->json ? "\n" : "");
	fflush(stdout);
	if (!r.store_ok) {
		fprintf(stderr, "otpbridge: %s\n", r.store_error);
		rc = r.store_missing ? EXIT_NOINPUT : r.store_busy ? EXIT_TEMPFAIL :
		    EXIT_IOERR;
	}
	status_report_clear(&r);
	filter_set_free(&set);
	config_free(&cfg);
	return rc;
}

/* otpbridge oauth ACCOUNT: the refresh token of an xoauth2 account. */
static int
cmd_oauth(struct main_opts *o, int argc, char **argv, guint wait, guint port)
{
	struct config *cfg = NULL;
	const struct imap_config *ic = NULL;
	struct onboard_options oo = { wait, port };
	GError *err = NULL;
	int rc;

	if (argc != 2 || wait == 0 || wait > ONBOARD_WAIT_MAX || port > 65535) {
		if (argc == 2)
			fprintf(stderr, "otpbridge: oauth: --wait must be 1..%d and "
			    "--port 0..65535\n", ONBOARD_WAIT_MAX);
		main_usage();
		return EXIT_USAGE;
	}
	if (config_load_oauth(o->config != NULL ? o->config : DEFAULT_CONFIG,
	    argv[1], &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err->message);
		g_error_free(err);
		return EXIT_CONFIG;
	}
	for (guint i = 0; i < cfg->imap->len && ic == NULL; i++) {
		const struct imap_config *c = g_ptr_array_index(cfg->imap, i);

		if (strcmp(c->name, argv[1]) == 0)
			ic = c;
	}
	if (ic == NULL) {
		fprintf(stderr, "otpbridge: oauth: %s has no [imap:%s]\n", cfg->path,
		    argv[1]);
		rc = EXIT_CONFIG;
	} else {
		rc = onboard_run(ic, &oo, stdout, stderr);
	}
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
		{ "rcpt", 0, 0, G_OPTION_ARG_FILENAME, &o.rcpt,
		  "envelope recipient (default: the first To address)", "ADDR" },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &o.json,
		  "one JSON object per file", NULL },
		{ NULL }
	};
	gint oauth_wait = ONBOARD_WAIT_DEFAULT, oauth_port = 0;
	const GOptionEntry oauth_opts[] = {
		{ "wait", 0, 0, G_OPTION_ARG_INT, &oauth_wait,
		  "seconds to wait for the sign-in (default 300)", "S" },
		{ "port", 0, 0, G_OPTION_ARG_INT, &oauth_port,
		  "loopback port of the redirect (default: any free one)", "N" },
		{ NULL }
	};
	const char *cmd;
	int rc;

	/* Before anything else, and before any thread: no child inherits it. */
	config_take_env();
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
		rc = main_rcpt_utf8(&o) < 0 ? EXIT_USAGE : cmd_test(&o, argc, argv);
	} else if (strcmp(cmd, "run") == 0) {
		struct config *cfg = NULL;
		struct filter_set *set = NULL;

		main_parse(&o, "", NULL, &argc, &argv, FALSE);
		log_init(o.verbose);
		if (argc > 1) {
			main_usage();
			rc = EXIT_USAGE;
		} else if (main_load(&o, &cfg, &set) < 0) {
			rc = EXIT_CONFIG;
		} else {
			main_warn_auth(cfg, set);
			rc = daemon_run(cfg, set, o.config != NULL ? o.config :
			    DEFAULT_CONFIG, o.config != NULL);
		}
	} else if (strcmp(cmd, "deliver") == 0) {
		struct config *cfg = NULL;
		struct filter_set *set = NULL;

		main_parse(&o, "", test_opts, &argc, &argv, FALSE);
		log_init(o.verbose);
		if (argc > 1) {
			main_usage();
			rc = EXIT_USAGE;
		} else if (main_rcpt_utf8(&o) < 0) {
			rc = EXIT_USAGE;
		} else if (main_load(&o, &cfg, &set) < 0) {
			/* Our own trouble: the MTA keeps the mail and retries. */
			rc = EXIT_TEMPFAIL;
		} else {
			mime_init();
			rc = mda_deliver(cfg, set, o.rcpt);
			filter_set_free(&set);
			config_free(&cfg);
		}
	} else if (strcmp(cmd, "queue") == 0) {
		main_parse(&o, "[list|retry ID|drop ID]", test_opts, &argc, &argv, FALSE);
		log_init(o.verbose);
		rc = cmd_queue(&o, argc, argv);
	} else if (strcmp(cmd, "status") == 0) {
		const GOptionEntry status_opts[] = {
			{ "json", 0, 0, G_OPTION_ARG_NONE, &o.json,
			  "one JSON object", NULL },
			{ NULL }
		};

		main_parse(&o, "", status_opts, &argc, &argv, FALSE);
		log_init(o.verbose);
		rc = cmd_status(&o, argc);
	} else if (strcmp(cmd, "oauth") == 0) {
		main_parse(&o, "ACCOUNT", oauth_opts, &argc, &argv, FALSE);
		log_init(o.verbose);
		rc = cmd_oauth(&o, argc, argv, oauth_wait < 0 ? 0 : (guint)oauth_wait,
		    oauth_port < 0 ? 65536 : (guint)oauth_port);
	} else {
		fprintf(stderr, "otpbridge: unknown command '%s'\n", cmd);
		main_usage();
		rc = EXIT_USAGE;
	}
	g_free(o.config);
	g_free(o.rcpt);
	return rc;
}
