/* publish.c - outreachctl publish: send one event on a DEALER socket
 * (CURVE unless told otherwise), wait for the daemon's reply, resend the
 * same bytes on timeout a bounded number of times (a retry is answered
 * "duplicate", never delivered twice), and map the outcome to sysexits.
 * A key refused at the handshake is seen on the socket monitor and
 * reported as such instead of timing out. */
#include <errno.h>
#include <getopt.h>
#include <libconfig.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "buf.h"
#include "client.h"
#include "keyfile.h"
#include "topic.h"

struct pub_opts {
	const char	*endpoint;
	const char	*key_file;
	const char	*server_key;
	const char	*topic;
	const char	*file;
	int		 no_curve;
	int		 timeout_ms;
	int		 retries;
	json_t		*fields;	/* event fields given as flags */
	config_t	 cf;		/* client config, keeps strings alive */
	int		 have_cf;
};

static void
publish_usage(FILE *f)
{
	fprintf(f,
	    "usage: outreachctl publish -t TOPIC [options] [FILE | -]\n"
	    "\n"
	    "Publishes one event (JSON from FILE, stdin with -, or built from "
	    "the\nflags below) and waits for the daemon's reply.\n"
	    "\n"
	    "Connection (flag, else environment, else client config):\n"
	    "  -e, --endpoint URL       OUTREACH_ENDPOINT, endpoint\n"
	    "  -k, --key FILE           OUTREACH_KEY, key_file: our key pair "
	    "(keygen)\n"
	    "  -S, --server-key KEY     OUTREACH_SERVER_KEY, server_key: the "
	    "daemon's\n"
	    "                           public key, Z85 or a .pub file\n"
	    "      --no-curve           plain connection (loopback endpoints "
	    "with\n"
	    "                           security \"none\" only)\n"
	    "  -c, --config FILE        client config (default "
	    "$OUTREACHCTL_CONFIG,\n"
	    "                           ~/.config/outreachctl.conf, "
	    "/etc/outreachd/outreachctl.conf)\n"
	    "      --timeout MS         wait per attempt (default 5000)\n"
	    "      --retries N          resends after a timeout (default 3)\n"
	    "\n"
	    "Event fields (override those of FILE):\n"
	    "  --id ID  --type TYPE  --title TEXT  --summary TEXT  --body "
	    "TEXT\n"
	    "  --lang TAG  --priority low|normal|high|critical\n"
	    "  --status actual|exercise|test  --starts-at T  --ends-at T\n"
	    "  --timezone ZONE  --not-before T  --expires-at T\n"
	    "\n"
	    "Exit: 0 accepted or duplicate, 65 rejected, 69 unreachable, 75 "
	    "timed out\nor overloaded, 77 not authorised, 64 usage, 78 "
	    "configuration.\n");
}

/* The client config: endpoint, key_file, server_key, timeout_ms,
 * retries (libconfig). */
static int
publish_read_config(struct pub_opts *po, const char *path, int required)
{
	const char	*s;
	int		 n;

	if (path == NULL)
		return 0;
	if (access(path, F_OK) == -1 && !required)
		return 0;
	config_init(&po->cf);
	po->have_cf = 1;
	if (config_read_file(&po->cf, path) != CONFIG_TRUE) {
		if (config_error_type(&po->cf) == CONFIG_ERR_FILE_IO)
			fprintf(stderr, "outreachctl: %s: cannot read: %s\n",
			    path, strerror(errno ? errno : ENOENT));
		else
			fprintf(stderr, "outreachctl: %s:%d: %s\n", path,
			    config_error_line(&po->cf),
			    config_error_text(&po->cf));
		return -1;
	}
	if (po->endpoint == NULL &&
	    config_lookup_string(&po->cf, "endpoint", &s) == CONFIG_TRUE)
		po->endpoint = s;
	if (po->key_file == NULL &&
	    config_lookup_string(&po->cf, "key_file", &s) == CONFIG_TRUE)
		po->key_file = s;
	if (po->server_key == NULL &&
	    config_lookup_string(&po->cf, "server_key", &s) == CONFIG_TRUE)
		po->server_key = s;
	if (po->timeout_ms < 0 &&
	    config_lookup_int(&po->cf, "timeout_ms", &n) == CONFIG_TRUE)
		po->timeout_ms = n < 10 ? 10 : n;
	if (po->retries < 0 &&
	    config_lookup_int(&po->cf, "retries", &n) == CONFIG_TRUE)
		po->retries = n < 0 ? 0 : n;
	return 0;
}

static char *
read_all(FILE *f, size_t max, size_t *len)
{
	struct buf	b;
	char		chunk[8192];
	size_t		n;

	buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, n) == -1) {
			buf_free(&b);
			return NULL;
		}
	*len = b.len;
	return buf_release(&b);
}

/* A server key given inline (40 characters of Z85) or as a .pub file. */
static int
resolve_server_key(const char *arg, char *out)
{
	char	err[1024];

	if (keyfile_z85_valid(arg)) {
		memcpy(out, arg, 41);
		return 0;
	}
	if (keyfile_read(arg, out, NULL, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "outreachctl: server key: not a Z85 key and %s\n",
	    err);
	return -1;
}

static char *
random_id(void)
{
	unsigned char	r[8];
	struct buf	b;
	size_t		i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return NULL;
	buf_init(&b, 128);
	buf_printf(&b, "ctl-%lld-", (long long)time(NULL));
	for (i = 0; i < sizeof(r); i++)
		buf_printf(&b, "%02x", r[i]);
	return buf_release(&b);
}

static int
monitor_event(void *mon, uint16_t *ev, uint32_t *value)
{
	zmq_msg_t	m;
	uint8_t		d[6];
	int		ok = 0;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, mon, ZMQ_DONTWAIT) == -1) {
		zmq_msg_close(&m);
		return 0;
	}
	if (zmq_msg_size(&m) == 6) {
		memcpy(d, zmq_msg_data(&m), 6);
		memcpy(ev, d, 2);
		memcpy(value, d + 2, 4);
		ok = 1;
	}
	while (zmq_msg_more(&m)) {
		zmq_msg_close(&m);
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, mon, 0) == -1)
			break;
	}
	zmq_msg_close(&m);
	return ok;
}

static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
print_outcome(const struct client_opts *o, json_t *reply)
{
	const char	*status, *code, *field, *msg, *id;
	json_t		*e;

	status = json_string_value(json_object_get(reply, "status"));
	id = json_string_value(json_object_get(reply, "id"));
	if (o->json) {
		json_dumpf(reply, stdout, 0);
		putchar('\n');
	}
	if (status == NULL) {
		fprintf(stderr, "outreachctl: publish: reply without status\n");
		return EX_PROTOCOL;
	}
	if (strcmp(status, "accepted") == 0 || strcmp(status, "duplicate") ==
	    0) {
		if (!o->json)
			printf("%s: event %s, %lld recipients\n", status,
			    id ? id : "?", (long long)json_integer_value(
			    json_object_get(reply, "recipients")));
		return 0;
	}
	e = json_object_get(reply, "error");
	code = json_string_value(json_object_get(e, "code"));
	field = json_string_value(json_object_get(e, "field"));
	msg = json_string_value(json_object_get(e, "message"));
	if (!o->json)
		fprintf(stderr, "rejected: event %s: %s%s%s: %s\n",
		    id ? id : "?", code ? code : "?", field ? " at " : "",
		    field ? field : "", msg ? msg : "");
	if (code == NULL)
		return EX_DATAERR;
	if (strcmp(code, "unauthorized") == 0 ||
	    strcmp(code, "forbidden_topic") == 0 ||
	    strcmp(code, "forbidden_priority") == 0)
		return EX_NOPERM;
	if (strcmp(code, "overloaded") == 0 || strcmp(code, "quota") == 0)
		return EX_TEMPFAIL;
	return EX_DATAERR;
}

/* Send topic+event and wait; resend on timeout.  Returns the exit code. */
static int
publish_send(const struct client_opts *o, struct pub_opts *po,
    const char *event, size_t len, const char *want_id)
{
	void		*ctx, *s = NULL, *mon = NULL;
	char		 pub[41], sec[41], skey[41], err[1024], monep[64];
	zmq_pollitem_t	 items[2];
	zmq_msg_t	 m;
	json_t		*reply;
	int		 rc = EX_SOFTWARE, attempt, linger = 0, connected = 0;
	int		 handshaken = 0, n, overloaded_tries = 0;
	int64_t		 deadline;
	uint16_t	 ev;
	uint32_t	 value;
	const char	*id;

	ctx = zmq_ctx_new();
	if ((s = zmq_socket(ctx, ZMQ_DEALER)) == NULL)
		goto zfail;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	if (!po->no_curve) {
		if (po->key_file == NULL || po->server_key == NULL) {
			fprintf(stderr, "outreachctl: publish: CURVE needs our "
			    "key (--key) and the daemon's public key "
			    "(--server-key); --no-curve for a loopback "
			    "endpoint without security\n");
			rc = EX_CONFIG;
			goto out;
		}
		if (keyfile_read(po->key_file, pub, sec, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "outreachctl: %s\n", err);
			rc = EX_CONFIG;
			goto out;
		}
		if (resolve_server_key(po->server_key, skey) == -1) {
			rc = EX_CONFIG;
			goto out;
		}
		if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, skey, 41) == -1 ||
		    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 41) == -1 ||
		    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 41) == -1)
			goto zfail;
		explicit_bzero(sec, sizeof(sec));
	}
	snprintf(monep, sizeof(monep), "inproc://outreachctl-mon-%d",
	    (int)getpid());
	if (zmq_socket_monitor(s, monep, ZMQ_EVENT_CONNECTED |
	    ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
	    ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
	    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == -1 ||
	    (mon = zmq_socket(ctx, ZMQ_PAIR)) == NULL ||
	    zmq_setsockopt(mon, ZMQ_LINGER, &linger, sizeof(linger)) == -1 ||
	    zmq_connect(mon, monep) == -1)
		goto zfail;
	if (zmq_connect(s, po->endpoint) == -1) {
		fprintf(stderr, "outreachctl: publish: endpoint %s: %s\n",
		    po->endpoint, zmq_strerror(zmq_errno()));
		rc = EX_USAGE;
		goto out;
	}

	for (attempt = 0; attempt <= po->retries; attempt++) {
		if (attempt > 0 && !o->json)
			fprintf(stderr, "outreachctl: no reply after %d ms, "
			    "resending (attempt %d of %d)\n", po->timeout_ms,
			    attempt + 1, po->retries + 1);
		if (zmq_send(s, po->topic, strlen(po->topic), ZMQ_SNDMORE) ==
		    -1 || zmq_send(s, event, len, 0) == -1)
			goto zfail;
		deadline = now_ms() + po->timeout_ms;
		for (;;) {
			int64_t	left = deadline - now_ms();

			if (left <= 0)
				break;
			items[0].socket = s;
			items[0].events = ZMQ_POLLIN;
			items[1].socket = mon;
			items[1].events = ZMQ_POLLIN;
			if (zmq_poll(items, 2, (long)left) == -1) {
				if (zmq_errno() == EINTR)
					continue;
				goto zfail;
			}
			while (items[1].revents &&
			    monitor_event(mon, &ev, &value)) {
				if (ev == ZMQ_EVENT_CONNECTED)
					connected = 1;
				else if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
					handshaken = 1;
				else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
					fprintf(stderr, "outreachctl: publish: "
					    "the daemon refused our key at the "
					    "handshake (status %u): is its "
					    "public key in the allow-list?\n",
					    (unsigned)value);
					rc = EX_NOPERM;
					goto out;
				} else {
					fprintf(stderr, "outreachctl: publish: "
					    "CURVE handshake with %s failed "
					    "(%s): wrong server key, not a "
					    "CURVE endpoint, or the daemon "
					    "cannot authenticate anyone\n",
					    po->endpoint, value > 0 &&
					    ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
					    ? strerror((int)value) :
					    "protocol error");
					rc = EX_PROTOCOL;
					goto out;
				}
			}
			if (!items[0].revents)
				continue;
			zmq_msg_init(&m);
			if ((n = zmq_msg_recv(&m, s, 0)) == -1) {
				zmq_msg_close(&m);
				goto zfail;
			}
			reply = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m),
			    0, NULL);
			zmq_msg_close(&m);
			if (reply == NULL)
				continue;
			/* Replies to earlier attempts carry the same id and
			 * the same outcome: any one of them will do. */
			id = json_string_value(json_object_get(reply, "id"));
			if (want_id != NULL && id != NULL &&
			    strcmp(id, want_id) != 0) {
				json_decref(reply);
				continue;
			}
			if (json_is_string(json_object_get(reply, "status")) &&
			    strcmp(json_string_value(json_object_get(reply,
			    "status")), "rejected") == 0 &&
			    strcmp(json_string_value(json_object_get(
			    json_object_get(reply, "error"), "code")) ?
			    json_string_value(json_object_get(json_object_get(
			    reply, "error"), "code")) : "", "overloaded") == 0 &&
			    overloaded_tries < po->retries) {
				/* Nothing was stored: wait and resend. */
				overloaded_tries++;
				json_decref(reply);
				usleep(200000u * (unsigned)overloaded_tries);
				attempt--;
				break;
			}
			rc = print_outcome(o, reply);
			json_decref(reply);
			goto out;
		}
	}
	if (!connected) {
		fprintf(stderr, "outreachctl: publish: cannot reach %s (no "
		    "connection within %d ms)\n", po->endpoint,
		    po->timeout_ms * (po->retries + 1));
		rc = EX_UNAVAILABLE;
	} else {
		fprintf(stderr, "outreachctl: publish: no reply from %s after "
		    "%d attempts%s\n", po->endpoint, po->retries + 1,
		    handshaken || po->no_curve ? "" : " (handshake never "
		    "completed)");
		rc = EX_TEMPFAIL;
	}
	goto out;
zfail:
	fprintf(stderr, "outreachctl: publish: %s\n",
	    zmq_strerror(zmq_errno()));
	rc = EX_SOFTWARE;
out:
	explicit_bzero(sec, sizeof(sec));
	if (mon != NULL)
		zmq_close(mon);
	if (s != NULL) {
		zmq_socket_monitor(s, NULL, 0);
		zmq_close(s);
	}
	zmq_ctx_term(ctx);
	return rc;
}

int
cmd_publish(const struct client_opts *o, int argc, char **argv)
{
	enum {
		OPT_ID = 256, OPT_TYPE, OPT_TITLE, OPT_SUMMARY, OPT_BODY,
		OPT_LANG, OPT_PRIORITY, OPT_STATUS, OPT_STARTS, OPT_ENDS,
		OPT_TZ, OPT_NOTBEFORE, OPT_EXPIRES, OPT_TIMEOUT, OPT_RETRIES,
		OPT_NOCURVE,
	};
	static const struct option longopts[] = {
		{ "topic", required_argument, NULL, 't' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "key", required_argument, NULL, 'k' },
		{ "server-key", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'c' },
		{ "no-curve", no_argument, NULL, OPT_NOCURVE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "retries", required_argument, NULL, OPT_RETRIES },
		{ "id", required_argument, NULL, OPT_ID },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "title", required_argument, NULL, OPT_TITLE },
		{ "summary", required_argument, NULL, OPT_SUMMARY },
		{ "body", required_argument, NULL, OPT_BODY },
		{ "lang", required_argument, NULL, OPT_LANG },
		{ "priority", required_argument, NULL, OPT_PRIORITY },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "starts-at", required_argument, NULL, OPT_STARTS },
		{ "ends-at", required_argument, NULL, OPT_ENDS },
		{ "timezone", required_argument, NULL, OPT_TZ },
		{ "not-before", required_argument, NULL, OPT_NOTBEFORE },
		{ "expires-at", required_argument, NULL, OPT_EXPIRES },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const fieldnames[] = {
		[OPT_ID - OPT_ID] = "id", [OPT_TYPE - OPT_ID] = "type",
		[OPT_TITLE - OPT_ID] = "title",
		[OPT_SUMMARY - OPT_ID] = "summary",
		[OPT_BODY - OPT_ID] = "body", [OPT_LANG - OPT_ID] = "lang",
		[OPT_PRIORITY - OPT_ID] = "priority",
		[OPT_STATUS - OPT_ID] = "status",
		[OPT_STARTS - OPT_ID] = "starts_at",
		[OPT_ENDS - OPT_ID] = "ends_at",
		[OPT_TZ - OPT_ID] = "timezone",
		[OPT_NOTBEFORE - OPT_ID] = "not_before",
		[OPT_EXPIRES - OPT_ID] = "expires_at",
	};
	struct pub_opts	 po;
	struct buf	 home;
	const char	*cfgpath = NULL, *env, *want_id;
	char		*text = NULL, *gen = NULL, *p;
	json_t		*doc = NULL, *idv;
	json_error_t	 je;
	size_t		 len = 0;
	FILE		*f;
	int		 ch, rc = EX_USAGE;
	long		 v;

	memset(&po, 0, sizeof(po));
	po.timeout_ms = -1;
	po.retries = -1;
	po.fields = json_object();
	buf_init(&home, 4096);
	optind = 0;	/* 0: glibc starts afresh (permuting again) */
	while ((ch = getopt_long(argc, argv, "t:e:k:S:c:h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 't':
			po.topic = optarg;
			break;
		case 'e':
			po.endpoint = optarg;
			break;
		case 'k':
			po.key_file = optarg;
			break;
		case 'S':
			po.server_key = optarg;
			break;
		case 'c':
			cfgpath = optarg;
			break;
		case OPT_NOCURVE:
			po.no_curve = 1;
			break;
		case OPT_TIMEOUT:
		case OPT_RETRIES:
			v = strtol(optarg, &p, 10);
			if (*p != '\0' || v < 0 || v > 3600000 ||
			    (ch == OPT_TIMEOUT && v < 10)) {
				fprintf(stderr, "outreachctl: publish: --%s: "
				    "not a number in range\n", ch ==
				    OPT_TIMEOUT ? "timeout" : "retries");
				goto out;
			}
			if (ch == OPT_TIMEOUT)
				po.timeout_ms = (int)v;
			else
				po.retries = (int)v;
			break;
		case 'h':
			publish_usage(stdout);
			rc = 0;
			goto out;
		case '?':
			publish_usage(stderr);
			goto out;
		default:
			json_object_set_new(po.fields, fieldnames[ch - OPT_ID],
			    json_string(optarg));
		}
	}
	if (argc - optind > 1) {
		publish_usage(stderr);
		goto out;
	}
	if (argc - optind == 1)
		po.file = argv[optind];
	if (po.topic == NULL) {
		fprintf(stderr, "outreachctl: publish: -t TOPIC is required\n");
		goto out;
	}
	if (!topic_valid(po.topic, strlen(po.topic)))
		fprintf(stderr, "outreachctl: publish: warning: \"%s\" is not "
		    "KIND.CC.POST.CATEGORY; the daemon will refuse it\n",
		    po.topic);

	/* Flags, then environment, then the client config. */
	if (po.endpoint == NULL)
		po.endpoint = getenv("OUTREACH_ENDPOINT");
	if (po.key_file == NULL)
		po.key_file = getenv("OUTREACH_KEY");
	if (po.server_key == NULL)
		po.server_key = getenv("OUTREACH_SERVER_KEY");
	if (cfgpath == NULL)
		cfgpath = getenv("OUTREACHCTL_CONFIG");
	if (cfgpath != NULL) {
		if (publish_read_config(&po, cfgpath, 1) == -1) {
			rc = EX_CONFIG;
			goto out;
		}
	} else {
		if ((env = getenv("HOME")) != NULL)
			buf_printf(&home, "%s/.config/outreachctl.conf", env);
		if (publish_read_config(&po, home.data, 0) == -1 ||
		    (!po.have_cf && publish_read_config(&po,
		    "/etc/outreachd/outreachctl.conf", 0) == -1)) {
			rc = EX_CONFIG;
			goto out;
		}
	}
	if (po.endpoint == NULL) {
		fprintf(stderr, "outreachctl: publish: no endpoint (--endpoint, "
		    "OUTREACH_ENDPOINT or the client config)\n");
		goto out;
	}
	if (po.timeout_ms < 0)
		po.timeout_ms = 5000;
	if (po.retries < 0)
		po.retries = 3;

	if (po.file != NULL) {
		if (strcmp(po.file, "-") == 0)
			text = read_all(stdin, 16u << 20, &len);
		else if ((f = fopen(po.file, "r")) != NULL) {
			text = read_all(f, 16u << 20, &len);
			fclose(f);
		} else {
			fprintf(stderr, "outreachctl: publish: %s: %s\n",
			    po.file, strerror(errno));
			rc = EX_NOINPUT;
			goto out;
		}
		if (text == NULL) {
			fprintf(stderr, "outreachctl: publish: %s: cannot "
			    "read (larger than 16 MiB?)\n", po.file);
			rc = EX_NOINPUT;
			goto out;
		}
	}
	if (text != NULL && json_object_size(po.fields) == 0) {
		/* Send the file's bytes as they are: the daemon judges them,
		 * and a retry resends exactly the same document. */
		doc = json_loadb(text, len, 0, &je);
	} else {
		if (text != NULL) {
			if ((doc = json_loadb(text, len, 0, &je)) == NULL ||
			    !json_is_object(doc)) {
				fprintf(stderr, "outreachctl: publish: %s: not "
				    "a JSON object%s%s\n", po.file,
				    doc ? "" : ": ", doc ? "" : je.text);
				rc = EX_DATAERR;
				goto out;
			}
		} else
			doc = json_object();
		json_object_update(doc, po.fields);
		if (json_object_get(doc, "v") == NULL)
			json_object_set_new(doc, "v", json_integer(1));
		if (json_object_get(doc, "id") == NULL) {
			if ((gen = random_id()) == NULL)
				goto out;
			json_object_set_new(doc, "id", json_string(gen));
		}
		free(text);
		if ((text = json_dumps(doc, JSON_COMPACT)) == NULL)
			goto out;
		len = strlen(text);
	}
	idv = doc ? json_object_get(doc, "id") : NULL;
	want_id = json_is_string(idv) ? json_string_value(idv) : NULL;
	rc = publish_send(o, &po, text, len, want_id);
out:
	json_decref(doc);
	json_decref(po.fields);
	if (po.have_cf)
		config_destroy(&po.cf);
	buf_free(&home);
	free(text);
	free(gen);
	return rc;
}
