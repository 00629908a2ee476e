/* template.c - Mustache: a compiler from source to a flat node array and a
 * renderer that walks it against a jansson context (see template.h).
 * Sections hold the index just past their body, so the tree is one array.
 * A struct template is immutable once compiled; render state lives on the
 * caller's stack, name look-ups go through a memo (the caller's, or one
 * on the stack).  Standalone lines are removed at compile time; lines of
 * a standalone partial are indented at render time, at the line starts the
 * compiler marked (TN_BOL text, TN_INDENT nodes). */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "template.h"
#include "utf8.h"

enum tnode_kind {
	TN_TEXT,	/* src[off, off + len) */
	TN_INDENT,	/* a source line starts here: indent (partials) */
	TN_VAR,		/* name parts at pool + off */
	TN_SECTION,	/* body is nodes (this, end) */
	TN_INVERTED,
	TN_PARTIAL,	/* name at pool + off; indentation src[off2, +len) */
};

#define TN_BOL		0x01	/* text: a source line starts at its first byte */
#define TN_RAWVAR	0x02	/* var: {{{x}}} or {{&x}} */
#define TN_STANDALONE	0x04	/* partial: alone on its line, indents its lines */

struct tnode {
	uint8_t		kind;
	uint8_t		flags;
	uint32_t	nseg;		/* parts of a dotted name; 0 for "." */
	uint32_t	seg;		/* its first part in segs[] (a partial:
					 * its whole name) */
	uint32_t	phash;		/* partial: name_hash of its name */
	uint32_t	off;
	uint32_t	len;
	uint32_t	off2;
	uint32_t	end;		/* sections: index just past the body */
	int		line;		/* of the tag, for render errors */
	int		column;
};

/* One part of a dotted name, resolved at compile time so that rendering
 * neither splits nor measures names. */
struct tseg {
	uint64_t	head[2];	/* its first 16 bytes, 0-padded */
	uint32_t	off;		/* in pool, NUL-terminated */
	uint32_t	len;
};

struct template {
	char		*name;
	char		*src;		/* copy of the source, NUL-terminated */
	char		*pool;		/* names: each part NUL-terminated */
	struct tnode	*nodes;
	size_t		 nnodes;
	struct tseg	*segs;		/* the parts of every name, in order */
	size_t		 nsegs;
};

struct tpartial {
	char		*name;
	uint32_t	 hash;		/* name_hash(name) */
	uint32_t	 len;
	uint64_t	 head[2];	/* its first 16 bytes, 0-padded */
	struct template	*t;
};

struct template_partials {
	struct tpartial	*v;		/* sorted by name */
	size_t		 n;
	size_t		 cap;
	uint32_t	*index;		/* open addressing: place in v + 1, or
					 * 0; NULL: search v */
	size_t		 nindex;	/* a power of two > 2 n */
};

static void
set_error(struct template_error *err, const char *name, int line, int column,
    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void
set_error(struct template_error *err, const char *name, int line, int column,
    const char *fmt, va_list ap)
{
	char	sentence[200];

	if (err == NULL)
		return;
	vsnprintf(sentence, sizeof(sentence), fmt, ap);
	err->line = line;
	err->column = column;
	if (line > 0)
		snprintf(err->message, sizeof(err->message), "%s:%d:%d: %s",
		    name, line, column, sentence);
	else
		snprintf(err->message, sizeof(err->message), "%s: %s",
		    name, sentence);
}

static void
plain_error(struct template_error *err, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
plain_error(struct template_error *err, const char *name, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	set_error(err, name, 0, 0, fmt, ap);
	va_end(ap);
}

/* ---- compiler ---- */

enum tag_kind {
	TAG_VAR,
	TAG_RAW,
	TAG_SECTION,
	TAG_INVERTED,
	TAG_CLOSE,
	TAG_PARTIAL,
	TAG_COMMENT,
	TAG_DELIM,
};

struct tag {
	enum tag_kind	 kind;
	const char	*name;		/* trimmed, not NUL-terminated */
	size_t		 namelen;
	size_t		 end;		/* just past the closing delimiter */
	const char	*otag, *ctag;	/* TAG_DELIM: the new delimiters */
	size_t		 olen, clen;
};

struct open_section {
	size_t		 node;
	const char	*name;
	size_t		 namelen;
	size_t		 pos;
};

struct compiler {
	struct template		*t;
	const char		*s;
	size_t			 len;
	size_t			 cap;		/* of t->nodes */
	struct buf		 pool;
	const char		*otag, *ctag;
	size_t			 olen, clen;
	int			 bol;		/* at a source line start */
	struct open_section	 open[TEMPLATE_MAX_DEPTH];
	int			 nopen;
	size_t			 wpos;		/* where(): cached position */
	int			 wline, wcol;
	struct template_error	*err;
};

/* Line and column (1-based, columns in UTF-8 characters) of pos. */
static void
where(struct compiler *c, size_t pos, int *line, int *col)
{
	if (pos < c->wpos || c->wline == 0) {
		c->wpos = 0;
		c->wline = 1;
		c->wcol = 1;
	}
	for (; c->wpos < pos && c->wpos < c->len; c->wpos++) {
		unsigned char	ch = (unsigned char)c->s[c->wpos];

		if (ch == '\n') {
			c->wline++;
			c->wcol = 1;
		} else if ((ch & 0xc0) != 0x80)
			c->wcol++;
	}
	*line = c->wline;
	*col = c->wcol;
}

static int
compile_error(struct compiler *c, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
compile_error(struct compiler *c, size_t pos, const char *fmt, ...)
{
	va_list	ap;
	int	line, col;

	where(c, pos, &line, &col);
	va_start(ap, fmt);
	set_error(c->err, c->t->name, line, col, fmt, ap);
	va_end(ap);
	return -1;
}

static struct tnode *
new_node(struct compiler *c, int kind)
{
	struct tnode	*n;
	size_t		 ncap;

	if (c->t->nnodes == c->cap) {
		ncap = c->cap ? c->cap * 2 : 16;
		if ((n = reallocarray(c->t->nodes, ncap, sizeof(*n))) == NULL)
			return NULL;
		c->t->nodes = n;
		c->cap = ncap;
	}
	n = &c->t->nodes[c->t->nnodes++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	return n;
}

static int
oom(struct compiler *c)
{
	plain_error(c->err, c->t->name, "out of memory");
	return -1;
}

static int
add_text(struct compiler *c, size_t from, size_t to)
{
	struct tnode	*n;

	if (to <= from)
		return 0;
	if ((n = new_node(c, TN_TEXT)) == NULL)
		return oom(c);
	n->off = (uint32_t)from;
	n->len = (uint32_t)(to - from);
	n->flags = c->bol ? TN_BOL : 0;
	c->bol = c->s[to - 1] == '\n';
	return 0;
}

static int
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Find the closing delimiter at or after from, preceded by prefix when
 * prefix is not 0 ("}}}" closes "{{{", "=}}" closes "{{=").  Returns the
 * position of the prefix (or of the delimiter), or (size_t)-1. */
static size_t
find_close(struct compiler *c, size_t from, char prefix)
{
	const char	*p;
	size_t		 at = from, k;

	for (;;) {
		if (at >= c->len)
			return (size_t)-1;
		p = memmem(c->s + at, c->len - at, c->ctag, c->clen);
		if (p == NULL)
			return (size_t)-1;
		k = (size_t)(p - c->s);
		if (prefix == 0)
			return k;
		if (k > from && c->s[k - 1] == prefix)
			return k - 1;
		at = k + 1;
	}
}

static int
check_name(struct compiler *c, size_t tpos, const struct tag *tg)
{
	size_t	i;

	if (tg->namelen == 0)
		return compile_error(c, tpos, "empty tag name");
	for (i = 0; i < tg->namelen; i++)
		if (is_blank(tg->name[i]))
			return compile_error(c, tpos,
			    "tag name '%.*s' contains whitespace",
			    (int)(tg->namelen > 64 ? 64 : tg->namelen),
			    tg->name);
	if (tg->kind == TAG_PARTIAL || (tg->namelen == 1 && tg->name[0] == '.'))
		return 0;
	for (i = 0; i < tg->namelen; i++)
		if (tg->name[i] == '.' && (i == 0 || i + 1 == tg->namelen ||
		    tg->name[i + 1] == '.'))
			return compile_error(c, tpos,
			    "tag name '%.*s' has an empty part",
			    (int)(tg->namelen > 64 ? 64 : tg->namelen),
			    tg->name);
	return 0;
}

static int
parse_delims(struct compiler *c, size_t tpos, size_t from, size_t to,
    struct tag *tg)
{
	const char	*s = c->s;
	size_t		 i = from, a, b;

	for (a = from; a < to; a++)
		if (s[a] == '=')
			return compile_error(c, tpos,
			    "bad set-delimiter tag: '=' inside a delimiter");
	while (i < to && is_blank(s[i]))
		i++;
	a = i;
	while (i < to && !is_blank(s[i]))
		i++;
	tg->otag = s + a;
	tg->olen = i - a;
	while (i < to && is_blank(s[i]))
		i++;
	b = i;
	while (i < to && !is_blank(s[i]))
		i++;
	tg->ctag = s + b;
	tg->clen = i - b;
	while (i < to && is_blank(s[i]))
		i++;
	if (tg->olen == 0 || tg->clen == 0 || i != to)
		return compile_error(c, tpos, "bad set-delimiter tag: expected "
		    "two delimiters without spaces, like {{=<%% %%>=}}");
	return 0;
}

/* Parse the tag whose opening delimiter is at tpos. */
static int
parse_tag(struct compiler *c, size_t tpos, struct tag *tg)
{
	const char	*s = c->s;
	size_t		 q = tpos + c->olen, k, from;
	char		 sigil = q < c->len ? s[q] : '\0';

	memset(tg, 0, sizeof(*tg));
	from = q + 1;
	switch (sigil) {
	case '!':
		tg->kind = TAG_COMMENT;
		break;
	case '=':
		tg->kind = TAG_DELIM;
		break;
	case '{':
		tg->kind = TAG_RAW;
		break;
	case '&':
		tg->kind = TAG_RAW;
		break;
	case '#':
		tg->kind = TAG_SECTION;
		break;
	case '^':
		tg->kind = TAG_INVERTED;
		break;
	case '/':
		tg->kind = TAG_CLOSE;
		break;
	case '>':
		tg->kind = TAG_PARTIAL;
		break;
	case '<':
	case '$':
		return compile_error(c, tpos, "'%.*s%c' tags (template "
		    "inheritance) are not supported", (int)c->olen, c->otag,
		    sigil);
	default:
		tg->kind = TAG_VAR;
		from = q;
		break;
	}
	if (sigil == '{' || sigil == '=') {
		k = find_close(c, from, sigil == '{' ? '}' : '=');
		if (k == (size_t)-1) {
			if (sigil == '=' && find_close(c, from, 0) != (size_t)-1)
				return compile_error(c, tpos, "bad set-delimiter "
				    "tag: it must end with '=%.*s'",
				    (int)c->clen, c->ctag);
			return compile_error(c, tpos, "unclosed tag: '%.*s%c' "
			    "without '%c%.*s'", (int)c->olen, c->otag, sigil,
			    sigil == '{' ? '}' : '=', (int)c->clen, c->ctag);
		}
		tg->end = k + 1 + c->clen;
	} else {
		k = find_close(c, from, 0);
		if (k == (size_t)-1)
			return compile_error(c, tpos, "unclosed tag: '%.*s' "
			    "without '%.*s'", (int)c->olen, c->otag,
			    (int)c->clen, c->ctag);
		tg->end = k + c->clen;
	}
	if (tg->kind == TAG_COMMENT)
		return 0;
	if (tg->kind == TAG_DELIM)
		return parse_delims(c, tpos, from, k, tg);
	while (from < k && is_blank(s[from]))
		from++;
	while (k > from && is_blank(s[k - 1]))
		k--;
	tg->name = s + from;
	tg->namelen = k - from;
	return check_name(c, tpos, tg);
}

/* FNV-1a of a partial's name, for the registry's index. */
static uint32_t
name_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Store a name in the pool: dotted names split into NUL-terminated parts
 * (split 0: partial names, kept whole).  Sets n->off and n->nseg. */
static int
add_name(struct compiler *c, struct tnode *n, const struct tag *tg, int split)
{
	size_t	i;

	if (split && tg->namelen == 1 && tg->name[0] == '.') {
		n->nseg = 0;
		return 0;
	}
	n->off = (uint32_t)c->pool.len;
	n->nseg = 1;
	for (i = 0; i < tg->namelen; i++) {
		if (split && tg->name[i] == '.') {
			if (buf_addc(&c->pool, '\0') == -1)
				return oom(c);
			n->nseg++;
		} else if (buf_addc(&c->pool, tg->name[i]) == -1)
			return oom(c);
	}
	if (buf_addc(&c->pool, '\0') == -1)
		return oom(c);
	if (!split)
		n->phash = name_hash(c->pool.data + n->off);
	return 0;
}

/* Add the node(s) for a tag.  ind..tpos is the indentation of a standalone
 * tag (standalone 1), whose line the caller removed. */
static int
add_tag(struct compiler *c, size_t tpos, const struct tag *tg, int standalone,
    size_t ind)
{
	struct open_section	*o;
	struct tnode		*n;
	int			 line, col;

	if (!standalone && c->bol) {
		/* A line starts with this tag: indent it inside partials.  For
		 * a closing tag this lands inside the body, as it should. */
		if (new_node(c, TN_INDENT) == NULL)
			return oom(c);
	}
	switch (tg->kind) {
	case TAG_COMMENT:
		break;
	case TAG_DELIM:
		c->otag = tg->otag;
		c->olen = tg->olen;
		c->ctag = tg->ctag;
		c->clen = tg->clen;
		break;
	case TAG_VAR:
	case TAG_RAW:
		if ((n = new_node(c, TN_VAR)) == NULL)
			return oom(c);
		if (tg->kind == TAG_RAW)
			n->flags |= TN_RAWVAR;
		if (add_name(c, n, tg, 1) == -1)
			return -1;
		break;
	case TAG_SECTION:
	case TAG_INVERTED:
		if (c->nopen == TEMPLATE_MAX_DEPTH)
			return compile_error(c, tpos, "sections nested deeper "
			    "than %d levels", TEMPLATE_MAX_DEPTH);
		if ((n = new_node(c, tg->kind == TAG_SECTION ? TN_SECTION :
		    TN_INVERTED)) == NULL)
			return oom(c);
		where(c, tpos, &line, &col);
		n->line = line;
		n->column = col;
		if (add_name(c, n, tg, 1) == -1)
			return -1;
		o = &c->open[c->nopen++];
		o->node = c->t->nnodes - 1;
		o->name = tg->name;
		o->namelen = tg->namelen;
		o->pos = tpos;
		break;
	case TAG_CLOSE:
		if (c->nopen == 0)
			return compile_error(c, tpos, "closing tag '%.*s' "
			    "without an open section", (int)(tg->namelen > 64 ?
			    64 : tg->namelen), tg->name);
		o = &c->open[c->nopen - 1];
		if (o->namelen != tg->namelen ||
		    memcmp(o->name, tg->name, tg->namelen) != 0) {
			where(c, o->pos, &line, &col);
			return compile_error(c, tpos, "closing tag '%.*s' does "
			    "not match section '%.*s' opened at line %d, "
			    "column %d", (int)(tg->namelen > 64 ? 64 :
			    tg->namelen), tg->name, (int)(o->namelen > 64 ? 64 :
			    o->namelen), o->name, line, col);
		}
		c->t->nodes[o->node].end = (uint32_t)c->t->nnodes;
		c->nopen--;
		break;
	case TAG_PARTIAL:
		if ((n = new_node(c, TN_PARTIAL)) == NULL)
			return oom(c);
		where(c, tpos, &line, &col);
		n->line = line;
		n->column = col;
		if (standalone) {
			n->flags |= TN_STANDALONE;
			n->off2 = (uint32_t)ind;
			n->len = (uint32_t)(tpos - ind);
		}
		if (add_name(c, n, tg, 0) == -1)
			return -1;
		break;
	}
	c->bol = standalone;
	return 0;
}

static int
check_source(struct compiler *c)
{
	const unsigned char	*p = (const unsigned char *)c->s;
	size_t			 i = 0;
	uint32_t		 cp;
	int			 k;

	while (i < c->len) {
		if (p[i] == 0)
			return compile_error(c, i, "NUL byte in template");
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = utf8_decode(p + i, c->len - i, &cp)) < 0)
			return compile_error(c, i, "invalid UTF-8");
		i += (size_t)k;
	}
	return 0;
}

static int
compile(struct compiler *c)
{
	const char	*s = c->s, *p;
	size_t		 pos = 0, tpos, i, j, eol;
	struct tag	 tg;
	int		 standalone;

	if (check_source(c) == -1)
		return -1;
	while (pos < c->len) {
		p = memmem(s + pos, c->len - pos, c->otag, c->olen);
		if (p == NULL)
			return add_text(c, pos, c->len);
		tpos = (size_t)(p - s);
		if (parse_tag(c, tpos, &tg) == -1)
			return -1;

		/* Standalone: only blanks around the tag on its line. */
		standalone = 0;
		eol = 0;
		i = tpos;
		if (tg.kind != TAG_VAR && tg.kind != TAG_RAW) {
			while (i > pos && (s[i - 1] == ' ' || s[i - 1] == '\t'))
				i--;
			j = tg.end;
			while (j < c->len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (i == 0 || s[i - 1] == '\n') {
				if (j == c->len)
					eol = j;
				else if (s[j] == '\n')
					eol = j + 1;
				else if (s[j] == '\r' && j + 1 < c->len &&
				    s[j + 1] == '\n')
					eol = j + 2;
				standalone = eol != 0;
			}
		}
		if (!standalone)
			i = tpos;
		if (add_text(c, pos, i) == -1)
			return -1;
		if (add_tag(c, tpos, &tg, standalone, i) == -1)
			return -1;
		pos = standalone ? eol : tg.end;
	}
	return 0;
}

/* Fill t->segs from the names in the pool, and each name's node->seg (a
 * partial's name is one part: add_name keeps it whole). */
static int
index_names(struct template *t)
{
	struct tnode	*n;
	const char	*p;
	size_t		 i, k, total = 0;

	for (i = 0; i < t->nnodes; i++)
		total += t->nodes[i].nseg;
	if (total == 0)
		return 0;
	if ((t->segs = calloc(total, sizeof(*t->segs))) == NULL)
		return -1;
	for (i = 0; i < t->nnodes; i++) {
		n = &t->nodes[i];
		if (n->nseg == 0)
			continue;
		n->seg = (uint32_t)t->nsegs;
		p = t->pool + n->off;
		for (k = 0; k < n->nseg; k++) {
			struct tseg	*sg = &t->segs[t->nsegs++];

			sg->off = (uint32_t)(p - t->pool);
			sg->len = (uint32_t)strlen(p);
			memcpy(sg->head, p, sg->len < 16 ? sg->len : 16);
			p += sg->len + 1;
		}
	}
	return 0;
}

struct template *
template_compile(const char *src, size_t len, const char *name,
    struct template_error *err)
{
	struct compiler	 c;
	struct template	*t;
	struct open_section *o;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (name == NULL)
		name = "template";
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->name = strdup(name)) == NULL) {
		plain_error(err, name, "out of memory");
		free(t);
		return NULL;
	}
	if (len > TEMPLATE_MAX_SIZE) {
		plain_error(err, name, "template larger than %u bytes",
		    TEMPLATE_MAX_SIZE);
		goto fail;
	}
	if ((t->src = malloc(len + 1)) == NULL) {
		plain_error(err, name, "out of memory");
		goto fail;
	}
	if (len > 0)
		memcpy(t->src, src, len);
	t->src[len] = '\0';

	memset(&c, 0, sizeof(c));
	c.t = t;
	c.s = t->src;
	c.len = len;
	c.otag = "{{";
	c.ctag = "}}";
	c.olen = c.clen = 2;
	c.bol = 1;
	c.err = err;
	buf_init(&c.pool, TEMPLATE_MAX_SIZE * 2);
	if (compile(&c) == -1)
		goto fail_pool;
	if (c.nopen > 0) {
		o = &c.open[c.nopen - 1];
		compile_error(&c, o->pos, "section '%.*s' is never closed",
		    (int)(o->namelen > 64 ? 64 : o->namelen), o->name);
		goto fail_pool;
	}
	t->pool = buf_release(&c.pool);
	if (t->pool == NULL || index_names(t) == -1) {
		plain_error(err, name, "out of memory");
		goto fail;
	}
	return t;

fail_pool:
	buf_free(&c.pool);
fail:
	template_free(t);
	return NULL;
}

void
template_free(struct template *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->src);
	free(t->pool);
	free(t->nodes);
	free(t->segs);
	free(t);
}

const char *
template_name(const struct template *t)
{
	return t->name;
}

/* ---- partials ---- */

struct template_partials *
template_partials_new(void)
{
	return calloc(1, sizeof(struct template_partials));
}

void
template_partials_free(struct template_partials *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		free(p->v[i].name);
		template_free(p->v[i].t);
	}
	free(p->v);
	free(p->index);
	free(p);
}

/* Rebuild p->index for p->v; without memory it stays NULL (the sorted
 * array is searched instead). */
static void
partials_index(struct template_partials *p)
{
	size_t	i, k, n = 16;

	free(p->index);
	p->index = NULL;
	while (n <= 2 * p->n)
		n *= 2;
	if ((p->index = calloc(n, sizeof(*p->index))) == NULL)
		return;
	p->nindex = n;
	for (i = 0; i < p->n; i++) {
		for (k = p->v[i].hash & (n - 1); p->index[k] != 0;
		    k = (k + 1) & (n - 1))
			;
		p->index[k] = (uint32_t)i + 1;
	}
}

/* Index of name in p->v, or where it would go (*found 0). */
static size_t
partials_find(const struct template_partials *p, const char *name, int *found)
{
	size_t	lo = 0, hi = p->n, mid;
	int	cmp;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		cmp = strcmp(name, p->v[mid].name);
		if (cmp == 0) {
			*found = 1;
			return mid;
		}
		if (cmp < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int
template_partials_add(struct template_partials *p, const char *name,
    struct template *t, struct template_error *err)
{
	struct tpartial	*v;
	size_t		 at, ncap;
	char		*copy = NULL;
	int		 found;

	/* A failed template_compile passes through with its error. */
	if (t == NULL)
		return -1;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (name == NULL || *name == '\0') {
		plain_error(err, t->name, "empty partial name");
		goto fail;
	}
	at = partials_find(p, name, &found);
	if (found) {
		plain_error(err, t->name, "duplicate partial '%.64s'", name);
		goto fail;
	}
	if (p->n == p->cap) {
		ncap = p->cap ? p->cap * 2 : 8;
		if ((v = reallocarray(p->v, ncap, sizeof(*v))) == NULL)
			goto oom;
		p->v = v;
		p->cap = ncap;
	}
	if ((copy = strdup(name)) == NULL)
		goto oom;
	memmove(&p->v[at + 1], &p->v[at], (p->n - at) * sizeof(*p->v));
	p->v[at].name = copy;
	p->v[at].hash = name_hash(copy);
	p->v[at].len = (uint32_t)strlen(copy);
	memset(p->v[at].head, 0, sizeof(p->v[at].head));
	memcpy(p->v[at].head, copy, p->v[at].len < 16 ? p->v[at].len : 16);
	p->v[at].t = t;
	p->n++;
	partials_index(p);
	return 0;

oom:
	plain_error(err, t->name, "out of memory");
fail:
	template_free(t);
	return -1;
}

/* The partial named by sg (its whole name at name), whose name_hash is
 * hash; NULL: none.  Names are compared by hash, length and first 16
 * bytes, the rest only when longer. */
static const struct template *
partials_lookup(const struct template_partials *p, const char *name,
    uint32_t hash, const struct tseg *sg)
{
	const struct tpartial	*e;
	size_t			 k, at;
	int			 found;

	if (p == NULL)
		return NULL;
	if (p->index == NULL) {
		at = partials_find(p, name, &found);
		return found ? p->v[at].t : NULL;
	}
	for (k = hash & (p->nindex - 1); p->index[k] != 0;
	    k = (k + 1) & (p->nindex - 1)) {
		e = &p->v[p->index[k] - 1];
		if (e->hash == hash && e->len == sg->len &&
		    e->head[0] == sg->head[0] && e->head[1] == sg->head[1] &&
		    (sg->len < 16 || strcmp(e->name + 16, name + 16) == 0))
			return e->t;
	}
	return NULL;
}

const struct template *
template_partials_get(const struct template_partials *p, const char *name)
{
	struct tseg	sg;
	size_t		n;

	if (p == NULL || name == NULL)
		return NULL;
	n = strlen(name);
	memset(&sg, 0, sizeof(sg));
	sg.len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	memcpy(sg.head, name, n < 16 ? n : 16);
	return partials_lookup(p, name, name_hash(name), &sg);
}

static void
node_error(struct template_error *err, const struct template *t,
    const struct tnode *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
node_error(struct template_error *err, const struct template *t,
    const struct tnode *n, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	set_error(err, t->name, n->line, n->column, fmt, ap);
	va_end(ap);
}

int
template_check_partials(const struct template *t,
    const struct template_partials *p, struct template_error *err)
{
	const struct tnode	*n;
	size_t			 i;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	for (i = 0; i < t->nnodes; i++) {
		n = &t->nodes[i];
		if (n->kind == TN_PARTIAL &&
		    template_partials_get(p, t->pool + n->off) == NULL) {
			node_error(err, t, n, "missing partial '%.64s'",
			    t->pool + n->off);
			return -1;
		}
	}
	return 0;
}

int
template_partials_check(const struct template_partials *p,
    struct template_error *err)
{
	size_t	i;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	for (i = 0; p != NULL && i < p->n; i++)
		if (template_check_partials(p->v[i].t, p, err) == -1)
			return -1;
	return 0;
}

/* ---- renderer ---- */

struct indent {
	const char	*s;
	size_t		 len;
};

/* A memo of (object, name part) -> value: templates look the same few
 * names up again and again ("event" from inside every section), and a
 * jansson look-up costs a hash and a walk.  Direct-mapped; valid while
 * the context does not change (one render, or the renders of one
 * template_memo between two template_memo_clear). */
#define MEMO_BITS	9
#define MEMO_SLOTS	(1 << MEMO_BITS)

/* A key is its first 16 bytes (names hold no NUL, so shorter keys are
 * told apart by their padding) and, when longer, the rest at key + 16. */
struct memo {
	const json_t	*obj;
	uint64_t	 head[2];
	const char	*key;
	const json_t	*val;		/* NULL: not there */
};

#define MEMO_LOG	128

struct template_memo {
	uint64_t	used[MEMO_SLOTS / 64];	/* bit: slot holds a look-up */
	struct memo	slot[MEMO_SLOTS];	/* only used ones initialised */
	/* Slots filled since the last clear or forget, so that forgetting
	 * needs no scan (nlog > MEMO_LOG: too many, scan). */
	uint16_t	log[MEMO_LOG];
	size_t		nlog;
};

struct render {
	const struct template_partials *partials;
	struct buf		*out;
	int			 flags;
	int			 overflow;	/* an append failed: why */
	int			 depth;
	unsigned long		 steps;
	const json_t		*stack[TEMPLATE_MAX_DEPTH + 1];
	int			 nstack;
	/* Indentation of the lines of standalone partials: ind[lo, hi). */
	struct indent		 ind[TEMPLATE_MAX_DEPTH];
	int			 ind_lo, ind_hi;
	struct template_error	*err;
	struct template_memo	*memo;
};

struct template_memo *
template_memo_new(void)
{
	return calloc(1, sizeof(struct template_memo));
}

void
template_memo_free(struct template_memo *m)
{
	free(m);
}

void
template_memo_clear(struct template_memo *m)
{
	if (m == NULL)
		return;
	memset(m->used, 0, sizeof(m->used));
	m->nlog = 0;
}

/* Empty slot i when it holds a look-up in one of objs[0..n). */
static void
memo_drop(struct template_memo *m, size_t i, const json_t *const *objs,
    size_t n)
{
	size_t	k;

	if (!(m->used[i / 64] & (uint64_t)1 << (i % 64)))
		return;
	for (k = 0; k < n; k++)
		if (objs[k] != NULL && m->slot[i].obj == objs[k]) {
			m->used[i / 64] &= ~((uint64_t)1 << (i % 64));
			return;
		}
}

void
template_memo_forget(struct template_memo *m, const json_t *const *objs,
    size_t n)
{
	size_t	i;

	if (m == NULL)
		return;
	if (m->nlog <= MEMO_LOG)
		for (i = 0; i < m->nlog; i++)
			memo_drop(m, m->log[i], objs, n);
	else
		for (i = 0; i < MEMO_SLOTS; i++)
			memo_drop(m, i, objs, n);
	m->nlog = 0;
}

static int
emit_slow(struct render *r, const char *p, size_t n)
{
	if (buf_add(r->out, p, n) == -1) {
		/* 1: over the maximum; 2: out of memory. */
		r->overflow = n > r->out->max || r->out->len > r->out->max - n ?
		    1 : 2;
		return -1;
	}
	return 0;
}

/* Append n bytes: straight into the buffer when it has the room (and
 * keeps its NUL), else through buf_add. */
static inline int
emit(struct render *r, const char *p, size_t n)
{
	struct buf	*b = r->out;

	if (n == 0)
		return 0;
	if (b->data != NULL && n < b->cap - b->len && b->max != 0 &&
	    n <= b->max - b->len) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return emit_slow(r, p, n);
}

static int
emit_indent(struct render *r)
{
	int	i;

	for (i = r->ind_lo; i < r->ind_hi; i++)
		if (emit(r, r->ind[i].s, r->ind[i].len) == -1)
			return -1;
	return 0;
}

static int
emit_text(struct render *r, const char *p, size_t n, int bol)
{
	const char	*nl;
	size_t		 k;

	if (r->ind_lo == r->ind_hi)
		return emit(r, p, n);
	if (bol && emit_indent(r) == -1)
		return -1;
	while ((nl = memchr(p, '\n', n)) != NULL && nl + 1 < p + n) {
		k = (size_t)(nl + 1 - p);
		if (emit(r, p, k) == -1 || emit_indent(r) == -1)
			return -1;
		p += k;
		n -= k;
	}
	return emit(r, p, n);
}

/* HTML escapes: esc_len[c] is 0 for an octet written as it is, else the
 * length of esc_text[c]. */
static const unsigned char esc_len[256] = {
	['&'] = 5, ['<'] = 4, ['>'] = 4, ['"'] = 6, ['\''] = 5,
};
static const char *const esc_text[256] = {
	['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;",
	['\''] = "&#39;",
};

#ifdef __SSE2__
/* Bit k set when octet k of the 16 at p is one HTML escapes. */
static inline unsigned
esc16(const unsigned char *p)
{
	__m128i	x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i	m;

	m = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('&')),
	    _mm_cmpeq_epi8(x, _mm_set1_epi8('<')));
	m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('>')));
	m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('"')));
	m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('\'')));
	return (unsigned)_mm_movemask_epi8(m);
}
#endif

static int
emit_escaped(struct render *r, const char *s, size_t n)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i = 0, start = 0;
#ifdef __SSE2__
	unsigned		 m;
#endif

	for (;;) {
#ifdef __SSE2__
		/* Sixteen octets at a time to the next one to escape. */
		while (n - i >= 16) {
			if ((m = esc16(u + i)) != 0) {
				i += (size_t)__builtin_ctz(m);
				break;
			}
			i += 16;
		}
#endif
		while (i < n && esc_len[u[i]] == 0)
			i++;
		if (emit(r, s + start, i - start) == -1)
			return -1;
		if (i == n)
			return 0;
		if (emit(r, esc_text[u[i]], esc_len[u[i]]) == -1)
			return -1;
		start = ++i;
	}
}

static int
emit_value(struct render *r, const json_t *v, int raw)
{
	char	num[TEMPLATE_NUMBER_MAX];
	int	n;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (raw)
			return emit(r, json_string_value(v),
			    json_string_length(v));
		return emit_escaped(r, json_string_value(v),
		    json_string_length(v));
	case JSON_INTEGER:
	case JSON_REAL:
		if ((n = template_format_number(v, num, sizeof(num))) < 0)
			return 0;
		return emit(r, num, (size_t)n);
	case JSON_TRUE:
		return emit(r, "true", 4);
	case JSON_FALSE:
		return emit(r, "false", 5);
	default:
		return 0;
	}
}

static int
truthy(const json_t *v)
{
	if (v == NULL)
		return 0;
	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE:
		return 0;
	case JSON_ARRAY:
		return json_array_size(v) > 0;
	case JSON_STRING:
		return json_string_length(v) > 0;
	default:
		return 1;
	}
}

/* A memo miss: look key up in obj and remember it in slot h (not when
 * obj is not an object: the slot is then left empty). */
static const json_t *
member_miss(struct template_memo *mm, size_t h, const json_t *obj,
    const char *key, const struct tseg *sg)
{
	struct memo	*m = &mm->slot[h];

	if (!json_is_object(obj)) {
		m->obj = NULL;
		return NULL;
	}
	if (mm->nlog < MEMO_LOG)
		mm->log[mm->nlog] = (uint16_t)h;
	if (mm->nlog <= MEMO_LOG)
		mm->nlog++;
	m->obj = obj;
	m->head[0] = sg->head[0];
	m->head[1] = sg->head[1];
	m->key = key;
	m->val = json_object_getn(obj, key, sg->len);
	return m->val;
}

/* The member of obj named by part sg of t's names (NULL: none), through
 * the memo. */
static inline __attribute__((always_inline)) const json_t *
member(struct render *r, const struct template *t, const json_t *obj,
    const struct tseg *sg)
{
	struct template_memo	*mm = r->memo;
	struct memo		*m;
	const char		*key = t->pool + sg->off;
	uint64_t		 h, bit;

	/* Only objects enter the memo: a hit needs no look at obj. */
	h = ((uint64_t)(uintptr_t)obj ^ sg->head[0]) * 0x9e3779b97f4a7c15ULL;
	h >>= 64 - MEMO_BITS;
	m = &mm->slot[h];
	bit = (uint64_t)1 << (h % 64);
	if (!(mm->used[h / 64] & bit)) {
		mm->used[h / 64] |= bit;
		return member_miss(mm, h, obj, key, sg);
	}
	if (m->obj == obj && m->head[0] == sg->head[0] &&
	    m->head[1] == sg->head[1] &&
	    (sg->len < 16 || strcmp(m->key + 16, key + 16) == 0))
		return m->val;
	return member_miss(mm, h, obj, key, sg);
}

/* The value a name stands for: the first part is looked up from the top of
 * the context stack down, the others only inside what the first gave. */
static const json_t *
lookup(struct render *r, const struct template *t, const struct tnode *n)
{
	const struct tseg	*sg;
	const json_t		*v = NULL;
	uint32_t		 k;
	int			 i;

	if (n->nseg == 0)
		return r->nstack > 0 ? r->stack[r->nstack - 1] : NULL;
	sg = &t->segs[n->seg];
	for (i = r->nstack - 1; i >= 0; i--)
		if ((v = member(r, t, r->stack[i], sg)) != NULL)
			break;
	for (k = 1; v != NULL && k < n->nseg; k++)
		v = member(r, t, v, sg + k);
	return v;
}

static int render_nodes(struct render *, const struct template *, size_t,
    size_t);

static int
render_error(struct render *r, const struct template *t,
    const struct tnode *n, const char *what)
{
	node_error(r->err, t, n, "%s nested deeper than %d levels at '%.64s'%s",
	    what, TEMPLATE_MAX_DEPTH, n->nseg ? t->pool + n->off : ".",
	    n->kind == TN_PARTIAL ? " (recursive partial?)" : "");
	return -1;
}

static int
render_section(struct render *r, const struct template *t, size_t i)
{
	const struct tnode	*n = &t->nodes[i];
	const json_t		*v;
	size_t			 k, len;
	int			 rc = 0;

	v = lookup(r, t, n);
	if (n->kind == TN_INVERTED) {
		if (truthy(v))
			return 0;
		if (r->depth >= TEMPLATE_MAX_DEPTH)
			return render_error(r, t, n, "sections");
		r->depth++;
		rc = render_nodes(r, t, i + 1, n->end);
		r->depth--;
		return rc;
	}
	if (!truthy(v))
		return 0;
	if (r->depth >= TEMPLATE_MAX_DEPTH ||
	    r->nstack >= TEMPLATE_MAX_DEPTH + 1)
		return render_error(r, t, n, "sections");
	r->depth++;
	if (json_is_array(v)) {
		len = json_array_size(v);
		for (k = 0; k < len && rc == 0; k++) {
			r->stack[r->nstack++] = json_array_get(v, k);
			rc = render_nodes(r, t, i + 1, n->end);
			r->nstack--;
		}
	} else {
		r->stack[r->nstack++] = v;
		rc = render_nodes(r, t, i + 1, n->end);
		r->nstack--;
	}
	r->depth--;
	return rc;
}

static int
render_partial(struct render *r, const struct template *t,
    const struct tnode *n)
{
	const struct template	*pt;
	const char		*name = t->pool + n->off;
	int			 lo = r->ind_lo, hi = r->ind_hi, rc;

	if ((pt = partials_lookup(r->partials, name, n->phash,
	    &t->segs[n->seg])) == NULL) {
		if (!(r->flags & TEMPLATE_STRICT))
			return 0;
		node_error(r->err, t, n, "missing partial '%.64s'", name);
		return -1;
	}
	if (r->depth >= TEMPLATE_MAX_DEPTH)
		return render_error(r, t, n, "partials");
	if (n->flags & TN_STANDALONE) {
		/* Its lines get the current indentation plus its own. */
		if (n->len > 0) {
			r->ind[r->ind_hi].s = t->src + n->off2;
			r->ind[r->ind_hi].len = n->len;
			r->ind_hi++;
		}
	} else
		r->ind_lo = r->ind_hi;
	r->depth++;
	rc = render_nodes(r, pt, 0, pt->nnodes);
	r->depth--;
	r->ind_lo = lo;
	r->ind_hi = hi;
	return rc;
}

static int
render_nodes(struct render *r, const struct template *t, size_t from,
    size_t to)
{
	const struct tnode	*n;
	const json_t		*v;
	size_t			 i = from;

	while (i < to) {
		n = &t->nodes[i];
		if (++r->steps > TEMPLATE_MAX_STEPS) {
			node_error(r->err, t, n, "rendering takes more than "
			    "%lu steps (sections over long lists?)",
			    TEMPLATE_MAX_STEPS);
			return -1;
		}
		switch (n->kind) {
		case TN_TEXT:
			if (emit_text(r, t->src + n->off, n->len,
			    n->flags & TN_BOL) == -1)
				return -1;
			i++;
			break;
		case TN_INDENT:
			if (emit_indent(r) == -1)
				return -1;
			i++;
			break;
		case TN_VAR:
			v = lookup(r, t, n);
			if (v != NULL && emit_value(r, v, (n->flags & TN_RAWVAR) ||
			    (r->flags & TEMPLATE_RAW)) == -1)
				return -1;
			i++;
			break;
		case TN_SECTION:
		case TN_INVERTED:
			if (render_section(r, t, i) == -1)
				return -1;
			i = n->end;
			break;
		case TN_PARTIAL:
			if (render_partial(r, t, n) == -1)
				return -1;
			i++;
			break;
		}
	}
	return 0;
}

int
template_render_memo(const struct template *t, const json_t *context,
    const struct template_partials *p, int flags, struct template_memo *memo,
    struct buf *out, struct template_error *err)
{
	struct template_memo	 own;
	struct render		 r;

	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (memo == NULL) {
		memo = &own;
		memset(own.used, 0, sizeof(own.used));
		own.nlog = 0;
	}
	memset(&r, 0, sizeof(r));
	r.partials = p;
	r.out = out;
	r.flags = flags;
	r.err = err;
	r.memo = memo;
	if (context != NULL)
		r.stack[r.nstack++] = context;
	if (render_nodes(&r, t, 0, t->nnodes) == 0)
		return 0;
	if (r.overflow == 1)
		plain_error(err, t->name, "output exceeds the limit of %zu "
		    "bytes", out->max);
	else if (r.overflow == 2)
		plain_error(err, t->name, "out of memory while rendering "
		    "(%zu bytes so far)", out->len);
	return -1;
}

int
template_render(const struct template *t, const json_t *context,
    const struct template_partials *p, int flags, struct buf *out,
    struct template_error *err)
{
	return template_render_memo(t, context, p, flags, NULL, out, err);
}

/* ---- numbers ---- */

static int
format_double(double d, char *out, size_t outlen)
{
	char	 e[40], digits[20], res[TEMPLATE_NUMBER_MAX];
	char	*p;
	size_t	 nd = 0, rl = 0;
	long	 exp10;
	int	 prec, point, i;

	if (!isfinite(d))
		return -1;
	/* The fewest significant digits that read back as d; 17 always do. */
	for (prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, d);
		if (strtod(e, NULL) == d)
			break;
	}
	p = e;
	if (*p == '-') {
		res[rl++] = '-';
		p++;
	}
	for (; *p != 'e' && *p != '\0'; p++)
		if (*p >= '0' && *p <= '9' && nd < sizeof(digits))
			digits[nd++] = *p;
	if (*p != 'e' || nd == 0)
		return -1;
	exp10 = strtol(p + 1, NULL, 10);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;

	/* Lay out as JavaScript's Number.prototype.toString does. */
	point = (int)exp10 + 1;		/* digits before the decimal point */
	if ((int)nd <= point && point <= 21) {
		memcpy(res + rl, digits, nd);
		rl += nd;
		for (i = (int)nd; i < point; i++)
			res[rl++] = '0';
	} else if (0 < point && point <= 21) {
		memcpy(res + rl, digits, (size_t)point);
		rl += (size_t)point;
		res[rl++] = '.';
		memcpy(res + rl, digits + point, nd - (size_t)point);
		rl += nd - (size_t)point;
	} else if (-6 < point && point <= 0) {
		res[rl++] = '0';
		res[rl++] = '.';
		for (i = point; i < 0; i++)
			res[rl++] = '0';
		memcpy(res + rl, digits, nd);
		rl += nd;
	} else {
		res[rl++] = digits[0];
		if (nd > 1) {
			res[rl++] = '.';
			memcpy(res + rl, digits + 1, nd - 1);
			rl += nd - 1;
		}
		i = snprintf(res + rl, sizeof(res) - rl, "e%c%d",
		    point - 1 < 0 ? '-' : '+', abs(point - 1));
		if (i < 0 || (size_t)i >= sizeof(res) - rl)
			return -1;
		rl += (size_t)i;
	}
	if (rl >= outlen)
		return -1;
	memcpy(out, res, rl);
	out[rl] = '\0';
	return (int)rl;
}

int
template_format_number(const json_t *v, char *out, size_t outlen)
{
	int	n;

	if (json_is_real(v))
		return format_double(json_real_value(v), out, outlen);
	if (!json_is_integer(v) || outlen == 0)
		return -1;
	n = snprintf(out, outlen, "%" JSON_INTEGER_FORMAT,
	    json_integer_value(v));
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return n;
}
