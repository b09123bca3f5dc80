/*
 * Writes the seeds that need a key: tokens for fuzz_auth (minted with
 * auth_mint at FUZZ_NOW) and sealed blobs for fuzz_vault. Run once; the
 * output is committed under tests/fuzz/corpus/ (tokens are deterministic,
 * blobs are not: each run draws fresh nonces). Not built by make:
 *
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -Ilib -Itests/fuzz \
 *       tests/fuzz/gen_seeds.c lib/[a-z]*.c -o /tmp/gen_seeds \
 *       $(pkg-config --cflags --libs json-c libjwt libsodium libcurl \
 *       libmariadb) -lm && /tmp/gen_seeds tests/fuzz/corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cfg.h"
#include "vault.h"

#include "fuzz_fixtures.h"

static int
put(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

static int
token(const char *dir, const char *name, int strict, const char *sub,
    const char *org, const char *role, long ttl)
{
	static char alg[] = "HS256", key[] = FUZZ_HS_KEY;
	static char iss[] = FUZZ_ISSUER, aud[] = FUZZ_AUDIENCE;
	struct auth_ctx *a = NULL;
	char err[256], hdr[4096];
	struct cfg c;
	char *t = NULL;
	int rc = -1;

	memset(&c, 0, sizeof(c));
	c.jwt_alg = alg;
	c.jwt_key = key;
	if (strict) {
		c.jwt_issuer = iss;
		c.jwt_audience = aud;
	}
	if (auth_init(&a, &c, err, sizeof(err)) != BD_OK ||
	    (t = auth_mint(a, sub, org, role, ttl, (time_t)FUZZ_NOW - 10)) ==
	    NULL)
		goto out;
	snprintf(hdr, sizeof(hdr), "Bearer %s", t);
	rc = put(dir, name, hdr, strlen(hdr));
out:
	free(t);
	auth_free(a);
	return rc;
}

static int
seal(const char *dir, const char *name, const char *ringtext,
    const char *payload)
{
	char tmpl[] = "/tmp/backupd-seeds-XXXXXX", err[256];
	struct vault *v = NULL;
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	int fd, rc = -1;

	if ((fd = mkstemp(tmpl)) < 0 ||
	    write(fd, ringtext, strlen(ringtext)) != (ssize_t)strlen(ringtext))
		goto out;
	if (vault_load(&v, tmpl, err, sizeof(err)) != BD_OK ||
	    vault_seal(v, FUZZ_ORG, FUZZ_DEST, payload, strlen(payload),
	    &blob, &bloblen) != BD_OK)
		goto out;
	rc = put(dir, name, blob, bloblen);
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmpl);
	}
	free(blob);
	vault_free(v);
	return rc;
}

int
main(int argc, char **argv)
{
	char auth[512], vlt[512];
	/* Only k1: a blob sealed before k2 was added (rotation). */
	static const char k1_only[] =
	    "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";

	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds CORPUS_DIR\n");
		return 2;
	}
	snprintf(auth, sizeof(auth), "%s/fuzz_auth", argv[1]);
	snprintf(vlt, sizeof(vlt), "%s/fuzz_vault", argv[1]);
	if (token(auth, "admin-no-role", 0, "user-1", "org-42", NULL, 3600) ||
	    token(auth, "viewer", 0, "user-2", "org-42", "viewer", 3600) ||
	    token(auth, "member", 0, "user-3", "org-7", "member", 3600) ||
	    token(auth, "unknown-role", 0, "user-4", "org-42", "root", 3600) ||
	    token(auth, "expired", 0, "user-5", "org-42", "admin", -90) ||
	    token(auth, "iss-aud-owner", 1, "user-6", "org-42", "owner",
	    3600) ||
	    seal(vlt, "sealed-k2-s3", FUZZ_KEYRING,
	    "{\"region\":\"eu-west-1\",\"bucket\":\"backups\","
	    "\"accessKeyId\":\"AKIAEXAMPLE\",\"secretAccessKey\":\"s3cr3t\"}") ||
	    seal(vlt, "sealed-k1-sftp", k1_only,
	    "{\"host\":\"sftp.example.com\",\"username\":\"bk\","
	    "\"password\":\"pw\",\"path\":\"/srv/backups\"}") ||
	    seal(vlt, "sealed-k2-empty", FUZZ_KEYRING, ""))
		return 1;
	return 0;
}
