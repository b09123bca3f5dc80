/*
 * The URL parser and percent-coding helpers; see url.h.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <sodium.h>

#include "url.h"
#include "wipe.h"

static const char *const url_msgs[URL_ERR__MAX] = {
	[URL_OK] = "is a valid URL",
	[URL_ERR_CHARS] = "must be a URL without spaces, control characters, "
	    "backslashes, fragments or non-ASCII characters",
	[URL_ERR_SCHEME] = "must be an http:// or https:// URL",
	[URL_ERR_USERINFO] = "must not contain user credentials; use the "
	    "credential fields",
	[URL_ERR_NO_HOST] = "must include a host",
	[URL_ERR_HOST] = "must have a valid host",
	[URL_ERR_PORT] = "must have a port between 1 and 65535",
	[URL_ERR_QUERY] = "must not contain a query string",
	[URL_ERR_NOMEM] = "could not be checked",
};

/* See url.h. */
const char *
url_strerror(enum url_err e)
{
	if ((unsigned)e >= URL_ERR__MAX)
		return url_msgs[URL_ERR_HOST];
	return url_msgs[e];
}

static bool
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* "12", "0x7f": a label that inet_aton() would read as a number. */
static bool
numeric_label(const char *l, size_t len)
{
	size_t i = 0;

	if (len > 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
		for (i = 2; i < len; i++)
			if (strchr("0123456789abcdefABCDEF", l[i]) == NULL)
				return false;
		return true;
	}
	for (; i < len; i++)
		if (l[i] < '0' || l[i] > '9')
			return false;
	return true;
}

/*
 * See url.h. A DNS name (labels of letters, digits, '-', '_'; RFC 1123
 * relaxed for '_' which some LAN names use) or a dotted-quad IPv4 address.
 * A name whose last label is numeric must be a valid dotted quad: resolvers
 * read "127.1" or "0x7f000001" as addresses.
 */
bool
url_host_ok(const char *h, size_t len)
{
	char buf[256];
	struct in_addr a4;
	size_t i, label = 0, last = 0;

	if (len > 0 && h[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		int c = (unsigned char)h[i];
		if (c == '.') {
			if (label == 0 || h[i - 1] == '-')
				return false;
			label = 0;
			last = i + 1;
			continue;
		}
		if (!is_alnum(c) && c != '-' && c != '_')
			return false;
		if (label == 0 && c == '-')
			return false;
		if (++label > 63)
			return false;
	}
	if (label == 0 || h[len - 1] == '-')
		return false;
	if (!numeric_label(h + last, len - last))
		return true;
	memcpy(buf, h, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, &a4) == 1;
}

/* See url.h. */
bool
url_ipv6_ok(const char *h, size_t len)
{
	char buf[64];
	struct in6_addr a6;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, h, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, &a6) == 1;
}

/* The authority a[0..alen) as written: no userinfo, a host, a port in
 * 1..65535 when one is given (RFC 3986 §3.2). */
static enum url_err
check_authority(const char *a, size_t alen, unsigned flags)
{
	const char *end = a + alen, *port, *p;
	long n;

	if (memchr(a, '@', alen) != NULL)
		return URL_ERR_USERINFO;
	if (a[0] == '[') {
		p = memchr(a, ']', alen);
		if (p == NULL || !url_ipv6_ok(a + 1, (size_t)(p - a - 1)))
			return URL_ERR_HOST;
		port = p + 1;
		if (port != end && *port != ':')
			return URL_ERR_HOST;
	} else {
		port = memchr(a, ':', alen);
		if (port == NULL)
			port = end;
		if (port == a)
			return URL_ERR_NO_HOST;
		if ((flags & URL_STRICT_HOST) &&
		    !url_host_ok(a, (size_t)(port - a)))
			return URL_ERR_HOST;
	}
	if (port == end)
		return URL_OK;
	n = 0;
	for (p = port + 1; p < end; p++) {
		if (*p < '0' || *p > '9' || n > 65535)
			return URL_ERR_PORT;
		n = n * 10 + (*p - '0');
	}
	if (p == port + 1 || n < 1 || n > 65535)
		return URL_ERR_PORT;
	return URL_OK;
}

/* The checks on the raw text, before curl reads it. */
static enum url_err
check_raw(const char *s, unsigned flags)
{
	const unsigned char *p;
	const char *auth;
	size_t alen;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f || *p == ' ' || *p == '\\' ||
		    *p == '#')
			return URL_ERR_CHARS;
	if (strncasecmp(s, "https://", 8) == 0)
		auth = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		auth = s + 7;
	else
		return URL_ERR_SCHEME;
	alen = strcspn(auth, "/?");
	if (alen == 0)
		return URL_ERR_NO_HOST;
	return check_authority(auth, alen, flags);
}

/* See url.h. The buffer grows by copying, and the old one is wiped before
 * it is freed (realloc would leave it readable in the heap): a URL may
 * carry a SAS token, a header line a signature. */
bool
url_append(char **buf, size_t *n, const char *s, size_t len)
{
	char *p;

	if ((p = malloc(*n + len + 1)) == NULL)
		return false;
	if (*buf != NULL) {
		memcpy(p, *buf, *n);
		wipe_free(*buf, *n);
	}
	memcpy(p + *n, s, len);
	*n += len;
	p[*n] = '\0';
	*buf = p;
	return true;
}

/* A part of h (malloc'd), or NULL when curl answers `absent` (CURLUE_LAST:
 * never); *rc set on any other failure. */
static char *
get_part(CURLU *h, CURLUPart what, CURLUcode absent, enum url_err *rc)
{
	char *v = NULL, *copy;
	CURLUcode cc;

	cc = curl_url_get(h, what, &v, 0);
	if (cc == absent)
		return NULL;
	if (cc != CURLUE_OK) {
		*rc = cc == CURLUE_OUT_OF_MEMORY ? URL_ERR_NOMEM : URL_ERR_HOST;
		return NULL;
	}
	/* Our own copy: callers free() what struct url holds. */
	if ((copy = strdup(v)) == NULL)
		*rc = URL_ERR_NOMEM;
	curl_free(v);
	return copy;
}

/* Fill *u from curl's reading of the URL. */
static enum url_err
fill(CURLU *h, unsigned flags, struct url *u)
{
	enum url_err rc = URL_OK;
	char *scheme, *host, *port;
	struct in_addr a4;
	size_t n = 0, alen;

	scheme = get_part(h, CURLUPART_SCHEME, CURLUE_NO_SCHEME, &rc);
	host = get_part(h, CURLUPART_HOST, CURLUE_NO_HOST, &rc);
	port = get_part(h, CURLUPART_PORT, CURLUE_NO_PORT, &rc);
	u->path = get_part(h, CURLUPART_PATH, CURLUE_LAST, &rc);
	u->query = get_part(h, CURLUPART_QUERY, CURLUE_NO_QUERY, &rc);
	if (rc != URL_OK)
		goto out;
	rc = URL_ERR_HOST;
	if (scheme == NULL || host == NULL || host[0] == '\0' ||
	    u->path == NULL)
		goto out;
	rc = URL_ERR_QUERY;
	if (u->query != NULL && !(flags & URL_QUERY))
		goto out;
	rc = URL_ERR_NOMEM;
	if (!url_append(&u->origin, &n, scheme, strlen(scheme)) ||
	    !url_append(&u->origin, &n, "://", 3))
		goto out;
	alen = n;
	if (!url_append(&u->origin, &n, host, strlen(host)) ||
	    (port != NULL && (!url_append(&u->origin, &n, ":", 1) ||
	    !url_append(&u->origin, &n, port, strlen(port)))))
		goto out;
	u->authority = u->origin + alen;
	u->https = strcmp(scheme, "https") == 0;
	u->ip = host[0] == '[' || inet_pton(AF_INET, host, &a4) == 1;
	rc = URL_OK;
out:
	free(scheme);
	free(host);
	free(port);
	return rc;
}

/* See url.h. */
enum url_err
url_parse(const char *s, unsigned flags, struct url *u)
{
	struct url tmp;
	enum url_err rc = URL_ERR_SCHEME;
	CURLU *h = NULL;
	CURLUcode cc;

	memset(&tmp, 0, sizeof(tmp));
	if (u != NULL)
		memset(u, 0, sizeof(*u));
	if (s == NULL || (rc = check_raw(s, flags)) != URL_OK)
		goto out;
	rc = URL_ERR_NOMEM;
	if ((h = curl_url()) == NULL)
		goto out;
	cc = curl_url_set(h, CURLUPART_URL, s, 0);
	switch (cc) {
	case CURLUE_OK:
		rc = fill(h, flags, &tmp);
		break;
	case CURLUE_OUT_OF_MEMORY:
		break;
	case CURLUE_BAD_PORT_NUMBER:
		rc = URL_ERR_PORT;
		break;
	case CURLUE_UNSUPPORTED_SCHEME:
	case CURLUE_BAD_SCHEME:
		rc = URL_ERR_SCHEME;
		break;
	default:
		/* the raw checks passed: what curl still refuses is the host */
		rc = URL_ERR_HOST;
		break;
	}
out:
	curl_url_cleanup(h);
	if (rc == URL_OK && u != NULL)
		*u = tmp;
	else
		url_clear(&tmp);
	return rc;
}

/* See url.h. */
void
url_clear(struct url *u)
{
	if (u == NULL)
		return;
	free(u->origin);
	free(u->path);
	free(u->query);
	memset(u, 0, sizeof(*u));
}

/* See url.h. */
bool
url_escape_append(char **buf, size_t *n, const char *s, size_t len,
    bool dots)
{
	char *esc;
	size_t i;
	bool ok;

	if (*buf == NULL && !url_append(buf, n, "", 0))
		return false;
	/* curl_easy_escape reads length 0 as "use strlen" */
	if (len == 0)
		return true;
	if (dots && strspn(s, ".") >= len) {
		for (i = 0; i < len; i++)
			if (!url_append(buf, n, "%2E", 3))
				return false;
		return true;
	}
	if (len > 0x7fffffff ||
	    (esc = curl_easy_escape(NULL, s, (int)len)) == NULL)
		return false;
	ok = url_append(buf, n, esc, strlen(esc));
	curl_free(esc);
	return ok;
}

/* See url.h. */
bool
url_escape_buf(char *out, size_t outsz, size_t *o, const char *s, size_t len,
    bool dots)
{
	char *esc = NULL;
	size_t n = 0;
	bool ok = false;

	if (*o >= outsz || !url_escape_append(&esc, &n, s, len, dots) ||
	    n >= outsz - *o)
		goto out;
	memcpy(out + *o, esc, n + 1);
	*o += n;
	ok = true;
out:
	free(esc);
	return ok;
}

/* See url.h. */
char *
url_unescape(const char *s, size_t len, bool plus, size_t *outlen)
{
	char *in = NULL, *dec = NULL, *out = NULL;
	int dlen = 0;
	size_t i;

	if (outlen != NULL)
		*outlen = 0;
	if (len > 0x7fffffff || (in = malloc(len + 1)) == NULL)
		goto out;
	memcpy(in, s, len);
	in[len] = '\0';
	/* '+' first: a "%2B" must still decode to '+' */
	for (i = 0; plus && i < len; i++)
		if (in[i] == '+')
			in[i] = ' ';
	if (len == 0) {
		out = in;
		in = NULL;
		goto out;
	}
	if ((dec = curl_easy_unescape(NULL, in, (int)len, &dlen)) == NULL ||
	    dlen < 0 || (out = malloc((size_t)dlen + 1)) == NULL)
		goto out;
	memcpy(out, dec, (size_t)dlen);
	out[dlen] = '\0';
	if (outlen != NULL)
		*outlen = (size_t)dlen;
out:
	/* Query values can be secrets (an OAuth code): no copy stays. */
	wipe_free(in, len);
	if (dec != NULL)
		sodium_memzero(dec, (size_t)dlen);
	curl_free(dec);
	return out;
}
