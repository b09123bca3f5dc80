/*
 * Every limit in one place, each with its reason. Values that are also
 * configuration keys (max_body, timeouts) are the defaults; the config wins.
 */
#ifndef BD_BD_LIMITS_H
#define BD_BD_LIMITS_H

/* Request body; nginx's client_max_body_size in nginx/ is rendered from it. */
#define LIM_MAX_BODY_DEFAULT 65536L
/* A destination name (contract: maxLength 128, counted in characters). */
#define LIM_NAME_MAX 128
/* Any one string field of a config; a PEM key or a GCS key file fits. */
#define LIM_FIELD_MAX 16384
/* Short identifiers (bucket, region, user names, hosts). */
#define LIM_SHORT_MAX 1024
/* Nesting of a request body: DestinationInput is 2 deep; a little slack. */
#define LIM_JSON_DEPTH 8
/* Org id and sub claims; the columns are VARCHAR(128) and (255). */
#define LIM_ORG_MAX 128
#define LIM_SUB_MAX 255
/* The Authorization header as a whole; a JWT with an RS512 signature fits. */
#define LIM_AUTH_HEADER_MAX 8192
/* Validation errors listed in one 422; more are summarised. */
#define LIM_VERRS_MAX 32
/* Keyring: key ids are short tokens, a ring holds a handful of keys. */
#define LIM_KEY_ID_MAX 32
#define LIM_KEYRING_MAX 64
/* Response bytes a probe reads from a remote (probe body + error XML). */
#define LIM_PROBE_MAX_RESPONSE (256L * 1024)
/* Defaults for the pool and the probes (config keys override). */
#define LIM_WORKERS_DEFAULT 4
#define LIM_MAX_REQUESTS_DEFAULT 10000
#define LIM_REQUEST_TIMEOUT_DEFAULT 60
#define LIM_PROBE_CONNECT_TIMEOUT_DEFAULT 5
#define LIM_PROBE_TIMEOUT_DEFAULT 20
#define LIM_JWT_LEEWAY_DEFAULT 60
/* Pending connections on the pool's socket (nginx retries past it). */
#define LIM_LISTEN_BACKLOG 128
/* A respawning worker waits at most this long between attempts. */
#define LIM_RESPAWN_BACKOFF_MAX_MS 5000
/* OAuth state lifetime (issue: 10 minutes). */
#define LIM_OAUTH_STATE_TTL 600
/* Rows re-encrypted per transaction by `backupctl rekey`. */
#define LIM_REKEY_BATCH 100
/* Connect timeout to the database: a dead DB answers 503 fast. */
#define LIM_DB_CONNECT_TIMEOUT 2
#define LIM_DB_RW_TIMEOUT 10
/* After a failed connect a worker answers 503 without retrying this long. */
#define LIM_DB_RETRY_MS 500

#endif
