/* utf8.c - strict UTF-8 decoding and control-character checks. */
#include <string.h>

#include "utf8.h"

int
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t	c, min;
	int		len, i;

	if (n == 0)
		return -1;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2; c &= 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3; c &= 0x0f; min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4; c &= 0x07; min = 0x10000;
	} else
		return -1;
	if ((size_t)len > n)
		return -1;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return -1;
	*cp = c;
	return len;
}

int
utf8_valid(const char *s, size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	int			 k;

	while (n > 0) {
		if (*p < 0x80) {
			p++;
			n--;
			continue;
		}
		if ((k = utf8_decode(p, n, &cp)) < 0)
			return 0;
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

int
utf8_is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f);
}

int
utf8_text_ok(const char *s, size_t n, const char *allow)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	int			 k;

	while (n > 0) {
		if ((k = utf8_decode(p, n, &cp)) < 0)
			return 0;
		if (utf8_is_control(cp) && (cp == 0 || allow == NULL ||
		    cp > 0x7f || strchr(allow, (int)cp) == NULL))
			return 0;
		p += k;
		n -= (size_t)k;
	}
	return 1;
}
