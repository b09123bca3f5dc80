/*
 * libFuzzer driver for the OAuth state parser (oauth_state_parse): the
 * state is the one value of the unauthenticated callback that names a
 * destination, so every byte of it is hostile.
 *
 * Properties checked beyond "no crash": an accepted state has a valid UUID,
 * an OAuth type of the registry and a 43-character base64url nonce, and
 * oauth_state_make() of its parts gives back exactly the input.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dtype.h"
#include "oauth.h"
#include "uuid.h"

#include "fuzz_fixtures.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char id[UUID_STR_LEN + 1], type[32], nonce[64];
	char again[OAUTH_STATE_MAX];
	const struct dtype *t;
	char *s;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (oauth_state_parse(s, id, type, nonce)) {
		if (!uuid_valid(id) || (t = dtype_find(type)) == NULL ||
		    t->oauth == OAUTH_NONE || strlen(nonce) != OAUTH_NONCE_LEN)
			abort();
		for (const char *p = nonce; *p; p++)
			if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
			    "RSTUVWXYZ0123456789-_", *p) == NULL)
				abort();
		oauth_state_make(again, id, type, nonce);
		if (strcmp(again, s) != 0)
			abort();
	}
	free(s);
	return 0;
}
