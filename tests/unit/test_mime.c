/* test_mime.c - the e-mail writer (daemon/mime.c), table-driven: refusal of
 * controls in every field, encoded-word length and UTF-8 boundary safety at
 * every split position, folding, QP/base64 known answers and round trips,
 * choice of encoding, List-Unsubscribe(-Post), CRLF-only output, overflow.
 * Then an independent check: the cases are written as .eml + .json and
 * tests/unit/mime_check.py parses them with Python's email package
 * (policy.strict).  `test_mime --emit DIR` only writes the cases. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "buf.h"
#include "mime.h"
#include "utf8.h"

#define PYTHON	"/usr/bin/python3"

static const char	*argv0 = "test_mime";

/* --- helpers ----------------------------------------------------------- */

static char *
xstrdup(const char *s)
{
	char	*p = strdup(s);

	assert_non_null(p);
	return p;
}

/* unit repeated n times (caller frees). */
static char *
rep(const char *unit, size_t n)
{
	struct buf	b;
	size_t		i;

	buf_init(&b, 0);
	for (i = 0; i < n; i++)
		assert_int_equal(buf_adds(&b, unit), 0);
	return buf_release(&b);
}

/* Concatenation of the NULL-terminated list (caller frees). */
static char *
cat(const char *s, ...)
{
	struct buf	 b;
	va_list		 ap;

	buf_init(&b, 0);
	va_start(ap, s);
	for (; s != NULL; s = va_arg(ap, const char *))
		assert_int_equal(buf_adds(&b, s), 0);
	va_end(ap);
	return buf_release(&b);
}

/* 1 when every CR is followed by LF and every LF preceded by CR. */
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

/* Longest line, without its CRLF. */
static size_t
max_line(const char *s, size_t n)
{
	size_t	i, line = 0, max = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			line = 0;
			continue;
		}
		if (++line > max)
			max = line;
	}
	return max;
}

static int
b64val(int c)
{
	const char	*a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789+/";
	const char	*p;

	if (c == '\0' || (p = strchr(a, c)) == NULL)
		return -1;
	return (int)(p - a);
}

/* Decode base64 text (CRLFs ignored) into out.  0 or -1 when malformed. */
static int
b64_decode(const char *s, size_t n, struct buf *out)
{
	uint32_t	acc = 0;
	size_t		i;
	int		bits = 0, v, pad = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if (s[i] == '=') {
			pad++;
			continue;
		}
		if (pad || (v = b64val((unsigned char)s[i])) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			buf_addc(out, (int)(acc >> bits) & 0xff);
		}
	}
	return 0;
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

/* Decode quoted-printable (CRLF hard breaks kept, soft breaks removed). */
static int
qp_decode(const char *s, size_t n, struct buf *out)
{
	size_t	i;
	int	h, l;

	for (i = 0; i < n; i++) {
		if (s[i] != '=') {
			buf_addc(out, s[i]);
			continue;
		}
		if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
			continue;
		}
		if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 ||
		    (l = hexval(s[i + 2])) < 0)
			return -1;
		buf_addc(out, h << 4 | l);
		i += 2;
	}
	return 0;
}

/* What a body becomes: CR, LF, CRLF as CRLF, a final CRLF when missing. */
static char *
normalised(const char *s, size_t n, size_t *len)
{
	struct buf	b;
	size_t		i;

	buf_init(&b, 0);
	buf_add(&b, "", 0);
	for (i = 0; i < n; i++) {
		if (s[i] == '\r' || s[i] == '\n') {
			buf_add(&b, "\r\n", 2);
			if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
				i++;
		} else
			buf_addc(&b, s[i]);
	}
	if (n > 0 && s[n - 1] != '\r' && s[n - 1] != '\n')
		buf_add(&b, "\r\n", 2);
	*len = b.len;
	return buf_release(&b);
}

/*
 * An independent RFC 2047 reader for the header forms the writer produces.
 * ew_decode: 1 and the octets when w[0..n) is an encoded-word, 0 when not;
 * it also checks the word (<= 75, UTF-8 charset, valid UTF-8 on its own, Q
 * alphabet of phrases) and counts B and Q words.
 */
static int	nb_words, nq_words;

static int
ew_decode(const char *w, size_t n, struct buf *out)
{
	struct buf	tmp;
	size_t		i, p;
	int		h, l, b;

	if (n < 12 || memcmp(w, "=?", 2) != 0 ||
	    memcmp(w + n - 2, "?=", 2) != 0)
		return 0;
	if (n > MIME_EW_MAX)
		fail_msg("encoded-word of %zu octets", n);
	if (strncasecmp(w, "=?UTF-8?", 8) != 0 || w[9] != '?')
		fail_msg("not a UTF-8 encoded-word");
	b = w[8] == 'B' || w[8] == 'b';
	if (!b && w[8] != 'Q' && w[8] != 'q')
		fail_msg("bad encoding letter");
	buf_init(&tmp, 0);
	buf_add(&tmp, "", 0);
	p = 10;
	if (b) {
		nb_words++;
		assert_int_equal(b64_decode(w + p, n - 2 - p, &tmp), 0);
	} else {
		nq_words++;
		for (i = p; i < n - 2; i++) {
			if (w[i] == '_')
				buf_addc(&tmp, ' ');
			else if (w[i] == '=') {
				assert_true(i + 2 < n - 2);
				h = hexval(w[i + 1]);
				l = hexval(w[i + 2]);
				assert_true(h >= 0 && l >= 0);
				buf_addc(&tmp, h << 4 | l);
				i += 2;
			} else {
				assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!*+-/",
				    w[i]));
				buf_addc(&tmp, w[i]);
			}
		}
	}
	/* Boundary safety: each word alone is whole UTF-8 characters. */
	assert_true(utf8_valid(tmp.data, tmp.len));
	buf_add(out, tmp.data, tmp.len);
	buf_free(&tmp);
	return 1;
}

/*
 * One header field "Name:" value CRLF (possibly folded): check the folding
 * is CRLF + SP only, lines <= 78 (or <= 998 when strict78 is 0), then
 * unfold into *val, the value after the colon and its one space.
 */
static void
hdr_unfold(const char *f, size_t n, const char *name, int strict78,
    struct buf *val)
{
	size_t	i, k = strlen(name);

	assert_true(n >= k + 3);
	assert_memory_equal(f, name, k);
	assert_int_equal(f[k], ':');
	assert_true(crlf_only(f, n));
	assert_memory_equal(f + n - 2, "\r\n", 2);
	assert_true(max_line(f, n) <= (strict78 ? MIME_FOLD_LEN :
	    MIME_LINE_MAX));
	i = k + 1;
	if (i < n - 2 && f[i] == ' ')
		i++;
	buf_add(val, "", 0);
	for (; i < n - 2; i++) {
		if (f[i] == '\r') {
			/* A fold: CRLF then a space, never an empty line. */
			assert_int_equal(f[i + 1], '\n');
			assert_int_equal(f[i + 2], ' ');
			assert_true(f[i + 3] != '\r');
			i++;
			continue;
		}
		buf_addc(val, f[i]);
	}
}

/* Decode an unfolded run of atoms/text words and encoded-words: the space
 * between two encoded-words is dropped, any other is kept. */
static void
words_decode(const char *v, size_t n, struct buf *out)
{
	size_t	i = 0, ws, we;
	int	prev_ew = 0, is_ew;

	while (i < n) {
		for (ws = i; i < n && v[i] == ' '; i++)
			;
		we = i;
		while (we < n && v[we] != ' ')
			we++;
		if (we == i) {
			buf_add(out, v + ws, i - ws);
			break;
		}
		{
			struct buf	 w;

			buf_init(&w, 0);
			is_ew = ew_decode(v + i, we - i, &w);
			if (!(is_ew && prev_ew))
				buf_add(out, v + ws, i - ws);
			if (is_ew)
				buf_add(out, w.data, w.len);
			else
				buf_add(out, v + i, we - i);
			buf_free(&w);
		}
		prev_ew = is_ew;
		i = we;
	}
}

/* Decode an address field's value into display name and addr. */
static void
addr_decode(const char *v, size_t n, struct buf *name, struct buf *addr)
{
	const char	*lt;
	size_t		 i, k;

	buf_add(name, "", 0);
	buf_add(addr, "", 0);
	if (n == 0 || v[n - 1] != '>') {
		buf_add(addr, v, n);
		return;
	}
	for (lt = v + n - 1; lt > v && *lt != '<'; lt--)
		;
	assert_true(lt > v && lt[-1] == ' ');
	buf_add(addr, lt + 1, (size_t)(v + n - 1 - lt - 1));
	k = (size_t)(lt - 1 - v);
	if (v[0] == '"') {
		assert_true(k >= 2 && v[k - 1] == '"');
		for (i = 1; i < k - 1; i++) {
			if (v[i] == '\\')
				i++;
			else
				assert_true(v[i] != '"');
			buf_addc(name, v[i]);
		}
	} else
		words_decode(v, k, name);
}

/* --- header value refusal ---------------------------------------------- */

#define SECRET	"s3cr3t-value"

static void
good_msg(struct mime_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->from.name = "Embassy of the Philippines";
	m->from.addr = "noreply@embassy.example";
	m->to.name = "Maria Santos";
	m->to.addr = "maria.santos@example.org";
	m->subject = "Consular day on 12 May";
	m->date = 1795762894;
	m->message_id = "<k3x9.q2@outreach.example>";
	m->content_language = "en";
	m->list_unsubscribe_https = "https://post.example/u?t=abc";
	m->list_unsubscribe_mailto = "mailto:unsub@post.example";
	m->text = "Dear Maria,\n\nSee you there.\n";
	m->html = "<p>Dear Maria,</p>\n<p>See you there.</p>\n";
}

enum field {
	F_SUBJECT, F_FROM_NAME, F_TO_NAME, F_FROM_ADDR, F_TO_ADDR, F_MSGID,
	F_LANG, F_HTTPS, F_MAILTO, F_AUTO, F_TEXT, F_HTML, NFIELDS
};

static const struct {
	const char	*label;
	const char	*errfield;	/* expected mime_error.field */
} fields[NFIELDS] = {
	{ "subject", "Subject" },
	{ "from name", "From" },
	{ "to name", "To" },
	{ "from addr", "From" },
	{ "to addr", "To" },
	{ "message-id", "Message-ID" },
	{ "content-language", "Content-Language" },
	{ "https", "List-Unsubscribe" },
	{ "mailto", "List-Unsubscribe" },
	{ "auto-submitted", "Auto-Submitted" },
	{ "text", "text body" },
	{ "html", "html body" },
};

/* Bad characters; those a body allows are marked. */
static const struct {
	const char	*label;
	const char	*s;
	int		 body_ok;
} badchars[] = {
	{ "CR", "\r", 1 },
	{ "LF", "\n", 1 },
	{ "CRLF", "\r\n", 1 },
	{ "TAB", "\t", 1 },
	{ "SOH", "\x01", 0 },
	{ "ESC", "\x1b", 0 },
	{ "US", "\x1f", 0 },
	{ "DEL", "\x7f", 0 },
	{ "NEL (C1)", "\xc2\x85", 0 },
	{ "CSI (C1)", "\xc2\x9b", 0 },
	{ "APC (C1)", "\xc2\x9f", 0 },
	{ "bad UTF-8", "\xff", 0 },
	{ "truncated UTF-8", "\xe1\x88", 0 },
	{ "overlong", "\xc0\xaf", 0 },
	{ "surrogate", "\xed\xa0\x80", 0 },
};

static void
test_refuse_controls(void **state)
{
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 b;
	char			*v;
	size_t			 f, c;
	int			 rc, expect_ok;

	(void)state;
	buf_init(&b, 0);
	for (f = 0; f < NFIELDS; f++) {
		for (c = 0; c < sizeof(badchars) / sizeof(badchars[0]); c++) {
			good_msg(&m);
			/* Values in the shape their field needs. */
			switch (f) {
			case F_FROM_ADDR:
			case F_TO_ADDR:
				v = cat("a", badchars[c].s, "b@x.example",
				    NULL);
				break;
			case F_MSGID:
				v = cat("<a", badchars[c].s, "b@x.example>",
				    NULL);
				break;
			case F_HTTPS:
				v = cat("https://x.example/", SECRET,
				    badchars[c].s, NULL);
				break;
			case F_MAILTO:
				v = cat("mailto:", SECRET, badchars[c].s,
				    "@x.example", NULL);
				break;
			case F_LANG:
				v = cat("en", badchars[c].s, "fr", NULL);
				break;
			case F_AUTO:
				v = cat("auto", badchars[c].s, "generated",
				    NULL);
				break;
			default:
				v = cat(SECRET, badchars[c].s, "x", NULL);
			}
			switch (f) {
			case F_SUBJECT: m.subject = v; break;
			case F_FROM_NAME: m.from.name = v; break;
			case F_TO_NAME: m.to.name = v; break;
			case F_FROM_ADDR: m.from.addr = v; break;
			case F_TO_ADDR: m.to.addr = v; break;
			case F_MSGID: m.message_id = v; break;
			case F_LANG: m.content_language = v; break;
			case F_HTTPS: m.list_unsubscribe_https = v; break;
			case F_MAILTO: m.list_unsubscribe_mailto = v; break;
			case F_AUTO: m.auto_submitted = v; break;
			case F_TEXT: m.text = v; break;
			default: m.html = v; break;
			}
			buf_reset(&b);
			buf_adds(&b, "prefix");
			memset(&err, 0, sizeof(err));
			rc = mime_message(&m, &b, &err);
			expect_ok = (f == F_TEXT || f == F_HTML) &&
			    badchars[c].body_ok;
			if (rc != (expect_ok ? 0 : -1))
				fail_msg("%s with %s: rc %d", fields[f].label,
				    badchars[c].label, rc);
			if (!expect_ok) {
				assert_int_equal(b.len, 6);
				assert_string_equal(b.data, "prefix");
				if (strcmp(err.field, fields[f].errfield) != 0)
					fail_msg("%s with %s: field \"%s\"",
					    fields[f].label, badchars[c].label,
					    err.field);
				assert_null(strstr(err.message, SECRET));
				assert_non_null(strstr(err.message,
				    fields[f].errfield));
			} else
				assert_true(crlf_only(b.data, b.len));
			free(v);
		}
	}
	buf_free(&b);
}

/* NUL inside a counted value: refused by every header writer. */
static void
test_refuse_nul(void **state)
{
	static const char	 v[] = "Hello\0Bcc: x@evil.example";
	struct mime_error	 err;
	struct buf		 b;
	enum mime_cte		 cte;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(mime_header_unstructured(&b, "Subject", v,
	    sizeof(v) - 1, &err), -1);
	assert_string_equal(err.field, "Subject");
	assert_non_null(strstr(err.message, "U+0000"));
	assert_int_equal(mime_header_address(&b, "To", v, sizeof(v) - 1,
	    "a@b.example", &err), -1);
	assert_string_equal(err.field, "To");
	assert_int_equal(mime_header_structured(&b, "X-Test", v,
	    sizeof(v) - 1, &err), -1);
	assert_int_equal(mime_body_cte(v, sizeof(v) - 1, 0, &cte, &err), -1);
	assert_int_equal(b.len, 0);
	/* Bad names are refused too, and NULL err is allowed. */
	assert_int_equal(mime_header_unstructured(&b, "Sub ject", "x", 1,
	    &err), -1);
	assert_int_equal(mime_header_unstructured(&b, "Subject:", "x", 1,
	    NULL), -1);
	assert_int_equal(mime_header_unstructured(&b, "", "x", 1, NULL), -1);
	assert_int_equal(mime_header_unstructured(&b,
	    "X-0123456789012345678901234567890123456789", "x", 1, NULL), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* --- encoded-words at every split position ----------------------------- */

static const char *const widths[] = { "x", "\xc3\xa9", "\xe1\x88\xb0",
    "\xf0\x9f\x98\x80" };
static const char *const hnames[] = { "Subject", "X",
    "X-A-Forty-Character-Header-Name-Is-Long" };

/* Write value as unstructured header name, check and decode it. */
static void
check_unstructured(const char *name, const char *v, size_t n)
{
	struct buf		 b, val, dec;
	struct mime_error	 err;

	buf_init(&b, 0);
	buf_init(&val, 0);
	buf_init(&dec, 0);
	if (mime_header_unstructured(&b, name, v, n, &err) != 0)
		fail_msg("refused: %s", err.message);
	hdr_unfold(b.data, b.len, name, 1, &val);
	words_decode(val.data, val.len, &dec);
	buf_add(&dec, "", 0);
	if (dec.len != n || memcmp(dec.data, v, n) != 0)
		fail_msg("round trip:\n%s\ngave \"%s\"\nfor \"%.*s\"", b.data,
		    dec.data, (int)n, v);
	buf_free(&b);
	buf_free(&val);
	buf_free(&dec);
}

static void
check_address(const char *name, const char *display, size_t n,
    const char *addr)
{
	struct buf		 b, val, dn, da;
	struct mime_error	 err;

	buf_init(&b, 0);
	buf_init(&val, 0);
	buf_init(&dn, 0);
	buf_init(&da, 0);
	if (mime_header_address(&b, name, display, n, addr, &err) != 0)
		fail_msg("refused: %s", err.message);
	hdr_unfold(b.data, b.len, name, strlen(addr) < 60, &val);
	addr_decode(val.data, val.len, &dn, &da);
	if (dn.len != n || memcmp(dn.data, display, n) != 0)
		fail_msg("display name round trip:\n%s\ngave \"%s\"", b.data,
		    dn.data);
	assert_string_equal(da.data, addr);
	buf_free(&b);
	buf_free(&val);
	buf_free(&dn);
	buf_free(&da);
}

static void
test_encoded_word_splits(void **state)
{
	char	*prefix, *chars, *v;
	size_t	 w, k, h, sp;

	(void)state;
	nb_words = nq_words = 0;
	for (w = 0; w < 4; w++)
		for (sp = 0; sp < 2; sp++)
			for (k = 0; k <= 80; k++) {
				/* k ASCII octets shift every later character
				 * across the possible split points. */
				prefix = rep("a", k);
				chars = rep(widths[w], 60);
				v = sp ? cat(prefix, " ", chars, " ", chars,
				    NULL) : cat(prefix, chars, chars, NULL);
				for (h = 0; h < 3; h++) {
					check_unstructured(hnames[h], v,
					    strlen(v));
					check_address(hnames[h], v, strlen(v),
					    "a@b.example");
				}
				free(prefix);
				free(chars);
				free(v);
			}
	/* Both encodings were chosen somewhere. */
	assert_true(nb_words > 0);
	assert_true(nq_words > 0);
}

/* --- unstructured and address headers ---------------------------------- */

struct hrow {
	const char	*label;
	const char	*value;
	const char	*expect;	/* exact output, or NULL: round trip */
};

static const struct hrow subject_rows[] = {
	{ "ascii", "Consular day on 12 May",
	  "Subject: Consular day on 12 May\r\n" },
	{ "empty", "", "Subject:\r\n" },
	{ "one space", " ", "Subject: =?UTF-8?Q?_?=\r\n" },
	{ "mostly non-ASCII: B", "Grüße", "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n" },
	{ "mixed", "Café au lait",
	  "Subject: =?UTF-8?Q?Caf=C3=A9?= au lait\r\n" },
	{ "two encoded words",
	  "Café Crème", "Subject: =?UTF-8?Q?Caf=C3=A9_Cr=C3=A8me?=\r\n" },
	{ "amharic (B)", "ሰላም",
	  "Subject: =?UTF-8?B?4Yiw4YiL4Yid?=\r\n" },
	{ "lookalike encoded-word",
	  "=?utf-8?q?hi?=", "Subject: =?UTF-8?Q?=3D=3Futf-8=3Fq=3Fhi=3F=3D?=\r\n" },
	{ "leading spaces", "  hi", NULL },
	{ "trailing spaces", "hi  ", NULL },
	{ "inner spaces", "a    b  c", "Subject: a    b  c\r\n" },
	{ "long run of spaces", "a                    b", NULL },
	{ "question marks", "Why? =? ?= ?", NULL },
	{ "specials", "a\"b\\c(d)<e>,;:@[]", NULL },
	{ "arabic", "يوم قنصلي في فرانكفورت", NULL },
	{ "tigrinya", "መዓልቲ ቆንስላ ኣብ ፍራንክፎርት", NULL },
	{ "chinese", "领事日：请携带护照和两张照片", NULL },
	{ "emoji", "🚨 Alert 🌍🌊 tsunami 🚨", NULL },
	{ "rtl+ltr", "Meeting اجتماع on 5 June في برلين", NULL },
	{ "zero width joiner", "👩‍👩‍👧 family", NULL },
};

static void
test_subject_rows(void **state)
{
	struct buf		 b;
	struct mime_error	 err;
	size_t			 i;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(subject_rows) / sizeof(subject_rows[0]); i++) {
		check_unstructured("Subject", subject_rows[i].value,
		    strlen(subject_rows[i].value));
		if (subject_rows[i].expect == NULL)
			continue;
		buf_reset(&b);
		assert_int_equal(mime_header_unstructured(&b, "Subject",
		    subject_rows[i].value, strlen(subject_rows[i].value),
		    &err), 0);
		if (strcmp(b.data, subject_rows[i].expect) != 0)
			fail_msg("%s: got \"%s\"", subject_rows[i].label,
			    b.data);
	}
	buf_free(&b);
}

static void
test_folding(void **state)
{
	struct buf		 b;
	struct mime_error	 err;
	char			*v[8];
	size_t			 i, n = 0;

	(void)state;
	v[n++] = rep("Town hall on out-of-country voting ", 15);
	v[n - 1][strlen(v[n - 1]) - 1] = '\0';		/* no trailing space */
	v[n++] = rep("abcdefghij", 52);			/* 520, no space */
	v[n++] = rep("ሰላም", 180);			/* 540 chars, no space */
	v[n++] = cat("Notice ", "", NULL);
	free(v[n - 1]);
	{
		char	*w = rep("x", 300);

		v[n - 1] = cat("Notice ", w, " end", NULL);
		free(w);
	}
	v[n++] = rep("ab ", 400);
	v[n++] = rep("مرحبا بالعالم ", 40);
	v[n++] = rep(" ", 200);
	v[n++] = rep("😀 ", 100);
	for (i = 0; i < n; i++) {
		/* check_unstructured asserts every line <= 78. */
		check_unstructured("Subject", v[i], strlen(v[i]));
		check_address("To", v[i], strlen(v[i]), "a@b.example");
	}
	/* The plain words of a long ASCII subject stay plain. */
	buf_init(&b, 0);
	assert_int_equal(mime_header_unstructured(&b, "Subject", v[0],
	    strlen(v[0]), &err), 0);
	assert_null(strstr(b.data, "=?"));
	assert_true(max_line(b.data, b.len) <= MIME_FOLD_LEN);
	assert_true(max_line(b.data, b.len) >= 70);	/* lines are filled */
	buf_free(&b);
	for (i = 0; i < n; i++)
		free(v[i]);
}

static void
test_structured(void **state)
{
	struct buf		 b;
	struct mime_error	 err;
	char			*u, *w;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(mime_header_structured(&b, "MIME-Version", "1.0", 3,
	    &err), 0);
	assert_string_equal(b.data, "MIME-Version: 1.0\r\n");
	/* A long URL cannot be folded: one line, <= 998. */
	buf_reset(&b);
	u = rep("u", 500);
	w = cat("<https://x.example/", u, ">, <mailto:a@b.example>", NULL);
	assert_int_equal(mime_header_structured(&b, "List-Unsubscribe", w,
	    strlen(w), &err), 0);
	assert_true(crlf_only(b.data, b.len));
	assert_true(max_line(b.data, b.len) <= MIME_LINE_MAX);
	assert_non_null(strstr(b.data, ">,\r\n <mailto:"));
	free(w);
	/* A word that cannot fit 998 is refused. */
	buf_reset(&b);
	free(u);
	u = rep("u", 1000);
	assert_int_equal(mime_header_structured(&b, "X-Long", u, strlen(u),
	    &err), -1);
	assert_string_equal(err.field, "X-Long");
	assert_int_equal(b.len, 0);
	free(u);
	/* Non-ASCII, controls, edges, empty. */
	assert_int_equal(mime_header_structured(&b, "X", "caf\xc3\xa9", 5,
	    &err), -1);
	assert_int_equal(mime_header_structured(&b, "X", "a\tb", 3, &err), -1);
	assert_int_equal(mime_header_structured(&b, "X", " a", 2, &err), -1);
	assert_int_equal(mime_header_structured(&b, "X", "a ", 2, &err), -1);
	assert_int_equal(mime_header_structured(&b, "X", "", 0, &err), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

struct arow {
	const char	*label;
	const char	*name;
	const char	*expect;	/* exact "To:" line(s), or NULL */
};

static const struct arow addr_rows[] = {
	{ "none", NULL, "To: a@b.example\r\n" },
	{ "empty", "", "To: a@b.example\r\n" },
	{ "atoms", "Maria Santos", "To: Maria Santos <a@b.example>\r\n" },
	{ "atext", "O'Brien-Smith", "To: O'Brien-Smith <a@b.example>\r\n" },
	{ "comma", "Santos, Maria", "To: \"Santos, Maria\" <a@b.example>\r\n" },
	{ "dot", "Dr. Who", "To: \"Dr. Who\" <a@b.example>\r\n" },
	{ "quote and backslash", "a \"b\" \\c",
	  "To: \"a \\\"b\\\" \\\\c\" <a@b.example>\r\n" },
	{ "double space", "Maria  Santos",
	  "To: \"Maria  Santos\" <a@b.example>\r\n" },
	{ "leading space", " Maria", "To: \" Maria\" <a@b.example>\r\n" },
	{ "only spaces", "   ", "To: \"   \" <a@b.example>\r\n" },
	{ "lookalike", "=?utf-8?q?x?=",
	  "To: =?UTF-8?Q?=3D=3Futf-8=3Fq=3Fx=3F=3D?= <a@b.example>\r\n" },
	{ "latin", "Zoë", "To: =?UTF-8?Q?Zo=C3=AB?= <a@b.example>\r\n" },
	{ "amharic", "ሰላም ተስፋይ", NULL },
	{ "arabic", "محمد عبد الله", NULL },
	{ "mixed", "Ahmed أحمد", NULL },
	{ "chinese", "王小明", NULL },
	{ "emoji", "Ana 😀", NULL },
	{ "specials", "()<>[]:;@\\,.\"", NULL },
};

static void
test_address_rows(void **state)
{
	struct buf		 b;
	struct mime_error	 err;
	size_t			 i;
	const char		*nm;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(addr_rows) / sizeof(addr_rows[0]); i++) {
		nm = addr_rows[i].name;
		if (nm != NULL && *nm != '\0')
			check_address("To", nm, strlen(nm), "a@b.example");
		if (addr_rows[i].expect == NULL)
			continue;
		buf_reset(&b);
		assert_int_equal(mime_header_address(&b, "To", nm,
		    nm ? strlen(nm) : 0, "a@b.example", &err), 0);
		if (strcmp(b.data, addr_rows[i].expect) != 0)
			fail_msg("%s: got \"%s\"", addr_rows[i].label, b.data);
	}
	buf_free(&b);
}

static const char *const bad_addrs[] = {
	"", "a", "a@", "@b", "a@@b", "a@b@c", "a b@c", "a@b c", "<a@b>",
	"a@b>", "a@b,c@d", "\"q\"@b", "a@[192.0.2.1]", ".a@b", "a.@b",
	"a..b@c", "a@b..c", "a@.b", "caf\xc3\xa9@b", "a\r\n@b", "a@b\n",
	"a\t@b", "a(c)@b", "a;b@c", "a:b@c", "a\\b@c",
	"x12345678901234567890123456789012345678901234567890123456789012345@b",
};

static void
test_bad_addresses(void **state)
{
	struct buf		 b;
	struct mime_error	 err;
	char			*l, *d, *a;
	size_t			 i;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
		if (mime_header_address(&b, "To", "N", 1, bad_addrs[i],
		    &err) != -1)
			fail_msg("accepted address %zu", i);
		assert_string_equal(err.field, "To");
		assert_int_equal(b.len, 0);
	}
	assert_int_equal(mime_header_address(&b, "To", "N", 1, NULL, &err),
	    -1);
	/* 254 octets pass, 255 do not. */
	l = rep("l", 64);
	d = rep("d", 254 - 65);
	a = cat(l, "@", d, NULL);
	assert_int_equal(strlen(a), 254);
	assert_int_equal(mime_header_address(&b, "To", NULL, 0, a, &err), 0);
	free(a);
	a = cat(l, "@", d, "d", NULL);
	assert_int_equal(mime_header_address(&b, "To", NULL, 0, a, &err), -1);
	free(a);
	free(l);
	free(d);
	/* Plain dot-atoms with atext pass. */
	buf_reset(&b);
	assert_int_equal(mime_header_address(&b, "To", NULL, 0,
	    "first.last+tag!#$%&'*/=?^_`{|}~-@sub.example.org", &err), 0);
	buf_free(&b);
}

/* --- bodies ------------------------------------------------------------ */

struct qrow {
	const char	*label;
	const char	*in;
	const char	*out;
};

#define A25	"aaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct qrow qp_rows[] = {
	{ "empty", "", "" },
	{ "plain", "Hello, world!", "Hello, world!" },
	{ "equals", "a=b", "a=3Db" },
	{ "trailing space", "end \n", "end=20\r\n" },
	{ "trailing tab at end", "tab\t", "tab=09" },
	{ "inner space", "a b\tc", "a b\tc" },
	{ "dot at line start", ".\n..x\n", "=2E\r\n=2E.x\r\n" },
	{ "From at line start", "From me\nFrom\nxFrom y", 
	  "=46rom me\r\nFrom\r\nxFrom y" },
	{ "non-ascii", "caf\xc3\xa9", "caf=C3=A9" },
	{ "line ends", "a\r\nb\nc\rd\r\r\n", "a\r\nb\r\nc\r\nd\r\n\r\n" },
	{ "controls and high octets", "\x01\x7f\xff", "=01=7F=FF" },
	{ "76 at end",
	  A25 A25 A25 "a",
	  A25 A25 A25 "a" },
	{ "77",
	  A25 A25 A25 "aa",
	  A25 A25 "aaaaaaaaa"
	  "aaaaaaaaaaaaaaaa=\r\naa" },
	{ "escape not split",
	  A25 A25 "aaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9",
	  A25 A25 "aaaaaaaaaaaaaaaaaaaaaaaa"
	  "=\r\n=C3=A9" },
	{ "dot after soft break",
	  A25 A25 A25 ".b",
	  A25 A25 A25
	  "=\r\n=2Eb" },
	{ "space before soft break",
	  A25 A25 "aaaaaaaaaaaaaaaaaaaaaaaa bc",
	  A25 A25 "aaaaaaaaaaaaaaaaaaaaaaaa"
	  " =\r\nbc" },
	/* RFC 2045 6.7 rule (3): "=20" only where the space ends a line. */
	{ "RFC 2045 rule 3", "Now's the time \r\nfor all ",
	  "Now's the time=20\r\nfor all=20" },
};

static void
test_qp_vectors(void **state)
{
	struct buf	b;
	size_t		i;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(qp_rows) / sizeof(qp_rows[0]); i++) {
		buf_reset(&b);
		assert_int_equal(mime_qp_encode(&b, qp_rows[i].in,
		    strlen(qp_rows[i].in)), 0);
		buf_add(&b, "", 0);
		if (strcmp(b.data, qp_rows[i].out) != 0)
			fail_msg("%s: got \"%s\"", qp_rows[i].label, b.data);
	}
	buf_free(&b);
}

/* QP of generated texts decodes back; lines <= 76, no trailing space,
 * no line starting with "." or "From ". */
static void
test_qp_round_trip(void **state)
{
	static const char *const atoms[] = { "a", " ", "\t", "=", ".", "From ",
	    "\n", "\r\n", "\r", "\xc3\xa9", "\xe1\x88\xb0", "\xf0\x9f\x98\x80",
	    "\x01", "x" };
	struct buf	 in, out, dec;
	char		*norm;
	size_t		 i, j, k, nn, ls;
	uint32_t	 seed = 1;

	(void)state;
	buf_init(&in, 0);
	buf_init(&out, 0);
	buf_init(&dec, 0);
	for (i = 0; i < 3000; i++) {
		buf_reset(&in);
		buf_reset(&out);
		buf_reset(&dec);
		buf_add(&in, "", 0);
		buf_add(&dec, "", 0);
		for (j = 0; j < i % 300; j++) {
			seed = seed * 1103515245 + 12345;
			k = (seed >> 16) % (sizeof(atoms) / sizeof(atoms[0]));
			buf_adds(&in, atoms[k]);
		}
		assert_int_equal(mime_qp_encode(&out, in.data, in.len), 0);
		buf_add(&out, "", 0);
		assert_true(crlf_only(out.data, out.len));
		assert_true(max_line(out.data, out.len) <= 76);
		for (ls = 0, k = 0; k <= out.len; k++) {
			if (k < out.len && out.data[k] != '\r')
				continue;
			if (k > ls)
				assert_true(out.data[k - 1] != ' ' &&
				    out.data[k - 1] != '\t');
			assert_true(out.data[ls] != '.');
			assert_true(strncmp(out.data + ls, "From ", 5) != 0);
			ls = k + 2;
		}
		assert_int_equal(qp_decode(out.data, out.len, &dec), 0);
		/* The encoder adds no final CRLF; normalised() does. */
		norm = normalised(in.data, in.len, &nn);
		if (in.len > 0 && in.data[in.len - 1] != '\n' &&
		    in.data[in.len - 1] != '\r')
			nn -= 2;
		assert_int_equal(dec.len, nn);
		assert_memory_equal(dec.data, norm, nn);
		free(norm);
	}
	buf_free(&in);
	buf_free(&out);
	buf_free(&dec);
}

/*
 * The rules of RFC 2045 6.7 one octet at a time, as the encoder applied
 * them before it copied runs: the reference the fast encoder must match
 * byte for byte.
 */
static void
qp_reference(struct buf *out, const unsigned char *s, size_t n)
{
	static const char	hex[] = "0123456789ABCDEF";
	size_t			i = 0, col = 0, tl;
	unsigned char		c;
	int			enc, eol, start;

	while (i < n) {
		c = s[i];
		if (c == '\r' || c == '\n') {
			buf_add(out, "\r\n", 2);
			col = 0;
			i += c == '\r' && i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
			continue;
		}
		eol = i + 1 == n || s[i + 1] == '\r' || s[i + 1] == '\n';
		start = c == '.' || (c == 'F' && n - i >= 5 &&
		    memcmp(s + i, "From ", 5) == 0);
		if (c == ' ' || c == '\t')
			enc = eol;
		else
			enc = c < 33 || c > 126 || c == '=';
		if (col == 0 && start)
			enc = 1;
		tl = enc ? 3 : 1;
		if (col + tl > (eol ? 76u : 75u)) {
			buf_add(out, "=\r\n", 3);
			col = 0;
			if (start) {
				enc = 1;
				tl = 3;
			}
		}
		if (enc) {
			buf_addc(out, '=');
			buf_addc(out, hex[c >> 4]);
			buf_addc(out, hex[c & 15]);
		} else
			buf_addc(out, c);
		col += tl;
		i++;
	}
	buf_add(out, "", 0);
}

/* The encoder against qp_reference: generated texts around the line
 * limits, each in a heap block of its exact size (so that a read past the
 * end shows under ASan), and long ones whose output crosses the encoder's
 * 4 KiB stage at every offset (the old encoder overran it). */
static void
test_qp_reference(void **state)
{
	static const char *const atoms[] = { "a", "a", "a", "a", "a", "b",
	    " ", "\t", "=", ".", "F", "From ", "\n", "\r\n", "\r",
	    "\xc3\xa9", "\xd8\xb9", "\xe2\x80\xaf", "\x01", "\x7f", "~" };
	struct buf	 in, out, want;
	unsigned char	*copy;
	size_t		 i, j, k, ll, na = sizeof(atoms) / sizeof(atoms[0]);
	uint32_t	 seed = 7;

	(void)state;
	buf_init(&in, 0);
	buf_init(&out, 0);
	buf_init(&want, 0);
	for (i = 0; i < 4500 + 31 * 41; i++) {
		buf_reset(&in);
		if (i < 4500) {
			/* Mostly letters, so that lines reach the limits. */
			for (j = 0; j < i % 450; j++) {
				seed = seed * 1103515245 + 12345;
				k = (seed >> 16) % (i % 3 == 0 ? na : 8);
				if ((seed >> 8) % 61 == 0)
					buf_adds(&in, "\n");
				else
					buf_adds(&in, atoms[k]);
			}
		} else {
			/* A pad of "a=" then lines of 10-40 octets: the
			 * line starts fall at every offset of the stage
			 * (lines of 17 after a pad of 17 overran it). */
			for (j = 0; j < (i - 4500) % 41; j++)
				buf_adds(&in, j % 2 ? "=" : "a");
			ll = 10 + (i - 4500) / 41;
			while (in.len + ll < 6000) {
				for (j = 0; j < ll; j++)
					buf_addc(&in, "abcdefgh ij"[j % 11]);
				buf_addc(&in, '\n');
			}
		}
		copy = malloc(in.len > 0 ? in.len : 1);
		assert_non_null(copy);
		if (in.len > 0)
			memcpy(copy, in.data, in.len);
		buf_reset(&out);
		buf_reset(&want);
		assert_int_equal(mime_qp_encode(&out, copy, in.len), 0);
		buf_add(&out, "", 0);
		qp_reference(&want, copy, in.len);
		if (out.len != want.len || memcmp(out.data, want.data,
		    out.len) != 0)
			fail_msg("case %zu (%zu octets): differs from the "
			    "reference", i, in.len);
		free(copy);
	}
	buf_free(&in);
	buf_free(&out);
	buf_free(&want);
}

static void
test_base64_vectors(void **state)
{
	/* RFC 4648 10. */
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" },
		{ "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
		{ "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	unsigned char	 bin[200];
	unsigned char	 ossl[400];
	struct buf	 b;
	size_t		 i, n;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		buf_reset(&b);
		assert_int_equal(mime_base64_encode(&b, vec[i][0],
		    strlen(vec[i][0]), 0), 0);
		buf_add(&b, "", 0);
		assert_string_equal(b.data, vec[i][1]);
		buf_reset(&b);
		assert_int_equal(mime_base64_encode(&b, vec[i][0],
		    strlen(vec[i][0]), 1), 0);
		buf_add(&b, "", 0);
		if (*vec[i][0] == '\0')
			assert_string_equal(b.data, "");
		else {
			assert_int_equal(b.len, strlen(vec[i][1]) + 2);
			assert_memory_equal(b.data, vec[i][1], b.len - 2);
		}
	}
	/* Wrapping at 76 and agreement with OpenSSL for every length. */
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 37 + 11);
	for (n = 0; n <= sizeof(bin); n++) {
		buf_reset(&b);
		assert_int_equal(mime_base64_encode(&b, bin, n, 1), 0);
		buf_add(&b, "", 0);
		assert_true(crlf_only(b.data, b.len));
		assert_true(max_line(b.data, b.len) <= 76);
		assert_int_equal(b.len, 4 * ((n + 2) / 3) + 2 * ((n + 56) / 57));
		if (n == 57)
			assert_int_equal(max_line(b.data, b.len), 76);
		EVP_EncodeBlock(ossl, bin, (int)n);
		{
			struct buf	 flat;
			size_t		 k;

			buf_init(&flat, 0);
			buf_add(&flat, "", 0);
			for (k = 0; k < b.len; k++)
				if (b.data[k] != '\r' && b.data[k] != '\n')
					buf_addc(&flat, b.data[k]);
			assert_string_equal(flat.data, (char *)ossl);
			buf_free(&flat);
		}
	}
	buf_free(&b);
}

struct crow {
	const char	*label;
	const char	*body;
	int		 no_eq_us;
	enum mime_cte	 cte;
};

#define L10	"abcdefghij"
#define L100	L10 L10 L10 L10 L10 L10 L10 L10 L10 L10
#define L990	L100 L100 L100 L100 L100 L100 L100 L100 L100 \
		L10 L10 L10 L10 L10 L10 L10 L10 L10

static const struct crow cte_rows[] = {
	{ "empty", "", 0, MIME_CTE_7BIT },
	{ "ascii", "Hello\nworld\n", 0, MIME_CTE_7BIT },
	{ "dot and From stay 7bit", ".\nFrom x\n", 0, MIME_CTE_7BIT },
	{ "998 line", L990 "abcdefgh\n", 0, MIME_CTE_7BIT },
	{ "999 line", L990 "abcdefghi\n", 0, MIME_CTE_QP },
	{ "=_ alone", "a=_b\n", 0, MIME_CTE_7BIT },
	{ "=_ with boundary", "a=_b\n", 1, MIME_CTE_QP },
	{ "german", "Grüße aus Köln, wir sehen uns am Montag.\n", 0,
	  MIME_CTE_QP },
	{ "french", "Journée consulaire à Francfort le 12 mai.\n", 0,
	  MIME_CTE_QP },
	{ "arabic", "يوم قنصلي في فرانكفورت يوم الثاني عشر من مايو\n", 0,
	  MIME_CTE_BASE64 },
	{ "chinese", "领事日：请携带护照和两张照片。\n", 0, MIME_CTE_BASE64 },
	{ "tigrinya", "መዓልቲ ቆንስላ ኣብ ፍራንክፎርት\n", 0, MIME_CTE_BASE64 },
	{ "emoji", "😀😀😀😀😀😀😀😀\n", 0, MIME_CTE_BASE64 },
	{ "tab", "a\tb\n", 0, MIME_CTE_7BIT },
};

static void
test_cte_choice(void **state)
{
	struct mime_error	 err;
	enum mime_cte		 cte;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cte_rows) / sizeof(cte_rows[0]); i++) {
		cte = (enum mime_cte)-1;
		assert_int_equal(mime_body_cte(cte_rows[i].body,
		    strlen(cte_rows[i].body), cte_rows[i].no_eq_us, &cte,
		    &err), 0);
		if (cte != cte_rows[i].cte)
			fail_msg("%s: cte %d", cte_rows[i].label, (int)cte);
	}
	/* Refused in bodies: controls other than TAB/CR/LF, bad UTF-8. */
	assert_int_equal(mime_body_cte("a\fb", 3, 0, &cte, &err), -1);
	assert_string_equal(err.field, "body");
	assert_int_equal(mime_body_cte("a\0b", 3, 0, &cte, &err), -1);
	assert_int_equal(mime_body_cte("\xc2\x80", 2, 0, &cte, &err), -1);
	assert_int_equal(mime_body_cte("\xe2\x82", 2, 0, &cte, &err), -1);
}

/* Each encoding of mime_body_encode decodes to the normalised body. */
static void
test_body_encode(void **state)
{
	static const char *const bodies[] = {
		"", "a", "a\n", "a\r\nb\rc\nd", "\n\n\n", "\r", "x\r",
		"يوم قنصلي\nفي فرانكفورت", "line  \n.dot\nFrom x\n",
		"😀\r\n😀\r😀\n",
	};
	struct buf	 b, dec;
	char		*norm, *big;
	size_t		 i, n, nn;
	int		 c;

	(void)state;
	buf_init(&b, 0);
	buf_init(&dec, 0);
	for (i = 0; i <= sizeof(bodies) / sizeof(bodies[0]); i++) {
		/* The last round: a long body crossing the chunk sizes. */
		big = i == sizeof(bodies) / sizeof(bodies[0]) ?
		    rep("ሰላም\nab\r\n", 700) : NULL;
		const char *s = big ? big : bodies[i];

		n = strlen(s);
		norm = normalised(s, n, &nn);
		for (c = MIME_CTE_7BIT; c <= MIME_CTE_BASE64; c++) {
			buf_reset(&b);
			buf_reset(&dec);
			buf_add(&dec, "", 0);
			assert_int_equal(mime_body_encode(&b, s, n,
			    (enum mime_cte)c), 0);
			buf_add(&b, "", 0);
			assert_true(crlf_only(b.data, b.len));
			if (c == MIME_CTE_BASE64) {
				assert_true(max_line(b.data, b.len) <= 76);
				assert_int_equal(b64_decode(b.data, b.len,
				    &dec), 0);
			} else if (c == MIME_CTE_QP) {
				assert_true(max_line(b.data, b.len) <= 76);
				assert_int_equal(qp_decode(b.data, b.len,
				    &dec), 0);
			} else
				buf_add(&dec, b.data, b.len);
			if (dec.len != nn || memcmp(dec.data, norm, nn) != 0)
				fail_msg("body %zu cte %d", i, c);
		}
		free(norm);
		free(big);
	}
	buf_free(&b);
	buf_free(&dec);
}

/* --- the message --------------------------------------------------------- */

static void
test_date(void **state)
{
	static const struct {
		long long	 t;
		const char	*s;
	} rows[] = {
		{ 0, "Thu, 01 Jan 1970 00:00:00 +0000" },
		{ 1795762894, "Fri, 27 Nov 2026 07:01:34 +0000" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 +0000" },
		{ 2147483648LL, "Tue, 19 Jan 2038 03:14:08 +0000" },
		{ -2208988800LL, "Mon, 01 Jan 1900 00:00:00 +0000" },
		{ 253402300799LL, "Fri, 31 Dec 9999 23:59:59 +0000" },
	};
	char	d[MIME_DATE_LEN];
	size_t	i, pass;

	(void)state;
	/* The same under any locale the system has. */
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1 && setlocale(LC_ALL, "de_DE.UTF-8") == NULL &&
		    setlocale(LC_ALL, "C.UTF-8") == NULL)
			break;
		for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			assert_int_equal(mime_date((time_t)rows[i].t, d), 0);
			assert_string_equal(d, rows[i].s);
		}
	}
	setlocale(LC_ALL, "C");
	assert_int_equal(mime_date((time_t)253402300800LL, d), -1);
	assert_int_equal(mime_date((time_t)-2208988801LL, d), -1);
}

static void
test_message_ids(void **state)
{
	static const struct {
		const char	*id;
		int		 ok;
	} rows[] = {
		{ "<a@b>", 1 }, { "<k3x9.q2@outreach.example>", 1 },
		{ "<a+b=c@d.e>", 1 }, { "a@b", 0 }, { "<a@b", 0 },
		{ "<@b>", 0 }, { "<a@>", 0 }, { "<a b@c>", 0 },
		{ "<a@b@c>", 0 }, { "<a@[1.2.3.4]>", 0 }, { "<.a@b>", 0 },
		{ "<a..b@c>", 0 }, { "<a@b>x", 0 }, { "<a>", 0 }, { "", 0 },
		{ "<a@b>\r\nBcc: x", 0 }, { "<\"a\"@b>", 0 },
	};
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 b;
	size_t			 i;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		good_msg(&m);
		m.message_id = rows[i].id;
		buf_reset(&b);
		if (mime_message(&m, &b, &err) != (rows[i].ok ? 0 : -1))
			fail_msg("message-id row %zu", i);
		if (!rows[i].ok)
			assert_string_equal(err.field, "Message-ID");
	}
	good_msg(&m);
	m.message_id = NULL;
	assert_int_equal(mime_message(&m, &b, &err), -1);
	buf_free(&b);
}

/* The value of header name in the message, unfolded ("" when absent:
 * *found 0). */
static char *
msg_header(const char *msg, const char *name, int *found)
{
	struct buf	 v;
	const char	*p = msg, *e;
	size_t		 k = strlen(name);

	buf_init(&v, 0);
	buf_add(&v, "", 0);
	*found = 0;
	while (*p != '\0' && strncmp(p, "\r\n", 2) != 0) {
		e = strstr(p, "\r\n");
		if (strncmp(p, name, k) == 0 && p[k] == ':') {
			*found = 1;
			p += k + 1;
			if (*p == ' ')
				p++;
			for (;;) {
				e = strstr(p, "\r\n");
				buf_add(&v, p, (size_t)(e - p));
				if (e[2] != ' ' && e[2] != '\t')
					break;
				p = e + 2;
			}
			break;
		}
		p = e + 2;
	}
	return buf_release(&v);
}

static void
test_list_unsubscribe(void **state)
{
	static const struct {
		const char	*https;
		const char	*mailto;
		const char	*lu;	/* expected value, NULL: absent */
		int		 post;
	} rows[] = {
		{ "https://p.example/u?t=1", "mailto:u@p.example",
		  "<https://p.example/u?t=1>, <mailto:u@p.example>", 1 },
		{ "https://p.example/u?t=1", NULL,
		  "<https://p.example/u?t=1>", 1 },
		{ NULL, "mailto:u@p.example?subject=unsubscribe",
		  "<mailto:u@p.example?subject=unsubscribe>", 0 },
		{ NULL, NULL, NULL, 0 },
		{ "HTTPS://P.EXAMPLE/u", NULL, "<HTTPS://P.EXAMPLE/u>", 1 },
	};
	static const char *const bad_https[] = {
		"http://p.example/u", "https://", "https://a b", "https://a,b",
		"https://a>b", "https://a<b", "https://a\"b", "ftp://x",
		"mailto:u@p.example", "https://caf\xc3\xa9",
	};
	static const char *const bad_mailto[] = {
		"https://p.example/u", "mailto:", "mailto:a b@c", "mailto:a,b@c",
		"mailto:<a@b>", "mailto", "mailto:a@b\r\nBcc: x@y",
	};
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 b;
	char			*v;
	size_t			 i;
	int			 found;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		good_msg(&m);
		m.list_unsubscribe_https = rows[i].https;
		m.list_unsubscribe_mailto = rows[i].mailto;
		buf_reset(&b);
		assert_int_equal(mime_message(&m, &b, &err), 0);
		v = msg_header(b.data, "List-Unsubscribe", &found);
		assert_int_equal(found, rows[i].lu != NULL);
		if (rows[i].lu != NULL)
			assert_string_equal(v, rows[i].lu);
		free(v);
		v = msg_header(b.data, "List-Unsubscribe-Post", &found);
		assert_int_equal(found, rows[i].post);
		if (found)
			assert_string_equal(v, "List-Unsubscribe=One-Click");
		free(v);
	}
	for (i = 0; i < sizeof(bad_https) / sizeof(bad_https[0]); i++) {
		good_msg(&m);
		m.list_unsubscribe_https = bad_https[i];
		assert_int_equal(mime_message(&m, &b, &err), -1);
		assert_string_equal(err.field, "List-Unsubscribe");
	}
	for (i = 0; i < sizeof(bad_mailto) / sizeof(bad_mailto[0]); i++) {
		good_msg(&m);
		m.list_unsubscribe_mailto = bad_mailto[i];
		assert_int_equal(mime_message(&m, &b, &err), -1);
		assert_string_equal(err.field, "List-Unsubscribe");
	}
	buf_free(&b);
}

static void
test_content_language(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;	/* NULL: refused; "": absent */
	} rows[] = {
		{ "am, en", "am, en" }, { "am,en", "am, en" },
		{ "en-US , fr", "en-US, fr" }, { "zh-Hant-TW", "zh-Hant-TW" },
		{ "es-419", "es-419" }, { "ti am en", "ti, am, en" },
		{ "", "" }, { ",,", NULL }, { "en_US", NULL }, { "-en", NULL },
		{ "en-", NULL }, { "en--US", NULL }, { "toolongtag", NULL },
		{ "1en", NULL }, { "en;q=1", NULL },
	};
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 b;
	char			*v;
	size_t			 i;
	int			 found;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		good_msg(&m);
		m.content_language = rows[i].in;
		buf_reset(&b);
		if (mime_message(&m, &b, &err) != (rows[i].out ? 0 : -1))
			fail_msg("content-language \"%s\"", rows[i].in);
		if (rows[i].out == NULL) {
			assert_string_equal(err.field, "Content-Language");
			continue;
		}
		v = msg_header(b.data, "Content-Language", &found);
		assert_int_equal(found, *rows[i].out != '\0');
		assert_string_equal(v, rows[i].out);
		free(v);
	}
	buf_free(&b);
}

static void
test_auto_submitted(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} rows[] = {
		{ NULL, "auto-generated" }, { "auto-replied", "auto-replied" },
		{ "no", "no" }, { "", NULL }, { "auto generated", NULL },
		{ "auto-generated; x=y", NULL },
	};
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 b;
	char			*v;
	size_t			 i;
	int			 found;

	(void)state;
	buf_init(&b, 0);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		good_msg(&m);
		m.auto_submitted = rows[i].in;
		buf_reset(&b);
		assert_int_equal(mime_message(&m, &b, &err),
		    rows[i].out ? 0 : -1);
		if (rows[i].out == NULL)
			continue;
		v = msg_header(b.data, "Auto-Submitted", &found);
		assert_string_equal(v, rows[i].out);
		free(v);
	}
	buf_free(&b);
}

/* Header order and exact shape of a simple message. */
static void
test_message_shape(void **state)
{
	static const char	 expect[] =
	    "From: Embassy of the Philippines <noreply@embassy.example>\r\n"
	    "To: Maria Santos <maria.santos@example.org>\r\n"
	    "Subject: Consular day on 12 May\r\n"
	    "Date: Fri, 27 Nov 2026 07:01:34 +0000\r\n"
	    "Message-ID: <k3x9.q2@outreach.example>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Language: en\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "List-Unsubscribe: <https://post.example/u?t=abc>, "
	    "<mailto:unsub@post.example>\r\n"
	    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n"
	    "\r\n"
	    "Dear Maria,\r\n"
	    "\r\n"
	    "See you there.\r\n";
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 b, b2;
	const char		*bnd;
	char			*ct;
	int			 found;

	(void)state;
	buf_init(&b, 0);
	buf_init(&b2, 0);
	good_msg(&m);
	m.html = NULL;
	assert_int_equal(mime_message(&m, &b, &err), 0);
	assert_string_equal(b.data, expect);

	/* Multipart: text then HTML, the boundary in no part, stable. */
	good_msg(&m);
	m.html = "<p>a=_b</p>\n";
	buf_reset(&b);
	assert_int_equal(mime_message(&m, &b, &err), 0);
	assert_int_equal(mime_message(&m, &b2, &err), 0);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	ct = msg_header(b.data, "Content-Type", &found);
	assert_true(strncmp(ct, "multipart/alternative; boundary=\"=_", 35)
	    == 0);
	bnd = ct + 33;
	{
		char	 delim[64];
		char	*p, *q, *r;

		snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)strlen(bnd) - 1,
		    bnd);
		p = strstr(b.data, delim);
		assert_non_null(p);
		q = strstr(p + 1, delim);
		assert_non_null(q);
		r = strstr(q + 1, delim);
		assert_non_null(r);
		assert_true(strncmp(r + strlen(delim), "--\r\n", 4) == 0);
		assert_null(strstr(r + 1, delim));
		assert_non_null(strstr(p, "Content-Type: text/plain"));
		assert_true(strstr(p, "Content-Type: text/plain") < q);
		assert_true(strstr(q, "Content-Type: text/html") < r);
		/* The HTML holding "=_" went quoted-printable. */
		assert_true(strstr(q, "Content-Transfer-Encoding: "
		    "quoted-printable") < r);
		assert_non_null(strstr(q, "a=3D_b"));
	}
	free(ct);
	/* Reuse after reset gives the same bytes. */
	buf_reset(&b2);
	assert_int_equal(mime_message(&m, &b2, &err), 0);
	assert_memory_equal(b.data, b2.data, b.len);
	buf_free(&b);
	buf_free(&b2);
}

/* Every output size limit: -1 and no partial message, never a crash. */
static void
test_overflow(void **state)
{
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 full, b;
	size_t			 max;
	char			*text;

	(void)state;
	good_msg(&m);
	text = rep("ሰላም ab\n", 40);
	m.text = text;
	buf_init(&full, 0);
	assert_int_equal(mime_message(&m, &full, &err), 0);
	for (max = 1; max <= full.len; max++) {
		buf_init(&b, max);
		if (mime_message(&m, &b, &err) != (max == full.len ? 0 : -1))
			fail_msg("max %zu", max);
		if (max < full.len) {
			assert_int_equal(b.len, 0);
			assert_true(err.message[0] != '\0');
		} else
			assert_memory_equal(b.data, full.data, full.len);
		buf_free(&b);
	}
	buf_free(&full);
	free(text);
}

/* Required fields. */
static void
test_required(void **state)
{
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 b;

	(void)state;
	buf_init(&b, 0);
	good_msg(&m);
	m.text = NULL;
	assert_int_equal(mime_message(&m, &b, &err), -1);
	assert_string_equal(err.field, "text body");
	good_msg(&m);
	m.subject = NULL;
	assert_int_equal(mime_message(&m, &b, &err), -1);
	good_msg(&m);
	m.from.addr = NULL;
	assert_int_equal(mime_message(&m, &b, &err), -1);
	assert_string_equal(err.field, "From");
	good_msg(&m);
	m.to.addr = "";
	assert_int_equal(mime_message(&m, &b, &err), -1);
	assert_string_equal(err.field, "To");
	good_msg(&m);
	m.date = (time_t)253402300800LL;
	assert_int_equal(mime_message(&m, &b, &err), -1);
	assert_string_equal(err.field, "Date");
	assert_int_equal(b.len, 0);
	/* NULL err is fine. */
	good_msg(&m);
	m.text = NULL;
	assert_int_equal(mime_message(&m, &b, NULL), -1);
	buf_free(&b);
}

/* --- the cases for the independent parser -------------------------------- */

struct ecase {
	const char	*name;
	char		*subject, *from_name, *to_name, *text, *html;
	const char	*lang, *lang_expect, *https, *mailto, *auto_sub;
};

#define MAXCASES	48

static size_t
build_cases(struct ecase *c)
{
	static const char	*ar = "يوم قنصلي في فرانكفورت يوم الثاني عشر من "
				    "مايو. يرجى إحضار جواز السفر وصورتين.";
	static const char	*ti = "መዓልቲ ቆንስላ ኣብ ፍራንክፎርት ብ12 ግንቦት። "
				    "በጃኹም ፓስፖርትኹም ሒዝኩም ምጹ።";
	static const char	*zh = "领事日：五月十二日在法兰克福。请携带护照和两张照片。";
	char			*t1, *t2, *t3, *t4;
	size_t			 n = 0;

#define ADD(nm, subj, fn, tn, tx, ht) do {				\
	memset(&c[n], 0, sizeof(c[n]));					\
	c[n].name = (nm);						\
	c[n].subject = (subj);						\
	c[n].from_name = (fn);						\
	c[n].to_name = (tn);						\
	c[n].text = (tx);						\
	c[n].html = (ht);						\
	c[n].lang = "en";						\
	c[n].lang_expect = "en";					\
	c[n].https = "https://post.example/unsubscribe?t=AbC-123_x";	\
	c[n].mailto = "mailto:unsubscribe@post.example?subject=stop";	\
	n++;								\
} while (0)

	ADD("ascii", xstrdup("Consular day on 12 May"),
	    xstrdup("Embassy of the Philippines"), xstrdup("Maria Santos"),
	    xstrdup("Dear Maria,\n\nThe consular day is on 12 May.\n"),
	    xstrdup("<p>Dear Maria,</p>\n<p>The consular day is on 12 May."
	    "</p>\n"));
	ADD("ascii-text-only", xstrdup("Consular day"),
	    xstrdup("Embassy"), NULL, xstrdup("Plain text only.\n"), NULL);
	c[n - 1].https = NULL;
	ADD("arabic", xstrdup(ar), xstrdup("سفارة جمهورية مصر العربية"),
	    xstrdup("محمد عبد الله"), cat(ar, "\n\n", ar, "\n", NULL),
	    cat("<p dir=\"rtl\">", ar, "</p>\n", NULL));
	c[n - 1].lang = "ar";
	c[n - 1].lang_expect = "ar";
	ADD("tigrinya", xstrdup(ti), xstrdup("ኤምባሲ ሃገረ ኤርትራ"),
	    xstrdup("ሰላም ተስፋይ"), cat(ti, "\n", ti, "\n", NULL),
	    cat("<p>", ti, "</p>\n", NULL));
	c[n - 1].lang = "ti,am ,en";
	c[n - 1].lang_expect = "ti, am, en";
	ADD("chinese", xstrdup(zh), xstrdup("中华人民共和国驻法兰克福总领事馆"),
	    xstrdup("王小明"), cat(zh, "\n", zh, zh, "\n", NULL),
	    cat("<p>", zh, "</p>\n", NULL));
	c[n - 1].lang = "zh-Hans";
	c[n - 1].lang_expect = "zh-Hans";
	ADD("emoji", xstrdup("🚨 Alert 🌍🌊 tsunami warning 🚨"),
	    xstrdup("Crisis cell 🚨"), xstrdup("Ana 😀"),
	    xstrdup("🚨🚨🚨\nMove to higher ground now. 🌊🌊\n"),
	    xstrdup("<p>🚨 Move to higher ground now.</p>\n"));
	ADD("rtl-ltr", xstrdup("Meeting اجتماع on 5 June في برلين (Berlin)"),
	    xstrdup("Embassy سفارة"), xstrdup("Ahmed أحمد"),
	    xstrdup("Meeting اجتماع on 5 June في برلين.\nالعنوان: "
	    "Unter den Linden 1\n"), NULL);
	t1 = rep("Town hall about out-of-country voting, ", 14);
	ADD("long-subject-spaces", t1, xstrdup("Embassy"), xstrdup("Joe"),
	    xstrdup("x\n"), NULL);
	ADD("long-subject-no-spaces", rep("abcdefghij", 52), NULL, NULL,
	    xstrdup("x\n"), NULL);
	ADD("long-subject-amharic-no-spaces", rep("ሰላምለዓለም", 60), NULL,
	    NULL, xstrdup("x\n"), NULL);
	ADD("long-subject-arabic", rep("مرحبا بالعالم ", 40), NULL, NULL,
	    xstrdup("x\n"), NULL);
	t1 = rep("x", 300);
	ADD("long-word", cat("Notice ", t1, " end", NULL), NULL,
	    cat("N", t1, NULL), cat("word ", t1, "\n", NULL), NULL);
	free(t1);
	ADD("subject-spaces", xstrdup("  leading, inner   runs,  trailing  "),
	    xstrdup(" spaced  name "), xstrdup("   "), xstrdup("x\n"), NULL);
	ADD("subject-empty", xstrdup(""), NULL, NULL, xstrdup(""), NULL);
	ADD("lookalike-encoded-words", xstrdup("=?utf-8?b?Zm9v?= and =?x?="),
	    xstrdup("=?utf-8?q?fake?="), xstrdup("a=?b"), xstrdup("x\n"),
	    NULL);
	ADD("specials-in-names", xstrdup("Specials \"()<>,;:@[]\\."),
	    xstrdup("Santos, Maria (Consulate)"),
	    xstrdup("a \"quoted\" \\ name"), xstrdup("x\n"), NULL);
	t1 = rep("Very Long Display Name ", 8);
	t2 = rep("N", 120);
	ADD("long-names", xstrdup("Names"), t1, t2, xstrdup("x\n"), NULL);
	t1 = rep("a", 76);
	t2 = rep("b", 77);
	t3 = rep("c", 998);
	t4 = rep("d", 1200);
	ADD("body-lines", xstrdup("Body line shapes"), NULL, NULL,
	    cat(".starts with a dot\n..two dots\nFrom the embassy\n"
	    "From\nFromage\n", t1, "\n", t2, "\n", t3, "\n", t4, "\n",
	    "trailing spaces   \ntrailing tab\t\n\n\nafter empty lines\n"
	    "ends without newline", NULL),
	    cat("<p>\n.dot\nFrom x\n", t4, "\n</p>", NULL));
	ADD("body-lines-7bit", xstrdup("Body 7bit"), NULL, NULL,
	    cat(".dot\nFrom x\n", t1, "\n", t2, "\n", t3, "\n"
	    "trailing   \n\n", NULL), NULL);
	ADD("body-998-utf8", xstrdup("UTF-8 long line"), NULL, NULL,
	    cat("é", t3, "\n.é\nFrom é\n  \n", NULL), NULL);
	free(t1);
	free(t2);
	free(t3);
	free(t4);
	ADD("body-line-ends", xstrdup("Line ends"), NULL, NULL,
	    xstrdup("crlf\r\nlf\ncr\rmixed\r\r\n\nend"),
	    xstrdup("<p>\r\nx\r</p>"));
	ADD("body-boundary-lookalike", xstrdup("Boundary"), NULL, NULL,
	    xstrdup("--=_or_0000000000000000\n=_\n"),
	    xstrdup("<p>--=_or_</p>\n"));
	ADD("mailto-only", xstrdup("Mailto"), NULL, NULL, xstrdup("x\n"),
	    NULL);
	c[n - 1].https = NULL;
	ADD("https-only", xstrdup("Https"), NULL, NULL, xstrdup("x\n"), NULL);
	c[n - 1].mailto = NULL;
	ADD("no-unsubscribe", xstrdup("None"), NULL, NULL, xstrdup("x\n"),
	    NULL);
	c[n - 1].https = NULL;
	c[n - 1].mailto = NULL;
	c[n - 1].lang = NULL;
	c[n - 1].lang_expect = NULL;
	c[n - 1].auto_sub = "auto-replied";
	ADD("latin-mostly-ascii", xstrdup("Journée consulaire à Francfort"),
	    xstrdup("Consulat général de France"), xstrdup("Zoë Müller"),
	    xstrdup("Journée consulaire à Francfort le 12 mai.\nVenez avec "
	    "votre passeport.\n"), xstrdup("<p>Journée consulaire</p>\n"));
	c[n - 1].lang = "fr";
	c[n - 1].lang_expect = "fr";
#undef ADD
	assert_true(n <= MAXCASES);
	return n;
}

static void
free_cases(struct ecase *c, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(c[i].subject);
		free(c[i].from_name);
		free(c[i].to_name);
		free(c[i].text);
		free(c[i].html);
	}
}

static json_t *
jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Write DIR/NAME.eml and DIR/NAME.json for every case; checks the
 * writer's own invariants on the way.  0 or -1. */
static int
emit_cases(const char *dir)
{
	struct ecase		 c[MAXCASES];
	struct mime_msg		 m;
	struct mime_error	 err;
	struct buf		 b;
	json_t			*j;
	char			 path[PATH_MAX];
	FILE			*fp;
	size_t			 i, n;
	int			 rc = -1;

	n = build_cases(c);
	buf_init(&b, 1024 * 1024);
	for (i = 0; i < n; i++) {
		memset(&m, 0, sizeof(m));
		m.from.name = c[i].from_name;
		m.from.addr = "noreply@post.example";
		m.to.name = c[i].to_name;
		m.to.addr = "contact-42@example.org";
		m.subject = c[i].subject;
		m.date = 1795762894 + (time_t)i;
		m.message_id = "<9f86d081884c7d65.a1@outreach.example>";
		m.content_language = c[i].lang;
		m.list_unsubscribe_https = c[i].https;
		m.list_unsubscribe_mailto = c[i].mailto;
		m.auto_submitted = c[i].auto_sub;
		m.text = c[i].text;
		m.html = c[i].html;
		buf_reset(&b);
		if (mime_message(&m, &b, &err) == -1) {
			fprintf(stderr, "case %s: %s\n", c[i].name,
			    err.message);
			goto out;
		}
		if (!crlf_only(b.data, b.len) ||
		    max_line(b.data, b.len) > MIME_LINE_MAX) {
			fprintf(stderr, "case %s: bad line ends or length\n",
			    c[i].name);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s.eml", dir, c[i].name);
		if ((fp = fopen(path, "wb")) == NULL ||
		    fwrite(b.data, 1, b.len, fp) != b.len || fclose(fp) != 0) {
			fprintf(stderr, "%s: %s\n", path, strerror(errno));
			goto out;
		}
		j = json_pack("{s:s, s:o, s:o, s:s, s:o, s:s, s:o, s:s, s:I, "
		    "s:o, s:o, s:o, s:o, s:s}",
		    "name", c[i].name,
		    "subject", jstr(c[i].subject),
		    "from_name", jstr(c[i].from_name),
		    "from_addr", m.from.addr,
		    "to_name", jstr(c[i].to_name),
		    "to_addr", m.to.addr,
		    "text", jstr(c[i].text),
		    "message_id", m.message_id,
		    "date", (json_int_t)m.date,
		    "content_language", jstr(c[i].lang_expect),
		    "https", jstr(c[i].https),
		    "mailto", jstr(c[i].mailto),
		    "html", jstr(c[i].html),
		    "auto_submitted", c[i].auto_sub ? c[i].auto_sub :
		    "auto-generated");
		snprintf(path, sizeof(path), "%s/%s.json", dir, c[i].name);
		if (j == NULL || json_dump_file(j, path, JSON_INDENT(1)) != 0) {
			fprintf(stderr, "%s: cannot write\n", path);
			json_decref(j);
			goto out;
		}
		json_decref(j);
	}
	rc = 0;
out:
	buf_free(&b);
	free_cases(c, n);
	return rc;
}

/* tests/unit/mime_check.py: beside the build tree of this binary, or
 * under the current directory. */
static int
find_checker(char *out, size_t len)
{
	char	 exe[PATH_MAX];
	char	*s;
	ssize_t	 k;
	int	 up;

	if ((k = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[k] = '\0';
		/* BUILD/tests/test_mime: strip three components. */
		for (up = 0; up < 3 && (s = strrchr(exe, '/')) != NULL; up++)
			*s = '\0';
		if (snprintf(out, len, "%s/tests/unit/mime_check.py", exe) <
		    (int)len && access(out, R_OK) == 0)
			return 0;
	}
	snprintf(out, len, "tests/unit/mime_check.py");
	return access(out, R_OK) == 0 ? 0 : -1;
}

static void
test_python_email(void **state)
{
	char		 dir[] = "/tmp/test_mime.XXXXXX", script[PATH_MAX];
	pid_t		 pid;
	int		 status;

	(void)state;
	if (access(PYTHON, X_OK) != 0) {
		print_message("skipping: %s is not installed\n", PYTHON);
		skip();
	}
	if (find_checker(script, sizeof(script)) == -1) {
		print_message("skipping: tests/unit/mime_check.py not found "
		    "(run from the source tree)\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	assert_int_equal(emit_cases(dir), 0);
	fflush(NULL);
	if ((pid = fork()) == 0) {
		execl(PYTHON, PYTHON, script, dir, (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s failed on the messages in %s", script, dir);
	/* Passed: remove the scratch directory. */
	{
		struct ecase	 c[MAXCASES];
		char		 path[PATH_MAX];
		size_t		 i, n = build_cases(c);

		for (i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/%s.eml", dir,
			    c[i].name);
			unlink(path);
			snprintf(path, sizeof(path), "%s/%s.json", dir,
			    c[i].name);
			unlink(path);
		}
		free_cases(c, n);
	}
	assert_int_equal(rmdir(dir), 0);
}

int
main(int argc, char **argv)
{
	static const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_refuse_controls),
		cmocka_unit_test(test_refuse_nul),
		cmocka_unit_test(test_encoded_word_splits),
		cmocka_unit_test(test_subject_rows),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_structured),
		cmocka_unit_test(test_address_rows),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_qp_vectors),
		cmocka_unit_test(test_qp_round_trip),
		cmocka_unit_test(test_qp_reference),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_cte_choice),
		cmocka_unit_test(test_body_encode),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_message_ids),
		cmocka_unit_test(test_list_unsubscribe),
		cmocka_unit_test(test_content_language),
		cmocka_unit_test(test_auto_submitted),
		cmocka_unit_test(test_message_shape),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_python_email),
	};

	argv0 = argv[0];
	if (argc == 3 && strcmp(argv[1], "--emit") == 0) {
		if (mkdir(argv[2], 0755) == -1 && errno != EEXIST) {
			fprintf(stderr, "%s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		return emit_cases(argv[2]) == 0 ? 0 : 1;
	}
	if (argc != 1) {
		fprintf(stderr, "usage: %s [--emit DIR]\n", argv0);
		return 2;
	}
	return cmocka_run_group_tests_name("mime", tests, NULL, NULL) != 0;
}
