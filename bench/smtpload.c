/* smtpload.c - a pipelining SMTP load generator that measures a server's
 * ceiling (tests/tools/smtpsink in the benchmark).  CONNECTIONS threads,
 * each with one blocking connection: EHLO, STARTTLS with full verification
 * against --ca (host name or IP address checked), EHLO, then per message
 * the RFC 2920 pattern of a good client: MAIL, RCPT and DATA in one write;
 * the message and "." after the 354, with the next MAIL, RCPT and DATA (or
 * QUIT) in the same write.  Each thread owns its connection and counters;
 * main reads them after the join.  Prints one line; exits 0 only when
 * every message got a 250, 1 otherwise, 2 on a usage error. */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
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

#define LOAD_RBUF	16384
#define LOAD_ERR_MAX	512
#define LOAD_LINE	76

enum load_tls { LOAD_STARTTLS, LOAD_IMPLICIT, LOAD_PLAIN };

struct load_opts {
	char		 host[256];
	char		 port[16];
	const char	*ca;
	enum load_tls	 tls;
	int		 connections;
	long		 messages;
	long		 size;
};

struct load_conn {
	int			 idx;
	pthread_t		 th;
	const struct load_opts	*o;
	SSL_CTX			*ctx;
	pthread_barrier_t	*ready;
	long			 todo;
	long			 sent;		/* 250 after the final dot */
	int			 fd;
	SSL			*ssl;
	int			 pipelining;
	int			 starttls;
	char			 rbuf[LOAD_RBUF];
	size_t			 rlen, roff;
	char			 err[LOAD_ERR_MAX];
};

static void
load_fail(struct load_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
load_fail(struct load_conn *c, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (c->err[0] != '\0')
		return;
	n = snprintf(c->err, sizeof(c->err), "connection %d: ", c->idx);
	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof(c->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

static const char *
ossl_why(void)
{
	static __thread char	why[256];
	unsigned long		e = ERR_get_error();

	if (e == 0)
		return "connection closed";
	ERR_error_string_n(e, why, sizeof(why));
	ERR_clear_error();
	return why;
}

static int
load_write(struct load_conn *c, const char *p, size_t n)
{
	ssize_t	w;
	int	r;

	while (n > 0) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			if ((r = SSL_write(c->ssl, p, (int)n)) <= 0) {
				load_fail(c, "TLS write: %s", ossl_why());
				return -1;
			}
			w = r;
		} else if ((w = send(c->fd, p, n, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			load_fail(c, "write: %s", strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
load_writes(struct load_conn *c, const char *s)
{
	return load_write(c, s, strlen(s));
}

/* Read one reply (all its lines).  Returns its code, -1 on error.  text
 * (may be NULL) gets the lines' texts joined by '\n'. */
static int
load_reply(struct load_conn *c, struct buf *text)
{
	char	*nl, *line;
	ssize_t	 n;
	size_t	 len;
	int	 code;

	if (text != NULL)
		buf_reset(text);
	for (;;) {
		nl = memchr(c->rbuf + c->roff, '\n', c->rlen - c->roff);
		if (nl == NULL) {
			if (c->roff > 0) {
				memmove(c->rbuf, c->rbuf + c->roff,
				    c->rlen - c->roff);
				c->rlen -= c->roff;
				c->roff = 0;
			}
			if (c->rlen == sizeof(c->rbuf)) {
				load_fail(c, "reply line too long");
				return -1;
			}
			if (c->ssl != NULL) {
				ERR_clear_error();
				n = SSL_read(c->ssl, c->rbuf + c->rlen,
				    (int)(sizeof(c->rbuf) - c->rlen));
				if (n <= 0) {
					load_fail(c, "TLS read: %s",
					    ossl_why());
					return -1;
				}
			} else {
				n = recv(c->fd, c->rbuf + c->rlen,
				    sizeof(c->rbuf) - c->rlen, 0);
				if (n == -1 && errno == EINTR)
					continue;
				if (n <= 0) {
					load_fail(c, "read: %s", n == 0 ?
					    "connection closed" :
					    strerror(errno));
					return -1;
				}
			}
			c->rlen += (size_t)n;
			continue;
		}
		line = c->rbuf + c->roff;
		len = (size_t)(nl - line);
		c->roff += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (len < 3 || line[0] < '2' || line[0] > '5' ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9' || (len > 3 && line[3] != ' ' &&
		    line[3] != '-')) {
			load_fail(c, "bad reply line \"%.*s\"", (int)len,
			    line);
			return -1;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (text != NULL) {
			if (text->len > 0)
				buf_addc(text, '\n');
			if (len > 4)
				buf_add(text, line + 4, len - 4);
		}
		if (len == 3 || line[3] == ' ')
			return code;
	}
}

/* Read a reply and insist on code.  Returns 0 or -1. */
static int
load_expect(struct load_conn *c, int want, const char *what)
{
	struct buf	t;
	int		code;

	buf_init(&t, 4096);
	if ((code = load_reply(c, &t)) != want && code != -1)
		load_fail(c, "%s: expected %d, got %d %s", what, want, code,
		    t.data ? t.data : "");
	buf_free(&t);
	return code == want ? 0 : -1;
}

static int
load_ehlo(struct load_conn *c)
{
	struct buf	 t;
	const char	*p;
	int		 code, rc = -1;

	if (load_writes(c, "EHLO smtpload.localhost\r\n") == -1)
		return -1;
	buf_init(&t, 65536);
	if ((code = load_reply(c, &t)) != 250) {
		if (code != -1)
			load_fail(c, "EHLO: got %d", code);
		goto out;
	}
	c->pipelining = c->starttls = 0;
	for (p = t.data; p != NULL && *p != '\0'; ) {
		if (strncasecmp(p, "PIPELINING", 10) == 0 &&
		    (p[10] == '\n' || p[10] == '\0' || p[10] == ' '))
			c->pipelining = 1;
		if (strncasecmp(p, "STARTTLS", 8) == 0 &&
		    (p[8] == '\n' || p[8] == '\0' || p[8] == ' '))
			c->starttls = 1;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	rc = 0;
out:
	buf_free(&t);
	return rc;
}

static int
load_handshake(struct load_conn *c)
{
	struct in6_addr	a6;
	struct in_addr	a4;
	int		ip;

	if ((c->ssl = SSL_new(c->ctx)) == NULL) {
		load_fail(c, "SSL_new: %s", ossl_why());
		return -1;
	}
	ip = inet_pton(AF_INET, c->o->host, &a4) == 1 ||
	    inet_pton(AF_INET6, c->o->host, &a6) == 1;
	if (ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
		    c->o->host) != 1) {
			load_fail(c, "bad IP address %s", c->o->host);
			return -1;
		}
	} else if (SSL_set_tlsext_host_name(c->ssl, c->o->host) != 1 ||
	    SSL_set1_host(c->ssl, c->o->host) != 1) {
		load_fail(c, "bad host name %s", c->o->host);
		return -1;
	}
	SSL_set_fd(c->ssl, c->fd);
	ERR_clear_error();
	if (SSL_connect(c->ssl) != 1) {
		long	v = SSL_get_verify_result(c->ssl);

		if (v != X509_V_OK)
			load_fail(c, "TLS: %s",
			    X509_verify_cert_error_string(v));
		else
			load_fail(c, "TLS handshake: %s", ossl_why());
		return -1;
	}
	return 0;
}

static int
load_connect(struct load_conn *c)
{
	struct addrinfo	 hints, *ai = NULL, *a;
	int		 e, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(c->o->host, c->o->port, &hints, &ai)) != 0) {
		load_fail(c, "%s: %s", c->o->host, gai_strerror(e));
		return -1;
	}
	c->fd = -1;
	for (a = ai; a != NULL; a = a->ai_next) {
		if ((c->fd = socket(a->ai_family, a->ai_socktype |
		    SOCK_CLOEXEC, a->ai_protocol)) == -1)
			continue;
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		e = errno;
		close(c->fd);
		c->fd = -1;
		errno = e;
	}
	freeaddrinfo(ai);
	if (c->fd == -1) {
		load_fail(c, "connect %s port %s: %s", c->o->host, c->o->port,
		    strerror(errno));
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* Greeting, EHLO, TLS, EHLO.  Returns 0 or -1. */
static int
load_setup(struct load_conn *c)
{
	if (load_connect(c) == -1)
		return -1;
	if (c->o->tls == LOAD_IMPLICIT && load_handshake(c) == -1)
		return -1;
	if (load_expect(c, 220, "greeting") == -1 || load_ehlo(c) == -1)
		return -1;
	if (c->o->tls == LOAD_STARTTLS) {
		if (!c->starttls) {
			load_fail(c, "the server does not offer STARTTLS");
			return -1;
		}
		if (load_writes(c, "STARTTLS\r\n") == -1 ||
		    load_expect(c, 220, "STARTTLS") == -1)
			return -1;
		/* RFC 3207: nothing read before the handshake counts. */
		c->rlen = c->roff = 0;
		if (load_handshake(c) == -1 || load_ehlo(c) == -1)
			return -1;
	}
	return 0;
}

/* The message, dot-stuffed, of about size bytes; every tenth line starts
 * with a dot so the server's unstuffing is exercised. */
static int
load_message(struct buf *m, int idx, long size)
{
	char	line[LOAD_LINE + 1];
	int	i, n = 0;

	buf_printf(m, "From: smtpload <load@example.org>\r\n"
	    "To: sink <sink@example.net>\r\n"
	    "Subject: smtpload %d\r\n"
	    "Message-ID: <smtpload.%d@example.org>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "\r\n", idx, idx);
	while ((long)m->len < size) {
		for (i = 0; i < LOAD_LINE; i++)
			line[i] = (char)('a' + (n + i) % 26);
		line[LOAD_LINE] = '\0';
		if (n % 10 == 9)
			line[0] = '.';
		if (line[0] == '.')
			buf_addc(m, '.');
		buf_add(m, line, LOAD_LINE);
		buf_adds(m, "\r\n");
		n++;
	}
	buf_adds(m, ".\r\n");
	return m->overflow ? -1 : 0;
}

static const char load_envelope[] =
    "MAIL FROM:<load@example.org> BODY=8BITMIME\r\n"
    "RCPT TO:<sink@example.net>\r\n"
    "DATA\r\n";

/* The three replies to one envelope. */
static int
load_envelope_replies(struct load_conn *c)
{
	if (load_expect(c, 250, "MAIL") == -1 ||
	    load_expect(c, 250, "RCPT") == -1 ||
	    load_expect(c, 354, "DATA") == -1)
		return -1;
	return 0;
}

/* Without PIPELINING: one command, one reply. */
static int
load_lockstep(struct load_conn *c, const struct buf *msg)
{
	long	i;

	for (i = 0; i < c->todo; i++) {
		if (load_writes(c, "MAIL FROM:<load@example.org> "
		    "BODY=8BITMIME\r\n") == -1 ||
		    load_expect(c, 250, "MAIL") == -1 ||
		    load_writes(c, "RCPT TO:<sink@example.net>\r\n") ==
		    -1 || load_expect(c, 250, "RCPT") == -1 ||
		    load_writes(c, "DATA\r\n") == -1 ||
		    load_expect(c, 354, "DATA") == -1 ||
		    load_write(c, msg->data, msg->len) == -1 ||
		    load_expect(c, 250, "end of data") == -1)
			return -1;
		c->sent++;
	}
	if (load_writes(c, "QUIT\r\n") == -1)
		return -1;
	return load_expect(c, 221, "QUIT");
}

static int
load_run(struct load_conn *c, const struct buf *msg)
{
	struct buf	w;
	long		i;
	int		rc = -1;

	if (!c->pipelining)
		return load_lockstep(c, msg);
	buf_init(&w, 0);
	if (c->todo == 0) {
		if (load_writes(c, "QUIT\r\n") == -1)
			goto out;
		rc = load_expect(c, 221, "QUIT");
		goto out;
	}
	if (load_write(c, load_envelope, sizeof(load_envelope) - 1) == -1)
		goto out;
	for (i = 0; i < c->todo; i++) {
		if (load_envelope_replies(c) == -1)
			goto out;
		buf_reset(&w);
		buf_add(&w, msg->data, msg->len);
		if (i + 1 < c->todo)
			buf_add(&w, load_envelope, sizeof(load_envelope) - 1);
		else
			buf_adds(&w, "QUIT\r\n");
		if (w.overflow) {
			load_fail(c, "out of memory");
			goto out;
		}
		if (load_write(c, w.data, w.len) == -1 ||
		    load_expect(c, 250, "end of data") == -1)
			goto out;
		c->sent++;
	}
	rc = load_expect(c, 221, "QUIT");
out:
	buf_free(&w);
	return rc;
}

static void *
load_thread(void *arg)
{
	struct load_conn	*c = arg;
	struct buf		 msg;
	int			 ok;

	buf_init(&msg, 0);
	ok = load_message(&msg, c->idx, c->o->size) == 0;
	if (!ok)
		load_fail(c, "cannot build a message of %ld bytes",
		    c->o->size);
	ok = ok && load_setup(c) == 0;
	pthread_barrier_wait(c->ready);
	if (ok)
		load_run(c, &msg);
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->fd != -1)
		close(c->fd);
	buf_free(&msg);
	return NULL;
}

static double
now_s(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: smtpload --connect HOST:PORT [--ca FILE] "
	    "[--starttls | --tls | --plain]\n"
	    "                [--connections C (8)] [--messages N (10000)] "
	    "[--size BYTES (8000)]\n");
	exit(2);
}

static long
opt_num(const char *name, const char *s, long min, long max)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min || v > max) {
		fprintf(stderr, "smtpload: --%s %s: expected %ld to %ld\n",
		    name, s, min, max);
		exit(2);
	}
	return v;
}

static void
opt_connect(struct load_opts *o, const char *s)
{
	const char	*colon, *h;
	size_t		 hl;

	if (s[0] == '[') {
		if ((colon = strstr(s, "]:")) == NULL)
			goto bad;
		h = s + 1;
		hl = (size_t)(colon - h);
		colon++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		h = s;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(o->host) ||
	    strlen(colon + 1) >= sizeof(o->port) || colon[1] == '\0')
		goto bad;
	memcpy(o->host, h, hl);
	o->host[hl] = '\0';
	snprintf(o->port, sizeof(o->port), "%s", colon + 1);
	return;
bad:
	fprintf(stderr, "smtpload: --connect %s: expected HOST:PORT or "
	    "[IPv6]:PORT\n", s);
	exit(2);
}

int
main(int argc, char **argv)
{
	enum { O_CONNECT = 256, O_CA, O_STARTTLS, O_TLS, O_PLAIN, O_CONNS,
		O_MSGS, O_SIZE };
	static const struct option lo[] = {
		{ "connect", required_argument, NULL, O_CONNECT },
		{ "ca", required_argument, NULL, O_CA },
		{ "starttls", no_argument, NULL, O_STARTTLS },
		{ "tls", no_argument, NULL, O_TLS },
		{ "plain", no_argument, NULL, O_PLAIN },
		{ "connections", required_argument, NULL, O_CONNS },
		{ "messages", required_argument, NULL, O_MSGS },
		{ "size", required_argument, NULL, O_SIZE },
		{ NULL, 0, NULL, 0 }
	};
	struct load_opts	 o;
	struct load_conn	*cs;
	pthread_barrier_t	 ready;
	SSL_CTX			*ctx = NULL;
	double			 t0, t1, secs;
	long			 sent = 0;
	int			 ch, i, have_connect = 0, rc = 0;

	memset(&o, 0, sizeof(o));
	o.tls = LOAD_STARTTLS;
	o.connections = 8;
	o.messages = 10000;
	o.size = 8000;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case O_CONNECT:
			opt_connect(&o, optarg);
			have_connect = 1;
			break;
		case O_CA:
			o.ca = optarg;
			break;
		case O_STARTTLS:
			o.tls = LOAD_STARTTLS;
			break;
		case O_TLS:
			o.tls = LOAD_IMPLICIT;
			break;
		case O_PLAIN:
			o.tls = LOAD_PLAIN;
			break;
		case O_CONNS:
			o.connections = (int)opt_num("connections", optarg, 1,
			    10000);
			break;
		case O_MSGS:
			o.messages = opt_num("messages", optarg, 0,
			    1000000000L);
			break;
		case O_SIZE:
			o.size = opt_num("size", optarg, 0, 50000000L);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !have_connect)
		usage();
	if (o.tls != LOAD_PLAIN) {
		if (o.ca == NULL) {
			fprintf(stderr, "smtpload: TLS needs --ca FILE (or "
			    "--plain)\n");
			return 2;
		}
		if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
		    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
		    SSL_CTX_load_verify_locations(ctx, o.ca, NULL) != 1) {
			fprintf(stderr, "smtpload: --ca %s: %s\n", o.ca,
			    ossl_why());
			return 2;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}

	if ((cs = calloc((size_t)o.connections, sizeof(*cs))) == NULL) {
		fprintf(stderr, "smtpload: out of memory\n");
		return 2;
	}
	pthread_barrier_init(&ready, NULL, (unsigned)o.connections + 1);
	for (i = 0; i < o.connections; i++) {
		cs[i].idx = i;
		cs[i].o = &o;
		cs[i].ctx = ctx;
		cs[i].ready = &ready;
		cs[i].fd = -1;
		cs[i].todo = o.messages / o.connections +
		    (i < o.messages % o.connections);
		if (pthread_create(&cs[i].th, NULL, load_thread, &cs[i]) !=
		    0) {
			fprintf(stderr, "smtpload: pthread_create failed\n");
			return 2;
		}
	}
	pthread_barrier_wait(&ready);
	t0 = now_s();
	for (i = 0; i < o.connections; i++)
		pthread_join(cs[i].th, NULL);
	t1 = now_s();
	secs = t1 - t0;
	for (i = 0; i < o.connections; i++) {
		sent += cs[i].sent;
		if (cs[i].err[0] != '\0') {
			fprintf(stderr, "smtpload: %s\n", cs[i].err);
			rc = 1;
		}
	}
	if (sent != o.messages)
		rc = 1;
	printf("smtpload: %ld messages in %.3f s: %.0f msgs/s\n", sent, secs,
	    secs > 0 ? (double)sent / secs : 0.0);
	pthread_barrier_destroy(&ready);
	free(cs);
	SSL_CTX_free(ctx);
	return rc;
}
