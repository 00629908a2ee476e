/* contacts.c - outreachctl contacts: the directory's import and export as
 * CSV (include/csv.h), sent and fetched in batches over the control socket,
 * and the verbs that are one request each (add, remove, erase, unsubscribe,
 * resubscribe, list, show).  The daemon validates; we only carry cells.
 * Privacy (DESIGN.md 1): no message made here quotes a cell or a field;
 * only show and export print addresses, and the daemon audits both. */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "client.h"
#include "csv.h"
#include "frame.h"

#define CONTACTS_CHUNK		65536	/* bytes read from the file at once */
#define CONTACTS_BATCH		1000	/* rows per request, the daemon's max */
#define CONTACTS_CELL_MAX	(128u * 1024) /* bytes of one cell */
/* A request's estimated size above which the batch goes early, so a batch
 * of long rows stays well inside FRAME_MAX (one row alone always fits:
 * 16 cells of CONTACTS_CELL_MAX, escaped at worst 6 bytes for 1). */
#define CONTACTS_REQ_SOFT	(FRAME_MAX / 2)
#define CONTACTS_BAR		30	/* width of the progress bar */

/* The columns of a contacts CSV, in the order export writes them. */
static const struct csv_column contacts_cols[] = {
	{ "id", 1 },
	{ "name", 0 },
	{ "email", 0 },
	{ "webhook_url", 0 },
	{ "languages", 0 },
	{ "country", 0 },
	{ "region", 0 },
	{ "city", 0 },
	{ "tags", 0 },
	{ "subscriptions", 0 },
	{ "consent_at", 0 },
	{ "consent_source", 0 },
	{ "status", 0 },
	{ "test", 0 },
	{ "created_at", 0 },
	{ "updated_at", 0 },
};
#define CONTACTS_NCOLS	(sizeof(contacts_cols) / sizeof(contacts_cols[0]))

/* --- shared helpers --------------------------------------------------- */

/* Print s with control characters as '?': replies and files reach a
 * terminal, which must not take escape sequences from them. */
static void
contacts_put_safe(FILE *f, const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

static int
contacts_exit_code(const char *code)
{
	if (code == NULL)
		return EX_SOFTWARE;
	if (strcmp(code, "not_found") == 0)
		return EX_NOINPUT;
	if (strcmp(code, "exists") == 0 || strcmp(code, "bad_token") == 0 ||
	    strcmp(code, "bad_request") == 0 || strcmp(code, "invalid") == 0)
		return EX_DATAERR;
	if (strcmp(code, "busy") == 0 || strcmp(code, "journal") == 0)
		return EX_TEMPFAIL;
	if (strcmp(code, "forbidden") == 0)
		return EX_NOPERM;
	return EX_SOFTWARE;
}

/* Send req (not consumed; NULL means memory ran out) and return the reply
 * when "ok" is true (caller json_decref's it).  Otherwise NULL, the error
 * printed on stderr (and the reply on stdout with --json when dump is
 * set) and *exitcode set from the reply's code: 69 unreachable, 66
 * not_found, 65 exists/invalid/bad_token/bad_request, 75 busy/journal,
 * 70 anything else. */
static json_t *
contacts_call(const struct client_opts *o, json_t *req, int dump,
    int *exitcode)
{
	json_t		*reply;
	const char	*msg;
	char		 err[1024];

	if (req == NULL) {
		fprintf(stderr, "outreachctl: contacts: out of memory\n");
		*exitcode = EX_OSERR;
		return NULL;
	}
	if (ctl_request(o->socket, req, &reply, NULL, err, sizeof(err)) == -1) {
		fprintf(stderr, "outreachctl: %s\n", err);
		*exitcode = EX_UNAVAILABLE;
		return NULL;
	}
	if (json_is_true(json_object_get(reply, "ok"))) {
		*exitcode = 0;
		return reply;
	}
	if (o->json && dump) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	msg = json_string_value(json_object_get(reply, "error"));
	fputs("outreachctl: ", stderr);
	contacts_put_safe(stderr, msg != NULL ? msg : "request failed");
	fputc('\n', stderr);
	*exitcode = contacts_exit_code(json_string_value(json_object_get(reply,
	    "code")));
	json_decref(reply);
	return NULL;
}

static void
contacts_dump(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2));
	putchar('\n');
}

/* A whole number in [min, max] from s; 0 or -1. */
static int
contacts_number(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static long long
contacts_ms_since(const struct timespec *t)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - t->tv_sec) * 1000 +
	    (now.tv_nsec - t->tv_nsec) / 1000000;
}

static int
contacts_write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Ask "question [y/N]" on the terminal; 1 for yes. */
static int
contacts_confirm(const char *question)
{
	char	line[64];
	size_t	n;

	fprintf(stderr, "%s [y/N] ", question);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0;
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	return strcasecmp(line, "y") == 0 || strcasecmp(line, "yes") == 0;
}

/* --- import ------------------------------------------------------------ */

struct import_ctx {
	const struct client_opts *o;
	const char	*name;		/* the file as messages show it */
	int		 fd;
	long long	 size;		/* bytes, -1 when unknown */
	size_t		 batch;		/* rows per request */
	int		 dry_run;
	int		 show;		/* 0 nothing, 1 bar, 2 row counter */
	int		 drawn;		/* the bar is on the screen */
	struct timespec	 drawn_at;

	long long	 done;		/* bytes read in this pass */
	unsigned long	 rows;		/* records after the header, this pass */
	unsigned long	 last_line;	/* last line answered by the daemon */
	int		 sent;		/* a batch was answered in this pass */
	json_t		*pending;	/* rows of the batch being built */
	size_t		 est;		/* their estimated JSON size */
	json_t		*local;		/* our own errors for this batch */
	struct buf	 msg;		/* scratch for one error line */

	long long	 added, updated, unchanged, rejected;
	json_t		*errors;	/* every error line (--json), or NULL */
};

static void
import_undraw(struct import_ctx *ic)
{
	if (ic->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		ic->drawn = 0;
	}
}

/* Redraw the bar (bytes read against the file size) or the row counter,
 * at most about ten times a second unless force. */
static void
import_draw(struct import_ctx *ic, int force)
{
	char		bar[CONTACTS_BAR + 1];
	long long	pct;
	size_t		fill;

	if (ic->show == 0)
		return;
	if (ic->drawn && !force && contacts_ms_since(&ic->drawn_at) < 100)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ic->drawn_at);
	if (ic->show == 1) {
		pct = ic->size > 0 ? ic->done * 100 / ic->size : 100;
		if (pct > 100)
			pct = 100;
		fill = (size_t)pct * CONTACTS_BAR / 100;
		memset(bar, '#', fill);
		memset(bar + fill, '-', CONTACTS_BAR - fill);
		bar[CONTACTS_BAR] = '\0';
		fprintf(stderr, "\r[%s] %3lld%% %lu rows%s\033[K", bar, pct,
		    ic->rows, ic->dry_run ? " checked" : "");
	} else
		fprintf(stderr, "\r%lu rows%s\033[K", ic->rows,
		    ic->dry_run ? " checked" : "");
	fflush(stderr);
	ic->drawn = 1;
}

/* Bytes s[0..n) take at most this many as a JSON string. */
static size_t
import_json_size(const char *s, size_t n)
{
	size_t	i, e = n + 2;

	for (i = 0; i < n; i++)
		if (s[i] == '\b' || s[i] == '\f' || s[i] == '\n' ||
		    s[i] == '\r' || s[i] == '\t')
			e++;
		else if ((unsigned char)s[i] < 0x20)
			e += 5;
		else if (s[i] == '"' || s[i] == '\\')
			e++;
	return e;
}

/* One error line of our own ("line N: ..." with or without its '\n'),
 * kept until the batch's reply so lines print in file order. */
static int
import_local_error(struct import_ctx *ic, const char *s, size_t n)
{
	while (n > 0 && s[n - 1] == '\n')
		n--;
	ic->rejected++;
	return json_array_append_new(ic->local, json_stringn(s, n));
}

struct import_line {
	unsigned long	 line;
	size_t		 seq;
	const char	*text;
};

static int
import_line_cmp(const void *a, const void *b)
{
	const struct import_line	*x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Print our errors and the daemon's (derrs, may be NULL) by line. */
static void
import_print_errors(struct import_ctx *ic, json_t *derrs)
{
	struct import_line	*v;
	json_t			*arrs[2] = { ic->local, derrs }, *e;
	const char		*s;
	size_t			 n, i, k, a;

	n = json_array_size(ic->local) + json_array_size(derrs);
	if (n == 0)
		return;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return;
	k = 0;
	for (a = 0; a < 2; a++)
		json_array_foreach(arrs[a], i, e) {
			if ((s = json_string_value(e)) == NULL)
				continue;
			v[k].seq = k;
			v[k].text = s;
			v[k].line = ULONG_MAX;
			if (strncmp(s, "line ", 5) == 0 &&
			    isdigit((unsigned char)s[5]))
				v[k].line = strtoul(s + 5, NULL, 10);
			k++;
		}
	qsort(v, k, sizeof(*v), import_line_cmp);
	import_undraw(ic);
	for (i = 0; i < k; i++) {
		contacts_put_safe(stderr, v[i].text);
		fputc('\n', stderr);
		if (ic->errors != NULL)
			json_array_append_new(ic->errors,
			    json_string(v[i].text));
	}
	free(v);
}

/* Send the rows waiting (if any), add up the reply and print the errors.
 * Returns 0 or an exit code (the failure printed). */
static int
import_flush(struct import_ctx *ic)
{
	json_t	*req, *reply = NULL, *last;
	int	 rc = 0;

	if (json_array_size(ic->pending) > 0) {
		req = json_pack("{s:s,s:O,s:b}", "cmd", "contacts-import",
		    "rows", ic->pending, "dry_run", ic->dry_run);
		reply = contacts_call(ic->o, req, 0, &rc);
		json_decref(req);
		if (reply == NULL) {
			import_undraw(ic);
			return rc;
		}
		ic->added += json_integer_value(json_object_get(reply,
		    "added"));
		ic->updated += json_integer_value(json_object_get(reply,
		    "updated"));
		ic->unchanged += json_integer_value(json_object_get(reply,
		    "unchanged"));
		ic->rejected += json_integer_value(json_object_get(reply,
		    "rejected"));
		last = json_array_get(ic->pending,
		    json_array_size(ic->pending) - 1);
		ic->last_line = (unsigned long)json_integer_value(
		    json_object_get(last, "line"));
		ic->sent = 1;
	}
	import_print_errors(ic, json_object_get(reply, "errors"));
	json_decref(reply);
	json_array_clear(ic->pending);
	json_array_clear(ic->local);
	ic->est = 0;
	return 0;
}

/* The record as a row {"line": N, "cells": {column: value}}, empty cells
 * left out; *size receives its estimated JSON size.  NULL on ENOMEM. */
static json_t *
import_row(const struct csv_header *h, const struct csv_record *rec,
    size_t *size)
{
	const struct csv_field	*f;
	json_t			*cells, *v;
	size_t			 i, est = 40;

	if ((cells = json_object()) == NULL)
		return NULL;
	for (i = 0; i < CONTACTS_NCOLS; i++) {
		f = csv_header_get(h, rec, i);
		if (f == NULL || f->len == 0)
			continue;
		/* The reader passed only strict UTF-8 without NUL. */
		if ((v = json_stringn(f->s, f->len)) == NULL ||
		    json_object_set_new(cells, contacts_cols[i].name, v) == -1) {
			json_decref(cells);
			return NULL;
		}
		est += strlen(contacts_cols[i].name) + 4 +
		    import_json_size(f->s, f->len);
	}
	*size = est;
	return json_pack("{s:I,s:o}", "line", (json_int_t)rec->line,
	    "cells", cells);
}

/* The header row: map it or say everything that is wrong with it. */
static int
import_header(struct import_ctx *ic, struct csv_reader *r, int k,
    const struct csv_record *rec, struct csv_header *h)
{
	json_t	*j;

	buf_reset(&ic->msg);
	if (k == -1)
		csv_error_format(&ic->msg, csv_reader_error(r), NULL);
	else if (csv_header_map(h, contacts_cols, CONTACTS_NCOLS, rec,
	    &ic->msg) == 0)
		return 0;
	import_undraw(ic);
	fprintf(stderr, "outreachctl: contacts import: %s: bad header row "
	    "(see 'contacts import --help' for the column names); nothing "
	    "imported:\n", ic->name);
	/* csv.c's own lines: names and numbers, never a cell. */
	fputs(ic->msg.data != NULL ? ic->msg.data : "", stderr);
	if (ic->o->json) {
		j = json_pack("{s:b,s:s,s:s*}", "ok", 0, "code", "bad_header",
		    "error", ic->msg.data);
		if (j != NULL)
			contacts_dump(j);
		json_decref(j);
	}
	return EX_DATAERR;
}

/* One reading of the whole file, sending batches as they fill.  Returns 0
 * or an exit code (the failure printed). */
static int
import_pass(struct import_ctx *ic)
{
	struct csv_reader	*r;
	struct csv_record	 rec;
	struct csv_header	 h;
	json_t			*row;
	char			*chunk = NULL;
	ssize_t			 n;
	size_t			 size;
	int			 k, eof = 0, have_header = 0, rc = EX_OSERR;

	ic->done = 0;
	ic->rows = 0;
	ic->sent = 0;
	ic->last_line = 0;
	if ((r = csv_reader_new(CONTACTS_CELL_MAX, CSV_HEADER_MAX)) == NULL ||
	    (chunk = malloc(CONTACTS_CHUNK)) == NULL) {
		fprintf(stderr, "outreachctl: contacts import: out of "
		    "memory\n");
		goto out;
	}
	import_draw(ic, 1);
	while (!eof) {
		if ((n = read(ic->fd, chunk, CONTACTS_CHUNK)) == -1) {
			if (errno == EINTR)
				continue;
			import_undraw(ic);
			fprintf(stderr, "outreachctl: contacts import: %s: "
			    "%s\n", ic->name, strerror(errno));
			rc = EX_IOERR;
			goto out;
		}
		eof = n == 0;
		ic->done += n;
		if (csv_feed(r, chunk, (size_t)n, eof) == -1) {
			import_undraw(ic);
			fprintf(stderr, "outreachctl: contacts import: %s: out "
			    "of memory\n", ic->name);
			goto out;
		}
		while ((k = csv_next(r, &rec)) != 0) {
			if (!have_header) {
				if ((rc = import_header(ic, r, k, &rec,
				    &h)) != 0)
					goto out;
				have_header = 1;
				continue;
			}
			ic->rows++;
			buf_reset(&ic->msg);
			if (k == -1) {
				csv_error_format(&ic->msg,
				    csv_reader_error(r), &h);
				import_local_error(ic, ic->msg.data,
				    ic->msg.len);
			} else if (csv_header_check(&h, &rec,
			    &ic->msg) == -1)
				import_local_error(ic, ic->msg.data,
				    ic->msg.len);
			else {
				if ((row = import_row(&h, &rec,
				    &size)) == NULL) {
					import_undraw(ic);
					fprintf(stderr, "outreachctl: contacts "
					    "import: out of memory\n");
					rc = EX_OSERR;
					goto out;
				}
				if (ic->est + size > CONTACTS_REQ_SOFT &&
				    (rc = import_flush(ic)) != 0) {
					json_decref(row);
					goto out;
				}
				json_array_append_new(ic->pending, row);
				ic->est += size;
			}
			if ((json_array_size(ic->pending) >= ic->batch ||
			    json_array_size(ic->local) >= ic->batch) &&
			    (rc = import_flush(ic)) != 0)
				goto out;
			import_draw(ic, 0);
		}
		import_draw(ic, 0);
	}
	if (!have_header) {
		import_undraw(ic);
		fprintf(stderr, "outreachctl: contacts import: %s: empty file; "
		    "the first row must name the columns (id, email, ...)\n",
		    ic->name);
		rc = EX_DATAERR;
		goto out;
	}
	if ((rc = import_flush(ic)) != 0)
		goto out;
	import_draw(ic, 1);
	import_undraw(ic);
	rc = 0;
out:
	free(chunk);
	csv_reader_free(r);
	return rc;
}

/* stdin that cannot be read twice goes to an unlinked file first (mode
 * 0600: it holds personal data).  Returns the descriptor or -1. */
static int
import_spool(int in)
{
	FILE	*t;
	char	 chunk[CONTACTS_CHUNK];
	ssize_t	 n;
	int	 fd;

	if ((t = tmpfile()) == NULL)
		return -1;
	if ((fd = dup(fileno(t))) == -1) {
		fclose(t);
		return -1;
	}
	fclose(t);
	for (;;) {
		if ((n = read(in, chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (n == 0)
			return lseek(fd, 0, SEEK_SET) == 0 ? fd : -1;
		if (contacts_write_all(fd, chunk, (size_t)n) == -1)
			break;
	}
	close(fd);
	return -1;
}

static void
import_summary(struct import_ctx *ic, int complete)
{
	json_t	*j;

	if (ic->o->json) {
		j = json_pack("{s:I,s:I,s:I,s:I,s:O}", "added",
		    (json_int_t)ic->added, "updated", (json_int_t)ic->updated,
		    "unchanged", (json_int_t)ic->unchanged, "rejected",
		    (json_int_t)ic->rejected, "errors", ic->errors);
		if (j == NULL)
			return;
		if (ic->dry_run) {
			json_object_set_new(j, "dry_run", json_true());
			json_object_set_new(j, "imported", json_false());
		}
		if (!complete) {
			json_object_set_new(j, "complete", json_false());
			json_object_set_new(j, "last_line",
			    json_integer((json_int_t)ic->last_line));
		}
		contacts_dump(j);
		json_decref(j);
		return;
	}
	if (ic->dry_run)
		printf("checked %lu rows: rejected %lld (would add %lld, update "
		    "%lld, leave %lld unchanged); nothing imported (--strict)\n",
		    ic->rows, ic->rejected, ic->added, ic->updated,
		    ic->unchanged);
	else if (!complete)
		fprintf(stderr, "outreachctl: contacts import stopped; rows up "
		    "to line %lu were taken: added %lld, updated %lld, "
		    "unchanged %lld, rejected %lld\n", ic->last_line, ic->added,
		    ic->updated, ic->unchanged, ic->rejected);
	else
		printf("added %lld, updated %lld, unchanged %lld, rejected "
		    "%lld\n", ic->added, ic->updated, ic->unchanged,
		    ic->rejected);
}

static void
import_usage(FILE *f)
{
	fprintf(f, "usage: outreachctl contacts import [--strict] [--batch N] "
	    "FILE.csv | -\n"
	    "\n"
	    "Adds or updates contacts from a CSV file (RFC 4180, UTF-8, "
	    "',' between\nfields, LF or CRLF).  The first row names the "
	    "columns, in any order;\n'id' is required:\n"
	    "  id name email webhook_url languages country region city tags\n"
	    "  subscriptions consent_at consent_source status test created_at "
	    "updated_at\n"
	    "Lists (languages, tags, subscriptions) are separated by ';'.  An "
	    "empty\ncell leaves the field out.  'contacts export' writes this "
	    "format.\n"
	    "\n"
	    "  --strict    check the whole file first (nothing is imported "
	    "if a row\n"
	    "              is wrong), then import it\n"
	    "  --batch N   rows per request (1-1000, default 1000)\n"
	    "  --json      print the summary as JSON\n"
	    "\n"
	    "Each refused row is reported as \"line N: COLUMN: reason\" on "
	    "stderr; the\nothers are imported.  Exit: 0 all rows taken, 65 "
	    "some rows refused (or\na bad header: nothing sent), 66 no such "
	    "file, 69 daemon unreachable.\n");
}

static int
contacts_import(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "strict", no_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct import_ctx	 ic;
	struct stat		 st;
	long			 v;
	int			 ch, strict = 0, fd = -1, rc = EX_USAGE, tmp;

	memset(&ic, 0, sizeof(ic));
	ic.o = o;
	ic.batch = CONTACTS_BATCH;
	buf_init(&ic.msg, 65536);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "sb:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			strict = 1;
			break;
		case 'b':
			if (contacts_number(optarg, 1, CONTACTS_BATCH,
			    &v) == -1) {
				fprintf(stderr, "outreachctl: contacts import: "
				    "--batch: a number from 1 to %d\n",
				    CONTACTS_BATCH);
				goto out;
			}
			ic.batch = (size_t)v;
			break;
		case 'h':
			import_usage(stdout);
			rc = 0;
			goto out;
		default:
			import_usage(stderr);
			goto out;
		}
	}
	if (argc - optind != 1) {
		import_usage(stderr);
		goto out;
	}
	if (strcmp(argv[optind], "-") == 0) {
		ic.name = "stdin";
		fd = STDIN_FILENO;
	} else {
		ic.name = argv[optind];
		if ((fd = open(ic.name, O_RDONLY | O_CLOEXEC)) == -1) {
			fprintf(stderr, "outreachctl: contacts import: %s: "
			    "%s\n", ic.name, strerror(errno));
			rc = EX_NOINPUT;
			goto out;
		}
	}
	if (fstat(fd, &st) == -1 || (S_ISDIR(st.st_mode) &&
	    (errno = EISDIR))) {
		fprintf(stderr, "outreachctl: contacts import: %s: %s\n",
		    ic.name, strerror(errno));
		rc = EX_NOINPUT;
		goto out;
	}
	ic.size = -1;
	if (S_ISREG(st.st_mode) && lseek(fd, 0, SEEK_CUR) != -1)
		ic.size = (long long)st.st_size - lseek(fd, 0, SEEK_CUR);
	if (strict && ic.size < 0) {
		if ((tmp = import_spool(fd)) == -1) {
			fprintf(stderr, "outreachctl: contacts import: %s: "
			    "cannot keep a copy for --strict: %s\n", ic.name,
			    strerror(errno));
			rc = EX_IOERR;
			goto out;
		}
		if (fd != STDIN_FILENO)
			close(fd);
		fd = tmp;
		ic.size = fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
	}
	ic.fd = fd;
	if (!o->json && isatty(STDERR_FILENO))
		ic.show = ic.size >= 0 ? 1 : 2;
	ic.pending = json_array();
	ic.local = json_array();
	if (o->json)
		ic.errors = json_array();
	if (ic.pending == NULL || ic.local == NULL ||
	    (o->json && ic.errors == NULL)) {
		rc = EX_OSERR;
		goto out;
	}
	if (strict) {
		off_t	start = lseek(fd, 0, SEEK_CUR);

		ic.dry_run = 1;
		if ((rc = import_pass(&ic)) != 0)
			goto out;
		if (ic.rejected > 0) {
			import_summary(&ic, 1);
			rc = EX_DATAERR;
			goto out;
		}
		if (lseek(fd, start, SEEK_SET) == -1) {
			fprintf(stderr, "outreachctl: contacts import: %s: "
			    "cannot read it again: %s\n", ic.name,
			    strerror(errno));
			rc = EX_IOERR;
			goto out;
		}
		ic.added = ic.updated = ic.unchanged = ic.rejected = 0;
		ic.dry_run = 0;
	}
	if ((rc = import_pass(&ic)) != 0) {
		/* A bad header sent nothing; later failures report what the
		 * daemon took before them. */
		if (ic.sent)
			import_summary(&ic, 0);
		goto out;
	}
	import_summary(&ic, 1);
	rc = ic.rejected > 0 ? EX_DATAERR : 0;
out:
	if (fd != -1 && fd != STDIN_FILENO)
		close(fd);
	json_decref(ic.pending);
	json_decref(ic.local);
	json_decref(ic.errors);
	buf_free(&ic.msg);
	return rc;
}

/* --- export ------------------------------------------------------------ */

/* Append cell value v (a string, list, boolean or number from the daemon;
 * NULL or null: empty) to line as one CSV field.  0 or -1. */
static int
export_cell(struct buf *line, struct buf *tmp, json_t *v)
{
	struct csv_field	*items = NULL;
	json_t			*e;
	size_t			 i, n;
	int			 rc = -1;

	buf_reset(tmp);
	if (v == NULL || json_is_null(v))
		;
	else if (json_is_string(v)) {
		if (buf_add(tmp, json_string_value(v),
		    json_string_length(v)) == -1)
			goto out;
	} else if (json_is_boolean(v)) {
		if (buf_adds(tmp, json_is_true(v) ? "true" : "false") == -1)
			goto out;
	} else if (json_is_integer(v)) {
		if (buf_printf(tmp, "%lld",
		    (long long)json_integer_value(v)) == -1)
			goto out;
	} else if (json_is_array(v)) {
		n = json_array_size(v);
		if (n > 0 && (items = calloc(n, sizeof(*items))) == NULL)
			goto out;
		json_array_foreach(v, i, e) {
			if (!json_is_string(e))
				goto out;
			items[i].s = json_string_value(e);
			items[i].len = json_string_length(e);
		}
		if (n > 0 && csv_list_join(tmp, items, n) == -1)
			goto out;
	} else
		goto out;
	rc = csv_write_field(line, tmp->data != NULL ? tmp->data : "",
	    tmp->len);
out:
	free(items);
	return rc;
}

/* Append one contact as a CSV record; -1 with *bad naming the column that
 * cannot be written. */
static int
export_record(struct buf *line, struct buf *tmp, json_t *c, const char **bad)
{
	size_t	i;

	for (i = 0; i < CONTACTS_NCOLS; i++) {
		if (i > 0 && buf_addc(line, ',') == -1)
			goto fail;
		if (export_cell(line, tmp, json_object_get(c,
		    contacts_cols[i].name)) == -1)
			goto fail;
	}
	return buf_adds(line, "\r\n");
fail:
	*bad = contacts_cols[i < CONTACTS_NCOLS ? i : 0].name;
	return -1;
}

static void
export_usage(FILE *f)
{
	fprintf(f, "usage: outreachctl contacts export [--force] [FILE]\n"
	    "\n"
	    "Writes every contact, addresses included, as CSV to FILE (mode "
	    "0600,\nwritten whole then renamed into place) or to stdout.  "
	    "The daemon writes\nan audit entry.  'contacts import' of the "
	    "file restores the same state.\n"
	    "  --force   replace FILE if it exists\n"
	    "  --json    with FILE: print the summary as JSON\n");
}

static int
contacts_export(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct csv_field	 hdr[CONTACTS_NCOLS];
	struct buf		 line, tmp, path;
	struct timespec		 drawn_at;
	const char		*file = NULL, *bad = "?", *id;
	json_t			*req, *reply = NULL, *next = NULL, *list, *c;
	long long		 count = 0;
	size_t			 i;
	int			 ch, force = 0, fd = -1, rc = EX_USAGE, show = 0;
	int			 drawn = 0;

	buf_init(&line, 0);
	buf_init(&tmp, 0);
	buf_init(&path, 8192);
	optind = 0;
	while ((ch = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			force = 1;
			break;
		case 'h':
			export_usage(stdout);
			rc = 0;
			goto out;
		default:
			export_usage(stderr);
			goto out;
		}
	}
	if (argc - optind > 1) {
		export_usage(stderr);
		goto out;
	}
	if (argc - optind == 1 && strcmp(argv[optind], "-") != 0)
		file = argv[optind];
	if (file != NULL) {
		if (!force && access(file, F_OK) == 0) {
			fprintf(stderr, "outreachctl: contacts export: %s "
			    "exists; choose another name or use --force\n",
			    file);
			rc = EX_CANTCREAT;
			goto out;
		}
		if (buf_printf(&path, "%s.XXXXXX", file) == -1) {
			fprintf(stderr, "outreachctl: contacts export: %s: "
			    "name too long\n", file);
			rc = EX_CANTCREAT;
			goto out;
		}
		if ((fd = mkostemp(path.data, O_CLOEXEC)) == -1 ||
		    fchmod(fd, 0600) == -1) {
			fprintf(stderr, "outreachctl: contacts export: %s: "
			    "%s\n", path.data, strerror(errno));
			rc = EX_CANTCREAT;
			goto out;
		}
		show = !o->json && isatty(STDERR_FILENO);
	} else
		fd = STDOUT_FILENO;

	for (i = 0; i < CONTACTS_NCOLS; i++) {
		hdr[i].s = contacts_cols[i].name;
		hdr[i].len = strlen(contacts_cols[i].name);
	}
	if (csv_write_record(&line, hdr, CONTACTS_NCOLS) == -1)
		goto nomem;
	clock_gettime(CLOCK_MONOTONIC, &drawn_at);
	for (;;) {
		req = json_pack("{s:s,s:i}", "cmd", "contacts-export", "limit",
		    CONTACTS_BATCH);
		if (req != NULL && next != NULL)
			json_object_set(req, "after", next);
		reply = contacts_call(o, req, 1, &rc);
		json_decref(req);
		if (reply == NULL)
			goto out;
		list = json_object_get(reply, "contacts");
		json_array_foreach(list, i, c) {
			if (export_record(&line, &tmp, c, &bad) == -1) {
				if (line.overflow || tmp.overflow)
					goto nomem;
				id = json_string_value(json_object_get(c,
				    "id"));
				fprintf(stderr, "outreachctl: contacts export: "
				    "contact %s: %s: cannot be written as CSV; "
				    "nothing exported\n", id != NULL ? id : "?",
				    bad);
				rc = EX_DATAERR;
				goto out;
			}
			count++;
		}
		if (line.len > 0 && contacts_write_all(fd, line.data,
		    line.len) == -1) {
			fprintf(stderr, "outreachctl: contacts export: %s: "
			    "%s\n", file != NULL ? path.data : "stdout",
			    strerror(errno));
			rc = EX_IOERR;
			goto out;
		}
		buf_reset(&line);
		if (show && contacts_ms_since(&drawn_at) >= 100) {
			fprintf(stderr, "\r%lld contacts\033[K", count);
			drawn = 1;
			clock_gettime(CLOCK_MONOTONIC, &drawn_at);
		}
		c = json_object_get(reply, "next");
		if (c == NULL || json_is_null(c))
			break;
		if (json_array_size(list) == 0 ||
		    (next != NULL && json_equal(next, c))) {
			fprintf(stderr, "outreachctl: contacts export: the "
			    "daemon's paging does not advance\n");
			rc = EX_PROTOCOL;
			goto out;
		}
		json_decref(next);
		next = json_incref(c);
		json_decref(reply);
		reply = NULL;
	}
	if (drawn)
		fputs("\r\033[K", stderr);
	drawn = 0;
	if (file != NULL) {
		if (fsync(fd) == -1 || close(fd) == -1) {
			fd = -1;
			fprintf(stderr, "outreachctl: contacts export: %s: "
			    "%s\n", path.data, strerror(errno));
			rc = EX_IOERR;
			goto out;
		}
		fd = -1;
		/* Without --force, a file made meanwhile is not replaced. */
		if ((force ? rename(path.data, file) : renameat2(AT_FDCWD,
		    path.data, AT_FDCWD, file, RENAME_NOREPLACE)) == -1) {
			fprintf(stderr, "outreachctl: contacts export: %s: "
			    "%s\n", file, strerror(errno));
			rc = EX_CANTCREAT;
			goto out;
		}
		buf_reset(&path);
		if (o->json) {
			c = json_pack("{s:s,s:I}", "file", file, "contacts",
			    (json_int_t)count);
			if (c != NULL)
				contacts_dump(c);
			json_decref(c);
		} else
			printf("exported %lld contacts to %s\n", count, file);
	}
	rc = 0;
	goto out;
nomem:
	fprintf(stderr, "outreachctl: contacts export: out of memory\n");
	rc = EX_OSERR;
out:
	if (drawn)
		fputs("\r\033[K", stderr);
	if (fd != -1 && fd != STDOUT_FILENO)
		close(fd);
	if (path.len > 0)
		unlink(path.data);
	json_decref(reply);
	json_decref(next);
	buf_free(&line);
	buf_free(&tmp);
	buf_free(&path);
	return rc;
}

/* --- add --------------------------------------------------------------- */

enum {
	ADD_ID = 256, ADD_NAME, ADD_EMAIL, ADD_WEBHOOK_URL, ADD_LANGUAGES,
	ADD_COUNTRY, ADD_REGION, ADD_CITY, ADD_TAGS, ADD_SUBSCRIPTIONS,
	ADD_CONSENT_AT, ADD_CONSENT_SOURCE, ADD_STATUS, ADD_TEST, ADD_JSON,
};

/* Field names by option, ADD_ID.. ADD_STATUS. */
static const char *const add_fields[] = { "id", "name", "email",
    "webhook_url", "languages", "country", "region", "city", "tags",
    "subscriptions", "consent_at", "consent_source", "status" };

/* A list flag: items split on ';' or ',', trimmed, empty ones dropped.
 * NULL when an item is not UTF-8 or memory ran out. */
static json_t *
add_list(const char *s)
{
	json_t		*a, *v;
	const char	*b, *e;
	size_t		 n;

	if ((a = json_array()) == NULL)
		return NULL;
	while (*s != '\0') {
		n = strcspn(s, ";,");
		b = s;
		e = s + n;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > b && ((v = json_stringn(b, (size_t)(e - b))) == NULL ||
		    json_array_append_new(a, v) == -1)) {
			json_decref(a);
			return NULL;
		}
		s += n;
		if (*s != '\0')
			s++;
	}
	return a;
}

/* The contact object from FILE or stdin ("-"); NULL with the error
 * printed and *rc set.  jansson's "near '...'" is cut: it may quote an
 * address. */
static json_t *
add_load(const char *path, int *rc)
{
	json_error_t	 je;
	json_t		*j;
	FILE		*f;
	char		*near;

	if (strcmp(path, "-") == 0)
		f = stdin;
	else if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "outreachctl: contacts add: %s: %s\n", path,
		    strerror(errno));
		*rc = EX_NOINPUT;
		return NULL;
	}
	j = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	if (f != stdin)
		fclose(f);
	if (j == NULL) {
		if ((near = strstr(je.text, " near ")) != NULL)
			*near = '\0';
		fprintf(stderr, "outreachctl: contacts add: %s: line %d column "
		    "%d: not valid JSON: %s\n", f == stdin ? "stdin" : path,
		    je.line, je.column, je.text);
		*rc = EX_DATAERR;
		return NULL;
	}
	if (!json_is_object(j)) {
		fprintf(stderr, "outreachctl: contacts add: %s: not a JSON "
		    "object\n", f == stdin ? "stdin" : path);
		json_decref(j);
		*rc = EX_DATAERR;
		return NULL;
	}
	return j;
}

static void
add_usage(FILE *f)
{
	fprintf(f, "usage: outreachctl contacts add [FIELDS] [--json=FILE | "
	    "FILE | -]\n"
	    "\n"
	    "Adds one contact, from a JSON object (FILE, or stdin with -) "
	    "and/or the\nflags below, which override the object's fields.  "
	    "The daemon checks it\n(an id, and an email or a webhook_url, are "
	    "required); an existing id is\nrefused (exit 65).\n"
	    "  --id ID                   --name TEXT\n"
	    "  --email ADDRESS           --webhook-url URL\n"
	    "  --languages \"en;fr\"       --country CC (ISO 3166-1, e.g. PH)\n"
	    "  --region TEXT             --city TEXT\n"
	    "  --tags \"a;b\"              --subscriptions \"embassy.ph.;...\"\n"
	    "  --consent-at RFC3339      --consent-source TEXT\n"
	    "  --status active|unsubscribed|bounced\n"
	    "  --test                    a test contact\n"
	    "Lists are split on ';' or ','.\n");
}

static int
contacts_add(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "id", required_argument, NULL, ADD_ID },
		{ "name", required_argument, NULL, ADD_NAME },
		{ "email", required_argument, NULL, ADD_EMAIL },
		{ "webhook-url", required_argument, NULL, ADD_WEBHOOK_URL },
		{ "languages", required_argument, NULL, ADD_LANGUAGES },
		{ "country", required_argument, NULL, ADD_COUNTRY },
		{ "region", required_argument, NULL, ADD_REGION },
		{ "city", required_argument, NULL, ADD_CITY },
		{ "tags", required_argument, NULL, ADD_TAGS },
		{ "subscriptions", required_argument, NULL, ADD_SUBSCRIPTIONS },
		{ "consent-at", required_argument, NULL, ADD_CONSENT_AT },
		{ "consent-source", required_argument, NULL,
		    ADD_CONSENT_SOURCE },
		{ "status", required_argument, NULL, ADD_STATUS },
		{ "test", no_argument, NULL, ADD_TEST },
		{ "json", required_argument, NULL, ADD_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*src = NULL, *id;
	json_t		*flags, *contact = NULL, *req, *reply, *v, *fv;
	const char	*k;
	int		 ch, rc = EX_USAGE, nflags = 0;

	if ((flags = json_object()) == NULL)
		return EX_OSERR;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case ADD_JSON:
			src = optarg;
			continue;
		case 'h':
			add_usage(stdout);
			rc = 0;
			goto out;
		case ADD_TEST:
			k = "test";
			v = json_true();
			break;
		case ADD_LANGUAGES:
		case ADD_TAGS:
		case ADD_SUBSCRIPTIONS:
			k = add_fields[ch - ADD_ID];
			v = add_list(optarg);
			break;
		default:
			if (ch < ADD_ID || ch > ADD_STATUS) {
				add_usage(stderr);
				goto out;
			}
			k = add_fields[ch - ADD_ID];
			v = json_string(optarg);
		}
		if (v == NULL) {
			fprintf(stderr, "outreachctl: contacts add: --%s: not "
			    "valid UTF-8\n", k);
			rc = EX_DATAERR;
			goto out;
		}
		json_object_set_new(flags, k, v);
		nflags++;
	}
	if (argc - optind > 1 || (argc - optind == 1 && src != NULL)) {
		add_usage(stderr);
		goto out;
	}
	if (argc - optind == 1)
		src = argv[optind];
	if (src == NULL && nflags == 0) {
		add_usage(stderr);
		goto out;
	}
	if (src != NULL) {
		if ((contact = add_load(src, &rc)) == NULL)
			goto out;
	} else if ((contact = json_object()) == NULL) {
		rc = EX_OSERR;
		goto out;
	}
	json_object_foreach(flags, k, fv)
		json_object_set(contact, k, fv);
	req = json_pack("{s:s,s:O}", "cmd", "contacts-add", "contact", contact);
	reply = contacts_call(o, req, 1, &rc);
	json_decref(req);
	if (reply == NULL)
		goto out;
	if (o->json)
		contacts_dump(reply);
	else {
		id = json_string_value(json_object_get(reply, "id"));
		if (id == NULL)
			id = json_string_value(json_object_get(contact, "id"));
		printf("added %s\n", id != NULL ? id : "the contact");
	}
	json_decref(reply);
	rc = 0;
out:
	json_decref(flags);
	json_decref(contact);
	return rc;
}

/* --- remove, erase, unsubscribe, resubscribe --------------------------- */

enum one_kind { ONE_REMOVE, ONE_ERASE, ONE_UNSUBSCRIBE, ONE_RESUBSCRIBE };

static const struct {
	const char	*verb;
	const char	*cmd;
	const char	*done;
	const char	*usage;
} one_verbs[] = {
	[ONE_REMOVE] = { "remove", "contacts-remove", "removed",
	    "usage: outreachctl contacts remove [--yes] ID\n\nDeletes the "
	    "contact from the directory; it receives nothing more.  Asks\n"
	    "first on a terminal unless --yes.  To also remove what the "
	    "deliveries\nrecorded about the person, use 'contacts erase'.\n" },
	[ONE_ERASE] = { "erase", "contacts-erase",
	    "erased (personal data removed, anonymous counts kept):",
	    "usage: outreachctl contacts erase [--yes] ID\n\nErases the "
	    "person: removes their data (the contact and what deliveries "
	    "to\nthem recorded) and keeps only anonymous counts.  This cannot "
	    "be undone.\nAsks first on a terminal unless --yes.\n" },
	[ONE_UNSUBSCRIBE] = { "unsubscribe", "contacts-unsubscribe",
	    "unsubscribed",
	    "usage: outreachctl contacts unsubscribe ID | --token TOKEN\n\n"
	    "Marks the contact unsubscribed (they receive nothing until "
	    "resubscribed).\nWith --token, the contact is the one named by "
	    "an unsubscribe link's token.\n" },
	[ONE_RESUBSCRIBE] = { "resubscribe", "contacts-resubscribe",
	    "resubscribed",
	    "usage: outreachctl contacts resubscribe ID\n\nMarks an "
	    "unsubscribed contact active again (for example when they asked "
	    "for it).\n" },
};

static int
contacts_one(const struct client_opts *o, int argc, char **argv,
    enum one_kind kind)
{
	static const struct option longopts[] = {
		{ "yes", no_argument, NULL, 'y' },
		{ "token", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*token = NULL, *id = NULL, *rid;
	json_t		*req, *reply;
	char		 q[256];
	int		 ch, yes = 0, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "yh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'y':
			yes = 1;
			if (kind == ONE_REMOVE || kind == ONE_ERASE)
				break;
			goto bad;
		case 't':
			token = optarg;
			if (kind == ONE_UNSUBSCRIBE)
				break;
			goto bad;
		case 'h':
			fputs(one_verbs[kind].usage, stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (argc - optind == 1 && token == NULL)
		id = argv[optind];
	else if (argc - optind != 0 || token == NULL)
		goto bad;
	if ((kind == ONE_REMOVE || kind == ONE_ERASE) && !yes &&
	    isatty(STDIN_FILENO) && isatty(STDERR_FILENO)) {
		if (kind == ONE_ERASE)
			snprintf(q, sizeof(q), "Erase contact %s? This removes "
			    "the person's data and keeps only anonymous "
			    "counts; it cannot be undone.", id);
		else
			snprintf(q, sizeof(q), "Remove contact %s?", id);
		if (!contacts_confirm(q)) {
			fprintf(stderr, "outreachctl: contacts %s: not "
			    "confirmed; nothing changed\n",
			    one_verbs[kind].verb);
			return 1;
		}
	}
	req = json_pack("{s:s,s:s*,s:s*}", "cmd", one_verbs[kind].cmd, "id",
	    id, "token", token);
	reply = contacts_call(o, req, 1, &rc);
	json_decref(req);
	if (reply == NULL)
		return rc;
	if (o->json)
		contacts_dump(reply);
	else {
		rid = json_string_value(json_object_get(reply, "id"));
		if (rid == NULL)
			rid = id;
		printf("%s %s\n", one_verbs[kind].done, rid != NULL ? rid :
		    "the contact");
	}
	json_decref(reply);
	return 0;
bad:
	fputs(one_verbs[kind].usage, stderr);
	return EX_USAGE;
}

/* --- list, show -------------------------------------------------------- */

/* Characters (UTF-8 code points) in s, for column widths. */
static int
list_width(const char *s)
{
	int	n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

static void
list_print(json_t *page, int names)
{
	json_t		*c;
	const char	*s;
	size_t		 i;
	int		 wid = 8, wname = 4, w;

	json_array_foreach(page, i, c) {
		if ((s = json_string_value(json_object_get(c, "id"))) != NULL &&
		    (w = list_width(s)) > wid)
			wid = w;
		if ((s = json_string_value(json_object_get(c, "name"))) !=
		    NULL && (w = list_width(s)) > wname)
			wname = w < 40 ? w : 40;
	}
	json_array_foreach(page, i, c) {
		s = json_string_value(json_object_get(c, "id"));
		contacts_put_safe(stdout, s != NULL ? s : "?");
		printf("%*s  ", wid - list_width(s != NULL ? s : "?"), "");
		if (names) {
			s = json_string_value(json_object_get(c, "name"));
			contacts_put_safe(stdout, s != NULL ? s : "-");
			w = list_width(s != NULL ? s : "-");
			printf("%*s  ", w < wname ? wname - w : 0, "");
		}
		s = json_string_value(json_object_get(c, "status"));
		contacts_put_safe(stdout, s != NULL ? s : "?");
		putchar('\n');
	}
}

static void
list_usage(FILE *f)
{
	fprintf(f, "usage: outreachctl contacts list [--topic T] [--country CC] "
	    "[--city X]\n"
	    "           [--language L] [--tag G] [--status S] [--limit N] "
	    "[--names]\n"
	    "\n"
	    "Lists contacts as \"ID  STATUS\" (\"ID  NAME  STATUS\" with --names: "
	    "by default\ncontacts are named by id only), oldest first: all of "
	    "them, "
	    "or those\nsubscribed to topic T, living in country CC or city X, "
	    "reading language L,\ntagged G, or with status S (active, "
	    "unsubscribed, bounced); at most N.\n"
	    "  --json   print one JSON array\n");
}

static int
contacts_list(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "topic", required_argument, NULL, 'T' },
		{ "country", required_argument, NULL, 'C' },
		{ "city", required_argument, NULL, 'X' },
		{ "language", required_argument, NULL, 'L' },
		{ "tag", required_argument, NULL, 'G' },
		{ "status", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'n' },
		{ "names", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int		 names = 0;
	const char	*topic = NULL, *country = NULL, *city = NULL;
	const char	*language = NULL, *tag = NULL, *status = NULL;
	json_t		*all = NULL, *req, *reply = NULL, *next = NULL, *page;
	json_t		*nx;
	long		 limit = -1, want;
	long long	 got = 0;
	int		 ch, rc = EX_USAGE;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'T':
			topic = optarg;
			break;
		case 'C':
			country = optarg;
			break;
		case 'X':
			city = optarg;
			break;
		case 'L':
			language = optarg;
			break;
		case 'G':
			tag = optarg;
			break;
		case 'S':
			status = optarg;
			break;
		case 'N':
			names = 1;
			break;
		case 'n':
			if (contacts_number(optarg, 1, LONG_MAX, &limit) == -1) {
				fprintf(stderr, "outreachctl: contacts list: "
				    "--limit: a positive number\n");
				return EX_USAGE;
			}
			break;
		case 'h':
			list_usage(stdout);
			return 0;
		default:
			list_usage(stderr);
			return EX_USAGE;
		}
	}
	if (argc - optind != 0) {
		list_usage(stderr);
		return EX_USAGE;
	}
	if (o->json && (all = json_array()) == NULL)
		return EX_OSERR;
	for (;;) {
		want = CONTACTS_BATCH;
		if (limit > 0 && limit - got < want)
			want = (long)(limit - got);
		req = json_pack("{s:s,s:s*,s:s*,s:s*,s:s*,s:s*,s:s*,s:I}",
		    "cmd", "contacts-list", "topic", topic, "country", country,
		    "city", city, "language", language, "tag", tag, "status",
		    status, "limit", (json_int_t)want);
		if (req != NULL && next != NULL)
			json_object_set(req, "after", next);
		if (req != NULL && names)
			json_object_set_new(req, "names", json_true());
		reply = contacts_call(o, req, 1, &rc);
		json_decref(req);
		if (reply == NULL)
			goto out;
		page = json_object_get(reply, "contacts");
		while (json_array_size(page) > (size_t)want)
			json_array_remove(page, json_array_size(page) - 1);
		got += (long long)json_array_size(page);
		if (all != NULL)
			json_array_extend(all, page);
		else
			list_print(page, names);
		nx = json_object_get(reply, "next");
		if (nx == NULL || json_is_null(nx) || (limit > 0 &&
		    got >= limit))
			break;
		if (json_array_size(page) == 0 ||
		    (next != NULL && json_equal(next, nx))) {
			fprintf(stderr, "outreachctl: contacts list: the "
			    "daemon's paging does not advance\n");
			rc = EX_PROTOCOL;
			goto out;
		}
		json_decref(next);
		next = json_incref(nx);
		json_decref(reply);
		reply = NULL;
	}
	if (all != NULL)
		contacts_dump(all);
	rc = 0;
out:
	json_decref(reply);
	json_decref(next);
	json_decref(all);
	return rc;
}

static void
show_value(json_t *v)
{
	json_t	*e;
	size_t	 i;

	if (v == NULL || json_is_null(v))
		fputs("-", stdout);
	else if (json_is_string(v))
		contacts_put_safe(stdout, json_string_value(v));
	else if (json_is_array(v)) {
		if (json_array_size(v) == 0)
			fputs("-", stdout);
		json_array_foreach(v, i, e) {
			if (i > 0)
				fputs(", ", stdout);
			show_value(e);
		}
	} else if (json_is_boolean(v))
		fputs(json_is_true(v) ? "true" : "false", stdout);
	else if (json_is_integer(v))
		printf("%lld", (long long)json_integer_value(v));
	else
		json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
}

static int
contacts_show(const struct client_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	json_t		*req, *reply, *c, *v;
	const char	*k;
	size_t		 i;
	int		 ch, rc, known;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			printf("usage: outreachctl contacts show ID\n\nPrints "
			    "every field of a contact, one per line, addresses "
			    "included;\nthe daemon writes an audit entry.  Other "
			    "outputs name contacts by id\nonly.\n");
			return 0;
		}
		fprintf(stderr, "usage: outreachctl contacts show ID\n");
		return EX_USAGE;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: outreachctl contacts show ID\n");
		return EX_USAGE;
	}
	req = json_pack("{s:s,s:s}", "cmd", "contacts-show", "id",
	    argv[optind]);
	reply = contacts_call(o, req, 1, &rc);
	json_decref(req);
	if (reply == NULL)
		return rc;
	c = json_object_get(reply, "contact");
	if (o->json)
		contacts_dump(c != NULL ? c : reply);
	else {
		for (i = 0; i < CONTACTS_NCOLS; i++) {
			printf("%s: ", contacts_cols[i].name);
			show_value(json_object_get(c, contacts_cols[i].name));
			putchar('\n');
		}
		/* Fields a newer daemon adds. */
		json_object_foreach(c, k, v) {
			known = 0;
			for (i = 0; i < CONTACTS_NCOLS; i++)
				if (strcmp(k, contacts_cols[i].name) == 0)
					known = 1;
			if (known)
				continue;
			contacts_put_safe(stdout, k);
			fputs(": ", stdout);
			show_value(v);
			putchar('\n');
		}
	}
	json_decref(reply);
	return 0;
}

/* --- the verb ---------------------------------------------------------- */

static void
contacts_usage(FILE *f)
{
	fprintf(f, "usage: outreachctl contacts SUBVERB [ARGS]\n"
	    "\n"
	    "  import [--strict] [--batch N] FILE|-   add or update contacts "
	    "from CSV\n"
	    "  export [--force] [FILE]               every contact as CSV "
	    "(audited)\n"
	    "  add [FIELDS] [FILE|-]                 add one contact\n"
	    "  remove [--yes] ID                     delete a contact\n"
	    "  erase [--yes] ID                      remove a person's data, "
	    "keep\n"
	    "                                        anonymous counts\n"
	    "  unsubscribe ID | --token TOKEN        stop notices to a contact\n"
	    "  resubscribe ID                        start them again\n"
	    "  list [FILTERS] [--limit N] [--names]  ids and status (names)\n"
	    "  show ID                               every field, addresses "
	    "included\n"
	    "                                        (audited)\n"
	    "\n"
	    "'outreachctl contacts SUBVERB --help' describes each; --json "
	    "gives\nmachine-readable output.\n");
}

int
cmd_contacts(const struct client_opts *o, int argc, char **argv)
{
	const char	*sub;

	if (argc < 2) {
		contacts_usage(stderr);
		return EX_USAGE;
	}
	sub = argv[1];
	argc--;
	argv++;
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
	    strcmp(sub, "help") == 0) {
		contacts_usage(stdout);
		return 0;
	}
	if (strcmp(sub, "import") == 0)
		return contacts_import(o, argc, argv);
	if (strcmp(sub, "export") == 0)
		return contacts_export(o, argc, argv);
	if (strcmp(sub, "add") == 0)
		return contacts_add(o, argc, argv);
	if (strcmp(sub, "remove") == 0)
		return contacts_one(o, argc, argv, ONE_REMOVE);
	if (strcmp(sub, "erase") == 0)
		return contacts_one(o, argc, argv, ONE_ERASE);
	if (strcmp(sub, "unsubscribe") == 0)
		return contacts_one(o, argc, argv, ONE_UNSUBSCRIBE);
	if (strcmp(sub, "resubscribe") == 0)
		return contacts_one(o, argc, argv, ONE_RESUBSCRIBE);
	if (strcmp(sub, "list") == 0)
		return contacts_list(o, argc, argv);
	if (strcmp(sub, "show") == 0)
		return contacts_show(o, argc, argv);
	fprintf(stderr, "outreachctl: contacts: unknown subverb \"%s\"; see "
	    "outreachctl contacts --help\n", sub);
	return EX_USAGE;
}
