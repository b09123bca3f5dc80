/*
 * libFuzzer driver: the bytes are a sealed config blob as read from the
 * database, opened with a fixed two-key ring (FUZZ_KEYRING, written once to
 * a temporary file for vault_load and removed at once).
 *
 * Properties checked beyond "no crash": vault_open answers BD_OK or
 * BD_ERR_CRYPTO and nothing else; on failure it hands back no payload; a
 * blob that opens for (FUZZ_ORG, FUZZ_DEST) does not open for another row;
 * vault_blob_key_id agrees with the key that opened it. And a round trip:
 * the bytes sealed as a payload open to the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vault.h"

#include "fuzz_fixtures.h"

static struct vault *ring;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/backupd-fuzz-XXXXXX", file[64], err[256];
	FILE *f;

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL) {
		perror("fuzz_vault: mkdtemp");
		abort();
	}
	snprintf(file, sizeof(file), "%s/keyring", dir);
	if ((f = fopen(file, "w")) == NULL ||
	    fputs(FUZZ_KEYRING, f) == EOF || fclose(f) != 0) {
		perror("fuzz_vault: keyring");
		abort();
	}
	if (vault_load(&ring, file, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "fuzz_vault: vault_load: %s\n", err);
		abort();
	}
	unlink(file);
	rmdir(dir);
	return 0;
}

static void
open_blob(const uint8_t *data, size_t size)
{
	char kid[LIM_KEY_ID_MAX + 1];
	char *payload = (char *)"unset";
	size_t len = 1;
	enum bd_err rc;

	rc = vault_open(ring, FUZZ_ORG, FUZZ_DEST, data, size, &payload, &len);
	if (rc == BD_OK) {
		if (payload == NULL || payload[len] != '\0' ||
		    vault_blob_key_id(data, size, kid) != BD_OK ||
		    !vault_has_key(ring, kid))
			abort();
		vault_wipe_free(payload, len);
		/* The same blob must not open for another row or org. */
		if (vault_open(ring, FUZZ_ORG, "other-dest", data, size,
		    &payload, &len) != BD_ERR_CRYPTO || payload != NULL)
			abort();
		if (vault_open(ring, "other-org", FUZZ_DEST, data, size,
		    &payload, &len) != BD_ERR_CRYPTO || payload != NULL)
			abort();
	} else if (rc != BD_ERR_CRYPTO || payload != NULL || len != 0) {
		abort();
	}
	(void)vault_blob_key_id(data, size, kid);
}

static void
round_trip(const uint8_t *data, size_t size)
{
	unsigned char *blob = NULL;
	size_t bloblen = 0, len = 0;
	char *payload = NULL;

	if (vault_seal(ring, FUZZ_ORG, FUZZ_DEST, (const char *)data, size,
	    &blob, &bloblen) != BD_OK)
		abort();
	if (vault_open(ring, FUZZ_ORG, FUZZ_DEST, blob, bloblen, &payload,
	    &len) != BD_OK || len != size ||
	    (size > 0 && memcmp(payload, data, size) != 0))
		abort();
	vault_wipe_free(payload, len);
	free(blob);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	open_blob(data, size);
	round_trip(data, size);
	return 0;
}
