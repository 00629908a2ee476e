/* test_topic.c - the topic grammar of DESIGN.md 3 (lib/topic.c): one table
 * row per case, {bytes, length, whole topic?, subscription prefix?}; then
 * slugs alone, topic_has_prefix, lengths that stop short of or run past the
 * NUL, and the 255-byte limit on generated strings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "topic.h"

#define S16	"abcdefghijklmnop"
#define S32	S16 S16
#define S62	S32 "0123456789" "0123456789" "0123456789"
#define S63	S62 "x"
#define S64	S63 "y"

struct row {
	const char	*name;
	const char	*s;
	size_t		 n;		/* 0: strlen(s) */
	int		 topic;		/* expected topic_valid */
	int		 prefix;	/* expected topic_prefix_valid */
};

static const struct row rows[] = {
	/* whole topics */
	{ "embassy topic", "embassy.ph.berlin.town-hall", 0, 1, 1 },
	{ "consulate topic", "consulate.ph.frankfurt.consular-day", 0, 1, 1 },
	{ "digits in slugs", "embassy.de.0.9", 0, 1, 1 },
	{ "slug digit first", "embassy.de.2nd-office.42", 0, 1, 1 },
	{ "slug trailing hyphen", "embassy.de.berlin-.x-", 0, 1, 1 },
	{ "slug double hyphen", "embassy.de.a--b.c", 0, 1, 1 },
	{ "slug 63 post", "embassy.de." S63 ".x", 0, 1, 1 },
	{ "slug 63 category", "embassy.de.x." S63, 0, 1, 1 },
	{ "slugs 63 both, longest topic", "consulate.zz." S63 "." S63, 0,
	    1, 1 },
	{ "slug 64 post", "embassy.de." S64 ".x", 0, 0, 0 },
	{ "slug 64 category", "embassy.de.x." S64, 0, 0, 0 },
	{ "slug 64 in prefix", "embassy.de." S64 ".", 0, 0, 0 },

	/* empty and degenerate */
	{ "empty", "", 0, 0, 0 },
	{ "dot", ".", 0, 0, 0 },
	{ "dots", "...", 0, 0, 0 },
	{ "four dots", "....", 0, 0, 0 },
	{ "leading dot", ".embassy.ph.berlin.x", 0, 0, 0 },
	{ "leading dot prefix", ".embassy.", 0, 0, 0 },

	/* KIND */
	{ "kind unknown", "mission.ph.berlin.x", 0, 0, 0 },
	{ "kind capital", "Embassy.ph.berlin.x", 0, 0, 0 },
	{ "kind upper", "EMBASSY.ph.berlin.x", 0, 0, 0 },
	{ "kind short", "embass.ph.berlin.x", 0, 0, 0 },
	{ "kind long", "embassyx.ph.berlin.x", 0, 0, 0 },
	{ "kind consulates", "consulates.ph.berlin.x", 0, 0, 0 },
	{ "kind empty", ".ph.berlin.x", 0, 0, 0 },
	{ "kind only, no dot", "embassy", 0, 0, 0 },
	{ "kind only, consulate", "consulate", 0, 0, 0 },
	{ "kind prefix", "embassy.", 0, 0, 1 },
	{ "kind prefix consulate", "consulate.", 0, 0, 1 },
	{ "kind prefix upper", "Embassy.", 0, 0, 0 },
	{ "kind prefix unknown", "mission.", 0, 0, 0 },

	/* CC */
	{ "cc upper", "embassy.PH.berlin.x", 0, 0, 0 },
	{ "cc mixed", "embassy.Ph.berlin.x", 0, 0, 0 },
	{ "cc one letter", "embassy.p.berlin.x", 0, 0, 0 },
	{ "cc three letters", "embassy.phl.berlin.x", 0, 0, 0 },
	{ "cc digit", "embassy.p1.berlin.x", 0, 0, 0 },
	{ "cc digits", "embassy.12.berlin.x", 0, 0, 0 },
	{ "cc hyphen", "embassy.p-.berlin.x", 0, 0, 0 },
	{ "cc empty", "embassy..berlin.x", 0, 0, 0 },
	{ "cc non-ascii", "embassy.\xc3\xa4h.berlin.x", 0, 0, 0 },
	{ "cc prefix", "embassy.ph.", 0, 0, 1 },
	{ "cc prefix no dot", "embassy.ph", 0, 0, 0 },
	{ "cc prefix upper", "embassy.PH.", 0, 0, 0 },
	{ "cc prefix 1", "embassy.p.", 0, 0, 0 },

	/* POST and CATEGORY slugs */
	{ "slug leading hyphen post", "embassy.ph.-berlin.x", 0, 0, 0 },
	{ "slug leading hyphen cat", "embassy.ph.berlin.-x", 0, 0, 0 },
	{ "slug hyphen only", "embassy.ph.-.x", 0, 0, 0 },
	{ "slug upper", "embassy.ph.Berlin.x", 0, 0, 0 },
	{ "slug upper cat", "embassy.ph.berlin.X", 0, 0, 0 },
	{ "slug underscore", "embassy.ph.ber_lin.x", 0, 0, 0 },
	{ "slug space", "embassy.ph.ber lin.x", 0, 0, 0 },
	{ "slug slash", "embassy.ph.ber/lin.x", 0, 0, 0 },
	{ "slug wildcard", "embassy.ph.*.x", 0, 0, 0 },
	{ "slug non-ascii", "embassy.de.m\xc3\xbcnchen.x", 0, 0, 0 },
	{ "slug high byte", "embassy.de.\xff.x", 0, 0, 0 },
	{ "slug tab", "embassy.de.ber\tlin.x", 0, 0, 0 },
	{ "slug newline end", "embassy.de.berlin.x\n", 0, 0, 0 },
	{ "slug empty post", "embassy.ph..x", 0, 0, 0 },
	{ "slug empty cat", "embassy.ph.berlin.", 0, 0, 1 },
	{ "post prefix", "embassy.ph.berlin.", 0, 0, 1 },
	{ "post prefix no dot", "embassy.ph.berlin", 0, 0, 0 },
	{ "post prefix hyphen", "embassy.ph.-berlin.", 0, 0, 0 },

	/* dots and parts */
	{ "three parts", "embassy.ph.berlin", 0, 0, 0 },
	{ "two parts", "embassy.ph", 0, 0, 0 },
	{ "five parts", "embassy.ph.berlin.x.y", 0, 0, 0 },
	{ "five parts empty", "embassy.ph.berlin.x.", 0, 0, 0 },
	{ "whole topic trailing dot", "embassy.ph.berlin.town-hall.", 0, 0,
	    0 },
	{ "double dot after kind", "embassy..", 0, 0, 0 },
	{ "double dot middle", "embassy.ph..berlin.x", 0, 0, 0 },
	{ "double dot end", "embassy.ph.berlin..", 0, 0, 0 },
	{ "trailing double dot", "embassy.ph.berlin.x..", 0, 0, 0 },

	/* explicit lengths: NUL inside, NUL counted, cut short */
	{ "nul inside", "embassy.ph.ber\0lin.x", 20, 0, 0 },
	{ "nul counted at end", "embassy.ph.berlin.x", 20, 0, 0 },
	{ "nul in prefix", "embassy.\0", 9, 0, 0 },
	{ "nul prefix cut before", "embassy.\0", 8, 0, 1 },
	{ "length stops at slug", "embassy.ph.berlin.xGARBAGE", 19, 1, 1 },
	{ "length stops after dot", "embassy.ph.berlin.x", 11, 0, 1 },
	{ "length stops mid cc", "embassy.ph.berlin.x", 9, 0, 0 },
	{ "length stops mid kind", "embassy.ph.berlin.x", 3, 0, 0 },
	{ "length one", "embassy.ph.berlin.x", 1, 0, 0 },
};
#define NROWS	(sizeof(rows) / sizeof(rows[0]))

static void
test_row(void **state)
{
	const struct row	*r = *state;
	size_t			 n = r->n ? r->n : strlen(r->s);

	if (topic_valid(r->s, n) != r->topic)
		fail_msg("%s: topic_valid(\"%.*s\", %zu) != %d", r->name,
		    (int)n, r->s, n, r->topic);
	if (topic_prefix_valid(r->s, n) != r->prefix)
		fail_msg("%s: topic_prefix_valid(\"%.*s\", %zu) != %d",
		    r->name, (int)n, r->s, n, r->prefix);
	/* A whole topic is always a valid subscription. */
	if (r->topic)
		assert_int_equal(r->prefix, 1);
}

/* Slugs on their own. */
static void
test_slug(void **state)
{
	static const struct {
		const char	*s;
		size_t		 n;	/* 0: strlen */
		int		 ok;
	} t[] = {
		{ "a", 0, 1 }, { "0", 0, 1 }, { "z9", 0, 1 },
		{ "berlin", 0, 1 }, { "town-hall", 0, 1 }, { "a-", 0, 1 },
		{ "a--", 0, 1 }, { S63, 0, 1 }, { "0-0", 0, 1 },
		{ "", 0, 0 }, { "-", 0, 0 }, { "-a", 0, 0 }, { "A", 0, 0 },
		{ "aB", 0, 0 }, { "a_b", 0, 0 }, { "a.b", 0, 0 },
		{ "a b", 0, 0 }, { S64, 0, 0 }, { "\xc3\xa4", 0, 0 },
		{ "a\xff", 0, 0 }, { "a\0b", 3, 0 }, { "ab\0", 3, 0 },
		{ "abGARBAGE", 2, 1 }, { S64, 63, 1 },
	};
	size_t	i, n;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = t[i].n ? t[i].n : strlen(t[i].s);
		if (topic_slug_valid(t[i].s, n) != t[i].ok)
			fail_msg("topic_slug_valid(\"%.*s\", %zu) != %d",
			    (int)n, t[i].s, n, t[i].ok);
	}
	/* n == 0 must not touch s. */
	assert_int_equal(topic_slug_valid(NULL, 0), 0);
	assert_int_equal(topic_valid(NULL, 0), 0);
	assert_int_equal(topic_prefix_valid(NULL, 0), 0);
}

static void
test_has_prefix(void **state)
{
	static const struct {
		const char	*topic, *prefix;
		int		 yes;
	} t[] = {
		{ "embassy.ph.berlin.x", "embassy.", 1 },
		{ "embassy.ph.berlin.x", "embassy.ph.", 1 },
		{ "embassy.ph.berlin.x", "embassy.ph.berlin.", 1 },
		{ "embassy.ph.berlin.x", "embassy.ph.berlin.x", 1 },
		{ "embassy.ph.berlin.x", "", 1 },
		{ "embassy.ph.berlin.x", "consulate.", 0 },
		{ "embassy.ph.berlin.x", "embassy.de.", 0 },
		{ "embassy.ph.berlin.x", "embassy.ph.berlin.xy", 0 },
		{ "embassy.ph.berlin.x", "embassy.ph.berlin.x.", 0 },
		{ "embassy.ph", "embassy.ph.", 0 },
		{ "consulate.ph.a.b", "embassy.", 0 },
		{ "embassy.ph.berlin.x", "Embassy.", 0 },
		{ "", "embassy.", 0 },
		{ "", "", 1 },
		/* A plain string prefix: why subscriptions end with a dot. */
		{ "embassy.phx.a.b", "embassy.ph", 1 },
		{ "embassy.phx.a.b", "embassy.ph.", 0 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (topic_has_prefix(t[i].topic, t[i].prefix) != t[i].yes)
			fail_msg("topic_has_prefix(\"%s\", \"%s\") != %d",
			    t[i].topic, t[i].prefix, t[i].yes);
}

/* Long strings: no valid topic exceeds 140 bytes, so the 255-byte limit
 * shows on strings that are refused anyway; none may be read past n. */
static void
test_lengths(void **state)
{
	static const size_t	 lens[] = { 140, 141, 254, 255, 256, 257,
				    4096, 65536 };
	char			*s;
	size_t			 i, n;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		n = lens[i];
		/* Exactly n bytes on the heap, no NUL: ASan sees any
		 * overread. */
		s = malloc(n);
		assert_non_null(s);
		/* "consulate.zz." then a slug, dots every 63 bytes. */
		memcpy(s, "consulate.zz.", 13);
		memset(s + 13, 'a', n - 13);
		if (n > 13 + 63)
			s[13 + 63] = '.';
		assert_int_equal(topic_valid(s, n), n == 140);
		assert_int_equal(topic_prefix_valid(s, n), n == 140);
		/* Prefix forms ending in a dot. */
		s[n - 1] = '.';
		assert_int_equal(topic_valid(s, n), 0);
		assert_int_equal(topic_prefix_valid(s, n), 0);
		free(s);
	}

	/* The longest topic (140 bytes) and a 140-byte prefix. */
	n = strlen("consulate.zz." S63 "." S63);
	assert_int_equal(n, 140);
	assert_true(n <= TOPIC_MAX);

	/* 256 bytes of dots and letters with a valid-looking head. */
	s = malloc(TOPIC_MAX + 1);
	assert_non_null(s);
	memset(s, 'a', TOPIC_MAX + 1);
	memcpy(s, "embassy.ph.", 11);
	assert_int_equal(topic_valid(s, TOPIC_MAX + 1), 0);
	assert_int_equal(topic_prefix_valid(s, TOPIC_MAX + 1), 0);
	assert_int_equal(topic_prefix_valid(s, 11), 1);
	free(s);
}

/* Every single byte in each position of a valid topic: only the grammar's
 * characters keep it valid. */
static void
test_each_byte(void **state)
{
	static const char	 base[] = "embassy.ph.berlin.town-hall";
	char			 s[sizeof(base)];
	size_t			 pos, n = sizeof(base) - 1;
	int			 c, want, lower, digit;

	(void)state;
	for (pos = 0; pos < n; pos++) {
		for (c = 0; c < 256; c++) {
			memcpy(s, base, sizeof(base));
			s[pos] = (char)c;
			lower = c >= 'a' && c <= 'z';
			digit = c >= '0' && c <= '9';
			if (c == (unsigned char)base[pos])
				want = 1;
			else if (pos < 8)	/* "embassy." */
				want = 0;
			else if (pos < 10)	/* "ph" */
				want = lower;
			else if (pos == 10 || pos == 17)	/* dots */
				want = 0;
			else if (pos == 11 || pos == 18)	/* slug heads */
				want = lower || digit;
			else
				want = lower || digit || c == '-';
			if (topic_valid(s, n) != want)
				fail_msg("byte 0x%02x at %zu: want %d", c, pos,
				    want);
		}
	}
}

/* The subscriptions that reach a topic, or a prefix of one. */
static void
test_covering(void **state)
{
	static const struct {
		const char	*topic;
		const char	*want;	/* joined with '|' */
	} t[] = {
		{ "embassy.ph.berlin.town-hall", "embassy.|embassy.ph.|"
		    "embassy.ph.berlin.|embassy.ph.berlin.town-hall" },
		{ "embassy.ph.", "embassy.|embassy.ph." },
		{ "embassy.", "embassy." },
		{ "embassy", "embassy" },
	};
	char	out[TOPIC_COVER_MAX][TOPIC_MAX + 1], got[1200];
	size_t	i, off;
	int	n, k;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = topic_covering(t[i].topic, out);
		for (k = 0, off = 0; k < n; k++)
			off += (size_t)snprintf(got + off, sizeof(got) - off,
			    "%s%s", k ? "|" : "", out[k]);
		got[off] = '\0';
		assert_string_equal(got, t[i].want);
	}
}

int
main(void)
{
	static const struct CMUnitTest	fixed[] = {
		cmocka_unit_test(test_slug),
		cmocka_unit_test(test_has_prefix),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_each_byte),
		cmocka_unit_test(test_covering),
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
	rc = _cmocka_run_group_tests("topic", tests, NROWS + n, NULL, NULL);
	free(tests);
	return rc != 0;
}
