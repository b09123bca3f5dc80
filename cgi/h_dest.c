/*
 * The destination handlers: parse -> (authorized by app_handle) ->
 * validate -> act (lib/dest.c) -> respond.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "app.h"
#include "wipe.h"

/* Body checks shared by create and update: 415, 413, then 400 for a body
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

	memset(&errs, 0, sizeof(errs));
	if (dtype_validate_input(body, placeholders, in, &errs) == BD_OK)
		return true;
	app_invalid(resp, req, &errs, "%zu field%s invalid", errs.n,
	    errs.n == 1 ? " is" : "s are");
	return false;
}

/* 422 unless this server can create/test the type, then 409 unless the
 * name is free in the org (self: the destination being updated). */
static bool
acceptable(struct app *app, struct request *req, struct response *resp,
    const struct dest_input *in, const char *self)
{
	struct dest_ctx ctx = app_ctx(app, req);
	struct verrs errs;
	char why[192];
	enum bd_err rc;

	memset(&errs, 0, sizeof(errs));
	if (!dtype_available(in->type, &app->cfg, why, sizeof(why))) {
		verrs_add(&errs, "/destinationType", "%s", why);
		app_invalid(resp, req, &errs, "%s", why);
		return false;
	}
	/* local_per_org: the org id names its directory under each root. */
	if (in->type->probe == probe_local &&
	    probe_local_org_unavailable(&app->cfg, req->who.org) != NULL) {
		verrs_add(&errs, "/config/path", "%s",
		    probe_local_org_unavailable(&app->cfg, req->who.org));
		app_invalid(resp, req, &errs, "%s", errs.v[0].message);
		return false;
	}
	if ((rc = dest_name_free(&ctx, in->name, self)) == BD_OK)
		return true;
	if (rc == BD_ERR_CONFLICT)
		resp_problem(resp, req, rc, "a destination named '%s' already "
		    "exists", in->name);
	else
		app_fail(resp, req, rc);
	return false;
}

/* The answer to a write: 200/201 with the row as stored (and ETag). */
static void
respond_written(struct app *app, struct request *req, struct response *resp,
    const char *id, json_object *config, int status)
{
	struct dest_ctx ctx = app_ctx(app, req);
	unsigned long version = 0;
	json_object *o = NULL;
	enum bd_err rc;

	if ((rc = dest_answer(&ctx, id, config, &o, &version)) != BD_OK) {
		app_fail(resp, req, rc);
		return;
	}
	resp_json(resp, status, o);
	resp_header(resp, "ETag", "\"%lu\"", version);
	if (status == 201)
		resp_header(resp, "Location", "/backup-destinations/%s", id);
}

/* The answer to a failed act: 422 test, 409 name, or the error's. */
static void
respond_failed(struct response *resp, const struct request *req,
    enum bd_err rc, const struct dest_input *in,
    const struct probe_result *res)
{
	if (rc == BD_ERR_TEST_FAILED)
		app_test_failed(resp, req, res);
	else if (rc == BD_ERR_CONFLICT)
		resp_problem(resp, req, rc, "a destination named '%s' already "
		    "exists", in->name);
	else
		app_fail(resp, req, rc);
}

void
h_list(struct app *app, struct request *req, struct response *resp)
{
	struct dest_ctx ctx = app_ctx(app, req);
	bool dup = false;
	char *type = req_query_param(req->query, "destinationType", &dup);
	bool sdup = false;
	char *status = req_query_param(req->query, "status", &sdup);
	enum dest_status s;
	json_object *arr = NULL;
	enum bd_err rc;

	if (dup || (type != NULL && dtype_find(type) == NULL))
		resp_problem(resp, req, BD_ERR_BAD_REQUEST,
		    dup ? "destinationType given more than once" :
		    "destinationType is not a known destination type");
	else if (sdup || (status != NULL && !dest_status_parse(status, &s)))
		resp_problem(resp, req, BD_ERR_BAD_REQUEST,
		    sdup ? "status given more than once" : "status must be "
		    "active, pending_authorization or error");
	else if ((rc = dest_list(&ctx, type, status, &arr)) != BD_OK)
		app_fail(resp, req, rc);
	else
		resp_json(resp, 200, arr);
	free(type);
	free(status);
}

void
h_get(struct app *app, struct request *req, struct response *resp)
{
	struct dest_ctx ctx = app_ctx(app, req);
	struct dest_loaded cur;
	enum bd_err rc;

	if ((rc = dest_load(&ctx, req->id, false, &cur)) != BD_OK) {
		app_fail(resp, req, rc);
		goto out;
	}
	/* A config that does not open is shown as {} (logged). */
	(void)dest_open(&ctx, &cur);
	resp_json(resp, 200, dest_json(&cur.d, cur.t, cur.config));
	resp_header(resp, "ETag", "\"%lu\"", cur.d.version);
out:
	dest_loaded_free(&cur);
}

void
h_create(struct app *app, struct request *req, struct response *resp)
{
	struct dest_ctx ctx = app_ctx(app, req);
	json_object *body = NULL;
	struct dest_input in;
	struct probe_result res;
	char id[UUID_STR_LEN + 1];
	struct admit_ticket slot = {0};
	enum bd_err rc;

	memset(&res, 0, sizeof(res));
	if (!read_body(app, req, resp, &body))
		return;
	if (!validate(req, resp, body, false, &in) ||
	    !acceptable(app, req, resp, &in, NULL))
		goto out;
	/* The connection test (none for an OAuth type) takes a probe slot. */
	if (!in.type->oauth && !app_admit(app, req, resp, "destination.create",
	    NULL, in.type->name, &slot))
		goto out;
	rc = dest_create(&ctx, &in, &res, id);
	admit_leave(app->db, &slot);
	if (rc != BD_OK)
		respond_failed(resp, req, rc, &in, &res);
	else
		respond_written(app, req, resp, id, in.config, 201);
out:
	probe_result_clear(&res);
	wipe_json_put(body);
}

/* PUT: "********" keeps a stored secret only within the same type. */
static bool
merge_placeholders(struct request *req, struct response *resp,
    const struct dest_loaded *cur, const struct dest_input *in)
{
	bool same_type = strcmp(cur->d.type, in->type->name) == 0;
	struct verrs errs;

	memset(&errs, 0, sizeof(errs));
	if (dtype_merge_placeholders(in->type, in->config, same_type ?
	    cur->config : NULL, &errs) == BD_OK)
		return true;
	app_invalid(resp, req, &errs, "%s", same_type ? "a secret sent as "
	    "\"********\" has no stored value to keep" : "\"********\" cannot "
	    "keep a secret when destinationType changes; send the secret "
	    "itself");
	return false;
}

void
h_update(struct app *app, struct request *req, struct response *resp)
{
	struct dest_ctx ctx = app_ctx(app, req);
	json_object *body = NULL;
	struct dest_loaded cur;
	struct dest_input in;
	struct probe_result res;
	struct admit_ticket slot = {0};
	enum bd_err rc;

	memset(&res, 0, sizeof(res));
	memset(&cur, 0, sizeof(cur));
	if (req_if_match(req->if_match, 0) == BD_ERR_BAD_REQUEST) {
		resp_problem(resp, req, BD_ERR_BAD_REQUEST,
		    "If-Match must be \"*\" or a list of quoted entity tags");
		return;
	}
	if (!read_body(app, req, resp, &body))
		return;
	if ((rc = dest_load(&ctx, req->id, false, &cur)) != BD_OK) {
		app_fail(resp, req, rc);
		goto out;
	}
	if ((rc = req_if_match(req->if_match, cur.d.version)) != BD_OK) {
		resp_problem(resp, req, rc, "If-Match does not match the "
		    "current ETag \"%lu\"", cur.d.version);
		goto out;
	}
	if (!validate(req, resp, body, true, &in))
		goto out;
	if ((rc = dest_open(&ctx, &cur)) != BD_OK) {
		app_fail(resp, req, rc);
		goto out;
	}
	if (!merge_placeholders(req, resp, &cur, &in) ||
	    !acceptable(app, req, resp, &in, cur.d.id))
		goto out;
	if (!in.type->oauth && !app_admit(app, req, resp, "destination.update",
	    cur.d.id, in.type->name, &slot))
		goto out;
	rc = dest_update(&ctx, &cur, &in, req->if_match, &res);
	admit_leave(app->db, &slot);
	if (rc != BD_OK)
		respond_failed(resp, req, rc, &in, &res);
	else
		respond_written(app, req, resp, cur.d.id, in.config, 200);
out:
	probe_result_clear(&res);
	dest_loaded_free(&cur);
	wipe_json_put(body);
}

void
h_delete(struct app *app, struct request *req, struct response *resp)
{
	struct dest_ctx ctx = app_ctx(app, req);
	json_object *ids = NULL, *p;
	enum bd_err rc;
	size_t n;

	rc = dest_delete(&ctx, req->id, &ids);
	if (rc == BD_ERR_CONFLICT && ids != NULL) {
		n = json_object_array_length(ids);
		p = resp_problem(resp, req, rc, "the destination is used by "
		    "%zu active backup schedule%s", n, n == 1 ? "" : "s");
		json_object_object_add(p, "activeScheduleIds", ids);
	} else if (rc != BD_OK) {
		app_fail(resp, req, rc);
		json_object_put(ids);
	} else {
		resp_json(resp, 200, dest_deleted_json(req->id));
	}
}

void
h_test(struct app *app, struct request *req, struct response *resp)
{
	struct dest_ctx ctx = app_ctx(app, req);
	struct dest_loaded cur;
	struct probe_result res;
	struct admit_ticket slot = {0};
	enum bd_err rc;

	memset(&res, 0, sizeof(res));
	memset(&cur, 0, sizeof(cur));
	if ((rc = dest_load(&ctx, req->id, true, &cur)) != BD_OK) {
		app_fail(resp, req, rc);
		goto out;
	}
	/* One slot covers an OAuth token refresh and the probe. */
	if (!app_admit(app, req, resp, "destination.test", cur.d.id,
	    cur.d.type, &slot))
		goto out;
	rc = dest_test(&ctx, &cur, &res);
	admit_leave(app->db, &slot);
	if (rc != BD_OK)
		app_fail(resp, req, rc);
	else if (res.ok)
		resp_json(resp, 200, probe_result_json(&res));
	else
		app_test_failed(resp, req, &res);
out:
	probe_result_clear(&res);
	dest_loaded_free(&cur);
}
