/* csv.h - RFC 4180 CSV for contact import and export: a streaming reader
 * fed in chunks of any size, a header-to-column map, ';'-separated list
 * cells, and a writer whose output the reader gives back field for field.
 * The reader owns its buffers; records point into them.  No message made
 * here ever quotes a field's content (privacy rule, DESIGN.md 1).
 *
 * Dialect read:
 * - fields separated by ',', records ended by LF or CRLF; the last record
 *   may lack a line end.  A CR not followed by LF outside quotes is an
 *   error (classic Mac files are refused, not guessed at).
 * - a field that starts with '"' is quoted: it ends at a lone '"', holds
 *   ',', CR and LF verbatim, and "" stands for one '"'.  After the closing
 *   quote only ',', a line end or the end of input may follow.  A '"'
 *   anywhere else in an unquoted field is an error.  Spaces are data.
 * - a UTF-8 BOM (EF BB BF) at the very start is skipped; elsewhere it is
 *   data.  Empty lines (nothing between two line ends) are skipped, so a
 *   record holding a single empty field must be written `""`.
 * - every field must be strict UTF-8 (utf8_valid) without NUL, at most
 *   max_field bytes after unescaping; a record has at most max_fields.
 * - lines are physical lines, 1-based, counted by LF (inside quoted fields
 *   too); a record and its error carry the line where the record starts.
 * After a bad record the reader skips to the next line end outside quotes
 * (quotes are tracked as above, a stray '"' counting as data) and goes on,
 * so the good rows of a file still come through. */
#ifndef OUTREACH_CSV_H
#define OUTREACH_CSV_H

#include <stddef.h>

struct buf;
struct csv_reader;

/* One field: len bytes at s, NUL-terminated (s[len] == '\0'). */
struct csv_field {
	const char	*s;
	size_t		 len;
};

struct csv_record {
	unsigned long		 line;		/* where the record starts */
	size_t			 nfields;	/* >= 1 for a record */
	const struct csv_field	*fields;	/* owned by the reader */
};

enum csv_err {
	CSV_ERR_NONE = 0,
	CSV_ERR_QUOTE,		/* '"' inside an unquoted field */
	CSV_ERR_AFTER_QUOTE,	/* text after a closing quote */
	CSV_ERR_UNTERMINATED,	/* quoted field still open at end of input */
	CSV_ERR_BARE_CR,	/* CR not followed by LF outside quotes */
	CSV_ERR_NUL,		/* NUL byte */
	CSV_ERR_UTF8,		/* field is not strict UTF-8 */
	CSV_ERR_FIELD_LONG,	/* field longer than max_field bytes */
	CSV_ERR_FIELDS,		/* more than max_fields fields */
	CSV_ERR_NOMEM,		/* out of memory */
};

struct csv_error {
	enum csv_err	 code;
	unsigned long	 line;		/* where the bad record starts */
	size_t		 field;		/* 1-based field number; 0: whole record */
	char		 reason[64];	/* e.g. "field longer than 1024 bytes" */
};

/* A reader for records of at most max_fields fields of at most max_field
 * bytes each (both >= 1); it holds at most about max_fields * max_field
 * bytes of one record.  Returns NULL on ENOMEM; free with
 * csv_reader_free(). */
struct csv_reader *csv_reader_new(size_t max_field, size_t max_fields);
/* Free the reader and everything it owns.  NULL is a no-op. */
void	csv_reader_free(struct csv_reader *);

/* Give the reader the next len bytes of input (copied; a record may be
 * split anywhere, even inside a CRLF or the BOM); eof != 0 says no more
 * will come.  Drain csv_next() between feeds: at most 64 MiB may wait
 * unparsed.  Returns 0, or -1 when that limit or memory ran out (nothing
 * taken) or input is fed after eof. */
int	csv_feed(struct csv_reader *, const char *data, size_t len, int eof);
/* Parse the next record from what has been fed.  Returns 1 and fills rec
 * (its fields stay valid until the next csv_next() or csv_reader_free();
 * csv_feed() does not move them); 0 when more input is needed, or, once
 * eof was fed, at the end; -1 for a bad record: rec->line is set,
 * rec->nfields is 0 and csv_reader_error() says why.  Call again after -1
 * to go on with the following records. */
int	csv_next(struct csv_reader *, struct csv_record *rec);
/* The error of the last -1 from csv_next() (code CSV_ERR_NONE before). */
const struct csv_error *csv_reader_error(const struct csv_reader *);
/* A short fixed text for code, e.g. "unterminated quoted field". */
const char *csv_strerror(enum csv_err);

/* --- header row ------------------------------------------------------ */

#define CSV_HEADER_MAX	64	/* columns a caller's table may name */

/* A column the caller knows: a lower-case name and whether it must be
 * present in the file. */
struct csv_column {
	const char	*name;
	int		 required;
};

/* The header row mapped onto the caller's column table. */
struct csv_header {
	const struct csv_column	*cols;		/* the caller's, not owned */
	size_t			 ncols;
	size_t			 nfields;	/* fields in the header row */
	unsigned long		 line;		/* the header row's line */
	int			 idx[CSV_HEADER_MAX]; /* cols[i] at field idx[i], -1: absent */
};

/* Map the header record onto cols[0..ncols) (ncols <= CSV_HEADER_MAX).
 * Names are compared after trimming spaces and tabs, ignoring ASCII case.
 * Every problem is appended to err as its own line ending in '\n':
 * "line 1: column 3: unknown column name" (unknown names are not quoted:
 * a file without a header would otherwise print a contact),
 * "line 1: column 4: empty column name",
 * "line 1: email: duplicate column (columns 2 and 5)",
 * "line 1: id: missing column".  Returns 0, or -1 if anything was wrong. */
int	csv_header_map(struct csv_header *, const struct csv_column *cols,
	    size_t ncols, const struct csv_record *hdr, struct buf *err);
/* 0 when rec has as many fields as the header row; otherwise appends
 * "line N: expected 12 fields, got 11\n" to err and returns -1. */
int	csv_header_check(const struct csv_header *, const struct csv_record *,
	    struct buf *err);
/* The field of rec in column cols[col], or NULL when the file lacks that
 * column (rec must have passed csv_header_check). */
const struct csv_field *csv_header_get(const struct csv_header *,
	    const struct csv_record *, size_t col);
/* The caller's name of the column at field index field (0-based), or
 * NULL when the header row's column there is not one of cols. */
const char *csv_header_name(const struct csv_header *, size_t field);

/* Append "line N: COLUMN: reason\n" for a reader error: COLUMN is the
 * header's name for the field, else "column K"; left out when the error
 * concerns the whole record.  h may be NULL.  Returns 0 or -1 (overflow). */
int	csv_error_format(struct buf *, const struct csv_error *,
	    const struct csv_header *h);

/* --- list cells ------------------------------------------------------ */

/* A cell holding a list, items separated by ';', e.g. "ti; am;en".
 * Items are trimmed of spaces and tabs; empty items are dropped. */
struct csv_list {
	const char	*p;
	const char	*end;
};

void	csv_list_init(struct csv_list *, const char *s, size_t n);
/* Returns 1 and the next item (pointing into the cell, not terminated),
 * or 0 when there are no more. */
int	csv_list_next(struct csv_list *, const char **item, size_t *len);

/* --- writer ---------------------------------------------------------- */

/* Append one field, quoted when it holds ',', '"', CR or LF, starts or
 * ends with a space or tab, or starts with a BOM (a quote doubled inside).
 * The writer does not defuse spreadsheet formulas (=, +, -, @): that
 * would not read back the same; validate such values upstream.  Refuses
 * (returns -1, b unchanged) a field with NUL or invalid UTF-8, which the
 * reader would refuse; also -1 on overflow.  Returns 0. */
int	csv_write_field(struct buf *b, const char *s, size_t n);
/* Append n >= 1 fields separated by ',' and ended by CRLF; a lone empty
 * field is written `""` so that it is not read as an empty line.
 * Returns 0, or -1 (b unchanged) when n is 0 or a field is refused. */
int	csv_write_record(struct buf *b, const struct csv_field *f, size_t n);
/* Append items joined by ';' to b, making a list cell (then written with
 * csv_write_field).  An item that would not read back the same is
 * refused: empty, holding ';', or starting or ending with a space or tab.
 * Upstream validators must therefore refuse ';' in list items (languages,
 * tags, subscriptions never need it).  Returns 0, or -1 (b unchanged). */
int	csv_list_join(struct buf *b, const struct csv_field *items, size_t n);

#endif
