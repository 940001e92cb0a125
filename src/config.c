/*
 * config.c - loads and validates otpbridge.conf (SPEC 3).
 *
 * Every group and key of the schema is checked here, also those whose
 * behaviour lives in a later module, so `otpbridge check` answers for the
 * whole file.  Unknown groups and keys are errors.  Relative paths are
 * resolved against the directory of the config file.  Secrets are read
 * from files or the environment and never appear in an error message;
 * neither does the value of a *_file key until it is known to name an
 * existing file (a secret pasted where a path belongs stays out of the
 * log).  A secret file must pass the ssh rule: not writable by group or
 * others, not readable by others, group-readable only by one of our own
 * groups, owned by us or root (util_secret_mode_problem).
 * OTPBRIDGE_API_KEY is taken out of the environment once, at start
 * (config_take_env), so no child (password_command) inherits it.
 *
 * Hostile input: none beyond operator mistakes (see kf.c for bounds).
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "config.h"
#include "kf.h"
#include "util.h"

#define DEFAULT_FILTERS_DIR SYSCONFDIR "/otpbridge/filters.d"

static const char *const push_keys[] = { "url", "api_key_file", "timeout",
	"max_age", "send", "ca_file", "allow_http", NULL };
static const char *const allow_http_names[] = { "loopback", "private", NULL };
static const char *const store_keys[] = { "path", "retention", NULL };
static const char *const sink_keys[] = { "listen", "recipients", "max_size",
	"max_connections", "max_recipients", "timeout", "socket_mode",
	"socket_group", NULL };
static const char *const imap_keys[] = { "host", "port", "tls", "ca_file",
	"user", "password_file", "password_command", "auth", "oauth2_provider",
	"token_url", "client_id", "client_secret_file", "refresh_token_file",
	"mailbox", "idle", "idle_refresh", "poll_interval", "timeout", "after",
	"identifier", "max_size", "trusted_authserv_id", "auth_url", "device_url",
	NULL };
static const char *const http_keys[] = { "listen", "signing_key_file",
	"max_body", "max_connections", "timeout", "timestamp_window",
	"bind_code_to_task",
	"max_connections_per_client", "request_timeout", NULL };
static const char *const auth_keys[] = { "trusted_authserv_id",
	"mta_strips_forged", NULL };
static const char *const filters_keys[] = { "dir", NULL };

static const char *const tls_names[] = { "implicit", "starttls", "none", NULL };
static const char *const imap_auth_names[] = { "login", "plain", "xoauth2", NULL };
static const char *const provider_names[] = { "google", "microsoft", "custom", NULL };

void
listen_addr_free(gpointer p)
{
	struct listen_addr *a = p;

	if (a == NULL)
		return;
	g_free(a->path);
	g_free(a->host);
	g_free(a);
}

int
config_parse_listen(const char *s, struct listen_addr **addr_r, const char **why)
{
	struct listen_addr *a;

	if (g_str_has_prefix(s, "unix:")) {
		if (s[5] != '/') {
			*why = "a unix socket path must be absolute";
			return -1;
		}
		if (strlen(s + 5) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
			*why = "a unix socket path must be shorter than 108 bytes";
			return -1;
		}
		a = g_new0(struct listen_addr, 1);
		a->kind = LISTEN_UNIX;
		a->path = g_strdup(s + 5);
	} else if (g_str_has_prefix(s, "inet:")) {
		const char *hp = s + 5, *colon;
		g_autofree char *host = NULL;
		guint64 port = 0;

		if (*hp == '[') {
			const char *close = strchr(hp, ']');
			if (close == NULL || close[1] != ':') {
				*why = "expected inet:[v6-address]:port";
				return -1;
			}
			if (close == hp + 1) {
				*why = "the address between [ and ] is empty";
				return -1;
			}
			host = g_strndup(hp + 1, (gsize)(close - hp - 1));
			colon = close + 1;
		} else {
			colon = strrchr(hp, ':');
			if (colon == NULL || colon == hp) {
				*why = "expected inet:host:port";
				return -1;
			}
			host = g_strndup(hp, (gsize)(colon - hp));
		}
		if (!g_ascii_string_to_unsigned(colon + 1, 10, 1, 65535, &port, NULL)) {
			*why = "the port must be a number from 1 to 65535";
			return -1;
		}
		a = g_new0(struct listen_addr, 1);
		a->kind = LISTEN_INET;
		a->host = g_steal_pointer(&host);
		a->port = (guint)port;
	} else {
		*why = "a listen address starts with unix: or inet:";
		return -1;
	}
	*addr_r = a;
	return 0;
}

/* OTPBRIDGE_API_KEY as config_take_env() found it; NULL: not set. */
static char *config_env_api_key;

void
config_take_env(void)
{
	const char *env = g_getenv(CONFIG_ENV_API_KEY);

	if (env != NULL && *env != '\0') {
		util_secret_free(&config_env_api_key);
		config_env_api_key = g_strdup(env);
	}
	g_unsetenv(CONFIG_ENV_API_KEY);
}

/* Fills a sink group's defaults. */
static void
config_sink_defaults(struct sink_config *s, const char *listen)
{
	s->listen = g_ptr_array_new_with_free_func(listen_addr_free);
	if (listen != NULL) {
		struct listen_addr *a = NULL;
		const char *why = NULL;
		if (config_parse_listen(listen, &a, &why) == 0)
			g_ptr_array_add(s->listen, a);
	}
	s->max_size = 10 * 1024 * 1024;
	s->max_connections = 256;
	s->max_recipients = 100;
	s->timeout = 300;
	s->socket_mode = 0660;
}

struct config *
config_defaults(void)
{
	struct config *cfg = g_new0(struct config, 1);

	cfg->push.url = g_strdup(CONFIG_DEFAULT_URL);
	cfg->push.timeout = 10;
	cfg->push.max_age = 600;
	cfg->push.send = SEND_AUTO;
	cfg->store.path = g_strdup(CONFIG_DEFAULT_STORE);
	cfg->store.retention = 7 * 24 * 3600;
	config_sink_defaults(&cfg->lmtp, CONFIG_DEFAULT_LMTP_LISTEN);
	config_sink_defaults(&cfg->smtp, NULL);
	cfg->imap = g_ptr_array_new();
	cfg->http.listen = g_ptr_array_new_with_free_func(listen_addr_free);
	cfg->http.max_body = 4096;
	cfg->http.max_connections = 64;
	cfg->http.timeout = 30;
	cfg->http.max_connections_per_client = 16;
	cfg->http.request_timeout = 10;
	cfg->http.bind_code_to_task = TRUE;
	cfg->trusted_authserv_id = g_new0(char *, 1);
	cfg->filters_dir = g_strdup(DEFAULT_FILTERS_DIR);
	{
		const char *env = g_getenv(CONFIG_ENV_API_KEY);
		if (env != NULL && *env != '\0')
			cfg->push.api_key = g_strdup(env);
		else if (config_env_api_key != NULL)
			cfg->push.api_key = g_strdup(config_env_api_key);
	}
	return cfg;
}

static void
imap_config_free(struct imap_config *ic)
{
	if (ic == NULL)
		return;
	g_free(ic->name);
	g_free(ic->host);
	g_free(ic->ca_file);
	g_free(ic->user);
	g_free(ic->password_file);
	g_free(ic->password_command);
	g_free(ic->oauth2_provider);
	g_free(ic->token_url);
	g_free(ic->client_id);
	g_free(ic->client_secret_file);
	g_free(ic->refresh_token_file);
	g_free(ic->auth_url);
	g_free(ic->device_url);
	g_free(ic->mailbox);
	g_free(ic->after_folder);
	g_free(ic->identifier);
	g_strfreev(ic->trusted_authserv_id);
	g_free(ic);
}

static void
config_sink_clear(struct sink_config *s)
{
	g_ptr_array_unref(s->listen);
	regex_free(&s->recipients);
	g_free(s->socket_group);
}

void
config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	g_free(cfg->path);
	g_free(cfg->push.url);
	g_free(cfg->push.api_key_file);
	util_secret_free(&cfg->push.api_key);
	g_free(cfg->push.ca_file);
	g_free(cfg->store.path);
	config_sink_clear(&cfg->lmtp);
	config_sink_clear(&cfg->smtp);
	for (guint i = 0; i < cfg->imap->len; i++)
		imap_config_free(g_ptr_array_index(cfg->imap, i));
	g_ptr_array_unref(cfg->imap);
	g_ptr_array_unref(cfg->http.listen);
	g_free(cfg->http.signing_key_file);
	util_secret_free(&cfg->http.signing_key);
	g_strfreev(cfg->trusted_authserv_id);
	g_free(cfg->filters_dir);
	g_free(cfg->oauth_account);
	g_free(cfg);
	*cfgp = NULL;
}

/* Reads a path-valued key and resolves it against base. */
static void
config_get_path(const struct kf *kf, const char *base, const char *group,
    const char *key, char **out)
{
	g_autofree char *v = NULL;

	kf_get_raw(kf, group, key, &v, NULL);
	if (v == NULL)
		return;
	g_free(*out);
	*out = *v == '\0' ? NULL : util_resolve_path(base, v);
}

/* Reads a listen list into arr (replacing the defaults). */
static int
config_get_listen(const struct kf *kf, const char *group, GPtrArray *arr,
    GError **error)
{
	g_auto(GStrv) items = NULL;

	if (kf_get_list(kf, group, "listen", &items, error) < 0)
		return -1;
	if (items == NULL)
		return 0;
	g_ptr_array_set_size(arr, 0);
	for (gsize i = 0; items[i] != NULL; i++) {
		struct listen_addr *a = NULL;
		const char *why = NULL;
		if (config_parse_listen(items[i], &a, &why) < 0) {
			kf_set_error(kf, error, group, "listen", "listen '%s': %s",
			    items[i], why);
			return -1;
		}
		g_ptr_array_add(arr, a);
	}
	return 0;
}

/* Checks that a file-valued key names a readable file. */
static int
config_check_readable(const struct kf *kf, const char *group, const char *key,
    const char *path, GError **error)
{
	if (path != NULL && access(path, R_OK) != 0) {
		kf_set_error(kf, error, group, key, "cannot read %s '%s': %s",
		    key, path, g_strerror(errno));
		return -1;
	}
	return 0;
}

/* TRUE when gid is one of this process's groups (or we are root). */
static gboolean
config_own_group(gid_t gid)
{
	gid_t groups[256];
	int n;

	if (geteuid() == 0 || gid == getegid())
		return TRUE;
	n = getgroups((int)G_N_ELEMENTS(groups), groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return TRUE;
	return FALSE;
}

/*
 * Checks the secret file a *_file key names: it exists, is a regular
 * file, and passes util_secret_mode_problem() (the ssh rule).  The value
 * is named in an error only once it is known to name an existing file:
 * a secret pasted where a path belongs (api_key_file = sk-...) never
 * reaches the error, and so never the log.
 */
static int
config_check_secret(const struct kf *kf, const char *group, const char *key,
    const char *path, GError **error)
{
	struct stat st;
	g_autofree char *why = NULL;

	if (path == NULL)
		return 0;
	if (stat(path, &st) != 0) {
		kf_set_error(kf, error, group, key, "%s: cannot read the file it names: %s "
		    "(the value is not shown: it might be a secret pasted here)", key,
		    g_strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		kf_set_error(kf, error, group, key, "%s: %s is not a regular file", key, path);
		return -1;
	}
	why = util_secret_mode_problem((guint)st.st_mode, (guint)st.st_uid,
	    (guint)geteuid(), config_own_group(st.st_gid));
	if (why != NULL) {
		kf_set_error(kf, error, group, key, "%s: %s %s", key, path, why);
		return -1;
	}
	return config_check_readable(kf, group, key, path, error);
}

/* Reads a secret file named by key into *secret. */
static int
config_read_secret(const struct kf *kf, const char *group, const char *key,
    const char *path, char **secret, GError **error)
{
	GError *err = NULL;
	char *s;

	if (config_check_secret(kf, group, key, path, error) < 0)
		return -1;
	s = util_read_secret_file(path, &err);

	if (s == NULL) {
		kf_set_error(kf, error, group, key, "%s", err->message);
		g_error_free(err);
		return -1;
	}
	util_secret_free(secret);
	*secret = s;
	return 0;
}

/*
 * url (key in group g) must be an http:// or https:// URL, and http only
 * to a loopback host, since what it carries (the API key, a refresh
 * token) would travel in clear.  bad_form and in_clear are the errors.
 */
static int
config_check_url(const struct kf *kf, const char *g, const char *key,
    const char *url, gboolean http_private, const char *bad_form,
    const char *in_clear, GError **error)
{
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
	const char *scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;
	const char *host = uri != NULL ? g_uri_get_host(uri) : NULL;

	if (uri == NULL || scheme == NULL || host == NULL || *host == '\0' ||
	    strpbrk(url, " \t") != NULL ||
	    (g_ascii_strcasecmp(scheme, "https") != 0 &&
	    g_ascii_strcasecmp(scheme, "http") != 0)) {
		kf_set_error(kf, error, g, key, "%s", bad_form);
		return -1;
	}
	if (g_ascii_strcasecmp(scheme, "http") == 0 && !util_is_loopback_host(host) &&
	    !(http_private && util_is_private_host(host))) {
		kf_set_error(kf, error, g, key, "%s", in_clear);
		return -1;
	}
	return 0;
}

static int
config_load_push(struct config *cfg, const struct kf *kf, const char *base,
    GError **error)
{
	const char *g = "push";
	guint64 n;
	int e = (int)cfg->push.send;
	int scope = cfg->push.http_private ? 1 : 0;

	if (kf_check_keys(kf, g, push_keys, error) < 0 ||
	    kf_get_enum(kf, g, "allow_http", allow_http_names, &scope, error) < 0 ||
	    kf_get_raw(kf, g, "url", &cfg->push.url, error) < 0)
		return -1;
	cfg->push.http_private = scope == 1;
	if (*cfg->push.url != '\0' &&
	    config_check_url(kf, g, "url", cfg->push.url, cfg->push.http_private,
	    "url must be an http:// or https:// URL",
	    cfg->push.http_private ?
	    "url must use https unless the host is loopback, a private address "
	    "(RFC 1918, fc00::/7) or a single-label name (the API key would travel "
	    "in clear)" :
	    "url must use https unless the host is loopback, or a private network "
	    "with allow_http = private (the API key would travel in clear)", error) < 0)
		return -1;
	n = cfg->push.timeout;
	if (kf_get_uint(kf, g, "timeout", 1, 300, &n, error) < 0)
		return -1;
	cfg->push.timeout = (guint)n;
	n = cfg->push.max_age;
	if (kf_get_uint(kf, g, "max_age", 10, 86400, &n, error) < 0)
		return -1;
	cfg->push.max_age = (guint)n;
	if (kf_get_enum(kf, g, "send", send_mode_names, &e, error) < 0)
		return -1;
	cfg->push.send = (enum send_mode)e;
	config_get_path(kf, base, g, "ca_file", &cfg->push.ca_file);
	if (config_check_readable(kf, g, "ca_file", cfg->push.ca_file, error) < 0)
		return -1;
	config_get_path(kf, base, g, "api_key_file", &cfg->push.api_key_file);
	/* The environment wins over the file, as documented. */
	if (cfg->push.api_key == NULL && cfg->push.api_key_file != NULL &&
	    config_read_secret(kf, g, "api_key_file", cfg->push.api_key_file,
	    &cfg->push.api_key, error) < 0)
		return -1;
	return 0;
}

static int
config_load_store(struct config *cfg, const struct kf *kf, const char *base,
    GError **error)
{
	guint64 n = cfg->store.retention;

	if (kf_check_keys(kf, "store", store_keys, error) < 0)
		return -1;
	config_get_path(kf, base, "store", "path", &cfg->store.path);
	if (cfg->store.path == NULL) {
		kf_set_error(kf, error, "store", "path", "path must not be empty");
		return -1;
	}
	if (kf_get_uint(kf, "store", "retention", 3600, 366 * 86400, &n, error) < 0)
		return -1;
	cfg->store.retention = (guint)n;
	return 0;
}

static int
config_load_sink(struct sink_config *s, const struct kf *kf, const char *g,
    GError **error)
{
	g_autofree char *pat = NULL;
	g_autofree char *mode = NULL;
	guint64 n;

	if (kf_check_keys(kf, g, sink_keys, error) < 0 ||
	    config_get_listen(kf, g, s->listen, error) < 0)
		return -1;
	kf_get_raw(kf, g, "recipients", &pat, NULL);
	if (pat != NULL && *pat != '\0') {
		GError *err = NULL;
		s->recipients = regex_new(pat, &err);
		if (s->recipients == NULL) {
			kf_set_error(kf, error, g, "recipients", "%s", err->message);
			g_error_free(err);
			return -1;
		}
	}
	if (kf_get_uint(kf, g, "max_size", 1024, G_GUINT64_CONSTANT(1) << 30,
	    &s->max_size, error) < 0)
		return -1;
	n = s->max_connections;
	if (kf_get_uint(kf, g, "max_connections", 1, 65536, &n, error) < 0)
		return -1;
	s->max_connections = (guint)n;
	n = s->max_recipients;
	if (kf_get_uint(kf, g, "max_recipients", 1, 10000, &n, error) < 0)
		return -1;
	s->max_recipients = (guint)n;
	n = s->timeout;
	if (kf_get_uint(kf, g, "timeout", 10, 3600, &n, error) < 0)
		return -1;
	s->timeout = (guint)n;
	kf_get_raw(kf, g, "socket_mode", &mode, NULL);
	if (mode != NULL) {
		if (!g_ascii_string_to_unsigned(mode, 8, 0, 0777, &n, NULL)) {
			kf_set_error(kf, error, g, "socket_mode",
			    "socket_mode must be an octal mode like 0660, not '%s'", mode);
			return -1;
		}
		s->socket_mode = (guint)n;
	}
	kf_get_raw(kf, g, "socket_group", &s->socket_group, NULL);
	/* A sink reachable from other hosts must not accept any recipient. */
	for (guint i = 0; i < s->listen->len; i++) {
		struct listen_addr *a = g_ptr_array_index(s->listen, i);
		if (a->kind == LISTEN_INET && !util_is_loopback_host(a->host) &&
		    s->recipients == NULL) {
			kf_set_error(kf, error, g, "listen",
			    "listening on non-loopback %s needs 'recipients' set, "
			    "or this would be an open sink", a->host);
			return -1;
		}
	}
	return 0;
}

/*
 * The authserv-ids a well-known IMAP provider writes into, and strips
 * from, incoming mail, by host; NULL when the host is not one of them.
 * XXX Microsoft 365 and Outlook.com write their Authentication-Results
 * without an authserv-id (RFC 8601 requires one), so nothing can be
 * attributed to them: their preset trusts no id, and filters that need
 * authentication fail there until the operator names an id.
 */
static char **
config_imap_preset_ids(const char *host)
{
	static const char *const google[] = { "imap.gmail.com",
		"imap.googlemail.com", NULL };
	static const char *const microsoft[] = { "outlook.office365.com",
		"outlook.office.com", "imap-mail.outlook.com", NULL };

	for (gsize i = 0; microsoft[i] != NULL; i++)
		if (g_ascii_strcasecmp(host, microsoft[i]) == 0)
			return g_new0(char *, 1);
	for (gsize i = 0; google[i] != NULL; i++)
		if (g_ascii_strcasecmp(host, google[i]) == 0)
			return g_strsplit("mx.google.com", ";", -1);
	return NULL;
}

/*
 * refresh_token_file must be readable, except for the account that
 * `otpbridge oauth` is about to write it for (the old file, if any, is
 * replaced without being read); a missing one says how to obtain it.
 */
static int
config_check_token_file(const struct config *cfg, const struct kf *kf,
    const char *g, const struct imap_config *ic, GError **error)
{
	const char *path = ic->refresh_token_file;

	if (path == NULL || (cfg->oauth_account != NULL &&
	    strcmp(cfg->oauth_account, ic->name) == 0))
		return 0;
	/* The value is not shown: a token pasted where its path belongs
	 * must not reach the terminal or the log. */
	if (access(path, F_OK) < 0 && errno == ENOENT && ic->auth == IMAP_AUTH_XOAUTH2) {
		kf_set_error(kf, error, g, "refresh_token_file",
		    "refresh_token_file: cannot read the file it names: %s (the "
		    "value is not shown; run 'otpbridge oauth %s' to obtain it)",
		    g_strerror(ENOENT), ic->name);
		return -1;
	}
	/* an existing file: readable by us, and by nobody else (ssh's rule) */
	return config_check_secret(kf, g, "refresh_token_file", path, error);
}

/* auth_url and device_url (otpbridge oauth): https unless loopback, like
 * token_url; empty is unset. */
static int
config_load_onboard_urls(const struct kf *kf, const char *g,
    struct imap_config *ic, GError **error)
{
	const char *keys[] = { "auth_url", "device_url" };
	char **vals[] = { &ic->auth_url, &ic->device_url };

	for (guint i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_autofree char *bad = g_strdup_printf("%s must be an https:// URL "
		    "(http:// only to a loopback host)", keys[i]);
		g_autofree char *clear = g_strdup_printf("%s must be https unless "
		    "the host is loopback (what it carries would travel in clear)",
		    keys[i]);

		kf_get_raw(kf, g, keys[i], vals[i], NULL);
		if (*vals[i] != NULL && **vals[i] == '\0')
			g_clear_pointer(vals[i], g_free);
		if (*vals[i] != NULL && config_check_url(kf, g, keys[i], *vals[i], FALSE,
		    bad, clear, error) < 0)
			return -1;
	}
	return 0;
}

static int
config_load_imap(struct config *cfg, const struct kf *kf, const char *g,
    const char *base, GError **error)
{
	struct imap_config *ic = g_new0(struct imap_config, 1);
	g_autofree char *after = NULL;
	guint64 n;
	int e;

	g_ptr_array_add(cfg->imap, ic);
	ic->name = g_strdup(g + 5);
	ic->mailbox = g_strdup("INBOX");
	ic->idle = TRUE;
	ic->idle_refresh = 1200;
	ic->poll_interval = 60;
	ic->timeout = 60;
	if (*ic->name == '\0') {
		kf_set_error(kf, error, g, NULL, "an IMAP account group reads [imap:NAME]");
		return -1;
	}
	if (kf_check_keys(kf, g, imap_keys, error) < 0)
		return -1;
	kf_get_raw(kf, g, "host", &ic->host, NULL);
	if (ic->host == NULL || *ic->host == '\0') {
		kf_set_error(kf, error, g, NULL, "[%s] needs a host", g);
		return -1;
	}
	e = IMAP_TLS_IMPLICIT;
	if (kf_get_enum(kf, g, "tls", tls_names, &e, error) < 0)
		return -1;
	ic->tls = (enum imap_tls)e;
	if (ic->tls == IMAP_TLS_NONE && !util_is_loopback_host(ic->host)) {
		kf_set_error(kf, error, g, "tls",
		    "tls = none is allowed only for a loopback host, not %s", ic->host);
		return -1;
	}
	n = ic->tls == IMAP_TLS_IMPLICIT ? 993 : 143;
	if (kf_get_uint(kf, g, "port", 1, 65535, &n, error) < 0)
		return -1;
	ic->port = (guint)n;
	config_get_path(kf, base, g, "ca_file", &ic->ca_file);
	kf_get_raw(kf, g, "user", &ic->user, NULL);
	if (ic->user == NULL || *ic->user == '\0') {
		kf_set_error(kf, error, g, NULL, "[%s] needs a user", g);
		return -1;
	}
	e = IMAP_AUTH_LOGIN;
	if (kf_get_enum(kf, g, "auth", imap_auth_names, &e, error) < 0)
		return -1;
	ic->auth = (enum imap_auth)e;
	config_get_path(kf, base, g, "password_file", &ic->password_file);
	kf_get_raw(kf, g, "password_command", &ic->password_command, NULL);
	config_get_path(kf, base, g, "client_secret_file", &ic->client_secret_file);
	config_get_path(kf, base, g, "refresh_token_file", &ic->refresh_token_file);
	kf_get_raw(kf, g, "token_url", &ic->token_url, NULL);
	if (ic->token_url != NULL && *ic->token_url == '\0')
		g_clear_pointer(&ic->token_url, g_free);   /* "token_url =": unset */
	if (ic->token_url != NULL &&
	    config_check_url(kf, g, "token_url", ic->token_url, FALSE,
	    "token_url must be an https:// URL (http:// only to a loopback host)",
	    "token_url must be https unless the host is loopback "
	    "(the refresh token would travel in clear)", error) < 0)
		return -1;
	kf_get_raw(kf, g, "client_id", &ic->client_id, NULL);
	e = 2;
	if (kf_get_enum(kf, g, "oauth2_provider", provider_names, &e, error) < 0)
		return -1;
	if (e != 2)
		ic->oauth2_provider = g_strdup(provider_names[e]);
	if (ic->auth == IMAP_AUTH_XOAUTH2) {
		if (ic->refresh_token_file == NULL || ic->client_id == NULL) {
			kf_set_error(kf, error, g, "auth",
			    "auth = xoauth2 needs refresh_token_file and client_id");
			return -1;
		}
		if (ic->token_url == NULL && ic->oauth2_provider == NULL) {
			kf_set_error(kf, error, g, "auth",
			    "auth = xoauth2 needs token_url or oauth2_provider");
			return -1;
		}
	} else if (ic->password_file == NULL && ic->password_command == NULL) {
		kf_set_error(kf, error, g, "auth",
		    "auth = %s needs password_file or password_command",
		    imap_auth_names[ic->auth]);
		return -1;
	}
	if (config_check_readable(kf, g, "ca_file", ic->ca_file, error) < 0 ||
	    config_check_secret(kf, g, "password_file", ic->password_file, error) < 0 ||
	    config_check_secret(kf, g, "client_secret_file", ic->client_secret_file, error) < 0 ||
	    config_check_token_file(cfg, kf, g, ic, error) < 0 ||
	    config_load_onboard_urls(kf, g, ic, error) < 0)
		return -1;
	kf_get_raw(kf, g, "mailbox", &ic->mailbox, NULL);
	if (kf_get_bool(kf, g, "idle", &ic->idle, error) < 0)
		return -1;
	/* RFC 2177: re-issue IDLE at least every 29 minutes. */
	n = ic->idle_refresh;
	if (kf_get_uint(kf, g, "idle_refresh", 30, 29 * 60, &n, error) < 0)
		return -1;
	ic->idle_refresh = (guint)n;
	n = ic->poll_interval;
	if (kf_get_uint(kf, g, "poll_interval", 5, 3600, &n, error) < 0)
		return -1;
	ic->poll_interval = (guint)n;
	n = ic->timeout;
	if (kf_get_uint(kf, g, "timeout", 5, 600, &n, error) < 0)
		return -1;
	ic->timeout = (guint)n;
	if (kf_get_uint(kf, g, "max_size", 1024, G_GUINT64_CONSTANT(1) << 30,
	    &ic->max_size, error) < 0)
		return -1;
	kf_get_raw(kf, g, "after", &after, NULL);
	if (after == NULL || g_ascii_strcasecmp(after, "seen") == 0) {
		ic->after = IMAP_AFTER_SEEN;
	} else if (g_ascii_strcasecmp(after, "delete") == 0) {
		ic->after = IMAP_AFTER_DELETE;
	} else if (g_ascii_strcasecmp(after, "none") == 0) {
		ic->after = IMAP_AFTER_NONE;
	} else if (g_ascii_strncasecmp(after, "move:", 5) == 0 && after[5] != '\0') {
		ic->after = IMAP_AFTER_MOVE;
		ic->after_folder = g_strdup(after + 5);
	} else {
		kf_set_error(kf, error, g, "after",
		    "after must be seen, move:FOLDER, delete or none, not '%s'", after);
		return -1;
	}
	kf_get_raw(kf, g, "identifier", &ic->identifier, NULL);
	if (ic->identifier == NULL && util_is_addr_spec(ic->user))
		ic->identifier = g_strdup(ic->user);
	if (kf_has_key(kf, g, "trusted_authserv_id")) {
		ic->trusted_authserv_id = g_new0(char *, 1);
		if (kf_get_list(kf, g, "trusted_authserv_id", &ic->trusted_authserv_id,
		    error) < 0)
			return -1;
	} else {
		ic->trusted_authserv_id = config_imap_preset_ids(ic->host);
	}
	return 0;
}

/* [http] max_connections_per_client and request_timeout: the slow-client
 * bounds (http.c). */
static int
config_load_http_limits(struct config *cfg, const struct kf *kf, GError **error)
{
	guint64 n = cfg->http.max_connections_per_client;

	if (kf_get_uint(kf, "http", "max_connections_per_client", 0, 65536, &n,
	    error) < 0)
		return -1;
	cfg->http.max_connections_per_client = (guint)n;
	n = cfg->http.request_timeout;
	if (kf_get_uint(kf, "http", "request_timeout", 1, 3600, &n, error) < 0)
		return -1;
	cfg->http.request_timeout = (guint)n;
	return 0;
}

static int
config_load_http(struct config *cfg, const struct kf *kf, const char *base,
    GError **error)
{
	const char *g = "http";
	guint64 n;

	if (kf_check_keys(kf, g, http_keys, error) < 0 ||
	    config_get_listen(kf, g, cfg->http.listen, error) < 0)
		return -1;
	if (kf_get_uint(kf, g, "max_body", 64, 1024 * 1024, &cfg->http.max_body, error) < 0)
		return -1;
	n = cfg->http.max_connections;
	if (kf_get_uint(kf, g, "max_connections", 1, 65536, &n, error) < 0)
		return -1;
	cfg->http.max_connections = (guint)n;
	n = cfg->http.timeout;
	if (kf_get_uint(kf, g, "timeout", 1, 3600, &n, error) < 0)
		return -1;
	cfg->http.timeout = (guint)n;
	if (config_load_http_limits(cfg, kf, error) < 0)
		return -1;
	n = cfg->http.timestamp_window;
	if (kf_get_uint(kf, g, "timestamp_window", 0, 86400, &n, error) < 0)
		return -1;
	cfg->http.timestamp_window = (guint)n;
	if (kf_get_bool(kf, g, "bind_code_to_task", &cfg->http.bind_code_to_task, error) < 0)
		return -1;
	config_get_path(kf, base, g, "signing_key_file", &cfg->http.signing_key_file);
	if (cfg->http.signing_key_file != NULL &&
	    config_read_secret(kf, g, "signing_key_file", cfg->http.signing_key_file,
	    &cfg->http.signing_key, error) < 0)
		return -1;
	return 0;
}

/* Dispatches one group of the file to its loader. */
static int
config_load_group(struct config *cfg, const struct kf *kf, const char *g,
    const char *base, GError **error)
{
	if (strcmp(g, "push") == 0)
		return config_load_push(cfg, kf, base, error);
	if (strcmp(g, "store") == 0)
		return config_load_store(cfg, kf, base, error);
	if (strcmp(g, "lmtp") == 0)
		return config_load_sink(&cfg->lmtp, kf, g, error);
	if (strcmp(g, "smtp") == 0)
		return config_load_sink(&cfg->smtp, kf, g, error);
	if (g_str_has_prefix(g, "imap:"))
		return config_load_imap(cfg, kf, g, base, error);
	if (strcmp(g, "http") == 0)
		return config_load_http(cfg, kf, base, error);
	if (strcmp(g, "auth") == 0) {
		if (kf_check_keys(kf, g, auth_keys, error) < 0 ||
		    kf_get_bool(kf, g, "mta_strips_forged", &cfg->mta_strips_forged,
		    error) < 0)
			return -1;
		return kf_get_list(kf, g, "trusted_authserv_id",
		    &cfg->trusted_authserv_id, error);
	}
	if (strcmp(g, "filters") == 0) {
		if (kf_check_keys(kf, g, filters_keys, error) < 0)
			return -1;
		if (kf_has_key(kf, g, "dir")) {
			config_get_path(kf, base, g, "dir", &cfg->filters_dir);
			if (cfg->filters_dir == NULL) {
				kf_set_error(kf, error, g, "dir", "dir must not be empty");
				return -1;
			}
			cfg->filters_dir_set = TRUE;
		}
		return 0;
	}
	kf_set_error(kf, error, g, NULL, "unknown group [%s]", g);
	return -1;
}

/* config_load(), with the account whose refresh token is onboarded. */
static int
config_load_as(const char *path, gboolean must_exist, const char *oauth_account,
    struct config **cfg_r, GError **error);

int
config_load(const char *path, gboolean must_exist, struct config **cfg_r,
    GError **error)
{
	return config_load_as(path, must_exist, NULL, cfg_r, error);
}

int
config_load_oauth(const char *path, const char *account, struct config **cfg_r,
    GError **error)
{
	return config_load_as(path, TRUE, account, cfg_r, error);
}

static int
config_load_as(const char *path, gboolean must_exist, const char *oauth_account,
    struct config **cfg_r, GError **error)
{
	struct config *cfg;
	struct kf *kf = NULL;
	GError *err = NULL;
	g_autofree char *base = NULL;
	char **groups;

	if (kf_load(path, &kf, &err) < 0) {
		if (!must_exist && g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_error_free(err);
			*cfg_r = config_defaults();
			return 0;
		}
		if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
			    "%s: %s", path, err->message);
			g_error_free(err);
		} else {
			g_propagate_error(error, err);
		}
		return -1;
	}
	cfg = config_defaults();
	cfg->path = g_strdup(path);
	cfg->oauth_account = g_strdup(oauth_account);
	base = g_path_get_dirname(path);
	groups = kf_groups(kf);
	for (gsize i = 0; groups[i] != NULL; i++) {
		if (config_load_group(cfg, kf, groups[i], base, error) < 0)
			goto fail;
	}
	/* Two accounts watching the same mailbox would race each other. */
	for (guint i = 0; i < cfg->imap->len; i++) {
		struct imap_config *a = g_ptr_array_index(cfg->imap, i);

		/* Unset: as large as the sink takes, whatever the group order. */
		if (a->max_size == 0)
			a->max_size = cfg->lmtp.max_size;
		for (guint j = 0; j < i; j++) {
			struct imap_config *b = g_ptr_array_index(cfg->imap, j);
			if (g_ascii_strcasecmp(a->host, b->host) == 0 &&
			    strcmp(a->user, b->user) == 0 &&
			    strcmp(a->mailbox, b->mailbox) == 0) {
				g_autofree char *g = g_strconcat("imap:", a->name, NULL);
				kf_set_error(kf, error, g, NULL,
				    "[imap:%s] watches the same mailbox as [imap:%s]",
				    a->name, b->name);
				goto fail;
			}
		}
	}
	if (cfg->http.listen->len > 0 && cfg->http.signing_key == NULL &&
	    cfg->push.api_key != NULL)
		cfg->http.signing_key = g_strdup(cfg->push.api_key);
	kf_free(&kf);
	*cfg_r = cfg;
	return 0;
fail:
	kf_free(&kf);
	config_free(&cfg);
	return -1;
}

/* TRUE when two listen lists name the same addresses in the same order. */
static gboolean
config_listen_equal(const GPtrArray *a, const GPtrArray *b)
{
	if (a->len != b->len)
		return FALSE;
	for (guint i = 0; i < a->len; i++) {
		const struct listen_addr *x = g_ptr_array_index(a, i);
		const struct listen_addr *y = g_ptr_array_index(b, i);

		if (x->kind != y->kind || g_strcmp0(x->path, y->path) != 0 ||
		    g_strcmp0(x->host, y->host) != 0 || x->port != y->port)
			return FALSE;
	}
	return TRUE;
}

/* TRUE when two [imap:NAME] groups differ in anything. */
/* Two NULL-terminated lists (or NULLs) with the same strings in order. */
static gboolean
config_strv_equal(char **a, char **b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return g_strv_equal((const char *const *)a, (const char *const *)b);
}

static gboolean
config_imap_differs(const struct imap_config *a, const struct imap_config *b)
{
	return g_strcmp0(a->host, b->host) != 0 || a->port != b->port ||
	    a->tls != b->tls || g_strcmp0(a->ca_file, b->ca_file) != 0 ||
	    g_strcmp0(a->user, b->user) != 0 ||
	    g_strcmp0(a->password_file, b->password_file) != 0 ||
	    g_strcmp0(a->password_command, b->password_command) != 0 ||
	    a->auth != b->auth || g_strcmp0(a->oauth2_provider, b->oauth2_provider) != 0 ||
	    g_strcmp0(a->token_url, b->token_url) != 0 ||
	    g_strcmp0(a->client_id, b->client_id) != 0 ||
	    g_strcmp0(a->client_secret_file, b->client_secret_file) != 0 ||
	    g_strcmp0(a->refresh_token_file, b->refresh_token_file) != 0 ||
	    g_strcmp0(a->mailbox, b->mailbox) != 0 || a->idle != b->idle ||
	    a->idle_refresh != b->idle_refresh || a->poll_interval != b->poll_interval ||
	    a->timeout != b->timeout || a->after != b->after ||
	    g_strcmp0(a->after_folder, b->after_folder) != 0 ||
	    g_strcmp0(a->identifier, b->identifier) != 0 || a->max_size != b->max_size ||
	    !config_strv_equal(a->trusted_authserv_id, b->trusted_authserv_id);
}

/* Appends "[group] key" to the list in s. */
static void
config_name(GString *s, const char *group, const char *key)
{
	g_string_append_printf(s, "%s[%s]%s%s", s->len > 0 ? ", " : "", group,
	    key != NULL ? " " : "", key != NULL ? key : "");
}

/* The [lmtp]/[smtp] settings fixed when the listeners were opened. */
static void
config_sink_restart(GString *s, const char *g, const struct sink_config *a,
    const struct sink_config *b)
{
	if (!config_listen_equal(a->listen, b->listen))
		config_name(s, g, "listen");
	if (a->socket_mode != b->socket_mode)
		config_name(s, g, "socket_mode");
	if (g_strcmp0(a->socket_group, b->socket_group) != 0)
		config_name(s, g, "socket_group");
}

/* A sink whose running listeners reach beyond loopback must keep a
 * recipients pattern (config_load_sink's rule, against the listeners
 * that actually run). */
static int
config_sink_reload_ok(const char *g, const struct sink_config *running,
    const struct sink_config *cfg, GError **error)
{
	if (cfg->recipients != NULL)
		return 0;
	for (guint i = 0; i < running->listen->len; i++) {
		const struct listen_addr *a = g_ptr_array_index(running->listen, i);
		if (a->kind == LISTEN_INET && !util_is_loopback_host(a->host)) {
			g_set_error(error, OTPB_ERROR, OTPB_ERROR_CONFIG,
			    "[%s] recipients: the running listener on %s is not loopback, "
			    "so it needs 'recipients' set, or it would be an open sink", g,
			    a->host);
			return -1;
		}
	}
	return 0;
}

int
config_reload_check(const struct config *running, const struct config *cfg,
    char **restart_r, GError **error)
{
	GString *s;

	*restart_r = NULL;
	if (config_sink_reload_ok("lmtp", &running->lmtp, &cfg->lmtp, error) < 0 ||
	    config_sink_reload_ok("smtp", &running->smtp, &cfg->smtp, error) < 0)
		return -1;
	s = g_string_new(NULL);
	if (g_strcmp0(running->store.path, cfg->store.path) != 0)
		config_name(s, "store", "path");
	if (running->store.retention != cfg->store.retention)
		config_name(s, "store", "retention");
	if (g_strcmp0(running->push.url, cfg->push.url) != 0)
		config_name(s, "push", "url");
	/* Compared, never shown. */
	if (g_strcmp0(running->push.api_key, cfg->push.api_key) != 0)
		config_name(s, "push", "api_key_file");
	if (running->push.timeout != cfg->push.timeout)
		config_name(s, "push", "timeout");
	if (g_strcmp0(running->push.ca_file, cfg->push.ca_file) != 0)
		config_name(s, "push", "ca_file");
	if (running->push.http_private != cfg->push.http_private)
		config_name(s, "push", "allow_http");
	config_sink_restart(s, "lmtp", &running->lmtp, &cfg->lmtp);
	config_sink_restart(s, "smtp", &running->smtp, &cfg->smtp);
	if (!config_listen_equal(running->http.listen, cfg->http.listen))
		config_name(s, "http", "listen");
	if (running->http.max_connections != cfg->http.max_connections)
		config_name(s, "http", "max_connections");
	if (running->http.timeout != cfg->http.timeout)
		config_name(s, "http", "timeout");
	if (running->http.max_connections_per_client != cfg->http.max_connections_per_client)
		config_name(s, "http", "max_connections_per_client");
	if (running->http.request_timeout != cfg->http.request_timeout)
		config_name(s, "http", "request_timeout");
	/* Accounts, added, removed or changed, by name. */
	for (guint i = 0; i < running->imap->len; i++) {
		const struct imap_config *a = g_ptr_array_index(running->imap, i);
		const struct imap_config *b = NULL;
		g_autofree char *g = g_strconcat("imap:", a->name, NULL);

		for (guint j = 0; j < cfg->imap->len && b == NULL; j++) {
			const struct imap_config *c = g_ptr_array_index(cfg->imap, j);
			if (strcmp(c->name, a->name) == 0)
				b = c;
		}
		if (b == NULL || config_imap_differs(a, b))
			config_name(s, g, NULL);
	}
	for (guint j = 0; j < cfg->imap->len; j++) {
		const struct imap_config *b = g_ptr_array_index(cfg->imap, j);
		gboolean known = FALSE;

		for (guint i = 0; i < running->imap->len && !known; i++)
			known = strcmp(((const struct imap_config *)
			    g_ptr_array_index(running->imap, i))->name, b->name) == 0;
		if (!known) {
			g_autofree char *g = g_strconcat("imap:", b->name, NULL);
			config_name(s, g, NULL);
		}
	}
	if (s->len > 0)
		*restart_r = g_string_free(s, FALSE);
	else
		g_string_free(s, TRUE);
	return 0;
}
