/* test_template.c - the Mustache engine: the official spec files (read at
 * run time from MUSTACHE_SPEC_DIR or ../shared/mustache-spec), then our own
 * tables: compile errors with positions, rendering, number formatting,
 * limits (output size, depth, steps), strict partials, look-ups through
 * the memo (similar and long keys, one memo across templates) and a
 * registry of many partials. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "template.h"

/* ---- the official spec ---- */

static int
is_dir(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Find the spec directory; 0 when found. */
static int
spec_dir(char *out, size_t outlen)
{
	const char	*env = getenv("MUSTACHE_SPEC_DIR");
	char		 exe[PATH_MAX], *slash;
	ssize_t		 n;

	if (env != NULL && *env != '\0') {
		snprintf(out, outlen, "%s", env);
		return is_dir(out) ? 0 : -1;
	}
	snprintf(out, outlen, "../shared/mustache-spec");
	if (is_dir(out))
		return 0;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL)
			*slash = '\0';
		n = snprintf(out, outlen, "%s/../../../shared/mustache-spec",
		    exe);
		if (n > 0 && (size_t)n < outlen && is_dir(out))
			return 0;
	}
	return -1;
}

static int
json_file(const struct dirent *d)
{
	size_t	n = strlen(d->d_name);

	return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static void
print_quoted(const char *label, const char *s, size_t len)
{
	json_t	*j = json_stringn(s, len);
	char	*q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;

	printf("    %s %s\n", label, q ? q : "(unprintable)");
	free(q);
	json_decref(j);
}

/* Run one spec test; 1 when it passed. */
static int
spec_one(const char *file, json_t *test)
{
	const char			*name, *key, *tsrc, *expected;
	json_t				*partials, *v;
	struct template			*t = NULL;
	struct template_partials	*p;
	struct template_error		 err;
	struct buf			 out;
	int				 ok = 0;

	name = json_string_value(json_object_get(test, "name"));
	tsrc = json_string_value(json_object_get(test, "template"));
	expected = json_string_value(json_object_get(test, "expected"));
	if (name == NULL || tsrc == NULL || expected == NULL) {
		printf("  %s: malformed test\n", file);
		return 0;
	}
	buf_init(&out, 0);
	p = template_partials_new();
	assert_non_null(p);
	partials = json_object_get(test, "partials");
	json_object_foreach(partials, key, v) {
		if (template_partials_add(p, key, template_compile(
		    json_string_value(v), json_string_length(v), key, &err),
		    &err) == -1) {
			printf("  %s: %s: partial: %s\n", file, name,
			    err.message);
			goto out;
		}
	}
	if ((t = template_compile(tsrc, strlen(tsrc), name, &err)) == NULL) {
		printf("  %s: %s: compile: %s\n", file, name, err.message);
		goto out;
	}
	if (template_render(t, json_object_get(test, "data"), p, 0, &out,
	    &err) == -1) {
		printf("  %s: %s: render: %s\n", file, name, err.message);
		goto out;
	}
	if (out.len != strlen(expected) ||
	    memcmp(out.data ? out.data : "", expected, out.len) != 0) {
		printf("  %s: %s: mismatch\n", file, name);
		print_quoted("expected", expected, strlen(expected));
		print_quoted("got     ", out.data ? out.data : "", out.len);
		goto out;
	}
	ok = 1;
out:
	template_free(t);
	template_partials_free(p);
	buf_free(&out);
	return ok;
}

static void
test_spec(void **state)
{
	struct dirent	**names = NULL;
	json_error_t	  jerr;
	json_t		 *doc, *tests, *test;
	char		  dir[PATH_MAX], path[PATH_MAX + 256];
	size_t		  i;
	int		  n, k, total = 0, passed = 0;

	(void)state;
	if (spec_dir(dir, sizeof(dir)) == -1) {
		printf("mustache spec: directory not found, skipped\n");
		skip();
	}
	n = scandir(dir, &names, json_file, alphasort);
	assert_true(n >= 0);
	for (k = 0; k < n; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[k]->d_name);
		doc = json_load_file(path, 0, &jerr);
		if (doc == NULL) {
			printf("  %s: %s\n", path, jerr.text);
			total++;
			free(names[k]);
			continue;
		}
		tests = json_object_get(doc, "tests");
		json_array_foreach(tests, i, test) {
			total++;
			passed += spec_one(names[k]->d_name, test);
		}
		json_decref(doc);
		free(names[k]);
	}
	free(names);
	printf("mustache spec: %d/%d passed\n", passed, total);
	assert_true(total > 0);
	assert_int_equal(passed, total);
}

/* ---- compile errors ---- */

static const struct {
	const char	*src;
	int		 line, column;
	const char	*msg;		/* a part of the message */
} compile_errors[] = {
	{ "{{#a}}\nx", 1, 1, "section 'a' is never closed" },
	{ "x\n  {{#a}}\n  {{#b}}{{/b}}\n", 2, 3, "section 'a' is never closed" },
	{ "ab\n  {{#a}}{{/b}}", 2, 9,
	  "closing tag 'b' does not match section 'a' opened at line 2, column 3" },
	{ "x{{/a}}", 1, 2, "closing tag 'a' without an open section" },
	{ "{{#a}}{{/a}}{{/a}}", 1, 13, "without an open section" },
	{ "line\n{{ name", 2, 1, "unclosed tag: '{{' without '}}'" },
	{ "x {{{name}}", 1, 3, "unclosed tag: '{{{' without '}}}'" },
	{ "{{=<% %>=}}\n<% name", 2, 1, "unclosed tag: '<%' without '%>'" },
	{ "{{=<% %>}}", 1, 1, "bad set-delimiter tag: it must end with '=}}'" },
	{ "{{=<%%>=}}", 1, 1, "bad set-delimiter tag: expected two" },
	{ "{{=<% % %>=}}", 1, 1, "bad set-delimiter tag: expected two" },
	{ "{{= =}}", 1, 1, "bad set-delimiter tag: expected two" },
	{ "{{=a= b=}}", 1, 1, "'=' inside a delimiter" },
	{ "{{=", 1, 1, "unclosed tag" },
	{ "a {{ }}", 1, 3, "empty tag name" },
	{ "{{#}}{{/}}", 1, 1, "empty tag name" },
	{ "{{>  }}", 1, 1, "empty tag name" },
	{ "{{{ }}}", 1, 1, "empty tag name" },
	{ "{{a b}}", 1, 1, "tag name 'a b' contains whitespace" },
	{ "{{a..b}}", 1, 1, "tag name 'a..b' has an empty part" },
	{ "{{#.a}}{{/.a}}", 1, 1, "has an empty part" },
	{ "\xc3\xa9t\xc3\xa9 {{#x}}", 1, 5, "section 'x' is never closed" },
	{ "ab\n\xff", 2, 1, "invalid UTF-8" },
	{ "ab\xc3\x28", 1, 3, "invalid UTF-8" },
	{ "{{<parent}}{{/parent}}", 1, 1, "not supported" },
};

static void
test_compile_errors(void **state)
{
	struct template_error	 err;
	struct template		*t;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(compile_errors) / sizeof(compile_errors[0]);
	    i++) {
		t = template_compile(compile_errors[i].src,
		    strlen(compile_errors[i].src), "t.mustache", &err);
		if (t != NULL || err.line != compile_errors[i].line ||
		    err.column != compile_errors[i].column ||
		    strstr(err.message, compile_errors[i].msg) == NULL ||
		    strncmp(err.message, "t.mustache:", 11) != 0) {
			printf("case %zu %s: got %d:%d \"%s\"\n", i,
			    compile_errors[i].src, err.line, err.column,
			    err.message);
			template_free(t);
			fail();
		}
	}

	/* A NUL byte, and sections nested too deep. */
	t = template_compile("ab\0cd", 5, NULL, &err);
	assert_null(t);
	assert_string_equal(err.message, "template:1:3: NUL byte in template");
	{
		struct buf	b;
		int		k;

		buf_init(&b, 0);
		for (k = 0; k <= TEMPLATE_MAX_DEPTH; k++)
			buf_adds(&b, "{{#a}}");
		for (k = 0; k <= TEMPLATE_MAX_DEPTH; k++)
			buf_adds(&b, "{{/a}}");
		t = template_compile(b.data, b.len, "deep", &err);
		assert_null(t);
		assert_non_null(strstr(err.message, "nested deeper than 64"));
		assert_int_equal(err.column, 6 * TEMPLATE_MAX_DEPTH + 1);
		/* One level less compiles. */
		t = template_compile(b.data + 6, b.len - 12, "deep", &err);
		assert_non_null(t);
		template_free(t);
		buf_free(&b);
	}
}

/* ---- rendering ---- */

struct partial_def {
	const char	*name;
	const char	*src;
};

static const struct {
	const char		*src;
	const char		*data;		/* JSON */
	int			 flags;
	struct partial_def	 partials[3];
	const char		*expected;
} renders[] = {
	/* escaping */
	{ "{{x}}", "{\"x\": \"<a href=\\\"'&'\\\">\"}", 0, {{0}},
	  "&lt;a href=&quot;&#39;&amp;&#39;&quot;&gt;" },
	{ "{{{x}}}|{{&x}}|{{& x }}", "{\"x\": \"<&\\\"'>\"}", 0, {{0}},
	  "<&\"'>|<&\"'>|<&\"'>" },
	{ "{{x}}", "{\"x\": \"a & b\"}", TEMPLATE_RAW, {{0}}, "a & b" },
	{ "{{=<% %>=}}<%{x}%><%x%>", "{\"x\": \"<\"}", 0, {{0}}, "<&lt;" },
	{ "{{x}}", "{\"x\": \"Gr\xc3\xbc\xc3\x9f""e \xe6\x97\xa5\"}", 0, {{0}},
	  "Gr\xc3\xbc\xc3\x9f""e \xe6\x97\xa5" },
	/* scalars */
	{ "{{t}} {{f}} {{n}} {{o}} {{a}} {{i}} {{r}}",
	  "{\"t\": true, \"f\": false, \"n\": null, \"o\": {\"k\": 1}, "
	  "\"a\": [1], \"i\": -7, \"r\": 2.5}", 0, {{0}},
	  "true false    -7 2.5" },
	/* truthiness: "" and [] falsey, 0 and {} truthy */
	{ "{{#s}}S{{/s}}{{^s}}s{{/s}}{{#l}}L{{/l}}{{^l}}l{{/l}}"
	  "{{#z}}Z{{/z}}{{#o}}O{{/o}}",
	  "{\"s\": \"\", \"l\": [], \"z\": 0, \"o\": {}}", 0, {{0}}, "slZO" },
	{ "{{#list}}{{.}}{{sep}}{{/list}}", "{\"list\": [1, 2], \"sep\": \",\"}",
	  0, {{0}}, "1,2," },
	{ "{{a.b}}|{{a.b.c}}", "{\"a\": \"str\"}", 0, {{0}}, "|" },
	{ "{{#a}}{{b}}{{/a}}", "{\"a\": {\"b\": null}, \"b\": \"outer\"}", 0,
	  {{0}}, "" },
	{ "x{{.}}y", NULL, 0, {{0}}, "xy" },
	/* CRLF line ends and standalone tags */
	{ "Dear {{name}},\r\n{{#items}}\r\n  - {{.}}\r\n{{/items}}\r\n"
	  "  {{! a note }}\r\n{{^none}}\r\nBye\r\n{{/none}}\r\n",
	  "{\"name\": \"N\", \"items\": [\"a\", \"b\"]}", 0, {{0}},
	  "Dear N,\r\n  - a\r\n  - b\r\nBye\r\n" },
	{ "a\r\n  {{>p}}\r\nb", "{}", 0, {{ "p", "1\r\n2\r\n" }},
	  "a\r\n  1\r\n  2\r\nb" },
	/* indentation of standalone partials, nested */
	{ "  {{>outer}}\n", "{}", 0,
	  {{ "outer", "a\n  {{>inner}}\nb\n" }, { "inner", "x\ny\n" }},
	  "  a\n    x\n    y\n  b\n" },
	/* inline partial: no indentation; a line start before a tag */
	{ " {{>p}}|\n", "{\"v\": 1}", 0, {{ "p", "x\n{{v}}\n" }},
	  " x\n1\n|\n" },
	{ "  {{>p}}\n", "{\"v\": 1, \"s\": true}", 0,
	  {{ "p", "{{v}}\n{{#s}}A\n{{/s}}B\n{{^s}}no{{/s}}\n" }},
	  "  1\n  A\n  B\n  \n" },
	/* partial names are not split at dots; recursion */
	{ "{{>foot.en}}", "{\"x\": \"X\"}", 0, {{ "foot.en", "[{{x}}]" }},
	  "[X]" },
	{ "{{>node}}", "{\"n\": \"a\", \"kids\": [{\"n\": \"b\", \"kids\": "
	  "[{\"n\": \"c\", \"kids\": []}]}, {\"n\": \"d\", \"kids\": []}]}", 0,
	  {{ "node", "{{n}}({{#kids}}{{>node}}{{/kids}})" }}, "a(b(c())d())" },
	{ "[{{>missing}}]", "{}", 0, {{0}}, "[]" },
};

static json_t *
load_json(const char *s)
{
	json_error_t	 jerr;
	json_t		*j;

	if (s == NULL)
		return NULL;
	j = json_loads(s, JSON_DECODE_ANY, &jerr);
	if (j == NULL)
		printf("bad test JSON %s: %s\n", s, jerr.text);
	assert_non_null(j);
	return j;
}

static struct template_partials *
make_partials(const struct partial_def *defs, size_t n)
{
	struct template_partials	*p;
	struct template_error		 err;
	size_t				 i;

	p = template_partials_new();
	assert_non_null(p);
	for (i = 0; i < n && defs[i].name != NULL; i++) {
		if (template_partials_add(p, defs[i].name,
		    template_compile(defs[i].src, strlen(defs[i].src),
		    defs[i].name, &err), &err) == -1) {
			printf("partial %s: %s\n", defs[i].name, err.message);
			fail();
		}
	}
	return p;
}

static void
test_render(void **state)
{
	struct template_partials	*p;
	struct template_error		 err;
	struct template			*t;
	struct buf			 out;
	json_t				*data;
	size_t				 i;

	(void)state;
	for (i = 0; i < sizeof(renders) / sizeof(renders[0]); i++) {
		p = make_partials(renders[i].partials, 3);
		data = load_json(renders[i].data);
		t = template_compile(renders[i].src, strlen(renders[i].src),
		    "t", &err);
		if (t == NULL) {
			printf("case %zu: %s\n", i, err.message);
			fail();
		}
		buf_init(&out, 0);
		if (template_render(t, data, p, renders[i].flags, &out,
		    &err) == -1) {
			printf("case %zu: %s\n", i, err.message);
			fail();
		}
		if (strcmp(out.data ? out.data : "", renders[i].expected) != 0) {
			printf("case %zu: %s\n", i, renders[i].src);
			print_quoted("expected", renders[i].expected,
			    strlen(renders[i].expected));
			print_quoted("got     ", out.data ? out.data : "",
			    out.len);
			fail();
		}
		/* Rendering twice gives the same (nothing is consumed). */
		buf_reset(&out);
		assert_int_equal(template_render(t, data, p, renders[i].flags,
		    &out, &err), 0);
		assert_string_equal(out.data ? out.data : "",
		    renders[i].expected);
		buf_free(&out);
		template_free(t);
		template_partials_free(p);
		json_decref(data);
	}
}

/* ---- numbers ---- */

static const struct {
	const char	*json;
	const char	*expected;
} numbers[] = {
	{ "1.21", "1.21" },
	{ "0.1", "0.1" },
	{ "1e21", "1e+21" },
	{ "1e20", "100000000000000000000" },
	{ "1e-7", "1e-7" },
	{ "0.000001", "0.000001" },
	{ "-0.0", "-0" },
	{ "0.0", "0" },
	{ "123", "123" },
	{ "123.0", "123" },
	{ "9007199254740992", "9007199254740992" },
	{ "9007199254740992.0", "9007199254740992" },
	{ "3.14159", "3.14159" },
	{ "-2.5e-5", "-0.000025" },
	{ "1.5e300", "1.5e+300" },
	{ "5e-324", "5e-324" },
	{ "1.7976931348623157e308", "1.7976931348623157e+308" },
	{ "0.30000000000000004", "0.30000000000000004" },
	{ "-9223372036854775808", "-9223372036854775808" },
	{ "9223372036854775807", "9223372036854775807" },
};

static void
test_numbers(void **state)
{
	char	 out[TEMPLATE_NUMBER_MAX];
	json_t	*v;
	size_t	 i;
	int	 n;

	(void)state;
	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		v = load_json(numbers[i].json);
		n = template_format_number(v, out, sizeof(out));
		if (n < 0 || strcmp(out, numbers[i].expected) != 0 ||
		    (size_t)n != strlen(out)) {
			printf("%s: got %d \"%s\"\n", numbers[i].json, n,
			    n < 0 ? "" : out);
			fail();
		}
		if (json_is_real(v))
			assert_true(strtod(out, NULL) == json_real_value(v));
		json_decref(v);
	}
	/* Not a number; too small a buffer. */
	v = json_string("1");
	assert_int_equal(template_format_number(v, out, sizeof(out)), -1);
	json_decref(v);
	v = json_real(1.21);
	assert_int_equal(template_format_number(v, out, 4), -1);
	assert_int_equal(template_format_number(v, out, 5), 4);
	json_decref(v);
	v = json_integer(12345);
	assert_int_equal(template_format_number(v, out, 5), -1);
	json_decref(v);
}

/* ---- limits ---- */

static int
render_str(const char *src, const char *data, const struct partial_def *defs,
    size_t ndefs, int flags, size_t max, struct buf *out,
    struct template_error *err)
{
	struct template_partials	*p;
	struct template			*t;
	json_t				*j;
	int				 rc;

	p = make_partials(defs, ndefs);
	j = load_json(data);
	t = template_compile(src, strlen(src), "lim", err);
	assert_non_null(t);
	buf_init(out, max);
	rc = template_render(t, j, p, flags, out, err);
	template_free(t);
	template_partials_free(p);
	json_decref(j);
	return rc;
}

static void
test_limits(void **state)
{
	static const struct partial_def	 rec[] = {{ "r", "x{{>r}}" }};
	static const struct partial_def	 tree[] = {
		{ "node", "{{#kid}}{{>node}}{{/kid}}" } };
	static const struct partial_def	 wide[] = {
		{ "w", "{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}" } };
	struct template_error		 err;
	struct buf			 out;
	json_t				*j, *cur, *kid;
	struct template			*t;
	struct template_partials	*p;
	char				 big[200];
	int				 k;

	(void)state;
	/* Output over the buffer's maximum is an error, not a crash. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(render_str("{{x}}{{x}}", "{\"x\": \"0123456789\"}",
	    NULL, 0, 0, 15, &out, &err), -1);
	assert_string_equal(err.message, "lim: output exceeds the limit of "
	    "15 bytes");
	assert_true(out.len <= 15);
	buf_free(&out);
	assert_int_equal(render_str(big, "{}", NULL, 0, 0, 100, &out, &err),
	    -1);
	buf_free(&out);
	assert_int_equal(render_str("{{#l}}&{{/l}}", "{\"l\": [1,2,3,4]}",
	    NULL, 0, 0, 4, &out, &err), 0);
	assert_string_equal(out.data, "&&&&");
	buf_free(&out);

	/* Infinite recursion is bounded. */
	assert_int_equal(render_str("{{>r}}", "{}", rec, 1, 0, 0, &out, &err),
	    -1);
	assert_string_equal(err.message, "r:1:2: partials nested deeper than "
	    "64 levels at 'r' (recursive partial?)");
	buf_free(&out);

	/* Data nested deeper than the limit, through a recursive partial. */
	j = json_object();
	cur = j;
	for (k = 0; k < 40; k++) {
		kid = json_object();
		json_object_set_new(cur, "kid", kid);
		cur = kid;
	}
	t = template_compile("{{>node}}", 9, "tree", &err);
	p = make_partials(tree, 1);
	buf_init(&out, 0);
	assert_int_equal(template_render(t, j, p, 0, &out, &err), -1);
	assert_non_null(strstr(err.message, "nested deeper than 64"));
	/* 30 levels (61 of sections and partials) are fine.  The leaf says
	 * kid: null, else the lookup would find its parent's kid. */
	json_decref(j);
	j = json_object();
	cur = j;
	for (k = 0; k < 30; k++) {
		kid = json_object();
		json_object_set_new(cur, "kid", kid);
		cur = kid;
	}
	json_object_set_new(cur, "kid", json_null());
	assert_int_equal(template_render(t, j, p, 0, &out, &err), 0);
	json_decref(j);
	template_free(t);
	template_partials_free(p);
	buf_free(&out);

	/* Sections over long lists are bounded by the step limit. */
	j = json_array();
	for (k = 0; k < 100; k++)
		json_array_append_new(j, json_integer(k));
	t = template_compile("{{>w}}", 6, "steps", &err);
	p = make_partials(wide, 1);
	cur = json_pack("{s:o}", "l", j);
	buf_init(&out, 0);
	assert_int_equal(template_render(t, cur, p, 0, &out, &err), -1);
	assert_non_null(strstr(err.message, "more than 1000000 steps"));
	json_decref(cur);
	template_free(t);
	template_partials_free(p);
	buf_free(&out);
}

/* ---- strict partials ---- */

static void
test_strict_partials(void **state)
{
	static const struct partial_def	 defs[] = {
		{ "ok", "fine" }, { "bad", "x\n {{> gone }}" } };
	struct template_partials	*p;
	struct template_error		 err;
	struct template			*t;
	struct buf			 out;

	(void)state;
	p = make_partials(defs, 2);
	t = template_compile("a {{>ok}}\n  {{>missing}}\n", 25, "main.txt",
	    &err);
	assert_non_null(t);
	assert_int_equal(template_check_partials(t, p, &err), -1);
	assert_string_equal(err.message, "main.txt:2:3: missing partial "
	    "'missing'");
	assert_int_equal(err.line, 2);
	assert_int_equal(err.column, 3);
	assert_int_equal(template_partials_check(p, &err), -1);
	assert_string_equal(err.message, "bad:2:2: missing partial 'gone'");

	/* Lenient render: empty; strict render: an error. */
	buf_init(&out, 0);
	assert_int_equal(template_render(t, NULL, p, 0, &out, &err), 0);
	assert_string_equal(out.data, "a fine\n");
	buf_reset(&out);
	assert_int_equal(template_render(t, NULL, p, TEMPLATE_STRICT, &out,
	    &err), -1);
	assert_string_equal(err.message, "main.txt:2:3: missing partial "
	    "'missing'");
	buf_free(&out);
	template_free(t);

	/* A template whose partials all exist passes. */
	t = template_compile("{{>ok}}", 7, "good", &err);
	assert_int_equal(template_check_partials(t, p, &err), 0);
	template_free(t);

	/* Duplicate and empty names; a failed compile passes through. */
	assert_int_equal(template_partials_add(p, "ok",
	    template_compile("x", 1, "ok2", &err), &err), -1);
	assert_string_equal(err.message, "ok2: duplicate partial 'ok'");
	assert_int_equal(template_partials_add(p, "",
	    template_compile("x", 1, "e", &err), &err), -1);
	assert_string_equal(err.message, "e: empty partial name");
	assert_int_equal(template_partials_add(p, "broken",
	    template_compile("{{#x}}", 6, "broken.mustache", &err), &err), -1);
	assert_string_equal(err.message, "broken.mustache:1:1: section 'x' "
	    "is never closed");
	assert_null(template_partials_get(p, "broken"));
	assert_non_null(template_partials_get(p, "ok"));
	template_partials_free(p);
	template_partials_free(NULL);
	template_free(NULL);
}

/* ---- look-ups: the memo, long and similar keys, many partials ---- */

/*
 * Names sharing their first 8 bytes, of 7, 8 and 9 bytes, dotted and in
 * sections; a context of 700 keys so that look-ups share memo slots; one
 * memo across templates and contexts (cleared in between) must give what
 * a fresh render gives.
 */
static void
test_lookups(void **state)
{
	static const char *const src[] = {
		"{{abcdefg}}|{{abcdefgh}}|{{abcdefghi}}|{{abcdefghj}}|"
		    "{{abcdefgh.abcdefghi}}|{{#abcdefgh}}{{abcdefghj}}"
		    "{{abcdefghi}}{{/abcdefgh}}|"
		    "{{^abcdefghk}}none{{/abcdefghk}}",
		"{{#list}}{{abcdefgh.abcdefghi}}{{abcdefg}}{{.}},{{/list}}",
		"{{k0}}{{k1}}{{k699}}{{k350}}{{k7}}{{k70}}{{k700}}{{#k5}}"
		    "{{k6}}{{/k5}}{{a.b.c.d}}",
	};
	struct template_memo	*memo;
	struct template_error	 err;
	struct template		*t[3];
	struct buf		 a, b;
	json_t			*ctx[3];
	char			 key[16];
	size_t			 i, j, k, round;

	(void)state;
	ctx[0] = json_pack("{s:s, s:{s:s, s:i}, s:s, s:s, s:[s,s]}",
	    "abcdefg", "7", "abcdefgh", "abcdefghi", "8.9", "abcdefghj", 89,
	    "abcdefghi", "9", "abcdefghj", "9j", "list", "x", "y");
	ctx[1] = json_pack("{s:s, s:{s:s}, s:s, s:[i,{s:s}]}", "abcdefg",
	    "seven", "abcdefgh", "abcdefghi", "nine", "abcdefghi", "top",
	    "list", 1, "abcdefg", "inner");
	ctx[2] = json_object();
	for (i = 0; i < 700; i++) {
		snprintf(key, sizeof(key), "k%zu", i);
		json_object_set_new(ctx[2], key, json_integer((json_int_t)i));
	}
	json_object_set_new(ctx[2], "a", json_pack("{s:{s:{s:s}}}", "b", "c",
	    "d", "deep"));
	for (i = 0; i < 3; i++) {
		t[i] = template_compile(src[i], strlen(src[i]), "t", &err);
		assert_non_null(t[i]);
	}
	assert_non_null(memo = template_memo_new());
	buf_init(&a, 0);
	buf_init(&b, 0);
	for (round = 0; round < 2; round++)
	for (j = 0; j < 3; j++) {
		template_memo_clear(memo);
		for (k = 0; k < 3; k++) {
			i = (k + j + round) % 3;
			buf_reset(&a);
			buf_reset(&b);
			assert_int_equal(template_render(t[i], ctx[j], NULL, 0,
			    &a, &err), 0);
			assert_int_equal(template_render_memo(t[i], ctx[j],
			    NULL, 0, memo, &b, &err), 0);
			buf_add(&a, "", 0);
			buf_add(&b, "", 0);
			assert_string_equal(a.data, b.data);
		}
	}
	/* What the names give. */
	buf_reset(&a);
	assert_int_equal(template_render(t[0], ctx[0], NULL, 0, &a, &err), 0);
	assert_string_equal(a.data, "7||9|9j|8.9|898.9|none");
	buf_reset(&a);
	assert_int_equal(template_render(t[1], ctx[1], NULL, 0, &a, &err), 0);
	assert_string_equal(a.data, "nineseven1,nineinner,");
	buf_reset(&a);
	assert_int_equal(template_render(t[2], ctx[2], NULL, 0, &a, &err), 0);
	assert_string_equal(a.data, "016993507706deep");
	/* Forgetting an object: a change to it shows at the next render,
	 * whether few or more look-ups than the memo logs were made. */
	for (round = 0; round < 2; round++) {
		struct template	*big;
		struct buf	 bsrc;
		const json_t	*forget[1] = { ctx[2] };

		buf_init(&bsrc, 0);
		for (i = 0; i < (round ? 300 : 3); i++)
			buf_printf(&bsrc, "{{k%zu}},", i);
		big = template_compile(bsrc.data, bsrc.len, "big", &err);
		assert_non_null(big);
		template_memo_clear(memo);
		buf_reset(&b);
		assert_int_equal(template_render_memo(big, ctx[2], NULL, 0,
		    memo, &b, &err), 0);
		/* The last name looked up, past what the log holds in the
		 * second round. */
		k = round ? 299 : 2;
		snprintf(key, sizeof(key), "k%zu", k);
		json_object_set_new(ctx[2], key, json_string("changed"));
		template_memo_forget(memo, forget, 1);
		template_memo_forget(memo, NULL, 0);
		buf_reset(&b);
		assert_int_equal(template_render_memo(big, ctx[2], NULL, 0,
		    memo, &b, &err), 0);
		buf_add(&b, "", 0);
		assert_non_null(strstr(b.data, round ? ",298,changed," :
		    "0,1,changed,"));
		json_object_set_new(ctx[2], key, json_integer((json_int_t)k));
		template_free(big);
		buf_free(&bsrc);
	}
	buf_free(&a);
	buf_free(&b);
	template_memo_free(memo);
	template_memo_free(NULL);
	template_memo_clear(NULL);
	template_memo_forget(NULL, NULL, 0);
	for (i = 0; i < 3; i++) {
		template_free(t[i]);
		json_decref(ctx[i]);
	}
}

/* A registry of many partials (its index is rebuilt at each add). */
static void
test_many_partials(void **state)
{
	struct template_partials	*p;
	struct template_error		 err;
	struct template			*t;
	struct buf			 out;
	char				 name[32], src[64], want[8192];
	size_t				 i, n = 0;

	(void)state;
	assert_non_null(p = template_partials_new());
	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "p-%zu", (i * 7919) % 300);
		snprintf(src, sizeof(src), "[%s]", name);
		assert_int_equal(template_partials_add(p, name,
		    template_compile(src, strlen(src), name, &err), &err), 0);
	}
	buf_init(&out, 0);
	want[0] = '\0';
	for (i = 0; i < 300; i += 7) {
		snprintf(name, sizeof(name), "p-%zu", i);
		assert_non_null(template_partials_get(p, name));
		snprintf(src, sizeof(src), "{{>%s}}", name);
		t = template_compile(src, strlen(src), "main", &err);
		assert_non_null(t);
		assert_int_equal(template_check_partials(t, p, &err), 0);
		assert_int_equal(template_render(t, NULL, p, TEMPLATE_STRICT,
		    &out, &err), 0);
		n += (size_t)snprintf(want + n, sizeof(want) - n, "[%s]",
		    name);
		template_free(t);
	}
	buf_add(&out, "", 0);
	assert_string_equal(out.data, want);
	assert_null(template_partials_get(p, "p-300"));
	assert_null(template_partials_get(p, "p-"));
	assert_null(template_partials_get(p, NULL));
	buf_free(&out);
	template_partials_free(p);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_strict_partials),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_many_partials),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
