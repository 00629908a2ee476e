/* fuzz_event.c - libFuzzer target for event_parse (daemon/event.c): the
 * input is "TOPIC\nJSON"; without a newline all of it is the topic and the
 * document is empty.  A parsed event must hash its canonical form, and
 * re-parsing the canonical form must give the same hash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "utf8.h"

static const char *const fuzz_types[] = { "consular-day", "crisis",
    "town-hall", "voting" };

static const struct event_rules fuzz_rules = {
	8192, fuzz_types, 4, "en"
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*in = (const char *)data;
	const char		*nl;
	size_t			 tlen, jlen;
	struct event		 ev, ev2;
	struct event_error	 err;

	nl = memchr(in, '\n', size);
	tlen = nl ? (size_t)(nl - in) : size;
	jlen = nl ? size - tlen - 1 : 0;
	if (event_parse(in, tlen, nl ? nl + 1 : in + size, jlen, &fuzz_rules,
	    &ev, &err) == -1) {
		if (err.code == NULL || err.message[0] == '\0' ||
		    !utf8_text_ok(err.message, strlen(err.message), NULL) ||
		    !utf8_text_ok(err.field, strlen(err.field), NULL))
			abort();
		if (ev.doc != NULL || ev.canonical != NULL)
			abort();
		return 0;
	}
	if (ev.doc == NULL || ev.canonical == NULL || ev.id == NULL ||
	    ev.type == NULL)
		abort();
	/* The canonical form is itself a valid event with the same hash. */
	if (ev.canonical_len <= fuzz_rules.max_bytes) {
		if (event_parse(in, tlen, ev.canonical, ev.canonical_len,
		    &fuzz_rules, &ev2, &err) != 0)
			abort();
		if (memcmp(ev.sha256, ev2.sha256, sizeof(ev.sha256)) != 0)
			abort();
		event_clear(&ev2);
	}
	event_clear(&ev);
	return 0;
}
