/*
 * The OAuth handlers (Google Drive, OneDrive): start a flow for a
 * destination, and the provider's redirect back. The flow itself is
 * lib/dest.c's; the provider calls are lib/oauth.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <sodium.h>

#include "app.h"

void
h_oauth_start(struct app *app, struct request *req, struct response *resp)
{
	struct dest_ctx ctx = app_ctx(app, req);
	struct dest_loaded cur;
	struct dest_oauth_start st;
	struct verrs errs;
	char setcookie[256];
	json_object *o;
	enum bd_err rc;

	memset(&errs, 0, sizeof(errs));
	memset(&st, 0, sizeof(st));
	if ((rc = dest_load(&ctx, req->id, false, &cur)) != BD_OK ||
	    (rc = dest_oauth_start(&ctx, &cur, &st, &errs)) != BD_OK) {
		if (rc == BD_ERR_INVALID)
			app_invalid(resp, req, &errs, "%s", errs.v[0].message);
		else
			app_fail(resp, req, rc);
		goto out;
	}
	o = json_object_new_object();
	json_object_object_add(o, "authorizationUrl",
	    json_object_new_string(st.url));
	json_object_object_add(o, "state", json_object_new_string(st.state));
	json_object_object_add(o, "expiresAt",
	    json_object_new_string(st.expires_at));
	resp_json(resp, 200, o);
	if (oauth_cookie_header(setcookie, sizeof(setcookie), st.browser,
	    req->https))
		resp_header(resp, "Set-Cookie", "%s", setcookie);
out:
	sodium_memzero(st.browser, sizeof(st.browser));
	sodium_memzero(setcookie, sizeof(setcookie));
	free(st.url);
	dest_loaded_free(&cur);
}

/* 302 to the settings page with the outcome; never anywhere else. */
static void
redirect(struct app *app, struct response *resp, const char *dest_id,
    const char *reason)
{
	const char *base = app->cfg.settings_url;
	const char *sep = strchr(base, '?') ? "&" : "?";

	resp->status = 302;
	if (reason == NULL)
		resp_header(resp, "Location", "%s%sdestinationId=%s"
		    "&oauth=connected", base, sep, dest_id);
	else if (dest_id != NULL)
		resp_header(resp, "Location", "%s%sdestinationId=%s&oauth=error"
		    "&reason=%s", base, sep, dest_id, reason);
	else
		resp_header(resp, "Location", "%s%soauth=error&reason=%s", base,
		    sep, reason);
	resp_header(resp, "Referrer-Policy", "no-referrer");
	resp->raw = strdup("");
}

/*
 * GET /backup-destinations/oauth/callback. No Authorization: the state alone
 * binds the answer to a destination, a provider and the flow that started
 * it. Every outcome is a 302 to settings_url; a failure stores nothing.
 */
void
h_oauth_callback(struct app *app, struct request *req, struct response *resp)
{
	struct dest_ctx ctx = app_ctx(app, req);
	struct dest_callback cb;
	char *state, *code, *error;
	bool dup1 = false, dup2 = false, dup3 = false;
	const char *reason = "invalid_state";

	if (app->cfg.settings_url == NULL) {
		resp_problem(resp, req, BD_ERR_CONFIG, "settings_url is not "
		    "configured");
		return;
	}
	memset(&cb, 0, sizeof(cb));
	state = req_query_param(req->query, "state", &dup1);
	code = req_query_param(req->query, "code", &dup2);
	error = req_query_param(req->query, "error", &dup3);
	if (!dup1 && !dup2 && !dup3) {
		cb.state = state;
		cb.code = code;
		cb.error = error;
		cb.cookie = req->cookie;
		reason = dest_oauth_callback(&ctx, &cb);
		/* The flow's starter, for the log line. */
		snprintf(req->who.org, sizeof(req->who.org), "%s", cb.org);
		snprintf(req->who.sub, sizeof(req->who.sub), "%s", cb.actor);
	}
	redirect(app, resp, cb.dest_id[0] ? cb.dest_id : NULL, reason);
	/* The binding is spent with a completed flow: the browser forgets
	 * it. */
	if (reason == NULL && app->cfg.oauth_bind_browser)
		resp_header(resp, "Set-Cookie", "%s",
		    oauth_cookie_clear_header(req->https));
	free(state);
	free(code);
	free(error);
}
