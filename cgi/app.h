/*
 * What a worker keeps warm across requests: the config, the database
 * connection with its prepared statements, the keyring, the JWT verifier and
 * the egress policy. Nothing of one request survives into the next.
 *
 * The handlers (cgi/h_*.c) are thin: parse -> authorize (app_handle, from
 * the route's role) -> validate -> act (lib/dest.c) -> respond. They hold
 * no SQL, no vault call and no member name of the Destination.
 */
#ifndef BD_APP_H
#define BD_APP_H

#include "admit.h"
#include "auth.h"
#include "cfg.h"
#include "db.h"
#include "dest.h"
#include "egress.h"
#include "req.h"
#include "router.h"
#include "vault.h"

struct app {
	struct cfg cfg;
	struct db *db;
	struct vault *vault;
	struct auth_ctx *auth;
	struct egress egress;
};

/* Handle one request: route, authenticate, authorize, dispatch, and fill
 * resp (always: a problem for every failure). Writes the access log line. */
void app_handle(struct app *, struct request *, struct response *);

/* ---- for the handler files ---- */

typedef void (*handler_fn)(struct app *, struct request *, struct response *);

void h_list(struct app *, struct request *, struct response *);
void h_create(struct app *, struct request *, struct response *);
void h_get(struct app *, struct request *, struct response *);
void h_update(struct app *, struct request *, struct response *);
void h_delete(struct app *, struct request *, struct response *);
void h_test(struct app *, struct request *, struct response *);
void h_oauth_start(struct app *, struct request *, struct response *);
void h_oauth_callback(struct app *, struct request *, struct response *);

/* The service context for this request (borrows app and req). */
struct dest_ctx app_ctx(struct app *, const struct request *);

/* Answer a problem for an error the service returned (DB down, crypto,
 * not found, precondition, ...), with a fixed detail. */
void app_fail(struct response *, const struct request *, enum bd_err);

/* 422 listing errs, with detail (printf-style). */
void app_invalid(struct response *, const struct request *,
    const struct verrs *errs, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Take a probe slot (lib/admit.h) for outbound work on a destination of
 * `type`, after the request was authenticated and validated: true when
 * held (release with admit_leave on every path); false with resp filled:
 * 429 (audited as "denied", nothing else changed) or the database error.
 */
bool app_admit(struct app *, const struct request *, struct response *,
    const char *action, const char *dest_id, const char *type,
    struct admit_ticket *);

/* 422 for a failed connection test, naming the failed check. */
void app_test_failed(struct response *, const struct request *,
    const struct probe_result *);

#endif
