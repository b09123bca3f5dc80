/*
 * libFuzzer driver: the bytes are an Authorization header value, verified
 * by two contexts pinned to HS256 with a fixed key, one of them also
 * checking iss and aud, at a fixed clock (FUZZ_NOW).
 *
 * Properties checked beyond "no crash": the result is OK, UNAUTHORIZED or
 * FORBIDDEN; a refusal carries a reason and leaves the principal untouched;
 * an acceptance carries a non-empty sub and org, a known role, no reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "cfg.h"

#include "fuzz_fixtures.h"

static struct auth_ctx *plain, *strict;

static struct auth_ctx *
make_ctx(const char *issuer, const char *audience)
{
	static char alg[] = "HS256", key[] = FUZZ_HS_KEY;
	struct auth_ctx *a = NULL;
	struct cfg c;
	char err[256];

	memset(&c, 0, sizeof(c));
	c.jwt_alg = alg;
	c.jwt_key = key;
	c.jwt_issuer = (char *)issuer;
	c.jwt_audience = (char *)audience;
	c.jwt_leeway = 60;
	if (auth_init(&a, &c, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "fuzz_auth: auth_init: %s\n", err);
		abort();
	}
	return a;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	plain = make_ctx(NULL, NULL);
	strict = make_ctx(FUZZ_ISSUER, FUZZ_AUDIENCE);
	return 0;
}

static void
verify(const struct auth_ctx *a, const char *hdr)
{
	struct principal p, untouched;
	const char *why = "unset";
	enum bd_err rc;

	memset(&p, 0x5a, sizeof(p));
	untouched = p;
	rc = auth_verify(a, hdr, (time_t)FUZZ_NOW, &p, &why);
	switch (rc) {
	case BD_OK:
		if (why != NULL || p.sub[0] == '\0' || p.org[0] == '\0' ||
		    memchr(p.sub, '\0', sizeof(p.sub)) == NULL ||
		    memchr(p.org, '\0', sizeof(p.org)) == NULL ||
		    p.role < ROLE_VIEWER || p.role > ROLE_ADMIN)
			abort();
		break;
	case BD_ERR_UNAUTHORIZED:
	case BD_ERR_FORBIDDEN:
		if (why == NULL || why[0] == '\0' ||
		    memcmp(&p, &untouched, sizeof(p)) != 0)
			abort();
		break;
	default:
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *hdr;

	/* A CGI variable: NUL-terminated, so an embedded NUL ends it. */
	if ((hdr = malloc(size + 1)) == NULL)
		return 0;
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	verify(plain, hdr);
	verify(strict, hdr);
	free(hdr);
	return 0;
}
