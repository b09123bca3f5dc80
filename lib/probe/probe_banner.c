/*
 * See probe_banner.h. The text comes from the server and ends up in a JSON
 * answer and in the database: json-c would escape anything, but a client
 * that shows it (a terminal, a web page) should never meet a control
 * character, an escape sequence or text that reverses its direction.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "probe_banner.h"

/* One UTF-8 sequence at s[0..len): its length, 0 when invalid (overlong,
 * surrogate, above U+10FFFF, truncated). */
static size_t
utf8_len(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t n, i;
	uint32_t c = s[0], min;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, c &= 0x07, min = 0x10000;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Printable: not C0, DEL, C1, U+2028/U+2029 (line and paragraph separator)
 * or a bidirectional control (U+200E/F, U+202A-E, U+2066-9, U+061C), nor
 * U+FEFF or a noncharacter. The space itself counts as a separator. */
static bool
printable(uint32_t c)
{
	if (c <= 0x20 || (c >= 0x7f && c <= 0x9f))
		return false;
	if (c == 0x200e || c == 0x200f || c == 0x061c || c == 0xfeff ||
	    (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
	    (c >= 0xfdd0 && c <= 0xfdef) || (c & 0xfffe) == 0xfffe)
		return false;
	return true;
}

size_t
probe_banner_clean(char *out, size_t outsz, const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t cap, o = 0, i = 0, n;
	bool gap = false;
	uint32_t c;

	if (outsz == 0)
		return 0;
	cap = outsz - 1 < LIM_PROBE_BANNER_MAX ? outsz - 1 :
	    LIM_PROBE_BANNER_MAX;
	while (in != NULL && i < len) {
		if ((n = utf8_len(s + i, len - i, &c)) == 0) {
			gap = true;
			i++;
			continue;
		}
		if (!printable(c)) {
			gap = true;
			i += n;
			continue;
		}
		/* One space for the gap before it, never a leading one. */
		if (gap && o > 0) {
			if (o + 1 + n > cap)
				break;
			out[o++] = ' ';
		}
		gap = false;
		if (o + n > cap)
			break;
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return o;
}
