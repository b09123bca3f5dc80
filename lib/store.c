#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bd_limits.h"
#include "clock.h"
#include "log.h"
#include "store.h"

/* Column order of DEST_COLS in db.c. */
enum { C_ID, C_ORG, C_NAME, C_TYPE, C_BLOB, C_KEY, C_STATUS, C_LAST, C_VER,
	C_CREATED, C_UPDATED, C_ACTIVE, C_REASON, C_SUCCESS, C_FAILS, C__MAX };

/* "2026-11-29T12:00:00.123456" -> "2026-11-29T12:00:00.123Z"; text that
 * is not a time (NULL: "") is passed on as it is. */
static void
rfc3339(const char *in, char out[32])
{
	long long ms;

	if (clock_parse_ms(in, &ms))
		clock_format_ms(ms, CLOCK_RFC3339, out);
	else
		snprintf(out, 32, "%s", in ? in : "");
}

void
store_dest_from_row(const struct dbres *r, size_t row, struct dest *d)
{
	const char *v;

	memset(d, 0, sizeof(*d));
	d->id = DBRES_VAL(r, row, C_ID);
	d->org = DBRES_VAL(r, row, C_ORG);
	d->name = DBRES_VAL(r, row, C_NAME);
	d->type = DBRES_VAL(r, row, C_TYPE);
	d->blob = (const unsigned char *)DBRES_VAL(r, row, C_BLOB);
	d->bloblen = DBRES_LEN(r, row, C_BLOB);
	d->key_id = DBRES_VAL(r, row, C_KEY);
	d->status = DBRES_VAL(r, row, C_STATUS);
	d->last_test_json = DBRES_VAL(r, row, C_LAST);
	v = DBRES_VAL(r, row, C_VER);
	d->version = v ? strtoul(v, NULL, 10) : 0;
	rfc3339(DBRES_VAL(r, row, C_CREATED), d->created_at);
	rfc3339(DBRES_VAL(r, row, C_UPDATED), d->updated_at);
	v = DBRES_VAL(r, row, C_ACTIVE);
	d->active_schedules = v ? strtol(v, NULL, 10) : 0;
	d->status_reason = DBRES_VAL(r, row, C_REASON);
	v = DBRES_VAL(r, row, C_SUCCESS);
	if (v != NULL)
		rfc3339(v, d->last_success_at);
	v = DBRES_VAL(r, row, C_FAILS);
	d->consecutive_failures = v ? strtol(v, NULL, 10) : 0;
}

bool
store_org_exact(const char *org, const char *row_org, size_t len,
    const char *row_id)
{
	size_t n = strlen(org);

	if (row_org != NULL && len == n && memcmp(org, row_org, n) == 0)
		return true;
	log_msg(LOG_ERROR, "destination %s: the database returned it for "
	    "another org (collation?); treated as not found",
	    row_id ? row_id : "?");
	return false;
}

/* Whether row `row` (DEST_COLS) belongs to exactly `org`. */
static bool
row_org_ok(const struct dbres *r, size_t row, const char *org)
{
	return store_org_exact(org, DBRES_VAL(r, row, C_ORG),
	    DBRES_LEN(r, row, C_ORG), DBRES_VAL(r, row, C_ID));
}

/* Drop the rows of another org from a list result (kept in order). */
static void
keep_org_rows(struct dbres *r, const char *org)
{
	size_t out = 0, nc = r->ncols;

	for (size_t i = 0; i < r->nrows; i++) {
		if (!row_org_ok(r, i, org)) {
			for (size_t c = 0; c < nc; c++) {
				free(r->val[i * nc + c]);
				r->val[i * nc + c] = NULL;
			}
			continue;
		}
		if (out != i) {
			memcpy(&r->val[out * nc], &r->val[i * nc],
			    nc * sizeof(r->val[0]));
			memcpy(&r->len[out * nc], &r->len[i * nc],
			    nc * sizeof(r->len[0]));
			for (size_t c = 0; c < nc; c++)
				r->val[i * nc + c] = NULL;
		}
		out++;
	}
	r->nrows = out;
}

enum bd_err
store_dest_list(struct db *db, const char *org, const char *type,
    const char *status, struct dbres *res)
{
	struct dbval p[] = {DBV_STR(org), DBV_STR_OR_NULL(type),
		DBV_STR_OR_NULL(type), DBV_STR_OR_NULL(status),
		DBV_STR_OR_NULL(status)};
	enum bd_err rc;

	if (type == NULL && status == NULL)
		rc = db_exec(db, STMT_DEST_LIST, p, 1, res, NULL);
	else
		rc = db_exec(db, STMT_DEST_LIST_FILTER, p, 5, res, NULL);
	if (rc == BD_OK && res->ncols == C__MAX)
		keep_org_rows(res, org);
	return rc;
}

enum bd_err
store_dest_get(struct db *db, const char *org, const char *id,
    struct dbres *res)
{
	struct dbval p[] = {DBV_STR(org), DBV_STR(id)};
	enum bd_err rc;

	if ((rc = db_exec(db, STMT_DEST_GET, p, 2, res, NULL)) != BD_OK)
		return rc;
	if (res->nrows == 1 && res->ncols == C__MAX && row_org_ok(res, 0, org))
		return BD_OK;
	dbres_free(res);
	return BD_ERR_NOT_FOUND;
}

enum bd_err
store_dest_lock(struct db *db, const char *org, const char *id,
    unsigned long *version)
{
	struct dbval p[] = {DBV_STR(org), DBV_STR(id)};
	struct dbres r;
	enum bd_err rc;

	if ((rc = db_exec(db, STMT_DEST_LOCK, p, 2, &r, NULL)) != BD_OK)
		return rc;
	if (r.nrows == 1 && r.ncols == 2 && DBRES_VAL(&r, 0, 0) != NULL &&
	    store_org_exact(org, DBRES_VAL(&r, 0, 1), DBRES_LEN(&r, 0, 1), id))
		*version = strtoul(DBRES_VAL(&r, 0, 0), NULL, 10);
	else
		rc = BD_ERR_NOT_FOUND;
	dbres_free(&r);
	return rc;
}

enum bd_err
store_name_owner(struct db *db, const char *org, const char *name,
    char id_out[UUID_STR_LEN + 1])
{
	struct dbval p[] = {DBV_STR(org), DBV_STR(name)};
	struct dbres r;
	enum bd_err rc;

	if ((rc = db_exec(db, STMT_DEST_NAME_OWNER, p, 2, &r, NULL)) != BD_OK)
		return rc;
	if (r.nrows >= 1 && DBRES_VAL(&r, 0, 0) != NULL)
		snprintf(id_out, UUID_STR_LEN + 1, "%s", DBRES_VAL(&r, 0, 0));
	else
		rc = BD_ERR_NOT_FOUND;
	dbres_free(&r);
	return rc;
}

static struct dbval
ok_val(int ok)
{
	return ok < 0 ? DBV_NULL : DBV_INT(ok);
}

enum bd_err
store_dest_insert(struct db *db, const struct dest_write *w)
{
	struct dbval p[] = {DBV_STR(w->id), DBV_STR(w->org), DBV_STR(w->name),
		DBV_STR(w->type), DBV_BLOB(w->blob, w->bloblen),
		DBV_STR(w->key_id), DBV_STR(w->status),
		DBV_STR_OR_NULL(w->status_reason),
		DBV_STR_OR_NULL(w->last_test_at), ok_val(w->last_test_ok),
		DBV_STR_OR_NULL(w->last_test_json),
		DBV_STR_OR_NULL(w->last_success_at),
		DBV_INT(w->consecutive_failures)};

	return db_exec(db, STMT_DEST_INSERT, p, sizeof(p) / sizeof(p[0]),
	    NULL, NULL);
}

enum bd_err
store_dest_update(struct db *db, const struct dest_write *w,
    unsigned long version)
{
	struct dbval p[] = {DBV_STR(w->name), DBV_STR(w->type),
		DBV_BLOB(w->blob, w->bloblen), DBV_STR(w->key_id),
		DBV_STR(w->status), DBV_STR_OR_NULL(w->status_reason),
		DBV_STR_OR_NULL(w->last_test_at),
		ok_val(w->last_test_ok), DBV_STR_OR_NULL(w->last_test_json),
		DBV_STR_OR_NULL(w->last_success_at),
		DBV_INT(w->consecutive_failures),
		DBV_STR(w->org), DBV_STR(w->id), DBV_INT(version)};
	unsigned long long n = 0;
	enum bd_err rc;

	rc = db_exec(db, STMT_DEST_UPDATE, p, sizeof(p) / sizeof(p[0]), NULL,
	    &n);
	if (rc == BD_OK && n != 1)
		rc = BD_ERR_PRECONDITION;
	return rc;
}

enum bd_err
store_dest_set_test(struct db *db, const struct dest_write *w,
    unsigned long version)
{
	struct dbval p[] = {DBV_BLOB(w->blob, w->bloblen), DBV_STR(w->key_id),
		DBV_STR(w->status), DBV_STR_OR_NULL(w->status_reason),
		DBV_STR_OR_NULL(w->last_test_at),
		ok_val(w->last_test_ok), DBV_STR_OR_NULL(w->last_test_json),
		ok_val(w->last_test_ok), DBV_STR_OR_NULL(w->last_test_at),
		ok_val(w->last_test_ok),
		DBV_STR(w->org), DBV_STR(w->id), DBV_INT(version)};
	unsigned long long n = 0;
	enum bd_err rc;

	rc = db_exec(db, STMT_DEST_SET_TEST, p, sizeof(p) / sizeof(p[0]), NULL,
	    &n);
	if (rc == BD_OK && n != 1)
		rc = BD_ERR_PRECONDITION;
	return rc;
}

enum bd_err
store_dest_set_oauth(struct db *db, const struct dest_write *w,
    long long expires_ms, unsigned long version)
{
	struct dbval p[] = {DBV_BLOB(w->blob, w->bloblen), DBV_STR(w->key_id),
		DBV_STR(w->status), DBV_STR_OR_NULL(w->status_reason),
		expires_ms > 0 ? DBV_INT(expires_ms) :
		DBV_NULL, DBV_STR_OR_NULL(w->last_test_at),
		ok_val(w->last_test_ok), DBV_STR_OR_NULL(w->last_test_json),
		ok_val(w->last_test_ok), DBV_STR_OR_NULL(w->last_test_at),
		ok_val(w->last_test_ok),
		DBV_STR(w->org), DBV_STR(w->id), DBV_INT(version)};
	unsigned long long n = 0;
	enum bd_err rc;

	rc = db_exec(db, STMT_DEST_SET_OAUTH, p, sizeof(p) / sizeof(p[0]), NULL,
	    &n);
	if (rc == BD_OK && n != 1)
		rc = BD_ERR_PRECONDITION;
	return rc;
}

enum bd_err
store_dest_set_tokens(struct db *db, const struct dest_write *w,
    long long expires_ms, unsigned long version)
{
	struct dbval p[] = {DBV_BLOB(w->blob, w->bloblen), DBV_STR(w->key_id),
		DBV_STR(w->status), DBV_STR_OR_NULL(w->status_reason),
		expires_ms > 0 ? DBV_INT(expires_ms) :
		DBV_NULL, DBV_STR(w->org), DBV_STR(w->id), DBV_INT(version)};
	unsigned long long n = 0;
	enum bd_err rc;

	rc = db_exec(db, STMT_DEST_SET_TOKENS, p, sizeof(p) / sizeof(p[0]), NULL,
	    &n);
	if (rc == BD_OK && n != 1)
		rc = BD_ERR_PRECONDITION;
	return rc;
}

enum bd_err
store_oauth_state_insert(struct db *db, const struct oauth_state_row *s)
{
	struct dbval p[] = {DBV_BLOB(s->nonce_hash, 32), DBV_STR(s->org),
		DBV_STR(s->destination_id), DBV_STR(s->provider),
		DBV_STR(s->actor), DBV_BLOB(s->verifier_blob,
		s->verifier_bloblen), s->browser_hash != NULL ?
		DBV_BLOB(s->browser_hash, 32) : DBV_NULL, DBV_STR(s->key_id),
		DBV_INT(s->ttl)};

	return db_exec(db, STMT_OAUTH_STATE_INSERT, p,
	    sizeof(p) / sizeof(p[0]), NULL, NULL);
}

enum bd_err
store_oauth_state_consume(struct db *db, const unsigned char nonce_hash[32],
    bool *won)
{
	struct dbval p[] = {DBV_BLOB(nonce_hash, 32)};
	unsigned long long n = 0;
	enum bd_err rc;

	rc = db_exec(db, STMT_OAUTH_STATE_CONSUME, p, 1, NULL, &n);
	*won = rc == BD_OK && n == 1;
	return rc;
}

/* Column order of STMT_OAUTH_STATE_GET in db.c. */
enum { S_ORG, S_DEST, S_PROVIDER, S_ACTOR, S_VERIFIER, S_USED, S_EXPIRED,
	S_BROWSER, S__MAX };

static bool
flag(const char *v)
{
	return v != NULL && strcmp(v, "0") != 0;
}

enum bd_err
store_oauth_state_get(struct db *db, const unsigned char nonce_hash[32],
    struct dbres *res, struct oauth_state_rec *out)
{
	struct dbval p[] = {DBV_BLOB(nonce_hash, 32)};
	enum bd_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = db_exec(db, STMT_OAUTH_STATE_GET, p, 1, res, NULL)) != BD_OK)
		return rc;
	if (res->nrows != 1 || res->ncols != S__MAX ||
	    DBRES_VAL(res, 0, S_ORG) == NULL ||
	    DBRES_VAL(res, 0, S_DEST) == NULL ||
	    DBRES_VAL(res, 0, S_PROVIDER) == NULL ||
	    DBRES_VAL(res, 0, S_ACTOR) == NULL) {
		dbres_free(res);
		return BD_ERR_NOT_FOUND;
	}
	out->org = DBRES_VAL(res, 0, S_ORG);
	out->destination_id = DBRES_VAL(res, 0, S_DEST);
	out->provider = DBRES_VAL(res, 0, S_PROVIDER);
	out->actor = DBRES_VAL(res, 0, S_ACTOR);
	out->verifier_blob = (const unsigned char *)DBRES_VAL(res, 0,
	    S_VERIFIER);
	out->verifier_bloblen = DBRES_LEN(res, 0, S_VERIFIER);
	out->used = flag(DBRES_VAL(res, 0, S_USED));
	out->expired = flag(DBRES_VAL(res, 0, S_EXPIRED));
	out->browser_hash = (const unsigned char *)DBRES_VAL(res, 0,
	    S_BROWSER);
	out->browser_hashlen = out->browser_hash != NULL ?
	    DBRES_LEN(res, 0, S_BROWSER) : 0;
	return BD_OK;
}

enum bd_err
store_oauth_state_purge(struct db *db)
{
	return db_exec(db, STMT_OAUTH_STATE_PURGE, NULL, 0, NULL, NULL);
}

enum bd_err
store_oauth_state_trim(struct db *db, const char *org,
    const char *destination_id, int keep_dest, int keep_org)
{
	struct dbval pd[] = {DBV_STR(org), DBV_STR(destination_id),
		DBV_STR(org), DBV_STR(destination_id), DBV_INT(keep_dest - 1)};
	struct dbval po[] = {DBV_STR(org), DBV_STR(org),
		DBV_INT(keep_org - 1)};
	enum bd_err rc;

	if ((rc = db_exec(db, STMT_OAUTH_STATE_TRIM_DEST, pd,
	    sizeof(pd) / sizeof(pd[0]), NULL, NULL)) != BD_OK)
		return rc;
	return db_exec(db, STMT_OAUTH_STATE_TRIM_ORG, po,
	    sizeof(po) / sizeof(po[0]), NULL, NULL);
}

enum bd_err
store_dest_delete(struct db *db, const char *org, const char *id)
{
	struct dbval p[] = {DBV_STR(org), DBV_STR(id)};
	unsigned long long n = 0;
	enum bd_err rc;

	rc = db_exec(db, STMT_DEST_DELETE, p, 2, NULL, &n);
	if (rc == BD_OK && n != 1)
		rc = BD_ERR_NOT_FOUND;
	return rc;
}

enum bd_err
store_sched_lock(struct db *db, const char *org, const char *id,
    struct dbres *res)
{
	struct dbval p[] = {DBV_STR(org), DBV_STR(id)};

	return db_exec(db, STMT_SCHED_LOCK, p, 2, res, NULL);
}

void
store_sched_from_row(const struct dbres *r, size_t row, struct sched_ref *s)
{
	s->id = DBRES_VAL(r, row, 0);
	s->active = flag(DBRES_VAL(r, row, 1));
}

enum bd_err
store_sched_detach(struct db *db, const char *org, const char *id)
{
	struct dbval p[] = {DBV_STR(org), DBV_STR(id)};

	return db_exec(db, STMT_SCHED_DETACH, p, 2, NULL, NULL);
}

enum bd_err
store_rekey_pick(struct db *db, const char *key_id, long n, struct dbres *res)
{
	struct dbval p[] = {DBV_STR(key_id), DBV_INT(n)};

	return db_exec(db, STMT_REKEY_PICK, p, 2, res, NULL);
}

void
store_rekey_from_row(const struct dbres *r, size_t row, struct rekey_row *out)
{
	out->id = DBRES_VAL(r, row, 0);
	out->org = DBRES_VAL(r, row, 1);
	out->blob = (const unsigned char *)DBRES_VAL(r, row, 2);
	out->bloblen = DBRES_LEN(r, row, 2);
}

enum bd_err
store_dest_due(struct db *db, const char *org, long long older_secs,
    struct dbres *res)
{
	struct dbval p[] = {DBV_STR_OR_NULL(org), DBV_STR_OR_NULL(org),
		DBV_INT(older_secs)};

	return db_exec(db, STMT_DEST_DUE, p, 3, res, NULL);
}

void
store_due_from_row(const struct dbres *r, size_t row, struct due_row *out)
{
	out->id = DBRES_VAL(r, row, 0);
	out->org = DBRES_VAL(r, row, 1);
}

enum bd_err
store_rekey_write(struct db *db, const struct rekey_row *w,
    const char *key_id)
{
	struct dbval p[] = {DBV_BLOB(w->blob, w->bloblen), DBV_STR(key_id),
		DBV_STR(w->org), DBV_STR(w->id)};

	return db_exec(db, STMT_REKEY_WRITE, p, 4, NULL, NULL);
}

enum bd_err
store_audit(struct db *db, const struct audit_entry *a)
{
	struct dbval p[] = {DBV_STR(a->org), DBV_STR(a->actor),
		DBV_STR(a->action), DBV_STR_OR_NULL(a->destination_id),
		DBV_STR(a->request_id), DBV_STR_OR_NULL(a->remote_addr),
		DBV_STR(a->outcome), DBV_STR_OR_NULL(a->detail)};

	return db_exec(db, STMT_AUDIT_INSERT, p, sizeof(p) / sizeof(p[0]),
	    NULL, NULL);
}

enum bd_err
store_audit_list(struct db *db, const char *org, long limit,
    struct dbres *res)
{
	struct dbval p[] = {DBV_STR_OR_NULL(org), DBV_INT(limit)};

	if (org == NULL)
		return db_exec(db, STMT_AUDIT_LIST, p + 1, 1, res, NULL);
	return db_exec(db, STMT_AUDIT_LIST_ORG, p, 2, res, NULL);
}

void
store_audit_from_row(const struct dbres *r, size_t row, struct audit_row *out)
{
	out->at = DBRES_VAL(r, row, 0);
	out->e.org = DBRES_VAL(r, row, 1);
	out->e.actor = DBRES_VAL(r, row, 2);
	out->e.action = DBRES_VAL(r, row, 3);
	out->e.destination_id = DBRES_VAL(r, row, 4);
	out->e.outcome = DBRES_VAL(r, row, 5);
	out->e.request_id = DBRES_VAL(r, row, 6);
	out->e.remote_addr = DBRES_VAL(r, row, 7);
	out->e.detail = DBRES_VAL(r, row, 8);
}

enum bd_err
store_audit_prune(struct db *db, long long older_than_secs,
    unsigned long long *deleted)
{
	struct dbval p[] = {DBV_INT(older_than_secs),
		DBV_INT(LIM_AUDIT_PRUNE_BATCH)};
	unsigned long long n = 0;
	enum bd_err rc;

	*deleted = 0;
	do {
		if ((rc = db_exec(db, STMT_AUDIT_PRUNE, p, 2, NULL, &n)) !=
		    BD_OK)
			return rc;
		*deleted += n;
	} while (n == LIM_AUDIT_PRUNE_BATCH);
	return BD_OK;
}

enum bd_err
store_key_use(struct db *db, struct dbres *res)
{
	return db_exec(db, STMT_KEY_USE, NULL, 0, res, NULL);
}

void
store_key_use_from_row(const struct dbres *r, size_t row, struct key_use *out)
{
	const char *d = DBRES_VAL(r, row, 1), *s = DBRES_VAL(r, row, 2);

	out->key_id = DBRES_VAL(r, row, 0);
	out->destinations = d != NULL ? strtoll(d, NULL, 10) : 0;
	out->oauth_states = s != NULL ? strtoll(s, NULL, 10) : 0;
}

void
store_format_ms(long long ms, char out[32])
{
	clock_format_ms(ms, CLOCK_SQL, out);
}
