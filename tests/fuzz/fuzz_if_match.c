/*
 * libFuzzer driver for If-Match parsing (req_if_match, RFC 9110 §13.1.1):
 * the input is the header value, compared against the strong tags "7" and
 * "12345678901234567890".
 *
 * Properties checked beyond "no crash": the answer is one of BD_OK,
 * BD_ERR_PRECONDITION, BD_ERR_BAD_REQUEST; whether the header is well-formed
 * does not depend on the version; a match without "*" needs the strong tag
 * itself in the header, not preceded by "W/".
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "req.h"

#include "fuzz_fixtures.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Whether h holds the strong tag `tag` somewhere not right after "W/". */
static bool
has_strong(const char *h, const char *tag)
{
	for (const char *p = h; (p = strstr(p, tag)) != NULL; p++)
		if (p - h < 2 || strncmp(p - 2, "W/", 2) != 0)
			return true;
	return false;
}

static void
check(const char *h, unsigned long v, enum bd_err rc)
{
	char tag[32];

	if (rc != BD_OK && rc != BD_ERR_PRECONDITION &&
	    rc != BD_ERR_BAD_REQUEST)
		abort();
	snprintf(tag, sizeof(tag), "\"%lu\"", v);
	if (rc == BD_OK && strchr(h, '*') == NULL && !has_strong(h, tag))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long v1 = 7, v2 = 12345678901234567890UL;
	enum bd_err a, b;
	char *h;

	if ((h = malloc(size + 1)) == NULL)
		return 0;
	memcpy(h, data, size);
	h[size] = '\0';
	a = req_if_match(h, v1);
	b = req_if_match(h, v2);
	check(h, v1, a);
	check(h, v2, b);
	if ((a == BD_ERR_BAD_REQUEST) != (b == BD_ERR_BAD_REQUEST))
		abort();
	if (req_if_match(h, v1) != a)
		abort();
	free(h);
	return 0;
}
