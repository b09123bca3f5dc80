#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>

#include "clock.h"
#include "commalist.h"
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
	    "updated_at = UTC_TIMESTAMP(3) WHERE org_id = ? AND id = ? "
	    "AND version = ?",
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
	    "WHERE org_id = ? AND id = ? AND version = ?",
	/* A refresh (new tokens) or a revoked grant (tokens gone). */
	[STMT_DEST_SET_TOKENS] = "UPDATE backup_destinations SET "
	    "config_ciphertext = ?, key_id = ?, status = ?, status_reason = ?, "
	    "oauth_token_expires_at = FROM_UNIXTIME(? / 1000), "
	    "version = version + 1, updated_at = UTC_TIMESTAMP(3) "
	    "WHERE org_id = ? AND id = ? AND version = ?",
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
	bool wsrep;             /* the connected node is a Galera node */
	/* A statement of the open transaction lost a lock conflict (its
	 * error number): the server rolled the transaction back, so COMMIT
	 * must not report success even if the caller ignored that error
	 * (an audit row's insert, say). */
	unsigned tx_lost;
	size_t node;            /* index of the connected node */
	unsigned last_errno;
	long long retry_at_ms;  /* no new connect attempt before this */
};

size_t
db_node_count(const struct cfg *c)
{
	const char *cur = c->db_hosts, *item;
	size_t len, n = 0;

	if (c->db_hosts == NULL || !commalist_any(c->db_hosts))
		return 1;
	while (commalist_next(&cur, &item, &len))
		if (len > 0)
			n++;
	return n < LIM_DB_HOSTS_MAX ? n : LIM_DB_HOSTS_MAX;
}

bool
db_node(const struct cfg *c, size_t i, struct cfg_db_node *out)
{
	const char *cur = c->db_hosts, *item;
	size_t len, n = 0;

	memset(out, 0, sizeof(*out));
	if (c->db_hosts == NULL || !commalist_any(c->db_hosts)) {
		if (i != 0)
			return false;
		if (c->db_host != NULL)
			snprintf(out->host, sizeof(out->host), "%s", c->db_host);
		if (c->db_socket != NULL)
			snprintf(out->socket, sizeof(out->socket), "%s",
			    c->db_socket);
		out->port = (unsigned)c->db_port;
		return true;
	}
	while (commalist_next(&cur, &item, &len)) {
		if (len == 0)
			continue;
		if (n++ == i)
			return cfg_db_node_parse(item, len, out);
	}
	return false;
}

bool
db_raw_connect(struct st_mysql *m, const struct cfg *c, size_t i,
    unsigned long flags)
{
	struct cfg_db_node n;

	if (!db_node(c, i, &n))
		return false;
	return mysql_real_connect(m, n.host[0] ? n.host : NULL, c->db_user,
	    c->db_password, c->db_name, n.port, n.socket[0] ? n.socket : NULL,
	    flags) != NULL;
}

void
db_backoff(unsigned attempt)
{
	unsigned shift = attempt > 1 ? attempt - 1 : 0;
	uint32_t cap = (uint32_t)LIM_DB_TX_BACKOFF_MS << (shift < 8 ? shift : 8);
	uint32_t ms = randombytes_uniform(cap + 1);
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}


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
	    e == ER_SERVER_SHUTDOWN ||
	    /* Galera: the node left the primary component ("WSREP has not
	     * yet prepared node for application use"): use another one. */
	    e == ER_UNKNOWN_COM_ERROR;
}

/* The value of a one-row, one-column query, or false. */
static bool
query_row(MYSQL *m, const char *sql, char *out[], size_t ncols, char *buf,
    size_t buflen)
{
	MYSQL_RES *r;
	MYSQL_ROW row;
	size_t off = 0;
	bool ok = false;

	if (mysql_real_query(m, sql, strlen(sql)) != 0 ||
	    (r = mysql_store_result(m)) == NULL)
		return false;
	if ((row = mysql_fetch_row(r)) != NULL &&
	    mysql_num_fields(r) == ncols) {
		ok = true;
		for (size_t i = 0; i < ncols; i++) {
			int w = snprintf(buf + off, buflen - off, "%s",
			    row[i] ? row[i] : "");
			if (w < 0 || (size_t)w >= buflen - off) {
				ok = false;
				break;
			}
			out[i] = buf + off;
			off += (size_t)w + 1;
		}
	}
	mysql_free_result(r);
	return ok;
}

/*
 * After connecting to node i: when the server runs Galera (wsrep_on), take
 * it only when it is synced (wsrep_ready ON, wsrep_local_state 4) and make
 * every read causal (wsrep_sync_wait, see db.h). A server without the
 * variable (MySQL) is not Galera.
 */
static bool
node_usable(struct db *db, size_t i)
{
	static const char q[] = "SELECT @@global.wsrep_on, "
	    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
	    "WHERE VARIABLE_NAME = 'WSREP_READY'), "
	    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
	    "WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE')";
	char buf[128], *v[3];

	db->wsrep = false;
	if (!query_row(db->conn, q, v, 3, buf, sizeof(buf)))
		return true;
	if (strcmp(v[0], "1") != 0 && strcasecmp(v[0], "ON") != 0)
		return true;
	if (strcasecmp(v[1], "ON") != 0 || strcmp(v[2], "4") != 0) {
		log_msg(LOG_WARN, "database node %zu is not synced "
		    "(wsrep_ready %s, wsrep_local_state %s): trying the next",
		    i + 1, v[1], v[2]);
		return false;
	}
	if (mysql_real_query(db->conn, DB_SYNC_WAIT_SQL,
	    strlen(DB_SYNC_WAIT_SQL)) != 0) {
		log_msg(LOG_WARN, "database node %zu: wsrep_sync_wait could "
		    "not be set (error %u): trying the next", i + 1,
		    mysql_errno(db->conn));
		return false;
	}
	db->wsrep = true;
	return true;
}

/* Open a connection to node i and check it (node_usable). */
static bool
connect_node(struct db *db, size_t i)
{
	unsigned int ct = LIM_DB_CONNECT_TIMEOUT, rw = LIM_DB_RW_TIMEOUT;

	if ((db->conn = mysql_init(NULL)) == NULL)
		return false;
	mysql_options(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
	mysql_options(db->conn, MYSQL_OPT_READ_TIMEOUT, &rw);
	mysql_options(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &rw);
	mysql_options(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	mysql_options(db->conn, MYSQL_INIT_COMMAND, "SET time_zone = '+00:00'");
	if (!db_raw_connect(db->conn, db->cfg, i, 0)) {
		db->last_errno = mysql_errno(db->conn);
		log_msg(LOG_WARN, "database connect failed (node %zu): "
		    "error %u", i + 1, db->last_errno);
	} else if (node_usable(db, i)) {
		db->node = i;
		return true;
	}
	mysql_close(db->conn);
	db->conn = NULL;
	return false;
}

/* (Re)connect to the first usable node in db_hosts order (or db_host /
 * db_socket) and prepare every statement. */
static enum bd_err
db_connect(struct db *db)
{
	enum bd_err rc = BD_ERR_DB_DOWN;
	size_t n = db_node_count(db->cfg), i;

	db_disconnect(db);
	/* After a failed attempt, requests answer 503 at once for a moment
	 * instead of each waiting out a connect timeout to a dead host. */
	if (clock_mono_ms() < db->retry_at_ms)
		return BD_ERR_DB_DOWN;
	for (i = 0; i < n; i++)
		if (connect_node(db, i))
			break;
	if (i == n)
		goto out;
	if (n > 1 && i > 0)
		log_msg(LOG_INFO, "database: connected to node %zu", i + 1);
	for (size_t k = 0; k < STMT__MAX; k++) {
		if ((db->st[k] = mysql_stmt_init(db->conn)) == NULL ||
		    mysql_stmt_prepare(db->st[k], stmts[k], strlen(stmts[k]))) {
			db->last_errno = db->st[k] ? mysql_stmt_errno(db->st[k]) :
			    mysql_errno(db->conn);
			log_msg(LOG_ERROR, "prepare of statement %zu failed: %s",
			    k, db->st[k] ? mysql_stmt_error(db->st[k]) : "oom");
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
	    db->last_errno == ER_LOCK_WAIT_TIMEOUT) {
		if (db->in_tx)
			db->tx_lost = db->last_errno;
		return BD_ERR_DB_DOWN;
	}
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

	db->last_errno = 0;
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
	/* A COMMIT that lost Galera's certification (or a deadlock): the
	 * transaction is gone; a re-run can win (db_retryable). */
	if (db_retryable(db)) {
		log_msg(LOG_INFO, "'%s' lost a write conflict (error %u)", sql,
		    db->last_errno);
		return BD_ERR_DB_DOWN;
	}
	log_msg(LOG_ERROR, "'%s' failed: error %u", sql, db->last_errno);
	return BD_ERR_INTERNAL;
}

bool
db_conn_lost(const struct db *db)
{
	return db != NULL && db->last_errno != 0 && gone(db->last_errno);
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

	db->last_errno = 0;
	db->tx_lost = 0;
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
	if (db->tx_lost != 0) {
		unsigned e = db->tx_lost;

		db_rollback(db);
		db->last_errno = e;
		log_msg(LOG_INFO, "transaction lost a write conflict (error %u): "
		    "not committed", e);
		return BD_ERR_DB_DOWN;
	}
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
	db->tx_lost = 0;
}
