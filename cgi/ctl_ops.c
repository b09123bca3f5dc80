/*
 * backupctl's operator commands that read the database: keys list, audit
 * list|prune, destinations list|show|test (migrate --status is with migrate
 * in ctl_db.c). Each prints a table (text) or one JSON document (--json) on
 * stdout, reasons on stderr, and returns an exit status (ctl.h). Rows come
 * through the store (store.h), destinations through the destination
 * service (dest.h); nothing printed is ever a secret: configs are redacted
 * as the API redacts them.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "ctl.h"
#include "db.h"
#include "dest.h"
#include "egress.h"
#include "probe/probe.h"
#include "store.h"
#include "vault.h"

/* See ctl.h. */
int
ctl_load_keyring(const struct cfg *c, struct vault **v)
{
	char err[512];

	*v = NULL;
	if (c->keyring_file == NULL) {
		fprintf(stderr, "backupctl: keyring: keyring_file is not set\n");
		return -1;
	}
	if (vault_load(v, c->keyring_file, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: keyring: %s\n", err);
		return -1;
	}
	return 0;
}

/* A store connection into *db; -1 with the reason on stderr. */
static int
open_db(const struct cfg *c, struct db **db)
{
	if (db_open(db, c) == BD_OK)
		return 0;
	fprintf(stderr, "backupctl: cannot reach the database\n");
	return -1;
}

/* --json: print {name: list} as one document (list borrowed). */
static void
print_list(const char *name, json_object *list)
{
	json_object *out = json_object_new_object();

	json_object_object_add(out, name, json_object_get(list));
	ctl_print_json(out);
}

/* One key of keys list: a JSON object added to keys, or a table line. */
static void
key_out(const struct ctl *ctl, json_object *keys, const struct vault *v,
    bool in_ring, const struct key_use *u)
{
	bool current = strcmp(u->key_id, vault_current_key_id(v)) == 0;
	/* Removable: in the ring, not sealing, no row left. */
	bool removable = in_ring && !current && u->destinations == 0 &&
	    u->oauth_states == 0;
	json_object *o;

	if (!ctl->json) {
		printf("%s\t%s\t%lld\t%lld\t%s\n", u->key_id,
		    current ? "yes" : "no", u->destinations, u->oauth_states,
		    !in_ring ? "NOT IN THE KEYRING: these rows cannot be read" :
		    removable ? "unused: its line can go" : "");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "keyId", json_object_new_string(u->key_id));
	json_object_object_add(o, "inKeyring", json_object_new_boolean(in_ring));
	json_object_object_add(o, "current", json_object_new_boolean(current));
	json_object_object_add(o, "destinations",
	    json_object_new_int64(u->destinations));
	json_object_object_add(o, "oauthStates",
	    json_object_new_int64(u->oauth_states));
	json_object_object_add(o, "removable",
	    json_object_new_boolean(removable));
	json_object_array_add(keys, o);
}

/* See ctl.h: every key of the keyring and of the database, with row
 * counts; a key the rows use but the keyring lacks fails (exit 1). */
int
ctl_keys_list(const struct ctl *ctl, const struct cfg *c)
{
	json_object *keys = json_object_new_array();
	struct vault *v = NULL;
	struct db *db = NULL;
	struct dbres r;
	struct key_use u;
	size_t i, j;
	int rc = CTL_FAIL, missing = 0;

	memset(&r, 0, sizeof(r));
	if (ctl_load_keyring(c, &v) != 0 || open_db(c, &db) != 0)
		goto out;
	if (store_key_use(db, &r) != BD_OK) {
		fprintf(stderr, "backupctl: database error\n");
		goto out;
	}
	if (!ctl->json)
		printf("key\tcurrent\tdestinations\toauth_states\tnote\n");
	/* The keyring's keys in order (the last one seals)... */
	for (i = 0; i < vault_key_count(v); i++) {
		struct key_use k = {vault_key_id(v, i), 0, 0};

		for (j = 0; j < r.nrows; j++) {
			store_key_use_from_row(&r, j, &u);
			if (u.key_id != NULL && strcmp(u.key_id, k.key_id) == 0)
				k = u;
		}
		key_out(ctl, keys, v, true, &k);
	}
	/* ...then any key only the rows know. */
	for (j = 0; j < r.nrows; j++) {
		store_key_use_from_row(&r, j, &u);
		if (u.key_id == NULL || vault_has_key(v, u.key_id))
			continue;
		missing++;
		key_out(ctl, keys, v, false, &u);
	}
	if (ctl->json)
		print_list("keys", keys);
	if (missing)
		fprintf(stderr, "backupctl: %d key id(s) used by rows are not "
		    "in %s\n", missing, c->keyring_file);
	rc = missing ? CTL_FAIL : CTL_OK;
out:
	json_object_put(keys);
	dbres_free(&r);
	db_close(db);
	vault_free(v);
	return rc;
}

/* See ctl.h: the newest entries first. */
int
ctl_audit_list(const struct ctl *ctl, const struct cfg *c, const char *org,
    long limit)
{
	static const char *const cols[] = {"at", "orgId", "actor", "action",
		"destinationId", "outcome", "requestId", "remoteAddr", "detail"};
	const size_t ncols = sizeof(cols) / sizeof(cols[0]);
	json_object *entries = json_object_new_array();
	struct db *db = NULL;
	struct dbres r;
	size_t i, k;
	int rc = CTL_FAIL;

	memset(&r, 0, sizeof(r));
	if (open_db(c, &db) != 0)
		goto out;
	if (store_audit_list(db, org, limit, &r) != BD_OK) {
		fprintf(stderr, "backupctl: database error\n");
		goto out;
	}
	for (k = 0; !ctl->json && k < ncols; k++)
		printf("%s%s", cols[k], k + 1 < ncols ? "\t" : "\n");
	for (i = 0; i < r.nrows; i++) {
		struct audit_row a;
		const char *v[sizeof(cols) / sizeof(cols[0])];
		json_object *o = json_object_new_object();

		store_audit_from_row(&r, i, &a);
		v[0] = a.at, v[1] = a.e.org, v[2] = a.e.actor;
		v[3] = a.e.action, v[4] = a.e.destination_id;
		v[5] = a.e.outcome, v[6] = a.e.request_id;
		v[7] = a.e.remote_addr, v[8] = a.e.detail;
		for (k = 0; k < ncols; k++) {
			json_object_object_add(o, cols[k], v[k] != NULL ?
			    json_object_new_string(v[k]) : NULL);
			if (!ctl->json)
				printf("%s%s", v[k] != NULL ? v[k] : "-",
				    k + 1 < ncols ? "\t" : "\n");
		}
		json_object_array_add(entries, o);
	}
	if (ctl->json)
		print_list("entries", entries);
	rc = CTL_OK;
out:
	json_object_put(entries);
	dbres_free(&r);
	db_close(db);
	return rc;
}

/* See ctl.h: deletes in batches so no lock is held long. */
int
ctl_audit_prune(const struct ctl *ctl, const struct cfg *c,
    long long older_than_secs)
{
	unsigned long long total = 0;
	struct db *db = NULL;
	json_object *out;
	int rc = CTL_FAIL;

	if (open_db(c, &db) != 0)
		goto out;
	if (store_audit_prune(db, older_than_secs, &total) != BD_OK) {
		fprintf(stderr, "backupctl: database error after %llu audit "
		    "entries deleted\n", total);
		goto out;
	}
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
	rc = CTL_OK;
out:
	db_close(db);
	return rc;
}

/* The operator's view of a destination: the API's representation o plus
 * the id of the key its config is sealed under (rekey progress). */
static json_object *
with_key(json_object *o, const struct dest *d)
{
	if (o != NULL)
		json_object_object_add(o, "keyId",
		    json_object_new_string(d->key_id));
	return o;
}

/* See ctl.h. */
int
ctl_dest_list(const struct ctl *ctl, const struct cfg *c, const char *org,
    const char *type)
{
	struct dest_ctx ctx = {.cfg = c, .org = org};
	json_object *items = json_object_new_array();
	struct vault *v = NULL;
	struct dbres r;
	size_t i;
	int rc = CTL_FAIL;

	memset(&r, 0, sizeof(r));
	if (ctl_load_keyring(c, &v) != 0 || open_db(c, &ctx.db) != 0)
		goto out;
	ctx.vault = v;
	if (store_dest_list(ctx.db, org, type, NULL, &r) != BD_OK) {
		fprintf(stderr, "backupctl: database error\n");
		goto out;
	}
	if (!ctl->json)
		printf("id\tname\ttype\tstatus\tkey\tlast_test\n");
	for (i = 0; i < r.nrows; i++) {
		static const char *const last[] = {"never", "failed", "ok"};
		struct dest d;

		store_dest_from_row(&r, i, &d);
		if (ctl->json)
			json_object_array_add(items,
			    with_key(dest_row_json(&ctx, &d), &d));
		else
			printf("%s\t%s\t%s\t%s\t%s\t%s\n", d.id, d.name, d.type,
			    d.status, d.key_id, last[dest_last_test_ok(&d) + 1]);
	}
	if (ctl->json)
		print_list("items", items);
	rc = CTL_OK;
out:
	json_object_put(items);
	dbres_free(&r);
	db_close(ctx.db);
	vault_free(v);
	return rc;
}

/* Run the loaded destination's connection test from this host into *res:
 * CTL_OK or CTL_TEST_FAILED, CTL_FAIL when it cannot run. */
static int
dest_ctl_test(const struct dest_ctx *ctx, struct dest_loaded *l,
    struct probe_result *res)
{
	struct egress eg;
	struct probe_env env;
	char err[512];

	if (l->t == NULL || l->t->probe == NULL || l->config == NULL) {
		fprintf(stderr, "backupctl: destination %s cannot be tested "
		    "here (type unknown or config unreadable)\n", l->d.id);
		return CTL_FAIL;
	}
	if (egress_init(&eg, ctx->cfg->egress_deny, ctx->cfg->egress_allow, err,
	    sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: egress policy: %s\n", err);
		return CTL_FAIL;
	}
	dest_probe_env(ctx, &env);
	env.egress = &eg;
	probe_run(l->t->probe, &env, l->config, res);
	egress_free(&eg);
	return res->ok ? CTL_OK : CTL_TEST_FAILED;
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
	struct dest_ctx ctx = {.cfg = c, .org = org};
	struct dest_loaded l;
	struct probe_result res;
	struct vault *v = NULL;
	json_object *o = NULL;
	int rc = CTL_FAIL;

	memset(&l, 0, sizeof(l));
	memset(&res, 0, sizeof(res));
	if (ctl_load_keyring(c, &v) != 0 || open_db(c, &ctx.db) != 0)
		goto out;
	ctx.vault = v;
	if (dest_load(&ctx, id, false, &l) != BD_OK) {
		fprintf(stderr, "backupctl: no destination %s in org %s\n", id,
		    org);
		goto out;
	}
	/* A config that does not open is shown as {} and cannot be tested. */
	(void)dest_open(&ctx, &l);
	o = with_key(dest_json(&l.d, l.t, l.config), &l.d);
	if (test) {
		if ((rc = dest_ctl_test(&ctx, &l, &res)) == CTL_FAIL)
			goto out;
		json_object_object_add(o, "test", probe_result_json(&res));
	} else {
		rc = CTL_OK;
	}
	if (ctl->json)
		ctl_print_json(json_object_get(o));
	else
		printf("%s\n", json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(o);
	probe_result_clear(&res);
	dest_loaded_free(&l);
	db_close(ctx.db);
	vault_free(v);
	return rc;
}
