/* httpsink.c - the project's own HTTPS webhook sink, for integration tests,
 * the demo and the benchmark.  One thread, epoll, non-blocking OpenSSL;
 * HTTP/1.1 with keep-alive and pipelining (replies in order), Content-Length
 * and chunked bodies, 100-continue.  It checks Standard Webhooks signatures,
 * answers by a script of rules and writes one JSON line per request.
 * Each struct conn owns its SSL, its buffers and the request being read;
 * the one struct sink owns everything else.  Options: see usage(). */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "buf.h"
#include "log.h"
#include "utf8.h"

#define SINK_HEAD_MAX		(64 * 1024)		/* else 431 */
#define SINK_BODY_MAX		(10 * 1024 * 1024)	/* else 413 */
#define SINK_MAX_HEADERS	256			/* else 431 */
#define SINK_CHUNK_LINE_MAX	1024
#define SINK_IN_HIGH		(256 * 1024)	/* unparsed input: stop reading */
#define SINK_OUT_HIGH		(1024 * 1024)	/* unsent replies: stop answering */
#define SINK_LINGER_MS		2000
#define SINK_SCRIPT_CHECK_MS	100
#define SINK_TS_TOLERANCE	300		/* seconds, Standard Webhooks */
#define SINK_MAC_LEN		32
#define SINK_ACCEPT_BATCH	256
#define SINK_EVENTS		256

struct sink_rule {
	regex_t	 re;
	long	 times;		/* 0: unlimited */
	long	 used;
	int	 status;
	char	*retry_after;
	char	*location;
	char	*body;
	long	 delay_ms;
	int	 close;
	int	 drop;
};

struct sink_script {
	struct sink_rule	*rules;
	size_t			 nrules;
};

struct sink_header {
	char	*name;		/* lower case, NUL-terminated in req.head */
	char	*value;
};

enum sink_rq {
	RQ_HEAD,
	RQ_BODY,
	RQ_CHUNK_SIZE,
	RQ_CHUNK_DATA,
	RQ_CHUNK_END,
	RQ_TRAILER,
};

struct sink_req {
	enum sink_rq		 state;
	size_t			 scan;	/* head bytes searched for its end */
	struct buf		 head;	/* the header block, cut into strings */
	struct sink_header	 hdr[SINK_MAX_HEADERS];
	int			 nhdr;
	char			*method;
	char			*target;
	int			 minor;	/* HTTP/1.minor */
	int			 keepalive;
	uint64_t		 remain;	/* of the body or of a chunk */
	uint64_t		 body_len;
	size_t			 trailer_len;
	struct buf		 body;
};

enum sink_cs {
	CONN_HANDSHAKE,
	CONN_OPEN,
	CONN_LINGER,	/* reply sent, write side shut: drain until EOF */
};

struct sink_conn {
	struct sink_conn	*prev, *next;	/* every connection */
	struct sink_conn	*tprev, *tnext;	/* those with a deadline */
	int			 in_timers;
	int64_t			 deadline;	/* monotonic ms */
	int			 fd;
	SSL			*ssl;
	uint64_t		 id;
	enum sink_cs		 state;
	uint32_t		 events;	/* registered with epoll */
	uint32_t		 wr_want;	/* what a blocked SSL_write waits for */
	struct buf		 in;
	size_t			 in_off;	/* consumed bytes of in */
	struct buf		 out;
	size_t			 out_off;	/* sent bytes of out */
	struct sink_req		 req;
	int			 held;		/* a delayed reply waits in hold */
	struct buf		 hold;
	int			 hold_close;
	int			 hold_drop;
	int			 close_after;	/* no more requests; close once sent */
	int			 drop;		/* close without close_notify */
};

struct sink {
	int			 ep;
	int			 lfd;
	int			 sfd;
	SSL_CTX			*ctx;
	EVP_MAC			*mac;
	EVP_MAC_CTX		**secrets;
	size_t			 nsecrets;
	unsigned char		*macs;	/* nsecrets * SINK_MAC_LEN */
	int			 reject_bad;
	FILE			*out;
	int			 discard;
	int			 verbose;
	const char		*script_path;
	struct sink_script	 script;
	struct stat		 script_st;
	int64_t			 script_checked;
	struct sink_conn	*conns;
	struct sink_conn	*timers;
	int			 accept_paused;
	int64_t			 accept_resume;
	int			 quit;
	int64_t			 now;
	uint64_t		 nconn, nopen, nreq, nbad, nhsfail;
	uint64_t		 nsig_ok, nsig_bad, nclass[6];
};

static struct sink	 sink;
static int		 tag_listen, tag_signal;
static char		 readbuf[16384];

static void	conn_run(struct sink_conn *);

static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- base64 ---- */

static int
b64_value(int ch)
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

/* Decode standard base64 (padding optional) into out.  Returns the length,
 * or -1 when s is not base64 or does not fit in max bytes. */
static long
b64_decode(const char *s, size_t n, unsigned char *out, size_t max)
{
	uint32_t	 acc = 0;
	size_t		 i, len = 0;
	int		 bits = 0, v;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = b64_value((unsigned char)s[i])) == -1)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (len == max)
				return -1;
			out[len++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)len;
}

/* ---- Standard Webhooks signatures ---- */

static int
secret_add(const char *arg)
{
	unsigned char	 key[512];
	OSSL_PARAM	 params[2];
	EVP_MAC_CTX	*mc, **v;
	long		 klen;

	if (strncmp(arg, "whsec_", 6) != 0) {
		log_warnx("--secret: expected whsec_ followed by base64");
		return -1;
	}
	klen = b64_decode(arg + 6, strlen(arg + 6), key, sizeof(key));
	if (klen <= 0) {
		log_warnx("--secret: the part after whsec_ is not base64 "
		    "(or empty, or over %zu bytes)", sizeof(key));
		return -1;
	}
	if (sink.mac == NULL &&
	    (sink.mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) == NULL) {
		log_warnx("--secret: OpenSSL has no HMAC");
		return -1;
	}
	if ((mc = EVP_MAC_CTX_new(sink.mac)) == NULL)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(mc, key, (size_t)klen, params) != 1) {
		EVP_MAC_CTX_free(mc);
		log_warnx("--secret: HMAC-SHA256 init failed");
		return -1;
	}
	OPENSSL_cleanse(key, sizeof(key));
	v = reallocarray(sink.secrets, sink.nsecrets + 1, sizeof(*v));
	if (v == NULL) {
		EVP_MAC_CTX_free(mc);
		return -1;
	}
	sink.secrets = v;
	sink.secrets[sink.nsecrets++] = mc;
	free(sink.macs);
	if ((sink.macs = calloc(sink.nsecrets, SINK_MAC_LEN)) == NULL)
		return -1;
	return 0;
}

/* 1 when any v1 entry of sigs matches any secret's HMAC of
 * id "." ts "." body; 0 otherwise (missing headers included). */
static int
sig_verify(const char *id, const char *ts, const char *sigs,
    const struct buf *body)
{
	unsigned char	 dec[64];
	const char	*p, *e;
	size_t		 i, outl;
	long		 n;
	int		 ok = 0;

	if (id == NULL || ts == NULL || sigs == NULL)
		return 0;
	for (i = 0; i < sink.nsecrets; i++) {
		EVP_MAC_CTX	*mc = sink.secrets[i];

		/* A NULL key re-initialises with the key set at start-up. */
		if (EVP_MAC_init(mc, NULL, 0, NULL) != 1 ||
		    EVP_MAC_update(mc, (const unsigned char *)id,
		    strlen(id)) != 1 ||
		    EVP_MAC_update(mc, (const unsigned char *)".", 1) != 1 ||
		    EVP_MAC_update(mc, (const unsigned char *)ts,
		    strlen(ts)) != 1 ||
		    EVP_MAC_update(mc, (const unsigned char *)".", 1) != 1 ||
		    EVP_MAC_update(mc, (const unsigned char *)body->data,
		    body->len) != 1 ||
		    EVP_MAC_final(mc, sink.macs + i * SINK_MAC_LEN, &outl,
		    SINK_MAC_LEN) != 1 || outl != SINK_MAC_LEN) {
			ERR_clear_error();
			return 0;
		}
	}
	for (p = sigs; *p != '\0'; p = e) {
		while (*p == ' ')
			p++;
		for (e = p; *e != '\0' && *e != ' '; e++)
			;
		if (e - p < 3 || strncmp(p, "v1,", 3) != 0)
			continue;
		n = b64_decode(p + 3, (size_t)(e - p - 3), dec, sizeof(dec));
		if (n != SINK_MAC_LEN)
			continue;
		for (i = 0; i < sink.nsecrets; i++)
			ok |= CRYPTO_memcmp(dec, sink.macs + i * SINK_MAC_LEN,
			    SINK_MAC_LEN) == 0;
	}
	return ok;
}

/* 1 when ts is a decimal Unix time within 5 minutes of now, else 0. */
static int
ts_check(const char *ts)
{
	long long	 v = 0;
	const char	*p;

	if (ts == NULL || *ts == '\0' || strlen(ts) > 15)
		return 0;
	for (p = ts; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (*p - '0');
	}
	return llabs(v - (long long)time(NULL)) <= SINK_TS_TOLERANCE;
}

/* ---- the script ---- */

static void
script_free(struct sink_script *s)
{
	size_t	i;

	for (i = 0; i < s->nrules; i++) {
		regfree(&s->rules[i].re);
		free(s->rules[i].retry_after);
		free(s->rules[i].location);
		free(s->rules[i].body);
	}
	free(s->rules);
	s->rules = NULL;
	s->nrules = 0;
}

/* Split s into words in place: blanks separate, '#' at a word's start
 * ends the line, "..." quotes (\" and \\ inside).  Returns the count, or
 * -1 on an unterminated quote or more than max words. */
static int
script_words(char *s, char **w, int max)
{
	char	*d;
	int	 n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
			s++;
		if (*s == '\0' || *s == '#')
			return n;
		if (n == max)
			return -1;
		if (*s == '"') {
			w[n++] = d = ++s;
			while (*s != '"') {
				if (*s == '\0' || *s == '\n')
					return -1;
				if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				*d++ = *s++;
			}
			s++;
			if (*s != '\0' && *s != ' ' && *s != '\t' &&
			    *s != '\r' && *s != '\n')
				return -1;
			*d = '\0';
			continue;
		}
		w[n++] = s;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r' &&
		    *s != '\n')
			s++;
		if (*s != '\0')
			*s++ = '\0';
	}
}

static int
parse_long(const char *s, long min, long max, long *v)
{
	char	*end;

	errno = 0;
	*v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || *v < min || *v > max)
		return -1;
	return 0;
}

/* Values go into reply headers: printable ASCII and blanks only. */
static int
header_value_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static int
script_rule(const char *path, int lineno, char **w, int nw,
    struct sink_rule *r)
{
	char	 err[256];
	char   **dst;
	long	 v;
	int	 i, rc, has_status = 0;

	memset(r, 0, sizeof(*r));
	if (strcmp(w[0], "match") != 0 || nw < 2) {
		log_warnx("script \"%s\" line %d: expected \"match REGEX ...\"",
		    path, lineno);
		return -1;
	}
	if ((rc = regcomp(&r->re, w[1], REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, &r->re, err, sizeof(err));
		log_warnx("script \"%s\" line %d: regex \"%s\": %s", path,
		    lineno, w[1], err);
		return -1;
	}
	for (i = 2; i < nw; i++) {
		if (strcmp(w[i], "close") == 0) {
			r->close = 1;
			continue;
		}
		if (strcmp(w[i], "drop") == 0) {
			r->drop = 1;
			continue;
		}
		if (i + 1 >= nw) {
			log_warnx("script \"%s\" line %d: \"%s\" needs a value"
			    " (or is unknown)", path, lineno, w[i]);
			goto fail;
		}
		dst = NULL;
		if (strcmp(w[i], "times") == 0) {
			if (parse_long(w[i + 1], 1, 1000000000L, &r->times)) {
				log_warnx("script \"%s\" line %d: times \"%s\":"
				    " not a count", path, lineno, w[i + 1]);
				goto fail;
			}
		} else if (strcmp(w[i], "status") == 0) {
			if (parse_long(w[i + 1], 200, 599, &v)) {
				log_warnx("script \"%s\" line %d: status \"%s\":"
				    " not 200-599", path, lineno, w[i + 1]);
				goto fail;
			}
			r->status = (int)v;
			has_status = 1;
		} else if (strcmp(w[i], "delay") == 0) {
			if (parse_long(w[i + 1], 0, 3600000L, &r->delay_ms)) {
				log_warnx("script \"%s\" line %d: delay \"%s\":"
				    " not 0-3600000 ms", path, lineno, w[i + 1]);
				goto fail;
			}
		} else if (strcmp(w[i], "retry-after") == 0)
			dst = &r->retry_after;
		else if (strcmp(w[i], "location") == 0)
			dst = &r->location;
		else if (strcmp(w[i], "body") == 0)
			dst = &r->body;
		else {
			log_warnx("script \"%s\" line %d: unknown word \"%s\"",
			    path, lineno, w[i]);
			goto fail;
		}
		if (dst != NULL) {
			if (!header_value_ok(w[i + 1])) {
				log_warnx("script \"%s\" line %d: %s: control "
				    "or non-ASCII characters", path, lineno,
				    w[i]);
				goto fail;
			}
			free(*dst);
			if ((*dst = strdup(w[i + 1])) == NULL)
				goto fail;
		}
		i++;
	}
	if (!has_status && !r->drop) {
		log_warnx("script \"%s\" line %d: no status (or drop)", path,
		    lineno);
		goto fail;
	}
	return 0;
fail:
	regfree(&r->re);
	free(r->retry_after);
	free(r->location);
	free(r->body);
	memset(r, 0, sizeof(*r));
	return -1;
}

/* Read the rules of path into *s (caller frees with script_free).
 * Returns 0, or -1 after saying what is wrong (and *s left empty). */
static int
script_load(const char *path, struct sink_script *s)
{
	FILE		*f;
	char		*line = NULL, *w[32];
	size_t		 cap = 0;
	struct sink_rule *v;
	int		 nw, lineno = 0, rc = -1;

	memset(s, 0, sizeof(*s));
	if ((f = fopen(path, "re")) == NULL) {
		log_warn("script \"%s\"", path);
		return -1;
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		if ((nw = script_words(line, w, 32)) == -1) {
			log_warnx("script \"%s\" line %d: unterminated quote "
			    "or over 32 words", path, lineno);
			goto out;
		}
		if (nw == 0)
			continue;
		v = reallocarray(s->rules, s->nrules + 1, sizeof(*v));
		if (v == NULL)
			goto out;
		s->rules = v;
		if (script_rule(path, lineno, w, nw, &s->rules[s->nrules]))
			goto out;
		s->nrules++;
	}
	if (ferror(f)) {
		log_warn("script \"%s\"", path);
		goto out;
	}
	rc = 0;
out:
	free(line);
	fclose(f);
	if (rc == -1)
		script_free(s);
	return rc;
}

/* Re-read the script when its file changed, at most every 100 ms.  A
 * broken new version is reported once and the old rules stay. */
static void
script_check(void)
{
	struct sink_script	 ns;
	struct stat		 st;
	int64_t			 now = now_ms();

	if (sink.script_path == NULL ||
	    now - sink.script_checked < SINK_SCRIPT_CHECK_MS)
		return;
	sink.script_checked = now;
	if (stat(sink.script_path, &st) == -1) {
		if (sink.script_st.st_ino != 0)
			log_warn("script \"%s\" (keeping the old rules)",
			    sink.script_path);
		memset(&sink.script_st, 0, sizeof(sink.script_st));
		return;
	}
	if (st.st_mtim.tv_sec == sink.script_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == sink.script_st.st_mtim.tv_nsec &&
	    st.st_ino == sink.script_st.st_ino &&
	    st.st_size == sink.script_st.st_size)
		return;
	sink.script_st = st;
	if (script_load(sink.script_path, &ns) == -1) {
		log_warnx("script \"%s\": keeping the old rules",
		    sink.script_path);
		return;
	}
	script_free(&sink.script);
	sink.script = ns;
	if (sink.verbose)
		log_info("script \"%s\": %zu rules", sink.script_path,
		    ns.nrules);
}

static struct sink_rule *
script_match(const char *target)
{
	struct sink_rule	*r;
	size_t			 i;

	for (i = 0; i < sink.script.nrules; i++) {
		r = &sink.script.rules[i];
		if (r->times && r->used >= r->times)
			continue;
		if (regexec(&r->re, target, 0, NULL, 0) == 0) {
			r->used++;
			return r;
		}
	}
	return NULL;
}

/* ---- connections ---- */

static void
timer_add(struct sink_conn *c, int64_t deadline)
{
	c->deadline = deadline;
	if (c->in_timers)
		return;
	c->in_timers = 1;
	c->tprev = NULL;
	c->tnext = sink.timers;
	if (sink.timers != NULL)
		sink.timers->tprev = c;
	sink.timers = c;
}

static void
timer_del(struct sink_conn *c)
{
	if (!c->in_timers)
		return;
	if (c->tprev != NULL)
		c->tprev->tnext = c->tnext;
	else
		sink.timers = c->tnext;
	if (c->tnext != NULL)
		c->tnext->tprev = c->tprev;
	c->in_timers = 0;
}

static void
conn_free(struct sink_conn *c)
{
	timer_del(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		sink.conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	SSL_free(c->ssl);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->hold);
	buf_free(&c->req.head);
	buf_free(&c->req.body);
	free(c);
	sink.nopen--;
	ERR_clear_error();
}

static void
conn_set_events(struct sink_conn *c, uint32_t ev)
{
	struct epoll_event	e;

	if (ev == c->events)
		return;
	memset(&e, 0, sizeof(e));
	e.events = ev;
	e.data.ptr = c;
	if (epoll_ctl(sink.ep, EPOLL_CTL_MOD, c->fd, &e) == -1)
		log_warn("epoll_ctl conn %" PRIu64, c->id);
	c->events = ev;
}

static const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return status < 300 ? "OK" : "Status";
	}
}

/* Append a whole reply to b.  rule may be NULL; error (if not NULL)
 * becomes the JSON body of an error reply. */
static void
reply_build(struct buf *b, int status, const struct sink_rule *rule,
    const char *error, int head_only, int closing, int minor)
{
	static const char	 ok200[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json\r\nContent-Length: 11\r\n\r\n"
	    "{\"ok\":true}";
	char			 small[128];
	const char		*body = NULL;
	int			 with_body;

	if (status == 200 && rule == NULL && !closing && minor == 1 &&
	    !head_only) {
		buf_add(b, ok200, sizeof(ok200) - 1);
		return;
	}
	with_body = status != 204 && status != 304;
	if (rule != NULL && rule->body != NULL)
		body = rule->body;
	else if (error != NULL) {
		snprintf(small, sizeof(small), "{\"ok\":false,\"error\":\"%s\"}",
		    error);
		body = small;
	} else if (status / 100 == 2)
		body = "{\"ok\":true}";
	else {
		snprintf(small, sizeof(small), "{\"ok\":false,\"status\":%d}",
		    status);
		body = small;
	}
	buf_printf(b, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
	if (with_body)
		buf_printf(b, "Content-Type: application/json\r\n"
		    "Content-Length: %zu\r\n", strlen(body));
	if (rule != NULL && rule->retry_after != NULL)
		buf_printf(b, "Retry-After: %s\r\n", rule->retry_after);
	if (rule != NULL && rule->location != NULL)
		buf_printf(b, "Location: %s\r\n", rule->location);
	if (closing)
		buf_adds(b, "Connection: close\r\n");
	else if (minor == 0)
		buf_adds(b, "Connection: keep-alive\r\n");
	buf_adds(b, "\r\n");
	if (with_body && !head_only)
		buf_adds(b, body);
}

static const char *
req_header(const struct sink_req *r, const char *name)
{
	int	i;

	for (i = 0; i < r->nhdr; i++)
		if (strcmp(r->hdr[i].name, name) == 0)
			return r->hdr[i].value;
	return NULL;
}

/* A JSON string of s: as is when UTF-8, else its bytes read as Latin-1. */
static json_t *
json_text(const char *s, size_t n)
{
	struct buf	 b;
	json_t		*j;
	size_t		 i;

	if (utf8_valid(s, n))
		return json_stringn(s, n);
	buf_init(&b, 0);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x80)
			buf_addc(&b, ch);
		else {
			buf_addc(&b, 0xc0 | (ch >> 6));
			buf_addc(&b, 0x80 | (ch & 0x3f));
		}
	}
	j = b.overflow ? NULL : json_stringn(b.data ? b.data : "", b.len);
	buf_free(&b);
	return j;
}

/* sig_ok, ts_ok: 1, 0 or -1 (not checked: null). */
static void
req_record(struct sink_conn *c, uint64_t n, int status, int sig_ok, int ts_ok,
    int with_body)
{
	struct sink_req	*r = &c->req;
	struct timespec	 ts;
	json_t		*o, *h, *old, *v;
	struct buf	 join;
	char		*line, *b64;
	const char	*host;
	int		 i, len;

	if (sink.out == NULL)
		return;
	o = json_object();
	h = json_object();
	if (o == NULL || h == NULL)
		goto out;
	json_object_set_new(o, "n", json_integer((json_int_t)n));
	json_object_set_new(o, "conn", json_integer((json_int_t)c->id));
	json_object_set_new(o, "method", json_string(r->method));
	json_object_set_new(o, "path", json_string(r->target));
	host = req_header(r, "host");
	json_object_set_new(o, "host",
	    host ? json_text(host, strlen(host)) : json_null());
	for (i = 0; i < r->nhdr; i++) {
		const char *val = r->hdr[i].value;

		/* Repeated fields join with ", " (RFC 9110 5.3). */
		if ((old = json_object_get(h, r->hdr[i].name)) != NULL) {
			buf_init(&join, 0);
			buf_printf(&join, "%s, %s", json_string_value(old),
			    val);
			v = json_text(join.data, join.len);
			buf_free(&join);
		} else
			v = json_text(val, strlen(val));
		json_object_set_new(h, r->hdr[i].name, v);
	}
	json_object_set_new(o, "headers", h);
	h = NULL;
	if (with_body) {
		if (utf8_valid(r->body.data ? r->body.data : "", r->body.len))
			json_object_set_new(o, "body", json_stringn(
			    r->body.data ? r->body.data : "", r->body.len));
		else if ((b64 = malloc(4 * (r->body.len / 3 + 1) + 1)) !=
		    NULL) {
			len = EVP_EncodeBlock((unsigned char *)b64,
			    (const unsigned char *)r->body.data,
			    (int)r->body.len);
			json_object_set_new(o, "body_b64", json_stringn(b64,
			    (size_t)len));
			free(b64);
		}
	}
	json_object_set_new(o, "sig_ok",
	    sig_ok < 0 ? json_null() : json_boolean(sig_ok));
	json_object_set_new(o, "ts_ok",
	    ts_ok < 0 ? json_null() : json_boolean(ts_ok));
	json_object_set_new(o, "status", json_integer(status));
	clock_gettime(CLOCK_REALTIME, &ts);
	json_object_set_new(o, "time",
	    json_real((double)ts.tv_sec + ts.tv_nsec / 1e9));
	if ((line = json_dumps(o, JSON_COMPACT)) == NULL) {
		log_warnx("--out: request %" PRIu64 ": cannot encode", n);
		goto out;
	}
	if (fputs(line, sink.out) == EOF || fputc('\n', sink.out) == EOF ||
	    fflush(sink.out) == EOF)
		log_warn("--out: request %" PRIu64, n);
	free(line);
out:
	json_decref(h);
	json_decref(o);
}

static void
count_status(int status)
{
	if (status >= 100 && status < 600)
		sink.nclass[status / 100]++;
	else
		sink.nclass[0]++;
}

/* An answer that ends the connection: 400 and friends.  When the head was
 * parsed (recorded != 0) the request is numbered and recorded. */
static void
conn_error(struct sink_conn *c, int status, const char *why, int recorded)
{
	if (recorded)
		req_record(c, ++sink.nreq, status, -1, -1, 0);
	else
		sink.nbad++;
	if (sink.verbose)
		log_info("conn %" PRIu64 ": %d %s", c->id, status, why);
	count_status(status);
	reply_build(&c->out, status, NULL, why, 0, 1, 1);
	c->close_after = 1;
}

/* A complete request: check, decide, record, answer (now or later). */
static void
req_done(struct sink_conn *c)
{
	struct sink_req		*r = &c->req;
	struct sink_rule	*rule = NULL;
	struct buf		*to;
	uint64_t		 n = ++sink.nreq;
	int			 status = 200, sig_ok = -1, ts_ok = -1, closing;

	if (strcmp(r->method, "POST") == 0) {
		ts_ok = ts_check(req_header(r, "webhook-timestamp"));
		if (sink.nsecrets > 0) {
			sig_ok = sig_verify(req_header(r, "webhook-id"),
			    req_header(r, "webhook-timestamp"),
			    req_header(r, "webhook-signature"), &r->body);
			if (sig_ok)
				sink.nsig_ok++;
			else
				sink.nsig_bad++;
		}
	}
	if (sig_ok == 0 && sink.reject_bad)
		status = 401;
	else {
		script_check();
		if ((rule = script_match(r->target)) != NULL)
			status = rule->drop ? 0 : rule->status;
	}
	if (!sink.discard)
		req_record(c, n, status, sig_ok, ts_ok, 1);
	count_status(status);
	closing = !r->keepalive || (rule != NULL && (rule->close || rule->drop));
	if (rule != NULL && rule->delay_ms > 0) {
		to = &c->hold;
		c->held = 1;
		c->hold_close = closing;
		c->hold_drop = rule->drop;
		timer_add(c, now_ms() + rule->delay_ms);
	} else {
		to = &c->out;
		c->close_after = closing;
		c->drop = rule != NULL && rule->drop;
	}
	if (rule == NULL || !rule->drop)
		reply_build(to, status, rule, NULL,
		    strcmp(r->method, "HEAD") == 0, closing, r->minor);
	r->state = RQ_HEAD;
}

static int
is_tchar(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* 1 when the comma-separated list s holds token tok (any case). */
static int
list_has(const char *s, const char *tok)
{
	size_t	n = strlen(tok), len;

	while (*s != '\0') {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		for (len = 0; s[len] != '\0' && s[len] != ',' &&
		    s[len] != ' ' && s[len] != '\t'; len++)
			;
		if (len == n && strncasecmp(s, tok, n) == 0)
			return 1;
		s += len;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '\0' && *s != ',')
			while (*s != '\0' && *s != ',')
				s++;
	}
	return 0;
}

/* Find the end of the header block in p[0..n), resuming at *scan (a line
 * start).  Returns its length (past the empty line) or 0 when incomplete. */
static size_t
head_end(const char *p, size_t n, size_t *scan)
{
	const char	*q;
	size_t		 pos = *scan, len;

	for (;;) {
		if ((q = memchr(p + pos, '\n', n - pos)) == NULL) {
			*scan = pos;
			return 0;
		}
		len = (size_t)(q - (p + pos));
		if (pos > 0 && (len == 0 || (len == 1 && p[pos] == '\r')))
			return (size_t)(q - p) + 1;
		pos = (size_t)(q - p) + 1;
	}
}

/* Cut the next line off [*s, e): NUL-terminates it (dropping CR LF) and
 * returns its length; -1 on a NUL or stray CR inside the line. */
static long
next_line(char **s, char *e, char **line)
{
	char	*p = *s, *q;
	size_t	 len;

	q = memchr(p, '\n', (size_t)(e - p));
	if (q == NULL)
		return -1;
	*s = q + 1;
	*q = '\0';
	len = (size_t)(q - p);
	if (len > 0 && p[len - 1] == '\r')
		p[--len] = '\0';
	if (memchr(p, '\0', len) != NULL || memchr(p, '\r', len) != NULL)
		return -1;
	*line = p;
	return (long)len;
}

/* Parse the header block p[0..len).  Returns 0 (c->req filled), or an
 * error status after which the connection ends; *why says what. */
static int
head_parse(struct sink_conn *c, const char *p, size_t len, const char **why)
{
	struct sink_req	*r = &c->req;
	char		*s, *e, *line, *sp, *colon, *v, *ve;
	const char	*cl = NULL, *te, *ex, *conn;
	uint64_t	 clv = 0, x;
	long		 ll;
	int		 i, hosts = 0;

	buf_reset(&r->head);
	if (buf_add(&r->head, p, len) == -1) {
		*why = "header block too large";
		return 431;
	}
	s = r->head.data;
	e = s + len;
	r->nhdr = 0;
	*why = "bad request line";
	if ((ll = next_line(&s, e, &line)) <= 0)
		return 400;
	/* method SP target SP HTTP/x.y, single spaces (RFC 9112 3). */
	r->method = line;
	for (sp = line; is_tchar((unsigned char)*sp); sp++)
		;
	if (sp == line || *sp != ' ')
		return 400;
	*sp++ = '\0';
	r->target = sp;
	for (; (unsigned char)*sp > 0x20 && (unsigned char)*sp < 0x7f; sp++)
		;
	if (sp == r->target || *sp != ' ')
		return 400;
	*sp++ = '\0';
	if (strncmp(sp, "HTTP/", 5) != 0 || strlen(sp) != 8 ||
	    sp[5] < '0' || sp[5] > '9' || sp[6] != '.' ||
	    sp[7] < '0' || sp[7] > '9')
		return 400;
	if (sp[5] != '1') {
		*why = "HTTP/1.x only";
		return 505;
	}
	r->minor = sp[7] - '0';
	for (;;) {
		*why = "bad header line";
		if ((ll = next_line(&s, e, &line)) < 0)
			return 400;
		if (ll == 0)
			break;
		if (*line == ' ' || *line == '\t') {
			*why = "obsolete line folding";
			return 400;
		}
		for (colon = line; is_tchar((unsigned char)*colon); colon++)
			*colon = (char)tolower((unsigned char)*colon);
		if (colon == line || *colon != ':')
			return 400;
		*colon = '\0';
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		ve = line + ll;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		*ve = '\0';
		for (sp = v; sp < ve; sp++)
			if (((unsigned char)*sp < 0x20 && *sp != '\t') ||
			    *sp == 0x7f) {
				*why = "control character in a header";
				return 400;
			}
		if (r->nhdr == SINK_MAX_HEADERS) {
			*why = "too many header fields";
			return 431;
		}
		r->hdr[r->nhdr].name = line;
		r->hdr[r->nhdr].value = v;
		r->nhdr++;
	}

	for (i = 0; i < r->nhdr; i++) {
		if (strcmp(r->hdr[i].name, "host") == 0)
			hosts++;
		if (strcmp(r->hdr[i].name, "content-length") != 0)
			continue;
		/* Repeats must agree (RFC 9112 6.3). */
		*why = "bad Content-Length";
		v = r->hdr[i].value;
		if (*v == '\0' || strlen(v) > 18)
			return 400;
		for (x = 0, sp = v; *sp != '\0'; sp++) {
			if (*sp < '0' || *sp > '9')
				return 400;
			x = x * 10 + (uint64_t)(*sp - '0');
		}
		if (cl != NULL && x != clv)
			return 400;
		cl = v;
		clv = x;
	}
	if ((r->minor >= 1 && hosts == 0) || hosts > 1) {
		*why = "missing or repeated Host";
		return 400;
	}
	conn = req_header(r, "connection");
	if (r->minor >= 1)
		r->keepalive = conn == NULL || !list_has(conn, "close");
	else
		r->keepalive = conn != NULL && list_has(conn, "keep-alive");
	r->body_len = 0;
	r->trailer_len = 0;
	buf_reset(&r->body);
	if ((te = req_header(r, "transfer-encoding")) != NULL) {
		if (cl != NULL) {
			*why = "both Content-Length and Transfer-Encoding";
			return 400;
		}
		if (strcasecmp(te, "chunked") != 0 || r->minor == 0) {
			*why = "transfer coding other than chunked";
			return 501;
		}
		r->state = RQ_CHUNK_SIZE;
	} else if (clv > 0) {
		if (clv > SINK_BODY_MAX) {
			*why = "body over 10 MiB";
			return 413;
		}
		r->state = RQ_BODY;
		r->remain = clv;
	} else
		r->state = RQ_HEAD;
	if ((ex = req_header(r, "expect")) != NULL) {
		if (strcasecmp(ex, "100-continue") != 0) {
			*why = "unknown expectation";
			return 417;
		}
	}
	return 0;
}

/* Take up to remain body bytes from the input. */
static size_t
body_take(struct sink_conn *c, const char *p, size_t n)
{
	struct sink_req	*r = &c->req;
	size_t		 take = n < r->remain ? n : (size_t)r->remain;

	if (take == 0)
		return 0;
	/* The body is kept only when someone looks at it. */
	if ((sink.out != NULL && !sink.discard) || sink.nsecrets > 0)
		buf_add(&r->body, p, take);
	r->remain -= take;
	c->in_off += take;
	return take;
}

/* One step of reading a request from c->in.  Returns 1 after progress, 0
 * when more input is needed. */
static int
req_step(struct sink_conn *c)
{
	struct sink_req	*r = &c->req;
	const char	*p = c->in.data + c->in_off, *q;
	size_t		 n = c->in.len - c->in_off, end, len, k;
	uint64_t	 size;
	const char	*why;
	int		 status, digits;

	switch (r->state) {
	case RQ_HEAD:
		/* Empty lines before a request line are ignored (RFC 9112
		 * 2.2). */
		if (r->scan == 0) {
			while (n > 0 && (p[0] == '\n' ||
			    (n > 1 && p[0] == '\r' && p[1] == '\n'))) {
				k = p[0] == '\n' ? 1 : 2;
				p += k;
				n -= k;
				c->in_off += k;
			}
		}
		if (n == 0)
			return 0;
		if ((end = head_end(p, n, &r->scan)) == 0) {
			if (n > SINK_HEAD_MAX) {
				conn_error(c, 431, "header block over 64 KiB",
				    0);
				return 1;
			}
			return 0;
		}
		r->scan = 0;
		if (end > SINK_HEAD_MAX) {
			conn_error(c, 431, "header block over 64 KiB", 0);
			return 1;
		}
		c->in_off += end;
		if ((status = head_parse(c, p, end, &why)) != 0) {
			conn_error(c, status, why, status == 413 ||
			    status == 417 || status == 501);
			return 1;
		}
		if (r->state == RQ_HEAD) {
			req_done(c);
			return 1;
		}
		/* Ask for the body unless it is already on its way. */
		if (req_header(r, "expect") != NULL && (r->state == RQ_BODY ?
		    c->in.len - c->in_off < r->remain : c->in.len == c->in_off))
			buf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
		return 1;
	case RQ_BODY:
		if (body_take(c, p, n) == 0)
			return 0;
		if (r->remain == 0)
			req_done(c);
		return 1;
	case RQ_CHUNK_SIZE:
		if ((q = memchr(p, '\n', n)) == NULL) {
			if (n > SINK_CHUNK_LINE_MAX) {
				conn_error(c, 400, "chunk size line too long",
				    0);
				return 1;
			}
			return 0;
		}
		len = (size_t)(q - p);
		size = 0;
		for (k = 0, digits = 0; k < len; k++, digits++) {
			int d = p[k];

			if (d >= '0' && d <= '9')
				d -= '0';
			else if (d >= 'a' && d <= 'f')
				d -= 'a' - 10;
			else if (d >= 'A' && d <= 'F')
				d -= 'A' - 10;
			else
				break;
			if (digits == 15)
				break;
			size = size * 16 + (uint64_t)d;
		}
		/* Then nothing, blanks, or a chunk extension. */
		if (digits == 0 || digits > 15 || (k < len && p[k] != ';' &&
		    p[k] != ' ' && p[k] != '\t' && p[k] != '\r') ||
		    (k < len && p[k] == '\r' && k != len - 1)) {
			conn_error(c, 400, "bad chunk size", 0);
			return 1;
		}
		c->in_off += len + 1;
		if (size == 0) {
			r->state = RQ_TRAILER;
			return 1;
		}
		if (size > SINK_BODY_MAX || r->body_len + size >
		    SINK_BODY_MAX) {
			conn_error(c, 413, "body over 10 MiB", 1);
			return 1;
		}
		r->body_len += size;
		r->remain = size;
		r->state = RQ_CHUNK_DATA;
		return 1;
	case RQ_CHUNK_DATA:
		if (body_take(c, p, n) == 0)
			return 0;
		if (r->remain == 0)
			r->state = RQ_CHUNK_END;
		return 1;
	case RQ_CHUNK_END:
		if (n == 0 || (p[0] == '\r' && n < 2))
			return 0;
		if (p[0] == '\n')
			c->in_off += 1;
		else if (p[0] == '\r' && p[1] == '\n')
			c->in_off += 2;
		else {
			conn_error(c, 400, "no CRLF after chunk data", 0);
			return 1;
		}
		r->state = RQ_CHUNK_SIZE;
		return 1;
	case RQ_TRAILER:
		if ((q = memchr(p, '\n', n)) == NULL) {
			if (r->trailer_len + n > SINK_HEAD_MAX) {
				conn_error(c, 431, "trailers over 64 KiB", 0);
				return 1;
			}
			return 0;
		}
		len = (size_t)(q - p);
		c->in_off += len + 1;
		r->trailer_len += len + 1;
		if (r->trailer_len > SINK_HEAD_MAX) {
			conn_error(c, 431, "trailers over 64 KiB", 0);
			return 1;
		}
		if (len == 0 || (len == 1 && p[0] == '\r'))
			req_done(c);
		return 1;
	}
	return 0;
}

/* Send what is queued.  Returns 0 (all sent, or blocked: wr_want says on
 * what), -1 when the connection failed. */
static int
conn_flush(struct sink_conn *c)
{
	size_t	left;
	int	n, err;

	while (c->out_off < c->out.len) {
		left = c->out.len - c->out_off;
		ERR_clear_error();
		n = SSL_write(c->ssl, c->out.data + c->out_off,
		    left > INT_MAX ? INT_MAX : (int)left);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_WRITE) {
			c->wr_want = EPOLLOUT;
			return 0;
		}
		if (err == SSL_ERROR_WANT_READ) {
			c->wr_want = EPOLLIN;
			return 0;
		}
		return -1;
	}
	c->wr_want = 0;
	buf_reset(&c->out);
	c->out_off = 0;
	return 0;
}

/* Everything is sent and nothing more will be: close_notify, shut the
 * write side and drain what the peer still sends, so that a reply to a
 * request whose body we did not read is not lost to a reset. */
static void
conn_finish(struct sink_conn *c)
{
	if (c->drop) {
		conn_free(c);
		return;
	}
	ERR_clear_error();
	SSL_shutdown(c->ssl);
	ERR_clear_error();
	shutdown(c->fd, SHUT_WR);
	c->state = CONN_LINGER;
	timer_add(c, now_ms() + SINK_LINGER_MS);
	conn_set_events(c, EPOLLIN);
}

static void
conn_linger(struct sink_conn *c)
{
	ssize_t	n;

	for (;;) {
		n = read(c->fd, readbuf, sizeof(readbuf));
		if (n > 0)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_free(c);
		return;
	}
}

static void
conn_compact(struct sink_conn *c)
{
	if (c->in_off == c->in.len) {
		buf_reset(&c->in);
		c->in_off = 0;
	} else if (c->in_off >= 32768) {
		memmove(c->in.data, c->in.data + c->in_off,
		    c->in.len - c->in_off);
		c->in.len -= c->in_off;
		c->in_off = 0;
	}
}

/* Drive a connection as far as it goes without blocking, then register
 * what it waits for.  May free c. */
static void
conn_run(struct sink_conn *c)
{
	uint32_t	 ev, rd = 0;
	int		 n, err, did_read = 0;

	if (c->state == CONN_LINGER) {
		conn_linger(c);
		return;
	}
	if (c->state == CONN_HANDSHAKE) {
		ERR_clear_error();
		if ((n = SSL_do_handshake(c->ssl)) != 1) {
			err = SSL_get_error(c->ssl, n);
			if (err == SSL_ERROR_WANT_READ)
				conn_set_events(c, EPOLLIN);
			else if (err == SSL_ERROR_WANT_WRITE)
				conn_set_events(c, EPOLLOUT);
			else {
				sink.nhsfail++;
				if (sink.verbose)
					log_info("conn %" PRIu64 ": TLS "
					    "handshake failed: %s", c->id,
					    ERR_reason_error_string(
					    ERR_peek_error()));
				conn_free(c);
			}
			return;
		}
		c->state = CONN_OPEN;
	}
	for (;;) {
		while (!c->held && !c->close_after &&
		    c->out.len - c->out_off < SINK_OUT_HIGH && req_step(c))
			;
		if (c->out_off < c->out.len && conn_flush(c) == -1) {
			conn_free(c);
			return;
		}
		if (c->out_off == c->out.len && c->close_after && !c->held) {
			conn_finish(c);
			return;
		}
		if (c->held || c->close_after || c->out_off < c->out.len ||
		    c->in.len - c->in_off >= SINK_IN_HIGH)
			break;
		/* With read-ahead one read() took all the socket had: rather
		 * than a second one that would say EAGAIN, let the
		 * level-triggered epoll tell when more comes. */
		if (did_read && !SSL_has_pending(c->ssl)) {
			rd = EPOLLIN;
			break;
		}
		conn_compact(c);
		ERR_clear_error();
		n = SSL_read(c->ssl, readbuf, sizeof(readbuf));
		if (n > 0) {
			if (buf_add(&c->in, readbuf, (size_t)n) == -1) {
				conn_free(c);
				return;
			}
			did_read = 1;
			continue;
		}
		err = SSL_get_error(c->ssl, n);
		if (err == SSL_ERROR_WANT_READ)
			rd = EPOLLIN;
		else if (err == SSL_ERROR_WANT_WRITE)
			rd = EPOLLOUT;
		else {
			/* The peer went away (cleanly or not). */
			conn_free(c);
			return;
		}
		break;
	}
	ev = rd;
	if (c->out_off < c->out.len)
		ev |= c->wr_want;
	conn_set_events(c, ev);
}

/* A deadline passed: a delayed reply is due, or lingering is over. */
static void
conn_timeout(struct sink_conn *c)
{
	if (c->state == CONN_LINGER) {
		conn_free(c);
		return;
	}
	if (!c->held)
		return;
	c->held = 0;
	buf_add(&c->out, c->hold.data ? c->hold.data : "", c->hold.len);
	buf_reset(&c->hold);
	c->close_after = c->hold_close;
	c->drop = c->hold_drop;
	conn_run(c);
}

static void
conn_event(struct sink_conn *c, uint32_t ev)
{
	/* Hung up while we were not listening (a delayed reply). */
	if ((ev & (EPOLLERR | EPOLLHUP)) && c->events == 0) {
		conn_free(c);
		return;
	}
	conn_run(c);
}

static void
sink_accept(void)
{
	struct epoll_event	 e;
	struct sink_conn	*c;
	int			 fd, i, one = 1;

	for (i = 0; i < SINK_ACCEPT_BATCH; i++) {
		fd = accept4(sink.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of descriptors or memory: pause 100 ms rather
			 * than spin on a listening socket that stays ready. */
			log_warn("accept (pausing 100 ms)");
			memset(&e, 0, sizeof(e));
			e.data.ptr = &tag_listen;
			epoll_ctl(sink.ep, EPOLL_CTL_MOD, sink.lfd, &e);
			sink.accept_paused = 1;
			sink.accept_resume = now_ms() + 100;
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->ssl = SSL_new(sink.ctx)) == NULL) {
			log_warnx("accept: out of memory");
			free(c);
			close(fd);
			ERR_clear_error();
			continue;
		}
		c->fd = fd;
		c->id = ++sink.nconn;
		SSL_set_fd(c->ssl, fd);
		SSL_set_accept_state(c->ssl);
		buf_init(&c->in, SINK_IN_HIGH + 2 * sizeof(readbuf) + 65536);
		buf_init(&c->out, 0);
		buf_init(&c->hold, 0);
		buf_init(&c->req.head, SINK_HEAD_MAX + 1);
		buf_init(&c->req.body, SINK_BODY_MAX);
		c->next = sink.conns;
		if (sink.conns != NULL)
			sink.conns->prev = c;
		sink.conns = c;
		sink.nopen++;
		memset(&e, 0, sizeof(e));
		e.events = EPOLLIN;
		e.data.ptr = c;
		if (epoll_ctl(sink.ep, EPOLL_CTL_ADD, fd, &e) == -1) {
			log_warn("epoll_ctl add");
			conn_free(c);
			continue;
		}
		c->events = EPOLLIN;
		/* The ClientHello is often there already. */
		conn_run(c);
	}
}

static void
sink_stats(void)
{
	fprintf(stderr, "requests %" PRIu64 " connections %" PRIu64
	    " open %" PRIu64 " bad %" PRIu64 " tls_failed %" PRIu64
	    " sig_ok %" PRIu64 " sig_bad %" PRIu64 " 2xx %" PRIu64
	    " 3xx %" PRIu64 " 4xx %" PRIu64 " 5xx %" PRIu64 " dropped %" PRIu64
	    "\n", sink.nreq, sink.nconn, sink.nopen, sink.nbad, sink.nhsfail,
	    sink.nsig_ok, sink.nsig_bad, sink.nclass[2], sink.nclass[3],
	    sink.nclass[4], sink.nclass[5], sink.nclass[0]);
	fflush(stderr);
}

static void
sink_signal(void)
{
	struct signalfd_siginfo	si;

	while (read(sink.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1)
			sink_stats();
		else
			sink.quit = 1;
	}
}

static void
sink_timers(void)
{
	struct sink_conn	*c, *next;
	int64_t			 now = now_ms();

	if (sink.accept_paused && now >= sink.accept_resume) {
		struct epoll_event	e;

		memset(&e, 0, sizeof(e));
		e.events = EPOLLIN;
		e.data.ptr = &tag_listen;
		epoll_ctl(sink.ep, EPOLL_CTL_MOD, sink.lfd, &e);
		sink.accept_paused = 0;
	}
	/* conn_timeout frees or re-arms only its own connection; re-armed
	 * ones go to the head, behind us. */
	for (c = sink.timers; c != NULL; c = next) {
		next = c->tnext;
		if (c->deadline <= now) {
			timer_del(c);
			conn_timeout(c);
		}
	}
}

static int
sink_timeout(void)
{
	struct sink_conn	*c;
	int64_t			 now, first = INT64_MAX;

	if (sink.timers == NULL && !sink.accept_paused)
		return -1;
	for (c = sink.timers; c != NULL; c = c->tnext)
		if (c->deadline < first)
			first = c->deadline;
	if (sink.accept_paused && sink.accept_resume < first)
		first = sink.accept_resume;
	now = now_ms();
	if (first <= now)
		return 0;
	return first - now > 60000 ? 60000 : (int)(first - now);
}

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char	 h11[] = "\x08http/1.1";
	unsigned char			*o;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&o, outlen, h11, sizeof(h11) - 1, in,
	    inlen) == OPENSSL_NPN_NEGOTIATED) {
		*out = o;
		return SSL_TLSEXT_ERR_OK;
	}
	/* No http/1.1 offered: go on without ALPN. */
	return SSL_TLSEXT_ERR_NOACK;
}

static const char *
ssl_error(void)
{
	unsigned long	e = ERR_peek_last_error();

	return e ? ERR_reason_error_string(e) : "unknown error";
}

static void
tls_setup(const char *cert, const char *key)
{
	if (access(cert, R_OK) == -1)
		fatal("--cert \"%s\"", cert);
	if (access(key, R_OK) == -1)
		fatal("--key \"%s\"", key);
	if ((sink.ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("TLS: %s", ssl_error());
	SSL_CTX_set_min_proto_version(sink.ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(sink.ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(sink.ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* One read() per socket wake-up rather than one per record part. */
	SSL_CTX_set_read_ahead(sink.ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(sink.ctx, cert) != 1)
		fatalx("--cert \"%s\": %s (want PEM)", cert, ssl_error());
	if (SSL_CTX_use_PrivateKey_file(sink.ctx, key, SSL_FILETYPE_PEM) != 1)
		fatalx("--key \"%s\": %s (want PEM)", key, ssl_error());
	if (SSL_CTX_check_private_key(sink.ctx) != 1)
		fatalx("--key \"%s\" does not match --cert \"%s\"", key, cert);
	SSL_CTX_set_alpn_select_cb(sink.ctx, alpn_select, NULL);
}

/* Listen on HOST:PORT or [V6]:PORT; returns the bound port. */
static int
listen_setup(const char *arg)
{
	struct addrinfo		 hints, *res = NULL;
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 host[256];
	const char		*port, *h;
	size_t			 hl;
	int			 rc, one = 1;

	if (arg[0] == '[') {
		if ((port = strstr(arg, "]:")) == NULL)
			fatalx("--listen \"%s\": expected [IPV6]:PORT", arg);
		h = arg + 1;
		hl = (size_t)(port - h);
		port += 2;
	} else {
		if ((port = strrchr(arg, ':')) == NULL)
			fatalx("--listen \"%s\": expected HOST:PORT", arg);
		h = arg;
		hl = (size_t)(port - h);
		port++;
	}
	if (hl >= sizeof(host) || *port == '\0' || strlen(port) > 5 ||
	    strspn(port, "0123456789") != strlen(port) || atol(port) > 65535)
		fatalx("--listen \"%s\": bad host or port", arg);
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(hl && strcmp(host, "*") ? host : NULL, port,
	    &hints, &res)) != 0)
		fatalx("--listen \"%s\": %s", arg, gai_strerror(rc));
	sink.lfd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol);
	if (sink.lfd == -1)
		fatal("--listen \"%s\": socket", arg);
	setsockopt(sink.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(sink.lfd, res->ai_addr, res->ai_addrlen) == -1)
		fatal("--listen \"%s\": bind", arg);
	freeaddrinfo(res);
	if (listen(sink.lfd, 4096) == -1)
		fatal("--listen \"%s\": listen", arg);
	if (getsockname(sink.lfd, (struct sockaddr *)&ss, &sl) == -1)
		fatal("getsockname");
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Write the port to path through a temporary file and a rename, so a
 * reader never sees it half-written. */
static void
port_file(const char *path, int port)
{
	struct buf	 tmp;
	FILE		*f;

	buf_init(&tmp, 4096);
	if (buf_printf(&tmp, "%s.tmp", path) == -1)
		fatalx("--port-file: path too long");
	if ((f = fopen(tmp.data, "we")) == NULL)
		fatal("--port-file \"%s\"", tmp.data);
	fprintf(f, "%d\n", port);
	if (fclose(f) == EOF || rename(tmp.data, path) == -1)
		fatal("--port-file \"%s\"", path);
	buf_free(&tmp);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
"usage: httpsink --listen HOST:PORT --cert FILE --key FILE [options]\n"
"  --listen HOST:PORT      IPv4, [IPv6] or name; port 0: any (printed as\n"
"                          \"ready PORT\" on stdout)\n"
"  --port-file FILE        write the port there too\n"
"  --cert FILE, --key FILE PEM certificate chain and key (always TLS)\n"
"  --secret whsec_BASE64   check Standard Webhooks signatures (repeatable)\n"
"  --reject-bad-signature  answer 401 to POSTs with no valid signature\n"
"  --out FILE              append one JSON line per request\n"
"  --discard               keep nothing, count only (benchmarks)\n"
"  --script FILE           rules, first match wins, re-read on change:\n"
"      match REGEX [times N] status CODE [retry-after V] [location URL]\n"
"            [body TEXT] [delay MS] [close] [drop]\n"
"  -v, --verbose           say why connections and requests failed\n"
"SIGUSR1 prints counts; SIGTERM/SIGINT print \"requests N\" and exit 0.\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	static const struct option	 opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "secret", required_argument, NULL, 's' },
		{ "reject-bad-signature", no_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ "discard", no_argument, NULL, 'd' },
		{ "script", required_argument, NULL, 'S' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct epoll_event	 evs[SINK_EVENTS], e;
	struct sink_conn	*c;
	struct rlimit		 rl;
	sigset_t		 mask;
	const char		*listen_arg = NULL, *pfile = NULL;
	const char		*cert = NULL, *key = NULL, *out = NULL;
	int			 ch, i, n, port;

	log_init("httpsink");
	sink.ep = sink.lfd = sink.sfd = -1;
	while ((ch = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			listen_arg = optarg;
			break;
		case 'p':
			pfile = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 's':
			if (secret_add(optarg) == -1)
				exit(2);
			break;
		case 'r':
			sink.reject_bad = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case 'd':
			sink.discard = 1;
			break;
		case 'S':
			sink.script_path = optarg;
			break;
		case 'v':
			sink.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || listen_arg == NULL || cert == NULL || key == NULL)
		usage();
	if (sink.reject_bad && sink.nsecrets == 0)
		fatalx("--reject-bad-signature needs --secret");
	if (out != NULL && sink.discard)
		fatalx("--out and --discard exclude each other");

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1 ||
	    (sink.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	/* Thousands of connections. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	tls_setup(cert, key);
	if (sink.script_path != NULL) {
		if (stat(sink.script_path, &sink.script_st) == -1)
			fatal("--script \"%s\"", sink.script_path);
		if (script_load(sink.script_path, &sink.script) == -1)
			exit(1);
		sink.script_checked = now_ms();
	}
	if (out != NULL && (sink.out = fopen(out, "ae")) == NULL)
		fatal("--out \"%s\"", out);
	port = listen_setup(listen_arg);
	if ((sink.ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	memset(&e, 0, sizeof(e));
	e.events = EPOLLIN;
	e.data.ptr = &tag_listen;
	if (epoll_ctl(sink.ep, EPOLL_CTL_ADD, sink.lfd, &e) == -1)
		fatal("epoll_ctl listen");
	e.data.ptr = &tag_signal;
	if (epoll_ctl(sink.ep, EPOLL_CTL_ADD, sink.sfd, &e) == -1)
		fatal("epoll_ctl signalfd");
	if (pfile != NULL)
		port_file(pfile, port);
	printf("ready %d\n", port);
	fflush(stdout);

	while (!sink.quit) {
		n = epoll_wait(sink.ep, evs, SINK_EVENTS, sink_timeout());
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &tag_listen)
				sink_accept();
			else if (evs[i].data.ptr == &tag_signal)
				sink_signal();
			else
				conn_event(evs[i].data.ptr, evs[i].events);
		}
		if (sink.timers != NULL || sink.accept_paused)
			sink_timers();
	}

	while ((c = sink.conns) != NULL)
		conn_free(c);
	script_free(&sink.script);
	for (i = 0; i < (int)sink.nsecrets; i++)
		EVP_MAC_CTX_free(sink.secrets[i]);
	free(sink.secrets);
	free(sink.macs);
	EVP_MAC_free(sink.mac);
	SSL_CTX_free(sink.ctx);
	if (sink.out != NULL)
		fclose(sink.out);
	close(sink.lfd);
	close(sink.sfd);
	close(sink.ep);
	fprintf(stderr, "requests %" PRIu64 "\n", sink.nreq);
	return 0;
}
