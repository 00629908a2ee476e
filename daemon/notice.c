/* notice.c - the envelope around a rendered notice (see notice.h). */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "contact.h"
#include "event.h"
#include "notice.h"
#include "render.h"

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
	return buf_printf(b, "%s%s", cfg->unsubscribe_url, token);
}

int
notice_email(struct render_sets *sets, const struct notice_in *in,
    struct render_out *out, struct buf *msg, char *err, size_t errlen)
{
	const struct config	*cfg = in->cfg;
	struct render_in	 ri;
	struct render_mail	 rm;
	struct buf		 unsub, mailto, msgid;
	char			 token[CONTACT_TOKEN_SIZE];
	char			 hash[CONTACT_DELIVERY_HASH_SIZE];
	const char		*cid, *from, *domain, *email, *name;
	int			 rc = -1;

	cid = json_string_value(json_object_get(in->contact, "id"));
	if (cid == NULL)
		cid = "?";
	buf_init(&unsub, 4096);
	buf_init(&mailto, 4096);
	buf_init(&msgid, 512);
	if (notice_unsubscribe_url(cfg, in->secret, in->secretlen, cid,
	    in->post->id, &unsub) == -1) {
		snprintf(err, errlen, "contact %s: cannot make the unsubscribe "
		    "token", cid);
		goto out;
	}
	memset(&ri, 0, sizeof(ri));
	ri.event = in->event;
	ri.topic = in->topic;
	ri.post = in->post;
	ri.contact = in->contact;
	ri.unsubscribe_url = unsub.len ? unsub.data : NULL;
	if (render_notice(sets, &ri, 0, out, err, errlen) == -1)
		goto out;
	if (msg == NULL) {
		rc = 0;
		goto out;
	}
	from = cfg->mail_from ? cfg->mail_from : in->post->email;
	if (from == NULL) {
		snprintf(err, errlen, "post %s: no From address (set "
		    "notices.from or the post's email)", in->post->id);
		goto out;
	}
	email = json_string_value(json_object_get(in->contact, "email"));
	if (email == NULL) {
		snprintf(err, errlen, "contact %s: no e-mail address", cid);
		goto out;
	}
	domain = cfg->message_id_domain ? cfg->message_id_domain :
	    strchr(from, '@') + 1;
	/* The Message-ID reveals no internal id: a keyed hash of the
	 * delivery key, the same at every attempt. */
	if (contact_delivery_hash(in->secret, in->secretlen, in->event_row,
	    in->contact_row, "smtp", hash, sizeof(hash)) == -1 ||
	    buf_printf(&msgid, "<%s@%s>", hash, domain) == -1) {
		snprintf(err, errlen, "contact %s: cannot make the Message-ID",
		    cid);
		goto out;
	}
	if (cfg->unsubscribe_mailto != NULL) {
		if (contact_token_make(in->secret, in->secretlen, cid,
		    in->post->id, token, sizeof(token)) == -1)
			goto out;
		buf_printf(&mailto, "mailto:%s?subject=unsubscribe%%20%s",
		    cfg->unsubscribe_mailto, token);
	}
	name = json_string_value(json_object_get(in->contact, "name"));
	memset(&rm, 0, sizeof(rm));
	rm.from.name = in->post->name;
	rm.from.addr = from;
	rm.to.name = name;
	rm.to.addr = email;
	rm.message_id = msgid.data;
	rm.date = in->date;
	rm.list_unsubscribe_https = unsub.len ? unsub.data : NULL;
	rm.list_unsubscribe_mailto = mailto.len ? mailto.data : NULL;
	rm.contact_id = cid;
	buf_reset(msg);
	if (render_email(out, &rm, msg, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	buf_free(&unsub);
	buf_free(&mailto);
	buf_free(&msgid);
	return rc;
}
