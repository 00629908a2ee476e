/* contact.h - contacts (DESIGN.md 2): validation and normalisation of one
 * contact from a JSON object or from CSV cells (same rules, same error
 * texts), its JSON shape, the signed unsubscribe tokens of DESIGN.md 5 and
 * the keyed hash behind outward delivery identifiers.  A struct contact owns
 * all its strings; nothing here touches the journal or the network.
 * Privacy (DESIGN.md 1): error texts never quote a value, only field names. */
#ifndef OUTREACH_CONTACT_H
#define OUTREACH_CONTACT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum contact_status {
	CONTACT_ACTIVE = 0,
	CONTACT_UNSUBSCRIBED,
	CONTACT_BOUNCED,
};

#define CONTACT_ID_MAX		64	/* bytes of an external id */
#define CONTACT_TEXT_MAX	200	/* characters of name, region, ... */
#define CONTACT_EMAIL_MAX	254	/* octets of an address */
#define CONTACT_LOCAL_MAX	64	/* octets of its local part */
#define CONTACT_URL_MAX		2048	/* bytes of a webhook_url */
#define CONTACT_LANG_MAX	16	/* languages per contact */
#define CONTACT_TAGS_MAX	64	/* tags per contact */
#define CONTACT_SUBS_MAX	256	/* subscriptions per contact */
#define CONTACT_POST_MAX	64	/* bytes of a post id in a token */

/* Which fields were given (struct contact.present). */
#define CONTACT_F_ID		0x0001
#define CONTACT_F_NAME		0x0002
#define CONTACT_F_EMAIL		0x0004
#define CONTACT_F_WEBHOOK_URL	0x0008
#define CONTACT_F_LANGUAGES	0x0010
#define CONTACT_F_COUNTRY	0x0020
#define CONTACT_F_REGION	0x0040
#define CONTACT_F_CITY		0x0080
#define CONTACT_F_TAGS		0x0100
#define CONTACT_F_SUBSCRIPTIONS	0x0200
#define CONTACT_F_CONSENT_AT	0x0400
#define CONTACT_F_CONSENT_SOURCE 0x0800
#define CONTACT_F_STATUS	0x1000
#define CONTACT_F_TEST		0x2000
#define CONTACT_F_CREATED_AT	0x4000
#define CONTACT_F_UPDATED_AT	0x8000

/* One contact's validated, normalised values.  Absent strings are NULL;
 * absent times are -1.  languages keep their order (it is the reader's
 * preference); tags and subscriptions are sets, kept sorted bytewise, so
 * two contacts with the same sets compare equal whatever the input order.
 * created_at/updated_at are the journal's: parsed when an import carries
 * them (an export read back), written by contact_to_json when >= 0, and
 * ignored by contact_equal.  present tells which fields were given. */
struct contact {
	char			*id;
	char			*name;
	char			*email;		/* domain lowered */
	char			*webhook_url;	/* host lowered */
	char			**languages;	/* ICU canonical tags */
	size_t			 nlanguages;
	char			 country[3];	/* "" or alpha-2 */
	char			*region;
	char			*city;
	char			**tags;
	size_t			 ntags;
	char			**subscriptions;
	size_t			 nsubscriptions;
	int64_t			 consent_at_ms;
	char			*consent_source;
	enum contact_status	 status;	/* default CONTACT_ACTIVE */
	int			 test;		/* default 0 */
	int64_t			 created_at_ms;
	int64_t			 updated_at_ms;
	unsigned int		 present;	/* CONTACT_F_* */
};

/* What is wrong, for "line N: FIELD: REASON".  field is the key or column
 * name (an unknown one is shown only when it looks like a field name,
 * [a-z0-9_]{1,31}, else "?"); "" when the whole object is wrong.  reason
 * is one sentence that never contains the value (it may hold an item
 * number, "item 2: ...").  Both are ASCII without control characters. */
struct contact_error {
	char	field[32];
	char	reason[192];
};

/* What the config decides.  NULL rules mean all zero. */
struct contact_rules {
	int	allow_utf8_local;	/* RFC 6531 UTF-8 local parts */
};

/* Make *c an empty contact (nothing present, times -1, active, not test). */
void	contact_init(struct contact *c);
/* Free what *c owns and leave it as contact_init does.  NULL is a no-op. */
void	contact_clear(struct contact *c);

/*
 * Validate a JSON object whose keys are the field names of DESIGN.md 2
 * (id, name, email, webhook_url, languages, country, region, city, tags,
 * subscriptions, consent_at, consent_source, status, test, created_at,
 * updated_at) into *c, which is overwritten (clear a previous contact
 * first).  Lists are arrays of strings, test is a boolean, times are
 * RFC 3339 strings; null means absent; "" is refused (omit the key).
 * Unknown keys are refused.  Keys are checked in the order above, then
 * contact_check_complete.  Returns 0, or -1 with *err filled and *c
 * cleared.  Never aborts on any input.
 *
 * Rules (both sources):
 * - id: [A-Za-z0-9._:-]{1,64}; one with '@' is refused as an address.
 * - email: RFC 5321 Mailbox, at most 254 octets.  Local part: dot-string
 *   or quoted-string (4.1.2), non-empty, at most 64 octets, kept as
 *   given; UTF-8 in it (RFC 6531) only with rules->allow_utf8_local.
 *   Domain: LDH host name, at least two labels, labels 1-63 octets not
 *   starting or ending with '-', the last not all digits; stored in lower
 *   case.  Internationalised domains must be given as A-labels (xn--),
 *   which must decode (UTS 46); U-labels are refused.  Address literals
 *   ([192.0.2.1], [IPv6:...]) are refused: a notification service writes
 *   to mail domains, and literals bypass MX routing and DKIM alignment.
 * - webhook_url: "https://" (any case), an ASCII host (LDH labels, A-labels
 *   for IDNs, or a [IPv6] literal), optional port 1-65535, no userinfo, no
 *   fragment; printable ASCII only (percent-encode the rest), none of
 *   space " < > \ ` { } | ^; at most 2048 bytes; scheme and host are
 *   stored in lower case.  Where the host resolves is checked at delivery.
 * - languages: BCP 47 tags of [A-Za-z0-9-] (at most 64 bytes each) parsed
 *   whole by ICU and stored in ICU's canonical form ("EN-gb" -> "en-GB",
 *   "iw" -> "he"); "und" (and tags ICU reduces to it) refused; at most 16;
 *   no duplicates after canonicalisation.
 * - country: ISO 3166-1 alpha-2 in upper case ("PH"; "ph" is refused, as
 *   in events, so there is one spelling to match against), known to ICU.
 * - name, region, city, consent_source: at most 200 characters of UTF-8
 *   without control characters.
 * - tags: slugs [a-z0-9][a-z0-9-]{0,62}, at most 64, no duplicates.
 * - subscriptions: topic prefixes ending at a dot, or whole topics
 *   (topic_prefix_valid), at most 256, no duplicates.
 * - consent_at, created_at, updated_at: RFC 3339 (event_parse_time), not
 *   before 1970.
 * - status: active, unsubscribed or bounced.  test: a boolean.
 * - no list item may contain ';' (a CSV list cell could not hold it).
 */
int	contact_from_json(json_t *obj, const struct contact_rules *,
	    struct contact *c, struct contact_error *err);

/*
 * Set one field of *c from a CSV cell: column is a field name as for JSON,
 * value is len bytes (not NUL-terminated; a NUL byte is refused).  An empty
 * cell means absent and is accepted without change.  Lists are separated by
 * ';', spaces around items ignored ("en; fr"), empty items refused.  test
 * takes true/false/yes/no/1/0 in any case.  Other values are taken as they
 * are (no trimming).  Setting a field twice is refused.  Returns 0, or -1
 * with *err filled and *c unchanged.  Call contact_check_complete once all
 * cells of a row are set.
 */
int	contact_set_field(struct contact *c, const struct contact_rules *,
	    const char *column, const char *value, size_t len,
	    struct contact_error *err);

/* Rules across fields: an id is required, and an email or a webhook_url.
 * Returns 0, or -1 with *err filled. */
int	contact_check_complete(const struct contact *c,
	    struct contact_error *err);

/* The JSON shape of c: id, name, email, webhook_url, languages, country,
 * region, city, tags, subscriptions, consent_at, consent_source, status,
 * test, created_at, updated_at.  The lists, status and test always appear,
 * other fields only when present; times in RFC 3339 UTC ("...Z", with
 * milliseconds only when not zero).  with_private 0 leaves out name, email
 * and webhook_url (default outputs, DESIGN.md 1).  Returns a new object
 * (caller json_decref's it), or NULL when memory ran out. */
json_t	*contact_to_json(const struct contact *c, int with_private);

/* 1 when a and b hold the same values (created_at, updated_at and present
 * aside), else 0: an upsert with an equal contact changes nothing. */
int	contact_equal(const struct contact *a, const struct contact *b);

/* The status named s or -1; the name of a status ("?" when out of range).
 * Names are static. */
int	contact_status_parse(const char *s);
const char *contact_status_name(int);

/*
 * Unsubscribe tokens (DESIGN.md 5).  A token is base64url without padding
 * of: version byte 1, id length, contact id, post length, post, then the
 * first 16 bytes of HMAC-SHA256(secret, "outreachd-unsubscribe-v1" NUL
 * payload).  It carries the external contact id and the post id (both
 * [A-Za-z0-9._:-]{1,64}), never an internal row id; it is signed, not
 * encrypted, so whoever holds the URL (the contact) can read the contact
 * id.  Tokens do not expire: an unsubscribe link must keep working.
 * secret must be at least 16 bytes.  At most CONTACT_TOKEN_SIZE - 1
 * characters, all of [A-Za-z0-9_-].
 */
#define CONTACT_TOKEN_SIZE	200

/* Write the token for (contact_id, post) to out (outlen bytes, NUL
 * included; CONTACT_TOKEN_SIZE is always enough).  Returns 0, or -1 when an
 * argument is invalid or out is too small. */
int	contact_token_make(const unsigned char *secret, size_t secretlen,
	    const char *contact_id, const char *post, char *out, size_t outlen);
/* Check a token (NUL-terminated) and copy its contact id and post into
 * id_out and post_out (CONTACT_ID_MAX + 1 and CONTACT_POST_MAX + 1 bytes
 * are always enough).  The MAC is compared in constant time before the
 * payload is read.  Returns 0 when valid, -1 when not (forged, damaged,
 * unknown version, wrong secret, or an output too small). */
int	contact_token_verify(const unsigned char *secret, size_t secretlen,
	    const char *token, char *id_out, size_t id_outlen, char *post_out,
	    size_t post_outlen);

/*
 * The keyed hash of a delivery key (DESIGN.md 2): HMAC-SHA256(secret,
 * "outreachd-delivery-v1" NUL, event_row and contact_row as 8-byte
 * big-endian, channel) in lower-case base32 without padding (RFC 4648
 * alphabet): 52 characters of [a-z2-7], usable as a Message-ID local part
 * and a webhook-id.  Stable for the same inputs and secret; channel is
 * [a-z]{1,16} ("smtp", "webhook").  secret at least 16 bytes, outlen at
 * least CONTACT_DELIVERY_HASH_SIZE.  Returns 0, or -1 on a bad argument.
 */
#define CONTACT_DELIVERY_HASH_SIZE	53
int	contact_delivery_hash(const unsigned char *secret, size_t secretlen,
	    int64_t event_row, int64_t contact_row, const char *channel,
	    char *out, size_t outlen);

#endif
