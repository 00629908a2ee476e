/* render.c - notices: template sets loaded from templates.dir, the
 * language chain, the context and the rendered parts (see render.h).
 * The sets own their compiled templates, the partials registry and small
 * caches (raw tag -> canonical tag, (language, zone) -> ICU date
 * formatters, (language, zone, time) -> formatted date object, (event,
 * language chain, template language) -> the context's event part, post ->
 * the context's post object), so that a notice costs no ICU call once its
 * event has been seen in its language, and builds only its own part of
 * the context (contact, unsubscribe_url) once the event has been seen
 * with its chain.  Cached parts are shared, read-only, by the contexts.
 *
 * Context of every notice (one json_t, so every channel uses the same):
 *   lang, dir ("ltr"/"rtl"), content_language, unsubscribe_url (if any),
 *   event { id, type, topic, title, summary, body (and title_lang,
 *           summary_lang, body_lang: the tag each was taken in), priority,
 *           status, critical, exercise, starts, ends, timezone, location,
 *           links, data },
 *   contact { id, name, city, region, country }  (nothing else, ever),
 *   post { id, name, address, phone, email, website }.
 * starts/ends are { iso, date, time, datetime, weekday, zone } formatted
 * by ICU in the template language, in the event's timezone or else the
 * offset the time was written with.  Texts are chosen per field: the
 * first chain language the text has, else its alphabetically first
 * language; a plain string is in the event's lang. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unicode/udat.h>
#include <unicode/udatpg.h>
#include <unicode/uloc.h>
#include <unicode/ustring.h>

#include "priority.h"
#include "render.h"
#include "template.h"
#include "topic.h"

#define TAG_IN_MAX	64	/* longest tag taken as input */
#define ZONE_MAX	72	/* IANA id (<= 64) or "GMT+hh:mm" */
#define PAT_MAX		96	/* UChars of one ICU date pattern */
#define DATE_TEXT_MAX	256	/* UChars of one formatted date */
#define CANON_SLOTS	256	/* cache sizes: powers of two, >= WAYS */
#define DATE_SLOTS	64
#define FMT_SLOTS	16
#define PAT_SLOTS	16
#define OTHER_MAX	8	/* used languages outside the chain */
#define EVPART_SLOTS	16	/* (event, chain, language) context parts */
#define POST_SLOTS	4	/* post objects */
#define POST_FIELDS	6

enum rfile {
	RF_SUBJECT,
	RF_TEXT,
	RF_HTML,
	RF_N,
};
static const char *const rfile_ext[RF_N] = { "subject", "txt", "html" };

/* The ICU date forms of the context, as skeletons for udatpg. */
enum dform {
	DF_DATE,
	DF_TIME,
	DF_DATETIME,
	DF_WEEKDAY,
	DF_ZONE,
	DF_N,
};
static const char *const dform_key[DF_N] = { "date", "time", "datetime",
    "weekday", "zone" };
static const char *const dform_skeleton[DF_N] = { "yMMMMd", "jmm",
    "yMMMMEEEEdjmm", "EEEE", "z" };

struct rlang {
	char		 tag[RENDER_TAG_MAX];	/* canonical */
	char		 raw[RENDER_TAG_MAX];	/* as the first file has it */
	char		 locale[ULOC_FULLNAME_CAPACITY];	/* ICU id */
	int		 rtl;
	struct template	*t[RF_N];
};

struct rset {
	char		*type;
	struct rlang	*langs;		/* sorted by tag */
	size_t		 nlangs;
};

struct canon_slot {
	uint64_t	used;		/* clock of the last use */
	signed char	state;		/* 0 empty, 1 ok, -1 invalid */
	char		raw[TAG_IN_MAX + 1];
	char		canon[RENDER_TAG_MAX];
};

struct pat_slot {
	char		tag[RENDER_TAG_MAX];	/* "" when empty */
	UChar		pat[DF_N][PAT_MAX];
	int32_t		len[DF_N];
};

struct fmt_slot {
	char		 tag[RENDER_TAG_MAX];	/* "" when empty */
	char		 zone[ZONE_MAX];
	UDateFormat	*f[DF_N];
};

struct date_slot {
	uint64_t	 used;		/* clock of the last use */
	char		 tag[RENDER_TAG_MAX];
	char		 zone[ZONE_MAX];
	char		*iso;		/* NULL when empty */
	json_t		*obj;
};

/* Languages a notice used: chain places as bits, others in order. */
struct used {
	uint64_t	chain;
	size_t		n;
	char		other[OTHER_MAX][RENDER_TAG_MAX];
};

/* The part of a context that depends only on the event, the language
 * chain and the template language: the event object and lang, dir and
 * content_language.  The key is the event's document, of which the slot
 * holds a reference so that no other document can take its address while
 * the slot lives, and what event_parse derived from it. */
struct evpart_slot {
	uint64_t		 used;	/* clock of the last use; 0 empty */
	json_t			*doc;	/* key: the event (a reference)... */
	unsigned char		 sha256[32];
	char			*ev_lang;
	char			*topic;
	int			 priority;
	int			 status;
	int64_t			 starts_at_ms;
	int64_t			 ends_at_ms;
	const struct rlang	*l;	/* ...the template language... */
	struct render_chain	 chain;	/* ...and the chain */
	json_t			*event;	/* the value: context parts */
	json_t			*lang;
	json_t			*dir;
	json_t			*content_language;
	char			 cl[RENDER_CLANG_MAX];
};

struct post_slot {
	uint64_t	 used;			/* 0 empty */
	char		*field[POST_FIELDS];	/* key: copies, NULL for none */
	json_t		*obj;
};

struct render_sets {
	char				*dir;
	struct rset			*sets;	/* sorted by type */
	size_t				 nsets;
	const struct rset		*def;
	struct template_partials	*partials;
	/* Look-ups of the renders, kept across notices: all the context
	 * but its root and contact objects comes from the caches below,
	 * so those two are forgotten before the next notice, and the
	 * whole memo when a cache slot lets its objects go. */
	struct template_memo		*memo;
	const json_t			*memo_root;	/* not owned */
	const json_t			*memo_contact;
	int				 memo_stale;	/* clear it first */
	/* The last notice's context held an object from no cache (a post
	 * object made for it alone): its look-ups must go before that
	 * object can be freed and its address reused. */
	int				 memo_transient;
	struct canon_slot		 canon[CANON_SLOTS];
	struct pat_slot			 pat[PAT_SLOTS];
	size_t				 pat_next;
	struct fmt_slot			 fmt[FMT_SLOTS];
	size_t				 fmt_next;
	struct date_slot		 date[DATE_SLOTS];
	struct evpart_slot		 evpart[EVPART_SLOTS];
	struct post_slot		 post[POST_SLOTS];
	uint64_t			 clock;	/* LRU of the caches */
};

static void	seterr(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	evpart_clear(struct evpart_slot *);
static void	post_clear(struct post_slot *);

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Copy src into dst of size sz, cut short if it must; always terminated. */
static void
copy_str(char *dst, size_t sz, const char *src)
{
	size_t	n = strlen(src);

	if (sz == 0)
		return;
	if (n >= sz)
		n = sz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static uint32_t
hash_str(uint32_t h, const char *s)
{
	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return (h ^ 0xff) * 16777619u;	/* separates concatenations */
}

/* Murmur3's finaliser: FNV's low bits alone pick cache buckets badly. */
static uint32_t
hash_mix(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* The caches are WAYS-way associative: a bucket of WAYS slots, the least
 * recently used one replaced on a miss. */
#define WAYS	4

/* ---- language tags ---- */

int
render_canonical_tag(const char *tag, char *out, size_t outlen)
{
	char		loc[ULOC_FULLNAME_CAPACITY];
	int32_t		parsed = 0, n;
	UErrorCode	st = U_ZERO_ERROR;
	size_t		i, len;

	if (tag == NULL || out == NULL || outlen == 0)
		return -1;
	len = strlen(tag);
	if (len < 1 || len > TAG_IN_MAX)
		return -1;
	for (i = 0; i < len; i++)
		if (!((tag[i] >= 'a' && tag[i] <= 'z') ||
		    (tag[i] >= 'A' && tag[i] <= 'Z') ||
		    (tag[i] >= '0' && tag[i] <= '9') || tag[i] == '-'))
			return -1;
	(void)uloc_forLanguageTag(tag, loc, (int32_t)sizeof(loc), &parsed,
	    &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING ||
	    parsed < 0 || (size_t)parsed != len)
		return -1;
	st = U_ZERO_ERROR;
	n = uloc_toLanguageTag(loc, out, (int32_t)(outlen > INT32_MAX ?
	    INT32_MAX : outlen), 1, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING || n <= 0 ||
	    (size_t)n >= outlen) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* The ICU locale id of a canonical tag; 0 or -1. */
static int
tag_locale(const char *tag, char *loc, size_t loclen)
{
	int32_t		parsed = 0;
	UErrorCode	st = U_ZERO_ERROR;

	(void)uloc_forLanguageTag(tag, loc, (int32_t)loclen, &parsed, &st);
	return U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING ? -1 : 0;
}

int
render_tag_rtl(const char *tag)
{
	char	loc[ULOC_FULLNAME_CAPACITY];

	if (tag == NULL || tag_locale(tag, loc, sizeof(loc)) == -1)
		return 0;
	return uloc_isRightToLeft(loc) ? 1 : 0;
}

/* Canonicalise through the sets' cache (rs NULL: no cache). */
static int
canon(struct render_sets *rs, const char *raw, char out[RENDER_TAG_MAX])
{
	struct canon_slot	*b, *s;
	size_t			 i;
	int			 rc;

	if (rs == NULL || strlen(raw) > TAG_IN_MAX)
		return render_canonical_tag(raw, out, RENDER_TAG_MAX);
	b = &rs->canon[(hash_mix(hash_str(2166136261u, raw)) * WAYS) &
	    (CANON_SLOTS - 1)];
	for (s = b, i = 0; i < WAYS; i++) {
		if (b[i].state != 0 && strcmp(b[i].raw, raw) == 0) {
			b[i].used = ++rs->clock;
			if (b[i].state < 0)
				return -1;
			memcpy(out, b[i].canon, RENDER_TAG_MAX);
			return 0;
		}
		if (b[i].used < s->used)
			s = &b[i];
	}
	s->used = ++rs->clock;
	rc = render_canonical_tag(raw, out, RENDER_TAG_MAX);
	copy_str(s->raw, sizeof(s->raw), raw);
	s->state = rc == 0 ? 1 : -1;
	if (rc == 0)
		memcpy(s->canon, out, RENDER_TAG_MAX);
	return rc;
}

/* Shorten a canonical tag to its next reduced form in place: first drop
 * everything from the first singleton (extensions, private use), then
 * the last subtag.  1 when shortened, 0 when nothing is left to drop. */
static int
tag_reduce(char *tag)
{
	char	*p, *dash;

	for (p = strchr(tag, '-'); p != NULL; p = strchr(p + 1, '-'))
		if (p[1] != '\0' && (p[2] == '-' || p[2] == '\0')) {
			*p = '\0';
			return 1;
		}
	if ((dash = strrchr(tag, '-')) == NULL)
		return 0;
	*dash = '\0';
	return 1;
}

static int
chain_index(const struct render_chain *c, const char *tag)
{
	size_t	i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->tag[i], tag) == 0)
			return (int)i;
	return -1;
}

/* Add raw and its reductions while the chain has fewer than limit. */
static void
chain_add(struct render_sets *rs, struct render_chain *c, const char *raw,
    size_t limit)
{
	char	tag[RENDER_TAG_MAX];

	if (raw == NULL || canon(rs, raw, tag) == -1)
		return;
	do {
		if (c->n >= limit)
			return;
		if (chain_index(c, tag) == -1)
			memcpy(c->tag[c->n++], tag, sizeof(tag));
	} while (tag_reduce(tag));
}

static void
chain_build(struct render_sets *rs, const char *const *langs, size_t nlangs,
    const char *event_lang, const char *post_lang, struct render_chain *c)
{
	size_t	i;

	c->n = 0;
	for (i = 0; langs != NULL && i < nlangs; i++)
		chain_add(rs, c, langs[i], RENDER_CHAIN_MAX - 8);
	chain_add(rs, c, event_lang, RENDER_CHAIN_MAX);
	chain_add(rs, c, post_lang, RENDER_CHAIN_MAX);
}

void
render_language_chain(const char *const *langs, size_t nlangs,
    const char *event_lang, const char *post_lang, struct render_chain *out)
{
	chain_build(NULL, langs, nlangs, event_lang, post_lang, out);
}

/* ---- loading ---- */

static int
skip_name(const char *name)
{
	size_t	n = strlen(name);

	return name[0] == '.' || n == 0 || name[n - 1] == '~';
}

static int
dirent_filter(const struct dirent *d)
{
	return !skip_name(d->d_name);
}

static int
dirent_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void
free_dirents(struct dirent **v, int n)
{
	int	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
join(char *out, size_t outlen, const char *a, const char *b, char *err,
    size_t errlen)
{
	int	n = snprintf(out, outlen, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= outlen) {
		seterr(err, errlen, "%s/%s: path too long", a, b);
		return -1;
	}
	return 0;
}

/* Read a whole regular file of at most RENDER_FILE_MAX bytes. */
static int
read_file(const char *path, char **data, size_t *len, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*p = NULL;
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd, rc = -1;

	*data = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		seterr(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		seterr(err, errlen, "%s: cannot stat: %s", path,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((p = malloc(RENDER_FILE_MAX + 1)) == NULL) {
		seterr(err, errlen, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		r = read(fd, p + n, RENDER_FILE_MAX + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			seterr(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > RENDER_FILE_MAX) {
			seterr(err, errlen, "%s: larger than %u bytes "
			    "(a template file may hold at most that)", path,
			    RENDER_FILE_MAX);
			goto out;
		}
	}
	p[n] = '\0';
	*data = p;
	*len = n;
	p = NULL;
	rc = 0;
out:
	free(p);
	close(fd);
	return rc;
}

static struct template *
compile_file(const char *path, int subject, char *err, size_t errlen)
{
	struct template_error	 terr;
	struct template		*t = NULL;
	char			*src;
	size_t			 len, i;
	int			 col = 1;

	if (read_file(path, &src, &len, err, errlen) == -1)
		return NULL;
	if (subject) {
		/* One final newline is what editors add: dropped. */
		if (len > 0 && src[len - 1] == '\n')
			len--;
		if (len > 0 && src[len - 1] == '\r')
			len--;
	}
	if ((t = template_compile(src, len, path, &terr)) == NULL) {
		seterr(err, errlen, "%s", terr.message);
		goto out;
	}
	if (subject) {
		for (i = 0; i < len && src[i] != '\n' && src[i] != '\r'; i++)
			if (((unsigned char)src[i] & 0xc0) != 0x80)
				col++;
		if (i < len) {
			seterr(err, errlen, "%s:1:%d: a subject must be one "
			    "line (only a final newline is allowed)", path,
			    col);
			template_free(t);
			t = NULL;
		}
	}
out:
	free(src);
	return t;
}

static int
load_partials(struct render_sets *rs, char *err, size_t errlen)
{
	struct template_error	  terr;
	struct dirent		**ents = NULL;
	struct stat		  st;
	struct template		 *t;
	char			  dir[4096], path[4096], name[256];
	size_t			  n;
	int			  nents = 0, i, rc = -1;

	if (join(dir, sizeof(dir), rs->dir, "partials", err, errlen) == -1)
		return -1;
	if (stat(dir, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		seterr(err, errlen, "%s: cannot read: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		seterr(err, errlen, "%s: not a directory (expected "
		    "partials/NAME.mustache files)", dir);
		return -1;
	}
	if ((nents = scandir(dir, &ents, dirent_filter, dirent_cmp)) == -1) {
		nents = 0;
		seterr(err, errlen, "%s: cannot read: %s", dir,
		    strerror(errno));
		goto out;
	}
	for (i = 0; i < nents; i++) {
		if (join(path, sizeof(path), dir, ents[i]->d_name, err,
		    errlen) == -1)
			goto out;
		n = strlen(ents[i]->d_name);
		if (n <= 9 || n - 9 >= sizeof(name) ||
		    strcmp(ents[i]->d_name + n - 9, ".mustache") != 0) {
			seterr(err, errlen, "%s: not a partial (expected "
			    "NAME.mustache)", path);
			goto out;
		}
		memcpy(name, ents[i]->d_name, n - 9);
		name[n - 9] = '\0';
		if ((t = compile_file(path, 0, err, errlen)) == NULL)
			goto out;
		if (template_partials_add(rs->partials, name, t, &terr) == -1) {
			seterr(err, errlen, "%s", terr.message);
			goto out;
		}
	}
	rc = 0;
out:
	free_dirents(ents, nents);
	return rc;
}

static int
lang_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rlang *)a)->tag,
	    ((const struct rlang *)b)->tag);
}

/* Load dir/type into a new entry of rs->sets. */
static int
load_set(struct render_sets *rs, const char *type, char *err, size_t errlen)
{
	struct dirent	**ents = NULL;
	struct stat	  st;
	struct rset	 *set, *nsets;
	struct rlang	 *l, *nl;
	const char	 *name, *dot;
	char		  dir[4096], path[4096], raw[RENDER_TAG_MAX];
	char		  tag[RENDER_TAG_MAX];
	size_t		  j, k;
	int		  nents = 0, i, f, rc = -1;

	if (join(dir, sizeof(dir), rs->dir, type, err, errlen) == -1)
		return -1;
	if ((nsets = reallocarray(rs->sets, rs->nsets + 1,
	    sizeof(*nsets))) == NULL) {
		seterr(err, errlen, "%s: out of memory", dir);
		return -1;
	}
	rs->sets = nsets;
	set = &rs->sets[rs->nsets];
	memset(set, 0, sizeof(*set));
	if ((set->type = strdup(type)) == NULL) {
		seterr(err, errlen, "%s: out of memory", dir);
		return -1;
	}
	rs->nsets++;

	if ((nents = scandir(dir, &ents, dirent_filter, dirent_cmp)) == -1) {
		nents = 0;
		seterr(err, errlen, "%s: cannot read: %s", dir,
		    strerror(errno));
		goto out;
	}
	for (i = 0; i < nents; i++) {
		name = ents[i]->d_name;
		if (join(path, sizeof(path), dir, name, err, errlen) == -1)
			goto out;
		if (stat(path, &st) == -1) {
			seterr(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			seterr(err, errlen, "%s: not a regular file (a set "
			    "holds LANG.subject, LANG.txt and LANG.html "
			    "files)", path);
			goto out;
		}
		f = RF_N;
		if ((dot = strrchr(name, '.')) != NULL)
			for (f = 0; f < RF_N; f++)
				if (strcmp(dot + 1, rfile_ext[f]) == 0)
					break;
		if (f == RF_N || (size_t)(dot - name) >= sizeof(raw)) {
			seterr(err, errlen, "%s: unexpected file (expected "
			    "LANG.subject, LANG.txt or LANG.html)", path);
			goto out;
		}
		memcpy(raw, name, (size_t)(dot - name));
		raw[dot - name] = '\0';
		if (render_canonical_tag(raw, tag, sizeof(tag)) == -1) {
			seterr(err, errlen, "%s: \"%s\" is not a BCP 47 "
			    "language tag (expected e.g. en.txt, pt-BR.txt, "
			    "zh-Hant.txt)", path, raw);
			goto out;
		}
		for (j = 0; j < set->nlangs; j++)
			if (strcmp(set->langs[j].tag, tag) == 0)
				break;
		if (j == set->nlangs) {
			if ((nl = reallocarray(set->langs, set->nlangs + 1,
			    sizeof(*nl))) == NULL) {
				seterr(err, errlen, "%s: out of memory", path);
				goto out;
			}
			set->langs = nl;
			l = &set->langs[set->nlangs++];
			memset(l, 0, sizeof(*l));
			memcpy(l->tag, tag, sizeof(tag));
			memcpy(l->raw, raw, sizeof(raw));
			if (tag_locale(tag, l->locale, sizeof(l->locale)) ==
			    -1) {
				seterr(err, errlen, "%s: \"%s\" has no ICU "
				    "locale", path, tag);
				goto out;
			}
			l->rtl = uloc_isRightToLeft(l->locale) ? 1 : 0;
		}
		l = &set->langs[j];
		if (l->t[f] != NULL) {
			seterr(err, errlen, "%s: same language and kind as %s "
			    "(both are %s.%s; keep one)", path,
			    template_name(l->t[f]), tag, rfile_ext[f]);
			goto out;
		}
		if ((l->t[f] = compile_file(path, f == RF_SUBJECT, err,
		    errlen)) == NULL)
			goto out;
	}
	if (set->nlangs == 0) {
		seterr(err, errlen, "%s: no templates (expected LANG.subject "
		    "and LANG.txt, e.g. en.subject and en.txt)", dir);
		goto out;
	}
	for (j = 0; j < set->nlangs; j++) {
		l = &set->langs[j];
		for (f = RF_SUBJECT; f <= RF_TEXT; f++)
			if (l->t[f] == NULL) {
				seterr(err, errlen, "%s/%s.%s: missing (every "
				    "language of a set needs LANG.subject and "
				    "LANG.txt)", dir, l->raw, rfile_ext[f]);
				goto out;
			}
	}
	for (j = 0; j < set->nlangs; j++)
		for (k = 0; k < RF_N; k++) {
			struct template_error	terr;

			if (set->langs[j].t[k] != NULL &&
			    template_check_partials(set->langs[j].t[k],
			    rs->partials, &terr) == -1) {
				seterr(err, errlen, "%s", terr.message);
				goto out;
			}
		}
	qsort(set->langs, set->nlangs, sizeof(*set->langs), lang_cmp);
	rc = 0;
out:
	free_dirents(ents, nents);
	return rc;
}

struct render_sets *
render_load(const char *dir, char *err, size_t errlen)
{
	struct template_error	  terr;
	struct render_sets	 *rs;
	struct dirent		**ents = NULL;
	struct stat		  st;
	const char		 *name;
	char			  path[4096];
	size_t			  i;
	int			  nents = 0, k, ok = 0;

	seterr(err, errlen, "%s", "");
	if (dir == NULL || *dir == '\0') {
		seterr(err, errlen, "templates: no directory given");
		return NULL;
	}
	if ((rs = calloc(1, sizeof(*rs))) == NULL ||
	    (rs->dir = strdup(dir)) == NULL ||
	    (rs->partials = template_partials_new()) == NULL ||
	    (rs->memo = template_memo_new()) == NULL) {
		seterr(err, errlen, "%s: out of memory", dir);
		goto out;
	}
	if (stat(dir, &st) == -1) {
		seterr(err, errlen, "%s: %s (expected the templates "
		    "directory)", dir, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		seterr(err, errlen, "%s: not a directory (expected the "
		    "templates directory)", dir);
		goto out;
	}
	if (load_partials(rs, err, errlen) == -1)
		goto out;
	if (template_partials_check(rs->partials, &terr) == -1) {
		seterr(err, errlen, "%s", terr.message);
		goto out;
	}
	if ((nents = scandir(dir, &ents, dirent_filter, dirent_cmp)) == -1) {
		nents = 0;
		seterr(err, errlen, "%s: cannot read: %s", dir,
		    strerror(errno));
		goto out;
	}
	for (k = 0; k < nents; k++) {
		name = ents[k]->d_name;
		if (join(path, sizeof(path), dir, name, err, errlen) == -1)
			goto out;
		if (stat(path, &st) == -1) {
			seterr(err, errlen, "%s: cannot read: %s", path,
			    strerror(errno));
			goto out;
		}
		if (!S_ISDIR(st.st_mode) || strcmp(name, "partials") == 0)
			continue;	/* README...; partials are done */
		if (!topic_slug_valid(name, strlen(name))) {
			seterr(err, errlen, "%s: not a template set name "
			    "(expected an event type [a-z0-9][a-z0-9-]{0,62}, "
			    "default or partials)", path);
			goto out;
		}
		if (load_set(rs, name, err, errlen) == -1)
			goto out;
	}
	for (i = 0; i < rs->nsets; i++)
		if (strcmp(rs->sets[i].type, "default") == 0)
			rs->def = &rs->sets[i];
	if (rs->def == NULL) {
		seterr(err, errlen, "%s/default: missing (the fallback set "
		    "default/LANG.subject and default/LANG.txt is required)",
		    dir);
		goto out;
	}
	ok = 1;
out:
	free_dirents(ents, nents);
	if (!ok) {
		render_free(rs);
		return NULL;
	}
	return rs;
}

void
render_free(struct render_sets *rs)
{
	size_t	i, j, k;

	if (rs == NULL)
		return;
	for (i = 0; i < rs->nsets; i++) {
		for (j = 0; j < rs->sets[i].nlangs; j++)
			for (k = 0; k < RF_N; k++)
				template_free(rs->sets[i].langs[j].t[k]);
		free(rs->sets[i].langs);
		free(rs->sets[i].type);
	}
	free(rs->sets);
	template_partials_free(rs->partials);
	template_memo_free(rs->memo);
	for (i = 0; i < FMT_SLOTS; i++)
		for (k = 0; k < DF_N; k++)
			if (rs->fmt[i].f[k] != NULL)
				udat_close(rs->fmt[i].f[k]);
	for (i = 0; i < DATE_SLOTS; i++) {
		free(rs->date[i].iso);
		json_decref(rs->date[i].obj);
	}
	for (i = 0; i < EVPART_SLOTS; i++)
		evpart_clear(&rs->evpart[i]);
	for (i = 0; i < POST_SLOTS; i++)
		post_clear(&rs->post[i]);
	free(rs->dir);
	free(rs);
}

int
render_check(const char *dir, char *err, size_t errlen)
{
	struct render_sets	*rs;

	if ((rs = render_load(dir, err, errlen)) == NULL)
		return -1;
	render_free(rs);
	return 0;
}

size_t
render_set_count(const struct render_sets *rs)
{
	return rs == NULL ? 0 : rs->nsets;
}

const char *
render_set_type(const struct render_sets *rs, size_t i)
{
	return rs == NULL || i >= rs->nsets ? NULL : rs->sets[i].type;
}

size_t
render_set_nlangs(const struct render_sets *rs, size_t i)
{
	return rs == NULL || i >= rs->nsets ? 0 : rs->sets[i].nlangs;
}

const char *
render_set_lang(const struct render_sets *rs, size_t i, size_t j)
{
	if (rs == NULL || i >= rs->nsets || j >= rs->sets[i].nlangs)
		return NULL;
	return rs->sets[i].langs[j].tag;
}

size_t
render_lang_count(const struct render_sets *rs)
{
	size_t	i, n = 0;

	for (i = 0; rs != NULL && i < rs->nsets; i++)
		n += rs->sets[i].nlangs;
	return n;
}

static const struct rset *
find_set(const struct render_sets *rs, const char *type)
{
	size_t	lo = 0, hi = rs->nsets, mid;
	int	c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(type, rs->sets[mid].type)) == 0)
			return &rs->sets[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
render_has_type(const struct render_sets *rs, const char *type)
{
	const struct rset	*s;

	if (rs == NULL || type == NULL || (s = find_set(rs, type)) == NULL)
		return 0;
	return s != rs->def;
}

static const struct rlang *
find_lang(const struct rset *s, const char *tag)
{
	size_t	lo = 0, hi = s->nlangs, mid;
	int	c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(tag, s->langs[mid].tag)) == 0)
			return &s->langs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---- dates ----
 * Forms, from ICU's pattern generator for the template language: date
 * "yMMMMd" (December 12, 2026 / 12 décembre 2026), time "jmm" (12 or 24
 * hours as the locale has it, no zone), datetime "yMMMMEEEEdjmm",
 * weekday "EEEE", zone "z" (GMT+1, UTC+1, CET: the locale's short name).
 * The locale's own digits and calendar are kept: "ar" writes
 * Arabic-Indic digits, "fa" the Persian calendar (a set named
 * ar-u-nu-latn would give Latin digits).  "tl" needs no mapping: ICU 72
 * has it as an alias of "fil", with the same text.  ICU 72 puts U+202F
 * (narrow no-break space) before AM/PM in English. */

static const struct pat_slot *
patterns(struct render_sets *rs, const struct rlang *l)
{
	UDateTimePatternGenerator	*g;
	struct pat_slot			*p;
	UChar				 sk[32];
	UErrorCode			 st = U_ZERO_ERROR;
	size_t				 i, k;
	int32_t				 n;

	for (i = 0; i < PAT_SLOTS; i++)
		if (strcmp(rs->pat[i].tag, l->tag) == 0)
			return &rs->pat[i];
	p = &rs->pat[rs->pat_next++ % PAT_SLOTS];
	p->tag[0] = '\0';
	if ((g = udatpg_open(l->locale, &st)) == NULL || U_FAILURE(st)) {
		if (g != NULL)
			udatpg_close(g);
		return NULL;
	}
	for (i = 0; i < DF_N; i++) {
		for (k = 0; dform_skeleton[i][k] != '\0'; k++)
			sk[k] = (UChar)dform_skeleton[i][k];
		st = U_ZERO_ERROR;
		n = udatpg_getBestPattern(g, sk, (int32_t)k, p->pat[i],
		    PAT_MAX, &st);
		if (U_FAILURE(st) || n <= 0 || n >= PAT_MAX) {
			udatpg_close(g);
			return NULL;
		}
		p->len[i] = n;
	}
	udatpg_close(g);
	memcpy(p->tag, l->tag, sizeof(p->tag));
	return p;
}

static struct fmt_slot *
formatters(struct render_sets *rs, const struct rlang *l, const char *zone)
{
	const struct pat_slot	*p;
	struct fmt_slot		*f;
	UChar			 uz[ZONE_MAX];
	UErrorCode		 st = U_ZERO_ERROR;
	size_t			 i, n;

	for (i = 0; i < FMT_SLOTS; i++)
		if (strcmp(rs->fmt[i].tag, l->tag) == 0 &&
		    strcmp(rs->fmt[i].zone, zone) == 0)
			return &rs->fmt[i];
	if ((p = patterns(rs, l)) == NULL)
		return NULL;
	f = &rs->fmt[rs->fmt_next++ % FMT_SLOTS];
	f->tag[0] = '\0';
	for (i = 0; i < DF_N; i++)
		if (f->f[i] != NULL) {
			udat_close(f->f[i]);
			f->f[i] = NULL;
		}
	for (n = 0; zone[n] != '\0' && n < ZONE_MAX - 1; n++)
		uz[n] = (UChar)(unsigned char)zone[n];
	for (i = 0; i < DF_N; i++) {
		st = U_ZERO_ERROR;
		f->f[i] = udat_open(UDAT_PATTERN, UDAT_PATTERN, l->locale, uz,
		    (int32_t)n, p->pat[i], p->len[i], &st);
		if (U_FAILURE(st) || f->f[i] == NULL)
			return NULL;	/* the slot stays empty (tag "") */
	}
	copy_str(f->tag, sizeof(f->tag), l->tag);
	copy_str(f->zone, sizeof(f->zone), zone);
	return f;
}

/* The ICU zone of a time: the event's timezone, else the offset the
 * RFC 3339 string carries ("Z", "-00:00", "+00:00": UTC). */
static void
zone_of(const char *iso, const char *tz, char zone[ZONE_MAX])
{
	size_t	n = strlen(iso);

	if (tz != NULL) {
		copy_str(zone, ZONE_MAX, tz);
		return;
	}
	if (n >= 6 && (iso[n - 6] == '+' || iso[n - 6] == '-') &&
	    strcmp(iso + n - 5, "00:00") != 0) {
		snprintf(zone, ZONE_MAX, "GMT%s", iso + n - 6);
		return;
	}
	copy_str(zone, ZONE_MAX, "UTC");
}

/* The date object of a time, borrowed from the cache; NULL on failure. */
static json_t *
date_object(struct render_sets *rs, const struct rlang *l, const char *iso,
    const char *tz, int64_t ms)
{
	struct date_slot	*b, *d;
	struct fmt_slot		*f;
	json_t			*obj = NULL, *v;
	UChar			 u[DATE_TEXT_MAX];
	char			 s[DATE_TEXT_MAX * 3 + 1], zone[ZONE_MAX];
	UErrorCode		 st;
	int32_t			 n, m;
	size_t			 i;

	zone_of(iso, tz, zone);
	b = &rs->date[(hash_mix(hash_str(hash_str(hash_str(2166136261u,
	    l->tag), zone), iso)) * WAYS) & (DATE_SLOTS - 1)];
	for (d = b, i = 0; i < WAYS; i++) {
		if (b[i].iso != NULL && strcmp(b[i].iso, iso) == 0 &&
		    strcmp(b[i].zone, zone) == 0 &&
		    strcmp(b[i].tag, l->tag) == 0) {
			b[i].used = ++rs->clock;
			return b[i].obj;
		}
		if (b[i].used < d->used)
			d = &b[i];
	}
	if ((f = formatters(rs, l, zone)) == NULL)
		return NULL;
	if ((obj = json_object()) == NULL ||
	    json_object_set_new_nocheck(obj, "iso", json_string(iso)) == -1)
		goto fail;
	for (i = 0; i < DF_N; i++) {
		st = U_ZERO_ERROR;
		n = udat_format(f->f[i], (UDate)ms, u, DATE_TEXT_MAX, NULL,
		    &st);
		if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING)
			goto fail;
		st = U_ZERO_ERROR;
		u_strToUTF8(s, (int32_t)sizeof(s), &m, u, n, &st);
		if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING)
			goto fail;
		if ((v = json_stringn_nocheck(s, (size_t)m)) == NULL ||
		    json_object_set_new_nocheck(obj, dform_key[i], v) == -1)
			goto fail;
	}
	free(d->iso);
	json_decref(d->obj);
	d->obj = NULL;
	if ((d->iso = strdup(iso)) == NULL)
		goto fail;
	d->used = ++rs->clock;
	copy_str(d->tag, sizeof(d->tag), l->tag);
	copy_str(d->zone, sizeof(d->zone), zone);
	d->obj = obj;
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

/* ---- the context ---- */

struct notice {
	struct render_sets	*rs;
	const struct rlang	*l;
	struct render_chain	 chain;
	int			 ev_idx;	/* event lang in the chain */
	char			 ev_tag[RENDER_TAG_MAX]; /* "" when none */
	char			 text_tag[RENDER_TAG_MAX]; /* last text's */
	struct used		 used;
};

static void
used_add(struct notice *nt, int idx, const char *tag)
{
	struct used	*u = &nt->used;
	size_t		 i;

	if (idx >= 0) {
		u->chain |= (uint64_t)1 << idx;
		return;
	}
	if (tag == NULL || *tag == '\0')
		return;
	for (i = 0; i < u->n; i++)
		if (strcmp(u->other[i], tag) == 0)
			return;
	if (u->n < OTHER_MAX)
		copy_str(u->other[u->n++], RENDER_TAG_MAX, tag);
}

/* The string a text stands for (borrowed) and note its language, also in
 * nt->text_tag ("" when unknown); NULL when v is neither a string nor an
 * object holding one. */
static json_t *
resolve_text(struct notice *nt, json_t *v)
{
	const char	*key;
	json_t		*s, *best = NULL;
	char		 tag[RENDER_TAG_MAX], best_tag[RENDER_TAG_MAX];
	int		 idx, best_idx = -1;

	nt->text_tag[0] = '\0';
	if (json_is_string(v)) {
		used_add(nt, nt->ev_idx, nt->ev_tag);
		memcpy(nt->text_tag, nt->ev_tag, sizeof(nt->text_tag));
		return v;
	}
	if (!json_is_object(v))
		return NULL;
	best_tag[0] = '\0';
	json_object_foreach(v, key, s) {
		if (!json_is_string(s) || canon(nt->rs, key, tag) == -1)
			continue;
		idx = chain_index(&nt->chain, tag);
		if (best == NULL ||
		    (idx >= 0 && (best_idx < 0 || idx < best_idx)) ||
		    (idx < 0 && best_idx < 0 && strcmp(tag, best_tag) < 0)) {
			best = s;
			best_idx = idx;
			memcpy(best_tag, tag, sizeof(tag));
		}
	}
	if (best != NULL) {
		used_add(nt, best_idx, best_tag);
		memcpy(nt->text_tag, best_tag, sizeof(nt->text_tag));
	}
	return best;
}

/* Set key in o to v (a new reference; NULL fails). */
static int
put_new(json_t *o, const char *key, json_t *v)
{
	return v == NULL ? -1 : json_object_set_new_nocheck(o, key, v);
}

/* Set key in o to v, shared with its owner; NULL: nothing. */
static int
put(json_t *o, const char *key, json_t *v)
{
	return v == NULL ? 0 : json_object_set_nocheck(o, key, v);
}

static int
put_str(json_t *o, const char *key, const char *s)
{
	return s == NULL ? 0 : put_new(o, key, json_string(s));
}

/* An object or array of strings with no text object inside: shared. */
static int
all_strings(json_t *v)
{
	const char	*key;
	json_t		*e;
	size_t		 i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (!all_strings(e))
				return 0;
		return 1;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, key, e)
			if (!json_is_string(e))
				return 0;
		return 1;
	}
	return json_is_string(v);
}

/* location: strings as they are; a text object resolved. */
static json_t *
location_object(struct notice *nt, json_t *loc)
{
	const char	*key;
	json_t		*o, *v;

	if (all_strings(loc))
		return json_incref(loc);
	if ((o = json_object()) == NULL)
		return NULL;
	json_object_foreach(loc, key, v)
		if (put(o, key, json_is_string(v) ? v :
		    resolve_text(nt, v)) == -1) {
			json_decref(o);
			return NULL;
		}
	return o;
}

/* links: labels are texts (a plain one is in the event's lang). */
static json_t *
links_array(struct notice *nt, json_t *links)
{
	json_t	*a, *link, *o, *label;
	size_t	 i;
	int	 shared = 1;

	json_array_foreach(links, i, link)
		if (!json_is_object(link) || !all_strings(link))
			shared = 0;
	if (shared) {
		json_array_foreach(links, i, link)
			(void)resolve_text(nt, json_object_get(link, "label"));
		return json_incref(links);
	}
	if ((a = json_array()) == NULL)
		return NULL;
	json_array_foreach(links, i, link) {
		if (!json_is_object(link))
			continue;
		label = resolve_text(nt, json_object_get(link, "label"));
		if ((o = json_object()) == NULL ||
		    put(o, "label", label) == -1 ||
		    put(o, "url", json_object_get(link, "url")) == -1 ||
		    json_array_append_new(a, o) == -1) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static json_t *
event_object(struct notice *nt, const struct render_in *in)
{
	const struct event	*ev = in->event;
	json_t			*doc = ev->doc, *o, *v, *tz;
	static const char *const times[2][2] = { { "starts_at", "starts" },
	    { "ends_at", "ends" } };
	static const char *const texts[3][2] = { { "title", "title_lang" },
	    { "summary", "summary_lang" }, { "body", "body_lang" } };
	int64_t			 ms;
	size_t			 i;

	if ((o = json_object()) == NULL)
		return NULL;
	tz = json_object_get(doc, "timezone");
	if (put(o, "id", json_object_get(doc, "id")) == -1 ||
	    put(o, "type", json_object_get(doc, "type")) == -1 ||
	    put_str(o, "topic", in->topic) == -1 ||
	    put_new(o, "priority", json_string_nocheck(
	    priority_name(ev->priority))) == -1 ||
	    put_new(o, "status", json_string_nocheck(
	    event_status_name(ev->status))) == -1 ||
	    put_new(o, "critical", json_boolean(ev->priority ==
	    PRIORITY_CRITICAL)) == -1 ||
	    put_new(o, "exercise", json_boolean(ev->status ==
	    EVENT_EXERCISE || ev->status == EVENT_TEST)) == -1 ||
	    put(o, "timezone", json_is_string(tz) ? tz : NULL) == -1 ||
	    put(o, "data", json_object_get(doc, "data")) == -1)
		goto fail;
	/* Each text, and its language for lang="" in HTML (mixed-language
	 * notices: an Amharic title inside English wording). */
	for (i = 0; i < 3; i++) {
		v = resolve_text(nt, json_object_get(doc, texts[i][0]));
		if (v == NULL)
			continue;
		if (put(o, texts[i][0], v) == -1 || (nt->text_tag[0] != '\0' &&
		    put_new(o, texts[i][1],
		    json_string_nocheck(nt->text_tag)) == -1))
			goto fail;
	}
	for (i = 0; i < 2; i++) {
		ms = i == 0 ? ev->starts_at_ms : ev->ends_at_ms;
		v = json_object_get(doc, times[i][0]);
		if (ms < 0 || !json_is_string(v))
			continue;
		if (put(o, times[i][1], date_object(nt->rs, nt->l,
		    json_string_value(v), json_is_string(tz) ?
		    json_string_value(tz) : NULL, ms)) == -1 ||
		    json_object_get(o, times[i][1]) == NULL)
			goto fail;
	}
	if ((v = json_object_get(doc, "location")) != NULL &&
	    json_is_object(v) && put_new(o, "location",
	    location_object(nt, v)) == -1)
		goto fail;
	if ((v = json_object_get(doc, "links")) != NULL && json_is_array(v) &&
	    put_new(o, "links", links_array(nt, v)) == -1)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *
contact_object(const json_t *contact)
{
	static const char *const keys[] = { "id", "name", "city", "region",
	    "country" };
	json_t	*o, *v;
	size_t	 i;

	/* An allow-list: addresses, webhook URLs and the rest never enter
	 * the context, whatever the contact object holds. */
	if ((o = json_object()) == NULL)
		return NULL;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		v = json_object_get(contact, keys[i]);
		if (json_is_string(v) && put(o, keys[i], v) == -1) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *
post_object(const struct cfg_post *p)
{
	json_t	*o;

	if ((o = json_object()) == NULL)
		return NULL;
	if (p != NULL && (put_str(o, "id", p->id) == -1 ||
	    put_str(o, "name", p->name) == -1 ||
	    put_str(o, "address", p->address) == -1 ||
	    put_str(o, "phone", p->phone) == -1 ||
	    put_str(o, "email", p->email) == -1 ||
	    put_str(o, "website", p->website) == -1)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void
clang_add(char *cl, const char *tag)
{
	size_t	n = strlen(cl), k = strlen(tag);

	if (n + (n ? 2 : 0) + k >= RENDER_CLANG_MAX)
		return;
	if (n > 0) {
		memcpy(cl + n, ", ", 2);
		n += 2;
	}
	memcpy(cl + n, tag, k + 1);
}

/* "a, b": languages used, in chain order, then the others. */
static void
content_language(const struct notice *nt, char *cl)
{
	size_t	i;

	cl[0] = '\0';
	for (i = 0; i < nt->chain.n; i++)
		if (nt->used.chain & ((uint64_t)1 << i))
			clang_add(cl, nt->chain.tag[i]);
	for (i = 0; i < nt->used.n; i++)
		clang_add(cl, nt->used.other[i]);
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static char *
str_dup(const char *s, int *fail)
{
	char	*d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

static void
evpart_clear(struct evpart_slot *e)
{
	json_decref(e->doc);
	free(e->ev_lang);
	free(e->topic);
	json_decref(e->event);
	json_decref(e->lang);
	json_decref(e->dir);
	json_decref(e->content_language);
	memset(e, 0, sizeof(*e));
}

static int
evpart_match(const struct evpart_slot *e, const struct render_in *in,
    const struct rlang *l, const struct render_chain *c)
{
	const struct event	*ev = in->event;
	size_t			 i;

	if (e->used == 0 || e->doc != ev->doc || e->l != l ||
	    e->chain.n != c->n || e->priority != (int)ev->priority ||
	    e->status != (int)ev->status ||
	    e->starts_at_ms != ev->starts_at_ms ||
	    e->ends_at_ms != ev->ends_at_ms ||
	    memcmp(e->sha256, ev->sha256, sizeof(e->sha256)) != 0 ||
	    !str_eq(e->ev_lang, ev->lang) || !str_eq(e->topic, in->topic))
		return 0;
	for (i = 0; i < c->n; i++)
		if (strcmp(e->chain.tag[i], c->tag[i]) != 0)
			return 0;
	return 1;
}

/*
 * The context's event part for this notice: from the cache, else built
 * (event_object, then content_language from the languages used) into the
 * least recently used slot.  The slot is owned by the sets; NULL when the
 * event object cannot be built (memory, a date ICU cannot format).
 */
static const struct evpart_slot *
evpart_get(struct notice *nt, const struct render_in *in)
{
	struct render_sets	*rs = nt->rs;
	struct evpart_slot	*e, *victim = &rs->evpart[0];
	const struct event	*ev = in->event;
	size_t			 i;
	int			 fail = 0;

	for (i = 0; i < EVPART_SLOTS; i++) {
		e = &rs->evpart[i];
		if (evpart_match(e, in, nt->l, &nt->chain)) {
			e->used = ++rs->clock;
			return e;
		}
		if (e->used < victim->used)
			victim = e;
	}
	e = victim;
	if (e->used != 0)
		rs->memo_stale = 1;	/* its objects may go */
	evpart_clear(e);
	if ((e->event = event_object(nt, in)) == NULL)
		return NULL;
	content_language(nt, e->cl);
	e->lang = json_string_nocheck(nt->l->tag);
	e->dir = json_string_nocheck(nt->l->rtl ? "rtl" : "ltr");
	e->content_language = json_string_nocheck(e->cl);
	e->ev_lang = str_dup(ev->lang, &fail);
	e->topic = str_dup(in->topic, &fail);
	if (e->lang == NULL || e->dir == NULL || e->content_language == NULL ||
	    fail) {
		evpart_clear(e);
		return NULL;
	}
	e->doc = json_incref(ev->doc);
	memcpy(e->sha256, ev->sha256, sizeof(e->sha256));
	e->priority = (int)ev->priority;
	e->status = (int)ev->status;
	e->starts_at_ms = ev->starts_at_ms;
	e->ends_at_ms = ev->ends_at_ms;
	e->l = nt->l;
	e->chain.n = nt->chain.n;
	for (i = 0; i < nt->chain.n; i++)
		memcpy(e->chain.tag[i], nt->chain.tag[i], RENDER_TAG_MAX);
	e->used = ++rs->clock;
	return e;
}

static void
post_clear(struct post_slot *ps)
{
	size_t	i;

	for (i = 0; i < POST_FIELDS; i++)
		free(ps->field[i]);
	json_decref(ps->obj);
	memset(ps, 0, sizeof(*ps));
}

/* The post object (a new reference): shared through the sets' cache,
 * keyed by the post's strings. */
static json_t *
post_get(struct render_sets *rs, const struct cfg_post *p)
{
	struct post_slot	*ps, *victim = &rs->post[0];
	const char		*f[POST_FIELDS];
	size_t			 i, k;
	int			 fail = 0;

	if (p == NULL) {
		rs->memo_stale = rs->memo_transient = 1; /* not from the cache */
		return post_object(NULL);
	}
	f[0] = p->id;
	f[1] = p->name;
	f[2] = p->address;
	f[3] = p->phone;
	f[4] = p->email;
	f[5] = p->website;
	for (i = 0; i < POST_SLOTS; i++) {
		ps = &rs->post[i];
		for (k = 0; ps->used != 0 && k < POST_FIELDS; k++)
			if (!str_eq(ps->field[k], f[k]))
				break;
		if (ps->used != 0 && k == POST_FIELDS) {
			ps->used = ++rs->clock;
			return json_incref(ps->obj);
		}
		if (ps->used < victim->used)
			victim = ps;
	}
	ps = victim;
	if (ps->used != 0)
		rs->memo_stale = 1;	/* its object may go */
	post_clear(ps);
	if ((ps->obj = post_object(p)) == NULL)
		return NULL;
	for (k = 0; k < POST_FIELDS; k++)
		ps->field[k] = str_dup(f[k], &fail);
	if (fail) {
		post_clear(ps);
		rs->memo_stale = rs->memo_transient = 1; /* not from the cache */
		return post_object(p);
	}
	ps->used = ++rs->clock;
	return json_incref(ps->obj);
}

/* The contact's id for messages: only when it has the id grammar. */
static const char *
contact_id(const json_t *contact)
{
	const char	*s;
	size_t		 i, n;

	s = json_string_value(json_object_get(contact, "id"));
	if (s == NULL || (n = strlen(s)) < 1 || n > 64)
		return "?";
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '_' || s[i] == ':' || s[i] == '-'))
			return "?";
	return s;
}

void
render_out_init(struct render_out *out)
{
	memset(out, 0, sizeof(*out));
	buf_init(&out->subject, RENDER_OUT_MAX);
	buf_init(&out->text, RENDER_OUT_MAX);
	buf_init(&out->html, RENDER_OUT_MAX);
}

void
render_out_free(struct render_out *out)
{
	if (out == NULL)
		return;
	buf_free(&out->subject);
	buf_free(&out->text);
	buf_free(&out->html);
	json_decref(out->context);
	memset(out, 0, sizeof(*out));
}

/* Pick the set and language for the chain (render.h). */
static const struct rlang *
pick(const struct render_sets *rs, const struct rset *ts,
    const struct render_chain *c, const char **type, int *fallback)
{
	const struct rlang	*l;
	size_t			 i;

	*fallback = 0;
	if (ts != NULL)
		for (i = 0; i < c->n; i++)
			if ((l = find_lang(ts, c->tag[i])) != NULL) {
				*type = ts->type;
				return l;
			}
	for (i = 0; i < c->n; i++)
		if ((l = find_lang(rs->def, c->tag[i])) != NULL) {
			*type = rs->def->type;
			return l;
		}
	*fallback = 1;
	if (ts == NULL)
		ts = rs->def;
	*type = ts->type;
	return &ts->langs[0];
}

int
render_notice(struct render_sets *rs, const struct render_in *in, int flags,
    struct render_out *out, char *err, size_t errlen)
{
	struct template_error	 terr;
	struct notice		 ntice, *nt = &ntice;
	const struct evpart_slot *ep;
	const json_t		*mine[2];
	const struct rlang	*l;
	const struct rset	*ts;
	const char		*langs[RENDER_CHAIN_MAX], *type, *cid = "?";
	const char		*eid = "?", *ev_lang, *post_lang;
	json_t			*ctx = NULL, *arr, *v;
	size_t			 i, nlangs = 0;
	int			 rc = -1, f;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (rs == NULL || in == NULL || out == NULL || in->event == NULL ||
	    in->event->doc == NULL || in->event->type == NULL) {
		seterr(err, errlen, "render: no templates or no event given");
		return -1;
	}
	if (in->event->id != NULL)
		eid = in->event->id;
	if (in->contact != NULL)
		cid = contact_id(in->contact);
	nt->rs = rs;
	nt->used.chain = 0;
	nt->used.n = 0;

	arr = json_object_get(in->contact, "languages");
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && nlangs < RENDER_CHAIN_MAX)
			langs[nlangs++] = json_string_value(v);
	ev_lang = in->event->lang;
	post_lang = in->post != NULL ? in->post->lang : NULL;
	chain_build(rs, langs, nlangs, ev_lang, post_lang, &nt->chain);
	nt->ev_idx = -1;
	if (ev_lang != NULL && canon(rs, ev_lang, nt->ev_tag) == 0)
		nt->ev_idx = chain_index(&nt->chain, nt->ev_tag);
	else
		nt->ev_tag[0] = '\0';

	ts = find_set(rs, in->event->type);
	l = nt->l = pick(rs, ts, &nt->chain, &type, &out->fallback);
	used_add(nt, chain_index(&nt->chain, l->tag), l->tag);
	copy_str(out->type, sizeof(out->type), type);
	copy_str(out->lang, sizeof(out->lang), l->tag);
	out->rtl = l->rtl;

	/* The previous notice's own objects are about to go. */
	mine[0] = rs->memo_root;
	mine[1] = rs->memo_contact;
	if (rs->memo_transient) {
		template_memo_clear(rs->memo);
		rs->memo_transient = 0;
	} else
		template_memo_forget(rs->memo, mine, 2);
	rs->memo_root = rs->memo_contact = NULL;
	if ((ctx = json_object()) == NULL ||
	    (ep = evpart_get(nt, in)) == NULL ||
	    put(ctx, "event", ep->event) == -1) {
		seterr(err, errlen, "render: event %s for contact %s: %s/%s: "
		    "cannot build the context (out of memory or a date ICU "
		    "cannot format)", eid, cid, type, l->tag);
		goto out;
	}
	memcpy(out->content_language, ep->cl, sizeof(out->content_language));
	if (put(ctx, "lang", ep->lang) == -1 ||
	    put(ctx, "dir", ep->dir) == -1 ||
	    put(ctx, "content_language", ep->content_language) == -1 ||
	    put_new(ctx, "contact", contact_object(in->contact)) == -1 ||
	    put_new(ctx, "post", post_get(rs, in->post)) == -1 ||
	    (in->unsubscribe_url != NULL && put_new(ctx, "unsubscribe_url",
	    json_string(in->unsubscribe_url)) == -1)) {
		seterr(err, errlen, "render: event %s for contact %s: %s/%s: "
		    "cannot build the context (out of memory or an "
		    "unsubscribe URL that is not UTF-8)", eid, cid, type,
		    l->tag);
		goto out;
	}
	json_decref(out->context);
	out->context = ctx;
	ctx = NULL;

	buf_reset(&out->subject);
	buf_reset(&out->text);
	buf_reset(&out->html);
	if (rs->memo_stale) {
		template_memo_clear(rs->memo);
		rs->memo_stale = 0;
	}
	rs->memo_root = out->context;
	rs->memo_contact = json_object_get(out->context, "contact");
	out->has_html = l->t[RF_HTML] != NULL && !(flags & RENDER_NO_HTML);
	for (f = 0; f < RF_N; f++) {
		struct buf	*b = f == RF_SUBJECT ? &out->subject :
		    f == RF_TEXT ? &out->text : &out->html;

		if (f == RF_HTML && !out->has_html)
			break;
		if (template_render_memo(l->t[f], out->context, rs->partials,
		    TEMPLATE_STRICT | (f == RF_HTML ? 0 : TEMPLATE_RAW),
		    rs->memo, b, &terr) == -1) {
			seterr(err, errlen, "render: event %s for contact %s: "
			    "%s", eid, cid, terr.message);
			goto out;
		}
	}
	while (out->subject.len > 0 &&
	    (out->subject.data[out->subject.len - 1] == '\n' ||
	    out->subject.data[out->subject.len - 1] == '\r'))
		out->subject.data[--out->subject.len] = '\0';
	if (out->subject.len > 0 && (memchr(out->subject.data, '\n',
	    out->subject.len) != NULL || memchr(out->subject.data, '\r',
	    out->subject.len) != NULL || memchr(out->subject.data, '\0',
	    out->subject.len) != NULL)) {
		seterr(err, errlen, "render: event %s for contact %s: %s: the "
		    "subject holds a line break or NUL after rendering (a "
		    "value or partial used in it spans lines)", eid, cid,
		    template_name(l->t[RF_SUBJECT]));
		goto out;
	}
	rc = 0;
out:
	json_decref(ctx);
	return rc;
}

static const char *
bstr(const struct buf *b)
{
	return b->data != NULL ? b->data : "";
}

int
render_email(const struct render_out *out, const struct render_mail *mail,
    struct buf *msg, char *err, size_t errlen)
{
	struct mime_error	 merr;
	struct mime_msg		 m;
	const struct buf	*parts[3];
	static const char *const pname[3] = { "subject", "text body",
	    "html body" };
	const char		*cid;
	size_t			 i;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL || mail == NULL || msg == NULL) {
		seterr(err, errlen, "render: no notice given");
		return -1;
	}
	cid = mail->contact_id != NULL ? mail->contact_id : "?";
	parts[0] = &out->subject;
	parts[1] = &out->text;
	parts[2] = &out->html;
	for (i = 0; i < 3; i++)
		if (parts[i]->len > 0 &&
		    memchr(parts[i]->data, '\0', parts[i]->len) != NULL) {
			seterr(err, errlen, "render: notice %s/%s for contact "
			    "%s: the %s holds a NUL byte after rendering",
			    out->type, out->lang, cid, pname[i]);
			return -1;
		}
	memset(&m, 0, sizeof(m));
	m.from = mail->from;
	m.to = mail->to;
	m.subject = bstr(&out->subject);
	m.date = mail->date;
	m.message_id = mail->message_id;
	m.content_language = out->content_language[0] != '\0' ?
	    out->content_language : NULL;
	m.list_unsubscribe_https = mail->list_unsubscribe_https;
	m.list_unsubscribe_mailto = mail->list_unsubscribe_mailto;
	m.text = bstr(&out->text);
	m.html = out->has_html ? bstr(&out->html) : NULL;
	if (mime_message(&m, msg, &merr) == -1) {
		seterr(err, errlen, "render: notice %s/%s for contact %s: %s",
		    out->type, out->lang, cid, merr.message);
		return -1;
	}
	return 0;
}
