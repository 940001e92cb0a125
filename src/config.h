/*
 * config.h - otpbridge.conf (SPEC 3): every group and key, validated.
 *
 * config_load() reads the GLib key-file, checks every key (unknown groups
 * and keys are errors, so a typo cannot silently disable a safety
 * setting), compiles every pattern, resolves relative paths against the
 * file's directory and reads the secrets.  A missing file at the default
 * path gives the built-in defaults.
 */
#ifndef OTPBRIDGE_CONFIG_H
#define OTPBRIDGE_CONFIG_H

#include <glib.h>
#include "filter.h"
#include "regex.h"

#define CONFIG_DEFAULT_URL "https://api.skyvern.com/v1/credentials/totp"
#define CONFIG_DEFAULT_STORE "var/otpbridge.db"
#define CONFIG_DEFAULT_LMTP_LISTEN "inet:127.0.0.1:2424"
#define CONFIG_ENV_API_KEY "OTPBRIDGE_API_KEY"

enum listen_kind { LISTEN_UNIX, LISTEN_INET };

struct listen_addr {
	enum listen_kind kind;
	char *path;            /* LISTEN_UNIX */
	char *host;            /* LISTEN_INET: address literal or name */
	guint port;
};

/* [lmtp] and [smtp]: the same sink, two dialects. */
struct sink_config {
	GPtrArray *listen;     /* struct listen_addr * */
	struct regex *recipients; /* NULL: every recipient accepted */
	guint64 max_size;
	guint max_connections;
	guint max_recipients;
	guint timeout;         /* seconds of client silence before 421 */
	guint socket_mode;     /* unix sockets */
	char *socket_group;    /* unix sockets, or NULL */
};

enum imap_tls { IMAP_TLS_IMPLICIT, IMAP_TLS_STARTTLS, IMAP_TLS_NONE };
enum imap_auth { IMAP_AUTH_LOGIN, IMAP_AUTH_PLAIN, IMAP_AUTH_XOAUTH2 };
enum imap_after { IMAP_AFTER_SEEN, IMAP_AFTER_MOVE, IMAP_AFTER_DELETE, IMAP_AFTER_NONE };

struct imap_config {
	char *name;            /* the part after "imap:" */
	char *host;
	guint port;
	enum imap_tls tls;
	char *ca_file;
	char *user;
	char *password_file;
	char *password_command;
	enum imap_auth auth;
	char *oauth2_provider; /* google | microsoft | NULL (custom) */
	char *token_url;
	char *client_id;
	char *client_secret_file;
	char *refresh_token_file;
	char *auth_url;        /* otpbridge oauth: code flow endpoint, or NULL */
	char *device_url;      /* otpbridge oauth: device flow endpoint, or NULL */
	char *mailbox;
	gboolean idle;
	guint idle_refresh;
	guint poll_interval;
	guint timeout;
	enum imap_after after;
	char *after_folder;    /* IMAP_AFTER_MOVE */
	char *identifier;
	guint64 max_size;
	/* authserv-ids this account's provider writes (and strips from
	 * incoming mail): the key, else a preset for the host, else NULL
	 * ([auth]'s apply); may be empty (none trusted) */
	char **trusted_authserv_id;
};

struct config {
	char *path;            /* the file read, or NULL for built-ins */
	struct {
		char *url;
		char *api_key_file;
		char *api_key;     /* secret: file or OTPBRIDGE_API_KEY; NULL: dry run */
		guint timeout;
		guint max_age;
		enum send_mode send;
		char *ca_file;
		/* allow_http = private: plain http also to RFC 1918 / ULA
		 * addresses and single-label names (checked again at connect) */
		gboolean http_private;
	} push;
	struct {
		char *path;
		guint retention;   /* seconds delivered/failed rows are kept */
	} store;
	struct sink_config lmtp;
	struct sink_config smtp;
	GPtrArray *imap;       /* struct imap_config * */
	struct {
		GPtrArray *listen; /* struct listen_addr *; empty: off */
		char *signing_key_file;
		char *signing_key; /* secret */
		guint64 max_body;
		guint max_connections;
		guint timeout;
		guint max_connections_per_client; /* per IP address; 0: no limit */
		guint request_timeout;  /* seconds for a whole request */
		guint timestamp_window; /* 0: off */
		gboolean bind_code_to_task;
	} http;
	char **trusted_authserv_id; /* NULL-terminated, never NULL */
	gboolean mta_strips_forged; /* [auth]: the MTA removes forged A-R */
	char *filters_dir;
	gboolean filters_dir_set;   /* given in the file: must exist */
	char *oauth_account;   /* config_load_oauth(): this account's
	                        * refresh_token_file need not exist yet */
};

/*
 * Loads path.  When !must_exist and the file is missing, returns the
 * built-in defaults.  Returns -1 with "file:line: problem" in *error.
 */
int config_load(const char *path, gboolean must_exist, struct config **cfg_r,
    GError **error);
/*
 * Takes OTPBRIDGE_API_KEY out of the environment (so no child process,
 * such as password_command, inherits it) and keeps it for every later
 * config_load(), reloads included.  Call it once, first thing in main(),
 * before any thread starts (unsetenv is not thread-safe).  A variable set
 * after it (the unit tests) is still read, and wins.
 */
void config_take_env(void);

/*
 * As config_load() (the file must exist), for `otpbridge oauth ACCOUNT`:
 * the refresh_token_file of [imap:ACCOUNT] is the one to be written, so it
 * need not exist yet.
 */
int config_load_oauth(const char *path, const char *account,
    struct config **cfg_r, GError **error);
/* The built-in defaults (SPEC 3), as with no file. */
struct config *config_defaults(void);
void config_free(struct config **cfg);

/*
 * What a SIGHUP may apply of cfg while running (the daemon's listeners,
 * store, push client and IMAP accounts are those of its start).  Returns
 * -1 with *error when cfg must not be applied at all (a running listener
 * beyond loopback would lose its recipients pattern).  Else 0, and
 * *restart_r is NULL or the settings that differ but take a restart,
 * "[lmtp] listen, [imap:work]" (g_malloc'd; never a value).  Everything
 * else (filters, [auth], [push] send and max_age, [lmtp]/[smtp]
 * recipients and limits, [http] signing key, max_body, timestamp_window,
 * bind_code_to_task) applies live.
 */
int config_reload_check(const struct config *running, const struct config *cfg,
    char **restart_r, GError **error);

/* Parses "unix:/path" or "inet:host:port" ("inet:[::1]:port"). */
int config_parse_listen(const char *s, struct listen_addr **addr_r, const char **why);
void listen_addr_free(gpointer addr);

#endif
