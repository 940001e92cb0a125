/*
 * filter.h - filters.d/NAME.conf: which mail is forwarded, as what, to whom.
 *
 * Files are read in name order, groups in file order; the first filter
 * whose conditions (from, to, subject, body) all hold decides.  Loading
 * validates every key and compiles every pattern; errors name file:line.
 */
#ifndef OTPBRIDGE_FILTER_H
#define OTPBRIDGE_FILTER_H

#include <glib.h>
#include "auth.h"
#include "message.h"
#include "regex.h"

enum send_mode {
	SEND_AUTO = 0,  /* the code (or magic link) if found, else the text */
	SEND_CODE,      /* only a code or magic link; nothing found: drop */
	SEND_TEXT,      /* always the message text */
};
extern const char *const send_mode_names[]; /* "auto", "code", "text", NULL */

struct filter {
	char *name;
	char *file;            /* where it was defined, for logs */
	int line;
	struct regex *from, *to, *subject, *body; /* NULL: no condition */
	struct regex *code;    /* NULL: code = auto */
	enum auth_req require_auth;
	gboolean send_set;     /* send given in the filter; else the [push] default */
	enum send_mode send;
	char *identifier;      /* template; default "${rcpt}" */
	char *task_id, *workflow_id, *workflow_run_id; /* templates or NULL */
};

struct filter_set {
	GPtrArray *filters;    /* struct filter *, in decision order */
	gboolean builtin;      /* no filter configured: the built-in one */
	guint files;           /* how many files were read */
};

/*
 * Loads every *.conf in dir (name order).  A missing dir gives the built-in
 * filter when !must_exist, else an error.  An empty dir gives the built-in
 * filter.  Returns -1 with "file:line: problem" in *error.
 */
int filter_set_load(const char *dir, gboolean must_exist,
    struct filter_set **set_r, GError **error);
/* The built-in set: any sender, code = auto, send = code. */
struct filter_set *filter_set_builtin(void);
void filter_set_free(struct filter_set **set);

/* The values the conditions and templates see. */
struct match_input {
	const struct message *msg;
	const char *rcpt;      /* envelope recipient, or NULL */
	const char *account;   /* IMAP account name, or NULL */
};

/* The first filter whose conditions hold, or NULL. */
const struct filter *filter_set_match(const struct filter_set *set,
    const struct match_input *in);

/*
 * Expands ${rcpt} ${plus} ${to} ${from} ${account} in tmpl.  Unknown
 * variables are rejected at load time, so here they cannot occur.
 * vars: rcpt, plus, to, from, account (any may be NULL = empty).
 */
struct template_vars {
	const char *rcpt, *plus, *to, *from, *account;
};
char *filter_expand(const char *tmpl, const struct template_vars *vars);
/* Checks a template's syntax; -1 with a static message in *why. */
int filter_template_check(const char *tmpl, const char **why);

#endif
