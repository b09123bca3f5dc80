/*
 * Dispatch: the handler of each route (indexed by enum route, the routes
 * themselves are lib/router.c's table), authentication and role, the
 * problem answers every handler shares, and the access log line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "app.h"
#include "clock.h"
#include "log.h"
#include "scoreboard.h"

static const handler_fn handlers[ROUTE__MAX] = {
	[ROUTE_LIST] = h_list,
	[ROUTE_CREATE] = h_create,
	[ROUTE_OAUTH_CALLBACK] = h_oauth_callback,
	[ROUTE_GET] = h_get,
	[ROUTE_UPDATE] = h_update,
	[ROUTE_DELETE] = h_delete,
	[ROUTE_OAUTH_START] = h_oauth_start,
	[ROUTE_TEST] = h_test,
};

/*
 * The deadline of a request's outbound work (a token refresh and the test
 * after it, the callback's exchange and first test): request_timeout less
 * 5 s for the database work after it (at least half of it), so the worker is
 * not killed by request_timeout half-way (a rotated refresh token received
 * and not stored would be lost). Each probe is also held to probe_timeout.
 */
static long long
app_outbound_deadline(const struct app *app, const struct request *req)
{
	long long budget = (long long)app->cfg.request_timeout * 1000;

	return req->start_ms + (budget - 5000 > budget / 2 ? budget - 5000 :
	    budget / 2);
}

struct dest_ctx
app_ctx(struct app *app, const struct request *req)
{
	return (struct dest_ctx){
		.cfg = &app->cfg, .db = app->db, .vault = app->vault,
		.egress = &app->egress, .org = req->who.org,
		.actor = req->who.sub, .request_id = req->request_id,
		.remote_addr = req->remote_addr,
		.deadline_ms = app_outbound_deadline(app, req),
	};
}

void
app_fail(struct response *resp, const struct request *req, enum bd_err e)
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

void
app_invalid(struct response *resp, const struct request *req,
    const struct verrs *errs, const char *fmt, ...)
{
	char detail[256];
	json_object *p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	p = resp_problem(resp, req, BD_ERR_INVALID, "%s", detail);
	json_object_object_add(p, "errors", verrs_json(errs));
}

void
app_test_failed(struct response *resp, const struct request *req,
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

bool
app_admit(struct app *app, const struct request *req, struct response *resp,
    const char *action, const char *dest_id, const char *type,
    struct admit_ticket *t)
{
	struct dest_ctx ctx = app_ctx(app, req);
	enum bd_err rc;

	rc = admit_enter(app->db, &app->cfg, req->who.org, type, t);
	if (rc == BD_OK)
		return true;
	if (rc == BD_ERR_BUSY) {
		dest_audit(&ctx, action, dest_id, "denied",
		    "busy: too many connection tests in flight");
		admit_refuse(resp, req, t);
	} else {
		app_fail(resp, req, rc);
	}
	return false;
}

/* 401 / 403 unless the request may use the route; true when it may. */
static bool
authorize(struct app *app, struct request *req, struct response *resp,
    const struct route_def *rt)
{
	const char *why = NULL;
	enum bd_err rc;

	if (rt->role == ROLE_NONE)
		return true;
	rc = auth_verify(app->auth, req->authorization, time(NULL), &req->who,
	    &why);
	if (rc != BD_OK) {
		resp_problem(resp, req, rc, "%s", why ? why :
		    "authentication failed");
		return false;
	}
	if (req->who.role < rt->role) {
		resp_problem(resp, req, BD_ERR_FORBIDDEN, "the role '%s' may "
		    "not do this", auth_role_name(req->who.role));
		return false;
	}
	return true;
}

static void
log_line(const struct request *req, const struct response *resp,
    const char *route)
{
	json_object *line = json_object_new_object();

	json_object_object_add(line, "requestId",
	    json_object_new_string(req->request_id));
	json_object_object_add(line, "org", req->who.org[0] ?
	    json_object_new_string(req->who.org) : NULL);
	json_object_object_add(line, "method",
	    json_object_new_string(req->method ? req->method : ""));
	json_object_object_add(line, "route", json_object_new_string(route));
	json_object_object_add(line, "status",
	    json_object_new_int(resp->status));
	json_object_object_add(line, "durationMs",
	    json_object_new_int64(clock_mono_ms() - req->start_ms));
	log_json(LOG_INFO, line);
	json_object_put(line);
}

void
app_handle(struct app *app, struct request *req, struct response *resp)
{
	enum route r = ROUTE__MAX;
	char allow[64];
	enum bd_err rc;

	rc = route_find(req->method ? req->method : "",
	    req->path ? req->path : "", &r, req->id, sizeof(req->id), allow,
	    sizeof(allow));
	if (rc == BD_ERR_METHOD) {
		resp_problem(resp, req, rc, "%s is not allowed here",
		    req->method ? req->method : "this method");
		resp_header(resp, "Allow", "%s", allow);
	} else if (rc != BD_OK) {
		resp_problem(resp, req, BD_ERR_NOT_FOUND, "no such resource");
	} else if (authorize(app, req, resp, &route_table[r])) {
		sb_note_route(route_table[r].name, req->who.org);
		handlers[r](app, req, resp);
	}
	log_line(req, resp, r < ROUTE__MAX ? route_table[r].name :
	    "unmatched");
}
