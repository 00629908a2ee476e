/* fuzz_csv.c - libFuzzer target for the CSV reader and writer (lib/csv.c).
 * The first byte picks the limits and the chunk sizes; the rest is the
 * file.  Parsed one-shot and in chunks, the results must be identical;
 * every record must obey the limits and be strict UTF-8 without NUL; the
 * records written back with the writer must read back the same; each
 * field split as a list, joined and split again must give the same items.
 * abort() on violation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csv.h"
#include "utf8.h"

#define CHECK(x) do {							\
	if (!(x)) {							\
		fprintf(stderr, "fuzz_csv: check failed: %s (line %d)\n",\
		    #x, __LINE__);					\
		abort();						\
	}								\
} while (0)

static const struct csv_column	cols[] = {
	{ "id", 1 }, { "name", 0 }, { "email", 0 }, { "languages", 0 },
};

struct limits {
	size_t	max_field;
	size_t	max_fields;
};

/* Append a record (with its line when with_line) or an error. */
static void
note_record(struct buf *t, const struct csv_record *rec, int with_line)
{
	size_t	i;

	buf_addc(t, 'R');
	if (with_line)
		buf_add(t, &rec->line, sizeof(rec->line));
	buf_add(t, &rec->nfields, sizeof(rec->nfields));
	for (i = 0; i < rec->nfields; i++) {
		buf_add(t, &rec->fields[i].len, sizeof(rec->fields[i].len));
		buf_add(t, rec->fields[i].s, rec->fields[i].len);
	}
}

static void
note_error(struct buf *t, const struct csv_error *e)
{
	buf_addc(t, 'E');
	buf_add(t, &e->line, sizeof(e->line));
	buf_add(t, &e->field, sizeof(e->field));
	buf_add(t, &e->code, sizeof(e->code));
	buf_adds(t, e->reason);
}

/* Split the cell, join the items, split again: same items. */
static void
check_list(const char *s, size_t n)
{
	struct csv_field	 items[64];
	struct csv_list		 l;
	struct buf		 cell;
	const char		*item;
	size_t			 len, k = 0, j = 0;

	csv_list_init(&l, s, n);
	while (k < 64 && csv_list_next(&l, &item, &len)) {
		CHECK(len > 0 && item >= s && item + len <= s + n);
		CHECK(memchr(item, ';', len) == NULL);
		items[k].s = item;
		items[k].len = len;
		k++;
	}
	if (k == 64)
		return;
	buf_init(&cell, 0);
	CHECK(csv_list_join(&cell, items, k) == 0);
	csv_list_init(&l, cell.data, cell.len);
	while (csv_list_next(&l, &item, &len)) {
		CHECK(j < k && len == items[j].len &&
		    memcmp(item, items[j].s, len) == 0);
		j++;
	}
	CHECK(j == k);
	buf_free(&cell);
}

/* Parse in[0..n), fed in chunks of 1..maxchunk bytes (0: at once),
 * into the transcript t.  When out is given, each record is also
 * written to it and its fields noted in plain (no line).  Returns the
 * number of bad records. */
static size_t
run(const uint8_t *in, size_t n, const struct limits *lim, size_t maxchunk,
    uint32_t seed, struct buf *t, struct buf *out, struct buf *plain)
{
	struct csv_reader		*r;
	struct csv_record		 rec;
	struct csv_header		 hdr;
	const struct csv_error		*e;
	struct buf			 msg;
	unsigned long			 last = 0;
	size_t				 off = 0, k, i, nerr = 0;
	int				 rc, first = 1;

	CHECK((r = csv_reader_new(lim->max_field, lim->max_fields)) != NULL);
	buf_init(&msg, 0);
	do {
		k = n - off;
		if (maxchunk > 0) {
			seed = seed * 1103515245u + 12345u;
			if (k > 1 + (seed >> 16) % maxchunk)
				k = 1 + (seed >> 16) % maxchunk;
		}
		CHECK(csv_feed(r, k > 0 ? (const char *)in + off : NULL, k,
		    off + k == n) == 0);
		off += k;
		while ((rc = csv_next(r, &rec)) != 0) {
			if (rc == -1) {
				e = csv_reader_error(r);
				CHECK(e->code != CSV_ERR_NONE);
				CHECK(e->line >= 1 && e->line >= last);
				CHECK(e->field <= lim->max_fields);
				CHECK(e->reason[0] != '\0');
				CHECK(rec.line == e->line && rec.nfields == 0);
				last = e->line;
				nerr++;
				note_error(t, e);
				if (out != NULL)
					CHECK(csv_error_format(&msg, e,
					    first ? NULL : &hdr) == 0);
				continue;
			}
			CHECK(rc == 1);
			CHECK(rec.line >= 1 && rec.line >= last);
			CHECK(rec.nfields >= 1 &&
			    rec.nfields <= lim->max_fields);
			last = rec.line;
			for (i = 0; i < rec.nfields; i++) {
				CHECK(rec.fields[i].len <= lim->max_field);
				CHECK(rec.fields[i].s[rec.fields[i].len] ==
				    '\0');
				CHECK(memchr(rec.fields[i].s, '\0',
				    rec.fields[i].len) == NULL);
				CHECK(utf8_valid(rec.fields[i].s,
				    rec.fields[i].len));
			}
			note_record(t, &rec, 1);
			if (out == NULL)
				continue;
			note_record(plain, &rec, 0);
			CHECK(csv_write_record(out, rec.fields,
			    rec.nfields) == 0);
			for (i = 0; i < rec.nfields; i++)
				check_list(rec.fields[i].s, rec.fields[i].len);
			if (first) {
				csv_header_map(&hdr, cols, 4, &rec, &msg);
				first = 0;
			} else {
				csv_header_check(&hdr, &rec, &msg);
				for (i = 0; i < 5; i++)
					csv_header_get(&hdr, &rec, i);
			}
		}
	} while (off < n);
	CHECK(csv_next(r, &rec) == 0);
	CHECK(!t->overflow);
	buf_free(&msg);
	csv_reader_free(r);
	return nerr;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct limits	 lim;
	struct buf	 one, chunked, out, plain, again, again_out, again_plain;
	uint8_t		 b0;

	if (size < 1)
		return 0;
	b0 = data[0];
	data++;
	size--;
	lim.max_field = (b0 & 0x80) ? 1 + (b0 & 0x0f) : 4096;
	lim.max_fields = (b0 & 0x40) ? 1 + ((b0 >> 4) & 3) : 64;

	buf_init(&one, 0);
	buf_init(&chunked, 0);
	buf_init(&out, 0);
	buf_init(&plain, 0);
	buf_init(&again, 0);
	buf_init(&again_out, 0);
	buf_init(&again_plain, 0);

	run(data, size, &lim, 0, 0, &one, &out, &plain);
	run(data, size, &lim, 1 + (b0 & 0x1f), b0, &chunked, NULL, NULL);
	CHECK(one.len == chunked.len &&
	    (one.len == 0 || memcmp(one.data, chunked.data, one.len) == 0));
	run(data, size, &lim, 1, 0, &chunked, NULL, NULL);
	CHECK(2 * one.len == chunked.len && (one.len == 0 ||
	    memcmp(one.data, chunked.data + one.len, one.len) == 0));

	/* What the writer made reads back as the same fields, without
	 * errors, and writing those again gives the same bytes. */
	CHECK(!out.overflow);
	CHECK(run((const uint8_t *)out.data, out.len, &lim, 0, 0, &again,
	    &again_out, &again_plain) == 0);
	CHECK(plain.len == again_plain.len && (plain.len == 0 ||
	    memcmp(plain.data, again_plain.data, plain.len) == 0));
	CHECK(out.len == again_out.len && (out.len == 0 ||
	    memcmp(out.data, again_out.data, out.len) == 0));

	buf_free(&one);
	buf_free(&chunked);
	buf_free(&out);
	buf_free(&plain);
	buf_free(&again);
	buf_free(&again_out);
	buf_free(&again_plain);
	return 0;
}
