/*
 * Fixed inputs shared by the fuzz drivers and gen_seeds.c, so that the
 * committed seeds (tokens, sealed blobs) match what the drivers verify with.
 * Test-only keys: they protect nothing.
 */
#ifndef BD_FUZZ_FIXTURES_H
#define BD_FUZZ_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points (defined by each driver). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The clock auth_verify is called with (2023-11-14T22:13:20Z). */
#define FUZZ_NOW 1700000000L

/* HS256 secret of both auth contexts; issuer/audience of the second. */
#define FUZZ_HS_KEY "fuzz-hs256-secret-0123456789abcdef0123"
#define FUZZ_ISSUER "https://issuer.example"
#define FUZZ_AUDIENCE "backupd"

/* Two keys: k1 opens old blobs, k2 (the last) seals. */
#define FUZZ_KEYRING                                                    \
	"# fuzz keyring\n"                                              \
	"k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"            \
	"k2 ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n"

/* The row every sealed seed is bound to. */
#define FUZZ_ORG "org-42"
#define FUZZ_DEST "0b9a6c7e-3f1d-4e55-9a57-2f1c8d0e4b21"

#endif
