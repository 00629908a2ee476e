/* smtp.c - the SMTP client of smtp.h.  A relay owns a queue of messages
 * (bodies swapped in from the caller, never copied until they are
 * dot-stuffed into a connection's output) and a pool of connections; a
 * connection takes a message off the queue only when it writes its
 * envelope, so what is not yet on the wire can go to another connection.
 * Outcomes wait on the relay's report list and are handed to the done
 * callback at the end of each entry point (an fd event, the timer,
 * _unqueue, _drain, _free; never inside _submit, which only writes),
 * each message once.
 * Deadlines go through one loop timer per relay, removed when the relay
 * is freed (on reload the loop lives on). */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <zmq.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "smtp.h"
#include "tls.h"
#include "utf8.h"

#define SMTP_LINE_MAX		2048	/* reply line without CRLF */
#define SMTP_IN_MAX		16384	/* unparsed input per connection */
#define SMTP_WINDOW		4	/* messages held per connection slot */
#define SMTP_EXP_MAX		8	/* replies awaited at once */
#define SMTP_TEXT_MAX		384	/* reported texts */
#define SMTP_RED_MAX		256	/* a redacted reply in them */
#define SMTP_PATH_MAX		256	/* RFC 5321 4.5.3.1.3 */
#define SMTP_ADDRS_MAX		16	/* addresses kept per relay */
#define SMTP_CRED_MAX		1024	/* credential file */
#define SMTP_WRITE_CHUNK	65536	/* bytes per write call */
#define SMTP_GAI_POLL_MS	5	/* is a look-up done yet? */
#define SMTP_BACKOFF_MIN_MS	1000
#define SMTP_BACKOFF_MAX_MS	300000
#define SMTP_IDLE_MS		30000	/* idle connection kept (bounded by
					   the relay's timeout) */
#define SMTP_QUIT_MS		5000	/* wait for 221 at most */

/* What a connection waits for, with RFC 5321 4.5.3.2's timeouts (the
 * relay's timeout_ms bounds them all). */
enum smtp_exp {
	EXP_GREETING,
	EXP_EHLO,
	EXP_STARTTLS,
	EXP_AUTH,
	EXP_AUTH_USER,
	EXP_AUTH_PASS,
	EXP_MAIL,
	EXP_RCPT,
	EXP_DATA,
	EXP_END,
	EXP_RSET,
	EXP_QUIT,
};

static const struct {
	const char	*name;
	int64_t		 ms;
} smtp_exps[] = {
	[EXP_GREETING] =	{ "the greeting", 300000 },
	[EXP_EHLO] =		{ "EHLO", 300000 },
	[EXP_STARTTLS] =	{ "STARTTLS", 300000 },
	[EXP_AUTH] =		{ "AUTH", 300000 },
	[EXP_AUTH_USER] =	{ "AUTH", 300000 },
	[EXP_AUTH_PASS] =	{ "AUTH", 300000 },
	[EXP_MAIL] =		{ "MAIL FROM", 300000 },
	[EXP_RCPT] =		{ "RCPT TO", 300000 },
	[EXP_DATA] =		{ "DATA", 120000 },
	[EXP_END] =		{ "the end of data", 600000 },
	[EXP_RSET] =		{ "RSET", 300000 },
	[EXP_QUIT] =		{ "QUIT", SMTP_QUIT_MS },
};

struct smtp_msg {
	TAILQ_ENTRY(smtp_msg)	 entry;
	uint64_t		 cookie;
	struct buf		 body;
	uint64_t		 wstart;	/* stream offset of its MAIL */
	int			 failed;	/* result and text are set */
	int			 utf8;		/* an address is not ASCII */
	enum smtp_result	 result;
	char			 text[SMTP_TEXT_MAX];
	char			*rcpt;		/* in addrs, after from */
	char			 addrs[];	/* from NUL rcpt NUL */
};
TAILQ_HEAD(smtp_msgs, smtp_msg);

enum conn_state {
	CONN_CONNECTING,	/* TCP connect in progress */
	CONN_HANDSHAKE,		/* TLS handshake (implicit or STARTTLS) */
	CONN_SETUP,		/* greeting, EHLO, STARTTLS, AUTH */
	CONN_READY,		/* transactions */
	CONN_QUIT,		/* QUIT written, waiting for 221 */
	CONN_CLOSED,		/* freed at the end of the entry point */
};

struct smtp_conn {
	TAILQ_ENTRY(smtp_conn)	 entry;
	struct smtp_relay	*relay;
	unsigned		 id;
	enum conn_state		 state;
	int			 fd;
	size_t			 addr;		/* index in relay->addrs */
	size_t			 addr0;		/* the first one tried */
	SSL			*ssl;
	int			 tls;		/* I/O goes through ssl */
	int			 want_write;	/* last write wanted POLLOUT */
	int			 rwant;		/* last read wanted POLLOUT */
	short			 events;
	struct smtp_caps	 caps;
	/* Output: out[woff..len) still to write; wlast is the length of
	 * a write OpenSSL asked us to repeat. wbase + offset is the
	 * position in the stream since connect. */
	struct buf		 out;
	size_t			 woff, wlast;
	uint64_t		 wbase;
	int			 secret;	/* out holds a credential */
	char			*in;
	size_t			 inlen, inoff;
	struct {
		enum smtp_exp	 kind;
		struct smtp_msg	*msg;
	}			 exp[SMTP_EXP_MAX];
	int			 exph, nexp;
	struct smtp_msg		*cur;		/* envelope out, no 354 yet */
	struct smtp_msg		*ending;	/* body out, no reply yet */
	int			 need_rset;
	int			 nmsgs;		/* taken on this connection */
	int			 idle;
	int64_t			 deadline;	/* 0: none */
};
TAILQ_HEAD(smtp_conns, smtp_conn);

struct smtp_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 text[INET6_ADDRSTRLEN];
};

struct smtp_relay {
	struct loop		*loop;
	const struct cfg_relay	*cfg;
	const char		*name;
	struct cfg_tls		 tls;		/* merged; points into config */
	SSL_CTX			*ctx;
	SSL_SESSION		*session;	/* to resume */
	smtp_done_cb		 done;
	void			*arg;
	char			 helo[256];
	char			*user, *pass;
	int			 timeout_ms, max_conns, max_per_conn, rate;

	struct smtp_addr	 addrs[SMTP_ADDRS_MAX];
	size_t			 naddrs, addr_ok;
	int			 resolve;	/* resolve before the next connect */
	struct relay_gai	*gai;		/* a look-up in progress */

	int			 timer;		/* the loop timer is added */
	int64_t			 armed;		/* its deadline; -1: none */

	struct smtp_msgs	 queue;		/* handed over, not written */
	size_t			 nqueued;
	struct smtp_msgs	 reports;	/* outcome known, not reported */
	size_t			 nreports;
	size_t			 inflight;	/* on connections */
	struct smtp_conns	 conns;
	int			 nconns;	/* not closed */
	unsigned		 nextid;

	int			 failures;
	int64_t			 backoff_until;
	int64_t			 tokens;	/* thousandths of a message */
	int64_t			 tokens_at;
	int64_t			 burst;		/* in thousandths */

	int			 depth;		/* inside an entry point */
	int			 kick;		/* feed connections */
	int			 draining, freeing;
	int			 pipelining;
	uint64_t		 sent, tempfail, permfail, bounced;
	uint64_t		 connects, connect_failures;
};

static void	conn_io(void *, short);
static void	conn_start(struct smtp_conn *);
static void	conn_fail(struct smtp_conn *, const char *);
static int	conn_flush(struct smtp_conn *);
static void	conn_handshake(struct smtp_conn *);
static void	conn_connect(struct smtp_conn *, int);
static void	relay_settle(struct smtp_relay *);

/*
 * Helpers with no connection.
 */

/* The first CR or LF in d[i..len), else len: sixteen octets at a time. */
static size_t
next_crlf(const char *d, size_t i, size_t len)
{
#ifdef __SSE2__
	const __m128i	cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	__m128i		v;
	unsigned	m;

	for (; i + 16 <= len; i += 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)(d + i));
		m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
		    _mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
		if (m != 0)
			return i + (size_t)__builtin_ctz(m);
	}
#endif
	for (; i < len; i++)
		if (d[i] == '\r' || d[i] == '\n')
			return i;
	return len;
}

int
smtp_dotstuff(struct buf *out, const char *data, size_t len)
{
	size_t	i = 0, run = 0, j;

	/* data[run..i) is canonical and goes out as it is, in one copy:
	 * a message from the MIME writer is one run, but for its dots.  A
	 * bare CR or LF ends a line (CRLF written); so does the end. */
	while (i < len) {
		if (data[i] == '.') {		/* at a line's start */
			if (buf_add(out, data + run, i - run) == -1 ||
			    buf_addc(out, '.') == -1)
				return -1;
			run = i;
		}
		if ((j = next_crlf(data, i, len)) == len) {
			i = len;		/* a last line without an end */
			if (buf_add(out, data + run, len - run) == -1 ||
			    buf_add(out, "\r\n", 2) == -1)
				return -1;
			run = len;
			break;
		}
		if (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n') {
			i = j + 2;
			continue;
		}
		if (buf_add(out, data + run, j - run) == -1 ||
		    buf_add(out, "\r\n", 2) == -1)
			return -1;
		run = i = j + 1;
	}
	if (buf_add(out, data + run, i - run) == -1)
		return -1;
	return buf_add(out, ".\r\n", 3);
}

/* One code point or control at s[i]: its length in *n, and 1 when it is
 * whitespace or a control character (written as one space). */
static int
redact_space(const unsigned char *s, size_t len, size_t i, size_t *n,
    int *valid)
{
	uint32_t	cp;
	int		k;

	*valid = 1;
	if (s[i] < 0x80) {
		*n = 1;
		return s[i] == ' ' || s[i] < 0x20 || s[i] == 0x7f;
	}
	if ((k = utf8_decode(s + i, len - i, &cp)) < 0) {
		*n = 1;
		*valid = 0;
		return 0;
	}
	*n = (size_t)k;
	return utf8_is_control(cp);
}

struct redact_out {
	char	*p;
	size_t	 len, cap;	/* cap excludes the NUL */
	int	 full;
};

/* Append n bytes as a whole (one character), or mark the output full. */
static void
redact_put(struct redact_out *o, const void *p, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static void
redact_puts(struct redact_out *o, const char *s)
{
	while (*s != '\0' && !o->full)
		redact_put(o, s++, 1);
}

/* The closing c after s[i] when there is one (last: the last c in s, or
 * NULL), else NULL. */
static const unsigned char *
redact_close(const unsigned char *s, size_t len, size_t i, int c,
    const unsigned char *last)
{
	if (last == NULL || s + i >= last)
		return NULL;
	return memchr(s + i + 1, c, len - i - 1);
}

/* Copy s[i..end) with controls as spaces and bad UTF-8 as '?'. */
static void
redact_copy(struct redact_out *o, const unsigned char *s, size_t len,
    size_t i, size_t end)
{
	size_t	n;
	int	valid;

	while (i < end && !o->full) {
		if (redact_space(s, len, i, &n, &valid))
			redact_put(o, " ", 1);
		else if (valid)
			redact_put(o, s + i, n);
		else
			redact_put(o, "?", 1);
		i += n;
	}
}

void
smtp_redact(const char *text, size_t len, char *out, size_t outlen)
{
	const unsigned char	*s = (const unsigned char *)text;
	const unsigned char	*lastgt, *lastq, *e;
	struct redact_out	 o;
	size_t			 i = 0, w, n;
	int			 at, valid;

	if (outlen == 0)
		return;
	o.p = out;
	o.len = 0;
	o.cap = outlen - 1;
	o.full = 0;
	lastgt = len > 0 ? memrchr(s, '>', len) : NULL;
	lastq = len > 0 ? memrchr(s, '"', len) : NULL;
	while (i < len && !o.full) {
		if (redact_space(s, len, i, &n, &valid)) {
			redact_put(&o, " ", 1);
			i += n;
			continue;
		}
		/* A word runs to the next space or control character; a
		 * closed <...> or "..." inside it is one piece, spaces and
		 * all (a quoted local part: "john doe"@example.org). */
		at = 0;
		w = i;
		while (w < len && !redact_space(s, len, w, &n, &valid)) {
			if (s[w] == '<' &&
			    (e = redact_close(s, len, w, '>', lastgt)) != NULL) {
				w = (size_t)(e - s) + 1;
				continue;
			}
			if (s[w] == '"' &&
			    (e = redact_close(s, len, w, '"', lastq)) != NULL) {
				if (memchr(s + w, '@', (size_t)(e - s) - w))
					at = 1;
				w = (size_t)(e - s) + 1;
				continue;
			}
			if (s[w] == '@')
				at = 1;
			w += n;
		}
		if (at) {
			redact_puts(&o, "redacted");
			i = w;
			continue;
		}
		while (i < w && !o.full) {
			if (s[i] == '<' &&
			    (e = redact_close(s, len, i, '>', lastgt)) != NULL) {
				redact_puts(&o, "<redacted>");
				i = (size_t)(e - s) + 1;
			} else if (s[i] == '"' &&
			    (e = redact_close(s, len, i, '"', lastq)) != NULL) {
				redact_copy(&o, s, len, i, (size_t)(e - s) + 1);
				i = (size_t)(e - s) + 1;
			} else {
				redact_space(s, len, i, &n, &valid);
				redact_copy(&o, s, len, i, i + n);
				i += n;
			}
		}
	}
	out[o.len] = '\0';
}

/* "c.s.d" at t[0..n) whose class c matches the reply's: c * 10 + s, or 0
 * (none, or a subject above 9). */
static int
reply_enh(const char *t, size_t n, int code)
{
	size_t	i = 0, k;
	int	cls, subj = 0;

	/* RFC 3463: classes 2, 4 and 5 only. */
	if (n < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') ||
	    t[0] - '0' != code / 100 || t[1] != '.')
		return 0;
	cls = t[0] - '0';
	i = 2;
	for (k = 0; i < n && k < 3 && t[i] >= '0' && t[i] <= '9'; i++, k++)
		subj = subj * 10 + (t[i] - '0');
	if (k == 0 || i >= n || t[i] != '.')
		return 0;
	i++;
	for (k = 0; i < n && k < 3 && t[i] >= '0' && t[i] <= '9'; i++, k++)
		;
	if (k == 0 || (i < n && t[i] != ' '))
		return 0;
	return subj <= 9 ? cls * 10 + subj : 0;
}

int
smtp_reply_parse(const char *in, size_t len, int *code, int *enh)
{
	const char	*lf;
	size_t		 i = 0, eol, ll;
	int		 c, first = -1;

	*code = 0;
	*enh = 0;
	for (;;) {
		if (i >= len)
			return 0;
		lf = memchr(in + i, '\n', len - i);
		if (lf == NULL)
			/* Room for a CR still to be followed by its LF. */
			return len - i > SMTP_LINE_MAX + 1 ? -1 : 0;
		eol = (size_t)(lf - in);
		ll = eol - i;
		if (ll > 0 && in[eol - 1] == '\r')
			ll--;
		if (ll > SMTP_LINE_MAX || ll < 3)
			return -1;
		if (in[i] < '2' || in[i] > '5' || in[i + 1] < '0' ||
		    in[i + 1] > '9' || in[i + 2] < '0' || in[i + 2] > '9')
			return -1;
		c = (in[i] - '0') * 100 + (in[i + 1] - '0') * 10 +
		    (in[i + 2] - '0');
		if (first == -1) {
			first = c;
			if (ll > 4)
				*enh = reply_enh(in + i + 4, ll - 4, c);
		} else if (c != first)
			return -1;
		if (ll == 3 || in[i + 3] == ' ') {
			*code = c;
			if (eol + 1 > (size_t)INT32_MAX)
				return -1;
			return (int)(eol + 1);
		}
		if (in[i + 3] != '-')
			return -1;
		i = eol + 1;
	}
}

/* Each line of a whole reply: its text (after "DDD-" or "DDD ") in *t, *tn;
 * *pos advances.  0 at the end. */
static int
reply_line(const char *p, size_t n, size_t *pos, const char **t, size_t *tn)
{
	const char	*lf;
	size_t		 i = *pos, eol, ll;

	if (i >= n)
		return 0;
	lf = memchr(p + i, '\n', n - i);
	eol = lf != NULL ? (size_t)(lf - p) : n;
	ll = eol - i;
	if (ll > 0 && p[eol - 1] == '\r')
		ll--;
	*t = ll > 4 ? p + i + 4 : p + i + ll;
	*tn = ll > 4 ? ll - 4 : 0;
	*pos = eol + 1;
	return 1;
}

static int
word_is(const char *t, size_t n, const char *w)
{
	size_t	wl = strlen(w);

	return n == wl && strncasecmp(t, w, wl) == 0;
}

void
smtp_ehlo_parse(const char *reply, size_t len, struct smtp_caps *caps)
{
	const char	*t, *w;
	size_t		 pos = 0, tn, i, wn;
	uint64_t	 v;
	int		 first = 1, auth;

	memset(caps, 0, sizeof(*caps));
	while (reply_line(reply, len, &pos, &t, &tn)) {
		if (first) {
			first = 0;
			continue;
		}
		for (wn = 0; wn < tn && t[wn] != ' ' && t[wn] != '='; wn++)
			;
		auth = 0;
		if (word_is(t, wn, "PIPELINING"))
			caps->pipelining = 1;
		else if (word_is(t, wn, "STARTTLS"))
			caps->starttls = 1;
		else if (word_is(t, wn, "ENHANCEDSTATUSCODES"))
			caps->enhanced = 1;
		else if (word_is(t, wn, "8BITMIME"))
			caps->eightbit = 1;
		else if (word_is(t, wn, "SMTPUTF8"))
			caps->smtputf8 = 1;
		else if (word_is(t, wn, "AUTH"))
			auth = 1;
		else if (word_is(t, wn, "SIZE") && wn < tn && t[wn] == ' ') {
			v = 0;
			for (i = wn + 1; i < tn && t[i] >= '0' && t[i] <= '9';
			    i++) {
				if (v > (UINT64_MAX - 9) / 10) {
					v = 0;	/* absurd: no limit */
					break;
				}
				v = v * 10 + (uint64_t)(t[i] - '0');
			}
			caps->size = v;
		}
		if (!auth)
			continue;
		/* The mechanisms, space-separated after "AUTH" or "AUTH=". */
		i = wn;
		while (i < tn) {
			while (i < tn && (t[i] == ' ' || t[i] == '='))
				i++;
			w = t + i;
			while (i < tn && t[i] != ' ')
				i++;
			if (word_is(w, (size_t)(t + i - w), "PLAIN"))
				caps->auth_plain = 1;
			else if (word_is(w, (size_t)(t + i - w), "LOGIN"))
				caps->auth_login = 1;
		}
	}
}

/* A reply as one redacted line: "550 5.1.1 <redacted> no such user". */
static void
reply_redacted(const char *p, size_t n, char *out, size_t outlen)
{
	char		 raw[1024];
	const char	*t;
	size_t		 pos = 0, tn, rl;
	int		 first = 1;

	rl = n >= 3 ? 3 : n;
	memcpy(raw, p, rl);
	while (reply_line(p, n, &pos, &t, &tn)) {
		if (!first && rl < sizeof(raw))
			raw[rl++] = ' ';
		if (first && tn > 0 && rl < sizeof(raw))
			raw[rl++] = ' ';
		first = 0;
		if (tn > sizeof(raw) - rl)
			tn = sizeof(raw) - rl;
		memcpy(raw + rl, t, tn);
		rl += tn;
	}
	smtp_redact(raw, rl, out, outlen);
}

/* An envelope address fit for "<...>": printable, no brackets, spaces or
 * controls, strict UTF-8; *utf8 set when not ASCII. */
static int
addr_ok(const char *a, size_t n, int *utf8)
{
	size_t	i;

	if (n > SMTP_PATH_MAX || !utf8_text_ok(a, n, NULL))
		return 0;
	for (i = 0; i < n; i++) {
		if ((unsigned char)a[i] >= 0x80)
			*utf8 = 1;
		else if (a[i] == '<' || a[i] == '>' || a[i] == ' ')
			return 0;
	}
	return 1;
}

static int
has_8bit(const char *p, size_t n)
{
	uint64_t	w, acc = 0;
	size_t		i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= (unsigned char)p[i];
	return (acc & 0x8080808080808080ULL) != 0;
}

/*
 * The relay: reports, the timer, rate and backoff.
 */

static void
msg_free(struct smtp_msg *m)
{
	if (m == NULL)
		return;
	buf_free(&m->body);
	free(m);
}

/* Settle m's outcome and queue its report (the caller has taken m off
 * every list). */
static void
relay_report(struct smtp_relay *r, struct smtp_msg *m, enum smtp_result res,
    const char *text)
{
	m->result = res;
	if (text != m->text)
		snprintf(m->text, sizeof(m->text), "%s", text);
	buf_free(&m->body);
	switch (res) {
	case SMTP_SENT:
		r->sent++;
		break;
	case SMTP_TEMPFAIL:
		r->tempfail++;
		break;
	case SMTP_PERMFAIL:
		r->permfail++;
		break;
	case SMTP_BOUNCED:
		r->bounced++;
		break;
	case SMTP_NOT_SENT:
		break;
	}
	if (res != SMTP_SENT && res != SMTP_NOT_SENT)
		log_info("smtp: message %llu: %s",
		    (unsigned long long)m->cookie, m->text);
	else
		log_debug("smtp: message %llu: %s",
		    (unsigned long long)m->cookie, m->text);
	TAILQ_INSERT_TAIL(&r->reports, m, entry);
	r->nreports++;
}

/* A message on a connection is done: off the connection's count. */
static void
conn_report(struct smtp_conn *c, struct smtp_msg *m, enum smtp_result res,
    const char *text)
{
	c->relay->inflight--;
	relay_report(c->relay, m, res, text);
}

static void
relay_flush_reports(struct smtp_relay *r)
{
	struct smtp_msg		*m;
	struct smtp_done	 d;

	while ((m = TAILQ_FIRST(&r->reports)) != NULL) {
		TAILQ_REMOVE(&r->reports, m, entry);
		r->nreports--;
		d.cookie = m->cookie;
		d.result = m->result;
		d.text = m->text;
		r->done(r->arg, &d);
		msg_free(m);
	}
}

/* Every queued message reported with res and text. */
static void
relay_fail_queue(struct smtp_relay *r, enum smtp_result res, const char *text)
{
	struct smtp_msg	*m;

	while ((m = TAILQ_FIRST(&r->queue)) != NULL) {
		TAILQ_REMOVE(&r->queue, m, entry);
		r->nqueued--;
		relay_report(r, m, res, text);
	}
}

static void
relay_refill(struct smtp_relay *r, int64_t now)
{
	if (r->rate <= 0 || now <= r->tokens_at)
		return;
	r->tokens += (now - r->tokens_at) * r->rate;
	if (r->tokens > r->burst)
		r->tokens = r->burst;
	r->tokens_at = now;
}

/* Tokens (thousandths) there would be now, without changing r. */
static int64_t
relay_tokens_now(const struct smtp_relay *r, int64_t now)
{
	int64_t	t = r->tokens;

	if (now > r->tokens_at)
		t += (now - r->tokens_at) * r->rate;
	return t > r->burst ? r->burst : t;
}

/* When the next whole token is there (tokens < 1000). */
static int64_t
relay_token_at(const struct smtp_relay *r, int64_t now)
{
	int64_t	t = relay_tokens_now(r, now);

	if (t >= 1000)
		return now;
	return now + (1000 - t + r->rate - 1) / r->rate;
}

static void
relay_backoff(struct smtp_relay *r)
{
	int64_t	now = loop_now_ms(), d = SMTP_BACKOFF_MIN_MS;
	int	i;

	/* Connections failing together (the pool opening at once) are one
	 * failure, not a steeper backoff. */
	if (r->backoff_until > now)
		return;
	r->failures++;
	for (i = 1; i < r->failures && d < SMTP_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > SMTP_BACKOFF_MAX_MS)
		d = SMTP_BACKOFF_MAX_MS;
	d -= arc4random_uniform((uint32_t)(d / 4) + 1);
	r->backoff_until = now + d;
	log_debug("smtp: %s: backing off for %lld ms", r->name, (long long)d);
}

static int
relay_has_ready(const struct smtp_relay *r)
{
	const struct smtp_conn	*c;

	TAILQ_FOREACH(c, &r->conns, entry)
		if (c->state == CONN_READY)
			return 1;
	return 0;
}

/* Arm the timer for the earliest deadline unless it will already fire
 * by then (a wake-up too early only recomputes). */
static void
relay_schedule(struct smtp_relay *r)
{
	struct smtp_conn	*c;
	int64_t			 now = loop_now_ms(), next = -1, t;

	if (!r->timer)
		return;
	if (r->kick || r->nreports > 0)
		next = now;
	else if (r->gai != NULL && r->nqueued > 0)
		next = now + SMTP_GAI_POLL_MS;	/* is the look-up done? */
	TAILQ_FOREACH(c, &r->conns, entry)
		if (c->state != CONN_CLOSED && c->deadline > 0 &&
		    (next < 0 || c->deadline < next))
			next = c->deadline;
	if (r->nqueued > 0) {
		if (r->backoff_until > now)
			t = r->backoff_until;
		else if (r->rate > 0 && relay_tokens_now(r, now) < 1000)
			t = relay_token_at(r, now);
		else
			t = -1;
		if (t >= 0 && (next < 0 || t < next))
			next = t;
	}
	if (next < 0 || (r->armed >= 0 && r->armed <= next))
		return;
	r->armed = next;
}

static void
relay_enter(struct smtp_relay *r)
{
	r->depth++;
}

static void
relay_leave(struct smtp_relay *r)
{
	if (r->depth == 1)
		relay_settle(r);
	r->depth--;
	if (r->depth == 0)
		relay_schedule(r);
}

/*
 * Connections: I/O.
 */

static void
conn_set_events(struct smtp_conn *c)
{
	short	ev;

	if (c->state == CONN_CLOSED)
		return;
	ev = ZMQ_POLLIN;
	if (c->state == CONN_CONNECTING || c->want_write || c->rwant)
		ev |= ZMQ_POLLOUT;
	if (ev != c->events) {
		loop_set_fd_events(c->relay->loop, c->fd, ev);
		c->events = ev;
	}
}

static void
conn_close(struct smtp_conn *c)
{
	struct smtp_relay	*r = c->relay;

	if (c->state == CONN_CLOSED)
		return;
	if (c->ssl != NULL) {
		if (c->tls && c->state == CONN_QUIT) {
			/* close_notify, once, without waiting. */
			ERR_clear_error();
			(void)SSL_shutdown(c->ssl);
			ERR_clear_error();
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1) {
		loop_remove_fd(r->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (c->secret && c->out.data != NULL)
		OPENSSL_cleanse(c->out.data, c->out.len);
	c->state = CONN_CLOSED;
	c->deadline = 0;
	r->nconns--;
	log_debug("smtp: %s: conn %u closed", r->name, c->id);
}

static void
conn_free(struct smtp_conn *c)
{
	buf_free(&c->out);
	free(c->in);
	free(c);
}

static int64_t
conn_stage_ms(const struct smtp_conn *c, enum smtp_exp kind)
{
	int64_t	t = c->relay->timeout_ms;

	return smtp_exps[kind].ms < t ? smtp_exps[kind].ms : t;
}

/* Why an SSL call failed (e from SSL_get_error): 1 for the peer's close
 * (with or without close_notify: SMTP does not rely on it), else 0 with
 * a reason in why.  The error queue is cleared. */
static int
conn_ssl_why(int e, int err, char *why, size_t whylen)
{
	unsigned long	l = ERR_peek_last_error();
	const char	*reason;

	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL &&
	    err == 0 && l == 0) || (e == SSL_ERROR_SSL &&
	    ERR_GET_LIB(l) == ERR_LIB_SSL &&
	    ERR_GET_REASON(l) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
		ERR_clear_error();
		return 1;
	}
	if (e == SSL_ERROR_SYSCALL && err != 0)
		snprintf(why, whylen, "%s", strerror(err));
	else if (l != 0 && (reason = ERR_reason_error_string(l)) != NULL)
		snprintf(why, whylen, "TLS: %s", reason);
	else
		snprintf(why, whylen, "TLS error");
	ERR_clear_error();
	return 0;
}

/* Write what we can.  0, or -1 when the connection failed (and is
 * closed). */
static int
conn_flush(struct smtp_conn *c)
{
	char	 why[SMTP_TEXT_MAX], reason[128];
	size_t	 n;
	ssize_t	 rc;
	int	 e, progress = 0;

	if (c->state == CONN_CLOSED || c->state == CONN_CONNECTING ||
	    c->state == CONN_HANDSHAKE)
		return 0;
	c->want_write = 0;
	while (c->woff < c->out.len) {
		n = c->wlast;
		if (n == 0) {
			n = c->out.len - c->woff;
			if (n > SMTP_WRITE_CHUNK)
				n = SMTP_WRITE_CHUNK;
		}
		if (c->tls) {
			ERR_clear_error();
			errno = 0;
			rc = SSL_write(c->ssl, c->out.data + c->woff, (int)n);
			if (rc <= 0) {
				e = SSL_get_error(c->ssl, (int)rc);
				if (e == SSL_ERROR_WANT_WRITE ||
				    e == SSL_ERROR_WANT_READ) {
					c->want_write =
					    e == SSL_ERROR_WANT_WRITE;
					c->wlast = n;
					break;
				}
				if (conn_ssl_why(e, errno, reason,
				    sizeof(reason)))
					snprintf(why, sizeof(why), "%s:"
					    " connection closed by the relay",
					    c->relay->name);
				else
					snprintf(why, sizeof(why), "%s: write"
					    " failed: %s", c->relay->name,
					    reason);
				conn_fail(c, why);
				return -1;
			}
		} else {
			rc = send(c->fd, c->out.data + c->woff, n,
			    MSG_NOSIGNAL);
			if (rc == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					c->want_write = 1;
					break;
				}
				snprintf(why, sizeof(why), "%s: write failed:"
				    " %s", c->relay->name, strerror(errno));
				conn_fail(c, why);
				return -1;
			}
		}
		c->wlast = 0;
		c->woff += (size_t)rc;
		progress = 1;
	}
	if (c->woff == c->out.len && c->out.len > 0) {
		if (c->secret) {
			OPENSSL_cleanse(c->out.data, c->out.len);
			c->secret = 0;
		}
		c->wbase += c->out.len;
		buf_reset(&c->out);
		c->woff = 0;
	}
	/* Progress on a long write keeps the stage's clock running. */
	if (progress && c->nexp > 0)
		c->deadline = loop_now_ms() +
		    conn_stage_ms(c, c->exp[c->exph].kind);
	conn_set_events(c);
	return 0;
}

/* Queue the output and the reply it awaits. */
static void
conn_expect(struct smtp_conn *c, enum smtp_exp kind, struct smtp_msg *m)
{
	if (c->nexp == 0)
		c->deadline = loop_now_ms() + conn_stage_ms(c, kind);
	c->idle = 0;
	c->exp[(c->exph + c->nexp) % SMTP_EXP_MAX].kind = kind;
	c->exp[(c->exph + c->nexp) % SMTP_EXP_MAX].msg = m;
	c->nexp++;
}

/* Append a command; -1 (connection failed) when out of memory. */
static int
conn_cmd(struct smtp_conn *c, enum smtp_exp kind, struct smtp_msg *m,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
conn_cmd(struct smtp_conn *c, enum smtp_exp kind, struct smtp_msg *m,
    const char *fmt, ...)
{
	va_list	ap;
	int	rc;
	char	why[128];

	if (c->nexp >= SMTP_EXP_MAX) {
		/* Cannot happen: at most RSET, MAIL, RCPT, DATA, END. */
		snprintf(why, sizeof(why), "%s: internal error: too many"
		    " commands in flight", c->relay->name);
		conn_fail(c, why);
		return -1;
	}
	va_start(ap, fmt);
	rc = buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	if (rc == -1) {
		snprintf(why, sizeof(why), "%s: out of memory",
		    c->relay->name);
		conn_fail(c, why);
		return -1;
	}
	conn_expect(c, kind, m);
	return 0;
}

/*
 * Connections: failure and close.
 */

/* The message the connection still holds, after the connection failed:
 * back to the queue when not a byte of it was written, else reported. */
static void
conn_release(struct smtp_conn *c, struct smtp_msg *m, const char *text)
{
	struct smtp_relay	*r = c->relay;

	if (m == NULL)
		return;
	if (m->failed) {
		conn_report(c, m, m->result, m->text);
		return;
	}
	if (m != c->ending && c->wbase + c->woff <= m->wstart &&
	    !r->freeing) {
		r->inflight--;
		TAILQ_INSERT_HEAD(&r->queue, m, entry);
		r->nqueued++;
		log_debug("smtp: %s: message %llu back to the queue", r->name,
		    (unsigned long long)m->cookie);
		return;
	}
	conn_report(c, m, r->freeing ? SMTP_NOT_SENT : SMTP_TEMPFAIL, text);
}

/*
 * The connection failed (text is already free of addresses).  During
 * set-up: backoff, and when no other connection is ready the waiting
 * messages fail with text.  Later: the messages in flight are TEMPFAIL.
 */
static void
conn_fail(struct smtp_conn *c, const char *text)
{
	struct smtp_relay	*r = c->relay;
	struct smtp_msg		*cur = c->cur, *ending = c->ending;
	int			 setup;

	if (c->state == CONN_CLOSED)
		return;
	setup = c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE ||
	    c->state == CONN_SETUP;
	c->cur = c->ending = NULL;
	c->nexp = 0;
	if (c->state == CONN_QUIT && cur == NULL && ending == NULL) {
		conn_close(c);
		return;
	}
	if (setup) {
		r->connect_failures++;
		log_warnx("smtp: %s (conn %u)", text, c->id);
		conn_close(c);
		relay_backoff(r);
		if (!relay_has_ready(r))
			relay_fail_queue(r, SMTP_TEMPFAIL, text);
		return;
	}
	if (cur != NULL || ending != NULL) {
		log_warnx("smtp: %s (conn %u, messages in flight)", text,
		    c->id);
		relay_backoff(r);
	} else
		log_debug("smtp: %s (conn %u, idle)", text, c->id);
	conn_release(c, ending, text);
	conn_release(c, cur, text);
	conn_close(c);
}

/* Fail during set-up after a reply: QUIT politely, then close. */
static void
conn_setup_fail(struct smtp_conn *c, const char *text)
{
	/* One try, nothing pending: a failed write must not replace the
	 * reason. */
	if (c->state == CONN_SETUP && c->woff == c->out.len) {
		if (c->tls) {
			ERR_clear_error();
			(void)SSL_write(c->ssl, "QUIT\r\n", 6);
			ERR_clear_error();
		} else
			(void)send(c->fd, "QUIT\r\n", 6, MSG_NOSIGNAL |
			    MSG_DONTWAIT);
	}
	conn_fail(c, text);
}

/* QUIT and wait (briefly) for the 221. */
static void
conn_quit(struct smtp_conn *c)
{
	if (conn_cmd(c, EXP_QUIT, NULL, "QUIT\r\n") == -1)
		return;
	c->state = CONN_QUIT;
	log_debug("smtp: %s: conn %u: QUIT", c->relay->name, c->id);
}

/*
 * Connections: the session.
 */

static void
conn_ehlo(struct smtp_conn *c)
{
	if (conn_cmd(c, EXP_EHLO, NULL, "EHLO %s\r\n", c->relay->helo) == 0)
		log_debug("smtp: %s: conn %u: EHLO%s", c->relay->name, c->id,
		    c->tls ? " (TLS)" : "");
}

static void
conn_handshake_start(struct smtp_conn *c)
{
	struct smtp_relay	*r = c->relay;
	char			 why[SMTP_TEXT_MAX];

	c->ssl = SSL_new(r->ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    tls_client_prepare(c->ssl, r->cfg->host) == -1) {
		ERR_clear_error();
		snprintf(why, sizeof(why), "%s: TLS: cannot set up the"
		    " connection", r->name);
		conn_fail(c, why);
		return;
	}
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* A record in one read(2), not its header and then its body;
	 * conn_read asks SSL_has_pending for what this buffers. */
	SSL_set_read_ahead(c->ssl, 1);
	if (r->session != NULL)
		SSL_set_session(c->ssl, r->session);
	SSL_set_connect_state(c->ssl);
	c->state = CONN_HANDSHAKE;
	c->deadline = loop_now_ms() + r->timeout_ms;
	conn_handshake(c);
}

static void
conn_handshake(struct smtp_conn *c)
{
	struct smtp_relay	*r = c->relay;
	char			 why[SMTP_TEXT_MAX];
	int			 rc, e;

	ERR_clear_error();
	rc = SSL_connect(c->ssl);
	if (rc == 1) {
		c->tls = 1;
		c->want_write = 0;
		c->state = CONN_SETUP;
		log_debug("smtp: %s: conn %u: %s%s", r->name, c->id,
		    SSL_get_version(c->ssl),
		    SSL_session_reused(c->ssl) ? " (resumed)" : "");
		if (r->cfg->tls == CFG_RELAY_TLS)
			conn_expect(c, EXP_GREETING, NULL);
		else {
			/* RFC 3207 4.2: forget everything learnt before. */
			memset(&c->caps, 0, sizeof(c->caps));
			conn_ehlo(c);
		}
		conn_set_events(c);
		return;
	}
	e = SSL_get_error(c->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		c->want_write = e == SSL_ERROR_WANT_WRITE;
		conn_set_events(c);
		return;
	}
	{
		/* Name the relay and the host the certificate was for. */
		char who[300];

		snprintf(who, sizeof(who), "%s (%s)", r->name, r->cfg->host);
		tls_describe_failure(c->ssl, who, why, sizeof(why));
	}
	conn_fail(c, why);
}

static void
conn_auth(struct smtp_conn *c)
{
	struct smtp_relay	*r = c->relay;
	unsigned char		 raw[2 * 256 + 2];
	unsigned char		 b64[4 * ((sizeof(raw) + 2) / 3) + 1];
	size_t			 ul = strlen(r->user), pl = strlen(r->pass);
	char			 why[SMTP_TEXT_MAX];
	int			 n;

	if (c->caps.auth_plain) {
		/* RFC 4616: authzid (empty) NUL authcid NUL password. */
		raw[0] = '\0';
		memcpy(raw + 1, r->user, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, r->pass, pl);
		n = EVP_EncodeBlock(b64, raw, (int)(2 + ul + pl));
		OPENSSL_cleanse(raw, sizeof(raw));
		c->secret = 1;
		(void)conn_cmd(c, EXP_AUTH, NULL, "AUTH PLAIN %.*s\r\n", n,
		    (char *)b64);
		OPENSSL_cleanse(b64, sizeof(b64));
		log_debug("smtp: %s: conn %u: AUTH PLAIN", r->name, c->id);
	} else if (c->caps.auth_login) {
		(void)conn_cmd(c, EXP_AUTH_USER, NULL, "AUTH LOGIN\r\n");
		log_debug("smtp: %s: conn %u: AUTH LOGIN", r->name, c->id);
	} else {
		snprintf(why, sizeof(why), "%s: relay does not offer AUTH"
		    " PLAIN or LOGIN", r->name);
		conn_setup_fail(c, why);
	}
}

/* A LOGIN step: the user name or the password, base64. */
static void
conn_auth_login(struct smtp_conn *c, const char *s, enum smtp_exp next)
{
	unsigned char	b64[4 * ((256 + 2) / 3) + 1];
	int		n;

	n = EVP_EncodeBlock(b64, (const unsigned char *)s, (int)strlen(s));
	c->secret = 1;
	(void)conn_cmd(c, next, NULL, "%.*s\r\n", n, (char *)b64);
	OPENSSL_cleanse(b64, sizeof(b64));
}

static void
conn_ready(struct smtp_conn *c)
{
	struct smtp_relay	*r = c->relay;

	c->state = CONN_READY;
	r->pipelining = c->caps.pipelining;
	log_debug("smtp: %s: conn %u ready (pipelining %s, size %llu)",
	    r->name, c->id, c->caps.pipelining ? "yes" : "no",
	    (unsigned long long)c->caps.size);
	conn_start(c);
}

/* The next message from the queue this connection may send, or NULL. */
static struct smtp_msg *
relay_take(struct smtp_relay *r, struct smtp_conn *c)
{
	struct smtp_msg	*m;
	char		 text[SMTP_TEXT_MAX];
	int64_t		 now;

	while ((m = TAILQ_FIRST(&r->queue)) != NULL) {
		if (r->rate > 0) {
			now = loop_now_ms();
			relay_refill(r, now);
			if (r->tokens < 1000)
				return NULL;
		}
		TAILQ_REMOVE(&r->queue, m, entry);
		r->nqueued--;
		if (m->utf8 && !c->caps.smtputf8) {
			snprintf(text, sizeof(text), "%s: relay does not offer"
			    " SMTPUTF8, needed for a non-ASCII address",
			    r->name);
			relay_report(r, m, SMTP_PERMFAIL, text);
			continue;
		}
		if (c->caps.size > 0 && m->body.len + 2 > c->caps.size) {
			snprintf(text, sizeof(text), "%s: message of %zu bytes"
			    " exceeds the relay's SIZE limit of %llu bytes",
			    r->name, m->body.len,
			    (unsigned long long)c->caps.size);
			relay_report(r, m, SMTP_PERMFAIL, text);
			continue;
		}
		if (r->rate > 0)
			r->tokens -= 1000;
		r->inflight++;
		return m;
	}
	return NULL;
}

/* MAIL (and, pipelining, RCPT and DATA) for m. */
static int
conn_envelope(struct smtp_conn *c, struct smtp_msg *m)
{
	struct buf	*o = &c->out;

	c->cur = m;
	c->nmsgs++;
	m->wstart = c->wbase + o->len;
	if (buf_printf(o, "MAIL FROM:<%s>", m->addrs) == -1 ||
	    (c->caps.size > 0 && buf_printf(o, " SIZE=%zu",
	    m->body.len) == -1) ||
	    (c->caps.eightbit && has_8bit(m->body.data, m->body.len) &&
	    buf_adds(o, " BODY=8BITMIME") == -1) ||
	    (m->utf8 && buf_adds(o, " SMTPUTF8") == -1))
		goto oom;
	if (conn_cmd(c, EXP_MAIL, m, "\r\n") == -1)
		return -1;
	log_debug("smtp: %s: conn %u: message %llu: MAIL", c->relay->name,
	    c->id, (unsigned long long)m->cookie);
	if (!c->caps.pipelining)
		return 0;
	if (conn_cmd(c, EXP_RCPT, m, "RCPT TO:<%s>\r\n", m->rcpt) == -1 ||
	    conn_cmd(c, EXP_DATA, m, "DATA\r\n") == -1)
		return -1;
	return 0;
oom:
	buf_reset(o);	/* nothing of it must go out half-written */
	c->woff = 0;
	{
		char	why[128];

		snprintf(why, sizeof(why), "%s: out of memory",
		    c->relay->name);
		conn_fail(c, why);
	}
	return -1;
}

/* Feed the connection: RSET after a failed transaction, the next message,
 * QUIT when its limit is reached or the relay drains, else idle. */
static void
conn_start(struct smtp_conn *c)
{
	struct smtp_relay	*r = c->relay;
	struct smtp_msg		*m;

	if (c->state != CONN_READY || c->cur != NULL)
		return;
	if (!c->caps.pipelining && c->nexp > 0)
		return;
	if (c->need_rset) {
		c->need_rset = 0;
		if (conn_cmd(c, EXP_RSET, NULL, "RSET\r\n") == -1)
			return;
		if (!c->caps.pipelining)
			return;
	}
	if (r->max_per_conn > 0 && c->nmsgs >= r->max_per_conn) {
		if (c->nexp == 0 || c->caps.pipelining)
			conn_quit(c);
		return;
	}
	if ((m = relay_take(r, c)) != NULL) {
		(void)conn_envelope(c, m);
		return;
	}
	if (c->nexp > 0)
		return;
	if (r->draining || r->freeing) {
		conn_quit(c);
		return;
	}
	if (!c->idle) {
		c->idle = 1;
		c->deadline = loop_now_ms() + (r->timeout_ms < SMTP_IDLE_MS ?
		    r->timeout_ms : SMTP_IDLE_MS);
	}
}

/* m failed at what with this reply. */
static void
msg_fail(struct smtp_conn *c, struct smtp_msg *m, const char *what, int code,
    int enh, const char *p, size_t n)
{
	char	red[SMTP_RED_MAX];

	if (m->failed)
		return;
	m->failed = 1;
	if (code >= 500)
		m->result = strcmp(what, "RCPT TO") == 0 && enh == 51 ?
		    SMTP_BOUNCED : SMTP_PERMFAIL;
	else
		m->result = SMTP_TEMPFAIL;
	reply_redacted(p, n, red, sizeof(red));
	snprintf(m->text, sizeof(m->text), "%s: %s: %s", c->relay->name, what,
	    red);
}

/* The transaction of c->cur ends before its data: report, RSET next. */
static void
conn_abort_cur(struct smtp_conn *c)
{
	struct smtp_msg	*m = c->cur;

	c->cur = NULL;
	c->need_rset = 1;
	conn_report(c, m, m->result, m->text);
	conn_start(c);
}

/* One reply to what c awaited.  0, or -1 when the connection is gone or
 * must stop reading (TLS starts). */
static int
conn_reply(struct smtp_conn *c, enum smtp_exp kind, struct smtp_msg *m,
    int code, int enh, const char *p, size_t n)
{
	struct smtp_relay	*r = c->relay;
	char			 red[SMTP_RED_MAX], why[SMTP_TEXT_MAX];
	size_t			 left;

	switch (kind) {
	case EXP_GREETING:
		if (code != 220) {
			reply_redacted(p, n, red, sizeof(red));
			snprintf(why, sizeof(why), "%s: relay refused the"
			    " session: %s", r->name, red);
			conn_setup_fail(c, why);
			return -1;
		}
		conn_ehlo(c);
		return 0;
	case EXP_EHLO:
		if (code != 250) {
			reply_redacted(p, n, red, sizeof(red));
			snprintf(why, sizeof(why), "%s: EHLO: %s", r->name,
			    red);
			conn_setup_fail(c, why);
			return -1;
		}
		smtp_ehlo_parse(p, n, &c->caps);
		if (!c->tls) {
			if (!c->caps.starttls) {
				snprintf(why, sizeof(why), "%s: relay does not"
				    " offer STARTTLS", r->name);
				conn_setup_fail(c, why);
				return -1;
			}
			(void)conn_cmd(c, EXP_STARTTLS, NULL, "STARTTLS\r\n");
			log_debug("smtp: %s: conn %u: STARTTLS", r->name,
			    c->id);
			return 0;
		}
		if (r->user != NULL)
			conn_auth(c);
		else
			conn_ready(c);
		return 0;
	case EXP_STARTTLS:
		if (code != 220) {
			reply_redacted(p, n, red, sizeof(red));
			snprintf(why, sizeof(why), "%s: STARTTLS: %s",
			    r->name, red);
			conn_setup_fail(c, why);
			return -1;
		}
		/* RFC 3207 5: what came with or after the 220 was sent
		 * before the handshake and may be an attacker's. */
		left = c->inlen - c->inoff;
		if (left > 0)
			log_warnx("smtp: %s: conn %u: %zu bytes after the"
			    " STARTTLS reply discarded", r->name, c->id,
			    left);
		c->inoff = c->inlen = 0;
		if (conn_flush(c) == -1)
			return -1;
		conn_handshake_start(c);
		return -1;
	case EXP_AUTH:
	case EXP_AUTH_USER:
	case EXP_AUTH_PASS:
		if (code == 235 && kind == EXP_AUTH) {
			log_debug("smtp: %s: conn %u: authenticated",
			    r->name, c->id);
			conn_ready(c);
			return 0;
		}
		if (code == 334 && kind == EXP_AUTH_USER) {
			conn_auth_login(c, r->user, EXP_AUTH_PASS);
			return 0;
		}
		if (code == 334 && kind == EXP_AUTH_PASS) {
			conn_auth_login(c, r->pass, EXP_AUTH);
			return 0;
		}
		reply_redacted(p, n, red, sizeof(red));
		snprintf(why, sizeof(why), "%s: authentication failed: %s",
		    r->name, red);
		conn_setup_fail(c, why);
		return -1;
	case EXP_MAIL:
		if (code / 100 != 2)
			msg_fail(c, m, "MAIL FROM", code, enh, p, n);
		if (c->caps.pipelining)
			return 0;
		if (m->failed)
			conn_abort_cur(c);
		else
			(void)conn_cmd(c, EXP_RCPT, m, "RCPT TO:<%s>\r\n",
			    m->rcpt);
		return 0;
	case EXP_RCPT:
		if (code / 100 != 2)
			msg_fail(c, m, "RCPT TO", code, enh, p, n);
		if (c->caps.pipelining)
			return 0;
		if (m->failed)
			conn_abort_cur(c);
		else
			(void)conn_cmd(c, EXP_DATA, m, "DATA\r\n");
		return 0;
	case EXP_DATA:
		if (code != 354) {
			msg_fail(c, m, "DATA", code, enh, p, n);
			conn_abort_cur(c);
			return 0;
		}
		/* A 354 after a failed RCPT (a pipelining server may say
		 * so): end the empty transaction, RFC 2920 3.1. */
		if (m->failed ? buf_add(&c->out, ".\r\n", 3) == -1 :
		    smtp_dotstuff(&c->out, m->body.data, m->body.len) == -1) {
			snprintf(why, sizeof(why), "%s: out of memory for"
			    " the message", r->name);
			conn_fail(c, why);
			return -1;
		}
		buf_free(&m->body);
		c->cur = NULL;
		c->ending = m;
		conn_expect(c, EXP_END, m);
		if (c->caps.pipelining)
			conn_start(c);
		return 0;
	case EXP_END:
		c->ending = NULL;
		r->failures = 0;	/* the relay works */
		if (!m->failed) {
			/* A success carries no text: nothing keeps it. */
			if (code / 100 == 2)
				m->result = SMTP_SENT;
			else
				msg_fail(c, m, "end of data", code, enh, p,
				    n);
		}
		conn_report(c, m, m->result, m->text);
		conn_start(c);
		return 0;
	case EXP_RSET:
		if (code / 100 != 2) {
			reply_redacted(p, n, red, sizeof(red));
			snprintf(why, sizeof(why), "%s: RSET: %s", r->name,
			    red);
			conn_fail(c, why);
			return -1;
		}
		conn_start(c);
		return 0;
	case EXP_QUIT:
		log_debug("smtp: %s: conn %u: QUIT answered", r->name, c->id);
		conn_close(c);
		return -1;
	}
	return 0;
}

/* Parse and act on the replies in the input.  0, or -1 when reading must
 * stop (connection gone, or TLS starting). */
static int
conn_replies(struct smtp_conn *c)
{
	struct smtp_relay	*r = c->relay;
	enum smtp_exp		 kind;
	struct smtp_msg		*m;
	char			 red[SMTP_RED_MAX], why[SMTP_TEXT_MAX];
	const char		*p;
	int			 n, code, enh;

	while (c->inoff < c->inlen) {
		p = c->in + c->inoff;
		n = smtp_reply_parse(p, c->inlen - c->inoff, &code, &enh);
		if (n == 0)
			break;
		if (n < 0) {
			snprintf(why, sizeof(why), "%s: malformed reply from"
			    " the relay", r->name);
			conn_fail(c, why);
			return -1;
		}
		c->inoff += (size_t)n;
		if (c->nexp == 0) {
			reply_redacted(p, (size_t)n, red, sizeof(red));
			snprintf(why, sizeof(why), "%s: %s: %s", r->name,
			    code == 421 ? "relay closes the connection" :
			    "unexpected reply", red);
			conn_fail(c, why);
			return -1;
		}
		kind = c->exp[c->exph].kind;
		m = c->exp[c->exph].msg;
		c->exph = (c->exph + 1) % SMTP_EXP_MAX;
		c->nexp--;
		if (c->nexp > 0)
			c->deadline = loop_now_ms() +
			    conn_stage_ms(c, c->exp[c->exph].kind);
		else
			c->deadline = 0;
		if (conn_reply(c, kind, m, code, enh, p, (size_t)n) == -1)
			return -1;
		if (c->state == CONN_CLOSED)
			return -1;
		/* Set-up is never pipelined: whatever follows its replies
		 * was sent before our next command, unsolicited (before TLS
		 * maybe injected, RFC 3207 5). */
		if (kind <= EXP_AUTH_PASS && c->inoff < c->inlen) {
			log_warnx("smtp: %s: conn %u: %zu unsolicited bytes"
			    " after the reply to %s discarded", r->name,
			    c->id, c->inlen - c->inoff,
			    smtp_exps[kind].name);
			c->inoff = c->inlen;
		}
	}
	if (c->state == CONN_READY && c->nexp == 0 && c->cur == NULL &&
	    c->deadline == 0)
		conn_start(c);
	return 0;
}

/* Read what there is and act on it.  0, or -1 when the connection is
 * gone. */
static int
conn_read(struct smtp_conn *c)
{
	struct smtp_relay	*r = c->relay;
	char			 why[SMTP_TEXT_MAX], reason[128];
	ssize_t			 n;
	size_t			 room;
	int			 e, eof = 0;

	c->rwant = 0;
	for (;;) {
		if (c->inoff == c->inlen)
			c->inoff = c->inlen = 0;
		else if (c->inoff > 0 && SMTP_IN_MAX - c->inlen < 4096) {
			memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
			c->inlen -= c->inoff;
			c->inoff = 0;
		}
		if (c->inlen == SMTP_IN_MAX) {
			snprintf(why, sizeof(why), "%s: reply too long",
			    r->name);
			conn_fail(c, why);
			return -1;
		}
		room = SMTP_IN_MAX - c->inlen;
		if (c->tls) {
			ERR_clear_error();
			errno = 0;
			n = SSL_read(c->ssl, c->in + c->inlen, (int)room);
			if (n <= 0) {
				e = SSL_get_error(c->ssl, (int)n);
				if (e == SSL_ERROR_WANT_READ)
					break;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->rwant = 1;
					break;
				}
				if (conn_ssl_why(e, errno, reason,
				    sizeof(reason)))
					eof = 1;
				else
					snprintf(why, sizeof(why), "%s: read"
					    " failed: %s", r->name, reason);
				goto fail;
			}
		} else {
			n = recv(c->fd, c->in + c->inlen, room, 0);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				snprintf(why, sizeof(why), "%s: read failed:"
				    " %s", r->name, strerror(errno));
				goto fail;
			}
			if (n == 0) {
				eof = 1;
				goto fail;
			}
		}
		c->inlen += (size_t)n;
		if (conn_replies(c) == -1)
			return c->state == CONN_CLOSED ? -1 : 0;
		/* The socket is polled level-triggered: what the kernel
		 * still holds is seen next turn, without a read(2) here
		 * that would only say EAGAIN.  What OpenSSL holds is not
		 * polled, so it is read now. */
		if (c->tls ? !SSL_has_pending(c->ssl) : (size_t)n < room)
			break;
	}
	return 0;
fail:
	if (eof) {
		if (c->nexp > 0)
			snprintf(why, sizeof(why), "%s: connection closed by"
			    " the relay while waiting for the reply to %s",
			    r->name, smtp_exps[c->exp[c->exph].kind].name);
		else
			snprintf(why, sizeof(why), "%s: connection closed by"
			    " the relay", r->name);
	}
	conn_fail(c, why);
	return -1;
}

static void
conn_connected(struct smtp_conn *c)
{
	struct smtp_relay	*r = c->relay;

	r->addr_ok = c->addr;
	log_debug("smtp: %s: conn %u connected to %s port %d", r->name, c->id,
	    r->addrs[c->addr].text, r->cfg->port);
	c->want_write = 0;
	if (r->cfg->tls == CFG_RELAY_TLS) {
		conn_handshake_start(c);
		return;
	}
	c->state = CONN_SETUP;
	conn_expect(c, EXP_GREETING, NULL);
	conn_set_events(c);
}

static void
conn_io(void *arg, short revents)
{
	struct smtp_conn	*c = arg;
	struct smtp_relay	*r = c->relay;
	socklen_t		 sl;
	int			 err = 0;

	(void)revents;
	relay_enter(r);
	switch (c->state) {
	case CONN_CONNECTING:
		sl = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			break;
		if (err != 0) {
			conn_connect(c, err);
			break;
		}
		conn_connected(c);
		if (c->state == CONN_HANDSHAKE || c->state == CONN_CLOSED)
			break;
		(void)conn_read(c);
		break;
	case CONN_HANDSHAKE:
		conn_handshake(c);
		if (c->state != CONN_SETUP)
			break;
		/* Data may wait inside OpenSSL: read before polling. */
		if (conn_flush(c) == 0)
			(void)conn_read(c);
		break;
	case CONN_SETUP:
	case CONN_READY:
	case CONN_QUIT:
		if (conn_flush(c) == 0)
			(void)conn_read(c);
		break;
	case CONN_CLOSED:
		break;
	}
	/* What the replies made us say goes out now, in one write. */
	if (c->state == CONN_SETUP || c->state == CONN_READY ||
	    c->state == CONN_QUIT)
		(void)conn_flush(c);
	relay_leave(r);
}

/* Connect to the relay's addresses from c->addr on; err is why the
 * previous one failed (0: first try). */
static void
conn_connect(struct smtp_conn *c, int err)
{
	struct smtp_relay	*r = c->relay;
	struct smtp_addr	*a;
	char			 why[SMTP_TEXT_MAX];
	int			 fd, one = 1;

	if (c->fd != -1) {
		loop_remove_fd(r->loop, c->fd);
		close(c->fd);
		c->fd = -1;
		log_debug("smtp: %s: conn %u: %s port %d: %s", r->name, c->id,
		    r->addrs[c->addr].text, r->cfg->port, strerror(err));
		c->addr = (c->addr + 1) % r->naddrs;
		if (c->addr == c->addr0)
			goto fail;
	}
	for (;;) {
		a = &r->addrs[c->addr];
		fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1) {
			err = errno;
			goto next;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		if (connect(fd, (struct sockaddr *)&a->ss, a->len) == 0 ||
		    errno == EINPROGRESS) {
			if (loop_add_fd(r->loop, fd, ZMQ_POLLIN | ZMQ_POLLOUT,
			    conn_io, c) == -1) {
				close(fd);
				snprintf(why, sizeof(why), "%s: out of memory",
				    r->name);
				conn_fail(c, why);
				return;
			}
			c->fd = fd;
			c->events = ZMQ_POLLIN | ZMQ_POLLOUT;
			c->state = CONN_CONNECTING;
			c->deadline = loop_now_ms() + r->timeout_ms;
			return;
		}
		err = errno;
		close(fd);
next:
		log_debug("smtp: %s: conn %u: %s port %d: %s", r->name, c->id,
		    a->text, r->cfg->port, strerror(err));
		c->addr = (c->addr + 1) % r->naddrs;
		if (c->addr == c->addr0)
			break;
	}
fail:
	r->resolve = 1;
	snprintf(why, sizeof(why), "%s: cannot connect to %s port %d: %s",
	    r->name, r->cfg->host, r->cfg->port, strerror(err));
	conn_fail(c, why);
}

/* A look-up of the relay's host by getaddrinfo_a(3): glibc's own thread
 * waits for the DNS, the loop only asks gai_error() now and then. */
struct relay_gai {
	struct gaicb	 cb;
	struct addrinfo	 hints;
	char		 host[256];
	char		 port[16];
};

/* The addresses of res, IPv4 and IPv6, into r: how many. */
static size_t
relay_addrs(struct smtp_relay *r, const struct addrinfo *res)
{
	const struct addrinfo	*ai;
	size_t			 n = 0;

	for (ai = res; ai != NULL && n < SMTP_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(r->addrs[n].ss) ||
		    (ai->ai_family != AF_INET && ai->ai_family != AF_INET6))
			continue;
		memcpy(&r->addrs[n].ss, ai->ai_addr, ai->ai_addrlen);
		r->addrs[n].len = ai->ai_addrlen;
		if (ai->ai_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)
			    ai->ai_addr)->sin_addr, r->addrs[n].text,
			    sizeof(r->addrs[n].text));
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)
			    ai->ai_addr)->sin6_addr, r->addrs[n].text,
			    sizeof(r->addrs[n].text));
		n++;
	}
	return n;
}

/* Forget a look-up: cancelled, or its result freed.  One glibc is still
 * running cannot be freed: it is waited for a moment (a reload or the
 * shutdown), then left to the process. */
static void
relay_gai_drop(struct smtp_relay *r)
{
	struct relay_gai	*g = r->gai;
	const struct gaicb	*list[1];
	struct timespec		 ts = { 2, 0 };

	if (g == NULL)
		return;
	r->gai = NULL;
	if (gai_cancel(&g->cb) == EAI_NOTCANCELED) {
		list[0] = &g->cb;
		(void)gai_suspend(list, 1, &ts);
		if (gai_error(&g->cb) == EAI_INPROGRESS) {
			log_warnx("smtp: %s: look-up of %s still running,"
			    " left behind", r->name, g->host);
			return;
		}
	}
	if (g->cb.ar_result != NULL)
		freeaddrinfo(g->cb.ar_result);
	free(g);
}

/* Look the relay's host up without blocking the loop: an address literal
 * at once, a name by getaddrinfo_a.  0 when r->addrs is set, 1 while the
 * look-up runs (relay_schedule polls it), -1 with a sentence in why. */
static int
relay_resolve(struct smtp_relay *r, char *why, size_t whylen)
{
	struct relay_gai	*g;
	struct addrinfo		 hints, *res = NULL;
	struct gaicb		*list[1];
	char			 port[16];
	size_t			 n;
	int			 rc;

	if ((g = r->gai) != NULL) {
		if ((rc = gai_error(&g->cb)) == EAI_INPROGRESS)
			return 1;
		if (rc != 0) {
			snprintf(why, whylen, "%s: cannot resolve %s: %s",
			    r->name, r->cfg->host, rc == EAI_SYSTEM ?
			    "system error" : gai_strerror(rc));
			relay_gai_drop(r);
			return -1;
		}
		n = relay_addrs(r, g->cb.ar_result);
		relay_gai_drop(r);
	} else {
		snprintf(port, sizeof(port), "%d", r->cfg->port);
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
		if (getaddrinfo(r->cfg->host, port, &hints, &res) == 0) {
			n = relay_addrs(r, res);
			freeaddrinfo(res);
		} else {
			/* A name: the look-up goes on meanwhile. */
			if (strlen(r->cfg->host) >= sizeof(g->host) ||
			    (g = calloc(1, sizeof(*g))) == NULL) {
				snprintf(why, whylen, "%s: cannot resolve %s:"
				    " %s", r->name, r->cfg->host,
				    strlen(r->cfg->host) >= sizeof(g->host) ?
				    "name too long" : "out of memory");
				return -1;
			}
			snprintf(g->host, sizeof(g->host), "%s",
			    r->cfg->host);
			memcpy(g->port, port, sizeof(port));
			g->hints.ai_family = AF_UNSPEC;
			g->hints.ai_socktype = SOCK_STREAM;
			g->hints.ai_flags = AI_NUMERICSERV;
			g->cb.ar_name = g->host;
			g->cb.ar_service = g->port;
			g->cb.ar_request = &g->hints;
			list[0] = &g->cb;
			if ((rc = getaddrinfo_a(GAI_NOWAIT, list, 1,
			    NULL)) != 0) {
				free(g);
				snprintf(why, whylen, "%s: cannot resolve %s:"
				    " %s", r->name, r->cfg->host,
				    gai_strerror(rc));
				return -1;
			}
			r->gai = g;
			log_debug("smtp: %s: looking up %s", r->name,
			    r->cfg->host);
			return 1;
		}
	}
	if (n == 0) {
		snprintf(why, whylen, "%s: %s has no IPv4 or IPv6 address",
		    r->name, r->cfg->host);
		return -1;
	}
	r->naddrs = n;
	r->addr_ok = 0;
	r->resolve = 0;
	return 0;
}

/* Open one more connection: 0, or -1 when none can be opened now (a
 * look-up runs, or a back-off started). */
static int
relay_open(struct smtp_relay *r)
{
	struct smtp_conn	*c;
	char			 why[SMTP_TEXT_MAX];
	int			 rc = 0;

	if ((r->naddrs == 0 || r->resolve) &&
	    (rc = relay_resolve(r, why, sizeof(why))) == 1)
		return -1;
	if (rc == -1 && r->naddrs > 0) {
		log_warnx("smtp: %s (trying the previous addresses)", why);
		r->resolve = 0;		/* until the next connect failure */
	} else if (rc == -1) {
		log_warnx("smtp: %s", why);
		r->connect_failures++;
		relay_backoff(r);
		r->resolve = 1;
		if (!relay_has_ready(r))
			relay_fail_queue(r, SMTP_TEMPFAIL, why);
		return -1;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->in = malloc(SMTP_IN_MAX)) == NULL) {
		free(c);
		log_warnx("smtp: %s: out of memory", r->name);
		relay_backoff(r);
		return -1;
	}
	c->relay = r;
	c->id = ++r->nextid;
	c->fd = -1;
	c->addr = c->addr0 = r->addr_ok < r->naddrs ? r->addr_ok : 0;
	buf_init(&c->out, 0);
	TAILQ_INSERT_TAIL(&r->conns, c, entry);
	r->nconns++;
	r->connects++;
	log_debug("smtp: %s: conn %u: connecting to %s port %d", r->name,
	    c->id, r->cfg->host, r->cfg->port);
	c->state = CONN_CONNECTING;
	conn_connect(c, 0);
	return 0;
}

/* Give waiting messages to ready connections; open connections for the
 * rest within the limits. */
static void
relay_kick(struct smtp_relay *r)
{
	struct smtp_conn	*c;
	int64_t			 now;
	int			 opening;

	TAILQ_FOREACH(c, &r->conns, entry) {
		if (c->state != CONN_READY || c->cur != NULL)
			continue;
		conn_start(c);
		(void)conn_flush(c);
	}
	if (r->freeing)
		return;
	now = loop_now_ms();
	while (r->nqueued > 0 && r->nconns < r->max_conns &&
	    r->backoff_until <= now) {
		opening = 0;
		TAILQ_FOREACH(c, &r->conns, entry)
			if (c->state == CONN_CONNECTING ||
			    c->state == CONN_HANDSHAKE ||
			    c->state == CONN_SETUP)
				opening++;
		if ((size_t)opening >= r->nqueued)
			break;
		/* No point opening more to wait for the rate limit. */
		if (r->rate > 0 && r->nconns > 0 &&
		    relay_tokens_now(r, now) < 1000)
			break;
		if (relay_open(r) == -1)
			break;
	}
}

static void
relay_reap(struct smtp_relay *r)
{
	struct smtp_conn	*c, *next;

	for (c = TAILQ_FIRST(&r->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CONN_CLOSED) {
			TAILQ_REMOVE(&r->conns, c, entry);
			conn_free(c);
		}
	}
}

/* The end of an entry point: report, feed the pool, report what that
 * settled, until nothing moves. */
static void
relay_settle(struct smtp_relay *r)
{
	int	rounds = 0;

	do {
		relay_flush_reports(r);
		relay_reap(r);
		if (r->kick || r->nqueued > 0) {
			r->kick = 0;
			relay_kick(r);
		}
	} while ((r->nreports > 0 || r->kick) && ++rounds < 64);
	relay_reap(r);
}

/* Deadlines: timeouts, idle connections, backoff and rate ends. */
static int64_t
relay_due(void *arg)
{
	const struct smtp_relay	*r = arg;

	return r->armed;
}

static void
relay_timer(void *arg)
{
	struct smtp_relay	*r = arg;
	struct smtp_conn	*c;
	char			 why[SMTP_TEXT_MAX];
	int64_t			 now;

	r->armed = -1;
	relay_enter(r);
	now = loop_now_ms();
	TAILQ_FOREACH(c, &r->conns, entry) {
		if (c->state == CONN_CLOSED || c->deadline <= 0 ||
		    c->deadline > now)
			continue;
		switch (c->state) {
		case CONN_CONNECTING:
			/* The next address, if any, else fail. */
			conn_connect(c, ETIMEDOUT);
			break;
		case CONN_HANDSHAKE:
			snprintf(why, sizeof(why), "%s: TLS: timeout in the"
			    " handshake", r->name);
			conn_fail(c, why);
			break;
		case CONN_READY:
			if (c->nexp == 0) {
				log_debug("smtp: %s: conn %u idle", r->name,
				    c->id);
				conn_quit(c);
				(void)conn_flush(c);
				break;
			}
			/* FALLTHROUGH */
		case CONN_SETUP:
		case CONN_QUIT:
			snprintf(why, sizeof(why), "%s: timeout waiting for"
			    " the reply to %s", r->name, c->nexp > 0 ?
			    smtp_exps[c->exp[c->exph].kind].name : "QUIT");
			conn_fail(c, why);
			break;
		case CONN_CLOSED:
			break;
		}
	}
	r->kick = 1;
	relay_leave(r);
}

/*
 * The public interface.
 */

/* Read "user\npassword\n" (the final newline optional).  0 or -1. */
static int
relay_credential(struct smtp_relay *r, const char *path, char *err,
    size_t errlen)
{
	char	 data[SMTP_CRED_MAX + 1];
	char	*nl, *pw;
	ssize_t	 n;
	size_t	 len = 0;
	int	 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "smtp: relay \"%s\": credential file"
		    " \"%s\": %s", r->name, path, strerror(errno));
		return -1;
	}
	while (len < sizeof(data) - 1) {
		n = read(fd, data + len, sizeof(data) - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "smtp: relay \"%s\": credential"
			    " file \"%s\": %s", r->name, path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	data[len] = '\0';
	if (len >= SMTP_CRED_MAX) {
		snprintf(err, errlen, "smtp: relay \"%s\": credential file"
		    " \"%s\": too long", r->name, path);
		goto out;
	}
	if (memchr(data, '\0', len) != NULL) {
		snprintf(err, errlen, "smtp: relay \"%s\": credential file"
		    " \"%s\": expected two lines, the user and the password"
		    " (a NUL byte found)", r->name, path);
		goto out;
	}
	if (len > 0 && data[len - 1] == '\n')
		data[--len] = '\0';
	if (len > 0 && data[len - 1] == '\r')
		data[--len] = '\0';
	nl = strchr(data, '\n');
	pw = nl != NULL ? nl + 1 : NULL;
	if (nl != NULL) {
		*nl = '\0';
		if (nl > data && nl[-1] == '\r')
			nl[-1] = '\0';
	}
	if (nl == NULL || data[0] == '\0' || pw[0] == '\0' ||
	    strlen(data) > 255 || strlen(pw) > 255 ||
	    strpbrk(pw, "\r\n") != NULL || strchr(data, '\r') != NULL) {
		snprintf(err, errlen, "smtp: relay \"%s\": credential file"
		    " \"%s\": expected two lines, the user and the password"
		    " (each 1 to 255 bytes)", r->name, path);
		goto out;
	}
	if ((r->user = strdup(data)) == NULL ||
	    (r->pass = strdup(pw)) == NULL) {
		snprintf(err, errlen, "smtp: relay \"%s\": out of memory",
		    r->name);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(data, sizeof(data));
	close(fd);
	return rc;
}

/* Keep the newest session to resume on the next connection. */
static int
relay_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct smtp_relay	*r;

	r = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	if (r == NULL)
		return 0;
	if (r->session != NULL)
		SSL_SESSION_free(r->session);
	r->session = sess;
	return 1;
}

static void
relay_helo(struct smtp_relay *r)
{
	const char	*h = r->cfg->helo;
	char		 host[256];
	size_t		 i;

	if (h == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		h = host;
	}
	for (i = 0; h[i] != '\0'; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') ||
		    (h[i] >= 'A' && h[i] <= 'Z') ||
		    (h[i] >= '0' && h[i] <= '9') || h[i] == '-' ||
		    h[i] == '.' || h[i] == '_' || h[i] == '[' ||
		    h[i] == ']' || h[i] == ':'))
			break;
	if (h[0] == '\0' || h[i] != '\0' || i >= sizeof(r->helo)) {
		if (r->cfg->helo != NULL)
			log_warnx("smtp: %s: helo name unusable, using"
			    " \"localhost\"", r->name);
		h = "localhost";
	}
	snprintf(r->helo, sizeof(r->helo), "%s", h);
}

/*
 * Resolution: the host's look-up starts here, and again before the next
 * connection after a connect failure; a name is looked up by glibc's
 * getaddrinfo_a in its own thread, so a slow or dead DNS server holds up
 * this relay's connections, never the loop.  A name that does not resolve
 * is not an error here: the relay backs off and retries.
 */
struct smtp_relay *
smtp_relay_new(struct loop *loop, const struct cfg_relay *cfg,
    const struct cfg_tls *tls, smtp_done_cb done, void *arg, char *err,
    size_t errlen)
{
	struct smtp_relay	*r;
	char			 why[SMTP_TEXT_MAX];

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "smtp: relay \"%s\": out of memory",
		    cfg->name);
		return NULL;
	}
	r->loop = loop;
	r->cfg = cfg;
	r->name = cfg->name;
	r->done = done;
	r->arg = arg;
	r->armed = -1;
	TAILQ_INIT(&r->queue);
	TAILQ_INIT(&r->reports);
	TAILQ_INIT(&r->conns);
	r->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 60000;
	r->max_conns = cfg->max_connections > 0 ? cfg->max_connections : 1;
	r->max_per_conn = cfg->max_messages_per_connection;
	r->rate = cfg->rate > 0 ? cfg->rate : 0;
	r->burst = r->rate > 0 ? (r->rate >= 10 ? r->rate / 10 : 1) * 1000 :
	    0;
	r->tokens = r->burst;
	r->tokens_at = loop_now_ms();
	if (tls != NULL)
		r->tls = *tls;
	if (cfg->tls_files.ca_file != NULL)
		r->tls.ca_file = cfg->tls_files.ca_file;
	if (cfg->tls_files.cert_file != NULL) {
		r->tls.cert_file = cfg->tls_files.cert_file;
		r->tls.key_file = cfg->tls_files.key_file;
	} else if (cfg->tls_files.key_file != NULL)
		r->tls.key_file = cfg->tls_files.key_file;
	relay_helo(r);
	if (cfg->credential != NULL &&
	    relay_credential(r, cfg->credential, err, errlen) == -1)
		goto fail;
	if ((r->ctx = tls_client_ctx(&r->tls, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "smtp: relay \"%s\": %s", r->name, why);
		goto fail;
	}
	SSL_CTX_set_app_data(r->ctx, r);
	SSL_CTX_set_session_cache_mode(r->ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(r->ctx, relay_new_session);
	if (loop_add_timer(loop, relay_due, relay_timer, r) == -1) {
		snprintf(err, errlen, "smtp: relay \"%s\": out of memory",
		    r->name);
		goto fail;
	}
	r->timer = 1;
	if (relay_resolve(r, why, sizeof(why)) == -1) {
		log_warnx("smtp: %s (will retry)", why);
		r->resolve = 1;
	}
	return r;
fail:
	smtp_relay_free(r);
	return NULL;
}

void
smtp_relay_free(struct smtp_relay *r)
{
	struct smtp_conn	*c;
	char			 why[SMTP_TEXT_MAX];

	if (r == NULL)
		return;
	r->freeing = 1;
	r->depth++;
	/* Outcomes already known first, with their results. */
	relay_flush_reports(r);
	snprintf(why, sizeof(why), "%s: relay closed before the reply",
	    r->name);
	TAILQ_FOREACH(c, &r->conns, entry) {
		conn_release(c, c->ending, why);
		conn_release(c, c->cur, why);
		c->cur = c->ending = NULL;
		conn_close(c);
	}
	snprintf(why, sizeof(why), "%s: not sent", r->name);
	relay_fail_queue(r, SMTP_NOT_SENT, why);
	relay_flush_reports(r);
	while ((c = TAILQ_FIRST(&r->conns)) != NULL) {
		TAILQ_REMOVE(&r->conns, c, entry);
		conn_free(c);
	}
	if (r->timer)
		loop_remove_timer(r->loop, r);
	relay_gai_drop(r);
	if (r->session != NULL)
		SSL_SESSION_free(r->session);
	SSL_CTX_free(r->ctx);
	if (r->user != NULL) {
		OPENSSL_cleanse(r->user, strlen(r->user));
		free(r->user);
	}
	if (r->pass != NULL) {
		OPENSSL_cleanse(r->pass, strlen(r->pass));
		free(r->pass);
	}
	free(r);
}

int
smtp_relay_submit(struct smtp_relay *r, const char *from, const char *rcpt,
    struct buf *msg, uint64_t cookie)
{
	struct smtp_msg	*m;
	size_t		 fl, rl, max;
	int		 utf8 = 0;

	if (smtp_relay_room(r) == 0)
		return -1;
	fl = strlen(from);
	rl = strlen(rcpt);
	if ((m = malloc(sizeof(*m) + fl + rl + 2)) == NULL)
		return -1;
	memset(m, 0, sizeof(*m));
	m->cookie = cookie;
	memcpy(m->addrs, from, fl + 1);
	m->rcpt = m->addrs + fl + 1;
	memcpy(m->rcpt, rcpt, rl + 1);
	max = msg->max;
	m->body = *msg;
	buf_init(msg, max);
	if (!addr_ok(from, fl, &utf8) || rl == 0 || !addr_ok(rcpt, rl,
	    &utf8)) {
		/* Never on the wire: it could inject commands. */
		snprintf(m->text, sizeof(m->text), "%s: invalid envelope"
		    " address", r->name);
		relay_report(r, m, SMTP_PERMFAIL, m->text);
	} else {
		m->utf8 = utf8;
		TAILQ_INSERT_TAIL(&r->queue, m, entry);
		r->nqueued++;
	}
	r->kick = 1;
	if (r->depth == 0) {
		/* Feed the pool now, but report nothing from in here: what
		 * this settles waits for the timer, armed at once. */
		r->depth++;
		r->kick = 0;
		relay_kick(r);
		r->depth--;
		relay_schedule(r);
	}
	return 0;
}

size_t
smtp_relay_room(const struct smtp_relay *r)
{
	size_t	cap, used, room;
	int64_t	now, avail;

	if (r == NULL || r->draining || r->freeing)
		return 0;
	now = loop_now_ms();
	if (r->backoff_until > now)
		return 0;
	cap = (size_t)r->max_conns * SMTP_WINDOW;
	used = r->nqueued + r->inflight + r->nreports;
	if (used >= cap)
		return 0;
	room = cap - used;
	if (r->rate > 0) {
		/* At most one message waits for a token. */
		avail = relay_tokens_now(r, now) / 1000 + 1;
		if ((int64_t)r->nqueued >= avail)
			return 0;
		if ((size_t)(avail - (int64_t)r->nqueued) < room)
			room = (size_t)(avail - (int64_t)r->nqueued);
	}
	return room;
}

int64_t
smtp_relay_room_at(const struct smtp_relay *r)
{
	int64_t	now;

	if (r == NULL || r->draining || r->freeing)
		return -1;
	now = loop_now_ms();
	if (r->backoff_until > now)
		return r->backoff_until;
	if (smtp_relay_room(r) > 0)
		return -1;
	if (r->rate > 0 && r->nqueued + r->inflight + r->nreports <
	    (size_t)r->max_conns * SMTP_WINDOW) {
		/* Room comes back with the token after the one the queued
		 * message waits for. */
		return relay_token_at(r, now) + (r->nqueued > 0 ?
		    (1000 + r->rate - 1) / r->rate : 0);
	}
	return -1;
}

void
smtp_relay_unqueue(struct smtp_relay *r)
{
	char	why[SMTP_TEXT_MAX];

	if (r == NULL)
		return;
	relay_enter(r);
	snprintf(why, sizeof(why), "%s: not sent", r->name);
	relay_fail_queue(r, SMTP_NOT_SENT, why);
	relay_leave(r);
}

void
smtp_relay_drain(struct smtp_relay *r)
{
	if (r == NULL)
		return;
	relay_enter(r);
	r->draining = 1;
	r->kick = 1;
	relay_leave(r);
}

int
smtp_relay_idle(const struct smtp_relay *r)
{
	return r == NULL || (r->nqueued == 0 && r->inflight == 0 &&
	    r->nreports == 0);
}

void
smtp_relay_stats(const struct smtp_relay *r, struct smtp_relay_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (r == NULL)
		return;
	st->name = r->name;
	st->connections = r->nconns;
	st->queued = r->nqueued;
	st->in_flight = r->inflight;
	st->sent = r->sent;
	st->tempfail = r->tempfail;
	st->permfail = r->permfail;
	st->bounced = r->bounced;
	st->connects = r->connects;
	st->connect_failures = r->connect_failures;
	st->pipelining = r->pipelining;
}
