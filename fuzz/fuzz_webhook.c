/* fuzz_webhook.c - libFuzzer target for the input-facing helpers of the
 * webhook sender (daemon/webhook.c): a Retry-After value from a server
 * (the whole input, NUL-terminated), a secret from the secrets file
 * ("whsec_" + input), an address (the first 16 bytes as IPv6 and the first
 * 4 as IPv4) and a body to sign.  Checked: Retry-After is -1 or a whole
 * number of seconds within the cap, whether it parses does not depend on
 * the cap, and more cap never gives less; a decoded secret has the length
 * base64 implies and fits the buffer exactly when it says so; allowing
 * more never refuses more; a signature has the one fixed shape.  abort()
 * on violation. */
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "webhook.h"

#define CHECK(x) do {							\
	if (!(x)) {							\
		fprintf(stderr, "fuzz_webhook: check failed: %s (line %d)\n",\
		    #x, __LINE__);					\
		abort();						\
	}								\
} while (0)

#define NOW	1614265330

static void
fuzz_retry_after(const char *s)
{
	static const int64_t	caps[] = { 0, 1, 60, 3600, 604800,
	    INT64_MAX / 1000 };
	int64_t			r, prev = -2;
	size_t			i;

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		r = webhook_retry_after(s, NOW, caps[i]);
		CHECK(r == -1 || (r >= 0 && r % 1000 == 0 &&
		    r / 1000 <= caps[i]));
		if (prev != -2) {
			CHECK((r == -1) == (prev == -1));
			CHECK(r >= prev);
		}
		prev = r;
	}
	/* Another "now" changes the delay, not whether it parses (within
	 * the century: an RFC 850 "29-Feb-00" is 2000 or 1900 by "now"). */
	CHECK((webhook_retry_after(s, NOW + 10 * 366 * 86400, 3600) == -1) ==
	    (prev == -1));
}

static void
fuzz_secret(const char *s, size_t n)
{
	unsigned char	 key[WEBHOOK_KEY_MAX], small[8];
	char		*secret;
	size_t		 len, slen, chars;

	if ((secret = malloc(n + 7)) == NULL)
		return;
	memcpy(secret, "whsec_", 6);
	memcpy(secret + 6, s, n + 1);
	len = sizeof(key);
	if (webhook_secret_decode(secret, key, &len) == 0) {
		chars = strlen(secret + 6);
		while (chars > 0 && secret[6 + chars - 1] == '=')
			chars--;
		CHECK(len == chars * 6 / 8 && len > 0);
		slen = sizeof(small);
		CHECK((webhook_secret_decode(secret, small, &slen) == 0) ==
		    (len <= sizeof(small)));
		if (len <= sizeof(small))
			CHECK(slen == len && memcmp(small, key, len) == 0);
	}
	/* Without the prefix it is never a secret. */
	len = sizeof(key);
	CHECK(webhook_secret_decode(secret + 6, key, &len) == -1 ||
	    strncmp(secret + 6, "whsec_", 6) == 0);
	free(secret);
}

static void
fuzz_address(const uint8_t *data, size_t n)
{
	struct cfg_webhooks	 w;
	struct sockaddr_in6	 sin6;
	struct sockaddr_in	 sin;
	const char		*why;
	int			 none, lo, pv, both;

	if (n < 16)
		return;
	memset(&w, 0, sizeof(w));
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	memcpy(&sin6.sin6_addr, data, 16);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	memcpy(&sin.sin_addr, data, 4);
	for (int i = 0; i < 2; i++) {
		const struct sockaddr *sa = i ? (struct sockaddr *)&sin :
		    (struct sockaddr *)&sin6;

		w.allow_loopback = w.allow_private = 0;
		none = webhook_address_refused(&w, sa, &why);
		CHECK(!none || why != NULL);
		w.allow_loopback = 1;
		lo = webhook_address_refused(&w, sa, NULL);
		w.allow_loopback = 0;
		w.allow_private = 1;
		pv = webhook_address_refused(&w, sa, NULL);
		w.allow_loopback = 1;
		both = webhook_address_refused(&w, sa, &why);
		CHECK(!both || why != NULL);
		CHECK(none >= lo && none >= pv && lo >= both && pv >= both);
		CHECK(webhook_address_refused(NULL, sa, NULL) == none);
	}
}

static void
fuzz_sign(const char *body, size_t n)
{
	static const unsigned char	 k[24] = "0123456789abcdefghijklmn";
	const unsigned char		*keys[2] = { k, k };
	size_t				 lens[2] = { sizeof(k), 16 };
	struct buf			 out;

	buf_init(&out, 0);
	CHECK(webhook_sign(keys, lens, 2, "msg_1", NOW, body, n, &out) == 0);
	CHECK(out.len == 2 * 47 + 1 && strncmp(out.data, "v1,", 3) == 0 &&
	    out.data[47] == ' ' && strncmp(out.data + 48, "v1,", 3) == 0);
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_retry_after(s);
	fuzz_secret(s, strlen(s));
	fuzz_address(data, size);
	fuzz_sign(s, size);
	free(s);
	return 0;
}
