/* notice.h - one contact's e-mail for one event, as delivery sends it and
 * preview shows it: the rendered notice (render.c) in its envelope of
 * DESIGN.md 5 - From (the post's name, notices.from or the post's
 * address), To, a Message-ID that is a keyed hash of the delivery key, and
 * List-Unsubscribe with a signed token.  Borrows everything it is given. */
#ifndef OUTREACH_NOTICE_H
#define OUTREACH_NOTICE_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

struct cfg_post;
struct config;
struct event;
struct render_out;
struct render_sets;

struct notice_in {
	const struct config	*cfg;
	const unsigned char	*secret;	/* installation secret */
	size_t			 secretlen;
	const struct event	*event;
	const char		*topic;
	const struct cfg_post	*post;
	json_t			*contact;	/* the contact's JSON object */
	int64_t			 event_row;	/* delivery key; 0 in previews */
	int64_t			 contact_row;
	time_t			 date;
};

/* Render the notice into out (see render_out_init) and, when msg is not
 * NULL, the complete e-mail into msg (reset first).  Returns 0, or -1 with
 * one sentence in err that names the contact by id only. */
int	notice_email(struct render_sets *, const struct notice_in *,
	    struct render_out *out, struct buf *msg, char *err,
	    size_t errlen);

/* The unsubscribe URL for a contact of a post into b (reset first), or
 * nothing when notices.unsubscribe_url is not set.  0 or -1. */
int	notice_unsubscribe_url(const struct config *, const unsigned char *,
	    size_t, const char *contact_id, const char *post, struct buf *b);

#endif
