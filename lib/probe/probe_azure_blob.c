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
 *  - SharedKey, Microsoft "Authorize with Shared Key" (Blob service,
 *    version 2009-09-19 and later), signed by azsign.c over exactly the
 *    header list curl sends.
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
 * A SAS token's expiry (`se`) is read before anything is sent: it becomes
 * observed.credentialsExpireAt, a warning (and statusReason
 * credentials_expiring) within LIM_CRED_EXPIRING_DAYS, and an auth failure
 * once it has passed, without a request. Its permissions (`sp`) are named
 * when a step is refused for lack of one: each step says which letter it
 * needs (write: c or w, read: r, delete: d). The signature is never read.
 *
 * Immutable storage (Microsoft, "Overview of immutable storage for blob
 * data"): Get Blob reports a blob's time-based retention and legal hold in
 * x-ms-immutability-policy-until-date / -mode and x-ms-legal-hold (version
 * 2020-06-12 and later); Delete Blob is refused with 409
 * BlobImmutableDueToPolicy or BlobImmutableDueToLegalHold. Either becomes
 * observed.objectLock and a warning that the probe blob stays until its
 * retention ends; the delete check passes (a kept probe object is never a
 * failure).
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
#include "azsign.h"
#include "clock.h"
#include "probe_http.h"
#include "wipe.h"
#include "s3util.h"
#include "url.h"

/* x-ms-version: a Blob service version Azure and Azurite 3.x accept. */
#define AZ_VERSION "2021-08-06"
#define AZ_PROTOCOLS "https,http"
#define AZ_DEFAULT_HOST ".blob.core.windows.net"
/* An error <Code> we are willing to name in a detail. */
#define AZ_CODE_MAX LIM_PROBE_XML_CODE_MAX

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
static char *
probe_azure_blob_path(const char *container_path, const char *prefix,
    const char *name)
{
	const char *p = prefix != NULL ? prefix : "", *end;
	char *path = NULL, *out = NULL;
	size_t seg, n = 0;

	if (!url_append(&path, &n, container_path, strlen(container_path)))
		goto out;
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
		if (!url_append(&path, &n, "/", 1) ||
		    !url_escape_append(&path, &n, p, seg, false))
			goto out;
		p = end;
	}
	if (!url_append(&path, &n, "/", 1) ||
	    !url_append(&path, &n, name, strlen(name)))
		goto out;
	out = path;
	path = NULL;
out:
	free(path);
	return out;
}

/*
 * The <Code> of an Azure error document into out: true only when present,
 * non-empty, shorter than outsz and made of [A-Za-z0-9.] (so it can be
 * named in a detail). out is "" otherwise. Nothing else of the body is read.
 */
static bool
probe_azure_error_code(const char *body, char *out, size_t outsz)
{
	char code[S3UTIL_CODE_MAX];

	if (outsz == 0)
		return false;
	out[0] = '\0';
	/* Azure's error document has S3's shape, <Error><Code>..</Code>. */
	if (body == NULL || !s3util_error_code(body, strlen(body), code) ||
	    strlen(code) >= outsz)
		return false;
	memcpy(out, code, strlen(code) + 1);
	return true;
}

/* ------------------------------------------------------------- probe */

struct az {
	const struct probe_env *env;
	struct probe_result *res;
	const char *account;
	const char *container;
	const char *sas;          /* query without '?'; NULL with a key */
	unsigned char key[LIM_AZURE_KEY_MAX];
	size_t keylen;
	char *origin;             /* "https://host[:port]" as configured */
	const char *authority;    /* inside origin, for details */
	char *container_path;     /* encoded, e.g. "/devstoreaccount1/c" */
	char *blob_path;
	char name[32];            /* the probe object's name */
	bool tls;                 /* https */
	bool connected;           /* an HTTP answer arrived */
	bool target_known;        /* the target check has been recorded */
	struct azsign_sas sasinfo;  /* se and sp of the SAS token */
	struct {                  /* immutability seen (observed.objectLock) */
		bool policy;          /* a time-based retention policy */
		bool hold;            /* a legal hold */
		bool hold_known;      /* the server said whether */
		bool until_known;
		long long until_ms;
		char mode[16];        /* "unlocked" / "locked"; "" unknown */
	} lock;
};

/*
 * The endpoint (or the default one) into a->origin and a->container_path,
 * through the service's URL parser (url.h; a query is refused: a SAS token
 * has its own field). Returns false after failing the connect check.
 */
static bool
setup_endpoint(struct az *a, const char *endpoint, const char *prefix)
{
	char *def = NULL;
	struct url u;
	enum url_err e;
	size_t plen, n = 0;
	bool ok = false;

	memset(&u, 0, sizeof(u));
	if (endpoint == NULL) {
		if (!url_append(&def, &n, "https://", 8) ||
		    !url_append(&def, &n, a->account, strlen(a->account)) ||
		    !url_append(&def, &n, AZ_DEFAULT_HOST,
		    strlen(AZ_DEFAULT_HOST))) {
			probe_fail(a->res, CHECK_CONNECT, "out of memory");
			goto out;
		}
		endpoint = def;
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
	n = 0;
	if (!url_append(&a->container_path, &n, u.path, plen) ||
	    !url_append(&a->container_path, &n, "/", 1) ||
	    !url_append(&a->container_path, &n, a->container,
	    strlen(a->container))) {
		probe_fail(a->res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	if (!u.https)
		probe_warn(a->res, "the endpoint uses plain http: requests, "
		    "credentials and backup data travel unencrypted");
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
	free(def);
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
	char line[128], date[64], *url = NULL, *auth = NULL;
	CURLcode cc = CURLE_FAILED_INIT;
	size_t i, n = 0;
	bool q = query != NULL && query[0] != '\0';

	*status = 0;
	if (probe_curl(x, a->env, AZ_PROTOCOLS) != BD_OK)
		goto out;
	cc = CURLE_OUT_OF_MEMORY;
	if (!azsign_date(time(NULL), date, sizeof(date)))
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
	if (a->sas == NULL &&
	    ((auth = azsign_authorization(a->key, a->keylen, method,
	    a->account, path, query, h)) == NULL ||
	    !probe_header_append(&h, auth)))
		goto out;
	if (!url_append(&url, &n, a->origin, strlen(a->origin)) ||
	    !url_append(&url, &n, path, strlen(path)) ||
	    (q && (!url_append(&url, &n, "?", 1) ||
	    !url_append(&url, &n, query, strlen(query)))) ||
	    (a->sas != NULL && (!url_append(&url, &n, q ? "&" : "?", 1) ||
	    !url_append(&url, &n, a->sas, strlen(a->sas)))))
		goto out;
	cc = CURLE_FAILED_INIT;
	/* PATH_AS_IS: the path signed is the path sent (curl would otherwise
	 * fold "/./" and "/../" of an endpoint path). */
	if (curl_easy_setopt(x->h, CURLOPT_URL, url) != CURLE_OK ||
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
	 * freeing. The handle itself stays for probe_fail_curl. The URL
	 * holds a SAS token, the header a signature: both are wiped. */
	if (x->h != NULL)
		curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
	probe_headers_free(h);
	wipe_str_free(url);
	wipe_str_free(auth);
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
		/* Once the server answered, a broken or timed-out transfer
		 * fails the step it was in, not connect a second time. */
		if (a->connected)
			probe_fail_curl_step(a->res, x, cc, otherwise, what);
		else
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
 * The SAS token's expiry, read before anything is sent: observed.
 * credentialsExpireAt and, within LIM_CRED_EXPIRING_DAYS, a warning
 * (probe_credentials_expire). Returns false after failing auth when it has
 * expired: no request is made with it.
 */
static bool
check_sas_expiry(struct az *a)
{
	char at[CLOCK_TEXT_MAX];

	if (a->sas == NULL)
		return true;
	if (!azsign_sas_parse(a->sas, &a->sasinfo)) {
		probe_fail(a->res, CHECK_CONNECT, "out of memory");
		return false;
	}
	if (a->sasinfo.bad_expiry)
		probe_warn(a->res, "the SAS token's expiry (se) is not in a form "
		    "Azure documents, so when it expires is not known");
	if (!a->sasinfo.has_expiry)
		return true;
	if (!probe_credentials_expire(a->res, a->sasinfo.expiry_ms,
	    "SAS token")) {
		clock_format_ms(a->sasinfo.expiry_ms, CLOCK_RFC3339, at);
		probe_fail(a->res, CHECK_AUTH, "the SAS token expired on %s; "
		    "create a new one", at);
		return false;
	}
	return true;
}

/* Whether the SAS token has expired by now (it may do so during the
 * test); its expiry into at. */
static bool
sas_expired_now(const struct az *a, char at[CLOCK_TEXT_MAX])
{
	if (a->sas == NULL || !a->sasinfo.has_expiry ||
	    clock_real_ms() < a->sasinfo.expiry_ms)
		return false;
	clock_format_ms(a->sasinfo.expiry_ms, CLOCK_RFC3339, at);
	return true;
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
	char st[96], at[CLOCK_TEXT_MAX];

	if (status == 404 && is(code, "ResourceNotFound")) {
		probe_fail(r, CHECK_AUTH, "the storage account '%s' was not "
		    "found at this endpoint", a->account);
	} else if (status != 401 && status != 403) {
		return false;
	} else if (is(code, "AuthenticationFailed") ||
	    is(code, "AuthorizationFailure") ||
	    is(code, "InvalidAuthenticationInfo") || code[0] == '\0') {
		/* Azure answers an expired SAS with AuthenticationFailed,
		 * Azurite with AuthorizationFailure: the token's own se
		 * tells whether that is why. */
		if (sas_expired_now(a, at))
			probe_fail(r, CHECK_AUTH, "the SAS token expired on %s; "
			    "create a new one", at);
		else if (a->sas != NULL)
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

/*
 * A step after auth refused with 403 for a SAS (Microsoft, "Blob service
 * error codes": AuthorizationPermissionMismatch, AuthorizationFailure;
 * AuthorizationResourceTypeMismatch for an account SAS without the object
 * resource type). Only meaningful once auth passed.
 */
static bool
sas_step_refused(const struct az *a, long status, const char *code)
{
	return a->sas != NULL && status == 403 &&
	    (is(code, "AuthorizationPermissionMismatch") ||
	    is(code, "AuthorizationResourceTypeMismatch") ||
	    is(code, "AuthorizationFailure"));
}

/*
 * The sentence for sas_step_refused(): "<what> was refused (<code>): the
 * SAS token needs the <need> permission; it grants '<sp>'", or that the
 * token expired meanwhile. Written into out.
 */
static void
sas_refusal_text(const struct az *a, const char *what, long status,
    const char *code, const char *need, char out[PROBE_DETAIL_MAX])
{
	char at[CLOCK_TEXT_MAX], st[96];
	const char *c = code[0] != '\0' ? code :
	    probe_status_text(st, sizeof(st), status, code);

	if (sas_expired_now(a, at))
		snprintf(out, PROBE_DETAIL_MAX, "%s was refused: the SAS token "
		    "expired on %s", what, at);
	else if (is(code, "AuthorizationResourceTypeMismatch"))
		snprintf(out, PROBE_DETAIL_MAX, "%s was refused (%s): the "
		    "account SAS needs the o (object) resource type in srt",
		    what, c);
	else if (a->sasinfo.perms[0] != '\0')
		snprintf(out, PROBE_DETAIL_MAX, "%s was refused (%s): the SAS "
		    "token needs the %s permission; it grants '%s'", what, c,
		    need, a->sasinfo.perms);
	else
		snprintf(out, PROBE_DETAIL_MAX, "%s was refused (%s): the SAS "
		    "token needs the %s permission", what, c, need);
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
	char code[AZ_CODE_MAX + 1], st[96], detail[PROBE_DETAIL_MAX];
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
	} else if (sas_step_refused(a, status, code)) {
		/* AuthorizationFailure after auth passed: expired meanwhile,
		 * or refused for reading. */
		sas_refusal_text(a, "checking the container", status, code,
		    "r (read)", detail);
		probe_fail(a->res, CHECK_TARGET, "%s", detail);
		goto out;
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
	char detail[PROBE_DETAIL_MAX];
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
	} else if (sas_step_refused(a, status, code)) {
		sas_refusal_text(a, "uploading the probe object", status, code,
		    "c (create) or w (write)", detail);
		probe_fail(a->res, CHECK_WRITE, "%s", detail);
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

/*
 * The immutability headers of a Get Blob answer (Microsoft, "Get Blob",
 * response headers, version 2020-06-12 and later):
 * x-ms-immutability-policy-until-date (an RFC 1123 date),
 * x-ms-immutability-policy-mode and x-ms-legal-hold ("true" / "false").
 * Only a date curl can read and a short word for the mode are kept.
 */
static void
read_lock_headers(struct az *a, CURL *h)
{
	struct curl_header *hh;
	time_t t;
	size_t n, i;

	if (curl_easy_header(h, "x-ms-immutability-policy-until-date", 0,
	    CURLH_HEADER, -1, &hh) == CURLHE_OK &&
	    (t = curl_getdate(hh->value, NULL)) != -1) {
		a->lock.policy = true;
		a->lock.until_known = true;
		a->lock.until_ms = (long long)t * 1000;
	}
	if (curl_easy_header(h, "x-ms-immutability-policy-mode", 0,
	    CURLH_HEADER, -1, &hh) == CURLHE_OK &&
	    (n = strlen(hh->value)) > 0 && n < sizeof(a->lock.mode)) {
		for (i = 0; i < n; i++)
			if (!((hh->value[i] >= 'a' && hh->value[i] <= 'z') ||
			    (hh->value[i] >= 'A' && hh->value[i] <= 'Z')))
				break;
		if (i == n)
			memcpy(a->lock.mode, hh->value, n + 1);
	}
	if (curl_easy_header(h, "x-ms-legal-hold", 0, CURLH_HEADER, -1,
	    &hh) == CURLHE_OK) {
		a->lock.hold_known = true;
		a->lock.hold = strcasecmp(hh->value, "true") == 0;
	}
}

/* read: Get Blob and compare with what was written. */
static bool
check_read(struct az *a, const unsigned char *data, size_t len)
{
	struct probe_xfer x;
	char code[AZ_CODE_MAX + 1], st[96], detail[PROBE_DETAIL_MAX];
	long status;
	CURLcode cc;
	bool ok = false;

	cc = az_request(a, &x, "GET", a->blob_path, NULL, NULL, 0, NULL,
	    &status);
	if (!answered(a, &x, cc, status, CHECK_READ,
	    "reading the probe object back", code))
		goto out;
	if (status == 200) {
		read_lock_headers(a, x.h);
		ok = probe_read_back(a->res, &x, data, len);
		goto out;
	}
	if (sas_step_refused(a, status, code)) {
		sas_refusal_text(a, "reading the probe object back", status,
		    code, "r (read)", detail);
		probe_fail(a->res, CHECK_READ, "%s", detail);
	} else if (status == 404 && is(code, "BlobNotFound"))
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

/*
 * Delete Blob was refused because the blob is immutable: the delete check
 * passes (the probe object is kept, per probe.h) with a warning that says
 * until when. code: BlobImmutableDueToPolicy or BlobImmutableDueToLegalHold.
 */
static void
kept_immutable(struct az *a, const char *code)
{
	char until[CLOCK_TEXT_MAX], when[96];

	if (is(code, "BlobImmutableDueToLegalHold"))
		a->lock.hold = a->lock.hold_known = true;
	else
		a->lock.policy = true;
	if (a->lock.until_known)
		clock_format_ms(a->lock.until_ms, CLOCK_RFC3339, until);
	if (a->lock.hold && a->lock.until_known)
		snprintf(when, sizeof(when), "its legal hold is removed and its "
		    "retention ends on %s", until);
	else if (a->lock.hold)
		snprintf(when, sizeof(when), "its legal hold is removed");
	else if (a->lock.until_known)
		snprintf(when, sizeof(when), "its retention ends on %s", until);
	else
		snprintf(when, sizeof(when), "its retention ends");
	probe_pass(a->res, CHECK_DELETE, "the probe object was kept: %s",
	    a->lock.hold ? "a legal hold refuses deleting it" :
	    "an immutability policy refuses deleting it");
	probe_warn(a->res, "the probe object '%s' stays in container '%s' "
	    "until %s; delete it then", a->name, a->container, when);
}

/* observed.objectLock, the shape every type reports (S3's too):
 * {"mode": the policy's mode ("unlocked" / "locked"), "retainUntil": RFC
 * 3339, "legalHold": bool}, null where the server did not say; only when
 * immutability was seen on the probe blob. */
static void
observe_lock(struct az *a)
{
	if (!a->lock.policy && !a->lock.hold)
		return;
	probe_observe_lock(a->res, a->lock.mode[0] != '\0' ? a->lock.mode :
	    NULL, a->lock.until_known ? a->lock.until_ms : -1,
	    a->lock.hold_known ? a->lock.hold : -1);
}

/* delete: Delete Blob. A refusal (a SAS without d, a retention policy or
 * legal hold) is a warning, per the contract. */
static void
check_delete(struct az *a)
{
	struct probe_xfer x;
	char code[AZ_CODE_MAX + 1], st[96], detail[PROBE_DETAIL_MAX];
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
	if (status == 409 && (is(code, "BlobImmutableDueToPolicy") ||
	    is(code, "BlobImmutableDueToLegalHold"))) {
		kept_immutable(a, code);
		goto out;
	}
	probe_pass(a->res, CHECK_DELETE, "the probe object was kept: "
	    "deleting it was refused");
	if (sas_step_refused(a, status, code)) {
		sas_refusal_text(a, "deleting the probe object", status, code,
		    "d (delete)", detail);
		probe_warn(a->res, "%s; remove '%s' by hand", detail,
		    a->name);
	} else
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
	unsigned char data[LIM_PROBE_BYTES];
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
	if (!check_sas_expiry(&a))
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
	observe_lock(&a);
	sodium_memzero(a.key, sizeof(a.key));
	sodium_memzero(data, sizeof(data));
	free(a.origin);
	free(a.container_path);
	free(a.blob_path);
}
