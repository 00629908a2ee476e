/* csv.c - RFC 4180 reader, header map, list cells and writer (see csv.h).
 * The reader is a byte-driven state machine: input waits in r->in until
 * parsed, the record being built lives in r->rec (each field followed by
 * a NUL), so a record may be split across feeds at any byte.  Messages
 * name lines and columns, never a field's content. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "csv.h"
#include "utf8.h"

#define CSV_BOM		"\xef\xbb\xbf"

enum csv_state {
	CSV_ST_REC_START,	/* between records (empty lines skipped here) */
	CSV_ST_FIELD_START,	/* at the first byte of a field */
	CSV_ST_UNQUOTED,	/* inside an unquoted field */
	CSV_ST_QUOTED,		/* inside a quoted field */
	CSV_ST_QUOTE,		/* a '"' seen inside a quoted field */
	CSV_ST_CR,		/* a CR seen outside quotes */
};

struct csv_span {
	size_t	off;
	size_t	len;
};

struct csv_reader {
	size_t			 max_field;
	size_t			 max_fields;

	struct buf		 in;		/* fed, in[pos..] not yet parsed */
	size_t			 pos;
	int			 eof;
	int			 bom_done;

	enum csv_state		 state;
	int			 skip;		/* in a bad record: drop to its end */
	int			 rec_started;	/* a record, not an empty line */
	unsigned long		 line;		/* line of in[pos] */
	unsigned long		 rec_line;	/* line where the record started */

	struct buf		 rec;		/* the record's fields, NUL after each */
	size_t			 fstart;	/* offset of the current field in rec */
	struct csv_span		*spans;		/* the finished fields */
	struct csv_field	*fields;	/* handed out by csv_next */
	size_t			 nfields;
	size_t			 cap;

	struct csv_error	 err;
};

static const char *const csv_reasons[] = {
	[CSV_ERR_NONE] = "no error",
	[CSV_ERR_QUOTE] = "quote inside an unquoted field",
	[CSV_ERR_AFTER_QUOTE] = "text after a closing quote",
	[CSV_ERR_UNTERMINATED] = "unterminated quoted field",
	[CSV_ERR_BARE_CR] = "CR without LF (line ends must be LF or CRLF)",
	[CSV_ERR_NUL] = "NUL byte",
	[CSV_ERR_UTF8] = "invalid UTF-8",
	[CSV_ERR_FIELD_LONG] = "field too long",
	[CSV_ERR_FIELDS] = "too many fields",
	[CSV_ERR_NOMEM] = "out of memory",
};

const char *
csv_strerror(enum csv_err code)
{
	if ((size_t)code >= sizeof(csv_reasons) / sizeof(csv_reasons[0]))
		return "unknown error";
	return csv_reasons[code];
}

struct csv_reader *
csv_reader_new(size_t max_field, size_t max_fields)
{
	struct csv_reader	*r;
	size_t			 recmax;

	if (max_field == 0 || max_fields == 0 || max_field == SIZE_MAX)
		return NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->max_field = max_field;
	r->max_fields = max_fields;
	/* Every field and its NUL fit; saturate rather than wrap. */
	if (max_fields > (SIZE_MAX - 1) / (max_field + 1))
		recmax = SIZE_MAX - 1;
	else
		recmax = max_fields * (max_field + 1);
	buf_init(&r->in, 0);
	buf_init(&r->rec, recmax);
	r->state = CSV_ST_REC_START;
	r->line = 1;
	return r;
}

void
csv_reader_free(struct csv_reader *r)
{
	if (r == NULL)
		return;
	buf_free(&r->in);
	buf_free(&r->rec);
	free(r->spans);
	free(r->fields);
	free(r);
}

int
csv_feed(struct csv_reader *r, const char *data, size_t len, int eof)
{
	if (r->eof)
		return len == 0 ? 0 : -1;
	if (len > 0) {
		/* Drop what was parsed so waiting input stays small. */
		if (r->pos > 0) {
			memmove(r->in.data, r->in.data + r->pos,
			    r->in.len - r->pos);
			r->in.len -= r->pos;
			r->in.data[r->in.len] = '\0';
			r->pos = 0;
		}
		if (buf_add(&r->in, data, len) == -1) {
			r->in.overflow = 0;
			return -1;
		}
	}
	if (eof)
		r->eof = 1;
	return 0;
}

const struct csv_error *
csv_reader_error(const struct csv_reader *r)
{
	return &r->err;
}

/* Record a bad record and start skipping it.  Returns -1. */
static int
csv_fail(struct csv_reader *r, enum csv_err code, size_t field)
{
	r->err.code = code;
	r->err.line = r->rec_line;
	r->err.field = field;
	switch (code) {
	case CSV_ERR_FIELD_LONG:
		snprintf(r->err.reason, sizeof(r->err.reason),
		    "field longer than %zu bytes", r->max_field);
		break;
	case CSV_ERR_FIELDS:
		snprintf(r->err.reason, sizeof(r->err.reason),
		    "more than %zu fields", r->max_fields);
		break;
	default:
		snprintf(r->err.reason, sizeof(r->err.reason), "%s",
		    csv_strerror(code));
		break;
	}
	r->skip = 1;
	return -1;
}

/* The first byte of a record (or of an empty line's CR): forget the last
 * record, whose fields the caller may no longer use. */
static void
csv_rec_begin(struct csv_reader *r)
{
	buf_reset(&r->rec);
	r->fstart = 0;
	r->nfields = 0;
	r->rec_line = r->line;
}

/* A record (good or skipped) is over: wait for the next. */
static void
csv_rec_done(struct csv_reader *r)
{
	r->state = CSV_ST_REC_START;
	r->skip = 0;
	r->rec_started = 0;
}

/* Append n bytes to the current field.  Returns 0 or -1 (error set). */
static int
csv_add(struct csv_reader *r, const char *p, size_t n)
{
	size_t	cur = r->rec.len - r->fstart;

	if (n > r->max_field - cur)
		return csv_fail(r, CSV_ERR_FIELD_LONG, r->nfields + 1);
	if (buf_add(&r->rec, p, n) == -1)
		return csv_fail(r, CSV_ERR_NOMEM, r->nfields + 1);
	return 0;
}

/* Close the current field.  Returns 0 or -1 (error set). */
static int
csv_end_field(struct csv_reader *r)
{
	size_t		 len = r->rec.len - r->fstart, ncap;
	void		*p;

	if (len > 0 && !utf8_valid(r->rec.data + r->fstart, len))
		return csv_fail(r, CSV_ERR_UTF8, r->nfields + 1);
	if (r->nfields == r->cap) {
		ncap = r->cap ? r->cap * 2 : 16;
		if (ncap > r->max_fields)
			ncap = r->max_fields;
		if ((p = reallocarray(r->spans, ncap,
		    sizeof(*r->spans))) == NULL)
			return csv_fail(r, CSV_ERR_NOMEM, r->nfields + 1);
		r->spans = p;
		if ((p = reallocarray(r->fields, ncap,
		    sizeof(*r->fields))) == NULL)
			return csv_fail(r, CSV_ERR_NOMEM, r->nfields + 1);
		r->fields = p;
		r->cap = ncap;
	}
	if (buf_addc(&r->rec, '\0') == -1)
		return csv_fail(r, CSV_ERR_NOMEM, r->nfields + 1);
	r->spans[r->nfields].off = r->fstart;
	r->spans[r->nfields].len = len;
	r->nfields++;
	r->fstart = r->rec.len;
	return 0;
}

/* A line end or the end of input closes the record.  Returns 1 (rec
 * filled), 0 (the record was being skipped) or -1 (error set). */
static int
csv_end_record(struct csv_reader *r, struct csv_record *rec)
{
	size_t	i;

	if (r->skip) {
		csv_rec_done(r);
		return 0;
	}
	if (csv_end_field(r) == -1) {
		csv_rec_done(r);
		return -1;
	}
	for (i = 0; i < r->nfields; i++) {
		r->fields[i].s = r->rec.data + r->spans[i].off;
		r->fields[i].len = r->spans[i].len;
	}
	rec->line = r->rec_line;
	rec->nfields = r->nfields;
	rec->fields = r->fields;
	csv_rec_done(r);
	return 1;
}

/* End of input with nothing left to parse. */
static int
csv_at_eof(struct csv_reader *r, struct csv_record *rec)
{
	enum csv_err	code;

	switch (r->state) {
	case CSV_ST_REC_START:
		return 0;
	case CSV_ST_QUOTED:
	case CSV_ST_CR:
		if (r->skip) {
			csv_rec_done(r);
			return 0;
		}
		code = r->state == CSV_ST_QUOTED ? CSV_ERR_UNTERMINATED :
		    CSV_ERR_BARE_CR;
		csv_fail(r, code, r->nfields + 1);
		csv_rec_done(r);
		return -1;
	default:
		return csv_end_record(r, rec);
	}
}

/* Length of the run at p[0..n) free of the bytes in stop (NUL included). */
static size_t
csv_run(const char *p, size_t n, const char *stop)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (p[i] == '\0' || strchr(stop, p[i]) != NULL)
			break;
	return i;
}

static int
csv_parse(struct csv_reader *r, struct csv_record *rec)
{
	const char	*p;
	size_t		 n, run;
	int		 rc;
	char		 c;

	if (!r->bom_done) {
		n = r->in.len - r->pos;
		if (n == 0 && !r->eof)
			return 0;
		/* Wait for three bytes while they could still be a BOM. */
		if (n > 0 && n < 3 && !r->eof &&
		    memcmp(r->in.data + r->pos, CSV_BOM, n) == 0)
			return 0;
		if (n >= 3 && memcmp(r->in.data + r->pos, CSV_BOM, 3) == 0)
			r->pos += 3;
		r->bom_done = 1;
	}
	for (;;) {
		if (r->pos == r->in.len) {
			if (r->eof)
				return csv_at_eof(r, rec);
			buf_reset(&r->in);
			r->pos = 0;
			return 0;
		}
		p = r->in.data + r->pos;
		n = r->in.len - r->pos;
		c = *p;
		switch (r->state) {
		case CSV_ST_REC_START:
			if (c == '\n') {
				r->pos++;
				r->line++;
				break;
			}
			csv_rec_begin(r);
			if (c == '\r') {
				r->pos++;
				r->state = CSV_ST_CR;
				break;
			}
			r->rec_started = 1;
			r->state = CSV_ST_FIELD_START;
			break;
		case CSV_ST_FIELD_START:
			if (c == '"') {
				r->pos++;
				r->state = CSV_ST_QUOTED;
			} else
				r->state = CSV_ST_UNQUOTED;
			break;
		case CSV_ST_UNQUOTED:
			if ((run = csv_run(p, n, ",\r\n\"")) > 0) {
				r->pos += run;
				if (!r->skip && csv_add(r, p, run) == -1)
					return -1;
				break;
			}
			r->pos++;
			switch (c) {
			case ',':
				r->state = CSV_ST_FIELD_START;
				if (r->skip)
					break;
				if (csv_end_field(r) == -1)
					return -1;
				if (r->nfields == r->max_fields)
					return csv_fail(r, CSV_ERR_FIELDS, 0);
				break;
			case '\n':
				r->line++;
				if ((rc = csv_end_record(r, rec)) != 0)
					return rc;
				break;
			case '\r':
				r->state = CSV_ST_CR;
				break;
			case '"':
				/* While skipping, a stray quote is data. */
				if (!r->skip)
					return csv_fail(r, CSV_ERR_QUOTE,
					    r->nfields + 1);
				break;
			default:	/* NUL */
				if (!r->skip)
					return csv_fail(r, CSV_ERR_NUL,
					    r->nfields + 1);
				break;
			}
			break;
		case CSV_ST_QUOTED:
			if ((run = csv_run(p, n, "\"\n")) > 0) {
				r->pos += run;
				if (!r->skip && csv_add(r, p, run) == -1)
					return -1;
				break;
			}
			r->pos++;
			if (c == '"')
				r->state = CSV_ST_QUOTE;
			else if (c == '\n') {
				r->line++;
				if (!r->skip && csv_add(r, p, 1) == -1)
					return -1;
			} else if (!r->skip)
				return csv_fail(r, CSV_ERR_NUL, r->nfields + 1);
			break;
		case CSV_ST_QUOTE:
			if (c == '"') {
				r->pos++;
				r->state = CSV_ST_QUOTED;
				if (!r->skip && csv_add(r, p, 1) == -1)
					return -1;
				break;
			}
			/* The separator is handled there; anything else is
			 * reread there as data of the skipped record. */
			r->state = CSV_ST_UNQUOTED;
			if (c != ',' && c != '\r' && c != '\n' && !r->skip)
				return csv_fail(r, CSV_ERR_AFTER_QUOTE,
				    r->nfields + 1);
			break;
		case CSV_ST_CR:
			if (c == '\n') {
				r->pos++;
				r->line++;
				if (!r->rec_started) {
					r->state = CSV_ST_REC_START;
					break;	/* an empty CRLF line */
				}
				if ((rc = csv_end_record(r, rec)) != 0)
					return rc;
				break;
			}
			/* A bare CR: the byte after it is reread as data. */
			r->rec_started = 1;
			r->state = CSV_ST_UNQUOTED;
			if (!r->skip)
				return csv_fail(r, CSV_ERR_BARE_CR,
				    r->nfields + 1);
			break;
		}
	}
}

int
csv_next(struct csv_reader *r, struct csv_record *rec)
{
	int	rc;

	rec->line = 0;
	rec->nfields = 0;
	rec->fields = NULL;
	if ((rc = csv_parse(r, rec)) == -1) {
		rec->line = r->err.line;
		rec->nfields = 0;
		rec->fields = NULL;
	}
	return rc;
}

/* --- header row ------------------------------------------------------ */

static int
csv_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
csv_trim(const char **s, size_t *n)
{
	while (*n > 0 && csv_is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && csv_is_blank((*s)[*n - 1]))
		(*n)--;
}

static int
csv_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* 1 when s[0..n) is name, ignoring ASCII case. */
static int
csv_name_eq(const char *name, const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (name[i] == '\0' ||
		    csv_lower((unsigned char)s[i]) !=
		    csv_lower((unsigned char)name[i]))
			return 0;
	return name[n] == '\0';
}

int
csv_header_map(struct csv_header *h, const struct csv_column *cols,
    size_t ncols, const struct csv_record *hdr, struct buf *err)
{
	const char	*s;
	size_t		 f, i, n;
	int		 rc = 0;

	memset(h, 0, sizeof(*h));
	h->cols = cols;
	h->ncols = ncols;
	h->nfields = hdr->nfields;
	h->line = hdr->line;
	for (i = 0; i < CSV_HEADER_MAX; i++)
		h->idx[i] = -1;
	if (ncols > CSV_HEADER_MAX || hdr->nfields > INT_MAX) {
		h->ncols = 0;
		buf_printf(err, "line %lu: too many columns\n", hdr->line);
		return -1;
	}
	for (f = 0; f < hdr->nfields; f++) {
		s = hdr->fields[f].s;
		n = hdr->fields[f].len;
		csv_trim(&s, &n);
		if (n == 0) {
			buf_printf(err, "line %lu: column %zu: empty column "
			    "name\n", hdr->line, f + 1);
			rc = -1;
			continue;
		}
		for (i = 0; i < ncols; i++)
			if (csv_name_eq(cols[i].name, s, n))
				break;
		if (i == ncols) {
			buf_printf(err, "line %lu: column %zu: unknown column "
			    "name\n", hdr->line, f + 1);
			rc = -1;
		} else if (h->idx[i] != -1) {
			buf_printf(err, "line %lu: %s: duplicate column "
			    "(columns %d and %zu)\n", hdr->line, cols[i].name,
			    h->idx[i] + 1, f + 1);
			rc = -1;
		} else
			h->idx[i] = (int)f;
	}
	for (i = 0; i < ncols; i++)
		if (cols[i].required && h->idx[i] == -1) {
			buf_printf(err, "line %lu: %s: missing column\n",
			    hdr->line, cols[i].name);
			rc = -1;
		}
	return rc;
}

int
csv_header_check(const struct csv_header *h, const struct csv_record *rec,
    struct buf *err)
{
	if (rec->nfields == h->nfields)
		return 0;
	buf_printf(err, "line %lu: expected %zu fields, got %zu\n", rec->line,
	    h->nfields, rec->nfields);
	return -1;
}

const struct csv_field *
csv_header_get(const struct csv_header *h, const struct csv_record *rec,
    size_t col)
{
	if (col >= h->ncols || h->idx[col] < 0 ||
	    (size_t)h->idx[col] >= rec->nfields)
		return NULL;
	return &rec->fields[h->idx[col]];
}

const char *
csv_header_name(const struct csv_header *h, size_t field)
{
	size_t	i;

	for (i = 0; i < h->ncols; i++)
		if (h->idx[i] >= 0 && (size_t)h->idx[i] == field)
			return h->cols[i].name;
	return NULL;
}

int
csv_error_format(struct buf *b, const struct csv_error *e,
    const struct csv_header *h)
{
	const char	*name = NULL;

	if (e->field == 0)
		return buf_printf(b, "line %lu: %s\n", e->line, e->reason);
	if (h != NULL)
		name = csv_header_name(h, e->field - 1);
	if (name != NULL)
		return buf_printf(b, "line %lu: %s: %s\n", e->line, name,
		    e->reason);
	return buf_printf(b, "line %lu: column %zu: %s\n", e->line, e->field,
	    e->reason);
}

/* --- list cells ------------------------------------------------------ */

void
csv_list_init(struct csv_list *l, const char *s, size_t n)
{
	l->p = s;
	l->end = s == NULL ? s : s + n;
}

int
csv_list_next(struct csv_list *l, const char **item, size_t *len)
{
	const char	*semi, *s;
	size_t		 n;

	while (l->p < l->end) {
		semi = memchr(l->p, ';', (size_t)(l->end - l->p));
		s = l->p;
		n = (size_t)((semi != NULL ? semi : l->end) - s);
		l->p = semi != NULL ? semi + 1 : l->end;
		csv_trim(&s, &n);
		if (n > 0) {
			*item = s;
			*len = n;
			return 1;
		}
	}
	return 0;
}

/* --- writer ---------------------------------------------------------- */

/* Undo a partial append. */
static void
csv_truncate(struct buf *b, size_t len)
{
	b->len = len;
	if (b->data != NULL)
		b->data[len] = '\0';
}

/* n >= 1. */
static int
csv_needs_quotes(const char *s, size_t n)
{
	if (csv_is_blank(s[0]) || csv_is_blank(s[n - 1]))
		return 1;
	if (n >= 3 && memcmp(s, CSV_BOM, 3) == 0)
		return 1;
	return memchr(s, '"', n) != NULL || memchr(s, ',', n) != NULL ||
	    memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL;
}

int
csv_write_field(struct buf *b, const char *s, size_t n)
{
	const char	*q, *end;
	size_t		 start = b->len;

	if (n == 0)
		return 0;
	if (memchr(s, '\0', n) != NULL || !utf8_valid(s, n))
		return -1;
	if (!csv_needs_quotes(s, n))
		return buf_add(b, s, n);
	if (buf_addc(b, '"') == -1)
		goto fail;
	end = s + n;
	while (s < end) {
		if ((q = memchr(s, '"', (size_t)(end - s))) == NULL)
			q = end;
		if (buf_add(b, s, (size_t)(q - s)) == -1)
			goto fail;
		if (q < end && buf_add(b, "\"\"", 2) == -1)
			goto fail;
		s = q < end ? q + 1 : end;
	}
	if (buf_addc(b, '"') == -1)
		goto fail;
	return 0;
fail:
	csv_truncate(b, start);
	return -1;
}

int
csv_write_record(struct buf *b, const struct csv_field *f, size_t n)
{
	size_t	i, start = b->len;

	if (n == 0)
		return -1;
	if (n == 1 && f[0].len == 0)
		return buf_add(b, "\"\"\r\n", 4);
	for (i = 0; i < n; i++) {
		if (i > 0 && buf_addc(b, ',') == -1)
			goto fail;
		if (csv_write_field(b, f[i].s, f[i].len) == -1)
			goto fail;
	}
	if (buf_add(b, "\r\n", 2) == -1)
		goto fail;
	return 0;
fail:
	csv_truncate(b, start);
	return -1;
}

int
csv_list_join(struct buf *b, const struct csv_field *items, size_t n)
{
	size_t	i, start = b->len;

	for (i = 0; i < n; i++) {
		if (items[i].len == 0 || csv_is_blank(items[i].s[0]) ||
		    csv_is_blank(items[i].s[items[i].len - 1]) ||
		    memchr(items[i].s, ';', items[i].len) != NULL)
			goto fail;
		if (i > 0 && buf_addc(b, ';') == -1)
			goto fail;
		if (buf_add(b, items[i].s, items[i].len) == -1)
			goto fail;
	}
	return 0;
fail:
	csv_truncate(b, start);
	return -1;
}
