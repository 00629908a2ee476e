/* utf8.h - strict UTF-8 (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF) and the control-character rules of DESIGN.md 3. */
#ifndef OUTREACH_UTF8_H
#define OUTREACH_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decode one code point at s (n bytes available).  Returns its length in
 * bytes (1-4) and stores it in *cp, or -1 when the sequence is invalid. */
int	utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* 1 when all n bytes are strict UTF-8 (NUL included as U+0000), else 0. */
int	utf8_valid(const char *s, size_t n);

/* Control characters: C0 (U+0000-U+001F), DEL and C1 (U+0080-U+009F). */
int	utf8_is_control(uint32_t cp);
/* 1 when valid UTF-8 without control characters, except those listed in
 * allow (e.g. "\n\t" for multi-line texts; NULL: none allowed). */
int	utf8_text_ok(const char *s, size_t n, const char *allow);

#endif
