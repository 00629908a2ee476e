/* test_event.c - event schema v1 validation (daemon/event.c): one table
 * row per rule, {topic, json, expected code, expected field}; then the
 * filled struct, the canonical form and its hash, the size limit, and
 * event_parse_time against known epoch values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "event.h"
#include "utf8.h"

#define TOPIC	"consulate.ph.frankfurt.consular-day"
/* The required keys, valid; rows add to or replace them. */
#define REQ	"\"v\":1,\"id\":\"e-1\",\"type\":\"consular-day\"," \
		"\"title\":\"Consular day\""
#define EV(x)	"{" REQ "," x "}"
/* The required keys without title, for rows that test title. */
#define NOTITLE	"\"v\":1,\"id\":\"e-1\",\"type\":\"consular-day\""
#define EVT(x)	"{" NOTITLE ",\"title\":" x "}"
#define S16	"abcdefghijklmnop"
#define S64	S16 S16 S16 S16
#define S128	S64 S64
#define T0	"2026-05-01T10:00:00+02:00"
#define T1	"2026-05-01T12:00:00+02:00"

static const char *const types[] = { "consular-day", "crisis", "town-hall" };

static const struct event_rules rules = {
	4096, types, 3, "en"
};

struct row {
	const char	*name;
	const char	*topic;
	const char	*json;
	const char	*code;		/* NULL: accepted */
	const char	*field;
};

static const struct row rows[] = {
	/* topic grammar, checked first */
	{ "topic ok", TOPIC, EV("\"lang\":\"en\""), NULL, NULL },
	{ "topic embassy ok", "embassy.ph.berlin.town-hall", "{" REQ "}",
	    NULL, NULL },
	{ "topic empty", "", "{" REQ "}", "bad_topic", "" },
	{ "topic 3 parts", "embassy.ph.berlin", "{" REQ "}", "bad_topic", "" },
	{ "topic 5 parts", "embassy.ph.berlin.x.y", "{" REQ "}", "bad_topic",
	    "" },
	{ "topic trailing dot", "embassy.ph.berlin.", "{" REQ "}",
	    "bad_topic", "" },
	{ "topic kind", "mission.ph.berlin.x", "{" REQ "}", "bad_topic", "" },
	{ "topic kind case", "Embassy.ph.berlin.x", "{" REQ "}", "bad_topic",
	    "" },
	{ "topic cc upper", "embassy.PH.berlin.x", "{" REQ "}", "bad_topic",
	    "" },
	{ "topic cc 3", "embassy.phl.berlin.x", "{" REQ "}", "bad_topic", "" },
	{ "topic slug dash", "embassy.ph.-berlin.x", "{" REQ "}", "bad_topic",
	    "" },
	{ "topic slug upper", "embassy.ph.Berlin.x", "{" REQ "}", "bad_topic",
	    "" },
	{ "topic before json", "bad", "{", "bad_topic", "" },
	{ "topic before utf8", "bad", "{\xff}", "bad_topic", "" },

	/* strict UTF-8 of the whole document, before JSON */
	{ "utf8 ok 2-4 bytes", TOPIC,
	    EVT("{\"de\":\"Gr\xc3\xbc\xc3\x9f" "e\",\"zh\":\"\xe4\xb8\xad\","
	    "\"en\":\"\xf0\x9f\x98\x80\"}"), NULL, NULL },
	{ "utf8 overlong 2", TOPIC, EVT("\"a\xc0\xaf\""), "bad_utf8", "" },
	{ "utf8 overlong 3", TOPIC, EVT("\"a\xe0\x80\xaf\""), "bad_utf8", "" },
	{ "utf8 overlong 4", TOPIC, EVT("\"a\xf0\x80\x80\xaf\""), "bad_utf8",
	    "" },
	{ "utf8 overlong nul", TOPIC, EVT("\"a\xc0\x80\""), "bad_utf8", "" },
	{ "utf8 surrogate high", TOPIC, EVT("\"\xed\xa0\x80\""), "bad_utf8",
	    "" },
	{ "utf8 surrogate low", TOPIC, EVT("\"\xed\xbf\xbf\""), "bad_utf8",
	    "" },
	{ "utf8 truncated 3", TOPIC, EVT("\"a\xe2\x82\""), "bad_utf8", "" },
	{ "utf8 truncated 4", TOPIC, EVT("\"a\xf0\x9f\x98\""), "bad_utf8",
	    "" },
	{ "utf8 truncated at end", TOPIC, "{" REQ "}\xe2\x82", "bad_utf8", "" },
	{ "utf8 above 10ffff", TOPIC, EVT("\"\xf4\x90\x80\x80\""), "bad_utf8",
	    "" },
	{ "utf8 f5", TOPIC, EVT("\"\xf5\x80\x80\x80\""), "bad_utf8", "" },
	{ "utf8 lone continuation", TOPIC, EVT("\"\x80\""), "bad_utf8", "" },
	{ "utf8 ff", TOPIC, EVT("\"\xff\""), "bad_utf8", "" },
	{ "utf8 latin1", TOPIC, EVT("\"caf\xe9\""), "bad_utf8", "" },
	{ "utf8 in key", TOPIC, "{" REQ ",\"\xc0\xaf\":1}", "bad_utf8", "" },
	{ "utf8 before json error", TOPIC, "{\xff", "bad_utf8", "" },

	/* JSON */
	{ "json empty", TOPIC, "", "bad_json", "" },
	{ "json unterminated", TOPIC, "{", "bad_json", "" },
	{ "json array", TOPIC, "[1,2]", "bad_json", "" },
	{ "json string", TOPIC, "\"x\"", "bad_json", "" },
	{ "json null", TOPIC, "null", "bad_json", "" },
	{ "json trailing", TOPIC, "{" REQ "} x", "bad_json", "" },
	{ "json two objects", TOPIC, "{" REQ "}{}", "bad_json", "" },
	{ "json bom", TOPIC, "\xef\xbb\xbf{" REQ "}", "bad_json", "" },
	{ "json comment", TOPIC, "{" REQ "/* c */}", "bad_json", "" },
	{ "json single quotes", TOPIC, "{'v':1}", "bad_json", "" },
	{ "json trailing comma", TOPIC, "{" REQ ",}", "bad_json", "" },
	{ "json nul escape", TOPIC, EV("\"summary\":\"a\\u0000b\""),
	    "bad_json", "" },
	{ "json nul in key", TOPIC, EV("\"a\\u0000\":1"), "bad_json", "" },
	{ "json lone surrogate escape", TOPIC, EV("\"summary\":\"\\ud800\""),
	    "bad_json", "" },
	{ "json raw tab in string", TOPIC, EV("\"body\":\"a\tb\""), "bad_json",
	    "" },
	{ "json raw lf in string", TOPIC, EV("\"body\":\"a\nb\""), "bad_json",
	    "" },
	{ "json real overflow", TOPIC, EV("\"data\":{\"x\":1e400}"),
	    "bad_json", "" },
	{ "json int overflow", TOPIC, EV("\"seq\":99999999999999999999"),
	    "bad_json", "" },
	{ "dup top", TOPIC, EV("\"title\":\"again\""), "bad_json", "title" },
	{ "dup top v", TOPIC, "{\"v\":1,\"v\":1}", "bad_json", "v" },
	{ "dup title.fr", TOPIC,
	    EVT("{\"fr\":\"a\",\"en\":\"b\",\"fr\":\"c\"}"), "bad_json",
	    "title.fr" },
	{ "dup links[1].url", TOPIC,
	    EV("\"links\":[{\"label\":\"a\",\"url\":\"https://a\"},"
	    "{\"url\":\"https://b\",\"label\":\"b\",\"url\":\"https://c\"}]"),
	    "bad_json", "links[1].url" },
	{ "dup location.city", TOPIC,
	    EV("\"location\":{\"city\":\"a\",\"city\":\"b\"}"), "bad_json",
	    "location.city" },
	{ "dup audience", TOPIC,
	    EV("\"audience\":{\"tags\":[\"a\"],\"tags\":[\"b\"]}"),
	    "bad_json", "audience.tags" },
	{ "dup deep data", TOPIC,
	    EV("\"data\":{\"a\":[{},{\"x\":{\"b\":1,\"b\":2}}]}"),
	    "bad_json", "data.a[1].x.b" },
	{ "dup with escapes", TOPIC,
	    EV("\"data\":{\"a\\\"b\":1,\"a\\\"b\":2}"), "bad_json",
	    "data.a\\\"b" },
	{ "dup strings with braces", TOPIC,
	    EV("\"data\":{\"s\":\"{[,:\\\"\",\"t\":[\"}\",\"]\"],\"s\":0}"),
	    "bad_json", "data.s" },
	{ "same key in two objects ok", TOPIC,
	    EV("\"data\":{\"a\":{\"k\":1},\"b\":{\"k\":1}}"), NULL, NULL },

	/* top level: object, unknown keys, required keys */
	{ "unknown key", TOPIC, EV("\"foo\":1"), "invalid_field", "foo" },
	{ "unknown key case", TOPIC, EV("\"Title\":\"x\""), "invalid_field",
	    "Title" },
	{ "unknown key control", TOPIC, EV("\"\\u0001x\":1"),
	    "invalid_field", "?x" },
	{ "unknown key first in doc order", TOPIC,
	    "{\"zzz\":1,\"aaa\":1," REQ "}", "invalid_field", "zzz" },
	{ "unknown before missing", TOPIC, "{\"foo\":1}", "invalid_field",
	    "foo" },
	{ "empty object", TOPIC, "{}", "missing_field", "v" },
	{ "missing v", TOPIC,
	    "{\"id\":\"e\",\"type\":\"crisis\",\"title\":\"t\"}",
	    "missing_field", "v" },
	{ "missing id", TOPIC,
	    "{\"v\":1,\"type\":\"crisis\",\"title\":\"t\"}", "missing_field",
	    "id" },
	{ "missing type", TOPIC, "{\"v\":1,\"id\":\"e\",\"title\":\"t\"}",
	    "missing_field", "type" },
	{ "missing title", TOPIC, "{" NOTITLE "}", "missing_field", "title" },
	{ "missing before invalid", TOPIC, "{\"v\":2,\"id\":\"e\"}",
	    "missing_field", "type" },

	/* v */
	{ "v 2", TOPIC, "{\"v\":2,\"id\":\"e\",\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "v" },
	{ "v 0", TOPIC, "{\"v\":0,\"id\":\"e\",\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "v" },
	{ "v string", TOPIC, "{\"v\":\"1\",\"id\":\"e\",\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "v" },
	{ "v real", TOPIC, "{\"v\":1.0,\"id\":\"e\",\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "v" },
	{ "v true", TOPIC, "{\"v\":true,\"id\":\"e\",\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "v" },
	{ "v null", TOPIC, "{\"v\":null,\"id\":\"e\",\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "v" },

	/* id */
	{ "id all classes", TOPIC, "{\"v\":1,\"id\":\"Ab.9_x:y-z\","
	    "\"type\":\"crisis\",\"title\":\"t\"}", NULL, NULL },
	{ "id 128", TOPIC, "{\"v\":1,\"id\":\"" S128 "\","
	    "\"type\":\"crisis\",\"title\":\"t\"}", NULL, NULL },
	{ "id 129", TOPIC, "{\"v\":1,\"id\":\"" S128 "x\","
	    "\"type\":\"crisis\",\"title\":\"t\"}", "invalid_field", "id" },
	{ "id empty", TOPIC, "{\"v\":1,\"id\":\"\",\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "id" },
	{ "id space", TOPIC, "{\"v\":1,\"id\":\"a b\",\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "id" },
	{ "id slash", TOPIC, "{\"v\":1,\"id\":\"a/b\",\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "id" },
	{ "id non-ascii", TOPIC, "{\"v\":1,\"id\":\"\xc3\xa9\","
	    "\"type\":\"crisis\",\"title\":\"t\"}", "invalid_field", "id" },
	{ "id number", TOPIC, "{\"v\":1,\"id\":5,\"type\":\"crisis\","
	    "\"title\":\"t\"}", "invalid_field", "id" },

	/* type */
	{ "type other known", TOPIC, "{\"v\":1,\"id\":\"e\","
	    "\"type\":\"town-hall\",\"title\":\"t\"}", NULL, NULL },
	{ "type unknown", TOPIC, "{\"v\":1,\"id\":\"e\","
	    "\"type\":\"concert\",\"title\":\"t\"}", "unknown_type", "type" },
	{ "type upper", TOPIC, "{\"v\":1,\"id\":\"e\","
	    "\"type\":\"Crisis\",\"title\":\"t\"}", "invalid_field", "type" },
	{ "type leading dash", TOPIC, "{\"v\":1,\"id\":\"e\","
	    "\"type\":\"-crisis\",\"title\":\"t\"}", "invalid_field", "type" },
	{ "type empty", TOPIC, "{\"v\":1,\"id\":\"e\","
	    "\"type\":\"\",\"title\":\"t\"}", "invalid_field", "type" },
	{ "type 64", TOPIC, "{\"v\":1,\"id\":\"e\","
	    "\"type\":\"" S64 "\",\"title\":\"t\"}", "invalid_field", "type" },
	{ "type 63 slug unknown", TOPIC, "{\"v\":1,\"id\":\"e\","
	    "\"type\":\"" S16 S16 S16 "abcdefghijklmno\",\"title\":\"t\"}",
	    "unknown_type", "type" },
	{ "type number", TOPIC, "{\"v\":1,\"id\":\"e\","
	    "\"type\":1,\"title\":\"t\"}", "invalid_field", "type" },

	/* title */
	{ "title object", TOPIC, EVT("{\"en\":\"Day\",\"fil\":\"Araw\","
	    "\"zh-Hant-TW\":\"x\"}"), NULL, NULL },
	{ "title tag case", TOPIC, EVT("{\"EN-us\":\"Day\"}"), NULL, NULL },
	{ "title grandfathered tag", TOPIC, EVT("{\"i-klingon\":\"x\"}"),
	    NULL, NULL },
	{ "title empty", TOPIC, EVT("\"\""), "invalid_field", "title" },
	{ "title lf", TOPIC, EVT("\"a\\nb\""), "invalid_field", "title" },
	{ "title tab", TOPIC, EVT("\"a\\tb\""), "invalid_field", "title" },
	{ "title cr", TOPIC, EVT("\"a\\rb\""), "invalid_field", "title" },
	{ "title c0", TOPIC, EVT("\"a\\u0001\""), "invalid_field", "title" },
	{ "title esc", TOPIC, EVT("\"a\\u001b[31m\""), "invalid_field",
	    "title" },
	{ "title del", TOPIC, EVT("\"a\\u007f\""), "invalid_field", "title" },
	{ "title raw del", TOPIC, EVT("\"a\x7f\""), "invalid_field", "title" },
	{ "title c1 nel", TOPIC, EVT("\"a\\u0085\""), "invalid_field",
	    "title" },
	{ "title raw c1", TOPIC, EVT("\"a\xc2\x9b\""), "invalid_field",
	    "title" },
	{ "title number", TOPIC, EVT("5"), "invalid_field", "title" },
	{ "title null", TOPIC, EVT("null"), "invalid_field", "title" },
	{ "title array", TOPIC, EVT("[\"a\"]"), "invalid_field", "title" },
	{ "title empty object", TOPIC, EVT("{}"), "invalid_field", "title" },
	{ "title.en empty", TOPIC, EVT("{\"en\":\"\"}"), "invalid_field",
	    "title.en" },
	{ "title.fr lf", TOPIC, EVT("{\"en\":\"a\",\"fr\":\"a\\nb\"}"),
	    "invalid_field", "title.fr" },
	{ "title.fr c1", TOPIC, EVT("{\"fr\":\"\\u009f\"}"), "invalid_field",
	    "title.fr" },
	{ "title.en number", TOPIC, EVT("{\"en\":5}"), "invalid_field",
	    "title.en" },
	{ "title tag underscore", TOPIC, EVT("{\"en_US\":\"x\"}"),
	    "invalid_field", "title.en_US" },
	{ "title tag trailing dash", TOPIC, EVT("{\"en-\":\"x\"}"),
	    "invalid_field", "title.en-" },
	{ "title tag empty", TOPIC, EVT("{\"\":\"x\"}"), "invalid_field",
	    "title." },
	{ "title tag single x", TOPIC, EVT("{\"x\":\"x\"}"), "invalid_field",
	    "title.x" },
	{ "title tag 9 letters", TOPIC, EVT("{\"abcdefghi\":\"x\"}"),
	    "invalid_field", "title.abcdefghi" },
	{ "title tag space", TOPIC, EVT("{\"en US\":\"x\"}"), "invalid_field",
	    "title.en US" },
	{ "title tag non-ascii", TOPIC, EVT("{\"\xc3\xa9n\":\"x\"}"),
	    "invalid_field", "title.\xc3\xa9n" },
	{ "title u2028 not a control", TOPIC, EVT("\"a\\u2028b\""), NULL,
	    NULL },

	/* summary */
	{ "summary ok", TOPIC, EV("\"summary\":\"Passports, visas\""), NULL,
	    NULL },
	{ "summary empty ok", TOPIC, EV("\"summary\":\"\""), NULL, NULL },
	{ "summary object", TOPIC, EV("\"summary\":{\"en\":\"a\","
	    "\"tl\":\"b\"}"), NULL, NULL },
	{ "summary lf", TOPIC, EV("\"summary\":\"a\\nb\""), "invalid_field",
	    "summary" },
	{ "summary c0", TOPIC, EV("\"summary\":\"\\u0002\""), "invalid_field",
	    "summary" },
	{ "summary del", TOPIC, EV("\"summary\":\"\\u007f\""), "invalid_field",
	    "summary" },
	{ "summary c1", TOPIC, EV("\"summary\":\"\\u0085\""), "invalid_field",
	    "summary" },
	{ "summary.tl tab", TOPIC, EV("\"summary\":{\"tl\":\"a\\tb\"}"),
	    "invalid_field", "summary.tl" },
	{ "summary bad tag", TOPIC, EV("\"summary\":{\"bad!\":\"a\"}"),
	    "invalid_field", "summary.bad!" },
	{ "summary number", TOPIC, EV("\"summary\":1"), "invalid_field",
	    "summary" },
	{ "summary empty object", TOPIC, EV("\"summary\":{}"),
	    "invalid_field", "summary" },

	/* body */
	{ "body lf tab", TOPIC, EV("\"body\":\"line 1\\n\\tline 2\\n\""),
	    NULL, NULL },
	{ "body object lf", TOPIC, EV("\"body\":{\"en\":\"a\\nb\","
	    "\"de\":\"c\\td\"}"), NULL, NULL },
	{ "body empty ok", TOPIC, EV("\"body\":\"\""), NULL, NULL },
	{ "body cr", TOPIC, EV("\"body\":\"a\\r\\nb\""), "invalid_field",
	    "body" },
	{ "body vt", TOPIC, EV("\"body\":\"a\\u000bb\""), "invalid_field",
	    "body" },
	{ "body ff", TOPIC, EV("\"body\":\"a\\fb\""), "invalid_field",
	    "body" },
	{ "body del", TOPIC, EV("\"body\":\"a\\u007f\""), "invalid_field",
	    "body" },
	{ "body c1", TOPIC, EV("\"body\":\"a\\u0085\""), "invalid_field",
	    "body" },
	{ "body.en cr", TOPIC, EV("\"body\":{\"en\":\"a\\rb\"}"),
	    "invalid_field", "body.en" },
	{ "body bad tag", TOPIC, EV("\"body\":{\"en_GB\":\"a\"}"),
	    "invalid_field", "body.en_GB" },
	{ "body array", TOPIC, EV("\"body\":[]"), "invalid_field", "body" },

	/* lang */
	{ "lang tl-PH", TOPIC, EV("\"lang\":\"tl-PH\""), NULL, NULL },
	{ "lang und", TOPIC, EV("\"lang\":\"und\""), NULL, NULL },
	{ "lang underscore", TOPIC, EV("\"lang\":\"en_US\""), "invalid_field",
	    "lang" },
	{ "lang empty", TOPIC, EV("\"lang\":\"\""), "invalid_field", "lang" },
	{ "lang digits", TOPIC, EV("\"lang\":\"123\""), "invalid_field",
	    "lang" },
	{ "lang double dash", TOPIC, EV("\"lang\":\"en--US\""),
	    "invalid_field", "lang" },
	{ "lang too long", TOPIC, EV("\"lang\":\"en-" S64 "\""),
	    "invalid_field", "lang" },
	{ "lang number", TOPIC, EV("\"lang\":1"), "invalid_field", "lang" },

	/* priority, status */
	{ "priority low", TOPIC, EV("\"priority\":\"low\""), NULL, NULL },
	{ "priority critical", TOPIC, EV("\"priority\":\"critical\""), NULL,
	    NULL },
	{ "priority urgent", TOPIC, EV("\"priority\":\"urgent\""),
	    "invalid_field", "priority" },
	{ "priority upper", TOPIC, EV("\"priority\":\"HIGH\""),
	    "invalid_field", "priority" },
	{ "priority number", TOPIC, EV("\"priority\":2"), "invalid_field",
	    "priority" },
	{ "status exercise", TOPIC, EV("\"status\":\"exercise\""), NULL,
	    NULL },
	{ "status test", TOPIC, EV("\"status\":\"test\""), NULL, NULL },
	{ "status drill", TOPIC, EV("\"status\":\"drill\""), "invalid_field",
	    "status" },
	{ "status empty", TOPIC, EV("\"status\":\"\""), "invalid_field",
	    "status" },
	{ "status bool", TOPIC, EV("\"status\":true"), "invalid_field",
	    "status" },

	/* times */
	{ "starts_at ok", TOPIC, EV("\"starts_at\":\"" T0 "\""), NULL, NULL },
	{ "starts_at lower t z", TOPIC,
	    EV("\"starts_at\":\"2026-05-01t10:00:00z\""), NULL, NULL },
	{ "starts_at fraction", TOPIC,
	    EV("\"starts_at\":\"2026-05-01T10:00:00.123456789Z\""), NULL,
	    NULL },
	{ "starts_at leap day", TOPIC,
	    EV("\"starts_at\":\"2028-02-29T10:00:00Z\""), NULL, NULL },
	{ "starts_at leap second", TOPIC,
	    EV("\"starts_at\":\"2026-12-31T23:59:60Z\""), NULL, NULL },
	{ "starts_at no offset", TOPIC,
	    EV("\"starts_at\":\"2026-05-01T10:00:00\""), "invalid_field",
	    "starts_at" },
	{ "starts_at space", TOPIC,
	    EV("\"starts_at\":\"2026-05-01 10:00:00Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at date only", TOPIC, EV("\"starts_at\":\"2026-05-01\""),
	    "invalid_field", "starts_at" },
	{ "starts_at feb 29 non-leap", TOPIC,
	    EV("\"starts_at\":\"2027-02-29T10:00:00Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at 1900 feb 29", TOPIC,
	    EV("\"starts_at\":\"1900-02-29T10:00:00Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at feb 30", TOPIC,
	    EV("\"starts_at\":\"2028-02-30T10:00:00Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at apr 31", TOPIC,
	    EV("\"starts_at\":\"2026-04-31T10:00:00Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at 24:00", TOPIC,
	    EV("\"starts_at\":\"2026-05-01T24:00:00Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at minute 60", TOPIC,
	    EV("\"starts_at\":\"2026-05-01T10:60:00Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at second 61", TOPIC,
	    EV("\"starts_at\":\"2026-05-01T10:00:61Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at month 13", TOPIC,
	    EV("\"starts_at\":\"2026-13-01T10:00:00Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at empty fraction", TOPIC,
	    EV("\"starts_at\":\"2026-05-01T10:00:00.Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at offset no colon", TOPIC,
	    EV("\"starts_at\":\"2026-05-01T10:00:00+0200\""), "invalid_field",
	    "starts_at" },
	{ "starts_at offset 24", TOPIC,
	    EV("\"starts_at\":\"2026-05-01T10:00:00+24:00\""), "invalid_field",
	    "starts_at" },
	{ "starts_at trailing", TOPIC,
	    EV("\"starts_at\":\"" T0 "x\""), "invalid_field", "starts_at" },
	{ "starts_at before 1970", TOPIC,
	    EV("\"starts_at\":\"1969-12-31T23:59:59Z\""), "invalid_field",
	    "starts_at" },
	{ "starts_at number", TOPIC, EV("\"starts_at\":1777622400"),
	    "invalid_field", "starts_at" },
	{ "starts_at first of two bad", TOPIC,
	    EV("\"ends_at\":\"x\",\"starts_at\":\"y\""), "invalid_field",
	    "starts_at" },
	{ "ends_at alone", TOPIC, EV("\"ends_at\":\"" T1 "\""), NULL, NULL },
	{ "ends_at equal", TOPIC,
	    EV("\"starts_at\":\"" T0 "\",\"ends_at\":\"" T0 "\""), NULL, NULL },
	{ "ends_at equal other offset", TOPIC,
	    EV("\"starts_at\":\"" T0 "\","
	    "\"ends_at\":\"2026-05-01T08:00:00Z\""), NULL, NULL },
	{ "ends_at before starts_at", TOPIC,
	    EV("\"starts_at\":\"" T1 "\",\"ends_at\":\"" T0 "\""),
	    "invalid_field", "ends_at" },
	{ "ends_at bad", TOPIC, EV("\"ends_at\":\"2026-05-01T10:00Z\""),
	    "invalid_field", "ends_at" },
	{ "not_before expires_at ok", TOPIC,
	    EV("\"not_before\":\"" T0 "\",\"expires_at\":\"" T1 "\""), NULL,
	    NULL },
	{ "expires_at equal not_before", TOPIC,
	    EV("\"not_before\":\"" T0 "\",\"expires_at\":\"" T0 "\""),
	    "invalid_field", "expires_at" },
	{ "expires_at before not_before", TOPIC,
	    EV("\"not_before\":\"" T1 "\",\"expires_at\":\"" T0 "\""),
	    "invalid_field", "expires_at" },
	{ "not_before bad", TOPIC, EV("\"not_before\":\"tomorrow\""),
	    "invalid_field", "not_before" },
	{ "expires_at bad", TOPIC, EV("\"expires_at\":null"),
	    "invalid_field", "expires_at" },

	/* timezone */
	{ "timezone berlin", TOPIC, EV("\"timezone\":\"Europe/Berlin\""),
	    NULL, NULL },
	{ "timezone manila", TOPIC, EV("\"timezone\":\"Asia/Manila\""), NULL,
	    NULL },
	{ "timezone utc", TOPIC, EV("\"timezone\":\"UTC\""), NULL, NULL },
	{ "timezone unknown", TOPIC, EV("\"timezone\":\"Mars/Olympus\""),
	    "invalid_field", "timezone" },
	{ "timezone case", TOPIC, EV("\"timezone\":\"europe/berlin\""),
	    "invalid_field", "timezone" },
	{ "timezone custom", TOPIC, EV("\"timezone\":\"GMT+05:00\""),
	    "invalid_field", "timezone" },
	{ "timezone path", TOPIC, EV("\"timezone\":\"../etc/passwd\""),
	    "invalid_field", "timezone" },
	{ "timezone empty", TOPIC, EV("\"timezone\":\"\""), "invalid_field",
	    "timezone" },
	{ "timezone number", TOPIC, EV("\"timezone\":1"), "invalid_field",
	    "timezone" },

	/* location */
	{ "location full", TOPIC, EV("\"location\":{\"name\":\"Consulate\","
	    "\"address\":\"Main St 1\",\"city\":\"Frankfurt\","
	    "\"country\":\"DE\",\"url\":\"https://example.org/map?x=1#y\"}"),
	    NULL, NULL },
	{ "location empty object", TOPIC, EV("\"location\":{}"), NULL, NULL },
	{ "location url port", TOPIC,
	    EV("\"location\":{\"url\":\"https://example.org:8443/x\"}"), NULL,
	    NULL },
	{ "location url ipv6", TOPIC,
	    EV("\"location\":{\"url\":\"https://[2001:db8::1]/x\"}"), NULL,
	    NULL },
	{ "location url upper scheme", TOPIC,
	    EV("\"location\":{\"url\":\"HTTPS://EXAMPLE.ORG\"}"), NULL, NULL },
	{ "location url idn", TOPIC,
	    EV("\"location\":{\"url\":\"https://m\xc3\xbcnchen.de/\"}"), NULL,
	    NULL },
	{ "location country XK", TOPIC, EV("\"location\":{\"country\":\"XK\"}"),
	    NULL, NULL },
	{ "location string", TOPIC, EV("\"location\":\"Frankfurt\""),
	    "invalid_field", "location" },
	{ "location unknown key", TOPIC, EV("\"location\":{\"zip\":\"1\"}"),
	    "invalid_field", "location.zip" },
	{ "location name number", TOPIC, EV("\"location\":{\"name\":1}"),
	    "invalid_field", "location.name" },
	{ "location name c0", TOPIC,
	    EV("\"location\":{\"name\":\"a\\u0007\"}"), "invalid_field",
	    "location.name" },
	{ "location address lf", TOPIC,
	    EV("\"location\":{\"address\":\"a\\nb\"}"), "invalid_field",
	    "location.address" },
	{ "location city tab", TOPIC,
	    EV("\"location\":{\"city\":\"a\\tb\"}"), "invalid_field",
	    "location.city" },
	{ "location city del", TOPIC,
	    EV("\"location\":{\"city\":\"a\\u007f\"}"), "invalid_field",
	    "location.city" },
	{ "location name c1", TOPIC,
	    EV("\"location\":{\"name\":\"\\u0085\"}"), "invalid_field",
	    "location.name" },
	{ "location country lower", TOPIC,
	    EV("\"location\":{\"country\":\"de\"}"), "invalid_field",
	    "location.country" },
	{ "location country alpha3", TOPIC,
	    EV("\"location\":{\"country\":\"DEU\"}"), "invalid_field",
	    "location.country" },
	{ "location country unassigned", TOPIC,
	    EV("\"location\":{\"country\":\"ZZ\"}"), "invalid_field",
	    "location.country" },
	{ "location country uk", TOPIC,
	    EV("\"location\":{\"country\":\"UK\"}"), "invalid_field",
	    "location.country" },
	{ "location url http", TOPIC,
	    EV("\"location\":{\"url\":\"http://example.org\"}"),
	    "invalid_field", "location.url" },
	{ "location url no host", TOPIC,
	    EV("\"location\":{\"url\":\"https://\"}"), "invalid_field",
	    "location.url" },
	{ "location url path no host", TOPIC,
	    EV("\"location\":{\"url\":\"https:///x\"}"), "invalid_field",
	    "location.url" },
	{ "location url space", TOPIC,
	    EV("\"location\":{\"url\":\"https://a b\"}"), "invalid_field",
	    "location.url" },
	{ "location url userinfo", TOPIC,
	    EV("\"location\":{\"url\":\"https://gov.ph@evil.example\"}"),
	    "invalid_field", "location.url" },
	{ "location url javascript", TOPIC,
	    EV("\"location\":{\"url\":\"javascript:alert(1)\"}"),
	    "invalid_field", "location.url" },
	{ "location url bad port", TOPIC,
	    EV("\"location\":{\"url\":\"https://a:x/\"}"), "invalid_field",
	    "location.url" },
	{ "location url quote", TOPIC,
	    EV("\"location\":{\"url\":\"https://a/\\\"onclick\"}"),
	    "invalid_field", "location.url" },

	/* audience */
	{ "audience full", TOPIC, EV("\"audience\":{\"countries\":[\"DE\","
	    "\"AT\"],\"regions\":[\"Hessen\"],\"cities\":[\"Frankfurt\"],"
	    "\"languages\":[\"tl\",\"en-PH\"],\"tags\":[\"nurses\"]}"), NULL,
	    NULL },
	{ "audience empty object", TOPIC, EV("\"audience\":{}"), NULL, NULL },
	{ "audience array", TOPIC, EV("\"audience\":[]"), "invalid_field",
	    "audience" },
	{ "audience unknown key", TOPIC, EV("\"audience\":{\"age\":[\"x\"]}"),
	    "invalid_field", "audience.age" },
	{ "audience countries string", TOPIC,
	    EV("\"audience\":{\"countries\":\"DE\"}"), "invalid_field",
	    "audience.countries" },
	{ "audience countries empty", TOPIC,
	    EV("\"audience\":{\"countries\":[]}"), "invalid_field",
	    "audience.countries" },
	{ "audience countries lower", TOPIC,
	    EV("\"audience\":{\"countries\":[\"de\"]}"), "invalid_field",
	    "audience.countries[0]" },
	{ "audience countries second", TOPIC,
	    EV("\"audience\":{\"countries\":[\"DE\",\"XX\"]}"),
	    "invalid_field", "audience.countries[1]" },
	{ "audience languages bad", TOPIC,
	    EV("\"audience\":{\"languages\":[\"en\",\"en_US\"]}"),
	    "invalid_field", "audience.languages[1]" },
	{ "audience regions empty string", TOPIC,
	    EV("\"audience\":{\"regions\":[\"\"]}"), "invalid_field",
	    "audience.regions[0]" },
	{ "audience regions c0", TOPIC,
	    EV("\"audience\":{\"regions\":[\"a\\u0000\"]}"), "bad_json", "" },
	{ "audience regions c0 esc", TOPIC,
	    EV("\"audience\":{\"regions\":[\"a\\u0003\"]}"), "invalid_field",
	    "audience.regions[0]" },
	{ "audience cities c1", TOPIC,
	    EV("\"audience\":{\"cities\":[\"ok\",\"a\\u0085\"]}"),
	    "invalid_field", "audience.cities[1]" },
	{ "audience tags number", TOPIC,
	    EV("\"audience\":{\"tags\":[1]}"), "invalid_field",
	    "audience.tags[0]" },
	{ "audience tags del", TOPIC,
	    EV("\"audience\":{\"tags\":[\"\\u007f\"]}"), "invalid_field",
	    "audience.tags[0]" },
	{ "audience tags lf", TOPIC,
	    EV("\"audience\":{\"tags\":[\"a\\nb\"]}"), "invalid_field",
	    "audience.tags[0]" },

	/* links */
	{ "links ok", TOPIC, EV("\"links\":[{\"label\":\"Book\","
	    "\"url\":\"https://example.org/book\"},{\"url\":\"https://a.b\","
	    "\"label\":\"Info\"}]"), NULL, NULL },
	{ "links empty", TOPIC, EV("\"links\":[]"), NULL, NULL },
	{ "links object", TOPIC, EV("\"links\":{}"), "invalid_field",
	    "links" },
	{ "links element string", TOPIC, EV("\"links\":[\"https://a\"]"),
	    "invalid_field", "links[0]" },
	{ "links missing url", TOPIC, EV("\"links\":[{\"label\":\"a\"}]"),
	    "missing_field", "links[0].url" },
	{ "links missing label", TOPIC,
	    EV("\"links\":[{\"url\":\"https://a\"}]"), "missing_field",
	    "links[0].label" },
	{ "links extra key", TOPIC, EV("\"links\":[{\"label\":\"a\","
	    "\"url\":\"https://a\",\"title\":\"x\"}]"), "invalid_field",
	    "links[0].title" },
	{ "links[1].url http", TOPIC, EV("\"links\":[{\"label\":\"a\","
	    "\"url\":\"https://a\"},{\"label\":\"b\",\"url\":\"http://b\"}]"),
	    "invalid_field", "links[1].url" },
	{ "links url c0", TOPIC, EV("\"links\":[{\"label\":\"a\","
	    "\"url\":\"https://a/\\u0001\"}]"), "invalid_field",
	    "links[0].url" },
	{ "links url c1", TOPIC, EV("\"links\":[{\"label\":\"a\","
	    "\"url\":\"https://a/\\u0085\"}]"), "invalid_field",
	    "links[0].url" },
	{ "links url number", TOPIC, EV("\"links\":[{\"label\":\"a\","
	    "\"url\":1}]"), "invalid_field", "links[0].url" },
	{ "links label c0", TOPIC, EV("\"links\":[{\"label\":\"a\\u001f\","
	    "\"url\":\"https://a\"}]"), "invalid_field", "links[0].label" },
	{ "links label del", TOPIC, EV("\"links\":[{\"label\":\"\\u007f\","
	    "\"url\":\"https://a\"}]"), "invalid_field", "links[0].label" },
	{ "links label c1", TOPIC, EV("\"links\":[{\"label\":\"\\u0090\","
	    "\"url\":\"https://a\"}]"), "invalid_field", "links[0].label" },
	{ "links label empty", TOPIC, EV("\"links\":[{\"label\":\"\","
	    "\"url\":\"https://a\"}]"), "invalid_field", "links[0].label" },

	/* replaces, cancel */
	{ "replaces ok", TOPIC, EV("\"replaces\":\"e-0\""), NULL, NULL },
	{ "replaces own id", TOPIC, EV("\"replaces\":\"e-1\""),
	    "invalid_field", "replaces" },
	{ "replaces empty", TOPIC, EV("\"replaces\":\"\""), "invalid_field",
	    "replaces" },
	{ "replaces space", TOPIC, EV("\"replaces\":\"a b\""), "invalid_field",
	    "replaces" },
	{ "replaces 129", TOPIC, EV("\"replaces\":\"" S128 "x\""),
	    "invalid_field", "replaces" },
	{ "replaces number", TOPIC, EV("\"replaces\":7"), "invalid_field",
	    "replaces" },
	{ "cancel with replaces", TOPIC,
	    EV("\"cancel\":true,\"replaces\":\"e-0\""), NULL, NULL },
	{ "cancel without replaces", TOPIC, EV("\"cancel\":true"),
	    "invalid_field", "cancel" },
	{ "cancel false", TOPIC, EV("\"cancel\":false,\"replaces\":\"e-0\""),
	    "invalid_field", "cancel" },
	{ "cancel string", TOPIC,
	    EV("\"cancel\":\"true\",\"replaces\":\"e-0\""), "invalid_field",
	    "cancel" },
	{ "cancel 1", TOPIC, EV("\"cancel\":1,\"replaces\":\"e-0\""),
	    "invalid_field", "cancel" },
	{ "cancel null", TOPIC, EV("\"cancel\":null,\"replaces\":\"e-0\""),
	    "invalid_field", "cancel" },

	/* data, seq */
	{ "data free", TOPIC, EV("\"data\":{\"a\":[1,2.5,null,true],"
	    "\"b\":{\"c\":\"x\\u0001\\n\"}}"), NULL, NULL },
	{ "data empty", TOPIC, EV("\"data\":{}"), NULL, NULL },
	{ "data array", TOPIC, EV("\"data\":[]"), "invalid_field", "data" },
	{ "data string", TOPIC, EV("\"data\":\"x\""), "invalid_field",
	    "data" },
	{ "data null", TOPIC, EV("\"data\":null"), "invalid_field", "data" },
	{ "seq 1", TOPIC, EV("\"seq\":1"), NULL, NULL },
	{ "seq max", TOPIC, EV("\"seq\":9223372036854775807"), NULL, NULL },
	{ "seq 0", TOPIC, EV("\"seq\":0"), "invalid_field", "seq" },
	{ "seq negative", TOPIC, EV("\"seq\":-1"), "invalid_field", "seq" },
	{ "seq real", TOPIC, EV("\"seq\":1.5"), "invalid_field", "seq" },
	{ "seq string", TOPIC, EV("\"seq\":\"1\""), "invalid_field", "seq" },

	/* a full event */
	{ "full event", TOPIC, "{\"v\":1,\"id\":\"ph-fra-2026-05\","
	    "\"type\":\"consular-day\",\"title\":{\"en\":\"Consular day\","
	    "\"tl\":\"Araw ng konsulado\"},\"summary\":\"Passports\","
	    "\"body\":\"Bring:\\n\\t- passport\",\"lang\":\"en\","
	    "\"priority\":\"high\",\"status\":\"actual\","
	    "\"starts_at\":\"" T0 "\",\"ends_at\":\"" T1 "\","
	    "\"timezone\":\"Europe/Berlin\",\"location\":{\"name\":\"Hall\","
	    "\"city\":\"Frankfurt\",\"country\":\"DE\"},"
	    "\"audience\":{\"countries\":[\"DE\"],\"languages\":[\"tl\"]},"
	    "\"not_before\":\"2026-04-01T00:00:00Z\","
	    "\"expires_at\":\"" T1 "\",\"links\":[{\"label\":\"Book\","
	    "\"url\":\"https://example.org/\"}],\"replaces\":\"ph-fra-old\","
	    "\"data\":{\"room\":3},\"seq\":42}", NULL, NULL },
};

#define NROWS	(sizeof(rows) / sizeof(rows[0]))

static void
check_error(const struct event_error *err)
{
	size_t	flen;

	assert_non_null(err->code);
	assert_true(err->message[0] != '\0');
	assert_true(utf8_text_ok(err->message, strlen(err->message), NULL));
	assert_true(utf8_text_ok(err->field, strlen(err->field), NULL));
	flen = strlen(err->field);
	if (flen > 0) {
		assert_memory_equal(err->message, err->field, flen);
		assert_memory_equal(err->message + flen, ": ", 2);
	}
}

static void
test_row(void **state)
{
	const struct row	*r = *state;
	struct event		 ev;
	struct event_error	 err;
	int			 rc;

	memset(&err, 0x5a, sizeof(err));
	rc = event_parse(r->topic, strlen(r->topic), r->json, strlen(r->json),
	    &rules, &ev, &err);
	if (r->code == NULL) {
		if (rc != 0)
			print_error("%s: %s [%s] %s\n", r->name, err.code,
			    err.field, err.message);
		assert_int_equal(rc, 0);
		assert_non_null(ev.doc);
		assert_non_null(ev.canonical);
		event_clear(&ev);
		return;
	}
	if (rc == 0) {
		print_error("%s: accepted\n", r->name);
		event_clear(&ev);
	}
	assert_int_equal(rc, -1);
	if (strcmp(err.code, r->code) != 0 || strcmp(err.field, r->field) != 0)
		print_error("%s: got %s [%s] %s\n", r->name, err.code,
		    err.field, err.message);
	assert_string_equal(err.code, r->code);
	assert_string_equal(err.field, r->field);
	check_error(&err);
	assert_null(ev.doc);
	assert_null(ev.canonical);
}

static void
test_topic_nul(void **state)
{
	static const char	 topic[] = "embassy.ph.berlin.x\0y";
	static const char	 json[] = "{" REQ "}";
	struct event		 ev;
	struct event_error	 err;

	(void)state;
	assert_int_equal(event_parse(topic, sizeof(topic) - 1, json,
	    strlen(json), &rules, &ev, &err), -1);
	assert_string_equal(err.code, "bad_topic");
	/* the length given counts, not the NUL */
	assert_int_equal(event_parse(topic, 19, json, strlen(json), &rules,
	    &ev, &err), 0);
	event_clear(&ev);
	assert_int_equal(event_parse(NULL, 0, json, strlen(json), &rules,
	    &ev, &err), -1);
	assert_string_equal(err.code, "bad_topic");
	assert_int_equal(event_parse(TOPIC, strlen(TOPIC), NULL, 5, &rules,
	    &ev, &err), -1);
	assert_string_equal(err.code, "bad_json");
}

/* A document of exactly n bytes: the required keys and padding in data. */
static char *
sized_doc(size_t n)
{
	static const char	 head[] = "{" REQ ",\"data\":{\"p\":\"";
	static const char	 tail[] = "\"}}";
	char			*s;
	size_t			 fixed = strlen(head) + strlen(tail);

	assert_true(n >= fixed);
	s = malloc(n + 1);
	assert_non_null(s);
	memcpy(s, head, strlen(head));
	memset(s + strlen(head), 'x', n - fixed);
	memcpy(s + n - strlen(tail), tail, strlen(tail));
	s[n] = '\0';
	return s;
}

static void
test_size_limit(void **state)
{
	struct event_rules	 r = rules;
	struct event		 ev;
	struct event_error	 err;
	char			*doc;
	size_t			 i;
	static const size_t	 limits[] = { 200, 4096, 0 };

	(void)state;
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		size_t max = limits[i] ? limits[i] : 65536;

		r.max_bytes = limits[i];
		doc = sized_doc(max);
		assert_int_equal(event_parse(TOPIC, strlen(TOPIC), doc, max,
		    &r, &ev, &err), 0);
		event_clear(&ev);
		free(doc);

		doc = sized_doc(max + 1);
		assert_int_equal(event_parse(TOPIC, strlen(TOPIC), doc,
		    max + 1, &r, &ev, &err), -1);
		assert_string_equal(err.code, "too_large");
		assert_string_equal(err.field, "");
		check_error(&err);
		/* size comes before UTF-8 */
		memset(doc, 0xff, max + 1);
		assert_int_equal(event_parse(TOPIC, strlen(TOPIC), doc,
		    max + 1, &r, &ev, &err), -1);
		assert_string_equal(err.code, "too_large");
		free(doc);
	}
	/* too_large after bad_topic */
	doc = sized_doc(5000);
	assert_int_equal(event_parse("x", 1, doc, 5000, &rules, &ev, &err),
	    -1);
	assert_string_equal(err.code, "bad_topic");
	free(doc);
}

/* The hash of canonical, computed here independently. */
static void
check_hash(const struct event *ev)
{
	unsigned char	md[32];
	unsigned int	mdlen = 0;

	assert_int_equal(EVP_Digest(ev->canonical, ev->canonical_len, md,
	    &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(mdlen, 32);
	assert_memory_equal(md, ev->sha256, 32);
	assert_int_equal(strlen(ev->canonical), ev->canonical_len);
}

static void
parse_ok(const char *json, const struct event_rules *r, struct event *ev)
{
	struct event_error	err;

	if (event_parse(TOPIC, strlen(TOPIC), json, strlen(json), r, ev,
	    &err) != 0)
		print_error("%s [%s] %s\n", err.code, err.field, err.message);
	assert_non_null(ev->doc);
	check_hash(ev);
}

static void
test_filled(void **state)
{
	struct event	ev;

	(void)state;
	parse_ok("{\"v\":1,\"id\":\"ph-1\",\"type\":\"crisis\",\"title\":\"T\","
	    "\"lang\":\"tl\",\"priority\":\"critical\",\"status\":\"exercise\","
	    "\"starts_at\":\"" T0 "\",\"ends_at\":\"" T1 "\","
	    "\"not_before\":\"1970-01-01T00:00:00Z\","
	    "\"expires_at\":\"2026-05-01T10:00:00.5-05:30\","
	    "\"replaces\":\"ph-0\",\"cancel\":true,\"seq\":7}", &rules, &ev);
	assert_string_equal(ev.id, "ph-1");
	assert_string_equal(ev.type, "crisis");
	assert_string_equal(ev.lang, "tl");
	assert_string_equal(ev.replaces, "ph-0");
	assert_int_equal(ev.cancel, 1);
	assert_int_equal(ev.priority, PRIORITY_CRITICAL);
	assert_int_equal(ev.status, EVENT_EXERCISE);
	assert_int_equal(ev.starts_at_ms, 1777622400000LL);
	assert_int_equal(ev.ends_at_ms, 1777622400000LL + 7200000);
	assert_int_equal(ev.not_before_ms, 0);
	assert_int_equal(ev.expires_at_ms, 1777649400500LL);
	assert_int_equal(ev.seq, 7);
	assert_string_equal(ev.canonical, "{\"cancel\":true,"
	    "\"ends_at\":\"" T1 "\","
	    "\"expires_at\":\"2026-05-01T10:00:00.5-05:30\","
	    "\"id\":\"ph-1\",\"lang\":\"tl\","
	    "\"not_before\":\"1970-01-01T00:00:00Z\","
	    "\"priority\":\"critical\",\"replaces\":\"ph-0\",\"seq\":7,"
	    "\"starts_at\":\"" T0 "\",\"status\":\"exercise\","
	    "\"title\":\"T\",\"type\":\"crisis\",\"v\":1}");
	event_clear(&ev);
	assert_null(ev.doc);
	assert_null(ev.canonical);
	assert_null(ev.id);

	/* defaults */
	parse_ok("{" REQ "}", &rules, &ev);
	assert_string_equal(ev.id, "e-1");
	assert_string_equal(ev.type, "consular-day");
	assert_ptr_equal(ev.lang, rules.default_lang);
	assert_null(ev.replaces);
	assert_int_equal(ev.cancel, 0);
	assert_int_equal(ev.priority, PRIORITY_NORMAL);
	assert_int_equal(ev.status, EVENT_ACTUAL);
	assert_int_equal(ev.starts_at_ms, -1);
	assert_int_equal(ev.ends_at_ms, -1);
	assert_int_equal(ev.not_before_ms, -1);
	assert_int_equal(ev.expires_at_ms, -1);
	assert_int_equal(ev.seq, 0);
	assert_string_equal(ev.canonical, "{\"id\":\"e-1\","
	    "\"title\":\"Consular day\",\"type\":\"consular-day\",\"v\":1}");
	event_clear(&ev);
}

static void
test_default_lang_null(void **state)
{
	struct event_rules	r = rules;
	struct event		ev;

	(void)state;
	r.default_lang = NULL;
	parse_ok("{" REQ "}", &r, &ev);
	assert_null(ev.lang);
	event_clear(&ev);
	parse_ok(EV("\"lang\":\"de\""), &r, &ev);
	assert_string_equal(ev.lang, "de");
	event_clear(&ev);
}

static void
test_canonical(void **state)
{
	static const char *const same[] = {
		"{\"v\":1,\"id\":\"a\",\"type\":\"crisis\",\"title\":"
		    "{\"en\":\"Caf\xc3\xa9\",\"tl\":\"x\"},\"data\":{\"b\":1,"
		    "\"a\":[1.5,true]}}",
		"{ \"data\" : { \"a\" : [ 1.50 , true ] , \"b\" : 1 } ,\n"
		    "\t\"title\":{\"tl\":\"x\",\"en\":\"Caf\\u00e9\"},"
		    "\"type\":\"crisis\",\"id\":\"a\",\"v\":1 }\r\n",
		"{\"title\":{\"tl\":\"\\u0078\",\"en\":\"Caf\\u00E9\"},"
		    "\"v\":1,\"data\":{\"a\":[15e-1,true],\"b\":1},"
		    "\"id\":\"a\",\"type\":\"crisis\"}",
	};
	static const char *const differ[] = {
		"{\"v\":1,\"id\":\"a\",\"type\":\"crisis\",\"title\":"
		    "{\"en\":\"Cafe\",\"tl\":\"x\"},\"data\":{\"b\":1,"
		    "\"a\":[1.5,true]}}",
		"{\"v\":1,\"id\":\"a\",\"type\":\"crisis\",\"title\":"
		    "{\"en\":\"Caf\xc3\xa9\",\"tl\":\"x\"},\"data\":{\"b\":2,"
		    "\"a\":[1.5,true]}}",
		"{\"v\":1,\"id\":\"a\",\"type\":\"crisis\",\"title\":"
		    "{\"en\":\"Caf\xc3\xa9\",\"tl\":\"x\"},\"data\":{\"b\":1,"
		    "\"a\":[true,1.5]}}",
		"{\"v\":1,\"id\":\"a\",\"type\":\"crisis\",\"title\":"
		    "{\"en\":\"Caf\xc3\xa9\",\"tl\":\"x\"},\"data\":{\"b\":1,"
		    "\"a\":[1.5,true]},\"priority\":\"normal\"}",
	};
	struct event	first, ev;
	size_t		i;

	(void)state;
	parse_ok(same[0], &rules, &first);
	for (i = 1; i < sizeof(same) / sizeof(same[0]); i++) {
		parse_ok(same[i], &rules, &ev);
		assert_string_equal(ev.canonical, first.canonical);
		assert_memory_equal(ev.sha256, first.sha256, 32);
		event_clear(&ev);
	}
	for (i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
		parse_ok(differ[i], &rules, &ev);
		assert_memory_not_equal(ev.sha256, first.sha256, 32);
		event_clear(&ev);
	}
	event_clear(&first);
}

static void
test_clear(void **state)
{
	struct event	ev;

	(void)state;
	memset(&ev, 0, sizeof(ev));
	event_clear(&ev);
	event_clear(&ev);
	event_clear(NULL);
	parse_ok("{" REQ "}", &rules, &ev);
	event_clear(&ev);
	event_clear(&ev);
	assert_null(ev.doc);
}

static void
test_null_rules(void **state)
{
	struct event		ev;
	struct event_error	err;
	static const char	json[] = "{" REQ "}";

	(void)state;
	/* no types: every type is unknown, nothing crashes */
	assert_int_equal(event_parse(TOPIC, strlen(TOPIC), json, strlen(json),
	    NULL, &ev, &err), -1);
	assert_string_equal(err.code, "unknown_type");
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_int_equal(event_status_parse("actual"), EVENT_ACTUAL);
	assert_int_equal(event_status_parse("exercise"), EVENT_EXERCISE);
	assert_int_equal(event_status_parse("test"), EVENT_TEST);
	assert_int_equal(event_status_parse("Test"), -1);
	assert_string_equal(event_status_name(EVENT_TEST), "test");
	assert_string_equal(event_status_name(3), "?");
	assert_string_equal(event_status_name(-1), "?");
}

struct time_row {
	const char	*s;
	int		 ok;
	int64_t		 ms;
};

static const struct time_row time_rows[] = {
	{ "1970-01-01T00:00:00Z", 1, 0 },
	{ "1970-01-01T00:00:00.001Z", 1, 1 },
	{ "1970-01-01T01:00:00+01:00", 1, 0 },
	{ "1970-01-01T00:00:00-00:00", 1, 0 },
	{ "1969-12-31T23:59:59Z", 1, -1000 },
	{ "2000-01-01T00:00:00Z", 1, 946684800000LL },
	{ "2000-02-29T12:00:00Z", 1, 951825600000LL },
	{ "2026-05-01T10:00:00+02:00", 1, 1777622400000LL },
	{ "2026-05-01t08:00:00z", 1, 1777622400000LL },
	{ "2026-05-01T10:00:00.5-05:30", 1, 1777649400500LL },
	{ "2026-05-01T10:00:00.500-05:30", 1, 1777649400500LL },
	{ "2026-05-01T00:30:00+14:00", 1, 1777545000000LL },
	{ "2026-04-30T23:00:00-12:00", 1, 1777633200000LL },
	{ "2024-02-29T23:59:59.999Z", 1, 1709251199999LL },
	{ "2024-02-29T23:59:59.9999999Z", 1, 1709251199999LL },
	{ "2038-01-19T03:14:08Z", 1, 2147483648000LL },
	{ "2016-12-31T23:59:60Z", 1, 1483228799000LL },
	{ "2016-12-31T23:59:60.250Z", 1, 1483228799250LL },
	{ "0000-01-01T00:00:00Z", 1, -62167219200000LL },
	{ "0000-02-29T00:00:00Z", 1, -62167219200000LL + 59 * 86400000LL },
	{ "9999-12-31T23:59:59.999Z", 1, 253402300799999LL },
	{ "", 0, 0 },
	{ "2026", 0, 0 },
	{ "2026-05-01", 0, 0 },
	{ "2026-05-01T10:00", 0, 0 },
	{ "2026-05-01T10:00Z", 0, 0 },
	{ "2026-05-01T10:00:00", 0, 0 },
	{ "2026-05-01T10:00:00.123", 0, 0 },
	{ "2026-05-01 10:00:00Z", 0, 0 },
	{ "2026-05-01_10:00:00Z", 0, 0 },
	{ "2026-05-01T10:00:00.Z", 0, 0 },
	{ "2026-05-01T10:00:00,5Z", 0, 0 },
	{ "2026-05-01T10:00:00+02", 0, 0 },
	{ "2026-05-01T10:00:00+0200", 0, 0 },
	{ "2026-05-01T10:00:00+2:00", 0, 0 },
	{ "2026-05-01T10:00:00+24:00", 0, 0 },
	{ "2026-05-01T10:00:00+02:60", 0, 0 },
	{ "2026-05-01T10:00:00Z ", 0, 0 },
	{ " 2026-05-01T10:00:00Z", 0, 0 },
	{ "2026-05-01T10:00:00ZZ", 0, 0 },
	{ "2026-05-01T10:00:00+02:00:00", 0, 0 },
	{ "2026-5-01T10:00:00Z", 0, 0 },
	{ "26-05-01T10:00:00Z", 0, 0 },
	{ "+2026-05-01T10:00:00Z", 0, 0 },
	{ "12026-05-01T10:00:00Z", 0, 0 },
	{ "2026-00-01T10:00:00Z", 0, 0 },
	{ "2026-13-01T10:00:00Z", 0, 0 },
	{ "2026-05-00T10:00:00Z", 0, 0 },
	{ "2026-05-32T10:00:00Z", 0, 0 },
	{ "2026-02-29T10:00:00Z", 0, 0 },
	{ "2100-02-29T10:00:00Z", 0, 0 },
	{ "2026-02-30T10:00:00Z", 0, 0 },
	{ "2026-06-31T10:00:00Z", 0, 0 },
	{ "2026-05-01T24:00:00Z", 0, 0 },
	{ "2026-05-01T10:60:00Z", 0, 0 },
	{ "2026-05-01T10:00:61Z", 0, 0 },
	{ "2026-05-01T1a:00:00Z", 0, 0 },
	{ "2026-05-01T10:00:00\xc2\xa0Z", 0, 0 },
	{ "2026-05-01T10:00:00.1x", 0, 0 },
};

static void
test_parse_time(void **state)
{
	size_t	i;
	int64_t	ms;
	int	rc;

	(void)state;
	for (i = 0; i < sizeof(time_rows) / sizeof(time_rows[0]); i++) {
		ms = 12345;
		rc = event_parse_time(time_rows[i].s, &ms);
		if (rc != (time_rows[i].ok ? 0 : -1) ||
		    (rc == 0 && ms != time_rows[i].ms))
			print_error("\"%s\": rc %d ms %lld\n", time_rows[i].s,
			    rc, (long long)ms);
		assert_int_equal(rc, time_rows[i].ok ? 0 : -1);
		if (time_rows[i].ok)
			assert_int_equal(ms, time_rows[i].ms);
	}
	assert_int_equal(event_parse_time(NULL, &ms), -1);
	assert_int_equal(event_parse_time("2026-05-01T10:00:00Z", NULL), -1);
}

int
main(void)
{
	static const struct CMUnitTest	fixed[] = {
		cmocka_unit_test(test_topic_nul),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_filled),
		cmocka_unit_test(test_default_lang_null),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_clear),
		cmocka_unit_test(test_null_rules),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_parse_time),
	};
	struct CMUnitTest	*tests;
	size_t			 i, n = sizeof(fixed) / sizeof(fixed[0]);
	int			 rc;

	/* One cmocka test per table row, so each failure is named. */
	if ((tests = calloc(NROWS + n, sizeof(*tests))) == NULL)
		return 1;
	for (i = 0; i < NROWS; i++) {
		tests[i].name = rows[i].name;
		tests[i].test_func = test_row;
		tests[i].initial_state = (void *)(uintptr_t)&rows[i];
	}
	memcpy(tests + NROWS, fixed, sizeof(fixed));
	rc = _cmocka_run_group_tests("event", tests, NROWS + n, NULL, NULL);
	free(tests);
	return rc != 0;
}
