/*
 * Bearer JWT authentication. libjwt 1.10 checks the signature and nothing
 * else (it even matches "alg" case-insensitively, so "nOnE" is "none" to it);
 * every other rule of RFC 8725 lives here. See auth.h for the contract.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <jwt.h>
#include <sodium.h>

#include "auth.h"
#include "secret_file.h"
#include "utf8.h"
#include "wipe.h"

/* Bigger than this is not a JWT key (an RSA-8192 public PEM is ~1.5 KiB). */
#define AUTH_KEY_FILE_MAX LIM_JWT_KEY_FILE_MAX
/* Shortest HS secret accepted at start and by check-config. */
#define AUTH_HS_KEY_MIN 32

enum alg_family { FAM_HS, FAM_RS, FAM_ES };

/* The algorithms the server can be pinned to; "none" is deliberately absent. */
static const struct {
	const char *name;
	jwt_alg_t alg;
	enum alg_family fam;
} algs[] = {
	{"HS256", JWT_ALG_HS256, FAM_HS},
	{"HS384", JWT_ALG_HS384, FAM_HS},
	{"HS512", JWT_ALG_HS512, FAM_HS},
	{"RS256", JWT_ALG_RS256, FAM_RS},
	{"RS384", JWT_ALG_RS384, FAM_RS},
	{"RS512", JWT_ALG_RS512, FAM_RS},
	{"ES256", JWT_ALG_ES256, FAM_ES},
	{"ES384", JWT_ALG_ES384, FAM_ES},
	{"ES512", JWT_ALG_ES512, FAM_ES},
};

static const struct {
	const char *claim;
	enum role role;
} roles[] = {
	{"viewer", ROLE_VIEWER},
	{"member", ROLE_MEMBER},
	{"admin", ROLE_ADMIN},
	{"owner", ROLE_ADMIN},
};

/*
 * Media types accepted in "typ" (RFC 7519 §5.1), compared case-insensitively.
 * RFC 9068 "at+jwt" would belong here, but libjwt 1.10's jwt_decode refuses
 * any "typ" other than "JWT", so such a token could never pass anyway; we
 * say so up front instead of reporting a bad signature.
 */
static const char *const typs[] = {"JWT"};

struct auth_ctx {
	const char *alg_name; /* static, from algs[] */
	jwt_alg_t alg;
	enum alg_family fam;
	unsigned char *key;   /* sodium_malloc'd, read-only, NUL-terminated */
	size_t keylen;        /* without the NUL */
	char *issuer, *audience, *org_claim; /* NULL when not configured */
	long leeway;
};

/*
 * The key file's bytes (see secret_file.h: a regular file of at most
 * AUTH_KEY_FILE_MAX bytes) in a sodium_malloc'd, NUL-terminated buffer the
 * caller sodium_free()s. Reasons start "jwt_key_file: " and never hold the
 * content. Binary bytes are kept: an HMAC secret may hold any byte.
 */
static enum bd_err
read_key_file(const char *path, unsigned char **buf, size_t *len, char *err,
    size_t errlen)
{
	char why[512], *b = NULL;
	enum bd_err rc;

	rc = secret_file_read(path, AUTH_KEY_FILE_MAX, 0, &b, len, why,
	    sizeof(why));
	if (rc != BD_OK)
		err_set(err, errlen, "jwt_key_file: %s", why);
	*buf = (unsigned char *)b;
	return rc;
}

static enum bd_err
dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL || src[0] == '\0')
		return BD_OK;
	if ((*dst = strdup(src)) == NULL)
		return BD_ERR_NOMEM;
	return BD_OK;
}

/*
 * Build the verifier from the config (see auth.h). Returns BD_OK and a
 * context the caller frees with auth_free(), or BD_ERR_CONFIG with a reason
 * in err (never key bytes), or BD_ERR_NOMEM.
 */
enum bd_err
auth_init(struct auth_ctx **out, const struct cfg *c, char *err, size_t errlen)
{
	enum bd_err rc = BD_ERR_CONFIG;
	struct auth_ctx *a = NULL;
	const char *algname;
	size_t i;

	*out = NULL;
	if (sodium_init() < 0) {
		rc = BD_ERR_INTERNAL;
		err_set(err, errlen, "libsodium failed to initialise");
		goto out;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		rc = BD_ERR_NOMEM;
		goto out;
	}

	algname = c->jwt_alg != NULL ? c->jwt_alg : "HS256";
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].name, algname) == 0)
			break;
	if (i == sizeof(algs) / sizeof(algs[0])) {
		err_set(err, errlen,
		    "jwt_alg: '%s' is not one of HS256/384/512, RS256/384/512, "
		    "ES256/384/512", algname);
		goto out;
	}
	a->alg_name = algs[i].name;
	a->alg = algs[i].alg;
	a->fam = algs[i].fam;

	if (c->jwt_key != NULL && c->jwt_key[0] != '\0') {
		a->keylen = strlen(c->jwt_key);
		if ((a->key = sodium_malloc(a->keylen + 1)) == NULL) {
			rc = BD_ERR_NOMEM;
			goto out;
		}
		memcpy(a->key, c->jwt_key, a->keylen + 1);
	} else if (c->jwt_key_file != NULL && c->jwt_key_file[0] != '\0') {
		if ((rc = read_key_file(c->jwt_key_file, &a->key, &a->keylen,
		    err, errlen)) != BD_OK)
			goto out;
		rc = BD_ERR_CONFIG;
		/* An HS secret is the file's bytes; editors add a newline. */
		if (a->fam == FAM_HS)
			while (a->keylen > 0 &&
			    (a->key[a->keylen - 1] == '\n' ||
			    a->key[a->keylen - 1] == '\r'))
				a->key[--a->keylen] = '\0';
	} else {
		err_set(err, errlen,
		    "jwt_key / jwt_key_file: no JWT key configured");
		goto out;
	}
	if (a->keylen == 0) {
		err_set(err, errlen, "jwt_key / jwt_key_file: key is empty");
		goto out;
	}
	/* RFC 7518 §3.2: an HMAC key at least as long as the hash; the
	 * service asks 32 bytes of every HS secret (a shorter one can be
	 * guessed offline from any token). */
	if (a->fam == FAM_HS && a->keylen < AUTH_HS_KEY_MIN) {
		err_set(err, errlen, "jwt_key / jwt_key_file: an %s secret must "
		    "be at least %d bytes (it is %zu)", a->alg_name,
		    AUTH_HS_KEY_MIN, a->keylen);
		goto out;
	}
	if (a->keylen > INT32_MAX) {
		err_set(err, errlen, "jwt_key / jwt_key_file: key too long");
		goto out;
	}
	/* libjwt reads RS/ES keys with PEM_read_bio_PUBKEY: SPKI PEM only. */
	if (a->fam != FAM_HS && strstr((const char *)a->key,
	    "-----BEGIN PUBLIC KEY-----") == NULL) {
		err_set(err, errlen,
		    "jwt_key / jwt_key_file: %s needs a PEM public key "
		    "(-----BEGIN PUBLIC KEY-----)", a->alg_name);
		goto out;
	}
	sodium_mprotect_readonly(a->key);

	if ((rc = dup_opt(&a->issuer, c->jwt_issuer)) != BD_OK ||
	    (rc = dup_opt(&a->audience, c->jwt_audience)) != BD_OK ||
	    (rc = dup_opt(&a->org_claim, c->jwt_org_claim != NULL &&
	    c->jwt_org_claim[0] != '\0' ? c->jwt_org_claim : "org_id")) !=
	    BD_OK)
		goto out;
	a->leeway = c->jwt_leeway > 0 ? c->jwt_leeway : 0;

	*out = a;
	a = NULL;
	rc = BD_OK;
out:
	auth_free(a);
	return rc;
}

/* Release the context, wiping the key. NULL is a no-op. */
void
auth_free(struct auth_ctx *a)
{
	if (a == NULL)
		return;
	if (a->key != NULL) {
		sodium_mprotect_readwrite(a->key);
		sodium_memzero(a->key, a->keylen);
		sodium_free(a->key);
	}
	free(a->issuer);
	free(a->audience);
	free(a->org_claim);
	free(a);
}

/*
 * Parse exactly `len` bytes as one JSON object. Returns a new reference or
 * NULL (not JSON, trailing garbage, embedded NUL, not an object).
 */
static json_object *
parse_object(const char *s, size_t len)
{
	json_tokener *tok;
	json_object *o = NULL;

	if (len > INT32_MAX || memchr(s, '\0', len) != NULL)
		return NULL;
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

static int
is_b64url(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
}

/*
 * Split the Authorization value into the compact JWS (RFC 6750 §2.1:
 * "Bearer" 1*SP b64token; RFC 7515 §7.1: three base64url parts). Sets
 * *tok and *toklen (borrowed from h) and *hdrlen (length of the first part).
 */
static const char *
split_header(const char *h, const char **tok, size_t *toklen, size_t *hdrlen)
{
	static const char scheme[] = "bearer";
	size_t len, i, dots = 0, start;

	if (h == NULL || h[0] == '\0')
		return "missing bearer token";
	len = strnlen(h, LIM_AUTH_HEADER_MAX + 1);
	if (len > LIM_AUTH_HEADER_MAX)
		return "authorization header too long";
	/* HTTP field values carry no outer whitespace (RFC 9110 §5.5). */
	while (len > 0 && (h[len - 1] == ' ' || h[len - 1] == '\t'))
		len--;
	if (len < sizeof(scheme) || strncasecmp(h, scheme,
	    sizeof(scheme) - 1) != 0 || h[sizeof(scheme) - 1] != ' ')
		return "missing bearer token";
	for (start = sizeof(scheme) - 1; start < len && h[start] == ' ';
	    start++)
		continue;
	*hdrlen = 0;
	for (i = start; i < len; i++) {
		if (h[i] == '.') {
			if (dots++ == 0)
				*hdrlen = i - start;
		} else if (!is_b64url((unsigned char)h[i]))
			return "malformed token";
	}
	if (dots != 2 || *hdrlen == 0 || h[start + *hdrlen + 1] == '.')
		return "malformed token";
	*tok = h + start;
	*toklen = len - start;
	return NULL;
}

/*
 * RFC 8725 §3.1: decide the algorithm ourselves, before libjwt looks at the
 * token. "alg" must be exactly the pinned one (case-sensitive), which also
 * stops the public-RSA-key-as-HMAC-secret forgery (§2.1). "crit" lists
 * extensions we must understand (RFC 7515 §4.1.11): we understand none.
 */
static const char *
check_jose_header(const struct auth_ctx *a, const char *b64, size_t b64len)
{
	unsigned char buf[LIM_AUTH_HEADER_MAX];
	json_object *hdr = NULL, *v;
	const char *why = "malformed token header";
	const char *s;
	size_t binlen = 0, i;

	if (sodium_base642bin(buf, sizeof(buf), b64, b64len, NULL, &binlen,
	    NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		goto out;
	if ((hdr = parse_object((const char *)buf, binlen)) == NULL)
		goto out;

	if (!json_object_object_get_ex(hdr, "alg", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), a->alg_name) != 0 ||
	    (size_t)json_object_get_string_len(v) != strlen(a->alg_name)) {
		why = "algorithm not allowed";
		goto out;
	}
	if (json_object_object_get_ex(hdr, "crit", NULL)) {
		why = "unsupported critical header";
		goto out;
	}
	if (json_object_object_get_ex(hdr, "typ", &v)) {
		why = "unsupported token type";
		if (!json_object_is_type(v, json_type_string))
			goto out;
		s = json_object_get_string(v);
		for (i = 0; i < sizeof(typs) / sizeof(typs[0]); i++)
			if (strcasecmp(s, typs[i]) == 0)
				break;
		if (i == sizeof(typs) / sizeof(typs[0]))
			goto out;
	}
	why = NULL;
out:
	json_object_put(hdr);
	sodium_memzero(buf, sizeof(buf));
	return why;
}

/* An integer claim: 0 absent, 1 present and integer, -1 present, other type. */
static int
int_claim(json_object *claims, const char *name, int64_t *val)
{
	json_object *v;

	if (!json_object_object_get_ex(claims, name, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return -1;
	*val = json_object_get_int64(v);
	return 1;
}

/*
 * Unicode White_Space (plus the zero-width space and BOM, which render as
 * nothing): not allowed at either end of an identifier, where "acme" and
 * "acme\u00a0" would look like one org to a person.
 */
static bool
is_blank(uint32_t c)
{
	return c == ' ' || c == 0x85 || c == 0xa0 || c == 0x1680 ||
	    (c >= 0x2000 && c <= 0x200b) || c == 0x2028 || c == 0x2029 ||
	    c == 0x202f || c == 0x205f || c == 0x3000 || c == 0xfeff;
}

/*
 * Whether s[0..len) may identify a subject or an organization (DESIGN.md
 * "Data": org ids are compared byte for byte, so two spellings of one name
 * must not both be accepted): valid UTF-8, no control character anywhere,
 * no whitespace at either end.
 */
static bool
ident_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t c = 0;
	bool first = true;

	while (i < len) {
		if ((n = utf8_next(u + i, len - i, &c)) == 0 ||
		    utf8_is_control(c))
			return false;
		if (first && is_blank(c))
			return false;
		first = false;
		i += n;
	}
	return !is_blank(c); /* the last character */
}

/*
 * Copy a string claim into dst (max bytes, NUL added): non-empty and an
 * identifier by ident_ok() (the values end up in SQL rows, log lines and
 * the byte-exact org comparison).
 */
static int
copy_text(json_object *v, char *dst, size_t max)
{
	const char *s;
	size_t len;

	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len > max || !ident_ok(s, len))
		return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

static int
aud_matches(json_object *v, const char *want)
{
	size_t i, n;
	json_object *e;

	if (json_object_is_type(v, json_type_string))
		return strcmp(json_object_get_string(v), want) == 0;
	if (!json_object_is_type(v, json_type_array))
		return 0;
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(v, i);
		if (json_object_is_type(e, json_type_string) &&
		    strcmp(json_object_get_string(e), want) == 0)
			return 1;
	}
	return 0;
}

/*
 * RFC 7519 §4.1 registered claims and ours. Returns NULL and fills *p, or a
 * static reason; *forbidden is set for a valid token with an unknown role.
 */
static const char *
check_claims(const struct auth_ctx *a, json_object *cl, time_t now,
    struct principal *p, int *forbidden)
{
	json_object *v;
	int64_t exp = 0, nbf = 0, iat = 0, t = (int64_t)now;
	char num[24];
	size_t i;
	int r;

	if ((r = int_claim(cl, "exp", &exp)) == 0)
		return "token has no expiry";
	if (r < 0)
		return "malformed exp claim";
	/* now < exp + leeway, written so INT64_MAX does not overflow. */
	if (t - a->leeway >= exp)
		return "token expired";
	if ((r = int_claim(cl, "nbf", &nbf)) < 0)
		return "malformed nbf claim";
	if (r > 0 && t + a->leeway < nbf)
		return "token not yet valid";
	if ((r = int_claim(cl, "iat", &iat)) < 0)
		return "malformed iat claim";
	if (r > 0 && iat > t + a->leeway)
		return "token issued in the future";

	if (a->issuer != NULL && (!json_object_object_get_ex(cl, "iss", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), a->issuer) != 0))
		return "issuer not accepted";
	if (a->audience != NULL && (!json_object_object_get_ex(cl, "aud", &v) ||
	    !aud_matches(v, a->audience)))
		return "audience not accepted";

	if (!json_object_object_get_ex(cl, "sub", &v) ||
	    copy_text(v, p->sub, LIM_SUB_MAX) != 0)
		return "missing or invalid sub claim";

	if (!json_object_object_get_ex(cl, a->org_claim, &v))
		return "missing organization claim";
	if (json_object_is_type(v, json_type_int)) {
		snprintf(num, sizeof(num), "%" PRId64,
		    json_object_get_int64(v));
		memcpy(p->org, num, strlen(num) + 1);
	} else if (copy_text(v, p->org, LIM_ORG_MAX) != 0)
		return "invalid organization claim";

	p->role = ROLE_ADMIN; /* no role claim: a plain user token (contract) */
	if (json_object_object_get_ex(cl, "role", &v)) {
		*forbidden = 1;
		if (!json_object_is_type(v, json_type_string))
			return "unknown role";
		for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
			if (strcmp(json_object_get_string(v),
			    roles[i].claim) == 0)
				break;
		if (i == sizeof(roles) / sizeof(roles[0]))
			return "unknown role";
		*forbidden = 0;
		p->role = roles[i].role;
	}
	return NULL;
}

/*
 * Verify an Authorization header value at `now` (see auth.h). Returns BD_OK
 * and fills *p; BD_ERR_UNAUTHORIZED or BD_ERR_FORBIDDEN with a static *why.
 * *p is only written on success.
 */
enum bd_err
auth_verify(const struct auth_ctx *a, const char *authorization, time_t now,
    struct principal *p, const char **why)
{
	enum bd_err rc = BD_ERR_UNAUTHORIZED;
	struct principal pr;
	const char *tok = NULL, *w;
	char *token = NULL, *grants = NULL;
	size_t toklen = 0, hdrlen = 0;
	json_object *claims = NULL;
	jwt_t *jwt = NULL;
	int forbidden = 0;

	memset(&pr, 0, sizeof(pr));
	if ((w = split_header(authorization, &tok, &toklen, &hdrlen)) != NULL)
		goto out;
	if ((w = check_jose_header(a, tok, hdrlen)) != NULL)
		goto out;

	/* libjwt wants the token NUL-terminated, without trailing OWS. */
	w = "internal error";
	if ((token = malloc(toklen + 1)) == NULL)
		goto out;
	memcpy(token, tok, toklen);
	token[toklen] = '\0';

	w = "invalid signature";
	if (jwt_decode(&jwt, token, a->key, (int)a->keylen) != 0 || jwt == NULL)
		goto out;
	/* Belt and braces: what libjwt verified with is what we pinned. */
	w = "algorithm not allowed";
	if (jwt_get_alg(jwt) != a->alg)
		goto out;

	w = "malformed claims";
	if ((grants = jwt_get_grants_json(jwt, NULL)) == NULL ||
	    (claims = parse_object(grants, strlen(grants))) == NULL)
		goto out;
	if ((w = check_claims(a, claims, now, &pr, &forbidden)) != NULL) {
		if (forbidden)
			rc = BD_ERR_FORBIDDEN;
		goto out;
	}

	*p = pr;
	rc = BD_OK;
out:
	if (why != NULL)
		*why = rc == BD_OK ? NULL : w;
	json_object_put(claims);
	wipe_str_free(grants);
	jwt_free(jwt);
	wipe_free(token, toklen);
	return rc;
}

/*
 * Mint a token (HS* only) for sub/org with an optional role, iat = now and
 * exp = now + ttl; iss and aud are added when the server checks them, so a
 * minted token passes auth_verify(). Returns a malloc'd string (free()) or
 * NULL on bad arguments, an RS/ES configuration or allocation failure.
 */
char *
auth_mint(const struct auth_ctx *a, const char *sub, const char *org,
    const char *role, long ttl, time_t now)
{
	jwt_t *jwt = NULL;
	char *out = NULL;

	if (a == NULL || a->fam != FAM_HS || sub == NULL || sub[0] == '\0' ||
	    org == NULL || org[0] == '\0' || strlen(sub) > LIM_SUB_MAX ||
	    strlen(org) > LIM_ORG_MAX || (role != NULL && role[0] == '\0') ||
	    !ident_ok(sub, strlen(sub)) || !ident_ok(org, strlen(org)))
		goto out;
	if ((ttl > 0 && (int64_t)now > INT64_MAX - ttl) ||
	    (ttl < 0 && (int64_t)now < INT64_MIN - ttl))
		goto out;
	if (jwt_new(&jwt) != 0)
		goto out;
	if (jwt_set_alg(jwt, a->alg, a->key, (int)a->keylen) != 0 ||
	    jwt_add_grant(jwt, "sub", sub) != 0 ||
	    jwt_add_grant(jwt, a->org_claim, org) != 0 ||
	    (role != NULL && jwt_add_grant(jwt, "role", role) != 0) ||
	    (a->issuer != NULL && jwt_add_grant(jwt, "iss", a->issuer) != 0) ||
	    (a->audience != NULL &&
	    jwt_add_grant(jwt, "aud", a->audience) != 0) ||
	    jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)now + ttl) != 0)
		goto out;
	out = jwt_encode_str(jwt);
out:
	jwt_free(jwt); /* libjwt scrubs its copy of the key */
	return out;
}

/* Role name for logs ("none", "viewer", "member", "admin"); static storage. */
const char *
auth_role_name(enum role r)
{
	switch (r) {
	case ROLE_NONE:
		return "none";
	case ROLE_VIEWER:
		return "viewer";
	case ROLE_MEMBER:
		return "member";
	case ROLE_ADMIN:
		return "admin";
	}
	return "unknown";
}
