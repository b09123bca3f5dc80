/*
 * Pure helpers of the S3 probe; see s3util.h. Addressing follows the AWS
 * S3 User Guide, "Virtual hosting of buckets" and "Methods for accessing a
 * bucket": virtual-hosted style by default, path style on request, and path
 * style whenever the bucket cannot be a host name label.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "s3util.h"
#include "url.h"

/* "s3.<region>.amazonaws.com.cn" with room for any region name. */
#define DEFAULT_ENDPOINT_MAX 160

static bool
is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
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

/*
 * The endpoint of loc (or AWS's default for its region) into *u (url.h,
 * no query; url_clear it). The service validated the endpoint when the
 * config was stored; here a URL that cannot be used is refused too.
 */
static bool
loc_endpoint(const struct s3util_loc *loc, struct url *u)
{
	char def[DEFAULT_ENDPOINT_MAX];
	const char *ep = loc->endpoint;
	int n;

	memset(u, 0, sizeof(*u));
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
	if (url_parse(ep, 0, u) != URL_OK)
		return false;
	/* the base path without trailing '/' ("/" becomes "") */
	n = (int)strlen(u->path);
	while (n > 0 && u->path[n - 1] == '/')
		u->path[--n] = '\0';
	return true;
}

static bool
path_style(const struct s3util_loc *loc, const struct url *u)
{
	return loc->force_path_style || u->ip ||
	    !bucket_is_label(loc->bucket, u->https);
}

/* See s3util.h. */
bool
s3util_path_style(const struct s3util_loc *loc)
{
	struct url u;
	bool ps;

	if (loc == NULL || loc->bucket == NULL || !loc_endpoint(loc, &u))
		return false;
	ps = path_style(loc, &u);
	url_clear(&u);
	return ps;
}

/* See s3util.h. */
char *
s3util_url(const struct s3util_loc *loc, const char *key, const char *query)
{
	char *url = NULL, *out = NULL;
	const char *seg, *scheme_end;
	struct url u;
	size_t n = 0, len;

	memset(&u, 0, sizeof(u));
	if (loc == NULL || loc->bucket == NULL || loc->bucket[0] == '\0' ||
	    !loc_endpoint(loc, &u))
		goto out;
	scheme_end = u.authority;
	if (!url_append(&url, &n, u.origin, (size_t)(scheme_end - u.origin)))
		goto out;
	if (path_style(loc, &u)) {
		if (!url_append(&url, &n, u.authority, strlen(u.authority)) ||
		    !url_append(&url, &n, u.path, strlen(u.path)) ||
		    !url_append(&url, &n, "/", 1) ||
		    !url_escape_append(&url, &n, loc->bucket,
		    strlen(loc->bucket), false))
			goto out;
		if (key != NULL && !url_append(&url, &n, "/", 1))
			goto out;
	} else {
		if (!url_append(&url, &n, loc->bucket, strlen(loc->bucket)) ||
		    !url_append(&url, &n, ".", 1) ||
		    !url_append(&url, &n, u.authority, strlen(u.authority)) ||
		    !url_append(&url, &n, u.path, strlen(u.path)) ||
		    !url_append(&url, &n, "/", 1))
			goto out;
	}
	for (seg = key; seg != NULL; seg = seg[len] == '/' ? seg + len + 1 :
	    NULL) {
		len = strcspn(seg, "/");
		if (!url_escape_append(&url, &n, seg, len, false) ||
		    (seg[len] == '/' && !url_append(&url, &n, "/", 1)))
			goto out;
	}
	if (query != NULL && (!url_append(&url, &n, "?", 1) ||
	    !url_append(&url, &n, query, strlen(query))))
		goto out;
	out = url;
	url = NULL;
out:
	url_clear(&u);
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
	if (!url_append(&out, &n, prefix, strlen(prefix)))
		return NULL;
	if (n > 0 && out[n - 1] != '/' && !url_append(&out, &n, "/", 1)) {
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

	if (!url_append(&out, &n, base, sizeof(base) - 1))
		goto fail;
	if (prefix != NULL && prefix[0] != '\0' &&
	    (!url_append(&out, &n, "&prefix=", 8) ||
	    !url_escape_append(&out, &n, prefix, strlen(prefix), false)))
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
