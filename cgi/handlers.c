/*
 * The HTTP handlers and the route table. Each handler reads like the API it
 * serves: parse -> authorize (done by app_handle from the route's role) ->
 * validate -> act -> respond.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "clock.h"
#include "app.h"
#include "dtype.h"
#include "log.h"
#include "oauth.h"
#include "probe/probe.h"
#include "router.h"
#include "store.h"
#include "uuid.h"

static void h_list(struct app *, struct request *, struct response *);
static void h_create(struct app *, struct request *, struct response *);
static void h_get(struct app *, struct request *, struct response *);
static void h_update(struct app *, struct request *, struct response *);
static void h_delete(struct app *, struct request *, struct response *);
static void h_test(struct app *, struct request *, struct response *);
static void h_oauth_start(struct app *, struct request *, struct response *);
static void h_oauth_callback(struct app *, struct request *,
    struct response *);

static enum bd_err oauth_fresh(struct app *, const struct request *,
    const char *, const char *, json_object **, unsigned long *, bool *,
    bool *, bool *);

static const struct route routes[] = {
	{"GET", "/backup-destinations", h_list, ROLE_VIEWER,
	    "destinations.list"},
	{"POST", "/backup-destinations", h_create, ROLE_ADMIN,
	    "destinations.create"},
	{"GET", "/backup-destinations/oauth/callback", h_oauth_callback,
	    ROLE_NONE, "oauth.callback"},
	{"GET", "/backup-destinations/{id}", h_get, ROLE_VIEWER,
	    "destinations.get"},
	{"PUT", "/backup-destinations/{id}", h_update, ROLE_ADMIN,
	    "destinations.update"},
	{"DELETE", "/backup-destinations/{id}", h_delete, ROLE_ADMIN,
	    "destinations.delete"},
	{"POST", "/backup-destinations/{id}/oauth", h_oauth_start, ROLE_ADMIN,
	    "oauth.start"},
	{"POST", "/backup-destinations/{id}/test", h_test, ROLE_MEMBER,
	    "destinations.test"},
};

/* Answer a problem for an internal error (DB down, crypto, ...). */
static void
fail(struct response *resp, const struct request *req, enum bd_err e)
{
	const char *detail = NULL;

	switch (e) {
	case BD_ERR_DB_DOWN:
		detail = "the database is unavailable; try again shortly";
		break;
	case BD_ERR_NOT_FOUND:
		detail = "no such backup destination";
		break;
	case BD_ERR_PRECONDITION:
		detail = "the destination was modified; fetch it again";
		break;
	default:
		detail = "an internal error occurred; see the service log";
		break;
	}
	resp_problem(resp, req, e, "%s", detail);
	if (e == BD_ERR_DB_DOWN)
		resp_header(resp, "Retry-After", "5");
}

static void
audit(struct app *app, const struct request *req, const char *action,
    const char *dest_id, const char *outcome, const char *detail)
{
	struct audit_entry a = {
		.org = req->who.org, .actor = req->who.sub, .action = action,
		.destination_id = dest_id, .request_id = req->request_id,
		.remote_addr = req->remote_addr, .outcome = outcome,
		.detail = detail,
	};
	enum bd_err rc = store_audit(app->db, &a);

	if (rc != BD_OK)
		log_msg(LOG_ERROR, "audit write failed for %s: %s", action,
		    err_name(rc));
}

/*
 * Release a JSON value that held secrets (a decrypted config, a request
 * body): every string in it is zeroed first. Only at the last use: shared
 * sub-objects (json_object_get) are wiped too.
 */
static void
json_wipe_put(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_string:
		sodium_memzero((char *)json_object_get_string(o),
		    (size_t)json_object_get_string_len(o));
		break;
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			json_wipe_put(json_object_get(v));
		}
		break;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			json_wipe_put(json_object_get(
			    json_object_array_get_idx(o, i)));
		break;
	default:
		break;
	}
	json_object_put(o);
}

/* Decrypt and parse a row's config. *out is a new reference. */
static enum bd_err
open_config(struct app *app, const struct dest *d, json_object **out)
{
	char *plain = NULL;
	size_t len = 0;
	enum bd_err rc;

	*out = NULL;
	rc = vault_open(app->vault, d->org, d->id, d->blob, d->bloblen, &plain,
	    &len);
	if (rc != BD_OK) {
		log_msg(LOG_ERROR, "destination %s: config does not decrypt "
		    "(key %s)", d->id, d->key_id ? d->key_id : "?");
		return rc;
	}
	*out = json_tokener_parse(plain);
	vault_wipe_free(plain, len);
	if (*out == NULL || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		return BD_ERR_CRYPTO;
	}
	return BD_OK;
}

/* Seal a config object for (org, id). *blob malloc'd. */
static enum bd_err
seal_config(struct app *app, const char *org, const char *id,
    json_object *config, unsigned char **blob, size_t *len)
{
	size_t n = 0;
	const char *s = json_object_to_json_string_length(config,
	    JSON_C_TO_STRING_PLAIN, &n);
	enum bd_err rc;

	rc = vault_seal(app->vault, org, id, s, n, blob, len);
	/* json-c keeps the serialisation in the object: wipe it. */
	sodium_memzero((void *)s, n);
	return rc;
}

/* The contract's Destination for a row; config shown redacted. */
static json_object *
dest_json(struct app *app, const struct dest *d)
{
	const struct dtype *t = dtype_find(d->type);
	json_object *o = json_object_new_object(), *cfg = NULL, *last = NULL;

	json_object_object_add(o, "id", json_object_new_string(d->id));
	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "destinationType",
	    json_object_new_string(d->type));
	if (t != NULL && open_config(app, d, &cfg) == BD_OK) {
		json_object_object_add(o, "config", dtype_redact(t, cfg));
		json_wipe_put(cfg);
	} else {
		json_object_object_add(o, "config", json_object_new_object());
	}
	json_object_object_add(o, "status", json_object_new_string(d->status));
	if (d->last_test_json != NULL)
		last = json_tokener_parse(d->last_test_json);
	json_object_object_add(o, "lastTest", last);
	json_object_object_add(o, "activeScheduleCount",
	    json_object_new_int64(d->active_schedules));
	json_object_object_add(o, "createdAt",
	    json_object_new_string(d->created_at));
	json_object_object_add(o, "updatedAt",
	    json_object_new_string(d->updated_at));
	return o;
}

/* Answer 200/201 with the stored row (re-read so timestamps are the DB's). */
static void
respond_dest(struct app *app, struct request *req, struct response *resp,
    const char *id, int status)
{
	struct dbres r;
	struct dest d;
	enum bd_err rc;

	if ((rc = store_dest_get(app->db, req->who.org, id, &r)) != BD_OK) {
		fail(resp, req, rc);
		return;
	}
	store_dest_from_row(&r, 0, &d);
	resp_json(resp, status, dest_json(app, &d));
	resp_header(resp, "ETag", "\"%lu\"", d.version);
	if (status == 201)
		resp_header(resp, "Location", "/backup-destinations/%s", d.id);
	dbres_free(&r);
}

/* Body checks shared by create and update: 413, 415, then 400 for a body
 * that is not one JSON object. *body is a new reference on success. */
static bool
read_body(struct app *app, struct request *req, struct response *resp,
    json_object **body)
{
	const char *why = NULL;
	enum bd_err rc;

	*body = NULL;
	if (!req_is_json(req)) {
		resp_problem(resp, req, BD_ERR_MEDIA_TYPE,
		    "send the body as application/json");
		return false;
	}
	if (req->body_too_large) {
		resp_problem(resp, req, BD_ERR_TOO_LARGE,
		    "the body exceeds %ld bytes", app->cfg.max_body);
		return false;
	}
	if ((rc = req_parse_json(req, body, &why)) != BD_OK) {
		resp_problem(resp, req, rc, "%s", why);
		return false;
	}
	if (!json_object_is_type(*body, json_type_object)) {
		resp_problem(resp, req, BD_ERR_BAD_REQUEST,
		    "the body must be a JSON object");
		json_object_put(*body);
		*body = NULL;
		return false;
	}
	return true;
}

/* 422 listing every invalid field, or fills *in (borrowing from body). */
static bool
validate(struct request *req, struct response *resp, json_object *body,
    bool placeholders, struct dest_input *in)
{
	struct verrs errs;
	json_object *p;

	memset(&errs, 0, sizeof(errs));
	if (dtype_validate_input(body, placeholders, in, &errs) == BD_OK)
		return true;
	p = resp_problem(resp, req, BD_ERR_INVALID, "%zu field%s invalid",
	    errs.n, errs.n == 1 ? " is" : "s are");
	json_object_object_add(p, "errors", verrs_json(&errs));
	return false;
}

static void
invalid_one(struct response *resp, const struct request *req,
    const char *pointer, const char *msg)
{
	struct verrs errs;
	json_object *p;

	memset(&errs, 0, sizeof(errs));
	verrs_add(&errs, pointer, "%s", msg);
	p = resp_problem(resp, req, BD_ERR_INVALID, "%s", msg);
	json_object_object_add(p, "errors", verrs_json(&errs));
}

/* Whether this server can create/test the type at all; 422 if not. */
static bool
type_available(struct app *app, const struct request *req,
    struct response *resp, const struct dtype *t)
{
	char msg[160];

	if (strcmp(t->name, "local") == 0 &&
	    (app->cfg.local_roots == NULL || app->cfg.local_roots[0] == '\0')) {
		invalid_one(resp, req, "/destinationType",
		    "local destinations are disabled on this server "
		    "(no local_roots configured)");
		return false;
	}
	if (!t->oauth && t->probe == NULL) {
		snprintf(msg, sizeof(msg), "destinations of type '%s' cannot "
		    "be tested by this server yet, so they cannot be saved",
		    t->name);
		invalid_one(resp, req, "/destinationType", msg);
		return false;
	}
	return true;
}

/* 409 for a name already used in the org (audited as a conflict). */
static void
name_taken(struct app *app, const struct request *req, struct response *resp,
    const char *name, const char *self)
{
	audit(app, req, self ? "destination.update" : "destination.create",
	    self, "conflict", "name already used");
	resp_problem(resp, req, BD_ERR_CONFLICT,
	    "a destination named '%s' already exists", name);
}

/* 409 when another destination of the org already has this name. */
static bool
name_free(struct app *app, const struct request *req, struct response *resp,
    const char *name, const char *self)
{
	char owner[UUID_STR_LEN + 1];
	enum bd_err rc = store_name_owner(app->db, req->who.org, name, owner);

	if (rc == BD_ERR_NOT_FOUND ||
	    (rc == BD_OK && self != NULL && strcmp(owner, self) == 0))
		return true;
	if (rc == BD_OK)
		name_taken(app, req, resp, name, self);
	else
		fail(resp, req, rc);
	return false;
}

static void
probe_env(struct app *app, struct probe_env *env)
{
	env->cfg = &app->cfg;
	env->egress = &app->egress;
	env->deadline_ms = 0;   /* probe_run starts the probe's clock */
}

/* 422 for a failed connection test, naming the failed check. */
static void
test_failed(struct response *resp, const struct request *req,
    const struct probe_result *res)
{
	const char *name = res->failed >= 0 ?
	    probe_check_name((enum probe_check)res->failed) : "connect";
	const char *detail = "the connection test failed";
	json_object *p, *tr;

	for (int i = 0; i < res->nchecks; i++)
		if (!res->checks[i].ok && res->checks[i].detail[0] != '\0')
			detail = res->checks[i].detail;
	p = resp_problem(resp, req, BD_ERR_TEST_FAILED, "%s check failed: %s",
	    name, detail);
	json_object_object_add(p, "failedCheck", json_object_new_string(name));
	tr = probe_result_json(res);
	json_object_object_add(p, "checks",
	    json_object_get(json_object_object_get(tr, "checks")));
	json_object_object_add(p, "lastTest", tr);
}

/* Merge a probe's config_update (e.g. a host key pinned on first use). */
static void
merge_update(json_object *config, const struct probe_result *res)
{
	if (res->config_update == NULL)
		return;
	json_object_object_foreach(res->config_update, k, v)
	    json_object_object_add(config, k, json_object_get(v));
}

/* Remove internal members ("_..."), e.g. before copying fresher ones. */
static void
drop_internal(json_object *config)
{
	bool again = true;

	/* Deleting while iterating is not allowed: one member per pass. */
	while (again) {
		again = false;
		json_object_object_foreach(config, k, v) {
			(void)v;
			if (k[0] == '_') {
				json_object_object_del(config, k);
				again = true;
				break;
			}
		}
	}
}

/* Copy internal members ("_..." such as OAuth tokens) from stored config. */
static void
keep_internal(json_object *config, json_object *stored)
{
	json_object_object_foreach(stored, k, v)
		if (k[0] == '_')
			json_object_object_add(config, k, json_object_get(v));
}

/* The "probe" of an OAuth destination that was never authorized. */
static void
probe_unauthorized(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	probe_fail(res, CHECK_AUTH, "not authorized yet: start the OAuth flow "
	    "with POST /backup-destinations/{id}/oauth");
}

static void
probe_revoked(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	probe_fail(res, CHECK_AUTH, "the provider revoked the authorization "
	    "or it expired: authorize again with POST "
	    "/backup-destinations/{id}/oauth");
}

static void
probe_no_token(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	probe_fail(res, CHECK_CONNECT, "the provider's token endpoint could "
	    "not be reached to refresh the access token");
}

static void
probe_client_refused(const struct probe_env *env, json_object *config,
    struct probe_result *res)
{
	probe_fail(res, CHECK_AUTH, "the provider refused the OAuth client "
	    "credentials while refreshing the access token: check clientId "
	    "and clientSecret (or the server's OAuth client settings)");
}

static void
h_list(struct app *app, struct request *req, struct response *resp)
{
	bool dup = false;
	char *type = req_query_param(req->query, "destinationType", &dup);
	struct dbres r;
	json_object *arr;
	enum bd_err rc;

	memset(&r, 0, sizeof(r));
	if (dup || (type != NULL && dtype_find(type) == NULL)) {
		resp_problem(resp, req, BD_ERR_BAD_REQUEST,
		    dup ? "destinationType given more than once" :
		    "destinationType is not a known destination type");
		goto out;
	}
	if ((rc = store_dest_list(app->db, req->who.org, type, &r)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	arr = json_object_new_array_ext((int)r.nrows);
	for (size_t i = 0; i < r.nrows; i++) {
		struct dest d;
		store_dest_from_row(&r, i, &d);
		json_object_array_add(arr, dest_json(app, &d));
	}
	resp_json(resp, 200, arr);
out:
	dbres_free(&r);
	free(type);
}

static void
h_get(struct app *app, struct request *req, struct response *resp)
{
	if (!uuid_valid(req->id)) {
		fail(resp, req, BD_ERR_NOT_FOUND);
		return;
	}
	respond_dest(app, req, resp, req->id, 200);
}

static void
h_create(struct app *app, struct request *req, struct response *resp)
{
	json_object *body = NULL, *tr = NULL;
	struct dest_input in;
	struct probe_result res;
	struct probe_env env;
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	char id[UUID_STR_LEN + 1], at[32];
	const char *last = NULL;
	enum bd_err rc;

	memset(&res, 0, sizeof(res));
	if (!read_body(app, req, resp, &body))
		return;
	if (!validate(req, resp, body, false, &in))
		goto out;
	if (!type_available(app, req, resp, in.type) ||
	    !name_free(app, req, resp, in.name, NULL))
		goto out;
	uuid_v7(id);
	struct dest_write w = {
		.id = id, .org = req->who.org, .name = in.name,
		.type = in.type->name, .last_test_ok = -1,
		.status = in.type->oauth ? "pending_authorization" : "active",
	};
	if (!in.type->oauth) {
		probe_env(app, &env);
		probe_run(in.type->probe, &env, in.config, &res);
		if (!res.ok) {
			audit(app, req, "destination.create", NULL, "failure",
			    "connection test failed");
			test_failed(resp, req, &res);
			goto out;
		}
		merge_update(in.config, &res);
		tr = probe_result_json(&res);
		last = json_object_to_json_string_ext(tr,
		    JSON_C_TO_STRING_PLAIN);
		store_format_ms(res.tested_at_ms, at);
		w.last_test_at = at;
		w.last_test_ok = 1;
	}
	if ((rc = seal_config(app, req->who.org, id, in.config, &blob,
	    &bloblen)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	w.blob = blob;
	w.bloblen = bloblen;
	w.key_id = vault_current_key_id(app->vault);
	w.last_test_json = last;
	if ((rc = store_dest_insert(app->db, &w)) != BD_OK) {
		if (rc == BD_ERR_CONFLICT)
			name_taken(app, req, resp, in.name, NULL);
		else
			fail(resp, req, rc);
		goto out;
	}
	audit(app, req, "destination.create", id, "success", NULL);
	respond_dest(app, req, resp, id, 201);
out:
	free(blob);
	probe_result_clear(&res);
	json_object_put(tr);
	json_wipe_put(body);
}

/*
 * If-Match (RFC 9110 §13.1.1): "*" or a list of entity tags. Returns BD_OK
 * when absent or matching, BD_ERR_PRECONDITION when no tag matches, and
 * BD_ERR_BAD_REQUEST when the header is not a list of quoted tags. Weak
 * tags are compared weakly (our tags are all strong, "W/" is ignored).
 */
static enum bd_err
if_match(const char *h, unsigned long version)
{
	char want[32];
	bool any = false, match = false;
	const char *p = h;

	if (h == NULL)
		return BD_OK;
	snprintf(want, sizeof(want), "\"%lu\"", version);
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		if (*p == '*') {
			match = true;
			p++;
		} else {
			if (strncmp(p, "W/", 2) == 0)
				p += 2;
			if (*p != '"')
				return BD_ERR_BAD_REQUEST;
			const char *e = strchr(p + 1, '"');
			if (e == NULL)
				return BD_ERR_BAD_REQUEST;
			size_t n = (size_t)(e - p) + 1;
			if (n == strlen(want) && strncmp(p, want, n) == 0)
				match = true;
			p = e + 1;
		}
		any = true;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0' && *p != ',')
			return BD_ERR_BAD_REQUEST;
	}
	if (!any)
		return BD_ERR_BAD_REQUEST;
	return match ? BD_OK : BD_ERR_PRECONDITION;
}

/*
 * The last-test columns of a row whose lastTest is kept as it is (an OAuth
 * destination updated without a test): "ok" and "testedAt" from its JSON.
 * at receives "YYYY-MM-DD HH:MM:SS.mmm".
 */
static void
keep_last_test(const struct dest *d, struct dest_write *w, char at[32])
{
	json_object *o, *v;
	const char *ts;

	w->last_test_json = d->last_test_json;
	w->last_test_ok = -1;
	w->last_test_at = NULL;
	if (d->last_test_json == NULL ||
	    (o = json_tokener_parse(d->last_test_json)) == NULL)
		return;
	if (json_object_object_get_ex(o, "ok", &v))
		w->last_test_ok = json_object_get_boolean(v) ? 1 : 0;
	if (json_object_object_get_ex(o, "testedAt", &v) &&
	    (ts = json_object_get_string(v)) != NULL && strlen(ts) == 24) {
		memcpy(at, ts, 23);         /* drop the "Z" */
		at[10] = ' ';
		at[23] = '\0';
		w->last_test_at = at;
	}
	json_object_put(o);
}

/*
 * A PUT of an OAuth destination found its row changed under the lock: take
 * the tokens ("_" members), status and last test from the row as it is now,
 * and seal again. r2 keeps the row alive for w. False on failure.
 */
static bool
carry_oauth(struct app *app, const char *org, const char *id,
    json_object *config, struct dest_write *w, struct dbres *r2,
    unsigned char **blob, size_t *bloblen, char at[32])
{
	struct dest d;
	json_object *now = NULL;
	bool ok = false;

	if (store_dest_get(app->db, org, id, r2) != BD_OK)
		return false;
	store_dest_from_row(r2, 0, &d);
	if (strcmp(d.type, w->type) != 0 || open_config(app, &d, &now) != BD_OK)
		goto out;
	drop_internal(config);
	keep_internal(config, now);
	w->status = d.status;
	keep_last_test(&d, w, at);
	free(*blob);
	*blob = NULL;
	if (seal_config(app, org, id, config, blob, bloblen) != BD_OK)
		goto out;
	w->blob = *blob;
	w->bloblen = *bloblen;
	ok = true;
out:
	json_wipe_put(now);
	return ok;
}

static void
h_update(struct app *app, struct request *req, struct response *resp)
{
	json_object *body = NULL, *stored = NULL, *tr = NULL;
	struct dest_input in;
	struct probe_result res;
	struct probe_env env;
	struct dbres r, r2;
	struct dest cur;
	struct verrs errs;
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	unsigned long locked = 0;
	char at[32];
	bool same_type, in_tx = false;
	enum bd_err rc;

	memset(&res, 0, sizeof(res));
	memset(&r, 0, sizeof(r));
	memset(&r2, 0, sizeof(r2));
	memset(&errs, 0, sizeof(errs));
	if (if_match(req->if_match, 0) == BD_ERR_BAD_REQUEST) {
		resp_problem(resp, req, BD_ERR_BAD_REQUEST,
		    "If-Match must be \"*\" or a list of quoted entity tags");
		return;
	}
	if (!read_body(app, req, resp, &body))
		return;
	if (!uuid_valid(req->id)) {
		fail(resp, req, BD_ERR_NOT_FOUND);
		goto out;
	}
	if ((rc = store_dest_get(app->db, req->who.org, req->id, &r)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	store_dest_from_row(&r, 0, &cur);
	if ((rc = if_match(req->if_match, cur.version)) != BD_OK) {
		resp_problem(resp, req, rc, "If-Match does not match the "
		    "current ETag \"%lu\"", cur.version);
		goto out;
	}
	if (!validate(req, resp, body, true, &in))
		goto out;
	if ((rc = open_config(app, &cur, &stored)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	same_type = strcmp(cur.type, in.type->name) == 0;
	/* "********" keeps a stored secret only within the same type. */
	rc = dtype_merge_placeholders(in.type, in.config, same_type ? stored :
	    NULL, &errs);
	if (rc != BD_OK) {
		json_object *p = resp_problem(resp, req, BD_ERR_INVALID,
		    same_type ? "a secret sent as \"********\" has no stored "
		    "value to keep" : "\"********\" cannot keep a secret when "
		    "destinationType changes; send the secret itself");
		json_object_object_add(p, "errors", verrs_json(&errs));
		goto out;
	}
	if (!type_available(app, req, resp, in.type) ||
	    !name_free(app, req, resp, in.name, cur.id))
		goto out;
	struct dest_write w = {
		.id = cur.id, .org = req->who.org, .name = in.name,
		.type = in.type->name, .last_test_ok = -1,
	};
	if (in.type->oauth) {
		/* No test: tokens come only from the OAuth flow. */
		if (same_type) {
			keep_internal(in.config, stored);
			w.status = cur.status;
			keep_last_test(&cur, &w, at);
		} else {
			w.status = "pending_authorization";
		}
	} else {
		probe_env(app, &env);
		probe_run(in.type->probe, &env, in.config, &res);
		if (!res.ok) {
			audit(app, req, "destination.update", cur.id, "failure",
			    "connection test failed");
			test_failed(resp, req, &res);
			goto out;
		}
		merge_update(in.config, &res);
		tr = probe_result_json(&res);
		w.last_test_json = json_object_to_json_string_ext(tr,
		    JSON_C_TO_STRING_PLAIN);
		store_format_ms(res.tested_at_ms, at);
		w.last_test_at = at;
		w.last_test_ok = 1;
		w.status = "active";
	}
	if ((rc = seal_config(app, req->who.org, cur.id, in.config, &blob,
	    &bloblen)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	w.blob = blob;
	w.bloblen = bloblen;
	w.key_id = vault_current_key_id(app->vault);
	/* The test ran unlocked; the write happens only if nobody else
	 * changed the row meanwhile (one winner among concurrent PUTs). */
	if ((rc = db_begin(app->db)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	in_tx = true;
	if ((rc = store_dest_lock(app->db, req->who.org, cur.id, &locked)) !=
	    BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	/* If-Match is checked again against the row as locked (one winner
	 * among concurrent PUTs with the same ETag); without it the last
	 * writer wins. An OAuth destination's tokens and status are taken
	 * from the locked row: a callback or refresh may have just changed
	 * them. */
	if (req->if_match != NULL && if_match(req->if_match, locked) != BD_OK)
		rc = BD_ERR_PRECONDITION;
	else if (locked != cur.version && in.type->oauth && same_type &&
	    !carry_oauth(app, req->who.org, cur.id, in.config, &w, &r2, &blob,
	    &bloblen, at))
		rc = BD_ERR_INTERNAL;
	else
		rc = store_dest_update(app->db, &w, locked);
	if (rc != BD_OK) {
		db_rollback(app->db);   /* before the audit row, which stays */
		in_tx = false;
		if (rc == BD_ERR_CONFLICT)
			name_taken(app, req, resp, in.name, cur.id);
		else
			fail(resp, req, rc);
		goto out;
	}
	audit(app, req, "destination.update", cur.id, "success", NULL);
	if ((rc = db_commit(app->db)) != BD_OK) {
		in_tx = false;
		fail(resp, req, rc);
		goto out;
	}
	in_tx = false;
	respond_dest(app, req, resp, cur.id, 200);
out:
	if (in_tx)
		db_rollback(app->db);
	free(blob);
	probe_result_clear(&res);
	json_object_put(tr);
	json_wipe_put(stored);
	json_wipe_put(body);
	dbres_free(&r);
	dbres_free(&r2);
}

static void
h_delete(struct app *app, struct request *req, struct response *resp)
{
	struct dbres s;
	unsigned long version = 0;
	json_object *ids = NULL, *o;
	enum bd_err rc;
	bool in_tx = false;

	memset(&s, 0, sizeof(s));
	if (!uuid_valid(req->id)) {
		fail(resp, req, BD_ERR_NOT_FOUND);
		return;
	}
	if ((rc = db_begin(app->db)) != BD_OK) {
		fail(resp, req, rc);
		return;
	}
	in_tx = true;
	if ((rc = store_dest_lock(app->db, req->who.org, req->id, &version)) !=
	    BD_OK ||
	    (rc = store_sched_lock(app->db, req->who.org, req->id, &s)) !=
	    BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	ids = json_object_new_array();
	for (size_t i = 0; i < s.nrows; i++)
		if (DBRES_VAL(&s, i, 1) != NULL &&
		    strcmp(DBRES_VAL(&s, i, 1), "0") != 0)
			json_object_array_add(ids,
			    json_object_new_string(DBRES_VAL(&s, i, 0)));
	if (json_object_array_length(ids) > 0) {
		db_rollback(app->db);
		in_tx = false;
		audit(app, req, "destination.delete", req->id, "conflict",
		    "referenced by active schedules");
		o = resp_problem(resp, req, BD_ERR_CONFLICT, "the destination is "
		    "used by %zu active backup schedule%s",
		    json_object_array_length(ids),
		    json_object_array_length(ids) == 1 ? "" : "s");
		json_object_object_add(o, "activeScheduleIds", ids);
		ids = NULL;
		goto out;
	}
	if ((rc = store_sched_detach(app->db, req->who.org, req->id)) != BD_OK ||
	    (rc = store_dest_delete(app->db, req->who.org, req->id)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	audit(app, req, "destination.delete", req->id, "success", NULL);
	rc = db_commit(app->db);
	in_tx = false;
	if (rc != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(req->id));
	json_object_object_add(o, "deleted", json_object_new_boolean(1));
	resp_json(resp, 200, o);
out:
	if (in_tx)
		db_rollback(app->db);
	json_object_put(ids);
	dbres_free(&s);
}

static void
h_test(struct app *app, struct request *req, struct response *resp)
{
	struct dbres r;
	struct dest cur;
	struct probe_result res;
	struct probe_env env;
	json_object *config = NULL, *tr = NULL;
	const struct dtype *t;
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	unsigned long locked = 0;
	char at[32];
	const char *status;
	bool in_tx = false, revoked = false, unreachable = false;
	bool client_refused = false;
	enum bd_err rc;

	memset(&res, 0, sizeof(res));
	memset(&r, 0, sizeof(r));
	if (!uuid_valid(req->id)) {
		fail(resp, req, BD_ERR_NOT_FOUND);
		return;
	}
	if ((rc = store_dest_get(app->db, req->who.org, req->id, &r)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	store_dest_from_row(&r, 0, &cur);
	if ((t = dtype_find(cur.type)) == NULL ||
	    (rc = open_config(app, &cur, &config)) != BD_OK) {
		fail(resp, req, t == NULL ? BD_ERR_INTERNAL : rc);
		goto out;
	}
	probe_env(app, &env);
	if (t->oauth && strcmp(cur.status, "pending_authorization") != 0 &&
	    (rc = oauth_fresh(app, req, cur.id, t->name, &config,
	    &cur.version, &revoked, &unreachable, &client_refused)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	if (revoked)
		cur.status = "pending_authorization";
	probe_run(revoked ? probe_revoked : unreachable ? probe_no_token :
	    client_refused ? probe_client_refused :
	    t->oauth && strcmp(cur.status, "pending_authorization") == 0 ?
	    probe_unauthorized : t->probe, &env, config, &res);
	merge_update(config, &res);
	status = res.ok ? "active" :
	    strcmp(cur.status, "pending_authorization") == 0 ?
	    "pending_authorization" : "error";
	tr = probe_result_json(&res);
	store_format_ms(res.tested_at_ms, at);
	if ((rc = seal_config(app, cur.org, cur.id, config, &blob, &bloblen)) !=
	    BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	struct dest_write w = {
		.id = cur.id, .org = req->who.org, .status = status,
		.blob = blob, .bloblen = bloblen,
		.key_id = vault_current_key_id(app->vault),
		.last_test_at = at, .last_test_ok = res.ok ? 1 : 0,
		.last_test_json = json_object_to_json_string_ext(tr,
		    JSON_C_TO_STRING_PLAIN),
	};
	if ((rc = db_begin(app->db)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	in_tx = true;
	if ((rc = store_dest_lock(app->db, req->who.org, cur.id, &locked)) !=
	    BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	/* A concurrent PUT changed the config while the probe ran: this
	 * outcome describes a config that is gone (the PUT recorded its own
	 * test), so it is answered but not recorded. */
	if (locked != cur.version) {
		db_rollback(app->db);
		in_tx = false;
		audit(app, req, "destination.test", cur.id,
		    res.ok ? "success" : "failure",
		    "outcome not recorded: the destination changed meanwhile");
		goto answer;
	}
	if ((rc = store_dest_set_test(app->db, &w)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	audit(app, req, "destination.test", cur.id,
	    res.ok ? "success" : "failure", NULL);
	rc = db_commit(app->db);
	in_tx = false;
	if (rc != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
answer:
	if (res.ok)
		resp_json(resp, 200, json_object_get(tr));
	else
		test_failed(resp, req, &res);
out:
	if (in_tx)
		db_rollback(app->db);
	free(blob);
	probe_result_clear(&res);
	json_object_put(tr);
	json_wipe_put(config);
	dbres_free(&r);
}

/* ---- OAuth (issue "Google Drive and OneDrive through OAuth") ---- */

/* 302 to the settings page with the outcome; never anywhere else. */
static void
oauth_redirect(struct app *app, struct response *resp, const char *dest_id,
    const char *reason)
{
	const char *base = app->cfg.settings_url;
	const char *sep = strchr(base, '?') ? "&" : "?";

	resp->status = 302;
	if (reason == NULL)
		resp_header(resp, "Location", "%s%sdestinationId=%s&oauth=connected",
		    base, sep, dest_id);
	else if (dest_id != NULL)
		resp_header(resp, "Location", "%s%sdestinationId=%s&oauth=error"
		    "&reason=%s", base, sep, dest_id, reason);
	else
		resp_header(resp, "Location", "%s%soauth=error&reason=%s", base,
		    sep, reason);
	resp_header(resp, "Referrer-Policy", "no-referrer");
	resp->raw = strdup("");
}

static void
h_oauth_start(struct app *app, struct request *req, struct response *resp)
{
	struct dbres r;
	struct dest cur;
	struct oauth_client cl;
	json_object *config = NULL, *o;
	unsigned char hash[crypto_hash_sha256_BYTES], *blob = NULL;
	size_t bloblen = 0;
	char nonce[64], verifier[64], challenge[64], state[160], expires[32];
	char *url = NULL;
	int provider;
	enum bd_err rc;

	memset(&r, 0, sizeof(r));
	if (!uuid_valid(req->id)) {
		fail(resp, req, BD_ERR_NOT_FOUND);
		return;
	}
	if ((rc = store_dest_get(app->db, req->who.org, req->id, &r)) != BD_OK) {
		fail(resp, req, rc);
		return;
	}
	store_dest_from_row(&r, 0, &cur);
	if ((provider = oauth_provider_of(cur.type)) < 0) {
		invalid_one(resp, req, "/destinationType", "OAuth applies to "
		    "google_drive and onedrive destinations only");
		goto out;
	}
	if (app->cfg.oauth_redirect_uri == NULL || app->cfg.settings_url == NULL) {
		invalid_one(resp, req, "/destinationType", "this server has no "
		    "OAuth redirect URI or settings page configured");
		goto out;
	}
	if ((rc = open_config(app, &cur, &config)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	oauth_client_of(&app->cfg, (enum oauth_provider)provider, config, &cl);
	if (cl.id == NULL) {
		invalid_one(resp, req, "/config/clientId", "no OAuth client is "
		    "configured for this provider on this server; set clientId "
		    "and clientSecret on the destination");
		goto out;
	}
	/* state = {id}:{provider}:{nonce}; only sha256(nonce) is stored, the
	 * PKCE verifier is sealed for this destination (RFC 7636 §4.1). */
	oauth_nonce(nonce);
	oauth_pkce(verifier, challenge);
	snprintf(state, sizeof(state), "%s:%s:%s", cur.id, cur.type, nonce);
	crypto_hash_sha256(hash, (const unsigned char *)nonce, strlen(nonce));
	if ((rc = vault_seal(app->vault, cur.org, cur.id, verifier,
	    strlen(verifier), &blob, &bloblen)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	store_oauth_state_purge(app->db);
	struct oauth_state_row st = {
		.nonce_hash = hash, .org = cur.org, .destination_id = cur.id,
		.provider = cur.type, .actor = req->who.sub,
		.key_id = vault_current_key_id(app->vault),
		.verifier_blob = blob, .verifier_bloblen = bloblen,
		.ttl = LIM_OAUTH_STATE_TTL,
	};
	if ((rc = store_oauth_state_insert(app->db, &st)) != BD_OK) {
		fail(resp, req, rc);
		goto out;
	}
	if ((url = oauth_authorization_url(&app->cfg,
	    (enum oauth_provider)provider, &cl, state, challenge)) == NULL) {
		fail(resp, req, BD_ERR_NOMEM);
		goto out;
	}
	store_format_ms(clock_real_ms() + LIM_OAUTH_STATE_TTL * 1000LL,
	    expires);
	expires[10] = 'T';       /* RFC 3339: "YYYY-MM-DDTHH:MM:SS.mmmZ" */
	expires[23] = 'Z';
	expires[24] = '\0';
	audit(app, req, "oauth.start", cur.id, "success", NULL);
	o = json_object_new_object();
	json_object_object_add(o, "authorizationUrl",
	    json_object_new_string(url));
	json_object_object_add(o, "state", json_object_new_string(state));
	json_object_object_add(o, "expiresAt", json_object_new_string(expires));
	resp_json(resp, 200, o);
out:
	sodium_memzero(verifier, sizeof(verifier));
	free(url);
	free(blob);
	json_wipe_put(config);
	dbres_free(&r);
}

/* Split "{id}:{provider}:{nonce}"; false when it is not of that shape. */
static bool
parse_state(const char *s, char id[UUID_STR_LEN + 1], char provider[32],
    char nonce[64])
{
	const char *a, *b;

	if (s == NULL || (a = strchr(s, ':')) == NULL ||
	    (b = strchr(a + 1, ':')) == NULL || strchr(b + 1, ':') != NULL)
		return false;
	if ((size_t)(a - s) != UUID_STR_LEN || (size_t)(b - a - 1) >= 32 ||
	    strlen(b + 1) != 43)
		return false;
	memcpy(id, s, UUID_STR_LEN);
	id[UUID_STR_LEN] = '\0';
	memcpy(provider, a + 1, (size_t)(b - a - 1));
	provider[b - a - 1] = '\0';
	memcpy(nonce, b + 1, 44);
	for (const char *p = nonce; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_'))
			return false;
	return uuid_valid(id) && oauth_provider_of(provider) >= 0;
}

/* Store new tokens in a config object ("_oauth"). */
static void
put_tokens(json_object *config, const struct oauth_tokens *t,
    const char *keep_refresh)
{
	json_object *o = json_object_new_object();
	const char *rt = t->refresh_token ? t->refresh_token : keep_refresh;

	json_object_object_add(o, "accessToken",
	    json_object_new_string(t->access_token));
	if (rt != NULL)
		json_object_object_add(o, "refreshToken",
		    json_object_new_string(rt));
	json_object_object_add(o, "expiresAt",
	    json_object_new_int64(t->expires_at_ms));
	json_object_object_add(config, OAUTH_CONFIG_MEMBER, o);
}

/*
 * Inside the callback's transaction, after the row changed under it: seal
 * the tokens into the row's current config (which must still be of the
 * provider's type). Replaces *blob (and w->blob). False on any failure.
 */
static bool
reseal_current(struct app *app, const char *org, const char *id,
    const char *provider, const struct oauth_tokens *tok,
    struct dest_write *w, unsigned char **blob, size_t *bloblen)
{
	struct dbres r;
	struct dest d;
	json_object *now = NULL;
	bool ok = false;

	if (store_dest_get(app->db, org, id, &r) != BD_OK)
		return false;
	store_dest_from_row(&r, 0, &d);
	if (strcmp(d.type, provider) != 0 || open_config(app, &d, &now) != BD_OK)
		goto out;
	put_tokens(now, tok, NULL);
	free(*blob);
	*blob = NULL;
	if (seal_config(app, org, id, now, blob, bloblen) != BD_OK)
		goto out;
	w->blob = *blob;
	w->bloblen = *bloblen;
	ok = true;
out:
	json_wipe_put(now);
	dbres_free(&r);
	return ok;
}

/*
 * GET /backup-destinations/oauth/callback. No Authorization: the state alone
 * binds the answer to a destination, a provider and the flow that started
 * it. Every outcome is a 302 to settings_url; a failure stores nothing.
 */
static void
h_oauth_callback(struct app *app, struct request *req, struct response *resp)
{
	char id[UUID_STR_LEN + 1], provider[32], nonce[64], *plain = NULL;
	unsigned char hash[crypto_hash_sha256_BYTES], *blob = NULL;
	char *state = NULL, *code = NULL, *error = NULL, at[32];
	bool dup1 = false, dup2 = false, dup3 = false, won = false;
	bool in_tx = false;
	struct dbres st, r;
	struct dest cur;
	struct oauth_client cl;
	struct oauth_tokens tok;
	struct probe_result res;
	struct probe_env env;
	json_object *config = NULL, *tr = NULL;
	const struct dtype *t;
	const char *reason = "invalid_state", *known = NULL;
	size_t plen = 0, bloblen = 0;
	unsigned long locked = 0;
	enum bd_err rc;

	memset(&st, 0, sizeof(st));
	memset(&r, 0, sizeof(r));
	memset(&tok, 0, sizeof(tok));
	memset(&res, 0, sizeof(res));
	if (app->cfg.settings_url == NULL) {
		resp_problem(resp, req, BD_ERR_CONFIG, "settings_url is not "
		    "configured");
		return;
	}
	state = req_query_param(req->query, "state", &dup1);
	code = req_query_param(req->query, "code", &dup2);
	error = req_query_param(req->query, "error", &dup3);
	if (dup1 || dup2 || dup3 || !parse_state(state, id, provider, nonce))
		goto done;
	crypto_hash_sha256(hash, (const unsigned char *)nonce, strlen(nonce));
	if ((rc = store_oauth_state_get(app->db, hash, &st)) != BD_OK) {
		reason = rc == BD_ERR_NOT_FOUND ? "invalid_state" :
		    "server_error";
		goto done;
	}
	/* The state row must name the same destination and provider as the
	 * state string: a nonce pasted next to another id is forged, and does
	 * not burn the real flow's state. */
	if (strcmp(DBRES_VAL(&st, 0, 1), id) != 0 ||
	    strcmp(DBRES_VAL(&st, 0, 2), provider) != 0)
		goto done;
	if ((rc = store_oauth_state_consume(app->db, hash, &won)) != BD_OK) {
		reason = "server_error";
		goto done;
	}
	if (!won) {
		/* Expired, or used (perhaps a concurrent callback just won).
		 * The row names the org and destination: audit the attempt. */
		reason = strcmp(DBRES_VAL(&st, 0, 6), "0") != 0 &&
		    strcmp(DBRES_VAL(&st, 0, 5), "0") == 0 ? "state_expired" :
		    "state_used";
		snprintf(req->who.org, sizeof(req->who.org), "%s",
		    DBRES_VAL(&st, 0, 0));
		snprintf(req->who.sub, sizeof(req->who.sub), "%s",
		    DBRES_VAL(&st, 0, 3));
		audit(app, req, "oauth.callback", id, "failure", reason);
		goto done;
	}
	known = id;
	snprintf(req->who.org, sizeof(req->who.org), "%s", DBRES_VAL(&st, 0, 0));
	snprintf(req->who.sub, sizeof(req->who.sub), "%s", DBRES_VAL(&st, 0, 3));
	if (error != NULL) {
		reason = strcmp(error, "access_denied") == 0 ? "access_denied" :
		    "provider_error";
		goto done;
	}
	if (code == NULL || *code == '\0') {
		reason = "missing_code";
		goto done;
	}
	if ((rc = store_dest_get(app->db, req->who.org, id, &r)) != BD_OK) {
		reason = rc == BD_ERR_NOT_FOUND ? "destination_gone" :
		    "server_error";
		goto done;
	}
	store_dest_from_row(&r, 0, &cur);
	reason = "server_error";
	if (strcmp(cur.type, provider) != 0 || (t = dtype_find(cur.type)) == NULL) {
		reason = "invalid_state";
		goto done;
	}
	if (open_config(app, &cur, &config) != BD_OK ||
	    vault_open(app->vault, cur.org, cur.id,
	    (const unsigned char *)DBRES_VAL(&st, 0, 4), DBRES_LEN(&st, 0, 4),
	    &plain, &plen) != BD_OK)
		goto done;
	oauth_client_of(&app->cfg, (enum oauth_provider)oauth_provider_of(
	    provider), config, &cl);
	probe_env(app, &env);
	if (cl.id == NULL || oauth_exchange_code(&env,
	    (enum oauth_provider)oauth_provider_of(provider), &cl, code, plain,
	    &tok) != OAUTH_OK) {
		reason = "exchange_failed";
		goto done;
	}
	put_tokens(config, &tok, NULL);
	/* The first connection test with the new tokens. */
	probe_run(t->probe, &env, config, &res);
	tr = probe_result_json(&res);
	store_format_ms(res.tested_at_ms, at);
	if (seal_config(app, cur.org, cur.id, config, &blob, &bloblen) != BD_OK)
		goto done;
	struct dest_write w = {
		.id = cur.id, .org = cur.org, .blob = blob, .bloblen = bloblen,
		.key_id = vault_current_key_id(app->vault),
		.status = res.ok ? "active" : "error",
		.last_test_at = at, .last_test_ok = res.ok ? 1 : 0,
		.last_test_json = json_object_to_json_string_ext(tr,
		    JSON_C_TO_STRING_PLAIN),
	};
	if (db_begin(app->db) != BD_OK)
		goto done;
	in_tx = true;
	if (store_dest_lock(app->db, cur.org, cur.id, &locked) != BD_OK)
		goto done;
	/* A PUT landed while the code was exchanged and the probe ran: put
	 * the tokens into the config as it is now, not the one read before. */
	if (locked != cur.version &&
	    !reseal_current(app, cur.org, cur.id, provider, &tok, &w, &blob,
	    &bloblen))
		goto done;
	if (store_dest_set_oauth(app->db, &w, tok.expires_at_ms) != BD_OK)
		goto done;
	audit(app, req, "oauth.callback", cur.id, "success", res.ok ? NULL :
	    "connected; the connection test failed");
	if (db_commit(app->db) != BD_OK) {
		in_tx = false;
		goto done;
	}
	in_tx = false;
	reason = NULL;
done:
	if (in_tx)
		db_rollback(app->db);
	if (reason != NULL && known != NULL)
		audit(app, req, "oauth.callback", known, "failure", reason);
	oauth_redirect(app, resp, known, reason);
	vault_wipe_free(plain, plen);
	oauth_tokens_clear(&tok);
	probe_result_clear(&res);
	json_object_put(tr);
	json_wipe_put(config);
	free(blob);
	free(state);
	free(code);
	free(error);
	dbres_free(&st);
	dbres_free(&r);
}

/*
 * Before probing an OAuth destination: refresh an access token that expires
 * within a minute, under the row lock so two workers never refresh the same
 * row at once (a rotated refresh token is kept). A revoked grant sets the
 * status back to pending_authorization and removes the tokens; *revoked
 * tells the caller to fail the auth check. A refused client
 * (invalid_client, unauthorized_client: wrong clientId/clientSecret) keeps
 * the tokens, since a corrected secret makes them work again;
 * *client_refused tells the caller. *version follows the row.
 */
static enum bd_err
oauth_fresh(struct app *app, const struct request *req, const char *id,
    const char *type, json_object **config, unsigned long *version,
    bool *revoked, bool *unreachable, bool *client_refused)
{
	json_object *o = NULL, *v, *fresh = NULL;
	struct dbres r;
	struct dest cur;
	struct oauth_client cl;
	struct oauth_tokens tok;
	struct probe_env env;
	unsigned char *blob = NULL;
	size_t bloblen = 0;
	unsigned long locked = 0;
	long long now_ms, exp = 0;
	const char *rt;
	enum oauth_fail f;
	enum bd_err rc;

	*revoked = *unreachable = *client_refused = false;
	memset(&r, 0, sizeof(r));
	memset(&tok, 0, sizeof(tok));
	now_ms = clock_real_ms();
	if (json_object_object_get_ex(*config, OAUTH_CONFIG_MEMBER, &o) &&
	    json_object_object_get_ex(o, "expiresAt", &v))
		exp = json_object_get_int64(v);
	if (o == NULL || exp > now_ms + 60 * 1000)
		return BD_OK;
	if ((rc = db_begin(app->db)) != BD_OK)
		return rc;
	if ((rc = store_dest_lock(app->db, req->who.org, id, &locked)) != BD_OK ||
	    (rc = store_dest_get(app->db, req->who.org, id, &r)) != BD_OK)
		goto out;
	store_dest_from_row(&r, 0, &cur);
	/* A PUT may have changed the type while this request waited. */
	if (strcmp(cur.type, type) != 0) {
		rc = BD_ERR_PRECONDITION;
		goto out;
	}
	if ((rc = open_config(app, &cur, &fresh)) != BD_OK)
		goto out;
	/* Another worker may have refreshed while this one waited. */
	o = NULL;
	exp = 0;
	if (json_object_object_get_ex(fresh, OAUTH_CONFIG_MEMBER, &o) &&
	    json_object_object_get_ex(o, "expiresAt", &v))
		exp = json_object_get_int64(v);
	if (o == NULL || exp > now_ms + 60 * 1000) {
		*revoked = o == NULL;
		goto keep;
	}
	rt = json_object_object_get_ex(o, "refreshToken", &v) ?
	    json_object_get_string(v) : NULL;
	oauth_client_of(&app->cfg, (enum oauth_provider)oauth_provider_of(
	    cur.type), fresh, &cl);
	probe_env(app, &env);
	f = rt == NULL || cl.id == NULL ? OAUTH_FAIL_INVALID_GRANT :
	    oauth_refresh(&env, (enum oauth_provider)oauth_provider_of(
	    cur.type), &cl, rt, &tok);
	if (f == OAUTH_FAIL_NETWORK || f == OAUTH_FAIL_PROVIDER) {
		*unreachable = true;
		goto keep;
	}
	if (f == OAUTH_FAIL_CLIENT) {
		*client_refused = true;
		goto keep;
	}
	struct dest_write w = {.id = cur.id, .org = cur.org,
		.status = cur.status};
	if (f == OAUTH_OK) {
		put_tokens(fresh, &tok, rt);
	} else {
		json_object_object_del(fresh, OAUTH_CONFIG_MEMBER);
		w.status = "pending_authorization";
		*revoked = true;
	}
	if ((rc = seal_config(app, cur.org, cur.id, fresh, &blob, &bloblen)) !=
	    BD_OK)
		goto out;
	w.blob = blob;
	w.bloblen = bloblen;
	w.key_id = vault_current_key_id(app->vault);
	if ((rc = store_dest_set_tokens(app->db, &w, f == OAUTH_OK ?
	    tok.expires_at_ms : 0)) != BD_OK)
		goto out;
	audit(app, req, "oauth.refresh", cur.id, f == OAUTH_OK ? "success" :
	    "failure", f == OAUTH_OK ? NULL : "grant revoked or expired");
	locked++;
keep:
	if ((rc = db_commit(app->db)) != BD_OK)
		goto out;
	*version = locked;
	json_wipe_put(*config);
	*config = fresh;
	fresh = NULL;
out:
	if (rc != BD_OK)
		db_rollback(app->db);
	oauth_tokens_clear(&tok);
	json_wipe_put(fresh);
	free(blob);
	dbres_free(&r);
	return rc;
}

void
app_handle(struct app *app, struct request *req, struct response *resp)
{
	const struct route *rt = NULL;
	char allow[64];
	const char *why = NULL;
	enum bd_err rc;
	json_object *line;

	rc = router_match(routes, sizeof(routes) / sizeof(routes[0]),
	    req->method ? req->method : "", req->path ? req->path : "", &rt,
	    req->id, sizeof(req->id), allow, sizeof(allow));
	if (rc == BD_ERR_METHOD) {
		resp_problem(resp, req, rc, "%s is not allowed here",
		    req->method ? req->method : "this method");
		resp_header(resp, "Allow", "%s", allow);
		goto out;
	}
	if (rc != BD_OK) {
		resp_problem(resp, req, BD_ERR_NOT_FOUND, "no such resource");
		goto out;
	}
	if (rt->role != ROLE_NONE) {
		rc = auth_verify(app->auth, req->authorization, time(NULL),
		    &req->who, &why);
		if (rc != BD_OK) {
			resp_problem(resp, req, rc, "%s", why ? why :
			    "authentication failed");
			goto out;
		}
		if (req->who.role < rt->role) {
			resp_problem(resp, req, BD_ERR_FORBIDDEN, "the role "
			    "'%s' may not do this", auth_role_name(req->who.role));
			goto out;
		}
	}
	rt->handler(app, req, resp);
out:
	line = json_object_new_object();
	json_object_object_add(line, "requestId",
	    json_object_new_string(req->request_id));
	json_object_object_add(line, "org", req->who.org[0] ?
	    json_object_new_string(req->who.org) : NULL);
	json_object_object_add(line, "method",
	    json_object_new_string(req->method ? req->method : ""));
	json_object_object_add(line, "route",
	    json_object_new_string(rt ? rt->name : "unmatched"));
	json_object_object_add(line, "status",
	    json_object_new_int(resp->status));
	json_object_object_add(line, "durationMs",
	    json_object_new_int64(clock_mono_ms() - req->start_ms));
	log_json(LOG_INFO, line);
	json_object_put(line);
}
