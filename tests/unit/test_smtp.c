/* test_smtp.c - the SMTP client's pure parts (daemon/smtp.c), one cmocka
 * test per table row: smtp_reply_parse (multi-line, bare LF, incomplete,
 * malformed, enhanced codes), smtp_dotstuff (leading dots, line ends at
 * the buffer's edges, bare CR/LF, empty body, a full buffer), smtp_redact
 * (brackets, bare addresses, controls, UTF-8 cut) and smtp_ehlo_parse.
 * Then a few relay cases on loopback with no SMTP server: a refused
 * connection, a server that never greets (unqueue, free), bad envelopes
 * and credential files.  Sessions are tested in tests/integration. */
#include <sys/socket.h>

#include <netinet/in.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "loop.h"
#include "smtp.h"

/*
 * smtp_reply_parse
 */

struct reply_row {
	const char	*name;
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	int		 rc;		/* -2: the whole input */
	int		 code;
	int		 enh;
};

#define LONG2048 \
	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static const struct reply_row reply_rows[] = {
	{ "reply: one line", "250 OK\r\n", 0, -2, 250, 0 },
	{ "reply: code alone", "250\r\n", 0, -2, 250, 0 },
	{ "reply: bare LF", "250 OK\n", 0, -2, 250, 0 },
	{ "reply: multi-line", "250-mx.example.org\r\n250-PIPELINING\r\n"
	    "250 SIZE 100\r\n", 0, -2, 250, 0 },
	{ "reply: multi-line bare LF", "250-a\n250-b\n250 c\n", 0, -2, 250,
	    0 },
	{ "reply: mixed line ends", "250-a\r\n250 c\n", 0, -2, 250, 0 },
	{ "reply: empty continuation", "250-\r\n250 ok\r\n", 0, -2, 250, 0 },
	{ "reply: only the first of two", "250 a\r\n354 go\r\n", 0, 7, 250,
	    0 },
	{ "reply: 354", "354 End data with <CR><LF>.<CR><LF>\r\n", 0, -2,
	    354, 0 },
	{ "reply: 599 edge", "599 x\r\n", 0, -2, 599, 0 },
	{ "reply: 200 edge", "200 x\r\n", 0, -2, 200, 0 },
	{ "reply: NUL in text", "250 a\0b\r\n", 9, -2, 250, 0 },
	{ "reply: CR inside text", "250 a\rb\r\n", 0, -2, 250, 0 },

	/* incomplete */
	{ "incomplete: empty", "", 0, 0, 0, 0 },
	{ "incomplete: two digits", "25", 0, 0, 0, 0 },
	{ "incomplete: no line end", "250 OK", 0, 0, 0, 0 },
	{ "incomplete: CR only", "250 OK\r", 0, 0, 0, 0 },
	{ "incomplete: continuation", "250-a\r\n", 0, 0, 0, 0 },
	{ "incomplete: continuation then part", "250-a\r\n250 b", 0, 0, 0,
	    0 },

	/* malformed */
	{ "malformed: letters", "abc def\r\n", 0, -1, 0, 0 },
	{ "malformed: short line", "25\r\n", 0, -1, 0, 0 },
	{ "malformed: empty line", "\r\n", 0, -1, 0, 0 },
	{ "malformed: bad separator", "250x\r\n", 0, -1, 0, 0 },
	{ "malformed: codes differ", "250-a\r\n251 b\r\n", 0, -1, 0, 0 },
	{ "malformed: code 199", "199 x\r\n", 0, -1, 0, 0 },
	{ "malformed: code 600", "600 x\r\n", 0, -1, 0, 0 },
	{ "malformed: code 099", "099 x\r\n", 0, -1, 0, 0 },
	{ "malformed: second line bad", "250-a\r\nxyz\r\n", 0, -1, 0, 0 },
	{ "malformed: leading space", " 250 x\r\n", 0, -1, 0, 0 },

	/* enhanced status codes */
	{ "enh: 5.1.1", "550 5.1.1 <a@b>: no such user\r\n", 0, -2, 550,
	    51 },
	{ "enh: multi-line", "550-5.1.1 first\r\n550 5.1.1 second\r\n", 0,
	    -2, 550, 51 },
	{ "enh: 2.0.0 alone", "250 2.0.0\r\n", 0, -2, 250, 20 },
	{ "enh: 4.3.1", "452 4.3.1 Insufficient system storage\r\n", 0, -2,
	    452, 43 },
	{ "enh: 5.7.8", "535 5.7.8 Authentication failed\r\n", 0, -2, 535,
	    57 },
	{ "enh: three-digit detail", "550 5.1.123 x\r\n", 0, -2, 550, 51 },
	{ "enh: class differs", "550 4.1.1 x\r\n", 0, -2, 550, 0 },
	{ "enh: no detail", "550 5.1 x\r\n", 0, -2, 550, 0 },
	{ "enh: subject above 9", "550 5.10.1 x\r\n", 0, -2, 550, 0 },
	{ "enh: glued text", "550 5.1.1x\r\n", 0, -2, 550, 0 },
	{ "enh: four-digit detail", "550 5.1.1234 x\r\n", 0, -2, 550, 0 },
	{ "enh: class 3", "354 3.0.0 go\r\n", 0, -2, 354, 0 },
	{ "enh: none", "550 no such user\r\n", 0, -2, 550, 0 },
};

#define NREPLY	(sizeof(reply_rows) / sizeof(reply_rows[0]))

static void
test_reply_row(void **state)
{
	const struct reply_row	*r = *state;
	size_t			 len = r->len ? r->len : strlen(r->in);
	int			 rc, code, enh;

	rc = smtp_reply_parse(r->in, len, &code, &enh);
	assert_int_equal(rc, r->rc == -2 ? (int)len : r->rc);
	if (rc > 0) {
		assert_int_equal(code, r->code);
		assert_int_equal(enh, r->enh);
	}
}

/* Lines at and past the 2048-byte limit, complete and partial. */
static void
test_reply_long(void **state)
{
	struct buf	b;
	int		code, enh, i;

	(void)state;
	buf_init(&b, 0);
	buf_adds(&b, "250 ");
	for (i = 0; i < 2044; i++)
		buf_addc(&b, 'x');
	assert_int_equal(b.len, 2048);
	/* No line end yet: still waiting, even with a CR. */
	assert_int_equal(smtp_reply_parse(b.data, b.len, &code, &enh), 0);
	buf_addc(&b, '\r');
	assert_int_equal(smtp_reply_parse(b.data, b.len, &code, &enh), 0);
	buf_addc(&b, '\n');
	assert_int_equal(smtp_reply_parse(b.data, b.len, &code, &enh), 2050);
	/* One more byte: malformed, complete or not. */
	buf_reset(&b);
	buf_adds(&b, "250 ");
	for (i = 0; i < 2045; i++)
		buf_addc(&b, 'x');
	assert_int_equal(smtp_reply_parse(b.data, b.len, &code, &enh), 0);
	buf_addc(&b, 'y');
	assert_int_equal(smtp_reply_parse(b.data, b.len, &code, &enh), -1);
	b.len = 2049;
	buf_add(&b, "\r\n", 2);
	assert_int_equal(smtp_reply_parse(b.data, b.len, &code, &enh), -1);
	/* A long second line of a multi-line reply. */
	buf_reset(&b);
	buf_adds(&b, "250-ok\r\n250 ");
	for (i = 0; i < 2100; i++)
		buf_addc(&b, 'x');
	assert_int_equal(smtp_reply_parse(b.data, b.len, &code, &enh), -1);
	buf_free(&b);
}

/*
 * smtp_dotstuff
 */

struct stuff_row {
	const char	*name;
	const char	*in;
	const char	*out;
};

static const struct stuff_row stuff_rows[] = {
	{ "stuff: empty body", "", ".\r\n" },
	{ "stuff: one line", "a\r\n", "a\r\n.\r\n" },
	{ "stuff: no final CRLF", "a", "a\r\n.\r\n" },
	{ "stuff: leading dot", ".a\r\n", "..a\r\n.\r\n" },
	{ "stuff: dot line inside", "a\r\n.\r\nb\r\n",
	    "a\r\n..\r\nb\r\n.\r\n" },
	{ "stuff: dot alone", ".", "..\r\n.\r\n" },
	{ "stuff: dot at the end", "a\r\n.", "a\r\n..\r\n.\r\n" },
	{ "stuff: dot line at the end", "a\r\n.\r\n", "a\r\n..\r\n.\r\n" },
	{ "stuff: two dots", "..\r\n", "...\r\n.\r\n" },
	{ "stuff: dot mid-line", "a.b\r\n. c\r\n", "a.b\r\n.. c\r\n.\r\n" },
	{ "stuff: empty line", "\r\n", "\r\n.\r\n" },
	{ "stuff: empty then dot", "\r\n.\r\n", "\r\n..\r\n.\r\n" },
	{ "stuff: bare LF", "a\n.b\n", "a\r\n..b\r\n.\r\n" },
	{ "stuff: bare LF smuggling", "a\r\n\n.\n", "a\r\n\r\n..\r\n.\r\n" },
	{ "stuff: bare CR", "a\r.b", "a\r\n..b\r\n.\r\n" },
	{ "stuff: CR at the end", "a\r", "a\r\n.\r\n" },
	{ "stuff: LF at the end", "a\n", "a\r\n.\r\n" },
	{ "stuff: LF CR", "a\n\r.", "a\r\n\r\n..\r\n.\r\n" },
	{ "stuff: CR CR LF", "a\r\r\n", "a\r\n\r\n.\r\n" },
	{ "stuff: 8-bit kept", "\xc3\xa9.\r\n.\xc3\xa9",
	    "\xc3\xa9.\r\n..\xc3\xa9\r\n.\r\n" },
};

#define NSTUFF	(sizeof(stuff_rows) / sizeof(stuff_rows[0]))

static void
test_stuff_row(void **state)
{
	const struct stuff_row	*r = *state;
	struct buf		 b;

	buf_init(&b, 0);
	assert_int_equal(smtp_dotstuff(&b, r->in, strlen(r->in)), 0);
	assert_int_equal(b.len, strlen(r->out));
	assert_memory_equal(b.data, r->out, b.len);
	/* Appends: what was there stays. */
	buf_reset(&b);
	buf_adds(&b, "X");
	assert_int_equal(smtp_dotstuff(&b, r->in, strlen(r->in)), 0);
	assert_int_equal(b.data[0], 'X');
	assert_memory_equal(b.data + 1, r->out, strlen(r->out));
	buf_free(&b);
}

static void
test_stuff_full(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 6);
	assert_int_equal(smtp_dotstuff(&b, "abcdef", 6), -1);
	buf_free(&b);
	buf_init(&b, 8);
	assert_int_equal(smtp_dotstuff(&b, "abc", 3), 0);	/* 8 exactly */
	assert_int_equal(b.len, 8);
	buf_free(&b);
}

/* What a server makes of stuffed data (RFC 5321 4.5.2): lines up to
 * "." alone, a leading dot removed.  Must give back the input with every
 * line end as CRLF, and the terminator must be the only "." line.  Short
 * texts dense in dots, CRs and LFs, then long ones where they are rare,
 * so that runs of sixteen and more octets without one (the vector scan)
 * end at every offset. */
static void
test_stuff_roundtrip(void **state)
{
	static const char	alpha[] = ".\r\na";
	struct buf		in, out, norm, back;
	size_t			i, n, pos, eol;
	unsigned		seed = 12345, k;
	int			round, ended;

	(void)state;
	for (round = 0; round < 4000; round++) {
		buf_init(&in, 0);
		buf_init(&out, 0);
		buf_init(&norm, 0);
		buf_init(&back, 0);
		if (round < 2000) {
			n = rand_r(&seed) % 24;
			for (i = 0; i < n; i++)
				buf_addc(&in, alpha[rand_r(&seed) % 4]);
		} else {
			n = rand_r(&seed) % 300;
			for (i = 0; i < n; i++) {
				k = (unsigned)rand_r(&seed) % 64;
				buf_addc(&in, k < 4 ? alpha[k] : 'a' +
				    (int)(k % 26));
			}
		}
		assert_int_equal(smtp_dotstuff(&out, in.data, in.len), 0);
		/* The normalised input: bare CR or LF as CRLF, ending in
		 * CRLF unless empty. */
		for (i = 0; i < in.len; i++) {
			if (in.data[i] == '\r' && i + 1 < in.len &&
			    in.data[i + 1] == '\n') {
				buf_adds(&norm, "\r\n");
				i++;
			} else if (in.data[i] == '\r' || in.data[i] == '\n')
				buf_adds(&norm, "\r\n");
			else
				buf_addc(&norm, in.data[i]);
		}
		if (norm.len > 0 && (norm.len < 2 ||
		    memcmp(norm.data + norm.len - 2, "\r\n", 2) != 0))
			buf_adds(&norm, "\r\n");
		/* Only CRLF in the output. */
		for (i = 0; i < out.len; i++) {
			if (out.data[i] == '\n')
				assert_true(i > 0 && out.data[i - 1] == '\r');
			if (out.data[i] == '\r')
				assert_true(i + 1 < out.len &&
				    out.data[i + 1] == '\n');
		}
		ended = 0;
		for (pos = 0; pos < out.len; pos = eol + 2) {
			eol = pos;
			while (memcmp(out.data + eol, "\r\n", 2) != 0)
				eol++;
			if (eol - pos == 1 && out.data[pos] == '.') {
				ended = 1;
				assert_int_equal(eol + 2, out.len);
				break;
			}
			if (out.data[pos] == '.')
				pos++;
			buf_add(&back, out.data + pos, eol - pos);
			buf_adds(&back, "\r\n");
		}
		assert_true(ended);
		assert_int_equal(back.len, norm.len);
		if (norm.len > 0)
			assert_memory_equal(back.data, norm.data, norm.len);
		buf_free(&in);
		buf_free(&out);
		buf_free(&norm);
		buf_free(&back);
	}
}

/*
 * smtp_redact
 */

struct redact_row {
	const char	*name;
	const char	*in;
	size_t		 outlen;	/* 0: 256 */
	const char	*out;
};

static const struct redact_row redact_rows[] = {
	{ "redact: brackets", "550 5.1.1 <user@example.org>: Recipient"
	    " address rejected", 0, "550 5.1.1 <redacted>: Recipient address"
	    " rejected" },
	{ "redact: bare address", "550 user@example.org unknown", 0,
	    "550 redacted unknown" },
	{ "redact: address alone", "user@example.org", 0, "redacted" },
	{ "redact: spaces inside brackets", "to=<John Doe john@x.org> ok", 0,
	    "to=<redacted> ok" },
	{ "redact: two brackets", "<a> <b>", 0, "<redacted> <redacted>" },
	{ "redact: empty brackets", "MAIL FROM:<> ok", 0,
	    "MAIL FROM:<redacted> ok" },
	{ "redact: lone less-than", "a < b", 0, "a < b" },
	{ "redact: unclosed with @", "x <unclosed@example.org", 0,
	    "x redacted" },
	{ "redact: @ before brackets", "x@<y>", 0, "redacted" },
	{ "redact: @ after brackets", "<y>z@w", 0, "redacted" },
	{ "redact: brackets across lines", "550 <a\r\nb> c", 0,
	    "550 <redacted> c" },
	{ "redact: quoted local part", "550 \"john doe\"@example.org x", 0,
	    "550 redacted x" },
	{ "redact: quoted address", "550 \"a@b\" x", 0, "550 redacted x" },
	{ "redact: quoted text kept", "550 \"hello world\" x", 0,
	    "550 \"hello world\" x" },
	{ "redact: control inside quotes", "\"a\tb\"", 0, "\"a b\"" },
	{ "redact: lone quote", "a \" b@c", 0, "a \" redacted" },
	{ "redact: controls", "a\r\nb\tc\x7f" "d\x01", 0, "a  b c d " },
	{ "redact: C1 control", "a\xc2\x85" "b", 0, "a b" },
	{ "redact: invalid UTF-8", "a\xff" "b \xc3", 0, "a?b ?" },
	{ "redact: UTF-8 kept", "Empf\xc3\xa4nger unbekannt", 0,
	    "Empf\xc3\xa4nger unbekannt" },
	{ "redact: UTF-8 address", "\xc3\xbc@example.org", 0, "redacted" },
	{ "redact: cut before a 2-byte char", "ab\xc3\xa9", 4, "ab" },
	{ "redact: cut after a 2-byte char", "ab\xc3\xa9", 5, "ab\xc3\xa9" },
	{ "redact: cut in a 3-byte char", "a\xe2\x82\xac", 3, "a" },
	{ "redact: cut in a 4-byte char", "\xf0\x9f\x98\x80x", 4, "" },
	{ "redact: cut plain", "abcdef", 4, "abc" },
	{ "redact: cut the marker", "a@b", 4, "red" },
	{ "redact: cut the bracket marker", "<a@b>", 6, "<reda" },
	{ "redact: room for nothing", "abc", 1, "" },
	{ "redact: empty", "", 0, "" },
	{ "redact: NUL is a control", "a\0b", 0, "a b" },
};

#define NREDACT	(sizeof(redact_rows) / sizeof(redact_rows[0]))

static void
test_redact_row(void **state)
{
	const struct redact_row	*r = *state;
	char			 out[256];
	size_t			 len = strlen(r->in), outlen;

	if (strcmp(r->name, "redact: NUL is a control") == 0)
		len = 3;
	outlen = r->outlen ? r->outlen : sizeof(out);
	memset(out, 'Z', sizeof(out));
	smtp_redact(r->in, len, out, outlen);
	assert_string_equal(out, r->out);
	assert_true(strlen(out) < outlen);
	assert_null(strchr(out, '@'));
}

/*
 * smtp_ehlo_parse
 */

struct ehlo_row {
	const char		*name;
	const char		*in;
	struct smtp_caps	 caps;
};

static const struct ehlo_row ehlo_rows[] = {
	{ "ehlo: everything", "250-mx.example.org Hello\r\n250-PIPELINING\r\n"
	    "250-SIZE 10240000\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250-8BITMIME\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n"
	    "250 SMTPUTF8\r\n",
	    { 1, 1, 1, 1, 1, 1, 1, 10240000 } },
	{ "ehlo: name only", "250 mx.example.org\r\n", { 0 } },
	{ "ehlo: keyword on the first line ignored",
	    "250-PIPELINING STARTTLS\r\n250 8BITMIME\r\n",
	    { .eightbit = 1 } },
	{ "ehlo: case-insensitive", "250-x\r\n250-pipelining\r\n"
	    "250-StartTLS\r\n250 size 5\r\n",
	    { .pipelining = 1, .starttls = 1, .size = 5 } },
	{ "ehlo: AUTH= old form", "250-x\r\n250-AUTH=LOGIN\r\n"
	    "250 AUTH CRAM-MD5\r\n", { .auth_login = 1 } },
	{ "ehlo: AUTH plain lower", "250-x\r\n250 AUTH login plain\r\n",
	    { .auth_plain = 1, .auth_login = 1 } },
	{ "ehlo: AUTH without mechanisms", "250-x\r\n250 AUTH\r\n", { 0 } },
	{ "ehlo: SIZE without a number", "250-x\r\n250 SIZE\r\n", { 0 } },
	{ "ehlo: SIZE zero", "250-x\r\n250 SIZE 0\r\n", { 0 } },
	{ "ehlo: SIZE absurd", "250-x\r\n250 SIZE 99999999999999999999999\r\n",
	    { 0 } },
	{ "ehlo: longer keyword", "250-x\r\n250-PIPELININGX\r\n"
	    "250 STARTTLSX\r\n", { 0 } },
	{ "ehlo: PLAINX is not PLAIN", "250-x\r\n250 AUTH PLAINX XLOGIN\r\n",
	    { 0 } },
	{ "ehlo: bare LF", "250-x\n250-STARTTLS\n250 PIPELINING\n",
	    { .pipelining = 1, .starttls = 1 } },
	{ "ehlo: parameters after keyword", "250-x\r\n250-8BITMIME foo\r\n"
	    "250 ENHANCEDSTATUSCODES\r\n", { .enhanced = 1, .eightbit = 1 } },
};

#define NEHLO	(sizeof(ehlo_rows) / sizeof(ehlo_rows[0]))

static void
test_ehlo_row(void **state)
{
	const struct ehlo_row	*r = *state;
	struct smtp_caps	 c;

	memset(&c, 0x55, sizeof(c));
	smtp_ehlo_parse(r->in, strlen(r->in), &c);
	assert_int_equal(c.pipelining, r->caps.pipelining);
	assert_int_equal(c.starttls, r->caps.starttls);
	assert_int_equal(c.enhanced, r->caps.enhanced);
	assert_int_equal(c.eightbit, r->caps.eightbit);
	assert_int_equal(c.smtputf8, r->caps.smtputf8);
	assert_int_equal(c.auth_plain, r->caps.auth_plain);
	assert_int_equal(c.auth_login, r->caps.auth_login);
	assert_int_equal(c.size, r->caps.size);
}

/*
 * The relay on loopback, without an SMTP server.
 */

struct collect {
	struct loop	*loop;
	int		 n[5];
	uint64_t	 cookies[16];
	char		 text[16][384];
	int		 total, stop_at;
};

static void
collect_done(void *arg, const struct smtp_done *d)
{
	struct collect	*c = arg;

	assert_true(d->result <= SMTP_NOT_SENT);
	c->n[d->result]++;
	if (c->total < 16) {
		c->cookies[c->total] = d->cookie;
		snprintf(c->text[c->total], sizeof(c->text[0]), "%s", d->text);
	}
	assert_null(strchr(d->text, '@'));
	if (++c->total == c->stop_at)
		loop_stop(c->loop);
}

/* Give up on a loop that does not stop by itself. */
static int64_t
guard_due(void *arg)
{
	int64_t	*until = arg;

	return *until;
}

static void
guard_run(void *arg)
{
	(void)arg;
	fail_msg("the loop did not stop in time");
}

static void
relay_cfg(struct cfg_relay *r, int port)
{
	memset(r, 0, sizeof(*r));
	r->name = "relay1";
	r->host = "127.0.0.1";
	r->port = port;
	r->tls = CFG_RELAY_STARTTLS;
	r->max_connections = 2;
	r->max_messages_per_connection = 10;
	r->timeout_ms = 5000;
}

/* A listening socket that never accepts: connections complete, and the
 * greeting never comes. */
static int
silent_server(int *port)
{
	struct sockaddr_in	sin;
	socklen_t		sl = sizeof(sin);
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
submit_one(struct smtp_relay *r, const char *rcpt, uint64_t cookie)
{
	struct buf	b;
	int		rc;

	buf_init(&b, 0);
	buf_adds(&b, "Subject: x\r\n\r\nhello\r\n");
	rc = smtp_relay_submit(r, "sender@example.org", rcpt, &b, cookie);
	if (rc == 0) {
		assert_null(b.data);	/* taken, not copied */
		assert_int_equal(b.len, 0);
	}
	buf_free(&b);
	return rc;
}

static void
test_relay_refused(void **state)
{
	struct cfg_relay	 cfg;
	struct cfg_tls		 tls = { 0 };
	struct collect		 col;
	struct smtp_relay	*r;
	struct smtp_relay_stats	 st;
	char			 err[256];
	int64_t			 until;
	int			 fd, port;

	(void)state;
	/* A port nobody listens on: bind one, close it. */
	fd = silent_server(&port);
	close(fd);
	relay_cfg(&cfg, port);
	memset(&col, 0, sizeof(col));
	col.loop = loop_new();
	r = smtp_relay_new(col.loop, &cfg, &tls, collect_done, &col, err,
	    sizeof(err));
	assert_non_null(r);
	assert_int_equal(smtp_relay_room(r), 2 * 4);
	assert_true(smtp_relay_idle(r));
	assert_int_equal(smtp_relay_room_at(r), -1);
	/* The refusal may come at once (backoff: no more room) or later. */
	assert_int_equal(submit_one(r, "a@example.org", 1), 0);
	col.stop_at = 1;
	if (submit_one(r, "b@example.org", 2) == 0)
		col.stop_at++;
	if (col.stop_at == 2 && submit_one(r, "c@example.org", 3) == 0)
		col.stop_at++;
	/* Nothing is reported from inside submit. */
	assert_int_equal(col.total, 0);
	assert_false(smtp_relay_idle(r));
	until = loop_now_ms() + 5000;
	assert_int_equal(loop_add_timer(col.loop, guard_due, guard_run,
	    &until), 0);
	assert_int_equal(loop_run(col.loop), 0);
	assert_int_equal(col.n[SMTP_TEMPFAIL], col.stop_at);
	assert_non_null(strstr(col.text[0], "relay1: cannot connect to"
	    " 127.0.0.1 port"));
	assert_non_null(strstr(col.text[0], "refused"));
	/* Backing off: no room, and when it ends. */
	assert_int_equal(smtp_relay_room(r), 0);
	assert_true(smtp_relay_room_at(r) > loop_now_ms());
	assert_int_equal(submit_one(r, "d@example.org", 4), -1);
	smtp_relay_stats(r, &st);
	assert_string_equal(st.name, "relay1");
	assert_int_equal(st.tempfail, (uint64_t)col.stop_at);
	assert_true(st.connect_failures >= 1);
	assert_true(smtp_relay_idle(r));
	smtp_relay_free(r);
	assert_int_equal(col.total, col.stop_at);
	loop_free(col.loop);
}

static void
test_relay_unqueue_free(void **state)
{
	struct cfg_relay	 cfg;
	struct collect		 col;
	struct smtp_relay	*r;
	struct smtp_relay_stats	 st;
	char			 err[256];
	int			 fd, port;

	(void)state;
	fd = silent_server(&port);
	relay_cfg(&cfg, port);
	memset(&col, 0, sizeof(col));
	col.loop = loop_new();
	r = smtp_relay_new(col.loop, &cfg, NULL, collect_done, &col, err,
	    sizeof(err));
	assert_non_null(r);
	assert_int_equal(submit_one(r, "a@example.org", 10), 0);
	assert_int_equal(submit_one(r, "b@example.org", 11), 0);
	assert_int_equal(smtp_relay_room(r), 2 * 4 - 2);
	smtp_relay_stats(r, &st);
	assert_int_equal(st.queued, 2);
	assert_int_equal(st.in_flight, 0);
	assert_int_equal(st.connections, 2);
	/* Unqueue reports at once, in order. */
	smtp_relay_unqueue(r);
	assert_int_equal(col.n[SMTP_NOT_SENT], 2);
	assert_int_equal(col.cookies[0], 10);
	assert_int_equal(col.cookies[1], 11);
	assert_true(smtp_relay_idle(r));
	/* Free reports what is left, once. */
	assert_int_equal(submit_one(r, "c@example.org", 12), 0);
	smtp_relay_drain(r);
	assert_int_equal(smtp_relay_room(r), 0);
	assert_int_equal(submit_one(r, "d@example.org", 13), -1);
	smtp_relay_free(r);
	assert_int_equal(col.n[SMTP_NOT_SENT], 3);
	assert_int_equal(col.cookies[2], 12);
	assert_int_equal(col.total, 3);
	loop_free(col.loop);
	close(fd);
	smtp_relay_free(NULL);
}

/* Envelopes that could inject commands never reach the wire. */
static void
test_relay_bad_envelope(void **state)
{
	static const char *const bad[] = {
		"a@example.org\r\nRSET", "<a@example.org>", "a b@example.org",
		"", "a@example.org\n", "\xff@example.org",
	};
	struct cfg_relay	 cfg;
	struct collect		 col;
	struct smtp_relay	*r;
	char			 err[256];
	int64_t			 until;
	size_t			 i;
	int			 fd, port;

	(void)state;
	fd = silent_server(&port);
	relay_cfg(&cfg, port);
	cfg.max_connections = 4;
	memset(&col, 0, sizeof(col));
	col.loop = loop_new();
	col.stop_at = (int)(sizeof(bad) / sizeof(bad[0]));
	r = smtp_relay_new(col.loop, &cfg, NULL, collect_done, &col, err,
	    sizeof(err));
	assert_non_null(r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(submit_one(r, bad[i], i), 0);
	assert_int_equal(col.total, 0);
	until = loop_now_ms() + 5000;
	assert_int_equal(loop_add_timer(col.loop, guard_due, guard_run,
	    &until), 0);
	assert_int_equal(loop_run(col.loop), 0);
	assert_int_equal(col.n[SMTP_PERMFAIL], (int)(sizeof(bad) /
	    sizeof(bad[0])));
	assert_string_equal(col.text[0], "relay1: invalid envelope address");
	smtp_relay_free(r);
	loop_free(col.loop);
	close(fd);
}

struct cred_row {
	const char	*content;	/* NULL: no such file */
	const char	*err;		/* NULL: accepted */
};

static void
test_relay_credential(void **state)
{
	static const struct cred_row rows[] = {
		{ "user\ns3cr3t\n", NULL },
		{ "user\ns3cr3t", NULL },
		{ "user\r\ns3cr3t\r\n", NULL },
		{ NULL, "No such file" },
		{ "", "expected two lines" },
		{ "useronly\n", "expected two lines" },
		{ "user\n\n", "expected two lines" },
		{ "\ns3cr3t\n", "expected two lines" },
		{ "user\ns3cr3t\nextra\n", "expected two lines" },
		{ "us\0er\ns3cr3t\n", "expected two lines" },
	};
	struct cfg_relay	 cfg;
	struct smtp_relay	*r;
	struct loop		*lp;
	char			 path[] = "/tmp/test_smtp.XXXXXX", err[512];
	size_t			 i, len;
	int			 fd;

	(void)state;
	lp = loop_new();
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(path, sizeof(path), "/tmp/test_smtp.XXXXXX");
		fd = mkstemp(path);
		assert_true(fd >= 0);
		if (rows[i].content != NULL) {
			len = strlen(rows[i].content);
			if (i == 9)
				len = 13;	/* the NUL inside */
			assert_int_equal(write(fd, rows[i].content, len),
			    (ssize_t)len);
		} else
			unlink(path);
		close(fd);
		relay_cfg(&cfg, 25);
		cfg.credential = path;
		err[0] = '\0';
		r = smtp_relay_new(lp, &cfg, NULL, collect_done, NULL, err,
		    sizeof(err));
		if (rows[i].err == NULL) {
			assert_non_null(r);
		} else {
			assert_null(r);
			assert_non_null(strstr(err, rows[i].err));
			assert_non_null(strstr(err, path));
			assert_null(strstr(err, "s3cr3t"));
		}
		smtp_relay_free(r);
		unlink(path);
	}
	/* A CA file that does not load is an error naming it. */
	{
		struct cfg_tls	tls = { 0 };

		relay_cfg(&cfg, 25);
		tls.ca_file = "/nonexistent/ca.pem";
		r = smtp_relay_new(lp, &cfg, &tls, collect_done, NULL, err,
		    sizeof(err));
		assert_null(r);
		assert_non_null(strstr(err, "relay \"relay1\""));
		assert_non_null(strstr(err, "/nonexistent/ca.pem"));
		/* The relay's own file overrides the global one. */
		cfg.tls_files.ca_file = "/nonexistent/relay-ca.pem";
		tls.ca_file = NULL;
		r = smtp_relay_new(lp, &cfg, &tls, collect_done, NULL, err,
		    sizeof(err));
		assert_null(r);
		assert_non_null(strstr(err, "/nonexistent/relay-ca.pem"));
	}
	loop_free(lp);
}

int
main(void)
{
	static const struct CMUnitTest	fixed[] = {
		cmocka_unit_test(test_reply_long),
		cmocka_unit_test(test_stuff_full),
		cmocka_unit_test(test_stuff_roundtrip),
		cmocka_unit_test(test_relay_refused),
		cmocka_unit_test(test_relay_unqueue_free),
		cmocka_unit_test(test_relay_bad_envelope),
		cmocka_unit_test(test_relay_credential),
	};
	struct CMUnitTest	*tests;
	size_t			 i, k = 0, nf = sizeof(fixed) / sizeof(fixed[0]);
	size_t			 n = NREPLY + NSTUFF + NREDACT + NEHLO + nf;
	int			 rc;

	/* One cmocka test per table row, so each failure is named. */
	if ((tests = calloc(n, sizeof(*tests))) == NULL)
		return 1;
	for (i = 0; i < NREPLY; i++, k++) {
		tests[k].name = reply_rows[i].name;
		tests[k].test_func = test_reply_row;
		tests[k].initial_state = (void *)(uintptr_t)&reply_rows[i];
	}
	for (i = 0; i < NSTUFF; i++, k++) {
		tests[k].name = stuff_rows[i].name;
		tests[k].test_func = test_stuff_row;
		tests[k].initial_state = (void *)(uintptr_t)&stuff_rows[i];
	}
	for (i = 0; i < NREDACT; i++, k++) {
		tests[k].name = redact_rows[i].name;
		tests[k].test_func = test_redact_row;
		tests[k].initial_state = (void *)(uintptr_t)&redact_rows[i];
	}
	for (i = 0; i < NEHLO; i++, k++) {
		tests[k].name = ehlo_rows[i].name;
		tests[k].test_func = test_ehlo_row;
		tests[k].initial_state = (void *)(uintptr_t)&ehlo_rows[i];
	}
	memcpy(tests + k, fixed, sizeof(fixed));
	rc = _cmocka_run_group_tests("smtp", tests, n, NULL, NULL);
	free(tests);
	return rc != 0;
}
