/* smtpsend.c - drive the SMTP client (daemon/smtp.c) alone, for the
 * integration tests and the benchmark: one relay built from the command
 * line (no config file), COUNT messages handed over as room allows, one
 * JSON line per outcome on stdout and a summary line last.  The tool owns
 * the loop, the relay and the message buffers it hands over.
 * Usage: smtpsend --help. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "smtp.h"

struct send {
	struct loop		*loop;
	struct smtp_relay	*relay;
	const char		*from;
	const char		*tmpl;
	char			**rcpts;
	size_t			 nrcpts;
	struct buf		 body;		/* the message, CRLF lines */
	long			 count, next, reported;
	int64_t			 end, quit_by;	/* all reported; give up */
	uint64_t		 n[5];		/* by enum smtp_result */
	int64_t			 start;
	struct buf		 line;
};

static const char *const results[] = {
	[SMTP_SENT] = "sent", [SMTP_TEMPFAIL] = "tempfail",
	[SMTP_PERMFAIL] = "permfail", [SMTP_BOUNCED] = "bounced",
	[SMTP_NOT_SENT] = "not_sent",
};

static void
usage(void)
{
	fprintf(stderr,
"usage: smtpsend --host H --port P [--tls starttls|tls] [--ca FILE]\n"
"         [--cert FILE --key FILE] [--credential FILE] [--helo NAME]\n"
"         [--name RELAY] [--connections N] [--per-connection N] [--rate N]\n"
"         [--timeout MS] --from ADDR --count N\n"
"         [--rcpt-template 'user%%d@example.org' | --rcpt ADDR ...]\n"
"         [--body-file FILE | --size BYTES] [--debug]\n");
	exit(2);
}

static long
num(const char *opt, const char *s, long min, long max)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "smtpsend: %s %s: expected %ld to %ld\n", opt,
		    s, min, max);
		exit(2);
	}
	return v;
}

static void
json_str(struct buf *b, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	buf_addc(b, '"');
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_printf(b, "\\%c", *p);
		else if (*p < 0x20)
			buf_printf(b, "\\u%04x", *p);
		else
			buf_addc(b, *p);
	}
	buf_addc(b, '"');
}

/* The recipient of message i: --rcpt in turn, else the template with its
 * "%d" replaced by i (no printf: the template is not a format). */
static void
rcpt_of(struct send *s, long i, struct buf *out)
{
	const char	*t, *p;

	buf_reset(out);
	if (s->nrcpts > 0) {
		buf_adds(out, s->rcpts[(size_t)i % s->nrcpts]);
		return;
	}
	t = s->tmpl;
	while ((p = strstr(t, "%d")) != NULL) {
		buf_add(out, t, (size_t)(p - t));
		buf_printf(out, "%ld", i);
		t = p + 2;
	}
	buf_adds(out, t);
}

static void	submit(struct send *);

static void
done(void *arg, const struct smtp_done *d)
{
	struct send	*s = arg;

	if (d->result <= SMTP_NOT_SENT)
		s->n[d->result]++;
	buf_reset(&s->line);
	buf_printf(&s->line, "{\"cookie\":%llu,\"result\":\"%s\",\"text\":",
	    (unsigned long long)d->cookie, results[d->result]);
	json_str(&s->line, d->text != NULL ? d->text : "");
	buf_adds(&s->line, "}\n");
	fwrite(s->line.data, 1, s->line.len, stdout);
	if (++s->reported == s->count) {
		/* As the daemon stops: idle connections QUIT. */
		s->end = loop_now_ms();
		s->quit_by = s->end + 5000;
		smtp_relay_drain(s->relay);
	} else
		submit(s);
}

/* Hand over what the relay takes now. */
static void
submit(struct send *s)
{
	struct buf	rcpt, msg;

	buf_init(&rcpt, 4096);
	while (s->next < s->count && smtp_relay_room(s->relay) > 0) {
		rcpt_of(s, s->next, &rcpt);
		buf_init(&msg, 0);
		if (buf_add(&msg, s->body.data, s->body.len) == -1) {
			fprintf(stderr, "smtpsend: out of memory\n");
			exit(1);
		}
		if (smtp_relay_submit(s->relay, s->from, rcpt.data, &msg,
		    (uint64_t)s->next) == -1) {
			buf_free(&msg);
			break;
		}
		buf_free(&msg);
		s->next++;
	}
	buf_free(&rcpt);
}

static int64_t
submit_due(void *arg)
{
	struct send		*s = arg;
	struct smtp_relay_stats	 st;

	if (s->reported == s->count && s->count > 0) {
		smtp_relay_stats(s->relay, &st);
		if (st.connections == 0 || loop_now_ms() >= s->quit_by)
			return loop_now_ms();
		return loop_now_ms() + 10;
	}
	if (s->next >= s->count)
		return -1;
	if (smtp_relay_room(s->relay) > 0)
		return loop_now_ms();
	return smtp_relay_room_at(s->relay);
}

static void
submit_run(void *arg)
{
	struct send		*s = arg;
	struct smtp_relay_stats	 st;

	if (s->reported == s->count) {
		smtp_relay_stats(s->relay, &st);
		if (st.connections == 0 || loop_now_ms() >= s->quit_by)
			loop_stop(s->loop);
		return;
	}
	submit(s);
}

static void
read_body(struct buf *b, const char *path)
{
	char	chunk[65536];
	ssize_t	n;
	int	fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "smtpsend: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || buf_add(b, chunk, (size_t)n) == -1) {
			fprintf(stderr, "smtpsend: %s: %s\n", path, n == -1 ?
			    strerror(errno) : "too large");
			exit(1);
		}
	}
	close(fd);
}

/* A plain message of about size bytes: headers, then 76-character lines. */
static void
make_body(struct buf *b, const char *from, long size)
{
	long	i;

	buf_printf(b, "From: <%s>\r\nTo: <undisclosed-recipients:;>\r\n"
	    "Subject: smtpsend test\r\nMessage-ID: <smtpsend.%ld@localhost>"
	    "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain;"
	    " charset=us-ascii\r\n\r\n", from, (long)getpid());
	for (i = 0; (long)b->len + 78 <= size; i++)
		buf_printf(b, "%06ld abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 ..........\r\n",
		    i % 1000000);
	while ((long)b->len + 2 < size)
		buf_addc(b, 'x');
	if ((long)b->len < size)
		buf_adds(b, "\r\n");
}

int
main(int argc, char **argv)
{
	enum { O_HOST = 256, O_PORT, O_TLS, O_CA, O_CERT, O_KEY, O_CRED,
		O_HELO, O_NAME, O_CONNS, O_PERCONN, O_RATE, O_TIMEOUT, O_FROM,
		O_COUNT, O_TMPL, O_RCPT, O_BODY, O_SIZE, O_DEBUG };
	static const struct option lo[] = {
		{ "host", required_argument, NULL, O_HOST },
		{ "port", required_argument, NULL, O_PORT },
		{ "tls", required_argument, NULL, O_TLS },
		{ "ca", required_argument, NULL, O_CA },
		{ "cert", required_argument, NULL, O_CERT },
		{ "key", required_argument, NULL, O_KEY },
		{ "credential", required_argument, NULL, O_CRED },
		{ "helo", required_argument, NULL, O_HELO },
		{ "name", required_argument, NULL, O_NAME },
		{ "connections", required_argument, NULL, O_CONNS },
		{ "per-connection", required_argument, NULL, O_PERCONN },
		{ "rate", required_argument, NULL, O_RATE },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "from", required_argument, NULL, O_FROM },
		{ "count", required_argument, NULL, O_COUNT },
		{ "rcpt-template", required_argument, NULL, O_TMPL },
		{ "rcpt", required_argument, NULL, O_RCPT },
		{ "body-file", required_argument, NULL, O_BODY },
		{ "size", required_argument, NULL, O_SIZE },
		{ "debug", no_argument, NULL, O_DEBUG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfg_relay	 rc;
	struct cfg_tls		 tls;
	struct send		 s;
	struct smtp_relay_stats	 st;
	char			 err[512];
	const char		*body_file = NULL;
	long			 size = 0;
	double			 secs;
	char			**p;
	int			 o;

	memset(&rc, 0, sizeof(rc));
	memset(&tls, 0, sizeof(tls));
	memset(&s, 0, sizeof(s));
	rc.name = "relay1";
	rc.port = -1;
	rc.tls = CFG_RELAY_STARTTLS;
	rc.max_connections = 4;
	rc.max_messages_per_connection = 1000;
	rc.timeout_ms = 60000;
	s.tmpl = "user%d@example.org";
	s.count = -1;
	log_init("smtpsend");
	log_set_level(LOG_LEVEL_WARNING);
	while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (o) {
		case O_HOST:
			rc.host = optarg;
			break;
		case O_PORT:
			rc.port = (int)num("--port", optarg, 1, 65535);
			break;
		case O_TLS:
			if (strcmp(optarg, "starttls") == 0)
				rc.tls = CFG_RELAY_STARTTLS;
			else if (strcmp(optarg, "tls") == 0)
				rc.tls = CFG_RELAY_TLS;
			else {
				fprintf(stderr, "smtpsend: --tls %s: expected"
				    " starttls or tls\n", optarg);
				exit(2);
			}
			break;
		case O_CA:
			tls.ca_file = optarg;
			break;
		case O_CERT:
			tls.cert_file = optarg;
			break;
		case O_KEY:
			tls.key_file = optarg;
			break;
		case O_CRED:
			rc.credential = optarg;
			break;
		case O_HELO:
			rc.helo = optarg;
			break;
		case O_NAME:
			rc.name = optarg;
			break;
		case O_CONNS:
			rc.max_connections = (int)num("--connections", optarg,
			    1, 1000);
			break;
		case O_PERCONN:
			rc.max_messages_per_connection = (int)num(
			    "--per-connection", optarg, 1, 100000000);
			break;
		case O_RATE:
			rc.rate = (int)num("--rate", optarg, 0, 10000000);
			break;
		case O_TIMEOUT:
			rc.timeout_ms = (int)num("--timeout", optarg, 1,
			    3600000);
			break;
		case O_FROM:
			s.from = optarg;
			break;
		case O_COUNT:
			s.count = num("--count", optarg, 0, 100000000);
			break;
		case O_TMPL:
			s.tmpl = optarg;
			break;
		case O_RCPT:
			p = reallocarray(s.rcpts, s.nrcpts + 1, sizeof(*p));
			if (p == NULL) {
				fprintf(stderr, "smtpsend: out of memory\n");
				exit(1);
			}
			s.rcpts = p;
			s.rcpts[s.nrcpts++] = optarg;
			break;
		case O_BODY:
			body_file = optarg;
			break;
		case O_SIZE:
			size = num("--size", optarg, 1, 64L * 1024 * 1024);
			break;
		case O_DEBUG:
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || rc.host == NULL || s.from == NULL ||
	    s.count < 0 || (body_file != NULL && size > 0))
		usage();
	if (rc.port == -1)
		rc.port = rc.tls == CFG_RELAY_TLS ? 465 : 587;
	/* OpenSSL writes with write(2): a closed peer must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	buf_init(&s.body, 0);
	buf_init(&s.line, 0);
	if (body_file != NULL)
		read_body(&s.body, body_file);
	else
		make_body(&s.body, s.from, size > 0 ? size : 1000);

	if ((s.loop = loop_new()) == NULL) {
		fprintf(stderr, "smtpsend: out of memory\n");
		return 1;
	}
	s.relay = smtp_relay_new(s.loop, &rc, &tls, done, &s, err,
	    sizeof(err));
	if (s.relay == NULL) {
		fprintf(stderr, "smtpsend: %s\n", err);
		loop_free(s.loop);
		return 1;
	}
	if (loop_add_timer(s.loop, submit_due, submit_run, &s) == -1) {
		fprintf(stderr, "smtpsend: out of memory\n");
		return 1;
	}
	s.start = loop_now_ms();
	if (s.count > 0 && loop_run(s.loop) == -1)
		fprintf(stderr, "smtpsend: the loop failed\n");
	secs = (double)((s.end ? s.end : loop_now_ms()) - s.start) / 1000.0;
	smtp_relay_stats(s.relay, &st);
	smtp_relay_free(s.relay);
	loop_free(s.loop);
	printf("sent %llu tempfail %llu permfail %llu bounced %llu in %.3f s"
	    " (%.0f msgs/s)\n", (unsigned long long)s.n[SMTP_SENT],
	    (unsigned long long)s.n[SMTP_TEMPFAIL],
	    (unsigned long long)s.n[SMTP_PERMFAIL],
	    (unsigned long long)s.n[SMTP_BOUNCED], secs,
	    secs > 0 ? (double)s.n[SMTP_SENT] / secs : 0.0);
	fprintf(stderr, "smtpsend: connections %llu, failed %llu,"
	    " pipelining %s, not_sent %llu\n",
	    (unsigned long long)st.connects,
	    (unsigned long long)st.connect_failures,
	    st.pipelining ? "yes" : "no",
	    (unsigned long long)s.n[SMTP_NOT_SENT]);
	buf_free(&s.body);
	buf_free(&s.line);
	free(s.rcpts);
	return 0;
}
