/*
 * deliver-client.c - otpbridge-deliver, `otpbridge deliver` in a few
 * milliseconds when the daemon runs (SPEC 2; otpbridge(8)).  Prefix dc_
 * (deliver client).
 *
 * The otpbridge binary maps some 57 shared libraries (GMime, GnuTLS,
 * libcurl, SQLite, libetpan, libmicrohttpd...), about 10 ms before main.
 * This program links libc alone.  It hands the message to the running
 * daemon over its unix-socket LMTP listener - LHLO, MAIL FROM:<>, RCPT
 * TO:<--rcpt>, DATA - and exits 0 on the daemon's 250, which the daemon
 * sends only after the job is committed (fsync'd): durability is the
 * daemon's, as for any LMTP client.  Whenever the daemon cannot take the
 * message it execs the full `otpbridge [-c FILE] [-v] deliver [--rcpt
 * ADDR]` (the otpbridge beside this binary, else BINDIR's), which parses,
 * decides, commits and pushes as it does today, and whose exit status is
 * ours.  So every exit code is today's: 0 pushed, queued or dropped on
 * purpose, 75 only when nothing could be committed, 64 for bad usage.
 *
 * The fast path is taken only when everything it needs is there, and
 * the full path otherwise, before a byte of stdin is read (so it gets
 * stdin untouched): no --rcpt (the LMTP path needs an envelope
 * recipient; the full one reads the first To address), a recipient that
 * is not a plain address (controls, spaces, <>: never put on the wire),
 * an option we do not know (the full path judges it), no socket, a
 * refused or failed connection, a greeting, LHLO, MAIL or RCPT reply that
 * is not 2xx - among them the 550 for an address outside [lmtp]
 * recipients, which today's deliver does not apply: the filters decide
 * there.  After stdin is read the message goes to the full path on a
 * memfd: when its CRLF form would pass the daemon's SIZE although the
 * bytes as read do not (today's deliver counts those), on a DATA reply
 * other than 354, and on any final reply but 250 and 552 - a 451 (the
 * daemon could not commit: the full path tries the store itself, and
 * exits 75 only if it cannot either), another 4xx or 5xx, a lost
 * connection or a timeout.  After the data was sent the full path gets
 * the very bytes the daemon saw (CRLF), so a Message-ID-less mail the
 * daemon did commit before dying has the same dedup digest: one job.
 * A 552 (too large) is final, as today's deliver drops an oversized mail
 * with exit 0; the client checks the daemon's SIZE itself first, so the
 * mail is not sent at all.
 *
 * Where the socket is: -s PATH (or unix:PATH), else the environment's
 * OTPBRIDGE_LMTP_SOCKET, else DC_SOCKET_DEFAULT, the socket of the
 * example config and the systemd unit.  The config file is not read:
 * that needs GLib's key-file parser, the very cost we avoid; -c is
 * passed on to the full path only.  Unix sockets only, never TCP: a
 * loopback port is anyone's to bind while the daemon is down, and a
 * process that took it would be handed every code (and could answer
 * 250 and lose them); a socket's directory (/run/otpbridge, the
 * daemon's) keeps others out, so one that others may write (/tmp) is
 * refused: the full path runs.
 *
 * Hostile input: the message on stdin (any bytes; bounded by the SIZE the
 * daemon announces, DC_SIZE_MAX if it names none) and the daemon's
 * replies (a reply line at most DC_LINE_MAX bytes, a reply at most
 * DC_REPLY_LINES lines, each reply within DC_TIMEOUT_MS, else the full
 * path).  On the wire: a bare LF becomes CRLF (the daemon refuses bare
 * LF, proto.c), a CRLF stays, a bare CR is text (as proto.c reads it), a
 * line that starts with "." gets another one (RFC 5321 4.5.2), and a
 * last line without a line end gets CRLF: a "." line in the body can
 * never end the data early, nor smuggle a command.  Nothing of the
 * message is ever printed.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#ifndef BINDIR
#define BINDIR "/usr/local/bin"
#endif
#define DC_SOCKET_DEFAULT "/run/otpbridge/lmtp.sock"
#define DC_SOCKET_ENV "OTPBRIDGE_LMTP_SOCKET"
#define DC_TIMEOUT_MS 10000            /* per reply; then the full path */
#define DC_LINE_MAX 512                /* a reply line with its CRLF */
#define DC_REPLY_LINES 32              /* lines of one (multi-line) reply */
#define DC_SIZE_MAX ((uint64_t)1 << 30) /* config.c's bound of max_size */
#define DC_RCPT_MAX 320                /* proto.c's PROTO_ADDR_MAX */
#define DC_OUT_CHUNK 65536
#define EXIT_USAGE 64
#define EXIT_TEMPFAIL 75

struct dc_opts {
	const char *config;        /* -c FILE, or NULL */
	const char *rcpt;          /* --rcpt ADDR, or NULL */
	const char *socket;        /* -s PATH, or NULL */
	int verbose;
	char **rest;               /* arguments we do not know, for the full path */
	int n_rest;
	int fast_ok;               /* 0: straight to the full path */
};

struct dc_conn {
	int fd;
	char buf[4096];
	size_t len, off;
	uint64_t size;             /* the SIZE of the LHLO reply, 0 if none */
	char last[DC_LINE_MAX];    /* the last reply line, for -v */
};

/* A buffer of output bytes (the message converted for the wire). */
struct dc_out {
	int fd;
	int is_sock;
	char buf[DC_OUT_CHUNK];
	size_t len;
	int failed;
};

static const char *dc_prog = "otpbridge-deliver";

static void
dc_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: %s [-s SOCKET] [-c FILE] [-v] [--rcpt ADDR] < MESSAGE\n"
	    "  hands the message to the running daemon over its LMTP socket\n"
	    "  (-s, else $%s, else %s), else runs\n"
	    "  otpbridge [-c FILE] [-v] deliver [--rcpt ADDR]; see otpbridge(8)\n",
	    dc_prog, DC_SOCKET_ENV, DC_SOCKET_DEFAULT);
}

/* -v: why the fast path was not taken, or what the daemon said. */
static void
dc_say(const struct dc_opts *o, const char *what, const char *detail)
{
	if (o->verbose)
		fprintf(stderr, "%s: %s%s%s\n", dc_prog, what,
		    detail != NULL ? ": " : "", detail != NULL ? detail : "");
}

/* A recipient we may put in RCPT TO:<...> as it is: no controls, no
 * space, no angle brackets, an '@' inside, not too long.  8-bit bytes go
 * with SMTPUTF8 (the daemon checks they are UTF-8).  *utf8 is set when
 * there is one. */
static int
dc_rcpt_plain(const char *r, int *utf8)
{
	size_t n = strlen(r);
	const char *at = strrchr(r, '@');

	*utf8 = 0;
	if (n == 0 || n > DC_RCPT_MAX || at == NULL || at == r || at[1] == '\0')
		return 0;
	for (const unsigned char *p = (const unsigned char *)r; *p != '\0'; p++) {
		if (*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return 0;
		if (*p >= 0x80)
			*utf8 = 1;
	}
	return 1;
}

/*
 * Matches argv[*i] against an option with a value: "--name=V",
 * "--name V", "-x V", "-xV" (shrt may be NULL).  0: not this option;
 * 1: *v is the value (*i advanced past it); exits 64 when it is missing.
 */
static int
dc_opt(int argc, char **argv, int *i, const char *lng, const char *shrt,
    const char **v)
{
	const char *a = argv[*i];
	size_t n = strlen(lng);

	if (strncmp(a, lng, n) == 0 && a[n] == '=') {
		*v = a + n + 1;
		return 1;
	}
	if (shrt != NULL && strncmp(a, shrt, 2) == 0 && a[2] != '\0') {
		*v = a + 2;
		return 1;
	}
	if (strcmp(a, lng) != 0 && (shrt == NULL || strcmp(a, shrt) != 0))
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: %s needs a value\n", dc_prog, a);
		dc_usage(stderr);
		exit(EXIT_USAGE);
	}
	*v = argv[++*i];
	return 1;
}

/* Takes our options; anything else is kept for the full path, which
 * says what it makes of it (usage, exit 64). */
static int
dc_parse(struct dc_opts *o, int argc, char **argv)
{
	o->rest = calloc((size_t)argc + 1, sizeof(char *));
	if (o->rest == NULL)
		return -1;
	o->fast_ok = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			dc_usage(stdout);
			exit(0);
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o->verbose = 1;
		} else if (dc_opt(argc, argv, &i, "--socket", "-s", &o->socket) ||
		    dc_opt(argc, argv, &i, "--config", "-c", &o->config) ||
		    dc_opt(argc, argv, &i, "--rcpt", NULL, &o->rcpt)) {
			continue;
		} else {
			o->rest[o->n_rest++] = argv[i];
			o->fast_ok = 0;
		}
	}
	return 0;
}

/* The full otpbridge: beside this binary, else the installed one. */
static void
dc_full_path(char *path, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(path, size, "%s/otpbridge", self) < size &&
			    access(path, X_OK) == 0)
				return;
		}
	}
	snprintf(path, size, "%s/otpbridge", BINDIR);
}

/* "--name=" and value, in a new string; NULL when out of memory. */
static char *
dc_joined(const char *name, const char *value)
{
	size_t a = strlen(name), b = strlen(value);
	char *s = malloc(a + b + 1);

	if (s != NULL) {
		memcpy(s, name, a);
		memcpy(s + a, value, b + 1);
	}
	return s;
}

/* Runs `otpbridge [--config=FILE] [-v] deliver [--rcpt=ADDR] [rest]` in
 * our place, with fd 0 as it is now.  Returns only when that fails: 75. */
static int
dc_exec_full(const struct dc_opts *o)
{
	char full[PATH_MAX + 16];
	char **argv = calloc((size_t)o->n_rest + 8, sizeof(char *));
	int n = 0;

	if (argv == NULL)
		return EXIT_TEMPFAIL;
	dc_full_path(full, sizeof(full));
	argv[n++] = full;
	if (o->config != NULL && (argv[n++] = dc_joined("--config=", o->config)) == NULL)
		return EXIT_TEMPFAIL;
	if (o->verbose)
		argv[n++] = (char *)"-v";
	argv[n++] = (char *)"deliver";
	if (o->rcpt != NULL && (argv[n++] = dc_joined("--rcpt=", o->rcpt)) == NULL)
		return EXIT_TEMPFAIL;
	for (int i = 0; i < o->n_rest; i++)
		argv[n++] = o->rest[i];
	argv[n] = NULL;
	execv(full, argv);
	fprintf(stderr, "%s: cannot run %s: %s (the MTA will retry)\n", dc_prog,
	    full, strerror(errno));
	return EXIT_TEMPFAIL;      /* and exits: argv is the process's to free */
}

/* ---- the wire -------------------------------------------------------- */

/* Sends all of s[0, n); -1 on error. */
static int
dc_send(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one line (up to LF) of a reply into line; -1 on EOF, timeout, or
 * a line longer than DC_LINE_MAX. */
static int
dc_read_line(struct dc_conn *c, char *line)
{
	size_t n = 0;

	for (;;) {
		while (c->off < c->len) {
			char ch = c->buf[c->off++];

			if (n + 1 >= DC_LINE_MAX)
				return -1;
			line[n++] = ch;
			if (ch == '\n') {
				line[n] = '\0';
				return 0;
			}
		}
		{
			struct pollfd p = { c->fd, POLLIN, 0 };
			int r = poll(&p, 1, DC_TIMEOUT_MS);
			ssize_t got;

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
			got = recv(c->fd, c->buf, sizeof(c->buf), 0);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return -1;
			c->len = (size_t)got;
			c->off = 0;
		}
	}
}

/* Reads one reply (its lines "NNN-..." up to "NNN ..."); returns its code,
 * -1 when there is none.  Notes a "SIZE n" line in c->size. */
static int
dc_reply(struct dc_conn *c)
{
	char line[DC_LINE_MAX];

	for (int k = 0; k < DC_REPLY_LINES; k++) {
		int code;

		if (dc_read_line(c, line) < 0)
			return -1;
		if (line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
		    line[2] < '0' || line[2] > '9' ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\r'))
			return -1;
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (strncmp(line + 4, "SIZE ", 5) == 0) {
			uint64_t v = 0;
			const char *p = line + 9;

			while (*p >= '0' && *p <= '9' && v <= DC_SIZE_MAX)
				v = v * 10 + (uint64_t)(*p++ - '0');
			if (v > 0 && v <= DC_SIZE_MAX)
				c->size = v;
		}
		line[strcspn(line, "\r\n")] = '\0';
		memcpy(c->last, line, sizeof(c->last));
		if (line[3] != '-')
			return code;
	}
	return -1;
}

/*
 * The socket's directory may be written by its owner and group only: in
 * one others can write (/tmp), anyone could have bound the path.  0, or
 * -1 with errno (EPERM for such a directory).  XXX: only the socket's own
 * directory is checked, not the ones above it.
 */
static int
dc_dir_trusted(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (slash == NULL) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == path) {
		dir[0] = '/';
		dir[1] = '\0';
	} else if ((size_t)(slash - path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	} else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	if (stat(dir, &st) < 0)
		return -1;
	if ((st.st_mode & S_IWOTH) != 0) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

/* Connects to the unix socket path; -1 (errno) when it cannot. */
static int
dc_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strncmp(path, "unix:", 5) == 0)
		path += 5;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---- the message ----------------------------------------------------- */

/* Reads all of stdin, at most max bytes; 1 when there is more (too
 * large), -1 on a read error, else 0. */
static int
dc_read_stdin(uint64_t max, char **data_r, size_t *len_r)
{
	size_t cap = 65536, len = 0;
	char *data = malloc(cap);

	if (data == NULL)
		return -1;
	for (;;) {
		ssize_t n;

		if (len == cap) {       /* then len <= max: room to grow */
			size_t ncap = cap * 2;
			char *nd;

			if ((uint64_t)ncap > max + 1)
				ncap = (size_t)max + 1;
			nd = realloc(data, ncap);
			if (nd == NULL) {
				free(data);
				return -1;
			}
			data = nd;
			cap = ncap;
		}
		n = read(0, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(data);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if ((uint64_t)len > max) {
			free(data);
			return 1;
		}
	}
	*data_r = data;
	*len_r = len;
	return 0;
}

/* The size of the message as the daemon stores it: each bare LF one byte
 * more, and a CRLF after a last line that has no line end. */
static uint64_t
dc_wire_size(const char *d, size_t len)
{
	uint64_t n = len;

	for (size_t i = 0; i < len; i++)
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			n++;
	if (len > 0 && d[len - 1] != '\n')
		n += 2;
	return n;
}

static void
dc_out_flush(struct dc_out *w)
{
	size_t off = 0;

	if (w->failed || w->len == 0) {
		w->len = 0;
		return;
	}
	if (w->is_sock) {
		if (dc_send(w->fd, w->buf, w->len) < 0)
			w->failed = 1;
	} else {
		while (off < w->len) {
			ssize_t n = write(w->fd, w->buf + off, w->len - off);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				w->failed = 1;
				break;
			}
			off += (size_t)n;
		}
	}
	w->len = 0;
}

static void
dc_out_put(struct dc_out *w, const char *s, size_t n)
{
	while (n > 0) {
		size_t k = sizeof(w->buf) - w->len;

		if (k > n)
			k = n;
		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
		if (w->len == sizeof(w->buf))
			dc_out_flush(w);
	}
}

/*
 * Writes the message with CRLF line ends (a bare LF becomes CRLF; a
 * last line without one gets it), dot-stuffed when stuff is set (for
 * DATA).  Returns -1 when the write failed.
 */
static int
dc_write_message(struct dc_out *w, const char *d, size_t len, int stuff)
{
	int bol = 1;                /* at the start of a line */
	size_t run = 0;             /* start of the bytes not yet put */

	for (size_t i = 0; i < len; i++) {
		if (bol && stuff && d[i] == '.') {
			dc_out_put(w, d + run, i - run);
			dc_out_put(w, ".", 1);
			run = i;
		}
		bol = 0;
		if (d[i] == '\n') {
			if (i == 0 || d[i - 1] != '\r') {
				dc_out_put(w, d + run, i - run);
				dc_out_put(w, "\r", 1);
				run = i;
			}
			bol = 1;
		}
	}
	dc_out_put(w, d + run, len - run);
	if (len > 0 && d[len - 1] != '\n')
		dc_out_put(w, "\r\n", 2);
	dc_out_flush(w);
	return w->failed ? -1 : 0;
}

/*
 * Puts the message on fd 0 for the full path: a memfd (else an unlinked
 * temporary file) holding it as read (crlf 0) or as the daemon saw it
 * (crlf 1).  -1 when it cannot.
 */
static int
dc_stdin_from(const char *d, size_t len, int crlf)
{
	struct dc_out *w;
	int fd = memfd_create("otpbridge-deliver", 0);
	int rc = 0;

	if (fd < 0) {
		FILE *fp = tmpfile();

		if (fp == NULL || (fd = dup(fileno(fp))) < 0)
			return -1;
		fclose(fp);
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		close(fd);
		return -1;
	}
	w->fd = fd;
	if (crlf) {
		rc = dc_write_message(w, d, len, 0);
	} else {
		dc_out_put(w, d, len);
		dc_out_flush(w);
		rc = w->failed ? -1 : 0;
	}
	free(w);
	if (rc < 0 || lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, 0) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* The full path with the message we read on its stdin. */
static int
dc_full_with(const struct dc_opts *o, const char *d, size_t len, int crlf)
{
	if (dc_stdin_from(d, len, crlf) < 0) {
		fprintf(stderr, "%s: cannot keep the message for otpbridge deliver: "
		    "%s (the MTA will retry)\n", dc_prog, strerror(errno));
		return EXIT_TEMPFAIL;
	}
	return dc_exec_full(o);
}

/* ---- the session ----------------------------------------------------- */

/* Sends a command and reads its reply code (-1: none). */
static int
dc_cmd(struct dc_conn *c, const char *cmd)
{
	if (dc_send(c->fd, cmd, strlen(cmd)) < 0)
		return -1;
	return dc_reply(c);
}

static int
dc_run(struct dc_opts *o)
{
	struct dc_conn *c;
	struct dc_out *w;
	const char *sock = o->socket;
	char *cmd, *data = NULL;
	size_t len = 0, cmdlen;
	int utf8, code, r, rc;
	uint64_t max;

	if (!o->fast_ok)
		return dc_exec_full(o);
	if (o->rcpt == NULL) {
		dc_say(o, "no --rcpt (the daemon needs an envelope recipient)", NULL);
		return dc_exec_full(o);
	}
	if (!dc_rcpt_plain(o->rcpt, &utf8)) {
		dc_say(o, "--rcpt is no plain address", NULL);
		return dc_exec_full(o);
	}
	if (sock == NULL || *sock == '\0')
		sock = getenv(DC_SOCKET_ENV);
	if (sock == NULL || *sock == '\0')
		sock = DC_SOCKET_DEFAULT;
	c = calloc(1, sizeof(*c));
	w = calloc(1, sizeof(*w));
	cmdlen = strlen(o->rcpt) + 64;
	cmd = malloc(cmdlen);
	if (c == NULL || w == NULL || cmd == NULL) {
		free(c);
		free(w);
		free(cmd);
		return dc_exec_full(o);
	}
	c->fd = -1;
	if (dc_dir_trusted(strncmp(sock, "unix:", 5) == 0 ? sock + 5 : sock) < 0) {
		dc_say(o, sock, errno == EPERM ? "its directory is writable by others: "
		    "not trusted" : strerror(errno));
		goto full;
	}
	c->fd = dc_connect(sock);
	if (c->fd < 0) {
		dc_say(o, sock, strerror(errno));
		goto full;
	}
	if ((code = dc_reply(c)) != 220) {
		dc_say(o, "greeting", code < 0 ? "none" : c->last);
		goto full;
	}
	if ((code = dc_cmd(c, "LHLO otpbridge-deliver\r\n")) != 250) {
		dc_say(o, "LHLO", code < 0 ? "no reply" : c->last);
		goto full;
	}
	/* MAIL and RCPT in one write (the daemon offers PIPELINING). */
	code = -1;
	snprintf(cmd, cmdlen, "MAIL FROM:<>%s\r\nRCPT TO:<%s>\r\n",
	    utf8 ? " SMTPUTF8" : "", o->rcpt);
	if (dc_send(c->fd, cmd, strlen(cmd)) < 0 || (code = dc_reply(c)) != 250) {
		dc_say(o, "MAIL", code < 0 ? "no reply" : c->last);
		goto full;
	}
	if ((code = dc_reply(c)) / 100 != 2) {
		dc_say(o, "RCPT", code < 0 ? "no reply" : c->last);
		goto full;
	}
	/* Now the message: the daemon takes it. */
	max = c->size > 0 ? c->size : DC_SIZE_MAX;
	r = dc_read_stdin(max, &data, &len);
	if (r < 0) {
		fprintf(stderr, "%s: src=deliver result=tempfail error=\"<stdin>: %s\" "
		    "(the MTA will retry)\n", dc_prog, strerror(errno));
		rc = EXIT_TEMPFAIL;
		goto quit;
	}
	if (r > 0) {
		/* As today's deliver: dropped on purpose, no bounce. */
		fprintf(stderr, "%s: src=deliver result=dropped reason=too-large "
		    "limit=%llu ([lmtp] max_size)\n", dc_prog, (unsigned long long)max);
		rc = 0;
		goto quit;
	}
	if (dc_wire_size(data, len) > max) {
		/* Only its CRLF form passes the limit: today's deliver takes it. */
		dc_say(o, "the message with CRLF line ends passes SIZE", NULL);
		dc_cmd(c, "QUIT\r\n");
		close(c->fd);
		rc = dc_full_with(o, data, len, 0);
		goto out;
	}
	if ((code = dc_cmd(c, "DATA\r\n")) != 354) {
		dc_say(o, "DATA", code < 0 ? "no reply" : c->last);
		close(c->fd);
		rc = dc_full_with(o, data, len, 0);
		goto out;
	}
	w->fd = c->fd;
	w->is_sock = 1;
	if (dc_write_message(w, data, len, 1) < 0 || dc_send(c->fd, ".\r\n", 3) < 0) {
		dc_say(o, "the daemon went away during DATA", NULL);
		close(c->fd);
		rc = dc_full_with(o, data, len, 1);
		goto out;
	}
	code = dc_reply(c);
	if (code / 100 == 2 || code == 552) {
		if (code == 552)
			fprintf(stderr, "%s: src=deliver result=dropped reason=too-large "
			    "limit=%llu ([lmtp] max_size)\n", dc_prog,
			    (unsigned long long)max);
		else
			dc_say(o, "handed to the daemon", c->last);
		rc = 0;
		goto quit;
	}
	/* 451 (the daemon could not commit), another refusal, no reply:
	 * the full path, with the bytes the daemon saw (one dedup key). */
	dc_say(o, "end of data", code < 0 ? "no reply" : c->last);
	close(c->fd);
	rc = dc_full_with(o, data, len, 1);
	goto out;
quit:
	dc_cmd(c, "QUIT\r\n");
	close(c->fd);
out:
	free(data);
	free(cmd);
	free(w);
	free(c);
	return rc;
full:
	if (c->fd >= 0)
		close(c->fd);
	free(cmd);
	free(w);
	free(c);
	return dc_exec_full(o);
}

int
main(int argc, char **argv)
{
	struct dc_opts o;
	int rc;

	memset(&o, 0, sizeof(o));
	if (dc_parse(&o, argc, argv) < 0)
		return EXIT_TEMPFAIL;
	rc = dc_run(&o);
	free(o.rest);
	return rc;
}
