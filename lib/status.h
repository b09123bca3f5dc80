/*
 * The ping and status pages (DESIGN.md "Process manager"), served by a
 * worker before routing and authentication: nginx restricts them to
 * 127.0.0.1 (nginx/backupd-location.conf).
 *
 *  - ping: "pong" as text/plain, never touching the database;
 *  - status: the scoreboard as JSON, or as OpenMetrics text when the query
 *    string holds `openmetrics` (names backupd_*, HELP/TYPE lines,
 *    counters ending in _total, "# EOF"), with database reachability and
 *    rows per key_id from a query cached for STATUS_CACHE_MS.
 *
 * Without a scoreboard (spawned and CGI modes) the status page says which
 * mode runs and what this one process knows.
 */
#ifndef BD_STATUS_H
#define BD_STATUS_H

#include <stdbool.h>

#include "cfg.h"
#include "db.h"
#include "req.h"

#define STATUS_CACHE_MS 5000

/* True (and resp filled) when req is for the ping or status path. `mode`
 * names how the process runs: "pool", "spawned" or "cgi". */
bool status_serve(const struct cfg *, struct db *, const char *mode,
    const struct request *, struct response *);

#endif
