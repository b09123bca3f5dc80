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
#include <strings.h>

#include <sodium.h>

#include "bd_limits.h"
#include "oauth.h"
#include "probe.h"

#define OD_PROTOCOLS "https,http"
#define OD_DEFAULT_GRAPH "https://graph.microsoft.com/v1.0"
#define OD_PROBE_BYTES 64
/* Microsoft's access tokens are JWTs of a few kB; some slack. */
#define OD_TOKEN_MAX 8192
/* Drive item ids are short; anything longer is not one. */
#define OD_ID_MAX 256
/* An error code worth naming in a detail: short, no prose. */
#define OD_CODE_MAX 40
#define OD_JSON_DEPTH 16
#define OD_AGAIN "authorize again with POST /backup-destinations/{id}/oauth"

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

/* ---------------------------------------------------------------- JSON */

/* Parse a remote body; NULL when it is not one JSON object. */
static json_object *
parse_object(const char *body, size_t len)
{
	json_tokener *tok;
	json_object *o = NULL;

	if (body == NULL || len == 0 || len > (size_t)LIM_PROBE_MAX_RESPONSE)
		return NULL;
	if ((tok = json_tokener_new_ex(OD_JSON_DEPTH)) == NULL)
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
 * The error code of a Graph error document ({"error": {"code": ...,
 * "message": ...}}, Graph "Error responses"), copied into out[OD_CODE_MAX]
 * when it is a short [A-Za-z0-9._-] token; "" otherwise.
 */
static void
api_code(const struct probe_xfer *x, char out[OD_CODE_MAX])
{
	json_object *o, *err;
	const char *s = NULL;
	size_t n;

	out[0] = '\0';
	if ((o = parse_object(x->body, x->len)) == NULL)
		return;
	if (json_object_object_get_ex(o, "error", &err) &&
	    json_object_is_type(err, json_type_object))
		s = member_string(err, "code");
	if (s != NULL) {
		n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
		if (n > 0 && s[n] == '\0' && n < OD_CODE_MAX)
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

/* Wipe and free a malloc'd secret string. */
static void
wipe_free(char *s)
{
	if (s != NULL) {
		sodium_memzero(s, strlen(s));
		free(s);
	}
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
 * One request: method on url, with the bearer token when `auth`, sending
 * `data` as application/octet-stream when not NULL. On CURLE_OK *status is
 * the HTTP status and x holds the answer; the caller cleans up x in every
 * case.
 */
static CURLcode
call(struct od *d, struct probe_xfer *x, const char *method, const char *url,
    bool auth, const void *data, size_t len, long *status)
{
	struct curl_slist *hdrs = NULL, *t;
	CURLcode cc = CURLE_OUT_OF_MEMORY;

	*status = 0;
	if (probe_curl(x, d->env, OD_PROTOCOLS) != BD_OK)
		goto out;
	if ((hdrs = curl_slist_append(NULL, "Accept: application/json")) ==
	    NULL)
		goto out;
	if (auth) {
		if ((t = curl_slist_append(hdrs, d->auth)) == NULL)
			goto out;
		hdrs = t;
	}
	if (data != NULL) {
		if ((t = curl_slist_append(hdrs,
		    "Content-Type: application/octet-stream")) == NULL)
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
xfer_failed(struct od *d, const struct probe_xfer *x, CURLcode cc,
    enum probe_check step, const char *what)
{
	struct probe_result tmp;

	memset(&tmp, 0, sizeof(tmp));
	tmp.ok = true;
	tmp.failed = -1;
	probe_fail_curl(&tmp, x, cc, step, what);
	probe_fail(d->res, step, "%s", tmp.nchecks > 0 ?
	    tmp.checks[0].detail : "the transfer failed");
}

/* "OneDrive answered HTTP 500 (generalException) while <what>". */
static void
unexpected(struct od *d, enum probe_check c, long status,
    const struct probe_xfer *x, const char *what)
{
	char code[OD_CODE_MAX];

	api_code(x, code);
	if (code[0] != '\0')
		probe_fail(d->res, c, "OneDrive answered HTTP %ld (%s) while "
		    "%s", status, code, what);
	else
		probe_fail(d->res, c, "OneDrive answered HTTP %ld while %s",
		    status, what);
}

/* ---------------------------------------------------------------- steps */

/* connect and auth: GET the drive. Returns false after a failure. */
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
		ok = true;
		break;
	case 401:
		probe_fail(d->res, CHECK_AUTH, "Microsoft Graph refused the "
		    "access token (revoked, expired or for another account): "
		    OD_AGAIN);
		break;
	case 403:
		probe_fail(d->res, CHECK_AUTH, "the authorization does not "
		    "include access to the drive: " OD_AGAIN);
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
	char *url = NULL, code[OD_CODE_MAX];
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	/* "/root" for the drive's root, "/root:/a/b" for a path (Graph
	 * "Addressing resources in a drive": path-based addressing). */
	if ((url = join4(d->drive, d->path_esc[0] != '\0' ? "/root:" : "/root",
	    d->path_esc, NULL)) == NULL) {
		probe_fail(d->res, CHECK_TARGET, "out of memory");
		goto out;
	}
	if ((cc = call(d, &x, "GET", url, true, NULL, 0, &status)) !=
	    CURLE_OK) {
		xfer_failed(d, &x, cc, CHECK_TARGET, "looking up the folder");
		goto out;
	}
	switch (status) {
	case 200:
		o = parse_object(x.body, x.len);
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
	json_object *o = NULL;
	char *base = NULL, *url = NULL, code[OD_CODE_MAX];
	const char *id;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((base = join4(d->drive, "/root:", d->path_esc, "/")) == NULL ||
	    (url = join4(base, d->name, ":/content", NULL)) == NULL) {
		probe_fail(d->res, CHECK_WRITE, "out of memory");
		goto out;
	}
	if ((cc = call(d, &x, "PUT", url, true, data, len, &status)) !=
	    CURLE_OK) {
		xfer_failed(d, &x, cc, CHECK_WRITE,
		    "uploading the probe object");
		goto out;
	}
	switch (status) {
	case 200:
	case 201:
		o = parse_object(x.body, x.len);
		if (!visible(id = member_string(o, "id"), OD_ID_MAX) ||
		    (d->item_esc = curl_easy_escape(x.h, id, 0)) == NULL) {
			probe_fail(d->res, CHECK_WRITE, "OneDrive's answer "
			    "to the upload holds no item id");
			break;
		}
		probe_pass(d->res, CHECK_WRITE, "uploaded a %d-byte probe "
		    "object '%s'", OD_PROBE_BYTES, d->name);
		ok = true;
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
	json_object_put(o);
	probe_xfer_cleanup(&x);
	free(base);
	free(url);
	return ok;
}

/* Compare what came back; record read. */
static bool
compare(struct od *d, const struct probe_xfer *x, const unsigned char *data,
    size_t len)
{
	if (x->len != len || memcmp(x->body, data, len) != 0) {
		probe_fail(d->res, CHECK_READ, "the probe object read back "
		    "differs from what was written");
		return false;
	}
	probe_pass(d->res, CHECK_READ, "read the probe object back intact");
	return true;
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
	if ((url = join4(d->drive, "/items/", d->item_esc, "/content")) ==
	    NULL) {
		probe_fail(d->res, CHECK_READ, "out of memory");
		goto out;
	}
	if ((cc = call(d, &x, "GET", url, true, NULL, 0, &status)) !=
	    CURLE_OK) {
		xfer_failed(d, &x, cc, CHECK_READ, "reading the probe object "
		    "back");
		goto out;
	}
	if (status == 200) {
		ok = compare(d, &x, data, len);
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
	 * against the request URL, even with redirects off. */
	if (curl_easy_getinfo(x.h, CURLINFO_REDIRECT_URL, &l) != CURLE_OK ||
	    l == NULL || (loc = strdup(l)) == NULL) {
		probe_fail(d->res, CHECK_READ, "OneDrive answered a redirect "
		    "without a download URL");
		goto out;
	}
	if (!d->http && strncasecmp(loc, "http://", 7) == 0)
		probe_warn(d->res, "OneDrive's download URL is plain http: the "
		    "data travels unencrypted");
	if ((cc = call(d, &y, "GET", loc, false, NULL, 0, &status)) !=
	    CURLE_OK) {
		xfer_failed(d, &y, cc, CHECK_READ, "downloading the probe "
		    "object from OneDrive's download URL");
		goto out;
	}
	if (status == 200)
		ok = compare(d, &y, data, len);
	else
		probe_fail(d->res, CHECK_READ, "OneDrive's download URL "
		    "answered HTTP %ld", status);
out:
	probe_xfer_cleanup(&x);
	probe_xfer_cleanup(&y);
	wipe_free(loc);
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
	bool gone;

	memset(&x, 0, sizeof(x));
	if ((url = join4(d->drive, "/items/", d->item_esc, NULL)) != NULL)
		cc = call(d, &x, "DELETE", url, true, NULL, 0, &status);
	gone = cc == CURLE_OK && (status == 204 || status == 200 ||
	    status == 404);
	if (!gone)
		probe_warn(d->res, "the probe object '%s' in folder '%s' could "
		    "not be deleted; remove it by hand", d->name, d->path);
	if (record && gone)
		probe_pass(d->res, CHECK_DELETE, status == 404 ? "the probe "
		    "object was already gone" : "deleted the probe object");
	else if (record)
		probe_pass(d->res, CHECK_DELETE, "the probe object was kept: "
		    "deleting it failed");
	probe_xfer_cleanup(&x);
	free(url);
}

/* -------------------------------------------------------------- config */

/* d->auth from config "_oauth"."accessToken"; false after a failure. */
static bool
load_token(struct od *d, json_object *config)
{
	json_object *o = NULL;
	const char *tok;

	if (!json_object_object_get_ex(config, OAUTH_CONFIG_MEMBER, &o) ||
	    (tok = member_string(o, "accessToken")) == NULL) {
		probe_fail(d->res, CHECK_AUTH, "not authorized yet: start the "
		    "OAuth flow with POST /backup-destinations/{id}/oauth");
		return false;
	}
	if (!visible(tok, OD_TOKEN_MAX)) {
		probe_fail(d->res, CHECK_AUTH, "the stored access token is "
		    "unusable: " OD_AGAIN);
		return false;
	}
	if ((d->auth = join4("Authorization: Bearer ", tok, NULL, NULL)) ==
	    NULL) {
		probe_fail(d->res, CHECK_CONNECT, "out of memory");
		return false;
	}
	return true;
}

/*
 * d->drive, d->path and d->path_esc from the config. folderPath (default
 * "/") is split on '/', empty segments dropped; each segment is
 * percent-encoded on its own (Graph path-based addressing keeps '/').
 * False when out of memory.
 */
static bool
make_urls(struct od *d, const char *folder)
{
	const char *graph = d->env != NULL && d->env->cfg != NULL &&
	    d->env->cfg->microsoft_graph_url != NULL ?
	    d->env->cfg->microsoft_graph_url : OD_DEFAULT_GRAPH;
	size_t glen = strlen(graph), cap, plen = 0, elen = 0, n;
	char *g = NULL, *esc;
	const char *s;
	bool ok = false;

	while (glen > 0 && graph[glen - 1] == '/')
		glen--;
	d->http = strncasecmp(graph, "http://", 7) == 0;
	if ((g = malloc(glen + 1)) == NULL)
		goto out;
	memcpy(g, graph, glen);
	g[glen] = '\0';
	if (d->drive_id != NULL) {
		if ((esc = curl_easy_escape(NULL, d->drive_id, 0)) == NULL)
			goto out;
		d->drive = join4(g, "/drives/", esc, NULL);
		curl_free(esc);
	} else {
		d->drive = join4(g, "/me/drive", NULL, NULL);
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
	unsigned char data[OD_PROBE_BYTES];

	memset(&d, 0, sizeof(d));
	d.env = env;
	d.res = res;
	probe_object_name(d.name);
	randombytes_buf(data, sizeof(data));
	d.drive_id = member_string(config, "driveId");
	if (d.drive_id != NULL && d.drive_id[0] == '\0')
		d.drive_id = NULL;
	if (!load_token(&d, config))
		goto out;
	if (!make_urls(&d, member_string(config, "folderPath"))) {
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
	wipe_free(d.auth);
	curl_free(d.item_esc);
	free(d.drive);
	free(d.path);
	free(d.path_esc);
}
