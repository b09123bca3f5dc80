/*
 * libFuzzer driver for what the Dropbox probe reads from the remote and
 * builds for it: dropbox_error_code over an answer body, and
 * dropbox_header_json over the same bytes as a string (the
 * Dropbox-API-Arg header).
 *
 * Properties checked beyond "no crash": the error code is at most three
 * '/'-separated segments of [A-Za-z0-9._-] (never prose from the remote);
 * the header text has no byte above 0x7E, and for input without such bytes
 * it is the input unchanged.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe_dropbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char code[PROBE_CODE_MAX * 3], *s, *h;
	size_t i, segs = 1;
	bool ascii = true;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	dropbox_error_code(s, size, code);
	for (i = 0; code[i] != '\0'; i++) {
		if (code[i] == '/')
			segs++;
		else if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-", code[i]) == NULL)
			abort();
	}
	if (segs > 3)
		abort();
	for (i = 0; i < strlen(s); i++)
		ascii &= (unsigned char)s[i] < 0x7f;
	if ((h = dropbox_header_json(s)) != NULL) {
		for (i = 0; h[i] != '\0'; i++)
			if ((unsigned char)h[i] >= 0x7f)
				abort();
		if (ascii && strcmp(h, s) != 0)
			abort();
		free(h);
	} else if (ascii) {
		abort();
	}
	free(s);
	return 0;
}
