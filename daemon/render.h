/* render.h - notices (DESIGN.md 4): the template sets of templates.dir,
 * the language chain of a contact, and one notice = templates + context.
 * A struct render_sets is immutable once loaded except for its caches
 * (language tags, ICU date formatters, formatted dates, the event and post
 * parts of contexts, the look-up memo of a notice's renders), so it
 * belongs to one thread; a reload builds new sets and swaps them only on
 * success. */
#ifndef OUTREACH_RENDER_H
#define OUTREACH_RENDER_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "event.h"
#include "mime.h"

struct render_sets;

#define RENDER_TAG_MAX		96	/* canonical BCP 47 tag and its NUL */
#define RENDER_CHAIN_MAX	32	/* languages in one chain */
#define RENDER_CLANG_MAX	512	/* Content-Language value and its NUL */
#define RENDER_TYPE_MAX		64	/* a slug (63) and its NUL */
#define RENDER_FILE_MAX		(1024u * 1024)	/* bytes of one template file */
#define RENDER_OUT_MAX		(1024u * 1024)	/* each rendered part */

/* render_notice flags. */
#define RENDER_NO_HTML		0x01	/* skip the HTML body even if there */

/*
 * Load every template set under dir (layout of DESIGN.md 4):
 * dir/TYPE/LANG.subject, LANG.txt, optional LANG.html; dir/default/ (must
 * exist with at least one language); dir/partials/NAME.mustache.  LANG is
 * a BCP 47 tag, canonicalised ("en-gb.txt" is en-GB).  Every file is
 * compiled once, partial references are checked strictly, a subject's
 * source must be one line (one final newline is dropped).  Names starting
 * with '.' or ending in '~' are skipped; regular files at the top level
 * (README) are ignored; anything else unexpected is an error.  Returns the
 * sets (free with render_free), or NULL with the first error, in sorted
 * file order, in err: "FILE:LINE:COLUMN: sentence" or "FILE: sentence".
 * Nothing stays allocated on failure.
 */
struct render_sets	*render_load(const char *dir, char *err, size_t errlen);
void			 render_free(struct render_sets *);
/* render_load then render_free, for outreachd -n.  0, or -1 with err. */
int			 render_check(const char *dir, char *err,
			    size_t errlen);

/* Listing (status, tests).  Sets are sorted by type ("default" is one of
 * them), the languages of a set by tag.  Strings are owned by the sets. */
size_t		 render_set_count(const struct render_sets *);
const char	*render_set_type(const struct render_sets *, size_t i);
size_t		 render_set_nlangs(const struct render_sets *, size_t i);
const char	*render_set_lang(const struct render_sets *, size_t i,
		    size_t j);
/* Languages over all sets (a set with en and fr counts 2). */
size_t		 render_lang_count(const struct render_sets *);
/* 1 when type has its own set (not default/), else 0. */
int		 render_has_type(const struct render_sets *, const char *type);

/* Canonicalise a BCP 47 tag with ICU (uloc_forLanguageTag, then
 * uloc_toLanguageTag): "EN-gb" is "en-GB", "iw" is "he".  The whole tag
 * must parse, [A-Za-z0-9-], at most 64 bytes.  0 with out filled, or -1. */
int		 render_canonical_tag(const char *tag, char *out,
		    size_t outlen);
/* 1 when ICU writes the (canonical) tag's language right to left. */
int		 render_tag_rtl(const char *tag);

/* A language chain: canonical tags, most wanted first, no duplicates. */
struct render_chain {
	size_t	n;
	char	tag[RENDER_CHAIN_MAX][RENDER_TAG_MAX];
};

/*
 * The chain for a contact reading langs[0..nlangs) (DESIGN.md 4): each
 * language canonicalised then followed by its reductions ("zh-Hant-TW",
 * "zh-Hant", "zh"; extensions and private use go first: "ar-u-nu-latn",
 * "ar"), then the event's lang and the post's default, reduced the same
 * way; duplicates keep their first place.  Invalid tags and NULLs are
 * skipped.  The contact's languages fill at most RENDER_CHAIN_MAX - 8
 * places so the event's and post's always fit.  Never fails.
 */
void		 render_language_chain(const char *const *langs,
		    size_t nlangs, const char *event_lang,
		    const char *post_lang, struct render_chain *out);

/* What to render: all borrowed for the call. */
struct render_in {
	const struct event	*event;		/* validated (event_parse) */
	const char		*topic;		/* the event's topic */
	const struct cfg_post	*post;		/* the publishing post */
	const json_t		*contact;	/* the contact's JSON object */
	const char		*unsubscribe_url; /* NULL: none */
};

/* One notice.  Initialise once with render_out_init, reuse across calls,
 * free with render_out_free.  content_language names the template
 * language and the language of every text used, in the contact's chain
 * order, then any outside it (fallbacks): "am, en" for a ti, am, en
 * reader of an en set with an am title.  A plain-string text counts as
 * the event's lang.  context shares its event and post objects with the
 * sets' caches: read it, never change it. */
struct render_out {
	struct buf	 subject;	/* one line: no CR, LF or NUL */
	struct buf	 text;
	struct buf	 html;		/* empty unless has_html */
	int		 has_html;
	int		 rtl;		/* template language is right to left */
	int		 fallback;	/* no chain language had templates */
	char		 type[RENDER_TYPE_MAX];	/* the set: type or "default" */
	char		 lang[RENDER_TAG_MAX];	/* template language */
	char		 content_language[RENDER_CLANG_MAX]; /* "am, en" */
	json_t		*context;	/* the context rendered (owned) */
};

void	render_out_init(struct render_out *);
void	render_out_free(struct render_out *);

/*
 * Render one notice for in->contact (render.c's opening comment gives the
 * context and the language rules).  The set is the first chain language
 * the event's type has, else default/'s, else (fallback) the type's set,
 * or default/ when it has none, in its alphabetically first language.
 * Fills out (previous contents dropped).  Returns 0, or -1 with one
 * sentence in err naming the event, the contact by id only and the
 * template file; out's contents are then undefined.
 */
int	render_notice(struct render_sets *, const struct render_in *,
	    int flags, struct render_out *, char *err, size_t errlen);

/* The envelope of one e-mail; strings borrowed. */
struct render_mail {
	struct mime_addr	 from;
	struct mime_addr	 to;
	const char		*message_id;	/* "<left@right>" */
	time_t			 date;
	const char		*list_unsubscribe_https;   /* NULL: none */
	const char		*list_unsubscribe_mailto;  /* NULL: none */
	const char		*contact_id;	/* for errors only */
};

/* The complete message for a rendered notice, appended to msg (whose
 * maximum the caller chose).  Returns 0, or -1 with one sentence in err
 * (never an address or a name) and msg cut back to its length on entry. */
int	render_email(const struct render_out *, const struct render_mail *,
	    struct buf *msg, char *err, size_t errlen);

#endif
