/*
 * What a worker keeps warm across requests: the config, the database
 * connection with its prepared statements, the keyring, the JWT verifier and
 * the egress policy. Nothing of one request survives into the next.
 */
#ifndef BD_APP_H
#define BD_APP_H

#include "auth.h"
#include "cfg.h"
#include "db.h"
#include "egress.h"
#include "req.h"
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

#endif
