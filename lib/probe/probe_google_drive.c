/*
 * The Google Drive probe (destination type google_drive).
 *
 * The credentials are OAuth tokens from the OAuth flow (oauth.h). The
 * service refreshes an access token that is about to expire before a probe
 * runs, so the probe only reads config "_oauth"."accessToken" and sends it as
 * a bearer token (RFC 6750 §2.1) to the Drive API v3 at the server-wide
 * google_api_url (default https://www.googleapis.com):
 *
 *   GET    /drive/v3/files/{folder}?fields=id,mimeType,trashed      target
 *   GET    /drive/v3/about?fields=storageQuota,user(...)            facts
 *   POST   /upload/drive/v3/files?uploadType=multipart&fields=id    write
 *   GET    /drive/v3/files/{id}?alt=media                           read
 *   DELETE /drive/v3/files/{id}                                     delete
 *
 * {folder} is the config's folderId, or "root" (Drive's alias of My Drive).
 * supportsAllDrives=true lets the same calls work for a folder in a shared
 * drive (Drive API "Implement shared drive support").
 *
 * With the drive.file scope the app sees only files and folders it created
 * (or that the user opened with it): a folder made by hand in the Drive web
 * UI answers 404 like a folder that does not exist, and the detail says so.
 *
 * about.get ("about: get"; the drive.file scope may call it) gives the
 * storage quota and the account in one request, made once Drive accepted
 * the token (also when the folder check then fails: the account tells
 * which Drive the folder was looked for in). It never fails the test; see
 * read_about().
 *
 * Secrets: the access token is copied only into the Authorization header
 * line, which is wiped after use; it never reaches a detail or a log line.
 * Drive's error documents are read for their short "reason" code only
 * ({"error": {"errors": [{"reason": "notFound"}]}}), never their message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bd_limits.h"
#include "probe_facts.h"
#include "probe_http.h"
#include "wipe.h"

#define GD_PROTOCOLS "https,http"
#define GD_DEFAULT_API "https://www.googleapis.com"
#define GD_FOLDER_MIME "application/vnd.google-apps.folder"

struct gd {
	const struct probe_env *env;
	struct probe_result *res;
	const char *folder;     /* folderId or "root" (borrowed from config) */
	char *api;              /* google_api_url without trailing '/' */
	char *folder_esc;       /* folder, percent-encoded */
	char *auth;             /* "Authorization: Bearer <token>"; wiped */
	char *file_esc;         /* the uploaded probe object's id, encoded */
	char name[32];          /* the probe object's name */
	bool authed;            /* Drive accepted the token */
};

/* ------------------------------------------------------------ transfers */

/*
 * One Drive API request with the bearer token: method on url, sending
 * `data` (of type ctype) when not NULL. See probe_http_call().
 */
static CURLcode
api_call(struct gd *g, struct probe_xfer *x, const char *method,
    const char *url, const char *ctype, const void *data, size_t len,
    long *status)
{
	const char *hdrs[] = { g->auth, NULL };
	struct probe_http_req rq = { method, url, hdrs, ctype, data, len };

	return probe_http_call(x, g->env, GD_PROTOCOLS, &rq, status);
}

/* "Google Drive answered HTTP 500 (backendError) while <what>". */
static void
unexpected(struct gd *g, enum probe_check c, long status,
    const struct probe_xfer *x, const char *what)
{
	char reason[PROBE_CODE_MAX];

	probe_google_reason(x, reason);
	probe_fail_answer(g->res, c, "Google Drive", status, reason, what);
}

/* ---------------------------------------------------------------- steps */

/*
 * connect, auth and target: look the folder up (files.get). Connect passes
 * on the first HTTP answer, auth once Drive accepted the token. Returns
 * false after a failure.
 */
static bool
check_folder(struct gd *g)
{
	struct probe_xfer x;
	json_object *o = NULL, *v;
	char *url = NULL, reason[PROBE_CODE_MAX];
	const char *mime;
	bool root = strcmp(g->folder, "root") == 0, ok = false;
	CURLcode cc;
	long status;

	memset(&x, 0, sizeof(x));
	if ((url = probe_concat(g->api, "/drive/v3/files/", g->folder_esc,
	    "?fields=id,mimeType,trashed&supportsAllDrives=true")) == NULL) {
		probe_fail(g->res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	if ((cc = api_call(g, &x, "GET", url, NULL, NULL, 0, &status)) !=
	    CURLE_OK) {
		probe_fail_curl(g->res, &x, cc, CHECK_CONNECT,
		    "looking up the folder");
		goto out;
	}
	probe_pass(g->res, CHECK_CONNECT, "reached the Google Drive API");
	if (status == 401) {
		probe_fail(g->res, CHECK_AUTH, "Google Drive refused the "
		    "access token (revoked, expired or for another account): "
		    PROBE_OAUTH_AGAIN);
		goto out;
	}
	probe_google_reason(&x, reason);
	if (status == 403 && (strcmp(reason, "insufficientPermissions") == 0 ||
	    strcmp(reason, "insufficientScopes") == 0 ||
	    strcmp(reason, "authError") == 0)) {
		probe_fail(g->res, CHECK_AUTH, "the authorization does not "
		    "include access to Google Drive: " PROBE_OAUTH_AGAIN);
		goto out;
	}
	if (status != 200 && status != 403 && status != 404) {
		unexpected(g, CHECK_TARGET, status, &x,
		    "looking up the folder");
		goto out;
	}
	probe_pass(g->res, CHECK_AUTH,
	    "Google Drive accepted the access token");
	g->authed = true;
	if (status == 404) {
		probe_fail(g->res, CHECK_TARGET, "folder '%s' does not "
		    "exist, or this app may not see it (with the drive.file "
		    "scope only folders created through this app are visible)",
		    g->folder);
		goto out;
	}
	if (status == 403) {
		if (reason[0] != '\0')
			probe_fail(g->res, CHECK_TARGET, "Google Drive refused "
			    "access to folder '%s' (%s)", g->folder, reason);
		else
			probe_fail(g->res, CHECK_TARGET, "Google Drive refused "
			    "access to folder '%s'", g->folder);
		goto out;
	}
	o = probe_json_object(x.body, x.len);
	if ((mime = probe_json_string(o, "mimeType")) == NULL) {
		probe_fail(g->res, CHECK_TARGET, "Google Drive's answer about "
		    "folder '%s' could not be read", g->folder);
		goto out;
	}
	if (strcmp(mime, GD_FOLDER_MIME) != 0) {
		probe_fail(g->res, CHECK_TARGET, "'%s' is a file, not a folder",
		    g->folder);
		goto out;
	}
	if (json_object_object_get_ex(o, "trashed", &v) &&
	    json_object_get_boolean(v)) {
		probe_fail(g->res, CHECK_TARGET, "folder '%s' is in the trash",
		    g->folder);
		goto out;
	}
	if (root)
		probe_pass(g->res, CHECK_TARGET, "the root folder (My Drive) "
		    "exists");
	else
		probe_pass(g->res, CHECK_TARGET, "folder '%s' exists",
		    g->folder);
	ok = true;
out:
	json_object_put(o);
	probe_xfer_cleanup(&x);
	free(url);
	return ok;
}

/*
 * The numbers of about.storageQuota (Drive API "About" resource: int64
 * values sent as strings): limit ("not present if the user has unlimited
 * storage"; for an organization with pooled storage it is the
 * organization's) and usage (across all services: Gmail and Photos count
 * against the same limit, so usageInDrive alone would overstate what is
 * free). total = limit, used = usage, free = limit - usage (0 when over
 * quota); -1 where a number is missing: unlimited gives total and free
 * -1.
 */
static void
about_quota(json_object *about, int64_t *total, int64_t *used,
    int64_t *avail)
{
	json_object *q = NULL;

	if (about != NULL)
		json_object_object_get_ex(about, "storageQuota", &q);
	*total = probe_facts_bytes(q, "limit");
	*used = probe_facts_bytes(q, "usage");
	*avail = -1;
	if (*total >= 0 && *used >= 0)
		*avail = *total > *used ? *total - *used : 0;
}

/*
 * Capacity and observed.account from an about.get answer. The account is
 * user.emailAddress ("may not be present in certain contexts if the user
 * has not made their email address visible to the requester"), else
 * user.displayName.
 */
static void
about_facts(struct gd *g, const struct probe_xfer *x)
{
	json_object *o, *user;
	int64_t total, used, avail;

	if ((o = probe_json_object(x->body, x->len)) == NULL)
		return;
	if (json_object_object_get_ex(o, "user", &user))
		probe_facts_account(g->res, probe_json_string(user,
		    "emailAddress"), probe_json_string(user, "displayName"));
	about_quota(o, &total, &used, &avail);
	if (total >= 0 || used >= 0)
		probe_capacity(g->res, g->env, total, used, avail);
	json_object_put(o);
}

/*
 * about.get: fields is required by this method; storageQuota and user's
 * two names only (no photo link or permission id). A failed or
 * unreadable answer leaves capacity and account out without a warning:
 * the checks say whether the Drive works, and the next test tries again.
 */
static void
read_about(struct gd *g)
{
	struct probe_xfer x;
	char *url;
	long status;

	memset(&x, 0, sizeof(x));
	if ((url = probe_concat(g->api, "/drive/v3/about?fields=storageQuota,"
	    "user(displayName,emailAddress)", NULL, NULL)) != NULL &&
	    api_call(g, &x, "GET", url, NULL, NULL, 0, &status) == CURLE_OK &&
	    status == 200)
		about_facts(g, &x);
	probe_xfer_cleanup(&x);
	free(url);
}

/*
 * write: a multipart upload (Drive API "Upload file data", uploadType=
 * multipart): a multipart/related body of the JSON metadata {name,
 * parents: [folder]} and the content. The boundary carries 128 random
 * bits, so 64 random content bytes do not contain it (RFC 2046 §5.1.1
 * only asks that it not occur in the parts). Fills g->file_esc.
 */
static bool
check_write(struct gd *g, const unsigned char *data, size_t len)
{
	struct probe_xfer x;
	json_object *meta = NULL, *parents;
	unsigned char rnd[16];
	char boundary[48], ctype[96], hex[2 * sizeof(rnd) + 1];
	char reason[PROBE_CODE_MAX];
	char *url = NULL, *body = NULL, *head = NULL, *p;
	const char *m;
	size_t hlen, tlen, blen;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
	snprintf(boundary, sizeof(boundary), "backupd-%s", hex);
	snprintf(ctype, sizeof(ctype), "multipart/related; boundary=%s",
	    boundary);
	meta = json_object_new_object();
	parents = json_object_new_array();
	if (meta == NULL || parents == NULL) {
		json_object_put(parents);
		probe_fail(g->res, CHECK_WRITE, "out of memory");
		goto out;
	}
	json_object_object_add(meta, "name", json_object_new_string(g->name));
	json_object_array_add(parents, json_object_new_string(g->folder));
	json_object_object_add(meta, "parents", parents);
	m = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN);
	hlen = strlen(m) + 2 * strlen(boundary) + 160;
	if ((head = malloc(hlen)) == NULL) {
		probe_fail(g->res, CHECK_WRITE, "out of memory");
		goto out;
	}
	hlen = (size_t)snprintf(head, hlen, "--%s\r\nContent-Type: "
	    "application/json; charset=UTF-8\r\n\r\n%s\r\n--%s\r\n"
	    "Content-Type: application/octet-stream\r\n\r\n", boundary, m,
	    boundary);
	tlen = strlen(boundary) + 8;           /* "\r\n--" B "--\r\n" */
	blen = hlen + len + tlen;
	if ((body = malloc(blen + 1)) == NULL ||
	    (url = probe_concat(g->api, "/upload/drive/v3/files?"
	    "uploadType=multipart&fields=id&supportsAllDrives=true", NULL,
	    NULL)) == NULL) {
		probe_fail(g->res, CHECK_WRITE, "out of memory");
		goto out;
	}
	p = body;
	memcpy(p, head, hlen);
	p += hlen;
	memcpy(p, data, len);
	p += len;
	snprintf(p, tlen + 1, "\r\n--%s--\r\n", boundary);
	if ((cc = api_call(g, &x, "POST", url, ctype, body, blen, &status)) !=
	    CURLE_OK) {
		probe_fail_curl_step(g->res, &x, cc, CHECK_WRITE,
		    "uploading the probe object");
		goto out;
	}
	switch (status) {
	case 200:
	case 201:
		ok = probe_record_upload(g->res, &x, LIM_PROBE_ID_MAX, len, g->name,
		    "Google Drive's answer to the upload holds no file id",
		    &g->file_esc);
		break;
	case 403:
		probe_google_reason(&x, reason);
		if (strcmp(reason, "storageQuotaExceeded") == 0)
			probe_fail(g->res, CHECK_WRITE, "the drive's storage "
			    "quota is exceeded");
		else
			probe_fail(g->res, CHECK_WRITE, "the account may not "
			    "create files in folder '%s'", g->folder);
		break;
	default:
		unexpected(g, CHECK_WRITE, status, &x, "uploading the probe "
		    "object");
		break;
	}
out:
	json_object_put(meta);
	probe_xfer_cleanup(&x);
	free(head);
	free(body);
	free(url);
	return ok;
}

/* read: download the content (alt=media) and compare. */
static bool
check_read(struct gd *g, const unsigned char *data, size_t len)
{
	struct probe_xfer x;
	char *url = NULL;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((url = probe_concat(g->api, "/drive/v3/files/", g->file_esc,
	    "?alt=media&supportsAllDrives=true")) == NULL) {
		probe_fail(g->res, CHECK_READ, "out of memory");
		goto out;
	}
	if ((cc = api_call(g, &x, "GET", url, NULL, NULL, 0, &status)) !=
	    CURLE_OK) {
		probe_fail_curl_step(g->res, &x, cc, CHECK_READ,
		    "reading the probe object back");
		goto out;
	}
	if (status == 200) {
		ok = probe_read_back(g->res, &x, data, len);
	} else if (status == 404) {
		probe_fail(g->res, CHECK_READ, "the probe object was not found "
		    "right after it was uploaded");
	} else {
		unexpected(g, CHECK_READ, status, &x,
		    "reading the probe object back");
	}
out:
	probe_xfer_cleanup(&x);
	free(url);
	return ok;
}

/*
 * delete: DELETE the probe object. A refusal keeps the object and is a
 * warning, not a failure. `record` false: cleanup after a failed read,
 * where only a leftover object is worth a warning.
 */
static void
check_delete(struct gd *g, bool record)
{
	struct probe_xfer x;
	char *url = NULL;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	long status = 0;

	memset(&x, 0, sizeof(x));
	if ((url = probe_concat(g->api, "/drive/v3/files/", g->file_esc,
	    "?supportsAllDrives=true")) != NULL)
		cc = api_call(g, &x, "DELETE", url, NULL, NULL, 0, &status);
	probe_record_delete(g->res, record, cc, status, g->name, g->folder);
	probe_xfer_cleanup(&x);
	free(url);
}

/* -------------------------------------------------------------- config */

/* g->api (no trailing '/') and g->folder_esc; false when out of memory. */
static bool
make_urls(struct gd *g)
{
	g->api = probe_base_url(g->env != NULL && g->env->cfg != NULL ?
	    g->env->cfg->google_api_url : NULL, GD_DEFAULT_API);
	if (g->api == NULL)
		return false;
	g->folder_esc = curl_easy_escape(NULL, g->folder, 0);
	return g->folder_esc != NULL;
}

/*
 * See probe.h. connect (the API answered), auth (it accepted the token),
 * target (the folder exists and is a folder), write / read / delete of a
 * probe object in it.
 */
void
probe_google_drive(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct gd g;
	unsigned char data[LIM_PROBE_BYTES];
	bool ok;

	memset(&g, 0, sizeof(g));
	g.env = env;
	g.res = res;
	probe_object_name(g.name);
	randombytes_buf(data, sizeof(data));
	if ((g.folder = probe_json_nonempty(config, "folderId")) == NULL)
		g.folder = "root";
	if ((g.auth = probe_oauth_bearer(res, config, LIM_GOOGLE_TOKEN_MAX)) == NULL)
		goto out;
	if (!make_urls(&g)) {
		probe_fail(res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	/* Plain http is allowed (a test stub), but say so. */
	if (probe_plain_http(g.api))
		probe_warn(res, "the Google Drive API URL is plain http: the "
		    "access token and the data travel unencrypted");
	ok = check_folder(&g);
	if (g.authed)
		read_about(&g);
	if (!ok || !check_write(&g, data, sizeof(data)))
		goto out;
	if (!check_read(&g, data, sizeof(data))) {
		check_delete(&g, false);
		goto out;
	}
	check_delete(&g, true);
out:
	wipe_str_free(g.auth);
	curl_free(g.folder_esc);
	curl_free(g.file_esc);
	free(g.api);
}
