/* webhook.c - HTTPS POSTs of signed notices through libcurl's multi
 * interface in the daemon's loop (see webhook.h).  A job waits in its
 * host's queue (scheme, host, port) until the host has a free connection
 * and a rate token; only then is it handed to curl, on one of the host's
 * easy handles, which are kept and reused.  Jobs are owned here from
 * webhook_submit until their one report and freed right after it; secrets
 * live only in the HMAC contexts and are never logged.
 * Work happens in two entry points, a socket's event and the loop timer
 * that carries every deadline (curl's timer, rate tokens, the host sweep;
 * removed when the sender is freed, on reload while the loop lives on).
 * Each entry point ends by settling (starting what may start, running
 * curl's expired timers) and arming the timer if needed. */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509_vfy.h>
#include <zmq.h>

#include "buf.h"
#include "civil.h"
#include "config.h"
#include "loop.h"
#include "tls.h"
#include "webhook.h"

#ifndef OUTREACH_VERSION		/* the fuzzer's build does not say */
#define OUTREACH_VERSION	"0"
#endif
#define WH_USER_AGENT		"outreachd/" OUTREACH_VERSION
#define WH_HOST_BUCKETS		256
#define WH_HOST_IDLE_MS		(60 * 1000)	/* forget a quiet host */
#define WH_SWEEP_MS		(10 * 1000)
#define WH_CONNECT_MAX_MS	10000
#define WH_SECRETS_FILE_MAX	(64 * 1024)
#define WH_TEXT_MAX		512
#define WH_SETTLE_ROUNDS	16	/* then yield to the loop */

/* HMAC-SHA256 contexts, one per key, keyed once and reset per message. */
struct wh_signer {
	EVP_MAC		*mac;
	EVP_MAC_CTX	*ctx[WEBHOOK_SECRETS_MAX];
	size_t		 n;
};

struct wh_host;

struct wh_job {
	TAILQ_ENTRY(wh_job)	 entry;
	struct wh_host		*host;
	uint64_t		 cookie;
	char			*url;		/* normalised by curl */
	const char		*path;		/* in url: path and query,
						   redacted from texts */
	char			*id;
	char			*body;
	size_t			 len;
};
TAILQ_HEAD(wh_jobs, wh_job);

/* An easy handle with its options set for one host; the per-request
 * headers are our own list nodes pointing into this struct (curl reads a
 * CURLOPT_HTTPHEADER list, it never frees or changes it), so a request
 * allocates no header list. */
enum { WH_HDR_CTYPE, WH_HDR_EXPECT, WH_HDR_ID, WH_HDR_TS, WH_HDR_SIG,
    WH_NHDR };

struct wh_easy {
	TAILQ_ENTRY(wh_easy)	 entry;		/* host's idle list or
						   wh->running */
	struct webhook		*wh;
	struct wh_host		*host;
	CURL			*curl;
	struct wh_job		*job;		/* running; NULL when idle */
	struct curl_slist	 hdr[WH_NHDR];
	char			 idhdr[sizeof("webhook-id: ") +
				    WEBHOOK_ID_MAX];
	char			 tshdr[48];
	char			 sighdr[sizeof("webhook-signature: ") +
				    WEBHOOK_SECRETS_MAX * 48];
	char			 errbuf[CURL_ERROR_SIZE];
	char			 refused[128];	/* why opensocket said no */
	char			 tlserr[256];	/* why the SSL_CTX callback did */
	int64_t			 last_ms;
};
TAILQ_HEAD(wh_easies, wh_easy);

struct wh_host {
	struct wh_host		*hnext;		/* hash chain */
	TAILQ_ENTRY(wh_host)	 entry;		/* wh->hosts */
	TAILQ_ENTRY(wh_host)	 wentry;	/* wh->waiting */
	int			 waiting;
	int64_t			 wait_ms;	/* on wh->waiting until then */
	uint32_t		 hash;
	char			*key;		/* "host:port", lower case */
	char			*label;		/* "host" or "host:port" */
	char			*name;		/* host alone, for texts */
	struct wh_jobs		 queue;
	size_t			 nqueued, nrunning;
	struct wh_easies	 idle;
	size_t			 neasy;
	double			 tokens;
	int64_t			 refill_ms;
	int64_t			 last_ms;
	uint64_t		 sent, retry, failed, gone;
};
TAILQ_HEAD(wh_hosts, wh_host);

/* A socket curl asked us to watch. */
struct wh_sock {
	LIST_ENTRY(wh_sock)	 entry;
	struct webhook		*wh;
	curl_socket_t		 fd;
};

struct webhook {
	struct loop			*loop;
	const struct cfg_webhooks	*cfg;
	const struct cfg_tls		*tls;
	webhook_done_cb			 done;
	void				*arg;
	CURLM				*multi;
	int				 curl_inited;
	int64_t				 curl_due;	/* -1: no timer */
	int				 timer;		/* the loop timer is added */
	int64_t				 armed;		/* its deadline, -1 */
	int				 busy;		/* in an entry point */
	struct wh_signer		 signer;
	struct wh_host			*buckets[WH_HOST_BUCKETS];
	struct wh_hosts			 hosts;
	size_t				 nhosts;
	struct wh_hosts			 waiting;
	struct wh_easies		 running;
	LIST_HEAD(, wh_sock)		 socks;
	size_t				 njobs;		/* queued + running */
	size_t				 nbytes;	/* their bodies */
	int64_t				 sweep_ms;
	int				 maxconn;
	int				 timeout_ms;
	int64_t				 cap_s;
	int				 freeing;
	struct buf			 sig;
	char				 text[WH_TEXT_MAX];
};

static void	wh_pump(struct webhook *, struct wh_host *, int64_t);
static void	wh_settle(struct webhook *);

/* ---- signing ---- */

static void
wh_signer_clear(struct wh_signer *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		EVP_MAC_CTX_free(s->ctx[i]);
	EVP_MAC_free(s->mac);
	memset(s, 0, sizeof(*s));
}

static int
wh_signer_init(struct wh_signer *s, const unsigned char *const *keys,
    const size_t *keylens, size_t nkeys)
{
	OSSL_PARAM	params[2];
	size_t		i;

	memset(s, 0, sizeof(*s));
	if (nkeys == 0 || nkeys > WEBHOOK_SECRETS_MAX)
		return -1;
	if ((s->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return -1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	for (i = 0; i < nkeys; i++) {
		if (keys[i] == NULL || keylens[i] == 0)
			goto fail;
		if ((s->ctx[i] = EVP_MAC_CTX_new(s->mac)) == NULL)
			goto fail;
		s->n++;
		if (EVP_MAC_init(s->ctx[i], keys[i], keylens[i], params) != 1)
			goto fail;
	}
	return 0;
fail:
	wh_signer_clear(s);
	return -1;
}

static int
wh_signer_sign(struct wh_signer *s, const char *id, int64_t ts,
    const char *body, size_t len, struct buf *out)
{
	unsigned char	md[EVP_MAX_MD_SIZE];
	unsigned char	b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	char		tsbuf[32];
	size_t		i, mdlen;
	int		tslen;

	buf_reset(out);
	tslen = snprintf(tsbuf, sizeof(tsbuf), ".%lld.", (long long)ts);
	if (tslen <= 0 || (size_t)tslen >= sizeof(tsbuf))
		return -1;
	for (i = 0; i < s->n; i++) {
		/* A NULL key resets the context to the key it was given. */
		if (EVP_MAC_init(s->ctx[i], NULL, 0, NULL) != 1 ||
		    EVP_MAC_update(s->ctx[i], (const unsigned char *)id,
		    strlen(id)) != 1 ||
		    EVP_MAC_update(s->ctx[i], (const unsigned char *)tsbuf,
		    (size_t)tslen) != 1 ||
		    (len > 0 && EVP_MAC_update(s->ctx[i],
		    (const unsigned char *)body, len) != 1) ||
		    EVP_MAC_final(s->ctx[i], md, &mdlen, sizeof(md)) != 1)
			return -1;
		EVP_EncodeBlock(b64, md, (int)mdlen);
		if (buf_printf(out, "%sv1,%s", i > 0 ? " " : "",
		    (const char *)b64) == -1)
			return -1;
	}
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int
webhook_sign(const unsigned char *const *keys, const size_t *keylens,
    size_t nkeys, const char *id, int64_t timestamp, const char *body,
    size_t len, struct buf *out)
{
	struct wh_signer	s;
	int			rc;

	if (out == NULL)
		return -1;
	buf_reset(out);
	if (keys == NULL || keylens == NULL || id == NULL ||
	    (body == NULL && len > 0))
		return -1;
	if (wh_signer_init(&s, keys, keylens, nkeys) == -1)
		return -1;
	rc = wh_signer_sign(&s, id, timestamp, body, len, out);
	wh_signer_clear(&s);
	if (rc == -1)
		buf_reset(out);
	return rc;
}

static int
wh_b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
webhook_secret_decode(const char *secret, unsigned char *key,
    size_t *keylen)
{
	const char	*p;
	size_t		 n, i, out = 0, cap, pad = 0;
	unsigned int	 acc = 0;
	int		 bits = 0, v;

	if (secret == NULL || key == NULL || keylen == NULL)
		return -1;
	cap = *keylen;
	if (strncmp(secret, "whsec_", 6) != 0)
		return -1;
	p = secret + 6;
	n = strlen(p);
	/* Standard base64; the padding may be left out. */
	while (n > 0 && p[n - 1] == '=') {
		n--;
		pad++;
	}
	if (n == 0 || pad > 2 || n % 4 == 1 || (pad > 0 && (n + pad) % 4))
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = wh_b64val((unsigned char)p[i])) < 0)
			return -1;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (out == cap)
				return -1;
			key[out++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*keylen = out;
	return 0;
}

/* ---- Retry-After ---- */

static const char *const wh_wdays[] = { "Mon", "Tue", "Wed", "Thu", "Fri",
    "Sat", "Sun" };
static const char *const wh_lwdays[] = { "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday" };
static const char *const wh_months[] = { "Jan", "Feb", "Mar", "Apr", "May",
    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Exactly n digits at *pp. */
static int
wh_digits(const char **pp, int n, int *out)
{
	const char	*p = *pp;
	int		 v = 0, i;

	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*pp = p + n;
	*out = v;
	return 0;
}

static int
wh_lit(const char **pp, const char *s)
{
	size_t	n = strlen(s);

	if (strncmp(*pp, s, n) != 0)
		return -1;
	*pp += n;
	return 0;
}

/* One of tab's words (compared without case) at *pp; its index or -1. */
static int
wh_word(const char **pp, const char *const *tab, int ntab)
{
	size_t	n;
	int	i;

	for (i = 0; i < ntab; i++) {
		n = strlen(tab[i]);
		if (strncasecmp(*pp, tab[i], n) == 0 &&
		    !((*pp)[n] >= 'a' && (*pp)[n] <= 'z') &&
		    !((*pp)[n] >= 'A' && (*pp)[n] <= 'Z')) {
			*pp += n;
			return i;
		}
	}
	return -1;
}

static int
wh_hms(const char **pp, int *h, int *mi, int *s)
{
	if (wh_digits(pp, 2, h) == -1 || wh_lit(pp, ":") == -1 ||
	    wh_digits(pp, 2, mi) == -1 || wh_lit(pp, ":") == -1 ||
	    wh_digits(pp, 2, s) == -1)
		return -1;
	return *h <= 23 && *mi <= 59 && *s <= 60 ? 0 : -1;
}

/* An HTTP date (IMF-fixdate, RFC 850 or asctime) in s (NUL-terminated)
 * as seconds since the epoch; 0 or -1. */
static int
wh_http_date(const char *s, int64_t now, int64_t *out)
{
	const char	*p = s;
	struct tm	 tm;
	time_t		 tnow;
	int		 d, mon, y, h, mi, sec, cy;
	int64_t		 year;

	if (wh_word(&p, wh_wdays, 7) >= 0) {
		if (*p == ',') {
			/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
			if (wh_lit(&p, ", ") == -1 ||
			    wh_digits(&p, 2, &d) == -1 ||
			    wh_lit(&p, " ") == -1 ||
			    (mon = wh_word(&p, wh_months, 12)) < 0 ||
			    wh_lit(&p, " ") == -1 ||
			    wh_digits(&p, 4, &y) == -1 ||
			    wh_lit(&p, " ") == -1 ||
			    wh_hms(&p, &h, &mi, &sec) == -1 ||
			    wh_lit(&p, " GMT") == -1 || *p != '\0')
				return -1;
			year = y;
		} else {
			/* asctime: Sun Nov  6 08:49:37 1994 */
			if (wh_lit(&p, " ") == -1 ||
			    (mon = wh_word(&p, wh_months, 12)) < 0 ||
			    wh_lit(&p, " ") == -1)
				return -1;
			if (*p == ' ') {
				p++;
				if (wh_digits(&p, 1, &d) == -1)
					return -1;
			} else if (wh_digits(&p, 2, &d) == -1)
				return -1;
			if (wh_lit(&p, " ") == -1 ||
			    wh_hms(&p, &h, &mi, &sec) == -1 ||
			    wh_lit(&p, " ") == -1 ||
			    wh_digits(&p, 4, &y) == -1 || *p != '\0')
				return -1;
			year = y;
		}
	} else if (wh_word(&p, wh_lwdays, 7) >= 0) {
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
		if (wh_lit(&p, ", ") == -1 || wh_digits(&p, 2, &d) == -1 ||
		    wh_lit(&p, "-") == -1 ||
		    (mon = wh_word(&p, wh_months, 12)) < 0 ||
		    wh_lit(&p, "-") == -1 || wh_digits(&p, 2, &y) == -1 ||
		    wh_lit(&p, " ") == -1 || wh_hms(&p, &h, &mi, &sec) == -1 ||
		    wh_lit(&p, " GMT") == -1 || *p != '\0')
			return -1;
		/* RFC 9110 5.6.7: more than 50 years ahead means the most
		 * recent past year with those two digits. */
		tnow = (time_t)now;
		if (gmtime_r(&tnow, &tm) == NULL)
			return -1;
		cy = tm.tm_year + 1900;
		year = cy - cy % 100 + y;
		if (year > cy + 50)
			year -= 100;
	} else
		return -1;
	mon++;
	if (d < 1 || d > civil_month_days(year, mon))
		return -1;
	*out = civil_days(year, mon, d) * 86400 + h * 3600 +
	    mi * 60 + sec;
	return 0;
}

int64_t
webhook_retry_after(const char *value, int64_t now, int64_t cap_s)
{
	char		 date[64];
	const char	*p, *end;
	int64_t		 secs, t;
	size_t		 n;

	if (value == NULL)
		return -1;
	if (cap_s < 0)
		cap_s = 0;
	if (cap_s > INT64_MAX / 1000)
		cap_s = INT64_MAX / 1000;
	for (p = value; *p == ' ' || *p == '\t'; p++)
		;
	for (end = p + strlen(p); end > p && (end[-1] == ' ' ||
	    end[-1] == '\t'); end--)
		;
	n = (size_t)(end - p);
	if (n == 0)
		return -1;
	if (p[0] >= '0' && p[0] <= '9') {
		secs = 0;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			if (secs <= cap_s)
				secs = secs * 10 + (*p - '0');
		}
	} else {
		if (n >= sizeof(date))
			return -1;
		memcpy(date, p, n);
		date[n] = '\0';
		if (wh_http_date(date, now, &t) == -1)
			return -1;
		secs = t > now ? t - now : 0;
	}
	if (secs > cap_s)
		secs = cap_s;
	return secs * 1000;
}

/* ---- the address policy ---- */

enum wh_addr_kind {
	WH_ADDR_PUBLIC = 0,
	WH_ADDR_LOOPBACK,
	WH_ADDR_PRIVATE,
	WH_ADDR_NEVER,
};

static enum wh_addr_kind
wh_addr_v4(uint32_t a, const char **why)
{
	if (a == 0xffffffffu) {
		*why = "broadcast";
		return WH_ADDR_NEVER;
	}
	if (a == 0) {
		*why = "unspecified";
		return WH_ADDR_NEVER;
	}
	if ((a >> 24) == 0 || (a >> 28) == 0xf) {	/* 0/8, 240/4 */
		*why = "reserved";
		return WH_ADDR_NEVER;
	}
	if ((a >> 24) == 127) {
		*why = "loopback";
		return WH_ADDR_LOOPBACK;
	}
	if ((a >> 16) == 0xa9fe) {			/* 169.254/16 */
		*why = "link-local";
		return WH_ADDR_NEVER;
	}
	if ((a >> 28) == 0xe) {				/* 224/4 */
		*why = "multicast";
		return WH_ADDR_NEVER;
	}
	if ((a >> 24) == 10 || (a >> 20) == 0xac1 ||	/* 10/8, 172.16/12 */
	    (a >> 16) == 0xc0a8 ||			/* 192.168/16 */
	    (a >> 22) == (0x64400000u >> 22)) {		/* 100.64/10 */
		*why = "private";
		return WH_ADDR_PRIVATE;
	}
	*why = NULL;
	return WH_ADDR_PUBLIC;
}

static uint32_t
wh_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static enum wh_addr_kind
wh_addr_v6(const unsigned char *a, const char **why)
{
	static const unsigned char	zero[12];
	static const unsigned char	mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0xff, 0xff };
	static const unsigned char	nat64[12] = { 0, 0x64, 0xff, 0x9b };

	if (memcmp(a, zero, 12) == 0) {
		if (wh_be32(a + 12) == 0) {
			*why = "unspecified";
			return WH_ADDR_NEVER;
		}
		if (wh_be32(a + 12) == 1) {
			*why = "loopback";
			return WH_ADDR_LOOPBACK;
		}
		return wh_addr_v4(wh_be32(a + 12), why);  /* compatible */
	}
	/* Forms that reach an IPv4 address: mapped, NAT64, 6to4. */
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return wh_addr_v4(wh_be32(a + 12), why);
	if (a[0] == 0x20 && a[1] == 0x02)
		return wh_addr_v4(wh_be32(a + 2), why);
	if (a[0] == 0xff) {
		*why = "multicast";
		return WH_ADDR_NEVER;
	}
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) {
		*why = "link-local";
		return WH_ADDR_NEVER;
	}
	if ((a[0] & 0xfe) == 0xfc ||				/* fc00::/7 */
	    (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)) {		/* fec0::/10 */
		*why = "private";
		return WH_ADDR_PRIVATE;
	}
	*why = NULL;
	return WH_ADDR_PUBLIC;
}

int
webhook_address_refused(const struct cfg_webhooks *w,
    const struct sockaddr *sa, const char **why)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	enum wh_addr_kind		 k;
	const char			*r = NULL;
	int				 refused;

	if (sa == NULL) {
		r = "not an internet address";
		k = WH_ADDR_NEVER;
	} else if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		k = wh_addr_v4(ntohl(sin->sin_addr.s_addr), &r);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		k = wh_addr_v6(sin6->sin6_addr.s6_addr, &r);
	} else {
		r = "not an internet address";
		k = WH_ADDR_NEVER;
	}
	switch (k) {
	case WH_ADDR_LOOPBACK:
		refused = w == NULL || !w->allow_loopback;
		break;
	case WH_ADDR_PRIVATE:
		refused = w == NULL || !w->allow_private;
		break;
	case WH_ADDR_NEVER:
		refused = 1;
		break;
	default:
		refused = 0;
		break;
	}
	if (why != NULL)
		*why = refused ? r : NULL;
	return refused;
}

/* ---- hosts, jobs and reports ---- */

static uint32_t
wh_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The text of a report: "name: " then the message, control characters
 * replaced, the job's path and any URL removed. */
static const char *
wh_text(struct webhook *wh, const struct wh_job *job, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *
wh_text(struct webhook *wh, const struct wh_job *job, const char *fmt, ...)
{
	char		 raw[WH_TEXT_MAX], *o, *end;
	const char	*p, *w;
	size_t		 plen, n;
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	plen = job->path != NULL ? strlen(job->path) : 0;
	n = (size_t)snprintf(wh->text, sizeof(wh->text), "%.253s: ",
	    job->host->name);
	if (n >= sizeof(wh->text))
		n = sizeof(wh->text) - 1;
	o = wh->text + n;
	end = wh->text + sizeof(wh->text) - 1;
	for (p = raw; *p != '\0' && o < end; ) {
		if (plen > 1 && strncmp(p, job->path, plen) == 0) {
			p += plen;
			continue;
		}
		/* A word holding "://" is a URL: drop it whole. */
		for (w = p; *w != '\0' && *w != ' ' && *w != '\'' &&
		    *w != '"'; w++)
			if (w[0] == ':' && w[1] == '/' && w[2] == '/')
				break;
		if (*w == ':' && (p == raw || p[-1] == ' ' || p[-1] == '\'' ||
		    p[-1] == '"')) {
			while (*p != '\0' && *p != ' ' && *p != '\'' &&
			    *p != '"')
				p++;
			if (o + 5 < end) {
				memcpy(o, "(URL)", 5);
				o += 5;
			}
			continue;
		}
		*o++ = (unsigned char)*p < 0x20 || *p == 0x7f ? ' ' : *p;
		p++;
	}
	while (o > wh->text + n && (o[-1] == ' ' || o[-1] == '.'))
		o--;
	*o = '\0';
	return wh->text;
}

static void
wh_report(struct webhook *wh, struct wh_job *job, enum webhook_result r,
    int status, int64_t retry_after_ms, const char *text)
{
	struct webhook_done	d;
	struct wh_host		*h = job->host;

	switch (r) {
	case WEBHOOK_SENT:
		h->sent++;
		break;
	case WEBHOOK_RETRY:
		h->retry++;
		break;
	case WEBHOOK_FAILED:
		h->failed++;
		break;
	case WEBHOOK_GONE:
		h->gone++;
		break;
	default:
		break;
	}
	wh->njobs--;
	wh->nbytes -= job->len;
	memset(&d, 0, sizeof(d));
	d.cookie = job->cookie;
	d.result = r;
	d.http_status = status;
	d.retry_after_ms = retry_after_ms;
	d.text = text;
	free(job);
	wh->done(wh->arg, &d);
}

static void
wh_host_wait(struct webhook *wh, struct wh_host *h, int64_t when)
{
	if (h->waiting) {
		if (when < h->wait_ms)
			h->wait_ms = when;
		return;
	}
	h->waiting = 1;
	h->wait_ms = when;
	TAILQ_INSERT_TAIL(&wh->waiting, h, wentry);
}

static void
wh_host_unwait(struct webhook *wh, struct wh_host *h)
{
	if (h->waiting) {
		TAILQ_REMOVE(&wh->waiting, h, wentry);
		h->waiting = 0;
	}
}

static void
wh_easy_free(struct wh_easy *e)
{
	if (e == NULL)
		return;
	if (e->curl != NULL)
		curl_easy_cleanup(e->curl);
	free(e);
}

static void
wh_host_free(struct webhook *wh, struct wh_host *h)
{
	struct wh_host	**pp;
	struct wh_easy	 *e;

	for (pp = &wh->buckets[h->hash % WH_HOST_BUCKETS]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == h) {
			*pp = h->hnext;
			break;
		}
	wh_host_unwait(wh, h);
	TAILQ_REMOVE(&wh->hosts, h, entry);
	wh->nhosts--;
	while ((e = TAILQ_FIRST(&h->idle)) != NULL) {
		TAILQ_REMOVE(&h->idle, e, entry);
		wh_easy_free(e);
	}
	free(h->key);
	free(h->label);
	free(h->name);
	free(h);
}

/* The host for key, made when new.  NULL when out of memory. */
static struct wh_host *
wh_host_get(struct webhook *wh, const char *key, const char *name,
    int port)
{
	struct wh_host	*h;
	struct buf	 b;
	uint32_t	 hv = wh_hash(key);

	for (h = wh->buckets[hv % WH_HOST_BUCKETS]; h != NULL; h = h->hnext)
		if (h->hash == hv && strcmp(h->key, key) == 0)
			return h;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	buf_init(&b, 0);
	if (port == 443)
		buf_adds(&b, name);
	else
		buf_printf(&b, "%s:%d", name, port);
	h->label = buf_release(&b);
	h->key = strdup(key);
	h->name = strdup(name);
	if (h->label == NULL || h->key == NULL || h->name == NULL) {
		free(h->label);
		free(h->key);
		free(h->name);
		free(h);
		return NULL;
	}
	h->hash = hv;
	TAILQ_INIT(&h->queue);
	TAILQ_INIT(&h->idle);
	h->tokens = wh->cfg->rate_per_host > 0 ?
	    (wh->cfg->rate_per_host >= 10 ? wh->cfg->rate_per_host / 10.0 : 1) :
	    0;
	h->refill_ms = h->last_ms = loop_now_ms();
	h->hnext = wh->buckets[hv % WH_HOST_BUCKETS];
	wh->buckets[hv % WH_HOST_BUCKETS] = h;
	TAILQ_INSERT_TAIL(&wh->hosts, h, entry);
	wh->nhosts++;
	return h;
}

/* ---- curl callbacks ---- */

static size_t
wh_discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

/* Every connection goes through here, so the policy sees the address
 * actually connected to, whatever the name resolved to. */
static curl_socket_t
wh_opensocket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct wh_easy	*e = arg;
	const void	*ip;
	const char	*why;
	char		 addr[INET6_ADDRSTRLEN];
	int		 fd;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	if (webhook_address_refused(e->wh->cfg, &a->addr, &why)) {
		if (a->family == AF_INET)
			ip = &((const struct sockaddr_in *)(const void *)
			    &a->addr)->sin_addr;
		else if (a->family == AF_INET6)
			ip = &((const struct sockaddr_in6 *)(const void *)
			    &a->addr)->sin6_addr;
		else
			ip = NULL;
		if (ip == NULL || inet_ntop(a->family, ip, addr,
		    sizeof(addr)) == NULL)
			snprintf(addr, sizeof(addr), "(family %d)", a->family);
		snprintf(e->refused, sizeof(e->refused),
		    "address %s is %s (not allowed)", addr, why);
		return CURL_SOCKET_BAD;
	}
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	return fd == -1 ? CURL_SOCKET_BAD : fd;
}

static CURLcode
wh_sslctx(CURL *curl, void *sslctx, void *arg)
{
	struct wh_easy	*e = arg;

	(void)curl;
	if (tls_ctx_apply(sslctx, e->wh->tls, e->tlserr,
	    sizeof(e->tlserr)) == -1)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

static void
wh_io(void *arg, short revents)
{
	struct wh_sock	*s = arg;
	struct webhook	*wh = s->wh;
	int		 flags = 0, running;

	if (revents & ZMQ_POLLIN)
		flags |= CURL_CSELECT_IN;
	if (revents & ZMQ_POLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (revents & ZMQ_POLLERR)
		flags |= CURL_CSELECT_ERR;
	/* s may be freed inside (CURL_POLL_REMOVE). */
	wh->busy = 1;
	curl_multi_socket_action(wh->multi, s->fd, flags, &running);
	wh_settle(wh);
	wh->busy = 0;
}

static int
wh_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct webhook	*wh = arg;
	struct wh_sock	*s = sockp;
	short		 ev = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			loop_remove_fd(wh->loop, fd);
			LIST_REMOVE(s, entry);
			free(s);
			curl_multi_assign(wh->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= ZMQ_POLLIN;
	if (what & CURL_POLL_OUT)
		ev |= ZMQ_POLLOUT;
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		s->wh = wh;
		s->fd = fd;
		if (loop_add_fd(wh->loop, fd, ev, wh_io, s) == -1) {
			free(s);
			return -1;
		}
		LIST_INSERT_HEAD(&wh->socks, s, entry);
		curl_multi_assign(wh->multi, fd, s);
	} else
		loop_set_fd_events(wh->loop, fd, ev);
	return 0;
}

static int
wh_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct webhook	*wh = arg;

	(void)multi;
	wh->curl_due = timeout_ms < 0 ? -1 : loop_now_ms() + timeout_ms;
	return 0;
}

/* ---- easy handles and transfers ---- */

/* An easy handle set up for h: everything but the URL, the body and the
 * three per-attempt headers.  NULL when curl refused or out of memory. */
static struct wh_easy *
wh_easy_new(struct webhook *wh, struct wh_host *h)
{
	struct wh_easy		*e;
	const struct cfg_tls	*t = wh->tls;
	CURL			*c;
	CURLcode		 rc = CURLE_OK;
	int			 i;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->wh = wh;
	e->host = h;
	if ((c = e->curl = curl_easy_init()) == NULL)
		goto fail;
	e->hdr[WH_HDR_CTYPE].data = (char *)"Content-Type: application/json";
	e->hdr[WH_HDR_EXPECT].data = (char *)"Expect:";
	e->hdr[WH_HDR_ID].data = e->idhdr;
	e->hdr[WH_HDR_TS].data = e->tshdr;
	e->hdr[WH_HDR_SIG].data = e->sighdr;
	for (i = 0; i < WH_NHDR - 1; i++)
		e->hdr[i].next = &e->hdr[i + 1];
	e->hdr[WH_NHDR - 1].next = NULL;

#define WH_SET(opt, val) do {						\
	if (rc == CURLE_OK)						\
		rc = curl_easy_setopt(c, opt, val);			\
} while (0)
	WH_SET(CURLOPT_PRIVATE, e);
	WH_SET(CURLOPT_NOSIGNAL, 1L);
	WH_SET(CURLOPT_PROTOCOLS_STR, "https");
	WH_SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	WH_SET(CURLOPT_FOLLOWLOCATION, 0L);
	/* "" and "*": no proxy, whatever the environment says. */
	WH_SET(CURLOPT_PROXY, "");
	WH_SET(CURLOPT_NOPROXY, "*");
	WH_SET(CURLOPT_SSL_VERIFYPEER, 1L);
	WH_SET(CURLOPT_SSL_VERIFYHOST, 2L);
	WH_SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (t != NULL && t->ca_file != NULL)
		WH_SET(CURLOPT_CAINFO, t->ca_file);
	if (t != NULL && t->cert_file != NULL)
		WH_SET(CURLOPT_SSLCERT, t->cert_file);
	if (t != NULL && t->key_file != NULL)
		WH_SET(CURLOPT_SSLKEY, t->key_file);
	WH_SET(CURLOPT_SSL_CTX_FUNCTION, wh_sslctx);
	WH_SET(CURLOPT_SSL_CTX_DATA, e);
	WH_SET(CURLOPT_OPENSOCKETFUNCTION, wh_opensocket);
	WH_SET(CURLOPT_OPENSOCKETDATA, e);
	WH_SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	WH_SET(CURLOPT_POST, 1L);
	WH_SET(CURLOPT_HTTPHEADER, &e->hdr[0]);
	WH_SET(CURLOPT_USERAGENT, WH_USER_AGENT);
	WH_SET(CURLOPT_WRITEFUNCTION, wh_discard);
	WH_SET(CURLOPT_ERRORBUFFER, e->errbuf);
	WH_SET(CURLOPT_TIMEOUT_MS, (long)wh->timeout_ms);
	WH_SET(CURLOPT_CONNECTTIMEOUT_MS, (long)(wh->timeout_ms <
	    WH_CONNECT_MAX_MS ? wh->timeout_ms : WH_CONNECT_MAX_MS));
#undef WH_SET
	if (rc != CURLE_OK)
		goto fail;
	h->neasy++;
	return e;
fail:
	wh_easy_free(e);
	return NULL;
}

/* Hand job to curl on one of h's easy handles, signed now.  0, or -1 (the
 * job is still the caller's). */
static int
wh_start(struct webhook *wh, struct wh_host *h, struct wh_job *job)
{
	struct wh_easy	*e;
	int64_t		 ts;
	int		 n;

	if ((e = TAILQ_FIRST(&h->idle)) != NULL)
		TAILQ_REMOVE(&h->idle, e, entry);
	else if ((e = wh_easy_new(wh, h)) == NULL)
		return -1;
	ts = (int64_t)time(NULL);
	if (wh_signer_sign(&wh->signer, job->id, ts, job->body, job->len,
	    &wh->sig) == -1)
		goto fail;
	snprintf(e->idhdr, sizeof(e->idhdr), "webhook-id: %s", job->id);
	snprintf(e->tshdr, sizeof(e->tshdr), "webhook-timestamp: %lld",
	    (long long)ts);
	n = snprintf(e->sighdr, sizeof(e->sighdr), "webhook-signature: %s",
	    wh->sig.data);
	if (n < 0 || (size_t)n >= sizeof(e->sighdr))
		goto fail;
	e->errbuf[0] = e->refused[0] = e->tlserr[0] = '\0';
	if (curl_easy_setopt(e->curl, CURLOPT_URL, job->url) != CURLE_OK ||
	    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)job->len) != CURLE_OK ||
	    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, job->body) !=
	    CURLE_OK)
		goto fail;
	e->job = job;
	if (curl_multi_add_handle(wh->multi, e->curl) != CURLM_OK) {
		e->job = NULL;
		goto fail;
	}
	TAILQ_INSERT_TAIL(&wh->running, e, entry);
	h->nrunning++;
	return 0;
fail:
	TAILQ_INSERT_HEAD(&h->idle, e, entry);
	return -1;
}

/* Start h's queued jobs while it has a free connection and a token. */
static void
wh_pump(struct webhook *wh, struct wh_host *h, int64_t now)
{
	struct wh_job	*job;
	int		 rate = wh->cfg->rate_per_host;
	double		 cap = rate >= 10 ? rate / 10.0 : 1;

	while ((job = TAILQ_FIRST(&h->queue)) != NULL &&
	    h->nrunning < (size_t)wh->maxconn) {
		if (rate > 0) {
			/* A token bucket holding a tenth of a second. */
			if (now > h->refill_ms) {
				h->tokens += (double)(now - h->refill_ms) *
				    rate / 1000.0;
				h->refill_ms = now;
			}
			if (h->tokens > cap)
				h->tokens = cap;
			if (h->tokens < 1) {
				wh_host_wait(wh, h, now + 1 +
				    (int64_t)((1 - h->tokens) * 1000 / rate));
				return;
			}
		}
		TAILQ_REMOVE(&h->queue, job, entry);
		h->nqueued--;
		h->last_ms = now;
		if (wh_start(wh, h, job) == -1) {
			wh_report(wh, job, WEBHOOK_RETRY, 0, -1, wh_text(wh,
			    job, "cannot start the request (out of memory)"));
			continue;
		}
		if (rate > 0)
			h->tokens -= 1;
	}
}

static int
wh_tls_code(CURLcode c)
{
	switch (c) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		return 1;
	default:
		return 0;
	}
}

/* Classify a finished transfer, report it, and start what waits. */
static void
wh_finish(struct webhook *wh, struct wh_easy *e, CURLcode code)
{
	struct wh_job		*job = e->job;
	struct wh_host		*h = e->host;
	struct curl_header	*hd;
	enum webhook_result	 r;
	const char		*text, *why;
	long			 status = 0, verify = X509_V_OK;
	int64_t			 ra = -1, now;

	curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 0 || status > 999)
		status = 0;
	if (code == CURLE_OK) {
		if (status >= 200 && status <= 299)
			r = WEBHOOK_SENT;
		else if (status == 410)
			r = WEBHOOK_GONE;
		else if (status >= 300 && status <= 399)
			r = WEBHOOK_FAILED;
		else if (status >= 400 && status <= 499 && status != 408 &&
		    status != 429)
			r = WEBHOOK_FAILED;
		else
			r = WEBHOOK_RETRY;
		if (r == WEBHOOK_RETRY && curl_easy_header(e->curl,
		    "Retry-After", 0, CURLH_HEADER, -1, &hd) == CURLHE_OK)
			ra = webhook_retry_after(hd->value,
			    (int64_t)time(NULL), wh->cap_s);
		if (status >= 300 && status <= 399)
			text = wh_text(wh, job, "HTTP %ld (redirects are not"
			    " followed)", status);
		else
			text = wh_text(wh, job, "HTTP %ld", status);
	} else if (e->refused[0] != '\0') {
		r = WEBHOOK_FAILED;
		text = wh_text(wh, job, "%s", e->refused);
	} else if (wh_tls_code(code)) {
		r = WEBHOOK_RETRY;
		curl_easy_getinfo(e->curl, CURLINFO_SSL_VERIFYRESULT, &verify);
		if (e->tlserr[0] != '\0')
			why = e->tlserr;
		else if (code == CURLE_PEER_FAILED_VERIFICATION &&
		    (verify == X509_V_OK || verify == X509_V_ERR_UNSPECIFIED) &&
		    (strstr(e->errbuf, "host name") != NULL ||
		    strstr(e->errbuf, "subject name") != NULL))
			/* curl checks the name itself and says so in words
			 * (its verify result is then 0 or 1). */
			why = tls_verify_reason(X509_V_ERR_HOSTNAME_MISMATCH);
		else if (verify != X509_V_OK)
			why = tls_verify_reason(verify);
		else if (e->errbuf[0] != '\0')
			why = e->errbuf;
		else
			why = curl_easy_strerror(code);
		text = wh_text(wh, job, "TLS: %s", why);
	} else {
		r = WEBHOOK_RETRY;
		text = wh_text(wh, job, "%s", e->errbuf[0] != '\0' ?
		    e->errbuf : curl_easy_strerror(code));
	}
	curl_multi_remove_handle(wh->multi, e->curl);
	TAILQ_REMOVE(&wh->running, e, entry);
	e->job = NULL;
	h->nrunning--;
	now = loop_now_ms();
	e->last_ms = h->last_ms = now;
	TAILQ_INSERT_HEAD(&h->idle, e, entry);
	wh_report(wh, job, r, (int)status, ra, text);
	wh_pump(wh, h, now);
}

static void
wh_completions(struct webhook *wh)
{
	CURLMsg		*m;
	CURL		*c;
	CURLcode	 code;
	char		*p;
	struct wh_easy	*e;
	int		 left;

	while ((m = curl_multi_info_read(wh->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		c = m->easy_handle;
		code = m->data.result;
		p = NULL;
		curl_easy_getinfo(c, CURLINFO_PRIVATE, &p);
		e = (struct wh_easy *)(void *)p;
		if (e == NULL || e->job == NULL) {
			curl_multi_remove_handle(wh->multi, c);
			continue;
		}
		wh_finish(wh, e, code);
	}
}

/* ---- deadlines ---- */

/* Arm the timer for the earliest deadline unless it fires by then
 * already (a wake-up too early only settles and re-arms). */
static void
wh_schedule(struct webhook *wh)
{
	struct wh_host		*h;
	int64_t			 next = wh->curl_due;

	TAILQ_FOREACH(h, &wh->waiting, wentry)
		if (next < 0 || h->wait_ms < next)
			next = h->wait_ms;
	if (wh->nhosts > 0 && (next < 0 || wh->sweep_ms < next))
		next = wh->sweep_ms;
	if (next < 0 || (wh->armed >= 0 && wh->armed <= next))
		return;
	wh->armed = next;
}

/* Forget hosts quiet for a while, with their easy handles. */
static void
wh_sweep(struct webhook *wh, int64_t now)
{
	struct wh_host	*h, *next;

	for (h = TAILQ_FIRST(&wh->hosts); h != NULL; h = next) {
		next = TAILQ_NEXT(h, entry);
		if (h->nqueued == 0 && h->nrunning == 0 && !h->waiting &&
		    now - h->last_ms >= WH_HOST_IDLE_MS)
			wh_host_free(wh, h);
	}
}

/* The end of each entry point: report what curl finished, start what may
 * start, run curl's expired timers (a new transfer sets one at once), a
 * few rounds while that makes progress; then arm the timer. */
static void
wh_settle(struct webhook *wh)
{
	struct wh_host	*h, *next;
	int64_t		 now;
	int		 i, more, running;

	for (i = 0; i < WH_SETTLE_ROUNDS; i++) {
		wh_completions(wh);
		now = loop_now_ms();
		more = 0;
		/* A report may queue more jobs (at the tail: seen too). */
		for (h = TAILQ_FIRST(&wh->waiting); h != NULL; h = next) {
			next = TAILQ_NEXT(h, wentry);
			if (h->wait_ms > now)
				continue;
			wh_host_unwait(wh, h);
			wh_pump(wh, h, now);
		}
		if (wh->curl_due >= 0 && wh->curl_due <= now) {
			wh->curl_due = -1;
			curl_multi_socket_action(wh->multi,
			    CURL_SOCKET_TIMEOUT, 0, &running);
			more = 1;
		}
		if (!more)
			break;
	}
	wh_completions(wh);
	now = loop_now_ms();
	if (now >= wh->sweep_ms) {
		wh_sweep(wh, now);
		wh->sweep_ms = now + WH_SWEEP_MS;
	}
	wh_schedule(wh);
}

static int64_t
wh_timer_due(void *arg)
{
	const struct webhook	*wh = arg;

	return wh->armed;
}

static void
wh_timer_run(void *arg)
{
	struct webhook	*wh = arg;

	wh->armed = -1;
	wh->busy = 1;
	wh_settle(wh);
	wh->busy = 0;
}

/* ---- the sender ---- */

/* Read and decode the secrets file into keys; 0 or -1 with err (which
 * names the file and a line number, never a secret). */
static int
wh_read_secrets(const char *path, unsigned char keys[][WEBHOOK_KEY_MAX],
    size_t *lens, size_t *nkeys, char *err, size_t errlen)
{
	struct stat	 st;
	char		*data = NULL, *line, *next, *end;
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd, lineno = 0, rc = -1;

	*nkeys = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "webhooks: secret_file \"%s\": %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "webhooks: secret_file \"%s\": not a "
		    "regular file", path);
		goto out;
	}
	if (st.st_size > WH_SECRETS_FILE_MAX) {
		snprintf(err, errlen, "webhooks: secret_file \"%s\": larger "
		    "than %d bytes", path, WH_SECRETS_FILE_MAX);
		goto out;
	}
	if ((data = malloc(WH_SECRETS_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "webhooks: out of memory");
		goto out;
	}
	while (got < WH_SECRETS_FILE_MAX && (n = read(fd, data + got,
	    WH_SECRETS_FILE_MAX - got)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "webhooks: secret_file \"%s\": "
			    "%s", path, strerror(errno));
			goto out;
		}
		got += (size_t)n;
	}
	data[got] = '\0';
	for (line = data; line != NULL && line < data + got; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		end = line + strlen(line);
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\r'))
			*--end = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		if (*nkeys == WEBHOOK_SECRETS_MAX) {
			snprintf(err, errlen, "webhooks: secret_file \"%s\": "
			    "more than %d secrets", path, WEBHOOK_SECRETS_MAX);
			goto out;
		}
		lens[*nkeys] = WEBHOOK_KEY_MAX;
		if (webhook_secret_decode(line, keys[*nkeys], &lens[*nkeys]) ==
		    -1) {
			snprintf(err, errlen, "webhooks: secret_file \"%s\": "
			    "line %d is not a secret (\"whsec_\" then base64 "
			    "of at most %d bytes)", path, lineno,
			    WEBHOOK_KEY_MAX);
			goto out;
		}
		if (lens[*nkeys] < WEBHOOK_KEY_MIN) {
			snprintf(err, errlen, "webhooks: secret_file \"%s\": "
			    "the secret on line %d is shorter than %d bytes",
			    path, lineno, WEBHOOK_KEY_MIN);
			goto out;
		}
		(*nkeys)++;
	}
	if (got == WH_SECRETS_FILE_MAX) {
		snprintf(err, errlen, "webhooks: secret_file \"%s\": larger "
		    "than %d bytes", path, WH_SECRETS_FILE_MAX);
		goto out;
	}
	if (*nkeys == 0) {
		snprintf(err, errlen, "webhooks: secret_file \"%s\": no secret"
		    " in it (one \"whsec_...\" per line)", path);
		goto out;
	}
	rc = 0;
out:
	if (data != NULL) {
		OPENSSL_cleanse(data, WH_SECRETS_FILE_MAX + 1);
		free(data);
	}
	close(fd);
	return rc;
}

struct webhook *
webhook_new(struct loop *lp, const struct cfg_webhooks *w,
    const struct cfg_tls *tls, webhook_done_cb done, void *arg, char *err,
    size_t errlen)
{
	struct webhook		*wh = NULL;
	unsigned char		 keys[WEBHOOK_SECRETS_MAX][WEBHOOK_KEY_MAX];
	const unsigned char	*kp[WEBHOOK_SECRETS_MAX];
	size_t			 lens[WEBHOOK_SECRETS_MAX], nkeys = 0, i;
	long			 maxconnects;
	CURLMcode		 mc = CURLM_OK;

	if (lp == NULL || w == NULL || done == NULL) {
		snprintf(err, errlen, "webhooks: no loop, configuration or "
		    "callback");
		return NULL;
	}
	if (w->secret_file == NULL) {
		snprintf(err, errlen, "webhooks: no secret_file configured");
		return NULL;
	}
	if (wh_read_secrets(w->secret_file, keys, lens, &nkeys, err,
	    errlen) == -1)
		goto fail;
	if ((wh = calloc(1, sizeof(*wh))) == NULL) {
		snprintf(err, errlen, "webhooks: out of memory");
		goto fail;
	}
	wh->loop = lp;
	wh->cfg = w;
	wh->tls = tls;
	wh->done = done;
	wh->arg = arg;
	wh->curl_due = -1;
	wh->armed = -1;
	wh->maxconn = w->max_connections_per_host > 0 ?
	    w->max_connections_per_host : 8;
	wh->timeout_ms = w->timeout_ms > 0 ? w->timeout_ms : 15000;
	wh->cap_s = w->retry_after_max_s >= 0 ? w->retry_after_max_s : 0;
	wh->sweep_ms = loop_now_ms() + WH_SWEEP_MS;
	TAILQ_INIT(&wh->hosts);
	TAILQ_INIT(&wh->waiting);
	TAILQ_INIT(&wh->running);
	LIST_INIT(&wh->socks);
	buf_init(&wh->sig, 0);
	for (i = 0; i < nkeys; i++)
		kp[i] = keys[i];
	if (wh_signer_init(&wh->signer, kp, lens, nkeys) == -1) {
		snprintf(err, errlen, "webhooks: cannot set up HMAC-SHA256");
		goto fail;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "webhooks: cannot initialise libcurl");
		goto fail;
	}
	wh->curl_inited = 1;
	if ((wh->multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "webhooks: cannot create a libcurl "
		    "multi handle");
		goto fail;
	}
	/* Connections kept for reuse: a few hosts' worth. */
	maxconnects = (long)wh->maxconn * 16;
	if (maxconnects < 64)
		maxconnects = 64;
	if (maxconnects > WEBHOOK_MAX_JOBS)
		maxconnects = WEBHOOK_MAX_JOBS;
	mc = curl_multi_setopt(wh->multi, CURLMOPT_SOCKETFUNCTION,
	    wh_socket_cb);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(wh->multi, CURLMOPT_SOCKETDATA, wh);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(wh->multi, CURLMOPT_TIMERFUNCTION,
		    wh_timer_cb);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(wh->multi, CURLMOPT_TIMERDATA, wh);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(wh->multi,
		    CURLMOPT_MAX_HOST_CONNECTIONS, (long)wh->maxconn);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(wh->multi, CURLMOPT_MAXCONNECTS,
		    maxconnects);
	if (mc != CURLM_OK) {
		snprintf(err, errlen, "webhooks: libcurl: %s",
		    curl_multi_strerror(mc));
		goto fail;
	}
	if (loop_add_timer(lp, wh_timer_due, wh_timer_run, wh) == -1) {
		snprintf(err, errlen, "webhooks: out of memory");
		goto fail;
	}
	wh->timer = 1;
	OPENSSL_cleanse(keys, sizeof(keys));
	return wh;
fail:
	OPENSSL_cleanse(keys, sizeof(keys));
	if (wh != NULL) {
		if (wh->multi != NULL)
			curl_multi_cleanup(wh->multi);
		if (wh->curl_inited)
			curl_global_cleanup();
		wh_signer_clear(&wh->signer);
		buf_free(&wh->sig);
		free(wh);
	}
	return NULL;
}

void
webhook_free(struct webhook *wh)
{
	struct wh_easy	*e;
	struct wh_job	*job;
	struct wh_host	*h;
	struct wh_sock	*s;

	if (wh == NULL)
		return;
	wh->freeing = 1;
	while ((e = TAILQ_FIRST(&wh->running)) != NULL) {
		curl_multi_remove_handle(wh->multi, e->curl);
		TAILQ_REMOVE(&wh->running, e, entry);
		job = e->job;
		e->job = NULL;
		e->host->nrunning--;
		TAILQ_INSERT_HEAD(&e->host->idle, e, entry);
		wh_report(wh, job, WEBHOOK_NOT_SENT, 0, -1,
		    wh_text(wh, job, "not sent (stopped)"));
	}
	webhook_unqueue(wh);
	while ((h = TAILQ_FIRST(&wh->hosts)) != NULL)
		wh_host_free(wh, h);
	curl_multi_cleanup(wh->multi);
	/* Sockets curl did not say goodbye to. */
	while ((s = LIST_FIRST(&wh->socks)) != NULL) {
		loop_remove_fd(wh->loop, s->fd);
		LIST_REMOVE(s, entry);
		free(s);
	}
	if (wh->timer)
		loop_remove_timer(wh->loop, wh);
	curl_global_cleanup();
	wh_signer_clear(&wh->signer);
	buf_free(&wh->sig);
	free(wh);
}

/* 1 when the id may go into a header: printable ASCII, no spaces. */
static int
wh_id_ok(const char *id)
{
	size_t	n;

	for (n = 0; id[n] != '\0'; n++)
		if (n >= WEBHOOK_ID_MAX || id[n] <= ' ' || id[n] > '~')
			return 0;
	return n > 0;
}

int
webhook_submit(struct webhook *wh, const char *url, const char *webhook_id,
    const char *body, size_t len, uint64_t cookie)
{
	CURLU		*u = NULL;
	char		*scheme = NULL, *host = NULL, *port = NULL,
			*norm = NULL, *p;
	struct buf	 key;
	struct wh_host	*h;
	struct wh_job	*job;
	size_t		 ulen, idlen, i;
	int		 rc = -1;

	buf_init(&key, 0);
	if (webhook_room(wh) == 0 ||
	    url == NULL || webhook_id == NULL || !wh_id_ok(webhook_id) ||
	    (body == NULL && len > 0) || len > WEBHOOK_BODY_MAX ||
	    strnlen(url, WEBHOOK_URL_MAX + 1) > WEBHOOK_URL_MAX)
		goto out;
	if ((u = curl_url()) == NULL ||
	    curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "https") != 0 ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    host[0] == '\0' ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &norm, 0) != CURLUE_OK ||
	    strncmp(norm, "https://", 8) != 0)
		goto out;
	for (p = host; *p != '\0'; p++)
		buf_addc(&key, *p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	buf_printf(&key, ":%s", port);
	if (key.overflow)
		goto out;
	if ((h = wh_host_get(wh, key.data, host, atoi(port))) == NULL)
		goto out;
	ulen = strlen(norm);
	idlen = strlen(webhook_id);
	if ((job = malloc(sizeof(*job) + ulen + 1 + idlen + 1 + len + 1)) ==
	    NULL)
		goto out;
	memset(job, 0, sizeof(*job));
	job->host = h;
	job->cookie = cookie;
	job->url = (char *)(job + 1);
	memcpy(job->url, norm, ulen + 1);
	job->id = job->url + ulen + 1;
	memcpy(job->id, webhook_id, idlen + 1);
	job->body = job->id + idlen + 1;
	if (len > 0)
		memcpy(job->body, body, len);
	job->body[len] = '\0';
	job->len = len;
	/* The path starts at the first '/' after the authority. */
	for (i = 8; job->url[i] != '\0' && job->url[i] != '/' &&
	    job->url[i] != '?' && job->url[i] != '#'; i++)
		;
	job->path = job->url + i;
	TAILQ_INSERT_TAIL(&h->queue, job, entry);
	h->nqueued++;
	wh->njobs++;
	wh->nbytes += len;
	/* Started from an entry point, never inside the caller: the one
	 * running now (a report's callback submitting), or the timer. */
	wh_host_wait(wh, h, loop_now_ms());
	if (!wh->busy)
		wh_schedule(wh);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(norm);
	curl_url_cleanup(u);
	buf_free(&key);
	return rc;
}

size_t
webhook_room(const struct webhook *wh)
{
	/* Room means room for any body, so a submit is never refused
	 * for its size alone. */
	if (wh == NULL || wh->freeing || wh->njobs >= WEBHOOK_MAX_JOBS ||
	    wh->nbytes > WEBHOOK_MAX_BYTES - WEBHOOK_BODY_MAX)
		return 0;
	return WEBHOOK_MAX_JOBS - wh->njobs;
}

void
webhook_unqueue(struct webhook *wh)
{
	struct wh_jobs	 all;
	struct wh_host	*h;
	struct wh_job	*job;

	if (wh == NULL)
		return;
	/* Take them all first: a report may queue new jobs. */
	TAILQ_INIT(&all);
	TAILQ_FOREACH(h, &wh->hosts, entry) {
		TAILQ_CONCAT(&all, &h->queue, entry);
		h->nqueued = 0;
	}
	while ((job = TAILQ_FIRST(&all)) != NULL) {
		TAILQ_REMOVE(&all, job, entry);
		wh_report(wh, job, WEBHOOK_NOT_SENT, 0, -1,
		    wh_text(wh, job, "not sent"));
	}
}

int
webhook_idle(const struct webhook *wh)
{
	return wh == NULL || wh->njobs == 0;
}

size_t
webhook_stats(const struct webhook *wh, struct webhook_host_stats *out,
    size_t max)
{
	const struct wh_host	*h;
	size_t			 n = 0;

	if (wh == NULL)
		return 0;
	TAILQ_FOREACH(h, &wh->hosts, entry) {
		if (out != NULL && n < max) {
			out[n].host = h->label;
			out[n].queued = h->nqueued;
			out[n].running = h->nrunning;
			out[n].sent = h->sent;
			out[n].retry = h->retry;
			out[n].failed = h->failed;
			out[n].gone = h->gone;
		}
		n++;
	}
	return n;
}
