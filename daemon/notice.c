/* notice.c - the envelope around a rendered notice (see notice.h).  One
 * unsubscribe token per notice serves both List-Unsubscribe URLs; the
 * small strings are built on the stack (the limits are those of the
 * buffers this used to print into).  The token and the Message-ID hash
 * are contact.c's (contact.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "contact.h"
#include "event.h"
#include "notice.h"
#include "render.h"

#define UNSUB_MAX	4096	/* the https URL */
#define MAILTO_MAX	4096	/* the mailto URL */
#define MSGID_MAX	512	/* "<hash@domain>" */

/* Concatenate the NUL-terminated strings of v[0..n) into out (size max +
 * 1).  Returns the length, or -1 when it would be longer than max (out is
 * then ""). */
static int
cat(char *out, size_t max, const char *const *v, size_t n)
{
	size_t	i, k, len = 0;

	for (i = 0; i < n; i++) {
		k = strlen(v[i]);
		if (k > max - len) {
			out[0] = '\0';
			return -1;
		}
		memcpy(out + len, v[i], k);
		len += k;
	}
	out[len] = '\0';
	return (int)len;
}

/* The https URL for a token into out (UNSUB_MAX + 1); 0 or -1. */
static int
unsub_url(const struct config *cfg, const char *token, char *out)
{
	const char	*v[2] = { cfg->unsubscribe_url, token };

	return cat(out, UNSUB_MAX, v, 2) == -1 ? -1 : 0;
}

int
notice_unsubscribe_url(const struct config *cfg, const unsigned char *secret,
    size_t secretlen, const char *contact_id, const char *post,
    struct buf *b)
{
	char	token[CONTACT_TOKEN_SIZE];

	buf_reset(b);
	if (cfg->unsubscribe_url == NULL)
		return 0;
	if (contact_token_make(secret, secretlen, contact_id, post, token,
	    sizeof(token)) == -1)
		return -1;
	if (buf_adds(b, cfg->unsubscribe_url) == -1)
		return -1;
	return buf_adds(b, token);
}

int
notice_email(struct render_sets *sets, const struct notice_in *in,
    struct render_out *out, struct buf *msg, char *err, size_t errlen)
{
	const struct config	*cfg = in->cfg;
	struct render_in	 ri;
	struct render_mail	 rm;
	char			 unsub[UNSUB_MAX + 1], mailto[MAILTO_MAX + 1];
	char			 msgid[MSGID_MAX + 1];
	char			 token[CONTACT_TOKEN_SIZE];
	char			 hash[CONTACT_DELIVERY_HASH_SIZE];
	const char		*cid, *from, *domain, *email, *name, *at;
	const char		*v[5];
	int			 have_token = 0;

	cid = json_string_value(json_object_get(in->contact, "id"));
	if (cid == NULL)
		cid = "?";
	unsub[0] = mailto[0] = '\0';
	/* The token is a keyed hash (HMAC-SHA256): made once, when a URL
	 * needs it. */
	if (cfg->unsubscribe_url != NULL) {
		if (contact_token_make(in->secret, in->secretlen, cid,
		    in->post->id, token, sizeof(token)) == -1 ||
		    unsub_url(cfg, token, unsub) == -1) {
			snprintf(err, errlen, "contact %s: cannot make the "
			    "unsubscribe token", cid);
			return -1;
		}
		have_token = 1;
	}
	memset(&ri, 0, sizeof(ri));
	ri.event = in->event;
	ri.topic = in->topic;
	ri.post = in->post;
	ri.contact = in->contact;
	ri.unsubscribe_url = unsub[0] != '\0' ? unsub : NULL;
	if (render_notice(sets, &ri, 0, out, err, errlen) == -1)
		return -1;
	if (msg == NULL)
		return 0;
	from = cfg->mail_from ? cfg->mail_from : in->post->email;
	if (from == NULL) {
		snprintf(err, errlen, "post %s: no From address (set "
		    "notices.from or the post's email)", in->post->id);
		return -1;
	}
	email = json_string_value(json_object_get(in->contact, "email"));
	if (email == NULL) {
		snprintf(err, errlen, "contact %s: no e-mail address", cid);
		return -1;
	}
	if (cfg->message_id_domain != NULL)
		domain = cfg->message_id_domain;
	else if ((at = strchr(from, '@')) != NULL)
		domain = at + 1;
	else
		domain = NULL;
	/* The Message-ID reveals no internal id: a keyed hash of the
	 * delivery key, the same at every attempt. */
	v[0] = "<";
	v[1] = hash;
	v[2] = "@";
	v[3] = domain;
	v[4] = ">";
	if (domain == NULL || contact_delivery_hash(in->secret,
	    in->secretlen, in->event_row, in->contact_row, "smtp", hash,
	    sizeof(hash)) == -1 ||
	    cat(msgid, MSGID_MAX, v, 5) == -1) {
		snprintf(err, errlen, "contact %s: cannot make the Message-ID",
		    cid);
		return -1;
	}
	if (cfg->unsubscribe_mailto != NULL) {
		if (!have_token && contact_token_make(in->secret,
		    in->secretlen, cid, in->post->id, token,
		    sizeof(token)) == -1) {
			snprintf(err, errlen, "contact %s: cannot make the "
			    "unsubscribe token", cid);
			return -1;
		}
		/* Too long a URL is left out, as a header could not hold
		 * it. */
		v[0] = "mailto:";
		v[1] = cfg->unsubscribe_mailto;
		v[2] = "?subject=unsubscribe%20";
		v[3] = token;
		(void)cat(mailto, MAILTO_MAX, v, 4);
	}
	name = json_string_value(json_object_get(in->contact, "name"));
	memset(&rm, 0, sizeof(rm));
	rm.from.name = in->post->name;
	rm.from.addr = from;
	rm.to.name = name;
	rm.to.addr = email;
	rm.message_id = msgid;
	rm.date = in->date;
	rm.list_unsubscribe_https = unsub[0] != '\0' ? unsub : NULL;
	rm.list_unsubscribe_mailto = mailto[0] != '\0' ? mailto : NULL;
	rm.contact_id = cid;
	buf_reset(msg);
	return render_email(out, &rm, msg, err, errlen);
}
