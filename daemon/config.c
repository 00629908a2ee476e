/* config.c - the daemon's configuration file (libconfig) read into one
 * struct config and validated as a whole, and the reading machinery that
 * acl.c shares (config_src_*).  A struct config owns every string and
 * array in it and config_free() releases them; a failed load leaves
 * nothing allocated and the struct zeroed.  Paths in it are absolute. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unicode/uloc.h>

#include "buf.h"
#include "config.h"
#include "keyfile.h"
#include "log.h"
#include "topic.h"
#include "utf8.h"

#define CONFIG_FILE_MAX		(4u * 1024 * 1024)
#define CONFIG_LANG_MAX		64
#define CONFIG_PATH_MAX		160	/* key paths in messages */
#define CONFIG_IPC_MAX		107	/* sun_path less its NUL */
#define CONFIG_NEST_MAX		64	/* groups, lists, arrays */

static const char *const config_default_prefixes[] = { "embassy.",
    "consulate.", NULL };
static const char *const config_default_types[] = { "consular-day",
    "town-hall", "election", "investment-forum", "culture", "crisis",
    "general", NULL };

static const char *const config_root_keys[] = { "daemon", "ingest",
    "journal", "notices", "posts", "tls", "smtp", "webhooks", "delivery",
    NULL };
static const char *const config_tls_keys[] = { "ca_file", "cert_file",
    "key_file", NULL };
static const char *const config_smtp_keys[] = { "relays", NULL };
static const char *const config_relay_keys[] = { "name", "host", "port",
    "tls", "helo", "credential", "ca_file", "cert_file", "key_file",
    "max_connections", "max_messages_per_connection", "rate", "timeout_ms",
    NULL };
static const char *const config_webhooks_keys[] = { "secret_file",
    "allow_loopback", "allow_private", "max_connections_per_host",
    "rate_per_host", "timeout_ms", "retry_after_max_s", NULL };
static const char *const config_delivery_keys[] = { "batch",
    "max_in_flight", "lifetime_s", "retry_first_ms", "retry_max_ms", NULL };
static const char *const config_priority_keys[] = { "low", "normal",
    "high", "critical", NULL };
static const char *const config_notices_keys[] = { "templates_dir", "from",
    "message_id_domain", "unsubscribe_url", "unsubscribe_mailto", NULL };
static const char *const config_daemon_keys[] = { "state_dir",
    "runtime_dir", "control_group", "log_level", "shutdown_timeout_ms",
    NULL };
static const char *const config_ingest_keys[] = { "curve_secret_file",
    "allow_list", "prefixes", "types", "max_event_bytes", "batch_max",
    "endpoints", "feeds", NULL };
static const char *const config_journal_keys[] = { "max_size",
    "checkpoint_interval_ms", "event_retention_days",
    "audit_retention_days", NULL };
static const char *const config_endpoint_keys[] = { "bind", "security",
    "post", NULL };
static const char *const config_feed_keys[] = { "name", "connect", "post",
    "security", "server_key", NULL };
static const char *const config_post_keys[] = { "id", "name", "lang",
    "address", "phone", "email", "website", NULL };

/*
 * The reading machinery.
 */

static const char *
src_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return "a group { }";
	case CONFIG_TYPE_INT:
		return "an integer";
	case CONFIG_TYPE_INT64:
		return "a 64-bit integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating-point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ]";
	case CONFIG_TYPE_LIST:
		return "a list ( )";
	default:
		return "of no known type";
	}
}

/* Append s to out (outlen bytes, *off used), cutting what does not fit. */
static void
src_path_put(char *out, size_t outlen, size_t *off, const char *s)
{
	size_t	n = strlen(s);

	if (*off + 1 >= outlen)
		return;
	if (n > outlen - 1 - *off)
		n = outlen - 1 - *off;
	memcpy(out + *off, s, n);
	*off += n;
	out[*off] = '\0';
}

void
config_src_path(char *out, size_t outlen, const char *gpath,
    const char *name, int i)
{
	char	idx[16];
	size_t	off = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	src_path_put(out, outlen, &off, gpath);
	if (i >= 0) {
		snprintf(idx, sizeof(idx), "[%d]", i);
		src_path_put(out, outlen, &off, idx);
		return;
	}
	if (gpath[0] != '\0')
		src_path_put(out, outlen, &off, ".");
	src_path_put(out, outlen, &off, name);
}

int
config_src_error(struct config_src *src, const struct config_setting_t *s,
    const char *path, const char *fmt, ...)
{
	char		 msg[512];
	const char	*file = NULL;
	int		 line = 0;
	va_list		 ap;

	if (src->errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s != NULL) {
		file = config_setting_source_file(s);
		line = config_setting_source_line(s);
	}
	if (file == NULL)
		file = src->name;
	if (line > 0)
		snprintf(src->err, src->errlen, "%s:%d: %s: %s", file, line,
		    path, msg);
	else
		snprintf(src->err, src->errlen, "%s: %s: %s", file, path, msg);
	return -1;
}

/* Error without a key path: "FILE:LINE: message". */
static int
src_error_line(struct config_src *src, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
src_error_line(struct config_src *src, int line, const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	if (src->errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(src->err, src->errlen, "%s:%d: %s", src->name, line,
		    msg);
	else
		snprintf(src->err, src->errlen, "%s: %s", src->name, msg);
	return -1;
}

/* Read the whole file into b (NUL-terminated by buf). */
static int
src_read_file(struct config_src *src, const char *path, struct buf *b)
{
	struct stat	 st;
	char		 chunk[8192];
	ssize_t		 r;
	int		 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return src_error_line(src, 0, "cannot open: %s; expected a "
		    "readable configuration file", strerror(errno));
	if (fstat(fd, &st) == -1) {
		src_error_line(src, 0, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		src_error_line(src, 0, "is a directory; expected a "
		    "configuration file");
		goto out;
	}
	for (;;) {
		r = read(fd, chunk, sizeof(chunk));
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			src_error_line(src, 0, "cannot read: %s",
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		if (buf_add(b, chunk, (size_t)r) == -1) {
			src_error_line(src, 0, "larger than %u bytes; expected "
			    "a configuration file", CONFIG_FILE_MAX);
			goto out;
		}
	}
	if (b->len > 0 && memchr(b->data, '\0', b->len) != NULL) {
		src_error_line(src, 0, "holds a NUL byte; expected a text "
		    "file");
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The absolute directory of path, allocated; NULL on ENOMEM or when the
 * current directory is unknown. */
static char *
src_dir_of(const char *path)
{
	const char	*slash = strrchr(path, '/');
	char		*cwd, *dir;
	struct buf	 b;
	size_t		 n;

	if (slash == path)
		return strdup("/");
	n = slash ? (size_t)(slash - path) : 0;
	if (n > 0 && path[0] == '/')
		return strndup(path, n);
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return NULL;
	buf_init(&b, 0);
	buf_adds(&b, cwd);
	free(cwd);
	while (n >= 2 && path[0] == '.' && path[1] == '/') {
		path += 2;
		n -= 2;
		while (n > 0 && path[0] == '/') {
			path++;
			n--;
		}
	}
	if (n > 0 && !(n == 1 && path[0] == '.')) {
		if (b.len > 1)
			buf_addc(&b, '/');
		buf_add(&b, path, n);
	}
	if (b.overflow) {
		buf_free(&b);
		return NULL;
	}
	dir = buf_release(&b);
	buf_free(&b);
	return dir;
}

/* p made absolute against the file's directory, without trailing slashes
 * ("/" stays); allocated, NULL on ENOMEM. */
static char *
src_abs(struct config_src *src, const char *p)
{
	struct buf	 b;
	char		*out;

	buf_init(&b, 0);
	if (p[0] != '/') {
		while (p[0] == '.' && p[1] == '/') {
			p += 2;
			while (*p == '/')
				p++;
		}
		buf_adds(&b, src->dir);
		if (strcmp(p, ".") != 0 && p[0] != '\0') {
			if (b.len == 0 || b.data[b.len - 1] != '/')
				buf_addc(&b, '/');
			buf_adds(&b, p);
		}
	} else
		buf_adds(&b, p);
	if (b.overflow) {
		buf_free(&b);
		return NULL;
	}
	while (b.len > 1 && b.data[b.len - 1] == '/')
		b.data[--b.len] = '\0';
	out = buf_release(&b);
	buf_free(&b);
	return out;
}

/*
 * What libconfig 1.5 itself would not catch: @include (reads files we do
 * not name and changes what relative paths mean), integers of more than
 * 32 bits without the L suffix (silently wrapped), "\x00" in a string
 * (silently cut), a string left open at the end of a line and a string
 * where the grammar has none (both leaked by libconfig's parser), and
 * nesting deeper than any configuration needs.  A lexer just good enough
 * for that: strings, comments, names, numbers and brackets.
 */
static int
src_prescan(struct config_src *src, const char *t)
{
	enum { NORMAL, STRING, LINE_COMMENT, BLOCK_COMMENT } st = NORMAL;
	const char		*p = t, *q, *num;
	unsigned long long	 val, limit;
	int			 line = 1, bol = 1, neg, hex, depth = 0;
	char			 nest[CONFIG_NEST_MAX];
	int			 prev = 0;	/* last token: its character,
						   'n' name, '0' number */

	while (*p != '\0') {
		if (bol) {
			/* Refused whatever the lexer thinks, so that it can
			 * never disagree with libconfig's here. */
			for (q = p; *q == ' ' || *q == '\t'; q++)
				;
			if (strncmp(q, "@include", 8) == 0)
				return src_error_line(src, line, "@include is "
				    "not supported; expected one "
				    "self-contained file");
			bol = 0;
		}
		if (*p == '\n') {
			/* libconfig would take it, but leaks the string when
			 * it is never closed; and an unclosed quote is found
			 * best on its own line. */
			if (st == STRING)
				return src_error_line(src, line, "a string is "
				    "not closed on its line; expected a \" "
				    "before the end of the line");
			line++;
			bol = 1;
			if (st == LINE_COMMENT)
				st = NORMAL;
			p++;
			continue;
		}
		switch (st) {
		case LINE_COMMENT:
			p++;
			continue;
		case BLOCK_COMMENT:
			if (p[0] == '*' && p[1] == '/') {
				st = NORMAL;
				p += 2;
			} else
				p++;
			continue;
		case STRING:
			if (p[0] == '\\') {
				if (p[1] == 'x' && p[2] == '0' && p[3] == '0')
					return src_error_line(src, line, "a "
					    "string holds \\x00; expected text "
					    "without NUL characters");
				p += (p[1] != '\0' && p[1] != '\n') ? 2 : 1;
				continue;
			}
			if (p[0] == '"')
				st = NORMAL;
			p++;
			continue;
		case NORMAL:
			break;
		}
		if (p[0] == '#' || (p[0] == '/' && p[1] == '/')) {
			st = LINE_COMMENT;
			p++;
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			st = BLOCK_COMMENT;
			p += 2;
			continue;
		}
		if (strncmp(p, "@include", 8) == 0)
			return src_error_line(src, line, "@include is not "
			    "supported; expected one self-contained file");
		if (p[0] == '"') {
			/* libconfig 1.5 leaks a string that is the token its
			 * parser stumbles on; so refuse it here: a string
			 * follows = : [ ( another string, or a comma in a
			 * list or array. */
			if (!(prev == '=' || prev == ':' || prev == '[' ||
			    prev == '(' || prev == '"' || (prev == ',' &&
			    depth > 0 && nest[depth - 1] != '{')))
				return src_error_line(src, line, "syntax "
				    "error: a string where none is expected");
			prev = '"';
			st = STRING;
			p++;
			continue;
		}
		if (isalpha((unsigned char)p[0]) || p[0] == '*') {
			for (p++; isalnum((unsigned char)*p) || *p == '-' ||
			    *p == '_' || *p == '*'; p++)
				;
			prev = 'n';
			continue;
		}
		if (p[0] == '.' && isdigit((unsigned char)p[1])) {
			/* A float such as .5e3 */
			for (p++; isdigit((unsigned char)*p) || *p == '.' ||
			    *p == 'e' || *p == 'E' || *p == '+' || *p == '-';
			    p++)
				;
			prev = '0';
			continue;
		}
		q = p;
		neg = 0;
		if (*q == '-' || *q == '+') {
			neg = *q == '-';
			q++;
		}
		if (!isdigit((unsigned char)*q)) {
			if (*p == '{' || *p == '[' || *p == '(') {
				if (depth == CONFIG_NEST_MAX)
					return src_error_line(src, line,
					    "nested more than %d levels deep; "
					    "expected a flatter file",
					    CONFIG_NEST_MAX);
				nest[depth++] = *p;
			} else if ((*p == '}' || *p == ']' || *p == ')') &&
			    depth > 0)
				depth--;
			if (!isspace((unsigned char)*p))
				prev = (unsigned char)*p;
			p++;
			continue;
		}
		prev = '0';
		num = p;
		val = 0;
		hex = q[0] == '0' && (q[1] == 'x' || q[1] == 'X') &&
		    isxdigit((unsigned char)q[2]);
		if (hex) {
			for (q += 2; isxdigit((unsigned char)*q); q++) {
				if (val < (1ull << 40))
					val = val * 16 + (unsigned)(isdigit(
					    (unsigned char)*q) ? *q - '0' :
					    tolower((unsigned char)*q) - 'a' +
					    10);
			}
			limit = 0x7fffffffull;
		} else {
			for (; isdigit((unsigned char)*q); q++)
				if (val < (1ull << 40))
					val = val * 10 + (unsigned)(*q - '0');
			if (*q == '.' || *q == 'e' || *q == 'E') {
				for (; isdigit((unsigned char)*q) ||
				    *q == '.' || *q == 'e' || *q == 'E' ||
				    ((*q == '+' || *q == '-') &&
				    (q[-1] == 'e' || q[-1] == 'E')); q++)
					;
				p = q;
				continue;
			}
			limit = neg ? 2147483648ull : 2147483647ull;
		}
		if (*q == 'L') {
			while (*q == 'L')
				q++;
		} else if (val > limit)
			return src_error_line(src, line, "integer %.*s does "
			    "not fit in 32 bits; expected a smaller value, or "
			    "the L suffix (%.*sL) for a 64-bit one",
			    (int)(q - num > 40 ? 40 : q - num), num,
			    (int)(q - num > 40 ? 40 : q - num), num);
		p = q;
	}
	if (st == STRING)
		return src_error_line(src, line, "a string is not closed; "
		    "expected a \" before the end of the file");
	return 0;
}

int
config_src_open(struct config_src *src, const char *path, const char *text,
    char *err, size_t errlen)
{
	struct buf	 b;
	const char	*efile;
	int		 rc = -1;

	memset(src, 0, sizeof(*src));
	src->name = path;
	src->err = err;
	src->errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	buf_init(&b, CONFIG_FILE_MAX);
	if (text == NULL) {
		if (src_read_file(src, path, &b) == -1)
			goto out;
		text = b.data != NULL ? b.data : "";
	}
	if ((src->dir = src_dir_of(path)) == NULL) {
		src_error_line(src, 0, "cannot tell its directory: %s",
		    strerror(errno));
		goto out;
	}
	if (src_prescan(src, text) == -1)
		goto out;
	if ((src->lc = malloc(sizeof(*src->lc))) == NULL) {
		src_error_line(src, 0, "out of memory");
		goto out;
	}
	config_init(src->lc);
	if (config_read_string(src->lc, text) != CONFIG_TRUE) {
		efile = config_error_file(src->lc);
		snprintf(err, errlen, "%s:%d: %s", efile ? efile : path,
		    config_error_line(src->lc),
		    config_error_text(src->lc) ? config_error_text(src->lc) :
		    "cannot parse");
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	if (rc == -1)
		config_src_close(src);
	return rc;
}

void
config_src_close(struct config_src *src)
{
	if (src->lc != NULL) {
		config_destroy(src->lc);
		free(src->lc);
		src->lc = NULL;
	}
	free(src->dir);
	src->dir = NULL;
}

struct config_setting_t *
config_src_root(struct config_src *src)
{
	return config_root_setting(src->lc);
}

int
config_src_keys(struct config_src *src, const struct config_setting_t *g,
    const char *path, const char *const *names)
{
	char			 p[CONFIG_PATH_MAX];
	struct buf		 list;
	const config_setting_t	*m;
	const char		*name;
	int			 i, j, n, found;

	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		if ((m = config_setting_get_elem(g, (unsigned)i)) == NULL)
			continue;
		if ((name = config_setting_name(m)) == NULL)
			continue;
		found = 0;
		for (j = 0; names[j] != NULL; j++)
			if (strcmp(name, names[j]) == 0)
				found = 1;
		if (found)
			continue;
		buf_init(&list, 512);
		for (j = 0; names[j] != NULL; j++) {
			if (j > 0)
				buf_adds(&list, names[j + 1] ? ", " : " or ");
			buf_adds(&list, names[j]);
		}
		config_src_path(p, sizeof(p), path, name, -1);
		config_src_error(src, m, p, "unknown key; expected %s%s",
		    names[0] && names[1] ? "one of " : "",
		    list.data ? list.data : "none");
		buf_free(&list);
		return -1;
	}
	return 0;
}

/* Member name of g, or NULL; with a message when required. */
static config_setting_t *
src_member(struct config_src *src, const struct config_setting_t *g,
    const char *gpath, const char *name, int required, const char *what,
    int *rc)
{
	char			 p[CONFIG_PATH_MAX];
	config_setting_t	*m;

	*rc = 0;
	if ((m = config_setting_get_member(g, name)) != NULL)
		return m;
	if (required) {
		config_src_path(p, sizeof(p), gpath, name, -1);
		*rc = config_src_error(src, g, p, "missing; expected %s", what);
	}
	return NULL;
}

/* Check a string setting m at path: non-empty text. */
static int
src_text(struct config_src *src, const config_setting_t *m, const char *p,
    const char **out)
{
	const char	*s;

	if (config_setting_type(m) != CONFIG_TYPE_STRING)
		return config_src_error(src, m, p, "is %s; expected a string",
		    src_type_name(config_setting_type(m)));
	s = config_setting_get_string(m);
	if (s == NULL || s[0] == '\0')
		return config_src_error(src, m, p, "is empty; expected a "
		    "non-empty string (or leave the key out)");
	if (!utf8_text_ok(s, strlen(s), NULL))
		return config_src_error(src, m, p, "holds invalid UTF-8 or a "
		    "control character; expected one line of text");
	*out = s;
	return 0;
}

int
config_src_string(struct config_src *src, const struct config_setting_t *g,
    const char *gpath, const char *name, int required, const char **out)
{
	char			 p[CONFIG_PATH_MAX];
	config_setting_t	*m;
	int			 rc;

	if ((m = src_member(src, g, gpath, name, required, "a string",
	    &rc)) == NULL)
		return rc;
	config_src_path(p, sizeof(p), gpath, name, -1);
	if (src_text(src, m, p, out) == -1)
		return -1;
	return 1;
}

int
config_src_int(struct config_src *src, const struct config_setting_t *g,
    const char *gpath, const char *name, int required, int64_t min,
    int64_t max, int64_t *out)
{
	char			 p[CONFIG_PATH_MAX], what[96];
	config_setting_t	*m;
	long long		 v;
	int			 rc, type;

	snprintf(what, sizeof(what), "an integer in %lld..%lld",
	    (long long)min, (long long)max);
	if ((m = src_member(src, g, gpath, name, required, what, &rc)) == NULL)
		return rc;
	config_src_path(p, sizeof(p), gpath, name, -1);
	type = config_setting_type(m);
	if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
		return config_src_error(src, m, p, "is %s; expected %s",
		    src_type_name(type), what);
	v = config_setting_get_int64(m);
	if (v < min || v > max)
		return config_src_error(src, m, p, "%lld is out of range; "
		    "expected %s", v, what);
	*out = v;
	return 1;
}

int
config_src_member(struct config_src *src, const struct config_setting_t *g,
    const char *gpath, const char *name, int required, int type,
    struct config_setting_t **out)
{
	char			 p[CONFIG_PATH_MAX];
	const char		*what;
	config_setting_t	*m;
	int			 rc;

	what = type == CONFIG_TYPE_GROUP ? "a group { ... }" :
	    "a list ( { ... }, ... )";
	if ((m = src_member(src, g, gpath, name, required, what, &rc)) == NULL)
		return rc;
	config_src_path(p, sizeof(p), gpath, name, -1);
	if (config_setting_type(m) != type)
		return config_src_error(src, m, p, "is %s; expected %s",
		    src_type_name(config_setting_type(m)), what);
	*out = m;
	return 1;
}

static void
src_strings_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int
config_src_strings(struct config_src *src, const struct config_setting_t *g,
    const char *gpath, const char *name, int required,
    int (*valid)(const char *, size_t), const char *what, int unique,
    char ***out, size_t *nout)
{
	char			 p[CONFIG_PATH_MAX], ep[CONFIG_PATH_MAX];
	char			 expect[256];
	config_setting_t	*m, *e;
	const char		*s;
	char			**v = NULL;
	size_t			 i, j, n;
	int			 rc;

	snprintf(expect, sizeof(expect), "an array of strings [ \"...\" ], "
	    "each %s", what);
	if ((m = src_member(src, g, gpath, name, required, expect, &rc)) ==
	    NULL)
		return rc;
	config_src_path(p, sizeof(p), gpath, name, -1);
	if (config_setting_type(m) != CONFIG_TYPE_ARRAY)
		return config_src_error(src, m, p, "is %s; expected %s",
		    src_type_name(config_setting_type(m)), expect);
	n = (size_t)config_setting_length(m);
	if (n == 0)
		return config_src_error(src, m, p, "is empty; expected at "
		    "least one string, each %s", what);
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return config_src_error(src, m, p, "out of memory");
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(m, (unsigned)i);
		config_src_path(ep, sizeof(ep), p, NULL, (int)i);
		if (e == NULL || src_text(src, e, ep, &s) == -1)
			goto fail;
		if (!valid(s, strlen(s))) {
			config_src_error(src, e, ep, "\"%.80s\" is not %s",
			    s, what);
			goto fail;
		}
		for (j = 0; unique && j < i; j++)
			if (strcmp(v[j], s) == 0) {
				config_src_error(src, e, ep, "\"%.80s\" is "
				    "given twice; expected each once", s);
				goto fail;
			}
		if ((v[i] = strdup(s)) == NULL) {
			config_src_error(src, e, ep, "out of memory");
			goto fail;
		}
	}
	*out = v;
	*nout = n;
	return 1;
fail:
	src_strings_free(v, n);
	return -1;
}

/*
 * The configuration itself.
 */

static char *
config_dup(struct config_src *src, const config_setting_t *s,
    const char *path, const char *v)
{
	char	*d;

	if ((d = strdup(v)) == NULL)
		config_src_error(src, s, path, "out of memory");
	return d;
}

static char *
config_absdup(struct config_src *src, const config_setting_t *s,
    const char *path, const char *v)
{
	char	*d;

	if ((d = src_abs(src, v)) == NULL)
		config_src_error(src, s, path, "out of memory");
	return d;
}

/* An existing file (not a directory) named by member name of g; the
 * absolute path into *out. 1 found, 0 absent, -1 error. */
static int
config_file(struct config_src *src, const config_setting_t *g,
    const char *gpath, const char *name, int required, const char *what,
    char **out)
{
	char			 p[CONFIG_PATH_MAX];
	const char		*v;
	struct stat		 st;
	int			 rc;

	if ((rc = config_src_string(src, g, gpath, name, required, &v)) != 1)
		return rc;
	config_src_path(p, sizeof(p), gpath, name, -1);
	if ((*out = config_absdup(src, config_setting_get_member(g, name), p,
	    v)) == NULL)
		return -1;
	if (stat(*out, &st) == -1)
		return config_src_error(src, config_setting_get_member(g,
		    name), p, "\"%s\": %s; expected %s", *out, strerror(errno),
		    what);
	if (S_ISDIR(st.st_mode))
		return config_src_error(src, config_setting_get_member(g,
		    name), p, "\"%s\" is a directory; expected %s", *out,
		    what);
	return 1;
}

static int
config_daemon(struct config_src *src, const config_setting_t *root,
    struct config *cfg)
{
	config_setting_t	*g;
	const char		*v;
	char			*parent, *slash;
	struct stat		 st;
	int64_t			 n;
	int			 rc;

	if (config_src_member(src, root, "", "daemon", 1, CONFIG_TYPE_GROUP,
	    &g) != 1)
		return -1;
	if (config_src_keys(src, g, "daemon", config_daemon_keys) == -1)
		return -1;

	if (config_src_string(src, g, "daemon", "state_dir", 1, &v) != 1)
		return -1;
	if ((cfg->state_dir = config_absdup(src, g, "daemon.state_dir",
	    v)) == NULL)
		return -1;
	if (stat(cfg->state_dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return config_src_error(src, config_setting_get_member(
			    g, "state_dir"), "daemon.state_dir", "\"%s\" is "
			    "not a directory; expected a directory (or a path "
			    "the daemon may create)", cfg->state_dir);
	} else {
		if ((parent = strdup(cfg->state_dir)) == NULL)
			return config_src_error(src, g, "daemon.state_dir",
			    "out of memory");
		slash = strrchr(parent, '/');
		if (slash == parent)
			slash[1] = '\0';
		else if (slash != NULL)
			*slash = '\0';
		rc = stat(parent, &st) == 0 && S_ISDIR(st.st_mode);
		if (!rc)
			config_src_error(src, config_setting_get_member(g,
			    "state_dir"), "daemon.state_dir", "parent "
			    "directory \"%s\" does not exist; expected an "
			    "existing directory to create the state directory "
			    "in", parent);
		free(parent);
		if (!rc)
			return -1;
	}

	if ((rc = config_src_string(src, g, "daemon", "runtime_dir", 0,
	    &v)) == -1)
		return -1;
	if (rc == 1 && (cfg->runtime_dir = config_absdup(src, g,
	    "daemon.runtime_dir", v)) == NULL)
		return -1;

	if ((rc = config_src_string(src, g, "daemon", "control_group", 0,
	    &v)) == -1)
		return -1;
	if (rc == 1) {
		if (getgrnam(v) == NULL)
			return config_src_error(src, config_setting_get_member(
			    g, "control_group"), "daemon.control_group",
			    "no group \"%.64s\" on this system; expected an "
			    "existing group name (see getent group)", v);
		if ((cfg->control_group = config_dup(src, g,
		    "daemon.control_group", v)) == NULL)
			return -1;
	}

	cfg->log_level = LOG_LEVEL_INFO;
	if ((rc = config_src_string(src, g, "daemon", "log_level", 0,
	    &v)) == -1)
		return -1;
	if (rc == 1 && (cfg->log_level = log_level_parse(v)) == -1)
		return config_src_error(src, config_setting_get_member(g,
		    "log_level"), "daemon.log_level", "\"%.32s\" is not a log "
		    "level; expected err, warning, notice, info or debug", v);

	n = 10000;
	if (config_src_int(src, g, "daemon", "shutdown_timeout_ms", 0, 100,
	    600000, &n) == -1)
		return -1;
	cfg->shutdown_timeout_ms = (int)n;
	return 0;
}

static int
config_journal(struct config_src *src, const config_setting_t *root,
    struct config *cfg)
{
	config_setting_t	*g;
	int64_t			 n;
	int			 rc;

	cfg->journal_max_bytes = 0;
	cfg->checkpoint_interval_ms = 1000;
	cfg->event_retention_days = 365;
	cfg->audit_retention_days = 730;
	if ((rc = config_src_member(src, root, "", "journal", 0,
	    CONFIG_TYPE_GROUP, &g)) != 1)
		return rc;
	if (config_src_keys(src, g, "journal", config_journal_keys) == -1)
		return -1;
	n = 0;
	if (config_src_int(src, g, "journal", "max_size", 0, 0, INT64_MAX,
	    &n) == -1)
		return -1;
	if (n > 0 && n < 1048576)
		return config_src_error(src, config_setting_get_member(g,
		    "max_size"), "journal.max_size", "%lld is too small; "
		    "expected 0 (no limit) or at least 1048576 (1 MiB)",
		    (long long)n);
	cfg->journal_max_bytes = n;
	n = 1000;
	if (config_src_int(src, g, "journal", "checkpoint_interval_ms", 0,
	    100, 600000, &n) == -1)
		return -1;
	cfg->checkpoint_interval_ms = (int)n;
	n = 365;
	if (config_src_int(src, g, "journal", "event_retention_days", 0, 0,
	    36500, &n) == -1)
		return -1;
	cfg->event_retention_days = (int)n;
	n = 730;
	if (config_src_int(src, g, "journal", "audit_retention_days", 0, 0,
	    36500, &n) == -1)
		return -1;
	cfg->audit_retention_days = (int)n;
	return 0;
}

/* 1 when s is a plain addr-spec as the notices need it: one '@', a local
 * part and a domain with a dot, printable ASCII without spaces. */
static int
config_mailbox_ok(const char *s)
{
	const char	*at = strchr(s, '@'), *p;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL ||
	    strchr(at, '.') == NULL || at[1] == '.' ||
	    s[strlen(s) - 1] == '.' || strlen(s) > 254 || at - s > 64)
		return 0;
	for (p = s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("<>()[]\\,;:\"", *p))
			return 0;
	return 1;
}

/* 1 when s is a host name: dot-separated LDH labels. */
static int
config_domain_ok(const char *s)
{
	size_t	label = 0;

	if (*s == '\0' || strlen(s) > 253)
		return 0;
	for (; *s; s++) {
		if (*s == '.') {
			if (label == 0 || s[-1] == '-')
				return 0;
			label = 0;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || (*s == '-' && label > 0)) {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return label > 0 && s[-1] != '-';
}

static int
config_notices(struct config_src *src, const config_setting_t *root,
    struct config *cfg)
{
	config_setting_t	*g = NULL;
	const char		*v;
	int			 rc;

	if ((rc = config_src_member(src, root, "", "notices", 0,
	    CONFIG_TYPE_GROUP, &g)) == -1)
		return -1;
	if (rc == 1 && config_src_keys(src, g, "notices",
	    config_notices_keys) == -1)
		return -1;
	v = "templates";
	if (g != NULL && config_src_string(src, g, "notices", "templates_dir",
	    0, &v) == -1)
		return -1;
	if ((cfg->templates_dir = config_absdup(src, g ? g : root,
	    "notices.templates_dir", v)) == NULL)
		return -1;
	if (g == NULL)
		return 0;
	if ((rc = config_src_string(src, g, "notices", "from", 0, &v)) == -1)
		return -1;
	if (rc == 1) {
		if (!config_mailbox_ok(v))
			return config_src_error(src, config_setting_get_member(
			    g, "from"), "notices.from", "is not a plain "
			    "address; expected local@domain.example");
		if ((cfg->mail_from = config_dup(src, g, "notices.from",
		    v)) == NULL)
			return -1;
	}
	if ((rc = config_src_string(src, g, "notices", "message_id_domain", 0,
	    &v)) == -1)
		return -1;
	if (rc == 1) {
		if (!config_domain_ok(v))
			return config_src_error(src, config_setting_get_member(
			    g, "message_id_domain"), "notices.message_id_domain",
			    "\"%.80s\" is not a host name; expected e.g. "
			    "outreach.example.org", v);
		if ((cfg->message_id_domain = config_dup(src, g,
		    "notices.message_id_domain", v)) == NULL)
			return -1;
	}
	if ((rc = config_src_string(src, g, "notices", "unsubscribe_url", 0,
	    &v)) == -1)
		return -1;
	if (rc == 1) {
		if (strncmp(v, "https://", 8) != 0 || v[8] == '\0' ||
		    v[8] == '/' || strpbrk(v, " ,<>\"") != NULL)
			return config_src_error(src, config_setting_get_member(
			    g, "unsubscribe_url"), "notices.unsubscribe_url",
			    "is not an https URL prefix; expected e.g. "
			    "https://outreach.example.org/unsubscribe?token=");
		if ((cfg->unsubscribe_url = config_dup(src, g,
		    "notices.unsubscribe_url", v)) == NULL)
			return -1;
	}
	if ((rc = config_src_string(src, g, "notices", "unsubscribe_mailto", 0,
	    &v)) == -1)
		return -1;
	if (rc == 1) {
		if (!config_mailbox_ok(v))
			return config_src_error(src, config_setting_get_member(
			    g, "unsubscribe_mailto"), "notices.unsubscribe_mailto",
			    "is not a plain address; expected "
			    "unsubscribe@domain.example");
		if ((cfg->unsubscribe_mailto = config_dup(src, g,
		    "notices.unsubscribe_mailto", v)) == NULL)
			return -1;
	}
	return 0;
}

/* A language tag canonicalised with ICU into out; -1 when it is not one. */
static int
config_lang(const char *tag, char *out, size_t outlen)
{
	char		 loc[ULOC_FULLNAME_CAPACITY];
	UErrorCode	 st = U_ZERO_ERROR;
	int32_t		 parsed = 0, n;
	size_t		 len = strlen(tag);

	if (len == 0 || len > CONFIG_LANG_MAX)
		return -1;
	n = uloc_forLanguageTag(tag, loc, (int32_t)sizeof(loc), &parsed, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING ||
	    n <= 0 || parsed != (int32_t)len)
		return -1;
	st = U_ZERO_ERROR;
	n = uloc_toLanguageTag(loc, out, (int32_t)outlen, 1, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING ||
	    n <= 0 || strcmp(out, "und") == 0)
		return -1;
	return 0;
}

static int
config_post_one(struct config_src *src, const config_setting_t *g,
    const char *gp, struct config *cfg, size_t i)
{
	struct cfg_post		*po = &cfg->posts[i];
	char			 p[CONFIG_PATH_MAX];
	char			 lang[ULOC_FULLNAME_CAPACITY];
	const config_setting_t	*m;
	const char		*v;
	size_t			 j;
	int			 rc;
	static const char *const opt[] = { "address", "phone", "email",
	    "website" };
	char			**optv[] = { &po->address, &po->phone,
	    &po->email, &po->website };

	if (config_src_keys(src, g, gp, config_post_keys) == -1)
		return -1;
	config_src_path(p, sizeof(p), gp, "id", -1);
	if (config_src_string(src, g, gp, "id", 1, &v) != 1)
		return -1;
	m = config_setting_get_member(g, "id");
	if (!topic_slug_valid(v, strlen(v)))
		return config_src_error(src, m, p, "\"%.80s\" is not a slug; "
		    "expected [a-z0-9][a-z0-9-]{0,62}", v);
	for (j = 0; j < i; j++)
		if (strcmp(cfg->posts[j].id, v) == 0)
			return config_src_error(src, m, p, "\"%s\" is given "
			    "twice; expected each post id once", v);
	if ((po->id = config_dup(src, m, p, v)) == NULL)
		return -1;

	config_src_path(p, sizeof(p), gp, "name", -1);
	if (config_src_string(src, g, gp, "name", 1, &v) != 1)
		return -1;
	if ((po->name = config_dup(src, g, p, v)) == NULL)
		return -1;

	config_src_path(p, sizeof(p), gp, "lang", -1);
	if (config_src_string(src, g, gp, "lang", 1, &v) != 1)
		return -1;
	if (config_lang(v, lang, sizeof(lang)) == -1)
		return config_src_error(src, config_setting_get_member(g,
		    "lang"), p, "\"%.80s\" is not a BCP 47 language tag; "
		    "expected one such as \"en\", \"de-DE\" or \"fil\"", v);
	if ((po->lang = config_dup(src, g, p, lang)) == NULL)
		return -1;

	for (j = 0; j < sizeof(opt) / sizeof(opt[0]); j++) {
		config_src_path(p, sizeof(p), gp, opt[j], -1);
		if ((rc = config_src_string(src, g, gp, opt[j], 0, &v)) == -1)
			return -1;
		if (rc == 0)
			continue;
		m = config_setting_get_member(g, opt[j]);
		if (optv[j] == &po->website &&
		    (strncmp(v, "https://", 8) != 0 || v[8] == '\0'))
			return config_src_error(src, m, p, "is not an https "
			    "URL; expected https://...");
		if (optv[j] == &po->email && (strchr(v, '@') == NULL ||
		    v[0] == '@' || v[strlen(v) - 1] == '@'))
			return config_src_error(src, m, p, "is not an e-mail "
			    "address; expected local@domain");
		if ((*optv[j] = config_dup(src, m, p, v)) == NULL)
			return -1;
	}
	return 0;
}

static int
config_posts(struct config_src *src, const config_setting_t *root,
    struct config *cfg)
{
	config_setting_t	*l, *g;
	char			 p[CONFIG_PATH_MAX];
	size_t			 i, n;

	if (config_src_member(src, root, "", "posts", 1, CONFIG_TYPE_LIST,
	    &l) != 1)
		return -1;
	n = (size_t)config_setting_length(l);
	if (n == 0)
		return config_src_error(src, l, "posts", "is empty; expected "
		    "at least one post { id = ...; name = ...; lang = ...; }");
	if ((cfg->posts = calloc(n, sizeof(*cfg->posts))) == NULL)
		return config_src_error(src, l, "posts", "out of memory");
	cfg->nposts = n;
	for (i = 0; i < n; i++) {
		g = config_setting_get_elem(l, (unsigned)i);
		config_src_path(p, sizeof(p), "posts", NULL, (int)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP)
			return config_src_error(src, g, p, "is %s; expected a "
			    "group { id = ...; name = ...; lang = ...; }",
			    src_type_name(config_setting_type(g)));
		if (config_post_one(src, g, p, cfg, i) == -1)
			return -1;
	}
	return 0;
}

/* 1 when host (n bytes) is a loopback address as the config allows it:
 * 127.x.y.z, [::1] or localhost. */
static int
config_loopback_host(const char *h, size_t n)
{
	size_t	i, parts = 0, digits = 0;
	int	v = 0;

	if ((n == 9 && memcmp(h, "localhost", 9) == 0) ||
	    (n == 5 && memcmp(h, "[::1]", 5) == 0))
		return 1;
	if (n < 4 || memcmp(h, "127.", 4) != 0)
		return 0;
	for (i = 0; i <= n; i++) {
		if (i == n || h[i] == '.') {
			if (digits == 0 || v > 255)
				return 0;
			parts++;
			digits = 0;
			v = 0;
		} else if (h[i] >= '0' && h[i] <= '9' && digits < 3) {
			v = v * 10 + (h[i] - '0');
			digits++;
		} else
			return 0;
	}
	return parts == 4;
}

/* Check a ZeroMQ address (bind: may use a "*" port) at path; a relative
 * ipc path is made absolute.  The address into *out, and whether it is
 * loopback or ipc into *local.  Returns 0 or -1. */
static int
config_address(struct config_src *src, const config_setting_t *s,
    const char *path, const char *a, int bind, char **out, int *local)
{
	const char	*rest, *colon, *port;
	char		*abs = NULL;
	size_t		 hl, i;
	long		 pv = 0;
	struct buf	 b;

	*local = 0;
	if (strncmp(a, "ipc://", 6) == 0) {
		rest = a + 6;
		if (rest[0] == '\0')
			return config_src_error(src, s, path, "has no path; "
			    "expected ipc:///PATH");
		buf_init(&b, 0);
		buf_adds(&b, "ipc://");
		if (rest[0] != '/' && rest[0] != '@') {
			if ((abs = src_abs(src, rest)) == NULL) {
				buf_free(&b);
				return config_src_error(src, s, path,
				    "out of memory");
			}
			buf_adds(&b, abs);
			free(abs);
		} else
			buf_adds(&b, rest);
		if (b.overflow || (*out = buf_release(&b)) == NULL) {
			buf_free(&b);
			return config_src_error(src, s, path, "out of memory");
		}
		buf_free(&b);
		if (strlen(*out + 6) > CONFIG_IPC_MAX)
			return config_src_error(src, s, path, "path \"%s\" is "
			    "longer than %d bytes; expected a shorter path "
			    "(a Unix socket limit)", *out + 6, CONFIG_IPC_MAX);
		*local = 1;
		return 0;
	}
	if (strncmp(a, "tcp://", 6) != 0)
		return config_src_error(src, s, path, "\"%.80s\" is not a "
		    "ZeroMQ address; expected tcp://HOST:PORT or ipc:///PATH",
		    a);
	rest = a + 6;
	if ((colon = strrchr(rest, ':')) == NULL || colon == rest)
		return config_src_error(src, s, path, "\"%.80s\" has no "
		    "host or no port; expected tcp://HOST:PORT", a);
	hl = (size_t)(colon - rest);
	if ((rest[0] == '[') != (rest[hl - 1] == ']') ||
	    (!bind && hl == 1 && rest[0] == '*'))
		return config_src_error(src, s, path, "\"%.80s\" has no "
		    "valid host; expected tcp://HOST:PORT", a);
	port = colon + 1;
	if (!(bind && strcmp(port, "*") == 0)) {
		for (i = 0; port[i] != '\0'; i++) {
			if (port[i] < '0' || port[i] > '9' || i >= 5)
				break;
			pv = pv * 10 + (port[i] - '0');
		}
		if (i == 0 || port[i] != '\0' || pv < 1 || pv > 65535)
			return config_src_error(src, s, path, "\"%.80s\" has "
			    "no valid port; expected tcp://HOST:PORT with a "
			    "port in 1..65535%s", a, bind ? " or *" : "");
	}
	*local = config_loopback_host(rest, hl);
	if ((*out = strdup(a)) == NULL)
		return config_src_error(src, s, path, "out of memory");
	return 0;
}

/* security = "curve" | "none" of group g; CURVE when absent. */
static int
config_security(struct config_src *src, const config_setting_t *g,
    const char *gp, enum cfg_security *out)
{
	char		 p[CONFIG_PATH_MAX];
	const char	*v;
	int		 rc;

	*out = CFG_SECURITY_CURVE;
	if ((rc = config_src_string(src, g, gp, "security", 0, &v)) != 1)
		return rc;
	if (strcmp(v, "curve") == 0)
		return 0;
	if (strcmp(v, "none") == 0) {
		*out = CFG_SECURITY_NONE;
		return 0;
	}
	config_src_path(p, sizeof(p), gp, "security", -1);
	return config_src_error(src, config_setting_get_member(g, "security"),
	    p, "\"%.32s\" is not a security mode; expected \"curve\" or "
	    "\"none\"", v);
}

/* post = "ID" of g naming a post of cfg; into *out. */
static int
config_post_ref(struct config_src *src, const config_setting_t *g,
    const char *gp, int required, const struct config *cfg, char **out)
{
	char			 p[CONFIG_PATH_MAX];
	const config_setting_t	*m;
	const char		*v;
	int			 rc;

	if ((rc = config_src_string(src, g, gp, "post", required, &v)) != 1)
		return rc;
	config_src_path(p, sizeof(p), gp, "post", -1);
	m = config_setting_get_member(g, "post");
	if (config_post(cfg, v) == NULL)
		return config_src_error(src, m, p, "no post \"%.80s\" in "
		    "posts; expected the id of one of the posts", v);
	if ((*out = config_dup(src, m, p, v)) == NULL)
		return -1;
	return 1;
}

static const char config_none_where[] = "expected security \"curve\", or "
    "an address on tcp://127.x.y.z:PORT, tcp://[::1]:PORT, "
    "tcp://localhost:PORT or ipc://";

static int
config_endpoint(struct config_src *src, const config_setting_t *g,
    const char *gp, struct config *cfg, size_t i)
{
	struct cfg_endpoint	*ep = &cfg->endpoints[i];
	char			 p[CONFIG_PATH_MAX];
	const config_setting_t	*m;
	const char		*v;
	size_t			 j;
	int			 local, rc;

	if (config_src_keys(src, g, gp, config_endpoint_keys) == -1)
		return -1;
	config_src_path(p, sizeof(p), gp, "bind", -1);
	if (config_src_string(src, g, gp, "bind", 1, &v) != 1)
		return -1;
	m = config_setting_get_member(g, "bind");
	if (config_address(src, m, p, v, 1, &ep->bind, &local) == -1)
		return -1;
	for (j = 0; j < i; j++)
		if (strcmp(cfg->endpoints[j].bind, ep->bind) == 0)
			return config_src_error(src, m, p, "\"%.80s\" is "
			    "given twice; expected each address once", v);
	if (config_security(src, g, gp, &ep->security) == -1)
		return -1;
	config_src_path(p, sizeof(p), gp, "security", -1);
	if (ep->security == CFG_SECURITY_NONE && !local)
		return config_src_error(src, config_setting_get_member(g,
		    "security"), p, "\"none\" on a non-loopback address; %s",
		    config_none_where);
	config_src_path(p, sizeof(p), gp, "post", -1);
	if (ep->security == CFG_SECURITY_CURVE) {
		if ((m = config_setting_get_member(g, "post")) != NULL)
			return config_src_error(src, m, p, "is only allowed "
			    "with security \"none\"; expected no post (CURVE "
			    "publishers get their post from the allow-list)");
		return 0;
	}
	if ((rc = config_post_ref(src, g, gp, 0, cfg, &ep->post)) == -1)
		return -1;
	if (rc == 0)
		return config_src_error(src, g, p, "missing; expected the id "
		    "of the post whose allow-list applies to this security "
		    "\"none\" endpoint");
	return 0;
}

static int
config_feed(struct config_src *src, const config_setting_t *g,
    const char *gp, struct config *cfg, size_t i)
{
	struct cfg_feed		*fd = &cfg->feeds[i];
	char			 p[CONFIG_PATH_MAX];
	const config_setting_t	*m;
	const char		*v;
	size_t			 j;
	int			 local, rc;

	if (config_src_keys(src, g, gp, config_feed_keys) == -1)
		return -1;
	config_src_path(p, sizeof(p), gp, "name", -1);
	if (config_src_string(src, g, gp, "name", 1, &v) != 1)
		return -1;
	m = config_setting_get_member(g, "name");
	if (!topic_slug_valid(v, strlen(v)))
		return config_src_error(src, m, p, "\"%.80s\" is not a slug; "
		    "expected [a-z0-9][a-z0-9-]{0,62}", v);
	for (j = 0; j < i; j++)
		if (strcmp(cfg->feeds[j].name, v) == 0)
			return config_src_error(src, m, p, "\"%s\" is given "
			    "twice; expected each feed name once", v);
	if ((fd->name = config_dup(src, m, p, v)) == NULL)
		return -1;

	config_src_path(p, sizeof(p), gp, "connect", -1);
	if (config_src_string(src, g, gp, "connect", 1, &v) != 1)
		return -1;
	m = config_setting_get_member(g, "connect");
	if (config_address(src, m, p, v, 0, &fd->connect, &local) == -1)
		return -1;

	if (config_post_ref(src, g, gp, 1, cfg, &fd->post) != 1)
		return -1;
	if (config_security(src, g, gp, &fd->security) == -1)
		return -1;
	if (fd->security == CFG_SECURITY_NONE) {
		config_src_path(p, sizeof(p), gp, "security", -1);
		if (!local)
			return config_src_error(src, config_setting_get_member(
			    g, "security"), p, "\"none\" on a non-loopback "
			    "address; %s", config_none_where);
		config_src_path(p, sizeof(p), gp, "server_key", -1);
		if ((m = config_setting_get_member(g, "server_key")) != NULL)
			return config_src_error(src, m, p, "is only used with "
			    "security \"curve\"; expected no server_key");
		return 0;
	}
	config_src_path(p, sizeof(p), gp, "server_key", -1);
	if ((rc = config_src_string(src, g, gp, "server_key", 0, &v)) == -1)
		return -1;
	if (rc == 0)
		return config_src_error(src, g, p, "missing; expected the "
		    "feed's CURVE server public key (40 characters of Z85), "
		    "or security \"none\" on loopback");
	if (!keyfile_z85_valid(v))
		return config_src_error(src, config_setting_get_member(g,
		    "server_key"), p, "is not a CURVE public key; expected 40 "
		    "characters of Z85");
	memcpy(fd->server_key, v, KEY_Z85_LEN + 1);
	return 0;
}

static int
config_copy_list(struct config_src *src, const config_setting_t *g,
    const char *path, const char *const *from, char ***out, size_t *n)
{
	size_t	i, k;

	for (k = 0; from[k] != NULL; k++)
		;
	if ((*out = calloc(k, sizeof(**out))) == NULL)
		return config_src_error(src, g, path, "out of memory");
	*n = k;
	for (i = 0; i < k; i++)
		if (((*out)[i] = strdup(from[i])) == NULL)
			return config_src_error(src, g, path, "out of memory");
	return 0;
}

static int
config_ingest(struct config_src *src, const config_setting_t *root,
    struct config *cfg)
{
	config_setting_t	*g, *l, *e;
	char			 p[CONFIG_PATH_MAX];
	int64_t			 n;
	size_t			 i, k;
	int			 rc;

	if (config_src_member(src, root, "", "ingest", 1, CONFIG_TYPE_GROUP,
	    &g) != 1)
		return -1;
	if (config_src_keys(src, g, "ingest", config_ingest_keys) == -1)
		return -1;

	if (config_file(src, g, "ingest", "curve_secret_file", 0, "the "
	    "daemon's CURVE secret key file (or leave the key out to use "
	    "$CREDENTIALS_DIRECTORY/curve.key)", &cfg->curve_secret_file) == -1)
		return -1;
	if (config_file(src, g, "ingest", "allow_list", 1, "the publishers' "
	    "allow-list file", &cfg->allow_list) != 1)
		return -1;

	if ((rc = config_src_strings(src, g, "ingest", "prefixes", 0,
	    topic_prefix_valid, "a topic prefix such as \"embassy.\" or "
	    "\"consulate.ph.frankfurt.\"", 0, &cfg->prefixes,
	    &cfg->nprefixes)) == -1)
		return -1;
	if (rc == 0 && config_copy_list(src, g, "ingest.prefixes",
	    config_default_prefixes, &cfg->prefixes, &cfg->nprefixes) == -1)
		return -1;
	if ((rc = config_src_strings(src, g, "ingest", "types", 0,
	    topic_slug_valid, "an event type slug [a-z0-9][a-z0-9-]{0,62}",
	    1, &cfg->types, &cfg->ntypes)) == -1)
		return -1;
	if (rc == 0 && config_copy_list(src, g, "ingest.types",
	    config_default_types, &cfg->types, &cfg->ntypes) == -1)
		return -1;

	n = 65536;
	if (config_src_int(src, g, "ingest", "max_event_bytes", 0, 1024,
	    1048576, &n) == -1)
		return -1;
	cfg->max_event_bytes = (size_t)n;
	n = 1024;
	if (config_src_int(src, g, "ingest", "batch_max", 0, 1, 65536,
	    &n) == -1)
		return -1;
	cfg->batch_max = (int)n;

	if ((rc = config_src_member(src, g, "ingest", "endpoints", 0,
	    CONFIG_TYPE_LIST, &l)) == -1)
		return -1;
	if (rc == 1 && (k = (size_t)config_setting_length(l)) > 0) {
		if ((cfg->endpoints = calloc(k, sizeof(*cfg->endpoints))) ==
		    NULL)
			return config_src_error(src, l, "ingest.endpoints",
			    "out of memory");
		cfg->nendpoints = k;
		for (i = 0; i < k; i++) {
			e = config_setting_get_elem(l, (unsigned)i);
			config_src_path(p, sizeof(p), "ingest.endpoints",
			    NULL, (int)i);
			if (config_setting_type(e) != CONFIG_TYPE_GROUP)
				return config_src_error(src, e, p, "is %s; "
				    "expected a group { bind = ...; }",
				    src_type_name(config_setting_type(e)));
			if (config_endpoint(src, e, p, cfg, i) == -1)
				return -1;
		}
	}

	if ((rc = config_src_member(src, g, "ingest", "feeds", 0,
	    CONFIG_TYPE_LIST, &l)) == -1)
		return -1;
	if (rc == 1 && (k = (size_t)config_setting_length(l)) > 0) {
		if ((cfg->feeds = calloc(k, sizeof(*cfg->feeds))) == NULL)
			return config_src_error(src, l, "ingest.feeds",
			    "out of memory");
		cfg->nfeeds = k;
		for (i = 0; i < k; i++) {
			e = config_setting_get_elem(l, (unsigned)i);
			config_src_path(p, sizeof(p), "ingest.feeds", NULL,
			    (int)i);
			if (config_setting_type(e) != CONFIG_TYPE_GROUP)
				return config_src_error(src, e, p, "is %s; "
				    "expected a group { name = ...; connect = "
				    "...; post = ...; }",
				    src_type_name(config_setting_type(e)));
			if (config_feed(src, e, p, cfg, i) == -1)
				return -1;
		}
	}

	if (cfg->nendpoints == 0 && cfg->nfeeds == 0)
		return config_src_error(src, g, "ingest", "has no endpoints "
		    "and no feeds; expected at least one endpoint { bind = "
		    "...; } or feed { connect = ...; }");
	return 0;
}

/*
 * Delivery: tls { }, smtp { relays ( ) }, webhooks { }, delivery { }.
 */

/* A boolean member: 1 found (*out set), 0 absent, -1 error. */
static int
config_bool(struct config_src *src, const config_setting_t *g,
    const char *gpath, const char *name, int *out)
{
	config_setting_t	*m;
	char			 p[CONFIG_PATH_MAX];

	if (g == NULL || (m = config_setting_get_member(g, name)) == NULL)
		return 0;
	config_src_path(p, sizeof(p), gpath, name, -1);
	if (config_setting_type(m) != CONFIG_TYPE_BOOL)
		return config_src_error(src, m, p, "is %s; expected true or "
		    "false", src_type_name(config_setting_type(m)));
	*out = config_setting_get_bool(m);
	return 1;
}

/* ca_file, cert_file, key_file of g into t (each optional). */
static int
config_tls_files(struct config_src *src, const config_setting_t *g,
    const char *gpath, struct cfg_tls *t)
{
	if (config_file(src, g, gpath, "ca_file", 0, "a PEM file of CA "
	    "certificates", &t->ca_file) == -1 ||
	    config_file(src, g, gpath, "cert_file", 0, "a PEM certificate "
	    "chain", &t->cert_file) == -1 ||
	    config_file(src, g, gpath, "key_file", 0, "a PEM private key",
	    &t->key_file) == -1)
		return -1;
	if (t->key_file != NULL && t->cert_file == NULL)
		return config_src_error(src, config_setting_get_member(g,
		    "key_file"), gpath, "key_file without cert_file; expected "
		    "both, or cert_file alone when it holds the key");
	return 0;
}

/*
 * A secret's file: an absolute path, a path relative to the config file,
 * or a bare name looked up in $CREDENTIALS_DIRECTORY (systemd's
 * LoadCredential=).  It must exist and not be readable by others.
 */
static int
config_secret_file(struct config_src *src, const config_setting_t *g,
    const char *gpath, const char *name, const char *what, char **out)
{
	char			 p[CONFIG_PATH_MAX];
	const config_setting_t	*m;
	const char		*v, *cd;
	struct stat		 st;
	int			 rc;

	if ((rc = config_src_string(src, g, gpath, name, 0, &v)) != 1)
		return rc;
	config_src_path(p, sizeof(p), gpath, name, -1);
	m = config_setting_get_member(g, name);
	if (strchr(v, '/') == NULL && (cd = getenv("CREDENTIALS_DIRECTORY"))
	    != NULL && cd[0] == '/') {
		if (asprintf(out, "%s/%s", cd, v) == -1) {
			*out = NULL;
			return config_src_error(src, m, p, "out of memory");
		}
	} else if ((*out = config_absdup(src, m, p, v)) == NULL)
		return -1;
	if (stat(*out, &st) == -1)
		return config_src_error(src, m, p, "\"%s\": %s; expected %s "
		    "(a file, or a name in $CREDENTIALS_DIRECTORY)", *out,
		    strerror(errno), what);
	if (!S_ISREG(st.st_mode))
		return config_src_error(src, m, p, "\"%s\" is not a regular "
		    "file; expected %s", *out, what);
	if (st.st_mode & S_IROTH)
		return config_src_error(src, m, p, "\"%s\" is readable by "
		    "anyone (mode %04o); expected a secret file (chmod o-rwx)",
		    *out, (unsigned)(st.st_mode & 07777));
	return 1;
}

static int
config_tls(struct config_src *src, const config_setting_t *root,
    struct config *cfg)
{
	config_setting_t	*g;
	int			 rc;

	if ((rc = config_src_member(src, root, "", "tls", 0,
	    CONFIG_TYPE_GROUP, &g)) != 1)
		return rc;
	if (config_src_keys(src, g, "tls", config_tls_keys) == -1)
		return -1;
	return config_tls_files(src, g, "tls", &cfg->tls);
}

static int
config_relay(struct config_src *src, const config_setting_t *g,
    const char *gp, struct config *cfg, size_t i)
{
	struct cfg_relay	*r = &cfg->relays[i];
	char			 p[CONFIG_PATH_MAX];
	const config_setting_t	*m;
	const char		*v;
	int64_t			 n;
	size_t			 j;
	int			 rc;

	if (config_src_keys(src, g, gp, config_relay_keys) == -1)
		return -1;
	config_src_path(p, sizeof(p), gp, "name", -1);
	if (config_src_string(src, g, gp, "name", 1, &v) != 1)
		return -1;
	m = config_setting_get_member(g, "name");
	if (!topic_slug_valid(v, strlen(v)))
		return config_src_error(src, m, p, "\"%.80s\" is not a slug; "
		    "expected [a-z0-9][a-z0-9-]{0,62}", v);
	for (j = 0; j < i; j++)
		if (strcmp(cfg->relays[j].name, v) == 0)
			return config_src_error(src, m, p, "\"%s\" is given "
			    "twice; expected each relay name once", v);
	if ((r->name = config_dup(src, m, p, v)) == NULL)
		return -1;

	config_src_path(p, sizeof(p), gp, "host", -1);
	if (config_src_string(src, g, gp, "host", 1, &v) != 1)
		return -1;
	m = config_setting_get_member(g, "host");
	{
		unsigned char a[16];

		if (!config_domain_ok(v) && inet_pton(AF_INET, v, a) != 1 &&
		    inet_pton(AF_INET6, v, a) != 1)
			return config_src_error(src, m, p, "\"%.80s\" is not a "
			    "host name or IP address; expected e.g. "
			    "\"smtp.example.org\" or \"127.0.0.1\"", v);
	}
	if ((r->host = config_dup(src, m, p, v)) == NULL)
		return -1;

	r->tls = CFG_RELAY_STARTTLS;
	config_src_path(p, sizeof(p), gp, "tls", -1);
	if ((rc = config_src_string(src, g, gp, "tls", 0, &v)) == -1)
		return -1;
	if (rc == 1) {
		if (strcmp(v, "tls") == 0)
			r->tls = CFG_RELAY_TLS;
		else if (strcmp(v, "starttls") != 0)
			return config_src_error(src, config_setting_get_member(
			    g, "tls"), p, "\"%.32s\" is not a TLS mode; "
			    "expected \"starttls\" (port 587) or \"tls\" "
			    "(implicit TLS, port 465); plaintext is not "
			    "offered", v);
	}
	n = r->tls == CFG_RELAY_TLS ? 465 : 587;
	if (config_src_int(src, g, gp, "port", 0, 1, 65535, &n) == -1)
		return -1;
	r->port = (int)n;

	config_src_path(p, sizeof(p), gp, "helo", -1);
	if ((rc = config_src_string(src, g, gp, "helo", 0, &v)) == -1)
		return -1;
	if (rc == 1) {
		if (!config_domain_ok(v))
			return config_src_error(src, config_setting_get_member(
			    g, "helo"), p, "\"%.80s\" is not a host name; "
			    "expected this machine's name as the relay knows "
			    "it", v);
		if ((r->helo = config_dup(src, g, p, v)) == NULL)
			return -1;
	}
	if (config_secret_file(src, g, gp, "credential", "a file of two "
	    "lines: user name, password", &r->credential) == -1)
		return -1;
	if (config_tls_files(src, g, gp, &r->tls_files) == -1)
		return -1;

	n = 4;
	if (config_src_int(src, g, gp, "max_connections", 0, 1, 256, &n) == -1)
		return -1;
	r->max_connections = (int)n;
	n = 1000;
	if (config_src_int(src, g, gp, "max_messages_per_connection", 0, 1,
	    1000000, &n) == -1)
		return -1;
	r->max_messages_per_connection = (int)n;
	n = 0;
	if (config_src_int(src, g, gp, "rate", 0, 0, 1000000, &n) == -1)
		return -1;
	r->rate = (int)n;
	n = 60000;
	if (config_src_int(src, g, gp, "timeout_ms", 0, 100, 600000, &n) == -1)
		return -1;
	r->timeout_ms = (int)n;
	return 0;
}

static int
config_smtp(struct config_src *src, const config_setting_t *root,
    struct config *cfg)
{
	config_setting_t	*g, *l, *e;
	char			 p[CONFIG_PATH_MAX];
	size_t			 i, n;
	int			 rc;

	if ((rc = config_src_member(src, root, "", "smtp", 0,
	    CONFIG_TYPE_GROUP, &g)) != 1)
		return rc;
	if (config_src_keys(src, g, "smtp", config_smtp_keys) == -1)
		return -1;
	if (config_src_member(src, g, "smtp", "relays", 1, CONFIG_TYPE_LIST,
	    &l) != 1)
		return -1;
	n = (size_t)config_setting_length(l);
	if (n == 0)
		return config_src_error(src, l, "smtp.relays", "is empty; "
		    "expected at least one relay { name = ...; host = ...; }");
	if ((cfg->relays = calloc(n, sizeof(*cfg->relays))) == NULL)
		return config_src_error(src, l, "smtp.relays", "out of memory");
	cfg->nrelays = n;
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(l, (unsigned)i);
		config_src_path(p, sizeof(p), "smtp.relays", NULL, (int)i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return config_src_error(src, e, p, "is %s; expected a "
			    "group { name = ...; host = ...; }",
			    src_type_name(config_setting_type(e)));
		if (config_relay(src, e, p, cfg, i) == -1)
			return -1;
	}
	return 0;
}

static int
config_webhooks(struct config_src *src, const config_setting_t *root,
    struct config *cfg)
{
	struct cfg_webhooks	*w = &cfg->webhooks;
	config_setting_t	*g = NULL;
	int64_t			 n;
	int			 rc;

	w->max_connections_per_host = 8;
	w->timeout_ms = 15000;
	w->retry_after_max_s = 3600;
	if ((rc = config_src_member(src, root, "", "webhooks", 0,
	    CONFIG_TYPE_GROUP, &g)) == -1)
		return -1;
	if (rc == 0)
		return 0;
	if (config_src_keys(src, g, "webhooks", config_webhooks_keys) == -1)
		return -1;
	if (config_secret_file(src, g, "webhooks", "secret_file", "a file of "
	    "whsec_ secrets, one per line", &w->secret_file) == -1)
		return -1;
	if (config_bool(src, g, "webhooks", "allow_loopback",
	    &w->allow_loopback) == -1 ||
	    config_bool(src, g, "webhooks", "allow_private",
	    &w->allow_private) == -1)
		return -1;
	n = w->max_connections_per_host;
	if (config_src_int(src, g, "webhooks", "max_connections_per_host", 0,
	    1, 256, &n) == -1)
		return -1;
	w->max_connections_per_host = (int)n;
	n = 0;
	if (config_src_int(src, g, "webhooks", "rate_per_host", 0, 0, 1000000,
	    &n) == -1)
		return -1;
	w->rate_per_host = (int)n;
	n = w->timeout_ms;
	if (config_src_int(src, g, "webhooks", "timeout_ms", 0, 100, 600000,
	    &n) == -1)
		return -1;
	w->timeout_ms = (int)n;
	n = w->retry_after_max_s;
	if (config_src_int(src, g, "webhooks", "retry_after_max_s", 0, 0,
	    604800, &n) == -1)
		return -1;
	w->retry_after_max_s = (int)n;
	return 0;
}

/* A group { low = N; normal = N; high = N; critical = N; } into v[4],
 * each optional (v holds the defaults). */
static int
config_per_priority(struct config_src *src, const config_setting_t *g,
    const char *gpath, const char *name, int64_t min, int64_t max,
    int v[4])
{
	config_setting_t	*m;
	char			 p[CONFIG_PATH_MAX];
	int64_t			 n;
	int			 i, rc;

	if ((rc = config_src_member(src, g, gpath, name, 0, CONFIG_TYPE_GROUP,
	    &m)) != 1)
		return rc;
	config_src_path(p, sizeof(p), gpath, name, -1);
	if (config_src_keys(src, m, p, config_priority_keys) == -1)
		return -1;
	for (i = 0; i < 4; i++) {
		n = v[i];
		if (config_src_int(src, m, p, config_priority_keys[i], 0, min,
		    max, &n) == -1)
			return -1;
		v[i] = (int)n;
	}
	return 0;
}

static int
config_delivery(struct config_src *src, const config_setting_t *root,
    struct config *cfg)
{
	struct cfg_delivery	*d = &cfg->delivery;
	config_setting_t	*g = NULL;
	int64_t			 n;
	int			 i, rc;
	/* Defaults by priority (low, normal, high, critical): critical
	 * retries within seconds and gives up last; low waits longest. */
	static const int lifetime[4] = { 43200, 86400, 86400, 172800 };
	static const int first[4] = { 120000, 30000, 10000, 2000 };
	static const int most[4] = { 3600000, 1800000, 600000, 60000 };

	d->batch = 256;
	d->max_in_flight = 1024;
	for (i = 0; i < 4; i++) {
		d->lifetime_s[i] = lifetime[i];
		d->retry_first_ms[i] = first[i];
		d->retry_max_ms[i] = most[i];
	}
	if ((rc = config_src_member(src, root, "", "delivery", 0,
	    CONFIG_TYPE_GROUP, &g)) != 1)
		return rc;
	if (config_src_keys(src, g, "delivery", config_delivery_keys) == -1)
		return -1;
	n = d->batch;
	if (config_src_int(src, g, "delivery", "batch", 0, 1, 10000, &n) == -1)
		return -1;
	d->batch = (int)n;
	n = d->max_in_flight;
	if (config_src_int(src, g, "delivery", "max_in_flight", 0, 1, 100000,
	    &n) == -1)
		return -1;
	d->max_in_flight = (int)n;
	if (config_per_priority(src, g, "delivery", "lifetime_s", 1,
	    30 * 86400, d->lifetime_s) == -1 ||
	    config_per_priority(src, g, "delivery", "retry_first_ms", 10,
	    86400000, d->retry_first_ms) == -1 ||
	    config_per_priority(src, g, "delivery", "retry_max_ms", 10,
	    86400000, d->retry_max_ms) == -1)
		return -1;
	for (i = 0; i < 4; i++)
		if (d->retry_max_ms[i] < d->retry_first_ms[i])
			return config_src_error(src, g, "delivery.retry_max_ms",
			    "%s: %d is below retry_first_ms (%d); expected at "
			    "least the first delay", config_priority_keys[i],
			    d->retry_max_ms[i], d->retry_first_ms[i]);
	return 0;
}

static int
config_load_any(const char *path, const char *text, struct config *cfg,
    char *err, size_t errlen)
{
	struct config_src	 src;
	config_setting_t	*root;
	const char		*base;
	int			 rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	if (path == NULL || (text == NULL && path[0] == '\0')) {
		snprintf(err, errlen, "config: no file name given");
		return -1;
	}
	if (config_src_open(&src, path, text, err, errlen) == -1)
		return -1;
	root = config_src_root(&src);
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if ((cfg->path = src_abs(&src, base)) == NULL) {
		src_error_line(&src, 0, "out of memory");
		goto out;
	}
	/* Posts before ingest, which refers to them. */
	if (config_src_keys(&src, root, "", config_root_keys) == -1 ||
	    config_daemon(&src, root, cfg) == -1 ||
	    config_journal(&src, root, cfg) == -1 ||
	    config_notices(&src, root, cfg) == -1 ||
	    config_tls(&src, root, cfg) == -1 ||
	    config_smtp(&src, root, cfg) == -1 ||
	    config_webhooks(&src, root, cfg) == -1 ||
	    config_delivery(&src, root, cfg) == -1 ||
	    config_posts(&src, root, cfg) == -1 ||
	    config_ingest(&src, root, cfg) == -1)
		goto out;
	rc = 0;
out:
	config_src_close(&src);
	if (rc == -1)
		config_free(cfg);
	return rc;
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	return config_load_any(path, NULL, cfg, err, errlen);
}

int
config_load_string(const char *text, const char *name, struct config *cfg,
    char *err, size_t errlen)
{
	if (text == NULL) {
		memset(cfg, 0, sizeof(*cfg));
		snprintf(err, errlen, "%s: no text given",
		    name ? name : "config");
		return -1;
	}
	return config_load_any(name, text, cfg, err, errlen);
}

static void
config_tls_free(struct cfg_tls *t)
{
	free(t->ca_file);
	free(t->cert_file);
	free(t->key_file);
}

void
config_free(struct config *cfg)
{
	size_t	i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->runtime_dir);
	free(cfg->control_group);
	free(cfg->curve_secret_file);
	free(cfg->allow_list);
	free(cfg->templates_dir);
	free(cfg->mail_from);
	free(cfg->message_id_domain);
	free(cfg->unsubscribe_url);
	free(cfg->unsubscribe_mailto);
	if (cfg->prefixes != NULL)
		src_strings_free(cfg->prefixes, cfg->nprefixes);
	if (cfg->types != NULL)
		src_strings_free(cfg->types, cfg->ntypes);
	for (i = 0; cfg->endpoints != NULL && i < cfg->nendpoints; i++) {
		free(cfg->endpoints[i].bind);
		free(cfg->endpoints[i].post);
	}
	free(cfg->endpoints);
	for (i = 0; cfg->feeds != NULL && i < cfg->nfeeds; i++) {
		free(cfg->feeds[i].name);
		free(cfg->feeds[i].connect);
		free(cfg->feeds[i].post);
	}
	free(cfg->feeds);
	for (i = 0; cfg->posts != NULL && i < cfg->nposts; i++) {
		free(cfg->posts[i].id);
		free(cfg->posts[i].name);
		free(cfg->posts[i].lang);
		free(cfg->posts[i].address);
		free(cfg->posts[i].phone);
		free(cfg->posts[i].email);
		free(cfg->posts[i].website);
	}
	free(cfg->posts);
	config_tls_free(&cfg->tls);
	for (i = 0; cfg->relays != NULL && i < cfg->nrelays; i++) {
		free(cfg->relays[i].name);
		free(cfg->relays[i].host);
		free(cfg->relays[i].helo);
		free(cfg->relays[i].credential);
		config_tls_free(&cfg->relays[i].tls_files);
	}
	free(cfg->relays);
	free(cfg->webhooks.secret_file);
	memset(cfg, 0, sizeof(*cfg));
}

const struct cfg_post *
config_post(const struct config *cfg, const char *id)
{
	size_t	i;

	if (cfg == NULL || id == NULL)
		return NULL;
	for (i = 0; i < cfg->nposts; i++)
		if (cfg->posts[i].id != NULL &&
		    strcmp(cfg->posts[i].id, id) == 0)
			return &cfg->posts[i];
	return NULL;
}
