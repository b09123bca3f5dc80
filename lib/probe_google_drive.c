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
 * Secrets: the access token is copied only into the Authorization header
 * line, which is wiped after use; it never reaches a detail or a log line.
 * Drive's error documents are read for their short "reason" code only
 * ({"error": {"errors": [{"reason": "notFound"}]}}), never their message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "bd_limits.h"
#include "oauth.h"
#include "probe.h"

#define GD_PROTOCOLS "https,http"
#define GD_DEFAULT_API "https://www.googleapis.com"
#define GD_FOLDER_MIME "application/vnd.google-apps.folder"
#define GD_PROBE_BYTES 64
/* Google documents access tokens of up to 2048 bytes; some slack. */
#define GD_TOKEN_MAX 4096
/* A Drive file id is 28-44 characters today; anything longer is not one. */
#define GD_ID_MAX 256
/* An error code worth naming in a detail: short, no prose. */
#define GD_CODE_MAX 40
#define GD_JSON_DEPTH 16
#define GD_AGAIN "authorize again with POST /backup-destinations/{id}/oauth"

struct gd {
	const struct probe_env *env;
	struct probe_result *res;
	const char *folder;     /* folderId or "root" (borrowed from config) */
	char *api;              /* google_api_url without trailing '/' */
	char *folder_esc;       /* folder, percent-encoded */
	char *auth;             /* "Authorization: Bearer <token>"; wiped */
	char *file_esc;         /* the uploaded probe object's id, encoded */
	char name[32];          /* the probe object's name */
};

/* ---------------------------------------------------------------- JSON */

/* Parse a remote body; NULL when it is not one JSON object. */
static json_object *
parse_object(const char *body, size_t len)
{
	json_tokener *tok;
	json_object *o = NULL;

	if (body == NULL || len == 0 || len > (size_t)LIM_PROBE_MAX_RESPONSE)
		return NULL;
	if ((tok = json_tokener_new_ex(GD_JSON_DEPTH)) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* The string member `key` of o, NULL if absent or not a string. */
static const char *
member_string(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/*
 * The first errors[].reason of a Drive error document, copied into
 * out[GD_CODE_MAX] when it is a short [A-Za-z0-9._-] token; "" otherwise
 * (Drive API "Resolve errors": {"error": {"code", "message", "errors":
 * [{"domain", "reason", "message"}]}}).
 */
static void
api_reason(const struct probe_xfer *x, char out[GD_CODE_MAX])
{
	json_object *o, *err, *errs;
	const char *s = NULL;
	size_t n;

	out[0] = '\0';
	if ((o = parse_object(x->body, x->len)) == NULL)
		return;
	if (json_object_object_get_ex(o, "error", &err) &&
	    json_object_is_type(err, json_type_object) &&
	    json_object_object_get_ex(err, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array) &&
	    json_object_array_length(errs) > 0)
		s = member_string(json_object_array_get_idx(errs, 0), "reason");
	if (s != NULL) {
		n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
		if (n > 0 && s[n] == '\0' && n < GD_CODE_MAX)
			memcpy(out, s, n + 1);
	}
	json_object_put(o);
}

/* Whether s is a plausible id or token: visible ASCII, 1..max bytes. */
static bool
visible(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* ------------------------------------------------------------ transfers */

static long
http_status(const struct probe_xfer *x)
{
	long code = 0;

	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* malloc'd concatenation of up to four strings (NULLs skipped). */
static char *
join4(const char *a, const char *b, const char *c, const char *d)
{
	const char *parts[4] = { a, b, c, d };
	size_t len = 1, n, i;
	char *s, *p;

	for (i = 0; i < 4; i++)
		if (parts[i] != NULL)
			len += strlen(parts[i]);
	if ((s = malloc(len)) == NULL)
		return NULL;
	p = s;
	for (i = 0; i < 4; i++) {
		if (parts[i] == NULL)
			continue;
		n = strlen(parts[i]);
		memcpy(p, parts[i], n);
		p += n;
	}
	*p = '\0';
	return s;
}

/* Free a header list after wiping every entry (one holds the token). */
static void
headers_free(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		if (p->data != NULL)
			sodium_memzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

/*
 * One Drive API request with the bearer token: method on url, sending
 * `data` (of type ctype) when not NULL. On CURLE_OK *status is the HTTP
 * status and x holds the answer; the caller cleans up x in every case.
 */
static CURLcode
api_call(struct gd *g, struct probe_xfer *x, const char *method,
    const char *url, const char *ctype, const void *data, size_t len,
    long *status)
{
	struct curl_slist *hdrs = NULL, *t;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	char line[160];

	*status = 0;
	if (probe_curl(x, g->env, GD_PROTOCOLS) != BD_OK)
		goto out;
	if ((hdrs = curl_slist_append(NULL, g->auth)) == NULL)
		goto out;
	if (data != NULL) {
		snprintf(line, sizeof(line), "Content-Type: %s", ctype);
		if ((t = curl_slist_append(hdrs, line)) == NULL)
			goto out;
		hdrs = t;
		if ((t = curl_slist_append(hdrs, "Expect:")) == NULL)
			goto out;
		hdrs = t;
	}
	if ((cc = curl_easy_setopt(x->h, CURLOPT_URL, url)) != CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hdrs)) !=
	    CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, method)) !=
	    CURLE_OK)
		goto out;
	if (data != NULL &&
	    ((cc = curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, data)) !=
	    CURLE_OK ||
	    (cc = curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)len)) != CURLE_OK))
		goto out;
	if ((cc = curl_easy_perform(x->h)) == CURLE_OK)
		*status = http_status(x);
out:
	if (x->h != NULL)
		curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
	headers_free(hdrs);
	return cc;
}

/*
 * A transfer after the first one failed at the curl level: record it under
 * `step` with probe_fail_curl()'s sentence (connect already passed, so a
 * connection-level failure now belongs to the step that was running).
 */
static void
xfer_failed(struct gd *g, const struct probe_xfer *x, CURLcode cc,
    enum probe_check step, const char *what)
{
	struct probe_result tmp;

	memset(&tmp, 0, sizeof(tmp));
	tmp.ok = true;
	tmp.failed = -1;
	probe_fail_curl(&tmp, x, cc, step, what);
	probe_fail(g->res, step, "%s", tmp.nchecks > 0 ?
	    tmp.checks[0].detail : "the transfer failed");
}

/* "Google Drive answered HTTP 500 (backendError) while <what>". */
static void
unexpected(struct gd *g, enum probe_check c, long status,
    const struct probe_xfer *x, const char *what)
{
	char reason[GD_CODE_MAX];

	api_reason(x, reason);
	if (reason[0] != '\0')
		probe_fail(g->res, c, "Google Drive answered HTTP %ld (%s) "
		    "while %s", status, reason, what);
	else
		probe_fail(g->res, c, "Google Drive answered HTTP %ld while %s",
		    status, what);
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
	char *url = NULL, reason[GD_CODE_MAX];
	const char *mime;
	bool root = strcmp(g->folder, "root") == 0, ok = false;
	CURLcode cc;
	long status;

	memset(&x, 0, sizeof(x));
	if ((url = join4(g->api, "/drive/v3/files/", g->folder_esc,
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
		    GD_AGAIN);
		goto out;
	}
	api_reason(&x, reason);
	if (status == 403 && (strcmp(reason, "insufficientPermissions") == 0 ||
	    strcmp(reason, "insufficientScopes") == 0 ||
	    strcmp(reason, "authError") == 0)) {
		probe_fail(g->res, CHECK_AUTH, "the authorization does not "
		    "include access to Google Drive: " GD_AGAIN);
		goto out;
	}
	if (status != 200 && status != 403 && status != 404) {
		unexpected(g, CHECK_TARGET, status, &x,
		    "looking up the folder");
		goto out;
	}
	probe_pass(g->res, CHECK_AUTH,
	    "Google Drive accepted the access token");
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
	o = parse_object(x.body, x.len);
	if ((mime = member_string(o, "mimeType")) == NULL) {
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
	json_object *meta = NULL, *parents, *o = NULL;
	unsigned char rnd[16];
	char boundary[48], ctype[96], hex[2 * sizeof(rnd) + 1];
	char reason[GD_CODE_MAX];
	char *url = NULL, *body = NULL, *head = NULL, *p;
	const char *m, *id;
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
	    (url = join4(g->api, "/upload/drive/v3/files?uploadType=multipart"
	    "&fields=id&supportsAllDrives=true", NULL, NULL)) == NULL) {
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
		xfer_failed(g, &x, cc, CHECK_WRITE,
		    "uploading the probe object");
		goto out;
	}
	switch (status) {
	case 200:
	case 201:
		o = parse_object(x.body, x.len);
		if (!visible(id = member_string(o, "id"), GD_ID_MAX) ||
		    (g->file_esc = curl_easy_escape(x.h, id, 0)) == NULL) {
			probe_fail(g->res, CHECK_WRITE, "Google Drive's "
			    "answer to the upload holds no file id");
			break;
		}
		probe_pass(g->res, CHECK_WRITE, "uploaded a %d-byte probe "
		    "object '%s'", GD_PROBE_BYTES, g->name);
		ok = true;
		break;
	case 403:
		api_reason(&x, reason);
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
	json_object_put(o);
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
	if ((url = join4(g->api, "/drive/v3/files/", g->file_esc,
	    "?alt=media&supportsAllDrives=true")) == NULL) {
		probe_fail(g->res, CHECK_READ, "out of memory");
		goto out;
	}
	if ((cc = api_call(g, &x, "GET", url, NULL, NULL, 0, &status)) !=
	    CURLE_OK) {
		xfer_failed(g, &x, cc, CHECK_READ, "reading the probe object "
		    "back");
		goto out;
	}
	if (status == 200 && x.len == len && memcmp(x.body, data, len) == 0) {
		probe_pass(g->res, CHECK_READ, "read the probe object back "
		    "intact");
		ok = true;
	} else if (status == 200) {
		probe_fail(g->res, CHECK_READ, "the probe object read back "
		    "differs from what was written");
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
	bool gone;

	memset(&x, 0, sizeof(x));
	if ((url = join4(g->api, "/drive/v3/files/", g->file_esc,
	    "?supportsAllDrives=true")) != NULL)
		cc = api_call(g, &x, "DELETE", url, NULL, NULL, 0, &status);
	gone = cc == CURLE_OK && (status == 204 || status == 200 ||
	    status == 404);
	if (!gone)
		probe_warn(g->res, "the probe object '%s' in folder '%s' could "
		    "not be deleted; remove it by hand", g->name, g->folder);
	if (record && gone)
		probe_pass(g->res, CHECK_DELETE, status == 404 ? "the probe "
		    "object was already gone" : "deleted the probe object");
	else if (record)
		probe_pass(g->res, CHECK_DELETE, "the probe object was kept: "
		    "deleting it failed");
	probe_xfer_cleanup(&x);
	free(url);
}

/* -------------------------------------------------------------- config */

/* g->auth from config "_oauth"."accessToken"; false after a failure. */
static bool
load_token(struct gd *g, json_object *config)
{
	json_object *o = NULL;
	const char *tok;

	if (!json_object_object_get_ex(config, OAUTH_CONFIG_MEMBER, &o) ||
	    (tok = member_string(o, "accessToken")) == NULL) {
		probe_fail(g->res, CHECK_AUTH, "not authorized yet: start the "
		    "OAuth flow with POST /backup-destinations/{id}/oauth");
		return false;
	}
	if (!visible(tok, GD_TOKEN_MAX)) {
		probe_fail(g->res, CHECK_AUTH, "the stored access token is "
		    "unusable: " GD_AGAIN);
		return false;
	}
	if ((g->auth = join4("Authorization: Bearer ", tok, NULL, NULL)) ==
	    NULL) {
		probe_fail(g->res, CHECK_CONNECT, "out of memory");
		return false;
	}
	return true;
}

/* g->api (no trailing '/') and g->folder_esc; false when out of memory. */
static bool
make_urls(struct gd *g)
{
	const char *api = g->env != NULL && g->env->cfg != NULL &&
	    g->env->cfg->google_api_url != NULL ?
	    g->env->cfg->google_api_url : GD_DEFAULT_API;
	size_t alen = strlen(api);

	while (alen > 0 && api[alen - 1] == '/')
		alen--;
	if ((g->api = malloc(alen + 1)) == NULL)
		return false;
	memcpy(g->api, api, alen);
	g->api[alen] = '\0';
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
	unsigned char data[GD_PROBE_BYTES];

	memset(&g, 0, sizeof(g));
	g.env = env;
	g.res = res;
	probe_object_name(g.name);
	randombytes_buf(data, sizeof(data));
	if ((g.folder = member_string(config, "folderId")) == NULL ||
	    g.folder[0] == '\0')
		g.folder = "root";
	if (!load_token(&g, config))
		goto out;
	if (!make_urls(&g)) {
		probe_fail(res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	/* Plain http is allowed (a test stub), but say so. */
	if (strncasecmp(g.api, "http://", 7) == 0)
		probe_warn(res, "the Google Drive API URL is plain http: the "
		    "access token and the data travel unencrypted");
	if (!check_folder(&g) || !check_write(&g, data, sizeof(data)))
		goto out;
	if (!check_read(&g, data, sizeof(data))) {
		check_delete(&g, false);
		goto out;
	}
	check_delete(&g, true);
out:
	if (g.auth != NULL) {
		sodium_memzero(g.auth, strlen(g.auth));
		free(g.auth);
	}
	curl_free(g.folder_esc);
	curl_free(g.file_esc);
	free(g.api);
}
