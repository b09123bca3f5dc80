/*
 * libFuzzer driver for the error documents S3 and Azure answer with
 * (<Error><Code>...</Code>...): s3util_error_code() reads the bytes as
 * received (not NUL-terminated), probe_azure_error_code() the NUL-terminated
 * body the probe collected, with a buffer as small as 8 bytes too.
 *
 * Properties beyond "no crash": a code is found only as "<Code>X</Code>"
 * in the input, X is 1..63 of [A-Za-z0-9.]; both readers agree; a code that
 * does not fit the caller's buffer is dropped, never cut.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The probe's static reader; the Makefile links the driver without it. */
#include "probe/probe_azure_blob.c"

#include "fuzz_fixtures.h"

static void
check_code(const uint8_t *data, size_t size, const char *code)
{
	size_t n = strlen(code), i;
	char want[S3UTIL_CODE_MAX + 16];
	bool found = false;

	if (n == 0 || n >= S3UTIL_CODE_MAX)
		abort();
	for (i = 0; i < n; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789.", code[i]) == NULL)
			abort();
	memcpy(want, "<Code>", 6);
	memcpy(want + 6, code, n);
	memcpy(want + 6 + n, "</Code>", 7);
	for (i = 0; !found && i + n + 13 <= size; i++)
		found = memcmp(data + i, want, n + 13) == 0;
	if (!found)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s3[S3UTIL_CODE_MAX], az[S3UTIL_CODE_MAX], small[8];
	char *body;
	bool s3ok, azok;

	s3ok = s3util_error_code((const char *)data, size, s3);
	if (s3ok)
		check_code(data, size, s3);
	else if (s3[0] != '\0')
		abort();
	if ((body = malloc(size + 1)) == NULL)
		return 0;
	memcpy(body, data, size);
	body[size] = '\0';
	azok = probe_azure_error_code(body, az, sizeof(az));
	/* A NUL inside the input ends the body the Azure reader sees. */
	if (memchr(data, '\0', size) == NULL &&
	    (azok != s3ok || (azok && strcmp(az, s3) != 0)))
		abort();
	if (probe_azure_error_code(body, small, sizeof(small)) &&
	    (!azok || strcmp(small, az) != 0 || strlen(small) >= sizeof(small)))
		abort();
	(void)probe_azure_error_code(body, small, 0);
	free(body);
	return 0;
}
