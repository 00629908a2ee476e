/* mime.c - the e-mail writer (see mime.h): header validation, RFC 2047
 * encoding and folding, body transfer encodings, the message.  Everything
 * is appended to the caller's struct buf through small stack buffers; no
 * allocation of its own.  No error text ever quotes a value: values hold
 * addresses and names (DESIGN.md 1). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "buf.h"
#include "mime.h"
#include "utf8.h"

#define EW_OVERHEAD	12	/* "=?UTF-8?B?" and "?=" */
#define EW_MIN_ROOM	24	/* fold rather than start a word with less */
#define QP_LINE		76
#define B64_IN_LINE	57	/* octets per 76-character base64 line */
#define URL_MAX		900
#define MSGID_MAX	250
#define ADDR_MAX	254
#define LOCAL_MAX	64
#define LANG_TAG_MAX	63
#define PLAIN_RUN_MAX	8	/* longer runs of spaces go into encoded-words */
/* Eight octets in a uint64_t: each octet 1, each octet's high bit. */
#define OCTETS_ONE	0x0101010101010101ULL
#define OCTETS_HIGH	0x8080808080808080ULL

static const char mime_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char mime_hex[] = "0123456789ABCDEF";
/* Every pair of base64 characters, in order: two characters per 12
 * bits, so that a 3-octet group costs two look-ups. */
#define B64_PAIRS(h) \
	h "A" h "B" h "C" h "D" h "E" h "F" h "G" h "H" h "I" h "J" \
	h "K" h "L" h "M" h "N" h "O" h "P" h "Q" h "R" h "S" h "T" \
	h "U" h "V" h "W" h "X" h "Y" h "Z" h "a" h "b" h "c" h "d" \
	h "e" h "f" h "g" h "h" h "i" h "j" h "k" h "l" h "m" h "n" \
	h "o" h "p" h "q" h "r" h "s" h "t" h "u" h "v" h "w" h "x" \
	h "y" h "z" h "0" h "1" h "2" h "3" h "4" h "5" h "6" h "7" \
	h "8" h "9" h "+" h "/"
static const char mime_b64_pairs[] =
	B64_PAIRS("A") B64_PAIRS("B") B64_PAIRS("C") B64_PAIRS("D")
	B64_PAIRS("E") B64_PAIRS("F") B64_PAIRS("G") B64_PAIRS("H")
	B64_PAIRS("I") B64_PAIRS("J") B64_PAIRS("K") B64_PAIRS("L")
	B64_PAIRS("M") B64_PAIRS("N") B64_PAIRS("O") B64_PAIRS("P")
	B64_PAIRS("Q") B64_PAIRS("R") B64_PAIRS("S") B64_PAIRS("T")
	B64_PAIRS("U") B64_PAIRS("V") B64_PAIRS("W") B64_PAIRS("X")
	B64_PAIRS("Y") B64_PAIRS("Z") B64_PAIRS("a") B64_PAIRS("b")
	B64_PAIRS("c") B64_PAIRS("d") B64_PAIRS("e") B64_PAIRS("f")
	B64_PAIRS("g") B64_PAIRS("h") B64_PAIRS("i") B64_PAIRS("j")
	B64_PAIRS("k") B64_PAIRS("l") B64_PAIRS("m") B64_PAIRS("n")
	B64_PAIRS("o") B64_PAIRS("p") B64_PAIRS("q") B64_PAIRS("r")
	B64_PAIRS("s") B64_PAIRS("t") B64_PAIRS("u") B64_PAIRS("v")
	B64_PAIRS("w") B64_PAIRS("x") B64_PAIRS("y") B64_PAIRS("z")
	B64_PAIRS("0") B64_PAIRS("1") B64_PAIRS("2") B64_PAIRS("3")
	B64_PAIRS("4") B64_PAIRS("5") B64_PAIRS("6") B64_PAIRS("7")
	B64_PAIRS("8") B64_PAIRS("9") B64_PAIRS("+") B64_PAIRS("/");
#undef B64_PAIRS

static int
mime_fail(struct mime_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
mime_fail(struct mime_error *err, const char *field, const char *fmt, ...)
{
	char	 what[160];
	va_list	 ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	(void)snprintf(err->field, sizeof(err->field), "%s", field);
	(void)snprintf(err->message, sizeof(err->message), "%s: %s", field,
	    what);
	return -1;
}

static int
mime_overflow(struct mime_error *err, const char *field, const struct buf *b)
{
	return mime_fail(err, field,
	    "the message would exceed its size limit of %zu octets", b->max);
}

/* Forget what a failed writer appended after len. */
static void
mime_cut(struct buf *b, size_t len)
{
	if (b->data != NULL && len <= b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

/* Append n octets to b: straight in when it has the room (keeping its
 * NUL), else through buf_add, which grows it or refuses past its maximum.
 * Headers are written in many small pieces. */
static inline int
mb_add(struct buf *b, const void *p, size_t n)
{
	if (b->data != NULL && n < b->cap - b->len && b->max != 0 &&
	    n <= b->max - b->len) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_add(b, p, n);
}

static inline int
mb_adds(struct buf *b, const char *s)
{
	return mb_add(b, s, strlen(s));
}

/* Length of the UTF-8 sequence led by c; only for validated text. */
static size_t
u8len(unsigned char c)
{
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* RFC 5322 atext. */
static const unsigned char atext[256] = {
	['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1,
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['/'] = 1, ['='] = 1, ['?'] = 1,
	['^'] = 1, ['_'] = 1, ['`'] = 1, ['{'] = 1, ['|'] = 1, ['}'] = 1,
	['~'] = 1,
};

static inline int
is_atext(unsigned char c)
{
	return atext[c];
}

/* Octets a Q encoded-word may carry as themselves in any context, phrase
 * included (RFC 2047 5(3)); the space becomes "_". */
static int
q_literal(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '!' || c == '*' || c == '+' ||
	    c == '-' || c == '/' || c == ' ';
}

/* 4 * ceil(n / 3) characters of base64 for n octets, at out. */
static size_t
b64_block(const unsigned char *in, size_t n, char *out)
{
	size_t		 i, o = 0;
	uint32_t	 v;

	for (i = 0; i + 3 <= n; i += 3, o += 4) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		memcpy(out + o, mime_b64_pairs + 2 * (v >> 12), 2);
		memcpy(out + o + 2, mime_b64_pairs + 2 * (v & 0xfff), 2);
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = mime_b64[v >> 18];
		out[o++] = mime_b64[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = mime_b64[v >> 18];
		out[o++] = mime_b64[(v >> 12) & 63];
		out[o++] = mime_b64[(v >> 6) & 63];
		out[o++] = '=';
	}
	return o;
}

/*
 * Headers.  A header is a sequence of tokens, each preceded by a separator
 * of one or more spaces; a fold (CRLF) goes only before a separator, never
 * right after "Name:", and only when the token would take the line past 78.
 */
struct hdr {
	struct buf		*b;
	const char		*name;
	struct mime_error	*err;
	size_t			 col;	/* octets on the current line */
	int			 ntok;	/* tokens written after "Name:" */
};

static int
name_ok(const char *name)
{
	size_t	i, n;

	if (name == NULL || (n = strlen(name)) == 0 || n > MIME_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (name[i] < 33 || name[i] > 126 || name[i] == ':')
			return 0;
	return 1;
}

static int
hdr_begin(struct hdr *h, struct buf *b, const char *name,
    struct mime_error *err)
{
	h->b = b;
	h->name = name;
	h->err = err;
	h->ntok = 0;
	if (!name_ok(name))
		return mime_fail(err, "header", "a field name must be 1-%d "
		    "printable ASCII characters without ':'", MIME_NAME_MAX);
	h->col = strlen(name) + 1;
	if (mb_add(b, name, h->col - 1) == -1 || mb_add(b, ":", 1) == -1)
		return mime_overflow(err, name, b);
	return 0;
}

static int
hdr_fold(struct hdr *h)
{
	if (mb_add(h->b, "\r\n", 2) == -1)
		return mime_overflow(h->err, h->name, h->b);
	h->col = 0;
	return 0;
}

/* Append sep (seplen >= 1 spaces) then pre, tok and suf (npre, toklen and
 * nsuf octets) as one token. */
static int
hdr_put(struct hdr *h, const char *sep, size_t seplen, const char *pre,
    size_t npre, const char *tok, size_t toklen, const char *suf, size_t nsuf)
{
	size_t	 w;

	w = seplen + npre + toklen + nsuf;
	if (h->ntok > 0 && h->col > 0 && h->col + w > MIME_FOLD_LEN &&
	    hdr_fold(h) == -1)
		return -1;
	if (h->col + w > MIME_LINE_MAX)
		return mime_fail(h->err, h->name, "a word is too long for a "
		    "%d-octet line", MIME_LINE_MAX);
	if (mb_add(h->b, sep, seplen) == -1 ||
	    (npre > 0 && mb_add(h->b, pre, npre) == -1) ||
	    mb_add(h->b, tok, toklen) == -1 ||
	    (nsuf > 0 && mb_add(h->b, suf, nsuf) == -1))
		return mime_overflow(h->err, h->name, h->b);
	h->col += w;
	h->ntok++;
	return 0;
}

/* The same with NUL-terminated pre and suf. */
static int
hdr_token3(struct hdr *h, const char *sep, size_t seplen, const char *pre,
    const char *tok, size_t toklen, const char *suf)
{
	return hdr_put(h, sep, seplen, pre, strlen(pre), tok, toklen, suf,
	    strlen(suf));
}

static int
hdr_token(struct hdr *h, const char *sep, size_t seplen, const char *tok,
    size_t toklen)
{
	return hdr_put(h, sep, seplen, NULL, 0, tok, toklen, NULL, 0);
}

/* A value whose tokens all fit the current line: " " and the value as
 * they are, which is what writing it token by token gives when nothing
 * folds.  1 when written, 0 when it does not fit, -1 on overflow. */
static int
hdr_whole(struct hdr *h, const char *v, size_t n)
{
	if (h->col + 1 + n > MIME_FOLD_LEN)
		return 0;
	if (mb_add(h->b, " ", 1) == -1 || mb_add(h->b, v, n) == -1)
		return mime_overflow(h->err, h->name, h->b);
	h->col += 1 + n;
	h->ntok++;
	return 1;
}

static int
hdr_end(struct hdr *h)
{
	if (mb_add(h->b, "\r\n", 2) == -1)
		return mime_overflow(h->err, h->name, h->b);
	return 0;
}

/* 0 when v is UTF-8 without any control character (C0 with TAB and NUL,
 * DEL, C1); else -1 and *err naming field and what, never the value. */
static int
value_check(const char *field, const char *what, const char *v, size_t n,
    struct mime_error *err)
{
	const unsigned char	*p = (const unsigned char *)v;
	size_t			 i = 0;
	uint32_t		 cp;
	int			 k;

	while (i < n) {
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			i++;
			continue;
		}
		if (p[i] < 0x80) {
			cp = p[i];
			k = 1;
		} else if ((k = utf8_decode(p + i, n - i, &cp)) < 0)
			return mime_fail(err, field, "%s is not valid UTF-8",
			    what);
		if (utf8_is_control(cp))
			return mime_fail(err, field, "%s holds control "
			    "character U+%04X, not allowed in a header", what,
			    (unsigned)cp);
		i += (size_t)k;
	}
	return 0;
}

/*
 * s[0..n) (validated UTF-8) as encoded-words separated by single spaces,
 * which decoders drop between adjacent encoded-words.  Each word takes whole
 * characters only, is at most 75 octets and fits the current line.
 */
static int
hdr_encoded(struct hdr *h, const unsigned char *s, size_t n)
{
	char		 word[MIME_EW_MAX + 1];
	size_t		 i, j, k, q, w, nesc, room, cost, ccost, need;
	int		 b64;

	/* B when mostly non-ASCII (more than half the octets would need
	 * escaping in Q), else the more readable Q. */
	for (nesc = 0, i = 0; i < n; i++)
		nesc += !q_literal(s[i]);
	b64 = 2 * nesc > n;
	i = 0;
	while (i < n) {
		room = h->col + 1 < MIME_FOLD_LEN ?
		    MIME_FOLD_LEN - h->col - 1 : 0;
		if (room < EW_MIN_ROOM && h->ntok > 0) {
			if (hdr_fold(h) == -1)
				return -1;
			room = MIME_FOLD_LEN - 1;
		}
		if (room > MIME_EW_MAX)
			room = MIME_EW_MAX;
		for (j = i, cost = 0; j < n; j += k, cost += ccost) {
			if ((k = u8len(s[j])) > n - j)
				k = n - j;
			if (b64) {
				ccost = 0;
				need = EW_OVERHEAD + 4 * ((j + k - i + 2) / 3);
			} else {
				for (ccost = 0, q = j; q < j + k; q++)
					ccost += q_literal(s[q]) ? 1 : 3;
				need = EW_OVERHEAD + cost + ccost;
			}
			if (need > room)
				break;
		}
		if (j == i)	/* cannot happen with names <= MIME_NAME_MAX */
			return mime_fail(h->err, h->name, "no room on the "
			    "line for an encoded-word");
		memcpy(word, b64 ? "=?UTF-8?B?" : "=?UTF-8?Q?", 10);
		w = 10;
		if (b64)
			w += b64_block(s + i, j - i, word + w);
		else
			for (q = i; q < j; q++) {
				if (s[q] == ' ')
					word[w++] = '_';
				else if (q_literal(s[q]))
					word[w++] = (char)s[q];
				else {
					word[w++] = '=';
					word[w++] = mime_hex[s[q] >> 4];
					word[w++] = mime_hex[s[q] & 15];
				}
			}
		word[w++] = '?';
		word[w++] = '=';
		if (hdr_token(h, " ", 1, word, w) == -1)
			return -1;
		i = j;
	}
	return 0;
}

/* 1 when an ASCII word may stand as itself: no non-ASCII, no "=?" that a
 * decoder could take for the start of an encoded-word. */
static int
word_plain(const unsigned char *w, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (w[i] >= 0x80)
			return 0;
		if (w[i] == '=' && i + 1 < n && w[i + 1] == '?')
			return 0;
	}
	return 1;
}

/* 1 when every word of v can stand as itself (word_plain) and no run of
 * spaces is longer than PLAIN_RUN_MAX. */
static int
text_plain(const unsigned char *v, size_t n)
{
	size_t	i, run = 0;

	for (i = 0; i < n; i++) {
		if (v[i] >= 0x80 || (v[i] == '=' && i + 1 < n &&
		    v[i + 1] == '?'))
			return 0;
		if (v[i] != ' ')
			run = 0;
		else if (++run > PLAIN_RUN_MAX)
			return 0;
	}
	return 1;
}

/*
 * Unstructured text (validated, spaces are the only whitespace).  Words
 * that cannot stand as themselves (see word_plain; too long for a line;
 * first with leading spaces, last with trailing ones, after a run of more
 * than PLAIN_RUN_MAX spaces) are merged with neighbouring such words into
 * one group, a contiguous substring that also takes all but one space of
 * the runs at its edges (or all of a leading/trailing run), and the group
 * becomes encoded-words.  The one space left between a group and a plain
 * word is kept by decoders, so decoding gives back v exactly.
 */
static int
hdr_text(struct hdr *h, const unsigned char *v, size_t n)
{
	const char	*sep;
	size_t		 lead, tend, p, ws, we, len, run, seplen;
	size_t		 gstart = 0, prev_we = 0, first_col = h->col;
	int		 enc, first = 1, in_group = 0, rc;

	/* Plain words that fit the line: nothing below would encode or
	 * fold them. */
	if (n > 0 && v[0] != ' ' && v[n - 1] != ' ' && text_plain(v, n) &&
	    (rc = hdr_whole(h, (const char *)v, n)) != 0)
		return rc == 1 ? 0 : -1;
	for (lead = 0; lead < n && v[lead] == ' '; lead++)
		;
	if (lead == n)
		return n == 0 ? 0 : hdr_encoded(h, v, n);
	for (tend = n; v[tend - 1] == ' '; tend--)
		;
	p = lead;
	run = lead;
	for (;;) {
		ws = p;
		for (we = ws; we < tend && v[we] != ' '; we++)
			;
		len = we - ws;
		enc = !word_plain(v + ws, len) ||
		    (first && (lead > 0 || first_col + 1 + len > MIME_FOLD_LEN)) ||
		    (!first && (run > PLAIN_RUN_MAX ||
		    run + len > MIME_FOLD_LEN)) ||
		    (we == tend && tend < n);
		if (enc) {
			if (!in_group) {
				gstart = first ? 0 : ws - (run - 1);
				in_group = 1;
			}
		} else {
			if (first) {
				sep = " ";
				seplen = 1;
			} else if (in_group) {
				if (hdr_encoded(h, v + gstart,
				    prev_we + run - 1 - gstart) == -1)
					return -1;
				in_group = 0;
				sep = " ";
				seplen = 1;
			} else {
				sep = (const char *)v + ws - run;
				seplen = run;
			}
			if (hdr_token(h, sep, seplen, (const char *)v + ws,
			    len) == -1)
				return -1;
		}
		first = 0;
		prev_we = we;
		if (we == tend)
			break;
		for (p = we; v[p] == ' '; p++)
			;
		run = p - we;
	}
	if (in_group)
		return hdr_encoded(h, v + gstart, n - gstart);
	return 0;
}

int
mime_header_unstructured(struct buf *out, const char *name,
    const char *value, size_t len, struct mime_error *err)
{
	struct hdr	 h;
	size_t		 start = out->len;

	if (hdr_begin(&h, out, name, err) == -1)
		goto fail;
	if (value == NULL && len > 0) {
		mime_fail(err, name, "the value is missing");
		goto fail;
	}
	if (value_check(name, "the value", value, len, err) == -1 ||
	    hdr_text(&h, (const unsigned char *)value, len) == -1 ||
	    hdr_end(&h) == -1)
		goto fail;
	return 0;
fail:
	mime_cut(out, start);
	return -1;
}

enum phrase_kind {
	PHRASE_ATOMS,
	PHRASE_QUOTED,
	PHRASE_ENCODED,
};

/* Octets of s[0..n) inside a quoted-string: '"' and '\' get a backslash. */
static size_t
quoted_len(const unsigned char *s, size_t n)
{
	size_t	i, k = n;

	for (i = 0; i < n; i++)
		if (s[i] == '"' || s[i] == '\\')
			k++;
	return k;
}

/*
 * How to write a display name: atoms when it is atext words separated by
 * single spaces; a quoted-string when ASCII otherwise (specials, irregular
 * spaces); encoded-words when non-ASCII, holding "=?" (a decoder may decode
 * it even inside quotes) or when a piece does not fit a line.
 */
static enum phrase_kind
phrase_kind(const unsigned char *s, size_t n, size_t first_col)
{
	size_t	i, p, we, run, k;
	int	atoms = 1;

	if (!word_plain(s, n))
		return PHRASE_ENCODED;
	if (s[0] == ' ' || s[n - 1] == ' ')
		atoms = 0;
	for (i = 0; i < n && atoms; i++)
		if (s[i] == ' ' ? s[i + 1] == ' ' : !is_atext(s[i]))
			atoms = 0;
	if (atoms) {
		for (p = 0; p < n; p = we + 1) {
			for (we = p; we < n && s[we] != ' '; we++)
				;
			if ((p == 0 ? first_col : 0) + 1 + we - p >
			    MIME_FOLD_LEN)
				return PHRASE_ENCODED;
		}
		return PHRASE_ATOMS;
	}
	/* Quoted: each run of spaces and the piece after it on one line. */
	for (p = 0, run = 1;;) {
		for (we = p; we < n && s[we] != ' '; we++)
			;
		k = quoted_len(s + p, we - p) + (p == 0) + (we == n);
		if ((p == 0 ? first_col : 0) + run + k > MIME_FOLD_LEN - 2)
			return PHRASE_ENCODED;
		if (we == n)
			break;
		for (p = we; p < n && s[p] == ' '; p++)
			;
		run = p - we;
	}
	return PHRASE_QUOTED;
}

static int
hdr_quoted(struct hdr *h, const unsigned char *s, size_t n)
{
	char		 tok[MIME_FOLD_LEN + 2];
	const char	*sep = " ";
	size_t		 i, p = 0, we, t, seplen = 1;

	for (;;) {
		for (we = p; we < n && s[we] != ' '; we++)
			;
		t = 0;
		if (p == 0)
			tok[t++] = '"';
		for (i = p; i < we; i++) {
			if (s[i] == '"' || s[i] == '\\')
				tok[t++] = '\\';
			tok[t++] = (char)s[i];
		}
		if (we == n)
			tok[t++] = '"';
		if (hdr_token(h, sep, seplen, tok, t) == -1)
			return -1;
		if (we == n)
			return 0;
		for (p = we; p < n && s[p] == ' '; p++)
			;
		sep = (const char *)s + we;
		seplen = p - we;
	}
}

static int
hdr_phrase(struct hdr *h, const unsigned char *s, size_t n)
{
	size_t	p, we;
	int	rc;

	switch (phrase_kind(s, n, h->col)) {
	case PHRASE_ATOMS:
		/* Words separated by single spaces. */
		if ((rc = hdr_whole(h, (const char *)s, n)) != 0)
			return rc == 1 ? 0 : -1;
		for (p = 0; p < n; p = we + 1) {
			for (we = p; we < n && s[we] != ' '; we++)
				;
			if (hdr_token(h, " ", 1, (const char *)s + p,
			    we - p) == -1)
				return -1;
		}
		return 0;
	case PHRASE_QUOTED:
		return hdr_quoted(h, s, n);
	default:
		return hdr_encoded(h, s, n);
	}
}

/* RFC 5322 dot-atom-text. */
static int
dot_atom_ok(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return 0;
		} else if (!is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* 0 when addr is dot-atom "@" dot-atom within the lengths; else -1 with
 * the reason (never the address). */
static int
addr_check(const char *field, const char *addr, struct mime_error *err)
{
	const char	*at;
	size_t		 i, n, nat = 0;

	if (addr == NULL || (n = strlen(addr)) == 0)
		return mime_fail(err, field, "the address is missing");
	for (i = 0; i < n; i++) {
		if ((unsigned char)addr[i] >= 0x80)
			return mime_fail(err, field, "the address is not ASCII "
			    "(internationalised addresses are not supported)");
		if (addr[i] < 0x20 || addr[i] == 0x7f)
			return mime_fail(err, field, "the address holds control "
			    "character U+%04X", (unsigned)addr[i]);
		if (addr[i] == ' ')
			return mime_fail(err, field, "the address holds a "
			    "space");
		if (addr[i] == '@')
			nat++;
	}
	if (nat != 1)
		return mime_fail(err, field, "the address must hold exactly "
		    "one '@'");
	at = strchr(addr, '@');
	if (n > ADDR_MAX || (size_t)(at - addr) > LOCAL_MAX)
		return mime_fail(err, field, "the address is too long (local "
		    "part <= %d, whole <= %d octets)", LOCAL_MAX, ADDR_MAX);
	if (!dot_atom_ok(addr, (size_t)(at - addr)) ||
	    !dot_atom_ok(at + 1, n - (size_t)(at - addr) - 1))
		return mime_fail(err, field, "the address is not of the form "
		    "local@domain with dot-atoms (no quoted local parts, "
		    "domain literals or specials)");
	return 0;
}

int
mime_header_address(struct buf *out, const char *name,
    const char *display_name, size_t display_len, const char *addr,
    struct mime_error *err)
{
	struct hdr	 h;
	size_t		 start = out->len;

	if (hdr_begin(&h, out, name, err) == -1)
		goto fail;
	if (addr_check(name, addr, err) == -1)
		goto fail;
	if (display_name == NULL)
		display_len = 0;
	if (display_len > 0) {
		if (value_check(name, "the display name", display_name,
		    display_len, err) == -1 ||
		    hdr_phrase(&h, (const unsigned char *)display_name,
		    display_len) == -1 ||
		    hdr_token3(&h, " ", 1, "<", addr, strlen(addr), ">") == -1)
			goto fail;
	} else if (hdr_token(&h, " ", 1, addr, strlen(addr)) == -1)
		goto fail;
	if (hdr_end(&h) == -1)
		goto fail;
	return 0;
fail:
	mime_cut(out, start);
	return -1;
}

/* Printable ASCII words separated by spaces, written as given. */
static int
hdr_words(struct hdr *h, const char *v, size_t n)
{
	const char	*sep = " ";
	size_t		 i, p, we, seplen = 1;
	int		 rc;

	if (n == 0)
		return mime_fail(h->err, h->name, "the value is empty");
	for (i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return mime_fail(h->err, h->name, "the value holds "
			    "U+%04X; only printable ASCII is allowed here",
			    (unsigned)(unsigned char)v[i]);
	if (v[0] == ' ' || v[n - 1] == ' ')
		return mime_fail(h->err, h->name, "the value starts or ends "
		    "with a space");
	if ((rc = hdr_whole(h, v, n)) != 0)
		return rc == 1 ? 0 : -1;
	for (p = 0;;) {
		for (we = p; we < n && v[we] != ' '; we++)
			;
		if (hdr_token(h, sep, seplen, v + p, we - p) == -1)
			return -1;
		if (we == n)
			return 0;
		for (p = we; v[p] == ' '; p++)
			;
		sep = v + we;
		seplen = p - we;
	}
}

int
mime_header_structured(struct buf *out, const char *name, const char *value,
    size_t len, struct mime_error *err)
{
	struct hdr	 h;
	size_t		 start = out->len;

	if (hdr_begin(&h, out, name, err) == -1)
		goto fail;
	if (value == NULL)
		len = 0;
	if (hdr_words(&h, value, len) == -1 || hdr_end(&h) == -1)
		goto fail;
	return 0;
fail:
	mime_cut(out, start);
	return -1;
}

/* v (0-99) as two decimal digits at out. */
static void
two_digits(char *out, int v)
{
	out[0] = (char)('0' + v / 10);
	out[1] = (char)('0' + v % 10);
}

int
mime_date(time_t t, char out[MIME_DATE_LEN])
{
	static const char	 wday[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char	 mon[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	struct tm		 tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 ||
	    tm.tm_year > 9999 - 1900 || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	/* "Www, DD Mmm YYYY hh:mm:ss +0000", without the locale. */
	memcpy(out, wday[tm.tm_wday], 3);
	memcpy(out + 3, ", ", 2);
	two_digits(out + 5, tm.tm_mday);
	out[7] = ' ';
	memcpy(out + 8, mon[tm.tm_mon], 3);
	out[11] = ' ';
	two_digits(out + 12, (tm.tm_year + 1900) / 100);
	two_digits(out + 14, (tm.tm_year + 1900) % 100);
	out[16] = ' ';
	two_digits(out + 17, tm.tm_hour);
	out[19] = ':';
	two_digits(out + 20, tm.tm_min);
	out[22] = ':';
	two_digits(out + 23, tm.tm_sec);
	memcpy(out + 25, " +0000", 7);
	return 0;
}

/*
 * Bodies.  Output goes through a stack buffer so that the per-octet work
 * costs no call into buf.
 */
struct stage {
	struct buf	*b;
	size_t		 n;
	int		 fail;
	char		 d[4096];
};

static void
st_flush(struct stage *st)
{
	if (st->n > 0 && mb_add(st->b, st->d, st->n) == -1)
		st->fail = 1;
	st->n = 0;
}

/* Make room for k more octets. */
static inline void
st_room(struct stage *st, size_t k)
{
	if (sizeof(st->d) - st->n < k)
		st_flush(st);
}

static void
st_init(struct stage *st, struct buf *b)
{
	st->b = b;
	st->n = 0;
	st->fail = 0;
}

static int
st_done(struct stage *st)
{
	st_flush(st);
	return st->fail ? -1 : 0;
}

/* Full 76-character lines (and a last shorter one), each with CRLF. */
static void
b64_lines(struct stage *st, const unsigned char *in, size_t n)
{
	size_t	k;

	while (n > 0) {
		k = n < B64_IN_LINE ? n : B64_IN_LINE;
		st_room(st, 80);
		st->n += b64_block(in, k, st->d + st->n);
		st->d[st->n++] = '\r';
		st->d[st->n++] = '\n';
		in += k;
		n -= k;
	}
}

int
mime_base64_encode(struct buf *out, const void *in, size_t len, int wrap)
{
	struct stage		 st;
	const unsigned char	*s = in;
	size_t			 k;

	st_init(&st, out);
	if (wrap)
		b64_lines(&st, s, len);
	else
		while (len > 0) {
			k = len < 768 ? len : 768;
			st_room(&st, 1024);
			st.n += b64_block(s, k, st.d + st.n);
			s += k;
			len -= k;
		}
	return st_done(&st);
}

/* "." or "From " at i, which QP encodes at the start of a line (mbox
 * writers and careless SMTP hops mangle both). */
static inline int
qp_linestart(const unsigned char *s, size_t i, size_t n)
{
	return s[i] == '.' ||
	    (s[i] == 'F' && n - i >= 5 && memcmp(s + i, "From ", 5) == 0);
}

/* Octets QP copies as they are anywhere but at the end of a line: printable
 * ASCII but '=', and SP and TAB (encoded only before a line end). */
static const unsigned char qp_safe[256] = {
	['\t'] = 1, [' ' ... '<'] = 1, ['>' ... '~'] = 1,
};

/* The high bit of each of the eight octets of w (first in memory lowest)
 * that is not printable ASCII (>= 0x80, < 0x20, 0x7f) or is '=', exact up
 * to the first such octet: borrows and carries start only at one.  TAB
 * counts as not printable here; the table decides. */
static inline uint64_t
qp_word_unsafe(uint64_t w)
{
	return (w | (w - 0x20 * OCTETS_ONE) | (w + OCTETS_ONE) |
	    ((w ^ ('=' * OCTETS_ONE)) - OCTETS_ONE)) & OCTETS_HIGH;
}

#ifdef __SSE2__
/* Bit i set when octet i of the 16 at p is not printable ASCII (< 0x20 or
 * >= 0x80, as signed < 0x20; 0x7f) or, when eq, is '='. */
static inline unsigned
octets16_flags(const unsigned char *p, int eq)
{
	__m128i	x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i	m;

	m = _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
	    _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
	if (eq)
		m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('=')));
	return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Copy the octets at p that QP writes as they are, at most lim of them,
 * to d; avail octets are readable at p.  Returns how many.  Writes up to
 * 16 octets past that many (d must have lim + 16 of room). */
static inline size_t
qp_copy_run(char *d, const unsigned char *p, size_t lim, size_t avail)
{
	uint64_t	w, m;
	size_t		k = 0;
#ifdef __SSE2__
	unsigned	m16;

	while (k < lim && avail - k >= 16) {
		memcpy(d + k, p + k, 16);
		m16 = octets16_flags(p + k, 1);
		if (lim - k < 16)
			m16 |= ~0u << (lim - k);
		if (m16 != 0)
			return k + (size_t)__builtin_ctz(m16);
		k += 16;
	}
#endif
	while (k < lim) {
		if (avail - k < 8) {
			while (k < lim && qp_safe[p[k]]) {
				d[k] = (char)p[k];
				k++;
			}
			return k;
		}
		memcpy(&w, p + k, 8);
		memcpy(d + k, &w, 8);
		m = qp_word_unsafe(w);
		if (lim - k < 8)
			m |= OCTETS_HIGH << (8 * (lim - k));
		if (m != 0)
			return k + (size_t)__builtin_ctzll(m) / 8;
		k += 8;
	}
	return k;
}

/* "=XX" of every octet, and a NUL so that one 4-byte copy writes it. */
#define QP_ENC16(h) \
	{ '=', h, '0' }, { '=', h, '1' }, { '=', h, '2' }, { '=', h, '3' }, \
	{ '=', h, '4' }, { '=', h, '5' }, { '=', h, '6' }, { '=', h, '7' }, \
	{ '=', h, '8' }, { '=', h, '9' }, { '=', h, 'A' }, { '=', h, 'B' }, \
	{ '=', h, 'C' }, { '=', h, 'D' }, { '=', h, 'E' }, { '=', h, 'F' }
static const char qp_enc[256][4] = {
	QP_ENC16('0'), QP_ENC16('1'), QP_ENC16('2'), QP_ENC16('3'),
	QP_ENC16('4'), QP_ENC16('5'), QP_ENC16('6'), QP_ENC16('7'),
	QP_ENC16('8'), QP_ENC16('9'), QP_ENC16('A'), QP_ENC16('B'),
	QP_ENC16('C'), QP_ENC16('D'), QP_ENC16('E'), QP_ENC16('F'),
};
#undef QP_ENC16

/* 1 when s[i] (i <= n) ends a line: CR, LF or the end. */
static inline int
qp_eol(const unsigned char *s, size_t i, size_t n)
{
	return i == n || s[i] == '\r' || s[i] == '\n';
}

/* Write s[i...] while each octet needs =XX (non-ASCII text) or is a TAB
 * that does not end its line, and fits before column 76 (one byte of
 * room past what it writes).  Returns where it stopped; *op and *colp
 * follow.  An encoded octet may end its line: it is written the same. */
static inline size_t
qp_enc_run(char **op, size_t *colp, const unsigned char *s, size_t i,
    size_t n)
{
	char		*o = *op;
	size_t		 col = *colp;
	unsigned char	 c;

	for (; i < n; i++) {
		c = s[i];
		if (c == '\t') {
			if (col + 1 > QP_LINE - 1 || qp_eol(s, i + 1, n))
				break;
			*o++ = '\t';
			col++;
		} else if (qp_safe[c] || c == '\r' || c == '\n' ||
		    col + 3 > QP_LINE - 1)
			break;
		else {
			memcpy(o, qp_enc[c], 4);
			o += 3;
			col += 3;
		}
	}
	*op = o;
	*colp = col;
	return i;
}

/*
 * Line by line.  Within a line, octets are copied (runs of them sixteen
 * at a time) or written =XX while they fit before column 76, which gives
 * what RFC 2045 6.7 asks for: a run that took the line's last octet gives
 * it back when it is SP or TAB (encoded there).  What needs more context
 * - the octet that would pass column 75 (a soft break first, unless it
 * ends the line and fits column 76), "." or "From " at the start of an
 * output line, SP/TAB before a line end - goes one at a time through the
 * rules.  Output goes through o, a cursor in the stage, synchronised with
 * st.n around each flush.
 */
int
mime_qp_encode(struct buf *out, const void *in, size_t len)
{
	struct stage		 st;
	const unsigned char	*s = in;
	char			*o, *oend;
	size_t			 i = 0, col, tl, k, lim;
	unsigned char		 c;
	int			 enc, eol;

	st_init(&st, out);
	o = st.d;
	oend = st.d + sizeof(st.d);
	while (i < len) {
		col = 0;
		while (!qp_eol(s, i, len)) {
			/* At most 75 columns (and 16 written past them),
			 * then one octet of up to 6; or a line end. */
			if (oend - o < QP_LINE + 24) {
				st.n = (size_t)(o - st.d);
				st_flush(&st);
				o = st.d;
			}
			if (col > 0 || !qp_linestart(s, i, len)) {
				for (;;) {
					lim = QP_LINE - 1 - col;
					if (lim > len - i)
						lim = len - i;
					k = qp_copy_run(o, s + i, lim, len - i);
					o += k;
					col += k;
					i += k;
					if (qp_eol(s, i, len)) {
						if (k > 0 && (s[i - 1] == ' ' ||
						    s[i - 1] == '\t')) {
							o--;
							col--;
							i--;
						}
						break;
					}
					if (k == lim)
						break;
					/* s[i] is TAB or needs =XX: most
					 * often a lone '=' (HTML
					 * attributes), written here. */
					if (s[i] == '=' && col + 3 <= QP_LINE -
					    1) {
						memcpy(o, "=3D", 3);
						o += 3;
						col += 3;
						i++;
						continue;
					}
					if ((k = qp_enc_run(&o, &col, s, i,
					    len)) == i)
						break;
					i = k;
				}
				if (qp_eol(s, i, len))
					break;
			}
			c = s[i];
			eol = qp_eol(s, i + 1, len);
			if (c == ' ' || c == '\t')
				enc = eol;
			else
				enc = c < 33 || c > 126 || c == '=';
			if (col == 0 && qp_linestart(s, i, len))
				enc = 1;
			tl = enc ? 3 : 1;
			/* Room for the "=" of a soft break unless the line
			 * ends. */
			if (col + tl > (eol ? QP_LINE : QP_LINE - 1)) {
				memcpy(o, "=\r\n", 3);
				o += 3;
				col = 0;
				if (qp_linestart(s, i, len)) {
					enc = 1;
					tl = 3;
				}
			}
			if (enc) {
				memcpy(o, qp_enc[c], 4);
				o += 3;
			} else
				*o++ = (char)c;
			col += tl;
			i++;
		}
		if (i == len)
			break;
		/* A line end: CR, LF or CRLF (room: see above). */
		if (oend - o < 2) {
			st.n = (size_t)(o - st.d);
			st_flush(&st);
			o = st.d;
		}
		o[0] = '\r';
		o[1] = '\n';
		o += 2;
		i += s[i] == '\r' && i + 1 < len && s[i + 1] == '\n' ? 2 : 1;
	}
	st.n = (size_t)(o - st.d);
	return st_done(&st);
}

/* The body with CR, LF and CRLF made CRLF and a final CRLF when missing. */
struct norm {
	const unsigned char	*s;
	size_t			 n, i;
	int			 has_cr;	/* any CR at all: the slow path */
	int			 lf;	/* an LF is owed after a CR */
	int			 end;	/* the final line end was decided */
};

static void
norm_init(struct norm *z, const char *s, size_t n)
{
	memset(z, 0, sizeof(*z));
	z->s = (const unsigned char *)s;
	z->n = n;
	z->has_cr = n > 0 && memchr(s, '\r', n) != NULL;
}

/* Fill out with up to cap (> 0) normalised octets; fewer only at the end.
 * Returns how many. */
static size_t
norm_fill(struct norm *z, unsigned char *out, size_t cap)
{
	const unsigned char	*pn, *pc;
	size_t			 o = 0, avail, k;

	while (o < cap) {
		if (z->lf) {
			out[o++] = '\n';
			z->lf = 0;
			continue;
		}
		if (z->i == z->n) {
			if (z->end)
				break;
			z->end = 1;
			if (z->n > 0 && z->s[z->n - 1] != '\n' &&
			    z->s[z->n - 1] != '\r') {
				out[o++] = '\r';
				z->lf = 1;
			}
			continue;
		}
		avail = z->n - z->i < cap - o ? z->n - z->i : cap - o;
		pn = memchr(z->s + z->i, '\n', avail);
		k = pn ? (size_t)(pn - (z->s + z->i)) : avail;
		if (z->has_cr && (pc = memchr(z->s + z->i, '\r', k)) != NULL)
			k = (size_t)(pc - (z->s + z->i));
		if (k > 0) {
			memcpy(out + o, z->s + z->i, k);
			o += k;
			z->i += k;
			continue;
		}
		/* A line end at i. */
		if (z->s[z->i] == '\r' && z->i + 1 < z->n &&
		    z->s[z->i + 1] == '\n')
			z->i += 2;
		else
			z->i++;
		out[o++] = '\r';
		z->lf = 1;
	}
	return o;
}

int
mime_body_encode(struct buf *out, const char *body, size_t len,
    enum mime_cte cte)
{
	unsigned char		 chunk[B64_IN_LINE * 32];
	struct stage		 st;
	struct norm		 z;
	const unsigned char	*s = (const unsigned char *)body;
	size_t			 k, start = out->len;

	st_init(&st, out);
	norm_init(&z, body, len);
	switch (cte) {
	case MIME_CTE_QP:
		if (mime_qp_encode(out, s, len) == -1 || (len > 0 &&
		    s[len - 1] != '\n' && s[len - 1] != '\r' &&
		    mb_add(out, "\r\n", 2) == -1))
			goto fail;
		return 0;
	case MIME_CTE_BASE64:
		/* Whole chunks of 57-octet lines, so lines stay aligned. */
		while ((k = norm_fill(&z, chunk, sizeof(chunk))) > 0)
			b64_lines(&st, chunk, k);
		break;
	default:
		while ((k = norm_fill(&z, (unsigned char *)st.d + st.n,
		    sizeof(st.d) - st.n)) > 0)
			if ((st.n += k) == sizeof(st.d))
				st_flush(&st);
		break;
	}
	if (st_done(&st) == 0)
		return 0;
fail:
	mime_cut(out, start);
	return -1;
}

/*
 * Length of the strict UTF-8 sequence at s (n > 0 octets, s[0] >= 0x80),
 * 0 when invalid, -1 when valid but a C1 control (U+0080-U+009F).  Inline
 * for the body scan, which must keep up with the benchmark.
 */
static inline int
u8_seq(const unsigned char *s, size_t n)
{
	unsigned char	c = s[0], lo = 0x80, hi = 0xbf;
	int		k, i;

	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		k = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		k = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;	/* nothing above U+10FFFF */
	} else
		return 0;
	if ((size_t)k > n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < k; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	if (c == 0xc2 && s[1] <= 0x9f)
		return -1;
	return k;
}

/* Find and describe the first fault of a body body_check refused. */
static int
body_diagnose(const char *field, const char *body, size_t len,
    struct mime_error *err)
{
	const unsigned char	*s = (const unsigned char *)body;
	size_t			 i = 0;
	int			 k;
	unsigned char		 c;

	while (i < len) {
		c = s[i];
		if (c >= 0x80) {
			if ((k = u8_seq(s + i, len - i)) == 0)
				return mime_fail(err, field, "not valid UTF-8 "
				    "at octet %zu", i);
			if (k < 0)
				return mime_fail(err, field, "C1 control "
				    "character at octet %zu (only TAB and line "
				    "ends are allowed)", i);
			i += (size_t)k;
		} else if ((c >= 0x20 && c < 0x7f) || c == '\t' ||
		    c == '\r' || c == '\n')
			i++;
		else
			return mime_fail(err, field, "control character U+%04X "
			    "at octet %zu (only TAB and line ends are allowed)",
			    (unsigned)c, i);
	}
	return 0;
}

/*
 * The body scan: printable ASCII in a tight loop, runs of other octets
 * through u8_seq, flags for line ends and refused ASCII controls.  On any
 * fault body_diagnose says which and where.
 */
#define R16(x)	x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
/* ASCII flags: 1 a refused control (C0 but TAB, CR, LF; DEL), 2 CR/LF. */
static const unsigned char body_flag[128] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 2, 1, 1, 2, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	R16(0), R16(0), R16(0), R16(0), R16(0),
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
};
#undef R16

/* 1 when "=_" occurs in s. */
static int
has_eq_us(const char *s, size_t n)
{
	const char	*p, *e = s + n;

	for (p = s; (p = memchr(p, '=', (size_t)(e - p))) != NULL; p++)
		if (p + 1 < e && p[1] == '_')
			return 1;
	return 0;
}

static int
body_check(const char *field, const char *body, size_t len,
    int no_eq_underscore, enum mime_cte *cte, struct mime_error *err)
{
	const unsigned char	*s = (const unsigned char *)body;
	size_t			 i, lstart = 0, maxline = 0, nonascii = 0;
	size_t			 neol = 0, ncrlf = 0, total, qp_est, b64_est;
	uint64_t		 w, m;
#ifdef __SSE2__
	unsigned		 m16;
#endif
	int			 k;
	unsigned char		 c;

	if (body == NULL && len > 0)
		return mime_fail(err, field, "the body is missing");
	i = 0;
	while (i < len) {
		/* Printable ASCII eight octets at a time, else straight to
		 * the first octet that is not (>= 0x80, < 0x20 or DEL): the
		 * flag of the first is exact, borrows and carries start only
		 * at flagged octets. */
#ifdef __SSE2__
		if (len - i >= 16) {
			if ((m16 = octets16_flags(s + i, 0)) == 0) {
				i += 16;
				continue;
			}
			i += (size_t)__builtin_ctz(m16);
		} else
#endif
		if (len - i >= 8) {
			memcpy(&w, s + i, 8);
			m = (w | (w - 0x20 * OCTETS_ONE) | (w + OCTETS_ONE)) &
			    OCTETS_HIGH;
			if (m == 0) {
				i += 8;
				continue;
			}
			i += (size_t)__builtin_ctzll(m) / 8;
		}
		c = s[i];
		if (c < 0x80) {
			if (body_flag[c] == 0) {
				i++;
				continue;
			}
			if (body_flag[c] == 1)
				break;	/* a refused control */
			/* A CR or LF: a line ends (an LF after CR ends
			 * none). */
			if (i - lstart > maxline)
				maxline = i - lstart;
			lstart = i + 1;
			neol++;
			if (c == '\n' && i > 0 && s[i - 1] == '\r')
				ncrlf++;
			i++;
		} else if (c >= 0xc3 && c <= 0xdf && i + 1 < len &&
		    (s[i + 1] & 0xc0) == 0x80) {
			/* Two octets (Arabic, Cyrillic, ...), not C2, which
			 * may lead a C1 control; and the rest of such a
			 * text's words and the spaces between them. */
			do {
				if (s[i] == ' ')
					i++;
				else {
					i += 2;
					nonascii += 2;
				}
			} while (i + 1 < len && (s[i] == ' ' ||
			    (s[i] >= 0xc3 && s[i] <= 0xdf &&
			    (s[i + 1] & 0xc0) == 0x80)));
		} else if ((k = u8_seq(s + i, len - i)) > 0) {
			i += (size_t)k;
			nonascii += (size_t)k;
		} else
			break;	/* not UTF-8, or a C1 control */
	}
	if (i < len) {
		if (body_diagnose(field, body, len, err) == 0)
			mime_fail(err, field, "not valid UTF-8 at the end");
		return -1;
	}
	if (len - lstart > maxline)
		maxline = len - lstart;
	/* Each CRLF pair stays, each other CR or LF becomes CRLF, and a
	 * last line without an end gets one. */
	total = len + (neol - 2 * ncrlf) + (lstart < len ? 2 : 0);
	if (nonascii == 0 && maxline <= MIME_LINE_MAX &&
	    !(no_eq_underscore && has_eq_us(body, len))) {
		*cte = MIME_CTE_7BIT;
		return 0;
	}
	/* Sizes: QP spends 3 per non-ASCII octet, base64 4 per 3 and its
	 * line ends; soft breaks are left out of both. */
	qp_est = total + 2 * nonascii;
	b64_est = 4 * ((total + 2) / 3) + 2 * (total / B64_IN_LINE + 1);
	*cte = b64_est < qp_est ? MIME_CTE_BASE64 : MIME_CTE_QP;
	return 0;
}

int
mime_body_cte(const char *body, size_t len, int no_eq_underscore,
    enum mime_cte *cte, struct mime_error *err)
{
	return body_check("body", body, len, no_eq_underscore, cte, err);
}

/* "<" dot-atom-text "@" dot-atom-text ">" (RFC 5322 3.6.4, without the
 * obsolete and no-fold-literal forms). */
static int
msgid_ok(const char *id)
{
	const char	*at;
	size_t		 n;

	if (id == NULL || (n = strlen(id)) < 5 || n > MSGID_MAX ||
	    id[0] != '<' || id[n - 1] != '>' ||
	    (at = memchr(id, '@', n)) == NULL)
		return 0;
	return dot_atom_ok(id + 1, (size_t)(at - id) - 1) &&
	    dot_atom_ok(at + 1, (size_t)(id + n - 1 - at - 1));
}

/* A URL for List-Unsubscribe: the scheme, then printable ASCII without
 * what would end or split the <...> list (RFC 2369 2: commas encoded). */
static int
url_ok(const char *u, const char *scheme)
{
	static const unsigned char	ok[256] = {
		['!'] = 1, ['#' ... '+'] = 1, ['-' ... ';'] = 1, ['='] = 1,
		['?' ... '~'] = 1,
	};
	const unsigned char		*p = (const unsigned char *)u;
	size_t				 n, k = strlen(scheme);

	for (n = 0; ok[p[n]]; n++)
		;
	if (p[n] != '\0' || n <= k || n > URL_MAX ||
	    strncasecmp(u, scheme, k))
		return 0;
	return 1;
}

/* Content-Language: BCP 47-shaped tags separated by commas and spaces,
 * written back as "a, b". */
static int
hdr_languages(struct buf *out, const char *v, struct mime_error *err)
{
	static const char	*field = "Content-Language";
	struct hdr		 h;
	size_t			 p = 0, e, i, sub, ntags = 0;

	if (hdr_begin(&h, out, field, err) == -1)
		return -1;
	for (;;) {
		while (v[p] == ' ' || v[p] == ',')
			p++;
		if (v[p] == '\0')
			break;
		for (e = p; v[e] != '\0' && v[e] != ' ' && v[e] != ','; e++)
			;
		if (e - p > LANG_TAG_MAX)
			return mime_fail(err, field, "a language tag is longer "
			    "than %d characters", LANG_TAG_MAX);
		for (i = p, sub = 0; i < e; i++) {
			if (v[i] == '-') {
				if (sub == 0)
					break;
				sub = 0;
			} else if (((v[i] | 0x20) >= 'a' && (v[i] | 0x20) <= 'z')
			    || (v[i] >= '0' && v[i] <= '9' && i > p)) {
				if (++sub > 8)
					break;
			} else
				break;
		}
		if (i < e || sub == 0)
			return mime_fail(err, field, "language tag %zu is not "
			    "of the form xx or xx-YY (letters, digits, '-')",
			    ntags + 1);
		if (hdr_token3(&h, " ", 1, "", v + p, e - p,
		    v[e + strspn(v + e, " ,")] != '\0' ? "," : "") == -1)
			return -1;
		ntags++;
		p = e;
	}
	if (ntags == 0)
		return mime_fail(err, field, "no language tag");
	return hdr_end(&h);
}

/* A boundary from the Message-ID and date (FNV-1a): stable across
 * attempts.  Its "=_" cannot occur in QP or base64 text, and a 7bit part
 * holding "=_" is sent as QP instead, so it never occurs in a part. */
static void
mime_boundary(const struct mime_msg *m, char *out, size_t len)
{
	uint64_t	 hash = 0xcbf29ce484222325ULL;
	uint64_t	 t = (uint64_t)m->date;
	const char	*p;
	int		 i;

	for (p = m->message_id; *p != '\0'; p++)
		hash = (hash ^ (unsigned char)*p) * 0x100000001b3ULL;
	for (i = 0; i < 8; i++, t >>= 8)
		hash = (hash ^ (t & 0xff)) * 0x100000001b3ULL;
	/* "=_or_" and the hash in 16 lower-case hex digits. */
	if (len < 22) {
		if (len > 0)
			out[0] = '\0';
		return;
	}
	memcpy(out, "=_or_", 5);
	for (i = 0; i < 16; i++)
		out[5 + i] = "0123456789abcdef"[(hash >> (60 - 4 * i)) & 15];
	out[21] = '\0';
}

static const char *
cte_name(enum mime_cte cte)
{
	return cte == MIME_CTE_QP ? "quoted-printable" :
	    cte == MIME_CTE_BASE64 ? "base64" : "7bit";
}

/* Content-Type and Content-Transfer-Encoding of a text part. */
static int
part_headers(struct buf *out, const char *type, enum mime_cte cte)
{
	if (mb_adds(out, "Content-Type: ") == -1 ||
	    mb_adds(out, type) == -1 ||
	    mb_adds(out, "; charset=utf-8\r\nContent-Transfer-Encoding: ") ==
	    -1 || mb_adds(out, cte_name(cte)) == -1)
		return -1;
	return mb_add(out, "\r\n", 2);
}

static int
hdr_structured(struct buf *out, const char *name, const char *v,
    struct mime_error *err)
{
	return mime_header_structured(out, name, v, strlen(v), err);
}

int
mime_message(const struct mime_msg *m, struct buf *out,
    struct mime_error *err)
{
	struct hdr	 h;
	char		 date[MIME_DATE_LEN], bnd[32];
	const char	*as = m->auto_submitted ? m->auto_submitted :
			    "auto-generated";
	const char	*https = m->list_unsubscribe_https;
	const char	*mailto = m->list_unsubscribe_mailto;
	size_t		 i, start = out->len, tlen, hlen = 0;
	enum mime_cte	 tcte, hcte = MIME_CTE_7BIT;
	int		 multi = m->html != NULL;

	if (m->subject == NULL) {
		mime_fail(err, "Subject", "the subject is missing");
		goto fail;
	}
	if (!msgid_ok(m->message_id)) {
		mime_fail(err, "Message-ID", "the id must be <left@right> "
		    "with dot-atoms on both sides, at most %d octets",
		    MSGID_MAX);
		goto fail;
	}
	if (mime_date(m->date, date) == -1) {
		mime_fail(err, "Date", "the time is outside the years "
		    "1900-9999");
		goto fail;
	}
	if (m->text == NULL) {
		mime_fail(err, "text body", "the text body is missing");
		goto fail;
	}
	if (*as == '\0' || strlen(as) > MIME_NAME_MAX ||
	    strspn(as, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-") != strlen(as)) {
		mime_fail(err, "Auto-Submitted", "the value must be a keyword "
		    "such as auto-generated (letters, digits, '-')");
		goto fail;
	}
	if (https != NULL && !url_ok(https, "https://")) {
		mime_fail(err, "List-Unsubscribe", "the https URL must start "
		    "with https:// and hold only printable ASCII without "
		    "spaces, '<', '>', '\"' or ',' (at most %d octets)",
		    URL_MAX);
		goto fail;
	}
	if (mailto != NULL && !url_ok(mailto, "mailto:")) {
		mime_fail(err, "List-Unsubscribe", "the mailto URL must start "
		    "with mailto: and hold only printable ASCII without "
		    "spaces, '<', '>', '\"' or ',' (at most %d octets)",
		    URL_MAX);
		goto fail;
	}
	tlen = strlen(m->text);
	if (body_check("text body", m->text, tlen, multi, &tcte, err) == -1)
		goto fail;
	if (multi && body_check("html body", m->html, hlen = strlen(m->html),
	    1, &hcte, err) == -1)
		goto fail;

	if (mime_header_address(out, "From", m->from.name,
	    m->from.name ? strlen(m->from.name) : 0, m->from.addr, err) == -1 ||
	    mime_header_address(out, "To", m->to.name,
	    m->to.name ? strlen(m->to.name) : 0, m->to.addr, err) == -1 ||
	    mime_header_unstructured(out, "Subject", m->subject,
	    strlen(m->subject), err) == -1 ||
	    hdr_structured(out, "Date", date, err) == -1 ||
	    hdr_structured(out, "Message-ID", m->message_id, err) == -1 ||
	    hdr_structured(out, "MIME-Version", "1.0", err) == -1)
		goto fail;
	if (m->content_language != NULL && *m->content_language != '\0' &&
	    hdr_languages(out, m->content_language, err) == -1)
		goto fail;
	if (hdr_structured(out, "Auto-Submitted", as, err) == -1)
		goto fail;
	if (https != NULL || mailto != NULL) {
		if (hdr_begin(&h, out, "List-Unsubscribe", err) == -1)
			goto fail;
		if (https != NULL && hdr_token3(&h, " ", 1, "<", https,
		    strlen(https), mailto != NULL ? ">," : ">") == -1)
			goto fail;
		if (mailto != NULL && hdr_token3(&h, " ", 1, "<", mailto,
		    strlen(mailto), ">") == -1)
			goto fail;
		if (hdr_end(&h) == -1)
			goto fail;
	}
	/* RFC 8058 3.1: one-click only with an https URI to POST to. */
	if (https != NULL && hdr_structured(out, "List-Unsubscribe-Post",
	    "List-Unsubscribe=One-Click", err) == -1)
		goto fail;

	if (!multi) {
		if (part_headers(out, "text/plain", tcte) == -1 ||
		    mb_add(out, "\r\n", 2) == -1 ||
		    mime_body_encode(out, m->text, tlen, tcte) == -1)
			goto overflow;
		return 0;
	}
	mime_boundary(m, bnd, sizeof(bnd));
	if (mb_adds(out, "Content-Type: multipart/alternative; "
	    "boundary=\"") == -1 || mb_adds(out, bnd) == -1 ||
	    mb_adds(out, "\"\r\n\r\n") == -1)
		goto overflow;
	for (i = 0; i < 2; i++) {
		if (mb_add(out, "--", 2) == -1 || mb_adds(out, bnd) == -1 ||
		    mb_add(out, "\r\n", 2) == -1 ||
		    part_headers(out, i == 0 ? "text/plain" : "text/html",
		    i == 0 ? tcte : hcte) == -1 ||
		    mb_add(out, "\r\n", 2) == -1 ||
		    mime_body_encode(out, i == 0 ? m->text : m->html,
		    i == 0 ? tlen : hlen, i == 0 ? tcte : hcte) == -1 ||
		    mb_add(out, "\r\n", 2) == -1)
			goto overflow;
	}
	if (mb_add(out, "--", 2) == -1 || mb_adds(out, bnd) == -1 ||
	    mb_add(out, "--\r\n", 4) == -1)
		goto overflow;
	return 0;
overflow:
	mime_overflow(err, "message", out);
fail:
	mime_cut(out, start);
	return -1;
}
