/*
 * The OAuth browser binding (RFC 9700 §4.7; openapi.yaml, the callback):
 * POST /{id}/oauth sets the cookie `backupd_oauth` holding a random value
 * whose sha256 is stored with the state; while oauth_bind_browser is on, the
 * callback must carry that cookie, so a forwarded or leaked authorization
 * link cannot be completed in another browser.
 *
 * The cookie is HttpOnly, SameSite=Lax (sent on the provider's top-level
 * redirect back), Path=/backup-destinations/oauth/callback (sent nowhere
 * else), Max-Age=600 (the state's lifetime), and Secure when the request
 * came over https. One browser holds one binding: starting a second flow
 * replaces the first one's cookie.
 */
#ifndef BD_OAUTH_COOKIE_H
#define BD_OAUTH_COOKIE_H

#include <stdbool.h>
#include <stddef.h>

#define OAUTH_COOKIE_NAME "backupd_oauth"
#define OAUTH_COOKIE_PATH "/backup-destinations/oauth/callback"
#define OAUTH_COOKIE_MAX_AGE 600
/* 32 random bytes, base64url without padding. */
#define OAUTH_COOKIE_VALUE_LEN 43
#define OAUTH_COOKIE_HASH_LEN 32

/* A fresh value (NUL-terminated) and its sha256. */
void oauth_cookie_new(char value[OAUTH_COOKIE_VALUE_LEN + 1],
    unsigned char hash[OAUTH_COOKIE_HASH_LEN]);

/* The Set-Cookie field value for `value` into buf; false when it does not
 * fit or value is not one oauth_cookie_new() made. */
bool oauth_cookie_header(char *buf, size_t len, const char *value,
    bool secure);

/* The header that expires the cookie (after a completed callback). */
const char *oauth_cookie_clear_header(bool secure);

/*
 * Whether the request came over https: the FastCGI/CGI variable HTTPS as
 * nginx's fastcgi_params sets it ("on" over TLS, absent or empty
 * otherwise; "off" as some servers write it). A TLS-terminating proxy in
 * front of nginx must pass `fastcgi_param HTTPS on;` itself.
 */
bool oauth_cookie_https(const char *https_param);

/*
 * Whether a Cookie request header (RFC 6265 §4.2: "a=b; c=d") carries a
 * backupd_oauth value whose sha256 equals `stored` (stored_len bytes; a
 * stored hash of another length never matches). Every backupd_oauth pair
 * is tried; values are compared by hash in constant time.
 */
bool oauth_cookie_matches(const char *cookie_header,
    const unsigned char *stored, size_t stored_len);

#endif
