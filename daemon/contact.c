/* contact.c - validation and normalisation of contacts (DESIGN.md 2) from
 * JSON objects and CSV cells, their JSON shape, unsubscribe tokens and the
 * keyed delivery hash.  Both sources go through the same per-field
 * validators, so they share rules and error texts.  Error reasons are fixed
 * sentences (plus item numbers): no value is ever copied into them. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unicode/uidna.h>
#include <unicode/uloc.h>

#include "contact.h"
#include "event.h"
#include "topic.h"
#include "utf8.h"

#define LANG_TAG_MAX	64	/* bytes of a language tag as given */
#define LANG_CANON_MAX	128	/* bytes of ICU's canonical form */
#define TIME_TEXT_MAX	64	/* bytes of an RFC 3339 time as given */
#define HOST_MAX	253	/* octets of a DNS name in text form */
#define TOKEN_VERSION	1
#define TOKEN_MAC_LEN	16
#define SECRET_MIN	16
#define SECRET_MAX	(1u << 20)

static const char token_label[] = "outreachd-unsubscribe-v1";
static const char delivery_label[] = "outreachd-delivery-v1";

enum kind {
	K_ID,
	K_TEXT,
	K_EMAIL,
	K_URL,
	K_LANGS,
	K_COUNTRY,
	K_TAGS,
	K_SUBS,
	K_TIME,
	K_STATUS,
	K_BOOL,
};

struct field {
	const char	*name;
	unsigned int	 flag;
	enum kind	 kind;
};

/* In the order of DESIGN.md 2; JSON objects are checked in this order. */
static const struct field fields[] = {
	{ "id",			CONTACT_F_ID,		K_ID },
	{ "name",		CONTACT_F_NAME,		K_TEXT },
	{ "email",		CONTACT_F_EMAIL,	K_EMAIL },
	{ "webhook_url",	CONTACT_F_WEBHOOK_URL,	K_URL },
	{ "languages",		CONTACT_F_LANGUAGES,	K_LANGS },
	{ "country",		CONTACT_F_COUNTRY,	K_COUNTRY },
	{ "region",		CONTACT_F_REGION,	K_TEXT },
	{ "city",		CONTACT_F_CITY,		K_TEXT },
	{ "tags",		CONTACT_F_TAGS,		K_TAGS },
	{ "subscriptions",	CONTACT_F_SUBSCRIPTIONS, K_SUBS },
	{ "consent_at",		CONTACT_F_CONSENT_AT,	K_TIME },
	{ "consent_source",	CONTACT_F_CONSENT_SOURCE, K_TEXT },
	{ "status",		CONTACT_F_STATUS,	K_STATUS },
	{ "test",		CONTACT_F_TEST,		K_BOOL },
	{ "created_at",		CONTACT_F_CREATED_AT,	K_TIME },
	{ "updated_at",		CONTACT_F_UPDATED_AT,	K_TIME },
};
#define NFIELDS	(sizeof(fields) / sizeof(fields[0]))

#define UNKNOWN_FIELD	"unknown field; the fields are id, name, email, " \
	"webhook_url, languages, country, region, city, tags, subscriptions, " \
	"consent_at, consent_source, status, test, created_at, updated_at"

static const char *const status_names[] = { "active", "unsubscribed",
    "bounced" };

/* A list being built: all slots allocated up front (the count is known). */
struct strlist {
	char	**v;
	size_t	  n;
};

static int	fail(struct contact_error *, const char *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/* Fill err with field and the formatted reason; returns -1. */
static int
fail(struct contact_error *err, const char *field, const char *fmt, ...)
{
	va_list	ap;

	(void)snprintf(err->field, sizeof(err->field), "%s", field);
	va_start(ap, fmt);
	(void)vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* The reason for an item of a list: "item N: reason" (1-based). */
static int
fail_item(struct contact_error *err, const char *field, size_t idx,
    const char *reason)
{
	return fail(err, field, "item %zu: %s", idx + 1, reason);
}

/* An unknown key or column: shown only when it looks like a field name,
 * so a header row that is really data does not end up in a log. */
static int
fail_unknown(struct contact_error *err, const char *key)
{
	size_t	i, n = strlen(key);
	int	ok = n >= 1 && n < sizeof(err->field);

	for (i = 0; ok && i < n; i++)
		if (!((key[i] >= 'a' && key[i] <= 'z') ||
		    (key[i] >= '0' && key[i] <= '9') || key[i] == '_'))
			ok = 0;
	return fail(err, ok ? key : "?", "%s", UNKNOWN_FIELD);
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
to_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static char *
memdup_str(const char *s, size_t n)
{
	char	*p;

	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void
strs_free(char **v, size_t n)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static const struct field *
field_find(const char *name)
{
	size_t	i;

	for (i = 0; i < NFIELDS; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

/* [A-Za-z0-9._:-]{1,max} */
static int
ident_valid(const char *s, size_t n, size_t max)
{
	size_t	i;

	if (n < 1 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alpha((unsigned char)s[i]) &&
		    !is_digit((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != ':' && s[i] != '-')
			return 0;
	return 1;
}

/* Every string value: strict UTF-8, no control character (NUL included). */
static int
check_clean(const char *field, const char *s, size_t n,
    struct contact_error *err)
{
	if (!utf8_valid(s, n))
		return fail(err, field, "not valid UTF-8");
	if (!utf8_text_ok(s, n, NULL))
		return fail(err, field, "contains a control character");
	return 0;
}

static int
check_id(const char *field, const char *s, size_t n, struct contact_error *err)
{
	if (memchr(s, '@', n) != NULL)
		return fail(err, field, "an id, not an address: ids must not "
		    "contain '@'");
	if (n > CONTACT_ID_MAX)
		return fail(err, field, "longer than %d characters",
		    CONTACT_ID_MAX);
	if (!ident_valid(s, n, CONTACT_ID_MAX))
		return fail(err, field, "may contain only A-Z, a-z, 0-9 and "
		    ". _ : -");
	return 0;
}

static int
check_text(const char *field, const char *s, size_t n,
    struct contact_error *err)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, chars = 0;
	uint32_t		 cp;
	int			 k;

	for (i = 0; i < n; i += (size_t)k, chars++)
		if ((k = utf8_decode(p + i, n - i, &cp)) < 0)
			return fail(err, field, "not valid UTF-8");
	if (chars > CONTACT_TEXT_MAX)
		return fail(err, field, "longer than %d characters",
		    CONTACT_TEXT_MAX);
	return 0;
}

/* 1 when the xn-- label s[0..n) is a valid A-label (UTS 46). */
static int
alabel_valid(const char *s, size_t n)
{
	UIDNA		*idna;
	UIDNAInfo	 info = UIDNA_INFO_INITIALIZER;
	UErrorCode	 st = U_ZERO_ERROR;
	char		 out[256];
	int		 ok;

	idna = uidna_openUTS46(UIDNA_CHECK_BIDI | UIDNA_CHECK_CONTEXTJ |
	    UIDNA_NONTRANSITIONAL_TO_UNICODE, &st);
	if (U_FAILURE(st))
		return 0;
	(void)uidna_labelToUnicodeUTF8(idna, s, (int32_t)n, out,
	    (int32_t)sizeof(out), &info, &st);
	ok = U_SUCCESS(st) && st != U_STRING_NOT_TERMINATED_WARNING &&
	    info.errors == 0;
	uidna_close(idna);
	return ok;
}

/* A DNS host name of LDH labels (what = "domain" or "host").  With
 * mail set: at least two labels and the last not all digits; without:
 * all-numeric names must be dotted-quad IPv4 addresses. */
static int
check_host(const char *field, const char *what, const char *s, size_t n,
    int mail, struct contact_error *err)
{
	struct in_addr	a4;
	size_t		i, j, start, len, labels = 0;
	int		c, numeric, last_numeric = 0, all_numeric = 1;
	char		v4[16];

	if (n == 0)
		return fail(err, field, "has no %s", what);
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return fail(err, field, "%s is not ASCII: give an "
			    "internationalised domain as A-labels (xn--...)",
			    what);
	if (n > HOST_MAX)
		return fail(err, field, "%s longer than %d octets", what,
		    HOST_MAX);
	for (start = 0; start <= n; start = i + 1) {
		for (i = start; i < n && s[i] != '.'; i++)
			;
		len = i - start;
		labels++;
		if (len == 0)
			return fail(err, field, "%s has an empty label (a "
			    "leading, trailing or double dot)", what);
		if (len > 63)
			return fail(err, field, "%s has a label longer than "
			    "63 octets", what);
		numeric = 1;
		for (j = start; j < i; j++) {
			c = (unsigned char)s[j];
			if (!is_alpha(c) && !is_digit(c) && c != '-')
				return fail(err, field, "%s may contain only "
				    "letters, digits, '-' and dots", what);
			if (!is_digit(c))
				numeric = 0;
		}
		if (s[start] == '-' || s[i - 1] == '-')
			return fail(err, field, "%s has a label starting or "
			    "ending with '-'", what);
		if (len >= 4 && strncasecmp(s + start, "xn--", 4) == 0 &&
		    !alabel_valid(s + start, len))
			return fail(err, field, "%s has an invalid A-label "
			    "(xn--...)", what);
		last_numeric = numeric;
		if (!numeric)
			all_numeric = 0;
	}
	if (mail) {
		if (labels < 2)
			return fail(err, field, "domain needs at least one dot "
			    "(e.g. example.org)");
		if (last_numeric)
			return fail(err, field, "top-level domain is all "
			    "digits (address literals are not accepted)");
		return 0;
	}
	if (all_numeric) {
		if (n >= sizeof(v4))
			return fail(err, field, "host is not a valid IPv4 "
			    "address");
		memcpy(v4, s, n);
		v4[n] = '\0';
		if (inet_pton(AF_INET, v4, &a4) != 1)
			return fail(err, field, "host is not a valid IPv4 "
			    "address");
	} else if (last_numeric)
		return fail(err, field, "host's last label is all digits");
	return 0;
}

/* RFC 5321 4.1.2 atext */
static int
is_atext(int c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* The local part at s[0..n): dot-string or quoted-string, ending right
 * before '@'.  Sets *at to the index of that '@'. */
static int
check_local(const char *field, const char *s, size_t n, int utf8_ok,
    size_t *at, struct contact_error *err)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0;
	uint32_t		 cp;
	int			 k, prev_dot = 1;

	if (n > 0 && s[0] == '"') {
		for (i = 1; i < n && s[i] != '"'; i++) {
			if (p[i] >= 0x80) {
				if (!utf8_ok)
					goto not_ascii;
				if ((k = utf8_decode(p + i, n - i, &cp)) < 0)
					return fail(err, field, "not valid "
					    "UTF-8");
				i += (size_t)k - 1;
			} else if (s[i] == '\\') {
				if (i + 1 >= n || p[i + 1] < 32 ||
				    p[i + 1] > 126)
					return fail(err, field, "local part "
					    "has a bad quoted pair");
				i++;
			} else if (p[i] < 32 || p[i] > 126)
				return fail(err, field, "local part has a "
				    "character not allowed in a quoted "
				    "string");
		}
		if (i >= n)
			return fail(err, field, "local part has an "
			    "unterminated quoted string");
		if (i == 1)
			return fail(err, field, "local part is empty");
		i++;
		if (i >= n || s[i] != '@')
			return fail(err, field, "not an address: the quoted "
			    "local part must be followed by '@'");
	} else {
		for (i = 0; i < n && s[i] != '@'; i++) {
			if (s[i] == '.') {
				if (prev_dot)
					goto dots;
				prev_dot = 1;
				continue;
			}
			prev_dot = 0;
			if (p[i] >= 0x80) {
				if (!utf8_ok)
					goto not_ascii;
				if ((k = utf8_decode(p + i, n - i, &cp)) < 0)
					return fail(err, field, "not valid "
					    "UTF-8");
				i += (size_t)k - 1;
			} else if (!is_atext(p[i]))
				return fail(err, field, "local part has a "
				    "character that is not allowed unquoted "
				    "(RFC 5321 dot-string)");
		}
		if (i >= n)
			return fail(err, field, "not an address: no '@'");
		if (i == 0)
			return fail(err, field, "local part is empty");
		if (prev_dot)
			goto dots;
	}
	if (i > CONTACT_LOCAL_MAX)
		return fail(err, field, "local part longer than %d octets",
		    CONTACT_LOCAL_MAX);
	*at = i;
	return 0;
dots:
	return fail(err, field, "local part starts or ends with a dot or "
	    "has two in a row");
not_ascii:
	return fail(err, field, "local part is not ASCII (internationalised "
	    "addresses are not enabled)");
}

/* An RFC 5321 Mailbox without address literals; *out gets the address
 * with its domain in lower case (caller frees). */
static int
check_email(const char *field, const char *s, size_t n, int utf8_ok,
    char **out, struct contact_error *err)
{
	size_t	at = 0, i;
	char	*p;

	if (n > CONTACT_EMAIL_MAX)
		return fail(err, field, "longer than %d octets",
		    CONTACT_EMAIL_MAX);
	if (check_local(field, s, n, utf8_ok, &at, err) == -1)
		return -1;
	if (at + 1 < n && s[at + 1] == '[')
		return fail(err, field, "address literals ([...]) are not "
		    "accepted; give a domain name");
	if (check_host(field, "domain", s + at + 1, n - at - 1, 1,
	    err) == -1)
		return -1;
	if ((p = memdup_str(s, n)) == NULL)
		return fail(err, field, "out of memory");
	for (i = at + 1; i < n; i++)
		p[i] = (char)to_lower((unsigned char)p[i]);
	*out = p;
	return 0;
}

/* An https URL for webhooks; *out gets it with scheme and host in lower
 * case (caller frees). */
static int
check_url(const char *field, const char *s, size_t n, char **out,
    struct contact_error *err)
{
	size_t		 i, end, host, host_end, a;
	unsigned long	 port;
	char		 v6[64], *p;
	struct in6_addr	 a6;

	if (n > CONTACT_URL_MAX)
		return fail(err, field, "longer than %d bytes",
		    CONTACT_URL_MAX);
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] >= 0x80)
			return fail(err, field, "not ASCII: percent-encode "
			    "other characters, and give an internationalised "
			    "host as A-labels (xn--...)");
		if (strchr(" \"<>\\`{}|^", s[i]) != NULL)
			return fail(err, field, "contains a space or a "
			    "character that must be percent-encoded");
	}
	if (n >= 7 && strncasecmp(s, "http://", 7) == 0)
		return fail(err, field, "must use https (plain http is not "
		    "accepted)");
	if (n < 8 || strncasecmp(s, "https://", 8) != 0)
		return fail(err, field, "not an https URL (expected "
		    "https://host/path)");
	if (memchr(s, '#', n) != NULL)
		return fail(err, field, "has a fragment (#...), which is never "
		    "sent");
	for (end = 8; end < n && s[end] != '/' && s[end] != '?'; end++)
		;
	if (memchr(s + 8, '@', end - 8) != NULL)
		return fail(err, field, "must not carry userinfo "
		    "(user:password@)");
	host = 8;
	if (host < end && s[host] == '[') {
		for (host_end = host + 1; host_end < end && s[host_end] != ']';
		    host_end++)
			;
		if (host_end == end || host_end - host - 1 >= sizeof(v6) ||
		    host_end == host + 1)
			return fail(err, field, "host is not a valid IPv6 "
			    "literal");
		memcpy(v6, s + host + 1, host_end - host - 1);
		v6[host_end - host - 1] = '\0';
		if (inet_pton(AF_INET6, v6, &a6) != 1)
			return fail(err, field, "host is not a valid IPv6 "
			    "literal");
		a = host_end + 1;
	} else {
		for (a = host; a < end && s[a] != ':'; a++)
			;
		if (check_host(field, "host", s + host, a - host, 0, err) == -1)
			return -1;
		host_end = a;
	}
	if (a < end) {
		if (s[a] != ':' || end - a < 2 || end - a > 6)
			return fail(err, field, "has a bad port (expected "
			    "1-65535)");
		port = 0;
		for (i = a + 1; i < end; i++) {
			if (!is_digit((unsigned char)s[i]))
				return fail(err, field, "has a bad port "
				    "(expected 1-65535)");
			port = port * 10 + (unsigned long)(s[i] - '0');
		}
		if (port < 1 || port > 65535)
			return fail(err, field, "has a bad port (expected "
			    "1-65535)");
	}
	if ((p = memdup_str(s, n)) == NULL)
		return fail(err, field, "out of memory");
	for (i = 0; i < host_end; i++)
		p[i] = (char)to_lower((unsigned char)p[i]);
	*out = p;
	return 0;
}

/* ICU's canonical form of the BCP 47 tag s[0..n) into out.  0, or -1
 * when it is not a tag parsed whole, 1 when it is "und" (undetermined). */
static int
lang_canon(const char *s, size_t n, char *out, size_t outsz)
{
	char		tag[LANG_TAG_MAX + 1], loc[LANG_CANON_MAX];
	int32_t		parsed = 0, len;
	UErrorCode	st = U_ZERO_ERROR;
	size_t		i;

	if (n < 1 || n > LANG_TAG_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (!is_alpha((unsigned char)s[i]) &&
		    !is_digit((unsigned char)s[i]) && s[i] != '-')
			return -1;
	memcpy(tag, s, n);
	tag[n] = '\0';
	(void)uloc_forLanguageTag(tag, loc, (int32_t)sizeof(loc), &parsed,
	    &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING ||
	    parsed < 0 || (size_t)parsed != n)
		return -1;
	st = U_ZERO_ERROR;
	len = uloc_toLanguageTag(loc, out, (int32_t)outsz, 1, &st);
	if (U_FAILURE(st) || st == U_STRING_NOT_TERMINATED_WARNING ||
	    len < 1 || (size_t)len >= outsz)
		return -1;
	if (strcmp(out, "und") == 0 || strncmp(out, "und-", 4) == 0)
		return 1;
	return 0;
}

static int
check_country(const char *field, const char *s, size_t n, char *out,
    struct contact_error *err)
{
	const char *const	*c;

	if (n == 2 && is_alpha((unsigned char)s[0]) &&
	    is_alpha((unsigned char)s[1]) &&
	    !(s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'))
		return fail(err, field, "must be upper case (ISO 3166-1 "
		    "alpha-2, e.g. PH)");
	if (n != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
		return fail(err, field, "not an ISO 3166-1 alpha-2 code (two "
		    "upper-case letters, e.g. PH)");
	for (c = uloc_getISOCountries(); c != NULL && *c != NULL; c++)
		if ((*c)[0] == s[0] && (*c)[1] == s[1] && (*c)[2] == '\0') {
			out[0] = s[0];
			out[1] = s[1];
			out[2] = '\0';
			return 0;
		}
	return fail(err, field, "not an ISO 3166-1 country code known to ICU");
}

static int
check_time(const char *field, const char *s, size_t n, int64_t *ms,
    struct contact_error *err)
{
	char	buf[TIME_TEXT_MAX + 1];

	if (n > TIME_TEXT_MAX)
		goto bad;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (event_parse_time(buf, ms) == -1)
		goto bad;
	if (*ms < 0)
		return fail(err, field, "before 1970");
	/* Stored times are written back in UTC: one that is in year 10000
	 * there (9999-12-31 with a negative offset) could not be read again. */
	if (*ms > 253402300799999LL)
		return fail(err, field, "after 9999-12-31T23:59:59Z");
	return 0;
bad:
	return fail(err, field, "not an RFC 3339 date-time (e.g. "
	    "2026-05-01T10:00:00+02:00)");
}

static int
check_status(const char *field, const char *s, size_t n, int *st,
    struct contact_error *err)
{
	size_t	i;

	for (i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strlen(status_names[i]) == n &&
		    memcmp(status_names[i], s, n) == 0) {
			*st = (int)i;
			return 0;
		}
	return fail(err, field, "not one of active, unsubscribed, bounced");
}

/* The string (scalar) fields: validate s[0..n) (n > 0) and store it. */
static int
set_scalar(struct contact *c, const struct contact_rules *rules,
    const struct field *f, const char *s, size_t n, struct contact_error *err)
{
	char	**dst = NULL, *v = NULL;
	int64_t	 ms;
	int	 st = 0;

	if (check_clean(f->name, s, n, err) == -1)
		return -1;
	switch (f->kind) {
	case K_ID:
		if (check_id(f->name, s, n, err) == -1)
			return -1;
		dst = &c->id;
		break;
	case K_TEXT:
		if (check_text(f->name, s, n, err) == -1)
			return -1;
		if (f->flag == CONTACT_F_NAME)
			dst = &c->name;
		else if (f->flag == CONTACT_F_REGION)
			dst = &c->region;
		else if (f->flag == CONTACT_F_CITY)
			dst = &c->city;
		else
			dst = &c->consent_source;
		break;
	case K_EMAIL:
		if (check_email(f->name, s, n, rules->allow_utf8_local, &v,
		    err) == -1)
			return -1;
		dst = &c->email;
		break;
	case K_URL:
		if (check_url(f->name, s, n, &v, err) == -1)
			return -1;
		dst = &c->webhook_url;
		break;
	case K_COUNTRY:
		if (check_country(f->name, s, n, c->country, err) == -1)
			return -1;
		break;
	case K_TIME:
		if (check_time(f->name, s, n, &ms, err) == -1)
			return -1;
		if (f->flag == CONTACT_F_CONSENT_AT)
			c->consent_at_ms = ms;
		else if (f->flag == CONTACT_F_CREATED_AT)
			c->created_at_ms = ms;
		else
			c->updated_at_ms = ms;
		break;
	case K_STATUS:
		if (check_status(f->name, s, n, &st, err) == -1)
			return -1;
		c->status = (enum contact_status)st;
		break;
	default:
		return fail(err, f->name, "internal error: not a string field");
	}
	if (dst != NULL) {
		if (v == NULL && (v = memdup_str(s, n)) == NULL)
			return fail(err, f->name, "out of memory");
		free(*dst);
		*dst = v;
	}
	c->present |= f->flag;
	return 0;
}

/* strcmp of the string a and s[0..n) (which holds no NUL). */
static int
cmp_mem(const char *a, const char *s, size_t n)
{
	int	r;

	if ((r = strncmp(a, s, n)) != 0)
		return r;
	return a[n] == '\0' ? 0 : 1;
}

/* Validate item idx of a list (s[0..n)) and add it to l, whose slots were
 * allocated for every item.  Languages keep their order; tags and
 * subscriptions are inserted in sorted position. */
static int
add_item(struct strlist *l, const struct field *f, size_t idx, const char *s,
    size_t n, struct contact_error *err)
{
	char	 canon[LANG_CANON_MAX];
	char	*v;
	size_t	 i, lo, hi, mid;
	int	 r, cmp;

	if (n == 0)
		return fail_item(err, f->name, idx, "empty");
	if (memchr(s, ';', n) != NULL)
		return fail_item(err, f->name, idx, "contains ';' (the CSV "
		    "list separator)");
	if (!utf8_valid(s, n))
		return fail_item(err, f->name, idx, "not valid UTF-8");
	if (!utf8_text_ok(s, n, NULL))
		return fail_item(err, f->name, idx, "contains a control "
		    "character");
	switch (f->kind) {
	case K_LANGS:
		if ((r = lang_canon(s, n, canon, sizeof(canon))) == -1)
			return fail_item(err, f->name, idx, "not a BCP 47 "
			    "language tag (e.g. en, pt-BR, zh-Hant)");
		if (r == 1)
			return fail_item(err, f->name, idx, "an undetermined "
			    "language (und) tells nothing");
		for (i = 0; i < l->n; i++)
			if (strcmp(l->v[i], canon) == 0)
				return fail(err, f->name, "item %zu: the same "
				    "language as item %zu", idx + 1, i + 1);
		if ((v = strdup(canon)) == NULL)
			return fail(err, f->name, "out of memory");
		l->v[l->n++] = v;
		return 0;
	case K_TAGS:
		if (!topic_slug_valid(s, n))
			return fail_item(err, f->name, idx, "not a tag "
			    "([a-z0-9][a-z0-9-]{0,62})");
		break;
	case K_SUBS:
		if (!topic_prefix_valid(s, n))
			return fail_item(err, f->name, idx, "not a topic or a "
			    "topic prefix ending at a dot (e.g. embassy.ph. or "
			    "embassy.ph.berlin.)");
		break;
	default:
		return fail(err, f->name, "internal error: not a list field");
	}
	lo = 0;
	hi = l->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((cmp = cmp_mem(l->v[mid], s, n)) == 0)
			return fail_item(err, f->name, idx, "duplicate");
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if ((v = memdup_str(s, n)) == NULL)
		return fail(err, f->name, "out of memory");
	memmove(l->v + lo + 1, l->v + lo, (l->n - lo) * sizeof(*l->v));
	l->v[lo] = v;
	l->n++;
	return 0;
}

/* The most items a list field holds, and its plural name for errors. */
static size_t
list_max(const struct field *f, const char **what)
{
	switch (f->kind) {
	case K_LANGS:
		*what = "languages";
		return CONTACT_LANG_MAX;
	case K_TAGS:
		*what = "tags";
		return CONTACT_TAGS_MAX;
	default:
		*what = "subscriptions";
		return CONTACT_SUBS_MAX;
	}
}

static int
list_begin(struct strlist *l, const struct field *f, size_t count,
    struct contact_error *err)
{
	const char	*what;
	size_t		 max = list_max(f, &what);

	l->v = NULL;
	l->n = 0;
	if (count > max)
		return fail(err, f->name, "more than %zu %s", max, what);
	if ((l->v = calloc(count + 1, sizeof(*l->v))) == NULL)
		return fail(err, f->name, "out of memory");
	return 0;
}

/* Hand the finished list to c. */
static void
list_commit(struct contact *c, const struct field *f, struct strlist *l)
{
	char	***dst;
	size_t	 *dn;

	if (f->kind == K_LANGS) {
		dst = &c->languages;
		dn = &c->nlanguages;
	} else if (f->kind == K_TAGS) {
		dst = &c->tags;
		dn = &c->ntags;
	} else {
		dst = &c->subscriptions;
		dn = &c->nsubscriptions;
	}
	strs_free(*dst, *dn);
	*dst = l->v;
	*dn = l->n;
	l->v = NULL;
	l->n = 0;
	c->present |= f->flag;
}

void
contact_init(struct contact *c)
{
	memset(c, 0, sizeof(*c));
	c->consent_at_ms = -1;
	c->created_at_ms = -1;
	c->updated_at_ms = -1;
	c->status = CONTACT_ACTIVE;
}

void
contact_clear(struct contact *c)
{
	if (c == NULL)
		return;
	free(c->id);
	free(c->name);
	free(c->email);
	free(c->webhook_url);
	strs_free(c->languages, c->nlanguages);
	free(c->region);
	free(c->city);
	strs_free(c->tags, c->ntags);
	strs_free(c->subscriptions, c->nsubscriptions);
	free(c->consent_source);
	contact_init(c);
}

static const struct contact_rules no_rules = { 0 };

/* One key of a JSON object. */
static int
json_field(struct contact *c, const struct contact_rules *rules,
    const struct field *f, json_t *v, struct contact_error *err)
{
	struct strlist	 l = { NULL, 0 };
	json_t		*item;
	size_t		 i;
	int		 rc = -1;

	if (json_is_null(v))
		return 0;	/* absent, like an empty CSV cell */
	switch (f->kind) {
	case K_BOOL:
		if (!json_is_boolean(v))
			return fail(err, f->name, "expected true or false");
		c->test = json_is_true(v);
		c->present |= f->flag;
		return 0;
	case K_LANGS:
	case K_TAGS:
	case K_SUBS:
		if (!json_is_array(v))
			return fail(err, f->name, "expected an array of "
			    "strings");
		if (list_begin(&l, f, json_array_size(v), err) == -1)
			goto out;
		json_array_foreach(v, i, item) {
			if (!json_is_string(item)) {
				fail_item(err, f->name, i, "expected a string");
				goto out;
			}
			if (add_item(&l, f, i, json_string_value(item),
			    json_string_length(item), err) == -1)
				goto out;
		}
		list_commit(c, f, &l);
		rc = 0;
		break;
	default:
		if (!json_is_string(v))
			return fail(err, f->name, "expected a string");
		if (json_string_length(v) == 0)
			return fail(err, f->name, "empty (omit the field, or "
			    "use null)");
		return set_scalar(c, rules, f, json_string_value(v),
		    json_string_length(v), err);
	}
out:
	strs_free(l.v, l.n);
	return rc;
}

int
contact_from_json(json_t *obj, const struct contact_rules *rules,
    struct contact *c, struct contact_error *err)
{
	const char	*key;
	json_t		*v;
	size_t		 i;

	contact_init(c);
	if (rules == NULL)
		rules = &no_rules;
	if (!json_is_object(obj))
		return fail(err, "", "expected a JSON object");
	json_object_foreach(obj, key, v)
		if (field_find(key) == NULL)
			return fail_unknown(err, key);
	for (i = 0; i < NFIELDS; i++) {
		if ((v = json_object_get(obj, fields[i].name)) == NULL)
			continue;
		if (json_field(c, rules, &fields[i], v, err) == -1)
			goto bad;
	}
	if (contact_check_complete(c, err) == -1)
		goto bad;
	return 0;
bad:
	contact_clear(c);
	return -1;
}

/* Trim spaces around s[0..*n). */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && s[0] == ' ') {
		s++;
		(*n)--;
	}
	while (*n > 0 && s[*n - 1] == ' ')
		(*n)--;
	return s;
}

static int
bool_word(const char *s, size_t n, int *b)
{
	static const char *const	t[] = { "true", "yes", "1" };
	static const char *const	f[] = { "false", "no", "0" };
	size_t				i;

	for (i = 0; i < 3; i++) {
		if (strlen(t[i]) == n && strncasecmp(t[i], s, n) == 0) {
			*b = 1;
			return 0;
		}
		if (strlen(f[i]) == n && strncasecmp(f[i], s, n) == 0) {
			*b = 0;
			return 0;
		}
	}
	return -1;
}

int
contact_set_field(struct contact *c, const struct contact_rules *rules,
    const char *column, const char *value, size_t len,
    struct contact_error *err)
{
	const struct field	*f;
	struct strlist		 l = { NULL, 0 };
	const char		*p, *semi, *item;
	size_t			 count, i, rest, n;
	int			 b, rc = -1;

	if (rules == NULL)
		rules = &no_rules;
	if (value == NULL)
		len = 0;
	if (column == NULL || (f = field_find(column)) == NULL)
		return fail_unknown(err, column == NULL ? "" : column);
	if (len == 0)
		return 0;	/* an empty cell: absent */
	if (c->present & f->flag)
		return fail(err, f->name, "given twice");
	switch (f->kind) {
	case K_BOOL:
		if (bool_word(value, len, &b) == -1)
			return fail(err, f->name, "not a boolean (true, false, "
			    "yes, no, 1 or 0)");
		c->test = b;
		c->present |= f->flag;
		return 0;
	case K_LANGS:
	case K_TAGS:
	case K_SUBS:
		count = 1;
		for (i = 0; i < len; i++)
			if (value[i] == ';')
				count++;
		if (list_begin(&l, f, count, err) == -1)
			goto out;
		p = value;
		rest = len;
		for (i = 0; i < count; i++) {
			semi = memchr(p, ';', rest);
			n = semi != NULL ? (size_t)(semi - p) : rest;
			item = trim(p, &n);
			if (add_item(&l, f, i, item, n, err) == -1)
				goto out;
			if (semi != NULL) {
				rest -= (size_t)(semi - p) + 1;
				p = semi + 1;
			}
		}
		list_commit(c, f, &l);
		rc = 0;
		break;
	default:
		return set_scalar(c, rules, f, value, len, err);
	}
out:
	strs_free(l.v, l.n);
	return rc;
}

int
contact_check_complete(const struct contact *c, struct contact_error *err)
{
	if (c->id == NULL)
		return fail(err, "id", "missing (every contact needs an id)");
	if (c->email == NULL && c->webhook_url == NULL)
		return fail(err, "email", "needs an email or a webhook_url");
	return 0;
}

/* Date of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t	era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* ms >= 0 as RFC 3339 UTC; milliseconds only when not zero. */
static int
time_json(json_t *obj, const char *key, int64_t ms)
{
	char	buf[64];
	int64_t	s = ms / 1000, y;
	int	m, d, frac = (int)(ms % 1000), sec = (int)(s % 86400);

	civil_from_days(s / 86400, &y, &m, &d);
	if (frac != 0)
		(void)snprintf(buf, sizeof(buf),
		    "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", (long long)y, m,
		    d, sec / 3600, sec / 60 % 60, sec % 60, frac);
	else
		(void)snprintf(buf, sizeof(buf),
		    "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, m, d,
		    sec / 3600, sec / 60 % 60, sec % 60);
	return json_object_set_new(obj, key, json_string(buf));
}

static int
str_json(json_t *obj, const char *key, const char *s)
{
	if (s == NULL)
		return 0;
	return json_object_set_new(obj, key, json_string(s));
}

static int
list_json(json_t *obj, const char *key, char *const *v, size_t n)
{
	json_t	*a;
	size_t	 i;

	if ((a = json_array()) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) == -1) {
			json_decref(a);
			return -1;
		}
	return json_object_set_new(obj, key, a);
}

json_t *
contact_to_json(const struct contact *c, int with_private)
{
	json_t	*o;
	int	 rc = 0;

	if ((o = json_object()) == NULL)
		return NULL;
	rc |= str_json(o, "id", c->id);
	if (with_private) {
		rc |= str_json(o, "name", c->name);
		rc |= str_json(o, "email", c->email);
		rc |= str_json(o, "webhook_url", c->webhook_url);
	}
	rc |= list_json(o, "languages", c->languages, c->nlanguages);
	if (c->country[0] != '\0')
		rc |= str_json(o, "country", c->country);
	rc |= str_json(o, "region", c->region);
	rc |= str_json(o, "city", c->city);
	rc |= list_json(o, "tags", c->tags, c->ntags);
	rc |= list_json(o, "subscriptions", c->subscriptions,
	    c->nsubscriptions);
	if (c->consent_at_ms >= 0)
		rc |= time_json(o, "consent_at", c->consent_at_ms);
	rc |= str_json(o, "consent_source", c->consent_source);
	rc |= str_json(o, "status", contact_status_name(c->status));
	rc |= json_object_set_new(o, "test", json_boolean(c->test));
	if (c->created_at_ms >= 0)
		rc |= time_json(o, "created_at", c->created_at_ms);
	if (c->updated_at_ms >= 0)
		rc |= time_json(o, "updated_at", c->updated_at_ms);
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
list_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t	i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

int
contact_equal(const struct contact *a, const struct contact *b)
{
	/* Tags and subscriptions are kept sorted, so order-wise equality
	 * is set equality. */
	return str_eq(a->id, b->id) && str_eq(a->name, b->name) &&
	    str_eq(a->email, b->email) &&
	    str_eq(a->webhook_url, b->webhook_url) &&
	    list_eq(a->languages, a->nlanguages, b->languages,
	    b->nlanguages) &&
	    strcmp(a->country, b->country) == 0 &&
	    str_eq(a->region, b->region) && str_eq(a->city, b->city) &&
	    list_eq(a->tags, a->ntags, b->tags, b->ntags) &&
	    list_eq(a->subscriptions, a->nsubscriptions, b->subscriptions,
	    b->nsubscriptions) &&
	    a->consent_at_ms == b->consent_at_ms &&
	    str_eq(a->consent_source, b->consent_source) &&
	    a->status == b->status && !a->test == !b->test;
}

int
contact_status_parse(const char *s)
{
	size_t	i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
contact_status_name(int st)
{
	return st >= CONTACT_ACTIVE && st <= CONTACT_BOUNCED ?
	    status_names[st] : "?";
}

/*
 * HMAC-SHA256 keyed once per thread and secret: each MAC starts again from
 * the keyed state (EVP_MAC_init without a key, which HMAC providers take
 * as "same key"), a fraction of the cost of keying anew as HMAC() does.
 * Notices make two or three MACs each with the installation secret.  The
 * context lives as long as the thread; another secret keys it again.
 */
#define KEYED_MAX	64	/* longer secrets are keyed at each MAC */

static _Thread_local struct {
	EVP_MAC_CTX	*ctx;
	size_t		 len;
	unsigned char	 secret[KEYED_MAX];
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
	if (len > KEYED_MAX)
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

/* HMAC-SHA256(secret, label NUL data) into mac[32]. */
static int
mac_labelled(const unsigned char *secret, size_t secretlen, const char *label,
    const unsigned char *data, size_t len, unsigned char mac[32])
{
	unsigned char	buf[256];
	size_t		llen = strlen(label) + 1, n = 0;
	unsigned int	maclen = 0;
	EVP_MAC_CTX	*k;

	if (secret == NULL || secretlen < SECRET_MIN ||
	    secretlen > SECRET_MAX || llen + len > sizeof(buf))
		return -1;
	if ((k = keyed_ctx(secret, secretlen)) != NULL) {
		if (EVP_MAC_init(k, NULL, 0, NULL) == 1 &&
		    EVP_MAC_update(k, (const unsigned char *)label, llen) ==
		    1 && EVP_MAC_update(k, data, len) == 1 &&
		    EVP_MAC_final(k, mac, &n, 32) == 1 && n == 32)
			return 0;
		keyed_drop();	/* a fresh key next time; HMAC() now */
	}
	memcpy(buf, label, llen);
	memcpy(buf + llen, data, len);
	if (HMAC(EVP_sha256(), secret, (int)secretlen, buf, llen + len, mac,
	    &maclen) == NULL || maclen != 32)
		return -1;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url without padding of in[0..n) into out; -1 when it does not fit. */
static int
b64url_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	size_t		i, o = 0;
	uint32_t	v;

	if (outlen < (n * 4 + 2) / 3 + 1)
		return -1;
	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url[v >> 18 & 63];
		out[o++] = b64url[v >> 12 & 63];
		out[o++] = b64url[v >> 6 & 63];
	}
	out[o] = '\0';
	return 0;
}

static int
b64url_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Strict decoding: alphabet only, no padding, unused bits zero (so each
 * byte string has exactly one spelling).  Returns the length or -1. */
static ssize_t
b64url_decode(const char *s, size_t n, unsigned char *out, size_t outlen)
{
	size_t		i, o = 0;
	uint32_t	acc = 0;
	int		bits = 0, v;

	if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > outlen)
		return -1;
	for (i = 0; i < n; i++) {
		if ((v = b64url_value((unsigned char)s[i])) < 0)
			return -1;
		acc = (acc << 6 | (uint32_t)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (ssize_t)o;
}

/* version, two lengths, id, post, MAC */
#define TOKEN_RAW_MAX	\
	(3 + CONTACT_ID_MAX + CONTACT_POST_MAX + TOKEN_MAC_LEN)

int
contact_token_make(const unsigned char *secret, size_t secretlen,
    const char *contact_id, const char *post, char *out, size_t outlen)
{
	unsigned char	raw[TOKEN_RAW_MAX], mac[32];
	size_t		idlen, postlen, n = 0;

	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (contact_id == NULL || post == NULL)
		return -1;
	idlen = strlen(contact_id);
	postlen = strlen(post);
	if (!ident_valid(contact_id, idlen, CONTACT_ID_MAX) ||
	    !ident_valid(post, postlen, CONTACT_POST_MAX))
		return -1;
	raw[n++] = TOKEN_VERSION;
	raw[n++] = (unsigned char)idlen;
	memcpy(raw + n, contact_id, idlen);
	n += idlen;
	raw[n++] = (unsigned char)postlen;
	memcpy(raw + n, post, postlen);
	n += postlen;
	if (mac_labelled(secret, secretlen, token_label, raw, n, mac) == -1)
		return -1;
	memcpy(raw + n, mac, TOKEN_MAC_LEN);
	n += TOKEN_MAC_LEN;
	if (b64url_encode(raw, n, out, outlen) == -1) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
contact_token_verify(const unsigned char *secret, size_t secretlen,
    const char *token, char *id_out, size_t id_outlen, char *post_out,
    size_t post_outlen)
{
	unsigned char	raw[TOKEN_RAW_MAX], mac[32];
	ssize_t		r;
	size_t		tlen, n, idlen, postlen;

	if (token == NULL || id_out == NULL || post_out == NULL)
		return -1;
	tlen = strnlen(token, CONTACT_TOKEN_SIZE);
	if (tlen >= CONTACT_TOKEN_SIZE)
		return -1;
	if ((r = b64url_decode(token, tlen, raw, sizeof(raw))) < 0)
		return -1;
	n = (size_t)r;
	if (n < 5 + TOKEN_MAC_LEN)
		return -1;
	n -= TOKEN_MAC_LEN;
	if (mac_labelled(secret, secretlen, token_label, raw, n, mac) == -1)
		return -1;
	if (CRYPTO_memcmp(mac, raw + n, TOKEN_MAC_LEN) != 0)
		return -1;
	/* Authentic from here on; still check its shape. */
	if (raw[0] != TOKEN_VERSION)
		return -1;
	idlen = raw[1];
	if (idlen < 1 || 3 + idlen > n)
		return -1;
	postlen = raw[2 + idlen];
	if (3 + idlen + postlen != n ||
	    !ident_valid((const char *)raw + 2, idlen, CONTACT_ID_MAX) ||
	    !ident_valid((const char *)raw + 3 + idlen, postlen,
	    CONTACT_POST_MAX) || idlen >= id_outlen || postlen >= post_outlen)
		return -1;
	memcpy(id_out, raw + 2, idlen);
	id_out[idlen] = '\0';
	memcpy(post_out, raw + 3 + idlen, postlen);
	post_out[postlen] = '\0';
	return 0;
}

int
contact_delivery_hash(const unsigned char *secret, size_t secretlen,
    int64_t event_row, int64_t contact_row, const char *channel, char *out,
    size_t outlen)
{
	static const char	b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char		data[16 + 16], mac[32];
	uint64_t		e = (uint64_t)event_row;
	uint64_t		c = (uint64_t)contact_row;
	uint32_t		acc = 0;
	size_t			i, n, o = 0;
	int			bits = 0;

	if (out == NULL || outlen < CONTACT_DELIVERY_HASH_SIZE)
		return -1;
	out[0] = '\0';
	if (channel == NULL)
		return -1;
	n = strlen(channel);
	if (n < 1 || n > 16)
		return -1;
	for (i = 0; i < n; i++)
		if (channel[i] < 'a' || channel[i] > 'z')
			return -1;
	for (i = 0; i < 8; i++) {
		data[i] = (unsigned char)(e >> (56 - 8 * i));
		data[8 + i] = (unsigned char)(c >> (56 - 8 * i));
	}
	memcpy(data + 16, channel, n);
	if (mac_labelled(secret, secretlen, delivery_label, data, 16 + n,
	    mac) == -1)
		return -1;
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
