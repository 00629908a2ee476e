/* test_utf8.c - strict UTF-8 and control characters (lib/utf8.c): one
 * table row per byte string {bytes, decode length, code point, valid};
 * control code points; utf8_text_ok with and without an allow list; and
 * every 1-3 byte string (4-byte ones sampled) against a reference decoder
 * written from RFC 3629's syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

struct row {
	const char	*name;
	const char	*s;
	size_t		 n;	/* 0: strlen(s) */
	int		 len;	/* utf8_decode at s: 1-4 or -1 */
	uint32_t	 cp;	/* when len > 0 */
	int		 valid;	/* utf8_valid of all n bytes */
};

static const struct row rows[] = {
	/* one code point, every length and its bounds */
	{ "ascii A", "A", 0, 1, 0x41, 1 },
	{ "nul", "\0", 1, 1, 0, 1 },
	{ "ascii DEL", "\x7f", 0, 1, 0x7f, 1 },
	{ "2 bytes lowest U+0080", "\xc2\x80", 0, 2, 0x80, 1 },
	{ "2 bytes NEL U+0085", "\xc2\x85", 0, 2, 0x85, 1 },
	{ "2 bytes e-acute", "\xc3\xa9", 0, 2, 0xe9, 1 },
	{ "2 bytes highest U+07FF", "\xdf\xbf", 0, 2, 0x7ff, 1 },
	{ "3 bytes lowest U+0800", "\xe0\xa0\x80", 0, 3, 0x800, 1 },
	{ "3 bytes euro", "\xe2\x82\xac", 0, 3, 0x20ac, 1 },
	{ "3 bytes before surrogates", "\xed\x9f\xbf", 0, 3, 0xd7ff, 1 },
	{ "3 bytes after surrogates", "\xee\x80\x80", 0, 3, 0xe000, 1 },
	{ "3 bytes BOM", "\xef\xbb\xbf", 0, 3, 0xfeff, 1 },
	{ "3 bytes U+FFFD", "\xef\xbf\xbd", 0, 3, 0xfffd, 1 },
	{ "3 bytes highest U+FFFF", "\xef\xbf\xbf", 0, 3, 0xffff, 1 },
	{ "4 bytes lowest U+10000", "\xf0\x90\x80\x80", 0, 4, 0x10000, 1 },
	{ "4 bytes emoji", "\xf0\x9f\x98\x80", 0, 4, 0x1f600, 1 },
	{ "4 bytes F3", "\xf3\xbf\xbf\xbf", 0, 4, 0xfffff, 1 },
	{ "4 bytes highest U+10FFFF", "\xf4\x8f\xbf\xbf", 0, 4, 0x10ffff,
	    1 },
	/* decode reads one code point of a longer string */
	{ "decode first of two", "\xc3\xa9" "A", 0, 2, 0xe9, 1 },
	{ "decode ascii then bad", "A\xff", 0, 1, 0x41, 0 },

	/* overlongs */
	{ "overlong C0 80 (NUL)", "\xc0\x80", 0, -1, 0, 0 },
	{ "overlong C0 AF (slash)", "\xc0\xaf", 0, -1, 0, 0 },
	{ "overlong C1 BF", "\xc1\xbf", 0, -1, 0, 0 },
	{ "overlong E0 80 80", "\xe0\x80\x80", 0, -1, 0, 0 },
	{ "overlong E0 80 AF", "\xe0\x80\xaf", 0, -1, 0, 0 },
	{ "overlong E0 9F BF (U+07FF)", "\xe0\x9f\xbf", 0, -1, 0, 0 },
	{ "overlong F0 80 80 80", "\xf0\x80\x80\x80", 0, -1, 0, 0 },
	{ "overlong F0 80 80 AF", "\xf0\x80\x80\xaf", 0, -1, 0, 0 },
	{ "overlong F0 8F BF BF (U+FFFF)", "\xf0\x8f\xbf\xbf", 0, -1, 0, 0 },
	{ "overlong 5 bytes F8", "\xf8\x80\x80\x80\xaf", 0, -1, 0, 0 },
	{ "overlong 6 bytes FC", "\xfc\x80\x80\x80\x80\xaf", 0, -1, 0, 0 },

	/* surrogates */
	{ "surrogate D800", "\xed\xa0\x80", 0, -1, 0, 0 },
	{ "surrogate DBFF", "\xed\xaf\xbf", 0, -1, 0, 0 },
	{ "surrogate DC00", "\xed\xb0\x80", 0, -1, 0, 0 },
	{ "surrogate DFFF", "\xed\xbf\xbf", 0, -1, 0, 0 },
	{ "surrogate pair (CESU-8)", "\xed\xa0\xbd\xed\xb8\x80", 0, -1, 0,
	    0 },

	/* beyond U+10FFFF and impossible lead bytes */
	{ "U+110000 F4 90 80 80", "\xf4\x90\x80\x80", 0, -1, 0, 0 },
	{ "F4 BF BF BF", "\xf4\xbf\xbf\xbf", 0, -1, 0, 0 },
	{ "lead F5", "\xf5\x80\x80\x80", 0, -1, 0, 0 },
	{ "lead F7", "\xf7\xbf\xbf\xbf", 0, -1, 0, 0 },
	{ "lead F8", "\xf8\x88\x80\x80", 0, -1, 0, 0 },
	{ "lead FB", "\xfb\xbf\xbf\xbf", 0, -1, 0, 0 },
	{ "lead FC", "\xfc\x84\x80\x80", 0, -1, 0, 0 },
	{ "lead FE", "\xfe", 0, -1, 0, 0 },
	{ "lead FF", "\xff", 0, -1, 0, 0 },
	{ "lead FF FE (UTF-16 BOM)", "\xff\xfe", 0, -1, 0, 0 },

	/* truncated at the end */
	{ "truncated 2 of 2", "\xc3", 0, -1, 0, 0 },
	{ "truncated 2 of 3", "\xe2\x82", 0, -1, 0, 0 },
	{ "truncated 1 of 3", "\xe2", 0, -1, 0, 0 },
	{ "truncated 3 of 4", "\xf0\x9f\x98", 0, -1, 0, 0 },
	{ "truncated 1 of 4", "\xf0", 0, -1, 0, 0 },
	{ "truncated by n", "\xf0\x9f\x98\x80", 3, -1, 0, 0 },
	{ "truncated after ascii", "abc\xe2\x82", 0, 1, 0x61, 0 },
	{ "truncated after 4-byte", "\xf0\x9f\x98\x80\xf0\x9f", 0, 4,
	    0x1f600, 0 },

	/* continuation bytes where a lead is due, and the reverse */
	{ "stray 80", "\x80", 0, -1, 0, 0 },
	{ "stray BF", "\xbf", 0, -1, 0, 0 },
	{ "stray after ascii", "a\x80", 0, 1, 0x61, 0 },
	{ "extra continuation", "\xc3\xa9\xa9", 0, 2, 0xe9, 0 },
	{ "ascii instead of continuation", "\xc3" "A", 0, -1, 0, 0 },
	{ "lead instead of continuation", "\xe2\xc3\xa9", 0, -1, 0, 0 },
	{ "nul instead of continuation", "\xe2\x82\0", 3, -1, 0, 0 },
	{ "4-byte, third not continuation", "\xf0\x9f\x41\x80", 0, -1, 0,
	    0 },

	/* whole strings */
	{ "mixed valid", "Gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\xad \xf0\x9f\x98\x80",
	    0, 1, 0x47, 1 },
	{ "nul inside", "a\0b", 3, 1, 0x61, 1 },
	{ "bad in the middle", "abc\xc0\x80" "def", 0, 1, 0x61, 0 },
	{ "surrogate in the middle", "ok \xed\xa0\x80 ok", 0, 1, 0x6f, 0 },
};
#define NROWS	(sizeof(rows) / sizeof(rows[0]))

static void
test_row(void **state)
{
	const struct row	*r = *state;
	size_t			 n = r->n ? r->n : strlen(r->s);
	uint32_t		 cp = 0xdeadbeef;
	int			 len;

	len = utf8_decode((const unsigned char *)r->s, n, &cp);
	if (len != r->len)
		fail_msg("%s: utf8_decode length %d, want %d", r->name, len,
		    r->len);
	if (len > 0 && cp != r->cp)
		fail_msg("%s: code point U+%04X, want U+%04X", r->name,
		    (unsigned)cp, (unsigned)r->cp);
	if (len < 0 && cp != 0xdeadbeef)
		fail_msg("%s: *cp written on error", r->name);
	if (utf8_valid(r->s, n) != r->valid)
		fail_msg("%s: utf8_valid != %d", r->name, r->valid);
	/* utf8_text_ok never accepts what utf8_valid refuses. */
	if (!r->valid && utf8_text_ok(r->s, n, "\n\t") != 0)
		fail_msg("%s: utf8_text_ok accepts invalid UTF-8", r->name);
}

static void
test_empty(void **state)
{
	uint32_t	cp = 7;

	(void)state;
	assert_int_equal(utf8_decode((const unsigned char *)"", 0, &cp), -1);
	assert_int_equal(utf8_decode(NULL, 0, &cp), -1);
	assert_int_equal(cp, 7);
	assert_int_equal(utf8_valid("", 0), 1);
	assert_int_equal(utf8_valid(NULL, 0), 1);
	assert_int_equal(utf8_text_ok("", 0, NULL), 1);
	assert_int_equal(utf8_text_ok(NULL, 0, "\n"), 1);
}

static void
test_is_control(void **state)
{
	static const struct {
		uint32_t	cp;
		int		yes;
	} t[] = {
		{ 0x00, 1 }, { 0x01, 1 }, { 0x09, 1 }, { 0x0a, 1 },
		{ 0x0d, 1 }, { 0x1b, 1 }, { 0x1f, 1 }, { 0x20, 0 },
		{ 0x41, 0 }, { 0x7e, 0 }, { 0x7f, 1 }, { 0x80, 1 },
		{ 0x85, 1 }, { 0x9b, 1 }, { 0x9f, 1 }, { 0xa0, 0 },
		{ 0xad, 0 }, { 0xff, 0 }, { 0x100, 0 }, { 0x2028, 0 },
		{ 0xfeff, 0 }, { 0x10ffff, 0 }, { 0x110000, 0 },
		{ 0xffffffff, 0 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (utf8_is_control(t[i].cp) != t[i].yes)
			fail_msg("utf8_is_control(U+%04X) != %d",
			    (unsigned)t[i].cp, t[i].yes);
}

static void
test_text_ok(void **state)
{
	static const struct {
		const char	*name;
		const char	*s;
		size_t		 n;	/* 0: strlen */
		const char	*allow;
		int		 ok;
	} t[] = {
		{ "plain", "hello, world", 0, NULL, 1 },
		{ "plain with allow", "hello", 0, "\n\t", 1 },
		{ "non-ascii", "Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x98\x80", 0,
		    NULL, 1 },
		{ "NBSP U+00A0", "a\xc2\xa0" "b", 0, NULL, 1 },
		{ "U+2028 not a control", "a\xe2\x80\xa8" "b", 0, NULL, 1 },
		{ "BOM", "\xef\xbb\xbf" "a", 0, NULL, 1 },
		{ "space and tilde", " ~", 0, NULL, 1 },

		{ "tab, none allowed", "a\tb", 0, NULL, 0 },
		{ "tab, empty allow", "a\tb", 0, "", 0 },
		{ "tab, tab allowed", "a\tb", 0, "\t", 1 },
		{ "tab, LF allowed only", "a\tb", 0, "\n", 0 },
		{ "LF, none allowed", "a\nb", 0, NULL, 0 },
		{ "LF, LF allowed", "a\nb", 0, "\n", 1 },
		{ "LF, both allowed", "a\nb\tc\n", 0, "\n\t", 1 },
		{ "LF, tab allowed only", "a\nb", 0, "\t", 0 },
		{ "CR", "a\r\nb", 0, "\n\t", 0 },
		{ "ESC", "a\x1b[31mb", 0, "\n\t", 0 },
		{ "BEL", "\x07", 0, "\n\t", 0 },
		{ "US 1F", "\x1f", 0, "\n\t", 0 },
		{ "DEL", "a\x7f", 0, "\n\t", 0 },
		{ "NUL, none allowed", "a\0b", 3, NULL, 0 },
		{ "NUL, allow list", "a\0b", 3, "\n\t", 0 },
		{ "NUL at end", "ab\0", 3, "\n\t", 0 },
		{ "NUL alone", "\0", 1, "\n\t", 0 },
		{ "C1 U+0080", "a\xc2\x80", 0, "\n\t", 0 },
		{ "C1 NEL U+0085", "a\xc2\x85" "b", 0, "\n\t", 0 },
		{ "C1 NEL listed as a byte", "a\xc2\x85" "b", 0, "\x85", 0 },
		{ "C1 NEL listed as UTF-8", "a\xc2\x85" "b", 0, "\xc2\x85", 0 },
		{ "C1 CSI U+009B", "\xc2\x9b" "31m", 0, "\n\t", 0 },
		{ "C1 U+009F", "\xc2\x9f", 0, "\n\t", 0 },
		{ "overlong LF", "a\xc0\x8a" "b", 0, "\n", 0 },
		{ "overlong NUL", "a\xc0\x80" "b", 0, "\n\t", 0 },
		{ "invalid byte", "a\xff", 0, NULL, 0 },
		{ "truncated", "a\xe2\x82", 0, "\n\t", 0 },
		{ "surrogate", "\xed\xa0\x80", 0, "\n\t", 0 },
		{ "n stops before control", "ab\n", 2, NULL, 1 },
		{ "n stops inside sequence", "a\xc3\xa9", 2, NULL, 0 },
	};
	size_t	i, n;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = t[i].n ? t[i].n : strlen(t[i].s);
		if (utf8_text_ok(t[i].s, n, t[i].allow) != t[i].ok)
			fail_msg("%s: utf8_text_ok != %d", t[i].name, t[i].ok);
	}
}

/* Reference: RFC 3629 section 4.  Returns the length of the well-formed
 * sequence at s, or -1. */
static int
ref_len(const unsigned char *s, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	int		len, i;

	if (n == 0)
		return -1;
	if (s[0] <= 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return -1;
	if ((size_t)len > n || s[1] < lo || s[1] > hi)
		return -1;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return -1;
	return len;
}

static int
ref_valid(const unsigned char *s, size_t n)
{
	int	k;

	while (n > 0) {
		if ((k = ref_len(s, n)) < 0)
			return 0;
		s += k;
		n -= (size_t)k;
	}
	return 1;
}

static void
check_bytes(const unsigned char *s, size_t n)
{
	uint32_t	cp;
	int		want = ref_len(s, n), got;

	got = utf8_decode(s, n, &cp);
	if (got != want)
		fail_msg("utf8_decode %02x %02x %02x %02x (n=%zu): %d, want %d",
		    s[0], n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n > 3 ? s[3] : 0,
		    n, got, want);
	if (utf8_valid((const char *)s, n) != ref_valid(s, n))
		fail_msg("utf8_valid %02x %02x %02x %02x (n=%zu) != %d",
		    s[0], n > 1 ? s[1] : 0, n > 2 ? s[2] : 0, n > 3 ? s[3] : 0,
		    n, ref_valid(s, n));
}

/* Every string of 1, 2 and 3 bytes; 4-byte strings with every first two
 * bytes and sampled last two. */
static void
test_exhaustive(void **state)
{
	static const unsigned char	 tail[] = { 0x00, 0x41, 0x7f, 0x80,
					    0x8f, 0x90, 0x9f, 0xa0, 0xbf,
					    0xc0, 0xf0, 0xff };
	unsigned char			 s[4];
	unsigned			 a, b, c;
	size_t				 i, j;

	(void)state;
	for (a = 0; a < 256; a++) {
		s[0] = (unsigned char)a;
		check_bytes(s, 1);
		for (b = 0; b < 256; b++) {
			s[1] = (unsigned char)b;
			check_bytes(s, 2);
			for (c = 0; c < 256; c++) {
				s[2] = (unsigned char)c;
				check_bytes(s, 3);
			}
			for (i = 0; i < sizeof(tail); i++)
				for (j = 0; j < sizeof(tail); j++) {
					s[2] = tail[i];
					s[3] = tail[j];
					check_bytes(s, 4);
				}
		}
	}
}

/* Every code point encodes (by hand here) to what utf8_decode reads back;
 * surrogates are refused. */
static void
test_round_trip(void **state)
{
	unsigned char	s[4];
	uint32_t	c, cp;
	int		len, got;

	(void)state;
	for (c = 0; c <= 0x10ffff; c++) {
		if (c < 0x80) {
			s[0] = (unsigned char)c;
			len = 1;
		} else if (c < 0x800) {
			s[0] = (unsigned char)(0xc0 | c >> 6);
			s[1] = (unsigned char)(0x80 | (c & 0x3f));
			len = 2;
		} else if (c < 0x10000) {
			s[0] = (unsigned char)(0xe0 | c >> 12);
			s[1] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
			s[2] = (unsigned char)(0x80 | (c & 0x3f));
			len = 3;
		} else {
			s[0] = (unsigned char)(0xf0 | c >> 18);
			s[1] = (unsigned char)(0x80 | (c >> 12 & 0x3f));
			s[2] = (unsigned char)(0x80 | (c >> 6 & 0x3f));
			s[3] = (unsigned char)(0x80 | (c & 0x3f));
			len = 4;
		}
		got = utf8_decode(s, (size_t)len, &cp);
		if (c >= 0xd800 && c <= 0xdfff) {
			if (got != -1)
				fail_msg("surrogate U+%04X accepted",
				    (unsigned)c);
			continue;
		}
		if (got != len || cp != c)
			fail_msg("U+%04X: length %d code point U+%04X", (unsigned)c,
			    got, (unsigned)cp);
		if (utf8_text_ok((const char *)s, (size_t)len, NULL) ==
		    utf8_is_control(c))
			fail_msg("U+%04X: utf8_text_ok disagrees with "
			    "utf8_is_control", (unsigned)c);
	}
}

int
main(void)
{
	static const struct CMUnitTest	fixed[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_is_control),
		cmocka_unit_test(test_text_ok),
		cmocka_unit_test(test_exhaustive),
		cmocka_unit_test(test_round_trip),
	};
	struct CMUnitTest	*tests;
	size_t			 i, n = sizeof(fixed) / sizeof(fixed[0]);
	int			 rc;

	/* One cmocka test per table row, so each failure is named. */
	if ((tests = calloc(NROWS + n, sizeof(*tests))) == NULL)
		return 1;
	for (i = 0; i < NROWS; i++) {
		tests[i].name = rows[i].name;
		tests[i].test_func = test_row;
		tests[i].initial_state = (void *)(uintptr_t)&rows[i];
	}
	memcpy(tests + NROWS, fixed, sizeof(fixed));
	rc = _cmocka_run_group_tests("utf8", tests, NROWS + n, NULL, NULL);
	free(tests);
	return rc != 0;
}
