/* test_contact.c - contacts (daemon/contact.c): one table row per rule and
 * field, each run through both sources (a CSV cell and the same value in a
 * JSON object) with the stored, normalised value or the error's field and
 * reason checked, and the privacy property (the reason never holds the
 * value) asserted for every failing row; then whole JSON documents, CSV
 * sequences, the JSON shape and equality, unsubscribe tokens (round trip,
 * tampering, known answer) and the delivery hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "contact.h"

#define S10	"abcdefghij"
#define S60	S10 S10 S10 S10 S10 S10
#define S61	S60 "k"
#define S62	S60 "kl"
#define S63	S60 "klm"
#define S64	S60 "klmn"
#define S65	S60 "klmno"
/* 10 x e-acute, 20 bytes */
#define E10	"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" \
		"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
#define E50	E10 E10 E10 E10 E10
#define E200	E50 E50 E50 E50
#define L16	"en;fr;de;es;it;pt;nl;sv;da;fi;pl;cs;sk;hu;ro;bg"

#define CSV	1
#define JSON	2
#define BOTH	3

/* One value of one field.  csv is the cell (csvlen bytes, 0: strlen);
 * json the JSON text of the value, NULL: csv as a JSON string (lists: the
 * ';'-separated items, trimmed, as an array of strings).  reason NULL:
 * valid, and the stored value (see stored()) is norm, or csv when norm is
 * NULL; else a substring of the expected reason. */
struct frow {
	const char	*name;
	int		 src;
	const char	*field;
	const char	*csv;
	size_t		 csvlen;
	const char	*json;
	int		 utf8;
	const char	*reason;
	const char	*norm;
};

static const struct frow frows[] = {
	/* id */
	{ "id plain", BOTH, "id", "c-1", 0, NULL, 0, NULL, NULL },
	{ "id all classes", BOTH, "id", "A.b_c:D-9", 0, NULL, 0, NULL, NULL },
	{ "id 64", BOTH, "id", S64, 0, NULL, 0, NULL, NULL },
	{ "id 65", BOTH, "id", S65, 0, NULL, 0, "longer than 64", NULL },
	{ "id address", BOTH, "id", "maria.cruz@example.org", 0, NULL, 0,
	    "an id, not an address", NULL },
	{ "id at sign", BOTH, "id", "abc@", 0, NULL, 0, "not an address",
	    NULL },
	{ "id space", BOTH, "id", "ab cd", 0, NULL, 0, "may contain only",
	    NULL },
	{ "id slash", BOTH, "id", "ab/cd", 0, NULL, 0, "may contain only",
	    NULL },
	{ "id plus", BOTH, "id", "ab+cd", 0, NULL, 0, "may contain only",
	    NULL },
	{ "id utf8", BOTH, "id", "jos\xc3\xa9", 0, NULL, 0, "may contain only",
	    NULL },
	{ "id tab", BOTH, "id", "ab\tcd", 0, NULL, 0, "control character",
	    NULL },
	{ "id nul", CSV, "id", "ab\0cd", 5, NULL, 0, "control character",
	    NULL },
	{ "id json nul", JSON, "id", "abcd", 0, "\"ab\\u0000cd\"", 0,
	    "control character", NULL },
	{ "id bad utf8", CSV, "id", "ab\xff" "cd", 0, NULL, 0, "UTF-8", NULL },
	{ "id number", JSON, "id", "12345", 0, "12345", 0,
	    "expected a string", NULL },
	{ "id empty json", JSON, "id", "", 0, "\"\"", 0, "empty", NULL },

	/* email: dot-string local parts */
	{ "email plain", BOTH, "email", "maria@example.org", 0, NULL, 0,
	    NULL, NULL },
	{ "email dots", BOTH, "email", "maria.dela.cruz@example.org", 0, NULL,
	    0, NULL, NULL },
	{ "email plus", BOTH, "email", "maria+news@example.org", 0, NULL, 0,
	    NULL, NULL },
	{ "email atext", BOTH, "email", "!#$%&'*+-/=?^_`{|}~@example.org", 0,
	    NULL, 0, NULL, NULL },
	{ "email subdomain", BOTH, "email", "x@mail.post.example.co.uk", 0,
	    NULL, 0, NULL, NULL },
	{ "email domain lowered", BOTH, "email", "Maria.Cruz@Example.ORG", 0,
	    NULL, 0, NULL, "Maria.Cruz@example.org" },
	{ "email digits domain", BOTH, "email", "x@123.example.org", 0, NULL,
	    0, NULL, NULL },
	{ "email hyphen label", BOTH, "email", "x@my-post.example.org", 0,
	    NULL, 0, NULL, NULL },
	{ "email local 64", BOTH, "email", S64 "@example.org", 0, NULL, 0,
	    NULL, NULL },
	{ "email local 65", BOTH, "email", S65 "@example.org", 0, NULL, 0,
	    "local part longer than 64", NULL },
	{ "email total 254", BOTH, "email", S64 "@" S63 "." S63 "." S61, 0,
	    NULL, 0, NULL, NULL },
	{ "email total 255", BOTH, "email", S64 "@" S63 "." S63 "." S62, 0,
	    NULL, 0, "longer than 254", NULL },
	{ "email label 63", BOTH, "email", "x@" S63 ".org", 0, NULL, 0, NULL,
	    NULL },
	{ "email label 64", BOTH, "email", "x@" S64 ".org", 0, NULL, 0,
	    "label longer than 63", NULL },
	{ "email no at", BOTH, "email", "maria.example.org", 0, NULL, 0,
	    "no '@'", NULL },
	{ "email empty local", BOTH, "email", "@example.org", 0, NULL, 0,
	    "local part is empty", NULL },
	{ "email leading dot", BOTH, "email", ".maria@example.org", 0, NULL, 0,
	    "dot", NULL },
	{ "email trailing dot", BOTH, "email", "maria.@example.org", 0, NULL,
	    0, "dot", NULL },
	{ "email double dot", BOTH, "email", "maria..cruz@example.org", 0,
	    NULL, 0, "two in a row", NULL },
	{ "email only dot", BOTH, "email", ".@example.org", 0, NULL, 0,
	    "dot", NULL },
	{ "email space", BOTH, "email", "maria cruz@example.org", 0, NULL, 0,
	    "not allowed unquoted", NULL },
	{ "email comma", BOTH, "email", "maria,cruz@example.org", 0, NULL, 0,
	    "not allowed unquoted", NULL },
	{ "email parens", BOTH, "email", "maria(x)@example.org", 0, NULL, 0,
	    "not allowed unquoted", NULL },
	{ "email angle", BOTH, "email", "<maria@example.org>", 0, NULL, 0,
	    "not allowed unquoted", NULL },
	{ "email display name", BOTH, "email", "Maria <maria@example.org>", 0,
	    NULL, 0, "not allowed unquoted", NULL },
	{ "email two at", BOTH, "email", "maria@cruz@example.org", 0, NULL, 0,
	    "domain may contain only", NULL },
	{ "email inner quote", BOTH, "email", "ma\"ria@example.org", 0, NULL,
	    0, "not allowed unquoted", NULL },
	{ "email backslash", BOTH, "email", "ma\\ria@example.org", 0, NULL, 0,
	    "not allowed unquoted", NULL },
	/* email: quoted-string local parts */
	{ "email quoted", BOTH, "email", "\"maria\"@example.org", 0, NULL, 0,
	    NULL, NULL },
	{ "email quoted space", BOTH, "email", "\"maria cruz\"@example.org", 0,
	    NULL, 0, NULL, NULL },
	{ "email quoted at", BOTH, "email", "\"maria@home\"@example.org", 0,
	    NULL, 0, NULL, NULL },
	{ "email quoted dots", BOTH, "email", "\"..maria..\"@example.org", 0,
	    NULL, 0, NULL, NULL },
	{ "email quoted pair", BOTH, "email", "\"ma\\\"ria\"@example.org", 0,
	    NULL, 0, NULL, NULL },
	{ "email quoted backslash", BOTH, "email", "\"ma\\\\ria\"@example.org",
	    0, NULL, 0, NULL, NULL },
	{ "email quoted comma", BOTH, "email", "\"cruz,maria\"@example.org", 0,
	    NULL, 0, NULL, NULL },
	{ "email quoted 64", BOTH, "email", "\"" S62 "\"@example.org", 0,
	    NULL, 0, NULL, NULL },
	{ "email quoted 65", BOTH, "email", "\"" S63 "\"@example.org", 0,
	    NULL, 0, "local part longer than 64", NULL },
	{ "email quoted empty", BOTH, "email", "\"\"@example.org", 0, NULL, 0,
	    "local part is empty", NULL },
	{ "email quoted open", BOTH, "email", "\"maria@example.org", 0, NULL,
	    0, "unterminated", NULL },
	{ "email quoted escaped end", BOTH, "email", "\"maria\\\"@example.org",
	    0, NULL, 0, "unterminated", NULL },
	{ "email quoted then text", BOTH, "email", "\"maria\"x@example.org", 0,
	    NULL, 0, "followed by '@'", NULL },
	{ "email quoted no domain", BOTH, "email", "\"maria\"", 0, NULL, 0,
	    "followed by '@'", NULL },
	{ "email quoted tab", BOTH, "email", "\"ma\tria\"@example.org", 0,
	    NULL, 0, "control character", NULL },
	/* email: domains */
	{ "email no domain", BOTH, "email", "maria@", 0, NULL, 0,
	    "has no domain", NULL },
	{ "email dotless", BOTH, "email", "maria@localhost", 0, NULL, 0,
	    "at least one dot", NULL },
	{ "email domain trailing dot", BOTH, "email", "maria@example.org.", 0,
	    NULL, 0, "empty label", NULL },
	{ "email domain leading dot", BOTH, "email", "maria@.example.org", 0,
	    NULL, 0, "empty label", NULL },
	{ "email domain double dot", BOTH, "email", "maria@example..org", 0,
	    NULL, 0, "empty label", NULL },
	{ "email domain hyphen start", BOTH, "email", "maria@-post.example.org",
	    0, NULL, 0, "starting or ending with '-'", NULL },
	{ "email domain hyphen end", BOTH, "email", "maria@post-.example.org",
	    0, NULL, 0, "starting or ending with '-'", NULL },
	{ "email domain underscore", BOTH, "email", "maria@my_post.example.org",
	    0, NULL, 0, "domain may contain only", NULL },
	{ "email domain space", BOTH, "email", "maria@example .org", 0, NULL,
	    0, "domain may contain only", NULL },
	{ "email numeric tld", BOTH, "email", "maria@192.0.2.1", 0, NULL, 0,
	    "all digits", NULL },
	{ "email ipv4 literal", BOTH, "email", "maria@[192.0.2.1]", 0, NULL, 0,
	    "address literals", NULL },
	{ "email ipv6 literal", BOTH, "email", "maria@[IPv6:2001:db8::1]", 0,
	    NULL, 0, "address literals", NULL },
	{ "email idn a-label", BOTH, "email", "maria@xn--bcher-kva.example", 0,
	    NULL, 0, NULL, NULL },
	{ "email idn a-label upper", BOTH, "email",
	    "maria@XN--BCHER-KVA.Example", 0, NULL, 0, NULL,
	    "maria@xn--bcher-kva.example" },
	{ "email idn bad a-label", BOTH, "email", "maria@xn--zz.example", 0,
	    NULL, 0, "invalid A-label", NULL },
	{ "email idn bad a-label 2", BOTH, "email",
	    "maria@xn--a.example", 0, NULL, 0, "A-label", NULL },
	{ "email idn a-label hyphen", BOTH, "email",
	    "maria@xn--bcher-kva-.example", 0, NULL, 0, "'-'", NULL },
	{ "email idn u-label", BOTH, "email", "maria@b\xc3\xbc" "cher.example",
	    0, NULL, 0, "A-labels (xn--", NULL },
	{ "email idn u-label utf8 flag", BOTH, "email",
	    "maria@b\xc3\xbc" "cher.example", 0, NULL, 1, "A-labels (xn--",
	    NULL },
	/* email: UTF-8 local parts (RFC 6531) */
	{ "email utf8 local refused", BOTH, "email",
	    "jos\xc3\xa9@example.org", 0, NULL, 0, "not ASCII", NULL },
	{ "email utf8 local allowed", BOTH, "email",
	    "jos\xc3\xa9@example.org", 0, NULL, 1, NULL, NULL },
	{ "email utf8 cjk allowed", BOTH, "email",
	    "\xe7\x94\xa8\xe6\x88\xb7@example.org", 0, NULL, 1, NULL, NULL },
	{ "email utf8 emoji allowed", BOTH, "email",
	    "x\xf0\x9f\x98\x80y@example.org", 0, NULL, 1, NULL, NULL },
	{ "email utf8 quoted refused", BOTH, "email",
	    "\"jos\xc3\xa9 m\"@example.org", 0, NULL, 0, "not ASCII", NULL },
	{ "email utf8 quoted allowed", BOTH, "email",
	    "\"jos\xc3\xa9 m\"@example.org", 0, NULL, 1, NULL, NULL },
	{ "email utf8 c1 control", BOTH, "email",
	    "jo\xc2\x85s@example.org", 0, NULL, 1, "control character", NULL },
	{ "email utf8 local 64 octets", BOTH, "email",
	    E10 E10 E10 "abcd@example.org", 0, NULL, 1, NULL, NULL },
	{ "email utf8 local 65 octets", BOTH, "email",
	    E10 E10 E10 "abcde@example.org", 0, NULL, 1,
	    "local part longer than 64 octets", NULL },
	{ "email bad utf8", CSV, "email", "jo\xc3(s@example.org", 0, NULL, 1,
	    "UTF-8", NULL },
	{ "email nul", CSV, "email", "maria\0@example.org", 18, NULL, 0,
	    "control character", NULL },
	{ "email newline", BOTH, "email", "maria@example.org\nBcc: x@y.org", 0,
	    NULL, 0, "control character", NULL },
	{ "email json array", JSON, "email", "x", 0, "[\"maria@example.org\"]",
	    0, "expected a string", NULL },

	/* webhook_url */
	{ "url plain", BOTH, "webhook_url", "https://hooks.example.org/x", 0,
	    NULL, 0, NULL, NULL },
	{ "url root", BOTH, "webhook_url", "https://hooks.example.org", 0,
	    NULL, 0, NULL, NULL },
	{ "url port query", BOTH, "webhook_url",
	    "https://hooks.example.org:8443/in?org=42&k=v%20w", 0, NULL, 0,
	    NULL, NULL },
	{ "url lowered", BOTH, "webhook_url",
	    "HTTPS://Hooks.Example.ORG:443/Path/To?Q=A", 0, NULL, 0, NULL,
	    "https://hooks.example.org:443/Path/To?Q=A" },
	{ "url ipv4", BOTH, "webhook_url", "https://192.0.2.10/hook", 0, NULL,
	    0, NULL, NULL },
	{ "url ipv6", BOTH, "webhook_url", "https://[2001:DB8::1]:8443/hook",
	    0, NULL, 0, NULL, "https://[2001:db8::1]:8443/hook" },
	{ "url single label", BOTH, "webhook_url", "https://localhost/hook", 0,
	    NULL, 0, NULL, NULL },
	{ "url a-label", BOTH, "webhook_url",
	    "https://xn--bcher-kva.example/hook", 0, NULL, 0, NULL, NULL },
	{ "url query only", BOTH, "webhook_url", "https://h.example.org?x=1",
	    0, NULL, 0, NULL, NULL },
	{ "url http", BOTH, "webhook_url", "http://hooks.example.org/x", 0,
	    NULL, 0, "must use https", NULL },
	{ "url ftp", BOTH, "webhook_url", "ftp://hooks.example.org/x", 0,
	    NULL, 0, "not an https URL", NULL },
	{ "url no scheme", BOTH, "webhook_url", "hooks.example.org/x", 0, NULL,
	    0, "not an https URL", NULL },
	{ "url one slash", BOTH, "webhook_url", "https:/hooks.example.org", 0,
	    NULL, 0, "not an https URL", NULL },
	{ "url no host", BOTH, "webhook_url", "https:///x", 0, NULL, 0,
	    "has no host", NULL },
	{ "url empty host", BOTH, "webhook_url", "https://", 0, NULL, 0,
	    "has no host", NULL },
	{ "url userinfo", BOTH, "webhook_url",
	    "https://user:secret@hooks.example.org/x", 0, NULL, 0, "userinfo",
	    NULL },
	{ "url fragment", BOTH, "webhook_url", "https://hooks.example.org/x#y",
	    0, NULL, 0, "fragment", NULL },
	{ "url space", BOTH, "webhook_url", "https://hooks.example.org/a b", 0,
	    NULL, 0, "percent-encoded", NULL },
	{ "url quote", BOTH, "webhook_url", "https://hooks.example.org/a\"b",
	    0, NULL, 0, "percent-encoded", NULL },
	{ "url angle", BOTH, "webhook_url", "https://hooks.example.org/<ab>",
	    0, NULL, 0, "percent-encoded", NULL },
	{ "url brace", BOTH, "webhook_url", "https://hooks.example.org/{ab}",
	    0, NULL, 0, "percent-encoded", NULL },
	{ "url non-ascii path", BOTH, "webhook_url",
	    "https://hooks.example.org/caf\xc3\xa9", 0, NULL, 0, "not ASCII",
	    NULL },
	{ "url u-label host", BOTH, "webhook_url",
	    "https://b\xc3\xbc" "cher.example/x", 0, NULL, 0, "not ASCII",
	    NULL },
	{ "url control", BOTH, "webhook_url", "https://hooks.example.org/\x01",
	    0, NULL, 0, "control character", NULL },
	{ "url newline", BOTH, "webhook_url",
	    "https://hooks.example.org/x\r\nHost: evil", 0, NULL, 0,
	    "control character", NULL },
	{ "url port 0", BOTH, "webhook_url", "https://hooks.example.org:0/x",
	    0, NULL, 0, "bad port", NULL },
	{ "url port 65535", BOTH, "webhook_url",
	    "https://hooks.example.org:65535/x", 0, NULL, 0, NULL, NULL },
	{ "url port 65536", BOTH, "webhook_url",
	    "https://hooks.example.org:65536/x", 0, NULL, 0, "bad port", NULL },
	{ "url port empty", BOTH, "webhook_url", "https://hooks.example.org:/x",
	    0, NULL, 0, "bad port", NULL },
	{ "url port alpha", BOTH, "webhook_url",
	    "https://hooks.example.org:https/x", 0, NULL, 0, "bad port", NULL },
	{ "url port long", BOTH, "webhook_url",
	    "https://hooks.example.org:0000443/x", 0, NULL, 0, "bad port",
	    NULL },
	{ "url host underscore", BOTH, "webhook_url",
	    "https://my_hooks.example.org/x", 0, NULL, 0, "host may contain",
	    NULL },
	{ "url host hyphen", BOTH, "webhook_url",
	    "https://-hooks.example.org/x", 0, NULL, 0, "'-'", NULL },
	{ "url host trailing dot", BOTH, "webhook_url",
	    "https://hooks.example.org./x", 0, NULL, 0, "empty label", NULL },
	{ "url numeric short", BOTH, "webhook_url", "https://10.1.2/x", 0,
	    NULL, 0, "not a valid IPv4", NULL },
	{ "url numeric big", BOTH, "webhook_url", "https://300.1.2.3/x", 0,
	    NULL, 0, "not a valid IPv4", NULL },
	{ "url numeric single", BOTH, "webhook_url", "https://2130706433/x", 0,
	    NULL, 0, "not a valid IPv4", NULL },
	{ "url numeric tld", BOTH, "webhook_url", "https://hooks.example.123/x",
	    0, NULL, 0, "all digits", NULL },
	{ "url bad ipv6", BOTH, "webhook_url", "https://[2001:db8::zz]/x", 0,
	    NULL, 0, "IPv6", NULL },
	{ "url ipv6 open", BOTH, "webhook_url", "https://[2001:db8::1/x", 0,
	    NULL, 0, "IPv6", NULL },
	{ "url ipv6 empty", BOTH, "webhook_url", "https://[]/x", 0, NULL, 0,
	    "IPv6", NULL },
	{ "url ipv6 junk after", BOTH, "webhook_url", "https://[::1]x/y", 0,
	    NULL, 0, "bad port", NULL },
	{ "url bad a-label", BOTH, "webhook_url", "https://xn--zz.example/x",
	    0, NULL, 0, "A-label", NULL },

	/* languages */
	{ "lang one", BOTH, "languages", "en", 0, NULL, 0, NULL, NULL },
	{ "lang order kept", BOTH, "languages", "ti;am;en", 0, NULL, 0, NULL,
	    NULL },
	{ "lang canonical case", BOTH, "languages", "EN-gb", 0, NULL, 0, NULL,
	    "en-GB" },
	{ "lang canonical script", BOTH, "languages", "zh-hant-tw;SR-latn", 0,
	    NULL, 0, NULL, "zh-Hant-TW;sr-Latn" },
	{ "lang deprecated", BOTH, "languages", "iw;in", 0, NULL, 0, NULL,
	    "he;id" },
	{ "lang grandfathered", BOTH, "languages", "i-klingon", 0, NULL, 0,
	    NULL, "tlh" },
	{ "lang region digits", BOTH, "languages", "es-419", 0, NULL, 0, NULL,
	    NULL },
	{ "lang csv spaces", CSV, "languages", " pt-BR ; pt ;en", 0, NULL, 0,
	    NULL, "pt-BR;pt;en" },
	{ "lang 16", BOTH, "languages", L16, 0, NULL, 0, NULL, NULL },
	{ "lang 17", BOTH, "languages", L16 ";tl", 0, NULL, 0,
	    "more than 16 languages", NULL },
	{ "lang dup", BOTH, "languages", "en;fr;en", 0, NULL, 0,
	    "item 3: the same language as item 1", NULL },
	{ "lang dup canonical", BOTH, "languages", "en-GB;EN-gb", 0, NULL, 0,
	    "item 2: the same language as item 1", NULL },
	{ "lang dup deprecated", BOTH, "languages", "he;iw", 0, NULL, 0,
	    "same language", NULL },
	{ "lang und", BOTH, "languages", "en;und", 0, NULL, 0,
	    "item 2: an undetermined", NULL },
	{ "lang private only", BOTH, "languages", "x-whatever", 0, NULL, 0,
	    "undetermined", NULL },
	{ "lang underscore", BOTH, "languages", "en_GB", 0, NULL, 0,
	    "item 1: not a BCP 47", NULL },
	{ "lang trailing hyphen", BOTH, "languages", "en-", 0, NULL, 0,
	    "not a BCP 47", NULL },
	{ "lang double hyphen", BOTH, "languages", "en--GB", 0, NULL, 0,
	    "not a BCP 47", NULL },
	{ "lang one letter", BOTH, "languages", "e", 0, NULL, 0,
	    "not a BCP 47", NULL },
	{ "lang bad subtag", BOTH, "languages", "en-a", 0, NULL, 0,
	    "not a BCP 47", NULL },
	{ "lang too long", BOTH, "languages", "en-" S62, 0, NULL, 0,
	    "not a BCP 47", NULL },
	{ "lang utf8", BOTH, "languages", "fran\xc3\xa7" "ais", 0, NULL, 0,
	    "not a BCP 47", NULL },
	{ "lang space inside", BOTH, "languages", "en GB", 0, NULL, 0,
	    "not a BCP 47", NULL },
	{ "lang empty item", CSV, "languages", "en;;fr", 0, NULL, 0,
	    "item 2: empty", NULL },
	{ "lang trailing sep", CSV, "languages", "en;fr;", 0, NULL, 0,
	    "item 3: empty", NULL },
	{ "lang blank cell", CSV, "languages", "   ", 0, NULL, 0,
	    "item 1: empty", NULL },
	{ "lang json empty item", JSON, "languages", "x", 0, "[\"en\",\"\"]",
	    0, "item 2: empty", NULL },
	{ "lang json semicolon", JSON, "languages", "x", 0, "[\"en;fr\"]", 0,
	    "item 1: contains ';'", NULL },
	{ "lang json number", JSON, "languages", "x", 0, "[\"en\",42]", 0,
	    "item 2: expected a string", NULL },
	{ "lang json string", JSON, "languages", "x", 0, "\"en\"", 0,
	    "expected an array", NULL },
	{ "lang json object", JSON, "languages", "x", 0, "{\"en\":1}", 0,
	    "expected an array", NULL },
	{ "lang json empty array", JSON, "languages", "x", 0, "[]", 0, NULL,
	    "" },
	{ "lang json control", JSON, "languages", "x", 0, "[\"en\\n\"]", 0,
	    "item 1: contains a control", NULL },

	/* country */
	{ "country PH", BOTH, "country", "PH", 0, NULL, 0, NULL, NULL },
	{ "country DE", BOTH, "country", "DE", 0, NULL, 0, NULL, NULL },
	{ "country lower", BOTH, "country", "ph", 0, NULL, 0,
	    "must be upper case", NULL },
	{ "country mixed", BOTH, "country", "Ph", 0, NULL, 0,
	    "must be upper case", NULL },
	{ "country alpha3", BOTH, "country", "PHL", 0, NULL, 0,
	    "not an ISO 3166-1 alpha-2", NULL },
	{ "country one", BOTH, "country", "P", 0, NULL, 0,
	    "not an ISO 3166-1 alpha-2", NULL },
	{ "country digit", BOTH, "country", "P1", 0, NULL, 0,
	    "not an ISO 3166-1 alpha-2", NULL },
	{ "country unknown", BOTH, "country", "ZZ", 0, NULL, 0,
	    "known to ICU", NULL },
	{ "country unknown XX", BOTH, "country", "XX", 0, NULL, 0,
	    "known to ICU", NULL },
	{ "country name", BOTH, "country", "Philippines", 0, NULL, 0,
	    "not an ISO 3166-1 alpha-2", NULL },
	{ "country json number", JSON, "country", "x", 0, "63", 0,
	    "expected a string", NULL },

	/* free text: name, region, city, consent_source */
	{ "name plain", BOTH, "name", "Maria Dela Cruz", 0, NULL, 0, NULL,
	    NULL },
	{ "name utf8", BOTH, "name",
	    "\xe1\x8a\xa0\xe1\x89\xa0\xe1\x89\xa0 \xd8\xb9\xd9\x84\xd9\x8a", 0,
	    NULL, 0, NULL, NULL },
	{ "name semicolon", BOTH, "name", "Cruz; Maria", 0, NULL, 0, NULL,
	    NULL },
	{ "name 200 chars", BOTH, "name", E200, 0, NULL, 0, NULL, NULL },
	{ "name 201 chars", BOTH, "name", E200 "x", 0, NULL, 0,
	    "longer than 200 characters", NULL },
	{ "name tab", BOTH, "name", "Maria\tCruz", 0, NULL, 0,
	    "control character", NULL },
	{ "name newline", BOTH, "name", "Maria\nCruz", 0, NULL, 0,
	    "control character", NULL },
	{ "name del", BOTH, "name", "Maria\x7f" "Cruz", 0, NULL, 0,
	    "control character", NULL },
	{ "name c1", BOTH, "name", "Maria\xc2\x9b" "Cruz", 0, NULL, 0,
	    "control character", NULL },
	{ "name esc", BOTH, "name", "Maria\x1b[31mCruz", 0, NULL, 0,
	    "control character", NULL },
	{ "name nul", CSV, "name", "Maria\0Cruz", 10, NULL, 0,
	    "control character", NULL },
	{ "name bad utf8", CSV, "name", "Mar\xc3" "ia", 0, NULL, 0, "UTF-8",
	    NULL },
	{ "name overlong", CSV, "name", "Mar\xc0\xafia", 0, NULL, 0, "UTF-8",
	    NULL },
	{ "name surrogate", CSV, "name", "Mar\xed\xa0\x80ia", 0, NULL, 0,
	    "UTF-8", NULL },
	{ "name json empty", JSON, "name", "", 0, "\"\"", 0, "empty", NULL },
	{ "name json bool", JSON, "name", "x", 0, "true", 0,
	    "expected a string", NULL },
	{ "region plain", BOTH, "region", "Hessen", 0, NULL, 0, NULL, NULL },
	{ "region 201", BOTH, "region", E200 "y", 0, NULL, 0,
	    "longer than 200", NULL },
	{ "region control", BOTH, "region", "Hes\x01sen", 0, NULL, 0,
	    "control character", NULL },
	{ "city plain", BOTH, "city", "Frankfurt am Main", 0, NULL, 0, NULL,
	    NULL },
	{ "city utf8", BOTH, "city", "D\xc3\xbcsseldorf", 0, NULL, 0, NULL,
	    NULL },
	{ "city 201", BOTH, "city", E200 "z", 0, NULL, 0, "longer than 200",
	    NULL },
	{ "city newline", BOTH, "city", "Frank\nfurt", 0, NULL, 0,
	    "control character", NULL },
	{ "consent_source plain", BOTH, "consent_source",
	    "web form 2026-04, double opt-in", 0, NULL, 0, NULL, NULL },
	{ "consent_source 201", BOTH, "consent_source", E200 "w", 0, NULL, 0,
	    "longer than 200", NULL },
	{ "consent_source control", BOTH, "consent_source", "paper\rform", 0,
	    NULL, 0, "control character", NULL },

	/* tags */
	{ "tags one", BOTH, "tags", "nurses", 0, NULL, 0, NULL, NULL },
	{ "tags sorted", BOTH, "tags", "seafarers;nurses;caregivers-2", 0,
	    NULL, 0, NULL, "caregivers-2;nurses;seafarers" },
	{ "tags digits", BOTH, "tags", "2026;9a", 0, NULL, 0, NULL, NULL },
	{ "tags 63", BOTH, "tags", S63, 0, NULL, 0, NULL, NULL },
	{ "tags 64", BOTH, "tags", S64, 0, NULL, 0, "item 1: not a tag",
	    NULL },
	{ "tags upper", BOTH, "tags", "nurses;Seafarers", 0, NULL, 0,
	    "item 2: not a tag", NULL },
	{ "tags leading hyphen", BOTH, "tags", "-nurses", 0, NULL, 0,
	    "not a tag", NULL },
	{ "tags underscore", BOTH, "tags", "care_givers", 0, NULL, 0,
	    "not a tag", NULL },
	{ "tags space", BOTH, "tags", "care givers", 0, NULL, 0, "not a tag",
	    NULL },
	{ "tags dot", BOTH, "tags", "care.givers", 0, NULL, 0, "not a tag",
	    NULL },
	{ "tags utf8", BOTH, "tags", "p\xc3\xa9" "re", 0, NULL, 0, "not a tag",
	    NULL },
	{ "tags dup", BOTH, "tags", "nurses;seafarers;nurses", 0, NULL, 0,
	    "item 3: duplicate", NULL },
	{ "tags dup prefix", BOTH, "tags", "nurse;nurses;nurse", 0, NULL, 0,
	    "item 3: duplicate", NULL },
	{ "tags prefix kept", BOTH, "tags", "nurses;nurse", 0, NULL, 0, NULL,
	    "nurse;nurses" },
	{ "tags csv empty item", CSV, "tags", "a;;b", 0, NULL, 0,
	    "item 2: empty", NULL },
	{ "tags json semicolon", JSON, "tags", "x", 0, "[\"a;b\"]", 0,
	    "item 1: contains ';'", NULL },
	{ "tags json not array", JSON, "tags", "x", 0, "\"a\"", 0,
	    "expected an array", NULL },
	{ "tags json empty", JSON, "tags", "x", 0, "[]", 0, NULL, "" },

	/* subscriptions */
	{ "subs kind", BOTH, "subscriptions", "embassy.", 0, NULL, 0, NULL,
	    NULL },
	{ "subs post", BOTH, "subscriptions", "embassy.ph.berlin.", 0, NULL,
	    0, NULL, NULL },
	{ "subs whole topic", BOTH, "subscriptions",
	    "consulate.ph.frankfurt.consular-day", 0, NULL, 0, NULL, NULL },
	{ "subs sorted", BOTH, "subscriptions",
	    "embassy.ph.;consulate.ph.frankfurt.;consulate.", 0, NULL, 0, NULL,
	    "consulate.;consulate.ph.frankfurt.;embassy.ph." },
	{ "subs no dot", BOTH, "subscriptions", "consulate", 0, NULL, 0,
	    "item 1: not a topic", NULL },
	{ "subs bad kind", BOTH, "subscriptions", "mission.ph.", 0, NULL, 0,
	    "not a topic", NULL },
	{ "subs upper cc", BOTH, "subscriptions", "embassy.PH.", 0, NULL, 0,
	    "not a topic", NULL },
	{ "subs five parts", BOTH, "subscriptions", "embassy.ph.b.c.d", 0,
	    NULL, 0, "not a topic", NULL },
	{ "subs whole trailing dot", BOTH, "subscriptions",
	    "embassy.ph.berlin.town-hall.", 0, NULL, 0, "not a topic", NULL },
	{ "subs double dot", BOTH, "subscriptions", "embassy..", 0, NULL, 0,
	    "not a topic", NULL },
	{ "subs wildcard", BOTH, "subscriptions", "embassy.*", 0, NULL, 0,
	    "not a topic", NULL },
	{ "subs dup", BOTH, "subscriptions", "embassy.;consulate.;embassy.", 0,
	    NULL, 0, "item 3: duplicate", NULL },
	{ "subs json semicolon", JSON, "subscriptions", "x", 0,
	    "[\"embassy.;consulate.\"]", 0, "item 1: contains ';'", NULL },

	/* times */
	{ "consent_at offset", BOTH, "consent_at",
	    "2026-05-01T10:00:00+02:00", 0, NULL, 0, NULL, "1777622400000" },
	{ "consent_at millis", BOTH, "consent_at",
	    "2020-02-29T23:59:59.123Z", 0, NULL, 0, NULL, "1583020799123" },
	{ "consent_at epoch", BOTH, "consent_at", "1970-01-01T00:00:00Z", 0,
	    NULL, 0, NULL, "0" },
	{ "consent_at before 1970", BOTH, "consent_at",
	    "1969-12-31T23:59:59Z", 0, NULL, 0, "before 1970", NULL },
	{ "consent_at date only", BOTH, "consent_at", "2025-11-30", 0, NULL, 0,
	    "not an RFC 3339", NULL },
	{ "consent_at space", BOTH, "consent_at", "2026-05-01 10:00:00Z", 0,
	    NULL, 0, "not an RFC 3339", NULL },
	{ "consent_at no offset", BOTH, "consent_at", "2025-11-30T10:00:00", 0,
	    NULL, 0, "not an RFC 3339", NULL },
	{ "consent_at feb 30", BOTH, "consent_at", "2026-02-30T10:00:00Z", 0,
	    NULL, 0, "not an RFC 3339", NULL },
	{ "consent_at long", BOTH, "consent_at",
	    "2026-05-01T10:00:00." S60 "Z", 0, NULL, 0, "not an RFC 3339",
	    NULL },
	{ "consent_at nul", CSV, "consent_at", "2026-05-01T10:00:00Z\0x", 22,
	    NULL, 0, "control character", NULL },
	{ "consent_at json number", JSON, "consent_at", "x", 0,
	    "1777622400000", 0, "expected a string", NULL },
	{ "created_at ok", BOTH, "created_at", "2026-01-02T03:04:05Z", 0, NULL,
	    0, NULL, "1767323045000" },
	{ "created_at bad", BOTH, "created_at", "yesterday", 0, NULL, 0,
	    "not an RFC 3339", NULL },
	{ "updated_at ok", BOTH, "updated_at", "2026-01-02T03:04:05.5+00:00",
	    0, NULL, 0, NULL, "1767323045500" },
	{ "updated_at bad", BOTH, "updated_at", "2026-13-01T00:00:00Z", 0,
	    NULL, 0, "not an RFC 3339", NULL },

	/* status */
	{ "status active", BOTH, "status", "active", 0, NULL, 0, NULL, NULL },
	{ "status unsubscribed", BOTH, "status", "unsubscribed", 0, NULL, 0,
	    NULL, NULL },
	{ "status bounced", BOTH, "status", "bounced", 0, NULL, 0, NULL,
	    NULL },
	{ "status case", BOTH, "status", "Active", 0, NULL, 0,
	    "not one of active, unsubscribed, bounced", NULL },
	{ "status other", BOTH, "status", "deleted", 0, NULL, 0,
	    "not one of", NULL },
	{ "status space", BOTH, "status", "active ", 0, NULL, 0, "not one of",
	    NULL },
	{ "status json number", JSON, "status", "x", 0, "0", 0,
	    "expected a string", NULL },

	/* test */
	{ "test true", CSV, "test", "true", 0, NULL, 0, NULL, "1" },
	{ "test TRUE", CSV, "test", "TRUE", 0, NULL, 0, NULL, "1" },
	{ "test yes", CSV, "test", "Yes", 0, NULL, 0, NULL, "1" },
	{ "test 1", CSV, "test", "1", 0, NULL, 0, NULL, "1" },
	{ "test false", CSV, "test", "false", 0, NULL, 0, NULL, "0" },
	{ "test FALSE", CSV, "test", "FALSE", 0, NULL, 0, NULL, "0" },
	{ "test no", CSV, "test", "no", 0, NULL, 0, NULL, "0" },
	{ "test 0", CSV, "test", "0", 0, NULL, 0, NULL, "0" },
	{ "test 2", CSV, "test", "2", 0, NULL, 0, "not a boolean", NULL },
	{ "test maybe", CSV, "test", "maybe", 0, NULL, 0, "not a boolean",
	    NULL },
	{ "test y", CSV, "test", "y", 0, NULL, 0, "not a boolean", NULL },
	{ "test space", CSV, "test", " true", 0, NULL, 0, "not a boolean",
	    NULL },
	{ "test nul", CSV, "test", "1\0", 2, NULL, 0, "not a boolean", NULL },
	{ "test json true", JSON, "test", "x", 0, "true", 0, NULL, "1" },
	{ "test json false", JSON, "test", "x", 0, "false", 0, NULL, "0" },
	{ "test json string", JSON, "test", "x", 0, "\"true\"", 0,
	    "expected true or false", NULL },
	{ "test json number", JSON, "test", "x", 0, "1", 0,
	    "expected true or false", NULL },
};
#define NFROWS	(sizeof(frows) / sizeof(frows[0]))

static const struct contact_rules no_utf8 = { 0 };
static const struct contact_rules with_utf8 = { 1 };

static const char *
join(char *const *v, size_t n, char *buf, size_t sz)
{
	size_t	i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, len < sz ? sz - len : 0,
		    "%s%s", i ? ";" : "", v[i]);
	assert_true(len < sz);
	return buf;
}

/* The stored value of field as text: strings as stored, lists joined by
 * ';', times in ms, test as 0/1; NULL when absent. */
static const char *
stored(const struct contact *c, const char *field, char *buf, size_t sz)
{
	if (strcmp(field, "id") == 0)
		return c->id;
	if (strcmp(field, "name") == 0)
		return c->name;
	if (strcmp(field, "email") == 0)
		return c->email;
	if (strcmp(field, "webhook_url") == 0)
		return c->webhook_url;
	if (strcmp(field, "region") == 0)
		return c->region;
	if (strcmp(field, "city") == 0)
		return c->city;
	if (strcmp(field, "consent_source") == 0)
		return c->consent_source;
	if (strcmp(field, "country") == 0)
		return c->country[0] ? c->country : NULL;
	if (strcmp(field, "languages") == 0)
		return join(c->languages, c->nlanguages, buf, sz);
	if (strcmp(field, "tags") == 0)
		return join(c->tags, c->ntags, buf, sz);
	if (strcmp(field, "subscriptions") == 0)
		return join(c->subscriptions, c->nsubscriptions, buf, sz);
	if (strcmp(field, "status") == 0)
		return contact_status_name(c->status);
	if (strcmp(field, "test") == 0)
		return c->test ? "1" : "0";
	if (strcmp(field, "consent_at") == 0)
		(void)snprintf(buf, sz, "%lld", (long long)c->consent_at_ms);
	else if (strcmp(field, "created_at") == 0)
		(void)snprintf(buf, sz, "%lld", (long long)c->created_at_ms);
	else if (strcmp(field, "updated_at") == 0)
		(void)snprintf(buf, sz, "%lld", (long long)c->updated_at_ms);
	else
		fail_msg("no such field %s", field);
	return buf;
}

/* The privacy property: no part of the value in the reason or field. */
static void
assert_private(const struct frow *r, const char *v, size_t n,
    const struct contact_error *err)
{
	const char	*at;
	char		 part[512];
	size_t		 i;

	for (i = 0; err->reason[i] != '\0'; i++)
		assert_true(err->reason[i] >= 0x20 && err->reason[i] < 0x7f);
	for (i = 0; err->field[i] != '\0'; i++)
		assert_true(err->field[i] >= 0x20 && err->field[i] < 0x7f);
	/* shorter values would match ordinary words ("ph" in "alpha") */
	if (n >= 4 && memchr(v, '\0', n) == NULL) {
		if (strstr(err->reason, v) != NULL)
			print_error("%s: reason \"%s\" holds the value\n",
			    r->name, err->reason);
		assert_null(strstr(err->reason, v));
	}
	if ((at = memchr(v, '@', n)) != NULL) {
		if ((size_t)(at - v) >= 4 && (size_t)(at - v) < sizeof(part)) {
			memcpy(part, v, (size_t)(at - v));
			part[at - v] = '\0';
			assert_null(strstr(err->reason, part));
		}
		if (strlen(at + 1) >= 4)
			assert_null(strstr(err->reason, at + 1));
	}
}

static void
check_result(const struct frow *r, const char *src, int rc,
    const struct contact *c, const struct contact_error *err, const char *v,
    size_t n)
{
	char		 buf[8192];
	const char	*got, *want;

	if (r->reason == NULL) {
		if (rc != 0)
			print_error("%s (%s): refused: %s: %s\n", r->name, src,
			    err->field, err->reason);
		assert_int_equal(rc, 0);
		got = stored(c, r->field, buf, sizeof(buf));
		want = r->norm != NULL ? r->norm : v;
		if (got == NULL || strcmp(got, want) != 0)
			print_error("%s (%s): stored \"%s\", want \"%s\"\n",
			    r->name, src, got ? got : "(null)", want);
		assert_non_null(got);
		assert_string_equal(got, want);
		return;
	}
	if (rc != -1)
		print_error("%s (%s): accepted\n", r->name, src);
	assert_int_equal(rc, -1);
	if (strcmp(err->field, r->field) != 0 ||
	    strstr(err->reason, r->reason) == NULL)
		print_error("%s (%s): got %s: %s\n", r->name, src, err->field,
		    err->reason);
	assert_string_equal(err->field, r->field);
	assert_non_null(strstr(err->reason, r->reason));
	assert_private(r, v, n, err);
}

/* CSV: the cell alone into an empty contact. */
static void
run_csv(const struct frow *r)
{
	struct contact		 c;
	struct contact_error	 err;
	size_t			 n;
	int			 rc;

	n = r->csvlen ? r->csvlen : strlen(r->csv);
	contact_init(&c);
	memset(&err, 0, sizeof(err));
	rc = contact_set_field(&c, r->utf8 ? &with_utf8 : &no_utf8, r->field,
	    r->csv, n, &err);
	check_result(r, "csv", rc, &c, &err, r->csv, n);
	if (rc == 0)
		assert_true(c.present != 0);
	else	/* a refused cell leaves the contact as it was */
		assert_int_equal(c.present, 0);
	contact_clear(&c);
}

static int
is_list(const char *field)
{
	return strcmp(field, "languages") == 0 || strcmp(field, "tags") == 0 ||
	    strcmp(field, "subscriptions") == 0;
}

/* JSON: the value in an otherwise complete object. */
static void
run_json(const struct frow *r)
{
	struct contact		 c;
	struct contact_error	 err;
	json_t			*obj, *v;
	json_error_t		 jerr;
	const char		*p, *semi;
	size_t			 n;
	int			 rc;

	obj = json_object();
	assert_non_null(obj);
	if (strcmp(r->field, "id") != 0)
		json_object_set_new(obj, "id", json_string("c-1"));
	if (strcmp(r->field, "webhook_url") != 0)
		json_object_set_new(obj, "webhook_url",
		    json_string("https://hooks.example.org/base"));
	else
		json_object_set_new(obj, "email",
		    json_string("base@example.org"));
	if (r->json != NULL) {
		v = json_loads(r->json, JSON_DECODE_ANY | JSON_ALLOW_NUL,
		    &jerr);
		if (v == NULL)
			fail_msg("%s: bad test JSON: %s", r->name, jerr.text);
	} else if (is_list(r->field)) {
		v = json_array();
		for (p = r->csv;; p = semi + 1) {
			semi = strchr(p, ';');
			n = semi ? (size_t)(semi - p) : strlen(p);
			while (n > 0 && *p == ' ') {
				p++;
				n--;
			}
			while (n > 0 && p[n - 1] == ' ')
				n--;
			json_array_append_new(v, json_stringn(p, n));
			if (semi == NULL)
				break;
		}
	} else {
		v = json_stringn(r->csv, strlen(r->csv));
		assert_non_null(v);
	}
	json_object_set_new(obj, r->field, v);
	memset(&err, 0, sizeof(err));
	rc = contact_from_json(obj, r->utf8 ? &with_utf8 : &no_utf8, &c,
	    &err);
	check_result(r, "json", rc, &c, &err, r->csv, strlen(r->csv));
	if (rc == -1) {
		/* a refused object leaves an empty contact */
		assert_null(c.id);
		assert_int_equal(c.present, 0);
	}
	contact_clear(&c);
	json_decref(obj);
}

static void
test_frow(void **state)
{
	const struct frow	*r = *state;

	if (r->src & CSV)
		run_csv(r);
	if (r->src & JSON)
		run_json(r);
}

/* Whole JSON documents: shape, unknown keys, null, completeness, order. */
struct jrow {
	const char	*name;
	const char	*json;
	const char	*field;		/* NULL: accepted */
	const char	*reason;
	const char	*secret;	/* not in field or reason */
};

#define BASE	"\"id\":\"c-1\",\"email\":\"maria@example.org\""

static const struct jrow jrows[] = {
	{ "minimal email", "{" BASE "}", NULL, NULL, NULL },
	{ "minimal webhook", "{\"id\":\"c-1\",\"webhook_url\":"
	    "\"https://h.example.org/x\"}", NULL, NULL, NULL },
	{ "both channels", "{" BASE ",\"webhook_url\":"
	    "\"https://h.example.org/x\"}", NULL, NULL, NULL },
	{ "array", "[" "{" BASE "}" "]", "", "expected a JSON object", NULL },
	{ "string", "\"maria@example.org\"", "", "expected a JSON object",
	    "maria" },
	{ "null doc", "null", "", "expected a JSON object", NULL },
	{ "unknown key", "{" BASE ",\"emial\":\"x\"}", "emial",
	    "unknown field", NULL },
	{ "unknown key first", "{\"nmae\":\"x\",\"id\":\"bad id\"}", "nmae",
	    "unknown field", NULL },
	{ "unknown key address", "{" BASE ",\"maria.cruz@example.org\":1}",
	    "?", "unknown field", "maria.cruz" },
	{ "unknown key name", "{" BASE ",\"Maria Cruz\":1}", "?",
	    "unknown field", "Maria" },
	{ "unknown key upper", "{" BASE ",\"Email\":\"x\"}", "?",
	    "unknown field", NULL },
	{ "unknown key long", "{" BASE ",\"" S60 "\":1}", "?",
	    "unknown field", NULL },
	{ "unknown ext_id", "{" BASE ",\"ext_id\":\"c-2\"}", "ext_id",
	    "unknown field", NULL },
	{ "missing id", "{\"email\":\"maria@example.org\"}", "id", "missing",
	    NULL },
	{ "null id", "{\"id\":null,\"email\":\"maria@example.org\"}", "id",
	    "missing", NULL },
	{ "no channel", "{\"id\":\"c-1\",\"name\":\"Maria Cruz\"}", "email",
	    "needs an email or a webhook_url", "Maria" },
	{ "null channels", "{\"id\":\"c-1\",\"email\":null,"
	    "\"webhook_url\":null}", "email", "needs an email", NULL },
	{ "nulls absent", "{" BASE ",\"name\":null,\"languages\":null,"
	    "\"country\":null,\"test\":null,\"consent_at\":null,"
	    "\"status\":null}", NULL, NULL, NULL },
	{ "empty name", "{" BASE ",\"name\":\"\"}", "name", "empty", NULL },
	{ "order id first", "{\"email\":\"bad\",\"id\":\"bad id\"}", "id",
	    "may contain only", NULL },
	{ "order email before url", "{\"id\":\"c-1\",\"webhook_url\":\"x\","
	    "\"email\":\"bad\"}", "email", "no '@'", NULL },
	{ "order table not document", "{\"test\":1,\"country\":\"ph\","
	    "\"id\":\"c-1\",\"email\":\"maria@example.org\"}", "country",
	    "upper case", NULL },
	{ "full", "{\"id\":\"ph-de-0001\",\"name\":\"Maria Dela Cruz\","
	    "\"email\":\"Maria@Example.ORG\",\"webhook_url\":"
	    "\"https://h.example.org/x\",\"languages\":[\"tl\",\"EN-us\"],"
	    "\"country\":\"DE\",\"region\":\"Hessen\",\"city\":\"Frankfurt\","
	    "\"tags\":[\"nurses\",\"caregivers\"],\"subscriptions\":"
	    "[\"embassy.ph.berlin.\",\"consulate.ph.frankfurt.\"],"
	    "\"consent_at\":\"2026-05-01T10:00:00+02:00\",\"consent_source\":"
	    "\"form\",\"status\":\"unsubscribed\",\"test\":true,"
	    "\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":"
	    "\"2026-01-02T00:00:00.250Z\"}", NULL, NULL, NULL },
};
#define NJROWS	(sizeof(jrows) / sizeof(jrows[0]))

static void
test_jrow(void **state)
{
	const struct jrow	*r = *state;
	struct contact		 c;
	struct contact_error	 err;
	json_t			*doc;
	json_error_t		 jerr;
	int			 rc;

	doc = json_loads(r->json, JSON_DECODE_ANY, &jerr);
	if (doc == NULL)
		fail_msg("%s: bad test JSON: %s", r->name, jerr.text);
	memset(&err, 0, sizeof(err));
	rc = contact_from_json(doc, NULL, &c, &err);
	if (r->field == NULL) {
		if (rc != 0)
			print_error("%s: %s: %s\n", r->name, err.field,
			    err.reason);
		assert_int_equal(rc, 0);
	} else {
		if (rc == 0 || strcmp(err.field, r->field) != 0 ||
		    strstr(err.reason, r->reason) == NULL)
			print_error("%s: rc %d %s: %s\n", r->name, rc,
			    err.field, err.reason);
		assert_int_equal(rc, -1);
		assert_string_equal(err.field, r->field);
		assert_non_null(strstr(err.reason, r->reason));
		if (r->secret != NULL) {
			assert_null(strstr(err.reason, r->secret));
			assert_null(strstr(err.field, r->secret));
		}
		assert_null(c.id);
	}
	contact_clear(&c);
	json_decref(doc);
}

/* The full document: every field filled and normalised. */
static void
load(const char *json, struct contact *c)
{
	struct contact_error	 err;
	json_t			*doc;

	doc = json_loads(json, 0, NULL);
	assert_non_null(doc);
	if (contact_from_json(doc, NULL, c, &err) != 0)
		fail_msg("%s: %s", err.field, err.reason);
	json_decref(doc);
}

static void
test_full(void **state)
{
	struct contact	c;

	(void)state;
	load(jrows[NJROWS - 1].json, &c);
	assert_string_equal(c.id, "ph-de-0001");
	assert_string_equal(c.name, "Maria Dela Cruz");
	assert_string_equal(c.email, "Maria@example.org");
	assert_string_equal(c.webhook_url, "https://h.example.org/x");
	assert_int_equal(c.nlanguages, 2);
	assert_string_equal(c.languages[0], "tl");
	assert_string_equal(c.languages[1], "en-US");
	assert_string_equal(c.country, "DE");
	assert_string_equal(c.region, "Hessen");
	assert_string_equal(c.city, "Frankfurt");
	assert_int_equal(c.ntags, 2);
	assert_string_equal(c.tags[0], "caregivers");
	assert_string_equal(c.tags[1], "nurses");
	assert_int_equal(c.nsubscriptions, 2);
	assert_string_equal(c.subscriptions[0], "consulate.ph.frankfurt.");
	assert_string_equal(c.subscriptions[1], "embassy.ph.berlin.");
	assert_int_equal(c.consent_at_ms, 1777622400000LL);
	assert_string_equal(c.consent_source, "form");
	assert_int_equal(c.status, CONTACT_UNSUBSCRIBED);
	assert_int_equal(c.test, 1);
	assert_int_equal(c.created_at_ms, 1767225600000LL);
	assert_int_equal(c.updated_at_ms, 1767312000250LL);
	assert_int_equal(c.present, 0xffff);
	contact_clear(&c);
	/* cleared means empty, and clearing twice or NULL is harmless */
	assert_null(c.id);
	assert_null(c.languages);
	assert_int_equal(c.consent_at_ms, -1);
	assert_int_equal(c.status, CONTACT_ACTIVE);
	contact_clear(&c);
	contact_clear(NULL);
}

static void
test_defaults(void **state)
{
	struct contact	c;

	(void)state;
	load("{" BASE "}", &c);
	assert_int_equal(c.status, CONTACT_ACTIVE);
	assert_int_equal(c.test, 0);
	assert_int_equal(c.consent_at_ms, -1);
	assert_int_equal(c.created_at_ms, -1);
	assert_int_equal(c.nlanguages, 0);
	assert_int_equal(c.ntags, 0);
	assert_int_equal(c.nsubscriptions, 0);
	assert_string_equal(c.country, "");
	assert_null(c.name);
	assert_null(c.webhook_url);
	assert_int_equal(c.present, CONTACT_F_ID | CONTACT_F_EMAIL);
	contact_clear(&c);
}

/* A CSV row, cell by cell, as the importer does it. */
static void
test_csv_row(void **state)
{
	static const char *const	cols[] = { "id", "name", "email",
	    "webhook_url", "languages", "country", "region", "city", "tags",
	    "subscriptions", "consent_at", "consent_source", "status", "test",
	    "created_at", "updated_at" };
	static const char *const	cells[] = { "ph-de-0001",
	    "Maria Dela Cruz", "Maria@Example.ORG", "https://h.example.org/x",
	    "tl; EN-us", "DE", "Hessen", "Frankfurt", "nurses;caregivers",
	    "embassy.ph.berlin.;consulate.ph.frankfurt.",
	    "2026-05-01T10:00:00+02:00", "form", "unsubscribed", "yes",
	    "2026-01-01T00:00:00Z", "2026-01-02T00:00:00.250Z" };
	struct contact			c, j;
	struct contact_error		err;
	size_t				i;

	(void)state;
	contact_init(&c);
	for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		if (contact_set_field(&c, NULL, cols[i], cells[i],
		    strlen(cells[i]), &err) != 0)
			fail_msg("%s: %s: %s", cols[i], err.field, err.reason);
	assert_int_equal(contact_check_complete(&c, &err), 0);
	/* the same contact as the JSON document */
	load(jrows[NJROWS - 1].json, &j);
	assert_true(contact_equal(&c, &j));
	assert_int_equal(c.present, j.present);
	assert_int_equal(c.created_at_ms, j.created_at_ms);
	assert_int_equal(c.updated_at_ms, j.updated_at_ms);
	contact_clear(&c);
	contact_clear(&j);
}

static void
test_csv_rules(void **state)
{
	struct contact		c;
	struct contact_error	err;

	(void)state;
	contact_init(&c);
	/* empty cells are absent, for every column */
	assert_int_equal(contact_set_field(&c, NULL, "id", "", 0, &err), 0);
	assert_int_equal(contact_set_field(&c, NULL, "languages", "", 0,
	    &err), 0);
	assert_int_equal(contact_set_field(&c, NULL, "test", "", 0, &err), 0);
	assert_int_equal(contact_set_field(&c, NULL, "name", NULL, 0, &err),
	    0);
	assert_int_equal(c.present, 0);
	/* unknown columns, whatever the cell */
	assert_int_equal(contact_set_field(&c, NULL, "emial", "x", 1, &err),
	    -1);
	assert_string_equal(err.field, "emial");
	assert_non_null(strstr(err.reason, "unknown field"));
	assert_int_equal(contact_set_field(&c, NULL, "maria@example.org", "",
	    0, &err), -1);
	assert_string_equal(err.field, "?");
	assert_null(strstr(err.reason, "maria"));
	assert_int_equal(contact_set_field(&c, NULL, NULL, "x", 1, &err), -1);
	assert_string_equal(err.field, "?");
	assert_int_equal(contact_set_field(&c, NULL, "", "x", 1, &err), -1);
	assert_string_equal(err.field, "?");
	/* incomplete */
	assert_int_equal(contact_check_complete(&c, &err), -1);
	assert_string_equal(err.field, "id");
	assert_int_equal(contact_set_field(&c, NULL, "id", "c-1", 3, &err), 0);
	assert_int_equal(contact_check_complete(&c, &err), -1);
	assert_string_equal(err.field, "email");
	assert_string_equal(err.reason, "needs an email or a webhook_url");
	/* given twice: refused, first value kept */
	assert_int_equal(contact_set_field(&c, NULL, "id", "c-2", 3, &err),
	    -1);
	assert_string_equal(err.field, "id");
	assert_string_equal(err.reason, "given twice");
	assert_string_equal(c.id, "c-1");
	assert_int_equal(contact_set_field(&c, NULL, "tags", "a;b", 3, &err),
	    0);
	assert_int_equal(contact_set_field(&c, NULL, "tags", "c", 1, &err),
	    -1);
	assert_int_equal(c.ntags, 2);
	/* a refused cell changes nothing */
	assert_int_equal(contact_set_field(&c, NULL, "languages", "en;e", 4,
	    &err), -1);
	assert_int_equal(c.nlanguages, 0);
	assert_null(c.languages);
	assert_int_equal(contact_set_field(&c, NULL, "webhook_url",
	    "https://h.example.org/x", 23, &err), 0);
	assert_int_equal(contact_check_complete(&c, &err), 0);
	/* a cell is len bytes, not a C string */
	assert_int_equal(contact_set_field(&c, NULL, "city", "Berlin,Mitte",
	    6, &err), 0);
	assert_string_equal(c.city, "Berlin");
	/* the utf8 rule is off by default (NULL rules) */
	assert_int_equal(contact_set_field(&c, NULL, "email",
	    "jos\xc3\xa9@example.org", 17, &err), -1);
	assert_int_equal(contact_set_field(&c, &with_utf8, "email",
	    "jos\xc3\xa9@example.org", 17, &err), 0);
	contact_clear(&c);
}

/* Lists at their limits, built at run time. */
static void
test_list_limits(void **state)
{
	struct contact		c;
	struct contact_error	err;
	char			buf[16384];
	size_t			len, i;

	(void)state;
	for (len = 0, i = 0; i < 64; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%st%zu",
		    i ? ";" : "", i);
	contact_init(&c);
	assert_int_equal(contact_set_field(&c, NULL, "tags", buf, len, &err),
	    0);
	assert_int_equal(c.ntags, 64);
	for (i = 1; i < c.ntags; i++)
		assert_true(strcmp(c.tags[i - 1], c.tags[i]) < 0);
	contact_clear(&c);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, ";t64");
	assert_int_equal(contact_set_field(&c, NULL, "tags", buf, len, &err),
	    -1);
	assert_string_equal(err.reason, "more than 64 tags");
	contact_clear(&c);

	for (len = 0, i = 0; i < 256; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
		    "%sembassy.ph.p%zu.", i ? ";" : "", 255 - i);
	assert_int_equal(contact_set_field(&c, NULL, "subscriptions", buf,
	    len, &err), 0);
	assert_int_equal(c.nsubscriptions, 256);
	for (i = 1; i < c.nsubscriptions; i++)
		assert_true(strcmp(c.subscriptions[i - 1],
		    c.subscriptions[i]) < 0);
	contact_clear(&c);
	len += (size_t)snprintf(buf + len, sizeof(buf) - len, ";embassy.");
	assert_int_equal(contact_set_field(&c, NULL, "subscriptions", buf,
	    len, &err), -1);
	assert_string_equal(err.reason, "more than 256 subscriptions");
	contact_clear(&c);
}

static void
test_to_json(void **state)
{
	struct contact		 c, back;
	struct contact_error	 err;
	json_t			*o, *p;
	char			*s;

	(void)state;
	load(jrows[NJROWS - 1].json, &c);
	o = contact_to_json(&c, 1);
	assert_non_null(o);
	s = json_dumps(o, JSON_COMPACT);
	assert_string_equal(s, "{\"id\":\"ph-de-0001\",\"name\":"
	    "\"Maria Dela Cruz\",\"email\":\"Maria@example.org\","
	    "\"webhook_url\":\"https://h.example.org/x\",\"languages\":"
	    "[\"tl\",\"en-US\"],\"country\":\"DE\",\"region\":\"Hessen\","
	    "\"city\":\"Frankfurt\",\"tags\":[\"caregivers\",\"nurses\"],"
	    "\"subscriptions\":[\"consulate.ph.frankfurt.\","
	    "\"embassy.ph.berlin.\"],\"consent_at\":\"2026-05-01T08:00:00Z\","
	    "\"consent_source\":\"form\",\"status\":\"unsubscribed\","
	    "\"test\":true,\"created_at\":\"2026-01-01T00:00:00Z\","
	    "\"updated_at\":\"2026-01-02T00:00:00.250Z\"}");
	free(s);
	/* the shape reads back as the same contact */
	assert_int_equal(contact_from_json(o, NULL, &back, &err), 0);
	assert_true(contact_equal(&c, &back));
	assert_int_equal(back.created_at_ms, c.created_at_ms);
	assert_int_equal(back.updated_at_ms, c.updated_at_ms);
	contact_clear(&back);
	json_decref(o);
	/* default output: no name, address or URL anywhere */
	p = contact_to_json(&c, 0);
	assert_non_null(p);
	assert_null(json_object_get(p, "name"));
	assert_null(json_object_get(p, "email"));
	assert_null(json_object_get(p, "webhook_url"));
	s = json_dumps(p, JSON_COMPACT);
	assert_null(strstr(s, "Maria"));
	assert_null(strstr(s, "example.org"));
	assert_non_null(strstr(s, "\"id\":\"ph-de-0001\""));
	free(s);
	json_decref(p);
	contact_clear(&c);
	/* a minimal contact: lists, status and test always there */
	load("{" BASE "}", &c);
	o = contact_to_json(&c, 0);
	s = json_dumps(o, JSON_COMPACT);
	assert_string_equal(s, "{\"id\":\"c-1\",\"languages\":[],\"tags\":[],"
	    "\"subscriptions\":[],\"status\":\"active\",\"test\":false}");
	free(s);
	json_decref(o);
	contact_clear(&c);
}

/* contact_equal: one row per field that may differ. */
static const char *const eq_diff[] = {
	"\"id\":\"c-2\"",
	"\"name\":\"Maria\"",
	"\"webhook_url\":\"https://h.example.org/x\"",
	"\"languages\":[\"en\"]",
	"\"country\":\"PH\"",
	"\"region\":\"Hessen\"",
	"\"city\":\"Berlin\"",
	"\"tags\":[\"a\"]",
	"\"subscriptions\":[\"embassy.\"]",
	"\"consent_at\":\"2026-05-01T10:00:00Z\"",
	"\"consent_source\":\"form\"",
	"\"status\":\"bounced\"",
	"\"test\":true",
};

static void
test_equal(void **state)
{
	struct contact	a, b;
	char		json[256];
	size_t		i;

	(void)state;
	load("{\"id\":\"c-1\",\"email\":\"m@example.org\"}", &a);
	load("{\"id\":\"c-1\",\"email\":\"m@EXAMPLE.org\"}", &b);
	assert_true(contact_equal(&a, &b));	/* domain case */
	assert_true(contact_equal(&a, &a));
	contact_clear(&b);
	load("{\"id\":\"c-1\",\"email\":\"M@example.org\"}", &b);
	assert_false(contact_equal(&a, &b));	/* local part case counts */
	contact_clear(&b);
	for (i = 0; i < sizeof(eq_diff) / sizeof(eq_diff[0]); i++) {
		(void)snprintf(json, sizeof(json), "{\"id\":\"c-1\",\"email\":"
		    "\"m@example.org\",%s}", eq_diff[i]);
		if (strncmp(eq_diff[i], "\"id\"", 4) == 0)
			(void)snprintf(json, sizeof(json), "{%s,\"email\":"
			    "\"m@example.org\"}", eq_diff[i]);
		load(json, &b);
		if (contact_equal(&a, &b))
			fail_msg("equal despite %s", eq_diff[i]);
		assert_false(contact_equal(&b, &a));
		contact_clear(&b);
	}
	contact_clear(&a);
	/* sets ignore order; languages do not; empty list == absent;
	 * default values == explicit defaults; journal times ignored */
	load("{\"id\":\"c-1\",\"email\":\"m@example.org\",\"tags\":[\"b\","
	    "\"a\"],\"subscriptions\":[\"embassy.\",\"consulate.\"],"
	    "\"languages\":[\"en\",\"fr\"]}", &a);
	load("{\"id\":\"c-1\",\"email\":\"m@example.org\",\"tags\":[\"a\","
	    "\"b\"],\"subscriptions\":[\"consulate.\",\"embassy.\"],"
	    "\"languages\":[\"EN\",\"fr\"],\"status\":\"active\","
	    "\"test\":false,\"created_at\":\"2026-01-01T00:00:00Z\"}", &b);
	assert_true(contact_equal(&a, &b));
	contact_clear(&b);
	load("{\"id\":\"c-1\",\"email\":\"m@example.org\",\"tags\":[\"b\","
	    "\"a\"],\"subscriptions\":[\"embassy.\",\"consulate.\"],"
	    "\"languages\":[\"fr\",\"en\"]}", &b);
	assert_false(contact_equal(&a, &b));
	contact_clear(&a);
	contact_clear(&b);
	load("{\"id\":\"c-1\",\"email\":\"m@example.org\",\"tags\":[]}", &a);
	load("{\"id\":\"c-1\",\"email\":\"m@example.org\"}", &b);
	assert_true(contact_equal(&a, &b));
	contact_clear(&a);
	contact_clear(&b);
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_int_equal(contact_status_parse("active"), CONTACT_ACTIVE);
	assert_int_equal(contact_status_parse("unsubscribed"),
	    CONTACT_UNSUBSCRIBED);
	assert_int_equal(contact_status_parse("bounced"), CONTACT_BOUNCED);
	assert_int_equal(contact_status_parse("Active"), -1);
	assert_int_equal(contact_status_parse(NULL), -1);
	assert_string_equal(contact_status_name(CONTACT_BOUNCED), "bounced");
	assert_string_equal(contact_status_name(3), "?");
	assert_string_equal(contact_status_name(-1), "?");
}

/* Tokens. */
static const unsigned char	secret[] =
    "0123456789abcdef0123456789abcdef";
#define SECRET_LEN	32
#define B64URL	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
		"0123456789-_"

static int
verify(const char *token, char *id, char *post)
{
	return contact_token_verify(secret, SECRET_LEN, token, id,
	    CONTACT_ID_MAX + 1, post, CONTACT_POST_MAX + 1);
}

static void
test_token_roundtrip(void **state)
{
	static const char *const	ids[] = { "c-42", "A", S64,
	    "ph:de.0001_x-y", "0" };
	static const char *const	posts[] = { "frankfurt", "b", S64,
	    "consulate.ph.frankfurt" };
	char				tok[CONTACT_TOKEN_SIZE], tok2[
					    CONTACT_TOKEN_SIZE];
	char				id[CONTACT_ID_MAX + 1],
					post[CONTACT_POST_MAX + 1];
	size_t				i, j, k;

	(void)state;
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		for (j = 0; j < sizeof(posts) / sizeof(posts[0]); j++) {
			assert_int_equal(contact_token_make(secret, SECRET_LEN,
			    ids[i], posts[j], tok, sizeof(tok)), 0);
			for (k = 0; tok[k] != '\0'; k++)
				assert_non_null(strchr(B64URL, tok[k]));
			assert_true(k < CONTACT_TOKEN_SIZE);
			assert_int_equal(verify(tok, id, post), 0);
			assert_string_equal(id, ids[i]);
			assert_string_equal(post, posts[j]);
			/* deterministic */
			assert_int_equal(contact_token_make(secret, SECRET_LEN,
			    ids[i], posts[j], tok2, sizeof(tok2)), 0);
			assert_string_equal(tok, tok2);
		}
	/* known answer (Python hmac + base64.urlsafe_b64encode) */
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-42",
	    "frankfurt", tok, sizeof(tok)), 0);
	assert_string_equal(tok,
	    "AQRjLTQyCWZyYW5rZnVydObBGi1TYDL5vQ7IBxf1mZw");
	/* different posts and ids give different tokens */
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-42",
	    "berlin", tok2, sizeof(tok2)), 0);
	assert_string_not_equal(tok, tok2);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-43",
	    "frankfurt", tok2, sizeof(tok2)), 0);
	assert_string_not_equal(tok, tok2);
	/* the longest token fits CONTACT_TOKEN_SIZE */
	assert_int_equal(contact_token_make(secret, SECRET_LEN, S64, S64, tok,
	    sizeof(tok)), 0);
	assert_int_equal(strlen(tok), 196);
}

/* The delivery hash, computed here with HMAC() from its definition in
 * contact.h: base32 of HMAC-SHA256(secret, "outreachd-delivery-v1" NUL
 * event(8, big-endian) contact(8) channel). */
static void
ref_delivery_hash(const unsigned char *key, size_t len, uint64_t e,
    uint64_t c, const char *channel, char *out)
{
	static const char	 label[] = "outreachd-delivery-v1";
	static const char	 b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char		 data[128], mac[32];
	unsigned int		 maclen = 0;
	size_t			 n = sizeof(label), i, o = 0;
	uint32_t		 acc = 0;
	int			 bits = 0;

	memcpy(data, label, sizeof(label));
	for (i = 0; i < 8; i++) {
		data[n + i] = (unsigned char)(e >> (56 - 8 * i));
		data[n + 8 + i] = (unsigned char)(c >> (56 - 8 * i));
	}
	n += 16;
	memcpy(data + n, channel, strlen(channel));
	n += strlen(channel);
	assert_non_null(HMAC(EVP_sha256(), key, (int)len, data, n, mac,
	    &maclen));
	for (i = 0; i < 32; i++) {
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
}

/* The MAC keyed once per thread follows each change of secret (lengths
 * on both sides of the keyed context's 64 bytes, in turn). */
static void
test_mac_keyed_follows_secret(void **state)
{
	static const size_t	 lens[] = { 16, 32, 64, 65, 200, 32, 16, 64 };
	static const char *const chans[] = { "smtp", "webhook" };
	unsigned char		 key[200];
	char			 got[CONTACT_DELIVERY_HASH_SIZE];
	char			 want[CONTACT_DELIVERY_HASH_SIZE];
	size_t			 i, k;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (k = 0; k < 4; k++) {
			memset(key, (int)(i * 31 + 7), sizeof(key));
			key[lens[i] - 1] = (unsigned char)i;
			assert_int_equal(contact_delivery_hash(key, lens[i],
			    (int64_t)(i * 1000003 + k), (int64_t)k << 40,
			    chans[k % 2], got, sizeof(got)), 0);
			ref_delivery_hash(key, lens[i], i * 1000003 + k,
			    (uint64_t)k << 40, chans[k % 2], want);
			assert_string_equal(got, want);
		}
}

static void
test_token_make_refuses(void **state)
{
	char	tok[CONTACT_TOKEN_SIZE];
	char	small[44];

	(void)state;
	assert_int_equal(contact_token_make(secret, 15, "c-1", "p", tok,
	    sizeof(tok)), -1);
	assert_int_equal(contact_token_make(NULL, 32, "c-1", "p", tok,
	    sizeof(tok)), -1);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "", "p", tok,
	    sizeof(tok)), -1);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, S65, "p", tok,
	    sizeof(tok)), -1);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "a@b.org",
	    "p", tok, sizeof(tok)), -1);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-1", "",
	    tok, sizeof(tok)), -1);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-1", S65,
	    tok, sizeof(tok)), -1);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-1", "a/b",
	    tok, sizeof(tok)), -1);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, NULL, "p",
	    tok, sizeof(tok)), -1);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-1", NULL,
	    tok, sizeof(tok)), -1);
	assert_string_equal(tok, "");
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-1", "p",
	    NULL, 10), -1);
	/* "c-42"/"frankfurt" is 43 characters: 43 bytes is one short */
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-42",
	    "frankfurt", small, 43), -1);
	assert_string_equal(small, "");
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-42",
	    "frankfurt", small, 44), 0);
}

static void
test_token_tamper(void **state)
{
	static const char	alpha[] = B64URL "=+/. \n";
	char			tok[CONTACT_TOKEN_SIZE], bad[
				    CONTACT_TOKEN_SIZE + 8];
	char			id[CONTACT_ID_MAX + 1],
				post[CONTACT_POST_MAX + 1];
	size_t			i, j, n, tried = 0;
	int			bit;

	(void)state;
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-42",
	    "frankfurt", tok, sizeof(tok)), 0);
	n = strlen(tok);
	/* every character replaced by every other one */
	for (i = 0; i < n; i++)
		for (j = 0; alpha[j] != '\0'; j++) {
			if (alpha[j] == tok[i])
				continue;
			memcpy(bad, tok, n + 1);
			bad[i] = alpha[j];
			if (verify(bad, id, post) != -1)
				fail_msg("accepted with [%zu] = %c", i,
				    alpha[j]);
			tried++;
		}
	/* every bit of every character flipped */
	for (i = 0; i < n; i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, tok, n + 1);
			bad[i] = (char)(bad[i] ^ (1 << bit));
			if (bad[i] == '\0')
				continue;
			assert_int_equal(verify(bad, id, post), -1);
		}
	/* every truncation, and extensions */
	for (i = 0; i < n; i++) {
		memcpy(bad, tok, i);
		bad[i] = '\0';
		assert_int_equal(verify(bad, id, post), -1);
	}
	for (j = 0; alpha[j] != '\0'; j++) {
		(void)snprintf(bad, sizeof(bad), "%s%c", tok, alpha[j]);
		assert_int_equal(verify(bad, id, post), -1);
	}
	(void)snprintf(bad, sizeof(bad), "%s==", tok);
	assert_int_equal(verify(bad, id, post), -1);
	assert_true(tried > 1000);
	/* still fine, and outputs untouched on failure aside */
	assert_int_equal(verify(tok, id, post), 0);
}

static void
test_token_refuses(void **state)
{
	static const char *const	garbage[] = { "", "A", "AA", "AAAA",
	    "AQ", "====", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	    "AQRjLTQyCWZyYW5rZnVydA", "https://example.org/u?t=x",
	    "AQRjLTQyCWZyYW5rZnVydObBGi1TYDL5vQ7IBxf1mZw=",
	    "AQRjLTQy CWZyYW5rZnVydObBGi1TYDL5vQ7IBxf1mZw",
	    "AQRjLTQyCWZyYW5rZnVydObBGi1TYDL5vQ7IBxf1mZw\n" };
	char				tok[CONTACT_TOKEN_SIZE];
	char				longtok[400];
	char				id[CONTACT_ID_MAX + 1],
					post[CONTACT_POST_MAX + 1];
	unsigned char			other[SECRET_LEN];
	size_t				i;

	(void)state;
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		assert_int_equal(verify(garbage[i], id, post), -1);
	assert_int_equal(verify(NULL, id, post), -1);
	memset(longtok, 'A', sizeof(longtok) - 1);
	longtok[sizeof(longtok) - 1] = '\0';
	assert_int_equal(verify(longtok, id, post), -1);
	assert_int_equal(contact_token_make(secret, SECRET_LEN, "c-42",
	    "frankfurt", tok, sizeof(tok)), 0);
	/* wrong secret: one bit, another length, a short one */
	memcpy(other, secret, SECRET_LEN);
	other[7] ^= 1;
	assert_int_equal(contact_token_verify(other, SECRET_LEN, tok, id,
	    sizeof(id), post, sizeof(post)), -1);
	assert_int_equal(contact_token_verify(secret, SECRET_LEN - 1, tok, id,
	    sizeof(id), post, sizeof(post)), -1);
	assert_int_equal(contact_token_verify(secret, 8, tok, id, sizeof(id),
	    post, sizeof(post)), -1);
	assert_int_equal(contact_token_verify(NULL, SECRET_LEN, tok, id,
	    sizeof(id), post, sizeof(post)), -1);
	/* outputs too small */
	assert_int_equal(contact_token_verify(secret, SECRET_LEN, tok, id, 4,
	    post, sizeof(post)), -1);
	assert_int_equal(contact_token_verify(secret, SECRET_LEN, tok, id, 5,
	    post, sizeof(post)), 0);
	assert_int_equal(contact_token_verify(secret, SECRET_LEN, tok, id,
	    sizeof(id), post, 9), -1);
	assert_int_equal(contact_token_verify(secret, SECRET_LEN, tok, NULL,
	    sizeof(id), post, sizeof(post)), -1);
}

/* Payloads signed correctly but wrong inside: another version, bad
 * lengths, bad ids.  Built here with OpenSSL and base64url. */
static void
forge(const unsigned char *payload, size_t n, char *out, size_t outsz)
{
	static const char	b64[] = B64URL;
	static const char	label[] = "outreachd-unsubscribe-v1";
	unsigned char		buf[512], mac[32];
	unsigned int		maclen = 0;
	size_t			i, o = 0, l = sizeof(label);
	uint32_t		acc = 0;
	int			bits = 0;

	memcpy(buf, label, l);		/* with its NUL */
	memcpy(buf + l, payload, n);
	assert_non_null(HMAC(EVP_sha256(), secret, SECRET_LEN, buf, l + n,
	    mac, &maclen));
	memcpy(buf, payload, n);
	memcpy(buf + n, mac, 16);
	for (i = 0; i < n + 16; i++) {
		acc = (acc << 8 | buf[i]) & 0xffff;
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64[acc >> bits & 63];
		}
	}
	if (bits > 0)
		out[o++] = b64[acc << (6 - bits) & 63];
	assert_true(o < outsz);
	out[o] = '\0';
}

struct forge_row {
	const char	*name;
	const char	*payload;
	size_t		 len;
	int		 ok;
};

static const struct forge_row forge_rows[] = {
	{ "v1 good", "\x01\x04" "c-42" "\x09" "frankfurt", 16, 1 },
	{ "v2", "\x02\x04" "c-42" "\x09" "frankfurt", 16, 0 },
	{ "v0", "\x00\x04" "c-42" "\x09" "frankfurt", 16, 0 },
	{ "id length 0", "\x01\x00\x09" "frankfurt", 12, 0 },
	{ "id length long", "\x01\x05" "c-42" "\x09" "frankfurt", 16, 0 },
	{ "id length short", "\x01\x03" "c-42" "\x09" "frankfurt", 16, 0 },
	{ "id length huge", "\x01\xff" "c-42" "\x09" "frankfurt", 16, 0 },
	{ "post length short", "\x01\x04" "c-42" "\x08" "frankfurt", 16, 0 },
	{ "post length long", "\x01\x04" "c-42" "\x0a" "frankfurt", 16, 0 },
	{ "post empty", "\x01\x04" "c-42" "\x00", 7, 0 },
	{ "no post", "\x01\x04" "c-42", 6, 0 },
	{ "id with at", "\x01\x04" "c@42" "\x09" "frankfurt", 16, 0 },
	{ "id with nul", "\x01\x04" "c\0" "42" "\x09" "frankfurt", 16, 0 },
	{ "post with slash", "\x01\x04" "c-42" "\x09" "frank/urt", 16, 0 },
	{ "trailing byte", "\x01\x04" "c-42" "\x09" "frankfurtX", 17, 0 },
};

static void
test_token_forged(void **state)
{
	char	tok[CONTACT_TOKEN_SIZE], id[CONTACT_ID_MAX + 1],
		post[CONTACT_POST_MAX + 1];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(forge_rows) / sizeof(forge_rows[0]); i++) {
		forge((const unsigned char *)forge_rows[i].payload,
		    forge_rows[i].len, tok, sizeof(tok));
		if (verify(tok, id, post) != (forge_rows[i].ok ? 0 : -1))
			fail_msg("%s: wrong verdict", forge_rows[i].name);
	}
	/* the good row is exactly what contact_token_make writes */
	forge((const unsigned char *)forge_rows[0].payload, forge_rows[0].len,
	    tok, sizeof(tok));
	assert_string_equal(tok,
	    "AQRjLTQyCWZyYW5rZnVydObBGi1TYDL5vQ7IBxf1mZw");
}

static void
test_delivery_hash(void **state)
{
	char		a[CONTACT_DELIVERY_HASH_SIZE], b[
			    CONTACT_DELIVERY_HASH_SIZE];
	unsigned char	other[SECRET_LEN];
	size_t		i;

	(void)state;
	/* known answer (Python hmac + base64.b32encode, lower case) */
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 42, 7,
	    "smtp", a, sizeof(a)), 0);
	assert_string_equal(a,
	    "vctgbq25l6gru5if43kanmrvyrrvx3cdf6jje6up2rklo7n5jqxa");
	assert_int_equal(strlen(a), 52);
	for (i = 0; a[i] != '\0'; i++)
		assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz234567",
		    a[i]));
	/* stable */
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 42, 7,
	    "smtp", b, sizeof(b)), 0);
	assert_string_equal(a, b);
	/* different per channel, event, contact, secret; no swap collision */
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 42, 7,
	    "webhook", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 43, 7,
	    "smtp", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 42, 8,
	    "smtp", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 7, 42,
	    "smtp", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	memcpy(other, secret, SECRET_LEN);
	other[0] ^= 0x80;
	assert_int_equal(contact_delivery_hash(other, SECRET_LEN, 42, 7,
	    "smtp", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	/* extremes work */
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, INT64_MAX,
	    INT64_MIN, "webhook", b, sizeof(b)), 0);
	assert_int_equal(strlen(b), 52);
	/* refusals */
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 1, 1,
	    "smtp", b, 52), -1);
	assert_int_equal(contact_delivery_hash(secret, 15, 1, 1, "smtp", b,
	    sizeof(b)), -1);
	assert_int_equal(contact_delivery_hash(NULL, SECRET_LEN, 1, 1, "smtp",
	    b, sizeof(b)), -1);
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 1, 1, "",
	    b, sizeof(b)), -1);
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 1, 1,
	    "SMTP", b, sizeof(b)), -1);
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 1, 1, NULL,
	    b, sizeof(b)), -1);
	assert_int_equal(contact_delivery_hash(secret, SECRET_LEN, 1, 1,
	    "smtp", NULL, sizeof(b)), -1);
}

int
main(void)
{
	static const struct CMUnitTest	fixed[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_csv_row),
		cmocka_unit_test(test_csv_rules),
		cmocka_unit_test(test_list_limits),
		cmocka_unit_test(test_to_json),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_token_roundtrip),
		cmocka_unit_test(test_token_make_refuses),
		cmocka_unit_test(test_mac_keyed_follows_secret),
		cmocka_unit_test(test_token_tamper),
		cmocka_unit_test(test_token_refuses),
		cmocka_unit_test(test_token_forged),
		cmocka_unit_test(test_delivery_hash),
	};
	struct CMUnitTest	*tests;
	size_t			 i, n = sizeof(fixed) / sizeof(fixed[0]);
	size_t			 total = NFROWS + NJROWS + n;
	int			 rc;

	/* One cmocka test per table row, so each failure is named. */
	if ((tests = calloc(total, sizeof(*tests))) == NULL)
		return 1;
	for (i = 0; i < NFROWS; i++) {
		tests[i].name = frows[i].name;
		tests[i].test_func = test_frow;
		tests[i].initial_state = (void *)(uintptr_t)&frows[i];
	}
	for (i = 0; i < NJROWS; i++) {
		tests[NFROWS + i].name = jrows[i].name;
		tests[NFROWS + i].test_func = test_jrow;
		tests[NFROWS + i].initial_state = (void *)(uintptr_t)&jrows[i];
	}
	memcpy(tests + NFROWS + NJROWS, fixed, sizeof(fixed));
	rc = _cmocka_run_group_tests("contact", tests, total, NULL, NULL);
	free(tests);
	return rc != 0;
}
