/* test_csv.c - the CSV reader and writer (lib/csv.c), table-driven: the
 * RFC 4180 corner cases, every error with its line and column, recovery
 * after bad rows, equivalence of one-shot, byte-by-byte and random-chunk
 * feeding, the header map, list cells, the writer's quoting and refusals,
 * write-then-read round trips of random records, and that no message
 * ever quotes a field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "csv.h"

/* --- helpers ----------------------------------------------------------- */

static uint64_t	rng_state;

static void
rng_seed(uint64_t s)
{
	rng_state = s * 0x9e3779b97f4a7c15ULL + 1;
}

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static const char *
err_name(enum csv_err code)
{
	switch (code) {
	case CSV_ERR_QUOTE:		return "quote";
	case CSV_ERR_AFTER_QUOTE:	return "after";
	case CSV_ERR_UNTERMINATED:	return "unterminated";
	case CSV_ERR_BARE_CR:		return "cr";
	case CSV_ERR_NUL:		return "nul";
	case CSV_ERR_UTF8:		return "utf8";
	case CSV_ERR_FIELD_LONG:	return "long";
	case CSV_ERR_FIELDS:		return "fields";
	case CSV_ERR_NOMEM:		return "nomem";
	default:			return "?";
	}
}

/* A field, readable: CR, LF and other controls escaped. */
static void
put_field(struct buf *b, const char *s, size_t n)
{
	size_t	i;

	buf_adds(b, " [");
	for (i = 0; i < n; i++) {
		if (s[i] == '\r')
			buf_adds(b, "\\r");
		else if (s[i] == '\n')
			buf_adds(b, "\\n");
		else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			buf_printf(b, "\\x%02x", (unsigned char)s[i]);
		else
			buf_addc(b, s[i]);
	}
	buf_addc(b, ']');
}

/* Drain the reader into the transcript: "LINE [f1] [f2]\n" per record,
 * "LINE !FIELD code\n" per error. */
static void
drain(struct csv_reader *r, struct buf *out)
{
	struct csv_record		 rec;
	const struct csv_error		*e;
	size_t				 i;
	int				 rc;

	while ((rc = csv_next(r, &rec)) != 0) {
		if (rc == -1) {
			e = csv_reader_error(r);
			assert_int_equal(rec.line, e->line);
			assert_int_equal(rec.nfields, 0);
			buf_printf(out, "%lu !%zu %s\n", e->line, e->field,
			    err_name(e->code));
			continue;
		}
		assert_int_equal(rc, 1);
		assert_true(rec.nfields >= 1);
		buf_printf(out, "%lu", rec.line);
		for (i = 0; i < rec.nfields; i++) {
			assert_int_equal(rec.fields[i].s[rec.fields[i].len],
			    '\0');
			put_field(out, rec.fields[i].s, rec.fields[i].len);
		}
		buf_addc(out, '\n');
	}
}

enum chunking {
	CHUNK_ONE,		/* everything in one feed */
	CHUNK_BYTE,		/* one byte per feed */
	CHUNK_RANDOM,		/* 1..17 bytes per feed, from rng() */
};

/* Parse in[0..n) fed as told; the transcript (caller frees). */
static char *
parse(const char *in, size_t n, size_t max_field, size_t max_fields,
    enum chunking how)
{
	struct csv_reader	*r;
	struct buf		 out;
	size_t			 off = 0, k;

	assert_non_null(r = csv_reader_new(max_field, max_fields));
	buf_init(&out, 0);
	do {
		switch (how) {
		case CHUNK_ONE:
			k = n;
			break;
		case CHUNK_BYTE:
			k = n - off > 0 ? 1 : 0;
			break;
		default:
			k = 1 + rng() % 17;
			break;
		}
		if (k > n - off)
			k = n - off;
		assert_int_equal(csv_feed(r, in + off, k, off + k == n), 0);
		off += k;
		drain(r, &out);
	} while (off < n);
	/* After the end: nothing more, ever. */
	drain(r, &out);
	assert_int_equal(csv_feed(r, "x", 1, 0), -1);
	csv_reader_free(r);
	assert_false(out.overflow);
	return buf_release(&out);
}

/* Parse all three ways; they must agree.  Returns the transcript. */
static char *
parse_all_ways(const char *in, size_t n, size_t max_field,
    size_t max_fields, uint64_t seed)
{
	char	*one, *other;
	int	 i;

	one = parse(in, n, max_field, max_fields, CHUNK_ONE);
	other = parse(in, n, max_field, max_fields, CHUNK_BYTE);
	assert_string_equal(other, one);
	free(other);
	rng_seed(seed);
	for (i = 0; i < 8; i++) {
		other = parse(in, n, max_field, max_fields, CHUNK_RANDOM);
		assert_string_equal(other, one);
		free(other);
	}
	return one;
}

/* --- reader table ------------------------------------------------------ */

struct row {
	const char	*name;
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	size_t		 max_field;	/* 0: 64 */
	size_t		 max_fields;	/* 0: 16 */
	const char	*want;
};

#define ROW(n, i, w)		{ n, i, 0, 0, 0, w }
#define ROWN(n, i, l, w)	{ n, i, l, 0, 0, w }
#define ROWL(n, i, mf, mn, w)	{ n, i, 0, mf, mn, w }

static const struct row rows[] = {
	/* RFC 4180 and the usual leniencies. */
	ROW("simple", "a,b,c\n", "1 [a] [b] [c]\n"),
	ROW("crlf", "a,b\r\nc,d\r\n", "1 [a] [b]\n2 [c] [d]\n"),
	ROW("mixed_line_ends", "a\r\nb\nc\r\nd", "1 [a]\n2 [b]\n3 [c]\n4 [d]\n"),
	ROW("no_final_newline", "a,b\nc,d", "1 [a] [b]\n2 [c] [d]\n"),
	ROW("empty_fields", ",,\n", "1 [] [] []\n"),
	ROW("trailing_comma", "a,\nb,\r\n", "1 [a] []\n2 [b] []\n"),
	ROW("trailing_comma_eof", "a,", "1 [a] []\n"),
	ROW("lone_comma_eof", ",", "1 [] []\n"),
	ROW("quoted", "\"a\",\"b\"\n", "1 [a] [b]\n"),
	ROW("quoted_crlf", "\"a\",\"b\"\r\n\"c\"\r\n", "1 [a] [b]\n2 [c]\n"),
	ROW("escaped_quotes", "\"a\"\"b\",\"\"\"\"\n", "1 [a\"b] [\"]\n"),
	ROW("escaped_quote_at_eof", "\"a\"\"\"", "1 [a\"]\n"),
	ROW("quoted_at_eof", "x,\"a\"", "1 [x] [a]\n"),
	ROW("embedded_comma", "\"a,b\",c\n", "1 [a,b] [c]\n"),
	ROW("embedded_lf", "\"a\nb\",c\nd\n", "1 [a\\nb] [c]\n3 [d]\n"),
	ROW("embedded_crlf", "\"a\r\nb\"\r\nc\r\n", "1 [a\\r\\nb]\n3 [c]\n"),
	ROW("embedded_bare_cr", "\"a\rb\"\n", "1 [a\\rb]\n"),
	ROW("embedded_many_lines", "\"\n\n\n\",x\ny\n", "1 [\\n\\n\\n] [x]\n5 [y]\n"),
	ROW("bom", "\xef\xbb\xbfid,name\n1,2\n", "1 [id] [name]\n2 [1] [2]\n"),
	ROW("bom_only", "\xef\xbb\xbf", ""),
	ROW("bom_then_quoted", "\xef\xbb\xbf\"a\"\n", "1 [a]\n"),
	ROW("bom_later_is_data", "a\n\xef\xbb\xbf" "b\n",
	    "1 [a]\n2 [\xef\xbb\xbf" "b]\n"),
	ROW("bom_twice", "\xef\xbb\xbf\xef\xbb\xbfx\n",
	    "1 [\xef\xbb\xbfx]\n"),
	ROW("bom_partial", "\xef\xbb", "1 !1 utf8\n"),
	ROW("bom_partial_then_text", "\xef\xbbx\ny\n", "1 !1 utf8\n2 [y]\n"),
	ROW("empty_input", "", ""),
	ROW("only_line_ends", "\n\r\n\n", ""),
	ROW("empty_lines_skipped", "\n\na\n\r\n\nb\n", "3 [a]\n6 [b]\n"),
	ROW("quoted_empty_alone", "\"\"\n\"\"", "1 []\n2 []\n"),
	ROW("spaces_are_data", " a , b \n  \n", "1 [ a ] [ b ]\n2 [  ]\n"),
	ROW("unicode", "é,中文,🙂,ትግርኛ,עברית\n",
	    "1 [é] [中文] [🙂] [ትግርኛ] [עברית]\n"),
	ROW("tab_is_data", "a\tb\n", "1 [a\\x09b]\n"),
	ROW("controls_are_data", "\x01\x7f\n", "1 [\\x01\\x7f]\n"),
	ROW("semicolons_are_data", "ti; am;en\n", "1 [ti; am;en]\n"),

	/* Each error, its line, its column, and recovery. */
	ROW("err_quote", "ok\na\"b,c\nnext\n",
	    "1 [ok]\n2 !1 quote\n3 [next]\n"),
	ROW("err_quote_after_space", "x, \"a\"\ny\n", "1 !2 quote\n2 [y]\n"),
	ROW("err_after_quote", "\"a\"x,b\nnext\n", "1 !1 after\n2 [next]\n"),
	ROW("err_after_quote_space", "a,\"b\" \nc\n", "1 !2 after\n2 [c]\n"),
	ROW("err_after_quote_multiline", "\"a\nb\nc\"x\nok\n",
	    "1 !1 after\n4 [ok]\n"),
	ROW("err_unterminated", "a\n\"b,c\nd\n", "1 [a]\n2 !1 unterminated\n"),
	ROW("err_unterminated_second", "a,\"b", "1 !2 unterminated\n"),
	ROW("err_unterminated_quote_only", "\"", "1 !1 unterminated\n"),
	ROW("err_bare_cr", "a\rb\nc\n", "1 !1 cr\n2 [c]\n"),
	ROW("err_bare_cr_eof", "x\na\r", "1 [x]\n2 !1 cr\n"),
	ROW("err_bare_cr_line_start", "\rx\ny\n", "1 !1 cr\n2 [y]\n"),
	ROW("err_bare_cr_only", "\r", "1 !1 cr\n"),
	ROW("err_bare_cr_after_quote", "\"a\"\rb\nc\n", "1 !1 cr\n2 [c]\n"),
	ROW("err_bare_cr_cr_lf", "a\r\r\nb\n", "1 !1 cr\n2 [b]\n"),
	ROWN("err_nul", "a,b\0c\nd\n", 8, "1 !2 nul\n2 [d]\n"),
	ROWN("err_nul_quoted", "\"a\0\"\nd\n", 7, "1 !1 nul\n2 [d]\n"),
	ROWN("err_nul_alone", "\0", 1, "1 !1 nul\n"),
	ROW("err_utf8_overlong", "a,\xc0\xaf\nb\n", "1 !2 utf8\n2 [b]\n"),
	ROW("err_utf8_overlong3", "\xe0\x80\xaf\nb\n", "1 !1 utf8\n2 [b]\n"),
	ROW("err_utf8_truncated", "\xe2\x82\nb\n", "1 !1 utf8\n2 [b]\n"),
	ROW("err_utf8_truncated_eof", "ok,\xe2\x82", "1 !2 utf8\n"),
	ROW("err_utf8_truncated_quoted", "\"\xf0\x9f\x99\",x\ny\n",
	    "1 !1 utf8\n2 [y]\n"),
	ROW("err_utf8_surrogate", "\xed\xa0\x80\nb\n", "1 !1 utf8\n2 [b]\n"),
	ROW("err_utf8_above_max", "\xf4\x90\x80\x80\n", "1 !1 utf8\n"),
	ROW("err_utf8_lone_continuation", "a\x80\nb\n", "1 !1 utf8\n2 [b]\n"),
	ROW("err_utf8_latin1", "Zo\xeb,x\r\ny\r\n", "1 !1 utf8\n2 [y]\n"),
	ROW("err_utf8_last_field_no_leak", "a,\xff\r\nb,c\r\n",
	    "1 !2 utf8\n2 [b] [c]\n"),
	ROWL("field_max_ok", "abcd\n", 4, 0, "1 [abcd]\n"),
	ROWL("err_field_long", "abcd,abcde\nok\n", 4, 0,
	    "1 !2 long\n2 [ok]\n"),
	ROWL("field_max_ok_escaped", "\"a\"\"b\"\n", 3, 0, "1 [a\"b]\n"),
	ROWL("err_field_long_escaped", "\"a\"\"b\"\"\"\nok\n", 3, 0,
	    "1 !1 long\n2 [ok]\n"),
	ROWL("err_field_long_multiline", "\"ab\ncd\"\nok\n", 4, 0,
	    "1 !1 long\n3 [ok]\n"),
	ROWL("fields_max_ok", "a,b,c\n", 0, 3, "1 [a] [b] [c]\n"),
	ROWL("err_fields", "a,b,c\na,b,c,d\nx\n", 0, 3,
	    "1 [a] [b] [c]\n2 !0 fields\n3 [x]\n"),
	ROWL("err_fields_trailing_comma", "a,b,c,\nx\n", 0, 3,
	    "1 !0 fields\n2 [x]\n"),
	ROWL("one_field_max", "a\nb,c\nd\n", 0, 1,
	    "1 [a]\n2 !0 fields\n3 [d]\n"),

	/* Resynchronisation: skip to the next line end outside quotes. */
	ROW("resync_quoted_newline", "a\"b,\"c\nd\"\ngood\n",
	    "1 !1 quote\n3 [good]\n"),
	ROW("resync_stray_quote_is_data", "a\"b\"c\nok\n",
	    "1 !1 quote\n2 [ok]\n"),
	ROW("resync_one_error_per_record", "a\"b\"\xff,\"x\"y\nok\n",
	    "1 !1 quote\n2 [ok]\n"),
	ROWN("resync_nul_then_quote", "a\0\"\nok\n", 7, "1 !1 nul\n2 [ok]\n"),
	ROW("resync_unterminated_in_skip", "a\"b,\"c\nd\n", "1 !1 quote\n"),
	ROW("resync_after_quote_then_quoted", "\"a\"x,\"b\nc\"\nok\n",
	    "1 !1 after\n3 [ok]\n"),
	/* The quote after the bare CR is mid-field: data, not an opening. */
	ROW("resync_bare_cr_then_quote", "a\r\"b\nc\"\nok\n",
	    "1 !1 cr\n2 !1 quote\n3 [ok]\n"),
	ROW("resync_bare_cr_then_field", "a\r,\"b\nc\"\nok\n",
	    "1 !1 cr\n3 [ok]\n"),
	ROW("resync_many_bad", "1\na\"\n\"b\"c\nd\re\n\"\"\n2\n",
	    "1 [1]\n2 !1 quote\n3 !1 after\n4 !1 cr\n5 []\n6 [2]\n"),
	ROWL("resync_long_then_good", "aaaaaaaa,\"b\nb\"\nok\n", 4, 0,
	    "1 !1 long\n3 [ok]\n"),
};

#define NROWS	(sizeof(rows) / sizeof(rows[0]))

static void
test_row(void **state)
{
	const struct row	*row = *state;
	size_t			 n = row->len ? row->len : strlen(row->in);
	char			*got;

	got = parse_all_ways(row->in, n, row->max_field ? row->max_field : 64,
	    row->max_fields ? row->max_fields : 16, (uintptr_t)row);
	assert_string_equal(got, row->want);
	free(got);
}

/* --- more reader tests ------------------------------------------------- */

/* Random inputs built from the bytes that matter: all feedings agree. */
static void
test_chunk_equivalence_random(void **state)
{
	static const char *const pieces[] = {
		"a", "bc", ",", "\"", "\"\"", "\r", "\n", "\r\n", " ", ";",
		"\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x99\x82", "\xef\xbb\xbf",
		"\xc3", "\xff", "\xc0\xaf", "\0",
	};
	struct buf	 in;
	char		*one;
	size_t		 i, k, npieces, len;
	int		 iter;

	(void)state;
	for (iter = 0; iter < 400; iter++) {
		rng_seed(1000 + iter);
		buf_init(&in, 0);
		npieces = rng() % 60;
		for (i = 0; i < npieces; i++) {
			k = rng() % (sizeof(pieces) / sizeof(pieces[0]));
			len = pieces[k][0] == '\0' ? 1 : strlen(pieces[k]);
			assert_int_equal(buf_add(&in, pieces[k], len), 0);
		}
		one = parse_all_ways(in.data ? in.data : "", in.len,
		    1 + iter % 7, 1 + iter % 5, iter);
		free(one);
		buf_free(&in);
	}
}

/* Fields handed out stay put while more input is fed. */
static void
test_fields_survive_feed(void **state)
{
	struct csv_reader	*r;
	struct csv_record	 rec;

	(void)state;
	assert_non_null(r = csv_reader_new(64, 8));
	assert_int_equal(csv_feed(r, "ab,cd\nef", 8, 0), 0);
	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(csv_feed(r, ",gh\nij,kl\n", 10, 1), 0);
	assert_int_equal(rec.nfields, 2);
	assert_string_equal(rec.fields[0].s, "ab");
	assert_string_equal(rec.fields[1].s, "cd");
	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(rec.line, 2);
	assert_string_equal(rec.fields[1].s, "gh");
	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(rec.line, 3);
	assert_int_equal(csv_next(r, &rec), 0);
	assert_int_equal(csv_next(r, &rec), 0);
	assert_int_equal(csv_feed(r, NULL, 0, 1), 0);
	assert_int_equal(csv_feed(r, "x", 1, 1), -1);
	csv_reader_free(r);
	csv_reader_free(NULL);
}

/* A record needs more input until its line end (or the end) arrives. */
static void
test_need_more(void **state)
{
	struct csv_reader	*r;
	struct csv_record	 rec;

	(void)state;
	assert_non_null(r = csv_reader_new(64, 8));
	assert_int_equal(csv_next(r, &rec), 0);
	assert_int_equal(csv_feed(r, "\xef", 1, 0), 0);
	assert_int_equal(csv_next(r, &rec), 0);
	assert_int_equal(csv_feed(r, "\xbb\xbf\"a\r", 5, 0), 0);
	assert_int_equal(csv_next(r, &rec), 0);
	assert_int_equal(csv_feed(r, "\n\"\r", 3, 0), 0);
	assert_int_equal(csv_next(r, &rec), 0);	/* CR: LF may follow */
	assert_int_equal(csv_feed(r, "\n", 1, 0), 0);
	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(rec.nfields, 1);
	assert_int_equal(rec.fields[0].len, 3);
	assert_memory_equal(rec.fields[0].s, "a\r\n", 3);
	assert_int_equal(csv_next(r, &rec), 0);
	csv_reader_free(r);
	assert_null(csv_reader_new(0, 8));
	assert_null(csv_reader_new(8, 0));
}

/* The error structure and csv_strerror. */
static void
test_error_struct(void **state)
{
	struct csv_reader		*r;
	struct csv_record		 rec;
	const struct csv_error		*e;

	(void)state;
	assert_non_null(r = csv_reader_new(5, 3));
	assert_int_equal(csv_reader_error(r)->code, CSV_ERR_NONE);
	assert_int_equal(csv_feed(r, "\n\nabcdef\na,b,c,d\n", 17, 1), 0);
	assert_int_equal(csv_next(r, &rec), -1);
	e = csv_reader_error(r);
	assert_int_equal(e->code, CSV_ERR_FIELD_LONG);
	assert_int_equal(e->line, 3);
	assert_int_equal(e->field, 1);
	assert_string_equal(e->reason, "field longer than 5 bytes");
	assert_int_equal(csv_next(r, &rec), -1);
	assert_int_equal(e->code, CSV_ERR_FIELDS);
	assert_int_equal(e->line, 4);
	assert_int_equal(e->field, 0);
	assert_string_equal(e->reason, "more than 3 fields");
	assert_int_equal(csv_next(r, &rec), 0);
	csv_reader_free(r);
	assert_string_equal(csv_strerror(CSV_ERR_UNTERMINATED),
	    "unterminated quoted field");
	assert_string_equal(csv_strerror((enum csv_err)99), "unknown error");
}

static struct csv_reader *first_record(const char *, struct csv_record *);

/* The caps: waiting input, huge limits, column tables, join overflow. */
static void
test_limits(void **state)
{
	static struct csv_column	many[CSV_HEADER_MAX + 1];
	static const struct csv_field	items[] = { { "abc", 3 }, { "def", 3 } };
	struct csv_reader		*r;
	struct csv_record		 rec;
	struct csv_header		 hdr;
	struct buf			 b;
	char				*big;
	size_t				 chunk = 1024 * 1024, i;

	(void)state;
	/* At most 64 MiB may wait unparsed; a refused feed takes nothing. */
	assert_non_null(big = malloc(chunk));
	memset(big, 'a', chunk);
	assert_non_null(r = csv_reader_new(16, 4));
	for (i = 0; i < 64; i++)
		assert_int_equal(csv_feed(r, big, chunk, 0), 0);
	assert_int_equal(csv_feed(r, "\n", 1, 0), -1);
	assert_int_equal(csv_next(r, &rec), -1);
	assert_int_equal(csv_reader_error(r)->code, CSV_ERR_FIELD_LONG);
	assert_int_equal(csv_next(r, &rec), 0);
	assert_int_equal(csv_feed(r, "\nok\n", 4, 1), 0);
	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(rec.line, 2);
	assert_string_equal(rec.fields[0].s, "ok");
	csv_reader_free(r);
	free(big);

	/* Limits whose product does not fit saturate. */
	assert_non_null(r = csv_reader_new(SIZE_MAX - 1, SIZE_MAX));
	assert_int_equal(csv_feed(r, "a,b\n", 4, 1), 0);
	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(rec.nfields, 2);
	csv_reader_free(r);
	assert_null(csv_reader_new(SIZE_MAX, 1));

	/* A column table larger than the header can hold. */
	r = first_record("id\n", &rec);
	for (i = 0; i <= CSV_HEADER_MAX; i++)
		many[i].name = "id";
	buf_init(&b, 0);
	assert_int_equal(csv_header_map(&hdr, many, CSV_HEADER_MAX + 1, &rec,
	    &b), -1);
	assert_string_equal(b.data, "line 1: too many columns\n");
	assert_null(csv_header_name(&hdr, 0));
	assert_null(csv_header_get(&hdr, &rec, 0));
	buf_free(&b);
	csv_reader_free(r);

	/* Join and write stop whole at the buffer's maximum. */
	buf_init(&b, 5);
	assert_int_equal(buf_adds(&b, "X"), 0);
	assert_int_equal(csv_list_join(&b, items, 2), -1);
	assert_string_equal(b.data, "X");
	assert_int_equal(csv_write_record(&b, items, 1), -1);
	assert_string_equal(b.data, "X");
	assert_int_equal(csv_write_field(&b, "\"\"", 2), -1);
	assert_string_equal(b.data, "X");
	buf_free(&b);
}

/* --- header ------------------------------------------------------------ */

static const struct csv_column cols[] = {
	{ "id", 1 },
	{ "name", 0 },
	{ "email", 0 },
	{ "languages", 0 },
};
#define NCOLS	(sizeof(cols) / sizeof(cols[0]))

struct hrow {
	const char	*name;
	const char	*in;
	int		 rc;
	const char	*errs;
	int		 idx[NCOLS];
};

static const struct hrow hrows[] = {
	{ "plain", "id,name,email\n", 0, "", { 0, 1, 2, -1 } },
	{ "reordered", "email,languages,id\n", 0, "", { 2, -1, 0, 1 } },
	{ "trim_and_case", " ID ,\tName\t, EMAIL\n", 0, "", { 0, 1, 2, -1 } },
	{ "bom", "\xef\xbb\xbfid,name\n", 0, "", { 0, 1, -1, -1 } },
	{ "late_line", "\n\r\nid\n", 0, "", { 0, -1, -1, -1 } },
	{ "unknown", "id,foo,alice@example.org\n", -1,
	    "line 1: column 2: unknown column name\n"
	    "line 1: column 3: unknown column name\n", { 0, -1, -1, -1 } },
	{ "not_a_prefix", "i,ids,emails\n", -1,
	    "line 1: column 1: unknown column name\n"
	    "line 1: column 2: unknown column name\n"
	    "line 1: column 3: unknown column name\n"
	    "line 1: id: missing column\n", { -1, -1, -1, -1 } },
	{ "duplicate", "id,email,Email\n", -1,
	    "line 1: email: duplicate column (columns 2 and 3)\n",
	    { 0, -1, 1, -1 } },
	{ "missing_required", "name\n", -1, "line 1: id: missing column\n",
	    { -1, 0, -1, -1 } },
	{ "empty_name", "id,,name, \n", -1,
	    "line 1: column 2: empty column name\n"
	    "line 1: column 4: empty column name\n", { 0, 2, -1, -1 } },
	{ "late_errors", "\n\nx\n", -1,
	    "line 3: column 1: unknown column name\n"
	    "line 3: id: missing column\n", { -1, -1, -1, -1 } },
};

#define NHROWS	(sizeof(hrows) / sizeof(hrows[0]))

/* Read the first record of s into a fresh reader (caller frees r). */
static struct csv_reader *
first_record(const char *s, struct csv_record *rec)
{
	struct csv_reader	*r;

	assert_non_null(r = csv_reader_new(64, 16));
	assert_int_equal(csv_feed(r, s, strlen(s), 1), 0);
	assert_int_equal(csv_next(r, rec), 1);
	return r;
}

static void
test_header_row(void **state)
{
	const struct hrow	*h = *state;
	struct csv_reader	*r;
	struct csv_record	 rec;
	struct csv_header	 hdr;
	struct buf		 err;
	size_t			 i;

	r = first_record(h->in, &rec);
	buf_init(&err, 0);
	assert_int_equal(csv_header_map(&hdr, cols, NCOLS, &rec, &err), h->rc);
	assert_string_equal(err.data ? err.data : "", h->errs);
	assert_null(strchr(err.data ? err.data : "", '@'));
	for (i = 0; i < NCOLS; i++)
		assert_int_equal(hdr.idx[i], h->idx[i]);
	for (i = 0; i < NCOLS; i++)
		if (h->idx[i] >= 0)
			assert_string_equal(csv_header_name(&hdr,
			    (size_t)h->idx[i]), cols[i].name);
	assert_null(csv_header_name(&hdr, 99));
	buf_free(&err);
	csv_reader_free(r);
}

static void
test_header_rows_and_errors(void **state)
{
	static const char	 in[] =
	    "id,name,email\r\n"
	    "c-1,Ana,ana@example.org\r\n"
	    "c-2,Ben\r\n"
	    "c-3,\"Zo\xeb\",z@example.org\r\n"
	    "c-4,x,\"y\"z@example.org\r\n"
	    "c-5,a,b,c,d,e\r\n"
	    "c-6,\"carl\r\nsecond line\",c@example.org\r\n";
	struct csv_reader		*r;
	struct csv_record		 rec;
	struct csv_header		 hdr;
	const struct csv_field		*f;
	struct buf			 err;

	(void)state;
	assert_non_null(r = csv_reader_new(64, 5));
	assert_int_equal(csv_feed(r, in, sizeof(in) - 1, 1), 0);
	buf_init(&err, 0);
	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(csv_header_map(&hdr, cols, NCOLS, &rec, &err), 0);
	assert_int_equal(hdr.nfields, 3);
	assert_int_equal(hdr.line, 1);

	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(csv_header_check(&hdr, &rec, &err), 0);
	assert_non_null(f = csv_header_get(&hdr, &rec, 2));
	assert_string_equal(f->s, "ana@example.org");
	assert_null(csv_header_get(&hdr, &rec, 3));	/* no languages */
	assert_null(csv_header_get(&hdr, &rec, 99));

	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(csv_header_check(&hdr, &rec, &err), -1);
	assert_null(csv_header_get(&hdr, &rec, 2));

	assert_int_equal(csv_next(r, &rec), -1);
	assert_int_equal(csv_error_format(&err, csv_reader_error(r), &hdr), 0);
	assert_int_equal(csv_next(r, &rec), -1);
	assert_int_equal(csv_error_format(&err, csv_reader_error(r), &hdr), 0);
	assert_int_equal(csv_next(r, &rec), -1);
	assert_int_equal(csv_error_format(&err, csv_reader_error(r), &hdr), 0);
	assert_int_equal(csv_error_format(&err, csv_reader_error(r), NULL), 0);

	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(rec.line, 7);
	assert_int_equal(csv_header_check(&hdr, &rec, &err), 0);
	assert_int_equal(csv_next(r, &rec), 0);

	assert_string_equal(err.data,
	    "line 3: expected 3 fields, got 2\n"
	    "line 4: name: invalid UTF-8\n"
	    "line 5: email: text after a closing quote\n"
	    "line 6: more than 5 fields\n"
	    "line 6: more than 5 fields\n");
	buf_free(&err);
	csv_reader_free(r);
}

static void
test_error_format(void **state)
{
	struct csv_error	e = { CSV_ERR_NUL, 12, 7, "NUL byte" };
	struct buf		b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(csv_error_format(&b, &e, NULL), 0);
	e.field = 0;
	assert_int_equal(csv_error_format(&b, &e, NULL), 0);
	assert_string_equal(b.data,
	    "line 12: column 7: NUL byte\nline 12: NUL byte\n");
	buf_free(&b);
}

/* No message ever shows what was in a field. */
static void
test_privacy(void **state)
{
	static const char	 in[] =
	    "id,name,email\n"
	    "c-1,Alice,\"alice@example.org\"x\n"
	    "c-2,Alice,alice\"@example.org\n"
	    "c-3,Alice,alice@example.org\xff\n"
	    "c-4,Alice,alice@example.org,alice@example.org\n"
	    "c-5,Alice,alice@example.org\ralice\n"
	    "c-6,Alice,\"alice@example.org";
	struct csv_reader	*r;
	struct csv_record	 rec;
	struct csv_header	 hdr;
	struct buf		 err;
	int			 rc, nerr = 0;

	(void)state;
	assert_non_null(r = csv_reader_new(64, 3));
	assert_int_equal(csv_feed(r, in, sizeof(in) - 1, 1), 0);
	buf_init(&err, 0);
	assert_int_equal(csv_next(r, &rec), 1);
	assert_int_equal(csv_header_map(&hdr, cols, NCOLS, &rec, &err), 0);
	while ((rc = csv_next(r, &rec)) != 0) {
		assert_int_equal(rc, -1);
		csv_error_format(&err, csv_reader_error(r), &hdr);
		csv_error_format(&err, csv_reader_error(r), NULL);
		nerr++;
	}
	assert_int_equal(nerr, 6);
	assert_null(strstr(err.data, "alice"));
	assert_null(strstr(err.data, "Alice"));
	assert_null(strchr(err.data, '@'));
	buf_free(&err);
	csv_reader_free(r);
}

/* --- list cells -------------------------------------------------------- */

static const struct {
	const char	*in;
	const char	*want;	/* items as " [x]" */
} lrows[] = {
	{ "ti; am;en", " [ti] [am] [en]" },
	{ "", "" },
	{ ";;", "" },
	{ " ; \t; ", "" },
	{ "x", " [x]" },
	{ " a b ; c\t", " [a b] [c]" },
	{ "a;;b;", " [a] [b]" },
	{ ";pt-BR", " [pt-BR]" },
	{ "embassy.ph.; consulate.", " [embassy.ph.] [consulate.]" },
};

static char *
split(const char *s, size_t n)
{
	struct csv_list	 l;
	struct buf	 b;
	const char	*item;
	size_t		 len;

	buf_init(&b, 0);
	csv_list_init(&l, s, n);
	while (csv_list_next(&l, &item, &len))
		put_field(&b, item, len);
	return buf_release(&b);
}

static void
test_list_split(void **state)
{
	size_t	 i;
	char	*got;

	(void)state;
	for (i = 0; i < sizeof(lrows) / sizeof(lrows[0]); i++) {
		got = split(lrows[i].in, strlen(lrows[i].in));
		assert_string_equal(got, lrows[i].want);
		free(got);
	}
	got = split(NULL, 0);
	assert_string_equal(got, "");
	free(got);
}

static void
test_list_join(void **state)
{
	static const struct csv_field	ok[] = {
		{ "ti", 2 }, { "am", 2 }, { "en", 2 },
	};
	static const struct csv_field	bad[][2] = {
		{ { "a", 1 }, { "b;c", 3 } },
		{ { "a", 1 }, { "", 0 } },
		{ { " a", 2 }, { "b", 1 } },
		{ { "a", 1 }, { "b\t", 2 } },
	};
	struct buf			b;
	size_t				i;
	char				*got;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(csv_list_join(&b, ok, 3), 0);
	assert_string_equal(b.data, "ti;am;en");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(csv_list_join(&b, bad[i], 2), -1);
		assert_string_equal(b.data, "ti;am;en");
	}
	assert_int_equal(csv_list_join(&b, ok, 0), 0);
	assert_string_equal(b.data, "ti;am;en");
	got = split(b.data, b.len);
	assert_string_equal(got, " [ti] [am] [en]");
	free(got);
	buf_free(&b);
}

/* --- writer ------------------------------------------------------------ */

static const struct {
	const char	*in;
	size_t		 len;		/* 0: strlen */
	int		 rc;
	const char	*want;		/* appended after "X" */
} wrows[] = {
	{ "abc", 0, 0, "abc" },
	{ "", 0, 0, "" },
	{ "a b", 0, 0, "a b" },
	{ "é中🙂", 0, 0, "é中🙂" },
	{ "ti;am", 0, 0, "ti;am" },
	{ "=1+1", 0, 0, "=1+1" },
	{ "a,b", 0, 0, "\"a,b\"" },
	{ "a\"b", 0, 0, "\"a\"\"b\"" },
	{ "\"", 0, 0, "\"\"\"\"" },
	{ "\"\"x\"", 0, 0, "\"\"\"\"\"x\"\"\"" },
	{ "a\nb", 0, 0, "\"a\nb\"" },
	{ "a\rb", 0, 0, "\"a\rb\"" },
	{ "a\r\n", 0, 0, "\"a\r\n\"" },
	{ " a", 0, 0, "\" a\"" },
	{ "a ", 0, 0, "\"a \"" },
	{ "\ta", 0, 0, "\"\ta\"" },
	{ " ", 0, 0, "\" \"" },
	{ "\xef\xbb\xbfid", 0, 0, "\"\xef\xbb\xbfid\"" },
	{ "a\0b", 3, -1, "" },
	{ "\xff", 0, -1, "" },
	{ "\xc0\xaf", 0, -1, "" },
	{ "a,\xed\xa0\x80", 0, -1, "" },
};

static void
test_write_field(void **state)
{
	struct buf	 b;
	size_t		 i, n;
	char		*want;

	(void)state;
	for (i = 0; i < sizeof(wrows) / sizeof(wrows[0]); i++) {
		buf_init(&b, 0);
		assert_int_equal(buf_addc(&b, 'X'), 0);
		n = wrows[i].len ? wrows[i].len : strlen(wrows[i].in);
		assert_int_equal(csv_write_field(&b, wrows[i].in, n),
		    wrows[i].rc);
		assert_non_null(want = malloc(strlen(wrows[i].want) + 2));
		want[0] = 'X';
		memcpy(want + 1, wrows[i].want, strlen(wrows[i].want) + 1);
		assert_string_equal(b.data, want);
		assert_int_equal(b.len, strlen(want));
		free(want);
		buf_free(&b);
	}
	/* Overflow part way: nothing is left behind. */
	buf_init(&b, 6);
	assert_int_equal(buf_adds(&b, "X"), 0);
	assert_int_equal(csv_write_field(&b, "ab\"cd", 5), -1);
	assert_string_equal(b.data, "X");
	assert_int_equal(b.len, 1);
	buf_free(&b);
}

static void
test_write_record(void **state)
{
	static const struct csv_field	r1[] = {
		{ "a", 1 }, { "b,c", 3 }, { "", 0 },
	};
	static const struct csv_field	r2[] = { { "", 0 } };
	static const struct csv_field	r3[] = { { "", 0 }, { "", 0 } };
	static const struct csv_field	r4[] = { { "ok", 2 }, { "\xff", 1 } };
	static const struct csv_field	r5[] = { { "x\ny", 3 } };
	struct buf			b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(csv_write_record(&b, r1, 3), 0);
	assert_int_equal(csv_write_record(&b, r2, 1), 0);
	assert_int_equal(csv_write_record(&b, r3, 2), 0);
	assert_int_equal(csv_write_record(&b, r5, 1), 0);
	assert_string_equal(b.data,
	    "a,\"b,c\",\r\n\"\"\r\n,\r\n\"x\ny\"\r\n");
	assert_int_equal(csv_write_record(&b, r4, 2), -1);
	assert_int_equal(csv_write_record(&b, r1, 0), -1);
	assert_string_equal(b.data,
	    "a,\"b,c\",\r\n\"\"\r\n,\r\n\"x\ny\"\r\n");
	buf_free(&b);
	/* Overflow at the line end: the record is taken back whole. */
	buf_init(&b, 8);
	assert_int_equal(csv_write_record(&b, r1, 1), 0);
	assert_int_equal(csv_write_record(&b, r1, 2), -1);
	assert_string_equal(b.data, "a\r\n");
	buf_free(&b);
}

/* --- round trip -------------------------------------------------------- */

static const char *const rt_pieces[] = {
	"", "a", "Zoë", ",", "\"", "\"\"", "\r", "\n", "\r\n", " ", "\t",
	"中文", "🙂", "\xef\xbb\xbf", ";", "x y", "ሰላም", "مرحبا", "=cmd",
	"alice@example.org", "\x01", "'",
};
#define NRT	(sizeof(rt_pieces) / sizeof(rt_pieces[0]))

static void
test_round_trip(void **state)
{
	struct csv_field	 recs[200][8];
	char			*store[200][8];
	size_t			 nf[200], lines[200];
	struct buf		 out, f;
	struct csv_reader	*r;
	struct csv_record	 rec;
	size_t			 i, j, k, np, off, chunk;
	unsigned long		 nl;
	int			 iter, how;

	(void)state;
	for (iter = 0; iter < 20; iter++) {
		rng_seed(77 + iter);
		buf_init(&out, 0);
		for (i = 0; i < 200; i++) {
			nf[i] = 1 + rng() % 8;
			for (j = 0; j < nf[i]; j++) {
				buf_init(&f, 0);
				np = rng() % 5;
				for (k = 0; k < np; k++)
					buf_adds(&f, rt_pieces[rng() % NRT]);
				store[i][j] = buf_release(&f);
				recs[i][j].s = store[i][j];
				recs[i][j].len = strlen(store[i][j]);
			}
			/* The line the record starts on. */
			for (nl = 1, k = 0; k < out.len; k++)
				nl += out.data[k] == '\n';
			lines[i] = nl;
			assert_int_equal(csv_write_record(&out, recs[i],
			    nf[i]), 0);
		}
		for (how = 0; how < 3; how++) {
			assert_non_null(r = csv_reader_new(256, 8));
			i = 0;
			for (off = 0; off < out.len; off += chunk) {
				chunk = how == 0 ? out.len : how == 1 ? 1 :
				    1 + rng() % 64;
				if (chunk > out.len - off)
					chunk = out.len - off;
				assert_int_equal(csv_feed(r, out.data + off,
				    chunk, off + chunk == out.len), 0);
				while (csv_next(r, &rec) == 1) {
					assert_true(i < 200);
					assert_int_equal(rec.line, lines[i]);
					assert_int_equal(rec.nfields, nf[i]);
					for (j = 0; j < nf[i]; j++) {
						assert_int_equal(
						    rec.fields[j].len,
						    recs[i][j].len);
						assert_memory_equal(
						    rec.fields[j].s,
						    recs[i][j].s,
						    recs[i][j].len);
					}
					i++;
				}
				assert_int_equal(
				    csv_reader_error(r)->code, CSV_ERR_NONE);
			}
			assert_int_equal(i, 200);
			csv_reader_free(r);
		}
		for (i = 0; i < 200; i++)
			for (j = 0; j < nf[i]; j++)
				free(store[i][j]);
		buf_free(&out);
	}
}

/* Lists: join then split gives the items back. */
static void
test_list_round_trip(void **state)
{
	static const char *const items[] = {
		"ti", "am", "en", "pt-BR", "embassy.ph.", "a b", "中文", "x",
	};
	struct csv_field	 pick[6];
	struct buf		 cell, want;
	char			*got;
	size_t			 i, n;
	int			 iter;

	(void)state;
	for (iter = 0; iter < 200; iter++) {
		rng_seed(5000 + iter);
		n = rng() % 6;
		buf_init(&cell, 0);
		buf_init(&want, 0);
		for (i = 0; i < n; i++) {
			pick[i].s = items[rng() % 8];
			pick[i].len = strlen(pick[i].s);
			put_field(&want, pick[i].s, pick[i].len);
		}
		assert_int_equal(csv_list_join(&cell, pick, n), 0);
		got = split(cell.data, cell.len);
		assert_string_equal(got, want.data ? want.data : "");
		free(got);
		buf_free(&cell);
		buf_free(&want);
	}
}

int
main(void)
{
	static const struct CMUnitTest	fixed[] = {
		cmocka_unit_test(test_chunk_equivalence_random),
		cmocka_unit_test(test_fields_survive_feed),
		cmocka_unit_test(test_need_more),
		cmocka_unit_test(test_error_struct),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_header_rows_and_errors),
		cmocka_unit_test(test_error_format),
		cmocka_unit_test(test_privacy),
		cmocka_unit_test(test_list_split),
		cmocka_unit_test(test_list_join),
		cmocka_unit_test(test_write_field),
		cmocka_unit_test(test_write_record),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_list_round_trip),
	};
	struct CMUnitTest	*tests;
	size_t			 i, n = sizeof(fixed) / sizeof(fixed[0]);
	int			 rc;

	/* One cmocka test per table row, so each failure is named. */
	if ((tests = calloc(NROWS + NHROWS + n, sizeof(*tests))) == NULL)
		return 1;
	for (i = 0; i < NROWS; i++) {
		tests[i].name = rows[i].name;
		tests[i].test_func = test_row;
		tests[i].initial_state = (void *)(uintptr_t)&rows[i];
	}
	for (i = 0; i < NHROWS; i++) {
		tests[NROWS + i].name = hrows[i].name;
		tests[NROWS + i].test_func = test_header_row;
		tests[NROWS + i].initial_state = (void *)(uintptr_t)&hrows[i];
	}
	memcpy(tests + NROWS + NHROWS, fixed, sizeof(fixed));
	rc = _cmocka_run_group_tests("csv", tests, NROWS + NHROWS + n, NULL,
	    NULL);
	free(tests);
	return rc != 0;
}
