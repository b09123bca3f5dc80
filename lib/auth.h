/*
 * Bearer JWT authentication (RFC 6750, RFC 7519, RFC 8725 §3.1/§3.8).
 * libjwt 1.10 verifies the signature; everything else is checked here:
 * pinned algorithm (exact, case-sensitive match of the header's "alg"),
 * integer exp, nbf/iat with leeway, iss/aud when configured (aud may be an
 * array), sub and the org claim required, role known.
 *
 * sub and a string org claim must be valid UTF-8 without control characters
 * (C0, DEL, C1) and without whitespace at either end: org ids are compared
 * byte for byte (DESIGN.md "Data"), so "acme " is refused rather than being
 * a second org that looks like "acme". An integer org claim 42 is org "42".
 * An HS secret shorter than 32 bytes is refused by auth_init().
 */
#ifndef BD_AUTH_H
#define BD_AUTH_H

#include <stddef.h>
#include <time.h>

#include "cfg.h"
#include "err.h"
#include "bd_limits.h"

enum role {
	ROLE_NONE = 0, /* unauthenticated (the OAuth callback) */
	ROLE_VIEWER,   /* read */
	ROLE_MEMBER,   /* read + test */
	ROLE_ADMIN,    /* everything; "admin", "owner" or no role claim */
};

struct principal {
	char sub[LIM_SUB_MAX + 1];
	char org[LIM_ORG_MAX + 1];
	enum role role;
};

struct auth_ctx; /* opaque: algorithm, key bytes (wiped on free), claims */

/*
 * Build the verifier from the config: jwt_alg, jwt_key or jwt_key_file (PEM
 * for RS/ES), jwt_issuer, jwt_audience, jwt_org_claim, jwt_leeway. Returns
 * BD_ERR_CONFIG with a reason in err when the key is missing/unreadable.
 * Caller owns *out and frees it with auth_free().
 */
enum bd_err auth_init(struct auth_ctx **out, const struct cfg *c, char *err,
    size_t errlen);
void auth_free(struct auth_ctx *);

/*
 * Verify an Authorization header value ("Bearer <jwt>", scheme matched
 * case-insensitively) at time `now`. On success fills *p and returns BD_OK.
 * Otherwise BD_ERR_UNAUTHORIZED (bad/missing/expired token) or
 * BD_ERR_FORBIDDEN (valid token, unknown role), with a short reason that
 * never contains the token in *why (static storage).
 */
enum bd_err auth_verify(const struct auth_ctx *, const char *authorization,
    time_t now, struct principal *p, const char **why);

/* Mint a token with the configured algorithm and key (HS* only: the server
 * holds no private key for RS/ES). For `backupctl token` and the stack.
 * role may be NULL (no claim). Returns a malloc'd string or NULL. */
char *auth_mint(const struct auth_ctx *, const char *sub, const char *org,
    const char *role, long ttl, time_t now);

/* "viewer"... for logs. */
const char *auth_role_name(enum role);

#endif
