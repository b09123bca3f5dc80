/*
 * Admission control for outbound work (DESIGN.md "Process manager"): a
 * route that opens connections to a host a user chose (create, update,
 * test, the OAuth code exchange) takes a probe slot first. At most
 * cfg->probe_slots are in flight on the host and cfg->probe_slots_per_org
 * per organization; past either, admit_enter() answers BD_ERR_BUSY and the
 * handler answers 429 (admit_refuse) having changed nothing.
 *
 * Where the slots live:
 *  - pool mode: in the scoreboard (scoreboard.h), counted under its robust
 *    mutex; the slot is part of the worker's scoreboard entry, so the
 *    master reclaims it when it reaps a worker that died holding it
 *    (request_timeout, kill -9).
 *  - spawned and CGI modes (no master, no shared memory): MariaDB named
 *    locks on the worker's own connection, GET_LOCK('bd:p:<org hash>:<n>',
 *    0) for n < probe_slots_per_org and 'bd:h:<host name hash>:<n>' for
 *    n < probe_slots. The server drops a session's locks when the session
 *    ends, so a killed process frees its slots by itself; and the per-org
 *    limit then holds across every host sharing the database.
 *
 * Ownership: the ticket lives on the handler's stack; admit_leave() is
 * idempotent, so every exit path may call it.
 */
#ifndef BD_ADMIT_H
#define BD_ADMIT_H

#include <stdbool.h>

#include "cfg.h"
#include "db.h"
#include "err.h"
#include "req.h"

#define ADMIT_LOCK_NAME_MAX 64

struct admit_ticket {
	bool held;
	bool locks;                   /* held as MariaDB named locks */
	char org_lock[ADMIT_LOCK_NAME_MAX], host_lock[ADMIT_LOCK_NAME_MAX];
	/* on BD_ERR_BUSY: which limit, and when to come back (seconds) */
	const char *limit;            /* "organization" or "server" */
	int retry_after;
};

/*
 * Take a probe slot for org's outbound work on a destination of dest_type
 * (for the status page's probes-in-flight per type). BD_OK: held, release
 * with admit_leave(). BD_ERR_BUSY: t->limit and t->retry_after say why.
 * BD_ERR_DB_DOWN / BD_ERR_INTERNAL: only in lock mode.
 */
enum bd_err admit_enter(struct db *db, const struct cfg *cfg, const char *org,
    const char *dest_type, struct admit_ticket *t);

/* Release the slot if held (safe to call twice, or without a slot). */
void admit_leave(struct db *db, struct admit_ticket *t);

/* Fill resp with the 429 problem for a refused ticket: `retryAfter`,
 * `limit`, and the Retry-After header. */
void admit_refuse(struct response *resp, const struct request *req,
    const struct admit_ticket *t);

#endif
