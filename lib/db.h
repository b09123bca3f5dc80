/*
 * The database: one connection per worker, every SQL statement of the service
 * in one table (db.c: stmts[STMT__MAX]), prepared once per connection, every
 * value bound. Statements that touch destinations filter by org.
 *
 * Reconnection: a statement that fails because the server went away (outside
 * a transaction) reconnects, re-prepares and retries once; while the server is
 * unreachable every call fails fast with BD_ERR_DB_DOWN (the connect timeout
 * is LIM_DB_CONNECT_TIMEOUT; a unix socket with no server fails at once).
 *
 * Several nodes (db_hosts, a Galera cluster): a connection goes to the first
 * node in the list's order that answers and, when the server has wsrep_on,
 * is synced (wsrep_ready = ON, wsrep_local_state = 4); a node that is not
 * is skipped. A worker whose node goes away (or leaves the primary
 * component: error 1047) reconnects the same way, so it lands on the next
 * synced node within one connect attempt.
 *
 * Causal reads on Galera: on a wsrep node every session runs with
 * DB_SYNC_WAIT_SQL (wsrep_sync_wait = 7: SELECT, BEGIN, UPDATE, DELETE,
 * INSERT wait until the node has applied every write set committed in the
 * cluster before the statement started). A request therefore never decides
 * on a row another node already changed (If-Match, the name check, the
 * schedule check, an OAuth state). What a stale read could still miss (the
 * race inside the replication window) is caught by Galera's certification
 * at COMMIT as error 1213, and the locked write re-runs (dest.h).
 */
#ifndef BD_DB_H
#define BD_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "err.h"

enum stmt {
	STMT_DEST_LIST,
	STMT_DEST_LIST_FILTER,
	STMT_DEST_GET,
	STMT_DEST_LOCK,
	STMT_DEST_NAME_OWNER,
	STMT_DEST_INSERT,
	STMT_DEST_UPDATE,
	STMT_DEST_SET_TEST,
	STMT_DEST_DELETE,
	STMT_SCHED_LOCK,
	STMT_SCHED_DETACH,
	STMT_AUDIT_INSERT,
	STMT_DEST_SET_OAUTH,
	STMT_DEST_SET_TOKENS,
	STMT_OAUTH_STATE_INSERT,
	STMT_OAUTH_STATE_CONSUME,
	STMT_OAUTH_STATE_GET,
	STMT_OAUTH_STATE_PURGE,
	STMT_OAUTH_STATE_TRIM_DEST,
	STMT_OAUTH_STATE_TRIM_ORG,
	STMT_REKEY_PICK,
	STMT_REKEY_WRITE,
	/* admission without a master (admit.c) and the status page */
	STMT_LOCK_GET,
	STMT_LOCK_RELEASE,
	STMT_KEY_COUNTS,
	STMT_KEY_USE,
	STMT_AUDIT_LIST,
	STMT_AUDIT_LIST_ORG,
	STMT_AUDIT_PRUNE,
	STMT_DEST_DUE,
	STMT__MAX
};

/* Set per session on a Galera node (see above). */
#define DB_SYNC_WAIT_SQL "SET SESSION wsrep_sync_wait = 7"

enum dbt { DBT_NULL, DBT_STR, DBT_BLOB, DBT_INT };

/* One bound parameter; borrows p. */
struct dbval {
	enum dbt t;
	const void *p;
	size_t len;
	long long i;
};
#define DBV_NULL ((struct dbval){DBT_NULL, NULL, 0, 0})
#define DBV_STR(s) ((struct dbval){DBT_STR, (s), strlen(s), 0})
#define DBV_STRN(s, n) ((struct dbval){DBT_STR, (s), (n), 0})
#define DBV_BLOB(b, n) ((struct dbval){DBT_BLOB, (b), (n), 0})
#define DBV_INT(v) ((struct dbval){DBT_INT, NULL, 0, (long long)(v)})
/* A string or SQL NULL when s is NULL. */
#define DBV_STR_OR_NULL(s) ((s) ? DBV_STR(s) : DBV_NULL)

/* A result: nrows rows of ncols columns; every value NUL-terminated (blobs
 * too, the terminator not counted in len); NULL values have val == NULL. */
struct dbres {
	size_t nrows, ncols;
	char **val;            /* nrows * ncols */
	unsigned long *len;
};
#define DBRES_VAL(r, row, col) ((r)->val[(row) * (r)->ncols + (col)])
#define DBRES_LEN(r, row, col) ((r)->len[(row) * (r)->ncols + (col)])

struct db;

/* Connect with the config's db_* keys and prepare every statement. A failed
 * connection still returns a handle (BD_ERR_DB_DOWN) that retries on use;
 * *out is NULL only on BD_ERR_NOMEM. Caller frees with db_close(). */
enum bd_err db_open(struct db **out, const struct cfg *c);
void db_close(struct db *);

/*
 * Execute a statement with n bound params. When res is non-NULL the rows are
 * fetched into it (caller frees with dbres_free). *affected, when non-NULL,
 * receives the affected row count. Errors: BD_ERR_CONFLICT for a duplicate
 * key, BD_ERR_DB_DOWN when the server is gone, BD_ERR_INTERNAL otherwise
 * (logged without values).
 */
enum bd_err db_exec(struct db *, enum stmt, const struct dbval *params,
    size_t n, struct dbres *res, unsigned long long *affected);
void dbres_free(struct dbres *);

/* Whether the last failed statement lost a lock conflict that a re-run of
 * the whole transaction can win: a deadlock (1213, also Galera's
 * certification failure) or a lock wait timeout (1205). Such failures are
 * answered BD_ERR_DB_DOWN (503 + Retry-After) by db_exec. */
bool db_retryable(const struct db *);

/* Whether the last failed statement lost the connection (the node died or
 * left the cluster). Inside a transaction nothing of it was committed
 * unless the failed statement was the COMMIT itself. */
bool db_conn_lost(const struct db *);

/*
 * Before re-run `attempt` (1, 2, ...) of a transaction that lost a lock
 * conflict: sleep a jittered, growing time (LIM_DB_TX_BACKOFF_MS).
 */
void db_backoff(unsigned attempt);

/* The database nodes of c: db_hosts' items, or the one node of db_host /
 * db_port / db_socket. db_node fills node i (false past the end). */
size_t db_node_count(const struct cfg *);
bool db_node(const struct cfg *, size_t i, struct cfg_db_node *out);
/* mysql_real_connect to node i of c with the db_* credentials (for the
 * operator tool's own connections). */
struct st_mysql;
bool db_raw_connect(struct st_mysql *, const struct cfg *, size_t i,
    unsigned long flags);

/* Explicit transactions (MariaDB ignores FOR UPDATE under autocommit). */
enum bd_err db_begin(struct db *);
enum bd_err db_commit(struct db *);
void db_rollback(struct db *);

#endif
