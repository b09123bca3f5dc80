/*
 * The destination service: what the HTTP handlers do to a destination, with
 * no HTTP in it. Opening, sealing and wiping of configs; the Destination
 * representation (its JSON member names live here and nowhere else); the
 * status names; ONE locked-write helper that every read-modify-write of a
 * row goes through; the OAuth token carry, the token refresh and the
 * callback's store; create, update, delete and test.
 *
 * A request reads its row once (dest_load) and decrypts its config once;
 * the row is read again only under the lock, and only when its version
 * moved since (then the OAuth tokens, status and last test are carried from
 * the row as it is now). Answers after a write re-read the row for the
 * database's timestamps but redact the config the request already holds.
 *
 * Ownership: every json_object handed in is borrowed; every one handed out
 * is a new reference. Plaintext configs are released with wipe_json_put()
 * (wipe.h).
 */
#ifndef BD_DEST_H
#define BD_DEST_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "cfg.h"
#include "clock.h"
#include "db.h"
#include "dtype.h"
#include "egress.h"
#include "err.h"
#include "oauth.h"
#include "oauth_cookie.h"
#include "probe/probe.h"
#include "store.h"
#include "uuid.h"
#include "vault.h"

enum dest_status {
	DEST_ACTIVE,
	DEST_ERROR,
	DEST_PENDING,            /* OAuth: waiting for the consent */
	DEST_STATUS__MAX
};

/* "active", "error", "pending_authorization" (static storage). */
const char *dest_status_name(enum dest_status);
/* The status of a name; DEST_ERROR for a name that is not one. */
enum dest_status dest_status_of(const char *name);
/* Strict: false for NULL or a name that is not a status (?status=). */
bool dest_status_parse(const char *name, enum dest_status *out);

/* Why a destination is in its status (Destination.statusReason). */
enum dest_reason {
	DEST_REASON_NONE,            /* active and healthy: null */
	DEST_REASON_TEST_FAILED,     /* error: the last test failed */
	DEST_REASON_REAUTH,          /* OAuth grant revoked or expired */
	DEST_REASON_NOT_AUTHORIZED,  /* OAuth never completed */
	DEST_REASON_CRED_EXPIRING,   /* active; credentials expire soon */
	DEST_REASON__MAX
};
/* "test_failed", ... (static storage); NULL for DEST_REASON_NONE. */
const char *dest_reason_name(enum dest_reason);
/* The reason of a stored name; DEST_REASON_NONE for NULL or unknown. */
enum dest_reason dest_reason_of(const char *name);
/*
 * The reason a test's outcome leaves: none when it passed; reauthorization
 * when it found the grant revoked; for a destination waiting for consent,
 * the reason it had (reauthorization stays reauthorization, anything else
 * is not_authorized); test_failed otherwise.
 */
enum dest_reason dest_test_reason(bool ok, bool pending, bool revoked,
    enum dest_reason before);

/*
 * What the service works with for one request: the worker's warm state
 * (borrowed) and who acts (org filters every row; the rest goes into the
 * audit rows). All borrowed for the length of the request.
 */
struct dest_ctx {
	const struct cfg *cfg;
	struct db *db;
	struct vault *vault;
	const struct egress *egress;
	const char *org, *actor, *request_id, *remote_addr;
	/* Monotonic ms by which the request's outbound work must be done
	 * (0: none): a refresh and the test after it share it. */
	long long deadline_ms;
};

/* Append one audit row (a failure to write it is logged, not returned).
 * Never pass a secret in detail. */
void dest_audit(const struct dest_ctx *, const char *action,
    const char *dest_id, const char *outcome, const char *detail);

/* A probe environment for the context: its org (local_per_org) and the
 * request's deadline (probe_run also holds each probe to probe_timeout). */
void dest_probe_env(const struct dest_ctx *, struct probe_env *);

/* One destination as a request reads it. */
struct dest_loaded {
	struct dbres r;             /* owns what d borrows */
	struct dest d;
	const struct dtype *t;      /* NULL: a type no longer in the registry */
	enum dest_status status;
	json_object *config;        /* decrypted, or NULL (not opened) */
};

/*
 * Read the org's destination `id` (not a UUID: BD_ERR_NOT_FOUND) and, with
 * open, decrypt its config (BD_ERR_CRYPTO / BD_ERR_INTERNAL when it does not
 * open or the type is unknown). Release with dest_loaded_free(), also after
 * a failure.
 */
enum bd_err dest_load(const struct dest_ctx *, const char *id, bool open,
    struct dest_loaded *);
void dest_loaded_free(struct dest_loaded *);
/* Decrypt a loaded row's config into l->config when it is not yet. */
enum bd_err dest_open(const struct dest_ctx *, struct dest_loaded *);

/*
 * The contract's Destination for a row, its config redacted from `config`
 * (a plaintext config of the row's type; NULL or an unknown type: {}).
 * New reference; NULL on OOM.
 */
json_object *dest_json(const struct dest *, const struct dtype *,
    json_object *config);

/* A row's Destination as the list shows it: its config opened (ctx->vault
 * NULL, an unknown type or a config that does not open: {}), lastTest
 * written out as stored. New reference. */
json_object *dest_row_json(const struct dest_ctx *, const struct dest *);

/* The row's last test: 1 passed, 0 failed, -1 never tested. */
int dest_last_test_ok(const struct dest *);

/* GET list: the org's destinations of a type and in a status (NULL: any)
 * as a new array. */
enum bd_err dest_list(const struct dest_ctx *, const char *type,
    const char *status, json_object **out);

/*
 * After a write: re-read the row for the database's timestamps and version
 * and build its Destination from `config` (the plaintext just sealed).
 * *out new reference, *version the ETag's number.
 */
enum bd_err dest_answer(const struct dest_ctx *, const char *id,
    json_object *config, json_object **out, unsigned long *version);

/*
 * ---- The locked write ----
 *
 * Every read-modify-write of a destination row is one dest_tx_run():
 * BEGIN; SELECT version ... FOR UPDATE (and the exact org check); the body;
 * then either (body returned BD_OK) the audit row and COMMIT, or ROLLBACK
 * and then the audit row, which so survives the rollback. The body compares
 * the locked version with what it read, writes through the store, and sets
 * outcome/detail (outcome NULL: no audit row).
 *
 * The whole transaction is re-run when a statement or the COMMIT loses a
 * lock conflict (db_retryable(): deadlock 1213, which is also Galera's
 * certification failure, or lock wait timeout 1205), or loses the
 * connection before the COMMIT (db_conn_lost(): the re-run connects to the
 * next node; a lost COMMIT is not re-run, whether it landed is unknown):
 * after the rollback, with a jittered back-off (db_backoff), from BEGIN, at most
 * LIM_DB_TX_ATTEMPTS runs in all; a lost run leaves no audit row. The re-run
 * reads what the winner committed (causal reads, db.h) and so answers what
 * a single node would (412, 409, not found). Only when every run lost is the
 * answer 503 with Retry-After. So a body (1) decides only from what it reads
 * under the lock, (2) keeps its outputs in its arg and replaces them,
 * freeing the old ones, when it runs again, and (3) caches any effect
 * outside the database (a token refresh at the provider) in its arg, so a
 * re-run reuses it instead of repeating it.
 */
struct dest_tx;
typedef enum bd_err (*dest_tx_body)(const struct dest_ctx *, struct dest_tx *,
    unsigned long locked);
struct dest_tx {
	const char *id;          /* the row */
	const char *action;      /* audit action, e.g. "destination.update" */
	dest_tx_body body;
	void *arg;               /* the body's own state */
	const char *outcome, *detail; /* set by the body */
};
/* Returns the body's error, the lock's (BD_ERR_NOT_FOUND for a row that is
 * gone) or the commit's. */
enum bd_err dest_tx_run(const struct dest_ctx *, struct dest_tx *);

/* A sealed config (owned). */
struct dest_sealed {
	unsigned char *blob;
	size_t len;
};
void dest_sealed_free(struct dest_sealed *);
/* Seal config for (ctx->org, id) into *s, replacing what it held. */
enum bd_err dest_seal(const struct dest_ctx *, const char *id,
    json_object *config, struct dest_sealed *s);

/*
 * ---- The operations (each audited; each failure changes nothing) ----
 */

/* 409 helper: BD_OK when no other destination of the org has the name,
 * BD_ERR_CONFLICT (audited for `action` on `self`) when one has. */
enum bd_err dest_name_free(const struct dest_ctx *, const char *name,
    const char *self);

/*
 * POST: test the input for real (not an OAuth type), seal, insert, audit.
 * BD_ERR_TEST_FAILED with *res filled; BD_ERR_CONFLICT for a name taken.
 * On BD_OK id holds the new id and in->config the config as stored.
 */
enum bd_err dest_create(const struct dest_ctx *, const struct dest_input *in,
    struct probe_result *res, char id[UUID_STR_LEN + 1]);

/*
 * PUT of cur (loaded with its config) to `in`, whose placeholders are
 * already merged. Tests (not OAuth) unlocked, then writes under the lock
 * when the version still satisfies if_match (NULL: unconditional; else
 * BD_ERR_PRECONDITION). BD_ERR_TEST_FAILED with *res filled.
 */
enum bd_err dest_update(const struct dest_ctx *, struct dest_loaded *cur,
    const struct dest_input *in, const char *if_match,
    struct probe_result *res);

/* DELETE's answer: {"id": id, "deleted": true} (new reference). */
json_object *dest_deleted_json(const char *id);

/* DELETE: BD_ERR_CONFLICT with *active_ids (new array) while an active
 * schedule references it; inactive schedules are detached. */
enum bd_err dest_delete(const struct dest_ctx *, const char *id,
    json_object **active_ids);

/*
 * POST /{id}/test of cur (loaded with its config): refresh an OAuth token
 * when needed, probe, record the outcome (unless a PUT changed the row
 * meanwhile: then it is answered but not recorded). BD_OK whatever the
 * probe said: *res tells.
 */
enum bd_err dest_test(const struct dest_ctx *, struct dest_loaded *cur,
    struct probe_result *res);

/*
 * Before probing an OAuth destination: refresh an access token that expires
 * within LIM_OAUTH_REFRESH_MARGIN_MS (60 s), under the row lock (a rotated
 * refresh token is kept). *config and *version follow the row. *fail tells
 * the probe to skip: DEST_FRESH_REVOKED (tokens removed, status back to
 * pending_authorization), _UNREACHABLE, _CLIENT (client refused: tokens
 * kept, a corrected secret makes them work again).
 */
enum dest_fresh { DEST_FRESH_OK, DEST_FRESH_REVOKED, DEST_FRESH_UNREACHABLE,
	DEST_FRESH_CLIENT };
enum bd_err dest_oauth_fresh(const struct dest_ctx *, const char *id,
    const char *type, json_object **config, unsigned long *version,
    enum dest_fresh *fail);

/* POST /{id}/oauth: the answer's parts (static-size buffers). */
struct dest_oauth_start {
	char *url;                   /* malloc'd authorization URL */
	char state[160];
	char expires_at[CLOCK_TEXT_MAX]; /* RFC 3339 */
	/* The backupd_oauth cookie's value for the browser (its hash is
	 * stored with the state); the caller wipes it after use. */
	char browser[OAUTH_COOKIE_VALUE_LEN + 1];
};
/* BD_ERR_INVALID with a pointer and message in errs when the destination
 * or the server cannot start a flow. Caller frees out->url. */
enum bd_err dest_oauth_start(const struct dest_ctx *, struct dest_loaded *cur,
    struct dest_oauth_start *out, struct verrs *errs);

/*
 * GET /oauth/callback: consume the state, exchange the code, run the first
 * test and store the tokens. Returns NULL on success or the reason for the
 * settings page, one of the contract's codes: access_denied or the
 * provider's own error code (a [a-z0-9_] token; the result then points into
 * cb->error), invalid_request (a provider error that is not such a token),
 * invalid_state, expired_state, browser_mismatch, exchange_failed, busy.
 * *dest_id is the destination the state named once the state was won
 * (NULL before); org and actor (sized buffers) name who started the flow,
 * for the log line. Every failure after the state is known is audited.
 */
struct dest_callback {
	const char *state, *code, *error;   /* query parameters, may be NULL */
	const char *cookie;                 /* the Cookie header, may be NULL */
	char dest_id[UUID_STR_LEN + 1];     /* "" until known */
	char org[LIM_ORG_MAX + 1];
	char actor[LIM_SUB_MAX + 1];
};
const char *dest_oauth_callback(const struct dest_ctx *,
    struct dest_callback *);

#endif
