/*
 * The WebDAV probe (RFC 4918). The configured url names a collection (a
 * directory); a trailing '/' is added when missing, since a collection's
 * canonical URL ends in one (RFC 4918 §5.2) and servers such as Apache's
 * mod_dav redirect the bare form, which a probe does not follow.
 *
 *   connect  the first answer to PROPFIND arrived (any status)
 *   auth     PROPFIND was not refused with 401 / 403
 *   target   PROPFIND Depth 0 answered 207 and resourcetype is a collection
 *   write    PUT <collection>/.backupd-probe-<hex>        (201 / 204 / 200)
 *   read     GET of it returns exactly the bytes written   (200)
 *   delete   DELETE of it (200 / 202 / 204); a refusal is a warning
 *
 * Credentials: username / password, offered for Basic or Digest
 * (CURLAUTH_BASIC | CURLAUTH_DIGEST: curl asks unauthenticated first and
 * answers the server's challenge with the strongest scheme it offers). No
 * username: no credentials. The password is handed to curl directly and
 * never copied into a buffer of ours.
 *
 * Response bodies (HTML error pages, XML) are never quoted: a status maps to
 * a sentence of ours, and the only thing read from a body is whether the
 * PROPFIND answer says "collection" (and its RFC 4331 quota, for
 * TestResult.capacity). The PROPFIND answer's Server header (RFC 9110
 * §10.2.4), cleaned, is TestResult.observed.serverSoftware.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "bd_limits.h"
#include "probe_banner.h"
#include "probe_http.h"
#include "url.h"

#define WEBDAV_PROTOCOLS "https,http"

/* RFC 4918 §9.1: a PROPFIND body naming the properties we read: the
 * resource type, and the RFC 4331 quota (servers without it answer those
 * two in a 404 propstat). */
static const char propfind_body[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:resourcetype/>"
    "<D:quota-available-bytes/><D:quota-used-bytes/></D:prop>"
    "</D:propfind>\n";

struct dav {
	const struct probe_env *env;
	const char *user;   /* borrowed from the config; NULL: no credentials */
	const char *pass;   /* borrowed; "" when only a username is set */
	char *coll;         /* collection URL ending in '/' (malloc'd) */
	const char *path;   /* the collection's path inside coll, for details */
	bool tls;
};

/* A status and the sentence that explains it, for one step. */
struct status_text {
	long status;
	const char *text;
};

/* PUT (RFC 4918 §9.7, RFC 9110 §15). */
static const struct status_text put_texts[] = {
	{ 401, "the server asks for other credentials to write in the "
	    "collection (HTTP 401)" },
	{ 403, "the server forbids writing in the collection (HTTP 403)" },
	{ 405, "the server does not allow uploads (PUT) in the collection "
	    "(HTTP 405)" },
	{ 409, "the server refused the upload because the collection is "
	    "missing or in conflict (HTTP 409)" },
	{ 413, "the server refused even a 64-byte upload (HTTP 413)" },
	{ 423, "the collection is locked (HTTP 423)" },
	{ 507, "the server has no storage space left for the collection "
	    "(HTTP 507)" },
	{ 0, NULL }
};

/* GET of the object just written. */
static const struct status_text get_texts[] = {
	{ 401, "the server asks for other credentials to read from the "
	    "collection (HTTP 401)" },
	{ 403, "the server forbids reading from the collection (HTTP 403)" },
	{ 404, "the probe object was not found right after it was written "
	    "(HTTP 404)" },
	{ 0, NULL }
};

/* DELETE: reasons in the warning; the check itself passes. */
static const struct status_text delete_texts[] = {
	{ 401, "the server asks for other credentials to delete (HTTP 401)" },
	{ 403, "the server forbids deleting in the collection (HTTP 403)" },
	{ 405, "the server does not allow DELETE in the collection "
	    "(HTTP 405)" },
	{ 423, "the probe object is locked (HTTP 423)" },
	{ 0, NULL }
};

/* The sentence for status in table t (static), NULL when not listed. */
static const char *
status_text(const struct status_text *t, long status)
{
	for (; t->text != NULL; t++)
		if (t->status == status)
			return t->text;
	return NULL;
}

/*
 * The collection URL for `url` (url.h, no query): origin and path with a
 * '/' appended when missing, malloc'd into *out (caller frees), with
 * *pathoff the offset of its path ("/..."). Returns NULL on success, else
 * the rule the URL breaks, "must ..." (static).
 */
static const char *
collection_url(const char *url, char **out, size_t *pathoff)
{
	const char *why = NULL;
	struct url u;
	enum url_err e;
	size_t olen, plen;
	bool add;

	*out = NULL;
	*pathoff = 0;
	if ((e = url_parse(url, 0, &u)) != URL_OK)
		return url_strerror(e);
	olen = strlen(u.origin);
	plen = strlen(u.path);
	add = plen == 0 || u.path[plen - 1] != '/';
	if ((*out = malloc(olen + plen + 2)) == NULL) {
		why = url_strerror(URL_ERR_NOMEM);
		goto out;
	}
	memcpy(*out, u.origin, olen);
	memcpy(*out + olen, u.path, plen);
	if (add)
		(*out)[olen + plen++] = '/';
	(*out)[olen + plen] = '\0';
	*pathoff = olen;
out:
	url_clear(&u);
	return why;
}

/* Whether c ends an XML name (a tag's name ends at space, '/' or '>'). */
static bool
name_end(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '/' ||
	    c == '>';
}

/*
 * Whether a PROPFIND answer (a multistatus, RFC 4918 §14.16) says the
 * resource is a collection: the first resourcetype element (§15.9) contains
 * a collection element (§14.3). Servers pick their own namespace prefixes
 * ("D:", "lp1:", none), so tags match on their local name. Only the len
 * bytes received are read. Returns 1 collection, 0 not a collection, -1 no
 * complete resourcetype element in the answer.
 */
static int
dav_is_collection(const char *body, size_t len)
{
	const char *p = body, *end = body + len, *name, *colon;
	size_t nlen;
	bool closing, inside = false, selfclose;

	while (p < end && (p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		p++;
		closing = p < end && *p == '/';
		if (closing)
			p++;
		name = p;
		while (p < end && !name_end(*p))
			p++;
		if (p == end)
			break;
		colon = memchr(name, ':', (size_t)(p - name));
		if (colon != NULL)
			name = colon + 1;
		nlen = (size_t)(p - name);
		/* Find the tag's end to see whether it closes itself. */
		while (p < end && *p != '>')
			p++;
		if (p == end)
			break;
		selfclose = p[-1] == '/';
		if (nlen == 12 && memcmp(name, "resourcetype", 12) == 0) {
			if (!inside && !closing && !selfclose)
				inside = true;
			else
				return 0;
		} else if (inside && !closing && nlen == 10 &&
		    memcmp(name, "collection", 10) == 0) {
			return 1;
		}
	}
	return -1;
}

/*
 * The number in the first element with local name `prop` (RFC 4331 §3, §4:
 * quota-available-bytes, quota-used-bytes) of a PROPFIND answer, or -1 when
 * there is none, it is empty (a 404 propstat) or it is not a plain decimal
 * number. Only the len bytes received are read.
 */
static int64_t
dav_prop_bytes(const char *body, size_t len, const char *prop)
{
	const char *p = body, *end = body + len, *name, *colon;
	size_t plen = strlen(prop), nlen;
	int64_t n = 0;

	while (p < end && (p = memchr(p, '<', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && *p == '/')
			continue;
		name = p;
		while (p < end && !name_end(*p))
			p++;
		if (p == end)
			return -1;
		colon = memchr(name, ':', (size_t)(p - name));
		if (colon != NULL)
			name = colon + 1;
		nlen = (size_t)(p - name);
		while (p < end && *p != '>')
			p++;
		if (p == end)
			return -1;
		if (nlen != plen || memcmp(name, prop, plen) != 0)
			continue;
		if (p[-1] == '/')
			return -1;             /* <D:quota-used-bytes/> */
		p++;
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
		    *p == '\n'))
			p++;
		if (p == end || *p < '0' || *p > '9')
			return -1;
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			if (n > (INT64_MAX - (*p - '0')) / 10)
				return -1;
			n = n * 10 + (*p - '0');
		}
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
		    *p == '\n'))
			p++;
		return p < end && *p == '<' ? n : -1;
	}
	return -1;
}

/* TestResult.capacity from the PROPFIND answer, when it has RFC 4331
 * quota (free is the available bytes; total is used + free). */
static void
dav_capacity(const struct dav *d, const struct probe_xfer *x,
    struct probe_result *res)
{
	int64_t avail = dav_prop_bytes(x->body, x->len,
	    "quota-available-bytes");
	int64_t used = dav_prop_bytes(x->body, x->len, "quota-used-bytes");

	if (avail < 0 && used < 0)
		return;
	probe_capacity(res, d->env, avail >= 0 && used >= 0 &&
	    avail <= INT64_MAX - used ? avail + used : -1, used, avail);
}

/* observed.serverSoftware: the first Server header of the last answer
 * (after an auth challenge, the answer to the authenticated request). */
static void
dav_server_software(const struct probe_xfer *x, struct probe_result *res)
{
	struct curl_header *h = NULL;
	char sw[LIM_PROBE_BANNER_MAX + 1];

	if (curl_easy_header(x->h, "Server", 0, CURLH_HEADER, -1, &h) !=
	    CURLHE_OK || h == NULL || h->value == NULL)
		return;
	if (probe_banner_clean(sw, sizeof(sw), h->value,
	    strnlen(h->value, LIM_PROBE_MAX_RESPONSE)) > 0)
		probe_observe_string(res, "serverSoftware", sw);
}

/*
 * One request on a fresh policed handle (probe_curl): method, url, optional
 * body with its Content-Type, "Depth: 0" when depth0. The caller calls
 * probe_xfer_cleanup(x) in every case. Returns curl's code (CURLE_OK: the
 * answer's status is in *status); CURLE_FAILED_INIT when the handle could
 * not be set up.
 */
static CURLcode
dav_perform(const struct dav *d, struct probe_xfer *x, const char *method,
    const char *url, const char *ctype, const void *body, size_t len,
    bool depth0, long *status)
{
	struct curl_slist *hdrs = NULL;
	char ct[64];
	CURLcode cc = CURLE_FAILED_INIT;
	CURL *h;

	*status = 0;
	if (probe_curl(x, d->env, WEBDAV_PROTOCOLS) != BD_OK)
		goto out;
	h = x->h;
	/* No "Expect: 100-continue" round trip for a small body. */
	if (!probe_header_append(&hdrs, "Expect:") ||
	    (depth0 && !probe_header_append(&hdrs, "Depth: 0")))
		goto out;
	if (ctype != NULL) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		if (!probe_header_append(&hdrs, ct))
			goto out;
	}
	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK)
		goto out;
	if (strcmp(method, "GET") != 0 &&
	    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
		goto out;
	/* POSTFIELDS keeps the body in memory, so curl can send it again
	 * after a 401 challenge (Digest) without a rewind callback. */
	if (body != NULL &&
	    (curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len) !=
	    CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body) != CURLE_OK))
		goto out;
	if (d->user != NULL &&
	    (curl_easy_setopt(h, CURLOPT_USERNAME, d->user) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PASSWORD, d->pass) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPAUTH,
	    (long)(CURLAUTH_BASIC | CURLAUTH_DIGEST)) != CURLE_OK))
		goto out;
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
out:
	curl_slist_free_all(hdrs);
	return cc;
}

/* The auth check after PROPFIND answered `status`. Returns false after
 * recording a failure. */
static bool
check_auth(const struct dav *d, const struct probe_xfer *x, long status,
    struct probe_result *res)
{
	long avail = 0;

	curl_easy_getinfo(x->h, CURLINFO_HTTPAUTH_AVAIL, &avail);
	if (status == 401) {
		if (d->user == NULL)
			probe_fail(res, CHECK_AUTH, "the server requires a "
			    "username and password (HTTP 401)");
		else if (avail != 0 &&
		    (avail & (long)(CURLAUTH_BASIC | CURLAUTH_DIGEST)) == 0)
			probe_fail(res, CHECK_AUTH, "the server asks for an "
			    "authentication scheme other than basic or digest "
			    "(HTTP 401)");
		else
			probe_fail(res, CHECK_AUTH, "the server refused the "
			    "username or password (HTTP 401)");
		return false;
	}
	if (status == 403) {
		probe_fail(res, CHECK_AUTH, "access to the collection is "
		    "forbidden %s (HTTP 403)", d->user != NULL ?
		    "for this user" : "without credentials");
		return false;
	}
	if (d->user == NULL)
		probe_pass(res, CHECK_AUTH, "no credentials configured; the "
		    "server asked for none");
	else if (avail & (long)CURLAUTH_DIGEST)
		probe_pass(res, CHECK_AUTH, "the server accepted the "
		    "credentials (digest)");
	else if (avail & (long)CURLAUTH_BASIC)
		probe_pass(res, CHECK_AUTH, "the server accepted the "
		    "credentials (basic)");
	else
		probe_pass(res, CHECK_AUTH, "the server did not ask for the "
		    "configured credentials");
	return true;
}

/* The target check after PROPFIND answered `status`. */
static bool
check_target(const struct dav *d, const struct probe_xfer *x, long status,
    struct probe_result *res)
{
	switch (status) {
	case 207:
		break;
	case 404:
		probe_fail(res, CHECK_TARGET, "the collection '%s' does not "
		    "exist (HTTP 404)", d->path);
		return false;
	case 200:
	case 405:
	case 501:
		/* A plain web server ignores or refuses PROPFIND. */
		probe_fail(res, CHECK_TARGET, "the server does not speak "
		    "WebDAV at this URL (HTTP %ld to PROPFIND)", status);
		return false;
	case 301:
	case 302:
	case 303:
	case 307:
	case 308:
		probe_fail(res, CHECK_TARGET, "the server redirects this URL "
		    "elsewhere (HTTP %ld); configure the final URL", status);
		return false;
	case 400:
		probe_fail(res, CHECK_TARGET, "the server rejected the request "
		    "for '%s' (HTTP 400); check that the URL names a "
		    "collection, not a file", d->path);
		return false;
	default:
		probe_fail(res, CHECK_TARGET, "the server answered HTTP %ld "
		    "when asked for the collection", status);
		return false;
	}
	switch (dav_is_collection(x->body, x->len)) {
	case 1:
		probe_pass(res, CHECK_TARGET, "the collection '%s' exists",
		    d->path);
		return true;
	case 0:
		probe_fail(res, CHECK_TARGET, "'%s' is a file, not a "
		    "collection", d->path);
		return false;
	default:
		probe_pass(res, CHECK_TARGET, "'%s' exists (the server did not "
		    "report its resource type)", d->path);
		return true;
	}
}

/* connect, auth and target: one PROPFIND Depth 0 (RFC 4918 §9.1). */
static bool
check_collection(const struct dav *d, struct probe_result *res)
{
	struct probe_xfer x;
	long status;
	CURLcode cc;
	bool ok = false;

	cc = dav_perform(d, &x, "PROPFIND", d->coll,
	    "application/xml; charset=utf-8", propfind_body,
	    sizeof(propfind_body) - 1, true, &status);
	if (cc != CURLE_OK) {
		probe_fail_curl(res, &x, cc, CHECK_CONNECT,
		    "asking for the collection");
		goto out;
	}
	probe_pass(res, CHECK_CONNECT, d->tls ? "connected over HTTPS; the "
	    "server's certificate is trusted" : "connected over plain HTTP");
	dav_server_software(&x, res);
	if (!check_auth(d, &x, status, res) ||
	    !check_target(d, &x, status, res))
		goto out;
	dav_capacity(d, &x, res);
	ok = true;
out:
	probe_xfer_cleanup(&x);
	return ok;
}

/* Best effort after a failed read: leave nothing behind, record nothing. */
static void
discard(const struct dav *d, const char *url)
{
	struct probe_xfer x;
	long status;

	(void)dav_perform(d, &x, "DELETE", url, NULL, NULL, 0, false,
	    &status);
	probe_xfer_cleanup(&x);
}

/* write, read, delete of one probe object in the collection. */
static void
check_io(const struct dav *d, struct probe_result *res)
{
	unsigned char data[LIM_PROBE_BYTES];
	char name[32], *url = NULL;
	struct probe_xfer x;
	const char *why;
	size_t ulen;
	long status;
	CURLcode cc;
	bool written = false;

	memset(&x, 0, sizeof(x));
	randombytes_buf(data, sizeof(data));
	probe_object_name(name);
	ulen = strlen(d->coll) + sizeof(name);
	if ((url = malloc(ulen)) == NULL) {
		probe_fail(res, CHECK_WRITE, "out of memory");
		goto out;
	}
	snprintf(url, ulen, "%s%s", d->coll, name);

	cc = dav_perform(d, &x, "PUT", url, "application/octet-stream", data,
	    sizeof(data), false, &status);
	if (cc != CURLE_OK) {
		probe_fail_curl_step(res, &x, cc, CHECK_WRITE,
		    "uploading the probe object");
		goto out;
	}
	if (status != 200 && status != 201 && status != 204) {
		if ((why = status_text(put_texts, status)) != NULL)
			probe_fail(res, CHECK_WRITE, "%s", why);
		else
			probe_fail(res, CHECK_WRITE, "the server answered HTTP "
			    "%ld to the upload of the probe object", status);
		goto out;
	}
	written = true;
	probe_pass(res, CHECK_WRITE, "wrote a %d-byte probe object",
	    LIM_PROBE_BYTES);
	probe_xfer_cleanup(&x);

	cc = dav_perform(d, &x, "GET", url, NULL, NULL, 0, false, &status);
	if (cc != CURLE_OK) {
		probe_fail_curl_step(res, &x, cc, CHECK_READ,
		    "reading the probe object back");
		goto out;
	}
	if (status != 200) {
		if ((why = status_text(get_texts, status)) != NULL)
			probe_fail(res, CHECK_READ, "%s", why);
		else
			probe_fail(res, CHECK_READ, "the server answered HTTP "
			    "%ld when the probe object was read back", status);
		goto out;
	}
	if (!probe_read_back(res, &x, data, sizeof(data)))
		goto out;
	probe_xfer_cleanup(&x);

	/* From here on a failure is a warning: writing and reading work,
	 * and a refused delete (retention, write-once shares) is allowed. */
	written = false;
	cc = dav_perform(d, &x, "DELETE", url, NULL, NULL, 0, false, &status);
	if (cc != CURLE_OK) {
		probe_pass(res, CHECK_DELETE, "the probe object may not have "
		    "been deleted");
		probe_warn(res, "deleting the probe object '%s' failed (%s); "
		    "remove it by hand if it is still there", name,
		    curl_easy_strerror(cc));
		goto out;
	}
	if (status == 200 || status == 202 || status == 204) {
		probe_pass(res, CHECK_DELETE, "deleted the probe object");
	} else if (status == 404) {
		probe_pass(res, CHECK_DELETE, "the probe object was already "
		    "gone");
	} else {
		probe_pass(res, CHECK_DELETE, "the server refused to delete "
		    "the probe object (HTTP %ld); it was kept", status);
		if ((why = status_text(delete_texts, status)) != NULL)
			probe_warn(res, "could not delete the probe object '%s': "
			    "%s; remove it by hand", name, why);
		else
			probe_warn(res, "could not delete the probe object '%s' "
			    "(HTTP %ld); remove it by hand", name, status);
	}
out:
	probe_xfer_cleanup(&x);
	if (written)
		discard(d, url);
	sodium_memzero(data, sizeof(data));
	free(url);
}

/* See probe.h: PROPFIND the collection, then PUT / GET / DELETE a probe
 * object in it. Borrows config; keeps nothing. */
void
probe_webdav(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct dav d;
	const char *url, *why;
	size_t pathoff;

	memset(&d, 0, sizeof(d));
	d.env = env;
	if ((url = probe_json_string(config, "url")) == NULL) {
		probe_fail(res, CHECK_CONNECT, "the config has no url");
		goto out;
	}
	d.tls = strncasecmp(url, "https://", 8) == 0;
	if (!d.tls && strncasecmp(url, "http://", 7) != 0) {
		probe_fail(res, CHECK_CONNECT,
		    "the URL must start with http:// or https://");
		goto out;
	}
	if ((why = collection_url(url, &d.coll, &pathoff)) != NULL) {
		probe_fail(res, CHECK_TARGET, "the URL %s", why);
		goto out;
	}
	d.path = d.coll + pathoff;
	d.user = probe_json_string(config, "username");
	d.pass = probe_json_string(config, "password");
	if (d.user != NULL && d.user[0] == '\0')
		d.user = NULL;
	if (d.user == NULL && d.pass != NULL && d.pass[0] != '\0') {
		probe_fail(res, CHECK_AUTH,
		    "a password is configured without a username");
		goto out;
	}
	if (d.pass == NULL)
		d.pass = "";
	/* Basic auth sends the password itself, base64 only (RFC 7617 §4). */
	if (!d.tls)
		probe_warn(res, "the URL uses plain http://: %s travel "
		    "unencrypted; use https://", d.user != NULL ?
		    "the password and the backup data" : "the backup data");
	if (!check_collection(&d, res))
		goto out;
	check_io(&d, res);
out:
	free(d.coll);
}
