/*
 * status.h - `otpbridge status [--json]` (SPEC 2): one report of the
 * listeners and push endpoint (from the config), the queue, the push
 * endpoint's last result and the last job per identifier (from the store,
 * read-only), and the live state only the daemon knows (IMAP connection,
 * last sync, last error) from its HTTP side (GET /healthz, GET /status)
 * when [http] listen is set and the daemon answers.  Never a code, a
 * push body or a secret.
 */
#ifndef OTPBRIDGE_STATUS_H
#define OTPBRIDGE_STATUS_H

#include <glib.h>
#include "config.h"
#include "store.h"

#define STATUS_HTTP_TIMEOUT_MS 2000   /* per request to the daemon */
#define STATUS_REPLY_MAX (64 * 1024)  /* bytes of a daemon reply read */
#define STATUS_STORE_BUSY_MS 1000     /* wait for another process's lock */
#define STATUS_IDENTIFIERS_MAX 50     /* identifiers listed */

/* One IMAP account as the daemon sees it. */
struct status_imap_live {
	char *account;
	gboolean connected;
	gint64 last_sync;            /* Unix seconds, 0: never */
	char *last_error;            /* NULL: none */
};

/* What the daemon says about itself on GET /status (json.c reads and
 * writes it). */
struct status_live {
	char *version;
	gint64 pid;
	gint64 started;              /* Unix seconds */
	char *store;                 /* its [store] path */
	gboolean push_auth_failing;  /* the endpoint answered 403 last */
	GPtrArray *imap;             /* struct status_imap_live * */
};
void status_live_init(struct status_live *l);
void status_live_clear(struct status_live *l);

/* The stored state of one [imap:NAME] account. */
struct status_imap_stored {
	gboolean found;
	guint32 uidvalidity;
	guint32 last_uid;
};

/* Everything one `otpbridge status` shows. */
struct status_report {
	gint64 now;
	const struct config *cfg;    /* not owned */
	char *push_host;             /* host[:port] of [push] url, or NULL */
	gboolean dry_run;            /* no API key or no URL */
	/* the store */
	gboolean store_ok;
	gboolean store_busy;         /* locked by another process */
	gboolean store_missing;      /* no file at [store] path */
	char *store_error;           /* NULL when store_ok */
	GArray *counts;              /* struct store_state_count */
	struct store_outcome *last_attempt;   /* or NULL */
	GPtrArray *recent;           /* struct store_outcome *: per identifier */
	guint64 identifiers;         /* identifiers in the store in all */
	GArray *imap_stored;         /* struct status_imap_stored, per cfg->imap */
	/* the daemon */
	char *daemon_at;             /* the [http] listener asked, or NULL: none */
	char *daemon_error;          /* why it did not answer, or NULL */
	gboolean live_ok;            /* GET /status answered and parsed */
	struct status_live live;
	int health_status;           /* of GET /healthz, 0: no answer */
	char *health;                /* its body, one line per reason */
};

/*
 * Fills r for cfg at now: the store opened read-only (a missing or busy
 * store is reported in r, never created or waited for beyond
 * STATUS_STORE_BUSY_MS), the daemon asked on the first [http] listener
 * (a unix one first) within STATUS_HTTP_TIMEOUT_MS per request.
 */
void status_collect(const struct config *cfg, gint64 now, struct status_report *r);
void status_report_clear(struct status_report *r);

/* The report for a person (pure: r in, text out). */
char *status_text(const struct status_report *r);

/* A state's name ("pending", ...; "state N" for one this build does not
 * know).  g_malloc'd. */
char *status_state_name(int state);

/* The listener as written in the config: "inet:HOST:PORT", "unix:PATH". */
char *status_listen_label(const struct listen_addr *la);

#endif
