/*
 * store.h - the durable store: one SQLite file (WAL, synchronous=FULL)
 * holding the push queue, the dedup record, recent codes per identifier
 * and the IMAP state.  store.c is the only file that includes SQLite.
 *
 * Several processes may use one file at once (the daemon and `otpbridge
 * deliver`): every write is a short transaction under a busy timeout, and
 * a job being pushed is leased to one owner so no two processes push it.
 *
 * Times are Unix seconds (gint64).  Every function returns 0 on success
 * and -1 with *error set (OTPB_ERROR_TEMP when the store is busy, full or
 * read-only: the caller answers 4xx / EX_TEMPFAIL) unless said otherwise.
 */
#ifndef OTPBRIDGE_STORE_H
#define OTPBRIDGE_STORE_H

#include <glib.h>

#define STORE_DEDUP_WINDOW (24 * 3600)   /* SPEC 4 */
#define STORE_REPLY_MAX 1024             /* bytes of endpoint reply kept */

struct store;

/*
 * JOB_SUPERSEDED: a newer job of the same identifier and scope (see
 * store_commit_jobs) was committed; it is never pushed (again).
 */
enum job_state { JOB_PENDING = 0, JOB_DELIVERED, JOB_FAILED, JOB_EXPIRED,
	JOB_SUPERSEDED, JOB_STATES };
/* "pending", "delivered", "failed", "expired", "superseded", NULL */
extern const char *const job_state_names[];

/* One job to commit (in) and what became of it (out). */
struct job_in {
	const char *dedup_key;   /* Message-ID, else "sha256:<digest>" */
	const char *identifier;  /* totp_identifier */
	const char *source;      /* "lmtp", "smtp", "deliver", "imap:NAME" */
	const char *filter;
	const char *body;        /* the exact JSON push body */
	const char *code;        /* the code or magic link, or NULL (text): for the pull side */
	const char *run_tag;     /* the run/task this code was pushed for, or NULL */
	gint64 created;          /* arrival time */
	gint64 expires;          /* created + max_age: never pushed after */
	const char *lease_owner; /* non-NULL: the job starts leased to this owner */
	gint64 lease_until;
	gint64 id;               /* out: the job id (0 for a duplicate) */
	gboolean duplicate;      /* out: same dedup_key+identifier within 24 h */
	gboolean held;           /* out: stored, but not to be pushed now: born
	                          * superseded, or a push of its scope is in
	                          * flight (then it is stored unleased and a
	                          * claim takes it once that push is over) */
	guint superseded;        /* out: jobs this one's commit made superseded
	                          * that no push had under way (itself included) */
};

/* One job as read back. */
struct job {
	gint64 id;
	enum job_state state;
	char *dedup_key;
	char *identifier;
	char *source;
	char *filter;
	char *body;
	gint64 created;
	gint64 expires;
	gint64 next_attempt;
	guint attempts;
	int last_status;         /* HTTP status of the last attempt, 0: none/network */
	char *last_reply;        /* bounded, may be NULL */
	char *remote_id;         /* totp_code_id returned on success, or NULL */
	gint64 updated;
};
void job_free(gpointer job);

/*
 * Opens (creating the file, and its directory with mode 0750, when
 * missing) and migrates the schema forward (PRAGMA user_version).  A
 * schema newer than this program is an error.
 */
int store_open(const char *path, struct store **st_r, GError **error);
void store_close(struct store **st);

/* How long one call of the daemon's main loop may wait for another
 * connection's write lock (store_set_busy_timeout): short, so a lock held
 * by another process cannot freeze the loop; the callers retry from timers. */
#define STORE_LOOP_BUSY_MS 20
/*
 * Sets how long a call waits for another connection's write lock before
 * it fails with OTPB_ERROR_TEMP (from store_open: 5 s, right for `deliver`
 * and the commands, which have nothing else to do meanwhile).
 */
void store_set_busy_timeout(struct store *st, guint ms);

/*
 * Commits n jobs in ONE transaction (group commit: the daemon passes the
 * jobs of every session that finished DATA in this loop turn).  A job whose
 * dedup_key+identifier was committed within STORE_DEDUP_WINDOW of its
 * created time is not inserted: duplicate = TRUE.  All or nothing: on
 * error no job of the batch is stored.  When this returns 0 the jobs are
 * on disk (fsync'd).
 *
 * Superseding (SPEC 5): jobs of one identifier and one scope -- the
 * task_id, workflow_id and workflow_run_id of the push body, absent ones
 * included, so codes routed to different runs or tasks never supersede
 * each other -- are ordered by (created, id).  A new job makes every older
 * pending one of its scope superseded (one being pushed keeps its lease
 * until its outcome is recorded, and a retry leaves it superseded); a new
 * job older than a pending or delivered one of its scope is stored
 * superseded.  While a push of its scope is under a live lease, a new job
 * is stored unleased and held, so a fresher code never races a stale one
 * to the endpoint.
 */
int store_commit_jobs(struct store *st, struct job_in *jobs, guint n, GError **error);

/* An IMAP account's state to store with a batch (store_imap_set()). */
struct store_uid_advance {
	const char *account;
	const char *mailbox;
	guint32 uidvalidity;
	guint32 uid;             /* the highest UID now committed */
};
/*
 * store_commit_jobs() that also stores n_adv IMAP states in the same
 * transaction (the group commit of the daemon's intake): all or nothing,
 * so a failed commit advances no UID and the message is fetched again.
 * n may be 0 (IMAP messages that forward nothing still advance their UID).
 */
int store_commit_batch(struct store *st, struct job_in *jobs, guint n,
    const struct store_uid_advance *adv, guint n_adv, GError **error);

/*
 * Leases up to limit pending jobs that are due (next_attempt <= now, not
 * under a live lease, the caller's own included: those are in flight, and
 * no other job of the same identifier and scope under a live lease) to
 * owner until lease_until, oldest first, and appends them (struct job *)
 * to out.
 */
int store_claim_due(struct store *st, const char *owner, gint64 now,
    gint64 lease_until, guint limit, GPtrArray *out, GError **error);
/* Leases one job by id if it is pending and not leased by another owner;
 * returns 1 when claimed, 0 when not. */
int store_claim_job(struct store *st, gint64 id, const char *owner, gint64 now,
    gint64 lease_until, GError **error);
/* The earliest time a pending job can be claimed (its next_attempt, or
 * the second after its own lease or a lease on its scope ends), or 0 when
 * none is pending. */
int store_next_due(struct store *st, gint64 *when_r, GError **error);

/* Outcomes of an attempt; each clears the lease and counts the attempt. */
int store_job_delivered(struct store *st, gint64 id, gint64 now, int status,
    const char *reply, const char *remote_id, GError **error);
/* Returns 1 when a newer job superseded this one while its attempt was
 * under way (it stays superseded: no retry), else 0. */
int store_job_retry(struct store *st, gint64 id, gint64 now, gint64 next_attempt,
    int status, const char *reply, GError **error);
int store_job_failed(struct store *st, gint64 id, gint64 now, int status,
    const char *reply, GError **error);
/*
 * Groups the outcome calls made between them into one transaction, so a
 * burst of finished pushes costs one fsync.  store_batch_end() commits;
 * when it fails, every outcome since store_batch_begin() is rolled back.
 */
int store_batch_begin(struct store *st, GError **error);
int store_batch_end(struct store *st, GError **error);

/* Marks pending jobs past their expiry as expired; *count_r how many. */
int store_expire(struct store *st, gint64 now, guint *count_r, GError **error);

/* `otpbridge queue`: jobs newest first (all states), at most limit. */
int store_list(struct store *st, guint limit, GPtrArray *out, GError **error);
/* retry ID: a failed/expired/pending job back to pending, due now, with a
 * fresh expiry of now + max_age; returns 1 when found, 0 when not (also
 * for a delivered or superseded job, and for one with a newer pending or
 * delivered job of its identifier and scope: a stale code never follows
 * a fresh one). */
int store_requeue(struct store *st, gint64 id, gint64 now, gint64 max_age, GError **error);
/* drop ID: deletes the job; returns 1 when found, 0 when not. */
int store_drop(struct store *st, gint64 id, GError **error);
/* Counts by state (indexed by enum job_state). */
int store_count(struct store *st, guint64 counts[JOB_STATES], GError **error);

/* Deletes finished (not pending) jobs older than now - retention and
 * dedup rows older than the window. */
int store_prune(struct store *st, gint64 now, gint64 retention, GError **error);

/*
 * The newest code for identifier committed at or after since (pull side),
 * with its job id; *code_r NULL when none.  Codes are read from jobs that
 * carry one, whatever their push state.
 */
int store_latest_code(struct store *st, const char *identifier, gint64 since,
    char **code_r, gint64 *job_id_r, GError **error);
/* Records that the code of job_id was handed to consumer (a task or run
 * id); store_code_consumer() reads it back (NULL when never handed). */
int store_code_handout(struct store *st, gint64 job_id, const char *consumer,
    gint64 now, GError **error);
int store_code_consumer(struct store *st, gint64 job_id, char **consumer_r,
    GError **error);

/*
 * The code (or magic link) a pull for identifier hands out, committed at
 * or after since; *code_r NULL when none.  ids are the pull's task_id
 * and workflow_run_id (either may be NULL; compared case-insensitively).
 * A code tagged with one of them -- pushed with that run or task id, or
 * sent to identifier's +detail address named by it (bot+wr_1@x for
 * bot@x) -- comes first, *tagged_r TRUE; else the newest code for
 * identifier itself that is tagged with no run.  A code tagged with
 * another run is never returned.
 */
int store_pull_code(struct store *st, const char *identifier,
    const char *const ids[2], gint64 since, char **code_r, gint64 *job_id_r,
    gboolean *tagged_r, GError **error);
/*
 * The pull-body bindings (replay defence, see http.c): which identifier
 * the signed body with this digest first asked for, and when.
 * store_pull_body_get() sets *identifier_r NULL when the body is new;
 * store_pull_body_set() records a binding unless one exists (the first
 * one stays).
 */
int store_pull_body_get(struct store *st, const char *digest, char **identifier_r,
    gint64 *first_seen_r, GError **error);
int store_pull_body_set(struct store *st, const char *digest, const char *identifier,
    gint64 first_seen, GError **error);

/* IMAP state per account+mailbox; found_r FALSE when none is stored. */
int store_imap_get(struct store *st, const char *account, const char *mailbox,
    guint32 *uidvalidity_r, guint32 *last_uid_r, gboolean *found_r, GError **error);
int store_imap_set(struct store *st, const char *account, const char *mailbox,
    guint32 uidvalidity, guint32 last_uid, GError **error);

/*
 * Live owners: store_live_owner() returns a lease owner id
 * "KIND:PID:NONCE" and holds, until store_close(), a lock on byte PID of
 * the file PATH.lock beside the store that only a live process can hold.
 * store_void_dead_leases() clears the leases of every such owner (other
 * than self) whose lock is gone -- its process died with jobs leased, so
 * they are due now instead of when the lease would lapse -- and counts
 * the jobs.  A live owner's leases are never voided; owners of another
 * form (older versions, "KIND:PID") are left to lapse.
 */
char *store_live_owner(struct store *st, const char *kind, GError **error);
int store_void_dead_leases(struct store *st, const char *self, guint *count_r,
    GError **error);

/* Free bytes below which the store's filesystem counts as full. */
#define STORE_MIN_FREE (64 * 1024)

/* A cheap write probe for /healthz: returns 0 when the store takes a
 * write and its filesystem has at least STORE_MIN_FREE bytes free. */
int store_probe(struct store *st, GError **error);
/* How many probes this handle has run (for the /healthz cache's test). */
guint64 store_probe_count(const struct store *st);

/* ---- read-only access, for `otpbridge status` ------------------------- */

/*
 * Opens an existing store read-only and query-only: no file is created,
 * nothing is migrated or written, no write lock is taken.  Waits at most
 * busy_ms for another process's lock.  A missing file is OTPB_ERROR_IO
 * ("does not exist"); a store locked by another process is
 * OTPB_ERROR_TEMP ("busy"); a file that is not an otpbridge store is
 * OTPB_ERROR_CONFIG.  Only the store_ro_* functions and store_close()
 * may be used on the handle.
 */
int store_open_readonly(const char *path, guint busy_ms, struct store **st_r,
    GError **error);

/* Jobs in one state: state is an enum job_state, or another number a
 * newer schema wrote. */
struct store_state_count {
	int state;
	guint64 jobs;
	guint64 retrying;        /* pending jobs already attempted at least once */
};
/* Appends one struct store_state_count per state present, by state. */
int store_ro_counts(struct store *st, GArray *out, GError **error);

/* What became of one job, without its body or code. */
struct store_outcome {
	gint64 id;
	int state;               /* as in struct store_state_count */
	char *identifier;
	char *source;
	char *filter;
	gint64 created;
	gint64 updated;          /* the last attempt's time once attempted */
	guint attempts;
	int last_status;         /* HTTP status of the last attempt, 0: none */
};
void store_outcome_free(gpointer outcome);

/* The job attempted most recently (the push endpoint's last result);
 * *out_r NULL when no job was ever attempted. */
int store_ro_last_attempt(struct store *st, struct store_outcome **out_r,
    GError **error);
/* The newest job of each identifier, newest first, at most limit of them
 * (struct store_outcome *, appended to out); *identifiers_r how many
 * identifiers the store holds in all. */
int store_ro_last_per_identifier(struct store *st, guint limit, GPtrArray *out,
    guint64 *identifiers_r, GError **error);
/* The stored IMAP state of account+mailbox, like store_imap_get(). */
int store_ro_imap(struct store *st, const char *account, const char *mailbox,
    guint32 *uidvalidity_r, guint32 *last_uid_r, gboolean *found_r, GError **error);

#endif
