/*
 * Configuration: backupd.conf (`key = value` lines, `#` comments) overridden
 * key by key by the environment (`BACKUPD_<KEY IN UPPER CASE>`). The key table
 * in cfg.c is the single list of keys; DESIGN.md's table is its documentation.
 *
 * Ownership: every string in struct cfg is owned by it (heap) and released by
 * cfg_free(), which wipes secret values (db_password, jwt_key, client secrets)
 * with sodium_memzero before freeing. Unset optional strings are NULL.
 */
#ifndef BD_CFG_H
#define BD_CFG_H

#include <stddef.h>

#include "err.h"

struct cfg {
	char *listen;
	int workers, max_requests, request_timeout;

	char *db_host, *db_socket, *db_user, *db_password, *db_name;
	int db_port;

	char *keyring_file;

	char *jwt_alg, *jwt_key, *jwt_key_file;
	char *jwt_issuer, *jwt_audience, *jwt_org_claim;
	int jwt_leeway;

	char *settings_url, *oauth_redirect_uri;
	char *google_client_id, *google_client_secret, *google_auth_url,
	    *google_token_url, *google_api_url;
	char *microsoft_client_id, *microsoft_client_secret,
	    *microsoft_login_url, *microsoft_graph_url;
	char *gcs_api_url;

	char *egress_deny, *egress_allow;
	char *local_roots;
	char *ca_file;
	int probe_connect_timeout, probe_timeout;
	long max_body;
};

/*
 * Fill *c with defaults, then the file at `path` (NULL: no file), then the
 * environment `envp` (NULL-terminated "K=V" strings; NULL: no environment).
 * Unknown keys in the file are errors; unknown BACKUPD_* variables in the
 * environment are ignored (the stack and tools use some of their own).
 * Values are validated (integers in range, jwt_alg known, listen parseable,
 * CIDR lists parse, local_roots absolute). On error returns BD_ERR_CONFIG
 * and writes "file:line: key 'x': why" (or "BACKUPD_X: why") to err; *c is
 * left freed. On success the caller owns *c and must cfg_free() it.
 */
enum bd_err cfg_load(struct cfg *c, const char *path, char *const *envp,
    char *err, size_t errlen);

/* Release everything *c owns; safe on a zeroed or already-freed cfg. */
void cfg_free(struct cfg *c);

/* Names of every key, NULL-terminated (for check-config and docs). */
const char *const *cfg_key_names(void);

#endif
