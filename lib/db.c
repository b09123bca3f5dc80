#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include "clock.h"
#include "db.h"
#include "bd_limits.h"
#include "log.h"

/* Columns of a destination as store.c reads them (keep in step with it). */
#define DEST_COLS                                                              \
	"d.id, d.org_id, d.name, d.destination_type, d.config_ciphertext, "  \
	"d.key_id, d.status, d.last_test_json, d.version, "                  \
	"DATE_FORMAT(d.created_at, '%Y-%m-%dT%H:%i:%s.%f'), "                \
	"DATE_FORMAT(d.updated_at, '%Y-%m-%dT%H:%i:%s.%f'), "                \
	"(SELECT COUNT(*) FROM backup_schedules s WHERE s.org_id = d.org_id " \
	"AND s.destination_id = d.id AND s.active = 1), "                   \
	"d.status_reason, "                                                  \
	"DATE_FORMAT(d.last_success_at, '%Y-%m-%dT%H:%i:%s.%f'), "           \
	"d.consecutive_failures"

/* An org id parameter compared byte for byte whatever the column's
 * collation (DESIGN.md "Data"). */
#define ORG_EXACT "CONVERT(? USING utf8mb4) COLLATE utf8mb4_nopad_bin"

/* Columns of an audit entry as store.c reads them (keep in step with it). */
#define AUDIT_COLS                                                             \
	"DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%s.%fZ'), org_id, actor, action, "  \
	"destination_id, outcome, request_id, remote_addr, detail"

/* Every statement of the service. Each one that reads or writes a
 * destination filters by org_id; the rekey, key-use and audit-listing
 * statements are the operator tool's and span orgs on purpose. */
static const char *const stmts[STMT__MAX] = {
	[STMT_DEST_LIST] = "SELECT " DEST_COLS " FROM backup_destinations d "
	    "WHERE d.org_id = ? ORDER BY d.created_at DESC, d.id DESC",
	/* ?destinationType= and/or ?status= (a NULL pair matches all). */
	[STMT_DEST_LIST_FILTER] = "SELECT " DEST_COLS " FROM "
	    "backup_destinations d WHERE d.org_id = ? AND "
	    "(? IS NULL OR d.destination_type = ?) AND "
	    "(? IS NULL OR d.status = ?) "
	    "ORDER BY d.created_at DESC, d.id DESC",
	[STMT_DEST_GET] = "SELECT " DEST_COLS " FROM backup_destinations d "
	    "WHERE d.org_id = ? AND d.id = ?",
	[STMT_DEST_LOCK] = "SELECT version, org_id FROM backup_destinations "
	    "WHERE org_id = ? AND id = ? FOR UPDATE",
	[STMT_DEST_NAME_OWNER] = "SELECT id FROM backup_destinations "
	    "WHERE org_id = ? AND name = ?",
	[STMT_DEST_INSERT] = "INSERT INTO backup_destinations (id, org_id, "
	    "name, destination_type, config_ciphertext, key_id, status, "
	    "status_reason, last_test_at, last_test_ok, last_test_json, "
	    "last_success_at, consecutive_failures, version, created_at, "
	    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, "
	    "UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
	[STMT_DEST_UPDATE] = "UPDATE backup_destinations SET name = ?, "
	    "destination_type = ?, config_ciphertext = ?, key_id = ?, "
	    "status = ?, status_reason = ?, last_test_at = ?, last_test_ok = ?, "
	    "last_test_json = ?, last_success_at = ?, consecutive_failures = ?, "
	    "version = version + 1, updated_at = UTC_TIMESTAMP(3) "
	    "WHERE org_id = ? AND id = ? AND version = ?",
	/* A test's outcome: a pass sets last_success_at and clears the
	 * failure count, a failure adds one (the last two pairs of ? are
	 * the outcome and its time again). */
	[STMT_DEST_SET_TEST] = "UPDATE backup_destinations SET "
	    "config_ciphertext = ?, key_id = ?, status = ?, status_reason = ?, "
	    "last_test_at = ?, last_test_ok = ?, last_test_json = ?, "
	    "last_success_at = IF(? = 1, ?, last_success_at), "
	    "consecutive_failures = IF(? = 1, 0, consecutive_failures + 1), "
	    "version = version + 1, "
	    "updated_at = UTC_TIMESTAMP(3) WHERE org_id = ? AND id = ?",
	[STMT_DEST_DELETE] = "DELETE FROM backup_destinations "
	    "WHERE org_id = ? AND id = ?",
	/* Locks every schedule row (and the index gap) that points at the
	 * destination, so none can be activated or attached concurrently. */
	/* backup_schedules is the scheduler's table, its org_id collation
	 * theirs: compare byte for byte here (sql/006). */
	[STMT_SCHED_LOCK] = "SELECT id, active FROM backup_schedules "
	    "WHERE org_id = " ORG_EXACT " AND destination_id = ? "
	    "ORDER BY id FOR UPDATE",
	[STMT_SCHED_DETACH] = "UPDATE backup_schedules SET destination_id = NULL "
	    "WHERE org_id = " ORG_EXACT " AND destination_id = ? AND active = 0",
	[STMT_AUDIT_INSERT] = "INSERT INTO audit_log (at, org_id, actor, action, "
	    "destination_id, request_id, remote_addr, outcome, detail) VALUES "
	    "(UTC_TIMESTAMP(3), ?, ?, ?, ?, ?, ?, ?, ?)",
	/* The OAuth callback stores tokens and the first test in one go. */
	[STMT_DEST_SET_OAUTH] = "UPDATE backup_destinations SET "
	    "config_ciphertext = ?, key_id = ?, status = ?, status_reason = ?, "
	    "oauth_connected_at = UTC_TIMESTAMP(3), "
	    "oauth_token_expires_at = FROM_UNIXTIME(? / 1000), "
	    "last_test_at = ?, last_test_ok = ?, last_test_json = ?, "
	    "last_success_at = IF(? = 1, ?, last_success_at), "
	    "consecutive_failures = IF(? = 1, 0, consecutive_failures + 1), "
	    "version = version + 1, updated_at = UTC_TIMESTAMP(3) "
	    "WHERE org_id = ? AND id = ?",
	/* A refresh (new tokens) or a revoked grant (tokens gone). */
	[STMT_DEST_SET_TOKENS] = "UPDATE backup_destinations SET "
	    "config_ciphertext = ?, key_id = ?, status = ?, status_reason = ?, "
	    "oauth_token_expires_at = FROM_UNIXTIME(? / 1000), "
	    "version = version + 1, updated_at = UTC_TIMESTAMP(3) "
	    "WHERE org_id = ? AND id = ?",
	[STMT_OAUTH_STATE_INSERT] = "INSERT INTO oauth_states (nonce_sha256, "
	    "org_id, destination_id, provider, actor, verifier_ciphertext, "
	    "browser_sha256, key_id, created_at, expires_at) VALUES (?, ?, ?, "
	    "?, ?, ?, ?, ?, UTC_TIMESTAMP(3), "
	    "UTC_TIMESTAMP(3) + INTERVAL ? SECOND)",
	/* Single use: exactly one of concurrent callbacks changes the row. */
	[STMT_OAUTH_STATE_CONSUME] = "UPDATE oauth_states SET "
	    "used_at = UTC_TIMESTAMP(3) WHERE nonce_sha256 = ? AND "
	    "used_at IS NULL AND expires_at > UTC_TIMESTAMP(3)",
	/* The callback has no token: the state row is what names the org. */
	[STMT_OAUTH_STATE_GET] = "SELECT org_id, destination_id, provider, "
	    "actor, verifier_ciphertext, used_at IS NOT NULL, "
	    "expires_at <= UTC_TIMESTAMP(3), browser_sha256 FROM oauth_states "
	    "WHERE nonce_sha256 = ?",
	/* Unused states are capped: all but the newest ? of a destination,
	 * and of an org, go before a new one (issue 13). */
	[STMT_OAUTH_STATE_TRIM_DEST] = "DELETE FROM oauth_states WHERE "
	    "org_id = ? AND destination_id = ? AND used_at IS NULL AND "
	    "nonce_sha256 NOT IN (SELECT k FROM (SELECT nonce_sha256 AS k "
	    "FROM oauth_states WHERE org_id = ? AND destination_id = ? AND "
	    "used_at IS NULL ORDER BY created_at DESC, nonce_sha256 LIMIT ?) "
	    "newest)",
	[STMT_OAUTH_STATE_TRIM_ORG] = "DELETE FROM oauth_states WHERE "
	    "org_id = ? AND used_at IS NULL AND nonce_sha256 NOT IN (SELECT k "
	    "FROM (SELECT nonce_sha256 AS k FROM oauth_states WHERE org_id = ? "
	    "AND used_at IS NULL ORDER BY created_at DESC, nonce_sha256 "
	    "LIMIT ?) newest)",
	[STMT_OAUTH_STATE_PURGE] = "DELETE FROM oauth_states WHERE "
	    "expires_at < UTC_TIMESTAMP(3) - INTERVAL 1 DAY LIMIT 100",
	[STMT_REKEY_PICK] = "SELECT id, org_id, config_ciphertext "
	    "FROM backup_destinations WHERE key_id <> ? ORDER BY id LIMIT ? "
	    "FOR UPDATE",
	/* backupctl test-all (spans orgs on purpose): the destinations whose
	 * last test is older than ? seconds (or never ran), oldest first. */
	[STMT_DEST_DUE] = "SELECT id, org_id FROM backup_destinations WHERE "
	    "(? IS NULL OR org_id = ?) AND (last_test_at IS NULL OR "
	    "last_test_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND) "
	    "ORDER BY last_test_at, id",
	[STMT_REKEY_WRITE] = "UPDATE backup_destinations SET "
	    "config_ciphertext = ?, key_id = ? WHERE org_id = ? AND id = ?",
	/* Named locks of the session: probe slots without a master. */
	[STMT_LOCK_GET] = "SELECT GET_LOCK(?, 0)",
	[STMT_LOCK_RELEASE] = "SELECT RELEASE_LOCK(?)",
	[STMT_KEY_COUNTS] = "SELECT key_id, COUNT(*) FROM backup_destinations "
	    "GROUP BY key_id ORDER BY key_id LIMIT 16",
	/* backupctl keys list: rows per key id, over every org on purpose. */
	[STMT_KEY_USE] = "SELECT key_id, SUM(d), SUM(s) FROM ("
	    "SELECT key_id, 1 AS d, 0 AS s FROM backup_destinations UNION ALL "
	    "SELECT key_id, 0, 1 FROM oauth_states) k GROUP BY key_id "
	    "ORDER BY key_id",
	/* backupctl audit list (all orgs, or one), newest first. */
	[STMT_AUDIT_LIST] = "SELECT " AUDIT_COLS " FROM audit_log "
	    "ORDER BY id DESC LIMIT ?",
	[STMT_AUDIT_LIST_ORG] = "SELECT " AUDIT_COLS " FROM audit_log "
	    "WHERE org_id = ? ORDER BY id DESC LIMIT ?",
	/* backupctl audit prune: one batch (short locks). */
	[STMT_AUDIT_PRUNE] = "DELETE FROM audit_log WHERE "
	    "at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND ORDER BY id LIMIT ?",
};

struct db {
	const struct cfg *cfg; /* borrowed: outlives the handle */
	MYSQL *conn;
	MYSQL_STMT *st[STMT__MAX];
	bool in_tx;
	unsigned last_errno;
	long long retry_at_ms;  /* no new connect attempt before this */
};


static void
db_disconnect(struct db *db)
{
	for (size_t i = 0; i < STMT__MAX; i++) {
		if (db->st[i] != NULL)
			mysql_stmt_close(db->st[i]);
		db->st[i] = NULL;
	}
	if (db->conn != NULL)
		mysql_close(db->conn);
	db->conn = NULL;
	db->in_tx = false;
}

static bool
gone(unsigned e)
{
	return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
	    e == CR_CONNECTION_ERROR || e == CR_CONN_HOST_ERROR ||
	    e == CR_SERVER_LOST_EXTENDED || e == ER_CONNECTION_KILLED ||
	    e == 4031 /* ER_CLIENT_INTERACTION_TIMEOUT */ ||
	    e == ER_SERVER_SHUTDOWN;
}

/* (Re)connect and prepare every statement. */
static enum bd_err
db_connect(struct db *db)
{
	const struct cfg *c = db->cfg;
	unsigned int ct = LIM_DB_CONNECT_TIMEOUT, rw = LIM_DB_RW_TIMEOUT;
	enum bd_err rc = BD_ERR_DB_DOWN;

	db_disconnect(db);
	/* After a failed attempt, requests answer 503 at once for a moment
	 * instead of each waiting out a connect timeout to a dead host. */
	if (clock_mono_ms() < db->retry_at_ms)
		return BD_ERR_DB_DOWN;
	if ((db->conn = mysql_init(NULL)) == NULL)
		return BD_ERR_NOMEM;
	mysql_options(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_options(db->conn, MYSQL_OPT_READ_TIMEOUT, &rw);
	mysql_options(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &rw);
	mysql_options(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(db->conn, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	if (mysql_real_connect(db->conn, c->db_host, c->db_user, c->db_password,
	    c->db_name, (unsigned)c->db_port, c->db_socket, 0) == NULL) {
		db->last_errno = mysql_errno(db->conn);
		log_msg(LOG_WARN, "database connect failed: error %u",
		    db->last_errno);
		goto out;
	}
	for (size_t i = 0; i < STMT__MAX; i++) {
		if ((db->st[i] = mysql_stmt_init(db->conn)) == NULL ||
		    mysql_stmt_prepare(db->st[i], stmts[i], strlen(stmts[i]))) {
			db->last_errno = db->st[i] ? mysql_stmt_errno(db->st[i]) :
			    mysql_errno(db->conn);
			log_msg(LOG_ERROR, "prepare of statement %zu failed: %s",
			    i, db->st[i] ? mysql_stmt_error(db->st[i]) : "oom");
			rc = gone(db->last_errno) ? BD_ERR_DB_DOWN :
			    BD_ERR_INTERNAL;
			goto out;
		}
	}
	rc = BD_OK;
out:
	if (rc != BD_OK) {
		db_disconnect(db);
		db->retry_at_ms = clock_mono_ms() + LIM_DB_RETRY_MS;
	}
	return rc;
}

enum bd_err
db_open(struct db **out, const struct cfg *c)
{
	struct db *db;

	if ((*out = db = calloc(1, sizeof(*db))) == NULL)
		return BD_ERR_NOMEM;
	db->cfg = c;
	return db_connect(db);
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	db_disconnect(db);
	free(db);
}

void
dbres_free(struct dbres *r)
{
	if (r == NULL)
		return;
	if (r->val != NULL)
		for (size_t i = 0; i < r->nrows * r->ncols; i++)
			free(r->val[i]);
	free(r->val);
	free(r->len);
	memset(r, 0, sizeof(*r));
}

static enum bd_err
map_error(struct db *db, MYSQL_STMT *st, enum stmt which)
{
	db->last_errno = mysql_stmt_errno(st);
	if (db->last_errno == ER_DUP_ENTRY)
		return BD_ERR_CONFLICT;
	if (gone(db->last_errno))
		return BD_ERR_DB_DOWN;
	/* A deadlock or lock wait timeout: retrying later will work (503
	 * with Retry-After); the transaction was rolled back by the server. */
	if (db->last_errno == ER_LOCK_DEADLOCK ||
	    db->last_errno == ER_LOCK_WAIT_TIMEOUT)
		return BD_ERR_DB_DOWN;
	log_msg(LOG_ERROR, "statement %d failed: error %u", (int)which,
	    db->last_errno);
	return BD_ERR_INTERNAL;
}

static enum bd_err
fetch(struct db *db, MYSQL_STMT *st, enum stmt which, struct dbres *res)
{
	MYSQL_RES *meta = NULL;
	MYSQL_BIND *b = NULL;
	unsigned long *lens = NULL;
	my_bool *nulls = NULL, one = 1;
	size_t cap = 0;
	enum bd_err rc = BD_ERR_INTERNAL;
	int f;

	memset(res, 0, sizeof(*res));
	mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &one);
	if (mysql_stmt_store_result(st))
		return map_error(db, st, which);
	if ((meta = mysql_stmt_result_metadata(st)) == NULL)
		goto out;
	res->ncols = mysql_num_fields(meta);
	MYSQL_FIELD *fields = mysql_fetch_fields(meta);
	b = calloc(res->ncols, sizeof(*b));
	lens = calloc(res->ncols, sizeof(*lens));
	nulls = calloc(res->ncols, sizeof(*nulls));
	if (b == NULL || lens == NULL || nulls == NULL) {
		rc = BD_ERR_NOMEM;
		goto out;
	}
	while (1) {
		for (size_t c = 0; c < res->ncols; c++) {
			memset(&b[c], 0, sizeof(b[c]));
			b[c].buffer_type = MYSQL_TYPE_STRING;
			b[c].length = &lens[c];
			b[c].is_null = &nulls[c];
		}
		/* First fetch with no buffers learns the lengths; each column
		 * is then fetched into an exact-size allocation. */
		if (mysql_stmt_bind_result(st, b))
			goto out;
		f = mysql_stmt_fetch(st);
		if (f == MYSQL_NO_DATA)
			break;
		if (f == 1)
			goto out;
		if (res->nrows == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **nv = realloc(res->val,
			    ncap * res->ncols * sizeof(*nv));
			if (nv == NULL) { rc = BD_ERR_NOMEM; goto out; }
			res->val = nv;
			unsigned long *nl = realloc(res->len,
			    ncap * res->ncols * sizeof(*nl));
			if (nl == NULL) { rc = BD_ERR_NOMEM; goto out; }
			res->len = nl;
			cap = ncap;
		}
		size_t row = res->nrows++;
		for (size_t c = 0; c < res->ncols; c++) {
			DBRES_VAL(res, row, c) = NULL;
			DBRES_LEN(res, row, c) = 0;
		}
		for (size_t c = 0; c < res->ncols; c++) {
			if (nulls[c])
				continue;
			char *v = malloc(lens[c] + 1);
			if (v == NULL) { rc = BD_ERR_NOMEM; goto out; }
			MYSQL_BIND one_b;
			memset(&one_b, 0, sizeof(one_b));
			one_b.buffer_type = fields[c].type == MYSQL_TYPE_BLOB ||
			    fields[c].type == MYSQL_TYPE_MEDIUM_BLOB ?
			    MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
			one_b.buffer = v;
			one_b.buffer_length = lens[c] + 1;
			unsigned long got = 0;
			one_b.length = &got;
			if (mysql_stmt_fetch_column(st, &one_b, (unsigned)c, 0)) {
				free(v);
				goto out;
			}
			v[lens[c]] = '\0';
			DBRES_VAL(res, row, c) = v;
			DBRES_LEN(res, row, c) = lens[c];
		}
	}
	rc = BD_OK;
out:
	if (rc != BD_OK) {
		if (rc == BD_ERR_INTERNAL)
			rc = map_error(db, st, which);
		dbres_free(res);
	}
	if (meta != NULL)
		mysql_free_result(meta);
	mysql_stmt_free_result(st);
	free(b);
	free(lens);
	free(nulls);
	return rc;
}

static enum bd_err
exec_once(struct db *db, enum stmt which, const struct dbval *p, size_t n,
    struct dbres *res, unsigned long long *affected)
{
	MYSQL_BIND b[16];
	MYSQL_STMT *st = db->st[which];

	if (n > sizeof(b) / sizeof(b[0]) ||
	    n != mysql_stmt_param_count(st))
		return BD_ERR_INTERNAL;
	memset(b, 0, sizeof(b));
	for (size_t i = 0; i < n; i++) {
		switch (p[i].t) {
		case DBT_NULL:
			b[i].buffer_type = MYSQL_TYPE_NULL;
			break;
		case DBT_STR:
			b[i].buffer_type = MYSQL_TYPE_STRING;
			b[i].buffer = (void *)p[i].p;
			b[i].buffer_length = p[i].len;
			break;
		case DBT_BLOB:
			b[i].buffer_type = MYSQL_TYPE_BLOB;
			b[i].buffer = (void *)p[i].p;
			b[i].buffer_length = p[i].len;
			break;
		case DBT_INT:
			b[i].buffer_type = MYSQL_TYPE_LONGLONG;
			b[i].buffer = (void *)&p[i].i;
			break;
		}
	}
	if (mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st))
		return map_error(db, st, which);
	if (affected != NULL)
		*affected = mysql_stmt_affected_rows(st);
	if (res != NULL)
		return fetch(db, st, which, res);
	return BD_OK;
}

enum bd_err
db_exec(struct db *db, enum stmt which, const struct dbval *p, size_t n,
    struct dbres *res, unsigned long long *affected)
{
	enum bd_err rc;

	if ((unsigned)which >= STMT__MAX)
		return BD_ERR_INTERNAL;
	if (db->conn == NULL) {
		if (db->in_tx)
			return BD_ERR_DB_DOWN;
		if ((rc = db_connect(db)) != BD_OK)
			return rc;
	}
	rc = exec_once(db, which, p, n, res, affected);
	if (rc == BD_ERR_DB_DOWN && gone(db->last_errno)) {
		bool was_tx = db->in_tx;
		db_disconnect(db);
		/* Inside a transaction the work so far is lost: fail. */
		if (was_tx || db_connect(db) != BD_OK)
			return BD_ERR_DB_DOWN;
		rc = exec_once(db, which, p, n, res, affected);
	}
	return rc;
}

static enum bd_err
simple(struct db *db, const char *sql)
{
	if (mysql_real_query(db->conn, sql, strlen(sql)) == 0)
		return BD_OK;
	db->last_errno = mysql_errno(db->conn);
	if (gone(db->last_errno)) {
		db_disconnect(db);
		return BD_ERR_DB_DOWN;
	}
	log_msg(LOG_ERROR, "'%s' failed: error %u", sql, db->last_errno);
	return BD_ERR_INTERNAL;
}

bool
db_retryable(const struct db *db)
{
	return db != NULL && (db->last_errno == ER_LOCK_DEADLOCK ||
	    db->last_errno == ER_LOCK_WAIT_TIMEOUT);
}

enum bd_err
db_begin(struct db *db)
{
	enum bd_err rc;

	if (db->conn == NULL && (rc = db_connect(db)) != BD_OK)
		return rc;
	if ((rc = simple(db, "START TRANSACTION")) == BD_ERR_DB_DOWN) {
		/* The connection went stale between requests: one retry. */
		if ((rc = db_connect(db)) != BD_OK)
			return rc;
		rc = simple(db, "START TRANSACTION");
	}
	db->in_tx = rc == BD_OK;
	return rc;
}

enum bd_err
db_commit(struct db *db)
{
	enum bd_err rc;

	if (db->conn == NULL)
		return BD_ERR_DB_DOWN;
	rc = simple(db, "COMMIT");
	db->in_tx = false;
	return rc;
}

void
db_rollback(struct db *db)
{
	if (db->conn != NULL && db->in_tx)
		(void)simple(db, "ROLLBACK");
	db->in_tx = false;
}
