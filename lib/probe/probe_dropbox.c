/*
 * The Dropbox probe (destination type dropbox), through the Dropbox API v2
 * (https://www.dropbox.com/developers/documentation/http/documentation).
 *
 * The credentials are OAuth tokens from the OAuth flow (oauth.h); the
 * service refreshes an access token that is about to expire before the
 * probe runs, so the probe reads config "_oauth"."accessToken" only. RPC
 * endpoints live at the server-wide dropbox_api_url (default
 * https://api.dropboxapi.com), content endpoints at dropbox_content_url
 * (default https://content.dropboxapi.com):
 *
 *   POST {api}/2/users/get_current_account          connect, auth, account
 *   POST {api}/2/files/get_metadata {"path"}        target (a folder)
 *   POST {api}/2/users/get_space_usage              capacity
 *   POST {content}/2/files/upload   Dropbox-API-Arg write
 *   POST {content}/2/files/download Dropbox-API-Arg read back
 *   POST {api}/2/files/delete_v2 {"path"}           delete
 *
 * Content endpoints take their arguments as JSON in the Dropbox-API-Arg
 * header, with every non-ASCII character escaped ("Formats",
 * dropbox_header_json). Errors: 401 with an auth error document
 * (expired_access_token, invalid_access_token), 409 with an endpoint error
 * document whose ".tag" chain (path/not_found, path/insufficient_space,
 * path/no_write_permission) is read; the error_summary and any message are
 * never copied. The root folder has no metadata (get_metadata refuses
 * ""): it is taken as existing.
 *
 * Both users/ endpoints need the account_info.read scope. A grant without
 * it (an app whose permissions lacked it when the user authorized) gets
 * 401 missing_scope from get_current_account: Dropbox checked the token
 * before the scope, so auth passes, the test goes on without the account
 * and the capacity (get_space_usage is not asked), and a warning says how
 * to add the scope.
 *
 * Secrets: the access token is copied only into the Authorization header
 * line, wiped after use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bd_limits.h"
#include "probe_dropbox.h"
#include "probe_facts.h"
#include "wipe.h"

#define DB_PROTOCOLS "https,http"
#define DB_DEFAULT_API "https://api.dropboxapi.com"
#define DB_DEFAULT_CONTENT "https://content.dropboxapi.com"
#define DB_PATH_MAX (LIM_SHORT_MAX + 2)
#define DB_CODE_MAX (PROBE_CODE_MAX * 3)

struct db {
	const struct probe_env *env;
	struct probe_result *res;
	char *api, *content;    /* base URLs, no trailing '/' */
	char *auth;             /* "Authorization: Bearer <token>"; wiped */
	char folder[DB_PATH_MAX]; /* "" (root) or "/a/b" */
	char file[DB_PATH_MAX + 40]; /* folder + "/" + name */
	char *id;               /* the uploaded file's id ("id:...") */
	char name[32];
	char space[64];         /* " (x of y MiB free)" or "" */
	bool http;
	bool no_account_scope;  /* the grant lacks account_info.read */
};

/* ------------------------------------------------------------ helpers */

/* Append the UTF-8 sequence at s (n bytes) as \uXXXX escapes. */
static int
put_u(char *out, size_t cap, size_t *o, unsigned cp)
{
	int w;

	if (cp >= 0x10000) {
		cp -= 0x10000;
		w = snprintf(out + *o, cap - *o, "\\u%04x\\u%04x",
		    0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
	} else {
		w = snprintf(out + *o, cap - *o, "\\u%04x", cp);
	}
	if (w < 0 || (size_t)w >= cap - *o)
		return -1;
	*o += (size_t)w;
	return 0;
}

/* See probe_dropbox.h. */
char *
dropbox_header_json(const char *in)
{
	size_t n = strlen(in), cap = 12 * n + 1, o = 0, i = 0, k, len;
	const unsigned char *s = (const unsigned char *)in;
	char *out;
	unsigned cp;

	if ((out = malloc(cap)) == NULL)
		return NULL;
	while (i < n) {
		if (s[i] < 0x7f) {
			out[o++] = (char)s[i++];
			continue;
		}
		if (s[i] == 0x7f) {
			cp = 0x7f;
			len = 1;
		} else if ((s[i] & 0xe0) == 0xc0) {
			cp = s[i] & 0x1f;
			len = 2;
		} else if ((s[i] & 0xf0) == 0xe0) {
			cp = s[i] & 0x0f;
			len = 3;
		} else if ((s[i] & 0xf8) == 0xf0) {
			cp = s[i] & 0x07;
			len = 4;
		} else {
			goto bad;
		}
		if (i + len > n)
			goto bad;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF. */
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		if (put_u(out, cap, &o, cp) != 0)
			goto bad;
		i += len;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* Append "/code" (or "code" first) to out; false when code is not one. */
static bool
code_append(char out[DB_CODE_MAX], size_t *used, const char *seg, size_t n)
{
	char tok[PROBE_CODE_MAX], code[PROBE_CODE_MAX];
	int w;

	if (n == 0 || n >= sizeof(tok) || strspn(seg, ".") >= n)
		return false;
	memcpy(tok, seg, n);
	tok[n] = '\0';
	probe_code_copy(tok, code);
	if (code[0] == '\0')
		return false;
	w = snprintf(out + *used, DB_CODE_MAX - *used, "%s%s", *used ? "/" : "",
	    code);
	if (w < 0 || (size_t)w >= DB_CODE_MAX - *used) {
		out[*used] = '\0';
		return false;
	}
	*used += (size_t)w;
	return true;
}

/* See probe_dropbox.h. Dropbox's error_summary is the ".tag" chain of
 * the error joined by '/', ending in dots or a localised message
 * ("path/not_found/..", "path/no_write_permission/...") — the SDKs match
 * its prefix. Its code segments are kept, up to three, never what follows
 * them. Without one, the ".tag" chain of "error" is followed. */
void
dropbox_error_code(const char *body, size_t len, char out[DB_CODE_MAX])
{
	json_object *o, *e, *next;
	const char *sum, *p;
	size_t used = 0, n;
	int depth;

	out[0] = '\0';
	if ((o = probe_json_object(body, len)) == NULL)
		return;
	if ((sum = probe_json_string(o, "error_summary")) != NULL) {
		for (p = sum, depth = 0; depth < 3; depth++, p += n + 1) {
			n = strcspn(p, "/");
			if (!code_append(out, &used, p, n) || p[n] == '\0')
				break;
		}
		if (used > 0)
			goto out;
	}
	if (!json_object_object_get_ex(o, "error", &e) ||
	    !json_object_is_type(e, json_type_object))
		goto out;
	for (depth = 0; depth < 3 && e != NULL; depth++) {
		p = probe_json_string(e, ".tag");
		if (p == NULL || !code_append(out, &used, p, strlen(p)))
			break;
		/* The next level is the member named by the tag. */
		if (!json_object_object_get_ex(e, p, &next) ||
		    !json_object_is_type(next, json_type_object))
			break;
		e = next;
	}
out:
	json_object_put(o);
}

/* See probe_dropbox.h. */
bool
dropbox_folder(const char *folder, char *out, size_t outlen)
{
	size_t o = 0, n;
	const char *s = folder != NULL ? folder : "/";

	if (outlen < 1)
		return false;
	for (; *s != '\0'; s += n) {
		while (*s == '/')
			s++;
		if ((n = strcspn(s, "/")) == 0)
			break;
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' &&
		    s[1] == '.'))
			return false;
		if (o + n + 2 > outlen)
			return false;
		out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	out[o] = '\0';
	return true;
}

/* A JSON object {"path": p} (plus the upload's mode members when upload)
 * as text; malloc'd, NULL on OOM. */
static char *
path_arg(const char *p, bool upload)
{
	json_object *o = json_object_new_object();
	char *s = NULL;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "path", json_object_new_string(p));
	if (upload) {
		/* files/upload: "add" never overwrites; no notification. */
		json_object_object_add(o, "mode", json_object_new_string("add"));
		json_object_object_add(o, "autorename",
		    json_object_new_boolean(0));
		json_object_object_add(o, "mute", json_object_new_boolean(1));
	}
	s = dropbox_header_json(json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/*
 * One request: POST base+endpoint with the bearer token. `arg` (JSON) goes
 * in the body as application/json for an RPC endpoint, or in the
 * Dropbox-API-Arg header for a content endpoint (`content`), whose body is
 * data (application/octet-stream) or empty.
 */
static CURLcode
call(struct db *d, struct probe_xfer *x, bool content, const char *endpoint,
    const char *arg, const void *data, size_t len, long *status)
{
	char *url = probe_concat(content ? d->content : d->api, endpoint, NULL,
	    NULL);
	char *argline = NULL;
	const char *hdrs[] = { d->auth, NULL, NULL };
	struct probe_http_req rq = { "POST", url, hdrs, NULL, NULL, 0 };
	CURLcode cc = CURLE_OUT_OF_MEMORY;

	*status = 0;
	if (url == NULL)
		goto out;
	if (content) {
		if (arg != NULL) {
			if ((argline = probe_concat("Dropbox-API-Arg: ", arg,
			    NULL, NULL)) == NULL)
				goto out;
			hdrs[1] = argline;
		}
		if (data != NULL) {
			rq.ctype = "application/octet-stream";
			rq.data = data;
			rq.len = len;
		}
	} else if (arg != NULL) {
		rq.ctype = "application/json";
		rq.data = arg;
		rq.len = strlen(arg);
	}
	cc = probe_http_call(x, d->env, DB_PROTOCOLS, &rq, status);
out:
	free(argline);
	free(url);
	return cc;
}

/* "Dropbox answered HTTP 409 (path/malformed_path) while <what>". */
static void
unexpected(struct db *d, enum probe_check c, long status,
    const struct probe_xfer *x, const char *what)
{
	char code[DB_CODE_MAX], msg[PROBE_DETAIL_MAX];

	dropbox_error_code(x->body, x->len, code);
	snprintf(msg, sizeof(msg), "Dropbox answered HTTP %ld%s%s%s while %s",
	    status, code[0] ? " (" : "", code, code[0] ? ")" : "", what);
	probe_fail(d->res, c, "%s", msg);
}

/* Whether x's error code starts with prefix ("path/not_found"). */
static bool
error_is(const struct probe_xfer *x, const char *prefix)
{
	char code[DB_CODE_MAX];
	size_t n = strlen(prefix);

	dropbox_error_code(x->body, x->len, code);
	return strncmp(code, prefix, n) == 0 &&
	    (code[n] == '\0' || code[n] == '/');
}

/* ---------------------------------------------------------------- steps */

/* observed.account from a get_current_account answer (FullAccount):
 * email ("do not rely on this without checking email_verified": it is
 * shown, not trusted), else name.display_name. */
static void
account_facts(struct probe_result *res, const struct probe_xfer *x)
{
	json_object *o, *name = NULL;

	if ((o = probe_json_object(x->body, x->len)) == NULL)
		return;
	json_object_object_get_ex(o, "name", &name);
	probe_facts_account(res, probe_json_string(o, "email"),
	    probe_json_string(name, "display_name"));
	json_object_put(o);
}

/* connect and auth: users/get_current_account (and account_facts). */
static bool
check_account(struct db *d)
{
	struct probe_xfer x;
	char code[DB_CODE_MAX];
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((cc = call(d, &x, false, "/2/users/get_current_account", NULL,
	    NULL, 0, &status)) != CURLE_OK) {
		probe_fail_curl(d->res, &x, cc, CHECK_CONNECT,
		    "looking up the account");
		goto out;
	}
	probe_pass(d->res, CHECK_CONNECT, "reached the Dropbox API");
	if (status == 200) {
		probe_pass(d->res, CHECK_AUTH, "Dropbox accepted the access "
		    "token");
		account_facts(d->res, &x);
		ok = true;
	} else if (status == 401 && error_is(&x, "missing_scope")) {
		/* AuthError missing_scope: the token is valid. */
		probe_pass(d->res, CHECK_AUTH, "Dropbox accepted the access "
		    "token");
		probe_warn(d->res, "the authorization lacks the "
		    "account_info.read permission, so the account and its "
		    "space are not reported: add it to the app's permissions "
		    "and authorize again");
		d->no_account_scope = true;
		ok = true;
	} else if (status == 401 && error_is(&x, "expired_access_token")) {
		probe_fail(d->res, CHECK_AUTH, "Dropbox says the access token "
		    "has expired before the time it was issued for (is this "
		    "server's clock right?); if this persists, "
		    PROBE_OAUTH_AGAIN);
	} else if (status == 401) {
		probe_fail(d->res, CHECK_AUTH, "Dropbox refused the access "
		    "token (revoked, or the app was unlinked): "
		    PROBE_OAUTH_AGAIN);
	} else if (status == 403) {
		/* AccessError (a missing scope is 401 missing_scope, above):
		 * e.g. invalid_account_type, team_access_denied. */
		dropbox_error_code(x.body, x.len, code);
		probe_fail(d->res, CHECK_AUTH, "Dropbox does not let this "
		    "account use the API%s%s%s", code[0] ? " (" : "", code,
		    code[0] ? ")" : "");
	} else {
		unexpected(d, CHECK_AUTH, status, &x, "looking up the account");
	}
out:
	probe_xfer_cleanup(&x);
	return ok;
}

/* target: files/get_metadata of the folder ("" = the root, which has
 * none and always exists). */
static bool
check_folder(struct db *d)
{
	struct probe_xfer x;
	json_object *o = NULL;
	char *arg = NULL;
	const char *tag;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if (d->folder[0] == '\0')
		return true;
	if ((arg = path_arg(d->folder, false)) == NULL) {
		probe_fail(d->res, CHECK_TARGET, "out of memory");
		goto out;
	}
	if ((cc = call(d, &x, false, "/2/files/get_metadata", arg, NULL, 0,
	    &status)) != CURLE_OK) {
		probe_fail_curl_step(d->res, &x, cc, CHECK_TARGET,
		    "looking up the folder");
		goto out;
	}
	if (status == 200) {
		o = probe_json_object(x.body, x.len);
		tag = probe_json_string(o, ".tag");
		if (tag == NULL || strcmp(tag, "folder") != 0)
			probe_fail(d->res, CHECK_TARGET, "'%s' is a file, not a "
			    "folder", d->folder);
		else
			ok = true;
	} else if (status == 409 && error_is(&x, "path/not_found")) {
		probe_fail(d->res, CHECK_TARGET, "folder '%s' does not exist",
		    d->folder);
	} else if (status == 409 && error_is(&x, "path/restricted_content")) {
		probe_fail(d->res, CHECK_TARGET, "Dropbox restricts access to "
		    "folder '%s'", d->folder);
	} else {
		unexpected(d, CHECK_TARGET, status, &x, "looking up the folder");
	}
out:
	json_object_put(o);
	probe_xfer_cleanup(&x);
	free(arg);
	return ok;
}

/* See probe_dropbox.h. */
void
dropbox_space(json_object *o, int64_t *total, int64_t *used, int64_t *avail)
{
	json_object *alloc = NULL, *lt = NULL;
	const char *tag, *limit;
	int64_t mine, member, pool = -1;

	*total = *avail = -1;
	*used = mine = probe_facts_bytes(o, "used");
	if (o == NULL || !json_object_object_get_ex(o, "allocation", &alloc) ||
	    (tag = probe_json_string(alloc, ".tag")) == NULL)
		return;
	*total = probe_facts_bytes(alloc, "allocated");
	if (strcmp(tag, "individual") == 0) {
		if (*total >= 0 && mine >= 0)
			*avail = *total > mine ? *total - mine : 0;
		return;
	}
	if (strcmp(tag, "team") != 0) {
		*total = -1;
		return;
	}
	/* TeamSpaceAllocation: the team's pool ... */
	*used = probe_facts_bytes(alloc, "used");
	if (*total >= 0 && *used >= 0)
		pool = *avail = *total > *used ? *total - *used : 0;
	/* ... unless a limit of the member's own stops uploads
	 * (MemberSpaceLimitType: off, alert_only, stop_sync). */
	member = probe_facts_bytes(alloc, "user_within_team_space_allocated");
	json_object_object_get_ex(alloc, "user_within_team_space_limit_type",
	    &lt);
	limit = probe_json_string(lt, ".tag");
	if (member <= 0 || (limit != NULL && (strcmp(limit, "off") == 0 ||
	    strcmp(limit, "alert_only") == 0)))
		return;
	*total = member;
	*used = mine;
	*avail = -1;
	if (mine < 0)
		return;
	*avail = member > mine ? member - mine : 0;
	if (pool >= 0 && pool < *avail)
		*avail = pool;
}

/*
 * users/get_space_usage: TestResult.capacity (dropbox_space) and the
 * target detail's " (x of y MiB free)". Reading it never fails the test:
 * a failed or unreadable answer reports nothing.
 */
static void
space_usage(struct db *d)
{
	struct probe_xfer x;
	json_object *o = NULL;
	int64_t total, used, avail;
	long status;

	memset(&x, 0, sizeof(x));
	if (call(d, &x, false, "/2/users/get_space_usage", NULL, NULL, 0,
	    &status) != CURLE_OK || status != 200 ||
	    (o = probe_json_object(x.body, x.len)) == NULL)
		goto out;
	dropbox_space(o, &total, &used, &avail);
	if (total < 0 && used < 0)
		goto out;
	probe_capacity(d->res, d->env, total, used, avail);
	if (total > 0 && avail >= 0)
		snprintf(d->space, sizeof(d->space), " (%lld of %lld MiB free)",
		    (long long)(avail >> 20), (long long)(total >> 20));
out:
	json_object_put(o);
	probe_xfer_cleanup(&x);
}

/* write: files/upload (up to 150 MiB) in mode "add". Fills d->id. */
static bool
check_write(struct db *d, const unsigned char *data, size_t len)
{
	struct probe_xfer x;
	json_object *o = NULL;
	char *arg = NULL;
	const char *id;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((arg = path_arg(d->file, true)) == NULL) {
		probe_fail(d->res, CHECK_WRITE, "out of memory");
		goto out;
	}
	if ((cc = call(d, &x, true, "/2/files/upload", arg, data, len,
	    &status)) != CURLE_OK) {
		probe_fail_curl_step(d->res, &x, cc, CHECK_WRITE,
		    "uploading the probe file");
		goto out;
	}
	if (status == 200) {
		o = probe_json_object(x.body, x.len);
		id = probe_json_string(o, "id");
		if (id == NULL || !probe_visible(id, LIM_PROBE_ID_MAX) ||
		    (d->id = strdup(id)) == NULL) {
			probe_fail(d->res, CHECK_WRITE, "Dropbox's answer to the "
			    "upload holds no file id");
			goto out;
		}
		probe_pass(d->res, CHECK_WRITE, "uploaded a %zu-byte probe "
		    "file '%s'", len, d->name);
		ok = true;
	} else if (status == 409 && error_is(&x, "path/insufficient_space")) {
		probe_fail(d->res, CHECK_WRITE, "the Dropbox account is out of "
		    "space");
	} else if (status == 409 &&
	    error_is(&x, "path/no_write_permission")) {
		probe_fail(d->res, CHECK_WRITE, "the account may not write to "
		    "folder '%s'", d->folder[0] ? d->folder : "/");
	} else if (status == 409 && error_is(&x, "path/disallowed_name")) {
		probe_fail(d->res, CHECK_WRITE, "Dropbox does not allow the "
		    "probe file's name in folder '%s'", d->folder[0] ?
		    d->folder : "/");
	} else {
		unexpected(d, CHECK_WRITE, status, &x, "uploading the probe "
		    "file");
	}
out:
	json_object_put(o);
	probe_xfer_cleanup(&x);
	free(arg);
	return ok;
}

/* read: files/download by id; the body is the content. */
static bool
check_read(struct db *d, const unsigned char *data, size_t len)
{
	struct probe_xfer x;
	char *arg = NULL;
	CURLcode cc;
	long status;
	bool ok = false;

	memset(&x, 0, sizeof(x));
	if ((arg = path_arg(d->id, false)) == NULL) {
		probe_fail(d->res, CHECK_READ, "out of memory");
		goto out;
	}
	if ((cc = call(d, &x, true, "/2/files/download", arg, NULL, 0,
	    &status)) != CURLE_OK) {
		probe_fail_curl_step(d->res, &x, cc, CHECK_READ,
		    "downloading the probe file");
		goto out;
	}
	if (status == 200)
		ok = probe_read_back(d->res, &x, data, len);
	else if (status == 409 && error_is(&x, "path/not_found"))
		probe_fail(d->res, CHECK_READ, "the probe file was not found "
		    "right after it was uploaded");
	else
		unexpected(d, CHECK_READ, status, &x, "downloading the probe "
		    "file");
out:
	probe_xfer_cleanup(&x);
	free(arg);
	return ok;
}

/* delete: files/delete_v2 by id, recorded by probe_record_delete(): a
 * refusal keeps the file (warning); path_lookup/not_found means it is gone
 * already, as a 404 elsewhere. */
static void
check_delete(struct db *d, bool record)
{
	struct probe_xfer x;
	char *arg = NULL;
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	long status = 0;

	memset(&x, 0, sizeof(x));
	if ((arg = path_arg(d->id, false)) != NULL)
		cc = call(d, &x, false, "/2/files/delete_v2", arg, NULL, 0,
		    &status);
	if (cc == CURLE_OK && status == 409 &&
	    error_is(&x, "path_lookup/not_found"))
		status = 404;
	probe_record_delete(d->res, record, cc, status, d->name,
	    d->folder[0] ? d->folder : "/");
	probe_xfer_cleanup(&x);
	free(arg);
}

/*
 * See probe.h. connect (the API answered), auth (it accepted the token),
 * target (the folder), write / read / delete of a probe file in it.
 */
void
probe_dropbox(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	struct db d;
	unsigned char data[LIM_PROBE_BYTES];
	const struct cfg *c = env != NULL ? env->cfg : NULL;

	memset(&d, 0, sizeof(d));
	d.env = env;
	d.res = res;
	probe_object_name(d.name);
	randombytes_buf(data, sizeof(data));
	if ((d.auth = probe_oauth_bearer(res, config, LIM_DROPBOX_TOKEN_MAX)) == NULL)
		goto out;
	if ((d.api = probe_base_url(c != NULL ? c->dropbox_api_url : NULL,
	    DB_DEFAULT_API)) == NULL ||
	    (d.content = probe_base_url(c != NULL ? c->dropbox_content_url :
	    NULL, DB_DEFAULT_CONTENT)) == NULL) {
		probe_fail(res, CHECK_CONNECT, "out of memory");
		goto out;
	}
	if (!dropbox_folder(probe_json_string(config, "folderPath"), d.folder,
	    sizeof(d.folder))) {
		probe_fail(res, CHECK_TARGET, "folderPath may not contain '.' "
		    "or '..' segments");
		goto out;
	}
	snprintf(d.file, sizeof(d.file), "%s/%s", d.folder, d.name);
	d.http = probe_plain_http(d.api) || probe_plain_http(d.content);
	if (d.http)
		probe_warn(res, "a Dropbox API URL is plain http: the access "
		    "token and the data travel unencrypted");
	if (!check_account(&d) || !check_folder(&d))
		goto out;
	if (!d.no_account_scope)
		space_usage(&d);
	probe_pass(res, CHECK_TARGET, "folder '%s' exists%s", d.folder[0] ?
	    d.folder : "/", d.space);
	if (!check_write(&d, data, sizeof(data)))
		goto out;
	if (!check_read(&d, data, sizeof(data))) {
		check_delete(&d, false);
		goto out;
	}
	check_delete(&d, true);
out:
	wipe_str_free(d.auth);
	free(d.api);
	free(d.content);
	free(d.id);
}
