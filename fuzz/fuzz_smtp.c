/* fuzz_smtp.c - libFuzzer target for the SMTP client's parsers
 * (daemon/smtp.c).  The input is read as a relay's byte stream: replies
 * are taken one after another as the client does (accepted ones must be
 * consistent: length within the input, code 200..599, an enhanced code of
 * the reply's class, a shorter prefix incomplete, EHLO parsing safe); the
 * whole input is redacted at several output sizes (no '@', no control
 * character, strict UTF-8, within the size) and dot-stuffed (CRLF only,
 * one terminator, and unstuffing gives back the input with normalised line
 * ends).  abort() on any violation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "smtp.h"
#include "utf8.h"

#define CHECK(x) do {							\
	if (!(x)) {							\
		fprintf(stderr, "fuzz_smtp: check failed: %s (line %d)\n",\
		    #x, __LINE__);					\
		abort();						\
	}								\
} while (0)

static void
check_replies(const char *p, size_t n)
{
	struct smtp_caps	caps;
	size_t			off = 0;
	int			rc, rc2, code, enh, code2, enh2;

	while (off < n) {
		rc = smtp_reply_parse(p + off, n - off, &code, &enh);
		if (rc <= 0)
			break;
		CHECK((size_t)rc <= n - off);
		CHECK(p[off + rc - 1] == '\n');
		CHECK(code >= 200 && code <= 599);
		CHECK(enh == 0 || (enh / 10 == code / 100 &&
		    (enh / 10 == 2 || enh / 10 == 4 || enh / 10 == 5)));
		/* The reply alone parses the same; one byte less is not
		 * complete. */
		rc2 = smtp_reply_parse(p + off, (size_t)rc, &code2, &enh2);
		CHECK(rc2 == rc && code2 == code && enh2 == enh);
		CHECK(smtp_reply_parse(p + off, (size_t)rc - 1, &code2,
		    &enh2) == 0);
		smtp_ehlo_parse(p + off, (size_t)rc, &caps);
		CHECK(caps.pipelining <= 1 && caps.starttls <= 1);
		off += (size_t)rc;
	}
}

static void
check_redact(const char *p, size_t n, size_t outlen)
{
	char		*out;
	size_t		 len, i;
	uint32_t	 cp;
	int		 k;

	out = malloc(outlen);
	CHECK(out != NULL);
	smtp_redact(p, n, out, outlen);
	len = strlen(out);
	CHECK(len < outlen);
	CHECK(memchr(out, '@', len) == NULL);
	for (i = 0; i < len; i += (size_t)k) {
		k = utf8_decode((const unsigned char *)out + i, len - i, &cp);
		CHECK(k > 0);
		CHECK(!utf8_is_control(cp));
	}
	free(out);
}

static void
check_dotstuff(const char *p, size_t n)
{
	struct buf	out, norm, back;
	size_t		i, pos, eol;
	int		ended = 0;

	buf_init(&out, 0);
	buf_init(&norm, 0);
	buf_init(&back, 0);
	CHECK(smtp_dotstuff(&out, p, n) == 0);
	for (i = 0; i < n; i++) {
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
			buf_adds(&norm, "\r\n");
			i++;
		} else if (p[i] == '\r' || p[i] == '\n')
			buf_adds(&norm, "\r\n");
		else
			buf_addc(&norm, p[i]);
	}
	if (norm.len > 0 && (norm.len < 2 ||
	    memcmp(norm.data + norm.len - 2, "\r\n", 2) != 0))
		buf_adds(&norm, "\r\n");
	for (i = 0; i < out.len; i++) {
		if (out.data[i] == '\n')
			CHECK(i > 0 && out.data[i - 1] == '\r');
		if (out.data[i] == '\r')
			CHECK(i + 1 < out.len && out.data[i + 1] == '\n');
	}
	for (pos = 0; pos < out.len; pos = eol + 2) {
		eol = pos;
		while (eol + 1 < out.len &&
		    memcmp(out.data + eol, "\r\n", 2) != 0)
			eol++;
		CHECK(eol + 1 < out.len);
		if (eol - pos == 1 && out.data[pos] == '.') {
			ended = 1;
			CHECK(eol + 2 == out.len);
			break;
		}
		if (out.data[pos] == '.')
			pos++;
		buf_add(&back, out.data + pos, eol - pos);
		buf_adds(&back, "\r\n");
	}
	CHECK(ended);
	CHECK(back.len == norm.len);
	CHECK(norm.len == 0 || memcmp(back.data, norm.data, norm.len) == 0);
	buf_free(&out);
	buf_free(&norm);
	buf_free(&back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data;

	check_replies(p, size);
	check_redact(p, size, 1);
	check_redact(p, size, 7);
	check_redact(p, size, 64);
	check_redact(p, size, size * 5 + 16);
	check_dotstuff(p, size);
	return 0;
}
