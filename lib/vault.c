/*
 * The keyring and sealed config blobs; see vault.h for formats and ownership.
 * libsodium crypto_secretbox (XSalsa20-Poly1305) with a fresh random nonce per
 * seal. The header (version, key id, nonce) is not MACed by secretbox, but
 * changing any of it makes the open fail anyway: another version is refused,
 * another key id names no key or the wrong key, another nonce breaks the MAC.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>

#include <sodium.h>

#include "fdio.h"
#include "secret_file.h"
#include "vault.h"
#include "wipe.h"

#define VAULT_VERSION 0x01
#define VAULT_KEYBYTES crypto_secretbox_KEYBYTES
#define VAULT_KEYBYTES_N 32 /* the same, as a literal for messages */
#define STR(x) #x
#define XSTR(x) STR(x)
_Static_assert(VAULT_KEYBYTES == VAULT_KEYBYTES_N, "keyring key size");
#define VAULT_NONCEBYTES crypto_secretbox_NONCEBYTES
#define VAULT_MACBYTES crypto_secretbox_MACBYTES
/* A keyring of LIM_KEYRING_MAX lines is ~6 KiB; anything this big is wrong. */
#define VAULT_FILE_MAX LIM_KEYRING_FILE_MAX
/* Longest base64 text worth decoding to find out it is not 32 bytes. */
#define VAULT_B64_MAX 256

struct vkey {
	char id[LIM_KEY_ID_MAX + 1];
	size_t idlen;
	unsigned char *key; /* points into vault.mem */
};

struct vault {
	size_t n;
	struct vkey keys[LIM_KEYRING_MAX];
	unsigned char *mem; /* sodium_malloc'd room for LIM_KEYRING_MAX keys */
};

/* Key ids: 1..LIM_KEY_ID_MAX of [A-Za-z0-9._-] (they go into a column). */
static int
valid_key_id(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > LIM_KEY_ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

static struct vault *
vault_new(void)
{
	struct vault *v;

	if ((v = calloc(1, sizeof(*v))) == NULL)
		return NULL;
	if ((v->mem = sodium_malloc(LIM_KEYRING_MAX * VAULT_KEYBYTES)) ==
	    NULL) {
		free(v);
		return NULL;
	}
	return v;
}

/* Release the vault, wiping every key. NULL is a no-op. */
void
vault_free(struct vault *v)
{
	if (v == NULL)
		return;
	sodium_mprotect_readwrite(v->mem);
	sodium_memzero(v->mem, LIM_KEYRING_MAX * VAULT_KEYBYTES);
	sodium_free(v->mem);
	free(v);
}

/*
 * Parse keyring text into v (which must be empty). Error messages name the
 * file and line, never key material. allow_empty: a ring with no key is fine
 * (keygen appending the first key).
 */
static enum bd_err
parse_ring(struct vault *v, const char *text, size_t len, const char *path,
    int allow_empty, char *err, size_t errlen)
{
	enum bd_err rc = BD_ERR_CONFIG;
	unsigned char bin[VAULT_B64_MAX];
	const char *line = text, *eol, *end, *id, *b64, *b64end, *why;
	size_t lineno = 0, idlen, binlen, i;
	struct vkey *k;

	while (line < text + len) {
		lineno++;
		if ((eol = memchr(line, '\n', (size_t)(text + len - line))) ==
		    NULL)
			eol = text + len;
		end = eol;
		while (end > line && (end[-1] == ' ' || end[-1] == '\t' ||
		    end[-1] == '\r'))
			end--;
		while (line < end && (*line == ' ' || *line == '\t'))
			line++;
		if (line == end || *line == '#')
			goto next;

		id = line;
		while (line < end && *line != ' ' && *line != '\t')
			line++;
		idlen = (size_t)(line - id);
		while (line < end && (*line == ' ' || *line == '\t'))
			line++;
		b64 = line;
		/* Reasons name the line, not its text: it may be key bytes. */
		if (!valid_key_id(id, idlen)) {
			why = "bad key id (1 to " XSTR(LIM_KEY_ID_MAX)
			    " of [A-Za-z0-9._-])";
			goto bad;
		}
		if (b64 == end) {
			why = "no key bytes after the id";
			goto bad;
		}
		for (i = 0; i < v->n; i++)
			if (v->keys[i].idlen == idlen &&
			    memcmp(v->keys[i].id, id, idlen) == 0) {
				err_set(err, errlen, "keyring_file: %s:%zu: "
				    "duplicate key id '%s'", path, lineno,
				    v->keys[i].id);
				goto out;
			}
		if (v->n == LIM_KEYRING_MAX) {
			why = "too many keys";
			goto bad;
		}
		why = "key is not " XSTR(VAULT_KEYBYTES_N) " bytes";
		if ((size_t)(end - b64) > VAULT_B64_MAX)
			goto bad;
		if (sodium_base642bin(bin, sizeof(bin), b64,
		    (size_t)(end - b64), NULL, &binlen, &b64end,
		    sodium_base64_VARIANT_ORIGINAL) != 0 || b64end != end) {
			why = "key is not valid base64";
			goto bad;
		}
		if (binlen != VAULT_KEYBYTES)
			goto bad;
		k = &v->keys[v->n++];
		memcpy(k->id, id, idlen);
		k->id[idlen] = '\0';
		k->idlen = idlen;
		k->key = v->mem + (v->n - 1) * VAULT_KEYBYTES;
		memcpy(k->key, bin, VAULT_KEYBYTES);
		sodium_memzero(bin, sizeof(bin));
next:
		line = eol + 1;
	}
	if (v->n == 0 && !allow_empty) {
		err_set(err, errlen, "keyring_file: %s: holds no key", path);
		goto out;
	}
	rc = BD_OK;
	goto out;
bad:
	err_set(err, errlen, "keyring_file: %s:%zu: %s", path, lineno, why);
out:
	sodium_memzero(bin, sizeof(bin));
	return rc;
}

/*
 * Load a keyring file (see vault.h). Returns BD_OK and *out (vault_free()),
 * BD_ERR_CONFIG with a reason, or BD_ERR_NOMEM.
 */
enum bd_err
vault_load(struct vault **out, const char *path, char *err, size_t errlen)
{
	enum bd_err rc = BD_ERR_CONFIG;
	struct vault *v = NULL;
	char *text = NULL, why[512];
	size_t len = 0;

	*out = NULL;
	if (sodium_init() < 0) {
		rc = BD_ERR_INTERNAL;
		goto out;
	}
	if (path == NULL || path[0] == '\0') {
		err_set(err, errlen, "keyring_file: not set");
		goto out;
	}
	if ((rc = secret_file_read(path, VAULT_FILE_MAX, SECRET_FILE_TEXT,
	    &text, &len, why, sizeof(why))) != BD_OK) {
		err_set(err, errlen, "keyring_file: %s", why);
		goto out;
	}
	rc = BD_ERR_CONFIG;
	if ((v = vault_new()) == NULL) {
		rc = BD_ERR_NOMEM;
		goto out;
	}
	if ((rc = parse_ring(v, text, len, path, 0, err, errlen)) != BD_OK)
		goto out;
	sodium_mprotect_readonly(v->mem);
	*out = v;
	v = NULL;
	rc = BD_OK;
out:
	vault_free(v);
	secret_file_free(text);
	return rc;
}

/* Id of the sealing key (the last line); borrowed from v. */
const char *
vault_current_key_id(const struct vault *v)
{
	return v != NULL && v->n > 0 ? v->keys[v->n - 1].id : NULL;
}

size_t
vault_key_count(const struct vault *v)
{
	return v != NULL ? v->n : 0;
}

const char *
vault_key_id(const struct vault *v, size_t i)
{
	return v != NULL && i < v->n ? v->keys[i].id : NULL;
}

static const struct vkey *
find_key(const struct vault *v, const char *id, size_t idlen)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (v->keys[i].idlen == idlen &&
		    memcmp(v->keys[i].id, id, idlen) == 0)
			return &v->keys[i];
	return NULL;
}

/* 1 if the ring holds a key with this id, else 0. */
int
vault_has_key(const struct vault *v, const char *key_id)
{
	return v != NULL && key_id != NULL &&
	    find_key(v, key_id, strlen(key_id)) != NULL;
}

/* org and id are framed by "\n" in the plaintext: they must not hold one. */
static int
valid_binding(const char *s)
{
	return s != NULL && s[0] != '\0' && strchr(s, '\n') == NULL;
}

/*
 * Seal payload for (org, id) under the current key (see vault.h). Returns
 * BD_OK with a malloc'd *blob, BD_ERR_INTERNAL for bad arguments, or
 * BD_ERR_NOMEM. The plaintext buffer is wiped before it is released.
 */
enum bd_err
vault_seal(const struct vault *v, const char *org, const char *id,
    const char *payload, size_t len, unsigned char **blob, size_t *bloblen)
{
	enum bd_err rc = BD_ERR_INTERNAL;
	const struct vkey *k;
	unsigned char *plain = NULL, *b = NULL, *p;
	size_t orglen, idlen, plainlen = 0, hdrlen, total;

	*blob = NULL;
	*bloblen = 0;
	if (v == NULL || v->n == 0 || !valid_binding(org) ||
	    !valid_binding(id) || (payload == NULL && len > 0))
		goto out;
	k = &v->keys[v->n - 1];
	orglen = strlen(org);
	idlen = strlen(id);
	hdrlen = 2 + k->idlen + VAULT_NONCEBYTES;
	if (len > SIZE_MAX / 2 - orglen - idlen - hdrlen - VAULT_MACBYTES - 2)
		goto out;
	plainlen = orglen + 1 + idlen + 1 + len;
	total = hdrlen + VAULT_MACBYTES + plainlen;

	rc = BD_ERR_NOMEM;
	if ((plain = malloc(plainlen)) == NULL || (b = malloc(total)) == NULL)
		goto out;
	p = plain;
	memcpy(p, org, orglen);
	p += orglen;
	*p++ = '\n';
	memcpy(p, id, idlen);
	p += idlen;
	*p++ = '\n';
	if (len > 0)
		memcpy(p, payload, len);

	b[0] = VAULT_VERSION;
	b[1] = (unsigned char)k->idlen;
	memcpy(b + 2, k->id, k->idlen);
	randombytes_buf(b + 2 + k->idlen, VAULT_NONCEBYTES);
	rc = BD_ERR_CRYPTO;
	if (crypto_secretbox_easy(b + hdrlen, plain, plainlen,
	    b + 2 + k->idlen, k->key) != 0)
		goto out;
	*blob = b;
	*bloblen = total;
	b = NULL;
	rc = BD_OK;
out:
	wipe_free(plain, plainlen);
	free(b);
	return rc;
}

/*
 * Split a blob into its key id and the nonce + box. Returns 0, or -1 for a
 * malformed blob (unknown version, bad id, too short).
 */
static int
blob_split(const unsigned char *blob, size_t bloblen, const char **id,
    size_t *idlen, const unsigned char **nonce, const unsigned char **box,
    size_t *boxlen)
{
	size_t hdrlen;

	if (blob == NULL || bloblen < 2 || blob[0] != VAULT_VERSION)
		return -1;
	*idlen = blob[1];
	*id = (const char *)blob + 2;
	hdrlen = 2 + *idlen + VAULT_NONCEBYTES;
	if (bloblen < hdrlen + VAULT_MACBYTES || !valid_key_id(*id, *idlen))
		return -1;
	*nonce = blob + 2 + *idlen;
	*box = blob + hdrlen;
	*boxlen = bloblen - hdrlen;
	return 0;
}

/*
 * Open a blob sealed for (org, id) (see vault.h). Returns BD_OK with
 * *payload (NUL-terminated, wipe_free(*payload, *len)), BD_ERR_CRYPTO
 * for anything that does not open or is bound to another row, or
 * BD_ERR_NOMEM.
 */
enum bd_err
vault_open(const struct vault *v, const char *org, const char *id,
    const unsigned char *blob, size_t bloblen, char **payload, size_t *len)
{
	enum bd_err rc = BD_ERR_CRYPTO;
	const unsigned char *nonce, *box;
	const struct vkey *k;
	const char *kid;
	unsigned char *plain = NULL;
	char *out = NULL;
	size_t kidlen, boxlen, plainlen = 0, orglen, idlen, pre;

	*payload = NULL;
	*len = 0;
	if (v == NULL || !valid_binding(org) || !valid_binding(id))
		goto out;
	if (blob_split(blob, bloblen, &kid, &kidlen, &nonce, &box,
	    &boxlen) != 0)
		goto out;
	if ((k = find_key(v, kid, kidlen)) == NULL)
		goto out;
	plainlen = boxlen - VAULT_MACBYTES;
	rc = BD_ERR_NOMEM;
	if ((plain = malloc(plainlen + 1)) == NULL)
		goto out;
	rc = BD_ERR_CRYPTO;
	if (crypto_secretbox_open_easy(plain, box, boxlen, nonce, k->key) != 0)
		goto out;

	/* The binding: exactly org "\n" id "\n" in front of the payload. */
	orglen = strlen(org);
	idlen = strlen(id);
	pre = orglen + 1 + idlen + 1;
	if (plainlen < pre || memcmp(plain, org, orglen) != 0 ||
	    plain[orglen] != '\n' ||
	    memcmp(plain + orglen + 1, id, idlen) != 0 ||
	    plain[orglen + 1 + idlen] != '\n')
		goto out;

	rc = BD_ERR_NOMEM;
	if ((out = malloc(plainlen - pre + 1)) == NULL)
		goto out;
	memcpy(out, plain + pre, plainlen - pre);
	out[plainlen - pre] = '\0';
	*payload = out;
	*len = plainlen - pre;
	rc = BD_OK;
out:
	wipe_free(plain, plainlen + 1);
	return rc;
}

/*
 * Copy the key id a blob names into out (LIM_KEY_ID_MAX + 1 bytes). Returns
 * BD_OK, or BD_ERR_CRYPTO for a malformed blob.
 */
enum bd_err
vault_blob_key_id(const unsigned char *blob, size_t bloblen, char *out)
{
	const unsigned char *nonce, *box;
	const char *kid;
	size_t kidlen, boxlen;

	out[0] = '\0';
	if (blob_split(blob, bloblen, &kid, &kidlen, &nonce, &box,
	    &boxlen) != 0)
		return BD_ERR_CRYPTO;
	memcpy(out, kid, kidlen);
	out[kidlen] = '\0';
	return BD_OK;
}

/* wipe_free() under its old name (see vault.h). */
enum bd_err
vault_reseal(const struct vault *v, const char *org, const char *id,
    const unsigned char *blob, size_t bloblen, unsigned char **out,
    size_t *outlen)
{
	char *plain = NULL;
	size_t plen = 0;
	enum bd_err rc;

	*out = NULL;
	*outlen = 0;
	if ((rc = vault_open(v, org, id, blob, bloblen, &plain, &plen)) !=
	    BD_OK)
		return rc;
	rc = vault_seal(v, org, id, plain, plen, out, outlen);
	wipe_free(plain, plen);
	return rc;
}

void
vault_wipe_free(void *p, size_t len)
{
	wipe_free(p, len);
}

/* Make a new directory entry durable: fsync the directory holding path. */
static void
sync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/*
 * Append "<id> <base64 of 32 random bytes>\n" to the keyring at path (see
 * vault.h), creating it 0600. The existing ring must parse and must not hold
 * the id. The file is locked (flock) while read and appended, and fsynced.
 * Returns BD_OK or BD_ERR_CONFIG with a reason (never key bytes).
 */
enum bd_err
vault_keygen(const char *path, const char *id, char *err, size_t errlen)
{
	enum bd_err rc = BD_ERR_CONFIG;
	char idbuf[LIM_KEY_ID_MAX + 1];
	char line[2 + LIM_KEY_ID_MAX + 1 +
	    sodium_base64_ENCODED_LEN(VAULT_KEYBYTES,
	    sodium_base64_VARIANT_ORIGINAL) + 1];
	unsigned char key[VAULT_KEYBYTES];
	struct vault *v = NULL;
	char *text = NULL, why[512];
	size_t len = 0, n;
	int fd = -1, created = 0;

	if (sodium_init() < 0) {
		rc = BD_ERR_INTERNAL;
		goto out;
	}
	if (id == NULL) {
		snprintf(idbuf, sizeof(idbuf), "k%lld", (long long)time(NULL));
		id = idbuf;
	}
	if (!valid_key_id(id, strlen(id))) {
		err_set(err, errlen, "key id must be 1 to %d of [A-Za-z0-9._-]",
		    LIM_KEY_ID_MAX);
		goto out;
	}

	if ((fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) >= 0)
		created = 1;
	else if (errno == EEXIST)
		fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		err_set(err, errlen, "keyring '%s': %s", path, strerror(errno));
		goto out;
	}
	if ((rc = secret_file_read_fd(fd, path, VAULT_FILE_MAX,
	    SECRET_FILE_TEXT, &text, &len, why, sizeof(why))) != BD_OK) {
		err_set(err, errlen, "keyring %s", why);
		goto out;
	}
	rc = BD_ERR_NOMEM;
	if ((v = vault_new()) == NULL)
		goto out;
	if ((rc = parse_ring(v, text, len, path, 1, err, errlen)) != BD_OK)
		goto out;
	rc = BD_ERR_CONFIG;
	if (find_key(v, id, strlen(id)) != NULL) {
		err_set(err, errlen, "keyring '%s' already holds key id '%s'",
		    path, id);
		goto out;
	}

	randombytes_buf(key, sizeof(key));
	n = 0;
	/* A last line without its newline would swallow ours. */
	if (len > 0 && text[len - 1] != '\n')
		line[n++] = '\n';
	memcpy(line + n, id, strlen(id));
	n += strlen(id);
	line[n++] = ' ';
	sodium_bin2base64(line + n, sizeof(line) - n, key, sizeof(key),
	    sodium_base64_VARIANT_ORIGINAL);
	n += strlen(line + n);
	line[n++] = '\n';
	if (write_all(fd, line, n) != 0 || fsync(fd) != 0) {
		err_set(err, errlen, "keyring '%s': cannot write: %s", path,
		    strerror(errno));
		goto out;
	}
	if (created)
		sync_parent(path);
	rc = BD_OK;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(line, sizeof(line));
	vault_free(v);
	secret_file_free(text);
	if (fd >= 0)
		close(fd); /* releases the lock */
	return rc;
}
