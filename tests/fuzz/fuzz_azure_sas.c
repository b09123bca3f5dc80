/*
 * libFuzzer driver for the two SAS token fields the Azure probe reads from
 * a user's config (azsign_sas_parse: `se`, `sp`, `srt`; azsign_sas_time:
 * the documented `se` forms). A SAS token is caller input, stored and
 * parsed on every test.
 *
 * Properties beyond "no crash": perms is "" or 1..31 lower-case letters;
 * has_expiry and bad_expiry are never both set; an expiry read from the
 * whole input as `se` agrees with azsign_sas_time on the same text; a time
 * azsign_sas_time accepts is one of the four documented shapes (10, 17 or
 * 20+ bytes, 'T' at [10] and 'Z' last for the timed ones).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe/azsign.h"

#include "fuzz_fixtures.h"

static void
check_time(const char *s)
{
	long long ms;
	size_t n = strlen(s);

	if (!azsign_sas_time(s, &ms))
		return;
	if (n != 10 && (n < 17 || s[10] != 'T' || s[n - 1] != 'Z'))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct azsign_sas sas;
	char *s, *q;
	size_t i, n;
	long long ms;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_time(s);
	if (azsign_sas_parse(s, &sas)) {
		if (sas.has_expiry && sas.bad_expiry)
			abort();
		n = strlen(sas.perms);
		if (n >= sizeof(sas.perms))
			abort();
		for (i = 0; i < n; i++)
			if (sas.perms[i] < 'a' || sas.perms[i] > 'z')
				abort();
	}
	/* The input as the only se of a token: the same answer as the time
	 * reader, when nothing in it needs decoding or ends the value. */
	if (strpbrk(s, "%&") == NULL && (q = malloc(size + 4)) != NULL) {
		memcpy(q, "se=", 3);
		memcpy(q + 3, s, size + 1);
		if (azsign_sas_parse(q, &sas) &&
		    sas.has_expiry != azsign_sas_time(s, &ms))
			abort();
		if (sas.has_expiry && sas.expiry_ms != ms)
			abort();
		free(q);
	}
	free(s);
	return 0;
}
