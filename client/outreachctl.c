/* outreachctl.c - the operators' command line: global options, the verb
 * table, and the verbs that are one control-socket request each (status,
 * backup, reload).  Human output by default, --json for scripts; exit
 * codes from sysexits.h. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "priority.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: outreachctl [-s SOCKET] [--json] VERB [ARGS]\n"
	    "\n"
	    "Verbs:\n"
	    "  publish    publish an event and wait for the daemon's reply\n"
	    "  keygen     make a CURVE key pair\n"
	    "  status     the daemon's state and counters\n"
	    "  event      an event, its audience and deliveries (--watch)\n"
	    "  contacts   the contacts directory (import, export, list, ...)\n"
	    "  deliveries list deliveries by state or event\n"
	    "  retry      send an event's failed deliveries (or one) again\n"
	    "  cancel     cancel an event's deliveries not yet sent\n"
	    "  pause      stop all sending (intake continues)\n"
	    "  resume     start sending again\n"
	    "  preview    render the notice a contact would get, send nothing\n"
	    "  backup     write an online, consistent copy of the journal\n"
	    "  reload     reload configuration and allow-list (as SIGHUP)\n"
	    "\n"
	    "Options:\n"
	    "  -s, --socket PATH   control socket (default "
	    "$OUTREACHCTL_SOCKET or\n"
	    "                      " CTL_DEFAULT_SOCKET ")\n"
	    "      --json          machine-readable output\n"
	    "      --version       print the version\n"
	    "\n"
	    "'outreachctl VERB --help' describes each verb; see also "
	    "outreachctl(1).\n");
}

static int
wants_help(int argc, char **argv)
{
	int	i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

static const char *
human_bytes(long long n, char *out, size_t outlen)
{
	if (n >= 10LL << 20)
		snprintf(out, outlen, "%lld MiB", n >> 20);
	else if (n >= 10LL << 10)
		snprintf(out, outlen, "%lld KiB", n >> 10);
	else
		snprintf(out, outlen, "%lld B", n);
	return out;
}

static long long
jint(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* Queue sizes per state and channel, senders, rates. */
static void
status_delivery(json_t *dv)
{
	static const char *const states[] = { "pending", "sending",
	    "deferred" };
	static const char *const outcomes[] = { "sent", "deferred", "failed",
	    "expired" };
	json_t		*st, *per, *v, *rates, *since;
	size_t		 i;

	if (dv == NULL)
		return;
	printf("delivery    %s, in flight %lld\n", json_is_true(
	    json_object_get(dv, "paused")) ? "PAUSED (outreachctl resume)" :
	    "sending", jint(dv, "in_flight"));
	st = json_object_get(dv, "queue");
	printf("  queue     %-10s %10s %10s\n", "state", "smtp", "webhook");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		per = json_object_get(st, states[i]);
		printf("            %-10s %10lld %10lld\n", states[i],
		    jint(per, "smtp"), jint(per, "webhook"));
	}
	since = json_object_get(dv, "since_start");
	printf("  since start");
	for (i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
		printf("%s %s %lld/%lld", i ? "," : "", outcomes[i],
		    jint(json_object_get(since, "smtp"), outcomes[i]),
		    jint(json_object_get(since, "webhook"), outcomes[i]));
	printf(" (smtp/webhook)\n");
	rates = json_object_get(dv, "rates");
	printf("rates       smtp %.1f/s, webhook %.1f/s (last 10 s); "
	    "%.1f/s, %.1f/s (last 60 s)\n",
	    json_real_value(json_object_get(json_object_get(rates, "smtp"),
	    "per_s_10s")),
	    json_real_value(json_object_get(json_object_get(rates, "webhook"),
	    "per_s_10s")),
	    json_real_value(json_object_get(json_object_get(rates, "smtp"),
	    "per_s_60s")),
	    json_real_value(json_object_get(json_object_get(rates, "webhook"),
	    "per_s_60s")));
	json_array_foreach(json_object_get(dv, "relays"), i, v)
		printf("relay       %s: %lld connections%s, queued %lld, in "
		    "flight %lld, sent %lld, temp %lld, perm %lld, connect "
		    "failures %lld\n",
		    json_string_value(json_object_get(v, "name")),
		    jint(v, "connections"), json_is_true(json_object_get(v,
		    "pipelining")) ? " (pipelining)" : "", jint(v, "queued"),
		    jint(v, "in_flight"), jint(v, "sent"), jint(v, "tempfail"),
		    jint(v, "permfail"), jint(v, "connect_failures"));
	json_array_foreach(json_object_get(dv, "webhook_hosts"), i, v)
		printf("host        %s: queued %lld, running %lld, sent %lld, "
		    "retry %lld, failed %lld, gone %lld\n",
		    json_string_value(json_object_get(v, "host")),
		    jint(v, "queued"), jint(v, "running"), jint(v, "sent"),
		    jint(v, "retry"), jint(v, "failed"), jint(v, "gone"));
}

static int
cmd_status(const struct client_opts *o, int argc, char **argv)
{
	json_t		*req, *r, *j, *in, *codes, *feeds, *v;
	const char	*k;
	char		 b1[32], b2[32];
	long long	 up;
	size_t		 i;
	int		 rc, first;

	if (wants_help(argc, argv)) {
		printf("usage: outreachctl status [--json]\n\nShows the "
		    "daemon's version, uptime, journal settings (mode and\n"
		    "synchronous), sizes, and intake counters.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "usage: outreachctl status\n");
		return EX_USAGE;
	}
	req = json_pack("{s:s}", "cmd", "status");
	r = ctl_call(o, req, NULL, &rc);
	json_decref(req);
	if (r == NULL)
		return rc;
	if (o->json) {
		json_dumpf(r, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(r);
		return 0;
	}
	up = jint(r, "uptime_s");
	printf("outreachd %s, pid %lld, up %lldd %02lld:%02lld:%02lld\n",
	    json_string_value(json_object_get(r, "version")), jint(r, "pid"),
	    up / 86400, up / 3600 % 24, up / 60 % 60, up % 60);
	printf("config      %s (reloads %lld, failed %lld)\n",
	    json_string_value(json_object_get(r, "config")),
	    jint(r, "reloads"), jint(r, "reload_failures"));
	printf("posts       %lld, publishers %lld\n", jint(r, "posts"),
	    jint(r, "publishers"));
	j = json_object_get(r, "journal");
	printf("journal     mode %s, synchronous %s, schema %lld\n",
	    json_string_value(json_object_get(j, "mode")),
	    json_string_value(json_object_get(j, "synchronous")),
	    jint(j, "schema"));
	printf("            %lld events, %lld contacts, %lld deliveries; "
	    "%s + WAL %s\n", jint(j, "events"), jint(j, "contacts"),
	    jint(j, "deliveries"), human_bytes(jint(j, "db_bytes"), b1,
	    sizeof(b1)), human_bytes(jint(j, "wal_bytes"), b2, sizeof(b2)));
	in = json_object_get(r, "ingest");
	printf("ingest      received %lld, accepted %lld, duplicate %lld, "
	    "rejected %lld\n", jint(in, "received"), jint(in, "accepted"),
	    jint(in, "duplicate"), jint(in, "rejected"));
	codes = json_object_get(in, "rejected_by_code");
	first = 1;
	json_object_foreach(codes, k, v) {
		if (json_integer_value(v) == 0)
			continue;
		printf("%s%s %lld", first ? "  rejected  " : ", ", k,
		    (long long)json_integer_value(v));
		first = 0;
	}
	if (!first)
		putchar('\n');
	printf("handshakes  allowed %lld, refused %lld\n",
	    jint(in, "handshakes_allowed"), jint(in, "handshakes_refused"));
	feeds = json_object_get(in, "feeds");
	if (json_array_size(feeds) > 0) {
		printf("feeds       received %lld, stored %lld, duplicate "
		    "%lld, rejected %lld, lost %lld, gaps %lld\n",
		    jint(in, "feed_received"), jint(in, "feed_stored"),
		    jint(in, "feed_duplicate"), jint(in, "feed_rejected"),
		    jint(in, "feed_lost"), jint(in, "gaps"));
		json_array_foreach(feeds, i, v)
			printf("  %-10s post %s, last seq %lld, gaps %lld\n",
			    json_string_value(json_object_get(v, "name")),
			    json_string_value(json_object_get(v, "post")),
			    jint(v, "last_seq"), jint(v, "gaps"));
	}
	status_delivery(json_object_get(r, "delivery"));
	json_decref(r);
	return 0;
}

/* The daemon makes the copy and passes its descriptor; we write FILE,
 * which the operator may write and the hardened daemon may not. */
static int
cmd_backup(const struct client_opts *o, int argc, char **argv)
{
	json_t	*req, *r;
	char	 chunk[65536], *tmp = NULL;
	ssize_t	 n;
	int	 fd = -1, out = -1, rc;
	size_t	 tlen;

	if (wants_help(argc, argv)) {
		printf("usage: outreachctl backup FILE\n\nWrites an online, "
		    "consistent copy of the journal (SQLite backup API)\nto "
		    "FILE, which must not exist.  The daemon keeps running.\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: outreachctl backup FILE\n");
		return EX_USAGE;
	}
	if (access(argv[1], F_OK) == 0) {
		fprintf(stderr, "outreachctl: backup: %s exists; choose "
		    "another name\n", argv[1]);
		return EX_CANTCREAT;
	}
	tlen = strlen(argv[1]) + 16;
	if ((tmp = malloc(tlen)) == NULL)
		return EX_OSERR;
	snprintf(tmp, tlen, "%s.partial", argv[1]);
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		fprintf(stderr, "outreachctl: backup: %s: %s\n", tmp,
		    strerror(errno));
		free(tmp);
		return EX_CANTCREAT;
	}
	req = json_pack("{s:s}", "cmd", "backup");
	r = ctl_call(o, req, &fd, &rc);
	json_decref(req);
	if (r == NULL)
		goto fail;
	if (fd == -1) {
		fprintf(stderr, "outreachctl: backup: the daemon sent no "
		    "file\n");
		rc = EX_PROTOCOL;
		goto fail;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (write(out, chunk, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (n == -1 || fsync(out) == -1 || close(out) == -1) {
		out = -1;
		fprintf(stderr, "outreachctl: backup: %s: %s\n", tmp,
		    strerror(errno));
		rc = EX_IOERR;
		goto fail;
	}
	out = -1;
	if (rename(tmp, argv[1]) == -1) {
		fprintf(stderr, "outreachctl: backup: %s: %s\n", argv[1],
		    strerror(errno));
		rc = EX_CANTCREAT;
		goto fail;
	}
	if (o->json) {
		json_object_set_new(r, "file", json_string(argv[1]));
		json_dumpf(r, stdout, 0);
		putchar('\n');
	} else
		printf("backup written to %s (%lld bytes)\n", argv[1],
		    (long long)json_integer_value(json_object_get(r, "bytes")));
	json_decref(r);
	close(fd);
	free(tmp);
	return 0;
fail:
	json_decref(r);
	if (fd != -1)
		close(fd);
	if (out != -1)
		close(out);
	unlink(tmp);
	free(tmp);
	return rc;
}

static const char *const delivery_states[] = { "pending", "sending", "sent",
    "deferred", "failed", "expired", "cancelled", "skipped" };

/* One redraw of an event's progress: the bar counts finished deliveries
 * (sent, failed, expired, cancelled, skipped) against all of them. */
static int
event_print(const struct client_opts *o, json_t *ev, int tty, int first)
{
	json_t		*per = json_object_get(ev, "deliveries");
	long long	 n[8], total = 0, finished, open_;
	char		 when[64], bar[41];
	time_t		 t;
	struct tm	 tm;
	size_t		 i, fill;

	for (i = 0; i < 8; i++) {
		n[i] = jint(per, delivery_states[i]);
		total += n[i];
	}
	open_ = n[0] + n[1] + n[3];
	finished = total - open_;
	if (o->json) {
		json_dumpf(ev, stdout, JSON_COMPACT);
		putchar('\n');
		fflush(stdout);
		return open_ == 0 && json_is_true(json_object_get(ev,
		    "fanout_done"));
	}
	if (first) {
		t = (time_t)(jint(ev, "received_at_ms") / 1000);
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		printf("event %s (post %s)\n",
		    json_string_value(json_object_get(ev, "id")),
		    json_string_value(json_object_get(ev, "post")));
		printf("  topic      %s, type %s, priority %s, status %s\n",
		    json_string_value(json_object_get(ev, "topic")),
		    json_string_value(json_object_get(ev, "type")),
		    priority_name((int)jint(ev, "priority")),
		    json_string_value(json_object_get(ev, "status")));
		printf("  received   %s from %s\n", when,
		    json_string_value(json_object_get(ev, "source")));
		printf("  audience   %lld recipients%s\n", jint(ev, "recipients"),
		    json_is_true(json_object_get(ev, "fanout_done")) ? "" :
		    " (deliveries still being created)");
	}
	if (tty && !first)
		printf("\r\033[K\033[A\r\033[K");
	printf("  deliveries");
	for (i = 0; i < 8; i++)
		printf("%s %s %lld", i ? "," : "", delivery_states[i], n[i]);
	putchar('\n');
	fill = total > 0 ? (size_t)(finished * 40 / total) : 40;
	memset(bar, '#', fill);
	memset(bar + fill, '-', 40 - fill);
	bar[40] = '\0';
	printf("  [%s] %lld/%lld done", bar, finished, total);
	if (!tty)
		putchar('\n');
	fflush(stdout);
	return open_ == 0 && json_is_true(json_object_get(ev, "fanout_done"));
}

static int
cmd_event(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "post", required_argument, NULL, 'p' },
		{ "watch", no_argument, NULL, 'w' },
		{ "once", no_argument, NULL, '1' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*post = NULL;
	char		*found = NULL;
	json_t		*req, *r;
	int		 ch, watch = 0, rc, tty, first = 1, done;

	optind = 0;	/* 0: glibc starts afresh (permuting again) */
	while ((ch = getopt_long(argc, argv, "p:wh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			post = optarg;
			break;
		case 'w':
			watch = 1;
			break;
		case '1':
			watch = 0;
			break;
		case 'h':
			printf("usage: outreachctl event [--post POST] [--watch | "
			    "--once] ID\n\nShows an event: topic, type, "
			    "priority, audience size and its deliveries\nper "
			    "state.  --watch redraws a progress bar until no "
			    "delivery is pending,\ndeferred or sending; --once "
			    "prints once (the default).\n");
			return 0;
		default:
			return EX_USAGE;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: outreachctl event [--post POST] "
		    "[--watch | --once] ID\n");
		return EX_USAGE;
	}
	tty = isatty(STDOUT_FILENO) && !o->json;
	for (;;) {
		req = json_pack("{s:s,s:s,s:s*}", "cmd", "event", "id",
		    argv[optind], "post", post);
		r = ctl_call(o, req, NULL, &rc);
		json_decref(req);
		if (r == NULL) {
			free(found);
			return rc == EX_SOFTWARE ? EX_NOINPUT : rc;
		}
		done = event_print(o, json_object_get(r, "event"), tty, first);
		/* Later polls name the post: the daemon then finds the
		 * event by its key instead of scanning the events. */
		if (post == NULL && (post = json_string_value(json_object_get(
		    json_object_get(r, "event"), "post"))) != NULL)
			post = found = strdup(post);
		json_decref(r);
		first = 0;
		if (!watch || done)
			break;
		usleep(500000);
	}
	free(found);
	if (tty)
		putchar('\n');
	return 0;
}

static json_t *
load_json_file(const char *path, const char *what)
{
	json_error_t	 je;
	json_t		*j;

	if (strcmp(path, "-") != 0 && access(path, R_OK) == -1) {
		fprintf(stderr, "outreachctl: %s %s: %s\n", what, path,
		    strerror(errno));
		return NULL;
	}
	j = strcmp(path, "-") == 0 ? json_loadf(stdin, 0, &je) :
	    json_load_file(path, 0, &je);
	if (j == NULL && je.line > 0)
		fprintf(stderr, "outreachctl: %s %s: line %d: %s\n", what,
		    path, je.line, je.text);
	else if (j == NULL)
		fprintf(stderr, "outreachctl: %s %s: %s\n", what, path,
		    je.text);
	return j;
}

static int
cmd_preview(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "event", required_argument, NULL, 'e' },
		{ "topic", required_argument, NULL, 't' },
		{ "post", required_argument, NULL, 'p' },
		{ "contact", required_argument, NULL, 'c' },
		{ "sample", required_argument, NULL, 's' },
		{ "part", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*evfile = NULL, *topic = NULL, *post = NULL;
	const char	*contact = NULL, *samplefile = NULL, *part = NULL;
	json_t		*req, *r, *ev = NULL, *sample = NULL;
	int		 ch, rc;

	optind = 0;	/* 0: glibc starts afresh (permuting again) */
	while ((ch = getopt_long(argc, argv, "e:t:p:c:s:P:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'e': evfile = optarg; break;
		case 't': topic = optarg; break;
		case 'p': post = optarg; break;
		case 'c': contact = optarg; break;
		case 's': samplefile = optarg; break;
		case 'P': part = optarg; break;
		case 'h':
			printf("usage: outreachctl preview --event FILE "
			    "[--topic T] [--post P]\n"
			    "           (--contact ID | --sample FILE) "
			    "[--part subject|text|html|raw]\n\n"
			    "The daemon renders the notice that contact (or "
			    "the contact described in\nthe JSON file) would "
			    "get for the event, without sending or storing\n"
			    "anything.  Without --part: subject and text.  "
			    "--part raw is the whole\ne-mail.  Previewing a "
			    "real contact is written to the audit log.\n");
			return 0;
		default:
			return EX_USAGE;
		}
	}
	if (evfile == NULL || (contact == NULL) == (samplefile == NULL) ||
	    optind != argc || (part != NULL && strcmp(part, "subject") &&
	    strcmp(part, "text") && strcmp(part, "html") &&
	    strcmp(part, "raw"))) {
		fprintf(stderr, "usage: outreachctl preview --event FILE "
		    "[--topic T] [--post P] (--contact ID | --sample FILE) "
		    "[--part subject|text|html|raw]\n");
		return EX_USAGE;
	}
	if ((ev = load_json_file(evfile, "event")) == NULL)
		return access(evfile, R_OK) == -1 ? EX_NOINPUT : EX_DATAERR;
	if (samplefile != NULL &&
	    (sample = load_json_file(samplefile, "sample contact")) == NULL) {
		json_decref(ev);
		return access(samplefile, R_OK) == -1 ? EX_NOINPUT :
		    EX_DATAERR;
	}
	req = json_pack("{s:s,s:o,s:s*,s:s*,s:s*,s:o*}", "cmd", "preview",
	    "event", ev, "topic", topic, "post", post, "contact_id", contact,
	    "contact", sample);
	r = ctl_call(o, req, NULL, &rc);
	json_decref(req);
	if (r == NULL)
		return rc == EX_SOFTWARE ? EX_DATAERR : rc;
	if (o->json) {
		json_dumpf(r, stdout, JSON_INDENT(2));
		putchar('\n');
	} else if (part != NULL)
		fputs(json_string_value(json_object_get(r, part)), stdout);
	else
		printf("Subject: %s\nLanguage: %s (Content-Language: %s), "
		    "set %s%s\n\n%s",
		    json_string_value(json_object_get(r, "subject")),
		    json_string_value(json_object_get(r, "lang")),
		    json_string_value(json_object_get(r, "content_language")),
		    json_string_value(json_object_get(r, "set")),
		    json_is_true(json_object_get(r, "rtl")) ? ", right to left" :
		    "", json_string_value(json_object_get(r, "text")));
	json_decref(r);
	return 0;
}

static int
cmd_reload(const struct client_opts *o, int argc, char **argv)
{
	json_t	*req, *r;
	int	 rc;

	if (wants_help(argc, argv)) {
		printf("usage: outreachctl reload\n\nAsks the daemon to "
		    "reload its configuration and allow-list, as SIGHUP\n"
		    "does; an invalid configuration is reported and the "
		    "running one stays.\n");
		return 0;
	}
	req = json_pack("{s:s}", "cmd", "reload");
	r = ctl_call(o, req, NULL, &rc);
	json_decref(req);
	if (r == NULL)
		return rc == EX_SOFTWARE ? EX_CONFIG : rc;
	if (o->json) {
		json_dumpf(r, stdout, 0);
		putchar('\n');
	} else
		printf("reloaded\n");
	json_decref(r);
	return 0;
}

static const struct {
	const char	*name;
	int		(*fn)(const struct client_opts *, int, char **);
} verbs[] = {
	{ "publish", cmd_publish },
	{ "keygen", cmd_keygen },
	{ "status", cmd_status },
	{ "event", cmd_event },
	{ "contacts", cmd_contacts },
	{ "deliveries", cmd_deliveries },
	{ "retry", cmd_retry },
	{ "cancel", cmd_cancel },
	{ "pause", cmd_pause },
	{ "resume", cmd_resume },
	{ "preview", cmd_preview },
	{ "backup", cmd_backup },
	{ "reload", cmd_reload },
};

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct client_opts	 o;
	size_t			 i;
	int			 ch, vi, j;

	memset(&o, 0, sizeof(o));
	o.socket = getenv("OUTREACHCTL_SOCKET");
	if (o.socket == NULL)
		o.socket = CTL_DEFAULT_SOCKET;
	/* Global options stop at the verb; --json may also follow it. */
	while ((ch = getopt_long(argc, argv, "+s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o.socket = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 'V':
			printf("outreachctl %s\n", OUTREACH_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	vi = optind;
	for (j = vi + 1; j < argc; j++)
		if (strcmp(argv[j], "--json") == 0) {
			o.json = 1;
			memmove(&argv[j], &argv[j + 1],
			    (size_t)(argc - j) * sizeof(*argv));
			argc--;
			j--;
		}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[vi], verbs[i].name) == 0)
			return verbs[i].fn(&o, argc - vi, argv + vi);
	if (strcmp(argv[vi], "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "outreachctl: unknown verb \"%s\"; see outreachctl "
	    "--help\n", argv[vi]);
	return EX_USAGE;
}
