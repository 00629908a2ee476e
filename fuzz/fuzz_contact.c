/* fuzz_contact.c - libFuzzer target for contact validation (daemon/contact.c).
 * First byte even: the rest is a JSON document for contact_from_json; odd:
 * the rest is CSV-like "column\tvalue" lines for contact_set_field, then
 * contact_check_complete.  Checks error texts (ASCII, no controls, never
 * quoting a value of 8 bytes or more), the JSON round trip, that the public
 * JSON has no private key, and unsubscribe tokens (input as a token must
 * not crash; make/verify round-trips for a contact's id). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contact.h"

#define FUZZ_VALUE_MIN	8	/* shorter values may match by chance */
#define FUZZ_POST	"ph-berlin"

static const unsigned char fuzz_secret[32] = "0123456789abcdef0123456789ABCDE";
static const unsigned char fuzz_secret2[32] = "fedcba9876543210FEDCBA987654321";

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* 1 when needle[0..nlen) occurs in hay (NUL-terminated).  A plain loop, not
 * memmem, so libFuzzer does not feed the reason texts back as values. */
static int
fuzz_contains(const char *hay, const char *needle, size_t nlen)
{
	size_t	hlen = strlen(hay), i;

	if (nlen == 0 || nlen > hlen)
		return 0;
	for (i = 0; i + nlen <= hlen; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, nlen) == 0)
			return 1;
	return 0;
}

/* NUL within size bytes, printable ASCII before it. */
static void
fuzz_check_text(const char *s, size_t size)
{
	const char	*nul;
	const char	*p;

	if ((nul = memchr(s, '\0', size)) == NULL)
		abort();
	for (p = s; p < nul; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			abort();
}

static void
fuzz_err_reset(struct contact_error *err)
{
	memset(err, 'X', sizeof(*err));
}

static void
fuzz_check_err(const struct contact_error *err)
{
	fuzz_check_text(err->field, sizeof(err->field));
	fuzz_check_text(err->reason, sizeof(err->reason));
}

/* 1 when v[0..n), at least FUZZ_VALUE_MIN bytes, occurs in the reason. */
static int
fuzz_quotes(const struct contact_error *err, const char *v, size_t n)
{
	return n >= FUZZ_VALUE_MIN && fuzz_contains(err->reason, v, n);
}

/* dst = src with each letter and digit moved on by one (same length and
 * shape).  Returns 0 when nothing changed.  A value can equal part of a
 * fixed sentence by chance ("eated_at, updated_a" is in the unknown-field
 * reason); a quoted value follows the perturbation, a fixed text does not. */
static int
fuzz_perturb(char *dst, const char *src, size_t n)
{
	size_t	i;
	int	changed = 0;
	char	ch;

	for (i = 0; i < n; i++) {
		ch = src[i];
		if (ch >= 'a' && ch <= 'z')
			ch = ch == 'z' ? 'a' : ch + 1;
		else if (ch >= 'A' && ch <= 'Z')
			ch = ch == 'Z' ? 'A' : ch + 1;
		else if (ch >= '0' && ch <= '9')
			ch = ch == '9' ? '0' : ch + 1;
		changed |= ch != src[i];
		dst[i] = ch;
	}
	return changed;
}

/* The JSON value of field in obj (the string, or each string item) quoted
 * in the reason. */
static int
fuzz_json_quotes(const struct contact_error *err, json_t *obj,
    const char *field)
{
	json_t	*v, *item;
	size_t	 i;

	if (field[0] == '\0' || (v = json_object_get(obj, field)) == NULL)
		return 0;
	if (json_is_string(v))
		return fuzz_quotes(err, json_string_value(v),
		    json_string_length(v));
	if (json_is_array(v))
		json_array_foreach(v, i, item)
			if (json_is_string(item) && fuzz_quotes(err,
			    json_string_value(item), json_string_length(item)))
				return 1;
	return 0;
}

static json_t *
fuzz_json_perturbed(json_t *s)
{
	char	*p;
	json_t	*r;
	size_t	 n = json_string_length(s);

	if ((p = malloc(n + 1)) == NULL)
		abort();
	(void)fuzz_perturb(p, json_string_value(s), n);
	r = json_stringn_nocheck(p, n);
	free(p);
	return r;
}

/* The privacy rule for the value of the field err names. */
static void
fuzz_check_json_private(const struct contact_error *err, json_t *obj)
{
	struct contact		 c;
	struct contact_error	 err2;
	json_t			*copy, *v, *item;
	size_t			 i;
	char			 field[sizeof(err->field)];

	if (!fuzz_json_quotes(err, obj, err->field))
		return;
	memcpy(field, err->field, sizeof(field));
	if ((copy = json_deep_copy(obj)) == NULL)
		abort();
	v = json_object_get(copy, field);
	if (json_is_string(v))
		json_object_set_new(copy, field, fuzz_json_perturbed(v));
	else
		json_array_foreach(v, i, item)
			if (json_is_string(item))
				json_array_set_new(v, i,
				    fuzz_json_perturbed(item));
	fuzz_err_reset(&err2);
	if (contact_from_json(copy, NULL, &c, &err2) == 0)
		contact_clear(&c);
	else if (fuzz_json_quotes(&err2, copy, field))
		abort();	/* the reason quotes the value */
	json_decref(copy);
}

/* A CSV cell, or one of its ';'-separated items, quoted in the reason. */
static int
fuzz_cell_quotes(const struct contact_error *err, const char *v, size_t n)
{
	const char	*p = v, *semi;
	size_t		 rest = n, k;

	if (fuzz_quotes(err, v, n))
		return 1;
	while (rest > 0) {
		semi = memchr(p, ';', rest);
		k = semi != NULL ? (size_t)(semi - p) : rest;
		if (fuzz_quotes(err, p, k))
			return 1;
		while (k > 0 && *p == ' ') {
			p++;
			k--;
			rest--;
		}
		while (k > 0 && p[k - 1] == ' ')
			k--;
		if (fuzz_quotes(err, p, k))
			return 1;
		if (semi == NULL)
			break;
		rest -= (size_t)(semi - p) + 1;
		p = semi + 1;
	}
	return 0;
}

/* The privacy rule for a refused CSV cell. */
static void
fuzz_check_cell_private(const struct contact_error *err, const char *column,
    const char *v, size_t n)
{
	struct contact		 c;
	struct contact_error	 err2;
	char			*p;

	if (!fuzz_cell_quotes(err, v, n))
		return;
	if ((p = malloc(n)) == NULL)
		abort();
	if (!fuzz_perturb(p, v, n))
		abort();	/* no letter or digit: no sentence has it */
	contact_init(&c);
	fuzz_err_reset(&err2);
	if (contact_set_field(&c, NULL, column, p, n, &err2) == -1 &&
	    fuzz_cell_quotes(&err2, p, n))
		abort();	/* the reason quotes the value */
	contact_clear(&c);
	free(p);
}

/* Round trips for a valid contact: JSON with and without private fields,
 * and an unsubscribe token for its id. */
static void
fuzz_check_contact(const struct contact *c)
{
	struct contact		 c2;
	struct contact_error	 err;
	json_t			*priv, *pub, *again;
	char			 tok[CONTACT_TOKEN_SIZE];
	char			 id[CONTACT_ID_MAX + 1], post[CONTACT_POST_MAX + 1];
	size_t			 n;

	if (c->id == NULL || (c->email == NULL && c->webhook_url == NULL))
		abort();
	if ((priv = contact_to_json(c, 1)) == NULL ||
	    (pub = contact_to_json(c, 0)) == NULL)
		abort();
	if (json_object_get(pub, "email") != NULL ||
	    json_object_get(pub, "webhook_url") != NULL ||
	    json_object_get(pub, "name") != NULL)
		abort();
	fuzz_err_reset(&err);
	if (contact_from_json(priv, NULL, &c2, &err) != 0)
		abort();
	if (!contact_equal(c, &c2))
		abort();
	if ((again = contact_to_json(&c2, 1)) == NULL ||
	    !json_equal(priv, again))
		abort();
	json_decref(again);
	contact_clear(&c2);
	json_decref(priv);
	json_decref(pub);

	if (contact_token_make(fuzz_secret, sizeof(fuzz_secret), c->id,
	    FUZZ_POST, tok, sizeof(tok)) != 0)
		abort();
	if (contact_token_verify(fuzz_secret, sizeof(fuzz_secret), tok, id,
	    sizeof(id), post, sizeof(post)) != 0 || strcmp(id, c->id) != 0 ||
	    strcmp(post, FUZZ_POST) != 0)
		abort();
	if (contact_token_verify(fuzz_secret2, sizeof(fuzz_secret2), tok, id,
	    sizeof(id), post, sizeof(post)) == 0)
		abort();
	n = strlen(tok);
	tok[n - 1] = tok[n - 1] == 'A' ? 'B' : 'A';
	if (contact_token_verify(fuzz_secret, sizeof(fuzz_secret), tok, id,
	    sizeof(id), post, sizeof(post)) == 0)
		abort();
}

static void
fuzz_json(const char *in, size_t size)
{
	struct contact		 c;
	struct contact_error	 err;
	json_error_t		 jerr;
	json_t			*doc;

	if ((doc = json_loadb(in, size, 0, &jerr)) == NULL)
		return;
	if (json_is_object(doc)) {
		fuzz_err_reset(&err);
		if (contact_from_json(doc, NULL, &c, &err) == 0) {
			fuzz_check_contact(&c);
			contact_clear(&c);
		} else {
			fuzz_check_err(&err);
			fuzz_check_json_private(&err, doc);
			/* *c is left cleared. */
			if (c.id != NULL || c.email != NULL || c.present != 0)
				abort();
		}
	}
	json_decref(doc);
}

static void
fuzz_csv(const char *in, size_t size)
{
	struct contact		 c;
	struct contact_error	 err;
	const char		*line, *nl, *tab, *end = in + size;
	char			 column[64];
	unsigned int		 present;
	json_t			*before, *after;
	size_t			 clen;

	contact_init(&c);
	for (line = in; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if ((tab = memchr(line, '\t', (size_t)(nl - line))) == NULL)
			tab = nl;
		clen = (size_t)(tab - line);
		if (clen >= sizeof(column))
			clen = sizeof(column) - 1;
		memcpy(column, line, clen);
		column[clen] = '\0';
		present = c.present;
		if ((before = contact_to_json(&c, 1)) == NULL)
			abort();
		fuzz_err_reset(&err);
		if (contact_set_field(&c, NULL, column,
		    tab < nl ? tab + 1 : tab,
		    tab < nl ? (size_t)(nl - tab - 1) : 0, &err) == -1) {
			fuzz_check_err(&err);
			if (tab < nl)
				fuzz_check_cell_private(&err, column, tab + 1,
				    (size_t)(nl - tab - 1));
			/* *c is unchanged on error. */
			if ((after = contact_to_json(&c, 1)) == NULL ||
			    !json_equal(before, after) || c.present != present)
				abort();
			json_decref(after);
		}
		json_decref(before);
		if (nl == end)
			break;
	}
	fuzz_err_reset(&err);
	if (contact_check_complete(&c, &err) == 0)
		fuzz_check_contact(&c);
	else
		fuzz_check_err(&err);
	contact_clear(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*tok;
	char	 id[CONTACT_ID_MAX + 1], post[CONTACT_POST_MAX + 1];
	char	 tok2[CONTACT_TOKEN_SIZE];

	if (size == 0)
		return 0;
	if (data[0] % 2 == 0)
		fuzz_json((const char *)data + 1, size - 1);
	else
		fuzz_csv((const char *)data + 1, size - 1);

	/* The whole input as a token: no crash; if it verifies, it is the
	 * one spelling contact_token_make gives. */
	if ((tok = malloc(size + 1)) == NULL)
		return 0;
	memcpy(tok, data, size);
	tok[size] = '\0';
	if (contact_token_verify(fuzz_secret, sizeof(fuzz_secret), tok, id,
	    sizeof(id), post, sizeof(post)) == 0) {
		if (contact_token_make(fuzz_secret, sizeof(fuzz_secret), id,
		    post, tok2, sizeof(tok2)) != 0 || strcmp(tok, tok2) != 0)
			abort();
	}
	free(tok);
	return 0;
}
