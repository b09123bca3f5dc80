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
#include "utf8.h"

/* Printable: not C0, DEL, C1, U+2028/U+2029 (line and paragraph separator)
 * or a bidirectional control (U+200E/F, U+202A-E, U+2066-9, U+061C), nor
 * U+FEFF or a noncharacter. The space itself counts as a separator. */
static bool
printable(uint32_t c)
{
	if (c == 0x20 || utf8_is_control(c))
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
		if ((n = utf8_next(s + i, len - i, &c)) == 0) {
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
