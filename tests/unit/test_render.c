/* test_render.c - notices (daemon/render.c), table-driven: tag
 * canonicalisation, the language chain, set and per-text language choice
 * (the ti/am/en case of the issue), Content-Language, rtl, ICU dates in
 * en/fr/ar/tl/fil, load errors with positions, privacy of the context and
 * of errors, subjects that turn multi-line, the e-mail, the e-mails of a
 * set of contacts byte for byte as before the notices were made fast, the
 * tokens notice.c makes against contact.c's, and a rough throughput
 * figure.  Template fixtures are written to a mkdtemp directory
 * at run time. */
#include <sys/stat.h>

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "contact.h"
#include "event.h"
#include "notice.h"
#include "render.h"

#define NNBSP	"\xe2\x80\xaf"	/* U+202F, ICU 72's space before AM/PM */

/* ---- fixtures ---- */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void
rm_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
mkdirs_for(const char *path)
{
	char	tmp[4096], *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(tmp, 0755);
			*p = '/';
		}
}

/* A fresh directory holding files: pairs of relative path and content,
 * NULL-terminated; a path ending in '/' makes a directory. */
static char *
mkfix(const char *const *files)
{
	char	tmpl[] = "/tmp/test_render.XXXXXX", path[4096], *dir;
	FILE	*f;
	size_t	 i, n;

	assert_non_null(mkdtemp(tmpl));
	dir = strdup(tmpl);
	assert_non_null(dir);
	for (i = 0; files[i] != NULL; i += 2) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		mkdirs_for(path);
		n = strlen(path);
		if (path[n - 1] == '/') {
			(void)mkdir(path, 0755);
			continue;
		}
		assert_non_null(files[i + 1]);
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(files[i + 1], f);
		fclose(f);
	}
	return dir;
}

#define HTML	"<html lang=\"{{lang}}\" dir=\"{{dir}}\"><p>{{event.title}}" \
		"</p></html>\n"

/* The sets most tests use. */
static const char *const main_files[] = {
	"default/en.subject", "{{event.title}}\n",
	"default/en.txt", "EN {{event.title}}\n{{>footer}}",
	"default/fr.subject", "{{event.title}}\n",
	"default/fr.txt", "FR {{event.title}}\n{{>footer}}",
	"default/ar.subject", "{{event.title}}",
	"default/ar.txt", "AR {{event.title}}\n",
	"default/ar.html", HTML,
	"default/he.subject", "{{event.title}}",
	"default/he.txt", "HE\n",
	"default/he.html", HTML,
	"default/fa.subject", "{{event.title}}",
	"default/fa.txt", "FA\n",
	"default/tl.subject", "{{event.title}}",
	"default/tl.txt", "TL\n",
	"default/fil.subject", "{{event.title}}",
	"default/fil.txt", "FIL\n",
	"town-hall/en.subject", "Town hall: {{event.title}}\n",
	"town-hall/en.txt", "{{event.title}}\n{{event.summary}}\n"
	    "{{event.body}}\n{{#event.starts}}{{datetime}} ({{zone}})"
	    "{{/event.starts}}\n{{#event.links}}{{label}} {{url}}\n"
	    "{{/event.links}}{{>footer}}",
	"town-hall/en.html", HTML,
	"town-hall/fr.subject", "Réunion : {{event.title}}\n",
	"town-hall/fr.txt", "{{event.title}}\n{{>footer}}",
	"town-hall/pt-BR.subject", "{{event.title}}",
	"town-hall/pt-BR.txt", "PT-BR\n",
	"only-en/en.subject", "{{event.title}}",
	"only-en/en.txt", "{{event.title}}\n",
	"crisis/ti.subject", "{{event.title}}",
	"crisis/ti.txt", "TI\n",
	"crisis/fr.subject", "{{event.title}}",
	"crisis/fr.txt", "FR\n",
	"partials/footer.mustache", "-- {{post.name}}\n",
	"README", "not a set\n",
	".hidden/", NULL,
	"default/en.txt~", "editor backup {{#\n",
	NULL
};

static char			*main_dir;
static struct render_sets	*main_sets;

static const char *const event_types[] = { "town-hall", "only-en", "crisis",
    "general", "x-type" };

static struct cfg_post	post = {
	.id = "berlin", .name = "Embassy of the Philippines, Berlin",
	.lang = "en", .address = "Kurfürstendamm 1, Berlin",
	.phone = "+49 30 000000", .email = "berlin@example.org",
	.website = "https://berlin.example.org/",
};

static void
parse_event(const char *type, const char *json, const char *default_lang,
    struct event *ev)
{
	struct event_rules	rules = { 0, event_types,
	    sizeof(event_types) / sizeof(event_types[0]), default_lang };
	struct event_error	err;
	char			topic[128];

	snprintf(topic, sizeof(topic), "embassy.ph.berlin.%s", type);
	if (event_parse(topic, strlen(topic), json, strlen(json), &rules, ev,
	    &err) == -1)
		fail_msg("event: %s %s: %s", err.code, err.field, err.message);
}

/* A contact object with these languages (comma-separated, "" none). */
static json_t *
contact_with(const char *langs)
{
	json_t	*c, *a;
	char	 tmp[256], *p, *save = NULL;

	c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:[s]}",
	    "id", "c-42", "name", "Secret Person", "email",
	    "secret.person@example.net", "webhook_url",
	    "https://hooks.example.net/secret", "city", "Berlin", "region",
	    "BE", "country", "DE", "tags", "tag1", "addresses", "addr-x");
	assert_non_null(c);
	a = json_array();
	snprintf(tmp, sizeof(tmp), "%s", langs);
	for (p = strtok_r(tmp, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(p));
	json_object_set_new(c, "languages", a);
	return c;
}

static int
setup(void **state)
{
	char	err[512];

	(void)state;
	main_dir = mkfix(main_files);
	main_sets = render_load(main_dir, err, sizeof(err));
	if (main_sets == NULL) {
		fprintf(stderr, "load: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	render_free(main_sets);
	rm_tree(main_dir);
	free(main_dir);
	return 0;
}

/* ---- tags and chains ---- */

static void
test_canonical(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;	/* NULL: invalid */
	} cases[] = {
		{ "en", "en" }, { "EN-gb", "en-GB" }, { "zh-hant-tw",
		"zh-Hant-TW" }, { "iw", "he" }, { "in", "id" }, { "tl", "tl" },
		{ "fil", "fil" }, { "pt-br", "pt-BR" }, { "ar-u-nu-latn",
		"ar-u-nu-latn" }, { "sr-latn-rs", "sr-Latn-RS" },
		{ "en_GB", NULL }, { "e", NULL }, { "en-", NULL }, { "", NULL },
		{ "abcdefghi", NULL }, { "en GB", NULL }, { "en-GB-", NULL },
		{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxx", NULL },
	};
	char	out[RENDER_TAG_MAX];
	size_t	i;
	int	rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = render_canonical_tag(cases[i].in, out, sizeof(out));
		if (cases[i].out == NULL) {
			if (rc != -1)
				fail_msg("'%s' taken as '%s'", cases[i].in,
				    out);
			continue;
		}
		if (rc != 0 || strcmp(out, cases[i].out) != 0)
			fail_msg("'%s': got %d '%s', want '%s'", cases[i].in,
			    rc, rc == 0 ? out : "", cases[i].out);
	}
}

static void
test_chain(void **state)
{
	static const struct {
		const char	*langs;		/* comma-separated */
		const char	*ev;
		const char	*post;
		const char	*want;
	} cases[] = {
		{ "pt-BR", "en", "en", "pt-BR,pt,en" },
		{ "zh-Hant-TW", NULL, "en", "zh-Hant-TW,zh-Hant,zh,en" },
		{ "EN-gb,en", "fr", "en", "en-GB,en,fr" },
		{ "ti,am,en", "am", "en", "ti,am,en" },
		{ "en,en-US,en", "en", "en", "en,en-US" },
		{ "en_GB,x!,de", "en", "fil", "de,en,fil" },
		{ "ar-u-nu-latn", "ar", "en", "ar-u-nu-latn,ar,en" },
		{ "iw,he", "he", "he", "he" },
		{ "", "pt-PT", "en-GB", "pt-PT,pt,en-GB,en" },
		{ "", NULL, NULL, "" },
		{ "sr-Latn-RS-x-priv", NULL, NULL,
		"sr-Latn-RS-x-priv,sr-Latn-RS,sr-Latn,sr" },
		{ "de-DE-1996,de", "de", "en", "de-DE-1996,de-DE,de,en" },
	};
	struct render_chain	 c;
	const char		*v[16];
	char			 tmp[256], got[4096], *p, *save;
	size_t			 i, j, k, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = 0;
		save = NULL;
		snprintf(tmp, sizeof(tmp), "%s", cases[i].langs);
		for (p = strtok_r(tmp, ",", &save); p != NULL;
		    p = strtok_r(NULL, ",", &save))
			v[n++] = p;
		render_language_chain(v, n, cases[i].ev, cases[i].post, &c);
		got[0] = '\0';
		for (j = 0, k = 0; j < c.n; j++)
			k += (size_t)snprintf(got + k, sizeof(got) - k, "%s%s",
			    j > 0 ? "," : "", c.tag[j]);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("chain %zu (%s): got '%s', want '%s'", i,
			    cases[i].langs, got, cases[i].want);
	}

	/* Many languages: the event's and the post's still fit. */
	{
		static const char *const many[] = { "aa", "ab", "af", "ak",
		    "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg",
		    "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co",
		    "cr", "cs", "cu", "cv", "cy", "da", "de", "dv" };

		render_language_chain(many, sizeof(many) / sizeof(many[0]),
		    "fr-CA", "en", &c);
		assert_int_equal(c.n, RENDER_CHAIN_MAX - 5);
		assert_string_equal(c.tag[c.n - 3], "fr-CA");
		assert_string_equal(c.tag[c.n - 2], "fr");
		assert_string_equal(c.tag[c.n - 1], "en");
	}
}

/* ---- loading ---- */

static void
test_listing(void **state)
{
	size_t	i;
	int	found = 0;

	(void)state;
	/* crisis, default, only-en, town-hall */
	assert_int_equal(render_set_count(main_sets), 4);
	assert_int_equal(render_lang_count(main_sets), 2 + 7 + 1 + 3);
	assert_string_equal(render_set_type(main_sets, 1), "default");
	assert_int_equal(render_set_nlangs(main_sets, 1), 7);
	/* sorted: ar en fa fil fr he tl */
	assert_string_equal(render_set_lang(main_sets, 1, 0), "ar");
	assert_string_equal(render_set_lang(main_sets, 1, 3), "fil");
	assert_null(render_set_lang(main_sets, 1, 7));
	assert_null(render_set_type(main_sets, 4));
	assert_true(render_has_type(main_sets, "town-hall"));
	assert_false(render_has_type(main_sets, "default"));
	assert_false(render_has_type(main_sets, "general"));
	for (i = 0; i < render_set_count(main_sets); i++)
		if (strcmp(render_set_type(main_sets, i), "town-hall") == 0) {
			found = 1;
			assert_string_equal(render_set_lang(main_sets, i, 2),
			    "pt-BR");
		}
	assert_true(found);
}

static void
test_load_errors(void **state)
{
	static const struct {
		const char	*name;
		const char	*files[12];
		const char	*want;		/* NULL: loads */
		const char	*want2;
	} cases[] = {
		{ "unclosed section", { "default/en.subject", "x",
		    "default/en.txt", "Hello\n  {{#event}}\n{{title}}\n",
		    NULL }, "/default/en.txt:2:3: ", "never closed" },
		{ "unclosed tag in subject", { "default/en.subject", "ab {{x",
		    "default/en.txt", "x", NULL }, "/default/en.subject:1:4: ",
		    "unclosed" },
		{ "missing partial", { "default/en.subject", "x",
		    "default/en.txt", "a\n{{>nope}}\n", NULL },
		    "/default/en.txt:2:1: ", "missing partial 'nope'" },
		{ "missing partial in a partial", { "default/en.subject", "x",
		    "default/en.txt", "{{>a}}", "partials/a.mustache",
		    "{{>b}}", NULL }, "/partials/a.mustache:1:1: ",
		    "missing partial 'b'" },
		{ "invalid language name", { "default/en.subject", "x",
		    "default/en.txt", "x", "default/en_GB.txt", "x", NULL },
		    "/default/en_GB.txt: ", "not a BCP 47" },
		{ "missing default", { "town-hall/en.subject", "x",
		    "town-hall/en.txt", "x", NULL }, "/default: missing",
		    NULL },
		{ "empty default", { "default/", NULL, NULL },
		    "/default: no templates", NULL },
		{ "missing subject", { "default/en.subject", "x",
		    "default/en.txt", "x", "default/fr.txt", "x", NULL },
		    "/default/fr.subject: missing", NULL },
		{ "missing txt", { "default/en.subject", "x",
		    "default/en.html", "x", NULL },
		    "/default/en.txt: missing", NULL },
		{ "two-line subject", { "default/en.subject", "ab\ncd\n",
		    "default/en.txt", "x", NULL }, "/default/en.subject:1:3: ",
		    "one line" },
		{ "subject CRLF ok", { "default/en.subject", "ab\r\n",
		    "default/en.txt", "x", NULL }, NULL, NULL },
		{ "bad set name", { "default/en.subject", "x",
		    "default/en.txt", "x", "Town_Hall/en.txt", "x", NULL },
		    "/Town_Hall: not a template set name", NULL },
		{ "unexpected file", { "default/en.subject", "x",
		    "default/en.txt", "x", "default/en.text", "x", NULL },
		    "/default/en.text: unexpected file", NULL },
		{ "same language twice", { "default/en-gb.subject", "x",
		    "default/en-GB.subject", "x", "default/en-GB.txt", "x",
		    NULL }, "same language", "en-GB.subject" },
		{ "partial name", { "default/en.subject", "x",
		    "default/en.txt", "x", "partials/a.txt", "x", NULL },
		    "/partials/a.txt: not a partial", NULL },
		{ "directory in a set", { "default/en.subject", "x",
		    "default/en.txt", "x", "default/sub/", NULL, NULL },
		    "/default/sub: not a regular file", NULL },
		{ "invalid UTF-8", { "default/en.subject", "x",
		    "default/en.txt", "ab\xff", NULL }, "/default/en.txt:1:3: ",
		    "UTF-8" },
		{ "ignored names", { "default/en.subject", "x",
		    "default/en.txt", "x", "README", "x", ".git/", NULL,
		    "default/.en.txt.swp", "x", NULL }, NULL, NULL },
	};
	struct render_sets	*rs;
	char			*dir, err[512];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dir = mkfix(cases[i].files);
		rs = render_load(dir, err, sizeof(err));
		if (cases[i].want == NULL) {
			if (rs == NULL)
				fail_msg("%s: %s", cases[i].name, err);
		} else if (rs != NULL) {
			fail_msg("%s: loaded", cases[i].name);
		} else if (strncmp(err, dir, strlen(dir)) != 0 ||
		    strstr(err, cases[i].want) == NULL ||
		    (cases[i].want2 != NULL &&
		    strstr(err, cases[i].want2) == NULL))
			fail_msg("%s: got '%s', want '%s' and '%s'",
			    cases[i].name, err, cases[i].want,
			    cases[i].want2 ? cases[i].want2 : "");
		assert_int_equal(render_check(dir, err, sizeof(err)),
		    cases[i].want == NULL ? 0 : -1);
		render_free(rs);
		rm_tree(dir);
		free(dir);
	}
	assert_null(render_load("/nonexistent/templates", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/templates: "));
	render_free(NULL);
}

/* ---- choosing languages ---- */

static void
test_selection(void **state)
{
	static const struct {
		const char	*type;
		const char	*langs;
		const char	*ev_json;	/* title and lang */
		const char	*want_type;
		const char	*want_lang;
		int		 fallback;
		const char	*want_cl;
		const char	*want_subject;
		const char	*post_lang;	/* NULL: "en" */
	} cases[] = {
		/* The case: ti, am, en; texts in am and en; only
		 * an en set.  Template en, title am, both named, in the
		 * contact's order. */
		{ "only-en", "ti,am,en",
		  "\"title\":{\"am\":\"ስብሰባ\",\"en\":\"Meeting\"}",
		  "only-en", "en", 0, "am, en", "ስብሰባ", NULL },
		{ "town-hall", "fr", "\"title\":\"Hello\",\"lang\":\"en\"",
		  "town-hall", "fr", 0, "fr, en", "Réunion : Hello", NULL },
		{ "town-hall", "pt-BR", "\"title\":{\"pt\":\"Olá\","
		  "\"en\":\"Hi\"}", "town-hall", "pt-BR", 0, "pt-BR, pt",
		  "Olá", NULL },
		{ "town-hall", "pt-PT", "\"title\":{\"pt\":\"Olá\","
		  "\"en\":\"Hi\"}", "town-hall", "en", 0, "pt, en",
		  "Town hall: Olá", NULL },
		/* the type has none of the chain, default/ has one */
		{ "town-hall", "ar", "\"title\":{\"ar\":\"اجتماع\"},"
		  "\"lang\":\"ar\"", "default", "ar", 0, "ar", "اجتماع",
		  "ar" },
		/* the type's set in a later chain language comes before
		 * default/ in an earlier one (DESIGN.md 4) */
		{ "town-hall", "ar", "\"title\":{\"ar\":\"اجتماع\"}",
		  "town-hall", "en", 0, "ar, en", "Town hall: اجتماع", NULL },
		/* no type set at all: default/ */
		{ "general", "he,en", "\"title\":\"Hi\",\"lang\":\"en\"",
		  "default", "he", 0, "he, en", "Hi", NULL },
		/* canonicalised keys and contact tags */
		{ "town-hall", "EN-gb", "\"title\":{\"EN\":\"Hi\"}",
		  "town-hall", "en", 0, "en", "Town hall: Hi", NULL },
		/* nothing in the chain: the type's set, first language */
		{ "crisis", "de",
		  "\"title\":{\"de\":\"Hallo\"},\"lang\":\"de\"",
		  "crisis", "fr", 1, "de, fr", "Hallo", "de" },
		/* a text with none of the chain: its first language */
		{ "only-en", "en", "\"title\":{\"sw\":\"Habari\",\"es\":"
		  "\"Hola\"}", "only-en", "en", 0, "en, es", "Hola", NULL },
		/* tl for a Tagalog reader */
		{ "general", "tl", "\"title\":{\"tl\":\"Pulong\",\"en\":"
		  "\"Meeting\"}", "default", "tl", 0, "tl", "Pulong", NULL },
		/* iw is he */
		{ "general", "iw", "\"title\":{\"he\":\"שלום\"}",
		  "default", "he", 0, "he", "שלום", NULL },
	};
	struct render_out	out;
	struct render_in	in;
	struct event		ev;
	struct cfg_post		p2;
	json_t			*contact;
	char			 json[1024], err[512];
	size_t			 i;

	(void)state;
	render_out_init(&out);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), "{\"v\":1,\"id\":\"e%zu\","
		    "\"type\":\"%s\",%s}", i, cases[i].type, cases[i].ev_json);
		parse_event(cases[i].type, json, "en", &ev);
		contact = contact_with(cases[i].langs);
		memset(&in, 0, sizeof(in));
		in.event = &ev;
		in.topic = "embassy.ph.berlin.x";
		p2 = post;
		if (cases[i].post_lang != NULL)
			p2.lang = (char *)cases[i].post_lang;
		in.post = &p2;
		in.contact = contact;
		if (render_notice(main_sets, &in, 0, &out, err,
		    sizeof(err)) == -1)
			fail_msg("case %zu: %s", i, err);
		if (strcmp(out.type, cases[i].want_type) != 0 ||
		    strcmp(out.lang, cases[i].want_lang) != 0 ||
		    out.fallback != cases[i].fallback ||
		    strcmp(out.content_language, cases[i].want_cl) != 0 ||
		    strcmp(out.subject.data, cases[i].want_subject) != 0)
			fail_msg("case %zu: got %s/%s fallback %d CL '%s' "
			    "subject '%s'", i, out.type, out.lang,
			    out.fallback, out.content_language,
			    out.subject.data);
		assert_string_equal(json_string_value(json_object_get(
		    out.context, "content_language")), cases[i].want_cl);
		assert_string_equal(json_string_value(json_object_get(
		    out.context, "lang")), cases[i].want_lang);
		json_decref(contact);
		event_clear(&ev);
	}
	render_out_free(&out);
}

/* Each text takes its own language; plain strings are in the event's. */
static void
test_per_text(void **state)
{
	const char *json = "{\"v\":1,\"id\":\"e1\",\"type\":\"town-hall\","
	    "\"lang\":\"de\",\"title\":{\"en\":\"T-en\",\"fr\":\"T-fr\"},"
	    "\"summary\":\"S-de\",\"body\":{\"pt\":\"B-pt\",\"es\":\"B-es\"},"
	    "\"links\":[{\"label\":\"Register\","
	    "\"url\":\"https://x.example/r\"}],"
	    "\"location\":{\"name\":\"Hall\",\"city\":\"Berlin\"},"
	    "\"data\":{\"room\":12}}";
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct event		 ev;
	json_t			*contact, *e;
	char			 err[512];

	(void)state;
	parse_event("town-hall", json, "en", &ev);
	contact = contact_with("fr");
	in.event = &ev;
	in.topic = "embassy.ph.berlin.town-hall";
	in.post = &post;
	in.contact = contact;
	render_out_init(&out);
	assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
	    sizeof(err)), 0);
	/* chain fr, de, en: template fr, title fr, summary de (plain),
	 * body es (none in the chain: alphabetically first) */
	assert_string_equal(out.lang, "fr");
	assert_string_equal(out.content_language, "fr, de, es");
	e = json_object_get(out.context, "event");
	assert_string_equal(json_string_value(json_object_get(e, "title")),
	    "T-fr");
	assert_string_equal(json_string_value(json_object_get(e, "summary")),
	    "S-de");
	assert_string_equal(json_string_value(json_object_get(e, "body")),
	    "B-es");
	assert_string_equal(json_string_value(json_object_get(e,
	    "title_lang")), "fr");
	assert_string_equal(json_string_value(json_object_get(e,
	    "summary_lang")), "de");
	assert_string_equal(json_string_value(json_object_get(e,
	    "body_lang")), "es");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    e, "location"), "city")), "Berlin");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    e, "data"), "room")), 12);
	assert_string_equal(json_string_value(json_object_get(e, "topic")),
	    "embassy.ph.berlin.town-hall");
	assert_string_equal(json_string_value(json_object_get(e, "priority")),
	    "normal");
	assert_true(json_is_false(json_object_get(e, "critical")));
	assert_true(json_is_false(json_object_get(e, "exercise")));
	assert_string_equal(out.text.data, "T-fr\n-- Embassy of the "
	    "Philippines, Berlin\n");
	assert_false(out.has_html);

	/* English reader: the html part, links and the plain label in de */
	json_decref(contact);
	contact = contact_with("en");
	in.contact = contact;
	assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
	    sizeof(err)), 0);
	assert_string_equal(out.lang, "en");
	assert_string_equal(out.content_language, "en, de, es");
	assert_string_equal(out.text.data, "T-en\nS-de\nB-es\n\n"
	    "Register https://x.example/r\n-- Embassy of the Philippines, "
	    "Berlin\n");
	assert_true(out.has_html);
	assert_string_equal(out.html.data, "<html lang=\"en\" dir=\"ltr\">"
	    "<p>T-en</p></html>\n");
	assert_int_equal(render_notice(main_sets, &in, RENDER_NO_HTML, &out,
	    err, sizeof(err)), 0);
	assert_false(out.has_html);
	assert_int_equal(out.html.len, 0);
	json_decref(contact);
	event_clear(&ev);
	render_out_free(&out);
}

static void
test_flags_in_context(void **state)
{
	static const struct {
		const char	*extra;
		int		 critical;
		int		 exercise;
	} cases[] = {
		{ "", 0, 0 },
		{ ",\"priority\":\"critical\"", 1, 0 },
		{ ",\"status\":\"exercise\"", 0, 1 },
		{ ",\"status\":\"test\",\"priority\":\"high\"", 0, 1 },
		{ ",\"status\":\"actual\"", 0, 0 },
	};
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct event		 ev;
	json_t			*contact, *e;
	char			 json[512], err[512];
	size_t			 i;

	(void)state;
	contact = contact_with("en");
	render_out_init(&out);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), "{\"v\":1,\"id\":\"e\","
		    "\"type\":\"crisis\",\"title\":\"x\"%s}", cases[i].extra);
		parse_event("crisis", json, "en", &ev);
		in.event = &ev;
		in.topic = "embassy.ph.berlin.crisis";
		in.post = &post;
		in.contact = contact;
		assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
		    sizeof(err)), 0);
		e = json_object_get(out.context, "event");
		assert_int_equal(json_is_true(json_object_get(e, "critical")),
		    cases[i].critical);
		assert_int_equal(json_is_true(json_object_get(e, "exercise")),
		    cases[i].exercise);
		event_clear(&ev);
	}
	json_decref(contact);
	render_out_free(&out);
}

static void
test_rtl(void **state)
{
	static const struct {
		const char	*lang;
		int		 rtl;
	} cases[] = {
		{ "ar", 1 }, { "he", 1 }, { "fa", 1 }, { "en", 0 },
		{ "fr", 0 }, { "tl", 0 },
	};
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct event		 ev;
	json_t			*contact;
	char			 err[512], want[128];
	size_t			 i;

	(void)state;
	parse_event("general", "{\"v\":1,\"id\":\"e\",\"type\":\"general\","
	    "\"title\":\"x\"}", "en", &ev);
	render_out_init(&out);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(render_tag_rtl(cases[i].lang), cases[i].rtl);
		contact = contact_with(cases[i].lang);
		in.event = &ev;
		in.topic = "embassy.ph.berlin.general";
		in.post = &post;
		in.contact = contact;
		assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
		    sizeof(err)), 0);
		assert_string_equal(out.lang, cases[i].lang);
		assert_int_equal(out.rtl, cases[i].rtl);
		assert_string_equal(json_string_value(json_object_get(
		    out.context, "dir")), cases[i].rtl ? "rtl" : "ltr");
		if (out.has_html) {
			snprintf(want, sizeof(want), "<html lang=\"%s\" "
			    "dir=\"%s\">", cases[i].lang, cases[i].rtl ?
			    "rtl" : "ltr");
			assert_non_null(strstr(out.html.data, want));
		}
		json_decref(contact);
	}
	event_clear(&ev);
	render_out_free(&out);
}

/* ---- dates ---- */

static void
test_dates(void **state)
{
	static const struct {
		const char	*lang;
		const char	*when;	/* starts_at */
		const char	*tz;	/* NULL: the offset */
		const char	*date, *time, *datetime, *weekday, *zone;
	} cases[] = {
		{ "en", "2026-12-12T18:30:00+01:00", "Europe/Berlin",
		  "December 12, 2026", "6:30" NNBSP "PM",
		  "Saturday, December 12, 2026 at 6:30" NNBSP "PM",
		  "Saturday", "GMT+1" },
		{ "en", "2026-12-12T18:30:00+08:00", NULL,
		  "December 12, 2026", "6:30" NNBSP "PM",
		  "Saturday, December 12, 2026 at 6:30" NNBSP "PM",
		  "Saturday", "GMT+8" },
		/* the offset is kept, not the reader's or UTC */
		{ "en", "2026-12-12T23:30:00-05:00", NULL,
		  "December 12, 2026", "11:30" NNBSP "PM",
		  "Saturday, December 12, 2026 at 11:30" NNBSP "PM",
		  "Saturday", "GMT-5" },
		/* the time zone wins over the offset written */
		{ "en", "2026-12-12T18:30:00Z", "Asia/Manila",
		  "December 13, 2026", "2:30" NNBSP "AM",
		  "Sunday, December 13, 2026 at 2:30" NNBSP "AM",
		  "Sunday", "GMT+8" },
		{ "en", "2026-07-04T09:05:00Z", NULL,
		  "July 4, 2026", "9:05" NNBSP "AM",
		  "Saturday, July 4, 2026 at 9:05" NNBSP "AM",
		  "Saturday", "UTC" },
		{ "fr", "2026-12-12T18:30:00+01:00", "Europe/Paris",
		  "12 décembre 2026", "18:30",
		  "samedi 12 décembre 2026 à 18:30", "samedi", "UTC+1" },
		{ "fr", "2026-07-04T09:05:00+02:00", NULL,
		  "4 juillet 2026", "09:05",
		  "samedi 4 juillet 2026 à 09:05", "samedi", "UTC+2" },
		/* ar: Arabic month names and Arabic-Indic digits, as CLDR
		 * has it for "ar" */
		{ "ar", "2026-12-12T18:30:00+03:00", "Asia/Riyadh",
		  "١٢ ديسمبر ٢٠٢٦", "٦:٣٠ م",
		  "السبت، ١٢ ديسمبر ٢٠٢٦ في ٦:٣٠ م", "السبت", "غرينتش+٣" },
		{ "ar", "2026-12-12T18:30:00+03:00", NULL,
		  "١٢ ديسمبر ٢٠٢٦", "٦:٣٠ م",
		  "السبت، ١٢ ديسمبر ٢٠٢٦ في ٦:٣٠ م", "السبت", "غرينتش+٣" },
		/* tl: ICU 72 has tl as an alias of fil: the same text */
		{ "tl", "2026-12-12T18:30:00+08:00", "Asia/Manila",
		  "Disyembre 12, 2026", "6:30" NNBSP "PM",
		  "Sabado, Disyembre 12, 2026 nang 6:30" NNBSP "PM",
		  "Sabado", "GMT+8" },
		{ "fil", "2026-12-12T18:30:00+08:00", NULL,
		  "Disyembre 12, 2026", "6:30" NNBSP "PM",
		  "Sabado, Disyembre 12, 2026 nang 6:30" NNBSP "PM",
		  "Sabado", "GMT+8" },
	};
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct event		 ev;
	json_t			*contact, *s, *e;
	char			 json[512], err[512];
	size_t			 i, round;

	(void)state;
	render_out_init(&out);
	/* twice: the second round comes from the caches */
	for (round = 0; round < 2; round++)
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].tz != NULL)
			snprintf(json, sizeof(json), "{\"v\":1,\"id\":\"e\","
			    "\"type\":\"general\",\"title\":\"x\","
			    "\"starts_at\":\"%s\",\"ends_at\":\"%s\","
			    "\"timezone\":\"%s\"}", cases[i].when,
			    cases[i].when, cases[i].tz);
		else
			snprintf(json, sizeof(json), "{\"v\":1,\"id\":\"e\","
			    "\"type\":\"general\",\"title\":\"x\","
			    "\"starts_at\":\"%s\"}", cases[i].when);
		parse_event("general", json, "en", &ev);
		contact = contact_with(cases[i].lang);
		in.event = &ev;
		in.topic = "embassy.ph.berlin.general";
		in.post = &post;
		in.contact = contact;
		assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
		    sizeof(err)), 0);
		assert_string_equal(out.lang, cases[i].lang);
		e = json_object_get(out.context, "event");
		s = json_object_get(e, "starts");
		assert_non_null(s);
#define CHECK(k) do {							\
	const char *g = json_string_value(json_object_get(s, #k));	\
	if (g == NULL || strcmp(g, cases[i].k) != 0)			\
		fail_msg("case %zu %s %s: got '%s', want '%s'", i,	\
		    cases[i].lang, #k, g ? g : "(none)", cases[i].k);	\
} while (0)
		CHECK(date);
		CHECK(time);
		CHECK(datetime);
		CHECK(weekday);
		CHECK(zone);
#undef CHECK
		assert_string_equal(json_string_value(json_object_get(s,
		    "iso")), cases[i].when);
		if (cases[i].tz != NULL) {
			assert_true(json_equal(s, json_object_get(e, "ends")));
			assert_string_equal(json_string_value(json_object_get(
			    e, "timezone")), cases[i].tz);
		} else
			assert_null(json_object_get(e, "ends"));
		json_decref(contact);
		event_clear(&ev);
	}
	render_out_free(&out);
}

/* ---- privacy, subjects, e-mail ---- */

static void
test_privacy(void **state)
{
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct event		 ev;
	json_t			*contact, *c;
	char			 err[512], *dump;
	const char		*key;
	json_t			*v;

	(void)state;
	parse_event("town-hall", "{\"v\":1,\"id\":\"e\",\"type\":"
	    "\"town-hall\",\"title\":\"x\"}", "en", &ev);
	contact = contact_with("en");
	in.event = &ev;
	in.topic = "embassy.ph.berlin.town-hall";
	in.post = &post;
	in.contact = contact;
	in.unsubscribe_url = "https://u.example/t/abc";
	render_out_init(&out);
	assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
	    sizeof(err)), 0);
	c = json_object_get(out.context, "contact");
	json_object_foreach(c, key, v)
		assert_true(strcmp(key, "id") == 0 ||
		    strcmp(key, "name") == 0 || strcmp(key, "city") == 0 ||
		    strcmp(key, "region") == 0 || strcmp(key, "country") == 0);
	assert_int_equal(json_object_size(c), 5);
	dump = json_dumps(out.context, 0);
	assert_non_null(dump);
	assert_null(strstr(dump, "secret.person@example.net"));
	assert_null(strstr(dump, "hooks.example.net"));
	assert_null(strstr(dump, "addr-x"));
	assert_null(strstr(dump, "tag1"));
	assert_null(strstr(dump, "\"languages\""));
	assert_non_null(strstr(dump, "\"unsubscribe_url\": "
	    "\"https://u.example/t/abc\""));
	free(dump);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    out.context, "post"), "email")), "berlin@example.org");
	json_decref(contact);
	event_clear(&ev);
	render_out_free(&out);
}

static void
test_subject_lines(void **state)
{
	static const char *const files[] = {
		"default/en.subject", "{{event.data.s}}{{>p}}\n",
		"default/en.txt", "x\n",
		"partials/p.mustache", "{{event.data.p}}",
		NULL
	};
	static const struct {
		const char	*data;
		const char	*want;	/* NULL: refused */
	} cases[] = {
		{ "{\"s\":\"one line\"}", "one line" },
		{ "{\"s\":\"trailing\\n\"}", "trailing" },
		{ "{\"s\":\"trailing\\r\\n\\n\"}", "trailing" },
		{ "{\"s\":\"two\\nlines\"}", NULL },
		{ "{\"s\":\"cr\\rhere\"}", NULL },
		{ "{\"s\":\"a\",\"p\":\"b\\nc\"}", NULL },
		{ "{}", "" },
	};
	struct render_sets	*rs;
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct event		 ev;
	json_t			*contact;
	char			*dir, json[512], err[512];
	size_t			 i;
	int			 rc;

	(void)state;
	dir = mkfix(files);
	rs = render_load(dir, err, sizeof(err));
	if (rs == NULL)
		fail_msg("load: %s", err);
	contact = contact_with("en");
	render_out_init(&out);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), "{\"v\":1,\"id\":\"ev-%zu\","
		    "\"type\":\"general\",\"title\":\"t\",\"data\":%s}", i,
		    cases[i].data);
		parse_event("general", json, "en", &ev);
		in.event = &ev;
		in.topic = "embassy.ph.berlin.general";
		in.post = &post;
		in.contact = contact;
		rc = render_notice(rs, &in, 0, &out, err, sizeof(err));
		if (cases[i].want != NULL) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err);
			assert_string_equal(out.subject.len ?
			    out.subject.data : "", cases[i].want);
		} else {
			if (rc != -1)
				fail_msg("case %zu: subject '%s' taken", i,
				    out.subject.data);
			/* names the event, the contact by id and the file;
			 * never the contact's name or address */
			assert_non_null(strstr(err, "contact c-42"));
			assert_non_null(strstr(err, "/default/en.subject"));
			assert_null(strstr(err, "Secret"));
			assert_null(strstr(err, "example.net"));
		}
		event_clear(&ev);
	}
	json_decref(contact);
	render_out_free(&out);
	render_free(rs);
	rm_tree(dir);
	free(dir);
}

static void
test_render_errors(void **state)
{
	static const char *const files[] = {
		"default/en.subject", "s",
		"default/en.txt", "{{#event.data.l}}{{>loop}}{{/event.data.l}}",
		"partials/loop.mustache", "{{>loop}}",
		NULL
	};
	struct render_sets	*rs;
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct event		 ev;
	json_t			*contact;
	char			*dir, err[512];

	(void)state;
	dir = mkfix(files);
	rs = render_load(dir, err, sizeof(err));
	if (rs == NULL)
		fail_msg("load: %s", err);
	contact = contact_with("en");
	json_object_set_new(contact, "id", json_string("bad id\n"));
	parse_event("general", "{\"v\":1,\"id\":\"ev-1\",\"type\":"
	    "\"general\",\"title\":\"t\",\"data\":{\"l\":true}}", "en", &ev);
	in.event = &ev;
	in.topic = "embassy.ph.berlin.general";
	in.post = &post;
	in.contact = contact;
	render_out_init(&out);
	assert_int_equal(render_notice(rs, &in, 0, &out, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "render: event ev-1 for contact ?: "));
	assert_non_null(strstr(err, "/partials/loop.mustache:1:1: "));
	assert_null(strstr(err, "bad id"));
	json_decref(contact);
	event_clear(&ev);
	render_out_free(&out);
	render_free(rs);
	rm_tree(dir);
	free(dir);
}

static void
fill_mail(struct render_mail *m)
{
	memset(m, 0, sizeof(*m));
	m->from.name = "Embassy of the Philippines";
	m->from.addr = "noreply@berlin.example.org";
	m->to.name = "Secret Person";
	m->to.addr = "secret.person@example.net";
	m->message_id = "<abc123@berlin.example.org>";
	m->date = 1796929200;
	m->list_unsubscribe_https = "https://u.example/t/abc";
	m->list_unsubscribe_mailto = "mailto:unsubscribe@berlin.example.org";
	m->contact_id = "c-42";
}

static void
test_email(void **state)
{
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct render_mail	 m;
	struct event		 ev;
	struct buf		 msg;
	json_t			*contact;
	char			 err[512];

	(void)state;
	parse_event("only-en", "{\"v\":1,\"id\":\"e1\",\"type\":\"only-en\","
	    "\"title\":{\"am\":\"ስብሰባ\",\"en\":\"Meeting\"}}", "en", &ev);
	contact = contact_with("ti,am,en");
	in.event = &ev;
	in.topic = "embassy.ph.berlin.only-en";
	in.post = &post;
	in.contact = contact;
	render_out_init(&out);
	buf_init(&msg, 1024 * 1024);
	assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
	    sizeof(err)), 0);
	fill_mail(&m);
	if (render_email(&out, &m, &msg, err, sizeof(err)) == -1)
		fail_msg("email: %s", err);
	assert_non_null(strstr(msg.data, "\r\nContent-Language: am, en\r\n"));
	assert_non_null(strstr(msg.data, "\r\nSubject: =?UTF-8?"));
	assert_non_null(strstr(msg.data, "Content-Type: text/plain"));
	assert_null(strstr(msg.data, "multipart/alternative"));
	assert_non_null(strstr(msg.data, "List-Unsubscribe-Post: "));

	/* with html: multipart */
	event_clear(&ev);
	parse_event("town-hall", "{\"v\":1,\"id\":\"e2\",\"type\":"
	    "\"town-hall\",\"title\":\"Meeting\"}", "en", &ev);
	json_decref(contact);
	contact = contact_with("en");
	in.contact = contact;
	assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
	    sizeof(err)), 0);
	buf_reset(&msg);
	assert_int_equal(render_email(&out, &m, &msg, err, sizeof(err)), 0);
	assert_non_null(strstr(msg.data, "multipart/alternative"));
	assert_non_null(strstr(msg.data, "Content-Type: text/html"));
	assert_non_null(strstr(msg.data, "Subject: Town hall: Meeting\r\n"));

	/* a NUL in a body is refused, naming no address */
	assert_int_equal(buf_add(&out.text, "\0x", 2), 0);
	buf_reset(&msg);
	assert_int_equal(render_email(&out, &m, &msg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "town-hall/en"));
	assert_non_null(strstr(err, "c-42"));
	assert_int_equal(msg.len, 0);
	/* a MIME refusal: bad address, named without the address */
	buf_reset(&out.text);
	assert_int_equal(buf_adds(&out.text, "ok\n"), 0);
	m.to.addr = "not an address@example.net";
	assert_int_equal(render_email(&out, &m, &msg, err, sizeof(err)), -1);
	assert_null(strstr(err, "not an address"));
	assert_null(strstr(err, "Secret"));
	assert_int_equal(msg.len, 0);

	buf_free(&msg);
	json_decref(contact);
	event_clear(&ev);
	render_out_free(&out);
}

/* ---- byte-identical output (issue 3's optimisations) ---- */

/*
 * Complete e-mails for a set of contacts (languages en, fr, ar, chains,
 * names, events with dates, links, exercise and critical flags), each
 * reduced to a 64-bit FNV-1a of the message, a NUL, the subject, text and
 * HTML and the context (sorted keys).  The table holds what the code gave
 * before the notices were made fast (ICU 72 dates); RENDER_GOLDEN_PRINT=1
 * prints the rows instead.  A difference is a change of output bytes.
 */
#define G_LONG	"A line well past the seventy-six columns of " \
		"quoted-printable, with = signs, tabs\tand a space at its end "

static const char *const golden_files[] = {
	"default/en.subject", "{{#event.critical}}URGENT: {{/event.critical}}"
	    "{{event.title}}{{#event.starts}} – {{weekday}}, {{date}}"
	    "{{/event.starts}}\n",
	"default/en.txt", "{{#event.exercise}}EXERCISE\n{{/event.exercise}}"
	    "Dear {{contact.name}},\n\n{{event.title}}\n{{event.summary}}\n"
	    G_LONG "\n"
	    "From the embassy: {{event.body}}\n.\n. a dot\n"
	    "{{#event.starts}}{{datetime}} ({{zone}})\n{{/event.starts}}"
	    "{{#event.links}}  {{label}}: {{url}}\n{{/event.links}}"
	    "{{#event.location}}{{name}}, {{city}}\n{{/event.location}}"
	    "{{>footer-txt}}",
	"default/en.html", "<html lang=\"{{lang}}\" dir=\"{{dir}}\">\n"
	    "<p style=\"margin: 0 0 16px; font-size: 18px; line-height: 1.5; "
	    "font-family: system-ui, sans-serif;\">{{event.title}}</p>\n"
	    "<p>{{contact.name}} {{contact.city}} {{event.summary}}</p>\n"
	    "<div style=\"white-space: pre-line;\">{{event.body}}</div>\n"
	    "{{#event.starts}}<p>{{datetime}} &ndash; {{zone}}</p>\n"
	    "{{/event.starts}}"
	    "{{#event.links}}<a href=\"{{url}}\">{{label}}</a>\n"
	    "{{/event.links}}" G_LONG "\n{{>footer-html}}</html>\n",
	"default/fr.subject", "{{event.title}}{{#event.starts}} – {{date}}"
	    "{{/event.starts}}",
	"default/fr.txt", "Bonjour {{contact.name}},\n{{event.title}}\n"
	    "{{event.summary}}\nÉvénement à {{#event.starts}}{{time}}"
	    "{{/event.starts}} : réservez dès maintenant, c'est « important » "
	    "et très, très long pour une seule ligne\n{{>footer-txt}}",
	"default/fr.html", "<p lang=\"{{lang}}\">{{event.title}} — "
	    "{{contact.name}}</p>\n<p>Événement {{#event.starts}}{{datetime}}"
	    "{{/event.starts}}</p>\n{{>footer-html}}",
	"default/ar.subject", "{{event.title}}{{#event.starts}} – {{date}}"
	    "{{/event.starts}}",
	"default/ar.txt", "مرحبا {{contact.name}}\n{{event.title}}\n"
	    "{{#event.starts}}{{datetime}}{{/event.starts}}\n"
	    "نص عربي طويل بما يكفي ليمتد على عدة أسطر في الترميز\n"
	    "{{>footer-txt}}",
	"default/ar.html", "<div dir=\"{{dir}}\" lang=\"{{lang}}\">"
	    "<p>{{event.title}}</p><p>{{contact.name}}</p>"
	    "<p>نص عربي طويل بما يكفي ليمتد على عدة أسطر في الترميز</p>"
	    "</div>\n{{>footer-html}}",
	"town-hall/en.subject", "Town hall: {{event.title}}",
	"town-hall/en.txt", "{{event.title}}\n  {{>footer-txt}}\n",
	"town-hall/en.html", "<h1>{{event.title}}</h1>\n{{>footer-html}}",
	"partials/footer-txt.mustache", "-- \n{{post.name}}\n{{post.address}}"
	    "\n{{#unsubscribe_url}}Unsubscribe: {{unsubscribe_url}}\n"
	    "{{/unsubscribe_url}}Reference: {{event.id}}\n",
	"partials/footer-html.mustache", "<p class=\"o-muted\" style=\"color: "
	    "#4b5563;\">{{post.name}}<br>{{post.address}}</p>\n"
	    "{{#unsubscribe_url}}<a href=\"{{unsubscribe_url}}\">Unsubscribe"
	    "</a>{{/unsubscribe_url}}\n",
	NULL
};

static const char *const golden_events[][2] = {
	{ "town-hall", "{\"v\":1,\"id\":\"g1\",\"type\":\"town-hall\","
	    "\"title\":{\"en\":\"Town hall <with> the \\\"Ambassador\\\" & "
	    "staff\",\"fr\":\"Réunion publique avec l'ambassadeur\"},"
	    "\"summary\":\"Questions & answers\",\"body\":\"Doors open at "
	    "17:30.\\nBring a valid ID.\",\"starts_at\":"
	    "\"2026-12-12T18:00:00+01:00\",\"ends_at\":"
	    "\"2026-12-12T20:00:00+01:00\",\"timezone\":\"Europe/Berlin\","
	    "\"location\":{\"name\":\"Embassy\",\"city\":\"Berlin\"},"
	    "\"links\":[{\"label\":\"Register\",\"url\":"
	    "\"https://x.example/r?a=1&b=2\"}]}" },
	{ "general", "{\"v\":1,\"id\":\"g2\",\"type\":\"general\","
	    "\"priority\":\"critical\",\"title\":{\"en\":\"Storm warning\","
	    "\"fr\":\"Alerte tempête\",\"ar\":\"تحذير من عاصفة\","
	    "\"am\":\"ማስጠንቀቂያ\"},\"summary\":{\"en\":\"Stay inside\","
	    "\"de\":\"Drinnen bleiben\"},\"starts_at\":"
	    "\"2026-07-04T09:05:00Z\"}" },
	{ "general", "{\"v\":1,\"id\":\"g3\",\"type\":\"general\","
	    "\"status\":\"exercise\",\"lang\":\"fr\",\"title\":\"Exercice "
	    "d'évacuation\",\"body\":\"Rendez-vous dans la cour.\\n"
	    "From 10:00.\"}" },
};

static const char *const golden_langs[] = { "en", "fr", "ar", "de,fr",
    "ti,am,en", "", "ar-u-nu-latn", "en-GB", "fr-CA,en", "am" };

static const char *const golden_names[] = { "Contact Number",
    "José Müller", "محمد", "O'Brien, \"Pat\"",
    "A rather long display name that will not fit on the header line",
    "=?utf-8?q?x?=" };

/* Digests of the messages before the optimisations (see above). */
static const char *const golden_digests[] = {
	"f3f536646fa9d666",
	"c3b31c3e7057c3bc",
	"22cd603c48892845",
	"aaf221128207f8e2",
	"6591803d5ed8045e",
	"f4fdfbf3f4b82424",
	"a6edd1c2b73a5a94",
	"58af1bef63a57399",
	"e3dce5c09fd05270",
	"ee5627326d8d6ab6",
	"c3729a85bb305a76",
	"cfe5c6b0652554e8",
	"f516ec0e606f8230",
	"2b429625bc31fb7b",
	"a3ac3f79e67a1305",
	"de2371ec6b9415e3",
	"be625bc23ec136ad",
	"e91d812c10c01b55",
	"48b5b3c0d1ae5317",
	"be392acbe74357f7",
	"697e3fb99b0a54fd",
	"d8b61217b374627c",
	"a5b71411d985c72f",
	"97d3bff34e347204",
	"38716c655bc836bb",
	"a0b4ea66bd530fdf",
	"f32bc0e21bb05b64",
	"291fe242f6118d06",
	"f45651522b939796",
	"10d49fcaed3efec2",
	"5acdd8975565a5b4",
	"92d2bcc4abe039ee",
	"94c4135f7e737ecc",
	"94664195bfb9c174",
	"aef477148d7edc3b",
	"56e6c801998987a5",
	"eb31964dc32c19e9",
	"a2ada52b71dfca78",
	"a5131c7377da8d1b",
	"be9c9a629e0bfb60",
	"72916934c73cf69e",
	"7ed174b8856d7802",
	"86c8c4e51a5d8cc8",
	"05ccac0ca5389f00",
	"9cdfc7cd3ff234d9",
	"7fd4c3ffb093edb2",
	"f268b02b2a3d32d4",
	"82b8ef900ef0a55f",
	"5605fd6ead35450b",
	"2a983c9fe1ec19fc",
	"5c75819e1106b08a",
	"a05f79627b20b740",
	"ef6768fa120a5c4f",
	"2b7c26e7dece7de4",
	"8ce3e64d82bb1bb9",
	"4b1ecd119e1a7380",
	"986bba6937300835",
	"29a52495b506a19b",
	"6c071e8d12dfaee2",
	"e39772aa978c98f2",
	NULL
};

static uint64_t
fnv64(uint64_t h, const void *p, size_t n)
{
	const unsigned char	*s = p;
	size_t			 i;

	for (i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h;
}

static void
test_golden(void **state)
{
	struct config		 cfg;
	struct cfg_post		 gpost = post;
	struct notice_in	 ni;
	struct render_out	 out;
	struct render_sets	*sets;
	struct event		 ev[3];
	struct buf		 msg;
	unsigned char		 secret[32];
	json_t			*contact, *a;
	char			 err[512], id[32], name[256], *dir, *dump;
	char			 tmp[64], *p, *save, hex[17];
	uint64_t		 h;
	size_t			 i, e, n = 0, ndig;
	int			 print = getenv("RENDER_GOLDEN_PRINT") != NULL;

	(void)state;
	dir = mkfix(golden_files);
	sets = render_load(dir, err, sizeof(err));
	if (sets == NULL)
		fail_msg("load: %s", err);
	for (e = 0; e < 3; e++)
		parse_event(golden_events[e][0], golden_events[e][1], "en",
		    &ev[e]);
	memset(&cfg, 0, sizeof(cfg));
	cfg.mail_from = "noreply@outreach.example.org";
	cfg.unsubscribe_url = "https://outreach.example.org/u?t=";
	cfg.unsubscribe_mailto = "unsubscribe@outreach.example.org";
	memset(secret, 7, sizeof(secret));
	render_out_init(&out);
	buf_init(&msg, 1024 * 1024);
	for (ndig = 0; golden_digests[ndig] != NULL; ndig++)
		;
	for (i = 0; i < 60; i++) {
		e = i % 3;
		snprintf(id, sizeof(id), "c-%zu", i);
		snprintf(name, sizeof(name), "%s %zu", golden_names[i % 6], i);
		contact = json_pack("{s:s,s:s,s:s}", "id", id, "name", name,
		    "email", "someone@example.org");
		assert_non_null(contact);
		if (i % 4 == 1)
			json_object_set_new(contact, "city",
			    json_string("Berlin"));
		a = json_array();
		snprintf(tmp, sizeof(tmp), "%s", golden_langs[i % 10]);
		save = NULL;
		for (p = strtok_r(tmp, ",", &save); p != NULL;
		    p = strtok_r(NULL, ",", &save))
			json_array_append_new(a, json_string(p));
		json_object_set_new(contact, "languages", a);
		/* Every third notice without the https URL. */
		cfg.unsubscribe_url = i % 3 == 2 ? NULL :
		    "https://outreach.example.org/u?t=";
		memset(&ni, 0, sizeof(ni));
		ni.cfg = &cfg;
		ni.secret = secret;
		ni.secretlen = sizeof(secret);
		ni.event = &ev[e];
		ni.topic = "embassy.ph.berlin.general";
		ni.post = &gpost;
		ni.contact = contact;
		ni.event_row = (int64_t)e + 1;
		ni.contact_row = (int64_t)i + 1;
		ni.date = 1796929200 + (time_t)i;
		if (notice_email(sets, &ni, &out, &msg, err, sizeof(err)) ==
		    -1)
			fail_msg("contact %zu: %s", i, err);
		h = fnv64(0xcbf29ce484222325ULL, msg.data, msg.len + 1);
		h = fnv64(h, out.subject.data, out.subject.len + 1);
		h = fnv64(h, out.text.data, out.text.len + 1);
		if (out.has_html)
			h = fnv64(h, out.html.data, out.html.len + 1);
		dump = json_dumps(out.context, JSON_SORT_KEYS | JSON_COMPACT);
		assert_non_null(dump);
		h = fnv64(h, dump, strlen(dump));
		free(dump);
		snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)h);
		if (print)
			printf("\t\"%s\",\n", hex);
		else if (i >= ndig || strcmp(hex, golden_digests[i]) != 0)
			fail_msg("contact %zu (%s, %s): the e-mail changed: "
			    "%s, was %s", i, golden_langs[i % 10],
			    golden_events[e][0], hex,
			    i < ndig ? golden_digests[i] : "(none)");
		n++;
		json_decref(contact);
	}
	assert_int_equal(n, 60);
	buf_free(&msg);
	render_out_free(&out);
	for (e = 0; e < 3; e++)
		event_clear(&ev[e]);
	render_free(sets);
	rm_tree(dir);
	free(dir);
}

/* notice.c makes the unsubscribe token and the Message-ID hash with a
 * keyed HMAC context of its own: they must be contact.c's, for secrets of
 * every accepted length (and the fallback past 64 bytes), across changes
 * of secret. */
static void
test_notice_tokens(void **state)
{
	static const size_t	 lens[] = { 16, 32, 64, 65, 200, 32, 16 };
	struct config		 cfg;
	struct notice_in	 ni;
	struct render_out	 out;
	struct event		 ev;
	struct buf		 msg;
	unsigned char		 secret[200];
	json_t			*contact;
	char			 err[512], token[CONTACT_TOKEN_SIZE];
	char			 hash[CONTACT_DELIVERY_HASH_SIZE], want[512];
	char			 id[32];
	size_t			 i, k;

	(void)state;
	parse_event("town-hall", "{\"v\":1,\"id\":\"t\",\"type\":"
	    "\"town-hall\",\"title\":\"x\"}", "en", &ev);
	memset(&cfg, 0, sizeof(cfg));
	cfg.mail_from = "noreply@outreach.example.org";
	cfg.unsubscribe_url = "https://outreach.example.org/u?t=";
	cfg.unsubscribe_mailto = "unsubscribe@outreach.example.org";
	render_out_init(&out);
	buf_init(&msg, 1024 * 1024);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
	for (k = 0; k < 5; k++) {
		memset(secret, (int)(i * 31 + 1), sizeof(secret));
		secret[0] = (unsigned char)i;
		snprintf(id, sizeof(id), k == 4 ? "c:%zu.x_y-%zu" : "c-%zu-%zu",
		    i, k);
		contact = json_pack("{s:s,s:s,s:[s]}", "id", id, "email",
		    "someone@example.org", "languages", "en");
		assert_non_null(contact);
		memset(&ni, 0, sizeof(ni));
		ni.cfg = &cfg;
		ni.secret = secret;
		ni.secretlen = lens[i];
		ni.event = &ev;
		ni.topic = "embassy.ph.berlin.town-hall";
		ni.post = &post;
		ni.contact = contact;
		ni.event_row = (int64_t)(i * 1000003 + 7);
		ni.contact_row = (int64_t)(k * 99991 + 1) << (k * 8);
		ni.date = 1796929200;
		if (notice_email(main_sets, &ni, &out, &msg, err,
		    sizeof(err)) == -1)
			fail_msg("secret %zu, contact %zu: %s", lens[i], k,
			    err);
		assert_int_equal(contact_token_make(secret, lens[i], id,
		    post.id, token, sizeof(token)), 0);
		assert_int_equal(contact_delivery_hash(secret, lens[i],
		    ni.event_row, ni.contact_row, "smtp", hash,
		    sizeof(hash)), 0);
		snprintf(want, sizeof(want), "<https://outreach.example.org/"
		    "u?t=%s>", token);
		assert_non_null(strstr(msg.data, want));
		snprintf(want, sizeof(want), "unsubscribe%%20%s>", token);
		assert_non_null(strstr(msg.data, want));
		snprintf(want, sizeof(want), "\r\nMessage-ID: <%s@outreach."
		    "example.org>\r\n", hash);
		assert_non_null(strstr(msg.data, want));
		/* The unsubscribe URL the webhook path uses carries the
		 * same token. */
		{
			struct buf	 url;

			buf_init(&url, 4096);
			assert_int_equal(notice_unsubscribe_url(&cfg, secret,
			    lens[i], id, post.id, &url), 0);
			snprintf(want, sizeof(want), "https://outreach.example"
			    ".org/u?t=%s", token);
			assert_string_equal(url.data, want);
			buf_free(&url);
		}
		json_decref(contact);
	}
	/* A contact id a token cannot carry: refused, named by id. */
	contact = json_pack("{s:s,s:s}", "id", "bad id", "email",
	    "someone@example.org");
	ni.contact = contact;
	assert_int_equal(notice_email(main_sets, &ni, &out, &msg, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "unsubscribe token"));
	json_decref(contact);
	buf_free(&msg);
	render_out_free(&out);
	event_clear(&ev);
}

/* The context's cached event part follows the event: a new event with the
 * same id (reparsed, perhaps at the same address) renders its own text. */
static void
test_event_cache(void **state)
{
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct event		 ev;
	json_t			*contact;
	char			 err[512], json[256];
	size_t			 i;

	(void)state;
	render_out_init(&out);
	contact = contact_with("en");
	for (i = 0; i < 40; i++) {
		snprintf(json, sizeof(json), "{\"v\":1,\"id\":\"same\","
		    "\"type\":\"town-hall\",\"title\":\"Title %zu\"}", i);
		parse_event("town-hall", json, "en", &ev);
		in.event = &ev;
		in.topic = "embassy.ph.berlin.town-hall";
		in.post = &post;
		in.contact = contact;
		assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
		    sizeof(err)), 0);
		snprintf(json, sizeof(json), "Town hall: Title %zu", i);
		assert_string_equal(out.subject.data, json);
		/* and again from the cache */
		assert_int_equal(render_notice(main_sets, &in, 0, &out, err,
		    sizeof(err)), 0);
		assert_string_equal(out.subject.data, json);
		event_clear(&ev);
	}
	json_decref(contact);
	render_out_free(&out);
}

/* The caches (the context's event and post parts, the look-up memo kept
 * across notices) against fresh sets for every notice, with the golden
 * templates (contact, post and unsubscribe_url in sections): more events
 * than event slots, more posts than post slots, a post-less notice, two
 * render_outs in turn.  Same subject, text, HTML and context. */
static void
test_cache_consistency(void **state)
{
	static const char *const langs[] = { "en", "fr,en", "ti,am,en",
	    "de,en-GB", "ar", "fr" };
	struct render_out	 out[2], cold_out;
	struct render_in	 in = { 0 };
	struct render_sets	*warm, *cold;
	struct cfg_post		 posts[6];
	struct event		 ev[20];
	json_t			*contact;
	char			 err[512], json[512], pid[6][16], *a, *b, *dir;
	size_t			 i, e, k;

	(void)state;
	dir = mkfix(golden_files);
	warm = render_load(dir, err, sizeof(err));
	assert_non_null(warm);
	for (e = 0; e < 20; e++) {
		snprintf(json, sizeof(json), "{\"v\":1,\"id\":\"e%zu\",\"type\":"
		    "\"%s\",\"title\":{\"en\":\"Title %zu\",\"fr\":\"Titre "
		    "%zu\"},\"summary\":\"S %zu\",\"starts_at\":"
		    "\"2026-12-%02zuT18:30:00+01:00\",\"timezone\":"
		    "\"Europe/Berlin\",\"links\":[{\"label\":\"L\",\"url\":"
		    "\"https://x.example/%zu\"}]}", e, e % 2 ? "town-hall" :
		    "general", e, e, e, e + 1, e);
		parse_event(e % 2 ? "town-hall" : "general", json, "en",
		    &ev[e]);
	}
	for (k = 0; k < 6; k++) {
		posts[k] = post;
		snprintf(pid[k], sizeof(pid[k]), "post-%zu", k);
		posts[k].id = pid[k];
		if (k % 2)
			posts[k].address = NULL;
	}
	render_out_init(&out[0]);
	render_out_init(&out[1]);
	render_out_init(&cold_out);
	for (i = 0; i < 90; i++) {
		e = (i * 7) % 20;
		contact = contact_with(langs[i % 6]);
		json_object_set_new(contact, "name", json_string(i % 3 ?
		    "Ann <&>" : "Bob"));
		if (i % 5 == 2)
			json_object_del(contact, "city");
		in.event = &ev[e];
		in.topic = "embassy.ph.berlin.general";
		in.post = i % 17 == 5 ? NULL : &posts[(i / 3) % 6];
		in.contact = contact;
		in.unsubscribe_url = i % 4 ? "https://u.example/t/abc" : NULL;
		if (render_notice(warm, &in, 0, &out[i % 2], err,
		    sizeof(err)) == -1)
			fail_msg("warm %zu: %s", i, err);
		cold = render_load(dir, err, sizeof(err));
		assert_non_null(cold);
		if (render_notice(cold, &in, 0, &cold_out, err,
		    sizeof(err)) == -1)
			fail_msg("cold %zu: %s", i, err);
		assert_string_equal(out[i % 2].subject.data,
		    cold_out.subject.data);
		assert_string_equal(out[i % 2].text.data, cold_out.text.data);
		assert_int_equal(out[i % 2].has_html, cold_out.has_html);
		if (cold_out.has_html)
			assert_string_equal(out[i % 2].html.data,
			    cold_out.html.data);
		assert_string_equal(out[i % 2].content_language,
		    cold_out.content_language);
		a = json_dumps(out[i % 2].context, JSON_SORT_KEYS);
		b = json_dumps(cold_out.context, JSON_SORT_KEYS);
		assert_non_null(a);
		assert_non_null(b);
		assert_string_equal(a, b);
		free(a);
		free(b);
		render_out_free(&cold_out);
		render_out_init(&cold_out);
		render_free(cold);
		json_decref(contact);
	}
	render_out_free(&out[0]);
	render_out_free(&out[1]);
	render_out_free(&cold_out);
	for (e = 0; e < 20; e++)
		event_clear(&ev[e]);
	render_free(warm);
	rm_tree(dir);
	free(dir);
}

/* ---- throughput (printed, not asserted) ---- */

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_throughput(void **state)
{
	struct render_out	 out;
	struct render_in	 in = { 0 };
	struct render_mail	 m;
	struct event		 ev;
	struct buf		 msg;
	json_t			*contacts[4];
	char			 err[512];
	double			 t0, t;
	long			 i, n;

	(void)state;
	n = getenv("RENDER_BENCH_N") ? atol(getenv("RENDER_BENCH_N")) : 20000;
	parse_event("town-hall", "{\"v\":1,\"id\":\"e1\",\"type\":"
	    "\"town-hall\",\"title\":{\"en\":\"Town hall with the "
	    "ambassador\",\"fr\":\"Réunion publique\"},\"summary\":\"Questions "
	    "and answers on consular services\",\"body\":\"Dear compatriots,"
	    "\\n\\nThe embassy invites you to a town hall meeting.\\n"
	    "Bring your passport.\\n\",\"starts_at\":"
	    "\"2026-12-12T18:30:00+01:00\",\"ends_at\":"
	    "\"2026-12-12T20:30:00+01:00\",\"timezone\":\"Europe/Berlin\","
	    "\"location\":{\"name\":\"Embassy hall\",\"city\":\"Berlin\"},"
	    "\"links\":[{\"label\":\"Register\",\"url\":"
	    "\"https://x.example/r\"}]}", "en", &ev);
	contacts[0] = contact_with("en");
	contacts[1] = contact_with("fr,en");
	contacts[2] = contact_with("ti,am,en");
	contacts[3] = contact_with("de,en-GB");
	in.event = &ev;
	in.topic = "embassy.ph.berlin.town-hall";
	in.post = &post;
	in.unsubscribe_url = "https://u.example/t/abc";
	fill_mail(&m);
	render_out_init(&out);
	buf_init(&msg, 1024 * 1024);
	t0 = now();
	for (i = 0; i < n; i++) {
		in.contact = contacts[i & 3];
		if (render_notice(main_sets, &in, 0, &out, err,
		    sizeof(err)) == -1)
			fail_msg("%s", err);
		buf_reset(&msg);
		if (render_email(&out, &m, &msg, err, sizeof(err)) == -1)
			fail_msg("%s", err);
	}
	t = now() - t0;
	printf("render: %ld notices (subject, text, html, MIME) in %.3f s: "
	    "%.0f notices/s\n", n, t, (double)n / t);
	for (i = 0; i < 4; i++)
		json_decref(contacts[i]);
	buf_free(&msg);
	event_clear(&ev);
	render_out_free(&out);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_selection),
		cmocka_unit_test(test_per_text),
		cmocka_unit_test(test_flags_in_context),
		cmocka_unit_test(test_rtl),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_privacy),
		cmocka_unit_test(test_subject_lines),
		cmocka_unit_test(test_render_errors),
		cmocka_unit_test(test_email),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_notice_tokens),
		cmocka_unit_test(test_event_cache),
		cmocka_unit_test(test_cache_consistency),
		cmocka_unit_test(test_throughput),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
