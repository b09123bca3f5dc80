#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mysql.h>
#include <mysqld_error.h>

#include "ctl.h"
#include "db.h"
#include "rekey.h"
#include "vault.h"

static void
rekey_progress(size_t done)
{
	fprintf(stderr, "backupctl: %zu re-encrypted so far\n", done);
}

/* See ctl.h. */
int
ctl_rekey(const struct cfg *c, long *done)
{
	struct rekey_report rep;
	struct vault *v = NULL;
	struct db *db = NULL;
	int rc = 1;

	if (ctl_load_keyring(c, &v) != 0)
		return 1;
	if (db_open(&db, c) != BD_OK) {
		fprintf(stderr, "backupctl: cannot reach the database\n");
		goto out;
	}
	if (rekey_all(db, v, rekey_progress, &rep) != BD_OK) {
		if (rep.stop == REKEY_DB)
			fprintf(stderr, "backupctl: database error\n");
		else
			fprintf(stderr, "backupctl: destination %s %s; "
			    "stopping\n", rep.failed_id,
			    rep.stop == REKEY_DECRYPT ?
			    "does not decrypt with this keyring" :
			    "could not be re-encrypted");
		goto out;
	}
	fprintf(stderr, "backupctl: %zu destination(s) re-encrypted under key "
	    "'%s'; every row now uses it\n", rep.done, vault_current_key_id(v));
	*done = (long)rep.done;
	rc = 0;
out:
	db_close(db);
	vault_free(v);
	return rc;
}

/* ---- migrate and migrate --status: the operator tool's own statements,
 * the only SQL text in cgi/ (the service's table in db.c is prepared as a
 * whole at connect, which fails before the schema exists). ---- */

static const char SQL_LOCK[] =
    "SELECT GET_LOCK(CONCAT('backupd.migrate.', DATABASE()), 120)";
static const char SQL_UNLOCK[] =
    "SELECT RELEASE_LOCK(CONCAT('backupd.migrate.', DATABASE()))";
/*
 * GET_LOCK is local to one server: on Galera two migrators connected to two
 * nodes would both hold it. There the run also takes a lock row, replicated
 * and certified like any write, so one node's INSERT wins cluster-wide; the
 * other gets a duplicate key (or loses certification) and waits. A row left
 * by a migrator that died is taken over after LIM_MIGRATE_STALE_S.
 */
#define LIM_MIGRATE_STALE_S 3600
static const char SQL_WSREP[] = "SELECT @@global.wsrep_on";
static const char SQL_ROW_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migration_lock ("
    "id TINYINT NOT NULL PRIMARY KEY, holder VARCHAR(160) NOT NULL, "
    "taken_at DATETIME(3) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
static const char SQL_ROW_STALE[] =
    "DELETE FROM schema_migration_lock WHERE id = 1 AND taken_at < "
    "UTC_TIMESTAMP(3) - INTERVAL 3600 SECOND";
static const char SQL_ROW_TAKE[] =
    "INSERT INTO schema_migration_lock (id, holder, taken_at) VALUES (1, "
    "CONCAT(@@hostname, ':', @@port, ':', CONNECTION_ID()), UTC_TIMESTAMP(3))";
static const char SQL_ROW_GIVE[] =
    "DELETE FROM schema_migration_lock WHERE id = 1 AND holder = "
    "CONCAT(@@hostname, ':', @@port, ':', CONNECTION_ID())";
_Static_assert(LIM_MIGRATE_STALE_S == 3600, "SQL_ROW_STALE says 3600");
static const char SQL_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, "
    "applied_at DATETIME(3) NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
static const char SQL_APPLIED[] =
    "SELECT COUNT(*) FROM schema_migrations WHERE version = ?";
static const char SQL_LIST[] =
    "SELECT CAST(version AS CHAR), "
    "DATE_FORMAT(applied_at, '%Y-%m-%dT%H:%i:%sZ') FROM schema_migrations";
static const char SQL_RECORD[] =
    "INSERT INTO schema_migrations (version, name, applied_at) "
    "VALUES (?, ?, UTC_TIMESTAMP(3))";

/* Run a query and drain every result set; 0 on success. */
static int
run(MYSQL *m, const char *sql, size_t len, long long *first)
{
	int st;

	if (mysql_real_query(m, sql, len) != 0)
		return -1;
	do {
		MYSQL_RES *res = mysql_store_result(m);
		if (res != NULL) {
			MYSQL_ROW row = mysql_fetch_row(res);
			if (first != NULL && row != NULL && row[0] != NULL)
				*first = strtoll(row[0], NULL, 10);
			first = NULL;
			mysql_free_result(res);
		} else if (mysql_field_count(m) != 0) {
			return -1;
		}
	} while ((st = mysql_next_result(m)) == 0);
	return st > 0 ? -1 : 0;
}

/* One prepared statement with an int and an optional string parameter. */
static int
stmt_run(MYSQL *m, const char *sql, long long v, const char *s,
    long long *out)
{
	MYSQL_STMT *st = mysql_stmt_init(m);
	MYSQL_BIND b[2], r;
	unsigned long slen = s ? strlen(s) : 0;
	int rc = -1;

	memset(b, 0, sizeof(b));
	memset(&r, 0, sizeof(r));
	b[0].buffer_type = MYSQL_TYPE_LONGLONG;
	b[0].buffer = &v;
	b[1].buffer_type = MYSQL_TYPE_STRING;
	b[1].buffer = (void *)s;
	b[1].buffer_length = slen;
	if (st == NULL || mysql_stmt_prepare(st, sql, strlen(sql)) ||
	    mysql_stmt_bind_param(st, b) || mysql_stmt_execute(st))
		goto out;
	if (out != NULL) {
		r.buffer_type = MYSQL_TYPE_LONGLONG;
		r.buffer = out;
		if (mysql_stmt_bind_result(st, &r) || mysql_stmt_fetch(st))
			goto out;
	}
	rc = 0;
out:
	if (st != NULL)
		mysql_stmt_close(st);
	return rc;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
migration_file(const struct dirent *d)
{
	regex_t re;
	int ok;

	if (regcomp(&re, "^[0-9]{3}_[A-Za-z0-9_]+\\.sql$", REG_EXTENDED) != 0)
		return 0;
	ok = regexec(&re, d->d_name, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
		*len = fread(buf, 1, (size_t)n, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* A connection of its own (NULL, the reason on stderr, on failure). */
static MYSQL *
connect_raw(const struct cfg *c, unsigned long flags)
{
	MYSQL *m = mysql_init(NULL);

	if (m == NULL)
		return NULL;
	bool ok = false;

	/* The first node of db_hosts that answers: on Galera the DDL is
	 * replicated in total order (TOI) to every node. */
	for (size_t i = 0; i < db_node_count(c) && !ok; i++)
		ok = db_raw_connect(m, c, i, flags);
	if (!ok) {
		fprintf(stderr, "backupctl: cannot reach the database (error "
		    "%u)\n", mysql_errno(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

/* On a wsrep node, take the cluster-wide lock row (waiting up to 120 s
 * like GET_LOCK). 0: held or not Galera (*held says which); -1: failed. */
static int
row_lock(MYSQL *m, bool *held)
{
	long long on = 0;

	*held = false;
	if (run(m, SQL_WSREP, sizeof(SQL_WSREP) - 1, &on) != 0 || on != 1)
		return 0;
	if (run(m, SQL_ROW_TABLE, sizeof(SQL_ROW_TABLE) - 1, NULL) != 0)
		return -1;
	for (int i = 0; i < 120; i++) {
		if (run(m, SQL_ROW_STALE, sizeof(SQL_ROW_STALE) - 1, NULL) != 0)
			return -1;
		if (run(m, SQL_ROW_TAKE, sizeof(SQL_ROW_TAKE) - 1, NULL) == 0) {
			*held = true;
			return 0;
		}
		if (mysql_errno(m) != 1062 /* ER_DUP_ENTRY */ &&
		    mysql_errno(m) != 1213 /* lost certification */)
			return -1;
		if (i == 0)
			fprintf(stderr, "backupctl: another migration runs on the "
			    "cluster; waiting\n");
		sleep(1);
	}
	return -1;
}

/* See ctl.h. */
int
ctl_migrate(const struct cfg *c, const char *sql_dir, json_object *applied_names)
{
	struct dirent **files = NULL;
	MYSQL *m;
	long long got = 0;
	int n = -1, applied = 0, rc = 1;
	bool row = false;

	if ((m = connect_raw(c, CLIENT_MULTI_STATEMENTS)) == NULL)
		return 1;
	if (run(m, SQL_LOCK, sizeof(SQL_LOCK) - 1, &got) != 0 || got != 1) {
		fprintf(stderr, "backupctl: could not take the migration lock\n");
		goto out;
	}
	if (row_lock(m, &row) != 0) {
		fprintf(stderr, "backupctl: could not take the cluster's migration "
		    "lock row (schema_migration_lock; error %u)\n",
		    mysql_errno(m));
		goto out;
	}
	if (run(m, SQL_TABLE, sizeof(SQL_TABLE) - 1, NULL) != 0 ||
	    stmt_run(m, "INSERT IGNORE INTO schema_migrations (version, name, "
	    "applied_at) VALUES (?, ?, UTC_TIMESTAMP(3))", 1,
	    "schema_migrations", NULL) != 0)
		goto sqlerr;
	if ((n = scandir(sql_dir, &files, migration_file, by_name)) < 0) {
		fprintf(stderr, "backupctl: %s: %s\n", sql_dir, strerror(errno));
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *name = files[i]->d_name;
		long long version = strtoll(name, NULL, 10), done = 0;
		char path[4096], label[256];
		size_t len = 0;
		char *sql;

		if (stmt_run(m, SQL_APPLIED, version, NULL, &done) != 0)
			goto sqlerr;
		if (done)
			continue;
		snprintf(path, sizeof(path), "%s/%s", sql_dir, name);
		snprintf(label, sizeof(label), "%.*s", (int)strlen(name) - 8,
		    name + 4);
		if ((sql = slurp(path, &len)) == NULL) {
			fprintf(stderr, "backupctl: cannot read %s\n", path);
			goto out;
		}
		fprintf(stderr, "backupctl: applying %s\n", name);
		int r = run(m, sql, len, NULL);
		free(sql);
		if (r != 0 || stmt_run(m, SQL_RECORD, version, label, NULL))
			goto sqlerr;
		applied++;
		if (applied_names != NULL)
			json_object_array_add(applied_names,
			    json_object_new_string(name));
	}
	if (row)
		run(m, SQL_ROW_GIVE, sizeof(SQL_ROW_GIVE) - 1, NULL);
	row = false;
	run(m, SQL_UNLOCK, sizeof(SQL_UNLOCK) - 1, NULL);
	fprintf(stderr, "backupctl: %d migration(s) applied, the schema is "
	    "current\n", applied);
	rc = 0;
	goto out;
sqlerr:
	fprintf(stderr, "backupctl: migration failed: %s\n", mysql_error(m));
out:
	if (row)
		run(m, SQL_ROW_GIVE, sizeof(SQL_ROW_GIVE) - 1, NULL);
	for (int i = 0; i < n; i++)
		free(files[i]);
	free(files);
	mysql_close(m);
	return rc;
}

/* See ctl.h. */
int
ctl_sql_files(const char *sql_dir, struct dirent ***files)
{
	return scandir(sql_dir, files, migration_file, by_name);
}

/* The applied migrations as {version: appliedAt} into `applied`: none
 * while schema_migrations does not exist yet. 0, or -1 (reason on stderr).
 */
static int
migrations_applied(MYSQL *m, json_object *applied)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	if (mysql_query(m, SQL_LIST) != 0) {
		if (mysql_errno(m) == ER_NO_SUCH_TABLE)
			return 0;
		fprintf(stderr, "backupctl: database error: %s\n",
		    mysql_error(m));
		return -1;
	}
	if ((res = mysql_store_result(m)) == NULL)
		return -1;
	while ((row = mysql_fetch_row(res)) != NULL)
		if (row[0] != NULL && row[1] != NULL)
			json_object_object_add(applied, row[0],
			    json_object_new_string(row[1]));
	mysql_free_result(res);
	return 0;
}

/* See ctl.h. Exit 0 when every migration is applied, 1 when one is
 * pending (or on error). */
int
ctl_migrate_status(const struct ctl *ctl, const struct cfg *c,
    const char *sql_dir)
{
	struct dirent **files = NULL;
	json_object *applied = json_object_new_object(), *out;
	json_object *list = json_object_new_array();
	MYSQL *m = NULL;
	int n = -1, pending = 0, rc = CTL_FAIL, i;

	if ((n = ctl_sql_files(sql_dir, &files)) < 0) {
		fprintf(stderr, "backupctl: %s: %s\n", sql_dir, strerror(errno));
		goto out;
	}
	if ((m = connect_raw(c, 0)) == NULL || migrations_applied(m, applied))
		goto out;
	if (!ctl->json)
		printf("version\tfile\tappliedAt\n");
	for (i = 0; i < n; i++) {
		const char *name = files[i]->d_name;
		long v = strtol(name, NULL, 10);
		char key[32];
		json_object *o = json_object_new_object(), *at = NULL;

		snprintf(key, sizeof(key), "%ld", v);
		json_object_object_get_ex(applied, key, &at);
		pending += at == NULL;
		json_object_object_add(o, "version", json_object_new_int64(v));
		json_object_object_add(o, "file", json_object_new_string(name));
		json_object_object_add(o, "appliedAt", json_object_get(at));
		json_object_array_add(list, o);
		if (!ctl->json)
			printf("%ld\t%s\t%s\n", v, name, at != NULL ?
			    json_object_get_string(at) : "pending");
	}
	if (ctl->json) {
		out = json_object_new_object();
		json_object_object_add(out, "migrations", json_object_get(list));
		json_object_object_add(out, "pending",
		    json_object_new_int(pending));
		ctl_print_json(out);
	} else {
		printf("%d pending\n", pending);
	}
	rc = pending == 0 ? CTL_OK : CTL_FAIL;
out:
	for (i = 0; i < n; i++)
		free(files[i]);
	free(files);
	json_object_put(applied);
	json_object_put(list);
	if (m != NULL)
		mysql_close(m);
	return rc;
}
