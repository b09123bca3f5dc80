/*
 * The one URL parser of the service, built on libcurl's URL API
 * (curl_url(3)), and the percent-coding helpers around curl_easy_escape /
 * curl_easy_unescape. Every http(s) URL the service will use — endpoints and
 * URLs in configs, token_uri inside a GCS key file, the server-wide URLs of
 * backupd.conf — goes through url_parse(), so they all accept the same
 * thing:
 *
 *   http:// or https:// (scheme case-insensitive, RFC 3986 §3.1), a host,
 *   an optional port 1..65535, then a path and (only with URL_QUERY) a
 *   query. Refused anywhere in the URL: bytes below 0x20, 0x7f, non-ASCII,
 *   space, backslash and '#' (a fragment), which URL parsers disagree on and
 *   which must never reach a request line or a header; user credentials
 *   (they belong in their secret fields, never in a URL that is returned
 *   unredacted).
 *
 * The checks on the raw text run before curl parses it, because curl is
 * lenient where we must not be ("https:///x" is host "x" to curl).
 */
#ifndef BD_URL_H
#define BD_URL_H

#include <stdbool.h>
#include <stddef.h>

enum url_err {
	URL_OK = 0,
	URL_ERR_CHARS,     /* control, space, backslash, '#', non-ASCII */
	URL_ERR_SCHEME,    /* not http:// or https:// */
	URL_ERR_USERINFO,  /* user[:password]@ in the authority */
	URL_ERR_NO_HOST,   /* empty host */
	URL_ERR_HOST,      /* not a valid host */
	URL_ERR_PORT,      /* not 1..65535 */
	URL_ERR_QUERY,     /* a query without URL_QUERY */
	URL_ERR_NOMEM,
	URL_ERR__MAX
};

/* url_parse() flags. */
#define URL_QUERY        0x1u  /* a query ("?...") is allowed */
/*
 * The host as written must be a DNS name or a literal in its usual form:
 * a dotted-quad IPv4 address or a bracketed IPv6 address without zone.
 * Without it, curl's reading of the host is taken (it reads "127.1" and
 * "2130706433" as 127.0.0.1). Validators of stored input set it: resolvers
 * read "127.1" as an address, which would hide an address behind a name.
 */
#define URL_STRICT_HOST  0x2u

/* A parsed URL; every string is owned (url_clear frees them). */
struct url {
	char *origin;          /* "scheme://host[:port]", scheme lower case */
	const char *authority; /* inside origin: "host[:port]" */
	char *path;            /* "/" at least; dot segments removed */
	char *query;           /* NULL: none; "" for a bare '?' */
	bool https;
	bool ip;               /* the host is an IPv4 or IPv6 literal */
};

/*
 * Parse s under the rules above into *u (zeroed first). Returns URL_OK and
 * fills *u, or the first rule s breaks (*u then holds nothing to free).
 * u may be NULL to only check. s NULL is URL_ERR_SCHEME.
 */
enum url_err url_parse(const char *s, unsigned flags, struct url *u);

/* Free what *u holds; safe on a zeroed or cleared struct. */
void url_clear(struct url *u);

/* The rule as a sentence for a validation error, "must ..." (static). */
const char *url_strerror(enum url_err);

/* Whether the DNS name or dotted IPv4 h[0..len) passes URL_STRICT_HOST
 * (a bare host: no brackets, no port). The SFTP and FTP host fields use it
 * too (dtype.c). */
bool url_host_ok(const char *h, size_t len);

/* Whether h[0..len) is an IPv6 literal (no brackets, no zone id). */
bool url_ipv6_ok(const char *h, size_t len);

/*
 * Append s[0..len) as it is (already encoded) to the malloc'd,
 * NUL-terminated *buf of length *n (both may start NULL / 0): the building
 * block of the URLs the probes assemble. The old buffer is wiped when it
 * grows, so a URL carrying a secret leaves no copy behind. False when out
 * of memory (*buf unchanged and still owned by the caller).
 */
bool url_append(char **buf, size_t *n, const char *s, size_t len);

/*
 * Append the percent-encoding of s[0..len) to the malloc'd, NUL-terminated
 * *buf of length *n (both may start NULL / 0): every byte except RFC 3986
 * unreserved characters (ALPHA DIGIT - . _ ~) becomes %XX
 * (curl_easy_escape). With dots, a segment made only of '.' is encoded
 * whole ("%2E%2E"), so that dot-segment removal (RFC 3986 §5.2.4) in curl
 * or the server leaves it alone. False when out of memory (*buf unchanged
 * and still owned by the caller).
 */
bool url_escape_append(char **buf, size_t *n, const char *s, size_t len,
    bool dots);

/* The same into out[outsz] at offset *o (kept NUL-terminated); false when
 * it does not fit or out of memory. */
bool url_escape_buf(char *out, size_t outsz, size_t *o, const char *s,
    size_t len, bool dots);

/*
 * The percent-decoding of s[0..len) (curl_easy_unescape), with '+' read as
 * a space first when plus is set (form encoding, as query values are read
 * by Azure and in the service's own query strings). A malformed %-escape
 * stays literal. The intermediate copies are wiped (a value may be a
 * secret). Returns a malloc'd NUL-terminated string the caller frees,
 * *outlen its length (may be NULL); NULL when out of memory.
 */
char *url_unescape(const char *s, size_t len, bool plus, size_t *outlen);

#endif
