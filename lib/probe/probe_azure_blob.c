/*
 * The Azure Blob probe: connect, auth, target (the container), then write,
 * read back and delete a probe blob under the configured prefix.
 *
 * Addressing. The base URL is the configured endpoint exactly as given, or
 * https://<accountName>.blob.core.windows.net; the container and the blob
 * follow it. An emulator endpoint (Azurite, http://127.0.0.1:10000/
 * devstoreaccount1) carries the account as the first path segment, which then
 * simply stays part of every path.
 *
 * Authorization, one of:
 *  - SharedKey, Microsoft "Authorize with Shared Key" (Blob service, version
 *    2009-09-19 and later): HMAC-SHA256, keyed with the base64-decoded
 *    account key, over
 *      VERB \n Content-Encoding \n Content-Language \n Content-Length \n
 *      Content-MD5 \n Content-Type \n Date \n If-Modified-Since \n If-Match \n
 *      If-None-Match \n If-Unmodified-Since \n Range \n
 *      CanonicalizedHeaders CanonicalizedResource
 *    where Content-Length is empty when 0 (version 2015-02-21 and later),
 *    CanonicalizedHeaders are the x-ms-* headers, names lower-cased, sorted,
 *    "name:value\n" each, and CanonicalizedResource is "/" + account + the
 *    request's encoded URI path, then "\nname:value" per query parameter
 *    (names lower-cased, sorted, values URL-decoded, repeated names joined
 *    by ','). For the emulator's path-style URLs the doc's rule yields
 *    "/devstoreaccount1/devstoreaccount1/container": the account once for the
 *    rule and once because it is part of the path. Azurite validates exactly
 *    that.
 *  - A SAS token, appended to every request's query (a leading '?' is
 *    dropped); it is never signed or altered here.
 *
 * A container-scoped SAS (the least-privilege choice) may not read container
 * properties (AuthorizationPermissionMismatch). The probe then asks for the
 * probe blob before writing it: BlobNotFound proves the container exists,
 * ContainerNotFound proves it does not. A write-only SAS cannot do even
 * that; the PUT then decides, and when it is refused the target check is left
 * out rather than claimed.
 *
 * Details never quote a remote message: only the <Code> element of an error
 * document is read, mapped to a sentence, and named only when it is a short
 * [A-Za-z0-9.] token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include "bd_limits.h"
#include "probe_http.h"
#include "wipe.h"
#include "url.h"

/* x-ms-version: a Blob service version Azure and Azurite 3.x accept. */
#define AZ_VERSION "2021-08-06"
#define AZ_PROTOCOLS "https,http"
#define AZ_DEFAULT_HOST ".blob.core.windows.net"
#define AZ_PROBE_BYTES 64
/* Real account keys decode to 64 bytes; dtype allows a little more. */
#define AZ_KEY_MAX 256
/* An error <Code> we are willing to name in a detail. */
#define AZ_CODE_MAX 64
#define AZ_SIG_MAX sodium_base64_ENCODED_LEN(crypto_auth_hmacsha256_BYTES, \
    sodium_base64_VARIANT_ORIGINAL)

/*
 * Exported for tests/unit/test_probe_azure_blob.c only; not part of the
 * probe.h API, so the prototypes live here and in the test.
 */
char *probe_azure_string_to_sign(const char *method, const char *account,
    const char *path, const char *query, const struct curl_slist *headers);
bool probe_azure_sign(const unsigned char *key, size_t keylen,
    const char *sts, char *out, size_t outsz);
char *probe_azure_blob_path(const char *container_path, const char *prefix,
    const char *name);
bool probe_azure_error_code(const char *body, char *out, size_t outsz);
bool probe_azure_date(time_t t, char *out, size_t outsz);

/* ------------------------------------------------------ string buffer */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
	size_t want;
	char *p;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		want = b->cap ? b->cap : 128;
		while (want < b->len + n + 1)
			want *= 2;
		if ((p = realloc(b->p, want)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = want;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void
sb_chr(struct sbuf *b, char c)
{
	sb_add(b, &c, 1);
}

/* The built string (caller frees), "" when nothing was added, NULL on OOM. */
static char *
sb_take(struct sbuf *b)
{
	if (!b->oom && b->p == NULL)
		sb_add(b, "", 0);
	if (b->oom) {
		free(b->p);
		b->p = NULL;
	}
	return b->p;
}

/* ------------------------------------------------------------ helpers */

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
is_lws(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Split one curl header line into name and value. "Name: value" is sent;
 * "Name:" with nothing after it is curl's way of removing a header (not
 * sent: returns false); "Name;" sends the header empty. The value is trimmed
 * of surrounding blanks.
 */
static bool
header_split(const char *line, const char **name, size_t *nlen,
    const char **val, size_t *vlen)
{
	size_t n = strcspn(line, ":;");
	const char *v, *e;

	if (line[n] == '\0' || n == 0)
		return false;
	*name = line;
	*nlen = n;
	if (line[n] == ';') {
		if (line[n + 1] != '\0')
			return false;
		*val = line + n;
		*vlen = 0;
		return true;
	}
	v = line + n + 1;
	while (is_lws(*v))
		v++;
	if (*v == '\0')
		return false;
	e = v + strlen(v);
	while (e > v && is_lws(e[-1]))
		e--;
	*val = v;
	*vlen = (size_t)(e - v);
	return true;
}

/* Value of header `name` (case-insensitive) in the list, or NULL. */
static bool
header_find(const struct curl_slist *h, const char *name, const char **val,
    size_t *vlen)
{
	const char *n;
	size_t nlen;

	for (; h != NULL; h = h->next)
		if (header_split(h->data, &n, &nlen, val, vlen) &&
		    nlen == strlen(name) && strncasecmp(n, name, nlen) == 0)
			return true;
	return false;
}

/* ------------------------------------------------- canonicalization */

/* The standard headers of the string-to-sign, in order (Microsoft, "Blob,
 * Queue, and File services (Shared Key authorization)"). */
static const char *const std_headers[] = {
	"Content-Encoding", "Content-Language", "Content-Length",
	"Content-MD5", "Content-Type", "Date", "If-Modified-Since",
	"If-Match", "If-None-Match", "If-Unmodified-Since", "Range",
};

struct kv {
	char *name;      /* lower-cased, malloc'd */
	char *val;       /* malloc'd */
	size_t order;    /* position in the input: keeps the sort stable */
};

static int
kv_cmp(const void *pa, const void *pb)
{
	const struct kv *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* Query parameters sort by name, then by value (repeated names). */
static int
kv_cmp_val(const void *pa, const void *pb)
{
	const struct kv *a = pa, *b = pb;
	int c = strcmp(a->name, b->name);

	return c != 0 ? c : strcmp(a->val, b->val);
}

/*
 * Append an entry that takes over name and val (malloc'd; NULL after a
 * failed allocation) to v[*n], growing *cap. False when out of memory;
 * what was taken over is then freed, now or by kv_free().
 */
static bool
kv_push(struct kv **v, size_t *n, size_t *cap, char *name, char *val)
{
	struct kv *p;
	size_t want = *cap ? *cap * 2 : 8;

	if (*n == *cap) {
		if ((p = realloc(*v, want * sizeof(**v))) == NULL) {
			free(name);
			free(val);
			return false;
		}
		*v = p;
		*cap = want;
	}
	(*v)[*n].name = name;
	(*v)[*n].val = val;
	(*v)[*n].order = *n;
	(*n)++;
	return name != NULL && val != NULL;
}

static void
kv_free(struct kv *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		free(v[i].name);
		free(v[i].val);
	}
	free(v);
}

/*
 * CanonicalizedHeaders: every x-ms-* header, name lower-cased, sorted
 * ascending, "name:value\n"; runs of blanks in the value become one space
 * and the value is trimmed (Microsoft, "Constructing the canonicalized
 * headers string", steps 1-6).
 */
static void
canon_headers(struct sbuf *b, const struct curl_slist *headers)
{
	const struct curl_slist *h;
	struct kv *v = NULL;
	const char *name, *val;
	size_t n = 0, cap = 0, nlen, vlen, i, j, o;
	bool ok = false;

	for (h = headers; h != NULL; h = h->next) {
		if (!header_split(h->data, &name, &nlen, &val, &vlen) ||
		    nlen < 5 || strncasecmp(name, "x-ms-", 5) != 0)
			continue;
		if (!kv_push(&v, &n, &cap, malloc(nlen + 1), malloc(vlen + 1)))
			goto out;
		for (i = 0; i < nlen; i++)
			v[n - 1].name[i] = lower(name[i]);
		v[n - 1].name[nlen] = '\0';
		for (i = 0, o = 0; i < vlen; i = j) {
			if (is_lws(val[i])) {
				for (j = i; j < vlen && is_lws(val[j]); j++)
					;
				v[n - 1].val[o++] = ' ';
			} else {
				v[n - 1].val[o++] = val[i];
				j = i + 1;
			}
		}
		v[n - 1].val[o] = '\0';
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), kv_cmp);
	for (i = 0; i < n; i++) {
		sb_str(b, v[i].name);
		sb_chr(b, ':');
		sb_str(b, v[i].val);
		sb_chr(b, '\n');
	}
	ok = true;
out:
	if (!ok)
		b->oom = true;
	kv_free(v, n);
}

/*
 * CanonicalizedResource: "/" account path, then per query parameter
 * "\nname:value" — names URL-decoded and lower-cased, sorted; a name given
 * more than once lists its values sorted and joined by ',' (Microsoft,
 * "Shared Key format for 2009-09-19 and later").
 */
static void
canon_resource(struct sbuf *b, const char *account, const char *path,
    const char *query)
{
	struct kv *v = NULL;
	const char *p, *end, *eq;
	size_t n = 0, cap = 0, i;
	bool ok = false;
	char *s, *name, *val;

	sb_chr(b, '/');
	sb_str(b, account);
	sb_str(b, path != NULL && path[0] != '\0' ? path : "/");
	for (p = query; p != NULL && *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, "&");
		if (end == p)
			continue;
		eq = memchr(p, '=', (size_t)(end - p));
		name = url_unescape(p, (size_t)((eq != NULL ? eq : end) - p),
		    true, NULL);
		val = eq != NULL ? url_unescape(eq + 1,
		    (size_t)(end - eq - 1), true, NULL) :
		    url_unescape("", 0, true, NULL);
		if (!kv_push(&v, &n, &cap, name, val))
			goto out;
		for (s = v[n - 1].name; *s; s++)
			*s = lower(*s);
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), kv_cmp_val);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(v[i].name, v[i - 1].name) == 0) {
			sb_chr(b, ',');
		} else {
			sb_chr(b, '\n');
			sb_str(b, v[i].name);
			sb_chr(b, ':');
		}
		sb_str(b, v[i].val);
	}
	ok = true;
out:
	if (!ok)
		b->oom = true;
	kv_free(v, n);
}

/*
 * The SharedKey string-to-sign of one request (see the file comment).
 * method: "GET", "PUT", ...; account: the storage account; path: the encoded
 * URI path exactly as sent ("/container/blob", or "/devstoreaccount1/..."
 * for path-style endpoints); query: the request's query without '?' (NULL
 * or "" for none); headers: the list handed to curl (CURLOPT_HTTPHEADER).
 * Returns a malloc'd string the caller frees; NULL when out of memory.
 * Pure: no clock, no network.
 */
char *
probe_azure_string_to_sign(const char *method, const char *account,
    const char *path, const char *query, const struct curl_slist *headers)
{
	struct sbuf b = { NULL, 0, 0, false };
	const char *val;
	size_t vlen, i;

	sb_str(&b, method);
	sb_chr(&b, '\n');
	for (i = 0; i < sizeof(std_headers) / sizeof(std_headers[0]); i++) {
		if (header_find(headers, std_headers[i], &val, &vlen) &&
		    !(strcmp(std_headers[i], "Content-Length") == 0 &&
		    vlen == 1 && val[0] == '0'))
			sb_add(&b, val, vlen);
		sb_chr(&b, '\n');
	}
	canon_headers(&b, headers);
	canon_resource(&b, account, path, query);
	return sb_take(&b);
}

/*
 * base64(HMAC-SHA256(key, sts)) into out (outsz >= AZ_SIG_MAX, 45 bytes).
 * The key may have any length (crypto_auth_hmacsha256_init hashes long
 * keys as HMAC requires). Returns false when out is too small.
 */
bool
probe_azure_sign(const unsigned char *key, size_t keylen, const char *sts,
    char *out, size_t outsz)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	bool ok = false;

	if (outsz < AZ_SIG_MAX)
		goto out;
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)sts,
	    strlen(sts));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_bin2base64(out, outsz, mac, sizeof(mac),
	    sodium_base64_VARIANT_ORIGINAL);
	ok = true;
out:
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(mac, sizeof(mac));
	return ok;
}

/*
 * The encoded path of blob `name` under `prefix` in the container at
 * container_path: container_path "/" prefix-segments "/" name. Leading,
 * trailing and repeated '/' in the prefix are dropped; every byte other than
 * RFC 3986 unreserved characters is %-encoded, so '?', '#', '%' and
 * non-ASCII in a prefix stay part of the blob name. A prefix with a "." or
 * ".." segment is refused: URL normalisation (the client's or the
 * service's) would move such a name elsewhere. Returns a malloc'd string,
 * or NULL for such a prefix or when out of memory.
 */
char *
probe_azure_blob_path(const char *container_path, const char *prefix,
    const char *name)
{
	struct sbuf b = { NULL, 0, 0, false };
	const char *p = prefix != NULL ? prefix : "", *end;
	char *path = NULL, *esc = NULL;
	size_t seg, n;

	sb_str(&b, container_path);
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		end = p + strcspn(p, "/");
		seg = (size_t)(end - p);
		if ((seg == 1 && p[0] == '.') ||
		    (seg == 2 && p[0] == '.' && p[1] == '.'))
			goto out;
		n = 0;
		if (!url_escape_append(&esc, &n, p, seg, false))
			goto out;
		sb_chr(&b, '/');
		sb_add(&b, esc, n);
		free(esc);
		esc = NULL;
		p = end;
	}
	sb_chr(&b, '/');
	sb_str(&b, name);
	path = sb_take(&b);
	b.p = NULL;
out:
	free(esc);
	free(b.p);
	return path;
}

/*
 * The <Code> of an Azure error document into out: true only when present,
 * non-empty, shorter than outsz and made of [A-Za-z0-9.] (so it can be
 * named in a detail). out is "" otherwise. Nothing else of the body is read.
 */
bool
probe_azure_error_code(const char *body, char *out, size_t outsz)
{
	const char *p, *e, *q;
	size_t n;

	if (outsz == 0)
		return false;
	out[0] = '\0';
	if (body == NULL || (p = strstr(body, "<Code>")) == NULL)
		return false;
	p += 6;
	if ((e = strstr(p, "</Code>")) == NULL)
		return false;
	n = (size_t)(e - p);
	if (n == 0 || n >= outsz || n > AZ_CODE_MAX)
		return false;
	for (q = p; q < e; q++)
		if (!((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
		    (*q >= '0' && *q <= '9') || *q == '.'))
			return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/*
 * t as an RFC 1123 date in GMT ("Sun, 06 Nov 1994 08:49:37 GMT"), the
 * x-ms-date format. Day and month names come from fixed tables: strftime's
 * %a/%b follow the locale. False when outsz is too small or t is out of
 * range.
 */
bool
probe_azure_date(time_t t, char *out, size_t outsz)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return false;
	n = snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n > 0 && (size_t)n < outsz;
}

/* ------------------------------------------------------------- probe */

struct az {
	const struct probe_env *env;
	struct probe_result *res;
	const char *account;
	const char *container;
	const char *sas;          /* query without '?'; NULL with a key */
	unsigned char key[AZ_KEY_MAX];
	size_t keylen;
	char *origin;             /* "https://host[:port]" as configured */
	const char *authority;    /* inside origin, for details */
	char *container_path;     /* encoded, e.g. "/devstoreaccount1/c" */
	char *blob_path;
	char name[32];            /* the probe object's name */
	bool tls;                 /* https */
	bool connected;           /* an HTTP answer arrived */
	bool target_known;        /* the target check has been recorded */
};

/*
 * The endpoint (or the default one) into a->origin and a->container_path,
 * through the service's URL parser (url.h; a query is refused: a SAS token
 * has its own field). Returns false after failing the connect check.
 */
static bool
setup_endpoint(struct az *a, const char *endpoint, const char *prefix)
{
	struct sbuf def = { NULL, 0, 0, false }, cp = { NULL, 0, 0, false };
	struct url u;
	enum url_err e;
	size_t plen;
	bool ok = false;

	memset(&u, 0, sizeof(u));
	if (endpoint == NULL) {
		sb_str(&def, "https://");
		sb_str(&def, a->account);
		sb_str(&def, AZ_DEFAULT_HOST);
		if ((endpoint = sb_take(&def)) == NULL) {
			probe_fail(a->res, CHECK_CONNECT, "out of memory");
			goto out;
		}
	}
	e = url_parse(endpoint, 0, &u);
	if (e == URL_ERR_QUERY) {
		probe_fail(a->res, CHECK_CONNECT, "the endpoint %s; a SAS token "
		    "belongs in sasToken", url_strerror(e));
		goto out;
	}
	if (e != URL_OK) {
		probe_fail(a->res, CHECK_CONNECT, "the endpoint %s",
		    url_strerror(e));
		goto out;
	}
	/* The path (it may hold the emulator's account segment), without
	 * trailing slashes, then the container. */
	plen = strlen(u.path);
	while (plen > 0 && u.path[plen - 1] == '/')
		plen--;
	sb_add(&cp, u.path, plen);
	sb_chr(&cp, '/');
	sb_str(&cp, a->container);
	if (!u.https)
		probe_warn(a->res, "the endpoint uses plain http: requests, "
		    "credentials and backup data travel unencrypted");
	if ((a->container_path = sb_take(&cp)) == NULL) {
		probe_fail(a->res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	cp.p = NULL;
	a->origin = u.origin;
	a->authority = u.authority;
	a->tls = u.https;
	u.origin = NULL;
	probe_object_name(a->name);
	a->blob_path = probe_azure_blob_path(a->container_path, prefix,
	    a->name);
	if (a->blob_path == NULL) {
		probe_fail(a->res, CHECK_TARGET, "the prefix must not contain "
		    "'.' or '..' path segments");
		goto out;
	}
	ok = true;
out:
	url_clear(&u);
	free(def.p);
	free(cp.p);
	return ok;
}

/* Decode the account key or take the SAS token. Fails auth when unusable. */
static bool
setup_credentials(struct az *a, const char *key, const char *sas)
{
	const char *end = NULL;
	size_t len;
	bool ok = false;

	if (key != NULL) {
		len = strlen(key);
		if (sodium_base642bin(a->key, sizeof(a->key), key, len, NULL,
		    &a->keylen, &end, len > 0 && key[len - 1] == '=' ?
		    sodium_base64_VARIANT_ORIGINAL :
		    sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
		    end != key + len || a->keylen == 0) {
			sodium_memzero(a->key, sizeof(a->key));
			a->keylen = 0;
			probe_fail(a->res, CHECK_AUTH,
			    "the account key is not valid base64");
			goto out;
		}
		ok = true;
		goto out;
	}
	if (sas != NULL && sas[0] == '?')
		sas++;
	if (sas == NULL || sas[0] == '\0') {
		probe_fail(a->res, CHECK_AUTH,
		    "the config has neither an account key nor a SAS token");
		goto out;
	}
	a->sas = sas;
	ok = true;
out:
	return ok;
}

/*
 * One request: method on path (encoded) with the request's own query (or
 * NULL), a body for PUT, extra header lines (NULL-terminated, may be NULL).
 * SharedKey requests are signed over exactly the header list curl sends;
 * SAS requests carry the token in the query. *status is the HTTP status, 0
 * without an answer. The transfer stays in *x for the caller, who cleans it
 * up in every case. Returns curl's code (CURLE_FAILED_INIT or
 * CURLE_OUT_OF_MEMORY when the request could not be set up).
 */
static CURLcode
az_request(struct az *a, struct probe_xfer *x, const char *method,
    const char *path, const char *query, const unsigned char *body,
    size_t bodylen, const char *const *extra, long *status)
{
	struct curl_slist *h = NULL;
	struct sbuf url = { NULL, 0, 0, false }, auth = { NULL, 0, 0, false };
	char line[128], date[64], sig[AZ_SIG_MAX];
	char *sts = NULL;
	CURLcode cc = CURLE_FAILED_INIT;
	size_t i;

	*status = 0;
	sig[0] = '\0';
	if (probe_curl(x, a->env, AZ_PROTOCOLS) != BD_OK)
		goto out;
	cc = CURLE_OUT_OF_MEMORY;
	if (!probe_azure_date(time(NULL), date, sizeof(date)))
		goto out;
	snprintf(line, sizeof(line), "x-ms-date: %s", date);
	if (!probe_header_append(&h, line) ||
	    !probe_header_append(&h, "x-ms-version: " AZ_VERSION) ||
	    !probe_header_append(&h, "Expect:"))
		goto out;
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		if (!probe_header_append(&h, extra[i]))
			goto out;
	if (body != NULL) {
		snprintf(line, sizeof(line), "Content-Length: %zu", bodylen);
		if (!probe_header_append(&h, line))
			goto out;
	}
	if (a->sas == NULL) {
		sts = probe_azure_string_to_sign(method, a->account, path,
		    query, h);
		if (sts == NULL ||
		    !probe_azure_sign(a->key, a->keylen, sts, sig, sizeof(sig)))
			goto out;
		sb_str(&auth, "Authorization: SharedKey ");
		sb_str(&auth, a->account);
		sb_chr(&auth, ':');
		sb_str(&auth, sig);
		if (auth.oom || !probe_header_append(&h, auth.p))
			goto out;
	}
	sb_str(&url, a->origin);
	sb_str(&url, path);
	if (query != NULL && query[0] != '\0') {
		sb_chr(&url, '?');
		sb_str(&url, query);
	}
	if (a->sas != NULL) {
		sb_chr(&url, query != NULL && query[0] != '\0' ? '&' : '?');
		sb_str(&url, a->sas);
	}
	if (url.oom)
		goto out;
	cc = CURLE_FAILED_INIT;
	/* PATH_AS_IS: the path signed is the path sent (curl would otherwise
	 * fold "/./" and "/../" of an endpoint path). */
	if (curl_easy_setopt(x->h, CURLOPT_URL, url.p) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_PATH_AS_IS, 1L) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, h) != CURLE_OK)
		goto out;
	if (body != NULL) {
		if (curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, body) !=
		    CURLE_OK ||
		    curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)bodylen) != CURLE_OK)
			goto out;
	}
	if (strcmp(method, "GET") != 0 &&
	    curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK)
		goto out;
	cc = curl_easy_perform(x->h);
	if (cc == CURLE_OK)
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, status);
out:
	/* curl copied the URL but borrows the header list: unhook it before
	 * freeing. The handle itself stays for probe_fail_curl. */
	if (x->h != NULL)
		curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
	probe_headers_free(h);
	wipe_free(url.p, url.len);
	wipe_free(auth.p, auth.len);
	free(sts);
	sodium_memzero(sig, sizeof(sig));
	return cc;
}

/*
 * After a transfer: a curl failure is recorded (false); an HTTP answer
 * passes the connect check the first time and, unless it is a 2xx, has its
 * error <Code> read into code ("" otherwise; true).
 */
static bool
answered(struct az *a, struct probe_xfer *x, CURLcode cc, long status,
    enum probe_check otherwise, const char *what, char code[AZ_CODE_MAX + 1])
{
	code[0] = '\0';
	if (cc != CURLE_OK) {
		probe_fail_curl(a->res, x, cc, otherwise, what);
		return false;
	}
	if (!a->connected) {
		a->connected = true;
		probe_pass(a->res, CHECK_CONNECT, "the server at %s answered "
		    "over %s", a->authority, a->tls ? "HTTPS" : "plain HTTP");
	}
	if (status < 200 || status >= 300)
		probe_azure_error_code(x->body, code, AZ_CODE_MAX + 1);
	return true;
}

static bool
is(const char *code, const char *want)
{
	return strcmp(code, want) == 0;
}

/*
 * A refusal of the credentials themselves (any request): records the auth
 * failure and returns true, or returns false when status/code is something
 * else. Codes from Microsoft's "Blob service error codes" and "Common REST
 * API error codes"; Azurite answers a wrong signature with
 * AuthorizationFailure, Azure with AuthenticationFailed.
 */
static bool
fail_auth_codes(struct az *a, long status, const char *code)
{
	struct probe_result *r = a->res;
	char st[96];

	if (status == 404 && is(code, "ResourceNotFound")) {
		probe_fail(r, CHECK_AUTH, "the storage account '%s' was not "
		    "found at this endpoint", a->account);
	} else if (status != 401 && status != 403) {
		return false;
	} else if (is(code, "AuthenticationFailed") ||
	    is(code, "AuthorizationFailure") ||
	    is(code, "InvalidAuthenticationInfo") || code[0] == '\0') {
		if (a->sas != NULL)
			probe_fail(r, CHECK_AUTH, "the SAS token was refused: "
			    "its signature does not match the account, or it "
			    "has expired or is not valid yet");
		else
			probe_fail(r, CHECK_AUTH, "the account key does not "
			    "match: the server refused the request's "
			    "signature");
	} else if (is(code, "KeyBasedAuthenticationNotPermitted")) {
		probe_fail(r, CHECK_AUTH, "shared key access is disabled for "
		    "this storage account");
	} else if (is(code, "AuthorizationProtocolMismatch")) {
		probe_fail(r, CHECK_AUTH, "the SAS token does not allow this "
		    "protocol (https or http)");
	} else if (is(code, "AuthorizationSourceIPMismatch")) {
		probe_fail(r, CHECK_AUTH, "the SAS token does not allow this "
		    "server's IP address");
	} else if (is(code, "AuthorizationServiceMismatch")) {
		probe_fail(r, CHECK_AUTH, "the SAS token is not valid for the "
		    "Blob service");
	} else {
		probe_fail(r, CHECK_AUTH, "the server refused the "
		    "credentials: %s", probe_status_text(st, sizeof(st), status,
		    code));
	}
	return true;
}

/* A SAS that is valid but lacks a permission. */
static bool
sas_lacks_permission(const struct az *a, long status, const char *code)
{
	return a->sas != NULL && status == 403 &&
	    (is(code, "AuthorizationPermissionMismatch") ||
	    is(code, "AuthorizationResourceTypeMismatch"));
}

static void
pass_auth(struct az *a)
{
	probe_pass(a->res, CHECK_AUTH, a->sas != NULL ?
	    "the SAS token was accepted" : "the account key was accepted");
}

static void
pass_target(struct az *a)
{
	a->target_known = true;
	probe_pass(a->res, CHECK_TARGET, "container '%s' exists",
	    a->container);
}

static void
fail_target_missing(struct az *a)
{
	a->target_known = true;
	probe_fail(a->res, CHECK_TARGET, "container '%s' does not exist",
	    a->container);
}

/*
 * A SAS that may not read container properties: ask for the (not yet
 * written) probe blob instead. BlobNotFound proves the container exists.
 * Returns false after recording a failure; true with the target check
 * recorded, or left open when the SAS may not read blobs either.
 */
static bool
target_via_blob(struct az *a)
{
	struct probe_xfer x;
	char code[AZ_CODE_MAX + 1], st[96];
	long status;
	CURLcode cc;
	bool ok = false;

	cc = az_request(a, &x, "GET", a->blob_path, NULL, NULL, 0, NULL,
	    &status);
	if (!answered(a, &x, cc, status, CHECK_TARGET,
	    "checking the container", code))
		goto out;
	if (status == 200 || (status == 404 && is(code, "BlobNotFound"))) {
		pass_target(a);
	} else if (status == 404 && is(code, "ContainerNotFound")) {
		fail_target_missing(a);
		goto out;
	} else if (sas_lacks_permission(a, status, code)) {
		/* Write-only SAS: the upload will tell. */
	} else {
		probe_fail(a->res, CHECK_TARGET, "checking container '%s' "
		    "failed: %s", a->container,
		    probe_status_text(st, sizeof(st), status, code));
		goto out;
	}
	ok = true;
out:
	probe_xfer_cleanup(&x);
	return ok;
}

/*
 * connect, auth, target: Get Container Properties
 * (GET <container>?restype=container). Returns false after a failure.
 */
static bool
check_container(struct az *a)
{
	struct probe_xfer x;
	char code[AZ_CODE_MAX + 1], st[96];
	long status;
	CURLcode cc;
	bool ok = false, via_blob = false;

	cc = az_request(a, &x, "GET", a->container_path, "restype=container",
	    NULL, 0, NULL, &status);
	if (!answered(a, &x, cc, status, CHECK_AUTH,
	    "checking the container", code))
		goto out;
	if (status == 200) {
		pass_auth(a);
		pass_target(a);
	} else if (status == 404 && is(code, "ContainerNotFound")) {
		pass_auth(a);
		fail_target_missing(a);
		goto out;
	} else if (sas_lacks_permission(a, status, code)) {
		/* The signature was good (Azure checks it before the
		 * permissions); the container is checked another way. */
		pass_auth(a);
		via_blob = true;
	} else if (status >= 300 && status < 400) {
		probe_fail(a->res, CHECK_AUTH, "the endpoint answered with a "
		    "redirect (HTTP %ld); configure the Blob service URL "
		    "itself", status);
		goto out;
	} else if (status == 400) {
		/* Azurite answers a path without the account segment so. */
		probe_fail(a->res, CHECK_AUTH, "the server rejected the request "
		    "(%s); check the endpoint: an emulator's ends with the "
		    "account name, e.g. http://host:10000/devstoreaccount1",
		    probe_status_text(st, sizeof(st), status, code));
		goto out;
	} else {
		if (!fail_auth_codes(a, status, code))
			probe_fail(a->res, CHECK_AUTH, "checking container "
			    "'%s' failed: %s", a->container,
			    probe_status_text(st, sizeof(st), status, code));
		goto out;
	}
	ok = true;
out:
	probe_xfer_cleanup(&x);
	if (ok && via_blob)
		ok = target_via_blob(a);
	return ok;
}

/* Best effort: remove the probe object after a failed read; say so when
 * it stays behind. */
static void
discard_probe(struct az *a)
{
	struct probe_xfer x;
	long status;
	CURLcode cc;

	cc = az_request(a, &x, "DELETE", a->blob_path, NULL, NULL, 0, NULL,
	    &status);
	if (cc != CURLE_OK || status < 200 || (status >= 300 && status != 404))
		probe_warn(a->res, "the probe object '%s' was left in container "
		    "'%s'; remove it by hand", a->name, a->container);
	probe_xfer_cleanup(&x);
}

/* write: Put Blob (BlockBlob), never overwriting (If-None-Match: *). */
static bool
check_write(struct az *a, const unsigned char *data, size_t len)
{
	static const char *const extra[] = {
		"x-ms-blob-type: BlockBlob",
		"Content-Type: application/octet-stream",
		"If-None-Match: *",
		NULL
	};
	struct probe_xfer x;
	char code[AZ_CODE_MAX + 1], st[96];
	long status;
	CURLcode cc;
	bool ok = false;

	cc = az_request(a, &x, "PUT", a->blob_path, NULL, data, len, extra,
	    &status);
	if (!answered(a, &x, cc, status, CHECK_WRITE,
	    "uploading the probe object", code))
		goto out;
	if (status == 201) {
		if (!a->target_known)
			pass_target(a);
		probe_pass(a->res, CHECK_WRITE, "wrote a %zu-byte probe "
		    "object '%s'", len, a->name);
		ok = true;
	} else if (status == 404 && is(code, "ContainerNotFound")) {
		if (!a->target_known)
			fail_target_missing(a);
		else
			probe_fail(a->res, CHECK_WRITE, "container '%s' "
			    "disappeared during the test", a->container);
	} else if (sas_lacks_permission(a, status, code)) {
		probe_fail(a->res, CHECK_WRITE, "the SAS token does not allow "
		    "creating blobs (it needs the c and w permissions)");
	} else if (status == 401 || status == 403) {
		probe_fail(a->res, CHECK_WRITE, "the credentials may not "
		    "write to container '%s': %s", a->container,
		    probe_status_text(st, sizeof(st), status, code));
	} else if (status == 409 || status == 412) {
		probe_fail(a->res, CHECK_WRITE, "the probe object could not "
		    "be created: %s", probe_status_text(st, sizeof(st), status,
		    code));
	} else {
		probe_fail(a->res, CHECK_WRITE, "uploading the probe object "
		    "failed: %s", probe_status_text(st, sizeof(st), status,
		    code));
	}
out:
	probe_xfer_cleanup(&x);
	return ok;
}

/* read: Get Blob and compare with what was written. */
static bool
check_read(struct az *a, const unsigned char *data, size_t len)
{
	struct probe_xfer x;
	char code[AZ_CODE_MAX + 1], st[96];
	long status;
	CURLcode cc;
	bool ok = false;

	cc = az_request(a, &x, "GET", a->blob_path, NULL, NULL, 0, NULL,
	    &status);
	if (!answered(a, &x, cc, status, CHECK_READ,
	    "reading the probe object back", code))
		goto out;
	if (status == 200) {
		ok = probe_read_back(a->res, &x, data, len);
		goto out;
	}
	if (sas_lacks_permission(a, status, code))
		probe_fail(a->res, CHECK_READ, "the SAS token does not allow "
		    "reading blobs (it needs the r permission)");
	else if (status == 404 && is(code, "BlobNotFound"))
		probe_fail(a->res, CHECK_READ, "the probe object was written "
		    "but is not there when read back");
	else if (status == 401 || status == 403)
		probe_fail(a->res, CHECK_READ, "the credentials may not read "
		    "from container '%s': %s", a->container,
		    probe_status_text(st, sizeof(st), status, code));
	else
		probe_fail(a->res, CHECK_READ, "reading the probe object back "
		    "failed: %s", probe_status_text(st, sizeof(st), status,
		    code));
out:
	probe_xfer_cleanup(&x);
	return ok;
}

/* delete: Delete Blob. A refusal (a SAS without d, a retention policy or
 * legal hold) is a warning, per the contract. */
static void
check_delete(struct az *a)
{
	struct probe_xfer x;
	char code[AZ_CODE_MAX + 1], st[96];
	long status;
	CURLcode cc;

	cc = az_request(a, &x, "DELETE", a->blob_path, NULL, NULL, 0, NULL,
	    &status);
	if (!answered(a, &x, cc, status, CHECK_DELETE,
	    "deleting the probe object", code))
		goto out;
	if (status >= 200 && status < 300) {
		probe_pass(a->res, CHECK_DELETE, "deleted the probe object");
		goto out;
	}
	if (status == 404 && is(code, "BlobNotFound")) {
		probe_pass(a->res, CHECK_DELETE,
		    "the probe object was already gone");
		goto out;
	}
	probe_pass(a->res, CHECK_DELETE, "the probe object was kept: "
	    "deleting it was refused");
	if (sas_lacks_permission(a, status, code))
		probe_warn(a->res, "could not delete the probe object '%s' in "
		    "container '%s': the SAS token lacks the d permission; "
		    "remove it by hand", a->name, a->container);
	else
		probe_warn(a->res, "could not delete the probe object '%s' in "
		    "container '%s' (%s); remove it by hand", a->name,
		    a->container, probe_status_text(st, sizeof(st), status,
		    code));
out:
	probe_xfer_cleanup(&x);
}

/* See probe.h and the file comment: connect, auth, target, write, read,
 * delete against the Blob service. */
void
probe_azure_blob(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct az a;
	unsigned char data[AZ_PROBE_BYTES];
	const char *container, *account;

	memset(&a, 0, sizeof(a));
	a.env = env;
	a.res = res;
	account = probe_json_nonempty(config, "accountName");
	container = probe_json_nonempty(config, "container");
	if (account == NULL) {
		probe_fail(res, CHECK_AUTH, "the config has no accountName");
		goto out;
	}
	if (container == NULL) {
		probe_fail(res, CHECK_TARGET, "the config has no container");
		goto out;
	}
	a.account = account;
	a.container = container;
	if (!setup_credentials(&a, probe_json_nonempty(config, "accountKey"),
	    probe_json_nonempty(config, "sasToken")))
		goto out;
	if (!setup_endpoint(&a, probe_json_nonempty(config, "endpoint"),
	    probe_json_nonempty(config, "prefix")))
		goto out;
	randombytes_buf(data, sizeof(data));
	if (!check_container(&a))
		goto out;
	if (!check_write(&a, data, sizeof(data)))
		goto out;
	if (!check_read(&a, data, sizeof(data))) {
		discard_probe(&a);
		goto out;
	}
	check_delete(&a);
out:
	sodium_memzero(a.key, sizeof(a.key));
	sodium_memzero(data, sizeof(data));
	free(a.origin);
	free(a.container_path);
	free(a.blob_path);
}
