/*
 * The S3 probe (AWS and any S3-compatible service: MinIO, Ceph RGW,
 * Backblaze B2, Wasabi, R2, ...). Requests are signed by curl
 * (CURLOPT_AWS_SIGV4, "aws:amz:<region>:s3"); the payload hash S3 requires
 * for Signature Version 4 goes in x-amz-content-sha256 (S3 API Reference,
 * "Authenticating Requests (AWS Signature Version 4)", "Signature
 * Calculations for the Authorization Header"), and curl signs it with the
 * other x-amz-* headers.
 *
 * The requests, in order:
 *   1. ListObjectsV2 (GET /?list-type=2&max-keys=1&prefix=<prefix>) —
 *      connect, auth, target. A GET rather than HEAD bucket because only a
 *      body carries the error <Code> that tells a wrong key id from a wrong
 *      secret. Listing needs s3:ListBucket, which backups do not: an
 *      AccessDenied here is not a failure; the bucket is then confirmed by
 *      the upload (NoSuchBucket from the PUT still fails target).
 *   2. PutObject of a 64-byte probe object <prefix>.backupd-probe-<hex>
 *      (with x-amz-storage-class when storageClass is set) — write. A
 *      400 InvalidRequest is answered once more with the SHA-256
 *      checksum, which S3 requires of any upload to a bucket with an
 *      Object Lock default retention.
 *   3. GetObject, compared byte for byte — read; its Object Lock headers
 *      become observed.objectLock.
 *   4. DeleteObject — delete; a refusal is a warning. In a versioned
 *      bucket (the upload answered x-amz-version-id) the version is
 *      deleted (DeleteObject with versionId, s3:DeleteObjectVersion) so
 *      nothing stays behind; when that is refused, or Object Lock holds
 *      the object, a plain DeleteObject hides it behind a delete marker and
 *      a warning says how long it stays.
 * Nothing else: never ListBuckets, CreateBucket or HeadBucket (a key
 * allowed only one prefix may not call it: it has no s3:prefix), and every
 * request stays under the prefix. The minimal IAM policy is in
 * docs/destinations/s3.md; a refusal names the permission the step needs.
 *
 * Only the error <Code> of an answer (S3 API Reference, "Error responses"),
 * the region a wrong-region error names (<Region>, <Endpoint>) and the
 * headers of struct s3util_headers are read; details are our own sentences
 * and quote only what the user configured, a region name that passed
 * s3util_region_ok, an Object Lock mode and date that were parsed, or an
 * error code that passed s3util_error_code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "bd_limits.h"
#include "clock.h"
#include "probe_http.h"
#include "s3util.h"
#include "wipe.h"

/* "https,http": plain http is allowed (a NAS or MinIO on the LAN) with a
 * warning. */
#define S3_PROTOCOLS "https,http"

enum step { STEP_LIST, STEP_PUT, STEP_GET, STEP_DELETE };

struct s3 {
	const struct probe_env *env;
	struct probe_result *res;
	struct s3util_loc loc;
	const char *akid, *secret, *token, *sclass;
	char sigv4[96];           /* "aws:amz:<region>:s3" */
	char *prefix;             /* folder form, malloc'd */
	char *key;                /* prefix + probe name, malloc'd */
	bool connected;           /* the connect check is recorded */
	bool list_denied;         /* ListBucket refused: target not yet known */
	bool region_observed;     /* observed.bucketRegion is set */
	bool checksum;            /* uploads carry x-amz-checksum-sha256 */
	char version[S3UTIL_VERSION_MAX]; /* the probe object's version, "" */
	struct s3util_headers lock;       /* GetObject's Object Lock headers */
};

/* What came back for one request. */
struct answer {
	long status;
	char code[S3UTIL_CODE_MAX];        /* S3 error code, "" if none */
	char eregion[S3UTIL_REGION_MAX];   /* region the error names, "" */
	struct s3util_headers h;           /* the headers the probe reads */
};

static bool
bool_of(json_object *config, const char *name)
{
	json_object *v;

	return json_object_object_get_ex(config, name, &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v);
}

/* CURLOPT_HEADERFUNCTION: the headers of struct s3util_headers, each
 * checked before it is kept (s3util_header); nothing else. */
static size_t
on_header(char *buf, size_t size, size_t nitems, void *userp)
{
	struct answer *a = userp;

	s3util_header(&a->h, buf, size * nitems);
	return size * nitems;
}

/* observed.bucketRegion: the region the bucket answered from. */
static void
observe_region(struct s3 *s, const char *region)
{
	probe_observe_string(s->res, "bucketRegion", region);
	s->region_observed = true;
}

/* Append "name: value" to *l; false when out of memory. The line is built
 * in a buffer that is wiped (the value may be the session token). */
static bool
add_header(struct curl_slist **l, const char *name, const char *value)
{
	size_t len = strlen(name) + 2 + strlen(value) + 1;
	char *line;
	bool ok;

	if ((line = malloc(len)) == NULL)
		return false;
	snprintf(line, len, "%s: %s", name, value);
	ok = probe_header_append(l, line);
	wipe_free(line, len);
	return ok;
}

/*
 * One signed request: method on the bucket (key NULL) or an object, with
 * query (sorted, encoded) and body. *x is set up by probe_curl and the
 * caller cleans it up in every case. Returns true when an HTTP answer
 * arrived (then *a is filled and the connect check recorded); false after
 * recording the failure (a transport failure goes through probe_fail_curl
 * with `otherwise` as the check for non-connection errors).
 */
static bool
s3_request(struct s3 *s, struct probe_xfer *x, const char *method,
    const char *key, const char *query, const unsigned char *body,
    size_t bodylen, struct answer *a, enum probe_check otherwise,
    const char *what)
{
	unsigned char hash[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
	    sodium_base64_VARIANT_ORIGINAL)];
	struct curl_slist *hdrs = NULL;
	char *url = NULL;
	CURLcode cc;
	bool ok = false;

	memset(a, 0, sizeof(*a));
	s3util_headers_init(&a->h);
	if (probe_curl(x, s->env, S3_PROTOCOLS) != BD_OK) {
		probe_fail(s->res, otherwise, "%s failed (internal error)",
		    what);
		goto out;
	}
	if ((url = s3util_url(&s->loc, key, query)) == NULL) {
		probe_fail(s->res, CHECK_CONNECT, "the endpoint must be "
		    "http(s)://host[:port][/path] without a query");
		goto out;
	}
	/* The payload hash S3 requires with SigV4; the empty body's hash for
	 * GET and DELETE. */
	crypto_hash_sha256(hash, body != NULL ? body : (const unsigned char *)"",
	    bodylen);
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	sodium_bin2base64(b64, sizeof(b64), hash, sizeof(hash),
	    sodium_base64_VARIANT_ORIGINAL);
	/*
	 * An upload to a bucket with a default retention must carry a
	 * checksum: "The Content-MD5 or x-amz-sdk-checksum-algorithm header
	 * is required for any request to upload an object with a retention
	 * period configured using Amazon S3 Object Lock" (S3 API Reference,
	 * PutObject); x-amz-checksum-sha256 is the value S3 then verifies (S3
	 * User Guide, "Checking object integrity"). libsodium has SHA-256,
	 * not MD5. Only the retry after such a refusal sends it (s->checksum):
	 * S3-compatible servers that predate the flexible checksums refuse
	 * the unknown headers.
	 */
	if (!add_header(&hdrs, "x-amz-content-sha256", hex) ||
	    (body != NULL && s->checksum &&
	    (!add_header(&hdrs, "x-amz-checksum-sha256", b64) ||
	    !add_header(&hdrs, "x-amz-sdk-checksum-algorithm", "SHA256"))) ||
	    (s->token != NULL &&
	    !add_header(&hdrs, "x-amz-security-token", s->token)) ||
	    (body != NULL && s->sclass != NULL &&
	    !add_header(&hdrs, "x-amz-storage-class", s->sclass)) ||
	    (body != NULL &&
	    !add_header(&hdrs, "Content-Type", "application/octet-stream"))) {
		probe_fail(s->res, otherwise, "%s failed (out of memory)",
		    what);
		goto out;
	}
	/*
	 * USERNAME and PASSWORD rather than USERPWD: no "id:secret" string of
	 * ours to build and wipe, and an access key id may contain ':'. curl
	 * keeps its own copy for the life of the handle.
	 */
	if (curl_easy_setopt(x->h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_AWS_SIGV4, s->sigv4) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_USERNAME, s->akid) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_PASSWORD, s->secret) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header) !=
	    CURLE_OK ||
	    curl_easy_setopt(x->h, CURLOPT_HEADERDATA, a) != CURLE_OK) {
		probe_fail(s->res, otherwise, "%s failed (internal error)",
		    what);
		goto out;
	}
	if (body != NULL) {
		if (curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, body) !=
		    CURLE_OK ||
		    curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)bodylen) != CURLE_OK) {
			probe_fail(s->res, otherwise, "%s failed (internal "
			    "error)", what);
			goto out;
		}
	}
	if (strcmp(method, "GET") != 0 &&
	    curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK) {
		probe_fail(s->res, otherwise, "%s failed (internal error)",
		    what);
		goto out;
	}
	if ((cc = curl_easy_perform(x->h)) != CURLE_OK) {
		/* Once the endpoint answered, a broken or timed-out transfer
		 * fails the step it was in, not connect a second time. */
		if (s->connected)
			probe_fail_curl_step(s->res, x, cc, otherwise, what);
		else
			probe_fail_curl(s->res, x, cc, otherwise, what);
		goto out;
	}
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &a->status);
	if (!s->connected) {
		probe_pass(s->res, CHECK_CONNECT, "the endpoint answered");
		s->connected = true;
	}
	if (a->status < 200 || a->status > 299) {
		(void)s3util_error_code(x->body, x->len, a->code);
		(void)s3util_error_region(x->body, x->len, a->eregion);
	}
	/* Any answer about the bucket may say where it is (HeadBucket,
	 * redirects and errors carry x-amz-bucket-region). */
	if (a->h.region[0] != '\0')
		observe_region(s, a->h.region);
	ok = true;
out:
	probe_headers_free(hdrs);	/* it may hold the session token */
	/* curl may still point at the list: detach it before the caller
	 * cleans the handle up. */
	if (x->h != NULL)
		curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
	free(url);
	return ok;
}

static bool
is2xx(const struct answer *a)
{
	return a->status >= 200 && a->status <= 299;
}

static bool
code_is(const struct answer *a, const char *code)
{
	return strcmp(a->code, code) == 0;
}

/*
 * Credential problems, whichever request met them first. Returns true
 * after recording the auth failure. Codes: S3 API Reference, "List of
 * error codes".
 */
static bool
auth_failure(struct s3 *s, const struct answer *a)
{
	static const struct {
		const char *code, *detail;
	} map[] = {
		{ "InvalidAccessKeyId", "the access key id is not known to "
		    "the server" },
		{ "SignatureDoesNotMatch", "the secret access key does not "
		    "match the access key id" },
		{ "ExpiredToken", "the session token has expired" },
		{ "TokenRefreshRequired", "the session token has expired" },
		{ "InvalidToken", "the session token is not valid for this "
		    "access key" },
		{ "RequestTimeTooSkewed", "this server's clock differs from "
		    "the storage service's by more than 15 minutes" },
		{ "AccountProblem", "the account of these credentials is not "
		    "in good standing" },
		{ "InvalidSecurity", "the server refused the security "
		    "credentials" },
	};
	char st[96];
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (code_is(a, map[i].code)) {
			probe_fail(s->res, CHECK_AUTH, "%s", map[i].detail);
			return true;
		}
	if (code_is(a, "AuthorizationHeaderMalformed") ||
	    (a->status == 401) ||
	    (a->status == 403 && a->code[0] == '\0')) {
		probe_fail(s->res, CHECK_AUTH, "the server refused the "
		    "credentials: %s", probe_status_text(st, sizeof(st),
		    a->status, a->code));
		return true;
	}
	return false;
}

/*
 * A bucket in another region: AWS answers 301 PermanentRedirect (the
 * endpoint is another region's) with the right one in <Endpoint>, or 400
 * AuthorizationHeaderMalformed (the signature's region is wrong) with it
 * in <Region>, and either names it in x-amz-bucket-region (S3 User Guide,
 * "Making requests", "Request redirection and the REST API"; S3 API
 * Reference, "Error responses", HeadBucket). The detail says which region
 * to set. Returns true after recording the target failure.
 */
static bool
region_failure(struct s3 *s, const struct answer *a)
{
	bool redirect = a->status == 301 || code_is(a, "PermanentRedirect");
	bool moved = redirect ||
	    code_is(a, "IllegalLocationConstraintException") ||
	    code_is(a, "AuthorizationHeaderMalformed");
	const char *r = a->h.region[0] != '\0' ? a->h.region :
	    moved ? a->eregion : "";

	if (is2xx(a))
		return false;
	if (r[0] != '\0')
		observe_region(s, r);
	if (r[0] != '\0' && strcmp(r, s->loc.region) != 0) {
		/* A redirect from a configured endpoint: that endpoint serves
		 * another region, so the region alone does not fix it. */
		probe_fail(s->res, CHECK_TARGET, "bucket '%s' is in region "
		    "'%s', not '%s': set region to '%s'%s", s->loc.bucket, r,
		    s->loc.region, r, redirect && s->loc.endpoint != NULL ?
		    " and an endpoint of that region" : "");
		return true;
	}
	if (r[0] != '\0' && redirect) {
		probe_fail(s->res, CHECK_TARGET, "bucket '%s' is in region "
		    "'%s', which this endpoint does not serve: set an endpoint "
		    "of that region", s->loc.bucket, r);
		return true;
	}
	if (moved && a->h.region_seen && a->h.region[0] == '\0') {
		probe_fail(s->res, CHECK_TARGET, "bucket '%s' is in another "
		    "region than '%s'", s->loc.bucket, s->loc.region);
		return true;
	}
	if (redirect) {
		probe_fail(s->res, CHECK_TARGET, "bucket '%s' must be "
		    "addressed through another endpoint or region than '%s'",
		    s->loc.bucket, s->loc.region);
		return true;
	}
	return false;
}

/*
 * "<what> was refused (AccessDenied): the key needs <perm> on
 * <bucket>/<prefix>*" into buf: a 403 names the permission the step
 * needs (IAM resource arn:aws:s3:::<bucket>/<prefix>*).
 */
static const char *
refusal(const struct s3 *s, const struct answer *a, const char *what,
    const char *perm, char *buf, size_t size)
{
	char st[96];

	snprintf(buf, size, "%s was refused (%s): the key needs %s on %s/%s*",
	    what, a->code[0] != '\0' ? a->code :
	    probe_status_text(st, sizeof(st), a->status, ""), perm,
	    s->loc.bucket, s->prefix);
	return buf;
}

static bool
denied(const struct answer *a)
{
	return code_is(a, "AccessDenied") || code_is(a, "AllAccessDisabled");
}

/* "the server answered HTTP 503 (SlowDown) while <what>". */
static void
unexpected(struct s3 *s, enum probe_check chk, const struct answer *a,
    const char *what)
{
	probe_fail_answer(s->res, chk, "the server", a->status, a->code, what);
}

/* 1. ListObjectsV2: connect, auth, target. Returns true to go on. */
static bool
step_list(struct s3 *s)
{
	struct probe_xfer x;
	struct answer a;
	char *query = NULL;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((query = s3util_list_query(s->prefix)) == NULL) {
		probe_fail(s->res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	if (!s3_request(s, &x, "GET", NULL, query, NULL, 0, &a, CHECK_TARGET,
	    "listing the bucket"))
		goto out;
	if (region_failure(s, &a) || auth_failure(s, &a))
		goto out;
	if (is2xx(&a)) {
		probe_pass(s->res, CHECK_AUTH, "the credentials were accepted");
		probe_pass(s->res, CHECK_TARGET, "bucket '%s' exists",
		    s->loc.bucket);
		ok = true;
		goto out;
	}
	if (code_is(&a, "NoSuchBucket")) {
		probe_pass(s->res, CHECK_AUTH, "the credentials were accepted");
		probe_fail(s->res, CHECK_TARGET, "bucket '%s' does not exist",
		    s->loc.bucket);
		goto out;
	}
	if (denied(&a)) {
		/* Signed correctly, not allowed to list: the upload decides
		 * whether the bucket exists. */
		probe_pass(s->res, CHECK_AUTH, "the credentials were accepted");
		s->list_denied = true;
		ok = true;
		goto out;
	}
	if (a.status == 404) {
		probe_fail(s->res, CHECK_TARGET, "bucket '%s' was not found "
		    "(HTTP 404)", s->loc.bucket);
		goto out;
	}
	unexpected(s, CHECK_TARGET, &a, "listing the bucket");
out:
	probe_xfer_cleanup(&x);
	free(query);
	return ok;
}

/* 2. PutObject: write (and target when listing was refused). */
static bool
step_put(struct s3 *s, const unsigned char *data)
{
	char buf[PROBE_DETAIL_MAX];
	struct probe_xfer x;
	struct answer a;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if (!s3_request(s, &x, "PUT", s->key, NULL, data, LIM_PROBE_BYTES, &a,
	    CHECK_WRITE, "uploading the probe object"))
		goto out;
	/* Object Lock with a default retention wants a checksum (see
	 * s3_request): once, with it. */
	if (a.status == 400 && code_is(&a, "InvalidRequest") && !s->checksum) {
		s->checksum = true;
		probe_xfer_cleanup(&x);
		if (!s3_request(s, &x, "PUT", s->key, NULL, data,
		    LIM_PROBE_BYTES, &a, CHECK_WRITE,
		    "uploading the probe object"))
			goto out;
	}
	if (is2xx(&a)) {
		if (s->list_denied)
			probe_pass(s->res, CHECK_TARGET, "bucket '%s' exists "
			    "(listing not permitted: s3:ListBucket on '%s' is "
			    "optional, backups do not need it)", s->loc.bucket,
			    s->loc.bucket);
		probe_pass(s->res, CHECK_WRITE, "wrote a %d-byte probe object "
		    "'%s'", LIM_PROBE_BYTES, s->key);
		memcpy(s->version, a.h.version, sizeof(s->version));
		ok = true;
		goto out;
	}
	if (code_is(&a, "NoSuchBucket")) {
		probe_fail(s->res, CHECK_TARGET, "bucket '%s' does not exist",
		    s->loc.bucket);
		goto out;
	}
	if (s->list_denied && region_failure(s, &a))
		goto out;
	if (denied(&a)) {
		probe_fail(s->res, CHECK_WRITE, "%s", refusal(s, &a,
		    "uploading the probe object", "s3:PutObject", buf,
		    sizeof(buf)));
		goto out;
	}
	if (code_is(&a, "InvalidStorageClass")) {
		probe_fail(s->res, CHECK_WRITE, "the server does not accept "
		    "storage class '%s'", s->sclass != NULL ? s->sclass : "");
		goto out;
	}
	if (code_is(&a, "QuotaExceeded") || code_is(&a, "StorageFull")) {
		probe_fail(s->res, CHECK_WRITE, "bucket '%s' is out of space "
		    "or over its quota", s->loc.bucket);
		goto out;
	}
	unexpected(s, CHECK_WRITE, &a, "uploading the probe object");
out:
	probe_xfer_cleanup(&x);
	return ok;
}

/*
 * observed.objectLock from GetObject's headers (S3 API Reference,
 * GetObject: x-amz-object-lock-mode, -retain-until-date and -legal-hold,
 * returned to a caller allowed s3:GetObjectRetention /
 * s3:GetObjectLegalHold): {"mode", "retainUntil", "legalHold"}, null
 * where not reported. Nothing when none was.
 */
static void
observe_lock(struct s3 *s, const struct s3util_headers *h)
{
	const char *mode = s3util_lock_mode_name(h->lock_mode);

	if (mode == NULL && !h->retain_seen && h->legal_hold < 0)
		return;
	s->lock = *h;
	probe_observe_lock(s->res, mode, h->retain_seen ? h->retain_until_ms :
	    -1, h->legal_hold < 0 ? -1 : h->legal_hold == 1);
}

/* Whether Object Lock keeps the probe object now: a retention date in the
 * future under a mode, or a legal hold (S3 User Guide, "Locking objects
 * with Object Lock"). */
static bool
lock_holds(const struct s3 *s)
{
	return (s->lock.lock_mode != S3UTIL_LOCK_NONE && s->lock.retain_seen &&
	    s->lock.retain_until_ms > clock_real_ms()) ||
	    s->lock.legal_hold == 1;
}

/* 3. GetObject and compare: read. */
static bool
step_get(struct s3 *s, const unsigned char *data)
{
	char buf[PROBE_DETAIL_MAX];
	struct probe_xfer x;
	struct answer a;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if (!s3_request(s, &x, "GET", s->key, NULL, NULL, 0, &a, CHECK_READ,
	    "reading the probe object back"))
		goto out;
	if (is2xx(&a)) {
		observe_lock(s, &a.h);
		ok = probe_read_back(s->res, &x, data, LIM_PROBE_BYTES);
		goto out;
	}
	if (code_is(&a, "InvalidObjectState")) {
		/* Archive classes (GLACIER, DEEP_ARCHIVE) need a restore
		 * before a read (S3 API Reference, GetObject). That is the
		 * class the user chose, not a broken destination. */
		probe_pass(s->res, CHECK_READ, "not read back: storage class "
		    "'%s' needs a restore before reading",
		    s->sclass != NULL ? s->sclass : "");
		probe_warn(s->res, "objects in storage class '%s' must be "
		    "restored before a backup can be read back",
		    s->sclass != NULL ? s->sclass : "");
		ok = true;
		goto out;
	}
	if (denied(&a)) {
		probe_fail(s->res, CHECK_READ, "%s, which restores need",
		    refusal(s, &a, "reading the probe object back",
		    "s3:GetObject", buf, sizeof(buf)));
		goto out;
	}
	if (code_is(&a, "NoSuchKey") || a.status == 404) {
		probe_fail(s->res, CHECK_READ, "the probe object was not "
		    "found right after it was written");
		goto out;
	}
	unexpected(s, CHECK_READ, &a, "reading the probe object back");
out:
	probe_xfer_cleanup(&x);
	return ok;
}

/*
 * The warning for a probe object whose version stays after the delete
 * marker hid it: until its retention ends or its legal hold is lifted
 * (Object Lock), or because deleting the version was refused (`va`), or
 * because the bucket keeps versions.
 */
static void
warn_kept_version(struct s3 *s, const struct answer *va)
{
	char ts[CLOCK_TEXT_MAX], buf[PROBE_DETAIL_MAX], st[96];
	bool retained = s->lock.lock_mode != S3UTIL_LOCK_NONE &&
	    s->lock.retain_seen && s->lock.retain_until_ms > clock_real_ms();

	if (retained) {
		clock_format_ms(s->lock.retain_until_ms, CLOCK_RFC3339, ts);
		probe_warn(s->res, "the probe object '%s' in bucket '%s' stays "
		    "until its retention ends on %s%s (Object Lock, %s mode); "
		    "a delete marker hides it", s->key, s->loc.bucket, ts,
		    s->lock.legal_hold == 1 ? " and its legal hold is removed" :
		    "", s3util_lock_mode_name(s->lock.lock_mode));
	} else if (lock_holds(s))
		probe_warn(s->res, "the probe object '%s' in bucket '%s' stays "
		    "until its legal hold is removed (Object Lock); a delete "
		    "marker hides it", s->key, s->loc.bucket);
	else if (va != NULL && denied(va))
		probe_warn(s->res, "the probe object '%s' stays as an old "
		    "version: %s (or Object Lock retains it)", s->key,
		    refusal(s, va, "deleting its version",
		    "s3:DeleteObjectVersion", buf, sizeof(buf)));
	else if (va != NULL)
		probe_warn(s->res, "the probe object '%s' stays as an old "
		    "version: the server answered %s while deleting its "
		    "version", s->key, probe_status_text(st, sizeof(st),
		    va->status, va->code));
	else
		probe_warn(s->res, "bucket '%s' keeps object versions: the "
		    "probe object '%s' stays as an old version until a "
		    "lifecycle rule or you remove it", s->loc.bucket, s->key);
}

/* 4. DeleteObject: delete; a refusal is a warning (issue 3). When quiet
 * (cleanup after a failed read) nothing is recorded. */
static void
step_delete(struct s3 *s, bool quiet)
{
	struct probe_result scratch;
	struct probe_result *keep = s->res;
	struct probe_xfer x;
	struct answer a, va;
	char st[96], buf[PROBE_DETAIL_MAX];
	char *vq = NULL;
	bool vrefused = false;

	memset(&x, 0, sizeof(x));
	if (quiet) {
		memset(&scratch, 0, sizeof(scratch));
		scratch.failed = -1;
		s->res = &scratch;
	}
	/*
	 * A versioned bucket: delete the version itself, which removes the
	 * object for good instead of stacking a delete marker on it (S3 User
	 * Guide, "Deleting object versions from a versioning-enabled
	 * bucket"). Not while Object Lock holds it: S3 refuses that.
	 */
	if (s->version[0] != '\0' && !lock_holds(s) &&
	    (vq = s3util_version_query(s->version)) != NULL) {
		if (!s3_request(s, &x, "DELETE", s->key, vq, NULL, 0, &va,
		    CHECK_DELETE, "deleting the probe object's version"))
			goto out;
		if (is2xx(&va)) {
			if (!quiet)
				probe_pass(s->res, CHECK_DELETE, "deleted the "
				    "probe object and its version");
			goto out;
		}
		vrefused = true;
		probe_xfer_cleanup(&x);
		memset(&x, 0, sizeof(x));
	}
	if (!s3_request(s, &x, "DELETE", s->key, NULL, NULL, 0, &a,
	    CHECK_DELETE, "deleting the probe object"))
		goto out;
	if (quiet)
		goto out;
	if (is2xx(&a) && (a.h.delete_marker || vrefused)) {
		probe_pass(s->res, CHECK_DELETE, "the probe object is hidden by "
		    "a delete marker; its version was kept");
		warn_kept_version(s, vrefused ? &va : NULL);
		goto out;
	}
	if (is2xx(&a)) {
		probe_pass(s->res, CHECK_DELETE, "deleted the probe object");
		goto out;
	}
	if (denied(&a)) {
		probe_pass(s->res, CHECK_DELETE, "the probe object was kept: "
		    "deleting is not permitted");
		probe_warn(s->res, "could not delete the probe object '%s' in "
		    "bucket '%s': %s; remove it by hand", s->key,
		    s->loc.bucket, refusal(s, &a, "deleting",
		    "s3:DeleteObject", buf, sizeof(buf)));
		goto out;
	}
	probe_pass(s->res, CHECK_DELETE, "the probe object was kept: the "
	    "server refused to delete it");
	probe_warn(s->res, "could not delete the probe object '%s' in bucket "
	    "'%s': the server answered %s; remove it by hand", s->key,
	    s->loc.bucket, probe_status_text(st, sizeof(st), a.status,
	    a.code));
out:
	probe_xfer_cleanup(&x);
	free(vq);
	if (quiet)
		probe_result_clear(&scratch);
	s->res = keep;
}

/* See probe.h: list, put, get, delete against the bucket. */
void
probe_s3(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	unsigned char data[LIM_PROBE_BYTES];
	char name[32];
	struct s3 s;
	size_t plen, nlen;
	int n;

	memset(&s, 0, sizeof(s));
	s.env = env;
	s.res = res;
	s.loc.endpoint = probe_json_nonempty(config, "endpoint");
	s.loc.region = probe_json_nonempty(config, "region");
	s.loc.bucket = probe_json_nonempty(config, "bucket");
	s.loc.force_path_style = bool_of(config, "forcePathStyle");
	s.akid = probe_json_nonempty(config, "accessKeyId");
	s.secret = probe_json_nonempty(config, "secretAccessKey");
	s.token = probe_json_nonempty(config, "sessionToken");
	s.sclass = probe_json_nonempty(config, "storageClass");
	randombytes_buf(data, sizeof(data));

	if (s.loc.region == NULL || s.loc.bucket == NULL || s.akid == NULL ||
	    s.secret == NULL) {
		probe_fail(res, CHECK_CONNECT, "the config lacks the region, "
		    "bucket or credentials");
		goto out;
	}
	n = snprintf(s.sigv4, sizeof(s.sigv4), "aws:amz:%s:s3", s.loc.region);
	if (n < 0 || (size_t)n >= sizeof(s.sigv4)) {
		probe_fail(res, CHECK_CONNECT, "the region name is too long");
		goto out;
	}
	probe_object_name(name);
	if ((s.prefix = s3util_prefix(probe_json_nonempty(config,
	    "prefix"))) == NULL)
		goto oom;
	plen = strlen(s.prefix);
	nlen = strlen(name);
	if ((s.key = malloc(plen + nlen + 1)) == NULL)
		goto oom;
	memcpy(s.key, s.prefix, plen);
	memcpy(s.key + plen, name, nlen + 1);

	if (probe_plain_http(s.loc.endpoint))
		probe_warn(res, "the endpoint uses plain http: requests, "
		    "the session token if any and backup data travel "
		    "unencrypted");
	if (!step_list(&s) || !step_put(&s, data))
		goto out;
	if (!step_get(&s, data)) {
		step_delete(&s, true);
		goto out;
	}
	step_delete(&s, false);
	goto out;
oom:
	probe_fail(res, CHECK_CONNECT, "out of memory");
out:
	/*
	 * No x-amz-bucket-region came back, but AWS itself (no endpoint set)
	 * answered a request signed for the configured region: it refuses a
	 * request signed for another region than the bucket's (see
	 * region_failure), so that is where the bucket is.
	 */
	for (n = 0; !s.region_observed && s.loc.endpoint == NULL &&
	    n < res->nchecks; n++)
		if (res->checks[n].check == CHECK_TARGET && res->checks[n].ok)
			probe_observe_string(res, "bucketRegion", s.loc.region);
	sodium_memzero(data, sizeof(data));
	free(s.prefix);
	free(s.key);
}
