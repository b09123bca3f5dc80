/*
 * The destination store: typed calls over db.h's statements. Rows are read
 * into a struct dbres owned by the caller; struct dest borrows from it.
 * Every call takes the caller's org and filters by it: another org's row is
 * BD_ERR_NOT_FOUND, exactly like a missing one. As defence in depth against
 * a collation that compares "acme " equal to "acme" (issue 13), every
 * destination row read back must carry exactly the caller's org, byte for
 * byte; a row that does not is logged (ids only) and treated as not found.
 * No caller outside this file indexes a result column by number.
 */
#ifndef BD_STORE_H
#define BD_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "uuid.h"

/* A destination row; every pointer borrows from the dbres it came from. */
struct dest {
	const char *id, *org, *name, *type, *key_id, *status;
	const char *last_test_json;     /* NULL: never tested */
	const unsigned char *blob;
	size_t bloblen;
	unsigned long version;
	char created_at[32], updated_at[32]; /* RFC 3339, UTC, milliseconds */
	long active_schedules;
	const char *status_reason;      /* NULL: none (active and healthy) */
	char last_success_at[32];       /* RFC 3339, or "" when never */
	long consecutive_failures;
};

/* Fill *d from row `row` of a result of store_dest_list/_get. */
void store_dest_from_row(const struct dbres *r, size_t row, struct dest *d);

/* All of an org's destinations, newest first, of one type and/or in one
 * status (NULL: any). A row whose org is not byte-identical to `org` is
 * dropped from res. */
enum bd_err store_dest_list(struct db *, const char *org, const char *type,
    const char *status, struct dbres *res);

/* One destination into res (one row) or BD_ERR_NOT_FOUND. */
enum bd_err store_dest_get(struct db *, const char *org, const char *id,
    struct dbres *res);

/* True when the org read back (len bytes) is exactly `org`; logs a
 * mismatch with the row's id (never a secret). */
bool store_org_exact(const char *org, const char *row_org, size_t len,
    const char *row_id);

/* Lock the row (inside a transaction) and read its version. */
enum bd_err store_dest_lock(struct db *, const char *org, const char *id,
    unsigned long *version);

/* Id of the org's destination with this name into id_out, or NOT_FOUND. */
enum bd_err store_name_owner(struct db *, const char *org, const char *name,
    char id_out[UUID_STR_LEN + 1]);

/* What a write stores. last_test_ok: 1, 0, or -1 for NULL. */
struct dest_write {
	const char *id, *org, *name, *type, *status, *key_id;
	const unsigned char *blob;
	size_t bloblen;
	const char *last_test_at;   /* "YYYY-MM-DD HH:MM:SS.mmm" or NULL */
	int last_test_ok;
	const char *last_test_json; /* or NULL */
	const char *status_reason;  /* or NULL (every write sets it) */
	/* Insert and update only (a test's outcome moves them in SQL, under
	 * the lock): "YYYY-MM-DD HH:MM:SS.mmm" or NULL, and the count. */
	const char *last_success_at;
	long consecutive_failures;
};

/* BD_ERR_CONFLICT when the name is taken in the org. */
enum bd_err store_dest_insert(struct db *, const struct dest_write *);
/* BD_ERR_PRECONDITION when the row's version is no longer `version`. */
enum bd_err store_dest_update(struct db *, const struct dest_write *,
    unsigned long version);
/*
 * The writes under the row lock (set_test, set_oauth, set_tokens) are
 * guarded by the version the lock read: BD_ERR_PRECONDITION when they did
 * not change exactly that row (on Galera the local lock does not see a
 * write set another node committed but this one has not applied yet).
 */
/* Record a test outcome (and a possibly re-sealed config): a pass sets
 * last_success_at to last_test_at and clears consecutive_failures, a
 * failure adds one to it. */
enum bd_err store_dest_set_test(struct db *, const struct dest_write *,
    unsigned long version);
enum bd_err store_dest_delete(struct db *, const char *org, const char *id);

/* Lock the org's schedules that reference the destination (rows and index
 * gap, so none can be attached or activated concurrently), ordered by id;
 * read them with store_sched_from_row. */
enum bd_err store_sched_lock(struct db *, const char *org, const char *id,
    struct dbres *res);
/* A schedule that references a destination; borrows from the dbres. */
struct sched_ref {
	const char *id;
	bool active;
};
void store_sched_from_row(const struct dbres *r, size_t row,
    struct sched_ref *s);
/* Detach the inactive schedules from a destination about to be deleted. */
enum bd_err store_sched_detach(struct db *, const char *org, const char *id);

/* The OAuth callback: tokens sealed in the config, the first test (whose
 * outcome moves the health columns as store_dest_set_test does), the
 * status; expires_ms is the access token's expiry (unix ms). */
enum bd_err store_dest_set_oauth(struct db *, const struct dest_write *,
    long long expires_ms, unsigned long version);
/* A token refresh or a revoked grant: config, key, status, expiry (<= 0:
 * NULL). */
enum bd_err store_dest_set_tokens(struct db *, const struct dest_write *,
    long long expires_ms, unsigned long version);

/* OAuth states (DESIGN.md "Data"): keyed by sha256 of the state's nonce. */
struct oauth_state_row {
	const unsigned char *nonce_hash; /* 32 bytes */
	const char *org, *destination_id, *provider, *actor, *key_id;
	const unsigned char *verifier_blob;
	size_t verifier_bloblen;
	const unsigned char *browser_hash; /* 32 bytes: sha256 of the
					    * backupd_oauth cookie; or NULL */
	int ttl;                          /* seconds */
};
enum bd_err store_oauth_state_insert(struct db *,
    const struct oauth_state_row *);
/* Mark the state used if it is unused and unexpired: *won tells whether
 * this call did (one winner among concurrent callbacks). */
enum bd_err store_oauth_state_consume(struct db *,
    const unsigned char nonce_hash[32], bool *won);
/* A stored state as read back; borrows from the dbres it came from. */
struct oauth_state_rec {
	const char *org, *destination_id, *provider, *actor;
	const unsigned char *verifier_blob;
	size_t verifier_bloblen;
	bool used, expired;
	/* sha256 of the browser-binding cookie; NULL (len 0) for a state
	 * made before migration 006 */
	const unsigned char *browser_hash;
	size_t browser_hashlen;
};
/* The state row into res and *out, or BD_ERR_NOT_FOUND. */
enum bd_err store_oauth_state_get(struct db *,
    const unsigned char nonce_hash[32], struct dbres *res,
    struct oauth_state_rec *out);
/* Forget states that expired more than a day ago (a few at a time). */
enum bd_err store_oauth_state_purge(struct db *);
/* Before a new state: drop the unused states of the destination but its
 * newest keep_dest - 1, then those of the org but its newest keep_org - 1,
 * so with the new one neither holds more than its cap. */
enum bd_err store_oauth_state_trim(struct db *, const char *org,
    const char *destination_id, int keep_dest, int keep_org);

/* backupctl rekey (spans orgs on purpose): lock up to n rows not sealed
 * under key_id, ordered by id; read them with store_rekey_from_row. */
enum bd_err store_rekey_pick(struct db *, const char *key_id, long n,
    struct dbres *res);
/* A row to re-seal; borrows from the dbres. */
struct rekey_row {
	const char *id, *org;
	const unsigned char *blob;
	size_t bloblen;
};
void store_rekey_from_row(const struct dbres *r, size_t row,
    struct rekey_row *out);
/* backupctl test-all (spans orgs on purpose): the destinations of org
 * (NULL: every org) whose last test is older than older_secs or that were
 * never tested, oldest first; read them with store_due_from_row. */
enum bd_err store_dest_due(struct db *, const char *org, long long older_secs,
    struct dbres *res);
struct due_row {
	const char *id, *org;
};
void store_due_from_row(const struct dbres *r, size_t row,
    struct due_row *out);

/* Store the config re-sealed under key_id. */
enum bd_err store_rekey_write(struct db *, const struct rekey_row *,
    const char *key_id);

struct audit_entry {
	const char *org, *actor, *action, *destination_id, *request_id,
	    *remote_addr, *outcome, *detail;
};
/* Append to audit_log. Never pass a secret in detail. */
enum bd_err store_audit(struct db *, const struct audit_entry *);

/* backupctl audit list: the newest `limit` entries (org NULL: every org);
 * read them with store_audit_from_row. */
enum bd_err store_audit_list(struct db *, const char *org, long limit,
    struct dbres *res);
/* An entry as read back (NULL for a column that is NULL); borrows from the
 * dbres. at is RFC 3339 with microseconds. */
struct audit_row {
	const char *at;
	struct audit_entry e;
};
void store_audit_from_row(const struct dbres *r, size_t row,
    struct audit_row *out);
/* backupctl audit prune: delete the entries older than older_than_secs,
 * LIM_AUDIT_PRUNE_BATCH per statement so no lock is held long; *deleted
 * counts them (also those of the batches before a failure). */
enum bd_err store_audit_prune(struct db *, long long older_than_secs,
    unsigned long long *deleted);

/* backupctl keys list: per key id (ordered), the destination rows and
 * OAuth states sealed under it, over every org; read with
 * store_key_use_from_row. */
enum bd_err store_key_use(struct db *, struct dbres *res);
struct key_use {
	const char *key_id;      /* borrows from the dbres */
	long long destinations, oauth_states;
};
void store_key_use_from_row(const struct dbres *r, size_t row,
    struct key_use *out);

/* "YYYY-MM-DD HH:MM:SS.mmm" (UTC) for a unix time in ms: clock_format_ms()
 * with CLOCK_SQL, kept while cgi/handlers.c still calls it. */
void store_format_ms(long long ms, char out[32]);

#endif
