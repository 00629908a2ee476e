/* test_webhook.c - the parts of the webhook sender (daemon/webhook.c) that
 * need no network: Standard Webhooks signatures against the published
 * reference vector and vectors computed independently (Python hmac),
 * secret decoding, Retry-After in its four forms, the address policy over
 * IPv4 and IPv6 with each combination of the allow flags, and the sender's
 * bookkeeping without a transfer (secrets file errors, submit checks,
 * unqueue and free reporting each job once).  Transfers are covered by
 * tests/integration/test_webhook.py. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
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
#include "webhook.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define REF_SECRET	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SECRET_32	"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define SECRET_36	"whsec_b3V0cmVhY2hkIHRlc3Qga2V5LCAzNyBieXRlcyBsb25nISEh"

/* ---- signatures ---- */

struct sign_row {
	const char	*name;
	const char	*secrets[3];
	const char	*id;
	int64_t		 ts;
	const char	*body;
	const char	*want;
};

/* The first row is the Standard Webhooks reference vector; the others
 * were computed with Python's hmac and base64 modules. */
static const struct sign_row sign_rows[] = {
	{ "reference vector", { REF_SECRET }, "msg_p5jXN8AQM9LWM0D4loKWxJek",
	    1614265330, "{\"test\": 2432232314}",
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" },
	{ "two secrets", { REF_SECRET, SECRET_32 },
	    "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
	    "{\"test\": 2432232314}",
	    "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= "
	    "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI=" },
	{ "empty body", { SECRET_36, REF_SECRET }, "msg_2", 1700000000, "",
	    "v1,GFks8hJEO2HhYnvs/ZJ4eXRktbsfRGl77cg5pRZ7oJs= "
	    "v1,F1imYElVtO6DwgNxlD46dsJNZgPsBK40d6ODucRz4DQ=" },
	{ "UTF-8 body, dots in the id, time 0", { SECRET_36, SECRET_32 },
	    "evt-1.x", 0, "{\"\xc3\xa9\":\"\xc3\xbc\"}",
	    "v1,gqYDhVNPrQlht0vlabGaZj2U3sxcXBeOTpY3Ykp5tNY= "
	    "v1,tFIofA8jysFo+AnHbTcbubjTbmugTb5Zs+8LcScJ390=" },
};

static void
test_sign(void **state)
{
	unsigned char		 keys[3][WEBHOOK_KEY_MAX];
	const unsigned char	*kp[3];
	size_t			 lens[3], n, i, r;
	struct buf		 out;

	(void)state;
	buf_init(&out, 0);
	for (r = 0; r < NELEM(sign_rows); r++) {
		const struct sign_row *row = &sign_rows[r];

		for (n = 0; n < 3 && row->secrets[n] != NULL; n++) {
			lens[n] = sizeof(keys[n]);
			assert_int_equal(webhook_secret_decode(row->secrets[n],
			    keys[n], &lens[n]), 0);
			kp[n] = keys[n];
		}
		/* Twice: the result must not depend on earlier use. */
		for (i = 0; i < 2; i++) {
			assert_int_equal(webhook_sign(kp, lens, n, row->id,
			    row->ts, row->body, strlen(row->body), &out), 0);
			if (strcmp(out.data, row->want) != 0)
				fail_msg("%s: got \"%s\", want \"%s\"",
				    row->name, out.data, row->want);
		}
	}
	/* Refusals: no keys, too many, an empty key, NULL pieces. */
	assert_int_equal(webhook_sign(kp, lens, 0, "id", 1, "{}", 2, &out),
	    -1);
	assert_int_equal(out.len, 0);
	{
		const unsigned char	*many[WEBHOOK_SECRETS_MAX + 1];
		size_t			 ml[WEBHOOK_SECRETS_MAX + 1];

		for (i = 0; i < NELEM(many); i++) {
			many[i] = keys[0];
			ml[i] = lens[0];
		}
		assert_int_equal(webhook_sign(many, ml, WEBHOOK_SECRETS_MAX,
		    "id", 1, "{}", 2, &out), 0);
		assert_int_equal(out.len, WEBHOOK_SECRETS_MAX * 48 - 1);
		assert_int_equal(webhook_sign(many, ml, NELEM(many), "id", 1,
		    "{}", 2, &out), -1);
		ml[0] = 0;
		assert_int_equal(webhook_sign(many, ml, 1, "id", 1, "{}", 2,
		    &out), -1);
	}
	assert_int_equal(webhook_sign(kp, lens, 1, NULL, 1, "{}", 2, &out),
	    -1);
	assert_int_equal(webhook_sign(kp, lens, 1, "id", 1, NULL, 2, &out),
	    -1);
	assert_int_equal(webhook_sign(kp, lens, 1, "id", 1, NULL, 0, &out),
	    0);
	assert_int_equal(webhook_sign(kp, lens, 1, "id", 1, "{}", 2, NULL),
	    -1);
	buf_free(&out);
}

/* ---- secrets ---- */

struct secret_row {
	const char	*secret;
	size_t		 cap;
	int		 rc;
	size_t		 len;
	const char	*bytes;		/* first bytes expected, or NULL */
};

static const struct secret_row secret_rows[] = {
	{ REF_SECRET, WEBHOOK_KEY_MAX, 0, 24,
	    "\x31\xf2\x90\xf6\xbf\x06\x29\x8a" },
	{ SECRET_32, WEBHOOK_KEY_MAX, 0, 32, "\x00\x01\x02\x03" },
	{ SECRET_32, 32, 0, 32, NULL },			/* exactly fits */
	{ SECRET_32, 31, -1, 0, NULL },			/* does not */
	{ "whsec_YWJj", 16, 0, 3, "abc" },
	{ "whsec_YWI=", 16, 0, 2, "ab" },
	{ "whsec_YWI", 16, 0, 2, "ab" },		/* padding left out */
	{ "whsec_YQ==", 16, 0, 1, "a" },
	{ "whsec_YQ", 16, 0, 1, "a" },
	{ "whsec_+/+/", 16, 0, 3, "\xfb\xff\xbf" },
	{ "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 64, -1, 0, NULL }, /* prefix */
	{ "WHSEC_YWJj", 16, -1, 0, NULL },
	{ "whsec_", 16, -1, 0, NULL },
	{ "whsec_=", 16, -1, 0, NULL },
	{ "whsec_Y", 16, -1, 0, NULL },			/* 6 bits */
	{ "whsec_YWJjZ", 16, -1, 0, NULL },
	{ "whsec_YQ=", 16, -1, 0, NULL },		/* half padded */
	{ "whsec_YQ===", 16, -1, 0, NULL },
	{ "whsec_YWJj====", 16, -1, 0, NULL },
	{ "whsec_YW=j", 16, -1, 0, NULL },		/* '=' inside */
	{ "whsec_YW Jj", 16, -1, 0, NULL },
	{ "whsec_YWJj\n", 16, -1, 0, NULL },
	{ "whsec_YW-_", 16, -1, 0, NULL },		/* URL alphabet */
	{ "whsec_YW\xc3\xa9j", 16, -1, 0, NULL },
	{ "whsec_YWJj", 0, -1, 0, NULL },
};

static void
test_secret_decode(void **state)
{
	unsigned char	key[WEBHOOK_KEY_MAX];
	size_t		len, i;
	int		rc;

	(void)state;
	for (i = 0; i < NELEM(secret_rows); i++) {
		const struct secret_row *row = &secret_rows[i];

		len = row->cap;
		rc = webhook_secret_decode(row->secret, key, &len);
		if (rc != row->rc)
			fail_msg("row %zu \"%s\": rc %d, want %d", i,
			    row->secret, rc, row->rc);
		if (rc == 0 && len != row->len)
			fail_msg("row %zu: length %zu, want %zu", i, len,
			    row->len);
		if (rc == 0 && row->bytes != NULL &&
		    memcmp(key, row->bytes, strlen(row->bytes) ?
		    strlen(row->bytes) : 1) != 0)
			fail_msg("row %zu: wrong bytes", i);
	}
	len = sizeof(key);
	assert_int_equal(webhook_secret_decode(NULL, key, &len), -1);
	assert_int_equal(webhook_secret_decode(REF_SECRET, NULL, &len), -1);
	assert_int_equal(webhook_secret_decode(REF_SECRET, key, NULL), -1);
}

/* ---- Retry-After ---- */

#define NOW	1614265330	/* Thu, 25 Feb 2021 15:02:10 GMT */

struct retry_row {
	const char	*value;
	int64_t		 cap_s;
	int64_t		 want;
};

static const struct retry_row retry_rows[] = {
	/* delta-seconds */
	{ "120", 3600, 120000 },
	{ "0", 3600, 0 },
	{ " 5\t", 3600, 5000 },
	{ "0005", 3600, 5000 },
	{ "3600", 3600, 3600000 },
	{ "3601", 3600, 3600000 },
	{ "99999999999999999999999999999999", 3600, 3600000 },
	{ "120", 0, 0 },
	{ "120", -5, 0 },
	{ "120", 60, 60000 },
	{ "-5", 3600, -1 },
	{ "+5", 3600, -1 },
	{ "5s", 3600, -1 },
	{ "1.5", 3600, -1 },
	{ "5 6", 3600, -1 },
	{ "0x10", 3600, -1 },
	{ "", 3600, -1 },
	{ "   ", 3600, -1 },
	/* IMF-fixdate */
	{ "Thu, 25 Feb 2021 15:03:10 GMT", 3600, 60000 },
	{ "  Thu, 25 Feb 2021 15:03:10 GMT ", 3600, 60000 },
	{ "Thu, 25 Feb 2021 15:02:10 GMT", 3600, 0 },
	{ "Mon, 01 Mar 2021 00:00:00 GMT", 3600, 3600000 },
	{ "Mon, 01 Mar 2021 00:00:00 GMT", 400000, 291470000 },
	{ "Thu, 29 Feb 2024 12:00:00 GMT", 100000000, 94942670000 },
	{ "Sun, 06 Nov 1994 08:49:37 GMT", 3600, 0 },	/* past */
	{ "Thu, 25 Feb 2021 15:02:70 GMT", 3600, -1 },
	{ "Thu, 25 Feb 2021 24:00:00 GMT", 3600, -1 },
	{ "Thu, 25 Feb 2021 15:03:10 UTC", 3600, -1 },
	{ "Thu, 25 Feb 2021 15:03:10", 3600, -1 },
	{ "Thu, 25 Feb 2021 15:03:10 GMT x", 3600, -1 },
	{ "Thu, 29 Feb 2021 15:03:10 GMT", 3600, -1 },	/* not a leap year */
	{ "Thu, 00 Feb 2021 15:03:10 GMT", 3600, -1 },
	{ "Thu, 25 Foo 2021 15:03:10 GMT", 3600, -1 },
	{ "Thu, 5 Feb 2021 15:03:10 GMT", 3600, -1 },
	{ "Thu, 25 Feb 21 15:03:10 GMT", 3600, -1 },
	{ "Xyz, 25 Feb 2021 15:03:10 GMT", 3600, -1 },
	{ "Thu,25 Feb 2021 15:03:10 GMT", 3600, -1 },
	/* obsolete RFC 850 */
	{ "Thursday, 25-Feb-21 15:03:10 GMT", 3600, 60000 },
	{ "Sunday, 06-Nov-94 08:49:37 GMT", 3600, 0 },
	{ "Thursday, 01-Jan-70 00:00:00 GMT", 3600, 3600000 }, /* 2070 */
	{ "Saturday, 01-Jan-72 00:00:00 GMT", 3600, 0 },	/* 1972 */
	{ "Tuesday, 29-Feb-00 15:03:10 GMT", 3600, 0 },	/* 2000: leap */
	{ "Thursday, 29-Feb-01 15:03:10 GMT", 3600, -1 },
	{ "Thursday, 25-Feb-2021 15:03:10 GMT", 3600, -1 },
	{ "Thu, 25-Feb-21 15:03:10 GMT", 3600, -1 },
	/* obsolete asctime */
	{ "Thu Feb 25 15:03:10 2021", 3600, 60000 },
	{ "Mon Mar  1 00:00:00 2021", 400000, 291470000 },
	{ "Sun Nov  6 08:49:37 1994", 3600, 0 },
	{ "Mon Mar 1 00:00:00 2021", 3600, -1 },
	{ "Thu Feb 25 15:03:10 2021 GMT", 3600, -1 },
	/* garbage */
	{ "soon", 3600, -1 },
	{ "Thu", 3600, -1 },
	{ "Thursday", 3600, -1 },
	{ "Thu, ", 3600, -1 },
	{ "\x01\x02", 3600, -1 },
	{ "Thu, 25 Feb 2021 15:03:10 GMT, Thu, 25 Feb 2021 15:03:10 GMT",
	    3600, -1 },
};

static void
test_retry_after(void **state)
{
	int64_t	got;
	size_t	i;

	(void)state;
	for (i = 0; i < NELEM(retry_rows); i++) {
		got = webhook_retry_after(retry_rows[i].value, NOW,
		    retry_rows[i].cap_s);
		if (got != retry_rows[i].want)
			fail_msg("\"%s\" cap %lld: got %lld, want %lld",
			    retry_rows[i].value,
			    (long long)retry_rows[i].cap_s, (long long)got,
			    (long long)retry_rows[i].want);
	}
	assert_int_equal(webhook_retry_after(NULL, NOW, 3600), -1);
	/* A huge cap does not overflow. */
	assert_true(webhook_retry_after("99999999999999999999", NOW,
	    INT64_MAX) > 0);
}

/* ---- the address policy ---- */

/* What each row is: public (never refused), loopback or private (refused
 * unless allowed), or never (refused whatever the flags). */
enum addr_kind { PUB, LOOP, PRIV, NEVER };

struct addr_row {
	const char	*addr;
	enum addr_kind	 kind;
	const char	*why;		/* expected reason when refused */
};

static const struct addr_row addr_rows[] = {
	{ "8.8.8.8", PUB, NULL },
	{ "1.1.1.1", PUB, NULL },
	{ "11.0.0.1", PUB, NULL },
	{ "172.15.255.255", PUB, NULL },
	{ "172.32.0.1", PUB, NULL },
	{ "192.169.0.1", PUB, NULL },
	{ "100.63.255.255", PUB, NULL },
	{ "100.128.0.1", PUB, NULL },
	{ "169.253.1.1", PUB, NULL },
	{ "223.255.255.255", PUB, NULL },
	{ "127.0.0.1", LOOP, "loopback" },
	{ "127.255.255.254", LOOP, "loopback" },
	{ "10.0.0.1", PRIV, "private" },
	{ "10.255.255.255", PRIV, "private" },
	{ "172.16.0.1", PRIV, "private" },
	{ "172.31.255.255", PRIV, "private" },
	{ "192.168.1.1", PRIV, "private" },
	{ "100.64.0.1", PRIV, "private" },
	{ "100.127.255.255", PRIV, "private" },
	{ "169.254.169.254", NEVER, "link-local" },
	{ "169.254.0.1", NEVER, "link-local" },
	{ "224.0.0.1", NEVER, "multicast" },
	{ "239.255.255.250", NEVER, "multicast" },
	{ "255.255.255.255", NEVER, "broadcast" },
	{ "0.0.0.0", NEVER, "unspecified" },
	{ "0.1.2.3", NEVER, "reserved" },
	{ "240.0.0.1", NEVER, "reserved" },
	{ "2001:db8::1", PUB, NULL },
	{ "2606:4700:4700::1111", PUB, NULL },
	{ "fe00::1", PUB, NULL },
	{ "::1", LOOP, "loopback" },
	{ "::", NEVER, "unspecified" },
	{ "fe80::1", NEVER, "link-local" },
	{ "febf:ffff::1", NEVER, "link-local" },
	{ "ff02::1", NEVER, "multicast" },
	{ "ff0e::1", NEVER, "multicast" },
	{ "fc00::1", PRIV, "private" },
	{ "fd12:3456:789a::1", PRIV, "private" },
	{ "fec0::1", PRIV, "private" },
	/* IPv6 forms of IPv4 addresses follow the IPv4 rules. */
	{ "::ffff:8.8.8.8", PUB, NULL },
	{ "::ffff:127.0.0.1", LOOP, "loopback" },
	{ "::ffff:10.0.0.1", PRIV, "private" },
	{ "::ffff:169.254.169.254", NEVER, "link-local" },
	{ "::ffff:224.0.0.1", NEVER, "multicast" },
	{ "::ffff:0.0.0.0", NEVER, "unspecified" },
	{ "::ffff:255.255.255.255", NEVER, "broadcast" },
	{ "::127.0.0.1", LOOP, "loopback" },
	{ "::10.0.0.1", PRIV, "private" },
	{ "::169.254.1.1", NEVER, "link-local" },
	{ "::2", NEVER, "reserved" },
	{ "64:ff9b::10.0.0.1", PRIV, "private" },
	{ "64:ff9b::8.8.8.8", PUB, NULL },
	{ "2002:7f00:1::", LOOP, "loopback" },
	{ "2002:a9fe:a9fe::1", NEVER, "link-local" },
	{ "2002:808:808::1", PUB, NULL },
};

static void
test_address(void **state)
{
	struct cfg_webhooks	 w;
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_un	 sun;
	const char		*why;
	size_t			 i;
	int			 lo, pv, want, got;

	(void)state;
	memset(&w, 0, sizeof(w));
	for (i = 0; i < NELEM(addr_rows); i++) {
		const struct addr_row *row = &addr_rows[i];

		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, row->addr, &sin->sin_addr) == 1)
			sin->sin_family = AF_INET;
		else if (inet_pton(AF_INET6, row->addr, &sin6->sin6_addr) == 1)
			sin6->sin6_family = AF_INET6;
		else
			fail_msg("bad test address %s", row->addr);
		for (lo = 0; lo < 2; lo++)
			for (pv = 0; pv < 2; pv++) {
				w.allow_loopback = lo;
				w.allow_private = pv;
				want = row->kind == NEVER ||
				    (row->kind == LOOP && !lo) ||
				    (row->kind == PRIV && !pv);
				why = "unset";
				got = webhook_address_refused(&w,
				    (struct sockaddr *)&ss, &why);
				if (got != want)
					fail_msg("%s loopback=%d private=%d: "
					    "refused %d, want %d", row->addr,
					    lo, pv, got, want);
				if (got && (row->why == NULL ||
				    strcmp(why, row->why) != 0))
					fail_msg("%s: why \"%s\", want \"%s\"",
					    row->addr, why, row->why);
				if (!got && why != NULL)
					fail_msg("%s: why set when allowed",
					    row->addr);
			}
		/* Without a configuration nothing is allowed. */
		assert_int_equal(webhook_address_refused(NULL,
		    (struct sockaddr *)&ss, NULL), row->kind != PUB);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	w.allow_loopback = w.allow_private = 1;
	assert_int_equal(webhook_address_refused(&w, (struct sockaddr *)&sun,
	    &why), 1);
	assert_string_equal(why, "not an internet address");
	assert_int_equal(webhook_address_refused(&w, NULL, &why), 1);
}

/* ---- the sender without a transfer ---- */

struct sender {
	char			 dir[64];
	char			 path[128];
	struct cfg_webhooks	 w;
	struct cfg_tls		 tls;
	struct loop		*loop;
	/* Reports seen, by cookie. */
	int			 seen[64];
	int			 nreports;
	enum webhook_result	 last;
	char			 text[512];
	struct webhook		*resubmit;	/* submit from the callback */
};

static int
sender_setup(void **state)
{
	struct sender	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/test_webhook.XXXXXX");
	if (mkdtemp(s->dir) == NULL)
		return -1;
	snprintf(s->path, sizeof(s->path), "%s/secrets", s->dir);
	s->w.secret_file = s->path;
	s->w.max_connections_per_host = 2;
	s->w.timeout_ms = 1000;
	s->w.retry_after_max_s = 60;
	if ((s->loop = loop_new()) == NULL)
		return -1;
	*state = s;
	return 0;
}

static int
sender_teardown(void **state)
{
	struct sender	*s = *state;

	unlink(s->path);
	rmdir(s->dir);
	loop_free(s->loop);
	free(s);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
sender_done(void *arg, const struct webhook_done *d)
{
	struct sender	*s = arg;

	assert_true(d->cookie < NELEM(s->seen));
	s->seen[d->cookie]++;
	s->nreports++;
	s->last = d->result;
	assert_non_null(d->text);
	snprintf(s->text, sizeof(s->text), "%s", d->text);
	/* Submitting from a report must not disturb the unqueue. */
	if (s->resubmit != NULL)
		webhook_submit(s->resubmit, "https://b.example/again", "id",
		    "{}", 2, 63);
}

struct file_row {
	const char	*content;	/* NULL: no file */
	const char	*err;		/* part of the error, NULL: success */
};

static const struct file_row file_rows[] = {
	{ NULL, "No such file" },
	{ "", "no secret in it" },
	{ "# only a comment\n\n", "no secret in it" },
	{ "whsec_YWJj\n", "line 1 is shorter than 16 bytes" },
	{ "\n# c\nnot-a-secret\n", "line 3 is not a secret" },
	{ "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=!\n",
	    "line 1 is not a secret" },
	{ REF_SECRET "\n" REF_SECRET "\n" REF_SECRET "\n" REF_SECRET "\n"
	    REF_SECRET "\n" REF_SECRET "\n" REF_SECRET "\n" REF_SECRET "\n"
	    REF_SECRET "\n", "more than 8 secrets" },
	{ REF_SECRET, NULL },
	{ "# rotation\r\n  " REF_SECRET "  \r\n\n" SECRET_32 "\n", NULL },
};

static void
test_sender_secrets(void **state)
{
	struct sender	*s = *state;
	struct webhook	*wh;
	char		 err[512];
	size_t		 i;

	for (i = 0; i < NELEM(file_rows); i++) {
		unlink(s->path);
		if (file_rows[i].content != NULL)
			write_file(s->path, file_rows[i].content);
		err[0] = '\0';
		wh = webhook_new(s->loop, &s->w, &s->tls, sender_done, s, err,
		    sizeof(err));
		if (file_rows[i].err == NULL) {
			if (wh == NULL)
				fail_msg("row %zu: %s", i, err);
			webhook_free(wh);
			continue;
		}
		if (wh != NULL)
			fail_msg("row %zu: accepted", i);
		if (strstr(err, file_rows[i].err) == NULL ||
		    strstr(err, s->path) == NULL)
			fail_msg("row %zu: \"%s\"", i, err);
		/* No secret (or line that might be one) in an error. */
		assert_null(strstr(err, "MfKQ9r8G"));
		assert_null(strstr(err, "AAECAwQF"));
		assert_null(strstr(err, "YWJj"));
		assert_null(strstr(err, "not-a-secret"));
	}
	s->w.secret_file = NULL;
	assert_null(webhook_new(s->loop, &s->w, &s->tls, sender_done, s, err,
	    sizeof(err)));
	assert_null(webhook_new(NULL, &s->w, &s->tls, sender_done, s, err,
	    sizeof(err)));
}

struct submit_row {
	const char	*url;
	const char	*id;
	int		 rc;
};

static const struct submit_row submit_rows[] = {
	{ "https://hooks.example.org/a/secret-path?token=x", "msg_1", 0 },
	{ "HTTPS://Hooks.Example.org:443/b", "msg_1", 0 },
	{ "https://hooks.example.org:8443/c", "msg_1", 0 },
	{ "https://[2001:db8::1]/d", "msg_1", 0 },
	{ "https://user:pw@hooks.example.org/e", "msg_1", 0 },
	{ "http://hooks.example.org/", "msg_1", -1 },
	{ "ftp://hooks.example.org/", "msg_1", -1 },
	{ "hooks.example.org/path", "msg_1", -1 },
	{ "https://", "msg_1", -1 },
	{ "https:///", "msg_1", -1 },
	{ "https://hooks example.org/", "msg_1", -1 },
	{ "https://hooks.example.org/\r\nX: y", "msg_1", -1 },
	{ "https://hooks.example.org:99999/", "msg_1", -1 },
	{ "", "msg_1", -1 },
	{ "https://hooks.example.org/", "", -1 },
	{ "https://hooks.example.org/", "msg 1", -1 },
	{ "https://hooks.example.org/", "msg_1\r\nX-Evil: 1", -1 },
	{ "https://hooks.example.org/", "msg_\xc3\xa9", -1 },
};

static void
test_sender_submit(void **state)
{
	struct sender			*s = *state;
	struct webhook			*wh;
	struct webhook_host_stats	 st[8];
	char				 err[512], id[WEBHOOK_ID_MAX + 2];
	size_t				 i, n, room;
	char				*big;

	write_file(s->path, REF_SECRET "\n");
	assert_non_null(wh = webhook_new(s->loop, &s->w, &s->tls, sender_done,
	    s, err, sizeof(err)));
	assert_true(webhook_idle(wh));
	assert_int_equal(webhook_room(wh), WEBHOOK_MAX_JOBS);
	n = 0;
	for (i = 0; i < NELEM(submit_rows); i++) {
		int rc = webhook_submit(wh, submit_rows[i].url,
		    submit_rows[i].id, "{}", 2, i);

		if (rc != submit_rows[i].rc)
			fail_msg("row %zu \"%s\" id \"%s\": %d", i,
			    submit_rows[i].url, submit_rows[i].id, rc);
		n += rc == 0;
	}
	assert_int_equal(webhook_room(wh), WEBHOOK_MAX_JOBS - n);
	assert_false(webhook_idle(wh));
	/* The id's and the body's limits. */
	memset(id, 'a', sizeof(id));
	id[WEBHOOK_ID_MAX] = '\0';
	assert_int_equal(webhook_submit(wh, "https://a.example/", id, "", 0,
	    30), 0);
	id[WEBHOOK_ID_MAX] = 'a';
	id[WEBHOOK_ID_MAX + 1] = '\0';
	assert_int_equal(webhook_submit(wh, "https://a.example/", id, "", 0,
	    31), -1);
	assert_int_equal(webhook_submit(wh, "https://a.example/", "x", NULL,
	    1, 31), -1);
	assert_int_equal(webhook_submit(wh, NULL, "x", "", 0, 31), -1);
	assert_non_null(big = malloc(WEBHOOK_BODY_MAX + 1));
	memset(big, ' ', WEBHOOK_BODY_MAX + 1);
	assert_int_equal(webhook_submit(wh, "https://a.example/", "x", big,
	    WEBHOOK_BODY_MAX + 1, 31), -1);
	assert_int_equal(webhook_submit(wh, "https://a.example/", "x", big,
	    WEBHOOK_BODY_MAX, 32), 0);
	free(big);
	n += 2;
	/* One queue per scheme, host and port. */
	assert_int_equal(webhook_stats(wh, st, NELEM(st)), 4);
	assert_string_equal(st[0].host, "hooks.example.org");
	assert_int_equal(st[0].queued, 3);
	assert_string_equal(st[1].host, "hooks.example.org:8443");
	assert_string_equal(st[2].host, "[2001:db8::1]");
	assert_string_equal(st[3].host, "a.example");
	assert_int_equal(st[3].queued, 2);
	assert_int_equal(webhook_stats(wh, NULL, 0), 4);

	/* Nothing was started (the loop never turned): all are reported
	 * not sent, once each, naming the host and not the path. */
	s->resubmit = wh;
	webhook_unqueue(wh);
	s->resubmit = NULL;
	assert_int_equal(s->nreports, (int)n);
	for (i = 0; i < NELEM(s->seen) - 1; i++)
		assert_true(s->seen[i] <= 1);
	assert_int_equal(s->last, WEBHOOK_NOT_SENT);
	assert_null(strstr(s->text, "/"));
	/* The ones submitted from the callbacks wait; free reports them. */
	room = webhook_room(wh);
	assert_int_equal(room, WEBHOOK_MAX_JOBS - n);
	webhook_free(wh);
	assert_int_equal(s->nreports, (int)(2 * n));
	assert_int_equal(s->seen[63], (int)n);
}

static void
test_sender_room(void **state)
{
	struct sender	*s = *state;
	struct webhook	*wh;
	char		 err[512], *big;
	size_t		 i;

	write_file(s->path, REF_SECRET "\n");
	assert_non_null(wh = webhook_new(s->loop, &s->w, &s->tls, sender_done,
	    s, err, sizeof(err)));
	for (i = 0; i < WEBHOOK_MAX_JOBS; i++)
		assert_int_equal(webhook_submit(wh, "https://x.example/p",
		    "msg", "{}", 2, i % 8), 0);
	assert_int_equal(webhook_room(wh), 0);
	assert_int_equal(webhook_submit(wh, "https://x.example/p", "msg",
	    "{}", 2, 9), -1);
	webhook_free(wh);
	assert_int_equal(s->nreports, WEBHOOK_MAX_JOBS);
	assert_string_equal(s->text, "x.example: not sent");

	/* The bytes held are bounded too, and room means room for any
	 * body up to WEBHOOK_BODY_MAX. */
	assert_non_null(wh = webhook_new(s->loop, &s->w, &s->tls, sender_done,
	    s, err, sizeof(err)));
	assert_non_null(big = calloc(1, WEBHOOK_BODY_MAX));
	for (i = 0; webhook_room(wh) > 0; i++)
		assert_int_equal(webhook_submit(wh, "https://x.example/p",
		    "msg", big, WEBHOOK_BODY_MAX, i % 8), 0);
	assert_int_equal(i, WEBHOOK_MAX_BYTES / WEBHOOK_BODY_MAX);
	assert_int_equal(webhook_submit(wh, "https://x.example/p", "msg",
	    "{}", 2, 9), -1);
	webhook_unqueue(wh);
	assert_int_equal(webhook_room(wh), WEBHOOK_MAX_JOBS);
	webhook_free(wh);
	free(big);
	webhook_free(NULL);
	webhook_unqueue(NULL);
	assert_true(webhook_idle(NULL));
	assert_int_equal(webhook_room(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_secret_decode),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_address),
		cmocka_unit_test_setup_teardown(test_sender_secrets,
		    sender_setup, sender_teardown),
		cmocka_unit_test_setup_teardown(test_sender_submit,
		    sender_setup, sender_teardown),
		cmocka_unit_test_setup_teardown(test_sender_room,
		    sender_setup, sender_teardown),
	};

	return cmocka_run_group_tests_name("webhook", tests, NULL, NULL) != 0;
}
