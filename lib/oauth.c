#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "dtype.h"
#include "oauth.h"
#include "probe/probe_http.h"
#include "uuid.h"
#include "wipe.h"

/* Scopes: Google's drive.file (files this app created or opened; the
 * narrowest scope that can write backups), Microsoft's Files.ReadWrite with
 * offline_access so a refresh token is issued. */
#define GOOGLE_SCOPE "https://www.googleapis.com/auth/drive.file"
#define MICROSOFT_SCOPE "offline_access Files.ReadWrite"
/* Dropbox scoped apps ("OAuth Guide", "Scopes"): what the probe and a
 * backup need, nothing for sharing or team data. A refresh token comes with
 * token_access_type=offline, not with a scope. */
#define DROPBOX_SCOPE "account_info.read files.metadata.read " \
	"files.content.read files.content.write"

enum oauth_provider
oauth_provider_of(const char *type)
{
	const struct dtype *t = dtype_find(type);

	return t != NULL ? t->oauth : OAUTH_NONE;
}

static const char *
member(json_object *o, const char *k)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0)
		return NULL;
	return json_object_get_string(v);
}

void
oauth_client_of(const struct cfg *c, enum oauth_provider p,
    json_object *config, struct oauth_client *out)
{
	const char *id = member(config, "clientId");
	const char *secret = member(config, "clientSecret");

	memset(out, 0, sizeof(*out));
	/* The destination's own client replaces the server's as a pair. */
	if (id != NULL) {
		out->id = id;
		out->secret = secret;
	} else if (p == OAUTH_GOOGLE) {
		out->id = c->google_client_id;
		out->secret = c->google_client_secret;
	} else if (p == OAUTH_DROPBOX) {
		out->id = c->dropbox_client_id;
		out->secret = c->dropbox_client_secret;
	} else {
		out->id = c->microsoft_client_id;
		out->secret = c->microsoft_client_secret;
	}
	out->tenant = member(config, "tenant");
	if (out->tenant == NULL)
		out->tenant = "common";
}

/* base64url without padding (RFC 7636 §3 / RFC 4648 §5). */
static void
b64url(char *out, size_t outlen, const unsigned char *in, size_t n)
{
	sodium_bin2base64(out, outlen, in, n,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

void
oauth_pkce_challenge(const char *verifier, char challenge[64])
{
	unsigned char hash[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(hash, (const unsigned char *)verifier,
	    strlen(verifier));
	b64url(challenge, 64, hash, sizeof(hash));
}

void
oauth_pkce(char verifier[64], char challenge[64])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	b64url(verifier, 64, raw, sizeof(raw));
	oauth_pkce_challenge(verifier, challenge);
	sodium_memzero(raw, sizeof(raw));
}

void
oauth_nonce(char nonce[64])
{
	unsigned char raw[32];

	randombytes_buf(raw, sizeof(raw));
	b64url(nonce, 64, raw, sizeof(raw));
}

void
oauth_state_make(char out[OAUTH_STATE_MAX], const char *id, const char *type,
    const char *nonce)
{
	snprintf(out, OAUTH_STATE_MAX, "%s:%s:%s", id, type, nonce);
}

static bool
b64url_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool
oauth_state_parse(const char *s, char id[UUID_STR_LEN + 1], char type[32],
    char nonce[64])
{
	const char *a, *b;

	if (s == NULL || (a = strchr(s, ':')) == NULL ||
	    (b = strchr(a + 1, ':')) == NULL || strchr(b + 1, ':') != NULL)
		return false;
	if ((size_t)(a - s) != UUID_STR_LEN || (size_t)(b - a - 1) >= 32 ||
	    strlen(b + 1) != OAUTH_NONCE_LEN)
		return false;
	memcpy(id, s, UUID_STR_LEN);
	id[UUID_STR_LEN] = '\0';
	memcpy(type, a + 1, (size_t)(b - a - 1));
	type[b - a - 1] = '\0';
	memcpy(nonce, b + 1, OAUTH_NONCE_LEN + 1);
	for (const char *p = nonce; *p; p++)
		if (!b64url_char((unsigned char)*p))
			return false;
	return uuid_valid(id) && oauth_provider_of(type) != OAUTH_NONE;
}

/*
 * Append "k=<escaped v>" to a growing string: after `first` ('?' for a URL
 * query, '\0' for a form body) when the string has no parameter yet, else
 * after '&'. Secrets pass through here (client secret, code, verifier), so
 * the escaped copy is wiped and the caller wipes the result.
 */
static int
add_param(char **s, size_t *len, char first, const char *k, const char *v)
{
	char *e = curl_easy_escape(NULL, v ? v : "", 0), *n;
	char sep[2] = {0, 0};
	size_t need;

	if (e == NULL)
		return -1;
	if (first == '?')
		sep[0] = *s != NULL && strchr(*s, '?') ? '&' : '?';
	else if (*len > 0)
		sep[0] = '&';
	need = *len + strlen(k) + strlen(e) + 3;
	if ((n = realloc(*s, need)) == NULL) {
		sodium_memzero(e, strlen(e));
		curl_free(e);
		return -1;
	}
	*s = n;
	*len += (size_t)snprintf(n + *len, need - *len, "%s%s=%s", sep, k, e);
	sodium_memzero(e, strlen(e));
	curl_free(e);
	return 0;
}

char *
oauth_authorization_url(const struct cfg *c, enum oauth_provider p,
    const struct oauth_client *cl, const char *state, const char *challenge)
{
	char *u = NULL;
	size_t len;
	int bad = 0;

	if (p == OAUTH_GOOGLE) {
		u = strdup(c->google_auth_url);
	} else if (p == OAUTH_DROPBOX) {
		u = strdup(c->dropbox_auth_url);
	} else {
		size_t n = strlen(c->microsoft_login_url) +
		    strlen(cl->tenant) + 32;
		if ((u = malloc(n)) != NULL)
			snprintf(u, n, "%s/%s/oauth2/v2.0/authorize",
			    c->microsoft_login_url, cl->tenant);
	}
	if (u == NULL)
		return NULL;
	len = strlen(u);
	bad |= add_param(&u, &len, '?', "client_id", cl->id);
	bad |= add_param(&u, &len, '?', "redirect_uri", c->oauth_redirect_uri);
	bad |= add_param(&u, &len, '?', "response_type", "code");
	if (p == OAUTH_GOOGLE) {
		bad |= add_param(&u, &len, '?', "scope", GOOGLE_SCOPE);
		bad |= add_param(&u, &len, '?', "access_type", "offline");
		bad |= add_param(&u, &len, '?', "prompt", "consent");
	} else if (p == OAUTH_DROPBOX) {
		bad |= add_param(&u, &len, '?', "scope", DROPBOX_SCOPE);
		bad |= add_param(&u, &len, '?', "token_access_type",
		    "offline");
	} else {
		bad |= add_param(&u, &len, '?', "scope", MICROSOFT_SCOPE);
		bad |= add_param(&u, &len, '?', "response_mode", "query");
	}
	bad |= add_param(&u, &len, '?', "state", state);
	bad |= add_param(&u, &len, '?', "code_challenge", challenge);
	bad |= add_param(&u, &len, '?', "code_challenge_method", "S256");
	if (bad) {
		free(u);
		return NULL;
	}
	return u;
}

void
oauth_tokens_clear(struct oauth_tokens *t)
{
	wipe_str_free(t->access_token);
	wipe_str_free(t->refresh_token);
	memset(t, 0, sizeof(*t));
}

static char *
token_url(const struct cfg *c, enum oauth_provider p,
    const struct oauth_client *cl)
{
	char *u;
	size_t n;

	if (p == OAUTH_GOOGLE)
		return strdup(c->google_token_url);
	if (p == OAUTH_DROPBOX) {
		/* Dropbox "OAuth Guide": POST {api}/oauth2/token. */
		char *base = probe_base_url(c->dropbox_api_url,
		    "https://api.dropboxapi.com");

		u = base != NULL ? probe_concat(base, "/oauth2/token", NULL,
		    NULL) : NULL;
		free(base);
		return u;
	}
	n = strlen(c->microsoft_login_url) + strlen(cl->tenant) + 32;
	if ((u = malloc(n)) != NULL)
		snprintf(u, n, "%s/%s/oauth2/v2.0/token",
		    c->microsoft_login_url, cl->tenant);
	return u;
}

static char *
dup_member(json_object *o, const char *k)
{
	const char *v = member(o, k);

	return v ? strdup(v) : NULL;
}

/* POST the form to the token endpoint and read the tokens (RFC 6749 §5). */
static enum oauth_fail
token_call(const struct probe_env *env, enum oauth_provider p,
    const struct oauth_client *cl, char *body, size_t bodylen,
    struct oauth_tokens *t)
{
	struct probe_xfer x;
	struct curl_slist *hdr = NULL;
	json_object *answer = NULL, *v;
	enum oauth_fail rc = OAUTH_FAIL_NETWORK;
	char *url = token_url(env->cfg, p, cl);
	long status = 0;
	CURLcode cc;

	memset(t, 0, sizeof(*t));
	memset(&x, 0, sizeof(x));
	if (url == NULL || probe_curl(&x, env, "https,http") != BD_OK)
		goto out;
	hdr = curl_slist_append(hdr, "Accept: application/json");
	curl_easy_setopt(x.h, CURLOPT_URL, url);
	curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE, (long)bodylen);
	curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, hdr);
	cc = curl_easy_perform(x.h);
	if (cc != CURLE_OK)
		goto out;
	curl_easy_getinfo(x.h, CURLINFO_RESPONSE_CODE, &status);
	answer = json_tokener_parse(x.body);
	rc = OAUTH_FAIL_PROVIDER;
	if (status != 200 || answer == NULL) {
		const char *e = member(answer, "error");
		if (e != NULL && strcmp(e, "invalid_grant") == 0)
			rc = OAUTH_FAIL_INVALID_GRANT;
		else if (e != NULL && (strcmp(e, "invalid_client") == 0 ||
		    strcmp(e, "unauthorized_client") == 0))
			rc = OAUTH_FAIL_CLIENT;
		goto out;
	}
	if ((t->access_token = dup_member(answer, "access_token")) == NULL)
		goto out;
	t->refresh_token = dup_member(answer, "refresh_token");
	long long expires_in = 3600;
	if (json_object_object_get_ex(answer, "expires_in", &v) &&
	    (json_object_is_type(v, json_type_int) ||
	    json_object_is_type(v, json_type_string)))
		expires_in = json_object_get_int64(v);
	if (expires_in <= 0 || expires_in > 366LL * 86400)
		expires_in = 3600;
	t->expires_at_ms = clock_real_ms() + expires_in * 1000;
	rc = OAUTH_OK;
out:
	if (rc != OAUTH_OK)
		oauth_tokens_clear(t);
	/* The parsed answer holds tokens: wipe its strings. */
	wipe_json_put(answer);
	if (x.body != NULL)
		sodium_memzero(x.body, x.len);
	probe_xfer_cleanup(&x);
	curl_slist_free_all(hdr);
	free(url);
	return rc;
}

/*
 * One token request (RFC 6749 §4.1.3 or §6): the grant's own parameters
 * (NULL-terminated name/value pairs), then the client credentials (and
 * Microsoft's scope), POSTed by token_call. The form holds secrets and is
 * wiped.
 */
static enum oauth_fail
grant(const struct probe_env *env, enum oauth_provider p,
    const struct oauth_client *cl, const char *const *kv,
    struct oauth_tokens *t)
{
	char *body = NULL;
	size_t len = 0;
	enum oauth_fail rc = OAUTH_FAIL_PROVIDER;

	for (; kv[0] != NULL; kv += 2)
		if (add_param(&body, &len, 0, kv[0], kv[1]))
			goto out;
	if (add_param(&body, &len, 0, "client_id", cl->id) ||
	    (cl->secret &&
	    add_param(&body, &len, 0, "client_secret", cl->secret)) ||
	    (p == OAUTH_MICROSOFT &&
	    add_param(&body, &len, 0, "scope", MICROSOFT_SCOPE)))
		goto out;
	rc = token_call(env, p, cl, body, len, t);
out:
	wipe_free(body, len);
	return rc;
}

enum oauth_fail
oauth_exchange_code(const struct probe_env *env, enum oauth_provider p,
    const struct oauth_client *cl, const char *code, const char *verifier,
    struct oauth_tokens *t)
{
	const char *const kv[] = {"grant_type", "authorization_code",
		"code", code, "redirect_uri", env->cfg->oauth_redirect_uri,
		"code_verifier", verifier, NULL};

	return grant(env, p, cl, kv, t);
}

enum oauth_fail
oauth_refresh(const struct probe_env *env, enum oauth_provider p,
    const struct oauth_client *cl, const char *refresh_token,
    struct oauth_tokens *t)
{
	const char *const kv[] = {"grant_type", "refresh_token",
		"refresh_token", refresh_token, NULL};

	return grant(env, p, cl, kv, t);
}
