/*
 * The HTTP handlers and the route table. Each handler reads like the API it
 * serves: parse -> authorize (done by app_handle from the route's role) ->
 * validate -> act -> respond.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>

#include "app.h"
#include "dtype.h"
#include "log.h"
#include "probe.h"
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

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
		json_object_put(cfg);
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
	if (req->body_too_large) {
		resp_problem(resp, req, BD_ERR_TOO_LARGE,
		    "the body exceeds %ld bytes", app->cfg.max_body);
		return false;
	}
	if (!req_is_json(req)) {
		resp_problem(resp, req, BD_ERR_MEDIA_TYPE,
		    "send the body as application/json");
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
	json_object_put(body);
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

static void
h_update(struct app *app, struct request *req, struct response *resp)
{
	json_object *body = NULL, *stored = NULL, *tr = NULL;
	struct dest_input in;
	struct probe_result res;
	struct probe_env env;
	struct dbres r;
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
	memset(&errs, 0, sizeof(errs));
	if (!uuid_valid(req->id)) {
		fail(resp, req, BD_ERR_NOT_FOUND);
		return;
	}
	if (if_match(req->if_match, 0) == BD_ERR_BAD_REQUEST) {
		resp_problem(resp, req, BD_ERR_BAD_REQUEST,
		    "If-Match must be \"*\" or a list of quoted entity tags");
		return;
	}
	if (!read_body(app, req, resp, &body))
		return;
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
			w.last_test_json = cur.last_test_json;
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
	/* With If-Match the row must still be the one the client saw (one
	 * winner among concurrent PUTs); without it the last writer wins. */
	if (req->if_match != NULL && locked != cur.version)
		rc = BD_ERR_PRECONDITION;
	else
		rc = store_dest_update(app->db, &w, locked);
	if (rc != BD_OK) {
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
	json_object_put(stored);
	json_object_put(body);
	dbres_free(&r);
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
	bool in_tx = false;
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
	probe_run(t->oauth && strcmp(cur.status, "pending_authorization") == 0 ?
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
	json_object_put(config);
	dbres_free(&r);
}

/*
 * The OAuth pair belongs to the issue "Google Drive and OneDrive through
 * OAuth"; until it lands both answer honestly and change nothing.
 */
static void
h_oauth_start(struct app *app, struct request *req, struct response *resp)
{
	struct dbres r;
	struct dest cur;
	const struct dtype *t;
	enum bd_err rc;

	if (!uuid_valid(req->id)) {
		fail(resp, req, BD_ERR_NOT_FOUND);
		return;
	}
	if ((rc = store_dest_get(app->db, req->who.org, req->id, &r)) != BD_OK) {
		fail(resp, req, rc);
		return;
	}
	store_dest_from_row(&r, 0, &cur);
	t = dtype_find(cur.type);
	if (t == NULL || !t->oauth)
		invalid_one(resp, req, "/destinationType", "OAuth applies to "
		    "google_drive and onedrive destinations only");
	else
		invalid_one(resp, req, "/destinationType", "the OAuth flow is "
		    "not available on this server yet");
	dbres_free(&r);
}

static void
h_oauth_callback(struct app *app, struct request *req, struct response *resp)
{
	const char *base = app->cfg.settings_url;

	resp->status = 302;
	resp_header(resp, "Location", "%s%soauth=error&reason=unavailable",
	    base ? base : "/", base && strchr(base, '?') ? "&" : "?");
	resp_header(resp, "Referrer-Policy", "no-referrer");
	resp->raw = strdup("");
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
	    json_object_new_int64(mono_ms() - req->start_ms));
	log_json(LOG_INFO, line);
	json_object_put(line);
}
