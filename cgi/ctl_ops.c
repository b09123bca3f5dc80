/*
 * backupctl's operator commands that read the database: migrate --status,
 * keys list, audit list|prune, destinations list|show|test. Each prints a
 * table (text) or one JSON document (--json) on stdout, reasons on stderr,
 * and returns an exit status (ctl.h). Nothing printed is ever a secret:
 * configs are redacted as the API redacts them.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <mysql.h>

#include "ctl.h"
#include "db.h"
#include "dtype.h"
#include "egress.h"
#include "probe/probe.h"
#include "store.h"
#include "vault.h"
#include "wipe.h"

/* Rows deleted per transaction by audit prune (short locks). */
#define PRUNE_BATCH 5000

static MYSQL *
connect_db(const struct cfg *c)
{
	MYSQL *m = mysql_init(NULL);

	if (m == NULL)
		return NULL;
	if (!mysql_real_connect(m, c->db_host, c->db_user, c->db_password,
	    c->db_name, (unsigned)c->db_port, c->db_socket, 0)) {
		fprintf(stderr, "backupctl: cannot reach the database (error "
		    "%u)\n", mysql_errno(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

/*
 * Run sql (a prepared statement) with np string parameters. Each result row
 * is appended to rows (when non-NULL) as a JSON array of strings or nulls;
 * the affected row count goes to *aff (when non-NULL). 0, or -1 with the
 * reason on stderr.
 */
static int
query(MYSQL *m, const char *sql, const char *const *p, size_t np,
    json_object *rows, unsigned long long *aff)
{
	MYSQL_STMT *st = mysql_stmt_init(m);
	MYSQL_BIND pb[4], *rb = NULL;
	MYSQL_RES *meta = NULL;
	MYSQL_FIELD *f;
	unsigned long *lens = NULL;
	my_bool *nulls = NULL, one = 1;
	char **bufs = NULL;
	unsigned n = 0, i;
	int rc = -1, fr;

	if (st == NULL || np > sizeof(pb) / sizeof(pb[0]))
		goto out;
	memset(pb, 0, sizeof(pb));
	for (i = 0; i < np; i++) {
		pb[i].buffer_type = MYSQL_TYPE_STRING;
		pb[i].buffer = (void *)p[i];
		pb[i].buffer_length = strlen(p[i]);
	}
	if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0 ||
	    (np > 0 && mysql_stmt_bind_param(st, pb) != 0) ||
	    mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &one) != 0 ||
	    mysql_stmt_execute(st) != 0)
		goto sqlerr;
	if (aff != NULL)
		*aff = mysql_stmt_affected_rows(st);
	if ((meta = mysql_stmt_result_metadata(st)) == NULL) {
		rc = 0;
		goto out;
	}
	if (mysql_stmt_store_result(st) != 0)
		goto sqlerr;
	n = mysql_num_fields(meta);
	f = mysql_fetch_fields(meta);
	rb = calloc(n, sizeof(*rb));
	lens = calloc(n, sizeof(*lens));
	nulls = calloc(n, sizeof(*nulls));
	bufs = calloc(n, sizeof(*bufs));
	if (rb == NULL || lens == NULL || nulls == NULL || bufs == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		/* Numbers print in at most 32 characters. */
		size_t cap = (f[i].max_length > 32 ? f[i].max_length : 32) + 1;
		if ((bufs[i] = malloc(cap)) == NULL)
			goto out;
		rb[i].buffer_type = MYSQL_TYPE_STRING;
		rb[i].buffer = bufs[i];
		rb[i].buffer_length = cap;
		rb[i].length = &lens[i];
		rb[i].is_null = &nulls[i];
	}
	if (mysql_stmt_bind_result(st, rb) != 0)
		goto sqlerr;
	while ((fr = mysql_stmt_fetch(st)) == 0 || fr == MYSQL_DATA_TRUNCATED) {
		json_object *row = json_object_new_array();
		for (i = 0; i < n; i++)
			json_object_array_add(row, nulls[i] ? NULL :
			    json_object_new_string_len(bufs[i], (int)lens[i]));
		if (rows != NULL)
			json_object_array_add(rows, row);
		else
			json_object_put(row);
	}
	if (fr != MYSQL_NO_DATA)
		goto sqlerr;
	rc = 0;
	goto out;
sqlerr:
	fprintf(stderr, "backupctl: database error: %s\n",
	    st != NULL ? mysql_stmt_error(st) : mysql_error(m));
out:
	for (i = 0; bufs != NULL && i < n; i++)
		free(bufs[i]);
	free(bufs);
	free(rb);
	free(lens);
	free(nulls);
	if (meta != NULL)
		mysql_free_result(meta);
	if (st != NULL)
		mysql_stmt_close(st);
	return rc;
}

static const char *
cell(json_object *row, size_t i)
{
	const char *s = json_object_get_string(json_object_array_get_idx(row,
	    i));

	return s != NULL ? s : "-";
}

/* Rows (arrays) as objects with the given field names. */
static json_object *
as_objects(json_object *rows, const char *const *names, size_t n)
{
	json_object *out = json_object_new_array();
	size_t r, i;

	for (r = 0; r < json_object_array_length(rows); r++) {
		json_object *row = json_object_array_get_idx(rows, r);
		json_object *o = json_object_new_object();
		for (i = 0; i < n; i++)
			json_object_object_add(o, names[i], json_object_get(
			    json_object_array_get_idx(row, i)));
		json_object_array_add(out, o);
	}
	return out;
}

/* Rows as a tab-separated table under a header. */
static void
print_rows(json_object *rows, const char *const *names, size_t n)
{
	size_t r, i;

	for (i = 0; i < n; i++)
		printf("%s%s", names[i], i + 1 < n ? "\t" : "\n");
	for (r = 0; r < json_object_array_length(rows); r++)
		for (i = 0; i < n; i++)
			printf("%s%s", cell(json_object_array_get_idx(rows, r),
			    i), i + 1 < n ? "\t" : "\n");
}

/* See ctl.h. Exit 0 when every migration is applied, 1 when one is
 * pending (or on error). */
int
ctl_migrate_status(const struct ctl *ctl, const struct cfg *c,
    const char *sql_dir)
{
	static const char *const cols[] = {"version", "name", "appliedAt"};
	struct dirent **files = NULL;
	json_object *applied = json_object_new_array(), *out = NULL;
	json_object *list = json_object_new_array();
	MYSQL *m = NULL;
	int n = -1, pending = 0, rc = CTL_FAIL, i;
	size_t r;

	if ((n = ctl_sql_files(sql_dir, &files)) < 0) {
		fprintf(stderr, "backupctl: %s: %s\n", sql_dir, strerror(errno));
		goto out;
	}
	if ((m = connect_db(c)) == NULL)
		goto out;
	/* No schema_migrations table yet: nothing is applied. */
	if (query(m, "SELECT COUNT(*) FROM information_schema.tables WHERE "
	    "table_schema = DATABASE() AND table_name = 'schema_migrations'",
	    NULL, 0, applied, NULL) != 0)
		goto out;
	if (strcmp(cell(json_object_array_get_idx(applied, 0), 0), "0") != 0) {
		json_object_put(applied);
		applied = json_object_new_array();
		if (query(m, "SELECT CAST(version AS CHAR), name, "
		    "DATE_FORMAT(applied_at, '%Y-%m-%dT%H:%i:%sZ') FROM "
		    "schema_migrations ORDER BY version", NULL, 0, applied,
		    NULL) != 0)
			goto out;
	} else {
		json_object_put(applied);
		applied = json_object_new_array();
	}
	for (i = 0; i < n; i++) {
		const char *name = files[i]->d_name;
		long v = strtol(name, NULL, 10);
		const char *at = NULL;
		json_object *o = json_object_new_object();

		for (r = 0; r < json_object_array_length(applied); r++) {
			json_object *row = json_object_array_get_idx(applied, r);
			if (strtol(cell(row, 0), NULL, 10) == v)
				at = cell(row, 2);
		}
		pending += at == NULL;
		json_object_object_add(o, "version", json_object_new_int64(v));
		json_object_object_add(o, "file", json_object_new_string(name));
		json_object_object_add(o, "appliedAt", at != NULL ?
		    json_object_new_string(at) : NULL);
		json_object_array_add(list, o);
	}
	if (ctl->json) {
		out = json_object_new_object();
		json_object_object_add(out, "migrations", json_object_get(list));
		json_object_object_add(out, "pending",
		    json_object_new_int(pending));
		ctl_print_json(out);
	} else {
		printf("%s\t%s\t%s\n", cols[0], "file", cols[2]);
		for (r = 0; r < json_object_array_length(list); r++) {
			json_object *o = json_object_array_get_idx(list, r), *a;
			json_object_object_get_ex(o, "appliedAt", &a);
			printf("%s\t%s\t%s\n", json_object_get_string(
			    json_object_object_get(o, "version")),
			    json_object_get_string(json_object_object_get(o,
			    "file")), a != NULL ? json_object_get_string(a) :
			    "pending");
		}
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

/* The key ids of a keyring file, in order (the last one seals). */
static json_object *
keyring_ids(const char *path)
{
	json_object *ids = json_object_new_array();
	char line[1024];
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return ids;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strspn(line, " \t");
		char *id = line + n;
		size_t len = strcspn(id, " \t\r\n");
		if (*id == '#' || len == 0)
			continue;
		json_object_array_add(ids, json_object_new_string_len(id,
		    (int)len));
	}
	/* The line held key bytes. */
	explicit_bzero(line, sizeof(line));
	fclose(f);
	return ids;
}

/* See ctl.h: every key of the keyring and of the database, with row
 * counts; a key the rows use but the keyring lacks fails (exit 1). */
int
ctl_keys_list(const struct ctl *ctl, const struct cfg *c)
{
	json_object *ring = NULL, *dest = json_object_new_array();
	json_object *states = json_object_new_array(), *keys, *out;
	struct vault *v = NULL;
	char err[512];
	MYSQL *m = NULL;
	size_t i, j, nring;
	int rc = CTL_FAIL, missing = 0;

	if (c->keyring_file == NULL) {
		fprintf(stderr, "backupctl: keyring_file is not set\n");
		goto out;
	}
	if (vault_load(&v, c->keyring_file, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: keyring: %s\n", err);
		goto out;
	}
	ring = keyring_ids(c->keyring_file);
	if ((m = connect_db(c)) == NULL ||
	    query(m, "SELECT key_id, COUNT(*) FROM backup_destinations GROUP "
	    "BY key_id", NULL, 0, dest, NULL) != 0 ||
	    query(m, "SELECT key_id, COUNT(*) FROM oauth_states GROUP BY key_id",
	    NULL, 0, states, NULL) != 0)
		goto out;
	keys = json_object_new_array();
	nring = json_object_array_length(ring);
	/* The keyring's keys, then any key only the database knows. */
	for (i = 0; i < nring + json_object_array_length(dest); i++) {
		const char *id = i < nring ?
		    json_object_get_string(json_object_array_get_idx(ring, i)) :
		    cell(json_object_array_get_idx(dest, i - nring), 0);
		long long nd = 0, ns = 0;
		int in_ring = i < nring, dup = 0;
		json_object *o;

		for (j = 0; !in_ring && j < nring; j++)
			dup |= strcmp(id, json_object_get_string(
			    json_object_array_get_idx(ring, j))) == 0;
		if (dup)
			continue;
		for (j = 0; j < json_object_array_length(dest); j++)
			if (strcmp(cell(json_object_array_get_idx(dest, j), 0),
			    id) == 0)
				nd = strtoll(cell(json_object_array_get_idx(
				    dest, j), 1), NULL, 10);
		for (j = 0; j < json_object_array_length(states); j++)
			if (strcmp(cell(json_object_array_get_idx(states, j),
			    0), id) == 0)
				ns = strtoll(cell(json_object_array_get_idx(
				    states, j), 1), NULL, 10);
		missing += !in_ring;
		o = json_object_new_object();
		json_object_object_add(o, "keyId", json_object_new_string(id));
		json_object_object_add(o, "inKeyring",
		    json_object_new_boolean(in_ring));
		json_object_object_add(o, "current", json_object_new_boolean(
		    strcmp(id, vault_current_key_id(v)) == 0));
		json_object_object_add(o, "destinations",
		    json_object_new_int64(nd));
		json_object_object_add(o, "oauthStates",
		    json_object_new_int64(ns));
		/* Removable: in the ring, not sealing, no row left. */
		json_object_object_add(o, "removable", json_object_new_boolean(
		    in_ring && nd == 0 && ns == 0 &&
		    strcmp(id, vault_current_key_id(v)) != 0));
		json_object_array_add(keys, o);
	}
	if (ctl->json) {
		out = json_object_new_object();
		json_object_object_add(out, "keys", keys);
		ctl_print_json(out);
	} else {
		printf("key\tcurrent\tdestinations\toauth_states\tnote\n");
		for (i = 0; i < json_object_array_length(keys); i++) {
			json_object *o = json_object_array_get_idx(keys, i);
#define F(k) json_object_object_get(o, k)
			printf("%s\t%s\t%s\t%s\t%s\n",
			    json_object_get_string(F("keyId")),
			    json_object_get_boolean(F("current")) ? "yes" : "no",
			    json_object_get_string(F("destinations")),
			    json_object_get_string(F("oauthStates")),
			    !json_object_get_boolean(F("inKeyring")) ?
			    "NOT IN THE KEYRING: these rows cannot be read" :
			    json_object_get_boolean(F("removable")) ?
			    "unused: its line can go" : "");
#undef F
		}
		json_object_put(keys);
	}
	if (missing)
		fprintf(stderr, "backupctl: %d key id(s) used by rows are not "
		    "in %s\n", missing, c->keyring_file);
	rc = missing ? CTL_FAIL : CTL_OK;
out:
	json_object_put(ring);
	json_object_put(dest);
	json_object_put(states);
	vault_free(v);
	if (m != NULL)
		mysql_close(m);
	return rc;
}

/* See ctl.h: the newest entries first. */
int
ctl_audit_list(const struct ctl *ctl, const struct cfg *c, const char *org,
    long limit)
{
	static const char *const cols[] = {"at", "orgId", "actor", "action",
		"destinationId", "outcome", "requestId", "remoteAddr", "detail"};
	static const char sel[] = "SELECT DATE_FORMAT(at, "
	    "'%Y-%m-%dT%H:%i:%s.%fZ'), org_id, actor, action, destination_id, "
	    "outcome, request_id, remote_addr, detail FROM audit_log ";
	json_object *rows = json_object_new_array(), *out;
	const char *p[1] = {org};
	char sql[512];
	MYSQL *m;
	int rc = CTL_FAIL;

	/* limit is a validated number (1..100000), org a parameter. */
	snprintf(sql, sizeof(sql), "%s%s ORDER BY id DESC LIMIT %ld", sel,
	    org != NULL ? "WHERE org_id = ?" : "", limit);
	if ((m = connect_db(c)) == NULL)
		goto out;
	if (query(m, sql, p, org != NULL ? 1 : 0, rows, NULL) != 0)
		goto out;
	if (ctl->json) {
		out = json_object_new_object();
		json_object_object_add(out, "entries", as_objects(rows, cols,
		    sizeof(cols) / sizeof(cols[0])));
		ctl_print_json(out);
	} else {
		print_rows(rows, cols, sizeof(cols) / sizeof(cols[0]));
	}
	rc = CTL_OK;
out:
	json_object_put(rows);
	if (m != NULL)
		mysql_close(m);
	return rc;
}

/* See ctl.h: deletes in batches so no lock is held long. */
int
ctl_audit_prune(const struct ctl *ctl, const struct cfg *c,
    long long older_than_secs)
{
	unsigned long long aff = 0, total = 0;
	char secs[32], sql[256];
	const char *p[1] = {secs};
	json_object *out;
	MYSQL *m;

	snprintf(secs, sizeof(secs), "%lld", older_than_secs);
	snprintf(sql, sizeof(sql), "DELETE FROM audit_log WHERE at < "
	    "UTC_TIMESTAMP(3) - INTERVAL ? SECOND ORDER BY id LIMIT %d",
	    PRUNE_BATCH);
	if ((m = connect_db(c)) == NULL)
		return CTL_FAIL;
	do {
		if (query(m, sql, p, 1, NULL, &aff) != 0) {
			mysql_close(m);
			return CTL_FAIL;
		}
		total += aff;
	} while (aff == PRUNE_BATCH);
	mysql_close(m);
	if (ctl->json) {
		out = json_object_new_object();
		json_object_object_add(out, "deleted",
		    json_object_new_int64((int64_t)total));
		json_object_object_add(out, "olderThanSeconds",
		    json_object_new_int64(older_than_secs));
		ctl_print_json(out);
	} else {
		printf("%llu audit entries older than %lld s deleted\n", total,
		    older_than_secs);
	}
	return CTL_OK;
}

/* One destination as the API shows it (config redacted). */
static json_object *
dest_json(const struct dest *d, const struct vault *v)
{
	json_object *o = json_object_new_object(), *cfg = NULL, *last = NULL;
	const struct dtype *t = dtype_find(d->type);
	char *plain = NULL;
	size_t plen = 0;

	json_object_object_add(o, "id", json_object_new_string(d->id));
	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "destinationType",
	    json_object_new_string(d->type));
	json_object_object_add(o, "status", json_object_new_string(d->status));
	json_object_object_add(o, "statusReason", d->status_reason != NULL ?
	    json_object_new_string(d->status_reason) : NULL);
	json_object_object_add(o, "lastSuccessAt", d->last_success_at[0] ?
	    json_object_new_string(d->last_success_at) : NULL);
	json_object_object_add(o, "consecutiveFailures",
	    json_object_new_int64(d->consecutive_failures));
	json_object_object_add(o, "keyId", json_object_new_string(d->key_id));
	if (v != NULL && t != NULL && vault_open(v, d->org, d->id, d->blob,
	    d->bloblen, &plain, &plen) == BD_OK) {
		cfg = json_tokener_parse(plain);
		vault_wipe_free(plain, plen);
		json_object_object_add(o, "config", cfg != NULL ?
		    dtype_redact(t, cfg) : NULL);
		wipe_json_put(cfg);
	}
	if (d->last_test_json != NULL)
		last = json_tokener_parse(d->last_test_json);
	json_object_object_add(o, "lastTest", last);
	json_object_object_add(o, "createdAt",
	    json_object_new_string(d->created_at));
	json_object_object_add(o, "updatedAt",
	    json_object_new_string(d->updated_at));
	return o;
}

/* See ctl.h. */
int
ctl_dest_list(const struct ctl *ctl, const struct cfg *c, const char *org,
    const char *type)
{
	struct db *db = NULL;
	struct dbres r;
	struct dest d;
	json_object *arr, *out;
	size_t i;
	int rc = CTL_FAIL;

	memset(&r, 0, sizeof(r));
	if (db_open(&db, c) != BD_OK) {
		fprintf(stderr, "backupctl: cannot reach the database\n");
		goto out;
	}
	if (store_dest_list(db, org, type, NULL, &r) != BD_OK) {
		fprintf(stderr, "backupctl: database error\n");
		goto out;
	}
	arr = json_object_new_array();
	for (i = 0; i < r.nrows; i++) {
		store_dest_from_row(&r, i, &d);
		json_object_array_add(arr, dest_json(&d, NULL));
	}
	if (ctl->json) {
		out = json_object_new_object();
		json_object_object_add(out, "items", arr);
		ctl_print_json(out);
	} else {
		printf("id\tname\ttype\tstatus\tkey\tlast_test\n");
		for (i = 0; i < json_object_array_length(arr); i++) {
			json_object *o = json_object_array_get_idx(arr, i), *t;
			json_object *ok = NULL;
			t = json_object_object_get(o, "lastTest");
			json_object_object_get_ex(t, "ok", &ok);
			printf("%s\t%s\t%s\t%s\t%s\t%s\n",
			    json_object_get_string(json_object_object_get(o,
			    "id")),
			    json_object_get_string(json_object_object_get(o,
			    "name")),
			    json_object_get_string(json_object_object_get(o,
			    "destinationType")),
			    json_object_get_string(json_object_object_get(o,
			    "status")),
			    json_object_get_string(json_object_object_get(o,
			    "keyId")),
			    t == NULL ? "never" : json_object_get_boolean(ok) ?
			    "ok" : "failed");
		}
		json_object_put(arr);
	}
	rc = CTL_OK;
out:
	dbres_free(&r);
	db_close(db);
	return rc;
}

/*
 * See ctl.h. With test, the destination's connection test runs from this
 * host with this host's config (egress policy, CA file, timeouts) and
 * nothing is recorded: the quickest way to tell a firewall or CA problem of
 * one host. An OAuth destination is tested with its stored access token
 * (no refresh: that would rotate the refresh token outside the service).
 */
int
ctl_dest_show(const struct ctl *ctl, const struct cfg *c, const char *org,
    const char *id, int test)
{
	struct egress eg;
	struct probe_env env;
	struct probe_result res;
	struct vault *v = NULL;
	struct db *db = NULL;
	struct dbres r;
	struct dest d;
	const struct dtype *t;
	json_object *o = NULL, *config = NULL, *tr;
	char err[512], *plain = NULL;
	size_t plen = 0;
	int rc = CTL_FAIL, have_eg = 0;

	memset(&r, 0, sizeof(r));
	memset(&res, 0, sizeof(res));
	memset(&eg, 0, sizeof(eg));
	if (c->keyring_file == NULL ||
	    vault_load(&v, c->keyring_file, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: keyring: %s\n",
		    c->keyring_file == NULL ? "keyring_file is not set" : err);
		goto out;
	}
	if (db_open(&db, c) != BD_OK) {
		fprintf(stderr, "backupctl: cannot reach the database\n");
		goto out;
	}
	if (store_dest_get(db, org, id, &r) != BD_OK || r.nrows == 0) {
		fprintf(stderr, "backupctl: no destination %s in org %s\n", id,
		    org);
		goto out;
	}
	store_dest_from_row(&r, 0, &d);
	o = dest_json(&d, v);
	if (test) {
		if ((t = dtype_find(d.type)) == NULL || t->probe == NULL ||
		    vault_open(v, d.org, d.id, d.blob, d.bloblen, &plain,
		    &plen) != BD_OK ||
		    (config = json_tokener_parse(plain)) == NULL) {
			fprintf(stderr, "backupctl: destination %s cannot be "
			    "tested here (type unknown or config unreadable)\n",
			    id);
			goto out;
		}
		if (egress_init(&eg, c->egress_deny, c->egress_allow, err,
		    sizeof(err)) != BD_OK) {
			fprintf(stderr, "backupctl: egress policy: %s\n", err);
			goto out;
		}
		have_eg = 1;
		memset(&env, 0, sizeof(env));
		env.cfg = c;
		env.egress = &eg;
		env.org = org;  /* local_per_org: {root}/{org} */
		probe_run(t->probe, &env, config, &res);
		tr = probe_result_json(&res);
		json_object_object_add(o, "test", tr);
		rc = res.ok ? CTL_OK : CTL_TEST_FAILED;
	} else {
		rc = CTL_OK;
	}
	if (ctl->json) {
		ctl_print_json(o);
	} else {
		printf("%s\n", json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	}
	o = NULL;
out:
	if (plain != NULL)
		vault_wipe_free(plain, plen);
	/* The decrypted config holds secrets. */
	wipe_json_put(config);
	json_object_put(o);
	probe_result_clear(&res);
	if (have_eg)
		egress_free(&eg);
	dbres_free(&r);
	db_close(db);
	vault_free(v);
	return rc;
}
