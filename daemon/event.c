/* event.c - schema v1 validation of outreach events (DESIGN.md 3) and
 * their canonical form.  A parsed event owns its json_t and canonical
 * text; every other string in struct event points into the document.
 * Errors name the exact JSON path and are always valid UTF-8 without
 * control characters, so they can go to logs and into replies as they are. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <unicode/ucal.h>
#include <unicode/uloc.h>

#include "civil.h"
#include "event.h"
#include "topic.h"
#include "utf8.h"

#define EVENT_DEFAULT_MAX	65536
#define EVENT_ID_MAX		128
#define EVENT_TAG_MAX		64	/* bytes of a language tag */
#define EVENT_TZ_MAX		64	/* bytes of a time zone name */

#define TIME_EXPECTED	"expected e.g. 2026-05-01T10:00:00+02:00"

static const char *const event_keys[] = {
	"v", "id", "type", "title", "summary", "body", "lang", "priority",
	"status", "starts_at", "ends_at", "timezone", "location", "audience",
	"not_before", "expires_at", "links", "replaces", "cancel", "data",
	"seq", NULL
};
static const char *const event_required[] = { "v", "id", "type", "title",
    NULL };
static const char *const location_keys[] = { "name", "address", "city",
    "country", "url", NULL };
static const char *const audience_keys[] = { "countries", "regions",
    "cities", "languages", "tags", NULL };
static const char *const status_names[] = { "actual", "exercise", "test" };

static const struct event_rules event_default_rules = {
	EVENT_DEFAULT_MAX, NULL, 0, NULL
};

/* Rewrite s in place so that it is valid UTF-8 without control
 * characters: controls become '?', the text stops at the first invalid
 * byte (e.g. a code point cut by truncation). */
static void
text_clean(char *s)
{
	const unsigned char	*r = (const unsigned char *)s;
	char			*w = s;
	size_t			 n = strlen(s);
	uint32_t		 cp;
	int			 k;

	while (n > 0) {
		if ((k = utf8_decode(r, n, &cp)) < 0)
			break;
		if (utf8_is_control(cp))
			*w++ = '?';
		else {
			memmove(w, r, (size_t)k);
			w += k;
		}
		r += k;
		n -= (size_t)k;
	}
	*w = '\0';
}

/* Append s to the NUL-terminated dst of size sz, truncating. */
static void
str_cat(char *dst, size_t sz, const char *s, size_t n)
{
	size_t	len = strlen(dst);

	if (len + 1 >= sz)
		return;
	if (n > sz - 1 - len)
		n = sz - 1 - len;
	memcpy(dst + len, s, n);
	dst[len + n] = '\0';
}

/* dst = parent "." key (or key alone at the top), truncated. */
static void
path_key(char *dst, size_t sz, const char *parent, const char *key)
{
	dst[0] = '\0';
	str_cat(dst, sz, parent, strlen(parent));
	if (parent[0] != '\0')
		str_cat(dst, sz, ".", 1);
	str_cat(dst, sz, key, strlen(key));
}

/* dst = parent "[" i "]", truncated. */
static void
path_index(char *dst, size_t sz, const char *parent, size_t i)
{
	char	num[32];
	int	n;

	dst[0] = '\0';
	str_cat(dst, sz, parent, strlen(parent));
	n = snprintf(num, sizeof(num), "[%zu]", i);
	if (n > 0)
		str_cat(dst, sz, num, (size_t)n);
}

/* Fill err: code, field and "field: " followed by the formatted text.
 * Returns -1 so callers can "return fail(...)". */
static int	fail(struct event_error *, const char *, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct event_error *err, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list	ap;
	size_t	len;

	err->code = code;
	err->field[0] = '\0';
	str_cat(err->field, sizeof(err->field), field, strlen(field));
	text_clean(err->field);
	err->message[0] = '\0';
	if (err->field[0] != '\0') {
		str_cat(err->message, sizeof(err->message), err->field,
		    strlen(err->field));
		str_cat(err->message, sizeof(err->message), ": ", 2);
	}
	len = strlen(err->message);
	va_start(ap, fmt);
	(void)vsnprintf(err->message + len, sizeof(err->message) - len, fmt,
	    ap);
	va_end(ap);
	text_clean(err->message);
	return -1;
}

static int
in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* [A-Za-z0-9._:-]{1,128} */
static int
id_valid(const char *s, size_t n)
{
	size_t	i;

	if (n < 1 || n > EVENT_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != ':' && s[i] != '-')
			return 0;
	return 1;
}

/* A well-formed BCP 47 tag, as ICU parses it: all of it consumed. */
static int
lang_valid(const char *s)
{
	char		out[512];
	int32_t		parsed = 0;
	UErrorCode	st = U_ZERO_ERROR;
	size_t		i, n = strlen(s);

	if (n < 1 || n > EVENT_TAG_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	(void)uloc_forLanguageTag(s, out, (int32_t)sizeof(out), &parsed, &st);
	return U_SUCCESS(st) && st != U_STRING_NOT_TERMINATED_WARNING &&
	    parsed >= 0 && (size_t)parsed == n;
}

/* An upper-case ISO 3166-1 alpha-2 code that ICU knows. */
static int
country_valid(const char *s)
{
	const char *const	*c;

	if (strlen(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' ||
	    s[1] > 'Z')
		return 0;
	for (c = uloc_getISOCountries(); c != NULL && *c != NULL; c++)
		if (strcmp(*c, s) == 0)
			return 1;
	return 0;
}

/* A time zone that ICU knows as a system (IANA) id; custom ids such as
 * "GMT+05:00" are refused. */
static int
tz_valid(const char *s)
{
	UChar		id[EVENT_TZ_MAX], canon[128];
	UBool		sys = 0;
	UErrorCode	st = U_ZERO_ERROR;
	size_t		i, n = strlen(s);

	if (n < 1 || n > EVENT_TZ_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (!is_alnum((unsigned char)s[i]) && s[i] != '/' &&
		    s[i] != '_' && s[i] != '+' && s[i] != '-')
			return 0;
		id[i] = (UChar)s[i];
	}
	(void)ucal_getCanonicalTimeZoneID(id, (int32_t)n, canon,
	    (int32_t)(sizeof(canon) / sizeof(canon[0])), &sys, &st);
	return U_SUCCESS(st) && sys;
}

/* "https://" (scheme in any case), a non-empty host with an optional
 * port, no userinfo; no space, control character or " < > \ ` anywhere. */
static int
url_valid(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, a, end, host_end;
	uint32_t		 cp;
	int			 k;

	if (n < 9 || strncasecmp(s, "https://", 8) != 0)
		return 0;
	for (i = 0; i < n; i += (size_t)k) {
		if ((k = utf8_decode(p + i, n - i, &cp)) < 0)
			return 0;
		if (utf8_is_control(cp) || cp == ' ' || cp == '"' ||
		    cp == '<' || cp == '>' || cp == '\\' || cp == '`')
			return 0;
	}
	for (end = 8; end < n; end++)
		if (s[end] == '/' || s[end] == '?' || s[end] == '#')
			break;
	/* authority is s[8..end) */
	if (memchr(s + 8, '@', end - 8) != NULL)
		return 0;
	if (s[8] == '[') {
		for (host_end = 9; host_end < end && s[host_end] != ']';
		    host_end++)
			;
		if (host_end == end || host_end == 9)
			return 0;
		a = host_end + 1;
	} else {
		for (a = 8; a < end && s[a] != ':'; a++)
			;
		if (a == 8)
			return 0;
	}
	if (a == end)
		return 1;
	if (s[a] != ':' || end - a < 2 || end - a > 6)
		return 0;
	for (a++; a < end; a++)
		if (!is_digit((unsigned char)s[a]))
			return 0;
	return 1;
}

/* A string value without control characters (except those in allow). */
static int
check_clean(const char *path, json_t *v, const char *allow, int nonempty,
    struct event_error *err)
{
	const char	*s;
	size_t		 n;

	if (!json_is_string(v))
		return fail(err, "invalid_field", path, "expected a string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (nonempty && n == 0)
		return fail(err, "invalid_field", path,
		    "empty (expected a non-empty string)");
	if (!utf8_text_ok(s, n, allow)) {
		if (allow != NULL)
			return fail(err, "invalid_field", path,
			    "contains a control character (only LF and TAB "
			    "are allowed)");
		return fail(err, "invalid_field", path,
		    "contains a control character (expected a single line "
		    "of text)");
	}
	return 0;
}

/* A "text": a string, or a non-empty object of BCP 47 tag to string. */
static int
check_text(const char *name, json_t *v, int multiline, int nonempty,
    struct event_error *err)
{
	const char	*allow = multiline ? "\n\t" : NULL;
	const char	*tag;
	json_t		*s;
	char		 path[128];

	if (json_is_string(v))
		return check_clean(name, v, allow, nonempty, err);
	if (!json_is_object(v) || json_object_size(v) == 0)
		return fail(err, "invalid_field", name, "expected a string or "
		    "a non-empty object of language tag to string, e.g. "
		    "{\"en\":\"...\",\"tl\":\"...\"}");
	json_object_foreach(v, tag, s) {
		path_key(path, sizeof(path), name, tag);
		if (!lang_valid(tag))
			return fail(err, "invalid_field", path,
			    "key is not a BCP 47 language tag (expected e.g. "
			    "en, tl, zh-Hant)");
		if (check_clean(path, s, allow, nonempty, err) == -1)
			return -1;
	}
	return 0;
}

/* An optional RFC 3339 time at or after the epoch; -1 when absent. */
static int
check_time(json_t *doc, const char *name, int64_t *ms,
    struct event_error *err)
{
	json_t	*v;

	*ms = -1;
	if ((v = json_object_get(doc, name)) == NULL)
		return 0;
	if (!json_is_string(v) ||
	    event_parse_time(json_string_value(v), ms) == -1) {
		*ms = -1;
		return fail(err, "invalid_field", name, "not an RFC 3339 "
		    "date-time with offset (" TIME_EXPECTED ")");
	}
	if (*ms < 0) {
		*ms = -1;
		return fail(err, "invalid_field", name, "before "
		    "1970-01-01T00:00:00Z (expected a date-time from 1970 on)");
	}
	return 0;
}

static int
check_location(json_t *loc, struct event_error *err)
{
	const char	*key;
	json_t		*v;
	char		 path[128];

	if (!json_is_object(loc))
		return fail(err, "invalid_field", "location", "expected an "
		    "object with name, address, city, country, url");
	json_object_foreach(loc, key, v) {
		path_key(path, sizeof(path), "location", key);
		if (!in_list(key, location_keys))
			return fail(err, "invalid_field", path, "unknown key "
			    "(expected name, address, city, country, url)");
		if (check_clean(path, v, NULL, 0, err) == -1)
			return -1;
		if (strcmp(key, "country") == 0 &&
		    !country_valid(json_string_value(v)))
			return fail(err, "invalid_field", path, "not an "
			    "ISO 3166-1 alpha-2 code in upper case "
			    "(expected e.g. PH)");
		if (strcmp(key, "url") == 0 && !url_valid(json_string_value(v),
		    json_string_length(v)))
			return fail(err, "invalid_field", path, "not an https "
			    "URL (expected https://host/...)");
	}
	return 0;
}

static int
check_audience(json_t *aud, struct event_error *err)
{
	const char	*key;
	json_t		*arr, *v;
	size_t		 i;
	char		 path[128], ipath[128];

	if (!json_is_object(aud))
		return fail(err, "invalid_field", "audience", "expected an "
		    "object of countries, regions, cities, languages, tags");
	json_object_foreach(aud, key, arr) {
		path_key(path, sizeof(path), "audience", key);
		if (!in_list(key, audience_keys))
			return fail(err, "invalid_field", path, "unknown key "
			    "(expected countries, regions, cities, languages, "
			    "tags)");
		if (!json_is_array(arr) || json_array_size(arr) == 0)
			return fail(err, "invalid_field", path,
			    "expected a non-empty array of strings");
		if (json_array_size(arr) > EVENT_AUDIENCE_MAX)
			return fail(err, "invalid_field", path, "too many "
			    "values (at most 256 per filter)");
		json_array_foreach(arr, i, v) {
			path_index(ipath, sizeof(ipath), path, i);
			if (check_clean(ipath, v, NULL, 1, err) == -1)
				return -1;
			if (strcmp(key, "countries") == 0 &&
			    !country_valid(json_string_value(v)))
				return fail(err, "invalid_field", ipath,
				    "not an ISO 3166-1 alpha-2 code in upper "
				    "case (expected e.g. PH)");
			if (strcmp(key, "languages") == 0 &&
			    !lang_valid(json_string_value(v)))
				return fail(err, "invalid_field", ipath,
				    "not a BCP 47 language tag (expected e.g. "
				    "en, tl, zh-Hant)");
		}
	}
	return 0;
}

static int
check_links(json_t *links, struct event_error *err)
{
	const char	*key;
	json_t		*link, *v;
	size_t		 i;
	char		 lpath[128], path[128];

	if (!json_is_array(links))
		return fail(err, "invalid_field", "links",
		    "expected an array of {\"label\",\"url\"} objects");
	json_array_foreach(links, i, link) {
		path_index(lpath, sizeof(lpath), "links", i);
		if (!json_is_object(link))
			return fail(err, "invalid_field", lpath,
			    "expected an object with label and url");
		json_object_foreach(link, key, v) {
			path_key(path, sizeof(path), lpath, key);
			if (strcmp(key, "label") != 0 && strcmp(key, "url") != 0)
				return fail(err, "invalid_field", path,
				    "unknown key (expected label, url)");
			if (check_clean(path, v, NULL, 1, err) == -1)
				return -1;
			if (strcmp(key, "url") == 0 &&
			    !url_valid(json_string_value(v),
			    json_string_length(v)))
				return fail(err, "invalid_field", path, "not "
				    "an https URL (expected https://host/...)");
		}
		if (json_object_get(link, "label") == NULL) {
			path_key(path, sizeof(path), lpath, "label");
			return fail(err, "missing_field", path,
			    "required key missing (expected a string)");
		}
		if (json_object_get(link, "url") == NULL) {
			path_key(path, sizeof(path), lpath, "url");
			return fail(err, "missing_field", path,
			    "required key missing (expected an https URL)");
		}
	}
	return 0;
}

/* Name the duplicate key jansson found just before byte pos of json:
 * re-scan the (well-formed) prefix keeping, per open container, its
 * current key or index.  The key is given as written (escapes kept).
 * Leaves field empty when that fails. */
static void
dup_path(const char *json, size_t len, size_t pos, char *field, size_t sz)
{
	struct frame {
		int	is_obj;
		int	want_key;
		size_t	key_off, key_len;
		size_t	index;
	}		*st;
	size_t		 i, j, depth = 0, max = JSON_PARSER_MAX_DEPTH + 2;
	char		 num[32];
	int		 n;

	field[0] = '\0';
	if (pos > len)
		pos = len;
	if ((st = calloc(max, sizeof(*st))) == NULL)
		return;
	for (i = 0; i < pos; i++) {
		switch (json[i]) {
		case '{':
		case '[':
			if (depth == max)
				goto out;
			memset(&st[depth], 0, sizeof(st[depth]));
			st[depth].is_obj = json[i] == '{';
			st[depth].want_key = st[depth].is_obj;
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				goto out;
			depth--;
			break;
		case ',':
			if (depth == 0)
				goto out;
			if (st[depth - 1].is_obj)
				st[depth - 1].want_key = 1;
			else
				st[depth - 1].index++;
			break;
		case ':':
			if (depth == 0)
				goto out;
			st[depth - 1].want_key = 0;
			break;
		case '"':
			for (j = i + 1; j < pos && json[j] != '"'; j++)
				if (json[j] == '\\')
					j++;
			if (j >= pos)
				goto out;
			if (depth > 0 && st[depth - 1].is_obj &&
			    st[depth - 1].want_key) {
				st[depth - 1].key_off = i + 1;
				st[depth - 1].key_len = j - i - 1;
			}
			i = j;
			break;
		}
	}
	if (depth == 0 || !st[depth - 1].is_obj)
		goto out;
	for (i = 0; i < depth; i++) {
		if (st[i].is_obj) {
			if (i > 0)
				str_cat(field, sz, ".", 1);
			str_cat(field, sz, json + st[i].key_off,
			    st[i].key_len);
		} else {
			n = snprintf(num, sizeof(num), "[%zu]", st[i].index);
			if (n > 0)
				str_cat(field, sz, num, (size_t)n);
		}
	}
out:
	free(st);
}

/* Parse json into *docp; bad_json (or overloaded when out of memory). */
static int
load_json(const char *json, size_t len, json_t **docp,
    struct event_error *err)
{
	json_error_t	 jerr;
	char		 field[128];

	*docp = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (*docp != NULL)
		return 0;
	switch (json_error_code(&jerr)) {
	case json_error_out_of_memory:
		return fail(err, "overloaded", "", "out of memory while "
		    "parsing the event, try again later");
	case json_error_duplicate_key:
		dup_path(json, len, (size_t)(jerr.position < 0 ? 0 :
		    jerr.position), field, sizeof(field));
		if (field[0] != '\0')
			return fail(err, "bad_json", field, "duplicate key at "
			    "line %d, column %d (each key may appear once per "
			    "object)", jerr.line, jerr.column);
		break;
	default:
		break;
	}
	return fail(err, "bad_json", "", "not valid JSON at line %d, column "
	    "%d: %s", jerr.line, jerr.column, jerr.text);
}

static const char *
required_hint(const char *key)
{
	if (strcmp(key, "v") == 0)
		return "\"v\": 1, the schema version";
	if (strcmp(key, "id") == 0)
		return "the event's id, unique per post";
	if (strcmp(key, "type") == 0)
		return "the event type, e.g. \"consular-day\"";
	return "a text, e.g. \"title\": \"Consular day\"";
}

static int
check_doc(json_t *doc, const struct event_rules *rules, struct event *ev,
    struct event_error *err)
{
	const char		*key, *s;
	const char *const	*k;
	json_t			*v;
	json_int_t		 n;
	size_t			 i;
	int			 p;

	if (!json_is_object(doc))
		return fail(err, "bad_json", "", "the event must be a JSON "
		    "object");
	json_object_foreach(doc, key, v)
		if (!in_list(key, event_keys))
			return fail(err, "invalid_field", key, "unknown key "
			    "(not part of event schema v1)");
	for (k = event_required; *k != NULL; k++)
		if (json_object_get(doc, *k) == NULL)
			return fail(err, "missing_field", *k, "required key "
			    "missing (expected %s)", required_hint(*k));

	v = json_object_get(doc, "v");
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return fail(err, "invalid_field", "v", "unsupported schema "
		    "version (expected the integer 1)");

	v = json_object_get(doc, "id");
	if (!json_is_string(v) || !id_valid(json_string_value(v),
	    json_string_length(v)))
		return fail(err, "invalid_field", "id", "expected 1 to 128 "
		    "characters of A-Z a-z 0-9 . _ : -");
	ev->id = json_string_value(v);

	v = json_object_get(doc, "type");
	if (!json_is_string(v) || !topic_slug_valid(json_string_value(v),
	    json_string_length(v)))
		return fail(err, "invalid_field", "type", "not a slug "
		    "(expected [a-z0-9][a-z0-9-]{0,62}, e.g. consular-day)");
	s = json_string_value(v);
	for (i = 0; i < rules->ntypes && rules->types != NULL; i++)
		if (rules->types[i] != NULL && strcmp(rules->types[i], s) == 0)
			break;
	if (i == rules->ntypes || rules->types == NULL)
		return fail(err, "unknown_type", "type", "\"%s\" is not an "
		    "event type this daemon has templates for", s);
	ev->type = s;

	if (check_text("title", json_object_get(doc, "title"), 0, 1,
	    err) == -1)
		return -1;
	if ((v = json_object_get(doc, "summary")) != NULL &&
	    check_text("summary", v, 0, 0, err) == -1)
		return -1;
	if ((v = json_object_get(doc, "body")) != NULL &&
	    check_text("body", v, 1, 0, err) == -1)
		return -1;

	ev->lang = rules->default_lang;
	if ((v = json_object_get(doc, "lang")) != NULL) {
		if (!json_is_string(v) || !lang_valid(json_string_value(v)))
			return fail(err, "invalid_field", "lang", "not a BCP 47 "
			    "language tag (expected e.g. en, tl, zh-Hant)");
		ev->lang = json_string_value(v);
	}

	ev->priority = PRIORITY_NORMAL;
	if ((v = json_object_get(doc, "priority")) != NULL) {
		if (!json_is_string(v) ||
		    (p = priority_parse(json_string_value(v))) == -1)
			return fail(err, "invalid_field", "priority", "expected "
			    "one of low, normal, high, critical");
		ev->priority = (enum priority)p;
	}

	ev->status = EVENT_ACTUAL;
	if ((v = json_object_get(doc, "status")) != NULL) {
		if (!json_is_string(v) ||
		    (p = event_status_parse(json_string_value(v))) == -1)
			return fail(err, "invalid_field", "status", "expected "
			    "one of actual, exercise, test");
		ev->status = (enum event_status)p;
	}

	if (check_time(doc, "starts_at", &ev->starts_at_ms, err) == -1 ||
	    check_time(doc, "ends_at", &ev->ends_at_ms, err) == -1)
		return -1;

	if ((v = json_object_get(doc, "timezone")) != NULL &&
	    (!json_is_string(v) || !tz_valid(json_string_value(v))))
		return fail(err, "invalid_field", "timezone", "not a time zone "
		    "name known to ICU (expected an IANA name, e.g. "
		    "Europe/Berlin)");

	if ((v = json_object_get(doc, "location")) != NULL &&
	    check_location(v, err) == -1)
		return -1;
	if ((v = json_object_get(doc, "audience")) != NULL &&
	    check_audience(v, err) == -1)
		return -1;

	if (check_time(doc, "not_before", &ev->not_before_ms, err) == -1 ||
	    check_time(doc, "expires_at", &ev->expires_at_ms, err) == -1)
		return -1;

	if ((v = json_object_get(doc, "links")) != NULL &&
	    check_links(v, err) == -1)
		return -1;

	if ((v = json_object_get(doc, "replaces")) != NULL) {
		if (!json_is_string(v) || !id_valid(json_string_value(v),
		    json_string_length(v)))
			return fail(err, "invalid_field", "replaces", "not an "
			    "event id (expected 1 to 128 characters of A-Z a-z "
			    "0-9 . _ : -)");
		if (strcmp(json_string_value(v), ev->id) == 0)
			return fail(err, "invalid_field", "replaces", "equals "
			    "the event's own id (expected the id of an earlier "
			    "event)");
		ev->replaces = json_string_value(v);
	}

	if ((v = json_object_get(doc, "cancel")) != NULL) {
		if (!json_is_true(v))
			return fail(err, "invalid_field", "cancel", "expected "
			    "true (leave the key out otherwise)");
		ev->cancel = 1;
	}

	if ((v = json_object_get(doc, "data")) != NULL && !json_is_object(v))
		return fail(err, "invalid_field", "data", "expected an object");

	if ((v = json_object_get(doc, "seq")) != NULL) {
		if (!json_is_integer(v) || (n = json_integer_value(v)) < 1)
			return fail(err, "invalid_field", "seq", "expected an "
			    "integer >= 1");
		ev->seq = n;
	}

	/* Rules between fields, once each field is known to be well formed. */
	if (ev->starts_at_ms != -1 && ev->ends_at_ms != -1 &&
	    ev->ends_at_ms < ev->starts_at_ms)
		return fail(err, "invalid_field", "ends_at", "before starts_at "
		    "(expected ends_at >= starts_at)");
	if (ev->not_before_ms != -1 && ev->expires_at_ms != -1 &&
	    ev->expires_at_ms <= ev->not_before_ms)
		return fail(err, "invalid_field", "expires_at", "not after "
		    "not_before (expected expires_at > not_before)");
	if (ev->cancel && ev->replaces == NULL)
		return fail(err, "invalid_field", "cancel", "given without "
		    "replaces (expected the id of the event to withdraw in "
		    "replaces)");
	return 0;
}

/* Fetched once: OpenSSL 3 looks an implicit EVP_sha256() up again at every
 * digest, which cost about a tenth of an event's intake. */
static EVP_MD	*event_sha256;

int
event_parse(const char *topic, size_t topic_len, const char *json,
    size_t len, const struct event_rules *rules, struct event *ev,
    struct event_error *err)
{
	json_t		*doc = NULL;
	size_t		 max;
	unsigned int	 mdlen = 0;

	memset(ev, 0, sizeof(*ev));
	ev->starts_at_ms = ev->ends_at_ms = -1;
	ev->not_before_ms = ev->expires_at_ms = -1;
	err->code = NULL;
	err->field[0] = '\0';
	err->message[0] = '\0';
	if (rules == NULL)
		rules = &event_default_rules;
	max = rules->max_bytes ? rules->max_bytes : EVENT_DEFAULT_MAX;

	if (topic == NULL || !topic_valid(topic, topic_len))
		return fail(err, "bad_topic", "", "topic is not "
		    "KIND.CC.POST.CATEGORY (expected e.g. "
		    "consulate.ph.frankfurt.consular-day)");
	if (len > max)
		return fail(err, "too_large", "", "event of %zu bytes is over "
		    "the limit of %zu bytes", len, max);
	if (json == NULL || len == 0)
		return fail(err, "bad_json", "", "empty event (expected a "
		    "JSON object)");
	if (!utf8_valid(json, len))
		return fail(err, "bad_utf8", "", "event is not valid UTF-8 "
		    "(overlong, surrogate, truncated or out-of-range "
		    "sequence)");
	if (load_json(json, len, &doc, err) == -1)
		goto fail;
	if (check_doc(doc, rules, ev, err) == -1)
		goto fail;

	/* Compact with sorted keys: the same logical document gives the
	 * same bytes whatever its key order, whitespace or escapes. */
	if ((ev->canonical = json_dumps(doc, JSON_COMPACT |
	    JSON_SORT_KEYS)) == NULL) {
		fail(err, "overloaded", "", "out of memory while storing the "
		    "event, try again later");
		goto fail;
	}
	ev->canonical_len = strlen(ev->canonical);
	if (event_sha256 == NULL)
		event_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (event_sha256 == NULL || EVP_Digest(ev->canonical,
	    ev->canonical_len, ev->sha256, &mdlen, event_sha256, NULL) != 1 ||
	    mdlen != sizeof(ev->sha256)) {
		fail(err, "overloaded", "", "could not hash the event, try "
		    "again later");
		goto fail;
	}
	ev->doc = doc;
	return 0;
fail:
	free(ev->canonical);
	json_decref(doc);
	memset(ev, 0, sizeof(*ev));
	return -1;
}

void
event_clear(struct event *ev)
{
	if (ev == NULL)
		return;
	free(ev->canonical);
	json_decref(ev->doc);
	memset(ev, 0, sizeof(*ev));
}

int
event_status_parse(const char *s)
{
	int	i;

	for (i = 0; i <= EVENT_TEST; i++)
		if (strcmp(s, status_names[i]) == 0)
			return i;
	return -1;
}

const char *
event_status_name(int st)
{
	return st >= EVENT_ACTUAL && st <= EVENT_TEST ? status_names[st] : "?";
}

/* Read exactly n digits at s into *v; 0 when one is missing. */
static int
digits(const char *s, int n, int *v)
{
	int	i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return 0;
		*v = *v * 10 + (s[i] - '0');
	}
	return 1;
}

int
event_parse_time(const char *s, int64_t *ms)
{
	int	y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0, sign = 0, i;
	int64_t	t;

	if (s == NULL || ms == NULL)
		return -1;
	/* Each test reads only while the previous ones matched, so a short
	 * string stops at its NUL. */
	if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return -1;
	s += 19;
	if (*s == '.') {
		s++;
		if (!is_digit((unsigned char)*s))
			return -1;
		for (i = 0; is_digit((unsigned char)*s); i++, s++)
			if (i < 3)
				frac = frac * 10 + (*s - '0');
		for (; i < 3; i++)
			frac *= 10;
	}
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		sign = *s == '+' ? 1 : -1;
		if (!digits(s + 1, 2, &oh) || s[3] != ':' ||
		    !digits(s + 4, 2, &om))
			return -1;
		s += 6;
	} else
		return -1;
	if (*s != '\0')
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > civil_month_days(y, mo) ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -1;
	if (sec == 60)
		sec = 59;	/* a leap second counts as the second before */
	t = civil_days(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	*ms = t * 1000 + frac;
	return 0;
}
