/*
 * The keyring and sealed config blobs (libsodium crypto_secretbox).
 *
 * Keyring file: one key per line, "<key-id> <base64 of 32 random bytes>";
 * '#' comments and blank lines ignored. The last key seals; all keys open.
 * Key ids: 1..LIM_KEY_ID_MAX chars of [A-Za-z0-9._-].
 *
 * Blob: version(1)=0x01 || key_id_len(1) || key_id || nonce(24) ||
 *       crypto_secretbox_easy(plaintext)
 * plaintext: org_id "\n" destination_id "\n" payload. vault_open() checks the
 * org and id it was sealed for, so a blob copied to another row or org does
 * not open. Key material lives in sodium_malloc'd memory, wiped on free.
 */
#ifndef BD_VAULT_H
#define BD_VAULT_H

#include <stddef.h>

#include "err.h"
#include "bd_limits.h"

struct vault;

/* Load a keyring file. BD_ERR_CONFIG with a reason (never key bytes) on a
 * malformed line, duplicate id, wrong key length or an empty ring. Caller
 * owns *out (vault_free). */
enum bd_err vault_load(struct vault **out, const char *path, char *err,
    size_t errlen);
void vault_free(struct vault *);

/* Id of the key that seals (the last line). Borrowed from the vault. */
const char *vault_current_key_id(const struct vault *);

/* The ring's key ids in file order (the last one seals); vault_key_id()
 * is NULL past the end. Borrowed from the vault. */
size_t vault_key_count(const struct vault *);
const char *vault_key_id(const struct vault *, size_t i);

/* Whether the ring holds a key with this id. */
int vault_has_key(const struct vault *, const char *key_id);

/*
 * Seal `payload` (len bytes) for (org, id) under the current key with a fresh
 * random nonce. *blob is malloc'd (caller frees), *bloblen its size.
 */
enum bd_err vault_seal(const struct vault *, const char *org, const char *id,
    const char *payload, size_t len, unsigned char **blob, size_t *bloblen);

/*
 * Open a blob sealed for (org, id). On success *payload is a NUL-terminated
 * copy the caller must release with wipe_free(*payload, *len).
 * BD_ERR_CRYPTO for an unknown key id, a tampered blob, or a blob sealed
 * for another row.
 */
enum bd_err vault_open(const struct vault *, const char *org, const char *id,
    const unsigned char *blob, size_t bloblen, char **payload, size_t *len);

/* Re-seal a blob of (org, id) under the current key (backupctl rekey): the
 * plaintext never leaves the vault and is wiped. Errors as vault_open()'s
 * and vault_seal()'s; *out is malloc'd (caller frees). */
enum bd_err vault_reseal(const struct vault *, const char *org,
    const char *id, const unsigned char *blob, size_t bloblen,
    unsigned char **out, size_t *outlen);

/* Key id a blob was sealed with, copied into out (LIM_KEY_ID_MAX + 1). */
enum bd_err vault_blob_key_id(const unsigned char *blob, size_t bloblen,
    char *out);

/* wipe_free() (wipe.h) under its old name, kept while cgi/handlers.c
 * still calls it; new code calls wipe_free(). */
void vault_wipe_free(void *p, size_t len);

/* Append a fresh key line "<id> <base64>" to the keyring file at path,
 * creating it with mode 0600 if absent. id NULL: "k<unix time>". */
enum bd_err vault_keygen(const char *path, const char *id, char *err,
    size_t errlen);

#endif
