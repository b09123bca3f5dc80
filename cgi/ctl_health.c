/*
 * backupctl test-all: the scheduled re-test (issue 9 item 2).
 *
 * Picks the destinations (of one org, or of every org) whose last test is
 * older than --older-than (or that never ran one), and tests each through
 * lib/dest.c's dest_test(), exactly as POST /{id}/test does: an OAuth access
 * token that expires is refreshed first (a rotated refresh token is kept; a
 * refused one moves the destination to pending_authorization with
 * reauthorization_required), then the type's probe runs, and the outcome is
 * recorded (lastTest, status, statusReason, lastSuccessAt,
 * consecutiveFailures) with its audit row (action destination.test, actor
 * "backupctl test-all").
 *
 * Destinations waiting for an OAuth consent are not probed (there is
 * nothing to probe): they are listed as skipped, and one whose grant died
 * (reauthorization_required) counts as failed, because a human must act.
 *
 * --concurrency N worker processes (default 2) share the list; each has its
 * own database connection. Probe slots: every probe first takes a slot
 * through lib/admit.c as any request does; without a scoreboard (this is
 * not a pool worker) those are its MariaDB named locks, the ones spawned
 * and CGI workers take (probe_slots_per_org per organization, probe_slots
 * per host, across every host sharing the database, freed when the
 * connection ends). A busy slot is waited for, a second at a time, up to
 * TESTALL_SLOT_WAIT seconds. A pool's own slots live in its shared memory
 * and do not see these locks.
 *
 * Output: one line per destination and a summary (or --json: one
 * document). Exit 0 when every test passed, 3 when one failed (or a grant
 * needs re-authorizing), 1 when the run itself failed, 2 usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "admit.h"
#include "bd_limits.h"
#include "ctl.h"
#include "db.h"
#include "dest.h"
#include "egress.h"
#include "probe/probe.h"
#include "store.h"
#include "vault.h"
#include "wipe.h"

/* How long a probe waits for a slot before it is reported as an error. */
#define TESTALL_SLOT_WAIT 600
#define TESTALL_CONCURRENCY_MAX 16
#define TESTALL_ACTOR "backupctl test-all"

struct run {
	const struct cfg *cfg;
	struct vault *vault;
	struct egress eg;
	struct db *db;
};

/* Take a probe slot for org (admit.c), waiting a second at a time while
 * they are busy; false when none freed up within TESTALL_SLOT_WAIT seconds
 * or the database failed. */
static bool
slot_take(struct db *db, const struct cfg *cfg, const char *org,
    const char *type, struct admit_ticket *t)
{
	for (int waited = 0; waited <= TESTALL_SLOT_WAIT; waited++) {
		enum bd_err rc = admit_enter(db, cfg, org, type, t);

		if (rc == BD_OK)
			return true;
		if (rc != BD_ERR_BUSY)
			return false;
		sleep(1);
	}
	return false;
}

/* The outcome of one destination as a JSON object (no secret in it). */
static json_object *
outcome(const char *id, const char *org, const struct dest_loaded *l,
    const char *result, const char *detail)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(id));
	json_object_object_add(o, "orgId", json_object_new_string(org));
	if (l != NULL && l->d.name != NULL) {
		json_object_object_add(o, "name",
		    json_object_new_string(l->d.name));
		json_object_object_add(o, "destinationType",
		    json_object_new_string(l->d.type));
		json_object_object_add(o, "status",
		    json_object_new_string(l->d.status));
		json_object_object_add(o, "statusReason",
		    l->d.status_reason != NULL ?
		    json_object_new_string(l->d.status_reason) : NULL);
		json_object_object_add(o, "consecutiveFailures",
		    json_object_new_int64(l->d.consecutive_failures));
	}
	json_object_object_add(o, "result", json_object_new_string(result));
	if (detail != NULL)
		json_object_object_add(o, "detail",
		    json_object_new_string(detail));
	return o;
}

/* Test one destination as POST /{id}/test does; the outcome object. */
static json_object *
test_one(struct run *run, const char *id, const char *org)
{
	char rid[UUID_STR_LEN + 10], detail[PROBE_DETAIL_MAX + 32];
	struct admit_ticket slot;
	char uid[UUID_STR_LEN + 1];
	struct dest_ctx ctx = {.cfg = run->cfg, .db = run->db,
		.vault = run->vault, .egress = &run->eg, .org = org,
		.actor = TESTALL_ACTOR, .remote_addr = NULL};
	struct dest_loaded cur, after;
	struct probe_result res;
	json_object *o;
	enum bd_err rc;

	uuid_v7(uid);
	snprintf(rid, sizeof(rid), "test-all-%s", uid);
	ctx.request_id = rid;
	memset(&res, 0, sizeof(res));
	memset(&after, 0, sizeof(after));
	rc = dest_load(&ctx, id, true, &cur);
	if (rc == BD_ERR_NOT_FOUND) {
		dest_loaded_free(&cur);
		return outcome(id, org, NULL, "skipped", "deleted meanwhile");
	}
	if (rc != BD_OK || cur.t == NULL || cur.t->probe == NULL) {
		o = outcome(id, org, &cur, "error", "cannot be tested here "
		    "(type unknown, config unreadable or database error)");
		dest_loaded_free(&cur);
		return o;
	}
	if (cur.status == DEST_PENDING) {
		bool reauth = dest_reason_of(cur.d.status_reason) ==
		    DEST_REASON_REAUTH;
		o = outcome(id, org, &cur, reauth ? "failed" : "skipped",
		    "waiting for an OAuth consent: POST "
		    "/backup-destinations/{id}/oauth");
		dest_loaded_free(&cur);
		return o;
	}
	if (!slot_take(run->db, run->cfg, org, cur.d.type, &slot)) {
		o = outcome(id, org, &cur, "error", "no probe slot of its "
		    "organization freed up in time");
		dest_loaded_free(&cur);
		return o;
	}
	rc = dest_test(&ctx, &cur, &res);
	admit_leave(run->db, &slot);
	if (rc != BD_OK) {
		o = outcome(id, org, &cur, "error", "the outcome could not be "
		    "recorded (database error)");
	} else {
		if (res.ok)
			detail[0] = '\0';
		else
			snprintf(detail, sizeof(detail), "%s: %s",
			    probe_check_name((enum probe_check)res.failed),
			    res.failed >= 0 && res.nchecks > 0 ?
			    res.checks[res.nchecks - 1].detail : "");
		/* The row as recorded (status, reason, failures). */
		if (dest_load(&ctx, id, false, &after) == BD_OK)
			o = outcome(id, org, &after, res.ok ? "passed" :
			    "failed", res.ok ? NULL : detail);
		else
			o = outcome(id, org, &cur, res.ok ? "passed" : "failed",
			    res.ok ? NULL : detail);
	}
	probe_result_clear(&res);
	dest_loaded_free(&after);
	dest_loaded_free(&cur);
	return o;
}

/* One worker: every n-th destination from k; one JSON line each on fd. */
static int
worker(struct run *run, json_object *due, size_t k, size_t n, int fd)
{
	FILE *out = fdopen(fd, "w");
	size_t i;

	if (out == NULL || db_open(&run->db, run->cfg) != BD_OK)
		return 1;
	for (i = k; i < json_object_array_length(due); i += n) {
		json_object *pair = json_object_array_get_idx(due, i), *o;

		o = test_one(run, json_object_get_string(
		    json_object_array_get_idx(pair, 0)), json_object_get_string(
		    json_object_array_get_idx(pair, 1)));
		fprintf(out, "%s\n", json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN));
		fflush(out);
		json_object_put(o);
	}
	db_close(run->db);
	return fclose(out) == 0 ? 0 : 1;
}

/* The due destinations as [[id, org], ...]; NULL on a database error. */
static json_object *
due_list(const struct cfg *c, const char *org, long long older)
{
	struct db *db = NULL;
	struct dbres r;
	struct due_row d;
	json_object *due = NULL;
	size_t i;

	memset(&r, 0, sizeof(r));
	if (db_open(&db, c) != BD_OK ||
	    store_dest_due(db, org, older, &r) != BD_OK) {
		fprintf(stderr, "backupctl: cannot read the destinations from "
		    "the database\n");
		goto out;
	}
	due = json_object_new_array();
	for (i = 0; i < r.nrows; i++) {
		json_object *pair = json_object_new_array();

		store_due_from_row(&r, i, &d);
		if (d.id == NULL || d.org == NULL)
			continue;
		json_object_array_add(pair, json_object_new_string(d.id));
		json_object_array_add(pair, json_object_new_string(d.org));
		json_object_array_add(due, pair);
	}
out:
	dbres_free(&r);
	db_close(db);
	return due;
}

/* Read every worker's lines into results until all pipes close. */
static void
collect(struct pollfd *pf, size_t n, json_object *results)
{
	FILE *f[TESTALL_CONCURRENCY_MAX];
	char line[65536];
	size_t open = n, i;

	for (i = 0; i < n; i++)
		f[i] = fdopen(pf[i].fd, "r");
	while (open > 0) {
		if (poll(pf, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < n; i++) {
			if (pf[i].fd < 0 || pf[i].revents == 0)
				continue;
			if (f[i] != NULL && fgets(line, sizeof(line), f[i]) !=
			    NULL) {
				json_object *o = json_tokener_parse(line);
				if (o != NULL)
					json_object_array_add(results, o);
				continue;
			}
			pf[i].fd = -1;
			open--;
		}
	}
	for (i = 0; i < n; i++)
		if (f[i] != NULL)
			fclose(f[i]);
}

static void
print_text(json_object *results, const int count[4])
{
	size_t i;

	for (i = 0; i < json_object_array_length(results); i++) {
		json_object *o = json_object_array_get_idx(results, i);
#define S(k) (json_object_object_get(o, k) != NULL ? \
	json_object_get_string(json_object_object_get(o, k)) : "-")
		printf("%s\t%s\t%s\t%s\t%s\t%s\n", S("result"), S("id"),
		    S("orgId"), S("name"), S("destinationType"), S("detail"));
#undef S
	}
	printf("%d tested: %d passed, %d failed, %d skipped, %d errors\n",
	    count[0] + count[1], count[0], count[1], count[2], count[3]);
}

struct testall_opts {
	const char *org;
	long long older;
	long concurrency;
};

static int
testall_opt(int ch, const char *val, void *arg)
{
	struct testall_opts *o = arg;
	char *end;

	switch (ch) {
	case 'o':
		return ctl_opt_org(val, &o->org);
	case 'a':
		if (strcmp(val, "0") == 0) {
			o->older = 0;
			return 0;
		}
		return ctl_opt_age(val, &o->older, "6h");
	case 'n':
		errno = 0;
		o->concurrency = strtol(val, &end, 10);
		if (errno != 0 || *end != '\0' || val[0] == '\0' ||
		    o->concurrency < 1 ||
		    o->concurrency > TESTALL_CONCURRENCY_MAX) {
			fprintf(stderr, "backupctl: --concurrency: 1 to %d\n",
			    TESTALL_CONCURRENCY_MAX);
			return -1;
		}
		return 0;
	default:
		return -1;
	}
}

static const struct option testall_longopts[] = {
	{"org", required_argument, NULL, 'o'},
	{"older-than", required_argument, NULL, 'a'},
	{"concurrency", required_argument, NULL, 'n'},
	{NULL, 0, NULL, 0},
};

int
ctl_cmd_test_all(const struct ctl *ctl, int argc, char **argv)
{
	static const char *const names[4] = {"passed", "failed", "skipped",
		"error"};
	struct testall_opts o = {NULL, 0, 2};
	struct pollfd pf[TESTALL_CONCURRENCY_MAX];
	pid_t pids[TESTALL_CONCURRENCY_MAX];
	struct run run;
	struct cfg c;
	json_object *due = NULL, *results = NULL, *out;
	char err[512];
	int count[4] = {0, 0, 0, 0}, rc = CTL_FAIL, st, have_cfg = 0;
	size_t n = 0, i, k;

	memset(&run, 0, sizeof(run));
	if (ctl_opts(argc, argv, testall_longopts, testall_opt, &o) != 0 ||
	    optind != argc) {
		fprintf(stderr, "usage: backupctl [--json] test-all [--org ORG] "
		    "[--older-than AGE] [--concurrency N]\n");
		return CTL_USAGE;
	}
	if (ctl_load_cfg(ctl, &c) != 0)
		return CTL_FAIL;
	have_cfg = 1;
	run.cfg = &c;
	if (c.keyring_file == NULL ||
	    vault_load(&run.vault, c.keyring_file, err, sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: keyring: %s\n",
		    c.keyring_file == NULL ? "keyring_file is not set" : err);
		goto out;
	}
	if (egress_init(&run.eg, c.egress_deny, c.egress_allow, err,
	    sizeof(err)) != BD_OK) {
		fprintf(stderr, "backupctl: egress policy: %s\n", err);
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (due = due_list(&c, o.org, o.older)) == NULL)
		goto out_eg;
	results = json_object_new_array();
	n = json_object_array_length(due);
	if (n > (size_t)o.concurrency)
		n = (size_t)o.concurrency;
	fflush(NULL);
	for (k = 0; k < n; k++) {
		int p[2];

		if (pipe(p) != 0 || (pids[k] = fork()) < 0) {
			fprintf(stderr, "backupctl: cannot start a worker: %s\n",
			    strerror(errno));
			n = k;
			break;
		}
		if (pids[k] == 0) {
			close(p[0]);
			for (i = 0; i < k; i++)
				close(pf[i].fd);
			_exit(worker(&run, due, k, n, p[1]));
		}
		close(p[1]);
		pf[k].fd = p[0];
		pf[k].events = POLLIN;
	}
	collect(pf, n, results);
	st = 0;
	for (k = 0; k < n; k++) {
		int ws;

		if (waitpid(pids[k], &ws, 0) < 0 || !WIFEXITED(ws) ||
		    WEXITSTATUS(ws) != 0)
			st = 1;
	}
	for (i = 0; i < json_object_array_length(results); i++) {
		const char *r = json_object_get_string(json_object_object_get(
		    json_object_array_get_idx(results, i), "result"));
		for (k = 0; k < 4; k++)
			if (r != NULL && strcmp(r, names[k]) == 0)
				count[k]++;
	}
	/* A worker that died took its remaining destinations with it. */
	if (st != 0 || json_object_array_length(results) !=
	    json_object_array_length(due)) {
		fprintf(stderr, "backupctl: a worker failed; %zu of %zu "
		    "destinations have an outcome\n",
		    json_object_array_length(results),
		    json_object_array_length(due));
		count[3]++;
	}
	if (ctl->json) {
		out = json_object_new_object();
		json_object_object_add(out, "olderThanSeconds",
		    json_object_new_int64(o.older));
		for (k = 0; k < 4; k++)
			json_object_object_add(out, names[k],
			    json_object_new_int(count[k]));
		json_object_object_add(out, "results",
		    json_object_get(results));
		ctl_print_json(out);
	} else {
		print_text(results, count);
	}
	rc = count[3] > 0 ? CTL_FAIL : count[1] > 0 ? CTL_TEST_FAILED :
	    CTL_OK;
	curl_global_cleanup();
out_eg:
	egress_free(&run.eg);
out:
	json_object_put(due);
	json_object_put(results);
	vault_free(run.vault);
	if (have_cfg)
		cfg_free(&c);
	return rc;
}
