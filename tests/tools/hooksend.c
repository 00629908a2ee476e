/* hooksend.c - drive the webhook sender (daemon/webhook.c) alone, for the
 * integration tests and the benchmark: N signed POSTs to the given URLs
 * (round robin) through the daemon's loop, one JSON line per job on
 * stdout when it is finally reported, then a summary line.  Jobs reported
 * RETRY are submitted again (same webhook-id) after their Retry-After when
 * --retries allows.  Everything here belongs to main(). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "tls.h"
#include "webhook.h"

#define HS_BODY_MAX	WEBHOOK_BODY_MAX

struct hs_job {
	int	 attempts;
	int64_t	 due_ms;	/* resubmit at; -1: not waiting */
};

static struct {
	struct loop		*loop;
	struct webhook		*wh;
	char			**urls;
	size_t			 nurls;
	const char		*id_prefix;
	char			*body;		/* NULL: a small body per job */
	size_t			 bodylen;
	uint64_t		 count, next, reported;
	int			 retries;
	int			 quiet;
	uint64_t		 abort_after;	/* 0: run to the end */
	int			 stopping;
	uint64_t		 reload_after;	/* 0: never */
	int			 reload_pending, reloading;
	const struct cfg_webhooks *cfg;
	const struct cfg_tls	*tls;
	struct hs_job		*jobs;
	uint64_t		 nwaiting;	/* jobs waiting to be resent */
	uint64_t		 n[5];
	int64_t			 start_ms;
	struct buf		 line;
} hs;

static const char *const hs_names[] = { "sent", "retry", "failed", "gone",
    "not_sent" };

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
"usage: hooksend --secret-file F --count N --url URL [--url URL ...]\n"
"                [--ca FILE] [--cert FILE --key FILE] [--allow-loopback]\n"
"                [--allow-private] [--connections N] [--rate N]\n"
"                [--timeout MS] [--retry-after-max S] [--retries N]\n"
"                [--id PREFIX] [--body-file F] [--quiet]\n"
"                [--abort-after N]   (free the sender after N reports)\n"
"                [--reload-after N]  (replace it after N reports; the\n"
"                                     loop goes on)\n"
"Prints one JSON line per job {\"cookie\",\"result\",\"status\",\n"
"\"retry_after_ms\",\"attempts\",\"text\"} (none with --quiet), then\n"
"\"sent N retry N failed N gone N not_sent N in S s (R req/s)\".\n");
	exit(2);
}

static long
hs_number(const char *opt, const char *s, long min, long max)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		fprintf(stderr, "hooksend: --%s \"%s\": not a number in "
		    "%ld..%ld\n", opt, s, min, max);
		exit(2);
	}
	return v;
}

static void
hs_read_body(const char *path)
{
	struct buf	b;
	char		chunk[65536];
	ssize_t		n;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		fatal("--body-file \"%s\"", path);
	buf_init(&b, HS_BODY_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("--body-file \"%s\"", path);
		}
		if (buf_add(&b, chunk, (size_t)n) == -1)
			fatalx("--body-file \"%s\": larger than %d bytes", path,
			    HS_BODY_MAX);
	}
	close(fd);
	hs.bodylen = b.len;
	if ((hs.body = buf_release(&b)) == NULL)
		fatalx("out of memory");
}

/* Submit job i (a first attempt or a retry).  0 or -1 (no room). */
static int
hs_submit(uint64_t i)
{
	char		 id[WEBHOOK_ID_MAX];
	char		 small[64];
	const char	*body = hs.body;
	size_t		 len = hs.bodylen;

	snprintf(id, sizeof(id), "%s%" PRIu64, hs.id_prefix, i);
	if (body == NULL) {
		len = (size_t)snprintf(small, sizeof(small),
		    "{\"test\":%" PRIu64 "}", i);
		body = small;
	}
	if (webhook_submit(hs.wh, hs.urls[i % hs.nurls], id, body, len, i) ==
	    -1)
		return -1;
	hs.jobs[i].attempts++;
	return 0;
}

/* Hand over new jobs while there is room. */
static void
hs_fill(void)
{
	if (hs.stopping)
		return;
	while (hs.next < hs.count && webhook_room(hs.wh) > 0) {
		if (hs_submit(hs.next) == -1) {
			/* Refused with room: the URL itself is bad. */
			printf("{\"cookie\":%" PRIu64 ",\"result\":\"refused\","
			    "\"status\":0,\"retry_after_ms\":-1,\"attempts\":0,"
			    "\"text\":\"webhook_submit refused the job\"}\n",
			    hs.next);
			hs.reported++;
		}
		hs.next++;
	}
	if (hs.reported == hs.count)
		loop_stop(hs.loop);
}

static void
hs_json_string(struct buf *b, const char *s)
{
	buf_addc(b, '"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			buf_printf(b, "\\u%04x", c);
		else
			buf_addc(b, c);
	}
	buf_addc(b, '"');
}

static void
hs_done(void *arg, const struct webhook_done *d)
{
	struct hs_job	*j;

	(void)arg;
	if (d->cookie >= hs.count)
		fatalx("report for unknown cookie %" PRIu64, d->cookie);
	j = &hs.jobs[d->cookie];
	if (hs.reloading && d->result == WEBHOOK_NOT_SENT) {
		/* Freed with the old sender: the new one takes it. */
		j->attempts--;
		j->due_ms = loop_now_ms();
		hs.nwaiting++;
		return;
	}
	if (d->result == WEBHOOK_RETRY && j->attempts <= hs.retries) {
		j->due_ms = loop_now_ms() + (d->retry_after_ms > 0 ?
		    d->retry_after_ms : 0);
		hs.nwaiting++;
		return;
	}
	if ((unsigned)d->result < 5)
		hs.n[d->result]++;
	hs.reported++;
	if (!hs.quiet) {
		buf_reset(&hs.line);
		buf_printf(&hs.line, "{\"cookie\":%" PRIu64 ",\"result\":\"%s\","
		    "\"status\":%d,\"retry_after_ms\":%" PRId64 ",\"attempts\":"
		    "%d,\"text\":", d->cookie, (unsigned)d->result < 5 ?
		    hs_names[d->result] : "?", d->http_status,
		    d->retry_after_ms, j->attempts);
		hs_json_string(&hs.line, d->text != NULL ? d->text : "");
		buf_adds(&hs.line, "}\n");
		fwrite(hs.line.data, 1, hs.line.len, stdout);
	}
	if (hs.reload_after > 0 && hs.reported == hs.reload_after)
		hs.reload_pending = 1;
	if (hs.abort_after > 0 && hs.reported >= hs.abort_after) {
		hs.stopping = 1;
		loop_stop(hs.loop);
	}
	hs_fill();
}

/* A timer for retries: the earliest waiting job. */
static int64_t
hs_due(void *arg)
{
	int64_t		due = -1;
	uint64_t	i;

	(void)arg;
	if (hs.reload_pending)
		return loop_now_ms();
	if (hs.nwaiting == 0)
		return -1;
	for (i = 0; i < hs.next; i++)
		if (hs.jobs[i].due_ms >= 0 && (due < 0 ||
		    hs.jobs[i].due_ms < due))
			due = hs.jobs[i].due_ms;
	return due;
}

static void
hs_run(void *arg)
{
	int64_t		now = loop_now_ms();
	uint64_t	i;
	char		err[512];

	(void)arg;
	if (hs.reload_pending) {
		/* As the daemon's reload does: free the sender while the loop
		 * goes on, and hand what it had to a new one. */
		hs.reload_pending = 0;
		hs.reloading = hs.stopping = 1;
		webhook_free(hs.wh);
		hs.reloading = hs.stopping = 0;
		if ((hs.wh = webhook_new(hs.loop, hs.cfg, hs.tls, hs_done, NULL,
		    err, sizeof(err))) == NULL)
			fatalx("%s", err);
		hs_fill();
	}
	for (i = 0; i < hs.next && hs.nwaiting > 0; i++) {
		if (hs.jobs[i].due_ms < 0 || hs.jobs[i].due_ms > now)
			continue;
		if (webhook_room(hs.wh) == 0)
			break;
		hs.jobs[i].due_ms = -1;
		hs.nwaiting--;
		if (hs_submit(i) == -1)
			fatalx("resubmitting job %" PRIu64 " failed", i);
	}
}

int
main(int argc, char *argv[])
{
	static const struct option	 opts[] = {
		{ "secret-file", required_argument, NULL, 's' },
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "allow-loopback", no_argument, NULL, 'L' },
		{ "allow-private", no_argument, NULL, 'P' },
		{ "connections", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "retry-after-max", required_argument, NULL, 'm' },
		{ "retries", required_argument, NULL, 'R' },
		{ "count", required_argument, NULL, 'n' },
		{ "url", required_argument, NULL, 'u' },
		{ "id", required_argument, NULL, 'i' },
		{ "body-file", required_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "abort-after", required_argument, NULL, 'A' },
		{ "reload-after", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfg_webhooks	 w;
	struct cfg_tls		 tls;
	char			 err[512];
	const char		*body_file = NULL;
	double			 secs;
	uint64_t		 i;
	int			 ch, have_count = 0;

	log_init("hooksend");
	memset(&w, 0, sizeof(w));
	memset(&tls, 0, sizeof(tls));
	w.max_connections_per_host = 8;
	w.timeout_ms = 15000;
	w.retry_after_max_s = 3600;
	hs.id_prefix = "msg_hooksend_";
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 's': w.secret_file = optarg; break;
		case 'a': tls.ca_file = optarg; break;
		case 'C': tls.cert_file = optarg; break;
		case 'K': tls.key_file = optarg; break;
		case 'L': w.allow_loopback = 1; break;
		case 'P': w.allow_private = 1; break;
		case 'c':
			w.max_connections_per_host = (int)hs_number(
			    "connections", optarg, 1, 256);
			break;
		case 'r':
			w.rate_per_host = (int)hs_number("rate", optarg, 0,
			    1000000);
			break;
		case 't':
			w.timeout_ms = (int)hs_number("timeout", optarg, 1,
			    600000);
			break;
		case 'm':
			w.retry_after_max_s = (int)hs_number(
			    "retry-after-max", optarg, 0, 604800);
			break;
		case 'R':
			hs.retries = (int)hs_number("retries", optarg, 0, 100);
			break;
		case 'n':
			hs.count = (uint64_t)hs_number("count", optarg, 0,
			    100000000);
			have_count = 1;
			break;
		case 'u':
			if ((hs.urls = reallocarray(hs.urls, hs.nurls + 1,
			    sizeof(*hs.urls))) == NULL)
				fatalx("out of memory");
			hs.urls[hs.nurls++] = optarg;
			break;
		case 'i': hs.id_prefix = optarg; break;
		case 'b': body_file = optarg; break;
		case 'q': hs.quiet = 1; break;
		case 'X':
			hs.reload_after = (uint64_t)hs_number("reload-after",
			    optarg, 1, 100000000);
			break;
		case 'A':
			hs.abort_after = (uint64_t)hs_number("abort-after",
			    optarg, 1, 100000000);
			break;
		default: usage();
		}
	}
	if (optind != argc || w.secret_file == NULL || !have_count ||
	    hs.nurls == 0)
		usage();
	if (body_file != NULL)
		hs_read_body(body_file);
	if ((hs.jobs = calloc(hs.count + 1, sizeof(*hs.jobs))) == NULL)
		fatalx("out of memory");
	for (i = 0; i < hs.count; i++)
		hs.jobs[i].due_ms = -1;
	buf_init(&hs.line, 0);

	signal(SIGPIPE, SIG_IGN);

	hs.cfg = &w;
	hs.tls = &tls;
	if ((hs.loop = loop_new()) == NULL)
		fatalx("out of memory");
	if ((hs.wh = webhook_new(hs.loop, &w, &tls, hs_done, NULL, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	if (loop_add_timer(hs.loop, hs_due, hs_run, NULL) == -1)
		fatalx("out of memory");
	hs.start_ms = loop_now_ms();
	hs_fill();
	if (hs.reported < hs.count && loop_run(hs.loop) == -1)
		fatalx("loop failed");
	secs = (double)(loop_now_ms() - hs.start_ms) / 1000.0;
	/* With --abort-after: what runs or waits is reported not_sent. */
	hs.stopping = 1;
	webhook_free(hs.wh);
	loop_free(hs.loop);
	for (i = hs.next; i < hs.count; i++)
		printf("{\"cookie\":%" PRIu64 ",\"result\":\"not_submitted\","
		    "\"status\":0,\"retry_after_ms\":-1,\"attempts\":0,"
		    "\"text\":\"\"}\n", i);
	fflush(stdout);
	printf("sent %" PRIu64 " retry %" PRIu64 " failed %" PRIu64 " gone %"
	    PRIu64 " not_sent %" PRIu64 " in %.3f s (%.0f req/s)\n",
	    hs.n[WEBHOOK_SENT], hs.n[WEBHOOK_RETRY], hs.n[WEBHOOK_FAILED],
	    hs.n[WEBHOOK_GONE], hs.n[WEBHOOK_NOT_SENT], secs,
	    secs > 0 ? (double)hs.count / secs : 0.0);
	buf_free(&hs.line);
	free(hs.jobs);
	free(hs.urls);
	free(hs.body);
	return 0;
}
