/* fuzz_mime.c - libFuzzer target for the MIME writer (daemon/mime.c).  The
 * first half of the input is a Subject value, the second half a display
 * name, the whole a body.  Accepted iff valid UTF-8 without controls (TAB,
 * CR, LF allowed in bodies); accepted output must be CRLF-only, folded as
 * CRLF SP, lines <= 78 in these headers (<= 998 anywhere), every
 * encoded-word <= 75 and whole UTF-8 alone, and decode back to the exact
 * input; refused input leaves the buffer untouched.  abort() on violation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "mime.h"
#include "utf8.h"

#define CHECK(x) do {							\
	if (!(x)) {							\
		fprintf(stderr, "fuzz_mime: check failed: %s (line %d)\n",\
		    #x, __LINE__);					\
		abort();						\
	}								\
} while (0)

#define ADDR	"contact-42@example.org"

static int
crlf_only(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
			return 0;
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

static size_t
max_line(const char *s, size_t n)
{
	size_t	i, line = 0, max = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			line = 0;
		else if (++line > max)
			max = line;
	}
	return max;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
b64val(int c)
{
	static const char	a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*p;

	if (c == '\0' || (p = strchr(a, c)) == NULL)
		return -1;
	return (int)(p - a);
}

/* Base64 text (CRLFs skipped) into out; strict about the alphabet,
 * padding and leftover bits. */
static void
b64_decode(const char *s, size_t n, struct buf *out)
{
	uint32_t	acc = 0;
	size_t		i, nch = 0, pad = 0;
	int		bits = 0, v;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		nch++;
		if (s[i] == '=') {
			pad++;
			continue;
		}
		CHECK(pad == 0);
		CHECK((v = b64val((unsigned char)s[i])) >= 0);
		acc = acc << 6 | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			CHECK(buf_addc(out, (int)(acc >> bits) & 0xff) == 0);
		}
	}
	CHECK(nch % 4 == 0 && pad <= 2);
	CHECK((acc & ((1u << bits) - 1)) == 0);
}

/* Quoted-printable into out, checking the encoder's promises on the way:
 * lines <= 76, no whitespace before a line end, no "." or "From " at the
 * start of a line, escapes in upper-case hex. */
static void
qp_decode(const char *s, size_t n, struct buf *out)
{
	size_t	i, ls = 0;
	int	h, l;

	CHECK(crlf_only(s, n));
	CHECK(max_line(s, n) <= 76);
	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != '\r')
			continue;
		if (i > ls)
			CHECK(s[i - 1] != ' ' && s[i - 1] != '\t');
		if (ls < n) {
			CHECK(s[ls] != '.');
			CHECK(n - ls < 5 || memcmp(s + ls, "From ", 5) != 0);
		}
		ls = i + 2;
	}
	for (i = 0; i < n; i++) {
		if (s[i] != '=') {
			CHECK(buf_addc(out, s[i]) == 0);
			continue;
		}
		if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
			continue;
		}
		CHECK(i + 2 < n);
		h = hexval(s[i + 1]);
		l = hexval(s[i + 2]);
		CHECK(h >= 0 && l >= 0);
		CHECK(buf_addc(out, h << 4 | l) == 0);
		i += 2;
	}
}

/* 1 and the octets when w[0..n) is an encoded-word, else 0. */
static int
ew_decode(const char *w, size_t n, struct buf *out)
{
	struct buf	tmp;
	size_t		i;
	int		h, l;

	if (n < 12 || memcmp(w, "=?", 2) != 0 ||
	    memcmp(w + n - 2, "?=", 2) != 0)
		return 0;
	CHECK(n <= MIME_EW_MAX);
	CHECK(memcmp(w, "=?UTF-8?", 8) == 0 && w[9] == '?');
	CHECK(w[8] == 'B' || w[8] == 'Q');
	buf_init(&tmp, 0);
	CHECK(buf_add(&tmp, "", 0) == 0);
	if (w[8] == 'B')
		b64_decode(w + 10, n - 12, &tmp);
	else
		for (i = 10; i < n - 2; i++) {
			if (w[i] == '_')
				CHECK(buf_addc(&tmp, ' ') == 0);
			else if (w[i] == '=') {
				CHECK(i + 2 < n - 2);
				h = hexval(w[i + 1]);
				l = hexval(w[i + 2]);
				CHECK(h >= 0 && l >= 0);
				CHECK(buf_addc(&tmp, h << 4 | l) == 0);
				i += 2;
			} else {
				/* The phrase-safe set of RFC 2047 5(3). */
				CHECK(strchr("abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/",
				    w[i]) != NULL);
				CHECK(buf_addc(&tmp, w[i]) == 0);
			}
		}
	/* Split only between characters: each word is whole UTF-8. */
	CHECK(tmp.len > 0 && utf8_valid(tmp.data, tmp.len));
	CHECK(buf_add(out, tmp.data, tmp.len) == 0);
	buf_free(&tmp);
	return 1;
}

/* Check the field's shape and unfold its value (after "Name: "). */
static void
unfold(const char *f, size_t n, const char *name, size_t maxlen,
    struct buf *val)
{
	size_t	i, k = strlen(name);

	CHECK(n >= k + 3 && memcmp(f, name, k) == 0 && f[k] == ':');
	CHECK(crlf_only(f, n));
	CHECK(memcmp(f + n - 2, "\r\n", 2) == 0);
	CHECK(max_line(f, n) <= maxlen);
	i = k + 1;
	if (i < n - 2) {
		CHECK(f[i] == ' ');
		i++;
	}
	CHECK(buf_add(val, "", 0) == 0);
	for (; i < n - 2; i++) {
		if (f[i] == '\r') {
			CHECK(f[i + 1] == '\n' && f[i + 2] == ' ');
			CHECK(f[i + 3] != '\r');	/* no empty line */
			i++;
			continue;
		}
		CHECK(f[i] != '\n' && f[i] != '\0');
		CHECK(buf_addc(val, f[i]) == 0);
	}
}

/* RFC 2047 6.2: white space between adjacent encoded-words is dropped,
 * all other text and white space kept. */
static void
words_decode(const char *v, size_t n, struct buf *out)
{
	struct buf	w;
	size_t		i = 0, ws, we;
	int		prev_ew = 0, is_ew;

	CHECK(buf_add(out, "", 0) == 0);
	while (i < n) {
		for (ws = i; i < n && v[i] == ' '; i++)
			;
		if (i == n) {
			CHECK(buf_add(out, v + ws, i - ws) == 0);
			break;
		}
		for (we = i; we < n && v[we] != ' '; we++)
			;
		buf_init(&w, 0);
		is_ew = ew_decode(v + i, we - i, &w);
		if (!(is_ew && prev_ew))
			CHECK(buf_add(out, v + ws, i - ws) == 0);
		if (is_ew)
			CHECK(buf_add(out, w.data, w.len) == 0);
		else
			CHECK(buf_add(out, v + i, we - i) == 0);
		buf_free(&w);
		prev_ew = is_ew;
		i = we;
	}
}

static void
fuzz_unstructured(const char *v, size_t n)
{
	struct buf		 b, val, dec;
	struct mime_error	 err;
	int			 ok = utf8_text_ok(v, n, NULL), rc;

	buf_init(&b, 0);
	rc = mime_header_unstructured(&b, "Subject", v, n, &err);
	CHECK(rc == (ok ? 0 : -1));
	if (rc == -1) {
		CHECK(b.len == 0);
		CHECK(strcmp(err.field, "Subject") == 0);
		buf_free(&b);
		return;
	}
	buf_init(&val, 0);
	buf_init(&dec, 0);
	unfold(b.data, b.len, "Subject", MIME_FOLD_LEN, &val);
	words_decode(val.data, val.len, &dec);
	CHECK(dec.len == n && memcmp(dec.data, v, n) == 0);
	buf_free(&b);
	buf_free(&val);
	buf_free(&dec);
}

static void
fuzz_address(const char *v, size_t n)
{
	struct buf		 b, val, dec;
	struct mime_error	 err;
	const char		*lt;
	size_t			 i, k;
	int			 ok = n == 0 || utf8_text_ok(v, n, NULL), rc;

	buf_init(&b, 0);
	rc = mime_header_address(&b, "To", v, n, ADDR, &err);
	CHECK(rc == (ok ? 0 : -1));
	if (rc == -1) {
		CHECK(b.len == 0);
		CHECK(strcmp(err.field, "To") == 0);
		buf_free(&b);
		return;
	}
	buf_init(&val, 0);
	buf_init(&dec, 0);
	unfold(b.data, b.len, "To", MIME_FOLD_LEN, &val);
	if (n == 0) {
		CHECK(strcmp(val.data, ADDR) == 0);
		goto done;
	}
	k = strlen(" <" ADDR ">");
	CHECK(val.len > k && strcmp(val.data + val.len - k, " <" ADDR ">")
	    == 0);
	lt = val.data;
	k = val.len - k;	/* the phrase is val.data[0..k) */
	CHECK(buf_add(&dec, "", 0) == 0);
	if (lt[0] == '"') {
		/* A quoted-string: '\' escapes '"' and '\' only. */
		CHECK(k >= 2 && lt[k - 1] == '"');
		for (i = 1; i < k - 1; i++) {
			if (lt[i] == '\\') {
				i++;
				CHECK(lt[i] == '"' || lt[i] == '\\');
			} else
				CHECK(lt[i] != '"');
			CHECK(buf_addc(&dec, lt[i]) == 0);
		}
	} else {
		/* Atoms separated by single spaces, or encoded-words. */
		for (i = 0; i < k; i++)
			CHECK(strchr("()<>[]:;@\\,.\"", lt[i]) == NULL);
		words_decode(lt, k, &dec);
	}
	CHECK(dec.len == n && memcmp(dec.data, v, n) == 0);
done:
	buf_free(&b);
	buf_free(&val);
	buf_free(&dec);
}

/* What a body or QP text becomes: line ends as CRLF; final adds one. */
static void
normalise(const char *s, size_t n, int final, struct buf *out)
{
	size_t	i;

	CHECK(buf_add(out, "", 0) == 0);
	for (i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			CHECK(buf_add(out, "\r\n", 2) == 0);
			if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
				i++;
		} else
			CHECK(buf_addc(out, s[i]) == 0);
	}
	if (final && n > 0 && s[n - 1] != '\r' && s[n - 1] != '\n')
		CHECK(buf_add(out, "\r\n", 2) == 0);
}

static void
fuzz_bodies(const char *s, size_t n)
{
	struct buf		 b, dec, norm;
	struct mime_error	 err;
	enum mime_cte		 cte;
	size_t			 i;
	int			 ok = utf8_text_ok(s, n, "\t\r\n"), rc;

	buf_init(&b, 0);
	buf_init(&dec, 0);
	buf_init(&norm, 0);
	/* QP and base64 on arbitrary octets. */
	CHECK(mime_qp_encode(&b, s, n) == 0);
	qp_decode(b.data, b.len, &dec);
	normalise(s, n, 0, &norm);
	CHECK(dec.len == norm.len &&
	    (dec.len == 0 || memcmp(dec.data, norm.data, dec.len) == 0));
	buf_reset(&b);
	buf_reset(&dec);
	CHECK(mime_base64_encode(&b, s, n, 1) == 0);
	CHECK(crlf_only(b.data, b.len) && max_line(b.data, b.len) <= 76);
	b64_decode(b.data, b.len, &dec);
	CHECK(dec.len == n && (n == 0 || memcmp(dec.data, s, n) == 0));

	/* The body path: refused iff not clean UTF-8 text. */
	rc = mime_body_cte(s, n, (int)(n & 1), &cte, &err);
	CHECK(rc == (ok ? 0 : -1));
	if (rc == 0) {
		buf_reset(&b);
		buf_reset(&dec);
		buf_reset(&norm);
		normalise(s, n, 1, &norm);
		CHECK(mime_body_encode(&b, s, n, cte) == 0);
		CHECK(crlf_only(b.data, b.len));
		if (cte == MIME_CTE_7BIT) {
			CHECK(max_line(b.data, b.len) <= MIME_LINE_MAX);
			for (i = 0; i < b.len; i++)
				CHECK((unsigned char)b.data[i] < 0x80);
			if (n & 1)
				CHECK(strstr(b.data, "=_") == NULL);
			CHECK(buf_add(&dec, b.data, b.len) == 0);
		} else if (cte == MIME_CTE_QP)
			qp_decode(b.data, b.len, &dec);
		else {
			CHECK(max_line(b.data, b.len) <= 76);
			b64_decode(b.data, b.len, &dec);
		}
		CHECK(dec.len == norm.len && (dec.len == 0 ||
		    memcmp(dec.data, norm.data, dec.len) == 0));
	} else
		CHECK(strcmp(err.field, "body") == 0);
	buf_free(&b);
	buf_free(&dec);
	buf_free(&norm);
}

/* The whole message with these strings (cut at a NUL, as C strings are). */
static void
fuzz_message(const char *subject, const char *name, const char *text)
{
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 b;
	int			 rc;

	memset(&m, 0, sizeof(m));
	m.from.name = "Embassy";
	m.from.addr = "noreply@post.example";
	m.to.name = name;
	m.to.addr = ADDR;
	m.subject = subject;
	m.date = 1795762894;
	m.message_id = "<a1b2@outreach.example>";
	m.content_language = "am, en";
	m.list_unsubscribe_https = "https://post.example/u?t=x";
	m.list_unsubscribe_mailto = "mailto:u@post.example";
	m.text = text;
	m.html = strlen(text) & 1 ? text : NULL;
	buf_init(&b, 1 << 20);
	CHECK(buf_add(&b, "x", 1) == 0);
	rc = mime_message(&m, &b, &err);
	if (rc == 0) {
		CHECK(crlf_only(b.data, b.len));
		CHECK(max_line(b.data, b.len) <= MIME_LINE_MAX);
		CHECK(b.len >= 3 && memcmp(b.data + b.len - 2, "\r\n", 2) == 0);
	} else {
		CHECK(b.len == 1);
		CHECK(err.message[0] != '\0');
		/* Never the value in an error text. */
		if (strlen(subject) >= 8)
			CHECK(strstr(err.message, subject) == NULL);
		if (strlen(name) >= 8)
			CHECK(strstr(err.message, name) == NULL);
	}
	buf_free(&b);
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*in = (const char *)data;
	char		*subject, *name, *text;
	size_t		 h = size / 2;

	if (size > 64 * 1024)
		return 0;
	fuzz_unstructured(in, h);
	fuzz_address(in + h, size - h);
	fuzz_bodies(in, size);
	if ((subject = strndup(in, h)) == NULL ||
	    (name = strndup(in + h, size - h)) == NULL ||
	    (text = strndup(in, size)) == NULL)
		abort();
	fuzz_message(subject, name, text);
	free(subject);
	free(name);
	free(text);
	return 0;
}
