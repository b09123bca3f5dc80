/*
 * UTF-8 decoding (RFC 3629), one code point at a time: what the validators
 * (config fields, JWT claims) and the cleaner of remote text share.
 */
#ifndef BD_UTF8_H
#define BD_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decode one code point of s[0..len) into *cp. Returns its length in bytes,
 * or 0 for an invalid sequence (no overlong forms, no surrogates, nothing
 * above U+10FFFF, no truncated sequence) or len 0.
 */
size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp);

/* A C0 or C1 control or DEL. */
static inline int
utf8_is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

#endif
