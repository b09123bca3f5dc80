/*
 * The OneDrive probe (destination type onedrive), through Microsoft Graph.
 *
 * The credentials are OAuth tokens from the OAuth flow (oauth.h). The
 * service refreshes an access token that is about to expire before a probe
 * runs, so the probe only reads config "_oauth"."accessToken" and sends it as
 * a bearer token to Graph at the server-wide microsoft_graph_url (default
 * https://graph.microsoft.com/v1.0). {drive} is /drives/{driveId} when the
 * config names a drive, else /me/drive (Graph "Get Drive"):
 *
 *   GET    {drive}                                       auth (the drive)
 *   GET    {drive}/root  or  {drive}/root:/{path}         target (a folder)
 *   PUT    {drive}/root:/{path}/{name}:/content           write (simple upload)
 *   GET    {drive}/items/{id}/content   -> 302 Location    read
 *   GET    <Location>  (pre-authenticated, no Authorization header)
 *   DELETE {drive}/items/{id}                             delete
 *
 * The drive resource answered for auth also carries what the test reports
 * beyond its checks, at no extra request: quota (capacity) and owner
 * (observed.account); see drive_facts().
 *
 * Graph answers a content download with 302 to a short-lived,
 * pre-authenticated URL ("Download the contents of a DriveItem"). Redirects
 * stay off in probe_curl(); the probe follows that one redirect itself with
 * a fresh transfer (same egress policy, protocols and limits) and without
 * the bearer token, which must not travel to the download host.
 *
 * Secrets: the access token is copied only into the Authorization header
 * line, wiped after use; the download URL is a credential too and is wiped.
 * Neither reaches a detail or a log line. Graph's error documents are read
 * for their short code only ({"error": {"code": "itemNotFound"}}), never
 * their message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bd_limits.h"
#include "probe_facts.h"
#include "probe_http.h"
#include "wipe.h"
#include "url.h"

#define OD_PROTOCOLS "https,http"
#define OD_DEFAULT_GRAPH "https://graph.microsoft.com/v1.0"

struct od {
	const struct probe_env *env;
	struct probe_result *res;
	const char *drive_id;   /* config driveId or NULL (borrowed) */
	char *drive;            /* graph URL + "/me/drive" or "/drives/{id}" */
	char *path;             /* the folder: "/" or "/a/b" (normalised) */
	char *path_esc;         /* "" or "/a/b", each segment encoded */
	char *auth;             /* "Authorization: Bearer <token>"; wiped */
	char *item_esc;         /* the uploaded probe object's id, encoded */
	char name[32];          /* the probe object's name */
	bool http;              /* the Graph URL is plain http */
	bool dots;              /* folderPath has a "." or ".." segment */
};

/*
 * The error code of a Graph error document ({"error": {"code": ...,
 * "message": ...}}, Graph "Error responses") in x's answer, through
 * probe_code_copy(); "" otherwise.
 */
static void
api_code(const struct probe_xfer *x, char out[PROBE_CODE_MAX])
{
	json_object *o, *err;

	out[0] = '\0';
	if ((o = probe_json_object(x->body, x->len)) == NULL)
		return;
	if (json_object_object_get_ex(o, "error", &err) &&
	    json_object_is_type(err, json_type_object))
		probe_code_copy(probe_json_string(err, "code"), out);
	json_object_put(o);
}

/* ------------------------------------------------------------ transfers */

/*
 * One request: method on url, with the bearer token when `auth`, sending
 * `data` as application/octet-stream when not NULL. See probe_http_call().
 */
static CURLcode
call(struct od *d, struct probe_xfer *x, const char *method, const char *url,
    bool auth, const void *data, size_t len, long *status)
{
	const char *hdrs[] = { "Accept: application/json",
		auth ? d->auth : NULL, NULL };
	struct probe_http_req rq = { method, url, hdrs,
		"application/octet-stream", data, len };

	return probe_http_call(x, d->env, OD_PROTOCOLS, &rq, status);
}

/* "OneDrive answered HTTP 500 (generalException) while <what>". */
static void
unexpected(struct od *d, enum probe_check c, long status,
    const struct probe_xfer *x, const char *what)
{
	char code[PROBE_CODE_MAX];

	api_code(x, code);
	probe_fail_answer(d->res, c, "OneDrive", status, code, what);
}

/* ---------------------------------------------------------------- steps */

/*
 * The numbers of drive.quota (Graph "quota resource type": total, used,
 * remaining, deleted, state, all Int64): total, used (the recycle bin's
 * `deleted` is part of it) and remaining, which is what can still be
 * written (total - used when Graph leaves it out); -1 where a number is
 * missing.
 */
static void
drive_quota(json_object *drive, int64_t *total, int64_t *used,
    int64_t *avail)
{
	json_object *q = NULL;

	if (drive != NULL)
		json_object_object_get_ex(drive, "quota", &q);
	*total = probe_facts_bytes(q, "total");
	*used = probe_facts_bytes(q, "used");
	*avail = probe_facts_bytes(q, "remaining");
	if (*avail < 0 && *total >= 0 && *used >= 0)
		*avail = *total > *used ? *total - *used : 0;
}

/*
 * Capacity and observed.account from the drive resource (Graph "drive
 * resource type"). The account is drive.owner.user: its `email` where
 * Graph sends one (OneDrive for Business does; the documented identity
 * resource has only displayName and id), else its displayName. With
 * Files.ReadWrite the drive is always the signed-in user's own (a
 * configured driveId too), so its owner is the account; an owner that is
 * a group or an application is not shown. No quota (or an unreadable
 * answer) reports nothing and never fails the test.
 */
static void
drive_facts(struct od *d, const struct probe_xfer *x)
{
	json_object *o, *owner, *user;
	int64_t total, used, avail;

	if ((o = probe_json_object(x->body, x->len)) == NULL)
		return;
	if (json_object_object_get_ex(o, "owner", &owner) &&
	    json_object_object_get_ex(owner, "user", &user))
		probe_facts_account(d->res, probe_json_string(user, "email"),
		    probe_json_string(user, "displayName"));
	drive_quota(o, &total, &used, &avail);
	if (total >= 0 || used >= 0 || avail >= 0)
		probe_capacity(d->res, d->env, total, used, avail);
	json_object_put(o);
}

/* connect and auth: GET the drive (and its facts, drive_facts()).
 * Returns false after a failure. */
static bool
check_drive(struct od *d)
{
	struct probe_xfer x;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((cc = call(d, &x, "GET", d->drive, true, NULL, 0, &status)) !=
	    CURLE_OK) {
		probe_fail_curl(d->res, &x, cc, CHECK_CONNECT,
		    "looking up the drive");
		goto out;
	}
	probe_pass(d->res, CHECK_CONNECT, "reached Microsoft Graph");
	switch (status) {
	case 200:
		probe_pass(d->res, CHECK_AUTH, "Microsoft Graph accepted the "
		    "access token");
		drive_facts(d, &x);
		ok = true;
		break;
	case 401:
		probe_fail(d->res, CHECK_AUTH, "Microsoft Graph refused the "
		    "access token (revoked, expired or for another account): "
		    PROBE_OAUTH_AGAIN);
		break;
	case 403:
		probe_fail(d->res, CHECK_AUTH, "the authorization does not "
		    "include access to the drive: " PROBE_OAUTH_AGAIN);
		break;
	case 404:
		probe_pass(d->res, CHECK_AUTH, "Microsoft Graph accepted the "
		    "access token");
		if (d->drive_id != NULL)
			probe_fail(d->res, CHECK_TARGET, "drive '%s' does not "
			    "exist or the account may not use it", d->drive_id);
		else
			probe_fail(d->res, CHECK_TARGET, "the account has no "
			    "OneDrive (it may not be licensed or set up yet)");
		break;
	default:
		unexpected(d, CHECK_AUTH, status, &x, "looking up the drive");
		break;
	}
out:
	probe_xfer_cleanup(&x);
	return ok;
}

/* target: the folder exists and has the "folder" facet. */
static bool
check_folder(struct od *d)
{
	struct probe_xfer x;
	json_object *o = NULL, *v;
	char *url = NULL, code[PROBE_CODE_MAX];
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	/* "/root" for the drive's root, "/root:/a/b" for a path (Graph
	 * "Addressing resources in a drive": path-based addressing). */
	if ((url = probe_concat(d->drive, d->path_esc[0] != '\0' ? "/root:" :
	    "/root", d->path_esc, NULL)) == NULL) {
		probe_fail(d->res, CHECK_TARGET, "out of memory");
		goto out;
	}
	if ((cc = call(d, &x, "GET", url, true, NULL, 0, &status)) !=
	    CURLE_OK) {
		probe_fail_curl_step(d->res, &x, cc, CHECK_TARGET,
		    "looking up the folder");
		goto out;
	}
	switch (status) {
	case 200:
		o = probe_json_object(x.body, x.len);
		if (o == NULL || !json_object_object_get_ex(o, "folder", &v) ||
		    !json_object_is_type(v, json_type_object)) {
			probe_fail(d->res, CHECK_TARGET, "'%s' is a file, "
			    "not a folder", d->path);
			break;
		}
		probe_pass(d->res, CHECK_TARGET, "folder '%s' exists", d->path);
		ok = true;
		break;
	case 404:
		probe_fail(d->res, CHECK_TARGET, "folder '%s' does not exist",
		    d->path);
		break;
	case 401:
	case 403:
		api_code(&x, code);
		probe_fail(d->res, CHECK_TARGET, "access to folder '%s' was "
		    "refused%s%s%s", d->path, code[0] ? " (" : "", code,
		    code[0] ? ")" : "");
		break;
	default:
		unexpected(d, CHECK_TARGET, status, &x,
		    "looking up the folder");
		break;
	}
out:
	json_object_put(o);
	probe_xfer_cleanup(&x);
	free(url);
	return ok;
}

/* write: a simple upload (Graph "Upload small files": PUT .../content,
 * up to 250 MB). Fills d->item_esc. */
static bool
check_write(struct od *d, const unsigned char *data, size_t len)
{
	struct probe_xfer x;
	char *base = NULL, *url = NULL, code[PROBE_CODE_MAX];
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((base = probe_concat(d->drive, "/root:", d->path_esc, "/")) ==
	    NULL ||
	    (url = probe_concat(base, d->name, ":/content", NULL)) == NULL) {
		probe_fail(d->res, CHECK_WRITE, "out of memory");
		goto out;
	}
	if ((cc = call(d, &x, "PUT", url, true, data, len, &status)) !=
	    CURLE_OK) {
		probe_fail_curl_step(d->res, &x, cc, CHECK_WRITE,
		    "uploading the probe object");
		goto out;
	}
	switch (status) {
	case 200:
	case 201:
		ok = probe_record_upload(d->res, &x, LIM_PROBE_ID_MAX, len, d->name,
		    "OneDrive's answer to the upload holds no item id",
		    &d->item_esc);
		break;
	case 403:
		probe_fail(d->res, CHECK_WRITE, "the account may not create "
		    "files in folder '%s'", d->path);
		break;
	case 507:
		probe_fail(d->res, CHECK_WRITE, "the drive is full");
		break;
	default:
		api_code(&x, code);
		if (strcmp(code, "quotaLimitReached") == 0)
			probe_fail(d->res, CHECK_WRITE, "the drive is full");
		else
			unexpected(d, CHECK_WRITE, status, &x, "uploading the "
			    "probe object");
		break;
	}
out:
	probe_xfer_cleanup(&x);
	free(base);
	free(url);
	return ok;
}

/*
 * read: GET .../content. Graph answers 302 to a pre-authenticated URL;
 * follow exactly that one redirect with a fresh transfer and no bearer
 * token. A 200 with the content (some deployments) is accepted as is.
 */
static bool
check_read(struct od *d, const unsigned char *data, size_t len)
{
	struct probe_xfer x, y;
	char *url = NULL, *loc = NULL;
	const char *l = NULL;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	memset(&y, 0, sizeof(y));
	if ((url = probe_concat(d->drive, "/items/", d->item_esc,
	    "/content")) == NULL) {
		probe_fail(d->res, CHECK_READ, "out of memory");
		goto out;
	}
	if ((cc = call(d, &x, "GET", url, true, NULL, 0, &status)) !=
	    CURLE_OK) {
		probe_fail_curl_step(d->res, &x, cc, CHECK_READ,
		    "reading the probe object back");
		goto out;
	}
	if (status == 200) {
		ok = probe_read_back(d->res, &x, data, len);
		goto out;
	}
	if (status != 302 && status != 301 && status != 303 &&
	    status != 307) {
		if (status == 404)
			probe_fail(d->res, CHECK_READ, "the probe object was "
			    "not found right after it was uploaded");
		else
			unexpected(d, CHECK_READ, status, &x,
			    "reading the probe object back");
		goto out;
	}
	/* CURLINFO_REDIRECT_URL: the absolute URL of Location, resolved
	 * against the request URL, even with redirects off. A URL a remote
	 * hands over passes the service's URL rule (url.h) like any other. */
	if (curl_easy_getinfo(x.h, CURLINFO_REDIRECT_URL, &l) != CURLE_OK ||
	    l == NULL || url_parse(l, URL_QUERY, NULL) != URL_OK ||
	    (loc = strdup(l)) == NULL) {
		probe_fail(d->res, CHECK_READ, "OneDrive answered a redirect "
		    "without a usable download URL");
		goto out;
	}
	if (!d->http && probe_plain_http(loc))
		probe_warn(d->res, "OneDrive's download URL is plain http: the "
		    "data travels unencrypted");
	if ((cc = call(d, &y, "GET", loc, false, NULL, 0, &status)) !=
	    CURLE_OK) {
		probe_fail_curl_step(d->res, &y, cc, CHECK_READ, "downloading "
		    "the probe object from OneDrive's download URL");
		goto out;
	}
	if (status == 200)
		ok = probe_read_back(d->res, &y, data, len);
	else
		probe_fail(d->res, CHECK_READ, "OneDrive's download URL "
		    "answered HTTP %ld", status);
out:
	probe_xfer_cleanup(&x);
	probe_xfer_cleanup(&y);
	wipe_str_free(loc);
	free(url);
	return ok;
}

/*
 * delete: DELETE the item. A refusal keeps it and is a warning, not a
 * failure. `record` false: cleanup after a failed read.
 */
static void
check_delete(struct od *d, bool record)
{
	struct probe_xfer x;
	char *url = NULL;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	long status = 0;

	memset(&x, 0, sizeof(x));
	if ((url = probe_concat(d->drive, "/items/", d->item_esc, NULL)) !=
	    NULL)
		cc = call(d, &x, "DELETE", url, true, NULL, 0, &status);
	probe_record_delete(d->res, record, cc, status, d->name, d->path);
	probe_xfer_cleanup(&x);
	free(url);
}

/* -------------------------------------------------------------- config */

/*
 * d->drive, d->path and d->path_esc from the config. folderPath (default
 * "/") is split on '/', empty segments dropped; each segment is
 * percent-encoded on its own (Graph path-based addressing keeps '/').
 * False when out of memory.
 */
static bool
make_urls(struct od *d, const char *folder)
{
	size_t cap, plen = 0, elen = 0, n;
	char *g, *esc;
	const char *s;
	bool ok = false;

	if ((g = probe_base_url(d->env != NULL && d->env->cfg != NULL ?
	    d->env->cfg->microsoft_graph_url : NULL, OD_DEFAULT_GRAPH)) == NULL)
		goto out;
	d->http = probe_plain_http(g);
	if (d->drive_id != NULL) {
		if ((esc = curl_easy_escape(NULL, d->drive_id, 0)) == NULL)
			goto out;
		d->drive = probe_concat(g, "/drives/", esc, NULL);
		curl_free(esc);
	} else {
		d->drive = probe_concat(g, "/me/drive", NULL, NULL);
	}
	if (d->drive == NULL)
		goto out;
	if (folder == NULL)
		folder = "/";
	/* A segment's byte grows to at most 3 when encoded, and each
	 * segment gains one '/': at most 4 bytes per input byte. */
	cap = 4 * strlen(folder) + 2;
	if ((d->path = malloc(strlen(folder) + 2)) == NULL ||
	    (d->path_esc = malloc(cap)) == NULL)
		goto out;
	for (s = folder; *s != '\0'; s += n) {
		while (*s == '/')
			s++;
		if ((n = strcspn(s, "/")) == 0)
			break;
		/* curl would squash dot segments out of the URL's path. */
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' &&
		    s[1] == '.'))
			d->dots = true;
		d->path[plen++] = '/';
		memcpy(d->path + plen, s, n);
		plen += n;
		if ((esc = curl_easy_escape(NULL, s, (int)n)) == NULL)
			goto out;
		elen += (size_t)snprintf(d->path_esc + elen, cap - elen, "/%s",
		    esc);
		curl_free(esc);
	}
	if (plen == 0)
		d->path[plen++] = '/';
	d->path[plen] = '\0';
	d->path_esc[elen] = '\0';
	ok = true;
out:
	free(g);
	return ok;
}

/*
 * See probe.h. connect (Graph answered), auth (it accepted the token and
 * the drive exists), target (the folder), write / read / delete of a probe
 * object in it.
 */
void
probe_onedrive(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct od d;
	unsigned char data[LIM_PROBE_BYTES];

	memset(&d, 0, sizeof(d));
	d.env = env;
	d.res = res;
	probe_object_name(d.name);
	randombytes_buf(data, sizeof(data));
	d.drive_id = probe_json_nonempty(config, "driveId");
	if ((d.auth = probe_oauth_bearer(res, config, LIM_MICROSOFT_TOKEN_MAX)) == NULL)
		goto out;
	if (!make_urls(&d, probe_json_string(config, "folderPath"))) {
		probe_fail(res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	if (d.dots) {
		probe_fail(res, CHECK_TARGET, "folderPath may not contain '.' "
		    "or '..' segments");
		goto out;
	}
	/* Plain http is allowed (a test stub), but say so. */
	if (d.http)
		probe_warn(res, "the Microsoft Graph URL is plain http: the "
		    "access token and the data travel unencrypted");
	if (!check_drive(&d) || !check_folder(&d) ||
	    !check_write(&d, data, sizeof(data)))
		goto out;
	if (!check_read(&d, data, sizeof(data))) {
		check_delete(&d, false);
		goto out;
	}
	check_delete(&d, true);
out:
	wipe_str_free(d.auth);
	curl_free(d.item_esc);
	free(d.drive);
	free(d.path);
	free(d.path_esc);
}
