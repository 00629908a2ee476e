/* template.h - Mustache as the official spec defines it (interpolation,
 * sections, inverted sections, comments, partials, set delimiters; no
 * lambdas), compiled once into an immutable node array and rendered many
 * times against a jansson context.  A template owns a copy of its source;
 * a partials registry owns the templates added to it.  Rendering allocates
 * nothing but the output buffer's growth. */
#ifndef OUTREACH_TEMPLATE_H
#define OUTREACH_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

struct template;
struct template_partials;

/* Limits.  Depth counts nested sections and partials together (at compile
 * time the sections of one template; at render time sections and partials
 * across partials, which bounds recursive partials).  Steps count the
 * nodes visited by one render, which bounds sections nested over long
 * lists. */
#define TEMPLATE_MAX_DEPTH	64
#define TEMPLATE_MAX_SIZE	(16u * 1024 * 1024)	/* bytes of source */
#define TEMPLATE_MAX_STEPS	1000000ul
#define TEMPLATE_NUMBER_MAX	32	/* enough for any template_format_number */

/* Render flags. */
#define TEMPLATE_RAW		0x01	/* no HTML escaping (text, subject) */
#define TEMPLATE_STRICT		0x02	/* a missing partial is an error */

/* What went wrong, for people: message is "NAME:LINE:COLUMN: sentence"
 * (or "NAME: sentence" when no position applies), line and column are
 * 1-based (columns count UTF-8 characters) or 0.  Messages quote tag names
 * from the template, never context data. */
struct template_error {
	char	message[256];
	int	line;
	int	column;
};

/* Compile len bytes of src (need not be NUL-terminated; must be UTF-8
 * without NUL bytes) into a template; name (e.g. the file path, NULL:
 * "template") is used in errors.  Returns the template (caller frees with
 * template_free), or NULL and fills *err (when not NULL). */
struct template	*template_compile(const char *src, size_t len,
		    const char *name, struct template_error *err);
void		 template_free(struct template *);
/* The name given to template_compile (owned by the template). */
const char	*template_name(const struct template *);

/* A registry of compiled partials by name, shared by any number of
 * templates.  Returns NULL on ENOMEM; free with template_partials_free. */
struct template_partials *template_partials_new(void);
void		 template_partials_free(struct template_partials *);
/* Add t under name ({{>name}}); the registry takes t in every case (it is
 * freed on failure).  Returns 0, or -1 with *err filled when the name is
 * empty, already taken, or memory ran out.  t NULL (a failed
 * template_compile) returns -1 and leaves *err as the compiler set it. */
int		 template_partials_add(struct template_partials *,
		    const char *name, struct template *t,
		    struct template_error *err);
/* The partial called name, or NULL (NULL registry: none).  Owned by the
 * registry. */
const struct template *template_partials_get(const struct template_partials *,
		    const char *name);

/* Strict checks for load time: every {{>name}} in t (respectively in every
 * partial of the registry) names a partial of the registry.  Returns 0, or
 * -1 with "missing partial 'x'" and its position in *err.  Recursive
 * partials are allowed: rendering bounds them by TEMPLATE_MAX_DEPTH. */
int		 template_check_partials(const struct template *,
		    const struct template_partials *, struct template_error *err);
int		 template_partials_check(const struct template_partials *,
		    struct template_error *err);

/* Render t with context (any JSON value; NULL: empty) and partials (may be
 * NULL), appending to out.  Missing names render as "", missing partials
 * as "" unless flags has TEMPLATE_STRICT.  Falsey: missing, null, false,
 * [] and "".  Integers and reals print as template_format_number, true and
 * false as "true"/"false", null, objects and arrays as "".  Returns 0, or
 * -1 with *err filled (output over the buffer's max, nesting deeper than
 * TEMPLATE_MAX_DEPTH, more than TEMPLATE_MAX_STEPS steps, missing partial
 * when strict); out then holds a partial result the caller should discard. */
int		 template_render(const struct template *, const json_t *context,
		    const struct template_partials *, int flags, struct buf *out,
		    struct template_error *err);

/* A memo of name look-ups, for rendering several templates against one
 * context (a notice's subject, text and HTML) without looking the same
 * names up again.  Caller owns it (NULL on ENOMEM; free with
 * template_memo_free, NULL is a no-op); one thread at a time. */
struct template_memo;
struct template_memo *template_memo_new(void);
void		 template_memo_free(struct template_memo *);
/* Forget every look-up.  Required before rendering against another
 * context, or after changing or freeing any part of the one used: the
 * memo holds pointers into it. */
void		 template_memo_clear(struct template_memo *);
/* Forget the look-ups made in the objects objs[0..n) (NULLs skipped)
 * since the last template_memo_clear or template_memo_forget.  A caller
 * that frees or changes objects of a context first looked up since then,
 * and forgets each of them and each object that held one of them, may
 * keep the memo for a new context that shares the rest, alive and
 * unchanged. */
void		 template_memo_forget(struct template_memo *,
		    const json_t *const *objs, size_t n);
/* template_render with look-ups through memo (NULL: a fresh memo for the
 * call, which is template_render). */
int		 template_render_memo(const struct template *,
		    const json_t *context, const struct template_partials *,
		    int flags, struct template_memo *memo, struct buf *out,
		    struct template_error *err);

/* Format a JSON integer or real the shortest way that reads back as the
 * same value: integers in decimal, reals with the fewest significant digits
 * (1-17) that strtod maps to the same double, laid out as JavaScript does
 * ("1.21", "100", "0.000001", "1e-7", "1e+21"; -0.0 is "-0").  Writes a
 * NUL-terminated string to out and returns its length, or -1 when v is not
 * a number or outlen is too small (TEMPLATE_NUMBER_MAX always suffices). */
int		 template_format_number(const json_t *v, char *out, size_t outlen);

#endif
