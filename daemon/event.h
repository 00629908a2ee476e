/* event.h - outreach events, schema v1 (DESIGN.md 3): validation of a
 * topic and a JSON document as received from a publisher, and the
 * canonical form whose SHA-256 tells a retry (duplicate) from a different
 * event under the same id (id_conflict).  Nothing here touches the
 * network or the journal. */
#ifndef OUTREACH_EVENT_H
#define OUTREACH_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "priority.h"

/* Values per filter of an event's audience object. */
#define EVENT_AUDIENCE_MAX	256

enum event_status {
	EVENT_ACTUAL = 0,
	EVENT_EXERCISE,
	EVENT_TEST,
};

/* Why an event was refused: code is one of the rejection codes of DESIGN.md
 * 3 that validation can produce ("bad_topic", "too_large", "bad_json",
 * "bad_utf8", "missing_field", "invalid_field", "unknown_type"); field is
 * the JSON path of the offending value ("starts_at", "title.fr",
 * "links[1].url") or "" when none; message is one sentence for people.
 * No contact data can appear here: events carry none.  Besides those,
 * "overloaded" means memory ran out (nothing wrong with the event; the
 * publisher may retry).  A duplicate key is bad_json with field the path
 * of the repeated key, written as in the document (escapes kept).  field
 * and message are always valid UTF-8 without control characters (any
 * are shown as '?'), truncated to fit. */
struct event_error {
	const char	*code;
	char		 field[128];
	char		 message[256];
};

/* canonical is json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS): UTF-8 (not
 * JSON_ENSURE_ASCII), no whitespace, keys sorted bytewise, escapes and
 * numbers written one way; so documents differing only in key order,
 * whitespace or escape spelling share it and its sha256.  It is the
 * document as sent: defaults (priority, status, lang) are not filled in.
 * Times are >= 0 (events before 1970 are refused), so -1 means absent. */
struct event {
	json_t			*doc;		/* the validated document (owned) */
	char			*canonical;	/* compact, keys sorted (owned) */
	size_t			 canonical_len;
	unsigned char		 sha256[32];	/* of canonical */
	const char		*id;		/* these point into doc */
	const char		*type;
	const char		*lang;		/* event's or the default given */
	const char		*replaces;	/* NULL when absent */
	int			 cancel;
	enum priority		 priority;
	enum event_status	 status;
	int64_t			 starts_at_ms;	/* -1 when absent */
	int64_t			 ends_at_ms;
	int64_t			 not_before_ms;
	int64_t			 expires_at_ms;
	int64_t			 seq;		/* 0 when absent */
};

/* Limits and defaults the daemon's config gives the validator.  max_bytes
 * 0 means 65536 (the DESIGN default); a type not among types[0..ntypes)
 * is unknown_type; default_lang is not copied (ev->lang may point to it).
 * event_parse takes NULL rules as {65536, no types, no default_lang}. */
struct event_rules {
	size_t			 max_bytes;	/* of the JSON document */
	const char *const	*types;		/* accepted types */
	size_t			 ntypes;
	const char		*default_lang;	/* the post's; used for lang */
};

/* Validate topic (topic_len bytes) and the JSON document (len bytes, not
 * NUL-terminated) against schema v1.  Returns 0 and fills *ev (free with
 * event_clear), or -1 and fills *err.  Never aborts on any input.
 * *ev is overwritten (clear a previous event first); on failure it is left
 * zeroed.  Checks run in this order and the first failure is reported:
 * topic, size, UTF-8, JSON, top-level object, unknown keys, required keys,
 * then each key in the order of the DESIGN table, then the rules between
 * keys (ends_at >= starts_at, expires_at > not_before, cancel needs
 * replaces).  Choices where DESIGN is silent:
 * - country codes (location.country, audience.countries) must be upper
 *   case ("PH", not "ph") and known to ICU, so there is one spelling to
 *   match contacts against;
 * - language tags: [A-Za-z0-9-], at most 64 bytes, parsed whole by ICU;
 *   timezone: an ICU system id (IANA names and their aliases), at most
 *   64 bytes; custom ids like "GMT+05:00" are refused;
 * - URLs (location.url, links[].url): "https://" (scheme in any case), a
 *   non-empty host, optional :port, no userinfo ("@"), and no space,
 *   control character, '"', '<', '>', '\' or '`';
 * - title (each language) must not be empty, nor may audience values,
 *   audience arrays or link labels; summary and body may be empty;
 * - links[] entries need both label and url (else missing_field). */
int	event_parse(const char *topic, size_t topic_len, const char *json,
	    size_t len, const struct event_rules *, struct event *ev,
	    struct event_error *err);
void	event_clear(struct event *);

/* Parse an RFC 3339 date-time with a mandatory offset ("Z" or +hh:mm) into
 * milliseconds since the epoch.  0, or -1 when malformed or out of range.
 * Strict RFC 3339 5.6: YYYY-MM-DD, 'T' or 't' (no space), hh:mm:ss, an
 * optional fraction of 1+ digits (milliseconds kept, further digits
 * ignored, not rounded), then 'Z', 'z', +hh:mm or -hh:mm ("-00:00" is
 * UTC).  Year 0000-9999 (proleptic Gregorian; results before 1970 are
 * negative), real month lengths with leap years, hour 00-23 (no 24:00),
 * offset hour 00-23 and minute 00-59.  Second 60 (a leap second, at any
 * minute since offsets shift it) counts as second 59. */
int	event_parse_time(const char *s, int64_t *ms);

/* The status named s ("actual", "exercise", "test") or -1; and the name
 * of a status ("?" when out of range).  Names are static. */
int	event_status_parse(const char *s);
const char *event_status_name(int);

#endif
