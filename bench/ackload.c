/* ackload.c - load generator for outreachd's acknowledged ingest (make
 * bench).  PUBLISHERS threads, each with its own CURVE DEALER, keep WINDOW
 * events in flight and time every event from its send to its reply.  Each
 * thread owns its sample array; main reads them only after the join and
 * prints one line of key=value results (exit 1 when any reply was not
 * "accepted", 2 on a usage or setup error). */
#include <sys/resource.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "keyfile.h"

#define ACK_EVENT_MAX	2048
#define ACK_REPLY_MAX	4096
#define ACK_ERR_MAX	512
#define ACK_WARM_NS	500000000LL	/* -d: first 0.5 s not measured */
#define ACK_WARM_PCT	5		/* -n: first 5% of acks not measured */

struct ack_sample {
	int64_t	sent_ns;
	int64_t	recv_ns;	/* 0 until the reply came */
};

struct ack_opts {
	const char	*endpoint;
	const char	*topic;
	const char	*run_id;
	char		 server_pub[KEY_Z85_LEN + 1];
	char		 client_pub[KEY_Z85_LEN + 1];
	char		 client_sec[KEY_Z85_LEN + 1];
	int		 publishers;
	int		 window;
	long		 events;	/* per publisher; 0 with -d */
	double		 seconds;	/* -d; 0 with -n */
	int		 timeout_ms;	/* longest wait for any reply */
	int		 curve;		/* 0 with -S none: plain endpoint */
};

struct ack_pub {
	int			 idx;
	pthread_t		 th;
	const struct ack_opts	*o;
	void			*zctx;
	pthread_barrier_t	*ready;
	int64_t			*t0;	/* written by main before the barrier */
	struct ack_sample	*s;	/* indexed by sequence number */
	size_t			 ns, cap;
	uint64_t		 acked, errors;
	char			 first_err[ACK_ERR_MAX];
	int			 setup_failed;
};

static int64_t
ack_now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Count an error; the first one is kept with the reply that caused it. */
static void
ack_error(struct ack_pub *p, const char *what, const char *reply,
    size_t len)
{
	p->errors++;
	if (p->first_err[0] == '\0')
		snprintf(p->first_err, sizeof(p->first_err), "publisher %d: "
		    "%s: %.*s", p->idx, what, (int)len, reply);
}

/* Build event seq of this publisher into buf; returns its length or -1. */
static int
ack_event(const struct ack_pub *p, const char *seq, char *buf, size_t len)
{
	int	n;

	n = snprintf(buf, len, "{\"v\":1,\"id\":\"%s-%d-%s\","
	    "\"type\":\"town-hall\",\"title\":{\"en\":\"Town hall meeting\","
	    "\"tl\":\"Pulong-bayan\"},\"summary\":\"Consular services, then "
	    "questions and answers with the ambassador\","
	    "\"starts_at\":\"2030-05-01T18:00:00+02:00\","
	    "\"timezone\":\"Europe/Berlin\",\"location\":{\"name\":"
	    "\"Embassy hall\",\"city\":\"Berlin\",\"country\":\"DE\"},"
	    "\"priority\":\"normal\"}", p->o->run_id, p->idx, seq);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return n;
}

static int
ack_send(void *sock, const struct ack_pub *p, const char *seq)
{
	char	ev[ACK_EVENT_MAX];
	int	n;

	if ((n = ack_event(p, seq, ev, sizeof(ev))) == -1)
		return -1;
	if (zmq_send(sock, p->o->topic, strlen(p->o->topic), ZMQ_SNDMORE) ==
	    -1 || zmq_send(sock, ev, (size_t)n, 0) == -1)
		return -1;
	return 0;
}

/* Find "key":"value" in a flat JSON reply; value and its length out.
 * Returns 0, or -1 when the key is absent.  The replies are jansson's
 * compact output, so no escapes appear in ids or statuses we sent. */
static int
ack_field(const char *js, size_t len, const char *key, const char **val,
    size_t *vlen)
{
	char		 pat[32];
	const char	*p, *e, *end = js + len;
	int		 n;

	n = snprintf(pat, sizeof(pat), "\"%s\"", key);
	if (n < 0 || (size_t)n >= sizeof(pat))
		return -1;
	if ((p = memmem(js, len, pat, (size_t)n)) == NULL)
		return -1;
	p += n;
	while (p < end && (*p == ' ' || *p == ':'))
		p++;
	if (p >= end || *p != '"')
		return -1;
	p++;
	if ((e = memchr(p, '"', (size_t)(end - p))) == NULL)
		return -1;
	*val = p;
	*vlen = (size_t)(e - p);
	return 0;
}

/* Check one reply and stamp its event.  Returns the sequence number it
 * answered, -2 for the connection ping, -1 when it matched nothing. */
static long
ack_reply(struct ack_pub *p, const char *js, size_t len, int64_t now)
{
	char		 prefix[160];
	const char	*id, *st, *q;
	size_t		 idlen, stlen, plen;
	char		*endp;
	char		 num[24];
	long		 seq;
	int		 n;

	if (ack_field(js, len, "id", &id, &idlen) == -1) {
		ack_error(p, "reply without an id", js, len);
		return -1;
	}
	n = snprintf(prefix, sizeof(prefix), "%s-%d-", p->o->run_id, p->idx);
	plen = (size_t)n;
	if (idlen <= plen || memcmp(id, prefix, plen) != 0) {
		ack_error(p, "reply for an id we did not send", js, len);
		return -1;
	}
	q = id + plen;
	if (idlen - plen == 4 && memcmp(q, "ping", 4) == 0)
		seq = -2;
	else {
		if (idlen - plen >= sizeof(num)) {
			ack_error(p, "reply id too long", js, len);
			return -1;
		}
		memcpy(num, q, idlen - plen);
		num[idlen - plen] = '\0';
		errno = 0;
		seq = strtol(num, &endp, 10);
		if (errno != 0 || *endp != '\0' || seq < 0 ||
		    (size_t)seq >= p->ns || p->s[seq].recv_ns != 0) {
			ack_error(p, "reply for an unknown or answered id",
			    js, len);
			return -1;
		}
		p->s[seq].recv_ns = now;
		p->acked++;
	}
	if (ack_field(js, len, "status", &st, &stlen) == -1 ||
	    stlen != 8 || memcmp(st, "accepted", 8) != 0)
		ack_error(p, "reply not \"accepted\"", js, len);
	return seq;
}

/* Receive every reply waiting on sock.  Returns how many, -1 on error. */
static int
ack_drain(void *sock, struct ack_pub *p, long *last)
{
	char	buf[ACK_REPLY_MAX];
	int	n, more, got = 0;
	size_t	more_len = sizeof(more);

	for (;;) {
		n = zmq_recv(sock, buf, sizeof(buf), ZMQ_DONTWAIT);
		if (n == -1)
			return errno == EAGAIN ? got : -1;
		if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &more_len) == -1)
			return -1;
		if (more) {
			/* One frame is expected; skip stray ones. */
			ack_error(p, "reply of several frames", buf,
			    (size_t)(n > (int)sizeof(buf) ? (int)sizeof(buf) :
			    n));
			continue;
		}
		if (n > (int)sizeof(buf))
			n = sizeof(buf);
		*last = ack_reply(p, buf, (size_t)n, ack_now_ns());
		got++;
	}
}

static int
ack_grow(struct ack_pub *p)
{
	struct ack_sample	*s;
	size_t			 ncap = p->cap ? p->cap * 2 : 65536;

	if ((s = reallocarray(p->s, ncap, sizeof(*s))) == NULL)
		return -1;
	p->s = s;
	p->cap = ncap;
	return 0;
}

static void *
ack_thread(void *arg)
{
	struct ack_pub		*p = arg;
	const struct ack_opts	*o = p->o;
	void			*sock;
	zmq_pollitem_t		 pi;
	char			 seq[24];
	int64_t			 now, stop_ns = 0, last_reply;
	int			 zero = 0, hwm = 100000, rc, waited;
	long			 last = -1;

	sock = zmq_socket(p->zctx, ZMQ_DEALER);
	if (sock == NULL ||
	    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof(zero)) == -1 ||
	    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof(hwm)) == -1 ||
	    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof(hwm)) == -1 ||
	    (o->curve &&
	    (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, o->server_pub,
	    KEY_Z85_LEN) == -1 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, o->client_pub,
	    KEY_Z85_LEN) == -1 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, o->client_sec,
	    KEY_Z85_LEN) == -1)) ||
	    zmq_connect(sock, o->endpoint) == -1) {
		snprintf(p->first_err, sizeof(p->first_err), "publisher %d: "
		    "socket setup for %s: %s", p->idx, o->endpoint,
		    zmq_strerror(errno));
		p->setup_failed = 1;
		goto ready;
	}
	/* One unmeasured event first: the CURVE handshake and the ZAP check
	 * happen before the clock starts. */
	pi.socket = sock;
	pi.events = ZMQ_POLLIN;
	if (ack_send(sock, p, "ping") == -1) {
		snprintf(p->first_err, sizeof(p->first_err), "publisher %d: "
		    "send: %s", p->idx, zmq_strerror(errno));
		p->setup_failed = 1;
		goto ready;
	}
	rc = zmq_poll(&pi, 1, o->timeout_ms);
	if (rc != 1 || ack_drain(sock, p, &last) < 1 || last != -2 ||
	    p->errors > 0) {
		if (p->first_err[0] == '\0')
			snprintf(p->first_err, sizeof(p->first_err),
			    "publisher %d: no reply to the first event "
			    "within %d ms (daemon down, key refused or "
			    "wrong server key?)", p->idx, o->timeout_ms);
		p->setup_failed = 1;
	}
ready:
	pthread_barrier_wait(p->ready);
	if (p->setup_failed)
		goto out;
	if (o->events > 0) {
		p->cap = (size_t)o->events;
		if ((p->s = calloc(p->cap, sizeof(*p->s))) == NULL) {
			snprintf(p->first_err, sizeof(p->first_err),
			    "out of memory");
			p->setup_failed = 1;
			goto out;
		}
	} else
		stop_ns = *p->t0 + (int64_t)(o->seconds * 1e9);

	last_reply = ack_now_ns();
	for (;;) {
		now = ack_now_ns();
		while (p->ns - p->acked < (size_t)o->window &&
		    (o->events > 0 ? p->ns < (size_t)o->events :
		    now < stop_ns)) {
			if (p->ns == p->cap && ack_grow(p) == -1) {
				snprintf(p->first_err, sizeof(p->first_err),
				    "out of memory");
				p->setup_failed = 1;
				goto out;
			}
			snprintf(seq, sizeof(seq), "%zu", p->ns);
			p->s[p->ns].sent_ns = ack_now_ns();
			p->s[p->ns].recv_ns = 0;
			if (ack_send(sock, p, seq) == -1) {
				snprintf(p->first_err, sizeof(p->first_err),
				    "publisher %d: send: %s", p->idx,
				    zmq_strerror(errno));
				p->setup_failed = 1;
				goto out;
			}
			p->ns++;
		}
		if (p->acked == p->ns)
			break;	/* nothing in flight and nothing to send */
		rc = zmq_poll(&pi, 1, 100);
		if (rc == -1 && errno != EINTR) {
			snprintf(p->first_err, sizeof(p->first_err),
			    "publisher %d: poll: %s", p->idx,
			    zmq_strerror(errno));
			p->setup_failed = 1;
			goto out;
		}
		waited = 0;
		if (rc == 1) {
			if ((rc = ack_drain(sock, p, &last)) == -1) {
				snprintf(p->first_err, sizeof(p->first_err),
				    "publisher %d: recv: %s", p->idx,
				    zmq_strerror(errno));
				p->setup_failed = 1;
				goto out;
			}
			if (rc > 0)
				last_reply = ack_now_ns();
		}
		if (ack_now_ns() - last_reply > (int64_t)o->timeout_ms *
		    1000000)
			waited = 1;
		if (waited) {
			p->errors += p->ns - p->acked;
			if (p->first_err[0] == '\0')
				snprintf(p->first_err, sizeof(p->first_err),
				    "publisher %d: %zu events unanswered "
				    "after %d ms", p->idx,
				    (size_t)(p->ns - p->acked), o->timeout_ms);
			break;
		}
	}
out:
	if (sock != NULL)
		zmq_close(sock);
	return NULL;
}

static int
ack_cmp(const void *a, const void *b)
{
	int64_t	x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static int64_t
ack_pct(const int64_t *v, size_t n, double pct)
{
	size_t	k;

	if (n == 0)
		return 0;
	k = (size_t)(pct / 100.0 * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static void
usage(void)
{
	fprintf(stderr, "usage: ackload -e ENDPOINT -S SERVER_PUBLIC_KEY|none "
	    "[-k CLIENT_KEY_FILE] [-p PUBLISHERS] [-w WINDOW]\n"
	    "               (-n EVENTS | -d SECONDS) [-t TOPIC] [-r RUN_ID] "
	    "[-T TIMEOUT_MS]\n");
	exit(2);
}

static long
ack_num(const char *s, const char *what, long lo, long hi)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "ackload: %s \"%s\": expected %ld..%ld\n",
		    what, s, lo, hi);
		exit(2);
	}
	return v;
}

int
main(int argc, char **argv)
{
	struct ack_opts		 o;
	struct ack_pub		*pubs = NULL;
	pthread_barrier_t	 ready;
	struct rusage		 ru;
	const char		*keypath = NULL, *spub = NULL, *first = NULL;
	char			 err[512], *end;
	int64_t			 t0 = 0, ws, we, *recv = NULL, *lat = NULL;
	size_t			 nrecv = 0, nlat = 0, total = 0, i, j, k, cnt;
	uint64_t		 errors = 0;
	int			 ch, setup_failed = 0, rc = 2;
	void			*zctx = NULL;

	memset(&o, 0, sizeof(o));
	o.topic = "embassy.ph.berlin.general";
	o.run_id = "ackload";
	o.publishers = 1;
	o.window = 1;
	o.timeout_ms = 10000;
	while ((ch = getopt(argc, argv, "e:S:k:p:w:n:d:t:r:T:")) != -1) {
		switch (ch) {
		case 'e':
			o.endpoint = optarg;
			break;
		case 'S':
			spub = optarg;
			break;
		case 'k':
			keypath = optarg;
			break;
		case 'p':
			o.publishers = (int)ack_num(optarg, "-p", 1, 1024);
			break;
		case 'w':
			o.window = (int)ack_num(optarg, "-w", 1, 65536);
			break;
		case 'n':
			o.events = ack_num(optarg, "-n", 1, 100000000);
			break;
		case 'd':
			errno = 0;
			o.seconds = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(o.seconds >= 0.6) ||
			    o.seconds > 3600) {
				fprintf(stderr, "ackload: -d \"%s\": expected "
				    "0.6..3600 seconds\n", optarg);
				exit(2);
			}
			break;
		case 't':
			o.topic = optarg;
			break;
		case 'r':
			o.run_id = optarg;
			break;
		case 'T':
			o.timeout_ms = (int)ack_num(optarg, "-T", 100,
			    3600000);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || o.endpoint == NULL || spub == NULL ||
	    (o.events > 0) == (o.seconds > 0))
		usage();
	/* -S none: a security = "none" endpoint, for comparison only. */
	o.curve = strcmp(spub, "none") != 0;
	if (o.curve && (keypath == NULL || !keyfile_z85_valid(spub))) {
		fprintf(stderr, "ackload: -S: not a 40-character Z85 key "
		    "(or \"none\"), or -k missing\n");
		exit(2);
	}
	if (o.curve)
		memcpy(o.server_pub, spub, KEY_Z85_LEN + 1);
	if (strlen(o.run_id) == 0 || strlen(o.run_id) > 64 ||
	    strspn(o.run_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
	    "vwxyz0123456789._:-") != strlen(o.run_id)) {
		fprintf(stderr, "ackload: -r \"%s\": 1..64 characters of "
		    "[A-Za-z0-9._:-]\n", o.run_id);
		exit(2);
	}
	if (o.curve && keyfile_read(keypath, o.client_pub, o.client_sec, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "ackload: %s\n", err);
		exit(2);
	}

	if ((zctx = zmq_ctx_new()) == NULL ||
	    (pubs = calloc((size_t)o.publishers, sizeof(*pubs))) == NULL) {
		fprintf(stderr, "ackload: setup: %s\n", strerror(errno));
		goto out;
	}
	pthread_barrier_init(&ready, NULL, (unsigned)o.publishers + 1);
	for (i = 0; i < (size_t)o.publishers; i++) {
		pubs[i].idx = (int)i;
		pubs[i].o = &o;
		pubs[i].zctx = zctx;
		pubs[i].ready = &ready;
		pubs[i].t0 = &t0;
		if (pthread_create(&pubs[i].th, NULL, ack_thread, &pubs[i]) !=
		    0) {
			fprintf(stderr, "ackload: thread: %s\n",
			    strerror(errno));
			exit(2);
		}
	}
	/* Every publisher is connected and answered once; the clock starts.
	 * The barrier orders t0's write before the threads read it. */
	t0 = ack_now_ns();
	pthread_barrier_wait(&ready);
	for (i = 0; i < (size_t)o.publishers; i++)
		pthread_join(pubs[i].th, NULL);
	pthread_barrier_destroy(&ready);

	for (i = 0; i < (size_t)o.publishers; i++) {
		errors += pubs[i].errors;
		setup_failed |= pubs[i].setup_failed;
		if (first == NULL && pubs[i].first_err[0] != '\0')
			first = pubs[i].first_err;
		total += pubs[i].ns;
	}
	if (first != NULL)
		fprintf(stderr, "ackload: first error: %s\n", first);
	if (setup_failed)
		goto out;

	recv = calloc(total ? total : 1, sizeof(*recv));
	lat = calloc(total ? total : 1, sizeof(*lat));
	if (recv == NULL || lat == NULL) {
		fprintf(stderr, "ackload: out of memory\n");
		goto out;
	}
	for (i = 0; i < (size_t)o.publishers; i++)
		for (j = 0; j < pubs[i].ns; j++)
			if (pubs[i].s[j].recv_ns != 0)
				recv[nrecv++] = pubs[i].s[j].recv_ns;
	qsort(recv, nrecv, sizeof(*recv), ack_cmp);
	if (o.seconds > 0) {
		/* Acks within [t0 + 0.5 s, t0 + seconds]. */
		ws = t0 + ACK_WARM_NS;
		we = t0 + (int64_t)(o.seconds * 1e9);
		for (k = 0, cnt = 0; k < nrecv; k++)
			if (recv[k] >= ws && recv[k] <= we)
				cnt++;
	} else {
		/* From the ack that ends the first 5% to the last one. */
		k = nrecv * ACK_WARM_PCT / 100;
		if (nrecv < 2 || k >= nrecv - 1) {
			fprintf(stderr, "ackload: too few events to measure\n");
			goto out;
		}
		ws = recv[k];
		we = recv[nrecv - 1];
		cnt = nrecv - 1 - k;
	}
	/* Latency of every answered event sent after the warm-up. */
	for (i = 0; i < (size_t)o.publishers; i++)
		for (j = 0; j < pubs[i].ns; j++)
			if (pubs[i].s[j].recv_ns != 0 &&
			    pubs[i].s[j].sent_ns >= ws)
				lat[nlat++] = pubs[i].s[j].recv_ns -
				    pubs[i].s[j].sent_ns;
	qsort(lat, nlat, sizeof(*lat), ack_cmp);
	/* Our own CPU: on a small machine the generator competes with the
	 * daemon for the cores. */
	getrusage(RUSAGE_SELF, &ru);
	printf("publishers=%d window=%d events=%zu seconds=%.3f "
	    "events_per_s=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	    "errors=%" PRIu64 " client_cpu_s=%.2f acked_total=%zu\n",
	    o.publishers, o.window, cnt,
	    (double)(we - ws) / 1e9,
	    we > ws ? (double)cnt / ((double)(we - ws) / 1e9) : 0.0,
	    (double)ack_pct(lat, nlat, 50) / 1e6,
	    (double)ack_pct(lat, nlat, 99) / 1e6,
	    nlat ? (double)lat[nlat - 1] / 1e6 : 0.0, errors,
	    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6, nrecv);
	fflush(stdout);
	rc = errors > 0 ? 1 : 0;
out:
	if (pubs != NULL)
		for (i = 0; i < (size_t)o.publishers; i++)
			free(pubs[i].s);
	free(pubs);
	free(recv);
	free(lat);
	if (zctx != NULL)
		zmq_ctx_term(zctx);
	return rc;
}
