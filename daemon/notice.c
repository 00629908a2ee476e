/* notice.c - the envelope around a rendered notice (see notice.h).  One
 * unsubscribe token per notice serves both List-Unsubscribe URLs; the
 * small strings are built on the stack (the limits are those of the
 * buffers this used to print into).  The token and the Message-ID hash
 * are contact.c's formats (contact.h), made here with an HMAC context
 * keyed once per thread and secret; contact.c's functions remain the
 * reference (test_render checks both agree) and the fallback. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config.h"
#include "contact.h"
#include "event.h"
#include "notice.h"
#include "render.h"

#define UNSUB_MAX	4096	/* the https URL */
#define MAILTO_MAX	4096	/* the mailto URL */
#define MSGID_MAX	512	/* "<hash@domain>" */
#define KEY_MIN		16	/* contact.c's shortest secret */
#define KEY_MAX		64	/* longer secrets go through contact.c */
#define TOKEN_MAC_LEN	16	/* contact.h: the first 16 bytes of the MAC */

static const char token_label[] = "outreachd-unsubscribe-v1";
static const char delivery_label[] = "outreachd-delivery-v1";

/*
 * HMAC-SHA256 keyed with the secret once: each MAC starts again from the
 * keyed state (EVP_MAC_init without a key, which HMAC providers take as
 * "same key"), a fraction of the cost of keying anew as HMAC() does.  Per
 * thread, as struct render_sets is; keyed again when another secret comes;
 * lives as long as the thread.
 */
static _Thread_local struct {
	EVP_MAC_CTX	*ctx;
	size_t		 len;
	unsigned char	 secret[KEY_MAX];
} keyed;

static void
keyed_drop(void)
{
	EVP_MAC_CTX_free(keyed.ctx);
	keyed.ctx = NULL;
	keyed.len = 0;
	OPENSSL_cleanse(keyed.secret, sizeof(keyed.secret));
}

static EVP_MAC_CTX *
keyed_ctx(const unsigned char *secret, size_t len)
{
	OSSL_PARAM	 params[2];
	EVP_MAC		*mac;
	EVP_MAC_CTX	*ctx;

	if (keyed.ctx != NULL && keyed.len == len &&
	    CRYPTO_memcmp(keyed.secret, secret, len) == 0)
		return keyed.ctx;
	if (secret == NULL || len < KEY_MIN || len > KEY_MAX)
		return NULL;
	keyed_drop();
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return NULL;
	ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_MAC_init(ctx, secret, len, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	keyed.ctx = ctx;
	keyed.len = len;
	memcpy(keyed.secret, secret, len);
	return ctx;
}

/* HMAC-SHA256(secret, label NUL data) into mac, as contact.c computes it.
 * 0, or -1 (the caller falls back to contact.c). */
static int
mac_labelled(const unsigned char *secret, size_t secretlen, const char *label,
    size_t labellen, const unsigned char *data, size_t len,
    unsigned char mac[32])
{
	EVP_MAC_CTX	*k;
	size_t		 n = 0;

	if ((k = keyed_ctx(secret, secretlen)) == NULL)
		return -1;
	if (EVP_MAC_init(k, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(k, (const unsigned char *)label, labellen + 1) !=
	    1 || EVP_MAC_update(k, data, len) != 1 ||
	    EVP_MAC_final(k, mac, &n, 32) != 1 || n != 32) {
		keyed_drop();	/* start from a fresh key next time */
		return -1;
	}
	return 0;
}

/* [A-Za-z0-9._:-]{1,max}, contact.c's identifier. */
static int
ident_ok(const char *s, size_t n, size_t max)
{
	size_t	i;

	if (n < 1 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '_' || s[i] == ':' || s[i] == '-'))
			return 0;
	return 1;
}

/* contact_token_make (contact.h gives the format) into out
 * (CONTACT_TOKEN_SIZE); 0 or -1. */
static int
token_make(const unsigned char *secret, size_t secretlen, const char *id,
    const char *post, char out[CONTACT_TOKEN_SIZE])
{
	static const char	 b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char		 raw[3 + CONTACT_ID_MAX + CONTACT_POST_MAX +
				    TOKEN_MAC_LEN + 2], mac[32];
	size_t			 idlen, postlen, n = 0, i, o = 0;
	uint32_t		 v;

	if (id == NULL || post == NULL)
		return -1;
	idlen = strlen(id);
	postlen = strlen(post);
	if (!ident_ok(id, idlen, CONTACT_ID_MAX) ||
	    !ident_ok(post, postlen, CONTACT_POST_MAX))
		return -1;
	raw[n++] = 1;	/* the version */
	raw[n++] = (unsigned char)idlen;
	memcpy(raw + n, id, idlen);
	n += idlen;
	raw[n++] = (unsigned char)postlen;
	memcpy(raw + n, post, postlen);
	n += postlen;
	if (mac_labelled(secret, secretlen, token_label,
	    sizeof(token_label) - 1, raw, n, mac) == -1)
		return contact_token_make(secret, secretlen, id, post, out,
		    CONTACT_TOKEN_SIZE);
	memcpy(raw + n, mac, TOKEN_MAC_LEN);
	n += TOKEN_MAC_LEN;
	/* base64url without padding; two zero bytes past the end round the
	 * last group down to whole characters. */
	raw[n] = raw[n + 1] = 0;
	for (i = 0; i < n; i += 3) {
		v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 |
		    raw[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		if (i + 1 < n)
			out[o++] = b64url[v >> 6 & 63];
		if (i + 2 < n)
			out[o++] = b64url[v & 63];
	}
	out[o] = '\0';
	return 0;
}

/* contact_delivery_hash (contact.h) for channel ("smtp", "webhook")
 * into out (CONTACT_DELIVERY_HASH_SIZE); 0 or -1. */
static int
delivery_hash(const unsigned char *secret, size_t secretlen, int64_t event_row,
    int64_t contact_row, const char *channel,
    char out[CONTACT_DELIVERY_HASH_SIZE])
{
	static const char	b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char		data[16 + 16], mac[32];
	uint64_t		e = (uint64_t)event_row;
	uint64_t		c = (uint64_t)contact_row;
	uint32_t		acc = 0;
	size_t			i, o = 0, n = strlen(channel);
	int			bits = 0;

	if (n < 1 || n > 16)
		return -1;
	for (i = 0; i < 8; i++) {
		data[i] = (unsigned char)(e >> (56 - 8 * i));
		data[8 + i] = (unsigned char)(c >> (56 - 8 * i));
	}
	memcpy(data + 16, channel, n);
	if (mac_labelled(secret, secretlen, delivery_label,
	    sizeof(delivery_label) - 1, data, 16 + n, mac) == -1)
		return contact_delivery_hash(secret, secretlen, event_row,
		    contact_row, channel, out, CONTACT_DELIVERY_HASH_SIZE);
	for (i = 0; i < sizeof(mac); i++) {
		acc = (acc << 8 | mac[i]) & 0xffff;
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32[acc >> bits & 31];
		}
	}
	if (bits > 0)
		out[o++] = b32[acc << (5 - bits) & 31];
	out[o] = '\0';
	return 0;
}

int
notice_delivery_hash(const unsigned char *secret, size_t secretlen,
    int64_t event_row, int64_t contact_row, const char *channel, char *out,
    size_t outlen)
{
	size_t	i;

	if (out == NULL || outlen < CONTACT_DELIVERY_HASH_SIZE ||
	    channel == NULL)
		return -1;
	out[0] = '\0';
	for (i = 0; channel[i] != '\0'; i++)
		if (channel[i] < 'a' || channel[i] > 'z')
			return -1;
	return delivery_hash(secret, secretlen, event_row, contact_row,
	    channel, out);
}

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
	if (token_make(secret, secretlen, contact_id, post, token) == -1)
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
		if (token_make(in->secret, in->secretlen, cid, in->post->id,
		    token) == -1 || unsub_url(cfg, token, unsub) == -1) {
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
	if (domain == NULL || delivery_hash(in->secret, in->secretlen,
	    in->event_row, in->contact_row, "smtp", hash) == -1 ||
	    cat(msgid, MSGID_MAX, v, 5) == -1) {
		snprintf(err, errlen, "contact %s: cannot make the Message-ID",
		    cid);
		return -1;
	}
	if (cfg->unsubscribe_mailto != NULL) {
		if (!have_token && token_make(in->secret, in->secretlen, cid,
		    in->post->id, token) == -1) {
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
