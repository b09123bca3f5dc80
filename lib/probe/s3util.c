/*
 * Pure helpers of the S3 probe; see s3util.h. Addressing follows the AWS
 * S3 User Guide, "Virtual hosting of buckets" and "Methods for accessing a
 * bucket": virtual-hosted style by default, path style on request, and path
 * style whenever the bucket cannot be a host name label.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "s3util.h"

/* "s3.<region>.amazonaws.com.cn" with room for any region name. */
#define DEFAULT_ENDPOINT_MAX 160

struct endpoint {
	const char *scheme;  /* "https" or "http" (static) */
	const char *auth;    /* host[:port], IPv6 in brackets */
	size_t alen;
	const char *path;    /* "" or "/a/b", no trailing '/' */
	size_t plen;
	bool ip;             /* the host is an IP literal */
};

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * Split "scheme://authority[/path]" into *e (pointers into s). The service
 * validates endpoints (dtype.c check_url); this refuses what that allows
 * but a URL here cannot use: a query or fragment, an empty host.
 */
static bool
parse_endpoint(const char *s, struct endpoint *e)
{
	const char *p;
	size_t i, hlen;
	bool digits = true;

	memset(e, 0, sizeof(*e));
	if (strncasecmp(s, "https://", 8) == 0) {
		e->scheme = "https";
		p = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		e->scheme = "http";
		p = s + 7;
	} else
		return false;
	if (strpbrk(p, "?#@ ") != NULL)
		return false;
	e->auth = p;
	e->alen = strcspn(p, "/");
	if (e->alen == 0)
		return false;
	e->path = p + e->alen;
	e->plen = strlen(e->path);
	while (e->plen > 0 && e->path[e->plen - 1] == '/')
		e->plen--;
	if (e->auth[0] == '[') {
		e->ip = true;
		return memchr(e->auth, ']', e->alen) != NULL;
	}
	/* host without the port: digits and dots only is an IPv4 literal in
	 * one of its spellings (dotted, decimal) */
	hlen = e->alen;
	if ((p = memchr(e->auth, ':', e->alen)) != NULL)
		hlen = (size_t)(p - e->auth);
	if (hlen == 0)
		return false;
	for (i = 0; i < hlen; i++)
		if (!((e->auth[i] >= '0' && e->auth[i] <= '9') ||
		    e->auth[i] == '.'))
			digits = false;
	e->ip = digits;
	return true;
}

/*
 * Whether the bucket can be the first label(s) of a host name: 3..63 of
 * [a-z0-9.-], alnum at both ends, no empty label or label edge '-'
 * (S3 "Bucket naming rules"). Over https a '.' is refused too: the
 * wildcard certificate *.s3.<region>.amazonaws.com matches one label only.
 */
static bool
bucket_is_label(const char *b, bool https)
{
	size_t len = strlen(b), i;

	if (len < 3 || len > 63 || !is_lower_alnum(b[0]) ||
	    !is_lower_alnum(b[len - 1]))
		return false;
	for (i = 0; i < len; i++) {
		if (b[i] == '.') {
			if (https || b[i + 1] == '.' || b[i + 1] == '-' ||
			    b[i - 1] == '-')
				return false;
		} else if (!is_lower_alnum(b[i]) && b[i] != '-')
			return false;
	}
	return true;
}

/* The endpoint of loc into *e; def holds AWS's default when needed. */
static bool
loc_endpoint(const struct s3util_loc *loc, char def[DEFAULT_ENDPOINT_MAX],
    struct endpoint *e)
{
	const char *ep = loc->endpoint;
	int n;

	if (ep == NULL || ep[0] == '\0') {
		if (loc->region == NULL || loc->region[0] == '\0')
			return false;
		/* AWS China regions live under amazonaws.com.cn. */
		n = snprintf(def, DEFAULT_ENDPOINT_MAX,
		    "https://s3.%s.amazonaws.com%s", loc->region,
		    strncmp(loc->region, "cn-", 3) == 0 ? ".cn" : "");
		if (n < 0 || n >= DEFAULT_ENDPOINT_MAX)
			return false;
		ep = def;
	}
	return parse_endpoint(ep, e);
}

static bool
path_style(const struct s3util_loc *loc, const struct endpoint *e)
{
	return loc->force_path_style || e->ip ||
	    !bucket_is_label(loc->bucket, strcmp(e->scheme, "https") == 0);
}

/* See s3util.h. */
bool
s3util_path_style(const struct s3util_loc *loc)
{
	char def[DEFAULT_ENDPOINT_MAX];
	struct endpoint e;

	if (loc == NULL || loc->bucket == NULL || !loc_endpoint(loc, def, &e))
		return false;
	return path_style(loc, &e);
}

/* See s3util.h. */
bool
s3util_is_http(const char *endpoint)
{
	return endpoint != NULL && strncasecmp(endpoint, "http://", 7) == 0;
}

/* Append s[0..len) to the malloc'd *buf of length *n; false on OOM. */
static bool
append(char **buf, size_t *n, const char *s, size_t len)
{
	char *p;

	if ((p = realloc(*buf, *n + len + 1)) == NULL)
		return false;
	memcpy(p + *n, s, len);
	*n += len;
	p[*n] = '\0';
	*buf = p;
	return true;
}

/* Append the percent-encoding of s[0..len) (curl_easy_escape: everything
 * but ALPHA DIGIT - . _ ~, as SigV4's UriEncode). */
static bool
append_escaped(char **buf, size_t *n, const char *s, size_t len)
{
	char *esc;
	bool ok;

	if (len == 0)   /* curl_easy_escape reads length 0 as "use strlen" */
		return true;
	if (len > 0x7fffffff ||
	    (esc = curl_easy_escape(NULL, s, (int)len)) == NULL)
		return false;
	ok = append(buf, n, esc, strlen(esc));
	curl_free(esc);
	return ok;
}

/* See s3util.h. */
char *
s3util_url(const struct s3util_loc *loc, const char *key, const char *query)
{
	char def[DEFAULT_ENDPOINT_MAX], *url = NULL, *out = NULL;
	const char *seg;
	struct endpoint e;
	size_t n = 0, len;

	if (loc == NULL || loc->bucket == NULL || loc->bucket[0] == '\0' ||
	    !loc_endpoint(loc, def, &e))
		goto out;
	if (!append(&url, &n, e.scheme, strlen(e.scheme)) ||
	    !append(&url, &n, "://", 3))
		goto out;
	if (path_style(loc, &e)) {
		if (!append(&url, &n, e.auth, e.alen) ||
		    !append(&url, &n, e.path, e.plen) ||
		    !append(&url, &n, "/", 1) ||
		    !append_escaped(&url, &n, loc->bucket,
		    strlen(loc->bucket)))
			goto out;
		if (key != NULL && !append(&url, &n, "/", 1))
			goto out;
	} else {
		if (!append(&url, &n, loc->bucket, strlen(loc->bucket)) ||
		    !append(&url, &n, ".", 1) ||
		    !append(&url, &n, e.auth, e.alen) ||
		    !append(&url, &n, e.path, e.plen) ||
		    !append(&url, &n, "/", 1))
			goto out;
	}
	for (seg = key; seg != NULL; seg = seg[len] == '/' ? seg + len + 1 :
	    NULL) {
		len = strcspn(seg, "/");
		if (!append_escaped(&url, &n, seg, len) ||
		    (seg[len] == '/' && !append(&url, &n, "/", 1)))
			goto out;
	}
	if (query != NULL && (!append(&url, &n, "?", 1) ||
	    !append(&url, &n, query, strlen(query))))
		goto out;
	out = url;
	url = NULL;
out:
	free(url);
	return out;
}

/* See s3util.h. */
char *
s3util_prefix(const char *prefix)
{
	char *out = NULL;
	size_t n = 0;

	if (prefix == NULL)
		prefix = "";
	prefix += strspn(prefix, "/");
	if (!append(&out, &n, prefix, strlen(prefix)))
		return NULL;
	if (n > 0 && out[n - 1] != '/' && !append(&out, &n, "/", 1)) {
		free(out);
		return NULL;
	}
	return out;
}

/* See s3util.h. */
char *
s3util_list_query(const char *prefix)
{
	static const char base[] = "list-type=2&max-keys=1";
	char *out = NULL;
	size_t n = 0;

	if (!append(&out, &n, base, sizeof(base) - 1))
		goto fail;
	if (prefix != NULL && prefix[0] != '\0' &&
	    (!append(&out, &n, "&prefix=", 8) ||
	    !append_escaped(&out, &n, prefix, strlen(prefix))))
		goto fail;
	return out;
fail:
	free(out);
	return NULL;
}

/* First occurrence of needle (NUL-terminated) in h[0..len), or NULL. */
static const char *
find(const char *h, size_t len, const char *needle)
{
	size_t nl = strlen(needle), i;

	for (i = 0; nl <= len && i <= len - nl; i++)
		if (memcmp(h + i, needle, nl) == 0)
			return h + i;
	return NULL;
}

/* See s3util.h. The S3 error document is <Error><Code>...</Code>... (S3 API
 * Reference, "Error responses"); a full XML parser would be more attack
 * surface for one token. */
bool
s3util_error_code(const char *body, size_t len, char out[S3UTIL_CODE_MAX])
{
	const char *p, *end;
	size_t i, n;
	char c;

	out[0] = '\0';
	if (body == NULL || (p = find(body, len, "<Code>")) == NULL)
		return false;
	p += 6;
	end = body + len;
	for (n = 0; p + n < end && n < S3UTIL_CODE_MAX; n++) {
		c = p[n];
		if (c == '<')
			break;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.'))
			return false;
	}
	if (n == 0 || n >= S3UTIL_CODE_MAX || (size_t)(end - (p + n)) < 7 ||
	    memcmp(p + n, "</Code>", 7) != 0)
		return false;
	for (i = 0; i < n; i++)
		out[i] = p[i];
	out[n] = '\0';
	return true;
}

/* See s3util.h. */
bool
s3util_region_ok(const char *v, size_t len)
{
	size_t i;

	if (v == NULL || len == 0 || len >= S3UTIL_REGION_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!is_lower_alnum(v[i]) && v[i] != '-')
			return false;
	return true;
}
