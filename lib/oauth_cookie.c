/* The OAuth browser-binding cookie; see oauth_cookie.h. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "oauth_cookie.h"

/* The attributes after the value; Secure is added over https. */
#define ATTRS "; Max-Age=%d; Path=" OAUTH_COOKIE_PATH "; HttpOnly; " \
    "SameSite=Lax%s"

/* See oauth_cookie.h. */
void
oauth_cookie_new(char value[OAUTH_COOKIE_VALUE_LEN + 1],
    unsigned char hash[OAUTH_COOKIE_HASH_LEN])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(value, OAUTH_COOKIE_VALUE_LEN + 1, raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	crypto_hash_sha256(hash, (const unsigned char *)value,
	    OAUTH_COOKIE_VALUE_LEN);
	sodium_memzero(raw, sizeof(raw));
}

/* Exactly OAUTH_COOKIE_VALUE_LEN base64url characters. */
static bool
value_ok(const char *v, size_t len)
{
	return len == OAUTH_COOKIE_VALUE_LEN && strspn(v,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
	    >= len;
}

/* See oauth_cookie.h. */
bool
oauth_cookie_header(char *buf, size_t len, const char *value, bool secure)
{
	int n;

	if (value == NULL || !value_ok(value, strlen(value)))
		return false;
	n = snprintf(buf, len, OAUTH_COOKIE_NAME "=%s" ATTRS, value,
	    OAUTH_COOKIE_MAX_AGE, secure ? "; Secure" : "");
	return n > 0 && (size_t)n < len;
}

/* See oauth_cookie.h. */
const char *
oauth_cookie_clear_header(bool secure)
{
	return secure ? OAUTH_COOKIE_NAME "=; Max-Age=0; Path="
	    OAUTH_COOKIE_PATH "; HttpOnly; SameSite=Lax; Secure" :
	    OAUTH_COOKIE_NAME "=; Max-Age=0; Path=" OAUTH_COOKIE_PATH
	    "; HttpOnly; SameSite=Lax";
}

/* See oauth_cookie.h. */
bool
oauth_cookie_https(const char *https_param)
{
	return https_param != NULL && https_param[0] != '\0' &&
	    strcasecmp(https_param, "off") != 0;
}

/* See oauth_cookie.h. */
bool
oauth_cookie_matches(const char *h, const unsigned char *stored,
    size_t stored_len)
{
	static const char name[] = OAUTH_COOKIE_NAME;
	unsigned char hash[OAUTH_COOKIE_HASH_LEN];
	const char *p, *end, *v;
	size_t len, vlen;
	bool found = false;

	if (h == NULL || stored == NULL || stored_len != sizeof(hash))
		return false;
	for (p = h; *p != '\0' && !found; p = *end == ';' ? end + 1 : end) {
		end = p + strcspn(p, ";");
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		len = (size_t)(end - p);
		if (len <= sizeof(name) - 1 || memcmp(p, name,
		    sizeof(name) - 1) != 0 || p[sizeof(name) - 1] != '=')
			continue;
		v = p + sizeof(name);
		vlen = len - sizeof(name);
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		/* RFC 6265 allows a DQUOTEd value. */
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		if (!value_ok(v, vlen))
			continue;
		crypto_hash_sha256(hash, (const unsigned char *)v, vlen);
		found = sodium_memcmp(hash, stored, sizeof(hash)) == 0;
	}
	sodium_memzero(hash, sizeof(hash));
	return found;
}
