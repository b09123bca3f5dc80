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

#include "clock.h"
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

/* See s3util.h. */
char *
s3util_version_query(const char *version)
{
	char *out = NULL;
	size_t n = 0;

	if (version == NULL || !url_append(&out, &n, "versionId=", 10) ||
	    !url_escape_append(&out, &n, version, strlen(version), false)) {
		free(out);
		return NULL;
	}
	return out;
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

/*
 * The text of the first <name> element in body[0..len) into out, when it
 * is 1..outsz-1 of [A-Za-z0-9.-] (a region or a host name). False and
 * out = "" otherwise.
 */
static bool
xml_token(const char *body, size_t len, const char *name, char *out,
    size_t outsz)
{
	char open[24], close[24];
	const char *p, *end;
	size_t n;
	char c;

	out[0] = '\0';
	if (body == NULL ||
	    snprintf(open, sizeof(open), "<%s>", name) >= (int)sizeof(open) ||
	    snprintf(close, sizeof(close), "</%s>", name) >=
	    (int)sizeof(close) || (p = find(body, len, open)) == NULL)
		return false;
	p += strlen(open);
	end = body + len;
	for (n = 0; p + n < end && n < outsz; n++) {
		c = p[n];
		if (c == '<')
			break;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return false;
	}
	if (n == 0 || n >= outsz || (size_t)(end - (p + n)) < strlen(close) ||
	    memcmp(p + n, close, strlen(close)) != 0)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* Whether label l[0..n) equals the NUL-terminated word w. */
static bool
label_is(const char *l, size_t n, const char *w)
{
	return strlen(w) == n && memcmp(l, w, n) == 0;
}

/* Copy r[0..n) to out when it is a region name; "external-1" (the legacy
 * s3-external-1 endpoint) is us-east-1. */
static bool
keep_region(const char *r, size_t n, char out[S3UTIL_REGION_MAX])
{
	if (label_is(r, n, "external-1")) {
		r = "us-east-1";
		n = 9;
	}
	/* a region has a '-' (eu-central-1, us-gov-west-1) */
	if (!s3util_region_ok(r, n) || memchr(r, '-', n) == NULL)
		return false;
	memcpy(out, r, n);
	out[n] = '\0';
	return true;
}

/* See s3util.h. */
bool
s3util_endpoint_region(const char *h, size_t len, char out[S3UTIL_REGION_MAX])
{
	static const char *const suffix[] = { ".amazonaws.com",
		".amazonaws.com.cn" };
	const char *last, *prev;
	size_t i, n, ln, pn;

	out[0] = '\0';
	if (h == NULL)
		return false;
	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		n = strlen(suffix[i]);
		if (len > n && strncasecmp(h + len - n, suffix[i], n) == 0)
			break;
	}
	if (i == sizeof(suffix) / sizeof(suffix[0]))
		return false;
	len -= n;
	/* the last label before the suffix, and the one before it */
	for (ln = 0; ln < len && h[len - ln - 1] != '.'; ln++)
		;
	last = h + len - ln;
	if (label_is(last, ln, "s3")) {
		/* s3.amazonaws.com: the global endpoint, us-east-1 */
		return keep_region("us-east-1", 9, out);
	}
	if (ln > 3 && memcmp(last, "s3-", 3) == 0)
		return keep_region(last + 3, ln - 3, out);
	if (ln == len)
		return false;
	for (pn = 0; pn < len - ln - 1 && h[len - ln - 2 - pn] != '.'; pn++)
		;
	prev = last - 1 - pn;
	if (label_is(prev, pn, "s3") || label_is(prev, pn, "dualstack") ||
	    (pn > 3 && memcmp(prev, "s3-", 3) == 0))
		return keep_region(last, ln, out);
	return false;
}

/* See s3util.h. */
bool
s3util_error_region(const char *body, size_t len, char out[S3UTIL_REGION_MAX])
{
	char host[256];

	out[0] = '\0';
	if (xml_token(body, len, "Region", host, S3UTIL_REGION_MAX) &&
	    keep_region(host, strlen(host), out))
		return true;
	if (xml_token(body, len, "Endpoint", host, sizeof(host)))
		return s3util_endpoint_region(host, strlen(host), out);
	return false;
}

/* See s3util.h. */
void
s3util_headers_init(struct s3util_headers *h)
{
	memset(h, 0, sizeof(*h));
	h->legal_hold = -1;
}

/* See s3util.h. */
const char *
s3util_lock_mode_name(enum s3util_lock_mode m)
{
	switch (m) {
	case S3UTIL_LOCK_GOVERNANCE:
		return "GOVERNANCE";
	case S3UTIL_LOCK_COMPLIANCE:
		return "COMPLIANCE";
	default:
		return NULL;
	}
}

/* Whether v[0..n) equals w, ASCII case-insensitively. */
static bool
value_is(const char *v, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(v, w, n) == 0;
}

/* See s3util.h. Header values: S3 API Reference, GetObject, HeadObject,
 * PutObject and DeleteObject, "Response Syntax". */
void
s3util_header(struct s3util_headers *h, const char *line, size_t len)
{
	static const char *const names[] = {
		"x-amz-bucket-region", "x-amz-version-id",
		"x-amz-delete-marker", "x-amz-object-lock-mode",
		"x-amz-object-lock-retain-until-date",
		"x-amz-object-lock-legal-hold",
	};
	char date[40];
	const char *v;
	size_t i, nl = 0, vlen;
	long long ms;

	if (line == NULL)
		return;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		s3util_headers_init(h);
		return;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		nl = strlen(names[i]);
		if (len > nl && line[nl] == ':' &&
		    strncasecmp(line, names[i], nl) == 0)
			break;
	}
	if (i == sizeof(names) / sizeof(names[0]))
		return;
	v = line + nl + 1;
	vlen = len - nl - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
	    v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	switch (i) {
	case 0:
		h->region_seen = true;
		h->region[0] = '\0';
		if (s3util_region_ok(v, vlen)) {
			memcpy(h->region, v, vlen);
			h->region[vlen] = '\0';
		}
		break;
	case 1:
		h->version[0] = '\0';
		if (vlen == 0 || vlen >= S3UTIL_VERSION_MAX ||
		    value_is(v, vlen, "null"))
			break;
		for (nl = 0; nl < vlen; nl++)
			if (v[nl] <= ' ' || v[nl] > '~')
				return;
		memcpy(h->version, v, vlen);
		h->version[vlen] = '\0';
		break;
	case 2:
		h->delete_marker = value_is(v, vlen, "true");
		break;
	case 3:
		h->lock_mode = value_is(v, vlen, "COMPLIANCE") ?
		    S3UTIL_LOCK_COMPLIANCE : value_is(v, vlen, "GOVERNANCE") ?
		    S3UTIL_LOCK_GOVERNANCE : S3UTIL_LOCK_NONE;
		break;
	case 4:
		/* an ISO 8601 timestamp, "2026-12-07T18:00:00.000Z" */
		h->retain_seen = false;
		if (vlen == 0 || vlen >= sizeof(date))
			break;
		memcpy(date, v, vlen);
		date[vlen] = '\0';
		if (clock_parse_ms(date, &ms)) {
			h->retain_seen = true;
			h->retain_until_ms = ms;
		}
		break;
	default:
		h->legal_hold = value_is(v, vlen, "ON") ? 1 :
		    value_is(v, vlen, "OFF") ? 0 : -1;
		break;
	}
}
