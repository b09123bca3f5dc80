/*
 * The Google Cloud Storage probe.
 *
 * Credentials are a service account key file (serviceAccountJson). Following
 * Google's "Using OAuth 2.0 for Server to Server Applications" (HTTP/REST
 * section), the probe signs a JWT with the key's RSA private key (RS256,
 * libjwt), exchanges it at the key file's token_uri for an access token, and
 * then talks to the Cloud Storage JSON API at the server-wide gcs_api_url:
 *
 *   GET    /storage/v1/b/<bucket>                         target
 *   POST   /upload/storage/v1/b/<bucket>/o?uploadType=media&name=<object>
 *   GET    /storage/v1/b/<bucket>/o/<object>?alt=media   read back
 *   DELETE /storage/v1/b/<bucket>/o/<object>
 *
 * token_uri comes from the user's key file: it is a URL like any other and
 * goes through probe_curl() (egress policy, protocols, timeouts, byte cap).
 *
 * The token request and the API are two hosts. "connect" passes once both
 * answered, "auth" once the API accepted the token; a check whose outcome is
 * still open is recorded only when a later step settles it, so the checks
 * stay in contract order whatever fails.
 *
 * Least privilege: the probe calls nothing but the bucket's own metadata and
 * objects under the prefix (no buckets.list, no buckets.insert). A 403 on a
 * step names the IAM permission that step needs: storage.buckets.get
 * (target; optional, not a failure), storage.objects.create (write),
 * storage.objects.get (read), storage.objects.delete (delete; a warning).
 * A delete refused with reason retentionPolicyNotMet (Cloud Storage
 * "Retention policies": "403 - retentionPolicyNotMet") is the bucket's
 * retention keeping the object: the object's retentionExpirationTime and
 * holds are read (objects.get, which the read step proved allowed) into
 * observed.objectLock, and the warning says until when it stays.
 *
 * Secrets: the private key, the signed assertion and the access token are
 * wiped after use and never reach a detail or a log line. Google's error
 * bodies are read for their short code only ("invalid_grant", "forbidden"),
 * never for their message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jwt.h>
#include <sodium.h>

#include "bd_limits.h"
#include "clock.h"
#include "probe_http.h"
#include "wipe.h"
#include "url.h"

/* Read/write is the narrowest scope that can create and delete objects
 * (Cloud Storage "OAuth 2.0 scopes"). */
#define GCS_SCOPE "https://www.googleapis.com/auth/devstorage.read_write"
#define GCS_GRANT_TYPE "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
#define GCS_PROTOCOLS "https,http"
#define GCS_DEFAULT_API "https://storage.googleapis.com"

struct gcs {
	const struct probe_env *env;
	struct probe_result *res;
	const char *bucket;
	char *api;             /* gcs_api_url without trailing '/' */
	char *bucket_esc;      /* bucket, percent-encoded */
	char *object;          /* prefix + probe object name */
	char *object_esc;      /* object, percent-encoded ('/' too) */
	char *auth;            /* "Authorization: Bearer <token>"; wiped */
	bool connect_done, auth_done, target_done;
	const char *connect_detail;           /* a pending connect pass */
	char target_detail[PROBE_DETAIL_MAX]; /* a pending target pass */
};

/* ------------------------------------------------------------ recording */

/*
 * Record the checks before `c` that are still open as passed: the earlier
 * steps are settled once a later one gets an answer.
 */
static void
settle_before(struct gcs *g, enum probe_check c)
{
	if (c > CHECK_CONNECT && !g->connect_done) {
		probe_pass(g->res, CHECK_CONNECT, "%s", g->connect_detail);
		g->connect_done = true;
	}
	if (c > CHECK_AUTH && !g->auth_done) {
		probe_pass(g->res, CHECK_AUTH,
		    "obtained an access token for the service account");
		g->auth_done = true;
	}
	if (c > CHECK_TARGET && !g->target_done) {
		probe_pass(g->res, CHECK_TARGET, "%s", g->target_detail);
		g->target_done = true;
	}
}

static void record_at(struct gcs *, enum probe_check, bool, const char *,
    ...) __attribute__((format(printf, 4, 5)));

/* Record check c as passed (ok) or failed, after settling the open checks
 * before it. */
static void
record_at(struct gcs *g, enum probe_check c, bool ok, const char *fmt, ...)
{
	char buf[PROBE_DETAIL_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	settle_before(g, c);
	if (ok)
		probe_pass(g->res, c, "%s", buf);
	else
		probe_fail(g->res, c, "%s", buf);
	if (c == CHECK_CONNECT)
		g->connect_done = true;
	else if (c == CHECK_AUTH)
		g->auth_done = true;
	else if (c == CHECK_TARGET)
		g->target_done = true;
}

/* Pass / fail check c (after settling the open checks before it). */
#define pass_at(g, c, ...) record_at((g), (c), true, __VA_ARGS__)
#define fail_at(g, c, ...) record_at((g), (c), false, __VA_ARGS__)

/*
 * A transfer failed at the curl level during `step`. probe_fail_curl()
 * words it; a connection-level failure fails "connect" while connect is
 * still open (the API host is reached only after the token endpoint), and
 * is reported under `step` once connect has passed.
 */
static void
xfer_failed(struct gcs *g, const struct probe_xfer *x, CURLcode cc,
    enum probe_check step, const char *what)
{
	char detail[PROBE_DETAIL_MAX];
	enum probe_check c;

	c = probe_curl_detail(x, cc, step, what, detail);
	if ((c == CHECK_CONNECT && g->connect_done) ||
	    (c == CHECK_AUTH && g->auth_done))
		c = step;
	fail_at(g, c, "%s", detail);
}

/* ------------------------------------------------------------- transfers */

/*
 * One Cloud Storage JSON API request: method on url with the bearer token,
 * optionally sending `data`. See probe_http_call().
 */
static CURLcode
api_call(struct gcs *g, struct probe_xfer *x, const char *method,
    const char *url, const unsigned char *data, size_t len, long *status)
{
	const char *hdrs[] = { g->auth, NULL };
	struct probe_http_req rq = { method, url, hdrs,
		"application/octet-stream", data, len };

	return probe_http_call(x, g->env, GCS_PROTOCOLS, &rq, status);
}

/* "the Cloud Storage API answered HTTP 503 (backendError)". */
static void
unexpected(struct gcs *g, enum probe_check c, long status,
    const struct probe_xfer *x, const char *what)
{
	char reason[PROBE_CODE_MAX], st[96];

	probe_google_reason(x, reason);
	fail_at(g, c, "the Cloud Storage API answered %s while %s",
	    probe_status_text(st, sizeof(st), status, reason), what);
}

/* --------------------------------------------------------------- token */

/*
 * The JWT assertion of Google's "Preparing to make an authorized API call"
 * (HTTP/REST): header {"alg":"RS256","typ":"JWT"[,"kid":private_key_id]},
 * claims iss = client_email, scope, aud = token_uri, iat = now,
 * exp = now + 1 h. Returns a malloc'd string the caller wipes and frees,
 * NULL when the key cannot sign (not an RSA PEM key) or out of memory.
 */
static char *
make_assertion(const char *email, const char *key, const char *kid,
    const char *aud)
{
	jwt_t *jwt = NULL;
	char *out = NULL;
	time_t now = time(NULL);

	if (jwt_new(&jwt) != 0)
		goto out;
	if (jwt_add_grant(jwt, "iss", email) != 0 ||
	    jwt_add_grant(jwt, "scope", GCS_SCOPE) != 0 ||
	    jwt_add_grant(jwt, "aud", aud) != 0 ||
	    jwt_add_grant_int(jwt, "iat", (long)now) != 0 ||
	    jwt_add_grant_int(jwt, "exp", (long)now + LIM_GCS_ASSERTION_TTL) != 0)
		goto out;
	if (kid != NULL && kid[0] != '\0' &&
	    jwt_add_header(jwt, "kid", kid) != 0)
		goto out;
	/* libjwt copies the key and scrubs its copy in jwt_free(); the PEM
	 * is parsed when signing, so a bad key shows as a NULL encoding. */
	if (jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)key,
	    (int)strlen(key)) != 0)
		goto out;
	out = jwt_encode_str(jwt);
out:
	jwt_free(jwt);
	return out;
}

/*
 * The token endpoint's refusal as a sentence. The codes are those of
 * Google's "JWT error codes" table (Server to Server Applications) and
 * RFC 6749 §5.2; error_description is never read.
 */
static void
token_refused(struct gcs *g, long status, const struct probe_xfer *x)
{
	static const struct {
		const char *code;
		const char *sentence;
	} codes[] = {
		{ "invalid_grant", "the service account key was rejected (the "
		    "account or key is unknown or deleted, or this server's "
		    "clock is off)" },
		{ "invalid_client", "the service account key was rejected (the "
		    "account or key is unknown or deleted)" },
		{ "disabled_client", "the service account or its key is "
		    "disabled" },
		{ "invalid_scope", "the token endpoint refused the Cloud "
		    "Storage scope" },
		{ "unauthorized_client", "the service account may not obtain "
		    "tokens for Cloud Storage" },
		{ "access_denied", "the service account may not obtain tokens "
		    "for Cloud Storage" },
		{ "admin_policy_enforced", "an organization policy forbids the "
		    "service account to obtain tokens" },
		{ "org_internal", "an organization policy forbids the service "
		    "account to obtain tokens" },
	};
	char code[PROBE_CODE_MAX];
	json_object *o;
	size_t i;

	code[0] = '\0';
	if ((o = probe_json_object(x->body, x->len)) != NULL) {
		probe_code_copy(probe_json_string(o, "error"), code);
		json_object_put(o);
	}
	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i].code) == 0) {
			fail_at(g, CHECK_AUTH, "%s", codes[i].sentence);
			return;
		}
	if (code[0] != '\0')
		fail_at(g, CHECK_AUTH, "the token endpoint answered HTTP %ld "
		    "(%s)", status, code);
	else
		fail_at(g, CHECK_AUTH, "the token endpoint answered HTTP %ld",
		    status);
}

/*
 * Exchange the assertion for an access token (Google's "Making the access
 * token request": POST to token_uri, application/x-www-form-urlencoded
 * grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>).
 * On success g->auth is the Authorization header line. Returns false after
 * recording the failure.
 */
static bool
get_token(struct gcs *g, const char *token_uri, const char *assertion)
{
	struct probe_xfer x;
	struct curl_slist *hdrs = NULL;
	json_object *o = NULL;
	const char *tok, *type;
	char *body = NULL;
	size_t blen;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((body = probe_concat("grant_type=" GCS_GRANT_TYPE "&assertion=",
	    assertion, NULL, NULL)) == NULL) {
		fail_at(g, CHECK_CONNECT, "out of memory");
		goto out;
	}
	blen = strlen(body);
	if (probe_curl(&x, g->env, GCS_PROTOCOLS) != BD_OK ||
	    (hdrs = curl_slist_append(NULL, "Content-Type: "
	    "application/x-www-form-urlencoded")) == NULL ||
	    curl_easy_setopt(x.h, CURLOPT_URL, token_uri) != CURLE_OK ||
	    curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(x.h, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(x.h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)blen) != CURLE_OK) {
		fail_at(g, CHECK_CONNECT, "could not prepare the token request");
		goto out;
	}
	if ((cc = curl_easy_perform(x.h)) != CURLE_OK) {
		xfer_failed(g, &x, cc, CHECK_AUTH, "requesting an access token");
		goto out;
	}
	status = probe_http_status(&x);
	if (status != 200) {
		token_refused(g, status, &x);
		goto out;
	}
	o = probe_json_object(x.body, x.len);
	tok = probe_json_string(o, "access_token");
	type = probe_json_string(o, "token_type");
	if (!probe_visible(tok, LIM_GOOGLE_TOKEN_MAX) ||
	    (type != NULL && strcasecmp(type, "Bearer") != 0)) {
		fail_at(g, CHECK_AUTH, "the token endpoint's answer holds no "
		    "usable access token");
		goto out;
	}
	if ((g->auth = probe_bearer_line(tok)) == NULL) {
		fail_at(g, CHECK_AUTH, "out of memory");
		goto out;
	}
	/* Connect passes once the API answers too (check_bucket). */
	g->connect_detail = "reached the token endpoint and the Cloud "
	    "Storage API";
	ok = true;
out:
	wipe_json_put(o);
	if (x.h != NULL)
		curl_easy_setopt(x.h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	probe_xfer_cleanup(&x);
	wipe_str_free(body);
	return ok;
}

/* -------------------------------------------------------------- bucket */

/* target: GET the bucket's metadata. Returns false after a failure. */
static bool
check_bucket(struct gcs *g)
{
	struct probe_xfer x;
	char *url = NULL;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((url = probe_concat(g->api, "/storage/v1/b/", g->bucket_esc,
	    NULL)) == NULL) {
		fail_at(g, CHECK_TARGET, "out of memory");
		goto out;
	}
	if ((cc = api_call(g, &x, "GET", url, NULL, 0, &status)) !=
	    CURLE_OK) {
		xfer_failed(g, &x, cc, CHECK_TARGET, "looking up the bucket");
		goto out;
	}
	switch (status) {
	case 200:
		pass_at(g, CHECK_TARGET, "bucket '%s' exists", g->bucket);
		ok = true;
		break;
	case 401:
		fail_at(g, CHECK_AUTH, "Cloud Storage did not accept the "
		    "access token");
		break;
	case 403:
		/*
		 * Backups need object rights only; storage.buckets.get is not
		 * among them (roles/storage.objectAdmin lacks it). Leave
		 * target open: the upload settles whether the bucket exists.
		 */
		snprintf(g->target_detail, sizeof(g->target_detail),
		    "bucket '%s' was not looked up: the key lacks "
		    "storage.buckets.get (bucket metadata), which backups do "
		    "not need", g->bucket);
		settle_before(g, CHECK_TARGET);
		ok = true;
		break;
	case 404:
		fail_at(g, CHECK_TARGET, "bucket '%s' does not exist",
		    g->bucket);
		break;
	default:
		unexpected(g, CHECK_TARGET, status, &x, "looking up the bucket");
		break;
	}
out:
	probe_xfer_cleanup(&x);
	free(url);
	return ok;
}

/* ------------------------------------------------------------- objects */

/* URL of the probe object (alt=media when `media`). malloc'd. */
static char *
object_url(const struct gcs *g, bool media)
{
	char *base, *url;

	if ((base = probe_concat(g->api, "/storage/v1/b/", g->bucket_esc,
	    "/o/")) == NULL)
		return NULL;
	url = probe_concat(base, g->object_esc, media ? "?alt=media" : NULL,
	    NULL);
	free(base);
	return url;
}

/* write: a media upload (JSON API "objects: insert", uploadType=media). */
static bool
check_write(struct gcs *g, const unsigned char *data, size_t len)
{
	struct probe_xfer x;
	char *base = NULL, *url = NULL;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((base = probe_concat(g->api, "/upload/storage/v1/b/", g->bucket_esc,
	    "/o?uploadType=media&name=")) == NULL ||
	    (url = probe_concat(base, g->object_esc, NULL, NULL)) == NULL) {
		fail_at(g, CHECK_WRITE, "out of memory");
		goto out;
	}
	if ((cc = api_call(g, &x, "POST", url, data, len, &status)) !=
	    CURLE_OK) {
		xfer_failed(g, &x, cc, CHECK_WRITE, "uploading the probe "
		    "object");
		goto out;
	}
	if (status == 404 && !g->target_done) {
		fail_at(g, CHECK_TARGET, "bucket '%s' does not exist",
		    g->bucket);
		goto out;
	}
	if (status == 200 && !g->target_done)
		snprintf(g->target_detail, sizeof(g->target_detail),
		    "bucket '%s' accepted the probe object; the key lacks "
		    "storage.buckets.get (bucket metadata), which backups do "
		    "not need", g->bucket);
	switch (status) {
	case 200:
	case 201:
		pass_at(g, CHECK_WRITE, "wrote a %d-byte probe object",
		    LIM_PROBE_BYTES);
		ok = true;
		break;
	case 403:
		fail_at(g, CHECK_WRITE, "the service account may not create "
		    "objects in bucket '%s' (it needs storage.objects.create)",
		    g->bucket);
		break;
	default:
		unexpected(g, CHECK_WRITE, status, &x, "uploading the probe "
		    "object");
		break;
	}
out:
	probe_xfer_cleanup(&x);
	free(base);
	free(url);
	return ok;
}

/* read: download the object (alt=media) and compare. */
static bool
check_read(struct gcs *g, const unsigned char *data, size_t len)
{
	struct probe_xfer x;
	char *url = NULL;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((url = object_url(g, true)) == NULL) {
		fail_at(g, CHECK_READ, "out of memory");
		goto out;
	}
	if ((cc = api_call(g, &x, "GET", url, NULL, 0, &status)) !=
	    CURLE_OK) {
		xfer_failed(g, &x, cc, CHECK_READ, "reading the probe object "
		    "back");
		goto out;
	}
	switch (status) {
	case 200:
		/* write passed: every check before read is settled. */
		ok = probe_read_back(g->res, &x, data, len);
		break;
	case 403:
		fail_at(g, CHECK_READ, "the service account may not read "
		    "objects in bucket '%s' (it needs storage.objects.get)",
		    g->bucket);
		break;
	case 404:
		fail_at(g, CHECK_READ, "the probe object was not found right "
		    "after it was written");
		break;
	default:
		unexpected(g, CHECK_READ, status, &x, "reading the probe "
		    "object back");
		break;
	}
out:
	probe_xfer_cleanup(&x);
	free(url);
	return ok;
}

/*
 * The object's retention facts (JSON API object resource:
 * retentionExpirationTime, temporaryHold, eventBasedHold) through
 * objects.get (metadata), into observed.objectLock in the shape every type
 * reports: {"mode": null (Cloud Storage names none for a bucket policy),
 * "retainUntil": RFC 3339, "legalHold": either hold set}, null where not
 * reported; until_ms gets the expiry (0 when unknown). Best effort.
 */
static void
observe_retention(struct gcs *g, long long *until_ms)
{
	struct probe_xfer x;
	json_object *o = NULL, *v;
	char *url = NULL;
	long long ms = 0;
	long status = 0;
	bool hold = false, hold_known = false;

	*until_ms = 0;
	memset(&x, 0, sizeof(x));
	if ((url = object_url(g, false)) != NULL &&
	    api_call(g, &x, "GET", url, NULL, 0, &status) == CURLE_OK &&
	    status == 200)
		o = probe_json_object(x.body, x.len);
	if (o != NULL && clock_parse_ms(probe_json_string(o,
	    "retentionExpirationTime"), &ms))
		*until_ms = ms;
	if (o != NULL && json_object_object_get_ex(o, "temporaryHold", &v)) {
		hold_known = true;
		hold = json_object_get_boolean(v);
	}
	if (o != NULL && json_object_object_get_ex(o, "eventBasedHold", &v)) {
		hold_known = true;
		hold = hold || json_object_get_boolean(v);
	}
	probe_observe_lock(g->res, NULL, *until_ms != 0 ? *until_ms : -1,
	    hold_known ? hold : -1);
	json_object_put(o);
	probe_xfer_cleanup(&x);
	free(url);
}

/* The delete was refused with retentionPolicyNotMet: the delete check
 * passes (the object is kept) with a warning that says until when. */
static void
kept_by_retention(struct gcs *g)
{
	char at[CLOCK_TEXT_MAX];
	long long until;

	observe_retention(g, &until);
	pass_at(g, CHECK_DELETE, "the probe object was kept: the bucket's "
	    "retention policy refuses deleting it");
	if (until != 0) {
		clock_format_ms(until, CLOCK_RFC3339, at);
		probe_warn(g->res, "the probe object '%s' stays in bucket '%s' "
		    "until its retention ends on %s; delete it then",
		    g->object, g->bucket, at);
	} else {
		probe_warn(g->res, "the probe object '%s' stays in bucket '%s' "
		    "until its retention period ends; delete it then",
		    g->object, g->bucket);
	}
}

/*
 * delete: DELETE the object. A refusal (403: no storage.objects.delete, a
 * retention policy or an object hold) keeps the object and is a warning,
 * not a failure. `record` false: cleanup after a failed read, where only a
 * leftover object is worth a warning.
 */
static void
check_delete(struct gcs *g, bool record)
{
	struct probe_xfer x;
	char *url = NULL, reason[PROBE_CODE_MAX];
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	long status = 0;
	bool gone;

	memset(&x, 0, sizeof(x));
	if ((url = object_url(g, false)) != NULL)
		cc = api_call(g, &x, "DELETE", url, NULL, 0, &status);
	gone = cc == CURLE_OK && (status == 204 || status == 200 ||
	    status == 404);
	if (!record) {
		if (!gone)
			probe_warn(g->res, "the probe object '%s' in bucket "
			    "'%s' could not be removed; remove it by hand",
			    g->object, g->bucket);
	} else if (cc != CURLE_OK)
		xfer_failed(g, &x, cc, CHECK_DELETE, "deleting the probe "
		    "object");
	else if (status == 204 || status == 200)
		pass_at(g, CHECK_DELETE, "deleted the probe object");
	else if (status == 404)
		pass_at(g, CHECK_DELETE, "the probe object was already gone");
	else if (status == 403) {
		probe_google_reason(&x, reason);
		if (strcmp(reason, "retentionPolicyNotMet") == 0) {
			kept_by_retention(g);
		} else {
			pass_at(g, CHECK_DELETE, "the probe object was kept: "
			    "deleting it was refused");
			probe_warn(g->res, "deleting the probe object was "
			    "refused: the service account needs "
			    "storage.objects.delete; '%s' stays in bucket '%s': "
			    "remove it by hand", g->object, g->bucket);
		}
	} else
		unexpected(g, CHECK_DELETE, status, &x, "deleting the probe "
		    "object");
	probe_xfer_cleanup(&x);
	free(url);
}

/* -------------------------------------------------------------- config */

/*
 * Fill g->object, g->object_esc, g->bucket_esc and g->api. The object is
 * <prefix>/<probe name>: a leading '/' of the prefix is dropped (object names
 * do not start with one) and a missing trailing '/' added. Returns false
 * when out of memory.
 */
static bool
make_names(struct gcs *g, CURL *h, const char *prefix)
{
	char name[32];
	size_t plen;

	if ((g->api = probe_base_url(g->env != NULL && g->env->cfg != NULL ?
	    g->env->cfg->gcs_api_url : NULL, GCS_DEFAULT_API)) == NULL)
		return false;

	probe_object_name(name);
	while (prefix != NULL && *prefix == '/')
		prefix++;
	plen = prefix != NULL ? strlen(prefix) : 0;
	g->object = probe_concat(plen > 0 ? prefix : NULL,
	    plen > 0 && prefix[plen - 1] != '/' ? "/" : NULL, name, NULL);
	if (g->object == NULL)
		return false;
	/* Object names go into the path percent-encoded, '/' included
	 * (JSON API "Encoding URI path parts"). */
	g->object_esc = curl_easy_escape(h, g->object, 0);
	g->bucket_esc = curl_easy_escape(h, g->bucket, 0);
	return g->object_esc != NULL && g->bucket_esc != NULL;
}

/*
 * See probe.h. connect (token endpoint and API), auth (token issued and
 * accepted), target (bucket), write / read / delete of a probe object.
 */
void
probe_gcs(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct gcs g;
	json_object *key = NULL;
	const char *sa, *email, *pem, *kid, *token_uri;
	unsigned char data[LIM_PROBE_BYTES];
	char *assertion = NULL;
	CURL *h = NULL;

	/* Until the first transfer, failures are recorded with probe_fail():
	 * nothing was reached, so no earlier check is settled. */
	memset(&g, 0, sizeof(g));
	g.env = env;
	g.res = res;
	g.connect_detail = "reached the token endpoint";
	randombytes_buf(data, sizeof(data));

	if ((g.bucket = probe_json_string(config, "bucket")) == NULL) {
		probe_fail(res, CHECK_TARGET, "the config has no bucket");
		goto out;
	}
	/* The key file is at most LIM_FIELD_MAX bytes (dtype.c), well
	 * under probe_json_object()'s cap. */
	if ((sa = probe_json_string(config, "serviceAccountJson")) != NULL)
		key = probe_json_object(sa, strlen(sa));
	if (key == NULL ||
	    (email = probe_json_string(key, "client_email")) == NULL ||
	    (pem = probe_json_string(key, "private_key")) == NULL ||
	    (token_uri = probe_json_string(key, "token_uri")) == NULL) {
		probe_fail(res, CHECK_AUTH, "the service account key file is "
		    "incomplete (client_email, private_key and token_uri are "
		    "needed)");
		goto out;
	}
	kid = probe_json_string(key, "private_key_id");
	/* The service's one URL rule (url.h), also for a config stored
	 * before it refused control characters: nothing of token_uri may
	 * reach a request line unchecked. */
	if (url_parse(token_uri, URL_QUERY, NULL) != URL_OK) {
		probe_fail(res, CHECK_AUTH, "the service account key file's "
		    "token_uri is not a usable http(s) URL");
		goto out;
	}

	/* Plain http is allowed (a test or an emulator), but say so. */
	if (probe_plain_http(token_uri))
		probe_warn(res, "the token endpoint is plain http: the signed "
		    "assertion and the access token travel unencrypted");
	if (probe_plain_http(env != NULL && env->cfg != NULL ?
	    env->cfg->gcs_api_url : NULL))
		probe_warn(res, "the Cloud Storage API URL is plain http: the "
		    "access token and the data travel unencrypted");

	if ((assertion = make_assertion(email, pem, kid, token_uri)) == NULL) {
		probe_fail(res, CHECK_AUTH, "the service account's private key "
		    "could not sign (it must be an RSA key in PEM form)");
		goto out;
	}
	probe_json_wipe(key, "private_key");
	if ((h = curl_easy_init()) == NULL ||
	    !make_names(&g, h, probe_json_string(config, "prefix"))) {
		probe_fail(res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	if (!get_token(&g, token_uri, assertion))
		goto out;
	if (!check_bucket(&g))
		goto out;
	if (!check_write(&g, data, sizeof(data)))
		goto out;
	if (!check_read(&g, data, sizeof(data))) {
		check_delete(&g, false);
		goto out;
	}
	check_delete(&g, true);
out:
	wipe_str_free(assertion);
	wipe_str_free(g.auth);
	wipe_json_put(key);
	curl_free(g.object_esc);
	curl_free(g.bucket_esc);
	if (h != NULL)
		curl_easy_cleanup(h);
	free(g.object);
	free(g.api);
	sodium_memzero(data, sizeof(data));
}
