/*
 * libFuzzer driver for what the S3 probe reads from an answer besides the
 * error <Code> (fuzz_remote_xml): the region a wrong-region error names
 * (s3util_error_region: <Region>, or the host of <Endpoint> through
 * s3util_endpoint_region) and the header lines of struct s3util_headers
 * (s3util_header), both on the bytes as received (not NUL-terminated).
 *
 * Properties beyond "no crash": a region found is always one
 * s3util_region_ok accepts (so it may be quoted) and holds a '-'; a kept
 * version id is printable ASCII shorter than S3UTIL_VERSION_MAX and never
 * "null"; a region kept from a header is a region name too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/s3util.h"

#include "fuzz_fixtures.h"

static void
check_region(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || !s3util_region_ok(r, n) || strchr(r, '-') == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *nl;
	struct s3util_headers h;
	char region[S3UTIL_REGION_MAX];
	size_t i, n, v;

	if (s3util_error_region(p, size, region))
		check_region(region);
	else if (region[0] != '\0')
		abort();
	if (s3util_endpoint_region(p, size, region))
		check_region(region);
	else if (region[0] != '\0')
		abort();

	/* the input as header lines, the way curl hands them over */
	s3util_headers_init(&h);
	for (i = 0; i < size; i += n) {
		nl = memchr(p + i, '\n', size - i);
		n = nl != NULL ? (size_t)(nl - (p + i)) + 1 : size - i;
		s3util_header(&h, p + i, n);
		if (h.region[0] != '\0' &&
		    !s3util_region_ok(h.region, strlen(h.region)))
			abort();
		v = strlen(h.version);
		if (v >= S3UTIL_VERSION_MAX || strcmp(h.version, "null") == 0)
			abort();
		while (v > 0)
			if (h.version[--v] <= ' ' || h.version[v] > '~')
				abort();
		if (h.legal_hold < -1 || h.legal_hold > 1 ||
		    (s3util_lock_mode_name(h.lock_mode) == NULL) !=
		    (h.lock_mode == S3UTIL_LOCK_NONE))
			abort();
	}
	return 0;
}
