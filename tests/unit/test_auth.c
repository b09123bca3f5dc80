/*
 * lib/auth.c: RFC 8725 checks around libjwt. Fixed clock (NOW), no network.
 * Attack tokens are built by hand (base64url + HMAC-SHA256 from libsodium)
 * so the header and claims are exactly what the case says; valid RS256/ES256
 * tokens are minted with libjwt and the fixed test key pairs below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <jwt.h>
#include <sodium.h>

#include "auth.h"

#define NOW 1700000000L
/* Claim values around NOW, with the 60 s leeway the tests configure. */
#define EXP_OK "1700003600"

static const char HS_KEY[] = "unit-test-hs256-secret-0123456789abcdef";

/* Test-only key pairs (generated with openssl for this file). */
static const char EC_PRIV[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3wePQtKdHBf5AS4j\n"
    "JBN0VQKaGtZfKd0VHRNP1CrQhiShRANCAAQMCt356yvzn6OoAaMXKYcbL6uzTAWW\n"
    "0AGI72IElAveB5l2SDpyrNWYti02+Y/RucsQrBjO2UWdVmnqSeUcUCU1\n"
    "-----END PRIVATE KEY-----\n";
static const char EC_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDArd+esr85+jqAGjFymHGy+rs0wF\n"
    "ltABiO9iBJQL3geZdkg6cqzVmLYtNvmP0bnLEKwYztlFnVZp6knlHFAlNQ==\n"
    "-----END PUBLIC KEY-----\n";
static const char RSA_PRIV[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDXLGjMSsnLQSGY\n"
    "ETT+oupDrD6LINrpIkS60iUdbQKJ1ZBdjLfktR0glVS753Cc07eUCVaLjMTELw3e\n"
    "lmEOMi89Ed7Uc6rTQdHphRE1cJdogtZkFqN/ec/MLtsmplNIt0N2eXG41XUrzNvV\n"
    "zIg1DnuzjQUvEHK6TUV1vWOx3j/pJGKKS36MClh04ZKX0kjPC9TTu80lbbIQkKCM\n"
    "zpDGjESCxcFBrt96+wUITIzAfn+h9lXnZBkCK71yLbsFf5dfo71ZbMaiIf5Zl7N5\n"
    "25tBxCacSMpFHrvFVbtLeErA+LEeoGDTsTcFLQ/pxJqlhh2w4hk2uDWEQqBsSXfh\n"
    "OVzzmCtDAgMBAAECggEACK0LOrWHRnFFW/7RnrTN8lWXHgAAo6bUk53WjkWvdQRN\n"
    "8l+yqH+fAYnT5VGzKjelLsxjl3PhGTH2grOYjTx7yCAY1oMlb6g3QQ2zAG8eQ8IG\n"
    "x/lbtU+hj8+R2ZCaShPNnhDOg4/jzhTQBmJdWZpQZZB5lYi5v4ZPFyzAQNM/y3Qv\n"
    "pDHh9bXyhmXSpjxmFwNxyNbCQN7uHmYIS+B6JuFTrQm/z9ZrtxUxrpJJUxca0gL3\n"
    "jJgIB93Ept1rudMAWvX4/qjWUOkTGs0eQ08y8FxGJFDY29y6mIWxrEA8v1SZ9b0o\n"
    "/lff9oDRhV41uiLeL4UNQOB4ZmyqJWXS6j7w9CJaxQKBgQD84ZPyyroEpd3PUeTt\n"
    "pp9a3DN0/0toCP9QzV47H6jnPw/Hi6REsODd1HjeuqEc7ZQZ//uvz/DYX9mK9PHj\n"
    "xlumdJKaRszWFauotEX1cLU33zb19br3S029f9Do0n8EGf8zWhzG9u4DoQagyaBP\n"
    "ooDNGitc1BuyF+jSp0iGAfAArQKBgQDZ08bi1uDMSpjm3r9bHjMk7dcxrQTKdTgF\n"
    "A+eveLpUwJgBmSY1smyee1/S5Zx8ahlT0691dhBpfamgFI1L8WilDK9z1CZphk9u\n"
    "wcL2adByMXg2YPbt3iBiv2hQrkKGL3yJBjYAH/8CYnDaGREgac9S/yyrEZrjFfFN\n"
    "ZlMmw5wprwKBgQDDz/ya5SWzUah2z6gf6YS9e4MQ1lpSfZ0NuWh9CZ/lKCyUzGlv\n"
    "kzMcMllBxmvZFZI3q8L9OVv6gAXYlqDzSfZP5zZZ5fbY00Dvyl/dlN+OGvbY7+VN\n"
    "de8FjIJ8tfoKeALnhaCA5FYbU0XpnRbYczGfH+Nx5wBnICJ1c3kx4zAvpQKBgDTW\n"
    "WwMBLmw/mBFAbNhUXgGSM8XX+zaE8n688MEunrwaL4ULuioCSriyoo7MpYXEUrpz\n"
    "ubbbWaXNFo0/Dvsh5slKZ3DIQD0OmEv8cidFiYt5lnhSUvNmEyMA3PPdIUPdVu8B\n"
    "861aFYhlioxM0kuzftfaD+K7FYAJ/YtRy8+2WTX/AoGBALp/5UY3iLLhZ/RRXueK\n"
    "MvgnmvNwERFhIpwt6E/HlapVC/jKkFri3g6qL1Pm2r6kYnUpfqXvQGlWYhFVQytK\n"
    "1OiALMNHk1MVvbf/6AGYBpnNXq2BUgqKongduEoFfqLhWy8sgJlp3fnsfZ2nOWJe\n"
    "CAyIK5qQC7R7gE4Fp7HO5jPc\n"
    "-----END PRIVATE KEY-----\n";
static const char RSA_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1yxozErJy0EhmBE0/qLq\n"
    "Q6w+iyDa6SJEutIlHW0CidWQXYy35LUdIJVUu+dwnNO3lAlWi4zExC8N3pZhDjIv\n"
    "PRHe1HOq00HR6YURNXCXaILWZBajf3nPzC7bJqZTSLdDdnlxuNV1K8zb1cyINQ57\n"
    "s40FLxByuk1Fdb1jsd4/6SRiikt+jApYdOGSl9JIzwvU07vNJW2yEJCgjM6QxoxE\n"
    "gsXBQa7fevsFCEyMwH5/ofZV52QZAiu9ci27BX+XX6O9WWzGoiH+WZezedubQcQm\n"
    "nEjKRR67xVW7S3hKwPixHqBg07E3BS0P6cSapYYdsOIZNrg1hEKgbEl34Tlc85gr\n"
    "QwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

/* ---------- helpers ---------- */

static char *
b64url(const void *p, size_t len)
{
	size_t n = sodium_base64_ENCODED_LEN(len,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *s = malloc(n);

	assert_non_null(s);
	sodium_bin2base64(s, n, p, len,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return s;
}

/*
 * "Bearer " + b64url(hdr) "." b64url(payload) "." sig, where sig is
 * HMAC-SHA256 under key (NULL: empty signature, as in alg "none").
 */
static char *
hand_token(const char *scheme, const char *hdr, const char *payload,
    const char *key)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char *h = b64url(hdr, strlen(hdr));
	char *p = b64url(payload, strlen(payload));
	char *sig = NULL, *out;
	size_t n;

	n = strlen(h) + strlen(p) + 2;
	out = malloc(n + 128);
	assert_non_null(out);
	snprintf(out, n + 128, "%s.%s", h, p);
	if (key != NULL) {
		crypto_auth_hmacsha256_init(&st, (const unsigned char *)key,
		    strlen(key));
		crypto_auth_hmacsha256_update(&st, (unsigned char *)out,
		    strlen(out));
		crypto_auth_hmacsha256_final(&st, mac);
		sig = b64url(mac, sizeof(mac));
	}
	free(h);
	free(p);
	h = out;
	n = strlen(scheme) + strlen(h) + 2 + (sig ? strlen(sig) : 0);
	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%s%s.%s", scheme, h, sig ? sig : "");
	free(h);
	free(sig);
	return out;
}

/* "Bearer " + a token minted by libjwt itself (alg and key as given). */
static char *
lib_token(jwt_alg_t alg, const void *key, size_t keylen, const char *grants)
{
	jwt_t *jwt = NULL;
	char *t, *out;
	size_t n;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_add_grants_json(jwt, grants), 0);
	assert_int_equal(jwt_set_alg(jwt, alg, key, (int)keylen), 0);
	t = jwt_encode_str(jwt);
	assert_non_null(t);
	jwt_free(jwt);
	n = strlen(t) + 8;
	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "Bearer %s", t);
	free(t);
	return out;
}

static struct auth_ctx *
mk_ctx(const char *alg, const char *key, const char *iss, const char *aud)
{
	struct auth_ctx *a = NULL;
	struct cfg c;
	char err[256] = "";

	memset(&c, 0, sizeof(c));
	c.jwt_alg = (char *)alg;
	c.jwt_key = (char *)key;
	c.jwt_issuer = (char *)iss;
	c.jwt_audience = (char *)aud;
	c.jwt_leeway = 60;
	if (auth_init(&a, &c, err, sizeof(err)) != BD_OK)
		fail_msg("auth_init(%s): %s", alg, err);
	return a;
}

struct want {
	enum bd_err rc;
	const char *why; /* substring of *why, NULL: don't care */
	enum role role;
	const char *org;
};

static void
check(const char *name, const struct auth_ctx *a, const char *header,
    const struct want *w)
{
	struct principal p;
	const char *why = NULL;
	enum bd_err rc;

	memset(&p, 0x5a, sizeof(p));
	rc = auth_verify(a, header, NOW, &p, &why);
	if (rc != w->rc)
		fail_msg("%s: got %s (%s), want %s", name, err_name(rc),
		    why ? why : "-", err_name(w->rc));
	if (rc == BD_OK) {
		assert_null(why);
		if (p.role != w->role)
			fail_msg("%s: role %d, want %d", name, p.role, w->role);
		if (strcmp(p.org, w->org ? w->org : "org-1") != 0)
			fail_msg("%s: org '%s'", name, p.org);
		assert_string_equal(p.sub, "user-1");
		return;
	}
	if (why == NULL)
		fail_msg("%s: no reason", name);
	if (w->why != NULL && strstr(why, w->why) == NULL)
		fail_msg("%s: reason '%s', want '%s'", name, why, w->why);
	/* A failed verify leaves *p alone and never echoes the token. */
	assert_int_equal(((unsigned char *)&p)[0], 0x5a);
	if (header != NULL && strlen(header) > 20)
		assert_null(strstr(why, header + 7));
}

/* ---------- HS256: header, claims, roles ---------- */

#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define BASE "\"sub\":\"user-1\",\"org_id\":\"org-1\""

static const struct hcase {
	const char *name;
	const char *hdr;     /* NULL: HDR */
	const char *payload;
	struct want w;
} hcases[] = {
	{"valid", NULL, "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"typ absent", "{\"alg\":\"HS256\"}", "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"typ jwt", "{\"alg\":\"HS256\",\"typ\":\"jwt\"}",
	    "{" BASE ",\"exp\":" EXP_OK "}", {BD_OK, NULL, ROLE_ADMIN, NULL}},
	/* libjwt 1.10 refuses every other typ, so we do too (see auth.c). */
	{"typ at+jwt", "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
	    "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "type", 0, NULL}},
	{"typ other", "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}",
	    "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "type", 0, NULL}},
	{"typ not string", "{\"alg\":\"HS256\",\"typ\":1}",
	    "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "type", 0, NULL}},
	{"crit", "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
	    "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "critical", 0, NULL}},
	{"alg hs256 lower case", "{\"alg\":\"hs256\"}",
	    "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "algorithm not allowed", 0, NULL}},
	{"alg with NUL", "{\"alg\":\"HS256\\u0000x\"}",
	    "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "algorithm not allowed", 0, NULL}},
	{"alg missing", "{\"typ\":\"JWT\"}", "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "algorithm not allowed", 0, NULL}},
	{"alg not string", "{\"alg\":[\"HS256\"]}",
	    "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "algorithm not allowed", 0, NULL}},
	{"header not object", "[\"HS256\"]", "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "malformed", 0, NULL}},
	{"header not json", "alg=HS256", "{" BASE ",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "malformed", 0, NULL}},
	{"payload not object", NULL, "[1]",
	    {BD_ERR_UNAUTHORIZED, NULL, 0, NULL}},

	{"exp missing", NULL, "{" BASE "}",
	    {BD_ERR_UNAUTHORIZED, "expiry", 0, NULL}},
	{"exp string", NULL, "{" BASE ",\"exp\":\"9999999999\"}",
	    {BD_ERR_UNAUTHORIZED, "exp", 0, NULL}},
	{"exp float", NULL, "{" BASE ",\"exp\":1700003600.5}",
	    {BD_ERR_UNAUTHORIZED, "exp", 0, NULL}},
	{"exp float integral", NULL, "{" BASE ",\"exp\":1.7000036e9}",
	    {BD_ERR_UNAUTHORIZED, "exp", 0, NULL}},
	{"exp bool", NULL, "{" BASE ",\"exp\":true}",
	    {BD_ERR_UNAUTHORIZED, "exp", 0, NULL}},
	{"exp null", NULL, "{" BASE ",\"exp\":null}",
	    {BD_ERR_UNAUTHORIZED, "exp", 0, NULL}},
	{"expired beyond leeway", NULL, "{" BASE ",\"exp\":1699999940}",
	    {BD_ERR_UNAUTHORIZED, "expired", 0, NULL}},
	{"expired at exactly leeway", NULL, "{" BASE ",\"exp\":1699999940}",
	    {BD_ERR_UNAUTHORIZED, "expired", 0, NULL}},
	{"expired within leeway", NULL, "{" BASE ",\"exp\":1699999941}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"exp huge", NULL, "{" BASE ",\"exp\":9223372036854775807}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"exp negative", NULL, "{" BASE ",\"exp\":-1}",
	    {BD_ERR_UNAUTHORIZED, "expired", 0, NULL}},
	{"nbf future beyond leeway", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"nbf\":1700000061}",
	    {BD_ERR_UNAUTHORIZED, "not yet valid", 0, NULL}},
	{"nbf future within leeway", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"nbf\":1700000060}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"nbf string", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"nbf\":\"1\"}",
	    {BD_ERR_UNAUTHORIZED, "nbf", 0, NULL}},
	{"iat future beyond leeway", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iat\":1700000061}",
	    {BD_ERR_UNAUTHORIZED, "future", 0, NULL}},
	{"iat future within leeway", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iat\":1700000060}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"iat float", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iat\":1699999999.5}",
	    {BD_ERR_UNAUTHORIZED, "iat", 0, NULL}},

	{"sub missing", NULL, "{\"org_id\":\"org-1\",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "sub", 0, NULL}},
	{"sub empty", NULL,
	    "{\"sub\":\"\",\"org_id\":\"org-1\",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "sub", 0, NULL}},
	{"sub number", NULL,
	    "{\"sub\":7,\"org_id\":\"org-1\",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "sub", 0, NULL}},
	{"org missing", NULL, "{\"sub\":\"user-1\",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org empty", NULL,
	    "{\"sub\":\"user-1\",\"org_id\":\"\",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org control char", NULL,
	    "{\"sub\":\"user-1\",\"org_id\":\"a\\nb\",\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org array", NULL,
	    "{\"sub\":\"user-1\",\"org_id\":[\"org-1\"],\"exp\":" EXP_OK "}",
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org integer", NULL,
	    "{\"sub\":\"user-1\",\"org_id\":4711,\"exp\":" EXP_OK "}",
	    {BD_OK, NULL, ROLE_ADMIN, "4711"}},
	/* Issue 13: org ids are compared byte for byte, so a second spelling
	 * of an org ("acme " next to "acme") is refused, not a new org. */
#define ORG(v) "{\"sub\":\"user-1\",\"org_id\":\"" v "\",\"exp\":" EXP_OK "}"
#define SUB(v) "{\"sub\":\"" v "\",\"org_id\":\"org-1\",\"exp\":" EXP_OK "}"
	{"org trailing space", NULL, ORG("acme "),
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org leading space", NULL, ORG(" acme"),
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org only space", NULL, ORG(" "),
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org trailing tab", NULL, ORG("acme\\t"),
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org trailing nbsp", NULL, ORG("acme\\u00a0"),
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org trailing ideographic space", NULL, ORG("acme\\u3000"),
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org leading bom", NULL, ORG("\\ufeffacme"),
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org DEL", NULL, ORG("ac\\u007fme"),
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	{"org C1 control", NULL, ORG("ac\\u0085me"),
	    {BD_ERR_UNAUTHORIZED, "organization", 0, NULL}},
	/* (libjwt's JSON parser already refuses it.) */
	{"org NUL", NULL, ORG("acme\\u0000"),
	    {BD_ERR_UNAUTHORIZED, NULL, 0, NULL}},
	{"org lone surrogate", NULL, ORG("acme\\ud800"),
	    {BD_ERR_UNAUTHORIZED, NULL, 0, NULL}},
	{"org inner space", NULL, ORG("acme corp"),
	    {BD_OK, NULL, ROLE_ADMIN, "acme corp"}},
	{"org non-ascii", NULL, ORG("\\u00e9t\\u00e9"),
	    {BD_OK, NULL, ROLE_ADMIN, "\xc3\xa9t\xc3\xa9"}},
	{"org negative integer", NULL,
	    "{\"sub\":\"user-1\",\"org_id\":-42,\"exp\":" EXP_OK "}",
	    {BD_OK, NULL, ROLE_ADMIN, "-42"}},
	{"sub trailing space", NULL, SUB("user-1 "),
	    {BD_ERR_UNAUTHORIZED, "sub", 0, NULL}},
	{"sub leading space", NULL, SUB(" user-1"),
	    {BD_ERR_UNAUTHORIZED, "sub", 0, NULL}},
	{"sub control char", NULL, SUB("user\\r1"),
	    {BD_ERR_UNAUTHORIZED, "sub", 0, NULL}},
	{"sub C1 control", NULL, SUB("user-1\\u009b"),
	    {BD_ERR_UNAUTHORIZED, "sub", 0, NULL}},

	{"role viewer", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"role\":\"viewer\"}",
	    {BD_OK, NULL, ROLE_VIEWER, NULL}},
	{"role member", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"role\":\"member\"}",
	    {BD_OK, NULL, ROLE_MEMBER, NULL}},
	{"role admin", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"role\":\"admin\"}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"role owner", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"role\":\"owner\"}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"role unknown", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"role\":\"superuser\"}",
	    {BD_ERR_FORBIDDEN, "unknown role", 0, NULL}},
	{"role upper case", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"role\":\"ADMIN\"}",
	    {BD_ERR_FORBIDDEN, "unknown role", 0, NULL}},
	{"role number", NULL, "{" BASE ",\"exp\":" EXP_OK ",\"role\":3}",
	    {BD_ERR_FORBIDDEN, "unknown role", 0, NULL}},
	{"role null", NULL, "{" BASE ",\"exp\":" EXP_OK ",\"role\":null}",
	    {BD_ERR_FORBIDDEN, "unknown role", 0, NULL}},
	{"role unknown but expired", NULL,
	    "{" BASE ",\"exp\":1,\"role\":\"superuser\"}",
	    {BD_ERR_UNAUTHORIZED, "expired", 0, NULL}},
	/* iss/aud are not configured here: present or not, they pass. */
	{"iss ignored", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iss\":\"x\",\"aud\":7}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
};

static void
test_hs256_table(void **state)
{
	struct auth_ctx *a = mk_ctx("HS256", HS_KEY, NULL, NULL);
	size_t i;
	char *h;

	for (i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++) {
		h = hand_token("Bearer ", hcases[i].hdr ? hcases[i].hdr : HDR,
		    hcases[i].payload, HS_KEY);
		check(hcases[i].name, a, h, &hcases[i].w);
		free(h);
	}
	auth_free(a);
}

/* ---------- iss / aud configured ---------- */

static const struct hcase icases[] = {
	{"iss and aud match", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iss\":\"https://idp.test\","
	    "\"aud\":\"backupd\"}", {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"aud array containing", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iss\":\"https://idp.test\","
	    "\"aud\":[\"other\",\"backupd\"]}",
	    {BD_OK, NULL, ROLE_ADMIN, NULL}},
	{"aud array not containing", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iss\":\"https://idp.test\","
	    "\"aud\":[\"other\",\"backupd2\"]}",
	    {BD_ERR_UNAUTHORIZED, "audience", 0, NULL}},
	{"aud mismatch", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iss\":\"https://idp.test\","
	    "\"aud\":\"Backupd\"}", {BD_ERR_UNAUTHORIZED, "audience", 0, NULL}},
	{"aud missing", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iss\":\"https://idp.test\"}",
	    {BD_ERR_UNAUTHORIZED, "audience", 0, NULL}},
	{"aud number", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iss\":\"https://idp.test\","
	    "\"aud\":1}", {BD_ERR_UNAUTHORIZED, "audience", 0, NULL}},
	{"iss mismatch", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iss\":\"https://evil.test\","
	    "\"aud\":\"backupd\"}", {BD_ERR_UNAUTHORIZED, "issuer", 0, NULL}},
	{"iss missing", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"aud\":\"backupd\"}",
	    {BD_ERR_UNAUTHORIZED, "issuer", 0, NULL}},
	{"iss array", NULL,
	    "{" BASE ",\"exp\":" EXP_OK ",\"iss\":[\"https://idp.test\"],"
	    "\"aud\":\"backupd\"}", {BD_ERR_UNAUTHORIZED, "issuer", 0, NULL}},
};

static void
test_iss_aud_table(void **state)
{
	struct auth_ctx *a = mk_ctx("HS256", HS_KEY, "https://idp.test",
	    "backupd");
	size_t i;
	char *h;

	for (i = 0; i < sizeof(icases) / sizeof(icases[0]); i++) {
		h = hand_token("Bearer ", HDR, icases[i].payload, HS_KEY);
		check(icases[i].name, a, h, &icases[i].w);
		free(h);
	}
	auth_free(a);
}

/* ---------- the Authorization header itself ---------- */

static void
test_header_shapes(void **state)
{
	static const struct want ok = {BD_OK, NULL, ROLE_ADMIN, NULL};
	static const struct want no = {BD_ERR_UNAUTHORIZED, NULL, 0, NULL};
	static const struct want missing = {BD_ERR_UNAUTHORIZED,
	    "missing bearer token", 0, NULL};
	static const struct want malformed = {BD_ERR_UNAUTHORIZED,
	    "malformed", 0, NULL};
	static const struct want badsig = {BD_ERR_UNAUTHORIZED,
	    "invalid signature", 0, NULL};
	static const struct want toolong = {BD_ERR_UNAUTHORIZED, "too long",
	    0, NULL};
	struct auth_ctx *a = mk_ctx("HS256", HS_KEY, NULL, NULL);
	const char *payload = "{" BASE ",\"exp\":" EXP_OK "}";
	char *tok = hand_token("", HDR, payload, HS_KEY);
	char buf[LIM_AUTH_HEADER_MAX + 64], *big;
	size_t n = strlen(tok);
	const struct {
		const char *name, *pre, *post; /* header = pre token post */
		const struct want *w;
	} cases[] = {
		{"Bearer", "Bearer ", "", &ok},
		{"bearer", "bearer ", "", &ok},
		{"BEARER", "BEARER ", "", &ok},
		{"several spaces", "Bearer   ", "", &ok},
		{"trailing space", "Bearer ", "  ", &ok},
		{"Basic", "Basic ", "", &missing},
		{"no scheme", "", "", &missing},
		{"no space", "Bearer", "", &missing},
		{"tab", "Bearer\t", "", &missing},
		{"Bearerx", "Bearerx ", "", &missing},
		{"two tokens", "Bearer ", " abc.def.ghi", &malformed},
		{"padding", "Bearer ", "=", &malformed},
		{"extra part", "Bearer ", ".abc", &malformed},
		{"leading dot", "Bearer .", "", &malformed},
		{"bad char", "Bearer ", "+", &malformed},
	};
	size_t i;

	check("NULL", a, NULL, &missing);
	check("empty", a, "", &missing);
	check("scheme only", a, "Bearer ", &missing);
	check("scheme and spaces", a, "Bearer    ", &missing);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s%s", cases[i].pre, tok,
		    cases[i].post);
		check(cases[i].name, a, buf, cases[i].w);
	}

	/* Two parts only. */
	snprintf(buf, sizeof(buf), "Bearer %.*s", (int)(strrchr(tok, '.') -
	    tok), tok);
	check("two parts", a, buf, &malformed);
	/* Empty payload part. */
	check("empty payload", a, "Bearer eyJhbGciOiJIUzI1NiJ9..c2ln",
	    &malformed);

	/* One character flipped in the signature, then in the payload. */
	snprintf(buf, sizeof(buf), "Bearer %s", tok);
	buf[7 + n - 10] = buf[7 + n - 10] == 'A' ? 'B' : 'A';
	check("signature flipped", a, buf, &badsig);
	snprintf(buf, sizeof(buf), "Bearer %s", tok);
	buf[7 + strlen(HDR) + 5] ^= 1;
	check("payload flipped", a, buf, &no);
	/* Signed with another secret. */
	free(tok);
	tok = hand_token("Bearer ", HDR, payload,
	    "another-secret-0123456789abc");
	check("wrong secret", a, tok, &badsig);

	/* Longer than LIM_AUTH_HEADER_MAX (a valid token with junk claims). */
	big = malloc(LIM_AUTH_HEADER_MAX + 1);
	assert_non_null(big);
	memset(big, 'x', LIM_AUTH_HEADER_MAX);
	big[LIM_AUTH_HEADER_MAX] = '\0';
	snprintf(buf, sizeof(buf),
	    "{" BASE ",\"exp\":" EXP_OK ",\"pad\":\"%.*s\"}",
	    LIM_AUTH_HEADER_MAX - 200, big);
	free(tok);
	tok = hand_token("Bearer ", HDR, buf, HS_KEY);
	assert_true(strlen(tok) > LIM_AUTH_HEADER_MAX);
	check("header too long", a, tok, &toolong);
	free(tok);
	snprintf(buf, sizeof(buf),
	    "{" BASE ",\"exp\":" EXP_OK ",\"pad\":\"%.*s\"}",
	    LIM_AUTH_HEADER_MAX / 2, big);
	tok = hand_token("Bearer ", HDR, buf, HS_KEY);
	assert_true(strlen(tok) <= LIM_AUTH_HEADER_MAX);
	check("header long but fits", a, tok, &ok);

	free(big);
	free(tok);
	auth_free(a);
}

/* ---------- algorithm confusion (RFC 8725 §2.1, §3.1) ---------- */

static void
test_alg_none(void **state)
{
	static const struct want refused = {BD_ERR_UNAUTHORIZED,
	    "algorithm not allowed", 0, NULL};
	static const char *const hdrs[] = {
		"{\"alg\":\"none\"}",
		"{\"alg\":\"NONE\"}",
		"{\"alg\":\"nOnE\"}",
		"{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"\"}",
	};
	struct auth_ctx *a = mk_ctx("HS256", HS_KEY, NULL, NULL);
	size_t i;
	char *h;

	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		/* Unsigned, as an attacker sends it; then with a valid MAC. */
		h = hand_token("Bearer ", hdrs[i],
		    "{" BASE ",\"exp\":" EXP_OK "}", NULL);
		check(hdrs[i], a, h, &refused);
		free(h);
		h = hand_token("Bearer ", hdrs[i],
		    "{" BASE ",\"exp\":" EXP_OK "}", HS_KEY);
		check(hdrs[i], a, h, &refused);
		free(h);
	}
	auth_free(a);
}

static void
test_alg_pinned(void **state)
{
	static const struct want refused = {BD_ERR_UNAUTHORIZED,
	    "algorithm not allowed", 0, NULL};
	static const struct want ok = {BD_OK, NULL, ROLE_ADMIN, NULL};
	static const char grants[] = "{" BASE ",\"exp\":" EXP_OK "}";
	static const char hs512key[] = "unit-test-hs512-secret-0123456789abcdef"
	    "0123456789abcdef0123456789abcdef";
	struct auth_ctx *hs = mk_ctx("HS256", HS_KEY, NULL, NULL);
	struct auth_ctx *hs512 = mk_ctx("HS512", hs512key, NULL, NULL);
	struct auth_ctx *rs = mk_ctx("RS256", RSA_PUB, NULL, NULL);
	struct auth_ctx *es = mk_ctx("ES256", EC_PUB, NULL, NULL);
	char *t;

	/* libjwt-minted tokens of the pinned algorithm verify. */
	t = lib_token(JWT_ALG_HS256, HS_KEY, strlen(HS_KEY), grants);
	check("libjwt HS256", hs, t, &ok);
	free(t);
	t = lib_token(JWT_ALG_HS512, hs512key, strlen(hs512key), grants);
	check("libjwt HS512", hs512, t, &ok);
	check("HS512 token, HS256 pinned", hs, t, &refused);
	free(t);
	t = lib_token(JWT_ALG_RS256, RSA_PRIV, strlen(RSA_PRIV), grants);
	check("libjwt RS256", rs, t, &ok);
	check("RS256 token, ES256 pinned", es, t, &refused);
	check("RS256 token, HS256 pinned", hs, t, &refused);
	free(t);
	t = lib_token(JWT_ALG_ES256, EC_PRIV, strlen(EC_PRIV), grants);
	check("libjwt ES256", es, t, &ok);
	check("ES256 token, RS256 pinned", rs, t, &refused);
	free(t);

	/* Same secret, other HMAC size: still refused. */
	t = lib_token(JWT_ALG_HS384, HS_KEY, strlen(HS_KEY), grants);
	check("HS384 token, HS256 pinned", hs, t, &refused);
	free(t);

	/*
	 * The classic forgery: the server pins RS256 and holds the public
	 * PEM; the attacker signs HS256 with that PEM as the HMAC secret.
	 * libjwt alone would accept it (it picks the algorithm from the
	 * token and uses the key bytes as an HMAC secret).
	 */
	t = lib_token(JWT_ALG_HS256, RSA_PUB, strlen(RSA_PUB), grants);
	check("HS256 signed with RSA public key", rs, t, &refused);
	free(t);
	t = hand_token("Bearer ", "{\"alg\":\"HS256\"}", grants, RSA_PUB);
	check("hand HS256 signed with RSA public key", rs, t, &refused);
	free(t);
	t = lib_token(JWT_ALG_HS256, EC_PUB, strlen(EC_PUB), grants);
	check("HS256 signed with EC public key", es, t, &refused);
	free(t);
	/* rs256 in lower case with a valid RS signature is still refused. */
	t = hand_token("Bearer ", "{\"alg\":\"rs256\"}", grants, NULL);
	check("alg rs256 lower case", rs, t, &refused);
	free(t);

	auth_free(hs);
	auth_free(hs512);
	auth_free(rs);
	auth_free(es);
}

/* ---------- init and mint ---------- */

static void
test_init(void **state)
{
	struct auth_ctx *a = NULL;
	struct cfg c;
	char err[256], path[] = "/tmp/test_auth_keyXXXXXX", *h;
	const char *why;
	struct principal p;
	const struct {
		const char *name, *alg, *key, *key_file, *err;
	} bad[] = {
		{"no key", "HS256", NULL, NULL, "jwt_key"},
		{"empty key", "HS256", "", NULL, "jwt_key"},
		{"alg none", "none", HS_KEY, NULL, "jwt_alg"},
		{"alg lower case", "hs256", HS_KEY, NULL, "jwt_alg"},
		{"alg unknown", "PS256", HS_KEY, NULL, "jwt_alg"},
		{"RS256 with a secret", "RS256", HS_KEY, NULL, "PEM"},
		{"RS256 with a private key", "RS256", RSA_PRIV, NULL, "PEM"},
		{"missing key file", "HS256", NULL, "/nonexistent/key",
		    "jwt_key_file"},
		/* Issue 13: an HS secret of fewer than 32 bytes. */
		{"HS256 31-byte secret", "HS256",
		    "0123456789abcdef0123456789abcde", NULL, "at least 32"},
		{"HS512 short secret", "HS512", "change-me", NULL,
		    "at least 32"},
	};
	size_t i;
	int fd;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&c, 0, sizeof(c));
		c.jwt_alg = (char *)bad[i].alg;
		c.jwt_key = (char *)bad[i].key;
		c.jwt_key_file = (char *)bad[i].key_file;
		err[0] = '\0';
		if (auth_init(&a, &c, err, sizeof(err)) != BD_ERR_CONFIG)
			fail_msg("%s: accepted", bad[i].name);
		assert_null(a);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("%s: reason '%s'", bad[i].name, err);
		if (bad[i].key != NULL && bad[i].key[0] != '\0')
			assert_null(strstr(err, bad[i].key));
	}

	/* Exactly 32 bytes is enough. */
	memset(&c, 0, sizeof(c));
	c.jwt_alg = "HS256";
	c.jwt_key = "0123456789abcdef0123456789abcdef";
	assert_int_equal(auth_init(&a, &c, err, sizeof(err)), BD_OK);
	auth_free(a);

	/* jwt_key_file with a trailing newline: the secret is without it. */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, HS_KEY, strlen(HS_KEY)),
	    (ssize_t)strlen(HS_KEY));
	assert_int_equal(write(fd, "\n", 1), 1);
	close(fd);
	memset(&c, 0, sizeof(c));
	c.jwt_alg = "HS256";
	c.jwt_key_file = path;
	c.jwt_leeway = 60;
	assert_int_equal(auth_init(&a, &c, err, sizeof(err)), BD_OK);
	h = hand_token("Bearer ", HDR, "{" BASE ",\"exp\":" EXP_OK "}",
	    HS_KEY);
	assert_int_equal(auth_verify(a, h, NOW, &p, &why), BD_OK);
	free(h);
	auth_free(a);

	/* A PEM key file keeps its bytes. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, EC_PUB, strlen(EC_PUB)),
	    (ssize_t)strlen(EC_PUB));
	close(fd);
	c.jwt_alg = "ES256";
	assert_int_equal(auth_init(&a, &c, err, sizeof(err)), BD_OK);
	h = lib_token(JWT_ALG_ES256, EC_PRIV, strlen(EC_PRIV),
	    "{" BASE ",\"exp\":" EXP_OK "}");
	assert_int_equal(auth_verify(a, h, NOW, &p, &why), BD_OK);
	free(h);
	auth_free(a);
	unlink(path);

	/* A configured org claim name. */
	memset(&c, 0, sizeof(c));
	c.jwt_alg = "HS256";
	c.jwt_key = (char *)HS_KEY;
	c.jwt_org_claim = "tenant";
	assert_int_equal(auth_init(&a, &c, err, sizeof(err)), BD_OK);
	h = hand_token("Bearer ", HDR, "{\"sub\":\"user-1\",\"tenant\":\"t-9\","
	    "\"org_id\":\"org-1\",\"exp\":" EXP_OK "}", HS_KEY);
	assert_int_equal(auth_verify(a, h, NOW, &p, &why), BD_OK);
	assert_string_equal(p.org, "t-9");
	free(h);
	h = hand_token("Bearer ", HDR, "{" BASE ",\"exp\":" EXP_OK "}", HS_KEY);
	assert_int_equal(auth_verify(a, h, NOW, &p, &why),
	    BD_ERR_UNAUTHORIZED);
	free(h);
	/* Leeway 0: expired the second exp is reached. */
	auth_free(a);
	c.jwt_org_claim = NULL;
	c.jwt_leeway = 0;
	assert_int_equal(auth_init(&a, &c, err, sizeof(err)), BD_OK);
	h = hand_token("Bearer ", HDR, "{" BASE ",\"exp\":1700000000}", HS_KEY);
	assert_int_equal(auth_verify(a, h, NOW, &p, &why),
	    BD_ERR_UNAUTHORIZED);
	assert_int_equal(auth_verify(a, h, NOW - 1, &p, &why), BD_OK);
	free(h);
	auth_free(a);
	auth_free(NULL);
}

static void
test_mint(void **state)
{
	static const struct {
		const char *role;
		enum bd_err rc;
		enum role want;
	} cases[] = {
		{NULL, BD_OK, ROLE_ADMIN},
		{"viewer", BD_OK, ROLE_VIEWER},
		{"member", BD_OK, ROLE_MEMBER},
		{"owner", BD_OK, ROLE_ADMIN},
		{"root", BD_ERR_FORBIDDEN, ROLE_NONE},
	};
	struct auth_ctx *a = mk_ctx("HS256", HS_KEY, "https://idp.test",
	    "backupd");
	struct auth_ctx *rs = mk_ctx("RS256", RSA_PUB, NULL, NULL);
	struct principal p;
	const char *why;
	char *t, h[LIM_AUTH_HEADER_MAX];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t = auth_mint(a, "user-1", "org-1", cases[i].role, 3600, NOW);
		assert_non_null(t);
		snprintf(h, sizeof(h), "Bearer %s", t);
		assert_int_equal(auth_verify(a, h, NOW, &p, &why), cases[i].rc);
		if (cases[i].rc == BD_OK) {
			assert_int_equal(p.role, cases[i].want);
			assert_string_equal(p.sub, "user-1");
			assert_string_equal(p.org, "org-1");
		}
		/* exp = now + ttl, iat = now (within leeway both ways). */
		assert_int_equal(auth_verify(a, h, NOW + 3600 + 60, &p, &why),
		    BD_ERR_UNAUTHORIZED);
		assert_int_equal(auth_verify(a, h, NOW - 61, &p, &why),
		    BD_ERR_UNAUTHORIZED);
		free(t);
	}
	assert_null(auth_mint(rs, "user-1", "org-1", NULL, 3600, NOW));
	assert_null(auth_mint(a, "", "org-1", NULL, 3600, NOW));
	assert_null(auth_mint(a, "user-1", NULL, NULL, 3600, NOW));
	/* What verify refuses, mint does not make. */
	assert_null(auth_mint(a, "user-1", "acme ", NULL, 3600, NOW));
	assert_null(auth_mint(a, " user-1", "acme", NULL, 3600, NOW));
	auth_free(a);
	auth_free(rs);

	assert_string_equal(auth_role_name(ROLE_NONE), "none");
	assert_string_equal(auth_role_name(ROLE_VIEWER), "viewer");
	assert_string_equal(auth_role_name(ROLE_MEMBER), "member");
	assert_string_equal(auth_role_name(ROLE_ADMIN), "admin");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hs256_table),
		cmocka_unit_test(test_iss_aud_table),
		cmocka_unit_test(test_header_shapes),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_alg_pinned),
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_mint),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
