/* smtpsink.c - a scriptable SMTP server for the tests, the demo and the
 * benchmark: ESMTP with STARTTLS or implicit TLS (OpenSSL 3), PIPELINING,
 * SIZE, AUTH PLAIN/LOGIN, scripted replies, drops and delays, accepted
 * messages to files, protocol events as JSON lines.  One thread, one epoll
 * loop, non-blocking sockets.  Each connection owns its buffers and SSL;
 * the loop owns the connections (conn_run and conn_timer free them).
 * The reference is sink_help below (smtpsink --help). */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "utf8.h"

#define SINK_HOST	"localhost"
#define SINK_LINE_MAX	1000		/* octets, CRLF included (RFC 5321) */
#define SINK_IN_CAP	(16384 + 2048)	/* a TLS record plus a partial line */
#define SINK_READS_MAX	64		/* reads per wakeup before yielding */
#define SINK_RCPT_MAX	1000
#define SINK_MSG_MAX	(64u * 1024 * 1024)
#define SINK_LINGER_MS	2000
#define SINK_RELOAD_MS	100
#define SINK_EVENTS	256

enum sink_mode { MODE_STARTTLS, MODE_TLS, MODE_PLAIN };

enum stage { ST_CONNECT, ST_EHLO, ST_MAIL, ST_RCPT, ST_DATA, ST_BODY,
	ST_END, ST_N };
static const char *stage_names[ST_N] = { "CONNECT", "EHLO", "MAIL", "RCPT",
	"DATA", "BODY", "END" };

enum act_kind { ACT_DEFAULT, ACT_REPLY, ACT_DROP };

/* One line of the script. */
struct rule {
	enum stage	 stage;
	int		 has_re;
	regex_t		 re;
	long		 times;		/* -1: unlimited */
	long		 delay_ms;
	enum act_kind	 kind;
	int		 code;
	char		*text;		/* after the code; may hold "\n" */
};

struct script {
	struct rule	*r;
	size_t		 n;
	int		 has_re[ST_N];
};

/* What the script decided for one command.  text is borrowed from the
 * rule or owned by the connection (after a delay). */
struct action {
	enum act_kind	 kind;
	int		 code;
	const char	*text;
};

enum conn_state { CS_GREET, CS_HANDSHAKE, CS_CMD, CS_DATA, CS_AUTH_PLAIN,
	CS_AUTH_USER, CS_AUTH_PASS, CS_LINGER };

struct conn {
	struct conn	*next, *prev;		/* all connections */
	struct conn	*rnext;			/* ready list */
	int		 in_ready;
	int		 fd;
	unsigned long	 no;
	char		 peer[INET6_ADDRSTRLEN];
	SSL		*ssl;
	int		 tls;
	enum conn_state	 st;
	uint32_t	 events;		/* registered with epoll */
	int		 registered;

	char		*ibuf;			/* SINK_IN_CAP + 1 */
	size_t		 ilen, ioff;
	struct buf	 out;
	size_t		 ooff;
	int		 ssl_want_write;	/* SSL_read wants EPOLLOUT */
	int		 ssl_write_want_read;

	int		 helo;
	char		*auth_user;
	char		*login_user;		/* AUTH LOGIN in progress */
	int		 too_long;		/* skipping an overlong line */

	/* The transaction. */
	int		 mail;
	char		*from;
	char		*params;
	char		**rcpt;
	size_t		 nrcpt, rcap;
	struct buf	 msg;
	size_t		 msg_size;
	int		 store;			/* keep the bytes in msg */
	int		 msg_toolong, msg_oversize, msg_bare_lf;
	int		 bol, prev_cr;
	size_t		 line_len;
	int		 body_checked;

	/* Flow. */
	int		 drop;			/* close now, no reply */
	int		 close_after_flush;	/* QUIT, 421 */
	int		 tls_after_flush;	/* STARTTLS accepted */
	int		 peer_eof;
	int		 paused;		/* a scripted delay */
	int64_t		 deadline;		/* ms; 0: none */
	int		 resume_valid;
	enum act_kind	 resume_kind;
	int		 resume_code;
	char		*resume_text;
	char		*act_text;		/* the action in use */

	/* What one wakeup's reads held (--log). */
	struct buf	 cmds;
	int		 data_ends;
};

struct sink_opts {
	const char	*listen;
	const char	*port_file;
	const char	*cert, *key, *client_ca;
	char		*greeting_extra;	/* unescaped, owned */
	const char	*out_dir;
	const char	*log_file;
	const char	*script;
	char		*auth_user, *auth_pass;
	enum sink_mode	 mode;
	int		 pipelining, starttls, require_auth, discard;
	unsigned long long size;
};

struct sink {
	struct sink_opts o;
	int		 lfd, efd, sfd;
	SSL_CTX		*ctx;
	FILE		*log;
	FILE		*jsonl;
	struct script	 sc;
	struct timespec	 sc_mtime;
	off_t		 sc_size;
	ino_t		 sc_ino;
	int64_t		 sc_checked;
	struct conn	*conns;
	struct conn	*ready;
	size_t		 ntimed;
	int64_t		 accept_paused_until;
	unsigned long	 nconn;
	unsigned long	 nmsg;
	int64_t		 now;
	int		 stop;
};

static struct sink	 S;
static int		 tag_listen, tag_signal;

static int	conn_process(struct conn *);

static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
warnx_(const char *fmt, ...)
{
	va_list	ap;

	fputs("smtpsink: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((noreturn))
die(const char *fmt, ...)
{
	va_list	ap;

	fputs("smtpsink: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *
xcalloc(size_t n, size_t sz)
{
	void	*p;

	if ((p = calloc(n, sz)) == NULL)
		die("out of memory");
	return p;
}

static char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		die("out of memory");
	return p;
}

/* Append s (n bytes) to b as a JSON string: quotes, backslashes and
 * control characters escaped, invalid UTF-8 bytes as \u00XX. */
static void
json_str(struct buf *b, const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0;
	uint32_t		 cp;
	int			 l;

	buf_addc(b, '"');
	while (i < n) {
		if (p[i] == '"' || p[i] == '\\') {
			buf_addc(b, '\\');
			buf_addc(b, p[i]);
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			buf_printf(b, "\\u%04x", p[i]);
			i++;
		} else if (p[i] < 0x80) {
			buf_addc(b, p[i]);
			i++;
		} else if ((l = utf8_decode(p + i, n - i, &cp)) > 0) {
			buf_add(b, p + i, (size_t)l);
			i += (size_t)l;
		} else {
			buf_printf(b, "\\u%04x", p[i]);
			i++;
		}
	}
	buf_addc(b, '"');
}

/* One protocol event: {"conn":N,"ev":"EV"<extra>}, flushed. */
static void
ev_log(const struct conn *c, const char *ev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
ev_log(const struct conn *c, const char *ev, const char *fmt, ...)
{
	struct buf	b;
	va_list		ap;

	if (S.log == NULL)
		return;
	buf_init(&b, 0);
	buf_printf(&b, "{\"conn\":%lu,\"ev\":\"%s\"", c->no, ev);
	if (fmt != NULL) {
		va_start(ap, fmt);
		buf_vprintf(&b, fmt, ap);
		va_end(ap);
	}
	buf_adds(&b, "}\n");
	if (!b.overflow) {
		fwrite(b.data, 1, b.len, S.log);
		fflush(S.log);
	}
	buf_free(&b);
}

/* ---- the script ---- */

static void
script_free(struct script *sc)
{
	size_t	i;

	for (i = 0; i < sc->n; i++) {
		if (sc->r[i].has_re)
			regfree(&sc->r[i].re);
		free(sc->r[i].text);
	}
	free(sc->r);
	memset(sc, 0, sizeof(*sc));
}

static char *
next_tok(char **pp)
{
	char	*p = *pp, *t;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0') {
		*pp = p;
		return NULL;
	}
	t = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	return t;
}

static int
parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Parse one non-comment line into r.  Returns 0, or -1 with err set. */
static int
rule_parse(char *line, struct rule *r, char *err, size_t errlen)
{
	char	*p = line, *t, *text;
	long	 v;
	int	 i, rc;

	memset(r, 0, sizeof(*r));
	r->times = -1;
	r->kind = ACT_DEFAULT;
	t = next_tok(&p);
	for (i = 0; i < ST_N; i++)
		if (strcasecmp(t, stage_names[i]) == 0)
			break;
	if (i == ST_N) {
		snprintf(err, errlen, "unknown stage \"%s\" (CONNECT, EHLO, "
		    "MAIL, RCPT, DATA, BODY or END)", t);
		return -1;
	}
	r->stage = (enum stage)i;
	while ((t = next_tok(&p)) != NULL) {
		if (strcmp(t, "match") == 0) {
			if (r->has_re || (t = next_tok(&p)) == NULL) {
				snprintf(err, errlen, "match needs one REGEX");
				return -1;
			}
			if ((rc = regcomp(&r->re, t, REG_EXTENDED | REG_NOSUB |
			    REG_NEWLINE)) != 0) {
				char	m[128];

				regerror(rc, &r->re, m, sizeof(m));
				snprintf(err, errlen, "bad REGEX \"%s\": %s",
				    t, m);
				return -1;
			}
			r->has_re = 1;
		} else if (strcmp(t, "times") == 0) {
			if (parse_long(next_tok(&p), 1, LONG_MAX, &v) == -1) {
				snprintf(err, errlen, "times needs a count "
				    ">= 1");
				return -1;
			}
			r->times = v;
		} else if (strcmp(t, "delay") == 0) {
			if (parse_long(next_tok(&p), 0, 3600000, &v) == -1) {
				snprintf(err, errlen, "delay needs "
				    "milliseconds (0 to 3600000)");
				return -1;
			}
			r->delay_ms = v;
		} else if (strcmp(t, "drop") == 0) {
			r->kind = ACT_DROP;
			if (next_tok(&p) != NULL) {
				snprintf(err, errlen, "nothing may follow "
				    "drop");
				return -1;
			}
			break;
		} else if (strcmp(t, "reply") == 0) {
			if (parse_long(next_tok(&p), 200, 599, &v) == -1) {
				snprintf(err, errlen, "reply needs a CODE "
				    "from 200 to 599");
				return -1;
			}
			r->kind = ACT_REPLY;
			r->code = (int)v;
			while (*p == ' ' || *p == '\t')
				p++;
			text = p;
			r->text = xstrndup(text, strlen(text));
			break;
		} else {
			snprintf(err, errlen, "unknown word \"%s\" (match, "
			    "times, delay, reply or drop)", t);
			return -1;
		}
	}
	if (r->kind == ACT_DEFAULT && r->delay_ms == 0) {
		snprintf(err, errlen, "a rule needs reply, drop or delay");
		return -1;
	}
	if (r->stage == ST_BODY && r->kind == ACT_REPLY) {
		snprintf(err, errlen, "BODY takes drop or delay, not reply");
		return -1;
	}
	return 0;
}

/* Read the script at path into sc (freed first on success).  Returns 0,
 * or -1 after printing which line is wrong and why. */
static int
script_load(const char *path, struct script *sc)
{
	struct script	 n;
	FILE		*f;
	char		*line = NULL, *p, err[256];
	size_t		 cap = 0, len, lineno = 0;
	ssize_t		 r;
	struct rule	 ru;
	void		*tmp;
	int		 rc = -1;

	memset(&n, 0, sizeof(n));
	if ((f = fopen(path, "r")) == NULL) {
		warnx_("script %s: %s", path, strerror(errno));
		return -1;
	}
	while ((r = getline(&line, &cap, f)) != -1) {
		lineno++;
		len = (size_t)r;
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (rule_parse(p, &ru, err, sizeof(err)) == -1) {
			warnx_("script %s:%zu: %s", path, lineno, err);
			if (ru.has_re)
				regfree(&ru.re);
			free(ru.text);
			goto out;
		}
		if ((tmp = reallocarray(n.r, n.n + 1, sizeof(*n.r))) == NULL)
			die("out of memory");
		n.r = tmp;
		n.r[n.n++] = ru;
		if (ru.has_re)
			n.has_re[ru.stage] = 1;
	}
	if (ferror(f)) {
		warnx_("script %s: read error", path);
		goto out;
	}
	script_free(sc);
	*sc = n;
	memset(&n, 0, sizeof(n));
	rc = 0;
out:
	script_free(&n);
	free(line);
	fclose(f);
	return rc;
}

/* Re-read the script when it changed (looked at no more than every
 * SINK_RELOAD_MS unless now), or when force (SIGHUP).  A broken script
 * keeps the old rules.  Reloading restarts the "times" counts. */
static void
script_check(int now, int force)
{
	struct stat	st;

	if (S.o.script == NULL)
		return;
	if (!now && !force && S.now - S.sc_checked < SINK_RELOAD_MS)
		return;
	S.sc_checked = S.now;
	if (stat(S.o.script, &st) == -1)
		return;
	if (!force && st.st_mtim.tv_sec == S.sc_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == S.sc_mtime.tv_nsec &&
	    st.st_size == S.sc_size && st.st_ino == S.sc_ino)
		return;
	S.sc_mtime = st.st_mtim;
	S.sc_size = st.st_size;
	S.sc_ino = st.st_ino;
	script_load(S.o.script, &S.sc);
}

/* ---- connections: lists, timers, epoll ---- */

static void
ready_add(struct conn *c)
{
	if (c->in_ready)
		return;
	c->in_ready = 1;
	c->rnext = S.ready;
	S.ready = c;
}

static void
ready_del(struct conn *c)
{
	struct conn	**pp;

	if (!c->in_ready)
		return;
	for (pp = &S.ready; *pp != NULL; pp = &(*pp)->rnext)
		if (*pp == c) {
			*pp = c->rnext;
			break;
		}
	c->in_ready = 0;
}

static void
timer_set(struct conn *c, int64_t ms)
{
	if (c->deadline == 0)
		S.ntimed++;
	c->deadline = S.now + ms;
}

static void
timer_clear(struct conn *c)
{
	if (c->deadline != 0)
		S.ntimed--;
	c->deadline = 0;
}

static void
conn_interest(struct conn *c)
{
	struct epoll_event	ev;
	uint32_t		want = 0;

	if (c->st == CS_LINGER)
		want = EPOLLIN;
	else if (c->ooff < c->out.len) {
		want = EPOLLOUT;
		if (c->ssl_write_want_read)
			want |= EPOLLIN;
	} else if (c->st == CS_HANDSHAKE)
		want = c->ssl_want_write ? EPOLLOUT : EPOLLIN;
	else if (!c->paused)
		want = c->ssl_want_write ? EPOLLOUT : EPOLLIN;
	if (c->registered && want == c->events)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = c;
	if (epoll_ctl(S.efd, c->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    c->fd, &ev) == -1) {
		warnx_("conn %lu: epoll_ctl: %s", c->no, strerror(errno));
		c->drop = 1;
		ready_add(c);
		return;
	}
	c->registered = 1;
	c->events = want;
}

static void
txn_reset(struct conn *c)
{
	size_t	i;

	for (i = 0; i < c->nrcpt; i++)
		free(c->rcpt[i]);
	c->nrcpt = 0;
	free(c->from);
	free(c->params);
	c->from = c->params = NULL;
	c->mail = 0;
	buf_reset(&c->msg);
	c->msg_size = 0;
	c->msg_toolong = c->msg_oversize = c->msg_bare_lf = 0;
}

static void
conn_free(struct conn *c)
{
	ev_log(c, "close", NULL);
	ready_del(c);
	timer_clear(c);
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		S.conns = c->next;
	SSL_free(c->ssl);
	close(c->fd);
	txn_reset(c);
	free(c->rcpt);
	buf_free(&c->msg);
	buf_free(&c->out);
	buf_free(&c->cmds);
	free(c->ibuf);
	free(c->auth_user);
	free(c->login_user);
	free(c->resume_text);
	free(c->act_text);
	free(c);
}

/* ---- replies ---- */

/* Append "CODE text" to the output; a "\n" (two characters) in a scripted
 * text starts a continuation line. */
static void
reply_text(struct conn *c, int code, const char *text)
{
	const char	*p = text, *nl;

	while ((nl = strstr(p, "\\n")) != NULL) {
		buf_printf(&c->out, "%d-%.*s\r\n", code, (int)(nl - p), p);
		p = nl + 2;
	}
	if (*p == '\0')
		buf_printf(&c->out, "%d\r\n", code);
	else
		buf_printf(&c->out, "%d %s\r\n", code, p);
}

static void
reply(struct conn *c, const char *line)
{
	buf_adds(&c->out, line);
	buf_adds(&c->out, "\r\n");
}

/* Ask the script about stage with text.  Returns 0: no rule (default
 * behaviour), 1: *act to do (reply or drop), 2: paused by a delay (the
 * caller leaves its input unconsumed and is called again later). */
static int
conn_script(struct conn *c, enum stage st, const char *text,
    struct action *act)
{
	struct rule	*r = NULL;
	size_t		 i;

	if (c->resume_valid) {
		c->resume_valid = 0;
		free(c->act_text);
		c->act_text = c->resume_text;
		c->resume_text = NULL;
		act->kind = c->resume_kind;
		act->code = c->resume_code;
		act->text = c->act_text != NULL ? c->act_text : "";
		return act->kind == ACT_DEFAULT ? 0 : 1;
	}
	for (i = 0; i < S.sc.n; i++) {
		r = &S.sc.r[i];
		if (r->stage != st || r->times == 0)
			continue;
		if (r->has_re && regexec(&r->re, text, 0, NULL, 0) != 0)
			continue;
		break;
	}
	if (i == S.sc.n)
		return 0;
	if (r->times > 0)
		r->times--;
	if (r->delay_ms > 0) {
		c->resume_valid = 1;
		c->resume_kind = r->kind;
		c->resume_code = r->code;
		free(c->resume_text);
		c->resume_text = r->text != NULL ?
		    xstrndup(r->text, strlen(r->text)) : NULL;
		c->paused = 1;
		timer_set(c, r->delay_ms);
		ev_log(c, "delay", ",\"stage\":\"%s\",\"ms\":%ld",
		    stage_names[st], r->delay_ms);
		return 2;
	}
	act->kind = r->kind;
	act->code = r->code;
	act->text = r->text != NULL ? r->text : "";
	return act->kind == ACT_DEFAULT ? 0 : 1;
}

/* Carry out a scripted reply or drop for stage.  A 421 closes the
 * connection after it is sent. */
static void
act_apply(struct conn *c, enum stage st, const struct action *act)
{
	if (act->kind == ACT_DROP) {
		ev_log(c, "drop", ",\"stage\":\"%s\"", stage_names[st]);
		c->drop = 1;
		return;
	}
	ev_log(c, "reply", ",\"cmd\":\"%s\",\"code\":%d", stage_names[st],
	    act->code);
	reply_text(c, act->code, act->text);
	if (act->code == 421)
		c->close_after_flush = 1;
}

/* Send the greeting (CONNECT stage).  Returns 2 when a delay holds it. */
static int
conn_greet(struct conn *c)
{
	struct action	act;
	int		r;

	r = conn_script(c, ST_CONNECT, c->peer, &act);
	if (r == 2)
		return 2;
	c->st = CS_CMD;
	if (r == 1) {
		act_apply(c, ST_CONNECT, &act);
		if (act.kind == ACT_DROP)
			return 0;
		if (act.code / 100 != 2) {
			c->close_after_flush = 1;
			return 0;
		}
	} else
		reply(c, "220 " SINK_HOST " ESMTP smtpsink");
	if (S.o.greeting_extra != NULL)
		reply(c, S.o.greeting_extra);
	return 0;
}

/* ---- TLS ---- */

static void
tls_start(struct conn *c)
{
	if ((c->ssl = SSL_new(S.ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		warnx_("conn %lu: SSL_new failed", c->no);
		c->drop = 1;
		return;
	}
	SSL_set_accept_state(c->ssl);
	c->st = CS_HANDSHAKE;
}

/* One handshake step.  Returns 1 done, 0 in progress, -1 failed. */
static int
tls_step(struct conn *c)
{
	struct buf	 b;
	X509		*peer;
	char		 cn[256], why[256];
	unsigned long	 e;
	int		 r, err;

	ERR_clear_error();
	c->ssl_want_write = 0;
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->tls = 1;
		c->helo = 0;
		free(c->auth_user);
		c->auth_user = NULL;
		txn_reset(c);
		if (S.log != NULL) {
			buf_init(&b, 0);
			buf_printf(&b, ",\"version\":\"%s\"",
			    SSL_get_version(c->ssl));
			if ((peer = SSL_get1_peer_certificate(c->ssl)) !=
			    NULL) {
				cn[0] = '\0';
				X509_NAME_get_text_by_NID(
				    X509_get_subject_name(peer),
				    NID_commonName, cn, sizeof(cn));
				buf_adds(&b, ",\"client_cert\":");
				json_str(&b, cn, strlen(cn));
				X509_free(peer);
			}
			ev_log(c, "tls", "%s", b.data);
			buf_free(&b);
		}
		return 1;
	}
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ)
		return 0;
	if (err == SSL_ERROR_WANT_WRITE) {
		c->ssl_want_write = 1;
		return 0;
	}
	if ((e = ERR_peek_error()) != 0)
		ERR_error_string_n(e, why, sizeof(why));
	else
		snprintf(why, sizeof(why), "connection closed during the "
		    "handshake");
	ERR_clear_error();
	if (S.log != NULL) {
		buf_init(&b, 0);
		buf_adds(&b, ",\"error\":");
		json_str(&b, why, strlen(why));
		ev_log(c, "tls_error", "%s", b.data);
		buf_free(&b);
	}
	return -1;
}

/* ---- reading and writing ---- */

/* Write what is pending.  Returns 0 (all or some written), -1 on error. */
static int
conn_flush(struct conn *c)
{
	ssize_t	n;
	int	r, err;

	c->ssl_write_want_read = 0;
	while (c->ooff < c->out.len) {
		if (c->ssl != NULL && c->tls) {
			ERR_clear_error();
			r = SSL_write(c->ssl, c->out.data + c->ooff,
			    (int)(c->out.len - c->ooff));
			if (r <= 0) {
				err = SSL_get_error(c->ssl, r);
				if (err == SSL_ERROR_WANT_WRITE)
					break;
				if (err == SSL_ERROR_WANT_READ) {
					c->ssl_write_want_read = 1;
					break;
				}
				ERR_clear_error();
				return -1;
			}
			c->ooff += (size_t)r;
		} else {
			n = send(c->fd, c->out.data + c->ooff,
			    c->out.len - c->ooff, MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				return -1;
			}
			c->ooff += (size_t)n;
		}
	}
	if (c->ooff == c->out.len) {
		buf_reset(&c->out);
		c->ooff = 0;
	}
	return 0;
}

/* Throw away what the socket holds (plaintext sent before our STARTTLS
 * reply; RFC 3207 4.2).  Returns the byte count. */
static size_t
drain_plain(int fd)
{
	char	tmp[4096];
	ssize_t	n;
	size_t	total = 0;

	while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
		total += (size_t)n;
	return total;
}

/* Read and process until the socket (or SSL) has nothing more, a pause,
 * a close or STARTTLS.  Everything decoded in one call is one "read"
 * event.  Sets peer_eof at end of stream or on a read error. */
static void
conn_read(struct conn *c)
{
	ssize_t	n;
	int	loops = 0, err;

	while (!c->paused && !c->drop && !c->close_after_flush &&
	    !c->tls_after_flush && c->ilen < SINK_IN_CAP) {
		c->ssl_want_write = 0;
		if (c->tls) {
			ERR_clear_error();
			n = SSL_read(c->ssl, c->ibuf + c->ilen,
			    (int)(SINK_IN_CAP - c->ilen));
			if (n <= 0) {
				err = SSL_get_error(c->ssl, (int)n);
				if (err == SSL_ERROR_WANT_READ)
					break;
				if (err == SSL_ERROR_WANT_WRITE) {
					c->ssl_want_write = 1;
					break;
				}
				ERR_clear_error();
				c->peer_eof = 1;
				break;
			}
		} else {
			n = recv(c->fd, c->ibuf + c->ilen,
			    SINK_IN_CAP - c->ilen, 0);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK))
				break;
			if (n <= 0) {
				c->peer_eof = 1;
				break;
			}
		}
		c->ilen += (size_t)n;
		conn_process(c);
		if (++loops == SINK_READS_MAX) {
			ready_add(c);
			break;
		}
	}
	if (S.log != NULL && (c->cmds.len > 0 || c->data_ends > 0)) {
		if (c->data_ends > 0)
			ev_log(c, "read", ",\"cmds\":[%s],\"data_end\":%d",
			    c->cmds.len > 0 ? c->cmds.data : "", c->data_ends);
		else
			ev_log(c, "read", ",\"cmds\":[%s]", c->cmds.data);
	}
	buf_reset(&c->cmds);
	c->data_ends = 0;
}

/* ---- SMTP ---- */

static void
note_cmd(struct conn *c, const char *verb, size_t n)
{
	char	v[16];
	size_t	i;

	if (S.log == NULL)
		return;
	if (n > sizeof(v) - 1)
		n = sizeof(v) - 1;
	for (i = 0; i < n; i++)
		v[i] = (char)toupper((unsigned char)verb[i]);
	if (c->cmds.len > 0)
		buf_addc(&c->cmds, ',');
	json_str(&c->cmds, v, n);
}

static void
ehlo_reply(struct conn *c)
{
	const char	*ext[8];
	char		 size[40];
	size_t		 n = 0, i;

	if (S.o.pipelining)
		ext[n++] = "PIPELINING";
	if (S.o.size > 0) {
		snprintf(size, sizeof(size), "SIZE %llu", S.o.size);
		ext[n++] = size;
	}
	ext[n++] = "8BITMIME";
	ext[n++] = "ENHANCEDSTATUSCODES";
	if (S.o.mode == MODE_STARTTLS && S.o.starttls && !c->tls)
		ext[n++] = "STARTTLS";
	if (S.o.auth_user != NULL && c->tls)
		ext[n++] = "AUTH PLAIN LOGIN";
	buf_adds(&c->out, "250-" SINK_HOST "\r\n");
	for (i = 0; i < n; i++)
		buf_printf(&c->out, "250%c%s\r\n", i + 1 == n ? ' ' : '-',
		    ext[i]);
}

/* Returns 1 when the line was consumed, 0 when a delay holds it. */
static int
cmd_helo(struct conn *c, const char *arg, int esmtp)
{
	struct action	act;
	int		r;

	if (*arg == '\0') {
		reply(c, "501 5.5.4 Syntax: EHLO hostname");
		return 1;
	}
	if ((r = conn_script(c, ST_EHLO, arg, &act)) == 2)
		return 0;
	txn_reset(c);
	if (r == 1) {
		act_apply(c, ST_EHLO, &act);
		if (act.kind == ACT_REPLY && act.code / 100 == 2)
			c->helo = 1;
		return 1;
	}
	c->helo = 1;
	if (esmtp)
		ehlo_reply(c);
	else
		reply(c, "250 " SINK_HOST);
	return 1;
}

/* Split "<addr> PARAMS" (after FROM: or TO:).  Returns 0 with *addr and
 * *alen set and *rest at the parameters, or -1. */
static int
parse_path(const char *p, const char **addr, size_t *alen,
    const char **rest)
{
	const char	*e;

	if (*p != '<' || (e = strchr(p, '>')) == NULL)
		return -1;
	*addr = p + 1;
	*alen = (size_t)(e - p - 1);
	e++;
	if (*e != '\0' && *e != ' ')
		return -1;
	while (*e == ' ')
		e++;
	*rest = e;
	return 0;
}

static int
cmd_mail(struct conn *c, const char *arg)
{
	struct action	 act;
	const char	*p, *addr, *rest, *q;
	char		 prm[64];
	size_t		 alen, n;
	unsigned long long sz;
	char		*end;
	int		 r;

	if (!c->helo) {
		reply(c, "503 5.5.1 Error: send HELO/EHLO first");
		return 1;
	}
	if (c->mail) {
		reply(c, "503 5.5.1 Error: nested MAIL command");
		return 1;
	}
	if (S.o.require_auth && c->auth_user == NULL) {
		reply(c, "530 5.7.0 Authentication required");
		return 1;
	}
	if (strncasecmp(arg, "FROM:", 5) != 0) {
		reply(c, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return 1;
	}
	p = arg + 5;
	while (*p == ' ')
		p++;
	if (parse_path(p, &addr, &alen, &rest) == -1) {
		reply(c, "501 5.1.7 Bad sender address syntax");
		return 1;
	}
	for (q = rest; *q != '\0'; ) {
		n = strcspn(q, " ");
		if (n >= sizeof(prm))
			n = sizeof(prm) - 1;
		memcpy(prm, q, n);
		prm[n] = '\0';
		if (strncasecmp(prm, "SIZE=", 5) == 0) {
			errno = 0;
			sz = strtoull(prm + 5, &end, 10);
			if (errno != 0 || *end != '\0' || end == prm + 5) {
				reply(c, "501 5.5.4 Bad SIZE parameter");
				return 1;
			}
			if (S.o.size > 0 && sz > S.o.size) {
				reply(c, "552 5.3.4 Message size exceeds "
				    "fixed limit");
				return 1;
			}
		} else if (strcasecmp(prm, "BODY=8BITMIME") != 0 &&
		    strcasecmp(prm, "BODY=7BIT") != 0 &&
		    strcasecmp(prm, "SMTPUTF8") != 0 &&
		    strncasecmp(prm, "AUTH=", 5) != 0) {
			buf_printf(&c->out, "555 5.5.4 Unsupported option: "
			    "%s\r\n", prm);
			return 1;
		}
		q += strcspn(q, " ");
		while (*q == ' ')
			q++;
	}
	if ((r = conn_script(c, ST_MAIL, p, &act)) == 2)
		return 0;
	if (r == 1) {
		act_apply(c, ST_MAIL, &act);
		if (act.kind == ACT_DROP || act.code / 100 != 2)
			return 1;
	} else
		reply(c, "250 2.1.0 Ok");
	c->mail = 1;
	c->from = xstrndup(addr, alen);
	c->params = xstrndup(rest, strlen(rest));
	return 1;
}

static int
cmd_rcpt(struct conn *c, const char *arg)
{
	struct action	 act;
	const char	*p, *addr, *rest;
	size_t		 alen;
	void		*tmp;
	int		 r;

	if (!c->mail) {
		reply(c, "503 5.5.1 Error: need MAIL command");
		return 1;
	}
	if (strncasecmp(arg, "TO:", 3) != 0) {
		reply(c, "501 5.5.4 Syntax: RCPT TO:<address>");
		return 1;
	}
	p = arg + 3;
	while (*p == ' ')
		p++;
	if (parse_path(p, &addr, &alen, &rest) == -1 || alen == 0) {
		reply(c, "501 5.1.3 Bad recipient address syntax");
		return 1;
	}
	if (*rest != '\0') {
		reply(c, "555 5.5.4 Unsupported option");
		return 1;
	}
	if (c->nrcpt >= SINK_RCPT_MAX) {
		reply(c, "452 4.5.3 Error: too many recipients");
		return 1;
	}
	if ((r = conn_script(c, ST_RCPT, p, &act)) == 2)
		return 0;
	if (r == 1) {
		act_apply(c, ST_RCPT, &act);
		if (act.kind == ACT_DROP || act.code / 100 != 2)
			return 1;
	} else
		reply(c, "250 2.1.5 Ok");
	if (c->nrcpt == c->rcap) {
		c->rcap = c->rcap ? c->rcap * 2 : 4;
		if ((tmp = reallocarray(c->rcpt, c->rcap,
		    sizeof(*c->rcpt))) == NULL)
			die("out of memory");
		c->rcpt = tmp;
	}
	c->rcpt[c->nrcpt++] = xstrndup(addr, alen);
	return 1;
}

static void
data_begin(struct conn *c)
{
	buf_reset(&c->msg);
	c->msg_size = 0;
	c->msg_toolong = c->msg_oversize = c->msg_bare_lf = 0;
	c->store = S.o.out_dir != NULL || S.sc.has_re[ST_END];
	c->bol = 1;
	c->prev_cr = 0;
	c->line_len = 0;
	c->body_checked = 0;
	c->st = CS_DATA;
}

static int
cmd_data(struct conn *c, const char *arg)
{
	struct action	act;
	int		r;

	if (*arg != '\0') {
		reply(c, "501 5.5.4 Syntax: DATA");
		return 1;
	}
	if (!c->mail) {
		reply(c, "503 5.5.1 Error: need RCPT command");
		return 1;
	}
	if (c->nrcpt == 0) {
		reply(c, "554 5.5.1 Error: no valid recipients");
		return 1;
	}
	if ((r = conn_script(c, ST_DATA, "", &act)) == 2)
		return 0;
	if (r == 1) {
		act_apply(c, ST_DATA, &act);
		if (act.kind == ACT_DROP || act.code != 354)
			return 1;
	} else
		reply(c, "354 End data with <CR><LF>.<CR><LF>");
	data_begin(c);
	return 1;
}

static int
b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decode base64 s into out (at most outcap bytes, NUL added).  Returns
 * the length, or -1 when s is not base64 or too long. */
static ssize_t
b64_decode(const char *s, char *out, size_t outcap)
{
	size_t		 o = 0, n = strlen(s), i;
	uint32_t	 acc = 0;
	int		 bits = 0, v, pad = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = b64val((unsigned char)s[i])) == -1)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= outcap)
				return -1;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	if (pad > 2)
		return -1;
	out[o] = '\0';
	return (ssize_t)o;
}

static void
auth_result(struct conn *c, const char *mech, const char *user,
    size_t ulen, const char *pass, size_t plen)
{
	int	ok;

	ok = ulen == strlen(S.o.auth_user) && plen == strlen(S.o.auth_pass) &&
	    memcmp(user, S.o.auth_user, ulen) == 0 &&
	    memcmp(pass, S.o.auth_pass, plen) == 0;
	ev_log(c, "auth", ",\"ok\":%s,\"mech\":\"%s\"", ok ? "true" : "false",
	    mech);
	if (ok) {
		c->auth_user = xstrndup(user, ulen);
		reply(c, "235 2.7.0 Authentication successful");
	} else
		reply(c, "535 5.7.8 Authentication credentials invalid");
	c->st = CS_CMD;
}

static void
auth_plain(struct conn *c, const char *b64)
{
	char		 d[1024];
	const char	*authz, *user, *pass, *e1, *e2;
	ssize_t		 n;

	if (strcmp(b64, "=") == 0)
		n = 0, d[0] = '\0';
	else if ((n = b64_decode(b64, d, sizeof(d))) == -1) {
		reply(c, "501 5.5.2 Cannot decode response");
		c->st = CS_CMD;
		return;
	}
	authz = d;
	if ((e1 = memchr(d, '\0', (size_t)n)) == NULL ||
	    (e2 = memchr(e1 + 1, '\0', (size_t)(d + n - e1 - 1))) == NULL) {
		reply(c, "501 5.5.2 Bad AUTH PLAIN response");
		c->st = CS_CMD;
		return;
	}
	user = e1 + 1;
	pass = e2 + 1;
	if (e1 != authz && ((size_t)(e1 - authz) != (size_t)(e2 - user) ||
	    memcmp(authz, user, (size_t)(e1 - authz)) != 0)) {
		ev_log(c, "auth", ",\"ok\":false,\"mech\":\"PLAIN\"");
		reply(c, "535 5.7.8 Authentication credentials invalid");
		c->st = CS_CMD;
		return;
	}
	auth_result(c, "PLAIN", user, (size_t)(e2 - user), pass,
	    (size_t)(d + n - pass));
}

static void
cmd_auth(struct conn *c, const char *arg)
{
	char		 mech[16], d[1024];
	const char	*init;
	size_t		 n;
	ssize_t		 dn;

	if (!c->tls) {
		ev_log(c, "auth_before_tls", NULL);
		reply(c, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (S.o.auth_user == NULL) {
		reply(c, "502 5.5.1 Error: authentication not enabled");
		return;
	}
	if (!c->helo) {
		reply(c, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (c->auth_user != NULL) {
		reply(c, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (c->mail) {
		reply(c, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	n = strcspn(arg, " ");
	if (n == 0 || n >= sizeof(mech)) {
		reply(c, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	memcpy(mech, arg, n);
	mech[n] = '\0';
	init = arg + n;
	while (*init == ' ')
		init++;
	if (strcasecmp(mech, "PLAIN") == 0) {
		if (*init != '\0')
			auth_plain(c, init);
		else {
			reply(c, "334 ");
			c->st = CS_AUTH_PLAIN;
		}
	} else if (strcasecmp(mech, "LOGIN") == 0) {
		if (*init != '\0') {
			if ((dn = b64_decode(init, d, sizeof(d))) == -1) {
				reply(c, "501 5.5.2 Cannot decode response");
				return;
			}
			free(c->login_user);
			c->login_user = xstrndup(d, (size_t)dn);
			reply(c, "334 UGFzc3dvcmQ6");
			c->st = CS_AUTH_PASS;
		} else {
			reply(c, "334 VXNlcm5hbWU6");
			c->st = CS_AUTH_USER;
		}
	} else
		reply(c, "504 5.5.4 Unrecognized authentication type");
}

/* A line while an AUTH exchange waits for the client. */
static void
auth_line(struct conn *c, const char *line)
{
	char	d[1024];
	ssize_t	n;

	if (strcmp(line, "*") == 0) {
		reply(c, "501 5.7.0 Authentication cancelled");
		c->st = CS_CMD;
		return;
	}
	if (c->st == CS_AUTH_PLAIN) {
		auth_plain(c, line);
		return;
	}
	if ((n = b64_decode(line, d, sizeof(d))) == -1) {
		reply(c, "501 5.5.2 Cannot decode response");
		c->st = CS_CMD;
		return;
	}
	if (c->st == CS_AUTH_USER) {
		free(c->login_user);
		c->login_user = xstrndup(d, (size_t)n);
		reply(c, "334 UGFzc3dvcmQ6");
		c->st = CS_AUTH_PASS;
		return;
	}
	auth_result(c, "LOGIN", c->login_user, strlen(c->login_user), d,
	    (size_t)n);
	free(c->login_user);
	c->login_user = NULL;
}

static void
cmd_starttls(struct conn *c, const char *arg)
{
	if (*arg != '\0') {
		reply(c, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (S.o.mode != MODE_STARTTLS || !S.o.starttls) {
		reply(c, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (c->tls) {
		reply(c, "503 5.5.1 Error: TLS already active");
		return;
	}
	reply(c, "220 2.0.0 Ready to start TLS");
	c->tls_after_flush = 1;
}

/* Handle one command line (NUL-terminated, no CRLF).  Returns 1 when it
 * was consumed, 0 when a scripted delay holds it. */
static int
handle_line(struct conn *c, const char *line)
{
	const char	*arg;
	size_t		 vlen;
	int		 r = 1;

	if (c->st == CS_AUTH_PLAIN || c->st == CS_AUTH_USER ||
	    c->st == CS_AUTH_PASS) {
		auth_line(c, line);
		return 1;
	}
	vlen = strcspn(line, " ");
	arg = line + vlen;
	while (*arg == ' ')
		arg++;

#define IS(v)	(vlen == sizeof(v) - 1 && strncasecmp(line, v, vlen) == 0)
	if (IS("EHLO"))
		r = cmd_helo(c, arg, 1);
	else if (IS("HELO"))
		r = cmd_helo(c, arg, 0);
	else if (IS("MAIL"))
		r = cmd_mail(c, arg);
	else if (IS("RCPT"))
		r = cmd_rcpt(c, arg);
	else if (IS("DATA"))
		r = cmd_data(c, arg);
	else if (IS("RSET")) {
		ev_log(c, "rset", NULL);
		txn_reset(c);
		reply(c, "250 2.0.0 Ok");
	} else if (IS("NOOP"))
		reply(c, "250 2.0.0 Ok");
	else if (IS("QUIT")) {
		ev_log(c, "quit", NULL);
		reply(c, "221 2.0.0 Bye");
		c->close_after_flush = 1;
	} else if (IS("STARTTLS"))
		cmd_starttls(c, arg);
	else if (IS("AUTH"))
		cmd_auth(c, arg);
	else if (IS("VRFY"))
		reply(c, "252 2.0.0 Cannot VRFY user");
	else if (IS("HELP"))
		reply(c, "214 2.0.0 smtpsink: see tests/tools/smtpsink.c");
	else
		reply(c, "500 5.5.2 Error: command not recognized");
#undef IS
	if (r == 1)
		note_cmd(c, line, vlen);
	return r;
}

/* Write the accepted message to --out and messages.jsonl.  Returns 0 or
 * -1 (already reported). */
static int
msg_store(struct conn *c, unsigned long n)
{
	struct buf	 j;
	char		 tmp[PATH_MAX], path[PATH_MAX];
	size_t		 off = 0, i;
	ssize_t		 w;
	int		 fd, rc = -1;

	if (S.o.out_dir == NULL)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s/.%08lu.tmp", S.o.out_dir, n);
	snprintf(path, sizeof(path), "%s/%08lu.eml", S.o.out_dir, n);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1) {
		warnx_("%s: %s", tmp, strerror(errno));
		return -1;
	}
	while (off < c->msg.len) {
		if ((w = write(fd, c->msg.data + off, c->msg.len - off)) ==
		    -1) {
			if (errno == EINTR)
				continue;
			warnx_("%s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		warnx_("%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	buf_init(&j, 0);
	buf_printf(&j, "{\"n\":%lu,\"from\":", n);
	json_str(&j, c->from, strlen(c->from));
	buf_adds(&j, ",\"rcpt\":[");
	for (i = 0; i < c->nrcpt; i++) {
		if (i > 0)
			buf_addc(&j, ',');
		json_str(&j, c->rcpt[i], strlen(c->rcpt[i]));
	}
	buf_printf(&j, "],\"size\":%zu,\"conn\":%lu,\"tls\":%s,\"auth\":",
	    c->msg_size, c->no, c->tls ? "true" : "false");
	if (c->auth_user != NULL)
		json_str(&j, c->auth_user, strlen(c->auth_user));
	else
		buf_adds(&j, "null");
	buf_adds(&j, ",\"params\":");
	json_str(&j, c->params, strlen(c->params));
	{
		struct timespec now;

		/* Arrival time, for latency benchmarks. */
		clock_gettime(CLOCK_REALTIME, &now);
		buf_printf(&j, ",\"bare_lf\":%s,\"time\":%.6f}\n",
		    c->msg_bare_lf ? "true" : "false", (double)now.tv_sec +
		    now.tv_nsec / 1e9);
	}
	if (j.overflow || fwrite(j.data, 1, j.len, S.jsonl) != j.len ||
	    fflush(S.jsonl) != 0)
		warnx_("%s/messages.jsonl: write failed", S.o.out_dir);
	else
		rc = 0;
	buf_free(&j);
	return rc;
}

/* The final dot is at ioff.  Returns 1 when handled (dot consumed), 0
 * when a delay holds it. */
static int
data_end(struct conn *c)
{
	struct action	 act;
	struct buf	 t;
	const char	*text = "";
	size_t		 i;
	int		 r = 0, ok;

	memset(&act, 0, sizeof(act));
	if (!c->msg_toolong && !c->msg_oversize) {
		buf_init(&t, 0);
		if (S.sc.has_re[ST_END] && c->store) {
			/* Lines end with \n so that $ works. */
			for (i = 0; i < c->msg.len; i++)
				if (!(c->msg.data[i] == '\r' &&
				    i + 1 < c->msg.len &&
				    c->msg.data[i + 1] == '\n'))
					buf_addc(&t, c->msg.data[i]);
			if (t.len > 0 && !t.overflow)
				text = t.data;
		}
		r = conn_script(c, ST_END, text, &act);
		buf_free(&t);
		if (r == 2)
			return 0;
	}
	c->ioff += 3;
	c->data_ends++;
	c->st = CS_CMD;
	if (c->msg_toolong)
		reply(c, "500 5.5.2 Error: line too long");
	else if (c->msg_oversize)
		reply(c, "552 5.3.4 Error: message too big");
	else {
		ok = r == 0 || (act.kind == ACT_REPLY && act.code / 100 == 2);
		if (ok && msg_store(c, S.nmsg + 1) == -1) {
			reply(c, "451 4.3.0 Error: cannot store the message");
			ok = 0;
			r = 0;
		} else if (ok) {
			S.nmsg++;
			ev_log(c, "message", ",\"n\":%lu,\"size\":%zu",
			    S.nmsg, c->msg_size);
		}
		if (r == 1)
			act_apply(c, ST_END, &act);
		else if (ok)
			buf_printf(&c->out, "250 2.0.0 Ok: queued as %lu\r\n",
			    S.nmsg);
	}
	txn_reset(c);
	return 1;
}

static void
data_add(struct conn *c, const char *p, size_t n)
{
	c->msg_size += n;
	if (S.o.size > 0 && c->msg_size > S.o.size)
		c->msg_oversize = 1;
	if (c->store && !c->msg_oversize && buf_add(&c->msg, p, n) == -1)
		c->msg_oversize = 1;
}

/* Consume message lines from the input: dot-unstuffing, the final dot
 * (only after CRLF), line lengths.  Returns 1 to go on, 0 to stop (more
 * input needed, a delay, or a drop). */
static int
data_consume(struct conn *c)
{
	struct action	 act;
	char		*p = c->ibuf + c->ioff, *end = c->ibuf + c->ilen, *nl;
	size_t		 seg;
	int		 crlf, r;

	if (!c->body_checked) {
		/* BODY rules see the first bytes of the message. */
		c->ibuf[c->ilen] = '\0';
		if ((r = conn_script(c, ST_BODY, p, &act)) == 2)
			return 0;
		c->body_checked = 1;
		if (r == 1) {
			act_apply(c, ST_BODY, &act);
			return 0;
		}
	}
	while (p < end) {
		if (c->bol) {
			if (*p == '.') {
				if (end - p < 2 || (end - p < 3 &&
				    p[1] == '\r'))
					break;	/* wait: end or stuffing? */
				if (p[1] == '\r' && p[2] == '\n') {
					c->ioff = (size_t)(p - c->ibuf);
					return data_end(c);
				}
				p++;		/* a stuffed dot */
				c->line_len++;
			}
			c->bol = 0;
		}
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			seg = (size_t)(end - p);
			data_add(c, p, seg);
			c->line_len += seg;
			c->prev_cr = end[-1] == '\r';
			p = end;
			break;
		}
		seg = (size_t)(nl + 1 - p);
		data_add(c, p, seg);
		c->line_len += seg;
		crlf = nl > p ? nl[-1] == '\r' : c->prev_cr;
		if (c->line_len > SINK_LINE_MAX)
			c->msg_toolong = 1;
		c->line_len = 0;
		c->prev_cr = 0;
		if (crlf)
			c->bol = 1;
		else
			c->msg_bare_lf = 1;
		p = nl + 1;
	}
	if (c->line_len > SINK_LINE_MAX)
		c->msg_toolong = 1;
	c->ioff = (size_t)(p - c->ibuf);
	return 0;
}

/* Work through the input until it runs out or something stops us. */
static int
conn_process(struct conn *c)
{
	char	 line[SINK_LINE_MAX + 1], *nl;
	size_t	 len, avail, n;

	while (c->ioff < c->ilen && !c->paused && !c->drop &&
	    !c->close_after_flush && !c->tls_after_flush) {
		if (c->st == CS_DATA) {
			if (data_consume(c) == 0)
				break;
			continue;
		}
		if (c->st != CS_CMD && c->st != CS_AUTH_PLAIN &&
		    c->st != CS_AUTH_USER && c->st != CS_AUTH_PASS) {
			/* No input is expected before the greeting. */
			c->ioff = c->ilen;
			break;
		}
		avail = c->ilen - c->ioff;
		nl = memchr(c->ibuf + c->ioff, '\n', avail);
		if (nl == NULL) {
			if (c->too_long || avail > SINK_LINE_MAX) {
				c->too_long = 1;
				c->ioff = c->ilen;
			}
			break;
		}
		len = (size_t)(nl - (c->ibuf + c->ioff));
		if (c->too_long || len + 1 > SINK_LINE_MAX) {
			c->too_long = 0;
			c->ioff += len + 1;
			note_cmd(c, "?", 1);
			reply(c, "500 5.5.2 Error: line too long");
			continue;
		}
		memcpy(line, c->ibuf + c->ioff, len);
		if (len > 0 && line[len - 1] == '\r')
			len--;
		line[len] = '\0';
		if (handle_line(c, line) == 0)
			break;
		c->ioff = (size_t)(nl + 1 - c->ibuf);
		if (c->tls_after_flush) {
			/* RFC 3207 4.2: what the client pipelined after
			 * STARTTLS, and anything else sent before our 220,
			 * is not part of the TLS session. */
			n = c->ilen - c->ioff + drain_plain(c->fd);
			c->ioff = c->ilen;
			if (n > 0)
				ev_log(c, "starttls_discard",
				    ",\"bytes\":%zu", n);
		}
	}
	/* Keep the unconsumed tail at the front. */
	if (c->ioff > 0) {
		memmove(c->ibuf, c->ibuf + c->ioff, c->ilen - c->ioff);
		c->ilen -= c->ioff;
		c->ioff = 0;
	}
	return 0;
}

/* Start the lingering close: close_notify, FIN, then wait a little for
 * the client's FIN so our last reply is not lost to a reset. */
static void
conn_linger(struct conn *c)
{
	if (c->ssl != NULL && c->tls) {
		ERR_clear_error();
		SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	shutdown(c->fd, SHUT_WR);
	c->st = CS_LINGER;
	c->paused = 0;
	c->resume_valid = 0;
	timer_set(c, SINK_LINGER_MS);
}

/* Do everything the connection can do now.  Returns -1 when it was
 * freed. */
static int
conn_run(struct conn *c, int can_read)
{
	char	tmp[4096];
	ssize_t	n;
	int	r;

	/* Each turn ends the loop or moves the connection on (flush, TLS
	 * start, handshake done, linger, the one read), so it ends. */
	for (;;) {
		if (c->drop)
			goto dead;
		if (c->st == CS_LINGER) {
			while ((n = recv(c->fd, tmp, sizeof(tmp), 0)) > 0)
				;
			if (n == 0 || (n == -1 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR))
				goto dead;
			break;
		}
		if (conn_flush(c) == -1)
			goto dead;
		if (c->ooff < c->out.len)
			break;
		if (c->close_after_flush) {
			conn_linger(c);
			continue;
		}
		if (c->peer_eof)
			goto dead;
		if (c->tls_after_flush) {
			c->tls_after_flush = 0;
			tls_start(c);
			continue;
		}
		if (c->st == CS_HANDSHAKE) {
			if ((r = tls_step(c)) == -1)
				goto dead;
			if (r == 0)
				break;
			c->st = CS_CMD;
			if (S.o.mode == MODE_TLS && conn_greet(c) == 2) {
				c->st = CS_GREET;
				break;
			}
			can_read = 1;
			continue;
		}
		if (c->paused || !can_read)
			break;
		can_read = 0;
		conn_read(c);
		/* Batch: replies of one wakeup go out in one write. */
	}
	conn_interest(c);
	if (c->drop)
		goto dead;
	return 0;
dead:
	conn_free(c);
	return -1;
}

/* A delay ran out, or a lingering close gave up. */
static void
conn_timer(struct conn *c)
{
	timer_clear(c);
	if (c->st == CS_LINGER) {
		conn_free(c);
		return;
	}
	c->paused = 0;
	if (c->st == CS_GREET && conn_greet(c) == 2) {
		c->st = CS_GREET;
		conn_interest(c);
		return;
	}
	/* Leftover input first, then the socket (and SSL's buffer). */
	conn_process(c);
	if (c->paused) {
		conn_run(c, 0);
		return;
	}
	conn_run(c, 1);
}

static void
sink_accept(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	struct conn		*c;
	int			 fd, one = 1;

	for (;;) {
		sl = sizeof(ss);
		fd = accept4(S.lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				warnx_("accept: %s (pausing 100 ms)",
				    strerror(errno));
				S.accept_paused_until = S.now + 100;
				epoll_ctl(S.efd, EPOLL_CTL_DEL, S.lfd, NULL);
			}
			return;
		}
		/* A test that just rewrote the script sees it apply to
		 * its next connection. */
		script_check(1, 0);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->no = ++S.nconn;
		c->ibuf = xcalloc(1, SINK_IN_CAP + 1);
		buf_init(&c->out, 0);
		buf_init(&c->msg, SINK_MSG_MAX);
		buf_init(&c->cmds, 0);
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->
			    sin_addr, c->peer, sizeof(c->peer));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->
			    sin6_addr, c->peer, sizeof(c->peer));
		c->next = S.conns;
		if (S.conns != NULL)
			S.conns->prev = c;
		S.conns = c;
		ev_log(c, "connect", NULL);
		if (S.o.mode == MODE_TLS) {
			tls_start(c);
			conn_run(c, 0);
			continue;
		}
		c->st = CS_GREET;
		if (conn_greet(c) == 2) {
			c->st = CS_GREET;
			conn_interest(c);
			continue;
		}
		conn_run(c, 0);
	}
}

static void
sink_signal(void)
{
	struct signalfd_siginfo	si;

	while (read(S.sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			S.stop = 1;
			break;
		case SIGHUP:
			script_check(1, 1);
			break;
		case SIGUSR1:
			fprintf(stderr, "messages %lu connections %lu\n",
			    S.nmsg, S.nconn);
			fflush(stderr);
			break;
		}
	}
}

/* ---- set-up ---- */

static const char sink_help[] =
"usage: smtpsink [--listen HOST:PORT] [--port-file FILE]\n"
"         [--mode starttls|tls|plain] [--cert FILE --key FILE]\n"
"         [--client-ca FILE] [--no-pipelining] [--no-starttls] [--size N]\n"
"         [--auth USER:PASS] [--require-auth] [--greeting-extra TEXT]\n"
"         [--out DIR | --discard] [--log FILE] [--script FILE]\n"
"\n"
"Listens (default 127.0.0.1:0; [IPv6]:PORT works; port 0 is ephemeral),\n"
"prints \"ready PORT\" on stdout.  --mode tls is implicit TLS; starttls\n"
"(the default) offers STARTTLS unless --no-starttls (then 502).\n"
"--client-ca requires a client certificate signed by that CA.  --size N\n"
"advertises and enforces SIZE N (552).  --auth offers AUTH PLAIN LOGIN\n"
"after TLS only; AUTH before TLS gets 530.  --greeting-extra TEXT is sent\n"
"with CRLF right after the greeting, in the same write (\\r \\n \\\\ are\n"
"unescaped).\n"
"\n"
"--out DIR: each accepted message (unstuffed) in DIR/NNNNNNNN.eml (tmp file,\n"
"rename), and a line in DIR/messages.jsonl:\n"
"  {\"n\":1,\"from\":\"a@x\",\"rcpt\":[\"b@y\"],\"size\":123,\"conn\":1,\n"
"   \"tls\":true,\"auth\":\"USER\"|null,\"params\":\"BODY=8BITMIME\",\n"
"   \"bare_lf\":false}\n"
"--log FILE: JSON lines {\"conn\":N,\"ev\":EV,...}, flushed per line; EV is\n"
"  connect, close, tls (version, client_cert), tls_error (error), quit,\n"
"  rset, auth (ok, mech), auth_before_tls, starttls_discard (bytes),\n"
"  reply (cmd = stage, code; scripted replies only), drop (stage),\n"
"  delay (stage, ms), message (n, size), and read: cmds = the verbs of\n"
"  the commands completed by what one wakeup read (all SSL_reads until\n"
"  it would block), data_end = how many final dots it held (if any).\n"
"\n"
"--script FILE: one rule a line, first match wins, '#' lines are comments;\n"
"re-read when the file changes (checked at each new connection and at\n"
"most every 100 ms) or on SIGHUP, which restarts the times counts:\n"
"  STAGE [match REGEX] [times N] [delay MS] (reply CODE [TEXT] | drop)\n"
"  STAGE [match REGEX] [times N] delay MS      (then the usual reply)\n"
"STAGE: CONNECT (the greeting; REGEX sees the peer address), EHLO (also\n"
"HELO; sees the argument), MAIL and RCPT (see \"<addr> PARAMS\"), DATA\n"
"(the reply to DATA), BODY (drop or delay only, once per message when\n"
"the first data arrives; sees those bytes), END (the reply after the\n"
"dot; sees the message with CRLF as LF).  REGEX: POSIX extended, one\n"
"word, REG_NEWLINE.  A \\n in TEXT starts a continuation line.  A 421\n"
"closes the connection after it is sent.  A message refused anywhere\n"
"is not written.\n"
"\n"
"SIGTERM, SIGINT: exit 0 with \"messages N\" on stderr.  SIGUSR1: \"messages\n"
"N connections N\" on stderr.\n";

static void __attribute__((noreturn))
usage(int help)
{
	fputs(sink_help, help ? stdout : stderr);
	exit(help ? 0 : 2);
}

static int
sink_listen(const char *spec)
{
	struct addrinfo	 hints, *ai = NULL, *a;
	char		 host[256], *port;
	const char	*colon;
	int		 fd = -1, one = 1, e;

	if (spec[0] == '[') {
		colon = strstr(spec, "]:");
		if (colon == NULL || (size_t)(colon - spec - 1) >=
		    sizeof(host))
			die("--listen %s: expected [IPv6]:PORT", spec);
		memcpy(host, spec + 1, (size_t)(colon - spec - 1));
		host[colon - spec - 1] = '\0';
		port = (char *)colon + 2;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL || (size_t)(colon - spec) >= sizeof(host))
			die("--listen %s: expected HOST:PORT", spec);
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
		port = (char *)colon + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((e = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai)) != 0)
		die("--listen %s: %s", spec, gai_strerror(e));
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, a->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
		    listen(fd, 4096) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	if (fd == -1)
		die("--listen %s: %s", spec, strerror(errno));
	freeaddrinfo(ai);
	return fd;
}

static int
sink_port(int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		die("getsockname: %s", strerror(errno));
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void
write_port_file(const char *path, int port)
{
	char	tmp[PATH_MAX];
	FILE	*f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		die("--port-file %s: name too long", path);
	if ((f = fopen(tmp, "w")) == NULL)
		die("--port-file %s: %s", tmp, strerror(errno));
	fprintf(f, "%d\n", port);
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		die("--port-file %s: %s", path, strerror(errno));
}

static const char *
ossl_err(void)
{
	static char	why[256];
	unsigned long	e = ERR_get_error();

	if (e == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	return why;
}

static void
sink_tls(void)
{
	if (S.o.cert == NULL || S.o.key == NULL)
		die("--mode %s needs --cert and --key",
		    S.o.mode == MODE_TLS ? "tls" : "starttls");
	if ((S.ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		die("SSL_CTX_new: %s", ossl_err());
	SSL_CTX_set_min_proto_version(S.ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(S.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(S.ctx, SSL_OP_NO_RENEGOTIATION);
	/* Fewer read() calls per record; safe because each wakeup reads
	 * until SSL_read wants more from the socket. */
	SSL_CTX_set_read_ahead(S.ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(S.ctx, S.o.cert) != 1)
		die("--cert %s: %s", S.o.cert, ossl_err());
	if (SSL_CTX_use_PrivateKey_file(S.ctx, S.o.key, SSL_FILETYPE_PEM) != 1)
		die("--key %s: %s", S.o.key, ossl_err());
	if (SSL_CTX_check_private_key(S.ctx) != 1)
		die("--key %s does not match --cert %s", S.o.key, S.o.cert);
	if (S.o.client_ca != NULL) {
		if (SSL_CTX_load_verify_locations(S.ctx, S.o.client_ca,
		    NULL) != 1)
			die("--client-ca %s: %s", S.o.client_ca, ossl_err());
		SSL_CTX_set_client_CA_list(S.ctx,
		    SSL_load_client_CA_file(S.o.client_ca));
		SSL_CTX_set_verify(S.ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
}

/* --greeting-extra: the two-character escapes \r, \n and \\ become CR, LF
 * and a backslash; real CR and LF pass as they are.  The caller owns the
 * result. */
static char *
unescape(const char *s)
{
	char	*o, *d;

	d = o = xcalloc(1, strlen(s) + 1);
	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && (s[1] == 'r' || s[1] == 'n' ||
		    s[1] == '\\')) {
			*d++ = s[1] == 'r' ? '\r' : s[1] == 'n' ? '\n' : '\\';
			s++;
		} else
			*d++ = *s;
	}
	return o;
}

static void
parse_opts(int argc, char **argv)
{
	enum { O_LISTEN = 256, O_PORTFILE, O_MODE, O_CERT, O_KEY, O_CLIENTCA,
		O_NOPIPE, O_NOSTARTTLS, O_SIZE, O_AUTH, O_REQAUTH, O_GREET,
		O_OUT, O_DISCARD, O_LOG, O_SCRIPT, O_HELP };
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "port-file", required_argument, NULL, O_PORTFILE },
		{ "mode", required_argument, NULL, O_MODE },
		{ "cert", required_argument, NULL, O_CERT },
		{ "key", required_argument, NULL, O_KEY },
		{ "client-ca", required_argument, NULL, O_CLIENTCA },
		{ "no-pipelining", no_argument, NULL, O_NOPIPE },
		{ "no-starttls", no_argument, NULL, O_NOSTARTTLS },
		{ "size", required_argument, NULL, O_SIZE },
		{ "auth", required_argument, NULL, O_AUTH },
		{ "require-auth", no_argument, NULL, O_REQAUTH },
		{ "greeting-extra", required_argument, NULL, O_GREET },
		{ "out", required_argument, NULL, O_OUT },
		{ "discard", no_argument, NULL, O_DISCARD },
		{ "log", required_argument, NULL, O_LOG },
		{ "script", required_argument, NULL, O_SCRIPT },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 }
	};
	char	*end, *colon;
	int	 ch;

	S.o.listen = "127.0.0.1:0";
	S.o.mode = MODE_STARTTLS;
	S.o.pipelining = 1;
	S.o.starttls = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case O_LISTEN: S.o.listen = optarg; break;
		case O_PORTFILE: S.o.port_file = optarg; break;
		case O_MODE:
			if (strcmp(optarg, "starttls") == 0)
				S.o.mode = MODE_STARTTLS;
			else if (strcmp(optarg, "tls") == 0)
				S.o.mode = MODE_TLS;
			else if (strcmp(optarg, "plain") == 0)
				S.o.mode = MODE_PLAIN;
			else
				die("--mode %s: expected starttls, tls or "
				    "plain", optarg);
			break;
		case O_CERT: S.o.cert = optarg; break;
		case O_KEY: S.o.key = optarg; break;
		case O_CLIENTCA: S.o.client_ca = optarg; break;
		case O_NOPIPE: S.o.pipelining = 0; break;
		case O_NOSTARTTLS: S.o.starttls = 0; break;
		case O_SIZE:
			errno = 0;
			S.o.size = strtoull(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || S.o.size == 0)
				die("--size %s: expected bytes > 0", optarg);
			break;
		case O_AUTH:
			if ((colon = strchr(optarg, ':')) == NULL ||
			    colon == optarg)
				die("--auth: expected USER:PASS");
			S.o.auth_user = xstrndup(optarg,
			    (size_t)(colon - optarg));
			S.o.auth_pass = xstrndup(colon + 1,
			    strlen(colon + 1));
			break;
		case O_REQAUTH: S.o.require_auth = 1; break;
		case O_GREET:
			S.o.greeting_extra = unescape(optarg);
			break;
		case O_OUT: S.o.out_dir = optarg; break;
		case O_DISCARD: S.o.discard = 1; break;
		case O_LOG: S.o.log_file = optarg; break;
		case O_SCRIPT: S.o.script = optarg; break;
		case O_HELP: usage(1);
		default:
			usage(0);
		}
	}
	if (optind != argc)
		usage(0);
	if (S.o.discard && S.o.out_dir != NULL)
		die("--out and --discard exclude each other");
	if (S.o.require_auth && S.o.auth_user == NULL)
		die("--require-auth needs --auth USER:PASS");
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[SINK_EVENTS], ev;
	struct rlimit		 rl;
	struct stat		 st;
	struct conn		*c, *nx, *list;
	sigset_t		 ss;
	char			 path[PATH_MAX];
	int64_t			 next;
	int			 n, i, timeout, port;

	parse_opts(argc, argv);
	S.now = now_ms();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	sigaddset(&ss, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) == -1 ||
	    (S.sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		die("signalfd: %s", strerror(errno));

	if (S.o.mode != MODE_PLAIN)
		sink_tls();
	if (S.o.script != NULL) {
		if (stat(S.o.script, &st) == -1)
			die("--script %s: %s", S.o.script, strerror(errno));
		S.sc_mtime = st.st_mtim;
		S.sc_size = st.st_size;
		S.sc_ino = st.st_ino;
		if (script_load(S.o.script, &S.sc) == -1)
			exit(2);
	}
	if (S.o.log_file != NULL &&
	    (S.log = fopen(S.o.log_file, "a")) == NULL)
		die("--log %s: %s", S.o.log_file, strerror(errno));
	if (S.o.out_dir != NULL) {
		if (mkdir(S.o.out_dir, 0755) == -1 && errno != EEXIST)
			die("--out %s: %s", S.o.out_dir, strerror(errno));
		if ((size_t)snprintf(path, sizeof(path), "%s/messages.jsonl",
		    S.o.out_dir) >= sizeof(path))
			die("--out %s: name too long", S.o.out_dir);
		if ((S.jsonl = fopen(path, "a")) == NULL)
			die("%s: %s", path, strerror(errno));
	}

	S.lfd = sink_listen(S.o.listen);
	port = sink_port(S.lfd);
	if ((S.efd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &tag_listen;
	if (epoll_ctl(S.efd, EPOLL_CTL_ADD, S.lfd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	ev.data.ptr = &tag_signal;
	if (epoll_ctl(S.efd, EPOLL_CTL_ADD, S.sfd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
	if (S.o.port_file != NULL)
		write_port_file(S.o.port_file, port);
	printf("ready %d\n", port);
	fflush(stdout);

	while (!S.stop) {
		timeout = -1;
		if (S.ready != NULL)
			timeout = 0;
		else {
			next = INT64_MAX;
			if (S.ntimed > 0)
				for (c = S.conns; c != NULL; c = c->next)
					if (c->deadline != 0 &&
					    c->deadline < next)
						next = c->deadline;
			if (S.accept_paused_until != 0 &&
			    S.accept_paused_until < next)
				next = S.accept_paused_until;
			if (next != INT64_MAX)
				timeout = next <= S.now ? 0 :
				    (int)(next - S.now);
		}
		n = epoll_wait(S.efd, evs, SINK_EVENTS, timeout);
		if (n == -1 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		S.now = now_ms();
		script_check(0, 0);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &tag_listen)
				sink_accept();
			else if (evs[i].data.ptr == &tag_signal)
				sink_signal();
			else {
				c = evs[i].data.ptr;
				/* A paused connection listens for nothing, yet
				 * hang-ups are always reported: the client is
				 * gone, and waiting would spin. */
				if (c->paused && (evs[i].events & (EPOLLHUP |
				    EPOLLERR)) != 0)
					c->drop = 1;
				conn_run(c, (evs[i].events & (EPOLLIN |
				    EPOLLHUP | EPOLLERR)) != 0);
			}
		}
		if (S.accept_paused_until != 0 &&
		    S.now >= S.accept_paused_until) {
			S.accept_paused_until = 0;
			ev.events = EPOLLIN;
			ev.data.ptr = &tag_listen;
			epoll_ctl(S.efd, EPOLL_CTL_ADD, S.lfd, &ev);
		}
		if (S.ntimed > 0)
			for (c = S.conns; c != NULL; c = nx) {
				nx = c->next;
				if (c->deadline != 0 && c->deadline <= S.now)
					conn_timer(c);
			}
		/* Those that yielded or resumed; ones that yield again wait
		 * for the next turn so that the others get theirs. */
		list = S.ready;
		S.ready = NULL;
		while ((c = list) != NULL) {
			list = c->rnext;
			c->in_ready = 0;
			conn_run(c, 1);
		}
	}

	fprintf(stderr, "messages %lu\n", S.nmsg);
	for (c = S.conns; c != NULL; c = nx) {
		nx = c->next;
		conn_free(c);
	}
	script_free(&S.sc);
	SSL_CTX_free(S.ctx);
	if (S.log != NULL)
		fclose(S.log);
	if (S.jsonl != NULL)
		fclose(S.jsonl);
	close(S.lfd);
	close(S.efd);
	close(S.sfd);
	free(S.o.auth_user);
	free(S.o.auth_pass);
	free(S.o.greeting_extra);
	return 0;
}
