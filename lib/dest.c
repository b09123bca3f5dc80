/*
 * The destination service (see dest.h). Read top to bottom: names and
 * helpers, the representation, the locked write, then the operations in
 * the order of the API (create, update, delete, test, OAuth).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "clock.h"
#include "admit.h"
#include "rawjson.h"
#include "dest.h"
#include "log.h"
#include "req.h"
#include "wipe.h"

#ifndef LIM_OAUTH_REFRESH_MARGIN_MS
/* Refresh an access token that expires within this margin: a probe that
 * starts just before the expiry must not fail half-way. */
#define LIM_OAUTH_REFRESH_MARGIN_MS (60 * 1000LL)
#endif

static const char *const status_names[DEST_STATUS__MAX] = {
	[DEST_ACTIVE] = "active",
	[DEST_ERROR] = "error",
	[DEST_PENDING] = "pending_authorization",
};

const char *
dest_status_name(enum dest_status s)
{
	return (unsigned)s < DEST_STATUS__MAX ? status_names[s] :
	    status_names[DEST_ERROR];
}

enum dest_status
dest_status_of(const char *name)
{
	enum dest_status s;

	return dest_status_parse(name, &s) ? s : DEST_ERROR;
}

bool
dest_status_parse(const char *name, enum dest_status *out)
{
	for (size_t i = 0; name != NULL && i < DEST_STATUS__MAX; i++)
		if (strcmp(status_names[i], name) == 0) {
			*out = (enum dest_status)i;
			return true;
		}
	return false;
}

static const char *const reason_names[DEST_REASON__MAX] = {
	[DEST_REASON_NONE] = NULL,
	[DEST_REASON_TEST_FAILED] = "test_failed",
	[DEST_REASON_REAUTH] = "reauthorization_required",
	[DEST_REASON_NOT_AUTHORIZED] = "not_authorized",
	[DEST_REASON_CRED_EXPIRING] = "credentials_expiring",
};

const char *
dest_reason_name(enum dest_reason r)
{
	return (unsigned)r < DEST_REASON__MAX ? reason_names[r] : NULL;
}

enum dest_reason
dest_reason_of(const char *name)
{
	for (size_t i = 1; name != NULL && i < DEST_REASON__MAX; i++)
		if (strcmp(reason_names[i], name) == 0)
			return (enum dest_reason)i;
	return DEST_REASON_NONE;
}

enum dest_reason
dest_test_reason(bool ok, bool pending, bool revoked, enum dest_reason before)
{
	if (ok)
		return DEST_REASON_NONE;
	if (revoked)
		return DEST_REASON_REAUTH;
	if (pending)
		return before == DEST_REASON_REAUTH ? DEST_REASON_REAUTH :
		    DEST_REASON_NOT_AUTHORIZED;
	return DEST_REASON_TEST_FAILED;
}

void
dest_audit(const struct dest_ctx *ctx, const char *action,
    const char *dest_id, const char *outcome, const char *detail)
{
	struct audit_entry a = {
		.org = ctx->org, .actor = ctx->actor, .action = action,
		.destination_id = dest_id, .request_id = ctx->request_id,
		.remote_addr = ctx->remote_addr, .outcome = outcome,
		.detail = detail,
	};
	enum bd_err rc = store_audit(ctx->db, &a);

	if (rc != BD_OK)
		log_msg(LOG_ERROR, "audit write failed for %s: %s", action,
		    err_name(rc));
}

void
dest_probe_env(const struct dest_ctx *ctx, struct probe_env *env)
{
	memset(env, 0, sizeof(*env));
	env->cfg = ctx->cfg;
	env->egress = ctx->egress;
	env->org = ctx->org;
	env->deadline_ms = ctx->deadline_ms;
}

/* Decrypt and parse a row's config. *out is a new reference. */
static enum bd_err
open_config(const struct dest_ctx *ctx, const struct dest *d,
    json_object **out)
{
	char *plain = NULL;
	size_t len = 0;
	enum bd_err rc;

	*out = NULL;
	rc = vault_open(ctx->vault, d->org, d->id, d->blob, d->bloblen, &plain,
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

void
dest_sealed_free(struct dest_sealed *s)
{
	free(s->blob);
	s->blob = NULL;
	s->len = 0;
}

enum bd_err
dest_seal(const struct dest_ctx *ctx, const char *id, json_object *config,
    struct dest_sealed *s)
{
	size_t n = 0;
	const char *str = json_object_to_json_string_length(config,
	    JSON_C_TO_STRING_PLAIN, &n);
	enum bd_err rc;

	dest_sealed_free(s);
	rc = vault_seal(ctx->vault, ctx->org, id, str, n, &s->blob, &s->len);
	/* json-c keeps the serialisation in the object: wipe it. */
	sodium_memzero((void *)str, n);
	return rc;
}

enum bd_err
dest_load(const struct dest_ctx *ctx, const char *id, bool open,
    struct dest_loaded *l)
{
	enum bd_err rc;

	memset(l, 0, sizeof(*l));
	if (id == NULL || !uuid_valid(id))
		return BD_ERR_NOT_FOUND;
	if ((rc = store_dest_get(ctx->db, ctx->org, id, &l->r)) != BD_OK)
		return rc;
	store_dest_from_row(&l->r, 0, &l->d);
	l->t = dtype_find(l->d.type);
	l->status = dest_status_of(l->d.status);
	return open ? dest_open(ctx, l) : BD_OK;
}

enum bd_err
dest_open(const struct dest_ctx *ctx, struct dest_loaded *l)
{
	if (l->config != NULL)
		return BD_OK;
	if (l->t == NULL)
		return BD_ERR_INTERNAL;
	return open_config(ctx, &l->d, &l->config);
}

void
dest_loaded_free(struct dest_loaded *l)
{
	wipe_json_put(l->config);
	l->config = NULL;
	dbres_free(&l->r);
}

/* ------------------------------------------------- the representation */

/* The Destination; raw_last: lastTest is the stored text written out as it
 * is (rawjson.h), for the list, where parsing and re-serialising every
 * row's lastTest was the largest cost after the decryption. */
static json_object *
dest_json_ex(const struct dest *d, const struct dtype *t, json_object *config,
    bool raw_last)
{
	json_object *o = json_object_new_object(), *last = NULL;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "id", json_object_new_string(d->id));
	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "destinationType",
	    json_object_new_string(d->type));
	json_object_object_add(o, "config", t != NULL && config != NULL ?
	    dtype_redact(t, config) : json_object_new_object());
	json_object_object_add(o, "status", json_object_new_string(d->status));
	json_object_object_add(o, "statusReason", d->status_reason != NULL ?
	    json_object_new_string(d->status_reason) : NULL);
	json_object_object_add(o, "lastSuccessAt", d->last_success_at[0] ?
	    json_object_new_string(d->last_success_at) : NULL);
	json_object_object_add(o, "consecutiveFailures",
	    json_object_new_int64(d->consecutive_failures));
	if (d->last_test_json != NULL)
		last = raw_last ? rawjson_new(d->last_test_json) :
		    json_tokener_parse(d->last_test_json);
	json_object_object_add(o, "lastTest", last);
	json_object_object_add(o, "activeScheduleCount",
	    json_object_new_int64(d->active_schedules));
	json_object_object_add(o, "createdAt",
	    json_object_new_string(d->created_at));
	json_object_object_add(o, "updatedAt",
	    json_object_new_string(d->updated_at));
	return o;
}

json_object *
dest_json(const struct dest *d, const struct dtype *t, json_object *config)
{
	return dest_json_ex(d, t, config, false);
}

json_object *
dest_row_json(const struct dest_ctx *ctx, const struct dest *d)
{
	const struct dtype *t = dtype_find(d->type);
	json_object *config = NULL, *o;

	/* A config that does not open is shown as {} (logged). */
	if (t != NULL && ctx->vault != NULL)
		(void)open_config(ctx, d, &config);
	o = dest_json_ex(d, t, config, true);
	wipe_json_put(config);
	return o;
}

int
dest_last_test_ok(const struct dest *d)
{
	json_object *last;
	int rc;

	if (d->last_test_json == NULL ||
	    (last = json_tokener_parse(d->last_test_json)) == NULL)
		return -1;
	rc = json_object_get_boolean(json_object_object_get(last, "ok"));
	json_object_put(last);
	return rc;
}

enum bd_err
dest_list(const struct dest_ctx *ctx, const char *type, const char *status,
    json_object **out)
{
	struct dbres r;
	enum bd_err rc;

	*out = NULL;
	memset(&r, 0, sizeof(r));
	if ((rc = store_dest_list(ctx->db, ctx->org, type, status, &r)) !=
	    BD_OK)
		return rc;
	*out = json_object_new_array_ext((int)r.nrows);
	for (size_t i = 0; i < r.nrows; i++) {
		struct dest d;

		store_dest_from_row(&r, i, &d);
		json_object_array_add(*out, dest_row_json(ctx, &d));
	}
	dbres_free(&r);
	return BD_OK;
}

enum bd_err
dest_answer(const struct dest_ctx *ctx, const char *id, json_object *config,
    json_object **out, unsigned long *version)
{
	struct dbres r;
	struct dest d;
	enum bd_err rc;

	*out = NULL;
	if ((rc = store_dest_get(ctx->db, ctx->org, id, &r)) != BD_OK)
		return rc;
	store_dest_from_row(&r, 0, &d);
	*out = dest_json(&d, dtype_find(d.type), config);
	*version = d.version;
	dbres_free(&r);
	return *out != NULL ? BD_OK : BD_ERR_NOMEM;
}

/* ------------------------------------------------------ the locked write */

/* One run of the transaction; *again when it lost a lock conflict that a
 * re-run can win (then nothing of it stays, not even its audit row). */
static enum bd_err
tx_once(const struct dest_ctx *ctx, struct dest_tx *tx, bool *again)
{
	unsigned long locked = 0;
	enum bd_err rc;

	*again = false;
	tx->outcome = tx->detail = NULL;
	if ((rc = db_begin(ctx->db)) != BD_OK)
		return rc;
	if ((rc = store_dest_lock(ctx->db, ctx->org, tx->id, &locked)) !=
	    BD_OK) {
		*again = rc == BD_ERR_DB_DOWN && (db_retryable(ctx->db) ||
		    db_conn_lost(ctx->db));
		db_rollback(ctx->db);
		return rc;
	}
	rc = tx->body(ctx, tx, locked);
	if (rc == BD_OK) {
		if (tx->outcome != NULL)
			dest_audit(ctx, tx->action, tx->id, tx->outcome,
			    tx->detail);
		rc = db_commit(ctx->db);
		*again = rc == BD_ERR_DB_DOWN && db_retryable(ctx->db);
		return rc;
	}
	/* A lost connection before COMMIT lost nothing that was committed:
	 * the re-run connects to the next node (db.h). A lost COMMIT is not
	 * re-run: whether it landed is unknown. */
	*again = rc == BD_ERR_DB_DOWN && (db_retryable(ctx->db) ||
	    db_conn_lost(ctx->db));
	/* Roll back before the audit row, which so stays. */
	db_rollback(ctx->db);
	if (tx->outcome != NULL && !*again)
		dest_audit(ctx, tx->action, tx->id, tx->outcome, tx->detail);
	return rc;
}

enum bd_err
dest_tx_run(const struct dest_ctx *ctx, struct dest_tx *tx)
{
	enum bd_err rc;
	bool again;

	for (unsigned attempt = 1;; attempt++) {
		rc = tx_once(ctx, tx, &again);
		if (!again)
			return rc;
		if (attempt >= LIM_DB_TX_ATTEMPTS)
			break;
		db_backoff(attempt);
	}
	log_msg(LOG_WARN, "%s: lost the write conflict %d times; answering "
	    "503", tx->action, LIM_DB_TX_ATTEMPTS);
	return rc;
}

/* ---------------------------------------------- config members, tests */

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

/* Copy internal members ("_..." such as OAuth tokens) from a stored
 * config. */
static void
keep_internal(json_object *config, json_object *stored)
{
	json_object_object_foreach(stored, k, v)
		if (k[0] == '_')
			json_object_object_add(config, k, json_object_get(v));
}

/* Store new tokens in a config object (OAUTH_CONFIG_MEMBER); keep_refresh
 * when the answer carried no new refresh token. */
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
 * The last-test columns of a row whose lastTest is kept as it is (an OAuth
 * destination updated without a test): "ok" and "testedAt" from its JSON;
 * its status reason, last success (into ok_at) and failure count as they
 * are. at and ok_at receive "YYYY-MM-DD HH:MM:SS.mmm".
 */
static void
keep_last_test(const struct dest *d, struct dest_write *w, char at[32],
    char ok_at[32])
{
	json_object *o, *v;
	long long ms;

	w->status_reason = d->status_reason;
	w->consecutive_failures = d->consecutive_failures;
	w->last_success_at = NULL;
	if (clock_parse_ms(d->last_success_at, &ms)) {
		clock_format_ms(ms, CLOCK_SQL, ok_at);
		w->last_success_at = ok_at;
	}
	w->last_test_json = d->last_test_json;
	w->last_test_ok = -1;
	w->last_test_at = NULL;
	if (d->last_test_json == NULL ||
	    (o = json_tokener_parse(d->last_test_json)) == NULL)
		return;
	if (json_object_object_get_ex(o, "ok", &v))
		w->last_test_ok = json_object_get_boolean(v) ? 1 : 0;
	if (json_object_object_get_ex(o, "testedAt", &v) &&
	    clock_parse_ms(json_object_get_string(v), &ms)) {
		clock_format_ms(ms, CLOCK_SQL, at);
		w->last_test_at = at;
	}
	json_object_put(o);
}

/* The last-test columns for a probe that just ran; tr (the TestResult)
 * must outlive w. The health columns as a first test leaves them (an
 * insert or update writes them; a recorded test moves them in SQL). */
static void
record_test(struct dest_write *w, const struct probe_result *res,
    json_object *tr, char at[32])
{
	w->last_test_json = json_object_to_json_string_ext(tr,
	    JSON_C_TO_STRING_PLAIN);
	clock_format_ms(res->tested_at_ms, CLOCK_SQL, at);
	w->last_test_at = at;
	w->last_test_ok = res->ok ? 1 : 0;
	w->last_success_at = res->ok ? at : NULL;
	w->consecutive_failures = res->ok ? 0 : 1;
	if (res->ok && res->creds_expiring)
		w->status_reason = dest_reason_name(DEST_REASON_CRED_EXPIRING);
}

/* The row as it is under the lock, when it moved since it was read. */
struct carry {
	struct dbres r;   /* owns what d borrows */
	struct dest d;
	char at[32], ok_at[32];
};

/*
 * The OAuth token carry, under the lock, after a callback, a refresh or a
 * PUT changed the row since this request read it: read the row as it is
 * now (it must still be of `type`) and seal into *s the config to write,
 * built on the tokens stored now. A PUT passes its new config as `mine`:
 * its internal ("_") members are replaced by the row's. The callback passes
 * mine NULL and its new tokens: they are put into the row's config. c keeps
 * the row for the caller (a PUT keeps its status and last test).
 */
static enum bd_err
carry_oauth(const struct dest_ctx *ctx, const char *id, const char *type,
    json_object *mine, const struct oauth_tokens *tok, struct carry *c,
    struct dest_sealed *s)
{
	json_object *now = NULL;
	enum bd_err rc;

	dbres_free(&c->r);
	if ((rc = store_dest_get(ctx->db, ctx->org, id, &c->r)) != BD_OK)
		return rc;
	store_dest_from_row(&c->r, 0, &c->d);
	rc = BD_ERR_INTERNAL;
	if (strcmp(c->d.type, type) != 0 ||
	    open_config(ctx, &c->d, &now) != BD_OK)
		goto out;
	if (mine != NULL) {
		drop_internal(mine);
		keep_internal(mine, now);
	}
	if (tok != NULL)
		put_tokens(mine != NULL ? mine : now, tok, NULL);
	rc = dest_seal(ctx, id, mine != NULL ? mine : now, s);
out:
	wipe_json_put(now);
	return rc;
}

/* ------------------------------------------------------------- create */

enum bd_err
dest_name_free(const struct dest_ctx *ctx, const char *name,
    const char *self)
{
	char owner[UUID_STR_LEN + 1];
	enum bd_err rc = store_name_owner(ctx->db, ctx->org, name, owner);

	if (rc == BD_ERR_NOT_FOUND ||
	    (rc == BD_OK && self != NULL && strcmp(owner, self) == 0))
		return BD_OK;
	if (rc != BD_OK)
		return rc;
	dest_audit(ctx, self ? "destination.update" : "destination.create",
	    self, "conflict", "name already used");
	return BD_ERR_CONFLICT;
}

/* Probe a new config (create / update): BD_ERR_TEST_FAILED audited for
 * action on id; on success the probe's config_update is merged. */
static enum bd_err
probe_input(const struct dest_ctx *ctx, const struct dest_input *in,
    const char *action, const char *id, struct probe_result *res)
{
	struct probe_env env;

	dest_probe_env(ctx, &env);
	probe_run(in->type->probe, &env, in->config, res);
	if (!res->ok) {
		dest_audit(ctx, action, id, "failure", "connection test failed");
		return BD_ERR_TEST_FAILED;
	}
	merge_update(in->config, res);
	return BD_OK;
}

enum bd_err
dest_create(const struct dest_ctx *ctx, const struct dest_input *in,
    struct probe_result *res, char id[UUID_STR_LEN + 1])
{
	struct dest_sealed sealed = {NULL, 0};
	json_object *tr = NULL;
	char at[32];
	enum bd_err rc;

	uuid_v7(id);
	struct dest_write w = {
		.id = id, .org = ctx->org, .name = in->name,
		.type = in->type->name, .last_test_ok = -1,
		.status = dest_status_name(in->type->oauth ? DEST_PENDING :
		    DEST_ACTIVE),
		.status_reason = dest_reason_name(in->type->oauth ?
		    DEST_REASON_NOT_AUTHORIZED : DEST_REASON_NONE),
	};
	/* OAuth types are tested once the consent gave them tokens. */
	if (!in->type->oauth) {
		if ((rc = probe_input(ctx, in, "destination.create", NULL,
		    res)) != BD_OK)
			goto out;
		tr = probe_result_json(res);
		record_test(&w, res, tr, at);
	}
	if ((rc = dest_seal(ctx, id, in->config, &sealed)) != BD_OK)
		goto out;
	w.blob = sealed.blob;
	w.bloblen = sealed.len;
	w.key_id = vault_current_key_id(ctx->vault);
	/* On Galera a concurrent create of the same name through another
	 * node is found at certification (1213): insert again, and the
	 * unique key answers 409. */
	for (unsigned attempt = 1;; attempt++) {
		rc = store_dest_insert(ctx->db, &w);
		if (rc != BD_ERR_DB_DOWN || !db_retryable(ctx->db) ||
		    attempt >= LIM_DB_TX_ATTEMPTS)
			break;
		db_backoff(attempt);
	}
	if (rc != BD_OK) {
		if (rc == BD_ERR_CONFLICT)
			dest_audit(ctx, "destination.create", NULL, "conflict",
			    "name already used");
		goto out;
	}
	dest_audit(ctx, "destination.create", id, "success", NULL);
out:
	dest_sealed_free(&sealed);
	json_object_put(tr);
	return rc;
}

/* ------------------------------------------------------------- update */

struct update_arg {
	const char *if_match;
	unsigned long read_version;  /* the version the request read */
	bool carry;                  /* OAuth, same type: tokens follow row */
	json_object *config;         /* the new config (borrowed) */
	const char *type;
	struct dest_write w0;        /* what to write if the row did not move */
	struct dest_sealed sealed;
	struct carry now;
};

static enum bd_err
update_body(const struct dest_ctx *ctx, struct dest_tx *tx,
    unsigned long locked)
{
	struct update_arg *a = tx->arg;
	struct dest_write w = a->w0;
	enum bd_err rc;

	/* If-Match is checked again against the row as locked (one winner
	 * among concurrent PUTs with the same ETag); without it the last
	 * writer wins. An OAuth destination's tokens and status are taken
	 * from the locked row: a callback or refresh may have just changed
	 * them. */
	if (a->if_match != NULL && req_if_match(a->if_match, locked) != BD_OK)
		return BD_ERR_PRECONDITION;
	if (locked != a->read_version && a->carry) {
		if (carry_oauth(ctx, tx->id, a->type, a->config, NULL, &a->now,
		    &a->sealed) != BD_OK)
			return BD_ERR_INTERNAL;
		w.status = a->now.d.status;
		keep_last_test(&a->now.d, &w, a->now.at, a->now.ok_at);
		w.blob = a->sealed.blob;
		w.bloblen = a->sealed.len;
	}
	rc = store_dest_update(ctx->db, &w, locked);
	if (rc == BD_ERR_CONFLICT) {
		tx->outcome = "conflict";
		tx->detail = "name already used";
	} else if (rc == BD_OK) {
		tx->outcome = "success";
	}
	return rc;
}

enum bd_err
dest_update(const struct dest_ctx *ctx, struct dest_loaded *cur,
    const struct dest_input *in, const char *if_match,
    struct probe_result *res)
{
	struct update_arg a;
	struct dest_tx tx = {.id = cur->d.id, .action = "destination.update",
		.body = update_body, .arg = &a};
	json_object *tr = NULL;
	bool same_type = strcmp(cur->d.type, in->type->name) == 0;
	char at[32], ok_at[32];
	enum bd_err rc;

	memset(&a, 0, sizeof(a));
	a.if_match = if_match;
	a.read_version = cur->d.version;
	a.carry = in->type->oauth && same_type;
	a.config = in->config;
	a.type = in->type->name;
	a.w0 = (struct dest_write){ .id = cur->d.id, .org = ctx->org,
		.name = in->name, .type = in->type->name, .last_test_ok = -1 };
	if (in->type->oauth) {
		/* No test: tokens come only from the OAuth flow. */
		if (same_type) {
			keep_internal(in->config, cur->config);
			a.w0.status = cur->d.status;
			keep_last_test(&cur->d, &a.w0, at, ok_at);
		} else {
			a.w0.status = dest_status_name(DEST_PENDING);
			a.w0.status_reason = dest_reason_name(
			    DEST_REASON_NOT_AUTHORIZED);
		}
	} else {
		if ((rc = probe_input(ctx, in, "destination.update", cur->d.id,
		    res)) != BD_OK)
			goto out;
		tr = probe_result_json(res);
		record_test(&a.w0, res, tr, at);
		a.w0.status = dest_status_name(DEST_ACTIVE);
	}
	if ((rc = dest_seal(ctx, cur->d.id, in->config, &a.sealed)) != BD_OK)
		goto out;
	a.w0.blob = a.sealed.blob;
	a.w0.bloblen = a.sealed.len;
	a.w0.key_id = vault_current_key_id(ctx->vault);
	/* The test ran unlocked; the write happens only if nobody else
	 * changed the row meanwhile (one winner among concurrent PUTs). */
	rc = dest_tx_run(ctx, &tx);
out:
	dest_sealed_free(&a.sealed);
	dbres_free(&a.now.r);
	json_object_put(tr);
	return rc;
}

/* ------------------------------------------------------------- delete */

static enum bd_err
delete_body(const struct dest_ctx *ctx, struct dest_tx *tx,
    unsigned long locked)
{
	json_object **ids = tx->arg;
	struct sched_ref ref;
	struct dbres s;
	enum bd_err rc;

	(void)locked;
	memset(&s, 0, sizeof(s));
	json_object_put(*ids);
	*ids = json_object_new_array();
	if ((rc = store_sched_lock(ctx->db, ctx->org, tx->id, &s)) != BD_OK)
		goto out;
	for (size_t i = 0; i < s.nrows; i++) {
		store_sched_from_row(&s, i, &ref);
		if (ref.active && ref.id != NULL)
			json_object_array_add(*ids,
			    json_object_new_string(ref.id));
	}
	if (json_object_array_length(*ids) > 0) {
		tx->outcome = "conflict";
		tx->detail = "referenced by active schedules";
		rc = BD_ERR_CONFLICT;
		goto out;
	}
	if ((rc = store_sched_detach(ctx->db, ctx->org, tx->id)) != BD_OK ||
	    (rc = store_dest_delete(ctx->db, ctx->org, tx->id)) != BD_OK)
		goto out;
	tx->outcome = "success";
out:
	dbres_free(&s);
	return rc;
}

json_object *
dest_deleted_json(const char *id)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "deleted", json_object_new_boolean(1));
	return o;
}

enum bd_err
dest_delete(const struct dest_ctx *ctx, const char *id,
    json_object **active_ids)
{
	json_object *ids = NULL;
	struct dest_tx tx = {.id = id, .action = "destination.delete",
		.body = delete_body, .arg = &ids};
	enum bd_err rc;

	*active_ids = NULL;
	if (id == NULL || !uuid_valid(id))
		return BD_ERR_NOT_FOUND;
	rc = dest_tx_run(ctx, &tx);
	if (rc == BD_ERR_CONFLICT) {
		*active_ids = ids;
		ids = NULL;
	}
	json_object_put(ids);
	return rc;
}

/* --------------------------------------------------------------- test */

/* The "probes" of an OAuth destination that cannot be tested. */
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

struct test_arg {
	unsigned long read_version;
	struct dest_write w;
};

static enum bd_err
test_body(const struct dest_ctx *ctx, struct dest_tx *tx,
    unsigned long locked)
{
	struct test_arg *a = tx->arg;
	enum bd_err rc;

	tx->outcome = a->w.last_test_ok == 1 ? "success" : "failure";
	/* A concurrent PUT changed the config while the probe ran: this
	 * outcome describes a config that is gone (the PUT recorded its own
	 * test), so it is answered but not recorded. */
	if (locked != a->read_version) {
		tx->detail = "outcome not recorded: the destination changed "
		    "meanwhile";
		return BD_ERR_PRECONDITION;
	}
	if ((rc = store_dest_set_test(ctx->db, &a->w, locked)) != BD_OK)
		tx->outcome = NULL;
	return rc;
}

/* Which probe a test runs: the type's, or one that only explains why an
 * OAuth destination cannot be tested now. */
static probe_fn
test_probe(const struct dtype *t, bool pending, enum dest_fresh fail)
{
	switch (fail) {
	case DEST_FRESH_REVOKED:
		return probe_revoked;
	case DEST_FRESH_UNREACHABLE:
		return probe_no_token;
	case DEST_FRESH_CLIENT:
		return probe_client_refused;
	case DEST_FRESH_OK:
		break;
	}
	return t->oauth && pending ? probe_unauthorized : t->probe;
}

enum bd_err
dest_test(const struct dest_ctx *ctx, struct dest_loaded *cur,
    struct probe_result *res)
{
	struct test_arg a;
	struct dest_tx tx = {.id = cur->d.id, .action = "destination.test",
		.body = test_body, .arg = &a};
	struct dest_sealed sealed = {NULL, 0};
	struct probe_env env;
	enum dest_fresh fail = DEST_FRESH_OK;
	json_object *tr = NULL;
	bool pending = cur->status == DEST_PENDING;
	char at[32];
	enum bd_err rc;

	if (cur->t->oauth && !pending &&
	    (rc = dest_oauth_fresh(ctx, cur->d.id, cur->t->name, &cur->config,
	    &cur->d.version, &fail)) != BD_OK)
		return rc;
	if (fail == DEST_FRESH_REVOKED)
		pending = true;
	dest_probe_env(ctx, &env);
	probe_run(test_probe(cur->t, pending, fail), &env, cur->config, res);
	merge_update(cur->config, res);
	tr = probe_result_json(res);
	if ((rc = dest_seal(ctx, cur->d.id, cur->config, &sealed)) != BD_OK)
		goto out;
	memset(&a, 0, sizeof(a));
	a.read_version = cur->d.version;
	a.w = (struct dest_write){ .id = cur->d.id, .org = ctx->org,
		.status = dest_status_name(res->ok ? DEST_ACTIVE : pending ?
		DEST_PENDING : DEST_ERROR),
		.status_reason = dest_reason_name(dest_test_reason(res->ok,
		pending, fail == DEST_FRESH_REVOKED,
		dest_reason_of(cur->d.status_reason))),
		.blob = sealed.blob, .bloblen = sealed.len,
		.key_id = vault_current_key_id(ctx->vault) };
	record_test(&a.w, res, tr, at);
	rc = dest_tx_run(ctx, &tx);
	if (rc == BD_ERR_PRECONDITION)
		rc = BD_OK;   /* answered, not recorded */
out:
	dest_sealed_free(&sealed);
	json_object_put(tr);
	return rc;
}

/* ------------------------------------------------------ OAuth: refresh */

/* The "_oauth" member of a config (or NULL) and whether its access token
 * expires within the margin. */
static bool
token_due(json_object *config, long long now_ms, json_object **o)
{
	json_object *v;
	long long exp = 0;

	*o = NULL;
	if (json_object_object_get_ex(config, OAUTH_CONFIG_MEMBER, o) &&
	    json_object_object_get_ex(*o, "expiresAt", &v))
		exp = json_object_get_int64(v);
	return *o != NULL && exp <= now_ms + LIM_OAUTH_REFRESH_MARGIN_MS;
}

struct fresh_arg {
	const char *type;
	long long now_ms;
	json_object *fresh;          /* the config read under the lock */
	unsigned long version;       /* the row's version after the body */
	enum dest_fresh fail;
	/* The provider's answer, cached so that a re-run of the body does
	 * not refresh twice (a rotated refresh token is single-use). */
	bool called;
	enum oauth_fail f;
	struct oauth_tokens tok;
	struct dest_sealed sealed;
};

/* Ask the provider (once per request) for a new access token. */
static void
fresh_call(const struct dest_ctx *ctx, struct fresh_arg *a,
    const char *type, const char *rt)
{
	struct oauth_client cl;
	struct probe_env env;
	enum oauth_provider p = oauth_provider_of(type);

	if (a->called)
		return;
	a->called = true;
	oauth_client_of(ctx->cfg, p, a->fresh, &cl);
	dest_probe_env(ctx, &env);
	a->f = rt == NULL || cl.id == NULL ? OAUTH_FAIL_INVALID_GRANT :
	    oauth_refresh(&env, p, &cl, rt, &a->tok);
}

static enum bd_err
fresh_body(const struct dest_ctx *ctx, struct dest_tx *tx,
    unsigned long locked)
{
	struct fresh_arg *a = tx->arg;
	struct dbres r;
	struct dest cur;
	json_object *o, *v;
	const char *rt;
	enum bd_err rc;

	memset(&r, 0, sizeof(r));
	a->fail = DEST_FRESH_OK;
	a->version = locked;
	wipe_json_put(a->fresh);
	a->fresh = NULL;
	if ((rc = store_dest_get(ctx->db, ctx->org, tx->id, &r)) != BD_OK)
		goto out;
	store_dest_from_row(&r, 0, &cur);
	/* A PUT may have changed the type while this request waited. */
	if (strcmp(cur.type, a->type) != 0) {
		rc = BD_ERR_PRECONDITION;
		goto out;
	}
	if ((rc = open_config(ctx, &cur, &a->fresh)) != BD_OK)
		goto out;
	/* Another worker may have refreshed while this one waited. */
	if (!token_due(a->fresh, a->now_ms, &o)) {
		if (o == NULL)
			a->fail = DEST_FRESH_REVOKED;
		goto out;
	}
	rt = json_object_object_get_ex(o, "refreshToken", &v) ?
	    json_object_get_string(v) : NULL;
	fresh_call(ctx, a, cur.type, rt);
	if (a->f == OAUTH_FAIL_NETWORK || a->f == OAUTH_FAIL_PROVIDER) {
		a->fail = DEST_FRESH_UNREACHABLE;
		goto out;
	}
	if (a->f == OAUTH_FAIL_CLIENT) {
		a->fail = DEST_FRESH_CLIENT;
		goto out;
	}
	struct dest_write w = {.id = cur.id, .org = ctx->org,
		.status = cur.status, .status_reason = cur.status_reason};
	if (a->f == OAUTH_OK) {
		put_tokens(a->fresh, &a->tok, rt);
	} else {
		json_object_object_del(a->fresh, OAUTH_CONFIG_MEMBER);
		w.status = dest_status_name(DEST_PENDING);
		w.status_reason = dest_reason_name(DEST_REASON_REAUTH);
		a->fail = DEST_FRESH_REVOKED;
	}
	if ((rc = dest_seal(ctx, cur.id, a->fresh, &a->sealed)) != BD_OK)
		goto out;
	w.blob = a->sealed.blob;
	w.bloblen = a->sealed.len;
	w.key_id = vault_current_key_id(ctx->vault);
	if ((rc = store_dest_set_tokens(ctx->db, &w, a->f == OAUTH_OK ?
	    a->tok.expires_at_ms : 0, locked)) != BD_OK)
		goto out;
	tx->outcome = a->f == OAUTH_OK ? "success" : "failure";
	tx->detail = a->f == OAUTH_OK ? NULL : "grant revoked or expired";
	a->version = locked + 1;
out:
	dbres_free(&r);
	return rc;
}

enum bd_err
dest_oauth_fresh(const struct dest_ctx *ctx, const char *id,
    const char *type, json_object **config, unsigned long *version,
    enum dest_fresh *fail)
{
	struct fresh_arg a;
	struct dest_tx tx = {.id = id, .action = "oauth.refresh",
		.body = fresh_body, .arg = &a};
	json_object *o;
	enum bd_err rc;

	*fail = DEST_FRESH_OK;
	memset(&a, 0, sizeof(a));
	a.type = type;
	a.now_ms = clock_real_ms();
	if (!token_due(*config, a.now_ms, &o))
		return BD_OK;
	if ((rc = dest_tx_run(ctx, &tx)) == BD_OK) {
		*version = a.version;
		*fail = a.fail;
		wipe_json_put(*config);
		*config = a.fresh;
		a.fresh = NULL;
	}
	oauth_tokens_clear(&a.tok);
	wipe_json_put(a.fresh);
	dest_sealed_free(&a.sealed);
	return rc;
}

/* ------------------------------------------------------- OAuth: start */

enum bd_err
dest_oauth_start(const struct dest_ctx *ctx, struct dest_loaded *cur,
    struct dest_oauth_start *out, struct verrs *errs)
{
	struct oauth_client cl;
	struct dest_sealed v = {NULL, 0};
	unsigned char hash[crypto_hash_sha256_BYTES];
	unsigned char bhash[OAUTH_COOKIE_HASH_LEN];
	char nonce[64], verifier[64], challenge[64];
	enum oauth_provider provider = cur->t != NULL ? cur->t->oauth :
	    OAUTH_NONE;
	enum bd_err rc = BD_ERR_INVALID;
	char names[128];

	memset(out, 0, sizeof(*out));
	if (provider == OAUTH_NONE) {
		dtype_names(names, sizeof(names), true, " and ");
		verrs_add(errs, "/destinationType", "OAuth applies to %s "
		    "destinations only", names);
		goto out;
	}
	if (ctx->cfg->oauth_redirect_uri == NULL ||
	    ctx->cfg->settings_url == NULL) {
		verrs_add(errs, "/destinationType", "this server has no OAuth "
		    "redirect URI or settings page configured");
		goto out;
	}
	if ((rc = dest_open(ctx, cur)) != BD_OK)
		goto out;
	oauth_client_of(ctx->cfg, provider, cur->config, &cl);
	if (cl.id == NULL) {
		verrs_add(errs, "/config/clientId", "no OAuth client is "
		    "configured for this provider on this server; set clientId "
		    "and clientSecret on the destination");
		rc = BD_ERR_INVALID;
		goto out;
	}
	/* Only sha256(nonce) is stored; the PKCE verifier is sealed for this
	 * destination (RFC 7636 §4.1). */
	oauth_nonce(nonce);
	oauth_pkce(verifier, challenge);
	oauth_state_make(out->state, cur->d.id, cur->d.type, nonce);
	crypto_hash_sha256(hash, (const unsigned char *)nonce, strlen(nonce));
	if ((rc = vault_seal(ctx->vault, ctx->org, cur->d.id, verifier,
	    strlen(verifier), &v.blob, &v.len)) != BD_OK)
		goto out;
	/* The browser binding (oauth_cookie.h): the value goes to the
	 * browser, its hash to the state. */
	oauth_cookie_new(out->browser, bhash);
	store_oauth_state_purge(ctx->db);
	if ((rc = store_oauth_state_trim(ctx->db, ctx->org, cur->d.id,
	    LIM_OAUTH_STATES_PER_DEST, LIM_OAUTH_STATES_PER_ORG)) != BD_OK)
		goto out;
	struct oauth_state_row st = {
		.nonce_hash = hash, .org = ctx->org,
		.destination_id = cur->d.id, .provider = cur->d.type,
		.actor = ctx->actor, .key_id = vault_current_key_id(ctx->vault),
		.verifier_blob = v.blob, .verifier_bloblen = v.len,
		.browser_hash = bhash, .ttl = LIM_OAUTH_STATE_TTL,
	};
	if ((rc = store_oauth_state_insert(ctx->db, &st)) != BD_OK)
		goto out;
	rc = BD_ERR_NOMEM;
	if ((out->url = oauth_authorization_url(ctx->cfg, provider, &cl,
	    out->state, challenge)) == NULL)
		goto out;
	clock_format_ms(clock_real_ms() + LIM_OAUTH_STATE_TTL * 1000LL,
	    CLOCK_RFC3339, out->expires_at);
	dest_audit(ctx, "oauth.start", cur->d.id, "success", NULL);
	rc = BD_OK;
out:
	sodium_memzero(verifier, sizeof(verifier));
	dest_sealed_free(&v);
	return rc;
}

/* ---------------------------------------------------- OAuth: callback */

struct callback_arg {
	unsigned long read_version;
	const char *type;
	const struct oauth_tokens *tok;
	struct dest_write w0;
	struct dest_sealed *sealed;
	struct carry now;
	bool test_ok;
};

static enum bd_err
callback_body(const struct dest_ctx *ctx, struct dest_tx *tx,
    unsigned long locked)
{
	struct callback_arg *a = tx->arg;
	struct dest_write w = a->w0;
	enum bd_err rc;

	/* A PUT landed while the code was exchanged and the probe ran: put
	 * the tokens into the config as it is now, not the one read before. */
	if (locked != a->read_version) {
		if ((rc = carry_oauth(ctx, tx->id, a->type, NULL, a->tok,
		    &a->now, a->sealed)) != BD_OK)
			return rc;
		w.blob = a->sealed->blob;
		w.bloblen = a->sealed->len;
	}
	if ((rc = store_dest_set_oauth(ctx->db, &w, a->tok->expires_at_ms,
	    locked)) != BD_OK)
		return rc;
	tx->outcome = "success";
	tx->detail = a->test_ok ? NULL : "connected; the connection test failed";
	return BD_OK;
}

/* Exchange the code, test, and store the tokens; NULL or a reason (the
 * contract's code), with *detail the precise cause for the audit row. */
static const char *
callback_store(const struct dest_ctx *ctx, const char *id,
    const char *provider, const struct oauth_state_rec *st, const char *code,
    const char **detail)
{
	struct dest_loaded cur;
	struct oauth_client cl;
	struct oauth_tokens tok;
	struct probe_result res;
	struct probe_env env;
	struct dest_sealed sealed = {NULL, 0};
	struct callback_arg a;
	struct dest_tx tx = {.id = id, .action = "oauth.callback",
		.body = callback_body, .arg = &a};
	json_object *tr = NULL;
	const char *reason = "busy";
	char *plain = NULL, at[32];
	size_t plen = 0;
	enum oauth_provider p;
	enum bd_err rc;

	memset(&tok, 0, sizeof(tok));
	memset(&res, 0, sizeof(res));
	memset(&a, 0, sizeof(a));
	*detail = "busy: server error, the destination does not load";
	if ((rc = dest_load(ctx, id, false, &cur)) != BD_OK) {
		/* Deleted during the flow: the state names nothing any more. */
		if (rc == BD_ERR_NOT_FOUND) {
			reason = "invalid_state";
			*detail = "destination_gone";
		}
		goto out;
	}
	if (strcmp(cur.d.type, provider) != 0 || cur.t == NULL) {
		reason = *detail = "invalid_state";
		goto out;
	}
	*detail = "busy: server error, the config or the verifier does not "
	    "decrypt";
	if (dest_open(ctx, &cur) != BD_OK ||
	    vault_open(ctx->vault, cur.d.org, cur.d.id, st->verifier_blob,
	    st->verifier_bloblen, &plain, &plen) != BD_OK)
		goto out;
	p = cur.t->oauth;
	oauth_client_of(ctx->cfg, p, cur.config, &cl);
	dest_probe_env(ctx, &env);
	if (cl.id == NULL || oauth_exchange_code(&env, p, &cl, code, plain,
	    &tok) != OAUTH_OK) {
		reason = *detail = "exchange_failed";
		goto out;
	}
	put_tokens(cur.config, &tok, NULL);
	/* The first connection test with the new tokens. */
	probe_run(cur.t->probe, &env, cur.config, &res);
	tr = probe_result_json(&res);
	*detail = "busy: server error, the config does not seal";
	if (dest_seal(ctx, cur.d.id, cur.config, &sealed) != BD_OK)
		goto out;
	a.read_version = cur.d.version;
	a.type = provider;
	a.tok = &tok;
	a.sealed = &sealed;
	a.test_ok = res.ok;
	a.w0 = (struct dest_write){ .id = cur.d.id, .org = ctx->org,
		.blob = sealed.blob, .bloblen = sealed.len,
		.key_id = vault_current_key_id(ctx->vault),
		.status = dest_status_name(res.ok ? DEST_ACTIVE : DEST_ERROR),
		.status_reason = dest_reason_name(res.ok ? DEST_REASON_NONE :
		DEST_REASON_TEST_FAILED) };
	record_test(&a.w0, &res, tr, at);
	if ((rc = dest_tx_run(ctx, &tx)) == BD_OK) {
		reason = *detail = NULL;
	} else if (rc == BD_ERR_NOT_FOUND) {
		reason = "invalid_state";
		*detail = "destination_gone";
	} else {
		*detail = "busy: server error, the tokens were not stored";
	}
out:
	if (reason != NULL && strcmp(reason, "busy") == 0)
		log_msg(LOG_ERROR, "oauth callback for %s: %s", id, *detail);
	vault_wipe_free(plain, plen);
	oauth_tokens_clear(&tok);
	probe_result_clear(&res);
	json_object_put(tr);
	dest_sealed_free(&sealed);
	dbres_free(&a.now.r);
	dest_loaded_free(&cur);
	return reason;
}

/*
 * The provider's own error code (RFC 6749 4.1.2.1: access_denied,
 * invalid_scope, server_error, temporarily_unavailable, ...) passes to the
 * settings page when it is a short token of [a-z0-9_]; anything else is
 * invalid_request, and is neither echoed nor audited. *detail is the audit
 * row's (in buf, or static).
 */
static const char *
provider_reason(const char *e, char *buf, size_t len, const char **detail)
{
	size_t n = strlen(e);

	if (n == 0 || n > 64 ||
	    strspn(e, "abcdefghijklmnopqrstuvwxyz0123456789_") != n) {
		*detail = "provider_error: not a code";
		return "invalid_request";
	}
	if (strcmp(e, "access_denied") == 0)
		*detail = e;
	else {
		snprintf(buf, len, "provider_error: %s", e);
		*detail = buf;
	}
	return e;
}

/* Single use across nodes too: a consume that lost certification to
 * another node's runs again and then changes no row (state_used). */
static enum bd_err
consume_state(const struct dest_ctx *ctx, const unsigned char *hash,
    bool *won)
{
	enum bd_err rc;

	for (unsigned attempt = 1;; attempt++) {
		rc = store_oauth_state_consume(ctx->db, hash, won);
		if (rc != BD_ERR_DB_DOWN || !db_retryable(ctx->db) ||
		    attempt >= LIM_DB_TX_ATTEMPTS)
			return rc;
		db_backoff(attempt);
	}
}

const char *
dest_oauth_callback(const struct dest_ctx *ctx0, struct dest_callback *cb)
{
	struct dest_ctx ctx = *ctx0;
	char id[UUID_STR_LEN + 1], provider[32], nonce[64];
	unsigned char hash[crypto_hash_sha256_BYTES];
	struct oauth_state_rec st;
	struct admit_ticket slot = {0};
	struct dbres r;
	const char *reason = "invalid_state", *detail = NULL;
	char pdetail[96];
	bool won = false;
	enum bd_err rc;

	memset(&r, 0, sizeof(r));
	cb->dest_id[0] = cb->org[0] = cb->actor[0] = '\0';
	if (!oauth_state_parse(cb->state, id, provider, nonce))
		goto out;
	crypto_hash_sha256(hash, (const unsigned char *)nonce, strlen(nonce));
	if ((rc = store_oauth_state_get(ctx.db, hash, &r, &st)) != BD_OK) {
		/* Our own failure (the database): "try again later". */
		if (rc != BD_ERR_NOT_FOUND) {
			reason = "busy";
			log_msg(LOG_ERROR, "oauth callback for %s: server error, "
			    "the state does not load: %s", id, err_name(rc));
		}
		goto out;
	}
	/* The state row must name the same destination and provider as the
	 * state string: a nonce pasted next to another id is forged, and does
	 * not burn the real flow's state. */
	if (strcmp(st.destination_id, id) != 0 ||
	    strcmp(st.provider, provider) != 0)
		goto out;
	/* The browser binding (oauth_cookie.h): a live state reached from a
	 * browser that did not start its flow consumes nothing, so the right
	 * browser can still finish it. Audited for the state's org. (A used
	 * or expired state answers as such below.) */
	if (ctx.cfg->oauth_bind_browser && !st.used && !st.expired &&
	    !oauth_cookie_matches(cb->cookie, st.browser_hash,
	    st.browser_hashlen)) {
		snprintf(cb->org, sizeof(cb->org), "%s", st.org);
		snprintf(cb->actor, sizeof(cb->actor), "%s", st.actor);
		ctx.org = cb->org;
		ctx.actor = cb->actor;
		reason = "browser_mismatch";
		dest_audit(&ctx, "oauth.callback", id, "failure", reason);
		goto out;
	}
	/* The code exchange is outbound work (admit.h): a probe slot first,
	 * before the state is consumed, so that "busy" leaves the flow
	 * usable for a retry. */
	if (cb->error == NULL && cb->code != NULL && cb->code[0] != '\0' &&
	    (rc = admit_enter(ctx.db, ctx.cfg, st.org, provider, &slot)) !=
	    BD_OK) {
		reason = "busy";
		snprintf(cb->org, sizeof(cb->org), "%s", st.org);
		snprintf(cb->actor, sizeof(cb->actor), "%s", st.actor);
		ctx.org = cb->org;
		ctx.actor = cb->actor;
		if (rc == BD_ERR_BUSY) {
			dest_audit(&ctx, "oauth.callback", id, "denied",
			    "busy: too many connection tests in flight");
		} else {
			log_msg(LOG_ERROR, "oauth callback for %s: server "
			    "error, no probe slot: %s", id, err_name(rc));
			dest_audit(&ctx, "oauth.callback", id, "failure",
			    "busy: server error, no probe slot");
		}
		goto out;
	}
	if ((rc = consume_state(&ctx, hash, &won)) != BD_OK) {
		/* Not consumed: the flow stays usable for a retry. */
		reason = "busy";
		log_msg(LOG_ERROR, "oauth callback for %s: server error, the "
		    "state is not consumed: %s", id, err_name(rc));
		goto out;
	}
	/* The row names who started the flow: the callback acts for them. */
	snprintf(cb->org, sizeof(cb->org), "%s", st.org);
	snprintf(cb->actor, sizeof(cb->actor), "%s", st.actor);
	ctx.org = cb->org;
	ctx.actor = cb->actor;
	if (!won) {
		/* Expired, or used (perhaps a concurrent callback just won):
		 * a used state is no longer a valid one. The audit keeps the
		 * precise word. */
		if (st.expired && !st.used) {
			reason = "expired_state";
			detail = "state_expired";
		} else {
			reason = "invalid_state";
			detail = "state_used";
		}
		dest_audit(&ctx, "oauth.callback", id, "failure", detail);
		goto out;
	}
	snprintf(cb->dest_id, sizeof(cb->dest_id), "%s", id);
	if (cb->error != NULL) {
		reason = provider_reason(cb->error, pdetail, sizeof(pdetail),
		    &detail);
	} else if (cb->code == NULL || cb->code[0] == '\0') {
		/* Nothing to exchange. */
		reason = "exchange_failed";
		detail = "missing_code";
	} else {
		reason = callback_store(&ctx, id, provider, &st, cb->code,
		    &detail);
	}
	if (reason != NULL)
		dest_audit(&ctx, "oauth.callback", id, "failure", detail);
out:
	admit_leave(ctx.db, &slot);
	dbres_free(&r);
	return reason;
}
