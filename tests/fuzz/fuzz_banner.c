/*
 * libFuzzer driver for probe_banner_clean(), which turns a server's banner
 * (SSH identification string, FTP greeting, HTTP Server header) into
 * TestResult.observed.serverSoftware.
 *
 * Properties beyond "no crash": the result is at most LIM_PROBE_BANNER_MAX
 * bytes and NUL-terminated at its returned length, holds no byte below
 * 0x20 and no DEL, no leading, trailing or double space, and is a fixed
 * point (cleaning it again changes nothing, so it is valid UTF-8 by the
 * function's own decoder); a smaller buffer gives a prefix of it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe_banner.h"

#include "fuzz_fixtures.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[LIM_PROBE_BANNER_MAX + 1], again[LIM_PROBE_BANNER_MAX + 1];
	char small[17];
	size_t n, m, i;

	n = probe_banner_clean(out, sizeof(out), (const char *)data, size);
	if (n > LIM_PROBE_BANNER_MAX || strlen(out) != n)
		abort();
	if (n > 0 && (out[0] == ' ' || out[n - 1] == ' '))
		abort();
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];
		if (c < 0x20 || c == 0x7f || (i > 0 && c == ' ' &&
		    out[i - 1] == ' '))
			abort();
	}
	if (probe_banner_clean(again, sizeof(again), out, n) != n ||
	    memcmp(again, out, n) != 0)
		abort();
	m = probe_banner_clean(small, sizeof(small), (const char *)data, size);
	if (m > sizeof(small) - 1 || m > n || memcmp(small, out, m) != 0)
		abort();
	return 0;
}
