/*
 * libFuzzer driver for what the SFTP probe reads from the server through
 * libcurl's informational text (on_debug: the authentication method list,
 * "Authentication complete", public key failures), one line per call as
 * curl hands them over, plus the two readers of config text next to it
 * (the pinned fingerprint, the private key's kind).
 *
 * Properties beyond "no crash": the flags only ever turn on in a line that
 * carries their trigger; protocol data (non-TEXT) changes nothing.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The probe's static readers; the Makefile links the driver without it. */
#include "probe/probe_sftp.c"

#include "fuzz_fixtures.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sftp_state st, before;
	struct key_info ki;
	char pin[FP_LEN + 1], *copy, *line;
	size_t off = 0, n;

	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';

	memset(&st, 0, sizeof(st));
	/* Protocol data is ignored whatever it says. */
	before = st;
	(void)on_debug(NULL, CURLINFO_HEADER_IN, copy, size, &st);
	(void)on_debug(NULL, CURLINFO_DATA_IN, copy, size, &st);
	(void)on_debug(NULL, CURLINFO_TEXT, NULL, size, &st);
	if (memcmp(&before, &st, sizeof(st)) != 0)
		abort();
	while (off < size) {
		line = copy + off;
		n = 0;
		while (off + n < size && data[off + n] != '\n')
			n++;
		if (off + n < size)
			n++;
		before = st;
		(void)on_debug(NULL, CURLINFO_TEXT, line, n, &st);
		if (st.auth_done && !before.auth_done &&
		    (n < 23 || memcmp(line, "Authentication complete", 23) != 0))
			abort();
		if (st.methods_known && !before.methods_known && n < 38)
			abort();
		off += n;
	}
	if (probe_sftp_fingerprint(copy, pin) && strlen(pin) != FP_LEN)
		abort();
	key_info(copy, &ki);
	free(copy);
	return 0;
}
