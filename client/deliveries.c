/* deliveries.c - outreachctl's delivery verbs: deliveries (list), retry,
 * cancel, pause, resume.  Each is one control-socket request; the daemon
 * does the work.  Contacts appear by id only, as everywhere. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "client.h"

static int
dl_usage(const char *u)
{
	fprintf(stderr, "usage: outreachctl %s\n", u);
	return EX_USAGE;
}

static int
dl_parse_limit(const char *s, long *out)
{
	char	*end;
	long	 v;

	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 1 || v > 1000)
		return -1;
	*out = v;
	return 0;
}

int
cmd_deliveries(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "event", required_argument, NULL, 'e' },
		{ "post", required_argument, NULL, 'p' },
		{ "limit", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char u[] = "deliveries [--state STATE] [--event ID "
	    "[--post POST]] [--limit N]";
	const char	*state = NULL, *event = NULL, *post = NULL;
	json_t		*req, *r, *rows, *d, *err;
	long		 limit = 100;
	size_t		 i;
	int		 ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "s:e:p:n:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 's':
			state = optarg;
			break;
		case 'e':
			event = optarg;
			break;
		case 'p':
			post = optarg;
			break;
		case 'n':
			if (dl_parse_limit(optarg, &limit) == -1) {
				fprintf(stderr, "outreachctl: --limit: "
				    "\"%s\" is not a number in 1..1000\n",
				    optarg);
				return EX_USAGE;
			}
			break;
		case 'h':
			printf("usage: outreachctl %s\n\nLists deliveries, "
			    "most recently changed first: the event, the\n"
			    "contact (by id), channel, state, attempts and the "
			    "last error (redacted:\nno addresses).  STATE is "
			    "pending, sending, sent, deferred, failed,\n"
			    "expired, cancelled or skipped.\n", u);
			return 0;
		default:
			return EX_USAGE;
		}
	}
	if (optind != argc || (post != NULL && event == NULL))
		return dl_usage(u);
	req = json_pack("{s:s, s:s*, s:s*, s:s*, s:i}", "cmd", "deliveries",
	    "state", state, "event", event, "post", post, "limit",
	    (int)limit);
	r = ctl_call(o, req, NULL, &rc);
	json_decref(req);
	if (r == NULL)
		return rc == EX_SOFTWARE ? EX_DATAERR : rc;
	rows = json_object_get(r, "deliveries");
	if (o->json) {
		json_dumpf(rows, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(r);
		return 0;
	}
	if (json_array_size(rows) == 0)
		printf("no deliveries\n");
	else
		printf("%-20s %-20s %-7s %-9s %3s  %-20s %s\n", "EVENT",
		    "CONTACT", "CHANNEL", "STATE", "TRY", "UPDATED", "ERROR");
	json_array_foreach(rows, i, d) {
		err = json_object_get(d, "last_error");
		printf("%-20s %-20s %-7s %-9s %3lld  %-20s %s\n",
		    json_string_value(json_object_get(d, "event")),
		    json_string_value(json_object_get(d, "contact")),
		    json_string_value(json_object_get(d, "channel")),
		    json_string_value(json_object_get(d, "state")),
		    (long long)json_integer_value(json_object_get(d,
		    "attempts")),
		    json_string_value(json_object_get(d, "updated_at")),
		    err ? json_string_value(err) : "");
	}
	json_decref(r);
	return 0;
}

int
cmd_retry(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "post", required_argument, NULL, 'p' },
		{ "contact", required_argument, NULL, 'c' },
		{ "channel", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char u[] = "retry [--post POST] [--contact ID "
	    "[--channel smtp|webhook]] EVENT";
	const char	*post = NULL, *contact = NULL, *channel = NULL;
	json_t		*req, *r;
	int		 ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "p:c:C:h", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'p':
			post = optarg;
			break;
		case 'c':
			contact = optarg;
			break;
		case 'C':
			channel = optarg;
			break;
		case 'h':
			printf("usage: outreachctl %s\n\nSends again: without "
			    "--contact, every failed delivery of the event;\n"
			    "with it, that contact's delivery (failed, "
			    "deferred or expired), on\nboth channels unless "
			    "--channel names one.  Contacts no longer active "
			    "are\nskipped when their turn comes.\n", u);
			return 0;
		default:
			return EX_USAGE;
		}
	}
	if (argc - optind != 1 || (channel != NULL && contact == NULL))
		return dl_usage(u);
	req = json_pack("{s:s, s:s, s:s*, s:s*, s:s*}", "cmd", "retry",
	    "event", argv[optind], "post", post, "contact", contact,
	    "channel", channel);
	r = ctl_call(o, req, NULL, &rc);
	json_decref(req);
	if (r == NULL)
		return rc == EX_SOFTWARE ? EX_DATAERR : rc;
	if (o->json) {
		json_dumpf(r, stdout, 0);
		putchar('\n');
	} else
		printf("%lld deliveries queued again\n", (long long)
		    json_integer_value(json_object_get(r, "requeued")));
	json_decref(r);
	return 0;
}

int
cmd_cancel(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "post", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char u[] = "cancel [--post POST] EVENT";
	const char	*post = NULL;
	json_t		*req, *r;
	int		 ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "p:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			post = optarg;
			break;
		case 'h':
			printf("usage: outreachctl %s\n\nCancels an event's "
			    "deliveries not yet sent (pending and deferred)\n"
			    "and stops its fan-out; those already handed to a "
			    "relay or host finish.\n", u);
			return 0;
		default:
			return EX_USAGE;
		}
	}
	if (argc - optind != 1)
		return dl_usage(u);
	req = json_pack("{s:s, s:s, s:s*}", "cmd", "cancel", "event",
	    argv[optind], "post", post);
	r = ctl_call(o, req, NULL, &rc);
	json_decref(req);
	if (r == NULL)
		return rc == EX_SOFTWARE ? EX_DATAERR : rc;
	if (o->json) {
		json_dumpf(r, stdout, 0);
		putchar('\n');
	} else
		printf("%lld deliveries cancelled\n", (long long)
		    json_integer_value(json_object_get(r, "cancelled")));
	json_decref(r);
	return 0;
}

static int
pause_resume(const struct client_opts *o, int argc, char **argv,
    const char *verb)
{
	json_t	*req, *r;
	int	 rc;

	if (argc == 2 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		printf("usage: outreachctl %s\n\n%s\n", verb,
		    strcmp(verb, "pause") == 0 ?
		    "Stops all sending; intake and fan-out continue.  "
		    "Deliveries not yet handed\nto a relay or host stay "
		    "pending; the pause survives a restart." :
		    "Starts sending again after outreachctl pause.");
		return 0;
	}
	if (argc != 1)
		return dl_usage(verb);
	req = json_pack("{s:s}", "cmd", verb);
	r = ctl_call(o, req, NULL, &rc);
	json_decref(req);
	if (r == NULL)
		return rc;
	if (o->json) {
		json_dumpf(r, stdout, 0);
		putchar('\n');
	} else if (json_is_true(json_object_get(r, "paused")))
		printf("sending paused (%lld in flight finish)\n", (long long)
		    json_integer_value(json_object_get(r, "in_flight")));
	else
		printf("sending resumed\n");
	json_decref(r);
	return 0;
}

int
cmd_pause(const struct client_opts *o, int argc, char **argv)
{
	return pause_resume(o, argc, argv, "pause");
}

int
cmd_resume(const struct client_opts *o, int argc, char **argv)
{
	return pause_resume(o, argc, argv, "resume");
}
