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

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct cfg {
	char *listen;
	int workers, max_requests, request_timeout;

	char *db_host, *db_socket, *db_user, *db_password, *db_name;
	int db_port;
	char *db_hosts;         /* several nodes, tried in order (db.h) */

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
	char *dropbox_client_id, *dropbox_client_secret, *dropbox_auth_url,
	    *dropbox_api_url, *dropbox_content_url;

	char *egress_deny, *egress_allow;
	char *local_roots;
	char *ca_file;
	int probe_connect_timeout, probe_timeout;
	long max_body;
	long min_free_bytes;    /* a test warns below this much free space */

	/* Not keys: set by cfg_load. Nonzero when the config file itself
	 * holds a secret (cfg_check_files then checks its mode too). */
	int secret_in_file;

	/* Process manager, admission, operations (DESIGN.md "Process
	 * manager"). After cfg_load, pm is "static", "dynamic" or "ondemand"
	 * and the pm_* numbers are resolved: `workers` (when set and pm is
	 * not) means pm = static with that many children; probe_slots 0 in
	 * the file means pm_max_children - pm_reserved_for_reads. */
	char *pm;
	int pm_max_children, pm_start_servers, pm_min_spare, pm_max_spare;
	int pm_process_idle_timeout, pm_reserved_for_reads;
	int probe_slots, probe_slots_per_org;
	char *ping_path, *status_path, *log_file;
	int request_slowlog_timeout;
	char *listen_allowed_clients, *listen_owner, *listen_group,
	    *listen_mode;
	/* where `workers` / pm_max_children were set: 0 no, 1 file, 2 env */
	unsigned char workers_given, max_children_given;
	/* issue 13: on/off keys (1/0) */
	int local_per_org;      /* local paths under {root}/{org} */
	int oauth_bind_browser; /* the callback needs the backupd_oauth cookie */
};

/* Version of backupd and backupctl (the Makefile passes VERSION's). */
#ifndef BD_VERSION
#define BD_VERSION "dev"
#endif

/* Config path used when neither -c nor $BACKUPD_CONFIG names one
 * (build time: -DBD_DEFAULT_CONFIG=\"/path\"). */
#ifndef BD_DEFAULT_CONFIG
#define BD_DEFAULT_CONFIG "/etc/backupd/backupd.conf"
#endif

/*
 * The config file to read: `given` (-c) when non-NULL, else
 * $BACKUPD_CONFIG when set and non-empty, else BD_DEFAULT_CONFIG when that
 * file exists, else NULL (defaults and environment only). Static or
 * environment storage; never free it.
 */
const char *cfg_pick_path(const char *given);

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

/* One row of the key table, for `backupctl config keys|show` and the
 * generated docs. Strings are static. */
struct cfg_key_info {
	const char *name;
	int is_int;             /* integer (else string) */
	const char *dstr;       /* string default, NULL when unset */
	long dnum, min, max;    /* integer default and inclusive range */
	int secret;             /* redacted; also readable from <name>_file */
};

/* Number of keys; row i into *out (0 <= i < cfg_key_count()). */
size_t cfg_key_count(void);
void cfg_key_info(size_t i, struct cfg_key_info *out);

/*
 * Key i's value in c as text into buf: NULL-able strings "" when unset,
 * integers in decimal, a set secret as "********". Returns buf.
 */
const char *cfg_key_value(const struct cfg *c, size_t i, char *buf,
    size_t len);

/*
 * Nonzero when a file at path may hold a secret: not readable or writable
 * by others, not writable by its group (group read is allowed: root:backupd
 * 0640). On failure err says "path: why" (never the content). A missing file
 * is not this check's business (the loader reports it): returns 1.
 */
int cfg_secret_mode_ok(const char *path, char *err, size_t errlen);

/* Every mode complaint (cfg_load on a *_file secret, cfg_check_files,
 * cfg_secret_mode_ok) contains this text, so a caller can tell an unsafe
 * file from another config error. */
#define CFG_UNSAFE_TEXT "holds a secret but is"


/*
 * Every file of c that holds a secret passes cfg_secret_mode_ok: keyring_file,
 * jwt_key_file, and cfg_path itself when it sets a secret (secrets read
 * through <key>_file were checked by cfg_load). BD_OK, or BD_ERR_CONFIG with
 * err filled.
 */
enum bd_err cfg_check_files(const struct cfg *c, const char *cfg_path,
    char *err, size_t errlen);

/*
 * db_hosts: comma-separated database nodes, each "host:port", "host"
 * (port 3306), "[ipv6]:port" or an absolute unix socket path. Parse the
 * item (item, len) of the list (commalist.h) into *out; false when it is
 * not one of those forms.
 */
struct cfg_db_node {
	char host[256];         /* "" for a socket */
	char socket[108];       /* "" for TCP */
	unsigned port;
};
bool cfg_db_node_parse(const char *item, size_t len, struct cfg_db_node *out);

#endif
