/* fuzz_template.c - libFuzzer target for the Mustache engine.  Input: a
 * template, optionally followed by a NUL byte and a JSON context (else a
 * fixed context).  It is compiled, checked, and rendered escaped and raw
 * with fixed partials plus itself as partial "self" into a 1 MiB buffer;
 * rendering twice must give the same bytes, and every error a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "template.h"

#define FUZZ_MAX_OUT	(1024 * 1024)

static const char default_ctx[] =
    "{\"name\": \"Ana\", \"n\": 1.5, \"i\": 42, \"t\": true, \"e\": \"\","
    " \"html\": \"<&>\\\"'\", \"list\": [1, \"two\", null, [3]],"
    " \"items\": [{\"name\": \"a\", \"items\": []}, {\"name\": \"b\"}],"
    " \"kid\": {\"kid\": {\"name\": \"deep\"}}}";

static const struct {
	const char	*name;
	const char	*src;
} fixed[] = {
	{ "item", "{{#items}}\n- {{name}}\n  {{>item}}\n{{/items}}\n" },
	{ "list", "  {{>item}}\n{{{html}}}|{{#list}}({{.}}){{/list}}" },
	{ "p.en", "{{=<% %>=}}<%name%> {{name}}" },
};

static void
check_error(const struct template_error *err)
{
	if (err->message[0] == '\0' ||
	    memchr(err->message, '\0', sizeof(err->message)) == NULL)
		abort();
}

static void
render_twice(const struct template *t, const json_t *ctx,
    const struct template_partials *p, int flags)
{
	struct template_error	err;
	struct buf		a, b;
	int			ra, rb;

	buf_init(&a, FUZZ_MAX_OUT);
	buf_init(&b, FUZZ_MAX_OUT);
	ra = template_render(t, ctx, p, flags, &a, &err);
	if (ra == -1)
		check_error(&err);
	rb = template_render(t, ctx, p, flags, &b, &err);
	if (ra != rb || (ra == 0 && (a.len != b.len ||
	    (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))))
		abort();
	buf_free(&a);
	buf_free(&b);
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char			*src = (const char *)data;
	const uint8_t			*nul;
	struct template_partials	*p;
	struct template_error		 err;
	struct template			*t, *self;
	json_error_t			 jerr;
	json_t				*ctx = NULL;
	char				 num[TEMPLATE_NUMBER_MAX];
	size_t				 tlen = size, i;

	if ((nul = memchr(data, '\0', size)) != NULL) {
		tlen = (size_t)(nul - data);
		ctx = json_loadb((const char *)nul + 1, size - tlen - 1,
		    JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	}
	if (ctx == NULL)
		ctx = json_loads(default_ctx, 0, &jerr);
	if (ctx == NULL)
		abort();
	if (json_is_number(ctx)) {
		int	n = template_format_number(ctx, num, sizeof(num));

		if (n < 0 || (json_is_real(ctx) &&
		    strtod(num, NULL) != json_real_value(ctx)))
			abort();
	}

	if ((p = template_partials_new()) == NULL)
		abort();
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (template_partials_add(p, fixed[i].name,
		    template_compile(fixed[i].src, strlen(fixed[i].src),
		    fixed[i].name, &err), &err) == -1)
			abort();

	t = template_compile(src, tlen, "fuzz", &err);
	if (t == NULL) {
		check_error(&err);
		goto out;
	}
	if ((self = template_compile(src, tlen, "self", &err)) == NULL ||
	    template_partials_add(p, "self", self, &err) == -1)
		abort();
	if (template_check_partials(t, p, &err) == -1)
		check_error(&err);
	if (template_partials_check(p, &err) == -1)
		check_error(&err);
	render_twice(t, ctx, p, 0);
	render_twice(t, ctx, p, TEMPLATE_RAW | TEMPLATE_STRICT);
	render_twice(t, NULL, NULL, 0);
	template_free(t);
out:
	template_partials_free(p);
	json_decref(ctx);
	return 0;
}
