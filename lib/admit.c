/*
 * Probe slots: in the scoreboard under the pool's master, else as MariaDB
 * named locks (see admit.h for why each).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "admit.h"
#include "clock.h"
#include "log.h"
#include "scoreboard.h"

/* Retry-After when the lock mode cannot tell when a slot frees. */
#define ADMIT_RETRY_MIN 1

static int
retry_after(const struct cfg *cfg, long long oldest, long long now)
{
	long long left = oldest > 0 ?
	    (oldest + cfg->probe_timeout * 1000LL - now + 999) / 1000 :
	    cfg->probe_timeout;

	if (left < ADMIT_RETRY_MIN)
		left = ADMIT_RETRY_MIN;
	if (left > cfg->probe_timeout)
		left = cfg->probe_timeout;
	return (int)left;
}

static enum bd_err
sb_enter(struct sb_pool *p, struct sb_worker *me, const struct cfg *cfg,
    const char *org, const char *type, struct admit_ticket *t)
{
	long long now = clock_mono_ms(), oldest_org = 0, oldest = 0;
	int host = 0, mine = 0;

	sb_lock(p);
	for (int i = 0; i < LIM_SB_WORKERS; i++) {
		struct sb_worker *w = &p->w[i];
		if (!w->probing)
			continue;
		host++;
		if (oldest == 0 || w->probe_start < oldest)
			oldest = w->probe_start;
		if (strcmp(w->probe_org, org) == 0) {
			mine++;
			if (oldest_org == 0 || w->probe_start < oldest_org)
				oldest_org = w->probe_start;
		}
	}
	if (mine >= cfg->probe_slots_per_org) {
		t->limit = "organization";
		t->retry_after = retry_after(cfg, oldest_org, now);
		atomic_fetch_add(&p->busy_org, 1);
	} else if (host >= cfg->probe_slots) {
		t->limit = "server";
		t->retry_after = retry_after(cfg, oldest, now);
		atomic_fetch_add(&p->busy_host, 1);
	} else {
		me->probing = 1;
		me->probe_start = now;
		sb_copy(me->probe_type, sizeof(me->probe_type), type);
		sb_copy(me->probe_org, sizeof(me->probe_org), org);
		sb_copy(me->org, sizeof(me->org), org);
		t->held = true;
	}
	sb_unlock(p);
	if (!t->held)
		return BD_ERR_BUSY;
	sb_note_state(SB_PROBING);
	return BD_OK;
}

/* "bd:p:" + 32 hex of BLAKE2b-128(what) + ":" + n: under MariaDB's 64. */
static void
lock_name(char *out, size_t cap, const char *kind, const char *what, int n)
{
	unsigned char h[16];
	char hex[sizeof(h) * 2 + 1];

	crypto_generichash(h, sizeof(h), (const unsigned char *)what,
	    strlen(what), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, cap, "bd:%s:%s:%d", kind, hex, n);
}

/* Try the named locks kind:what:0..n-1 from a random start; BD_OK with the
 * name in out, BD_ERR_BUSY when all are taken. */
static enum bd_err
lock_one(struct db *db, const char *kind, const char *what, int n, char *out,
    size_t cap)
{
	int start = (int)randombytes_uniform((uint32_t)n);

	for (int i = 0; i < n; i++) {
		struct dbres r = {0};
		struct dbval v;
		enum bd_err rc;
		bool got;

		lock_name(out, cap, kind, what, (start + i) % n);
		v = DBV_STR(out);
		if ((rc = db_exec(db, STMT_LOCK_GET, &v, 1, &r, NULL)) != BD_OK)
			return rc;
		got = r.nrows == 1 && DBRES_VAL(&r, 0, 0) != NULL &&
		    strcmp(DBRES_VAL(&r, 0, 0), "1") == 0;
		dbres_free(&r);
		if (got)
			return BD_OK;
	}
	out[0] = '\0';
	return BD_ERR_BUSY;
}

static void
unlock_one(struct db *db, char *name)
{
	struct dbres r = {0};
	struct dbval v;

	if (name[0] == '\0')
		return;
	v = DBV_STR(name);
	if (db_exec(db, STMT_LOCK_RELEASE, &v, 1, &r, NULL) == BD_OK)
		dbres_free(&r);
	name[0] = '\0';
}

static enum bd_err
lock_enter(struct db *db, const struct cfg *cfg, const char *org,
    struct admit_ticket *t)
{
	char host[256];
	enum bd_err rc;

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	rc = lock_one(db, "p", org, cfg->probe_slots_per_org, t->org_lock,
	    sizeof(t->org_lock));
	if (rc == BD_ERR_BUSY)
		t->limit = "organization";
	if (rc != BD_OK)
		goto fail;
	rc = lock_one(db, "h", host, cfg->probe_slots, t->host_lock,
	    sizeof(t->host_lock));
	if (rc == BD_ERR_BUSY)
		t->limit = "server";
	if (rc != BD_OK) {
		unlock_one(db, t->org_lock);
		goto fail;
	}
	t->held = true;
	t->locks = true;
	return BD_OK;
fail:
	t->retry_after = cfg->probe_timeout;
	return rc;
}

enum bd_err
admit_enter(struct db *db, const struct cfg *cfg, const char *org,
    const char *dest_type, struct admit_ticket *t)
{
	struct sb_pool *p = sb();
	struct sb_worker *me = sb_self();
	enum bd_err rc;

	memset(t, 0, sizeof(*t));
	if (p != NULL && me != NULL)
		rc = sb_enter(p, me, cfg, org, dest_type ? dest_type : "", t);
	else
		rc = lock_enter(db, cfg, org, t);
	if (rc == BD_ERR_BUSY)
		log_msg(LOG_INFO, "admission: %s probe slots busy (%s); "
		    "retry after %d s", t->limit,
		    dest_type ? dest_type : "-", t->retry_after);
	return rc;
}

void
admit_leave(struct db *db, struct admit_ticket *t)
{
	struct sb_pool *p = sb();
	struct sb_worker *me = sb_self();

	if (!t->held)
		return;
	t->held = false;
	if (t->locks) {
		unlock_one(db, t->host_lock);
		unlock_one(db, t->org_lock);
		t->locks = false;
		return;
	}
	if (p == NULL || me == NULL)
		return;
	sb_lock(p);
	me->probing = 0;
	me->probe_type[0] = '\0';
	me->probe_org[0] = '\0';
	sb_unlock(p);
	sb_note_state(SB_HANDLING);
}

void
admit_refuse(struct response *resp, const struct request *req,
    const struct admit_ticket *t)
{
	json_object *pb;
	int after = t->retry_after > 0 ? t->retry_after : ADMIT_RETRY_MIN;

	pb = resp_problem(resp, req, BD_ERR_BUSY, "too many connection tests "
	    "in flight for this %s; nothing was changed: retry in %d s",
	    t->limit ? t->limit : "server", after);
	if (pb != NULL) {
		json_object_object_add(pb, "retryAfter",
		    json_object_new_int(after));
		json_object_object_add(pb, "limit", json_object_new_string(
		    t->limit ? t->limit : "server"));
	}
	resp_header(resp, "Retry-After", "%d", after);
}
