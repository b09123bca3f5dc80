/*
 * OAuth 2.0 authorization-code flow with PKCE for the OAuth destination
 * types (Google Drive, OneDrive): the providers' URLs and token endpoint
 * calls. RFC 6749 §4.1, RFC 7636 (S256), Google's "OAuth 2.0 for Web Server
 * Applications", Microsoft identity platform "authorization code flow".
 *
 * Tokens never leave this module except into struct oauth_tokens, whose
 * strings the caller wipes with oauth_tokens_clear().
 */
#ifndef BD_OAUTH_H
#define BD_OAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "cfg.h"
#include "err.h"
#include "probe/probe.h"

/* A destination type's provider is in its registry row (dtype.h);
 * OAUTH_NONE for the types that do not connect through OAuth. */
enum oauth_provider {
	OAUTH_NONE, OAUTH_GOOGLE, OAUTH_MICROSOFT, OAUTH_DROPBOX, OAUTH__MAX
};

/* The provider of a destination type name (from the registry), OAUTH_NONE
 * for an unknown or plain type. */
enum oauth_provider oauth_provider_of(const char *type);

/* The client a destination uses: its own clientId/clientSecret when set in
 * its config, else the server's. Borrowed pointers; NULL when unset. */
struct oauth_client {
	const char *id, *secret;
	const char *tenant;   /* Microsoft: config tenant or "common" */
};
void oauth_client_of(const struct cfg *, enum oauth_provider,
    json_object *config, struct oauth_client *out);

/*
 * The provider's authorization URL (malloc'd) for a state and a PKCE
 * challenge (base64url SHA-256 of the verifier), with redirect_uri =
 * cfg->oauth_redirect_uri. Google: scope drive.file, access_type=offline,
 * prompt=consent. Microsoft: {login}/{tenant}/oauth2/v2.0/authorize, scope
 * "offline_access Files.ReadWrite", response_mode=query. Dropbox:
 * dropbox_auth_url, token_access_type=offline, the four scopes the probe
 * needs. NULL on OOM.
 */
char *oauth_authorization_url(const struct cfg *, enum oauth_provider,
    const struct oauth_client *, const char *state, const char *challenge);

/* PKCE: a fresh verifier (43 base64url chars of 32 random bytes) and its
 * S256 challenge. */
void oauth_pkce(char verifier[64], char challenge[64]);
/* The S256 challenge of a verifier: base64url(SHA-256(verifier)), no
 * padding (RFC 7636 §4.2). */
void oauth_pkce_challenge(const char *verifier, char challenge[64]);

/* A fresh state nonce: 32 random bytes, base64url (43 chars). */
void oauth_nonce(char nonce[64]);

/*
 * The state parameter: "{destination id}:{provider type}:{nonce}". Only
 * sha256(nonce) is stored; the id and type let the callback refuse a nonce
 * pasted next to another destination without burning the real flow.
 */
#define OAUTH_STATE_MAX 160
#define OAUTH_NONCE_LEN 43
/* Write the state into out (OAUTH_STATE_MAX bytes). */
void oauth_state_make(char out[OAUTH_STATE_MAX], const char *id,
    const char *type, const char *nonce);
/* Split a state; false unless it is a UUID, an OAuth type and a 43-char
 * base64url nonce separated by single ':'. */
bool oauth_state_parse(const char *s, char id[37], char type[32],
    char nonce[64]);

struct oauth_tokens {
	char *access_token;   /* malloc'd; wiped by oauth_tokens_clear */
	char *refresh_token;  /* NULL when the answer had none (refresh) */
	long long expires_at_ms;
};
void oauth_tokens_clear(struct oauth_tokens *);

/* Why a token call failed. */
enum oauth_fail {
	OAUTH_OK = 0,
	OAUTH_FAIL_NETWORK,      /* connect, TLS, timeout, egress policy */
	OAUTH_FAIL_INVALID_GRANT,/* code or refresh token rejected/revoked */
	OAUTH_FAIL_CLIENT,       /* invalid_client / unauthorized_client */
	OAUTH_FAIL_PROVIDER,     /* any other error answer */
};

/*
 * Exchange an authorization code (grant_type=authorization_code, with the
 * PKCE verifier and the identical redirect_uri) or refresh
 * (grant_type=refresh_token) at the provider's token endpoint, through
 * probe_curl (egress policy, timeouts, byte cap). Fills *t on OAUTH_OK.
 */
enum oauth_fail oauth_exchange_code(const struct probe_env *, enum
    oauth_provider, const struct oauth_client *, const char *code,
    const char *verifier, struct oauth_tokens *t);
enum oauth_fail oauth_refresh(const struct probe_env *, enum oauth_provider,
    const struct oauth_client *, const char *refresh_token,
    struct oauth_tokens *t);

/* Where the tokens live inside a destination's (encrypted) config: the
 * member "_oauth" {"accessToken","refreshToken","expiresAt" (unix ms)}.
 * Internal members start with '_' and are never shown (dtype_redact shows
 * registry fields only) and never accepted from a client (unknown fields). */
#define OAUTH_CONFIG_MEMBER "_oauth"

#endif
